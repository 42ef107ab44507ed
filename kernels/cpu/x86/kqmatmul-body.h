/* Tiles of the integer-dot matmul for Q5_0 / Q5_1 / Q4_1 / IQ4_NL / Q2_K..Q6_K weights
 * (see kqmatmul.c), included once per ISA with KQ_NAME(x) (suffixes names), KQ_BTARGET (the
 * function target attribute), KQ_VNNI, KQ_RM and KQ_TN (rows and tokens of a batch tile, at
 * most 4 and 16).
 *
 * Under VNNI one dpbusd replaces maddubs + madd where the madd factor is 1 (the 32-block types:
 * the same integers, so the same bits as AVX2) or a per-block scale that can move into the
 * float factor instead (Q4_K / Q5_K: factor d sc_j dx_j, the last bits may differ from AVX2);
 * Q2_K, Q3_K and Q6_K keep maddubs + madd for their two scales per block. */

#define KQ_BINLINE KQ_BTARGET static inline __attribute__((always_inline))

/* super-block p, block j: unsigned weights (Q2_K 0..3, Q3_K 0..7, Q4_K 0..15, Q5_K 0..31,
 * Q6_K 0..63) */
KQ_BINLINE __m256i KQ_NAME(kunpack)(const int ty, const uint8_t *p, const int j)
{
    const __m256i m4 = _mm256_set1_epi8(15);
    if (ty == KQ_Q2_K || ty == KQ_Q3_K) {
        /* halves of 128: 32 bytes of qs each (at 16 / 32), block jj of a half in bits 2jj,
         * 2jj+1 of every byte; Q3_K's third bit is bit j of hmask[l] (at 0), moved to bit 2 */
        const int h = j / 4, jj = j % 4;
        const __m256i v =
            _mm256_loadu_si256((const __m256i *)(p + (ty == KQ_Q2_K ? 16 : 32) + 32 * h));
        __m256i u = _mm256_and_si256(_mm256_srli_epi16(v, 2 * jj), _mm256_set1_epi8(3));
        if (ty == KQ_Q3_K) {
            const __m256i hm = _mm256_loadu_si256((const __m256i *)p);
            const __m256i hb = j < 2    ? _mm256_slli_epi16(hm, 2 - j)
                               : j == 2 ? hm
                                        : _mm256_srli_epi16(hm, j - 2);
            u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(4)));
        }
        return u;
    }
    if (ty == KQ_Q6_K) {
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
    const uint8_t *qs = p + (ty == KQ_Q5_K ? 48 : 16) + 32 * (j / 2);
    const __m256i v = _mm256_loadu_si256((const __m256i *)qs);
    __m256i u = j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
    if (ty == KQ_Q5_K) { /* bit j of qh[l] is the fifth bit of element l of block j */
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        const __m256i hb = j < 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
        u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
    return u;
}

/* the 16 nibbles at q: elements 0..15 low nibbles, 16..31 high */
KQ_BINLINE __m256i KQ_NAME(nibbles)(const uint8_t *q)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)q);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* 32-bit qh -> bit j as 0x10 in byte j */
KQ_BINLINE __m256i KQ_NAME(q5_high)(const uint8_t *p)
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
KQ_BINLINE __m256i KQ_NAME(lunpack)(const int ty, const uint8_t *p)
{
    switch (ty) {
    case KQ_Q5_0:
        return _mm256_or_si256(KQ_NAME(nibbles)(p + 6), KQ_NAME(q5_high)(p + 2));
    case KQ_Q5_1:
        return _mm256_or_si256(KQ_NAME(nibbles)(p + 8), KQ_NAME(q5_high)(p + 4));
    case KQ_Q4_1:
        return KQ_NAME(nibbles)(p + 4);
    default: {
        const __m256i kv = _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38,
                                            53, 69, 89, 113, -127, -104, -83, -65, -49, -35, -22,
                                            -10, 1, 13, 25, 38, 53, 69, 89, 113);
        return _mm256_shuffle_epi8(kv, KQ_NAME(nibbles)(p + 2));
    }
    }
}

/* ---- tiles: y[t*ys + r] = row r of w (RM rows, rb bytes apart) . token t of x (TN records,
 * xs bytes apart) for rows of n elements ---- */

