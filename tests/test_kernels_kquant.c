/* The integer-dot matmul for Q5_0, Q5_1, Q4_1, IQ4_NL and Q2_K..Q6_K weights
 * (reeli_x86_kqmatmul, kernels/cpu/x86/dot-rowmajor.c) against the scalar reference table on random
 * blocks and random activations: within a per-type tolerance of the float reference, within fp32
 * rounding of an exact (double) evaluation with the activations quantized the kernel's way,
 * bit-identical across thread counts and between batched and token-by-token calls, reached through
 * the public table, and refusing rows that are not whole blocks. */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels-impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* every test here is of the x86 kernels (reeli_x86_kqmatmul); the ARM64 builds skip them all */
#if defined(__x86_64__)
static uint64_t rng = 0x2545f4914f6cdd1dull;
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

/* n_out rows of n_in elements of type: random bytes for the quants and for the scales packed
 * in bytes (Q3_K/Q4_K/Q5_K 6-bit scales and minimums, Q6_K int8 scales, Q2_K 4-bit scales and
 * minimums), small f16 block scales (as quantizers produce for weights of magnitude ~0.1) */
static uint8_t *rnd_weights(reel_dtype type, int64_t n_in, int64_t n_out)
{
    const size_t rb = reel_dtype_row_bytes(type, n_in), bb = (size_t)reel_dtype_block_bytes(type);
    uint8_t *w = malloc(rb * (size_t)n_out);
    for (size_t i = 0; i < rb * (size_t)n_out; i++) w[i] = (uint8_t)next();
    for (uint8_t *b = w; b < w + rb * (size_t)n_out; b += bb) {
        switch (type) {
        case REEL_DTYPE_Q5_1:
        case REEL_DTYPE_Q4_1:
            put_f16(b, 0.01f * frand());
            put_f16(b + 2, 0.08f * frand());
            break;
        case REEL_DTYPE_Q4_K:
        case REEL_DTYPE_Q5_K:
            put_f16(b, 0.002f * (1.0f + frand()));
            put_f16(b + 2, 0.001f * (1.0f + frand()));
            break;
        case REEL_DTYPE_Q6_K:
            put_f16(b + 208, 0.0005f * frand());
            break;
        case REEL_DTYPE_Q3_K:
            put_f16(b + 108, 0.002f * frand());
            break;
        case REEL_DTYPE_Q2_K:
            put_f16(b + 80, 0.01f * (1.0f + frand()));
            put_f16(b + 82, 0.005f * (1.0f + frand()));
            break;
        default: /* Q5_0, IQ4_NL */
            put_f16(b, 0.01f * frand());
            break;
        }
    }
    return w;
}

