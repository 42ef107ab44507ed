/* The slurm executor: a scheduling pass that hands every missing node to Slurm.
 *
 * Like the local pass (sched.c) it walks back from the target, counts cached nodes and makes a
 * node ready once its inputs are done; a ready node is then written as a description into the
 * cache (node_exec.c) and submitted with sbatch as one job running `reel node exec KEY`, and
 * `squeue` is polled (with back-off while nothing changes) for the job states that become the
 * usual node_start / node_done / node_failed events. A job that ended is judged by the cache:
 * the node is done if its output is there and intact, whatever the job state says. A node whose
 * inputs are still running is submitted at once with --dependency=afterok on their jobs and
 * --kill-on-invalid-dep, so that Slurm starts it the moment they end (reel noticing the end and
 * submitting then would cost a scheduling pass per level of the graph); when an input fails,
 * its waiting users are cancelled and skipped, and a dependent job that Slurm cancelled though
 * its inputs are in the cache is submitted again.
 *
 * DIR/cluster/jobs/<key>.job keeps the job id of each submission (the run's state): a run
 * started again after a crash finds those jobs still queued or running (squeue, matched by
 * their --comment reel:<key>) and waits for them instead of submitting twice. Ctrl-C or SIGTERM
 * cancels the run's queued and running jobs with scancel. */
#include "pipeline/node-impl.h"
#include "pipeline/plugin-impl.h"
#include "pipeline/resources-impl.h"
#include "pipeline/slurm-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { J_NONE = 0, J_CACHED, J_WAIT, J_READY, J_QUEUED, J_RUNNING, J_DONE, J_FAILED, J_SKIPPED };

/* squeue failures in a row (the controller restarting, a timeout) before the run gives up */
#define MAX_POLL_FAILURES 20
#define POLL_MIN_S        0.25
#define POLL_MAX_S        3.0
#define LOG_TAIL          2000
#define CACHE_LOOK_S      0.1
#define ENDED_GRACE_S     3.0

typedef struct sjob {
    int state;
    int waiting; /* inputs not done yet (a job submitted with --dependency has some) */
    int dep;     /* submitted with --dependency on inputs in flight, not seen running yet */
    int no_dep;  /* sbatch refused the dependency: submit it once its inputs are done */
    int resubmits;
    int by_comment; /* attached to a job found by its comment alone (see live_job) */
    int *users;
    size_t n_users, cap_users;
    long job_id;
    double t0;
    double ended_since; /* when the job was first seen ended without its output, else 0 */
} sjob;

typedef struct spass {
    reeli_sched *s;
    sjob *jobs; /* jobs[id], 1..n */
    size_t n;
    int remaining, inflight, queued;
    reeli_slurm_job *snap; /* the last squeue answer */
    size_t n_snap;
    int failed_id, failed_code, n_failed;
    char *failed_msg;
} spass;

/* a node event's fields (as a local run's), with the Slurm job id once there is one */
static json_t *fields(const reeli_node *n, long job_id)
{
    json_t *f = reeli_sched_node_fields(n);
    if (job_id > 0) json_object_set_new(f, "job_id", json_integer(job_id));
    return f;
}

static void add_user(sjob *j, int user)
{
    if (j->n_users == j->cap_users) {
        j->cap_users = j->cap_users ? 2 * j->cap_users : 4;
        j->users = reel_xrealloc(j->users, j->cap_users * sizeof *j->users);
    }
    j->users[j->n_users++] = user;
}

static reeli_node *node(spass *p, int id)
{
    return reeli_graph_node(p->s->graph, id);
}

