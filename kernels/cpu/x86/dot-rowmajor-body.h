/* Tiles of the row-major integer-dot matmuls (dot-rowmajor.c), included once per ISA with
 * DR_NAME(x) (suffixes names), DR_TARGET (the function target attribute), DR_VNNI, DR_QRM /
 * DR_QTN (rows and tokens of a batch tile of Q8_0 / Q4_0) and DR_KRM / DR_KTN (the same for
 * the other types; at most 4 rows and 16 tokens). Tile functions are named
 * dot_<weights>_q8_<rows>x<tokens>.
 *
 * Q8_0 / Q4_0 (activations: reeli_q8x blocks). Per block of a row, 8 int32 lanes whose sum is
 * the dot:
 *   Q4_0 (nibbles n = w + 8, unsigned):  dot = sum(n * x) - 8 * sum(x)
 *       AVX2: madd(maddubs(n, x), 1) + [s8, 0, ...]     VNNI: dpbusd([s8, 0, ...], n, x)
 *   Q8_0 (signed w):                     dot = sum(|w| * sign(x, w))
 *       AVX2: madd(maddubs(|w|, sign(x, w)), 1)         VNNI: dpbusd(0, |w|, sign(x, w))
 * (maddubs cannot saturate: 15 * 127 * 2 and 128 * 127 * 2 fit in int16.) Both ISAs produce
 * the same integers. Each lane vector is scaled by d_w * d_x and accumulated in fp32; an output
 * is the horizontal sum of its accumulator after the last block, so tiles of any shape (and
 * AVX2 vs VNNI) give identical bits. Under VNNI a batch uses 8-row tiles with the rows in the
 * lanes (transposed on the fly; the same step as the interleaved layouts, block8-vnni.h).
 *
 * The other types (activations: records, quant-act.c): under VNNI one dpbusd replaces maddubs
 * + madd where the madd factor is 1 (the 32-block types: the same integers, so the same bits as
 * AVX2) or a per-block scale that can move into the float factor instead (Q4_K / Q5_K: factor
 * d sc_j dx_j, the last bits may differ from AVX2); Q2_K, Q3_K and Q6_K keep maddubs + madd for
 * their two scales per block. */

#define DR_INLINE DR_TARGET static inline __attribute__((always_inline))
#define DR_UNROLL _Pragma("GCC unroll 16")

DR_INLINE float DR_NAME(hsum)(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

DR_INLINE float DR_NAME(f16)(const uint8_t *b)
{
    uint16_t h;
    memcpy(&h, b, 2);
    return _cvtsh_ss(h);
}

/* ---- Q8_0 / Q4_0 ---- */

DR_INLINE __m256i DR_NAME(unpack)(int q4, const uint8_t *b)
{
    if (!q4) return _mm256_loadu_si256((const __m256i *)(b + 2));
    __m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
    __m256i n = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(n, _mm256_set1_epi8(15)); /* unsigned nibbles, w + 8 */
}

/* y[j*ys + i] = row i of w (RM rows, rb bytes apart) . token j of x (TN tokens, xs blocks apart),
 * over nb blocks of bb bytes. */
DR_INLINE void DR_NAME(tile_q8_0_or_q4_0)(const int RM, const int TN, const int q4,
                                          const uint8_t *w, size_t rb, const reeli_q8x *x,
                                          int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t bb = q4 ? 18 : 34;
    __m256 acc[4][16];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq[4], aw[4];
        __m256 dw[4];
        DR_UNROLL
        for (int i = 0; i < RM; i++) {
            const uint8_t *p = w + (size_t)i * rb + (size_t)b * bb;
            _mm_prefetch((const char *)p + DR_PREFETCH_Q, _MM_HINT_T0);
            wq[i] = DR_NAME(unpack)(q4, p);
            dw[i] = _mm256_set1_ps(DR_NAME(f16)(p));
            if (!q4) aw[i] = _mm256_sign_epi8(wq[i], wq[i]);
        }
        DR_UNROLL
        for (int j = 0; j < TN; j++) {
            const reeli_q8x *xb = x + (size_t)j * (size_t)xs + b;
            const __m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs);
            const __m256 dx = _mm256_set1_ps(xb->d);
            const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(xb->s8));
            DR_UNROLL
            for (int i = 0; i < RM; i++) {
                __m256i p;
                if (q4) {
#if DR_VNNI
                    p = _mm256_dpbusd_epi32(init, wq[i], xq);
#else
                    p = _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_maddubs_epi16(wq[i], xq), _mm256_set1_epi16(1)),
                        init);
#endif
                } else {
                    const __m256i sx = _mm256_sign_epi8(xq, wq[i]);
#if DR_VNNI
                    p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw[i], sx);
