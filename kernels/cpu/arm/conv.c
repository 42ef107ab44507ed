/* NEON causal depthwise conv1d: the scalar reference's contract (kernels/cpu/conv.c) on 4
 * channels at a time, the tap-major weights and state loaded as vectors. Each channel sums its
 * taps in the reference's order (oldest first, after the bias), one fused multiply-add a tap; the
 * last partial block goes through padded copies, so a channel's result does not depend on where
 * it sits. Threads split the blocks of 4. Plain ASIMD. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <arm_neon.h>
#include <string.h>

/* m (1..4) floats at p as a vector, the rest zero */
static inline float32x4_t load4(const float *p, int m)
{
    if (m == 4) return vld1q_f32(p);
    float t[4] = {0};
    memcpy(t, p, (size_t)m * sizeof(float));
    return vld1q_f32(t);
}

static inline void store4(float *p, float32x4_t v, int m)
{
    if (m == 4) {
        vst1q_f32(p, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    memcpy(p, t, (size_t)m * sizeof(float));
}

/* One block of 4 channels from c0, m of them real; K a constant where inlined (K = 4 is the
 * Nemotron-H conv), so the rolling history stays in registers. */
static inline __attribute__((always_inline)) void conv_block(const reeli_conv_ctx *c, int64_t c0,
                                                             int m, int K)
{
    const int S = K - 1;
    const int64_t C = c->C;
    float32x4_t w[REELI_CONV_MAX_TAPS];
    float32x4_t h[REELI_CONV_MAX_TAPS]; /* the last S raw inputs, oldest first */
    for (int j = 0; j < K; j++) w[j] = load4(c->w + j * C + c0, m);
    for (int j = 0; j < S; j++) h[j] = load4(c->state + j * C + c0, m);
    const float32x4_t bias = c->b ? load4(c->b + c0, m) : vdupq_n_f32(0);
    for (int64_t t = 0; t < c->T; t++) {
        const float32x4_t in = load4(c->x + t * c->x_stride + c0, m);
        float32x4_t acc = bias;
        for (int j = 0; j < S; j++) acc = vfmaq_f32(acc, w[j], h[j]);
        acc = vfmaq_f32(acc, w[S], in);
        store4(c->y + t * C + c0, acc, m);
        for (int j = 0; j + 1 < S; j++) h[j] = h[j + 1];
        if (S > 0) h[S - 1] = in;
    }
    for (int j = 0; j < S; j++) store4(c->state + j * C + c0, h[j], m);
}

static void conv_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const reeli_conv_ctx *c = arg;
    for (int64_t blk = begin; blk < end; blk++) {
        const int64_t c0 = blk * 4, left = c->C - c0;
        const int m = left < 4 ? (int)left : 4;
        if (c->K == 4)
            conv_block(c, c0, m, 4);
        else
            conv_block(c, c0, m, c->K);
    }
}

void reeli_neon_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                       const float *w, const float *b, int64_t C, int K, int64_t T)
{
    REEL_ASSERT(K >= 1 && K <= REELI_CONV_MAX_TAPS);
    reeli_conv_ctx c = {y, x, x_stride, state, w, b, C, K, T};
    reel_pool_parallel_for(pool, (C + 3) / 4, conv_body, &c);
}
#endif
