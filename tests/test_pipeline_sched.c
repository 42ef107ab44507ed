/* The scheduler: parallel workers, per-plugin concurrency limits, retries of transient
 * failures, one failed node reported while the others stay cached, cancel without
 * half-written outputs, and SIGKILL in the middle of a run followed by a resuming re-run. */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* N independent shots of `plugin` sleeping ms each, concatenated. */
static char *shots_script(const char *dir, int n, const char *plugin, int ms, const char *extra)
{
    char *text =
        reel_xasprintf("local shots = {}\n"
                       "for i = 1, %d do\n"
                       "  shots[i] = reel.video{plugin='%s', i=i, sleep_ms=%d, name='shot'..i%s}\n"
                       "end\n"
                       "local ok, msg = reel.render(reel.concat(shots), 'film.mp4')\n"
                       "if not ok then reel.log(msg) error(msg, 0) end\n",
                       n, plugin, ms, extra);
    char *p = pst_write(dir, "shots.lua", text);
    free(text);
    return p;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_parallel_and_limits(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *script = shots_script(dir, 4, "test", 200, "");
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, events, 4, NULL, 0), 0);
    assert_int_equal(pst_max_running, 4); /* all four shots at once */
    free(script);
    tu_rmtree(dir);
    free(dir);

    /* --jobs 1: one at a time */
    dir = tu_tmpdir();
    script = shots_script(dir, 3, "test", 20, "");
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, NULL, 1, NULL, 0), 0);
    assert_int_equal(pst_max_running, 1);
    free(script);
    tu_rmtree(dir);
    free(dir);

    /* a plugin declaring concurrency 1 runs alone even with 4 workers */
    dir = tu_tmpdir();
    script = shots_script(dir, 4, "serial", 50, "");
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, NULL, 4, NULL, 0), 0);
    assert_int_equal(pst_max_serial, 1);
    assert_int_equal(pst_calls, 5); /* 4 shots and the render, which joins them itself */
    free(script);
    free(events);
    tu_rmtree(dir);
    free(dir);
}

static void test_retries(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    /* two transient failures, then success: three attempts is the default limit */
    char *script = shots_script(dir, 2, "test", 0, ", fail='transient:2'");
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, events, 2, NULL, 0), 0);
    assert_int_equal(pst_count(events, "node_retry", NULL), 4);
    assert_int_equal(pst_count(events, "node_done", "\"attempts\":3"), 2);
    free(script);
    tu_rmtree(dir);
    free(dir);

    /* more failures than attempts: reported as the network error it was */
    dir = tu_tmpdir();
    free(events);
    events = reel_xasprintf("%s/ev.jsonl", dir);
    script = shots_script(dir, 1, "test", 0, ", fail='transient:9'");
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, events, 2, NULL, 0), REEL_EINVAL);
    assert_int_equal(pst_count(events, "node_retry", NULL), 2);
    assert_int_equal(pst_count(events, "node_failed", "simulated network failure"), 1);
    free(script);
    free(events);
    tu_rmtree(dir);
    free(dir);
}

static void test_failure_keeps_others(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    /* shot 2 fails for good; shots 1 and 3 finish and are cached */
    char *script = shots_script(dir, 3, "test", 0, ", fail=(i == 2 and reel.args[1]) or nil");
    const char *bad[] = {"permanent"};
    pst_reset();
    int rc = pst_run_ex(script, dir, events, 1, bad, 1);
    assert_int_equal(rc, REEL_EINVAL);
    const char *msg = reel_last_error();
    assert_true(tu_contains(msg, "shots.lua:3) failed"));
    assert_true(tu_contains(msg, "node 2 (video test 'shot2', "));
    assert_true(tu_contains(msg, "params: {\"fail\":\"permanent\",\"i\":2,"));
    assert_int_equal(pst_count(events, "node_failed", "\"id\":2"), 1);
    assert_int_equal(pst_count(events, "node_failed", "\"params\":{"), 1);
    assert_int_equal(pst_count(events, "node_done", NULL), 2);
    assert_int_equal(pst_count(events, "run_done", "\"ok\":false"), 1);
    /* fixed: only the failed shot and the render (joining the shots itself) run */
    assert_int_equal(pst_run_ex(script, dir, events, 1, NULL, 0), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 2);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot2\""), 1);
    free(script);
    free(events);
    tu_rmtree(dir);
    free(dir);
}

