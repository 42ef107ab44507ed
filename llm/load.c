/* Building a model from a description (docs/model.md §1, §4): checks the hyper-parameters,
 * finds every tensor the forward pass reads and checks its shape and type, converts small
 * vectors to fp32 and copies the weight matrices into the layout the kernels read fastest, on
 * huge pages. */
#include "llm/engine-impl.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void *own(reel_llm_model *m, void *p)
{
    if (m->n_owned == m->cap_owned) {
        m->cap_owned = m->cap_owned ? 2 * m->cap_owned : 32;
        void **n = realloc(m->owned, (size_t)m->cap_owned * sizeof *n);
        if (!n) return NULL;
        m->owned = n;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

/* Reserves address space for every matrix the kernels stream in one mapping of transparent
 * huge pages (reel_huge_alloc): decode streams each weight byte once per token, and with 4 KiB
 * pages a core spends part of that stream on page walks. Pages are committed as they are
 * written, so memory use is what the matrices take plus at most one partial huge page. Without
 * the mapping (or once full) repacked matrices fall back to malloc. */
static void arena_reserve(reel_llm_model *m)
{
    size_t total = 0;
    for (int i = 0; i < reel_llm_desc_n_tensors(m->desc); i++)
        total += reel_llm_desc_tensor_at(m->desc, i)->nbytes + 64;
    m->arena = reel_huge_alloc(total, "weights");
    m->arena_size = m->arena ? total : 0;
}

/* n bytes (64-byte aligned) from the arena, or NULL when it has no room */
static void *arena_take(reel_llm_model *m, size_t n)
{
    const size_t at = (m->arena_used + 63) & ~(size_t)63;
    if (!m->arena || at + n > m->arena_size) return NULL;
    m->arena_used = at + n;
    return m->arena + at;
}

/* n bytes (64-byte aligned) for a repacked matrix: from the arena, else malloc'd and owned */
static void *arena_alloc(reel_llm_model *m, size_t n)
{
    void *p = arena_take(m, n);
    if (p) return p;
    p = malloc(n);
    if (p && !own(m, p)) {
        free(p);
        return NULL;
    }
    return p;
}

static int64_t n_elements(const reel_llm_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->ne[i];
    return n;
}

static const reel_llm_tensor *need(reel_llm_model *m, const char *name)
{
    const reel_llm_tensor *t = reel_llm_desc_tensor(m->desc, name);
    if (!t)
        reel_set_error(REEL_EFORMAT, "%s: tensor %s is missing", reel_llm_desc_path(m->desc), name);
    return t;
}

/* A vector of n floats: the tensor's own bytes when they are F32 and aligned, else a converted
 * copy the model owns. Any shape with n elements is accepted (ssm_norm is {Di/G, G} in GGUF,
 * {Di} in HF; ssm_a is {1, nh}). */
static const float *vec(reel_llm_model *m, const char *name, int64_t n, int optional)
{
    const reel_llm_tensor *t = reel_llm_desc_tensor(m->desc, name);
    if (!t) {
        if (!optional)
            reel_set_error(REEL_EFORMAT, "%s: tensor %s is missing", reel_llm_desc_path(m->desc),
                           name);
        return NULL;
    }
    if (n_elements(t) != n) {
        reel_set_error(REEL_EFORMAT, "%s: tensor %s has %lld elements, expected %lld",
                       reel_llm_desc_path(m->desc), name, (long long)n_elements(t), (long long)n);
        return NULL;
    }
    if (t->type == REEL_DTYPE_F32 && ((uintptr_t)t->data % sizeof(float)) == 0) return t->data;
    float *copy = malloc((size_t)n * sizeof(float));
    if (!copy || !own(m, copy)) {
        free(copy);
        reel_set_error(REEL_ENOMEM, "%s: no memory for tensor %s", reel_llm_desc_path(m->desc),
                       name);
        return NULL;
    }
    if (t->type == REEL_DTYPE_F32) {
        memcpy(copy, t->data, (size_t)n * sizeof(float));
    } else if (reel_kernels_dequantize_row(t->type, t->data, copy, n) < 0) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: tensor %s: type %s cannot be converted to F32",
                       reel_llm_desc_path(m->desc), name,
                       reel_dtype_name(t->type) ? reel_dtype_name(t->type) : "?");
        return NULL;
    }
    return copy;
}

