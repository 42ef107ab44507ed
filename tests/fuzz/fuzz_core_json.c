/* Fuzz target: canonical JSON. For any input jansson accepts, the canonical text must parse
 * back to an equal value and be a fixed point (canonical(parse(canonical(v))) == canonical(v)). */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = reel_json_parse((const char *)data, size, "fuzz");
    if (!v) return 0;
    char *c1 = reel_json_canonical(v);
    json_t *w = reel_json_parse(c1, strlen(c1), "canonical");
    if (!w) abort();
    char *c2 = reel_json_canonical(w);
    if (strcmp(c1, c2) != 0) abort();
    free(c1);
    free(c2);
    json_decref(v);
    json_decref(w);
    return 0;
}
