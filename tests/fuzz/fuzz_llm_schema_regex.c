/* Fuzz target: JSON Schema "pattern" translation. The input is a pattern (up to the first
 * newline) and a subject string (the rest). The pattern must translate or fail with a message;
 * a translation must compile as GBNF, and the grammar and the validator must agree on the
 * subject. The pattern also names properties (patternProperties), enumerated when finite. */
#include "core/core.h"
#include "llm/grammar.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    json_t *pattern = json_stringn((const char *)data, plen);
    json_t *subject = nl ? json_stringn((const char *)nl + 1, size - plen - 1) : json_string("");
    if (!pattern || !subject) {
        json_decref(pattern);
        json_decref(subject);
        return 0; /* not UTF-8 */
    }
    json_t *schema = json_pack("{s:s,s:o}", "type", "string", "pattern", pattern);
    reel_clear_error();
    char *text = reel_json_schema_to_gbnf(schema);
    if (text) {
        reel_grammar *g = reel_grammar_compile(text, "schema");
        if (!g) abort();
        char *enc = json_dumps(subject, JSON_ENCODE_ANY);
        reel_grammar_state *s = reel_grammar_state_init(g);
        int by_grammar =
            reel_grammar_state_advance(s, enc, strlen(enc)) == 0 && reel_grammar_state_accepting(s);
        int by_validator = reel_json_schema_validate(schema, subject) == 0;
        if (by_grammar != by_validator) abort();
        reel_grammar_state_free(s);
        reel_grammar_free(g);
        free(enc);
        free(text);
    } else if (!*reel_last_error()) {
        abort();
    }
    /* the same pattern naming properties: finite ones are enumerated into property names */
    json_t *obj =
        json_pack("{s:s,s:{s:{}},s:{}}", "type", "object", "properties", "k", "patternProperties");
    json_object_set_new(json_object_get(obj, "patternProperties"), json_string_value(pattern),
                        json_object());
    reel_clear_error();
    text = reel_json_schema_to_gbnf(obj);
    if (text) {
        reel_grammar *g = reel_grammar_compile(text, "schema");
        if (!g) abort();
        reel_grammar_free(g);
        free(text);
    } else if (!*reel_last_error()) {
        abort();
    }
    json_decref(obj);
    json_decref(schema);
    json_decref(subject);
    return 0;
}
