/* reel plugin "comfyui": a shot from a ComfyUI server (or a pool of them) over HTTP. The
 * workflow (ComfyUI "API format" JSON) gets the shot's values substituted, is queued with
 * POST /prompt, polled with GET /history/<id>, and its first output file (videos/gifs before
 * images) is downloaded with GET /view and handed to the host, which decodes and checks it.
 *
 * Substitution: a workflow string that is exactly "{seed}", "{width}", "{height}", "{frames}"
 * or "{fps}" becomes that number; "{prompt}" and "{negative}" (and the numbers) inside longer
 * strings are replaced as text. Other braces are left alone. Connection failures, HTTP 5xx and
 * timeouts are transient (the scheduler may retry); HTTP 4xx and execution errors are not.
 *
 * Only hosts the user granted are contacted (the host's allowed("net", "HOST:PORT"), e.g. from
 * `reel run --allow-host`); every request is bounded by what is left of timeout_s and stops
 * as soon as the host asks to cancel (through sink->progress, polled during transfers).
 * Requests go through the host's HTTP client (plugin ABI 1.2: host->http), so the plugin links
 * no HTTP library. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugins/reel_plugin.h"

static const char schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"workflow\"],"
    "\"properties\":{"
    "\"server\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
    "\"servers\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":64,"
    "\"items\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048}},"
    "\"workflow\":{\"type\":\"object\",\"additionalProperties\":true},"
    "\"prompt\":{\"type\":\"string\",\"maxLength\":65536},"
    "\"negative\":{\"type\":\"string\",\"maxLength\":65536},"
    "\"seed\":{\"type\":\"integer\",\"minimum\":0},"
    "\"width\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"height\":{\"type\":\"integer\",\"minimum\":16,\"maximum\":8192},"
    "\"frames\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000},"
    "\"fps\":{\"type\":\"number\",\"minimum\":1,\"maximum\":240},"
    "\"duration_s\":{\"type\":\"number\",\"minimum\":0.01,\"maximum\":3600},"
    "\"timeout_s\":{\"type\":\"number\",\"minimum\":0.1,\"maximum\":86400},"
    "\"poll_s\":{\"type\":\"number\",\"minimum\":0.01,\"maximum\":60}}}";

#define MAX_JSON_BODY ((size_t)16 << 20)
#define MAX_FILE_BODY ((size_t)4 << 30)

static atomic_uint next_server;
static const reel_plugin_host *host;

/* ---- HTTP (the host's client) ------------------------------------------------------------ */
typedef struct body {
    char *p;
    size_t n, cap, limit;
    FILE *file; /* when downloading to a file */
    size_t written;
    int too_big, write_failed;
} body;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where a transfer writes, and whether the host wants the plugin to stop. */
typedef struct xfer {
    const reel_plugin_sink *s;
    double fraction, last;
    int canceled;
    body *b;
} xfer;

/* The answer's bytes (or, with len 0, a moment to ask the host whether to go on; at most
 * every 50 ms). Non-zero stops the transfer. */
static int on_data(void *ctx, const char *data, size_t len)
{
    xfer *x = ctx;
    body *b = x->b;
    double t = now_s();
    if (t - x->last >= 0.05) {
        x->last = t;
        if (x->s->progress(x->s->host, x->fraction) != 0) x->canceled = 1;
    }
    if (x->canceled) return 1;
    if (!len) return 0;
    if ((b->file ? b->written : b->n) + len > b->limit) {
        b->too_big = 1;
        return 1;
    }
    if (b->file) {
        b->written += len;
        if (fwrite(data, 1, len, b->file) != len) b->write_failed = 1;
        return b->write_failed;
    }
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->too_big = 1;
            return 1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = 0;
    return 0;
}

/* One request, given timeout_s seconds (> 0) and watching x for cancel. Returns
 * REEL_PLUGIN_OK for HTTP 2xx, else a status with msg filled. */
