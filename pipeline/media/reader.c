/* Media readers: video frames at a fixed size and rate, whole audio tracks as float PCM,
 * subtitle cues, and probing/verification by decoding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "pipeline/media/media.h"
#include "plugins/reel_plugin.h"

/* Longest audio we decode into memory (samples per channel): 3 hours at 48 kHz. */
#define MAX_AUDIO_FRAMES ((int64_t)48000 * 3600 * 3)

/* Opens path through the guarded open (media/input.c) and a decoder for its best stream of type
 * t; *idx = -1 if there is none. */
static int open_input(const char *path, enum AVMediaType t, const reeli_media_limits *lim,
                      AVFormatContext **fmt, AVCodecContext **dec, int *idx)
{
    *fmt = NULL;
    *dec = NULL;
    *idx = -1;
    reeli_media_limits own;
    if (!lim) {
        reeli_media_limits_own(&own, path);
        lim = &own;
    }
    int ret = reeli_media_open(path, lim, fmt);
    if (ret < 0) return ret;
    const AVCodec *codec = NULL;
    ret = av_find_best_stream(*fmt, t, -1, -1, &codec, 0);
    if (ret == AVERROR_DECODER_NOT_FOUND) {
        avformat_close_input(fmt);
        return reel_set_error(REEL_EUNSUPPORTED, "%s: no decoder for its %s stream", path,
                              av_get_media_type_string(t));
    }
    if (ret < 0) return 0;
    *idx = ret;
    if (!codec) {
        avformat_close_input(fmt);
        return reel_set_error(REEL_EUNSUPPORTED, "%s: no decoder for stream %d", path, *idx);
    }
    *dec = avcodec_alloc_context3(codec);
    if (!*dec) {
        avformat_close_input(fmt);
        return reel_set_error(REEL_ENOMEM, "%s: out of memory", path);
    }
    avcodec_parameters_to_context(*dec, (*fmt)->streams[*idx]->codecpar);
    (*dec)->pkt_timebase = (*fmt)->streams[*idx]->time_base;
    /* the decoder refuses a picture larger than allowed before allocating it */
    (*dec)->max_pixels = (int64_t)lim->max_width * lim->max_height;
    /* pictures decode on every CPU (UT Video and H.264 by frames, FFV1 by slices): the same
     * pictures, and the stage that reads them (a concat's transitions, a render) is often the only
     * one running */
    if (t == AVMEDIA_TYPE_VIDEO) (*dec)->thread_count = 0;
    if ((ret = avcodec_open2(*dec, codec, NULL)) < 0) {
        avcodec_free_context(dec);
        avformat_close_input(fmt);
        return reeli_media_averr(ret, path, "opening the decoder");
    }
    return 0;
}

/* Duration of stream st in seconds: its own, its Matroska DURATION tag, or the container's. */
static double stream_duration(const AVFormatContext *fmt, const AVStream *st)
{
    if (st->duration > 0 && st->duration != AV_NOPTS_VALUE)
        return (double)st->duration * av_q2d(st->time_base);
    const AVDictionaryEntry *e = av_dict_get(st->metadata, "DURATION", NULL, 0);
    int h, m;
    double s;
    if (e && sscanf(e->value, "%d:%d:%lf", &h, &m, &s) == 3) return h * 3600.0 + m * 60.0 + s;
    if (fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE)
        return (double)fmt->duration / AV_TIME_BASE;
    return 0;
}

static AVRational stream_fps(const AVStream *st)
{
    AVRational r = st->avg_frame_rate;
    if (r.num <= 0 || r.den <= 0) r = st->r_frame_rate;
    if (r.num <= 0 || r.den <= 0 || av_q2d(r) > 1000) r = (AVRational){25, 1};
    return r;
}

