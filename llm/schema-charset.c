/* Sets of code points for the pattern translator: class escapes, negation, and the GBNF that
 * matches a set's characters in JSON string text (characters JSON must escape are written as
 * the escapes JSON text uses for them: \" \\ \n ... \u001f; others raw). */
#include "llm/schema-impl.h"

#include <stdlib.h>

static int cmp_range(const void *a, const void *b)
{
    const reeli_cprange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

void reeli_cpset_add(reeli_cpset *n, uint32_t lo, uint32_t hi)
{
    n->r = reel_xrealloc(n->r, (size_t)(n->n + 1) * sizeof *n->r);
    n->r[n->n++] = (reeli_cprange){lo, hi};
}

/* Sorts and merges the ranges, and drops surrogates (no UTF-8 form). */
void reeli_cpset_normalize(reeli_cpset *n)
{
    if (n->n > 1) qsort(n->r, (size_t)n->n, sizeof *n->r, cmp_range);
    reeli_cprange *out = reel_xmalloc((size_t)(n->n * 2 + 1) * sizeof *out);
    int k = 0;
    for (int i = 0; i < n->n; i++) {
        if (k && n->r[i].lo <= out[k - 1].hi + 1) {
            if (n->r[i].hi > out[k - 1].hi) out[k - 1].hi = n->r[i].hi;
        } else {
            out[k++] = n->r[i];
        }
    }
    int m = 0;
    reeli_cprange *fin = reel_xmalloc((size_t)(k * 2 + 1) * sizeof *fin);
    for (int i = 0; i < k; i++) {
        reeli_cprange x = out[i];
        if (x.hi < 0xD800 || x.lo > 0xDFFF) {
            fin[m++] = x;
            continue;
        }
        if (x.lo < 0xD800) fin[m++] = (reeli_cprange){x.lo, 0xD7FF};
        if (x.hi > 0xDFFF) fin[m++] = (reeli_cprange){0xE000, x.hi};
    }
    free(out);
    free(n->r);
    n->r = fin;
    n->n = m;
}

void reeli_cpset_negate(reeli_cpset *n)
{
    reeli_cpset_normalize(n);
    reeli_cprange *out = reel_xmalloc((size_t)(n->n + 1) * sizeof *out);
    int k = 0;
    uint32_t next = 0;
    for (int i = 0; i < n->n; i++) {
        if (n->r[i].lo > next) out[k++] = (reeli_cprange){next, n->r[i].lo - 1};
        next = n->r[i].hi + 1;
    }
    if (next <= 0x10FFFF) out[k++] = (reeli_cprange){next, 0x10FFFF};
    free(n->r);
    n->r = out;
    n->n = k;
    reeli_cpset_normalize(n);
}

static const reeli_cprange SPACE[] = {
    {9, 13},          {32, 32},         {0xA0, 0xA0},     {0x1680, 0x1680}, {0x2000, 0x200A},
    {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};

/* Adds class escape c (d w s, upper case negated) to n; 0 if c is not one. */
int reeli_cpset_add_class(reeli_cpset *n, char c)
{
    reeli_cpset tmp = {0};
    switch (c | 0x20) {
    case 'd':
        reeli_cpset_add(&tmp, '0', '9');
        break;
    case 'w':
        reeli_cpset_add(&tmp, '0', '9');
        reeli_cpset_add(&tmp, 'A', 'Z');
        reeli_cpset_add(&tmp, '_', '_');
        reeli_cpset_add(&tmp, 'a', 'z');
        break;
    case 's':
        for (size_t i = 0; i < sizeof SPACE / sizeof *SPACE; i++)
            reeli_cpset_add(&tmp, SPACE[i].lo, SPACE[i].hi);
        break;
    default:
        return 0;
    }
    if (c >= 'A' && c <= 'Z') reeli_cpset_negate(&tmp);
    for (int i = 0; i < tmp.n; i++) reeli_cpset_add(n, tmp.r[i].lo, tmp.r[i].hi);
    free(tmp.r);
    return 1;
}

static void emit_cp(reel_strbuf *b, uint32_t c)
{
    if (c < 0x100)
        reel_strbuf_printf(b, "\\x%02X", (unsigned)c);
    else if (c < 0x10000)
        reel_strbuf_printf(b, "\\u%04X", (unsigned)c);
    else
        reel_strbuf_printf(b, "\\U%08X", (unsigned)c);
}

/* The JSON text of a character that JSON must escape. */
static void emit_escaped(reel_strbuf *b, uint32_t c)
{
    static const char short_esc[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                     ['\t'] = 't', ['"'] = '"',  ['\\'] = '\\'};
    if (c < sizeof short_esc && short_esc[c]) {
        reel_strbuf_printf(b, "\"\\\\%s%c\"",
                           short_esc[c] == '"' || short_esc[c] == '\\' ? "\\" : "", short_esc[c]);
        return;
    }
    /* \u00XX, hex digits in either case */
    reel_strbuf_printf(b, "\"\\\\u00%X\" ", c >> 4);
    unsigned lo = c & 15;
    if (lo < 10)
        reel_strbuf_printf(b, "\"%u\"", lo);
    else
        reel_strbuf_printf(b, "[%c%c]", 'a' + lo - 10, 'A' + lo - 10);
}

void reeli_cpset_gbnf(reel_strbuf *b, const reeli_cpset *n)
{
    reel_strbuf raw = {0};
    int alts = 0;
    reel_strbuf_str(b, "(");
    for (int i = 0; i < n->n; i++) {
        uint32_t lo = n->r[i].lo, hi = n->r[i].hi;
        for (uint32_t c = lo; c <= hi && c < 0x20; c++) {
            if (alts++) reel_strbuf_str(b, " | ");
            emit_escaped(b, c);
        }
        if (lo < 0x20) lo = 0x20;
        /* '"' and '\\' inside [lo, hi] are written escaped, the rest raw */
        static const uint32_t special[] = {'"', '\\'};
        for (int s = 0; s < 2 && lo <= hi; s++) {
            if (special[s] < lo || special[s] > hi) continue;
            if (alts++) reel_strbuf_str(b, " | ");
            emit_escaped(b, special[s]);
            if (special[s] > lo) {
                emit_cp(&raw, lo);
                reel_strbuf_str(&raw, "-");
                emit_cp(&raw, special[s] - 1);
            }
            lo = special[s] + 1;
        }
        if (lo <= hi) {
            emit_cp(&raw, lo);
            if (hi > lo) {
                reel_strbuf_str(&raw, "-");
                emit_cp(&raw, hi);
            }
        }
    }
    if (raw.n) {
        if (alts++) reel_strbuf_str(b, " | ");
        reel_strbuf_printf(b, "[%s]", raw.p);
    }
    free(raw.p);
    reel_strbuf_str(b, ")");
}
