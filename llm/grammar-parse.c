/* GBNF grammar text compiled into the flat element array of grammar-impl.h: rules parsed,
 * character classes turned into UTF-8 byte sequences, repetitions desugared, and undefined
 * rules and left recursion refused. */
#include "llm/grammar-impl.h"

#include <stdatomic.h>

static _Atomic uint64_t next_grammar_id = 1;

typedef struct {
    elem *v;
    int n, cap;
} elemvec;

static void ev_push(elemvec *e, int type, uint32_t value)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = reel_xrealloc(e->v, (size_t)e->cap * sizeof *e->v);
    }
    e->v[e->n].type = (uint32_t)type;
    e->v[e->n].value = value;
    e->n++;
}

typedef struct {
    char *name;
    elemvec body; /* alternatives separated by ALT, terminated by END */
    int defined;
    int used_line, used_col;
} prule;

typedef struct {
    const char *text, *p, *where;
    prule *rules;
    int n_rules, cap_rules;
    byteset *sets;
    int n_sets, cap_sets;
    repeat *reps;
    int n_reps, cap_reps;
    int gen; /* counter for generated rule names */
    int failed;
    int depth;
} parser;

static void position(const parser *ps, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *q = ps->text; q < at && *q; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int perr(parser *ps, const char *at, const char *what)
{
    if (ps->failed) return -1;
    int line, col;
    position(ps, at, &line, &col);
    reel_set_error(REEL_EFORMAT, "%s:%d:%d: %s", ps->where, line, col, what);
    ps->failed = 1;
    return -1;
}

static int find_rule(parser *ps, const char *name, size_t len)
{
    for (int i = 0; i < ps->n_rules; i++)
        if (strlen(ps->rules[i].name) == len && memcmp(ps->rules[i].name, name, len) == 0) return i;
    if (ps->n_rules == ps->cap_rules) {
        ps->cap_rules = ps->cap_rules ? ps->cap_rules * 2 : 32;
        ps->rules = reel_xrealloc(ps->rules, (size_t)ps->cap_rules * sizeof *ps->rules);
    }
    prule *r = &ps->rules[ps->n_rules];
    memset(r, 0, sizeof *r);
    r->name = reel_xmalloc(len + 1);
    memcpy(r->name, name, len);
    r->name[len] = '\0';
    return ps->n_rules++;
}

static int new_rule(parser *ps, const char *base)
{
    char name[96];
    snprintf(name, sizeof name, "%.60s-%d", base, ps->gen++);
    int id = find_rule(ps, name, strlen(name));
    ps->rules[id].defined = 1;
    return id;
}

static uint32_t add_set(parser *ps, const byteset *s)
{
    for (int i = 0; i < ps->n_sets; i++)
        if (memcmp(&ps->sets[i], s, sizeof *s) == 0) return (uint32_t)i;
    if (ps->n_sets == ps->cap_sets) {
        ps->cap_sets = ps->cap_sets ? ps->cap_sets * 2 : 32;
        ps->sets = reel_xrealloc(ps->sets, (size_t)ps->cap_sets * sizeof *ps->sets);
    }
    ps->sets[ps->n_sets] = *s;
    return (uint32_t)ps->n_sets++;
}

static uint32_t byte_range_set(parser *ps, unsigned lo, unsigned hi)
{
    byteset s;
    memset(&s, 0, sizeof s);
    for (unsigned b = lo; b <= hi; b++) s.bits[b >> 3] |= (uint8_t)(1u << (b & 7));
    return add_set(ps, &s);
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Skips blanks and comments; newlines only when newline_ok. */
static void skip_space(parser *ps, int newline_ok)
{
    for (;;) {
        char c = *ps->p;
        if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) {
            ps->p++;
        } else if (c == '#') {
            while (*ps->p && *ps->p != '\n') ps->p++;
        } else {
            return;
        }
    }
}

static int utf8_decode(const char **pp, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)*pp;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!n) return -1;
    if (n == 1) {
        *cp = c;
        *pp += 1;
        return 0;
    }
    c &= 0x7Fu >> n;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    *pp += n;
    return 0;
}

