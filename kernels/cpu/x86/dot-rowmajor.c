/* Row-major quantized weights on x86-64: the integer-dot matmul for every GGUF block type that
 * the CPU runs as stored (AVX2 + FMA + F16C, or AVX-512 VNNI where the CPU has it; the tiles are
 * in dot-rowmajor-body.h, compiled once per ISA with per-function target attributes and chosen
 * at run time): Q8_0, Q4_0, Q5_0, Q5_1, Q4_1, IQ4_NL (blocks of 32) and Q2_K, Q3_K, Q4_K, Q5_K,
 * Q6_K (super-blocks of 256 = 8 blocks of 32). The interleaved layouts that some of them are
 * repacked into at load are in gemm-interleaved.c (reeli_x86_qmatmul hands them over).
 *
 * Activations. Each token's row of n floats is quantized per 32-block to int8 with GGML's Q8_0
 * rule by the one quantizer of quant-act.c, with the sums that the weights' offsets and
 * minimums need: as reeli_q8x blocks for Q8_0 / Q4_0 (whose tiles read a block's scale and
 * sums next to its values), as records of per-block vectors for the other types (whose tiles
 * load the factors of 8 blocks at once).
 *
 * Weights are unpacked per block of 32 into unsigned bytes u (0..63) and multiplied with the
 * signed activations by maddubs (u * q pairs summed to int16: at most 2 * 63 * 127 = 16002, so
 * it never saturates) and madd (pairs of int16 times a 16-bit factor, to 8 int32 lanes; VNNI's
 * dpbusd where that factor is 1, see dot-rowmajor-body.h):
 *   Q8_0   w = d q (signed):     dot = d dx sum(|w| sign(q, w))
 *   Q4_0   w = d (u - 8):        dot = d dx (sum(u q) - 8 sum(q))
 *   Q5_0   w = d (u - 16):       dot = d dx sum(u q) - 16 d dx x32
 *   Q5_1,  w = d u + m:          dot = d dx sum(u q) + m s
 *   Q4_1
 *   IQ4_NL w = d kv[u] (signed): dot = d dx sum(|w| sign(q, w))
 *   Q4_K,  w = d sc_j u - dmin m_j (j the 32-block of the super-block):
 *   Q5_K                         dot = d dx madd(maddubs(u, q), sc_j) - dmin m_j s_j
 *   Q6_K   w = d sc_g (u - 32) (g the 16-block): the madd factor is sc_g per half of a block,
 *          and the -32 term is one madd of the 16 scales with the 16 half sums hs per
 *          super-block: dot = d dx_j (madd(maddubs(u, q), sc) - 32 (sc . hs)_j)
 *   Q3_K   w = d sc_g (u - 4), the same with offset 4 (u: 2 bits and the hmask bit)
 *   Q2_K   w = d sc_g u - dmin m_g: dot = d dx_j madd(maddubs(u, q), sc) - dmin dx_j (m . hs)_j
 * Everything inside a 32-block is exact integer arithmetic. For the types other than Q8_0 /
 * Q4_0, blocks go in groups of 8 (a K super-block; 8 blocks of a 32-block type, the last group
 * of a row possibly partial): per group, row and token the factors d dx of the 8 blocks are one
 * vector product, and the offset / minimum terms one vector FMA (one lane per block) into the
 * output's accumulator of 8 fp32 lanes; per block, row and token the int32 lanes are converted
 * and added with one FMA by the broadcast factor. An output is the horizontal sum of its
 * accumulator at the end.
 *
 * Work split. Threads take groups of rows from their own share and then help with the others'
 * (reel_pool_parallel_for_dynamic); tokens go in chunks of DR_CHUNK whose activations stay in
 * cache while each weight tile is read once per chunk and applied to several tokens at a time
 * (dr_q_tiles, dr_k_tiles: the shapes per ISA); one token uses 4-row tiles that stream each
 * weight byte once. Every tile shape of an ISA performs the same operations in the same order
 * for a given (row, token), so results do not depend on the thread count or the tile (Q8_0 /
 * Q4_0 under VNNI: a batched call and T = 1 calls may differ in the last bits, since a batch
 * uses the 8-row tiles). */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <immintrin.h>
#include <string.h>

#include "block8-vnni.h"

#define AVX2_TARGET   __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE   AVX2_TARGET static inline __attribute__((always_inline))
#define DR_CAT_(a, b) a##b
#define DR_CAT(a, b)  DR_CAT_(a, b)

