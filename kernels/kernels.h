/* reel kernels: the compute backends (CPU always; CUDA when built with nvcc and a GPU exists).
 *
 * This header is the module's contract. Today it describes the hardware: which SIMD extensions
 * the CPU has (the CPU backend picks its kernels from these at run time, so one binary runs on
 * any x86-64) and which CUDA devices are present, and the operation table the forward pass
 * calls (matmul per weight type, rmsnorm, gated grouped rmsnorm, conv1d, SSM scan and chunked
 * SSD, attention over a KV cache, activations).
 *
 *     const reel_kernel_ops *k = reel_kernels_ops_cpu();
 *     k->matmul(pool, y, w, REEL_DTYPE_F16, x, n_in, n_out, n_tokens);   // y = W x, per token
 *
 * Every op is deterministic: each output element is computed by one thread in a fixed order, so
 * results are bit-identical whatever the number of threads in the pool.
 */
#ifndef REEL_KERNELS_H
#define REEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

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
    /* in-memory only (never in files, unknown to reel_dtype_name): Q6_K / Q4_K / Q5_0 / Q4_0 /
     * Q8_0 matrices with 8 rows interleaved per block (Q5_0 / Q4_0 / Q8_0: two such groups'
     * blocks side by side), written by reel_kernels_repack() */
    REEL_DTYPE_Q6_K_R8 = 35,
    REEL_DTYPE_Q4_K_R8 = 36,
    REEL_DTYPE_Q5_0_R8 = 37,
    REEL_DTYPE_Q4_0_R8 = 38,
    REEL_DTYPE_Q8_0_R8 = 39,
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
    int neon, fp16, dotprod, i8mm; /* ARM64: ASIMD, FP16 arithmetic, SDOT, SMMLA */
} reel_cpu_features;

/* Features of the running CPU, detected once; the pointer is static. Setting the environment
 * variable REEL_CPU=scalar hides every extension (to run the reference kernels), REEL_CPU=avx2
 * the AVX-512 and VNNI ones (to run the AVX2 kernels on a newer CPU); on ARM64 REEL_CPU=neon
 * hides dotprod and i8mm, REEL_CPU=dotprod hides i8mm. */
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

/* ---- element conversions ------------------------------------------------------------------- */

/* IEEE half <-> float (round to nearest even; NaN/Inf kept) and bfloat16 -> float. */
float reel_fp16_to_fp32(uint16_t h);
uint16_t reel_fp32_to_fp16(float f);
float reel_bf16_to_fp32(uint16_t b);
uint16_t reel_fp32_to_bf16(float f);

/* 1 if rows of this type can be used as matmul weights / dequantized: F32, F16, BF16, Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (GGML block layouts). */
int reel_kernels_dtype_supported(reel_dtype type);

/* Converts n elements of a row of `type` (n a multiple of the block size) to float.
 * Returns 0, or REEL_EUNSUPPORTED for a type without a dequantizer. */
int reel_kernels_dequantize_row(reel_dtype type, const void *src, float *dst, int64_t n);

/* Converts n floats to a row of `type`: F32, F16, BF16 (round to nearest even), Q8_0, Q4_0,
 * Q5_0, Q5_1 (bit-exact with GGML's reference quantizers), IQ4_NL, Q4_K, Q5_K, Q6_K (reel's own
 * least-squares quantizers writing GGML's exact block layouts: llama.cpp and
 * reel_kernels_dequantize_row read them; round-trip error at or below llama-quantize's without
 * an importance matrix, figures in kernels/cpu/quant.c). dst holds reel_dtype_row_bytes(type, n)
 * bytes. Returns 0, REEL_EUNSUPPORTED for a type without a quantizer (Q4_1, Q2_K, Q3_K, ...),
 * REEL_EINVAL if n is not whole blocks (32, or 256 for the K types). Pure function of its
 * arguments; thread safe. */
int reel_kernels_quantize_row(reel_dtype type, const float *src, void *dst, int64_t n);

/* ---- operation table -------------------------------------------------------------------------
 * Shapes are written [outer][inner], inner contiguous. T is the number of tokens in a batch.
 * "pool" may be NULL (single-threaded). Ops never allocate memory that depends on the model size
 * except the small per-call scratch noted; they return nothing unless they can fail. */

/* Arguments of the Mamba-2 selective scan over T tokens (docs/model.md §2.1 step 6, §3.3). */
typedef struct reel_ssm_args {
    int64_t T;       /* tokens */
    int nh, P, N, G; /* heads, head dim, state size, groups (nh % G == 0) */
    const float *x;  /* x_t[h*P + p] at x + t*x_stride (post-conv, post-SiLU) */
    int64_t x_stride;
    const float *B; /* B_t[g*N + n] at B + t*bc_stride */
    const float *C; /* C_t[g*N + n] at C + t*bc_stride */
    int64_t bc_stride;
    const float *dt; /* [T][nh] time steps after softplus */
    const float *A;  /* [nh] decay rates (negative) */
    const float *D;  /* [nh] skip weights */
    float *state;    /* [nh][P][N] read and updated in place */
    float *y;        /* [T][nh*P] output (includes D*x) */
    int chunk;       /* chunk length Q for the chunked form (>= 1) */
} reel_ssm_args;

