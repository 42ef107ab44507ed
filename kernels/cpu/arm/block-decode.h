/* A Q8_0 / Q4_0 / Q5_0 / Q4_K / Q6_K weight block as two int8x16 vectors (elements 0..15 and
 * 16..31) and its factors, shared by the row-major integer-dot bodies of every level (static
 * inline: each includer's target attribute applies). Q4_0's element i is the low nibble of byte i
 * minus 8, element 16 + i its high nibble minus 8; Q5_0 adds bit i (or 16 + i) of its 32 high bits
 * as the fifth bit and subtracts 16; the f16 scale converts exactly (FCVT). */
#ifndef REEL_KERNELS_ARM_BLOCK_DECODE_H
#define REEL_KERNELS_ARM_BLOCK_DECODE_H
#include <arm_neon.h>
#include <string.h>

static inline float reeli_arm_f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* The row-major types of reeli_arm_block. */
enum { REELI_ARM_Q8_0, REELI_ARM_Q4_0, REELI_ARM_Q5_0 };

static inline int reeli_arm_kind(reel_dtype t)
{
    return t == REEL_DTYPE_Q4_0   ? REELI_ARM_Q4_0
           : t == REEL_DTYPE_Q5_0 ? REELI_ARM_Q5_0
                                  : REELI_ARM_Q8_0;
}

/* block b of a row of the given kind: the scale, *w0 and *w1 */
static inline float reeli_arm_block(const uint8_t *row, int kind, int64_t b, int8x16_t *w0,
                                    int8x16_t *w1)
{
    if (kind == REELI_ARM_Q5_0) {
        const uint8_t *p = row + 22 * b;
        const uint8x16_t v = vld1q_u8(p + 6), m4 = vdupq_n_u8(15), b4 = vdupq_n_u8(16);
        /* bit j of the high bits spread to byte j: each byte of qh repeated 8 times, tested
         * against its 8 bit masks */
        const uint8x16_t bits = vreinterpretq_u8_u64(vdupq_n_u64(0x8040201008040201ull));
        const uint8x16_t h0 = vcombine_u8(vdup_n_u8(p[2]), vdup_n_u8(p[3]));
        const uint8x16_t h1 = vcombine_u8(vdup_n_u8(p[4]), vdup_n_u8(p[5]));
        const uint8x16_t lo = vorrq_u8(vandq_u8(v, m4), vandq_u8(vtstq_u8(h0, bits), b4));
        const uint8x16_t hi = vorrq_u8(vshrq_n_u8(v, 4), vandq_u8(vtstq_u8(h1, bits), b4));
        *w0 = vsubq_s8(vreinterpretq_s8_u8(lo), vdupq_n_s8(16));
        *w1 = vsubq_s8(vreinterpretq_s8_u8(hi), vdupq_n_s8(16));
        return reeli_arm_f16(p);
    }
    if (kind == REELI_ARM_Q4_0) {
        const uint8_t *p = row + 18 * b;
        const uint8x16_t v = vld1q_u8(p + 2);
        *w0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), vdupq_n_s8(8));
        *w1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
        return reeli_arm_f16(p);
    }
    const uint8_t *p = row + 34 * b;
    *w0 = vld1q_s8((const int8_t *)p + 2);
    *w1 = vld1q_s8((const int8_t *)p + 18);
    return reeli_arm_f16(p);
}

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

#endif
