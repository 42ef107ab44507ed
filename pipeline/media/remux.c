/* Re-muxing, shared by with_audio and subtitles: the video of one file (its packets copied, or
 * decoded and re-encoded to the intermediate codec only when subtitles are burnt in) with another's
 * audio, a set of cues and container tags, held or cut to a length in frames. */
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/opt.h>

#include "core/error.h"
#include "pipeline/media/ops-impl.h"

/* A filter graph "subtitles=<srt>" over yuv420p frames of w x h at fps (libass via
 * libavfilter). */
typedef struct burner {
    AVFilterGraph *g;
    AVFilterContext *src, *sink;
    AVFrame *out;
} burner;

static void burner_free(burner *b)
{
    avfilter_graph_free(&b->g);
    av_frame_free(&b->out);
}

static int burner_init(burner *b, const char *srt, int w, int h, AVRational fps)
{
    memset(b, 0, sizeof *b);
    b->g = avfilter_graph_alloc();
    b->out = av_frame_alloc();
    if (!b->g || !b->out) return reel_set_error(REEL_ENOMEM, "out of memory");
    const AVFilter *sub = avfilter_get_by_name("subtitles");
    if (!sub)
        return reel_set_error(REEL_EUNSUPPORTED,
                              "parameter 'burn': this libavfilter has no 'subtitles' filter");
    char args[256];
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1", w,
             h, AV_PIX_FMT_YUV420P, fps.den, fps.num);
    int ret = avfilter_graph_create_filter(&b->src, avfilter_get_by_name("buffer"), "in", args,
                                           NULL, b->g);
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&b->sink, avfilter_get_by_name("buffersink"), "out",
                                           NULL, NULL, b->g);
    AVFilterContext *sc = NULL, *fc = NULL;
    if (ret >= 0) {
        sc = avfilter_graph_alloc_filter(b->g, sub, "subs");
        if (!sc)
            ret = AVERROR(ENOMEM);
        else {
            av_opt_set(sc, "filename", srt, AV_OPT_SEARCH_CHILDREN);
            ret = avfilter_init_str(sc, NULL);
        }
    }
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&fc, avfilter_get_by_name("format"), "fmt",
                                           "pix_fmts=yuv420p", NULL, b->g);
    if (ret >= 0) ret = avfilter_link(b->src, 0, sc, 0);
    if (ret >= 0) ret = avfilter_link(sc, 0, fc, 0);
    if (ret >= 0) ret = avfilter_link(fc, 0, b->sink, 0);
    if (ret >= 0) ret = avfilter_graph_config(b->g, NULL);
    if (ret < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(ret, e, sizeof e);
        return reel_set_error(REEL_EIO, "burning subtitles: setting up the filter: %s", e);
    }
    return 0;
}

/* 1 if the first two video packets are keyframes: an intermediate written by reel (every frame a
 * keyframe, media/writer.c), whose last packet may be repeated to hold a picture. FFV1 with
 * longer GOPs carries coder state between frames and must be re-encoded to be held. */
static int all_key(AVFormatContext *fmt, int idx)
{
    AVPacket *p = av_packet_alloc();
    int seen = 0, key = 1;
    while (p && seen < 2 && av_read_frame(fmt, p) >= 0) {
        if (p->stream_index == idx) {
            key &= !!(p->flags & AV_PKT_FLAG_KEY);
            seen++;
        }
        av_packet_unref(p);
    }
    av_packet_free(&p);
    return seen ? key : 0;
}

/* Copies the video packets of `video` (an intra-only codec: every packet a whole picture),
 * repeating the last one or stopping early to give `target` frames. */
static int copy_video(const reeli_remux_opts *o, AVFormatContext *fmt, int idx, reeli_mw *w,
                      int64_t target, reeli_progress_fn progress, void *ctx)
{
    AVPacket *pkt = av_packet_alloc(), *last = av_packet_alloc();
    if (!pkt || !last) {
        av_packet_free(&pkt);
        av_packet_free(&last);
        return reel_set_error(REEL_ENOMEM, "out of memory");
    }
    int64_t k = 0;
    int ret = 0;
    while (k < target && (ret = av_read_frame(fmt, pkt)) >= 0) {
        if (pkt->stream_index != idx) {
            av_packet_unref(pkt);
            continue;
        }
        av_packet_unref(last);
        if ((ret = av_packet_ref(last, pkt)) < 0) break;
        if ((ret = reeli_mw_video_packet(w, pkt, k++)) < 0) goto done;
        if ((ret = reeli_media_tick(progress, ctx, (double)k / target)) < 0) goto done;
    }
    if (ret == AVERROR_EOF) ret = 0;
    if (ret < 0) {
        ret = reeli_media_averr(ret, o->video, "reading video");
        goto done;
    }
    if (k == 0) {
        ret = reel_set_error(REEL_EFORMAT, "%s: no video packets", o->video);
        goto done;
    }
    /* a shot held longer than its pictures: the last one again (a copied packet) */
    for (; k < target; k++) {
        if ((ret = av_packet_ref(pkt, last)) < 0 || (ret = reeli_mw_video_packet(w, pkt, k)) < 0)
            goto done;
        if ((ret = reeli_media_tick(progress, ctx, (double)(k + 1) / target)) < 0) goto done;
    }
done:
    av_packet_free(&pkt);
    av_packet_free(&last);
    return ret < 0 ? ret : 0;
}

