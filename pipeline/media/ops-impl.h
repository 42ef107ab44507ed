/* reel pipeline: private header of the media operations (media/<operation>.c): the helpers
 * they share (media/ops_util.c, media/remux.c). */
#ifndef REEL_PIPELINE_MEDIA_OPS_IMPL_H
#define REEL_PIPELINE_MEDIA_OPS_IMPL_H

#include <stdio.h>

#include "pipeline/media/media.h"

/* Reports progress f; REEL_ECANCELED (error set) if the callback asks to stop, else 0. */
int reeli_media_tick(reeli_progress_fn progress, void *ctx, double f);
/* Pads (with silence) or trims pcm (stereo float, `have` frames) to exactly n frames; frees
 * pcm and returns NULL when out of memory. */
float *reeli_fit_audio(float *pcm, int64_t have, int64_t n);
/* Audio frames at REELI_RATE spanning `frames` video frames at fps. */
int64_t reeli_frames_to_samples(int64_t frames, AVRational fps);
/* 1 if path has an audio stream. */
int reeli_has_audio(const char *path);
/* Reads obj[key] as a number in lo..hi (def when absent) into *out; REEL_EINVAL naming
 * where+key otherwise. */
int reeli_num_param(const json_t *obj, const char *key, double def, double lo, double hi,
                    const char *where, double *out);

/* with_audio's timing (media/with_audio.c): the frames a shot of nf frames at fps becomes with
 * the narration in audio and params {trim, pad_s}: held until the narration plus pad_s is
 * over, or kept with trim (then *notice says what was cut; free() it). */
int reeli_narrated_frames(int64_t nf, AVRational fps, const char *audio, const json_t *params,
                          int64_t *frames, char **notice);

/* ---- joining clips (media/concat.c) -------------------------------------------------------
 * The concat operation's work, shared with a render that joins its inputs itself (no concat
 * file in between). */
typedef struct reeli_join reeli_join;
/* Checks the join's parameters (transition, style, transition_s, parts) and reads each clip's
 * length; pictures become W x H at fps (0: the first clip's), fitted by fit (REELI_FIT_*).
 * Without parts every input is a clip; parts [{} | {"with_audio": {trim, pad_s}}, ...] says
 * clip by clip whether it takes one input, or two joined as with_audio would (the video's
 * pictures held or kept for the narration in the next input, which becomes its sound).
 * inputs are borrowed until reeli_join_free. NULL and the error on failure. */
reeli_join *reeli_join_open(const char *const *inputs, size_t n, const json_t *params, int W, int H,
                            AVRational fps, int fit);
/* The joined film's size, rate and frame count. */
void reeli_join_geometry(const reeli_join *j, int *W, int *H, AVRational *fps, int64_t *frames);
/* The joined sound (each input's fitted to its pictures, faded or crossfaded at the joins):
 * *n frames of stereo float for the whole film, *pcm NULL when no input has sound. */
int reeli_join_audio(const reeli_join *j, float **pcm, int64_t *n);
/* The inputs' word timings moved to where each starts: metadata for reeli_mw_opts, or NULL. */
json_t *reeli_join_words(const reeli_join *j);
/* What the join had to cut (a trimmed narration, "; "-separated), or NULL. Owned by j. */
const char *reeli_join_notice(const reeli_join *j);
/* Writes every frame of the join into w: packets copied where w takes them (reeli_mw_copy_ok)
 * and no transition touches them, the rest decoded, transitions through xfade or fade. */
int reeli_join_write(const reeli_join *j, reeli_mw *w, reeli_progress_fn progress, void *ctx);
void reeli_join_free(reeli_join *j);

/* ---- libavfilter graphs fed from memory (media/fgraph.c) ----------------------------------
 * desc is filter graph text whose open inputs are [in0]..[inN-1] (N <= 8) and whose last open
 * output is the result, e.g. "[in0][in1]xfade=transition=wipeleft:duration=0.5:offset=0". */
