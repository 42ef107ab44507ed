/* The interleaved Q8_0_R8 / Q4_0_R8 / Q5_0_R8 matmul with SDOT by lane (Armv8.2 dotprod): the
 * layouts of kernels/cpu/repack.c, where a block of a group of 8 rows holds the rows' 8 scales and
 * then, for each dword k of the block, the 8 rows' dwords side by side. One 16-byte load is 4 rows'
 * dword k; SDOT by lane multiplies each by the token's dword k (lane k % 4 of its first or second
 * 16 activation bytes), so 2 SDOT advance 8 row dots by 4 products with no horizontal sums, and
 * the scales meet the sums as vectors. Each weight block is decoded once for up to 4 tokens.
 *
 * The numbers are those of the row-major bodies (dot-rowmajor-body.h): per row, token and block
 * the 32 products summed exactly in int32 (Q4_0 / Q5_0 offsets applied to the weights first),
 * converted exactly, and added by one fused multiply-add with the fp32 product d_w d_x, block
 * after block from 0; so every output has the bits of the row-major kernels at every level.
 * Threads split the groups of 8 rows. */
#if defined(__aarch64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <arm_neon.h>
#include <stdlib.h>

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

enum { NT = 4 }; /* tokens per pass over a group's blocks */

typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const reeli_q8a *xq;
    int64_t nb, n_out, T, groups;
    size_t sb; /* bytes of one group's block */
} r8_ctx;

/* Group g's block b: two groups' blocks side by side, an odd last group alone (repack.c). */
static inline const uint8_t *group_block(const r8_ctx *c, int64_t g, int64_t b)
{
    if ((g ^ 1) < c->groups)
        return c->w + (size_t)(g & ~(int64_t)1) * (size_t)c->nb * c->sb + (size_t)b * 2 * c->sb +
               (size_t)(g & 1) * c->sb;
    return c->w + (size_t)g * (size_t)c->nb * c->sb + (size_t)b * c->sb;
}

/* The block's weights as signed bytes: w[2k + q] = dword k of rows 4q..4q+3 (Q8_0: k = 0..7;
 * Q4_0 / Q5_0: k = 0..3 the low nibbles, elements 4k + e; k = 4..7 the high ones, elements
 * 16 + 4(k - 4) + e). */
DOTPROD static inline void decode(reel_dtype t, const uint8_t *d, int8x16_t w[16])
{
    if (t == REEL_DTYPE_Q8_0_R8) {
        for (int i = 0; i < 16; i++) w[i] = vld1q_s8((const int8_t *)d + 16 + 16 * i);
        return;
    }
    const uint8_t *qs = d + (t == REEL_DTYPE_Q5_0_R8 ? 48 : 16);
    const uint8x16_t m4 = vdupq_n_u8(15);
    for (int q = 0; q < 2; q++) {
        /* Q5_0: byte e of row i's high-bit word holds bit k = the fifth bit of element 4k + e,
         * bit 4 + k that of element 16 + 4k + e: the 16 bytes of rows 4q..4q+3 line up with
         * the quant dwords */
        const uint8x16_t hb = t == REEL_DTYPE_Q5_0_R8 ? vld1q_u8(d + 16 + 16 * q) : vdupq_n_u8(0);
        const int8x16_t off = vdupq_n_s8(t == REEL_DTYPE_Q5_0_R8 ? 16 : 8);
        for (int k = 0; k < 4; k++) {
            const uint8x16_t v = vld1q_u8(qs + 32 * k + 16 * q);
            uint8x16_t lo = vandq_u8(v, m4), hi = vshrq_n_u8(v, 4);
            if (t == REEL_DTYPE_Q5_0_R8) {
                const uint8x16_t b4 = vdupq_n_u8(16);
                lo = vorrq_u8(lo, vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)(4 - k))), b4));
                hi = vorrq_u8(hi, vandq_u8(vshlq_u8(hb, vdupq_n_s8((int8_t)-k)), b4));
            }
            w[2 * k + q] = vsubq_s8(vreinterpretq_s8_u8(lo), off);
            w[2 * (k + 4) + q] = vsubq_s8(vreinterpretq_s8_u8(hi), off);
        }
    }
}

