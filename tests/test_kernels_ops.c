/* The CPU op table against naive loops written here, and the chunked SSD form against the
 * recurrence (docs/model.md §8: several chunk sizes, ragged lengths, nonzero entering state). */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "kernels/kernels-impl.h" /* reeli_neon_q_handles */

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float *rnd(int64_t n, float scale)
{
    float *v = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}
static double max_rel_diff(const float *a, const float *b, int64_t n)
{
    double m = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs((double)b[i]));
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]) / scale);
    return m;
}

static void test_fp16(void **state)
{
    (void)state;
    assert_int_equal(reel_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(reel_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(reel_fp32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(reel_fp32_to_fp16(1e6f), 0x7c00);
    assert_int_equal(reel_fp32_to_fp16(5.9604645e-8f), 0x0001);      /* smallest subnormal */
    assert_int_equal(reel_fp32_to_fp16(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    assert_true(reel_fp16_to_fp32(0x0001) == 5.9604645e-8f);
    assert_true(reel_fp16_to_fp32(0x3555) > 0.333f && reel_fp16_to_fp32(0x3555) < 0.3334f);
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite positive half round-trips */
        assert_int_equal(reel_fp32_to_fp16(reel_fp16_to_fp32((uint16_t)h)), h);
    assert_true(reel_bf16_to_fp32(reel_fp32_to_bf16(3.0f)) == 3.0f);
    assert_int_equal(reel_fp32_to_bf16(1.00390625f), 0x3f80); /* tie to even */
}

static void check_matmul(reel_dtype type, reel_pool *pool)
{
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    const int64_t n_in = 96, n_out = 37, T = 5;
    float *wf = rnd(n_in * n_out, 1.0f), *x = rnd(n_in * T, 1.0f);
    void *w = NULL;
    /* encode the weights in `type`, then decode them again for the naive loop */
    if (type == REEL_DTYPE_F32) {
        w = wf;
    } else if (type == REEL_DTYPE_F16 || type == REEL_DTYPE_BF16) {
        uint16_t *h = malloc((size_t)(n_in * n_out) * 2);
        for (int64_t i = 0; i < n_in * n_out; i++) {
            h[i] = type == REEL_DTYPE_F16 ? reel_fp32_to_fp16(wf[i]) : reel_fp32_to_bf16(wf[i]);
            wf[i] = type == REEL_DTYPE_F16 ? reel_fp16_to_fp32(h[i]) : reel_bf16_to_fp32(h[i]);
        }
        w = h;
    } else if (type == REEL_DTYPE_Q8_0) {
        uint8_t *q = malloc((size_t)(n_in * n_out / 32) * 34);
        for (int64_t b = 0; b < n_in * n_out / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(wf[b * 32 + i]));
            uint16_t d16 = reel_fp32_to_fp16(amax / 127);
            float d = reel_fp16_to_fp32(d16);
            memcpy(q + b * 34, &d16, 2);
            for (int i = 0; i < 32; i++) {
                int v = (int)lrintf(wf[b * 32 + i] / d);
                q[b * 34 + 2 + i] = (uint8_t)(int8_t)v;
                wf[b * 32 + i] = d * (float)v;
            }
        }
        w = q;
    }
    float *y = malloc((size_t)(n_out * T) * sizeof(float));
    assert_int_equal(k->matmul(pool, y, w, type, x, n_in, n_out, T), 0);
    for (int64_t t = 0; t < T; t++)
        for (int64_t r = 0; r < n_out; r++) {
            double ref = 0;
            for (int64_t i = 0; i < n_in; i++) ref += (double)wf[r * n_in + i] * x[t * n_in + i];
            assert_true(fabs(ref - y[t * n_out + r]) < 1e-4);
        }
    /* one thread gives the same bits */
    float *y1 = malloc((size_t)(n_out * T) * sizeof(float));
    assert_int_equal(k->matmul(NULL, y1, w, type, x, n_in, n_out, T), 0);
    assert_memory_equal(y, y1, (size_t)(n_out * T) * sizeof(float));
    if (w != wf) free(w);
    free(wf), free(x), free(y), free(y1);
}

static void test_matmul(void **state)
{
    (void)state;
    reel_pool *pool = reel_pool_init(3);
    check_matmul(REEL_DTYPE_F32, pool);
    check_matmul(REEL_DTYPE_F16, pool);
    check_matmul(REEL_DTYPE_BF16, pool);
    check_matmul(REEL_DTYPE_Q8_0, pool);
    float y, x = 1;
    uint8_t w[64] = {0};
    assert_int_equal(
        reel_kernels_ops_cpu_scalar()->matmul(pool, &y, w, REEL_DTYPE_Q8_K, &x, 256, 1, 1),
        REEL_EUNSUPPORTED);
    assert_true(tu_contains(reel_last_error(), "Q8_K"));
    assert_int_equal(
        reel_kernels_ops_cpu_scalar()->matmul(pool, &y, w, REEL_DTYPE_Q8_0, &x, 33, 1, 1),
        REEL_EINVAL);
    reel_pool_free(pool);
}

static void test_norms(void **state)
{
    (void)state;
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    const int64_t n = 24, T = 3, gs = 6;
    float *x = rnd(n * T, 2.0f), *z = rnd(n * T, 3.0f), *w = rnd(n, 1.0f), *y = rnd(n * T, 1);
    k->rmsnorm(y, x, w, n, T, 1e-5f);
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += x[t * n + i] * x[t * n + i];
        for (int64_t i = 0; i < n; i++)
            assert_true(fabs(y[t * n + i] - w[i] * x[t * n + i] / sqrt(ss / n + 1e-5)) < 1e-5);
    }
    k->gated_rmsnorm(y, n, x, n, z, n, w, n, gs, T, 1e-5f);
    for (int64_t t = 0; t < T; t++)
        for (int64_t g = 0; g < n; g += gs) {
            double v[64], ss = 0;
            for (int64_t i = 0; i < gs; i++) {
                double zz = z[t * n + g + i];
                v[i] = x[t * n + g + i] * zz / (1 + exp(-zz));
                ss += v[i] * v[i];
            }
            for (int64_t i = 0; i < gs; i++)
                assert_true(fabs(y[t * n + g + i] - w[g + i] * v[i] / sqrt(ss / gs + 1e-5)) < 1e-5);
        }
    free(x), free(z), free(w), free(y);
}

static void test_unary(void **state)
{
    (void)state;
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    float x[6] = {-30, -1, 0, 0.5f, 19, 25}, y[6];
    k->unary(REEL_UNARY_SILU, y, x, 6);
    for (int i = 0; i < 6; i++) assert_true(fabs(y[i] - x[i] / (1 + exp(-x[i]))) < 1e-6);
    k->unary(REEL_UNARY_RELU2, y, x, 6);
    for (int i = 0; i < 6; i++) assert_true(fabs(y[i] - (x[i] > 0 ? x[i] * x[i] : 0)) < 1e-4);
    k->unary(REEL_UNARY_SOFTPLUS, y, x, 6);
    for (int i = 0; i < 5; i++) assert_true(fabs(y[i] - log1p(exp(x[i]))) < 1e-5);
    assert_true(y[5] == 25.0f);
}

static void test_conv1d(void **state)
{
    (void)state;
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    reel_pool *pool = reel_pool_init(2);
    const int64_t C = 7, T = 9, stride = 11;
    for (int K = 1; K <= 4; K++) {
        float *x = rnd(T * stride, 1), *w = rnd(C * K, 1), *b = rnd(C, 1);
        float *y = malloc((size_t)(T * C) * 4), *y2 = malloc((size_t)(T * C) * 4);
        float st[7 * 3] = {0}, st2[7 * 3] = {0};
        k->conv1d(pool, y, x, stride, st, w, b, C, K, T);
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) {
                double ref = b[c];
                for (int j = 0; j < K; j++) {
                    int64_t s = t - (K - 1) + j;
                    if (s >= 0) ref += w[j * C + c] * x[s * stride + c];
                }
                assert_true(fabs(ref - y[t * C + c]) < 1e-5);
            }
        /* the same sequence fed in pieces (2, 1, rest) through the state */
        k->conv1d(pool, y2, x, stride, st2, w, b, C, K, 2);
        k->conv1d(NULL, y2 + 2 * C, x + 2 * stride, stride, st2, w, b, C, K, 1);
        k->conv1d(pool, y2 + 3 * C, x + 3 * stride, stride, st2, w, b, C, K, T - 3);
        assert_memory_equal(y, y2, (size_t)(T * C) * 4);
        assert_memory_equal(st, st2, sizeof st);
        for (int j = 0; j < K - 1; j++) /* the state is the last raw inputs, oldest first */
            assert_true(st[j * C + 3] == x[(T - (K - 1) + j) * stride + 3]);
        free(x), free(w), free(b), free(y), free(y2);
    }
    reel_pool_free(pool);
}

typedef struct {
    reel_ssm_args a;
    float *x, *bc, *dt, *A, *D, *y, *state;
} ssm_case;

static ssm_case ssm_make(int64_t T, int nh, int P, int N, int G)
{
    ssm_case c;
    memset(&c, 0, sizeof c);
    const int64_t xs = nh * P + 3, bcs = 2 * G * N + 1;
    c.x = rnd(T * xs, 1);
    c.bc = rnd(T * bcs, 1);
    c.dt = rnd(T * nh, 1);
    for (int64_t i = 0; i < T * nh; i++) c.dt[i] = log1pf(expf(c.dt[i] * 2)); /* softplus'd */
    c.A = rnd(nh, 1);
    for (int i = 0; i < nh; i++) c.A[i] = -expf(c.A[i] * 1.5f);
    c.D = rnd(nh, 1);
    c.y = calloc((size_t)(T * nh * P), 4);
    c.state = rnd((int64_t)nh * P * N, 1);
    reel_ssm_args a = {T,   nh,   P,   N,   G,       c.x, xs, c.bc, c.bc + G * N,
                       bcs, c.dt, c.A, c.D, c.state, c.y, 4};
    c.a = a;
    return c;
}
static void ssm_free(ssm_case *c)
{
    free(c->x), free(c->bc), free(c->dt), free(c->A), free(c->D), free(c->y), free(c->state);
}

static void test_ssm_scan_naive(void **state)
{
    (void)state;
    /* the recurrence against the formula of docs/model.md §2.1 written out in double, G < nh so the
     * head->group mapping h / (nh/G) matters */
    const int64_t T = 6;
    const int nh = 6, P = 3, N = 4, G = 2;
    ssm_case c = ssm_make(T, nh, P, N, G);
    double S[6][3][4];
    for (int h = 0; h < nh; h++)
        for (int p = 0; p < P; p++)
            for (int n = 0; n < N; n++) S[h][p][n] = c.state[(h * P + p) * N + n];
    reel_kernels_ops_cpu_scalar()->ssm_scan(NULL, &c.a);
    for (int64_t t = 0; t < T; t++)
        for (int h = 0; h < nh; h++) {
            int g = h / (nh / G);
            double dt = c.dt[t * nh + h], dA = exp(dt * c.A[h]);
            for (int p = 0; p < P; p++) {
                double x = c.x[t * c.a.x_stride + h * P + p], y = 0;
                for (int n = 0; n < N; n++) {
                    S[h][p][n] = dA * S[h][p][n] + dt * x * c.a.B[t * c.a.bc_stride + g * N + n];
                    y += S[h][p][n] * c.a.C[t * c.a.bc_stride + g * N + n];
                }
                y += c.D[h] * x;
                assert_true(fabs(y - c.y[t * nh * P + h * P + p]) < 1e-4);
            }
        }
    for (int h = 0; h < nh; h++)
        for (int p = 0; p < P; p++)
            for (int n = 0; n < N; n++)
                assert_true(fabs(S[h][p][n] - c.state[(h * P + p) * N + n]) < 1e-4);
    ssm_free(&c);
}

static void test_ssm_chunked(void **state)
{
    (void)state;
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    reel_pool *pool = reel_pool_init(3);
    const int64_t Ts[] = {1, 5, 17, 33};
    const int Qs[] = {1, 3, 4, 8, 16, 64};
    const int shapes[][4] = {{8, 4, 16, 2}, {4, 6, 8, 4}, {6, 5, 12, 1}}; /* nh, P, N, G */
    double worst = 0;
    for (size_t si = 0; si < 3; si++)
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t qi = 0; qi < 6; qi++) {
                const int *s = shapes[si];
                ssm_case c = ssm_make(Ts[ti], s[0], s[1], s[2], s[3]);
                const int64_t ny = Ts[ti] * s[0] * s[1], ns = (int64_t)s[0] * s[1] * s[2];
                float *st2 = malloc((size_t)ns * 4), *y2 = malloc((size_t)ny * 4);
                memcpy(st2, c.state, (size_t)ns * 4);
                k->ssm_scan(pool, &c.a);
                reel_ssm_args b = c.a;
                b.state = st2, b.y = y2, b.chunk = Qs[qi];
                k->ssm_chunked(pool, &b);
                double dy = max_rel_diff(y2, c.y, ny), ds = max_rel_diff(st2, c.state, ns);
                worst = fmax(worst, fmax(dy, ds));
                if (dy > 1e-5 || ds > 1e-5)
                    fail_msg("shape %zu T=%lld Q=%d: rel diff y %.3g state %.3g", si,
                             (long long)Ts[ti], Qs[qi], dy, ds);
                free(st2), free(y2);
                ssm_free(&c);
            }
    printf("chunked SSD vs recurrence: worst relative difference %.3g\n", worst);
    reel_pool_free(pool);
}

static void check_attention(reel_dtype kv_type)
{
    const reel_kernel_ops *k = reel_kernels_ops_cpu_scalar();
    reel_pool *pool = reel_pool_init(2);
    const int na = 6, nkv = 2, hd = 8;
    const int64_t ctx = 10, pos0 = 4, T = 6, kvw = nkv * hd, qs = na * hd + 5;
    float *kf = rnd(ctx * kvw, 1), *vf = rnd(ctx * kvw, 1), *q = rnd(T * qs, 2);
    void *kc = kf, *vc = vf;
    if (kv_type == REEL_DTYPE_F16) {
        uint16_t *kh = malloc((size_t)(ctx * kvw) * 2), *vh = malloc((size_t)(ctx * kvw) * 2);
        for (int64_t i = 0; i < ctx * kvw; i++) {
            kh[i] = reel_fp32_to_fp16(kf[i]), kf[i] = reel_fp16_to_fp32(kh[i]);
            vh[i] = reel_fp32_to_fp16(vf[i]), vf[i] = reel_fp16_to_fp32(vh[i]);
        }
        kc = kh, vc = vh;
    }
    float *out = malloc((size_t)(T * na * hd) * 4), *out2 = malloc((size_t)(T * na * hd) * 4);
    reel_attn_args a = {T, pos0, na, nkv, hd, q, qs, kc, vc, kv_type, out};
    k->attention(pool, &a);
    for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < na; i++) {
            int kh = i / (na / nkv);
            double sc[16], mx = -1e30, sum = 0;
            for (int64_t s = 0; s <= pos0 + t; s++) {
                double d = 0;
                for (int e = 0; e < hd; e++)
                    d += q[t * qs + i * hd + e] * kf[s * kvw + kh * hd + e];
                sc[s] = d / sqrt(hd);
                mx = fmax(mx, sc[s]);
            }
            for (int64_t s = 0; s <= pos0 + t; s++) sum += (sc[s] = exp(sc[s] - mx));
            for (int e = 0; e < hd; e++) {
                double o = 0;
                for (int64_t s = 0; s <= pos0 + t; s++)
                    o += sc[s] / sum * vf[s * kvw + kh * hd + e];
                assert_true(fabs(o - out[t * na * hd + i * hd + e]) < 1e-5);
            }
        }
    /* one query at a time (decode) gives the same bits as the batch */
    for (int64_t t = 0; t < T; t++) {
        reel_attn_args b = {1,       pos0 + t,          na, nkv, hd, q + t * qs, qs, kc, vc,
                            kv_type, out2 + t * na * hd};
        k->attention(NULL, &b);
    }
    assert_memory_equal(out, out2, (size_t)(T * na * hd) * 4);
    if (kc != kf) free(kc), free(vc);
    free(kf), free(vf), free(q), free(out), free(out2);
    reel_pool_free(pool);
}

