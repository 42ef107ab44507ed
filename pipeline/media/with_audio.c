/* The with_audio operation: a video with the audio of another input. The narration drives the
 * shot: a shot shorter than its audio (plus a pad) is held on its last picture until the
 * audio is done, unless the script asks to trim, and then the cut is reported. */
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "pipeline/media/ops-impl.h"

int reeli_narrated_frames(int64_t nf, AVRational fps, const char *audio, const json_t *params,
                          int64_t *frames, char **notice)
{
    *frames = nf;
    *notice = NULL;
    const json_t *tv = json_object_get(params, "trim");
    if (tv && !json_is_boolean(tv))
        return reel_set_error(REEL_EINVAL, "parameter 'trim': must be true or false");
    double pad;
    if (reeli_num_param(params, "pad_s", 0.5, 0, 10, "", &pad) < 0) return REEL_EINVAL;
    reeli_probe p;
    if (reeli_media_probe(audio, 0, &p) < 0) return reel_error_prefix("%s", audio);
    double shot_s = (double)nf * fps.den / fps.num, audio_s = p.duration_s > 0 ? p.duration_s : 0;
    if (audio_s > shot_s && json_is_true(tv)) {
        *notice = reel_xasprintf("narration of %.2f s cut to the shot's %.2f s (trim = true)",
                                 audio_s, shot_s);
        REEL_LOGD("with_audio: %s", *notice);
    } else if (audio_s + pad > shot_s && !json_is_true(tv)) {
        *frames = (int64_t)ceil((audio_s + pad) * fps.num / fps.den - 1e-9);
        REEL_LOGI("with_audio: shot held from %.2f s to %.2f s for its narration", shot_s,
                  (double)*frames * fps.den / fps.num);
    }
    return 0;
}

int reeli_media_with_audio(const char *video, const char *audio, const json_t *params,
                           const char *out, json_t **result, reeli_progress_fn progress, void *ctx)
{
    reeli_vr *r = reeli_vr_open(video, 0, 0, (AVRational){0, 0});
    if (!r) return reel_error_prefix("input 1");
    int W, H;
    AVRational fps;
    reeli_vr_geometry(r, &W, &H, &fps);
    int64_t nf = reeli_vr_frames(r), frames;
    reeli_vr_free(r);
    char *notice;
    int ret = reeli_narrated_frames(nf, fps, audio, params, &frames, &notice);
    if (ret < 0) return ret;
    if (notice && result) {
        *result = json_object();
        json_object_set_new(*result, "notice", json_string(notice));
    }
    free(notice);
    reeli_cue *cues;
    size_t nc;
    if ((ret = reeli_subs_load(video, &cues, &nc)) < 0) return ret;
    json_t *words = json_array(), *aw = reeli_words_load(audio);
    if (aw) reeli_words_add(words, aw, 0, (double)frames * fps.den / fps.num);
    json_t *meta = reeli_words_metadata(words);
    reeli_remux_opts o = {.video = video,
                          .audio_src = audio,
                          .cues = cues,
                          .n_cues = nc,
                          .metadata = meta,
                          .frames = frames};
    ret = reeli_remux(&o, out, progress, ctx);
    json_decref(aw);
    json_decref(words);
    json_decref(meta);
    reeli_cues_free(cues, nc);
    return ret;
}
