/* reel plugin "silence": digital silence of a given length, as a bed or a spacer.
 * Parameters: duration_s, sample_rate, channels (1 or 2). Output: s16 PCM. Deterministic. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"duration_s\"],"
    "\"properties\":{"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.001,\"maximum\":3600},"
    "\"sample_rate\":{\"type\":\"integer\",\"minimum\":8000,\"maximum\":192000},"
    "\"channels\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":2}}}";

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    double dur = json_number_value(json_object_get(p, "duration_s"));
    json_int_t rate = json_object_get(p, "sample_rate")
                          ? json_integer_value(json_object_get(p, "sample_rate"))
                          : 48000;
    json_int_t ch =
        json_object_get(p, "channels") ? json_integer_value(json_object_get(p, "channels")) : 2;
    json_decref(p);
    int rc = s->audio_begin(s->host, (int32_t)rate, (int32_t)ch, REEL_PLUGIN_SAMPLE_S16);
    int16_t zero[2 * 2048];
    memset(zero, 0, sizeof zero);
    int64_t total = llround(dur * (double)rate);
    for (int64_t i = 0; rc == 0 && i < total; i += 2048)
        rc = s->audio_samples(s->host, zero, total - i < 2048 ? total - i : 2048);
    return rc;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_AUDIO,
    .name = "silence",
    .version = "1.0",
    .description = "silence (duration, sample rate, channels)",
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
