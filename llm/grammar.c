/* GBNF grammars compiled to a byte-level pushdown automaton, and token masks over a trie.
 *
 * Compiled form: every rule is a run of elements in one flat array:
 *     alt1 elements, ALT, alt2 elements, ..., END
 * An element is a rule reference (REF) or a byte set (SET: one byte out of a 256-bit set).
 * Character classes over code points become helper rules whose alternatives are UTF-8 byte
 * sequences, so the automaton reads bytes. Repetitions are desugared into right-recursive
 * helper rules (x* ::= x x* | empty), which run in constant stack depth; a bounded x{m,n}
 * becomes m references and one counted repeat element (REP) for the optional rest, whose stack
 * entry carries the number of repetitions started, so all positions inside x{0,n} share grammar
 * positions (what the mask caches key on).
 *
 * A parse state is a set of stacks of positions in the element array. The top of every stored
 * stack is a SET (the next byte it can take) or the stack is empty (the input so far is a
 * complete sentence). Feeding a byte keeps the stacks whose top set contains it, moves them one
 * element on and expands rule references at the top until every top is a SET again.
 *
 * Token masks (reel_grammar_mask) are exact and cached at three levels: whole states; per
 * stack, the walk of its top k entries alone (key: those entries, repeat counts clamped to the
 * longest token) with the trie nodes where they were used up, below which the rest of the stack
 * is walked; and a lazy DFA over canonical states that memoizes each (state, byte) step.
 */
#include "llm/grammar.h"
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { E_END = 0, E_ALT = 1, E_REF = 2, E_SET = 3, E_REP = 4 };

typedef struct {
    uint32_t type : 3;
    uint32_t value : 29; /* rule id (REF), set index (SET) or counted repeat index (REP) */
} elem;

/* A counted repeat x{0,max}: REP elements index these. x never matches the empty string (a
 * nullable x is desugared into nested optionals at compile time), so every repetition
 * consumes at least one byte. */
typedef struct {
    int item; /* rule id */
    int max;
} repeat;

/* A stack entry is an element position; a REP entry also carries how many repetitions have
 * started in its high bits. */
#define POS_BITS 18
#define POS_MASK ((1u << POS_BITS) - 1)
#define MAX_ELEMS ((int)POS_MASK)
#define ENTRY_POS(x) ((x) & POS_MASK)
#define ENTRY_DONE(x) ((x) >> POS_BITS)

typedef struct {
    uint8_t bits[32];
} byteset;

#define MAX_STACKS 8192 /* more possible parses than this: the grammar is too ambiguous */
#define MAX_DEPTH 4096  /* nesting deeper than this is refused */

struct reel_grammar {
    elem *el; /* all rules, flattened */
    int n_el;
    int *rule_start; /* [n_rules] index of the rule's first element */
    int n_rules;
    char **rule_names;
    byteset *sets;
    int n_sets;
    repeat *reps;
    int n_reps;
    int root;
    uint64_t id; /* unique per compiled grammar: keys the mask cache */
};

static _Atomic uint64_t next_grammar_id = 1;

static int set_has(const byteset *s, uint8_t b)
{
    return (s->bits[b >> 3] >> (b & 7)) & 1;
}

/* ======================================================================================== */
/* Parsing                                                                                  */
/* ======================================================================================== */

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
        if (strlen(ps->rules[i].name) == len && memcmp(ps->rules[i].name, name, len) == 0)
            return i;
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
        case 'n': *cp = '\n'; break;
        case 'r': *cp = '\r'; break;
        case 't': *cp = '\t'; break;
        case '\\': *cp = '\\'; break;
        case '"': *cp = '"'; break;
        case '\'': *cp = '\''; break;
        case '[': *cp = '['; break;
        case ']': *cp = ']'; break;
        case '-': *cp = '-'; break;
        case '^': *cp = '^'; break;
        case '/': *cp = '/'; break;
        default: return perr(ps, at, "unknown escape");
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
static void emit_utf8(parser *ps, uint32_t lo, uint32_t hi, elemvec *body, byteset *ascii, int *n_alts)
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
        if (lo <= hi && !(hi >= 0xD800 && hi <= 0xDFFF && lo >= 0xD800)) s[k2++] = (cprange){lo, hi};
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
                for (int i = 0; i < n; i++) ev_push(seq, E_SET, byte_range_set(ps, bytes[i], bytes[i]));
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
            if (!ps->rules[id].used_line) position(ps, s, &ps->rules[id].used_line, &ps->rules[id].used_col);
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
            int id = opt_chain(ps, ps->reps[e.value].item, ps->reps[e.value].max, ps->rules[r].name);
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
                if (t == E_ALT) at_start = 1;
                else if (t == E_SET || (t == E_REF && !nullable[b->v[k].value])) at_start = 0;
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
        reel_set_error(REEL_EFORMAT, "%s: grammar too large (%ld elements after expansion, at most %d)",
                       ps.where, total, MAX_ELEMS);
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

/* ======================================================================================== */
/* Runtime: sets of stacks                                                                  */
/* ======================================================================================== */

struct reel_grammar_state {
    const reel_grammar *g;
    uint32_t *data; /* stacks back to back */
    uint32_t *off;  /* [n + 1] start of each stack in data */
    int n, cap_n;
    size_t cap_data;
    /* dedupe table: indices+1 into the stacks, open addressing */
    int *table;
    int table_cap;
    int overflow; /* too many stacks or too deep: treated as a rejection */
    /* scratch while expanding into this state: the stacks already continued through an empty
     * match, so ambiguous empty derivations are followed once instead of exponentially often */
    struct reel_grammar_state *seen;
};

