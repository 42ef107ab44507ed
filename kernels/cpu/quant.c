/* Float -> weight type: the writer side of GGML's block layouts (kernels/cpu/convert.c reads
 * them). Q8_0, Q4_0, Q5_0 and Q5_1 follow GGML's reference quantizers bit for bit, so files
 * interoperate exactly. IQ4_NL, Q4_K, Q5_K and Q6_K are reel's own quantizers (a least-squares
 * search per sub-block, written from the format): the layout is GGML's, so llama.cpp reads them,
 * but the chosen codes may differ from llama-quantize's.
 *
 * Round-trip error, RMS of x - deq(q(x)) over sigma, next to llama.cpp's ggml_quantize_chunk
 * (the libggml of llama-cpp-python 0.3.36, no importance matrix) on the same data, measured by
 * scripts/bench/quant_rms.py; test_kernels_quant bounds these per type:
 *     type     Gaussian          uniform [-1,1)    bytes
 *              reel    llama.cpp reel    llama.cpp
 *     Q8_0     0.0054  0.0054    0.0038  0.0038    identical
 *     Q4_0     0.0859  0.0859    0.0650  0.0650    identical
 *     Q5_0     0.0427  0.0427    0.0312  0.0312    identical
 *     Q5_1     0.0379  0.0379    0.0294  0.0294    identical
 *     IQ4_NL   0.0736  0.0761    0.0621  0.0640    own search
 *     Q4_K     0.0702  0.0714    0.0541  0.0546    own search
 *     Q5_K     0.0347  0.0361    0.0267  0.0276    own search
 *     Q6_K     0.0174  0.0177    0.0130  0.0133    own search
 * (256 rows of 4096; gguf-py's independent dequantizer decodes reel's bytes to the same values
 * as convert.c does.)
 */
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

static void put_f16(uint8_t *p, float f)
{
    const uint16_t h = reel_fp32_to_fp16(f);
    p[0] = (uint8_t)(h & 0xff), p[1] = (uint8_t)(h >> 8);
}

/* the value GGML will read back for a scale stored as f16 */
static float f16_round(float f)
{
    return reel_fp16_to_fp32(reel_fp32_to_fp16(f));
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- GGML's reference rules (bit-exact) -------------------------------------------------------
 * Q8_0: d = amax/127, q = round(x/d); Q4_0: d = max/-8 with the sign of the largest magnitude,
 * q = min(15, (int)(x/d + 8.5)); Q5_0 likewise with d = max/-16, q = min(31, (int)(x/d + 16.5));
 * Q5_1: d = (max - min)/31, m = min, q = (int)((x - min)/d + 0.5). Rounding half away from zero
 * as roundf; d stored as f16, the quants use the unrounded d as ggml does. Q5 blocks keep bit 4
 * of quant j in bit j of the 32-bit qh (j < 16 low nibbles, j >= 16 high nibbles). */
static void quant_q8_0(const float *x, uint8_t *out, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
}

/* the value of largest magnitude, with its sign (the first one on ties) */
static float signed_max(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    return max;
}

static void quant_q4_0(const float *x, uint8_t *out, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 18) {
        const float d = signed_max(x, 32) / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int i = 0; i < 16; i++) {
            int q0 = (int)(x[i] * id + 8.5f), q1 = (int)(x[16 + i] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0, q1 = q1 > 15 ? 15 : q1;
            out[2 + i] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* the 32 five-bit quants of a Q5 block into qh (u32, little endian) and qs[16] */
static void pack_q5(const int *q, uint8_t *qh_out, uint8_t *qs)
{
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[16 + j] & 0x0f) << 4));
        qh |= (uint32_t)((q[j] >> 4) & 1) << j;
        qh |= (uint32_t)((q[16 + j] >> 4) & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh_out[k] = (uint8_t)(qh >> (8 * k));
}

static void quant_q5_0(const float *x, uint8_t *out, int64_t n) /* d, qh[4], qs[16] */
{
    int q[32];
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 22) {
        const float d = signed_max(x, 32) / -16.0f, id = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int i = 0; i < 32; i++) {
            const int v = (int)(x[i] * id + 16.5f);
            q[i] = v > 31 ? 31 : v;
        }
        pack_q5(q, out + 2, out + 6);
    }
}

