/* reel core: error codes and the per-thread detailed error message.
 *
 * A fallible call returns int: 0 on success, a negative REEL_E* code on failure. The code says
 * what kind of failure it was; reel_last_error() says exactly what and where (file, offset,
 * tensor name, Lua line), as set by the failing call on the calling thread.
 *
 *     if (reel_file_map(&m, path) < 0)
 *         fprintf(stderr, "reel: %s\n", reel_last_error());
 */
#ifndef REEL_CORE_ERROR_H
#define REEL_CORE_ERROR_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. Values are stable; new ones are appended. */
enum reel_error {
    REEL_OK = 0,
    REEL_EINVAL = -1,       /* invalid argument or usage */
    REEL_ENOMEM = -2,       /* out of memory (size-dependent allocation failed) */
    REEL_EIO = -3,          /* I/O error from the system (errno-based) */
    REEL_EFORMAT = -4,      /* malformed input data: corrupt file, bad JSON, bad header */
    REEL_ENOTFOUND = -5,    /* a named thing does not exist (file, tensor, key, plugin) */
    REEL_EUNSUPPORTED = -6, /* valid input that this build cannot handle */
    REEL_ENET = -7,         /* network failure: connection refused, dropped, DNS */
    REEL_ETIMEDOUT = -8,    /* an operation ran past its time limit */
    REEL_EGPU = -9,         /* CUDA / cuBLAS failure */
    REEL_ECANCELED = -10,   /* stopped by the user or a cancel callback */
    REEL_EHTTP = -11,       /* a server answered with an HTTP error status */
    REEL_ERANGE = -12,      /* a value or size out of the allowed range (e.g. context full) */
};

/* Short, static description of a REEL_E* code ("out of memory"). Never NULL. */
const char *reel_strerror(int code);

/* The detailed message of the last error set on this thread; "" if none. The pointer is valid
 * until the next reel_set_error()/reel_clear_error() on this thread. */
const char *reel_last_error(void);

/* The code that went with the last error set on this thread (0 if none). */
int reel_last_error_code(void);

/* Records code and a printf-style message for this thread and returns code, so that a failing
 * function can `return reel_set_error(REEL_EFORMAT, "%s: bad magic", path);`. */
int reel_set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int reel_set_errorv(int code, const char *fmt, va_list ap);

/* Prepends "prefix: " to this thread's last message (adding context while unwinding) and
 * returns the last code. */
int reel_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sets REEL_EIO (or REEL_ENOTFOUND / REEL_ENOMEM as errno says) with "what: strerror(errno)". */
int reel_set_error_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copies text into out (size > 0; always terminated, cut if it does not fit) with every byte
 * that is not valid UTF-8, and every control character but newline and tab (C0, DEL, C1),
 * written as the four characters \xNN: what a server or a file says cannot drive the terminal,
 * and the text is valid in JSON. Messages set by reel_set_error() are cleaned this way.
 * Returns the length written. */
size_t reel_text_printable(char *out, size_t size, const char *text);

/* Forgets this thread's last error. */
void reel_clear_error(void);

/* Broken invariants (never bad input): abort with file and line. */
#define REEL_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) reeli_assert_fail(#cond, __FILE__, __LINE__);                                 \
    } while (0)
#ifdef __cplusplus
[[noreturn]] void reeli_assert_fail(const char *expr, const char *file, int line);
#else
_Noreturn void reeli_assert_fail(const char *expr, const char *file, int line);
#endif

#ifdef __cplusplus
}
#endif

#endif
