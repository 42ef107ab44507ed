/* JSON Schema references and composition shared by the translator and the validator: JSON
 * pointer $refs, allOf (and $ref with constraining siblings) merged into one schema, and a
 * conservative test of whether two schemas can match the same value (for oneOf). */
#include "llm/schema-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const json_t *reeli_schema_resolve(const json_t *root, const char *ref)
{
    if (!ref || ref[0] != '#') return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/') {
            char c = *p++;
            if (c == '~' && (*p == '0' || *p == '1')) {
                c = *p++ == '0' ? '~' : '/';
            } else if (c == '%' && p[0] && p[1]) {
                char hex[3] = {p[0], p[1], 0};
                char *end;
                long v = strtol(hex, &end, 16);
                if (*end) return NULL;
                c = (char)v;
                p += 2;
            }
            if (n + 1 >= sizeof tok) return NULL;
            tok[n++] = c;
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            if (*end || !n || i < 0) return NULL;
            cur = json_array_get(cur, (size_t)i);
        } else {
            return NULL;
        }
        if (!cur) return NULL;
    }
    return cur;
}

static int is_annotation(const char *k)
{
    static const char *const A[] = {"title",       "description", "examples",      "default",
                                    "$schema",     "$id",         "$comment",      "readOnly",
                                    "writeOnly",   "deprecated",  "discriminator", "$defs",
                                    "definitions", NULL};
    for (int i = 0; A[i]; i++)
        if (strcmp(k, A[i]) == 0) return 1;
    return 0;
}

/* JSON types as bits; number includes integer. */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_INT = 32, T_NUM = 64 };

static unsigned type_bit(const char *t)
{
    if (!t) return 0;
    if (strcmp(t, "null") == 0) return T_NULL;
    if (strcmp(t, "boolean") == 0) return T_BOOL;
    if (strcmp(t, "object") == 0) return T_OBJ;
    if (strcmp(t, "array") == 0) return T_ARR;
    if (strcmp(t, "string") == 0) return T_STR;
    if (strcmp(t, "integer") == 0) return T_INT;
    if (strcmp(t, "number") == 0) return T_NUM | T_INT;
    return 0;
}

static unsigned type_set(const json_t *t)
{
    if (json_is_string(t)) return type_bit(json_string_value(t));
    unsigned m = 0;
    for (size_t i = 0; i < json_array_size(t); i++)
        m |= type_bit(json_string_value(json_array_get(t, i)));
    return m;
}

static json_t *type_json(unsigned m)
{
    static const char *const N[] = {"null",   "boolean", "object", "array",
                                    "string", "integer", "number"};
    if (m & T_NUM) m &= ~(unsigned)T_INT;
    json_t *a = json_array();
    for (int i = 0; i < 7; i++)
        if (m & (1u << i)) json_array_append_new(a, json_string(N[i]));
    if (json_array_size(a) == 1) {
        json_t *s = json_incref(json_array_get(a, 0));
        json_decref(a);
        return s;
    }
    return a;
}

