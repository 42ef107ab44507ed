/* The tiles of the interleaved layouts (Q8_0_R8, Q4_0_R8, Q5_0_R8, Q4_K_R8, Q6_K_R8; repack.c
 * writes them), included once per instruction set by gemm-interleaved-vnni.c (AVX-512 VNNI),
 * gemm-interleaved-avxvnni.c (AVX-VNNI: the same dpbusd, VEX-encoded) and
 * gemm-interleaved-avx2.c with GI_VNNI, GI_AVXVNNI, GI_TARGET and GI_TABLE (the gi_tiles table
 * it defines).
 *
 * A group of 8 rows stores its blocks with the rows side by side, one dword of each row after
 * the other, so a vector load holds row i in lane i, and one 4-product step against a
 * broadcast dword of the activations advances 8 row dots at once: dpbusd with VNNI, and
 * maddubs + madd (+ add) with AVX2, where the products are summed in int16 first wherever
 * they cannot overflow it (u * x pairs: Q4_0 2 * 15 * 128 = 3840, eight of them fit; Q5_0
 * 2 * 31 * 128 = 7936, four fit). maddubs saturates where dpbusd does not, so with AVX2 the
 * weights of Q8_0 stay signed (|w| against sign(x, w), as GGML does) instead of biased to
 * unsigned, and the high nibbles of Q4_0 / Q4_K are always shifted down (the VNNI decode step
 * keeps them in place, 16 times their value). Every path computes the same integers, and the
 * float steps are the same: AVX2 and VNNI give identical bits. */
#include "kernels/kernels-impl.h"

#include <immintrin.h>
#include <string.h>

#include "gemm-interleaved-impl.h"
#ifndef GI_AVXVNNI
#define GI_AVXVNNI 0
#endif
#if GI_VNNI
#if GI_AVXVNNI
#define B8_AVXVNNI /* block8-vnni.h's VEX encoding */
#define GI_DPBUSD  _mm256_dpbusd_avx_epi32
#else
#define GI_DPBUSD _mm256_dpbusd_epi32
#endif
#include "block8-vnni.h"
#endif

#define GI_INLINE   GI_TARGET static inline __attribute__((always_inline))
#define GI_UNROLL   _Pragma("GCC unroll 16")
#define GI_PREFETCH 384

/* 4 activation bytes at p in every dword */
GI_INLINE __m256i gi_bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* acc + the sums of 4 products u * s per dword (u unsigned, s signed; u * s pairs must fit int16
 * with AVX2) */
