/* Media writer: one muxer with up to one video, one audio and one text subtitle stream.
 * Audio and cues are handed over whole and written as the video advances, so the muxer's
 * interleaving queue stays short whatever the film's length. */
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>

#include "core/alloc.h"
#include "core/error.h"
#include "pipeline/media/media.h"

struct reeli_mw {
    AVFormatContext *fmt;
    char *path;
    int header_written;
    /* video */
    AVCodecContext *venc;
    AVStream *vst;
    int64_t next_vpts;
    AVRational fps;
    int copy_into; /* reeli_mw_opts.copy_into, with an intermediate codec */
    /* audio */
    AVCodecContext *aenc;
    AVStream *ast;
    SwrContext *swr;
    AVFrame *aframe;
    const float *pcm;
    int64_t pcm_n, pcm_pos;
    int channels;
    /* subtitles */
    AVCodecContext *senc;
    AVStream *sst;
    reeli_cue *cues;
    size_t n_cues, next_cue;
    AVPacket *pkt;
};

/* The ASS header text subtitle encoders need (the same fields libavcodec's default has). */
static const char ass_header[] =
    "[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\n"
    "ScaledBorderAndShadow: yes\r\n\r\n[V4+ Styles]\r\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\r\n"
    "Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    "\r\n\r\n[Events]\r\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n";

void reeli_cues_free(reeli_cue *cues, size_t n)
{
    for (size_t i = 0; cues && i < n; i++) free(cues[i].text);
    free(cues);
}