static uint64_t stack_hash(const uint32_t *s, int len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)len;
    for (int i = 0; i < len; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void ss_clear(reel_grammar_state *s)
{
    s->n = 0;
    if (!s->off) {
        s->cap_n = 16;
        s->off = reel_xmalloc((size_t)(s->cap_n + 1) * sizeof *s->off);
    }
    if (!s->data) {
        s->cap_data = 64;
        s->data = reel_xmalloc(s->cap_data * sizeof *s->data);
    }
    s->off[0] = 0;
    if (s->table) memset(s->table, 0, (size_t)s->table_cap * sizeof *s->table);
    s->overflow = 0;
    if (s->seen) ss_clear(s->seen);
}

static void table_rebuild(reel_grammar_state *s)
{
    s->table_cap = s->table_cap ? s->table_cap * 2 : 64;
    free(s->table);
    s->table = reel_xcalloc((size_t)s->table_cap, sizeof *s->table);
    for (int i = 0; i < s->n; i++) {
        int len = (int)(s->off[i + 1] - s->off[i]);
        uint64_t h = stack_hash(s->data + s->off[i], len) & (uint64_t)(s->table_cap - 1);
        while (s->table[h]) h = (h + 1) & (uint64_t)(s->table_cap - 1);
        s->table[h] = i + 1;
    }
}

/* Adds a stack unless already present: 1 if added (or the set has overflowed), 0 if present. */
static int ss_add(reel_grammar_state *s, const uint32_t *st, int len)
{
    if (s->overflow) return 1;
    if (s->n >= MAX_STACKS || len > MAX_DEPTH) {
        s->overflow = 1;
        return 1;
    }
    if ((s->n + 1) * 2 > s->table_cap) table_rebuild(s);
    uint64_t mask = (uint64_t)(s->table_cap - 1);
    uint64_t h = stack_hash(st, len) & mask;
    while (s->table[h]) {
        int j = s->table[h] - 1;
        int jl = (int)(s->off[j + 1] - s->off[j]);
        if (jl == len && memcmp(s->data + s->off[j], st, (size_t)len * sizeof *st) == 0) return 0;
        h = (h + 1) & mask;
    }
    if (s->n + 1 > s->cap_n) {
        s->cap_n *= 2;
        s->off = reel_xrealloc(s->off, (size_t)(s->cap_n + 1) * sizeof *s->off);
    }
    size_t need = s->off[s->n] + (size_t)len;
    if (need > s->cap_data) {
        s->cap_data = need * 2 + 64;
        s->data = reel_xrealloc(s->data, s->cap_data * sizeof *s->data);
    }
    memcpy(s->data + s->off[s->n], st, (size_t)len * sizeof *st);
    s->off[s->n + 1] = s->off[s->n] + (uint32_t)len;
    s->table[h] = ++s->n;
    return 1;
}

static void expand(reel_grammar_state *out, uint32_t *buf, int len);

/* 1 the first time the stack buf[0..len) is continued through an empty match while expanding
 * into out (expanding it again would add nothing new). */
static int first_empty_match(reel_grammar_state *out, const uint32_t *buf, int len)
{
    if (!out->seen) {
        out->seen = reel_xcalloc(1, sizeof *out->seen);
        ss_clear(out->seen);
    }
    out->seen->g = out->g;
    return ss_add(out->seen, buf, len);
}

/* Expands every alternative of rule `rule` on top of buf[0..base). */
static void expand_alts(reel_grammar_state *out, uint32_t *buf, int base, int rule)
{
    const reel_grammar *g = out->g;
    if (base + 1 > MAX_DEPTH) {
        out->overflow = 1;
        return;
    }
    uint32_t p = (uint32_t)g->rule_start[rule];
    for (;;) {
        elem first = g->el[p];
        if (first.type == E_END || first.type == E_ALT) {
            /* empty alternative: continue with what follows */
            if (first_empty_match(out, buf, base)) expand(out, buf, base);
        } else {
            buf[base] = p;
            expand(out, buf, base + 1);
        }
        while (g->el[p].type != E_ALT && g->el[p].type != E_END) p++;
        if (g->el[p].type == E_END) break;
        p++;
    }
}

/* Expands the top of the stack buf[0..len) until every top is a SET, adding the results to
 * out. buf is scratch with MAX_DEPTH + 2 slots; slots from len on are clobbered, and every call
 * restores buf[0..len) before it returns (so callers can keep using their prefix). */
static void expand(reel_grammar_state *out, uint32_t *buf, int len)
{
    const reel_grammar *g = out->g;
    if (out->overflow) return;
    if (len == 0) {
        ss_add(out, buf, 0);
        return;
    }
    uint32_t top = buf[len - 1], pos = ENTRY_POS(top);
    elem e = g->el[pos];
    if (e.type == E_SET) {
        ss_add(out, buf, len);
        return;
    }
    elem after = g->el[pos + 1];
    int has_after = after.type != E_END && after.type != E_ALT;
    if (e.type == E_REP) {
        const repeat *r = &g->reps[e.value];
        uint32_t done = ENTRY_DONE(top);
        /* stop repeating: continue with what follows */
        if (has_after) {
            buf[len - 1] = pos + 1;
            if (first_empty_match(out, buf, len)) expand(out, buf, len);
        } else if (first_empty_match(out, buf, len - 1)) {
            expand(out, buf, len - 1);
        }
        /* one more repetition, with this entry counting it underneath */
        if (done < (uint32_t)r->max) {
            buf[len - 1] = pos | ((done + 1) << POS_BITS);
            expand_alts(out, buf, len, r->item);
        }
        buf[len - 1] = top;
        return;
    }
    REEL_ASSERT(e.type == E_REF);
    /* continuation: the element after the reference, unless the alternative ends there */
    int base = len - 1;
    if (has_after) buf[base++] = pos + 1;
    expand_alts(out, buf, base, (int)e.value);
    buf[len - 1] = top;
}

static uint32_t *scratch_buf(void)
{
    static _Thread_local uint32_t buf[MAX_DEPTH + 2];
    return buf;
}

reel_grammar_state *reel_grammar_state_init(const reel_grammar *g)
{
    reel_grammar_state *s = reel_xcalloc(1, sizeof *s);
    s->g = g;
    ss_clear(s);
    /* a virtual reference to root: expand each root alternative */
    expand_alts(s, scratch_buf(), 0, g->root);
    return s;
}

void reel_grammar_state_copy(reel_grammar_state *dst, const reel_grammar_state *src)
{
    dst->g = src->g;
    if (dst->cap_n < src->n) {
        dst->cap_n = src->n;
        dst->off = reel_xrealloc(dst->off, (size_t)(dst->cap_n + 1) * sizeof *dst->off);
    }
    size_t nd = src->off[src->n];
    if (dst->cap_data < nd) {
        dst->cap_data = nd;
        dst->data = reel_xrealloc(dst->data, nd * sizeof *dst->data);
    }
    memcpy(dst->off, src->off, (size_t)(src->n + 1) * sizeof *dst->off);
    if (nd) memcpy(dst->data, src->data, nd * sizeof *dst->data);
    dst->n = src->n;
    dst->overflow = src->overflow;
    /* the dedupe table is rebuilt lazily by the next advance */
    free(dst->table);
    dst->table = NULL;
    dst->table_cap = 0;
}

reel_grammar_state *reel_grammar_state_clone(const reel_grammar_state *src)
{
    reel_grammar_state *s = reel_xcalloc(1, sizeof *s);
    ss_clear(s);
    reel_grammar_state_copy(s, src);
    return s;
}

void reel_grammar_state_free(reel_grammar_state *s)
{
    if (!s) return;
    reel_grammar_state_free(s->seen);
    free(s->data);
    free(s->off);
    free(s->table);
    free(s);
}

/* out = in advanced by one byte. out must be a different state. */
static void advance_byte(reel_grammar_state *out, const reel_grammar_state *in, uint8_t b)
{
    const reel_grammar *g = in->g;
    out->g = g;
    ss_clear(out);
    uint32_t *buf = scratch_buf();
    for (int i = 0; i < in->n; i++) {
        int len = (int)(in->off[i + 1] - in->off[i]);
        if (len == 0) continue;
        const uint32_t *st = in->data + in->off[i];
        uint32_t top = st[len - 1];
        if (!set_has(&g->sets[g->el[top].value], b)) continue;
        memcpy(buf, st, (size_t)(len - 1) * sizeof *buf);
        int nl = len - 1;
        elem after = g->el[top + 1];
        if (after.type != E_END && after.type != E_ALT) buf[nl++] = top + 1;
        expand(out, buf, nl);
    }
    if (out->overflow) out->n = 0;
}

int reel_grammar_state_advance(reel_grammar_state *s, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    reel_grammar_state *a = reel_grammar_state_clone(s), *b = reel_grammar_state_clone(s);
    for (size_t i = 0; i < n; i++) {
        advance_byte(b, a, p[i]);
        if (b->n == 0) {
            reel_grammar_state_free(a);
            reel_grammar_state_free(b);
            return REEL_EINVAL;
        }
        reel_grammar_state *t = a;
        a = b;
        b = t;
    }
    reel_grammar_state_copy(s, a);
    reel_grammar_state_free(a);
    reel_grammar_state_free(b);
    return 0;
}

int reel_grammar_state_accepting(const reel_grammar_state *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->off[i + 1] == s->off[i]) return 1;
    return 0;
}

