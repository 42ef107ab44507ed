/* AVX2 + FMA element-wise activations and the gated grouped RMSNorm: the scalar references'
 * contracts (kernels/cpu/unary.c, norm.c), with SiLU through a vector exp (Cody-Waite range
 * reduction and a degree-6 polynomial, relative error below 2e-7, i.e. a few float ulps of the
 * library expf). Every element goes through the same vector code, the last partial vector
 * through a padded copy, so a value's result does not depend on its position or on how a
 * caller splits the work. SOFTPLUS (a few values a token) stays scalar. The norm's statistics
 * are summed in double like the reference, 4 lanes side by side. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma")))

/* e^x for x in about [-87, 88] (inputs are clamped there: silu needs no more) */
TARGET static inline __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

TARGET static inline __m256 silu8(__m256 x)
{
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

TARGET static inline __m256 relu2_8(__m256 x)
{
    const __m256 v = _mm256_max_ps(x, _mm256_setzero_ps());
    return _mm256_mul_ps(v, v);
}

TARGET void reeli_avx2_unary(reel_unary op, float *y, const float *x, int64_t n)
{
    if (op == REEL_UNARY_SOFTPLUS) {
        reeli_cpu_unary(op, y, x, n);
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, op == REEL_UNARY_SILU ? silu8(v) : relu2_8(v));
    }
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        const __m256 v = _mm256_loadu_ps(t);
        _mm256_storeu_ps(t, op == REEL_UNARY_SILU ? silu8(v) : relu2_8(v));
        memcpy(y + i, t, (size_t)(n - i) * sizeof(float));
    }
}

/* v = x * silu(z) for 8 elements (a padded copy for a partial vector), their squares added to
 * the two double accumulators */
TARGET static inline void gate8(float *y, const float *x, const float *z, int64_t m, __m256d *s0,
                                __m256d *s1)
{
    float tx[8] = {0}, tz[8] = {0}, ty[8];
    const float *px = x, *pz = z;
    if (m < 8) {
        memcpy(tx, x, (size_t)m * sizeof(float));
        memcpy(tz, z, (size_t)m * sizeof(float));
        px = tx, pz = tz;
    }
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(px), silu8(_mm256_loadu_ps(pz)));
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    *s0 = _mm256_fmadd_pd(lo, lo, *s0);
    *s1 = _mm256_fmadd_pd(hi, hi, *s1);
    if (m < 8) {
        _mm256_storeu_ps(ty, v);
        memcpy(y, ty, (size_t)m * sizeof(float));
    } else {
        _mm256_storeu_ps(y, v);
    }
}

TARGET void reeli_avx2_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                                     const float *z, int64_t z_stride, const float *w, int64_t n,
                                     int64_t gs, int64_t T, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * x_stride, *zr = z + t * z_stride;
        float *yr = y + t * y_stride;
        for (int64_t g0 = 0; g0 < n; g0 += gs) {
            __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
            for (int64_t i = g0; i < g0 + gs; i += 8) {
                const int64_t m = g0 + gs - i < 8 ? g0 + gs - i : 8;
                gate8(yr + i, xr + i, zr + i, m, &s0, &s1);
            }
            double l[4];
            _mm256_storeu_pd(l, _mm256_add_pd(s0, s1));
            const double ss = (l[0] + l[1]) + (l[2] + l[3]);
            const float inv = (float)(1.0 / sqrt(ss / (double)gs + eps));
            const __m256 vi = _mm256_set1_ps(inv);
            int64_t i = g0;
            for (; i + 8 <= g0 + gs; i += 8)
                _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_loadu_ps(w + i),
                                                       _mm256_mul_ps(_mm256_loadu_ps(yr + i), vi)));
            for (; i < g0 + gs; i++) yr[i] = w[i] * (yr[i] * inv);
        }
    }
}
#endif