/* Marks what target needs, as sched.c does: inputs have smaller ids than their users. */
static int visit(spass *p, int target)
{
    unsigned char *reached = reel_xcalloc((size_t)target + 1, 1);
    reached[target] = 1;
    int count = 0;
    for (int id = target; id >= 1; id--) {
        sjob *j = &p->jobs[id];
        if (!reached[id] || j->state != J_NONE) continue;
        reeli_node *n = node(p, id);
        count++;
        char *why = NULL;
        int cached = reeli_cache_check(p->s->cache, n->key, n->ext, &why);
        if (cached < 0) {
            json_t *f = fields(n, 0);
            json_object_set_new(f, "reason", json_string(why));
            reeli_events_emit(p->s->events, "node_cache_invalid", f);
            REEL_LOGW("cache: node %d: %s: %s; running it again", n->id, n->key, why);
        }
        free(why);
        if (cached == 1) {
            j->state = J_CACHED;
            p->s->stats.cached++;
            reeli_events_emit(p->s->events, "node_cached", fields(n, 0));
            reeli_events_node_state(p->s->events, n, REELI_NODE_CACHED, 1.0);
            continue;
        }
        j->state = J_WAIT;
        p->remaining++;
        for (size_t i = 0; i < n->n_inputs; i++) reached[n->inputs[i]] = 1;
    }
    for (int id = 1; id <= target; id++) {
        if (!reached[id] || p->jobs[id].state != J_WAIT) continue;
        reeli_node *n = node(p, id);
        for (size_t i = 0; i < n->n_inputs; i++)
            if (p->jobs[n->inputs[i]].state == J_WAIT) {
                p->jobs[id].waiting++;
                add_user(&p->jobs[n->inputs[i]], id);
            }
    }
    for (int id = 1; id <= target; id++)
        if (p->jobs[id].state == J_WAIT && p->jobs[id].waiting == 0) p->jobs[id].state = J_READY;
    free(reached);
    return count;
}

/* scancel of jobs that wait on a failed input; they are skipped whatever it answers (Slurm
 * may have cancelled them already, as --kill-on-invalid-dep asks) */
static void cancel_quietly(const char **argv, int n)
{
    if (n <= 1) return;
    argv[n] = NULL;
    char *err = NULL;
    int r = reeli_slurm_cmd(argv, NULL, &err);
    if (r != 0) REEL_LOGD("scancel of jobs waiting on a failed input: exit %d: %s", r, err);
    free(err);
    reel_clear_error();
}

static void skip_users(spass *p, int id)
{
    unsigned char *dead = reel_xcalloc(p->n + 1, 1);
    const char **argv = reel_xcalloc(p->n + 2, sizeof *argv);
    char **ids = reel_xcalloc(p->n + 1, sizeof *ids);
    int n_cancel = 0;
    argv[n_cancel++] = "scancel";
    dead[id] = 1;
    for (size_t k = (size_t)id; k <= p->n; k++) {
        if (!dead[k]) continue;
        sjob *j = &p->jobs[k];
        for (size_t i = 0; i < j->n_users; i++) {
            int uid = j->users[i];
            sjob *u = &p->jobs[uid];
            if (u->state == J_QUEUED || u->state == J_RUNNING) {
                /* submitted with --dependency on what failed: it can never run */
                if (u->state == J_QUEUED) p->queued--;
                p->inflight--;
                if (u->job_id > 0 && !ids[uid]) {
                    ids[uid] = reel_xasprintf("%ld", u->job_id);
                    argv[n_cancel++] = ids[uid];
                }
                json_t *f = fields(node(p, uid), u->job_id);
                json_object_set_new(f, "reason", json_string("an input failed"));
                reeli_events_emit(p->s->events, "node_cancelled", f);
            } else if (u->state != J_WAIT && u->state != J_READY) {
                continue;
            }
            u->state = J_SKIPPED;
            p->remaining--;
            dead[uid] = 1;
        }
    }
    cancel_quietly(argv, n_cancel);
    for (size_t k = 0; k <= p->n; k++) free(ids[k]);
    free(ids);
    free(argv);
    free(dead);
}

/* The last bytes of a job's log, from its last LOG_TAIL bytes (owned, maybe ""). */
static char *log_tail(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return reel_xstrdup("");
    char buf[LOG_TAIL + 1];
    size_t k = 0;
    if (fseek(f, -(long)LOG_TAIL, SEEK_END) != 0) rewind(f);
    k = fread(buf, 1, LOG_TAIL, f);
    fclose(f);
    buf[k] = '\0';
    while (k && (buf[k - 1] == '\n' || buf[k - 1] == ' ')) buf[--k] = '\0';
    return reel_xstrdup(buf);
}

static void node_failed(spass *p, int id, int code, char *msg)
{
    reeli_node *n = node(p, id);
    sjob *j = &p->jobs[id];
    if (j->state == J_QUEUED || j->state == J_RUNNING) p->inflight--;
    j->state = J_FAILED;
    p->remaining--;
    p->s->stats.failed++;
    p->n_failed++;
    json_t *f = fields(n, j->job_id);
    json_object_set_new(f, "error", json_string(msg));
    json_object_set(f, "params", n->params);
    reeli_events_emit(p->s->events, "node_failed", f);
    reeli_events_node_state(p->s->events, n, REELI_NODE_FAILED, 0.0);
    if (!p->failed_id) {
        p->failed_id = id;
        p->failed_code = code;
        p->failed_msg = msg;
    } else {
        free(msg);
    }
    skip_users(p, id);
}