static int http(const char *url, const char *post_json, body *b, double timeout_s, xfer *x,
                char *msg, size_t msg_size)
{
    long status = 0;
    x->b = b;
    int rc = host->http(post_json ? "POST" : "GET", url, "application/json", post_json,
                        post_json ? strlen(post_json) : 0, timeout_s, on_data, x, &status, msg,
                        msg_size);
    if (b->too_big) {
        snprintf(msg, msg_size, "%.700s: answer larger than %zu bytes", url, b->limit);
        return REEL_PLUGIN_EFATAL;
    }
    if (b->write_failed) {
        snprintf(msg, msg_size, "%.700s: cannot write the answer to a file", url);
        return REEL_PLUGIN_EFATAL;
    }
    if (x->canceled || rc == REEL_PLUGIN_ECANCELED) {
        snprintf(msg, msg_size, "canceled");
        return REEL_PLUGIN_ECANCELED;
    }
    if (rc != REEL_PLUGIN_OK) return rc;
    if (status < 200 || status > 299) {
        snprintf(msg, msg_size, "%.700s: HTTP %ld", url, status);
        return REEL_PLUGIN_EFATAL;
    }
    return REEL_PLUGIN_OK;
}

/* Percent-encodes s for a query value (RFC 3986: unreserved characters stay). */
static void url_escape(char *out, size_t size, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (; *s && k + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[k++] = (char)c;
        } else {
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
}

/* ---- workflow substitution ------------------------------------------------------------------ */
typedef struct vars {
    const char *names[7];
    char values[7][64];
    const char *text[7]; /* the value as text (prompt/negative point into params) */
    int numeric[7];
} vars;

static char *replace_all(const char *s, const vars *v)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *p = s; *p;) {
        const char *val = NULL;
        size_t skip = 0;
        if (*p == '{') {
            for (int i = 0; i < 7; i++) {
                size_t len = strlen(v->names[i]);
                if (!strncmp(p + 1, v->names[i], len) && p[1 + len] == '}') {
                    val = v->text[i];
                    skip = len + 2;
                    break;
                }
            }
        }
        const char *src = val ? val : p;
        size_t len = val ? strlen(val) : 1;
        if (n + len + 1 > cap) {
            cap = (n + len + 1) * 2;
            char *q = realloc(out, cap);
            if (!q) {
                free(out);
                return NULL;
            }
            out = q;
        }
        memcpy(out + n, src, len);
        n += len;
        p += val ? skip : 1;
    }
    out[n] = 0;
    return out;
}

/* Rewrites the strings in j (recursively). Returns j or a replacement (owned). */
static json_t *substitute(json_t *j, const vars *v)
{
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        for (int i = 0; i < 7; i++) {
            char whole[80];
            snprintf(whole, sizeof whole, "{%s}", v->names[i]);
            if (v->numeric[i] && !strcmp(s, whole)) {
                double x = atof(v->values[i]);
                json_decref(j);
                return x == floor(x) ? json_integer((json_int_t)x) : json_real(x);
            }
        }
        if (!strchr(s, '{')) return j;
        char *r = replace_all(s, v);
        if (!r) return j;
        json_t *n = json_string(r);
        free(r);
        if (!n) return j; /* not UTF-8 after substitution: keep the original */
        json_decref(j);
        return n;
    }
    if (json_is_object(j)) {
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(j, tmp, key, val)
        {
            json_incref(val);
            json_object_set_new(j, key, substitute(val, v));
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *val = json_incref(json_array_get(j, i));
            json_array_set_new(j, i, substitute(val, v));
        }
    }
    return j;
}

