/* One single-threaded matmul of 16 rows x 4096 random weights by T tokens through one ARM64
 * integer-dot kernel, for scripts/bench/arm64_insns.sh, which counts the instructions QEMU
 * executes inside the kernel's row body (no timing: emulated time says nothing about a core).
 *   bench_arm64_insns TYPE LEVEL T
 * TYPE q8_0 | q4_0 | q5_0 | q4_k | q6_k; LEVEL neon | dotprod | i8mm (row-major) | r8 (the
 * interleaved layout, SDOT by lane). Prints the function whose instructions
 * to count. */
#include "core/core.h"
#include "kernels/kernels-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
#if !defined(__aarch64__)
    (void)argc, (void)argv;
    fprintf(stderr, "bench_arm64_insns: an ARM64 build only\n");
    return 2;
#else
    if (argc != 4) {
        fprintf(stderr, "usage: bench_arm64_insns q8_0|q4_0|q5_0|q4_k|q6_k "
                        "neon|dotprod|i8mm|r8 T\n");
        return 2;
    }
    static const struct {
        const char *name;
        reel_dtype t, r8;
    } types[] = {{"q8_0", REEL_DTYPE_Q8_0, REEL_DTYPE_Q8_0_R8},
                 {"q4_0", REEL_DTYPE_Q4_0, REEL_DTYPE_Q4_0_R8},
                 {"q5_0", REEL_DTYPE_Q5_0, REEL_DTYPE_Q5_0_R8},
                 {"q4_k", REEL_DTYPE_Q4_K, REEL_DTYPE_Q4_K_R8},
                 {"q6_k", REEL_DTYPE_Q6_K, REEL_DTYPE_Q6_K_R8}};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(argv[1], types[i].name) == 0) k = i;
    const char *lv = argv[2];
    const long T = strtol(argv[3], NULL, 10);
    const int r8 = strcmp(lv, "r8") == 0;
    if (k < 0 || T < 1 || T > 64) {
        fprintf(stderr, "bench_arm64_insns: bad arguments\n");
        return 2;
    }
    const int64_t n_in = 4096, n_out = 16;
    const reel_dtype t = types[k].t;
    const size_t bytes = reel_dtype_row_bytes(t, n_in) * n_out, bb = reel_dtype_block_bytes(t);
    uint8_t *w = malloc(bytes), *wr = malloc(bytes);
    uint32_t s = 12345;
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)((s = s * 1664525u + 1013904223u) >> 24);
    for (size_t b = 0; b < bytes; b += bb) { /* finite f16 scales: 0x1400 is about 0.001 */
        const size_t at = t == REEL_DTYPE_Q6_K ? 208 : 0;
        w[b + at] = 0, w[b + at + 1] = 0x14;
        if (t == REEL_DTYPE_Q4_K) w[b + 2] = 0, w[b + 3] = 0x14;
    }
    float *x = malloc((size_t)(n_in * T) * sizeof(float)), *y = malloc((size_t)(n_out * T) * 4);
    for (int64_t i = 0; i < n_in * T; i++) x[i] = (float)((i * 7919) % 200 - 100) / 100.0f;
    int rc;
    if (r8) {
        if (reeli_cpu_repack(types[k].r8, wr, t, w, n_in, n_out)) return 1;
        const int kq = t == REEL_DTYPE_Q4_K || t == REEL_DTYPE_Q6_K;
        rc = kq ? reeli_neon_gemm_r8_kquant(NULL, y, wr, types[k].r8, x, n_in, n_out, T)
                : reeli_neon_gemm_r8(NULL, y, wr, types[k].r8, x, n_in, n_out, T);
        puts(kq ? "rk_body" : "r8_body");
    } else {
        const reeli_arm_level level = strcmp(lv, "i8mm") == 0      ? REELI_ARM_I8MM
                                      : strcmp(lv, "dotprod") == 0 ? REELI_ARM_DOTPROD
                                                                   : REELI_ARM_NEON;
        rc = reeli_neon_qmatmul(NULL, y, w, t, x, n_in, n_out, T, level);
        const int kq = t == REEL_DTYPE_Q4_K || t == REEL_DTYPE_Q6_K;
        printf("reeli_neon_%s%s\n", kq ? "kqrows" : "qrows",
               level == REELI_ARM_I8MM      ? "_i8mm"
               : level == REELI_ARM_DOTPROD ? "_dotprod"
                                            : "");
    }
    if (rc) fprintf(stderr, "bench_arm64_insns: %s\n", reel_last_error());
    free(w), free(wr), free(x), free(y);
    return rc ? 1 : 0;
#endif
}