/* ---- video reader --------------------------------------------------------------------------- */
struct reeli_vr {
    char *path;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int idx;
    AVPacket *pkt;
    AVFrame *pending; /* next decoded frame, not yet shown */
    int have_pending, eof;
    AVFrame *cur; /* the source picture being shown */
    int have_cur, cur_dirty;
    AVFrame *out; /* cur scaled and padded */
    struct SwsContext *sws;
    int width, height;
    int fit, warned; /* REELI_FIT_*; a warning about bars was logged */
    AVRational fps;
    int64_t n_frames, k;
    int64_t first_pts;
    int64_t decoded; /* source pictures decoded so far */
    reeli_media_limits lim;
};

/* A decoded picture past the bounds of lim stops decoding: a file that decodes to far more
 * than was asked costs no more than what was asked. */
static int check_decoded(const char *path, const AVFrame *f, int64_t count,
                         const reeli_media_limits *lim)
{
    if (f->width > lim->max_width || f->height > lim->max_height)
        return reel_set_error(
            REEL_ERANGE, "%s: a picture of %dx%d, larger than the %dx%d allowed here (%s)", path,
            f->width, f->height, lim->max_width, lim->max_height, lim->asked);
    if (count > lim->max_frames)
        return reel_set_error(REEL_ERANGE,
                              "%s: decodes to more than %lld frames, more than allowed here (%s)",
                              path, (long long)lim->max_frames, lim->asked);
    return 0;
}

static int decode_next(reeli_vr *r)
{
    for (;;) {
        int ret = avcodec_receive_frame(r->dec, r->pending);
        if (ret >= 0) {
            if ((ret = check_decoded(r->path, r->pending, ++r->decoded, &r->lim)) < 0) return ret;
            r->have_pending = 1;
            return 1;
        }
        if (ret == AVERROR_EOF) {
            r->eof = 1;
            return 0;
        }
        if (ret != AVERROR(EAGAIN)) return reeli_media_averr(ret, r->path, "decoding video");
        for (;;) {
            ret = av_read_frame(r->fmt, r->pkt);
            if (ret == AVERROR_EOF) {
                avcodec_send_packet(r->dec, NULL);
                break;
            }
            if (ret < 0) return reeli_media_averr(ret, r->path, "reading");
            if (r->pkt->stream_index != r->idx) {
                av_packet_unref(r->pkt);
                continue;
            }
            ret = avcodec_send_packet(r->dec, r->pkt);
            av_packet_unref(r->pkt);
            if (ret < 0 && ret != AVERROR(EAGAIN))
                return reeli_media_averr(ret, r->path, "decoding video");
            break;
        }
    }
}

static double frame_time(reeli_vr *r, const AVFrame *f)
{
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = f->pts;
    if (pts == AV_NOPTS_VALUE) return 0;
    if (r->first_pts == AV_NOPTS_VALUE) r->first_pts = pts;
    return (double)(pts - r->first_pts) * av_q2d(r->fmt->streams[r->idx]->time_base);
}

reeli_vr *reeli_vr_open(const char *path, int width, int height, AVRational fps)
{
    return reeli_vr_open_bounded(path, width, height, fps, NULL);
}

