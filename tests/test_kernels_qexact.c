/* Every integer-dot matmul against its exact reference (kernels/cpu/matmul-q8act.c): the
 * activations quantized the way the SIMD path quantizes them (checked bit for bit against
 * quant-act.c), the weights read as integers, the integer dot products exact, so the only
 * freedom a correct kernel has is the fp32 rounding of its per-block factors and partial sums,
 * and each output is held to a bound on that rounding instead of a percentage:
 *
 *   |y - exact| <= (2 nb + 8) * 2^-24 * l1
 *
 * with nb the 32-blocks of a row and l1 the sum of the magnitudes of every product that an fp32
 * step rounds (reeli_q8act_dot). Why: a kernel's output is an fp32 sum, lane by lane, of at most
 * 2 nb fused multiply-adds (one per block and, for the types with minimums or offsets, one more
 * per block or group of 8 blocks) followed by 3 additions of the horizontal sum; each term's
 * factor (d_w d_x, times a 6-bit scale or a minimum) is itself rounded up to 3 times and its
 * integer converted once. The recursive-summation bound (Higham, gamma_n with n the number of
 * roundings on a term's path) then gives the line above; real errors are a small fraction of it
 * (printed). A change of the activation scale from amax / 127 to amax / 128 moves every output
 * by 0.8% of its size, two orders of magnitude above the bound for every shape here.
 *
 * The tests run as four ctest entries (REEL_TEST_FILTER / EXCLUDE, tests/kernels.cmake): "emul"
 * on every machine (the reference's weight decoding against the dequantizers, and the
 * interleaved layouts read back by a scalar emulation of their tiles, so repacking and index
 * arithmetic are checked without VNNI), "avx2" (the quantizer and the AVX2 row-major tiles),
 * "vnni" (the AVX-512 VNNI row-major and interleaved tiles), each skipped, visibly, without its
 * ISA, and "avxvnni": the AVX-VNNI interleaved tiles on any AVX2 machine, their VEX dpbusd run by
 * a SIGILL handler where the CPU lacks it (x86_vnni_trap.c, itself checked first against an
 * independent reading of the instructions and, where AVX-512 VNNI exists, against its EVEX
 * twins). */
#include "testutil.h"
#include "core/core.h"
#include "kernels/kernels-impl.h"
#include "x86_vnni_trap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static const reel_dtype ROWMAJOR[] = {
    REEL_DTYPE_Q8_0, REEL_DTYPE_Q4_0,   REEL_DTYPE_Q5_0, REEL_DTYPE_Q5_1,
    REEL_DTYPE_Q4_1, REEL_DTYPE_IQ4_NL, REEL_DTYPE_Q2_K, REEL_DTYPE_Q3_K,
    REEL_DTYPE_Q4_K, REEL_DTYPE_Q5_K,   REEL_DTYPE_Q6_K,
};
enum { N_ROWMAJOR = sizeof ROWMAJOR / sizeof ROWMAJOR[0] };
/* The interleaved layouts (kernels/cpu/repack.c) are read back by a scalar emulation on every
 * machine; the SIMD kernels tested here are x86 only (kernels/cpu/x86/): elsewhere they skip. */
/* the interleaved layouts and the plain types they are repacked from */
static const struct {
    reel_dtype r8, plain;
    const char *name; /* (reel_dtype_name knows only the types a file may hold) */
} INTERLEAVED[] = {
    {REEL_DTYPE_Q8_0_R8, REEL_DTYPE_Q8_0, "Q8_0_R8"},
    {REEL_DTYPE_Q4_0_R8, REEL_DTYPE_Q4_0, "Q4_0_R8"},
    {REEL_DTYPE_Q5_0_R8, REEL_DTYPE_Q5_0, "Q5_0_R8"},
    {REEL_DTYPE_Q4_K_R8, REEL_DTYPE_Q4_K, "Q4_K_R8"},
    {REEL_DTYPE_Q6_K_R8, REEL_DTYPE_Q6_K, "Q6_K_R8"},
};

enum { N_INTERLEAVED = sizeof INTERLEAVED / sizeof INTERLEAVED[0] };

static const char *type_name(reel_dtype t)
{
    for (int k = 0; k < N_INTERLEAVED; k++)
        if (INTERLEAVED[k].r8 == t) return INTERLEAVED[k].name;
    return reel_dtype_name(t);
}

/* n_out rows of random blocks: random bytes for quants and packed scales, f16 block scales of
 * the size quantizers give weights of magnitude ~0.1 (some negative) */
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
        case REEL_DTYPE_Q8_0:
            put_f16(b, 0.001f * frand());
            break;
        default: /* Q4_0, Q5_0, IQ4_NL */
            put_f16(b, 0.01f * frand());
            break;
        }
    }
    return w;
}

/* T tokens of n: every 7th value tripled (outliers set a block's scale), token 2 all zeros
 * (d = 0), token 3 one block of tiny values (a denormal-free scale far below 1) */
