/* reel generator plugin ABI — plain C, self-contained (needs only <stddef.h> and <stdint.h>).
 *
 * A plugin is a shared object `reel-<name>.so` that exports one symbol, `reel_plugin_entry`
 * (type reel_plugin_entry_fn). The host calls it once with its own table (logging, allocation)
 * and gets back the plugin's table, which starts with api_version and struct_size. The host
 * refuses a plugin whose major version differs from its own, naming both versions; a newer
 * minor version is accepted (members are only ever appended; the host reads struct_size to know
 * which members exist). A changed signature gets a new member with a `_v2` suffix.
 *
 * Life of a call:
 *   1. the host loads the .so (dlopen RTLD_NOW|RTLD_LOCAL), calls reel_plugin_entry(&host);
 *   2. it reads plugin->caps (kind, parameter JSON schema, limits, version, and what one batch
 *      job of it needs);
 *   3. for each stage it validates the parameters against caps->params_schema, then calls
 *      plugin->generate(params_json, &sink); the plugin writes into the sink either
 *        - video: video_begin() once, then video_frame() per frame (any size/pixel format
 *          declared at begin; pts in units of 1/fps), or
 *        - audio: audio_begin() once, then audio_samples() (interleaved PCM), or
 *        - a finished media file: file(path) (the host decodes and validates it);
 *      optionally result(json) (e.g. word timings), progress(fraction) as it goes;
 *   4. generate returns REEL_PLUGIN_OK or a negative REEL_PLUGIN_E* code after calling
 *      sink->error(host, message) with a message naming the parameter or the cause.
 *
 * Minimal plugin:
 *
 *     static int gen(void *state, const char *params, const reel_plugin_sink *s) {
 *         int rc = s->audio_begin(s->host, 48000, 1, REEL_PLUGIN_SAMPLE_S16);
 *         int16_t zero[480] = {0};
 *         for (int i = 0; rc == 0 && i < 100; i++) rc = s->audio_samples(s->host, zero, 480);
 *         return rc;
 *     }
 *     static const reel_plugin_caps caps = {sizeof caps, REEL_PLUGIN_KIND_AUDIO, "quiet", "1.0",
 *                                           "one second of silence", "{\"type\":\"object\"}"};
 *     static const reel_plugin table = {REEL_PLUGIN_API_VERSION, sizeof table, &caps,
 *                                       NULL, NULL, gen};
 *     REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *h) {
 *         return &table;
 *     }
 *
 * Threading: the host may call generate() from several threads at once, up to
 * caps->max_concurrency (0 = no limit); a plugin wrapping a non-reentrant library declares 1.
 * All sink and host functions may be called only from the thread running generate().
 */
#ifndef REEL_PLUGIN_H
#define REEL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* major.minor packed as (major << 16) | minor. Major breaks; minor appends members. */
#define REEL_PLUGIN_API_VERSION_MAJOR 1
#define REEL_PLUGIN_API_VERSION_MINOR 3
#define REEL_PLUGIN_API_VERSION                                                                    \
    ((uint32_t)((REEL_PLUGIN_API_VERSION_MAJOR << 16) | REEL_PLUGIN_API_VERSION_MINOR))
#define REEL_PLUGIN_VERSION_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define REEL_PLUGIN_VERSION_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* The exported entry symbol's name, for dlsym(). */
#define REEL_PLUGIN_ENTRY_SYMBOL "reel_plugin_entry"
#define REEL_PLUGIN_EXPORT       __attribute__((visibility("default")))

/* Status codes returned by generate() and the sink functions. */
enum reel_plugin_status {
    REEL_PLUGIN_OK = 0,
    REEL_PLUGIN_EINVAL = -1,     /* invalid parameters: the message names the parameter */
    REEL_PLUGIN_ETRANSIENT = -2, /* may succeed if retried (network, busy server) */
    REEL_PLUGIN_EFATAL = -3,     /* failed; retrying will not help */
    REEL_PLUGIN_ECANCELED = -4,  /* the host asked to stop (progress() returned non-zero) */
    REEL_PLUGIN_ETIMEDOUT = -5,  /* an external process or server ran past its time limit */
};

/* What a plugin produces. */
enum reel_plugin_kind {
    REEL_PLUGIN_KIND_VIDEO = 1, /* moving pictures (video_begin/video_frame or file) */
    REEL_PLUGIN_KIND_AUDIO = 2, /* sound (audio_begin/audio_samples or file) */
    REEL_PLUGIN_KIND_IMAGE = 3, /* pictures from a still image (video frames or file) */
};

/* Pixel formats of video frames (packed formats use data[0] only). */
enum reel_plugin_pixfmt {
    REEL_PLUGIN_PIX_RGB24 = 1,   /* packed R,G,B bytes */
    REEL_PLUGIN_PIX_RGBA = 2,    /* packed R,G,B,A bytes (alpha is dropped by the host) */
    REEL_PLUGIN_PIX_YUV420P = 3, /* planar Y, U, V; chroma halved both ways (BT.601, limited) */
};

