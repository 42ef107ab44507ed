/* Grammar-constrained decoding over a tokenizer's vocabulary (see llm/constrain.h). */
#include "llm/constrain.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct reel_llm_constraint {
    const reel_llm_tokenizer *tok;
    const reel_grammar *g;
    reel_grammar_vocab *vocab;
    reel_grammar_state *state;
    int n_vocab;
    uint8_t *mask;
    int32_t eog[4];
    int n_eog;
};

reel_llm_constraint *reel_llm_constraint_init(const reel_llm_tokenizer *tok, const reel_grammar *g)
{
    reel_llm_constraint *c = reel_xcalloc(1, sizeof *c);
    c->tok = tok;
    c->g = g;
    c->n_vocab = reel_llm_tokenizer_n_vocab(tok);
    int n = c->n_vocab;
    const char **bytes = reel_xcalloc((size_t)n, sizeof *bytes);
    size_t *len = reel_xcalloc((size_t)n, sizeof *len);
    uint8_t *special = reel_xcalloc((size_t)n, 1);
    for (int32_t i = 0; i < n; i++) {
        if (reel_llm_tokenizer_is_special(tok, i) ||
            reel_llm_tokenizer_token_bytes(tok, i, &bytes[i], &len[i]) < 0) {
            special[i] = 1;
            bytes[i] = "";
            len[i] = 0;
        }
    }
    reel_clear_error();
    int32_t eos = reel_llm_tokenizer_eos(tok);
    if (eos >= 0) c->eog[c->n_eog++] = eos;
    static const char *const turn_ends[] = {"<|im_end|>", "<SPECIAL_12>", "</s>"};
    for (size_t i = 0; i < sizeof turn_ends / sizeof *turn_ends; i++) {
        int32_t id = reel_llm_tokenizer_find(tok, turn_ends[i]);
        int dup = 0;
        for (int k = 0; k < c->n_eog; k++) dup |= c->eog[k] == id;
        if (id >= 0 && !dup && c->n_eog < 4) c->eog[c->n_eog++] = id;
    }
    c->vocab = reel_grammar_vocab_init(n, bytes, len, special, c->eog, c->n_eog);
    free(bytes);
    free(len);
    free(special);
    c->state = reel_grammar_state_init(g);
    c->mask = reel_xmalloc(((size_t)n + 7) / 8);
    return c;
}

void reel_llm_constraint_free(reel_llm_constraint *c)
{
    if (!c) return;
    reel_grammar_vocab_free(c->vocab);
    reel_grammar_state_free(c->state);
    free(c->mask);
    free(c);
}

int reel_llm_constraint_apply(reel_llm_constraint *c, float *logits, int n_vocab)
{
    int count = reel_grammar_mask(c->vocab, c->state, c->mask);
    if (count <= 0)
        return reel_set_error(REEL_EINVAL, "grammar: no token of the vocabulary can continue the "
                                           "output here");
    for (int i = 0; i < n_vocab; i++)
        if (i >= c->n_vocab || !((c->mask[i >> 3] >> (i & 7)) & 1)) logits[i] = -INFINITY;
    return count;
}

int reel_llm_constraint_is_eog(const reel_llm_constraint *c, int32_t id)
{
    for (int i = 0; i < c->n_eog; i++)
        if (c->eog[i] == id) return 1;
    return 0;
}

int reel_llm_constraint_accept(reel_llm_constraint *c, int32_t id)
{
    if (reel_llm_constraint_is_eog(c, id))
        return reel_grammar_state_accepting(c->state)
                   ? 0
                   : reel_set_error(REEL_EINVAL, "grammar: end of text before the output is complete");
    const char *bytes;
    size_t len;
    if (reel_llm_tokenizer_is_special(c->tok, id) ||
        reel_llm_tokenizer_token_bytes(c->tok, id, &bytes, &len) < 0 || len == 0)
        return reel_set_error(REEL_EINVAL, "grammar: token %d is not text", (int)id);
    if (reel_grammar_state_advance(c->state, bytes, len) < 0)
        return reel_set_error(REEL_EINVAL, "grammar: token %d does not fit the grammar here", (int)id);
    return 0;
}

int reel_llm_constraint_accepting(const reel_llm_constraint *c)
{
    return reel_grammar_state_accepting(c->state);
}

int reel_llm_constraint_done(const reel_llm_constraint *c)
{
    return reel_grammar_state_done(c->state);
}

void reel_llm_constraint_reset(reel_llm_constraint *c)
{
    reel_grammar_state_free(c->state);
    c->state = reel_grammar_state_init(c->g);
}

reel_grammar_state *reel_llm_constraint_snapshot(const reel_llm_constraint *c)
{
    return reel_grammar_state_clone(c->state);
}

int reel_llm_constraint_restore(reel_llm_constraint *c, const reel_grammar_state *saved)
{
    if (reel_grammar_state_grammar(saved) != c->g)
        return reel_set_error(REEL_EINVAL, "grammar: the saved position belongs to another grammar");
    reel_grammar_state_copy(c->state, saved);
    return 0;
}

int reel_llm_generate_constrained(reel_llm_session *s, reel_llm_sampler *smp,
                                  const reel_llm_tokenizer *tok, reel_llm_constraint *c,
                                  int n_predict, void (*on_text)(void *ctx, const char *text,
                                                                 size_t len),
                                  void *ctx, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    int n_vocab = c->n_vocab;
    float *logits = reel_aligned_alloc((size_t)n_vocab * sizeof *logits, 64, 0, "logits");
    if (!logits) return REEL_ENOMEM;
    size_t cap = 256, n = 0;
    char *text = reel_xmalloc(cap);
    text[0] = '\0';
    int rc = 0;
    int produced = 0;
    for (;;) {
        if (reel_llm_constraint_done(c)) break;
        if (produced >= n_predict) {
            rc = reel_set_error(REEL_ERANGE,
                                "the output was not complete after %d tokens (raise -n / "
                                "max_tokens): %.60s%s",
                                n_predict, text, n > 60 ? "..." : "");
            break;
        }
        const float *row = reel_llm_session_logits(s, -1);
        if (!row) {
            rc = reel_set_error(REEL_EINVAL, "generate: the session has no logits (no prompt)");
            break;
        }
        memcpy(logits, row, (size_t)n_vocab * sizeof *logits);
        if ((rc = reel_llm_constraint_apply(c, logits, n_vocab)) < 0) break;
        int32_t id = reel_llm_sampler_sample(smp, logits, n_vocab);
        if (id < 0 || (rc = reel_llm_constraint_accept(c, id)) < 0) {
            if (id < 0) rc = id;
            break;
        }
        produced++;
        if (reel_llm_constraint_is_eog(c, id)) break;
        const char *bytes;
        size_t len;
        reel_llm_tokenizer_token_bytes(tok, id, &bytes, &len);
        if (n + len + 1 > cap) {
            while (n + len + 1 > cap) cap *= 2;
            text = reel_xrealloc(text, cap);
        }
        memcpy(text + n, bytes, len);
        n += len;
        text[n] = '\0';
        if (on_text) on_text(ctx, bytes, len);
        if (reel_llm_constraint_done(c)) break;
        if ((rc = reel_llm_session_decode(s, &id, 1, 0)) < 0) break;
    }
    reel_aligned_free(logits);
    if (rc < 0) {
        free(text);
        return rc;
    }
    *out = text;
    if (out_len) *out_len = n;
    return 0;
}
