/* reel llm: which type each tensor of a model is written in when it is converted or quantized
 * (reel convert, reel quantize), and the row conversion itself.
 *
 * A TYPE is one type for every matrix ("pure": q8_0, f16, ...) or a llama.cpp-like mix
 * (q4_k_m, ...) that raises some tensors to more bits, as llama-quantize does. Whatever the
 * TYPE, the tensors llama.cpp's tools keep in F32 stay F32 (1-D tensors, *_norm.weight,
 * ssm_conv1d, ssm_a, ssm_d, the MoE router ffn_gate_inp, tensors not named *.weight), and a
 * matrix whose rows are not whole blocks of its type falls back as llama-quantize does
 * (docs/model.md §4.4).
 *
 *     const reel_llm_qtype *q = reel_llm_qtype_find("q4_k_m");
 *     reel_dtype *out = calloc(reel_gguf_n_tensors(g), sizeof *out);
 *     reel_llm_quant_plan_gguf(g, q, out);   // out[i]: the type tensor i is written in
 */
#ifndef REEL_LLM_QUANTIZE_H
#define REEL_LLM_QUANTIZE_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "llm/gguf.h"

typedef enum {
    REEL_LLM_MIX_PURE, /* every matrix in the base type */
    REEL_LLM_MIX_K_S,  /* llama.cpp's *_K_S */
    REEL_LLM_MIX_K_M,  /* llama.cpp's *_K_M */
} reel_llm_mix;

typedef struct reel_llm_qtype {
    const char *name; /* "q4_k_m", "q8_0", ... */
    reel_dtype base;
    reel_llm_mix mix;
    uint32_t ftype;   /* llama.cpp's llama_ftype, for general.file_type */
    const char *help; /* a few words on what it writes */
} reel_llm_qtype;

/* The TYPEs reel knows, mixes first: i in [0, reel_llm_qtype_count()); NULL outside. */
int reel_llm_qtype_count(void);
const reel_llm_qtype *reel_llm_qtype_at(int i);

/* The TYPE named name (case-insensitive), or NULL. */
const reel_llm_qtype *reel_llm_qtype_find(const char *name);

/* One tensor as the type choice sees it (ne0: the row length, elements of dimension 0). */
typedef struct reel_llm_qtensor {
    const char *name;
    reel_dtype type;
    int n_dims;
    int64_t ne0;
} reel_llm_qtensor;

/* A model's tensors (in file order) and the two facts of its metadata the mixes read:
 * block_count (< 0: unknown, the highest blk.N + 1 is used) and expert_count (0: dense). */
typedef struct reel_llm_qmodel {
    const reel_llm_qtensor *tensors;
    int64_t n_tensors;
    int64_t block_count;
    int64_t expert_count;
} reel_llm_qmodel;

/* The type tensor i of m is written in for q: F32 for the F32 class (the tensor's own type
 * when reel cannot decode it: copied as is), else the mix's choice with the row-length
 * fallbacks (K types to 32-block types, then F16). */
reel_dtype reel_llm_quant_type(const reel_llm_qmodel *m, int64_t i, const reel_llm_qtype *q);

/* reel_llm_quant_type for every tensor of a GGUF model (block_count and expert_count from its
 * "<architecture>.*" metadata): out[reel_gguf_n_tensors(g)]. */
void reel_llm_quant_plan_gguf(const reel_gguf *g, const reel_llm_qtype *q, reel_dtype *out);

/* Converts rows [r0, r1) of n0 elements from src (type in, any type the kernels decode) to dst
 * (type out), both pointing at row 0; row is scratch of n0 floats. 0, or REEL_EUNSUPPORTED when
 * a row cannot be decoded or encoded (no error message set: safe on worker threads). */
int reel_llm_quant_rows(reel_dtype out, void *dst, reel_dtype in, const void *src, int64_t n0,
                        int64_t r0, int64_t r1, float *row);

#endif