GI_INLINE __m256i gi_dot4(__m256i acc, __m256i u, __m256i s)
{
#if GI_VNNI
    return GI_DPBUSD(acc, u, s);
#else
    return _mm256_add_epi32(acc,
                            _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

#if GI_VNNI
#define GI_BLOCK8 b8_block8
#else
/* b8_block8 (block8-vnni.h) with AVX2: one weight block of 8 transposed rows against block b of
 * TN tokens. Q8_0 (kind 0) arrives signed: sum(|w| sign(x, w)) = sum(w x). Q4_0 / Q5_0 nibbles
 * are w + 8 / w + 16, their offset s8 / 2 s8 from the activation record, their products summed
 * in int16 (all 8 for Q4_0, two halves of 4 for Q5_0) before one madd. hi16 is unused. */
GI_INLINE void gi_block8(const int TN, const int kind, const int hi16, const __m256i *wt, __m256 dw,
                         const reeli_q8x *x, int64_t xs, int64_t b, __m256 *acc)
{
    (void)hi16;
    const __m256i one = _mm256_set1_epi16(1);
    __m256i aw[8];
    if (kind == 0) {
        GI_UNROLL
        for (int k = 0; k < 8; k++) aw[k] = _mm256_sign_epi8(wt[k], wt[k]);
    }
    GI_UNROLL
    for (int j = 0; j < TN; j++) {
        const reeli_q8x *xb = x + (size_t)j * (size_t)xs + b;
        __m256i a;
        if (kind == 0) {
            a = _mm256_setzero_si256();
            GI_UNROLL
            for (int k = 0; k < 8; k++)
                a = gi_dot4(a, aw[k], _mm256_sign_epi8(gi_bcast4(xb->qs + 4 * k), wt[k]));
        } else if (kind == 1) {
            __m256i s = _mm256_maddubs_epi16(wt[0], gi_bcast4(xb->qs));
            GI_UNROLL
            for (int k = 1; k < 8; k++)
                s = _mm256_add_epi16(s, _mm256_maddubs_epi16(wt[k], gi_bcast4(xb->qs + 4 * k)));
            a = _mm256_add_epi32(_mm256_madd_epi16(s, one), _mm256_set1_epi32(xb->s8));
        } else {
            __m256i lo = _mm256_maddubs_epi16(wt[0], gi_bcast4(xb->qs));
            __m256i hi = _mm256_maddubs_epi16(wt[4], gi_bcast4(xb->qs + 16));
            GI_UNROLL
            for (int k = 1; k < 4; k++) {
                lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(wt[k], gi_bcast4(xb->qs + 4 * k)));
                hi = _mm256_add_epi16(
                    hi, _mm256_maddubs_epi16(wt[k + 4], gi_bcast4(xb->qs + 16 + 4 * k)));
            }
            a = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_madd_epi16(lo, one), _mm256_madd_epi16(hi, one)),
                _mm256_set1_epi32(2 * xb->s8));
        }
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_mul_ps(dw, _mm256_set1_ps(xb->d)),
                                 acc[j]);
    }
}
#define GI_BLOCK8 gi_block8
#endif

/* One block of a group of Q8_0_R8 (kind 0), Q4_0_R8 (1) or Q5_0_R8 (2) at p into the 8
 * transposed weight vectors b8_block8 takes (hi16 for a Q4_0 block of one token). */
GI_INLINE void r8_unpack(const int kind, const int hi16, const uint8_t *p, __m256i *wt)
{
    if (kind == 1) {
        const __m256i m4 = _mm256_set1_epi8(15), h4 = _mm256_set1_epi8((char)0xF0);
        GI_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k));
            wt[k] = _mm256_and_si256(v, m4);
            wt[k + 4] =
                hi16 ? _mm256_and_si256(v, h4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    } else if (kind == 2) {
        /* Q5_0_R8: the 8 rows' high-bit words (repack.c) at 16, then the nibbles at 48; bit
         * k of byte i of a word is element 4k + i's fifth bit, bit 4 + k element 16 + 4k +
         * i's, so one shift per dword k puts them at bit 4 of their byte */
        const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        GI_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * k));
            wt[k] = _mm256_or_si256(_mm256_and_si256(v, m4),
                                    _mm256_and_si256(_mm256_slli_epi32(qh, 4 - k), b4));
            wt[k + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi32(qh, k), b4));
        }
    } else {
        /* VNNI: biased to unsigned for dpbusd; AVX2: signed (gi_block8) */
        GI_UNROLL
        for (int k = 0; k < 8; k++)
            wt[k] = GI_VNNI
                        ? _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k)),
                                           _mm256_set1_epi8(-128))
                        : _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k));
    }
}

/* TN tokens against one group of Q8_0_R8 / Q4_0_R8 / Q5_0_R8: per block the 8 f16 scales, then
 * dword k of every row side by side; bs is the stride of the group's blocks (a pair's blocks
 * alternate). Row i's result is bit-identical to the row-major 8-row tile on the plain layout. */
