/* Helpers shared by the tests (cmocka is included here, in the order it needs). */
#ifndef REEL_TESTUTIL_H
#define REEL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Output of a child process. */
typedef struct {
    int status; /* exit code, or 128+signal */
    char *out;  /* stdout, NUL-terminated (free) */
    char *err;  /* stderr, NUL-terminated (free) */
} tu_result;

/* Runs argv (argv[0] a path) with optional stdin text; captures stdout/stderr. */
tu_result tu_run(char *const argv[], const char *stdin_text);
void tu_result_free(tu_result *r);

/* The reel binary under test ($REEL_BIN) and the source tree ($REEL_SOURCE_DIR). */
const char *tu_reel_bin(void);
const char *tu_source_dir(void);

/* A fresh temporary folder (mkdtemp under $TMPDIR or /tmp); removed by tu_rmtree. */
char *tu_tmpdir(void);
void tu_rmtree(const char *path);

/* Writes a file (aborts the test on failure). */
void tu_write_file(const char *path, const void *data, size_t size);

/* 1 if haystack contains needle. */
int tu_contains(const char *haystack, const char *needle);

/* Skips the current test, saying why (e.g. "needs AVX-512 VNNI"). A test executable in which
 * anything was skipped and nothing failed exits with TU_SKIP_CODE, which ctest reports as
 * "Skipped" (SKIP_RETURN_CODE), never as "Passed"; the reasons go to stdout and to the file
 * $REEL_SKIP_LOG (one line each), from which `make test` prints its summary. */
#define TU_SKIP_CODE 77
#define tu_skip(why)                                                                               \
    do {                                                                                           \
        tu_note_skip(__func__, why);                                                               \
        skip();                                                                                    \
    } while (0)
void tu_note_skip(const char *test, const char *why);
/* A test of the x86 kernels (kernels/cpu/x86/, built for x86-64 only) is compiled under
 * `#if defined(__x86_64__)`; for any other CPU this defines it instead as a test that skips,
 * saying why, so that it still shows up, as skipped and never as passed. (ARM64's kernels:
 * tests/test_kernels_arm64.c.) */
#define TU_X86_ONLY_TEST(name)                                                                     \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        tu_skip("x86-64 only: the x86 kernels it tests are not built for this CPU");               \
    }
int tu_run_group_tests(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown);
/* Every test executable's cmocka_run_group_tests goes through tu_run_group_tests. */
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(tests, setup, teardown)                                             \
    tu_run_group_tests(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

#endif

/* A loopback HTTP/1.1 test server (127.0.0.1, ephemeral port), one thread, one connection at a
 * time, "Connection: close" on every answer. The handler writes a whole raw response (or part of
 * one, to simulate a dropped connection) to fd. */
typedef struct tu_http_req {
    char method[16];
    char path[1024];
    char *headers; /* raw header block, lowercase names not guaranteed */
    char *body;
    size_t body_len;
    long range_start; /* from "Range: bytes=N-", -1 if absent */
} tu_http_req;

typedef void (*tu_http_handler)(void *ctx, const tu_http_req *req, int fd);
typedef struct tu_httpd tu_httpd;

tu_httpd *tu_httpd_start(tu_http_handler handler, void *ctx);
int tu_httpd_port(const tu_httpd *s);
void tu_httpd_stop(tu_httpd *s);

/* Writes a complete response with the given status, content type and body. */
void tu_http_respond(int fd, int status, const char *ctype, const void *body, size_t len);
/* write() all of buf (ignores errors: the client may be gone). */
void tu_write_all(int fd, const void *buf, size_t len);
