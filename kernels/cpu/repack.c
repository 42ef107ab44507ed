/* Repacking of row-major quantized weights into the interleaved layouts that the tiles of
 * x86/gemm-interleaved.c and arm/gemm-interleaved.c read (done once, at load): Q8_0 -> Q8_0_R8,
 * Q4_0 -> Q4_0_R8, Q5_0 -> Q5_0_R8, Q4_K -> Q4_K_R8, Q6_K -> Q6_K_R8. Each layout takes the rows 8
 * at a time (a group) and stores, per block, the 8 rows' scales together and then their weight
 * bytes as dwords side by side (dword k of rows 0..7), so that a vector load gives row i in lane i:
 * one 4-product step (dpbusd, or maddubs + madd with AVX2) then advances 8 row dots at once, with
 * no transpose at run time (on ARM64, a 16-byte load holds 4 rows' dwords, and SDOT by lane
 * advances those 4 row dots). Plain C: both CPU families use it. The layouts are the same size as
 * the plain ones.
 *
 * Q8_0_R8 / Q4_0_R8: per block the 8 f16 scales, then dword k of the quants of the 8 rows
 * (k = 0..7 for Q8_0's 32 bytes, 0..3 for Q4_0's 16 packed bytes). Q5_0_R8 puts the 8 rows'
 * high bits between the two, one 32-bit word per row, rearranged so that byte i holds the fifth
 * bits of the elements in byte i of every dword: bit k = element 4k + i (low nibble of dword
 * k), bit 4 + k = element 16 + 4k + i (its high nibble). These three pair their groups (0 and
 * 1, 2 and 3, ...; an odd last group stays alone): the pair's blocks b side by side, so one
 * token streams 16 rows from one place (gemv_*_q8_r16). Q4_K_R8 and Q6_K_R8 (super-blocks of
 * 256) are described at put_q4_k and put_q6_k. */
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <string.h>

/* Row i's block blk (one of the 8 rows of a group) into the group's interleaved block d. */
typedef void (*put_fn)(uint8_t *d, const uint8_t *blk, int i);

/* Q4_0 / Q8_0: the f16 scale at 2i, dword k of the quants at 16 + 32k + 4i. */
static void put_q4_0(uint8_t *d, const uint8_t *blk, int i)
{
    memcpy(d + 2 * i, blk, 2);
    for (int k = 0; k < 4; k++) memcpy(d + 16 + 32 * k + 4 * i, blk + 2 + 4 * k, 4);
}

static void put_q8_0(uint8_t *d, const uint8_t *blk, int i)
{
    memcpy(d + 2 * i, blk, 2);
    for (int k = 0; k < 8; k++) memcpy(d + 16 + 32 * k + 4 * i, blk + 2 + 4 * k, 4);
}

/* Q5_0: the scale, the rearranged high bits at 16 + 4i (see above), the quants at 48 + ... */
static void put_q5_0(uint8_t *d, const uint8_t *blk, int i)
{
    memcpy(d + 2 * i, blk, 2);
    for (int k = 0; k < 4; k++) memcpy(d + 48 + 32 * k + 4 * i, blk + 6 + 4 * k, 4);
    const uint32_t qh =
        (uint32_t)blk[2] | (uint32_t)blk[3] << 8 | (uint32_t)blk[4] << 16 | (uint32_t)blk[5] << 24;
    uint8_t hb[4] = {0};
    for (int e = 0; e < 4; e++)
        for (int k = 0; k < 4; k++)
            hb[e] |= (uint8_t)(((qh >> (4 * k + e)) & 1) << k | ((qh >> (16 + 4 * k + e)) & 1)
                                                                    << (4 + k));
    memcpy(d + 16 + 4 * i, hb, 4);
}

/* Q4_K (super-blocks of 8 x 144 bytes): the 8 d and the 8 dmin (f16), per block j 12 bytes:
 * the rows' scale | (min & 3) << 6, then (min >> 2) as 8 nibbles (row i at nibble i), then
 * the 128 quant bytes of every row as 4 chunks of dwords side by side (chunk c holds blocks 2c
 * and 2c + 1 in its low and high nibbles). */
