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
 * Intermediate files between stages: video as REELI_VCODEC (lossless, intra-only, yuv420p) in
 * Matroska, audio as PCM s16le in WAV (or in the Matroska file next to the video), subtitles as
 * SubRip in Matroska. All audio inside the pipeline is REELI_RATE Hz stereo float once decoded.
 * UT Video, not FFV1: it codes and decodes a 720p picture about four times faster (a film's
 * shots are written once and read by the concat and the render), at about the same size for
 * camera-like pictures but many times FFV1's for flat ones (title cards). Readers take either. */
#define REELI_VCODEC   "utvideo"
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
/* Sets reel's error for libav error err: "PATH: WHAT: libav's message", with the code that
 * fits (ENOMEM, ENOTFOUND, EFORMAT for invalid data, EUNSUPPORTED for a missing decoder, else
 * EIO); returns that code. */
int reeli_media_averr(int err, const char *path, const char *what);

/* ---- what a stage accepts (media/input.c) ---------------------------------------------------
 * Every file reel decodes is opened through reeli_media_open(): the file protocol only (a name
 * is never a URL), a demuxer from a whitelist (libavformat short names; never playlists such as
 * hls, dash or concat, which open further files), and sizes, durations, frame and sample counts
 * bounded by what the node asked for, checked on the declared values before decoding and on the
 * decoded ones while decoding. */
#define REELI_FORMATS_IMAGE                                                                        \
    "png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif,gif_pipe,qoi_pipe,ppm_pipe,pgm_pipe,"     \
    "pbm_pipe,pam_pipe,jpegxl_pipe"
/* the containers a user expects from a generator (exec's out_ext list included) */
#define REELI_FORMATS_CLIP  "mov,mp4,m4a,matroska,webm,avi,yuv4mpegpipe"
#define REELI_FORMATS_AUDIO "wav,mp3,ogg,flac,mov,mp4,m4a,matroska,webm"
/* what reel writes itself: intermediates and the rendered film */
#define REELI_FORMATS_OWN "matroska,wav,mov"

#define REELI_MAX_DIM        8192
#define REELI_MAX_FPS        240
#define REELI_MAX_DURATION_S (3.0 * 3600)
/* audio a resampler is set up for (a rate of 500 MHz makes swr_init run for minutes) */
#define REELI_MAX_RATE     384000
#define REELI_MAX_CHANNELS 64

typedef struct reeli_media_limits {
    const char *formats;       /* accepted demuxers, comma-separated (static string) */
    int max_width, max_height; /* picture size, declared and decoded */
    double max_duration_s;     /* declared duration; decoded audio samples = this * rate */
    int64_t max_frames;        /* decoded video frames */
    char asked[160];           /* what the bounds come from, for error messages */
} reeli_media_limits;

/* Bounds for a file a plugin of kind REEL_PLUGIN_KIND_* hands over, from the node's parameters
 * (duration_s, frames, fps, width, height; a small slack on each) or, where it asked for none,
 * the plugin's declared maxima (0 = none) and the global caps above. */
void reeli_media_limits_for(reeli_media_limits *lim, int kind, const json_t *params, int cap_w,
                            int cap_h, double cap_duration_s);
/* Bounds for a file reel wrote itself: its demuxer from the extension (.mkv/.webm Matroska,
 * .wav WAV, .mp4 MOV) and the global caps. What every reader uses when given no limits. */
void reeli_media_limits_own(reeli_media_limits *lim, const char *path);

struct AVFormatContext;
/* Opens path (a regular file) as described above and reads its stream info; lim NULL means
 * reeli_media_limits_own(path). The error names the path and, for a refused format, what the
 * file was detected to be. Close with avformat_close_input(). */
int reeli_media_open(const char *path, const reeli_media_limits *lim, struct AVFormatContext **fmt);
/* Checks an opened file's declared picture sizes and durations against lim. */
int reeli_media_check_declared(const char *path, const struct AVFormatContext *fmt,
                               const reeli_media_limits *lim);

/* ---- media writer (media/writer.c) --------------------------------------------------------- */
typedef struct reeli_mw reeli_mw;

typedef struct reeli_mw_opts {
    const char *path;   /* output file */
    const char *format; /* "matroska", "mp4", "webm", "wav" */
    /* video (width 0 = no video stream) */
    int width, height;
    AVRational fps;
    const char *vcodec; /* REELI_VCODEC (the default), "ffv1", "libx264", "libvpx-vp9" */
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
    /* video copied, not encoded: the stream's parameters (borrowed until open returns); fps
     * must be set; packets go through reeli_mw_video_packet() */
    const struct AVCodecParameters *copy_video;
    /* packets will be copied in between encoded frames (reeli_mw_video_packet): the encoder
     * then runs on one thread, giving each frame's packet before it takes the next */
    int copy_into;
} reeli_mw_opts;