/* The first output file in a /history entry: videos and gifs first, then images. */
static const json_t *pick_output(const json_t *entry)
{
    const char *kinds[] = {"videos", "gifs", "images"};
    const json_t *outputs = json_object_get(entry, "outputs");
    for (int k = 0; k < 3; k++) {
        const char *node;
        json_t *o;
        json_object_foreach((json_t *)outputs, node, o)
        {
            const json_t *files = json_object_get(o, kinds[k]);
            const json_t *f = json_array_get(files, 0);
            if (json_is_string(json_object_get(f, "filename"))) return f;
        }
    }
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

/* REEL_PLUGIN_OK if the user allowed the server's host and port, else EINVAL with msg. */
static int check_server(const char *server, char *msg, size_t msg_size)
{
    char hp[600];
    if (!REEL_PLUGIN_HOST_HAS(host, allowed) || !REEL_PLUGIN_HOST_HAS(host, http) ||
        !REEL_PLUGIN_HOST_HAS(host, http_hostport)) {
        snprintf(msg, msg_size,
                 "this reel cannot grant hosts or reach them for plugins (plugin "
                 "ABI 1.2 needed)");
        return REEL_PLUGIN_EFATAL;
    }
    if (host->http_hostport(server, hp, sizeof hp) != 0) {
        snprintf(msg, msg_size, "server '%.200s': not an http:// or https:// URL", server);
        return REEL_PLUGIN_EINVAL;
    }
    if (!host->allowed("net", hp)) {
        snprintf(msg, msg_size,
                 "host '%.300s' is not allowed (reel run --allow-host %.300s allows it)", hp, hp);
        return REEL_PLUGIN_EINVAL;
    }
    return REEL_PLUGIN_OK;
}

/* Runs the whole job on one server, within timeout seconds. */
static int run_on(const char *server, const json_t *workflow, const reel_plugin_sink *s,
                  double timeout, double poll, char *msg, size_t msg_size)
{
    char url[4096];
    double t0 = now_s();
    xfer x = {.s = s};
    size_t sl = strlen(server);
    while (sl && server[sl - 1] == '/') sl--;
    json_t *req = json_pack("{s:O,s:s}", "prompt", (json_t *)workflow, "client_id", "reel");
    char *post = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    body b = {.limit = MAX_JSON_BODY};
    snprintf(url, sizeof url, "%.*s/prompt", (int)sl, server);
    int rc = post ? http(url, post, &b, timeout, &x, msg, msg_size) : REEL_PLUGIN_EFATAL;
    free(post);
    json_t *ans = rc == 0 ? json_loads(b.p ? b.p : "", 0, NULL) : NULL;
    free(b.p);
    if (rc) return rc == REEL_PLUGIN_EFATAL ? REEL_PLUGIN_EINVAL : rc; /* 4xx: bad workflow */
    const char *id = json_string_value(json_object_get(ans, "prompt_id"));
    int odd = 0;
    for (const char *c = id; c && *c; c++) odd |= (unsigned char)*c < 0x21 || *c == 0x7f;
    if (!id || odd || strlen(id) > 200 || strpbrk(id, "/?#&%")) {
        snprintf(msg, msg_size, "%.700s: answer without a usable prompt_id", url);
        json_decref(ans);
        return REEL_PLUGIN_EFATAL;
    }
    char pid[256];
    snprintf(pid, sizeof pid, "%s", id);
    json_decref(ans);

    json_t *hist = NULL;
    const json_t *entry = NULL;
    for (;;) {
        if (now_s() - t0 > timeout) {
            snprintf(msg, msg_size, "%.*s: prompt %s not finished after %g s", (int)sl, server, pid,
                     timeout);
            return REEL_PLUGIN_ETIMEDOUT;
        }
        x.fraction = fmin(0.9, (now_s() - t0) / timeout);
        if (s->progress(s->host, x.fraction) != 0) {
            snprintf(msg, msg_size, "canceled");
            return REEL_PLUGIN_ECANCELED;
        }
        b = (body){.limit = MAX_JSON_BODY};
        snprintf(url, sizeof url, "%.*s/history/%s", (int)sl, server, pid);
        rc = http(url, NULL, &b, t0 + timeout - now_s(), &x, msg, msg_size);
        if (rc == REEL_PLUGIN_ETIMEDOUT)
            snprintf(msg, msg_size, "%.*s: prompt %s not finished after %g s", (int)sl, server, pid,
                     timeout);
        hist = rc == 0 ? json_loads(b.p ? b.p : "", 0, NULL) : NULL;
        free(b.p);
        if (rc) return rc;
        if (!json_is_object(hist)) {
            json_decref(hist);
            snprintf(msg, msg_size, "%.700s: answer is not a JSON object", url);
            return REEL_PLUGIN_EFATAL;
        }
        entry = json_object_get(hist, pid);
        const json_t *st = json_object_get(entry, "status");
        const char *ss = json_string_value(json_object_get(st, "status_str"));
        if (ss && !strcmp(ss, "error")) {
            char *m = json_dumps(json_object_get(st, "messages"), JSON_COMPACT);
            snprintf(msg, msg_size, "%.*s: prompt %s failed: %.600s", (int)sl, server, pid,
                     m ? m : "(no messages)");
            free(m);
            json_decref(hist);
            return REEL_PLUGIN_EFATAL;
        }
        if (entry && (json_is_true(json_object_get(st, "completed")) || !st) &&
            json_object_size(json_object_get(entry, "outputs")) > 0)
            break;
        json_decref(hist);
        hist = NULL;
        sleep_s(poll);
    }
    const json_t *f = pick_output(entry);
    if (!f) {
        snprintf(msg, msg_size, "%.*s: prompt %s finished without an output file", (int)sl, server,
                 pid);
        json_decref(hist);
        return REEL_PLUGIN_EFATAL;
    }
    const char *fname = json_string_value(json_object_get(f, "filename"));
    const char *sub = json_is_string(json_object_get(f, "subfolder"))
                          ? json_string_value(json_object_get(f, "subfolder"))
                          : "";
    const char *type = json_is_string(json_object_get(f, "type"))
                           ? json_string_value(json_object_get(f, "type"))
                           : "output";
    char ef[1024], es[1024], et[256];
    url_escape(ef, sizeof ef, fname);
    url_escape(es, sizeof es, sub);
    url_escape(et, sizeof et, type);
    snprintf(url, sizeof url, "%.*s/view?filename=%s&subfolder=%s&type=%s", (int)sl, server, ef, es,
             et);
    /* keep the extension (it tells the demuxer what it is); the name itself is ours */
    const char *dot = strrchr(fname, '.');
    char ext[16] = "";
    if (dot && strlen(dot) < sizeof ext && !strchr(dot, '/')) snprintf(ext, sizeof ext, "%s", dot);
    char path[4096];
    snprintf(path, sizeof path, "%s/output%s", s->tmp_dir, ext);
    json_decref(hist);
    FILE *out = fopen(path, "wb");
    if (!out) {
        snprintf(msg, msg_size, "cannot write %.700s", path);
        return REEL_PLUGIN_EFATAL;
    }
    b = (body){.limit = MAX_FILE_BODY, .file = out};
    x.fraction = 0.9;
    rc = now_s() - t0 < timeout ? http(url, NULL, &b, t0 + timeout - now_s(), &x, msg, msg_size)
                                : REEL_PLUGIN_ETIMEDOUT;
    if (rc == REEL_PLUGIN_ETIMEDOUT)
        snprintf(msg, msg_size, "%.*s: prompt %s: output not downloaded within %g s", (int)sl,
                 server, pid, timeout);
    free(b.p);
    if (fclose(out) != 0 && rc == 0) {
        snprintf(msg, msg_size, "cannot write %.700s", path);
        rc = REEL_PLUGIN_EFATAL;
    }
    if (rc == 0) rc = s->file(s->host, path);
    unlink(path);
    return rc;
}

static int generate(void *state, const char *params_json, const reel_plugin_sink *s)
{
    (void)state;
    json_t *p = json_loads(params_json, 0, NULL);
    if (!p) {
        s->error(s->host, "parameters are not JSON");
        return REEL_PLUGIN_EINVAL;
    }
    const json_t *servers = json_object_get(p, "servers");
    const char *one = json_string_value(json_object_get(p, "server"));
    size_t ns = servers ? json_array_size(servers) : 1;
    if (!servers && !one) one = "http://127.0.0.1:8188";
    double fps = json_object_get(p, "fps") ? json_number_value(json_object_get(p, "fps")) : 24;
    double dur =
        json_object_get(p, "duration_s") ? json_number_value(json_object_get(p, "duration_s")) : 0;
    long long frames = json_object_get(p, "frames")
                           ? json_integer_value(json_object_get(p, "frames"))
                       : dur > 0 ? llround(dur * fps)
                                 : llround(2 * fps);
    vars v = {.names = {"prompt", "negative", "seed", "width", "height", "frames", "fps"}};
    v.text[0] = json_is_string(json_object_get(p, "prompt"))
                    ? json_string_value(json_object_get(p, "prompt"))
                    : "";
    v.text[1] = json_is_string(json_object_get(p, "negative"))
                    ? json_string_value(json_object_get(p, "negative"))
                    : "";
    snprintf(v.values[2], 64, "%lld", (long long)json_integer_value(json_object_get(p, "seed")));
    snprintf(v.values[3], 64, "%lld",
             json_object_get(p, "width")
                 ? (long long)json_integer_value(json_object_get(p, "width"))
                 : 512LL);
    snprintf(v.values[4], 64, "%lld",
             json_object_get(p, "height")
                 ? (long long)json_integer_value(json_object_get(p, "height"))
                 : 512LL);
    snprintf(v.values[5], 64, "%lld", frames);
    snprintf(v.values[6], 64, "%g", fps);
    for (int i = 2; i < 7; i++) {
        v.text[i] = v.values[i];
        v.numeric[i] = 1;
    }
    json_t *wf = substitute(json_deep_copy(json_object_get(p, "workflow")), &v);
    double timeout =
        json_object_get(p, "timeout_s") ? json_number_value(json_object_get(p, "timeout_s")) : 1800;
    double poll =
        json_object_get(p, "poll_s") ? json_number_value(json_object_get(p, "poll_s")) : 1;
    char msg[1024] = "";
    int rc = REEL_PLUGIN_ETRANSIENT;
    /* Round-robin over the pool; a server that cannot be reached hands the job to the next. */
    unsigned start = atomic_fetch_add(&next_server, 1);
    for (size_t k = 0; k < ns; k++) {
        const char *srv = servers ? json_string_value(json_array_get(servers, k)) : one;
        rc = check_server(srv, msg, sizeof msg);
        if (rc != REEL_PLUGIN_OK) goto out;
    }
    for (size_t k = 0; k < ns; k++) {
        const char *srv =
            servers ? json_string_value(json_array_get(servers, (start + k) % ns)) : one;
        rc = run_on(srv, wf, s, timeout, poll, msg, sizeof msg);
        if (rc != REEL_PLUGIN_ETRANSIENT) break;
    }
out:
    if (rc != REEL_PLUGIN_OK && msg[0]) s->error(s->host, msg);
    json_decref(wf);
    json_decref(p);
    return rc;
}

static int init(const reel_plugin_host *h, void **state)
{
    (void)h;
    *state = NULL;
    return 0;
}

static const reel_plugin_caps caps = {
    .struct_size = sizeof(reel_plugin_caps),
    .kind = REEL_PLUGIN_KIND_VIDEO,
    .name = "comfyui",
    .version = "1.0",
    .description = "a ComfyUI server or pool: queue a workflow, poll, download the output",
    .params_schema = schema,
    .max_width = 8192,
    .max_height = 8192,
    .deterministic = 0,
    /* the job only talks to the server, which holds the GPU: no gres (a site's GPU names
     * differ anyway; a script asks with resources = {gres = ...} when it runs one itself) */
    .job_cpus = 1,
    .job_mem = "1G",
};

static const reel_plugin table = {
    .api_version = REEL_PLUGIN_API_VERSION,
    .struct_size = sizeof(reel_plugin),
    .caps = &caps,
    .init = init,
    .generate = generate,
};

REEL_PLUGIN_EXPORT const reel_plugin *reel_plugin_entry(const reel_plugin_host *h)
{
    host = h;
    return &table;
}
