/* The exact scalar reference of the integer-dot matmuls (kernels/cpu/x86/dot-rowmajor.c,
 * gemm-interleaved.c): the activations quantized exactly as quant-act.c does (per 32-block,
 * d = amax / 127 in fp32, q = x * (127 / amax) rounded half to even, saturated to int8), each
 * weight block read as integers k with per-16 factors A, B (w = A k + B, exact), the integer
 * dot products exact and the whole dot evaluated in double, rounded to float once. The SIMD
 * kernels compute the same integers and differ only in the fp32 rounding of their per-block
 * factors and partial sums; reeli_q8act_dot also returns the magnitude that rounding acts on,
 * so tests bound the difference instead of guessing a tolerance. Portable C: it runs on every
 * machine, and REEL_CPU=scalar-q8 makes it the table's matmul (a reference forward pass with
 * the SIMD path's activation rounding). */
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float reeli_q8act_block(const float *x, int8_t q[32])
{
    float amax = 0;
    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < 32; i++) {
        const float v = nearbyintf(x[i] * id); /* the SIMD rounding: to nearest, ties to even */
        q[i] = (int8_t)(v > 127.0f ? 127 : v < -128.0f ? -128 : (int)v); /* packs saturates */
    }
    return d;
}

static double f16(const uint8_t *p)
{
    return (double)reel_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

static const int8_t kIQ4[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                1,    13,   25,  38,  53,  69,  89,  113};

/* 6-bit scale and minimum j of a Q4_K / Q5_K super-block's 12 scale bytes (GGML's layout) */
static void scale_min_k4(const uint8_t *q, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        *m = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
    }
}

int reeli_q8act_weights(reel_dtype t, const uint8_t *row, int64_t b, int32_t k[32], double A[2],
                        double B[2])
{
    B[0] = B[1] = 0;
    switch (t) {
    case REEL_DTYPE_Q8_0: {
        const uint8_t *p = row + b * 34;
        A[0] = A[1] = f16(p);
        for (int i = 0; i < 32; i++) k[i] = (int8_t)p[2 + i];
        return 0;
    }
    case REEL_DTYPE_Q4_0:
    case REEL_DTYPE_Q4_1:
    case REEL_DTYPE_IQ4_NL: {
        const int q41 = t == REEL_DTYPE_Q4_1;
        const uint8_t *p = row + b * (q41 ? 20 : 18), *qs = p + (q41 ? 4 : 2);
        A[0] = A[1] = f16(p);
        if (q41) B[0] = B[1] = f16(p + 2);
        for (int i = 0; i < 16; i++) {
            const int lo = qs[i] & 15, hi = qs[i] >> 4;
            k[i] = t == REEL_DTYPE_IQ4_NL ? kIQ4[lo] : q41 ? lo : lo - 8;
            k[i + 16] = t == REEL_DTYPE_IQ4_NL ? kIQ4[hi] : q41 ? hi : hi - 8;
        }
        return 0;
    }
    case REEL_DTYPE_Q5_0:
    case REEL_DTYPE_Q5_1: {
        const int q51 = t == REEL_DTYPE_Q5_1;
        const uint8_t *p = row + b * (q51 ? 24 : 22), *h = p + (q51 ? 4 : 2), *qs = h + 4;
        const uint32_t qh =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        A[0] = A[1] = f16(p);
        if (q51) B[0] = B[1] = f16(p + 2);
        for (int i = 0; i < 16; i++) {
            k[i] = (int32_t)((qs[i] & 15) | ((qh >> i) & 1) << 4) - (q51 ? 0 : 16);
            k[i + 16] = (int32_t)((qs[i] >> 4) | ((qh >> (i + 16)) & 1) << 4) - (q51 ? 0 : 16);
        }
        return 0;
    }
    case REEL_DTYPE_Q4_K:
    case REEL_DTYPE_Q5_K: {
        /* d, dmin, scales[12], (Q5_K: qh[32]), qs[128]; block j = 2c + h of a super-block takes
         * the low (h = 0) or high nibbles of qs[32c .. 32c + 31], Q5_K its fifth bit from bit j
         * of qh[l] */
        const int q5 = t == REEL_DTYPE_Q5_K, j = (int)(b % 8);
        const uint8_t *p = row + (b / 8) * (q5 ? 176 : 144);
        const uint8_t *qs = p + (q5 ? 48 : 16) + 32 * (j / 2);
        int sc, m;
        scale_min_k4(p + 4, j, &sc, &m);
        A[0] = A[1] = f16(p) * sc;
        B[0] = B[1] = -f16(p + 2) * m;
        for (int l = 0; l < 32; l++) {
            k[l] = j & 1 ? qs[l] >> 4 : qs[l] & 15;
            if (q5) k[l] |= ((p[16 + l] >> j) & 1) << 4;
        }
        return 0;
    }
    case REEL_DTYPE_Q6_K: {
        /* ql[128], qh[64], scales[16] (int8), d: block j = 4n + jj (n the half of 128 elements)
         * takes the low (jj < 2) or high nibbles of ql[64n + 32 (jj & 1) + l] and bits 2jj,
         * 2jj + 1 of qh[32n + l]; its two halves of 16 use scales 8n + 2jj and 8n + 2jj + 1 */
        const int j = (int)(b % 8), n = j / 4, jj = j % 4;
        const uint8_t *p = row + (b / 8) * 210;
        const uint8_t *ql = p + 64 * n + 32 * (jj & 1), *qh = p + 128 + 32 * n;
        const double d = f16(p + 208);
        A[0] = d * (int8_t)p[192 + 8 * n + 2 * jj];
        A[1] = d * (int8_t)p[192 + 8 * n + 2 * jj + 1];
        for (int l = 0; l < 32; l++)
            k[l] =
                (int32_t)((jj < 2 ? ql[l] & 15 : ql[l] >> 4) | ((qh[l] >> (2 * jj)) & 3) << 4) - 32;
        return 0;
    }
    case REEL_DTYPE_Q3_K: {
        /* hmask[32], qs[64], scales[12], d: block j = 4n + s (n the half of 128, s the 2-bit
         * shift) takes bits 2s of qs[32n + l] and bit j of hmask[l] (set: no -4); 16 6-bit
         * scales, minus 32, group 2j and 2j + 1 */
        const int j = (int)(b % 8), n = j / 4, s = j % 4;
        const uint8_t *p = row + (b / 8) * 110, *sp = p + 96;
        const double d = f16(p + 108);
        for (int h = 0; h < 2; h++) {
            const int g = 2 * j + h;
            const int lo = g < 8 ? sp[g] & 15 : sp[g - 8] >> 4;
            const int hi = (sp[8 + g % 4] >> (2 * (g / 4))) & 3;
            A[h] = d * ((lo | hi << 4) - 32);
        }
        for (int l = 0; l < 32; l++)
            k[l] = ((p[32 + 32 * n + l] >> (2 * s)) & 3) - ((p[l] >> j) & 1 ? 0 : 4);
        return 0;
    }
    case REEL_DTYPE_Q2_K: {
        /* scales[16] (4-bit scale | 4-bit min << 4), qs[64], d, dmin: block j = 4n + s takes
         * bits 2s of qs[32n + l]; groups 2j and 2j + 1 */
        const int j = (int)(b % 8), n = j / 4, s = j % 4;
        const uint8_t *p = row + (b / 8) * 84;
        const double d = f16(p + 80), dmin = f16(p + 82);
        for (int h = 0; h < 2; h++) {
            A[h] = d * (p[2 * j + h] & 15);
            B[h] = -dmin * (p[2 * j + h] >> 4);
        }
        for (int l = 0; l < 32; l++) k[l] = (p[16 + 32 * n + l] >> (2 * s)) & 3;
        return 0;
    }
    default:
        return REEL_EUNSUPPORTED;
    }
}

