/* Fuzz target: the GBNF compiler, then a few bytes of input through the automaton. Any text
 * must compile or fail with a message; a compiled grammar must take or refuse bytes cleanly.
 * At each step the token mask over a small fixed vocabulary must equal advancing a copy of the
 * state by each token (a differential check of the mask caches and the lazy DFA). */
#include "core/core.h"
#include "llm/grammar.h"

#include <stdlib.h>
#include <string.h>

static const char *const PIECES[] = {"a",     "b",   "ab",   "ba",  "aaaa",  "abab", "\"",
                                     "\",\"", "{\"", "\"}",  "é",   "\xc3",  "é\"",  "12",
                                     "0.5",   "-1",  "true", " ",   "  ",    "\n",   "x\"y",
                                     "[1,",   "]",   "}",    "\\n", "\\u00", "null", "zz"};
enum { N_PIECES = sizeof PIECES / sizeof *PIECES, N_TOKENS = 256 + N_PIECES + 1 };

static char *tok[N_TOKENS];
static size_t len[N_TOKENS];
static reel_grammar_vocab *vocab;
static const int32_t EOS = N_TOKENS - 1;

static void vocab_init(void)
{
    if (vocab) return;
    for (int b = 0; b < 256; b++) {
        tok[b] = malloc(1);
        tok[b][0] = (char)b;
        len[b] = 1;
    }
    for (int i = 0; i < N_PIECES; i++) {
        tok[256 + i] = strdup(PIECES[i]);
        len[256 + i] = strlen(PIECES[i]);
    }
    tok[EOS] = strdup("<eos>");
    len[EOS] = 5;
    static uint8_t special[N_TOKENS];
    special[EOS] = 1;
    vocab = reel_grammar_vocab_init(N_TOKENS, (const char *const *)tok, len, special, &EOS, 1);
}

static void check_mask(const reel_grammar_state *s)
{
    uint8_t mask[(N_TOKENS + 7) / 8];
    int count = reel_grammar_mask(vocab, s, mask), brute = 0;
    for (int t = 0; t < N_TOKENS; t++) {
        int ok;
        if (t == EOS) {
            ok = reel_grammar_state_accepting(s);
        } else {
            reel_grammar_state *c = reel_grammar_state_clone(s);
            ok = reel_grammar_state_advance(c, tok[t], len[t]) == 0;
            reel_grammar_state_free(c);
        }
        if (ok != ((mask[t >> 3] >> (t & 7)) & 1)) abort(); /* the mask is wrong */
        brute += ok;
    }
    if (count != brute) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vocab_init();
    /* first line (up to a NUL) is the grammar, the rest is input to feed */
    size_t split = 0;
    while (split < size && data[split] != 0) split++;
    char *text = malloc(split + 1);
    memcpy(text, data, split);
    text[split] = '\0';
    reel_grammar *g = reel_grammar_compile(text, "fuzz");
    if (g) {
        reel_grammar_state *s = reel_grammar_state_init(g);
        for (size_t i = split + 1; i < size && i < split + 64; i++) {
            /* (brute force is slow on very ambiguous states: skip those) */
            if (i < split + 9 && reel_grammar_state_n_stacks(s) <= 64) check_mask(s);
            if (reel_grammar_state_advance(s, data + i, 1) < 0) break;
        }
        reel_grammar_state_accepting(s);
        reel_grammar_state_free(s);
        reel_grammar_free(g);
    } else if (!*reel_last_error()) {
        abort(); /* a failure must say why */
    }
    free(text);
    return 0;
}
