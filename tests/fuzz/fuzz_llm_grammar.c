/* Fuzz target: the GBNF compiler, then a few bytes of input through the automaton. Any text
 * must compile or fail with a message; a compiled grammar must take or refuse bytes cleanly. */
#include "core/core.h"
#include "llm/grammar.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* first line (up to a NUL) is the grammar, the rest is input to feed */
    size_t split = 0;
    while (split < size && data[split] != 0) split++;
    char *text = malloc(split + 1);
    memcpy(text, data, split);
    text[split] = '\0';
    reel_grammar *g = reel_grammar_compile(text, "fuzz");
    if (g) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        for (size_t i = split + 1; i < size && i < split + 64; i++)
            if (reel_grammar_state_advance(s, data + i, 1) < 0) break;
        reel_grammar_state_accepting(s);
        reel_grammar_state_free(s);
        reel_grammar_free(g);
    } else if (!*reel_last_error()) {
        abort(); /* a failure must say why */
    }
    free(text);
    return 0;
}
