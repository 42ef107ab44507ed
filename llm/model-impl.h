/* Private declarations shared by the model description files: model-desc.c, model-gguf.c,
 * model-load.c, safetensors.c and hfconfig.c. */
#ifndef REEL_LLM_MODEL_IMPL_H
#define REEL_LLM_MODEL_IMPL_H

#include "core/core.h"
#include "llm/gguf.h"
#include "llm/model.h"

/* ---- safetensors (safetensors.c) --------------------------------------------------------- */

#define REELI_ST_MAX_DIMS   8
#define REELI_ST_MAX_HEADER (100u << 20) /* the format's own limit for the JSON header */

typedef struct reeli_st_tensor {
    char *name;
    char dtype_name[16]; /* as written: "BF16", "I64", ... */
    int dtype;           /* reel_dtype for F32/F16/BF16/F64/I8..I64, -1 otherwise */
    int n_dims;
    int64_t shape[REELI_ST_MAX_DIMS]; /* PyTorch order, slowest first */
    const void *data;                 /* inside the mapping */
    size_t nbytes;
} reeli_st_tensor;

typedef struct reeli_st_file {
    char *path;
    reel_file_map map;
    reeli_st_tensor *tensors;
    int n_tensors;
} reeli_st_file;

/* Parses a safetensors image in memory (borrowed; name for messages) into f (tensors point into
 * data). Checks the header size, JSON, dtypes, shapes and offsets (inside the data, no overlap,
 * sizes consistent). 0 or REEL_EFORMAT with "NAME: what". */
int reeli_st_parse(reeli_st_file *f, const void *data, size_t size, const char *name);
/* Maps and parses path. */
int reeli_st_open(reeli_st_file *f, const char *path);
/* Frees what f holds; safe on a zeroed struct. */
void reeli_st_close(reeli_st_file *f);

/* No real dimension comes near this; it keeps products of dimensions in 64 bits. */
#define REELI_DIM_LIMIT (1 << 24)

/* ---- the description (model-desc.c) ------------------------------------------------------- */

struct reel_llm_desc {
    char *path;
    const char *format; /* "gguf" / "safetensors" (static) */
    reel_llm_hparams hp;
    reel_llm_vocab vocab;
    reel_llm_tensor *tensors;
    int n_tensors, cap_tensors;
    int *order; /* tensor indices sorted by name */
    reel_gguf *gguf;
    reeli_st_file *shards;
    int n_shards;
    void **owned; /* buffers freed with the description (names, converted data) */
    int n_owned, cap_owned;
    uint64_t file_size;
    int tie_embeddings; /* HF tie_word_embeddings */
};

/* Takes ownership of p (free()d with the description); returns p. */
void *reeli_desc_own(reel_llm_desc *d, void *p);
/* Appends a tensor (name copied). */
reel_llm_tensor *reeli_desc_add(reel_llm_desc *d, const char *name, reel_dtype type, int n_dims,
                                const int64_t *ne, const void *data, size_t nbytes);

/* Sorts the tensor table, fills head_dim from the q projection when the metadata lacks it, and
 * runs the checks common to every source. 0 or an error code. */
int reeli_desc_finish(reel_llm_desc *d);

/* d->gguf is open: hyperparameters, vocabulary and tensors from it (model-gguf.c). */
int reeli_desc_load_gguf(reel_llm_desc *d);

/* reel_llm_desc_load over a GGUF image in memory (borrowed; for the fuzz target; model-load.c). */
reel_llm_desc *reeli_desc_load_gguf_memory(const void *data, size_t size, const char *name);

/* HF directory loading (hfconfig.c): config.json into d->hp, tokenizer files into d->vocab,
 * safetensors shards into d->tensors with the name mapping. dir has no trailing slash. */
int reeli_hf_load(reel_llm_desc *d, const char *dir);

/* Adds the end-of-generation ids: eos, eot/eom (-1 if none) and the control tokens that end a
 * chat turn ("<|im_end|>", "</s>", ...). */
void reeli_vocab_eog(reel_llm_vocab *v, int32_t eot, int32_t eom);

/* Converts n values of type t (F32/F16/BF16) at src to F32. */
void reeli_to_f32(float *dst, const void *src, reel_dtype t, size_t n);

#endif
