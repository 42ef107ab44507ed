/* Integer-dot matmul for the other GGUF weight types on x86-64 (AVX2 + FMA + F16C): Q5_0, Q5_1,
 * Q4_1, IQ4_NL (blocks of 32) and Q4_K, Q5_K, Q6_K (super-blocks of 256 = 8 blocks of 32).
 * Q8_0 / Q4_0 have their own kernels (qmatmul.c); Q2_K / Q3_K still take the dequantizing path.
 *
 * Activations. Each token's row of n floats is quantized per 32-block to int8 with GGML's Q8_0
 * rule (d = amax / 127, q = round(x / d), |q| <= 127) into a per-thread scratch that only grows.
 * A token's record (xs bytes, a multiple of 64) holds
 *     qs[n] int8 | d[nb] float | s[nb] float = d * sum(q) | x32[nb] int32 = sum(q) |
 *     hs[2*nb] int16 = sums of the two halves of 16
 * so each weight type finds the sums its offsets and minimums need without touching qs again.
 *
 * Weights are unpacked per block of 32 into unsigned bytes u (0..63) and multiplied with the
 * signed activations by maddubs (u * q pairs summed to int16: at most 2 * 63 * 127 = 16002, so
 * it never saturates) and madd (pairs of int16 times a 16-bit factor, to 8 int32 lanes):
 *   Q5_0   w = d (u - 16):       dot = d dx sum(u q) - 16 d dx x32
 *   Q5_1,  w = d u + m:          dot = d dx sum(u q) + m s
 *   Q4_1
 *   IQ4_NL w = d kv[u] (signed): dot = d dx sum(|w| sign(q, w))
 *   Q4_K,  w = d sc_j u - dmin m_j (j the 32-block of the super-block):
 *   Q5_K                         dot = d dx madd(maddubs(u, q), sc_j) - dmin m_j s_j
 *   Q6_K   w = d sc_g (u - 32) (g the 16-block): the madd factor is sc_g per half of a block,
 *          and the -32 term is one madd of the 16 scales with the 16 half sums hs per
 *          super-block: dot = d dx_j (madd(maddubs(u, q), sc) - 32 (sc . hs)_j)
 * Everything inside a 32-block is exact integer arithmetic. Blocks go in groups of 8 (a K
 * super-block; 8 blocks of a 32-block type, the last group of a row possibly partial): per
 * group, row and token the factors d dx of the 8 blocks are one vector product, and the
 * offset / minimum terms one vector FMA (one lane per block) into the output's accumulator of
 * 8 fp32 lanes; per block, row and token the int32 lanes are converted and added with one FMA
 * by the broadcast factor. An output is the horizontal sum of its accumulator at the end.
 *
 * Work split: like qmatmul.c. Threads own contiguous groups of rows; tokens go in chunks of
 * KQ_CHUNK whose activations stay in cache while each weight tile (2 rows) is read once per
 * chunk and applied to 4 tokens at a time; one token uses 4-row tiles that stream each weight
 * byte once. Every tile shape performs the same operations in the same order for a given
 * (row, token), so results do not depend on the thread count, the tile or the batch size
 * (a token alone gives the same bits as inside a batch). */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define KQ_TARGET __attribute__((target("avx2,fma,f16c")))
#define KQ_INLINE KQ_TARGET static inline __attribute__((always_inline))
#define KQ_UNROLL _Pragma("GCC unroll 16")
/* _mm256_round_ps takes its mode as an integer constant expression (clang insists). */
#define KQ_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

enum { KQ_Q4_K, KQ_Q5_K, KQ_Q6_K, KQ_Q5_0, KQ_Q5_1, KQ_Q4_1, KQ_IQ4_NL, KQ_NTYPES };
enum { KQ_CHUNK = 64 };
#ifndef KQ_FAC_MEM
#define KQ_FAC_MEM 0
#endif
#if KQ_FAC_MEM
#define KQ_BCAST(v, j) _mm256_broadcast_ss((const float *)&(v) + (j))
#else
#define KQ_BCAST(v, j) _mm256_permutevar8x32_ps((v), _mm256_set1_epi32(j))
#endif
#ifndef KQ_PREFETCH
#define KQ_PREFETCH 1024
#endif

