/* Private to llm/tokenizer-*.c: the tokenizer's tables, and the hash maps and UTF-8 helpers that
 * both construction and encoding use. */
#ifndef REEL_LLM_TOKENIZER_IMPL_H
#define REEL_LLM_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "llm/tokenizer.h"

#include "core/core.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * UTF-8 helpers. */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one; *bad gets
 * the length of the maximal invalid subpart (Unicode 3.9 / Python "replace"). */
static inline int utf8_seq(const unsigned char *s, size_t n, size_t *bad)
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

/* Decodes one code point of valid UTF-8; returns its length. */
static inline int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    if (s[0] < 0xE0) return *cp = ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu), 2;
    if (s[0] < 0xF0)
        return *cp = ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu), 3;
    *cp = ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    return 4;
}

/* Start of the code point that ends just before s+end (valid UTF-8). */
static inline size_t utf8_prev(const unsigned char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && (s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Rust char::is_whitespace: the Unicode White_Space property. */
static inline int is_white_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* GPT-2 byte -> unicode alphabet (tokenizer-build.c fills it before the first tokenizer). */
extern uint16_t reeli_byte_to_cp[256];

/* ---------------------------------------------------------------------------------------------
 * Hash maps (open addressing, power-of-two capacity). */
static inline uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_u64(uint64_t x)
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

static inline void smap_grow(smap *m);

static inline int32_t *smap_ref(smap *m, const char *key, size_t len, int insert)
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

static inline void smap_grow(smap *m)
{
    smap old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    m->slot = reel_xcalloc(m->cap, sizeof *m->slot);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slot[i].key) *smap_ref(m, old.slot[i].key, old.slot[i].len, 1) = old.slot[i].val;
    free(old.slot);
}

static inline int32_t smap_get(const smap *m, const char *key, size_t len)
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

static inline merge_val *mmap_ref(mmap_ *m, uint64_t key, int insert)
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

#endif
