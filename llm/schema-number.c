/* JSON Schema numeric keywords to GBNF: exact ranges of integer and decimal numerals, and
 * multiples of a whole number.
 *
 * Bounds are decimals: each is the shortest decimal that reads back as the schema's double, so
 * {"maximum": 0.1} means 0.1. The grammar compares a numeral's digits with the bounds' digits
 * (a finite automaton per bound), so it accepts precisely the numerals inside the bounds, in
 * this form when a number has a bound:
 *   - no exponent, no leading zeros, and no "-0" (zero is written "0");
 *   - at most 15 digits before the point;
 *   - any number of fraction digits, except with an exclusive bound b, where a numeral has at
 *     most 15 - (digits of b's whole part) fraction digits and b itself at most 15 significant
 *     digits: then a numeral and b are distinct doubles once read (a double holds 15
 *     significant decimal digits exactly), so the numeral also passes the double comparison of
 *     reel_json_schema_validate. Inclusive bounds need no such limit: reading a numeral as a
 *     double is monotonic.
 * Integers are written without a fraction. multipleOf (integers only) is a remainder automaton
 * over the digits, intersected with the range (states: digit position x tight-low x tight-high
 * x remainder): divisors up to 1000, on ranges whose automaton stays within 6000 rules.
 */
#include "llm/schema-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_LIMIT     999999999999999LL /* 15 digits: exact in a double */
#define MAX_FRAC      40                /* fraction digits a bound may have */
#define MAX_DIVISOR   1000
#define MAX_MOD_RULES 6000

/* A non-negative decimal: whole part digits (no leading zeros, "0" for zero) and fraction
 * digits (trailing zeros stripped). */
typedef struct {
    char ip[24];
    char fp[MAX_FRAC + 24];
    int sig; /* significant digits */
} dec;

static int dec_from_double(double d, dec *out)
{
    d = fabs(d);
    char buf[64];
    int p;
    for (p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d) break;
    }
    /* buf: D[.DDD]e[+-]XX */
    char m[24];
    int nm = 0;
    const char *c = buf;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') m[nm++] = *c;
    while (nm > 1 && m[nm - 1] == '0') nm--;
    m[nm] = '\0';
    int e = atoi(c + 1);
    memset(out, 0, sizeof *out);
    out->sig = d == 0 ? 0 : nm;
    if (d == 0) {
        strcpy(out->ip, "0");
        return 0;
    }
    if (e > 14) return -1;
    if (e >= 0) {
        int k = 0;
        for (int i = 0; i <= e; i++) out->ip[k++] = i < nm ? m[i] : '0';
        out->ip[k] = '\0';
        k = 0;
        for (int i = e + 1; i < nm; i++) out->fp[k++] = m[i];
        out->fp[k] = '\0';
    } else {
        if (-e - 1 + nm > MAX_FRAC) return -1;
        strcpy(out->ip, "0");
        int k = 0;
        for (int i = 0; i < -e - 1; i++) out->fp[k++] = '0';
        for (int i = 0; i < nm; i++) out->fp[k++] = m[i];
        out->fp[k] = '\0';
    }
    return 0;
}

/* ---- integer ranges as digit patterns ---- */

