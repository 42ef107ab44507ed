/* Object and array shapes for the JSON Schema translator that need helper rules of their own:
 * keys other than the listed ones, counted and dependent properties, unique items (the set of
 * values used so far is the state). */
#include "llm/schema-impl.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef reel_strbuf sbuf;
#define sb_add     reel_strbuf_add
#define sb_str     reel_strbuf_str
#define sb_printf  reel_strbuf_printf
#define sb_literal reeli_sb_literal

/* A key (with its quotes) written without escapes that is none of names[0..n-1]: a trie of the
 * names where leaving the trie (or ending off a name) is allowed. */
void reeli_key_except(reeli_rules *g, const char *const *names, size_t n, size_t depth, sbuf *out)
{
    int ends = 0;
    sbuf others = {0}, alts = {0};
    int n_alts = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        if (strlen(nm) == depth) {
            ends = 1;
            continue;
        }
        /* first name with this next byte sequence (one UTF-8 character) handles the group */
        const unsigned char *c = (const unsigned char *)nm + depth;
        size_t cl = *c < 0x80 ? 1 : (*c >> 5) == 6 ? 2 : (*c >> 4) == 14 ? 3 : 4;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strlen(names[j]) >= depth + cl && memcmp(names[j] + depth, c, cl) == 0;
        if (seen) continue;
        if (*c < 0x20 || *c == '"' || *c == '\\') continue; /* never written raw */
        const char **sub = reel_xcalloc(n, sizeof *sub);
        size_t ns = 0;
        for (size_t j = 0; j < n; j++)
            if (strlen(names[j]) >= depth + cl && memcmp(names[j] + depth, c, cl) == 0)
                sub[ns++] = names[j];
        if (n_alts++) sb_str(&alts, " | ");
        sb_literal(&alts, (const char *)c, cl);
        sb_str(&alts, " ");
        reeli_key_except(g, sub, ns, depth + cl, &alts);
        free(sub);
        /* the character as a class escape */
        uint32_t cp = cl == 1 ? c[0] : c[0] & (0x7Fu >> cl);
        for (size_t k = 1; k < cl; k++) cp = cp << 6 | (c[k] & 0x3Fu);
        sb_printf(&others, "\\U%08X", (unsigned)cp);
    }
    char *rule = reeli_rule_name(g, "key");
    sb_printf(g->rules, "%s ::= %s", rule, ends ? "" : "\"\" | ");
    if (n_alts) sb_printf(g->rules, "%s | ", alts.p);
    /* any other character, then anything */
    sb_str(g->rules, "[^\"\\\\\\x00-\\x1f");
    if (others.p) sb_add(g->rules, others.p, others.n);
    sb_str(g->rules, "] [^\"\\\\\\x00-\\x1f]*\n");
    sb_str(out, rule);
    free(rule);
    free(others.p);
    free(alts.p);
}

/* Alternatives for the non-empty sequences of listed properties (each rules[i] a "key":value
 * rule): required ones mandatory, optional ones optional, in order. */
void reeli_listed_seq(char **rules, const int *required, size_t n, sbuf *out)
{
    int alts = 0;
    for (size_t i = 0; i < n; i++) {
        if (alts++) sb_str(out, " | ");
        sb_str(out, rules[i]);
        for (size_t j = i + 1; j < n; j++)
            sb_printf(out, required[j] ? " \",\" %s" : " (\",\" %s)?", rules[j]);
        if (required[i]) break; /* later properties cannot come first */
    }
}

/* What may follow once properties < i were decided, c present, `mask` of them; NULL: nothing. */
char *reeli_obj_state(reeli_rules *g, reeli_objdp *d, size_t i, long long c, unsigned mask)
{
    char key[64];
    snprintf(key, sizeof key, "%zu,%lld,%u", i, c, mask);
    json_t *m = json_object_get(d->memo, key);
    if (m) return json_is_string(m) ? reel_xstrdup(json_string_value(m)) : NULL;
    char *res = NULL;
    if (i == d->n) {
        int ok = c >= d->minp && (d->maxp < 0 || c <= d->maxp);
        for (size_t t = 0; t < d->n && ok; t++)
            if ((mask >> t & 1) && (d->trigger_deps[t] & mask) != d->trigger_deps[t]) ok = 0;
        res = ok ? reel_xstrdup("\"\"") : NULL;
    } else if (d->n_rules <= REELI_MAX_OBJECT_RULES) {
        sbuf body = {0};
        int alts = 0;
        if (d->maxp < 0 || c + 1 <= d->maxp) {
            char *sub = reeli_obj_state(g, d, i + 1, c + 1, mask | (i < 32 ? 1u << i : 0));
            if (sub) {
                sb_printf(&body, "%s%s %s", c ? "\",\" " : "", d->rules[i], sub);
                alts++;
            }
            free(sub);
        }
        if (!d->required[i]) {
            char *sub = reeli_obj_state(g, d, i + 1, c, mask);
            if (sub) sb_printf(&body, "%s%s", alts++ ? " | " : "", sub);
            free(sub);
        }
        if (alts) {
            res = reeli_rule_name(g, "obj");
            sb_printf(g->rules, "%s ::= %s\n", res, body.p);
            d->n_rules++;
        }
        free(body.p);
    }
    json_object_set_new(d->memo, key, res ? json_string(res) : json_null());
    return res;
}

