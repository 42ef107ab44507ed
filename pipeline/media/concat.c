/* The concat operation: joins clips end to end with cuts, fades through black or overlapping
 * transitions, video and audio alike. Fades and transitions are libavfilter's: `fade`/`afade`
 * for fades through black, `xfade` (any of its styles) and `acrossfade` for overlaps; only
 * the frames a transition touches go through a filter graph, the rest are copied (as packets
 * when the input is reel's own intermediate, else decoded and encoded again). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

/* xfade's transition styles (libavfilter 8, FFmpeg 5.1; "custom" needs expressions and is
 * left out). */
const char *const reeli_transition_styles[] = {
    "fade",       "dissolve",    "wipeleft",   "wiperight",   "wipeup",    "wipedown",
    "wipetl",     "wipetr",      "wipebl",     "wipebr",      "slideleft", "slideright",
    "slideup",    "slidedown",   "smoothleft", "smoothright", "smoothup",  "smoothdown",
    "circleopen", "circleclose", "circlecrop", "rectcrop",    "vertopen",  "vertclose",
    "horzopen",   "horzclose",   "radial",     "distance",    "pixelize",  "fadeblack",
    "fadewhite",  "fadegrays",   "fadefast",   "fadeslow",    "diagtl",    "diagtr",
    "diagbl",     "diagbr",      "hlslice",    "hrslice",     "vuslice",   "vdslice",
    "hblur",      "squeezeh",    "squeezev",   "zoomin",      NULL};

enum { TR_CUT, TR_FADE, TR_OVERLAP };

int reeli_transition_style_ok(const char *name)
{
    for (int i = 0; name && reeli_transition_styles[i]; i++)
        if (!strcmp(reeli_transition_styles[i], name)) return 1;
    return 0;
}

/* "a, b, c" of every style, for error messages (static buffer: built once, read-only after). */
static const char *style_list(void)
{
    static char buf[1024];
    if (!buf[0])
        for (int i = 0; reeli_transition_styles[i]; i++) {
            size_t l = strlen(buf);
            snprintf(buf + l, sizeof buf - l, "%s%s", i ? ", " : "", reeli_transition_styles[i]);
        }
    return buf;
}

/* A new frame holding a copy of f (the reader's frames are reused). */
static AVFrame *copy_frame(const AVFrame *f)
{
    AVFrame *c = av_frame_alloc();
    if (!c) return NULL;
    c->format = f->format;
    c->width = f->width;
    c->height = f->height;
    if (av_frame_get_buffer(c, 0) < 0 || av_frame_copy(c, f) < 0) av_frame_free(&c);
    return c;
}

typedef struct emitter {
    reeli_mw *w;
    int64_t pts, total;
    reeli_progress_fn progress;
    void *ctx;
} emitter;

static int emit(emitter *e, AVFrame *f)
{
    if (e->pts >= e->total) return 0; /* a filter that gives one frame too many */
    f->pts = e->pts++;
    int ret = reeli_mw_video(e->w, f);
    if (ret < 0) return ret;
    return reeli_media_tick(e->progress, e->ctx, (double)e->pts / e->total);
}

/* Pulls what graph g has ready and writes it; counts frames into *got. */
static int drain(reeli_fg *g, emitter *e, AVFrame *tmp, int64_t *got)
{
    int ret;
    while ((ret = reeli_fg_pull(g, tmp)) > 0) {
        ret = emit(e, tmp);
        av_frame_unref(tmp);
        if (ret < 0) return ret;
        if (got) (*got)++;
    }
    return ret;
}

/* The transition frames of one join: tail (n frames of the outgoing clip) and head (n of the
 * incoming one) through xfade; writes exactly n frames. */
