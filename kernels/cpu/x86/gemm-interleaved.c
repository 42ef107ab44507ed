/* The interleaved layouts' matmul (Q8_0_R8, Q4_0_R8, Q5_0_R8, Q4_K_R8, Q6_K_R8; repack.c writes
 * them, gemm-interleaved-tiles.h holds the tiles, with AVX-512 VNNI, AVX-VNNI and AVX2).
 *
 * Activations are Q8 blocks with sums (reeli_q8x, quant-act.c). Tiles: gemv_<weights>_q8_r16
 * is one token against a pair of groups (16 rows), gemv_<weights>_q8_r8 one token against one
 * group, gemm_<weights>_q8_r8x16 a group against 16 tokens and gemm_<weights>_q8_r8x4 against 4
 * (a batch's tail, or a few sessions decoding together: the group is unpacked once for them).
 *
 * Work split: tokens go in chunks of GI_CHUNK so the chunk's activations stay in L2 while each
 * group is read once per chunk; threads take groups (pairs of groups for Q8_0, Q4_0, Q5_0)
 * from their own share and then help with the others' (reel_pool_parallel_for_dynamic). Each
 * output is one accumulation over the blocks in order by one thread (row i of a group in lane
 * i), so results do not depend on the thread count, and a token gives the same bits alone as
 * inside a batch; the Q8_0 / Q4_0 results are bit-identical to the row-major 8-row tiles of
 * dot-rowmajor-body.h on the plain layout, and AVX2's to both VNNIs'. */
#if defined(__x86_64__)
#include "kernels/kernels-impl.h"
#include "core/error.h"

#include "gemm-interleaved-impl.h"

enum { GI_CHUNK = 64 };

static const size_t r8_bytes[] = {272, 144, 176, 144, 210}; /* per 32 elements of a group */

typedef struct {
    float *y;
    const uint8_t *w;
    int kind;
    const gi_tiles *tiles;
    const reeli_q8x *x; /* activations of token t0 */
    int64_t nb, n_out, t0, tn;
} gi_ctx;

/* Units [begin, end) of groups (pairs of groups for Q8_0, Q4_0, Q5_0). */
static void gi_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const gi_ctx *c = arg;
    const gi_tiles *tl = c->tiles;
    const size_t sb = r8_bytes[c->kind], gb = (size_t)c->nb * sb;
    const int64_t groups = c->n_out / 8, per = c->kind <= 2 ? 2 : 1;
    const gi_r8_fn pn = tl->gemm_r8x16[c->kind], p4 = tl->gemm_r8x4[c->kind],
                   p1 = tl->gemv_r8[c->kind];
    for (int64_t u = begin; u < end; u++) {
        const int64_t g0 = u * per, ng = groups - g0 < per ? groups - g0 : per;
        const uint8_t *base = c->w + (size_t)g0 * gb;
        if (ng == 2 && c->tn == 1) {
            tl->gemv_r16[c->kind](base, c->x, c->nb, c->y + c->t0 * c->n_out + g0 * 8);
            continue;
        }
        for (int64_t i = 0; i < ng; i++) {
            const uint8_t *w = base + (size_t)i * sb;
            const size_t bs = (size_t)ng * sb; /* a pair's blocks alternate */
            float *y = c->y + c->t0 * c->n_out + (g0 + i) * 8;
            int64_t t = 0;
            for (; t + GI_TN <= c->tn; t += GI_TN)
                pn(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
            for (; t + 4 <= c->tn; t += 4)
                p4(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
            for (; t < c->tn; t++)
                p1(w, bs, c->x + t * c->nb, c->nb, c->nb, y + t * c->n_out, c->n_out);
        }
    }
}

int reeli_x86_gemm_interleaved(reel_pool *pool, float *y, const void *w, reel_dtype wtype,
                               const float *x, int64_t n_in, int64_t n_out, int64_t T, int isa)
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
    if (n_out % 8) return reel_set_error(REEL_EINVAL, "qmatmul: interleaved weights need 8k rows");
    if (n_in <= 0 || n_in % (kind >= 3 ? 256 : 32))
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, "interleaved");
    if (T <= 0 || n_out <= 0) return 0;
    const int64_t nb = n_in / 32;
    const reeli_q8x *xq = reeli_x86_quantize_q8(pool, x, n_in, T, REELI_Q8X_BLOCKS);
    gi_ctx c = {.y = y,
                .w = w,
                .kind = kind,
                .tiles = isa == REELI_X86_AVX512VNNI ? &reeli_gi_tiles_vnni
                         : isa == REELI_X86_AVXVNNI  ? &reeli_gi_tiles_avxvnni
                                                     : &reeli_gi_tiles_avx2,
                .nb = nb,
                .n_out = n_out};
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
