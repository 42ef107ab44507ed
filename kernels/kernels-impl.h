/* Private declarations shared inside kernels/ (not part of the public contract). */
#ifndef REEL_KERNELS_IMPL_H
#define REEL_KERNELS_IMPL_H

#include "kernels/kernels.h"

/* CUDA glue, implemented in kernels/cuda/ (plain C linkage; no CUDA types cross this line). */
int reeli_cuda_device_count(const char **why);
int reeli_cuda_device_info(int i, reel_gpu_info *info);

/* CPU scalar reference ops (kernels/cpu/), gathered into the table by kernels/cpu/ops.c. */
float reeli_dot_f32(const float *a, const float *b, int64_t n);
int reeli_cpu_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                     int64_t n_in, int64_t n_out, int64_t T);
/* The exact scalar reference of the integer-dot matmuls (kernels/cpu/matmul-q8act.c), which
 * every SIMD quantized matmul is tested against. reeli_q8act_block: 32 floats -> 32 int8 and
 * the returned scale, bit for bit as quant-act.c quantizes activations. reeli_q8act_weights:
 * block b (32 elements) of a row of Q8_0, Q4_0, Q5_0, Q5_1, Q4_1, IQ4_NL or Q2_K..Q6_K as
 * integers, w[i] = A[i / 16] k[i] + B[i / 16] exactly (0, else REEL_EUNSUPPORTED).
 * reeli_q8act_dot: a row of n elements . a token's int8 values q and block scales d, in double
 * from exact integer sums; *l1 (if not NULL) the sum of the magnitudes that a kernel's fp32
 * steps round (so |kernel - exact| <= (roundings per output) * 2^-24 * l1).
 * reeli_cpu_matmul_q8act: the matmul contract with those dots rounded to float once (float
 * weight types go to reeli_cpu_matmul); REEL_CPU=scalar-q8 makes it the table's matmul. */
float reeli_q8act_block(const float *x, int8_t q[32]);
int reeli_q8act_weights(reel_dtype t, const uint8_t *row, int64_t b, int32_t k[32], double A[2],
                        double B[2]);
double reeli_q8act_dot(reel_dtype t, const uint8_t *row, int64_t n, const int8_t *q, const float *d,
                       double *l1);
int reeli_cpu_matmul_q8act(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                           const float *x, int64_t n_in, int64_t n_out, int64_t T);
void reeli_cpu_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t T, float eps);
void reeli_cpu_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                             const float *z, int64_t z_stride, const float *w, int64_t n,
                             int64_t gs, int64_t T, float eps);
/* The arguments of a conv1d call (the contract's names), shared by the scalar and SIMD bodies. */
enum { REELI_CONV_MAX_TAPS = 64 };
typedef struct {
    float *y;
    const float *x;
    int64_t x_stride;
    float *state;
    const float *w, *b;
    int64_t C;
    int K;
    int64_t T;
} reeli_conv_ctx;
void reeli_cpu_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                      const float *w, const float *b, int64_t C, int K, int64_t T);
void reeli_cpu_ssm_scan(reel_pool *pool, const reel_ssm_args *a);
void reeli_cpu_ssm_chunked(reel_pool *pool, const reel_ssm_args *a);
void reeli_cpu_attention(reel_pool *pool, const reel_attn_args *a);
void reeli_cpu_unary(reel_unary op, float *y, const float *x, int64_t n);

/* x86 SIMD variants (kernels/cpu/x86/), chosen at run time by kernels/cpu/ops.c. */
void reeli_avx2_ssm_scan(reel_pool *pool, const reel_ssm_args *a);
void reeli_avx2_attention(reel_pool *pool, const reel_attn_args *a);
void reeli_avx2_unary(reel_unary op, float *y, const float *x, int64_t n);
void reeli_avx2_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                       const float *w, const float *b, int64_t C, int K, int64_t T);
void reeli_avx2_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                              const float *z, int64_t z_stride, const float *w, int64_t n,
                              int64_t gs, int64_t T, float eps);
/* Activation block of the integer-dot matmuls: 32 int8 values, their scale, -8 * their sum (the
 * Q4_0 offset), d times their sum (the K-quant minimums) and the sums of each half of 16 (the
 * Q6_K offset). */
