/* The reel command's contract: --help, --version, per-command help, exit codes, error format. */
#include "testutil.h"

#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

static tu_result reel(const char *a, const char *b, const char *c)
{
    char *argv[] = {(char *)tu_reel_bin(), (char *)a, (char *)b, (char *)c, NULL};
    return tu_run(argv, NULL);
}

static void test_help(void **state)
{
    (void)state;
    tu_result r = reel("--help", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "Usage: reel <command>"));
    assert_true(tu_contains(r.out, "info"));
    assert_true(tu_contains(r.out, "Exit status"));
    tu_result_free(&r);
    r = reel(NULL, NULL, NULL); /* no command: help on stderr, usage error */
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "Usage: reel"));
    tu_result_free(&r);
    r = reel("info", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "Usage: reel info"));
    tu_result_free(&r);
    r = reel("help", "version", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "Usage: reel version"));
    tu_result_free(&r);
}

static void test_version(void **state)
{
    (void)state;
    tu_result r = reel("--version", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "reel 0."));
    assert_true(tu_contains(r.out, "cpu features:"));
    assert_true(tu_contains(r.out, "cuda: "));
    tu_result_free(&r);
}

static void test_usage_errors(void **state)
{
    (void)state;
    tu_result r = reel("frobnicate", NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "reel: unknown command 'frobnicate'"));
    tu_result_free(&r);
    r = reel("info", "--bogus", NULL);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "reel: info: unknown option '--bogus'"));
    tu_result_free(&r);
    r = reel("version", "extra", NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
}

/* Error lines name a path once, and control bytes from anywhere are escaped on the terminal. */
static void test_error_format(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *model = reel_xasprintf("%s/m.gguf", dir);
    tu_write_file(model, "garbage", 7);
    char *argv[] = {(char *)tu_reel_bin(), "generate", "-m", model, "-p", "hi", NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 1);
    char *once = reel_xasprintf("reel: %s: not a GGUF file", model);
    char *twice = reel_xasprintf("%s: %s:", model, model);
    assert_true(tu_contains(r.err, once));
    assert_false(tu_contains(r.err, twice));
    tu_result_free(&r);
    r = reel("info", "--bo\x1b[2J\x1b]0;owned\x07gus", NULL);
    assert_int_equal(r.status, 2);
    assert_null(strchr(r.err, '\x1b'));
    assert_null(strchr(r.err, '\x07'));
    assert_true(tu_contains(r.err, "unknown option '--bo\\x1b[2J\\x1b]0;owned\\x07gus'"));
    tu_result_free(&r);
    free(once);
    free(twice);
    free(model);
    tu_rmtree(dir);
    free(dir);
}

static void test_devices(void **state)
{
    (void)state;
    tu_result r = reel("info", "--devices", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "cpu: "));
    assert_true(tu_contains(r.out, "cuda"));
    tu_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),         cmocka_unit_test(test_version),
        cmocka_unit_test(test_usage_errors), cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
