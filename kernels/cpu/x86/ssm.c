/* AVX2 + FMA selective scan, token by token (the decode step): the scalar reference's
 * contract and split of work (threads own heads), with the state update and the C dot product
 * 8 states at a time (two accumulators, then a fixed-order horizontal sum and a scalar tail).
 * The result does not depend on the thread count. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"

#include <immintrin.h>
#include <math.h>

#define TARGET __attribute__((target("avx2,fma")))

TARGET static inline float hsum8(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

TARGET static void scan_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const reel_ssm_args *a = arg;
    const int P = a->P, N = a->N, hpg = a->nh / a->G;
    for (int64_t h = begin; h < end; h++) {
        const int64_t g = h / hpg;
        float *S = a->state + h * P * N; /* [P][N] */
        for (int64_t t = 0; t < a->T; t++) {
            const float dt = a->dt[t * a->nh + h];
            const float dA = expf(dt * a->A[h]);
            const float *x = a->x + t * a->x_stride + h * P;
            const float *B = a->B + t * a->bc_stride + g * N;
            const float *C = a->C + t * a->bc_stride + g * N;
            float *y = a->y + t * (int64_t)a->nh * P + h * P;
            const __m256 vdA = _mm256_set1_ps(dA);
            for (int p = 0; p < P; p++) {
                float *s = S + p * N;
                const float dx = dt * x[p];
                const __m256 vdx = _mm256_set1_ps(dx);
                __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
                int n = 0;
                for (; n + 16 <= N; n += 16) {
                    __m256 s0 = _mm256_fmadd_ps(vdA, _mm256_loadu_ps(s + n),
                                                _mm256_mul_ps(vdx, _mm256_loadu_ps(B + n)));
                    __m256 s1 = _mm256_fmadd_ps(vdA, _mm256_loadu_ps(s + n + 8),
                                                _mm256_mul_ps(vdx, _mm256_loadu_ps(B + n + 8)));
                    _mm256_storeu_ps(s + n, s0);
                    _mm256_storeu_ps(s + n + 8, s1);
                    acc0 = _mm256_fmadd_ps(s0, _mm256_loadu_ps(C + n), acc0);
                    acc1 = _mm256_fmadd_ps(s1, _mm256_loadu_ps(C + n + 8), acc1);
                }
                for (; n + 8 <= N; n += 8) {
                    __m256 s0 = _mm256_fmadd_ps(vdA, _mm256_loadu_ps(s + n),
                                                _mm256_mul_ps(vdx, _mm256_loadu_ps(B + n)));
                    _mm256_storeu_ps(s + n, s0);
                    acc0 = _mm256_fmadd_ps(s0, _mm256_loadu_ps(C + n), acc0);
                }
                float acc = hsum8(_mm256_add_ps(acc0, acc1));
                for (; n < N; n++) {
                    s[n] = dA * s[n] + dx * B[n];
                    acc += s[n] * C[n];
                }
                y[p] = acc + a->D[h] * x[p];
            }
        }
    }
}

void reeli_avx2_ssm_scan(reel_pool *pool, const reel_ssm_args *a)
{
    reel_pool_parallel_for_dynamic(pool, a->nh, 0, scan_body, (void *)a);
}
#endif
