/* The CPU backend's operation table. SIMD variants (cpu/x86/) would override entries here after
 * checking reel_kernels_cpu(); the scalar functions are the reference they are tested against. */
#include "kernels/kernels-impl.h"

static const reel_kernel_ops cpu_ops = {
    .name = "cpu",
    .matmul = reeli_cpu_matmul,
    .rmsnorm = reeli_cpu_rmsnorm,
    .gated_rmsnorm = reeli_cpu_gated_rmsnorm,
    .conv1d = reeli_cpu_conv1d,
    .ssm_scan = reeli_cpu_ssm_scan,
    .ssm_chunked = reeli_cpu_ssm_chunked,
    .attention = reeli_cpu_attention,
    .unary = reeli_cpu_unary,
};

const reel_kernel_ops *reel_kernels_ops_cpu(void)
{
    return &cpu_ops;
}

const reel_kernel_ops *reel_kernels_ops(void)
{
    return &cpu_ops;
}
