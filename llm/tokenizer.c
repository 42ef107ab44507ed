/* Byte-level BPE tokenizer: construction (tokenizer.json or GGUF arrays), encode, decode.
 *
 * The rules follow Hugging Face `tokenizers` (AddedVocabulary, pre_tokenizers::split,
 * models::bpe::Word::merge_all, decoders::byte_level) so that ids match bit for bit; comments
 * name the HF behaviour each piece reproduces. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "llm/tokenizer.h"
#include "llm/tokenizer-vocab.h"

#include "core/core.h"

#include <jansson.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Regexes for GGUF pre-tokenizer names. */
static const char RE_TEKKEN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char RE_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* ---------------------------------------------------------------------------------------------
 * UTF-8 helpers. */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one; *bad gets
 * the length of the maximal invalid subpart (Unicode 3.9 / Python "replace"). */
static int utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned c = s[0];
    int need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c == 0xE0)
        need = 2, lo = 0xA0;
    else if (c == 0xED)
        need = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
        need = 2;
    else if (c == 0xF0)
        need = 3, lo = 0x90;
    else if (c == 0xF4)
        need = 3, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3)
        need = 3;
    else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i <= (size_t)need; i++) {
        if (i >= n) break;
        unsigned b = s[i];
        if (b < lo || b > hi) break;
        lo = 0x80, hi = 0xBF;
    }
    if (i == (size_t)need + 1) return need + 1;
    *bad = i;
    return 0;
}

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

/* Decodes one code point of valid UTF-8; returns its length. */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    if (s[0] < 0xE0) return *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu), 2;
    if (s[0] < 0xF0)
        return *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu), 3;
    *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

/* Start of the code point that ends just before s+end (valid UTF-8). */
static size_t utf8_prev(const unsigned char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && (s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Rust char::is_whitespace: the Unicode White_Space property. */
static int is_white_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ---------------------------------------------------------------------------------------------
 * GPT-2 byte <-> unicode alphabet: printable Latin-1 bytes map to themselves, the other 68 bytes
 * to U+0100.. in byte order. */
static uint16_t byte_to_cp[256];
static int16_t cp_to_byte[324];

static void byte_tables_fill(void)
{
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        int cp = printable ? b : 256 + n++;
        byte_to_cp[b] = (uint16_t)cp;
        cp_to_byte[cp] = (int16_t)b;
    }
}

static void byte_tables_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, byte_tables_fill);
}

/* Byte-level text -> raw bytes. Returns the byte count, or -1 if some character is outside the
 * alphabet (out must hold len bytes). */
static long bytelevel_to_raw(const char *text, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t bad;
        if (utf8_seq(s + i, len - i, &bad) == 0) return -1;
        i += (size_t)utf8_decode(s + i, &cp);
        if (cp >= 324 || cp_to_byte[cp] < 0) return -1;
        out[o++] = (char)cp_to_byte[cp];
    }
    return (long)o;
}

/* ---------------------------------------------------------------------------------------------
 * Hash maps (open addressing, power-of-two capacity). */
static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

typedef struct smap_slot {
    const char *key; /* borrowed from a pool that outlives the map; NULL = empty */
    uint32_t len;
    int32_t val;
} smap_slot;

typedef struct smap {
    smap_slot *slot;
    size_t cap, n;
} smap;

static void smap_grow(smap *m);

static int32_t *smap_ref(smap *m, const char *key, size_t len, int insert)
{
    if (insert && (m->n + 1) * 4 >= m->cap * 3) smap_grow(m);
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, i = hash_bytes(key, len) & mask;
    for (;; i = (i + 1) & mask) {
        smap_slot *s = &m->slot[i];
        if (!s->key) {
            if (!insert) return NULL;
            s->key = key, s->len = (uint32_t)len, s->val = -1;
            m->n++;
            return &s->val;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) return &s->val;
    }
}

static void smap_grow(smap *m)
{
    smap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->slot = reel_xcalloc(m->cap, sizeof *m->slot);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i].key) *smap_ref(m, old.slot[i].key, old.slot[i].len, 1) = old.slot[i].val;
    free(old.slot);
}

static int32_t smap_get(const smap *m, const char *key, size_t len)
{
    int32_t *v = smap_ref((smap *)m, key, len, 0);
    return v ? *v : -1;
}

typedef struct merge_val {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank, new_id;
} merge_val;

typedef struct mmap_ {
    merge_val *slot;
    size_t cap, n;
} mmap_;

