/* Quantized weights: the quantizers (round-trip RMS bounds per type on Gaussian and uniform
 * data, GGML's exact Q8_0/Q4_0/Q5_0/Q5_1 rules on hand-made blocks, zeros, an outlier, partial
 * blocks) and every integer-dot SIMD matmul (AVX2, AVX-512 VNNI where the CPU has it) against
 * the scalar float reference on random inputs, with per-type tolerances; tile shapes, thread
 * counts and T = 1 vs batched calls must give identical bits. */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0x9e3779b97f4a7c15ull
/* every test restarts the generator, so its data do not depend on which tests ran before it
 * (REEL_TEST_FILTER runs them in separate entries) */
static uint64_t rng = SEED;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float *rnd(int64_t n)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    return v;
}

static void test_quantize_exact(void **state)
{
    (void)state;
    float x[32];
    uint8_t q[34];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) / 16.0f; /* -1 .. 0.9375 */
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q8_0, x, q, 32), 0);
    assert_int_equal(q[0] | (q[1] << 8), reel_fp32_to_fp16(1.0f / 127.0f));
    assert_int_equal((int8_t)q[2], -127);    /* -1 */
    assert_int_equal((int8_t)q[2 + 24], 64); /* 0.5 * 127 = 63.5 rounds away from zero */
    assert_int_equal((int8_t)q[2 + 16], 0);
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q4_0, x, q, 32), 0);
    /* largest magnitude is -1: d = -1/-8 = 0.125, q = (int)(x/d + 8.5) */
    assert_int_equal(q[0] | (q[1] << 8), reel_fp32_to_fp16(0.125f));
    assert_int_equal(q[2] & 15, 0);       /* x[0] = -1 -> 0 */
    assert_int_equal(q[2] >> 4, 8);       /* x[16] = 0 -> 8 */
    assert_int_equal(q[2 + 15] >> 4, 15); /* x[31] = 0.9375 -> 7.5 + 8.5 = 16 -> clamped 15 */
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q4_0, x, q, 31), REEL_EINVAL);
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q4_1, x, q, 32), REEL_EUNSUPPORTED);
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q2_K, x, q, 256), REEL_EUNSUPPORTED);

    /* Q5_0 (GGML's rule): the largest magnitude is -1, d = -1/-16 = 0.0625, q = (int)(x/d +
     * 16.5) = i for x = (i-16)/16 (x[31]: 15 + 16.5 -> 31). Low nibbles of q 0..15 and
     * 16..31 pair up in qs[j] = j | j << 4; bit 4 is set exactly for 16..31: qh = 0xffff0000 */
    uint8_t q5[24];
    static const uint8_t qh_hi[4] = {0x00, 0x00, 0xff, 0xff};
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q5_0, x, q5, 32), 0);
    assert_int_equal(q5[0] | (q5[1] << 8), 0x2c00); /* f16 0.0625 */
    assert_memory_equal(q5 + 2, qh_hi, 4);
    for (int j = 0; j < 16; j++) assert_int_equal(q5[6 + j], j | (j << 4));
    /* Q5_1: min -1, max 0.9375, d = 1.9375/31 = 0.0625, q = (int)((x+1)/d + 0.5) = i */
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q5_1, x, q5, 32), 0);
    assert_int_equal(q5[0] | (q5[1] << 8), 0x2c00);
    assert_int_equal(q5[2] | (q5[3] << 8), 0xbc00); /* f16 -1 */
    assert_memory_equal(q5 + 4, qh_hi, 4);
    for (int j = 0; j < 16; j++) assert_int_equal(q5[8 + j], j | (j << 4));
    /* half-way cases follow GGML's truncation of x/d + 16.5: with max 2 (d = -0.125), x = 0.0625
     * is -0.5 steps: (int)(16.0) = 16; x = -0.0625 is +0.5: (int)(17.0) = 17 */
    float y[32] = {2.0f, 0.0625f, -0.0625f};
    assert_int_equal(reel_kernels_quantize_row(REEL_DTYPE_Q5_0, y, q5, 32), 0);
    assert_int_equal(q5[0] | (q5[1] << 8), reel_fp32_to_fp16(-0.125f));
    assert_int_equal(q5[6] & 15, 0); /* 2 -> -16 + 16.5 -> 0 */
    assert_int_equal(q5[7] & 15, 0); /* 16 -> low nibble 0, bit in qh */
    assert_int_equal(q5[8] & 15, 1); /* 17 */
    /* every value but the first is 16 or 17 (zeros go to 16): only qh bit 0 is clear; a
     * round-half-even rule would give 16 for -0.0625 */
    static const uint8_t qh_most[4] = {0xfe, 0xff, 0xff, 0xff};
    assert_memory_equal(q5 + 2, qh_most, 4);
    assert_int_equal(q5[6 + 3], 0x00); /* 16 and 16 */
}