static void node_done(spass *p, int id)
{
    reeli_node *n = node(p, id);
    sjob *j = &p->jobs[id];
    if (j->state == J_QUEUED) {
        /* it ran between two looks at the queue: its start is reported now */
        json_t *f = fields(n, j->job_id);
        json_object_set_new(f, "attempt", json_integer(1));
        reeli_events_emit(p->s->events, "node_start", f);
    }
    p->inflight--;
    j->state = J_DONE;
    p->remaining--;
    p->s->stats.executed++;
    json_t *f = fields(n, j->job_id);
    json_object_set_new(f, "duration_s", json_real(reel_now() - j->t0));
    json_object_set_new(f, "attempts", json_integer(1));
    reeli_events_emit(p->s->events, "node_done", f);
    reeli_events_node_state(p->s->events, n, REELI_NODE_DONE, 1.0);
    for (size_t i = 0; i < j->n_users; i++) {
        sjob *u = &p->jobs[j->users[i]];
        int pending = u->state == J_WAIT || u->state == J_QUEUED || u->state == J_RUNNING;
        if (pending && u->waiting > 0 && --u->waiting == 0 && u->state == J_WAIT)
            u->state = J_READY;
    }
}

static char *job_file(spass *p, const reeli_node *n)
{
    return reeli_cluster_path(p->s->cache->dir, "jobs", n->key, ".job");
}

/* The job a previous run submitted for n, if Slurm still has it queued or running: 0 if none.
 * Found through cluster/jobs/<key>.job, else through the queue itself (comment reel:<key>): a
 * run killed between sbatch and writing that file left a job that only the queue knows. */
static long live_job(spass *p, const reeli_node *n, int *by_comment)
{
    *by_comment = 0;
    char *path = job_file(p, n);
    char *text = NULL;
    size_t size = 0;
    long id = 0;
    char want[80];
    snprintf(want, sizeof want, "reel:%s", n->key);
    if (reel_file_read(path, 64, &text, &size) == 0 && reeli_slurm_parse_sbatch(text, &id) == 0) {
        const reeli_slurm_job *j = reeli_slurm_find(p->snap, p->n_snap, id);
        if (!j || strcmp(j->comment, want) != 0 ||
            (j->cls != REELI_SLURM_QUEUED && j->cls != REELI_SLURM_RUNNING))
            id = 0;
    } else {
        id = 0;
    }
    for (size_t i = 0; i < p->n_snap && !id; i++) {
        const reeli_slurm_job *j = &p->snap[i];
        if (!strcmp(j->comment, want) &&
            (j->cls == REELI_SLURM_QUEUED || j->cls == REELI_SLURM_RUNNING)) {
            id = j->id;
            *by_comment = 1;
        }
    }
    reel_clear_error();
    free(text);
    free(path);
    return id;
}

/* Submits node id, after the jobs named by dep ("afterok:12:13") if not NULL; returns 0 or an
 * error. */