static int merge_into(json_t *a, const json_t *b, const char *ptr)
{
    static const char *const LOWER[] = {"minimum",  "exclusiveMinimum", "minLength",
                                        "minItems", "minProperties",    NULL};
    static const char *const UPPER[] = {"maximum",  "exclusiveMaximum", "maxLength",
                                        "maxItems", "maxProperties",    NULL};
    const char *k;
    json_t *bv;
    json_object_foreach((json_t *)b, k, bv)
    {
        if (is_annotation(k)) continue;
        json_t *av = json_object_get(a, k);
        if (!av) {
            json_object_set(a, k, bv);
            continue;
        }
        if (json_equal(av, bv)) continue;
        int done = 0;
        for (int i = 0; LOWER[i] && !done; i++)
            if (strcmp(k, LOWER[i]) == 0) {
                if (json_number_value(bv) > json_number_value(av)) json_object_set(a, k, bv);
                done = 1;
            }
        for (int i = 0; UPPER[i] && !done; i++)
            if (strcmp(k, UPPER[i]) == 0) {
                if (json_number_value(bv) < json_number_value(av)) json_object_set(a, k, bv);
                done = 1;
            }
        if (done) continue;
        if (strcmp(k, "type") == 0) {
            unsigned m = type_set(av) & type_set(bv);
            if (!m) return reeli_schema_fail(ptr, "'allOf' parts have no type in common");
            json_object_set_new(a, k, type_json(m));
        } else if (strcmp(k, "required") == 0) {
            json_t *u = json_copy(av);
            for (size_t i = 0; i < json_array_size(bv); i++) {
                json_t *x = json_array_get(bv, i);
                int have = 0;
                for (size_t j = 0; j < json_array_size(u); j++)
                    have |= json_equal(json_array_get(u, j), x);
                if (!have) json_array_append(u, x);
            }
            json_object_set_new(a, k, u);
        } else if (strcmp(k, "properties") == 0 || strcmp(k, "dependentRequired") == 0 ||
                   strcmp(k, "patternProperties") == 0) {
            if (!json_is_object(av) || !json_is_object(bv))
                return reeli_schema_fail(ptr, "'%s' must be an object", k);
            json_t *u = json_copy(av);
            const char *pk;
            json_t *pv;
            json_object_foreach(bv, pk, pv)
            {
                json_t *old = json_object_get(u, pk);
                if (!old || json_equal(old, pv)) {
                    json_object_set(u, pk, pv);
                } else if (k[0] == 'd') {
                    json_t *cat = json_copy(old);
                    json_array_extend(cat, pv);
                    json_object_set_new(u, pk, cat);
                } else {
                    json_object_set_new(u, pk, json_pack("{s:[O,O]}", "allOf", old, pv));
                }
            }
            json_object_set_new(a, k, u);
        } else if (strcmp(k, "items") == 0 || strcmp(k, "additionalProperties") == 0) {
            if (json_is_false(av) || json_is_true(bv)) continue;
            if (json_is_false(bv) || json_is_true(av)) {
                json_object_set(a, k, bv);
                continue;
            }
            json_object_set_new(a, k, json_pack("{s:[O,O]}", "allOf", av, bv));
        } else if (strcmp(k, "enum") == 0 || strcmp(k, "const") == 0) {
            return reeli_schema_fail(ptr, "'allOf' parts with different '%s'", k);
        } else {
            return reeli_schema_fail(ptr, "'allOf' parts with different '%s' do not merge", k);
        }
    }
    return 0;
}

static json_t *merge_depth(const json_t *root, const json_t *s, const char *ptr, int depth,
                           int *budget)
{
    if (!json_is_object(s)) return json_incref((json_t *)s);
    const json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    if (!ref && !all) return json_incref((json_t *)s);
    if (depth > 32 || --*budget < 0) {
        reeli_schema_fail(ptr, "$ref/allOf chain too long or too wide");
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (strcmp(k, "$ref") != 0 && strcmp(k, "allOf") != 0 && !is_annotation(k))
            json_object_set(out, k, v);
    }
    size_t n = all ? json_array_size(all) : 0;
    if (all && (!json_is_array(all) || n == 0)) {
        json_decref(out);
        reeli_schema_fail(ptr, "'allOf' must be a non-empty array");
        return NULL;
    }
    for (size_t i = 0; i < n + (ref ? 1 : 0); i++) {
        const json_t *part = i < n ? json_array_get(all, i) : NULL;
        if (!part) {
            part = reeli_schema_resolve(root, json_string_value(ref));
            if (!part) {
                json_decref(out);
                reeli_schema_fail(ptr, "$ref '%s' points nowhere",
                                  json_is_string(ref) ? json_string_value(ref) : "?");
                return NULL;
            }
        }
        if (json_is_true(part)) continue;
        if (!json_is_object(part)) {
            json_decref(out);
            reeli_schema_fail(ptr, "an 'allOf' part must be an object or true");
            return NULL;
        }
        json_t *m = merge_depth(root, part, ptr, depth + 1, budget);
        if (!m || merge_into(out, m, ptr) < 0) {
            json_decref(m);
            json_decref(out);
            return NULL;
        }
        json_decref(m);
    }
    return out;
}

json_t *reeli_schema_merge(const json_t *root, const json_t *s, const char *ptr)
{
    int budget = 1000;
    return merge_depth(root, s, ptr, 0, &budget);
}

/* ---- disjointness ---- */