const reel_grammar *reel_grammar_state_grammar(const reel_grammar_state *s)
{
    return s->g;
}

int reel_grammar_state_n_stacks(const reel_grammar_state *s)
{
    return s->n;
}

int reel_grammar_state_done(const reel_grammar_state *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->off[i + 1] != s->off[i]) return 0;
    return 1;
}

/* ======================================================================================== */
/* Token masks                                                                              */
/* ======================================================================================== */

#define CACHE_SLOTS 32   /* whole-state masks */
#define TCACHE_SLOTS 128 /* stack-top masks (see reel_grammar_mask) */

/* The mask of one stack's top k entries, walked alone: tokens it accepts, and the trie nodes
 * where it was used up ("pops": below them the rest of the stack decides). */
typedef struct {
    uint64_t hash, grammar;
    uint32_t *key; /* the canonical top entries */
    int key_len;
    uint8_t *mask;
    int32_t *pop_node, *pop_depth;
    int n_pops;
    int64_t pop_cost; /* trie nodes under the pops: the work left for each use */
    int64_t work;     /* trie nodes its walk visited: what recomputing it costs */
    uint64_t used;
} top_entry;

/* A lazy DFA over parse states: each state met in a walk is interned once (in canonical form)
 * and its successors are memoized per byte, so a trie edge costs one table load instead of a
 * stack-set rebuild. Bounded: past dfa_max states (DFA_MAX_STATES by default) a walk goes on
 * without memoizing, and the whole DFA is dropped between masks once it is 3/4 full. */
#define DFA_MAX_STATES 4096
#define DFA_MAX_WORDS ((size_t)8 << 20) /* stack entries held by all DFA states (32 MiB) */
#define MAX_POPS 4096                   /* pops kept per top entry; more and it is not used */
#define PER_STACK_MAX 32                /* states with more stacks are walked whole */
#define DFA_DEAD 0      /* id of the state with no stacks */
#define DFA_NOROOM (-2) /* no room left to intern: compute without memoizing */

