/* reel llm: model descriptions — what a Nemotron-H checkpoint contains, from a GGUF file or a
 * Hugging Face directory, in one normalised form.
 *
 * A description holds the hyperparameters (docs/model.md §1, §4.1), the vocabulary the tokenizer is
 * built from (docs/model.md §5) and every tensor under its GGUF name (docs/model.md §4.3), as
 * zero-copy views into the memory-mapped files. Whatever the source, the forward pass sees the same
 * thing:
 *
 *   - tensor names are GGUF names; HF names (backbone.layers.i.mixer.in_proj.weight) are mapped;
 *   - shapes are GGUF ne order, fastest first (a PyTorch [out, in] matrix is {in, out});
 *   - blk.i.ssm_a holds A = -exp(A_log) as F32 {1, nh} (computed at load for HF directories);
 *   - blk.i.ssm_d is {1, nh}, blk.i.ssm_dt.bias {nh}, blk.i.ssm_conv1d.weight {K, Dc};
 *   - blk.i.ssm_norm.weight is {Di/G, G} (GGUF) or {Di} (HF): the same element order;
 *   - from HF directories, the small tensors llama.cpp's converter keeps in F32 (1-D tensors,
 *     norms, ssm_conv1d, ssm_a, ssm_d) are converted to F32 into memory the description owns;
 *     the matrices stay zero-copy F32/F16/BF16 views of the safetensors files;
 *   - output.weight may be absent (tied embeddings): use token_embd.weight.
 *
 * Loading checks that every tensor each layer kind needs is present with the right shape, so
 * code that runs the model may rely on the shapes below (ne order; see docs/model.md §4.3):
 *
 *   token_embd.weight {H, V}   output_norm.weight {H}   output.weight {H, V} (optional)
 *   every layer: blk.i.attn_norm.weight {H}
 *   'M': ssm_in.weight {H, 2Di+2GN+nh}  ssm_conv1d.weight {K, Dc}  ssm_conv1d.bias {Dc} (opt.)
 *        ssm_dt.bias {nh}  ssm_a {1, nh}  ssm_d {1, nh}  ssm_norm.weight {Di/G, G} or {Di}
 *        ssm_out.weight {Di, H}                                    (Dc = Di + 2GN)
 *   '*': attn_q.weight {H, na*hd}  attn_k.weight, attn_v.weight {H, nkv*hd}
 *        attn_output.weight {na*hd, H}
 *   '-': ffn_up.weight {H, F}  ffn_down.weight {F, H}
 *   'E': ffn_gate_inp.weight {H, E}  exp_probs_b.bias {E} (opt.)  ffn_up_exps.weight {H, Fe, E}
 *        ffn_down_exps.weight {Fe, H, E}  ffn_up_shexp.weight {H, Fs}  ffn_down_shexp.weight
 *        {Fs, H}   (HF directories: per-expert tensors blk.i.ffn_up_exps.J.weight {H, Fe} and
 *        blk.i.ffn_down_exps.J.weight {Fe, H} instead of the stacked ones)
 *
 *     reel_llm_desc *d = reel_llm_desc_load("model.gguf");   // or an HF directory
 *     if (!d) { fprintf(stderr, "reel: %s\n", reel_last_error()); return 1; }
 *     const reel_llm_hparams *hp = reel_llm_desc_hparams(d);
 *     const reel_llm_tensor *emb = reel_llm_desc_tensor(d, "token_embd.weight");
 *     reel_llm_desc_free(d);
 *
 * Thread safety: a description is immutable after loading; any number of threads may read it.
 */
#ifndef REEL_LLM_MODEL_H
#define REEL_LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h" /* reel_dtype: GGML type ids */

typedef enum reel_llm_layer_kind {
    REEL_LLM_LAYER_MAMBA = 0, /* 'M' */
    REEL_LLM_LAYER_ATTN = 1,  /* '*' */
    REEL_LLM_LAYER_MLP = 2,   /* '-' */
    REEL_LLM_LAYER_MOE = 3,   /* 'E' (recognised; the forward pass may refuse it) */
} reel_llm_layer_kind;

typedef struct reel_llm_hparams {
    char arch[32];                   /* "nemotron_h" or "nemotron_h_moe" */
    int n_layer;                     /* L = pattern length */
    int n_embd;                      /* H */
    int n_vocab;                     /* V */
    reel_llm_layer_kind *layer_kind; /* [n_layer] (owned by the description) */
    char *pattern;                   /* "M-M*..." NUL-terminated, one char per layer (owned) */
    /* Mamba-2 */
    int ssm_n_heads;    /* nh  (GGUF ssm.time_step_rank, HF mamba_num_heads) */
    int ssm_head_dim;   /* P   (inner_size / nh, HF mamba_head_dim) */
    int ssm_d_inner;    /* Di = nh*P */
    int ssm_n_groups;   /* G */
    int ssm_d_state;    /* N */
    int ssm_d_conv;     /* K */
    int ssm_chunk_size; /* Q hint (HF chunk_size; 0 if unknown) */
    /* attention */
    int n_head;    /* na */
    int n_head_kv; /* nkv */
    int head_dim;  /* hd (never H/na) */
    /* MLP */
    int n_ff;               /* F */
    float norm_eps;         /* 1e-5 */
    int64_t context_length; /* as declared by the file (informational) */
    /* MoE (n_expert == 0 for dense) */
    int n_expert, n_expert_used, n_ff_exp, n_ff_shexp;
    float expert_weights_scale;
    int expert_weights_norm;
} reel_llm_hparams;

