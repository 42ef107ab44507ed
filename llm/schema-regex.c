/* JSON Schema "pattern" to GBNF: the ECMAScript regular expressions that are finite automata.
 *
 * Accepted: literal characters and escapes (\t \n \v \f \r \0 \cX \xHH \uHHHH \u{H...} and
 * escaped punctuation), the classes \d \D \w \W \s \S, [...] with ranges and negation, [^],
 * `.` (anything but a line terminator), alternation, groups (capturing, named and (?:...)),
 * the quantifiers * + ? {m} {m,} {m,n} (at most 1000) and their lazy forms (same language), and
 * the anchors ^ and $ at the start and end of the pattern or of a top-level alternative.
 * Refused, naming the construct: backreferences, lookahead and lookbehind, \b \B, \p{...},
 * anchors elsewhere, empty classes, unknown letter escapes.
 *
 * JSON Schema patterns are not anchored: a branch without ^ may have any text before it and
 * one without $ any text after. Matching is over code points of the decoded string; the
 * grammar works on its JSON text, so characters that JSON must escape are written as the
 * escapes JSON text uses for them (\" \\ \n ... \u001f), other characters raw.
 */
#include "llm/schema-impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT 1000
#define MAX_NODES 4096
#define MAX_GBNF  (1 << 20) /* bytes of grammar text one pattern may become */

enum { N_SET, N_CAT, N_ALT, N_REP, N_BOL, N_EOL, N_EMPTY };

typedef struct node {
    int type;
    reeli_cpset set;    /* N_SET */
    struct node **kids; /* N_CAT, N_ALT, N_REP (one) */
    int nk;
    int min, max; /* N_REP; max < 0: unbounded */
} node;

typedef struct {
    const char *src, *p, *ptr;
    int n_nodes, failed;
} rparser;

static int rfail(rparser *ps, const char *what)
{
    if (!ps->failed)
        reeli_schema_fail(ps->ptr, "'pattern' /%s/: %s at offset %d", ps->src, what,
                          (int)(ps->p - ps->src));
    ps->failed = 1;
    return -1;
}

static node *new_node(rparser *ps, int type)
{
    if (++ps->n_nodes > MAX_NODES) {
        rfail(ps, "pattern too large");
        return NULL;
    }
    node *n = reel_xcalloc(1, sizeof *n);
    n->type = type;
    return n;
}

static void free_node(node *n)
{
    if (!n) return;
    for (int i = 0; i < n->nk; i++) free_node(n->kids[i]);
    free(n->kids);
    free(n->set.r);
    free(n);
}

static void add_kid(node *n, node *k)
{
    n->kids = reel_xrealloc(n->kids, (size_t)(n->nk + 1) * sizeof *n->kids);
    n->kids[n->nk++] = k;
}

