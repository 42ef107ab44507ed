/* reel pipeline: private declarations shared by the files of the module (stage runner, plugin
 * host, media/, and the Lua runtime, graph, cache, scheduler and events further down).
 * Not a public header: nothing outside pipeline/ (and its tests) includes it. */
#ifndef REEL_PIPELINE_IMPL_H
#define REEL_PIPELINE_IMPL_H

#include <jansson.h>
#include <stdint.h>

#include <libavutil/frame.h>
#include <libavutil/rational.h>

#include "plugins/reel_plugin.h"

/* ---- media: common output formats ---------------------------------------------------------
 * Intermediate files between stages: video as FFV1 (lossless, yuv420p) in Matroska, audio as
 * PCM s16le in WAV (or in the Matroska file next to the video), subtitles as SubRip in
 * Matroska. All audio inside the pipeline is REELI_RATE Hz stereo float once decoded. */
#define REELI_RATE 48000
#define REELI_CHANNELS 2

/* A timed text cue. */
typedef struct reeli_cue {
    double start_s, end_s;
    char *text; /* owned */
} reeli_cue;

void reeli_cues_free(reeli_cue *cues, size_t n);

/* ---- media writer (pipeline/media/writer.c) ------------------------------------------------ */
typedef struct reeli_mw reeli_mw;

typedef struct reeli_mw_opts {
    const char *path;   /* output file */
    const char *format; /* "matroska", "mp4", "webm", "wav" */
    /* video (width 0 = no video stream) */
    int width, height;
    AVRational fps;
    const char *vcodec; /* "ffv1", "libx264", "libvpx-vp9" */
    int crf;            /* libx264/libvpx-vp9 quality (0 = codec default) */
    const char *preset; /* libx264 preset or NULL */
    /* audio (sample_rate 0 = no audio stream); input is always float interleaved */
    int sample_rate, channels;
    const char *acodec; /* "pcm_s16le", "aac", "libopus", "flac" */
    /* subtitles: a text track with these cues (copied), written in time order */
    const reeli_cue *cues;
    size_t n_cues;
    const char *scodec;      /* "subrip", "mov_text", "webvtt" */
    const json_t *metadata;  /* object of string/number values -> container tags (borrowed) */
} reeli_mw_opts;

/* Opens the output (the file is created now). Returns NULL and sets the error. */
reeli_mw *reeli_mw_open(const reeli_mw_opts *o);
/* Audio to interleave with the video: n frames of float interleaved PCM, borrowed until close.
 * Written as the video advances (and the rest at close); without video, written at close. */
void reeli_mw_set_audio(reeli_mw *w, const float *pcm, int64_t n_frames);
/* Encodes one yuv420p frame of the declared size; frame->pts counts frames (1/fps). */
int reeli_mw_video(reeli_mw *w, AVFrame *frame);
/* Flushes encoders, writes what remains of audio and cues, writes the trailer, frees w. */
int reeli_mw_close(reeli_mw *w);
/* Frees w without finishing (removes nothing; the caller deletes the partial file). NULL ok. */
void reeli_mw_free(reeli_mw *w);

/* ---- media readers (pipeline/media/reader.c) ----------------------------------------------- */
typedef struct reeli_vr reeli_vr;

/* Decodes the first video stream of path and yields yuv420p frames of width x height (the
 * picture scaled to fit and padded with black, aspect kept) at exactly fps. 0 for width/height
 * or fps {0,0} keep the source's. The output frame count is round(duration * fps), known at
 * open (n_frames); the last picture is repeated if the decoder ends early. NULL + error. */
reeli_vr *reeli_vr_open(const char *path, int width, int height, AVRational fps);
int64_t reeli_vr_frames(const reeli_vr *r);
void reeli_vr_geometry(const reeli_vr *r, int *width, int *height, AVRational *fps);
/* Returns 1 and a frame (owned by r, valid until the next call; pts = frame index), 0 at the
 * end, or a negative REEL_E* code. */
int reeli_vr_next(reeli_vr *r, AVFrame **frame);
void reeli_vr_free(reeli_vr *r);

/* Decodes all audio of path's first audio stream into float interleaved PCM at rate/channels
 * (*pcm owned by the caller, free()). REEL_ENOTFOUND if there is no audio stream. */
int reeli_audio_load(const char *path, int rate, int channels, float **pcm, int64_t *n_frames);

/* Reads the first subtitle track's cues (text codecs). *n = 0 if there is none. */
int reeli_subs_load(const char *path, reeli_cue **cues, size_t *n);

