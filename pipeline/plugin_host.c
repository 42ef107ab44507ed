/* Plugin host: finds, loads and checks generator plugins (plugins/reel_plugin.h), validates
 * their parameters against the declared schema, and turns what they write into the sink into
 * the stage's intermediate file (FFV1 in Matroska for pictures, PCM WAV for sound). */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/frame.h>
#include <libswscale/swscale.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/grant.h"
#include "core/log.h"
#include "core/proc.h"
#include "llm/grammar.h"
#include "pipeline/media/media.h"
#include "pipeline/plugin-impl.h"
#include "pipeline/resources-impl.h"

struct reeli_plugin {
    struct reeli_plugin *next;
    char *name, *path, *version;
    void *handle;
    const reel_plugin *table;
    void *state;
    /* running generate() calls, bounded by caps->max_concurrency */
    int running;
    pthread_cond_t cond;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reeli_plugin *registry;

/* ---- the host table ---------------------------------------------------------------------- */
static void host_log(int level, const char *plugin, const char *msg)
{
    reel_log(level, "%s: %s", plugin ? plugin : "plugin", msg ? msg : "");
}
static void *host_alloc(size_t size)
{
    return malloc(size ? size : 1);
}
static void host_free(void *p)
{
    free(p);
}

static const reel_plugin_host host_table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin_host),
    .log = host_log,
    .alloc = host_alloc,
    .free = host_free,
    .allowed = reel_grant_allowed,
    .child_started = reel_proc_track,
    .child_ended = reel_proc_untrack,
    .http = reeli_plugin_http,
    .http_hostport = reeli_plugin_http_hostport,
};

/* ---- search path ------------------------------------------------------------------------- */
/* The folder above the one holding this code (the library or the executable linking it):
 * <prefix> for <prefix>/lib/libreel.so or <prefix>/bin/reel. Owned by the caller. */
static char *self_prefix(void)
{
    Dl_info info;
    char buf[PATH_MAX];
    const char *src = "/proc/self/exe";
    if (dladdr((void *)&reeli_plugin_get, &info) && info.dli_fname && strstr(info.dli_fname, ".so"))
        src = info.dli_fname;
    if (!realpath(src, buf)) return NULL;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(buf, '/');
        if (!slash) return NULL;
        *slash = 0;
    }
    return reel_xstrdup(buf[0] ? buf : "/");
}

static int valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) ||
              name[i] == '_' || name[i] == '-'))
            return 0;
    return 1;
}

/* The plugin search path, in order (each string owned; free with free_dirs). */
static int search_dirs(char **dirs, int max)
{
    int nd = 0;
    const char *env = getenv("REEL_PLUGIN_PATH");
    if (env && *env) {
        char *copy = reel_xstrdup(env), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d && nd < max - 5;
             d = strtok_r(NULL, ":", &save))
            dirs[nd++] = reel_xstrdup(d);
        free(copy);
    }
#ifdef REEL_PLUGIN_INSTALL_DIR
    dirs[nd++] = reel_xstrdup(REEL_PLUGIN_INSTALL_DIR);
#endif
    char *prefix = self_prefix();
    if (prefix) {
        dirs[nd++] = reel_xasprintf("%s/lib/reel/plugins", prefix);
        dirs[nd++] = reel_xasprintf("%s/plugins", prefix);
        free(prefix);
    }
#ifdef REEL_PLUGIN_BUILD_DIR
    dirs[nd++] = reel_xstrdup(REEL_PLUGIN_BUILD_DIR);
#endif
    const char *bdir = getenv("REEL_PLUGIN_BUILD_DIR");
    if (bdir && *bdir) dirs[nd++] = reel_xstrdup(bdir);
    return nd;
}

static void free_dirs(char **dirs, int nd)
{
    for (int i = 0; i < nd; i++) free(dirs[i]);
}

/* Returns the first existing reel-<name>.so along the search path (owned), or NULL. *searched
 * gets the folders looked in, for the error message. */
