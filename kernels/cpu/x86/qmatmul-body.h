/* Body of the integer-dot matmul for Q8_0 / Q4_0 weights, included by qmatmul.c once per ISA
 * with QK_NAME(x) (suffixes names), QK_TARGET (the function target attribute) and QK_VNNI set.
 *
 * Activations are quantized per 32-block to int8 with one float scale (GGML's Q8_0 rule,
 * d = amax/127) and s8 = -8 * sum(q). Per block of a row, 8 int32 lanes whose sum is the dot:
 *   Q4_0 (nibbles n = w + 8, unsigned):  dot = sum(n * x) - 8 * sum(x)
 *       AVX2: madd(maddubs(n, x), 1) + [s8, 0, ...]     VNNI: dpbusd([s8, 0, ...], n, x)
 *   Q8_0 (signed w):                     dot = sum(|w| * sign(x, w))
 *       AVX2: madd(maddubs(|w|, sign(x, w)), 1)         VNNI: dpbusd(0, |w|, sign(x, w))
 * (maddubs cannot saturate: 15 * 127 * 2 and 128 * 127 * 2 fit in int16.) Both ISAs produce
 * the same integers. Each lane vector is scaled by d_w * d_x and accumulated in fp32; an output
 * is the horizontal sum of its accumulator after the last block, so tiles of any shape (and
 * AVX2 vs VNNI) give identical bits. */

/* _mm256_round_ps takes its mode as an integer constant expression (clang insists). */
#ifndef QMM_ROUND
#define QMM_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#endif
#ifndef QK_PREFETCH
#define QK_PREFETCH 384
#endif
#define QK_UNROLL _Pragma("GCC unroll 16")
#define QK_INLINE QK_TARGET static inline __attribute__((always_inline))

QK_INLINE float QK_NAME(hsum)(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* x: T rows of n floats -> T rows of n/32 blocks (rows [t0, t1)). */
QK_TARGET static void QK_NAME(quant_x)(const float *x, reeli_q8x *out, int64_t n, int64_t t0,
                                       int64_t t1)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int64_t nb = n / 32;
    for (int64_t t = t0; t < t1; t++) {
        const float *xr = x + t * n;
        reeli_q8x *o = out + t * nb;
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
            const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
            o[b].d = d;
            int sum = 0;
            const __m256 s = _mm256_set1_ps(id);
            __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, s), QMM_ROUND));
            __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, s), QMM_ROUND));
            __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, s), QMM_ROUND));
            __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, s), QMM_ROUND));
            i0 = _mm256_packs_epi32(i0, i1);
            i2 = _mm256_packs_epi32(i2, i3);
            i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
            _mm256_storeu_si256((__m256i *)o[b].qs, i0);
            /* the half sums from the register (reading the bytes back would stall on the
             * store): pairs, quads, then each 128-bit half */
            const __m256i q4s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), i0),
                                                  _mm256_set1_epi16(1));
            __m128i hl = _mm256_castsi256_si128(q4s), hh = _mm256_extracti128_si256(q4s, 1);
            hl = _mm_add_epi32(hl, _mm_unpackhi_epi64(hl, hl));
            hh = _mm_add_epi32(hh, _mm_unpackhi_epi64(hh, hh));
            const int h0 = _mm_cvtsi128_si32(hl) + _mm_extract_epi32(hl, 1);
            sum = _mm_cvtsi128_si32(hh) + _mm_extract_epi32(hh, 1);
            o[b].h16[0] = (int16_t)h0, o[b].h16[1] = (int16_t)sum;
            sum += h0;
            o[b].s8 = -8 * sum;
            o[b].ds = d * (float)sum;
        }
    }
}

QK_INLINE __m256i QK_NAME(unpack)(int q4, const uint8_t *b)
{
    if (!q4) return _mm256_loadu_si256((const __m256i *)(b + 2));
    __m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
    __m256i n = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(n, _mm256_set1_epi8(15)); /* unsigned nibbles, w + 8 */
}

QK_INLINE float QK_NAME(f16)(const uint8_t *b)
{
    uint16_t h;
    memcpy(&h, b, 2);
    return _cvtsh_ss(h);
}

