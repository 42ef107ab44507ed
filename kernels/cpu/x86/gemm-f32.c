/* The float GEMM with AVX2 + FMA + F16C (x86-64): F32 / F16 / BF16 weights, and the entry of
 * the matmul contract for every weight type. The same contract as the scalar reference in
 * cpu/matmul.c (threads own rows of W; each output is one dot product in a fixed order, so
 * results do not depend on the thread count), with 8-wide FMA dot products and scalar tails.
 * For one token the F32/F16/BF16 rows are read directly; for a batch, with AVX-512 a
 * cache-blocked GEMM (4 rows x 6 tokens of 16-wide accumulators), else each group of 4 rows is
 * converted to F32 once and applied to the tokens 3 at a time in a register tile (a batch and a
 * single token may differ in the last bits: other accumulators). Quantized weights go to the
 * integer-dot kernels: Q8_0 / Q4_0 and the interleaved layouts to reeli_x86_qmatmul
 * (dot-rowmajor.c, which hands the interleaved ones to gemm-interleaved.c), the other types
 * (Q5_0 / Q5_1 / Q4_1 / IQ4_NL / Q2_K..Q6_K) to reeli_x86_kqmatmul (dot-rowmajor.c); types
 * without an integer path are converted to F32 rows. */
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

TARGET static inline __m256 bf16x8(const uint16_t *p)
{
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
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
    float *rows; /* batches: MM_RM converted rows for each thread */
} mm_ctx;

/* 8 weights of a row as f32, and one */
TARGET static inline __m256 w8(reel_dtype t, const uint8_t *row, int64_t i)
{
    if (t == REEL_DTYPE_F32) return _mm256_loadu_ps((const float *)row + i);
    if (t == REEL_DTYPE_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return bf16x8((const uint16_t *)row + i);
}

static inline float w1(reel_dtype t, const uint8_t *row, int64_t k)
{
    return t == REEL_DTYPE_F32   ? ((const float *)row)[k]
           : t == REEL_DTYPE_F16 ? reel_fp16_to_fp32(((const uint16_t *)row)[k])
                                 : reel_bf16_to_fp32(((const uint16_t *)row)[k]);
}

/* R rows' (rb bytes apart) dot products with x: per row two 8-lane accumulators over 16
 * elements at a time, one for a last 8, the horizontal sum, then the scalar tail, so a row's
 * result does not depend on R. With R = 4 the rows' FMA chains interleave and x is loaded once
 * for all four (one row's two chains alone wait on FMA latency, not on memory). */
TARGET static inline __attribute__((always_inline)) void
dotr(const int R, reel_dtype t, const uint8_t *w, size_t rb, const float *x, int64_t n, float *y)
{
    __m256 s[4][2];
    for (int r = 0; r < R; r++) s[r][0] = s[r][1] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
        for (int r = 0; r < R; r++) {
            s[r][0] = _mm256_fmadd_ps(w8(t, w + r * rb, i), x0, s[r][0]);
            s[r][1] = _mm256_fmadd_ps(w8(t, w + r * rb, i + 8), x1, s[r][1]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + i);
        for (int r = 0; r < R; r++) s[r][0] = _mm256_fmadd_ps(w8(t, w + r * rb, i), x0, s[r][0]);
    }
    for (int r = 0; r < R; r++) {
        float v = hsum(_mm256_add_ps(s[r][0], s[r][1]));
        for (int64_t k = i; k < n; k++) v += w1(t, w + r * rb, k) * x[k];
        y[r] = v;
    }
}

/* rows (1..4) dot products for one weight type, each its own unrolled instance */
#define MM_DOTS(name, type)                                                                        \
    TARGET static void name(const uint8_t *w, size_t rb, const float *x, int64_t n, float *y,      \
                            int64_t rows)                                                          \
    {                                                                                              \
        if (rows == 4)                                                                             \
            dotr(4, type, w, rb, x, n, y);                                                         \
        else                                                                                       \
            for (int64_t r = 0; r < rows; r++) dotr(1, type, w + r * rb, rb, x, n, y + r);         \
    }
MM_DOTS(dots_f32, REEL_DTYPE_F32)
MM_DOTS(dots_f16, REEL_DTYPE_F16)
MM_DOTS(dots_bf16, REEL_DTYPE_BF16)
#undef MM_DOTS

/* One token: each F32/F16/BF16 row read directly, four rows at a time; threads take groups of
 * four rows. */
TARGET static void mm1_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const mm_ctx *c = arg;
    const int64_t r_end = end * 4 < c->n_out ? end * 4 : c->n_out;
    for (int64_t r = begin * 4; r < r_end; r += 4)
        (c->wtype == REEL_DTYPE_F32   ? dots_f32
         : c->wtype == REEL_DTYPE_F16 ? dots_f16
                                      : dots_bf16)(c->w + (size_t)r * c->row_bytes, c->row_bytes,
                                                   c->x, c->n_in, c->y + r,
                                                   r_end - r < 4 ? r_end - r : 4);
}

