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
                   : reel_set_error(REEL_EINVAL,
                                    "grammar: end of text before the output is complete");
    const char *bytes;
    size_t len;
    if (reel_llm_tokenizer_is_special(c->tok, id) ||
        reel_llm_tokenizer_token_bytes(c->tok, id, &bytes, &len) < 0 || len == 0)
        return reel_set_error(REEL_EINVAL, "grammar: token %d is not text", (int)id);
    if (reel_grammar_state_advance(c->state, bytes, len) < 0)
        return reel_set_error(REEL_EINVAL, "grammar: token %d does not fit the grammar here",
                              (int)id);
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
        return reel_set_error(REEL_EINVAL,
                              "grammar: the saved position belongs to another grammar");
    reel_grammar_state_copy(c->state, saved);
    return 0;
}