#else
                    p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[i], sx), _mm256_set1_epi16(1));
#endif
                }
                acc[i][j] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(dw[i], dx), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < TN; j++)
            y[(size_t)j * (size_t)ys + (size_t)i] = DR_NAME(hsum)(acc[i][j]);
}

#if DR_VNNI
/* 8 rows x 8 dwords -> r[k] = dword k of every row (row i in lane i). */
DR_INLINE void DR_NAME(transpose8)(__m256i r[8])
{
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* 8 rows at once with the rows in the lanes: the 8 weight blocks are transposed so that one
 * dpbusd against a broadcast dword of x advances all 8 row dots by 4 products; one convert and
 * one FMA per block then serve 8 rows, and the 8 results are stored without a horizontal sum.
 * Q4_0: dpbusd(s8, nibbles, x). Q8_0: dpbusd(16 s8, w + 128, x). Row i's result is
 * a sequential fp32 sum over the blocks in lane i, whatever TN. */
DR_INLINE void DR_NAME(tile8_q8_0_or_q4_0)(const int TN, const int q4, const uint8_t *w, size_t rb,
                                           const reeli_q8x *x, int64_t xs, int64_t nb, float *y,
                                           int64_t ys)
{
    const size_t bb = q4 ? 18 : 34;
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wt[8];
        uint16_t sc[8];
        DR_UNROLL
        for (int i = 0; i < 8; i++) {
            const uint8_t *p = w + (size_t)i * rb + (size_t)b * bb;
            _mm_prefetch((const char *)p + DR_PREFETCH_Q, _MM_HINT_T0);
            wt[i] = DR_NAME(unpack)(q4, p);
            memcpy(&sc[i], p, 2);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)sc));
        DR_NAME(transpose8)(wt);
        if (!q4) {
            DR_UNROLL
            for (int k = 0; k < 8; k++) wt[k] = _mm256_xor_si256(wt[k], _mm256_set1_epi8(-128));
        }
        b8_block8(TN, q4, 0, wt, dw, x, xs, b, acc);
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}
#endif

/* ---- Q5_0, Q5_1, Q4_1, IQ4_NL, Q2_K..Q6_K ---- */

/* super-block p, block j: unsigned weights (Q2_K 0..3, Q3_K 0..7, Q4_K 0..15, Q5_K 0..31,
 * Q6_K 0..63) */
DR_INLINE __m256i DR_NAME(kunpack)(const int ty, const uint8_t *p, const int j)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    if (ty == DOT_Q2_K || ty == DOT_Q3_K) {
        /* halves of 128: 32 bytes of qs each (at 16 / 32), block jj of a half in bits 2jj,
         * 2jj+1 of every byte; Q3_K's third bit is bit j of hmask[l] (at 0), moved to bit 2 */
        const int h = j / 4, jj = j % 4;
        const __m256i v =
            _mm256_loadu_si256((const __m256i *)(p + (ty == DOT_Q2_K ? 16 : 32) + 32 * h));
        __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 2 * jj), _mm256_set1_epi8(3));
        if (ty == DOT_Q3_K) {
            const __m256i hm = _mm256_loadu_si256((const __m256i *)p);
            const __m256i hb = j < 2    ? _mm256_slli_epi16(hm, 2 - j)
                               : j == 2 ? hm
                                        : _mm256_srli_epi16(hm, j - 2);
            u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(4)));
        }
        return u;
    }
    if (ty == DOT_Q6_K) {
        /* halves of 128: ql[64] at 64h, qh[32] at 128 + 32h; block jj of a half takes the low
         * (jj < 2) or high nibbles of ql[32 (jj & 1) ..] and bits 2jj, 2jj+1 of qh */
        const int h = j / 4, jj = j % 4;
        const __m256i ql = _mm256_loadu_si256((const __m256i *)(p + 64 * h + 32 * (jj & 1)));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 128 + 32 * h));
        const __m256i lo =
            jj < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
        /* bits 2jj, 2jj+1 of each byte to bits 4, 5 (16-bit shifts: what crosses into the
         * other byte is masked off) */
        const __m256i hs = jj == 0   ? _mm256_slli_epi16(qh, 4)
                           : jj == 1 ? _mm256_slli_epi16(qh, 2)
                           : jj == 2 ? qh
                                     : _mm256_srli_epi16(qh, 2);
        const __m256i hb = _mm256_and_si256(hs, _mm256_set1_epi8(0x30));
        return _mm256_or_si256(lo, hb);
    }
    const uint8_t *qs = p + (ty == DOT_Q5_K ? 48 : 16) + 32 * (j / 2);
    const __m256i v = _mm256_loadu_si256((const __m256i *)qs);
    __m256i u = j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
    if (ty == DOT_Q5_K) { /* bit j of qh[l] is the fifth bit of element l of block j */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        const __m256i hb = j < 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
        u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
    return u;
}