/* Opens the output (the file is created now). Returns NULL and sets the error. */
reeli_mw *reeli_mw_open(const reeli_mw_opts *o);
/* Audio to interleave with the video: n frames of float interleaved PCM, borrowed until close.
 * Written as the video advances (and the rest at close); without video, written at close. */
void reeli_mw_set_audio(reeli_mw *w, const float *pcm, int64_t n_frames);
/* Encodes one yuv420p frame of the declared size; frame->pts counts frames (1/fps). */
int reeli_mw_video(reeli_mw *w, AVFrame *frame);
/* Writes one packet of the copied video stream (copy_video) as frame `index` (pts and
 * duration in frames; every packet must be a whole picture, as with intra-only codecs).
 * Takes the packet's reference. Also into an encoded intermediate (REELI_VCODEC or FFV1) stream
 * opened with copy_into, between encoded frames, when reeli_mw_copy_ok() said the packet's
 * stream fits. */
struct AVPacket;
int reeli_mw_video_packet(reeli_mw *w, struct AVPacket *pkt, int64_t index);
/* 1 if packets of a stream with parameters par decode as they are within w's encoded
 * intermediate stream: the same codec (REELI_VCODEC or FFV1, every frame a keyframe), size,
 * pixel format and byte-identical set-up (extradata). */
int reeli_mw_copy_ok(const reeli_mw *w, const struct AVCodecParameters *par);
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
/* The same for a file from outside reel, within lim (NULL: reeli_media_limits_own). */
reeli_vr *reeli_vr_open_bounded(const char *path, int width, int height, AVRational fps,
                                const reeli_media_limits *lim);
/* How a picture of another aspect fills the reader's frame: REELI_FIT_COVER crops it to fill
 * the frame, REELI_FIT_CONTAIN shows it whole on black; left unset, it is contained and the
 * first bars it gets are logged as a warning (nobody chose them). Set before the first frame. */
enum { REELI_FIT_UNSET = 0, REELI_FIT_CONTAIN = 1, REELI_FIT_COVER = 2 };
void reeli_vr_fit(reeli_vr *r, int fit);
int64_t reeli_vr_frames(const reeli_vr *r);
/* Gives n frames instead: the last picture held past the file's end, or stopping early. */
void reeli_vr_set_frames(reeli_vr *r, int64_t n);
void reeli_vr_geometry(const reeli_vr *r, int *width, int *height, AVRational *fps);
/* Returns 1 and a frame (owned by r, valid until the next call; pts = frame index), 0 at the
 * end, or a negative REEL_E* code. */
int reeli_vr_next(reeli_vr *r, AVFrame **frame);
void reeli_vr_free(reeli_vr *r);

/* Decodes all audio of path's first audio stream into float interleaved PCM at rate/channels
 * (*pcm owned by the caller, free()). REEL_ENOTFOUND if there is no audio stream. */
int reeli_audio_load(const char *path, int rate, int channels, float **pcm, int64_t *n_frames);
int reeli_audio_load_bounded(const char *path, int rate, int channels, float **pcm,
                             int64_t *n_frames, const reeli_media_limits *lim);

/* Reads the first subtitle track's cues (text codecs). *n = 0 if there is none. */
int reeli_subs_load(const char *path, reeli_cue **cues, size_t *n);

/* What a media file holds. With decode REELI_PROBE_FULL every frame is decoded (a full
 * verification); with REELI_PROBE_PACKETS the video's packets are counted (each one frame,
 * non-empty, in order) and only its first picture is decoded; audio is decoded by both. */
enum { REELI_PROBE_HEADERS = 0, REELI_PROBE_FULL = 1, REELI_PROBE_PACKETS = 2 };
typedef struct reeli_probe {
    int has_video, has_audio, has_subs;
    int width, height;
    AVRational fps;
    double duration_s;       /* container duration */
    double video_duration_s; /* frames / fps when decoded, else stream duration */
    int64_t n_frames;        /* video frames, decoded or counted (decode only) */
    int64_t n_samples;       /* decoded audio samples per channel (decode only) */
    int sample_rate, channels;
    char vcodec[32], acodec[32], scodec[32];
} reeli_probe;
int reeli_media_probe(const char *path, int decode, reeli_probe *p);
int reeli_media_probe_bounded(const char *path, int decode, reeli_probe *p,
                              const reeli_media_limits *lim);

/* Checks that path is a media file with a stream for the plugin kind (video/image -> video,
 * audio -> audio) that decodes without errors within lim. Error names path and what is wrong. */
int reeli_media_validate(const char *path, int kind, const reeli_media_limits *lim);

/* ---- word timings (media/words.c) ----------------------------------------------------------
 * A TTS plugin's words [{word, start_s, end_s}...] ride in intermediate files as the container
 * tag REELI_WORDS_TAG ("reel-words:" + JSON). */
