/* Private to llm/: the engine's model (config and weights) and session run state, shared by
 * load.c, forward.c, readpass.c and session.c. Notation as in docs/model.md: H hidden, V vocab, nh
 * Mamba heads of P, Di = nh*P, G groups, N state, K conv taps, Dc = Di + 2GN, na/nkv attention
 * heads of hd, F MLP width, T tokens of the current batch. */
#ifndef REEL_LLM_ENGINE_IMPL_H
#define REEL_LLM_ENGINE_IMPL_H

#include "llm/llm.h"
#include "core/pool.h"

/* A weight matrix: n_out rows of n_in elements of type (GGUF ne = {n_in, n_out}). */
typedef struct wmat {
    const void *data;
    reel_dtype type;
    int64_t n_in, n_out;
    size_t bytes; /* of data (the file's size of the matrix; repacked layouts keep it) */
} wmat;

typedef struct layer_weights {
    reel_llm_layer_kind kind;
    const float *norm; /* [H] block pre-norm (attn_norm) */
    /* Mamba-2 */
    wmat ssm_in;           /* {H, 2Di+2GN+nh}: rows z | xBC | dt */
    const float *conv_w;   /* [K][Dc] taps oldest first (tap-major) */
    const float *conv_b;   /* [Dc] (may be NULL: no bias) */
    const float *dt_bias;  /* [nh] */
    const float *A;        /* [nh] = -exp(A_log) */
    const float *D;        /* [nh] */
    const float *ssm_norm; /* [Di] gated grouped norm weight */
    wmat ssm_out;          /* {Di, H} */
    /* attention */
    wmat q, k, v, o; /* q {H, na*hd}, k/v {H, nkv*hd}, o {na*hd, H} */
    /* MLP */
    wmat up, down; /* up {H, F}, down {F, H} */
    /* MoE (docs/model.md §6) */
    wmat gate_inp;         /* {H, E} router, fp32 math */
    const float *exp_bias; /* [E] score-correction bias (selection only), NULL = zeros */
    wmat *up_exps;         /* [E] of {H, Fe} (views into a stacked {H, Fe, E} or per expert) */
    wmat *down_exps;       /* [E] of {Fe, H} */
    wmat up_sh, down_sh;   /* shared expert {H, Fs}, {Fs, H} (unset when Fs = 0) */
    /* index of this layer's state among the Mamba / attention layers, -1 if none */
    int ssm_idx, kv_idx;
} layer_weights;

typedef struct model_config {
    int L, H, V;
    int nh, P, Di, G, N, K, Dc, n_proj; /* n_proj = 2Di + 2GN + nh */
    int na, nkv, hd;
    int F;
    int E, k_used, Fe, Fs; /* experts, experts per token, expert / shared widths */
    float exp_scale;       /* routed_scaling_factor */
    int exp_norm;          /* normalise the selected weights to sum 1 */
    int n_moe;
    float eps;
    int n_mamba, n_attn;
    int max_width; /* widest per-token scratch row any layer needs */
} model_config;

/* Floats of one Mamba layer's conv state ([K-1][Dc]) and SSM state ([nh][P][N]). */
static inline size_t reeli_conv_floats(const model_config *c)
{
    return (size_t)c->Dc * (size_t)(c->K - 1);
}
static inline size_t reeli_ssm_floats(const model_config *c)
{
    return (size_t)c->nh * (size_t)c->P * (size_t)c->N;
}

struct reel_llm_model {
    reel_llm_desc *desc;
    model_config c;
    const reel_llm_hparams *hp;
    wmat tok_embd;            /* {H, V}: row t is the embedding of token t */
    const float *output_norm; /* [H] */
    wmat output;              /* {H, V} (token_embd when the file has no output.weight) */
    layer_weights *layers;    /* [L] */
    void **owned;             /* converted / realigned copies, freed with the model */
    int n_owned, cap_owned;
    uint8_t *arena; /* repacked matrices, bump-allocated in one mapping of huge pages */
    size_t arena_size, arena_used;
    reel_pool *pool;
    const reel_kernel_ops *k;
};

struct reel_llm_session {
    reel_llm_model *m;
    int64_t n_ctx, pos;
    reel_dtype kv_type;
    int chunk, max_batch;
    /* recurrent state */
    float **conv_state; /* [n_mamba] -> [K-1][Dc] */
    float **ssm_state;  /* [n_mamba] -> [nh][P][N] */
    void **k_cache;     /* [n_attn] -> [n_ctx][nkv*hd] of kv_type */
    void **v_cache;
    /* scratch for one batch of up to max_batch tokens */
    float *x;    /* [B][H] residual stream */
    float *xn;   /* [B][H] normalized input of the block */
    float *proj; /* [B][max_width] in_proj / q|k|v / up output */
    float *conv; /* [B][Dc] conv output (x | B | C) */
    float *dt;   /* [B][nh] */
    float *y;    /* [B][max(Di, na*hd)] scan or attention output */
    float *out;  /* [B][H] mixer output */
    float *emb;  /* [H] one dequantized embedding row */
    /* MoE scratch (NULL without MoE layers) */
    float *router;    /* [B][E] router logits */
    int32_t *sel;     /* [B][k_used] selected experts */
    float *selw;      /* [B][k_used] their weights */
    float *moe_x;     /* [B][H] inputs gathered for one expert */
    float *moe_h;     /* [B][max(Fe, Fs)] */
    float *moe_y;     /* [B][H] */
    int64_t *moe_tok; /* [B] token of each gathered row */
    float *moe_w;     /* [B] its routing weight */
    /* logits of the last decode */
    float *logits; /* [logits_cap][V] */
    int64_t logits_cap, n_logits;
};

/* Runs tokens[0..T) (T <= max_batch, ids checked) through every layer at positions
 * pos..pos+T-1 and writes logits rows into s->logits starting at row row0: all T rows when
 * want_all > 0, the last one when 0, none when < 0. Does not move pos (the caller does). */
int reeli_forward_batch(reel_llm_session *s, const int32_t *tokens, int64_t T, int want_all,
                        int64_t row0);

/* One token each for n sessions of one model (n <= seq[0]->max_batch, checked by the caller):
 * the matmuls run on the n rows at once in seq[0]'s scratch, each row's conv, scan and
 * attention on its own session's state at its own position; the n logits rows land in
 * seq[0]->logits (capacity checked by the caller). Does not move any pos. */
int reeli_forward_multi(reel_llm_session *const *seq, const int32_t *tokens, int64_t n);

#endif