/* the 16 nibbles at q: elements 0..15 low nibbles, 16..31 high */
DR_INLINE __m256i DR_NAME(nibbles)(const uint8_t *q)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* 32-bit qh -> bit j as 0x10 in byte j */
DR_INLINE __m256i DR_NAME(q5_high)(const uint8_t *p)
{
    uint32_t qh;
    memcpy(&qh, p, 4);
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                         2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), sel);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
    return _mm256_and_si256(v, _mm256_set1_epi8(16));
}

/* 32-block p: Q5_0 / Q5_1 / Q4_1 unsigned weights; IQ4_NL the signed table values */
DR_INLINE __m256i DR_NAME(lunpack)(const int ty, const uint8_t *p)
{
    switch (ty) {
    case DOT_Q5_0:
        return _mm256_or_si256(DR_NAME(nibbles)(p + 6), DR_NAME(q5_high)(p + 2));
    case DOT_Q5_1:
        return _mm256_or_si256(DR_NAME(nibbles)(p + 8), DR_NAME(q5_high)(p + 4));
    case DOT_Q4_1:
        return DR_NAME(nibbles)(p + 4);
    default: {
        const __m256i kv = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38,
                                            53, 69, 89, 113, -127, -104, -83, -65, -49, -35, -22,
                                            -10, 1, 13, 25, 38, 53, 69, 89, 113);
        return _mm256_shuffle_epi8(kv, DR_NAME(nibbles)(p + 2));
    }
    }
}

/* ---- tiles: y[t*ys + r] = row r of w (RM rows, rb bytes apart) . token t of x (TN records,
 * xs bytes apart) for rows of n elements ---- */

