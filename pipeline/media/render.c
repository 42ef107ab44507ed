/* The render operation: the final film (H.264/AAC in MP4 or VP9/Opus in WebM) with subtitles
 * and provenance tags, its sound brought to a delivery loudness (EBU R128), verified by reading
 * it back (every frame's packet, its first picture and its sound). */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

/* The film's pictures: one input read, or several joined (params.join). */
typedef struct source {
    reeli_vr *r;
    reeli_join *j;
} source;

static int source_open(source *s, const char *const *inputs, size_t n, const json_t *join, int W,
                       int H, AVRational fps, int fit)
{
    if (join) {
        s->j = reeli_join_open(inputs, n, join, W, H, fps, fit);
        if (!s->j) reel_error_prefix("parameter 'join'");
        return s->j ? 0 : reel_last_error_code();
    }
    if (!(s->r = reeli_vr_open(inputs[0], W, H, fps))) return reel_last_error_code();
    reeli_vr_fit(s->r, fit);
    return 0;
}

static void source_close(source *s)
{
    reeli_vr_free(s->r);
    reeli_join_free(s->j);
    s->r = NULL;
    s->j = NULL;
}

int reeli_media_render(const char *const *inputs, size_t n_inputs, const json_t *params,
                       const char *out, json_t **result, reeli_progress_fn progress, void *ctx)
{
    const json_t *join = json_object_get(params, "join");
    if (join && !json_is_object(join))
        return reel_set_error(REEL_EINVAL, "parameter 'join': must be an object");
    if (!join && n_inputs != 1)
        return reel_set_error(REEL_EINVAL, "takes 1 input without 'join', got %zu", n_inputs);
    const char *input = inputs[0];
    const char *format = reel_json_str(params, "format", "mp4");
    if (!json_is_string(json_object_get(params, "format")) && json_object_get(params, "format"))
        format = "";
    int webm = !strcmp(format, "webm");
    if (!webm && strcmp(format, "mp4"))
        return reel_set_error(REEL_EINVAL, "parameter 'format': must be \"mp4\" or \"webm\"");
    int W, H, fit;
    AVRational fps;
    if (reeli_parse_geometry(params, &W, &H, &fps, &fit) < 0) return REEL_EINVAL;
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

    source src = {0};
    int ret = source_open(&src, inputs, n_inputs, join, W, H, fps, fit);
    if (ret < 0) return ret;
    int64_t nf;
    if (src.j) {
        reeli_join_geometry(src.j, &W, &H, &fps, &nf);
    } else {
        reeli_vr_geometry(src.r, &W, &H, &fps);
        nf = reeli_vr_frames(src.r);
    }
    if ((W & 1) || (H & 1)) {
        source_close(&src);
        W = (W + 1) & ~1;
        H = (H + 1) & ~1;
        if ((ret = source_open(&src, inputs, n_inputs, join, W, H, fps, fit)) < 0) return ret;
    }
    float *pcm = NULL;
    int64_t n = 0;
    reeli_cue *cues = NULL;
    size_t nc = 0;
    reeli_mw *w = NULL;
    json_t *tags = json_object();
    int audio = 0;
    if (src.j) {
        if ((ret = reeli_join_audio(src.j, &pcm, &n)) < 0) goto done;
        audio = pcm != NULL;
    } else if ((audio = reeli_has_audio(input))) {
        if ((ret = reeli_audio_load(input, REELI_RATE, REELI_CHANNELS, &pcm, &n)) < 0) goto done;
    }
    if (audio) {
        int64_t want = reeli_frames_to_samples(nf, fps);
        if (!(pcm = reeli_fit_audio(pcm, n, want))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        n = want;
        if (!json_is_false(lv) && (ret = reeli_loudnorm(&pcm, n, lufs, tp)) < 0) goto done;
    }
    /* a join carries no subtitles (a concat writes none) */
    if (!src.j && (ret = reeli_subs_load(input, &cues, &nc)) < 0) goto done;
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
    if (src.j) {
        if ((ret = reeli_join_write(src.j, w, progress, ctx)) < 0) goto done;
    } else {
        AVFrame *f;
        while ((ret = reeli_vr_next(src.r, &f)) > 0) {
            if ((ret = reeli_mw_video(w, f)) < 0) goto done;
            if ((ret = reeli_media_tick(progress, ctx, 0.95 * (double)(f->pts + 1) / nf)) < 0)
                goto done;
        }
        if (ret < 0) goto done;
    }
    ret = reeli_mw_close(w);
    w = NULL;
    if (ret < 0) goto done;

    /* Verify the result as written: every frame's packet there, the first picture and the
     * whole sound decoding. (Decoding every picture again cost a seventh of a 720p render.) */
    reeli_probe p;
    if ((ret = reeli_media_probe(out, REELI_PROBE_PACKETS, &p)) < 0) {
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
    if (ret == 0 && result && src.j && reeli_join_notice(src.j)) {
        *result = json_object();
        json_object_set_new(*result, "notice", json_string(reeli_join_notice(src.j)));
    }
done:
    json_decref(tags);
    reeli_mw_free(w);
    source_close(&src);
    free(pcm);
    reeli_cues_free(cues, nc);
    return ret < 0 ? ret : 0;
}
