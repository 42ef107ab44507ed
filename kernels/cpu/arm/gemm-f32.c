/* The float-weight matmul on ARM64 (F32, F16, BF16 weights; fp32 activations and sums), plain
 * ASIMD: F16 widened exactly by FCVTL, BF16 by a 16-bit shift, then fused multiply-adds into 8
 * fp32 lanes per token (two vectors, for two chains in flight), each weight vector loaded once
 * for up to 4 tokens; a row's tail past a multiple of 8 goes through scalar fmaf. The lanes are
 * added at the end in a fixed order, so an output depends only on its row and token (not on the
 * thread split or the batch), and it is within (n / 8 + 12) 2^-24 sum |w x| of the exact dot
 * product (tests/test_kernels_arm64.c). Not bit for bit the scalar reference: that one rounds
 * each product before adding it. */
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <arm_neon.h>
#include <math.h>

typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const float *x;
    int64_t n_in, n_out, T;
    size_t rb;
} fmm_ctx;

/* 8 weights from element i of a row, as fp32 */
static inline void load8(const uint8_t *row, reel_dtype t, int64_t i, float32x4_t *a,
                         float32x4_t *b)
{
    if (t == REEL_DTYPE_F32) {
        *a = vld1q_f32((const float *)row + i);
        *b = vld1q_f32((const float *)row + i + 4);
    } else if (t == REEL_DTYPE_F16) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const uint16_t *)row + i));
        *a = vcvt_f32_f16(vget_low_f16(h));
        *b = vcvt_high_f32_f16(h);
    } else {
        const uint16x8_t h = vld1q_u16((const uint16_t *)row + i);
        *a = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        *b = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
    }
}

static inline float load1(const uint8_t *row, reel_dtype t, int64_t i)
{
    const uint16_t *h = (const uint16_t *)row;
    return t == REEL_DTYPE_F32   ? ((const float *)row)[i]
           : t == REEL_DTYPE_F16 ? reel_fp16_to_fp32(h[i])
                                 : reel_bf16_to_fp32(h[i]);
}

static void fmm_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const fmm_ctx *c = arg;
    const int64_t n8 = c->n_in / 8 * 8;
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *row = c->w + (size_t)r * c->rb;
        for (int64_t t0 = 0; t0 < c->T; t0 += 4) {
            const int nt = c->T - t0 < 4 ? (int)(c->T - t0) : 4;
            float32x4_t lo[4], hi[4];
            for (int j = 0; j < 4; j++) lo[j] = hi[j] = vdupq_n_f32(0);
            for (int64_t i = 0; i < n8; i += 8) {
                float32x4_t a, b;
                load8(row, c->wtype, i, &a, &b);
                for (int j = 0; j < nt; j++) {
                    const float *x = c->x + (t0 + j) * c->n_in + i;
                    lo[j] = vfmaq_f32(lo[j], a, vld1q_f32(x));
                    hi[j] = vfmaq_f32(hi[j], b, vld1q_f32(x + 4));
                }
            }
            for (int j = 0; j < nt; j++) {
                const float *x = c->x + (t0 + j) * c->n_in;
                float tail = 0;
                for (int64_t i = n8; i < c->n_in; i++)
                    tail = fmaf(load1(row, c->wtype, i), x[i], tail);
                c->y[(t0 + j) * c->n_out + r] = vaddvq_f32(vaddq_f32(lo[j], hi[j])) + tail;
            }
        }
    }
}

int reeli_neon_fmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T)
{
    if (wtype != REEL_DTYPE_F32 && wtype != REEL_DTYPE_F16 && wtype != REEL_DTYPE_BF16)
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: no NEON float kernel for %s",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (T <= 0 || n_out <= 0 || n_in <= 0)
        return reeli_cpu_matmul(pool, y, w, wtype, x, n_in, n_out, T);
    fmm_ctx c = {y, w, wtype, x, n_in, n_out, T, reel_dtype_row_bytes(wtype, n_in)};
    reel_pool_parallel_for(pool, n_out, fmm_body, &c);
    return 0;
}
