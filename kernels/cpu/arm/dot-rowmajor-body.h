/* The row-major Q8_0 / Q4_0 integer-dot body, compiled once per instruction level by
 * dot-rowmajor-neon.c and dot-rowmajor-dotprod.c, which define before including it:
 *   REELI_ARM_FN             the function's name (declared in kernels-impl.h)
 *   REELI_ARM_ATTR           its target attribute (empty for plain NEON)
 *   dot16(acc, w, a)         acc (int32x4) plus the 16 products w[i] a[i], summed within lanes
 * Each weight block is decoded once for up to NT tokens. Per token and block the 32 products are
 * summed exactly in int32 lanes, converted exactly (|lane| <= 8 * 128 * 128) and added to fp32
 * lanes by one fused multiply-add with d_w d_x: what the exact reference
 * (kernels/cpu/matmul-q8act.c) bounds. An output depends only on its row and token, never on
 * the thread split or on the batch around it. */
#include <arm_neon.h>
#include <string.h>

enum { NT = 4 }; /* tokens per pass over a row */

static inline float f16_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

REELI_ARM_ATTR void REELI_ARM_FN(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int64_t nb = c->n_in / 32;
    const int q4 = c->wtype == REEL_DTYPE_Q4_0;
    const uint8x16_t m4 = vdupq_n_u8(15);
    const int8x16_t s8 = vdupq_n_s8(8);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = c->w + (size_t)r * c->rb;
        for (int64_t t0 = 0; t0 < c->T; t0 += NT) {
            const int nt = c->T - t0 < NT ? (int)(c->T - t0) : NT;
            const reeli_q8a *xt = c->xq + t0 * nb;
            float32x4_t acc[NT];
            for (int j = 0; j < NT; j++) acc[j] = vdupq_n_f32(0);
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t w0, w1;
                float dw;
                if (q4) { /* element i is the low nibble of byte i, element 16 + i its high one */
                    const uint8_t *p = row + 18 * b;
                    const uint8x16_t v = vld1q_u8(p + 2);
                    dw = f16_at(p);
                    w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, m4)), s8);
                    w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), s8);
                } else {
                    const uint8_t *p = row + 34 * b;
                    dw = f16_at(p);
                    w0 = vld1q_s8((const int8_t *)p + 2);
                    w1 = vld1q_s8((const int8_t *)p + 18);
                }
                for (int j = 0; j < nt; j++) {
                    const reeli_q8a *xb = xt + j * nb + b;
                    int32x4_t s = dot16(vdupq_n_s32(0), w0, vld1q_s8(xb->qs));
                    s = dot16(s, w1, vld1q_s8(xb->qs + 16));
                    acc[j] = vfmaq_n_f32(acc[j], vcvtq_f32_s32(s), dw * xb->d);
                }
            }
            for (int j = 0; j < nt; j++) c->y[(t0 + j) * c->n_out + r] = vaddvq_f32(acc[j]);
        }
    }
}