static int submit(spass *p, int id, const char *dep)
{
    reeli_sched *s = p->s;
    const reel_slurm_params *o = s->slurm;
    reeli_node *n = node(p, id);
    int rc = reeli_node_desc_write(s->cache, s->graph, n);
    char *jobs_dir = reel_xasprintf("%s/cluster/jobs", s->cache->dir);
    char *logs_dir = reel_xasprintf("%s/cluster/logs", s->cache->dir);
    if (rc == 0) rc = reel_mkdir_p(jobs_dir);
    if (rc == 0) rc = reel_mkdir_p(logs_dir);
    free(jobs_dir);
    free(logs_dir);
    if (rc < 0) return rc;

    char *qexe = reeli_slurm_shell_quote(o->reel_exe ? o->reel_exe : "reel");
    char *qdir = reeli_slurm_shell_quote(s->cache->dir);
    char *cmd = reel_xasprintf("exec %s node exec %s --cache %s", qexe, n->key, qdir);
    free(qexe);
    free(qdir);
    for (size_t i = 0; i < o->n_node_args; i++) {
        char *q = reeli_slurm_shell_quote(o->node_args[i]);
        char *c2 = reel_xasprintf("%s %s", cmd, q);
        free(q);
        free(cmd);
        cmd = c2;
    }
    char *log = reeli_cluster_path(s->cache->dir, "logs", n->key, ".log");
    char *a_name = reel_xasprintf("--job-name=reel-%d", n->id);
    char *a_out = reel_xasprintf("--output=%s", log);
    char *a_comment = reel_xasprintf("--comment=reel:%s", n->key);
    char *a_wrap = reel_xasprintf("--wrap=%s", cmd);
    /* the node's own resources (reel.video{resources = {...}}) win over its plugin's, and those
     * over the run's options */
    const reeli_plugin *plugin = n->plugin ? reeli_plugin_get(n->plugin) : NULL;
    if (!plugin) reel_clear_error(); /* then it declares nothing (the key was computed with it) */
    reeli_job_res res;
    reeli_res_merge(n->resources, plugin ? reeli_plugin_caps(plugin) : NULL, o, &res);
    char *extra[REELI_RES_MAX_ARGS];
    int n_extra = reeli_res_sbatch_args(&res, extra);
    char *a_dep = dep ? reel_xasprintf("--dependency=%s", dep) : NULL;
    const char *argv[20];
    int k = 0;
    argv[k++] = "sbatch";
    argv[k++] = "--parsable";
    argv[k++] = "--requeue";
    if (a_dep) {
        argv[k++] = a_dep;
        /* an input that fails cancels the job instead of leaving it pending for ever */
        argv[k++] = "--kill-on-invalid-dep=yes";
    }
    argv[k++] = a_name;
    argv[k++] = a_out;
    argv[k++] = a_comment;
    for (int e = 0; e < n_extra; e++) argv[k++] = extra[e];
    argv[k++] = a_wrap;
    argv[k] = NULL;
    char *out = NULL, *err = NULL;
    double t = reel_now();
    int r = reeli_slurm_cmd(argv, &out, &err);
    double took = reel_now() - t;
    long job = 0;
    if (r > 0) {
        size_t len = strlen(err);
        while (len && err[len - 1] == '\n') err[--len] = '\0';
        rc = reel_set_error(REEL_EIO, "sbatch failed (exit %d): %s", r,
                            *err ? err : "it printed nothing");
    } else if (r == 0) {
        rc = reeli_slurm_parse_sbatch(out, &job);
    } else {
        rc = r;
    }
    if (rc == 0) {
        char text[32];
        snprintf(text, sizeof text, "%ld\n", job);
        char *path = job_file(p, n);
        rc = reel_file_write_atomic(path, text, strlen(text));
        free(path);
    }
    if (rc == 0) {
        p->jobs[id].job_id = job;
        json_t *f = fields(n, job);
        json_object_set_new(f, "submit_s", json_real(took));
        json_object_set_new(f, "log", json_string(log));
        json_object_set_new(f, "resources", reeli_res_json(&res));
        if (dep) json_object_set_new(f, "dependency", json_string(dep));
        reeli_events_emit(s->events, "node_submitted", f);
    }
    free(out);
    free(err);
    free(cmd);
    free(log);
    free(a_name);
    free(a_out);
    free(a_comment);
    free(a_wrap);
    free(a_dep);
    for (int e = 0; e < n_extra; e++) free(extra[e]);
    return rc;
}

/* The --dependency of node id when each of its inputs is done or has a job in flight that has
 * not been seen ending: "afterok:12:13" (owned); NULL when an input has no such job. */
static char *dependency(spass *p, int id)
{
    reeli_node *n = node(p, id);
    char *dep = NULL;
    for (size_t i = 0; i < n->n_inputs; i++) {
        const sjob *in = &p->jobs[n->inputs[i]];
        if (in->state == J_DONE || in->state == J_CACHED) continue;
        if ((in->state != J_QUEUED && in->state != J_RUNNING) || in->job_id <= 0 ||
            in->ended_since) {
            free(dep);
            return NULL;
        }
        char *d = reel_xasprintf("%s:%ld", dep ? dep : "afterok", in->job_id);
        free(dep);
        dep = d;
    }
    return dep;
}

