/* The ARM64 NEON kernels (kernels/cpu/arm/) against the exact scalar reference
 * (kernels/cpu/matmul-q8act.c), at every instruction level the running CPU has: the activation
 * quantizer bit for bit, then the Q8_0 / Q4_0 / Q4_K / Q6_K integer-dot matmuls (plain NEON,
 * SDOT, SMMLA) held to the bound of tests/test_kernels_qexact.c (why that bound: see there):
 *
 *   |y - exact| <= (2 nb + 8) * 2^-24 * l1
 *
 * over shapes across every tile edge (rows 1..33, tokens 1..17 around the 4-token pass, rows of
 * 1, 7 and 98 blocks or 1, 3 and 10 super-blocks), with outputs independent of the thread count and
 * equal, bit for bit, batched and token by token, and every level giving the bits of the plain NEON
 * one (they compute the same numbers the same way); then the dispatch: the table's matmul is the
 * kernel of the level that AT_HWCAP and REEL_CPU allow, and the types without a NEON kernel get the
 * scalar reference.
 *
 * Self-contained (no cmocka): a cross build has no arm64 build of it. tests/arm64_kernels.sh
 * runs it under qemu-aarch64 with each CPU model (plain NEON, +dotprod, +i8mm) and tells it
 * which table to expect (REEL_TEST_ARM64_EXPECT); on an ARM64 machine ctest runs it natively. */
#include "core/core.h"
#include "kernels/kernels-impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            if (++failures >= 20) exit(1);                                                         \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x853c49e6748fea9bull;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frand(void) /* uniform in [-1, 1) */
{
    return (float)next() * (2.0f / 4294967296.0f) - 1.0f;
}

static void put_f16(uint8_t *p, float v)
{
    const uint16_t h = reel_fp32_to_fp16(v);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}

/* n_out rows of random Q8_0 / Q4_0 / Q5_0 / Q5_1 / Q4_1 / Q4_K / Q6_K blocks with f16 scales
 * (and minimums) of quantized weights (some < 0) */
static uint8_t *rnd_weights(reel_dtype type, int64_t n_in, int64_t n_out)
{
    const size_t rb = reel_dtype_row_bytes(type, n_in), bb = (size_t)reel_dtype_block_bytes(type);
    uint8_t *w = malloc(rb * (size_t)n_out);
    for (size_t i = 0; i < rb * (size_t)n_out; i++) w[i] = (uint8_t)next();
    for (uint8_t *b = w; b < w + rb * (size_t)n_out; b += bb) {
        if (type == REEL_DTYPE_Q4_K) { /* d, dmin; the 6-bit scales and minimums random */
            put_f16(b, 0.002f * (1.0f + frand()));
            put_f16(b + 2, 0.001f * (1.0f + frand()));
        } else if (type == REEL_DTYPE_Q6_K) { /* d last; the int8 scales random */
            put_f16(b + 208, 0.0005f * frand());
        } else {
            put_f16(b, (type == REEL_DTYPE_Q8_0 ? 0.001f : 0.01f) * frand());
            if (type == REEL_DTYPE_Q5_1 || type == REEL_DTYPE_Q4_1) put_f16(b + 2, 0.1f * frand());
        }
    }
    return w;
}

/* T tokens of n: every 7th value tripled (outliers set a block's scale), token 2 all zeros
 * (d = 0), token 3 one block (or less) of tiny values */
