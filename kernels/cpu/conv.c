/* Causal depthwise conv1d with a rolling state of the last K-1 raw inputs (scalar reference).
 * Threads split the channels. */
#include "kernels/kernels-impl.h"
#include "core/error.h"

static void conv_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const reeli_conv_ctx *c = arg;
    const int K = c->K, S = K - 1;
    const int64_t C = c->C;
    for (int64_t ch = begin; ch < end; ch++) {
        float *st = c->state + ch; /* tap j at st[j * C] */
        const float bias = c->b ? c->b[ch] : 0.0f;
        for (int64_t t = 0; t < c->T; t++) {
            float acc = bias;
            for (int j = 0; j < K; j++) {
                int64_t s = t - S + j; /* input index; < 0 reads the state */
                float in = s < 0 ? st[(S + s) * C] : c->x[s * c->x_stride + ch];
                acc += c->w[j * C + ch] * in;
            }
            c->y[t * C + ch] = acc;
        }
        float nst[REELI_CONV_MAX_TAPS];
        for (int j = 0; j < S; j++) {
            int64_t s = c->T - S + j;
            nst[j] = s < 0 ? st[(S + s) * C] : c->x[s * c->x_stride + ch];
        }
        for (int j = 0; j < S; j++) st[j * C] = nst[j];
    }
}

void reeli_cpu_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                      const float *w, const float *b, int64_t C, int K, int64_t T)
{
    REEL_ASSERT(K >= 1 && K <= REELI_CONV_MAX_TAPS);
    reeli_conv_ctx c = {y, x, x_stride, state, w, b, C, K, T};
    reel_pool_parallel_for(pool, C, conv_body, &c);
}