static void quant_q5_1(const float *x, uint8_t *out, int64_t n) /* d, m, qh[4], qs[16] */
{
    int q[32];
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 24) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int i = 0; i < 32; i++) min = fminf(min, x[i]), max = fmaxf(max, x[i]);
        const float d = (max - min) / 31.0f, id = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        put_f16(out + 2, min);
        for (int i = 0; i < 32; i++) q[i] = (int)((x[i] - min) * id + 0.5f);
        pack_q5(q, out + 4, out + 8);
    }
}

/* ---- reel's own quantizers (same layouts) ---------------------------------------------------- */

/* The affine fit of n values x ~ s*q - m with integer q in [0, nmax], s >= 0, m >= 0 (the K
 * layouts subtract a non-negative min). Tries a range of grid densities around nmax/(max-min),
 * and for each rounds to the grid and solves the least-squares (s, m) for those quants; keeps
 * the pair with the least squared error. */
static void fit_affine(const float *x, int n, int nmax, float *s_out, float *m_out)
{
    float lo = 0, hi = -FLT_MAX;
    for (int i = 0; i < n; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    if (hi <= lo) { /* every value equals lo <= 0 */
        *s_out = 0, *m_out = -lo;
        return;
    }
    float best_s = (hi - lo) / (float)nmax, best_m = -lo, best_err = FLT_MAX;
    for (int k = -8; k <= 12; k++) {
        const float iscale = ((float)nmax + 0.1f * (float)k) / (hi - lo);
        float sq = 0, sqq = 0, sx = 0, sqx = 0;
        for (int i = 0; i < n; i++) {
            const float q = (float)clampi((int)lrintf((x[i] - lo) * iscale), 0, nmax);
            sq += q, sqq += q * q, sx += x[i], sqx += q * x[i];
        }
        const float det = (float)n * sqq - sq * sq;
        if (det <= 0) continue;
        float s = ((float)n * sqx - sq * sx) / det, b = (sqq * sx - sq * sqx) / det;
        if (b > 0) b = 0, s = sqx / sqq; /* the offset must be -m <= 0 */
        if (s <= 0) continue;
        float err = 0;
        const float is = 1.0f / s;
        for (int i = 0; i < n; i++) {
            const float q = (float)clampi((int)lrintf((x[i] - b) * is), 0, nmax);
            const float e = s * q + b - x[i];
            err += e * e;
        }
        if (err < best_err) best_err = err, best_s = s, best_m = -b;
    }
    *s_out = best_s, *m_out = best_m;
}

/* The scale of n values x ~ s*q with integer q in [nmin, nmax] (nmin = -nmax - 1 here: the
 * value of largest magnitude goes to the longer negative side). Same search as fit_affine. */
static float fit_symmetric(const float *x, int n, int nmin, int nmax)
{
    const float max = signed_max(x, n);
    if (max == 0) return 0;
    float best_s = max / (float)nmin, best_err = FLT_MAX;
    for (int k = -8; k <= 8; k++) {
        const float iscale = ((float)nmin + 0.1f * (float)k) / max;
        float sqq = 0, sqx = 0;
        for (int i = 0; i < n; i++) {
            const float q = (float)clampi((int)lrintf(x[i] * iscale), nmin, nmax);
            sqq += q * q, sqx += q * x[i];
        }
        if (sqq <= 0) continue;
        const float s = sqx / sqq, is = 1.0f / s;
        float err = 0;
        for (int i = 0; i < n; i++) {
            const float e = s * (float)clampi((int)lrintf(x[i] * is), nmin, nmax) - x[i];
            err += e * e;
        }
        if (err < best_err) best_err = err, best_s = s;
    }
    return best_s;
}

/* Q4_K / Q5_K: 256 values in 8 sub-blocks of 32, y = d*sc[j]*q - dmin*mn[j] with 6-bit sc, mn
 * against f16 d, dmin and q in [0, 2^bits - 1]. Per sub-block (s, m) by fit_affine; the eight
 * scales and mins to 6 bits against d = max s / 63 and dmin = max m / 63 (as f16), each code
 * pair the rounded one or a neighbour (+-1), whichever gives the least error once the values
 * are requantized against the scale and min the file will actually hold. Fills q[256]. */
static void quant_k_affine(const float *x, int nmax, uint8_t *hdr /* d, dmin, scales[12] */, int *q)
{
    float s[8], m[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        fit_affine(x + 32 * j, 32, nmax, &s[j], &m[j]);
        smax = fmaxf(smax, s[j]), mmax = fmaxf(mmax, m[j]);
    }
    const float d = f16_round(smax / 63.0f), dmin = f16_round(mmax / 63.0f);
    put_f16(hdr, d);
    put_f16(hdr + 2, dmin);
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        const int sc0 = d > 0 ? clampi((int)lrintf(s[j] / d), 0, 63) : 0;
        const int mn0 = dmin > 0 ? clampi((int)lrintf(m[j] / dmin), 0, 63) : 0;
        /* the rounded codes, or a neighbour if that fits the requantized values better */
        float best = FLT_MAX;
        for (int a = -1; a <= 1; a++)
            for (int b = -1; b <= 1; b++) {
                const int cs = sc0 + a, cm = mn0 + b;
                if (cs < 0 || cs > 63 || cm < 0 || cm > 63) continue;
                const float S = d * (float)cs, M = dmin * (float)cm;
                const float iS = S > 0 ? 1.0f / S : 0.0f;
                float err = 0;
                for (int i = 0; i < 32; i++) {
                    const int v = clampi((int)lrintf((xs[i] + M) * iS), 0, nmax);
                    const float e = S * (float)v - M - xs[i];
                    err += e * e;
                }
                if (err < best) best = err, sc[j] = (uint8_t)cs, mn[j] = (uint8_t)cm;
            }
        const float S = d * (float)sc[j], M = dmin * (float)mn[j];
        const float iS = S > 0 ? 1.0f / S : 0.0f;
        for (int i = 0; i < 32; i++) q[32 * j + i] = clampi((int)lrintf((xs[i] + M) * iS), 0, nmax);
    }
    /* 6-bit packing (the inverse of convert.c's scale_min_k4): sub-blocks 0..3 in the low six
     * bits of bytes 0..3 (scale) and 4..7 (min); 4..7 split into a low nibble in bytes 8..11
     * and two high bits on top of bytes 0..3 / 4..7 */
    uint8_t *p = hdr + 4;
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        p[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        p[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | ((mn[j + 4] & 0x0f) << 4));
    }
}

