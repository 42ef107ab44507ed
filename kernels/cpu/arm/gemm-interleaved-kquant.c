/* The interleaved Q4_K_R8 / Q6_K_R8 matmul with SDOT by lane (Armv8.2 dotprod): the layouts of
 * kernels/cpu/repack.c (put_q4_k, put_q6_k), where a super-block of a group of 8 rows holds the
 * rows' factors and then, for each 32-byte chunk of quants, the 8 rows' dwords side by side. As in
 * gemm-interleaved.c, a 16-byte load is 4 rows' dword k (elements 4k..4k+3 of a 32-block) and
 * SDOT by lane multiplies it by the token's dword k; a block's 6-bit scales and minimums (Q4_K)
 * or int8 scales (Q6_K) of the 8 rows are widened as vectors.
 *
 * The numbers are those of the row-major K-quant bodies (dot-kquant-body.h): per row, token and
 * 32-block the exact integer sums (Q4_K: of the block, and of the token's activations; Q6_K: of
 * each half of 16, the offset 32 inside the integers), each meeting one fused multiply-add with
 * the fp32 product of its exact factor (d sc, -dmin m, d scale) and d_x, in the same order; so
 * every output has the bits of the row-major kernels at every level. Threads split the groups. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <arm_neon.h>
#include <stdlib.h>

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

enum { NT = 4 };                 /* tokens per pass over a group's blocks */
enum { SB4 = 1152, SB6 = 1680 }; /* bytes of a group's super-block: 8 x 144, 8 x 210 */

typedef struct {
    float *y;
    const uint8_t *w;
    int q6;
    const reeli_q8a *xq;
    int64_t nsb, n_out, T; /* super-blocks a row */
} rk_ctx;

/* sums of rows 4q..4q+3 over elements 4k..4k+3, k in [k0, k0 + 4), with the token's dwords in a */
DOTPROD static inline int32x4_t dot4(const int8x16_t w[16], int q, int k0, int8x16_t a)
{
    int32x4_t s = vdupq_n_s32(0);
    s = vdotq_laneq_s32(s, w[2 * k0 + q], a, 0);
    s = vdotq_laneq_s32(s, w[2 * k0 + 2 + q], a, 1);
    s = vdotq_laneq_s32(s, w[2 * k0 + 4 + q], a, 2);
    return vdotq_laneq_s32(s, w[2 * k0 + 6 + q], a, 3);
}

/* 8 unsigned bytes as two float vectors (rows 0..3, 4..7) */
static inline void u8_to_f32(uint8x8_t v, float32x4_t *lo, float32x4_t *hi)
{
    const uint16x8_t h = vmovl_u8(v);
    *lo = vcvtq_f32_u32(vmovl_u16(vget_low_u16(h)));
    *hi = vcvtq_f32_u32(vmovl_u16(vget_high_u16(h)));
}

static inline void f16x8_to_f32(const uint8_t *p, float32x4_t *lo, float32x4_t *hi)
{
    const uint16x8_t h = vld1q_u16((const uint16_t *)p);
    *lo = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
    *hi = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
}