static float *rnd_x(int64_t n, int64_t T)
{
    float *x = malloc((size_t)(n * T) * sizeof(float));
    for (int64_t i = 0; i < n * T; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    if (T > 2)
        for (int64_t i = 0; i < n; i++) x[2 * n + i] = 0.0f; /* a token of zeros: d = 0 */
    return x;
}

/* the activations as the kernel quantizes them (d = amax / 127, round half to even), as floats */
static void quantize_x(float *xq, const float *x, int64_t n)
{
    for (int64_t b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        for (int i = 0; i < 32; i++) {
            const float v = x[b * 32 + i] * id;
            xq[b * 32 + i] = nearbyintf(v) * d;
        }
    }
}

static double max_abs(const float *v, int64_t n)
{
    double m = 1e-9;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* Tolerances against the float reference, relative to max |y| (taken at least as large as the
 * size of a dot of uncorrelated terms, sqrt(sum w^2 x^2), so that a single output near zero
 * does not decide): the int8 activations err by up to half a step, uniformly, so by
 * d / sqrt(12) per element with d = amax / 127 of the block (~0.022 for these inputs, whose
 * every 7th value is tripled: amax ~ 2.8), independent of the weights; a dot then strays by
 * ~0.0064 |w| while its size is ~rms(x) |w| = 0.85 |w|: sigma ~ 0.8% of the scale whatever the
 * weight type, and the largest of up to 490 outputs per shape stays within 4 sigma. The
 * weights' own format does not add error (both sides dequantize it exactly), which the
 * check against quantized activations (2e-5: fp32 rounding only) pins down per type. */
static const struct {
    reel_dtype type;
    double tol;
} types[] = {
    {REEL_DTYPE_Q4_K, 0.03}, {REEL_DTYPE_Q6_K, 0.03}, {REEL_DTYPE_Q5_0, 0.03},
    {REEL_DTYPE_Q5_K, 0.03}, {REEL_DTYPE_Q5_1, 0.03}, {REEL_DTYPE_IQ4_NL, 0.03},
    {REEL_DTYPE_Q4_1, 0.03}, {REEL_DTYPE_Q3_K, 0.03}, {REEL_DTYPE_Q2_K, 0.03},
};

static void check(reel_dtype type, int vnni, double tol, int64_t n_in, int64_t n_out, int64_t T,
                  reel_pool *pool2)
{
    uint8_t *w = rnd_weights(type, n_in, n_out);
    float *x = rnd_x(n_in, T);
    const size_t ny = (size_t)(T * n_out);
    float *ref = malloc(ny * sizeof(float)), *y1 = malloc(ny * sizeof(float));
    float *y2 = malloc(ny * sizeof(float)), *yt = malloc(ny * sizeof(float));
    assert_int_equal(reel_kernels_ops_cpu_scalar()->matmul(NULL, ref, w, type, x, n_in, n_out, T),
                     0);
    assert_int_equal(reeli_x86_kqmatmul(NULL, y1, w, type, x, n_in, n_out, T, vnni), 0);
    assert_int_equal(reeli_x86_kqmatmul(pool2, y2, w, type, x, n_in, n_out, T, vnni), 0);
    for (int64_t t = 0; t < T; t++)
        assert_int_equal(
            reeli_x86_kqmatmul(pool2, yt + t * n_out, w, type, x + t * n_in, n_in, n_out, 1, vnni),
            0);
    /* one thread or two, one token at a time or batched: the same bits */
    assert_memory_equal(y1, y2, ny * sizeof(float));
    assert_memory_equal(y1, yt, ny * sizeof(float));

    /* exact evaluation with the quantized activations: only fp32 rounding apart */
    const size_t rb = reel_dtype_row_bytes(type, n_in);
    float *wr = malloc((size_t)n_in * sizeof(float)), *xq = malloc((size_t)n_in * sizeof(float));
    double scale = max_abs(ref, (int64_t)ny), err_q = 0, err = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < n_out; r++) { /* at least the size of a random dot */
            assert_int_equal(reel_kernels_dequantize_row(type, w + (size_t)r * rb, wr, n_in), 0);
            double s2 = 0;
            for (int64_t i = 0; i < n_in; i++)
                s2 += (double)wr[i] * wr[i] * x[t * n_in + i] * x[t * n_in + i];
            scale = fmax(scale, sqrt(s2));
        }
    for (int64_t t = 0; t < T; t++) {
        quantize_x(xq, x + t * n_in, n_in);
        for (int64_t r = 0; r < n_out; r++) {
            assert_int_equal(reel_kernels_dequantize_row(type, w + (size_t)r * rb, wr, n_in), 0);
            double e = 0;
            for (int64_t i = 0; i < n_in; i++) e += (double)wr[i] * (double)xq[i];
            err_q = fmax(err_q, fabs(e - y1[t * n_out + r]) / scale);
        }
        if (t == 2 && T > 2)
            for (int64_t r = 0; r < n_out; r++) assert_true(y1[t * n_out + r] == 0.0f);
    }
    for (size_t i = 0; i < ny; i++) err = fmax(err, fabs(y1[i] - ref[i]) / scale);
    print_message("%-6s %s %4lldx%-4lld T=%-3lld max error %.5f of max |y| (tolerance %.3f), %.1e "
                  "against quantized activations\n",
                  reel_dtype_name(type), vnni ? "vnni" : "avx2", (long long)n_out, (long long)n_in,
                  (long long)T, err, tol, err_q);
    assert_true(err <= tol);
    assert_true(err_q <= 2e-5);
    free(w), free(x), free(ref), free(y1), free(y2), free(yt), free(wr), free(xq);
}

static int have_avx2(void)
{
    const reel_cpu_features *f = reel_kernels_cpu();
    return f->avx2 && f->fma && f->f16c;
}

static int have_vnni(void)
{
    const reel_cpu_features *f = reel_kernels_cpu();
    return have_avx2() && f->avx512vnni && f->avx512vl;
}

/* T = 1 (4-row tiles), 3 and 5 (token tails), 70 (crosses a chunk of 64; 4- or 8-token tiles
 * and tails); n_out 1, 7, 13: rows left over by the 4- and 2-row tiles */
static void kquant_matmul(int vnni)
{
    reel_pool *pool2 = reel_pool_init(2);
    assert_non_null(pool2);
    const struct {
        int64_t n_out, T;
    } shapes[] = {{1, 1}, {7, 1}, {13, 3}, {7, 70}, {4, 5}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const int kq = reel_dtype_block(types[k].type) == 256;
        /* whole super-blocks for the K types; an odd number of 32-blocks otherwise, and the
         * 3136-element rows (98 blocks: a partial last group of 8) of Nemotron-H 4B */
        const int64_t n_ins[3] = {256, 768, kq ? 512 : 32 * 7};
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int i = 0; i < 3; i++)
                check(types[k].type, vnni, types[k].tol, n_ins[i], shapes[s].n_out, shapes[s].T,
                      pool2);
        if (!kq) check(types[k].type, vnni, types[k].tol, 3136, 5, 2, pool2);
    }
    reel_pool_free(pool2);
}

static void test_kquant_matmul_avx2(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    kquant_matmul(0);
}

