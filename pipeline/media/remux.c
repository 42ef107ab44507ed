/* Re-muxing through decode + FFV1, shared by with_audio and subtitles: the video of one file
 * with another's audio and a set of cues, optionally burnt in through libavfilter. */
#include <string.h>

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

int reeli_remux(const char *video, const char *audio_src, const reeli_cue *cues, size_t n_cues,
                const char *burn_srt, const char *out, reeli_progress_fn progress, void *ctx)
{
    reeli_vr *r = reeli_vr_open(video, 0, 0, (AVRational){0, 0});
    if (!r) return reel_last_error_code();
    int W, H;
    AVRational fps;
    reeli_vr_geometry(r, &W, &H, &fps);
    float *pcm = NULL;
    int64_t n = 0, nf = reeli_vr_frames(r);
    reeli_mw *w = NULL;
    burner b = {0};
    int ret = 0;
    if (audio_src) {
        if ((ret = reeli_audio_load(audio_src, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0)
            goto done;
        int64_t want = reeli_frames_to_samples(nf, fps);
        if (!(pcm = reeli_fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    if (burn_srt && (ret = burner_init(&b, burn_srt, W, H, fps)) < 0) goto done;
    reeli_mw_opts o = {.path = out,
                       .format = "matroska",
                       .width = W,
                       .height = H,
                       .fps = fps,
                       .vcodec = "ffv1",
                       .sample_rate = audio_src ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le",
                       .cues = cues,
                       .n_cues = n_cues,
                       .scodec = n_cues ? "subrip" : NULL};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (audio_src) reeli_mw_set_audio(w, pcm, n);
    AVFrame *f;
    while ((ret = reeli_vr_next(r, &f)) > 0) {
        int64_t pts = f->pts;
        if (burn_srt) {
            if ((ret = av_buffersrc_write_frame(b.src, f)) < 0 ||
                (ret = av_buffersink_get_frame(b.sink, b.out)) < 0) {
                ret = reel_set_error(REEL_EIO, "burning subtitles: filter failed at frame %lld",
                                     (long long)pts);
                goto done;
            }
            b.out->pts = pts;
            ret = reeli_mw_video(w, b.out);
            av_frame_unref(b.out);
        } else {
            ret = reeli_mw_video(w, f);
        }
        if (ret < 0) goto done;
        if ((ret = reeli_media_tick(progress, ctx, (double)(pts + 1) / nf)) < 0) goto done;
    }
    if (ret < 0) goto done;
    ret = reeli_mw_close(w);
    w = NULL;
done:
    burner_free(&b);
    reeli_mw_free(w);
    reeli_vr_free(r);
    free(pcm);
    return ret < 0 ? ret : 0;
}