static int hexdig(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One character of a literal or class, with escapes. */
static int parse_char(parser *ps, uint32_t *cp)
{
    const char *at = ps->p;
    if (*ps->p == '\\') {
        char e = ps->p[1];
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            for (int i = 0; i < digits; i++) {
                int d = hexdig(ps->p[2 + i]);
                if (d < 0) return perr(ps, at, "bad hex escape");
                v = v * 16 + (uint32_t)d;
            }
            if (v > 0x10FFFF) return perr(ps, at, "code point out of range");
            ps->p += 2 + digits;
            *cp = v;
            return 0;
        }
        switch (e) {
        case 'n':
            *cp = '\n';
            break;
        case 'r':
            *cp = '\r';
            break;
        case 't':
            *cp = '\t';
            break;
        case '\\':
            *cp = '\\';
            break;
        case '"':
            *cp = '"';
            break;
        case '\'':
            *cp = '\'';
            break;
        case '[':
            *cp = '[';
            break;
        case ']':
            *cp = ']';
            break;
        case '-':
            *cp = '-';
            break;
        case '^':
            *cp = '^';
            break;
        case '/':
            *cp = '/';
            break;
        default:
            return perr(ps, at, "unknown escape");
        }
        ps->p += 2;
        return 0;
    }
    if (!*ps->p) return perr(ps, at, "unexpected end of grammar");
    if (utf8_decode(&ps->p, cp) < 0) return perr(ps, at, "invalid UTF-8 in grammar");
    return 0;
}

/* ---- code point ranges to UTF-8 byte sequences ---- */

typedef struct {
    uint32_t lo, hi;
} cprange;

