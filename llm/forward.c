/* Nemotron-H forward pass (docs/model.md §2), read top to bottom like llama2.c's run.c:
 * element-wise helpers, one function per mixer (Mamba-2 'M', attention '*', squared-ReLU MLP
 * '-', MoE 'E'), then reeli_forward_batch: embedding -> per layer x = x + Mixer(RMSNorm(x))
 * -> final norm -> lm_head. All activations are fp32; weights are whatever the file holds (the
 * kernels convert rows on the fly). The model and its weights are built by load.c. */
#include "llm/engine-impl.h"
#include "core/core.h"

#include <math.h>
#include <string.h>

/* ---- element-wise work over the pool ----------------------------------------------------------
 * The activations and norms split into pieces that do not interact (runs of 1024 elements, one
 * norm group of one token, one token), so a result never depends on the thread count. */
enum { UNARY_RUN = 1024 };

typedef struct {
    const reel_kernel_ops *k;
    reel_unary op;
    float *y;
    const float *x, *z, *w;
    int64_t n, ys, xs, zs, gs, per; /* per: norm groups a token */
    float eps;
} ew_job;

static void unary_body(void *arg, int64_t b, int64_t e, int thread)
{
    (void)thread;
    const ew_job *j = arg;
    const int64_t i0 = b * UNARY_RUN, i1 = e * UNARY_RUN < j->n ? e * UNARY_RUN : j->n;
    j->k->unary(j->op, j->y + i0, j->x + i0, i1 - i0);
}

static void par_unary(reel_llm_session *s, reel_unary op, float *y, const float *x, int64_t n)
{
    ew_job j = {.k = s->m->k, .op = op, .y = y, .x = x, .n = n};
    reel_pool_parallel_for(s->m->pool, (n + UNARY_RUN - 1) / UNARY_RUN, unary_body, &j);
}

static void gnorm_body(void *arg, int64_t b, int64_t e, int thread)
{
    (void)thread;
    const ew_job *j = arg;
    for (int64_t i = b; i < e; i++) {
        const int64_t t = i / j->per, g0 = i % j->per * j->gs;
        j->k->gated_rmsnorm(j->y + t * j->ys + g0, j->ys, j->x + t * j->xs + g0, j->xs,
                            j->z + t * j->zs + g0, j->zs, j->w + g0, j->gs, j->gs, 1, j->eps);
    }
}

static void rmsnorm_body(void *arg, int64_t b, int64_t e, int thread)
{
    (void)thread;
    const ew_job *j = arg;
    j->k->rmsnorm(j->y + b * j->n, j->x + b * j->n, j->w, j->n, e - b, j->eps);
}

/* y = w * rmsnorm(x), T rows of n, a thread per range of rows */
static void par_rmsnorm(reel_llm_session *s, float *y, const float *x, const float *w, int64_t n,
                        int64_t T)
{
    ew_job j = {.k = s->m->k, .y = y, .x = x, .w = w, .n = n, .eps = s->m->c.eps};
    reel_pool_parallel_for(s->m->pool, T, rmsnorm_body, &j);
}

/* ---- blocks ------------------------------------------------------------------------------------
 * Each takes the normalized input s->xn [T][H] and writes the mixer output s->out [T][H]. */

static int mm(reel_llm_session *s, float *y, const wmat *w, const float *x, int64_t T)
{
    return s->m->k->matmul(s->m->pool, y, w->data, w->type, x, w->n_in, w->n_out, T);
}

/* Mamba-2 mixer, docs/model.md §2.1. seq: NULL for T tokens of s, or T sessions with one token
 * each (row t is seq[t]'s: its conv and scan state, s's scratch). */