static float *rnd_x(int64_t n, int64_t T)
{
    float *x = malloc((size_t)(n * T) * sizeof(float));
    for (int64_t i = 0; i < n * T; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    if (T > 2)
        for (int64_t i = 0; i < n; i++) x[2 * n + i] = 0.0f;
    if (T > 3)
        for (int64_t i = 0; i < 32; i++) x[3 * n + i] *= 1e-6f;
    return x;
}

static int is_k(reel_dtype t)
{
    return reel_dtype_block(t) == 256;
}

#if defined(__x86_64__)
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
#endif

/* ---- the reference itself (every machine) ---- */

/* The reference's integer reading of each weight block against the library's dequantizers (an
 * independent decoding: convert.c): A k + B equal to the dequantized float up to that float's
 * own rounding (the dequantizers compute d sc q - dmin m in fp32). */
static void test_emul_reference_weights(void **state)
{
    (void)state;
    for (int k = 0; k < N_ROWMAJOR; k++) {
        const reel_dtype t = ROWMAJOR[k];
        const int64_t n = 512, rows = 6;
        uint8_t *w = rnd_weights(t, n, rows);
        const size_t rb = reel_dtype_row_bytes(t, n);
        float f[512];
        for (int64_t r = 0; r < rows; r++) {
            assert_int_equal(reel_kernels_dequantize_row(t, w + (size_t)r * rb, f, n), 0);
            for (int64_t b = 0; b < n / 32; b++) {
                int32_t kk[32];
                double A[2], B[2];
                assert_int_equal(reeli_q8act_weights(t, w + (size_t)r * rb, b, kk, A, B), 0);
                for (int i = 0; i < 32; i++) {
                    const double v = A[i / 16] * kk[i] + B[i / 16];
                    const double mag = fabs(A[i / 16] * kk[i]) + fabs(B[i / 16]);
                    if (fabs(v - f[32 * b + i]) > 0x1p-23 * mag)
                        fail_msg("%s row %lld element %lld: %.9g, dequantized %.9g",
                                 reel_dtype_name(t), (long long)r, (long long)(32 * b + i), v,
                                 f[32 * b + i]);
                }
            }
        }
        free(w);
    }
    int32_t kk[32];
    double A[2], B[2];
    static const uint8_t zero[64];
    assert_int_equal(reeli_q8act_weights(REEL_DTYPE_F16, zero, 0, kk, A, B), REEL_EUNSUPPORTED);
    assert_int_equal(reeli_q8act_weights(REEL_DTYPE_Q4_0_R8, zero, 0, kk, A, B), REEL_EUNSUPPORTED);
}

/* GGML's Q8_0 rule on hand-made blocks: d = amax / 127, q = x * 127 / amax rounded half to
 * even (the SIMD rounding, not C's round()), zeros give d = 0 */
static void test_emul_reference_quantizer(void **state)
{
    (void)state;
    float x[32];
    int8_t q[32];
    /* amax 127/128 makes 127 / amax exactly 128, so the scaled values below are exact */
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) / 32.0f;
    x[0] = -127.0f / 128.0f;
    assert_true(reeli_q8act_block(x, q) == 1.0f / 128.0f);
    assert_int_equal(q[0], -127);
    assert_int_equal(q[17], 4);  /* 1/32 * 128 */
    assert_int_equal(q[24], 32); /* 8/32 * 128 */
    x[1] = 0.5f / 128.0f;        /* exactly 0.5 after scaling: ties to even -> 0 */
    x[2] = 1.5f / 128.0f;        /* 1.5 -> 2 */
    x[3] = -2.5f / 128.0f;       /* -2.5 -> -2 */
    reeli_q8act_block(x, q);
    assert_int_equal(q[1], 0);
    assert_int_equal(q[2], 2);
    assert_int_equal(q[3], -2);
    memset(x, 0, sizeof x);
    assert_true(reeli_q8act_block(x, q) == 0.0f);
    for (int i = 0; i < 32; i++) assert_int_equal(q[i], 0);
}

/* ---- the interleaved layouts, read back by a scalar emulation of their tiles ---- */

static double f16d(const uint8_t *p)
{
    return (double)reel_fp16_to_fp32((uint16_t)(p[0] | p[1] << 8));
}

/* Row r, block b of an interleaved {n_in, n_out} matrix as integers, read from the layout that
 * repack.c documents: Q8_0_R8 / Q4_0_R8 / Q5_0_R8 groups of 8 rows paired (0 and 1, 2 and 3, an
 * odd last group alone) with the pair's blocks side by side, per block the 8 f16 scales and
 * then dword k of each row side by side (Q5_0: the rearranged fifth bits between the two);
 * Q4_K_R8 / Q6_K_R8 per super-block of a group as described at put_q4_k / put_q6_k. */
