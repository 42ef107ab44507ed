/* y = W x over a batch of tokens (scalar reference). Threads split the rows of W; each row is
 * converted to float once and applied to every token, and each output is one dot product in a
 * fixed order, so the result does not depend on the thread count. */
#include "kernels/kernels-impl.h"
#include "core/alloc.h"
#include "core/error.h"

#include <stdlib.h>

typedef struct {
    float *y;
    const uint8_t *w;
    reel_dtype wtype;
    const float *x;
    int64_t n_in, n_out, T;
    size_t row_bytes;
} mm_ctx;

float reeli_dot_f32(const float *a, const float *b, int64_t n)
{
    /* 8 independent partial sums: vectorisable without reassociating a single chain */
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float tail = 0;
    for (; i < n; i++) tail += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail;
}

static void mm_body(void *arg, int64_t begin, int64_t end, int thread)
{
    const mm_ctx *c = arg;
    float *row = NULL;
    if (c->wtype != REEL_DTYPE_F32) row = reel_xmalloc((size_t)c->n_in * sizeof(float));
    for (int64_t r = begin; r < end; r++) {
        const uint8_t *src = c->w + (size_t)r * c->row_bytes;
        const float *wr = (const float *)src;
        if (row) {
            reel_kernels_dequantize_row(c->wtype, src, row, c->n_in);
            wr = row;
        }
        for (int64_t t = 0; t < c->T; t++)
            c->y[t * c->n_out + r] = reeli_dot_f32(wr, c->x + t * c->n_in, c->n_in);
    }
    free(row);
}

int reeli_cpu_matmul(reel_pool *pool, float *y, const void *w, reel_dtype wtype, const float *x,
                     int64_t n_in, int64_t n_out, int64_t T)
{
    if (!reel_kernels_dtype_supported(wtype))
        return reel_set_error(REEL_EUNSUPPORTED, "matmul: weight type %s is not supported",
                              reel_dtype_name(wtype) ? reel_dtype_name(wtype) : "?");
    size_t rb = reel_dtype_row_bytes(wtype, n_in);
    if (!rb)
        return reel_set_error(REEL_EINVAL, "matmul: rows of %lld elements are not whole %s blocks",
                              (long long)n_in, reel_dtype_name(wtype));
    mm_ctx c = {y, w, wtype, x, n_in, n_out, T, rb};
    reel_pool_parallel_for(pool, n_out, mm_body, &c);
    return 0;
}
