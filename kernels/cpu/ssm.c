/* Mamba-2 selective scan (scalar reference): the recurrence token by token, and the chunked SSD
 * form (docs/model.md §3.3) that computes the same outputs and final state with chunk-local
 * matrices. Threads split the heads; a head's state, outputs and arithmetic order never depend on
 * the thread count. Head h reads B/C group h / (nh/G) (repeat_interleave, docs/model.md §7.1). */
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>

static void scan_body(void *arg, int64_t begin, int64_t end, int thread)
{
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
            for (int p = 0; p < P; p++) {
                float *s = S + p * N;
                const float dx = dt * x[p];
                float acc = 0;
                for (int n = 0; n < N; n++) {
                    s[n] = dA * s[n] + dx * B[n];
                    acc += s[n] * C[n];
                }
                y[p] = acc + a->D[h] * x[p];
            }
        }
    }
}

void reeli_cpu_ssm_scan(reel_pool *pool, const reel_ssm_args *a)
{
    reel_pool_parallel_for(pool, a->nh, scan_body, (void *)a);
}

static float dotn(const float *a, const float *b, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void chunk_body(void *arg, int64_t begin, int64_t end, int thread)
{
    const reel_ssm_args *a = arg;
    const int P = a->P, N = a->N, hpg = a->nh / a->G;
    const int Q = a->chunk;
    float *lam = reel_xmalloc((size_t)Q * sizeof(float)); /* inclusive cumsum of dt*A */
    float *w = reel_xmalloc((size_t)Q * sizeof(float));   /* per-source weights of one row */
    for (int64_t h = begin; h < end; h++) {
        const int64_t g = h / hpg;
        float *S = a->state + h * P * N; /* [P][N]: state entering the chunk */
        for (int64_t t0 = 0; t0 < a->T; t0 += Q) {
            const int q = (int)(a->T - t0 < Q ? a->T - t0 : Q);
            float acc = 0;
            for (int i = 0; i < q; i++) {
                acc += a->dt[(t0 + i) * a->nh + h] * a->A[h];
                lam[i] = acc;
            }
            /* outputs: diagonal block + contribution of the entering state */
            for (int i = 0; i < q; i++) {
                const int64_t t = t0 + i;
                const float *C = a->C + t * a->bc_stride + g * N;
                const float *x = a->x + t * a->x_stride + h * P;
                float *y = a->y + t * (int64_t)a->nh * P + h * P;
                for (int j = 0; j <= i; j++) {
                    const int64_t s = t0 + j;
                    const float *B = a->B + s * a->bc_stride + g * N;
                    w[j] = expf(lam[i] - lam[j]) * dotn(C, B, N) * a->dt[s * a->nh + h];
                }
                const float decay = expf(lam[i]);
                for (int p = 0; p < P; p++) {
                    float yd = 0;
                    for (int j = 0; j <= i; j++)
                        yd += w[j] * a->x[(t0 + j) * a->x_stride + h * P + p];
                    y[p] = yd + decay * dotn(S + p * N, C, N) + a->D[h] * x[p];
                }
            }
            /* state passed on: decayed entering state + every token's outer product */
            const float lend = lam[q - 1];
            for (int j = 0; j < q; j++) w[j] = expf(lend - lam[j]) * a->dt[(t0 + j) * a->nh + h];
            const float dend = expf(lend);
            for (int p = 0; p < P; p++) {
                float *s = S + p * N;
                for (int n = 0; n < N; n++) {
                    float v = 0;
                    for (int j = 0; j < q; j++) {
                        const int64_t st = t0 + j;
                        v += w[j] * a->x[st * a->x_stride + h * P + p] *
                             a->B[st * a->bc_stride + g * N + n];
                    }
                    s[n] = dend * s[n] + v;
                }
            }
        }
    }
    free(lam);
    free(w);
}

void reeli_cpu_ssm_chunked(reel_pool *pool, const reel_ssm_args *a)
{
    reel_pool_parallel_for(pool, a->nh, chunk_body, (void *)a);
}
