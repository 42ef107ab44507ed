/* Token sampling: repetition penalty, greedy, temperature, top-k, top-p, min-p, and a seeded
 * draw with xoshiro256** (own PRNG, so results are the same on every libc and thread count). */
#include "llm/llm.h"
#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct reel_llm_sampler {
    reel_llm_sampler_params p;
    uint64_t s[4]; /* xoshiro256** state */
    int32_t *hist; /* ring of the last repeat_last_n tokens */
    int n_hist, head;
    /* scratch grown to n_vocab */
    int cap;
    float *logit;
    struct cand {
        float v;
        int32_t id;
    } * c;
    float *prob;
};

reel_llm_sampler_params reel_llm_sampler_default_params(void)
{
    reel_llm_sampler_params p = {0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0};
    return p;
}

reel_llm_sampler_params reel_llm_sampler_greedy_params(void)
{
    reel_llm_sampler_params p = {0.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0};
    return p;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(reel_llm_sampler *smp)
{
    uint64_t *s = smp->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform double in [0, 1) with 53 random bits */
static double next_unit(reel_llm_sampler *smp)
{
    return (double)(next_u64(smp) >> 11) * (1.0 / 9007199254740992.0);
}

void reel_llm_sampler_reset(reel_llm_sampler *smp, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) smp->s[i] = splitmix64(&x);
    smp->n_hist = smp->head = 0;
    smp->p.seed = seed;
}

reel_llm_sampler *reel_llm_sampler_init(const reel_llm_sampler_params *params)
{
    reel_llm_sampler *smp = reel_xcalloc(1, sizeof *smp);
    smp->p = params ? *params : reel_llm_sampler_greedy_params();
    if (smp->p.repeat_last_n < 0) smp->p.repeat_last_n = 0;
    if (smp->p.repeat_last_n > 1 << 20) smp->p.repeat_last_n = 1 << 20;
    smp->hist = reel_xcalloc((size_t)smp->p.repeat_last_n + 1, sizeof(int32_t));
    reel_llm_sampler_reset(smp, smp->p.seed);
    return smp;
}

void reel_llm_sampler_free(reel_llm_sampler *smp)
{
    if (!smp) return;
    free(smp->hist), free(smp->logit), free(smp->c), free(smp->prob);
    free(smp);
}

void reel_llm_sampler_accept(reel_llm_sampler *smp, int32_t token)
{
    int n = smp->p.repeat_last_n;
    if (n <= 0) return;
    smp->hist[smp->head] = token;
    smp->head = (smp->head + 1) % n;
    if (smp->n_hist < n) smp->n_hist++;
}

/* descending by value, ascending id on ties: a total order, so qsort's result is unique */
static int by_logit_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int32_t reel_llm_sampler_sample(reel_llm_sampler *smp, const float *logits, int n_vocab)
{
    if (n_vocab < 1) return reel_set_error(REEL_EINVAL, "sampler: empty vocabulary");
    if (n_vocab > smp->cap) {
        free(smp->logit), free(smp->c), free(smp->prob);
        smp->logit = reel_xmalloc((size_t)n_vocab * sizeof(float));
        smp->c = reel_xmalloc((size_t)n_vocab * sizeof *smp->c);
        smp->prob = reel_xmalloc((size_t)n_vocab * sizeof(float));
        smp->cap = n_vocab;
    }
    const reel_llm_sampler_params *p = &smp->p;
    float *l = smp->logit;
    memcpy(l, logits, (size_t)n_vocab * sizeof(float));
    /* repetition penalty over the distinct recent tokens (each penalised once) */
    if (p->repeat_penalty > 0 && p->repeat_penalty != 1.0f) {
        for (int i = 0; i < smp->n_hist; i++) {
            int32_t t = smp->hist[i];
            if (t < 0 || t >= n_vocab) continue;
            int seen = 0;
            for (int j = 0; j < i; j++) seen |= smp->hist[j] == t;
            if (seen) continue;
            l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
        }
    }
    int32_t tok = 0;
    if (p->temp <= 0) {
        for (int i = 1; i < n_vocab; i++)
            if (l[i] > l[tok]) tok = i;
        reel_llm_sampler_accept(smp, tok);
        return tok;
    }
    struct cand *c = smp->c;
    float *pr = smp->prob;
    int n = n_vocab;
    if (p->top_k > 0 && p->top_k < n_vocab) {
        /* the k best with a min-heap (root = the worst kept), then sort only those: the same
         * candidates in the same order as a full sort, in O(V log k) */
        n = p->top_k;
        int h = 0;
        for (int i = 0; i < n_vocab; i++) {
            struct cand x = {l[i], i};
            if (h < n) {
                int j = h++;
                while (j > 0 && by_logit_desc(&c[(j - 1) / 2], &x) < 0) {
                    c[j] = c[(j - 1) / 2];
                    j = (j - 1) / 2;
                }
                c[j] = x;
            } else if (by_logit_desc(&x, &c[0]) < 0) {
                int j = 0;
                for (;;) { /* sift x down from the root */
                    int a = 2 * j + 1, b = a + 1, w = j;
                    const struct cand *wv = &x;
                    if (a < h && by_logit_desc(&c[a], wv) > 0) w = a, wv = &c[a];
                    if (b < h && by_logit_desc(&c[b], wv) > 0) w = b, wv = &c[b];
                    if (w == j) break;
                    c[j] = c[w];
                    j = w;
                }
                c[j] = x;
            }
        }
    } else {
        for (int i = 0; i < n_vocab; i++) c[i].v = l[i], c[i].id = i;
    }
    qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    /* softmax of the kept candidates at temperature, in double */
    double mx = c[0].v / p->temp, sum = 0;
    for (int i = 0; i < n; i++) {
        pr[i] = (float)exp(c[i].v / p->temp - mx);
        sum += pr[i];
    }
    for (int i = 0; i < n; i++) pr[i] = (float)(pr[i] / sum);
    if (p->top_p > 0 && p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += pr[i];
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0) {
        float floor = p->min_p * pr[0];
        int keep = 1;
        while (keep < n && pr[keep] >= floor) keep++;
        n = keep;
    }
    sum = 0;
    for (int i = 0; i < n; i++) sum += pr[i];
    double r = next_unit(smp) * sum, cum = 0;
    tok = c[n - 1].id;
    for (int i = 0; i < n; i++) {
        cum += pr[i];
        if (r < cum) {
            tok = c[i].id;
            break;
        }
    }
    reel_llm_sampler_accept(smp, tok);
    return tok;
}