enum { MM_RM = 4, MM_TN = 3 }; /* register tile: 12 accumulators + 3 x + 1 w = 16 ymm */

/* y[t][r] for rm rows (f32, n apart) and tn tokens: one 8-lane accumulator per output over the
 * row in order, then the scalar tail, then the horizontal sum, so every tile shape gives an
 * output the same bits. */
TARGET static inline __attribute__((always_inline)) void
mm_tile(const int rm, const int tn, const float *w, const float *x, int64_t n, float *y, int64_t ys)
{
    __m256 acc[MM_RM][MM_TN];
    for (int r = 0; r < rm; r++)
        for (int t = 0; t < tn; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv[MM_TN];
        for (int t = 0; t < tn; t++) xv[t] = _mm256_loadu_ps(x + t * n + i);
        for (int r = 0; r < rm; r++) {
            const __m256 wv = _mm256_loadu_ps(w + r * n + i);
            for (int t = 0; t < tn; t++) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < rm; r++)
        for (int t = 0; t < tn; t++) {
            float tail = 0;
            for (int64_t k = i; k < n; k++) tail += w[r * n + k] * x[t * n + k];
            y[t * ys + r] = hsum(acc[r][t]) + tail;
        }
}

TARGET static void mm_tile_any(int rm, int tn, const float *w, const float *x, int64_t n, float *y,
                               int64_t ys)
{
    /* each (rows, tokens) pair its own unrolled instance */
    switch (rm * 4 + tn) {
#define MM_CASE(a, b)                                                                              \
    case a * 4 + b:                                                                                \
        mm_tile(a, b, w, x, n, y, ys);                                                             \
        break;
        /* clang-format off */
        MM_CASE(1, 1) MM_CASE(1, 2) MM_CASE(1, 3) MM_CASE(2, 1) MM_CASE(2, 2) MM_CASE(2, 3)
        MM_CASE(3, 1) MM_CASE(3, 2) MM_CASE(3, 3) MM_CASE(4, 1) MM_CASE(4, 2) MM_CASE(4, 3)
        /* clang-format on */
#undef MM_CASE
    }
}

/* ---- AVX-512: a cache-blocked GEMM for a batch of F32/F16/BF16 rows --------------------------
 * A register tile of 4 rows x 6 tokens (24 zmm accumulators, 16 products each along k) over a
 * block of G_KC elements of k; the weight panel (4 rows x G_KC, read as stored and widened in
 * registers) stays in L1 while the tile sweeps a chunk of G_TB tokens, whose activations
 * (G_TB x G_KC floats) stay in L2 while the tile sweeps G_GB panels (whose outputs stay in L2
 * too). The first tile of a panel fetches the next panel alongside. The activations and outputs
 * should lie on huge pages (reel_huge_alloc): a tile reads 6 rows of x and writes 6 of y, each
 * on its own page, and with 4 KiB pages the page walks cost a third of the speed. Output (t, r)
 * is the sum over the k blocks in order of each block's 16-lane sums: fixed whatever the
 * threads or the tile edges. */
#define TARGET512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
enum { G_RM = 4, G_TN = 6, G_KC = 4096, G_TB = 120, G_GB = 64 };
#define G_UNROLL _Pragma("GCC unroll 8")

/* 16 weights of a row from element k as f32 (m: the lanes to load, the rest are 0) */
TARGET512 static inline __m512 g_w16(reel_dtype t, const uint8_t *row, int64_t k, __mmask16 m)
{
    if (t == REEL_DTYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    if (t == REEL_DTYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* acc[r][t] += w[r][k..k+16) . x[t][k..k+16) over the lanes of m */
#define G_STEP(m)                                                                                  \
    do {                                                                                           \
        __m512 wv[G_RM];                                                                           \
        if (pf)                                                                                    \
            G_UNROLL for (int r = 0; r < G_RM; r++)                                                \
                _mm_prefetch((const char *)(pf[r] + k * es), _MM_HINT_T0);                         \
        G_UNROLL for (int r = 0; r < G_RM; r++) wv[r] = g_w16(type, w[r], k, m);                   \
        G_UNROLL for (int j = 0; j < G_TN; j++)                                                    \
        {                                                                                          \
            const __m512 xv = _mm512_maskz_loadu_ps(m, x[j] + k);                                  \
            G_UNROLL for (int r = 0; r < G_RM; r++) acc[r][j] =                                    \
                _mm512_fmadd_ps(wv[r], xv, acc[r][j]);                                             \
        }                                                                                          \
    } while (0)

/* The 4 x 6 tile over k in [k0, k1): y[j][r] = (add ? y[j][r] : 0) + the block's sum, for the
 * rm rows and tn tokens that exist (the pointers past them repeat the last ones). pf: NULL, or
 * the 4 rows of the next panel, fetched into L1 alongside (a line per row every 2-4 steps). */
TARGET512 static inline __attribute__((always_inline)) void
g_tile(reel_dtype type, const uint8_t *const w[G_RM], const uint8_t *const *pf,
       const float *const x[G_TN], int64_t k0, int64_t k1, float *const y[G_TN], int rm, int tn,
       int add)
{
    const int64_t es = type == REEL_DTYPE_F32 ? 4 : 2;
    __m512 acc[G_RM][G_TN];
    G_UNROLL for (int r = 0; r < G_RM; r++) G_UNROLL for (int j = 0; j < G_TN; j++) acc[r][j] =
        _mm512_setzero_ps();
    int64_t k = k0;
    for (; k + 16 <= k1; k += 16) G_STEP((__mmask16)0xFFFF);
    if (k < k1) G_STEP((__mmask16)((1u << (k1 - k)) - 1));
    G_UNROLL for (int j = 0; j < G_TN; j++)
    {
        if (j >= tn) break;
        /* the 4 rows' lane sums at once: pairs, quads, then the four 128-bit quarters */
        const __m512 a01 = _mm512_add_ps(_mm512_unpacklo_ps(acc[0][j], acc[1][j]),
                                         _mm512_unpackhi_ps(acc[0][j], acc[1][j]));
        const __m512 a23 = _mm512_add_ps(_mm512_unpacklo_ps(acc[2][j], acc[3][j]),
                                         _mm512_unpackhi_ps(acc[2][j], acc[3][j]));
        const __m512 q = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23))),
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a01), _mm512_castps_pd(a23))));
        const __m256 h =
            _mm256_add_ps(_mm512_castps512_ps256(q),
                          _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(q), 1)));
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        /* lanes: row 0, row 1, row 2, row 3 (unpack order) */
        if (rm == G_RM) {
            if (add) v = _mm_add_ps(v, _mm_loadu_ps(y[j]));
            _mm_storeu_ps(y[j], v);
        } else {
            float s[4];
            _mm_storeu_ps(s, v);
            for (int r = 0; r < rm; r++) y[j][r] = (add ? y[j][r] : 0.0f) + s[r];
        }
    }
}
#undef G_STEP
#undef G_UNROLL