static char *find_plugin(const char *name, char *searched, size_t searched_size)
{
    char *dirs[64];
    int nd = search_dirs(dirs, 64);
    char *found = NULL;
    size_t used = 0;
    searched[0] = 0;
    for (int i = 0; i < nd && !found; i++) {
        char *p = reel_xasprintf("%s/reel-%s.so", dirs[i], name);
        if (access(p, R_OK) == 0)
            found = p;
        else
            free(p);
        if (used < searched_size) {
            int w =
                snprintf(searched + used, searched_size - used, "%s%s", used ? ":" : "", dirs[i]);
            if (w > 0) used += (size_t)w;
        }
    }
    free_dirs(dirs, nd);
    return found;
}

static struct reeli_plugin *load(const char *name)
{
    char searched[2048];
    char *path = find_plugin(name, searched, sizeof searched);
    if (!path) {
        reel_set_error(REEL_ENOTFOUND, "plugin '%s': reel-%s.so not found in %s", name, name,
                       searched[0] ? searched : "(no folders)");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        reel_set_error(REEL_EFORMAT, "plugin '%s': %s", name, dlerror());
        free(path);
        return NULL;
    }
    reel_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, REEL_PLUGIN_ENTRY_SYMBOL);
    const reel_plugin *t = NULL;
    const uint32_t host_v = REEL_PLUGIN_API_VERSION;
    if (!entry) {
        reel_set_error(REEL_EFORMAT, "plugin '%s': %s: no %s symbol", name, path,
                       REEL_PLUGIN_ENTRY_SYMBOL);
        goto fail;
    }
    t = entry(&host_table);
    if (!t) {
        reel_set_error(REEL_EUNSUPPORTED, "plugin '%s': %s: refused to load with host ABI %u.%u",
                       name, path, REEL_PLUGIN_VERSION_MAJOR_OF(host_v),
                       REEL_PLUGIN_VERSION_MINOR_OF(host_v));
        goto fail;
    }
    if (REEL_PLUGIN_VERSION_MAJOR_OF(t->api_version) != REEL_PLUGIN_VERSION_MAJOR_OF(host_v)) {
        reel_set_error(REEL_EUNSUPPORTED,
                       "plugin '%s': %s: plugin ABI version %u.%u, host ABI version %u.%u "
                       "(major versions must match; rebuild the plugin)",
                       name, path, REEL_PLUGIN_VERSION_MAJOR_OF(t->api_version),
                       REEL_PLUGIN_VERSION_MINOR_OF(t->api_version),
                       REEL_PLUGIN_VERSION_MAJOR_OF(host_v), REEL_PLUGIN_VERSION_MINOR_OF(host_v));
        goto fail;
    }
    if (t->struct_size < offsetof(reel_plugin, generate) + sizeof(t->generate) || !t->generate ||
        !t->caps ||
        t->caps->struct_size < offsetof(reel_plugin_caps, max_concurrency) + sizeof(int32_t)) {
        reel_set_error(REEL_EFORMAT, "plugin '%s': %s: plugin table too small or incomplete", name,
                       path);
        goto fail;
    }
    const reel_plugin_caps *c = t->caps;
    if (!c->name || strcmp(c->name, name) != 0 || !c->version || !c->params_schema ||
        c->kind < REEL_PLUGIN_KIND_VIDEO || c->kind > REEL_PLUGIN_KIND_IMAGE) {
        reel_set_error(REEL_EFORMAT,
                       "plugin '%s': %s: bad capability descriptor (name '%s', kind %d)", name,
                       path, c->name ? c->name : "(none)", (int)c->kind);
        goto fail;
    }
    json_error_t jerr;
    json_t *schema = json_loads(c->params_schema, 0, &jerr);
    if (!json_is_object(schema)) {
        json_decref(schema);
        reel_set_error(REEL_EFORMAT, "plugin '%s': params_schema is not a JSON object: %s", name,
                       jerr.text);
        goto fail;
    }
    json_decref(schema);
    if (reeli_res_check_caps(c) < 0) {
        reel_error_prefix("plugin '%s': %s", name, path);
        goto fail;
    }
    struct reeli_plugin *p = reel_xcalloc(1, sizeof *p);
    if (t->init && t->init(&host_table, &p->state) != 0) {
        free(p);
        reel_set_error(REEL_EIO, "plugin '%s': %s: initialisation failed", name, path);
        goto fail;
    }
    p->name = reel_xstrdup(name);
    p->path = path;
    p->handle = h;
    p->table = t;
    p->version = reel_xasprintf("%s %s", name, c->version);
    pthread_cond_init(&p->cond, NULL);
    REEL_LOGD("plugin %s %s loaded from %s (ABI %u.%u)", name, c->version, path,
              REEL_PLUGIN_VERSION_MAJOR_OF(t->api_version),
              REEL_PLUGIN_VERSION_MINOR_OF(t->api_version));
    return p;
