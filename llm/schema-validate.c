/* The JSON Schema validator: every keyword the translator (schema.c) accepts, with the same
 * semantics, so a value generated under a schema's grammar always validates. Patterns and
 * formats are judged by the very grammar the translator emits for them; allOf and $ref with
 * constraining siblings are merged the same way (schema-compose.c). Objects allow no property
 * beyond 'properties' and 'patternProperties' unless 'additionalProperties' says otherwise;
 * lengths count code points; numbers compare as doubles. */
#include "core/core.h"
#include "llm/grammar.h"
#include "llm/schema-impl.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

#define MAX_STEPS                                                                                  \
    1000000 /* schema nodes one validation may visit (anyOf over $refs can                         \
                    otherwise take exponential time) */

typedef struct {
    const json_t *root;
    int depth;
    long steps;
    const volatile sig_atomic_t *cancel; /* checked every CANCEL_EVERY steps; may be NULL */
} vctx;

#define CANCEL_EVERY 1024

static int vfail(const char *ptr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(const char *ptr, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reel_set_error(REEL_EFORMAT, "JSON value at '%s': %s", *ptr ? ptr : "/", msg);
}

static size_t utf8_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int validate(vctx *c, const json_t *s, const json_t *v, const char *ptr);

/* ptr + "/" + key as a JSON pointer (RFC 6901: '~' written "~0", '/' written "~1") */
static char *pointer_key(const char *ptr, const char *key)
{
    reel_strbuf b = {0};
    reel_strbuf_printf(&b, "%s/", ptr);
    for (const char *k = key; *k; k++) {
        if (*k == '~')
            reel_strbuf_str(&b, "~0");
        else if (*k == '/')
            reel_strbuf_str(&b, "~1");
        else
            reel_strbuf_add(&b, k, 1);
    }
    return b.p;
}

static int type_matches(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    return 0;
}

/* JSON Schema equality: numbers by value, containers element-wise. */
static int same_value(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_value(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)a, k, x)
        {
            const json_t *y = json_object_get(b, k);
            if (!y || !same_value(x, y)) return 0;
        }
        return 1;
    }
    return json_equal(a, b);
}

/* 1 if the string value's JSON text matches the GBNF expression `expr` (contents between the
 * quotes) with its helper `rules`; 0 if not; -1 if the grammar does not compile. */
static int string_matches(const json_t *str, const char *expr, const char *rules)
{
    reel_strbuf text = {0};
    reel_strbuf_printf(&text, "root ::= \"\\\"\" %s \"\\\"\"\n%s%s", expr, rules ? rules : "",
                       REELI_GBNF_CHAR_RULES);
    reel_grammar *g = reel_grammar_compile(text.p, "json-schema string");
    free(text.p);
    if (!g) return -1;
    char *enc = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
    reel_grammar_state *st = reel_grammar_state_init(g);
    int ok = enc && reel_grammar_state_advance(st, enc, strlen(enc)) == 0 &&
             reel_grammar_state_accepting(st);
    reel_grammar_state_free(st);
    reel_grammar_free(g);
    free(enc);
    return ok;
}

/* 1/0: the string matches the pattern; -1 with the error set if the pattern is refused. */
static int pattern_matches(const char *pattern, const json_t *str, const char *ptr)
{
    reel_strbuf expr = {0};
    int rc = reeli_regex_gbnf(pattern, 0, -1, ptr, &expr);
    if (rc == 0) rc = string_matches(str, expr.p, NULL);
    free(expr.p);
    return rc;
}

static int check_string(const json_t *s, const json_t *v, const char *ptr)
{
    long long n = (long long)utf8_len(json_string_value(v), json_string_length(v));
    long long mn = reel_json_int(s, "minLength", 0), mx = reel_json_int(s, "maxLength", -1);
    if (n < mn) return vfail(ptr, "string of %lld characters, shorter than minLength %lld", n, mn);
    if (mx >= 0 && n > mx)
        return vfail(ptr, "string of %lld characters, longer than maxLength %lld", n, mx);
    const char *pat = json_string_value(json_object_get(s, "pattern"));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    if (pat) {
        int m = pattern_matches(pat, v, ptr);
        if (m < 0) return vfail(ptr, "%s", reel_last_error());
        if (!m) return vfail(ptr, "string does not match pattern '%s'", pat);
    }
    if (fmt) {
        reel_strbuf expr = {0}, rules = {0};
        unsigned emitted = 0;
        int m = reeli_format_gbnf(fmt, 0, -1, ptr, &expr, &rules, &emitted);
        if (m == 0) m = string_matches(v, expr.p, rules.p);
        free(expr.p);
        free(rules.p);
        if (m < 0) return vfail(ptr, "%s", reel_last_error());
        if (!m) return vfail(ptr, "string is not a valid '%s'", fmt);
    }
    return 0;
}