/* Q2_K..Q6_K, one super-block of 256 (8 blocks) of every row at a time */
DR_INLINE void DR_NAME(tile_k_quant)(const int RM, const int TN, const int ty, const uint8_t *w,
                                     size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y,
                                     int64_t ys)
{
    const int64_t nb = n / 32, nsb = n / 256;
    const size_t sbb = ty == DOT_Q4_K   ? 144
                       : ty == DOT_Q5_K ? 176
                       : ty == DOT_Q6_K ? 210
                       : ty == DOT_Q3_K ? 110
                                        : 84;
    /* Q2_K, Q3_K, Q6_K: a scale per 16 elements (two per block) */
    const int k16 = ty == DOT_Q6_K || ty == DOT_Q3_K || ty == DOT_Q2_K;
    __m256 acc[4][16];
    const int8_t *xq[16];
    const float *xd[16], *xsum[16];
    const int16_t *xh[16];
    for (int t = 0; t < TN; t++) {
        const uint8_t *base = x + (size_t)t * xs;
        xq[t] = (const int8_t *)base;
        xd[t] = (const float *)(base + n);
        xsum[t] = xd[t] + nb;
        xh[t] = (const int16_t *)(xd[t] + 3 * nb);
        for (int r = 0; r < RM; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t sb = 0; sb < nsb; sb++) {
        const uint8_t *p[4];
        __m256 dr[4], mv[4];
        __m256i sc16[4], m16[4];
        for (int r = 0; r < RM; r++) {
            p[r] = w + (size_t)r * rb + (size_t)sb * sbb;
            _mm_prefetch((const char *)p[r] + DR_PREFETCH_K, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + DR_PREFETCH_K + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + DR_PREFETCH_K + 128, _MM_HINT_T0);
            if (ty == DOT_Q6_K) {
                dr[r] = _mm256_set1_ps(DR_NAME(f16)(p[r] + 208));
                sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p[r] + 192)));
            } else if (ty == DOT_Q3_K) {
                dr[r] = _mm256_set1_ps(DR_NAME(f16)(p[r] + 108));
                sc16[r] = _mm256_cvtepi8_epi16(k3_scales(p[r] + 96));
            } else if (ty == DOT_Q2_K) {
                /* 16 bytes: scale in the low nibble, minimum in the high one */
                const __m128i v = _mm_loadu_si128((const __m128i *)p[r]);
                dr[r] = _mm256_set1_ps(DR_NAME(f16)(p[r] + 80));
                mv[r] = _mm256_set1_ps(DR_NAME(f16)(p[r] + 82));
                sc16[r] = _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm_set1_epi8(15)));
                m16[r] =
                    _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)));
            } else {
                uint64_t sc, m;
                k4_scales(p[r] + 4, &sc, &m);
#if DR_VNNI
                /* the scales go into the float factor: d sc_j */
                dr[r] = _mm256_mul_ps(
                    _mm256_set1_ps(DR_NAME(f16)(p[r])),
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
#else
                dr[r] = _mm256_set1_ps(DR_NAME(f16)(p[r]));
#endif
                /* the 8 scales as int16, in both halves */
                sc16[r] = _mm256_broadcastsi128_si256(
                    _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
                mv[r] = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))),
                    _mm256_set1_ps(DR_NAME(f16)(p[r] + 2)));
            }
        }
        /* fac[r][t] lane j = d of row r times dx of token t's block j; the super-block's
         * minimum (Q2_K, Q4_K, Q5_K) or offset (Q3_K -4, Q6_K -32) terms, one lane per block */
        __m256 fac[4][16];
        for (int t = 0; t < TN; t++) {
            const __m256 dxv = _mm256_loadu_ps(xd[t] + 8 * sb);
            for (int r = 0; r < RM; r++) {
                fac[r][t] = _mm256_mul_ps(dr[r], dxv);
                if (k16) {
                    /* lane j: the 16-element scales (Q2_K minimums) of block j times the
                     * activation sums of its two halves */
                    const __m256i hv = _mm256_loadu_si256((const __m256i *)(xh[t] + 16 * sb));
                    const __m256 corr = _mm256_cvtepi32_ps(
                        _mm256_madd_epi16(ty == DOT_Q2_K ? m16[r] : sc16[r], hv));
                    if (ty == DOT_Q2_K)
                        acc[r][t] = _mm256_fnmadd_ps(corr, _mm256_mul_ps(mv[r], dxv), acc[r][t]);
                    else
                        acc[r][t] = _mm256_fnmadd_ps(
                            _mm256_mul_ps(corr, _mm256_set1_ps(ty == DOT_Q6_K ? 32.0f : 4.0f)),
                            fac[r][t], acc[r][t]);
                } else {
                    acc[r][t] =
                        _mm256_fnmadd_ps(mv[r], _mm256_loadu_ps(xsum[t] + 8 * sb), acc[r][t]);
                }
            }
        }
        DR_UNROLL
        for (int j = 0; j < 8; j++) {
            /* the int16 factors of block j: Q2_K / Q3_K / Q6_K sc[2j] for its first 16
             * elements, sc[2j+1] for the rest (dword j of sc16 holds that pair); Q4_K / Q5_K
             * sc[j] throughout */
            const __m256i sel =
                k16 ? _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3,
                                       2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3)
                    : _mm256_set1_epi16((short)(0x0101 * 2 * j + 0x0100));
            const __m256i lane = _mm256_set1_epi32(j);
            __m256i u[4], S[4];
            DR_UNROLL
            for (int r = 0; r < RM; r++) {
                u[r] = DR_NAME(kunpack)(ty, p[r], j);
                S[r] = k16 ? _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16[r], lane), sel)
                           : _mm256_shuffle_epi8(sc16[r], sel);
            }
            DR_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 256 * sb + 32 * j));
                DR_UNROLL
                for (int r = 0; r < RM; r++) {
#if DR_VNNI
                    const __m256i pr = k16 ? _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), S[r])
                                           : _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[r], xv);