fail:
    /* Refused plugins are unloaded; accepted ones stay loaded until exit. */
    dlclose(h);
    free(path);
    return NULL;
}

const reeli_plugin *reeli_plugin_get(const char *name)
{
    if (!name || !valid_name(name)) {
        reel_set_error(REEL_EINVAL, "plugin name '%s' is not valid (use a-z, 0-9, '-', '_')",
                       name ? name : "(null)");
        return NULL;
    }
    pthread_mutex_lock(&registry_lock);
    struct reeli_plugin *p;
    for (p = registry; p; p = p->next)
        if (!strcmp(p->name, name)) break;
    if (!p && (p = load(name))) {
        p->next = registry;
        registry = p;
    }
    pthread_mutex_unlock(&registry_lock);
    return p;
}

const reel_plugin_caps *reeli_plugin_caps(const reeli_plugin *p)
{
    return p->table->caps;
}
const char *reeli_plugin_version(const reeli_plugin *p)
{
    return p->version;
}

/* ---- parameter validation: the one JSON Schema validator (llm/grammar.h) ------------------ */

/* The validator's JSON pointer ("/a/1", "~1" for '/') as a parameter path ("a[1]"), following
 * the value to tell array indices from keys. */
static void param_path(const json_t *v, const char *ptr, size_t len, reel_strbuf *out)
{
    size_t i = 0;
    while (i < len && ptr[i] == '/') {
        size_t j = ++i;
        while (j < len && ptr[j] != '/') j++;
        reel_strbuf seg = {0};
        for (size_t k = i; k < j; k++) {
            if (ptr[k] == '~' && k + 1 < j && (ptr[k + 1] == '0' || ptr[k + 1] == '1')) {
                reel_strbuf_add(&seg, ptr[k + 1] == '0' ? "~" : "/", 1);
                k++;
            } else {
                reel_strbuf_add(&seg, ptr + k, 1);
            }
        }
        const char *name = seg.p ? seg.p : "";
        if (json_is_array(v)) {
            reel_strbuf_printf(out, "[%s]", name);
            v = json_array_get(v, (size_t)strtoull(name, NULL, 10));
        } else {
            reel_strbuf_printf(out, "%s%s", out->n ? "." : "", name);
            v = json_object_get(v, name);
        }
        free(seg.p);
        i = j;
    }
}

int reeli_schema_validate(const char *schema_text, const json_t *v)
{
    json_error_t err;
    json_t *s = json_loads(schema_text, 0, &err);
    if (!s) return reel_set_error(REEL_EFORMAT, "schema: %s", err.text);
    int ret = reel_json_schema_validate(s, v);
    json_decref(s);
    if (ret >= 0) return 0;
    /* "JSON value at 'PTR': WHY" -> "parameter 'PATH': WHY" (or "parameters: WHY" at the top) */
    char *msg = reel_xstrdup(reel_last_error());
    static const char pre[] = "JSON value at '";
    const char *why = msg, *end = NULL;
    if (strncmp(msg, pre, sizeof pre - 1) == 0 && (end = strstr(msg + sizeof pre - 1, "': ")))
        why = end + 3;
    reel_strbuf path = {0};
    if (end) param_path(v, msg + sizeof pre - 1, (size_t)(end - msg - (sizeof pre - 1)), &path);
    if (path.n)
        reel_set_error(REEL_EINVAL, "parameter '%s': %s", path.p, why);
    else
        reel_set_error(REEL_EINVAL, "parameters: %s", why);
    free(path.p);
    free(msg);
    return REEL_EINVAL;
}

