/* Fuzz target: JSON Schema to grammar. Any JSON must translate or fail with a message; every
 * translation must compile as GBNF (the translator must never emit a broken grammar). */
#include "core/core.h"
#include "llm/grammar.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *schema = reel_json_parse((const char *)data, size, "fuzz");
    if (!schema) return 0;
    char *text = reel_json_schema_to_gbnf(schema);
    if (text) {
        reel_grammar *g = reel_grammar_compile(text, "schema");
        if (!g) abort();
        reel_grammar_free(g);
        free(text);
    } else if (!*reel_last_error()) {
        abort();
    }
    json_decref(schema);
    return 0;
}