/* ---- parser ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex(rparser *ps, int n, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        int d = hexval(ps->p[i]);
        if (d < 0) return rfail(ps, "malformed hex escape");
        *v = *v * 16 + (uint32_t)d;
    }
    ps->p += n;
    return 0;
}

static int read_utf8(rparser *ps, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)ps->p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n) return rfail(ps, "invalid UTF-8");
    if (n > 1) c &= 0x7Fu >> n;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return rfail(ps, "invalid UTF-8");
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c > 0x10FFFF) return rfail(ps, "invalid UTF-8");
    ps->p += n;
    *cp = c;
    return 0;
}

/* An escape after '\' that stands for one character (in or out of a class). */
static int char_escape(rparser *ps, int in_class, uint32_t *cp)
{
    char e = *ps->p;
    if (!e) return rfail(ps, "'\\' at the end");
    ps->p++;
    switch (e) {
    case 't':
        *cp = '\t';
        return 0;
    case 'n':
        *cp = '\n';
        return 0;
    case 'v':
        *cp = '\v';
        return 0;
    case 'f':
        *cp = '\f';
        return 0;
    case 'r':
        *cp = '\r';
        return 0;
    case '0':
        if (*ps->p >= '0' && *ps->p <= '9') return rfail(ps, "octal escape");
        *cp = 0;
        return 0;
    case 'b':
        if (in_class) {
            *cp = 8;
            return 0;
        }
        ps->p--;
        return rfail(ps, "word boundary '\\b'");
    case 'B':
        ps->p--;
        return rfail(ps, "word boundary '\\B'");
    case 'c':
        if ((*ps->p | 0x20) >= 'a' && (*ps->p | 0x20) <= 'z') {
            *cp = (uint32_t)(*ps->p++ % 32);
            return 0;
        }
        return rfail(ps, "malformed '\\c' escape");
    case 'x':
        return read_hex(ps, 2, cp);
    case 'u':
        if (*ps->p == '{') {
            ps->p++;
            uint32_t v = 0;
            int n = 0;
            while (hexval(*ps->p) >= 0 && n < 7) v = v * 16 + (uint32_t)hexval(*ps->p++), n++;
            if (!n || *ps->p != '}' || v > 0x10FFFF) return rfail(ps, "malformed '\\u{...}'");
            ps->p++;
            *cp = v;
            return 0;
        }
        if (read_hex(ps, 4, cp) < 0) return -1;
        if (*cp >= 0xD800 && *cp <= 0xDBFF && ps->p[0] == '\\' && ps->p[1] == 'u') {
            const char *save = ps->p;
            ps->p += 2;
            uint32_t lo;
            if (read_hex(ps, 4, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
                return 0;
            }
            ps->p = save;
        }
        return 0;
    case 'p':
    case 'P':
        ps->p--;
        return rfail(ps, "Unicode property escape");
    case 'k':
        ps->p--;
        return rfail(ps, "named backreference '\\k'");
    default:
        break;
    }
    if (e >= '1' && e <= '9') {
        ps->p--;
        return rfail(ps, "backreference");
    }
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9') ||
        (unsigned char)e >= 0x80) {
        ps->p--;
        return rfail(ps, "unknown escape");
    }
    *cp = (uint32_t)(unsigned char)e; /* escaped punctuation stands for itself */
    return 0;
}

static node *parse_class(rparser *ps)
{
    /* at '[' */
    ps->p++;
    int negate = *ps->p == '^';
    ps->p += negate;
    node *n = new_node(ps, N_SET);
    if (!n) return NULL;
    while (*ps->p != ']') {
        uint32_t lo, hi;
        if (!*ps->p) {
            rfail(ps, "unterminated character class");
            goto fail;
        }
        if (*ps->p == '\\') {
            ps->p++;
            if (reeli_cpset_add_class(&n->set, *ps->p)) {
                ps->p++;
                continue;
            }
            if (char_escape(ps, 1, &lo) < 0) goto fail;
        } else if (read_utf8(ps, &lo) < 0) {
            goto fail;
        }
        hi = lo;
        if (ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
            ps->p++;
            if (*ps->p == '\\') {
                ps->p++;
                if (strchr("dDwWsS", *ps->p)) {
                    rfail(ps, "a class escape as a range end");
                    goto fail;
                }
                if (char_escape(ps, 1, &hi) < 0) goto fail;
            } else if (read_utf8(ps, &hi) < 0) {
                goto fail;
            }
            if (hi < lo) {
                rfail(ps, "range out of order in character class");
                goto fail;
            }
        }
        reeli_cpset_add(&n->set, lo, hi);
    }
    ps->p++;
    if (negate)
        reeli_cpset_negate(&n->set);
    else
        reeli_cpset_normalize(&n->set);
    if (n->set.n > 0) return n;
    rfail(ps, "a character class that matches nothing");
fail:
    free_node(n);
    return NULL;
}

static node *parse_alt(rparser *ps, int depth);

static int parse_count(rparser *ps, int *v)
{
    if (*ps->p < '0' || *ps->p > '9') return -1;
    long x = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p++ - '0');
        if (x > 1000000) x = 1000000;
    }
    *v = (int)x;
    return 0;
}