static int write_packets(reeli_mw *w, AVCodecContext *enc, AVStream *st)
{
    for (;;) {
        int ret = avcodec_receive_packet(enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return 0;
        if (ret < 0) return reeli_media_averr(ret, w->path, "encoding");
        if (enc->codec_type == AVMEDIA_TYPE_VIDEO && w->pkt->duration <= 0)
            w->pkt->duration = 1; /* one frame: lets the muxer record the exact duration */
        av_packet_rescale_ts(w->pkt, enc->time_base, st->time_base);
        w->pkt->stream_index = st->index;
        ret = av_interleaved_write_frame(w->fmt, w->pkt);
        if (ret < 0) return reeli_media_averr(ret, w->path, "writing a packet");
    }
}

static AVCodecContext *open_encoder(reeli_mw *w, const char *name, AVStream **st)
{
    const AVCodec *c = avcodec_find_encoder_by_name(name);
    if (!c) {
        reel_set_error(REEL_EUNSUPPORTED, "%s: encoder '%s' is not in this libavcodec", w->path,
                       name);
        return NULL;
    }
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    *st = avformat_new_stream(w->fmt, NULL);
    if (!ctx || !*st) {
        avcodec_free_context(&ctx);
        reel_set_error(REEL_ENOMEM, "%s: out of memory", w->path);
        return NULL;
    }
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    return ctx;
}

static int finish_encoder(reeli_mw *w, AVCodecContext *ctx, AVStream *st, AVDictionary **opts,
                          const char *what)
{
    int ret = avcodec_open2(ctx, ctx->codec, opts);
    av_dict_free(opts);
    if (ret < 0) return reeli_media_averr(ret, w->path, what);
    ret = avcodec_parameters_from_context(st->codecpar, ctx);
    if (ret < 0) return reeli_media_averr(ret, w->path, what);
    st->time_base = ctx->time_base;
    return 0;
}

static int open_video(reeli_mw *w, const reeli_mw_opts *o)
{
    w->venc = open_encoder(w, o->vcodec ? o->vcodec : REELI_VCODEC, &w->vst);
    if (!w->venc) return reel_last_error_code();
    AVCodecContext *c = w->venc;
    c->width = o->width;
    c->height = o->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = av_inv_q(o->fps);
    c->framerate = o->fps;
    c->sample_aspect_ratio = (AVRational){1, 1};
    w->vst->avg_frame_rate = o->fps;
    w->vst->r_frame_rate = o->fps;
    w->fps = o->fps;
    AVDictionary *opts = NULL;
    if (!strcmp(c->codec->name, "libx264")) {
        av_dict_set(&opts, "preset", o->preset ? o->preset : "veryfast", 0);
        av_dict_set_int(&opts, "crf", o->crf > 0 ? o->crf : 20, 0);
        c->gop_size = 2 * (int)(av_q2d(o->fps) + 0.5);
        /* a fixed thread count, not one per CPU: x264's bitstream depends on it, and the same
         * node must encode to the same packets on any machine (a cluster job, a re-run) */
        c->thread_count = 4;
        c->profile = FF_PROFILE_H264_HIGH;
        c->color_range = AVCOL_RANGE_MPEG;
    } else if (!strcmp(c->codec->name, "libvpx-vp9")) {
        av_dict_set_int(&opts, "crf", o->crf > 0 ? o->crf : 32, 0);
        av_dict_set(&opts, "b", "0", 0);
        av_dict_set(&opts, "deadline", "realtime", 0);
        av_dict_set_int(&opts, "cpu-used", 8, 0);
        av_dict_set_int(&opts, "row-mt", 1, 0);
    } else if (!strcmp(c->codec->name, "ffv1")) {
        /* every frame a keyframe: FFV1 carries its coder state from one frame to the next
         * otherwise, and later stages copy, hold (repeat) and cut these packets one by one */
        c->gop_size = 1;
        av_dict_set(&opts, "level", "3", 0);
        av_dict_set(&opts, "slicecrc", "1", 0);
        /* its slices are fixed by the picture size, not the thread count (the bytes do not
         * depend on it), so they are coded in parallel */
        c->thread_count = 0;
        c->thread_type = FF_THREAD_SLICE;
    } else if (!strcmp(c->codec->name, "utvideo")) {
        /* intra-only by design, so frame threads give the same bytes. Left prediction (the
         * default): median's files were 4% smaller on the benchmark film but decoded 44%
         * slower, and every intermediate is decoded at least once */
        av_dict_set(&opts, "pred", "left", 0);
        c->thread_count = o->copy_into ? 1 : 0;
    }
    w->copy_into = o->copy_into;
    REEL_ASSERT(!o->copy_into || c->codec_id == AV_CODEC_ID_UTVIDEO ||
                c->codec_id == AV_CODEC_ID_FFV1);
    return finish_encoder(w, c, w->vst, &opts, "opening the video encoder");
}

/* A video stream whose packets are copied from another file (no encoder). */
static int open_video_copy(reeli_mw *w, const reeli_mw_opts *o)
{
    w->vst = avformat_new_stream(w->fmt, NULL);
    if (!w->vst) return reel_set_error(REEL_ENOMEM, "%s: out of memory", w->path);
    int ret = avcodec_parameters_copy(w->vst->codecpar, o->copy_video);
    if (ret < 0) return reeli_media_averr(ret, w->path, "copying the video stream");
    /* the tag is kept where the container takes it: for some codecs it names the layout
     * (UT Video's ULY0 is 4:2:0 BT.601, ULRA is RGBA) */
    const struct AVCodecTag *const *tags = w->fmt->oformat->codec_tag;
    unsigned int other;
    if (tags && av_codec_get_id(tags, o->copy_video->codec_tag) != o->copy_video->codec_id &&
        av_codec_get_tag2(tags, o->copy_video->codec_id, &other))
        w->vst->codecpar->codec_tag = 0;
    w->vst->time_base = av_inv_q(o->fps);
    w->vst->avg_frame_rate = o->fps;
    w->vst->r_frame_rate = o->fps;
    w->fps = o->fps;
    return 0;
}

static int open_audio(reeli_mw *w, const reeli_mw_opts *o)
{
    w->aenc = open_encoder(w, o->acodec ? o->acodec : "pcm_s16le", &w->ast);
    if (!w->aenc) return reel_last_error_code();
    AVCodecContext *c = w->aenc;
    const enum AVSampleFormat *fmts = c->codec->sample_fmts;
    c->sample_fmt = fmts ? fmts[0] : AV_SAMPLE_FMT_FLT;
    c->sample_rate = o->sample_rate;
    av_channel_layout_default(&c->ch_layout, o->channels);
    c->time_base = (AVRational){1, o->sample_rate};
    if (!strcmp(c->codec->name, "aac")) c->bit_rate = 160000;
    if (!strcmp(c->codec->name, "libopus")) c->bit_rate = 128000;
    w->channels = o->channels;
    AVDictionary *opts = NULL;
    int ret = finish_encoder(w, c, w->ast, &opts, "opening the audio encoder");
    if (ret < 0) return ret;
    AVChannelLayout in_layout;
    av_channel_layout_default(&in_layout, o->channels);
    ret = swr_alloc_set_opts2(&w->swr, &c->ch_layout, c->sample_fmt, c->sample_rate, &in_layout,
                              AV_SAMPLE_FMT_FLT, o->sample_rate, 0, NULL);
    if (ret >= 0) ret = swr_init(w->swr);
    if (ret < 0) return reeli_media_averr(ret, w->path, "setting up sample conversion");
    w->aframe = av_frame_alloc();
    if (!w->aframe) return reel_set_error(REEL_ENOMEM, "%s: out of memory", w->path);
    return 0;
}

static int open_subs(reeli_mw *w, const reeli_mw_opts *o)
{
    w->senc = open_encoder(w, o->scodec ? o->scodec : "subrip", &w->sst);
    if (!w->senc) return reel_last_error_code();
    AVCodecContext *c = w->senc;
    c->time_base = (AVRational){1, 1000};
    c->subtitle_header = (uint8_t *)av_strdup(ass_header);
    if (!c->subtitle_header) return reel_set_error(REEL_ENOMEM, "%s: out of memory", w->path);
    c->subtitle_header_size = (int)strlen(ass_header);
    if (!strcmp(c->codec->name, "mov_text")) {
        c->width = o->width;
        c->height = o->height;
    }
    AVDictionary *opts = NULL;
    int ret = finish_encoder(w, c, w->sst, &opts, "opening the subtitle encoder");
    if (ret < 0) return ret;
    w->cues = reel_xcalloc(o->n_cues ? o->n_cues : 1, sizeof *w->cues);
    for (size_t i = 0; i < o->n_cues; i++) {
        w->cues[i] = o->cues[i];
        w->cues[i].text = reel_xstrdup(o->cues[i].text ? o->cues[i].text : "");
    }
    w->n_cues = o->n_cues;
    return 0;
}

reeli_mw *reeli_mw_open(const reeli_mw_opts *o)
{
    reeli_mw *w = reel_xcalloc(1, sizeof *w);
    w->path = reel_xstrdup(o->path);
    w->pkt = av_packet_alloc();
    int ret = avformat_alloc_output_context2(&w->fmt, NULL, o->format, o->path);
    if (ret < 0 || !w->pkt) {
        reeli_media_averr(ret < 0 ? ret : AVERROR(ENOMEM), o->path, "creating the container");
        goto fail;
    }
    if (o->copy_video && open_video_copy(w, o) < 0) goto fail;
    if (!o->copy_video && o->width > 0 && open_video(w, o) < 0) goto fail;
    if (o->sample_rate > 0 && open_audio(w, o) < 0) goto fail;
    if (o->scodec && open_subs(w, o) < 0) goto fail;
    if (o->metadata) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)o->metadata, key, val)
        {
            char *text = json_is_string(val) ? reel_xstrdup(json_string_value(val))
                                             : json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
            if (text) av_dict_set(&w->fmt->metadata, key, text, 0);
            free(text);
        }
    }
    if (!(w->fmt->oformat->flags & AVFMT_NOFILE)) {
        ret = avio_open(&w->fmt->pb, o->path, AVIO_FLAG_WRITE);
        if (ret < 0) {
            reeli_media_averr(ret, o->path, "opening for writing");
            goto fail;
        }
    }
    AVDictionary *mux = NULL;
    if (!strcmp(w->fmt->oformat->name, "mp4") || !strcmp(w->fmt->oformat->name, "mov"))
        av_dict_set(&mux, "movflags", "+faststart+use_metadata_tags", 0);
    /* no CRC-32 per cluster in intermediates: the cache's SHA-256 covers every byte, and the
     * table-driven CRC cost as much as the packet copies of a concat */
    if (!strcmp(w->fmt->oformat->name, "matroska")) av_dict_set(&mux, "write_crc32", "0", 0);
    ret = avformat_write_header(w->fmt, &mux);
    av_dict_free(&mux);
    if (ret < 0) {
        reeli_media_averr(ret, o->path, "writing the header");
        goto fail;
    }
    w->header_written = 1;
    return w;