static int check_number(const json_t *s, const json_t *v, const char *ptr)
{
    double d = json_number_value(v);
    const json_t *b;
    if ((b = json_object_get(s, "minimum")) && d < json_number_value(b))
        return vfail(ptr, "%g is below minimum %g", d, json_number_value(b));
    if ((b = json_object_get(s, "maximum")) && d > json_number_value(b))
        return vfail(ptr, "%g is above maximum %g", d, json_number_value(b));
    if ((b = json_object_get(s, "exclusiveMinimum")) && json_is_number(b) &&
        !(d > json_number_value(b)))
        return vfail(ptr, "%g is not above exclusiveMinimum %g", d, json_number_value(b));
    if ((b = json_object_get(s, "exclusiveMaximum")) && json_is_number(b) &&
        !(d < json_number_value(b)))
        return vfail(ptr, "%g is not below exclusiveMaximum %g", d, json_number_value(b));
    if ((b = json_object_get(s, "multipleOf")) && json_number_value(b) > 0) {
        double q = d / json_number_value(b);
        if (q != floor(q)) return vfail(ptr, "%g is not a multiple of %g", d, json_number_value(b));
    }
    return 0;
}

static int check_array(vctx *c, const json_t *s, const json_t *v, const char *ptr)
{
    long long mn = reel_json_int(s, "minItems", 0), mx = reel_json_int(s, "maxItems", -1);
    long long n = (long long)json_array_size(v);
    if (n < mn) return vfail(ptr, "%lld items, fewer than minItems %lld", n, mn);
    if (mx >= 0 && n > mx) return vfail(ptr, "%lld items, more than maxItems %lld", n, mx);
    const json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    size_t np = json_is_array(prefix) ? json_array_size(prefix) : 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *is = i < np ? json_array_get(prefix, i) : items;
        if (!is) continue;
        char *sub = reel_xasprintf("%s/%zu", ptr, i);
        int rc = json_is_false(is) ? vfail(sub, "no item allowed here (items: false)")
                                   : validate(c, is, json_array_get(v, i), sub);
        free(sub);
        if (rc < 0) return rc;
    }
    if (json_is_true(json_object_get(s, "uniqueItems")))
        for (size_t i = 0; i < json_array_size(v); i++)
            for (size_t j = i + 1; j < json_array_size(v); j++)
                if (same_value(json_array_get(v, i), json_array_get(v, j)))
                    return vfail(ptr, "items %zu and %zu are equal (uniqueItems)", i, j);
    return 0;
}

static int check_object(vctx *c, const json_t *s, const json_t *v, const char *ptr)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const json_t *pprops = json_object_get(s, "patternProperties");
    const json_t *deps = json_object_get(s, "dependentRequired");
    for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
        const char *k = json_string_value(json_array_get(req, i));
        if (k && !json_object_get(v, k)) return vfail(ptr, "missing required property '%s'", k);
    }
    long long n = (long long)json_object_size(v);
    long long mn = reel_json_int(s, "minProperties", 0), mx = reel_json_int(s, "maxProperties", -1);
    if (n < mn) return vfail(ptr, "%lld properties, fewer than minProperties %lld", n, mn);
    if (mx >= 0 && n > mx)
        return vfail(ptr, "%lld properties, more than maxProperties %lld", n, mx);
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)deps, k, x)
    {
        if (!json_object_get(v, k)) continue;
        for (size_t i = 0; i < json_array_size(x); i++) {
            const char *d = json_string_value(json_array_get(x, i));
            if (d && !json_object_get(v, d))
                return vfail(ptr, "property '%s' requires '%s' (dependentRequired)", k, d);
        }
    }
    json_object_foreach((json_t *)v, k, x)
    {
        char *sub = pointer_key(ptr, k);
        const json_t *ps = json_is_object(props) ? json_object_get(props, k) : NULL;
        int rc = 0, matched = ps != NULL;
        if (ps) rc = validate(c, ps, x, sub);
        const char *pat;
        json_t *psch;
        json_t *key = json_string(k);
        json_object_foreach((json_t *)pprops, pat, psch)
        {
            if (rc < 0) break;
            int m = pattern_matches(pat, key, sub);
            if (m < 0) rc = vfail(sub, "%s", reel_last_error());
            if (m > 0) {
                matched = 1;
                rc = validate(c, psch, x, sub);
            }
        }
        json_decref(key);
        if (rc == 0 && !matched) {
            if (json_is_object(addl))
                rc = validate(c, addl, x, sub);
            else if (!json_is_true(addl))
                rc = vfail(sub, "property not allowed by the schema");
        }
        free(sub);
        if (rc < 0) return rc;
    }
    return 0;
}

static int mentions_type(const json_t *type, const char *t)
{
    if (json_is_string(type)) return strcmp(json_string_value(type), t) == 0;
    for (size_t i = 0; i < json_array_size(type); i++)
        if (json_is_string(json_array_get(type, i)) &&
            strcmp(json_string_value(json_array_get(type, i)), t) == 0)
            return 1;
    return 0;
}

