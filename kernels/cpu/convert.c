/* Element conversions and row dequantization (scalar reference). */
#include "kernels/kernels.h"
#include "core/error.h"

#include <string.h>

float reel_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t reel_fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* Inf or NaN (keep a quiet NaN) */
        return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
    if (absx >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504: Inf */
    if (absx < 0x38800000u) {                                   /* result is subnormal or 0 */
        if (absx < 0x33000000u) return (uint16_t)sign;          /* below half the smallest */
        uint32_t man = (absx & 0x7fffff) | 0x800000;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - ((127 - 15) << 10));
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float reel_bf16_to_fp32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t reel_fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int reel_kernels_dtype_supported(reel_dtype type)
{
    switch (type) {
    case REEL_DTYPE_F32:
    case REEL_DTYPE_F16:
    case REEL_DTYPE_BF16:
    case REEL_DTYPE_Q8_0:
    case REEL_DTYPE_Q4_0:
        return 1;
    default:
        return 0;
    }
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

int reel_kernels_dequantize_row(reel_dtype type, const void *src, float *dst, int64_t n)
{
    const uint8_t *s = src;
    switch (type) {
    case REEL_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 0;
    case REEL_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = reel_fp16_to_fp32(rd16(s + 2 * i));
        return 0;
    case REEL_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = reel_bf16_to_fp32(rd16(s + 2 * i));
        return 0;
    case REEL_DTYPE_Q8_0: /* blocks of 32: f16 scale, 32 x int8 */
        if (n % 32) return REEL_EINVAL;
        for (int64_t b = 0; b < n / 32; b++, s += 34) {
            float d = reel_fp16_to_fp32(rd16(s));
            for (int i = 0; i < 32; i++) dst[b * 32 + i] = d * (float)(int8_t)s[2 + i];
        }
        return 0;
    case REEL_DTYPE_Q4_0: /* blocks of 32: f16 scale, 16 bytes; low nibbles 0..15, high 16..31 */
        if (n % 32) return REEL_EINVAL;
        for (int64_t b = 0; b < n / 32; b++, s += 18) {
            float d = reel_fp16_to_fp32(rd16(s));
            for (int i = 0; i < 16; i++) {
                dst[b * 32 + i] = d * (float)((s[2 + i] & 0x0f) - 8);
                dst[b * 32 + 16 + i] = d * (float)((s[2 + i] >> 4) - 8);
            }
        }
        return 0;
    default:
        return REEL_EUNSUPPORTED;
    }
}