#define REELI_WORDS_TAG "comment"
/* 1 if words is an array of {word: string, start_s <= end_s (0..86400)}. */
int reeli_words_valid(const json_t *words);
/* The words path carries, or NULL (none, or not readable). Owned by the caller. */
json_t *reeli_words_load(const char *path);
/* The words of a tag's value ("reel-words:[...]"), or NULL when it is not one or is invalid. */
json_t *reeli_words_parse(const char *tag);
/* {REELI_WORDS_TAG: "reel-words:[...]"} for reeli_mw_opts.metadata, NULL for no words. */
json_t *reeli_words_metadata(const json_t *words);
/* Appends words to dst shifted by offset seconds, dropping those that start at or after
 * limit_s and clipping the rest (limit_s < 0: no limit); keeps dst in time order. */
void reeli_words_add(json_t *dst, const json_t *words, double offset, double limit_s);
/* Cues of at most max_words words and max_s seconds each (a cue also ends after a word that
 * ends a phrase), in time order; with karaoke, each word is preceded by an ASS {\kN} tag
 * giving it its spoken time (for burnt captions only). *cues owned by the caller (reeli_cues_free).
 */
int reeli_words_to_cues(const json_t *words, int max_words, double max_s, int karaoke,
                        reeli_cue **cues, size_t *n);
/* Sorts cues by start, clips them to [0, film_s] (film_s < 0: no end), ends each where the
 * next starts and drops what is left empty (freeing it); *n is updated. */
void reeli_cues_tidy(reeli_cue *cues, size_t *n, double film_s);

/* ---- media operations, one file each (media/<operation>.c) --------------------------------
 * Each writes out; params as documented in pipeline/stage.h. progress may be NULL. */
int reeli_media_concat(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       reeli_progress_fn progress, void *ctx);
/* xfade's transition styles, NULL-terminated (media/concat.c); 1 if name is one of them. */
extern const char *const reeli_transition_styles[];
int reeli_transition_style_ok(const char *name);
int reeli_media_mix(const char *const *inputs, size_t n, const json_t *params, const char *out);
/* result (may be NULL) receives {"notice": "..."} when the narration was cut (trim). */
int reeli_media_with_audio(const char *video, const char *audio, const json_t *params,
                           const char *out, json_t **result, reeli_progress_fn progress, void *ctx);
/* words_from: the file whose word timings become cues (params.words), NULL for input. */
int reeli_media_subtitles(const char *input, const char *words_from, const json_t *params,
                          const char *out, reeli_progress_fn progress, void *ctx);
/* One input, or with params.join (a concat's transition, style, transition_s, and parts:
 * reeli_join_open) several inputs joined as a concat would, without the concat's file in
 * between. result (may be NULL) receives {"notice": ...} when a joined narration was cut. */
int reeli_media_render(const char *const *inputs, size_t n, const json_t *params, const char *out,
                       json_t **result, reeli_progress_fn progress, void *ctx);
/* A file given by the script (reel.audio{path=} / reel.video{path=}): its demuxer from
 * formats (REELI_FORMATS_AUDIO, REELI_FORMATS_CLIP) and the global caps. */
void reeli_media_limits_file(reeli_media_limits *lim, const char *formats);
/* reel.audio{path=, start_s, duration_s, loop, fade_in_s, fade_out_s, gain} -> WAV. */
int reeli_media_audio_file(const json_t *params, const char *out);
/* reel.video{path=, start_s, duration_s, width, height, fps} -> REELI_VCODEC (+ PCM) Matroska. */
int reeli_media_clip(const json_t *params, const char *out, reeli_progress_fn progress, void *ctx);
/* Re-encodes a media file from a plugin into the intermediate for its kind (video -> REELI_VCODEC
 * .mkv, audio -> WAV), reading it within lim (NULL: reeli_media_limits_own). */
int reeli_media_normalize(const char *in, int kind, const char *out, const reeli_media_limits *lim);

/* Parses "WxH", [W, H] (even, 16..8192) or an aspect preset ("9:16"...: pipeline/size-impl.h). */
int reeli_parse_size(const json_t *v, int *w, int *h);
/* Parses the fit parameter ("cover" or "contain") into *fit (REELI_FIT_UNSET when absent). */
int reeli_parse_fit(const json_t *params, int *fit);
/* Parses a frame rate: integer, number (29.97 -> 30000/1001) or "num/den". */
int reeli_parse_fps(const json_t *v, AVRational *fps);
/* The size, fps and fit members of params (each optional: 0, {0, 0}, REELI_FIT_UNSET when
 * absent); REEL_EINVAL naming the member that is wrong. */
int reeli_parse_geometry(const json_t *params, int *w, int *h, AVRational *fps, int *fit);

#endif
