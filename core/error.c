#include "core/error.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 2048

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local int last_code;

const char *reel_strerror(int code)
{
    switch (code) {
    case REEL_OK:
        return "success";
    case REEL_EINVAL:
        return "invalid argument";
    case REEL_ENOMEM:
        return "out of memory";
    case REEL_EIO:
        return "input/output error";
    case REEL_EFORMAT:
        return "malformed data";
    case REEL_ENOTFOUND:
        return "not found";
    case REEL_EUNSUPPORTED:
        return "not supported";
    case REEL_ENET:
        return "network error";
    case REEL_ETIMEDOUT:
        return "timed out";
    case REEL_EGPU:
        return "GPU error";
    case REEL_ECANCELED:
        return "canceled";
    case REEL_EHTTP:
        return "HTTP error";
    case REEL_ERANGE:
        return "out of range";
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

/* Length of the UTF-8 sequence at p (1..4) if it is valid, shown as is and not a control
 * character (C0 other than newline and tab, DEL, C1); 0 otherwise. */
static size_t printable_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80) return c >= 0x20 && c != 0x7f ? 1 : c == '\n' || c == '\t' ? 1 : 0;
    size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) return 0;
    unsigned cp = c & (0x7fu >> n);
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (p[k] & 0x3fu);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0) return 0;
    return n;
}

size_t reel_text_printable(char *out, size_t size, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t o = 0;
    while (*p && o + 1 < size) {
        size_t n = printable_len(p);
        if (n) {
            if (o + n >= size) break;
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            if (o + 5 > size) break;
            snprintf(out + o, 5, "\\x%02x", *p);
            o += 4;
            p++;
        }
    }
    out[o] = '\0';
    return o;
}

int reel_set_errorv(int code, const char *fmt, va_list ap)
{
    char raw[MSG_MAX];
    vsnprintf(raw, sizeof raw, fmt, ap);
    reel_text_printable(last_msg, sizeof last_msg, raw);
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
    char raw[512], prefix[512], old[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    reel_text_printable(prefix, sizeof prefix, raw);
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
