/* AVX2 + FMA + F16C causal GQA attention: the contract and work split of cpu/attention.c
 * (threads own (token, head) pairs; fixed order within each), with the dot products against the
 * K rows and the weighted sum of V rows 8 lanes wide and F16 caches converted by F16C. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET static inline float hsum8(__m256 v)
{
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

TARGET static inline __m256 load8(const void *base, int f16, int64_t i)
{
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)));
    return _mm256_loadu_ps((const float *)base + i);
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

TARGET static void attn_body(void *arg, int64_t begin, int64_t end, int thread)
{
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
            __m256 acc = _mm256_setzero_ps();
            int e = 0;
            for (; e + 8 <= hd; e += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), load8(a->k, f16, off + e), acc);
            float d = hsum8(acc);
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
            const __m256 pv = _mm256_set1_ps(p);
            const int64_t off = s * kv_row + (int64_t)kh * hd;
            int e = 0;
            for (; e + 8 <= hd; e += 8)
                _mm256_storeu_ps(
                    o + e, _mm256_fmadd_ps(pv, load8(a->v, f16, off + e), _mm256_loadu_ps(o + e)));
            for (; e < hd; e++) o[e] += p * load1(a->v, f16, off + e);
        }
    }
    free(sc);
}

void reeli_avx2_attention(reel_pool *pool, const reel_attn_args *a)
{
    reel_pool_parallel_for(pool, a->T * a->na, attn_body, (void *)a);
}
#endif