/* y[j*ys + i] = row i of w (RM rows, rb bytes apart) . token j of x (TN tokens, xs blocks apart),
 * over nb blocks of bb bytes. */
QK_INLINE void QK_NAME(tile)(const int RM, const int TN, const int q4, const uint8_t *w, size_t rb,
                             const reeli_q8x *x, int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t bb = q4 ? 18 : 34;
    __m256 acc[4][16];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < TN; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq[4], aw[4];
        __m256 dw[4];
        QK_UNROLL
        for (int i = 0; i < RM; i++) {
            const uint8_t *p = w + (size_t)i * rb + (size_t)b * bb;
            _mm_prefetch((const char *)p + QK_PREFETCH, _MM_HINT_T0);
            wq[i] = QK_NAME(unpack)(q4, p);
            dw[i] = _mm256_set1_ps(QK_NAME(f16)(p));
            if (!q4) aw[i] = _mm256_sign_epi8(wq[i], wq[i]);
        }
        QK_UNROLL
        for (int j = 0; j < TN; j++) {
            const reeli_q8x *xb = x + (size_t)j * (size_t)xs + b;
            const __m256i xq = _mm256_loadu_si256((const __m256i *)xb->qs);
            const __m256 dx = _mm256_set1_ps(xb->d);
            const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(xb->s8));
            QK_UNROLL
            for (int i = 0; i < RM; i++) {
                __m256i p;
                if (q4) {
#if QK_VNNI
                    p = _mm256_dpbusd_epi32(init, wq[i], xq);
#else
                    p = _mm256_add_epi32(
                        _mm256_madd_epi16(_mm256_maddubs_epi16(wq[i], xq), _mm256_set1_epi16(1)),
                        init);
#endif
                } else {
                    const __m256i sx = _mm256_sign_epi8(xq, wq[i]);
#if QK_VNNI
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
            y[(size_t)j * (size_t)ys + (size_t)i] = QK_NAME(hsum)(acc[i][j]);
}

#if QK_VNNI
/* 8 rows x 8 dwords -> r[k] = dword k of every row (row i in lane i). */
QK_INLINE void QK_NAME(transpose8)(__m256i r[8])
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

QK_INLINE __m256i QK_NAME(bcast4)(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* One weight block of 8 transposed rows (wt, scales dw) against block b of TN tokens: adds
 * each token's 8 row results to acc[j]. Shared by the plain (tile8) and interleaved (tile8p)
 * layouts. Q8_0 weights arrive biased to unsigned (w + 128): dpbusd(-128 sum(x), w + 128, x)
 * = sum(w x), with -128 sum(x) = 16 s8 from the activation record. Q4_0 / Q5_0 nibbles are
 * w + 8 / w + 16: the offset is s8 / 2 s8. One token (TN = 1, the decode step) splits Q4_0's
 * and Q5_0's 8 dpbusd into two chains of 4 (half the latency), Q4_0's high nibbles still in place
 * (16 times their value: the sum is exactly divisible, so one arithmetic shift undoes it): with
 * hi16 set, wt[4..7] hold the bytes & 0xF0 instead of the shifted nibbles. */
QK_INLINE void QK_NAME(block8)(const int TN, const int kind, const int hi16, const __m256i *wt,
                               __m256 dw, const reeli_q8x *x, int64_t xs, int64_t b, __m256 *acc)
{
    QK_UNROLL
    for (int j = 0; j < TN; j++) {
        const reeli_q8x *xb = x + (size_t)j * (size_t)xs + b;
        __m256i a;
        if (hi16) {
            __m256i lo = _mm256_set1_epi32(xb->s8), hi = _mm256_setzero_si256();
            QK_UNROLL
            for (int k = 0; k < 4; k++) {
                lo = _mm256_dpbusd_epi32(lo, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
                hi = _mm256_dpbusd_epi32(hi, wt[k + 4], QK_NAME(bcast4)(xb->qs + 16 + 4 * k));
            }
            a = _mm256_add_epi32(lo, _mm256_srai_epi32(hi, 4));
        } else if (TN == 1 && kind == 2) {
            /* Q5_0's decode step: two chains of 4 (+14%; Q8_0's stays one chain, as fast) */
            __m256i lo = _mm256_set1_epi32(2 * xb->s8);
            __m256i hi = _mm256_setzero_si256();
            QK_UNROLL
            for (int k = 0; k < 4; k++) {
                lo = _mm256_dpbusd_epi32(lo, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
                hi = _mm256_dpbusd_epi32(hi, wt[k + 4], QK_NAME(bcast4)(xb->qs + 16 + 4 * k));
            }
            a = _mm256_add_epi32(lo, hi);
        } else {
            a = _mm256_set1_epi32(kind == 2 ? 2 * xb->s8 : kind ? xb->s8 : 16 * xb->s8);
            QK_UNROLL
            for (int k = 0; k < 8; k++)
                a = _mm256_dpbusd_epi32(a, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
        }
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_mul_ps(dw, _mm256_set1_ps(xb->d)),
                                 acc[j]);
    }
}

/* 8 rows at once with the rows in the lanes: the 8 weight blocks are transposed so that one
 * dpbusd against a broadcast dword of x advances all 8 row dots by 4 products; one convert and
 * one FMA per block then serve 8 rows, and the 8 results are stored without a horizontal sum.
 * Q4_0: dpbusd(s8, nibbles, x). Q8_0: dpbusd(16 s8, w + 128, x). Row i's result is
 * a sequential fp32 sum over the blocks in lane i, whatever TN. */
QK_INLINE void QK_NAME(tile8)(const int TN, const int q4, const uint8_t *w, size_t rb,
                              const reeli_q8x *x, int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t bb = q4 ? 18 : 34;
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i wt[8];
        uint16_t sc[8];
        QK_UNROLL
        for (int i = 0; i < 8; i++) {
            const uint8_t *p = w + (size_t)i * rb + (size_t)b * bb;
            _mm_prefetch((const char *)p + QK_PREFETCH, _MM_HINT_T0);
            wt[i] = QK_NAME(unpack)(q4, p);
            memcpy(&sc[i], p, 2);
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)sc));
        QK_NAME(transpose8)(wt);
        if (!q4) {
            QK_UNROLL
            for (int k = 0; k < 8; k++) wt[k] = _mm256_xor_si256(wt[k], _mm256_set1_epi8(-128));
        }
        QK_NAME(block8)(TN, q4, 0, wt, dw, x, xs, b, acc);
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* The same over the interleaved layouts (Q4_0_R8 / Q8_0_R8 / Q5_0_R8, see qmatmul.c): a group
 * of 8 rows stores per block the 8 f16 scales, then dword k of every row side by side, so the
 * transposed vectors are plain loads. w points at the group; row i's result is bit-identical
 * to tile8 on the plain layout (Q5_0 has no plain tile8 here: kqmatmul.c runs plain Q5_0). */
/* One block of a group of an interleaved layout at p into the 8 transposed weight vectors
 * block8 takes (hi16 for a Q4_0 block of one token). */
QK_INLINE void QK_NAME(unpack8p)(const int kind, const int hi16, const uint8_t *p, __m256i *wt)
{
    if (kind == 1) {
        const __m256i m4 = _mm256_set1_epi8(15), h4 = _mm256_set1_epi8((char)0xF0);
        QK_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k));
            wt[k] = _mm256_and_si256(v, m4);
            wt[k + 4] =
                hi16 ? _mm256_and_si256(v, h4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    } else if (kind == 2) {
        /* Q5_0_R8: the 8 rows' high-bit words (qmatmul.c) at 16, then the nibbles at 48; bit
         * k of byte i of a word is element 4k + i's fifth bit, bit 4 + k element 16 + 4k +
         * i's, so one shift per dword k puts them at bit 4 of their byte */
        const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        QK_UNROLL
        for (int k = 0; k < 4; k++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * k));
            wt[k] = _mm256_or_si256(_mm256_and_si256(v, m4),
                                    _mm256_and_si256(_mm256_slli_epi32(qh, 4 - k), b4));
            wt[k + 4] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi32(qh, k), b4));
        }
    } else {
        QK_UNROLL
        for (int k = 0; k < 8; k++)
            wt[k] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + 16 + 32 * k)),
                                     _mm256_set1_epi8(-128));
    }
}

