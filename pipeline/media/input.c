/* The guarded open of every media file reel reads: the file protocol only, a demuxer from the
 * stage's whitelist, and declared sizes and durations within the bounds the node asked for.
 *
 * libavformat opens anything by default: a URL names a protocol (http:, concat:, subfile:...)
 * and the probe picks any demuxer, including playlists (hls, dash, concat) that open further
 * files or URLs named inside them. A file called "shot.png" that is really an #EXTM3U list would
 * otherwise pull media from anywhere on the machine into the film. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libavformat/avformat.h>
#include <libavutil/avstring.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/media.h"
#include "plugins/reel_plugin.h"

/* Slack on what a node asked for: generators round to their own frame quanta (ComfyUI video
 * models make 4k+1 frames), encoders pad the last GOP, and upscaling workflows double the size.
 * Anything beyond this is not what was asked for. */
#define DURATION_SLACK   1.25
#define DURATION_EXTRA_S 0.5
#define SIZE_SLACK       2
#define FPS_FLOOR        60 /* a generator may answer a 24 fps ask at 60 fps */

static double num(const json_t *params, const char *key)
{
    const json_t *v = json_object_get(params, key);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void set_dims(reeli_media_limits *lim, int w, int h)
{
    lim->max_width = w > 0 && w < REELI_MAX_DIM ? w : REELI_MAX_DIM;
    lim->max_height = h > 0 && h < REELI_MAX_DIM ? h : REELI_MAX_DIM;
}

static void set_time(reeli_media_limits *lim, double dur, double fps)
{
    if (!(dur > 0) || dur > REELI_MAX_DURATION_S) dur = REELI_MAX_DURATION_S;
    lim->max_duration_s = dur;
    if (!(fps > 0) || fps > REELI_MAX_FPS) fps = REELI_MAX_FPS;
    lim->max_frames = (int64_t)ceil(dur * fps) + 1;
}

void reeli_media_limits_own(reeli_media_limits *lim, const char *path)
{
    memset(lim, 0, sizeof *lim);
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && strchr(dot, '/')) dot = NULL;
    /* reel's own files: UT Video (or older FFV1)/PCM Matroska and WAV intermediates, the MP4/WebM
     * it renders */
    lim->formats = !dot                    ? REELI_FORMATS_OWN
                   : !strcmp(dot, ".mkv")  ? "matroska"
                   : !strcmp(dot, ".webm") ? "matroska"
                   : !strcmp(dot, ".wav")  ? "wav"
                   : !strcmp(dot, ".mp4")  ? "mov"
                                           : REELI_FORMATS_OWN;
    set_dims(lim, 0, 0);
    set_time(lim, 0, 0);
    snprintf(lim->asked, sizeof lim->asked, "reel's own intermediate");
}

void reeli_media_limits_for(reeli_media_limits *lim, int kind, const json_t *params, int cap_w,
                            int cap_h, double cap_duration_s)
{
    memset(lim, 0, sizeof *lim);
    lim->formats = kind == REEL_PLUGIN_KIND_AUDIO   ? REELI_FORMATS_AUDIO
                   : kind == REEL_PLUGIN_KIND_IMAGE ? REELI_FORMATS_IMAGE "," REELI_FORMATS_CLIP
                                                    : REELI_FORMATS_CLIP "," REELI_FORMATS_IMAGE;
    int w = (int)num(params, "width"), h = (int)num(params, "height");
    double fps = num(params, "fps"), dur = num(params, "duration_s");
    double frames = num(params, "frames");
    if (!(dur > 0) && frames > 0) dur = frames / (fps > 0 ? fps : 24);
    char *p = lim->asked, *end = lim->asked + sizeof lim->asked;
    p += snprintf(p, end - p, "the node asked for");
    if (dur > 0) p += snprintf(p, end - p, " %g s", dur);
    if (fps > 0 && p < end) p += snprintf(p, end - p, " at %g fps", fps);
    if (w > 0 && h > 0 && p < end) p += snprintf(p, end - p, " %dx%d", w, h);
    if (!(dur > 0) && !(w > 0 && h > 0) && p < end) {
        if (cap_duration_s > 0)
            snprintf(p, end - p, " no duration (the plugin's limit is %g s)", cap_duration_s);
        else
            snprintf(p, end - p, " no duration or size");
    }
    set_dims(lim, w > 0 ? w * SIZE_SLACK : cap_w, h > 0 ? h * SIZE_SLACK : cap_h);
    double want = dur > 0 ? dur : cap_duration_s;
    set_time(lim, want > 0 ? want * DURATION_SLACK + DURATION_EXTRA_S : 0,
             fps > FPS_FLOOR ? fps : FPS_FLOOR);
}

