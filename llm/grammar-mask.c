/* Token masks over a vocabulary trie: which tokens a parse state accepts.
 *
 * Token masks (reel_grammar_mask) are exact and cached at three levels: whole states; per
 * stack, the walk of its top k entries alone (key: those entries, repeat counts clamped to the
 * longest token) with the trie nodes where they were used up, below which the rest of the stack
 * is walked; and a lazy DFA over canonical states that memoizes each (state, byte) step.
 */
#include "llm/grammar-impl.h"

#define CACHE_SLOTS  32  /* whole-state masks */
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
#define DFA_MAX_WORDS  ((size_t)8 << 20) /* stack entries held by all DFA states (32 MiB) */
#define MAX_POPS       4096              /* pops kept per top entry; more and it is not used */
#define PER_STACK_MAX  32                /* states with more stacks are walked whole */
#define DFA_DEAD       0                 /* id of the state with no stacks */
#define DFA_NOROOM     (-2)              /* no room left to intern: compute without memoizing */

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
    uint64_t visited; /* trie nodes visited by all walks so far */
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
static void canonical_entries(const reel_grammar_vocab *v, const reel_grammar *g, uint32_t *key,
                              int n)
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
        reeli_grammar_clear(*slot);
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
    reeli_grammar_clear(c);
    uint32_t *buf = reeli_grammar_scratch();
    for (int i = 0; i < s->n; i++) {
        int len = (int)(s->off[i + 1] - s->off[i]);
        memcpy(buf, s->data + s->off[i], (size_t)len * sizeof *buf);
        canonical_entries(v, s->g, buf, len);
        reeli_grammar_add_stack(c, buf, len);
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
    for (int32_t child = v->has_child[node] ? node + 1 : -1; child >= 0;
         child = v->sibling[child]) {
        uint8_t b = v->byte[child];
        if (!set_has(&any, b)) continue;
        v->visited++;
        reeli_grammar_advance_byte(next, cur, b);
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
            reeli_grammar_advance_byte(v->scratch_a, v->dfa[from].st, b);
            nid = dfa_intern(v, v->scratch_a);
            if (nid == DFA_NOROOM) {
                /* the DFA is full: this subtree the slow way */
                ensure_state(&v->depth_state[d]);
                reel_grammar_state *next = v->depth_state[d];
                reeli_grammar_advance_byte(next, v->dfa[from].st, b);
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
static void walk_from(reel_grammar_vocab *v, int node, int depth, reel_grammar_state *s,
                      uint8_t *mask)
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
    reeli_grammar_clear(st);
    reeli_grammar_add_stack(st, key, n);
    v->n_pops = 0;
    v->pops_overflow = 0;
    v->recording = 1;
    uint64_t visited = v->visited;
    walk_from(v, 0, 0, st, e->mask);
    v->recording = 0;
    e->work = (int64_t)(v->visited - visited);
    e->n_pops = v->n_pops;
    e->pop_node =
        reel_xrealloc(e->pop_node, (size_t)(v->n_pops ? v->n_pops : 1) * sizeof *e->pop_node);
    e->pop_depth =
        reel_xrealloc(e->pop_depth, (size_t)(v->n_pops ? v->n_pops : 1) * sizeof *e->pop_depth);
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
static void stack_mask(reel_grammar_vocab *v, const reel_grammar *g, const uint32_t *st, int len,
                       uint8_t *mask)
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
    reeli_grammar_clear(v->rest);
    uint32_t *buf = reeli_grammar_scratch();
    memcpy(buf, st, (size_t)(len - k) * sizeof *buf);
    reeli_grammar_expand_scratch(v->rest, len - k);
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
    if (!v->dfa || v->dfa_grammar != s->g->id || v->n_dfa > v->dfa_max / 4 * 3)
        dfa_reset(v, s->g->id);
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
            mask[t >> 3] &= (uint8_t) ~(1u << (t & 7));
            count--;
        }
    }
    return count;
}