#else
                    const __m256i pr = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), S[r]);
#endif
                    acc[r][t] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr), DR_BCAST(fac[r][t], j), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++)
            y[(size_t)t * (size_t)ys + (size_t)r] = DR_NAME(hsum)(acc[r][t]);
}

/* 8 f16 in the low halves of the dwords (high halves 0) -> 8 floats */
DR_INLINE __m256 DR_NAME(f16x8)(__m256i v)
{
    v = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(v));
}

/* The 32-block types in groups of 8 blocks, like the K types: per group and row the 8 block
 * scales (and minimums) as vectors, so that per block and token the work is maddubs, madd,
 * convert, broadcast of the factor and one FMA; the Q5_0 offset (-16 x32) and the minimum
 * terms are added per group, one lane per block. The last group may be partial. */
DR_INLINE void DR_NAME(tile_block32)(const int RM, const int TN, const int ty, const uint8_t *w,
                                     size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y,
                                     int64_t ys)
{
    const int64_t nb = n / 32;
    const size_t bb = ty == DOT_Q5_0 ? 22 : ty == DOT_Q5_1 ? 24 : ty == DOT_Q4_1 ? 20 : 18;
    const int with_min = ty == DOT_Q5_1 || ty == DOT_Q4_1;
    __m256 acc[4][16];
    const int8_t *xq[16];
    const float *xd[16], *xsum[16];
    const int32_t *x32[16];
    for (int t = 0; t < TN; t++) {
        const uint8_t *base = x + (size_t)t * xs;
        xq[t] = (const int8_t *)base;
        xd[t] = (const float *)(base + n);
        xsum[t] = xd[t] + nb;
        x32[t] = (const int32_t *)(xd[t] + 2 * nb);
        for (int r = 0; r < RM; r++) acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t g = 0; g < nb; g += 8) {
        const int nj = nb - g < 8 ? (int)(nb - g) : 8;
        const __m256i live = lanes_below(nj);
        __m256 dw[4], mw[4];
        for (int r = 0; r < RM; r++) {
            const uint8_t *p = w + (size_t)r * rb + (size_t)g * bb;
            /* dword j = the first 4 bytes of block j: d, then m (Q5_1 / Q4_1) */
            const __m256i offs = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                    _mm256_set1_epi32((int)bb));
            const __m256i hd = nj == 8 ? _mm256_i32gather_epi32((const int *)p, offs, 1)
                                       : _mm256_mask_i32gather_epi32(_mm256_setzero_si256(),
                                                                     (const int *)p, offs, live, 1);
            dw[r] = DR_NAME(f16x8)(_mm256_and_si256(hd, _mm256_set1_epi32(0xffff)));
            if (with_min) mw[r] = DR_NAME(f16x8)(_mm256_srli_epi32(hd, 16));
        }
        __m256 fac[4][16];
        for (int t = 0; t < TN; t++) {
            const __m256 dxv =
                nj == 8 ? _mm256_loadu_ps(xd[t] + g) : _mm256_maskload_ps(xd[t] + g, live);
            for (int r = 0; r < RM; r++) {
                fac[r][t] = _mm256_mul_ps(dw[r], dxv);
                if (ty == DOT_Q5_0) {
                    const __m256i o = nj == 8
                                          ? _mm256_loadu_si256((const __m256i *)(x32[t] + g))
                                          : _mm256_maskload_epi32((const int *)(x32[t] + g), live);
                    acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(fac[r][t], _mm256_set1_ps(16.0f)),
                                                 _mm256_cvtepi32_ps(o), acc[r][t]);
                }
                if (with_min) {
                    const __m256 sv = nj == 8 ? _mm256_loadu_ps(xsum[t] + g)
                                              : _mm256_maskload_ps(xsum[t] + g, live);
                    acc[r][t] = _mm256_fmadd_ps(mw[r], sv, acc[r][t]);
                }
            }
        }
        DR_UNROLL
        for (int j = 0; j < 8; j++) {
            if (j >= nj) break;
            __m256i u[4], au[4];
            DR_UNROLL
            for (int r = 0; r < RM; r++) {
                const uint8_t *p = w + (size_t)r * rb + (size_t)(g + j) * bb;
                if (j == 0) _mm_prefetch((const char *)p + DR_PREFETCH_K, _MM_HINT_T0);
                if (j == 3) _mm_prefetch((const char *)p + DR_PREFETCH_K, _MM_HINT_T0);
                if (j == 6) _mm_prefetch((const char *)p + DR_PREFETCH_K, _MM_HINT_T0);
                u[r] = DR_NAME(lunpack)(ty, p);
                if (ty == DOT_IQ4_NL) au[r] = _mm256_sign_epi8(u[r], u[r]);
            }
            DR_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 32 * (g + j)));
                DR_UNROLL
                for (int r = 0; r < RM; r++) {
                    const __m256i a = ty == DOT_IQ4_NL ? au[r] : u[r];
                    const __m256i b = ty == DOT_IQ4_NL ? _mm256_sign_epi8(xv, u[r]) : xv;
#if DR_VNNI
                    const __m256i pr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#else
                    const __m256i pr =
                        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
                    acc[r][t] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr), DR_BCAST(fac[r][t], j), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++)
            y[(size_t)t * (size_t)ys + (size_t)r] = DR_NAME(hsum)(acc[r][t]);
}