KQ_BINLINE void KQ_NAME(ktile)(const int RM, const int TN, const int ty, const uint8_t *w,
                               size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y,
                               int64_t ys)
{
    const int64_t nb = n / 32, nsb = n / 256;
    const size_t sbb = ty == KQ_Q4_K   ? 144
                       : ty == KQ_Q5_K ? 176
                       : ty == KQ_Q6_K ? 210
                       : ty == KQ_Q3_K ? 110
                                       : 84;
    /* Q2_K, Q3_K, Q6_K: a scale per 16 elements (two per block) */
    const int k16 = ty == KQ_Q6_K || ty == KQ_Q3_K || ty == KQ_Q2_K;
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
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH + 64, _MM_HINT_T0);
            _mm_prefetch((const char *)p[r] + KQ_PREFETCH + 128, _MM_HINT_T0);
            if (ty == KQ_Q6_K) {
                dr[r] = _mm256_set1_ps(f16(p[r] + 208));
                sc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p[r] + 192)));
            } else if (ty == KQ_Q3_K) {
                dr[r] = _mm256_set1_ps(f16(p[r] + 108));
                sc16[r] = _mm256_cvtepi8_epi16(k3_scales(p[r] + 96));
            } else if (ty == KQ_Q2_K) {
                /* 16 bytes: scale in the low nibble, minimum in the high one */
                const __m128i v = _mm_loadu_si128((const __m128i *)p[r]);
                dr[r] = _mm256_set1_ps(f16(p[r] + 80));
                mv[r] = _mm256_set1_ps(f16(p[r] + 82));
                sc16[r] = _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm_set1_epi8(15)));
                m16[r] =
                    _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)));
            } else {
                uint64_t sc, m;
                k4_scales(p[r] + 4, &sc, &m);
#if KQ_VNNI
                /* the scales go into the float factor: d sc_j */
                dr[r] = _mm256_mul_ps(
                    _mm256_set1_ps(f16(p[r])),
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))));
#else
                dr[r] = _mm256_set1_ps(f16(p[r]));
#endif
                /* the 8 scales as int16, in both halves */
                sc16[r] = _mm256_broadcastsi128_si256(
                    _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
                mv[r] = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))),
                    _mm256_set1_ps(f16(p[r] + 2)));
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
                    const __m256 corr =
                        _mm256_cvtepi32_ps(_mm256_madd_epi16(ty == KQ_Q2_K ? m16[r] : sc16[r], hv));
                    if (ty == KQ_Q2_K)
                        acc[r][t] = _mm256_fnmadd_ps(corr, _mm256_mul_ps(mv[r], dxv), acc[r][t]);
                    else
                        acc[r][t] = _mm256_fnmadd_ps(
                            _mm256_mul_ps(corr, _mm256_set1_ps(ty == KQ_Q6_K ? 32.0f : 4.0f)),
                            fac[r][t], acc[r][t]);
                } else {
                    acc[r][t] =
                        _mm256_fnmadd_ps(mv[r], _mm256_loadu_ps(xsum[t] + 8 * sb), acc[r][t]);
                }
            }
        }
        KQ_UNROLL
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
            KQ_UNROLL
            for (int r = 0; r < RM; r++) {
                u[r] = KQ_NAME(kunpack)(ty, p[r], j);
                S[r] = k16 ? _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16[r], lane), sel)
                           : _mm256_shuffle_epi8(sc16[r], sel);
            }
            KQ_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 256 * sb + 32 * j));
                KQ_UNROLL
                for (int r = 0; r < RM; r++) {
#if KQ_VNNI
                    const __m256i pr = k16 ? _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), S[r])
                                           : _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[r], xv);
#else
                    const __m256i pr = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r], xv), S[r]);
#endif
                    acc[r][t] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr), KQ_BCAST(fac[r][t], j), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++) y[(size_t)t * (size_t)ys + (size_t)r] = hsum(acc[r][t]);
}

/* 8 f16 in the low halves of the dwords (high halves 0) -> 8 floats */
KQ_BINLINE __m256 KQ_NAME(f16x8)(__m256i v)
{
    v = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
    return _mm256_cvtph_ps(_mm256_castsi256_si128(v));
}

/* The 32-block types in groups of 8 blocks, like the K types: per group and row the 8 block
 * scales (and minimums) as vectors, so that per block and token the work is maddubs, madd,
 * convert, broadcast of the factor and one FMA; the Q5_0 offset (-16 x32) and the minimum
 * terms are added per group, one lane per block. The last group may be partial. */
