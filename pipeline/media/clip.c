/* The clip operation (reel.video{path=}): a video file from outside reel, decoded within
 * bounds, scaled to fit the asked size, converted to the asked frame rate, trimmed to
 * [start_s, start_s + duration_s), with its sound (trimmed alike) when it has any, into the
 * FFV1 intermediate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

int reeli_media_clip(const json_t *params, const char *out, reeli_progress_fn progress, void *ctx)
{
    const char *path = reel_json_str(params, "path", NULL);
    if (!path) return reel_set_error(REEL_EINVAL, "parameter 'path': required (a file)");
    double start, dur, wd, ht;
    if (reeli_num_param(params, "start_s", 0, 0, REELI_MAX_DURATION_S, "", &start) < 0 ||
        reeli_num_param(params, "duration_s", 0, 0, REELI_MAX_DURATION_S, "", &dur) < 0 ||
        reeli_num_param(params, "width", 0, 16, REELI_MAX_DIM, "", &wd) < 0 ||
        reeli_num_param(params, "height", 0, 16, REELI_MAX_DIM, "", &ht) < 0)
        return REEL_EINVAL;
    AVRational fps = {0, 0};
    if (json_object_get(params, "fps") && reeli_parse_fps(json_object_get(params, "fps"), &fps) < 0)
        return REEL_EINVAL;
    reeli_media_limits lim;
    reeli_media_limits_file(&lim, REELI_FORMATS_CLIP);
    int W = (int)wd & ~1, H = (int)ht & ~1;
    reeli_vr *r = reeli_vr_open_bounded(path, W, H, fps, &lim);
    if (!r) return reel_last_error_code();
    int w0, h0;
    reeli_vr_geometry(r, &w0, &h0, &fps);
    if ((w0 | h0) & 1) { /* yuv420p needs even sizes */
        reeli_vr_free(r);
        if (!(r = reeli_vr_open_bounded(path, (w0 + 1) & ~1, (h0 + 1) & ~1, fps, &lim)))
            return reel_last_error_code();
        reeli_vr_geometry(r, &w0, &h0, &fps);
    }
    int64_t total = reeli_vr_frames(r), f0 = llround(start * fps.num / fps.den);
    int64_t nf = dur > 0 ? llround(dur * fps.num / fps.den) : total - f0;
    if (f0 + nf > total) nf = total - f0;
    float *pcm = NULL;
    reeli_mw *w = NULL;
    int ret = 0;
    if (nf <= 0) {
        ret = reel_set_error(REEL_EINVAL, "parameter 'start_s': %.2f s is past the end of %s",
                             start, path);
        goto done;
    }
    reeli_probe p;
    if ((ret = reeli_media_probe_bounded(path, 0, &p, &lim)) < 0) goto done;
    int64_t n = 0, s0 = reeli_frames_to_samples(f0, fps), want = reeli_frames_to_samples(nf, fps);
    if (p.has_audio) {
        if ((ret = reeli_audio_load_bounded(path, REELI_RATE, REELI_CHANNELS, &pcm, &n, &lim)) < 0)
            goto done;
        /* the clip's sound from the first kept frame, as long as the kept frames */
        int64_t keep = n > s0 ? n - s0 : 0;
        if (keep) memmove(pcm, pcm + s0 * REELI_CHANNELS, (size_t)keep * REELI_CHANNELS * 4);
        if (!(pcm = reeli_fit_audio(pcm, keep, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
    }
    reeli_mw_opts o = {.path = out,
                       .format = "matroska",
                       .width = w0,
                       .height = h0,
                       .fps = fps,
                       .vcodec = REELI_VCODEC,
                       .sample_rate = p.has_audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (p.has_audio) reeli_mw_set_audio(w, pcm, want);
    AVFrame *f;
    for (int64_t k = 0; k < f0 + nf; k++) {
        if ((ret = reeli_vr_next(r, &f)) <= 0) {
            if (ret == 0) ret = reel_set_error(REEL_EFORMAT, "%s: ended early", path);
            goto done;
        }
        if (k < f0) continue;
        f->pts = k - f0;
        if ((ret = reeli_mw_video(w, f)) < 0) goto done;
        if ((ret = reeli_media_tick(progress, ctx, (double)(k + 1) / (f0 + nf))) < 0) goto done;
    }
    ret = reeli_mw_close(w);
    w = NULL;
done:
    reeli_mw_free(w);
    reeli_vr_free(r);
    free(pcm);
    return ret < 0 ? ret : 0;
}