/* Pattern for all digit strings of length n between a and z inclusive (same length). */
static void same_len_range(reel_strbuf *b, const char *a, const char *z, int n)
{
    if (n == 0) return;
    if (a[0] == z[0]) {
        reeli_sb_literal(b, a, 1);
        if (n > 1) {
            reel_strbuf_str(b, " ");
            same_len_range(b, a + 1, z + 1, n - 1);
        }
        return;
    }
    if (n == 1) {
        reel_strbuf_printf(b, "[%c-%c]", a[0], z[0]);
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
    reel_strbuf_str(b, "(");
    int alts = 0;
    if (!a_rest_zero) {
        reel_strbuf_printf(b, "\"%c\" (", a[0]);
        same_len_range(b, a + 1, nines, n - 1);
        reel_strbuf_str(b, ")");
        alts++;
    }
    if (lo <= hi) {
        if (alts++) reel_strbuf_str(b, " | ");
        reel_strbuf_printf(b, "[%c-%c] [0-9]{%d}", lo, hi, n - 1);
    }
    if (!z_rest_nine) {
        if (alts++) reel_strbuf_str(b, " | ");
        reel_strbuf_printf(b, "\"%c\" (", z[0]);
        same_len_range(b, zeros, z + 1, n - 1);
        reel_strbuf_str(b, ")");
    }
    reel_strbuf_str(b, ")");
}

/* Pattern for the decimal forms (no leading zeros) of lo..hi, 0 <= lo <= hi. */
static void nonneg_range(reel_strbuf *b, long long lo, long long hi)
{
    int first = 1;
    reel_strbuf_str(b, "(");
    long long p = 1;
    for (int d = 1; d <= 18; d++, p *= 10) {
        long long dlo = d == 1 ? 0 : p, dhi = p * 10 - 1;
        if (dhi < lo || dlo > hi) continue;
        long long a = lo > dlo ? lo : dlo, z = hi < dhi ? hi : dhi;
        char as[24], zs[24];
        snprintf(as, sizeof as, "%lld", a);
        snprintf(zs, sizeof zs, "%lld", z);
        if (!first) reel_strbuf_str(b, " | ");
        first = 0;
        reel_strbuf_str(b, "(");
        same_len_range(b, as, zs, d);
        reel_strbuf_str(b, ")");
    }
    reel_strbuf_str(b, ")");
}

/* Integers lo..hi, no "-0". */
static void int_range(reel_strbuf *b, long long lo, long long hi)
{
    reel_strbuf_str(b, "(");
    int alts = 0;
    if (lo < 0) {
        long long nhi = hi < 0 ? -hi : 1; /* magnitudes of the negative part: nhi..-lo */
        reel_strbuf_str(b, "\"-\" ");
        nonneg_range(b, nhi, -lo);
        alts++;
    }
    if (hi >= 0) {
        if (alts) reel_strbuf_str(b, " | ");
        nonneg_range(b, lo > 0 ? lo : 0, hi);
    }
    reel_strbuf_str(b, ")");
}

/* ---- multiples: a remainder automaton intersected with a same-length digit range ---- */

typedef struct {
    reeli_rules *r;
    const char *a, *z;
    int n, k;
    int *memo; /* [pos][tl][th][rem]: -2 unknown, -1 empty, -3 end, else rule number */
    char **names;
    int n_names, n_rules;
} modctx;

static int mod_state(modctx *m, int pos, int tl, int th, int rem)
{
    if (pos == m->n) return rem == 0 ? -3 : -1;
    int *slot = &m->memo[((pos * 2 + tl) * 2 + th) * m->k + rem];
    if (*slot != -2) return *slot;
    *slot = -1; /* no cycles: pos grows */
    int lo = tl ? m->a[pos] - '0' : 0, hi = th ? m->z[pos] - '0' : 9;
    int next[10];
    int any = 0;
    for (int d = lo; d <= hi; d++) {
        next[d] = mod_state(m, pos + 1, tl && d == lo, th && d == hi, (rem * 10 + d) % m->k);
        if (next[d] != -1) any = 1;
    }
    if (!any || m->n_rules > MAX_MOD_RULES) return -1;
    reel_strbuf body = {0};
    int done[10] = {0}, alts = 0;
    for (int d = lo; d <= hi; d++) {
        if (done[d] || next[d] == -1) continue;
        if (alts++) reel_strbuf_str(&body, " | ");
        reel_strbuf_str(&body, "[");
        for (int e = d; e <= hi; e++)
            if (!done[e] && next[e] == next[d]) {
                reel_strbuf_printf(&body, "%d", e);
                done[e] = 1;
            }
        reel_strbuf_str(&body, "]");
        if (next[d] >= 0) reel_strbuf_printf(&body, " %s", m->names[next[d]]);
    }
    char *name = reeli_rule_name(m->r, "mult");
    reel_strbuf_printf(m->r->rules, "%s ::= %s\n", name, body.p);
    free(body.p);
    m->names = reel_xrealloc(m->names, (size_t)(m->n_names + 1) * sizeof *m->names);
    m->names[m->n_names] = name;
    m->n_rules++;
    *slot = m->n_names++;
    return *slot;
}

/* Multiples of k with magnitudes lo..hi (0 <= lo <= hi) as alternatives; 0 when none. */
static int mod_range(reeli_rules *r, reel_strbuf *out, long long lo, long long hi, int k,
                     int *n_rules, int *alts)
{
    long long p = 1;
    for (int d = 1; d <= 15; d++, p *= 10) {
        long long dlo = d == 1 ? 0 : p, dhi = p * 10 - 1;
        if (dhi < lo || dlo > hi) continue;
        char as[24], zs[24];
        snprintf(as, sizeof as, "%lld", lo > dlo ? lo : dlo);
        snprintf(zs, sizeof zs, "%lld", hi < dhi ? hi : dhi);
        modctx m = {r, as, zs, d, k, NULL, NULL, 0, *n_rules};
        size_t cells = (size_t)(d + 1) * 4 * (size_t)k;
        m.memo = reel_xmalloc(cells * sizeof *m.memo);
        for (size_t i = 0; i < cells; i++) m.memo[i] = -2;
        int start = mod_state(&m, 0, 1, 1, 0);
        if (start >= 0) {
            if ((*alts)++) reel_strbuf_str(out, " | ");
            reel_strbuf_str(out, m.names[start]);
        } else if (start == -3) {
            if ((*alts)++) reel_strbuf_str(out, " | ");
            reel_strbuf_str(out, "\"\""); /* unreachable: d >= 1 */
        }
        *n_rules = m.n_rules;
        for (int i = 0; i < m.n_names; i++) free(m.names[i]);
        free(m.names);
        free(m.memo);
        if (*n_rules > MAX_MOD_RULES) return -1;
    }
    return 0;
}

/* ---- fraction digits compared with bounds ---- */

/* The digit strings x (the digits after the point, possibly none) with lo <= 0.x <= hi, where
 * lo/hi are a bound's remaining fraction digits (NULL: no constraint left) compared from
 * position i, strictness per flag, at most rem digits (rem < 0: any). Sets *eps when the empty
 * string belongs, and appends the non-empty strings as alternatives to alts (none: empty). */
static void frac_lang(const char *lo, int lo_inc, const char *hi, int hi_inc, int i, int rem,
                      int *eps, reel_strbuf *alts)
{
    *eps = 0;
    size_t nlo = lo ? strlen(lo) : 0, nhi = hi ? strlen(hi) : 0;
    if (lo && (size_t)i >= nlo && lo_inc) lo = NULL; /* rest >= 0 always holds */
    if (hi && (size_t)i >= nhi) {
        /* the rest must be zero (or below zero: impossible), and lo's rest (if still tight) is
         * positive or must be exceeded: nothing */
        if (!hi_inc || lo) return;
        *eps = 1;
        if (rem != 0) reel_strbuf_printf(alts, rem < 0 ? "\"0\"+" : "\"0\"{1,%d}", rem);
        return;
    }
    if (!lo && !hi) {
        *eps = 1;
        if (rem != 0) reel_strbuf_printf(alts, rem < 0 ? "[0-9]+" : "[0-9]{1,%d}", rem);
        return;
    }
    if (lo && (size_t)i >= nlo && !hi) {
        /* exclusive bound used up: the rest must have a non-zero digit */
        if (rem < 0) {
            reel_strbuf_str(alts, "\"0\"* [1-9] [0-9]*");
        } else {
            for (int z = 0; z < rem; z++) {
                if (z) reel_strbuf_str(alts, " | ");
                if (z) reel_strbuf_printf(alts, "\"0\"{%d} ", z);
                reel_strbuf_str(alts, "[1-9]");
                if (rem - z - 1 > 0) reel_strbuf_printf(alts, " [0-9]{0,%d}", rem - z - 1);
            }
        }
        return;
    }
    /* empty rest: 0 against the bounds' rests */
    int lo_ok = !lo || ((size_t)i >= nlo && lo_inc);
    int hi_ok = !hi || (size_t)i < nhi || hi_inc;
    *eps = lo_ok && hi_ok;
    if (rem == 0) return;
    int dlo = lo ? ((size_t)i < nlo ? lo[i] - '0' : 0) : 0;
    int dhi = hi ? hi[i] - '0' : 9;
    int n = 0;
    for (int d = dlo; d <= dhi; d++) {
        int tl = lo && d == dlo, th = hi && d == dhi;
        int d_end = d;
        if (!tl && !th) d_end = th ? d : (hi ? dhi - 1 : 9); /* the loose middle, one class */
        int sub_eps;
        reel_strbuf sub = {0};
        frac_lang(tl ? lo : NULL, lo_inc, th ? hi : NULL, hi_inc, i + 1, rem < 0 ? -1 : rem - 1,
                  &sub_eps, &sub);
        if (sub_eps || sub.n) {
            if (n++) reel_strbuf_str(alts, " | ");
            if (d_end > d)
                reel_strbuf_printf(alts, "[%d-%d]", d, d_end);
            else
                reel_strbuf_printf(alts, "\"%d\"", d);
            if (sub.n) reel_strbuf_printf(alts, sub_eps ? " (%s)?" : " (%s)", sub.p);
        }
        free(sub.p);
        d = d_end;
    }
}

/* Appends "." + fraction (optional when no digits may do) for the bounds; 0 if possible. */
static int frac_suffix(reel_strbuf *out, const char *lo, int lo_inc, const char *hi, int hi_inc,
                       int rem)
{
    int eps;
    reel_strbuf alts = {0};
    frac_lang(lo, lo_inc, hi, hi_inc, 0, rem, &eps, &alts);
    int ok = eps || alts.n;
    if (alts.n) reel_strbuf_printf(out, eps ? " (\".\" (%s))?" : " \".\" (%s)", alts.p);
    free(alts.p);
    return ok ? 0 : -1;
}

/* Magnitudes in [A, B] (B NULL: up to 15 whole digits) as alternatives; returns how many. */
static int magnitudes(reel_strbuf *out, const dec *A, int a_inc, const dec *B, int b_inc, int rem)
{
    long long a = atoll(A->ip), b = B ? atoll(B->ip) : INT_LIMIT;
    const char *bf = B ? B->fp : NULL;
    int n = 0;
    reel_strbuf t = {0};
    if (a == b) {
        reel_strbuf_printf(&t, "\"%lld\"", a);
        if (frac_suffix(&t, A->fp, a_inc, bf, b_inc, rem) == 0) {
            reel_strbuf_add(out, t.p, t.n);
            n++;
        }
        free(t.p);
        return n;
    }
    reel_strbuf_printf(&t, "\"%lld\"", a);
    if (frac_suffix(&t, A->fp, a_inc, NULL, 1, rem) == 0) {
        reel_strbuf_add(out, t.p, t.n);
        n++;
    }
    t.n = 0;
    if (a + 1 <= b - 1) {
        if (n++) reel_strbuf_str(out, " | ");
        nonneg_range(out, a + 1, b - 1);
        frac_suffix(out, NULL, 1, NULL, 1, rem);
    }
    reel_strbuf_printf(&t, "\"%lld\"", b);
    if (frac_suffix(&t, NULL, 1, bf, B ? b_inc : 1, rem) == 0) {
        if (n++) reel_strbuf_str(out, " | ");
        reel_strbuf_add(out, t.p, t.n);
    }
    free(t.p);
    return n;
}

/* ---- bounds from the schema ---- */

typedef struct {
    int present, inc;
    double v;
} bound;

static int read_bound(const json_t *s, const char *incl, const char *excl, int upper,
                      const char *ptr, bound *b)
{
    b->present = 0;
    const char *keys[2] = {incl, excl};
    for (int i = 0; i < 2; i++) {
        const json_t *x = json_object_get(s, keys[i]);
        if (!x) continue;
        if (!json_is_number(x))
            return reeli_schema_fail(ptr, "'%s' must be a number (a boolean is the draft-4 form)",
                                     keys[i]);
        double d = json_number_value(x);
        if (!isfinite(d)) return reeli_schema_fail(ptr, "'%s' must be finite", keys[i]);
        int inc = i == 0;
        int tighter = !b->present || (upper ? d < b->v : d > b->v) || (d == b->v && !inc);
        if (tighter) *b = (bound){1, inc, d};
    }
    return 0;
}

static int number_body(reeli_rules *r, const json_t *s, int integer, const char *ptr,
                       reel_strbuf *out)
{
    bound lo, hi;
    if (read_bound(s, "minimum", "exclusiveMinimum", 0, ptr, &lo) < 0 ||
        read_bound(s, "maximum", "exclusiveMaximum", 1, ptr, &hi) < 0)
        return -1;
    const json_t *mo = json_object_get(s, "multipleOf");
    long long k = 1;
    if (mo) {
        double d = json_number_value(mo);
        if (!json_is_number(mo) || !(d > 0))
            return reeli_schema_fail(ptr, "'multipleOf' must be a number above 0");
        if (!integer || d != floor(d))
            return reeli_schema_fail(ptr, "'multipleOf' is supported for integers with a whole "
                                          "divisor only");
        if (d > MAX_DIVISOR)
            return reeli_schema_fail(ptr, "'multipleOf' above %d is not supported", MAX_DIVISOR);
        k = (long long)d;
    }
    if (!lo.present && !hi.present && k == 1) {
        reel_strbuf_str(out, integer ? "integer" : "number");
        return 0;
    }
    if (integer) {
        double l = lo.present ? (lo.inc ? ceil(lo.v) : floor(lo.v) + 1) : (double)-INT_LIMIT;
        double h = hi.present ? (hi.inc ? floor(hi.v) : ceil(hi.v) - 1) : (double)INT_LIMIT;
        if (l < (double)-INT_LIMIT) l = (double)-INT_LIMIT;
        if (h > (double)INT_LIMIT) h = (double)INT_LIMIT;
        if (l > (double)INT_LIMIT || h < (double)-INT_LIMIT)
            return reeli_schema_fail(ptr, "bounds are beyond 15 digits");
        if (l > h) return reeli_schema_fail(ptr, "no integer lies within the bounds");
        long long a = (long long)l, b = (long long)h;
        if (k == 1) {
            int_range(out, a, b);
            return 0;
        }
        int n_rules = 0, alts = 0;
        reel_strbuf t = {0};
        reel_strbuf_str(&t, "(");
        if (a < 0) {
            reel_strbuf neg = {0};
            int nalts = 0;
            int rc = mod_range(r, &neg, b < 0 ? -b : 1, -a, (int)k, &n_rules, &nalts);
            if (rc == 0 && nalts) {
                reel_strbuf_printf(&t, "\"-\" (%s)", neg.p);
                alts++;
            }
            free(neg.p);
            if (rc < 0) goto too_many;
        }
        if (b >= 0) {
            reel_strbuf pos = {0};
            int palts = 0;
            int rc = mod_range(r, &pos, a > 0 ? a : 0, b, (int)k, &n_rules, &palts);
            if (rc == 0 && palts) {
                if (alts++) reel_strbuf_str(&t, " | ");
                reel_strbuf_str(&t, pos.p);
            }
            free(pos.p);
            if (rc < 0) goto too_many;
        }
        reel_strbuf_str(&t, ")");
        if (!alts) {
            free(t.p);
            return reeli_schema_fail(ptr, "no multiple of %lld lies within the bounds", k);
        }
        reel_strbuf_add(out, t.p, t.n);
        free(t.p);
        return 0;
    too_many:
        free(t.p);
        return reeli_schema_fail(ptr, "'multipleOf' %lld over this range needs too many rules", k);
    }
    /* number */
    if (lo.present && hi.present && (lo.v > hi.v || (lo.v == hi.v && !(lo.inc && hi.inc))))
        return reeli_schema_fail(ptr, "no number lies within the bounds");
    dec L, H;
    int rem = -1;
    bound *bs[2] = {&lo, &hi};
    dec *ds[2] = {&L, &H};
    for (int i = 0; i < 2; i++) {
        if (!bs[i]->present) continue;
        if (dec_from_double(bs[i]->v, ds[i]) < 0)
            return reeli_schema_fail(ptr, "a bound beyond 15 whole digits or %d fraction digits",
                                     MAX_FRAC);
        if (!bs[i]->inc) {
            if (ds[i]->sig > 15)
                return reeli_schema_fail(ptr, "an exclusive bound with more than 15 significant "
                                              "digits cannot be told apart from its neighbours");
            int f = 15 - (int)strlen(ds[i]->ip);
            if (rem < 0 || f < rem) rem = f;
        }
    }
    reel_strbuf t = {0};
    int alts = 0;
    static const dec ZERO = {"0", "", 0};
    /* zero and above: [max(lo, 0), hi] */
    if (!hi.present || hi.v >= 0) {
        int from_lo = lo.present && lo.v >= 0;
        reel_strbuf m = {0};
        int n = magnitudes(&m, from_lo ? &L : &ZERO, from_lo ? lo.inc : 1, hi.present ? &H : NULL,
                           hi.inc, rem);
        if (n) {
            reel_strbuf_printf(&t, "(%s)", m.p);
            alts++;
        }
        free(m.p);
    }
    /* below zero: magnitudes in [max(-hi, 0) exclusive of 0, -lo] */
    if (!lo.present || lo.v < 0) {
        int from_hi = hi.present && hi.v < 0;
        reel_strbuf m = {0};
        int n = magnitudes(&m, from_hi ? &H : &ZERO, from_hi ? hi.inc : 0, lo.present ? &L : NULL,
                           lo.inc, rem);
        if (n) {
            if (alts++) reel_strbuf_str(&t, " | ");
            reel_strbuf_printf(&t, "\"-\" (%s)", m.p);
        }
        free(m.p);
    }
    if (!alts) {
        free(t.p);
        return reeli_schema_fail(ptr, "no number lies within the bounds");
    }
    reel_strbuf_printf(out, "(%s)", t.p);
    free(t.p);
    return 0;
}

int reeli_schema_number_gbnf(reeli_rules *r, const json_t *s, int integer, const char *ptr,
                             reel_strbuf *out)
{
    return number_body(r, s, integer, ptr, out);
}
