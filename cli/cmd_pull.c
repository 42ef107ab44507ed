/* reel pull: download a model from the Hugging Face hub into the local model store. */
#include "cli/cli.h"
#include "core/core.h"
#include "core/hub.h"
#include "core/store.h"
#include "llm/convert.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How the pull is shown: a bar on a terminal, JSON lines otherwise. */
typedef struct view {
    int json;
    double t0, file_t0, last_json;
    reel_progress *bar;
    uint64_t base; /* bytes already there when the download started (a resume) */
} view;

static void json_line(view *v, const char *event, json_t *fields)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(event));
    json_object_set_new(o, "t", json_real((double)(int64_t)((reel_now() - v->t0) * 1e3) / 1e3));
    if (fields) json_object_update(o, fields);
    json_decref(fields);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    if (line) {
        puts(line);
        fflush(stdout);
        free(line);
    }
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void on_event_json(view *v, const reel_hub_event *e)
{
    switch (e->kind) {
    case REEL_HUB_START:
        json_line(v, "pull_start",
                  json_pack("{s:s, s:I, s:I}", "repo", e->repo, "files", (json_int_t)e->count,
                            "bytes", (json_int_t)e->total));
        break;
    case REEL_HUB_FILE_START:
        v->base = e->done;
        v->file_t0 = v->last_json = reel_now();
        json_line(v, "file_start",
                  json_pack("{s:s, s:I, s:I}", "file", e->file, "size", (json_int_t)e->total,
                            "resume_from", (json_int_t)e->done));
        break;
    case REEL_HUB_FILE_BYTES: {
        double now = reel_now();
        if (now - v->last_json < 1.0) break;
        double elapsed = now - v->file_t0;
        double r = elapsed > 0 && e->done > v->base ? (double)(e->done - v->base) / elapsed : 0;
        json_t *f = json_pack("{s:s, s:I, s:I, s:f}", "file", e->file, "done", (json_int_t)e->done,
                              "total", (json_int_t)e->total, "rate", r);
        if (r > 0 && e->total >= e->done)
            json_object_set_new(f, "eta", json_real((double)(e->total - e->done) / r));
        json_line(v, "file_progress", f);
        v->last_json = now;
        break;
    }
    case REEL_HUB_FILE_VERIFY:
        json_line(v, "file_verify",
                  json_pack("{s:s, s:I}", "file", e->file, "size", (json_int_t)e->total));
        break;
    case REEL_HUB_FILE_DONE: {
        json_t *f = json_pack("{s:s, s:s, s:s, s:I}", "file", e->file, "path", e->path, "status",
                              e->status, "size", (json_int_t)e->total);
        if (e->sha256) json_object_set_new(f, "sha256", json_string(e->sha256));
        json_line(v, "file_done", f);
        break;
    }
    }
}

static void on_event_tty(view *v, const reel_hub_event *e)
{
    char a[32], b[32];
    switch (e->kind) {
    case REEL_HUB_START:
        if (e->count > 1)
            fprintf(stderr, "reel: pull: %s: %zu files, %s\n", e->repo, e->count,
                    reel_format_bytes((double)e->total, a, sizeof a));
        break;
    case REEL_HUB_FILE_START:
        v->base = e->done;
        if (e->done > 0)
            fprintf(stderr, "reel: pull: %s: resuming at %s of %s\n", e->file,
                    reel_format_bytes((double)e->done, a, sizeof a),
                    reel_format_bytes((double)e->total, b, sizeof b));
        /* the bar counts what is left, so that its rate and ETA are this session's */
        v->bar = reel_progress_init(base_name(e->file), e->total > e->done ? e->total - e->done : 0,
                                    "B");
        break;
    case REEL_HUB_FILE_BYTES:
        if (e->total > v->base) reel_progress_set_total(v->bar, e->total - v->base);
        reel_progress_update(v->bar, e->done > v->base ? e->done - v->base : 0);
        break;
    case REEL_HUB_FILE_VERIFY:
        fprintf(stderr, "reel: pull: %s: checking the copy already here (%s)...\n", e->file,
                reel_format_bytes((double)e->total, a, sizeof a));
        break;
    case REEL_HUB_FILE_DONE:
        reel_progress_finish(v->bar);
        v->bar = NULL;
        if (!strcmp(e->status, "present"))
            fprintf(stderr, "reel: pull: %s: already here and unchanged, nothing to do\n",
                    *e->file ? e->file : e->repo);
        else if (!strcmp(e->status, "present-unchecked"))
            fprintf(stderr,
                    "reel: pull: %s: in the store (REEL_OFFLINE=1: not compared with the hub)\n",
                    *e->file ? e->file : e->repo);
        else
            fprintf(stderr, "reel: pull: %s: %s (%s)%s\n", e->file, e->status,
                    reel_format_bytes((double)e->total, a, sizeof a),
                    e->sha256 ? ", SHA-256 verified" : "");
        break;
    }
}

