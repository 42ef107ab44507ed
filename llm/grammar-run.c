/* The grammar runtime: a parse state is a set of stacks of element positions, advanced one byte
 * at a time (grammar-impl.h describes the stacks). */
#include "llm/grammar-impl.h"

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

/* The steps above for grammar-mask.c. They stay static so that the calls inside this file bind
 * directly (an exported function in position-independent code may be interposed, which stops the
 * compiler from specializing and inlining the recursion). */
void reeli_grammar_clear(reel_grammar_state *s)
{
    ss_clear(s);
}

int reeli_grammar_add_stack(reel_grammar_state *s, const uint32_t *st, int len)
{
    return ss_add(s, st, len);
}

void reeli_grammar_expand_scratch(reel_grammar_state *out, int len)
{
    expand(out, scratch_buf(), len);
}

void reeli_grammar_advance_byte(reel_grammar_state *out, const reel_grammar_state *in, uint8_t b)
{
    advance_byte(out, in, b);
}

uint32_t *reeli_grammar_scratch(void)
{
    return scratch_buf();
}