typedef struct {
    reel_grammar_state *st;
    uint64_t hash;
    int32_t next[256]; /* -1: not computed yet */
    uint8_t accepting; /* has an empty stack */
} dfa_state;

/* The trie is stored in depth-first order: node 0 is the root, the first child of node i (if
 * has_child[i]) is node i + 1, and further children follow through sibling[]. */
struct reel_grammar_vocab {
    int n_tokens;
    int n_nodes;
    uint8_t *byte;      /* [n_nodes] the byte on the edge into the node */
    uint8_t *has_child; /* [n_nodes] */
    int32_t *sibling;   /* [n_nodes] next child of the same parent, -1 */
    int32_t *token;     /* [n_nodes] first token ending here, -1 */
    int32_t *same_next; /* [n_tokens]: next token with identical bytes, -1 */
    int32_t *eog;
    int n_eog;
    int max_len;
    int32_t *subtree; /* [n_nodes] nodes in the subtree under and including the node */
    int32_t *depth;   /* [n_nodes] bytes from the root */
    int32_t *sids;    /* [max_len + 2] walk_dfa scratch */
    /* DFS scratch: one state per depth */
    reel_grammar_state **depth_state;
    reel_grammar_state *rest; /* scratch: the rest of a stack below its cached top */
    uint32_t *key;            /* scratch: a canonical key */
    size_t key_cap;
    int32_t *pop_node, *pop_depth; /* scratch for a walk recording pops */
    int n_pops, cap_pops;
    int pops_overflow;
    int recording;
    top_entry top[TCACHE_SLOTS];
    int64_t pop_budget;
    dfa_state *dfa;
    int n_dfa, cap_dfa;
    int32_t *dfa_table; /* open addressing: id + 1, 0 empty */
    int dfa_table_cap;
    uint64_t dfa_grammar;
    int dfa_max;
    size_t dfa_words; /* stack entries held by the DFA's states */
    reel_grammar_state *scratch_a, *scratch_b;
    uint64_t visited; /* trie nodes visited by all walks so far */ /* full trie walks from the root (for tests) */
    /* cache of recent masks, keyed by the grammar and the state's stacks */
    struct {
        uint64_t hash;
        uint64_t grammar;
        uint32_t *key; /* off[0..n] then data */
        size_t key_len;
        uint8_t *mask;
        int count;
        uint64_t used;
    } cache[CACHE_SLOTS];
    uint64_t clock;
};

typedef struct {
    const char *const *bytes;
    const size_t *len;
} sort_ctx;

static _Thread_local const sort_ctx *sorting;

static int cmp_tokens(const void *x, const void *y)
{
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    size_t la = sorting->len[a], lb = sorting->len[b];
    int c = memcmp(sorting->bytes[a], sorting->bytes[b], la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return a < b ? -1 : a > b;
}

reel_grammar_vocab *reel_grammar_vocab_init(int n_tokens, const char *const *token_bytes,
                                            const size_t *token_len, const uint8_t *special,
                                            const int32_t *eog_ids, int n_eog)
{
    reel_grammar_vocab *v = reel_xcalloc(1, sizeof *v);
    v->n_tokens = n_tokens;
    v->same_next = reel_xmalloc((size_t)(n_tokens ? n_tokens : 1) * sizeof *v->same_next);
    /* the text tokens, sorted by their bytes */
    int32_t *order = reel_xmalloc((size_t)(n_tokens ? n_tokens : 1) * sizeof *order);
    int n = 0;
    size_t total = 0;
    for (int t = 0; t < n_tokens; t++) {
        v->same_next[t] = -1;
        if ((special && special[t]) || token_len[t] == 0) continue;
        order[n++] = t;
        total += token_len[t];
        if ((int)token_len[t] > v->max_len) v->max_len = (int)token_len[t];
    }
    sort_ctx sc = {token_bytes, token_len};
    sorting = &sc;
    qsort(order, (size_t)n, sizeof *order, cmp_tokens);
    sorting = NULL;
    /* at most one node per byte of all tokens, plus the root */
    size_t cap = total + 1;
    v->byte = reel_xmalloc(cap);
    v->has_child = reel_xcalloc(cap, 1);
    v->sibling = reel_xmalloc(cap * sizeof *v->sibling);
    v->token = reel_xmalloc(cap * sizeof *v->token);
    v->depth = reel_xmalloc(cap * sizeof *v->depth);
    v->depth[0] = 0;
    v->byte[0] = 0;
    v->sibling[0] = -1;
    v->token[0] = -1;
    int32_t nodes = 1;
    /* path[d] = node at depth d on the previous token's path (path[0] = root) */
    int32_t *path = reel_xmalloc(((size_t)v->max_len + 1) * sizeof *path);
    path[0] = 0;
    int prev_len = 0;
    const char *prev = NULL;
    for (int i = 0; i < n; i++) {
        int t = order[i];
        const char *b = token_bytes[t];
        int len = (int)token_len[t];
        int lcp = 0;
        while (prev && lcp < len && lcp < prev_len && b[lcp] == prev[lcp]) lcp++;
        if (prev && lcp == len && len == prev_len) { /* identical bytes: chain the ids */
            int32_t x = v->token[path[len]];
            while (v->same_next[x] >= 0) x = v->same_next[x];
            v->same_next[x] = t;
            continue;
        }
        for (int d = lcp + 1; d <= len; d++) {
            int32_t nd = nodes++;
            v->byte[nd] = (uint8_t)b[d - 1];
            v->depth[nd] = d;
            v->sibling[nd] = -1;
            v->token[nd] = -1;
            if (d == lcp + 1 && d <= prev_len && prev)
                v->sibling[path[d]] = nd; /* a new child of path[lcp], after the previous one */
            else
                v->has_child[path[d - 1]] = 1;
            path[d] = nd;
        }
        v->token[path[len]] = t;
        prev = b;
        prev_len = len;
    }
    v->n_nodes = nodes;
    v->subtree = reel_xmalloc((size_t)nodes * sizeof *v->subtree);
    for (int32_t i = nodes - 1; i >= 0; i--) { /* children come after their parent */
        v->subtree[i] = 1;
        if (v->has_child[i])
            for (int32_t c = i + 1; c >= 0; c = v->sibling[c]) v->subtree[i] += v->subtree[c];
    }
    v->pop_budget = nodes / 16;
    v->dfa_max = DFA_MAX_STATES;
    free(path);
    free(order);
    v->n_eog = n_eog;
    v->eog = reel_xmalloc((size_t)(n_eog ? n_eog : 1) * sizeof *v->eog);
    if (n_eog) memcpy(v->eog, eog_ids, (size_t)n_eog * sizeof *v->eog);
    v->depth_state = reel_xcalloc((size_t)v->max_len + 2, sizeof *v->depth_state);
    v->sids = reel_xmalloc(((size_t)v->max_len + 2) * sizeof *v->sids);
    return v;
}

void reel_grammar_vocab_free(reel_grammar_vocab *v)
{
    if (!v) return;
    for (int i = 0; i < v->max_len + 2; i++) reel_grammar_state_free(v->depth_state[i]);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(v->cache[i].key);
        free(v->cache[i].mask);
    }
    for (int i = 0; i < TCACHE_SLOTS; i++) {
        free(v->top[i].key);
        free(v->top[i].mask);
        free(v->top[i].pop_node);
        free(v->top[i].pop_depth);
    }
    for (int i = 0; i < v->n_dfa; i++) reel_grammar_state_free(v->dfa[i].st);
    free(v->dfa);
    free(v->dfa_table);
    reel_grammar_state_free(v->scratch_a);
    reel_grammar_state_free(v->scratch_b);
    reel_grammar_state_free(v->rest);
    free(v->key);
    free(v->pop_node);
    free(v->pop_depth);
    free(v->subtree);
    free(v->depth);
    free(v->sids);
    free(v->depth_state);
    free(v->byte);
    free(v->has_child);
    free(v->sibling);
    free(v->token);
    free(v->same_next);
    free(v->eog);
    free(v);
}