static int xfade_join(AVFrame **tail, AVFrame **head, int64_t n, const char *style, int W, int H,
                      AVRational fps, emitter *e, AVFrame *tmp)
{
    char desc[160];
    snprintf(desc, sizeof desc, "[in0][in1]xfade=transition=%s:duration=%.6f:offset=0", style,
             (double)n * fps.den / fps.num);
    reeli_fg *g = reeli_fg_video(desc, 2, W, H, fps);
    if (!g) return reel_last_error_code();
    int ret = 0;
    for (int64_t k = 0; k < n && ret >= 0; k++) {
        tail[k]->pts = head[k]->pts = k;
        ret = reeli_fg_push(g, 0, tail[k]);
        if (ret >= 0) ret = reeli_fg_push(g, 1, head[k]);
    }
    if (ret >= 0) ret = reeli_fg_push(g, 0, NULL);
    if (ret >= 0) ret = reeli_fg_push(g, 1, NULL);
    int64_t got = 0;
    if (ret >= 0) ret = drain(g, e, tmp, &got);
    reeli_fg_free(g);
    if (ret < 0) return ret;
    /* xfade may end a frame early on some versions: hold its last picture */
    for (; got < n; got++)
        if ((ret = emit(e, head[got])) < 0) return ret;
    return 0;
}

/* 1 if the n frames of input `path` can be its video packets, copied into w as they are: an
 * intermediate that fits w's stream (reeli_mw_copy_ok: the same set-up, so every packet a
 * keyframe), at fps, one packet a frame in order. Reads the packets, decodes nothing. */
static int copyable(const char *path, reeli_mw *w, AVRational fps, int64_t n)
{
    AVFormatContext *fmt = NULL;
    if (reeli_media_open(path, NULL, &fmt) < 0) {
        reel_clear_error(); /* the decoding path reports it */
        return 0;
    }
    int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ok = idx >= 0 && reeli_mw_copy_ok(w, fmt->streams[idx]->codecpar);
    AVPacket *p = ok ? av_packet_alloc() : NULL;
    int64_t k = 0, first = AV_NOPTS_VALUE;
    while (ok && p && k < n && av_read_frame(fmt, p) >= 0) {
        if (p->stream_index == idx) {
            if (first == AV_NOPTS_VALUE) first = p->pts;
            ok = (p->flags & AV_PKT_FLAG_KEY) && p->pts != AV_NOPTS_VALUE &&
                 av_rescale_q(p->pts - first, fmt->streams[idx]->time_base, av_inv_q(fps)) == k;
            k++;
        }
        av_packet_unref(p);
    }
    ok = ok && p && k == n;
    av_packet_free(&p);
    avformat_close_input(&fmt);
    return ok;
}

/* Input i (n frames, checked by copyable()) by its packets: the ones a transition draws from
 * are decoded into head (the first in_ov) and tail (the last out_ov), the xfade of the join
 * into it written when its head is complete; the others are copied. */
static int copy_input(const char *path, size_t i, int64_t n, int64_t in_ov, int64_t out_ov,
                      AVFrame **tail, AVFrame **head, const char *style, int W, int H,
                      AVRational fps, emitter *e, AVFrame *tmp)
{
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    int ret = reeli_media_open(path, NULL, &fmt);
    if (ret < 0) goto done;
    int idx = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    const AVCodec *codec =
        idx >= 0 ? avcodec_find_decoder(fmt->streams[idx]->codecpar->codec_id) : NULL;
    if (idx < 0 || !codec || !pkt || !(dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(dec, fmt->streams[idx]->codecpar) < 0) {
        ret = reel_set_error(REEL_ENOMEM, "%s: cannot set up its decoder", path);
        goto done;
    }
    /* slices only: a frame in, its picture out, nothing held back */
    dec->thread_count = 0;
    dec->thread_type = FF_THREAD_SLICE;
    if ((ret = avcodec_open2(dec, codec, NULL)) < 0) {
        ret = reeli_media_averr(ret, path, "opening the decoder");
        goto done;
    }
    for (int64_t j = 0; j < n; j++) {
        do {
            av_packet_unref(pkt);
            if ((ret = av_read_frame(fmt, pkt)) < 0) {
                ret = ret == AVERROR_EOF
                          ? reel_set_error(REEL_EFORMAT, "input %zu ended early", i + 1)
                          : reeli_media_averr(ret, path, "reading");
                goto done;
            }
        } while (pkt->stream_index != idx);
        int into_tail = j >= n - out_ov;
        if (!into_tail && j >= in_ov) {
            if (e->pts < e->total) {
                if ((ret = reeli_mw_video_packet(e->w, pkt, e->pts++)) < 0) goto done;
                if ((ret = reeli_media_tick(e->progress, e->ctx, (double)e->pts / e->total)) < 0)
                    goto done;
            }
            continue;
        }
        AVFrame **slot = into_tail ? &tail[j - (n - out_ov)] : &head[j];
        av_frame_free(slot);
        if (!(*slot = av_frame_alloc())) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for transition frames");
            goto done;
        }
        if ((ret = avcodec_send_packet(dec, pkt)) < 0 ||
            (ret = avcodec_receive_frame(dec, *slot)) < 0) {
            ret = reeli_media_averr(ret, path, "decoding video");
            goto done;
        }
        if ((*slot)->width != W || (*slot)->height != H || (*slot)->format != AV_PIX_FMT_YUV420P) {
            ret = reel_set_error(REEL_EFORMAT, "%s: frame %lld is not %dx%d yuv420p", path,
                                 (long long)j, W, H);
            goto done;
        }
        if (!into_tail && j == in_ov - 1 &&
            (ret = xfade_join(tail, head, in_ov, style, W, H, fps, e, tmp)) < 0) {
            reel_error_prefix("transition %zu (%s)", i, style);
            goto done;
        }
    }
    ret = 0;
done:
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return ret;
}