/* the types with records as activations (the dr_k_tiles index) */
enum {
    DOT_Q4_K,
    DOT_Q5_K,
    DOT_Q6_K,
    DOT_Q5_0,
    DOT_Q5_1,
    DOT_Q4_1,
    DOT_IQ4_NL,
    DOT_Q3_K,
    DOT_Q2_K,
    DOT_NTYPES
};
enum { DR_CHUNK = 64 };
/* lane j of a factor vector as a broadcast load (the vectors live on the stack: a load port
 * instead of a shuffle, a little faster than _mm256_permutevar8x32_ps here) */
#define DR_BCAST(v, j) _mm256_broadcast_ss((const float *)&(v) + (j))
#define DR_PREFETCH_Q  384
#define DR_PREFETCH_K  1024

static int dot_index(reel_dtype t)
{
    switch (t) {
    case REEL_DTYPE_Q4_K:
        return DOT_Q4_K;
    case REEL_DTYPE_Q5_K:
        return DOT_Q5_K;
    case REEL_DTYPE_Q6_K:
        return DOT_Q6_K;
    case REEL_DTYPE_Q5_0:
        return DOT_Q5_0;
    case REEL_DTYPE_Q5_1:
        return DOT_Q5_1;
    case REEL_DTYPE_Q4_1:
        return DOT_Q4_1;
    case REEL_DTYPE_IQ4_NL:
        return DOT_IQ4_NL;
    case REEL_DTYPE_Q3_K:
        return DOT_Q3_K;
    case REEL_DTYPE_Q2_K:
        return DOT_Q2_K;
    default:
        return -1;
    }
}

int reeli_x86_kq_handles(reel_dtype wtype)
{
    return dot_index(wtype) >= 0;
}

/* 6-bit scales and minimums of a Q4_K / Q5_K super-block (12 bytes at p) as bytes 0..7 of *sc
 * and *m: j < 4 keeps the low 6 bits of bytes j and j+4; j >= 4 takes 4 bits from byte j+4 and
 * the top 2 bits of bytes j-4 (scale) and j (min). Done on 32-bit words, 4 j at a time. */
static inline void k4_scales(const uint8_t *p, uint64_t *sc, uint64_t *m)
{
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t s03 = a & 0x3f3f3f3fu, m03 = b & 0x3f3f3f3fu;
    const uint32_t s47 = (c & 0x0f0f0f0fu) | (((a >> 6) & 0x03030303u) << 4);
    const uint32_t m47 = ((c >> 4) & 0x0f0f0f0fu) | (((b >> 6) & 0x03030303u) << 4);
    *sc = s03 | (uint64_t)s47 << 32;
    *m = m03 | (uint64_t)m47 << 32;
}

/* The 16 6-bit scales of a Q3_K super-block (12 bytes at p), minus 32, as int8: scale i has
 * its low 4 bits in byte i (i < 8, low nibble) or i - 8 (high nibble) and its top 2 bits at bit
 * 2 (i / 4) of byte 8 + i % 4. Done on 32-bit words, 4 scales at a time. */
AVX2_INLINE __m128i k3_scales(const uint8_t *p)
{
    uint32_t a, b, c;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    const uint32_t m4 = 0x0f0f0f0fu, m2 = 0x03030303u;
    const __m128i v =
        _mm_setr_epi32((int)((a & m4) | (c & m2) << 4), (int)((b & m4) | ((c >> 2) & m2) << 4),
                       (int)(((a >> 4) & m4) | ((c >> 4) & m2) << 4),
                       (int)(((b >> 4) & m4) | ((c >> 6) & m2) << 4));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}

/* mask of the lanes j < nj: masked loads and gathers of a row's partial last group of 8 blocks
 * read nothing past its last block */
AVX2_INLINE __m256i lanes_below(int nj)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nj), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Q8_0 / Q4_0 tiles: y[t*ys + r] = row r of w (rb bytes apart) . token t of x (xs blocks apart)
 * over nb blocks */
typedef void (*dr_q_fn)(const uint8_t *w, size_t rb, const reeli_q8x *x, int64_t xs, int64_t nb,
                        float *y, int64_t ys);
/* the other types: the same over rows of n elements, x the records (xs bytes apart) */
typedef void (*dr_k_fn)(const uint8_t *w, size_t rb, const uint8_t *x, size_t xs, int64_t n,
                        float *y, int64_t ys);
