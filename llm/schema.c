/* JSON Schema (a documented subset) to GBNF, and a validator for the same subset.
 *
 * The translation is compact (no whitespace), emits object properties in the schema's order,
 * and fails on any keyword it does not implement, naming the keyword and its JSON pointer:
 * a constraint that is silently ignored would let invalid output through.
 */
#include "core/core.h"
#include "llm/grammar.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Integers without explicit bounds are limited to 15 digits (exact in a double). */
#define INT_LIMIT 999999999999999LL

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 1024;
        b->p = reel_xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = reel_xmalloc((size_t)n + 1);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb_add(b, tmp, (size_t)n);
    free(tmp);
}

/* GBNF literal for raw bytes. */
static void sb_literal(sbuf *b, const char *s, size_t n)
{
    sb_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            sb_printf(b, "\\x%02x", c);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_str(b, "\"");
}

/* GBNF literal matching the compact JSON text of v. */
static void sb_json_literal(sbuf *b, const json_t *v)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    sb_literal(b, t, strlen(t));
    free(t);
}

typedef struct {
    const json_t *root;
    sbuf rules; /* emitted rule definitions */
    int counter;
    /* $ref memo: name -> rule */
    json_t *refs; /* object: "#/$defs/x" -> rule name (string) */
    /* refs being expanded with no text matched since they began: reaching one of these again
     * is left recursion, which no grammar can run (every typed schema matches a byte first) */
    json_t *open_at_head;
    int failed;
    int depth;
} gen;

