/* Loudness by EBU R128 through libavfilter: measured by the `ebur128` filter, normalised by
 * `loudnorm` given those measurements (its two-pass use: linear gain when the true-peak
 * ceiling allows it, loudnorm's dynamic mode otherwise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "pipeline/media/ops-impl.h"

int reeli_loudness(const float *pcm, int64_t n, double *lufs, double *true_peak_db, double *lra)
{
    float *o = NULL;
    int64_t no;
    AVDictionary *meta = NULL;
    int ret = reeli_fg_audio_run("[in0]ebur128=metadata=1:peak=true", 1, &pcm, &n, &o, &no, &meta);
    free(o);
    if (ret < 0) return ret;
    const AVDictionaryEntry *e = av_dict_get(meta, "lavfi.r128.I", NULL, 0);
    *lufs = e ? atof(e->value) : -70;
    if (lra) {
        e = av_dict_get(meta, "lavfi.r128.LRA", NULL, 0);
        *lra = e ? atof(e->value) : 0;
    }
    if (true_peak_db) {
        /* the filter keeps per-channel linear true peaks */
        double tp = 0;
        for (int c = 0; c < REELI_CHANNELS; c++) {
            char key[48];
            snprintf(key, sizeof key, "lavfi.r128.true_peaks_ch%d", c);
            if ((e = av_dict_get(meta, key, NULL, 0)) && atof(e->value) > tp) tp = atof(e->value);
        }
        *true_peak_db = tp > 0 ? 20 * log10(tp) : -144;
    }
    av_dict_free(&meta);
    return 0;
}

int reeli_loudnorm(float **pcm, int64_t n, double target_i, double target_tp)
{
    double i, tp, lra;
    int ret = reeli_loudness(*pcm, n, &i, &tp, &lra);
    if (ret < 0) return ret;
    /* silence (or under the absolute gate) has no loudness to bring anywhere */
    if (i <= -69) return 0;
    char desc[400];
    /* measured_thresh: the relative gate, 10 LU under the integrated loudness (R128) */
    snprintf(desc, sizeof desc,
             "[in0]loudnorm=I=%.2f:TP=%.2f:LRA=11:measured_I=%.2f:measured_TP=%.2f:"
             "measured_LRA=%.2f:measured_thresh=%.2f:offset=0:linear=true",
             target_i, target_tp, i, tp > -99 ? tp : -99, lra, i - 10);
    float *out = NULL;
    int64_t no = 0;
    const float *in = *pcm;
    if ((ret = reeli_fg_audio_run(desc, 1, &in, &n, &out, &no, NULL)) < 0) {
        reel_error_prefix("loudness normalisation");
        return ret;
    }
    /* loudnorm works at 192 kHz: the way back may differ by a few samples */
    if (!(out = reeli_fit_audio(out, no, n))) return reel_set_error(REEL_ENOMEM, "out of memory");
    REEL_LOGD("loudness: %.1f LUFS, true peak %.1f dBTP -> target %.1f LUFS, %.1f dBTP", i, tp,
              target_i, target_tp);
    free(*pcm);
    *pcm = out;
    return 0;
}
