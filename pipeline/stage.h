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
 *   "concat"     {transition, style, transition_s}     inputs: N video (or A/V) files -> video
 *   "mix"        {gains?, duck?, normalize_db?}         inputs: N audio files -> audio
 *   "with_audio" {trim?, pad_s?}                       inputs: video, audio -> A/V file
 *   "subtitles"  {cues, burn, words, ...}             inputs: A/V file [, words from] -> A/V
 *   "render"     {fps, size, crf, format, loudness, metadata, join?} inputs: one A/V file (or N
 *                joined) -> the film
 *
 * Parameters in detail (implemented by pipeline/stage.c and pipeline/media/):
 *   video/audio/image: "plugin" names reel-<plugin>.so (image stages default to "image"); the
 *       other members go to the plugin as JSON and are checked against the JSON schema the
 *       plugin declares (see plugins/reel_plugin.h). Output: UT Video in Matroska (.mkv) or
 *       PCM s16 WAV (.wav). A plugin may return extra JSON (io.result), e.g. word timings.
 *   concat: transition "cut" (default) | "fade" (through black, no overlap: libavfilter's
 *       fade/afade) | "crossfade" (inputs overlap by transition_s, so duration = sum -
 *       (n-1)*transition_s, drawn by xfade in `style`, default "fade") | an xfade style name
 *       (a crossfade in that style: "dissolve", "wipeleft", "slideup", "circleopen", ... see
 *       reel_stage_transition_styles(); unknown names are refused with the list);
 *       transition_s default 0.5 (clamped to half the shorter neighbour); optional size
 *       ("WxH" or [W,H]) and fps (number or "num/den"), else the first input's. Audio of
 *       inputs that have it is joined the same way (acrossfade over the overlap; silence for
 *       inputs without).
 *   mix: gains [g...] linear, one per input (default 1); duck {voice: input index (0),
 *       threshold_db (-30), ratio (8), attack_s (0.02), release_s (0.3), amount_db (-12):
 *       the most the others are lowered} lowers the other inputs while the voice input is
 *       above the threshold (libavfilter's sidechaincompress); normalize_db: integrated
 *       loudness target in LUFS (EBU R128: ebur128 measures, loudnorm applies), true peaks
 *       <= true_peak_db (-1 dBTP). Output: 48 kHz stereo WAV as long as the longest input.
 *   with_audio: the video of input 1 with the audio of input 2. The narration drives the
 *       shot: when the audio plus pad_s (default 0.5) is longer than the video, the video is
 *       held on its last picture until then; trim true keeps the video's length instead, cuts
 *       the audio and says so (a warning, and result {"notice": ...}). Shorter audio is
 *       padded with silence. The video's packets are copied, not re-encoded. Word timings the
 *       audio carries (a TTS plugin's result "words", kept as a tag in the files) go along.
 *   subtitles: cues [{start_s, end_s, text}] (text may contain '\n') added as a soft SubRip
 *       track (kept with earlier cues); words true makes the cues from the word timings of
 *       input 2 (or input 1), at most words_per_cue (4) words and max_cue_s (3) seconds each,
 *       ending at a phrase's end, and then the given cues are only the fallback for a
 *       narration without timings. Cues are put in order, never overlap and end inside the
 *       film. burn true draws them into the picture (libass) and writes no soft track; else
 *       the video's packets are copied. style {font ("DejaVu Sans"), size (px, H/16),
 *       colour ("#FFFFFF"), highlight ("#FFD700"), outline (px), position ("bottom" |
 *       "middle" | "top"), margin (px, H/18), karaoke (false: with word cues, each word
 *       fills with the highlight as it is spoken)} styles burnt captions (burn only).
 *   render: format "mp4" (H.264 High via libx264 + AAC + mov_text subtitles, default) or
 *       "webm" (VP9 + Opus + WebVTT); size, fps (default: the input's); crf (H.264 default
 *       20, VP9 32); preset (x264 preset, default "veryfast"); loudness: integrated loudness
 *       of the sound in LUFS (EBU R128, default -14; false keeps the mixed level) with true
 *       peaks <= true_peak_db (default -1 dBTP); metadata {title, pipeline_hash,
 *       model, seeds, ...} written as container tags, plus ai_generated=true and a comment
 *       saying the film is AI-generated; join {transition, style, transition_s} (a concat's
 *       parameters) takes N inputs and joins them as a concat would, without the concat's
 *       file, and join.parts [{} | {"with_audio": {trim, pad_s}}, ...] pairs a clip's video
 *       with the next input as its narration, as with_audio would (reel.render of a concat
 *       that sets no size, fps or fit does this; a cut narration is the result's notice).
 *       The result is read back and checked (a packet for every frame, the first picture
 *       and the sound decoded, size, streams) before the stage succeeds.
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

/* The xfade transition styles a concat accepts ("fade", "dissolve", "wipeleft", ...), as a
 * NULL-terminated static list. */
const char *const *reel_stage_transition_styles(void);

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