static int kq_index(reel_dtype t)
{
    switch (t) {
    case REEL_DTYPE_Q4_K: return KQ_Q4_K;
    case REEL_DTYPE_Q5_K: return KQ_Q5_K;
    case REEL_DTYPE_Q6_K: return KQ_Q6_K;
    case REEL_DTYPE_Q5_0: return KQ_Q5_0;
    case REEL_DTYPE_Q5_1: return KQ_Q5_1;
    case REEL_DTYPE_Q4_1: return KQ_Q4_1;
    case REEL_DTYPE_IQ4_NL: return KQ_IQ4_NL;
    default: return -1;
    }
}

int reeli_x86_kq_handles(reel_dtype wtype)
{
    return kq_index(wtype) >= 0;
}

/* bytes of a token's activation record for rows of n elements */
static size_t kq_xs(int64_t n)
{
    return ((size_t)n / 32 * 48 + 63) & ~(size_t)63;
}

KQ_INLINE float f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

KQ_INLINE float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* x: rows [t0, t1) of n floats -> activation records (layout at the top), xs bytes apart. */
KQ_TARGET static void quant_x(const float *x, uint8_t *out, size_t xs, int64_t n, int64_t t0,
                              int64_t t1)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int64_t nb = n / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * n;
        uint8_t *base = out + (size_t)t * xs;
        int8_t *q = (int8_t *)base;
        float *d = (float *)(base + n), *s = d + nb;
        int32_t *x32 = (int32_t *)(s + nb);
        int16_t *hs = (int16_t *)(x32 + nb);
        for (int64_t b = 0; b < nb; b++) {
            const float *p = xr + b * 32;
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
            __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0),
                                                   _mm256_andnot_ps(sign, v1)),
                                     _mm256_max_ps(_mm256_andnot_ps(sign, v2),
                                                   _mm256_andnot_ps(sign, v3)));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float amax = _mm_cvtss_f32(m4);
            const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            const __m256 sc = _mm256_set1_ps(id);
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, sc), KQ_ROUND));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, sc), KQ_ROUND));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, sc), KQ_ROUND));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, sc), KQ_ROUND));
            /* sums of the halves (elements 0..15 and 16..31) before packing */
            const __m256i lo8 = _mm256_add_epi32(i0, i1), hi8 = _mm256_add_epi32(i2, i3);
            __m128i l4 = _mm_add_epi32(_mm256_castsi256_si128(lo8), _mm256_extracti128_si256(lo8, 1));
            __m128i h4 = _mm_add_epi32(_mm256_castsi256_si128(hi8), _mm256_extracti128_si256(hi8, 1));
            __m128i lh = _mm_hadd_epi32(l4, h4); /* l0+l1, l2+l3, h0+h1, h2+h3 */
            lh = _mm_hadd_epi32(lh, lh);          /* lo, hi, lo, hi */
            const int lo = _mm_cvtsi128_si32(lh), hi = _mm_extract_epi32(lh, 1);
            i0 = _mm256_packs_epi32(i0, i1);
            i2 = _mm256_packs_epi32(i2, i3);
            i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
            _mm256_storeu_si256((__m256i *)(q + b * 32), i0);
            d[b] = db;
            s[b] = db * (float)(lo + hi);
            x32[b] = lo + hi;
            hs[2 * b] = (int16_t)lo;
            hs[2 * b + 1] = (int16_t)hi;
        }
    }
}

/* ---- weight unpacking: block j (0..7) of a super-block, or a 32-block, as 32 bytes u ---- */

/* 6-bit scales and minimums of a Q4_K / Q5_K super-block (12 bytes at p) as bytes 0..7 of *sc
 * and *m: j < 4 keeps the low 6 bits of bytes j and j+4; j >= 4 takes 4 bits from byte j+4 and
 * the top 2 bits of bytes j-4 (scale) and j (min). Done on 32-bit words, 4 j at a time. */
static inline void k4_scales(const uint8_t *p, uint64_t *sc, uint64_t *m)
{
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t s03 = a & 0x3f3f3f3fu, m03 = b & 0x3f3f3f3fu;
    const uint32_t s47 = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t m47 = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    *sc = s03 | (uint64_t)s47 << 32;
    *m = m03 | (uint64_t)m47 << 32;
}

