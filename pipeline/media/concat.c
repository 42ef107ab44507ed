/* The concat operation: joins clips end to end with cuts, fades through black or crossfades,
 * video and audio alike. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

enum { TR_CUT, TR_FADE, TR_CROSSFADE };

/* Scales a yuv420p frame's brightness toward black by a in [0,1]. */
static void fade_frame(AVFrame *f, double a)
{
    if (a >= 1) return;
    for (int p = 0; p < 3; p++) {
        int h = p ? (f->height + 1) / 2 : f->height, w = p ? (f->width + 1) / 2 : f->width;
        int base = p ? 128 : 16;
        for (int y = 0; y < h; y++) {
            uint8_t *row = f->data[p] + (size_t)y * f->linesize[p];
            for (int x = 0; x < w; x++) row[x] = (uint8_t)lrint(base + (row[x] - base) * a);
        }
    }
}

/* dst = dst*(1-a) + src*a, plane by plane. */
static void blend_frame(AVFrame *dst, const AVFrame *src, double a)
{
    int ia = (int)lrint(a * 256);
    for (int p = 0; p < 3; p++) {
        int h = p ? (dst->height + 1) / 2 : dst->height, w = p ? (dst->width + 1) / 2 : dst->width;
        for (int y = 0; y < h; y++) {
            uint8_t *d = dst->data[p] + (size_t)y * dst->linesize[p];
            const uint8_t *s = src->data[p] + (size_t)y * src->linesize[p];
            for (int x = 0; x < w; x++)
                d[x] = (uint8_t)((d[x] * (256 - ia) + s[x] * ia + 128) >> 8);
        }
    }
}