static int utf8_encode(uint32_t c, uint8_t *out)
{
    if (c < 0x80) {
        out[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (uint8_t)(0xC0 | (c >> 6));
        out[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (c >> 12));
        out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (c >> 18));
    out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* Emits byte-range sequences for [lo, hi] (same encoded length, no surrogates) as alternatives
 * of rule body `body`; ASCII ranges are collected into `ascii` instead. */
static void emit_utf8(parser *ps, uint32_t lo, uint32_t hi, elemvec *body, byteset *ascii,
                      int *n_alts)
{
    static const uint32_t limits[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    for (int i = 0; i < 3; i++) {
        if (lo <= limits[i] && hi > limits[i]) {
            emit_utf8(ps, lo, limits[i], body, ascii, n_alts);
            emit_utf8(ps, limits[i] + 1, hi, body, ascii, n_alts);
            return;
        }
    }
    if (hi < 0x80) {
        for (uint32_t b = lo; b <= hi; b++) ascii->bits[b >> 3] |= (uint8_t)(1u << (b & 7));
        return;
    }
    for (int i = 1; i < 4; i++) {
        uint32_t m = (1u << (6 * i)) - 1;
        if ((lo & ~m) != (hi & ~m)) {
            if ((lo & m) != 0) {
                emit_utf8(ps, lo, lo | m, body, ascii, n_alts);
                emit_utf8(ps, (lo | m) + 1, hi, body, ascii, n_alts);
                return;
            }
            if ((hi & m) != m) {
                emit_utf8(ps, lo, (hi & ~m) - 1, body, ascii, n_alts);
                emit_utf8(ps, hi & ~m, hi, body, ascii, n_alts);
                return;
            }
        }
    }
    uint8_t a[4], b[4];
    int n = utf8_encode(lo, a);
    utf8_encode(hi, b);
    if ((*n_alts)++) ev_push(body, E_ALT, 0);
    for (int k = 0; k < n; k++) ev_push(body, E_SET, byte_range_set(ps, a[k], b[k]));
}

static int cmp_range(const void *x, const void *y)
{
    const cprange *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Appends to seq an element matching one code point in the given ranges. */
static void push_class(parser *ps, elemvec *seq, cprange *r, int n, int negate)
{
    /* normalise: sort, merge, remove surrogates, negate */
    if (n > 0) qsort(r, (size_t)n, sizeof *r, cmp_range);
    cprange *m = reel_xmalloc(((size_t)n * 2 + 4) * sizeof *m);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (k && r[i].lo <= m[k - 1].hi + 1) {
            if (r[i].hi > m[k - 1].hi) m[k - 1].hi = r[i].hi;
        } else {
            m[k++] = r[i];
        }
    }
    if (negate) {
        cprange *neg = reel_xmalloc(((size_t)k + 2) * sizeof *neg);
        int j = 0;
        uint32_t next = 0;
        for (int i = 0; i < k; i++) {
            if (m[i].lo > next) neg[j++] = (cprange){next, m[i].lo - 1};
            next = m[i].hi + 1;
        }
        if (next <= 0x10FFFF) neg[j++] = (cprange){next, 0x10FFFF};
        free(m);
        m = neg;
        k = j;
        m = reel_xrealloc(m, ((size_t)k * 2 + 4) * sizeof *m);
    }
    /* split out the surrogate block, which UTF-8 cannot encode */
    int k2 = 0;
    cprange *s = reel_xmalloc(((size_t)k * 2 + 4) * sizeof *s);
    for (int i = 0; i < k; i++) {
        uint32_t lo = m[i].lo, hi = m[i].hi;
        if (lo < 0xD800 && hi >= 0xD800) {
            s[k2++] = (cprange){lo, 0xD7FF};
            lo = 0xE000;
        } else if (lo >= 0xD800 && lo <= 0xDFFF) {
            lo = 0xE000;
        }
        if (hi > 0x10FFFF) hi = 0x10FFFF;
        if (lo <= hi && !(hi >= 0xD800 && hi <= 0xDFFF && lo >= 0xD800))
            s[k2++] = (cprange){lo, hi};
    }
    free(m);
    elemvec body = {0};
    byteset ascii;
    memset(&ascii, 0, sizeof ascii);
    int n_alts = 0;
    for (int i = 0; i < k2; i++) emit_utf8(ps, s[i].lo, s[i].hi, &body, &ascii, &n_alts);
    free(s);
    int has_ascii = 0;
    for (int i = 0; i < 32; i++) has_ascii |= ascii.bits[i];
    if (n_alts == 0) {
        /* ASCII only (or empty): one inline set */
        ev_push(seq, E_SET, add_set(ps, &ascii));
        free(body.v);
        return;
    }
    int id = new_rule(ps, "class");
    prule *r2 = &ps->rules[id];
    if (has_ascii) {
        ev_push(&r2->body, E_SET, add_set(ps, &ascii));
        ev_push(&r2->body, E_ALT, 0);
    }
    for (int i = 0; i < body.n; i++) ev_push(&r2->body, (int)body.v[i].type, body.v[i].value);
    ev_push(&r2->body, E_END, 0);
    free(body.v);
    ev_push(seq, E_REF, (uint32_t)id);
}

static int parse_alternates(parser *ps, elemvec *out, const char *rule_name, int nested);

/* Wraps elements [from, seq->n) into a new rule and returns its id (for repetition). */
static int wrap_item(parser *ps, elemvec *seq, int from, const char *base)
{
    int id = new_rule(ps, base);
    for (int i = from; i < seq->n; i++)
        ev_push(&ps->rules[id].body, (int)seq->v[i].type, seq->v[i].value);
    ev_push(&ps->rules[id].body, E_END, 0);
    seq->n = from;
    return id;
}

/* x* as a right-recursive rule: star ::= x star | (empty) */
static int star_rule(parser *ps, int item, const char *base)
{
    int id = new_rule(ps, base);
    elemvec *b = &ps->rules[id].body;
    ev_push(b, E_REF, (uint32_t)item);
    ev_push(b, E_REF, (uint32_t)id);
    ev_push(b, E_ALT, 0);
    ev_push(b, E_END, 0);
    return id;
}

/* x? : opt ::= x | (empty) */
static int opt_rule(parser *ps, int item, const char *base)
{
    int id = new_rule(ps, base);
    elemvec *b = &ps->rules[id].body;
    ev_push(b, E_REF, (uint32_t)item);
    ev_push(b, E_ALT, 0);
    ev_push(b, E_END, 0);
    return id;
}

/* x{0,n} as nested optionals: (x (x (x)?)?)? keeps the parse unambiguous. Used for a nullable
 * x, where a counted repeat could spin on empty repetitions. */
static int opt_chain(parser *ps, int item, long n, const char *base)
{
    int tail = opt_rule(ps, item, base);
    for (long i = 1; i < n; i++) {
        int id = new_rule(ps, base);
        elemvec *b = &ps->rules[id].body;
        ev_push(b, E_REF, (uint32_t)item);
        ev_push(b, E_REF, (uint32_t)tail);
        ev_push(b, E_ALT, 0);
        ev_push(b, E_END, 0);
        tail = id;
    }
    return tail;
}

static uint32_t add_repeat(parser *ps, int item, long max)
{
    if (ps->n_reps == ps->cap_reps) {
        ps->cap_reps = ps->cap_reps ? ps->cap_reps * 2 : 8;
        ps->reps = reel_xrealloc(ps->reps, (size_t)ps->cap_reps * sizeof *ps->reps);
    }
    ps->reps[ps->n_reps] = (repeat){item, (int)max};
    return (uint32_t)ps->n_reps++;
}

static int parse_int(parser *ps, long *v)
{
    if (*ps->p < '0' || *ps->p > '9') return -1;
    long x = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        x = x * 10 + (*ps->p - '0');
        if (x > 100000) return -1;
        ps->p++;
    }
    *v = x;
    return 0;
}

static int parse_sequence(parser *ps, elemvec *seq, const char *rule_name, int nested)
{
    for (;;) {
        const char *at = ps->p;
        int item_start = seq->n;
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            while (*ps->p != '"') {
                if (!*ps->p || *ps->p == '\n') return perr(ps, at, "unterminated literal");
                uint32_t cp;
                if (parse_char(ps, &cp) < 0) return -1;
                uint8_t bytes[4];
                int n = utf8_encode(cp, bytes);
                for (int i = 0; i < n; i++)
                    ev_push(seq, E_SET, byte_range_set(ps, bytes[i], bytes[i]));
            }
            ps->p++;
        } else if (c == '[') {
            ps->p++;
            int negate = 0;
            if (*ps->p == '^') {
                negate = 1;
                ps->p++;
            }
            cprange *r = NULL;
            int n = 0, cap = 0;
            while (*ps->p != ']') {
                if (!*ps->p || *ps->p == '\n') {
                    free(r);
                    return perr(ps, at, "unterminated character class");
                }
                uint32_t lo, hi;
                if (parse_char(ps, &lo) < 0) {
                    free(r);
                    return -1;
                }
                hi = lo;
                if (ps->p[0] == '-' && ps->p[1] != ']' && ps->p[1] && ps->p[1] != '\n') {
                    ps->p++;
                    if (parse_char(ps, &hi) < 0) {
                        free(r);
                        return -1;
                    }
                    if (hi < lo) {
                        free(r);
                        return perr(ps, at, "character range is reversed");
                    }
                }
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    r = reel_xrealloc(r, (size_t)cap * sizeof *r);
                }
                r[n++] = (cprange){lo, hi};
            }
            ps->p++;
            push_class(ps, seq, r, n, negate);
            free(r);
        } else if (c == '.') {
            ps->p++;
            cprange all = {0, 0x10FFFF};
            push_class(ps, seq, &all, 1, 0);
        } else if (is_name_char(c)) {
            const char *s = ps->p;
            while (is_name_char(*ps->p)) ps->p++;
            int id = find_rule(ps, s, (size_t)(ps->p - s));
            if (!ps->rules[id].used_line)
                position(ps, s, &ps->rules[id].used_line, &ps->rules[id].used_col);
            ev_push(seq, E_REF, (uint32_t)id);
        } else if (c == '(') {
            ps->p++;
            if (++ps->depth > 200) return perr(ps, at, "groups nested too deeply");
            int id = new_rule(ps, rule_name);
            skip_space(ps, 1);
            /* parse into a local vector: nested groups add rules and move ps->rules */
            elemvec body = {0};
            int rc = parse_alternates(ps, &body, rule_name, 1);
            ps->rules[id].body = body;
            if (rc < 0) return -1;
            ps->depth--;
            if (*ps->p != ')') return perr(ps, ps->p, "expected ')'");
            ps->p++;
            ev_push(seq, E_REF, (uint32_t)id);
        } else {
            return 0; /* end of sequence */
        }
        skip_space(ps, nested);
        /* repetition operators apply to the item just parsed */
        for (;;) {
            char op = *ps->p;
            if (op != '*' && op != '+' && op != '?' && op != '{') break;
            const char *opat = ps->p;
            ps->p++;
            int item = seq->n - item_start == 1 && seq->v[item_start].type == E_REF
                           ? (int)seq->v[item_start].value
                           : wrap_item(ps, seq, item_start, rule_name);
            seq->n = item_start;
            if (op == '*') {
                ev_push(seq, E_REF, (uint32_t)star_rule(ps, item, rule_name));
            } else if (op == '+') {
                ev_push(seq, E_REF, (uint32_t)item);
                ev_push(seq, E_REF, (uint32_t)star_rule(ps, item, rule_name));
            } else if (op == '?') {
                ev_push(seq, E_REF, (uint32_t)opt_rule(ps, item, rule_name));
            } else {
                long m, n = -1;
                skip_space(ps, 0);
                if (parse_int(ps, &m) < 0) return perr(ps, opat, "expected a count in {m,n}");
                skip_space(ps, 0);
                if (*ps->p == ',') {
                    ps->p++;
                    skip_space(ps, 0);
                    if (*ps->p != '}' && parse_int(ps, &n) < 0)
                        return perr(ps, opat, "expected a count in {m,n}");
                    skip_space(ps, 0);
                } else {
                    n = m;
                }
                if (*ps->p != '}') return perr(ps, opat, "expected '}'");
                ps->p++;
                if (n >= 0 && n < m) return perr(ps, opat, "{m,n} with n < m");
                if (m > 10000 || n > 10000) return perr(ps, opat, "repetition count too large");
                for (long i = 0; i < m; i++) ev_push(seq, E_REF, (uint32_t)item);
                if (n < 0) {
                    ev_push(seq, E_REF, (uint32_t)star_rule(ps, item, rule_name));
                } else if (n > m) {
                    /* a counted repeat: one element whose stack entry counts, so every
                     * position in x{0,n} shares the same grammar positions */
                    ev_push(seq, E_REP, add_repeat(ps, item, n - m));
                }
            }
            /* a further operator applies to all this one produced (possibly nothing: x{0}) */
            skip_space(ps, nested);
        }
    }
}

