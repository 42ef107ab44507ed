/* The content-addressed cache, observed through the events stream: an unchanged re-run does no
 * work, changing one shot redoes only that shot and what depends on it, a changed input file
 * redoes its node, and nothing is left in the cache's tmp/ folder. Entries are checked against
 * the record written with them: a truncated or changed one is discarded and made again (event
 * node_cache_invalid), and `reel cache verify` / `reel cache gc` find and remove such files. */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

    /* first run: 3 x (video, audio) + the render, which joins and narrates them itself (the
     * concat and with_audio nodes are not run) */
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 7);
    assert_int_equal(pst_count(events, "node_done", "\"kind\":\"concat\""), 0);
    assert_int_equal(pst_count(events, "node_done", "\"kind\":\"with_audio\""), 0);
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

    /* one shot changed: its video, audio, then the render */
    const char *args2[] = {"one", "TWO", "three"};
    assert_int_equal(pst_run_ex(script, dir, events, 2, args2, 3), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 3);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot2\""), 1);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot1\""), 0);
    assert_int_equal(pst_count(events, "node_cached", "\"kind\":\"video\""), 2);
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

/* A concat that sets its own size is a node of its own: its size applies before the render's.
 * Without one, the render joins the clips itself and the concat node never runs. */
static void test_concat_node_or_joined(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    const char *scripts[] = {"local shots = {size = '64x48'}\n", "local shots = {}\n"};
    for (int k = 0; k < 2; k++) {
        char *text = reel_xasprintf(
            "%sfor i = 1, 2 do shots[i] = reel.video{plugin='test', text='s'..i} end\n"
            "assert(reel.render(reel.concat(shots), 'film.mp4'))\n",
            scripts[k]);
        char *script = pst_write(dir, "two.lua", text);
        assert_int_equal(pst_run_ex(script, dir, events, 2, NULL, 0), 0);
        assert_int_equal(pst_count(events, "node_done", "\"kind\":\"concat\""), k == 0);
        assert_int_equal(pst_count(events, "node_done", "\"kind\":\"render\""), 1);
        free(script);
        free(text);
    }
    free(events);
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
    /* the image node and the render with their records, nothing else */
    assert_int_equal(count_tree(cache), 4);
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

/* Keys of the nodes whose node_done line in events contains needle (at most max). */
static int done_keys(const char *events, const char *needle, char keys[][65], int max)
{
    char *text = slurp(events);
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"event\":\"node_done\"") || !strstr(line, needle)) continue;
        const char *k = strstr(line, "\"key\":\"");
        assert_non_null(k);
        memcpy(keys[n], k + 7, 64);
        keys[n++][64] = 0;
    }
    free(text);
    return n;
}

static char *entry_path(const char *dir, const char *key, const char *ext)
{
    return reel_xasprintf("%s/.reel-cache/%.2s/%s%s", dir, key, key, ext);
}

static void truncate_half(const char *path)
{
    char *data = slurp(path);
    size_t n = strlen(data);
    tu_write_file(path, data, n / 2);
    free(data);
}

static void test_damaged_entries_are_made_again(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = pst_write(dir, "film.lua", FILM);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    char *film = reel_xasprintf("%s/film.mp4", dir);
    const char *args[] = {"one", "two", "three"};
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    char *first = slurp(film);
    char render[1][65], shot2[1][65];
    assert_int_equal(done_keys(events, "\"kind\":\"render\"", render, 1), 1);
    assert_int_equal(done_keys(events, "\"name\":\"shot2\"", shot2, 1), 1);

    /* a cached render cut short: discarded and rendered again, never exported as the film */
    char *r = entry_path(dir, render[0], ".mp4");
    truncate_half(r);
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_cache_invalid", render[0]), 1);
    assert_int_equal(pst_count(events, "node_cache_invalid", "bytes when written"), 1);
    assert_int_equal(pst_count(events, "node_done", NULL), 1);
    char *again = slurp(film);
    assert_string_equal(first, again);
    free(again);
    /* now it is good again */
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_cache_invalid", NULL), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 0);

    /* a cached shot changed in place (same size), found when the render needs it again: the
     * entry standing on the shots (the render) is removed so that the run looks down to them */
    char *s2 = entry_path(dir, shot2[0], ".mkv");
    char *data = slurp(s2);
    size_t len = strlen(data);
    for (size_t i = 0; i < len / 2; i++) data[i] = data[i] == 'x' ? 'y' : 'x';
    tu_write_file(s2, data, len);
    free(data);
    unlink(r);
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 3), 0);
    assert_int_equal(pst_count(events, "node_cache_invalid", shot2[0]), 1);
    assert_int_equal(pst_count(events, "node_cache_invalid", "content changed"), 1);
    assert_int_equal(pst_count(events, "node_done", "\"name\":\"shot2\""), 1);
    again = slurp(film);
    assert_string_equal(first, again);
    free(again);

    free(s2);
    free(r);
    free(first);
    free(film);
    free(events);
    free(script);
    tu_rmtree(dir);
    free(dir);
}