static void test_attention(void **state)
{
    (void)state;
    check_attention(REEL_DTYPE_F32);
    check_attention(REEL_DTYPE_F16);
}

/* every GGML block type against gguf-py's reference decoder (tests/data/quant/vectors.json,
 * scripts/golden/make_quant_vectors.py), then as matmul weights in both tables */
static void test_dequantize(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/quant/vectors.json", tu_source_dir());
    json_t *all = reel_json_load_file(path, 1 << 20);
    assert_non_null(all);
    reel_pool *pool = reel_pool_init(2);
    assert_true(json_array_size(all) >= 11);
    for (size_t k = 0; k < json_array_size(all); k++) {
        const json_t *v = json_array_get(all, k);
        const reel_dtype type = (reel_dtype)json_integer_value(json_object_get(v, "type"));
        const char *hex = json_string_value(json_object_get(v, "hex"));
        const json_t *vals = json_object_get(v, "values");
        const int64_t n = (int64_t)json_array_size(vals);
        const size_t nb = strlen(hex) / 2;
        assert_int_equal(reel_dtype_row_bytes(type, n), nb);
        uint8_t *raw = malloc(nb);
        for (size_t i = 0; i < nb; i++) {
            unsigned byte;
            sscanf(hex + 2 * i, "%2x", &byte);
            raw[i] = (uint8_t)byte;
        }
        assert_true(reel_kernels_dtype_supported(type));
        float *y = malloc((size_t)n * sizeof(float));
        assert_int_equal(reel_kernels_dequantize_row(type, raw, y, n), 0);
        for (int64_t i = 0; i < n; i++) {
            double want = json_number_value(json_array_get(vals, (size_t)i));
            if (fabs(y[i] - want) > 1e-6 * (1 + fabs(want)))
                fail_msg("%s[%lld]: %g, reference %g", reel_dtype_name(type), (long long)i, y[i],
                         want);
        }
        /* as one weight row of a matmul: the dot with x equals the dot with the decoded row */
        float *x = rnd(n, 1.0f), out[2];
        double ref = 0;
        for (int64_t i = 0; i < n; i++) ref += (double)y[i] * x[i];
        assert_int_equal(reel_kernels_ops_cpu_scalar()->matmul(NULL, out, raw, type, x, n, 1, 1),
                         0);
        assert_int_equal(reel_kernels_ops_cpu()->matmul(pool, out + 1, raw, type, x, n, 1, 1), 0);
        assert_true(fabs(out[0] - ref) < 1e-4 * (1 + fabs(ref)));
        /* the quantized types (integer-dot kernels) take int8 activations under SIMD (as
         * GGML does): within 1% of sum |w x|. On x86 (AVX2) every quantized type has such a
         * kernel; on ARM64 (NEON) the types reeli_neon_q_handles names, the rest stay scalar */
        double mag = 0;
        for (int64_t i = 0; i < n; i++) mag += fabs((double)y[i] * x[i]);
        const reel_cpu_features *f = reel_kernels_cpu();
#if defined(__aarch64__)
        const int int8_act = f->neon && reeli_neon_q_handles(type);
#else
        const int int8_act = f->avx2 && f->fma && f->f16c && reel_dtype_block(type) > 1;
#endif
        assert_true(fabs(out[1] - ref) < (int8_act ? 1e-2 * mag : 1e-4 * (1 + fabs(ref))));
        free(raw), free(y), free(x);
    }
    reel_pool_free(pool);
    json_decref(all);
}