static void test_kquant_matmul_vnni(void **state)
{
    (void)state;
    if (!have_vnni()) tu_skip("needs AVX-512 VNNI (+VL): this CPU lacks it");
    kquant_matmul(1);
}

/* VNNI's dpbusd gives the same integers as AVX2's maddubs + madd: the 32-block types and
 * Q2_K / Q3_K / Q6_K (same factors) agree bit for bit; Q4_K / Q5_K fold the block scale into
 * the float factor instead, so they agree to fp32 rounding */
static void test_kquant_vnni_vs_avx2(void **state)
{
    (void)state;
    if (!have_vnni()) tu_skip("needs AVX-512 VNNI (+VL): this CPU lacks it");
    const int64_t n_in = 768, n_out = 11, T = 9;
    float *x = rnd_x(n_in, T), y[99], z[99];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const reel_dtype t = types[i].type;
        uint8_t *w = rnd_weights(t, n_in, n_out);
        assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, t, x, n_in, n_out, T, 0), 0);
        assert_int_equal(reeli_x86_kqmatmul(NULL, z, w, t, x, n_in, n_out, T, 1), 0);
        if (t == REEL_DTYPE_Q4_K || t == REEL_DTYPE_Q5_K) {
            const double scale = max_abs(y, n_out * T);
            for (int64_t k = 0; k < n_out * T; k++) assert_true(fabs(y[k] - z[k]) <= 1e-5 * scale);
        } else {
            assert_memory_equal(y, z, sizeof y);
        }
        free(w);
    }
    free(x);
}

static void test_kquant_dispatch(void **state)
{
    (void)state;
    const reel_kernel_ops *k = reel_kernels_ops_cpu();
    if (!have_avx2()) {
        assert_string_equal(k->name, "cpu");
        tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    }
    /* the public table routes every type here, bit for bit */
    const int64_t n_in = 512, n_out = 6, T = 3;
    float *x = rnd_x(n_in, T), y[18], z[18];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        uint8_t *w = rnd_weights(types[i].type, n_in, n_out);
        assert_int_equal(k->matmul(NULL, y, w, types[i].type, x, n_in, n_out, T), 0);
        assert_int_equal(
            reeli_x86_kqmatmul(NULL, z, w, types[i].type, x, n_in, n_out, T, have_vnni()), 0);
        assert_memory_equal(y, z, sizeof y);
        /* and not the float path: the reference differs in the low bits */
        assert_int_equal(
            reel_kernels_ops_cpu_scalar()->matmul(NULL, z, w, types[i].type, x, n_in, n_out, T), 0);
        assert_true(memcmp(y, z, sizeof y) != 0);
        assert_true(reeli_x86_kq_handles(types[i].type));
        free(w);
    }
    assert_false(reeli_x86_kq_handles(REEL_DTYPE_Q8_0));
    assert_false(reeli_x86_kq_handles(REEL_DTYPE_Q4_0));
    assert_false(reeli_x86_kq_handles(REEL_DTYPE_F16));
    free(x);
}

static void test_kquant_errors(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    float x[512] = {0}, y[4];
    uint8_t w[1024] = {0};
    const reel_kernel_ops *k = reel_kernels_ops_cpu();
    /* K types need whole super-blocks of 256, the others whole blocks of 32 */
    assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, REEL_DTYPE_Q4_K, x, 128, 1, 1, 0), REEL_EINVAL);
    assert_non_null(strstr(reel_last_error(), "not whole Q4_K blocks"));
    assert_int_equal(k->matmul(NULL, y, w, REEL_DTYPE_Q6_K, x, 320, 1, 1), REEL_EINVAL);
    assert_int_equal(k->matmul(NULL, y, w, REEL_DTYPE_Q5_0, x, 48, 1, 1), REEL_EINVAL);
    assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, REEL_DTYPE_IQ4_NL, x, 0, 1, 1, 0), REEL_EINVAL);
    assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, REEL_DTYPE_Q8_0, x, 32, 1, 1, 0),
                     REEL_EUNSUPPORTED);
    /* nothing to do is not an error */
    assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, REEL_DTYPE_Q5_1, x, 32, 0, 1, 0), 0);
    assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, REEL_DTYPE_Q5_1, x, 32, 1, 0, 0), 0);
}
#else
TU_X86_ONLY_TEST(test_kquant_matmul_avx2)
TU_X86_ONLY_TEST(test_kquant_matmul_vnni)
TU_X86_ONLY_TEST(test_kquant_vnni_vs_avx2)
TU_X86_ONLY_TEST(test_kquant_dispatch)
TU_X86_ONLY_TEST(test_kquant_errors)
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kquant_matmul_avx2),  cmocka_unit_test(test_kquant_matmul_vnni),
        cmocka_unit_test(test_kquant_vnni_vs_avx2), cmocka_unit_test(test_kquant_dispatch),
        cmocka_unit_test(test_kquant_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