/* Arguments of causal GQA attention for T new queries at positions pos0..pos0+T-1 over a KV
 * cache that already holds positions 0..pos0+T-1 (docs/model.md §2.2; no positional encoding). */
typedef struct reel_attn_args {
    int64_t T, pos0;
    int na, nkv, hd; /* query heads, KV heads (na % nkv == 0), head dim */
    const float *q;  /* q_t[i*hd + d] at q + t*q_stride */
    int64_t q_stride;
    const void *k, *v; /* [pos][nkv*hd] of kv_type (F32 or F16) */
    reel_dtype kv_type;
    float *out; /* [T][na*hd] */
} reel_attn_args;

typedef enum reel_unary {
    REEL_UNARY_SILU = 0,     /* v / (1 + e^-v) */
    REEL_UNARY_RELU2 = 1,    /* max(v, 0)^2 */
    REEL_UNARY_SOFTPLUS = 2, /* log(1 + e^v), v itself above 20 */
} reel_unary;

typedef struct reel_kernel_ops {
    const char *name; /* "cpu" */

    /* y[t][r] = sum_i W[r][i] * x[t][i] for t < T, r < n_out. W: n_out rows of n_in elements of
     * wtype (ne = {n_in, n_out}); x [T][n_in]; y [T][n_out] (must not alias x). Returns 0 or
     * REEL_EUNSUPPORTED (type) / REEL_EINVAL (n_in not a multiple of the block). */
    int (*matmul)(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                  int64_t n_in, int64_t n_out, int64_t T);

    /* y[t] = w * x[t] / sqrt(mean(x[t]^2) + eps) over rows of n; y may equal x. */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, int64_t T, float eps);

    /* Gated grouped RMSNorm (docs/model.md §2.1 step 7): v = x[t] * silu(z[t]); each group of gs
     * consecutive values is divided by its RMS; y[t] = w * v. x, z, y: rows of n at the given
     * strides (y may equal x). */
    void (*gated_rmsnorm)(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                          const float *z, int64_t z_stride, const float *w, int64_t n, int64_t gs,
                          int64_t T, float eps);

    /* Causal depthwise conv over T tokens of C channels with K taps (docs/model.md §2.1 step 2,
     * §3): y[t][c] = b[c] + sum_j w[j][c] * in_{t-(K-1)+j}[c], where inputs before t = 0 come from
     * state [K-1][C] (oldest first). Tap-major w [K][C] and state keep a tap's channels side by
     * side for SIMD (the GGUF tensor is [C][K]: the forward pass transposes it at load).
     * x_t[c] at x + t*x_stride (raw, pre-conv). Afterwards state holds the last K-1 raw inputs.
     * y [T][C]; b may be NULL; no activation. */
    void (*conv1d)(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                   const float *w, const float *b, int64_t C, int K, int64_t T);

    /* Selective scan token by token (the exact reference). */
    void (*ssm_scan)(reel_pool *pool, const reel_ssm_args *a);
    /* The same result by the chunked SSD form with chunks of a->chunk tokens (prefill). */
    void (*ssm_chunked)(reel_pool *pool, const reel_ssm_args *a);

    /* Causal GQA attention, softmax in fp32, scale 1/sqrt(hd). */
    void (*attention)(reel_pool *pool, const reel_attn_args *a);

    /* y[i] = op(x[i]) for i < n (y may equal x). */
    void (*unary)(reel_unary op, float *y, const float *x, int64_t n);
} reel_kernel_ops;

/* The CPU backend: the scalar reference ops with SIMD versions swapped in where the running CPU
 * supports them (name "cpu-avx2", "cpu-avxvnni" or "cpu-avx512vnni" then, the latter two when
 * the quantized matmuls use VNNI integer dot products; REEL_CPU=scalar keeps the reference). With
 * AVX2, every quantized weight type is multiplied by integer dot products against activations
 * quantized to int8 per 32 elements (as GGML does), so results differ from the reference by
 * that rounding (~1e-3 relative). Static table. */
const reel_kernel_ops *reel_kernels_ops_cpu(void);

/* The scalar reference table alone (what every other variant is tested against). */
const reel_kernel_ops *reel_kernels_ops_cpu_scalar(void);

/* The best backend of this build and machine (today: the CPU table). */
const reel_kernel_ops *reel_kernels_ops(void);

/* The layout in which ops' matmul reads a {n_in, n_out} matrix of wtype fastest: wtype itself,
 * or an interleaved in-memory form of the same size (Q4_0 -> Q4_0_R8, Q8_0 -> Q8_0_R8, Q5_0 ->
 * Q5_0_R8, Q4_K -> Q4_K_R8, Q6_K -> Q6_K_R8 when the CPU table uses AVX-512 VNNI and
 * n_out % 8 == 0). */
reel_dtype reel_kernels_preferred_layout(const reel_kernel_ops *ops, reel_dtype wtype, int64_t n_in,
                                         int64_t n_out);

/* Rewrites a matrix from layout `from` into `to` (as reel_kernels_preferred_layout chose;
 * dst holds as many bytes as src). 0, or REEL_EINVAL for a pair or shape it does not handle. */
int reel_kernels_repack(reel_dtype to, void *dst, reel_dtype from, const void *src, int64_t n_in,
                        int64_t n_out);

#endif