typedef struct reel_llm_tensor {
    const char *name; /* GGUF name, e.g. "blk.3.ssm_in.weight" */
    reel_dtype type;
    int n_dims;
    int64_t ne[4];    /* GGUF order: ne[0] fastest (a PyTorch [out,in] matrix is {in,out});
                         unused dimensions are 1 */
    const void *data; /* borrowed: points into the mmap (or into memory the description owns),
                         aligned to at least the element size */
    size_t nbytes;
} reel_llm_tensor;

typedef struct reel_llm_vocab { /* what the tokenizer is built from */
    int n_tokens;
    char **tokens;       /* [n_tokens] token text as stored (GPT-2 byte-level alphabet, "Ġ") */
    int32_t *token_type; /* [n_tokens] GGUF token types: 1 normal, 2 unknown, 3 control,
                            4 user-defined, 5 unused, 6 byte */
    int n_merges;
    char **merges;   /* [n_merges] "a b" in rank order */
    char *model;     /* "gpt2" (byte-level BPE) */
    char *pre;       /* GGUF tokenizer.ggml.pre ("pixtral", ...) or NULL */
    char *pre_regex; /* exact pre-tokenizer regex from tokenizer.json, or NULL (GGUF) */
    int32_t bos_id, eos_id, unk_id, pad_id; /* -1 when absent */
    int add_bos, add_eos;
    int32_t *eog_ids; /* end-of-generation ids (eos + chat turn end) */
    int n_eog;
    char *chat_template;  /* Jinja text or NULL */
    char *tokenizer_json; /* HF dirs only: the raw tokenizer.json text, else NULL */
} reel_llm_vocab;

typedef struct reel_llm_desc reel_llm_desc; /* opaque */

/* Opens a GGUF file or a Hugging Face directory (config.json + *.safetensors [+ index] +
 * tokenizer.json + tokenizer_config.json [+ generation_config.json]). Returns NULL and sets
 * reel_last_error() ("FILE: what, where": REEL_ENOTFOUND, REEL_EIO, REEL_EFORMAT for damaged or
 * inconsistent files, REEL_EUNSUPPORTED for another architecture or dtype). The description owns
 * the mappings; everything it returns is valid until reel_llm_desc_free(). */
reel_llm_desc *reel_llm_desc_load(const char *path);
/* Frees; NULL is a no-op. */
void reel_llm_desc_free(reel_llm_desc *d);
/* Borrowed, valid until the description is freed. */
const reel_llm_hparams *reel_llm_desc_hparams(const reel_llm_desc *d);
const reel_llm_vocab *reel_llm_desc_vocab(const reel_llm_desc *d);
/* Tensor by GGUF name, NULL if absent (no error set). Valid until the description is freed. */
const reel_llm_tensor *reel_llm_desc_tensor(const reel_llm_desc *d, const char *name);
/* Tensors in file order, i in [0, n_tensors). */
int reel_llm_desc_n_tensors(const reel_llm_desc *d);
const reel_llm_tensor *reel_llm_desc_tensor_at(const reel_llm_desc *d, int i);
/* The path given to reel_llm_desc_load. */
const char *reel_llm_desc_path(const reel_llm_desc *d);
/* "gguf" or "safetensors". */
const char *reel_llm_desc_format(const reel_llm_desc *d);
/* Total bytes of the model files read (GGUF file, or all safetensors shards). */
uint64_t reel_llm_desc_file_size(const reel_llm_desc *d);
/* Number of parameters (elements of all tensors). */
int64_t reel_llm_desc_n_params(const reel_llm_desc *d);

/* Elements of a tensor (product of ne). */
int64_t reel_llm_tensor_nelements(const reel_llm_tensor *t);
/* Character of a layer kind: 'M', '*', '-', 'E'. */
char reel_llm_layer_kind_char(reel_llm_layer_kind k);

/* Bytes of decode state for one sequence of ctx tokens: KV cache in F16 for attention layers
 * (2 * nkv * hd * 2 bytes per token per layer), conv state (K-1) * Dc * 4 and SSM state
 * nh * P * N * 4 per Mamba layer. */
uint64_t reel_llm_hparams_state_bytes(const reel_llm_hparams *hp, int64_t ctx);

#endif