/* The pages wholly inside [p, p + n) are not needed any more (their data was copied): drops
 * them from the process, so the file mapping and the copy are not both resident. Only for a
 * GGUF file, whose tensors all lie in its read-only private mapping: dropped pages read back
 * from the file if touched again (a Hugging Face directory's tensors may be converted copies,
 * which MADV_DONTNEED would zero). */
static void release_pages(const reel_llm_model *m, const void *p, size_t n)
{
#if defined(MADV_DONTNEED)
    if (strcmp(reel_llm_desc_format(m->desc), "gguf") != 0) return;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t b = ((uintptr_t)p + pg - 1) & ~(pg - 1), e = ((uintptr_t)p + n) & ~(pg - 1);
    if (e > b) (void)madvise((void *)b, e - b, MADV_DONTNEED);
#else
    (void)m, (void)p, (void)n;
#endif
}

/* The conv1d taps, [C][K] in the file, transposed to the kernels' tap-major [K][C] (docs/model.md
 * §2.1; kernels.h, conv1d) in the arena. */
static const float *conv_taps(reel_llm_model *m, const char *name, int64_t C, int K)
{
    const float *w = vec(m, name, C * K, 0);
    float *t = w ? arena_alloc(m, (size_t)(C * K) * sizeof(float)) : NULL;
    if (w && !t)
        reel_set_error(REEL_ENOMEM, "%s: no memory for tensor %s", reel_llm_desc_path(m->desc),
                       name);
    if (!t) return NULL;
    for (int64_t ch = 0; ch < C; ch++)
        for (int j = 0; j < K; j++) t[j * C + ch] = w[ch * K + j];
    const reel_llm_tensor *f = reel_llm_desc_tensor(m->desc, name);
    if (f && f->data == (const void *)w) release_pages(m, f->data, f->nbytes);
    return t;
}

/* Repacking at load, split over the pool in runs of REPACK_ROWS rows: the interleaved layouts
 * keep each pair of 8-row groups in the bytes of its 16 plain rows, so a run of whole pairs
 * repacks alone into its own place (a lone last group included). */
enum { REPACK_ROWS = 16 };

typedef struct {
    reel_dtype to, from;
    uint8_t *dst;
    const uint8_t *src;
    int64_t n_in, n_out;
    size_t rb;
    int failed;
} repack_job;

static void repack_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    repack_job *j = arg;
    const int64_t r0 = begin * REPACK_ROWS,
                  r1 = end * REPACK_ROWS < j->n_out ? end * REPACK_ROWS : j->n_out;
    if (reel_kernels_repack(j->to, j->dst + (size_t)r0 * j->rb, j->from,
                            j->src + (size_t)r0 * j->rb, j->n_in, r1 - r0) < 0)
        j->failed = 1; /* each thread only ever sets it: a benign flag */
}

/* A matrix {n_in, n_out}: checked shape and type; F32 data realigned if needed; with
 * repack, copied into the layout the kernels' matmul reads fastest (not for token_embd, whose
 * rows are looked up one by one). */
