#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX 2048

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local int last_code;

const char *reel_strerror(int code)
{
    switch (code) {
    case REEL_OK: return "success";
    case REEL_EINVAL: return "invalid argument";
    case REEL_ENOMEM: return "out of memory";
    case REEL_EIO: return "input/output error";
    case REEL_EFORMAT: return "malformed data";
    case REEL_ENOTFOUND: return "not found";
    case REEL_EUNSUPPORTED: return "not supported";
    case REEL_ENET: return "network error";
    case REEL_ETIMEDOUT: return "timed out";
    case REEL_EGPU: return "GPU error";
    case REEL_ECANCELED: return "canceled";
    case REEL_EHTTP: return "HTTP error";
    case REEL_ERANGE: return "out of range";
    }
    return "unknown error";
}

const char *reel_last_error(void)
{
    return last_msg;
}

int reel_last_error_code(void)
{
    return last_code;
}

int reel_set_errorv(int code, const char *fmt, va_list ap)
{
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    last_code = code;
    return code;
}

int reel_set_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reel_set_errorv(code, fmt, ap);
    va_end(ap);
    return code;
}

int reel_error_prefix(const char *fmt, ...)
{
    char prefix[512], old[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_msg, sizeof old);
    size_t n = strlen(prefix);
    memcpy(last_msg, prefix, n);
    if (n + 2 < sizeof last_msg) {
        memcpy(last_msg + n, ": ", 2);
        n += 2;
    }
    size_t rest = strlen(old);
    if (rest > sizeof last_msg - 1 - n) rest = sizeof last_msg - 1 - n;
    memcpy(last_msg + n, old, rest);
    last_msg[n + rest] = '\0';
    return last_code;
}

int reel_set_error_errno(const char *fmt, ...)
{
    int err = errno;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int code = err == ENOENT ? REEL_ENOTFOUND : err == ENOMEM ? REEL_ENOMEM : REEL_EIO;
    return reel_set_error(code, "%s: %s", what, strerror(err));
}

void reel_clear_error(void)
{
    last_msg[0] = '\0';
    last_code = 0;
}

void reeli_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "reel: %s:%d: internal error: assertion '%s' failed\n", file, line, expr);
    fflush(stderr);
    abort();
}