/* ---- the sink ------------------------------------------------------------------------------ */
#define MAX_DIM          8192
#define MAX_PLUGIN_AUDIO ((int64_t)48000 * 3600 * 2) /* samples per channel */

typedef struct sink_state {
    const struct reeli_plugin *p;
    const char *out;
    int kind;
    reeli_mw *mw;
    int w, h, pix_fmt;
    AVRational fps;
    int64_t last_pts, n_frames;
    struct SwsContext *sws;
    AVFrame *yuv;
    int rate, channels, sample_fmt;
    float *pcm;
    int64_t n, cap;
    int wrote_file;
    reeli_media_limits lim; /* bounds of what the node asked for */
    json_t *result;
    char *error;
    reeli_progress_fn progress;
    void *progress_ctx;
} sink_state;

static int sink_fail(sink_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sink_fail(sink_state *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!s->error) s->error = reel_xasprintf("host: %s", buf);
    return REEL_PLUGIN_EINVAL;
}

static int s_video_begin(void *host, int32_t w, int32_t h, int32_t pix_fmt, int32_t fn, int32_t fd)
{
    sink_state *s = host;
    if (s->kind == REEL_PLUGIN_KIND_AUDIO)
        return sink_fail(s, "an audio plugin called video_begin");
    if (s->mw || s->pcm || s->wrote_file) return sink_fail(s, "video_begin called twice");
    if (w < 2 || h < 2 || w > MAX_DIM || h > MAX_DIM)
        return sink_fail(s, "video size %dx%d out of range", (int)w, (int)h);
    if (pix_fmt < REEL_PLUGIN_PIX_RGB24 || pix_fmt > REEL_PLUGIN_PIX_YUV420P)
        return sink_fail(s, "unknown pixel format %d", (int)pix_fmt);
    if (fn <= 0 || fd <= 0 || (double)fn / fd > 240)
        return sink_fail(s, "frame rate %d/%d out of range", (int)fn, (int)fd);
    const reel_plugin_caps *c = s->p->table->caps;
    if ((c->max_width && w > c->max_width) || (c->max_height && h > c->max_height))
        return sink_fail(s, "%dx%d is larger than the plugin's declared %dx%d", (int)w, (int)h,
                         (int)c->max_width, (int)c->max_height);
    s->w = w;
    s->h = h;
    s->pix_fmt = pix_fmt;
    s->fps = av_make_q(fn, fd);
    s->last_pts = -1;
    /* Intermediate frames are yuv420p, so odd sizes are rounded up to even by padding. */
    int ew = (w + 1) & ~1, eh = (h + 1) & ~1;
    reeli_mw_opts o = {.path = s->out,
                       .format = "matroska",
                       .width = ew,
                       .height = eh,
                       .fps = s->fps,
                       .vcodec = REELI_VCODEC};
    s->mw = reeli_mw_open(&o);
    if (!s->mw) return sink_fail(s, "%s", reel_last_error());
    s->yuv = av_frame_alloc();
    if (!s->yuv) return REEL_PLUGIN_EFATAL;
    s->yuv->format = AV_PIX_FMT_YUV420P;
    s->yuv->width = ew;
    s->yuv->height = eh;
    if (av_frame_get_buffer(s->yuv, 0) < 0) return sink_fail(s, "out of memory for frames");
    for (int pl = 0; pl < 3; pl++)
        memset(s->yuv->data[pl], pl ? 128 : 16, (size_t)s->yuv->linesize[pl] * (pl ? eh / 2 : eh));
    enum AVPixelFormat src = pix_fmt == REEL_PLUGIN_PIX_RGB24  ? AV_PIX_FMT_RGB24
                             : pix_fmt == REEL_PLUGIN_PIX_RGBA ? AV_PIX_FMT_RGBA
                                                               : AV_PIX_FMT_YUV420P;
    s->sws = sws_getContext(w, h, src, w, h, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!s->sws) return sink_fail(s, "cannot convert the pixel format");
    return 0;
}