static void on_event(void *ctx, const reel_hub_event *e)
{
    view *v = ctx;
    if (v->json)
        on_event_json(v, e);
    else
        on_event_tty(v, e);
}

/* 1 if out exists and is newer than every other file of the repository folder dir. */
static int up_to_date(const char *dir, const char *out)
{
    struct stat so;
    if (stat(out, &so) != 0) return 0;
    char **names = NULL;
    size_t n = 0;
    if (reel_store_scan(dir, &names, &n) < 0) return 0;
    int fresh = 1;
    for (size_t i = 0; i < n && fresh; i++) {
        if (reel_store_is_gguf(names[i])) continue;
        char *p = reel_xasprintf("%s/%s", dir, names[i]);
        struct stat st;
        if (stat(p, &st) == 0 && st.st_mtime > so.st_mtime) fresh = 0;
        free(p);
    }
    reel_store_names_free(names, n);
    return fresh;
}

/* --quantize: the pulled Hugging Face folder converted to <folder>/<REPO>-<TYPE>.gguf, where
 * -m OWNER/REPO:TYPE finds it. *path becomes that file. */
static int quantize_folder(view *v, const char *ref, const reel_llm_qtype *q, char **path)
{
    struct stat st;
    if (stat(*path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        reel_cli_error("pull",
                       "--quantize converts a Hugging Face (safetensors) repository; %s is "
                       "a GGUF file already (requantize it with: reel quantize %s OUT.gguf %s)",
                       ref, *path, q->name);
        return REEL_EXIT_USAGE;
    }
    const char *repo = base_name(*path);
    char *type = reel_xstrdup(q->name);
    for (char *c = type; *c; c++) *c = (char)toupper((unsigned char)*c);
    char *out = reel_xasprintf("%s/%s-%s.gguf", *path, repo, type);
    free(type);
    if (up_to_date(*path, out)) {
        if (v->json)
            json_line(v, "convert_done", json_pack("{s:s, s:s}", "path", out, "status", "present"));
        else
            fprintf(stderr, "reel: pull: %s: already converted, nothing to do\n", base_name(out));
    } else {
        if (v->json)
            json_line(v, "convert_start", json_pack("{s:s, s:s}", "type", q->name, "path", out));
        else
            fprintf(stderr, "reel: pull: converting to %s (%s)\n", q->name, base_name(out));
        const reel_llm_convert_opts o = {0, v->json ? NULL : "convert"};
        reel_llm_convert_info info;
        if (reel_llm_convert(*path, out, q, &o, &info) < 0) {
            free(out);
            return reel_cli_fail("pull");
        }
        char b[32];
        if (v->json)
            json_line(v, "convert_done",
                      json_pack("{s:s, s:s, s:I}", "path", out, "status", "converted", "size",
                                (json_int_t)info.bytes_out));
        else
            fprintf(stderr, "reel: pull: %s: %d tensors, %s\n", base_name(out), info.n_tensors,
                    reel_format_bytes((double)info.bytes_out, b, sizeof b));
    }
    free(*path);
    *path = out;
    return REEL_EXIT_OK;
}

static int run(int argc, char **argv)
{
    const char *ref = NULL;
    reel_hub_opts o = reel_hub_default_opts();
    view v = {0};
    int force_json = 0;
    const reel_llm_qtype *quant = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--token")) {
            if (++i == argc) return reel_cli_usage("pull", "--token needs a value");
            o.token = argv[i];
        } else if (!strncmp(a, "--token=", 8)) {
            o.token = a + 8;
        } else if (!strcmp(a, "--quantize")) {
            if (++i == argc) return reel_cli_usage("pull", "--quantize needs a type (q4_k_m, ...)");
            if (!(quant = reel_llm_qtype_find(argv[i])))
                return reel_cli_usage("pull",
                                      "--quantize: unknown type '%s' (the types: reel quantize "
                                      "--help)",
                                      argv[i]);
        } else if (!strcmp(a, "--json")) {
            force_json = 1;
        } else if (a[0] == '-' && a[1]) {
            return reel_cli_usage("pull", "unknown option '%s'", a);
        } else if (ref) {
            return reel_cli_usage("pull", "one model at a time ('%s' and '%s')", ref, a);
        } else {
            ref = a;
        }
    }
    if (!ref) ref = REEL_STORE_DEFAULT_REF;
    reel_model_ref check;
    if (reel_model_ref_parse(ref, &check) < 0)
        return reel_cli_usage("pull", "%s", reel_last_error());
    const int has_sel = check.sel != NULL;
    reel_model_ref_free(&check);
    if (quant && has_sel)
        return reel_cli_usage("pull",
                              "--quantize takes OWNER/REPO, a Hugging Face (safetensors) "
                              "repository, without ':%s'",
                              strchr(ref, ':') + 1);

    /* A retry is not news: the outcome says what happened (REEL_LOG=warn shows them). */
    if (!getenv("REEL_LOG")) reel_log_set_level(REEL_LOG_ERROR);
    v.json = force_json || !isatty(STDERR_FILENO);
    v.t0 = reel_now();
    o.on_event = on_event;
    o.ctx = &v;
    char *path = NULL;
    int rc = reel_hub_pull(ref, &o, &path);
    reel_progress_cancel(v.bar);
    if (rc < 0) {
        if (v.json) json_line(&v, "error", json_pack("{s:s}", "message", reel_last_error()));
        return reel_cli_fail("pull");
    }
    if (quant && (rc = quantize_folder(&v, ref, quant, &path)) != REEL_EXIT_OK) {
        free(path);
        return rc;
    }
    if (v.json)
        json_line(&v, "pull_done", json_pack("{s:s, s:s}", "ref", ref, "path", path));
    else
        printf("%s\n", path);
    free(path);
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_pull = {
    "pull",
    "download a model from the Hugging Face hub into the local model store",
    "Usage: reel pull [OWNER/REPO[:QUANT|:FILE]] [--token TOKEN] [--json]\n"
    "       reel pull OWNER/REPO --quantize TYPE\n"
    "\n"
    "Downloads a model from the Hugging Face hub into the local model store, where\n"
    "-m/--model and reel.model() find it by the same name.\n"
    "\n"
    "  OWNER/REPO:QUANT  the GGUF file whose name has that quantization as a word\n"
    "                    (Q4_K_M, Q8_0, UD-Q4_K_XL, ...; any case)\n"
    "  OWNER/REPO:FILE   that file (a name with a '.' or a '/')\n"
    "  OWNER/REPO        the repository's only GGUF file; for a repository without GGUF\n"
    "                    files, the Hugging Face folder: config, tokenizer files and the\n"
    "                    *.safetensors weights with their index\n"
    "  (nothing)         " REEL_STORE_DEFAULT_REF "\n"
    "\n"
    "When no file or several match, the error lists the files to choose from. An\n"
    "interrupted download resumes where it stopped when you run the same command again.\n"
    "Every file is checked against the SHA-256 the hub publishes; one that differs is\n"
    "refused (and kept as FILE.part until the next try). Pulling a model that is already\n"
    "here and unchanged on the hub downloads nothing and says so.\n"
    "\n"
    "Options:\n"
    "  --token TOKEN    a Hugging Face access token, for gated or private repositories\n"
    "                   (default: $HF_TOKEN)\n"
    "  --quantize TYPE  for a Hugging Face (safetensors) repository: convert it after the\n"
    "                   download into REPO-TYPE.gguf in the same folder (q4_k_m, q8_0,\n"
    "                   ...: the types of reel quantize), which -m OWNER/REPO:TYPE then\n"
    "                   uses; converted again only when the downloaded files change\n"
    "  --json           JSON lines on stdout even on a terminal\n"
    "\n"
    "Output: on a terminal, a progress bar (rate, ETA) on stderr and the model's path on\n"
    "stdout. Otherwise JSON lines on stdout, one per event: pull_start, file_start,\n"
    "file_progress (at most one a second), file_verify, file_done (status downloaded,\n"
    "updated, present or present-unchecked), with --quantize convert_start and convert_done\n"
    "(status converted or present), then pull_done with the path, or error.\n"
    "\n"
    "Environment:\n"
    "  HF_TOKEN        access token, sent as 'Authorization: Bearer'\n"
    "  HF_ENDPOINT     the hub to use (default https://huggingface.co), e.g. a mirror\n"
    "  REEL_MODELS     the model store (default $XDG_DATA_HOME/reel/models, else\n"
    "                  ~/.local/share/reel/models), laid out OWNER/REPO/FILE\n"
    "  REEL_OFFLINE=1  never touch the network: report what the store has, or fail\n"
    "\n"
    "Examples:\n"
    "  reel pull                      # the default model, NVIDIA Nemotron 3 Nano 4B Q4_K_M\n"
    "  reel pull unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q8_0\n"
    "  reel pull OWNER/REPO:model-q4_k_m.gguf --token hf_...\n"
    "  reel pull nvidia/NVIDIA-Nemotron-3-Nano-4B-BF16 --quantize q4_k_m\n"
    "  reel generate -m unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M -p 'Hello'\n"
    "  reel models                    # what the store holds; 'reel models rm REF' frees it\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_pull)