/* What a media file holds. With decode, every frame is decoded (a full verification). */
typedef struct reeli_probe {
    int has_video, has_audio, has_subs;
    int width, height;
    AVRational fps;
    double duration_s;       /* container duration */
    double video_duration_s; /* frames / fps when decoded, else stream duration */
    int64_t n_frames;        /* decoded video frames (decode only) */
    int64_t n_samples;       /* decoded audio samples per channel (decode only) */
    int sample_rate, channels;
    char vcodec[32], acodec[32], scodec[32];
} reeli_probe;
int reeli_media_probe(const char *path, int decode, reeli_probe *p);

/* Checks that path is a media file with a stream for the plugin kind (video/image -> video,
 * audio -> audio) that decodes without errors. Error names path and what is wrong. */
int reeli_media_validate(const char *path, int kind);

/* ---- media operations (pipeline/media/ops.c) ---------------------------------------------- */
/* Each writes out_path; params as documented in pipeline/stage.h. progress may be NULL. */
typedef int (*reeli_progress_fn)(void *ctx, double fraction);
int reeli_media_concat(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx);
int reeli_media_mix(const char *const *inputs, size_t n, const json_t *params, const char *out);
int reeli_media_with_audio(const char *video, const char *audio, const char *out,
                           reeli_progress_fn progress, void *ctx);
int reeli_media_subtitles(const char *input, const json_t *params, const char *out,
                          reeli_progress_fn progress, void *ctx);
int reeli_media_render(const char *input, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx);
/* Re-encodes any media file into the intermediate for a plugin kind (video -> FFV1 .mkv,
 * audio -> WAV). */
int reeli_media_normalize(const char *in, int kind, const char *out);

/* Parses "WxH" or [W, H] (even, 16..8192). */
int reeli_parse_size(const json_t *v, int *w, int *h);
/* Parses a frame rate: integer, number (29.97 -> 30000/1001) or "num/den". */
int reeli_parse_fps(const json_t *v, AVRational *fps);

/* ---- plugin host (pipeline/plugin_host.c) -------------------------------------------------- */
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
 * intermediate file to out. *result receives the plugin's result JSON (or NULL). */
int reeli_plugin_run(const reeli_plugin *p, const char *stage_kind, const json_t *params,
                     const char *out, json_t **result, reeli_progress_fn progress, void *ctx);

/* Checks v against a JSON Schema subset (type, properties, required, additionalProperties,
 * minimum, maximum, enum, maxLength, minLength, items, minItems, maxItems). On failure sets
 * REEL_EINVAL with "parameter 'x': why". schema_text is parsed each call. */
int reeli_schema_validate(const char *schema_text, const json_t *v);

/* ==== Lua runtime, graph, cache, scheduler, events (lua*.c, graph.c, cache.c, sched.c,
 * events.c) ================================================================================ */

#include "core/core.h"
#include "pipeline/pipeline.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* ---- graph (graph.c) ------------------------------------------------------------------------ */

/* One lazy media node. Nodes are immutable once added; the graph owns them. */
typedef struct reeli_node {
    int id;           /* 1-based, in creation order */
    char *kind;       /* stage kind (stage.h) */
    char *plugin;     /* params.plugin when present, else NULL (points into nothing: owned copy) */
    char *name;       /* optional label given by the script (not part of the key), or NULL */
    char *where;      /* "script.lua:12": where the script created it */
    json_t *params;   /* stage parameters (owned) */
    int *inputs;      /* ids of the input nodes, in order */
    size_t n_inputs;
    char *file_digest; /* hex SHA-256 of an external file the node reads (image path), or NULL */
    /* Filled by reeli_graph_key(): */
    int have_key;
    char key[REEL_SHA256_HEX_SIZE];
    char *ext;        /* output extension (".mkv") */
    int concurrency;  /* plugin's limit (0 = any) */
} reeli_node;

typedef struct reeli_graph {
    reeli_node **nodes; /* nodes[id - 1] */
    size_t n, cap;
} reeli_graph;

void reeli_graph_init(reeli_graph *g);
void reeli_graph_free(reeli_graph *g);
/* Adds a node; takes ownership of params (also on failure). inputs are existing ids. Returns
 * the new id. */
int reeli_graph_add(reeli_graph *g, const char *kind, json_t *params, const int *inputs,
                    size_t n_inputs, const char *name, const char *where);
reeli_node *reeli_graph_node(const reeli_graph *g, int id);
/* Computes the cache key, extension and concurrency of node id and of everything it depends
 * on. Returns 0 or an error naming the node. */
int reeli_graph_key(reeli_graph *g, int id, const reel_stage_runner *runner);
/* "node 3 (video card 'intro', film.lua:12)": a label for messages, written into buf. */
const char *reeli_node_label(const reeli_node *n, char *buf, size_t size);

/* ---- cache (cache.c) ------------------------------------------------------------------------ */

typedef struct reeli_cache {
    char *dir; /* absolute */
} reeli_cache;