static float *rnd_x(int64_t n, int64_t T)
{
    float *x = malloc((size_t)(n * T) * sizeof(float));
    for (int64_t i = 0; i < n * T; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    if (T > 2) memset(x + 2 * n, 0, (size_t)n * sizeof(float));
    if (T > 3)
        for (int64_t i = 0; i < 32 && i < n; i++) x[3 * n + i] *= 1e-30f;
    return x;
}

static const char *tname(reel_dtype t)
{
    return reel_dtype_name(t);
}

static const char *const LEVEL[] = {"neon", "dotprod", "i8mm"};

/* the activation quantizer against reeli_q8act_block: random blocks, ties (127 / amax = 128
 * makes the scaled values exact halves), zeros, tiny values, values that reach 127 */
static void test_quantizer(void)
{
    enum { NB = 64 };
    float *x = rnd_x(32 * 16, 4);
    x = realloc(x, 32 * NB * sizeof(float));
    for (int i = 32 * 16 * 4; i < 32 * NB; i++) x[i] = frand() * 100.0f;
    x[0] = 127.0f / 128.0f;
    for (int i = 1; i < 32; i++) x[i] = ((float)(i % 8) - 3.5f) / 128.0f;
    for (int i = 32 * 60; i < 32 * 61; i++) x[i] = (i % 2 ? -1.0f : 1.0f) * 1e-38f;
    for (int i = 32 * 61; i < 32 * 62; i++) x[i] = (float)(i % 5) - 2.0f;
    reeli_q8a q[NB];
    reeli_neon_quantize_q8(x, NB, q);
    for (int b = 0; b < NB; b++) {
        int8_t ref[32];
        const float d = reeli_q8act_block(x + 32 * b, ref);
        CHECK(memcmp(&q[b].d, &d, sizeof d) == 0, "quantizer block %d: d %.9g, reference %.9g", b,
              q[b].d, d);
        CHECK(memcmp(q[b].qs, ref, 32) == 0, "quantizer block %d: values differ from reference", b);
    }
    /* x[1] scales to -2.5 and x[5] to 1.5: to nearest even, not away from zero */
    CHECK(q[0].qs[1] == -2 && q[0].qs[5] == 2, "quantizer ties: %d %d (want -2 2)", q[0].qs[1],
          q[0].qs[5]);
    free(x);
    printf("quantizer: %d blocks bit for bit as reeli_q8act_block\n", NB);
}

/* one matmul against the exact reference, and against the plain NEON level bit for bit; returns
 * the largest error in units of 2^-24 l1 */
static double check(reel_dtype t, reeli_arm_level level, int64_t n_in, int64_t n_out, int64_t T)
{
    const size_t rb = reel_dtype_row_bytes(t, n_in);
    const int64_t nb = n_in / 32;
    uint8_t *w = rnd_weights(t, n_in, n_out);
    float *x = rnd_x(n_in, T), *y = malloc((size_t)(T * n_out) * sizeof(float));
    CHECK(reeli_neon_qmatmul(NULL, y, w, t, x, n_in, n_out, T, level) == 0, "%s matmul failed",
          tname(t));
    if (level != REELI_ARM_NEON) {
        float *yn = malloc((size_t)(T * n_out) * sizeof(float));
        CHECK(reeli_neon_qmatmul(NULL, yn, w, t, x, n_in, n_out, T, REELI_ARM_NEON) == 0, "matmul");
        CHECK(memcmp(y, yn, (size_t)(T * n_out) * sizeof(float)) == 0,
              "%s %s %lldx%lld T=%lld: not the bits of the neon level", tname(t), LEVEL[level],
              (long long)n_out, (long long)n_in, (long long)T);
        free(yn);
    }
    int8_t *q = malloc((size_t)n_in);
    float *d = malloc((size_t)nb * sizeof(float));
    double worst = 0;
    for (int64_t tk = 0; tk < T; tk++) {
        for (int64_t b = 0; b < nb; b++)
            d[b] = reeli_q8act_block(x + tk * n_in + 32 * b, q + 32 * b);
        for (int64_t r = 0; r < n_out; r++) {
            double l1;
            const double e = reeli_q8act_dot(t, w + (size_t)r * rb, n_in, q, d, &l1);
            const double unit = 0x1p-24 * l1, got = y[tk * n_out + r];
            CHECK(fabs(got - e) <= (2.0 * (double)nb + 8.0) * unit,
                  "%s %s %lldx%lld T=%lld: y[%lld][%lld] = %.9g, exact %.9g (%.3g units, bound "
                  "%lld)",
                  tname(t), LEVEL[level], (long long)n_out, (long long)n_in, (long long)T,
                  (long long)tk, (long long)r, got, e, unit > 0 ? fabs(got - e) / unit : 0,
                  (long long)(2 * nb + 8));
            if (unit > 0) worst = fmax(worst, fabs(got - e) / unit);
            if (l1 == 0) CHECK(got == 0.0f, "zero token gave %g", got);
        }
    }
    free(w), free(x), free(y), free(q), free(d);
    return worst;
}

static void test_matmul(reeli_arm_level level)
{
    static const int64_t n_outs[] = {1, 2, 3, 4, 5, 7, 8, 13, 33};
    static const int64_t Ts[] = {1, 2, 3, 4, 5, 8, 9, 17};
    static const reel_dtype types[] = {REEL_DTYPE_Q8_0, REEL_DTYPE_Q4_0, REEL_DTYPE_Q5_0,
                                       REEL_DTYPE_Q4_K, REEL_DTYPE_Q6_K};
    for (int k = 0; k < 5; k++) {
        const int kq = types[k] == REEL_DTYPE_Q4_K || types[k] == REEL_DTYPE_Q6_K;
        /* 1, 7 and 98 blocks; the K-quants 1, 3 and 10 super-blocks */
        const int64_t n_ins[] = {kq ? 256 : 32, kq ? 768 : 32 * 7, kq ? 2560 : 32 * 98};
        double worst = 0;
        for (size_t a = 0; a < sizeof n_outs / sizeof n_outs[0]; a++)
            for (size_t s = 0; s < sizeof Ts / sizeof Ts[0]; s++)
                for (int i = 0; i < 3; i++) {
                    if (i == 2 && (a % 3 != 0 || s % 2 != 0)) continue; /* long rows: a few */
                    worst = fmax(worst, check(types[k], level, n_ins[i], n_outs[a], Ts[s]));
                }
        printf("%-4s %-7s: largest error %.2f units of 2^-24 l1 (bound 2 nb + 8)\n",
               tname(types[k]), LEVEL[level], worst);
    }
}

/* the same bits whatever the thread count, and batched as token by token */
static void test_independence(reeli_arm_level level)
{
    static const reel_dtype types[] = {REEL_DTYPE_Q8_0, REEL_DTYPE_Q4_0, REEL_DTYPE_Q5_0,
                                       REEL_DTYPE_Q4_K, REEL_DTYPE_Q6_K};
    const int64_t n_out = 37, T = 11;
    reel_pool *pool = reel_pool_init(3);
    CHECK(pool != NULL, "no thread pool");
    for (int k = 0; k < 5; k++) {
        const reel_dtype t = types[k];
        const int64_t n_in = k < 3 ? 32 * 9 : 512;
        uint8_t *w = rnd_weights(t, n_in, n_out);
        float *x = rnd_x(n_in, T);
        float *y1 = malloc((size_t)(T * n_out) * sizeof(float));
        float *y3 = malloc((size_t)(T * n_out) * sizeof(float));
        float *yt = malloc((size_t)n_out * sizeof(float));
        CHECK(reeli_neon_qmatmul(NULL, y1, w, t, x, n_in, n_out, T, level) == 0, "matmul");
        CHECK(reeli_neon_qmatmul(pool, y3, w, t, x, n_in, n_out, T, level) == 0, "matmul");
        CHECK(memcmp(y1, y3, (size_t)(T * n_out) * sizeof(float)) == 0,
              "%s %s: 1 and 3 threads differ", tname(t), LEVEL[level]);
        for (int64_t tk = 0; tk < T; tk++) {
            CHECK(reeli_neon_qmatmul(pool, yt, w, t, x + tk * n_in, n_in, n_out, 1, level) == 0,
                  "matmul");
            CHECK(memcmp(yt, y1 + tk * n_out, (size_t)n_out * sizeof(float)) == 0,
                  "%s %s: token %lld alone differs from the batch", tname(t), LEVEL[level],
                  (long long)tk);
        }
        free(w), free(x), free(y1), free(y3), free(yt);
    }
    reel_pool_free(pool);
    printf("%-7s: 1 and 3 threads, batched and token by token: the same bits\n", LEVEL[level]);
}

/* the interleaved layouts (kernels/cpu/repack.c) through the SDOT-by-lane kernels: the bits of the
 * row-major kernels for every output, over groups of 8 rows paired and an odd one alone (8 to 40
 * rows), rows of 1, 7 and 98 blocks (K-quants: 1, 3 and 10 super-blocks), tokens 1 to 17 around
 * the 4-token pass, 1 and 3 threads; and their refusals */
static void test_interleaved(void)
{
    static const reel_dtype plain[] = {REEL_DTYPE_Q8_0, REEL_DTYPE_Q4_0, REEL_DTYPE_Q5_0,
                                       REEL_DTYPE_Q4_K, REEL_DTYPE_Q6_K};
    static const reel_dtype r8[] = {REEL_DTYPE_Q8_0_R8, REEL_DTYPE_Q4_0_R8, REEL_DTYPE_Q5_0_R8,
                                    REEL_DTYPE_Q4_K_R8, REEL_DTYPE_Q6_K_R8};
    static const int64_t n_outs[] = {8, 16, 24, 40};
    static const int64_t Ts[] = {1, 2, 3, 4, 5, 8, 9, 17};
    reel_pool *pool = reel_pool_init(3);
    int cases = 0;
    for (int k = 0; k < 5; k++)
        for (size_t a = 0; a < 4; a++)
            for (size_t i = 0; i < 3; i++)
                for (size_t s = 0; s < 8; s++) {
                    if (i == 2 && (a % 2 || s % 3)) continue; /* long rows: a few */
                    /* 1, 7 and 98 blocks; the K-quants 1, 3 and 10 super-blocks */
                    const int kq = k >= 3;
                    const int64_t n_ins[] = {kq ? 256 : 32, kq ? 768 : 32 * 7, kq ? 2560 : 32 * 98};
                    const int64_t n_out = n_outs[a], n_in = n_ins[i], T = Ts[s];
                    const size_t bytes = reel_dtype_row_bytes(plain[k], n_in) * (size_t)n_out;
                    uint8_t *w = rnd_weights(plain[k], n_in, n_out), *wr = malloc(bytes);
                    CHECK(reeli_cpu_repack(r8[k], wr, plain[k], w, n_in, n_out) == 0, "repack");
                    float *x = rnd_x(n_in, T), *y0 = malloc((size_t)(T * n_out) * sizeof(float));
                    float *y1 = malloc((size_t)(T * n_out) * sizeof(float));
                    float *y3 = malloc((size_t)(T * n_out) * sizeof(float));
                    CHECK(reeli_neon_qmatmul(NULL, y0, w, plain[k], x, n_in, n_out, T,
                                             REELI_ARM_NEON) == 0,
                          "row-major matmul");
                    int (*mm)(reel_pool *, float *, const void *, reel_dtype, const float *,
                              int64_t, int64_t, int64_t) =
                        kq ? reeli_neon_gemm_r8_kquant : reeli_neon_gemm_r8;
                    CHECK(mm(NULL, y1, wr, r8[k], x, n_in, n_out, T) == 0, "interleaved matmul: %s",
                          reel_last_error());
                    CHECK(mm(pool, y3, wr, r8[k], x, n_in, n_out, T) == 0, "interleaved matmul");
                    CHECK(memcmp(y0, y1, (size_t)(T * n_out) * sizeof(float)) == 0,
                          "%s interleaved %lldx%lld T=%lld: not the row-major kernel's bits",
                          tname(plain[k]), (long long)n_out, (long long)n_in, (long long)T);
                    CHECK(memcmp(y1, y3, (size_t)(T * n_out) * sizeof(float)) == 0,
                          "%s interleaved %lldx%lld T=%lld: 1 and 3 threads differ",
                          tname(plain[k]), (long long)n_out, (long long)n_in, (long long)T);
                    free(w), free(wr), free(x), free(y0), free(y1), free(y3);
                    cases++;
                }
    float y[8], x[64] = {0};
    uint8_t w[8 * 34 * 2] = {0};
    CHECK(reeli_neon_gemm_r8(NULL, y, w, REEL_DTYPE_Q8_0, x, 32, 8, 1) == REEL_EUNSUPPORTED,
          "plain Q8_0 accepted by the interleaved kernel");
    CHECK(reeli_neon_gemm_r8(NULL, y, w, REEL_DTYPE_Q8_0_R8, x, 32, 7, 1) == REEL_EINVAL,
          "7 interleaved rows accepted");
    CHECK(reeli_neon_gemm_r8(NULL, y, w, REEL_DTYPE_Q8_0_R8, x, 48, 8, 1) == REEL_EINVAL,
          "a row of 48 elements accepted");
    CHECK(reeli_neon_gemm_r8(NULL, y, w, REEL_DTYPE_Q4_K_R8, x, 256, 8, 1) == REEL_EUNSUPPORTED,
          "Q4_K_R8 accepted by the Q8_0/Q4_0/Q5_0 kernel");
    CHECK(reeli_neon_gemm_r8_kquant(NULL, y, w, REEL_DTYPE_Q4_0_R8, x, 32, 8, 1) ==
              REEL_EUNSUPPORTED,
          "Q4_0_R8 accepted by the K-quant kernel");
    CHECK(reeli_neon_gemm_r8_kquant(NULL, y, w, REEL_DTYPE_Q6_K_R8, x, 32, 8, 1) == REEL_EINVAL,
          "a K-quant row of 32 elements accepted");
    reel_pool_free(pool);
    printf("interleaved Q8_0/Q4_0/Q5_0/Q4_K/Q6_K (SDOT by lane): %d shapes, the row-major bits\n",
           cases);
}

/* the float-weight kernel (F32, F16, BF16) against the exact dot product of the weights as
 * stored: within (n / 8 + 12) 2^-24 sum |w x| (each product meets at most n / 8 fused adds in
 * its lane, then 3 additions of lanes and tail, and up to 8 steps of the tail); rows of 1 to
 * 1000 elements (tails of 0 to 7), tokens 1 to 9; and the same bits with 3 threads and token by
 * token */
static void test_fmatmul(void)
{
    static const reel_dtype types[] = {REEL_DTYPE_F32, REEL_DTYPE_F16, REEL_DTYPE_BF16};
    static const int64_t n_ins[] = {1, 7, 8, 9, 64, 100, 1000};
    static const int64_t n_outs[] = {1, 3, 5, 17};
    static const int64_t Ts[] = {1, 2, 3, 4, 5, 9};
    reel_pool *pool = reel_pool_init(3);
    for (int k = 0; k < 3; k++) {
        const reel_dtype t = types[k];
        double worst = 0;
        for (size_t a = 0; a < sizeof n_ins / sizeof n_ins[0]; a++)
            for (size_t b = 0; b < sizeof n_outs / sizeof n_outs[0]; b++)
                for (size_t s = 0; s < sizeof Ts / sizeof Ts[0]; s++) {
                    const int64_t n = n_ins[a], n_out = n_outs[b], T = Ts[s];
                    const size_t rb = reel_dtype_row_bytes(t, n);
                    uint8_t *w = malloc(rb * (size_t)n_out);
                    float *wv = malloc((size_t)(n * n_out) * sizeof(float));
                    for (int64_t i = 0; i < n * n_out; i++) {
                        const float v = frand();
                        if (t == REEL_DTYPE_F32) {
                            memcpy(w + 4 * i, &v, 4);
                            wv[i] = v;
                        } else {
                            const uint16_t h =
                                t == REEL_DTYPE_F16 ? reel_fp32_to_fp16(v) : reel_fp32_to_bf16(v);
                            memcpy(w + 2 * i, &h, 2);
                            wv[i] =
                                t == REEL_DTYPE_F16 ? reel_fp16_to_fp32(h) : reel_bf16_to_fp32(h);
                        }
                    }
                    float *x = rnd_x(n, T), *y = malloc((size_t)(T * n_out) * sizeof(float));
                    float *y3 = malloc((size_t)(T * n_out) * sizeof(float));
                    CHECK(reeli_neon_fmatmul(NULL, y, w, t, x, n, n_out, T) == 0, "fmatmul");
                    CHECK(reeli_neon_fmatmul(pool, y3, w, t, x, n, n_out, T) == 0, "fmatmul");
                    CHECK(memcmp(y, y3, (size_t)(T * n_out) * sizeof(float)) == 0,
                          "%s %lldx%lld T=%lld: 1 and 3 threads differ", tname(t), (long long)n_out,
                          (long long)n, (long long)T);
                    for (int64_t tk = 0; tk < T; tk++) {
                        CHECK(reeli_neon_fmatmul(NULL, y3, w, t, x + tk * n, n, n_out, 1) == 0,
                              "fmatmul");
                        CHECK(memcmp(y3, y + tk * n_out, (size_t)n_out * sizeof(float)) == 0,
                              "%s %lldx%lld: token %lld alone differs from the batch", tname(t),
                              (long long)n_out, (long long)n, (long long)tk);
                        for (int64_t r = 0; r < n_out; r++) {
                            double e = 0, l1 = 0;
                            for (int64_t i = 0; i < n; i++) {
                                e += (double)wv[r * n + i] * x[tk * n + i];
                                l1 += fabs((double)wv[r * n + i] * x[tk * n + i]);
                            }
                            const double unit = 0x1p-24 * l1, got = y[tk * n_out + r];
                            CHECK(fabs(got - e) <= ((double)(n / 8) + 12.0) * unit,
                                  "%s %lldx%lld T=%lld: y[%lld][%lld] = %.9g, exact %.9g", tname(t),
                                  (long long)n_out, (long long)n, (long long)T, (long long)tk,
                                  (long long)r, got, e);
                            if (unit > 0) worst = fmax(worst, fabs(got - e) / unit);
                        }
                    }
                    free(w), free(wv), free(x), free(y), free(y3);
                }
        printf("%-4s float: largest error %.2f units of 2^-24 sum |w x| (bound n / 8 + 12)\n",
               tname(t), worst);
    }
    reel_pool_free(pool);
}

static float *rnd_v(int64_t n, float scale)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

/* largest |a - b| relative to the largest |b| (comparisons, not fmax: GCC 12's aarch64
 * vectorizer fails on an fmax reduction of doubles from floats) */
static double rel_diff(const float *a, const float *b, int64_t n)
{
    double m = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) {
        const double v = fabs((double)b[i]);
        if (v > scale) scale = v;
    }
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]) / scale;
        if (d > m) m = d;
    }
    return m;
}