typedef struct {
    float d;
    int32_t s8;
    float ds;
    int16_t h16[2];
    int8_t qs[32];
} reeli_q8x;

/* The two layouts of the one activation quantizer (kernels/cpu/x86/quant-act.c): reeli_q8x per
 * block, or one record of per-block vectors per token (reeli_x86_q8_record_bytes apart). */
typedef enum { REELI_Q8X_BLOCKS, REELI_Q8X_RECORDS } reeli_q8x_layout;
/* Quantizes T rows of n floats (n a multiple of 32) to Q8 blocks with sums, in the given layout,
 * into this thread's scratch (valid until its next call); rows split over the pool when T > 1. */
void *reeli_x86_quantize_q8(reel_pool *pool, const float *x, int64_t n, int64_t T,
                            reeli_q8x_layout layout);
/* Bytes of a token's record (REELI_Q8X_RECORDS) for rows of n elements: a multiple of 64. */
size_t reeli_x86_q8_record_bytes(int64_t n);

/* The instruction sets of the x86 integer-dot kernels below (their `isa` argument; the caller
 * checks the CPU). AVX-VNNI has tiles of its own for the interleaved layouts only: its
 * row-major matmuls are AVX2's. */
enum { REELI_X86_AVX2 = 0, REELI_X86_AVX512VNNI = 1, REELI_X86_AVXVNNI = 2 };
/* The best of those this CPU has (AVX2 + FMA + F16C assumed): AVX-512 VNNI with VL, else
 * AVX-VNNI, else AVX2. */
int reeli_x86_isa(const reel_cpu_features *f);

/* Q8_0 / Q4_0 matmul with int8 activations (kernels/cpu/x86/dot-rowmajor.c), which hands the
 * interleaved types (Q8_0_R8, Q4_0_R8, Q5_0_R8, Q4_K_R8, Q6_K_R8) to reeli_x86_gemm_interleaved:
 * the matmul contract with the integer dot products of `isa` (the interleaved types need a
 * multiple of 8 rows, else REEL_EINVAL). */
int reeli_x86_qmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T, int isa);
/* The interleaved types' matmul (kernels/cpu/x86/gemm-interleaved.c) with the tiles of `isa`:
 * the matmul contract, for n_out a multiple of 8. Every isa gives the same bits. */
int reeli_x86_gemm_interleaved(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                               const float *x, int64_t n_in, int64_t n_out, int64_t T, int isa);
/* Plain Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K {n_in, n_out} -> the interleaved layout `to`
 * (kernels/cpu/repack.c, portable: x86 and ARM64 read the same layouts): 0 or REEL_EINVAL. */
int reeli_cpu_repack(reel_dtype to, void *dst, reel_dtype from, const void *src, int64_t n_in,
                     int64_t n_out);
/* Q5_0, Q5_1, Q4_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K matmul with int8 activations
 * (kernels/cpu/x86/dot-rowmajor.c): the matmul contract, REEL_EINVAL for rows that are not whole
 * blocks, REEL_EUNSUPPORTED for another type. Needs AVX2 + FMA + F16C; isa
 * REELI_X86_AVX512VNNI also uses AVX-512 VNNI (the caller checks the CPU). */
int reeli_x86_kqmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T, int isa);
/* 1 if reeli_x86_kqmatmul takes weights of this type. */
int reeli_x86_kq_handles(reel_dtype wtype);
/* The matmul contract with AVX2 + FMA + F16C (kernels/cpu/x86/gemm-f32.c): F32 / F16 / BF16
 * weights here, quantized ones handed to the integer-dot kernels above. */
int reeli_avx2_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T);

/* ARM64 NEON variants (kernels/cpu/arm/), chosen at run time by kernels/cpu/ops.c. Plain ASIMD
 * versions of the non-matmul ops, each with its scalar twin's contract (unary.c, conv.c, ssm.c,
 * attention.c, norm.c): */
void reeli_neon_unary(reel_unary op, float *y, const float *x, int64_t n);
void reeli_neon_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t T, float eps);
void reeli_neon_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                              const float *z, int64_t z_stride, const float *w, int64_t n,
                              int64_t gs, int64_t T, float eps);
