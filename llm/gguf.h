/* reel llm: GGUF files — a checked, zero-copy reader and an atomic writer.
 *
 * GGUF (llama.cpp / ggml) holds a model in one file: typed key/value metadata, a table of
 * tensors, then the tensor data. All numbers are little-endian. Layout, field by field:
 *
 *   header
 *     u8[4]   magic            "GGUF"
 *     u32     version          3 (2 has the same layout and is accepted; 1 is not)
 *     u64     n_tensors        number of tensor infos
 *     u64     n_kv             number of metadata pairs
 *   metadata, n_kv times
 *     string  key              ASCII/UTF-8 dotted name, e.g. "general.architecture"; unique
 *     u32     value_type       reel_gguf_type
 *     ...     value            by type: u8/i8/bool 1 byte, u16/i16 2, u32/i32/f32 4,
 *                              u64/i64/f64 8, string, or array:
 *                                u32 elem_type, u64 n, then n values of elem_type
 *                                (arrays of strings and arrays of arrays are allowed)
 *   tensor infos, n_tensors times
 *     string  name             e.g. "blk.3.ssm_in.weight"; unique
 *     u32     n_dims           1..4
 *     u64[n_dims] ne           elements per dimension, fastest first (ne[0] contiguous)
 *     u32     type             ggml type id (reel_dtype)
 *     u64     offset           of the data, relative to the data section; a multiple of the
 *                              alignment
 *   padding to the alignment
 *   data section               tensor bytes, each tensor padded to the alignment
 *
 *   string = u64 length, then that many bytes (no NUL terminator)
 *   alignment = metadata "general.alignment" (u32, a power of two), default 32
 *
 * The reader maps the file and checks every count, length, offset and dimension against the file
 * before using it: counts are bounded by what the remaining bytes could hold, so a damaged file
 * never causes a large allocation; tensor data must lie inside the data section, be aligned and
 * not overlap; keys and tensor names must be valid UTF-8 and unique. Errors read
 * "FILE: what is wrong, at offset N" or "FILE: tensor 'NAME': what is wrong".
 *
 *     reel_gguf *g = reel_gguf_open("model.gguf");
 *     if (!g) { fprintf(stderr, "reel: %s\n", reel_last_error()); return 1; }
 *     const reel_gguf_value *arch = reel_gguf_find(g, "general.architecture");
 *     const reel_gguf_tensor *t = reel_gguf_tensor_find(g, "token_embd.weight");
 *     reel_gguf_free(g);
 *
 * Thread safety: a reader is immutable after open, so any number of threads may read it. A
 * writer is used by one thread at a time.
 */
#ifndef REEL_LLM_GGUF_H
#define REEL_LLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

#define REEL_GGUF_MAGIC             "GGUF"
#define REEL_GGUF_VERSION           3
#define REEL_GGUF_DEFAULT_ALIGNMENT 32
#define REEL_GGUF_MAX_DIMS          4

/* Metadata value types (values are the file's type ids). */
typedef enum reel_gguf_type {
    REEL_GGUF_TYPE_UINT8 = 0,
    REEL_GGUF_TYPE_INT8 = 1,
    REEL_GGUF_TYPE_UINT16 = 2,
    REEL_GGUF_TYPE_INT16 = 3,
    REEL_GGUF_TYPE_UINT32 = 4,
    REEL_GGUF_TYPE_INT32 = 5,
    REEL_GGUF_TYPE_FLOAT32 = 6,
    REEL_GGUF_TYPE_BOOL = 7,
    REEL_GGUF_TYPE_STRING = 8,
    REEL_GGUF_TYPE_ARRAY = 9,
    REEL_GGUF_TYPE_UINT64 = 10,
    REEL_GGUF_TYPE_INT64 = 11,
    REEL_GGUF_TYPE_FLOAT64 = 12,
    REEL_GGUF_TYPE_COUNT = 13,
} reel_gguf_type;

/* A metadata value. Owned by the reader (valid until reel_gguf_free) or, when passed to the
 * writer, by the caller. */