/* An ISA's tiles, named by shape (rows x tokens): r4x1 for T = 1 (rm1 = 4 rows), rmxtn and
 * rmx1 for batches (rm rows; tn tokens, then the tokens left over one at a time), r1xtn and
 * r1x1 for the rows left over when n_out is not a multiple of rm. Q8_0 / Q4_0 per [0] Q8_0,
 * [1] Q4_0; the others per DOT_* type. */
typedef struct {
    int rm1, rm, tn;
    dr_q_fn r4x1[2], rmxtn[2], rmx1[2], r1xtn[2], r1x1[2];
} dr_q_tiles;
typedef struct {
    int rm1, rm, tn;
    dr_k_fn r4x1[DOT_NTYPES], rmxtn[DOT_NTYPES], rmx1[DOT_NTYPES], r1xtn[DOT_NTYPES],
        r1x1[DOT_NTYPES];
} dr_k_tiles;

#define DR_NAME(x) DR_CAT(x, _avx2)
#define DR_TARGET  __attribute__((target("avx2,fma,f16c")))
#define DR_VNNI    0
#define DR_QRM     2
#define DR_QTN     4
#define DR_KRM     2
#define DR_KTN     4
#include "dot-rowmajor-body.h"
#undef DR_NAME
#undef DR_TARGET
#undef DR_VNNI
#undef DR_QRM
#undef DR_QTN
#undef DR_KRM
#undef DR_KTN

#define DR_NAME(x) DR_CAT(x, _vnni)
#define DR_TARGET  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define DR_VNNI    1
#define DR_QRM     8 /* the 8-row tiles with the rows in the lanes */
#define DR_QTN     16
/* 16 accumulators (AVX-512 has 32 vector registers); 2 x 8 rather than 4 x 4: fewer weight
 * unpacks per product */
#define DR_KRM 2
#define DR_KTN 8
#include "dot-rowmajor-body.h"

/* per DOT_* type: elements and bytes of a block */
static const struct {
    int bs, bb;
} dot_types[DOT_NTYPES] = {
    [DOT_Q4_K] = {256, 144}, [DOT_Q5_K] = {256, 176}, [DOT_Q6_K] = {256, 210},
    [DOT_Q5_0] = {32, 22},   [DOT_Q5_1] = {32, 24},   [DOT_Q4_1] = {32, 20},
    [DOT_IQ4_NL] = {32, 18}, [DOT_Q3_K] = {256, 110}, [DOT_Q2_K] = {256, 84},
};

/* ---- Q8_0 / Q4_0 ---- */

typedef struct {
    const dr_q_tiles *k;
    float *y;
    const uint8_t *w;
    int q; /* 0 Q8_0, 1 Q4_0 */
    size_t rb;
    const reeli_q8x *x; /* activations of token t0 */
    int64_t nb, n_out, t0, tn;
} q_ctx;

static void q_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const q_ctx *c = arg;
    const dr_q_tiles *k = c->k;
    const int q = c->q;
    const int rm = c->tn == 1 ? k->rm1 : k->rm;
    const int64_t r_end = end * rm < c->n_out ? end * rm : c->n_out;
    for (int64_t r = begin * rm; r < r_end;) {
        const uint8_t *w = c->w + (size_t)r * c->rb;
        float *y = c->y + c->t0 * c->n_out + r;
        const int full = r + rm <= r_end;
        int64_t t = 0;
        if (full && c->tn == 1) {
            k->r4x1[q](w, c->rb, c->x, c->nb, c->nb, y, c->n_out);
            t = 1;
        }
        for (; t + k->tn <= c->tn; t += k->tn)
            (full ? k->rmxtn : k->r1xtn)[q](w, c->rb, c->x + t * c->nb, c->nb, c->nb,
                                            y + t * c->n_out, c->n_out);
        for (; t < c->tn; t++)
            (full ? k->rmx1 : k->r1x1)[q](w, c->rb, c->x + t * c->nb, c->nb, c->nb,
                                          y + t * c->n_out, c->n_out);
        r += full ? rm : 1;
    }
}