fail:
    reeli_mw_free(w);
    return NULL;
}

void reeli_mw_set_audio(reeli_mw *w, const float *pcm, int64_t n_frames)
{
    w->pcm = pcm;
    w->pcm_n = n_frames;
    w->pcm_pos = 0;
}

/* Encodes buffered audio up to sample `until` (or all of it and flushes when final). */
static int drain_audio(reeli_mw *w, int64_t until, int final)
{
    if (!w->aenc) return 0;
    if (until > w->pcm_n) until = w->pcm_n;
    int fs = w->aenc->frame_size > 0 ? w->aenc->frame_size : 1024;
    while (w->pcm_pos < until && (until - w->pcm_pos >= fs || final)) {
        int n = (int)(until - w->pcm_pos < fs ? until - w->pcm_pos : fs);
        AVFrame *f = w->aframe;
        av_frame_unref(f);
        f->format = w->aenc->sample_fmt;
        f->sample_rate = w->aenc->sample_rate;
        f->nb_samples = fs; /* fixed-size codecs need whole frames: pad the last one with 0 */
        if (av_channel_layout_copy(&f->ch_layout, &w->aenc->ch_layout) < 0 ||
            av_frame_get_buffer(f, 0) < 0)
            return reel_set_error(REEL_ENOMEM, "%s: out of memory", w->path);
        const uint8_t *in = (const uint8_t *)(w->pcm + w->pcm_pos * w->channels);
        int got = swr_convert(w->swr, f->data, n, &in, n);
        if (got < 0) return reeli_media_averr(got, w->path, "converting samples");
        if (n < fs) {
            int caps = w->aenc->codec->capabilities;
            if (w->aenc->frame_size <= 0 ||
                (caps & (AV_CODEC_CAP_VARIABLE_FRAME_SIZE | AV_CODEC_CAP_SMALL_LAST_FRAME)))
                f->nb_samples = n;
            else
                av_samples_set_silence(f->data, n, fs - n, w->channels, f->format);
        }
        f->pts = w->pcm_pos;
        w->pcm_pos += n;
        int ret = avcodec_send_frame(w->aenc, f);
        if (ret < 0) return reeli_media_averr(ret, w->path, "encoding audio");
        if ((ret = write_packets(w, w->aenc, w->ast)) < 0) return ret;
    }
    return 0;
}

