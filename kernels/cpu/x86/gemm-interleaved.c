/* The interleaved layouts and their tiles (AVX-512 VNNI only): Q8_0_R8, Q4_0_R8, Q5_0_R8,
 * Q4_K_R8 and Q6_K_R8 (repack.c writes them, and says where each byte goes). A group of 8 rows
 * stores its blocks with the 8 rows side by side, one dword of each row after the other, so
 * the vectors that hold row i in lane i are plain loads: one dpbusd against a broadcast dword
 * of the activations advances 8 row dots by 4 products, one convert and one FMA per block
 * serve 8 rows, and 8 results are stored without a horizontal sum. Q8_0_R8, Q4_0_R8 and
 * Q5_0_R8 also pair their groups, so that one token streams 16 rows from one place.
 *
 * Activations are Q8 blocks with sums (reeli_q8x, quant-act.c). Names: gemv_<weights>_q8_r16
 * is one token against a pair of groups (16 rows), gemv_<weights>_q8_r8 one token against one
 * group, gemm_<weights>_q8_r8x16 a group against 16 tokens.
 *
 * Work split: tokens go in chunks of GI_CHUNK so the chunk's activations stay in L2 while each
 * group is read once per chunk; threads take groups (pairs of groups for Q8_0, Q4_0, Q5_0)
 * from their own share and then help with the others' (reel_pool_parallel_for_dynamic). Each
 * output is one accumulation over the blocks in order by one thread (row i of a group in lane
 * i), so results do not depend on the thread count, and a token gives the same bits alone as
 * inside a batch; the Q8_0 / Q4_0 results are bit-identical to the row-major 8-row tiles of
 * dot-rowmajor-body.h on the plain layout. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include <immintrin.h>
#include <string.h>

#include "block8-vnni.h"

#define GI_TARGET   __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define GI_INLINE   GI_TARGET static inline __attribute__((always_inline))
#define GI_UNROLL   _Pragma("GCC unroll 16")
#define GI_PREFETCH 384
#define GI_TN       16 /* tokens of a batch tile */

enum { GI_CHUNK = 64 };

/* One block of a group of Q8_0_R8 (kind 0), Q4_0_R8 (1) or Q5_0_R8 (2) at p into the 8
 * transposed weight vectors b8_block8 takes (hi16 for a Q4_0 block of one token). */
GI_INLINE void r8_unpack(const int kind, const int hi16, const uint8_t *p, __m256i *wt)
{
    if (kind == 1) {
        const __m256i m4 = _mm256_set1_epi8(15), h4 = _mm256_set1_epi8((char)0xF0);
        GI_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k));
            wt[k] = _mm256_and_si256(v, m4);
            wt[k + 4] =
                hi16 ? _mm256_and_si256(v, h4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    } else if (kind == 2) {
        /* Q5_0_R8: the 8 rows' high-bit words (repack.c) at 16, then the nibbles at 48; bit
         * k of byte i of a word is element 4k + i's fifth bit, bit 4 + k element 16 + 4k +
         * i's, so one shift per dword k puts them at bit 4 of their byte */
        const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        GI_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * k));
            wt[k] = _mm256_or_si256(_mm256_and_si256(v, m4),
                                    _mm256_and_si256(_mm256_slli_epi32(qh, 4 - k), b4));
            wt[k + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi32(qh, k), b4));
        }
    } else {
        GI_UNROLL
        for (int k = 0; k < 8; k++)
            wt[k] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k)),
                                     _mm256_set1_epi8(-128));
    }
}

/* TN tokens against one group of Q8_0_R8 / Q4_0_R8 / Q5_0_R8: per block the 8 f16 scales, then
 * dword k of every row side by side; bs is the stride of the group's blocks (a pair's blocks
 * alternate). Row i's result is bit-identical to the row-major 8-row tile on the plain layout. */