/* Gaussian (sigma 1) by Box-Muller over frand */
static float *gauss(int64_t n)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = (frand() + 1.0) / 2.0, u2 = (frand() + 1.0) / 2.0;
        if (u1 < 1e-12) u1 = 1e-12;
        const double r = sqrt(-2.0 * log(u1));
        v[i] = (float)(r * cos(6.283185307179586 * u2));
        if (i + 1 < n) v[i + 1] = (float)(r * sin(6.283185307179586 * u2));
    }
    return v;
}

/* every writable type: RMS of the round-trip error over the data's RMS, on Gaussian and uniform
 * data, within a bound ~10% above what kernels/cpu/quant.c reports (reel's figures there are
 * at or below llama.cpp's), and above a floor (a quantizer that stored the input unchanged
 * would be wrong about its own format); then the edge cases every type must handle */
static const struct {
    reel_dtype t;
    double gauss, uniform; /* bounds of RMS error / RMS */
} RT[] = {
    {REEL_DTYPE_Q8_0, 0.0060, 0.0043}, {REEL_DTYPE_Q4_0, 0.095, 0.072},
    {REEL_DTYPE_Q5_0, 0.047, 0.035},   {REEL_DTYPE_Q5_1, 0.042, 0.033},
    {REEL_DTYPE_IQ4_NL, 0.081, 0.069}, {REEL_DTYPE_Q4_K, 0.077, 0.060},
    {REEL_DTYPE_Q5_K, 0.038, 0.0295},  {REEL_DTYPE_Q6_K, 0.0192, 0.0145},
};
#define N_RT (sizeof RT / sizeof RT[0])

static double rms_ratio(reel_dtype t, const float *x, int64_t n)
{
    uint8_t *q = malloc(reel_dtype_row_bytes(t, n));
    float *y = malloc((size_t)n * sizeof(float));
    assert_int_equal(reel_kernels_quantize_row(t, x, q, n), 0);
    assert_int_equal(reel_kernels_dequantize_row(t, q, y, n), 0);
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        e += (double)(x[i] - y[i]) * (x[i] - y[i]), s += (double)x[i] * x[i];
    free(q), free(y);
    return sqrt(e / s);
}

static void test_quantize_rms(void **state)
{
    (void)state;
    const int64_t n = 1 << 18;
    float *g = gauss(n), *u = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) u[i] = frand();
    for (size_t c = 0; c < N_RT; c++) {
        const double rg = rms_ratio(RT[c].t, g, n), ru = rms_ratio(RT[c].t, u, n);
        print_message("%-6s round trip RMS error / sigma: Gaussian %.5f (bound %.4f), uniform "
                      "%.5f (bound %.4f)\n",
                      reel_dtype_name(RT[c].t), rg, RT[c].gauss, ru, RT[c].uniform);
        assert_true(rg <= RT[c].gauss && rg > RT[c].gauss / 4);
        assert_true(ru <= RT[c].uniform && ru > RT[c].uniform / 4);
    }
    free(g), free(u);
}