/* Writes cues that start before time t (seconds); all of them when t < 0. */
static int drain_cues(reeli_mw *w, double t)
{
    if (!w->senc) return 0;
    while (w->next_cue < w->n_cues && (t < 0 || w->cues[w->next_cue].start_s <= t)) {
        const reeli_cue *c = &w->cues[w->next_cue++];
        if (c->end_s <= c->start_s) continue;
        /* ASS dialogue fields: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text;
         * line breaks become \N. */
        size_t len = strlen(c->text);
        char *text = reel_xmalloc(len * 2 + 64);
        size_t k = (size_t)sprintf(text, "%zu,0,Default,,0,0,0,,", w->next_cue - 1);
        for (size_t i = 0; i < len; i++) {
            if (c->text[i] == '\n') {
                text[k++] = '\\';
                text[k++] = 'N';
            } else if (c->text[i] != '\r') {
                text[k++] = c->text[i];
            }
        }
        text[k] = 0;
        AVSubtitleRect rect = {.type = SUBTITLE_ASS, .ass = text};
        AVSubtitleRect *rects[1] = {&rect};
        AVSubtitle sub = {.num_rects = 1,
                          .rects = rects,
                          .pts = (int64_t)(c->start_s * 1e6),
                          .end_display_time = (uint32_t)((c->end_s - c->start_s) * 1000)};
        uint8_t buf[8192];
        int size = avcodec_encode_subtitle(w->senc, buf, sizeof buf, &sub);
        free(text);
        if (size < 0) return reeli_media_averr(size, w->path, "encoding a subtitle");
        AVPacket *p = w->pkt;
        av_packet_unref(p);
        if (av_new_packet(p, size) < 0) return reel_set_error(REEL_ENOMEM, "out of memory");
        memcpy(p->data, buf, (size_t)size);
        p->pts = p->dts = (int64_t)(c->start_s * 1000 + 0.5);
        p->duration = (int64_t)((c->end_s - c->start_s) * 1000 + 0.5);
        av_packet_rescale_ts(p, (AVRational){1, 1000}, w->sst->time_base);
        p->stream_index = w->sst->index;
        int ret = av_interleaved_write_frame(w->fmt, p);
        if (ret < 0) return reeli_media_averr(ret, w->path, "writing a subtitle");
    }
    return 0;
}

