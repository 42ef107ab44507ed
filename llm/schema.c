/* JSON Schema (a documented subset) to GBNF. The validator for the same subset is in
 * schema-validate.c; numbers, patterns, formats, $ref/allOf merging and helper shapes in
 * schema-number.c, schema-regex.c, schema-format.c, schema-compose.c and schema-shapes.c.
 *
 * The translation is compact (no whitespace), emits object properties in a fixed order
 * (required ones as 'required' lists them, then optional ones by name), and fails on any
 * keyword it does not implement, naming the keyword and its JSON pointer: a constraint that is
 * silently ignored would let invalid output through. Supported:
 *   any schema  type (a name or a list), enum, const (values kept when they also satisfy the
 *               schema's other keywords), anyOf, oneOf (branches must be disjoint by type, by
 *               const/enum values, or by a property both require with disjoint values, as
 *               Pydantic's discriminated unions are; then it is anyOf in the grammar), allOf
 *               and $ref with constraining siblings (merged: properties, required,
 *               dependentRequired unite, bounds tighten, types intersect, items and
 *               additionalProperties combine; parts differing otherwise are refused), not
 *               ({"not": {"type": ...}} on its own, and a string that is not one of an
 *               enum/const, written without escapes), $ref to any "#..." JSON pointer ($defs,
 *               definitions, "#" the root), true, and the annotations title, description,
 *               examples, default, $schema, $id, $comment, readOnly, writeOnly, deprecated,
 *               discriminator, $defs, definitions (accepted and ignored).
 *   integer,    minimum, maximum, exclusiveMinimum, exclusiveMaximum with any decimal value
 *   number      (exact; the numeral form is in schema-number.c), multipleOf (integers, whole
 *               divisors up to 1000).
 *   string      minLength, maxLength (code points), pattern (schema-regex.c; with lengths only
 *               where they combine exactly), format (date, time, date-time, duration, uuid,
 *               email, uri, ipv4, ipv6, hostname; schema-format.c; with lengths where the
 *               format's own lengths fit them, or a shorter uri form for maxLength >= 95; not
 *               with pattern).
 *   array       items (a schema, true or false), prefixItems, minItems, maxItems (<= 1000),
 *               uniqueItems (enforced when the items are an enum, const, boolean or bounded
 *               integer with at most 8 values, refused otherwise).
 *   object      properties, required, additionalProperties (false — the default — true or a
 *               schema; extra keys are written without escapes and differ from the listed
 *               names), patternProperties (patterns matching at most 64 names become
 *               optional properties; otherwise one pattern without properties or additional
 *               ones), minProperties, maxProperties, dependentRequired (the last three not with
 *               extra keys, except maxProperties without listed properties).
 *   boolean, null.
 * Refused with the keyword named: every other keyword (contains, propertyNames, if/then/else,
 * unevaluated*, dependentSchemas, contentEncoding, ...), $refs outside the document, and the
 * combinations above that a grammar cannot keep exactly.
 */
#include "core/core.h"
#include "llm/grammar.h"
#include "llm/schema-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const json_t *root;
    reel_strbuf rules; /* emitted rule definitions */
    int counter;
    reeli_rules rr;
    unsigned formats; /* format rule groups emitted */
    json_t *refs;     /* "$ref" -> rule name */
    /* refs being expanded with no text matched since they began: reaching one of these again
     * is left recursion, which no grammar can run (every typed schema matches a byte first) */
    json_t *open_at_head;
    int failed;
    int depth;
    int steps; /* schemas translated: inlined $refs with siblings may otherwise multiply */
} gen;

typedef reel_strbuf sbuf;
#define sb_add     reel_strbuf_add
#define sb_str     reel_strbuf_str
#define sb_printf  reel_strbuf_printf
#define sb_literal reeli_sb_literal

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
    reeli_schema_fail(ptr, "%s", msg);
    g->failed = 1;
    return -1;
}

/* A helper from another file failed (and set the error). */
static int sub_rc(gen *g, int rc)
{
    if (rc < 0) g->failed = 1;
    return rc;
}

static char *rule_name(gen *g, const char *stem)
{
    return reeli_rule_name(&g->rr, stem);
}

static const char *const ANNOTATIONS[] = {
    "title",    "description", "examples",   "default",       "$schema", "$id",         "$comment",
    "readOnly", "writeOnly",   "deprecated", "discriminator", "$defs",   "definitions", NULL};