/* super-block p, block j: unsigned weights (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63) */
KQ_INLINE __m256i kunpack(const int ty, const uint8_t *p, const int j)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    if (ty == KQ_Q6_K) {
        /* halves of 128: ql[64] at 64h, qh[32] at 128 + 32h; block jj of a half takes the low
         * (jj < 2) or high nibbles of ql[32 (jj & 1) ..] and bits 2jj, 2jj+1 of qh */
        const int h = j / 4, jj = j % 4;
        const __m256i ql = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32 * (jj & 1)));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
        const __m256i lo = jj < 2 ? _mm256_and_si256(ql, m4)
                                  : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
        /* bits 2jj, 2jj+1 of each byte to bits 4, 5 (16-bit shifts: what crosses into the
         * other byte is masked off) */
        const __m256i hs = jj == 0   ? _mm256_slli_epi16(qh, 4)
                           : jj == 1 ? _mm256_slli_epi16(qh, 2)
                           : jj == 2 ? qh
                                     : _mm256_srli_epi16(qh, 2);
        const __m256i hb = _mm256_and_si256(hs, _mm256_set1_epi8(0x30));
        return _mm256_or_si256(lo, hb);
    }
    const uint8_t *qs = p + (ty == KQ_Q5_K ? 48 : 16) + 32 * (j / 2);
    const __m256i v = _mm256_loadu_si256((const __m256i *)qs);
    __m256i u = j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
    if (ty == KQ_Q5_K) { /* bit j of qh[l] is the fifth bit of element l of block j */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        const __m256i hb = j < 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
        u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
    return u;
}

/* the 16 nibbles at q: elements 0..15 low nibbles, 16..31 high */
KQ_INLINE __m256i nibbles(const uint8_t *q)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* 32-bit qh -> bit j as 0x10 in byte j */
KQ_INLINE __m256i q5_high(const uint8_t *p)
{
    uint32_t qh;
    memcpy(&qh, p, 4);
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                         2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), sel);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

/* 32-block p: Q5_0 / Q5_1 / Q4_1 unsigned weights; IQ4_NL the signed table values */
KQ_INLINE __m256i lunpack(const int ty, const uint8_t *p)
{
    switch (ty) {
    case KQ_Q5_0: return _mm256_or_si256(nibbles(p + 6), q5_high(p + 2));
    case KQ_Q5_1: return _mm256_or_si256(nibbles(p + 8), q5_high(p + 4));
    case KQ_Q4_1: return nibbles(p + 4);
    default: {
        const __m256i kv = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25,
                                            38, 53, 69, 89, 113, -127, -104, -83, -65, -49, -35,
                                            -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
        return _mm256_shuffle_epi8(kv, nibbles(p + 2));
    }
    }
}

/* ---- tiles: y[t*ys + r] = row r of w (RM rows, rb bytes apart) . token t of x (TN records,
 * xs bytes apart) for rows of n elements ---- */

