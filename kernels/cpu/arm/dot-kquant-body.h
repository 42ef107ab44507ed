/* The row-major Q4_K / Q6_K integer-dot body of the NEON and SDOT levels, included by
 * dot-rowmajor-neon.c and dot-rowmajor-dotprod.c after dot-rowmajor-body.h, with REELI_ARM_ATTR
 * and dot16 as there and REELI_ARM_KFN the function's name. A 32-block b of a row is read as
 * kernels/cpu/matmul-q8act.c reads it: integers k (Q4_K: a nibble; Q6_K: 6 bits minus 32, the
 * offset kept inside the integers) and per-16 factors A (and Q4_K's minimum B = -dmin m). Both
 * factors are exact in fp32 (an f16 times a 6-bit or 8-bit integer). Per token and block the
 * integer sums of each half (Q6_K: its two scales) or of the whole block and of the activations
 * (Q4_K: its minimum) are exact, and each meets one fused multiply-add with the fp32 product of
 * its factor and d_x: the same numbers at both levels, so the same bits. */
#include "block-decode.h"

#include <math.h>

REELI_ARM_ATTR void REELI_ARM_KFN(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int64_t nb = c->n_in / 32;
    const int q6 = c->wtype == REEL_DTYPE_Q6_K;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = c->w + (size_t)r * c->rb;
        if (c->T == 1) { /* one token (decode): the same fmas, without the 4-token lanes */
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t w0, w1;
                float A[2], B;
                reeli_arm_kblock(row, q6, b, &w0, &w1, A, &B);
                const reeli_q8a *xb = c->xq + b;
                const int8x16_t q0 = vld1q_s8(xb->qs), q1 = vld1q_s8(xb->qs + 16);
                const int32_t h0 = vaddvq_s32(dot16(vdupq_n_s32(0), w0, q0));
                const int32_t h1 = vaddvq_s32(dot16(vdupq_n_s32(0), w1, q1));
                if (q6) {
                    acc = fmaf((float)h0, xb->d * A[0], acc);
                    acc = fmaf((float)h1, xb->d * A[1], acc);
                } else {
                    acc = fmaf((float)(h0 + h1), xb->d * A[0], acc);
                    acc = fmaf((float)(vaddlvq_s8(q0) + vaddlvq_s8(q1)), xb->d * B, acc);
                }
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
                float A[2], B;
                reeli_arm_kblock(row, q6, b, &w0, &w1, A, &B);
                int32x4_t s0[4], s1[4];
                float dx[4] = {0, 0, 0, 0};
                int32_t sq[4] = {0, 0, 0, 0};
                for (int j = 0; j < 4; j++) {
                    s0[j] = s1[j] = vdupq_n_s32(0);
                    if (j >= nt) continue;
                    const reeli_q8a *xb = xt + j * nb + b;
                    const int8x16_t q0 = vld1q_s8(xb->qs), q1 = vld1q_s8(xb->qs + 16);
                    s0[j] = dot16(s0[j], w0, q0);
                    s1[j] = dot16(s1[j], w1, q1);
                    dx[j] = xb->d;
                    if (!q6) sq[j] = vaddlvq_s8(q0) + vaddlvq_s8(q1);
                }
                const float32x4_t dxv = vld1q_f32(dx);
                const int32x4_t h0 = vpaddq_s32(vpaddq_s32(s0[0], s0[1]), vpaddq_s32(s0[2], s0[3]));
                const int32x4_t h1 = vpaddq_s32(vpaddq_s32(s1[0], s1[1]), vpaddq_s32(s1[2], s1[3]));
                if (q6) {
                    acc = vfmaq_f32(acc, vcvtq_f32_s32(h0), vmulq_n_f32(dxv, A[0]));
                    acc = vfmaq_f32(acc, vcvtq_f32_s32(h1), vmulq_n_f32(dxv, A[1]));
                } else {
                    acc = vfmaq_f32(acc, vcvtq_f32_s32(vaddq_s32(h0, h1)), vmulq_n_f32(dxv, A[0]));
                    acc = vfmaq_f32(acc, vcvtq_f32_s32(vld1q_s32(sq)), vmulq_n_f32(dxv, B));
                }
            }
            float out[4];
            vst1q_f32(out, acc);
            for (int j = 0; j < nt; j++) c->y[(t0 + j) * c->n_out + r] = out[j];
        }
    }
}
