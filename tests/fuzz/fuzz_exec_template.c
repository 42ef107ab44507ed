/* Fuzz target: the exec plugin's argv template expansion (plugins/exec/template.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/exec/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) return 0;
    char *t = malloc(size + 1);
    if (!t) return 0;
    memcpy(t, data, size);
    t[size] = 0;
    const char *names[] = {"prompt", "seed", "out"};
    const char *values[] = {"a {cat} in a hat}", "42", "/tmp/out.mp4"};
    char err[256];
    char *r = exec_template_expand(t, names, values, 3, err, sizeof err);
    if (r && strlen(r) > (1u << 20)) abort(); /* bounded */
    if (!r && !err[0]) abort();               /* a failure always says why */
    free(r);
    free(t);
    return 0;
}
