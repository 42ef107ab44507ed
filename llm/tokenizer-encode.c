/* Byte-level BPE encoding: added-token split, pre-tokenizer steps, then BPE merges per word.
 *
 * The rules follow Hugging Face `tokenizers` (AddedVocabulary, pre_tokenizers::split,
 * models::bpe::Word::merge_all, decoders::byte_level) so that ids match bit for bit; comments
 * name the HF behaviour each piece reproduces. */
#include "llm/tokenizer-impl.h"

/* As reel_llm_utf8_sanitize, NULL when out of memory. */
static char *utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
    /* Worst case: every byte becomes U+FFFD (3 bytes). */
    if (len > (SIZE_MAX - 1) / 3) return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t bad = 0;
        int k = utf8_seq(p + i, len - i, &bad);
        if (k > 0) {
            memcpy(out + o, p + i, (size_t)k);
            o += (size_t)k, i += (size_t)k;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i += bad;
        }
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

char *reel_llm_utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
    char *out = utf8_sanitize(s, len, out_len);
    if (!out) reel_set_error(REEL_ENOMEM, "out of memory for %zu bytes of text", len);
    return out;
}

static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t bad;
        int k = utf8_seq(p + i, len - i, &bad);
        if (k == 0) return 0;
        i += (size_t)k;
    }
    return 1;
}
/* ---------------------------------------------------------------------------------------------
 * Encoding. One context per call: output, word cache, BPE scratch. */
typedef struct heap_ent {
    int32_t rank, pos, new_id;
} heap_ent;

typedef struct sym {
    int32_t id, prev, next, len;
} sym;

typedef struct cache_ent {
    uint32_t off, len; /* word bytes in cache_bytes */
    uint32_t ids_off, n_ids;
    uint64_t hash;
    int used;
} cache_ent;

/* Word cache slots: sized by the text (about one per 8 bytes), entries stop being added at 3/4. */
#define CACHE_MIN      256
#define CACHE_MAX      65536
#define CACHE_MAX_WORD 256

typedef struct enc_ctx {
    const reel_llm_tokenizer *tok;
    uint32_t flags;
    int32_t *ids;
    size_t n, cap;
    int err;
    sym *syms;
    size_t syms_cap;
    heap_ent *heap;
    size_t heap_cap;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    cache_ent *cache;
    size_t cache_n, cache_cap;
    char *cache_bytes;
    size_t cb_n, cb_cap;
    int32_t *cache_ids;
    size_t ci_n, ci_cap;
} enc_ctx;

static void emit(enc_ctx *c, int32_t id)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        int32_t *p = realloc(c->ids, nc * sizeof *p);
        if (!p) {
            c->err = reel_set_error(REEL_ENOMEM, "tokenizer: out of memory for %zu ids", nc);
            return;
        }
        c->ids = p, c->cap = nc;
    }
    c->ids[c->n++] = id;
}

static void heap_push(enc_ctx *c, size_t *hn, heap_ent e)
{
    if (*hn == c->heap_cap) {
        c->heap_cap = c->heap_cap ? c->heap_cap * 2 : 64;
        c->heap = reel_xrealloc(c->heap, c->heap_cap * sizeof *c->heap);
    }
    size_t i = (*hn)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        heap_ent *q = &c->heap[p];
        if (q->rank < e.rank || (q->rank == e.rank && q->pos <= e.pos)) break;
        c->heap[i] = *q;
        i = p;
    }
    c->heap[i] = e;
}

static heap_ent heap_pop(enc_ctx *c, size_t *hn)
{
    heap_ent top = c->heap[0], last = c->heap[--(*hn)];
    size_t i = 0, n = *hn;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        heap_ent *best = &last;
        if (l < n && (c->heap[l].rank < best->rank ||
                      (c->heap[l].rank == best->rank && c->heap[l].pos < best->pos)))
            m = l, best = &c->heap[l];
        if (r < n && (c->heap[r].rank < best->rank ||
                      (c->heap[r].rank == best->rank && c->heap[r].pos < best->pos)))
            m = r, best = &c->heap[r];
        if (m == i) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n) c->heap[i] = last;
    return top;
}

