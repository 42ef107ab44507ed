/* The stage runner (pipeline/stage.h): checks a stage's inputs and parameters, dispatches to
 * the plugin host or a media operation, and names the stage, plugin and parameter on error. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"
#include "pipeline/media/media.h"
#include "pipeline/plugin-impl.h"
#include "pipeline/stage.h"

/* Implementation version per stage kind: bump when a kind's output changes for the same
 * inputs and parameters (it is part of every cache key). */
static const struct kind_info {
    const char *kind;
    const char *impl; /* implementation version */
    const char *ext;
    const char *const allowed[12]; /* parameter names (plugin kinds: any, the plugin checks) */
    int min_inputs, max_inputs;
} kinds[] = {
    {"video", "2", ".mkv", {NULL}, 0, 0},
    {"audio", "1", ".wav", {NULL}, 0, 0},
    {"image", "2", ".mkv", {NULL}, 0, 0},
    {"concat",
     "3",
     ".mkv",
     {"transition", "style", "transition_s", "size", "fps", "fit"},
     1,
     100000},
    {"mix", "2", ".wav", {"gains", "duck", "normalize_db", "true_peak_db"}, 1, 256},
    {"with_audio", "3", ".mkv", {"trim", "pad_s"}, 2, 2},
    {"subtitles",
     "3",
     ".mkv",
     {"cues", "burn", "words", "words_per_cue", "max_cue_s", "style"},
     1,
     2},
    {"render",
     "2",
     ".mp4",
     {"fps", "size", "crf", "format", "metadata", "preset", "loudness", "true_peak_db", "fit",
      "join"},
     1,
     100000},
};

static const struct kind_info *find_kind(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, kind)) return &kinds[i];
    return NULL;
}

static int is_plugin_kind(const struct kind_info *k)
{
    return !strcmp(k->kind, "video") || !strcmp(k->kind, "audio") || !strcmp(k->kind, "image");
}

/* The plugin a plugin-kind stage uses: params.plugin, or "image" for image stages. */
static const char *plugin_name(const struct kind_info *k, const json_t *params)
{
    const json_t *p = json_object_get(params, "plugin");
    if (json_is_string(p)) return json_string_value(p);
    if (!p && !strcmp(k->kind, "image")) return "image";
    return NULL;
}

static const reeli_plugin *stage_plugin(const struct kind_info *k, const json_t *params)
{
    const char *name = plugin_name(k, params);
    if (!name) {
        reel_set_error(REEL_EINVAL, "stage %s: parameter 'plugin': required (a plugin name)",
                       k->kind);
        return NULL;
    }
    const reeli_plugin *p = reeli_plugin_get(name);
    if (!p) {
        reel_error_prefix("stage %s", k->kind);
        return NULL;
    }
    int pk = reeli_plugin_caps(p)->kind;
    int ok = !strcmp(k->kind, "audio")
                 ? pk == REEL_PLUGIN_KIND_AUDIO
                 : pk == REEL_PLUGIN_KIND_VIDEO || pk == REEL_PLUGIN_KIND_IMAGE;
    if (!ok) {
        reel_set_error(REEL_EINVAL, "stage %s: plugin %s: makes %s, not %s", k->kind, name,
                       pk == REEL_PLUGIN_KIND_AUDIO ? "audio" : "pictures", k->kind);
        return NULL;
    }
    return p;
}

/* reel.audio{path=} / reel.video{path=} without a plugin: a media file read by the media side
 * (media/audio_file.c, media/clip.c), with these parameters. */
static const char *const file_params_audio[] = {"path",      "start_s",    "duration_s", "loop",
                                                "fade_in_s", "fade_out_s", "gain",       NULL};
static const char *const file_params_video[] = {"path",   "start_s", "duration_s", "width",
                                                "height", "fps",     NULL};

static int is_file_input(const struct kind_info *k, const json_t *params)
{
    return (!strcmp(k->kind, "audio") || !strcmp(k->kind, "video")) &&
           !json_object_get(params, "plugin") && json_is_string(json_object_get(params, "path"));
}

static int check_params(const struct kind_info *k, const json_t *params)
{
    if (params && !json_is_object(params))
        return reel_set_error(REEL_EINVAL, "stage %s: parameters must be a JSON object", k->kind);
    if (is_file_input(k, params)) {
        const char *const *allowed =
            !strcmp(k->kind, "audio") ? file_params_audio : file_params_video;
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)params, key, v)
        {
            int ok = 0;
            for (int i = 0; allowed[i]; i++) ok |= !strcmp(allowed[i], key);
            if (!ok)
                return reel_set_error(REEL_EINVAL,
                                      "stage %s: parameter '%s': unknown for a file input (no "
                                      "plugin)",
                                      k->kind, key);
        }
        return 0;
    }
    if (is_plugin_kind(k)) return 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        int ok = 0;
        for (int i = 0; i < 12 && k->allowed[i]; i++) ok |= !strcmp(k->allowed[i], key);
        if (!ok)
            return reel_set_error(REEL_EINVAL, "stage %s: parameter '%s': unknown", k->kind, key);
    }
    return 0;
}