static int in_list(const char *k, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(k, list[i]) == 0) return 1;
    return 0;
}

static const char *const KW_STRING[] = {"minLength", "maxLength", "pattern", "format", NULL};
static const char *const KW_NUMBER[] = {"minimum",          "maximum",    "exclusiveMinimum",
                                        "exclusiveMaximum", "multipleOf", NULL};
static const char *const KW_ARRAY[] = {"items",    "prefixItems", "minItems",
                                       "maxItems", "uniqueItems", NULL};
static const char *const KW_OBJECT[] = {
    "properties",    "required",          "additionalProperties", "minProperties",
    "maxProperties", "patternProperties", "dependentRequired",    NULL};

static const char *const *type_keywords(const char *t)
{
    static const char *const none[] = {NULL};
    if (strcmp(t, "string") == 0) return KW_STRING;
    if (strcmp(t, "number") == 0 || strcmp(t, "integer") == 0) return KW_NUMBER;
    if (strcmp(t, "array") == 0) return KW_ARRAY;
    if (strcmp(t, "object") == 0) return KW_OBJECT;
    return none;
}

/* Fails on keywords that are neither annotations, nor in `allowed`, nor keywords of one of the
 * types listed in `type` (a string or a list; NULL: none). */
static int check_keywords(gen *g, const json_t *s, const char *ptr, const char *const *allowed,
                          const json_t *type)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (in_list(k, ANNOTATIONS) || in_list(k, allowed)) continue;
        int ok = 0;
        if (json_is_string(type)) ok = in_list(k, type_keywords(json_string_value(type)));
        for (size_t i = 0; json_is_array(type) && i < json_array_size(type) && !ok; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            if (t) ok = in_list(k, type_keywords(t));
        }
        if (!ok) return fail_at(g, ptr, "keyword '%s' is not supported here", k);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- schema to rule ---- */

static int gen_schema(gen *g, const json_t *s, const char *ptr, sbuf *out);

/* Defines a rule for s; *name is the rule (caller frees). */
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
        sb_str(out, json_string_value(memo));
        return 0;
    }
    if (ref[0] != '#')
        return fail_at(g, ptr, "$ref '%s' is not supported (only '#...' inside the schema)", ref);
    const json_t *target = reeli_schema_resolve(g->root, ref);
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
    sb_str(out, rule);
    free(rule);
    return 0;
}

/* ---- objects ---- */

