/* Fuzz target: parameter checking against a plugin's schema (pipeline/plugin_host.c). The
 * input is "SCHEMA\nPARAMS": both JSON texts; the validator must never crash, and a failure
 * must say which parameter. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/plugin-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char *t = malloc(size + 1);
    if (!t) return 0;
    memcpy(t, data, size);
    t[size] = 0;
    char *nl = strchr(t, '\n');
    if (nl) {
        *nl = 0;
        json_t *params = json_loads(nl + 1, JSON_DECODE_ANY, NULL);
        if (params) {
            int rc = reeli_schema_validate(t, params);
            if (rc < 0 && !reel_last_error()[0]) abort();
            json_decref(params);
        }
    }
    free(t);
    return 0;
}
