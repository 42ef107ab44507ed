/* Benchmark (not a test): the decode step's weight stream alone. Allocates the matrices of the
 * Nemotron-3-Nano-4B shape (21 Mamba, 17 MLP and 4 attention layers and the output head) in
 * one of the interleaved layouts (Q4_0, Q8_0, Q5_0, Q4_K, Q6_K) with random bytes, then times T = 1
 * matmuls over all of them in layer order, as one decoded token does, and prints the weight bytes
 * streamed per second next to a plain read loop over the same buffer with the same threads (the
 * DRAM bound). build/bin/bench_decode_stream [threads] [q4_0|q8_0|q5_0|q4_k|q6_k|f16|bf16] [reps]
 * [T] (T > 1: a prompt's batch of T tokens per call instead, with its multiply-adds per second;
 * REEL_BENCH_HOT=1 repeats one small matrix that stays in cache: the kernel's compute rate,
 * REEL_BENCH_K / REEL_BENCH_N its shape; REEL_BENCH_SHAPES=1 adds each shape's own rate;
 * REEL_BENCH_PAIRS=1 prints every pair's two rates, to tell this machine's fast memory phases
 * from its slow ones.)
 * The gap between the two is the kernels' share of the decode bound; the gap between this and
 * `reel bench -n` is everything else in a token (scans, norms, attention, thread hand-offs).
 * The interleaved layouts are x86 only: on another CPU the quantized kinds stay row-major, the
 * layout its kernels read. */
#include "core/core.h"
#include "kernels/kernels-impl.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int64_t n_in, n_out;
    uint8_t *w;
} mat;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const uint8_t *buf;
    size_t n;
    uint64_t sink[64];
} rd_ctx;

#if defined(__x86_64__)
__attribute__((target("avx2"))) static void rd_body(void *arg, int64_t b, int64_t e, int th)
{
    rd_ctx *c = arg;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (int64_t k = b; k < e; k++) {
        const uint8_t *p = c->buf + (size_t)k * 4096;
        for (int o = 0; o < 4096; o += 64) {
            s0 = _mm256_xor_si256(s0, _mm256_load_si256((const __m256i *)(p + o)));
            s1 = _mm256_xor_si256(s1, _mm256_load_si256((const __m256i *)(p + o + 32)));
        }
    }
    c->sink[th] = (uint64_t)_mm256_extract_epi64(_mm256_xor_si256(s0, s1), 0);
}
#else
/* the same loop in plain C: eight 64-bit lanes a step, which the compiler vectorizes */
static void rd_body(void *arg, int64_t b, int64_t e, int th)
{
    rd_ctx *c = arg;
    uint64_t s[8] = {0};
    for (int64_t k = b; k < e; k++) {
        const uint64_t *p = (const uint64_t *)(c->buf + (size_t)k * 4096);
        for (int o = 0; o < 512; o += 8)
            for (int j = 0; j < 8; j++) s[j] ^= p[o + j];
    }
    c->sink[th] = s[0] ^ s[1] ^ s[2] ^ s[3] ^ s[4] ^ s[5] ^ s[6] ^ s[7];
}
#endif

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    static const struct {
        const char *name;
        reel_dtype from, to;
        int scale_at[2]; /* f16 scales in a block (-1: none) */
    } kinds[] = {
        {"q4_0", REEL_DTYPE_Q4_0, REEL_DTYPE_Q4_0_R8, {0, -1}},
        {"q8_0", REEL_DTYPE_Q8_0, REEL_DTYPE_Q8_0_R8, {0, -1}},
        {"q5_0", REEL_DTYPE_Q5_0, REEL_DTYPE_Q5_0_R8, {0, -1}},
        {"q4_k", REEL_DTYPE_Q4_K, REEL_DTYPE_Q4_K_R8, {0, 2}},
        {"q6_k", REEL_DTYPE_Q6_K, REEL_DTYPE_Q6_K_R8, {208, -1}},
        {"f16", REEL_DTYPE_F16, REEL_DTYPE_F16, {-1, -1}},
        {"bf16", REEL_DTYPE_BF16, REEL_DTYPE_BF16, {-1, -1}},
    };
    int kind = 0;
    for (int i = 0; i < (int)(sizeof kinds / sizeof kinds[0]); i++)
        if (argc > 2 && !strcmp(argv[2], kinds[i].name)) kind = i;
    const int reps = argc > 3 ? atoi(argv[3]) : 10;
    const int64_t T = argc > 4 ? atoll(argv[4]) : 1; /* tokens per call (a prompt's batch) */
