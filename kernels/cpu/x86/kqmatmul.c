/* Integer-dot matmul for the other GGUF weight types on x86-64 (AVX2 + FMA + F16C, or AVX-512
 * VNNI where the CPU has it; the tiles are in kqmatmul-body.h, compiled once per ISA with
 * per-function target attributes and chosen at run time): Q5_0, Q5_1, Q4_1, IQ4_NL (blocks of
 * 32) and Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (super-blocks of 256 = 8 blocks of 32). Q8_0 / Q4_0 have
 * their own kernels (qmatmul.c).
 *
 * Activations. Each token's row of n floats is quantized per 32-block to int8 with GGML's Q8_0
 * rule (d = amax / 127, q = round(x / d), |q| <= 127) into a per-thread scratch that only grows.
 * A token's record (xs bytes, a multiple of 64) holds
 *     qs[n] int8 | d[nb] float | s[nb] float = d * sum(q) | x32[nb] int32 = sum(q) |
 *     hs[2*nb] int16 = sums of the two halves of 16
 * so each weight type finds the sums its offsets and minimums need without touching qs again.
 *
 * Weights are unpacked per block of 32 into unsigned bytes u (0..63) and multiplied with the
 * signed activations by maddubs (u * q pairs summed to int16: at most 2 * 63 * 127 = 16002, so
 * it never saturates) and madd (pairs of int16 times a 16-bit factor, to 8 int32 lanes; VNNI's
 * dpbusd where that factor is 1, see kqmatmul-body.h):
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
 * Everything inside a 32-block is exact integer arithmetic. Blocks go in groups of 8 (a K
 * super-block; 8 blocks of a 32-block type, the last group of a row possibly partial): per
 * group, row and token the factors d dx of the 8 blocks are one vector product, and the
 * offset / minimum terms one vector FMA (one lane per block) into the output's accumulator of
 * 8 fp32 lanes; per block, row and token the int32 lanes are converted and added with one FMA
 * by the broadcast factor. An output is the horizontal sum of its accumulator at the end.
 *
 * Work split: like qmatmul.c. Threads own contiguous groups of rows; tokens go in chunks of
 * KQ_CHUNK whose activations stay in cache while each weight tile of 2 rows is read once per
 * chunk and applied to 4 tokens at a time (8 under VNNI); one token uses 4-row tiles that
 * stream each weight byte once. Every tile shape of an ISA performs the same operations in
 * the same order for a given (row, token), so results do not depend on the thread count, the
 * tile or the batch size (a token alone gives the same bits as inside a batch). */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define KQ_TARGET __attribute__((target("avx2,fma,f16c")))
#define KQ_INLINE KQ_TARGET static inline __attribute__((always_inline))
#define KQ_UNROLL _Pragma("GCC unroll 16")
/* _mm256_round_ps takes its mode as an integer constant expression (clang insists). */
#define KQ_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

enum {
    KQ_Q4_K,
    KQ_Q5_K,
    KQ_Q6_K,
    KQ_Q5_0,
    KQ_Q5_1,
    KQ_Q4_1,
    KQ_IQ4_NL,
    KQ_Q3_K,
    KQ_Q2_K,
    KQ_NTYPES
};
enum { KQ_CHUNK = 64 };
/* lane j of a factor vector as a broadcast load (the vectors live on the stack: a load port
 * instead of a shuffle, measured a little faster than _mm256_permutevar8x32_ps here) */
#define KQ_BCAST(v, j) _mm256_broadcast_ss((const float *)&(v) + (j))
#define KQ_PREFETCH    1024

static int kq_index(reel_dtype t)
{
    switch (t) {
    case REEL_DTYPE_Q4_K:
        return KQ_Q4_K;
    case REEL_DTYPE_Q5_K:
        return KQ_Q5_K;
    case REEL_DTYPE_Q6_K:
        return KQ_Q6_K;
    case REEL_DTYPE_Q5_0:
        return KQ_Q5_0;
    case REEL_DTYPE_Q5_1:
        return KQ_Q5_1;
    case REEL_DTYPE_Q4_1:
        return KQ_Q4_1;
    case REEL_DTYPE_IQ4_NL:
        return KQ_IQ4_NL;
    case REEL_DTYPE_Q3_K:
        return KQ_Q3_K;
    case REEL_DTYPE_Q2_K:
        return KQ_Q2_K;
    default:
        return -1;
    }
}