static merge_val *mmap_ref(mmap_ *m, uint64_t key, int insert)
{
    if (!m->cap) return NULL;
    key += 1;
    size_t mask = m->cap - 1, i = hash_u64(key) & mask;
    for (;; i = (i + 1) & mask) {
        merge_val *s = &m->slot[i];
        if (!s->key) {
            if (!insert) return NULL;
            s->key = key;
            m->n++;
            return s;
        }
        if (s->key == key) return s;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The tokenizer. */
enum { STEP_SPLIT = 0, STEP_BYTELEVEL = 1 };
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };

typedef struct pre_step {
    int kind;
    int behavior, invert;            /* Split */
    int add_prefix_space, use_regex; /* ByteLevel */
    pcre2_code *re;                  /* Split regex, or ByteLevel's GPT-2 regex */
} pre_step;

typedef struct added_tok {
    const char *content; /* borrowed from the pool */
    uint32_t len;
    int32_t id;
    uint8_t special, lstrip, rstrip, single_word, normalized;
} added_tok;

/* Trie over the bytes of added tokens: node 0 is the root; edges live in a hash map keyed by
 * (node << 8 | byte). */
typedef struct trie {
    mmap_ edges;   /* key -> new_id = child node */
    int32_t *term; /* [n_nodes] added_tok index ending here, -1 */
    int n_nodes, cap_nodes;
    uint8_t first[256];
} trie;

struct reel_llm_tokenizer {
    int32_t n_vocab;
    char **text;      /* [n_vocab] stored token text or NULL (pointers into pool) */
    const char **dec; /* [n_vocab] decoded bytes */
    uint32_t *dec_len;
    uint8_t *special; /* [n_vocab] */
    reel_arena *pool;
    smap model_text; /* model vocab: stored text -> id */
    smap model_raw;  /* model vocab: raw bytes -> id (tokens made of byte-level characters) */
    smap added_text; /* added tokens: content -> id */
    mmap_ merges;
    int32_t byte_id[256];
    added_tok *added;
    int n_added;
    trie trie;
    int has_single_word;
    pcre2_code *word_re; /* [\p{Alphabetic}\p{N}_] for single_word */
    pre_step steps[8];
    int n_steps;
    int32_t prefix[4], suffix[4];
    int n_prefix, n_suffix;
    int32_t bos, eos, unk;
    int ignore_merges, fuse_unk, byte_fallback;
    int32_t byte_fallback_id[256];
};

static char *pool_strndup(reel_arena *a, const char *s, size_t n)
{
    char *p = reel_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Translates an Oniguruma pattern (HF's engine) for PCRE2: Oniguruma's \s is Unicode White_Space,
 * which includes U+0085; PCRE2's (UCP) does not. */
static char *regex_translate(const char *src)
{
    size_t n = strlen(src);
    char *out = reel_xmalloc(n * 12 + 1);
    size_t o = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            char d = src[++i];
            const char *rep = NULL;
            if (d == 's')
                rep = in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            else if (d == 'S' && !in_class)
                rep = "[^\\s\\x{85}]";
            if (rep) {
                memcpy(out + o, rep, strlen(rep));
                o += strlen(rep);
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            continue;
        }
        if (!in_class && c == '[') {
            in_class = 1;
            out[o++] = c;
            if (i + 1 < n && src[i + 1] == '^') out[o++] = src[++i];
            if (i + 1 < n && src[i + 1] == ']') out[o++] = src[++i];
            continue;
        }
        if (in_class && c == '[' && i + 1 < n && src[i + 1] == ':') {
            const char *e = strstr(src + i + 2, ":]");
            if (e) {
                size_t k = (size_t)(e + 2 - (src + i));
                memcpy(out + o, src + i, k);
                o += k, i += k - 1;
                continue;
            }
        }
        if (in_class && c == ']') in_class = 0;
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

static pcre2_code *regex_compile(const char *pattern, int literal, const char *where)
{
    char *tr = literal ? reel_xstrdup(pattern) : regex_translate(pattern);
    int err;
    PCRE2_SIZE off;
    uint32_t opt = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)tr, PCRE2_ZERO_TERMINATED, opt, &err, &off, NULL);
    free(tr);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        reel_set_error(REEL_EFORMAT, "%s: pre-tokenizer regex: %s at offset %zu", where,
                       (const char *)msg, (size_t)off);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
    return re;
}

void reel_llm_tokenizer_free(reel_llm_tokenizer *tok)
{
    if (!tok) return;
    for (int i = 0; i < tok->n_steps; i++) pcre2_code_free(tok->steps[i].re);
    pcre2_code_free(tok->word_re);
    free(tok->text);
    free(tok->dec);
    free(tok->dec_len);
    free(tok->special);
    free(tok->model_text.slot);
    free(tok->model_raw.slot);
    free(tok->added_text.slot);
    free(tok->merges.slot);
    free(tok->added);
    free(tok->trie.edges.slot);
    free(tok->trie.term);
    reel_arena_free(tok->pool);
    free(tok);
}

static reel_llm_tokenizer *tok_new(void)
{
    byte_tables_init();
    reel_llm_tokenizer *tok = reel_xcalloc(1, sizeof *tok);
    tok->pool = reel_arena_init(0);
    tok->bos = tok->eos = tok->unk = -1;
    for (int i = 0; i < 256; i++) tok->byte_id[i] = tok->byte_fallback_id[i] = -1;
    return tok;
}

/* Sizes the id tables for n ids. */
static void tok_alloc_ids(reel_llm_tokenizer *tok, int32_t n)
{
    tok->n_vocab = n;
    tok->text = reel_xcalloc((size_t)n + 1, sizeof *tok->text);
    tok->dec = reel_xcalloc((size_t)n + 1, sizeof *tok->dec);
    tok->dec_len = reel_xcalloc((size_t)n + 1, sizeof *tok->dec_len);
    tok->special = reel_xcalloc((size_t)n + 1, 1);
}

/* Registers a model-vocabulary token. Returns 0 or an error for a duplicate id. */
static int add_model_token(reel_llm_tokenizer *tok, const char *text, size_t len, int32_t id,
                           const char *where)
{
    if (tok->text[id])
        return reel_set_error(REEL_EFORMAT, "%s: token id %d used twice", where, (int)id);
    char *t = pool_strndup(tok->pool, text, len);
    tok->text[id] = t;
    *smap_ref(&tok->model_text, t, len, 1) = id;
    char *raw = reel_arena_alloc(tok->pool, len + 1);
    long rl = bytelevel_to_raw(t, len, raw);
    if (rl >= 0) {
        int32_t *slot = smap_ref(&tok->model_raw, raw, (size_t)rl, 1);
        /* Two stored texts cannot map to the same bytes (the alphabet is a bijection). */
        *slot = id;
        if (rl == 1) tok->byte_id[(unsigned char)raw[0]] = id;
    }
    return 0;
}

static void trie_add(trie *t, const char *s, size_t len, int32_t idx)
{
    if (!t->cap_nodes) {
        t->cap_nodes = 64;
        t->term = reel_xmalloc(sizeof *t->term * 64);
        t->term[0] = -1;
        t->n_nodes = 1;
    }
    int32_t node = 0;
    t->first[(unsigned char)s[0]] = 1;
    for (size_t i = 0; i < len; i++) {
        if ((t->edges.n + 1) * 4 >= t->edges.cap * 3) {
            mmap_ old = t->edges;
            t->edges.cap = old.cap ? old.cap * 2 : 256;
            t->edges.slot = reel_xcalloc(t->edges.cap, sizeof *t->edges.slot);
            t->edges.n = 0;
            for (size_t k = 0; k < old.cap; k++)
                if (old.slot[k].key)
                    mmap_ref(&t->edges, old.slot[k].key - 1, 1)->new_id = old.slot[k].new_id;
            free(old.slot);
        }
        uint64_t key = ((uint64_t)node << 8) | (unsigned char)s[i];
        merge_val *e = mmap_ref(&t->edges, key, 1);
        if (!e->rank) {
            if (t->n_nodes == t->cap_nodes) {
                t->cap_nodes *= 2;
                t->term = reel_xrealloc(t->term, sizeof *t->term * (size_t)t->cap_nodes);
            }
            t->term[t->n_nodes] = -1;
            e->rank = 1;
            e->new_id = t->n_nodes++;
        }
        node = e->new_id;
    }
    t->term[node] = idx; /* a later duplicate content wins, as in HF's map */
}

/* Registers an added token (content must be non-empty). */
static int add_added_token(reel_llm_tokenizer *tok, const char *content, size_t len, int32_t id,
                           int special, int lstrip, int rstrip, int single_word, int normalized)
{
    if (len == 0) return 0; /* HF ignores empty added tokens */
    if (tok->n_added % 64 == 0)
        tok->added = reel_xrealloc(tok->added, sizeof *tok->added * ((size_t)tok->n_added + 64));
    char *c = pool_strndup(tok->pool, content, len);
    added_tok *a = &tok->added[tok->n_added];
    *a = (added_tok){c,
                     (uint32_t)len,
                     id,
                     (uint8_t)special,
                     (uint8_t)lstrip,
                     (uint8_t)rstrip,
                     (uint8_t)single_word,
                     (uint8_t)normalized};
    trie_add(&tok->trie, c, len, tok->n_added);
    tok->n_added++;
    *smap_ref(&tok->added_text, c, len, 1) = id;
    tok->text[id] = c; /* the added token's content is what HF decodes for this id */
    tok->special[id] = (uint8_t)special;
    if (single_word) tok->has_single_word = 1;
    return 0;
}

/* Fills the decode table (ByteLevel decoder: per token, its bytes if every character is in the
 * byte alphabet, else its UTF-8 text unchanged). */
static void build_decode_table(reel_llm_tokenizer *tok)
{
    for (int32_t id = 0; id < tok->n_vocab; id++) {
        const char *t = tok->text[id];
        if (!t) continue;
        size_t len = strlen(t);
        char *raw = reel_arena_alloc(tok->pool, len + 1);
        long rl = bytelevel_to_raw(t, len, raw);
        if (rl < 0) {
            tok->dec[id] = t;
            tok->dec_len[id] = (uint32_t)len;
        } else {
            raw[rl] = 0;
            tok->dec[id] = raw;
            tok->dec_len[id] = (uint32_t)rl;
        }
    }
}

/* Adds merge (a, b) at rank; a later duplicate pair takes the later rank (HF collects the merges
 * into a map). */
static int add_merge(reel_llm_tokenizer *tok, const char *a, size_t la, const char *b, size_t lb,
                     int32_t rank, const char *where)
{
    int32_t ia = smap_get(&tok->model_text, a, la), ib = smap_get(&tok->model_text, b, lb);
    if (ia < 0 || ib < 0)
        return reel_set_error(REEL_EFORMAT, "%s: merge %d: token '%.*s' is not in the vocabulary",
                              where, (int)rank, (int)(ia < 0 ? la : lb), ia < 0 ? a : b);
    char stackbuf[256];
    char *ab = la + lb <= sizeof stackbuf ? stackbuf : reel_xmalloc(la + lb);
    memcpy(ab, a, la);
    memcpy(ab + la, b, lb);
    int32_t inew = smap_get(&tok->model_text, ab, la + lb);
    if (ab != stackbuf) free(ab);
    if (inew < 0)
        return reel_set_error(REEL_EFORMAT, "%s: merge %d: '%.*s%.*s' is not in the vocabulary",
                              where, (int)rank, (int)la, a, (int)lb, b);
    if ((tok->merges.n + 1) * 4 >= tok->merges.cap * 3) {
        mmap_ old = tok->merges;
        tok->merges.cap = old.cap ? old.cap * 2 : 1024;
        tok->merges.slot = reel_xcalloc(tok->merges.cap, sizeof *tok->merges.slot);
        tok->merges.n = 0;
        for (size_t k = 0; k < old.cap; k++)
            if (old.slot[k].key) {
                merge_val *v = mmap_ref(&tok->merges, old.slot[k].key - 1, 1);
                v->rank = old.slot[k].rank, v->new_id = old.slot[k].new_id;
            }
        free(old.slot);
    }
    merge_val *v = mmap_ref(&tok->merges, ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib, 1);
    v->rank = rank;
    v->new_id = inew;
    return 0;
}

static int finish_common(reel_llm_tokenizer *tok, const char *where)
{
    build_decode_table(tok);
    if (tok->has_single_word) {
        tok->word_re = regex_compile("[\\p{Alphabetic}\\p{N}_]", 0, where);
        if (!tok->word_re) return REEL_EFORMAT;
    }
    if (tok->byte_fallback)
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            tok->byte_fallback_id[b] = smap_get(&tok->model_text, name, 6);
        }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * tokenizer.json */
static int json_flag(json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static int parse_pre_tokenizer(reel_llm_tokenizer *tok, json_t *pt, const char *where, int depth)
{
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!json_is_object(pt) || !type)
        return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer: expected an object with a type",
                              where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(pt, "pretokenizers");
        if (!json_is_array(arr) || depth > 4)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer: bad Sequence", where);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int rc = parse_pre_tokenizer(tok, json_array_get(arr, i), where, depth + 1);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (tok->n_steps == (int)(sizeof tok->steps / sizeof tok->steps[0]))
        return reel_set_error(REEL_EUNSUPPORTED, "%s: pre_tokenizer: too many steps", where);
    pre_step *st = &tok->steps[tok->n_steps];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "Split") == 0) {
        json_t *pat = json_object_get(pt, "pattern");
        const char *re = json_string_value(json_object_get(pat, "Regex"));
        const char *lit = json_string_value(json_object_get(pat, "String"));
        if (!re && !lit)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer Split: no pattern", where);
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                      "Contiguous"};
        st->behavior = -1;
        for (int i = 0; i < 5; i++)
            if (beh && strcmp(beh, names[i]) == 0) st->behavior = i;
        if (st->behavior < 0)
            return reel_set_error(REEL_EFORMAT, "%s: pre_tokenizer Split: bad behavior '%s'", where,
                                  beh ? beh : "(none)");
        st->invert = json_flag(pt, "invert", 0);
        st->kind = STEP_SPLIT;
        st->re = regex_compile(re ? re : lit, lit && !re, where);
        if (!st->re) return REEL_EFORMAT;
    } else if (strcmp(type, "ByteLevel") == 0) {
        st->kind = STEP_BYTELEVEL;
        /* HF requires add_prefix_space (we take a missing one as false, the modern setting);
         * use_regex defaults to true as in HF's deserializer */
        st->add_prefix_space = json_flag(pt, "add_prefix_space", 0);
        st->use_regex = json_flag(pt, "use_regex", 1);
        if (st->use_regex) {
            st->re = regex_compile(RE_GPT2, 0, where);
            if (!st->re) return REEL_EFORMAT;
        }
    } else {
        return reel_set_error(REEL_EUNSUPPORTED,
                              "%s: pre_tokenizer type '%s' is not supported "
                              "(byte-level BPE needs Split/ByteLevel)",
                              where, type);
    }
    tok->n_steps++;
    return 0;
}