/* the NEON non-matmul ops against their scalar twins (kernels/cpu/unary.c, norm.c, conv.c,
 * ssm.c, attention.c) with the bounds of tests/test_kernels_ops.c's dispatch test: activations
 * within 1e-6 relative over every length around the 4-wide vector and a wide range of inputs
 * (exp's clamps too), a value's bits independent of its position; the gated norm within 2e-6,
 * the plain one within 1e-6 over lengths around the vector (in place too);
 * conv1d within 1e-5 over channel counts around the 4-wide block and 1..5 taps, fed whole and
 * in pieces through the state (the state itself bit for bit: it holds raw inputs); the scan
 * within 1e-5 (outputs) and 1e-6 (state) over state sizes with and without a tail; attention
 * within 1e-5 over F32 and F16 caches and head dims with and without a tail; and 1 and 3
 * threads, batch and token by token, giving the same bits. */
static void test_ops(void)
{
    reel_pool *pool = reel_pool_init(3);
    double worst_u = 0, worst_n = 0, worst_c = 0, worst_s = 0, worst_a = 0;
    for (int64_t n = 1; n <= 21; n++)
        for (int op = 0; op < 3; op++) {
            float *x = rnd_v(n, 30.0f), *y0 = malloc((size_t)n * 4), *y1 = malloc((size_t)n * 4);
            x[0] = n % 2 ? -200.0f : 150.0f;
            reeli_cpu_unary((reel_unary)op, y0, x, n);
            reeli_neon_unary((reel_unary)op, y1, x, n);
            for (int64_t i = 0; i < n; i++) {
                const double e = fabs((double)y0[i] - y1[i]);
                CHECK(e <= 1e-6 * fabs(y0[i]) + 1e-30, "unary %d n %lld x %g: %.9g vs %.9g", op,
                      (long long)n, x[i], y0[i], y1[i]);
                if (y0[i] != 0) worst_u = fmax(worst_u, e / fabs(y0[i]));
                float one;
                reeli_neon_unary((reel_unary)op, &one, x + i, 1);
                CHECK(memcmp(&one, y1 + i, 4) == 0, "unary %d: element %lld alone differs", op,
                      (long long)i);
            }
            free(x), free(y0), free(y1);
        }
    const int64_t gss[][2] = {{24, 6}, {64, 16}, {60, 12}, {960 * 2, 960}, {27, 9}, {6, 3}};
    for (size_t gi = 0; gi < 6; gi++) {
        const int64_t n = gss[gi][0], gs = gss[gi][1], T = 3, st = n + 5;
        float *x = rnd_v(st * T, 2.0f), *z = rnd_v(st * T, 6.0f), *w = rnd_v(n, 1.0f);
        float *y0 = calloc((size_t)(st * T), 4), *y1 = calloc((size_t)(st * T), 4);
        reeli_cpu_gated_rmsnorm(y0, st, x, st, z, st, w, n, gs, T, 1e-5f);
        reeli_neon_gated_rmsnorm(y1, st, x, st, z, st, w, n, gs, T, 1e-5f);
        const double d = rel_diff(y1, y0, st * T);
        CHECK(d <= 2e-6, "gated_rmsnorm n %lld gs %lld: rel diff %.3g", (long long)n, (long long)gs,
              d);
        worst_n = fmax(worst_n, d);
        free(x), free(z), free(w), free(y0), free(y1);
    }
    for (int64_t n = 1; n <= 67; n += n < 9 ? 1 : 29) { /* 1..9, 38, 67: tails of 0..3 */
        const int64_t T = 3;
        float *x = rnd_v(n * T, 2.0f), *w = rnd_v(n, 1.0f);
        float *y0 = malloc((size_t)(n * T) * 4), *y1 = malloc((size_t)(n * T) * 4);
        x[0] = 40.0f; /* one large value: the statistics dominated by it */
        reeli_cpu_rmsnorm(y0, x, w, n, T, 1e-5f);
        reeli_neon_rmsnorm(y1, x, w, n, T, 1e-5f);
        const double d = rel_diff(y1, y0, n * T);
        CHECK(d <= 1e-6, "rmsnorm n %lld: rel diff %.3g", (long long)n, d);
        worst_n = fmax(worst_n, d);
        reeli_neon_rmsnorm(x, x, w, n, T, 1e-5f); /* in place: the same bits */
        CHECK(memcmp(x, y1, (size_t)(n * T) * 4) == 0, "rmsnorm n %lld: in place differs",
              (long long)n);
        free(x), free(w), free(y0), free(y1);
    }
    for (int64_t C = 1; C <= 14; C++)
        for (int K = 1; K <= 5; K++) {
            const int64_t T = 7, stride = C + 3, ns = (K - 1) * C + 1;
            float *x = rnd_v(T * stride, 2.0f), *w = rnd_v(C * K, 1.0f), *b = rnd_v(C, 1.0f);
            float *s0 = rnd_v(ns, 1.0f), *s1 = malloc((size_t)ns * 4), *s3 = malloc((size_t)ns * 4);
            float *y0 = malloc((size_t)(T * C) * 4), *y1 = malloc((size_t)(T * C) * 4);
            float *y3 = malloc((size_t)(T * C) * 4);
            memcpy(s1, s0, (size_t)ns * 4);
            memcpy(s3, s0, (size_t)ns * 4);
            reeli_cpu_conv1d(NULL, y0, x, stride, s0, w, C % 2 ? b : NULL, C, K, T);
            reeli_neon_conv1d(NULL, y1, x, stride, s1, w, C % 2 ? b : NULL, C, K, 3);
            reeli_neon_conv1d(NULL, y1 + 3 * C, x + 3 * stride, stride, s1, w, C % 2 ? b : NULL, C,
                              K, T - 3);
            reeli_neon_conv1d(pool, y3, x, stride, s3, w, C % 2 ? b : NULL, C, K, T);
            const double d = rel_diff(y1, y0, T * C);
            CHECK(d <= 1e-5, "conv1d C %lld K %d: rel diff %.3g", (long long)C, K, d);
            worst_c = fmax(worst_c, d);
            CHECK(memcmp(y1, y3, (size_t)(T * C) * 4) == 0,
                  "conv1d C %lld K %d: whole (3 threads) and in pieces differ", (long long)C, K);
            CHECK(memcmp(s0, s1, (size_t)ns * 4) == 0 && memcmp(s0, s3, (size_t)ns * 4) == 0,
                  "conv1d C %lld K %d: the state is not the reference's (or the guard moved)",
                  (long long)C, K);
            free(x), free(w), free(b), free(s0), free(s1), free(s3), free(y0), free(y1), free(y3);
        }
    const int sh[][4] = {{8, 4, 16, 2}, {4, 6, 12, 4}, {6, 5, 128, 1}, {2, 3, 29, 1}, {3, 2, 3, 3}};
    for (size_t si = 0; si < 5; si++)
        for (int64_t T = 1; T <= 5; T += 4) {
            const int nh = sh[si][0], P = sh[si][1], N = sh[si][2], G = sh[si][3];
            const int64_t xs = (int64_t)nh * P + 3, bcs = 2 * (int64_t)G * N + 1;
            const int64_t ny = T * nh * P, ns = (int64_t)nh * P * N;
            float *x = rnd_v(T * xs, 1), *bc = rnd_v(T * bcs, 1), *dt = rnd_v(T * nh, 1);
            for (int64_t i = 0; i < T * nh; i++) dt[i] = log1pf(expf(dt[i] * 2));
            float *A = rnd_v(nh, 1), *D = rnd_v(nh, 1);
            for (int i = 0; i < nh; i++) A[i] = -expf(A[i] * 1.5f);
            float *st0 = rnd_v(ns, 1), *st1 = malloc((size_t)ns * 4), *st3 = malloc((size_t)ns * 4);
            float *y0 = malloc((size_t)ny * 4), *y1 = malloc((size_t)ny * 4);
            float *y3 = malloc((size_t)ny * 4);
            memcpy(st1, st0, (size_t)ns * 4);
            memcpy(st3, st0, (size_t)ns * 4);
            reel_ssm_args a = {T, nh, P, N, G, x, xs, bc, bc + G * N, bcs, dt, A, D, st0, y0, 4};
            reeli_cpu_ssm_scan(NULL, &a);
            a.state = st1, a.y = y1;
            reeli_neon_ssm_scan(NULL, &a);
            a.state = st3, a.y = y3;
            reeli_neon_ssm_scan(pool, &a);
            const double dy = rel_diff(y1, y0, ny), ds = rel_diff(st1, st0, ns);
            CHECK(dy <= 1e-5 && ds <= 1e-6, "ssm_scan shape %zu T=%lld: rel diff y %.3g state %.3g",
                  si, (long long)T, dy, ds);
            worst_s = fmax(worst_s, fmax(dy, ds));
            CHECK(memcmp(y1, y3, (size_t)ny * 4) == 0 && memcmp(st1, st3, (size_t)ns * 4) == 0,
                  "ssm_scan shape %zu: 1 and 3 threads differ", si);
            free(x), free(bc), free(dt), free(A), free(D), free(st0), free(st1), free(st3);
            free(y0), free(y1), free(y3);
        }
    const int hds[] = {4, 8, 12, 16, 20, 3, 128};
    for (int kvt = 0; kvt < 2; kvt++)
        for (int hi = 0; hi < 7; hi++) {
            const int na = 4, nkv = 2, hd = hds[hi];
            const int64_t pos0 = 5, T = 3, kvw = nkv * hd, ctx = pos0 + T, no = T * na * hd;
            const reel_dtype type = kvt ? REEL_DTYPE_F16 : REEL_DTYPE_F32;
            float *kf = rnd_v(ctx * kvw, 1), *vf = rnd_v(ctx * kvw, 1), *q = rnd_v(T * na * hd, 2);
            void *kc = kf, *vc = vf;
            uint16_t *kh = NULL, *vh = NULL;
            if (kvt) {
                kh = malloc((size_t)(ctx * kvw) * 2), vh = malloc((size_t)(ctx * kvw) * 2);
                for (int64_t i = 0; i < ctx * kvw; i++)
                    kh[i] = reel_fp32_to_fp16(kf[i]), vh[i] = reel_fp32_to_fp16(vf[i]);
                kc = kh, vc = vh;
            }
            float *o0 = malloc((size_t)no * 4), *o1 = malloc((size_t)no * 4);
            float *o3 = malloc((size_t)no * 4);
            reel_attn_args a = {T, pos0, na, nkv, hd, q, na * hd, kc, vc, type, o0};
            reeli_cpu_attention(NULL, &a);
            a.out = o3;
            reeli_neon_attention(pool, &a);
            for (int64_t t = 0; t < T; t++) { /* one query at a time (decode) */
                reel_attn_args b = {
                    1,    pos0 + t,        na, nkv, hd, q + t * na * hd, na * hd, kc, vc,
                    type, o1 + t * na * hd};
                reeli_neon_attention(NULL, &b);
            }
            for (int64_t i = 0; i < no; i++) {
                const double e = fabs((double)o0[i] - o1[i]);
                CHECK(e <= 1e-5 * (1 + fabs(o0[i])), "attention %s hd %d: %.9g vs %.9g",
                      kvt ? "F16" : "F32", hd, o0[i], o1[i]);
                worst_a = fmax(worst_a, e / (1 + fabs(o0[i])));
            }
            CHECK(memcmp(o1, o3, (size_t)no * 4) == 0,
                  "attention %s hd %d: the batch on 3 threads differs from token by token",
                  kvt ? "F16" : "F32", hd);
            free(kf), free(vf), free(q), free(kh), free(vh), free(o0), free(o1), free(o3);
        }
    reel_pool_free(pool);
    printf("ops vs scalar (largest relative differences): unary %.2g, norms %.2g, conv1d "
           "%.2g, ssm_scan %.2g, attention %.2g\n",
           worst_u, worst_n, worst_c, worst_s, worst_a);
}