static int s_video_frame(void *host, const reel_plugin_frame *f)
{
    sink_state *s = host;
    if (!s->mw || !s->sws) return sink_fail(s, "video_frame before video_begin");
    if (!f || f->width != s->w || f->height != s->h || f->pix_fmt != s->pix_fmt)
        return sink_fail(s, "frame %lld does not match the declared size/format",
                         f ? (long long)f->pts : -1LL);
    if (f->pts <= s->last_pts)
        return sink_fail(s, "frame pts %lld is not increasing", (long long)f->pts);
    if (f->pts > s->last_pts + 100000) return sink_fail(s, "frame pts jumps too far");
    if (f->pts >= s->lim.max_frames)
        return sink_fail(s, "more than %lld frames, more than allowed here (%s)",
                         (long long)s->lim.max_frames, s->lim.asked);
    if (av_frame_make_writable(s->yuv) < 0) return REEL_PLUGIN_EFATAL;
    int np = s->pix_fmt == REEL_PLUGIN_PIX_YUV420P ? 3 : 1;
    for (int i = 0; i < np; i++)
        if (!f->data[i] || f->linesize[i] <= 0)
            return sink_fail(s, "frame %lld: plane %d missing", (long long)f->pts, i);
    sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, s->h, s->yuv->data,
              s->yuv->linesize);
    /* Gaps in pts repeat the previous picture so the file has a constant frame rate. */
    for (int64_t pts = s->last_pts + 1; pts <= f->pts; pts++) {
        s->yuv->pts = pts;
        if (reeli_mw_video(s->mw, s->yuv) < 0) return sink_fail(s, "%s", reel_last_error());
    }
    s->last_pts = f->pts;
    s->n_frames = f->pts + 1;
    return 0;
}

static int s_audio_begin(void *host, int32_t rate, int32_t channels, int32_t fmt)
{
    sink_state *s = host;
    if (s->kind != REEL_PLUGIN_KIND_AUDIO)
        return sink_fail(s, "a picture plugin called audio_begin");
    if (s->rate || s->wrote_file) return sink_fail(s, "audio_begin called twice");
    if (rate < 4000 || rate > 192000) return sink_fail(s, "sample rate %d out of range", (int)rate);
    if (channels < 1 || channels > 8)
        return sink_fail(s, "channel count %d out of range", (int)channels);
    if (fmt != REEL_PLUGIN_SAMPLE_S16 && fmt != REEL_PLUGIN_SAMPLE_F32)
        return sink_fail(s, "unknown sample format %d", (int)fmt);
    s->rate = rate;
    s->channels = channels;
    s->sample_fmt = fmt;
    return 0;
}

static int s_audio_samples(void *host, const void *pcm, int64_t n)
{
    sink_state *s = host;
    if (!s->rate) return sink_fail(s, "audio_samples before audio_begin");
    if (n < 0 || (n > 0 && !pcm)) return sink_fail(s, "bad sample buffer");
    if (s->n + n > MAX_PLUGIN_AUDIO) return sink_fail(s, "more than 2 hours of audio");
    if ((double)(s->n + n) > s->lim.max_duration_s * s->rate)
        return sink_fail(s, "more than %.2f s of audio, more than allowed here (%s)",
                         s->lim.max_duration_s, s->lim.asked);
    if (s->n + n > s->cap) {
        int64_t nc = s->cap * 2 + n + 4096;
        float *b = realloc(s->pcm, (size_t)nc * s->channels * sizeof(float));
        if (!b) return sink_fail(s, "out of memory for audio");
        s->pcm = b;
        s->cap = nc;
    }
    float *dst = s->pcm + s->n * s->channels;
    size_t total = (size_t)n * s->channels;
    if (s->sample_fmt == REEL_PLUGIN_SAMPLE_S16) {
        const int16_t *src = pcm;
        for (size_t i = 0; i < total; i++) dst[i] = (float)src[i] / 32768.0f;
    } else {
        const float *src = pcm;
        for (size_t i = 0; i < total; i++)
            dst[i] = isfinite(src[i]) ? fmaxf(-1.0f, fminf(1.0f, src[i])) : 0.0f;
    }
    s->n += n;
    return 0;
}