/* Reads a quantifier at ps->p, if one is there: 1 and the counts, 0 when none, -1 on error. */
static int parse_quant(rparser *ps, int *mn, int *mx)
{
    char c = *ps->p;
    if (c == '*' || c == '+' || c == '?') {
        ps->p++;
        *mn = c == '+';
        *mx = c == '?' ? 1 : -1;
    } else if (c == '{') {
        const char *save = ps->p;
        ps->p++;
        if (parse_count(ps, mn) < 0) {
            ps->p = save;
            return 0; /* a literal '{' */
        }
        *mx = *mn;
        if (*ps->p == ',') {
            ps->p++;
            *mx = -1;
            if (*ps->p != '}' && parse_count(ps, mx) < 0) {
                ps->p = save;
                return 0;
            }
        }
        if (*ps->p != '}') {
            ps->p = save;
            return 0;
        }
        ps->p++;
        if (*mx >= 0 && *mx < *mn) return rfail(ps, "quantifier {m,n} with n < m");
        if (*mn > MAX_COUNT || *mx > MAX_COUNT) return rfail(ps, "a count above 1000");
    } else {
        return 0;
    }
    if (*ps->p == '?') ps->p++; /* lazy: the same language */
    return 1;
}

static node *parse_atom(rparser *ps, int depth)
{
    char c = *ps->p;
    node *n;
    uint32_t cp;
    if (c == '(') {
        ps->p++;
        if (ps->p[0] == '?') {
            if (ps->p[1] == ':') {
                ps->p += 2;
            } else if (ps->p[1] == '=' || ps->p[1] == '!') {
                rfail(ps, "lookahead");
                return NULL;
            } else if (ps->p[1] == '<' && (ps->p[2] == '=' || ps->p[2] == '!')) {
                rfail(ps, "lookbehind");
                return NULL;
            } else if (ps->p[1] == '<') {
                const char *e = strchr(ps->p, '>');
                if (!e) {
                    rfail(ps, "malformed group name");
                    return NULL;
                }
                ps->p = e + 1;
            } else {
                rfail(ps, "unknown group '(?'");
                return NULL;
            }
        }
        n = parse_alt(ps, depth + 1);
        if (!n) return NULL;
        if (*ps->p != ')') {
            free_node(n);
            rfail(ps, "missing ')'");
            return NULL;
        }
        ps->p++;
        return n;
    }
    if (c == '[') return parse_class(ps);
    if (c == '^' || c == '$') {
        ps->p++;
        return new_node(ps, c == '^' ? N_BOL : N_EOL);
    }
    if (c == '*' || c == '+' || c == '?') {
        rfail(ps, "nothing to repeat");
        return NULL;
    }
    if (c == '{') {
        int a, b;
        const char *save = ps->p;
        int q = parse_quant(ps, &a, &b);
        ps->p = save;
        if (q != 0) {
            if (q > 0) rfail(ps, "nothing to repeat");
            return NULL;
        }
    }
    if (c == ')') {
        rfail(ps, "unmatched ')'");
        return NULL;
    }
    n = new_node(ps, N_SET);
    if (!n) return NULL;
    if (c == '.') {
        ps->p++;
        reeli_cpset_add(&n->set, '\n', '\n');
        reeli_cpset_add(&n->set, '\r', '\r');
        reeli_cpset_add(&n->set, 0x2028, 0x2029);
        reeli_cpset_negate(&n->set);
        return n;
    }
    if (c == '\\') {
        ps->p++;
        if (reeli_cpset_add_class(&n->set, *ps->p)) {
            ps->p++;
            reeli_cpset_normalize(&n->set);
            return n;
        }
        if (char_escape(ps, 0, &cp) < 0) {
            free_node(n);
            return NULL;
        }
    } else if (read_utf8(ps, &cp) < 0) {
        free_node(n);
        return NULL;
    }
    reeli_cpset_add(&n->set, cp, cp);
    reeli_cpset_normalize(&n->set);
    return n;
}

