/* Files a script names are opened beneath a root (pipeline/lua_path.c). The openat2 path is
 * exercised through reel run (test_pipeline_cli); here the component-by-component walk used on
 * kernels without openat2 is checked against the same rules: links and '..' that stay inside
 * the root are followed, any that leaves it fails with EXDEV, and nothing is created outside. */
#include "testutil.h"

#include "core/core.h"
#include "pipeline/lua-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *top, *root_path;
static int root;

static char *at(const char *rel)
{
    return reel_xasprintf("%s/%s", top, rel);
}

static void link_at(const char *target, const char *rel)
{
    char *p = at(rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    top = tu_tmpdir();
    char *p;
    mkdir(p = at("root"), 0755), free(p);
    mkdir(p = at("root/a"), 0755), free(p);
    mkdir(p = at("outside"), 0755), free(p);
    tu_write_file(p = at("root/a/b.txt"), "inside", 6), free(p);
    tu_write_file(p = at("outside/secret"), "secret", 6), free(p);
    link_at("a/b.txt", "root/rel_in");
    link_at("a", "root/dir_in");
    link_at("../rel_in", "root/a/up_in");
    link_at("../outside/secret", "root/rel_out");
    char *abs = at("outside/new.txt");
    link_at(abs, "root/dangling_out");
    free(abs);
    abs = at("root/a/b.txt");
    link_at(abs, "root/abs_in");
    free(abs);
    link_at("loop", "root/loop");
    root_path = at("root");
    root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(root);
    tu_rmtree(top);
    free(top);
    free(root_path);
    return 0;
}

/* Reads what rel opens to, or returns the errno of the failure as a negative number. */
static int read_beneath(const char *rel, char *buf, size_t size)
{
    int fd = reeli_path_walk(root, rel, O_RDONLY, 0);
    if (fd < 0) return -errno;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return (int)n;
}

static void test_inside_is_followed(void **state)
{
    (void)state;
    char buf[64];
    static const char *const ok[] = {
        "a/b.txt", "./a//b.txt", "a/../a/b.txt", "rel_in", "dir_in/b.txt", "a/up_in", NULL};
    for (const char *const *r = ok; *r; r++) {
        assert_int_equal(read_beneath(*r, buf, sizeof buf), 6);
        assert_string_equal(buf, "inside");
    }
    int fd = reeli_path_walk(root, "a", O_PATH | O_DIRECTORY, 0);
    assert_true(fd >= 0);
    close(fd);
    fd = reeli_path_walk(root, "a/new.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
    char *p = at("root/a/new.txt");
    assert_int_equal(access(p, F_OK), 0);
    free(p);
}

static void test_leaving_is_refused(void **state)
{
    (void)state;
    char buf[64];
    /* the kernel's RESOLVE_BENEATH refuses absolute links even when they stay inside */
    static const char *const out[] = {
        "..", "../outside/secret", "a/../../outside/secret", "rel_out", "abs_in", NULL};
    for (const char *const *r = out; *r; r++)
        assert_int_equal(read_beneath(*r, buf, sizeof buf), -EXDEV);
    assert_int_equal(read_beneath("loop", buf, sizeof buf), -ELOOP);
    assert_int_equal(read_beneath("a/missing", buf, sizeof buf), -ENOENT);
    /* a write through a dangling link that points outside creates nothing there */
    int fd = reeli_path_walk(root, "dangling_out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, EXDEV);
    char *p = at("outside/new.txt");
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    /* O_PATH does not stop at the link itself */
    fd = reeli_path_walk(root, "rel_out", O_PATH, 0);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, EXDEV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inside_is_followed),
        cmocka_unit_test(test_leaving_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