static int gen_object(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const json_t *pprops = json_object_get(s, "patternProperties");
    const json_t *deps = json_object_get(s, "dependentRequired");
    long long minp = reel_json_int(s, "minProperties", 0),
              maxp = reel_json_int(s, "maxProperties", -1);
    if (json_is_array(props) && json_array_size(props) == 0) props = NULL; /* {} from Lua */
    if (json_is_array(req) && json_array_size(req) == 0) req = NULL;
    if (props && !json_is_object(props)) return fail_at(g, ptr, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail_at(g, ptr, "'required' must be an array");
    if (pprops && !json_is_object(pprops))
        return fail_at(g, ptr, "'patternProperties' must be an object");
    if (deps && !json_is_object(deps))
        return fail_at(g, ptr, "'dependentRequired' must be an object");
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return fail_at(g, ptr, "'additionalProperties' must be a boolean or a schema");
    if (minp < 0 || (maxp >= 0 && maxp < minp))
        return fail_at(g, ptr, "minProperties/maxProperties must satisfy 0 <= min <= max");
    if (pprops && json_object_size(pprops) == 0) pprops = NULL;
    if (deps && json_object_size(deps) == 0) deps = NULL;
    /* patterns that match finitely many names: those names become optional properties (with
     * the listed schema too where a name is listed, as the validator applies both) */
    json_t *eff = pprops ? (props ? json_copy((json_t *)props) : json_object()) : NULL;
    const char *pk;
    json_t *pv;
    json_object_foreach((json_t *)pprops, pk, pv)
    {
        json_t *names = NULL;
        char *sub = reel_xasprintf("%s/patternProperties/%s", ptr, pk);
        int f = reeli_regex_finite(pk, 64, sub, &names);
        free(sub);
        if (f < 0) {
            json_decref(eff);
            return sub_rc(g, -1);
        }
        for (size_t j = 0; j < json_array_size(names); j++) {
            const char *name = json_string_value(json_array_get(names, j));
            json_t *old = json_object_get(eff, name);
            json_object_set_new(eff, name,
                                old ? json_pack("{s:[O,O]}", "allOf", old, pv) : json_incref(pv));
        }
        json_decref(names);
        if (!f) {
            json_decref(eff);
            eff = NULL;
            break;
        }
    }
    if (eff) {
        props = eff;
        pprops = NULL;
    }
    size_t n = props ? json_object_size(props) : 0;
    const char **keys = reel_xcalloc(n + 1, sizeof *keys);
    char **rules = reel_xcalloc(n + 1, sizeof *rules);
    int *required = reel_xcalloc(n + 1, sizeof *required);
    unsigned *tdeps = reel_xcalloc(n + 1, sizeof *tdeps);
    char *extra = NULL;
    int rc = -1;
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
            goto done;
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
        json_t *key = json_string(keys[i]);
        char *kt = json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT);
        json_decref(key);
        sb_literal(&body, kt, strlen(kt));
        free(kt);
        sb_str(&body, " \":\" ");
        int src = gen_schema(g, json_object_get(props, keys[i]), sub, &body);
        free(sub);
        if (src < 0) {
            free(body.p);
            goto done;
        }
        rules[i] = rule_name(g, "kv");
        sb_printf(&g->rules, "%s ::= %s\n", rules[i], body.p);
        free(body.p);
    }
    /* keys beyond the listed ones */
    if (pprops) {
        if (n || (addl && !json_is_false(addl)) || json_object_size(pprops) != 1) {
            fail_at(g, ptr,
                    "'patternProperties' is supported when each pattern matches at most 64 "
                    "names, or as one pattern without 'properties' or additional properties");
            goto done;
        }
        const char *pat = json_object_iter_key(json_object_iter((json_t *)pprops));
        char *sub = reel_xasprintf("%s/patternProperties/%s", ptr, pat);
        sbuf x = {0};
        sb_str(&x, "\"\\\"\" ");
        char *val = NULL;
        int prc = sub_rc(g, reeli_regex_gbnf(pat, 0, -1, sub, &x));
        if (prc == 0) prc = gen_def_rule(g, json_object_get(pprops, pat), sub, "pval", &val);
        if (prc == 0) sb_printf(&x, " \"\\\"\" \":\" %s", val);
        free(val);
        free(sub);
        if (prc < 0) {
            free(x.p);
            goto done;
        }
        extra = x.p;
    } else if (addl && !json_is_false(addl)) {
        sbuf x = {0};
        sb_str(&x, "\"\\\"\" ");
        reeli_key_except(&g->rr, keys, n, 0, &x);
        sb_str(&x, " \"\\\"\" \":\" ");
        if (json_is_true(addl)) {
            sb_str(&x, "value");
        } else {
            char *sub = reel_xasprintf("%s/additionalProperties", ptr);
            char *val = NULL;
            int arc = gen_def_rule(g, addl, sub, "aval", &val);
            free(sub);
            if (arc < 0) {
                free(x.p);
                goto done;
            }
            sb_str(&x, val);
            free(val);
        }
        extra = x.p;
    }
    if (extra && (minp > 0 || deps || (n && maxp >= 0))) {
        fail_at(g, ptr,
                "minProperties, dependentRequired, or maxProperties with 'properties', "
                "are not supported together with additional or pattern properties");
        goto done;
    }
    int any_required = n_req > 0;
    if (extra && n == 0) {
        if (maxp == 0)
            sb_str(out, "\"{\" \"}\"");
        else if (maxp < 0)
            sb_printf(out, "\"{\" (%s (\",\" %s)*)? \"}\"", extra, extra);
        else
            sb_printf(out, "\"{\" (%s (\",\" %s){0,%lld})? \"}\"", extra, extra, maxp - 1);
    } else if (extra) {
        sb_str(out, "\"{\" ((");
        reeli_listed_seq(rules, required, n, out);
        sb_printf(out, ") (\",\" %s)*", extra);
        if (!any_required) sb_printf(out, " | %s (\",\" %s)* | \"\"", extra, extra);
        sb_str(out, ") \"}\"");
    } else if (minp > 0 || maxp >= 0 || deps) {
        const char *dk;
        json_t *dv;
        json_object_foreach((json_t *)deps, dk, dv)
        {
            size_t t;
            for (t = 0; t < n && strcmp(keys[t], dk) != 0; t++) {
            }
            if (!json_is_array(dv)) {
                fail_at(g, ptr, "'dependentRequired' values must be arrays of names");
                goto done;
            }
            if (t == n) continue; /* a trigger that cannot be present */
            if (t >= 32) {
                fail_at(g, ptr, "'dependentRequired' on a property past the 32nd");
                goto done;
            }
            for (size_t j = 0; j < json_array_size(dv); j++) {
                const char *name = json_string_value(json_array_get(dv, j));
                size_t u;
                for (u = 0; name && u < n && strcmp(keys[u], name) != 0; u++) {
                }
                tdeps[t] |= u < n && u < 32 ? 1u << u : ~0u;
            }
        }
        reeli_objdp d = {rules, required, n, minp, maxp, tdeps, json_object(), 0};
        char *start = reeli_obj_state(&g->rr, &d, 0, 0, 0);
        json_decref(d.memo);
        if (!start) {
            fail_at(g, ptr,
                    d.n_rules > REELI_MAX_OBJECT_RULES
                        ? "minProperties/maxProperties/dependentRequired need too many rules"
                        : "no object satisfies minProperties/maxProperties/"
                          "dependentRequired");
            goto done;
        }
        sb_printf(out, "\"{\" %s \"}\"", start);
        free(start);
    } else if (n == 0) {
        sb_str(out, "\"{\" \"}\"");
    } else {
        sb_str(out, "\"{\" (");
        reeli_listed_seq(rules, required, n, out);
        if (!any_required) sb_str(out, " | \"\"");
        sb_str(out, ") \"}\"");
    }
    rc = 0;
