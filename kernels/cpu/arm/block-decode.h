/* A Q8_0 / Q4_0 weight block as two int8x16 vectors (elements 0..15 and 16..31) and its scale,
 * shared by the row-major integer-dot bodies of every level (static inline: each includer's
 * target attribute applies). Q4_0's element i is the low nibble of byte i minus 8, element
 * 16 + i its high nibble minus 8; the f16 scale converts exactly (FCVT). */
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

/* block b of a row of Q4_0 (q4 = 1) or Q8_0: the scale, *w0 and *w1 */
static inline float reeli_arm_block(const uint8_t *row, int q4, int64_t b, int8x16_t *w0,
                                    int8x16_t *w1)
{
    if (q4) {
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
#endif