/* Creates the folder (and tmp/) and removes temporary files left by dead processes. */
int reeli_cache_open(reeli_cache *c, const char *dir);
void reeli_cache_close(reeli_cache *c);
/* Final path of key+ext (owned by the caller). */
char *reeli_cache_path(const reeli_cache *c, const char *key, const char *ext);
/* A fresh temporary path for key+ext, unique in this process (owned). */
char *reeli_cache_tmp_path(const reeli_cache *c, const char *key, const char *ext);
/* 1 if the finished output of key is present. */
int reeli_cache_has(const reeli_cache *c, const char *key, const char *ext);
/* fsyncs tmp and renames it to the final name of key. */
int reeli_cache_commit(const reeli_cache *c, const char *tmp, const char *key, const char *ext);
/* Copies a cached file to dest atomically (temp + rename), creating dest's folder. */
int reeli_cache_export(const char *src, const char *dest);

/* ---- events and progress display (events.c) ------------------------------------------------- */

typedef struct reeli_events reeli_events;

/* path: file, "-" (stdout) or NULL; progress: 1/0/-1 (auto: stderr is a tty). NULL + error if
 * the file cannot be opened. */
reeli_events *reeli_events_init(const char *path, int progress);
void reeli_events_free(reeli_events *ev);
/* Writes one event line {"event": name, "t": seconds since init, ...fields}; steals fields.
 * Thread-safe. */
void reeli_events_emit(reeli_events *ev, const char *name, json_t *fields);
/* Display hooks (thread-safe): a scheduling pass with `total` nodes begins / a node changes. */
void reeli_events_pass_begin(reeli_events *ev, int total);
void reeli_events_node_state(reeli_events *ev, const reeli_node *n, int state, double fraction);
void reeli_events_pass_end(reeli_events *ev);
/* Script log line (reel.log): to stderr and as a "log" event. */
void reeli_events_log(reeli_events *ev, const char *where, const char *msg);

enum { REELI_NODE_RUNNING = 1, REELI_NODE_DONE = 2, REELI_NODE_CACHED = 3, REELI_NODE_FAILED = 4 };

/* ---- scheduler (sched.c) -------------------------------------------------------------------- */

typedef struct reeli_sched_stats {
    int executed, cached, failed;
} reeli_sched_stats;

typedef struct reeli_sched {
    reeli_graph *graph;
    reeli_cache *cache;
    reeli_events *events;
    const reel_stage_runner *runner;
    int jobs;
    int max_attempts;
    double retry_base_s;
    reeli_sched_stats stats; /* accumulated over passes */
} reeli_sched;

/* Makes the output of node `target` present in the cache, running what is missing. On failure
 * the error names the first failed node with its parameters; other nodes still ran. */
int reeli_sched_run(reeli_sched *s, int target);

/* Set by reel_pipeline_cancel(). */
extern volatile sig_atomic_t reeli_cancel_flag;

/* ---- Lua runtime (lua*.c) ------------------------------------------------------------------- */

typedef struct lua_State lua_State;

/* Everything one run owns; reachable from Lua through the registry. */
typedef struct reeli_run {
    const reel_pipeline_params *params;
    lua_State *L;
    size_t mem_used, mem_cap;
    int mem_hit; /* the cap refused an allocation */
    char *script_path; /* absolute */
    char *script_dir;  /* absolute, real */
    char *out_dir;     /* absolute, real */
    char **roots;      /* folders the script may touch (real paths) */
    size_t n_roots;
    reeli_graph graph;
    reeli_cache cache;
    reeli_events *events;
    reeli_sched sched;
    int renders;
} reeli_run;

/* The run that owns L. */
reeli_run *reeli_run_of(lua_State *L);
/* Opens the restricted standard libraries and the confined file functions (lua_sandbox.c). */
void reeli_sandbox_open(lua_State *L, reeli_run *run);
/* Resolves path (relative to the current folder) and checks that it lies inside one of the
 * run's roots. Returns the absolute path (owned) or NULL with *why set to a static reason. */
char *reeli_sandbox_resolve(reeli_run *run, const char *path, int for_write, const char **why);
/* Opens the reel module and leaves it in the global "reel" (lua_reel.c). */
void reeli_reel_open(lua_State *L, reeli_run *run);
/* Registers reel.model and the model userdata type into the reel table at the stack top
 * (lua_model.c). */
void reeli_model_register(lua_State *L);
/* Lua value at idx to JSON (new reference) or raises a Lua error naming `what`. */
json_t *reeli_lua_to_json(lua_State *L, int idx, const char *what);
/* Pushes a JSON value as a Lua value. */
void reeli_lua_push_json(lua_State *L, const json_t *v);

/* The embedded prelude (generated from scripts/prelude.lua at build time). */
extern const char reeli_prelude[];
extern const size_t reeli_prelude_size;

#endif
