/* libavfilter graphs fed from memory: the media operations describe their finishing work
 * (transitions, fades, loudness, ducking) as filter graph text and push frames or PCM through
 * it, instead of hand-written pixel and sample loops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/ops-impl.h"

#define MAX_IN 8

struct reeli_fg {
    AVFilterGraph *g;
    AVFilterContext *src[MAX_IN], *sink;
    int n_in, eof;
};

void reeli_fg_free(reeli_fg *f)
{
    if (!f) return;
    avfilter_graph_free(&f->g);
    free(f);
}

static int fg_fail(reeli_fg *f, int err, const char *desc)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, e, sizeof e);
    reeli_fg_free(f);
    return reel_set_error(err == AVERROR(ENOMEM) ? REEL_ENOMEM : REEL_EIO, "filter graph '%s': %s",
                          desc, e);
}

/* Builds "[in0]...[inN-1] desc [out]" with the given buffer source arguments. */
static reeli_fg *fg_open(const char *desc, int n_in, const char *src_name, const char *src_args,
                         const char *sink_name, const char *sink_tail)
{
    REEL_ASSERT(n_in >= 1 && n_in <= MAX_IN);
    reeli_fg *f = reel_xcalloc(1, sizeof *f);
    f->n_in = n_in;
    if (!(f->g = avfilter_graph_alloc())) {
        fg_fail(f, AVERROR(ENOMEM), desc);
        return NULL;
    }
    /* one thread per graph: stages already run in parallel */
    f->g->nb_threads = 1;
    int ret = 0;
    for (int i = 0; i < n_in && ret >= 0; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        ret = avfilter_graph_create_filter(&f->src[i], avfilter_get_by_name(src_name), name,
                                           src_args, NULL, f->g);
    }
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&f->sink, avfilter_get_by_name(sink_name), "out", NULL,
                                           NULL, f->g);
    AVFilterInOut *outs = NULL, *ins = NULL;
    if (ret >= 0) {
        /* the graph text's open inputs are our sources' outputs, its open output our sink */
        for (int i = n_in - 1; i >= 0; i--) {
            AVFilterInOut *o = avfilter_inout_alloc();
            if (!o) {
                ret = AVERROR(ENOMEM);
                break;
            }
            char name[16];
            snprintf(name, sizeof name, "in%d", i);
            o->name = av_strdup(name);
            o->filter_ctx = f->src[i];
            o->pad_idx = 0;
            o->next = outs;
            outs = o;
        }
        if (ret >= 0 && !(ins = avfilter_inout_alloc())) ret = AVERROR(ENOMEM);
        if (ret >= 0) {
            ins->name = av_strdup("out");
            ins->filter_ctx = f->sink;
            ins->pad_idx = 0;
        }
    }
    char *full = reel_xasprintf("%s%s", desc, sink_tail);
    if (ret >= 0) ret = avfilter_graph_parse_ptr(f->g, full, &ins, &outs, NULL);
    free(full);
    avfilter_inout_free(&ins);
    avfilter_inout_free(&outs);
    if (ret >= 0) ret = avfilter_graph_config(f->g, NULL);
    if (ret < 0) {
        fg_fail(f, ret, desc);
        return NULL;
    }
    return f;
}

reeli_fg *reeli_fg_video(const char *desc, int n_in, int w, int h, AVRational fps)
{
    char args[160];
    snprintf(args, sizeof args,
             "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:frame_rate=%d/%d:pixel_aspect=1/1", w, h,
             AV_PIX_FMT_YUV420P, fps.den, fps.num, fps.num, fps.den);
    return fg_open(desc, n_in, "buffer", args, "buffersink", ",format=pix_fmts=yuv420p[out]");
}

reeli_fg *reeli_fg_audio(const char *desc, int n_in, int rate)
{
    char args[160];
    snprintf(args, sizeof args,
             "sample_rate=%d:sample_fmt=flt:channel_layout=stereo:time_base=1/%d", rate, rate);
    char tail[128];
    snprintf(tail, sizeof tail,
             ",aresample=%d,aformat=sample_fmts=flt:sample_rates=%d:channel_layouts=stereo[out]",
             REELI_RATE, REELI_RATE);
    return fg_open(desc, n_in, "abuffer", args, "abuffersink", tail);
}

int reeli_fg_push(reeli_fg *f, int in, AVFrame *frame)
{
    REEL_ASSERT(in >= 0 && in < f->n_in);
    int ret = av_buffersrc_write_frame(f->src[in], frame);
    if (ret < 0) return fg_fail(NULL, ret, "input");
    return 0;
}