reeli_vr *reeli_vr_open_bounded(const char *path, int width, int height, AVRational fps,
                                const reeli_media_limits *lim)
{
    reeli_vr *r = reel_xcalloc(1, sizeof *r);
    r->path = reel_xstrdup(path);
    r->first_pts = AV_NOPTS_VALUE;
    if (lim)
        r->lim = *lim;
    else
        reeli_media_limits_own(&r->lim, path);
    if (open_input(path, AVMEDIA_TYPE_VIDEO, &r->lim, &r->fmt, &r->dec, &r->idx) < 0) goto fail;
    if (r->idx < 0) {
        reel_set_error(REEL_EFORMAT, "%s: no video stream", path);
        goto fail;
    }
    AVStream *st = r->fmt->streams[r->idx];
    if (r->dec->width <= 0 || r->dec->height <= 0) {
        reel_set_error(REEL_EFORMAT, "%s: video stream has no size", path);
        goto fail;
    }
    r->width = width > 0 ? width : r->dec->width;
    r->height = height > 0 ? height : r->dec->height;
    r->fps = fps.num > 0 && fps.den > 0 ? fps : stream_fps(st);
    double dur = stream_duration(r->fmt, st);
    if (dur <= 0) dur = 1.0 / av_q2d(stream_fps(st)); /* a still image: one source frame */
    r->n_frames = llround(dur * av_q2d(r->fps));
    if (r->n_frames < 1) r->n_frames = 1;
    r->pkt = av_packet_alloc();
    r->pending = av_frame_alloc();
    r->cur = av_frame_alloc();
    r->out = av_frame_alloc();
    if (!r->pkt || !r->pending || !r->cur || !r->out) {
        reel_set_error(REEL_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    r->out->format = AV_PIX_FMT_YUV420P;
    r->out->width = r->width;
    r->out->height = r->height;
    if (av_frame_get_buffer(r->out, 0) < 0) {
        reel_set_error(REEL_ENOMEM, "%s: out of memory for a %dx%d frame", path, r->width,
                       r->height);
        goto fail;
    }
    int ret = decode_next(r);
    if (ret < 0) goto fail;
    if (ret == 0) {
        reel_set_error(REEL_EFORMAT, "%s: the video stream has no frames", path);
        goto fail;
    }
    frame_time(r, r->pending); /* times count from the first picture */
    return r;
fail:
    reeli_vr_free(r);
    return NULL;
}

int64_t reeli_vr_frames(const reeli_vr *r)
{
    return r->n_frames;
}

void reeli_vr_set_frames(reeli_vr *r, int64_t n)
{
    r->n_frames = n > 0 ? n : 1;
}

void reeli_vr_geometry(const reeli_vr *r, int *width, int *height, AVRational *fps)
{
    if (width) *width = r->width;
    if (height) *height = r->height;
    if (fps) *fps = r->fps;
}

void reeli_vr_fit(reeli_vr *r, int fit)
{
    r->fit = fit;
}

/* Crops c (in place: its data pointers) to the aspect of width x height, keeping the middle. */
static void crop_to_aspect(AVFrame *c, int width, int height)
{
    int64_t keep_w = (int64_t)c->height * width / height,
            keep_h = (int64_t)c->width * height / width;
    if (keep_w < c->width) {
        c->crop_left = (size_t)(c->width - keep_w) / 2;
        c->crop_right = (size_t)(c->width - keep_w) - c->crop_left;
    } else if (keep_h < c->height) {
        c->crop_top = (size_t)(c->height - keep_h) / 2;
        c->crop_bottom = (size_t)(c->height - keep_h) - c->crop_top;
    }
    av_frame_apply_cropping(c, AV_FRAME_CROP_UNALIGNED);
}

/* Scales cur into out: cropped to fill width x height (cover), or fitting inside it, centred
 * on black (contain). */
static int convert(reeli_vr *r)
{
    AVFrame *c = r->cur;
    if (c->format == AV_PIX_FMT_YUV420P && c->width == r->width && c->height == r->height) {
        /* reel's own intermediates: the decoder's picture as it is, no copy */
        int64_t pts = r->out->pts;
        av_frame_unref(r->out);
        if (av_frame_ref(r->out, c) < 0) return reel_set_error(REEL_ENOMEM, "out of memory");
        r->out->pts = pts;
        return 0;
    }
    if (r->fit == REELI_FIT_COVER) crop_to_aspect(c, r->width, r->height);
    int fw = r->width, fh = r->height;
    if ((int64_t)c->width * r->height > (int64_t)c->height * r->width)
        fh = (int)((int64_t)r->width * c->height / c->width) & ~1;
    else
        fw = (int)((int64_t)r->height * c->width / c->height) & ~1;
    if (fw < 2) fw = 2;
    if (fh < 2) fh = 2;
    if (fw > r->width) fw = r->width;
    if (fh > r->height) fh = r->height;
    r->sws = sws_getCachedContext(r->sws, c->width, c->height, c->format, fw, fh,
                                  AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!r->sws)
        return reel_set_error(REEL_EUNSUPPORTED, "%s: cannot convert %s %dx%d", r->path,
                              av_get_pix_fmt_name(c->format), c->width, c->height);
    if (!r->out->buf[0]) { /* it held a decoded picture (above) */
        av_frame_unref(r->out);
        r->out->format = AV_PIX_FMT_YUV420P;
        r->out->width = r->width;
        r->out->height = r->height;
        if (av_frame_get_buffer(r->out, 0) < 0) return reel_set_error(REEL_ENOMEM, "out of memory");
    }
    if (av_frame_make_writable(r->out) < 0) return reel_set_error(REEL_ENOMEM, "out of memory");
    int ox = ((r->width - fw) / 2) & ~1, oy = ((r->height - fh) / 2) & ~1;
    if (fw != r->width || fh != r->height) {
        /* bars of a pixel or two are rounding, not a change of aspect */
        if (r->fit == REELI_FIT_UNSET && !r->warned && (r->width - fw > 4 || r->height - fh > 4)) {
            r->warned = 1;
            reel_log(REEL_LOG_WARN,
                     "a %dx%d picture is letterboxed into a %dx%d frame (black bars): make the "
                     "shots at the film's size (size= on reel.video / reel.image, e.g. "
                     "size=\"9:16\"), or choose fit=\"cover\" (crop) or fit=\"contain\" "
                     "(bars) where the size is set",
                     c->width, c->height, r->width, r->height);
        }
        for (int p = 0; p < 3; p++) {
            int h = p ? (r->height + 1) / 2 : r->height;
            memset(r->out->data[p], p ? 128 : 16, (size_t)r->out->linesize[p] * h);
        }
    }
    uint8_t *dst[4] = {r->out->data[0] + (size_t)oy * r->out->linesize[0] + ox,
                       r->out->data[1] + (size_t)(oy / 2) * r->out->linesize[1] + ox / 2,
                       r->out->data[2] + (size_t)(oy / 2) * r->out->linesize[2] + ox / 2, NULL};
    sws_scale(r->sws, (const uint8_t *const *)c->data, c->linesize, 0, c->height, dst,
              r->out->linesize);
    return 0;
}

int reeli_vr_next(reeli_vr *r, AVFrame **frame)
{
    if (r->k >= r->n_frames) return 0;
    double t = (double)r->k / av_q2d(r->fps);
    double half = 0.5 / av_q2d(r->fps);
    /* Show the latest source picture whose time is at or before t (within half a frame). */
    while (r->have_pending && (!r->have_cur || frame_time(r, r->pending) <= t + half - 1e-6)) {
        av_frame_unref(r->cur);
        av_frame_move_ref(r->cur, r->pending);
        r->have_cur = 1;
        r->cur_dirty = 1;
        r->have_pending = 0;
        if (!r->eof) {
            int ret = decode_next(r);
            if (ret < 0) return ret;
        }
    }
    if (r->cur_dirty) {
        int ret = convert(r);
        if (ret < 0) return ret;
        r->cur_dirty = 0;
    }
    r->out->pts = r->k++;
    *frame = r->out;
    return 1;
}

void reeli_vr_free(reeli_vr *r)
{
    if (!r) return;
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fmt);
    av_packet_free(&r->pkt);
    av_frame_free(&r->pending);
    av_frame_free(&r->cur);
    av_frame_free(&r->out);
    sws_freeContext(r->sws);
    free(r->path);
    free(r);
}

/* ---- audio ---------------------------------------------------------------------------------- */
static int append_converted(SwrContext *swr, const AVFrame *f, int channels, float **buf,
                            int64_t *n, int64_t *cap, int64_t max, const char *path,
                            const reeli_media_limits *lim)
{
    int out_max = swr_get_out_samples(swr, f ? f->nb_samples : 0);
    if (out_max <= 0) return 0;
    if (*n + out_max > MAX_AUDIO_FRAMES)
        return reel_set_error(REEL_ERANGE, "%s: audio longer than 3 hours", path);

    if (*n + out_max > *cap) {
        int64_t nc = (*cap ? *cap * 2 : 48000) + out_max;
        float *nb = realloc(*buf, (size_t)nc * channels * sizeof(float));
        if (!nb) return reel_set_error(REEL_ENOMEM, "%s: out of memory for audio", path);
        *buf = nb;
        *cap = nc;
    }
    uint8_t *dst = (uint8_t *)(*buf + *n * channels);
    int got = swr_convert(swr, &dst, out_max, f ? (const uint8_t **)f->extended_data : NULL,
                          f ? f->nb_samples : 0);
    if (got < 0) return reeli_media_averr(got, path, "resampling");
    *n += got;
    if (*n > max)
        return reel_set_error(REEL_ERANGE,
                              "%s: decodes to more than %.2f s of audio, more than allowed here "
                              "(%s)",
                              path, lim->max_duration_s, lim->asked);
    return 0;
}

int reeli_audio_load(const char *path, int rate, int channels, float **pcm, int64_t *n_frames)
{
    return reeli_audio_load_bounded(path, rate, channels, pcm, n_frames, NULL);
}

int reeli_audio_load_bounded(const char *path, int rate, int channels, float **pcm,
                             int64_t *n_frames, const reeli_media_limits *lim)
{
    *pcm = NULL;
    *n_frames = 0;
    reeli_media_limits own;
    if (!lim) {
        reeli_media_limits_own(&own, path);
        lim = &own;
    }
    /* sample count bound: the allowed duration at the output rate */
    int64_t max = (int64_t)ceil(lim->max_duration_s * rate);
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int idx;
    int ret = open_input(path, AVMEDIA_TYPE_AUDIO, lim, &fmt, &dec, &idx);
    if (ret < 0) return ret;
    if (idx < 0) {
        avformat_close_input(&fmt);
        return reel_set_error(REEL_ENOTFOUND, "%s: no audio stream", path);
    }
    SwrContext *swr = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    float *buf = NULL;
    int64_t n = 0, cap = 0;
    AVChannelLayout out_layout;
    av_channel_layout_default(&out_layout, channels);
    if (!pkt || !f) {
        ret = reel_set_error(REEL_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    int draining = 0;
    for (;;) {
        ret = avcodec_receive_frame(dec, f);
        if (ret == AVERROR_EOF) break;
        if (ret == AVERROR(EAGAIN)) {
            if (draining) break;
            ret = av_read_frame(fmt, pkt);
            if (ret == AVERROR_EOF) {
                avcodec_send_packet(dec, NULL);
                draining = 1;
                continue;
            }
            if (ret < 0) {
                ret = reeli_media_averr(ret, path, "reading");
                goto done;
            }
            if (pkt->stream_index == idx) {
                ret = avcodec_send_packet(dec, pkt);
                if (ret < 0 && ret != AVERROR(EAGAIN)) {
                    av_packet_unref(pkt);
                    ret = reeli_media_averr(ret, path, "decoding audio");
                    goto done;
                }
            }
            av_packet_unref(pkt);
            continue;
        }
        if (ret < 0) {
            ret = reeli_media_averr(ret, path, "decoding audio");
            goto done;
        }
        if (!swr &&
            (f->sample_rate <= 0 || f->sample_rate > REELI_MAX_RATE ||
             f->ch_layout.nb_channels <= 0 || f->ch_layout.nb_channels > REELI_MAX_CHANNELS)) {
            ret = reel_set_error(REEL_ERANGE, "%s: audio of %d Hz, %d channels is out of range",
                                 path, f->sample_rate, f->ch_layout.nb_channels);
            av_frame_unref(f);
            goto done;
        }
        if (!swr) {
            ret = swr_alloc_set_opts2(&swr, &out_layout, AV_SAMPLE_FMT_FLT, rate, &f->ch_layout,
                                      f->format, f->sample_rate, 0, NULL);
            /* mono goes to every output channel at full level (a voice stays as loud) */
            if (ret >= 0 && f->ch_layout.nb_channels == 1 && channels <= 8) {
                double ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
                ret = swr_set_matrix(swr, ones, 1);
            }
            if (ret >= 0) ret = swr_init(swr);
            if (ret < 0) {
                ret = reeli_media_averr(ret, path, "setting up the resampler");
                goto done;
            }
        }
        ret = append_converted(swr, f, channels, &buf, &n, &cap, max, path, lim);
        av_frame_unref(f);
        if (ret < 0) goto done;
    }
    ret = swr ? append_converted(swr, NULL, channels, &buf, &n, &cap, max, path, lim) : 0;
done:
    swr_free(&swr);
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    if (ret < 0) {
        free(buf);
        return ret;
    }
    if (!buf) buf = reel_xcalloc(1, sizeof(float) * channels);
    *pcm = buf;
    *n_frames = n;
    return 0;
}

/* ---- subtitles ------------------------------------------------------------------------------ */
/* Text of an ASS dialogue line without its first 8 fields and {override} blocks, \N -> \n. */
static char *ass_text(const char *ass)
{
    const char *p = ass;
    for (int commas = 0; *p && commas < 8; p++)
        if (*p == ',') commas++;
    char *out = reel_xmalloc(strlen(p) + 1);
    size_t k = 0;
    int depth = 0;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}' && depth)
            depth--;
        else if (depth)
            continue;
        else if (p[0] == '\\' && (p[1] == 'N' || p[1] == 'n')) {
            out[k++] = '\n';
            p++;
        } else if (*p != '\r')
            out[k++] = *p;
    }
    while (k && out[k - 1] == '\n') k--;
    out[k] = 0;
    return out;
}

int reeli_subs_load(const char *path, reeli_cue **cues, size_t *n)
{
    *cues = NULL;
    *n = 0;
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int idx;
    int ret = open_input(path, AVMEDIA_TYPE_SUBTITLE, NULL, &fmt, &dec, &idx);
    if (ret < 0) return ret;
    if (idx < 0) {
        avformat_close_input(&fmt);
        return 0;
    }
    AVStream *st = fmt->streams[idx];
    AVPacket *pkt = av_packet_alloc();
    size_t cap = 0;
    while (pkt && (ret = av_read_frame(fmt, pkt)) >= 0) {
        if (pkt->stream_index != idx) {
            av_packet_unref(pkt);
            continue;
        }
        AVSubtitle sub;
        int got = 0;
        double start = (double)pkt->pts * av_q2d(st->time_base);
        double end = start + (double)pkt->duration * av_q2d(st->time_base);
        ret = avcodec_decode_subtitle2(dec, &sub, &got, pkt);
        av_packet_unref(pkt);
        if (ret < 0) {
            ret = reeli_media_averr(ret, path, "decoding subtitles");
            break;
        }
        if (!got) continue;
        for (unsigned i = 0; i < sub.num_rects; i++) {
            const char *src = sub.rects[i]->ass ? sub.rects[i]->ass : NULL;
            if (!src) continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *cues = reel_xrealloc(*cues, cap * sizeof **cues);
            }
            (*cues)[(*n)++] = (reeli_cue){start, end, ass_text(src)};
        }
        avsubtitle_free(&sub);
    }
    if (ret == AVERROR_EOF) ret = 0;
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    if (ret < 0) {
        reeli_cues_free(*cues, *n);
        *cues = NULL;
        *n = 0;
    }
    return ret < 0 ? ret : 0;
}