GI_INLINE void tile_r8(const int TN, const int kind, const uint8_t *w, size_t bs,
                       const reeli_q8x *x, int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = GI_VNNI && TN == 1 && kind == 1;
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * bs;
        /* a batch prefetches the next blocks; one token does not: its stream is the hardware
         * prefetcher's alone, which keeps the decode step closer to the memory bandwidth */
        if (TN > 1)
            for (size_t o = 0; o < sb; o += 64)
                _mm_prefetch((const char *)p + 4 * GI_PREFETCH * bs / sb + o, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i wt[8];
        r8_unpack(kind, hi16, p, wt);
        GI_BLOCK8(TN, kind, hi16, wt, dw, x, xs, b, acc);
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q4_K_R8 (see repack.c): per super-block of a group of 8 rows the 8 d, the 8 dmin, per block
 * j the rows' 6-bit scale and min (12 bytes), then the 4 chunks of 64 elements as dwords of
 * the 8 rows side by side (low nibbles block 2c, high nibbles block 2c + 1). Per block and
 * token: 8 dpbusd (exact int32 sum(u q) per row lane), then
 *   acc += (d sc_j dx) sum(u q) - (dmin m_j) (dx sum(q): the activation block's ds) */
GI_INLINE void tile_q4_k_r8(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
                            int64_t nb, float *y, int64_t ys)
{
    const __m256i m4 = _mm256_set1_epi8(15), h4 = _mm256_set1_epi8((char)0xF0);
    const __m256i m6 = _mm256_set1_epi32(63);
    const __m256i m15 = _mm256_set1_epi32(15), nib = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const uint8_t *p = w + (size_t)sb * 1152;
        /* a batch prefetches the next super-block; one token leaves its stream to the hardware
         * prefetcher (faster at the decode step here, as for tile_r8) */
        if (TN > 1)
            for (size_t o = 0; o < 1152; o += 64)
                _mm_prefetch((const char *)p + 1152 + o, _MM_HINT_T0);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        GI_UNROLL
        for (int j = 0; j < 8; j++) {
            const uint8_t *sp = p + 32 + 12 * j;
            const __m256i a8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sp));
            uint32_t mb;
            memcpy(&mb, sp + 8, 4);
            const __m256i mh =
                _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)mb), nib), m15);
            const __m256 fd = _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_and_si256(a8, m6)));
            const __m256 fm =
                _mm256_mul_ps(mv, _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_slli_epi32(mh, 2),
                                                                     _mm256_srli_epi32(a8, 6))));
            const uint8_t *q = p + 128 + 256 * (j / 2);
            /* one token: the high nibbles stay in place (16 times their value, undone by one
             * exact shift of the sum) and the 8 dpbusd run as two chains of 4 */
            const int hi16 = GI_VNNI && TN == 1 && (j & 1);
            __m256i wt[8];
            GI_UNROLL
            for (int k = 0; k < 8; k++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
                wt[k] = hi16    ? _mm256_and_si256(v, h4)
                        : j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)
                                : _mm256_and_si256(v, m4);
            }
            GI_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a = _mm256_setzero_si256();
                if (!GI_VNNI) {
                    /* nibbles: the 8 maddubs fit int16 (8 * 2 * 15 * 128), one madd after */
                    __m256i s16 = _mm256_maddubs_epi16(wt[0], gi_bcast4(xb->qs));
                    GI_UNROLL
                    for (int k = 1; k < 8; k++)
                        s16 = _mm256_add_epi16(
                            s16, _mm256_maddubs_epi16(wt[k], gi_bcast4(xb->qs + 4 * k)));
                    a = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
                } else if (TN == 1) {
                    __m256i a1 = _mm256_setzero_si256();
                    GI_UNROLL
                    for (int k = 0; k < 4; k++) {
                        a = gi_dot4(a, wt[k], gi_bcast4(xb->qs + 4 * k));
                        a1 = gi_dot4(a1, wt[k + 4], gi_bcast4(xb->qs + 16 + 4 * k));
                    }
                    a = _mm256_add_epi32(a, a1);
                    if (hi16) a = _mm256_srai_epi32(a, 4);
                } else {
                    GI_UNROLL
                    for (int k = 0; k < 8; k++) a = gi_dot4(a, wt[k], gi_bcast4(xb->qs + 4 * k));
                }
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a),
                                         _mm256_mul_ps(fd, _mm256_set1_ps(xb->d)), acc[t]);
                acc[t] = _mm256_fnmadd_ps(fm, _mm256_set1_ps(xb->ds), acc[t]);
            }
        }
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q6_K_R8 (see repack.c): per super-block of a group of 8 rows the 8 d, the int8 scales as
 * [16-element group][row], the low 4 bits (ql) as 4 chunks and the high 2 bits (qh) as 2
 * halves of dwords of the 8 rows side by side. Block j = 4n + jj (n the half of 128) takes the
 * low (jj < 2) or high nibbles of ql chunk 2n + (jj & 1) and bits 2jj, 2jj + 1 of qh half n:
 * u = w + 32 in 0..63. Per 16-element group dpbusd starts from -32 sum(q) of that group (the
 * activation block's h16), so a0, a1 = sum((u - 32) q) exactly; then
 *   acc += d dx (sc0 a0 + sc1 a1)                              (int32, exact) */
GI_INLINE void tile_q6_k_r8(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
                            int64_t nb, float *y, int64_t ys)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const uint8_t *p = w + (size_t)sb * 1680;
        /* a batch prefetches the next super-block into L1; one token the fourth one ahead into
         * L2: the decode step reads this layout's two streams (ql, qh) faster that way, twice as
         * fast as with the next one into L1 on the AVX2 and AVX-512 machines measured */
        if (TN > 1)
            for (size_t o = 0; o < 1680; o += 64)
                _mm_prefetch((const char *)p + 1680 + o, _MM_HINT_T0);
        else
            for (size_t o = 0; o < 1680; o += 64)
                _mm_prefetch((const char *)p + 4 * 1680 + o, _MM_HINT_T1);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        GI_UNROLL
        for (int j = 0; j < 8; j++) {
            const int n = j / 4, jj = j % 4;
            const __m256i sc0 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j)));
            const __m256i sc1 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j + 8)));
            const uint8_t *ql = p + 144 + 256 * (2 * n + (jj & 1)), *qh = p + 1168 + 256 * n;
            __m256i wt[8];
            GI_UNROLL
            for (int k = 0; k < 8; k++) {
                const __m256i l = _mm256_loadu_si256((const __m256i *)(ql + 32 * k));
                const __m256i h = _mm256_loadu_si256((const __m256i *)(qh + 32 * k));
                const __m256i hs = jj == 0   ? _mm256_slli_epi16(h, 4)
                                   : jj == 1 ? _mm256_slli_epi16(h, 2)
                                   : jj == 2 ? h
                                             : _mm256_srli_epi16(h, 2);
                wt[k] = _mm256_or_si256(_mm256_and_si256(jj < 2 ? l : _mm256_srli_epi16(l, 4), m4),
                                        _mm256_and_si256(hs, m30));
            }
            GI_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a0 = _mm256_set1_epi32(-32 * xb->h16[0]);
                __m256i a1 = _mm256_set1_epi32(-32 * xb->h16[1]);
                GI_UNROLL
                for (int k = 0; k < 4; k++) {
                    a0 = gi_dot4(a0, wt[k], gi_bcast4(xb->qs + 4 * k));
                    a1 = gi_dot4(a1, wt[k + 4], gi_bcast4(xb->qs + 16 + 4 * k));
                }
                const __m256i a =
                    _mm256_add_epi32(_mm256_mullo_epi32(a0, sc0), _mm256_mullo_epi32(a1, sc1));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a),
                                         _mm256_mul_ps(dv, _mm256_set1_ps(xb->d)), acc[t]);
            }
        }
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* One token over a pair of groups of Q8_0_R8 / Q4_0_R8 / Q5_0_R8 (see repack.c): the two
 * groups' blocks b side by side at w + 2 sb b. Each group goes through tile_r8's one-token
 * b8_block8 (bit-identical results), but one stream of weights feeds 16 rows and the 8
 * activation broadcasts of a block serve both groups, which keeps the decode step closer to the
 * memory bandwidth than two streams of 8 rows. */