static int mat_ex(reel_llm_model *m, wmat *w, const char *name, int64_t n_in, int64_t n_out,
                  int repack)
{
    const reel_llm_tensor *t = need(m, name);
    if (!t) return reel_last_error_code();
    const char *path = reel_llm_desc_path(m->desc);
    if (t->n_dims > 2 || t->ne[0] != n_in || (t->n_dims == 2 ? t->ne[1] : 1) != n_out)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor %s has shape {%lld, %lld}, expected "
                              "{%lld, %lld}",
                              path, name, (long long)t->ne[0],
                              (long long)(t->n_dims > 1 ? t->ne[1] : 1), (long long)n_in,
                              (long long)n_out);
    if (!reel_kernels_dtype_supported(t->type))
        return reel_set_error(REEL_EUNSUPPORTED,
                              "%s: tensor %s: weight type %s is not supported "
                              "yet (F32, F16, BF16, Q8_0, Q4_0/1, Q5_0/1, IQ4_NL, Q2_K..Q6_K are)",
                              path, name,
                              reel_dtype_name(t->type) ? reel_dtype_name(t->type) : "?");
    size_t rb = reel_dtype_row_bytes(t->type, n_in);
    if (!rb || t->nbytes < rb * (size_t)n_out)
        return reel_set_error(REEL_EFORMAT, "%s: tensor %s: %zu bytes, too few for its shape", path,
                              name, t->nbytes);
    w->data = t->data;
    w->type = t->type;
    w->n_in = n_in;
    w->n_out = n_out;
    const size_t bytes = rb * (size_t)n_out;
    w->bytes = bytes;
    if (t->type == REEL_DTYPE_F32 && ((uintptr_t)t->data % sizeof(float)) != 0) {
        void *copy = malloc(bytes);
        if (!copy || !own(m, copy)) {
            free(copy);
            return reel_set_error(REEL_ENOMEM, "%s: no memory for tensor %s", path, name);
        }
        memcpy(copy, t->data, bytes);
        w->data = copy;
    }
    /* the layout the kernels read fastest (interleaved rows for the integer kernels) */
    const reel_dtype pref =
        repack ? reel_kernels_preferred_layout(m->k, t->type, n_in, n_out) : t->type;
    /* F16/BF16/F32 matrices of a GGUF file are copied as they are onto the arena's huge pages
     * when it has room (decode streams them, and huge pages spare the page walks); not those
     * of a Hugging Face directory, whose mapping cannot be dropped (the copy would double it) */
    void *copy = NULL;
    if (pref != t->type) {
        copy = arena_alloc(m, bytes);
        if (!copy) return reel_set_error(REEL_ENOMEM, "%s: no memory for tensor %s", path, name);
        repack_job job = {pref, t->type, copy, t->data, n_in, n_out, rb, 0};
        reel_pool_parallel_for(m->pool, (n_out + REPACK_ROWS - 1) / REPACK_ROWS, repack_body, &job);
        if (job.failed)
            return reel_set_error(REEL_EINVAL, "%s: tensor %s: cannot repack", path, name);
    } else if (repack && w->data == t->data &&
               (t->type == REEL_DTYPE_F16 || t->type == REEL_DTYPE_BF16 ||
                t->type == REEL_DTYPE_F32) &&
               strcmp(reel_llm_desc_format(m->desc), "gguf") == 0 &&
               (copy = arena_take(m, bytes))) {
        memcpy(copy, t->data, bytes);
    }
    if (copy) { /* the file's pages are not needed any more */
        w->data = copy;
        w->type = pref;
        release_pages(m, t->data, bytes);
    }
    return 0;
}

static int mat(reel_llm_model *m, wmat *w, const char *name, int64_t n_in, int64_t n_out)
{
    return mat_ex(m, w, name, n_in, n_out, 1);
}

/* Experts stacked in one tensor {n_in, n_out, E}: E views of n_out rows each. */
static int stacked(reel_llm_model *m, wmat *out, const char *name, int64_t n_in, int64_t n_out,
                   int64_t E)
{
    const reel_llm_tensor *t = need(m, name);
    if (!t) return reel_last_error_code();
    const char *path = reel_llm_desc_path(m->desc);
    if (t->n_dims != 3 || t->ne[0] != n_in || t->ne[1] != n_out || t->ne[2] != E)
        return reel_set_error(REEL_EFORMAT,
                              "%s: tensor %s has the wrong shape for %lld experts "
                              "of {%lld, %lld}",
                              path, name, (long long)E, (long long)n_in, (long long)n_out);
    if (!reel_kernels_dtype_supported(t->type))
        return reel_set_error(REEL_EUNSUPPORTED, "%s: tensor %s: weight type %s is not supported",
                              path, name,
                              reel_dtype_name(t->type) ? reel_dtype_name(t->type) : "?");
    const size_t rb = reel_dtype_row_bytes(t->type, n_in);
    if (!rb || t->nbytes < rb * (size_t)n_out * (size_t)E)
        return reel_set_error(REEL_EFORMAT, "%s: tensor %s: too few bytes for its shape", path,
                              name);
    const uint8_t *base = t->data;
    if (t->type == REEL_DTYPE_F32 && ((uintptr_t)base % sizeof(float)) != 0) {
        uint8_t *copy = malloc(rb * (size_t)n_out * (size_t)E);
        if (!copy || !own(m, copy)) {
            free(copy);
            return reel_set_error(REEL_ENOMEM, "%s: no memory for tensor %s", path, name);
        }
        memcpy(copy, base, rb * (size_t)n_out * (size_t)E);
        base = copy;
    }
    for (int64_t j = 0; j < E; j++) {
        out[j].data = base + (size_t)j * rb * (size_t)n_out;
        out[j].type = t->type;
        out[j].n_in = n_in;
        out[j].n_out = n_out;
        out[j].bytes = rb * (size_t)n_out;
    }
    return 0;
}

