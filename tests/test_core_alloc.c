/* core/alloc.h: the growable string (reel_strbuf) and overflow-checked sizes. */
#include "testutil.h"

#include "core/core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_strbuf_grows_and_terminates(void **state)
{
    (void)state;
    reel_strbuf b = {0};
    reel_strbuf_add(&b, "", 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    for (int i = 0; i < 1000; i++) reel_strbuf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.n, 2000);
    assert_int_equal(strlen(b.p), 2000);
    assert_true(b.cap > b.n);
    assert_memory_equal(b.p + 1990, "5,6,7,8,9,", 10);
    reel_strbuf_str(&b, "end");
    assert_string_equal(b.p + 2000, "end");
    /* bytes with a NUL inside are kept; the length says where they end */
    reel_strbuf_add(&b, "a\0b", 3);
    assert_int_equal(b.n, 2006);
    assert_memory_equal(b.p + 2003, "a\0b", 4);
    /* an empty printf leaves a terminated, unchanged string */
    reel_strbuf_printf(&b, "%s", "");
    assert_int_equal(b.n, 2006);
    free(b.p);
}

static void test_strbuf_printf_long(void **state)
{
    (void)state;
    reel_strbuf b = {0};
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    reel_strbuf_printf(&b, "<%s>", big);
    assert_int_equal(b.n, sizeof big + 1);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[b.n - 1], '>');
    assert_int_equal(b.p[b.n], '\0');
    free(b.p);
}

static void test_mul_size(void **state)
{
    (void)state;
    size_t out = 0;
    assert_int_equal(reel_mul_size(3, 7, &out), 0);
    assert_int_equal(out, 21);
    assert_int_equal(reel_mul_size(SIZE_MAX / 2 + 1, 2, &out), REEL_ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_grows_and_terminates),
        cmocka_unit_test(test_strbuf_printf_long),
        cmocka_unit_test(test_mul_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