static void test_quantize_edges(void **state)
{
    (void)state;
    enum { N = 512 };
    float x[N], y[N];
    uint8_t q[N * 4];
    for (size_t c = 0; c < N_RT; c++) {
        const reel_dtype t = RT[c].t;
        const int bs = reel_dtype_block(t);
        const char *name = reel_dtype_name(t);
        /* zeros decode to zeros (no 0/0 in a scale) */
        memset(x, 0, sizeof x);
        memset(q, 0xab, sizeof q);
        assert_int_equal(reel_kernels_quantize_row(t, x, q, N), 0);
        assert_int_equal(reel_kernels_dequantize_row(t, q, y, N), 0);
        for (int i = 0; i < N; i++)
            if (y[i] != 0) fail_msg("%s: zeros decode to %g at %d", name, y[i], i);
        /* one huge outlier among small values: the outlier survives within the type's step, the
         * small values stay finite and within 1% of the outlier (IQ4_NL has no zero level) */
        for (int i = 0; i < N; i++) x[i] = 0.01f * frand();
        const int at = 37;
        x[at] = -1000.0f;
        assert_int_equal(reel_kernels_quantize_row(t, x, q, N), 0);
        assert_int_equal(reel_kernels_dequantize_row(t, q, y, N), 0);
        const double step = t == REEL_DTYPE_Q8_0 ? 1.0 / 127 : 1.0 / 8;
        if (fabs(y[at] - x[at]) > 1000.0 * step)
            fail_msg("%s: outlier -1000 decodes to %g", name, y[at]);
        for (int i = 0; i < N; i++) {
            if (!isfinite(y[i])) fail_msg("%s: %g at %d", name, y[i], i);
            const int same_block = i / bs == at / bs;
            const double lim = same_block ? 10.0 : 0.02; /* other blocks: untouched by it */
            if (i != at && fabs(y[i] - x[i]) > lim)
                fail_msg("%s: %g decodes to %g at %d (outlier at %d)", name, x[i], y[i], i, at);
        }
        /* a row that is not whole blocks */
        assert_int_equal(reel_kernels_quantize_row(t, x, q, bs + 16), REEL_EINVAL);
        assert_int_equal(reel_kernels_quantize_row(t, x, q, 16), REEL_EINVAL);
    }
}

static void test_quantize_roundtrip(void **state)
{
    (void)state;
    const int64_t n = 4096;
    float *x = rnd(n), *y = malloc(n * sizeof(float));
    uint8_t *q = malloc((size_t)n * sizeof(float));
    const struct {
        reel_dtype t;
        double bound; /* max |x - deq(q(x))| / block amax */
    } cases[] = {{REEL_DTYPE_Q8_0, 0.5 / 127 + 1e-3},
                 {REEL_DTYPE_Q4_0, 1.0 / 8 + 1e-3},
                 {REEL_DTYPE_F16, 1e-3},
                 {REEL_DTYPE_BF16, 8e-3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_int_equal(reel_kernels_quantize_row(cases[c].t, x, q, n), 0);
        assert_int_equal(reel_kernels_dequantize_row(cases[c].t, q, y, n), 0);
        double worst = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            double amax = 0;
            for (int i = 0; i < 32; i++) amax = fmax(amax, fabs(x[b * 32 + i]));
            for (int i = 0; i < 32; i++)
                worst = fmax(worst, fabs(x[b * 32 + i] - y[b * 32 + i]) / amax);
        }
        print_message("%s round trip: max error %.5f of block amax (bound %.5f)\n",
                      reel_dtype_name(cases[c].t), worst, cases[c].bound);
        assert_true(worst <= cases[c].bound);
        assert_true(worst > 0 || cases[c].t == REEL_DTYPE_F32);
    }
    free(x), free(y), free(q);
}

#if defined(__x86_64__)
/* one shape through one variant: compared with the scalar reference (tolerance relative to the
 * largest output), with itself at other thread counts and token by token (exact) */