GI_INLINE void tile_r8(const int TN, const int kind, const uint8_t *w, size_t bs,
                       const reeli_q8x *x, int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = TN == 1 && kind == 1;
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * bs;
        /* a batch prefetches the next blocks; one token does not: its stream is the hardware
         * prefetcher's alone, which keeps the decode step closer to the memory bandwidth */
        if (TN > 1)
            for (size_t o = 0; o < sb; o += 64)
                _mm_prefetch((const char *)p + 4 * GI_PREFETCH * bs / sb + o, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i wt[8];
        r8_unpack(kind, hi16, p, wt);
        b8_block8(TN, kind, hi16, wt, dw, x, xs, b, acc);
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q4_K_R8 (see repack.c): per super-block of a group of 8 rows the 8 d, the 8 dmin, per block
 * j the rows' 6-bit scale and min (12 bytes), then the 4 chunks of 64 elements as dwords of
 * the 8 rows side by side (low nibbles block 2c, high nibbles block 2c + 1). Per block and
 * token: 8 dpbusd (exact int32 sum(u q) per row lane), then
 *   acc += (d sc_j dx) sum(u q) - (dmin m_j) (dx sum(q): the activation block's ds) */
GI_INLINE void tile_q4_k_r8(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
                            int64_t nb, float *y, int64_t ys)
{
    const __m256i m4 = _mm256_set1_epi8(15), h4 = _mm256_set1_epi8((char)0xF0);
    const __m256i m6 = _mm256_set1_epi32(63);
    const __m256i m15 = _mm256_set1_epi32(15), nib = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const uint8_t *p = w + (size_t)sb * 1152;
        for (size_t o = 0; o < 1152; o += 64) _mm_prefetch((const char *)p + 1152 + o, _MM_HINT_T0);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 mv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        GI_UNROLL
        for (int j = 0; j < 8; j++) {
            const uint8_t *sp = p + 32 + 12 * j;
            const __m256i a8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sp));
            uint32_t mb;
            memcpy(&mb, sp + 8, 4);
            const __m256i mh =
                _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)mb), nib), m15);
            const __m256 fd = _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_and_si256(a8, m6)));
            const __m256 fm =
                _mm256_mul_ps(mv, _mm256_cvtepi32_ps(_mm256_or_si256(_mm256_slli_epi32(mh, 2),
                                                                     _mm256_srli_epi32(a8, 6))));
            const uint8_t *q = p + 128 + 256 * (j / 2);
            /* one token: the high nibbles stay in place (16 times their value, undone by one
             * exact shift of the sum) and the 8 dpbusd run as two chains of 4 */
            const int hi16 = TN == 1 && (j & 1);
            __m256i wt[8];
            GI_UNROLL
            for (int k = 0; k < 8; k++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
                wt[k] = hi16    ? _mm256_and_si256(v, h4)
                        : j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)
                                : _mm256_and_si256(v, m4);
            }
            GI_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a = _mm256_setzero_si256();
                if (TN == 1) {
                    __m256i a1 = _mm256_setzero_si256();
                    GI_UNROLL
                    for (int k = 0; k < 4; k++) {
                        a = _mm256_dpbusd_epi32(a, wt[k], b8_bcast4(xb->qs + 4 * k));
                        a1 = _mm256_dpbusd_epi32(a1, wt[k + 4], b8_bcast4(xb->qs + 16 + 4 * k));
                    }
                    a = _mm256_add_epi32(a, a1);
                    if (hi16) a = _mm256_srai_epi32(a, 4);
                } else {
                    GI_UNROLL
                    for (int k = 0; k < 8; k++)
                        a = _mm256_dpbusd_epi32(a, wt[k], b8_bcast4(xb->qs + 4 * k));
                }
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a),
                                         _mm256_mul_ps(fd, _mm256_set1_ps(xb->d)), acc[t]);
                acc[t] = _mm256_fnmadd_ps(fm, _mm256_set1_ps(xb->ds), acc[t]);
            }
        }
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q6_K_R8 (see repack.c): per super-block of a group of 8 rows the 8 d, the int8 scales as
 * [16-element group][row], the low 4 bits (ql) as 4 chunks and the high 2 bits (qh) as 2
 * halves of dwords of the 8 rows side by side. Block j = 4n + jj (n the half of 128) takes the
 * low (jj < 2) or high nibbles of ql chunk 2n + (jj & 1) and bits 2jj, 2jj + 1 of qh half n:
 * u = w + 32 in 0..63. Per 16-element group dpbusd starts from -32 sum(q) of that group (the
 * activation block's h16), so a0, a1 = sum((u - 32) q) exactly; then
 *   acc += d dx (sc0 a0 + sc1 a1)                              (int32, exact) */
GI_INLINE void tile_q6_k_r8(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
                            int64_t nb, float *y, int64_t ys)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const uint8_t *p = w + (size_t)sb * 1680;
        for (size_t o = 0; o < 1680; o += 64) _mm_prefetch((const char *)p + 1680 + o, _MM_HINT_T0);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        GI_UNROLL
        for (int j = 0; j < 8; j++) {
            const int n = j / 4, jj = j % 4;
            const __m256i sc0 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j)));
            const __m256i sc1 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j + 8)));
            const uint8_t *ql = p + 144 + 256 * (2 * n + (jj & 1)), *qh = p + 1168 + 256 * n;
            __m256i wt[8];
            GI_UNROLL
            for (int k = 0; k < 8; k++) {
                const __m256i l = _mm256_loadu_si256((const __m256i *)(ql + 32 * k));
                const __m256i h = _mm256_loadu_si256((const __m256i *)(qh + 32 * k));
                const __m256i hs = jj == 0   ? _mm256_slli_epi16(h, 4)
                                   : jj == 1 ? _mm256_slli_epi16(h, 2)
                                   : jj == 2 ? h
                                             : _mm256_srli_epi16(h, 2);
                wt[k] = _mm256_or_si256(_mm256_and_si256(jj < 2 ? l : _mm256_srli_epi16(l, 4), m4),
                                        _mm256_and_si256(hs, m30));
            }
            GI_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a0 = _mm256_set1_epi32(-32 * xb->h16[0]);
                __m256i a1 = _mm256_set1_epi32(-32 * xb->h16[1]);
                GI_UNROLL
                for (int k = 0; k < 4; k++) {
                    a0 = _mm256_dpbusd_epi32(a0, wt[k], b8_bcast4(xb->qs + 4 * k));
                    a1 = _mm256_dpbusd_epi32(a1, wt[k + 4], b8_bcast4(xb->qs + 16 + 4 * k));
                }
                const __m256i a =
                    _mm256_add_epi32(_mm256_mullo_epi32(a0, sc0), _mm256_mullo_epi32(a1, sc1));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a),
                                         _mm256_mul_ps(dv, _mm256_set1_ps(xb->d)), acc[t]);
            }
        }
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* One token over a pair of groups of Q8_0_R8 / Q4_0_R8 / Q5_0_R8 (see repack.c): the two
 * groups' blocks b side by side at w + 2 sb b. Each group goes through tile_r8's one-token
 * b8_block8 (bit-identical results), but one stream of weights feeds 16 rows and the 8
 * activation broadcasts of a block serve both groups, which keeps the decode step closer to the
 * memory bandwidth than two streams of 8 rows. */