/* Audio of the whole join: each input's track fitted to its video (silence without one),
 * faded (afade) or overlapped (acrossfade) at the joins. */
static int join_audio(const char *const *inputs, size_t n, const int *has, const int64_t *nf,
                      const int64_t *ov, int mode, AVRational fps, int64_t total, float **out)
{
    int64_t total_samples = reeli_frames_to_samples(total, fps);
    float *mix = calloc((size_t)total_samples + 1, REELI_CHANNELS * sizeof(float));
    if (!mix) return reel_set_error(REEL_ENOMEM, "out of memory for audio");
    int64_t start = 0;
    int ret = 0;
    for (size_t i = 0; i < n && ret >= 0; i++) {
        int64_t s0 = reeli_frames_to_samples(start, fps);
        int64_t len = reeli_frames_to_samples(start + nf[i], fps) - s0;
        float *pcm = NULL;
        int64_t got = 0;
        if (has[i] &&
            (ret = reeli_audio_load(inputs[i], REELI_RATE, REELI_CHANNELS, &pcm, &got)) < 0)
            break;
        if (!(pcm = reeli_fit_audio(pcm, has[i] ? got : 0, len))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            break;
        }
        int64_t skip = 0; /* samples of the head already written by a crossfade */
        if (mode == TR_FADE) {
            int64_t in = i > 0 ? reeli_frames_to_samples(ov[i - 1] / 2, fps) : 0;
            int64_t outn = i + 1 < n ? reeli_frames_to_samples(ov[i] / 2, fps) : 0;
            if (in > len) in = len;
            if (outn > len) outn = len;
            if (in > 0 || outn > 0) {
                char desc[200];
                int l = snprintf(desc, sizeof desc, "[in0]anull");
                if (in > 0)
                    l += snprintf(desc + l, sizeof desc - l, ",afade=t=in:ss=0:ns=%lld",
                                  (long long)in);
                if (outn > 0)
                    snprintf(desc + l, sizeof desc - l, ",afade=t=out:ss=%lld:ns=%lld",
                             (long long)(len - outn), (long long)outn);
                float *f = NULL;
                int64_t fl = 0;
                const float *src = pcm;
                ret = reeli_fg_audio_run(desc, 1, &src, &len, &f, &fl, NULL);
                if (ret >= 0) {
                    free(pcm);
                    pcm = reeli_fit_audio(f, fl, len);
                    if (!pcm) ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
                }
            }
        } else if (mode == TR_OVERLAP && i > 0) {
            int64_t ol = reeli_frames_to_samples(start + ov[i - 1], fps) - s0;
            if (ol > len) ol = len;
            if (ol > 0) {
                char desc[160];
                snprintf(desc, sizeof desc, "[in0][in1]acrossfade=ns=%lld:c1=tri:c2=tri",
                         (long long)ol);
                const float *src[2] = {mix + s0 * REELI_CHANNELS, pcm};
                int64_t lens[2] = {ol, ol};
                float *f = NULL;
                int64_t fl = 0;
                ret = reeli_fg_audio_run(desc, 2, src, lens, &f, &fl, NULL);
                if (ret >= 0) {
                    int64_t k = fl < ol ? fl : ol;
                    memcpy(mix + s0 * REELI_CHANNELS, f, (size_t)k * REELI_CHANNELS * 4);
                    skip = ol;
                }
                free(f);
            }
        }
        if (ret >= 0 && pcm) {
            int64_t k = len - skip;
            if (s0 + skip + k > total_samples) k = total_samples - s0 - skip;
            if (k > 0)
                memcpy(mix + (s0 + skip) * REELI_CHANNELS, pcm + skip * REELI_CHANNELS,
                       (size_t)k * REELI_CHANNELS * sizeof(float));
        }
        free(pcm);
        start += nf[i] - (mode == TR_OVERLAP ? ov[i] : 0);
    }
    if (ret < 0) {
        free(mix);
        return ret;
    }
    *out = mix;
    return 0;
}

