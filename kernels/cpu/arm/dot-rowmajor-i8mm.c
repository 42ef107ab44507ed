/* The row-major Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K integer-dot bodies with SMMLA (Armv8.6 i8mm,
 * optional from 8.2): one instruction multiplies a 2x8 int8 tile of two weight rows by a 2x8 tile
 * of two tokens into the 2x2 int32 sums, so each block of a row pair and a token pair takes 4 SMMLA
 * where SDOT takes 8. Compiled for that level by target attribute and called only when AT_HWCAP2
 * says the CPU has it (kernels/cpu/cpu.c). The numbers are those of dot-rowmajor-body.h (each
 * output's block sums exact in int32, one fma with d_w d_x per block), so the bits are the same as
 * the NEON and SDOT levels'; a row or token without a partner is paired with itself and its extra
 * lanes are dropped. */
#include "kernels/kernels-impl.h"

#include "block-decode.h"

#define I8MM __attribute__((target("arch=armv8.2-a+i8mm")))

enum { NP = 4 }; /* token pairs per pass over a row pair */

/* rows 0..7 of a and of b side by side: the low (hi = 0) or high 8 bytes of each */
static inline int8x16_t pair64(int8x16_t a, int8x16_t b, int hi)
{
    const int64x2_t x = vreinterpretq_s64_s8(a), y = vreinterpretq_s64_s8(b);
    return vreinterpretq_s8_s64(hi ? vzip2q_s64(x, y) : vzip1q_s64(x, y));
}

/* the Q8_0 / Q4_0 / Q5_0 body for one weight kind, a constant where inlined */
I8MM static inline __attribute__((always_inline)) void
qrows_kind(const reeli_neon_qctx *c, int64_t r0, int64_t r1, const int kind)
{
    const int64_t nb = c->n_in / 32;
    for (int64_t r = r0; r < r1; r += 2) {
        const int64_t rs = r + 1 < r1 ? r + 1 : r; /* the second row of the pair */
        const uint8_t *row_r = c->w + (size_t)r * c->rb, *row_s = c->w + (size_t)rs * c->rb;
        for (int64_t t0 = 0; t0 < c->T; t0 += 2 * NP) {
            const int nt = c->T - t0 < 2 * NP ? (int)(c->T - t0) : 2 * NP;
            const int np = (nt + 1) / 2;
            float32x4_t acc[NP]; /* pair p, lanes: (r, t), (r, u), (rs, t), (rs, u) */
            for (int p = 0; p < NP; p++) acc[p] = vdupq_n_f32(0);
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t wr0, wr1, ws0, ws1;
                const float dr = reeli_arm_block(row_r, kind, b, &wr0, &wr1);
                const float ds = reeli_arm_block(row_s, kind, b, &ws0, &ws1);
                const int8x16_t a0 = pair64(wr0, ws0, 0), a1 = pair64(wr0, ws0, 1);
                const int8x16_t a2 = pair64(wr1, ws1, 0), a3 = pair64(wr1, ws1, 1);
                const float32x4_t dw = {dr, dr, ds, ds};
                for (int p = 0; p < np; p++) {
                    const int64_t t = t0 + 2 * p, u = t + 1 < t0 + nt ? t + 1 : t;
                    const reeli_q8a *xt = c->xq + t * nb + b, *xu = c->xq + u * nb + b;
                    const int8x16_t xt0 = vld1q_s8(xt->qs), xt1 = vld1q_s8(xt->qs + 16);
                    const int8x16_t xu0 = vld1q_s8(xu->qs), xu1 = vld1q_s8(xu->qs + 16);
                    int32x4_t s = vmmlaq_s32(vdupq_n_s32(0), a0, pair64(xt0, xu0, 0));
                    s = vmmlaq_s32(s, a1, pair64(xt0, xu0, 1));
                    s = vmmlaq_s32(s, a2, pair64(xt1, xu1, 0));
                    s = vmmlaq_s32(s, a3, pair64(xt1, xu1, 1));
                    const float32x4_t dx = {xt->d, xu->d, xt->d, xu->d};
                    acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(s), vmulq_f32(dx, dw));
                }
            }
            for (int p = 0; p < np; p++) {
                float out[4];
                vst1q_f32(out, acc[p]);
                const int64_t t = t0 + 2 * p;
                c->y[t * c->n_out + r] = out[0];
                if (t + 1 < t0 + nt) c->y[(t + 1) * c->n_out + r] = out[1];
                if (rs != r) {
                    c->y[t * c->n_out + rs] = out[2];
                    if (t + 1 < t0 + nt) c->y[(t + 1) * c->n_out + rs] = out[3];
                }
            }
        }
    }
}

