/* reel LLM engine: a Nemotron-H model in process (hybrid Mamba-2 / attention / MLP), sessions
 * with their recurrent state, and a seeded sampler.
 *
 * A model is built from a model description (llm/model.h: GGUF file or Hugging Face directory,
 * weights borrowed from the mmap). A session owns everything that depends on the text seen so
 * far: the KV cache of the attention layers and the conv/SSM state of each Mamba layer. Feed it
 * tokens with reel_llm_session_decode() (a prompt of T tokens is one call, then one token per
 * call) and read the logits of the last call.
 *
 *     reel_llm_model *m = reel_llm_model_load("tests/data/models/tiny-a", NULL);
 *     reel_llm_session *s = reel_llm_session_init(m, NULL);
 *     int32_t prompt[] = {1, 394, 418};
 *     if (reel_llm_session_decode(s, prompt, 3, 0) < 0) fail(reel_last_error());
 *     reel_llm_sampler *smp = reel_llm_sampler_init(NULL);        // greedy
 *     int32_t tok = reel_llm_sampler_sample(smp, reel_llm_session_logits(s, -1),
 *                                           reel_llm_model_n_vocab(m));
 *     reel_llm_session_decode(s, &tok, 1, 0);                       // next step ...
 *
 * Threads: a model and its sessions use the model's thread pool; call them from one thread at a
 * time. Results do not depend on the number of threads (every kernel output is computed by one
 * thread in a fixed order), so the same seed gives the same tokens with 1 or 16 threads.
 */
#ifndef REEL_LLM_H
#define REEL_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "llm/model.h"

/* ---- model ----------------------------------------------------------------------------------- */

typedef struct reel_llm_model reel_llm_model;

typedef struct reel_llm_model_params {
    int n_threads; /* threads of the compute pool, the caller included; <= 0: one per CPU */
} reel_llm_model_params;

reel_llm_model_params reel_llm_model_default_params(void);

/* Builds a model from a description; takes ownership of desc (freed with the model, and also
 * when this fails). Checks every hyper-parameter and tensor shape the forward pass uses.
 * params NULL = defaults. NULL + reel_last_error() ("PATH: tensor blk.3.ssm_in.weight: ...")
 * on failure; REEL_EUNSUPPORTED for weight types without a kernel. Dense (nemotron_h) and MoE
 * (nemotron_h_moe: sigmoid router with score-correction bias, relu2 experts, shared expert)
 * models run; MoE experts may be stacked (GGUF) or one tensor each (HF). */
reel_llm_model *reel_llm_model_init(reel_llm_desc *desc, const reel_llm_model_params *params);

/* reel_llm_desc_load(path) + reel_llm_model_init(). */
reel_llm_model *reel_llm_model_load(const char *path, const reel_llm_model_params *params);

/* Frees the model and its description. The model's sessions must be freed first. NULL: no-op. */
void reel_llm_model_free(reel_llm_model *m);

/* Borrowed views, valid until the model is freed. */
const reel_llm_desc *reel_llm_model_desc(const reel_llm_model *m);
const reel_llm_hparams *reel_llm_model_hparams(const reel_llm_model *m);
int reel_llm_model_n_vocab(const reel_llm_model *m);

/* Bytes of weights one decoded token reads, each once: every matrix of the layers and the
 * output head, the first k_used routed experts of each layer (a token reads k_used whole
 * experts), one row of the embedding (and, when the head is tied to it, the whole embedding
 * again). state (may be NULL) gets the bytes of recurrent state (Mamba SSM and conv states,
 * fp32) a token reads, and again writes back (the KV cache is counted by
 * reel_llm_session_token_bytes). */
double reel_llm_model_token_bytes(const reel_llm_model *m, double *state);

/* Reads the very spans reel_llm_model_token_bytes counts, once, at the addresses the kernels
 * stream (same mapping, same pages), on the model's threads with a plain streaming loop (loads,
 * no arithmetic), and returns the bytes read (equal to reel_llm_model_token_bytes).
 * reel bench --bound times it around decoded tokens. */
size_t reel_llm_model_read_weights(reel_llm_model *m);

/* ---- session --------------------------------------------------------------------------------- */

typedef struct reel_llm_session reel_llm_session;

typedef struct reel_llm_session_params {
    int64_t n_ctx;      /* positions the session can hold; 0: 4096 (capped by the model's own
                           context_length when it declares a smaller one) */
    reel_dtype kv_type; /* REEL_DTYPE_F16 (default) or REEL_DTYPE_F32 */
    int ssd_chunk;      /* prompt scan: 1 = the recurrence token by token; Q >= 2 = chunked SSD
                           with chunks of Q (same results up to fp32 rounding); 0 = the
                           backend's choice: the recurrence on the CPU, which costs O(P*N) per
                           token and head against O(Q*(N+P)) for the chunked form; the chunked
                           form is the one a GEMM backend (CUDA) gains from */
    int max_batch;      /* tokens processed per pass over the layers (bounds scratch memory);
                           0: 256. Any value gives the same results up to fp32 rounding. */
} reel_llm_session_params;

reel_llm_session_params reel_llm_session_default_params(void);

/* A fresh session (position 0, all state zero). The KV cache is allocated here:
 * NULL + REEL_ENOMEM when it does not fit. params NULL = defaults. */
reel_llm_session *reel_llm_session_init(reel_llm_model *m, const reel_llm_session_params *params);
void reel_llm_session_free(reel_llm_session *s);