static const merge_val *merge_get(const reel_llm_tokenizer *tok, int32_t a, int32_t b)
{
    return mmap_ref((mmap_ *)&tok->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, 0);
}

static void sym_add(enc_ctx *c, size_t *ns, int32_t id, int32_t len)
{
    if (*ns == c->syms_cap) {
        c->syms_cap = c->syms_cap ? c->syms_cap * 2 : 64;
        c->syms = reel_xrealloc(c->syms, c->syms_cap * sizeof *c->syms);
    }
    if (*ns) c->syms[*ns - 1].next = (int32_t)*ns;
    c->syms[*ns] = (sym){id, (int32_t)*ns - 1, -1, len};
    (*ns)++;
}

/* BPE on one pre-token word (raw bytes): models::bpe::BPE::merge_word + Word::merge_all. */
static void bpe_word_uncached(enc_ctx *c, const unsigned char *w, size_t len)
{
    const reel_llm_tokenizer *tok = c->tok;
    if (tok->ignore_merges) {
        int32_t id = smap_get(&tok->model_raw, (const char *)w, len);
        if (id >= 0) {
            emit(c, id);
            return;
        }
    }
    size_t ns = 0;
    int32_t unk_len = 0; /* pending unknown run */
    for (size_t i = 0; i < len; i++) {
        int32_t id = tok->byte_id[w[i]];
        if (id >= 0) {
            if (unk_len) sym_add(c, &ns, tok->unk, unk_len), unk_len = 0;
            sym_add(c, &ns, id, 1);
            continue;
        }
        if (tok->byte_fallback) {
            /* the byte-level character's UTF-8 bytes as <0xXX> tokens */
            uint16_t cp = reeli_byte_to_cp[w[i]];
            unsigned char u[2];
            int nu = cp < 0x80 ? 1 : 2;
            if (nu == 1)
                u[0] = (unsigned char)cp;
            else
                u[0] = (unsigned char)(0xC0 | (cp >> 6)),
                u[1] = (unsigned char)(0x80 | (cp & 0x3F));
            int ok = 1;
            for (int k = 0; k < nu; k++) ok &= tok->byte_fallback_id[u[k]] >= 0;
            if (ok) {
                if (unk_len) sym_add(c, &ns, tok->unk, unk_len), unk_len = 0;
                for (int k = 0; k < nu; k++) sym_add(c, &ns, tok->byte_fallback_id[u[k]], 1);
                continue;
            }
        }
        if (tok->unk < 0) continue; /* HF drops characters it cannot express */
        if (unk_len && !tok->fuse_unk) sym_add(c, &ns, tok->unk, unk_len), unk_len = 0;
        unk_len += 1;
    }
    if (unk_len) sym_add(c, &ns, tok->unk, unk_len);
    if (ns == 0) return;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        const merge_val *m = merge_get(tok, c->syms[i].id, c->syms[i + 1].id);
        if (m) heap_push(c, &hn, (heap_ent){m->rank, (int32_t)i, m->new_id});
    }
    sym *s = c->syms;
    while (hn) {
        heap_ent top = heap_pop(c, &hn);
        sym *cur = &s[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        sym right = s[cur->next];
        const merge_val *m = merge_get(tok, cur->id, right.id);
        if (!m || m->new_id != top.new_id) continue; /* stale entry */
        s[cur->next].len = 0;
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0) s[right.next].prev = top.pos;
        if (cur->prev >= 0) {
            m = merge_get(tok, s[cur->prev].id, cur->id);
            if (m) heap_push(c, &hn, (heap_ent){m->rank, cur->prev, m->new_id});
        }
        if (cur->next >= 0) {
            m = merge_get(tok, cur->id, s[cur->next].id);
            if (m) heap_push(c, &hn, (heap_ent){m->rank, top.pos, m->new_id});
        }
    }
    for (int32_t i = 0; i >= 0; i = s[i].next) emit(c, s[i].id);
}

