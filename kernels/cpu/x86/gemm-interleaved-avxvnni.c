/* The interleaved layouts' tiles with AVX-VNNI (gemm-interleaved-tiles.h): the AVX-512 VNNI tiles'
 * source with dpbusd VEX-encoded, for the AVX2 chips that have it without AVX-512 (Intel from
 * Alder Lake on, AMD from Zen 5 on). */
#if defined(__x86_64__)
#define GI_VNNI    1
#define GI_AVXVNNI 1
#define GI_TARGET  __attribute__((target("avx2,fma,f16c,avxvnni")))
#define GI_TABLE   reeli_gi_tiles_avxvnni
#include "gemm-interleaved-tiles.h"
#endif