static int mamba_block(reel_llm_session *s, const layer_weights *w, int64_t T,
                       reel_llm_session *const *seq)
{
    const model_config *c = &s->m->c;
    const reel_kernel_ops *k = s->m->k;
    reel_pool *pool = s->m->pool;
    int rc;
    /* 1. proj [T][n_proj] = z [0,Di) | xBC [Di, Di+Dc) | dt_raw [Di+Dc, n_proj) */
    if ((rc = mm(s, s->proj, &w->ssm_in, s->xn, T)) < 0) return rc;
    /* 2. causal conv over xBC (state holds the last K-1 raw inputs), then SiLU: conv [T][Dc] */
    if (!seq)
        k->conv1d(pool, s->conv, s->proj + c->Di, c->n_proj, s->conv_state[w->ssm_idx], w->conv_w,
                  w->conv_b, c->Dc, c->K, T);
    else
        for (int64_t t = 0; t < T; t++)
            k->conv1d(pool, s->conv + t * c->Dc, s->proj + t * c->n_proj + c->Di, c->n_proj,
                      seq[t]->conv_state[w->ssm_idx], w->conv_w, w->conv_b, c->Dc, c->K, 1);
    par_unary(s, REEL_UNARY_SILU, s->conv, s->conv, T * c->Dc);
    /* 3. dt [T][nh] = softplus(dt_raw + dt_bias), no clamp (time_step_limit = (0, inf)) */
    for (int64_t t = 0; t < T; t++) {
        const float *raw = s->proj + t * c->n_proj + c->Di + c->Dc;
        for (int h = 0; h < c->nh; h++) s->dt[t * c->nh + h] = raw[h] + w->dt_bias[h];
    }
    k->unary(REEL_UNARY_SOFTPLUS, s->dt, s->dt, T * c->nh);
    /* 4-6. selective scan: y [T][Di] from x = conv[.., 0:Di), B, C (group h / (nh/G)) */
    reel_ssm_args a = {
        .T = T,
        .nh = c->nh,
        .P = c->P,
        .N = c->N,
        .G = c->G,
        .x = s->conv,
        .x_stride = c->Dc,
        .B = s->conv + c->Di,
        .C = s->conv + c->Di + (int64_t)c->G * c->N,
        .bc_stride = c->Dc,
        .dt = s->dt,
        .A = w->A,
        .D = w->D,
        .state = s->ssm_state[w->ssm_idx],
        .y = s->y,
        .chunk = s->chunk,
    };
    if (seq) {
        for (int64_t t = 0; t < T; t++) {
            reel_ssm_args at = a;
            at.T = 1;
            at.x = a.x + t * c->Dc;
            at.B = a.B + t * c->Dc;
            at.C = a.C + t * c->Dc;
            at.dt = a.dt + t * c->nh;
            at.state = seq[t]->ssm_state[w->ssm_idx];
            at.y = a.y + t * c->Di;
            k->ssm_scan(pool, &at);
        }
    } else if (T == 1 || s->chunk <= 1) {
        k->ssm_scan(pool, &a);
    } else {
        k->ssm_chunked(pool, &a);
    }
    /* 7. y = w_norm * groupnorm(y * silu(z)), groups of Di/G */
    ew_job gn = {.k = k,
                 .y = s->y,
                 .x = s->y,
                 .z = s->proj,
                 .w = w->ssm_norm,
                 .ys = c->Di,
                 .xs = c->Di,
                 .zs = c->n_proj,
                 .gs = c->Di / c->G,
                 .per = c->G,
                 .eps = c->eps};
    reel_pool_parallel_for(pool, T * c->G, gnorm_body, &gn);
    /* 8. out [T][H] */
    return mm(s, s->out, &w->ssm_out, s->y, T);
}

static void kv_store(void *cache, reel_dtype type, int64_t row, int64_t width, const float *src)
{
    if (type == REEL_DTYPE_F16) {
        uint16_t *d = (uint16_t *)cache + row * width;
        for (int64_t i = 0; i < width; i++) d[i] = reel_fp32_to_fp16(src[i]);
    } else {
        memcpy((float *)cache + row * width, src, (size_t)width * sizeof(float));
    }
}

/* Causal GQA self-attention without positional encoding, docs/model.md §2.2. seq as for
 * mamba_block: each row then goes into its own session's cache at its own position. */
