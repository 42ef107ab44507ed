/* NEON causal GQA attention: the contract and work split of cpu/attention.c (threads own
 * (token, head) pairs; fixed order within each), with the dot products against the K rows and
 * the weighted sum of V rows 4 lanes wide and F16 caches widened by FCVTL. Plain ASIMD. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <arm_neon.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float32x4_t load4(const void *base, int f16, int64_t i)
{
    if (f16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)base + i)));
    return vld1q_f32((const float *)base + i);
}

static inline float load1(const void *base, int f16, int64_t i)
{
    if (f16) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)base + 2 * i, 2);
        return reel_fp16_to_fp32(h);
    }
    return ((const float *)base)[i];
}

static void attn_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const reel_attn_args *a = arg;
    const int hd = a->hd, per_kv = a->na / a->nkv, f16 = a->kv_type == REEL_DTYPE_F16;
    const int64_t kv_row = (int64_t)a->nkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = reel_xmalloc((size_t)(a->pos0 + a->T) * sizeof(float));
    for (int64_t job = begin; job < end; job++) {
        const int64_t t = job / a->na;
        const int i = (int)(job % a->na), kh = i / per_kv;
        const float *q = a->q + t * a->q_stride + (int64_t)i * hd;
        const int64_t n_keys = a->pos0 + t + 1;
        float mx = -INFINITY;
        for (int64_t s = 0; s < n_keys; s++) {
            const int64_t off = s * kv_row + (int64_t)kh * hd;
            float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
            int e = 0;
            for (; e + 8 <= hd; e += 8) {
                acc0 = vfmaq_f32(acc0, vld1q_f32(q + e), load4(a->k, f16, off + e));
                acc1 = vfmaq_f32(acc1, vld1q_f32(q + e + 4), load4(a->k, f16, off + e + 4));
            }
            for (; e + 4 <= hd; e += 4)
                acc0 = vfmaq_f32(acc0, vld1q_f32(q + e), load4(a->k, f16, off + e));
            float d = vaddvq_f32(vaddq_f32(acc0, acc1));
            for (; e < hd; e++) d += q[e] * load1(a->k, f16, off + e);
            sc[s] = d * scale;
            if (sc[s] > mx) mx = sc[s];
        }
        float sum = 0;
        for (int64_t s = 0; s < n_keys; s++) {
            sc[s] = expf(sc[s] - mx);
            sum += sc[s];
        }
        float *o = a->out + t * (int64_t)a->na * hd + (int64_t)i * hd;
        memset(o, 0, (size_t)hd * sizeof(float));
        for (int64_t s = 0; s < n_keys; s++) {
            const float p = sc[s] / sum;
            const int64_t off = s * kv_row + (int64_t)kh * hd;
            int e = 0;
            for (; e + 4 <= hd; e += 4)
                vst1q_f32(o + e, vfmaq_n_f32(vld1q_f32(o + e), load4(a->v, f16, off + e), p));
            for (; e < hd; e++) o[e] += p * load1(a->v, f16, off + e);
        }
    }
    free(sc);
}

void reeli_neon_attention(reel_pool *pool, const reel_attn_args *a)
{
    reel_pool_parallel_for(pool, a->T * a->na, attn_body, (void *)a);
}
#endif