struct reeli_join {
    /* clip i: its pictures from video[i], its sound from sound[i] (video[i] itself unless a
     * with_audio part gave it a narration); words[i] carries its word timings (borrowed) */
    const char **video, **sound;
    size_t n;
    char *notice;
    int mode, fit;
    char *style;
    int W, H;
    AVRational fps;
    int64_t *nf, *ov; /* frames of each clip; frames shared by join i (clip i and i+1) */
    int *audio;       /* 1 if clip i has sound */
    int64_t total, maxov;
    int any_audio;
};

void reeli_join_free(reeli_join *j)
{
    if (!j) return;
    free(j->video);
    free(j->sound);
    free(j->notice);
    free(j->style);
    free(j->nf);
    free(j->ov);
    free(j->audio);
    free(j);
}

reeli_join *reeli_join_open(const char *const *inputs, size_t n, const json_t *params, int W, int H,
                            AVRational fps, int fit)
{
    if (n == 0) {
        reel_set_error(REEL_EINVAL, "needs at least one input");
        return NULL;
    }
    const json_t *tv = json_object_get(params, "transition"),
                 *sv = json_object_get(params, "style");
    if ((tv && !json_is_string(tv)) || (sv && !json_is_string(sv))) {
        reel_set_error(REEL_EINVAL, "parameter '%s': must be a string",
                       tv && !json_is_string(tv) ? "transition" : "style");
        return NULL;
    }
    const char *tr = tv ? json_string_value(tv) : "cut";
    const char *style = sv ? json_string_value(sv) : NULL;
    int mode = !strcmp(tr, "cut") ? TR_CUT : !strcmp(tr, "fade") ? TR_FADE : TR_OVERLAP;
    if (mode == TR_OVERLAP && strcmp(tr, "crossfade")) {
        if (!reeli_transition_style_ok(tr)) {
            reel_set_error(REEL_EINVAL,
                           "parameter 'transition': unknown transition \"%s\" (cut, fade, "
                           "crossfade, or an xfade style: %s)",
                           tr, style_list());
            return NULL;
        }
        if (style && strcmp(style, tr)) {
            reel_set_error(REEL_EINVAL, "parameter 'style': \"%s\" contradicts transition \"%s\"",
                           style, tr);
            return NULL;
        }
        style = tr;
    }
    if (style && !reeli_transition_style_ok(style)) {
        reel_set_error(REEL_EINVAL, "parameter 'style': unknown xfade style \"%s\" (one of: %s)",
                       style, style_list());
        return NULL;
    }
    if (style && mode != TR_OVERLAP) {
        reel_set_error(REEL_EINVAL,
                       "parameter 'style': only for overlapping transitions (transition "
                       "\"crossfade\"), not \"%s\"",
                       tr);
        return NULL;
    }
    const json_t *tsv = json_object_get(params, "transition_s");
    if (tsv &&
        (!json_is_number(tsv) || json_number_value(tsv) < 0 || json_number_value(tsv) > 60)) {
        reel_set_error(REEL_EINVAL, "parameter 'transition_s': must be a number 0..60");
        return NULL;
    }
    double ts = tsv ? json_number_value(tsv) : (mode == TR_CUT ? 0 : 0.5);
    /* the clips: one input each, or a video and its narration (parts) */
    const json_t *parts = json_object_get(params, "parts");
    size_t nclips = n;
    if (parts) {
        size_t need = 0, k;
        const json_t *part;
        if (!json_is_array(parts) || json_array_size(parts) == 0) {
            reel_set_error(REEL_EINVAL, "parameter 'parts': must be an array of clips");
            return NULL;
        }
        json_array_foreach(parts, k, part)
        {
            const json_t *wa = json_object_get(part, "with_audio");
            if (!json_is_object(part) || json_object_size(part) > (wa ? 1u : 0u) ||
                (wa && !json_is_object(wa))) {
                reel_set_error(REEL_EINVAL,
                               "parameter 'parts': clip %zu must be {} or {\"with_audio\": {...}}",
                               k + 1);
                return NULL;
            }
            need += wa ? 2 : 1;
        }
        if (need != n) {
            reel_set_error(REEL_EINVAL, "parameter 'parts': the clips take %zu inputs, given %zu",
                           need, n);
            return NULL;
        }
        nclips = json_array_size(parts);
    }

    reeli_join *j = reel_xcalloc(1, sizeof *j);
    j->n = nclips;
    j->mode = mode;
    j->fit = fit;
    j->style = reel_xstrdup(style ? style : "fade");
    j->video = reel_xcalloc(nclips, sizeof *j->video);
    j->sound = reel_xcalloc(nclips, sizeof *j->sound);
    j->nf = reel_xcalloc(nclips, sizeof *j->nf);
    j->ov = reel_xcalloc(nclips, sizeof *j->ov);
    j->audio = reel_xcalloc(nclips, sizeof *j->audio);
    for (size_t i = 0, k = 0; i < nclips; i++) {
        const json_t *wa = parts ? json_object_get(json_array_get(parts, i), "with_audio") : NULL;
        size_t first = k;
        j->video[i] = inputs[k++];
        j->sound[i] = wa ? inputs[k++] : j->video[i];
        reeli_vr *r = reeli_vr_open(j->video[i], W, H, fps);
        if (!r) {
            reel_error_prefix("input %zu", first + 1);
            reeli_join_free(j);
            return NULL;
        }
        if (i == 0) reeli_vr_geometry(r, &W, &H, &fps);
        j->nf[i] = reeli_vr_frames(r);
        reeli_vr_free(r);
        if (wa) {
            char *notice = NULL;
            if (reeli_narrated_frames(j->nf[i], fps, j->sound[i], wa, &j->nf[i], &notice) < 0) {
                reel_error_prefix("input %zu", first + 2);
                reeli_join_free(j);
                return NULL;
            }
            if (notice) {
                char *all = reel_xasprintf("%s%sclip %zu: %s", j->notice ? j->notice : "",
                                           j->notice ? "; " : "", i + 1, notice);
                free(j->notice);
                free(notice);
                j->notice = all;
            }
        }
        j->audio[i] = reeli_has_audio(j->sound[i]);
        j->any_audio |= j->audio[i];
    }
    j->W = W;
    j->H = H;
    j->fps = fps;
    /* Join i links input i and i+1; an overlapping transition shares ov[i] frames of both,
     * a fade darkens ov[i]/2 frames on each side. */
    int64_t want = mode == TR_CUT ? 0 : llround(ts * av_q2d(fps));
    for (size_t i = 0; i + 1 < nclips; i++) {
        int64_t lim = (j->nf[i] < j->nf[i + 1] ? j->nf[i] : j->nf[i + 1]) / 2;
        j->ov[i] = want < lim ? want : lim;
        if (j->ov[i] > j->maxov) j->maxov = j->ov[i];
    }
    for (size_t i = 0; i < nclips; i++) j->total += j->nf[i] - (mode == TR_OVERLAP ? j->ov[i] : 0);
    return j;
}

