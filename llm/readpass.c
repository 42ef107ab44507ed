/* The memory bound of a decoded token for reel bench --bound: the bytes a token moves, each
 * counted once (weights read, recurrent state and KV rows read, state and the new KV row
 * written), and a pass that reads exactly the token's weight bytes, at the same addresses the
 * kernels stream, with nothing else to do, so the bench can compare decode speed with the
 * machine's read rate over the same pages of the same mapping. */
#include "llm/engine-impl.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

/* Calls fn on every span of weight bytes a decoded token reads: one row of the embedding (the
 * token's own row; row 0 stands for it), the head (the embedding again, whole, when tied),
 * every matrix of the layers, and of each layer's routed experts the first k_used (a token
 * reads k_used whole experts; which ones depends on the token, their size does not). */
static void each_span(const reel_llm_model *m, void (*fn)(void *, const uint8_t *, size_t),
                      void *ctx)
{
    const model_config *c = &m->c;
    fn(ctx, m->tok_embd.data, m->tok_embd.bytes / (size_t)m->tok_embd.n_out);
    fn(ctx, m->output.data, m->output.bytes);
    for (int l = 0; l < c->L; l++) {
        const layer_weights *w = &m->layers[l];
        const wmat *dense[] = {&w->ssm_in, &w->ssm_out, &w->q,        &w->k,     &w->v,      &w->o,
                               &w->up,     &w->down,    &w->gate_inp, &w->up_sh, &w->down_sh};
        for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++)
            if (dense[i]->data) fn(ctx, dense[i]->data, dense[i]->bytes);
        for (int j = 0; w->up_exps && j < c->k_used; j++) {
            fn(ctx, w->up_exps[j].data, w->up_exps[j].bytes);
            fn(ctx, w->down_exps[j].data, w->down_exps[j].bytes);
        }
    }
}

static void add_bytes(void *ctx, const uint8_t *p, size_t n)
{
    (void)p;
    *(double *)ctx += (double)n;
}

double reel_llm_model_token_bytes(const reel_llm_model *m, double *state)
{
    const model_config *c = &m->c;
    double n = 0;
    each_span(m, add_bytes, &n);
    if (state) /* the session's SSM and conv states (fp32) */
        *state = (double)c->n_mamba * sizeof(float) *
                 (double)(reeli_ssm_floats(c) + reeli_conv_floats(c));
    return n;
}

reel_llm_token_bytes reel_llm_session_token_bytes(const reel_llm_session *s)
{
    const model_config *c = &s->m->c;
    reel_llm_token_bytes b = {0};
    double rec = 0;
    b.weights = reel_llm_model_token_bytes(s->m, &rec);
    /* one K and one V row of every attention layer; rows 0..pos-1 are read from memory, the
     * token's own row is written (and read back while still in cache) */
    const double kv_row =
        2.0 * c->n_attn * (double)reel_dtype_row_bytes(s->kv_type, (int64_t)c->nkv * c->hd);
    b.state_read = rec + (double)s->pos * kv_row;
    b.state_written = rec + kv_row;
    return b;
}

/* The read pass: the spans cut into pieces of at most 1 MiB, shared out like a decode matmul
 * (reel_pool_parallel_for_dynamic). */
typedef struct {
    const uint8_t *p;
    size_t n;
} span;

typedef struct {
    span *s;
    size_t n, cap;
} read_job;

static void add_spans(void *ctx, const uint8_t *p, size_t bytes)
{
    read_job *j = ctx;
    for (size_t at = 0; at < bytes; at += (size_t)1 << 20) {
        if (j->n == j->cap) {
            j->cap = j->cap ? 2 * j->cap : 1024;
            j->s = reel_xrealloc(j->s, j->cap * sizeof *j->s);
        }
        const size_t left = bytes - at;
        j->s[j->n++] = (span){p + at, left < (1u << 20) ? left : 1u << 20};
    }
}

typedef uint64_t read_vec __attribute__((vector_size(32)));

static void read_body(void *arg, int64_t begin, int64_t end, int thread)
{
    (void)thread;
    const read_job *j = arg;
    read_vec a = {0}, b = {0};
    uint64_t t = 0;
    for (int64_t i = begin; i < end; i++) {
        const uint8_t *p = j->s[i].p;
        size_t k = 0;
        for (; k + 64 <= j->s[i].n; k += 64) { /* two 32-byte loads a line, no arithmetic */
            read_vec x, y;
            memcpy(&x, p + k, sizeof x);
            memcpy(&y, p + k + 32, sizeof y);
            a ^= x;
            b ^= y;
        }
        for (; k < j->s[i].n; k++) t ^= p[k];
    }
    a ^= b;
    volatile uint64_t keep = a[0] ^ a[1] ^ a[2] ^ a[3] ^ t; /* so the loads are not dropped */
    (void)keep;
}

size_t reel_llm_model_read_weights(reel_llm_model *m)
{
    read_job j = {0};
    each_span(m, add_spans, &j);
    size_t bytes = 0;
    for (size_t i = 0; i < j.n; i++) bytes += j.s[i].n;
    reel_pool_parallel_for_dynamic(m->pool, (int64_t)j.n, 0, read_body, &j);
    free(j.s);
    return bytes;
}