static int s_file(void *host, const char *path)
{
    sink_state *s = host;
    if (s->mw || s->rate || s->wrote_file) return sink_fail(s, "file() after other output");
    if (!path) return sink_fail(s, "file(NULL)");
    /* the file goes through the whitelists and bounds of media/input.c: a generator (or a
     * server answering for one) decides only what is in it, never what reel opens */
    int ret = reeli_media_validate(path, s->kind, &s->lim);
    if (ret >= 0) ret = reeli_media_normalize(path, s->kind, s->out, &s->lim);
    if (ret < 0) {
        if (!s->error) s->error = reel_xasprintf("output file rejected: %s", reel_last_error());
        return REEL_PLUGIN_EFATAL;
    }
    s->wrote_file = 1;
    return 0;
}

static int s_result(void *host, const char *text)
{
    sink_state *s = host;
    json_error_t err;
    json_t *v = text ? json_loads(text, 0, &err) : NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        return sink_fail(s, "result is not a JSON object");
    }
    json_decref(s->result);
    s->result = v;
    return 0;
}

static int s_progress(void *host, double f)
{
    sink_state *s = host;
    if (s->progress && s->progress(s->progress_ctx, f < 0 ? 0 : f > 1 ? 1 : f))
        return REEL_PLUGIN_ECANCELED;
    return 0;
}

static void s_error(void *host, const char *msg)
{
    sink_state *s = host;
    free(s->error);
    s->error = reel_xstrdup(msg ? msg : "(no message)");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int map_status(int st)
{
    switch (st) {
    case REEL_PLUGIN_EINVAL:
        return REEL_EINVAL;
    case REEL_PLUGIN_ETRANSIENT:
        return REEL_ENET;
    case REEL_PLUGIN_ECANCELED:
        return REEL_ECANCELED;
    case REEL_PLUGIN_ETIMEDOUT:
        return REEL_ETIMEDOUT;
    default:
        return REEL_EIO;
    }
}

/* Checks the generic size/time parameters against the plugin's declared limits. */
static int check_limits(const reel_plugin_caps *c, const json_t *params)
{
    json_int_t w = json_integer_value(json_object_get(params, "width"));
    json_int_t h = json_integer_value(json_object_get(params, "height"));
    double fps = json_number_value(json_object_get(params, "fps"));
    double dur = json_number_value(json_object_get(params, "duration_s"));
    json_int_t frames = json_integer_value(json_object_get(params, "frames"));
    if (c->max_width && w > c->max_width)
        return reel_set_error(REEL_EINVAL, "parameter 'width': %lld is above the plugin's limit %d",
                              (long long)w, (int)c->max_width);
    if (c->max_height && h > c->max_height)
        return reel_set_error(REEL_EINVAL,
                              "parameter 'height': %lld is above the plugin's limit %d",
                              (long long)h, (int)c->max_height);
    if (c->width_quantum > 1 && w % c->width_quantum)
        return reel_set_error(REEL_EINVAL, "parameter 'width': must be a multiple of %d",
                              (int)c->width_quantum);
    if (c->height_quantum > 1 && h % c->height_quantum)
        return reel_set_error(REEL_EINVAL, "parameter 'height': must be a multiple of %d",
                              (int)c->height_quantum);
    if (c->fps_max && fps > c->fps_max)
        return reel_set_error(REEL_EINVAL, "parameter 'fps': above the plugin's limit %d",
                              (int)c->fps_max);
    if (c->max_duration_s > 0 && dur > c->max_duration_s)
        return reel_set_error(REEL_EINVAL, "parameter 'duration_s': above the plugin's limit %g",
                              c->max_duration_s);
    if (c->frame_quantum > 1 && frames > 0 && (frames - c->frame_offset) % c->frame_quantum != 0)
        return reel_set_error(REEL_EINVAL, "parameter 'frames': must be %d*k + %d",
                              (int)c->frame_quantum, (int)c->frame_offset);
    return 0;
}

/* Lua cannot tell an empty table from an empty list, and reel's JSON writes it as []: where the
 * plugin's schema asks for an object only, an empty list is the empty object the script meant
 * (a ComfyUI workflow = {}, say). Walks properties and items; v is modified in place. */
static void empty_lists_as_objects(json_t *v, const json_t *s, int depth)
{
    if (!json_is_object(s) || depth > 32) return;
    const char *type = json_string_value(json_object_get(s, "type"));
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            const json_t *ps = json_object_get(props, k);
            if (type && !strcmp(json_string_value(json_object_get(ps, "type")) ?: "", "object") &&
                json_is_array(x) && json_array_size(x) == 0)
                json_object_set_new(v, k, json_object());
            else
                empty_lists_as_objects(x, ps, depth + 1);
        }
    } else if (json_is_array(v)) {
        const json_t *items = json_object_get(s, "items");
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if (!strcmp(json_string_value(json_object_get(items, "type")) ?: "", "object") &&
                json_is_array(x) && json_array_size(x) == 0)
                json_array_set_new(v, i, json_object());
            else
                empty_lists_as_objects(x, items, depth + 1);
        }
    }
}