int reeli_fg_pull(reeli_fg *f, AVFrame *out)
{
    if (f->eof) return 0;
    int ret = av_buffersink_get_frame(f->sink, out);
    if (ret == AVERROR(EAGAIN)) return 0;
    if (ret == AVERROR_EOF) {
        f->eof = 1;
        return 0;
    }
    if (ret < 0) return fg_fail(NULL, ret, "output");
    return 1;
}

int reeli_fg_done(const reeli_fg *f)
{
    return f->eof;
}

/* Pushes frames [pos, pos + 4096) of n of stereo float PCM (the last one short). */
static int push_chunk(reeli_fg *f, int in, const float *pcm, int64_t n, int64_t pos, AVFrame *fr)
{
    int len = (int)(n - pos < 4096 ? n - pos : 4096);
    av_frame_unref(fr);
    fr->format = AV_SAMPLE_FMT_FLT;
    fr->sample_rate = REELI_RATE;
    av_channel_layout_default(&fr->ch_layout, REELI_CHANNELS);
    fr->nb_samples = len;
    fr->pts = pos;
    if (av_frame_get_buffer(fr, 0) < 0) return reel_set_error(REEL_ENOMEM, "out of memory");
    memcpy(fr->data[0], pcm + pos * REELI_CHANNELS, (size_t)len * REELI_CHANNELS * 4);
    int ret = reeli_fg_push(f, in, fr);
    av_frame_unref(fr);
    return ret;
}

typedef struct collected {
    float *buf;
    int64_t len, cap;
} collected;

/* Appends what the graph has ready to c. */
static int collect(reeli_fg *f, AVFrame *fr, collected *c, AVDictionary **last_meta)
{
    int ret;
    while ((ret = reeli_fg_pull(f, fr)) > 0) {
        if (c->len + fr->nb_samples > c->cap) {
            c->cap = (c->len + fr->nb_samples) * 2;
            float *b = realloc(c->buf, (size_t)c->cap * REELI_CHANNELS * sizeof(float));
            if (!b) {
                av_frame_unref(fr);
                return reel_set_error(REEL_ENOMEM, "out of memory for audio");
            }
            c->buf = b;
        }
        memcpy(c->buf + c->len * REELI_CHANNELS, fr->data[0],
               (size_t)fr->nb_samples * REELI_CHANNELS * sizeof(float));
        c->len += fr->nb_samples;
        if (last_meta && fr->metadata) {
            av_dict_free(last_meta);
            av_dict_copy(last_meta, fr->metadata, 0);
        }
        av_frame_unref(fr);
    }
    return ret;
}

int reeli_fg_audio_run(const char *desc, int n_in, const float *const *pcm, const int64_t *n,
                       float **out, int64_t *n_out, AVDictionary **last_meta)
{
    *out = NULL;
    *n_out = 0;
    reeli_fg *f = reeli_fg_audio(desc, n_in, REELI_RATE);
    if (!f) return reel_last_error_code();
    AVFrame *fr = av_frame_alloc();
    collected c = {0};
    int ret = fr ? 0 : reel_set_error(REEL_ENOMEM, "out of memory");
    int ended[MAX_IN] = {0}, open_inputs = n_in;
    /* the inputs advance together, a chunk each per round: filters with several inputs (a
     * side chain, a crossfade) may end their output as soon as one input ends */
    for (int64_t pos = 0; ret >= 0 && open_inputs > 0; pos += 4096) {
        for (int i = 0; i < n_in && ret >= 0; i++) {
            if (ended[i]) continue;
            if (pos < n[i]) {
                ret = push_chunk(f, i, pcm[i], n[i], pos, fr);
            } else {
                ret = reeli_fg_push(f, i, NULL);
                ended[i] = 1;
                open_inputs--;
            }
        }
        if (ret >= 0) ret = collect(f, fr, &c, last_meta);
    }
    if (ret >= 0) ret = collect(f, fr, &c, last_meta);
    if (ret >= 0 && !reeli_fg_done(f))
        ret = reel_set_error(REEL_EIO, "filter graph '%s': stopped before the end", desc);
    av_frame_free(&fr);
    reeli_fg_free(f);
    if (ret < 0) {
        free(c.buf);
        return ret;
    }
    *out = c.buf ? c.buf : calloc(1, REELI_CHANNELS * sizeof(float));
    *n_out = c.len;
    return 0;
}
