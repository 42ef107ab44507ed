/* One 32-block of 8 weight rows held transposed (row i in lane i) against Q8 activation blocks,
 * with AVX-512 VNNI: the step shared by the row-major 8-row tiles of Q8_0 / Q4_0
 * (dot-rowmajor-body.h, which transpose the rows on the fly) and the tiles of the interleaved
 * layouts (gemm-interleaved.c, which store them transposed). A header of always-inline
 * functions so that each tile keeps its own inlined copy. */
#ifndef REEL_KERNELS_X86_BLOCK8_VNNI_H
#define REEL_KERNELS_X86_BLOCK8_VNNI_H

#include "kernels/kernels-impl.h"

#include <immintrin.h>
#include <string.h>

#ifdef B8_AVXVNNI
#define B8_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define B8_DPBUSD _mm256_dpbusd_avx_epi32
#else
#define B8_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define B8_DPBUSD _mm256_dpbusd_epi32
#endif
#define B8_INLINE B8_TARGET static inline __attribute__((always_inline))
#define B8_UNROLL _Pragma("GCC unroll 16")

/* 4 activation bytes at p in every dword */
B8_INLINE __m256i b8_bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* One weight block of 8 transposed rows (wt, scales dw) against block b of TN tokens (xs blocks
 * apart): adds each token's 8 row results to acc[j]. kind 0 Q8_0, 1 Q4_0, 2 Q5_0. Q8_0 weights
 * arrive biased to unsigned (w + 128): dpbusd(-128 sum(x), w + 128, x) = sum(w x), with
 * -128 sum(x) = 16 s8 from the activation record. Q4_0 / Q5_0 nibbles are w + 8 / w + 16: the
 * offset is s8 / 2 s8. One token (TN = 1, the decode step) splits Q4_0's and Q5_0's 8 dpbusd
 * into two chains of 4 (half the latency), Q4_0's high nibbles still in place (16 times their
 * value: the sum is exactly divisible, so one arithmetic shift undoes it): with hi16 set,
 * wt[4..7] hold the bytes & 0xF0 instead of the shifted nibbles. */
B8_INLINE void b8_block8(const int TN, const int kind, const int hi16, const __m256i *wt, __m256 dw,
                         const reeli_q8x *x, int64_t xs, int64_t b, __m256 *acc)
{
    B8_UNROLL
    for (int j = 0; j < TN; j++) {
        const reeli_q8x *xb = x + (size_t)j * (size_t)xs + b;
        __m256i a;
        if (hi16) {
            __m256i lo = _mm256_set1_epi32(xb->s8), hi = _mm256_setzero_si256();
            B8_UNROLL
            for (int k = 0; k < 4; k++) {
                lo = B8_DPBUSD(lo, wt[k], b8_bcast4(xb->qs + 4 * k));
                hi = B8_DPBUSD(hi, wt[k + 4], b8_bcast4(xb->qs + 16 + 4 * k));
            }
            a = _mm256_add_epi32(lo, _mm256_srai_epi32(hi, 4));
        } else if (TN == 1 && kind == 2) {
            /* Q5_0's decode step: two chains of 4 (Q8_0's stays one chain: as fast) */
            __m256i lo = _mm256_set1_epi32(2 * xb->s8);
            __m256i hi = _mm256_setzero_si256();
            B8_UNROLL
            for (int k = 0; k < 4; k++) {
                lo = B8_DPBUSD(lo, wt[k], b8_bcast4(xb->qs + 4 * k));
                hi = B8_DPBUSD(hi, wt[k + 4], b8_bcast4(xb->qs + 16 + 4 * k));
            }
            a = _mm256_add_epi32(lo, hi);
        } else {
            a = _mm256_set1_epi32(kind == 2 ? 2 * xb->s8 : kind ? xb->s8 : 16 * xb->s8);
            B8_UNROLL
            for (int k = 0; k < 8; k++) a = B8_DPBUSD(a, wt[k], b8_bcast4(xb->qs + 4 * k));
        }
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_mul_ps(dw, _mm256_set1_ps(xb->d)),
                                 acc[j]);
    }
}

#undef B8_UNROLL
#undef B8_DPBUSD
#undef B8_INLINE
#undef B8_TARGET
#endif