/* Runs n tokens (n >= 1) at positions pos..pos+n-1 and advances the position. With all_logits
 * the logits of every one of the n positions are kept, else only those of the last. Returns 0,
 * REEL_EINVAL (token id out of range, n < 1), REEL_ERANGE (pos + n > n_ctx: "context full"),
 * REEL_ENOMEM. On failure the session is unchanged only for EINVAL/ERANGE (checked first). */
int reel_llm_session_decode(reel_llm_session *s, const int32_t *tokens, int64_t n, int all_logits);

/* One token for each of n distinct sessions of one model, in one pass that reads the weights
 * once for all of them (serving several requests): the same as reel_llm_session_decode(s[i],
 * &tokens[i], 1, 0) for every i, logits included, bit for bit where the kernels give a token
 * the same bits alone as in a batch (the integer kernels do). n <= the first session's
 * max_batch. REEL_EINVAL (n, another model, a repeated session, a token out of range) and
 * REEL_ERANGE (a context full) leave every session unchanged. */
int reel_llm_session_decode_multi(reel_llm_session *const *s, const int32_t *tokens, int n);

/* Logits [n_vocab] of position i of the last decode call (0 <= i < n when it kept all logits),
 * or of its last position for i = -1. NULL if there is no such row. Borrowed: valid until the
 * next decode/restore/reset of this session. */
const float *reel_llm_session_logits(const reel_llm_session *s, int64_t i);

/* Tokens processed so far, and the context size. */
int64_t reel_llm_session_pos(const reel_llm_session *s);
int64_t reel_llm_session_n_ctx(const reel_llm_session *s);

/* The model the session runs (borrowed). */
reel_llm_model *reel_llm_session_model(const reel_llm_session *s);

/* The memory traffic of the next decoded token (at the session's position), each byte once. */
typedef struct reel_llm_token_bytes {
    double weights;       /* reel_llm_model_token_bytes */
    double state_read;    /* conv and SSM states, and the KV cache rows 0..pos-1 */
    double state_written; /* conv and SSM states written back, and the token's KV row */
} reel_llm_token_bytes;
reel_llm_token_bytes reel_llm_session_token_bytes(const reel_llm_session *s);

/* Tokens a prompt is cut into for one pass over the layers (session params' max_batch). */
int reel_llm_session_max_batch(const reel_llm_session *s);

/* Back to position 0 with zero state. */
void reel_llm_session_reset(reel_llm_session *s);

/* A copy of the whole session state: position, KV cache rows 0..pos-1, conv and SSM states,
 * and the last logits row. NULL + REEL_ENOMEM. Owned by the caller (reel_llm_snapshot_free). */
typedef struct reel_llm_snapshot reel_llm_snapshot;
reel_llm_snapshot *reel_llm_session_snapshot(const reel_llm_session *s);

/* Puts a session back into the snapshot's state; later decodes give exactly what they gave
 * after the snapshot was taken. REEL_EINVAL if the snapshot comes from a session of another
 * model or KV type, or holds more positions than this session's n_ctx. */
int reel_llm_session_restore(reel_llm_session *s, const reel_llm_snapshot *snap);
void reel_llm_snapshot_free(reel_llm_snapshot *snap);
/* Bytes held by a snapshot. */
size_t reel_llm_snapshot_size(const reel_llm_snapshot *snap);

/* ---- sampler ---------------------------------------------------------------------------------
 * Order of the filters: repetition penalty on the raw logits, then greedy if temp <= 0, else
 * temperature, top-k, top-p, min-p, and a draw from the remaining distribution with the
 * sampler's own PRNG (xoshiro256**, seeded by splitmix64), so the same seed and logits give the
 * same tokens on any machine and thread count. */

typedef struct reel_llm_sampler_params {
    float temp;           /* <= 0: greedy (argmax, lowest id wins ties). Default 0.8 */
    int top_k;            /* keep the k most likely; <= 0: off. Default 40 */
    float top_p;          /* keep the smallest set with mass >= p; >= 1: off. Default 0.95 */
    float min_p;          /* drop tokens with p < min_p * p_max; <= 0: off. Default 0.05 */
    float repeat_penalty; /* divide positive / multiply negative logits of recent tokens; 1: off */
    int repeat_last_n;    /* how many recent tokens the penalty looks at. Default 64 */
    uint64_t seed;        /* PRNG seed. Default 0 */
} reel_llm_sampler_params;

typedef struct reel_llm_sampler reel_llm_sampler;

/* Defaults listed above. */
reel_llm_sampler_params reel_llm_sampler_default_params(void);
/* Greedy parameters (temp 0, every filter off): what reel_llm_sampler_init(NULL) uses. */
reel_llm_sampler_params reel_llm_sampler_greedy_params(void);

reel_llm_sampler *reel_llm_sampler_init(const reel_llm_sampler_params *params);
void reel_llm_sampler_free(reel_llm_sampler *smp);

/* Picks a token from logits [n_vocab] (not modified) and records it in the history the
 * repetition penalty uses. Returns the id, or REEL_EINVAL for n_vocab < 1. */
int32_t reel_llm_sampler_sample(reel_llm_sampler *smp, const float *logits, int n_vocab);

/* Records a token (e.g. of the prompt) in the repetition history without sampling. */
void reel_llm_sampler_accept(reel_llm_sampler *smp, int32_t token);

/* Clears the history and reseeds. */
void reel_llm_sampler_reset(reel_llm_sampler *smp, uint64_t seed);

#endif
