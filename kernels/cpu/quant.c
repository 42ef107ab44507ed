/* Float -> weight type (the writer side of the block layouts; bit-exact with GGML's reference
 * quantizers so files interoperate). */
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

/* Q8_0: d = amax/127, q = round(x/d); Q4_0: d = max/-8 with the sign of the largest magnitude,
 * q = min(15, (int)(x/d + 8.5)). Rounding half away from zero as roundf; d stored as f16, the
 * quants use the unrounded d as ggml does. */
static void quant_q8_0(const float *x, uint8_t *out, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const uint16_t h = reel_fp32_to_fp16(d);
        out[0] = (uint8_t)(h & 0xff), out[1] = (uint8_t)(h >> 8);
        for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
}

static void quant_q4_0(const float *x, uint8_t *out, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 18) {
        float amax = 0, max = 0;
        for (int i = 0; i < 32; i++)
            if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
        const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const uint16_t h = reel_fp32_to_fp16(d);
        out[0] = (uint8_t)(h & 0xff), out[1] = (uint8_t)(h >> 8);
        for (int i = 0; i < 16; i++) {
            int q0 = (int)(x[i] * id + 8.5f), q1 = (int)(x[16 + i] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0, q1 = q1 > 15 ? 15 : q1;
            out[2 + i] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

int reel_kernels_quantize_row(reel_dtype type, const float *src, void *dst, int64_t n)
{
    const int bs = reel_dtype_block(type);
    if (bs <= 0 || n % bs) return REEL_EINVAL;
    uint16_t *h = dst;
    switch (type) {
    case REEL_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 0;
    case REEL_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) h[i] = reel_fp32_to_fp16(src[i]);
        return 0;
    case REEL_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) h[i] = reel_fp32_to_bf16(src[i]);
        return 0;
    case REEL_DTYPE_Q8_0:
        quant_q8_0(src, dst, n);
        return 0;
    case REEL_DTYPE_Q4_0:
        quant_q4_0(src, dst, n);
        return 0;
    default:
        return REEL_EUNSUPPORTED;
    }
}