static int bad_hparam(reel_llm_model *m, const char *what)
{
    return reel_set_error(REEL_EFORMAT, "%s: bad hyper-parameters: %s", reel_llm_desc_path(m->desc),
                          what);
}

static int check_config(reel_llm_model *m)
{
    const reel_llm_hparams *hp = m->hp;
    model_config *c = &m->c;
    c->L = hp->n_layer, c->H = hp->n_embd, c->V = hp->n_vocab;
    c->nh = hp->ssm_n_heads, c->P = hp->ssm_head_dim, c->G = hp->ssm_n_groups;
    c->N = hp->ssm_d_state, c->K = hp->ssm_d_conv;
    c->na = hp->n_head, c->nkv = hp->n_head_kv, c->hd = hp->head_dim;
    c->F = hp->n_ff;
    c->eps = hp->norm_eps > 0 ? hp->norm_eps : 1e-5f;
    if (c->L < 1 || c->H < 1 || c->V < 1) return bad_hparam(m, "no layers, width or vocabulary");
    if (c->H > (1 << 20) || c->V > (1 << 24) || c->L > 4096)
        return bad_hparam(m, "sizes out of range");
    for (int l = 0; l < c->L; l++) {
        switch (hp->layer_kind[l]) {
        case REEL_LLM_LAYER_MAMBA:
            c->n_mamba++;
            break;
        case REEL_LLM_LAYER_ATTN:
            c->n_attn++;
            break;
        case REEL_LLM_LAYER_MLP:
            break;
        case REEL_LLM_LAYER_MOE:
            c->n_moe++;
            break;
        default:
            return bad_hparam(m, "unknown layer kind");
        }
    }
    c->max_width = c->H;
    if (c->n_mamba) {
        if (c->nh < 1 || c->P < 1 || c->G < 1 || c->N < 1 || c->K < 1)
            return bad_hparam(m, "Mamba sizes (heads, head dim, groups, state, conv) must be > 0");
        if (c->nh % c->G) return bad_hparam(m, "Mamba heads are not a multiple of the groups");
        if (c->K > 64) return bad_hparam(m, "conv kernel longer than 64 taps");
        if ((int64_t)c->nh * c->P > (1 << 22) || (int64_t)c->G * c->N > (1 << 22) ||
            (int64_t)c->nh * c->P * c->N > (1 << 28))
            return bad_hparam(m, "Mamba sizes out of range (SSM state over 1 GiB per layer)");
        c->Di = c->nh * c->P; /* never expand * H (docs/model.md §7.3) */
        if (hp->ssm_d_inner && hp->ssm_d_inner != c->Di)
            return bad_hparam(m, "ssm inner size differs from heads x head dim");
        c->Dc = c->Di + 2 * c->G * c->N;
        c->n_proj = c->Di + c->Dc + c->nh;
        if (c->n_proj > c->max_width) c->max_width = c->n_proj;
    }
    if (c->n_attn) {
        if (c->na < 1 || c->nkv < 1 || c->hd < 1 || c->na % c->nkv)
            return bad_hparam(m, "attention heads must be > 0 and a multiple of the KV heads");
        if ((int64_t)c->na * c->hd > (1 << 22)) return bad_hparam(m, "attention too wide");
        int qkv = (c->na + 2 * c->nkv) * c->hd;
        if (qkv > c->max_width) c->max_width = qkv;
    }
    if (c->n_moe) {
        c->E = hp->n_expert, c->k_used = hp->n_expert_used;
        c->Fe = hp->n_ff_exp, c->Fs = hp->n_ff_shexp;
        c->exp_scale = hp->expert_weights_scale > 0 ? hp->expert_weights_scale : 1.0f;
        c->exp_norm = hp->expert_weights_norm;
        if (c->E < 1 || c->E > 4096 || c->k_used < 1 || c->k_used > c->E || c->Fe < 1 ||
            c->Fe > (1 << 24) || c->Fs < 0 || c->Fs > (1 << 24))
            return bad_hparam(m, "MoE sizes (experts, experts per token, widths) out of range");
        if (c->E > c->max_width) c->max_width = c->E;
    }
    if (c->F < 0 || c->F > (1 << 24)) return bad_hparam(m, "MLP width out of range");
    if (c->F > c->max_width) c->max_width = c->F;
    return 0;
}