int reeli_mw_video(reeli_mw *w, AVFrame *frame)
{
    REEL_ASSERT(w->venc);
    double t = (double)frame->pts * av_q2d(av_inv_q(w->fps));
    int ret = drain_cues(w, t);
    if (ret < 0) return ret;
    if ((ret = drain_audio(w, (int64_t)((t + 0.1) * (w->aenc ? w->aenc->sample_rate : 1)), 0)) < 0)
        return ret;
    frame->pict_type = AV_PICTURE_TYPE_NONE;
    ret = avcodec_send_frame(w->venc, frame);
    if (ret < 0) return reeli_media_averr(ret, w->path, "encoding video");
    w->next_vpts = frame->pts + 1;
    return write_packets(w, w->venc, w->vst);
}

int reeli_mw_copy_ok(const reeli_mw *w, const AVCodecParameters *par)
{
    const AVCodecContext *c = w->venc;
    return c && (c->codec_id == AV_CODEC_ID_UTVIDEO || c->codec_id == AV_CODEC_ID_FFV1) &&
           par->codec_id == c->codec_id && par->width == c->width && par->height == c->height &&
           par->format == c->pix_fmt && par->extradata_size == c->extradata_size &&
           c->extradata_size > 0 &&
           !memcmp(par->extradata, c->extradata, (size_t)c->extradata_size);
}

int reeli_mw_video_packet(reeli_mw *w, AVPacket *pkt, int64_t index)
{
    /* into an encoded stream only an intermediate one, whose encoder gives each frame's packet
     * before taking the next frame: the copied packet lands in order */
    REEL_ASSERT(w->vst && (!w->venc || w->copy_into));
    double t = (double)index * av_q2d(av_inv_q(w->fps));
    int ret = drain_cues(w, t);
    if (ret < 0) return ret;
    if ((ret = drain_audio(w, (int64_t)((t + 0.1) * (w->aenc ? w->aenc->sample_rate : 1)), 0)) < 0)
        return ret;
    pkt->pts = pkt->dts = index;
    pkt->duration = 1;
    pkt->pos = -1;
    av_packet_rescale_ts(pkt, av_inv_q(w->fps), w->vst->time_base);
    pkt->stream_index = w->vst->index;
    w->next_vpts = index + 1;
    ret = av_interleaved_write_frame(w->fmt, pkt);
    if (ret < 0) return reeli_media_averr(ret, w->path, "writing a packet");
    return 0;
}

int reeli_mw_close(reeli_mw *w)
{
    int ret = drain_cues(w, -1);
    if (ret >= 0) ret = drain_audio(w, w->pcm_n, 1);
    if (ret >= 0 && w->aenc) {
        avcodec_send_frame(w->aenc, NULL);
        ret = write_packets(w, w->aenc, w->ast);
    }
    if (ret >= 0 && w->venc) {
        avcodec_send_frame(w->venc, NULL);
        ret = write_packets(w, w->venc, w->vst);
    }
    if (ret >= 0) {
        int r = av_write_trailer(w->fmt);
        w->header_written = 0;
        if (r < 0) ret = reeli_media_averr(r, w->path, "writing the trailer");
    }
    if (ret >= 0 && w->fmt->pb) {
        int r = avio_closep(&w->fmt->pb);
        if (r < 0) ret = reeli_media_averr(r, w->path, "closing");
    }
    reeli_mw_free(w);
    return ret < 0 ? ret : 0;
}

void reeli_mw_free(reeli_mw *w)
{
    if (!w) return;
    avcodec_free_context(&w->venc);
    avcodec_free_context(&w->aenc);
    avcodec_free_context(&w->senc);
    swr_free(&w->swr);
    av_frame_free(&w->aframe);
    av_packet_free(&w->pkt);
    if (w->fmt) {
        if (w->fmt->pb) avio_closep(&w->fmt->pb);
        avformat_free_context(w->fmt);
    }
    reeli_cues_free(w->cues, w->n_cues);
    free(w->path);
    free(w);
}