void reeli_neon_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                       const float *w, const float *b, int64_t C, int K, int64_t T);
void reeli_neon_ssm_scan(reel_pool *pool, const reel_ssm_args *a);
void reeli_neon_attention(reel_pool *pool, const reel_attn_args *a);
/* Activation block of the ARM64 integer-dot matmuls: reeli_q8act_block's scale and 32 values. */
typedef struct {
    float d;
    int8_t qs[32];
} reeli_q8a;
/* n_blocks blocks of 32 floats -> out, bit for bit as reeli_q8act_block (kernels/cpu/arm/
 * quant-act.c). */
void reeli_neon_quantize_q8(const float *x, int64_t n_blocks, reeli_q8a *out);
/* What a row-major integer-dot body reads: Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K rows of rb bytes, T
 * tokens of n_in / 32 blocks each, and the T x n_out output. */
typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const reeli_q8a *xq;
    int64_t n_in, n_out, T;
    size_t rb;
} reeli_neon_qctx;
/* Rows [r0, r1) of the Q8_0 / Q4_0 / Q5_0 matmul times every token, one function per level, all
 * giving the same bits: plain NEON (SMULL + SADALP, kernels/cpu/arm/dot-rowmajor-neon.c), SDOT
 * (dot-rowmajor-dotprod.c) and SMMLA (dot-rowmajor-i8mm.c), the last two only on a CPU that has
 * them. */
void reeli_neon_qrows(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
void reeli_neon_qrows_dotprod(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
void reeli_neon_qrows_i8mm(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
/* The same for Q4_K / Q6_K rows (kernels/cpu/arm/dot-kquant-body.h; SMMLA: dot-rowmajor-i8mm.c). */
void reeli_neon_kqrows(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
void reeli_neon_kqrows_dotprod(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
void reeli_neon_kqrows_i8mm(const reeli_neon_qctx *c, int64_t r0, int64_t r1);
typedef enum { REELI_ARM_NEON, REELI_ARM_DOTPROD, REELI_ARM_I8MM } reeli_arm_level;
/* 1 if reeli_neon_qmatmul takes weights of this type. */
int reeli_neon_q_handles(reel_dtype wtype);
/* Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K matmul with int8 activations (kernels/cpu/arm/matmul.c): the
 * matmul contract at the given level (the caller checks the CPU); REEL_EUNSUPPORTED for another
 * type. */
int reeli_neon_qmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T, reeli_arm_level level);
/* T tokens of n_in floats (n_in a multiple of 32) quantized as reeli_neon_quantize_q8, tokens
 * split over the pool (kernels/cpu/arm/quant-act.c): a reel_xmalloc'ed array the caller frees. */
reeli_q8a *reeli_neon_quantize_tokens(reel_pool *pool, const float *x, int64_t n_in, int64_t T);
/* The interleaved Q8_0_R8 / Q4_0_R8 / Q5_0_R8 weights (kernels/cpu/repack.c's layouts) with SDOT
 * by lane (kernels/cpu/arm/gemm-interleaved.c): the matmul contract, every output the bits of
 * reeli_neon_qmatmul on the row-major weights; REEL_EUNSUPPORTED for another type or a CPU
 * (or REEL_CPU cap) without dotprod, REEL_EINVAL unless n_in % 32 == 0 and n_out % 8 == 0. */
int reeli_neon_gemm_r8(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T);
/* The same for Q4_K_R8 / Q6_K_R8 (kernels/cpu/arm/gemm-interleaved-kquant.c): the bits of
 * reeli_neon_qmatmul on the row-major Q4_K / Q6_K; REEL_EINVAL unless n_in % 256 == 0 and
 * n_out % 8 == 0. */
int reeli_neon_gemm_r8_kquant(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                              const float *x, int64_t n_in, int64_t n_out, int64_t T);
/* F32 / F16 / BF16 weights (kernels/cpu/arm/gemm-f32.c): the matmul contract with fused fp32
 * sums in 8 lanes; REEL_EUNSUPPORTED for another type. Plain ASIMD. */
int reeli_neon_fmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T);
/* The table's matmul on ARM64: Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K through reeli_neon_qmatmul at the
 * CPU's highest level, their interleaved forms through reeli_neon_gemm_r8(_kquant), F32 / F16 /
 * BF16 through reeli_neon_fmatmul, the other types through the scalar reference. */
int reeli_neon_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T);

#endif
