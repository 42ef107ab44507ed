/* The activations of the ARM64 integer-dot matmuls: each block of 32 floats to 32 int8 values and
 * a scale, bit for bit as the exact reference reeli_q8act_block (kernels/cpu/matmul-q8act.c)
 * quantizes them, so the NEON matmuls and the reference sum the same integers: amax with fmaxf's
 * treatment of NaN (FMAXNM), d = amax / 127 and 127 / amax in fp32, the product rounded to
 * nearest with ties to even (FCVTNS) and saturated to int8 (SQXTN); and a matmul's tokens so,
 * split over the pool. Plain ASIMD: every ARM64 CPU has it. */
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <arm_neon.h>

void reeli_neon_quantize_q8(const float *x, int64_t n_blocks, reeli_q8a *out)
{
    for (int64_t b = 0; b < n_blocks; b++, x += 32) {
        float32x4_t v[8];
        for (int i = 0; i < 8; i++) v[i] = vld1q_f32(x + 4 * i);
        float32x4_t m = vabsq_f32(v[0]);
        for (int i = 1; i < 8; i++) m = vmaxnmq_f32(m, vabsq_f32(v[i]));
        const float amax = vmaxnmvq_f32(m);
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int16x8_t h[4];
        for (int i = 0; i < 4; i++) {
            const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[2 * i], id));
            const int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(v[2 * i + 1], id));
            h[i] = vcombine_s16(vqmovn_s32(a), vqmovn_s32(c));
        }
        out[b].d = d;
        vst1q_s8(out[b].qs, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
        vst1q_s8(out[b].qs + 16, vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
    }
}

typedef struct {
    const float *x;
    reeli_q8a *xq;
    int64_t nb;
} quant_ctx;

static void quant_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const quant_ctx *c = arg;
    reeli_neon_quantize_q8(c->x + begin * c->nb * 32, (end - begin) * c->nb, c->xq + begin * c->nb);
}

reeli_q8a *reeli_neon_quantize_tokens(reel_pool *pool, const float *x, int64_t n_in, int64_t T)
{
    const int64_t nb = n_in / 32;
    reeli_q8a *xq = reel_xmalloc((size_t)(T * nb) * sizeof *xq);
    quant_ctx qc = {x, xq, nb};
    reel_pool_parallel_for(pool, T, quant_body, &qc);
    return xq;
}