QK_INLINE void QK_NAME(tile8p)(const int TN, const int kind, const uint8_t *w, size_t bs,
                               const reeli_q8x *x, int64_t xs, int64_t nb, float *y, int64_t ys)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = TN == 1 && kind == 1;
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * bs;
        /* a batch prefetches the next blocks; one token does not: its stream is the hardware
         * prefetcher's alone (single-thread decode stream 80-87% -> 90-92% of a read loop) */
        if (TN > 1)
            for (size_t o = 0; o < sb; o += 64)
                _mm_prefetch((const char *)p + 4 * QK_PREFETCH * bs / sb + o, _MM_HINT_T0);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i wt[8];
        QK_NAME(unpack8p)(kind, hi16, p, wt);
        QK_NAME(block8)(TN, kind, hi16, wt, dw, x, xs, b, acc);
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q4_K_R8 (see qmatmul.c): per super-block of a group of 8 rows the 8 d, the 8 dmin, per block
 * j the rows' 6-bit scale and min (12 bytes), then the 4 chunks of 64 elements as dwords of
 * the 8 rows side by side (low nibbles block 2c, high nibbles block 2c + 1). Per block and
 * token: 8 dpbusd (exact int32 sum(u q) per row lane), then
 *   acc += (d sc_j dx) sum(u q) - (dmin m_j) (dx sum(q): the record's ds) */
QK_INLINE void QK_NAME(tile8k)(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
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
        QK_UNROLL
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
            QK_UNROLL
            for (int k = 0; k < 8; k++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
                wt[k] = hi16    ? _mm256_and_si256(v, h4)
                        : j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)
                                : _mm256_and_si256(v, m4);
            }
            QK_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a = _mm256_setzero_si256();
                if (TN == 1) {
                    __m256i a1 = _mm256_setzero_si256();
                    QK_UNROLL
                    for (int k = 0; k < 4; k++) {
                        a = _mm256_dpbusd_epi32(a, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
                        a1 = _mm256_dpbusd_epi32(a1, wt[k + 4],
                                                 QK_NAME(bcast4)(xb->qs + 16 + 4 * k));
                    }
                    a = _mm256_add_epi32(a, a1);
                    if (hi16) a = _mm256_srai_epi32(a, 4);
                } else {
                    QK_UNROLL
                    for (int k = 0; k < 8; k++)
                        a = _mm256_dpbusd_epi32(a, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
                }
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a),
                                         _mm256_mul_ps(fd, _mm256_set1_ps(xb->d)), acc[t]);
                acc[t] = _mm256_fnmadd_ps(fm, _mm256_set1_ps(xb->ds), acc[t]);
            }
        }
    }
    for (int j = 0; j < TN; j++) _mm256_storeu_ps(y + (size_t)j * (size_t)ys, acc[j]);
}

