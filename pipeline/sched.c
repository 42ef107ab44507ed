/* The scheduler: runs the nodes a target needs on a pool of worker threads.
 *
 * A pass first walks back from the target: a node whose output is in the cache is "cached" and
 * its inputs are not needed; every other node is "needed". Needed nodes become ready when all
 * their needed inputs are done. Workers take the first ready node whose plugin is below its
 * concurrency limit, run it through the stage runner into a temporary file and commit it to the
 * cache. Transient failures (REEL_ENET, REEL_ETIMEDOUT) are retried with exponential backoff;
 * a node that fails for good marks everything depending on it as skipped, while independent
 * nodes keep running so that their work is cached for the next run. */
#include "pipeline/sched-impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t reeli_cancel_flag;

enum { J_NONE = 0, J_CACHED, J_WAIT, J_READY, J_RUNNING, J_DONE, J_FAILED, J_SKIPPED };

typedef struct job {
    int state;
    int waiting; /* needed inputs not done yet */
    int *users;  /* ids of needed nodes that take this one as input */
    size_t n_users, cap_users;
} job;

typedef struct pass {
    reeli_sched *s;
    job *jobs; /* jobs[id] for id 1..n (index 0 unused) */
    size_t n;
    int remaining; /* needed jobs not yet finished, failed or skipped */
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* first permanent failure */
    int failed_id;
    char *failed_msg;
    int failed_code;
    int n_failed;
} pass;

typedef struct progress_ctx {
    pass *p;
    const reeli_node *node;
    double last_t, last_fraction;
} progress_ctx;

static void add_user(job *j, int user)
{
    if (j->n_users == j->cap_users) {
        j->cap_users = j->cap_users ? 2 * j->cap_users : 4;
        j->users = reel_xrealloc(j->users, j->cap_users * sizeof *j->users);
    }
    j->users[j->n_users++] = user;
}

json_t *reeli_sched_node_fields(const reeli_node *n)
{
    json_t *f = json_object();
    json_object_set_new(f, "id", json_integer(n->id));
    json_object_set_new(f, "key", json_string(n->key));
    json_object_set_new(f, "kind", json_string(n->kind));
    if (n->plugin) json_object_set_new(f, "plugin", json_string(n->plugin));
    if (n->name) json_object_set_new(f, "name", json_string(n->name));
    return f;
}

/* Marks target and what it needs; returns the number of nodes visited. Inputs have smaller ids
 * than their users, so one backward pass over the ids finds them without recursion (a script
 * can chain nodes as deep as it likes). */
static int visit(pass *p, int target)
{
    unsigned char *reached = reel_xcalloc((size_t)target + 1, 1);
    reached[target] = 1;
    int count = 0;
    for (int id = target; id >= 1; id--) {
        job *j = &p->jobs[id];
        if (!reached[id] || j->state != J_NONE) continue;
        reeli_node *n = reeli_graph_node(p->s->graph, id);
        count++;
        char *why = NULL;
        int cached = reeli_cache_check(p->s->cache, n->key, n->ext, &why);
        if (cached < 0) {
            /* damaged, unrecorded or changed since written: removed, and the node runs again */
            json_t *f = reeli_sched_node_fields(n);
            json_object_set_new(f, "reason", json_string(why));
            reeli_events_emit(p->s->events, "node_cache_invalid", f);
            REEL_LOGW("cache: node %d: %s: %s; running it again", n->id, n->key, why);
        }
        free(why);
        if (cached == 1) {
            j->state = J_CACHED;
            p->s->stats.cached++;
            reeli_events_emit(p->s->events, "node_cached", reeli_sched_node_fields(n));
            reeli_events_node_state(p->s->events, n, REELI_NODE_CACHED, 1.0);
            continue;
        }
        j->state = J_WAIT;
        p->remaining++;
        for (size_t i = 0; i < n->n_inputs; i++) reached[n->inputs[i]] = 1;
    }
    for (int id = 1; id <= target; id++) {
        if (!reached[id] || p->jobs[id].state != J_WAIT) continue;
        reeli_node *n = reeli_graph_node(p->s->graph, id);
        for (size_t i = 0; i < n->n_inputs; i++) {
            int in = n->inputs[i];
            /* the same input may appear twice (a node mixed with itself): count each edge */
            if (p->jobs[in].state == J_WAIT) {
                p->jobs[id].waiting++;
                add_user(&p->jobs[in], id);
            }
        }
    }
    free(reached);
    return count;
}

static void mark_ready(pass *p)
{
    for (size_t id = 1; id <= p->n; id++)
        if (p->jobs[id].state == J_WAIT && p->jobs[id].waiting == 0) p->jobs[id].state = J_READY;
}

static const char *group_of(const reeli_node *n)
{
    return n->plugin ? n->plugin : n->kind;
}

