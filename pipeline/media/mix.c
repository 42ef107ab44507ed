/* The mix operation: sums audio tracks with gains, optionally ducks the other inputs under a
 * voice input (libavfilter's sidechaincompress) and brings the result to a loudness target
 * (EBU R128 by ebur128 + loudnorm, media/loudness.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

/* Adds src (len frames) times gain into dst: a multiply-add, which no filter does better. */
static void add_scaled(float *dst, const float *src, int64_t len, double gain)
{
    for (int64_t k = 0; k < len * REELI_CHANNELS; k++) dst[k] += (float)(src[k] * gain);
}

int reeli_media_mix(const char *const *inputs, size_t n, const json_t *params, const char *out)
{
    if (n == 0) return reel_set_error(REEL_EINVAL, "needs at least one input");
    const json_t *gains = json_object_get(params, "gains");
    if (gains && (!json_is_array(gains) || json_array_size(gains) != n))
        return reel_set_error(
            REEL_EINVAL, "parameter 'gains': must be an array of %zu numbers (one per input)", n);
    for (size_t i = 0; gains && i < n; i++) {
        const json_t *g = json_array_get(gains, i);
        if (!json_is_number(g) || json_number_value(g) < 0 || json_number_value(g) > 16)
            return reel_set_error(REEL_EINVAL, "parameter 'gains[%zu]': must be a number 0..16", i);
    }
    const json_t *duck = json_object_get(params, "duck");
    if (duck && !json_is_object(duck) && !json_is_false(duck))
        return reel_set_error(REEL_EINVAL, "parameter 'duck': must be an object or false");
    double voice = 0, amount = -12, thresh = -30, ratio = 8, attack = 0.02, release = 0.3;
    if (json_is_object(duck)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)duck, key, v)
        {
            static const char *const known[] = {
                "voice", "amount_db", "threshold_db", "ratio", "attack_s", "release_s", NULL};
            int ok = 0;
            for (int i = 0; known[i]; i++) ok |= !strcmp(known[i], key);
            if (!ok) return reel_set_error(REEL_EINVAL, "parameter 'duck.%s': unknown", key);
        }
        if (reeli_num_param(duck, "voice", 0, 0, (double)n - 1, "duck.", &voice) < 0 ||
            reeli_num_param(duck, "amount_db", -12, -60, 0, "duck.", &amount) < 0 ||
            reeli_num_param(duck, "threshold_db", -30, -60, 0, "duck.", &thresh) < 0 ||
            reeli_num_param(duck, "ratio", 8, 1, 20, "duck.", &ratio) < 0 ||
            reeli_num_param(duck, "attack_s", 0.02, 0.0001, 2, "duck.", &attack) < 0 ||
            reeli_num_param(duck, "release_s", 0.3, 0.01, 9, "duck.", &release) < 0)
            return REEL_EINVAL;
    }
    double norm = -14, tp = -1;
    const json_t *nv = json_object_get(params, "normalize_db");
    if (nv && reeli_num_param(params, "normalize_db", -14, -70, -5, "", &norm) < 0)
        return REEL_EINVAL;
    if (reeli_num_param(params, "true_peak_db", -1, -9, 0, "", &tp) < 0) return REEL_EINVAL;

    float **pcm = reel_xcalloc(n, sizeof *pcm);
    int64_t *len = reel_xcalloc(n, sizeof *len), total = 0;
    float *mixv = NULL, *bed = NULL, *ducked = NULL;
    json_t *words = NULL, *meta = NULL;
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        if ((ret = reeli_audio_load(inputs[i], REELI_RATE, REELI_CHANNELS, &pcm[i], &len[i])) < 0) {
            reel_error_prefix("input %zu", i + 1);
            goto done;
        }
        if (len[i] > total) total = len[i];
    }
    mixv = calloc((size_t)total + 1, REELI_CHANNELS * sizeof(float));
    bed = calloc((size_t)total + 1, REELI_CHANNELS * sizeof(float));
    if (!mixv || !bed) {
        ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
        goto done;
    }
    size_t vi = (size_t)voice;
    int ducking = json_is_object(duck) && n > 1;
    /* the voice (when ducking) goes straight to the mix; everything else into the bed */
    for (size_t i = 0; i < n; i++) {
        double gain = gains ? json_number_value(json_array_get(gains, i)) : 1.0;
        add_scaled(ducking && i == vi ? mixv : bed, pcm[i], len[i], gain);
    }
    if (ducking) {
        /* sidechaincompress lowers the bed while the voice (the side chain) is above the
         * threshold; its wet/dry mix keeps a floor of amount_db under the dry bed. Both inputs
         * are as long as the mix: the filter ends with the shorter one. */
        double gain = gains ? json_number_value(json_array_get(gains, vi)) : 1.0;
        float *side = calloc((size_t)total + 1, REELI_CHANNELS * sizeof(float));
        if (!side) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        add_scaled(side, pcm[vi], len[vi], gain);
        char desc[300];
        snprintf(desc, sizeof desc,
                 "[in0][in1]sidechaincompress=threshold=%.6f:ratio=%.3f:attack=%.3f:"
                 "release=%.3f:mix=%.6f",
                 pow(10, thresh / 20), ratio, attack * 1000, release * 1000,
                 1 - pow(10, amount / 20));
        const float *src[2] = {bed, side};
        int64_t lens[2] = {total, total}, got = 0;
        ret = reeli_fg_audio_run(desc, 2, src, lens, &ducked, &got, NULL);
        free(side);
        if (ret < 0) {
            reel_error_prefix("ducking");
            goto done;
        }
        if (!(ducked = reeli_fit_audio(ducked, got, total))) {
            ret = reel_set_error(REEL_ENOMEM, "out of memory for audio");
            goto done;
        }
        add_scaled(mixv, ducked, total, 1.0);
    } else {
        add_scaled(mixv, bed, total, 1.0);
    }
    if (nv && (ret = reeli_loudnorm(&mixv, total, norm, tp)) < 0) goto done;
    /* the narration's word timings stay with the mix */
    words = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *wi = reeli_words_load(inputs[i]);
        if (wi) reeli_words_add(words, wi, 0, (double)total / REELI_RATE);
        json_decref(wi);
    }
    meta = reeli_words_metadata(words);
    reeli_mw_opts o = {.path = out,
                       .format = "wav",
                       .sample_rate = REELI_RATE,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le",
                       .metadata = meta};
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
    free(bed);
    free(ducked);
    json_decref(words);
    json_decref(meta);
    return ret < 0 ? ret : 0;
}
