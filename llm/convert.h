/* reel llm: a Nemotron-H checkpoint (a Hugging Face directory or a GGUF file) written as a GGUF
 * v3 file with the metadata keys, tensor names and layout llama.cpp's converter writes
 * (docs/model.md §4), weights in one TYPE of llm/quantize.h: one type for all or a mix such as
 * q4_k_m. Used by `reel convert` and `reel pull --quantize`.
 *
 * Tensors are converted while the file is written, one in memory at a time, rows split over a
 * thread pool; the file is written to a temporary name and renamed when complete, so a failed
 * or interrupted conversion leaves no file that looks finished.
 *
 *     reel_llm_convert_info info;
 *     if (reel_llm_convert("NVIDIA-Nemotron-3-Nano-4B-BF16", "nano-q4_k_m.gguf",
 *                          reel_llm_qtype_find("q4_k_m"), NULL, &info) < 0) ...
 */
#ifndef REEL_LLM_CONVERT_H
#define REEL_LLM_CONVERT_H

#include <stdint.h>

#include "kernels/kernels.h"
#include "llm/quantize.h"

typedef struct reel_llm_convert_opts {
    int threads;       /* conversion threads; 0: one per CPU */
    const char *label; /* a progress bar on stderr with this label, or NULL for none */
} reel_llm_convert_opts;

typedef struct reel_llm_convert_info {
    int n_tensors;                      /* tensors written (MoE experts stacked count once) */
    uint64_t bytes_out;                 /* tensor bytes written */
    int64_t per_type[REEL_DTYPE_COUNT]; /* tensors written in each type */
} reel_llm_convert_info;

/* Converts the model at src to dst with q's types (opts and info may be NULL). 0, or a REEL_E*
 * code with a message naming the tensor or file (REEL_EUNSUPPORTED for a model with both MLP
 * and MoE layers, which GGUF cannot tell apart). */
int reel_llm_convert(const char *src, const char *dst, const reel_llm_qtype *q,
                     const reel_llm_convert_opts *opts, reel_llm_convert_info *info);

#endif