/* ---- the tile functions: dot_<weights>_q8_<rows>x<tokens> ---- */

#define DR_DOT(fmt, rm, tn) DR_CAT(DR_CAT(DR_CAT(dot_, fmt), _q8_), DR_CAT(DR_CAT(rm, x), tn))

/* Q8_0 / Q4_0: fn(w, rb, x, xs, nb, y, ys) */
#define DR_QTILE(fn, fmt, rm, tn, q)                                                               \
    DR_TARGET static void DR_NAME(DR_DOT(fmt, rm, tn))(const uint8_t *w, size_t rb,                \
                                                       const reeli_q8x *x, int64_t xs, int64_t nb, \
                                                       float *y, int64_t ys)                       \
    {                                                                                              \
        DR_NAME(fn)(rm, tn, q, w, rb, x, xs, nb, y, ys);                                           \
    }
#define DR_QTILE8(fn, fmt, tn, q)                                                                  \
    DR_TARGET static void DR_NAME(DR_DOT(fmt, 8, tn))(const uint8_t *w, size_t rb,                 \
                                                      const reeli_q8x *x, int64_t xs, int64_t nb,  \
                                                      float *y, int64_t ys)                        \
    {                                                                                              \
        DR_NAME(fn)(tn, q, w, rb, x, xs, nb, y, ys);                                               \
    }
#if DR_VNNI
DR_QTILE8(tile8_q8_0_or_q4_0, q8_0, 1, 0)
DR_QTILE8(tile8_q8_0_or_q4_0, q4_0, 1, 1)
DR_QTILE8(tile8_q8_0_or_q4_0, q8_0, DR_QTN, 0)
DR_QTILE8(tile8_q8_0_or_q4_0, q4_0, DR_QTN, 1)
#endif
DR_QTILE(tile_q8_0_or_q4_0, q8_0, 1, 1, 0)
DR_QTILE(tile_q8_0_or_q4_0, q4_0, 1, 1, 1)
DR_QTILE(tile_q8_0_or_q4_0, q8_0, 1, DR_QTN, 0)
DR_QTILE(tile_q8_0_or_q4_0, q4_0, 1, DR_QTN, 1)
DR_QTILE(tile_q8_0_or_q4_0, q8_0, 4, 1, 0)
DR_QTILE(tile_q8_0_or_q4_0, q4_0, 4, 1, 1)
#if !DR_VNNI
DR_QTILE(tile_q8_0_or_q4_0, q8_0, DR_QRM, 1, 0)
DR_QTILE(tile_q8_0_or_q4_0, q4_0, DR_QRM, 1, 1)
DR_QTILE(tile_q8_0_or_q4_0, q8_0, DR_QRM, DR_QTN, 0)
DR_QTILE(tile_q8_0_or_q4_0, q4_0, DR_QRM, DR_QTN, 1)
#endif
#undef DR_QTILE8
#undef DR_QTILE

