/* Fuzz target: frame sizes as scripts give them (pipeline/size.c). Whatever the text, the
 * parser either fails with a message or gives an even size within 16..8192; and the node
 * field built from the same text agrees with it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/size-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    int w = 0, h = 0;
    char err[256];
    err[0] = 0;
    int rc = reeli_size_parse(text, &w, &h, err, sizeof err);
    if (rc == 0 && (w < 16 || h < 16 || w > 8192 || h > 8192 || (w & 1) || (h & 1))) abort();
    if (rc < 0 && !err[0]) abort();
    json_t *p = json_object();
    json_t *str = json_string(text); /* NULL when not UTF-8: then no size field */
    int is_str = str != NULL;
    json_object_set_new(p, "size", str);
    int frc = reeli_size_field(p, 1, err, sizeof err);
    if (is_str && frc != rc) abort();
    if (frc == 0 && json_object_get(p, "width") &&
        (json_integer_value(json_object_get(p, "width")) != w ||
         json_integer_value(json_object_get(p, "height")) != h))
        abort();
    json_decref(p);
    free(text);
    return 0;
}