done:
    for (i = 0; i < n; i++) free(rules[i]);
    free(rules);
    free(keys);
    free(required);
    free(tdeps);
    free(extra);
    json_decref(eff);
    return rc;
}

static int gen_array(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    long long mn = reel_json_int(s, "minItems", 0), mx = reel_json_int(s, "maxItems", -1);
    if (mn < 0 || mn > 1000 || mx > 1000 || (mx >= 0 && mx < mn))
        return fail_at(g, ptr, "minItems/maxItems must satisfy 0 <= minItems <= maxItems <= 1000");
    const json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    const json_t *uniq = json_object_get(s, "uniqueItems");
    if (uniq && !json_is_boolean(uniq)) return fail_at(g, ptr, "'uniqueItems' must be a boolean");
    if (prefix && !json_is_array(prefix)) return fail_at(g, ptr, "'prefixItems' must be an array");
    size_t np = prefix ? json_array_size(prefix) : 0;
    if (json_is_true(uniq)) {
        if (np) return fail_at(g, ptr, "'uniqueItems' with 'prefixItems' is not supported");
        return sub_rc(g, reeli_unique_array(&g->rr, g->root, items, ptr, mn, mx, out));
    }
    if (json_is_false(items) && (mx < 0 || (size_t)mx > np)) mx = (long long)np;
    if (mx >= 0 && mn > mx)
        return fail_at(g, ptr, "minItems is more than 'prefixItems' and 'items': false allow");
    char **pr = reel_xcalloc(np + 1, sizeof *pr);
    char *item = NULL;
    int rc = 0;
    for (size_t i = 0; i < np && rc == 0; i++) {
        char *sub = reel_xasprintf("%s/prefixItems/%zu", ptr, i);
        rc = gen_def_rule(g, json_array_get(prefix, i), sub, "item", &pr[i]);
        free(sub);
    }
    if (rc == 0 && !json_is_false(items)) {
        if (items && !json_is_true(items)) {
            char *sub = reel_xasprintf("%s/items", ptr);
            rc = gen_def_rule(g, items, sub, "item", &item);
            free(sub);
        } else {
            item = reel_xstrdup("value");
        }
    }
    if (rc == 0) {
        /* element i of the array: pr[i] for i < np, then item; i elements already present */
        sb_str(out, "\"[\" ");
        int open = 0;
        for (size_t i = 0; i < np && (mx < 0 || (long long)i < mx); i++) {
            int optional = (long long)i >= mn;
            sb_str(out, optional ? "(" : "");
            sb_printf(out, "%s%s ", i ? "\",\" " : "", pr[i]);
            open += optional;
        }
        size_t placed = mx >= 0 && (size_t)mx < np ? (size_t)mx : np;
        if (item && (mx < 0 || (long long)placed < mx)) {
            long long rmn = mn > (long long)placed ? mn - (long long)placed : 0;
            long long rmx = mx < 0 ? -1 : mx - (long long)placed;
            if (placed == 0) {
                /* first element has no comma */
                if (rmn == 0) sb_str(out, "(");
                sb_printf(out, "%s", item);
                long long a = rmn > 0 ? rmn - 1 : 0, b = rmx < 0 ? -1 : rmx - 1;
                if (b < 0)
                    sb_printf(out, " (\",\" %s){%lld,}", item, a);
                else if (b > 0)
                    sb_printf(out, " (\",\" %s){%lld,%lld}", item, a, b);
                if (rmn == 0) sb_str(out, ")?");
            } else if (rmx < 0) {
                sb_printf(out, "(\",\" %s){%lld,}", item, rmn);
            } else {
                sb_printf(out, "(\",\" %s){%lld,%lld}", item, rmn, rmx);
            }
        }
        for (int i = 0; i < open; i++) sb_str(out, ")?");
        sb_str(out, " \"]\"");
    }
    for (size_t i = 0; i < np; i++) free(pr[i]);
    free(pr);
    free(item);
    return rc;
}