static char *unique_state(reeli_rules *g, const json_t *vals, unsigned used, long long mn,
                          long long mx, char **memo)
{
    if (memo[used]) return memo[used];
    int count = __builtin_popcount(used);
    sbuf body = {0};
    int alts = 0;
    if (count >= mn) {
        sb_str(&body, "\"\"");
        alts++;
    }
    for (size_t i = 0; i < json_array_size(vals) && count < mx; i++) {
        if (used >> i & 1) continue;
        if (alts++) sb_str(&body, " | ");
        sb_str(&body, "\",\" ");
        reeli_sb_json_literal(&body, json_array_get(vals, i));
        sb_printf(&body, " %s", unique_state(g, vals, used | 1u << i, mn, mx, memo));
    }
    memo[used] = reeli_rule_name(g, "uniq");
    sb_printf(g->rules, "%s ::= %s\n", memo[used], body.p);
    free(body.p);
    return memo[used];
}

int reeli_unique_array(reeli_rules *g, const json_t *root, const json_t *items, const char *ptr,
                       long long mn, long long mx, sbuf *out)
{
    static const char *const MSG = "'uniqueItems' is enforced only for items that are an enum, a "
                                   "const, a boolean or a bounded integer, of at most 8 values";
    if (!json_is_object(items)) return reeli_schema_fail(ptr, "%s", MSG);
    json_t *m = reeli_schema_merge(root, items, ptr);
    if (!m) return -1;
    json_t *vals = json_array(), *rest = json_deep_copy(m);
    const json_t *e = json_object_get(m, "enum"), *c = json_object_get(m, "const");
    const char *t = json_string_value(json_object_get(m, "type"));
    json_object_del(rest, "enum");
    json_object_del(rest, "const");
    json_t *cand = c                                ? json_pack("[O]", c)
                   : e                              ? json_incref((json_t *)e)
                   : t && strcmp(t, "boolean") == 0 ? json_pack("[bb]", 1, 0)
                   : t && strcmp(t, "null") == 0    ? json_pack("[n]")
                                                    : NULL;
    if (!cand && t && strcmp(t, "integer") == 0) {
        /* integers of a short range: each one, those the bounds allow kept below */
        double lo = json_number_value(json_object_get(m, "minimum"));
        double hi = json_number_value(json_object_get(m, "maximum"));
        const json_t *xl = json_object_get(m, "exclusiveMinimum");
        const json_t *xh = json_object_get(m, "exclusiveMaximum");
        int has_lo = json_is_number(json_object_get(m, "minimum")) || json_is_number(xl);
        int has_hi = json_is_number(json_object_get(m, "maximum")) || json_is_number(xh);
        if (json_is_number(xl) && (!json_object_get(m, "minimum") || json_number_value(xl) >= lo))
            lo = json_number_value(xl);
        if (json_is_number(xh) && (!json_object_get(m, "maximum") || json_number_value(xh) <= hi))
            hi = json_number_value(xh);
        if (has_lo && has_hi && ceil(lo) + 9 > floor(hi)) {
            cand = json_array();
            for (double v = ceil(lo); v <= floor(hi); v++)
                json_array_append_new(cand, json_integer((json_int_t)v));
        }
    }
    for (size_t i = 0; cand && i < json_array_size(cand); i++) {
        json_t *x = json_array_get(cand, i);
        int dup = 0;
        for (size_t j = 0; j < json_array_size(vals); j++)
            dup |= json_equal(json_array_get(vals, j), x);
        if (!dup && reeli_schema_validate_at(root, m, x) == 0) json_array_append(vals, x);
    }
    reel_clear_error();
    size_t nv = json_array_size(vals);
    int rc = 0;
    if (!cand || nv > 8) {
        rc = reeli_schema_fail(ptr, "%s", MSG);
    } else if ((size_t)mn > nv) {
        rc = reeli_schema_fail(ptr, "minItems is more than the %zu distinct values the items allow",
                               nv);
    } else {
        if (mx < 0 || (size_t)mx > nv) mx = (long long)nv;
        char *memo[256] = {0};
        sb_str(out, "\"[\" (");
        int alts = 0;
        if (mn == 0) {
            sb_str(out, "\"\"");
            alts++;
        }
        for (size_t i = 0; i < nv && mx > 0; i++) {
            if (alts++) sb_str(out, " | ");
            reeli_sb_json_literal(out, json_array_get(vals, i));
            sb_printf(out, " %s", unique_state(g, vals, 1u << i, mn, mx, memo));
        }
        sb_str(out, ") \"]\"");
        for (int i = 0; i < 256; i++) free(memo[i]);
    }
    json_decref(cand);
    json_decref(vals);
    json_decref(rest);
    json_decref(m);
    return rc;
}