static void r8_weights(reel_dtype t, const uint8_t *w, int64_t n_in, int64_t n_out, int64_t r,
                       int64_t b, int32_t k[32], double A[2], double B[2])
{
    const int64_t g = r / 8, groups = n_out / 8, nb = n_in / 32;
    const int i = (int)(r % 8);
    A[0] = A[1] = B[0] = B[1] = 0;
    if (t == REEL_DTYPE_Q8_0_R8 || t == REEL_DTYPE_Q4_0_R8 || t == REEL_DTYPE_Q5_0_R8) {
        const size_t sb = t == REEL_DTYPE_Q8_0_R8 ? 272 : t == REEL_DTYPE_Q4_0_R8 ? 144 : 176;
        const int paired = (g ^ 1) < groups;
        const uint8_t *d = w + (size_t)(paired ? g & ~(int64_t)1 : g) * (size_t)nb * sb +
                           (size_t)b * (paired ? 2 * sb : sb) + (paired ? (size_t)(g & 1) * sb : 0);
        A[0] = A[1] = f16d(d + 2 * i);
        if (t == REEL_DTYPE_Q8_0_R8) {
            for (int kk = 0; kk < 8; kk++)
                for (int l = 0; l < 4; l++) k[4 * kk + l] = (int8_t)d[16 + 32 * kk + 4 * i + l];
        } else if (t == REEL_DTYPE_Q4_0_R8) {
            for (int kk = 0; kk < 4; kk++)
                for (int l = 0; l < 4; l++) {
                    const uint8_t v = d[16 + 32 * kk + 4 * i + l];
                    k[4 * kk + l] = (v & 15) - 8;
                    k[16 + 4 * kk + l] = (v >> 4) - 8;
                }
        } else {
            const uint8_t *hb = d + 16 + 4 * i; /* byte l, bit kk: element 4 kk + l */
            for (int kk = 0; kk < 4; kk++)
                for (int l = 0; l < 4; l++) {
                    const uint8_t v = d[48 + 32 * kk + 4 * i + l];
                    k[4 * kk + l] = ((v & 15) | ((hb[l] >> kk) & 1) << 4) - 16;
                    k[16 + 4 * kk + l] = ((v >> 4) | ((hb[l] >> (4 + kk)) & 1) << 4) - 16;
                }
        }
        return;
    }
    const int64_t nsb = n_in / 256, s = b / 8;
    const int j = (int)(b % 8);
    if (t == REEL_DTYPE_Q4_K_R8) {
        const uint8_t *p = w + (size_t)(g * nsb + s) * 1152;
        const uint8_t sm = p[32 + 12 * j + i];
        const int m = sm >> 6 | ((p[32 + 12 * j + 8 + i / 2] >> (4 * (i & 1))) & 15) << 2;
        A[0] = A[1] = f16d(p + 2 * i) * (sm & 63);
        B[0] = B[1] = -f16d(p + 16 + 2 * i) * m;
        for (int kk = 0; kk < 8; kk++)
            for (int l = 0; l < 4; l++) {
                const uint8_t v = p[128 + 256 * (j / 2) + 32 * kk + 4 * i + l];
                k[4 * kk + l] = j & 1 ? v >> 4 : v & 15;
            }
        return;
    }
    /* Q6_K_R8 */
    const uint8_t *p = w + (size_t)(g * nsb + s) * 1680;
    const int n = j / 4, jj = j % 4;
    for (int h = 0; h < 2; h++) A[h] = f16d(p + 2 * i) * (int8_t)p[16 + 16 * j + 8 * h + i];
    for (int kk = 0; kk < 8; kk++)
        for (int l = 0; l < 4; l++) {
            const uint8_t lo = p[144 + 256 * (2 * n + (jj & 1)) + 32 * kk + 4 * i + l];
            const uint8_t hi = p[1168 + 256 * n + 32 * kk + 4 * i + l];
            k[4 * kk + l] = ((jj < 2 ? lo & 15 : lo >> 4) | ((hi >> (2 * jj)) & 3) << 4) - 32;
        }
}

/* the reference's block term, in its order (reeli_q8act_dot) */
static double block_term(const int32_t k[32], const double A[2], const double B[2], const int8_t *q)
{
    double blk = 0;
    for (int h = 0; h < 2; h++) {
        int64_t kq = 0, sq = 0;
        for (int i = 16 * h; i < 16 * h + 16; i++) kq += (int64_t)k[i] * q[i], sq += q[i];
        blk += A[h] * (double)kq + B[h] * (double)sq;
    }
    return blk;
}

/* A scalar twin of the interleaved tiles: per group of 8 rows (the lanes), per block, the 8 rows'
 * integers read from the interleaved layout, checked equal to the plain layout's, and added to
 * the 8 lanes of each token's accumulator; the outputs must equal the row-major reference's bit
 * for bit (the same terms in the same order). */
static void emulate_interleaved(reel_dtype r8, reel_dtype plain, int64_t n_in, int64_t n_out,
                                int64_t T)
{
    uint8_t *w = rnd_weights(plain, n_in, n_out);
    const size_t rb = reel_dtype_row_bytes(plain, n_in);
    uint8_t *wr = malloc(rb * (size_t)n_out);
    assert_int_equal(reeli_cpu_repack(r8, wr, plain, w, n_in, n_out), 0);
    float *x = rnd_x(n_in, T);
    const int64_t nb = n_in / 32;
    int8_t *q = malloc((size_t)(T * n_in));
    float *d = malloc((size_t)(T * nb) * sizeof(float));
    for (int64_t i = 0; i < T * nb; i++) d[i] = reeli_q8act_block(x + 32 * i, q + 32 * i);
    float *ref = malloc((size_t)(T * n_out) * sizeof(float)), *emu = malloc(sizeof(float) * 8);
    assert_int_equal(reeli_cpu_matmul_q8act(NULL, ref, w, plain, x, n_in, n_out, T), 0);
    for (int64_t g = 0; g < n_out / 8; g++)
        for (int64_t t = 0; t < T; t++) {
            double acc[8] = {0};
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < 8; i++) {
                    int32_t k[32], kp[32];
                    double A[2], B[2], Ap[2], Bp[2];
                    const int64_t r = 8 * g + i;
                    r8_weights(r8, wr, n_in, n_out, r, b, k, A, B);
                    assert_int_equal(reeli_q8act_weights(plain, w + (size_t)r * rb, b, kp, Ap, Bp),
                                     0);
                    if (memcmp(k, kp, sizeof k) || A[0] != Ap[0] || A[1] != Ap[1] ||
                        B[0] != Bp[0] || B[1] != Bp[1])
                        fail_msg("%s %lldx%lld: row %lld block %lld reads back wrong",
                                 type_name(r8), (long long)n_out, (long long)n_in, (long long)r,
                                 (long long)b);
                    acc[i] += (double)d[t * nb + b] * block_term(k, A, B, q + t * n_in + 32 * b);
                }
            for (int i = 0; i < 8; i++) emu[i] = (float)acc[i];
            assert_memory_equal(emu, ref + t * n_out + 8 * g, 8 * sizeof(float));
        }
    free(w), free(wr), free(x), free(q), free(d), free(ref), free(emu);
}

