/* Run events: JSON lines for other tools (--events) and a multi-line terminal display (one
 * overall line plus one line per running node). Both are fed by the scheduler's workers, so
 * everything here runs under one mutex. */
#include "pipeline/events-impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHOWN 8

typedef struct running {
    int id;
    char label[96];
    double fraction;
    double since;
} running;

struct reeli_events {
    pthread_mutex_t mu;
    FILE *out;   /* JSON lines, or NULL */
    int own_out; /* out was opened here */
    int tty;     /* draw the live display on stderr */
    double t0;
    /* display state */
    int total, done, cached, failed;
    int queued; /* jobs waiting in a batch queue (slurm executor), -1 when there is none */
    running *run;
    size_t n_run, cap_run;
    int drawn; /* lines currently on screen */
    double last_draw;
};

reeli_events *reeli_events_init(const char *path, int progress)
{
    reeli_events *ev = reel_xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    ev->t0 = reel_now();
    ev->queued = -1;
    if (path && strcmp(path, "-") == 0) {
        ev->out = stdout;
    } else if (path) {
        ev->out = fopen(path, "w");
        if (!ev->out) {
            reel_set_error_errno("--events %s", path);
            pthread_mutex_destroy(&ev->mu);
            free(ev);
            return NULL;
        }
        ev->own_out = 1;
    }
    ev->tty = progress < 0 ? isatty(STDERR_FILENO) : progress;
    /* The display and JSON on stdout would interleave on one terminal: stdout wins. */
    if (ev->out == stdout && isatty(STDOUT_FILENO) && progress < 0) ev->tty = 0;
    return ev;
}

static void clear_display(reeli_events *ev)
{
    if (!ev->tty || ev->drawn == 0) return;
    /* Move up over the drawn lines and clear to the end of the screen. */
    fprintf(stderr, "\r\033[%dA\033[J", ev->drawn);
    ev->drawn = 0;
}

static void draw(reeli_events *ev, int force)
{
    if (!ev->tty) return;
    double now = reel_now();
    if (!force && now - ev->last_draw < 0.1) return;
    ev->last_draw = now;
    clear_display(ev);
    if (ev->total == 0 && ev->n_run == 0) return;
    int finished = ev->done + ev->cached + ev->failed;
    int width = 30, fill = ev->total ? (int)((double)finished / ev->total * width) : 0;
    fputs("reel: [", stderr);
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d nodes, %d cached", finished, ev->total, ev->cached);
    if (ev->failed) fprintf(stderr, ", %d failed", ev->failed);
    if (ev->queued >= 0) fprintf(stderr, "; %d queued, %zu running", ev->queued, ev->n_run);
    fprintf(stderr, ", %.1fs\n", now - ev->t0);
    ev->drawn = 1;
    for (size_t i = 0; i < ev->n_run && i < MAX_SHOWN; i++) {
        running *r = &ev->run[i];
        fprintf(stderr, "  %-60.60s %3.0f%% %5.1fs\n", r->label, r->fraction * 100.0,
                now - r->since);
        ev->drawn++;
    }
    if (ev->n_run > MAX_SHOWN) {
        fprintf(stderr, "  ... and %zu more\n", ev->n_run - MAX_SHOWN);
        ev->drawn++;
    }
    fflush(stderr);
}

void reeli_events_free(reeli_events *ev)
{
    if (!ev) return;
    pthread_mutex_lock(&ev->mu);
    clear_display(ev);
    if (ev->tty && ev->total > 0) {
        /* leave one summary line behind */
        fprintf(stderr, "reel: %d nodes: %d run, %d cached", ev->total, ev->done, ev->cached);
        if (ev->failed) fprintf(stderr, ", %d failed", ev->failed);
        fprintf(stderr, " (%.1fs)\n", reel_now() - ev->t0);
    }
    pthread_mutex_unlock(&ev->mu);
    if (ev->own_out)
        fclose(ev->out);
    else if (ev->out)
        fflush(ev->out);
    free(ev->run);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void reeli_events_emit(reeli_events *ev, const char *name, json_t *fields)
{
    if (!ev->out) {
        json_decref(fields);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(name));
    pthread_mutex_lock(&ev->mu);
    json_object_set_new(o, "t", json_real((double)(int64_t)((reel_now() - ev->t0) * 1e3) / 1e3));
    if (fields) json_object_update(o, fields);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (line) {
        fputs(line, ev->out);
        fputc('\n', ev->out);
        fflush(ev->out);
        free(line);
    }
    pthread_mutex_unlock(&ev->mu);
}

void reeli_events_pass_begin(reeli_events *ev, int total)
{
    pthread_mutex_lock(&ev->mu);
    ev->total += total;
    draw(ev, 1);
    pthread_mutex_unlock(&ev->mu);
}

void reeli_events_queued(reeli_events *ev, int queued)
{
    pthread_mutex_lock(&ev->mu);
    ev->queued = queued;
    draw(ev, 0);
    pthread_mutex_unlock(&ev->mu);
}

void reeli_events_pass_end(reeli_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    draw(ev, 1);
    pthread_mutex_unlock(&ev->mu);
}

static void remove_running(reeli_events *ev, int id)
{
    for (size_t i = 0; i < ev->n_run; i++)
        if (ev->run[i].id == id) {
            memmove(&ev->run[i], &ev->run[i + 1], (ev->n_run - i - 1) * sizeof *ev->run);
            ev->n_run--;
            return;
        }
}

void reeli_events_node_state(reeli_events *ev, const reeli_node *n, int state, double fraction)
{
    pthread_mutex_lock(&ev->mu);
    int force = 1;
    char label[256];
    switch (state) {
    case REELI_NODE_RUNNING: {
        running *r = NULL;
        for (size_t i = 0; i < ev->n_run; i++)
            if (ev->run[i].id == n->id) r = &ev->run[i];
        if (!r) {
            if (ev->n_run == ev->cap_run) {
                ev->cap_run = ev->cap_run ? 2 * ev->cap_run : 8;
                ev->run = reel_xrealloc(ev->run, ev->cap_run * sizeof *ev->run);
            }
            r = &ev->run[ev->n_run++];
            r->id = n->id;
            r->since = reel_now();
            snprintf(r->label, sizeof r->label, "%s", reeli_node_label(n, label, sizeof label));
        } else {
            force = 0;
        }
        r->fraction = fraction;
        break;
    }
    case REELI_NODE_DONE:
        ev->done++;
        remove_running(ev, n->id);
        break;
    case REELI_NODE_CACHED:
        ev->cached++;
        break;
    case REELI_NODE_FAILED:
        ev->failed++;
        remove_running(ev, n->id);
        break;
    }
    if (!ev->tty && (state == REELI_NODE_DONE || state == REELI_NODE_FAILED))
        REEL_LOGI("%s %s", reeli_node_label(n, label, sizeof label),
                  state == REELI_NODE_DONE ? "done" : "failed");
    draw(ev, force);
    pthread_mutex_unlock(&ev->mu);
}

void reeli_events_log(reeli_events *ev, const char *where, const char *msg)
{
    pthread_mutex_lock(&ev->mu);
    int redraw = ev->drawn > 0;
    clear_display(ev);
    fprintf(stderr, "reel: %s: %s\n", where, msg);
    fflush(stderr);
    if (redraw) draw(ev, 1);
    pthread_mutex_unlock(&ev->mu);
    json_t *f = json_object();
    json_object_set_new(f, "where", json_string(where));
    json_object_set_new(f, "message", json_string(msg));
    reeli_events_emit(ev, "log", f);
}
