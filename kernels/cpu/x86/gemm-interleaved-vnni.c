/* The interleaved layouts' tiles with AVX-512 VNNI (gemm-interleaved-tiles.h). */
#if defined(__x86_64__)
#define GI_VNNI   1
#define GI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define GI_TABLE  reeli_gi_tiles_vnni
#include "gemm-interleaved-tiles.h"
#endif