/* 1, 2, 3, 5 and 8 groups of 8 rows (odd counts leave the last group unpaired), one and
 * several tokens, one and several super-blocks */
static void test_emul_interleaved(void **state)
{
    (void)state;
    static const int64_t groups[] = {1, 2, 3, 5, 8};
    for (int k = 0; k < N_INTERLEAVED; k++)
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
            const int64_t n_in = is_k(INTERLEAVED[k].plain) ? 512 : 32 * 7;
            emulate_interleaved(INTERLEAVED[k].r8, INTERLEAVED[k].plain, n_in, 8 * groups[g],
                                g % 2 ? 3 : 1);
        }
    /* refused: rows not a multiple of 8, partial super-blocks, a pair that does not exist */
    uint8_t src[2048] = {0}, dst[2048];
    assert_int_equal(reeli_cpu_repack(REEL_DTYPE_Q4_0_R8, dst, REEL_DTYPE_Q4_0, src, 32, 7),
                     REEL_EINVAL);
    assert_int_equal(reeli_cpu_repack(REEL_DTYPE_Q4_K_R8, dst, REEL_DTYPE_Q4_K, src, 128, 8),
                     REEL_EINVAL);
    assert_int_equal(reeli_cpu_repack(REEL_DTYPE_Q4_K_R8, dst, REEL_DTYPE_Q4_0, src, 256, 8),
                     REEL_EINVAL);
}

/* The model loader repacks a matrix in runs of 16 rows on several threads (llm/load.c): every
 * run of whole pairs of groups (and a lone last group) must repack alone into its own bytes. */
static void test_repack_in_pieces(void **state)
{
    (void)state;
    static const int64_t n_outs[] = {8, 16, 24, 40, 56};
    for (int k = 0; k < N_INTERLEAVED; k++) {
        const reel_dtype plain = INTERLEAVED[k].plain, r8 = INTERLEAVED[k].r8;
        const int64_t n_in = is_k(plain) ? 512 : 96;
        for (size_t a = 0; a < sizeof n_outs / sizeof n_outs[0]; a++) {
            const int64_t n_out = n_outs[a];
            const size_t rb = reel_dtype_row_bytes(plain, n_in), nbytes = rb * (size_t)n_out;
            uint8_t *w = rnd_weights(plain, n_in, n_out), *whole = malloc(nbytes);
            uint8_t *pieces = calloc(1, nbytes);
            assert_int_equal(reeli_cpu_repack(r8, whole, plain, w, n_in, n_out), 0);
            for (int64_t r0 = 0; r0 < n_out; r0 += 16) {
                const int64_t n = n_out - r0 < 16 ? n_out - r0 : 16;
                assert_int_equal(reeli_cpu_repack(r8, pieces + (size_t)r0 * rb, plain,
                                                  w + (size_t)r0 * rb, n_in, n),
                                 0);
            }
            if (memcmp(whole, pieces, nbytes) != 0)
                fail_msg("%s: %lld rows repacked in runs of 16 differ from the whole",
                         INTERLEAVED[k].name, (long long)n_out);
            free(w), free(whole), free(pieces);
        }
    }
}

#if defined(__x86_64__)
/* The instruction set the x86 integer-dot kernels get from the CPU's features (any machine: the
 * choice is plain C): AVX-512 VNNI needs VL too, AVX-VNNI comes next, AVX2 is the floor. */
static void test_emul_isa_choice(void **state)
{
    (void)state;
    reel_cpu_features f;
    memset(&f, 0, sizeof f);
    f.avx2 = f.fma = f.f16c = 1;
    assert_int_equal(reeli_x86_isa(&f), REELI_X86_AVX2);
    f.avxvnni = 1; /* Alder Lake, Zen 5 client chips with AVX-512 off */
    assert_int_equal(reeli_x86_isa(&f), REELI_X86_AVXVNNI);
    f.avx512vnni = 1; /* without VL the 256-bit EVEX dpbusd does not exist */
    assert_int_equal(reeli_x86_isa(&f), REELI_X86_AVXVNNI);
    f.avx512vl = 1; /* Sapphire Rapids, Zen 4 / 5: both; the 32 registers of AVX-512 win */
    assert_int_equal(reeli_x86_isa(&f), REELI_X86_AVX512VNNI);
    f.avxvnni = 0; /* Ice Lake, Zen 4 */
    assert_int_equal(reeli_x86_isa(&f), REELI_X86_AVX512VNNI);
}

/* ---- the SIMD kernels against the reference ---- */

/* Runs the kernel (row-major: reeli_x86_qmatmul / reeli_x86_kqmatmul; interleaved: repacked
 * first, reeli_x86_qmatmul on that ISA, checked bit-equal to AVX2 from AVX-VNNI, and from AVX2
 * to AVX-512 VNNI where it runs)
 * and holds every output to the rounding bound of the file
 * comment; returns the largest error in units of 2^-24 l1 (for the log). */
static const char *isa_name(int isa)
{
    return isa == REELI_X86_AVX512VNNI ? "vnni" : isa == REELI_X86_AVXVNNI ? "avxvnni" : "avx2";
}