static int attention_block(reel_llm_session *s, const layer_weights *w, int64_t T,
                           reel_llm_session *const *seq)
{
    const model_config *c = &s->m->c;
    const int64_t qw = (int64_t)c->na * c->hd, kw = (int64_t)c->nkv * c->hd;
    const int64_t stride = qw + 2 * kw;
    float *q = s->proj; /* proj row t: q [na*hd] | k [nkv*hd] | v [nkv*hd], filled per matrix */
    int rc;
    /* three matmuls into a token-major buffer of T rows each, then scatter into proj rows */
    float *tmp = s->y; /* [T][max(Di, na*hd)] is wide enough for q, k or v of T tokens */
    if ((rc = mm(s, tmp, &w->q, s->xn, T)) < 0) return rc;
    for (int64_t t = 0; t < T; t++) memcpy(q + t * stride, tmp + t * qw, (size_t)qw * 4);
    if ((rc = mm(s, tmp, &w->k, s->xn, T)) < 0) return rc;
    for (int64_t t = 0; t < T; t++) memcpy(q + t * stride + qw, tmp + t * kw, (size_t)kw * 4);
    if ((rc = mm(s, tmp, &w->v, s->xn, T)) < 0) return rc;
    for (int64_t t = 0; t < T; t++) memcpy(q + t * stride + qw + kw, tmp + t * kw, (size_t)kw * 4);
    /* append k, v at positions pos..pos+T-1 */
    if (seq) {
        for (int64_t t = 0; t < T; t++) {
            reel_llm_session *st = seq[t];
            void *kt = st->k_cache[w->kv_idx], *vt = st->v_cache[w->kv_idx];
            kv_store(kt, st->kv_type, st->pos, kw, q + t * stride + qw);
            kv_store(vt, st->kv_type, st->pos, kw, q + t * stride + qw + kw);
            reel_attn_args at = {
                .T = 1,
                .pos0 = st->pos,
                .na = c->na,
                .nkv = c->nkv,
                .hd = c->hd,
                .q = q + t * stride,
                .q_stride = stride,
                .k = kt,
                .v = vt,
                .kv_type = st->kv_type,
                .out = s->y + t * qw,
            };
            s->m->k->attention(s->m->pool, &at);
        }
        return mm(s, s->out, &w->o, s->y, T);
    }
    void *kc = s->k_cache[w->kv_idx], *vc = s->v_cache[w->kv_idx];
    for (int64_t t = 0; t < T; t++) {
        kv_store(kc, s->kv_type, s->pos + t, kw, q + t * stride + qw);
        kv_store(vc, s->kv_type, s->pos + t, kw, q + t * stride + qw + kw);
    }
    reel_attn_args a = {
        .T = T,
        .pos0 = s->pos,
        .na = c->na,
        .nkv = c->nkv,
        .hd = c->hd,
        .q = q,
        .q_stride = stride,
        .k = kc,
        .v = vc,
        .kv_type = s->kv_type,
        .out = s->y,
    };
    s->m->k->attention(s->m->pool, &a);
    return mm(s, s->out, &w->o, s->y, T);
}

/* Squared-ReLU MLP, docs/model.md §2.3: out = W_down relu2(W_up u). */
static int mlp_block(reel_llm_session *s, const layer_weights *w, int64_t T)
{
    const model_config *c = &s->m->c;
    int rc;
    if ((rc = mm(s, s->proj, &w->up, s->xn, T)) < 0) return rc;
    par_unary(s, REEL_UNARY_RELU2, s->proj, s->proj, T * c->F);
    return mm(s, s->out, &w->down, s->proj, T);
}

/* Mixture of experts, docs/model.md §6: sigmoid router in fp32, top-k by score + correction bias,
 * weights from the unbiased scores (normalised, scaled), relu2 experts, plus the shared expert.
 * Experts run on the tokens routed to them as one batch, in ascending expert order, and each
 * token accumulates its experts in that order (as transformers does), then the shared one. */
