/* Token lookups and decoding: ids back to text, whole or as a stream. */
#include "llm/tokenizer-impl.h"

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