void reeli_join_geometry(const reeli_join *j, int *W, int *H, AVRational *fps, int64_t *frames)
{
    *W = j->W;
    *H = j->H;
    *fps = j->fps;
    *frames = j->total;
}

int reeli_join_audio(const reeli_join *j, float **pcm, int64_t *n)
{
    *pcm = NULL;
    *n = 0;
    if (!j->any_audio) return 0;
    int ret = join_audio(j->sound, j->n, j->audio, j->nf, j->ov, j->mode, j->fps, j->total, pcm);
    if (ret == 0) *n = reeli_frames_to_samples(j->total, j->fps);
    return ret;
}

json_t *reeli_join_words(const reeli_join *j)
{
    json_t *words = json_array();
    for (size_t i = 0, start = 0; i < j->n; i++) {
        json_t *wi = reeli_words_load(j->sound[i]);
        double t0 = (double)start * j->fps.den / j->fps.num;
        if (wi) reeli_words_add(words, wi, t0, t0 + (double)j->nf[i] * j->fps.den / j->fps.num);
        json_decref(wi);
        start += (size_t)(j->nf[i] - (j->mode == TR_OVERLAP ? j->ov[i] : 0));
    }
    json_t *meta = reeli_words_metadata(words);
    json_decref(words);
    return meta;
}

