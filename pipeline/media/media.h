/* reel pipeline: the media side on libav* (readers, writer, probe and the operations behind the
 * built-in stage kinds). The only header of the pipeline through which libav types cross: the
 * graph, cache, scheduler and Lua runtime never include it. Private to pipeline/ (and its
 * tests). */
#ifndef REEL_PIPELINE_MEDIA_H
#define REEL_PIPELINE_MEDIA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include <libavutil/frame.h>
#include <libavutil/rational.h>

/* ---- common output formats -----------------------------------------------------------------
 * Intermediate files between stages: video as FFV1 (lossless, yuv420p) in Matroska, audio as
 * PCM s16le in WAV (or in the Matroska file next to the video), subtitles as SubRip in
 * Matroska. All audio inside the pipeline is REELI_RATE Hz stereo float once decoded. */
#define REELI_RATE     48000
#define REELI_CHANNELS 2

/* A timed text cue. */
typedef struct reeli_cue {
    double start_s, end_s;
    char *text; /* owned */
} reeli_cue;

void reeli_cues_free(reeli_cue *cues, size_t n);

/* Stage progress in [0,1]; returns non-zero to cancel (reel_stage_io.progress). */
typedef int (*reeli_progress_fn)(void *ctx, double fraction);

/* Routes libav* messages through reel's logger (once per process; thread-safe). Call before
 * using libav. */
void reeli_media_log_init(void);

/* ---- media writer (media/writer.c) --------------------------------------------------------- */
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
    const char *scodec;     /* "subrip", "mov_text", "webvtt" */
    const json_t *metadata; /* object of string/number values -> container tags (borrowed) */
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

/* ---- media readers (media/reader.c) -------------------------------------------------------- */
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

/* ---- media operations, one file each (media/<operation>.c) --------------------------------
 * Each writes out; params as documented in pipeline/stage.h. progress may be NULL. */
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

#endif