static void quant_q4_k(const float *x, uint8_t *out, int64_t n) /* d, dmin, sc[12], qs[128] */
{
    int q[256];
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 144) {
        quant_k_affine(x, 15, out, q);
        /* 32 bytes per pair of sub-blocks: the first in the low nibbles, the second high */
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++)
                out[16 + 32 * p + l] = (uint8_t)(q[64 * p + l] | (q[64 * p + 32 + l] << 4));
    }
}

static void quant_q5_k(const float *x, uint8_t *out, int64_t n) /* d, dmin, sc, qh[32], qs */
{
    int q[256];
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 176) {
        quant_k_affine(x, 31, out, q);
        uint8_t *qh = out + 16, *qs = out + 48;
        memset(qh, 0, 32);
        /* as Q4_K for the low four bits; bit 4 of sub-block j's value l is bit j of qh[l] */
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++) {
                const int a = q[64 * p + l], c = q[64 * p + 32 + l];
                qs[32 * p + l] = (uint8_t)((a & 0x0f) | ((c & 0x0f) << 4));
                qh[l] |= (uint8_t)(((a >> 4) << (2 * p)) | ((c >> 4) << (2 * p + 1)));
            }
    }
}

/* Q6_K: 256 values in 16 sub-blocks of 16, y = d*sc[j]*q with int8 sc against an f16 d and q in
 * [-32, 31] (stored + 32: four low bits in ql, two high bits in qh). */