#if defined(__x86_64__)
    const reel_dtype from = kinds[kind].from, to = kinds[kind].to;
#else
    const reel_dtype from = kinds[kind].from, to = from;
#endif
    const int H = 3136;
    mat m[512];
    int nm = 0;
    /* layer order of the pattern does not matter for the stream; counts do */
    for (int l = 0; l < 21; l++) {
        m[nm++] = (mat){H, 17504, NULL};
        m[nm++] = (mat){7680, H, NULL};
    }
    for (int l = 0; l < 17; l++) {
        m[nm++] = (mat){H, 12544, NULL};
        m[nm++] = (mat){12544, H, NULL};
    }
    for (int l = 0; l < 4; l++) {
        m[nm++] = (mat){H, 5120, NULL};
        m[nm++] = (mat){H, 1024, NULL};
        m[nm++] = (mat){H, 1024, NULL};
        m[nm++] = (mat){5120, H, NULL};
    }
    m[nm++] = (mat){H, 131072, NULL};
    /* REEL_BENCH_HOT=1: one matrix of 3.6 MB (in cache) many times: the kernels' compute rate */
    if (getenv("REEL_BENCH_HOT")) {
        nm = 0;
        const int64_t k = getenv("REEL_BENCH_K") ? atoll(getenv("REEL_BENCH_K")) : H;
        const int64_t no = getenv("REEL_BENCH_N") ? atoll(getenv("REEL_BENCH_N")) : 2048 * H / k;
        for (int i = 0; i < 100; i++) m[nm++] = (mat){k, no, NULL};
    }
    size_t total = 0, maxrow = 0;
    for (int i = 0; i < nm; i++) {
        if (i && getenv("REEL_BENCH_HOT")) {
            m[i].w = m[0].w;
            total += reel_dtype_row_bytes(from, m[i].n_in) * (size_t)m[i].n_out;
            continue;
        }
        const size_t bytes = reel_dtype_row_bytes(from, m[i].n_in) * (size_t)m[i].n_out;
        uint8_t *plain = malloc(bytes);
        const size_t bb = (size_t)reel_dtype_block_bytes(from);
        for (size_t o = 0; o < bytes; o += 8) {
            const uint64_t r = rnd();
            memcpy(plain + o, &r, bytes - o < 8 ? bytes - o : 8);
        }
        for (size_t o = 0; o < bytes; o += bb) /* f16 scales ~2^-8 */
            for (int k = 0; k < 2; k++)
                if (kinds[kind].scale_at[k] >= 0) plain[o + kinds[kind].scale_at[k] + 1] = 0x1c;
        m[i].w = reel_huge_alloc(
            bytes, "weights"); /* huge pages, like a loaded model's repacked weights */
        if (from == to) {      /* f16 / bf16 (and row-major quants): read as they are */
            if (kinds[kind].scale_at[0] < 0) /* f16 / bf16: random halves of small magnitude */
                for (size_t o = 0; o + 1 < bytes; o += 2)
                    plain[o + 1] = (uint8_t)(0x1c + (plain[o + 1] & 0x83));
            memcpy(m[i].w, plain, bytes);
        } else if (reel_kernels_repack(to, m[i].w, from, plain, m[i].n_in, m[i].n_out)) {
            fprintf(stderr, "repack failed\n");
            return 1;
        }
        free(plain);
        total += bytes;
        if ((size_t)m[i].n_out > maxrow) maxrow = (size_t)m[i].n_out;
        if ((size_t)m[i].n_in > maxrow) maxrow = (size_t)m[i].n_in;
    }
    /* activations on huge pages, like a session's batch buffers */
    float *x = reel_huge_alloc(maxrow * T * sizeof(float), "activations"),
          *y = reel_huge_alloc(maxrow * T * sizeof(float), "activations");
    for (size_t i = 0; i < maxrow * T; i++) x[i] = (float)(rnd() >> 40) / (1 << 23) - 1.0f;
    reel_pool *pool = threads > 1 ? reel_pool_init(threads) : NULL;
    const reel_kernel_ops *ops = reel_kernels_ops_cpu();
    /* the read loop over a buffer of the same size, on huge pages like the weights */
    const size_t n = total / 4096 * 4096;
    uint8_t *buf = reel_huge_alloc(n, "read loop");
    memset(buf, 1, n);
    rd_ctx c = {.buf = buf, .n = n};
    /* alternate one pass of the matmuls and one of the read loop, so that both see the same
     * phase of a shared machine's bandwidth; the ratio is taken per pair */
    double best = 1e30, rbest = 1e30, ratio[256];
    const int pairs = reps < 256 ? reps : 256;
    for (int r = 0; r < pairs; r++) {
        double t0 = now_s();
        for (int i = 0; i < nm; i++)
            if (ops->matmul(pool, y, m[i].w, to, x, m[i].n_in, m[i].n_out, T)) {
                fprintf(stderr, "matmul: %s\n", reel_last_error());
                return 1;
            }
        const double dt = now_s() - t0;
        t0 = now_s();
        reel_pool_parallel_for(pool, (int64_t)(n / 4096), rd_body, &c);
        const double rt = now_s() - t0;
        if (dt < best) best = dt;
        if (rt < rbest) rbest = rt;
        ratio[r] = (total / dt) / (n / rt);
        if (getenv("REEL_BENCH_PAIRS")) /* each pair: matmuls, read loop (GB/s) */
            fprintf(stderr, "pair %d: matmuls %.1f, read loop %.1f GB/s\n", r, total / dt * 1e-9,
                    n / rt * 1e-9);
    }
    qsort(ratio, (size_t)pairs, sizeof *ratio, cmp_double);
    if (getenv("REEL_BENCH_SHAPES")) /* each matrix's own rate, the first of each shape */
        for (int i = 0; i < nm; i++) {
            int seen = 0;
            for (int j = 0; j < i; j++) seen |= m[j].n_in == m[i].n_in && m[j].n_out == m[i].n_out;
            if (seen) continue;
            double bt = 1e30;
            for (int r = 0; r < 3; r++) {
                const double t0 = now_s();
                ops->matmul(pool, y, m[i].w, to, x, m[i].n_in, m[i].n_out, T);
                const double dt = now_s() - t0;
                if (dt < bt) bt = dt;
            }
            printf("  %6lld x %6lld: %.1f GMAC/s\n", (long long)m[i].n_in, (long long)m[i].n_out,
                   (double)m[i].n_in * (double)m[i].n_out * (double)T / bt * 1e-9);
        }
    if (T > 1) {
        double macs = 0;
        for (int i = 0; i < nm; i++) macs += (double)m[i].n_in * (double)m[i].n_out * (double)T;
        printf("T = %lld: %.1f GMAC/s best, %.1f tok/s\n", (long long)T, macs / best * 1e-9,
               T / best);
    }
    printf(
        "%s, %d threads, %.2f GB of weights in %d matrices: matmuls %.1f GB/s best (%.2f tok/s), "
        "read loop %.1f GB/s best; matmuls / read loop per pair: median %.0f%% (%.0f-%.0f%%)\n",
        kinds[kind].name, threads, total * 1e-9, nm, total / best * 1e-9, 1 / best,
        n / rbest * 1e-9, 100 * ratio[pairs / 2], 100 * ratio[0], 100 * ratio[pairs - 1]);
    reel_pool_free(pool);
    return 0;
}
