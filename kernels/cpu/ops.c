/* The CPU backend's operation table: filled with the scalar reference functions, then entries
 * are replaced by SIMD versions (cpu/x86/, cpu/arm/) that the running CPU supports (REEL_CPU=scalar
 * keeps the reference; REEL_CPU=scalar-q8 also quantizes the activations of quantized matmuls as
 * the SIMD kernels do, kernels/cpu/matmul-q8act.c). The scalar table is what every variant is
 * tested against. */
#include "kernels/kernels-impl.h"

#include "core/error.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const reel_kernel_ops scalar_ops = {
    .name = "cpu-scalar",
    .matmul = reeli_cpu_matmul,
    .rmsnorm = reeli_cpu_rmsnorm,
    .gated_rmsnorm = reeli_cpu_gated_rmsnorm,
    .conv1d = reeli_cpu_conv1d,
    .ssm_scan = reeli_cpu_ssm_scan,
    .ssm_chunked = reeli_cpu_ssm_chunked,
    .attention = reeli_cpu_attention,
    .unary = reeli_cpu_unary,
};

static reel_kernel_ops cpu_ops;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void fill(void)
{
    cpu_ops = scalar_ops;
    cpu_ops.name = "cpu";
    const char *force = getenv("REEL_CPU");
    if (force && strcmp(force, "scalar-q8") == 0) {
        /* the reference forward pass of the SIMD quantized path: scalar ops, activations of
         * quantized matmuls rounded to int8 the way the SIMD kernels round them (tests compare
         * the two; chosen once here, so nothing else pays for it) */
        cpu_ops.matmul = reeli_cpu_matmul_q8act;
        cpu_ops.name = "cpu-scalar-q8";
        return;
    }
#if defined(__x86_64__)
    const reel_cpu_features *f = reel_kernels_cpu();
    if (f->avx2 && f->fma && f->f16c) {
        cpu_ops.matmul = reeli_avx2_matmul;
        cpu_ops.attention = reeli_avx2_attention;
        cpu_ops.ssm_scan = reeli_avx2_ssm_scan;
        cpu_ops.unary = reeli_avx2_unary;
        cpu_ops.conv1d = reeli_avx2_conv1d;
        cpu_ops.gated_rmsnorm = reeli_avx2_gated_rmsnorm;
        const int isa = reeli_x86_isa(f);
        cpu_ops.name = isa == REELI_X86_AVX512VNNI ? "cpu-avx512vnni"
                       : isa == REELI_X86_AVXVNNI  ? "cpu-avxvnni"
                                                   : "cpu-avx2";
    }
#elif defined(__aarch64__)
    const reel_cpu_features *f = reel_kernels_cpu();
    if (f->neon) {
        cpu_ops.matmul = reeli_neon_matmul;
        cpu_ops.attention = reeli_neon_attention;
        cpu_ops.ssm_scan = reeli_neon_ssm_scan;
        cpu_ops.unary = reeli_neon_unary;
        cpu_ops.conv1d = reeli_neon_conv1d;
        cpu_ops.gated_rmsnorm = reeli_neon_gated_rmsnorm;
        cpu_ops.rmsnorm = reeli_neon_rmsnorm;
        cpu_ops.name = f->i8mm ? "cpu-neon-i8mm" : f->dotprod ? "cpu-neon-dotprod" : "cpu-neon";
    }
#endif
}

const reel_kernel_ops *reel_kernels_ops_cpu_scalar(void)
{
    return &scalar_ops;
}

const reel_kernel_ops *reel_kernels_ops_cpu(void)
{
    pthread_once(&once, fill);
    return &cpu_ops;
}

const reel_kernel_ops *reel_kernels_ops(void)
{
    return reel_kernels_ops_cpu();
}

reel_dtype reel_kernels_preferred_layout(const reel_kernel_ops *ops, reel_dtype wtype, int64_t n_in,
                                         int64_t n_out)
{
    if (ops != reel_kernels_ops_cpu() || n_in % 32 != 0 || n_out % 8 != 0 || n_out <= 0)
        return wtype;
        /* the tables whose matmul reads the interleaved layouts: x86's AVX2 and AVX-512 VNNI tiles
         * (x86/gemm-interleaved-*.c), ARM64's SDOT-by-lane kernels (arm/gemm-interleaved*.c) */
#if defined(__x86_64__)
    const int interleaved = ops->matmul == reeli_avx2_matmul;
#elif defined(__aarch64__)
    const int interleaved = ops->matmul == reeli_neon_matmul && reel_kernels_cpu()->dotprod;
#else
    const int interleaved = 0;
#endif
    if (!interleaved) return wtype;
    if (wtype == REEL_DTYPE_Q4_0) return REEL_DTYPE_Q4_0_R8;
    if (wtype == REEL_DTYPE_Q8_0) return REEL_DTYPE_Q8_0_R8;
    if (wtype == REEL_DTYPE_Q5_0) return REEL_DTYPE_Q5_0_R8;
    if (wtype == REEL_DTYPE_Q4_K && n_in % 256 == 0) return REEL_DTYPE_Q4_K_R8;
    if (wtype == REEL_DTYPE_Q6_K && n_in % 256 == 0) return REEL_DTYPE_Q6_K_R8;
    return wtype;
}

int reel_kernels_repack(reel_dtype to, void *dst, reel_dtype from, const void *src, int64_t n_in,
                        int64_t n_out)
{
    return reeli_cpu_repack(to, dst, from, src, n_in, n_out);
}