static node *parse_cat(rparser *ps, int depth)
{
    node *cat = new_node(ps, N_CAT), *a = NULL;
    if (!cat) return NULL;
    while (*ps->p && *ps->p != '|' && *ps->p != ')') {
        if (!(a = parse_atom(ps, depth))) goto fail;
        int mn, mx, q = parse_quant(ps, &mn, &mx);
        if (q < 0) goto fail;
        if (q > 0) {
            if (a->type == N_BOL || a->type == N_EOL) {
                rfail(ps, "a quantified anchor");
                goto fail;
            }
            node *r = new_node(ps, N_REP);
            if (!r) goto fail;
            add_kid(r, a);
            r->min = mn;
            r->max = mx;
            a = r;
            const char *save = ps->p;
            if (parse_quant(ps, &mn, &mx) != 0) { /* ECMAScript: a quantifier cannot repeat */
                ps->p = save;
                rfail(ps, "nothing to repeat");
                goto fail;
            }
        }
        add_kid(cat, a);
        a = NULL;
    }
    return cat;
fail:
    free_node(a);
    free_node(cat);
    return NULL;
}

static node *parse_alt(rparser *ps, int depth)
{
    if (depth > 100) {
        rfail(ps, "groups nested too deeply");
        return NULL;
    }
    node *alt = new_node(ps, N_ALT);
    if (!alt) return NULL;
    for (;;) {
        node *c = parse_cat(ps, depth);
        if (!c) {
            free_node(alt);
            return NULL;
        }
        add_kid(alt, c);
        if (*ps->p != '|') break;
        ps->p++;
    }
    return alt;
}

/* ---- analysis ---- */

/* Fails on an anchor anywhere in n (they are only allowed where strip_anchors took them). */
static int no_anchors(rparser *ps, const node *n)
{
    if (n->type == N_BOL || n->type == N_EOL)
        return rfail(ps, n->type == N_BOL ? "anchor '^' inside the pattern (only at the start of "
                                            "the pattern or of a top-level alternative)"
                                          : "anchor '$' inside the pattern (only at the end of "
                                            "the pattern or of a top-level alternative)");
    for (int i = 0; i < n->nk; i++)
        if (no_anchors(ps, n->kids[i]) < 0) return -1;
    return 0;
}

/* Length bounds of n's language in code points (max -1: unbounded). */
static void lengths(const node *n, long long *mn, long long *mx)
{
    switch (n->type) {
    case N_SET:
        *mn = *mx = 1;
        return;
    case N_CAT:
        *mn = *mx = 0;
        for (int i = 0; i < n->nk; i++) {
            long long a, b;
            lengths(n->kids[i], &a, &b);
            *mn = *mn + a > (1LL << 40) ? (1LL << 40) : *mn + a;
            *mx = (*mx < 0 || b < 0) ? -1 : *mx + b > (1LL << 40) ? (1LL << 40) : *mx + b;
        }
        return;
    case N_ALT:
        for (int i = 0; i < n->nk; i++) {
            long long a, b;
            lengths(n->kids[i], &a, &b);
            if (i == 0 || a < *mn) *mn = a;
            if (i == 0 || (*mx >= 0 && (b < 0 || b > *mx))) *mx = b;
        }
        return;
    case N_REP: {
        long long a, b;
        lengths(n->kids[0], &a, &b);
        const long long cap = 1LL << 40; /* beyond any length limit */
        *mn = a * n->min > cap ? cap : a * n->min;
        *mx = (n->max < 0 || b < 0) ? (b == 0 ? 0 : -1) : b * n->max > cap ? cap : b * n->max;
        return;
    }
    default:
        *mn = *mx = 0;
        return;
    }
}

/* ---- emission ---- */

static int nullable(const node *n)
{
    long long mn, mx;
    lengths(n, &mn, &mx);
    return mn == 0;
}

static void emit(reel_strbuf *b, const node *n);

static void quant(reel_strbuf *b, int min, int max)
{
    if (min == 0 && max < 0)
        reel_strbuf_str(b, "*");
    else if (min == 1 && max < 0)
        reel_strbuf_str(b, "+");
    else if (min == 0 && max == 1)
        reel_strbuf_str(b, "?");
    else if (max < 0)
        reel_strbuf_printf(b, "{%d,}", min);
    else if (min != 1 || max != 1)
        reel_strbuf_printf(b, "{%d,%d}", min, max);
}