GI_INLINE void tile_r16(const int kind, const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = kind == 1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * 2 * sb, *q = p + sb;
        __m256i wa[8], wb[8];
        r8_unpack(kind, hi16, p, wa);
        r8_unpack(kind, hi16, q, wb);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)q));
        /* inlined twice over the same activation block: the compiler loads its broadcasts once */
        b8_block8(1, kind, hi16, wa, d0, x, 0, b, &acc0);
        b8_block8(1, kind, hi16, wb, d1, x, 0, b, &acc1);
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

/* The tiles as functions the driver calls through tables: gemv_*_r16(w, x, nb, y) one token
 * against a pair of groups; the rest fn(w, bs, x, xs, nb, y, ys), bs the block stride for
 * tile_r8 (a group's blocks are 2 apart in a pair), unused by the K types. */
#define GI_R16(name, kind)                                                                         \
    GI_TARGET static void name(const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y)         \
    {                                                                                              \
        tile_r16(kind, w, x, nb, y);                                                               \
    }
#define GI_R8(name, tn, kind)                                                                      \
    GI_TARGET static void name(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs,        \
                               int64_t nb, float *y, int64_t ys)                                   \
    {                                                                                              \
        tile_r8(tn, kind, w, bs, x, xs, nb, y, ys);                                                \
    }
#define GI_R8K(name, fn, tn)                                                                       \
    GI_TARGET static void name(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs,        \
                               int64_t nb, float *y, int64_t ys)                                   \
    {                                                                                              \
        (void)bs;                                                                                  \
        fn(tn, w, x, xs, nb, y, ys);                                                               \
    }
GI_R16(gemv_q8_0_q8_r16, 0)
GI_R16(gemv_q4_0_q8_r16, 1)
GI_R16(gemv_q5_0_q8_r16, 2)
GI_R8(gemv_q8_0_q8_r8, 1, 0)
GI_R8(gemv_q4_0_q8_r8, 1, 1)
GI_R8(gemv_q5_0_q8_r8, 1, 2)
GI_R8(gemm_q8_0_q8_r8x16, GI_TN, 0)
GI_R8(gemm_q4_0_q8_r8x16, GI_TN, 1)
GI_R8(gemm_q5_0_q8_r8x16, GI_TN, 2)
GI_R8K(gemv_q4_k_q8_r8, tile_q4_k_r8, 1)
GI_R8K(gemm_q4_k_q8_r8x16, tile_q4_k_r8, GI_TN)
GI_R8K(gemv_q6_k_q8_r8, tile_q6_k_r8, 1)
GI_R8K(gemm_q6_k_q8_r8x16, tile_q6_k_r8, GI_TN)
#undef GI_R8K
#undef GI_R8
#undef GI_R16