/* the offset that a kernel subtracts in fp32 rather than in its integer sums (u = k + off:
 * Q5_0's -16 x32, Q3_K's -4 and Q6_K's -32 times the scaled half sums), which enlarges the
 * partial sums that its fp32 steps round (Q4_0's -8 and Q8_0's +128 stay inside the integers) */
static int offset_of(reel_dtype t)
{
    return t == REEL_DTYPE_Q6_K ? 32 : t == REEL_DTYPE_Q5_0 ? 16 : t == REEL_DTYPE_Q3_K ? 4 : 0;
}

double reeli_q8act_dot(reel_dtype t, const uint8_t *row, int64_t n, const int8_t *q, const float *d,
                       double *l1)
{
    const int off = offset_of(t);
    double dot = 0, mag = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        int32_t k[32];
        double A[2], B[2];
        if (reeli_q8act_weights(t, row, b, k, A, B)) return NAN;
        const int8_t *qb = q + 32 * b;
        double blk = 0, bmag = 0;
        for (int h = 0; h < 2; h++) {
            int64_t kq = 0, sq = 0, akq = 0;
            for (int i = 16 * h; i < 16 * h + 16; i++) {
                kq += (int64_t)k[i] * qb[i];
                sq += qb[i];
                akq += (int64_t)(abs(k[i]) + 2 * off) * abs(qb[i]);
            }
            blk += A[h] * (double)kq + B[h] * (double)sq;
            bmag += fabs(A[h]) * (double)akq + fabs(B[h]) * fabs((double)sq);
        }
        dot += (double)d[b] * blk;
        mag += fabs((double)d[b]) * bmag;
    }
    if (l1) *l1 = mag;
    return dot;
}

typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const int8_t *q;
    const float *d;
    int64_t n_in, n_out, T;
    size_t rb;
} q8r_ctx;

static void q8r_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const q8r_ctx *c = arg;
    for (int64_t r = begin; r < end; r++)
        for (int64_t t = 0; t < c->T; t++)
            c->y[t * c->n_out + r] =
                (float)reeli_q8act_dot(c->wtype, c->w + (size_t)r * c->rb, c->n_in,
                                       c->q + t * c->n_in, c->d + t * (c->n_in / 32), NULL);
}

int reeli_cpu_matmul_q8act(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                           const float *x, int64_t n_in, int64_t n_out, int64_t T)
{
    int32_t k[32];
    double A[2], B[2];
    static const uint8_t zero[256];
    if (reeli_q8act_weights(wtype, zero, 0, k, A, B) != 0)
        return reeli_cpu_matmul(pool, y, w, wtype, x, n_in, n_out, T); /* float weights */
    const size_t rb = reel_dtype_row_bytes(wtype, n_in);
    if (!rb || n_in % 32)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    int8_t *q = reel_xmalloc((size_t)(T * n_in));
    float *d = reel_xmalloc((size_t)(T * n_in / 32) * sizeof(float));
    for (int64_t i = 0; i < T * n_in / 32; i++) d[i] = reeli_q8act_block(x + 32 * i, q + 32 * i);
    q8r_ctx c = {y, w, wtype, q, d, n_in, n_out, T, rb};
    reel_pool_parallel_for(pool, n_out, q8r_body, &c);
    free(q);
    free(d);
    return 0;
}