typedef struct reeli_fg reeli_fg;
/* Video: sources of yuv420p w x h frames at fps (time base 1/fps, pts = frame index); the
 * result is converted back to yuv420p. NULL + error naming the graph. */
reeli_fg *reeli_fg_video(const char *desc, int n_in, int w, int h, AVRational fps);
/* Audio: sources of stereo float interleaved PCM at rate (time base 1/rate); the result is
 * resampled to REELI_RATE stereo float interleaved. */
reeli_fg *reeli_fg_audio(const char *desc, int n_in, int rate);
/* Sends a frame (referenced, not taken) to input `in`; NULL ends that input. */
int reeli_fg_push(reeli_fg *f, int in, AVFrame *frame);
/* 1 and a frame in out (unref it), 0 when nothing is ready now or the graph has ended
 * (reeli_fg_done), or a negative code. */
int reeli_fg_pull(reeli_fg *f, AVFrame *out);
int reeli_fg_done(const reeli_fg *f);
void reeli_fg_free(reeli_fg *f);
/* Runs n_in whole stereo float PCM inputs through an audio graph to its end: *out (malloc'd,
 * REELI_RATE stereo float) and *n_out. last_meta (may be NULL) receives a copy of the last
 * output frame's metadata (e.g. ebur128's lavfi.r128.*); av_dict_free() it. */
int reeli_fg_audio_run(const char *desc, int n_in, const float *const *pcm, const int64_t *n,
                       float **out, int64_t *n_out, struct AVDictionary **last_meta);

/* ---- loudness (media/loudness.c) ----------------------------------------------------------
 * EBU R128 measurement by libavfilter's ebur128 filter: integrated loudness (LUFS; -70 for
 * silence), true peak (dBTP, may be NULL) and loudness range (LU, may be NULL) of n frames of
 * REELI_RATE stereo float PCM. */
int reeli_loudness(const float *pcm, int64_t n, double *lufs, double *true_peak_db, double *lra);
/* Brings *pcm (n frames, replaced) to target_i LUFS integrated with true peaks at most
 * target_tp dBTP: measured by ebur128, then loudnorm with those measurements. Silence is left
 * alone. */
int reeli_loudnorm(float **pcm, int64_t n, double target_i, double target_tp);

/* ---- burnt caption styles (media/captions_ass.c) --------------------------------------- */
typedef struct reeli_caption_style_t {
    char font[64];
    double size, outline, margin; /* in the film's pixels */
    char colour[16], highlight[16];
    int alignment; /* ASS numpad: 2 bottom, 5 middle, 8 top (centred) */
    int karaoke;
    int W, H;
} reeli_caption_style_t;
/* The style object {font, size, colour, highlight, outline, position, margin, karaoke}
 * (NULL: defaults for a W x H film) into st; REEL_EINVAL naming the member at fault. */
int reeli_caption_style(const json_t *style, int W, int H, reeli_caption_style_t *st);
/* Writes cues as an ASS script in style st to f. */
int reeli_ass_write(FILE *f, const reeli_cue *cues, size_t n, const reeli_caption_style_t *st);

/* What reeli_remux() writes (media/remux.c): the video of `video` with the audio of audio_src
 * (fitted to the output's length; NULL = none), cues as a soft SubRip track and metadata as
 * container tags, `frames` long (0: the video's length; more holds the last picture, fewer
 * cuts). The video's packets are copied (intra-only codecs, such as the FFV1 intermediates);
 * with burn_srt (a SubRip file) they are decoded, drawn on by libass and re-encoded. */
typedef struct reeli_remux_opts {
    const char *video, *audio_src;
    const reeli_cue *cues;
    size_t n_cues;
    const char *burn_srt;
    const json_t *metadata;
    int64_t frames;
} reeli_remux_opts;
int reeli_remux(const reeli_remux_opts *o, const char *out, reeli_progress_fn progress, void *ctx);

#endif
