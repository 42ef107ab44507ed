/* reel pipeline: the stage runner — the boundary between the graph (Lua API, cache, scheduler)
 * and the media side (plugin host, libav*).
 *
 * Every node of a pipeline graph is executed as one stage that reads its inputs' finished files
 * and writes one output file. Stages never see the cache: the scheduler gives each stage a
 * temporary out_path and renames it into the content-addressed cache when the stage succeeds.
 *
 * Stage kinds and their parameters (JSON object; unknown members are an error):
 *   "video"      {plugin, ...plugin params}            -> video file (no inputs)
 *   "audio"      {plugin, ...plugin params}            -> audio file (no inputs)
 *   "image"      {plugin?, path, ...}                  -> video file (no inputs)
 *   "concat"     {transition, transition_s}            inputs: N video (or A/V) files -> video
 *   "mix"        {gains?, duck?}                        inputs: N audio files -> audio
 *   "with_audio" {}                                    inputs: video, audio -> A/V file
 *   "subtitles"  {cues: [{start_s, end_s, text}], burn} inputs: A/V file -> A/V file
 *   "render"     {fps, size, crf, format, metadata}    inputs: one A/V file -> the final film
 */
#ifndef REEL_PIPELINE_STAGE_H
#define REEL_PIPELINE_STAGE_H

#include <jansson.h>
#include <stddef.h>

typedef struct reel_stage_io {
    const char *kind;          /* one of the kinds above */
    const json_t *params;      /* borrowed for the call */
    const char *const *inputs; /* paths of the input stages' outputs, in order */
    size_t n_inputs;
    const char *out_path;      /* file to write (the caller renames it when this returns 0) */
    /* progress in [0,1]; may be NULL. Returns non-zero to cancel the stage. */
    int (*progress)(void *ctx, double fraction);
    void *progress_ctx;
    /* Out (may be NULL): receives extra JSON a plugin returned with its output, e.g. the espeak
     * plugin's {"words": [{"word", "start_s", "end_s"}...]} for subtitles; NULL if none. Owned
     * by the caller (json_decref). Added by the media side. */
    json_t **result;
} reel_stage_io;

/* Runs one stage. Returns 0, or a negative REEL_E* code with reel_last_error() naming the stage
 * kind, the plugin and the parameter at fault. REEL_ENET/REEL_ETIMEDOUT mean "transient: the
 * scheduler may retry". Thread-safe: stages of one run execute in parallel. */
int reel_stage_run(const reel_stage_io *io);

/* The file extension (".mkv", ".wav", ".mp4") a stage of this kind writes, for cache names. */
const char *reel_stage_ext(const char *kind, const json_t *params);

/* A string that changes whenever the implementation of this stage kind (or its plugin) changes
 * in a way that changes its output: part of the cache key ("card 1.0", "concat 1"). Returns
 * NULL and sets the error if the plugin cannot be found. Owned by the library; valid until exit. */
const char *reel_stage_version(const char *kind, const json_t *params);

/* How many stages using this plugin may run at once (the plugin's declared limit; 0 = any). */
int reel_stage_concurrency(const char *kind, const json_t *params);

#endif