/* Resolves a TemplateProcessing special token name to its ids. */
static int template_ids(json_t *specials, const char *name, int32_t *out, int *n, int max,
                        const char *where)
{
    json_t *ids = json_object_get(json_object_get(specials, name), "ids");
    if (!json_is_array(ids))
        return reel_set_error(REEL_EFORMAT, "%s: post_processor: special token '%s' has no ids",
                              where, name);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || *n >= max)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad ids for '%s'", where,
                                  name);
        out[(*n)++] = (int32_t)json_integer_value(v);
    }
    return 0;
}

static int parse_post_processor(reel_llm_tokenizer *tok, json_t *pp, const char *where, int depth,
                                int *seen)
{
    if (!pp || json_is_null(pp)) return 0;
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type) return reel_set_error(REEL_EFORMAT, "%s: post_processor: no type", where);
    if (strcmp(type, "Sequence") == 0) {
        json_t *arr = json_object_get(pp, "processors");
        if (!json_is_array(arr) || depth > 4)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad Sequence", where);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int rc = parse_post_processor(tok, json_array_get(arr, i), where, depth + 1, seen);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) return 0; /* only trims offsets */
    if (strcmp(type, "TemplateProcessing") != 0)
        return reel_set_error(REEL_EUNSUPPORTED, "%s: post_processor type '%s' is not supported",
                              where, type);
    *seen = 1;
    json_t *single = json_object_get(pp, "single"),
           *specials = json_object_get(pp, "special_tokens");
    if (!json_is_array(single))
        return reel_set_error(REEL_EFORMAT, "%s: post_processor: no 'single' template", where);
    int after = 0;
    tok->n_prefix = tok->n_suffix = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        json_t *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            after = 1;
            continue;
        }
        const char *name = json_string_value(json_object_get(sp, "id"));
        if (!name)
            return reel_set_error(REEL_EFORMAT, "%s: post_processor: bad template item %zu", where,
                                  i);
        int rc = after ? template_ids(specials, name, tok->suffix, &tok->n_suffix, 4, where)
                       : template_ids(specials, name, tok->prefix, &tok->n_prefix, 4, where);
        if (rc < 0) return rc;
    }
    return 0;
}

