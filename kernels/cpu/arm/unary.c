/* NEON element-wise activations and the RMSNorms (plain and gated grouped): the scalar references'
 * contracts (kernels/cpu/unary.c, norm.c) 4 lanes wide, with SiLU through a vector exp (the
 * Cody-Waite reduction and degree-6 polynomial of the AVX2 version, kernels/cpu/x86/unary.c, so
 * both give the same bits: relative error below 2e-7). Every element goes through the same vector
 * code, the last partial vector through a padded copy, so a value's result does not depend on its
 * position or on how a caller splits the work. SOFTPLUS (a few values a token) stays scalar. The
 * norms' statistics are summed in double like the reference, 2 + 2 lanes side by side, and the
 * scaling is the reference's two products in its order (w * (x * inv)). Plain ASIMD, which every
 * ARM64 CPU has. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

/* e^x for x in about [-87, 88] (inputs are clamped there: silu needs no more) */
static inline float32x4_t exp4(float32x4_t x)
{
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
    const float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    const int32x4_t e = vshlq_n_s32(vcvtq_s32_f32(n), 23);
    return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), e));
}

static inline float32x4_t silu4(float32x4_t x)
{
    return vdivq_f32(x, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(x))));
}

static inline float32x4_t unary4(reel_unary op, float32x4_t x)
{
    if (op == REEL_UNARY_SILU) return silu4(x);
    const float32x4_t v = vmaxq_f32(x, vdupq_n_f32(0.0f));
    return vmulq_f32(v, v);
}

void reeli_neon_unary(reel_unary op, float *y, const float *x, int64_t n)
{
    if (op == REEL_UNARY_SOFTPLUS) {
        reeli_cpu_unary(op, y, x, n);
        return;
    }
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, unary4(op, vld1q_f32(x + i)));
    if (i < n) {
        float t[4] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        vst1q_f32(t, unary4(op, vld1q_f32(t)));
        memcpy(y + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* the sum of squares of 4 floats into the two double accumulators */
static inline void sq4(float32x4_t v, float64x2_t *s0, float64x2_t *s1)
{
    const float64x2_t lo = vcvt_f64_f32(vget_low_f32(v)), hi = vcvt_high_f64_f32(v);
    *s0 = vfmaq_f64(*s0, lo, lo);
    *s1 = vfmaq_f64(*s1, hi, hi);
}

/* y = w * (x * inv), the references' two products in their order (y may equal x) */
static inline void scale_row(float *y, const float *x, const float *w, int64_t n, float inv)
{
    const float32x4_t vi = vdupq_n_f32(inv);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vld1q_f32(w + i), vmulq_f32(vld1q_f32(x + i), vi)));
    for (; i < n; i++) y[i] = w[i] * (x[i] * inv);
}

/* v = x * silu(z) for 4 elements (a padded copy for a partial vector), their squares added to
 * the two double accumulators */
static inline void gate4(float *y, const float *x, const float *z, int64_t m, float64x2_t *s0,
                         float64x2_t *s1)
{
    float tx[4] = {0}, tz[4] = {0}, ty[4];
    const float *px = x, *pz = z;
    if (m < 4) {
        memcpy(tx, x, (size_t)m * sizeof(float));
        memcpy(tz, z, (size_t)m * sizeof(float));
        px = tx, pz = tz;
    }
    const float32x4_t v = vmulq_f32(vld1q_f32(px), silu4(vld1q_f32(pz)));
    sq4(v, s0, s1);
    if (m < 4) {
        vst1q_f32(ty, v);
        memcpy(y, ty, (size_t)m * sizeof(float));
    } else {
        vst1q_f32(y, v);
    }
}

void reeli_neon_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                              const float *z, int64_t z_stride, const float *w, int64_t n,
                              int64_t gs, int64_t T, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * x_stride, *zr = z + t * z_stride;
        float *yr = y + t * y_stride;
        for (int64_t g0 = 0; g0 < n; g0 += gs) {
            float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
            for (int64_t i = g0; i < g0 + gs; i += 4) {
                const int64_t m = g0 + gs - i < 4 ? g0 + gs - i : 4;
                gate4(yr + i, xr + i, zr + i, m, &s0, &s1);
            }
            const double ss = vaddvq_f64(s0) + vaddvq_f64(s1);
            const float inv = (float)(1.0 / sqrt(ss / (double)gs + eps));
            scale_row(yr + g0, yr + g0, w + g0, gs, inv);
        }
    }
}

void reeli_neon_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t T, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        float *yr = y + t * n;
        float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) sq4(vld1q_f32(xr + i), &s0, &s1);
        double ss = vaddvq_f64(s0) + vaddvq_f64(s1);
        for (; i < n; i++) ss += (double)xr[i] * xr[i];
        const float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
        scale_row(yr, xr, w, n, inv);
    }
}
#endif