/* Submits (or re-attaches) node id, after the jobs in dep if not NULL. */
static void launch(spass *p, int id, const char *dep)
{
    sjob *j = &p->jobs[id];
    reeli_node *n = node(p, id);
    int by_comment;
    long live = live_job(p, n, &by_comment);
    j->t0 = reel_now();
    j->by_comment = live && by_comment;
    if (live) {
        j->job_id = live;
        reeli_events_emit(p->s->events, "node_attached", fields(n, live));
    } else if (submit(p, id, dep) < 0) {
        if (dep) {
            /* e.g. an input's job already purged: wait for the inputs as without a dependency */
            REEL_LOGD("slurm executor: node %d: %s; submitted once its inputs are done", id,
                      reel_last_error());
            reel_clear_error();
            j->no_dep = 1;
            return;
        }
        p->inflight++; /* node_failed counts it out again */
        j->state = J_QUEUED;
        node_failed(p, id, reel_last_error_code(), reel_xstrdup(reel_last_error()));
        return;
    }
    j->dep = dep != NULL;
    j->state = J_QUEUED;
    p->inflight++;
    p->queued++;
}

/* Submits (or re-attaches) nodes while the cap allows: first those whose inputs are done, then
 * those whose inputs all have jobs in flight, with --dependency=afterok on those jobs, so that
 * Slurm starts each the moment its inputs end instead of after reel noticed and submitted it
 * (ids ascending: inputs before their users, so that a whole chain goes in one pass). */
static void start_ready(spass *p)
{
    int cap = p->s->slurm->max_jobs;
    for (int round = 0; round < 2; round++) {
        for (size_t id = 1; id <= p->n && !reeli_cancel_flag; id++) {
            sjob *j = &p->jobs[id];
            if (j->state != (round == 0 ? J_READY : J_WAIT) || (round == 1 && j->no_dep)) continue;
            if (cap > 0 && p->inflight >= cap) return;
            char *dep = round == 1 ? dependency(p, (int)id) : NULL;
            if (round == 0 || dep) launch(p, (int)id, dep);
            free(dep);
        }
    }
}

/* Asks squeue for the states of this user's jobs. 0, or an error. */
static int poll_queue(spass *p)
{
    char user[32];
    snprintf(user, sizeof user, "%ld", (long)getuid());
    const char *argv[] = {"squeue", "-h", "-t", "all", "-o", "%i|%T|%k", "-u", user, NULL};
    char *out = NULL, *err = NULL;
    int r = reeli_slurm_cmd(argv, &out, &err);
    int rc = r;
    if (r > 0) {
        size_t len = strlen(err);
        while (len && err[len - 1] == '\n') err[--len] = '\0';
        rc = reel_set_error(REEL_EIO, "squeue failed (exit %d): %s", r, err);
    } else if (r == 0) {
        reeli_slurm_job *jobs;
        size_t n;
        rc = reeli_slurm_parse_squeue(out, strlen(out), &jobs, &n);
        if (rc == 0) {
            free(p->snap);
            p->snap = jobs;
            p->n_snap = n;
        }
    }
    free(out);
    free(err);
    return rc;
}

/* A job left the queue or ended: the cache says whether its node is done. */
static void job_ended(spass *p, int id, const reeli_slurm_job *sj)
{
    reeli_node *n = node(p, id);
    sjob *j = &p->jobs[id];
    if (j->state == J_QUEUED) p->queued--;
    char *why = NULL;
    int ok = reeli_cache_check(p->s->cache, n->key, n->ext, &why);
    if (ok == 1) {
        free(why);
        node_done(p, id);
        return;
    }
    if (((j->dep && j->state == J_QUEUED) || j->by_comment) && !why && j->resubmits < 3) {
        /* Never ran: Slurm cancelled it because its dependency could not be met (an input's
         * job ended otherwise than COMPLETED while its output is in the cache, or was
         * requeued). Or it was found by its comment alone and wrote into another cache of the
         * same key. Submitted again, after the inputs still in flight. */
        const char *reason = j->by_comment ? "the job found by its comment left no output here"
                                           : "its dependency could not be met";
        j->resubmits++;
        j->dep = 0;
        j->by_comment = 0;
        j->ended_since = 0;
        p->inflight--;
        j->state = j->waiting ? J_WAIT : J_READY;
        json_t *f = fields(n, j->job_id);
        json_object_set_new(f, "state", json_string(sj ? sj->state : "gone"));
        json_object_set_new(f, "reason", json_string(reason));
        reeli_events_emit(p->s->events, "node_requeued", f);
        j->job_id = 0;
        return;
    }
    char *log = reeli_cluster_path(p->s->cache->dir, "logs", n->key, ".log");
    char *tail = log_tail(log);
    const char *what = !sj                                ? "left the queue"
                       : sj->cls == REELI_SLURM_COMPLETED ? "completed"
                                                          : sj->state;
    char *msg =
        reel_xasprintf("Slurm job %ld %s without its output in the cache%s%s\n  job log %s%s%s",
                       j->job_id, what, why ? "; the entry was damaged: " : "", why ? why : "", log,
                       *tail ? ", ending:\n" : " (empty)", tail);
    free(why);
    free(tail);
    free(log);
    node_failed(p, id, REEL_EIO, msg);
}

