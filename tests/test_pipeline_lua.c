/* Runs every each tests/lua/NAME.lua inside reel (reel_pipeline_run with the test stage runner):
 * the Lua API, sandbox and seed tests are written in Lua and fail through assert(). */
#include "testutil.h"
#include "pipeline_stage_test.h"

#include "core/core.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lua_scripts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