const char *reeli_join_notice(const reeli_join *j)
{
    return j->notice;
}

int reeli_join_write(const reeli_join *j, reeli_mw *w, reeli_progress_fn progress, void *ctx)
{
    const int mode = j->mode, W = j->W, H = j->H;
    const AVRational fps = j->fps;
    const char *style = j->style;
    const int64_t *nf = j->nf, *ov = j->ov, maxov = j->maxov, total = j->total;
    const size_t n = j->n;
    const char *const *inputs = j->video;
    AVFrame **tail = NULL, **head = NULL, *work = av_frame_alloc(), *tmp = av_frame_alloc();
    reeli_vr *r = NULL;
    reeli_fg *fg = NULL;
    int ret = 0;
    if (!work || !tmp) {
        ret = reel_set_error(REEL_ENOMEM, "out of memory");
        goto done;
    }
    work->format = AV_PIX_FMT_YUV420P;
    work->width = W;
    work->height = H;
    if (av_frame_get_buffer(work, 0) < 0) {
        ret = reel_set_error(REEL_ENOMEM, "out of memory for frames");
        goto done;
    }
    if (mode == TR_OVERLAP && maxov > 0) {
        tail = reel_xcalloc((size_t)maxov, sizeof *tail);
        head = reel_xcalloc((size_t)maxov, sizeof *head);
    }
    emitter e = {w, 0, total, progress, ctx};
    for (size_t i = 0; i < n; i++) {
        int64_t in_ov = i > 0 ? ov[i - 1] : 0, out_ov = i + 1 < n ? ov[i] : 0;
        /* reel's own intermediates (every frame a keyframe) pass through as packets where no
         * transition touches them and w takes them: decoding and encoding them again would
         * give the same bytes */
        if (mode != TR_FADE && copyable(inputs[i], w, fps, nf[i])) {
            if ((ret = copy_input(inputs[i], i, nf[i], mode == TR_OVERLAP ? in_ov : 0,
                                  mode == TR_OVERLAP ? out_ov : 0, tail, head, style, W, H, fps, &e,
                                  tmp)) < 0)
                goto done;
            continue;
        }
        if (!(r = reeli_vr_open(inputs[i], W, H, fps))) {
            ret = reel_error_prefix("clip %zu", i + 1);
            goto done;
        }
        reeli_vr_set_frames(r, nf[i]); /* a narration may hold the last picture */
        reeli_vr_fit(r, j->fit);
        if (mode == TR_FADE && (in_ov / 2 > 0 || out_ov / 2 > 0)) {
            char desc[200];
            int l = snprintf(desc, sizeof desc, "[in0]null");
            if (in_ov / 2 > 0)
                l += snprintf(desc + l, sizeof desc - l, ",fade=t=in:s=0:n=%lld",
                              (long long)(in_ov / 2));
            /* fade's last faded frame is at 1/n: start one frame earlier so that the
             * clip's last frame is black */
            if (out_ov / 2 > 0)
                snprintf(desc + l, sizeof desc - l, ",fade=t=out:s=%lld:n=%lld",
                         (long long)(nf[i] - 1 - out_ov / 2), (long long)(out_ov / 2));
            if (!(fg = reeli_fg_video(desc, 1, W, H, fps))) {
                ret = reel_last_error_code();
                goto done;
            }
        }
        AVFrame *f;
        for (int64_t j = 0; j < nf[i]; j++) {
            if ((ret = reeli_vr_next(r, &f)) <= 0) {
                if (ret == 0) ret = reel_set_error(REEL_EFORMAT, "input %zu ended early", i + 1);
                goto done;
            }
            if (mode == TR_OVERLAP && (j < in_ov || j >= nf[i] - out_ov)) {
                int into_tail = j >= nf[i] - out_ov;
                AVFrame **slot = into_tail ? &tail[j - (nf[i] - out_ov)] : &head[j];
                av_frame_free(slot);
                if (!(*slot = copy_frame(f))) {
                    ret = reel_set_error(REEL_ENOMEM, "out of memory for transition frames");
                    goto done;
                }
                if (!into_tail && j == in_ov - 1 &&
                    (ret = xfade_join(tail, head, in_ov, style, W, H, fps, &e, tmp)) < 0) {
                    reel_error_prefix("transition %zu (%s)", i, style);
                    goto done;
                }
                continue;
            }
            if (fg) {
                f->pts = j;
                if ((ret = reeli_fg_push(fg, 0, f)) < 0 || (ret = drain(fg, &e, tmp, NULL)) < 0)
                    goto done;
                continue;
            }
            /* the reader's frame may be shown again (a repeated picture): write a copy */
            if (av_frame_make_writable(work) < 0 || av_frame_copy(work, f) < 0) {
                ret = reel_set_error(REEL_ENOMEM, "out of memory");
                goto done;
            }
            if ((ret = emit(&e, work)) < 0) goto done;
        }
        if (fg) {
            if ((ret = reeli_fg_push(fg, 0, NULL)) < 0 || (ret = drain(fg, &e, tmp, NULL)) < 0)
                goto done;
            reeli_fg_free(fg);
            fg = NULL;
        }
        reeli_vr_free(r);
        r = NULL;
    }
    if (e.pts != total) {
        ret = reel_set_error(REEL_EIO, "the transitions gave %lld frames, expected %lld",
                             (long long)e.pts, (long long)total);
        goto done;
    }
done:
    reeli_fg_free(fg);
    reeli_vr_free(r);
    for (int64_t k = 0; k < maxov && tail; k++) {
        av_frame_free(&tail[k]);
        av_frame_free(&head[k]);
    }
    free(tail);
    free(head);
    av_frame_free(&work);
    av_frame_free(&tmp);
    return ret < 0 ? ret : 0;
}