/* The non-empty strings of n (a grammar cannot repeat a part that matches nothing: that is
 * left recursion); 0 when there are none. */
static int emit_nonempty(reel_strbuf *b, const node *n)
{
    reel_strbuf t = {0};
    int alts = 0;
    switch (n->type) {
    case N_SET:
        reeli_cpset_gbnf(b, &n->set);
        return 1;
    case N_CAT:
        /* the first non-empty part is kid i: the ones before it match nothing */
        for (int i = 0; i < n->nk; i++) {
            reel_strbuf k = {0};
            if (emit_nonempty(&k, n->kids[i])) {
                reel_strbuf_str(&t, alts++ ? " | (" : "(");
                reel_strbuf_add(&t, k.p, k.n);
                for (int j = i + 1; j < n->nk; j++) {
                    reel_strbuf_str(&t, " ");
                    emit(&t, n->kids[j]);
                }
                reel_strbuf_str(&t, ")");
            }
            free(k.p);
            if (!nullable(n->kids[i])) break;
        }
        break;
    case N_ALT:
        for (int i = 0; i < n->nk; i++) {
            reel_strbuf k = {0};
            if (emit_nonempty(&k, n->kids[i])) {
                if (alts++) reel_strbuf_str(&t, " | ");
                reel_strbuf_add(&t, k.p, k.n);
            }
            free(k.p);
        }
        break;
    case N_REP:
        if (n->max == 0) break;
        if (nullable(n->kids[0])) {
            /* X{m,n} with X matching the empty string is (X without it){0,n} */
            if (!emit_nonempty(&t, n->kids[0])) break;
            reel_strbuf k = t;
            t = (reel_strbuf){0};
            reel_strbuf_printf(&t, "(%s)", k.p);
            quant(&t, 1, n->max);
            free(k.p);
        } else {
            reel_strbuf_str(&t, "(");
            emit(&t, n->kids[0]);
            reel_strbuf_str(&t, ")");
            quant(&t, n->min > 1 ? n->min : 1, n->max);
        }
        alts = 1;
        break;
    default:
        break;
    }
    if (alts) reel_strbuf_printf(b, "(%s)", t.p);
    free(t.p);
    return alts > 0;
}

static void emit(reel_strbuf *b, const node *n)
{
    switch (n->type) {
    case N_SET:
        reeli_cpset_gbnf(b, &n->set);
        return;
    case N_CAT:
        if (n->nk == 0) {
            reel_strbuf_str(b, "\"\"");
            return;
        }
        reel_strbuf_str(b, "(");
        for (int i = 0; i < n->nk; i++) {
            if (i) reel_strbuf_str(b, " ");
            emit(b, n->kids[i]);
        }
        reel_strbuf_str(b, ")");
        return;
    case N_ALT:
        reel_strbuf_str(b, "(");
        for (int i = 0; i < n->nk; i++) {
            if (i) reel_strbuf_str(b, " | ");
            emit(b, n->kids[i]);
        }
        reel_strbuf_str(b, ")");
        return;
    case N_REP:
        if (n->max == 0) {
            reel_strbuf_str(b, "\"\"");
        } else if (nullable(n->kids[0])) {
            reel_strbuf k = {0};
            if (emit_nonempty(&k, n->kids[0])) {
                reel_strbuf_printf(b, "(%s)", k.p);
                quant(b, 0, n->max);
            } else {
                reel_strbuf_str(b, "\"\"");
            }
            free(k.p);
        } else {
            reel_strbuf_str(b, "(");
            emit(b, n->kids[0]);
            reel_strbuf_str(b, ")");
            quant(b, n->min, n->max);
        }
        return;
    default:
        reel_strbuf_str(b, "\"\"");
        return;
    }
}

/* A parsed pattern: its top-level alternatives without their anchors. */
typedef struct {
    node *root;
    int *bol, *eol, n;
    long long pmin, pmax; /* lengths of the matched strings (pmax -1: unbounded) */
} prepared;

