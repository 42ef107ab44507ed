/* The sessions and how requests share them.
 *
 * Each of the N sessions (--parallel) has its own context and state and a worker thread that
 * takes jobs from one FIFO queue. A model's thread pool serves one caller at a time
 * (llm/llm.h), so the workers take turns on the model through a ticket lock: a prompt is
 * decoded in slices, one slice a turn; the generating sessions step together, one token each
 * per round, decoded as one batch that reads the weights once for all (serve/batch.c). N
 * requests thus advance together and none waits for another to finish; fairness between
 * requests is the queue's order and the ticket order, both first come, first served. */
#include "serve/serve-impl.h"

#include <stdlib.h>
#include <string.h>

/* Prompt tokens decoded per turn: a long prompt does not stall the other sessions' tokens for
 * longer than one such slice. */
#define PREFILL_SLICE 256

typedef struct slot {
    reeli_engine *e;
    reel_llm_session *s;
    pthread_t thread;
    int started;
} slot;

struct reeli_engine {
    const reeli_serve_model *sm;
    slot *slots;
    int n_slots;
    pthread_mutex_t mu; /* the queue and the counters below */
    pthread_cond_t cv;
    reeli_job **queue; /* ring of max_queue */
    int q_head, q_len, q_cap;
    int running;
    long served, cancelled;
    int stopping;
    reeli_job **active; /* [n_slots]: the job each worker runs, for cancel_all */
    /* the turn on the model: tickets served in order */
    pthread_mutex_t tmu;
    pthread_cond_t tcv;
    uint64_t next_ticket, serving;
    reeli_batch *batch; /* the generating sessions' rounds */
};

static void turn_take(reeli_engine *e)
{
    pthread_mutex_lock(&e->tmu);
    uint64_t me = e->next_ticket++;
    while (e->serving != me) pthread_cond_wait(&e->tcv, &e->tmu);
    pthread_mutex_unlock(&e->tmu);
}

static void turn_give(reeli_engine *e);
static void take_cb(void *e)
{
    turn_take(e);
}
static void give_cb(void *e)
{
    turn_give(e);
}

static void turn_give(reeli_engine *e)
{
    pthread_mutex_lock(&e->tmu);
    e->serving++;
    pthread_cond_broadcast(&e->tcv);
    pthread_mutex_unlock(&e->tmu);
}

/* Lets the workers waiting for the turn go first, then takes it back. */
static void turn_yield(reeli_engine *e)
{
    pthread_mutex_lock(&e->tmu);
    int others = e->next_ticket != e->serving + 1;
    pthread_mutex_unlock(&e->tmu);
    if (!others) return;
    turn_give(e);
    turn_take(e);
}

typedef struct run_ctx {
    reeli_engine *e;
    reeli_job *j;
    int stop_hit;
} run_ctx;

static int on_token(void *ctx, int32_t id, const char *text, size_t len)
{
    run_ctx *rc = ctx;
    (void)rc->e;
    if (reeli_job_push(rc->j, id, text, len)) {
        rc->stop_hit = 1;
        return REEL_ECANCELED; /* ends the loop; the answer is complete */
    }
    return 0;
}

/* A cancelled job's answer (its client, if still there, is told why). */
static void cancel_job(reeli_engine *e, reeli_job *j);

static void fail_job(reeli_job *j, int status, const char *type, const char *code, const char *msg)
{
    reel_serve_error err;
    reel_serve_fail(&err, status, type, code, NULL, "%s", msg);
    reeli_job_finish(j, NULL, &err);
}

/* Runs j on the slot's session; returns 1 if it was answered, 0 if cancelled, -1 if it failed. */
static int run_job(slot *sl, reeli_job *j)
{
    reeli_engine *e = sl->e;
    reel_llm_session_reset(sl->s);
    reel_llm_sampler *smp = reel_llm_sampler_init(&j->sp);
    run_ctx ctx = {e, j, 0};
    int rc = 0;
    turn_take(e);
    for (int64_t off = 0; off < j->n_ids && rc == 0; off += PREFILL_SLICE) {
        if (j->cancel) {
            rc = REEL_ECANCELED;
            break;
        }
        int64_t n = j->n_ids - off < PREFILL_SLICE ? j->n_ids - off : PREFILL_SLICE;
        rc = reel_llm_session_decode(sl->s, j->ids + off, n, 0);
        if (rc == 0 && off + n < j->n_ids) turn_yield(e);
    }
    turn_give(e);
    reel_llm_gen_result res = {0};
    if (rc == 0) {
        reel_llm_gen_params gp = reel_llm_gen_default_params();
        gp.prompt = j->ids;
        gp.n_prompt = j->n_ids;
        gp.prefilled = 1;
        gp.n_predict = j->max_tokens;
        gp.tok = e->sm->tok;
        gp.stop_ids = e->sm->stops;
        gp.n_stop_ids = e->sm->n_stops;
        gp.constraint = j->constraint;
        gp.on_token = on_token;
        gp.ctx = &ctx;
        gp.cancel = &j->cancel;
        gp.decode_one = reeli_batch_decode;
        gp.decode_ctx = e->batch;
        reeli_batch_enter(e->batch);
        rc = reel_llm_generate(sl->s, smp, &gp, &res);
        reeli_batch_leave(e->batch);
    }
    reel_llm_sampler_free(smp);
    free(res.text);
    if (rc == 0) {
        reeli_job_finish(j,
                         res.stop == REEL_LLM_GEN_LENGTH || res.stop == REEL_LLM_GEN_CONTEXT_FULL
                             ? "length"
                             : "stop",
                         NULL);
    } else if (ctx.stop_hit) {
        reeli_job_finish(j, "stop", NULL);
    } else if (rc == REEL_ERANGE && j->constraint) {
        /* the budget ran out inside the JSON: the answer is cut, as OpenAI's is */
        reeli_job_finish(j, "length", NULL);
    } else if (rc == REEL_ECANCELED) {
        cancel_job(e, j);
        return 0;
    } else {
        fail_job(j, 500, "server_error", NULL, reel_last_error());
        return -1;
    }
    return 1;
}

