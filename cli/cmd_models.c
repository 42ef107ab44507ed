/* reel models: list the local model store, remove from it, resolve a reference to a path. */
#include "cli/cli.h"
#include "core/core.h"
#include "core/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int list(int json)
{
    char *root = reel_store_root();
    if (!root) return reel_cli_fail("models");
    reel_store_item *items;
    size_t n;
    if (reel_store_list(root, &items, &n) < 0) {
        free(root);
        return reel_cli_fail("models");
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            char *path = reel_xasprintf("%s/%s/%s", root, items[i].repo, items[i].file);
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:b}", "repo", items[i].repo,
                                               "file", items[i].file, "path", path, "size",
                                               (json_int_t)items[i].size, "partial",
                                               items[i].partial));
            free(path);
        }
        char *text = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text ? text : "[]");
        free(text);
        json_decref(a);
    } else if (n == 0) {
        printf("The model store (%s) is empty.\nGet the default model with: reel pull\n", root);
    } else {
        char s[32];
        uint64_t total = 0;
        printf("%s\n", root);
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || strcmp(items[i].repo, items[i - 1].repo) != 0)
                printf("  %s\n", items[i].repo);
            printf("    %-52s %10s%s\n", items[i].file,
                   reel_format_bytes((double)items[i].size, s, sizeof s),
                   items[i].partial ? "  (unfinished download: reel pull resumes it)" : "");
            total += items[i].size;
        }
        printf("%zu file%s, %s\n", n, n == 1 ? "" : "s",
               reel_format_bytes((double)total, s, sizeof s));
    }
    reel_store_items_free(items, n);
    free(root);
    return REEL_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int json = 0;
    const char *verb = NULL, *ref = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json"))
            json = 1;
        else if (a[0] == '-' && a[1])
            return reel_cli_usage("models", "unknown option '%s'", a);
        else if (!verb)
            verb = a;
        else if (!ref)
            ref = a;
        else
            return reel_cli_usage("models", "one model at a time ('%s' and '%s')", ref, a);
    }
    if (!verb || !strcmp(verb, "list") || !strcmp(verb, "ls")) {
        if (ref) return reel_cli_usage("models", "'list' takes no model");
        return list(json);
    }
    if (strcmp(verb, "rm") != 0 && strcmp(verb, "path") != 0)
        return reel_cli_usage("models", "unknown action '%s' (list, rm or path)", verb);
    if (!ref) return reel_cli_usage("models", "%s needs a model: OWNER/REPO[:QUANT|:FILE]", verb);
    reel_model_ref check;
    if (reel_model_ref_parse(ref, &check) < 0)
        return reel_cli_usage("models", "%s", reel_last_error());
    reel_model_ref_free(&check);
    if (!strcmp(verb, "path")) {
        char *path;
        if (reel_store_resolve(ref, &path) < 0) return reel_cli_fail("models");
        printf("%s\n", path);
        free(path);
        return REEL_EXIT_OK;
    }
    uint64_t freed = 0;
    if (reel_store_remove(ref, &freed) < 0) return reel_cli_fail("models");
    char s[32];
    printf("removed %s (%s freed)\n", ref, reel_format_bytes((double)freed, s, sizeof s));
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_models = {
    "models",
    "list the local model store, or remove a model from it",
    "Usage: reel models [list] [--json]\n"
    "       reel models rm OWNER/REPO[:QUANT|:FILE]\n"
    "       reel models path OWNER/REPO[:QUANT|:FILE]\n"
    "\n"
    "The model store holds what 'reel pull' downloaded, laid out OWNER/REPO/FILE under\n"
    "$REEL_MODELS (default $XDG_DATA_HOME/reel/models, else ~/.local/share/reel/models).\n"
    "\n"
    "  list   every file with its size (the default); unfinished downloads are marked.\n"
    "         --json: an array of {repo, file, path, size, partial}\n"
    "  rm     removes one file (REPO:QUANT or REPO:FILE, with its unfinished download) or\n"
    "         the whole repository (REPO)\n"
    "  path   prints the file (or Hugging Face folder) a reference names, as -m finds it\n"
    "\n"
    "Examples:\n"
    "  reel models\n"
    "  reel models rm unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q8_0\n"
    "  reel models rm unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF\n"
    "  reel info \"$(reel models path unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M)\"\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_models)