KQ_INLINE void ktile(const int RM, const int TN, const int ty, const uint8_t *w, size_t rb,
                     const uint8_t *x, size_t xs, int64_t n, float *y, int64_t ys)
{
    const int64_t nb = n / 32, nsb = n / 256;
    const size_t sbb = ty == KQ_Q4_K ? 144 : ty == KQ_Q5_K ? 176 : 210;
    __m256 acc[4][4];
    const int8_t *xq[4];
    const float *xd[4], *xsum[4];
    const int16_t *xh[4];
    for (int t = 0; t < TN; t++) {
        const uint8_t *base = x + (size_t)t * xs;
        xq[t] = (const int8_t *)base;
        xd[t] = (const float *)(base + n);
        xsum[t] = xd[t] + nb;
        xh[t] = (const int16_t *)(xd[t] + 3 * nb);
        for (int r = 0; r < RM; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *p[4];
        __m256 dr[4], mv[4];
        __m256i sc16[4];
        for (int r = 0; r < RM; r++) {
            p[r] = w + (size_t)r * rb + (size_t)sb * sbb;
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH + 128, _MM_HINT_T0);
            if (ty == KQ_Q6_K) {
                dr[r] = _mm256_set1_ps(f16(p[r] + 208));
                sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p[r] + 192)));
            } else {
                uint64_t sc, m;
                k4_scales(p[r] + 4, &sc, &m);
                dr[r] = _mm256_set1_ps(f16(p[r]));
                /* the 8 scales as int16, in both halves */
                sc16[r] = _mm256_broadcastsi128_si256(
                    _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
                mv[r] = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))),
                    _mm256_set1_ps(f16(p[r] + 2)));
            }
        }
        /* fac[r][t] lane j = d of row r times dx of token t's block j; the super-block's
         * minimum (Q4_K, Q5_K) or -32 offset (Q6_K) terms, one lane per block */
        __m256 fac[4][4];
        for (int t = 0; t < TN; t++) {
            const __m256 dxv = _mm256_loadu_ps(xd[t] + 8 * sb);
            for (int r = 0; r < RM; r++) {
                fac[r][t] = _mm256_mul_ps(dr[r], dxv);
                if (ty == KQ_Q6_K) {
                    const __m256i hv = _mm256_loadu_si256((const __m256i *)(xh[t] + 16 * sb));
                    const __m256 corr = _mm256_cvtepi32_ps(_mm256_madd_epi16(sc16[r], hv));
                    acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(corr, _mm256_set1_ps(32.0f)),
                                                 fac[r][t], acc[r][t]);
                } else {
                    acc[r][t] = _mm256_fnmadd_ps(mv[r], _mm256_loadu_ps(xsum[t] + 8 * sb),
                                                 acc[r][t]);
                }
            }
        }
        KQ_UNROLL
        for (int j = 0; j < 8; j++) {
            /* the int16 factors of block j: Q6_K sc[2j] for its first 16 elements, sc[2j+1] for
             * the rest (dword j of sc16 holds that pair); Q4_K / Q5_K sc[j] throughout */
            const __m256i sel =
                ty == KQ_Q6_K
                    ? _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2,
                                       3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3)
                    : _mm256_set1_epi16((short)(0x0101 * 2 * j + 0x0100));
            const __m256i lane = _mm256_set1_epi32(j);
            __m256i u[4], S[4];
            KQ_UNROLL
            for (int r = 0; r < RM; r++) {
                u[r] = kunpack(ty, p[r], j);
                S[r] = ty == KQ_Q6_K
                           ? _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16[r], lane), sel)
                           : _mm256_shuffle_epi8(sc16[r], sel);
            }
            KQ_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 256 * sb + 32 * j));
                KQ_UNROLL
                for (int r = 0; r < RM; r++) {
                    const __m256i pr = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), S[r]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr),
                                                KQ_BCAST(fac[r][t], j),
                                                acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++) y[(size_t)t * (size_t)ys + (size_t)r] = hsum(acc[r][t]);
}

/* lanes j < nj of 8 floats / ints at p, 0 above (never reads past lane nj - 1) */
KQ_INLINE __m256i lanes_below(int nj)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nj), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 32-block types in groups of 8 blocks, like the K types: per group and row the 8 block
 * scales (and minimums) as vectors, so that per block and token the work is maddubs, madd,
 * convert, broadcast of the factor and one FMA; the Q5_0 offset (-16 x32) and the minimum
 * terms are added per group, one lane per block. The last group may be partial. */
