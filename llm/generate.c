/* The generation loop (llm/generate.h): prefill, then sample -> stop? -> hand out -> decode. */
#include "llm/generate.h"
#include "core/core.h"
#include "llm/chat.h"
#include "llm/constrain.h"

#include <stdlib.h>
#include <string.h>

reel_llm_gen_params reel_llm_gen_default_params(void)
{
    reel_llm_gen_params p = {0};
    return p;
}

static void add_id(int32_t *ids, int *n, int max, int32_t id)
{
    if (id < 0 || *n == max) return;
    for (int i = 0; i < *n; i++)
        if (ids[i] == id) return;
    ids[(*n)++] = id;
}

int reel_llm_gen_stop_ids(const reel_llm_tokenizer *tok, const reel_llm_vocab *vocab, int32_t *ids,
                          int max)
{
    int n = 0;
    add_id(ids, &n, max, vocab->eos_id);
    for (int i = 0; i < vocab->n_eog; i++) add_id(ids, &n, max, vocab->eog_ids[i]);
    /* the turn ends of the chat formats, with or without a chat: a model trained on turns ends
     * its answer with one */
    add_id(ids, &n, max, reel_llm_tokenizer_find(tok, "<|im_end|>"));
    if (reel_llm_chat_detect(vocab->chat_template) == REEL_LLM_CHAT_NANO_V2)
        add_id(ids, &n, max, reel_llm_tokenizer_find(tok, "<SPECIAL_12>"));
    return n;
}

static int is_stop_id(const reel_llm_gen_params *p, int32_t id)
{
    for (int i = 0; i < p->n_stop_ids; i++)
        if (p->stop_ids[i] == id) return 1;
    return 0;
}

/* Cuts the text at the stop strings it now contains; 1 if it did. */
static int cut_at_stop(const reel_llm_gen_params *p, reel_strbuf *t)
{
    int hit = 0;
    for (int i = 0; i < p->n_stop; i++) {
        char *at = strstr(t->p, p->stop[i]);
        if (at) {
            *at = '\0';
            t->n = (size_t)(at - t->p);
            hit = 1;
        }
    }
    return hit;
}