static void prepared_free(prepared *p)
{
    free(p->bol);
    free(p->eol);
    free_node(p->root);
}

static int prepare(rparser *ps, prepared *p)
{
    memset(p, 0, sizeof *p);
    if (!(p->root = parse_alt(ps, 0))) return -1;
    if (*ps->p) return rfail(ps, "unmatched ')'");
    int n = p->n = p->root->nk;
    p->bol = reel_xcalloc((size_t)n, sizeof *p->bol);
    p->eol = reel_xcalloc((size_t)n, sizeof *p->eol);
    for (int i = 0; i < n; i++) {
        node *c = p->root->kids[i];
        int s = 0, e = c->nk;
        while (s < e && c->kids[s]->type == N_BOL) p->bol[i] = 1, s++;
        while (e > s && c->kids[e - 1]->type == N_EOL) e--, p->eol[i] = 1;
        node *mid = new_node(ps, N_CAT);
        if (!mid) return -1;
        for (int k = s; k < e; k++) add_kid(mid, c->kids[k]);
        for (int k = 0; k < c->nk; k++)
            if (k < s || k >= e) free_node(c->kids[k]);
        free(c->kids);
        c->kids = NULL;
        c->nk = 0;
        free_node(c);
        p->root->kids[i] = mid;
        if (no_anchors(ps, mid) < 0) return -1;
        long long a, b;
        lengths(mid, &a, &b);
        if (!p->bol[i] || !p->eol[i]) b = -1;
        if (i == 0 || a < p->pmin) p->pmin = a;
        if (i == 0 || (p->pmax >= 0 && (b < 0 || b > p->pmax))) p->pmax = b;
    }
    return 0;
}

int reeli_regex_gbnf(const char *pattern, long long min_len, long long max_len, const char *ptr,
                     reel_strbuf *out)
{
    rparser ps = {pattern, pattern, ptr, 0, 0};
    prepared pp;
    int rc = prepare(&ps, &pp);
    int n = pp.n, *bol = pp.bol, *eol = pp.eol;
    node *root = pp.root;
    if (rc == 0 && (min_len > 0 || max_len >= 0)) {
        int inside = pp.pmin >= min_len && (max_len < 0 || (pp.pmax >= 0 && pp.pmax <= max_len));
        /* ^C{m,n}$ with one character class C: fold the lengths into the counts */
        node *only =
            n == 1 && bol[0] && eol[0] && root->kids[0]->nk == 1 ? root->kids[0]->kids[0] : NULL;
        int fold = only && only->type == N_REP && only->kids[0]->type == N_SET;
        if (!inside && fold) {
            long long mn = only->min > min_len ? only->min : min_len;
            long long mx = only->max;
            if (max_len >= 0 && (mx < 0 || max_len < mx)) mx = max_len;
            if (mx >= 0 && mx < mn)
                rc = reeli_schema_fail(ptr, "'pattern' and minLength/maxLength admit no string");
            else if (mn > 10000 || mx > 10000)
                rc = reeli_schema_fail(ptr, "minLength/maxLength above 10000");
            only->min = (int)mn;
            only->max = (int)mx;
        } else if (!inside) {
            rc = reeli_schema_fail(ptr, "'pattern' together with minLength/maxLength is supported "
                                        "when the pattern's own lengths lie within them, or for "
                                        "one repeated character class (^[...]{m,n}$)");
        }
    }
    if (rc == 0) {
        reel_strbuf_str(out, "(");
        for (int i = 0; i < n; i++) {
            if (i) reel_strbuf_str(out, " | ");
            reel_strbuf_str(out, "(");
            if (!bol[i]) reel_strbuf_str(out, "char* ");
            emit(out, root->kids[i]);
            if (!eol[i]) reel_strbuf_str(out, " char*");
            reel_strbuf_str(out, ")");
        }
        reel_strbuf_str(out, ")");
        if (out->n > MAX_GBNF) rc = rfail(&ps, "pattern too large as a grammar");
    }
    prepared_free(&pp);
    return rc < 0 || ps.failed ? -1 : 0;
}

/* ---- finite languages ---- */