static int check_id(json_t *v, int32_t max, int32_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= max) return -1;
    *out = (int32_t)x;
    return 0;
}

/* Upper bound on ids: keeps a corrupt file from asking for a huge table. */
#define MAX_VOCAB (1 << 22)

static reel_llm_tokenizer *build_json(const char *json, size_t len, const char *where,
                                      const reel_llm_vocab *v)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        reel_set_error(REEL_EFORMAT, "%s: line %d: %s", where, jerr.line, jerr.text);
        return NULL;
    }
    reel_llm_tokenizer *tok = tok_new();
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    const char *key;
    json_t *val;
    if (!json_is_object(model) || !json_is_object(vocab) || !json_is_array(merges)) {
        reel_set_error(REEL_EFORMAT, "%s: model: expected a BPE model with vocab and merges",
                       where);
        goto fail;
    }
    if (mtype && strcmp(mtype, "BPE") != 0) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: model type '%s' is not supported (only BPE)", where,
                       mtype);
        goto fail;
    }
    const char *pfx = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *sfx = json_string_value(json_object_get(model, "end_of_word_suffix"));
    json_t *dropout = json_object_get(model, "dropout");
    if ((pfx && *pfx) || (sfx && *sfx) ||
        (json_is_number(dropout) && json_number_value(dropout) > 0)) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: model: subword prefix/suffix or dropout are not "
                       "supported",
                       where);
        goto fail;
    }
    if (json_object_get(root, "normalizer") && !json_is_null(json_object_get(root, "normalizer"))) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: normalizer is not supported (byte-level BPE "
                       "tokenizers have none)",
                       where);
        goto fail;
    }
    /* Size the id space. */
    int32_t n = 0;
    json_object_foreach(vocab, key, val)
    {
        int32_t id;
        if (check_id(val, MAX_VOCAB, &id) < 0) {
            reel_set_error(REEL_EFORMAT, "%s: model.vocab['%s']: bad id", where, key);
            goto fail;
        }
        if (id + 1 > n) n = id + 1;
    }
    if (added && !json_is_array(added)) {
        reel_set_error(REEL_EFORMAT, "%s: added_tokens: expected an array", where);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        int32_t id;
        if (check_id(json_object_get(a, "id"), MAX_VOCAB, &id) < 0 ||
            !json_is_string(json_object_get(a, "content"))) {
            reel_set_error(REEL_EFORMAT, "%s: added_tokens[%zu]: bad id or content", where, i);
            goto fail;
        }
        if (id + 1 > n) n = id + 1;
    }
    tok_alloc_ids(tok, n);
    json_object_foreach(vocab, key, val)
    {
        if (add_model_token(tok, key, strlen(key), (int32_t)json_integer_value(val), where) < 0)
            goto fail;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        json_t *c = json_object_get(a, "content");
        add_added_token(tok, json_string_value(c), json_string_length(c),
                        (int32_t)json_integer_value(json_object_get(a, "id")),
                        json_flag(a, "special", 0), json_flag(a, "lstrip", 0),
                        json_flag(a, "rstrip", 0), json_flag(a, "single_word", 0),
                        json_flag(a, "normalized", !json_flag(a, "special", 0)));
    }
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t la, lb;
        char w[48];
        snprintf(w, sizeof w, "model.merges[%zu]", i);
        if (json_is_string(m)) {
            /* "a b": exactly one space (HF splits on ' ' and wants two parts) */
            a = json_string_value(m);
            const char *sp = memchr(a, ' ', json_string_length(m));
            if (!sp || memchr(sp + 1, ' ', json_string_length(m) - (size_t)(sp + 1 - a))) {
                reel_set_error(REEL_EFORMAT, "%s: %s: expected \"a b\"", where, w);
                goto fail;
            }
            la = (size_t)(sp - a), b = sp + 1, lb = json_string_length(m) - la - 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)),
            la = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)),
            lb = json_string_length(json_array_get(m, 1));
        } else {
            reel_set_error(REEL_EFORMAT, "%s: %s: expected \"a b\" or [\"a\", \"b\"]", where, w);
            goto fail;
        }
        if (add_merge(tok, a, la, b, lb, (int32_t)i, where) < 0) goto fail;
    }
    tok->ignore_merges = json_flag(model, "ignore_merges", 0);
    tok->fuse_unk = json_flag(model, "fuse_unk", 0);
    tok->byte_fallback = json_flag(model, "byte_fallback", 0);
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (unk) tok->unk = smap_get(&tok->model_text, unk, strlen(unk));
    if (parse_pre_tokenizer(tok, json_object_get(root, "pre_tokenizer"), where, 0) < 0) goto fail;
    int has_bl = 0;
    for (int i = 0; i < tok->n_steps; i++) has_bl |= tok->steps[i].kind == STEP_BYTELEVEL;
    if (!has_bl) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s: pre_tokenizer has no ByteLevel step; only "
                       "byte-level BPE is supported",
                       where);
        goto fail;
    }
    /* The decoder: ByteLevel, alone or in a Sequence (nothing else makes sense for byte-level
     * BPE; null keeps the byte-level decoding too). */
    json_t *dec = json_object_get(root, "decoder");
    const char *dtype = json_string_value(json_object_get(dec, "type"));
    if (dtype && strcmp(dtype, "Sequence") == 0) {
        json_t *list = json_object_get(dec, "decoders");
        for (size_t i = 0; i < json_array_size(list); i++) {
            const char *t = json_string_value(json_object_get(json_array_get(list, i), "type"));
            if (t && strcmp(t, "ByteLevel") == 0) dtype = t;
        }
    }
    if (dec && !json_is_null(dec) && (!dtype || strcmp(dtype, "ByteLevel") != 0)) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: decoder type '%s' is not supported (only ByteLevel)",
                       where, dtype ? dtype : "?");
        goto fail;
    }
    int seen_template = 0;
    if (parse_post_processor(tok, json_object_get(root, "post_processor"), where, 0,
                             &seen_template) < 0)
        goto fail;
    for (int i = 0; i < tok->n_prefix; i++)
        if (tok->prefix[i] < 0 || tok->prefix[i] >= n || !tok->text[tok->prefix[i]]) {
            reel_set_error(REEL_EFORMAT, "%s: post_processor: id %d is not a token", where,
                           (int)tok->prefix[i]);
            goto fail;
        }
    for (int i = 0; i < tok->n_suffix; i++)
        if (tok->suffix[i] < 0 || tok->suffix[i] >= n || !tok->text[tok->suffix[i]]) {
            reel_set_error(REEL_EFORMAT, "%s: post_processor: id %d is not a token", where,
                           (int)tok->suffix[i]);
            goto fail;
        }
    if (v && v->bos_id >= 0 && v->bos_id < n && tok->text[v->bos_id]) tok->bos = v->bos_id;
    if (v && v->eos_id >= 0 && v->eos_id < n && tok->text[v->eos_id]) tok->eos = v->eos_id;
    if (tok->bos < 0)
        tok->bos = tok->n_prefix ? tok->prefix[0] : smap_get(&tok->added_text, "<s>", 3);
    if (tok->eos < 0) tok->eos = smap_get(&tok->added_text, "</s>", 4);
    /* Without a template post-processor, the vocabulary's add_bos/add_eos (tokenizer_config.json
     * add_bos_token, as transformers applies it) decide. */
    if (v && !seen_template) {
        if (v->add_bos && tok->bos >= 0) tok->prefix[tok->n_prefix++] = tok->bos;
        if (v->add_eos && tok->eos >= 0) tok->suffix[tok->n_suffix++] = tok->eos;
    }
    if (finish_common(tok, where) < 0) goto fail;
    json_decref(root);
    return tok;