typedef struct reel_gguf_value {
    reel_gguf_type type;
    reel_gguf_type arr_type; /* ARRAY: element type */
    uint64_t n;              /* STRING: length in bytes (no NUL); ARRAY: element count */
    union {
        uint64_t u64;     /* UINT8/16/32/64 and BOOL (0 or 1) */
        int64_t i64;      /* INT8/16/32/64 */
        double f64;       /* FLOAT32/64 */
        const char *str;  /* STRING: the bytes followed by a NUL (may hold other NULs) */
        const void *data; /* ARRAY of numbers/bools: n packed little-endian elements as in the
                             file, possibly unaligned; read them with reel_gguf_array_int/float */
        const struct reel_gguf_value *items; /* ARRAY of STRING or ARRAY: n values */
    };
} reel_gguf_value;

/* A tensor of the file. */
typedef struct reel_gguf_tensor {
    const char *name;
    reel_dtype type;
    int n_dims;
    int64_t ne[REEL_GGUF_MAX_DIMS]; /* unused dimensions are 1 */
    uint64_t offset;                /* relative to the data section */
    size_t nbytes;
    const void *data; /* borrowed: inside the mapping, aligned */
} reel_gguf_tensor;

typedef struct reel_gguf reel_gguf;

/* Maps and checks the file. NULL + reel_last_error() on failure (REEL_ENOTFOUND, REEL_EIO,
 * REEL_EFORMAT for a damaged file, REEL_EUNSUPPORTED for another version, REEL_ENOMEM). */
reel_gguf *reel_gguf_open(const char *path);
/* The same over bytes in memory (borrowed: they must outlive the reader). name is used in
 * messages. */
reel_gguf *reel_gguf_open_memory(const void *data, size_t size, const char *name);
/* Unmaps and frees; NULL is a no-op. Every pointer obtained from g becomes invalid. */
void reel_gguf_free(reel_gguf *g);

uint32_t reel_gguf_version(const reel_gguf *g);
size_t reel_gguf_alignment(const reel_gguf *g);
/* Offset of the data section from the start of the file. */
uint64_t reel_gguf_data_offset(const reel_gguf *g);
/* Size of the whole file in bytes. */
size_t reel_gguf_size(const reel_gguf *g);

/* Metadata pairs in file order, i in [0, n_kv). */
int64_t reel_gguf_n_kv(const reel_gguf *g);
const char *reel_gguf_kv_key(const reel_gguf *g, int64_t i);
const reel_gguf_value *reel_gguf_kv_value(const reel_gguf *g, int64_t i);
/* The value of key, or NULL if absent (no error set). */
const reel_gguf_value *reel_gguf_find(const reel_gguf *g, const char *key);

/* Tensors in file order, i in [0, n_tensors). */
int64_t reel_gguf_n_tensors(const reel_gguf *g);
const reel_gguf_tensor *reel_gguf_tensor_at(const reel_gguf *g, int64_t i);
/* The tensor called name, or NULL if absent (no error set). */
const reel_gguf_tensor *reel_gguf_tensor_find(const reel_gguf *g, const char *name);

/* "UINT8", "STRING", ...; "?" for an unknown id. */
const char *reel_gguf_type_name(int type);
/* Size in bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown ids. */
size_t reel_gguf_type_size(int type);

/* A scalar integer or bool value as int64: 0, or REEL_EFORMAT (not an integer) / REEL_ERANGE
 * (a UINT64 above INT64_MAX). Messages are set without a file name; callers prefix them. */
int reel_gguf_value_int(const reel_gguf_value *v, int64_t *out);
/* A scalar number (any integer or float type) as double: 0 or REEL_EFORMAT. */
int reel_gguf_value_float(const reel_gguf_value *v, double *out);
/* Element j of a numeric or bool array: 0, or REEL_EFORMAT / REEL_ERANGE as above. */
int reel_gguf_array_int(const reel_gguf_value *v, uint64_t j, int64_t *out);
int reel_gguf_array_float(const reel_gguf_value *v, uint64_t j, double *out);

/* 1 if the n bytes at s are valid UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF), else 0. */
int reel_utf8_valid(const char *s, size_t n);