int reeli_x86_qmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T, int isa)
{
    const int r8 = wtype == REEL_DTYPE_Q4_0_R8 || wtype == REEL_DTYPE_Q8_0_R8 ||
                   wtype == REEL_DTYPE_Q5_0_R8 || wtype == REEL_DTYPE_Q4_K_R8 ||
                   wtype == REEL_DTYPE_Q6_K_R8;
    if (r8 && n_out % 8)
        return reel_set_error(REEL_EINVAL, "qmatmul: interleaved weights need 8k rows");
    if (r8) return reeli_x86_gemm_interleaved(pool, y, w, wtype, x, n_in, n_out, T, isa);
    if (wtype != REEL_DTYPE_Q8_0 && wtype != REEL_DTYPE_Q4_0)
        return reel_set_error(REEL_EUNSUPPORTED, "qmatmul: weight type %s has no integer path",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_in <= 0 || n_in % 32)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    const int64_t nb = n_in / 32;
    const reeli_q8x *xq = reeli_x86_quantize_q8(pool, x, n_in, T, REELI_Q8X_BLOCKS);
    q_ctx c = {
        .k = isa == REELI_X86_AVX512VNNI ? &q_tiles_vnni : &q_tiles_avx2,
        .y = y,
        .w = w,
        .q = wtype == REEL_DTYPE_Q4_0,
        .rb = (size_t)nb * (wtype == REEL_DTYPE_Q4_0 ? 18 : 34),
        .nb = nb,
        .n_out = n_out,
    };
    for (int64_t t0 = 0; t0 < T; t0 += DR_CHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < DR_CHUNK ? T - t0 : DR_CHUNK;
        c.x = xq + t0 * nb;
        const int rm = c.tn == 1 ? c.k->rm1 : c.k->rm;
        reel_pool_parallel_for_dynamic(pool, (n_out + rm - 1) / rm, 0, q_body, &c);
    }
    return 0;
}

/* ---- the other types ---- */

typedef struct {
    const dr_k_tiles *k;
    int ty;
    float *y;
    const uint8_t *w;
    size_t rb, xs;
    const uint8_t *x; /* records of the chunk's first token */
    int64_t n_in, n_out, t0, tn;
} k_ctx;

static void k_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const k_ctx *c = arg;
    const dr_k_tiles *k = c->k;
    const int rm = c->tn == 1 ? k->rm1 : k->rm, ty = c->ty;
    const int64_t r_end = end * rm < c->n_out ? end * rm : c->n_out;
    for (int64_t r = begin * rm; r < r_end;) {
        const uint8_t *w = c->w + (size_t)r * c->rb;
        float *y = c->y + c->t0 * c->n_out + r;
        const int full = r + rm <= r_end;
        if (c->tn == 1) {
            (full ? k->r4x1 : k->r1x1)[ty](w, c->rb, c->x, c->xs, c->n_in, y, c->n_out);
        } else {
            int64_t t = 0;
            for (; t + k->tn <= c->tn; t += k->tn)
                (full ? k->rmxtn : k->r1xtn)[ty](w, c->rb, c->x + (size_t)t * c->xs, c->xs, c->n_in,
                                                 y + t * c->n_out, c->n_out);
            for (; t < c->tn; t++)
                (full ? k->rmx1 : k->r1x1)[ty](w, c->rb, c->x + (size_t)t * c->xs, c->xs, c->n_in,
                                               y + t * c->n_out, c->n_out);
        }
        r += full ? rm : 1;
    }
}
int reeli_x86_kqmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T, int isa)
{
    const int ty = dot_index(wtype);
    if (ty < 0)
        return reel_set_error(REEL_EUNSUPPORTED, "kqmatmul: weight type %s has no integer path",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_in <= 0 || n_in % dot_types[ty].bs)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    const size_t xs = reeli_x86_q8_record_bytes(n_in);
    const uint8_t *xq = reeli_x86_quantize_q8(pool, x, n_in, T, REELI_Q8X_RECORDS);
    k_ctx c = {
        .k = isa == REELI_X86_AVX512VNNI ? &k_tiles_vnni : &k_tiles_avx2,
        .ty = ty,
        .y = y,
        .w = w,
        .rb = (size_t)(n_in / dot_types[ty].bs) * (size_t)dot_types[ty].bb,
        .xs = xs,
        .n_in = n_in,
        .n_out = n_out,
    };
    for (int64_t t0 = 0; t0 < T; t0 += DR_CHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < DR_CHUNK ? T - t0 : DR_CHUNK;
        c.x = xq + (size_t)t0 * xs;
        const int rm = c.tn == 1 ? c.k->rm1 : c.k->rm;
        reel_pool_parallel_for_dynamic(pool, (n_out + rm - 1) / rm, 0, k_body, &c);
    }
    return 0;
}
#endif