static int parse_alternates(parser *ps, elemvec *out, const char *rule_name, int nested)
{
    if (parse_sequence(ps, out, rule_name, nested) < 0) return -1;
    while (*ps->p == '|') {
        ps->p++;
        ev_push(out, E_ALT, 0);
        skip_space(ps, 1);
        if (parse_sequence(ps, out, rule_name, nested) < 0) return -1;
    }
    ev_push(out, E_END, 0);
    return 0;
}

static int parse_rule(parser *ps)
{
    const char *at = ps->p;
    const char *s = ps->p;
    while (is_name_char(*ps->p)) ps->p++;
    if (ps->p == s) return perr(ps, at, "expected a rule name");
    int id = find_rule(ps, s, (size_t)(ps->p - s));
    if (ps->rules[id].defined) return perr(ps, at, "rule defined twice");
    ps->rules[id].defined = 1;
    char *name = reel_xstrdup(ps->rules[id].name);
    skip_space(ps, 0);
    if (strncmp(ps->p, "::=", 3) != 0) {
        free(name);
        return perr(ps, ps->p, "expected '::='");
    }
    ps->p += 3;
    skip_space(ps, 1);
    elemvec body = {0};
    int rc = parse_alternates(ps, &body, name, 0);
    free(name);
    ps->rules[id].body = body; /* rules may have been reallocated while parsing */
    if (rc < 0) return -1;
    if (*ps->p && *ps->p != '\n' && *ps->p != '\r')
        return perr(ps, ps->p, "unexpected character (expected end of rule)");
    return 0;
}