/* Q6_K_R8 (see qmatmul.c): per super-block of a group of 8 rows the 8 d, the int8 scales as
 * [16-element group][row], the low 4 bits (ql) as 4 chunks and the high 2 bits (qh) as 2
 * halves of dwords of the 8 rows side by side. Block j = 4n + jj (n the half of 128) takes the
 * low (jj < 2) or high nibbles of ql chunk 2n + (jj & 1) and bits 2jj, 2jj + 1 of qh half n:
 * u = w + 32 in 0..63. Per 16-element group dpbusd starts from -32 sum(q) of that group (sums
 * of the activations' record), so a0, a1 = sum((u - 32) q) exactly; then
 *   acc += d dx (sc0 a0 + sc1 a1)                              (int32, exact) */
QK_INLINE void QK_NAME(tile8q6)(const int TN, const uint8_t *w, const reeli_q8x *x, int64_t xs,
                                int64_t nb, float *y, int64_t ys)
{
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[16];
    for (int j = 0; j < TN; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < nb / 8; sb++) {
        const uint8_t *p = w + (size_t)sb * 1680;
        for (size_t o = 0; o < 1680; o += 64) _mm_prefetch((const char *)p + 1680 + o, _MM_HINT_T0);
        const __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        QK_UNROLL
        for (int j = 0; j < 8; j++) {
            const int n = j / 4, jj = j % 4;
            const __m256i sc0 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j)));
            const __m256i sc1 =
                _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * j + 8)));
            const uint8_t *ql = p + 144 + 256 * (2 * n + (jj & 1)), *qh = p + 1168 + 256 * n;
            __m256i wt[8];
            QK_UNROLL
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
            QK_UNROLL
            for (int t = 0; t < TN; t++) {
                const reeli_q8x *xb = x + (size_t)t * (size_t)xs + sb * 8 + j;
                __m256i a0 = _mm256_set1_epi32(-32 * xb->h16[0]);
                __m256i a1 = _mm256_set1_epi32(-32 * xb->h16[1]);
                QK_UNROLL
                for (int k = 0; k < 4; k++) {
                    a0 = _mm256_dpbusd_epi32(a0, wt[k], QK_NAME(bcast4)(xb->qs + 4 * k));
                    a1 = _mm256_dpbusd_epi32(a1, wt[k + 4], QK_NAME(bcast4)(xb->qs + 16 + 4 * k));
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

/* One token over a pair of groups of Q8_0_R8 / Q4_0_R8 / Q5_0_R8 (see qmatmul.c): the two
 * groups' blocks b side by side at w + 2 sb b. Each group goes through tile8p's one-token
 * block8 (bit-identical results), but one stream of weights feeds 16 rows and the 8 activation
 * broadcasts of a block serve both groups (Q4_0: +46% cache-resident on one core; the 2-thread
 * decode stream in fast memory phases 84% -> 92% of a read loop). */
QK_INLINE void QK_NAME(tile16p)(const int kind, const uint8_t *w, const reeli_q8x *x, int64_t nb,
                                float *y)
{
    const size_t sb = kind == 1 ? 144 : kind == 2 ? 176 : 272;
    const int hi16 = kind == 1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = w + (size_t)b * 2 * sb, *q = p + sb;
        __m256i wa[8], wb[8];
        QK_NAME(unpack8p)(kind, hi16, p, wa);
        QK_NAME(unpack8p)(kind, hi16, q, wb);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)q));
        /* inlined twice over the same activation block: the compiler loads its broadcasts once */
        QK_NAME(block8)(1, kind, hi16, wa, d0, x, 0, b, &acc0);
        QK_NAME(block8)(1, kind, hi16, wb, d1, x, 0, b, &acc1);
    }
    _mm256_storeu_ps(y, acc0);
    _mm256_storeu_ps(y + 8, acc1);
}

