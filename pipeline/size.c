/* Frame sizes: "WxH" or an aspect preset, for every place a script names a frame size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/size-impl.h"

/* Full-HD class sizes: what the platforms each aspect is for (landscape video, shorts and
 * stories, square and portrait feed posts) take as their standard upload. */
static const struct preset {
    const char *name;
    int w, h;
} presets[] = {
    {"16:9", 1920, 1080},
    {"9:16", 1080, 1920},
    {"1:1", 1080, 1080},
    {"4:5", 1080, 1350},
};

int reeli_size_parse(const char *s, int *w, int *h, char *err, size_t n)
{
    if (!s) s = "";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (!strcmp(s, presets[i].name)) {
            *w = presets[i].w;
            *h = presets[i].h;
            return 0;
        }
    }
    /* digits 'x' digits and nothing else (strtol alone would take signs and spaces) */
    char *end = NULL;
    long a = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : 0, b = 0;
    int ok = end && *end == 'x' && end[1] >= '0' && end[1] <= '9';
    if (ok) b = strtol(end + 1, &end, 10);
    if (!ok || *end) {
        snprintf(err, n,
                 "'%.40s' is not a size: give \"WIDTHxHEIGHT\" (e.g. \"1280x720\") or "
                 "one of " REELI_SIZE_PRESETS,
                 s);
        return -1;
    }
    if (a < 16 || b < 16 || a > 8192 || b > 8192 || (a & 1) || (b & 1)) {
        snprintf(err, n, "%ldx%ld: width and height must be even, 16..8192", a, b);
        return -1;
    }
    *w = (int)a;
    *h = (int)b;
    return 0;
}

int reeli_size_field(json_t *params, int as_dims, char *err, size_t n)
{
    const json_t *v = json_object_get(params, "size");
    if (!v) return 0;
    int w, h;
    char why[200], pair[64];
    const char *text = json_string_value(v);
    if (json_is_array(v) && json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)) &&
        json_is_integer(json_array_get(v, 1))) {
        snprintf(pair, sizeof pair, "%lldx%lld",
                 (long long)json_integer_value(json_array_get(v, 0)),
                 (long long)json_integer_value(json_array_get(v, 1)));
        text = pair;
    }
    if (!text) {
        snprintf(err, n, "field 'size' must be \"WIDTHxHEIGHT\", {W, H} or one of %s",
                 REELI_SIZE_PRESETS);
        return -1;
    }
    if (reeli_size_parse(text, &w, &h, why, sizeof why) < 0) {
        snprintf(err, n, "field 'size': %s", why);
        return -1;
    }
    if (as_dims && (json_object_get(params, "width") || json_object_get(params, "height"))) {
        snprintf(err, n,
                 "field 'size' sets the width and height: give size= or width= and "
                 "height=, not both");
        return -1;
    }
    if (as_dims) {
        json_object_del(params, "size");
        json_object_set_new(params, "width", json_integer(w));
        json_object_set_new(params, "height", json_integer(h));
    } else {
        char s[32];
        snprintf(s, sizeof s, "%dx%d", w, h);
        json_object_set_new(params, "size", json_string(s));
    }
    return 0;
}
