/* NEON selective scan, token by token (the decode step): the scalar reference's contract and
 * split of work (threads own heads), with the state update and the C dot product 4 states at a
 * time (two accumulators over 8, then a fixed-order horizontal sum and a scalar tail). The result
 * does not depend on the thread count. Plain ASIMD. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"

#include <arm_neon.h>
#include <math.h>

static void scan_body(void *arg, int64_t begin, int64_t end, int thread)
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
            const float32x4_t vdA = vdupq_n_f32(dA);
            for (int p = 0; p < P; p++) {
                float *s = S + p * N;
                const float dx = dt * x[p];
                const float32x4_t vdx = vdupq_n_f32(dx);
                float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
                int n = 0;
                for (; n + 8 <= N; n += 8) {
                    const float32x4_t s0 =
                        vfmaq_f32(vmulq_f32(vdx, vld1q_f32(B + n)), vdA, vld1q_f32(s + n));
                    const float32x4_t s1 =
                        vfmaq_f32(vmulq_f32(vdx, vld1q_f32(B + n + 4)), vdA, vld1q_f32(s + n + 4));
                    vst1q_f32(s + n, s0);
                    vst1q_f32(s + n + 4, s1);
                    acc0 = vfmaq_f32(acc0, s0, vld1q_f32(C + n));
                    acc1 = vfmaq_f32(acc1, s1, vld1q_f32(C + n + 4));
                }
                for (; n + 4 <= N; n += 4) {
                    const float32x4_t s0 =
                        vfmaq_f32(vmulq_f32(vdx, vld1q_f32(B + n)), vdA, vld1q_f32(s + n));
                    vst1q_f32(s + n, s0);
                    acc0 = vfmaq_f32(acc0, s0, vld1q_f32(C + n));
                }
                float acc = vaddvq_f32(vaddq_f32(acc0, acc1));
                for (; n < N; n++) {
                    s[n] = dA * s[n] + dx * B[n];
                    acc += s[n] * C[n];
                }
                y[p] = acc + a->D[h] * x[p];
            }
        }
    }
}

void reeli_neon_ssm_scan(reel_pool *pool, const reel_ssm_args *a)
{
    reel_pool_parallel_for_dynamic(pool, a->nh, 0, scan_body, (void *)a);
}
#endif