KQ_BINLINE void KQ_NAME(ltile)(const int RM, const int TN, const int ty, const uint8_t *w,
                               size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y,
                               int64_t ys)
{
    const int64_t nb = n / 32;
    const size_t bb = ty == KQ_Q5_0 ? 22 : ty == KQ_Q5_1 ? 24 : ty == KQ_Q4_1 ? 20 : 18;
    const int with_min = ty == KQ_Q5_1 || ty == KQ_Q4_1;
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
            dw[r] = KQ_NAME(f16x8)(_mm256_and_si256(hd, _mm256_set1_epi32(0xffff)));
            if (with_min) mw[r] = KQ_NAME(f16x8)(_mm256_srli_epi32(hd, 16));
        }
        __m256 fac[4][16];
        for (int t = 0; t < TN; t++) {
            const __m256 dxv =
                nj == 8 ? _mm256_loadu_ps(xd[t] + g) : _mm256_maskload_ps(xd[t] + g, live);
            for (int r = 0; r < RM; r++) {
                fac[r][t] = _mm256_mul_ps(dw[r], dxv);
                if (ty == KQ_Q5_0) {
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
        KQ_UNROLL
        for (int j = 0; j < 8; j++) {
            if (j >= nj) break;
            __m256i u[4], au[4];
            KQ_UNROLL
            for (int r = 0; r < RM; r++) {
                const uint8_t *p = w + (size_t)r * rb + (size_t)(g + j) * bb;
                if (j == 0) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                if (j == 3) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                if (j == 6) _mm_prefetch((const char *)p + KQ_PREFETCH, _MM_HINT_T0);
                u[r] = KQ_NAME(lunpack)(ty, p);
                if (ty == KQ_IQ4_NL) au[r] = _mm256_sign_epi8(u[r], u[r]);
            }
            KQ_UNROLL
            for (int t = 0; t < TN; t++) {
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(xq[t] + 32 * (g + j)));
                KQ_UNROLL
                for (int r = 0; r < RM; r++) {
                    const __m256i a = ty == KQ_IQ4_NL ? au[r] : u[r];
                    const __m256i b = ty == KQ_IQ4_NL ? _mm256_sign_epi8(xv, u[r]) : xv;
#if KQ_VNNI
                    const __m256i pr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);
#else
                    const __m256i pr =
                        _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
#endif
                    acc[r][t] =
                        _mm256_fmadd_ps(_mm256_cvtepi32_ps(pr), KQ_BCAST(fac[r][t], j), acc[r][t]);
                }
            }
        }
    }
    for (int t = 0; t < TN; t++)
        for (int r = 0; r < RM; r++) y[(size_t)t * (size_t)ys + (size_t)r] = hsum(acc[r][t]);
}

#define KQ_TILE(kind, ty, role, rm, tn)                                                            \
    KQ_BTARGET static void KQ_NAME(kind##_##ty##_##role)(                                          \
        const uint8_t *w, size_t rb, const uint8_t *x, size_t xs, int64_t n, float *y, int64_t ys) \
    {                                                                                              \
        KQ_NAME(kind)(rm, tn, KQ_##ty, w, rb, x, xs, n, y, ys);                                    \
    }
#define KQ_SHAPES(kind, ty)                                                                        \
    KQ_TILE(kind, ty, t1, 4, 1)                                                                    \
    KQ_TILE(kind, ty, trn, KQ_RM, KQ_TN)                                                           \
    KQ_TILE(kind, ty, tr1, KQ_RM, 1)                                                               \
    KQ_TILE(kind, ty, t1n, 1, KQ_TN)                                                               \
    KQ_TILE(kind, ty, t11, 1, 1)
KQ_SHAPES(ktile, Q4_K)
KQ_SHAPES(ktile, Q5_K)
KQ_SHAPES(ktile, Q6_K)
KQ_SHAPES(ktile, Q3_K)
KQ_SHAPES(ktile, Q2_K)
KQ_SHAPES(ltile, Q5_0)
KQ_SHAPES(ltile, Q5_1)
KQ_SHAPES(ltile, Q4_1)
KQ_SHAPES(ltile, IQ4_NL)
#undef KQ_SHAPES
#undef KQ_TILE

#define KQ_ALL(role)                                                                               \
    {                                                                                              \
        [KQ_Q4_K] = KQ_NAME(ktile_Q4_K_##role), [KQ_Q5_K] = KQ_NAME(ktile_Q5_K_##role),            \
        [KQ_Q6_K] = KQ_NAME(ktile_Q6_K_##role), [KQ_Q5_0] = KQ_NAME(ltile_Q5_0_##role),            \
        [KQ_Q5_1] = KQ_NAME(ltile_Q5_1_##role), [KQ_Q4_1] = KQ_NAME(ltile_Q4_1_##role),            \
        [KQ_IQ4_NL] = KQ_NAME(ltile_IQ4_NL_##role), [KQ_Q3_K] = KQ_NAME(ktile_Q3_K_##role),        \
        [KQ_Q2_K] = KQ_NAME(ktile_Q2_K_##role),                                                    \
    }
static const kq_tiles KQ_NAME(tiles) = {
    .rm1 = 4,
    .rm = KQ_RM,
    .tn = KQ_TN,
    .t1 = KQ_ALL(t1),
    .trn = KQ_ALL(trn),
    .tr1 = KQ_ALL(tr1),
    .t1n = KQ_ALL(t1n),
    .t11 = KQ_ALL(t11),
};
#undef KQ_ALL
#undef KQ_BINLINE
