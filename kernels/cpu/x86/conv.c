/* AVX2 + FMA causal depthwise conv1d: the scalar reference's contract (kernels/cpu/conv.c) on 8
 * channels at a time, the tap-major weights and state loaded as vectors. Each channel sums its
 * taps in the reference's order (oldest first, after the bias), one FMA a tap; the last partial
 * block goes through masked loads and stores, so a channel's result does not depend on where it
 * sits. Threads split the blocks of 8. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

/* One block of 8 channels from c0, m of them real; K a constant where inlined (K = 4 is the
 * Nemotron-H conv), so the rolling history stays in registers. */
TARGET static inline __attribute__((always_inline)) void conv_block(const reeli_conv_ctx *c,
                                                                    int64_t c0, __m256i mask, int K)
{
    const int S = K - 1;
    const int64_t C = c->C;
    __m256 w[REELI_CONV_MAX_TAPS];
    __m256 h[REELI_CONV_MAX_TAPS]; /* the last S raw inputs, oldest first */
    for (int j = 0; j < K; j++) w[j] = _mm256_maskload_ps(c->w + j * C + c0, mask);
    for (int j = 0; j < S; j++) h[j] = _mm256_maskload_ps(c->state + j * C + c0, mask);
    const __m256 bias = c->b ? _mm256_maskload_ps(c->b + c0, mask) : _mm256_setzero_ps();
    for (int64_t t = 0; t < c->T; t++) {
        const __m256 in = _mm256_maskload_ps(c->x + t * c->x_stride + c0, mask);
        __m256 acc = bias;
        for (int j = 0; j < S; j++) acc = _mm256_fmadd_ps(w[j], h[j], acc);
        acc = _mm256_fmadd_ps(w[S], in, acc);
        _mm256_maskstore_ps(c->y + t * C + c0, mask, acc);
        for (int j = 0; j + 1 < S; j++) h[j] = h[j + 1];
        if (S > 0) h[S - 1] = in;
    }
    for (int j = 0; j < S; j++) _mm256_maskstore_ps(c->state + j * C + c0, mask, h[j]);
}

TARGET static void conv_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const reeli_conv_ctx *c = arg;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t blk = begin; blk < end; blk++) {
        const int64_t c0 = blk * 8, left = c->C - c0;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(left < 8 ? (int)left : 8), lanes);
        if (c->K == 4)
            conv_block(c, c0, mask, 4);
        else
            conv_block(c, c0, mask, c->K);
    }
}

void reeli_avx2_conv1d(reel_pool *pool, float *y, const float *x, int64_t x_stride, float *state,
                       const float *w, const float *b, int64_t C, int K, int64_t T)
{
    REEL_ASSERT(K >= 1 && K <= REELI_CONV_MAX_TAPS);
    reeli_conv_ctx c = {y, x, x_stride, state, w, b, C, K, T};
    reel_pool_parallel_for(pool, (C + 7) / 8, conv_body, &c);
}
#endif