/* Stack entries in key[0..n) made canonical for caching: a counted repeat with more
 * repetitions left than the longest token has bytes behaves the same for every token (each
 * repetition consumes a byte), so its count is clamped. */
static void canonical_entries(const reel_grammar_vocab *v, const reel_grammar *g, uint32_t *key, int n)
{
    uint32_t horizon = (uint32_t)v->max_len + 1;
    for (int i = 0; i < n; i++) {
        uint32_t pos = ENTRY_POS(key[i]);
        if (g->el[pos].type != E_REP) continue;
        uint32_t max = (uint32_t)g->reps[g->el[pos].value].max, done = ENTRY_DONE(key[i]);
        if (max - done > horizon) key[i] = pos | ((max - horizon) << POS_BITS);
    }
}

static uint32_t *key_scratch(reel_grammar_vocab *v, size_t n)
{
    if (n > v->key_cap) {
        v->key_cap = n * 2;
        v->key = reel_xrealloc(v->key, v->key_cap * sizeof *v->key);
    }
    return v->key;
}

/* The whole-state cache key: off[0..n] then the canonical stack entries. */
static size_t state_key(reel_grammar_vocab *v, const reel_grammar_state *s)
{
    size_t nd = s->off[s->n], len = (size_t)(s->n + 1) + nd;
    uint32_t *key = key_scratch(v, len);
    memcpy(key, s->off, (size_t)(s->n + 1) * sizeof *key);
    memcpy(key + s->n + 1, s->data, nd * sizeof *key);
    canonical_entries(v, s->g, key + s->n + 1, (int)nd);
    return len;
}

static void ensure_state(reel_grammar_state **slot)
{
    if (!*slot) {
        *slot = reel_xcalloc(1, sizeof(reel_grammar_state));
        ss_clear(*slot);
    }
}

static void record_pop(reel_grammar_vocab *v, int32_t node, int depth)
{
    if (v->n_pops >= MAX_POPS) {
        v->pops_overflow = 1;
        return;
    }
    if (v->n_pops == v->cap_pops) {
        v->cap_pops = v->cap_pops ? v->cap_pops * 2 : 64;
        v->pop_node = reel_xrealloc(v->pop_node, (size_t)v->cap_pops * sizeof *v->pop_node);
        v->pop_depth = reel_xrealloc(v->pop_depth, (size_t)v->cap_pops * sizeof *v->pop_depth);
    }
    v->pop_node[v->n_pops] = node;
    v->pop_depth[v->n_pops++] = depth;
}

static uint64_t state_key_hash(const reel_grammar_state *s)
{
    return stack_hash(s->off, s->n + 1) ^ (stack_hash(s->data, (int)s->off[s->n]) * 31);
}

static int state_equal(const reel_grammar_state *a, const reel_grammar_state *b)
{
    return a->n == b->n && memcmp(a->off, b->off, (size_t)(a->n + 1) * sizeof *a->off) == 0 &&
           memcmp(a->data, b->data, (size_t)a->off[a->n] * sizeof *a->data) == 0;
}

