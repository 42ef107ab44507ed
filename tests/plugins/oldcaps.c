/* A plugin built against ABI 1.2, whose capability descriptor ends before the job resources
 * of 1.3: the host must load it and read no resources, whatever lies past its struct_size
 * (here malformed values that would be refused if they were read). */
#include <stddef.h>

#include "plugins/reel_plugin.h"

static int generate(void *state, const char *params, const reel_plugin_sink *sink)
{
    (void)state;
    (void)params;
    (void)sink;
    return REEL_PLUGIN_EFATAL;
}

static const reel_plugin_caps caps = {.struct_size = offsetof(reel_plugin_caps, job_cpus),
                                      .kind = REEL_PLUGIN_KIND_AUDIO,
                                      .name = "oldcaps",
                                      .version = "1.0",
                                      .description = "an ABI 1.2 descriptor",
                                      .params_schema = "{\"type\":\"object\"}",
                                      .job_cpus = -5,
                                      .job_mem = "not read"};
static const reel_plugin table = {
    .api_version = (uint32_t)(REEL_PLUGIN_API_VERSION_MAJOR << 16 | 2),
    .struct_size = sizeof table,
    .caps = &caps,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *host)
{
    (void)host;
    return &table;
}
