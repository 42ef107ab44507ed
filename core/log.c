#include "core/log.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static atomic_int level = -1;
static FILE *_Atomic stream;

static const char *names[] = {"debug", "info", "warn", "error", "quiet"};

int reel_log_level_parse(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (name && strcasecmp(name, names[i]) == 0) return i;
    return -1;
}

int reel_log_level(void)
{
    int l = atomic_load(&level);
    if (l < 0) {
        l = reel_log_level_parse(getenv("REEL_LOG"));
        if (l < 0) l = REEL_LOG_WARN;
        int expected = -1;
        atomic_compare_exchange_strong(&level, &expected, l);
        l = atomic_load(&level);
    }
    return l;
}

int reel_log_set_level(int l)
{
    int old = reel_log_level();
    atomic_store(&level, l);
    return old;
}

void reel_log_set_stream(void *file)
{
    atomic_store(&stream, (FILE *)file);
}

void reel_log(int l, const char *fmt, ...)
{
    if (l < reel_log_level() || l < 0 || l >= REEL_LOG_QUIET) return;
    char raw[4096], msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    reel_text_printable(msg, sizeof msg, raw);
    FILE *f = atomic_load(&stream);
    fprintf(f ? f : stderr, "reel: [%s] %s\n", names[l], msg);
}
