/* Causal GQA attention over a KV cache (scalar reference). No positional encoding: order enters
 * only through the causal mask (docs/model.md §2.2). Threads split the (token, head) pairs. */
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float kv_at(const void *base, reel_dtype type, int64_t i)
{
    if (type == REEL_DTYPE_F16) {
        uint16_t h;
        memcpy(&h, (const uint8_t *)base + 2 * i, 2);
        return reel_fp16_to_fp32(h);
    }
    return ((const float *)base)[i];
}

static void attn_body(void *arg, int64_t begin, int64_t end, int thread)
{
    const reel_attn_args *a = arg;
    const int hd = a->hd, per_kv = a->na / a->nkv;
    const int64_t kv_row = (int64_t)a->nkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *sc = reel_xmalloc((size_t)(a->pos0 + a->T) * sizeof(float));
    for (int64_t job = begin; job < end; job++) {
        const int64_t t = job / a->na;
        const int i = (int)(job % a->na);
        const int kh = i / per_kv;
        const float *q = a->q + t * a->q_stride + (int64_t)i * hd;
        const int64_t n_keys = a->pos0 + t + 1;
        float mx = -INFINITY;
        for (int64_t s = 0; s < n_keys; s++) {
            const int64_t off = s * kv_row + (int64_t)kh * hd;
            float d = 0;
            for (int e = 0; e < hd; e++) d += q[e] * kv_at(a->k, a->kv_type, off + e);
            sc[s] = d * scale;
            if (sc[s] > mx) mx = sc[s];
        }
        float sum = 0;
        for (int64_t s = 0; s < n_keys; s++) {
            sc[s] = expf(sc[s] - mx);
            sum += sc[s];
        }
        float *o = a->out + t * (int64_t)a->na * hd + (int64_t)i * hd;
        for (int e = 0; e < hd; e++) o[e] = 0;
        for (int64_t s = 0; s < n_keys; s++) {
            const float p = sc[s] / sum;
            const int64_t off = s * kv_row + (int64_t)kh * hd;
            for (int e = 0; e < hd; e++) o[e] += p * kv_at(a->v, a->kv_type, off + e);
        }
    }
    free(sc);
}

void reeli_cpu_attention(reel_pool *pool, const reel_attn_args *a)
{
    reel_pool_parallel_for(pool, a->T * a->na, attn_body, (void *)a);
}