KQ_INLINE void ltile(const int RM, const int TN, const int ty, const uint8_t *w, size_t rb,
                     const uint8_t *x, size_t xs, int64_t n, float *y, int64_t ys)
{
    const int64_t nb = n / 32;
    const size_t bb = ty == KQ_Q5_0 ? 22 : ty == KQ_Q5_1 ? 24 : ty == KQ_Q4_1 ? 20 : 18;
    const int with_min = ty == KQ_Q5_1 || ty == KQ_Q4_1;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][4];
    const int8_t *xq[4];
    const float *xd[4], *xsum[4];
    const int32_t *x32[4];
    for (int t = 0; t < TN; t++) {
        const uint8_t *base = x + (size_t)t * xs;
        xq[t] = (const int8_t *)base;
        xd[t] = (const float *)(base + n);
        xsum[t] = xd[t] + nb;
        x32[t] = (const int32_t *)(xd[t] + 2 * nb);
        for (int r = 0; r < RM; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < nb; g += 8) {
        const int nj = nb - g < 8 ? (int)(nb - g) : 8;
        const __m256i live = lanes_below(nj);
        __m256 dw[4], mw[4];
        for (int r = 0; r < RM; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)g * bb;
            uint16_t h[8] = {0}, hm[8] = {0};
            for (int j = 0; j < nj; j++) {
                memcpy(&h[j], p + j * bb, 2);
                if (with_min) memcpy(&hm[j], p + j * bb + 2, 2);
            }
            dw[r] = _mm256_cvtph_ps(_mm_setr_epi16((short)h[0], (short)h[1], (short)h[2], (short)h[3],
                                                   (short)h[4], (short)h[5], (short)h[6], (short)h[7]));
            if (with_min)
                mw[r] = _mm256_cvtph_ps(_mm_setr_epi16((short)hm[0], (short)hm[1], (short)hm[2],
                                                       (short)hm[3], (short)hm[4], (short)hm[5],
                                                       (short)hm[6], (short)hm[7]));
        }
        __m256 fac[4][4];
        for (int t = 0; t < TN; t++) {
            const __m256 dxv = nj == 8 ? _mm256_loadu_ps(xd[t] + g)
                                       : _mm256_maskload_ps(xd[t] + g, live);
            for (int r = 0; r < RM; r++) {
                fac[r][t] = _mm256_mul_ps(dw[r], dxv);
                if (ty == KQ_Q5_0) {
                    const __m256i o = nj == 8 ? _mm256_loadu_si256((const __m256i *)(x32[t] + g))
                                              : _mm256_maskload_epi32((const int *)(x32[t] + g), live);
                    acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(fac[r][t], _mm256_set1_ps(16.0f)),
                                                 _mm256_cvtepi32_ps(o), acc[r][t]);
                }
                if (with_min) {
                    const __m256 sv = nj == 8 ? _mm256_loadu_ps(xsum[t] + g)
                                              : _mm256_maskload_ps(xsum[t] + g, live);
                    acc[r][t] = _mm256_fmadd_ps(mw[r], sv, acc[r][t]);
                }
            }
        }
        KQ_UNROLL
        for (int j = 0; j < 8; j++) {
            if (j >= nj) break;
            __m256i u[4], au[4];
            KQ_UNROLL
            for (int r = 0; r < RM; r++) {
                const uint8_t *p = w + (size_t)r * rb + (size_t)(g + j) * bb;
                if (j == 0) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                if (j == 3) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                if (j == 6) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                u[r] = lunpack(ty, p);
                if (ty == KQ_IQ4_NL) au[r] = _mm256_sign_epi8(u[r], u[r]);
            }
            KQ_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 32 * (g + j)));
                KQ_UNROLL
                for (int r = 0; r < RM; r++) {
                    __m256i pr;
                    if (ty == KQ_IQ4_NL)
                        pr = _mm256_madd_epi16(
                            _mm256_maddubs_epi16(au[r], _mm256_sign_epi8(xv, u[r])), ones);
                    else
                        pr = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), ones);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr),
                                                KQ_BCAST(fac[r][t], j),
                                                acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++) y[(size_t)t * (size_t)ys + (size_t)r] = hsum(acc[r][t]);
}

typedef void (*kq_tile_fn)(const uint8_t *w, size_t rb, const uint8_t *x, size_t xs, int64_t n,
                           float *y, int64_t ys);