/* sums of rows 4q..4q+3 with one token's 32 bytes (a0: 0..15, a1: 16..31); Q8_0's dword k is
 * elements 4k..4k+3, the nibble layouts' w[2k + q] the same elements (k < 4) or 16 + ... */
DOTPROD static inline int32x4_t dot_rows(const int8x16_t w[16], int q, int8x16_t a0, int8x16_t a1)
{
    int32x4_t s = vdupq_n_s32(0);
    s = vdotq_laneq_s32(s, w[0 + q], a0, 0);
    s = vdotq_laneq_s32(s, w[2 + q], a0, 1);
    s = vdotq_laneq_s32(s, w[4 + q], a0, 2);
    s = vdotq_laneq_s32(s, w[6 + q], a0, 3);
    s = vdotq_laneq_s32(s, w[8 + q], a1, 0);
    s = vdotq_laneq_s32(s, w[10 + q], a1, 1);
    s = vdotq_laneq_s32(s, w[12 + q], a1, 2);
    return vdotq_laneq_s32(s, w[14 + q], a1, 3);
}

DOTPROD static void r8_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const r8_ctx *c = arg;
    for (int64_t g = begin; g < end; g++) {
        for (int64_t t0 = 0; t0 < c->T; t0 += NT) {
            const int nt = c->T - t0 < NT ? (int)(c->T - t0) : NT;
            float32x4_t acc[NT][2];
            for (int j = 0; j < NT; j++) acc[j][0] = acc[j][1] = vdupq_n_f32(0);
            for (int64_t b = 0; b < c->nb; b++) {
                const uint8_t *d = group_block(c, g, b);
                const uint16x8_t h = vld1q_u16((const uint16_t *)d);
                const float32x4_t dw0 = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
                const float32x4_t dw1 = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
                int8x16_t w[16];
                decode(c->wtype, d, w);
                for (int j = 0; j < nt; j++) {
                    const reeli_q8a *xb = c->xq + (t0 + j) * c->nb + b;
                    const int8x16_t a0 = vld1q_s8(xb->qs), a1 = vld1q_s8(xb->qs + 16);
                    acc[j][0] = vfmaq_f32(acc[j][0], vcvtq_f32_s32(dot_rows(w, 0, a0, a1)),
                                          vmulq_n_f32(dw0, xb->d));
                    acc[j][1] = vfmaq_f32(acc[j][1], vcvtq_f32_s32(dot_rows(w, 1, a0, a1)),
                                          vmulq_n_f32(dw1, xb->d));
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

int reeli_neon_gemm_r8(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T)
{
    if (wtype != REEL_DTYPE_Q8_0_R8 && wtype != REEL_DTYPE_Q4_0_R8 && wtype != REEL_DTYPE_Q5_0_R8)
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: no interleaved NEON kernel for type %d",
                              (int)wtype);
    if (!reel_kernels_cpu()->dotprod)
        return reel_set_error(REEL_EUNSUPPORTED,
                              "matmul: interleaved weights need a CPU with dotprod (SDOT)");
    if (n_in % 32 || n_out % 8)
        return reel_set_error(REEL_EINVAL,
                              "matmul: interleaved weights need rows of whole blocks and a "
                              "multiple of 8 rows (got %lld x %lld)",
                              (long long)n_out, (long long)n_in);
    if (T <= 0 || n_out <= 0) return 0;
    const int64_t nb = n_in / 32;
    reeli_q8a *xq = reeli_neon_quantize_tokens(pool, x, n_in, T);
    const size_t sb = wtype == REEL_DTYPE_Q8_0_R8 ? 272 : wtype == REEL_DTYPE_Q4_0_R8 ? 144 : 176;
    r8_ctx c = {y, w, wtype, xq, nb, n_out, T, n_out / 8, sb};
    reel_pool_parallel_for(pool, c.groups, r8_body, &c);
    free(xq);
    return 0;
}
#endif