static double check(reel_dtype plain, reel_dtype r8, int isa, int64_t n_in, int64_t n_out,
                    int64_t T)
{
    uint8_t *w = rnd_weights(plain, n_in, n_out);
    const size_t rb = reel_dtype_row_bytes(plain, n_in);
    float *x = rnd_x(n_in, T), *y = malloc((size_t)(T * n_out) * sizeof(float));
    const int64_t nb = n_in / 32;
    if (r8) {
        uint8_t *wr = malloc(rb * (size_t)n_out);
        assert_int_equal(reeli_cpu_repack(r8, wr, plain, w, n_in, n_out), 0);
        assert_int_equal(reeli_x86_qmatmul(NULL, y, wr, r8, x, n_in, n_out, T, isa), 0);
        /* a token alone gives the bits it gets inside a batch (gemm-interleaved.c) */
        float y1[64];
        assert_true(n_out <= 64);
        assert_int_equal(
            reeli_x86_qmatmul(NULL, y1, wr, r8, x + (T - 1) * n_in, n_in, n_out, 1, isa), 0);
        assert_memory_equal(y1, y + (T - 1) * n_out, (size_t)n_out * sizeof(float));
        /* AVX2's tiles give both VNNIs' bits */
        const int other = isa == REELI_X86_AVXVNNI               ? REELI_X86_AVX2
                          : isa == REELI_X86_AVX2 && have_vnni() ? REELI_X86_AVX512VNNI
                                                                 : -1;
        if (other >= 0) {
            float *yv = malloc((size_t)(T * n_out) * sizeof(float));
            assert_int_equal(reeli_x86_qmatmul(NULL, yv, wr, r8, x, n_in, n_out, T, other), 0);
            assert_memory_equal(yv, y, (size_t)(T * n_out) * sizeof(float));
            free(yv);
        }
        free(wr);
    } else if (plain == REEL_DTYPE_Q8_0 || plain == REEL_DTYPE_Q4_0) {
        assert_int_equal(reeli_x86_qmatmul(NULL, y, w, plain, x, n_in, n_out, T, isa), 0);
    } else {
        assert_int_equal(reeli_x86_kqmatmul(NULL, y, w, plain, x, n_in, n_out, T, isa), 0);
    }
    int8_t *q = malloc((size_t)n_in);
    float *d = malloc((size_t)nb * sizeof(float));
    double worst = 0;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t b = 0; b < nb; b++)
            d[b] = reeli_q8act_block(x + t * n_in + 32 * b, q + 32 * b);
        for (int64_t r = 0; r < n_out; r++) {
            double l1;
            const double e = reeli_q8act_dot(plain, w + (size_t)r * rb, n_in, q, d, &l1);
            const double unit = 0x1p-24 * l1, got = y[t * n_out + r];
            if (fabs(got - e) > (2.0 * (double)nb + 8.0) * unit)
                fail_msg("%s%s %s %lldx%lld T=%lld: y[%lld][%lld] = %.9g, exact %.9g: %.3g units "
                         "of 2^-24 l1 (bound %lld)",
                         type_name(r8 ? r8 : plain), r8 ? "" : " row-major", isa_name(isa),
                         (long long)n_out, (long long)n_in, (long long)T, (long long)t,
                         (long long)r, got, e, unit > 0 ? fabs(got - e) / unit : 0,
                         (long long)(2 * nb + 8));
            if (unit > 0) worst = fmax(worst, fabs(got - e) / unit);
            if (l1 == 0) assert_true(got == 0.0f); /* the zero token */
        }
    }
    free(w), free(x), free(y), free(q), free(d);
    return worst;
}

/* The activation quantizer (quant-act.c) against the reference's, bit for bit, in both layouts:
 * the int8 values, the scales, and every sum the tiles take from it. */
static void test_avx2_quantizer(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    const int64_t n = 32 * 11, T = 5;
    float *x = rnd_x(n, T);
    /* block 0: amax 127/128 (127 / amax = 128 exactly) and values that scale to k + 0.5: the
     * ties, which round to even */
    for (int i = 1; i < 32; i++) x[i] = ((float)(i % 8) - 3.5f) / 128.0f;
    x[0] = 127.0f / 128.0f;
    const reeli_q8x *xb = reeli_x86_quantize_q8(NULL, x, n, T, REELI_Q8X_BLOCKS);
    for (int64_t i = 0; i < T * n / 32; i++) {
        int8_t q[32];
        const float d = reeli_q8act_block(x + 32 * i, q);
        int lo = 0, hi = 0;
        for (int k = 0; k < 16; k++) lo += q[k], hi += q[16 + k];
        assert_memory_equal(&xb[i].d, &d, sizeof d);
        assert_memory_equal(xb[i].qs, q, 32);
        assert_int_equal(xb[i].s8, -8 * (lo + hi));
        assert_int_equal(xb[i].h16[0], lo);
        assert_int_equal(xb[i].h16[1], hi);
        const float ds = d * (float)(lo + hi);
        assert_memory_equal(&xb[i].ds, &ds, sizeof ds);
    }
    const uint8_t *rec = reeli_x86_quantize_q8(NULL, x, n, T, REELI_Q8X_RECORDS);
    const size_t xs = reeli_x86_q8_record_bytes(n);
    const int64_t nb = n / 32;
    for (int64_t t = 0; t < T; t++) {
        const uint8_t *base = rec + (size_t)t * xs;
        const float *dv = (const float *)(base + n), *sv = dv + nb;
        const int32_t *x32 = (const int32_t *)(sv + nb);
        const int16_t *hs = (const int16_t *)(x32 + nb);
        for (int64_t b = 0; b < nb; b++) {
            int8_t q[32];
            const float d = reeli_q8act_block(x + t * n + 32 * b, q);
            int lo = 0, hi = 0;
            for (int k = 0; k < 16; k++) lo += q[k], hi += q[16 + k];
            assert_memory_equal(base + 32 * b, q, 32);
            assert_memory_equal(dv + b, &d, sizeof d);
            const float s = d * (float)(lo + hi);
            assert_memory_equal(sv + b, &s, sizeof s);
            assert_int_equal(x32[b], lo + hi);
            assert_int_equal(hs[2 * b], lo);
            assert_int_equal(hs[2 * b + 1], hi);
        }
    }
    free(x);
}