static int gen_string(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    long long mn = reel_json_int(s, "minLength", 0), mx = reel_json_int(s, "maxLength", -1);
    if (mn < 0 || mn > 10000 || mx > 10000 || (mx >= 0 && mx < mn))
        return fail_at(g, ptr, "minLength/maxLength must satisfy 0 <= min <= max <= 10000");
    const json_t *pat = json_object_get(s, "pattern"), *fmt = json_object_get(s, "format");
    if (pat && !json_is_string(pat)) return fail_at(g, ptr, "'pattern' must be a string");
    if (fmt && !json_is_string(fmt)) return fail_at(g, ptr, "'format' must be a string");
    if (fmt && pat) return fail_at(g, ptr, "'format' together with 'pattern' is not supported");
    if (pat) {
        sb_str(out, "\"\\\"\" ");
        if (sub_rc(g, reeli_regex_gbnf(json_string_value(pat), mn, mx, ptr, out)) < 0) return -1;
        sb_str(out, " \"\\\"\"");
    } else if (fmt) {
        sb_str(out, "\"\\\"\" ");
        if (sub_rc(g, reeli_format_gbnf(json_string_value(fmt), mn, mx, ptr, out, &g->rules,
                                        &g->formats)) < 0)
            return -1;
        sb_str(out, " \"\\\"\"");
    } else if (mn == 0 && mx < 0) {
        sb_str(out, "string");
    } else if (mx < 0) {
        sb_printf(out, "\"\\\"\" char{%lld,} \"\\\"\"", mn);
    } else {
        sb_printf(out, "\"\\\"\" char{%lld,%lld} \"\\\"\"", mn, mx);
    }
    return 0;
}

/* enum/const: the listed values that also satisfy the schema's other keywords. */
static int gen_enum(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    const json_t *e = json_object_get(s, "enum"), *c = json_object_get(s, "const");
    if (e && (!json_is_array(e) || json_array_size(e) == 0))
        return fail_at(g, ptr, "'enum' must be a non-empty array");
    json_t *rest = json_deep_copy(s);
    json_object_del(rest, "enum");
    json_object_del(rest, "const");
    json_t *vals = c ? json_pack("[O]", c) : json_incref((json_t *)e);
    int n = 0;
    sb_str(out, "(");
    for (size_t i = 0; i < json_array_size(vals); i++) {
        const json_t *x = json_array_get(vals, i);
        if (c && e) {
            int in = 0;
            for (size_t j = 0; j < json_array_size(e); j++)
                in |= json_equal(json_array_get(e, j), x);
            if (!in) continue;
        }
        if (reeli_schema_validate_at(g->root, rest, x) != 0) continue;
        if (n++) sb_str(out, " | ");
        reeli_sb_json_literal(out, x);
    }
    sb_str(out, ")");
    json_decref(vals);
    json_decref(rest);
    reel_clear_error();
    if (!n) return fail_at(g, ptr, "no value of 'enum'/'const' satisfies the other keywords");
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
        sb_str(out, "boolean");
        return 0;
    }
    if (strcmp(type, "null") == 0) {
        sb_str(out, "\"null\"");
        return 0;
    }
    if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
        return sub_rc(g, reeli_schema_number_gbnf(&g->rr, s, type[0] == 'i', ptr, out));
    return fail_at(g, ptr, "unknown type '%s'", type);
}

