/* Media operations behind the stage kinds: normalize plugin files, concat with transitions,
 * mix/duck/normalise audio, attach audio, subtitles (soft and burnt in), final render. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/opt.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/pipeline-impl.h"

#define MAX_CUES 100000

static int tick(reeli_progress_fn progress, void *ctx, double f)
{
    if (progress && progress(ctx, f)) return reel_set_error(REEL_ECANCELED, "canceled");
    return 0;
}

int reeli_parse_size(const json_t *v, int *w, int *h)
{
    long a = 0, b = 0;
    if (json_is_string(v)) {
        char tail;
        if (sscanf(json_string_value(v), "%ldx%ld%c", &a, &b, &tail) != 2)
            return reel_set_error(REEL_EINVAL, "parameter 'size': '%s' is not WxH",
                                  json_string_value(v));
    } else if (json_is_array(v) && json_array_size(v) == 2 &&
               json_is_integer(json_array_get(v, 0)) && json_is_integer(json_array_get(v, 1))) {
        a = (long)json_integer_value(json_array_get(v, 0));
        b = (long)json_integer_value(json_array_get(v, 1));
    } else {
        return reel_set_error(REEL_EINVAL, "parameter 'size': must be \"WxH\" or [W, H]");
    }
    if (a < 16 || b < 16 || a > 8192 || b > 8192 || (a & 1) || (b & 1))
        return reel_set_error(REEL_EINVAL, "parameter 'size': %ldx%ld must be even, 16..8192",
                              a, b);
    *w = (int)a;
    *h = (int)b;
    return 0;
}

int reeli_parse_fps(const json_t *v, AVRational *fps)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 1 || x > 240) goto bad;
        *fps = (AVRational){(int)x, 1};
        return 0;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!(x >= 1 && x <= 240)) goto bad;
        *fps = av_d2q(x, 1001000);
        if (fabs(x * 1.001 - round(x * 1.001)) < 1e-3 && fabs(x - round(x)) > 1e-3)
            *fps = (AVRational){(int)round(x * 1.001) * 1000, 1001};
        return 0;
    }
    if (json_is_string(v)) {
        int n, d;
        char tail;
        if (sscanf(json_string_value(v), "%d/%d%c", &n, &d, &tail) == 2 && n > 0 && d > 0 &&
            (double)n / d >= 1 && (double)n / d <= 240) {
            *fps = av_make_q(n, d);
            return 0;
        }
    }
bad:
    return reel_set_error(REEL_EINVAL, "parameter 'fps': must be 1..240 (number or \"num/den\")");
}

/* Pads or trims pcm (stereo float) to exactly n frames. */
static float *fit_audio(float *pcm, int64_t have, int64_t n)
{
    float *b = realloc(pcm, (size_t)(n > 0 ? n : 1) * REELI_CHANNELS * sizeof(float));
    if (!b) {
        free(pcm);
        return NULL;
    }
    if (n > have) memset(b + have * REELI_CHANNELS, 0, (size_t)(n - have) * REELI_CHANNELS * 4);
    return b;
}

static int64_t frames_to_samples(int64_t frames, AVRational fps)
{
    return av_rescale(frames, (int64_t)REELI_RATE * fps.den, fps.num);
}

/* ---- normalize ------------------------------------------------------------------------------ */
static int has_audio(const char *path)
{
    reeli_probe p;
    return reeli_media_probe(path, 0, &p) == 0 && p.has_audio;
}

