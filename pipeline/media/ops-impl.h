/* reel pipeline: private header of the media operations (media/<operation>.c): the helpers
 * they share (media/ops_util.c, media/remux.c). */
#ifndef REEL_PIPELINE_MEDIA_OPS_IMPL_H
#define REEL_PIPELINE_MEDIA_OPS_IMPL_H

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

/* Copies the video of `video` to out, with the audio of `audio_src` (fitted to the video's
 * length; NULL = none) and the given cues, optionally burning in the SubRip file burn_srt
 * through a filter graph (media/remux.c). */
int reeli_remux(const char *video, const char *audio_src, const reeli_cue *cues, size_t n_cues,
                const char *burn_srt, const char *out, reeli_progress_fn progress, void *ctx);

#endif