/* The row-major tiles of one ISA on every type: rows in 1, 2, 3, 5 and 8 groups of the one-token
 * tile (4 rows: 4, 8, 12, 20, 32) and of the 8-row batch tile of Q8_0 / Q4_0 under VNNI (8, 16,
 * 24, 40, 64; the 2-row batch tiles see 2 to 32 groups), and with rows left over (7, 13, 33);
 * T = 1, 2, 3 (token tails), 5, 17 (a 16-token tile and one more) and 70 (past a chunk of 64);
 * rows of 1, 7 and 98 blocks (a partial last group of 8) or 1 and 3 super-blocks. */
static void rowmajor(int isa)
{
    static const int64_t n_outs[] = {4, 8, 12, 16, 20, 24, 32, 40, 64, 7, 13, 33};
    static const int64_t Ts[] = {1, 2, 3, 5, 17, 70};
    for (int k = 0; k < N_ROWMAJOR; k++) {
        const reel_dtype t = ROWMAJOR[k];
        const int64_t n_ins[] = {is_k(t) ? 256 : 32, is_k(t) ? 768 : 32 * 7, is_k(t) ? 256 : 3136};
        double worst = 0;
        for (size_t a = 0; a < sizeof n_outs / sizeof n_outs[0]; a++)
            for (size_t s = 0; s < sizeof Ts / sizeof Ts[0]; s++)
                for (int i = 0; i < 3; i++) {
                    /* keep the run short: the long rows only with a few shapes */
                    if (i == 2 && (a % 4 != 0 || s % 2 != 0)) continue;
                    worst = fmax(worst, check(t, 0, isa, n_ins[i], n_outs[a], Ts[s]));
                }
        print_message("%-6s row-major %s: largest error %.2f units of 2^-24 l1 (bound 2 nb + 8)\n",
                      reel_dtype_name(t), isa_name(isa), worst);
    }
}

static void test_avx2_rowmajor(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    rowmajor(REELI_X86_AVX2);
}

static void test_vnni_rowmajor(void **state)
{
    (void)state;
    if (!have_vnni()) tu_skip("needs AVX-512 VNNI (+VL): this CPU lacks it");
    rowmajor(REELI_X86_AVX512VNNI);
}

/* The interleaved tiles of one ISA: 1, 2, 3, 5 and 8 groups of 8 rows (pairs and an unpaired
 * last group for Q8_0 / Q4_0 / Q5_0), T = 1 (the 16-row and 8-row one-token tiles), 3, 16, 17
 * (the 16-token tile, with a token left over) and 70 (past a chunk of 64: not with AVX-VNNI,
 * whose every dpbusd may be a trap; the chunking is the driver's, the same for every ISA). */
static void interleaved(int isa)
{
    static const int64_t groups[] = {1, 2, 3, 5, 8};
    static const int64_t Ts[] = {1, 3, 16, 17, 70};
    const size_t nT = sizeof Ts / sizeof Ts[0] - (isa == REELI_X86_AVXVNNI);
    for (int k = 0; k < N_INTERLEAVED; k++) {
        const reel_dtype plain = INTERLEAVED[k].plain;
        const int64_t n_ins[] = {is_k(plain) ? 256 : 32 * 7, is_k(plain) ? 768 : 3136};
        double worst = 0;
        for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
            for (size_t s = 0; s < nT; s++)
                for (int i = 0; i < 2; i++) {
                    if (i == 1 && (g % 2 != 0 || s % 2 != 0)) continue;
                    worst = fmax(worst, check(plain, INTERLEAVED[k].r8, isa, n_ins[i],
                                              8 * groups[g], Ts[s]));
                }
        print_message("%-7s interleaved %s: largest error %.2f units of 2^-24 l1 (bound 2 nb + "
                      "8)\n",
                      INTERLEAVED[k].name, isa_name(isa), worst);
    }
}

static void test_avx2_interleaved(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    interleaved(REELI_X86_AVX2);
}

static void test_vnni_interleaved(void **state)
{
    (void)state;
    if (!have_vnni()) tu_skip("needs AVX-512 VNNI (+VL): this CPU lacks it");
    interleaved(REELI_X86_AVX512VNNI);
}

/* ---- AVX-VNNI: the VEX dpbusd, native or trapped (x86_vnni_trap.c) ---- */

/* One instruction per case, on fixed registers: the accumulator in ymm9, the first source in
 * ymm14, the second in ymm3 / ymm11 or in memory (every addressing form the decoder handles:
 * base, base + index * scale + disp8, a high base register with and without SIB, disp32,
 * RIP-relative, a high index register); each reads 32 (ymm) or 16 (xmm) bytes at b. */
typedef void (*vnni_fn)(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o);
#define VL                                                                                         \
    "vmovdqu (%[d]), %%ymm9\n\tvmovdqu (%[a]), %%ymm14\n\tvmovdqu (%[b]), %%ymm3\n\t"              \
    "vmovdqu (%[b]), %%ymm11\n\t"