static void dfa_reset(reel_grammar_vocab *v, uint64_t grammar)
{
    for (int i = 0; i < v->n_dfa; i++) reel_grammar_state_free(v->dfa[i].st);
    v->n_dfa = 0;
    v->dfa_words = 0;
    if (v->dfa_table) memset(v->dfa_table, 0, (size_t)v->dfa_table_cap * sizeof *v->dfa_table);
    v->dfa_grammar = grammar;
    if (!v->dfa) {
        v->cap_dfa = 64;
        v->dfa = reel_xmalloc((size_t)v->cap_dfa * sizeof *v->dfa);
    }
    /* id 0: the dead state */
    v->dfa[0].st = NULL;
    v->dfa[0].hash = 0;
    for (int b = 0; b < 256; b++) v->dfa[0].next[b] = DFA_DEAD;
    v->dfa[0].accepting = 0;
    v->n_dfa = 1;
}

static void dfa_table_insert(reel_grammar_vocab *v, int id)
{
    uint64_t m = (uint64_t)v->dfa_table_cap - 1, h = v->dfa[id].hash & m;
    while (v->dfa_table[h]) h = (h + 1) & m;
    v->dfa_table[h] = id + 1;
}

/* The id of state s (after making its stacks canonical), interning it if new: DFA_DEAD for no
 * stacks, DFA_NOROOM when the DFA is full. s is scratch and may be modified. */
static int dfa_intern(reel_grammar_vocab *v, reel_grammar_state *s)
{
    if (s->n == 0) return DFA_DEAD;
    /* canonical form: clamp repeat counts, then dedupe */
    ensure_state(&v->scratch_b);
    reel_grammar_state *c = v->scratch_b;
    c->g = s->g;
    ss_clear(c);
    uint32_t *buf = scratch_buf();
    for (int i = 0; i < s->n; i++) {
        int len = (int)(s->off[i + 1] - s->off[i]);
        memcpy(buf, s->data + s->off[i], (size_t)len * sizeof *buf);
        canonical_entries(v, s->g, buf, len);
        ss_add(c, buf, len);
    }
    uint64_t h = state_key_hash(c);
    if (v->dfa_table_cap) {
        uint64_t m = (uint64_t)v->dfa_table_cap - 1;
        for (uint64_t k = h & m; v->dfa_table[k]; k = (k + 1) & m) {
            int id = v->dfa_table[k] - 1;
            if (v->dfa[id].hash == h && state_equal(v->dfa[id].st, c)) return id;
        }
    }
    size_t words = (size_t)c->n + 1 + c->off[c->n];
    if (v->n_dfa >= v->dfa_max || v->dfa_words + words > DFA_MAX_WORDS) return DFA_NOROOM;
    v->dfa_words += words;
    if (v->n_dfa == v->cap_dfa) {
        v->cap_dfa *= 2;
        v->dfa = reel_xrealloc(v->dfa, (size_t)v->cap_dfa * sizeof *v->dfa);
    }
    int id = v->n_dfa++;
    dfa_state *d = &v->dfa[id];
    d->st = reel_grammar_state_clone(c);
    d->hash = h;
    for (int b = 0; b < 256; b++) d->next[b] = -1;
    d->accepting = (uint8_t)reel_grammar_state_accepting(c);
    if ((v->n_dfa + 1) * 2 > v->dfa_table_cap) {
        free(v->dfa_table);
        v->dfa_table_cap = v->dfa_table_cap ? v->dfa_table_cap * 2 : 256;
        v->dfa_table = reel_xcalloc((size_t)v->dfa_table_cap, sizeof *v->dfa_table);
        for (int i = 1; i < v->n_dfa; i++) dfa_table_insert(v, i);
    } else {
        dfa_table_insert(v, id);
    }
    return id;
}

/* Visits the children of trie node `node` (at depth `depth`, reached with state
 * depth_state[depth]) and marks every token the grammar accepts. With v->recording, also
 * records the nodes below which some stack has been used up (see top_entry). */
static void walk(reel_grammar_vocab *v, int node, int depth, uint8_t *mask)
{
    const reel_grammar_state *cur = v->depth_state[depth];
    ensure_state(&v->depth_state[depth + 1]);
    reel_grammar_state *next = v->depth_state[depth + 1];
    /* bytes any stack can take here: a cheap filter before the full advance */
    byteset any;
    memset(&any, 0, sizeof any);
    for (int i = 0; i < cur->n; i++) {
        int len = (int)(cur->off[i + 1] - cur->off[i]);
        if (len == 0) continue;
        const byteset *bs = &cur->g->sets[cur->g->el[cur->data[cur->off[i] + len - 1]].value];
        for (int k = 0; k < 32; k++) any.bits[k] |= bs->bits[k];
    }
    for (int32_t child = v->has_child[node] ? node + 1 : -1; child >= 0; child = v->sibling[child]) {
        uint8_t b = v->byte[child];
        if (!set_has(&any, b)) continue;
        v->visited++;
        advance_byte(next, cur, b);
        if (next->n == 0) continue;
        for (int32_t tok = v->token[child]; tok >= 0; tok = v->same_next[tok])
            mask[tok >> 3] |= (uint8_t)(1u << (tok & 7));
        if (!v->has_child[child]) continue;
        if (v->recording && reel_grammar_state_accepting(next)) record_pop(v, child, depth + 1);
        walk(v, child, depth + 1, mask);
        next = v->depth_state[depth + 1]; /* (the array itself does not move) */
    }
}

/* walk() through the DFA: the subtree under `node` (at `depth`) from DFA state `sid`. A linear
 * scan of the trie's depth-first order: a rejected node skips its whole subtree. */
