/* The memory bound of a decoded token for reel bench --bound: the bytes of weights a token
 * reads, and a pass that reads exactly those bytes with nothing else to do, so the bench can
 * compare decode speed with the machine's read rate over the same pages. */
#include "llm/engine-impl.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

/* Calls fn on every weight matrix a decoded token reads, with the share of it that one token
 * reads (k_used / E for a routed expert, one row for the embedding, 1 otherwise). */
static void each_matrix(const reel_llm_model *m, void (*fn)(void *, const wmat *, double),
                        void *ctx)
{
    const model_config *c = &m->c;
    /* one embedding row; all of it again when the head is tied to it */
    const int tied = m->output.data == m->tok_embd.data;
    fn(ctx, &m->tok_embd, (tied ? 1.0 : 0.0) + 1.0 / (double)m->tok_embd.n_out);
    if (!tied) fn(ctx, &m->output, 1.0);
    for (int l = 0; l < c->L; l++) {
        const layer_weights *w = &m->layers[l];
        const wmat *dense[] = {&w->ssm_in, &w->ssm_out, &w->q,        &w->k,     &w->v,      &w->o,
                               &w->up,     &w->down,    &w->gate_inp, &w->up_sh, &w->down_sh};
        for (size_t i = 0; i < sizeof dense / sizeof dense[0]; i++)
            if (dense[i]->data) fn(ctx, dense[i], 1.0);
        for (int j = 0; w->up_exps && j < c->E; j++) {
            fn(ctx, &w->up_exps[j], (double)c->k_used / c->E);
            fn(ctx, &w->down_exps[j], (double)c->k_used / c->E);
        }
    }
}

static void add_share(void *ctx, const wmat *w, double share)
{
    *(double *)ctx += (double)w->bytes * share;
}

double reel_llm_model_token_bytes(const reel_llm_model *m, double *state)
{
    const model_config *c = &m->c;
    double n = 0;
    each_matrix(m, add_share, &n);
    if (state) /* the session's SSM and conv states (fp32) */
        *state = (double)c->n_mamba * sizeof(float) *
                 (double)(reeli_ssm_floats(c) + reeli_conv_floats(c));
    return n;
}

/* The read pass: the matrices cut into pieces of at most 1 MiB, shared out like a decode matmul
 * (reel_pool_parallel_for_dynamic). */
typedef struct {
    const uint8_t *p;
    size_t n;
} span;

typedef struct {
    span *s;
    size_t n, cap;
} read_job;

static void add_spans(void *ctx, const wmat *w, double share)
{
    (void)share;
    read_job *j = ctx;
    for (size_t at = 0; at < w->bytes; at += (size_t)1 << 20) {
        if (j->n == j->cap) {
            j->cap = j->cap ? 2 * j->cap : 1024;
            j->s = reel_xrealloc(j->s, j->cap * sizeof *j->s);
        }
        const size_t left = w->bytes - at;
        j->s[j->n++] = (span){(const uint8_t *)w->data + at, left < (1u << 20) ? left : 1u << 20};
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
    each_matrix(m, add_spans, &j);
    size_t bytes = 0;
    for (size_t i = 0; i < j.n; i++) bytes += j.s[i].n;
    reel_pool_parallel_for_dynamic(m->pool, (int64_t)j.n, 0, read_body, &j);
    free(j.s);
    return bytes;
}
