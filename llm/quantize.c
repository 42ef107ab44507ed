/* The type each tensor is written in by reel convert and reel quantize (llm/quantize.h), and
 * the row conversion both use. */
#include "llm/quantize.h"
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the TYPEs -------------------------------------------------------------------------------
 * A pure type gives every matrix that type. A mix (llama.cpp's *_K_S / *_K_M) starts from its
 * base type and raises some tensors, as llama-quantize does (its choices were compared tensor by
 * tensor with llama-cpp-python's llama_model_quantize on a hybrid model,
 * scripts/bench/llama_quant_check.py): "more bits" means i < n/8, i >= 7n/8 or
 * (i - n/8) % 3 == 2 (integer division), where for attn_v i is the tensor's index among the
 * attn_v tensors and n their number, and for ffn_down* i is its index among the ffn_down*
 * tensors (its layer in a MoE model) and n the number of layers (block_count). Models with
 * exactly 8 experts (llama.cpp's Mixtral case; not Nemotron's 128) get attn_k and attn_v in
 * Q8_0 and, from the Q4_K mixes, attn_output in Q5_K. */
static const reel_llm_qtype QTYPES[] = {
    {"q4_k_m", REEL_DTYPE_Q4_K, REEL_LLM_MIX_K_M, 15,
     "Q4_K; Q6_K for output and more-bits attn_v/ffn_down"},
    {"q5_k_m", REEL_DTYPE_Q5_K, REEL_LLM_MIX_K_M, 17,
     "Q5_K; Q6_K for output and more-bits attn_v/ffn_down"},
    {"q4_k_s", REEL_DTYPE_Q4_K, REEL_LLM_MIX_K_S, 14,
     "Q4_K; Q6_K output, Q5_K first attn_v/ffn_down"},
    {"q5_k_s", REEL_DTYPE_Q5_K, REEL_LLM_MIX_K_S, 16, "Q5_K; Q6_K output"},
    {"q8_0", REEL_DTYPE_Q8_0, REEL_LLM_MIX_PURE, 7, "8.5 bits per weight"},
    {"q6_k", REEL_DTYPE_Q6_K, REEL_LLM_MIX_PURE, 18, "6.56 bits"},
    {"q5_k", REEL_DTYPE_Q5_K, REEL_LLM_MIX_PURE, 17, "5.5 bits"},
    {"q5_1", REEL_DTYPE_Q5_1, REEL_LLM_MIX_PURE, 9, "6 bits"},
    {"q5_0", REEL_DTYPE_Q5_0, REEL_LLM_MIX_PURE, 8, "5.5 bits"},
    {"q4_k", REEL_DTYPE_Q4_K, REEL_LLM_MIX_PURE, 15, "4.5 bits"},
    {"iq4_nl", REEL_DTYPE_IQ4_NL, REEL_LLM_MIX_PURE, 25, "4.5 bits, non-linear levels"},
    {"q4_0", REEL_DTYPE_Q4_0, REEL_LLM_MIX_PURE, 2, "4.5 bits"},
    {"f16", REEL_DTYPE_F16, REEL_LLM_MIX_PURE, 1, "16 bits"},
    {"bf16", REEL_DTYPE_BF16, REEL_LLM_MIX_PURE, 32, "16 bits"},
    {"f32", REEL_DTYPE_F32, REEL_LLM_MIX_PURE, 0, "32 bits"},
};
#define N_QTYPES ((int)(sizeof QTYPES / sizeof QTYPES[0]))

int reel_llm_qtype_count(void)
{
    return N_QTYPES;
}

const reel_llm_qtype *reel_llm_qtype_at(int i)
{
    return i >= 0 && i < N_QTYPES ? &QTYPES[i] : NULL;
}

const reel_llm_qtype *reel_llm_qtype_find(const char *name)
{
    for (int i = 0; name && i < N_QTYPES; i++)
        if (!strcasecmp(name, QTYPES[i].name)) return &QTYPES[i];
    return NULL;
}

/* ---- the choice ------------------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The tensors llama.cpp's converter and llama-quantize keep in F32 (docs/model.md §4.4). */
static int keep_f32(const reel_llm_qtensor *t)
{
    return t->n_dims < 2 || ends_with(t->name, "_norm.weight") || strstr(t->name, "ssm_conv1d") ||
           strstr(t->name, "ssm_a") || strstr(t->name, "ssm_d") ||
           strstr(t->name, "ffn_gate_inp") || !ends_with(t->name, ".weight");
}

/* The layer of "blk.N.rest" (rest in *kind), or -1. */
static int layer_of(const char *name, const char **kind)
{
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l > 1000000) return -1;
    *kind = end + 1;
    return (int)l;
}

/* i (0-based rank by layer) of n tensors of one kind: a "more bits" layer */
static int more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Position of tensor ti among the tensors whose name after "blk.N." starts with prefix, ordered
 * by layer then file order, and how many there are. */
static void rank_of(const reel_llm_qmodel *m, int64_t ti, const char *prefix, int *rank, int *count)
{
    const char *kind = NULL, *k2 = NULL;
    const int layer = layer_of(m->tensors[ti].name, &kind);
    *rank = 0, *count = 0;
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const int l2 = layer_of(m->tensors[i].name, &k2);
        if (l2 < 0 || strncmp(k2, prefix, strlen(prefix)) != 0) continue;
        (*count)++;
        *rank += l2 < layer || (l2 == layer && i < ti);
    }
}

