/* libav* logging routed through reel's logger (core/log.h), and libav error codes as reel's. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/log.h>

#include "core/error.h"
#include "core/log.h"
#include "pipeline/media/media.h"

/* libav* messages go through reel's logger: errors at info level (reel's own error message
 * says what failed), the rest at debug, so a default run stays quiet. */
static void av_log_to_reel(void *avcl, int level, const char *fmt, va_list ap)
{
    if (level > AV_LOG_VERBOSE) return;
    int rl = level <= AV_LOG_ERROR ? REEL_LOG_INFO : REEL_LOG_DEBUG;
    if (rl < reel_log_level()) return;
    char line[1024];
    int prefix = 1;
    av_log_format_line(avcl, level, fmt, ap, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    if (n) reel_log(rl, "libav: %s", line);
}

static pthread_once_t libav_log_once = PTHREAD_ONCE_INIT;
static void av_log_setup(void)
{
    av_log_set_callback(av_log_to_reel);
}

void reeli_media_log_init(void)
{
    pthread_once(&libav_log_once, av_log_setup);
}

int reeli_media_averr(int err, const char *path, const char *what)
{
    char buf[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, buf, sizeof buf);
    int code = err == AVERROR(ENOMEM)             ? REEL_ENOMEM
               : err == AVERROR(ENOENT)           ? REEL_ENOTFOUND
               : err == AVERROR_INVALIDDATA       ? REEL_EFORMAT
               : err == AVERROR_DECODER_NOT_FOUND ? REEL_EUNSUPPORTED
                                                  : REEL_EIO;
    return reel_set_error(code, "%s: %s: %s", path, what, buf);
}