static int load_layer(reel_llm_model *m, int l, int *ssm_idx, int *kv_idx)
{
    const model_config *c = &m->c;
    layer_weights *w = &m->layers[l];
    char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
    w->kind = m->hp->layer_kind[l];
    w->ssm_idx = w->kv_idx = -1;
    if (!(w->norm = vec(m, NAME("attn_norm.weight"), c->H, 0))) return reel_last_error_code();
    int rc = 0;
    switch (w->kind) {
    case REEL_LLM_LAYER_MAMBA:
        w->ssm_idx = (*ssm_idx)++;
        if ((rc = mat(m, &w->ssm_in, NAME("ssm_in.weight"), c->H, c->n_proj)) < 0) return rc;
        if ((rc = mat(m, &w->ssm_out, NAME("ssm_out.weight"), c->Di, c->H)) < 0) return rc;
        if (!(w->conv_w = conv_taps(m, NAME("ssm_conv1d.weight"), c->Dc, c->K)) ||
            !(w->dt_bias = vec(m, NAME("ssm_dt.bias"), c->nh, 0)) ||
            !(w->A = vec(m, NAME("ssm_a"), c->nh, 0)) ||
            !(w->D = vec(m, NAME("ssm_d"), c->nh, 0)) ||
            !(w->ssm_norm = vec(m, NAME("ssm_norm.weight"), c->Di, 0)))
            return reel_last_error_code();
        w->conv_b = vec(m, NAME("ssm_conv1d.bias"), c->Dc, 1);
        if (!w->conv_b && reel_llm_desc_tensor(m->desc, name)) return reel_last_error_code();
        break;
    case REEL_LLM_LAYER_ATTN:
        w->kv_idx = (*kv_idx)++;
        if ((rc = mat(m, &w->q, NAME("attn_q.weight"), c->H, (int64_t)c->na * c->hd)) < 0 ||
            (rc = mat(m, &w->k, NAME("attn_k.weight"), c->H, (int64_t)c->nkv * c->hd)) < 0 ||
            (rc = mat(m, &w->v, NAME("attn_v.weight"), c->H, (int64_t)c->nkv * c->hd)) < 0 ||
            (rc = mat(m, &w->o, NAME("attn_output.weight"), (int64_t)c->na * c->hd, c->H)) < 0)
            return rc;
        break;
    case REEL_LLM_LAYER_MLP:
        if (c->F < 1) return bad_hparam(m, "MLP layer without an intermediate size");
        if ((rc = mat(m, &w->up, NAME("ffn_up.weight"), c->H, c->F)) < 0 ||
            (rc = mat(m, &w->down, NAME("ffn_down.weight"), c->F, c->H)) < 0)
            return rc;
        break;
    case REEL_LLM_LAYER_MOE: {
        if ((rc = mat(m, &w->gate_inp, NAME("ffn_gate_inp.weight"), c->H, c->E)) < 0) return rc;
        w->exp_bias = vec(m, NAME("exp_probs_b.bias"), c->E, 1);
        if (!w->exp_bias && reel_llm_desc_tensor(m->desc, name)) return reel_last_error_code();
        w->up_exps = own(m, reel_xcalloc((size_t)c->E, sizeof(wmat)));
        w->down_exps = own(m, reel_xcalloc((size_t)c->E, sizeof(wmat)));
        if (!w->up_exps || !w->down_exps)
            return reel_set_error(REEL_ENOMEM, "layer %d: no memory for the expert table", l);
        if (reel_llm_desc_tensor(m->desc, NAME("ffn_up_exps.weight"))) {
            /* stacked {H, Fe, E} / {Fe, H, E}: expert j is the j-th slab of n_out rows */
            if ((rc = stacked(m, w->up_exps, name, c->H, c->Fe, c->E)) < 0 ||
                (rc = stacked(m, w->down_exps, NAME("ffn_down_exps.weight"), c->Fe, c->H, c->E)) <
                    0)
                return rc;
        } else {
            for (int j = 0; j < c->E; j++) {
                char en[96];
                snprintf(en, sizeof en, "blk.%d.ffn_up_exps.%d.weight", l, j);
                if ((rc = mat(m, &w->up_exps[j], en, c->H, c->Fe)) < 0) return rc;
                snprintf(en, sizeof en, "blk.%d.ffn_down_exps.%d.weight", l, j);
                if ((rc = mat(m, &w->down_exps[j], en, c->Fe, c->H)) < 0) return rc;
            }
        }
        if (c->Fs > 0 &&
            ((rc = mat(m, &w->up_sh, NAME("ffn_up_shexp.weight"), c->H, c->Fs)) < 0 ||
             (rc = mat(m, &w->down_sh, NAME("ffn_down_shexp.weight"), c->Fs, c->H)) < 0))
            return rc;
        break;
    }
    default:
        return bad_hparam(m, "unknown layer kind");
    }
#undef NAME
    return 0;
}

