/* examples/film.lua end to end through `reel run` with the real stages and plugins: the MP4 has
 * video, audio and subtitles of the planned length; a re-run does nothing; changing one shot's
 * narration redoes only that voice and what depends on it; Ctrl-C in the middle of a run stops
 * it with no half-written file, and the next run resumes from what finished. */
#include "testutil.h"

#include "core/core.h"
#include "pipeline/media/media.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *PLAN =
    "{\"title\": \"Test film\", \"logline\": \"two quick shots\", \"style\": \"flat colour\","
    " \"characters\": [], \"shots\": ["
    "{\"id\": 1, \"camera\": \"wide\", \"setting\": \"a red sky\", \"action\": \"One\","
    " \"characters\": [], \"prompt\": \"a red sky\", \"transition\": \"fade\","
    " \"narration\": \"%s\", \"duration_s\": %s},"
    "{\"id\": 2, \"camera\": \"pan\", \"setting\": \"a blue sea\", \"action\": \"Two\","
    " \"characters\": [], \"prompt\": \"a blue sea\", \"transition\": \"fade\","
    " \"narration\": \"%s\", \"duration_s\": %s}]}";

static int count(const char *events, const char *event, const char *needle)
{
    char *data = NULL;
    size_t size;
    if (reel_file_read(events, 0, &data, &size) < 0) return -1;
    char pat[64];
    snprintf(pat, sizeof pat, "{\"event\":\"%s\"", event);
    int n = 0;
    for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n"))
        if (strncmp(l, pat, strlen(pat)) == 0 && (!needle || strstr(l, needle))) n++;
    free(data);
    return n;
}

static tu_result film(const char *dir, const char *plan, const char *events)
{
    char *script = reel_xasprintf("%s/examples/film.lua", tu_source_dir());
    char *argv[] = {(char *)tu_reel_bin(),
                    "run",
                    script,
                    "--out",
                    (char *)dir,
                    "--events",
                    (char *)events,
                    "--jobs",
                    "2",
                    "--",
                    "idea",
                    (char *)plan,
                    NULL};
    tu_result r = tu_run(argv, NULL);
    free(script);
    return r;
}

static void write_plan(const char *path, const char *n1, const char *n2, const char *d)
{
    char *text = reel_xasprintf(PLAN, n1, d, n2, d);
    tu_write_file(path, text, strlen(text));
    free(text);
}

static void test_film(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *plan = reel_xasprintf("%s/plan.json", dir);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *mp4 = reel_xasprintf("%s/film.mp4", dir);
    write_plan(plan, "Hello.", "Goodbye.", "1");
    tu_result r = film(dir, plan, events);
    if (r.status != 0) print_error("%s", r.err);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.err, "does NOT follow the idea"));
    tu_result_free(&r);
    /* 2 x (card, espeak, with_audio) + concat + subtitles + render */
    assert_int_equal(count(events, "node_done", NULL), 9);
    reeli_probe p;
    assert_int_equal(reeli_media_probe(mp4, 1, &p), 0);
    assert_true(p.has_video && p.has_audio && p.has_subs);
    assert_int_equal(p.width, 1280);
    assert_int_equal(p.height, 720);
    /* two 1 s shots, faded through black end to end */
    if (!(p.duration_s > 1.8 && p.duration_s < 2.3)) fail_msg("duration %.3f s", p.duration_s);
    char *side = reel_xasprintf("%s.reel.json", mp4);
    json_t *sj = reel_json_load_file(side, 0);
    assert_non_null(sj);
    assert_true(json_is_true(json_object_get(sj, "ai_generated")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(sj, "plan"), "title")),
                        "Test film");
    json_decref(sj);
    free(side);

    /* unchanged: nothing runs */
    r = film(dir, plan, events);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    assert_int_equal(count(events, "node_done", NULL), 0);

    /* shot 2's narration changed: its voice, with_audio, concat, subtitles, render */
    write_plan(plan, "Hello.", "See you soon.", "1");
    r = film(dir, plan, events);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    assert_int_equal(count(events, "node_done", NULL), 5);
    assert_int_equal(count(events, "node_done", "\"plugin\":\"espeak\""), 1);
    assert_int_equal(count(events, "node_done", "\"plugin\":\"card\""), 0);
    free(mp4);
    free(events);
    free(plan);
    tu_rmtree(dir);
    free(dir);
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

static void test_sigint_resume(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *plan = reel_xasprintf("%s/plan.json", dir);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *errpath = reel_xasprintf("%s/err.txt", dir);
    char *script = reel_xasprintf("%s/examples/film.lua", tu_source_dir());
    write_plan(plan, "One.", "Two.", "6");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(tu_reel_bin(), tu_reel_bin(), "run", script, "--out", dir, "--events", events,
              "--jobs", "2", "--", "idea", plan, (char *)NULL);
        _exit(127);
    }
    /* interrupt once something finished and a long stage (a 6 s card) is running */
    double t0 = reel_now();
    while (reel_now() - t0 < 60 &&
           (!reel_file_exists(events) || count(events, "node_done", NULL) < 1 ||
            count(events, "node_progress", "\"fraction\":0.") < 2)) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    char *err = NULL;
    size_t size;
    assert_int_equal(reel_file_read(errpath, 0, &err, &size), 0);
    assert_true(tu_contains(err, "interrupted"));
    free(err);
    int done1 = count(events, "node_done", NULL);
    assert_true(done1 >= 1 && done1 < 9);
    /* no film, nothing half-written in the cache */
    char *mp4 = reel_xasprintf("%s/film.mp4", dir);
    assert_false(reel_file_exists(mp4));
    char *tmp = reel_xasprintf("%s/.reel-cache/tmp", dir);
    assert_int_equal(count_files(tmp), 0);

    /* resume: what finished is reused */
    tu_result r = film(dir, plan, events);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    int done2 = count(events, "node_done", NULL);
    int cached2 = count(events, "node_cached", NULL);
    assert_true(cached2 >= 1);
    assert_true(done2 <= 9 - done1);
    assert_true(reel_file_exists(mp4));
    free(tmp);
    free(mp4);
    free(script);
    free(errpath);
    free(events);
    free(plan);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_film),
        cmocka_unit_test(test_sigint_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