static void cancel_job(reeli_engine *e, reeli_job *j)
{
    if (__atomic_load_n(&e->stopping, __ATOMIC_SEQ_CST))
        fail_job(j, 503, "server_error", "shutting_down", "the server is shutting down");
    else
        fail_job(j, 503, "server_error", "cancelled", "the request was cancelled");
}

static void *worker(void *arg)
{
    slot *sl = arg;
    reeli_engine *e = sl->e;
    const int me = (int)(sl - e->slots);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->q_len && !e->stopping) pthread_cond_wait(&e->cv, &e->mu);
        if (!e->q_len) { /* stopping, and nothing left */
            pthread_mutex_unlock(&e->mu);
            break;
        }
        reeli_job *j = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % e->q_cap;
        e->q_len--;
        e->running++;
        e->active[me] = j;
        pthread_mutex_lock(&j->mu);
        j->state = REELI_JOB_RUNNING;
        pthread_mutex_unlock(&j->mu);
        pthread_mutex_unlock(&e->mu);
        int outcome = 0;
        if (j->cancel)
            cancel_job(e, j);
        else
            outcome = run_job(sl, j);
        pthread_mutex_lock(&e->mu);
        e->served += outcome == 1;
        e->cancelled += outcome == 0;
        e->running--;
        e->active[me] = NULL;
        pthread_mutex_unlock(&e->mu);
        reeli_job_unref(j);
    }
    return NULL;
}

reeli_engine *reeli_engine_start(const reeli_serve_model *sm, int n_sessions, int max_queue)
{
    reeli_engine *e = reel_xcalloc(1, sizeof *e);
    e->sm = sm;
    e->n_slots = n_sessions;
    e->q_cap = max_queue > 0 ? max_queue : 1;
    e->queue = reel_xcalloc((size_t)e->q_cap, sizeof *e->queue);
    e->active = reel_xcalloc((size_t)n_sessions, sizeof *e->active);
    e->slots = reel_xcalloc((size_t)n_sessions, sizeof *e->slots);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_mutex_init(&e->tmu, NULL);
    pthread_cond_init(&e->tcv, NULL);
    e->batch = reeli_batch_new(n_sessions, take_cb, give_cb, e);
    reel_llm_session_params sp = reel_llm_session_default_params();
    sp.n_ctx = sm->n_ctx;
    for (int i = 0; i < n_sessions; i++) {
        e->slots[i].e = e;
        if (!(e->slots[i].s = reel_llm_session_init(sm->m, &sp))) {
            reel_error_prefix("session %d of %d", i + 1, n_sessions);
            reeli_engine_free(e);
            return NULL;
        }
    }
    for (int i = 0; i < n_sessions; i++) {
        if (pthread_create(&e->slots[i].thread, NULL, worker, &e->slots[i]) != 0) {
            reel_set_error(REEL_ENOMEM, "cannot start the worker of session %d", i + 1);
            reeli_engine_free(e);
            return NULL;
        }
        e->slots[i].started = 1;
    }
    return e;
}

int reeli_engine_submit(reeli_engine *e, reeli_job *j, reel_serve_error *err)
{
    pthread_mutex_lock(&e->mu);
    if (e->stopping || e->q_len == e->q_cap) {
        int stopping = e->stopping;
        pthread_mutex_unlock(&e->mu);
        return stopping ? reel_serve_fail(err, 503, "server_error", "shutting_down", NULL,
                                          "the server is shutting down")
                        : reel_serve_fail(err, 503, "server_error", "queue_full", NULL,
                                          "the server is busy: %d requests are already waiting; "
                                          "retry later",
                                          e->q_cap);
    }
    reeli_job_ref(j);
    e->queue[(e->q_head + e->q_len) % e->q_cap] = j;
    e->q_len++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

reeli_engine_stats reeli_engine_get_stats(reeli_engine *e)
{
    pthread_mutex_lock(&e->mu);
    reeli_engine_stats st = {e->q_len, e->running, e->served, e->cancelled};
    pthread_mutex_unlock(&e->mu);
    return st;
}

void reeli_engine_cancel_all(reeli_engine *e)
{
    pthread_mutex_lock(&e->mu);
    __atomic_store_n(&e->stopping, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < e->q_len; i++) reeli_job_cancel(e->queue[(e->q_head + i) % e->q_cap]);
    for (int i = 0; i < e->n_slots; i++)
        if (e->active[i]) reeli_job_cancel(e->active[i]);
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void reeli_engine_free(reeli_engine *e)
{
    if (!e) return;
    reeli_engine_cancel_all(e);
    for (int i = 0; i < e->n_slots; i++)
        if (e->slots[i].started) pthread_join(e->slots[i].thread, NULL);
    for (int i = 0; i < e->n_slots; i++) reel_llm_session_free(e->slots[i].s);
    reeli_batch_free(e->batch);
    pthread_cond_destroy(&e->tcv);
    pthread_mutex_destroy(&e->tmu);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e->slots);
    free(e->active);
    free(e->queue);
    free(e);
}
