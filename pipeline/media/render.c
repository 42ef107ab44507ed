/* The render operation: the final film (H.264/AAC in MP4 or VP9/Opus in WebM) with subtitles
 * and provenance tags, its sound brought to a delivery loudness (EBU R128), verified by
 * decoding it in full. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

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
    int fit;
    if (reeli_parse_fit(params, &fit) < 0) return REEL_EINVAL;
    double crf = 0;
    if (reeli_num_param(params, "crf", webm ? 32 : 20, 0, 63, "", &crf) < 0) return REEL_EINVAL;
    if (!webm && crf > 51)
        return reel_set_error(REEL_EINVAL, "parameter 'crf': must be 0..51 for H.264");
    /* delivery loudness (EBU R128): a number of LUFS, or false to keep the level as mixed */
    const json_t *lv = json_object_get(params, "loudness");
    double lufs = -14, tp = -1;
    if (lv && !json_is_false(lv) &&
        reeli_num_param(params, "loudness", -14, -70, -5, "", &lufs) < 0)
        return reel_set_error(REEL_EINVAL,
                              "parameter 'loudness': must be a target in LUFS (-70..-5) or false");
    if (reeli_num_param(params, "true_peak_db", -1, -9, 0, "", &tp) < 0) return REEL_EINVAL;
    const json_t *meta = json_object_get(params, "metadata");
    if (meta && !json_is_object(meta))
        return reel_set_error(REEL_EINVAL, "parameter 'metadata': must be an object");
    const char *preset = reel_json_str(params, "preset", "veryfast");
    static const char *const presets[] = {"ultrafast", "superfast", "veryfast", "faster",   "fast",
                                          "medium",    "slow",      "slower",   "veryslow", NULL};
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
    reeli_vr_fit(r, fit);
    int64_t nf = reeli_vr_frames(r);
    float *pcm = NULL;
    int64_t n = 0;
    reeli_cue *cues = NULL;
    size_t nc = 0;
    reeli_mw *w = NULL;
    json_t *tags = json_object();
    int audio = reeli_has_audio(input), ret = 0;
    if (audio) {
        if ((ret = reeli_audio_load(input, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0) goto done;
        int64_t want = reeli_frames_to_samples(nf, fps);
        if (!(pcm = reeli_fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
        if (!json_is_false(lv) && (ret = reeli_loudnorm(&pcm, n, lufs, tp)) < 0) goto done;
    }
    if ((ret = reeli_subs_load(input, &cues, &nc)) < 0) goto done;
    /* every cue inside the film and one at a time (mov_text cannot overlap them) */
    reeli_cues_tidy(cues, &nc, (double)nf * fps.den / fps.num);

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
    reeli_mw_opts o = {.path = out,
                       .format = webm ? "webm" : "mp4",
                       .width = W,
                       .height = H,
                       .fps = fps,
                       .vcodec = webm ? "libvpx-vp9" : "libx264",
                       .crf = (int)crf,
                       .preset = preset,
                       .sample_rate = audio ? REELI_RATE : 0,
                       .channels = REELI_CHANNELS,
                       .acodec = webm ? "libopus" : "aac",
                       .cues = cues,
                       .n_cues = nc,
                       .scodec = nc ? (webm ? "webvtt" : "mov_text") : NULL,
                       .metadata = tags};
    if (!(w = reeli_mw_open(&o))) {
        ret = reel_last_error_code();
        goto done;
    }
    if (audio) reeli_mw_set_audio(w, pcm, n);
    AVFrame *f;
    while ((ret = reeli_vr_next(r, &f)) > 0) {
        if ((ret = reeli_mw_video(w, f)) < 0) goto done;
        if ((ret = reeli_media_tick(progress, ctx, 0.95 * (double)(f->pts + 1) / nf)) < 0)
            goto done;
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
    ret = reeli_media_tick(progress, ctx, 1.0);
done:
    json_decref(tags);
    reeli_mw_free(w);
    reeli_vr_free(r);
    free(pcm);
    reeli_cues_free(cues, nc);
    return ret < 0 ? ret : 0;
}
