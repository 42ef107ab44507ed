// CUDA device discovery: the first translation unit of the CUDA backend, compiled whenever nvcc
// is found so that CI builds the CUDA path on every run.
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
extern "C" {
#include "kernels/kernels-impl.h"
}

// Records a failed CUDA call with its statement and returns REEL_EGPU: a backend reports, never
// aborts.
#define REEL_CUDA_CHECK(stmt)                                                                      \
    do {                                                                                           \
        cudaError_t err_ = (stmt);                                                                 \
        if (err_ != cudaSuccess)                                                                   \
            return reel_set_error(REEL_EGPU, "%s:%d: %s: %s", __FILE__, __LINE__, #stmt,           \
                                  cudaGetErrorString(err_));                                       \
    } while (0)

extern "C" int reeli_cuda_device_count(const char **why)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver ||
        err == cudaErrorInitializationError || err != cudaSuccess) {
        if (why) {
            switch (err) {
            case cudaErrorNoDevice:
                *why = "no CUDA GPU is present";
                break;
            case cudaErrorInsufficientDriver:
                *why = "the NVIDIA driver is missing or older than this CUDA runtime";
                break;
            default:
                *why = "the CUDA runtime could not be initialised";
                break;
            }
        }
        cudaGetLastError();
        return 0;
    }
    if (n == 0 && why) *why = "no CUDA GPU is present";
    return n;
}

extern "C" int reeli_cuda_device_info(int i, reel_gpu_info *info)
{
    int n = reeli_cuda_device_count(NULL);
    if (i < 0 || i >= n)
        return reel_set_error(REEL_ENOTFOUND, "GPU %d: no such device (%d found)", i, n);
    cudaDeviceProp p;
    REEL_CUDA_CHECK(cudaGetDeviceProperties(&p, i));
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->total_mem = (uint64_t)p.totalGlobalMem;
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->multiprocessors = p.multiProcessorCount;
    return 0;
}