/* ---- probe and verification ------------------------------------------------------------------ */
/* open_input for the video stream of a file the caller probed a moment ago, decoding strictly. */
static int open_probed_video(const char *path, const reeli_media_limits *lim, AVFormatContext **fmt,
                             AVCodecContext **dec, int *idx)
{
    int ret = open_input(path, AVMEDIA_TYPE_VIDEO, lim, fmt, dec, idx);
    if (ret < 0) return ret;
    if (*idx < 0) { /* the file changed between the two opens */
        avformat_close_input(fmt);
        return reel_set_error(REEL_EFORMAT, "%s: no video stream", path);
    }
    (*dec)->err_recognition = AV_EF_EXPLODE;
    return 0;
}

/* REELI_PROBE_PACKETS: counts the video packets (every one a frame, non-empty, in decoding
 * order) and decodes until the first picture comes out. */
static int count_video_packets(const char *path, const reeli_media_limits *lim, reeli_probe *p)
{
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int idx, ret;
    if ((ret = open_probed_video(path, lim, &fmt, &dec, &idx)) < 0) return ret;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int pictured = 0;
    int64_t last_dts = AV_NOPTS_VALUE;
    ret = pkt && f ? 0 : reel_set_error(REEL_ENOMEM, "%s: out of memory", path);
    while (ret == 0) {
        int r = av_read_frame(fmt, pkt);
        if (r == AVERROR_EOF) break;
        if (r < 0) {
            ret = reeli_media_averr(r, path, "reading");
            break;
        }
        if (pkt->stream_index == idx) {
            if (pkt->size <= 0 ||
                (pkt->dts != AV_NOPTS_VALUE && last_dts != AV_NOPTS_VALUE && pkt->dts <= last_dts))
                ret = reel_set_error(REEL_EFORMAT, "%s: video packet %lld is %s", path,
                                     (long long)p->n_frames + 1,
                                     pkt->size <= 0 ? "empty" : "out of order");
            else if (++p->n_frames > lim->max_frames)
                ret = reel_set_error(REEL_ERANGE,
                                     "%s: has more than %lld frames, more than allowed here (%s)",
                                     path, (long long)lim->max_frames, lim->asked);
            last_dts = pkt->dts;
            if (ret == 0 && !pictured) {
                r = avcodec_send_packet(dec, pkt);
                if (r >= 0 || r == AVERROR(EAGAIN)) r = avcodec_receive_frame(dec, f);
                if (r >= 0) {
                    pictured = 1;
                    ret = check_decoded(path, f, 1, lim);
                } else if (r != AVERROR(EAGAIN)) {
                    ret = reeli_media_averr(r, path, "decoding video");
                }
            }
        }
        av_packet_unref(pkt);
    }
    if (ret == 0 && !pictured) { /* a decoder holding frames back gives them at the end */
        avcodec_send_packet(dec, NULL);
        int r = avcodec_receive_frame(dec, f);
        ret = r >= 0 ? check_decoded(path, f, 1, lim)
                     : reel_set_error(REEL_EFORMAT, "%s: no video frame decodes", path);
    }
    av_packet_free(&pkt);
    av_frame_free(&f);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return ret;
}

