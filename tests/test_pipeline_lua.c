/* Runs every each tests/lua/NAME.lua inside reel (reel_pipeline_run with the test stage runner):
 * the Lua API, sandbox, seed and hardening tests are written in Lua and fail through assert().
 * Cancelling a script that spins inside pcall is checked from C, which holds the cancel. */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int run_one(const char *dir, const char *name)
{
    char *script = reel_xasprintf("%s/%s", dir, name);
    char *tmp = tu_tmpdir();
    char *events = reel_xasprintf("%s/events.jsonl", tmp);
    const char *args[] = {"one", "two"};
    pst_reset();
    reel_pipeline_reset_cancel();
    int rc = pst_run_ex(script, tmp, events, 2, args, 2);
    if (rc < 0)
        print_error("%s: %s\n", name, reel_last_error());
    else
        printf("ok %s (%d stages run)\n", name, pst_calls);
    tu_rmtree(tmp);
    free(tmp);
    free(events);
    free(script);
    return rc;
}

static void test_lua_scripts(void **state)
{
    (void)state;
    char *dir = reel_xasprintf("%s/tests/lua", tu_source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0, failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".lua") != 0) continue;
        n++;
        if (run_one(dir, e->d_name) < 0) failed++;
    }
    closedir(d);
    free(dir);
    assert_true(n >= 3);
    assert_int_equal(failed, 0);
}

/* Cancels the run once the script has written the file named by arg. */
static void *cancel_when_started(void *arg)
{
    while (access(arg, F_OK) != 0) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    reel_pipeline_cancel();
    return NULL;
}

/* The interrupt is a Lua error, which pcall catches: the script must stop at the first cancel,
 * whether it came inside a pcall or in a loop of pcalls. The loop is bounded so that a
 * regression fails instead of hanging. */
static void test_cancel_inside_pcall(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir();
    char *s = pst_write(tmp, "spin.lua",
                        "local f = assert(io.open(reel.out_dir .. '/started', 'w'))\n"
                        "f:close()\n"
                        "pcall(function() while true do end end)\n"
                        "f = io.open(reel.out_dir .. '/survived', 'w')\n"
                        "for _ = 1, 30000000 do pcall(function() end) end\n"
                        "error('the loop ran to its end')\n");
    char *flag = reel_xasprintf("%s/started", tmp);
    char *events = reel_xasprintf("%s/events.jsonl", tmp);
    pst_reset();
    reel_pipeline_reset_cancel();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_when_started, flag), 0);
    int rc = pst_run_ex(s, tmp, events, 1, NULL, 0);
    pthread_join(th, NULL);
    reel_pipeline_reset_cancel();
    assert_int_equal(rc, REEL_ECANCELED);
    assert_non_null(strstr(reel_last_error(), "spin.lua:4: interrupted"));
    assert_null(strstr(reel_last_error(), "ran to its end"));
    char *survived = reel_xasprintf("%s/survived", tmp);
    assert_int_equal(access(survived, F_OK), -1); /* nothing ran after the pcall */
    free(survived);
    tu_rmtree(tmp);
    free(tmp);
    free(s);
    free(flag);
    free(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lua_scripts),
        cmocka_unit_test(test_cancel_inside_pcall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