int reeli_x86_kq_handles(reel_dtype wtype)
{
    return kq_index(wtype) >= 0;
}

/* bytes of a token's activation record for rows of n elements */
static size_t kq_xs(int64_t n)
{
    return ((size_t)n / 32 * 48 + 63) & ~(size_t)63;
}

KQ_INLINE float f16(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

KQ_INLINE float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* x: rows [t0, t1) of n floats -> activation records (layout at the top), xs bytes apart. */
KQ_TARGET static void quant_x(const float *x, uint8_t *out, size_t xs, int64_t n, int64_t t0,
                              int64_t t1)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int64_t nb = n / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * n;
        uint8_t *base = out + (size_t)t * xs;
        int8_t *q = (int8_t *)base;
        float *d = (float *)(base + n), *s = d + nb;
        int32_t *x32 = (int32_t *)(s + nb);
        int16_t *hs = (int16_t *)(x32 + nb);
        for (int64_t b = 0; b < nb; b++) {
            const float *p = xr + b * 32;
            __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
            __m256 v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
            __m256 m = _mm256_max_ps(
                _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
            __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
            m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
            m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
            const float amax = _mm_cvtss_f32(m4);
            const float db = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            const __m256 sc = _mm256_set1_ps(id);
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, sc), KQ_ROUND));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, sc), KQ_ROUND));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, sc), KQ_ROUND));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, sc), KQ_ROUND));
            /* sums of the halves (elements 0..15 and 16..31) before packing */
            const __m256i lo8 = _mm256_add_epi32(i0, i1), hi8 = _mm256_add_epi32(i2, i3);
            __m128i l4 =
                _mm_add_epi32(_mm256_castsi256_si128(lo8), _mm256_extracti128_si256(lo8, 1));
            __m128i h4 =
                _mm_add_epi32(_mm256_castsi256_si128(hi8), _mm256_extracti128_si256(hi8, 1));
            __m128i lh = _mm_hadd_epi32(l4, h4); /* l0+l1, l2+l3, h0+h1, h2+h3 */
            lh = _mm_hadd_epi32(lh, lh);         /* lo, hi, lo, hi */
            const int lo = _mm_cvtsi128_si32(lh), hi = _mm_extract_epi32(lh, 1);
            i0 = _mm256_packs_epi32(i0, i1);
            i2 = _mm256_packs_epi32(i2, i3);
            i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
            _mm256_storeu_si256((__m256i *)(q + b * 32), i0);
            d[b] = db;
            s[b] = db * (float)(lo + hi);
            x32[b] = lo + hi;
            hs[2 * b] = (int16_t)lo;
            hs[2 * b + 1] = (int16_t)hi;
        }
    }
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
KQ_INLINE __m128i k3_scales(const uint8_t *p)
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
KQ_INLINE __m256i lanes_below(int nj)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(nj), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

typedef void (*kq_tile_fn)(const uint8_t *w, size_t rb, const uint8_t *x, size_t xs, int64_t n,
                           float *y, int64_t ys);
/* An ISA's tiles per type: t1 rm1 rows x 1 token (T = 1), trn rm x tn and tr1 rm x 1 (batches),
 * t1n 1 x tn and t11 1 x 1 (the rows left over when n_out is not a multiple). */
typedef struct {
    int rm1, rm, tn;
    kq_tile_fn t1[KQ_NTYPES], trn[KQ_NTYPES], tr1[KQ_NTYPES], t1n[KQ_NTYPES], t11[KQ_NTYPES];
} kq_tiles;

#define KQ_NAME(x) x##_avx2
#define KQ_BTARGET __attribute__((target("avx2,fma,f16c")))
#define KQ_VNNI    0
#define KQ_RM      2
#define KQ_TN      4
#include "kqmatmul-body.h"
#undef KQ_NAME
#undef KQ_BTARGET
#undef KQ_VNNI
#undef KQ_RM
#undef KQ_TN

