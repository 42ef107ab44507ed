#include "core/json.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void put_string(reel_strbuf *b, const char *s, size_t len)
{
    reel_strbuf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"':
            reel_strbuf_str(b, "\\\"");
            break;
        case '\\':
            reel_strbuf_str(b, "\\\\");
            break;
        case '\b':
            reel_strbuf_str(b, "\\b");
            break;
        case '\f':
            reel_strbuf_str(b, "\\f");
            break;
        case '\n':
            reel_strbuf_str(b, "\\n");
            break;
        case '\r':
            reel_strbuf_str(b, "\\r");
            break;
        case '\t':
            reel_strbuf_str(b, "\\t");
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                reel_strbuf_str(b, esc);
            } else {
                reel_strbuf_add(b, (const char *)&c, 1);
            }
        }
    }
    reel_strbuf_add(b, "\"", 1);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void write_value(reel_strbuf *b, const json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_NULL:
        reel_strbuf_str(b, "null");
        break;
    case JSON_TRUE:
        reel_strbuf_str(b, "true");
        break;
    case JSON_FALSE:
        reel_strbuf_str(b, "false");
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        reel_strbuf_str(b, num);
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d == 0) d = 0; /* -0.0 -> 0.0 */
        snprintf(num, sizeof num, "%.17g", d);
        /* keep reals distinguishable from integers */
        if (!strpbrk(num, ".eEn")) strcat(num, ".0");
        reel_strbuf_str(b, num);
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY: {
        reel_strbuf_add(b, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i) reel_strbuf_add(b, ",", 1);
            write_value(b, json_array_get(v, i));
        }
        reel_strbuf_add(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = reel_xmalloc((n ? n : 1) * sizeof *keys);
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item) keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_keys);
        reel_strbuf_add(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i) reel_strbuf_add(b, ",", 1);
            put_string(b, keys[i], strlen(keys[i]));
            reel_strbuf_add(b, ":", 1);
            write_value(b, json_object_get(v, keys[i]));
        }
        reel_strbuf_add(b, "}", 1);
        free(keys);
        break;
    }
    }
}

char *reel_json_canonical(const json_t *v)
{
    if (!v) return NULL;
    reel_strbuf b = {0};
    write_value(&b, v);
    return b.p;
}

void reel_json_hash(const json_t *v, uint8_t out[REEL_SHA256_SIZE])
{
    char *s = reel_json_canonical(v);
    reel_sha256_buf(s, s ? strlen(s) : 0, out);
    free(s);
}

json_t *reel_json_parse(const char *text, size_t size, const char *where)
{
    json_error_t err;
    json_t *v = json_loadb(text, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v)
        reel_set_error(REEL_EFORMAT, "%s:%d:%d: %s", where ? where : "json", err.line, err.column,
                       err.text);
    return v;
}

json_t *reel_json_load_file(const char *path, size_t max_size)
{
    char *data;
    size_t size;
    if (reel_file_read(path, max_size ? max_size : (64u << 20), &data, &size) < 0) return NULL;
    json_t *v = reel_json_parse(data, size, path);
    free(data);
    return v;
}

int reel_json_save_file(const json_t *v, const char *path)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!s) return reel_set_error(REEL_ENOMEM, "%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    s = reel_xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    int rc = reel_file_write_atomic(path, s, n + 1);
    free(s);
    return rc;
}

static const json_t *member(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

const char *reel_json_str(const json_t *obj, const char *key, const char *def)
{
    const json_t *v = member(obj, key);
    if (!v) return def;
    if (!json_is_string(v)) {
        reel_set_error(REEL_EFORMAT, "\"%s\" must be a string", key);
        return def;
    }
    return json_string_value(v);
}

int64_t reel_json_int(const json_t *obj, const char *key, int64_t def)
{
    const json_t *v = member(obj, key);
    if (!v) return def;
    if (json_is_integer(v)) return json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9.0e15)
        return (int64_t)json_real_value(v);
    reel_set_error(REEL_EFORMAT, "\"%s\" must be an integer", key);
    return def;
}

double reel_json_num(const json_t *obj, const char *key, double def)
{
    const json_t *v = member(obj, key);
    if (!v) return def;
    if (json_is_number(v)) return json_number_value(v);
    reel_set_error(REEL_EFORMAT, "\"%s\" must be a number", key);
    return def;
}

int reel_json_bool(const json_t *obj, const char *key, int def)
{
    const json_t *v = member(obj, key);
    if (!v) return def;
    if (json_is_boolean(v)) return json_is_true(v);
    reel_set_error(REEL_EFORMAT, "\"%s\" must be true or false", key);
    return def;
}