GI_INLINE void tile_r16(const int kind, const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = GI_VNNI && kind == 1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * 2 * sb, *q = p + sb;
        __m256i wa[8], wb[8];
        r8_unpack(kind, hi16, p, wa);
        r8_unpack(kind, hi16, q, wb);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)q));
        /* inlined twice over the same activation block: the compiler loads its broadcasts once */
        GI_BLOCK8(1, kind, hi16, wa, d0, x, 0, b, &acc0);
        GI_BLOCK8(1, kind, hi16, wb, d1, x, 0, b, &acc1);
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

/* The tiles as functions the driver calls through tables: gemv_*_r16(w, x, nb, y) one token
 * against a pair of groups; the rest fn(w, bs, x, xs, nb, y, ys), bs the block stride for
 * tile_r8 (a group's blocks are 2 apart in a pair), unused by the K types. */
#define GI_R16(name, kind)                                                                         \
    GI_TARGET static void name(const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y)         \
    {                                                                                              \
        tile_r16(kind, w, x, nb, y);                                                               \
    }
#define GI_R8(name, tn, kind)                                                                      \
    GI_TARGET static void name(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs,        \
                               int64_t nb, float *y, int64_t ys)                                   \
    {                                                                                              \
        tile_r8(tn, kind, w, bs, x, xs, nb, y, ys);                                                \
    }
