/* The interleaved layouts' tiles with AVX2 alone (gemm-interleaved-tiles.h). */
#if defined(__x86_64__)
#define GI_VNNI   0
#define GI_TARGET __attribute__((target("avx2,fma,f16c")))
#define GI_TABLE  reeli_gi_tiles_avx2
#include "gemm-interleaved-tiles.h"
#endif