/* The strings n matches (a new array), or NULL when they are more than cap or unbounded. */
static json_t *strings_of(const node *n, size_t cap)
{
    json_t *out = json_array();
    switch (n->type) {
    case N_SET:
        for (int i = 0; i < n->set.n; i++)
            for (uint32_t c = n->set.r[i].lo; c <= n->set.r[i].hi; c++) {
                if (json_array_size(out) >= cap) goto too_many;
                char u[5] = {0};
                int k = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
                static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
                for (int j = k - 1; j > 0; j--)
                    u[j] = (char)(0x80 | ((c >> (6 * (k - 1 - j))) & 0x3F));
                u[0] = (char)(k == 1 ? c : lead[k] | (c >> (6 * (k - 1))));
                if (c == 0) goto too_many; /* NUL has no place in a C string */
                json_array_append_new(out, json_string(u));
            }
        return out;
    case N_ALT:
        for (int i = 0; i < n->nk; i++) {
            json_t *k = strings_of(n->kids[i], cap);
            if (!k || json_array_size(out) + json_array_size(k) > cap) {
                json_decref(k);
                goto too_many;
            }
            json_array_extend(out, k);
            json_decref(k);
        }
        return out;
    case N_CAT:
    case N_REP: {
        /* CAT: the product of the parts; REP: the union over counts of the product */
        int reps = n->type == N_CAT ? 1 : n->max;
        if (reps < 0) goto too_many;
        json_t *cur = json_pack("[s]", "");
        json_t *kid = n->type == N_REP ? strings_of(n->kids[0], cap) : NULL;
        if (n->type == N_REP && !kid) goto fail_cur;
        for (int r = 0; r <= (n->type == N_CAT ? n->nk : reps); r++) {
            if (n->type == N_REP ? r >= n->min : r == n->nk) {
                if (json_array_size(out) + json_array_size(cur) > cap) goto fail_cur;
                json_array_extend(out, cur);
            }
            if (r == (n->type == N_CAT ? n->nk : reps)) break;
            json_t *part = n->type == N_CAT ? strings_of(n->kids[r], cap) : json_incref(kid);
            if (!part || json_array_size(cur) * json_array_size(part) > cap) {
                json_decref(part);
                goto fail_cur;
            }
            json_t *next = json_array();
            for (size_t a = 0; a < json_array_size(cur); a++)
                for (size_t b = 0; b < json_array_size(part); b++) {
                    char *t = reel_xasprintf("%s%s", json_string_value(json_array_get(cur, a)),
                                             json_string_value(json_array_get(part, b)));
                    json_array_append_new(next, json_string(t));
                    free(t);
                }
            json_decref(part);
            json_decref(cur);
            cur = next;
        }
        json_decref(cur);
        json_decref(kid);
        return out;
    fail_cur:
        json_decref(cur);
        json_decref(kid);
        goto too_many;
    }
    default:
        return out;
    }
too_many:
    json_decref(out);
    return NULL;
}

int reeli_regex_finite(const char *pattern, size_t cap, const char *ptr, json_t **out)
{
    rparser ps = {pattern, pattern, ptr, 0, 0};
    prepared pp;
    *out = NULL;
    int rc = prepare(&ps, &pp);
    json_t *all = rc == 0 ? json_array() : NULL;
    for (int i = 0; rc == 0 && i < pp.n && all; i++) {
        json_t *k = pp.bol[i] && pp.eol[i] ? strings_of(pp.root->kids[i], cap) : NULL;
        for (size_t j = 0; k && j < json_array_size(k); j++) {
            const json_t *x = json_array_get(k, j);
            int dup = 0;
            for (size_t m = 0; m < json_array_size(all) && !dup; m++)
                dup = json_equal(json_array_get(all, m), x);
            if (!dup) json_array_append(all, (json_t *)x);
        }
        if (!k || json_array_size(all) > cap) {
            json_decref(all);
            all = NULL;
        }
        json_decref(k);
    }
    prepared_free(&pp);
    if (rc < 0 || ps.failed) return -1;
    *out = all;
    return all ? 1 : 0;
}