/* the dispatched table (SIMD where the CPU has it) against the scalar reference, checkasm-style:
 * random inputs, shapes with ragged tails, one token and batches, every weight type */
static void test_dispatch_vs_scalar(void **state)
{
    (void)state;
    const reel_kernel_ops *ref = reel_kernels_ops_cpu_scalar(), *k = reel_kernels_ops_cpu();
    printf("dispatched CPU table: %s\n", k->name);
    reel_pool *pool = reel_pool_init(2);
    /* 2100: the AVX2 dot products' 16-element steps and a tail; 4200: two k blocks of the
     * AVX-512 GEMM (4096) with a masked tail; 67 tokens: 11 tiles of 6 with one token left, and
     * 130 a second chunk of 120 tokens */
    const int64_t n_ins[] = {1, 7, 8, 15, 16, 33, 64, 100, 2100, 4200};
    const reel_dtype types[] = {REEL_DTYPE_F32, REEL_DTYPE_F16, REEL_DTYPE_BF16};
    /* T = 1, 3, 5, 8 and 9 rows: every edge of the 4-row x 3-token (AVX2) and 4-row x
     * 6-token (AVX-512) batch tiles */
    const int64_t Ts[] = {1, 3, 5, 8, 67, 130};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ni = 0; ni < 10; ni++)
            for (size_t tk = 0; tk < 6; tk++) {
                /* 9 rows: 2 groups of 4 and 1; 301 (at n_in 100): two blocks of 64 groups */
                const int64_t n_in = n_ins[ni], n_out = n_in == 100 ? 301 : 9, T = Ts[tk];
                float *wf = rnd(n_in * n_out, 1.0f), *x = rnd(n_in * T, 1.0f);
                void *w = wf;
                uint16_t *h = NULL;
                if (types[ti] != REEL_DTYPE_F32) {
                    h = malloc((size_t)(n_in * n_out) * 2);
                    for (int64_t i = 0; i < n_in * n_out; i++)
                        h[i] = types[ti] == REEL_DTYPE_F16 ? reel_fp32_to_fp16(wf[i])
                                                           : reel_fp32_to_bf16(wf[i]);
                    w = h;
                }
                float *y0 = malloc((size_t)(T * n_out) * 4), *y1 = malloc((size_t)(T * n_out) * 4);
                assert_int_equal(ref->matmul(NULL, y0, w, types[ti], x, n_in, n_out, T), 0);
                assert_int_equal(k->matmul(pool, y1, w, types[ti], x, n_in, n_out, T), 0);
                /* fp32 sums in another order: rounding grows like the root of the length */
                const double tol = 1e-5 * (n_in > 16 ? sqrt(n_in / 16.0) : 1.0);
                for (int64_t i = 0; i < T * n_out; i++)
                    if (fabs(y0[i] - y1[i]) > tol * (1 + fabs(y0[i])))
                        fail_msg("type %d n_in %lld T %lld: %g vs %g", types[ti], (long long)n_in,
                                 (long long)T, y0[i], y1[i]);
                /* one thread: the same bits */
                float *y2 = malloc((size_t)(T * n_out) * 4);
                assert_int_equal(k->matmul(NULL, y2, w, types[ti], x, n_in, n_out, T), 0);
                assert_memory_equal(y1, y2, (size_t)(T * n_out) * 4);
                free(y2);
                free(wf), free(x), free(h), free(y0), free(y1);
            }
    /* the token-by-token scan: state sizes with and without an 8/16 tail, decode and batch */
    const int sshapes[][4] = {{8, 4, 16, 2}, {4, 6, 12, 4}, {6, 5, 128, 1}, {2, 3, 29, 1}};
    for (size_t si = 0; si < 4; si++)
        for (int64_t T = 1; T <= 5; T += 4) {
            const int *sh = sshapes[si];
            ssm_case c = ssm_make(T, sh[0], sh[1], sh[2], sh[3]);
            const int64_t ny = T * sh[0] * sh[1], ns = (int64_t)sh[0] * sh[1] * sh[2];
            float *st2 = malloc((size_t)ns * 4), *y2 = malloc((size_t)ny * 4);
            memcpy(st2, c.state, (size_t)ns * 4);
            reel_ssm_args b = c.a;
            b.state = st2, b.y = y2;
            ref->ssm_scan(NULL, &c.a);
            k->ssm_scan(pool, &b);
            const double dy = max_rel_diff(y2, c.y, ny), ds = max_rel_diff(st2, c.state, ns);
            if (dy > 1e-5 || ds > 1e-6)
                fail_msg("ssm_scan shape %zu T=%lld: rel diff y %.3g state %.3g", si, (long long)T,
                         dy, ds);
            free(st2), free(y2);
            ssm_free(&c);
        }
    /* attention over F32 and F16 caches, head dims with and without a tail, batch and decode */
    const int hds[] = {4, 8, 12, 16, 20};
    for (int kvt = 0; kvt < 2; kvt++)
        for (int hi = 0; hi < 5; hi++) {
            const int na = 4, nkv = 2, hd = hds[hi];
            const int64_t pos0 = 5, T = 3, kvw = nkv * hd, ctx = pos0 + T;
            const reel_dtype type = kvt ? REEL_DTYPE_F16 : REEL_DTYPE_F32;
            float *kf = rnd(ctx * kvw, 1), *vf = rnd(ctx * kvw, 1), *q = rnd(T * na * hd, 2);
            void *kc = kf, *vc = vf;
            uint16_t *kh = NULL, *vh = NULL;
            if (kvt) {
                kh = malloc((size_t)(ctx * kvw) * 2), vh = malloc((size_t)(ctx * kvw) * 2);
                for (int64_t i = 0; i < ctx * kvw; i++)
                    kh[i] = reel_fp32_to_fp16(kf[i]), vh[i] = reel_fp32_to_fp16(vf[i]);
                kc = kh, vc = vh;
            }
            float *o0 = malloc((size_t)(T * na * hd) * 4), *o1 = malloc((size_t)(T * na * hd) * 4);
            reel_attn_args a = {T, pos0, na, nkv, hd, q, na * hd, kc, vc, type, o0};
            ref->attention(NULL, &a);
            a.out = o1;
            k->attention(pool, &a);
            for (int64_t i = 0; i < T * na * hd; i++)
                if (fabs(o0[i] - o1[i]) > 1e-5 * (1 + fabs(o0[i])))
                    fail_msg("attention %s hd %d: %g vs %g", kvt ? "F16" : "F32", hd, o0[i], o1[i]);
            free(kf), free(vf), free(q), free(kh), free(vh), free(o0), free(o1);
        }
    /* element-wise activations and the gated norm: every length around the 8-wide vector, a
     * wide range of inputs (exp's clamps included), and a value's result independent of where
     * it sits (a split of the work must not change bits) */
    for (int64_t n = 1; n <= 40; n++)
        for (int op = 0; op < 3; op++) {
            float *x = rnd(n, 30.0f), *y0 = malloc((size_t)n * 4), *y1 = malloc((size_t)n * 4);
            x[0] = n % 2 ? -200.0f : 150.0f;
            ref->unary((reel_unary)op, y0, x, n);
            k->unary((reel_unary)op, y1, x, n);
            for (int64_t i = 0; i < n; i++)
                if (fabs(y0[i] - y1[i]) > 1e-6 * fabs(y0[i]) + 1e-30) /* -200: -0 vs -1e-36 */
                    fail_msg("unary %d n %lld x %g: %.9g vs %.9g", op, (long long)n, x[i], y0[i],
                             y1[i]);
            for (int64_t i = 0; i < n; i++) {
                float one;
                k->unary((reel_unary)op, &one, x + i, 1);
                assert_memory_equal(&one, y1 + i, 4);
            }
            free(x), free(y0), free(y1);
        }
    /* conv1d: channel counts around the 8-wide block (the masked tail), tap counts with and
     * without the K = 4 special case, one sequence fed whole and in pieces through the state */
    for (int64_t C = 1; C <= 27; C += 13)
        for (int K = 1; K <= 5; K++) {
            const int64_t T = 7, stride = C + 3;
            float *x = rnd(T * stride, 2.0f), *w = rnd(C * K, 1.0f), *b = rnd(C, 1.0f);
            float *s0 = rnd((K - 1) * C + 1, 1.0f), *s1 = malloc((size_t)((K - 1) * C + 1) * 4);
            float *y0 = malloc((size_t)(T * C) * 4), *y1 = malloc((size_t)(T * C) * 4);
            memcpy(s1, s0, (size_t)((K - 1) * C + 1) * 4);
            ref->conv1d(pool, y0, x, stride, s0, w, b, C, K, T);
            k->conv1d(pool, y1, x, stride, s1, w, C % 2 ? b : NULL, C, K, 3);
            k->conv1d(NULL, y1 + 3 * C, x + 3 * stride, stride, s1, w, C % 2 ? b : NULL, C, K,
                      T - 3);
            for (int64_t i = 0; i < T * C; i++) {
                const double want = y0[i] - (C % 2 ? 0.0 : b[i % C]);
                if (fabs(want - y1[i]) > 1e-5 * (1 + fabs(want)))
                    fail_msg("conv1d C %lld K %d at %lld: %.9g vs %.9g", (long long)C, K,
                             (long long)i, want, y1[i]);
            }
            assert_memory_equal(s0, s1, (size_t)((K - 1) * C + 1) * 4); /* + the guard */
            free(x), free(w), free(b), free(s0), free(s1), free(y0), free(y1);
        }
    const int64_t gss[][2] = {{24, 6}, {64, 16}, {60, 12}, {960 * 2, 960}, {27, 9}};
    for (size_t gi = 0; gi < 5; gi++) {
        const int64_t n = gss[gi][0], gs = gss[gi][1], T = 3, st = n + 5;
        float *x = rnd(st * T, 2.0f), *z = rnd(st * T, 6.0f), *w = rnd(n, 1.0f);
        float *y0 = calloc((size_t)(st * T), 4), *y1 = calloc((size_t)(st * T), 4);
        ref->gated_rmsnorm(y0, st, x, st, z, st, w, n, gs, T, 1e-5f);
        k->gated_rmsnorm(y1, st, x, st, z, st, w, n, gs, T, 1e-5f);
        const double d = max_rel_diff(y1, y0, st * T);
        if (d > 2e-6)
            fail_msg("gated_rmsnorm n %lld gs %lld: rel diff %.3g", (long long)n, (long long)gs, d);
        free(x), free(z), free(w), free(y0), free(y1);
    }
    reel_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_conv1d),
        cmocka_unit_test(test_ssm_scan_naive),
        cmocka_unit_test(test_ssm_chunked),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_dispatch_vs_scalar),
        cmocka_unit_test(test_dequantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
