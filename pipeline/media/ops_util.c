/* What the media operations share: progress ticks, audio fitted to a video's length, and the
 * parsing of the parameters several stage kinds take (size, fps, bounded numbers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/media/ops-impl.h"
#include "pipeline/size-impl.h"

int reeli_media_tick(reeli_progress_fn progress, void *ctx, double f)
{
    if (progress && progress(ctx, f)) return reel_set_error(REEL_ECANCELED, "canceled");
    return 0;
}

int reeli_parse_size(const json_t *v, int *w, int *h)
{
    char err[256];
    if (json_is_string(v)) {
        if (reeli_size_parse(json_string_value(v), w, h, err, sizeof err) < 0)
            return reel_set_error(REEL_EINVAL, "parameter 'size': %s", err);
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)))
        return reel_set_error(
            REEL_EINVAL, "parameter 'size': must be \"WxH\", [W, H] or one of " REELI_SIZE_PRESETS);
    /* [W, H] goes through the same checks as its "WxH" spelling */
    char s[64];
    snprintf(s, sizeof s, "%lldx%lld", (long long)json_integer_value(json_array_get(v, 0)),
             (long long)json_integer_value(json_array_get(v, 1)));
    if (reeli_size_parse(s, w, h, err, sizeof err) < 0)
        return reel_set_error(REEL_EINVAL, "parameter 'size': %s", err);
    return 0;
}

int reeli_parse_geometry(const json_t *params, int *w, int *h, AVRational *fps, int *fit)
{
    *w = *h = 0;
    *fps = (AVRational){0, 0};
    if (json_object_get(params, "size") &&
        reeli_parse_size(json_object_get(params, "size"), w, h) < 0)
        return REEL_EINVAL;
    if (json_object_get(params, "fps") && reeli_parse_fps(json_object_get(params, "fps"), fps) < 0)
        return REEL_EINVAL;
    return reeli_parse_fit(params, fit);
}

int reeli_parse_fit(const json_t *params, int *fit)
{
    const json_t *v = json_object_get(params, "fit");
    const char *s = json_string_value(v);
    *fit = REELI_FIT_UNSET;
    if (!v) return 0;
    if (s && !strcmp(s, "cover"))
        *fit = REELI_FIT_COVER;
    else if (s && !strcmp(s, "contain"))
        *fit = REELI_FIT_CONTAIN;
    else
        return reel_set_error(REEL_EINVAL,
                              "parameter 'fit': must be \"cover\" (crop to fill the frame) or "
                              "\"contain\" (the whole picture, black bars around it)");
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
float *reeli_fit_audio(float *pcm, int64_t have, int64_t n)
{
    float *b = realloc(pcm, (size_t)(n > 0 ? n : 1) * REELI_CHANNELS * sizeof(float));
    if (!b) {
        free(pcm);
        return NULL;
    }
    if (n > have) memset(b + have * REELI_CHANNELS, 0, (size_t)(n - have) * REELI_CHANNELS * 4);
    return b;
}

int64_t reeli_frames_to_samples(int64_t frames, AVRational fps)
{
    return av_rescale(frames, (int64_t)REELI_RATE * fps.den, fps.num);
}

int reeli_has_audio(const char *path)
{
    reeli_probe p;
    return reeli_media_probe(path, 0, &p) == 0 && p.has_audio;
}

int reeli_num_param(const json_t *obj, const char *key, double def, double lo, double hi,
                    const char *where, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return reel_set_error(REEL_EINVAL, "parameter '%s%s': must be a number %g..%g", where, key,
                              lo, hi);
    *out = json_number_value(v);
    return 0;
}