static void quant_q6_k(const float *x, uint8_t *out, int64_t n) /* ql[128], qh[64], sc[16], d */
{
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 210) {
        float s[16], amax = 0;
        for (int j = 0; j < 16; j++) {
            s[j] = fit_symmetric(x + 16 * j, 16, -32, 31);
            amax = fmaxf(amax, fabsf(s[j]));
        }
        const float d = f16_round(amax / 127.0f);
        put_f16(out + 208, d);
        int8_t *sc = (int8_t *)(out + 192);
        int q[256];
        for (int j = 0; j < 16; j++) {
            sc[j] = (int8_t)(d > 0 ? clampi((int)lrintf(s[j] / d), -128, 127) : 0);
            const float S = d * (float)sc[j], iS = S != 0 ? 1.0f / S : 0.0f;
            for (int i = 0; i < 16; i++)
                q[16 * j + i] = clampi((int)lrintf(x[16 * j + i] * iS), -32, 31) + 32;
        }
        /* per half of 128: ql[l] holds values l (low) and l+64 (high), ql[l+32] values l+32
         * and l+96; qh[l] holds their top two bits in the order l, l+32, l+64, l+96 */
        uint8_t *ql = out, *qh = out + 128;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            const int *v = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((v[l] & 0x0f) | ((v[l + 64] & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((v[l + 32] & 0x0f) | ((v[l + 96] & 0x0f) << 4));
                qh[l] = (uint8_t)((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                  ((v[l + 96] >> 4) << 6));
            }
        }
    }
}

/* IQ4_NL: blocks of 32, y = d * kv[q] with the fixed non-linear 16-entry table (convert.c). */
static const int8_t kIQ4[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                1,    13,   25,  38,  53,  69,  89,  113};

/* The nearest level to v: every midpoint between neighbouring levels is a multiple of 1/2, so
 * floor(2v) decides (ties go up). A table over 2v in [-IQ4_R, IQ4_R) (|v| <= 137 for the
 * candidate grids below; beyond, the ends), built once. */
#define IQ4_R 288
static uint8_t iq4_lut[2 * IQ4_R];
static pthread_once_t iq4_once = PTHREAD_ONCE_INIT;

static void iq4_build(void)
{
    for (int j = 0; j < 2 * IQ4_R; j++) {
        const float v = (float)(j - IQ4_R) * 0.5f; /* the bucket [v, v + 1/2) */
        int i = 0;
        for (int k = 0; k < 15; k++) i += v >= 0.5f * (float)(kIQ4[k] + kIQ4[k + 1]);
        iq4_lut[j] = (uint8_t)i;
    }
}

static int iq4_nearest(float v) /* the index of the table entry closest to v */
{
    const float t = floorf(2.0f * v);
    if (!(t >= (float)-IQ4_R)) return 0; /* NaN too */
    if (t >= (float)IQ4_R) return 15;
    return iq4_lut[(int)t + IQ4_R];
}

/* Per block: the value of largest magnitude is put near either end of the table (the negative
 * end is longer) at a range of grid densities; for each, the least-squares d of the chosen
 * entries; keeps the d with the least error, stores it as f16 and picks the entries again
 * against the stored d. */
static void quant_iq4_nl(const float *x, uint8_t *out, int64_t n) /* d, qs[16] */
{
    pthread_once(&iq4_once, iq4_build);
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 18) {
        const float max = signed_max(x, 32);
        float best_d = 0, best_err = FLT_MAX;
        for (int end = 0; end < 2 && max != 0; end++)
            for (int k = -10; k <= 10; k++) {
                const float id = ((float)(end ? kIQ4[15] : kIQ4[0]) + (float)k) / max;
                float sqq = 0, sqx = 0;
                for (int i = 0; i < 32; i++) {
                    const float q = (float)kIQ4[iq4_nearest(x[i] * id)];
                    sqq += q * q, sqx += q * x[i];
                }
                /* error of the least-squares d for these entries: sum x^2 - sqx^2 / sqq */
                const float err = -sqx * sqx / sqq;
                if (err < best_err) best_err = err, best_d = sqx / sqq;
            }
        const float d = f16_round(best_d), id = d != 0 ? 1.0f / d : 0.0f;
        put_f16(out, d);
        for (int i = 0; i < 16; i++)
            out[2 + i] = (uint8_t)(iq4_nearest(x[i] * id) | (iq4_nearest(x[16 + i] * id) << 4));
    }
}

int reel_kernels_quantize_row(reel_dtype type, const float *src, void *dst, int64_t n)
{
    static void (*const quant[REEL_DTYPE_COUNT])(const float *, uint8_t *, int64_t) = {
        [REEL_DTYPE_Q8_0] = quant_q8_0,     [REEL_DTYPE_Q4_0] = quant_q4_0,
        [REEL_DTYPE_Q5_0] = quant_q5_0,     [REEL_DTYPE_Q5_1] = quant_q5_1,
        [REEL_DTYPE_IQ4_NL] = quant_iq4_nl, [REEL_DTYPE_Q4_K] = quant_q4_k,
        [REEL_DTYPE_Q5_K] = quant_q5_k,     [REEL_DTYPE_Q6_K] = quant_q6_k,
    };
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
    default:
        if (type < 0 || type >= REEL_DTYPE_COUNT || !quant[type]) return REEL_EUNSUPPORTED;
        quant[type](src, dst, n);
        return 0;
    }
}