reel_llm_model_params reel_llm_model_default_params(void)
{
    reel_llm_model_params p = {0};
    return p;
}

reel_llm_model *reel_llm_model_init(reel_llm_desc *desc, const reel_llm_model_params *params)
{
    if (!desc) {
        reel_set_error(REEL_EINVAL, "model: no description");
        return NULL;
    }
    reel_llm_model_params p = params ? *params : reel_llm_model_default_params();
    reel_llm_model *m = reel_xcalloc(1, sizeof *m);
    m->desc = desc;
    m->hp = reel_llm_desc_hparams(desc);
    m->k = reel_kernels_ops();
    if (!m->hp || !m->hp->layer_kind) {
        reel_set_error(REEL_EFORMAT, "%s: no hyper-parameters", reel_llm_desc_path(desc));
        goto fail;
    }
    if (check_config(m) < 0) goto fail;
    arena_reserve(m);
    m->pool = reel_pool_init(p.n_threads); /* before the weights: repacking uses it */
    if (!m->pool) goto fail;
    const model_config *c = &m->c;
    if (mat_ex(m, &m->tok_embd, "token_embd.weight", c->H, c->V, 0) < 0) goto fail;
    if (!(m->output_norm = vec(m, "output_norm.weight", c->H, 0))) goto fail;
    if (reel_llm_desc_tensor(desc, "output.weight")) {
        if (mat(m, &m->output, "output.weight", c->H, c->V) < 0) goto fail;
    } else {
        m->output = m->tok_embd; /* tied embeddings (docs/model.md §2.4) */
    }
    m->layers = reel_xcalloc((size_t)c->L, sizeof *m->layers);
    int ssm_idx = 0, kv_idx = 0;
    for (int l = 0; l < c->L; l++)
        if (load_layer(m, l, &ssm_idx, &kv_idx) < 0) goto fail;
    return m;
fail:
    reel_llm_model_free(m);
    return NULL;
}

reel_llm_model *reel_llm_model_load(const char *path, const reel_llm_model_params *params)
{
    reel_llm_desc *d = reel_llm_desc_load(path);
    if (!d) return NULL;
    return reel_llm_model_init(d, params);
}

void reel_llm_model_free(reel_llm_model *m)
{
    if (!m) return;
    reel_pool_free(m->pool);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    reel_huge_free(m->arena);
    free(m->layers);
    reel_llm_desc_free(m->desc);
    free(m);
}

const reel_llm_desc *reel_llm_model_desc(const reel_llm_model *m)
{
    return m->desc;
}

const reel_llm_hparams *reel_llm_model_hparams(const reel_llm_model *m)
{
    return m->hp;
}

int reel_llm_model_n_vocab(const reel_llm_model *m)
{
    return m->c.V;
}
