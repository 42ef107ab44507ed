/* reel plugin "tone": a sine tone as an audio bed (test signal, hum, placeholder music).
 * Parameters: frequency (Hz), amplitude (0..1), duration_s, sample_rate, fade_s (linear fade in
 * and out so that the bed does not click). Output: mono float PCM. Deterministic. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"duration_s\"],"
    "\"properties\":{"
    "\"frequency\":{\"type\":\"number\",\"minimum\":1,\"maximum\":20000},"
    "\"amplitude\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.001,\"maximum\":3600},"
    "\"sample_rate\":{\"type\":\"integer\",\"minimum\":8000,\"maximum\":192000},"
    "\"fade_s\":{\"type\":\"number\",\"minimum\":0,\"maximum\":60}}}";

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    double freq = json_number_value(json_object_get(p, "frequency"));
    double amp =
        json_object_get(p, "amplitude") ? json_number_value(json_object_get(p, "amplitude")) : 0.2;
    double dur = json_number_value(json_object_get(p, "duration_s"));
    json_int_t rate = json_object_get(p, "sample_rate")
                          ? json_integer_value(json_object_get(p, "sample_rate"))
                          : 48000;
    double fade =
        json_object_get(p, "fade_s") ? json_number_value(json_object_get(p, "fade_s")) : 0.01;
    json_decref(p);
    if (freq <= 0) freq = 440;
    if (freq * 2 > (double)rate) {
        s->error(s->host, "parameter 'frequency': above half the sample rate");
        return REEL_PLUGIN_EINVAL;
    }
    int rc = s->audio_begin(s->host, (int32_t)rate, 1, REEL_PLUGIN_SAMPLE_F32);
    int64_t total = llround(dur * (double)rate), nfade = llround(fade * (double)rate);
    if (nfade * 2 > total) nfade = total / 2;
    float buf[4096];
    for (int64_t i = 0; rc == 0 && i < total;) {
        int n = 0;
        for (; n < 4096 && i < total; n++, i++) {
            double g = amp;
            if (i < nfade) g *= (double)i / nfade;
            if (total - 1 - i < nfade) g *= (double)(total - 1 - i) / nfade;
            buf[n] = (float)(g * sin(2 * M_PI * freq * (double)i / (double)rate));
        }
        rc = s->audio_samples(s->host, buf, n);
        if (rc == 0 && (i & 0xffff) < 4096) rc = s->progress(s->host, (double)i / total);
    }
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_AUDIO,
    .name = "tone",
    .version = "1.0",
    .description = "sine tone audio bed (frequency, amplitude, duration, sample rate)",
    .params_schema = schema,
    .max_duration_s = 3600,
    .deterministic = 1,
    .job_cpus = 1,
    .job_mem = "512M",
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
