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
    if (absx < 0x38800000u) {                                  /* result is subnormal or 0 */
        if (absx < 0x33000000u) return (uint16_t)sign;         /* below half the smallest */
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
    case REEL_DTYPE_Q4_1:
    case REEL_DTYPE_Q5_0:
    case REEL_DTYPE_Q5_1:
    case REEL_DTYPE_IQ4_NL:
    case REEL_DTYPE_Q2_K:
    case REEL_DTYPE_Q3_K:
    case REEL_DTYPE_Q4_K:
    case REEL_DTYPE_Q5_K:
    case REEL_DTYPE_Q6_K:
        return 1;
    default:
        return 0;
    }
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static float h2f(const uint8_t *p)
{
    return reel_fp16_to_fp32(rd16(p));
}

/* ---- GGML block layouts (little endian), one block at a time -----------------------------------
 * Legacy blocks hold 32 values, K blocks 256; "d" and "m"/"dmin" are f16 scales. */

static void deq_q4_1(const uint8_t *b, float *y) /* d, m, qs[16] */
{
    const float d = h2f(b), m = h2f(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b[4 + j] & 0x0f) * d + m;
        y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
    }
}

static void deq_q5(const uint8_t *b, float *y, int with_min) /* d, [m,] qh u32, qs[16] */
{
    const float d = h2f(b), m = with_min ? h2f(b + 2) : 0.0f;
    const uint8_t *p = b + (with_min ? 4 : 2);
    const uint32_t qh =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    const uint8_t *qs = p + 4;
    for (int j = 0; j < 16; j++) {
        const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
        const int x0 = (qs[j] & 0x0f) | h0, x1 = (qs[j] >> 4) | h1;
        if (with_min) {
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        } else {
            y[j] = (float)(x0 - 16) * d;
            y[j + 16] = (float)(x1 - 16) * d;
        }
    }
}

static void deq_iq4_nl(const uint8_t *b, float *y) /* d, qs[16] indexing a fixed table */
{
    static const int8_t kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};
    const float d = h2f(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)kv[b[2 + j] & 0x0f];
        y[j + 16] = d * (float)kv[b[2 + j] >> 4];
    }
}

static void deq_q2_k(const uint8_t *b, float *y) /* scales[16], qs[64], d, dmin */
{
    const uint8_t *sc = b, *q = b + 16;
    const float d = h2f(b + 80), mn = h2f(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int j = 0, shift = 0; j < 4; j++, shift += 2)
            for (int half = 0; half < 2; half++) {
                const uint8_t s = sc[is++];
                const float dl = d * (float)(s & 0x0f), ml = mn * (float)(s >> 4);
                for (int l = 0; l < 16; l++)
                    *y++ = dl * (float)((q[l + 16 * half] >> shift) & 3) - ml;
            }
}

static void deq_q3_k(const uint8_t *b, float *y) /* hmask[32], qs[64], scales[12], d */
{
    const uint8_t *hm = b, *q = b + 32, *s = b + 96;
    const float d = h2f(b + 108);
    int8_t sc[16]; /* 16 6-bit scales, offset by 32 */
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? s[i] & 0x0f : s[i - 8] >> 4;
        int hi = (s[8 + (i % 4)] >> (2 * (i / 4))) & 3;
        sc[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128, q += 32)
        for (int j = 0, shift = 0; j < 4; j++, shift += 2, m <<= 1)
            for (int half = 0; half < 2; half++) {
                const float dl = d * (float)sc[is++];
                for (int l = 0; l < 16; l++) {
                    const int k = l + 16 * half;
                    *y++ = dl * (float)(((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
                }
            }
}

/* 6-bit scale and min j (0..7) of a Q4_K / Q5_K block */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void deq_q45_k(const uint8_t *b, float *y, int five) /* d, dmin, scales[12], [qh[32],] qs */
{
    const float d = h2f(b), mn = h2f(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *q = b + (five ? 48 : 16);
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, q += 32, is += 2, u1 <<= 2, u2 <<= 2) {
        uint8_t s, m;
        scale_min_k4(is, sc, &s, &m);
        const float d1 = d * s, m1 = mn * m;
        scale_min_k4(is + 1, sc, &s, &m);
        const float d2 = d * s, m2 = mn * m;
        for (int l = 0; l < 32; l++)
            *y++ = d1 * (float)((q[l] & 0x0f) + (five && (qh[l] & u1) ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++)
            *y++ = d2 * (float)((q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0)) - m2;
    }
}

static void deq_q6_k(const uint8_t *b, float *y) /* ql[128], qh[64], scales[16] (int8), d */
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    const float d = h2f(b + 208);
    for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * (float)sc[is] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
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
        break;
    }
    void (*one)(const uint8_t *, float *) = NULL;
    switch (type) {
    case REEL_DTYPE_Q4_1:
        one = deq_q4_1;
        break;
    case REEL_DTYPE_IQ4_NL:
        one = deq_iq4_nl;
        break;
    case REEL_DTYPE_Q2_K:
        one = deq_q2_k;
        break;
    case REEL_DTYPE_Q3_K:
        one = deq_q3_k;
        break;
    case REEL_DTYPE_Q6_K:
        one = deq_q6_k;
        break;
    case REEL_DTYPE_Q5_0:
    case REEL_DTYPE_Q5_1:
    case REEL_DTYPE_Q4_K:
    case REEL_DTYPE_Q5_K:
        break;
    default:
        return REEL_EUNSUPPORTED;
    }
    const int bs = reel_dtype_block(type), bb = reel_dtype_block_bytes(type);
    if (n % bs) return REEL_EINVAL;
    for (int64_t b = 0; b < n / bs; b++, s += bb, dst += bs) {
        if (one)
            one(s, dst);
        else if (type == REEL_DTYPE_Q5_0 || type == REEL_DTYPE_Q5_1)
            deq_q5(s, dst, type == REEL_DTYPE_Q5_1);
        else
            deq_q45_k(s, dst, type == REEL_DTYPE_Q5_K);
    }
    return 0;
}
