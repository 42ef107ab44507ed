/* A test-only stage runner, linked into the pipeline test executables (never into libreel), so
 * that graph, cache, scheduler and kill/resume tests run real stages without the media side.
 *
 * Each stage writes a small text file: its kind, canonical parameters and the contents of its
 * inputs, so an output changes exactly when something it depends on changes. Parameters steer
 * it:  sleep_ms=N   run that long (in 10 ms steps, reporting progress, honouring cancel)
 *      fail="transient:N"  fail with REEL_ENET the first N attempts of this parameter set
 *      fail="permanent"    fail with REEL_EINVAL naming the parameter
 *      plugin="serial"     declares a concurrency limit of 1
 *      plugin="missing"    has no version (plugin not found)
 * Output is written in two halves around the sleep, so a killed stage leaves a partial file. */
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int running_now, serial_now;
int pst_max_running, pst_max_serial, pst_calls, pst_cancelled;

#define MAX_FAIL_KEYS 64
static struct {
    char *params;
    int failures;
} fails[MAX_FAIL_KEYS];
static int n_fails;

void pst_reset(void)
{
    pthread_mutex_lock(&mu);
    running_now = serial_now = pst_max_running = pst_max_serial = pst_calls = pst_cancelled = 0;
    for (int i = 0; i < n_fails; i++) free(fails[i].params);
    n_fails = 0;
    pthread_mutex_unlock(&mu);
}

/* Counts a failure of this parameter set; returns how many happened before. */
static int count_failure(const char *canon)
{
    pthread_mutex_lock(&mu);
    int i;
    for (i = 0; i < n_fails; i++)
        if (strcmp(fails[i].params, canon) == 0) break;
    if (i == n_fails && n_fails < MAX_FAIL_KEYS) {
        fails[n_fails].params = reel_xstrdup(canon);
        fails[n_fails].failures = 0;
        n_fails++;
    }
    int before = i < n_fails ? fails[i].failures++ : 0;
    pthread_mutex_unlock(&mu);
    return before;
}

static int is_serial(const json_t *params)
{
    const char *p = reel_json_str(params, "plugin", "");
    return strcmp(p, "serial") == 0;
}

static int run(const reel_stage_io *io)
{
    int rc = 0;
    int serial = is_serial(io->params);
    pthread_mutex_lock(&mu);
    pst_calls++;
    if (++running_now > pst_max_running) pst_max_running = running_now;
    if (serial && ++serial_now > pst_max_serial) pst_max_serial = serial_now;
    pthread_mutex_unlock(&mu);

    char *canon = reel_json_canonical(io->params);
    const char *fail = reel_json_str(io->params, "fail", NULL);
    FILE *f = NULL;
    if (fail && strncmp(fail, "transient:", 10) == 0) {
        int n = atoi(fail + 10);
        if (count_failure(canon) < n) {
            rc = reel_set_error(REEL_ENET, "%s: test plugin: simulated network failure", io->kind);
            goto done;
        }
    } else if (fail && strcmp(fail, "permanent") == 0) {
        rc = reel_set_error(REEL_EINVAL, "%s: test plugin: parameter 'fail' says so", io->kind);
        goto done;
    }
    f = fopen(io->out_path, "wb");
    if (!f) {
        rc = reel_set_error_errno("%s", io->out_path);
        goto done;
    }
    fprintf(f, "%s %s\n", io->kind, canon);
    fflush(f);
    int64_t sleep_ms = reel_json_int(io->params, "sleep_ms", 0);
    for (int64_t t = 0; t < sleep_ms; t += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (io->progress && io->progress(io->progress_ctx, (double)t / (double)sleep_ms)) {
            rc = reel_set_error(REEL_ECANCELED, "%s: cancelled", io->kind);
            pthread_mutex_lock(&mu);
            pst_cancelled++;
            pthread_mutex_unlock(&mu);
            goto done;
        }
    }
    for (size_t i = 0; i < io->n_inputs; i++) {
        char *data;
        size_t size;
        rc = reel_file_read(io->inputs[i], 1 << 20, &data, &size);
        if (rc < 0) goto done;
        fprintf(f, "< ");
        fwrite(data, 1, size, f);
        free(data);
    }
    if (io->progress) io->progress(io->progress_ctx, 1.0);
done:
    if (f && fclose(f) != 0 && rc == 0) rc = reel_set_error_errno("%s", io->out_path);
    free(canon);
    pthread_mutex_lock(&mu);
    running_now--;
    if (serial) serial_now--;
    pthread_mutex_unlock(&mu);
    return rc;
}

static const char *ext(const char *kind, const json_t *params)
{
    (void)params;
    if (strcmp(kind, "audio") == 0 || strcmp(kind, "mix") == 0) return ".wav";
    if (strcmp(kind, "render") == 0) return ".mp4";
    return ".mkv";
}

static const char *version(const char *kind, const json_t *params)
{
    const char *p = reel_json_str(params, "plugin", "");
    if (strcmp(p, "missing") == 0) {
        reel_set_error(REEL_ENOTFOUND, "%s: plugin 'missing' not found", kind);
        return NULL;
    }
    return "test 1";
}

static int concurrency(const char *kind, const json_t *params)
{
    (void)kind;
    return is_serial(params) ? 1 : 0;
}

const reel_stage_runner pst_runner = {run, ext, version, concurrency};

/* ---- helpers for the pipeline tests ---- */

int pst_run_ex(const char *script, const char *out_dir, const char *events, int jobs,
               const char *const *args, size_t n_args)
{
    reel_pipeline_params p = reel_pipeline_default_params();
    p.script = script;
    p.out_dir = out_dir;
    p.events_path = events;
    p.jobs = jobs;
    p.args = args;
    p.n_args = n_args;
    p.progress = 0;
    p.retry_base_s = 0.01;
    p.runner = &pst_runner;
    return reel_pipeline_run(&p);
}

char *pst_write(const char *dir, const char *name, const char *text)
{
    char *path = reel_xasprintf("%s/%s", dir, name);
    if (reel_file_write_atomic(path, text, strlen(text)) < 0) abort();
    return path;
}

int pst_count(const char *events_path, const char *event, const char *needle)
{
    char *data = NULL;
    size_t size;
    if (reel_file_read(events_path, 0, &data, &size) < 0) return -1;
    int n = 0;
    char pat[64];
    snprintf(pat, sizeof pat, "{\"event\":\"%s\"", event);
    for (char *line = data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strncmp(line, pat, strlen(pat)) == 0 && (!needle || strstr(line, needle))) n++;
        line = nl ? nl + 1 : NULL;
    }
    free(data);
    return n;
}