static void walk_dfa(reel_grammar_vocab *v, int node, int depth, int sid, uint8_t *mask)
{
    int32_t *sids = v->sids; /* [d]: DFA state at the current node of depth d */
    sids[depth] = sid;
    for (int32_t i = node + 1, end = node + v->subtree[node]; i < end;) {
        int d = v->depth[i], from = sids[d - 1];
        uint8_t b = v->byte[i];
        int nid = v->dfa[from].next[b];
        if (nid == DFA_DEAD) {
            i += v->subtree[i];
            continue;
        }
        v->visited++;
        if (nid < 0) {
            ensure_state(&v->scratch_a);
            advance_byte(v->scratch_a, v->dfa[from].st, b);
            nid = dfa_intern(v, v->scratch_a);
            if (nid == DFA_NOROOM) {
                /* the DFA is full: this subtree the slow way */
                ensure_state(&v->depth_state[d]);
                reel_grammar_state *next = v->depth_state[d];
                advance_byte(next, v->dfa[from].st, b);
                if (next->n > 0) {
                    for (int32_t tok = v->token[i]; tok >= 0; tok = v->same_next[tok])
                        mask[tok >> 3] |= (uint8_t)(1u << (tok & 7));
                    if (v->has_child[i]) {
                        if (v->recording && reel_grammar_state_accepting(next)) record_pop(v, i, d);
                        walk(v, i, d, mask);
                    }
                }
                i += v->subtree[i];
                continue;
            }
            v->dfa[from].next[b] = nid;
            if (nid == DFA_DEAD) {
                i += v->subtree[i];
                continue;
            }
        }
        for (int32_t tok = v->token[i]; tok >= 0; tok = v->same_next[tok])
            mask[tok >> 3] |= (uint8_t)(1u << (tok & 7));
        if (v->has_child[i]) {
            if (v->recording && v->dfa[nid].accepting) record_pop(v, i, d);
            sids[d] = nid;
        }
        i++;
    }
}

/* Walks the subtree under `node` (at `depth`) with state s (scratch, may be modified). */
static void walk_from(reel_grammar_vocab *v, int node, int depth, reel_grammar_state *s, uint8_t *mask)
{
    int sid = dfa_intern(v, s);
    if (sid == DFA_DEAD) return;
    if (sid == DFA_NOROOM) {
        ensure_state(&v->depth_state[depth]);
        reel_grammar_state_copy(v->depth_state[depth], s);
        walk(v, node, depth, mask);
        return;
    }
    walk_dfa(v, node, depth, sid, mask);
}

/* The cached entry for the stack top key[0..n) (canonical), computed on a miss. */
static top_entry *top_get(reel_grammar_vocab *v, const reel_grammar *g, const uint32_t *key, int n)
{
    uint64_t h = stack_hash(key, n);
    int slot = 0;
    for (int i = 0; i < TCACHE_SLOTS; i++) {
        top_entry *e = &v->top[i];
        if (e->mask && e->hash == h && e->grammar == g->id && e->key_len == n &&
            memcmp(e->key, key, (size_t)n * sizeof *key) == 0) {
            e->used = v->clock;
            return e;
        }
        /* evict the least recently used, cheap entries first */
        uint64_t score = e->used + (e->work > 4096 ? (uint64_t)1 << 20 : 0);
        uint64_t best = v->top[slot].used + (v->top[slot].work > 4096 ? (uint64_t)1 << 20 : 0);
        if (score < best) slot = i;
    }
    size_t mask_bytes = ((size_t)v->n_tokens + 7) / 8;
    top_entry *e = &v->top[slot];
    free(e->key);
    e->key = reel_xmalloc((size_t)(n ? n : 1) * sizeof *key);
    memcpy(e->key, key, (size_t)n * sizeof *key);
    e->key_len = n;
    e->hash = h;
    e->grammar = g->id;
    e->used = v->clock;
    if (!e->mask) e->mask = reel_xcalloc(mask_bytes + 1, 1);
    memset(e->mask, 0, mask_bytes);
    /* walk the trie with this stack alone */
    ensure_state(&v->rest);
    reel_grammar_state *st = v->rest;
    st->g = g;
    ss_clear(st);
    ss_add(st, key, n);
    v->n_pops = 0;
    v->pops_overflow = 0;
    v->recording = 1;
    uint64_t visited = v->visited;
    walk_from(v, 0, 0, st, e->mask);
    v->recording = 0;
    e->work = (int64_t)(v->visited - visited);
    e->n_pops = v->n_pops;
    e->pop_node = reel_xrealloc(e->pop_node, (size_t)(v->n_pops ? v->n_pops : 1) * sizeof *e->pop_node);
    e->pop_depth = reel_xrealloc(e->pop_depth, (size_t)(v->n_pops ? v->n_pops : 1) * sizeof *e->pop_depth);
    if (v->n_pops) {
        memcpy(e->pop_node, v->pop_node, (size_t)v->n_pops * sizeof *e->pop_node);
        memcpy(e->pop_depth, v->pop_depth, (size_t)v->n_pops * sizeof *e->pop_depth);
    }
    e->pop_cost = 0;
    for (int i = 0; i < v->n_pops; i++) e->pop_cost += v->subtree[v->pop_node[i]] - 1;
    if (v->pops_overflow) { /* too many to keep: usable only as a whole stack */
        e->n_pops = 0;
        e->pop_cost = INT64_MAX;
    }
    return e;
}

/* ORs into mask the tokens one stack st[0..len) accepts. The mask of the top k entries alone
 * is cached (many stacks share their top: inside a string only the string's own entries
 * matter, whatever object it sits in); tokens that use those entries up and go on are then
 * walked with the rest of the stack from the trie nodes where that happens. k grows from 1
 * until the work left is small. */
