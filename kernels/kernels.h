/* reel kernels: the compute backends (CPU always; CUDA when built with nvcc and a GPU exists).
 *
 * This header is the module's contract. Today it describes the hardware: which SIMD extensions
 * the CPU has (the CPU backend picks its kernels from these at run time, so one binary runs on
 * any x86-64) and which CUDA devices are present. The operation table (matmul per weight type,
 * rmsnorm, conv1d, SSM scan, attention) is added here by the forward-pass work.
 */
#ifndef REEL_KERNELS_H
#define REEL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* SIMD extensions the CPU and OS support (1 = usable). */
typedef struct reel_cpu_features {
    int sse42, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
} reel_cpu_features;

/* Features of the running CPU, detected once; the pointer is static. Setting the environment
 * variable REEL_CPU=scalar hides every extension (to run the reference kernels). */
const reel_cpu_features *reel_kernels_cpu(void);

/* Writes a space-separated list of the usable extensions ("avx2 fma f16c ...") into buf. */
void reel_kernels_cpu_describe(char *buf, size_t size);

/* A CUDA device. */
typedef struct reel_gpu_info {
    char name[256];
    uint64_t total_mem; /* bytes */
    int cc_major, cc_minor;
    int multiprocessors;
} reel_gpu_info;

/* 1 if this build contains the CUDA backend, 0 otherwise. */
int reel_kernels_cuda_built(void);

/* Number of usable CUDA devices: 0 when CUDA is not built, no driver or no GPU is present.
 * When it returns 0 and why is non-NULL, *why is a static sentence saying why. */
int reel_kernels_gpu_count(const char **why);

/* Properties of device i (0-based): 0, or REEL_ENOTFOUND / REEL_EGPU with a message. */
int reel_kernels_gpu_info(int i, reel_gpu_info *info);

#endif