static int has_object_keywords(const json_t *s)
{
    static const char *const K[] = {
        "properties",    "required",          "additionalProperties", "minProperties",
        "maxProperties", "patternProperties", "dependentRequired",    NULL};
    for (int i = 0; K[i]; i++)
        if (json_object_get(s, K[i])) return 1;
    return mentions_type(json_object_get(s, "type"), "object");
}

static int only_annotations(const json_t *s)
{
    static const char *const A[] = {"$ref",     "title",       "description", "examples",
                                    "default",  "$schema",     "$id",         "$comment",
                                    "readOnly", "writeOnly",   "deprecated",  "discriminator",
                                    "$defs",    "definitions", NULL};
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)s, k, x)
    {
        int a = 0;
        for (int i = 0; A[i] && !a; i++) a = strcmp(k, A[i]) == 0;
        if (!a) return 0;
    }
    return 1;
}

static int validate_body(vctx *c, const json_t *s, const json_t *v, const char *ptr)
{
    const json_t *ref = json_object_get(s, "$ref");
    if (json_object_get(s, "allOf") || (ref && !only_annotations(s))) {
        json_t *m = reeli_schema_merge(c->root, s, ptr);
        if (!m) return vfail(ptr, "%s", reel_last_error());
        int rc = validate(c, m, v, ptr);
        json_decref(m);
        return rc;
    }
    if (ref) {
        const json_t *target = reeli_schema_resolve(c->root, json_string_value(ref));
        return target ? validate(c, target, v, ptr) : vfail(ptr, "unresolvable $ref");
    }
    const json_t *x;
    if ((x = json_object_get(s, "const")) && !same_value(x, v))
        return vfail(ptr, "value differs from 'const'");
    if ((x = json_object_get(s, "enum"))) {
        int in = 0;
        for (size_t i = 0; i < json_array_size(x) && !in; i++)
            in = same_value(json_array_get(x, i), v);
        if (!in) return vfail(ptr, "value is not one of 'enum'");
    }
    if ((x = json_object_get(s, "anyOf"))) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(x) && !ok; i++)
            ok = validate(c, json_array_get(x, i), v, ptr) == 0;
        if (!ok) return vfail(ptr, "value matches no branch of 'anyOf'");
    }
    if ((x = json_object_get(s, "oneOf"))) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(x); i++)
            n += validate(c, json_array_get(x, i), v, ptr) == 0;
        if (n != 1) return vfail(ptr, "value matches %d branches of 'oneOf', not exactly one", n);
    }
    if ((x = json_object_get(s, "not")) && validate(c, x, v, ptr) == 0)
        return vfail(ptr, "value matches the schema under 'not'");
    const json_t *type = json_object_get(s, "type");
    if (json_is_string(type) && !type_matches(json_string_value(type), v))
        return vfail(ptr, "expected %s", json_string_value(type));
    if (json_is_array(type)) {
        int ok = 0;
        for (size_t i = 0; i < json_array_size(type) && !ok; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            ok = t && type_matches(t, v);
        }
        if (!ok) return vfail(ptr, "value matches none of the listed types");
    }
    if (json_is_object(v) && has_object_keywords(s)) return check_object(c, s, v, ptr);
    if (json_is_array(v)) return check_array(c, s, v, ptr);
    if (json_is_string(v)) return check_string(s, v, ptr);
    if (json_is_number(v)) return check_number(s, v, ptr);
    return 0;
}

static int validate(vctx *c, const json_t *s, const json_t *v, const char *ptr)
{
    if (json_is_true(s)) return 0;
    if (json_is_false(s)) return vfail(ptr, "schema false allows no value");
    if (!json_is_object(s)) return vfail(ptr, "schema is not an object");
    if (c->depth >= MAX_DEPTH) return vfail(ptr, "schema and value nested too deeply");
    if (++c->steps > MAX_STEPS) return vfail(ptr, "schema too expensive to evaluate");
    if (c->cancel && c->steps % CANCEL_EVERY == 0 && *c->cancel)
        return reel_set_error(REEL_ECANCELED, "validation interrupted");
    c->depth++;
    int rc = validate_body(c, s, v, ptr);
    c->depth--;
    return rc;
}

int reeli_schema_validate_at(const json_t *root, const json_t *schema, const json_t *value)
{
    vctx c = {root, 0, 0, NULL};
    return validate(&c, schema, value, "");
}

int reel_json_schema_validate(const json_t *schema, const json_t *value)
{
    return reeli_schema_validate_at(schema, schema, value);
}

int reel_json_schema_validate_cancel(const json_t *schema, const json_t *value,
                                     const volatile sig_atomic_t *cancel)
{
    vctx c = {schema, 0, 0, cancel};
    return validate(&c, schema, value, "");
}