#define G_TILE(name, type)                                                                         \
    TARGET512 static void name(const uint8_t *const w[G_RM], const uint8_t *const *pf,             \
                               const float *const x[G_TN], int64_t k0, int64_t k1,                 \
                               float *const y[G_TN], int rm, int tn, int add)                      \
    {                                                                                              \
        if (pf)                                                                                    \
            g_tile(type, w, pf, x, k0, k1, y, rm, tn, add);                                        \
        else                                                                                       \
            g_tile(type, w, NULL, x, k0, k1, y, rm, tn, add);                                      \
    }
G_TILE(g_tile_f32, REEL_DTYPE_F32)
G_TILE(g_tile_f16, REEL_DTYPE_F16)
G_TILE(g_tile_bf16, REEL_DTYPE_BF16)
#undef G_TILE

/* groups [g0, g1) of 4 rows against every token: blocks of G_GB groups, token chunks, k blocks,
 * the block's panels, then the chunk's tokens 6 at a time */
TARGET512 static void gemm_body(void *arg, int64_t g0, int64_t g1, int thread)
{
    (void)thread;
    const mm_ctx *c = arg;
    const int64_t n = c->n_in;
    void (*tile)(const uint8_t *const *, const uint8_t *const *, const float *const *, int64_t,
                 int64_t, float *const *, int, int, int) = c->wtype == REEL_DTYPE_F32 ? g_tile_f32
                                                           : c->wtype == REEL_DTYPE_F16
                                                               ? g_tile_f16
                                                               : g_tile_bf16;
    for (int64_t gb = g0; gb < g1; gb += G_GB) {
        const int64_t gbe = g1 - gb < G_GB ? g1 : gb + G_GB;
        for (int64_t tc = 0; tc < c->T; tc += G_TB) {
            const int64_t te = c->T - tc < G_TB ? c->T : tc + G_TB;
            for (int64_t kb = 0; kb < n; kb += G_KC) {
                const int64_t ke = n - kb < G_KC ? n : kb + G_KC;
                for (int64_t g = gb; g < gbe; g++) {
                    const uint8_t *w[2][G_RM]; /* this panel's rows and the next one's */
                    for (int p = 0; p < 2; p++) {
                        const int64_t r0 = (g + p) * G_RM, left = c->n_out - r0;
                        for (int r = 0; r < G_RM; r++)
                            w[p][r] =
                                c->w + (size_t)(r0 + (r < left ? r : left - 1)) * c->row_bytes;
                    }
                    const int64_t r0 = g * G_RM;
                    const int rm = c->n_out - r0 < G_RM ? (int)(c->n_out - r0) : G_RM;
                    for (int64_t t = tc; t < te; t += G_TN) {
                        const int tn = te - t < G_TN ? (int)(te - t) : G_TN;
                        const float *x[G_TN];
                        float *y[G_TN];
                        for (int j = 0; j < G_TN; j++) {
                            const int64_t tj = t + (j < tn ? j : tn - 1);
                            x[j] = c->x + (size_t)tj * (size_t)n;
                            y[j] = c->y + (size_t)tj * (size_t)c->n_out + (size_t)r0;
                        }
                        tile(w[0], t == tc && g + 1 < gbe ? w[1] : NULL, x, kb, ke, y, rm, tn,
                             kb > 0);
                    }
                }
            }
        }
    }
}