/* ---- checks: undefined rules, left recursion ---- */

/* Which rules can match the empty string (a counted repeat x{0,n} always can). */
static char *compute_nullable(parser *ps)
{
    int n = ps->n_rules;
    char *nullable = reel_xcalloc((size_t)(n ? n : 1), 1);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int r = 0; r < n; r++) {
            if (nullable[r]) continue;
            elemvec *b = &ps->rules[r].body;
            int all = 1;
            for (int i = 0; i < b->n; i++) {
                int t = (int)b->v[i].type;
                if (t == E_ALT || t == E_END) {
                    if (all) {
                        nullable[r] = 1;
                        changed = 1;
                        break;
                    }
                    all = 1;
                } else if (t == E_SET || (t == E_REF && !nullable[b->v[i].value])) {
                    all = 0;
                }
            }
        }
    }
    return nullable;
}

/* Replaces each counted repeat of a nullable item by nested optionals (an empty repetition
 * would let the counter run without consuming input). */
static void desugar_nullable_repeats(parser *ps)
{
    char *nullable = compute_nullable(ps);
    int n = ps->n_rules; /* rules added below hold no REP */
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < ps->rules[r].body.n; i++) {
            elem e = ps->rules[r].body.v[i];
            if (e.type != E_REP || !nullable[ps->reps[e.value].item]) continue;
            int id =
                opt_chain(ps, ps->reps[e.value].item, ps->reps[e.value].max, ps->rules[r].name);
            ps->rules[r].body.v[i].type = E_REF; /* ps->rules may have moved: index again */
            ps->rules[r].body.v[i].value = (uint32_t)id;
        }
    }
    free(nullable);
}