/* Sleeps up to seconds, waking early on cancel or when the output of a job in flight appears
 * in the cache: a stat() per job every CACHE_LOOK_S finds a finished node long before the
 * squeue back-off would, without asking the controller more often. Returns 1 if an output
 * appeared. */
static int nap(spass *p, double seconds)
{
    double end = reel_now() + seconds, next_look = reel_now() + CACHE_LOOK_S;
    while (!reeli_cancel_flag && reel_now() < end) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (reel_now() < next_look) continue;
        next_look = reel_now() + CACHE_LOOK_S;
        for (size_t id = 1; id <= p->n; id++) {
            sjob *j = &p->jobs[id];
            /* a job waiting on its inputs' jobs cannot have made its output yet */
            if ((j->state != J_QUEUED && j->state != J_RUNNING) || j->waiting) continue;
            reeli_node *n = node(p, (int)id);
            char *path = reeli_cache_path(p->s->cache, n->key, n->ext);
            int there = access(path, F_OK) == 0;
            free(path);
            if (there) return 1;
        }
    }
    return 0;
}

/* Marks the jobs in flight whose output is in the cache done; returns how many. */
static int collect_outputs(spass *p)
{
    int found = 0;
    for (size_t id = 1; id <= p->n; id++) {
        sjob *j = &p->jobs[id];
        if ((j->state != J_QUEUED && j->state != J_RUNNING) || j->waiting) continue;
        reeli_node *n = node(p, (int)id);
        if (reeli_cache_check(p->s->cache, n->key, n->ext, NULL) != 1) continue;
        if (j->state == J_QUEUED) p->queued--;
        node_done(p, (int)id);
        found++;
    }
    return found;
}

/* Applies the last squeue answer to the jobs in flight; returns how many changed state. */
static int update(spass *p)
{
    int changed = 0;
    for (size_t id = 1; id <= p->n; id++) {
        sjob *j = &p->jobs[id];
        if (j->state != J_QUEUED && j->state != J_RUNNING) continue;
        const reeli_slurm_job *sj = reeli_slurm_find(p->snap, p->n_snap, j->job_id);
        int cls = sj ? sj->cls : REELI_SLURM_ENDED;
        reeli_node *n = node(p, (int)id);
        if (cls != REELI_SLURM_COMPLETED && cls != REELI_SLURM_ENDED) j->ended_since = 0;
        if (cls == REELI_SLURM_RUNNING && j->state == J_QUEUED) {
            j->state = J_RUNNING;
            p->queued--;
            json_t *f = fields(n, j->job_id);
            json_object_set_new(f, "attempt", json_integer(1));
            reeli_events_emit(p->s->events, "node_start", f);
            reeli_events_node_state(p->s->events, n, REELI_NODE_RUNNING, 0.0);
            changed++;
        } else if (cls == REELI_SLURM_QUEUED && j->state == J_RUNNING) {
            /* requeued (node failure, preemption): it waits again */
            j->state = J_QUEUED;
            p->queued++;
            json_t *f = fields(n, j->job_id);
            json_object_set_new(f, "state", json_string(sj->state));
            reeli_events_emit(p->s->events, "node_requeued", f);
            changed++;
        } else if (cls == REELI_SLURM_COMPLETED || cls == REELI_SLURM_ENDED) {
            /* An ended job without its output is failed only once it stays ended a while: a
             * job being requeued passes through FAILED before it is PENDING again, and a
             * shared filesystem may show a file written on another machine a moment late. */
            double now = reel_now();
            if (!j->ended_since) j->ended_since = now;
            if (now - j->ended_since >= ENDED_GRACE_S ||
                reeli_cache_check(p->s->cache, n->key, n->ext, NULL) == 1)
                job_ended(p, (int)id, sj);
            changed++; /* ask again soon */
        }
    }
    return changed;
}

