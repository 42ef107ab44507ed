/* Decode steps of several sessions as one batch (serve-impl.h, reeli_batch_*).
 *
 * Workers that are generating have "entered"; each sampled token is handed to
 * reeli_batch_decode, which waits until every entered worker has handed one (or left), then one
 * of them, the last to arrive, runs all the tokens through reel_llm_session_decode_multi (the
 * weights read once for all sessions) while holding the model's turn, and wakes the others.
 * A worker that is between two tokens (sampling, sending text) is waited for; one that ends
 * its generation leaves, which may complete a round. */
#include "serve/serve-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    reel_llm_session *s;
    int32_t id;
    int *rc; /* the submitter's result */
} item;

struct reeli_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*take)(void *), (*give)(void *);
    void *turn;
    int entered; /* workers that will hand a token each round */
    item *items; /* this round's, [cap] */
    int n, cap;
    int busy;        /* a round is being decoded: new tokens wait for the next */
    uint64_t rounds; /* rounds decoded */
    char msg[512];   /* the last round's error, for the submitters' own threads */
};

reeli_batch *reeli_batch_new(int cap, void (*take)(void *), void (*give)(void *), void *turn)
{
    reeli_batch *b = reel_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->cap = cap > 0 ? cap : 1;
    b->items = reel_xcalloc((size_t)b->cap, sizeof *b->items);
    b->take = take, b->give = give, b->turn = turn;
    return b;
}

void reeli_batch_free(reeli_batch *b)
{
    if (!b) return;
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->items);
    free(b);
}

void reeli_batch_enter(reeli_batch *b)
{
    pthread_mutex_lock(&b->mu);
    b->entered++;
    pthread_mutex_unlock(&b->mu);
}

void reeli_batch_leave(reeli_batch *b)
{
    pthread_mutex_lock(&b->mu);
    b->entered--;
    pthread_cond_broadcast(&b->cv); /* the round may be complete now */
    pthread_mutex_unlock(&b->mu);
}

/* Runs the round in items[0..n) (called with mu held, returns with it held). */
static void run_round(reeli_batch *b)
{
    const int n = b->n;
    item *it = reel_xmalloc((size_t)n * sizeof *it);
    memcpy(it, b->items, (size_t)n * sizeof *it);
    b->busy = 1;
    pthread_mutex_unlock(&b->mu);

    reel_llm_session **ss = reel_xmalloc((size_t)n * sizeof *ss);
    int32_t *ids = reel_xmalloc((size_t)n * sizeof *ids);
    char *full = reel_xcalloc((size_t)n, 1);
    int k = 0;
    char msg[512] = "";
    for (int i = 0; i < n; i++) {
        /* a full context ends that session's answer, not the others' */
        if (reel_llm_session_pos(it[i].s) + 1 > reel_llm_session_n_ctx(it[i].s))
            full[i] = 1;
        else
            ss[k] = it[i].s, ids[k] = it[i].id, k++;
    }
    int rc = 0;
    b->take(b->turn);
    /* in runs of the first session's batch size (--parallel may exceed it) */
    for (int i0 = 0; i0 < k && rc == 0;) {
        const int mb = reel_llm_session_max_batch(ss[i0]), m = k - i0 < mb ? k - i0 : mb;
        rc = reel_llm_session_decode_multi(ss + i0, ids + i0, m);
        i0 += m;
    }
    b->give(b->turn);
    if (rc < 0) snprintf(msg, sizeof msg, "%s", reel_last_error());
    for (int i = 0; i < n; i++) *it[i].rc = full[i] ? REEL_ERANGE : rc;
    free(full);
    free(ss);
    free(ids);
    free(it);

    pthread_mutex_lock(&b->mu);
    snprintf(b->msg, sizeof b->msg, "%s", msg);
    b->n = 0;
    b->busy = 0;
    b->rounds++;
    pthread_cond_broadcast(&b->cv);
}

int reeli_batch_decode(void *ctx, reel_llm_session *s, int32_t id)
{
    reeli_batch *b = ctx;
    int rc = 1; /* 1: not decoded yet */
    pthread_mutex_lock(&b->mu);
    while (b->busy || b->n == b->cap) pthread_cond_wait(&b->cv, &b->mu);
    b->items[b->n++] = (item){s, id, &rc};
    const uint64_t round = b->rounds;
    for (;;) {
        if (b->rounds != round) break; /* decoded by another */
        if (!b->busy && b->n >= b->entered) {
            run_round(b);
            break;
        }
        pthread_cond_wait(&b->cv, &b->mu);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "%s", b->msg);
    pthread_mutex_unlock(&b->mu);
    if (rc < 0 && rc != REEL_ERANGE) return reel_set_error(rc, "%s", msg);
    if (rc == REEL_ERANGE) return reel_set_error(rc, "decode: context full");
    return 0;
}