int reeli_media_concat(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx)
{
    int W, H, fit;
    AVRational fps;
    if (reeli_parse_geometry(params, &W, &H, &fps, &fit) < 0) return REEL_EINVAL;
    reeli_join *j = reeli_join_open(inputs, n, params, W, H, fps, fit);
    if (!j) return reel_last_error_code();
    int64_t total, ns = 0;
    reeli_join_geometry(j, &W, &H, &fps, &total);
    float *mixbuf = NULL;
    json_t *meta = NULL;
    reeli_mw *w = NULL;
    int ret = reeli_join_audio(j, &mixbuf, &ns);
    if (ret < 0) goto done;
    /* word timings of narrated inputs, moved to where each input starts in the join */
    meta = reeli_join_words(j);
    reeli_mw_opts o = {.metadata = meta,
                       .path = out,
                       .format = "matroska",
                       .width = W,
                       .height = H,
                       .fps = fps,
                       .vcodec = REELI_VCODEC,
                       .copy_into = 1,
                       .sample_rate = mixbuf ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (mixbuf) reeli_mw_set_audio(w, mixbuf, ns);
    if ((ret = reeli_join_write(j, w, progress, ctx)) < 0) goto done;
    ret = reeli_mw_close(w);
    w = NULL;
done:
    reeli_mw_free(w);
    reeli_join_free(j);
    free(mixbuf);
    json_decref(meta);
    return ret < 0 ? ret : 0;
}
