/* Backend glue: what the public header promises about devices, whether CUDA is built or not. */
#include "kernels/kernels-impl.h"
#include "core/error.h"
#include "reel_config.h"

int reel_kernels_cuda_built(void)
{
    return REEL_HAVE_CUDA;
}

int reel_kernels_gpu_count(const char **why)
{
#if REEL_HAVE_CUDA
    return reeli_cuda_device_count(why);
#else
    if (why) *why = "this build has no CUDA backend (nvcc was not found when it was configured)";
    return 0;
#endif
}

int reel_kernels_gpu_info(int i, reel_gpu_info *info)
{
#if REEL_HAVE_CUDA
    return reeli_cuda_device_info(i, info);
#else
    (void)info;
    return reel_set_error(REEL_ENOTFOUND, "GPU %d: this build has no CUDA backend", i);
#endif
}