/* Writes picture f as frame k, through the burner when there is one. */
static int put_frame(burner *b, reeli_mw *w, AVFrame *f, int64_t k)
{
    f->pts = k;
    if (!b->g) return reeli_mw_video(w, f);
    int ret;
    if ((ret = av_buffersrc_write_frame(b->src, f)) < 0 ||
        (ret = av_buffersink_get_frame(b->sink, b->out)) < 0)
        return reel_set_error(REEL_EIO, "burning subtitles: filter failed at frame %lld",
                              (long long)k);
    b->out->pts = k;
    ret = reeli_mw_video(w, b->out);
    av_frame_unref(b->out);
    return ret;
}

/* Decodes the video, burns subtitles in when asked and encodes the intermediate codec: target
 * frames, the last picture repeated where the video is shorter. */
static int encode_video(const reeli_remux_opts *o, reeli_vr *r, reeli_mw *w, int W, int H,
                        AVRational fps, int64_t target, reeli_progress_fn progress, void *ctx)
{
    burner b = {0};
    AVFrame *hold = av_frame_alloc(), *f;
    int ret = hold ? 0 : reel_set_error(REEL_ENOMEM, "out of memory");
    if (ret >= 0 && o->burn_srt) ret = burner_init(&b, o->burn_srt, W, H, fps);
    int64_t k = 0;
    while (ret >= 0 && k < target) {
        if ((ret = reeli_vr_next(r, &f)) <= 0) break;
        /* a buffer of our own each time: the encoder may still hold the previous one */
        av_frame_unref(hold);
        hold->format = f->format;
        hold->width = f->width;
        hold->height = f->height;
        if (av_frame_get_buffer(hold, 0) < 0 || av_frame_copy(hold, f) < 0)
            ret = reel_set_error(REEL_ENOMEM, "out of memory");
        if (ret >= 0) ret = put_frame(&b, w, hold, k++);
        if (ret >= 0) ret = reeli_media_tick(progress, ctx, (double)k / target);
    }
    if (ret == 0 && k == 0) ret = reel_set_error(REEL_EFORMAT, "%s: no video frames", o->video);
    /* a shot held longer than its pictures: the last one again */
    while (ret >= 0 && k < target) {
        ret = put_frame(&b, w, hold, k++);
        if (ret >= 0) ret = reeli_media_tick(progress, ctx, (double)k / target);
    }
    burner_free(&b);
    av_frame_free(&hold);
    return ret < 0 ? ret : 0;
}

int reeli_remux(const reeli_remux_opts *o, const char *out, reeli_progress_fn progress, void *ctx)
{
    reeli_vr *r = reeli_vr_open(o->video, 0, 0, (AVRational){0, 0});
    if (!r) return reel_last_error_code();
    int W, H;
    AVRational fps;
    reeli_vr_geometry(r, &W, &H, &fps);
    int64_t target = o->frames > 0 ? o->frames : reeli_vr_frames(r);
    float *pcm = NULL;
    int64_t n = 0;
    reeli_mw *w = NULL;
    AVFormatContext *fmt = NULL;
    int idx = -1, ret = 0;
    /* intermediates are intra-only (UT Video, older FFV1): their packets are copied, never
     * re-encoded, unless the picture changes (burnt-in subtitles) */
    if (!o->burn_srt) {
        if ((ret = reeli_media_open(o->video, NULL, &fmt)) < 0) goto done;
        idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
        const AVCodecDescriptor *d =
            idx >= 0 ? avcodec_descriptor_get(fmt->streams[idx]->codecpar->codec_id) : NULL;
        /* FFV1 is not marked intra-only (its coder state may run across frames), but in
         * order, or all keyframes, its packets copy as well */
        int copyable = d && ((d->props & AV_CODEC_PROP_INTRA_ONLY) || d->id == AV_CODEC_ID_FFV1);
        if (!copyable || (target > reeli_vr_frames(r) && !all_key(fmt, idx))) {
            avformat_close_input(&fmt);
            idx = -1;
        } else if (target > reeli_vr_frames(r)) {
            /* all_key read from the file: start again */
            avformat_close_input(&fmt);
            if ((ret = reeli_media_open(o->video, NULL, &fmt)) < 0) goto done;
        }
    }
    if (o->audio_src) {
        if ((ret = reeli_audio_load(o->audio_src, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0)
            goto done;
        int64_t want = reeli_frames_to_samples(target, fps);
        if (!(pcm = reeli_fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    reeli_mw_opts mo = {.path = out,
                        .format = "matroska",
                        .width = W,
                        .height = H,
                        .fps = fps,
                        .vcodec = REELI_VCODEC,
                        .copy_video = fmt ? fmt->streams[idx]->codecpar : NULL,
                        .sample_rate = o->audio_src ? REELI_RATE : 0,
                        .channels = REELI_CHANNELS,
                        .acodec = "pcm_s16le",
                        .cues = o->cues,
                        .n_cues = o->n_cues,
                        .scodec = o->n_cues ? "subrip" : NULL,
                        .metadata = o->metadata};
    if (!(w = reeli_mw_open(&mo))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (o->audio_src) reeli_mw_set_audio(w, pcm, n);
    ret = fmt ? copy_video(o, fmt, idx, w, target, progress, ctx)
              : encode_video(o, r, w, W, H, fps, target, progress, ctx);
    if (ret < 0) goto done;
    ret = reeli_mw_close(w);
    w = NULL;
done:
    avformat_close_input(&fmt);
    reeli_mw_free(w);
    reeli_vr_free(r);
    free(pcm);
    return ret < 0 ? ret : 0;
}