/* The type a mix gives tensor ti before the row-length fallbacks. */
static reel_dtype mix_type(const reel_llm_qmodel *m, int64_t ti, const reel_llm_qtype *q)
{
    const reel_llm_qtensor *t = &m->tensors[ti];
    if (q->mix == REEL_LLM_MIX_PURE) return q->base;
    if (!strcmp(t->name, "output.weight")) return REEL_DTYPE_Q6_K;
    const char *kind = NULL;
    const int layer = layer_of(t->name, &kind);
    if (layer < 0) return q->base; /* token_embd and the like */
    const int v = !strcmp(kind, "attn_v.weight"), down = !strncmp(kind, "ffn_down", 8);
    if (m->expert_count == 8) { /* llama-quantize's rules for 8-expert models */
        if (v || !strcmp(kind, "attn_k.weight")) return REEL_DTYPE_Q8_0;
        if (!strcmp(kind, "attn_output.weight") && q->base == REEL_DTYPE_Q4_K)
            return REEL_DTYPE_Q5_K;
    }
    if (!v && !down) return q->base;
    int i, n;
    rank_of(m, ti, v ? "attn_v.weight" : "ffn_down", &i, &n);
    if (down) {
        int max_layer = 0;
        for (int64_t k = 0; k < m->n_tensors; k++) {
            const char *k2;
            const int l2 = layer_of(m->tensors[k].name, &k2);
            if (l2 > max_layer) max_layer = l2;
        }
        n = (int)(m->block_count >= 0 ? m->block_count : max_layer + 1);
        if (m->expert_count > 1) i = layer;
    }
    if (q->mix == REEL_LLM_MIX_K_M) return more_bits(i, n) ? REEL_DTYPE_Q6_K : q->base;
    if (q->base == REEL_DTYPE_Q4_K && ((v && i < 4) || (down && i < n / 8))) return REEL_DTYPE_Q5_K;
    return q->base;
}

reel_dtype reel_llm_quant_type(const reel_llm_qmodel *m, int64_t i, const reel_llm_qtype *q)
{
    const reel_llm_qtensor *t = &m->tensors[i];
    if (keep_f32(t)) {
        /* an F32-class tensor in a type reel cannot decode: copied as is */
        if (t->type != REEL_DTYPE_F32 && !reel_kernels_dtype_supported(t->type)) return t->type;
        return REEL_DTYPE_F32;
    }
    reel_dtype out = mix_type(m, i, q);
    /* llama-quantize's fallbacks for rows that are not whole 256-blocks */
    if (reel_dtype_block(out) == 256 && t->ne0 % 256) {
        switch (out) {
        case REEL_DTYPE_Q4_K:
            out = REEL_DTYPE_Q5_0;
            break;
        case REEL_DTYPE_Q5_K:
            out = REEL_DTYPE_Q5_1;
            break;
        case REEL_DTYPE_Q6_K:
            out = REEL_DTYPE_Q8_0;
            break;
        default:
            out = REEL_DTYPE_IQ4_NL;
            break;
        }
    }
    if (reel_dtype_block(out) > 1 && t->ne0 % reel_dtype_block(out)) out = REEL_DTYPE_F16;
    return out;
}

/* metadata "<architecture>.<suffix>" as an integer, or def */
static int64_t arch_int(const reel_gguf *g, const char *suffix, int64_t def)
{
    const reel_gguf_value *a = reel_gguf_find(g, "general.architecture");
    if (!a || a->type != REEL_GGUF_TYPE_STRING) return def;
    char key[256];
    snprintf(key, sizeof key, "%s.%s", a->str, suffix);
    const reel_gguf_value *val = reel_gguf_find(g, key);
    int64_t v;
    if (!val || reel_gguf_value_int(val, &v) < 0 || v < 0) return def;
    return v;
}

void reel_llm_quant_plan_gguf(const reel_gguf *g, const reel_llm_qtype *q, reel_dtype *out)
{
    const int64_t nt = reel_gguf_n_tensors(g);
    reel_llm_qtensor *ts = reel_xcalloc((size_t)nt + 1, sizeof *ts);
    for (int64_t i = 0; i < nt; i++) {
        const reel_gguf_tensor *t = reel_gguf_tensor_at(g, i);
        ts[i] = (reel_llm_qtensor){t->name, t->type, t->n_dims, t->ne[0]};
    }
    const reel_llm_qmodel m = {ts, nt, arch_int(g, "block_count", -1),
                               arch_int(g, "expert_count", 0)};
    for (int64_t i = 0; i < nt; i++) out[i] = reel_llm_quant_type(&m, i, q);
    free(ts);
}

/* ---- conversion ------------------------------------------------------------------------------ */

int reel_llm_quant_rows(reel_dtype out, void *dst, reel_dtype in, const void *src, int64_t n0,
                        int64_t r0, int64_t r1, float *row)
{
    const size_t in_rb = reel_dtype_row_bytes(in, n0), out_rb = reel_dtype_row_bytes(out, n0);
    for (int64_t r = r0; r < r1; r++)
        if (reel_kernels_dequantize_row(in, (const uint8_t *)src + (size_t)r * in_rb, row, n0) <
                0 ||
            reel_kernels_quantize_row(out, row, (uint8_t *)dst + (size_t)r * out_rb, n0) < 0)
            return REEL_EUNSUPPORTED;
    return 0;
}
