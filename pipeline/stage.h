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
 *
 * Parameters in detail (implemented by pipeline/stage.c and pipeline/media/):
 *   video/audio/image: "plugin" names reel-<plugin>.so (image stages default to "image"); the
 *       other members go to the plugin as JSON and are checked against the JSON schema the
 *       plugin declares (see plugins/reel_plugin.h). Output: FFV1 video in Matroska (.mkv) or
 *       PCM s16 WAV (.wav). A plugin may return extra JSON (io.result), e.g. word timings.
 *   concat: transition "cut" (default) | "fade" (through black, no overlap) | "crossfade"
 *       (inputs overlap by transition_s, so duration = sum - (n-1)*transition_s); transition_s
 *       default 0.5 (clamped to half the shorter neighbour); optional size ("WxH" or [W,H])
 *       and fps (number or "num/den"), else the first input's. Audio of inputs that have it
 *       is joined with the same overlaps (silence for those without).
 *   mix: gains [g...] linear, one per input (default 1); duck {voice: input index (0),
 *       amount_db (-12), threshold_db (-40), attack_s (0.05), release_s (0.4)} lowers the
 *       other inputs while the voice input is above the threshold; normalize_db: target RMS
 *       level in dBFS (RMS-based gain, not EBU R128), peaks kept <= -1 dBFS. Output: 48 kHz
 *       stereo WAV as long as the longest input.
 *   with_audio: the video of input 1 with the audio of input 2, fitted (padded/trimmed) to
 *       the video's length.
 *   subtitles: cues [{start_s, end_s, text}] (text may contain '\n') added as a soft SubRip
 *       track (kept with earlier cues); burn true also draws them into the picture (libass).
 *   render: format "mp4" (H.264 High via libx264 + AAC + mov_text subtitles, default) or
 *       "webm" (VP9 + Opus + WebVTT); size, fps (default: the input's); crf (H.264 default
 *       20, VP9 32); preset (x264 preset, default "veryfast"); metadata {title, pipeline_hash,
 *       model, seeds, ...} written as container tags, plus ai_generated=true and a comment
 *       saying the film is AI-generated. The result is decoded in full and checked (frame
 *       count, size, streams) before the stage succeeds.
 *
 * Plugins are found in $REEL_PLUGIN_PATH (colon list), then <prefix>/lib/reel/plugins, then
 * the build tree's plugins/ folder (<prefix> = the folder above the executable or libreel.so),
 * then $REEL_PLUGIN_BUILD_DIR.
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
    const char *out_path; /* file to write (the caller renames it when this returns 0) */
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

/* Describes the generator plugins the stage runner can find, as a JSON array of objects
 * {name, version, kind ("video"|"audio"|"image"), description, path, abi, deterministic,
 * max_concurrency, limits..., params_schema}; a plugin that fails to load (wrong ABI, missing
 * library) appears with {name, error} instead. name NULL lists every reel-*.so on the search
 * path; a name returns just that plugin, or NULL with the error set if it cannot be loaded.
 * Owned by the caller (json_decref). Thread-safe. */
json_t *reel_stage_plugins(const char *name);

#endif
