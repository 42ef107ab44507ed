/* Benchmark (not a test): the CPU table's matmul (for these types the integer-dot kernels of
 * kernels/cpu/x86/dot-rowmajor.c, Q4_0 / Q8_0 listed for comparison) against
 * the dequantize-then-float path of the scalar reference table, on random weights of Nemotron-H 4B
 * shapes (17504 rows of 3136 for the 32-block types, the ssm_in projection; 3072 for the K
 * types, which need whole 256-blocks).
 *   build/bin/bench_kquant_matmul [threads] [type...]     (types by name: Q4_K Q6_K Q5_0 ...)
 * (REEL_BENCH_NEW_ONLY=1 times the new kernels alone; REEL_BENCH_AVX2=1 the AVX2 variant.)
 * Prints milliseconds per call at T = 1 and T = 64 for both paths, the speedups, and the weight
 * bytes streamed per second at T = 1. */
#include "core/core.h"
#include "kernels/kernels-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* wall time, or with REEL_BENCH_CPU_TIME=1 the process's CPU time (steadier on a shared
 * machine; meaningful with one thread) */
static double now_s(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("REEL_BENCH_CPU_TIME") != NULL;
    struct timespec ts;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef int (*mm_fn)(reel_pool *, float *, const void *, reel_dtype, const float *, int64_t,
                     int64_t, int64_t);

#if defined(__x86_64__)
/* reeli_x86_kqmatmul (dot-rowmajor.c) without VNNI (REEL_BENCH_AVX2=1; other types: the CPU
 * table) */
static int kq_avx2(reel_pool *pool, float *y, const void *w, reel_dtype t, const float *x,
                   int64_t n_in, int64_t n_out, int64_t T)
{
    if (!reeli_x86_kq_handles(t))
        return reel_kernels_ops_cpu()->matmul(pool, y, w, t, x, n_in, n_out, T);
    return reeli_x86_kqmatmul(pool, y, w, t, x, n_in, n_out, T, REELI_X86_AVX2);
}
#endif

/* best of reps calls, in seconds */
static double best(mm_fn f, reel_pool *pool, float *y, const void *w, reel_dtype t, const float *x,
                   int64_t n_in, int64_t n_out, int64_t T, int reps)
{
    double b = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (f(pool, y, w, t, x, n_in, n_out, T) < 0) {
            fprintf(stderr, "bench: %s\n", reel_last_error());
            exit(1);
        }
        double dt = now_s() - t0;
        if (dt < b) b = dt;
    }
    return b;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    static const reel_dtype all[] = {REEL_DTYPE_Q4_0, REEL_DTYPE_Q8_0,   REEL_DTYPE_Q4_K,
                                     REEL_DTYPE_Q6_K, REEL_DTYPE_Q5_0,   REEL_DTYPE_Q5_K,
                                     REEL_DTYPE_Q5_1, REEL_DTYPE_IQ4_NL, REEL_DTYPE_Q4_1,
                                     REEL_DTYPE_Q3_K, REEL_DTYPE_Q2_K};
    reel_pool *pool = threads > 1 ? reel_pool_init(threads) : NULL;
    const mm_fn old = reel_kernels_ops_cpu_scalar()->matmul;
#if defined(__x86_64__)
    const mm_fn cur = getenv("REEL_BENCH_AVX2") ? kq_avx2 : reel_kernels_ops_cpu()->matmul;
#else
    const mm_fn cur = reel_kernels_ops_cpu()->matmul; /* (REEL_BENCH_AVX2: x86 only) */
#endif
    printf("| type | shape | T=1 old ms | T=1 new ms | speedup | T=1 GB/s | T=64 old ms | "
           "T=64 new ms | speedup |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "|\n");
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
        const reel_dtype t = all[k];
        if (argc > 2) {
            int want = 0;
            for (int a = 2; a < argc; a++) want |= !strcmp(argv[a], reel_dtype_name(t));
            if (!want) continue;
        }
        const int64_t n_in = reel_dtype_block(t) == 256 ? 3072 : 3136, n_out = 17504, T = 64;
        const size_t rb = reel_dtype_row_bytes(t, n_in), bb = (size_t)reel_dtype_block_bytes(t);
        uint8_t *w = malloc(rb * (size_t)n_out);
        for (size_t i = 0; i < rb * (size_t)n_out; i++) w[i] = (uint8_t)rnd();
        /* f16 scales of 2^-8 .. 2^-7 wherever a type keeps one (harmless elsewhere: timing) */
        for (size_t o = 0; o < rb * (size_t)n_out; o += bb) {
            const size_t at = t == REEL_DTYPE_Q6_K   ? 208
                              : t == REEL_DTYPE_Q3_K ? 108
                              : t == REEL_DTYPE_Q2_K ? 80
                                                     : 0;
            w[o + at] = (uint8_t)rnd(), w[o + at + 1] = 0x1c;
            if (t == REEL_DTYPE_Q5_1 || t == REEL_DTYPE_Q4_1 || t == REEL_DTYPE_Q4_K ||
                t == REEL_DTYPE_Q5_K || t == REEL_DTYPE_Q2_K)
                w[o + at + 2] = (uint8_t)rnd(), w[o + at + 3] = 0x1c;
        }
        float *x = malloc((size_t)(n_in * T) * sizeof(float));
        float *y = malloc((size_t)(n_out * T) * sizeof(float));
        for (int64_t i = 0; i < n_in * T; i++) x[i] = (float)rnd() / (1 << 21) - 1.0f;
        /* REEL_BENCH_NEW_ONLY=1 skips the (slow) old path */
        const int skip_old = getenv("REEL_BENCH_NEW_ONLY") != NULL;
        const double o1 = skip_old ? 0 : best(old, pool, y, w, t, x, n_in, n_out, 1, 3);
        const double n1 = best(cur, pool, y, w, t, x, n_in, n_out, 1, 5);
        const double o64 = skip_old ? 0 : best(old, pool, y, w, t, x, n_in, n_out, T, 1);
        const double n64 = best(cur, pool, y, w, t, x, n_in, n_out, T, 2);
        printf("| %s | %lldx%lld | %.1f | %.2f | %.1fx | %.1f | %.0f | %.1f | %.1fx |\n",
               reel_dtype_name(t), (long long)n_out, (long long)n_in, o1 * 1e3, n1 * 1e3, o1 / n1,
               (double)(rb * (size_t)n_out) / n1 * 1e-9, o64 * 1e3, n64 * 1e3, o64 / n64);
        fflush(stdout);
        free(w), free(x), free(y);
    }
    reel_pool_free(pool);
    return 0;
}