static tu_result reel_cache(const char *const *args)
{
    const char *argv[16] = {tu_reel_bin(), "cache"};
    int n = 2;
    for (; args[n - 2]; n++) argv[n] = args[n - 2];
    argv[n] = NULL;
    return tu_run((char *const *)argv, NULL);
}

static void test_cache_command(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = pst_write(dir, "film.lua", FILM);
    char *events = reel_xasprintf("%s/ev.jsonl", dir);
    const char *args[] = {"one", "two"};
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 2), 0);
    char render[1][65];
    assert_int_equal(done_keys(events, "\"kind\":\"render\"", render, 1), 1);
    char *r = entry_path(dir, render[0], ".mp4");

    tu_result t = reel_cache((const char *[]){"--help", NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "Usage: reel cache verify"));
    assert_true(tu_contains(t.out, "node_cache_invalid"));
    tu_result_free(&t);
    t = reel_cache((const char *[]){"frob", NULL});
    assert_int_equal(t.status, 2);
    tu_result_free(&t);
    t = reel_cache((const char *[]){"verify", "--max-size", "1G", NULL});
    assert_int_equal(t.status, 2);
    tu_result_free(&t);
    t = reel_cache((const char *[]){"gc", "--max-size", "lots", NULL});
    assert_int_equal(t.status, 2);
    tu_result_free(&t);
    t = reel_cache((const char *[]){"verify", "--cache", "/nonexistent/cache", NULL});
    assert_int_equal(t.status, 1);
    tu_result_free(&t);

    t = reel_cache((const char *[]){"verify", "--out", dir, NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "5 entries")); /* 2 x (video, audio) + render */
    assert_true(tu_contains(t.out, ": 0 bad"));
    tu_result_free(&t);
    truncate_half(r);
    t = reel_cache((const char *[]){"verify", "--out", dir, NULL});
    assert_int_equal(t.status, 1);
    assert_true(tu_contains(t.out, "BAD "));
    assert_true(tu_contains(t.out, r));
    assert_true(tu_contains(t.out, "bytes when written"));
    assert_true(reel_file_exists(r));
    tu_result_free(&t);
    t = reel_cache((const char *[]){"verify", "--out", dir, "--fix", NULL});
    assert_int_equal(t.status, 1);
    assert_true(tu_contains(t.out, "removed "));
    assert_false(reel_file_exists(r));
    tu_result_free(&t);
    t = reel_cache((const char *[]){"verify", "--out", dir, NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "4 entries"));
    tu_result_free(&t);

    /* gc: a temporary of a dead run, a record without its entry */
    char *stray = reel_xasprintf("%s/.reel-cache/tmp/%s-999999999-0.mkv", dir, render[0]);
    tu_write_file(stray, "partial", 7);
    char *cache = reel_xasprintf("%s/.reel-cache", dir);
    char *orphan = reel_xasprintf("%s/%.2s/%s.meta.json", cache, render[0], render[0]);
    tu_write_file(orphan, "{}", 2);
    t = reel_cache((const char *[]){"gc", "--cache", cache, "-n", NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "would remove"));
    assert_true(tu_contains(t.out, stray));
    assert_true(tu_contains(t.out, orphan));
    assert_true(reel_file_exists(stray));
    tu_result_free(&t);
    t = reel_cache((const char *[]){"gc", "--cache", cache, NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "removed 2 files"));
    assert_false(reel_file_exists(stray));
    assert_false(reel_file_exists(orphan));
    tu_result_free(&t);
    /* a size budget removes the least recently used entries */
    t = reel_cache((const char *[]){"gc", "--cache", cache, "--max-size", "0", NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "removed 4 files"));
    tu_result_free(&t);
    t = reel_cache((const char *[]){"verify", "--cache", cache, NULL});
    assert_int_equal(t.status, 0);
    assert_true(tu_contains(t.out, "0 entries"));
    tu_result_free(&t);
    /* and the next run makes everything again */
    assert_int_equal(pst_run_ex(script, dir, events, 2, args, 2), 0);
    assert_int_equal(pst_count(events, "node_done", NULL), 5);

    free(orphan);
    free(cache);
    free(stray);
    free(r);
    free(events);
    free(script);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rerun_and_change),
        cmocka_unit_test(test_concat_node_or_joined),
        cmocka_unit_test(test_input_file_and_cache_dir),
        cmocka_unit_test(test_damaged_entries_are_made_again),
        cmocka_unit_test(test_cache_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