int reeli_media_check_declared(const char *path, const AVFormatContext *fmt,
                               const reeli_media_limits *lim)
{
    double cdur = fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE
                      ? (double)fmt->duration / AV_TIME_BASE
                      : 0;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        const AVStream *st = fmt->streams[i];
        const AVCodecParameters *cp = st->codecpar;
        if (cp->codec_type == AVMEDIA_TYPE_VIDEO &&
            (cp->width > lim->max_width || cp->height > lim->max_height))
            return reel_set_error(REEL_ERANGE,
                                  "%s: the picture is %dx%d, larger than the %dx%d allowed here "
                                  "(%s)",
                                  path, cp->width, cp->height, lim->max_width, lim->max_height,
                                  lim->asked);
        if (cp->codec_type == AVMEDIA_TYPE_AUDIO &&
            (cp->sample_rate < 0 || cp->sample_rate > REELI_MAX_RATE ||
             cp->ch_layout.nb_channels > REELI_MAX_CHANNELS))
            return reel_set_error(REEL_ERANGE, "%s: audio of %d Hz, %d channels is out of range",
                                  path, cp->sample_rate, cp->ch_layout.nb_channels);
        if (cp->codec_type != AVMEDIA_TYPE_VIDEO && cp->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        double d = st->duration > 0 && st->duration != AV_NOPTS_VALUE
                       ? (double)st->duration * av_q2d(st->time_base)
                       : 0;
        if (d > cdur) cdur = d;
    }
    if (cdur > lim->max_duration_s)
        return reel_set_error(REEL_ERANGE,
                              "%s: lasts %.2f s, longer than the %.2f s allowed here (%s)", path,
                              cdur, lim->max_duration_s, lim->asked);
    return 0;
}

int reeli_media_open(const char *path, const reeli_media_limits *lim, AVFormatContext **out)
{
    *out = NULL;
    reeli_media_limits own;
    if (!lim) {
        reeli_media_limits_own(&own, path);
        lim = &own;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) return reel_set_error_errno("%s", path);
    /* a FIFO or a device would block or never end */
    if (!S_ISREG(sb.st_mode)) return reel_set_error(REEL_EFORMAT, "%s: not a regular file", path);
    /* "file:" first, so that no part of the name is ever read as a protocol */
    char *url = reel_xasprintf("file:%s", path);
    AVDictionary *o = NULL;
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    AVIOContext *pb = NULL;
    int ret = avio_open2(&pb, url, AVIO_FLAG_READ, NULL, &o);
    av_dict_free(&o);
    if (ret < 0) {
        free(url);
        return reeli_media_averr(ret, path, "opening");
    }
    /* Probe here rather than inside avformat_open_input, to name what the file really is. */
    const AVInputFormat *ifmt = NULL;
    ret = av_probe_input_buffer2(pb, &ifmt, url, NULL, 0, 0);
    avio_closep(&pb);
    if (ret < 0 || !ifmt) {
        free(url);
        return reel_set_error(REEL_EFORMAT, "%s: not a media file (no format recognised)", path);
    }
    if (av_match_list(ifmt->name, lim->formats, ',') <= 0) {
        free(url);
        return reel_set_error(
            REEL_EFORMAT, "%s: is %s (format '%s'), not accepted here; accepted formats: %s", path,
            ifmt->long_name ? ifmt->long_name : ifmt->name, ifmt->name, lim->formats);
    }
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) {
        free(url);
        return reel_set_error(REEL_ENOMEM, "%s: out of memory", path);
    }
    /* Both whitelists also bind whatever the demuxer itself opens (nested inputs). */
    av_dict_set(&o, "protocol_whitelist", "file", 0);
    av_dict_set(&o, "format_whitelist", lim->formats, 0);
    ret = avformat_open_input(&fmt, url, ifmt, &o);
    av_dict_free(&o);
    free(url);
    if (ret < 0) return reeli_media_averr(ret, path, "opening");
    if ((ret = avformat_find_stream_info(fmt, NULL)) < 0) {
        avformat_close_input(&fmt);
        return reeli_media_averr(ret, path, "reading stream info");
    }
    if ((ret = reeli_media_check_declared(path, fmt, lim)) < 0) {
        avformat_close_input(&fmt);
        return ret;
    }
    *out = fmt;
    return 0;
}