static void check(reel_dtype type, int vnni, int64_t n_in, int64_t n_out, int64_t T, double tol)
{
    float *wf = rnd(n_in * n_out), *x = rnd(n_in * T);
    const size_t rb = reel_dtype_row_bytes(type, n_in);
    uint8_t *w = malloc(rb * (size_t)n_out);
    for (int64_t r = 0; r < n_out; r++)
        assert_int_equal(reel_kernels_quantize_row(type, wf + r * n_in, w + r * rb, n_in), 0);
    float *ref = malloc((size_t)(T * n_out) * sizeof(float));
    float *y1 = malloc((size_t)(T * n_out) * sizeof(float));
    float *y3 = malloc((size_t)(T * n_out) * sizeof(float));
    float *yt = malloc((size_t)(T * n_out) * sizeof(float));
    assert_int_equal(reel_kernels_ops_cpu_scalar()->matmul(NULL, ref, w, type, x, n_in, n_out, T),
                     0);
    assert_int_equal(reeli_x86_qmatmul(NULL, y1, w, type, x, n_in, n_out, T, vnni), 0);
    reel_pool *pool = reel_pool_init(3);
    assert_non_null(pool);
    assert_int_equal(reeli_x86_qmatmul(pool, y3, w, type, x, n_in, n_out, T, vnni), 0);
    reel_pool_free(pool);
    for (int64_t t = 0; t < T; t++)
        assert_int_equal(
            reeli_x86_qmatmul(NULL, yt + t * n_out, w, type, x + t * n_in, n_in, n_out, 1, vnni),
            0);
    assert_memory_equal(y1, y3, (size_t)(T * n_out) * sizeof(float));

    /* one token at a time takes other tiles (rows summed in another order): equal to fp32
     * rounding, and bit-equal where the tile is the same (the AVX2 kernels, or T = 1) */
    double scale0 = 1e-6, dt = 0;
    for (int64_t i = 0; i < T * n_out; i++) scale0 = fmax(scale0, fabs(y1[i]));
    for (int64_t i = 0; i < T * n_out; i++) dt = fmax(dt, fabs(y1[i] - yt[i]) / scale0);
    assert_true(dt <= 1e-5);
    if (!vnni || T == 1) assert_memory_equal(y1, yt, (size_t)(T * n_out) * sizeof(float));
    if (vnni && n_out % 8 == 0) {
        /* the interleaved layout: the same lanes as the plain batch tile, bit for bit, and
         * token by token equal to batched */
        const reel_dtype r8 = type == REEL_DTYPE_Q4_0 ? REEL_DTYPE_Q4_0_R8 : REEL_DTYPE_Q8_0_R8;
        uint8_t *wr = malloc(rb * (size_t)n_out);
        assert_int_equal(reel_kernels_repack(r8, wr, type, w, n_in, n_out), 0);
        assert_int_equal(reeli_x86_qmatmul(NULL, y3, wr, r8, x, n_in, n_out, T, 1), 0);
        if (T > 1) assert_memory_equal(y1, y3, (size_t)(T * n_out) * sizeof(float));
        for (int64_t t = 0; t < T; t++)
            assert_int_equal(
                reeli_x86_qmatmul(NULL, yt + t * n_out, wr, r8, x + t * n_in, n_in, n_out, 1, 1),
                0);
        assert_memory_equal(y3, yt, (size_t)(T * n_out) * sizeof(float));
        assert_int_equal(reel_kernels_repack(r8, wr, type, w, n_in, n_out - 1), REEL_EINVAL);
        free(wr);
    }
    double scale = 1e-6, err = 0;
    for (int64_t i = 0; i < T * n_out; i++) scale = fmax(scale, fabs(ref[i]));
    for (int64_t i = 0; i < T * n_out; i++) err = fmax(err, fabs(y1[i] - ref[i]) / scale);
    print_message("%s %s %lldx%lld T=%lld: max error %.5f of max |y| (tolerance %.4f)\n",
                  reel_dtype_name(type), vnni ? "vnni" : "avx2", (long long)n_out, (long long)n_in,
                  (long long)T, err, tol);
    assert_true(err <= tol);
    free(wf), free(x), free(w), free(ref), free(y1), free(y3), free(yt);
}

/* tolerance: int8 activations add ~0.4% of a block's amax per element, which averages out in a
 * dot product; relative to the largest output a few 1e-3. This is the distance from the float
 * reference; the exact reference with the same int8 activations (a bound on fp32 rounding only)
 * is test_kernels_qexact's. */
