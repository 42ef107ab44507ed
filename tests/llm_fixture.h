/* A tiny Nemotron-H model for the model-file tests, written by the tests themselves as a GGUF
 * file (with reel's writer) or as a Hugging Face directory (config.json, safetensors, tokenizer
 * files), so no binary fixture is committed.
 *
 * Sizes: H 16, pattern "M-M*-" (L 5), nh 4, P 4 (Di 16), G 2, N 4, K 4 (Dc 32), na 2, nkv 1,
 * hd 8 (q width 16 = H on purpose not derived), F 24, V 40. */
#ifndef REEL_TESTS_LLM_FIXTURE_H
#define REEL_TESTS_LLM_FIXTURE_H

#include <stdint.h>

#include "llm/gguf.h"

#define FX_MAX_TENSORS 96

typedef struct fx_tensor {
    char name[64]; /* GGUF name */
    char hf[96];   /* HF name */
    int n_dims;
    int64_t ne[4]; /* GGUF shape */
    float *data;   /* values; for ssm_a these are A_log (the GGUF file gets -exp) */
    int64_t n;
} fx_tensor;

typedef struct fx_model {
    int H, L, nh, P, G, N, K, na, nkv, hd, F, V;
    const char *pattern;
    fx_tensor t[FX_MAX_TENSORS];
    int n;
} fx_model;

/* Options for the HF directory. */
typedef struct fx_hf_opts {
    int bf16;                      /* matrices as BF16 instead of F32 */
    int sharded;                   /* two shards + model.safetensors.index.json */
    const char *layers_block_type; /* raw JSON list written as layers_block_type, or NULL */
    int no_pattern;                /* leave hybrid_override_pattern out */
    int no_head_dim;               /* leave head_dim out (the loader takes it from q_proj) */
    int no_num_layers;             /* leave num_hidden_layers out */
    const char *extra_config; /* raw JSON members appended to config.json ("\"x\": 1") or NULL */
} fx_hf_opts;

void fx_model_init(fx_model *m);
/* A wider variant for the K-quant tests: H 256, pattern "M-*M-*-M*-" (L 10), nh 8, P 32
 * (Di 256), G 2, N 16, K 4, na 4, nkv 2, hd 20 (q width 80: rows of attn_output are not whole
 * 32-blocks), F 288 (ffn_down rows are 32- but not 256-blocks), V 40. */
void fx_model_init_wide(fx_model *m);
void fx_model_free(fx_model *m);
fx_tensor *fx_find(fx_model *m, const char *name);
/* A = -exp(A_log) as the loader computes it. */
float fx_a_from_log(float a_log);

/* A writer holding the model's metadata, tokenizer and tensors (borrowed from m; ssm_a values are
 * converted into buffers freed by fx_model_free). Tests may add keys before writing. */
reel_gguf_writer *fx_gguf_writer(fx_model *m, int skip_tensor /* index to leave out or -1 */);
/* Writes model.gguf-style file at path; aborts the test on failure. */
void fx_write_gguf(fx_model *m, const char *path);
/* Writes an HF directory (created if needed). */
void fx_write_hf(fx_model *m, const char *dir, const fx_hf_opts *o);

#endif