int reeli_media_concat(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx)
{
    if (n == 0) return reel_set_error(REEL_EINVAL, "needs at least one input");
    const char *tr = reel_json_str(params, "transition", "cut");
    int mode = !strcmp(tr, "cut")         ? TR_CUT
               : !strcmp(tr, "fade")      ? TR_FADE
               : !strcmp(tr, "crossfade") ? TR_CROSSFADE
                                          : -1;
    if (mode < 0 || (!json_is_string(json_object_get(params, "transition")) &&
                     json_object_get(params, "transition")))
        return reel_set_error(REEL_EINVAL,
                              "parameter 'transition': must be \"cut\", \"fade\" or \"crossfade\"");
    const json_t *tsv = json_object_get(params, "transition_s");
    if (tsv && (!json_is_number(tsv) || json_number_value(tsv) < 0 || json_number_value(tsv) > 60))
        return reel_set_error(REEL_EINVAL, "parameter 'transition_s': must be a number 0..60");
    double ts = tsv ? json_number_value(tsv) : (mode == TR_CUT ? 0 : 0.5);
    int W = 0, H = 0;
    AVRational fps = {0, 0};
    if (json_object_get(params, "size") &&
        reeli_parse_size(json_object_get(params, "size"), &W, &H) < 0)
        return REEL_EINVAL;
    if (json_object_get(params, "fps") && reeli_parse_fps(json_object_get(params, "fps"), &fps) < 0)
        return REEL_EINVAL;

    int64_t *nf = reel_xcalloc(n, sizeof *nf), *ov = reel_xcalloc(n, sizeof *ov);
    int *audio = reel_xcalloc(n, sizeof *audio);
    AVFrame **fifo = NULL, *work = NULL;
    float *mixbuf = NULL;
    reeli_mw *w = NULL;
    reeli_vr *r = NULL;
    int ret = 0, any_audio = 0;
    for (size_t i = 0; i < n; i++) {
        r = reeli_vr_open(inputs[i], W, H, fps);
        if (!r) {
            ret = reel_error_prefix("input %zu", i + 1);
            goto done;
        }
        if (i == 0) reeli_vr_geometry(r, &W, &H, &fps);
        nf[i] = reeli_vr_frames(r);
        reeli_vr_free(r);
        r = NULL;
        audio[i] = reeli_has_audio(inputs[i]);
        any_audio |= audio[i];
    }
    /* Transition i joins input i and i+1; a crossfade overlaps them, a fade does not. */
    int64_t want = mode == TR_CUT ? 0 : llround(ts * av_q2d(fps));
    int64_t total = 0, maxov = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        int64_t lim = (nf[i] < nf[i + 1] ? nf[i] : nf[i + 1]) / 2;
        ov[i] = want < lim ? want : lim;
        if (ov[i] > maxov) maxov = ov[i];
    }
    for (size_t i = 0; i < n; i++) total += nf[i] - (mode == TR_CROSSFADE ? ov[i] : 0);

    /* Audio: each input's track (or silence) with gain envelopes at the transitions. */
    int64_t total_samples = reeli_frames_to_samples(total, fps);
    if (any_audio) {
        mixbuf = calloc((size_t)total_samples + 1, REELI_CHANNELS * sizeof(float));
        if (!mixbuf) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        int64_t start_frame = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t s0 = reeli_frames_to_samples(start_frame, fps);
            int64_t len = reeli_frames_to_samples(start_frame + nf[i], fps) - s0;
            if (audio[i]) {
                float *pcm;
                int64_t got;
                if ((ret = reeli_audio_load(inputs[i], REELI_RATE, REELI_CHANNELS, &pcm, &got)) < 0)
                    goto done;
                int64_t in_len = i > 0 ? reeli_frames_to_samples(ov[i - 1], fps) : 0;
                int64_t out_len = i + 1 < n ? reeli_frames_to_samples(ov[i], fps) : 0;
                if (mode == TR_FADE) {
                    in_len /= 2;
                    out_len /= 2;
                }
                for (int64_t k = 0; k < len && k < got && s0 + k < total_samples; k++) {
                    double g = 1;
                    if (mode != TR_CUT && k < in_len) g *= (double)(k + 1) / (in_len + 1);
                    if (mode != TR_CUT && len - k <= out_len)
                        g *= (double)(len - k) / (out_len + 1);
                    for (int c = 0; c < REELI_CHANNELS; c++)
                        mixbuf[(s0 + k) * REELI_CHANNELS + c] +=
                            (float)(pcm[k * REELI_CHANNELS + c] * g);
                }
                free(pcm);
            }
            start_frame += nf[i] - (mode == TR_CROSSFADE ? ov[i] : 0);
        }
    }

    reeli_mw_opts o = {.path = out,
                       .format = "matroska",
                       .width = W,
                       .height = H,
                       .fps = fps,
                       .vcodec = "ffv1",
                       .sample_rate = any_audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (any_audio) reeli_mw_set_audio(w, mixbuf, total_samples);
    work = av_frame_alloc();
    if (!work) {
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
    if (maxov > 0) {
        fifo = reel_xcalloc((size_t)maxov, sizeof *fifo);
        for (int64_t k = 0; k < maxov; k++) {
            fifo[k] = av_frame_alloc();
            if (!fifo[k]) {
                ret = reel_set_error(REEL_ENOMEM, "out of memory");
                goto done;
            }
            fifo[k]->format = AV_PIX_FMT_YUV420P;
            fifo[k]->width = W;
            fifo[k]->height = H;
            if (av_frame_get_buffer(fifo[k], 0) < 0) {
                ret = reel_set_error(REEL_ENOMEM, "out of memory for transition frames");
                goto done;
            }
        }
    }
    int64_t opts = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(r = reeli_vr_open(inputs[i], W, H, fps))) {
            ret = reel_error_prefix("input %zu", i + 1);
            goto done;
        }
        int64_t in_ov = i > 0 ? ov[i - 1] : 0, out_ov = i + 1 < n ? ov[i] : 0;
        if (mode == TR_FADE) {
            in_ov /= 2;
            out_ov /= 2;
        }
        AVFrame *f;
        for (int64_t j = 0; j < nf[i]; j++) {
            if ((ret = reeli_vr_next(r, &f)) <= 0) {
                if (ret == 0) ret = reel_set_error(REEL_EFORMAT, "input %zu ended early", i + 1);
                goto done;
            }
            if (mode == TR_CROSSFADE && j >= nf[i] - out_ov) {
                av_frame_copy(fifo[j - (nf[i] - out_ov)], f); /* held for the next input */
                continue;
            }
            /* The reader's frame may be shown again (a repeated picture): edit a copy. */
            if (av_frame_make_writable(work) < 0 || av_frame_copy(work, f) < 0) {
                ret = reel_set_error(REEL_ENOMEM, "out of memory");
                goto done;
            }
            f = work;
            AVFrame *emit = f;
            if (mode == TR_CROSSFADE && j < in_ov) {
                blend_frame(fifo[j], f, (double)(j + 1) / (in_ov + 1));
                emit = fifo[j];
            } else if (mode == TR_FADE) {
                if (j < in_ov) fade_frame(f, (double)(j + 1) / (in_ov + 1));
                if (nf[i] - j <= out_ov) fade_frame(f, (double)(nf[i] - j - 1) / (out_ov + 1));
            }
            emit->pts = opts++;
            if ((ret = reeli_mw_video(w, emit)) < 0) goto done;
            if ((ret = reeli_media_tick(progress, ctx, (double)opts / total)) < 0) goto done;
        }
        reeli_vr_free(r);
        r = NULL;
    }
    REEL_ASSERT(opts == total);
    ret = reeli_mw_close(w);
    w = NULL;
done:
    reeli_vr_free(r);
    reeli_mw_free(w);
    for (int64_t k = 0; fifo && k < maxov; k++) av_frame_free(&fifo[k]);
    free(fifo);
    av_frame_free(&work);
    free(mixbuf);
    free(nf);
    free(ov);
    free(audio);
    return ret < 0 ? ret : 0;
}
