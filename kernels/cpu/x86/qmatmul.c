/* Integer-dot matmul for Q8_0 and Q4_0 weights on x86-64 (AVX2, or AVX-512 VNNI where the CPU
 * has it; both compiled here with per-function target attributes, chosen at run time).
 *
 * y = W x: the T activation rows are quantized to int8 per 32-block once per call (into a
 * per-thread scratch that only grows, so the token loop does not allocate once it has seen the
 * largest shape); then each thread works through its share of the groups of rows, and helps
 * with the others' (reel_pool_parallel_for_dynamic). Tokens are processed in chunks of QCHUNK
 * so the chunk's activations stay in L2 while each weight tile (RM rows) is read once per chunk
 * and reused for every token of it (TN tokens at a time in registers). With VNNI a batch tile
 * holds 8 rows in the lanes of one vector (qmatmul-body.h, tile8); one token uses 4-row tiles
 * that stream the weights with less shuffling, or, in the interleaved layouts, 16 rows (two
 * groups of 8) from one stream. Each output is one accumulation over the blocks in order by one
 * thread, so results do not depend on the thread count (a batched call and T = 1 calls may
 * differ in the last bits under VNNI on the plain layouts: other tiles). */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

typedef void (*reeli_qtile_fn)(const uint8_t *w, size_t rb, const reeli_q8x *x, int64_t xs,
                               int64_t nb, float *y, int64_t ys);
typedef void (*reeli_tile16_fn)(const uint8_t *w, const reeli_q8x *x, int64_t nb, float *y);
typedef struct {
    void (*quant_x)(const float *x, reeli_q8x *out, int64_t n, int64_t t0, int64_t t1);
    int rm1, rm, tn; /* rows of a group for T = 1 and for batches; tokens of a batch tile */
    /* [0] Q8_0, [1] Q4_0: t1 rm1 rows x 1 token; trn rm x tn; tr1 rm x 1; t11 and t1n one row
     * (the n_out % rm rows left over) x 1 or tn tokens */
    reeli_qtile_fn t1[2], trn[2], tr1[2], t11[2], t1n[2];
} reeli_qtiles;

#define QK_NAME(x) x##_avx2
#define QK_TARGET  __attribute__((target("avx2,fma,f16c")))
#define QK_VNNI    0
#define QK_RM      2
#define QK_TN      4
#include "qmatmul-body.h"
#undef QK_NAME
#undef QK_TARGET
#undef QK_VNNI
#undef QK_RM
#undef QK_TN

#define QK_NAME(x) x##_vnni
#define QK_TARGET  __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#define QK_VNNI    1
#define QK_RM      8
#define QK_TN      16
#include "qmatmul-body.h"

enum { QCHUNK = 64 };

typedef struct {
    const reeli_qtiles *k;
    float *y;
    const uint8_t *w;
    int kind; /* 0 Q8_0, 1 Q4_0, 2 Q5_0, 3 Q4_K, 4 Q6_K (the last three interleaved only) */
    size_t rb;
    const reeli_q8x *x; /* activations of token t0 */
    const float *xf;
    reeli_q8x *xq;
    int64_t n_in, nb, n_out, t0, tn, T;
} qctx;

static void qx_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const qctx *c = arg;
    c->k->quant_x(c->xf, c->xq, c->n_in, begin, end);
}

/* Interleaved layouts: 8 rows at a time; per block the 8 f16 scales, then the weight bytes as
 * dwords side by side (dword k of rows 0..7, k = 0..3 for Q4_0's 16 packed bytes, 0..7 for
 * Q8_0's 32). Q5_0_R8 puts the 8 rows' high bits between the two, one 32-bit word per row,
 * rearranged so that byte i holds the fifth bits of the elements in byte i of every dword:
 * bit k = element 4k + i (low nibble of dword k), bit 4 + k = element 16 + 4k + i (its high
 * nibble). These three pair their groups (0 and 1, 2 and 3, ...; an odd last group stays
 * alone): the pair's blocks b side by side, so one token streams 16 rows from one place
 * (tile16p). Same size as the plain layout. */
static const size_t r8_bytes[] = {272, 144, 176, 144, 210}; /* per 32 elements of 8 rows */