/* PCM sample formats (always interleaved). */
enum reel_plugin_samplefmt {
    REEL_PLUGIN_SAMPLE_S16 = 1, /* int16_t, native endian */
    REEL_PLUGIN_SAMPLE_F32 = 2, /* float in [-1, 1] */
};

/* Log levels (the same numbers as reel's core log). */
enum reel_plugin_log_level {
    REEL_PLUGIN_LOG_DEBUG = 0,
    REEL_PLUGIN_LOG_INFO = 1,
    REEL_PLUGIN_LOG_WARN = 2,
    REEL_PLUGIN_LOG_ERROR = 3,
};

/* What the host gives a plugin at load time. Valid for the life of the process. */
typedef struct reel_plugin_host {
    uint32_t api_version; /* the host's REEL_PLUGIN_API_VERSION */
    uint32_t struct_size; /* sizeof(reel_plugin_host) as the host knows it */
    /* Writes one log line through reel's logger ("reel: [level] <plugin>: msg"). Thread-safe. */
    void (*log)(int level, const char *plugin, const char *msg);
    /* Allocation for memory the host may read or free (e.g. nothing in 1.0 hands memory over,
     * but plugins should use these for large buffers so that the host can account for them).
     * alloc returns NULL on failure; free(NULL) is a no-op. Thread-safe. */
    void *(*alloc)(size_t size);
    void (*free)(void *p);
    /* Added in 1.1 (check struct_size before use; a plugin that needs them refuses to act on
     * an older host). Thread-safe. */
    /* 1 if the user granted this run the capability, else 0. Grants come from the user (e.g.
     * `reel run --allow-exec`), never from a script or the parameters. Capabilities:
     *   "exec": value is the absolute path of the program about to be run;
     *   "net":  value is "HOST:PORT" (IPv6 as "[ADDR]:PORT") about to be contacted. */
    int (*allowed)(const char *capability, const char *value);
    /* A plugin that starts a process group reports its leader's pid once it runs and again
     * once it is reaped, so that the host can kill the group if it stops (signal, exit). */
    void (*child_started)(int32_t pgid);
    void (*child_ended)(int32_t pgid);
    /* Added in 1.2: reel's own HTTP client, so that a plugin needs no HTTP library of its own.
     * Thread-safe. */
    /* One request: method "GET" or "POST" (body of body_len bytes, sent with content_type), to
     * an http:// or https:// URL (TLS verified; redirects are not followed: check the URL with
     * allowed("net", ...) first). The answer's bytes go to on_data as they arrive, and on_data
     * is also called with (NULL, 0) as often as every 50 ms while the request waits; a non-zero
     * return stops the request (REEL_PLUGIN_ECANCELED). timeout_s bounds the whole request; it
     * is not retried. *status gets the HTTP status (0 if none came). Returns REEL_PLUGIN_OK for
     * 1xx-3xx; for 4xx REEL_PLUGIN_EFATAL, for 408, 429 and 5xx REEL_PLUGIN_ETRANSIENT (msg
     * quotes the server's answer); REEL_PLUGIN_ETRANSIENT when the server cannot be reached,
     * REEL_PLUGIN_ETIMEDOUT, REEL_PLUGIN_EINVAL for a bad URL or method. msg (msg_size bytes)
     * says what went wrong, naming the URL. */
    int (*http)(const char *method, const char *url, const char *content_type, const char *body,
                size_t body_len, double timeout_s,
                int (*on_data)(void *ctx, const char *data, size_t size), void *ctx, long *status,
                char *msg, size_t msg_size);
    /* Writes "HOST:PORT" of an http:// or https:// URL (IPv6 as "[ADDR]:PORT", the port the
     * scheme's default when none is given) into out: what allowed("net", ...) takes. Returns 0,
     * or -1 when url is not such a URL (or out is too small). */
    int (*http_hostport)(const char *url, char *out, size_t out_size);
} reel_plugin_host;

/* 1 if host (of any 1.x minor version) has member m. */
#define REEL_PLUGIN_HOST_HAS(host, m)                                                              \
    ((host) && (host)->struct_size >= offsetof(reel_plugin_host, m) + sizeof((host)->m) &&         \
     (host)->m)

