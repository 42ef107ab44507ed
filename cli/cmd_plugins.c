/* reel plugins: the generator plugins reel can find, their versions and parameters. */
#include "cli/cli.h"
#include "core/core.h"
#include "pipeline/stage.h"

#include <stdio.h>
#include <string.h>

static void print_schema(const json_t *schema)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *key;
    json_t *p;
    json_object_foreach((json_t *)props, key, p)
    {
        int required = 0;
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) required |=
            json_is_string(r) && !strcmp(json_string_value(r), key);
        char *rest = json_dumps(p, JSON_COMPACT);
        printf("    %-12s %s%s\n", key, required ? "(required) " : "", rest ? rest : "");
        free(rest);
    }
}

/* What one batch job of the plugin asks for (reel run --executor slurm), as sbatch options. */
static void print_job_resources(const json_t *res)
{
    printf("  job resources (for --executor slurm):");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)res, key, v)
    {
        if (json_is_integer(v))
            printf(" %s=%lld", key, (long long)json_integer_value(v));
        else
            printf(" %s=%s", key, json_string_value(v));
    }
    printf("%s\n  parameters:\n", json_object_size(res) ? "" : " none declared");
}

static int run(int argc, char **argv)
{
    int as_json = 0;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else if (argv[i][0] == '-')
            return reel_cli_usage("plugins", "unknown option '%s'", argv[i]);
        else if (name)
            return reel_cli_usage("plugins", "give at most one plugin name");
        else
            name = argv[i];
    }
    json_t *list = reel_stage_plugins(name);
    if (!list) return reel_cli_fail("plugins");
    if (as_json) {
        char *text = json_dumps(list, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (text) puts(text);
        free(text);
        json_decref(list);
        return REEL_EXIT_OK;
    }
    size_t i;
    json_t *p;
    int bad = 0;
    json_array_foreach(list, i, p)
    {
        const char *err = json_string_value(json_object_get(p, "error"));
        if (err) {
            printf("%-10s (cannot load: %s)\n", json_string_value(json_object_get(p, "name")), err);
            bad = 1;
            continue;
        }
        printf("%-10s %-5s %-6s %s\n", json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "version")),
               json_string_value(json_object_get(p, "kind")),
               json_string_value(json_object_get(p, "description")));
        if (name) {
            printf("  file: %s (ABI %s)\n  deterministic: %s, max concurrency: %lld\n",
                   json_string_value(json_object_get(p, "path")),
                   json_string_value(json_object_get(p, "abi")),
                   json_is_true(json_object_get(p, "deterministic")) ? "yes" : "no",
                   (long long)json_integer_value(json_object_get(p, "max_concurrency")));
            print_job_resources(json_object_get(p, "job_resources"));
            print_schema(json_object_get(p, "params_schema"));
        }
    }
    if (json_array_size(list) == 0) printf("no plugins found (set REEL_PLUGIN_PATH)\n");
    json_decref(list);
    return bad && name ? REEL_EXIT_FAIL : REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_plugins = {
    "plugins",
    "list the generator plugins (card, espeak, exec, ...) and their parameters",
    "Usage: reel plugins [NAME] [--json]\n\n"
    "Lists the generator plugins found on the search path: $REEL_PLUGIN_PATH (a colon list of\n"
    "folders), then <prefix>/lib/reel/plugins, then the build tree's plugins/ folder. Each is a\n"
    "reel-<name>.so built against plugins/reel_plugin.h; one with a different ABI major version\n"
    "is shown with the reason it cannot load.\n\n"
    "  NAME     show one plugin in full: file, ABI version, what one batch job of it asks for\n"
    "           (cpus, mem, gres, time), and every parameter with its type\n"
    "           and limits (the JSON schema the host checks a stage's parameters against)\n"
    "  --json   print the descriptions as JSON instead\n\n"
    "Example:\n"
    "  reel plugins            # card 1.1 video animatic card ..., espeak 1.0 audio ...\n"
    "  reel plugins exec       # the exec plugin's argv template parameters\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_plugins)
