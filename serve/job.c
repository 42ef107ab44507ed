/* One request on its way through a session: the worker writes the answer token by token, the
 * connection thread reads what is ready to send. Text is held back while it could still turn
 * out to be the start of a stop string, and while it ends inside a UTF-8 character, so a
 * streamed answer never shows what the finished one cuts. */
#include "serve/serve-impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

reeli_job *reeli_job_new(void)
{
    reeli_job *j = reel_xcalloc(1, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    j->refs = 1;
    j->state = REELI_JOB_QUEUED;
    j->think_end = -1;
    for (int i = 0; i < 2; i++) reel_strbuf_add(&j->text[i], "", 0);
    return j;
}

void reeli_job_ref(reeli_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void reeli_job_unref(reeli_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (!last) return;
    free(j->ids);
    reel_llm_constraint_free(j->constraint);
    reel_grammar_free(j->grammar);
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    for (int i = 0; i < 2; i++) free(j->text[i].p);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

void reeli_job_cancel(reeli_job *j)
{
    j->cancel = 1;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_complete(const char *s, size_t n)
{
    size_t k = n, back = 0;
    while (k > 0 && back < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) k--, back++;
    if (k == 0) return n; /* only continuation bytes: invalid anyway, nothing to wait for */
    unsigned char lead = (unsigned char)s[k - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return back + 1 < need ? k - 1 : n;
}

/* Bytes at the end of s[0..n) that are a proper prefix of one of the stop strings. */
static size_t stop_tail(const reeli_job *j, const char *s, size_t n)
{
    size_t best = 0;
    for (int i = 0; i < j->n_stop; i++) {
        size_t ls = strlen(j->stop[i]);
        for (size_t k = ls - 1 < n ? ls - 1 : n; k > best; k--)
            if (memcmp(s + n - k, j->stop[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

/* Cuts the content at the earliest stop string that begins at or after `from`; 1 if one did. */
static int cut_stop(reeli_job *j, size_t from)
{
    reel_strbuf *t = &j->text[REELI_CONTENT];
    size_t cut = t->n;
    for (int i = 0; i < j->n_stop; i++) {
        const char *at = memmem(t->p + from, t->n - from, j->stop[i], strlen(j->stop[i]));
        if (at && (size_t)(at - t->p) < cut) cut = (size_t)(at - t->p);
    }
    if (cut == t->n) return 0;
    t->n = cut;
    t->p[cut] = '\0';
    return 1;
}

int reeli_job_push(reeli_job *j, int32_t id, const char *text, size_t len)
{
    int hit = 0;
    pthread_mutex_lock(&j->mu);
    j->n_tokens++;
    if (j->phase == REELI_REASONING && id == j->think_end) {
        /* the think block is closed: all of the reasoning can go, the answer begins */
        j->ready[REELI_REASONING] = j->text[REELI_REASONING].n;
        j->phase = REELI_CONTENT;
        text = "", len = 0;
    }
    reel_strbuf *t = &j->text[j->phase];
    if (j->phase == REELI_CONTENT && j->reasoning && t->n == 0)
        while (len && (*text == '\n' || *text == ' ')) text++, len--; /* after </think> */
    size_t before = t->n;
    reel_strbuf_add(t, text, len);
    size_t ready = utf8_complete(t->p, t->n);
    if (j->phase == REELI_CONTENT && j->n_stop) {
        /* a stop string completed now begins after what was already ready (it was held back) */
        size_t longest = 0;
        for (int i = 0; i < j->n_stop; i++)
            if (strlen(j->stop[i]) > longest) longest = strlen(j->stop[i]);
        hit = cut_stop(j, before + 1 > longest ? before + 1 - longest : 0);
        if (hit)
            ready = t->n;
        else if (t->n - stop_tail(j, t->p, t->n) < ready)
            ready = t->n - stop_tail(j, t->p, t->n);
    }
    if (ready > j->ready[j->phase]) j->ready[j->phase] = ready;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return hit;
}

void reeli_job_finish(reeli_job *j, const char *finish, const reel_serve_error *fail)
{
    pthread_mutex_lock(&j->mu);
    if (fail && fail->status)
        j->fail = *fail;
    else
        j->finish = finish;
    for (int i = 0; i < 2; i++) j->ready[i] = j->text[i].n;
    j->state = REELI_JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

int reeli_job_take(reeli_job *j, size_t sent[2], reel_strbuf out[2], int wait_ms)
{
    pthread_mutex_lock(&j->mu);
    if (wait_ms > 0 && j->state != REELI_JOB_DONE && j->ready[0] == sent[0] &&
        j->ready[1] == sent[1]) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        while (j->state != REELI_JOB_DONE && j->ready[0] == sent[0] && j->ready[1] == sent[1])
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT) break;
    }
    for (int i = 0; i < 2; i++) {
        if (j->ready[i] > sent[i])
            reel_strbuf_add(&out[i], j->text[i].p + sent[i], j->ready[i] - sent[i]);
        sent[i] = j->ready[i];
    }
    int done = j->state == REELI_JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    return done;
}