static void *cancel_later(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    reel_pipeline_cancel();
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *script = shots_script(dir, 4, "test", 5000, "");
    pthread_t t;
    reel_pipeline_reset_cancel();
    pst_reset();
    pthread_create(&t, NULL, cancel_later, NULL);
    int rc = pst_run_ex(script, dir, events, 2, NULL, 0);
    pthread_join(t, NULL);
    reel_pipeline_reset_cancel();
    assert_int_equal(rc, REEL_ECANCELED);
    /* stopped, not finished: the running shots left their 5 s sleep when told to */
    assert_true(pst_cancelled >= 1);
    assert_int_equal(pst_count(events, "node_done", NULL), 0);
    /* no half-written file anywhere: not in tmp/, nothing under a final name */
    char *cache = reel_xasprintf("%s/.reel-cache", dir);
    char *tmp = reel_xasprintf("%s/tmp", cache);
    assert_int_equal(count_files(tmp), 0);
    assert_int_equal(count_files(cache), 1);
    char *film = reel_xasprintf("%s/film.mp4", dir);
    assert_false(reel_file_exists(film));
    free(film);
    free(tmp);
    free(cache);
    free(script);
    free(events);
    tu_rmtree(dir);
    free(dir);
}

/* Collects the keys of node_done events (one "key" per line) into a newline-joined string. */
static char *done_keys(const char *events)
{
    char *data = NULL;
    size_t size;
    assert_int_equal(reel_file_read(events, 0, &data, &size), 0);
    char *out = reel_xcalloc(1, 1);
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "{\"event\":\"node_done\"", 20) != 0) continue;
        char *k = strstr(line, "\"key\":\"");
        assert_non_null(k);
        char *next = reel_xasprintf("%s%.64s\n", out, k + 7);
        free(out);
        out = next;
    }
    free(data);
    return out;
}

static void test_kill_and_resume(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *ev1 = reel_xasprintf("%s/ev1.jsonl", dir);
    char *ev2 = reel_xasprintf("%s/ev2.jsonl", dir);
    /* 8 shots of 150-400 ms on 2 workers: about a second in all */
    char *script = shots_script(dir, 8, "test", 0, ", sleep_ms=150 + 50 * (i % 6)");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = pst_run_ex(script, dir, ev1, 2, NULL, 0);
        _exit(rc == 0 ? 0 : 1);
    }
    /* kill it once three shots are done (and others are mid-write) */
    double t0 = reel_now();
    while (reel_now() - t0 < 20.0) {
        if (reel_file_exists(ev1) && pst_count(ev1, "node_done", NULL) >= 3) break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    int done1 = pst_count(ev1, "node_done", NULL);
    assert_true(done1 >= 3 && done1 < 9); /* 8 shots and the render */
    /* the killed run left partial files in tmp/ */
    char *tmp = reel_xasprintf("%s/.reel-cache/tmp", dir);
    assert_true(count_files(tmp) >= 1);

    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, ev2, 2, NULL, 0), 0);
    int done2 = pst_count(ev2, "node_done", NULL);
    /* only the unfinished nodes ran: none of the first run's keys ran again */
    char *k1 = done_keys(ev1), *k2 = done_keys(ev2);
    for (char *k = strtok(k2, "\n"); k; k = strtok(NULL, "\n")) assert_false(tu_contains(k1, k));
    assert_true(done2 >= 1 && done2 <= 9 - done1);
    assert_int_equal(pst_calls, done2);
    /* every node either ran now or was found cached (shots finished by the killed run) */
    int cached2 = pst_count(ev2, "node_cached", NULL);
    assert_int_equal(cached2 + done2, 9);
    assert_true(cached2 >= done1);
    assert_int_equal(count_files(tmp), 0); /* the dead run's partial files were swept */
    free(k1);
    free(k2);
    free(tmp);
    free(script);
    free(ev1);
    free(ev2);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallel_and_limits),  cmocka_unit_test(test_retries),
        cmocka_unit_test(test_failure_keeps_others), cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_kill_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
