#include "testutil.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_plain_lines_on_pipe(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    reel_progress *p = reel_progress_init_ex("download", 1000, "B", f, 0);
    for (int i = 0; i <= 1000; i++) reel_progress_update(p, (uint64_t)i);
    reel_progress_finish(p);
    fclose(f);
    /* one line per 10% step plus the final line, no carriage returns */
    assert_int_equal(count_lines(buf), 11);
    assert_null(strchr(buf, '\r'));
    assert_true(tu_contains(buf, "download:  10%"));
    assert_true(tu_contains(buf, "download: 100% 1000 B/1000 B"));
    assert_true(tu_contains(buf, "download: done"));
    free(buf);
}

static void test_tty_redraws_in_place(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    reel_progress *p = reel_progress_init_ex("frames", 0, "frames", f, 1);
    reel_progress_update(p, 5);
    reel_progress_finish(p);
    fclose(f);
    assert_non_null(strchr(buf, '\r'));
    assert_true(tu_contains(buf, "5 frames"));
    assert_true(tu_contains(buf, "frames: done"));
    free(buf);
}

static void test_format_bytes(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(reel_format_bytes(512, b, sizeof b), "512 B");
    assert_string_equal(reel_format_bytes(1536, b, sizeof b), "1.5 KiB");
    assert_string_equal(reel_format_bytes(3.0 * 1024 * 1024 * 1024, b, sizeof b), "3.0 GiB");
    double t0 = reel_now();
    assert_true(reel_now() >= t0);
    reel_progress_finish(NULL);
    reel_progress_cancel(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lines_on_pipe),
        cmocka_unit_test(test_tty_redraws_in_place),
        cmocka_unit_test(test_format_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