int reeli_media_normalize(const char *in, int kind, const char *out)
{
    if (kind == REEL_PLUGIN_KIND_AUDIO) {
        reeli_probe p;
        int ret = reeli_media_probe(in, 0, &p);
        if (ret < 0) return ret;
        int ch = p.channels >= 1 && p.channels <= 8 ? p.channels : 2;
        int rate = p.sample_rate >= 4000 && p.sample_rate <= 192000 ? p.sample_rate : REELI_RATE;
        float *pcm;
        int64_t n;
        if ((ret = reeli_audio_load(in, rate, ch, &pcm, &n)) < 0) return ret;
        reeli_mw_opts o = {.path = out, .format = "wav", .sample_rate = rate, .channels = ch,
                           .acodec = "pcm_s16le"};
        reeli_mw *w = reeli_mw_open(&o);
        if (!w) {
            free(pcm);
            return reel_last_error_code();
        }
        reeli_mw_set_audio(w, pcm, n);
        ret = reeli_mw_close(w);
        free(pcm);
        return ret;
    }
    reeli_vr *r = reeli_vr_open(in, 0, 0, (AVRational){0, 0});
    if (!r) return reel_last_error_code();
    int w0, h0;
    AVRational fps;
    reeli_vr_geometry(r, &w0, &h0, &fps);
    reeli_vr_free(r);
    /* yuv420p needs even sizes: pad odd ones by one pixel */
    r = reeli_vr_open(in, (w0 + 1) & ~1, (h0 + 1) & ~1, fps);
    if (!r) return reel_last_error_code();
    float *pcm = NULL;
    int64_t n = 0;
    int audio = has_audio(in);
    int ret = 0;
    if (audio) {
        if ((ret = reeli_audio_load(in, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0) goto done;
        int64_t want = frames_to_samples(reeli_vr_frames(r), fps);
        if (!(pcm = fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    reeli_mw_opts o = {.path = out, .format = "matroska", .width = (w0 + 1) & ~1,
                       .height = (h0 + 1) & ~1, .fps = fps, .vcodec = "ffv1",
                       .sample_rate = audio ? REELI_RATE : 0, .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
    reeli_mw *w = reeli_mw_open(&o);
    if (!w) {
        ret = reel_last_error_code();
        goto done;
    }
    if (audio) reeli_mw_set_audio(w, pcm, n);
    AVFrame *f;
    while ((ret = reeli_vr_next(r, &f)) > 0)
        if ((ret = reeli_mw_video(w, f)) < 0) break;
    if (ret < 0) reeli_mw_free(w);
    else ret = reeli_mw_close(w);
done:
    reeli_vr_free(r);
    free(pcm);
    return ret < 0 ? ret : 0;
}

/* ---- concat --------------------------------------------------------------------------------- */
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
            for (int x = 0; x < w; x++) d[x] = (uint8_t)((d[x] * (256 - ia) + s[x] * ia + 128) >> 8);
        }
    }
}

int reeli_media_concat(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx)
{
    if (n == 0) return reel_set_error(REEL_EINVAL, "needs at least one input");
    const char *tr = reel_json_str(params, "transition", "cut");
    int mode = !strcmp(tr, "cut") ? TR_CUT : !strcmp(tr, "fade") ? TR_FADE
               : !strcmp(tr, "crossfade") ? TR_CROSSFADE : -1;
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
        audio[i] = has_audio(inputs[i]);
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
    int64_t total_samples = frames_to_samples(total, fps);
    if (any_audio) {
        mixbuf = calloc((size_t)total_samples + 1, REELI_CHANNELS * sizeof(float));
        if (!mixbuf) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        int64_t start_frame = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t s0 = frames_to_samples(start_frame, fps);
            int64_t len = frames_to_samples(start_frame + nf[i], fps) - s0;
            if (audio[i]) {
                float *pcm;
                int64_t got;
                if ((ret = reeli_audio_load(inputs[i], REELI_RATE, REELI_CHANNELS, &pcm, &got)) <
                    0)
                    goto done;
                int64_t in_len = i > 0 ? frames_to_samples(ov[i - 1], fps) : 0;
                int64_t out_len = i + 1 < n ? frames_to_samples(ov[i], fps) : 0;
                if (mode == TR_FADE) {
                    in_len /= 2;
                    out_len /= 2;
                }
                for (int64_t k = 0; k < len && k < got && s0 + k < total_samples; k++) {
                    double g = 1;
                    if (mode != TR_CUT && k < in_len) g *= (double)(k + 1) / (in_len + 1);
                    if (mode != TR_CUT && len - k <= out_len) g *= (double)(len - k) / (out_len + 1);
                    for (int c = 0; c < REELI_CHANNELS; c++)
                        mixbuf[(s0 + k) * REELI_CHANNELS + c] +=
                            (float)(pcm[k * REELI_CHANNELS + c] * g);
                }
                free(pcm);
            }
            start_frame += nf[i] - (mode == TR_CROSSFADE ? ov[i] : 0);
        }
    }

    reeli_mw_opts o = {.path = out, .format = "matroska", .width = W, .height = H, .fps = fps,
                       .vcodec = "ffv1", .sample_rate = any_audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS, .acodec = "pcm_s16le"};
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
            if ((ret = tick(progress, ctx, (double)opts / total)) < 0) goto done;
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

/* ---- mix ------------------------------------------------------------------------------------ */
static double db_to_gain(double db) { return pow(10.0, db / 20.0); }

static int num_param(const json_t *obj, const char *key, double def, double lo, double hi,
                     const char *where, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return reel_set_error(REEL_EINVAL, "parameter '%s%s': must be a number %g..%g", where,
                              key, lo, hi);
    *out = json_number_value(v);
    return 0;
}

int reeli_media_mix(const char *const *inputs, size_t n, const json_t *params, const char *out)
{
    if (n == 0) return reel_set_error(REEL_EINVAL, "needs at least one input");
    const json_t *gains = json_object_get(params, "gains");
    if (gains && (!json_is_array(gains) || json_array_size(gains) != n))
        return reel_set_error(REEL_EINVAL,
                              "parameter 'gains': must be an array of %zu numbers (one per input)",
                              n);
    for (size_t i = 0; gains && i < n; i++) {
        const json_t *g = json_array_get(gains, i);
        if (!json_is_number(g) || json_number_value(g) < 0 || json_number_value(g) > 16)
            return reel_set_error(REEL_EINVAL, "parameter 'gains[%zu]': must be a number 0..16",
                                  i);
    }
    const json_t *duck = json_object_get(params, "duck");
    if (duck && !json_is_object(duck) && !json_is_false(duck))
        return reel_set_error(REEL_EINVAL, "parameter 'duck': must be an object or false");
    double voice = 0, amount = -12, thresh = -40, attack = 0.05, release = 0.4, norm = 0;
    if (json_is_object(duck)) {
        if (num_param(duck, "voice", 0, 0, (double)n - 1, "duck.", &voice) < 0 ||
            num_param(duck, "amount_db", -12, -60, 0, "duck.", &amount) < 0 ||
            num_param(duck, "threshold_db", -40, -90, 0, "duck.", &thresh) < 0 ||
            num_param(duck, "attack_s", 0.05, 0.001, 5, "duck.", &attack) < 0 ||
            num_param(duck, "release_s", 0.4, 0.001, 10, "duck.", &release) < 0)
            return REEL_EINVAL;
    }
    const json_t *nv = json_object_get(params, "normalize_db");
    if (nv && num_param(params, "normalize_db", -16, -60, 0, "", &norm) < 0) return REEL_EINVAL;

    float **pcm = reel_xcalloc(n, sizeof *pcm);
    int64_t *len = reel_xcalloc(n, sizeof *len), total = 0;
    float *mixv = NULL, *env = NULL;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        if ((ret = reeli_audio_load(inputs[i], REELI_RATE, REELI_CHANNELS, &pcm[i], &len[i])) < 0) {
            reel_error_prefix("input %zu", i + 1);
            goto done;
        }
        if (len[i] > total) total = len[i];
    }
    mixv = calloc((size_t)total + 1, REELI_CHANNELS * sizeof(float));
    if (!mixv) {
        ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
        goto done;
    }
    /* Ducking: a peak follower on the voice track; while it is above threshold_db the other
     * tracks are lowered by amount_db, the gain moving with the attack/release times. */
    size_t vi = (size_t)voice;
    if (json_is_object(duck) && n > 1) {
        env = malloc((size_t)total * sizeof(float) + 1);
        if (!env) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        double level = 0, g = 1, th = db_to_gain(thresh), low = db_to_gain(amount);
        /* the level detector forgets a peak in ~50 ms; attack/release shape the gain */
        double kd = exp(-1.0 / (0.05 * REELI_RATE));
        double ka = exp(-1.0 / (attack * REELI_RATE)), kr = exp(-1.0 / (release * REELI_RATE));
        for (int64_t k = 0; k < total; k++) {
            double x = 0;
            if (k < len[vi])
                for (int c = 0; c < REELI_CHANNELS; c++)
                    x = fmax(x, fabs(pcm[vi][k * REELI_CHANNELS + c]));
            level = x > level ? x : level * kd;
            double target = level > th ? low : 1.0;
            g = target < g ? target + (g - target) * ka : target + (g - target) * kr;
            env[k] = (float)g;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double gain = gains ? json_number_value(json_array_get(gains, i)) : 1.0;
        for (int64_t k = 0; k < len[i]; k++) {
            double g = gain * (env && i != vi ? env[k] : 1.0);
            for (int c = 0; c < REELI_CHANNELS; c++)
                mixv[k * REELI_CHANNELS + c] += (float)(pcm[i][k * REELI_CHANNELS + c] * g);
        }
    }
    /* Loudness normalisation (RMS-based, not EBU R128): one gain so that the mix's RMS level is
     * normalize_db dBFS, lowered if needed to keep peaks at or below -1 dBFS. */
    double peak = 0, sum = 0;
    for (int64_t k = 0; k < total * REELI_CHANNELS; k++) {
        peak = fmax(peak, fabs(mixv[k]));
        sum += (double)mixv[k] * mixv[k];
    }
    double g = 1;
    if (nv && sum > 0) g = db_to_gain(norm) / sqrt(sum / (double)(total * REELI_CHANNELS));
    if (peak * g > db_to_gain(-1)) g = db_to_gain(-1) / peak;
    if (g != 1)
        for (int64_t k = 0; k < total * REELI_CHANNELS; k++) mixv[k] = (float)(mixv[k] * g);
    reeli_mw_opts o = {.path = out, .format = "wav", .sample_rate = REELI_RATE,
                       .channels = REELI_CHANNELS, .acodec = "pcm_s16le"};
    reeli_mw *w = reeli_mw_open(&o);
    if (!w) {
        ret = reel_last_error_code();
        goto done;
    }
    reeli_mw_set_audio(w, mixv, total);
    ret = reeli_mw_close(w);
done:
    for (size_t i = 0; i < n; i++) free(pcm[i]);
    free(pcm);
    free(len);
    free(mixv);
    free(env);
    return ret < 0 ? ret : 0;
}

/* ---- with_audio / subtitles (re-mux through decode + FFV1) ---------------------------------- */
/* Copies the video of `video` to out, with the audio of `audio_src` (fitted to the video's
 * length; NULL = none) and the given cues, optionally through a filter graph for burn-in. */
static int remux(const char *video, const char *audio_src, const reeli_cue *cues, size_t n_cues,
                 const char *burn_srt, const char *out, reeli_progress_fn progress, void *ctx);

int reeli_media_with_audio(const char *video, const char *audio, const char *out,
                           reeli_progress_fn progress, void *ctx)
{
    reeli_cue *cues;
    size_t nc;
    int ret = reeli_subs_load(video, &cues, &nc);
    if (ret < 0) return ret;
    ret = remux(video, audio, cues, nc, NULL, out, progress, ctx);
    reeli_cues_free(cues, nc);
    return ret;
}

static void srt_time(FILE *f, double t)
{
    int64_t ms = llround(t * 1000);
    fprintf(f, "%02d:%02d:%02d,%03d", (int)(ms / 3600000), (int)(ms / 60000 % 60),
            (int)(ms / 1000 % 60), (int)(ms % 1000));
}

int reeli_media_subtitles(const char *input, const json_t *params, const char *out,
                          reeli_progress_fn progress, void *ctx)
{
    const json_t *jc = json_object_get(params, "cues");
    if (!json_is_array(jc))
        return reel_set_error(REEL_EINVAL, "parameter 'cues': must be an array of "
                                           "{start_s, end_s, text}");
    if (json_array_size(jc) > MAX_CUES)
        return reel_set_error(REEL_EINVAL, "parameter 'cues': more than %d cues", MAX_CUES);
    const json_t *bv = json_object_get(params, "burn");
    if (bv && !json_is_boolean(bv))
        return reel_set_error(REEL_EINVAL, "parameter 'burn': must be true or false");
    reeli_cue *old;
    size_t n_old;
    int ret = reeli_subs_load(input, &old, &n_old);
    if (ret < 0) return ret;
    size_t n = n_old + json_array_size(jc);
    reeli_cue *cues = reel_xcalloc(n ? n : 1, sizeof *cues);
    if (n_old) memcpy(cues, old, n_old * sizeof *cues);
    free(old);
    size_t k = n_old;
    size_t i;
    json_t *c;
    char *srt = NULL;
    json_array_foreach(jc, i, c) {
        const json_t *s = json_object_get(c, "start_s"), *e = json_object_get(c, "end_s"),
                     *t = json_object_get(c, "text");
        if (!json_is_object(c) || !json_is_number(s) || !json_is_number(e) || !json_is_string(t) ||
            json_number_value(s) < 0 || json_number_value(e) <= json_number_value(s) ||
            json_number_value(e) > 86400) {
            ret = reel_set_error(REEL_EINVAL,
                                 "parameter 'cues[%zu]': needs numbers start_s < end_s "
                                 "(0..86400) and a string text",
                                 i);
            goto done;
        }
        cues[k++] = (reeli_cue){json_number_value(s), json_number_value(e),
                                reel_xstrdup(json_string_value(t))};
    }
    /* keep cues in time order (stable insertion sort: the lists are short) */
    for (size_t a = 1; a < k; a++)
        for (size_t b = a; b > 0 && cues[b].start_s < cues[b - 1].start_s; b--) {
            reeli_cue tmp = cues[b];
            cues[b] = cues[b - 1];
            cues[b - 1] = tmp;
        }
    if (json_is_true(bv)) {
        const char *base = getenv("TMPDIR");
        srt = reel_xasprintf("%s/reel-burn-XXXXXX.srt", base && *base ? base : "/tmp");
        int fd = mkstemps(srt, 4);
        FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!f) {
            if (fd >= 0) close(fd);
            ret = reel_set_error_errno("%s", srt);
            goto done;
        }
        for (size_t q = 0; q < k; q++) {
            fprintf(f, "%zu\n", q + 1);
            srt_time(f, cues[q].start_s);
            fputs(" --> ", f);
            srt_time(f, cues[q].end_s);
            fprintf(f, "\n%s\n\n", cues[q].text);
        }
        if (fclose(f) != 0) {
            ret = reel_set_error_errno("%s", srt);
            goto done;
        }
    }
    ret = remux(input, has_audio(input) ? input : NULL, cues, k, srt, out, progress, ctx);
done:
    if (srt) unlink(srt);
    free(srt);
    reeli_cues_free(cues, k);
    return ret;
}

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
    snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=1/1",
             w, h, AV_PIX_FMT_YUV420P, fps.den, fps.num);
    int ret = avfilter_graph_create_filter(&b->src, avfilter_get_by_name("buffer"), "in", args,
                                           NULL, b->g);
    if (ret >= 0)
        ret = avfilter_graph_create_filter(&b->sink, avfilter_get_by_name("buffersink"), "out",
                                           NULL, NULL, b->g);
    AVFilterContext *sc = NULL, *fc = NULL;
    if (ret >= 0) {
        sc = avfilter_graph_alloc_filter(b->g, sub, "subs");
        if (!sc) ret = AVERROR(ENOMEM);
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

static int remux(const char *video, const char *audio_src, const reeli_cue *cues, size_t n_cues,
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
        int64_t want = frames_to_samples(nf, fps);
        if (!(pcm = fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    if (burn_srt && (ret = burner_init(&b, burn_srt, W, H, fps)) < 0) goto done;
    reeli_mw_opts o = {.path = out, .format = "matroska", .width = W, .height = H, .fps = fps,
                       .vcodec = "ffv1", .sample_rate = audio_src ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS, .acodec = "pcm_s16le", .cues = cues,
                       .n_cues = n_cues, .scodec = n_cues ? "subrip" : NULL};
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
        if ((ret = tick(progress, ctx, (double)(pts + 1) / nf)) < 0) goto done;
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

/* ---- render --------------------------------------------------------------------------------- */
int reeli_media_render(const char *input, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx)
{
    const char *format = reel_json_str(params, "format", "mp4");
    if (!json_is_string(json_object_get(params, "format")) && json_object_get(params, "format"))
        format = "";
    int webm = !strcmp(format, "webm");
    if (!webm && strcmp(format, "mp4"))
        return reel_set_error(REEL_EINVAL, "parameter 'format': must be \"mp4\" or \"webm\"");
    int W = 0, H = 0;
    AVRational fps = {0, 0};
    if (json_object_get(params, "size") &&
        reeli_parse_size(json_object_get(params, "size"), &W, &H) < 0)
        return REEL_EINVAL;
    if (json_object_get(params, "fps") && reeli_parse_fps(json_object_get(params, "fps"), &fps) < 0)
        return REEL_EINVAL;
    double crf = 0;
    if (num_param(params, "crf", webm ? 32 : 20, 0, 63, "", &crf) < 0) return REEL_EINVAL;
    if (!webm && crf > 51)
        return reel_set_error(REEL_EINVAL, "parameter 'crf': must be 0..51 for H.264");
    const json_t *meta = json_object_get(params, "metadata");
    if (meta && !json_is_object(meta))
        return reel_set_error(REEL_EINVAL, "parameter 'metadata': must be an object");
    const char *preset = reel_json_str(params, "preset", "veryfast");
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster", "fast",
                                          "medium", "slow", "slower", "veryslow", NULL};
    int pok = 0;
    for (int i = 0; presets[i]; i++) pok |= !strcmp(presets[i], preset);
    if (!pok) return reel_set_error(REEL_EINVAL, "parameter 'preset': unknown x264 preset");

    reeli_vr *r = reeli_vr_open(input, W, H, fps);
    if (!r) return reel_last_error_code();
    reeli_vr_geometry(r, &W, &H, &fps);
    if ((W & 1) || (H & 1)) {
        reeli_vr_free(r);
        W = (W + 1) & ~1;
        H = (H + 1) & ~1;
        if (!(r = reeli_vr_open(input, W, H, fps))) return reel_last_error_code();
    }
    int64_t nf = reeli_vr_frames(r);
    float *pcm = NULL;
    int64_t n = 0;
    reeli_cue *cues = NULL;
    size_t nc = 0;
    reeli_mw *w = NULL;
    json_t *tags = json_object();
    int audio = has_audio(input), ret = 0;
    if (audio) {
        if ((ret = reeli_audio_load(input, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0) goto done;
        int64_t want = frames_to_samples(nf, fps);
        if (!(pcm = fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
    }
    if ((ret = reeli_subs_load(input, &cues, &nc)) < 0) goto done;

    /* Provenance: every film says it is AI-generated; the caller adds title, pipeline hash,
     * model and seeds. Values that are not strings are stored as compact JSON. */
    if (meta) json_object_update(tags, (json_t *)meta);
    json_object_set_new(tags, "ai_generated", json_string("true"));
    if (!json_object_get(tags, "comment")) {
        const char *model = reel_json_str(meta, "model", NULL);
        char *c = reel_xasprintf("AI-generated with reel%s%s", model ? "; model " : "",
                                 model ? model : "");
        json_object_set_new(tags, "comment", json_string(c));
        free(c);
    }
    reeli_mw_opts o = {.path = out, .format = webm ? "webm" : "mp4", .width = W, .height = H,
                       .fps = fps, .vcodec = webm ? "libvpx-vp9" : "libx264", .crf = (int)crf,
                       .preset = preset, .sample_rate = audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS, .acodec = webm ? "libopus" : "aac",
                       .cues = cues, .n_cues = nc,
                       .scodec = nc ? (webm ? "webvtt" : "mov_text") : NULL, .metadata = tags};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (audio) reeli_mw_set_audio(w, pcm, n);
    AVFrame *f;
    while ((ret = reeli_vr_next(r, &f)) > 0) {
        if ((ret = reeli_mw_video(w, f)) < 0) goto done;
        if ((ret = tick(progress, ctx, 0.95 * (double)(f->pts + 1) / nf)) < 0) goto done;
    }
    if (ret < 0) goto done;
    ret = reeli_mw_close(w);
    w = NULL;
    if (ret < 0) goto done;

    /* Verify by decoding the whole result. */
    reeli_probe p;
    if ((ret = reeli_media_probe(out, 1, &p)) < 0) {
        reel_error_prefix("verifying the result");
        goto done;
    }
    if (!p.has_video || p.n_frames != nf || p.width != W || p.height != H ||
        (audio && !p.has_audio) || (nc && !p.has_subs)) {
        ret = reel_set_error(REEL_EFORMAT,
                             "verifying %s: expected %lld frames of %dx%d%s%s, decoded %lld "
                             "frames of %dx%d%s%s",
                             out, (long long)nf, W, H, audio ? " + audio" : "",
                             nc ? " + subtitles" : "", (long long)p.n_frames, p.width, p.height,
                             p.has_audio ? " + audio" : "", p.has_subs ? " + subtitles" : "");
        goto done;
    }
    ret = tick(progress, ctx, 1.0);
done:
    json_decref(tags);
    reeli_mw_free(w);
    reeli_vr_free(r);
    free(pcm);
    reeli_cues_free(cues, nc);
    return ret < 0 ? ret : 0;
}
