/* The content-addressed cache, observed through the events stream: an unchanged re-run does no
 * work, changing one shot redoes only that shot and what depends on it, a changed input file
 * redoes its node, and nothing is left in the cache's tmp/ folder. */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>

static const char *FILM =
    "local shots = {}\n"
    "for i, text in ipairs(reel.args) do\n"
    "  local v = reel.video{plugin='test', text=text, duration_s=1, name='shot'..i}\n"
    "  local a = reel.audio{plugin='test', text=text}\n"
    "  shots[#shots + 1] = v:with_audio(a)\n"
    "end\n"
    "shots.transition, shots.transition_s = 'fade', 0.25\n"
    "assert(reel.render(reel.concat(shots), 'film.mp4'))\n";

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

static int n_regular;
static int count_regular(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)ftw;
    if (flag == FTW_F) n_regular++;
    return 0;
}

/* Regular files anywhere under dir. */
static int count_tree(const char *dir)
{
    n_regular = 0;
    if (nftw(dir, count_regular, 16, FTW_PHYS) != 0) return -1;
    return n_regular;
}

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t size;
    assert_int_equal(reel_file_read(path, 0, &data, &size), 0);
    return data;
}

static void test_rerun_and_change(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = pst_write(dir, "film.lua", FILM);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *film = reel_xasprintf("%s/film.mp4", dir);
    const char *args[] = {"one", "two", "three"};

    /* first run: 3 x (video, audio, with_audio) + concat + render */
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 11);
    assert_int_equal(pst_count(events, "node_cached", NULL), 0);
    assert_int_equal(pst_count(events, "run_done", "\"ok\":true"), 1);
    char *first = slurp(film);
    assert_true(tu_contains(first, "\"text\":\"two\""));

    /* unchanged: nothing runs; the final node is found and nothing behind it is looked at */
    pst_reset();
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 0);
    assert_int_equal(pst_count(events, "node_start", NULL), 0);
    assert_int_equal(pst_count(events, "node_cached", "\"kind\":\"render\""), 1);
    assert_int_equal(pst_calls, 0);

    /* one shot changed: its video, audio, with_audio, then concat and render */
    const char *args2[] = {"one", "TWO", "three"};
    assert_int_equal(pst_run_ex(script, dir, events, 2, args2, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 5);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot2\""), 1);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot1\""), 0);
    assert_int_equal(pst_count(events, "node_cached", "\"kind\":\"with_audio\""), 2);
    char *second = slurp(film);
    assert_true(tu_contains(second, "\"text\":\"TWO\""));
    assert_false(tu_contains(second, "\"text\":\"two\""));

    /* back to the first version: everything is still cached */
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 0);
    char *third = slurp(film);
    assert_string_equal(first, third);

    char *tmpdir = reel_xasprintf("%s/.reel-cache/tmp", dir);
    assert_int_equal(count_files(tmpdir), 0);
    free(tmpdir);
    free(first);
    free(second);
    free(third);
    free(film);
    free(events);
    free(script);
    tu_rmtree(dir);
    free(dir);
}

static void test_input_file_and_cache_dir(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *pic = pst_write(dir, "pic.png", "picture one");
    char *script = pst_write(dir, "img.lua",
                             "local i = reel.image{path='pic.png', duration_s=1}\n"
                             "assert(reel.render(i, 'img.mp4'))\n");
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *cache = reel_xasprintf("%s/my-cache", dir);
    reel_pipeline_params p = reel_pipeline_default_params();
    p.script = script;
    p.out_dir = dir;
    p.cache_dir = cache;
    p.events_path = events;
    p.progress = 0;
    p.runner = &pst_runner;
    assert_int_equal(reel_pipeline_run(&p), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 2);
    /* outputs are stored under their key in the named cache folder */
    assert_int_equal(count_tree(cache), 2); /* the image node and the render, nothing else */
    char *tmp = reel_xasprintf("%s/tmp", cache);
    assert_int_equal(count_files(tmp), 0);
    free(tmp);
    /* the same path with new content is a new node */
    tu_write_file(pic, "picture two", 11);
    assert_int_equal(reel_pipeline_run(&p), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 2);
    assert_int_equal(reel_pipeline_run(&p), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 0);
    free(cache);
    free(events);
    free(script);
    free(pic);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rerun_and_change),
        cmocka_unit_test(test_input_file_and_cache_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