/* [0] Q8_0, [1] Q4_0 */
#define DR_QPAIR(rm, tn)                                                                           \
    {                                                                                              \
        DR_NAME(DR_DOT(q8_0, rm, tn)), DR_NAME(DR_DOT(q4_0, rm, tn))                               \
    }
static const dr_q_tiles DR_NAME(q_tiles) = {
    .rm1 = 4,
    .tn = DR_QTN,
    .r4x1 = DR_QPAIR(4, 1),
    .r1x1 = DR_QPAIR(1, 1),
    .r1xtn = DR_QPAIR(1, DR_QTN),
#if DR_VNNI
    .rm = 8,
    .rmx1 = DR_QPAIR(8, 1),
    .rmxtn = DR_QPAIR(8, DR_QTN),
#else
    .rm = DR_QRM,
    .rmx1 = DR_QPAIR(DR_QRM, 1),
    .rmxtn = DR_QPAIR(DR_QRM, DR_QTN),
#endif
};
#undef DR_QPAIR

/* The other types: fn(w, rb, x, xs, n, y, ys) */
#define DR_KTILE(fn, ty, fmt, rm, tn)                                                              \
    DR_TARGET static void DR_NAME(DR_DOT(fmt, rm, tn))(                                            \
        const uint8_t *w, size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y, int64_t ys) \
    {                                                                                              \
        DR_NAME(fn)(rm, tn, DOT_##ty, w, rb, x, xs, n, y, ys);                                     \
    }
#define DR_KSHAPES(fn, ty, fmt)                                                                    \
    DR_KTILE(fn, ty, fmt, 4, 1)                                                                    \
    DR_KTILE(fn, ty, fmt, DR_KRM, DR_KTN)                                                          \
    DR_KTILE(fn, ty, fmt, DR_KRM, 1)                                                               \
    DR_KTILE(fn, ty, fmt, 1, DR_KTN)                                                               \
    DR_KTILE(fn, ty, fmt, 1, 1)
DR_KSHAPES(tile_k_quant, Q4_K, q4_k)
DR_KSHAPES(tile_k_quant, Q5_K, q5_k)
DR_KSHAPES(tile_k_quant, Q6_K, q6_k)
DR_KSHAPES(tile_k_quant, Q3_K, q3_k)
DR_KSHAPES(tile_k_quant, Q2_K, q2_k)
DR_KSHAPES(tile_block32, Q5_0, q5_0)
DR_KSHAPES(tile_block32, Q5_1, q5_1)
DR_KSHAPES(tile_block32, Q4_1, q4_1)
DR_KSHAPES(tile_block32, IQ4_NL, iq4_nl)
#undef DR_KSHAPES
#undef DR_KTILE

#define DR_KALL(rm, tn)                                                                            \
    {                                                                                              \
        [DOT_Q4_K] = DR_NAME(DR_DOT(q4_k, rm, tn)), [DOT_Q5_K] = DR_NAME(DR_DOT(q5_k, rm, tn)),    \
        [DOT_Q6_K] = DR_NAME(DR_DOT(q6_k, rm, tn)), [DOT_Q5_0] = DR_NAME(DR_DOT(q5_0, rm, tn)),    \
        [DOT_Q5_1] = DR_NAME(DR_DOT(q5_1, rm, tn)), [DOT_Q4_1] = DR_NAME(DR_DOT(q4_1, rm, tn)),    \
        [DOT_IQ4_NL] = DR_NAME(DR_DOT(iq4_nl, rm, tn)),                                            \
        [DOT_Q3_K] = DR_NAME(DR_DOT(q3_k, rm, tn)), [DOT_Q2_K] = DR_NAME(DR_DOT(q2_k, rm, tn)),    \
    }
static const dr_k_tiles DR_NAME(k_tiles) = {
    .rm1 = 4,
    .rm = DR_KRM,
    .tn = DR_KTN,
    .r4x1 = DR_KALL(4, 1),
    .rmxtn = DR_KALL(DR_KRM, DR_KTN),
    .rmx1 = DR_KALL(DR_KRM, 1),
    .r1xtn = DR_KALL(1, DR_KTN),
    .r1x1 = DR_KALL(1, 1),
};
#undef DR_KALL
#undef DR_DOT
#undef DR_INLINE
#undef DR_UNROLL