/* Units [begin, end) of groups (pairs of groups for Q8_0, Q4_0, Q5_0). */
static void r8_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const qctx *c = arg;
    static const reeli_qtile_fn tn[] = {p8n_q8_vnni, p8n_q4_vnni, p8n_q5_vnni, p8n_q4k_vnni,
                                        p8n_q6k_vnni};
    static const reeli_qtile_fn t1[] = {p81_q8_vnni, p81_q4_vnni, p81_q5_vnni, p81_q4k_vnni,
                                        p81_q6k_vnni};
    const size_t sb = r8_bytes[c->kind], gb = (size_t)c->nb * sb;
    static const reeli_tile16_fn t16[] = {p161_q8_vnni, p161_q4_vnni, p161_q5_vnni};
    const int64_t groups = c->n_out / 8, per = c->kind <= 2 ? 2 : 1;
    const reeli_qtile_fn pn = tn[c->kind], p1 = t1[c->kind];
    for (int64_t u = begin; u < end; u++) {
        const int64_t g0 = u * per, ng = groups - g0 < per ? groups - g0 : per;
        const uint8_t *base = c->w + (size_t)g0 * gb;
        if (ng == 2 && c->tn == 1) {
            t16[c->kind](base, c->x, c->nb, c->y + c->t0 * c->n_out + g0 * 8);
            continue;
        }
        for (int64_t i = 0; i < ng; i++) {
            const uint8_t *w = base + (size_t)i * sb;
            const size_t bs = (size_t)ng * sb; /* a pair's blocks alternate */
            float *y = c->y + c->t0 * c->n_out + (g0 + i) * 8;
            int64_t t = 0;
            for (; t + 16 <= c->tn; t += 16)
                pn(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
            for (; t < c->tn; t++)
                p1(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
        }
    }
}

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

int reeli_x86_repack(reel_dtype to, void *dst, reel_dtype from, const void *src, int64_t n_in,
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
    const int pairs = to == REEL_DTYPE_Q4_0_R8 || to == REEL_DTYPE_Q8_0_R8 ||
                      to == REEL_DTYPE_Q5_0_R8; /* see r8_body */
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

static void qmm_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const qctx *c = arg;
    const reeli_qtiles *k = c->k;
    const int q = c->kind;
    const int rm = c->tn == 1 ? k->rm1 : k->rm;
    const int64_t r_end = end * rm < c->n_out ? end * rm : c->n_out;
    for (int64_t r = begin * rm; r < r_end;) {
        const uint8_t *w = c->w + (size_t)r * c->rb;
        float *y = c->y + c->t0 * c->n_out + r;
        const int full = r + rm <= r_end;
        int64_t t = 0;
        if (full && c->tn == 1) {
            k->t1[q](w, c->rb, c->x, c->nb, c->nb, y, c->n_out);
            t = 1;
        }
        for (; t + k->tn <= c->tn; t += k->tn)
            (full ? k->trn : k->t1n)[q](w, c->rb, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out,
                                        c->n_out);
        for (; t < c->tn; t++)
            (full ? k->tr1 : k->t11)[q](w, c->rb, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out,
                                        c->n_out);
        r += full ? rm : 1;
    }
}

static _Thread_local reeli_q8x *scratch;
static _Thread_local size_t scratch_n;

int reeli_x86_qmatmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                      int64_t n_in, int64_t n_out, int64_t T, int vnni)
{
    const int r8 = wtype == REEL_DTYPE_Q4_0_R8 || wtype == REEL_DTYPE_Q8_0_R8 ||
                   wtype == REEL_DTYPE_Q5_0_R8 || wtype == REEL_DTYPE_Q4_K_R8 ||
                   wtype == REEL_DTYPE_Q6_K_R8;
    if (r8 && (!vnni || n_out % 8))
        return reel_set_error(REEL_EINVAL, "qmatmul: interleaved weights need VNNI and 8k rows");
    if (wtype != REEL_DTYPE_Q8_0 && wtype != REEL_DTYPE_Q4_0 && !r8)
        return reel_set_error(REEL_EUNSUPPORTED, "qmatmul: weight type %s has no integer path",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    if (n_in <= 0 || n_in % (wtype == REEL_DTYPE_Q4_K_R8 || wtype == REEL_DTYPE_Q6_K_R8 ? 256 : 32))
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, r8 ? "interleaved" : reel_dtype_name(wtype));
    if (T <= 0 || n_out <= 0) return 0;
    const int64_t nb = n_in / 32;
    const size_t need = (size_t)(T * nb);
    if (need > scratch_n) {
        free(scratch);
        scratch = reel_xmalloc(need * sizeof *scratch);
        scratch_n = need;
    }
    qctx c = {
        .k = vnni ? &tiles_vnni : &tiles_avx2,
        .y = y,
        .w = w,
        .kind = wtype == REEL_DTYPE_Q4_0 || wtype == REEL_DTYPE_Q4_0_R8 ? 1
                : wtype == REEL_DTYPE_Q5_0_R8                           ? 2
                : wtype == REEL_DTYPE_Q4_K_R8                           ? 3
                : wtype == REEL_DTYPE_Q6_K_R8                           ? 4
                                                                        : 0,
        .rb = (size_t)nb * (wtype == REEL_DTYPE_Q4_0 || wtype == REEL_DTYPE_Q4_0_R8 ? 18 : 34),
        .xf = x,
        .xq = scratch,
        .n_in = n_in,
        .nb = nb,
        .n_out = n_out,
        .T = T,
    };
    if (T == 1)
        c.k->quant_x(x, scratch, n_in, 0, 1);
    else
        reel_pool_parallel_for(pool, T, qx_body, &c);
    for (int64_t t0 = 0; t0 < T; t0 += QCHUNK) {
        c.t0 = t0;
        c.tn = T - t0 < QCHUNK ? T - t0 : QCHUNK;
        c.x = scratch + t0 * nb;
        if (r8) {
            const int64_t per = c.kind <= 2 ? 2 : 1; /* in pairs of groups (r8_body) */
            reel_pool_parallel_for_dynamic(pool, (n_out / 8 + per - 1) / per, 0, r8_body, &c);
            continue;
        }
        const int rm = c.tn == 1 ? c.k->rm1 : c.k->rm;
        reel_pool_parallel_for_dynamic(pool, (n_out + rm - 1) / rm, 0, qmm_body, &c);
    }
    return 0;
}
#endif