/* the table: its name says the level REEL_CPU and the CPU allow, its matmul gives the bits of
 * that level's kernel for Q4_0, the scalar reference's for F32, and errors for bad shapes */
static void test_dispatch(void)
{
    const reel_cpu_features *f = reel_kernels_cpu();
    const reel_kernel_ops *ops = reel_kernels_ops_cpu();
    char desc[256];
    reel_kernels_cpu_describe(desc, sizeof desc);
    printf("CPU features: %s; table %s\n", desc, ops->name);
    const char *expect = getenv("REEL_TEST_ARM64_EXPECT");
    if (expect) {
        const char *want = strcmp(expect, "scalar") == 0    ? "cpu"
                           : strcmp(expect, "neon") == 0    ? "cpu-neon"
                           : strcmp(expect, "dotprod") == 0 ? "cpu-neon-dotprod"
                                                            : "cpu-neon-i8mm";
        CHECK(strcmp(ops->name, want) == 0, "table %s, expected %s (REEL_TEST_ARM64_EXPECT=%s)",
              ops->name, want, expect);
        const int want_i8mm = strcmp(expect, "i8mm") == 0;
        CHECK(f->i8mm == want_i8mm, "i8mm %s, expected %s", f->i8mm ? "on" : "off",
              want_i8mm ? "on" : "off");
    }
    const int64_t n_in = 32 * 5, n_out = 9, T = 6;
    uint8_t *w = rnd_weights(REEL_DTYPE_Q4_0, n_in, n_out);
    float *x = rnd_x(n_in, T), *y = malloc((size_t)(T * n_out) * sizeof(float));
    float *yr = malloc((size_t)(T * n_out) * sizeof(float));
    CHECK(ops->matmul(NULL, y, w, REEL_DTYPE_Q4_0, x, n_in, n_out, T) == 0, "table matmul");
    if (f->neon) { /* (every level gives these bits: test_matmul checks that) */
        CHECK(reeli_neon_qmatmul(NULL, yr, w, REEL_DTYPE_Q4_0, x, n_in, n_out, T, REELI_ARM_NEON) ==
                  0,
              "matmul");
        CHECK(memcmp(y, yr, (size_t)(T * n_out) * sizeof(float)) == 0,
              "the table's Q4_0 matmul is not the NEON kernels'");
    } else { /* REEL_CPU=scalar: the scalar reference */
        CHECK(reel_kernels_ops_cpu_scalar()->matmul(NULL, yr, w, REEL_DTYPE_Q4_0, x, n_in, n_out,
                                                    T) == 0,
              "scalar matmul");
        CHECK(memcmp(y, yr, (size_t)(T * n_out) * sizeof(float)) == 0,
              "REEL_CPU=scalar: the table's Q4_0 matmul is not the scalar reference");
    }
    float *wf = malloc((size_t)(n_in * n_out) * sizeof(float));
    for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = frand();
    CHECK(ops->matmul(NULL, y, wf, REEL_DTYPE_F32, x, n_in, n_out, T) == 0, "table matmul F32");
    if (f->neon)
        CHECK(reeli_neon_fmatmul(NULL, yr, wf, REEL_DTYPE_F32, x, n_in, n_out, T) == 0, "matmul");
    else
        CHECK(reel_kernels_ops_cpu_scalar()->matmul(NULL, yr, wf, REEL_DTYPE_F32, x, n_in, n_out,
                                                    T) == 0,
              "scalar matmul F32");
    CHECK(memcmp(y, yr, (size_t)(T * n_out) * sizeof(float)) == 0,
          "F32 through the table is not the %s kernel", f->neon ? "NEON" : "scalar");
    /* the layout the loader asks for: interleaved Q4_0 / Q8_0 / Q5_0 with dotprod, else as
     * stored; and the table's matmul on it gives the row-major bits */
    const reel_dtype want = f->dotprod ? REEL_DTYPE_Q4_0_R8 : REEL_DTYPE_Q4_0;
    CHECK(reel_kernels_preferred_layout(ops, REEL_DTYPE_Q4_0, 4096, 64) == want,
          "preferred layout of Q4_0: %d, expected %d",
          (int)reel_kernels_preferred_layout(ops, REEL_DTYPE_Q4_0, 4096, 64), (int)want);
    CHECK(reel_kernels_preferred_layout(ops, REEL_DTYPE_Q4_0, 4096, 63) == REEL_DTYPE_Q4_0,
          "63 rows: not row-major");
    CHECK(reel_kernels_preferred_layout(ops, REEL_DTYPE_Q4_K, 4096, 64) ==
              (f->dotprod ? REEL_DTYPE_Q4_K_R8 : REEL_DTYPE_Q4_K),
          "Q4_K: wrong layout");
    CHECK(reel_kernels_preferred_layout(ops, REEL_DTYPE_Q6_K, 3136 + 64, 64) == REEL_DTYPE_Q6_K,
          "Q6_K rows of 3200: not row-major");
    if (f->dotprod) {
        const int64_t n8 = 16;
        uint8_t *w8 = rnd_weights(REEL_DTYPE_Q5_0, n_in, n8);
        uint8_t *w8r = malloc(reel_dtype_row_bytes(REEL_DTYPE_Q5_0, n_in) * (size_t)n8);
        float *y8 = malloc((size_t)(T * n8) * sizeof(float));
        float *y8r = malloc((size_t)(T * n8) * sizeof(float));
        CHECK(reel_kernels_repack(REEL_DTYPE_Q5_0_R8, w8r, REEL_DTYPE_Q5_0, w8, n_in, n8) == 0,
              "repack");
        CHECK(ops->matmul(NULL, y8, w8r, REEL_DTYPE_Q5_0_R8, x, n_in, n8, T) == 0, "table R8");
        CHECK(reeli_neon_qmatmul(NULL, y8r, w8, REEL_DTYPE_Q5_0, x, n_in, n8, T, REELI_ARM_NEON) ==
                  0,
              "matmul");
        CHECK(memcmp(y8, y8r, (size_t)(T * n8) * sizeof(float)) == 0,
              "Q5_0_R8 through the table: not the row-major bits");
        free(w8), free(w8r), free(y8), free(y8r);
    }
    /* the other ops: the NEON ones (test_ops checks them against the reference) */
    const reel_kernel_ops *sc = reel_kernels_ops_cpu_scalar();
    CHECK(f->neon ? ops->unary == reeli_neon_unary && ops->conv1d == reeli_neon_conv1d &&
                        ops->ssm_scan == reeli_neon_ssm_scan &&
                        ops->attention == reeli_neon_attention &&
                        ops->gated_rmsnorm == reeli_neon_gated_rmsnorm &&
                        ops->rmsnorm == reeli_neon_rmsnorm
                  : ops->unary == sc->unary && ops->conv1d == sc->conv1d &&
                        ops->ssm_scan == sc->ssm_scan && ops->attention == sc->attention &&
                        ops->gated_rmsnorm == sc->gated_rmsnorm && ops->rmsnorm == sc->rmsnorm,
          "the table's non-matmul ops are not the %s ones", f->neon ? "NEON" : "scalar");
    /* a type without a NEON kernel: the scalar reference */
    uint8_t *w5 = rnd_weights(REEL_DTYPE_Q5_1, n_in, n_out);
    CHECK(ops->matmul(NULL, y, w5, REEL_DTYPE_Q5_1, x, n_in, n_out, T) == 0, "table matmul Q5_1");
    CHECK(reel_kernels_ops_cpu_scalar()->matmul(NULL, yr, w5, REEL_DTYPE_Q5_1, x, n_in, n_out, T) ==
              0,
          "scalar matmul Q5_1");
    CHECK(memcmp(y, yr, (size_t)(T * n_out) * sizeof(float)) == 0,
          "Q5_1 through the table differs from the scalar reference");
    free(w5);
    CHECK(reeli_neon_fmatmul(NULL, y, w, REEL_DTYPE_Q4_0, x, n_in, n_out, T) == REEL_EUNSUPPORTED,
          "Q4_0 weights were accepted by the float kernel");
    CHECK(reeli_neon_qmatmul(NULL, y, w, REEL_DTYPE_Q4_0, x, 33, n_out, T, 0) == REEL_EINVAL,
          "a row of 33 elements was accepted");
    CHECK(reeli_neon_qmatmul(NULL, y, wf, REEL_DTYPE_F32, x, n_in, n_out, T, 0) ==
              REEL_EUNSUPPORTED,
          "F32 weights were accepted by the integer-dot kernel");
    free(w), free(x), free(y), free(yr), free(wf);
}