I8MM void reeli_neon_qrows_i8mm(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int kind = reeli_arm_kind(c->wtype);
    if (kind == REELI_ARM_Q4_0)
        qrows_kind(c, r0, r1, REELI_ARM_Q4_0);
    else if (kind == REELI_ARM_Q5_0)
        qrows_kind(c, r0, r1, REELI_ARM_Q5_0);
    else
        qrows_kind(c, r0, r1, REELI_ARM_Q8_0);
}

/* Q4_K / Q6_K with SMMLA: the numbers of dot-kquant-body.h (so its bits), the tiles as above;
 * the two halves of a block go to separate sums, which Q6_K scales apart and Q4_K adds. */
I8MM void reeli_neon_kqrows_i8mm(const reeli_neon_qctx *c, int64_t r0, int64_t r1)
{
    const int64_t nb = c->n_in / 32;
    const int q6 = c->wtype == REEL_DTYPE_Q6_K;
    for (int64_t r = r0; r < r1; r += 2) {
        const int64_t rs = r + 1 < r1 ? r + 1 : r;
        const uint8_t *row_r = c->w + (size_t)r * c->rb, *row_s = c->w + (size_t)rs * c->rb;
        for (int64_t t0 = 0; t0 < c->T; t0 += 2 * NP) {
            const int nt = c->T - t0 < 2 * NP ? (int)(c->T - t0) : 2 * NP;
            const int np = (nt + 1) / 2;
            float32x4_t acc[NP];
            for (int p = 0; p < NP; p++) acc[p] = vdupq_n_f32(0);
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t wr0, wr1, ws0, ws1;
                float Ar[2], As[2], Br, Bs;
                reeli_arm_kblock(row_r, q6, b, &wr0, &wr1, Ar, &Br);
                reeli_arm_kblock(row_s, q6, b, &ws0, &ws1, As, &Bs);
                const int8x16_t a0 = pair64(wr0, ws0, 0), a1 = pair64(wr0, ws0, 1);
                const int8x16_t a2 = pair64(wr1, ws1, 0), a3 = pair64(wr1, ws1, 1);
                const float32x4_t A0 = {Ar[0], Ar[0], As[0], As[0]};
                const float32x4_t A1 = {Ar[1], Ar[1], As[1], As[1]};
                const float32x4_t Bv = {Br, Br, Bs, Bs};
                for (int p = 0; p < np; p++) {
                    const int64_t t = t0 + 2 * p, u = t + 1 < t0 + nt ? t + 1 : t;
                    const reeli_q8a *xt = c->xq + t * nb + b, *xu = c->xq + u * nb + b;
                    const int8x16_t xt0 = vld1q_s8(xt->qs), xt1 = vld1q_s8(xt->qs + 16);
                    const int8x16_t xu0 = vld1q_s8(xu->qs), xu1 = vld1q_s8(xu->qs + 16);
                    int32x4_t h0 = vmmlaq_s32(vdupq_n_s32(0), a0, pair64(xt0, xu0, 0));
                    h0 = vmmlaq_s32(h0, a1, pair64(xt0, xu0, 1));
                    int32x4_t h1 = vmmlaq_s32(vdupq_n_s32(0), a2, pair64(xt1, xu1, 0));
                    h1 = vmmlaq_s32(h1, a3, pair64(xt1, xu1, 1));
                    const float32x4_t dx = {xt->d, xu->d, xt->d, xu->d};
                    if (q6) {
                        acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(h0), vmulq_f32(dx, A0));
                        acc[p] = vfmaq_f32(acc[p], vcvtq_f32_s32(h1), vmulq_f32(dx, A1));
                    } else {
                        const int32_t st = vaddlvq_s8(xt0) + vaddlvq_s8(xt1);
                        const int32_t su = vaddlvq_s8(xu0) + vaddlvq_s8(xu1);
                        const float32x4_t sq = {(float)st, (float)su, (float)st, (float)su};
                        acc[p] =
                            vfmaq_f32(acc[p], vcvtq_f32_s32(vaddq_s32(h0, h1)), vmulq_f32(dx, A0));
                        acc[p] = vfmaq_f32(acc[p], sq, vmulq_f32(dx, Bv));
                    }
                }
            }
            for (int p = 0; p < np; p++) {
                float out[4];
                vst1q_f32(out, acc[p]);
                const int64_t t = t0 + 2 * p;
                c->y[t * c->n_out + r] = out[0];
                if (t + 1 < t0 + nt) c->y[(t + 1) * c->n_out + r] = out[1];
                if (rs != r) {
                    c->y[t * c->n_out + rs] = out[2];
                    if (t + 1 < t0 + nt) c->y[(t + 1) * c->n_out + rs] = out[3];
                }
            }
        }
    }
}