/* scancel every job of the run still queued or running; returns how many. */
static int cancel_all(spass *p)
{
    size_t n = 0;
    const char **argv = reel_xcalloc(p->n + 3, sizeof *argv);
    char **ids = reel_xcalloc(p->n + 1, sizeof *ids);
    argv[n++] = "scancel";
    for (size_t id = 1; id <= p->n; id++) {
        sjob *j = &p->jobs[id];
        if ((j->state != J_QUEUED && j->state != J_RUNNING) || j->job_id <= 0) continue;
        ids[id] = reel_xasprintf("%ld", j->job_id);
        argv[n++] = ids[id];
        reeli_events_emit(p->s->events, "node_cancelled", fields(node(p, (int)id), j->job_id));
    }
    int count = (int)n - 1;
    if (count > 0) {
        char *err = NULL;
        int r = reeli_slurm_cmd(argv, NULL, &err);
        if (r != 0)
            REEL_LOGW("scancel failed (exit %d): %s", r, err ? err : "");
        else
            REEL_LOGW("slurm executor: %d Slurm job%s of this run cancelled (scancel)", count,
                      count == 1 ? "" : "s");
        free(err);
    }
    for (size_t id = 0; id <= p->n; id++) free(ids[id]);
    free(ids);
    free(argv);
    return count;
}

int reeli_sched_slurm_run(reeli_sched *s, int target)
{
    int rc = reeli_graph_key(s->graph, target, s->runner);
    if (rc < 0) return rc;
    spass p = {0};
    p.s = s;
    p.n = s->graph->n;
    p.jobs = reel_xcalloc(p.n + 1, sizeof *p.jobs);
    int visited = visit(&p, target);
    reeli_events_pass_begin(s->events, visited);
    int poll_failures = 0, cancelled = 0;
    double delay = POLL_MIN_S;
    if (p.remaining > 0) {
        rc = poll_queue(&p); /* what is still queued from an earlier run, to re-attach to it */
        if (rc < 0) rc = reel_error_prefix("slurm executor");
    }
    while (rc == 0 && p.remaining > 0) {
        if (!reeli_cancel_flag) start_ready(&p);
        reeli_events_queued(s->events, p.queued);
        if (reeli_cancel_flag) {
            cancelled = cancel_all(&p);
            break;
        }
        if (p.inflight == 0) {
            /* start_ready() submitted every ready node, so nothing can be waiting here */
            if (p.remaining > 0)
                rc = reel_set_error(REEL_EINVAL, "slurm executor: %d nodes wait on nothing",
                                    p.remaining);
            continue;
        }
        if (nap(&p, delay) && collect_outputs(&p) > 0) {
            delay = POLL_MIN_S;
            continue; /* submit what became ready; the queue is asked on the next round */
        }
        if (reeli_cancel_flag) continue;
        if (poll_queue(&p) < 0) {
            if (++poll_failures >= MAX_POLL_FAILURES) {
                rc = reel_error_prefix("slurm executor: %d polls failed in a row", poll_failures);
                cancel_all(&p);
                break;
            }
            REEL_LOGW("slurm executor: %s; trying again", reel_last_error());
            delay = POLL_MAX_S;
            continue;
        }
        poll_failures = 0;
        delay = update(&p) ? POLL_MIN_S : (delay * 1.5 > POLL_MAX_S ? POLL_MAX_S : delay * 1.5);
    }
    reeli_events_queued(s->events, p.queued);
    reeli_events_pass_end(s->events);

    if (rc == 0 && p.failed_id) {
        const reeli_node *n = node(&p, p.failed_id);
        char label[256];
        char *params = reel_json_canonical(n->params);
        rc = reel_set_error(p.failed_code, "%s failed: %s\n  params: %s%s",
                            reeli_node_label(n, label, sizeof label), p.failed_msg, params,
                            p.n_failed > 1 ? "\n  (other nodes failed too: see the events)" : "");
        free(params);
    } else if (rc == 0 && reeli_cancel_flag) {
        rc = reel_set_error(REEL_ECANCELED,
                            "interrupted; %d Slurm job%s cancelled (scancel); finished nodes are "
                            "cached and a re-run resumes",
                            cancelled, cancelled == 1 ? "" : "s");
    }
    for (size_t id = 0; id <= p.n; id++) free(p.jobs[id].users);
    free(p.jobs);
    free(p.snap);
    free(p.failed_msg);
    return rc;
}