#define KQ_NAME(x) x##_vnni
#define KQ_BTARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define KQ_VNNI    1
/* 16 accumulators (AVX-512 has 32 vector registers); 2 x 8 measured ~10% faster than 4 x 4:
 * fewer weight unpacks per product */
#define KQ_RM 2
#define KQ_TN 8
#include "kqmatmul-body.h"

/* per type: elements and bytes of a block */
static const struct {
    int bs, bb;
} kq_types[KQ_NTYPES] = {
    [KQ_Q4_K] = {256, 144}, [KQ_Q5_K] = {256, 176}, [KQ_Q6_K] = {256, 210},
    [KQ_Q5_0] = {32, 22},   [KQ_Q5_1] = {32, 24},   [KQ_Q4_1] = {32, 20},
    [KQ_IQ4_NL] = {32, 18}, [KQ_Q3_K] = {256, 110}, [KQ_Q2_K] = {256, 84},
};

typedef struct {
    const kq_tiles *k;
    int ty;
    float *y;
    const uint8_t *w;
    size_t rb, xs;
    const float *xf;
    uint8_t *xq;      /* all T records */
    const uint8_t *x; /* records of the chunk's first token */
    int64_t n_in, n_out, t0, tn;
} kq_ctx;

static void kq_quant_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const kq_ctx *c = arg;
    quant_x(c->xf, c->xq, c->xs, c->n_in, begin, end);
}

static void kq_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const kq_ctx *c = arg;
    const kq_tiles *k = c->k;
    const int rm = c->tn == 1 ? k->rm1 : k->rm, ty = c->ty;
    const int64_t r_end = end * rm < c->n_out ? end * rm : c->n_out;
    for (int64_t r = begin * rm; r < r_end;) {
        const uint8_t *w = c->w + (size_t)r * c->rb;
        float *y = c->y + c->t0 * c->n_out + r;
        const int full = r + rm <= r_end;
        if (c->tn == 1) {
            (full ? k->t1 : k->t11)[ty](w, c->rb, c->x, c->xs, c->n_in, y, c->n_out);
        } else {
            int64_t t = 0;
            for (; t + k->tn <= c->tn; t += k->tn)
                (full ? k->trn : k->t1n)[ty](w, c->rb, c->x + (size_t)t * c->xs, c->xs, c->n_in,
                                             y + t * c->n_out, c->n_out);
            for (; t < c->tn; t++)
                (full ? k->tr1 : k->t11)[ty](w, c->rb, c->x + (size_t)t * c->xs, c->xs, c->n_in,
                                             y + t * c->n_out, c->n_out);
        }
        r += full ? rm : 1;
    }
}

static _Thread_local uint8_t *scratch;
static _Thread_local size_t scratch_n;

int reeli_x86_kqmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                       int64_t n_in, int64_t n_out, int64_t T, int vnni)
{
    const int ty = kq_index(wtype);
    if (ty < 0)
        return reel_set_error(REEL_EUNSUPPORTED, "kqmatmul: weight type %s has no integer path",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_in <= 0 || n_in % kq_types[ty].bs)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    const size_t xs = kq_xs(n_in), need = xs * (size_t)T;
    if (need > scratch_n) {
        free(scratch);
        scratch = reel_xmalloc(need);
        scratch_n = need;
    }
    kq_ctx c = {
        .k = vnni ? &tiles_vnni : &tiles_avx2,
        .ty = ty,
        .y = y,
        .w = w,
        .rb = (size_t)(n_in / kq_types[ty].bs) * (size_t)kq_types[ty].bb,
        .xs = xs,
        .xf = x,
        .xq = scratch,
        .n_in = n_in,
        .n_out = n_out,
    };
    if (T == 1)
        quant_x(x, scratch, xs, n_in, 0, 1);
    else
        reel_pool_parallel_for(pool, T, kq_quant_body, &c);
    for (int64_t t0 = 0; t0 < T; t0 += KQ_CHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < KQ_CHUNK ? T - t0 : KQ_CHUNK;
        c.x = scratch + (size_t)t0 * xs;
        const int rm = c.tn == 1 ? c.k->rm1 : c.k->rm;
        reel_pool_parallel_for_dynamic(pool, (n_out + rm - 1) / rm, 0, kq_body, &c);
    }
    return 0;
}
#endif
