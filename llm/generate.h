/* reel llm: the generation loop — sample a token, hand it out, stop or decode it, again.
 *
 * One loop serves reel generate, reel plan and the Lua m:generate / m:_json: free text
 * (stopped by end-of-generation ids, stop strings, the token limit or a full context) and
 * grammar-constrained text (llm/constrain.h: masked logits, fail-closed when the limit comes
 * first).
 *
 *     reel_llm_gen_params p = reel_llm_gen_default_params();
 *     p.prompt = ids, p.n_prompt = n;          // decoded here and recorded in smp's history
 *     p.n_predict = 64;
 *     p.tok = tok;                             // text; NULL: ids only
 *     reel_llm_gen_result r;
 *     if (reel_llm_generate(s, smp, &p, &r) < 0) fail(reel_last_error());
 *     puts(r.text);
 *     free(r.text);
 */
#ifndef REEL_LLM_GENERATE_H
#define REEL_LLM_GENERATE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/llm.h"
#include "llm/tokenizer.h"

typedef struct reel_llm_constraint reel_llm_constraint;

/* The ids that end free text (reel_llm_gen_params.stop_ids) for a model's tokenizer and
 * vocabulary: EOS, the description's end-of-generation ids, <|im_end|>, and <SPECIAL_12> for a
 * Nano-v2 chat template; those the vocabulary has, each once. Writes up to max, returns how
 * many it wrote. */
int reel_llm_gen_stop_ids(const reel_llm_tokenizer *tok, const reel_llm_vocab *vocab, int32_t *ids,
                          int max);

/* Why a generation ended. */
typedef enum {
    REEL_LLM_GEN_LENGTH,       /* n_predict tokens */
    REEL_LLM_GEN_EOG,          /* an end-of-generation token (not part of the output) */
    REEL_LLM_GEN_STOP_STRING,  /* a stop string (the text is cut before it) */
    REEL_LLM_GEN_CONTEXT_FULL, /* the session holds no more positions */
    REEL_LLM_GEN_GRAMMAR_DONE, /* the grammar admits nothing more */
} reel_llm_gen_stop;

typedef struct reel_llm_gen_params {
    /* the prompt: recorded in the sampler's history, and decoded into the session unless
     * prefilled is set (the caller decoded it, e.g. restoring a shared prefix) */
    const int32_t *prompt;
    int64_t n_prompt;
    int prefilled;
    int n_predict; /* tokens to sample at most */
    /* text: the detokenized output (special tokens skipped); NULL: no text, ids only.
     * Required with a constraint, whose text is the tokens' bytes. */
    const reel_llm_tokenizer *tok;
    /* free text ends before any of these ids (a constraint has its own end-of-generation ids) */
    const int32_t *stop_ids;
    int n_stop_ids;
    /* free text ends at the first of these strings, which is cut from the text */
    const char *const *stop;
    int n_stop;
    reel_llm_constraint *constraint; /* NULL: unconstrained */
    /* called after each output token with the text it made ready (len may be 0); a negative
     * return ends the generation with that error. NULL: none */
    int (*on_token)(void *ctx, int32_t id, const char *text, size_t len);
    void *ctx;
    /* checked before each token: nonzero ends the generation with REEL_ECANCELED. NULL: none */
    const volatile sig_atomic_t *cancel;
    /* decodes each sampled token into s, as reel_llm_session_decode(s, &id, 1, 0) would (a
     * server stepping several sessions in one batch: reel_llm_session_decode_multi). NULL:
     * reel_llm_session_decode */
    int (*decode_one)(void *ctx, reel_llm_session *s, int32_t id);
    void *decode_ctx;
} reel_llm_gen_params;

/* Everything zero: no prompt, no limit, no text. */
reel_llm_gen_params reel_llm_gen_default_params(void);

typedef struct reel_llm_gen_result {
    char *text; /* the output text, NUL-terminated, malloc'ed (free()); "" without tok */
    size_t len;
    int n_tokens;           /* tokens output (end-of-generation tokens not counted) */
    reel_llm_gen_stop stop; /* why it ended */
    double prefill_s;       /* seconds spent decoding the prompt */
} reel_llm_gen_result;

/* Decodes the prompt (unless prefilled), then samples with smp from the session's last logits,
 * up to n_predict tokens, decoding each into s (in free text, not the last one the limit
 * allows). Context
 * full ends free text; a constrained generation fails then, and with REEL_ERANGE ("the output
 * was not complete after N tokens") when n_predict runs out before the grammar completes. On
 * failure res->text is NULL and the error is set; a held-back incomplete UTF-8 sequence at the
 * end of free text (not cut by a stop string) is appended to res->text but not given to
 * on_token. */
int reel_llm_generate(reel_llm_session *s, reel_llm_sampler *smp, const reel_llm_gen_params *p,
                      reel_llm_gen_result *res);

/* reel_llm_generate under constraint c (tok and c borrowed) for a session whose last decode
 * holds the prompt's logits: on_text (may be NULL) receives the text as it is produced; on
 * success *out holds the whole text (malloc'ed, NUL-terminated; free()) and *out_len (may be
 * NULL) its length. */
int reel_llm_generate_constrained(reel_llm_session *s, reel_llm_sampler *smp,
                                  const reel_llm_tokenizer *tok, reel_llm_constraint *c,
                                  int n_predict,
                                  void (*on_text)(void *ctx, const char *text, size_t len),
                                  void *ctx, char **out, size_t *out_len);

#endif