static void bpe_word(enc_ctx *c, const unsigned char *w, size_t len)
{
    if (len == 0) return;
    if (len > CACHE_MAX_WORD) {
        bpe_word_uncached(c, w, len);
        return;
    }
    if (!c->cache) c->cache = reel_xcalloc(c->cache_cap, sizeof *c->cache);
    uint64_t h = hash_bytes(w, len);
    size_t i = h & (c->cache_cap - 1);
    for (; c->cache[i].used; i = (i + 1) & (c->cache_cap - 1)) {
        cache_ent *e = &c->cache[i];
        if (e->hash == h && e->len == len && memcmp(c->cache_bytes + e->off, w, len) == 0) {
            for (uint32_t k = 0; k < e->n_ids; k++) emit(c, c->cache_ids[e->ids_off + k]);
            return;
        }
    }
    size_t start = c->n;
    bpe_word_uncached(c, w, len);
    if (c->err || c->cache_n * 4 >= c->cache_cap * 3) return;
    size_t nid = c->n - start;
    if (c->cb_n + len > c->cb_cap) {
        c->cb_cap = (c->cb_cap + len) * 2;
        c->cache_bytes = reel_xrealloc(c->cache_bytes, c->cb_cap);
    }
    if (c->ci_n + nid > c->ci_cap) {
        c->ci_cap = (c->ci_cap + nid) * 2;
        c->cache_ids = reel_xrealloc(c->cache_ids, c->ci_cap * sizeof *c->cache_ids);
    }
    memcpy(c->cache_bytes + c->cb_n, w, len);
    if (nid) memcpy(c->cache_ids + c->ci_n, c->ids + start, nid * sizeof *c->ids);
    c->cache[i] =
        (cache_ent){(uint32_t)c->cb_n, (uint32_t)len, (uint32_t)c->ci_n, (uint32_t)nid, h, 1};
    c->cb_n += len, c->ci_n += nid, c->cache_n++;
}

static void pretok(enc_ctx *c, int step, const unsigned char *s, size_t len);

/* Next regex match at or after *from in s[0..len) with Oniguruma's find_iter rule for empty
 * matches. Returns 1 and the match, 0 when there are no more, <0 on a matcher error. */
static int regex_next(enc_ctx *c, pcre2_code *re, const unsigned char *s, size_t len, size_t *from,
                      ptrdiff_t *last_end, size_t *ms, size_t *me)
{
    for (;;) {
        if (*from > len) return 0;
        int rc = pcre2_match(re, s, len, *from, PCRE2_NO_UTF_CHECK, c->md, c->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !c->jstack) {
            c->jstack = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, NULL);
            c->mctx = pcre2_match_context_create(NULL);
            if (!c->jstack || !c->mctx) return reel_set_error(REEL_ENOMEM, "tokenizer: JIT stack");
            pcre2_jit_stack_assign(c->mctx, NULL, c->jstack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc < 0) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return reel_set_error(REEL_EFORMAT, "tokenizer: pre-tokenizer regex: %s",
                                  (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (a == b && *last_end == (ptrdiff_t)b) {
            /* no empty match right after the previous one: step one character */
            if (*from >= len) return 0;
            size_t k = 1;
            while (*from + k < len && (s[*from + k] & 0xC0) == 0x80) k++;
            *from += k;
            continue;
        }
        *from = b;
        *last_end = (ptrdiff_t)b;
        *ms = a, *me = b;
        return 1;
    }
}

typedef struct span {
    size_t a, b;
    int match;
} span;

/* pre_tokenizers::split::Split on s with HF's SplitDelimiterBehavior. */
static void split_step(enc_ctx *c, int step, const pre_step *st, const unsigned char *s, size_t len)
{
    size_t from = 0, ms, me, prev = 0;
    ptrdiff_t last_end = -1;
    int rc = 0;
    if (st->behavior == SPLIT_ISOLATED) {
        /* every gap and every match is its own piece: no list needed */
        while (!c->err && (rc = regex_next(c, st->re, s, len, &from, &last_end, &ms, &me)) > 0) {
            if (ms > prev) pretok(c, step + 1, s + prev, ms - prev);
            if (me > ms) pretok(c, step + 1, s + ms, me - ms);
            prev = me;
        }
        if (rc < 0) c->err = rc;
        if (!c->err && prev < len) pretok(c, step + 1, s + prev, len - prev);
        return;
    }
    span *sp = NULL;
    size_t n = 0, cap = 0;
#define PUSH(A, B, M)                                                                              \
    do {                                                                                           \
        if (n == cap) cap = cap ? cap * 2 : 16, sp = reel_xrealloc(sp, cap * sizeof *sp);          \
        sp[n++] = (span){(A), (B), (M)};                                                           \
    } while (0)
    while ((rc = regex_next(c, st->re, s, len, &from, &last_end, &ms, &me)) > 0) {
        if (ms != prev) PUSH(prev, ms, 0);
        PUSH(ms, me, 1);
        prev = me;
    }
    if (rc < 0) c->err = rc;
    if (prev != len) PUSH(prev, len, 0);
    if (st->invert)
        for (size_t i = 0; i < n; i++) sp[i].match = !sp[i].match;
    /* out[i].match now means "remove" */
    span *out = reel_xmalloc((n + 1) * sizeof *out);
    size_t no = 0;
    int prev_match = 0;
    switch (st->behavior) {
    case SPLIT_REMOVED:
        memcpy(out, sp, n * sizeof *sp);
        no = n;
        break;
    case SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if (sp[i].match == prev_match && no)
                out[no - 1].b = sp[i].b;
            else
                out[no++] = (span){sp[i].a, sp[i].b, 0};
            prev_match = sp[i].match;
        }
        break;
    case SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            if (sp[i].match && !prev_match && no)
                out[no - 1].b = sp[i].b;
            else
                out[no++] = (span){sp[i].a, sp[i].b, 0};
            prev_match = sp[i].match;
        }
        break;
    case SPLIT_MERGED_NEXT:
        for (size_t i = n; i-- > 0;) {
            if (sp[i].match && !prev_match && no)
                out[no - 1].a = sp[i].a;
            else
                out[no++] = (span){sp[i].a, sp[i].b, 0};
            prev_match = sp[i].match;
        }
        for (size_t i = 0; i < no / 2; i++) {
            span t = out[i];
            out[i] = out[no - 1 - i], out[no - 1 - i] = t;
        }
        break;
    }
#undef PUSH
    for (size_t i = 0; i < no && !c->err; i++)
        if (!out[i].match && out[i].b > out[i].a)
            pretok(c, step + 1, s + out[i].a, out[i].b - out[i].a);
    free(out);
    free(sp);
}