/* ---- writer ----------------------------------------------------------------------------
 *
 *     reel_gguf_writer *w = reel_gguf_writer_init();
 *     reel_gguf_writer_set_str(w, "general.architecture", "nemotron_h");
 *     reel_gguf_writer_set_u32(w, "nemotron_h.block_count", 42);
 *     reel_gguf_writer_add_tensor(w, "output_norm.weight", REEL_DTYPE_F32, 1, ne, data, size);
 *     if (reel_gguf_writer_write(w, "out.gguf") < 0) ...
 *     reel_gguf_writer_free(w);
 *
 * Metadata and tensors are written in the order they were added. Setting "general.alignment"
 * (as UINT32, a power of two) changes the alignment of the data. */
typedef struct reel_gguf_writer reel_gguf_writer;

reel_gguf_writer *reel_gguf_writer_init(void);   /* aborts on OOM */
void reel_gguf_writer_free(reel_gguf_writer *w); /* NULL is a no-op */

/* Adds a key with a value of any type (deep-copied, arrays of strings and nested arrays
 * included). 0, or REEL_EINVAL for a duplicate or non-UTF-8 key or a malformed value. */
int reel_gguf_writer_set(reel_gguf_writer *w, const char *key, const reel_gguf_value *v);
int reel_gguf_writer_set_u32(reel_gguf_writer *w, const char *key, uint32_t v);
int reel_gguf_writer_set_i32(reel_gguf_writer *w, const char *key, int32_t v);
int reel_gguf_writer_set_u64(reel_gguf_writer *w, const char *key, uint64_t v);
int reel_gguf_writer_set_f32(reel_gguf_writer *w, const char *key, float v);
int reel_gguf_writer_set_bool(reel_gguf_writer *w, const char *key, int v);
int reel_gguf_writer_set_str(reel_gguf_writer *w, const char *key, const char *v);
/* An array of n fixed-size elements of type elem (packed as in the file, native = little
 * endian). */
int reel_gguf_writer_set_array(reel_gguf_writer *w, const char *key, reel_gguf_type elem,
                               const void *data, uint64_t n);
/* An array of n NUL-terminated strings. */
int reel_gguf_writer_set_array_str(reel_gguf_writer *w, const char *key, const char *const *strs,
                                   uint64_t n);

/* Adds a tensor. data (nbytes, which must match type and ne) is borrowed until the writer is
 * written or freed. 0, or REEL_EINVAL (duplicate name, bad shape, unknown type). */
int reel_gguf_writer_add_tensor(reel_gguf_writer *w, const char *name, reel_dtype type, int n_dims,
                                const int64_t *ne, const void *data, size_t nbytes);

/* Produces the bytes of a tensor added with reel_gguf_writer_add_tensor_fill: fills dst
 * (nbytes, writable) and returns 0, or returns a negative REEL_E* code (message set with
 * reel_set_error), which abandons the write with that code. */
typedef int (*reel_gguf_fill_fn)(void *ctx, const char *name, void *dst, size_t nbytes);

/* Adds a tensor whose data is produced while the file is written: fill(ctx, ...) is called once
 * per write, in tensor order, with a buffer of nbytes that the writer frees right after writing
 * it, so at most one such tensor is in memory at a time (streaming a conversion). Checks as
 * reel_gguf_writer_add_tensor; REEL_EINVAL if fill is NULL. ctx is borrowed like data. */
int reel_gguf_writer_add_tensor_fill(reel_gguf_writer *w, const char *name, reel_dtype type,
                                     int n_dims, const int64_t *ne, size_t nbytes,
                                     reel_gguf_fill_fn fill, void *ctx);

/* Writes the file atomically (temporary file, fsync, rename): 0 or a REEL_E* code. */
int reel_gguf_writer_write(reel_gguf_writer *w, const char *path);
/* Serialises into a new buffer (*out owned by the caller, free()): 0 or a REEL_E* code. */
int reel_gguf_writer_write_memory(reel_gguf_writer *w, uint8_t **out, size_t *size);

#endif
