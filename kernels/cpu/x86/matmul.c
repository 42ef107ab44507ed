/* AVX2 + FMA + F16C matmul (x86-64): the same contract and the same split of work as the scalar
 * reference in cpu/matmul.c (threads own rows of W; each output is one dot product in a fixed
 * order, so results do not depend on the thread count), with 8-wide FMA dot products and
 * scalar tails. For one token the F16/BF16 rows are read directly; for a batch each row is
 * converted to F32 once and applied to every token. Q8_0 / Q4_0 go to the integer-dot kernels
 * of qmatmul.c, the other quantized types (Q5_0 / Q5_1 / Q4_1 / IQ4_NL / Q2_K..Q6_K) to those
 * of kqmatmul.c. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

TARGET static float dot_f32(const float *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

TARGET static float dot_f16(const uint16_t *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8)));
        s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                             _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += reel_fp16_to_fp32(a[i]) * b[i];
    return s;
}

TARGET static inline __m256 bf16x8(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

TARGET static float dot_bf16(const uint16_t *a, const float *b, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(bf16x8(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(bf16x8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(bf16x8(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += reel_bf16_to_fp32(a[i]) * b[i];
    return s;
}

TARGET static void to_f32(reel_dtype type, const void *src, float *dst, int64_t n)
{
    const uint16_t *s = src;
    int64_t i = 0;
    if (type == REEL_DTYPE_F16) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
        for (; i < n; i++) dst[i] = reel_fp16_to_fp32(s[i]);
    } else if (type == REEL_DTYPE_BF16) {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8(s + i));
        for (; i < n; i++) dst[i] = reel_bf16_to_fp32(s[i]);
    } else {
        reel_kernels_dequantize_row(type, src, dst, n);
    }
}

typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const float *x;
    int64_t n_in, n_out, T;
    size_t row_bytes;
} mm_ctx;

TARGET static void mm_body(void *arg, int64_t begin, int64_t end, int thread)
{
    const mm_ctx *c = arg;
    float *row = NULL;
    const int direct = c->wtype == REEL_DTYPE_F32 ||
                       (c->T == 1 && (c->wtype == REEL_DTYPE_F16 || c->wtype == REEL_DTYPE_BF16));
    if (!direct) row = reel_xmalloc((size_t)c->n_in * sizeof(float));
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *src = c->w + (size_t)r * c->row_bytes;
        if (direct) {
            for (int64_t t = 0; t < c->T; t++) {
                const float *x = c->x + t * c->n_in;
                float v = c->wtype == REEL_DTYPE_F32 ? dot_f32((const float *)src, x, c->n_in)
                          : c->wtype == REEL_DTYPE_F16
                              ? dot_f16((const uint16_t *)src, x, c->n_in)
                              : dot_bf16((const uint16_t *)src, x, c->n_in);
                c->y[t * c->n_out + r] = v;
            }
            continue;
        }
        to_f32(c->wtype, src, row, c->n_in);
        for (int64_t t = 0; t < c->T; t++)
            c->y[t * c->n_out + r] = dot_f32(row, c->x + t * c->n_in, c->n_in);
    }
    free(row);
}

int reeli_avx2_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T)
{
    if (wtype == REEL_DTYPE_Q4_0_R8 || wtype == REEL_DTYPE_Q8_0_R8 || wtype == REEL_DTYPE_Q5_0_R8 ||
        wtype == REEL_DTYPE_Q4_K_R8 || wtype == REEL_DTYPE_Q6_K_R8) {
        const reel_cpu_features *f = reel_kernels_cpu();
        return reeli_x86_qmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                 f->avx512vnni && f->avx512vl);
    }
    if (!reel_kernels_dtype_supported(wtype))
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: weight type %s is not supported",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    size_t rb = reel_dtype_row_bytes(wtype, n_in);
    if (!rb)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (wtype == REEL_DTYPE_Q8_0 || wtype == REEL_DTYPE_Q4_0) {
        const reel_cpu_features *f = reel_kernels_cpu();
        return reeli_x86_qmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                 f->avx512vnni && f->avx512vl);
    }
    if (reeli_x86_kq_handles(wtype)) {
        const reel_cpu_features *f = reel_kernels_cpu();
        return reeli_x86_kqmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                  f->avx512vnni && f->avx512vl);
    }
    mm_ctx c = {y, w, wtype, x, n_in, n_out, T, rb};
    reel_pool_parallel_for(pool, n_out, mm_body, &c);
    return 0;
}
#endif
