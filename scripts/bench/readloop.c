/* The yardstick of scripts/bench/bench_4b.py: the machine's read rate, from a plain loop (two
 * 32-byte loads a 64-byte line, no arithmetic) over a buffer of transparent huge pages on T
 * threads, each thread streaming its own contiguous share. Prints one JSON object with every
 * pass's rate and their median, so the harness can run it right before and after each engine.
 *
 *     cc -O2 -mavx2 -pthread -o readloop scripts/bench/readloop.c && ./readloop 2 1024 5
 *     (threads, MiB, passes) */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static size_t n;
static char *buf;
static int nt;
static volatile long long sink; /* so the loads are kept */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *rd(void *a)
{
    const long i = (long)a;
    const size_t b = n / nt * i & ~(size_t)63, e = i == nt - 1 ? n : n / nt * (i + 1) & ~(size_t)63;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0;
    for (size_t k = b; k < e; k += 64) {
        s0 = _mm256_xor_si256(s0, _mm256_load_si256((const __m256i *)(buf + k)));
        s1 = _mm256_xor_si256(s1, _mm256_load_si256((const __m256i *)(buf + k + 32)));
    }
    sink = _mm256_extract_epi64(_mm256_xor_si256(s0, s1), 0);
    return 0;
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: readloop THREADS MIB PASSES\n");
        return 2;
    }
    nt = atoi(argv[1]);
    n = (size_t)atol(argv[2]) << 20;
    const int passes = atoi(argv[3]);
    if (nt < 1 || nt > 256 || n < ((size_t)1 << 20) || passes < 1 || passes > 1000) return 2;
    buf = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) return 1;
    madvise(buf, n, MADV_HUGEPAGE); /* as reel's weight arena: no page walks in the stream */
    memset(buf, 1, n);
    double *gbs = calloc((size_t)passes, sizeof *gbs);
    pthread_t th[256];
    const double start = now();
    for (int r = 0; r < passes; r++) {
        const double t0 = now();
        for (long i = 0; i < nt; i++) pthread_create(&th[i], 0, rd, (void *)i);
        for (int i = 0; i < nt; i++) pthread_join(th[i], 0);
        gbs[r] = (double)n / (now() - t0) / 1e9;
    }
    const double took = now() - start;
    printf("{\"threads\": %d, \"bytes\": %zu, \"passes\": [", nt, n);
    for (int r = 0; r < passes; r++) printf("%s%.4f", r ? ", " : "", gbs[r]);
    qsort(gbs, (size_t)passes, sizeof *gbs, cmp);
    const double med = passes % 2 ? gbs[passes / 2] : 0.5 * (gbs[passes / 2 - 1] + gbs[passes / 2]);
    printf("], \"median_gb_s\": %.4f, \"seconds\": %.3f}\n", med, took);
    return 0;
}