typedef void (*gi_r8_fn)(const uint8_t *w, size_t bs, const reeli_q8x *x, int64_t xs, int64_t nb,
                         float *y, int64_t ys);
typedef void (*gi_r16_fn)(const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y);

/* per kind (0 Q8_0_R8, 1 Q4_0_R8, 2 Q5_0_R8, 3 Q4_K_R8, 4 Q6_K_R8): bytes per 32 elements of a
 * group of 8 rows (the same size as the plain layout), and the tiles */
static const size_t r8_bytes[] = {272, 144, 176, 144, 210};
static const gi_r8_fn gemm_r8x16[] = {gemm_q8_0_q8_r8x16, gemm_q4_0_q8_r8x16, gemm_q5_0_q8_r8x16,
                                      gemm_q4_k_q8_r8x16, gemm_q6_k_q8_r8x16};
static const gi_r8_fn gemv_r8[] = {gemv_q8_0_q8_r8, gemv_q4_0_q8_r8, gemv_q5_0_q8_r8,
                                   gemv_q4_k_q8_r8, gemv_q6_k_q8_r8};
static const gi_r16_fn gemv_r16[] = {gemv_q8_0_q8_r16, gemv_q4_0_q8_r16, gemv_q5_0_q8_r16};

typedef struct {
    float *y;
    const uint8_t *w;
    int kind;
    const reeli_q8x *x; /* activations of token t0 */
    int64_t nb, n_out, t0, tn;
} gi_ctx;

/* Units [begin, end) of groups (pairs of groups for Q8_0, Q4_0, Q5_0). */
static void gi_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const gi_ctx *c = arg;
    const size_t sb = r8_bytes[c->kind], gb = (size_t)c->nb * sb;
    const int64_t groups = c->n_out / 8, per = c->kind <= 2 ? 2 : 1;
    const gi_r8_fn pn = gemm_r8x16[c->kind], p1 = gemv_r8[c->kind];
    for (int64_t u = begin; u < end; u++) {
        const int64_t g0 = u * per, ng = groups - g0 < per ? groups - g0 : per;
        const uint8_t *base = c->w + (size_t)g0 * gb;
        if (ng == 2 && c->tn == 1) {
            gemv_r16[c->kind](base, c->x, c->nb, c->y + c->t0 * c->n_out + g0 * 8);
            continue;
        }
        for (int64_t i = 0; i < ng; i++) {
            const uint8_t *w = base + (size_t)i * sb;
            const size_t bs = (size_t)ng * sb; /* a pair's blocks alternate */
            float *y = c->y + c->t0 * c->n_out + (g0 + i) * 8;
            int64_t t = 0;
            for (; t + GI_TN <= c->tn; t += GI_TN)
                pn(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
            for (; t < c->tn; t++)
                p1(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
        }
    }
}

int reeli_x86_gemm_interleaved(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                               const float *x, int64_t n_in, int64_t n_out, int64_t T)
{
    const int kind = wtype == REEL_DTYPE_Q8_0_R8   ? 0
                     : wtype == REEL_DTYPE_Q4_0_R8 ? 1
                     : wtype == REEL_DTYPE_Q5_0_R8 ? 2
                     : wtype == REEL_DTYPE_Q4_K_R8 ? 3
                     : wtype == REEL_DTYPE_Q6_K_R8 ? 4
                                                   : -1;
    if (kind < 0)
        return reel_set_error(REEL_EUNSUPPORTED, "qmatmul: weight type %s is not interleaved",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_out % 8)
        return reel_set_error(REEL_EINVAL, "qmatmul: interleaved weights need VNNI and 8k rows");
    if (n_in <= 0 || n_in % (kind >= 3 ? 256 : 32))
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, "interleaved");
    if (T <= 0 || n_out <= 0) return 0;
    const int64_t nb = n_in / 32;
    const reeli_q8x *xq = reeli_x86_quantize_q8(pool, x, n_in, T, REELI_Q8X_BLOCKS);
    gi_ctx c = {.y = y, .w = w, .kind = kind, .nb = nb, .n_out = n_out};
    const int64_t per = kind <= 2 ? 2 : 1; /* in pairs of groups (gi_body) */
    for (int64_t t0 = 0; t0 < T; t0 += GI_CHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < GI_CHUNK ? T - t0 : GI_CHUNK;
        c.x = xq + t0 * nb;
        reel_pool_parallel_for_dynamic(pool, (n_out / 8 + per - 1) / per, 0, gi_body, &c);
    }
    return 0;
}
#endif