static void put_q4_k(uint8_t *d, const uint8_t *blk, int i)
{
    const uint8_t *q = blk + 4; /* the 12 packed scale bytes */
    memcpy(d + 2 * i, blk, 2);
    memcpy(d + 16 + 2 * i, blk + 2, 2);
    for (int j = 0; j < 8; j++) {
        const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
        const int m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | (q[j] >> 6) << 4;
        d[32 + 12 * j + i] = (uint8_t)(sc | (m & 3) << 6);
        d[32 + 12 * j + 8 + i / 2] |= (uint8_t)((m >> 2) << (4 * (i & 1)));
    }
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++)
            memcpy(d + 128 + 256 * c + 32 * k + 4 * i, blk + 16 + 32 * c + 4 * k, 4);
}

/* Q6_K (super-blocks of 8 x 210 bytes): the 8 d (f16), the int8 scales as [group of 16][row],
 * then ql (4 chunks of 32 bytes a row) and qh (2 halves of 32 bytes a row) as dwords of the 8
 * rows side by side. */
static void put_q6_k(uint8_t *d, const uint8_t *blk, int i)
{
    memcpy(d + 2 * i, blk + 208, 2);
    /* group 2j + h of the super-block (16 elements): scale 8n + 2jj + h (j = 4n + jj) */
    for (int j = 0; j < 8; j++)
        for (int h = 0; h < 2; h++)
            d[16 + 16 * j + 8 * h + i] = blk[192 + 8 * (j / 4) + 2 * (j % 4) + h];
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++)
            memcpy(d + 144 + 256 * c + 32 * k + 4 * i, blk + 32 * c + 4 * k, 4);
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 8; k++)
            memcpy(d + 1168 + 256 * n + 32 * k + 4 * i, blk + 128 + 32 * n + 4 * k, 4);
}

int reeli_cpu_repack(reel_dtype to, void *dst, reel_dtype from, const void *src, int64_t n_in,
                     int64_t n_out)
{
    static const struct {
        reel_dtype from, to;
        put_fn put;
    } kinds[] = {
        {REEL_DTYPE_Q4_0, REEL_DTYPE_Q4_0_R8, put_q4_0},
        {REEL_DTYPE_Q8_0, REEL_DTYPE_Q8_0_R8, put_q8_0},
        {REEL_DTYPE_Q5_0, REEL_DTYPE_Q5_0_R8, put_q5_0},
        {REEL_DTYPE_Q4_K, REEL_DTYPE_Q4_K_R8, put_q4_k},
        {REEL_DTYPE_Q6_K, REEL_DTYPE_Q6_K_R8, put_q6_k},
    };
    put_fn put = NULL;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (kinds[k].from == from && kinds[k].to == to) put = kinds[k].put;
    const int block = reel_dtype_block(from);
    if (!put || n_in % block || n_out % 8) return REEL_EINVAL;
    const int64_t nb = n_in / block, groups = n_out / 8;
    const size_t bb = (size_t)reel_dtype_block_bytes(from), rb = (size_t)nb * bb, sb = 8 * bb;
    const int pairs =
        to == REEL_DTYPE_Q4_0_R8 || to == REEL_DTYPE_Q8_0_R8 || to == REEL_DTYPE_Q5_0_R8;
    const uint8_t *s = src;
    for (int64_t g = 0; g < groups; g++) {
        const int paired = pairs && (g ^ 1) < groups;
        uint8_t *base = (uint8_t *)dst + (size_t)(paired ? g & ~(int64_t)1 : g) * nb * sb;
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *d =
                base + (size_t)b * (paired ? 2 * sb : sb) + (paired ? (size_t)(g & 1) * sb : 0);
            memset(d, 0, sb);
            for (int i = 0; i < 8; i++) put(d, s + (size_t)(g * 8 + i) * rb + (size_t)b * bb, i);
        }
    }
    return 0;
}