static int fail_at(gen *g, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(gen *g, const char *ptr, const char *fmt, ...)
{
    if (g->failed) return -1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reel_set_error(REEL_EUNSUPPORTED, "JSON schema at '%s': %s", *ptr ? ptr : "#", msg);
    g->failed = 1;
    return -1;
}

/* A fresh rule name with the given stem. Returned string is owned by the caller. */
static char *rule_name(gen *g, const char *stem)
{
    return reel_xasprintf("%s%d", stem, g->counter++);
}

static const char *const ANNOTATIONS[] = {"title",     "description", "examples", "default",
                                          "$schema",   "$id",         "$comment", "readOnly",
                                          "writeOnly", "deprecated",  NULL};

static int is_annotation(const char *k)
{
    for (int i = 0; ANNOTATIONS[i]; i++)
        if (strcmp(k, ANNOTATIONS[i]) == 0) return 1;
    return 0;
}

/* Fails on keywords outside `allowed` (NULL-terminated), ignoring annotations. */
static int check_keywords(gen *g, const json_t *s, const char *ptr, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (is_annotation(k)) continue;
        int ok = 0;
        for (int i = 0; allowed[i]; i++)
            if (strcmp(k, allowed[i]) == 0) ok = 1;
        if (!ok) return fail_at(g, ptr, "keyword '%s' is not supported here", k);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- integer ranges as digit patterns ---- */

/* Pattern for all digit strings of length n between a and b inclusive (same length). */
static void same_len_range(sbuf *b, const char *a, const char *z, int n)
{
    if (n == 0) return;
    if (a[0] == z[0]) {
        char c[2] = {a[0], 0};
        sb_literal(b, c, 1);
        if (n > 1) {
            sb_str(b, " ");
            same_len_range(b, a + 1, z + 1, n - 1);
        }
        return;
    }
    if (n == 1) {
        sb_printf(b, "[%c-%c]", a[0], z[0]);
        return;
    }
    int a_rest_zero = 1, z_rest_nine = 1;
    for (int i = 1; i < n; i++) {
        if (a[i] != '0') a_rest_zero = 0;
        if (z[i] != '9') z_rest_nine = 0;
    }
    char lo = a_rest_zero ? a[0] : (char)(a[0] + 1);
    char hi = z_rest_nine ? z[0] : (char)(z[0] - 1);
    char nines[24], zeros[24];
    memset(nines, '9', sizeof nines);
    memset(zeros, '0', sizeof zeros);
    sb_str(b, "(");
    int alts = 0;
    if (!a_rest_zero) {
        sb_printf(b, "\"%c\" ", a[0]);
        sb_str(b, "(");
        same_len_range(b, a + 1, nines, n - 1);
        sb_str(b, ")");
        alts++;
    }
    if (lo <= hi) {
        if (alts++) sb_str(b, " | ");
        sb_printf(b, "[%c-%c] [0-9]{%d}", lo, hi, n - 1);
    }
    if (!z_rest_nine) {
        if (alts++) sb_str(b, " | ");
        sb_printf(b, "\"%c\" ", z[0]);
        sb_str(b, "(");
        same_len_range(b, zeros, z + 1, n - 1);
        sb_str(b, ")");
    }
    sb_str(b, ")");
}

/* Pattern for the decimal forms (no leading zeros) of lo..hi, 0 <= lo <= hi. */
static void nonneg_range(sbuf *b, long long lo, long long hi)
{
    int first = 1;
    sb_str(b, "(");
    long long p = 1;
    for (int d = 1; d <= 18; d++, p *= 10) {
        long long dlo = d == 1 ? 0 : p, dhi = p * 10 - 1;
        if (dhi < lo || dlo > hi) continue;
        long long a = lo > dlo ? lo : dlo, z = hi < dhi ? hi : dhi;
        char as[24], zs[24];
        snprintf(as, sizeof as, "%lld", a);
        snprintf(zs, sizeof zs, "%lld", z);
        if (!first) sb_str(b, " | ");
        first = 0;
        sb_str(b, "(");
        same_len_range(b, as, zs, d);
        sb_str(b, ")");
    }
    sb_str(b, ")");
}

static void int_range(sbuf *b, long long lo, long long hi)
{
    sb_str(b, "(");
    int alts = 0;
    if (lo < 0) {
        long long nhi = hi < 0 ? -hi : 1; /* magnitudes of the negative part: nhi..-lo */
        sb_str(b, "\"-\" ");
        nonneg_range(b, nhi, -lo);
        alts++;
    }
    if (hi >= 0) {
        if (alts) sb_str(b, " | ");
        nonneg_range(b, lo > 0 ? lo : 0, hi);
    }
    sb_str(b, ")");
}

static int get_bound(gen *g, const json_t *s, const char *key, const char *ptr, int integer,
                     long long def, long long *out)
{
    const json_t *v = json_object_get(s, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v)) return fail_at(g, ptr, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (fabs(d) > (double)INT_LIMIT) return fail_at(g, ptr, "'%s' is beyond 15 digits", key);
    if (integer) {
        *out = strcmp(key, "minimum") == 0 ? (long long)ceil(d) : (long long)floor(d);
    } else {
        if (d != floor(d))
            return fail_at(g, ptr, "'%s' of a number must be a whole number in this version", key);
        *out = (long long)d;
    }
    return 0;
}

/* ---- schema to rule ---- */

static int gen_schema(gen *g, const json_t *s, const char *ptr, sbuf *out);

static int gen_def_rule(gen *g, const json_t *s, const char *ptr, const char *stem, char **name)
{
    sbuf body = {0};
    if (gen_schema(g, s, ptr, &body) < 0) {
        free(body.p);
        return -1;
    }
    *name = rule_name(g, stem);
    sb_printf(&g->rules, "%s ::= %s\n", *name, body.p ? body.p : "\"\"");
    free(body.p);
    return 0;
}

static int gen_ref(gen *g, const char *ref, const char *ptr, sbuf *out)
{
    if (json_object_get(g->open_at_head, ref))
        return fail_at(g, ptr, "$ref '%s' comes back to itself before matching any text", ref);
    const json_t *memo = json_object_get(g->refs, ref);
    if (memo) {
        sb_printf(out, "%s", json_string_value(memo));
        return 0;
    }
    const char *name = NULL;
    const json_t *defs = NULL;
    if (strncmp(ref, "#/$defs/", 8) == 0) {
        defs = json_object_get(g->root, "$defs");
        name = ref + 8;
    } else if (strncmp(ref, "#/definitions/", 14) == 0) {
        defs = json_object_get(g->root, "definitions");
        name = ref + 14;
    } else {
        return fail_at(g, ptr, "$ref '%s' is not supported (only #/$defs/NAME)", ref);
    }
    const json_t *target = json_object_get(defs, name);
    if (!target) return fail_at(g, ptr, "$ref '%s' points nowhere", ref);
    /* reserve the rule name first so recursive references terminate */
    char *rule = rule_name(g, "ref");
    json_object_set_new(g->refs, ref, json_string(rule));
    sbuf body = {0};
    json_object_set_new(g->open_at_head, ref, json_true());
    int rc = gen_schema(g, target, ref + 1, &body);
    json_object_del(g->open_at_head, ref);
    if (rc < 0) {
        free(body.p);
        free(rule);
        return -1;
    }
    sb_printf(&g->rules, "%s ::= %s\n", rule, body.p);
    free(body.p);
    sb_printf(out, "%s", rule);
    free(rule);
    return 0;
}

static int gen_object(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    static const char *const ok[] = {"type", "properties", "required", "additionalProperties",
                                     NULL};
    if (check_keywords(g, s, ptr, ok) < 0) return -1;
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (json_is_array(props) && json_array_size(props) == 0) props = NULL; /* {} from Lua */
    if (json_is_array(req) && json_array_size(req) == 0) req = NULL;
    if (addl && !json_is_boolean(addl))
        return fail_at(g, ptr, "'additionalProperties' with a schema is not supported");
    if (props && !json_is_object(props)) return fail_at(g, ptr, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail_at(g, ptr, "'required' must be an array");
    size_t n = props ? json_object_size(props) : 0;
    if (!props && addl && json_is_true(addl)) {
        sb_str(out, "object-any");
        return 0;
    }
    const char **keys = reel_xcalloc(n + 1, sizeof *keys);
    char **rules = reel_xcalloc(n + 1, sizeof *rules);
    int *required = reel_xcalloc(n + 1, sizeof *required);
    size_t i = 0;
    const char *k;
    json_t *v;
    /* Property order, independent of how the schema object was built (a Lua table has no
     * order): the required properties in the order 'required' lists them, then the optional
     * ones by name. The model writes the fields in this order. */
    for (size_t r = 0; req && r < json_array_size(req); r++) {
        const char *name = json_string_value(json_array_get(req, r));
        if (!name || !props || !json_object_get(props, name)) {
            fail_at(g, ptr, "required property '%s' is not in 'properties'", name ? name : "?");
            goto fail;
        }
        size_t j;
        for (j = 0; j < i && strcmp(keys[j], name) != 0; j++) {
        }
        if (j < i) continue; /* listed twice */
        required[i] = 1;
        keys[i++] = json_object_iter_key(json_object_iter_at((json_t *)props, name));
    }
    size_t n_req = i;
    json_object_foreach((json_t *)props, k, v)
    {
        size_t j;
        for (j = 0; j < n_req && strcmp(keys[j], k) != 0; j++) {
        }
        if (j == n_req) keys[i++] = k;
    }
    qsort(keys + n_req, i - n_req, sizeof *keys, cmp_str);
    for (i = 0; i < n; i++) {
        char *sub = reel_xasprintf("%s/properties/%s", ptr, keys[i]);
        sbuf body = {0};
        /* "key":value */
        json_t *key = json_string(keys[i]);
        char *kt = json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(key);
        size_t klen = strlen(kt);
        kt = reel_xrealloc(kt, klen + 2);
        kt[klen] = ':';
        kt[klen + 1] = '\0';
        sb_literal(&body, kt, klen + 1);
        free(kt);
        sb_str(&body, " ");
        int rc = gen_schema(g, json_object_get(props, keys[i]), sub, &body);
        free(sub);
        if (rc < 0) {
            free(body.p);
            goto fail;
        }
        rules[i] = rule_name(g, "kv");
        sb_printf(&g->rules, "%s ::= %s\n", rules[i], body.p);
        free(body.p);
    }
    /* tail_i: what may follow once property i is present: for j > i, required ones
     * mandatory, optional ones optional, in order. */
    sb_str(out, "\"{\" (");
    int alts = 0;
    for (i = 0; i < n; i++) {
        /* property i can be the first present one if every earlier one is optional */
        int can_be_first = 1;
        for (size_t j = 0; j < i; j++)
            if (required[j]) can_be_first = 0;
        if (!can_be_first) break;
        if (alts++) sb_str(out, " | ");
        sb_printf(out, "%s", rules[i]);
        for (size_t j = i + 1; j < n; j++)
            sb_printf(out, required[j] ? " \",\" %s" : " (\",\" %s)?", rules[j]);
    }
    int any_required = 0;
    for (i = 0; i < n; i++) any_required |= required[i];
    if (!any_required) {
        if (alts++) sb_str(out, " | ");
        sb_str(out, "\"\"");
    }
    if (!alts) sb_str(out, "\"\"");
    sb_str(out, ") \"}\"");
    for (i = 0; i < n; i++) free(rules[i]);
    free(rules);
    free(keys);
    free(required);
    return 0;
fail:
    for (i = 0; i < n; i++) free(rules[i]);
    free(rules);
    free(keys);
    free(required);
    return -1;
}

static int gen_array(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    static const char *const ok[] = {"type", "items", "minItems", "maxItems", NULL};
    if (check_keywords(g, s, ptr, ok) < 0) return -1;
    long long mn = reel_json_int(s, "minItems", 0), mx = reel_json_int(s, "maxItems", -1);
    if (mn < 0 || mn > 1000 || mx > 1000 || (mx >= 0 && mx < mn))
        return fail_at(g, ptr, "minItems/maxItems must satisfy 0 <= minItems <= maxItems <= 1000");
    const json_t *items = json_object_get(s, "items");
    char *item;
    if (items) {
        char *sub = reel_xasprintf("%s/items", ptr);
        int rc = gen_def_rule(g, items, sub, "item", &item);
        free(sub);
        if (rc < 0) return -1;
    } else {
        item = reel_xstrdup("value");
    }
    if (mx == 0) {
        sb_str(out, "\"[\" \"]\"");
    } else if (mn == 0) {
        sb_printf(out, "\"[\" (%s", item);
        if (mx < 0)
            sb_printf(out, " (\",\" %s)*", item);
        else if (mx > 1)
            sb_printf(out, " (\",\" %s){0,%lld}", item, mx - 1);
        sb_str(out, ")? \"]\"");
    } else {
        sb_printf(out, "\"[\" %s", item);
        if (mx < 0)
            sb_printf(out, " (\",\" %s){%lld,}", item, mn - 1);
        else if (mx > 1)
            sb_printf(out, " (\",\" %s){%lld,%lld}", item, mn - 1, mx - 1);
        sb_str(out, " \"]\"");
    }
    free(item);
    return 0;
}

static int gen_string(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    static const char *const ok[] = {"type", "minLength", "maxLength", "enum", "const", NULL};
    if (check_keywords(g, s, ptr, ok) < 0) return -1;
    long long mn = reel_json_int(s, "minLength", 0), mx = reel_json_int(s, "maxLength", -1);
    if (mn < 0 || mn > 10000 || mx > 10000 || (mx >= 0 && mx < mn))
        return fail_at(g, ptr, "minLength/maxLength must satisfy 0 <= min <= max <= 10000");
    if (mn == 0 && mx < 0)
        sb_str(out, "string");
    else if (mx < 0)
        sb_printf(out, "\"\\\"\" char{%lld,} \"\\\"\"", mn);
    else
        sb_printf(out, "\"\\\"\" char{%lld,%lld} \"\\\"\"", mn, mx);
    return 0;
}

static int gen_enum(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    const json_t *e = json_object_get(s, "enum"), *c = json_object_get(s, "const");
    if (c) {
        sb_json_literal(out, c);
        return 0;
    }
    if (!json_is_array(e) || json_array_size(e) == 0)
        return fail_at(g, ptr, "'enum' must be a non-empty array");
    sb_str(out, "(");
    for (size_t i = 0; i < json_array_size(e); i++) {
        if (i) sb_str(out, " | ");
        sb_json_literal(out, json_array_get(e, i));
    }
    sb_str(out, ")");
    return 0;
}

static int gen_type_body(gen *g, const json_t *s, const char *type, const char *ptr, sbuf *out);

/* Every type matches at least one byte before anything nested, so refs open at the head are
 * guarded again inside it. */
static int gen_type(gen *g, const json_t *s, const char *type, const char *ptr, sbuf *out)
{
    json_t *outer = g->open_at_head;
    g->open_at_head = json_object();
    int rc = gen_type_body(g, s, type, ptr, out);
    json_decref(g->open_at_head);
    g->open_at_head = outer;
    return rc;
}

static int gen_type_body(gen *g, const json_t *s, const char *type, const char *ptr, sbuf *out)
{
    if (strcmp(type, "object") == 0) return gen_object(g, s, ptr, out);
    if (strcmp(type, "array") == 0) return gen_array(g, s, ptr, out);
    if (strcmp(type, "string") == 0) return gen_string(g, s, ptr, out);
    if (strcmp(type, "boolean") == 0) {
        static const char *const ok[] = {"type", NULL};
        if (check_keywords(g, s, ptr, ok) < 0) return -1;
        sb_str(out, "boolean");
        return 0;
    }
    if (strcmp(type, "null") == 0) {
        sb_str(out, "\"null\"");
        return 0;
    }
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0) {
        static const char *const ok[] = {"type", "minimum", "maximum", NULL};
        if (check_keywords(g, s, ptr, ok) < 0) return -1;
        int integer = type[0] == 'i';
        int bounded = json_object_get(s, "minimum") || json_object_get(s, "maximum");
        if (!bounded) {
            sb_add(out, integer ? "integer" : "number", integer ? 7 : 6);
            return 0;
        }
        long long lo, hi;
        if (get_bound(g, s, "minimum", ptr, integer, -INT_LIMIT, &lo) < 0 ||
            get_bound(g, s, "maximum", ptr, integer, INT_LIMIT, &hi) < 0)
            return -1;
        if (lo > hi) return fail_at(g, ptr, "minimum is greater than maximum");
        if (integer) {
            int_range(out, lo, hi);
            return 0;
        }
        /* number: a whole part in range with any fraction, or a bound itself with a zero
         * fraction. -0 is 0 and always in range when lo <= 0 <= hi. */
        sb_str(out, "(");
        int alts = 0;
        long long a = lo > 0 ? lo : 0;
        if (hi - 1 >= a) {
            int_range(out, a, hi - 1);
            sb_str(out, " (\".\" [0-9]+)?");
            alts++;
        }
        if (hi >= 0) {
            if (alts++) sb_str(out, " | ");
            sb_printf(out, "\"%lld\" (\".\" \"0\"+)?", hi);
        }
        if (lo < 0) {
            long long top = -lo, bottom = hi < 0 ? -hi : 0; /* magnitudes in [bottom, top] */
            if (alts++) sb_str(out, " | ");
            sb_printf(out, "\"-\" (\"%lld\" (\".\" \"0\"+)?", top);
            if (top - 1 >= bottom) {
                sb_str(out, " | ");
                int_range(out, bottom, top - 1);
                sb_str(out, " (\".\" [0-9]+)?");
            }
            sb_str(out, ")");
        }
        sb_str(out, ")");
        return 0;
    }
    return fail_at(g, ptr, "unknown type '%s'", type);
}

static int gen_schema(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    if (g->failed) return -1;
    if (++g->depth > 64) return fail_at(g, ptr, "schema nested too deeply");
    int rc = 0;
    if (json_is_true(s)) {
        sb_str(out, "value");
        goto done;
    }
    if (!json_is_object(s)) {
        rc = fail_at(g, ptr, "a schema must be an object or true");
        goto done;
    }
    const json_t *ref = json_object_get(s, "$ref");
    const json_t *any = json_object_get(s, "anyOf");
    const json_t *type = json_object_get(s, "type");
    if (ref) {
        static const char *const ok[] = {"$ref", "$defs", "definitions", NULL};
        if ((rc = check_keywords(g, s, ptr, ok)) < 0) goto done;
        if (!json_is_string(ref)) {
            rc = fail_at(g, ptr, "'$ref' must be a string");
            goto done;
        }
        rc = gen_ref(g, json_string_value(ref), ptr, out);
        goto done;
    }
    if (json_object_get(s, "enum") || json_object_get(s, "const")) {
        static const char *const ok[] = {"type", "enum", "const", "$defs", "definitions", NULL};
        if ((rc = check_keywords(g, s, ptr, ok)) < 0) goto done;
        rc = gen_enum(g, s, ptr, out);
        goto done;
    }
    if (any) {
        static const char *const ok[] = {"anyOf", "$defs", "definitions", NULL};
        if ((rc = check_keywords(g, s, ptr, ok)) < 0) goto done;
        if (!json_is_array(any) || json_array_size(any) == 0) {
            rc = fail_at(g, ptr, "'anyOf' must be a non-empty array");
            goto done;
        }
        sb_str(out, "(");
        for (size_t i = 0; i < json_array_size(any); i++) {
            if (i) sb_str(out, " | ");
            char *sub = reel_xasprintf("%s/anyOf/%zu", ptr, i);
            rc = gen_schema(g, json_array_get(any, i), sub, out);
            free(sub);
            if (rc < 0) goto done;
        }
        sb_str(out, ")");
        goto done;
    }
    if (json_is_array(type)) {
        sb_str(out, "(");
        for (size_t i = 0; i < json_array_size(type); i++) {
            if (!json_is_string(json_array_get(type, i))) {
                rc = fail_at(g, ptr, "'type' list must hold strings");
                goto done;
            }
            if (i) sb_str(out, " | ");
            rc = gen_type(g, s, json_string_value(json_array_get(type, i)), ptr, out);
            if (rc < 0) goto done;
        }
        sb_str(out, ")");
        goto done;
    }
    if (json_is_string(type)) {
        json_t *copy = json_deep_copy(s);
        json_object_del(copy, "$defs");
        json_object_del(copy, "definitions");
        rc = gen_type(g, copy, json_string_value(type), ptr, out);
        json_decref(copy);
        goto done;
    }
    if (type) {
        rc = fail_at(g, ptr, "'type' must be a string or a list");
        goto done;
    }
    /* no type: anything, unless other keywords constrain it */
    {
        static const char *const ok[] = {"$defs", "definitions", NULL};
        if ((rc = check_keywords(g, s, ptr, ok)) < 0) goto done;
        sb_str(out, "value");
    }
done:
    g->depth--;
    return rc;
}

static const char PRIMITIVES[] =
    "value ::= object-any | array-any | string | number | boolean | \"null\"\n"
    "object-any ::= \"{\" ( string \":\" value (\",\" string \":\" value)* )? \"}\"\n"
    "array-any ::= \"[\" ( value (\",\" value)* )? \"]\"\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,14})\n"
    "number ::= integer (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,2})?\n"
    "boolean ::= \"true\" | \"false\"\n";

char *reel_json_schema_to_gbnf(const json_t *schema)
{
    gen g = {0};
    g.root = schema;
    g.refs = json_object();
    g.open_at_head = json_object();
    sbuf root = {0};
    char *text = NULL;
    if (gen_schema(&g, schema, "", &root) == 0) {
        sbuf all = {0};
        sb_printf(&all, "root ::= %s\n", root.p);
        if (g.rules.p) sb_add(&all, g.rules.p, g.rules.n);
        sb_add(&all, PRIMITIVES, sizeof PRIMITIVES - 1);
        text = all.p;
    }
    free(root.p);
    free(g.rules.p);
    json_decref(g.refs);
    json_decref(g.open_at_head);
    return text;
}

reel_grammar *reel_grammar_from_json_schema(const json_t *schema)
{
    char *text = reel_json_schema_to_gbnf(schema);
    if (!text) return NULL;
    reel_grammar *gr = reel_grammar_compile(text, "json-schema");
    free(text);
    return gr;
}

/* ======================================================================================== */
/* Validation                                                                               */
/* ======================================================================================== */

typedef struct {
    const json_t *root;
    int depth;
} vctx;

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

static int validate_typed(vctx *c, const json_t *s, const char *t, const json_t *v, const char *ptr)
{
    if (!type_matches(t, v)) return vfail(ptr, "expected %s", t);
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *req = json_object_get(s, "required");
        const json_t *addl = json_object_get(s, "additionalProperties");
        for (size_t i = 0; json_is_array(req) && i < json_array_size(req); i++) {
            const char *k = json_string_value(json_array_get(req, i));
            if (k && !json_object_get(v, k)) return vfail(ptr, "missing required property '%s'", k);
        }
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            char *sub = reel_xasprintf("%s/%s", ptr, k);
            const json_t *ps = props ? json_object_get(props, k) : NULL;
            int rc = 0;
            if (ps)
                rc = validate(c, ps, x, sub);
            else if (!(addl && json_is_true(addl)))
                rc = vfail(sub, "property not allowed by the schema");
            free(sub);
            if (rc < 0) return rc;
        }
    } else if (json_is_array(v)) {
        long long mn = reel_json_int(s, "minItems", 0), mx = reel_json_int(s, "maxItems", -1);
        long long n = (long long)json_array_size(v);
        if (n < mn) return vfail(ptr, "%lld items, fewer than minItems %lld", n, mn);
        if (mx >= 0 && n > mx) return vfail(ptr, "%lld items, more than maxItems %lld", n, mx);
        const json_t *items = json_object_get(s, "items");
        for (size_t i = 0; items && i < json_array_size(v); i++) {
            char *sub = reel_xasprintf("%s/%zu", ptr, i);
            int rc = validate(c, items, json_array_get(v, i), sub);
            free(sub);
            if (rc < 0) return rc;
        }
    } else if (json_is_string(v)) {
        long long n = (long long)utf8_len(json_string_value(v), json_string_length(v));
        long long mn = reel_json_int(s, "minLength", 0), mx = reel_json_int(s, "maxLength", -1);
        if (n < mn)
            return vfail(ptr, "string of %lld characters, shorter than minLength %lld", n, mn);
        if (mx >= 0 && n > mx)
            return vfail(ptr, "string of %lld characters, longer than maxLength %lld", n, mx);
    } else if (json_is_number(v)) {
        double d = json_number_value(v);
        const json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
        if (mn && d < json_number_value(mn))
            return vfail(ptr, "%g is below minimum %g", d, json_number_value(mn));
        if (mx && d > json_number_value(mx))
            return vfail(ptr, "%g is above maximum %g", d, json_number_value(mx));
    }
    return 0;
}