#define GI_R8K(name, fn, tn)                                                                       \
    GI_TARGET static void name(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs,        \
                               int64_t nb, float *y, int64_t ys)                                   \
    {                                                                                              \
        (void)bs;                                                                                  \
        fn(tn, w, x, xs, nb, y, ys);                                                               \
    }
GI_R16(gemv_q8_0_q8_r16, 0)
GI_R16(gemv_q4_0_q8_r16, 1)
GI_R16(gemv_q5_0_q8_r16, 2)
GI_R8(gemv_q8_0_q8_r8, 1, 0)
GI_R8(gemv_q4_0_q8_r8, 1, 1)
GI_R8(gemv_q5_0_q8_r8, 1, 2)
GI_R8(gemm_q8_0_q8_r8x16, GI_TN, 0)
GI_R8(gemm_q4_0_q8_r8x16, GI_TN, 1)
GI_R8(gemm_q5_0_q8_r8x16, GI_TN, 2)
GI_R8(gemm_q8_0_q8_r8x4, 4, 0)
GI_R8(gemm_q4_0_q8_r8x4, 4, 1)
GI_R8(gemm_q5_0_q8_r8x4, 4, 2)
GI_R8K(gemv_q4_k_q8_r8, tile_q4_k_r8, 1)
GI_R8K(gemm_q4_k_q8_r8x16, tile_q4_k_r8, GI_TN)
GI_R8K(gemv_q6_k_q8_r8, tile_q6_k_r8, 1)
GI_R8K(gemm_q6_k_q8_r8x16, tile_q6_k_r8, GI_TN)
GI_R8K(gemm_q4_k_q8_r8x4, tile_q4_k_r8, 4)
GI_R8K(gemm_q6_k_q8_r8x4, tile_q6_k_r8, 4)
#undef GI_R8K
#undef GI_R8
#undef GI_R16

const gi_tiles GI_TABLE = {
    .gemm_r8x16 = {gemm_q8_0_q8_r8x16, gemm_q4_0_q8_r8x16, gemm_q5_0_q8_r8x16, gemm_q4_k_q8_r8x16,
                   gemm_q6_k_q8_r8x16},
    .gemm_r8x4 = {gemm_q8_0_q8_r8x4, gemm_q4_0_q8_r8x4, gemm_q5_0_q8_r8x4, gemm_q4_k_q8_r8x4,
                  gemm_q6_k_q8_r8x4},
    .gemv_r8 = {gemv_q8_0_q8_r8, gemv_q4_0_q8_r8, gemv_q5_0_q8_r8, gemv_q4_k_q8_r8,
                gemv_q6_k_q8_r8},
    .gemv_r16 = {gemv_q8_0_q8_r16, gemv_q4_0_q8_r16, gemv_q5_0_q8_r16},
};
