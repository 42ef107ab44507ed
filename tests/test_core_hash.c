#include "testutil.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

/* FIPS 180-2 test vectors. */
static void test_vectors(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    reel_sha256_buf("", 0, d);
    assert_string_equal(reel_hex(d, 32, hex),
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    reel_sha256_buf("abc", 3, d);
    assert_string_equal(reel_hex(d, 32, hex),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    reel_sha256_buf(two, strlen(two), d);
    assert_string_equal(reel_hex(d, 32, hex),
                        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_streaming_equals_oneshot(void **state)
{
    (void)state;
    /* one million 'a': the long FIPS vector, fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    reel_sha256 *h = reel_sha256_init();
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t k = step < 1000000 - off ? step : 1000000 - off;
        reel_sha256_update(h, a + off, k);
        off += k;
        step = step * 3 + 1;
    }
    uint8_t d[32], e[32];
    char hex[65];
    reel_sha256_final(h, d);
    assert_string_equal(reel_hex(d, 32, hex),
                        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    reel_sha256_buf(a, 1000000, e);
    assert_memory_equal(d, e, 32);
    /* the same through a file */
    char *dir = tu_tmpdir();
    char *path = reel_xasprintf("%s/a", dir);
    tu_write_file(path, a, 1000000);
    memset(e, 0, 32);
    assert_int_equal(reel_sha256_file(path, e), 0);
    assert_memory_equal(d, e, 32);
    assert_int_equal(reel_sha256_file("/nonexistent", e), REEL_ENOTFOUND);
    tu_rmtree(dir);
    free(dir);
    free(path);
    free(a);
}

static void test_unhex(void **state)
{
    (void)state;
    uint8_t b[3];
    assert_int_equal(reel_unhex("00ffA0", b, 3), 0);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 255);
    assert_int_equal(b[2], 0xa0);
    assert_int_equal(reel_unhex("00ff", b, 3), REEL_EFORMAT);
    assert_int_equal(reel_unhex("00fg00", b, 3), REEL_EFORMAT);
}

/* A file hashed by the following thread while it is written in uneven pieces (and after a
 * prefix that was there before it started) equals the one-shot digest; reporting more bytes
 * than the file has is an error, not a digest of fewer bytes. */
static void test_follow(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *path = reel_xasprintf("%s/f.part", dir);
    const size_t n = 3 * 1000 * 1000 + 17;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (unsigned char)(i * 2654435761u >> 13);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    const size_t prefix = 123457;
    assert_int_equal(write(fd, data, prefix), (ssize_t)prefix);
    reel_sha256_follow *f = reel_sha256_follow_start(path);
    assert_non_null(f);
    reel_sha256_follow_grow(f, prefix);
    size_t at = prefix, step = 1;
    while (at < n) {
        size_t k = step < n - at ? step : n - at;
        assert_int_equal(write(fd, data + at, k), (ssize_t)k);
        at += k;
        reel_sha256_follow_grow(f, at);
        step = step * 3 + 1;
    }
    uint8_t got[REEL_SHA256_SIZE], want[REEL_SHA256_SIZE];
    assert_int_equal(reel_sha256_follow_finish(f, got), 0);
    reel_sha256_buf(data, n, want);
    assert_memory_equal(got, want, sizeof got);

    f = reel_sha256_follow_start(path); /* more than the file holds */
    assert_non_null(f);
    reel_sha256_follow_grow(f, n + 10);
    assert_int_equal(reel_sha256_follow_finish(f, got), REEL_EIO);
    assert_true(strstr(reel_last_error(), "shorter") != NULL);

    f = reel_sha256_follow_start(path); /* abandoned half-way */
    assert_non_null(f);
    reel_sha256_follow_grow(f, n / 2);
    reel_sha256_follow_cancel(f);
    reel_sha256_follow_cancel(NULL);

    char *missing = reel_xasprintf("%s/none", dir);
    assert_null(reel_sha256_follow_start(missing));
    assert_true(strstr(reel_last_error(), "none") != NULL);
    close(fd);
    free(missing);
    free(data);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_streaming_equals_oneshot),
        cmocka_unit_test(test_unhex),
        cmocka_unit_test(test_follow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