int reeli_plugin_run(const reeli_plugin *cp, const char *stage_kind, const json_t *params,
                     const char *out, json_t **result, reeli_progress_fn progress, void *ctx)
{
    struct reeli_plugin *p = (struct reeli_plugin *)cp;
    const reel_plugin_caps *c = p->table->caps;
    if (result) *result = NULL;
    json_t *schema = json_loads(c->params_schema, 0, NULL), *shaped = json_deep_copy(params);
    if (!shaped) {
        json_decref(schema);
        return reel_set_error(REEL_ENOMEM, "out of memory");
    }
    empty_lists_as_objects(shaped, schema, 0);
    json_decref(schema);
    int ret = reeli_schema_validate(c->params_schema, shaped);
    if (ret >= 0) ret = check_limits(c, shaped);
    char *text = ret < 0 ? NULL : json_dumps(shaped, JSON_COMPACT);
    json_decref(shaped);
    if (ret < 0) return ret;
    if (!text) return reel_set_error(REEL_ENOMEM, "out of memory");

    char *tmp = reel_proc_tmpdir("reel-plugin");
    if (!tmp) {
        free(text);
        return reel_last_error_code();
    }
    sink_state s = {.p = p, .out = out, .kind = c->kind, .progress = progress, .progress_ctx = ctx};
    reeli_media_limits_for(&s.lim, c->kind, params, c->max_width, c->max_height, c->max_duration_s);
    reel_plugin_sink sink = {
        .struct_size = sizeof sink,
        .host = &s,
        .video_begin = s_video_begin,
        .video_frame = s_video_frame,
        .audio_begin = s_audio_begin,
        .audio_samples = s_audio_samples,
        .file = s_file,
        .result = s_result,
        .progress = s_progress,
        .error = s_error,
        .tmp_dir = tmp,
    };

    pthread_mutex_lock(&registry_lock);
    while (c->max_concurrency > 0 && p->running >= c->max_concurrency)
        pthread_cond_wait(&p->cond, &registry_lock);
    p->running++;
    pthread_mutex_unlock(&registry_lock);

    int st = p->table->generate(p->state, text, &sink);

    pthread_mutex_lock(&registry_lock);
    p->running--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&registry_lock);

    if (st != REEL_PLUGIN_OK) {
        ret = reel_set_error(map_status(st), "%s", s.error ? s.error : "failed (no message)");
    } else if (s.error && strncmp(s.error, "host: ", 6) == 0) {
        ret = reel_set_error(REEL_EFORMAT, "%s", s.error);
    } else if (s.mw) {
        if (s.n_frames == 0) {
            ret = reel_set_error(REEL_EFORMAT, "produced no video frames");
        } else {
            ret = reeli_mw_close(s.mw);
            s.mw = NULL;
        }
    } else if (s.rate) {
        if (s.n == 0) {
            ret = reel_set_error(REEL_EFORMAT, "produced no audio samples");
        } else {
            /* word timings a TTS plugin reports travel with its audio (media/words.c) */
            const json_t *words = json_object_get(s.result, "words");
            json_t *meta = reeli_words_valid(words) ? reeli_words_metadata(words) : NULL;
            reeli_mw_opts o = {.path = out,
                               .format = "wav",
                               .sample_rate = s.rate,
                               .channels = s.channels,
                               .acodec = "pcm_s16le",
                               .metadata = meta};
            reeli_mw *mw = reeli_mw_open(&o);
            json_decref(meta);
            if (!mw) {
                ret = reel_last_error_code();
            } else {
                reeli_mw_set_audio(mw, s.pcm, s.n);
                ret = reeli_mw_close(mw);
            }
        }
    } else if (!s.wrote_file) {
        ret = reel_set_error(REEL_EFORMAT, "produced no output (no frames, samples or file)");
    }
    if (ret >= 0 && result) {
        *result = s.result;
        s.result = NULL;
    }
    (void)stage_kind;
    reeli_mw_free(s.mw);
    sws_freeContext(s.sws);
    av_frame_free(&s.yuv);
    free(s.pcm);
    json_decref(s.result);
    free(s.error);
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(tmp);
    free(text);
    return ret < 0 ? ret : 0;
}