/* Capability descriptor: static data owned by the plugin, valid while it is loaded. */
typedef struct reel_plugin_caps {
    uint32_t struct_size;    /* sizeof(reel_plugin_caps) */
    int32_t kind;            /* enum reel_plugin_kind */
    const char *name;        /* "card" (must match the file name reel-<name>.so) */
    const char *version;     /* plugin version, part of every cache key: bump on output change */
    const char *description; /* one line for `reel info` style listings */
    /* JSON Schema (an object schema) of the parameters. The host validates parameters against
     * it before generate() with the validator reel uses for plans and generations (the JSON
     * Schema keywords `reel generate --json-schema` accepts; objects allow no property beyond
     * 'properties' unless 'additionalProperties' says so; lengths count code points), so a
     * plugin may rely on types and bounds. */
    const char *params_schema;
    int32_t max_width, max_height;         /* largest frame size accepted (0 = any) */
    int32_t width_quantum, height_quantum; /* width/height must be multiples (0/1 = any) */
    int32_t fps_max;                       /* highest frame rate (0 = any) */
    /* Frame counts must be frame_quantum*k + frame_offset (e.g. 4k+1 for video diffusion
     * models); 0 = any count. */
    int32_t frame_quantum, frame_offset;
    double max_duration_s;   /* longest output in seconds (0 = no limit) */
    int32_t deterministic;   /* 1 if the same parameters always give the same output */
    int32_t max_concurrency; /* generate() calls that may run at once (0 = any) */
    /* Added in 1.3: what one batch job running this plugin needs (what `reel run --executor
     * slurm` asks sbatch for: --cpus-per-task, --mem, --gres, --time). 0 / NULL = no opinion:
     * the run's options and the cluster's defaults apply. A node's own Lua `resources` win over
     * these, and these over the run's --gres. Not part of any cache key. The host refuses to
     * load a plugin whose values are malformed, naming the field. A site's GPU names and limits
     * differ: a plugin declares only what holds everywhere. */
    int32_t job_cpus;     /* CPUs, 1..4096 */
    const char *job_mem;  /* memory: a whole number with an optional K, M, G or T unit ("2G") */
    const char *job_gres; /* generic resources as sbatch --gres takes them ("gpu:1") */
    const char *job_time; /* time limit: "MM", "MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM[:SS]" */
} reel_plugin_caps;

/* 1 if the capability descriptor caps (of any 1.x minor version) has member m (which may still
 * be 0 or NULL: no opinion). */
#define REEL_PLUGIN_CAPS_HAS(caps, m)                                                              \
    ((caps) && (caps)->struct_size >= offsetof(reel_plugin_caps, m) + sizeof((caps)->m))

/* One video frame handed to the sink; borrowed for the duration of the call (the host copies). */
typedef struct reel_plugin_frame {
    int32_t width, height;  /* must equal what video_begin declared */
    int32_t pix_fmt;        /* enum reel_plugin_pixfmt, as declared at video_begin */
    const uint8_t *data[4]; /* planes */
    int32_t linesize[4];    /* bytes per row of each plane */
    int64_t pts;            /* presentation time in frames (units of 1/fps), increasing */
} reel_plugin_frame;

/* Where a plugin writes its output. Every function returns REEL_PLUGIN_OK or a negative status;
 * on failure the plugin should stop and return that status. `host` is the first argument of
 * every call. Valid only during generate(). */
typedef struct reel_plugin_sink {
    uint32_t struct_size; /* sizeof(reel_plugin_sink) as the host knows it */
    void *host;
    /* Video: declare the stream once (fps as a fraction), then push frames. */
    int (*video_begin)(void *host, int32_t width, int32_t height, int32_t pix_fmt, int32_t fps_num,
                       int32_t fps_den);
    int (*video_frame)(void *host, const reel_plugin_frame *frame);
    /* Audio: declare once, then push interleaved PCM; n_frames counts samples per channel. */
    int (*audio_begin)(void *host, int32_t sample_rate, int32_t channels, int32_t sample_fmt);
    int (*audio_samples)(void *host, const void *pcm, int64_t n_frames);
    /* A finished media file the plugin made (in tmp_dir or anywhere readable). The host decodes
     * it, checks it has the right kind of stream, and converts it into the stage's output. The
     * plugin may delete the file once this returns. */
    int (*file)(void *host, const char *path);
    /* Extra result data as a JSON object text (e.g. {"words":[...]}), copied by the host. */
    int (*result)(void *host, const char *json);
    /* Progress in [0,1]. Returns REEL_PLUGIN_ECANCELED if the host wants the plugin to stop. */
    int (*progress)(void *host, double fraction);
    /* Records the error message for the current generate() call (copied). */
    void (*error)(void *host, const char *message);
    /* A private, existing, empty folder for temporary files; the host removes it afterwards. */
    const char *tmp_dir;
} reel_plugin_sink;

/* The plugin's table, returned by the entry point; static, valid while the plugin is loaded. */
typedef struct reel_plugin {
    uint32_t api_version; /* REEL_PLUGIN_API_VERSION the plugin was built against */
    uint32_t struct_size; /* sizeof(reel_plugin) */
    const reel_plugin_caps *caps;
    /* Optional (may be NULL): called once after loading; *state is passed to generate(). A
     * non-zero return refuses the load (the message goes through host->log). */
    int (*init)(const reel_plugin_host *host, void **state);
    /* Optional: frees the state when the host unloads the plugin. */
    void (*deinit)(void *state);
    /* Produces one output from params_json (a JSON object text, already schema-checked). */
    int (*generate)(void *state, const char *params_json, const reel_plugin_sink *sink);
} reel_plugin;

/* The type of the exported symbol. host is valid for the life of the process. Returns the
 * plugin's table, or NULL if the plugin cannot work with this host (it should log why). */
typedef const reel_plugin *(*reel_plugin_entry_fn)(const reel_plugin_host *host);

#ifdef __cplusplus
}
#endif

#endif