fail:
    json_decref(root);
    reel_llm_tokenizer_free(tok);
    return NULL;
}

reel_llm_tokenizer *reel_llm_tokenizer_init_json(const char *json, size_t len, const char *where)
{
    return build_json(json, len, where ? where : "tokenizer.json", NULL);
}

/* GGUF arrays: tokenizer.ggml.{tokens,token_type,merges,pre}. */
static reel_llm_tokenizer *build_gguf(const reel_llm_vocab *v)
{
    const char *where = "tokenizer.ggml";
    if (v->model && strcmp(v->model, "gpt2") != 0) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "%s.model '%s' is not supported (only gpt2 byte-level "
                       "BPE)",
                       where, v->model);
        return NULL;
    }
    if (v->n_tokens <= 0 || v->n_tokens > MAX_VOCAB || !v->tokens || v->n_merges < 0 ||
        (v->n_merges > 0 && !v->merges)) {
        reel_set_error(REEL_EFORMAT, "%s: %d tokens: bad vocabulary", where, v->n_tokens);
        return NULL;
    }
    const char *re = v->pre_regex;
    int ignore_merges = 0;
    const char *pre = v->pre ? v->pre : "default";
    if (!re) {
        if (!strcmp(pre, "pixtral") || !strcmp(pre, "tekken"))
            re = RE_TEKKEN, ignore_merges = 1;
        else if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe"))
            re = RE_LLAMA3, ignore_merges = 1;
        else if (!strcmp(pre, "gpt2") || !strcmp(pre, "default"))
            re = RE_GPT2;
        else {
            reel_set_error(REEL_EUNSUPPORTED,
                           "%s.pre '%s' is not a known pre-tokenizer (known: "
                           "pixtral, tekken, llama3, llama-bpe, gpt2, default)",
                           where, pre);
            return NULL;
        }
    }
    reel_llm_tokenizer *tok = tok_new();
    tok_alloc_ids(tok, v->n_tokens);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const char *t = v->tokens[i];
        if (!t) {
            reel_set_error(REEL_EFORMAT, "%s.tokens[%d]: missing", where, (int)i);
            goto fail;
        }
        if (add_model_token(tok, t, strlen(t), i, where) < 0) goto fail;
    }
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int type = v->token_type ? v->token_type[i] : 1;
        /* control and unknown tokens are special added tokens; user-defined ones are added
         * tokens that are not special (llama.cpp splits all three out before pre-tokenising). */
        if (type == 2 || type == 3 || type == 4)
            add_added_token(tok, v->tokens[i], strlen(v->tokens[i]), i, type != 4, 0, 0, 0, 0);
    }
    for (int i = 0; i < v->n_merges; i++) {
        const char *m = v->merges[i];
        const char *sp = m && m[0] ? strchr(m + 1, ' ') : NULL;
        if (!sp) {
            reel_set_error(REEL_EFORMAT, "%s.merges[%d]: expected \"a b\"", where, i);
            goto fail;
        }
        if (add_merge(tok, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), i, where) < 0) goto fail;
    }
    tok->ignore_merges = ignore_merges;
    tok->steps[0] = (pre_step){
        .kind = STEP_SPLIT, .behavior = SPLIT_ISOLATED, .re = regex_compile(re, 0, where)};
    if (!tok->steps[0].re) goto fail;
    tok->steps[1] = (pre_step){.kind = STEP_BYTELEVEL};
    tok->n_steps = 2;
    if (v->bos_id >= 0 && v->bos_id < v->n_tokens) tok->bos = v->bos_id;
    if (v->eos_id >= 0 && v->eos_id < v->n_tokens) tok->eos = v->eos_id;
    if (v->unk_id >= 0 && v->unk_id < v->n_tokens) tok->unk = v->unk_id;
    if (v->add_bos && tok->bos >= 0) tok->prefix[tok->n_prefix++] = tok->bos;
    if (v->add_eos && tok->eos >= 0) tok->suffix[tok->n_suffix++] = tok->eos;
    if (finish_common(tok, where) < 0) goto fail;
    return tok;