static void qmatmul(int vnni)
{
    const struct {
        int64_t n_in, n_out, T;
    } shapes[] = {{32, 1, 1},   {96, 37, 5},  {256, 9, 67}, {320, 66, 130}, {3136, 8, 3},
                  {64, 19, 17}, {128, 40, 9}, {256, 64, 1}, {96, 16, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        check(REEL_DTYPE_Q8_0, vnni, shapes[s].n_in, shapes[s].n_out, shapes[s].T, 0.015);
        check(REEL_DTYPE_Q4_0, vnni, shapes[s].n_in, shapes[s].n_out, shapes[s].T, 0.015);
    }
}

static void test_qmatmul_avx2(void **state)
{
    (void)state;
    rng = SEED;
    const reel_cpu_features *f = reel_kernels_cpu();
    if (!f->avx2 || !f->fma || !f->f16c) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    qmatmul(0);
}

static void test_qmatmul_vnni(void **state)
{
    (void)state;
    rng = SEED;
    const reel_cpu_features *f = reel_kernels_cpu();
    if (!f->avx2 || !f->fma || !f->f16c || !f->avx512vnni || !f->avx512vl)
        tu_skip("needs AVX-512 VNNI (+VL): this CPU lacks it");
    qmatmul(1);
}
#else
TU_X86_ONLY_TEST(test_qmatmul_avx2)
TU_X86_ONLY_TEST(test_qmatmul_vnni)
#endif

/* Q5_0 / Q4_K / Q6_K in their interleaved layouts (VNNI only): against the plain kernel of the
 * public table (the same integers per block, summed in another order: equal to fp32 rounding) and
 * the scalar reference; batched equal to token by token, bit for bit; thread count irrelevant. */
static void check_r8(reel_dtype type, reel_dtype r8, int64_t n_in, int64_t n_out, int64_t T)
{
    float *wf = rnd(n_in * n_out), *x = rnd(n_in * T);
    const size_t rb = reel_dtype_row_bytes(type, n_in), nbytes = rb * (size_t)n_out;
    uint8_t *w = malloc(nbytes), *wr = malloc(nbytes);
    for (int64_t r = 0; r < n_out; r++)
        assert_int_equal(reel_kernels_quantize_row(type, wf + r * n_in, w + r * rb, n_in), 0);
    const size_t ny = (size_t)(T * n_out);
    float *ref = malloc(ny * sizeof(float)), *yp = malloc(ny * sizeof(float));
    float *y1 = malloc(ny * sizeof(float)), *y3 = malloc(ny * sizeof(float));
    float *yt = malloc(ny * sizeof(float));
    assert_int_equal(reel_kernels_ops_cpu_scalar()->matmul(NULL, ref, w, type, x, n_in, n_out, T),
                     0);
    assert_int_equal(reel_kernels_ops_cpu()->matmul(NULL, yp, w, type, x, n_in, n_out, T), 0);
    assert_int_equal(reel_kernels_preferred_layout(reel_kernels_ops_cpu(), type, n_in, n_out), r8);
    assert_int_equal(reel_kernels_repack(r8, wr, type, w, n_in, n_out), 0);
    assert_int_equal(reel_kernels_ops_cpu()->matmul(NULL, y1, wr, r8, x, n_in, n_out, T), 0);
    reel_pool *pool = reel_pool_init(3);
    assert_non_null(pool);
    assert_int_equal(reel_kernels_ops_cpu()->matmul(pool, y3, wr, r8, x, n_in, n_out, T), 0);
    reel_pool_free(pool);
    assert_memory_equal(y1, y3, ny * sizeof(float));
    for (int64_t t = 0; t < T; t++)
        assert_int_equal(reel_kernels_ops_cpu()->matmul(NULL, yt + t * n_out, wr, r8, x + t * n_in,
                                                        n_in, n_out, 1),
                         0);
    assert_memory_equal(y1, yt, ny * sizeof(float));
    double scale = 1e-6, dp = 0, dr = 0;
    for (size_t i = 0; i < ny; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < ny; i++) {
        dp = fmax(dp, fabs(y1[i] - yp[i]) / scale);
        dr = fmax(dr, fabs(y1[i] - ref[i]) / scale);
    }
    print_message("%s interleaved %lldx%lld T=%lld: vs plain %.2g, vs scalar %.5f of max |y|\n",
                  reel_dtype_name(type), (long long)n_out, (long long)n_in, (long long)T, dp, dr);
    assert_true(dp <= 1e-5);
    assert_true(dr <= 0.015);
    assert_int_equal(reel_kernels_repack(r8, wr, type, w, n_in, n_out - 1), REEL_EINVAL);
    free(wf), free(x), free(w), free(wr), free(ref), free(yp), free(y1), free(y3), free(yt);
}

/* through the public table: AVX2 or VNNI tiles (ARM64: SDOT by lane), as the CPU (and REEL_CPU)
 * allow */
static void test_interleaved(void **state)
{
    (void)state;
    rng = SEED;
    /* x86 with AVX2+FMA+F16C, ARM64 with dotprod (and what REEL_CPU leaves) */
    if (reel_kernels_preferred_layout(reel_kernels_ops_cpu(), REEL_DTYPE_Q5_0, 32, 8) ==
        REEL_DTYPE_Q5_0)
        tu_skip("this CPU's table has no interleaved kernels (x86: AVX2+FMA+F16C; ARM64: dotprod)");
    const int64_t shapes[][3] = {
        {32, 8, 1}, {96, 16, 5}, {3136, 24, 1}, {256, 8, 70}, {640, 40, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_r8(REEL_DTYPE_Q5_0, REEL_DTYPE_Q5_0_R8, shapes[s][0], shapes[s][1], shapes[s][2]);
    const int64_t kshapes[][3] = {
        {256, 8, 1}, {768, 16, 5}, {3072, 24, 1}, {512, 8, 70}, {1280, 40, 17}};
    for (size_t s = 0; s < sizeof kshapes / sizeof kshapes[0]; s++)
        for (int k = 0; k < 2; k++)
            check_r8(k ? REEL_DTYPE_Q6_K : REEL_DTYPE_Q4_K,
                     k ? REEL_DTYPE_Q6_K_R8 : REEL_DTYPE_Q4_K_R8, kshapes[s][0], kshapes[s][1],
                     kshapes[s][2]);
}

#if defined(__x86_64__)
static void test_qmatmul_dispatch_avx2(void **state)
{
    (void)state;
    /* the public table routes Q8_0/Q4_0 to the integer kernels and agrees with them exactly */
    const reel_kernel_ops *k = reel_kernels_ops_cpu();
    if (strcmp(k->name, "cpu-scalar") == 0 || strcmp(k->name, "cpu") == 0)
        tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    const int64_t n_in = 128, n_out = 10, T = 4;
    float *wf = rnd(n_in * n_out), *x = rnd(n_in * T), y[40], z[40];
    uint8_t w[34 * 4 * 10];
    for (int64_t r = 0; r < n_out; r++)
        reel_kernels_quantize_row(REEL_DTYPE_Q8_0, wf + r * n_in, w + r * 136, n_in);
    assert_int_equal(k->matmul(NULL, y, w, REEL_DTYPE_Q8_0, x, n_in, n_out, T), 0);
    const reel_cpu_features *f = reel_kernels_cpu();
    assert_int_equal(reeli_x86_qmatmul(NULL, z, w, REEL_DTYPE_Q8_0, x, n_in, n_out, T,
                                       f->avx512vnni && f->avx512vl),
                     0);
    assert_memory_equal(y, z, sizeof y);
    /* the layout the model loader picks: interleaved (AVX2 and VNNI tiles read it) for whole
     * groups of 8 rows */
    assert_int_equal(reel_kernels_preferred_layout(k, REEL_DTYPE_Q8_0, n_in, 16),
                     REEL_DTYPE_Q8_0_R8);
    assert_int_equal(reel_kernels_preferred_layout(k, REEL_DTYPE_Q8_0, n_in, 10), REEL_DTYPE_Q8_0);
    assert_int_equal(
        reel_kernels_preferred_layout(reel_kernels_ops_cpu_scalar(), REEL_DTYPE_Q4_0, n_in, 16),
        REEL_DTYPE_Q4_0);
    assert_null(reel_dtype_name(REEL_DTYPE_Q4_0_R8)); /* never valid in a file */
    assert_int_equal(k->matmul(NULL, y, w, REEL_DTYPE_Q8_0, x, 33, n_out, T), REEL_EINVAL);
    free(wf), free(x);
}
#else
TU_X86_ONLY_TEST(test_qmatmul_dispatch_avx2)
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_exact), cmocka_unit_test(test_quantize_roundtrip),
        cmocka_unit_test(test_quantize_rms),   cmocka_unit_test(test_quantize_edges),
        cmocka_unit_test(test_qmatmul_avx2),   cmocka_unit_test(test_qmatmul_vnni),
        cmocka_unit_test(test_interleaved),    cmocka_unit_test(test_qmatmul_dispatch_avx2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