int reel_llm_generate(reel_llm_session *s, reel_llm_sampler *smp, const reel_llm_gen_params *p,
                      reel_llm_gen_result *res)
{
    memset(res, 0, sizeof *res);
    reel_llm_constraint *c = p->constraint;
    int rc = 0;
    for (int64_t i = 0; i < p->n_prompt; i++) reel_llm_sampler_accept(smp, p->prompt[i]);
    if (!p->prefilled && p->n_prompt > 0) {
        const double t0 = reel_now();
        if ((rc = reel_llm_session_decode(s, p->prompt, p->n_prompt, 0)) < 0) return rc;
        res->prefill_s = reel_now() - t0;
    }
    /* a constraint masks a copy of the logits, over the tokenizer's vocabulary */
    const int n_vocab =
        c ? reel_llm_tokenizer_n_vocab(p->tok) : reel_llm_model_n_vocab(reel_llm_session_model(s));
    float *masked = NULL;
    if (c && !(masked = reel_aligned_alloc((size_t)n_vocab * sizeof *masked, 64, 0, "logits")))
        return REEL_ENOMEM;
    reel_llm_detok *dt =
        p->tok && !c ? reel_llm_detok_init(p->tok, REEL_LLM_TOK_SKIP_SPECIAL) : NULL;
    reel_strbuf t = {0};
    reel_strbuf_add(&t, "", 0);
    int n = 0;
    for (;;) {
        if (c && reel_llm_constraint_done(c)) {
            res->stop = REEL_LLM_GEN_GRAMMAR_DONE;
            break;
        }
        if (n >= p->n_predict) {
            if (c) /* fail closed: an incomplete answer is never returned */
                rc = reel_set_error(REEL_ERANGE,
                                    "the output was not complete after %d tokens (raise -n / "
                                    "max_tokens): %.60s%s",
                                    p->n_predict, t.p, t.n > 60 ? "..." : "");
            res->stop = REEL_LLM_GEN_LENGTH;
            break;
        }
        if (p->cancel && *p->cancel) {
            rc = reel_set_error(REEL_ECANCELED, "interrupted");
            break;
        }
        const float *logits = reel_llm_session_logits(s, -1);
        if (!logits) {
            rc = reel_set_error(REEL_EINVAL, "generate: the session has no logits (no prompt)");
            break;
        }
        /* sample, under the grammar's mask when there is one */
        if (c) {
            memcpy(masked, logits, (size_t)n_vocab * sizeof *masked);
            if ((rc = reel_llm_constraint_apply(c, masked, n_vocab)) < 0) break;
            logits = masked;
        }
        const int32_t id = reel_llm_sampler_sample(smp, logits, n_vocab);
        if (id < 0) {
            rc = id;
            break;
        }
        if (c && (rc = reel_llm_constraint_accept(c, id)) < 0) break;
        /* end of generation: the token is not part of the output */
        if (c ? reel_llm_constraint_is_eog(c, id) : is_stop_id(p, id)) {
            res->stop = c ? REEL_LLM_GEN_GRAMMAR_DONE : REEL_LLM_GEN_EOG;
            break;
        }
        /* its text: the token's own bytes under a grammar (never special), else the detokenizer's
         * complete UTF-8 so far (an unknown id adds none) */
        const char *piece = "";
        size_t len = 0;
        if (c)
            reel_llm_tokenizer_token_bytes(p->tok, id, &piece, &len);
        else if (dt && reel_llm_detok_push(dt, id, &piece, &len) < 0)
            piece = "", len = 0;
        reel_strbuf_add(&t, piece, len);
        n++;
        if (p->on_token && (rc = p->on_token(p->ctx, id, piece, len)) < 0) break;
        if (!c && cut_at_stop(p, &t)) {
            res->stop = REEL_LLM_GEN_STOP_STRING;
            break;
        }
        if (c && reel_llm_constraint_done(c)) {
            res->stop = REEL_LLM_GEN_GRAMMAR_DONE;
            break;
        }
        /* the last token the limit allows in free text is not decoded: nothing would read its
         * logits (a constraint decodes it, then fails closed above) */
        if (n >= p->n_predict && !c) {
            res->stop = REEL_LLM_GEN_LENGTH;
            break;
        }
        rc = p->decode_one ? p->decode_one(p->decode_ctx, s, id)
                           : reel_llm_session_decode(s, &id, 1, 0);
        if (rc < 0) {
            if (rc == REEL_ERANGE && !c) { /* context full ends free text */
                rc = 0;
                res->stop = REEL_LLM_GEN_CONTEXT_FULL;
            }
            break;
        }
    }
    if (dt && rc == 0 && res->stop != REEL_LLM_GEN_STOP_STRING) {
        const char *piece;
        size_t len;
        reel_llm_detok_flush(dt, &piece, &len);
        reel_strbuf_add(&t, piece, len);
    }
    reel_llm_detok_free(dt);
    reel_aligned_free(masked);
    if (rc < 0) {
        free(t.p);
        return rc;
    }
    res->text = t.p;
    res->len = t.n;
    res->n_tokens = n;
    return 0;
}

typedef struct {
    void (*on_text)(void *ctx, const char *text, size_t len);
    void *ctx;
} text_cb;

static int call_on_text(void *ctx, int32_t id, const char *text, size_t len)
{
    (void)id;
    const text_cb *cb = ctx;
    cb->on_text(cb->ctx, text, len);
    return 0;
}

int reel_llm_generate_constrained(reel_llm_session *s, reel_llm_sampler *smp,
                                  const reel_llm_tokenizer *tok, reel_llm_constraint *c,
                                  int n_predict,
                                  void (*on_text)(void *ctx, const char *text, size_t len),
                                  void *ctx, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    text_cb cb = {on_text, ctx};
    reel_llm_gen_params p = reel_llm_gen_default_params();
    p.n_predict = n_predict;
    p.tok = tok;
    p.constraint = c;
    p.on_token = on_text ? call_on_text : NULL;
    p.ctx = &cb;
    reel_llm_gen_result r;
    int rc = reel_llm_generate(s, smp, &p, &r);
    if (rc < 0) return rc;
    *out = r.text;
    if (out_len) *out_len = r.len;
    return 0;
}
