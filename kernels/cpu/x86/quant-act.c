/* The activation quantizer of the integer-dot matmuls (dot-rowmajor.c, gemm-interleaved.c):
 * each token's row of n floats is quantized per 32-block to int8 with GGML's Q8_0 rule
 * (d = amax / 127, q = round(x / d), |q| <= 127), together with the sums of q that the weight
 * formats' offsets and minimums need, so the tiles never add up activations themselves.
 *
 * One computation, two layouts of its results (the tiles of each path load them differently):
 *   REELI_Q8X_BLOCKS   reeli_q8x per block (kernels-impl.h), a token's nb blocks side by side:
 *                      Q8_0 / Q4_0 row-major and every interleaved layout, which read one
 *                      block's scale and sums next to its 32 values;
 *   REELI_Q8X_RECORDS  a record per token (reeli_x86_q8_record_bytes apart):
 *                          qs[n] int8 | d[nb] float | s[nb] float = d * sum(q) |
 *                          x32[nb] int32 = sum(q) | hs[2*nb] int16 = sums of the halves of 16
 *                      the other row-major types, whose tiles load the factors of 8 blocks as
 *                      one vector.
 * The input is read once into a per-thread scratch that only grows, so the token loop does not
 * allocate once it has seen the largest shape. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define QA_TARGET __attribute__((target("avx2,fma,f16c")))
/* _mm256_round_ps takes its mode as an integer constant expression (clang insists). */
#define QA_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

size_t reeli_x86_q8_record_bytes(int64_t n)
{
    return ((size_t)n / 32 * 48 + 63) & ~(size_t)63;
}

/* The 32 floats at p -> 32 int8 at q; returns d, the sums of elements 0..15 in *lo and 16..31
 * in *hi (of the stored bytes, from the register: reading them back would stall on the
 * store). */
QA_TARGET static inline __attribute__((always_inline)) float quant_block(const float *p, int8_t *q,
                                                                         int *lo, int *hi)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
    __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 s = _mm256_set1_ps(id);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, s), QA_ROUND));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, s), QA_ROUND));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, s), QA_ROUND));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, s), QA_ROUND));
    i0 = _mm256_packs_epi32(i0, i1);
    i2 = _mm256_packs_epi32(i2, i3);
    i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
    _mm256_storeu_si256((__m256i *)q, i0);
    /* pairs, quads, then each 128-bit half */
    const __m256i q4s =
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), i0), _mm256_set1_epi16(1));
    __m128i hl = _mm256_castsi256_si128(q4s), hh = _mm256_extracti128_si256(q4s, 1);
    hl = _mm_add_epi32(hl, _mm_unpackhi_epi64(hl, hl));
    hh = _mm_add_epi32(hh, _mm_unpackhi_epi64(hh, hh));
    *lo = _mm_cvtsi128_si32(hl) + _mm_extract_epi32(hl, 1);
    *hi = _mm_cvtsi128_si32(hh) + _mm_extract_epi32(hh, 1);
    return d;
}

/* Rows [t0, t1) of x (n floats each) into out in the given layout. */
QA_TARGET static void quant_rows(const float *x, uint8_t *out, int64_t n, int64_t t0, int64_t t1,
                                 reeli_q8x_layout layout)
{
    const int64_t nb = n / 32;
    if (layout == REELI_Q8X_BLOCKS) {
        for (int64_t t = t0; t < t1; t++) {
            const float *xr = x + t * n;
            reeli_q8x *o = (reeli_q8x *)out + t * nb;
            for (int64_t b = 0; b < nb; b++) {
                int lo, hi;
                const float d = quant_block(xr + b * 32, o[b].qs, &lo, &hi);
                const int sum = lo + hi;
                o[b].d = d;
                o[b].h16[0] = (int16_t)lo, o[b].h16[1] = (int16_t)hi;
                o[b].s8 = -8 * sum;
                o[b].ds = d * (float)sum;
            }
        }
        return;
    }
    const size_t xs = reeli_x86_q8_record_bytes(n);
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * n;
        uint8_t *base = out + (size_t)t * xs;
        int8_t *q = (int8_t *)base;
        float *d = (float *)(base + n), *s = d + nb;
        int32_t *x32 = (int32_t *)(s + nb);
        int16_t *hs = (int16_t *)(x32 + nb);
        for (int64_t b = 0; b < nb; b++) {
            int lo, hi;
            const float db = quant_block(xr + b * 32, q + b * 32, &lo, &hi);
            d[b] = db;
            s[b] = db * (float)(lo + hi);
            x32[b] = lo + hi;
            hs[2 * b] = (int16_t)lo;
            hs[2 * b + 1] = (int16_t)hi;
        }
    }
}

typedef struct {
    const float *x;
    uint8_t *out;
    int64_t n;
    reeli_q8x_layout layout;
} qa_ctx;

static void qa_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const qa_ctx *c = arg;
    quant_rows(c->x, c->out, c->n, begin, end, c->layout);
}

static _Thread_local uint8_t *scratch;
static _Thread_local size_t scratch_n;

void *reeli_x86_quantize_q8(reel_pool *pool, const float *x, int64_t n, int64_t T,
                            reeli_q8x_layout layout)
{
    const size_t need = layout == REELI_Q8X_BLOCKS ? (size_t)(T * (n / 32)) * sizeof(reeli_q8x)
                                                   : reeli_x86_q8_record_bytes(n) * (size_t)T;
    if (need > scratch_n) {
        free(scratch);
        scratch = reel_xmalloc(need);
        scratch_n = need;
    }
    if (T == 1) {
        quant_rows(x, scratch, n, 0, 1, layout);
    } else {
        qa_ctx c = {x, scratch, n, layout};
        reel_pool_parallel_for(pool, T, qa_body, &c);
    }
    return scratch;
}
#endif