static _Thread_local float *mm_rows; /* the caller's buffer for the threads' rows, grown only */
static _Thread_local size_t mm_rows_n;

/* A batch: threads take groups of MM_RM rows, converted to f32 once into a per-thread buffer,
 * then applied to the tokens MM_TN at a time in a register tile (each weight and activation
 * load feeds 3 or 4 FMAs instead of one). */
TARGET static void mmn_body(void *arg, int64_t begin, int64_t end, int thread)
{
    const mm_ctx *c = arg;
    const int64_t n = c->n_in;
    float *rows = c->rows ? c->rows + (size_t)thread * (size_t)(MM_RM * n) : NULL;
    for (int64_t g = begin; g < end; g++) {
        const int64_t r0 = g * MM_RM;
        const int rm = c->n_out - r0 < MM_RM ? (int)(c->n_out - r0) : MM_RM;
        const float *w = (const float *)(c->w + (size_t)r0 * c->row_bytes);
        if (c->wtype != REEL_DTYPE_F32) {
            for (int r = 0; r < rm; r++)
                to_f32(c->wtype, c->w + (size_t)(r0 + r) * c->row_bytes, rows + r * n, n);
            w = rows;
        }
        for (int64_t t = 0; t < c->T; t += MM_TN) {
            const int tn = c->T - t < MM_TN ? (int)(c->T - t) : MM_TN;
            mm_tile_any(rm, tn, w, c->x + t * n, n, c->y + t * c->n_out + r0, c->n_out);
        }
    }
}

int reeli_avx2_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T)
{
    if (wtype == REEL_DTYPE_Q4_0_R8 || wtype == REEL_DTYPE_Q8_0_R8 || wtype == REEL_DTYPE_Q5_0_R8 ||
        wtype == REEL_DTYPE_Q4_K_R8 || wtype == REEL_DTYPE_Q6_K_R8) {
        return reeli_x86_qmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                 reeli_x86_isa(reel_kernels_cpu()));
    }
    if (!reel_kernels_dtype_supported(wtype))
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: weight type %s is not supported",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    size_t rb = reel_dtype_row_bytes(wtype, n_in);
    if (!rb)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (wtype == REEL_DTYPE_Q8_0 || wtype == REEL_DTYPE_Q4_0) {
        return reeli_x86_qmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                 reeli_x86_isa(reel_kernels_cpu()));
    }
    if (reeli_x86_kq_handles(wtype)) {
        return reeli_x86_kqmatmul(pool, y, w, wtype, x, n_in, n_out, T,
                                  reeli_x86_isa(reel_kernels_cpu()));
    }
    mm_ctx c = {y, w, wtype, x, n_in, n_out, T, rb, NULL};
    const int plain =
        wtype == REEL_DTYPE_F32 || wtype == REEL_DTYPE_F16 || wtype == REEL_DTYPE_BF16;
    if (T == 1 && plain) {
        reel_pool_parallel_for_dynamic(pool, (n_out + 3) / 4, 0, mm1_body, &c);
        return 0;
    }
    const reel_cpu_features *f = reel_kernels_cpu();
    if (plain && f->avx512f && f->avx512bw && f->avx512vl) {
        reel_pool_parallel_for_dynamic(pool, (n_out + G_RM - 1) / G_RM, 0, gemm_body, &c);
        return 0;
    }
    if (wtype != REEL_DTYPE_F32) {
        const size_t need = (size_t)reel_pool_size(pool) * (size_t)(MM_RM * n_in);
        if (need > mm_rows_n) {
            free(mm_rows);
            mm_rows = reel_xmalloc(need * sizeof(float));
            mm_rows_n = need;
        }
        c.rows = mm_rows;
    }
    reel_pool_parallel_for_dynamic(pool, (n_out + MM_RM - 1) / MM_RM, 0, mmn_body, &c);
    return 0;
}
#endif