int reeli_media_probe(const char *path, int decode, reeli_probe *p)
{
    return reeli_media_probe_bounded(path, decode, p, NULL);
}

int reeli_media_probe_bounded(const char *path, int decode, reeli_probe *p,
                              const reeli_media_limits *lim)
{
    memset(p, 0, sizeof *p);
    reeli_media_limits own;
    if (!lim) {
        reeli_media_limits_own(&own, path);
        lim = &own;
    }
    AVFormatContext *fmt = NULL;
    int ret = reeli_media_open(path, lim, &fmt);
    if (ret < 0) return ret;
    if (fmt->duration > 0 && fmt->duration != AV_NOPTS_VALUE)
        p->duration_s = (double)fmt->duration / AV_TIME_BASE;
    int vi = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ai = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_SUBTITLE, -1, -1, NULL, 0);
    if (vi >= 0) {
        AVStream *st = fmt->streams[vi];
        p->has_video = 1;
        p->width = st->codecpar->width;
        p->height = st->codecpar->height;
        p->fps = stream_fps(st);
        p->video_duration_s = stream_duration(fmt, st);
        snprintf(p->vcodec, sizeof p->vcodec, "%s", avcodec_get_name(st->codecpar->codec_id));
    }
    if (ai >= 0) {
        AVStream *st = fmt->streams[ai];
        p->has_audio = 1;
        p->sample_rate = st->codecpar->sample_rate;
        p->channels = st->codecpar->ch_layout.nb_channels;
        snprintf(p->acodec, sizeof p->acodec, "%s", avcodec_get_name(st->codecpar->codec_id));
    }
    if (si >= 0) {
        p->has_subs = 1;
        snprintf(p->scodec, sizeof p->scodec, "%s",
                 avcodec_get_name(fmt->streams[si]->codecpar->codec_id));
    }
    avformat_close_input(&fmt);
    if (!decode) return 0;

    if (p->has_video && decode == REELI_PROBE_PACKETS) {
        if ((ret = count_video_packets(path, lim, p)) < 0) return ret;
        p->video_duration_s = (double)p->n_frames / av_q2d(p->fps);
    } else if (p->has_video) {
        AVCodecContext *dec;
        int idx;
        if ((ret = open_probed_video(path, lim, &fmt, &dec, &idx)) < 0) return ret;
        AVPacket *pkt = av_packet_alloc();
        AVFrame *f = av_frame_alloc();
        int draining = 0;
        ret = 0;
        while (pkt && f) {
            int r = avcodec_receive_frame(dec, f);
            if (r == AVERROR_EOF) break;
            if (r >= 0) {
                ret = check_decoded(path, f, ++p->n_frames, lim);
                av_frame_unref(f);
                if (ret < 0) break;
                continue;
            }
            if (r != AVERROR(EAGAIN) || draining) {
                ret = r == AVERROR(EAGAIN) ? 0 : reeli_media_averr(r, path, "decoding video");
                break;
            }
            r = av_read_frame(fmt, pkt);
            if (r == AVERROR_EOF) {
                avcodec_send_packet(dec, NULL);
                draining = 1;
                continue;
            }
            if (r < 0) {
                ret = reeli_media_averr(r, path, "reading");
                break;
            }
            if (pkt->stream_index == idx) {
                r = avcodec_send_packet(dec, pkt);
                if (r < 0 && r != AVERROR(EAGAIN)) {
                    av_packet_unref(pkt);
                    ret = reeli_media_averr(r, path, "decoding video");
                    break;
                }
            }
            av_packet_unref(pkt);
        }
        av_packet_free(&pkt);
        av_frame_free(&f);
        avcodec_free_context(&dec);
        avformat_close_input(&fmt);
        if (ret < 0) return ret;
        p->video_duration_s = (double)p->n_frames / av_q2d(p->fps);
    }
    if (p->has_audio) {
        float *pcm;
        int64_t n;
        int rate = p->sample_rate > 0 ? p->sample_rate : REELI_RATE;
        if ((ret = reeli_audio_load_bounded(path, rate, 1, &pcm, &n, lim)) < 0) return ret;
        free(pcm);
        p->n_samples = n;
    }
    return 0;
}

int reeli_media_validate(const char *path, int kind, const reeli_media_limits *lim)
{
    reeli_probe p;
    int ret = reeli_media_probe_bounded(path, 1, &p, lim);
    if (ret < 0) return ret;
    if (kind == REEL_PLUGIN_KIND_AUDIO) {
        if (!p.has_audio)
            return reel_set_error(REEL_EFORMAT, "%s: expected an audio stream, found none", path);
        if (p.n_samples <= 0)
            return reel_set_error(REEL_EFORMAT, "%s: the audio stream has no samples", path);
    } else {
        if (!p.has_video)
            return reel_set_error(REEL_EFORMAT, "%s: expected a video stream, found none", path);
        if (p.n_frames <= 0)
            return reel_set_error(REEL_EFORMAT, "%s: the video stream has no frames", path);
    }
    return 0;
}