static int moe_block(reel_llm_session *s, const layer_weights *w, int64_t T)
{
    const model_config *c = &s->m->c;
    const int E = c->E, K = c->k_used;
    int rc;
    if ((rc = mm(s, s->router, &w->gate_inp, s->xn, T)) < 0) return rc;
    for (int64_t t = 0; t < T; t++) {
        const float *r = s->router + t * E;
        int32_t *sel = s->sel + t * K;
        float *sw = s->selw + t * K;
        /* k best by sigmoid(r) + bias, lowest id first among equals */
        for (int j = 0; j < K; j++) sel[j] = -1;
        for (int e = 0; e < E; e++) {
            const float sc = 1.0f / (1.0f + expf(-r[e]));
            const float ch = sc + (w->exp_bias ? w->exp_bias[e] : 0.0f);
            int pos = K;
            while (pos > 0 && (sel[pos - 1] < 0 || ch > sw[pos - 1])) pos--;
            if (pos == K) continue;
            for (int j = K - 1; j > pos; j--) sel[j] = sel[j - 1], sw[j] = sw[j - 1];
            sel[pos] = e, sw[pos] = ch;
        }
        float sum = 0;
        for (int j = 0; j < K; j++) {
            sw[j] = 1.0f / (1.0f + expf(-r[sel[j]])); /* the unbiased score */
            sum += sw[j];
        }
        for (int j = 0; j < K; j++) {
            if (c->exp_norm) sw[j] /= sum + 1e-20f;
            sw[j] *= c->exp_scale;
        }
    }
    memset(s->out, 0, (size_t)T * (size_t)c->H * sizeof(float));
    for (int e = 0; e < E; e++) {
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++)
            for (int j = 0; j < K; j++)
                if (s->sel[t * K + j] == e) {
                    memcpy(s->moe_x + n * c->H, s->xn + t * c->H, (size_t)c->H * sizeof(float));
                    s->moe_tok[n] = t;
                    s->moe_w[n++] = s->selw[t * K + j];
                }
        if (!n) continue;
        if ((rc = mm(s, s->moe_h, &w->up_exps[e], s->moe_x, n)) < 0) return rc;
        par_unary(s, REEL_UNARY_RELU2, s->moe_h, s->moe_h, n * c->Fe);
        if ((rc = mm(s, s->moe_y, &w->down_exps[e], s->moe_h, n)) < 0) return rc;
        for (int64_t i = 0; i < n; i++) {
            float *o = s->out + s->moe_tok[i] * c->H;
            const float *y = s->moe_y + i * c->H;
            for (int h = 0; h < c->H; h++) o[h] += y[h] * s->moe_w[i];
        }
    }
    if (c->Fs > 0) {
        if ((rc = mm(s, s->moe_h, &w->up_sh, s->xn, T)) < 0) return rc;
        par_unary(s, REEL_UNARY_RELU2, s->moe_h, s->moe_h, T * c->Fs);
        if ((rc = mm(s, s->moe_y, &w->down_sh, s->moe_h, T)) < 0) return rc;
        for (int64_t i = 0; i < T * c->H; i++) s->out[i] += s->moe_y[i];
    }
    return 0;
}

/* ---- the forward pass ------------------------------------------------------------------------ */

/* reeli_forward_batch, or (seq set) reeli_forward_multi with s = seq[0] */
static int forward(reel_llm_session *s, reel_llm_session *const *seq, const int32_t *tokens,
                   int64_t T, int want_all, int64_t row0)
{
    reel_llm_model *m = s->m;
    const model_config *c = &m->c;
    const size_t emb_row = reel_dtype_row_bytes(m->tok_embd.type, c->H);
    int rc = 0;
    /* embedding: h_0 [T][H] = E[token], one row dequantized per token (the table is too
     * large to convert ahead) */
    for (int64_t t = 0; t < T; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * emb_row;
        if ((rc = reel_kernels_dequantize_row(m->tok_embd.type, row, s->x + t * c->H, c->H)) < 0)
            return reel_set_error(rc, "token_embd: cannot convert a row of type %s",
                                  reel_dtype_name(m->tok_embd.type));
    }
    for (int l = 0; l < c->L; l++) {
        const layer_weights *w = &m->layers[l];
        /* pre-norm: the mixer sees RMSNorm(x), the residual stream x stays unnormalized */
        par_rmsnorm(s, s->xn, s->x, w->norm, c->H, T);
        /* mixer: xn [T][H] -> out [T][H] */
        switch (w->kind) {
        case REEL_LLM_LAYER_MAMBA:
            rc = mamba_block(s, w, T, seq);
            break;
        case REEL_LLM_LAYER_ATTN:
            rc = attention_block(s, w, T, seq);
            break;
        case REEL_LLM_LAYER_MLP:
            rc = mlp_block(s, w, T);
            break;
        case REEL_LLM_LAYER_MOE:
            rc = moe_block(s, w, T);
            break;
        default:
            rc = reel_set_error(REEL_EUNSUPPORTED, "layer %d: unsupported kind", l);
        }
        if (rc < 0) return reel_error_prefix("layer %d", l);
        /* residual */
        for (int64_t i = 0; i < T * c->H; i++) s->x[i] += s->out[i];
    }
    if (want_all < 0) return 0;
    /* final norm and head: logits = W_lm RMSNorm(h_L), every row or only the last one (a
     * prompt needs only its last row to sample from) */
    const int64_t first = want_all ? 0 : T - 1, n = T - first;
    par_rmsnorm(s, s->xn, s->x + first * c->H, m->output_norm, c->H, n);
    return mm(s, s->logits + row0 * c->V, &m->output, s->xn, n);
}

int reeli_forward_batch(reel_llm_session *s, const int32_t *tokens, int64_t T, int want_all,
                        int64_t row0)
{
    return forward(s, NULL, tokens, T, want_all, row0);
}

int reeli_forward_multi(reel_llm_session *const *seq, const int32_t *tokens, int64_t n)
{
    return forward(seq[0], seq, tokens, n, 1, 0);
}