/* tile16p as one function per kind: fn(w, x, nb, y) */
#define QK_TILE16(name, kind)                                                                      \
    QK_TARGET static void QK_NAME(name)(const uint8_t *w, const reeli_q8x *x, int64_t nb,          \
                                        float *y)                                                  \
    {                                                                                              \
        QK_NAME(tile16p)(kind, w, x, nb, y);                                                       \
    }
QK_TILE16(p161_q8, 0)
QK_TILE16(p161_q4, 1)
QK_TILE16(p161_q5, 2)
#undef QK_TILE16

/* the interleaved-layout tiles as reeli_qtile_fn: fn(args..., w, x, xs, nb, y, ys); rb is the
 * block stride for tile8p (a group's blocks are 2 apart in a Q4_0_R8 pair), unused by the rest */
#define QK_TILE8S(name, fn, ...)                                                                   \
    QK_TARGET static void QK_NAME(name)(const uint8_t *w, size_t rb, const reeli_q8x *x,           \
                                        int64_t xs, int64_t nb, float *y, int64_t ys)              \
    {                                                                                              \
        QK_NAME(fn)(__VA_ARGS__, w, rb, x, xs, nb, y, ys);                                         \
    }
#define QK_TILE8R(name, fn, ...)                                                                   \
    QK_TARGET static void QK_NAME(name)(const uint8_t *w, size_t rb, const reeli_q8x *x,           \
                                        int64_t xs, int64_t nb, float *y, int64_t ys)              \
    {                                                                                              \
        (void)rb;                                                                                  \
        QK_NAME(fn)(__VA_ARGS__, w, x, xs, nb, y, ys);                                             \
    }