static int gen_branches(gen *g, const json_t *s, const char *key, const char *ptr, sbuf *out)
{
    static const char *const ok[] = {"anyOf", "oneOf", NULL};
    const json_t *list = json_object_get(s, key);
    if (check_keywords(g, s, ptr, ok, NULL) < 0) return -1;
    if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf"))
        return fail_at(g, ptr, "'anyOf' together with 'oneOf' is not supported");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail_at(g, ptr, "'%s' must be a non-empty array", key);
    size_t n = json_array_size(list);
    if (key[0] == 'o')
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (!reeli_schema_disjoint(g->root, json_array_get(list, i),
                                           json_array_get(list, j)))
                    return fail_at(g, ptr,
                                   "'oneOf' branches %zu and %zu may both match a value; the "
                                   "grammar needs branches that differ by type, by "
                                   "const/enum values, or by a required property with "
                                   "different const values (or use anyOf)",
                                   i, j);
    sb_str(out, "(");
    for (size_t i = 0; i < n; i++) {
        if (i) sb_str(out, " | ");
        char *sub = reel_xasprintf("%s/%s/%zu", ptr, key, i);
        int rc = gen_schema(g, json_array_get(list, i), sub, out);
        free(sub);
        if (rc < 0) return -1;
    }
    sb_str(out, ")");
    return 0;
}

/* {"not": {"type": ...}}: the other types; {"type": "string", "not": {"enum": [...]}}: a string
 * other than those (written without escapes). */
static int gen_not(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    static const char *const ok[] = {"not", NULL};
    static const char *const ok_inner[] = {"type", NULL};
    static const char *const TYPES[] = {"object", "array", "string", "number", "boolean", "null"};
    static const char *const RULES[] = {"object-any", "array-any", "string",
                                        "number",     "boolean",   "\"null\""};
    const json_t *n = json_object_get(s, "not");
    const json_t *nv =
        json_object_get(n, "enum") ? json_object_get(n, "enum") : json_object_get(n, "const");
    if (nv && json_is_string(json_object_get(s, "type")) &&
        strcmp(json_string_value(json_object_get(s, "type")), "string") == 0) {
        /* a string other than the listed ones: a complement of their trie */
        static const char *const ok_s[] = {"not", "type", NULL};
        static const char *const ok_n[] = {"enum", "const", NULL};
        json_t *list = json_is_array(nv) ? json_incref((json_t *)nv) : json_pack("[O]", nv);
        size_t k = json_array_size(list), strs = 0;
        const char **names = reel_xcalloc(k + 1, sizeof *names);
        for (size_t i = 0; i < k; i++)
            if (json_is_string(json_array_get(list, i)))
                names[strs++] = json_string_value(json_array_get(list, i));
        int rc =
            check_keywords(g, s, ptr, ok_s, NULL) < 0 || check_keywords(g, n, ptr, ok_n, NULL) < 0
                ? -1
                : 0;
        if (rc == 0) {
            sb_str(out, "(\"\\\"\" ");
            reeli_key_except(&g->rr, names, strs, 0, out);
            sb_str(out, " \"\\\"\")");
        }
        free(names);
        json_decref(list);
        return rc;
    }
    if (!json_is_object(n) || check_keywords(g, s, ptr, ok, NULL) < 0 ||
        check_keywords(g, n, ptr, ok_inner, NULL) < 0 || !json_object_get(n, "type")) {
        g->failed = 0;
        return fail_at(g, ptr,
                       "'not' is supported as {\"not\": {\"type\": ...}} on its own, or as "
                       "{\"type\": \"string\", \"not\": {\"enum\"/\"const\": ...}} only");
    }
    const json_t *t = json_object_get(n, "type");
    int alts = 0;
    sb_str(out, "(");
    for (int i = 0; i < 6; i++) {
        int excluded = 0, int_excluded = 0;
        for (size_t j = 0; j < (json_is_array(t) ? json_array_size(t) : 1); j++) {
            const char *x = json_string_value(json_is_array(t) ? json_array_get(t, j) : t);
            if (!x) return fail_at(g, ptr, "'type' must be a string or a list of strings");
            if (strcmp(x, TYPES[i]) == 0) excluded = 1;
            if (strcmp(x, "integer") == 0 && i == 3) int_excluded = 1;
        }
        if (excluded) continue;
        if (alts++) sb_str(out, " | ");
        /* numbers but not integers: a fraction that is not all zeros */
        sb_str(out,
               int_excluded ? "(\"-\"? (\"0\" | [1-9] [0-9]{0,14}) \".\" [0-9]* [1-9])" : RULES[i]);
    }
    sb_str(out, ")");
    if (!alts) return fail_at(g, ptr, "'not' excludes every type");
    return 0;
}