static const json_t *deref(const json_t *root, const json_t *s)
{
    for (int i = 0; i < 16 && json_is_object(s) && json_object_get(s, "$ref"); i++) {
        const json_t *t = reeli_schema_resolve(root, json_string_value(json_object_get(s, "$ref")));
        if (!t) return s;
        s = t;
    }
    return s;
}

static unsigned value_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_OBJECT:
        return T_OBJ;
    case JSON_ARRAY:
        return T_ARR;
    case JSON_STRING:
        return T_STR;
    case JSON_INTEGER:
        return T_INT | T_NUM;
    default:
        return json_real_value(v) == floor(json_real_value(v)) ? T_INT | T_NUM : T_NUM;
    }
}

/* The types a schema's values may have (all bits when unsure). */
static unsigned types_of(const json_t *root, const json_t *s, int depth)
{
    s = deref(root, s);
    if (!json_is_object(s) || depth > 8) return ~0u;
    const json_t *c = json_object_get(s, "const"), *e = json_object_get(s, "enum");
    const json_t *any = json_object_get(s, "anyOf");
    if (!any) any = json_object_get(s, "oneOf");
    unsigned m = ~0u;
    if (c) m &= value_type(c);
    if (json_is_array(e)) {
        unsigned u = 0;
        for (size_t i = 0; i < json_array_size(e); i++) u |= value_type(json_array_get(e, i));
        m &= u;
    }
    if (json_object_get(s, "type")) {
        unsigned t = type_set(json_object_get(s, "type"));
        if (t & T_INT) t |= T_NUM; /* an integer is a number */
        m &= t;
    }
    if (json_is_array(any)) {
        unsigned u = 0;
        for (size_t i = 0; i < json_array_size(any); i++)
            u |= types_of(root, json_array_get(any, i), depth + 1);
        m &= u;
    }
    return m;
}

/* The finite set of values a schema allows (const or enum), or NULL. */
static const json_t *values_of(const json_t *s, json_t **tmp)
{
    const json_t *c = json_object_get(s, "const"), *e = json_object_get(s, "enum");
    if (c) {
        *tmp = json_pack("[O]", c);
        return *tmp;
    }
    return json_is_array(e) ? e : NULL;
}

/* Equal as JSON Schema compares (numbers by value); containers conservatively equal. */
static int same_scalar(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_is_object(a) || json_is_array(a)) return json_typeof(a) == json_typeof(b);
    return json_equal(a, b);
}

static int disjoint_depth(const json_t *root, const json_t *a, const json_t *b, int depth)
{
    a = deref(root, a);
    b = deref(root, b);
    if (!json_is_object(a) || !json_is_object(b) || depth > 8) return 0;
    unsigned ta = types_of(root, a, 0), tb = types_of(root, b, 0);
    /* integer vs number overlap: any integer is a number */
    if (!(ta & tb)) return 1;
    json_t *t1 = NULL, *t2 = NULL;
    const json_t *va = values_of(a, &t1), *vb = values_of(b, &t2);
    int result = 0;
    if (va && vb) {
        result = 1;
        for (size_t i = 0; i < json_array_size(va) && result; i++)
            for (size_t j = 0; j < json_array_size(vb) && result; j++)
                if (same_scalar(json_array_get(va, i), json_array_get(vb, j))) result = 0;
    }
    json_decref(t1);
    json_decref(t2);
    if (result) return 1;
    /* objects told apart by a property both require, with disjoint schemas */
    const json_t *pa = json_object_get(a, "properties"), *pb = json_object_get(b, "properties");
    const json_t *ra = json_object_get(a, "required"), *rb = json_object_get(b, "required");
    if ((ta & tb) != T_OBJ || !json_is_object(pa) || !json_is_object(pb)) return 0;
    for (size_t i = 0; i < json_array_size(ra); i++) {
        const char *k = json_string_value(json_array_get(ra, i));
        int in_b = 0;
        for (size_t j = 0; k && j < json_array_size(rb); j++)
            in_b |= json_equal(json_array_get(ra, i), json_array_get(rb, j));
        if (!in_b || !json_object_get(pa, k) || !json_object_get(pb, k)) continue;
        if (disjoint_depth(root, json_object_get(pa, k), json_object_get(pb, k), depth + 1))
            return 1;
    }
    return 0;
}

int reeli_schema_disjoint(const json_t *root, const json_t *a, const json_t *b)
{
    return disjoint_depth(root, a, b, 0);
}