#define VS    "\n\tvmovdqu %%ymm9, (%[o])"
#define VIN   [d] "r"(d), [a] "r"(a), [b] "r"(b), [o] "r"(o)
#define VCLOB "xmm3", "xmm9", "xmm11", "xmm14", "memory"
#define VCASE(name, insn)                                                                          \
    static void name(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)             \
    {                                                                                              \
        __asm__ volatile(VL insn VS::VIN : VCLOB);                                                 \
    }
VCASE(v_busd, "%{vex%} vpdpbusd %%ymm3, %%ymm14, %%ymm9")
VCASE(v_busd_b, "%{vex%} vpdpbusd %%ymm11, %%ymm14, %%ymm9")
VCASE(v_busd_x, "%{vex%} vpdpbusd %%xmm3, %%xmm14, %%xmm9")
VCASE(v_busds, "%{vex%} vpdpbusds %%ymm3, %%ymm14, %%ymm9")
VCASE(v_wssd, "%{vex%} vpdpwssd %%ymm11, %%ymm14, %%ymm9")
VCASE(v_wssds, "%{vex%} vpdpwssds %%xmm3, %%xmm14, %%xmm9")
VCASE(v_mem, "%{vex%} vpdpbusd (%[b]), %%ymm14, %%ymm9")
VCASE(v_mem_x, "%{vex%} vpdpbusd (%[b]), %%xmm14, %%xmm9")
VCASE(e_busd, "%{evex%} vpdpbusd %%ymm3, %%ymm14, %%ymm9")
VCASE(e_busd_x, "%{evex%} vpdpbusd %%xmm3, %%xmm14, %%xmm9")
VCASE(e_busds, "%{evex%} vpdpbusds %%ymm3, %%ymm14, %%ymm9")
VCASE(e_wssd, "%{evex%} vpdpwssd %%ymm11, %%ymm14, %%ymm9")
VCASE(e_wssds, "%{evex%} vpdpwssds %%xmm3, %%xmm14, %%xmm9")
static void v_sib(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    const uint8_t *p = b - 32 - 4 * 5;
    const long ix = 5;
    __asm__ volatile(
        VL "%{vex%} vpdpbusd 32(%[p],%[ix],4), %%ymm14, %%ymm9" VS::VIN, [p] "r"(p), [ix] "r"(ix)
        : VCLOB);
}
static void v_r12(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    register const uint8_t *p __asm__("r12") = b;
    __asm__ volatile(VL "%{vex%} vpdpbusd (%%r12), %%ymm14, %%ymm9" VS::VIN, "r"(p) : VCLOB);
}
static void v_r13(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    register const uint8_t *p __asm__("r13") = b;
    __asm__ volatile(VL "%{vex%} vpdpbusd (%%r13), %%ymm14, %%ymm9" VS::VIN, "r"(p) : VCLOB);
}
static void v_disp32(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    const uint8_t *p = b - 0x400;
    __asm__ volatile(VL "%{vex%} vpdpbusd 0x400(%[p]), %%ymm14, %%ymm9" VS::VIN, [p] "r"(p)
                     : VCLOB);
}
static void v_index12(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    const uint8_t *p = b - 2 * 3;
    register long ix __asm__("r12") = 3;
    __asm__ volatile(VL "%{vex%} vpdpbusd (%[p],%%r12,2), %%ymm14, %%ymm9" VS::VIN, [p] "r"(p),
                     "r"(ix)
                     : VCLOB);
}
static struct {
    uint8_t v[32];
} rip_b;
static void v_rip(const uint8_t *d, const uint8_t *a, const uint8_t *b, uint8_t *o)
{
    memcpy(rip_b.v, b, 32);
    __asm__ volatile(VL "%{vex%} vpdpbusd %[m], %%ymm14, %%ymm9" VS::VIN, [m] "m"(rip_b) : VCLOB);
}
#undef VCASE
#undef VCLOB
#undef VIN
#undef VS
#undef VL

/* What the instruction should leave in the accumulator: dword lanes of u8 x s8 (bytes) or
 * s16 x s16 (words) products added to it, wrapping or saturating; the xmm forms zero the upper
 * half. Written from the instruction set reference, separately from the handler's. */
static void vnni_expect(int words, int sat, int ymm, const uint8_t *d, const uint8_t *a,
                        const uint8_t *b, uint8_t *o)
{
    memset(o, 0, 32);
    for (int i = 0; i < (ymm ? 8 : 4); i++) {
        int32_t acc;
        memcpy(&acc, d + 4 * i, 4);
        int64_t s = acc;
        if (words)
            for (int k = 0; k < 4; k += 2)
                s += (int64_t)(int16_t)(a[4 * i + k] | a[4 * i + k + 1] << 8) *
                     (int16_t)(b[4 * i + k] | b[4 * i + k + 1] << 8);
        else
            for (int k = 0; k < 4; k++) s += (int64_t)a[4 * i + k] * (int8_t)b[4 * i + k];
        if (sat) s = s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s;
        const uint32_t r = (uint32_t)(uint64_t)s;
        memcpy(o + 4 * i, &r, 4);
    }
}

/* in every test: cmocka puts its own SIGILL handler in place around each one */
static int install_trap(void)
{
    return tu_vnni_trap_install() == 0;
}

/* The handler (or the CPU) against the reference reading, 300 random inputs a case, accumulators
 * near the int32 limits in some lanes (saturation and wrapping), and against the EVEX twins on
 * a CPU with AVX-512 VNNI; each VEX case is one trap where the CPU lacks AVX-VNNI. */