static void stack_mask(reel_grammar_vocab *v, const reel_grammar *g, const uint32_t *st, int len, uint8_t *mask)
{
    uint32_t *key = key_scratch(v, (size_t)len);
    top_entry *e = NULL;
    int k;
    for (k = 1; k <= len; k++) {
        memcpy(key, st + len - k, (size_t)k * sizeof *key);
        canonical_entries(v, g, key, k);
        e = top_get(v, g, key, k);
        if (e->pop_cost <= v->pop_budget) break;
        key = key_scratch(v, (size_t)len); /* top_get does not move it, but stay safe */
    }
    if (k > len) k = len; /* the whole stack: its pops are complete sentences */
    size_t mask_bytes = ((size_t)v->n_tokens + 7) / 8;
    for (size_t i = 0; i < mask_bytes; i++) mask[i] |= e->mask[i];
    if (k == len || e->n_pops == 0) return;
    /* the rest of the stack, expanded, continues where the top was used up */
    ensure_state(&v->rest);
    v->rest->g = g;
    ss_clear(v->rest);
    uint32_t *buf = scratch_buf();
    memcpy(buf, st, (size_t)(len - k) * sizeof *buf);
    expand(v->rest, buf, len - k);
    if (v->rest->overflow) return;
    int rid = dfa_intern(v, v->rest);
    if (rid == DFA_DEAD) return;
    for (int i = 0; i < e->n_pops; i++) {
        if (rid >= 0) {
            walk_dfa(v, e->pop_node[i], e->pop_depth[i], rid, mask);
        } else {
            ensure_state(&v->depth_state[e->pop_depth[i]]);
            reel_grammar_state_copy(v->depth_state[e->pop_depth[i]], v->rest);
            walk(v, e->pop_node[i], e->pop_depth[i], mask);
        }
    }
}

void reel_grammar_vocab_set_dfa_limit(reel_grammar_vocab *v, int max_dfa_states)
{
    v->dfa_max = max_dfa_states < 1 ? 1 : max_dfa_states;
    if (v->dfa) dfa_reset(v, v->dfa_grammar);
}

uint64_t reel_grammar_vocab_visits(const reel_grammar_vocab *v)
{
    return v->visited;
}

static int popcount_mask(const uint8_t *mask, size_t n)
{
    int c = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, mask + i, 8);
        c += __builtin_popcountll(w);
    }
    for (; i < n; i++) c += __builtin_popcount(mask[i]);
    return c;
}

int reel_grammar_mask(reel_grammar_vocab *v, const reel_grammar_state *s, uint8_t *mask)
{
    size_t mask_bytes = ((size_t)v->n_tokens + 7) / 8;
    if (!v->dfa || v->dfa_grammar != s->g->id || v->n_dfa > v->dfa_max / 4 * 3) dfa_reset(v, s->g->id);
    size_t key_len = state_key(v, s);
    uint64_t h = stack_hash(v->key, (int)key_len);
    v->clock++;
    int count = -1;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (v->cache[i].mask && v->cache[i].hash == h && v->cache[i].grammar == s->g->id &&
            v->cache[i].key_len == key_len &&
            memcmp(v->cache[i].key, v->key, key_len * sizeof *v->key) == 0) {
            memcpy(mask, v->cache[i].mask, mask_bytes);
            v->cache[i].used = v->clock;
            count = v->cache[i].count;
            break;
        }
    }
    if (count < 0) {
        /* store in the least recently used slot (the key first: the scratch is reused) */
        int slot = 0;
        for (int i = 1; i < CACHE_SLOTS; i++)
            if (v->cache[i].used < v->cache[slot].used) slot = i;
        free(v->cache[slot].key);
        v->cache[slot].key = reel_xmalloc(key_len * sizeof(uint32_t));
        memcpy(v->cache[slot].key, v->key, key_len * sizeof(uint32_t));
        v->cache[slot].key_len = key_len;
        memset(mask, 0, mask_bytes);
        if (s->n <= PER_STACK_MAX) {
            /* a state's tokens are those of any of its stacks */
            for (int i = 0; i < s->n; i++) {
                int len = (int)(s->off[i + 1] - s->off[i]);
                if (len > 0) stack_mask(v, s->g, s->data + s->off[i], len, mask);
            }
        } else {
            /* a very ambiguous state: one walk with all its stacks beats one per stack */
            ensure_state(&v->rest);
            reel_grammar_state_copy(v->rest, s);
            walk_from(v, 0, 0, v->rest, mask);
        }
        count = popcount_mask(mask, mask_bytes);
        if (!v->cache[slot].mask) v->cache[slot].mask = reel_xmalloc(mask_bytes);
        memcpy(v->cache[slot].mask, mask, mask_bytes);
        v->cache[slot].count = count;
        v->cache[slot].hash = h;
        v->cache[slot].grammar = s->g->id;
        v->cache[slot].used = v->clock;
    }
    /* end of generation: only where the grammar is complete */
    int acc = reel_grammar_state_accepting(s);
    for (int i = 0; i < v->n_eog; i++) {
        int32_t t = v->eog[i];
        if (t < 0 || t >= v->n_tokens) continue;
        int was = (mask[t >> 3] >> (t & 7)) & 1;
        if (acc && !was) {
            mask[t >> 3] |= (uint8_t)(1u << (t & 7));
            count++;
        } else if (!acc && was) {
            mask[t >> 3] &= (uint8_t)~(1u << (t & 7));
            count--;
        }
    }
    return count;
}