DOTPROD static void rk_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const rk_ctx *c = arg;
    const size_t SB = c->q6 ? SB6 : SB4;
    const int64_t nb = c->nsb * 8;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    for (int64_t g = begin; g < end; g++) {
        for (int64_t t0 = 0; t0 < c->T; t0 += NT) {
            const int nt = c->T - t0 < NT ? (int)(c->T - t0) : NT;
            float32x4_t acc[NT][2];
            for (int j = 0; j < NT; j++) acc[j][0] = acc[j][1] = vdupq_n_f32(0);
            for (int64_t s = 0; s < c->nsb; s++) {
                const uint8_t *d = c->w + ((size_t)g * (size_t)c->nsb + (size_t)s) * SB;
                float32x4_t dd[2], dm[2] = {vdupq_n_f32(0), vdupq_n_f32(0)};
                f16x8_to_f32(d, &dd[0], &dd[1]);
                if (!c->q6) f16x8_to_f32(d + 16, &dm[0], &dm[1]);
                for (int jb = 0; jb < 8; jb++) {
                    int8x16_t w[16]; /* w[2k + q]: dword k of rows 4q..4q+3, as integers */
                    float32x4_t A0[2], A1[2], B[2];
                    if (!c->q6) {
                        /* per row: scale | (min & 3) << 6, then min >> 2 as nibbles */
                        const uint8_t *f = d + 32 + 12 * jb;
                        const uint8x8_t v = vld1_u8(f), nb8 = vld1_u8(f + 8);
                        static const uint8_t pick[8] = {0, 0, 1, 1, 2, 2, 3, 3};
                        static const int8_t shr[8] = {0, -4, 0, -4, 0, -4, 0, -4};
                        const uint8x8_t nib = vand_u8(
                            vshl_u8(vtbl1_u8(nb8, vld1_u8(pick)), vld1_s8(shr)), vdup_n_u8(15));
                        const uint8x8_t sc = vand_u8(v, vdup_n_u8(63));
                        const uint8x8_t mn = vorr_u8(vshr_n_u8(v, 6), vshl_n_u8(nib, 2));
                        float32x4_t scf[2], mf[2];
                        u8_to_f32(sc, &scf[0], &scf[1]);
                        u8_to_f32(mn, &mf[0], &mf[1]);
                        for (int q = 0; q < 2; q++) {
                            A0[q] = A1[q] = vmulq_f32(dd[q], scf[q]);
                            B[q] = vnegq_f32(vmulq_f32(dm[q], mf[q]));
                        }
                        const uint8_t *qs = d + 128 + 256 * (jb / 2);
                        for (int i = 0; i < 16; i++) {
                            const uint8x16_t raw = vld1q_u8(qs + 16 * i);
                            w[i] = vreinterpretq_s8_u8(jb & 1 ? vshrq_n_u8(raw, 4)
                                                              : vandq_u8(raw, m4));
                        }
                    } else {
                        const int n = jb / 4, jj = jb % 4;
                        /* the int8 scales of the block's two halves of 16, rows side by side */
                        const int8x8_t s0 = vld1_s8((const int8_t *)d + 16 + 16 * jb);
                        const int8x8_t s1 = vld1_s8((const int8_t *)d + 24 + 16 * jb);
                        const int16x8_t w0 = vmovl_s8(s0), w1 = vmovl_s8(s1);
                        for (int q = 0; q < 2; q++) {
                            const int16x4_t h0 = q ? vget_high_s16(w0) : vget_low_s16(w0);
                            const int16x4_t h1 = q ? vget_high_s16(w1) : vget_low_s16(w1);
                            A0[q] = vmulq_f32(dd[q], vcvtq_f32_s32(vmovl_s16(h0)));
                            A1[q] = vmulq_f32(dd[q], vcvtq_f32_s32(vmovl_s16(h1)));
                            B[q] = vdupq_n_f32(0);
                        }
                        const uint8_t *ql = d + 144 + 256 * (2 * n + (jj & 1));
                        const uint8_t *qh = d + 1168 + 256 * n;
                        const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * jj));
                        for (int i = 0; i < 16; i++) {
                            const uint8x16_t l = vld1q_u8(ql + 16 * i), h = vld1q_u8(qh + 16 * i);
                            const uint8x16_t lo = jj < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
                            const uint8x16_t hi = vshlq_n_u8(vandq_u8(vshlq_u8(h, shift), m3), 4);
                            w[i] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), vdupq_n_s8(32));
                        }
                    }
                    for (int j = 0; j < nt; j++) {
                        const reeli_q8a *xb = c->xq + (t0 + j) * nb + s * 8 + jb;
                        const int8x16_t a0 = vld1q_s8(xb->qs), a1 = vld1q_s8(xb->qs + 16);
                        for (int q = 0; q < 2; q++) {
                            const int32x4_t h0 = dot4(w, q, 0, a0), h1 = dot4(w, q, 4, a1);
                            if (c->q6) {
                                acc[j][q] = vfmaq_f32(acc[j][q], vcvtq_f32_s32(h0),
                                                      vmulq_n_f32(A0[q], xb->d));
                                acc[j][q] = vfmaq_f32(acc[j][q], vcvtq_f32_s32(h1),
                                                      vmulq_n_f32(A1[q], xb->d));
                            } else {
                                const float sq = (float)(vaddlvq_s8(a0) + vaddlvq_s8(a1));
                                acc[j][q] = vfmaq_f32(acc[j][q], vcvtq_f32_s32(vaddq_s32(h0, h1)),
                                                      vmulq_n_f32(A0[q], xb->d));
                                acc[j][q] = vfmaq_n_f32(acc[j][q], vmulq_n_f32(B[q], xb->d), sq);
                            }
                        }
                    }
                }
            }
            for (int j = 0; j < nt; j++) {
                float *y = c->y + (t0 + j) * c->n_out + 8 * g;
                vst1q_f32(y, acc[j][0]);
                vst1q_f32(y + 4, acc[j][1]);
            }
        }
    }
}

int reeli_neon_gemm_r8_kquant(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                              const float *x, int64_t n_in, int64_t n_out, int64_t T)
{
    if (wtype != REEL_DTYPE_Q4_K_R8 && wtype != REEL_DTYPE_Q6_K_R8)
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: no interleaved NEON kernel for type %d",
                              (int)wtype);
    if (!reel_kernels_cpu()->dotprod)
        return reel_set_error(REEL_EUNSUPPORTED,
                              "matmul: interleaved weights need a CPU with dotprod (SDOT)");
    if (n_in % 256 || n_out % 8)
        return reel_set_error(REEL_EINVAL,
                              "matmul: interleaved K-quant weights need rows of whole 256-element "
                              "super-blocks and a multiple of 8 rows (got %lld x %lld)",
                              (long long)n_out, (long long)n_in);
    if (T <= 0 || n_out <= 0) return 0;
    reeli_q8a *xq = reeli_neon_quantize_tokens(pool, x, n_in, T);
    rk_ctx c = {y, w, wtype == REEL_DTYPE_Q6_K_R8, xq, n_in / 256, n_out, T};
    reel_pool_parallel_for(pool, n_out / 8, rk_body, &c);
    free(xq);
    return 0;
}
#endif
