/* Private declarations shared inside kernels/ (not part of the public contract). */
#ifndef REEL_KERNELS_IMPL_H
#define REEL_KERNELS_IMPL_H

#include "kernels/kernels.h"

/* CUDA glue, implemented in kernels/cuda/ (plain C linkage; no CUDA types cross this line). */
int reeli_cuda_device_count(const char **why);
int reeli_cuda_device_info(int i, reel_gpu_info *info);

#endif