int reel_stage_run(const reel_stage_io *io)
{
    reeli_media_log_init();
    if (io->result) *io->result = NULL;
    const struct kind_info *k = find_kind(io->kind);
    if (!k)
        return reel_set_error(REEL_EINVAL, "stage '%s': unknown kind", io->kind ? io->kind : "");
    if (!io->out_path || !*io->out_path)
        return reel_set_error(REEL_EINVAL, "stage %s: no output path", k->kind);
    if ((int64_t)io->n_inputs < k->min_inputs || (int64_t)io->n_inputs > k->max_inputs) {
        if (k->min_inputs == k->max_inputs)
            return reel_set_error(REEL_EINVAL, "stage %s: takes %d input%s, got %zu", k->kind,
                                  k->min_inputs, k->min_inputs == 1 ? "" : "s", io->n_inputs);
        return reel_set_error(REEL_EINVAL, "stage %s: takes %d..%d inputs, got %zu", k->kind,
                              k->min_inputs, k->max_inputs, io->n_inputs);
    }
    for (size_t i = 0; i < io->n_inputs; i++)
        if (!io->inputs[i] || access(io->inputs[i], R_OK) != 0)
            return reel_set_error(REEL_ENOTFOUND, "stage %s: input %zu (%s) cannot be read",
                                  k->kind, i + 1, io->inputs[i] ? io->inputs[i] : "NULL");
    json_t *empty = json_object();
    const json_t *params = io->params ? io->params : empty;
    int ret = check_params(k, params);
    if (ret < 0) goto done;

    if (is_file_input(k, params)) {
        ret = !strcmp(k->kind, "audio")
                  ? reeli_media_audio_file(params, io->out_path)
                  : reeli_media_clip(params, io->out_path, io->progress, io->progress_ctx);
        if (ret < 0) reel_error_prefix("stage %s (file)", k->kind);
        goto done;
    }
    if (is_plugin_kind(k)) {
        const reeli_plugin *p = stage_plugin(k, params);
        if (!p) {
            ret = reel_last_error_code();
            goto done;
        }
        json_t *pp = json_copy((json_t *)params);
        json_object_del(pp, "plugin");
        json_t *result = NULL;
        ret =
            reeli_plugin_run(p, k->kind, pp, io->out_path, &result, io->progress, io->progress_ctx);
        json_decref(pp);
        if (ret < 0) {
            reel_error_prefix("stage %s: plugin %s", k->kind, plugin_name(k, params));
        } else if (io->result) {
            *io->result = result;
        } else {
            json_decref(result);
        }
        goto done;
    }
    if (!strcmp(k->kind, "concat"))
        ret = reeli_media_concat(io->inputs, io->n_inputs, params, io->out_path, io->progress,
                                 io->progress_ctx);
    else if (!strcmp(k->kind, "mix"))
        ret = reeli_media_mix(io->inputs, io->n_inputs, params, io->out_path);
    else if (!strcmp(k->kind, "with_audio"))
        ret = reeli_media_with_audio(io->inputs[0], io->inputs[1], params, io->out_path, io->result,
                                     io->progress, io->progress_ctx);
    else if (!strcmp(k->kind, "subtitles"))
        ret = reeli_media_subtitles(io->inputs[0], io->n_inputs > 1 ? io->inputs[1] : NULL, params,
                                    io->out_path, io->progress, io->progress_ctx);
    else
        ret = reeli_media_render(io->inputs, io->n_inputs, params, io->out_path, io->result,
                                 io->progress, io->progress_ctx);
    if (ret < 0) reel_error_prefix("stage %s", k->kind);
done:
    json_decref(empty);
    if (ret < 0) unlink(io->out_path); /* never leave a partial output behind */
    return ret < 0 ? ret : 0;
}

const char *reel_stage_ext(const char *kind, const json_t *params)
{
    const struct kind_info *k = find_kind(kind);
    if (!k) return NULL;
    if (!strcmp(k->kind, "render") && !strcmp(reel_json_str(params, "format", "mp4"), "webm"))
        return ".webm";
    return k->ext;
}

/* Interned version strings: returned pointers stay valid until exit. */
static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
struct interned {
    struct interned *next;
    char text[];
};
static struct interned *interned;

static const char *intern(const char *s)
{
    pthread_mutex_lock(&intern_lock);
    struct interned *it;
    for (it = interned; it; it = it->next)
        if (!strcmp(it->text, s)) break;
    if (!it) {
        it = reel_xmalloc(sizeof *it + strlen(s) + 1);
        strcpy(it->text, s);
        it->next = interned;
        interned = it;
    }
    pthread_mutex_unlock(&intern_lock);
    return it->text;
}

const char *reel_stage_version(const char *kind, const json_t *params)
{
    const struct kind_info *k = find_kind(kind);
    if (!k) {
        reel_set_error(REEL_EINVAL, "stage '%s': unknown kind", kind ? kind : "");
        return NULL;
    }
    char buf[256];
    if (is_file_input(k, params)) {
        snprintf(buf, sizeof buf, "%s file 1", k->kind);
    } else if (is_plugin_kind(k)) {
        const reeli_plugin *p = stage_plugin(k, params);
        if (!p) return NULL;
        snprintf(buf, sizeof buf, "%s %s/%s", k->kind, k->impl, reeli_plugin_version(p));
    } else {
        snprintf(buf, sizeof buf, "%s %s", k->kind, k->impl);
    }
    return intern(buf);
}

int reel_stage_concurrency(const char *kind, const json_t *params)
{
    const struct kind_info *k = find_kind(kind);
    if (!k || !is_plugin_kind(k) || is_file_input(k, params)) return 0;
    const reeli_plugin *p = stage_plugin(k, params);
    return p ? reeli_plugin_caps(p)->max_concurrency : 0;
}

const char *const *reel_stage_transition_styles(void)
{
    return reeli_transition_styles;
}

json_t *reel_stage_plugins(const char *name)
{
    return reeli_plugin_list(name);
}
