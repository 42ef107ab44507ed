/* A plugin whose capability descriptor declares malformed job resources: the host must refuse
 * it, naming the plugin and the field. */
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
                                      .name = "badres",
                                      .version = "1.0",
                                      .description = "malformed job resources",
                                      .params_schema = "{\"type\":\"object\"}",
                                      .job_cpus = 1,
                                      .job_mem = "lots of it"};
static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof table,
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
