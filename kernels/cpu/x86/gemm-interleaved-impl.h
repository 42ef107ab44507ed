/* The tiles of the interleaved layouts as tables, one per instruction set (AVX-512 VNNI in
 * gemm-interleaved-vnni.c, AVX-VNNI in gemm-interleaved-avxvnni.c, AVX2 in
 * gemm-interleaved-avx2.c, all compiled from gemm-interleaved-tiles.h), for the driver in
 * gemm-interleaved.c. */
#ifndef REEL_KERNELS_X86_GEMM_INTERLEAVED_IMPL_H
#define REEL_KERNELS_X86_GEMM_INTERLEAVED_IMPL_H

#include "kernels/kernels-impl.h"

#define GI_TN 16 /* tokens of a batch tile */

/* fn(w, bs, x, xs, nb, y, ys): a group of 8 rows against 1 or GI_TN tokens, bs the stride of
 * the group's blocks (a pair's blocks alternate; unused by the K types) */
typedef void (*gi_r8_fn)(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs, int64_t nb,
                         float *y, int64_t ys);
/* fn(w, x, nb, y): one token against a pair of groups (16 rows) */
typedef void (*gi_r16_fn)(const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y);

/* per kind (0 Q8_0_R8, 1 Q4_0_R8, 2 Q5_0_R8, 3 Q4_K_R8, 4 Q6_K_R8; gemv_r16 for 0..2 only) */
typedef struct gi_tiles {
    gi_r8_fn gemm_r8x16[5];
    gi_r8_fn gemm_r8x4[5]; /* the tail of a batch, and several sessions decoding together */
    gi_r8_fn gemv_r8[5];
    gi_r16_fn gemv_r16[3];
} gi_tiles;

extern const gi_tiles reeli_gi_tiles_vnni;    /* needs AVX-512 VNNI + VL */
extern const gi_tiles reeli_gi_tiles_avxvnni; /* needs AVX2 + FMA + F16C + AVX-VNNI */
extern const gi_tiles reeli_gi_tiles_avx2;    /* needs AVX2 + FMA + F16C */

#endif