fail:
    reel_llm_tokenizer_free(tok);
    return NULL;
}

reel_llm_tokenizer *reeli_tokenizer_init_named(const reel_llm_vocab *v, const char *json_name)
{
    if (!v) {
        reel_set_error(REEL_EINVAL, "tokenizer: no vocabulary");
        return NULL;
    }
    if (v->tokenizer_json)
        return build_json(v->tokenizer_json, strlen(v->tokenizer_json),
                          json_name ? json_name : "tokenizer.json", v);
    return build_gguf(v);
}

reel_llm_tokenizer *reel_llm_tokenizer_init(const reel_llm_vocab *v)
{
    return reeli_tokenizer_init_named(v, NULL);
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
            uint16_t cp = byte_to_cp[w[i]];
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

/* ---------------------------------------------------------------------------------------------
 * Lookups and decoding. */
int32_t reel_llm_tokenizer_n_vocab(const reel_llm_tokenizer *tok)
{
    return tok->n_vocab;
}
int32_t reel_llm_tokenizer_bos(const reel_llm_tokenizer *tok)
{
    return tok->bos;
}
int32_t reel_llm_tokenizer_eos(const reel_llm_tokenizer *tok)
{
    return tok->eos;
}

int32_t reel_llm_tokenizer_find(const reel_llm_tokenizer *tok, const char *text)
{
    int32_t id = smap_get(&tok->added_text, text, strlen(text));
    return id >= 0 ? id : smap_get(&tok->model_text, text, strlen(text));
}

const char *reel_llm_tokenizer_token_text(const reel_llm_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_vocab ? tok->text[id] : NULL;
}

int reel_llm_tokenizer_is_special(const reel_llm_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_vocab && tok->special[id];
}

int reel_llm_tokenizer_token_bytes(const reel_llm_tokenizer *tok, int32_t id, const char **data,
                                   size_t *len)
{
    if (id < 0 || id >= tok->n_vocab || !tok->text[id])
        return reel_set_error(REEL_ERANGE, "token id %ld is not in the vocabulary (%d ids)",
                              (long)id, (int)tok->n_vocab);
    *data = tok->dec[id];
    *len = tok->dec_len[id];
    return 0;
}

int reel_llm_tokenizer_decode(const reel_llm_tokenizer *tok, const int32_t *ids, size_t n_ids,
                              uint32_t flags, char **out, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        const char *d;
        size_t l;
        int rc = reel_llm_tokenizer_token_bytes(tok, ids[i], &d, &l);
        if (rc < 0) return rc;
        if (!((flags & REEL_LLM_TOK_SKIP_SPECIAL) && tok->special[ids[i]])) total += l;
    }
    char *buf = malloc(total + 1);
    if (!buf)
        return reel_set_error(REEL_ENOMEM, "tokenizer: out of memory decoding %zu ids", n_ids);
    size_t o = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if ((flags & REEL_LLM_TOK_SKIP_SPECIAL) && tok->special[ids[i]]) continue;
        memcpy(buf + o, tok->dec[ids[i]], tok->dec_len[ids[i]]);
        o += tok->dec_len[ids[i]];
    }
    buf[o] = 0;
    *out = buf;
    *len = o;
    return 0;
}

