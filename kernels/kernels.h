/* reel kernels: the compute backends (CPU always; CUDA when built with nvcc and a GPU exists).
 *
 * This header is the module's contract. Today it describes the hardware: which SIMD extensions
 * the CPU has (the CPU backend picks its kernels from these at run time, so one binary runs on
 * any x86-64) and which CUDA devices are present. The operation table (matmul per weight type,
 * rmsnorm, conv1d, SSM scan, attention) is added here by the forward-pass work.
 */
#ifndef REEL_KERNELS_H
#define REEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Tensor element types. Values are GGML's type ids, so a GGUF file's type field maps directly.
 * Quantized types store blocks of reel_dtype_block() elements in reel_dtype_block_bytes()
 * bytes, along the fastest dimension (ne[0]). */
typedef enum reel_dtype {
    REEL_DTYPE_F32 = 0,
    REEL_DTYPE_F16 = 1,
    REEL_DTYPE_Q4_0 = 2,
    REEL_DTYPE_Q4_1 = 3,
    REEL_DTYPE_Q5_0 = 6,
    REEL_DTYPE_Q5_1 = 7,
    REEL_DTYPE_Q8_0 = 8,
    REEL_DTYPE_Q8_1 = 9,
    REEL_DTYPE_Q2_K = 10,
    REEL_DTYPE_Q3_K = 11,
    REEL_DTYPE_Q4_K = 12,
    REEL_DTYPE_Q5_K = 13,
    REEL_DTYPE_Q6_K = 14,
    REEL_DTYPE_Q8_K = 15,
    REEL_DTYPE_IQ4_NL = 20,
    REEL_DTYPE_I8 = 24,
    REEL_DTYPE_I16 = 25,
    REEL_DTYPE_I32 = 26,
    REEL_DTYPE_I64 = 27,
    REEL_DTYPE_F64 = 28,
    REEL_DTYPE_BF16 = 30,
    REEL_DTYPE_COUNT = 40, /* upper bound of ids (exclusive) */
} reel_dtype;

/* Name of a type ("F32", "Q4_K"), or NULL for an id reel does not know. */
const char *reel_dtype_name(int type);
/* Elements per block (1 for plain types); 0 for an unknown id. */
int reel_dtype_block(int type);
/* Bytes per block; 0 for an unknown id. */
int reel_dtype_block_bytes(int type);
/* Bytes of a row of n elements (n must be a multiple of the block size); 0 if not. */
size_t reel_dtype_row_bytes(int type, int64_t n);

/* SIMD extensions the CPU and OS support (1 = usable). */
typedef struct reel_cpu_features {
    int sse42, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
} reel_cpu_features;

/* Features of the running CPU, detected once; the pointer is static. Setting the environment
 * variable REEL_CPU=scalar hides every extension (to run the reference kernels). */
const reel_cpu_features *reel_kernels_cpu(void);

/* Writes a space-separated list of the usable extensions ("avx2 fma f16c ...") into buf. */
void reel_kernels_cpu_describe(char *buf, size_t size);

/* A CUDA device. */
typedef struct reel_gpu_info {
    char name[256];
    uint64_t total_mem; /* bytes */
    int cc_major, cc_minor;
    int multiprocessors;
} reel_gpu_info;

/* 1 if this build contains the CUDA backend, 0 otherwise. */
int reel_kernels_cuda_built(void);

/* Number of usable CUDA devices: 0 when CUDA is not built, no driver or no GPU is present.
 * When it returns 0 and why is non-NULL, *why is a static sentence saying why. */
int reel_kernels_gpu_count(const char **why);

/* Properties of device i (0-based): 0, or REEL_ENOTFOUND / REEL_EGPU with a message. */
int reel_kernels_gpu_info(int i, reel_gpu_info *info);

#endif