#define KQ_TILE(kind, ty, rm, tn)                                                                  \
    KQ_TARGET static void kind##_##ty##_##rm##tn(const uint8_t *w, size_t rb, const uint8_t *x,    \
                                                 size_t xs, int64_t n, float *y, int64_t ys)       \
    {                                                                                              \
        kind(rm, tn, KQ_##ty, w, rb, x, xs, n, y, ys);                                             \
    }
#define KQ_SHAPES(kind, ty)                                                                        \
    KQ_TILE(kind, ty, 4, 1)                                                                        \
    KQ_TILE(kind, ty, 2, 4)                                                                        \
    KQ_TILE(kind, ty, 2, 1)                                                                        \
    KQ_TILE(kind, ty, 1, 4)                                                                        \
    KQ_TILE(kind, ty, 1, 1)
KQ_SHAPES(ktile, Q4_K)
KQ_SHAPES(ktile, Q5_K)
KQ_SHAPES(ktile, Q6_K)
KQ_SHAPES(ltile, Q5_0)
KQ_SHAPES(ltile, Q5_1)
KQ_SHAPES(ltile, Q4_1)
KQ_SHAPES(ltile, IQ4_NL)
#undef KQ_SHAPES
#undef KQ_TILE

/* per type: block elements, block bytes, tiles 4x1 (T = 1), 2x4 and 2x1 (batches), 1x4 and
 * 1x1 (the rows left over) */
static const struct {
    int bs, bb;
    kq_tile_fn t41, t24, t21, t14, t11;
} kq_types[KQ_NTYPES] = {
#define KQ_ROW(kind, ty, bs, bb)                                                                   \
    [KQ_##ty] = {bs, bb, kind##_##ty##_41, kind##_##ty##_24, kind##_##ty##_21, kind##_##ty##_14,   \
                 kind##_##ty##_11}
    KQ_ROW(ktile, Q4_K, 256, 144), KQ_ROW(ktile, Q5_K, 256, 176), KQ_ROW(ktile, Q6_K, 256, 210),
    KQ_ROW(ltile, Q5_0, 32, 22),   KQ_ROW(ltile, Q5_1, 32, 24),   KQ_ROW(ltile, Q4_1, 32, 20),
    KQ_ROW(ltile, IQ4_NL, 32, 18),
#undef KQ_ROW
};

typedef struct {
    int ty;
    float *y;
    const uint8_t *w;
    size_t rb, xs;
    const float *xf;
    uint8_t *xq;    /* all T records */
    const uint8_t *x; /* records of the chunk's first token */
    int64_t n_in, n_out, t0, tn;
} kq_ctx;

static void kq_quant_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const kq_ctx *c = arg;
    quant_x(c->xf, c->xq, c->xs, c->n_in, begin, end);
}

enum { KQ_RM1 = 4, KQ_RM = 2, KQ_TN = 4 };

static void kq_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const kq_ctx *c = arg;
    const int rm = c->tn == 1 ? KQ_RM1 : KQ_RM;
    const int64_t r_end = end * rm < c->n_out ? end * rm : c->n_out;
    const int ty = c->ty;
    for (int64_t r = begin * rm; r < r_end;) {
        const uint8_t *w = c->w + (size_t)r * c->rb;
        float *y = c->y + c->t0 * c->n_out + r;
        const int full = r + rm <= r_end;
        if (c->tn == 1) {
            (full ? kq_types[ty].t41 : kq_types[ty].t11)(w, c->rb, c->x, c->xs, c->n_in, y,
                                                          c->n_out);
        } else {
            int64_t t = 0;
            for (; t + KQ_TN <= c->tn; t += KQ_TN)
                (full ? kq_types[ty].t24 : kq_types[ty].t14)(w, c->rb, c->x + (size_t)t * c->xs,
                                                              c->xs, c->n_in, y + t * c->n_out,
                                                              c->n_out);
            for (; t < c->tn; t++)
                (full ? kq_types[ty].t21 : kq_types[ty].t11)(w, c->rb, c->x + (size_t)t * c->xs,
                                                              c->xs, c->n_in, y + t * c->n_out,
                                                              c->n_out);
        }
        r += full ? rm : 1;
    }
}

static _Thread_local uint8_t *scratch;
static _Thread_local size_t scratch_n;

int reeli_x86_kqmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T)
{
    const int ty = kq_index(wtype);
    if (ty < 0)
        return reel_set_error(REEL_EUNSUPPORTED, "kqmatmul: weight type %s has no integer path",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_in <= 0 || n_in % kq_types[ty].bs)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    const size_t xs = kq_xs(n_in), need = xs * (size_t)T;
    if (need > scratch_n) {
        free(scratch);
        scratch = reel_xmalloc(need);
        scratch_n = need;
    }
    kq_ctx c = {
        .ty = ty,
        .y = y,
        .w = w,
        .rb = (size_t)(n_in / kq_types[ty].bs) * (size_t)kq_types[ty].bb,
        .xs = xs,
        .xf = x,
        .xq = scratch,
        .n_in = n_in,
        .n_out = n_out,
    };
    if (T == 1)
        quant_x(x, scratch, xs, n_in, 0, 1);
    else
        reel_pool_parallel_for(pool, T, kq_quant_body, &c);
    for (int64_t t0 = 0; t0 < T; t0 += KQ_CHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < KQ_CHUNK ? T - t0 : KQ_CHUNK;
        c.x = scratch + (size_t)t0 * xs;
        const int rm = c.tn == 1 ? KQ_RM1 : KQ_RM;
        reel_pool_parallel_for(pool, (n_out + rm - 1) / rm, kq_body, &c);
    }
    return 0;
}
#endif