static void pretok(enc_ctx *c, int step, const unsigned char *s, size_t len)
{
    if (c->err || len == 0) return;
    if (step == c->tok->n_steps) {
        bpe_word(c, s, len);
        return;
    }
    const pre_step *st = &c->tok->steps[step];
    if (st->kind == STEP_SPLIT) {
        split_step(c, step, st, s, len);
        return;
    }
    /* ByteLevel: the byte mapping itself is implicit (BPE runs on raw bytes). */
    unsigned char *tmp = NULL;
    if (st->add_prefix_space && s[0] != ' ') {
        tmp = reel_xmalloc(len + 1);
        tmp[0] = ' ';
        memcpy(tmp + 1, s, len);
        s = tmp, len++;
    }
    if (st->use_regex) {
        pre_step iso = *st;
        iso.kind = STEP_SPLIT, iso.behavior = SPLIT_ISOLATED, iso.invert = 0;
        split_step(c, step, &iso, s, len);
    } else {
        pretok(c, step + 1, s, len);
    }
    free(tmp);
}

static int is_word_char(const reel_llm_tokenizer *tok, enc_ctx *c, const unsigned char *s,
                        size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(tok->word_re, s, len, 0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, NULL);
    pcre2_match_data_free(md);
    (void)c;
    return rc > 0;
}

/* Second pass (added tokens with normalized=true; the normalizer is the identity) or the
 * pre-tokenizer for a piece the first pass left. */
static void added_split(enc_ctx *c, const unsigned char *s, size_t len, int pass);

static void after_added(enc_ctx *c, const unsigned char *s, size_t len, int pass)
{
    if (len == 0) return;
    if (pass == 0)
        added_split(c, s, len, 1);
    else
        pretok(c, 0, s, len);
}

/* AddedVocabulary::find_matches over s for one pass (0: normalized=false tokens, 1: the rest):
 * leftmost-longest matches, single_word / lstrip / rstrip, and skipped special tokens when
 * they are not parsed (they still shadow shorter matches, as in HF). */
