#include "testutil.h"
#include "core/core.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_atomic_write_and_map(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/a.bin", dir);
    const char data[] = "hello, reel";
    assert_int_equal(reel_file_write_atomic(path, data, sizeof data), 0);
    reel_file_map m;
    assert_int_equal(reel_file_map_open(&m, path), 0);
    assert_int_equal(m.size, sizeof data);
    assert_memory_equal(m.data, data, sizeof data);
    reel_file_map_close(&m);
    reel_file_map_close(&m); /* twice is fine */
    /* overwrite replaces atomically, no temp files left behind */
    assert_int_equal(reel_file_write_atomic(path, "x", 1), 0);
    char *back;
    size_t n;
    assert_int_equal(reel_file_read(path, 0, &back, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(back, "x");
    free(back);
    assert_int_equal(count_entries(dir), 1);
    free(path);
}

static void test_afile_abort_leaves_nothing(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/b.bin", dir);
    reel_afile af;
    assert_int_equal(reel_afile_open(&af, path), 0);
    fputs("partial", af.fp);
    reel_afile_abort(&af);
    reel_afile_abort(&af);
    assert_false(reel_file_exists(path));
    assert_int_equal(count_entries(dir), 0);
    /* while open, the final name does not exist yet */
    assert_int_equal(reel_afile_open(&af, path), 0);
    fputs("complete", af.fp);
    assert_false(reel_file_exists(path));
    assert_int_equal(reel_afile_commit(&af), 0);
    assert_true(reel_file_exists(path));
    uint64_t size;
    assert_int_equal(reel_file_size(path, &size), 0);
    assert_int_equal(size, 8);
    free(path);
}

static void test_errors_name_the_file(void **state)
{
    (void)state;
    reel_file_map m;
    assert_int_equal(reel_file_map_open(&m, "/nonexistent/x.gguf"), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "/nonexistent/x.gguf"));
    assert_int_equal(reel_file_map_open(&m, dir), REEL_EIO); /* a folder */
    assert_true(tu_contains(reel_last_error(), "not a regular file"));
    char *p;
    assert_int_equal(reel_file_read("/nonexistent/y", 0, &p, NULL), REEL_ENOTFOUND);
    assert_int_equal(reel_file_write_atomic("/nonexistent/dir/z", "a", 1), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "/nonexistent/dir/z"));
}

static void test_read_limit_and_empty(void **state)
{
    (void)state;
    char *path = reel_xasprintf("%s/big", dir);
    char buf[10000];
    memset(buf, 'a', sizeof buf);
    tu_write_file(path, buf, sizeof buf);
    char *p;
    size_t n;
    assert_int_equal(reel_file_read(path, 5000, &p, &n), REEL_ERANGE);
    assert_int_equal(reel_file_read(path, 10000, &p, &n), 0);
    assert_int_equal(n, 10000);
    free(p);
    tu_write_file(path, "", 0);
    reel_file_map m;
    assert_int_equal(reel_file_map_open(&m, path), 0);
    assert_int_equal(m.size, 0);
    assert_null(m.data);
    reel_file_map_close(&m);
    free(path);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char *deep = reel_xasprintf("%s/a/b/c/", dir);
    assert_int_equal(reel_mkdir_p(deep), 0);
    assert_int_equal(reel_mkdir_p(deep), 0); /* idempotent */
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    char *file = reel_xasprintf("%s/a/f", dir);
    tu_write_file(file, "x", 1);
    char *under = reel_xasprintf("%s/a/f/g", dir);
    assert_true(reel_mkdir_p(under) < 0);
    assert_true(tu_contains(reel_last_error(), "/a/f"));
    assert_true(reel_mkdir_p("") < 0);
    free(deep);
    free(file);
    free(under);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_atomic_write_and_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_afile_abort_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_name_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_limit_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
