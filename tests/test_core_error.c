#include "testutil.h"
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(reel_strerror(REEL_OK), "success");
    assert_string_equal(reel_strerror(REEL_ENOMEM), "out of memory");
    assert_string_equal(reel_strerror(REEL_EFORMAT), "malformed data");
    assert_string_equal(reel_strerror(-9999), "unknown error");
    for (int c = 0; c >= REEL_ERANGE; c--) assert_non_null(reel_strerror(c));
}

static void test_set_and_prefix(void **state)
{
    (void)state;
    reel_clear_error();
    assert_string_equal(reel_last_error(), "");
    assert_int_equal(reel_set_error(REEL_EFORMAT, "bad magic at offset %d", 4), REEL_EFORMAT);
    assert_string_equal(reel_last_error(), "bad magic at offset 4");
    assert_int_equal(reel_last_error_code(), REEL_EFORMAT);
    assert_int_equal(reel_error_prefix("%s", "model.gguf"), REEL_EFORMAT);
    assert_string_equal(reel_last_error(), "model.gguf: bad magic at offset 4");
    errno = ENOENT;
    assert_int_equal(reel_set_error_errno("%s", "x.bin"), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "x.bin: No such file"));
}

static void *other_thread(void *arg)
{
    (void)arg;
    reel_set_error(REEL_ENET, "thread message");
    return NULL;
}

static void test_thread_local(void **state)
{
    (void)state;
    reel_set_error(REEL_EIO, "main message");
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    assert_string_equal(reel_last_error(), "main message");
    assert_int_equal(reel_last_error_code(), REEL_EIO);
}

static void test_long_message_truncates(void **state)
{
    (void)state;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    reel_set_error(REEL_EINVAL, "%s", big);
    assert_true(strlen(reel_last_error()) < sizeof big);
    reel_error_prefix("%s", big); /* must not overflow */
    assert_true(strlen(reel_last_error()) > 0);
}

static void test_log_levels(void **state)
{
    (void)state;
    assert_int_equal(reel_log_level_parse("DEBUG"), REEL_LOG_DEBUG);
    assert_int_equal(reel_log_level_parse("warn"), REEL_LOG_WARN);
    assert_int_equal(reel_log_level_parse("nope"), -1);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    reel_log_set_stream(f);
    int old = reel_log_set_level(REEL_LOG_WARN);
    REEL_LOGI("hidden %d", 1);
    REEL_LOGW("shown %d", 2);
    reel_log_set_level(REEL_LOG_DEBUG);
    REEL_LOGD("debug %d", 3);
    reel_log_set_stream(NULL);
    reel_log_set_level(old);
    fclose(f);
    assert_false(tu_contains(buf, "hidden"));
    assert_true(tu_contains(buf, "reel: [warn] shown 2"));
    assert_true(tu_contains(buf, "reel: [debug] debug 3"));
    free(buf);
}

static void test_arena(void **state)
{
    (void)state;
    reel_arena *a = reel_arena_init(1024);
    char *p = reel_arena_alloc(a, 10);
    char *q = reel_arena_alloc(a, 10);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_int_equal((uintptr_t)q % 64, 0);
    assert_ptr_not_equal(p, q);
    memset(p, 1, 10);
    char *big = reel_arena_alloc(a, 100000); /* larger than a block */
    assert_non_null(big);
    memset(big, 2, 100000);
    assert_int_equal(p[9], 1);
    assert_true(reel_arena_used(a) >= 100000);
    reel_arena_reset(a);
    assert_int_equal(reel_arena_used(a), 0);
    assert_non_null(reel_arena_alloc(a, 64));
    reel_arena_free(a);
    reel_arena_free(NULL);
    size_t out;
    assert_int_equal(reel_mul_size(SIZE_MAX / 2, 3, &out), REEL_ERANGE);
    assert_int_equal(reel_mul_size(1000, 3, &out), 0);
    assert_int_equal(out, 3000);
    assert_null(reel_aligned_alloc(SIZE_MAX / 2, 64, 0, "huge buffer"));
    assert_int_equal(reel_last_error_code(), REEL_ENOMEM);
    assert_true(tu_contains(reel_last_error(), "huge buffer"));
}

/* huge-page buffers: zeroed, 2 MiB aligned, writable to the last byte, any size; the failure
 * names what was asked for */
static void test_huge_alloc(void **state)
{
    (void)state;
    const size_t sizes[] = {
        0, 1, 4096, ((size_t)2 << 20) - 1, (size_t)2 << 20, ((size_t)5 << 20) + 3};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = reel_huge_alloc(sizes[i], "test buffer");
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
        for (size_t k = 0; k < sizes[i]; k += 4093) assert_int_equal(p[k], 0);
        if (sizes[i]) {
            assert_int_equal(p[sizes[i] - 1], 0);
            memset(p, 0xab, sizes[i]);
            assert_int_equal(p[sizes[i] - 1], 0xab);
        }
        reel_huge_free(p);
    }
    reel_huge_free(NULL);
    assert_null(reel_huge_alloc(SIZE_MAX - 4096, "a buffer too large"));
    assert_int_equal(reel_last_error_code(), REEL_ENOMEM);
    assert_true(tu_contains(reel_last_error(), "a buffer too large"));
}

/* Messages are made safe for a terminal and valid UTF-8 for JSON, whatever they quote. */
static void test_messages_printable(void **state)
{
    (void)state;
    reel_set_error(REEL_EIO, "caf\xc3\xa9 \xe2\x9c\x93\n\tok \x1b[2J \x07 \x7f \xc2\x9b \xff \xc3");
    assert_string_equal(
        reel_last_error(),
        "caf\xc3\xa9 \xe2\x9c\x93\n\tok \\x1b[2J \\x07 \\x7f \\xc2\\x9b \\xff \\xc3");
    /* overlong forms and UTF-16 surrogates are not UTF-8 */
    reel_set_error(REEL_EIO, "\xc0\xaf \xed\xa0\x80");
    assert_string_equal(reel_last_error(), "\\xc0\\xaf \\xed\\xa0\\x80");
    reel_error_prefix("\x1b]0;t");
    assert_string_equal(reel_last_error(), "\\x1b]0;t: \\xc0\\xaf \\xed\\xa0\\x80");
    /* a cut never leaves half an escape or half a character */
    char out[8];
    assert_int_equal(reel_text_printable(out, sizeof out, "ab\x1b\x1b"), 6);
    assert_string_equal(out, "ab\\x1b");
    assert_int_equal(reel_text_printable(out, 4, "ab\xe2\x9c\x93"), 2);
    assert_string_equal(out, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),     cmocka_unit_test(test_set_and_prefix),
        cmocka_unit_test(test_thread_local), cmocka_unit_test(test_long_message_truncates),
        cmocka_unit_test(test_log_levels),   cmocka_unit_test(test_arena),
        cmocka_unit_test(test_huge_alloc),   cmocka_unit_test(test_messages_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