static int check_left_recursion(parser *ps)
{
    int n = ps->n_rules;
    char *nullable = compute_nullable(ps);
    /* left edges r -> s; DFS for a cycle */
    char *color = reel_xcalloc((size_t)n, 1);
    int *stack = reel_xmalloc((size_t)n * 2 * sizeof *stack);
    int rc = 0;
    for (int start = 0; start < n && rc == 0; start++) {
        if (color[start]) continue;
        /* iterative DFS: stack of (rule, element index) */
        int sp = 0;
        stack[sp++] = start;
        stack[sp++] = 0;
        color[start] = 1;
        while (sp > 0 && rc == 0) {
            int r = stack[sp - 2], i = stack[sp - 1];
            elemvec *b = &ps->rules[r].body;
            int next = -1;
            /* find next left edge from element i */
            int at_start = 1;
            for (int k = 0; k < i; k++) {
                int t = (int)b->v[k].type;
                if (t == E_ALT)
                    at_start = 1;
                else if (t == E_SET || (t == E_REF && !nullable[b->v[k].value]))
                    at_start = 0;
                /* a REP is nullable: it never ends the left edge run */
            }
            for (; i < b->n; i++) {
                int t = (int)b->v[i].type;
                if (t == E_ALT) {
                    at_start = 1;
                    continue;
                }
                if (t == E_END) break;
                if (at_start && (t == E_REF || t == E_REP)) {
                    next = t == E_REF ? (int)b->v[i].value : ps->reps[b->v[i].value].item;
                    i++;
                    break;
                }
                if (t == E_SET || (t == E_REF && !nullable[b->v[i].value])) at_start = 0;
            }
            stack[sp - 1] = i;
            if (next < 0) {
                color[r] = 2;
                sp -= 2;
            } else if (color[next] == 1) {
                rc = reel_set_error(REEL_EFORMAT, "%s: left recursion through rule '%s'", ps->where,
                                    ps->rules[next].name);
            } else if (color[next] == 0) {
                color[next] = 1;
                stack[sp++] = next;
                stack[sp++] = 0;
            }
        }
    }
    free(stack);
    free(color);
    free(nullable);
    return rc;
}

