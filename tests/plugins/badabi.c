/* A plugin built against a future ABI major version: the host must refuse it by name. */
#include "plugins/reel_plugin.h"

static int generate(void *state, const char *params, const reel_plugin_sink *sink)
{
    (void)state;
    (void)params;
    (void)sink;
    return REEL_PLUGIN_EFATAL;
}

static const reel_plugin_caps caps = {.struct_size = sizeof caps,
                                      .kind = REEL_PLUGIN_KIND_AUDIO,
                                      .name = "badabi",
                                      .version = "9.9",
                                      .description = "wrong ABI",
                                      .params_schema = "{\"type\":\"object\"}"};
static const reel_plugin table = {
    .api_version = (uint32_t)((REEL_PLUGIN_API_VERSION_MAJOR + 1) << 16 | 3),
    .struct_size = sizeof table,
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