static int has_constraints(const json_t *s, const char *skip)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v)
    {
        if (strcmp(k, skip) != 0 && !in_list(k, ANNOTATIONS)) return 1;
    }
    return 0;
}

static int gen_schema_body(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    if (json_is_true(s)) {
        sb_str(out, "value");
        return 0;
    }
    if (json_is_false(s)) return fail_at(g, ptr, "schema false admits no value");
    if (!json_is_object(s)) return fail_at(g, ptr, "a schema must be an object or true");
    const json_t *ref = json_object_get(s, "$ref");
    const json_t *type = json_object_get(s, "type");
    if (json_object_get(s, "allOf") || (ref && has_constraints(s, "$ref"))) {
        json_t *m = reeli_schema_merge(g->root, s, ptr);
        if (!m) return sub_rc(g, -1);
        int rc = gen_schema(g, m, ptr, out);
        json_decref(m);
        return rc;
    }
    if (ref) {
        if (!json_is_string(ref)) return fail_at(g, ptr, "'$ref' must be a string");
        return gen_ref(g, json_string_value(ref), ptr, out);
    }
    if (json_object_get(s, "enum") || json_object_get(s, "const")) {
        static const char *const ok[] = {"type", "enum", "const", NULL};
        if (check_keywords(g, s, ptr, ok, type) < 0) return -1;
        return gen_enum(g, s, ptr, out);
    }
    if (json_object_get(s, "anyOf")) return gen_branches(g, s, "anyOf", ptr, out);
    if (json_object_get(s, "oneOf")) return gen_branches(g, s, "oneOf", ptr, out);
    if (json_object_get(s, "not")) return gen_not(g, s, ptr, out);
    static const char *const ok[] = {"type", NULL};
    if (json_is_array(type)) {
        if (check_keywords(g, s, ptr, ok, type) < 0) return -1;
        sb_str(out, "(");
        for (size_t i = 0; i < json_array_size(type); i++) {
            if (!json_is_string(json_array_get(type, i)))
                return fail_at(g, ptr, "'type' list must hold strings");
            if (i) sb_str(out, " | ");
            if (gen_type(g, s, json_string_value(json_array_get(type, i)), ptr, out) < 0) return -1;
        }
        sb_str(out, ")");
        return 0;
    }
    if (json_is_string(type)) {
        if (check_keywords(g, s, ptr, ok, type) < 0) return -1;
        return gen_type(g, s, json_string_value(type), ptr, out);
    }
    if (type) return fail_at(g, ptr, "'type' must be a string or a list");
    /* no type: anything, unless other keywords constrain it */
    if (check_keywords(g, s, ptr, ok, NULL) < 0) return -1;
    sb_str(out, "value");
    return 0;
}

static int gen_schema(gen *g, const json_t *s, const char *ptr, sbuf *out)
{
    if (g->failed) return -1;
    if (++g->steps > 50000 || g->rules.n > (64u << 20)) return fail_at(g, ptr, "schema too large");
    if (++g->depth > 64) {
        g->depth--;
        return fail_at(g, ptr, "schema nested too deeply");
    }
    int rc = gen_schema_body(g, s, ptr, out);
    g->depth--;
    return rc;
}

static const char PRIMITIVES[] =
    "value ::= object-any | array-any | string | number | boolean | \"null\"\n"
    "object-any ::= \"{\" ( string \":\" value (\",\" string \":\" value)* )? \"}\"\n"
    "array-any ::= \"[\" ( value (\",\" value)* )? \"]\"\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n" REELI_GBNF_CHAR_RULES
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,14})\n"
    "number ::= integer (\".\" [0-9]+)? ([eE] [-+]? [0-9]{1,2})?\n"
    "boolean ::= \"true\" | \"false\"\n";

char *reel_json_schema_to_gbnf(const json_t *schema)
{
    gen g = {0};
    g.root = schema;
    g.rr = (reeli_rules){&g.rules, &g.counter};
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
