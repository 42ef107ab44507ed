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

/* 6-bit scale and minimum j of a Q4_K super-block's 12 scale bytes (GGML's layout) */
static inline void reeli_arm_scale_min_k4(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

/* block b of a Q4_K (q6 = 0) or Q6_K row: *w0, *w1 and the factors of each half / minimum */
static inline void reeli_arm_kblock(const uint8_t *row, int q6, int64_t b, int8x16_t *w0,
                                    int8x16_t *w1, float A[2], float *B)
{
    const int j = (int)(b % 8);
    if (!q6) {
        const uint8_t *p = row + (b / 8) * 144, *qs = p + 16 + 32 * (j / 2);
        int sc, m;
        reeli_arm_scale_min_k4(p + 4, j, &sc, &m);
        const uint8x16_t v0 = vld1q_u8(qs), v1 = vld1q_u8(qs + 16), m4 = vdupq_n_u8(15);
        *w0 = vreinterpretq_s8_u8(j & 1 ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m4));
        *w1 = vreinterpretq_s8_u8(j & 1 ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m4));
        A[0] = A[1] = reeli_arm_f16(p) * (float)sc;
        *B = -reeli_arm_f16(p + 2) * (float)m;
        return;
    }
    const int n = j / 4, jj = j % 4;
    const uint8_t *p = row + (b / 8) * 210;
    const uint8_t *ql = p + 64 * n + 32 * (jj & 1), *qh = p + 128 + 32 * n;
    const uint8x16_t m4 = vdupq_n_u8(15), m3 = vdupq_n_u8(3);
    const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * jj)); /* USHL by a negative count: right */
    int8x16_t w[2];
    for (int h = 0; h < 2; h++) {
        const uint8x16_t l = vld1q_u8(ql + 16 * h), hb = vld1q_u8(qh + 16 * h);
        const uint8x16_t lo = jj < 2 ? vandq_u8(l, m4) : vshrq_n_u8(l, 4);
        const uint8x16_t hi = vshlq_n_u8(vandq_u8(vshlq_u8(hb, shift), m3), 4);
        w[h] = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), vdupq_n_s8(32));
    }
    *w0 = w[0], *w1 = w[1];
    const float d = reeli_arm_f16(p + 208);
    A[0] = d * (float)(int8_t)p[192 + 8 * n + 2 * jj];
    A[1] = d * (float)(int8_t)p[192 + 8 * n + 2 * jj + 1];
    *B = 0;
}

REELI_ARM_ATTR void REELI_ARM_KFN(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int64_t nb = c->n_in / 32;
    const int q6 = c->wtype == REEL_DTYPE_Q6_K;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = c->w + (size_t)r * c->rb;
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
