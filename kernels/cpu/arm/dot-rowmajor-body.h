/* The row-major Q8_0 / Q4_0 / Q5_0 integer-dot body of the NEON and SDOT levels, compiled once per
 * level by dot-rowmajor-neon.c and dot-rowmajor-dotprod.c, which define before including it:
 *   REELI_ARM_FN             the function's name (declared in kernels-impl.h)
 *   REELI_ARM_ATTR           its target attribute (empty for plain NEON)
 *   dot16(acc, w, a)         acc (int32x4) plus the 16 products w[i] a[i], summed within lanes
 * Each weight block is decoded once for up to 4 tokens. Every level computes the same numbers
 * the same way, so they give the same bits (the i8mm one too, dot-rowmajor-i8mm.c): per token
 * and block the 32 products summed exactly in int32, converted exactly (|sum| <= 2^19), and
 * added by one fused multiply-add with the fp32 product d_w d_x, block after block, from 0.
 * An output depends only on its row and token, never on the thread split or on the batch. */
#include "block-decode.h"

#include <math.h>

#define REELI_ARM_CAT2(a, b) a##b
#define REELI_ARM_CAT(a, b)  REELI_ARM_CAT2(a, b)
#define REELI_ARM_BODY       REELI_ARM_CAT(REELI_ARM_FN, _kind)

/* the body for one weight kind, a constant where inlined (no per-block test of the type) */
REELI_ARM_ATTR static inline __attribute__((always_inline)) void
REELI_ARM_BODY(const reeli_neon_qctx *c, int64_t r0, int64_t r1, const int kind)
{
    const int64_t nb = c->n_in / 32;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = c->w + (size_t)r * c->rb;
        if (c->T == 1) { /* one token (decode): the same fmas, without the 4-token lanes */
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t w0, w1;
                const float dw = reeli_arm_block(row, kind, b, &w0, &w1);
                const reeli_q8a *xb = c->xq + b;
                const int32x4_t s =
                    dot16(dot16(vdupq_n_s32(0), w0, vld1q_s8(xb->qs)), w1, vld1q_s8(xb->qs + 16));
                acc = fmaf((float)vaddvq_s32(s), xb->d * dw, acc);
            }
            c->y[r] = acc;
            continue;
        }
        for (int64_t t0 = 0; t0 < c->T; t0 += 4) {
            const int nt = c->T - t0 < 4 ? (int)(c->T - t0) : 4;
            const reeli_q8a *xt = c->xq + t0 * nb;
            float32x4_t acc = vdupq_n_f32(0); /* lane j: token t0 + j */
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t w0, w1;
                const float dw = reeli_arm_block(row, kind, b, &w0, &w1);
                int32x4_t s[4];
                float dx[4] = {0, 0, 0, 0};
                for (int j = 0; j < 4; j++) {
                    s[j] = vdupq_n_s32(0);
                    if (j >= nt) continue;
                    const reeli_q8a *xb = xt + j * nb + b;
                    s[j] = dot16(dot16(s[j], w0, vld1q_s8(xb->qs)), w1, vld1q_s8(xb->qs + 16));
                    dx[j] = xb->d;
                }
                const int32x4_t sum = vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3]));
                acc = vfmaq_f32(acc, vcvtq_f32_s32(sum), vmulq_n_f32(vld1q_f32(dx), dw));
            }
            float out[4];
            vst1q_f32(out, acc);
            for (int j = 0; j < nt; j++) c->y[(t0 + j) * c->n_out + r] = out[j];
        }
    }
}

REELI_ARM_ATTR void REELI_ARM_FN(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int kind = reeli_arm_kind(c->wtype);
    if (kind == REELI_ARM_Q4_0)
        REELI_ARM_BODY(c, r0, r1, REELI_ARM_Q4_0);
    else if (kind == REELI_ARM_Q5_0)
        REELI_ARM_BODY(c, r0, r1, REELI_ARM_Q5_0);
    else
        REELI_ARM_BODY(c, r0, r1, REELI_ARM_Q8_0);
}
#undef REELI_ARM_BODY