QK_TILE8S(p81_q8, tile8p, 1, 0)
QK_TILE8S(p81_q4, tile8p, 1, 1)
QK_TILE8S(p81_q5, tile8p, 1, 2)
QK_TILE8S(p8n_q8, tile8p, QK_TN, 0)
QK_TILE8S(p8n_q4, tile8p, QK_TN, 1)
QK_TILE8S(p8n_q5, tile8p, QK_TN, 2)
QK_TILE8R(p81_q4k, tile8k, 1)
QK_TILE8R(p8n_q4k, tile8k, QK_TN)
QK_TILE8R(p81_q6k, tile8q6, 1)
QK_TILE8R(p8n_q6k, tile8q6, QK_TN)
#undef QK_TILE8R
#undef QK_TILE8S

#define QK_TILE8(name, tn, q)                                                                      \
    QK_TARGET static void QK_NAME(name)(const uint8_t *w, size_t rb, const reeli_q8x *x,           \
                                        int64_t xs, int64_t nb, float *y, int64_t ys)              \
    {                                                                                              \
        QK_NAME(tile8)(tn, q, w, rb, x, xs, nb, y, ys);                                            \
    }
QK_TILE8(t81_q8, 1, 0)
QK_TILE8(t81_q4, 1, 1)
QK_TILE8(t8n_q8, QK_TN, 0)
QK_TILE8(t8n_q4, QK_TN, 1)
#undef QK_TILE8
#endif

#define QK_TILE(name, rm, tn, q)                                                                   \
    QK_TARGET static void QK_NAME(name)(const uint8_t *w, size_t rb, const reeli_q8x *x,           \
                                        int64_t xs, int64_t nb, float *y, int64_t ys)              \
    {                                                                                              \
        QK_NAME(tile)(rm, tn, q, w, rb, x, xs, nb, y, ys);                                         \
    }
QK_TILE(t11_q8, 1, 1, 0)
QK_TILE(t11_q4, 1, 1, 1)
QK_TILE(t1n_q8, 1, QK_TN, 0)
QK_TILE(t1n_q4, 1, QK_TN, 1)
QK_TILE(t41_q8, 4, 1, 0)
QK_TILE(t41_q4, 4, 1, 1)
#if !QK_VNNI
QK_TILE(t21_q8, QK_RM, 1, 0)
QK_TILE(t21_q4, QK_RM, 1, 1)
QK_TILE(trn_q8, QK_RM, QK_TN, 0)
QK_TILE(trn_q4, QK_RM, QK_TN, 1)
#endif
#undef QK_TILE

static const reeli_qtiles QK_NAME(tiles) = {
    .quant_x = QK_NAME(quant_x),
    .tn = QK_TN,
    .t11 = {QK_NAME(t11_q8), QK_NAME(t11_q4)},
    .t1n = {QK_NAME(t1n_q8), QK_NAME(t1n_q4)},
#if QK_VNNI
    .rm1 = 4,
    .rm = 8,
    .t1 = {QK_NAME(t41_q8), QK_NAME(t41_q4)},
    .tr1 = {QK_NAME(t81_q8), QK_NAME(t81_q4)},
    .trn = {QK_NAME(t8n_q8), QK_NAME(t8n_q4)},
#else
    .rm1 = 4,
    .rm = QK_RM,
    .t1 = {QK_NAME(t41_q8), QK_NAME(t41_q4)},
    .tr1 = {QK_NAME(t21_q8), QK_NAME(t21_q4)},
    .trn = {QK_NAME(trn_q8), QK_NAME(trn_q4)},
#endif
};

#undef QK_INLINE
#undef QK_UNROLL