/* Under mu: the first ready job that its plugin's limit allows to start, or 0. */
static int pick(pass *p)
{
    for (size_t id = 1; id <= p->n; id++) {
        if (p->jobs[id].state != J_READY) continue;
        const reeli_node *n = reeli_graph_node(p->s->graph, (int)id);
        if (n->concurrency > 0) {
            int same = 0;
            for (size_t k = 1; k <= p->n; k++)
                if (p->jobs[k].state == J_RUNNING &&
                    strcmp(group_of(reeli_graph_node(p->s->graph, (int)k)), group_of(n)) == 0)
                    same++;
            if (same >= n->concurrency) continue;
        }
        return (int)id;
    }
    return 0;
}

/* Under mu: id failed or was skipped; skip everything that depends on it. Users have larger
 * ids, so one forward pass reaches them all. */
static void skip_users(pass *p, int id)
{
    unsigned char *dead = reel_xcalloc(p->n + 1, 1);
    dead[id] = 1;
    for (size_t k = (size_t)id; k <= p->n; k++) {
        if (!dead[k]) continue;
        job *j = &p->jobs[k];
        for (size_t i = 0; i < j->n_users; i++) {
            job *u = &p->jobs[j->users[i]];
            if (u->state == J_WAIT || u->state == J_READY) {
                u->state = J_SKIPPED;
                p->remaining--;
                dead[j->users[i]] = 1;
            }
        }
    }
    free(dead);
}

static int on_progress(void *ctx, double fraction)
{
    progress_ctx *pc = ctx;
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    double now = reel_now();
    /* at most 5 events a second per node, and only on visible change */
    if (now - pc->last_t >= 0.2 && fraction - pc->last_fraction >= 0.005) {
        pc->last_t = now;
        pc->last_fraction = fraction;
        json_t *f = json_object();
        json_object_set_new(f, "id", json_integer(pc->node->id));
        json_object_set_new(f, "key", json_string(pc->node->key));
        json_object_set_new(f, "fraction", json_real(fraction));
        reeli_events_emit(pc->p->s->events, "node_progress", f);
    }
    reeli_events_node_state(pc->p->s->events, pc->node, REELI_NODE_RUNNING, fraction);
    return reeli_cancel_flag != 0;
}

/* Sleeps up to seconds, waking early on cancel. */
static void backoff_sleep(double seconds)
{
    double end = reel_now() + seconds;
    while (!reeli_cancel_flag && reel_now() < end) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Runs one node (with retries) outside the lock. Returns 0 or a REEL_E* code; *msg gets the
 * error text (owned) on failure. */
static int execute(pass *p, const reeli_node *n, char **msg)
{
    reeli_sched *s = p->s;
    const char **inputs = n->n_inputs ? reel_xmalloc(n->n_inputs * sizeof *inputs) : NULL;
    for (size_t i = 0; i < n->n_inputs; i++) {
        const reeli_node *in = reeli_graph_node(s->graph, n->inputs[i]);
        inputs[i] = reeli_cache_path(s->cache, in->key, in->ext);
    }
    int attempts = s->max_attempts > 0 ? s->max_attempts : 1;
    double delay = s->retry_base_s > 0 ? s->retry_base_s : 0.5;
    double t0 = reel_now();
    int rc = 0;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        json_t *f = reeli_sched_node_fields(n);
        json_object_set_new(f, "attempt", json_integer(attempt));
        reeli_events_emit(s->events, "node_start", f);
        reeli_events_node_state(s->events, n, REELI_NODE_RUNNING, 0.0);
        char *tmp = reeli_cache_tmp_path(s->cache, n->key, n->ext);
        progress_ctx pc = {p, n, 0, -1};
        reel_stage_io io = {
            .kind = n->kind,
            .params = n->params,
            .inputs = inputs,
            .n_inputs = n->n_inputs,
            .out_path = tmp,
            .progress = on_progress,
            .progress_ctx = &pc,
        };
        json_t *result = NULL;
        io.result = &result;
        reel_clear_error();
        rc = s->runner->run(&io);
        /* a stage that changed what the script asked for says so (e.g. a trimmed narration) */
        const char *notice = json_string_value(json_object_get(result, "notice"));
        if (rc == 0 && notice) {
            json_t *nf = reeli_sched_node_fields(n);
            json_object_set_new(nf, "notice", json_string(notice));
            reeli_events_emit(s->events, "node_notice", nf);
            char lb[160];
            REEL_LOGW("%s: %s", reeli_node_label(n, lb, sizeof lb), notice);
        }
        json_decref(result);
        if (rc == 0) rc = reeli_cache_commit(s->cache, tmp, n->key, n->ext);
        if (rc < 0) unlink(tmp);
        free(tmp);
        if (rc == 0) {
            f = reeli_sched_node_fields(n);
            json_object_set_new(f, "duration_s", json_real(reel_now() - t0));
            json_object_set_new(f, "attempts", json_integer(attempt));
            reeli_events_emit(s->events, "node_done", f);
            break;
        }
        const char *m = reel_last_error();
        free(*msg);
        *msg = reel_xstrdup(*m ? m : reel_strerror(rc));
        int transient = rc == REEL_ENET || rc == REEL_ETIMEDOUT;
        if (!transient || attempt == attempts || reeli_cancel_flag) break;
        f = reeli_sched_node_fields(n);
        json_object_set_new(f, "attempt", json_integer(attempt));
        json_object_set_new(f, "delay_s", json_real(delay));
        json_object_set_new(f, "error", json_string(*msg));
        reeli_events_emit(s->events, "node_retry", f);
        REEL_LOGW("node %d: %s; retrying in %.1f s", n->id, *msg, delay);
        backoff_sleep(delay);
        delay *= 2;
    }
    for (size_t i = 0; i < n->n_inputs; i++) free((char *)inputs[i]);
    free(inputs);
    return rc;
}

