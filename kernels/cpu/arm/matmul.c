/* The matmul of the ARM64 table: Q8_0, Q4_0, Q5_0, Q4_K and Q6_K weights with int8 activations
 * (quantized once per call, reeli_neon_quantize_tokens) through the row-major integer-dot body of
 * the CPU's level (NEON, SDOT or SMMLA), rows split over the pool; their interleaved forms
 * (Q8_0_R8, Q4_0_R8, Q5_0_R8, Q4_K_R8, Q6_K_R8, which reel_kernels_preferred_layout picks on a
 * CPU with dotprod) through gemm-interleaved.c and gemm-interleaved-kquant.c; F32 / F16 / BF16
 * weights through the NEON float kernel; every other weight type through the scalar reference
 * (no NEON kernel for it yet, docs/arm64.md). */
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <stdlib.h>

typedef struct {
    reeli_neon_qctx q;
    reeli_arm_level level;
} rows_ctx;

static void rows_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rows_ctx *c = arg;
    if (c->q.wtype == REEL_DTYPE_Q4_K || c->q.wtype == REEL_DTYPE_Q6_K) {
        if (c->level == REELI_ARM_I8MM)
            reeli_neon_kqrows_i8mm(&c->q, begin, end);
        else if (c->level == REELI_ARM_DOTPROD)
            reeli_neon_kqrows_dotprod(&c->q, begin, end);
        else
            reeli_neon_kqrows(&c->q, begin, end);
    } else if (c->level == REELI_ARM_I8MM)
        reeli_neon_qrows_i8mm(&c->q, begin, end);
    else if (c->level == REELI_ARM_DOTPROD)
        reeli_neon_qrows_dotprod(&c->q, begin, end);
    else
        reeli_neon_qrows(&c->q, begin, end);
}

int reeli_neon_q_handles(reel_dtype wtype)
{
    return wtype == REEL_DTYPE_Q8_0 || wtype == REEL_DTYPE_Q4_0 || wtype == REEL_DTYPE_Q5_0 ||
           wtype == REEL_DTYPE_Q4_K || wtype == REEL_DTYPE_Q6_K;
}

int reeli_neon_qmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T, reeli_arm_level level)
{
    if (!reeli_neon_q_handles(wtype))
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: no NEON integer-dot kernel for %s",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    const size_t rb = reel_dtype_row_bytes(wtype, n_in);
    if (!rb || n_in % 32)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    reeli_q8a *xq = reeli_neon_quantize_tokens(pool, x, n_in, T);
    rows_ctx rc = {{y, w, wtype, xq, n_in, n_out, T, rb}, level};
    reel_pool_parallel_for(pool, n_out, rows_body, &rc);
    free(xq);
    return 0;
}

int reeli_neon_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T)
{
    if (reeli_neon_q_handles(wtype)) {
        /* every level gives the same bits, so this choice only moves the speed. By the
         * instructions QEMU executes per block (docs/arm64.md; not measured on hardware): SMMLA
         * for batches, SDOT for one token (whose one-token path beats an SMMLA tile with a
         * wasted second token, or nearly ties it for Q6_K) */
        const reel_cpu_features *f = reel_kernels_cpu();
        const reeli_arm_level level = f->i8mm && T >= 2 ? REELI_ARM_I8MM
                                      : f->dotprod      ? REELI_ARM_DOTPROD
                                                        : REELI_ARM_NEON;
        return reeli_neon_qmatmul(pool, y, w, wtype, x, n_in, n_out, T, level);
    }
    if (wtype == REEL_DTYPE_Q8_0_R8 || wtype == REEL_DTYPE_Q4_0_R8 || wtype == REEL_DTYPE_Q5_0_R8)
        return reeli_neon_gemm_r8(pool, y, w, wtype, x, n_in, n_out, T);
    if (wtype == REEL_DTYPE_Q4_K_R8 || wtype == REEL_DTYPE_Q6_K_R8)
        return reeli_neon_gemm_r8_kquant(pool, y, w, wtype, x, n_in, n_out, T);
    if (wtype == REEL_DTYPE_F32 || wtype == REEL_DTYPE_F16 || wtype == REEL_DTYPE_BF16)
        return reeli_neon_fmatmul(pool, y, w, wtype, x, n_in, n_out, T);
    return reeli_cpu_matmul(pool, y, w, wtype, x, n_in, n_out, T);
}