/* ---- listing ------------------------------------------------------------------------------- */
static const char *kind_name(int k)
{
    return k == REEL_PLUGIN_KIND_VIDEO ? "video" : k == REEL_PLUGIN_KIND_AUDIO ? "audio" : "image";
}

static json_t *describe(const char *name)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    const reeli_plugin *p = reeli_plugin_get(name);
    if (!p) {
        json_object_set_new(o, "error", json_string(reel_last_error()));
        return o;
    }
    const reel_plugin_caps *c = p->table->caps;
    json_object_set_new(o, "version", json_string(c->version));
    json_object_set_new(o, "kind", json_string(kind_name(c->kind)));
    json_object_set_new(o, "description", json_string(c->description ? c->description : ""));
    json_object_set_new(o, "path", json_string(p->path));
    json_object_set_new(o, "abi",
                        json_sprintf("%u.%u", REEL_PLUGIN_VERSION_MAJOR_OF(p->table->api_version),
                                     REEL_PLUGIN_VERSION_MINOR_OF(p->table->api_version)));
    json_object_set_new(o, "deterministic", json_boolean(c->deterministic));
    json_object_set_new(o, "max_concurrency", json_integer(c->max_concurrency));
    if (c->max_width) json_object_set_new(o, "max_width", json_integer(c->max_width));
    if (c->max_height) json_object_set_new(o, "max_height", json_integer(c->max_height));
    if (c->max_duration_s > 0)
        json_object_set_new(o, "max_duration_s", json_real(c->max_duration_s));
    if (c->frame_quantum > 1) {
        json_object_set_new(o, "frame_quantum", json_integer(c->frame_quantum));
        json_object_set_new(o, "frame_offset", json_integer(c->frame_offset));
    }
    json_object_set_new(o, "job_resources", reeli_res_caps_json(c));
    json_object_set_new(o, "params_schema", json_loads(c->params_schema, 0, NULL));
    return o;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *reeli_plugin_list(const char *only)
{
    if (only) {
        const reeli_plugin *p = reeli_plugin_get(only);
        if (!p) return NULL;
        json_t *a = json_array();
        json_array_append_new(a, describe(only));
        return a;
    }
    char *dirs[64], *names[512];
    int nd = search_dirs(dirs, 64), nn = 0;
    for (int i = 0; i < nd; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *e;
        while (d && (e = readdir(d)) && nn < 512) {
            size_t len = strlen(e->d_name);
            if (len < 9 || strncmp(e->d_name, "reel-", 5) || strcmp(e->d_name + len - 3, ".so"))
                continue;
            char *name = reel_xasprintf("%.*s", (int)(len - 8), e->d_name + 5);
            int dup = !valid_name(name);
            for (int k = 0; k < nn && !dup; k++) dup = !strcmp(names[k], name);
            if (dup)
                free(name);
            else
                names[nn++] = name;
        }
        if (d) closedir(d);
    }
    free_dirs(dirs, nd);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    json_t *a = json_array();
    for (int k = 0; k < nn; k++) {
        json_array_append_new(a, describe(names[k]));
        free(names[k]);
    }
    return a;
}