static void *worker(void *arg)
{
    pass *p = arg;
    reeli_sched *s = p->s;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->remaining == 0) break;
        if (reeli_cancel_flag && p->running == 0) break;
        int id = reeli_cancel_flag ? 0 : pick(p);
        if (!id) {
            /* timed: the cancel flag is set from a signal handler that cannot signal cv */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
            continue;
        }
        job *j = &p->jobs[id];
        j->state = J_RUNNING;
        p->running++;
        pthread_mutex_unlock(&p->mu);

        const reeli_node *n = reeli_graph_node(s->graph, id);
        char *msg = NULL;
        int rc = execute(p, n, &msg);

        pthread_mutex_lock(&p->mu);
        p->running--;
        p->remaining--;
        if (rc == 0) {
            j->state = J_DONE;
            s->stats.executed++;
            for (size_t i = 0; i < j->n_users; i++) {
                job *u = &p->jobs[j->users[i]];
                if (u->state == J_WAIT && --u->waiting == 0) u->state = J_READY;
            }
            reeli_events_node_state(s->events, n, REELI_NODE_DONE, 1.0);
        } else {
            j->state = J_FAILED;
            if (rc != REEL_ECANCELED || !reeli_cancel_flag) {
                s->stats.failed++;
                p->n_failed++;
                json_t *f = reeli_sched_node_fields(n);
                json_object_set_new(f, "error", json_string(msg));
                json_object_set(f, "params", n->params);
                reeli_events_emit(s->events, "node_failed", f);
                reeli_events_node_state(s->events, n, REELI_NODE_FAILED, 0.0);
                if (!p->failed_id) {
                    p->failed_id = id;
                    p->failed_code = rc;
                    p->failed_msg = msg;
                    msg = NULL;
                }
            }
            skip_users(p, id);
        }
        free(msg);
        pthread_cond_broadcast(&p->cv);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int reeli_sched_run(reeli_sched *s, int target)
{
    int rc = reeli_graph_key(s->graph, target, s->runner);
    if (rc < 0) return rc;
    pass p = {0};
    p.s = s;
    p.n = s->graph->n;
    p.jobs = reel_xcalloc(p.n + 1, sizeof *p.jobs);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    int visited = visit(&p, target);
    mark_ready(&p);
    reeli_events_pass_begin(s->events, visited);

    int n_threads = s->jobs > 0 ? s->jobs : reel_cpu_count();
    if (n_threads > p.remaining) n_threads = p.remaining;
    pthread_t *threads = n_threads > 0 ? reel_xmalloc((size_t)n_threads * sizeof *threads) : NULL;
    int started = 0;
    for (int i = 0; i < n_threads; i++) {
        if (pthread_create(&threads[i], NULL, worker, &p) != 0) break;
        started++;
    }
    if (n_threads > 0 && started == 0) {
        rc = reel_set_error(REEL_ENOMEM, "scheduler: cannot start worker threads");
    } else {
        for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
    }
    free(threads);
    reeli_events_pass_end(s->events);

    if (rc == 0 && p.failed_id) {
        const reeli_node *n = reeli_graph_node(s->graph, p.failed_id);
        char label[256];
        char *params = reel_json_canonical(n->params);
        rc = reel_set_error(p.failed_code, "%s failed: %s\n  params: %s%s",
                            reeli_node_label(n, label, sizeof label), p.failed_msg, params,
                            p.n_failed > 1 ? "\n  (other nodes failed too: see the events)" : "");
        free(params);
    } else if (rc == 0 && reeli_cancel_flag) {
        rc = reel_set_error(REEL_ECANCELED,
                            "interrupted; finished nodes are cached and a re-run resumes");
    } else if (rc == 0) {
        REEL_ASSERT(p.jobs[target].state == J_DONE || p.jobs[target].state == J_CACHED);
    }
    for (size_t id = 0; id <= p.n; id++) free(p.jobs[id].users);
    free(p.jobs);
    free(p.failed_msg);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc;
}