reel_grammar *reel_grammar_compile(const char *text, const char *where)
{
    parser ps = {0};
    ps.text = ps.p = text;
    ps.where = where ? where : "grammar";
    reel_grammar *g = NULL;
    for (;;) {
        skip_space(&ps, 1);
        if (!*ps.p) break;
        if (parse_rule(&ps) < 0) goto done;
    }
    int root = -1;
    for (int i = 0; i < ps.n_rules; i++) {
        if (!ps.rules[i].defined) {
            reel_set_error(REEL_EFORMAT, "%s:%d:%d: undefined rule '%s'", ps.where,
                           ps.rules[i].used_line, ps.rules[i].used_col, ps.rules[i].name);
            goto done;
        }
        if (strcmp(ps.rules[i].name, "root") == 0) root = i;
    }
    if (root < 0) {
        reel_set_error(REEL_EFORMAT, "%s: no 'root' rule", ps.where);
        goto done;
    }
    desugar_nullable_repeats(&ps);
    if (check_left_recursion(&ps) < 0) goto done;

    long total = 0;
    for (int i = 0; i < ps.n_rules; i++) total += ps.rules[i].body.n;
    if (total > MAX_ELEMS) {
        reel_set_error(REEL_EFORMAT,
                       "%s: grammar too large (%ld elements after expansion, at most %d)", ps.where,
                       total, MAX_ELEMS);
        goto done;
    }
    g = reel_xcalloc(1, sizeof *g);
    g->n_rules = ps.n_rules;
    g->rule_start = reel_xmalloc((size_t)ps.n_rules * sizeof *g->rule_start);
    g->rule_names = reel_xmalloc((size_t)ps.n_rules * sizeof *g->rule_names);
    g->el = reel_xmalloc((size_t)total * sizeof *g->el);
    for (int i = 0; i < ps.n_rules; i++) {
        g->rule_start[i] = g->n_el;
        memcpy(g->el + g->n_el, ps.rules[i].body.v, (size_t)ps.rules[i].body.n * sizeof *g->el);
        g->n_el += ps.rules[i].body.n;
        g->rule_names[i] = ps.rules[i].name;
        ps.rules[i].name = NULL;
    }
    g->sets = ps.sets;
    g->n_sets = ps.n_sets;
    ps.sets = NULL;
    g->reps = ps.reps;
    g->n_reps = ps.n_reps;
    ps.reps = NULL;
    g->root = root;
    g->id = next_grammar_id++;
done:
    for (int i = 0; i < ps.n_rules; i++) {
        free(ps.rules[i].name);
        free(ps.rules[i].body.v);
    }
    free(ps.rules);
    free(ps.sets);
    free(ps.reps);
    return g;
}

void reel_grammar_free(reel_grammar *g)
{
    if (!g) return;
    for (int i = 0; i < g->n_rules; i++) free(g->rule_names[i]);
    free(g->rule_names);
    free(g->rule_start);
    free(g->el);
    free(g->sets);
    free(g->reps);
    free(g);
}

int reel_grammar_n_rules(const reel_grammar *g)
{
    return g->n_rules;
}