static int validate(vctx *c, const json_t *s, const json_t *v, const char *ptr)
{
    if (json_is_true(s)) return 0;
    if (!json_is_object(s)) return vfail(ptr, "schema is not an object");
    if (++c->depth > 256) {
        c->depth--;
        return vfail(ptr, "nested too deeply");
    }
    int rc = 0;
    const json_t *ref = json_object_get(s, "$ref");
    const json_t *any = json_object_get(s, "anyOf");
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    const json_t *type = json_object_get(s, "type");
    if (ref) {
        const char *r = json_string_value(ref);
        const json_t *target = NULL;
        if (r && strncmp(r, "#/$defs/", 8) == 0)
            target = json_object_get(json_object_get(c->root, "$defs"), r + 8);
        else if (r && strncmp(r, "#/definitions/", 14) == 0)
            target = json_object_get(json_object_get(c->root, "definitions"), r + 14);
        rc = target ? validate(c, target, v, ptr) : vfail(ptr, "unresolvable $ref");
    } else if (cn) {
        if (!json_equal(cn, v)) rc = vfail(ptr, "value differs from 'const'");
    } else if (en) {
        rc = vfail(ptr, "value is not one of 'enum'");
        for (size_t i = 0; i < json_array_size(en); i++)
            if (json_equal(json_array_get(en, i), v)) rc = 0;
    } else if (any) {
        rc = vfail(ptr, "value matches no branch of 'anyOf'");
        for (size_t i = 0; i < json_array_size(any) && rc < 0; i++) {
            if (validate(c, json_array_get(any, i), v, ptr) == 0) rc = 0;
        }
        if (rc < 0) vfail(ptr, "value matches no branch of 'anyOf'");
    } else if (json_is_string(type)) {
        rc = validate_typed(c, s, json_string_value(type), v, ptr);
    } else if (json_is_array(type)) {
        rc = vfail(ptr, "value matches none of the listed types");
        for (size_t i = 0; i < json_array_size(type) && rc < 0; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            if (t && type_matches(t, v)) rc = validate_typed(c, s, t, v, ptr);
        }
    }
    c->depth--;
    return rc;
}

int reel_json_schema_validate(const json_t *schema, const json_t *value)
{
    vctx c = {schema, 0};
    return validate(&c, schema, value, "");
}