int main(void)
{
#if !defined(__aarch64__)
    printf("SKIPPED: test_kernels_arm64: the NEON kernels exist only in ARM64 builds\n");
    return 77;
#else
    /* the CPU's own levels, whatever REEL_CPU caps for the table */
    const int has[3] = {1, (getauxval(AT_HWCAP) & (1ul << 20)) != 0, /* HWCAP_ASIMDDP */
                        (getauxval(AT_HWCAP2) & (1ul << 13)) != 0};  /* HWCAP2_I8MM */
    test_dispatch();
    test_quantizer();
    test_fmatmul();
    test_ops();
    for (int level = REELI_ARM_NEON; level <= REELI_ARM_I8MM; level++) {
        if (!has[level]) {
            printf("%s: not tested, this CPU lacks it (AT_HWCAP / AT_HWCAP2)\n", LEVEL[level]);
            continue;
        }
        test_matmul((reeli_arm_level)level);
        test_independence((reeli_arm_level)level);
    }
    if (reel_kernels_cpu()->dotprod)
        test_interleaved();
    else
        printf("interleaved layouts: not tested, no dotprod here (AT_HWCAP or REEL_CPU)\n");
    if (failures)
        printf("%d check(s) failed\n", failures);
    else
        printf("all checks passed\n");
    return failures ? 1 : 0;
#endif
}
