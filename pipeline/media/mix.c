/* The mix operation: sums audio tracks with gains, optionally ducks the other inputs under a
 * voice input and normalises the RMS level. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/ops-impl.h"

static double db_to_gain(double db)
{
    return pow(10.0, db / 20.0);
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
    double voice = 0, amount = -12, thresh = -40, attack = 0.05, release = 0.4, norm = 0;
    if (json_is_object(duck)) {
        if (reeli_num_param(duck, "voice", 0, 0, (double)n - 1, "duck.", &voice) < 0 ||
            reeli_num_param(duck, "amount_db", -12, -60, 0, "duck.", &amount) < 0 ||
            reeli_num_param(duck, "threshold_db", -40, -90, 0, "duck.", &thresh) < 0 ||
            reeli_num_param(duck, "attack_s", 0.05, 0.001, 5, "duck.", &attack) < 0 ||
            reeli_num_param(duck, "release_s", 0.4, 0.001, 10, "duck.", &release) < 0)
            return REEL_EINVAL;
    }
    const json_t *nv = json_object_get(params, "normalize_db");
    if (nv && reeli_num_param(params, "normalize_db", -16, -60, 0, "", &norm) < 0)
        return REEL_EINVAL;

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
    reeli_mw_opts o = {.path = out,
                       .format = "wav",
                       .sample_rate = REELI_RATE,
                       .channels = REELI_CHANNELS,
                       .acodec = "pcm_s16le"};
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
