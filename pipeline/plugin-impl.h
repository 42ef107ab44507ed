/* reel pipeline: private header of the plugin host (plugin_host.c): loading generator plugins,
 * listing them, running one, and the JSON Schema subset their parameters are checked with. */
#ifndef REEL_PIPELINE_PLUGIN_IMPL_H
#define REEL_PIPELINE_PLUGIN_IMPL_H

#include <jansson.h>

#include "plugins/reel_plugin.h"

typedef struct reeli_plugin reeli_plugin;

/* Finds and loads reel-<name>.so (REEL_PLUGIN_PATH, then the install folder, then the build
 * folder); loaded plugins stay loaded until exit. Thread-safe. Returns NULL + error. */
const reeli_plugin *reeli_plugin_get(const char *name);
const reel_plugin_caps *reeli_plugin_caps(const reeli_plugin *p);
/* "card 1.0" */
const char *reeli_plugin_version(const reeli_plugin *p);

/* JSON array describing the plugins on the search path (or only `only`; NULL + error if it
 * cannot be loaded): name, version, kind, description, path, abi, limits, params_schema;
 * plugins that fail to load carry an "error" member instead. Owned by the caller. */
json_t *reeli_plugin_list(const char *only);

/* Runs the plugin with params (the stage params minus "plugin"), writing the kind's
 * intermediate file to out. *result receives the plugin's result JSON (or NULL). progress
 * (may be NULL) gets [0,1] and returns non-zero to cancel. */
int reeli_plugin_run(const reeli_plugin *p, const char *stage_kind, const json_t *params,
                     const char *out, json_t **result, int (*progress)(void *ctx, double fraction),
                     void *ctx);

/* Checks v against a JSON Schema with reel_json_schema_validate, the validator of plans and
 * generations (objects allow no property beyond 'properties' unless 'additionalProperties' says
 * so; lengths in code points). On failure sets REEL_EINVAL with "parameter 'a.b[1]': why" (or
 * "parameters: why" for the object itself). schema_text is parsed each call. */
int reeli_schema_validate(const char *schema_text, const json_t *v);

/* The host table's HTTP services (plugin_http.c, over core/http.c): reel_plugin_host.http and
 * .http_hostport, as documented in plugins/reel_plugin.h. */
int reeli_plugin_http(const char *method, const char *url, const char *content_type,
                      const char *body, size_t body_len, double timeout_s,
                      int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                      long *status, char *msg, size_t msg_size);
int reeli_plugin_http_hostport(const char *url, char *out, size_t out_size);

#endif
