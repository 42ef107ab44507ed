/* The audio-file operation (reel.audio{path=}): a music bed or sound from a file, decoded
 * within bounds, then trimmed, looped and faded by libavfilter (atrim, aloop, afade) into the
 * PCM WAV intermediate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

void reeli_media_limits_file(reeli_media_limits *lim, const char *formats)
{
    memset(lim, 0, sizeof *lim);
    lim->formats = formats;
    lim->max_width = REELI_MAX_DIM;
    lim->max_height = REELI_MAX_DIM;
    lim->max_duration_s = REELI_MAX_DURATION_S;
    lim->max_frames = (int64_t)(REELI_MAX_DURATION_S * REELI_MAX_FPS) + 1;
    snprintf(lim->asked, sizeof lim->asked, "a media file of at most %.0f hours",
             REELI_MAX_DURATION_S / 3600);
}

int reeli_media_audio_file(const json_t *params, const char *out)
{
    const char *path = reel_json_str(params, "path", NULL);
    if (!path) return reel_set_error(REEL_EINVAL, "parameter 'path': required (a file)");
    double start, dur, fin, fout, gain;
    if (reeli_num_param(params, "start_s", 0, 0, REELI_MAX_DURATION_S, "", &start) < 0 ||
        reeli_num_param(params, "duration_s", 0, 0, REELI_MAX_DURATION_S, "", &dur) < 0 ||
        reeli_num_param(params, "fade_in_s", 0, 0, 600, "", &fin) < 0 ||
        reeli_num_param(params, "fade_out_s", 0, 0, 600, "", &fout) < 0 ||
        reeli_num_param(params, "gain", 1, 0, 16, "", &gain) < 0)
        return REEL_EINVAL;
    const json_t *lv = json_object_get(params, "loop");
    if (lv && !json_is_boolean(lv))
        return reel_set_error(REEL_EINVAL, "parameter 'loop': must be true or false");
    reeli_media_limits lim;
    reeli_media_limits_file(&lim, REELI_FORMATS_AUDIO);
    float *pcm;
    int64_t n;
    int ret = reeli_audio_load_bounded(path, REELI_RATE, REELI_CHANNELS, &pcm, &n, &lim);
    if (ret < 0) return ret;
    int64_t s0 = llround(start * REELI_RATE);
    if (s0 >= n) {
        free(pcm);
        return reel_set_error(REEL_EINVAL,
                              "parameter 'start_s': %.2f s is past the end of %s (%.2f s)", start,
                              path, (double)n / REELI_RATE);
    }
    /* the piece from start_s; looped to duration_s when asked; faded at both ends */
    int64_t piece = n - s0, want = dur > 0 ? llround(dur * REELI_RATE) : piece;
    if (want > piece && !json_is_true(lv)) want = piece; /* not looped: as long as it lasts */
    char desc[512];
    int l =
        snprintf(desc, sizeof desc, "[in0]atrim=start_sample=%lld,asetpts=N/SR/TB", (long long)s0);
    if (want > piece)
        l += snprintf(desc + l, sizeof desc - l, ",aloop=loop=-1:size=%lld", (long long)piece);
    l += snprintf(desc + l, sizeof desc - l, ",atrim=end_sample=%lld", (long long)want);
    if (gain != 1) l += snprintf(desc + l, sizeof desc - l, ",volume=%.6f", gain);
    double len_s = (double)want / REELI_RATE;
    if (fin > 0) l += snprintf(desc + l, sizeof desc - l, ",afade=t=in:d=%.6f", fmin(fin, len_s));
    if (fout > 0)
        snprintf(desc + l, sizeof desc - l, ",afade=t=out:st=%.6f:d=%.6f", fmax(0, len_s - fout),
                 fmin(fout, len_s));
    float *o = NULL;
    int64_t no = 0;
    const float *in = pcm;
    ret = reeli_fg_audio_run(desc, 1, &in, &n, &o, &no, NULL);
    free(pcm);
    if (ret < 0) return ret;
    if (!(o = reeli_fit_audio(o, no, want))) return reel_set_error(REEL_ENOMEM, "out of memory");
    reeli_mw_opts mo = {.path = out,
                        .format = "wav",
                        .sample_rate = REELI_RATE,
                        .channels = REELI_CHANNELS,
                        .acodec = "pcm_s16le"};
    reeli_mw *w = reeli_mw_open(&mo);
    if (!w) {
        free(o);
        return reel_last_error_code();
    }
    reeli_mw_set_audio(w, o, want);
    ret = reeli_mw_close(w);
    free(o);
    return ret;
}