static void added_split(enc_ctx *c, const unsigned char *s, size_t len, int pass)
{
    const reel_llm_tokenizer *tok = c->tok;
    if (!tok->n_added) {
        pretok(c, 0, s, len);
        return;
    }
    size_t start_offset = 0, pos = 0;
    while (pos < len && !c->err) {
        if (!tok->trie.first[s[pos]]) {
            pos++;
            continue;
        }
        /* longest token of this pass starting at pos */
        int32_t node = 0, best = -1;
        size_t best_len = 0;
        for (size_t i = pos; i < len; i++) {
            const merge_val *e =
                mmap_ref((mmap_ *)&tok->trie.edges, ((uint64_t)node << 8) | s[i], 0);
            if (!e) break;
            node = e->new_id;
            int32_t t = tok->trie.term[node];
            if (t >= 0 && tok->added[t].normalized == (pass == 1)) best = t, best_len = i + 1 - pos;
        }
        if (best < 0) {
            pos++;
            continue;
        }
        const added_tok *a = &tok->added[best];
        size_t ms = pos, me = pos + best_len;
        if (a->special && !(c->flags & REEL_LLM_TOK_PARSE_SPECIAL)) {
            pos = me;
            continue;
        }
        if (a->single_word) {
            int start_space =
                ms == 0 || !is_word_char(tok, c, s + utf8_prev(s, ms), ms - utf8_prev(s, ms));
            int stop_space = me == len || !is_word_char(tok, c, s + me, len - me);
            if (!start_space || !stop_space) {
                pos = me;
                continue;
            }
        }
        size_t start = ms, stop = me;
        if (a->lstrip) {
            size_t k = ms;
            while (k > 0) {
                size_t p = utf8_prev(s, k);
                uint32_t cp;
                utf8_decode(s + p, &cp);
                if (!is_white_space(cp)) break;
                k = p;
            }
            start = k > start_offset ? k : start_offset;
        }
        if (a->rstrip) {
            while (stop < len) {
                uint32_t cp;
                int k = utf8_decode(s + stop, &cp);
                if (!is_white_space(cp)) break;
                stop += (size_t)k;
            }
        }
        if (start_offset < start) after_added(c, s + start_offset, start - start_offset, pass);
        emit(c, a->id);
        start_offset = stop;
        pos = stop;
    }
    if (start_offset < len) after_added(c, s + start_offset, len - start_offset, pass);
}

int reel_llm_tokenizer_encode(const reel_llm_tokenizer *tok, const char *text, size_t len,
                              uint32_t flags, int32_t **ids, size_t *n_ids)
{
    *ids = NULL;
    *n_ids = 0;
    char *clean = NULL;
    if (!utf8_valid(text, len)) {
        text = clean = utf8_sanitize(text, len, &len);
        if (!clean)
            return reel_set_error(REEL_ENOMEM, "tokenizer: out of memory for %zu bytes of text",
                                  len);
    }
    enc_ctx c = {.tok = tok, .flags = flags, .cache_cap = CACHE_MIN};
    while (c.cache_cap < CACHE_MAX && c.cache_cap * 8 < len) c.cache_cap *= 2;
    c.md = pcre2_match_data_create(1, NULL);
    if (!c.md) {
        free(clean);
        return reel_set_error(REEL_ENOMEM, "tokenizer: out of memory");
    }
    if (flags & REEL_LLM_TOK_ADD_SPECIAL)
        for (int i = 0; i < tok->n_prefix; i++) emit(&c, tok->prefix[i]);
    if (len) added_split(&c, (const unsigned char *)text, len, 0);
    if (flags & REEL_LLM_TOK_ADD_SPECIAL)
        for (int i = 0; i < tok->n_suffix; i++) emit(&c, tok->suffix[i]);
    pcre2_match_data_free(c.md);
    pcre2_match_context_free(c.mctx);
    if (c.jstack) pcre2_jit_stack_free(c.jstack);
    free(c.syms);
    free(c.heap);
    free(c.cache);
    free(c.cache_bytes);
    free(c.cache_ids);
    free(clean);
    if (c.err) {
        free(c.ids);
        return c.err;
    }
    *ids = c.ids;
    *n_ids = c.n;
    return 0;
}