struct reel_llm_detok {
    const reel_llm_tokenizer *tok;
    uint32_t flags;
    char *buf; /* held bytes, then the bytes being returned */
    size_t held, cap;
    char *out;
    size_t out_cap;
};

reel_llm_detok *reel_llm_detok_init(const reel_llm_tokenizer *tok, uint32_t flags)
{
    reel_llm_detok *s = reel_xcalloc(1, sizeof *s);
    s->tok = tok;
    s->flags = flags;
    return s;
}

void reel_llm_detok_free(reel_llm_detok *s)
{
    if (!s) return;
    free(s->buf);
    free(s->out);
    free(s);
}

/* Number of bytes at the end of b[0..n) that start a UTF-8 sequence which could still complete. */
static size_t incomplete_tail(const unsigned char *b, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = b[n - k];
        if ((c & 0xC0) == 0x80) continue;
        size_t bad = 0;
        if (c < 0xC2 || c > 0xF4) return 0;
        /* the k bytes are a valid prefix if the checker stops at their end, not before */
        int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if ((int)k >= need) return 0;
        utf8_seq(b + n - k, k, &bad);
        return bad == k ? k : 0;
    }
    return 0;
}

int reel_llm_detok_push(reel_llm_detok *s, int32_t id, const char **text, size_t *len)
{
    const char *d;
    size_t l;
    int rc = reel_llm_tokenizer_token_bytes(s->tok, id, &d, &l);
    if (rc < 0) return rc;
    if ((s->flags & REEL_LLM_TOK_SKIP_SPECIAL) && s->tok->special[id]) l = 0;
    if (s->held + l > s->cap) {
        s->cap = (s->held + l) * 2 + 16;
        s->buf = reel_xrealloc(s->buf, s->cap);
    }
    if (l) memcpy(s->buf + s->held, d, l);
    size_t n = s->held + l;
    size_t keep = n ? incomplete_tail((const unsigned char *)s->buf, n) : 0;
    size_t ready = n - keep;
    if (ready + 1 > s->out_cap) {
        s->out_cap = ready * 2 + 16;
        s->out = reel_xrealloc(s->out, s->out_cap);
    }
    if (ready) memcpy(s->out, s->buf, ready);
    s->out[ready] = 0;
    if (keep && ready) memmove(s->buf, s->buf + ready, keep);
    s->held = keep;
    *text = s->out;
    *len = ready;
    return 0;
}

void reel_llm_detok_flush(reel_llm_detok *s, const char **text, size_t *len)
{
    if (s->held + 1 > s->out_cap) {
        s->out_cap = s->held + 16;
        s->out = reel_xrealloc(s->out, s->out_cap);
    }
    if (s->held) memcpy(s->out, s->buf, s->held);
    s->out[s->held] = 0;
    *text = s->out;
    *len = s->held;
    s->held = 0;
}