static void test_avxvnni_trap(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2: this CPU lacks it");
    assert_true(install_trap());
    static const struct {
        const char *name;
        vnni_fn fn;
        int words, sat, ymm, evex;
    } cases[] = {
        {"vpdpbusd ymm", v_busd, 0, 0, 1, 0},
        {"vpdpbusd ymm, high rm", v_busd_b, 0, 0, 1, 0},
        {"vpdpbusd xmm", v_busd_x, 0, 0, 0, 0},
        {"vpdpbusds ymm", v_busds, 0, 1, 1, 0},
        {"vpdpwssd ymm", v_wssd, 1, 0, 1, 0},
        {"vpdpwssds xmm", v_wssds, 1, 1, 0, 0},
        {"vpdpbusd [base]", v_mem, 0, 0, 1, 0},
        {"vpdpbusd xmm, [base]", v_mem_x, 0, 0, 0, 0},
        {"vpdpbusd [base+index*4+disp8]", v_sib, 0, 0, 1, 0},
        {"vpdpbusd [r12]", v_r12, 0, 0, 1, 0},
        {"vpdpbusd [r13]", v_r13, 0, 0, 1, 0},
        {"vpdpbusd [base+disp32]", v_disp32, 0, 0, 1, 0},
        {"vpdpbusd [base+r12*2]", v_index12, 0, 0, 1, 0},
        {"vpdpbusd [rip+disp32]", v_rip, 0, 0, 1, 0},
        {"evex vpdpbusd ymm", e_busd, 0, 0, 1, 1},
        {"evex vpdpbusd xmm", e_busd_x, 0, 0, 0, 1},
        {"evex vpdpbusds ymm", e_busds, 0, 1, 1, 1},
        {"evex vpdpwssd ymm", e_wssd, 1, 0, 1, 1},
        {"evex vpdpwssds xmm", e_wssds, 1, 1, 0, 1},
    };
    const int native = reel_kernels_cpu()->avxvnni;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (cases[c].evex && !have_vnni()) continue;
        for (int round = 0; round < 300; round++) {
            uint8_t d[32], a[32], b[32], o[32], want[32];
            for (int i = 0; i < 32; i++)
                d[i] = (uint8_t)next(), a[i] = (uint8_t)next(), b[i] = (uint8_t)next();
            if (round % 3 == 0) { /* lanes at the limits: the products push them over */
                const int32_t hi = INT32_MAX - 100, lo = INT32_MIN + 100;
                memcpy(d, &hi, 4), memcpy(d + 12, &lo, 4), memcpy(d + 28, &hi, 4);
                memset(a, 0xff, 4), memset(b, 0x7f, 4);           /* lane 0 up by 4 * 255 * 127 */
                memset(a + 12, 0xff, 4), memset(b + 12, 0x80, 4); /* lane 3 down */
            }
            const unsigned long before = tu_vnni_trap_count();
            cases[c].fn(d, a, b, o);
            const unsigned long traps = tu_vnni_trap_count() - before;
            vnni_expect(cases[c].words, cases[c].sat, cases[c].ymm, d, a, b, want);
            if (memcmp(o, want, 32) != 0)
                fail_msg("%s (round %d): the result differs from the instruction's definition",
                         cases[c].name, round);
            assert_int_equal(traps, cases[c].evex || native ? 0 : 1);
        }
    }
    print_message("AVX-VNNI %s: every case as the reference reads it\n",
                  native ? "native" : "trapped (x86_vnni_trap.c)");
}

/* The AVX-VNNI interleaved tiles as built (VEX-encoded: kernels/CMakeLists.txt keeps EVEX out)
 * against the exact reference and bit for bit against AVX2's tiles. */
static void test_avxvnni_interleaved(void **state)
{
    (void)state;
    if (!have_avx2()) tu_skip("needs AVX2+FMA+F16C: this CPU lacks it");
    assert_true(install_trap());
    const unsigned long before = tu_vnni_trap_count();
    interleaved(REELI_X86_AVXVNNI);
    const unsigned long traps = tu_vnni_trap_count() - before;
    if (!reel_kernels_cpu()->avxvnni) assert_true(traps > 0); /* the VEX tiles did run */
    print_message("AVX-VNNI tiles: %lu dpbusd trapped\n", traps);
}
#else
TU_X86_ONLY_TEST(test_avxvnni_trap)
TU_X86_ONLY_TEST(test_avxvnni_interleaved)
TU_X86_ONLY_TEST(test_avx2_quantizer)
TU_X86_ONLY_TEST(test_avx2_rowmajor)
TU_X86_ONLY_TEST(test_vnni_rowmajor)
TU_X86_ONLY_TEST(test_avx2_interleaved)
TU_X86_ONLY_TEST(test_vnni_interleaved)
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emul_reference_weights),
        cmocka_unit_test(test_emul_reference_quantizer),
        cmocka_unit_test(test_emul_interleaved),
        cmocka_unit_test(test_repack_in_pieces),
        cmocka_unit_test(test_emul_isa_choice),
        cmocka_unit_test(test_avx2_quantizer),
        cmocka_unit_test(test_avx2_rowmajor),
        cmocka_unit_test(test_vnni_rowmajor),
        cmocka_unit_test(test_avx2_interleaved),
        cmocka_unit_test(test_vnni_interleaved),
        cmocka_unit_test(test_avxvnni_trap),
        cmocka_unit_test(test_avxvnni_interleaved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
