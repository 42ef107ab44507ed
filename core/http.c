#include "core/http.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/log.h"
#include "core/progress.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MEM_MAX      ((size_t)256 << 20)
#define ERR_BODY_MAX 4096

reel_http_opts reel_http_default_opts(void)
{
    reel_http_opts o = {0};
    o.connect_timeout_ms = 10000;
    o.timeout_ms = 0;
    o.stall_timeout_ms = 30000;
    o.retries = 4;
    o.backoff_ms = 500;
    o.retry_after_max_ms = 60000;
    return o;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* What one attempt is writing into. */
typedef struct {
    CURL *curl;
    /* memory sink */
    char *mem;
    size_t mem_n, mem_cap, mem_max;
    /* file sink (downloads) */
    FILE *fp;
    uint64_t offset;  /* bytes already in the file before this attempt */
    uint64_t written; /* bytes written by this attempt */
    int checked;      /* the status has been looked at */
    long status;
    int truncated; /* the server ignored our Range: the file restarted from 0 */
    reel_progress *progress;
    void (*on_progress)(void *, uint64_t, uint64_t);
    void *progress_ctx;
    uint64_t total;                    /* expected file size, 0 while unknown */
    int want_hash;                     /* hash the file as it is written (expect_sha256) */
    reel_sha256_follow *follow;        /* SHA-256 of the file, on its own thread */
    const char *part;                  /* the file being written */
    uint64_t flushed;                  /* bytes handed to the kernel for writeback so far */
    char linked[REEL_SHA256_HEX_SIZE]; /* X-Linked-Etag seen on the way, or "" */
    char *link;                        /* the last answer's Link header value, or NULL */
    /* error body of an HTTP error answer */
    char err[ERR_BODY_MAX];
    size_t err_n;
    /* streaming */
    int (*on_data)(void *, const char *, size_t);
    void *ctx;
    int stopped;
    int io_error;
    int (*on_tick)(void *);
    void *tick_ctx;
    double last_tick;
} sink;

static size_t mem_put(sink *s, const char *data, size_t n)
{
    if (s->mem_n + n > s->mem_max) return 0;
    if (s->mem_n + n + 1 > s->mem_cap) {
        size_t cap = s->mem_cap ? s->mem_cap : 4096;
        while (cap < s->mem_n + n + 1) cap *= 2;
        s->mem = reel_xrealloc(s->mem, cap);
        s->mem_cap = cap;
    }
    memcpy(s->mem + s->mem_n, data, n);
    s->mem_n += n;
    s->mem[s->mem_n] = '\0';
    return n;
}

/* (Re)starts the hash of a download from the file's first byte (after a resume, a retry or a
 * restart): the hashing thread reads back what is already there, then follows the writer, so
 * the finished file is never read again. */
static int hash_restart(sink *s)
{
    if (!s->want_hash) return 0;
    reel_sha256_follow_cancel(s->follow);
    s->follow = reel_sha256_follow_start(s->part);
    if (!s->follow) return -1;
    reel_sha256_follow_grow(s->follow, s->offset);
    return 0;
}

/* Every WRITEBACK bytes, the kernel is asked to start writing the download out, so that the
 * fsync before the rename finds little left to do and the disk works while the network does. */
#define WRITEBACK ((uint64_t)32 << 20)

static int start_writeback(sink *s)
{
    const uint64_t end = s->offset + s->written;
    if (end - s->flushed < WRITEBACK) return 0;
    if (fflush(s->fp) != 0) return -1;
#ifdef SYNC_FILE_RANGE_WRITE
    sync_file_range(fileno(s->fp), (off_t)s->flushed, (off_t)(end - s->flushed),
                    SYNC_FILE_RANGE_WRITE); /* advisory: an error here only loses the overlap */
#endif
    s->flushed = end;
    return 0;
}

/* ---- headers ----------------------------------------------------------------------------------
 */

static char *dupn(const char *p, size_t n)
{
    char *d = reel_xmalloc(n + 1);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int origin_len(const char *url)
{
    const char *s = strstr(url, "://");
    if (!s) return -1;
    const char *e = strchr(s + 3, '/');
    return e ? (int)(e - url) : (int)strlen(url);
}

int reel_http_link_next(const char *value, const char *base, char **out)
{
    *out = NULL;
    for (const char *p = value; p && *p;) {
        const char *lt = strchr(p, '<');
        if (!lt) break;
        const char *gt = strchr(lt + 1, '>');
        if (!gt) break;
        const char *end = gt + 1; /* the parameters run to the next link's '<' or the end */
        const char *next_lt = strchr(end, '<');
        const size_t plen = next_lt ? (size_t)(next_lt - end) : strlen(end);
        char *params = dupn(end, plen);
        for (char *c = params; *c; c++) *c = (char)tolower((unsigned char)*c);
        const int is_next = strstr(params, "rel=\"next\"") || strstr(params, "rel=next");
        free(params);
        if (is_next) {
            const char *u = lt + 1;
            const size_t ulen = (size_t)(gt - u);
            for (size_t i = 0; i < ulen; i++)
                if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
                    return reel_set_error(REEL_EFORMAT,
                                          "%s: a next-page link with a control "
                                          "character or space",
                                          base);
            const int ob = origin_len(base);
            if (ulen > 0 && u[0] == '/' && (ulen < 2 || u[1] != '/') && ob > 0) {
                *out = reel_xasprintf("%.*s%.*s", ob, base, (int)ulen, u);
                return 0;
            }
            char *abs = dupn(u, ulen);
            const int oa = origin_len(abs);
            if (oa < 0 || oa != ob || strncasecmp(abs, base, (size_t)ob) != 0) {
                reel_set_error(REEL_EFORMAT, "%s: the next page is on another server (%.*s)", base,
                               (int)(ulen > 200 ? 200 : ulen), u);
                free(abs);
                return REEL_EFORMAT;
            }
            *out = abs;
            return 0;
        }
        p = next_lt;
    }
    return 0;
}

int reel_http_linked_sha256(const char *value, char *out)
{
    out[0] = '\0';
    while (*value == ' ' || *value == '\t') value++;
    if (!strncmp(value, "W/", 2)) value += 2;
    if (*value == '"') value++;
    size_t n = 0;
    while (isxdigit((unsigned char)value[n])) n++;
    const char *rest = value + n;
    if (*rest == '"') rest++;
    while (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n') rest++;
    if (n != 64 || *rest) return REEL_EFORMAT;
    for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)value[i]);
    out[64] = '\0';
    return 0;
}

/* libcurl hands every header line of every answer on the way (redirects included) here. */
static size_t on_header(char *data, size_t one, size_t n, void *arg)
{
    sink *s = arg;
    const size_t len = one * n;
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) { /* a new answer: its own Link, if any */
        free(s->link);
        s->link = NULL;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return len;
    const size_t nlen = (size_t)(colon - data);
    char *value = dupn(colon + 1, len - nlen - 1);
    size_t vl = strlen(value);
    while (vl && (value[vl - 1] == '\r' || value[vl - 1] == '\n' || value[vl - 1] == ' '))
        value[--vl] = '\0';
    const char *v = value + strspn(value, " \t");
    if (nlen == 13 && !strncasecmp(data, "x-linked-etag", 13) && !s->linked[0]) {
        reel_http_linked_sha256(v, s->linked);
    } else if (nlen == 4 && !strncasecmp(data, "link", 4)) {
        free(s->link);
        s->link = reel_xstrdup(v);
    }
    free(value);
    return len;
}

static size_t on_write(char *data, size_t one, size_t n, void *arg)
{
    sink *s = arg;
    (void)one;
    if (!s->checked) {
        s->checked = 1;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
        if (s->fp && s->status == 200 && s->offset > 0) {
            /* Range ignored: start the file over. */
            if (fflush(s->fp) != 0 || ftruncate(fileno(s->fp), 0) != 0 ||
                fseek(s->fp, 0, SEEK_SET) != 0) {
                s->io_error = errno;
                return 0;
            }
            s->offset = 0;
            s->flushed = 0;
            s->truncated = 1;
            if (hash_restart(s) < 0) {
                s->io_error = EIO;
                return 0;
            }
        }
        if (s->fp && s->status < 300) {
            curl_off_t len = -1;
            curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
            if (len > 0) s->total = s->offset + (uint64_t)len;
            if (len > 0) reel_progress_set_total(s->progress, s->total);
        }
    }
    if (s->status >= 300) {
        size_t room = ERR_BODY_MAX - 1 - s->err_n, k = n < room ? n : room;
        memcpy(s->err + s->err_n, data, k);
        s->err_n += k;
        s->err[s->err_n] = '\0';
        return n;
    }
    if (s->fp) {
        if (fwrite(data, 1, n, s->fp) != n) {
            s->io_error = errno ? errno : EIO;
            return 0;
        }
        s->written += n;
        if (s->follow) reel_sha256_follow_grow(s->follow, s->offset + s->written);
        if (start_writeback(s) < 0) {
            s->io_error = errno ? errno : EIO;
            return 0;
        }
        reel_progress_update(s->progress, s->offset + s->written);
        if (s->on_progress) s->on_progress(s->progress_ctx, s->offset + s->written, s->total);
        return n;
    }
    if (s->on_data) {
        s->written += n;
        if (s->on_data(s->ctx, data, n) != 0) {
            s->stopped = 1;
            return 0;
        }
        return n;
    }
    return mem_put(s, data, n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* curl's progress callback: the caller's on_tick, at most every 50 ms. */
static int on_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    sink *s = arg;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    double t = now_s();
    if (t - s->last_tick < 0.05) return 0;
    s->last_tick = t;
    if (s->on_tick(s->tick_ctx) != 0) s->stopped = 1;
    return s->stopped;
}

static int transient_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int transient_status(long st)
{
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static CURL *easy_new(const char *url, const reel_http_opts *o, struct curl_slist **hdrs,
                      char *errbuf)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->no_redirects ? 0L : 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "reel/0.1");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    if (o->timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (o->stall_timeout_ms > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (o->stall_timeout_ms + 999) / 1000);
    }
    *hdrs = NULL;
    for (const char *const *h = o->headers; h && *h; h++) *hdrs = curl_slist_append(*hdrs, *h);
    if (o->bearer_token) {
        char *a = reel_xasprintf("Authorization: Bearer %s", o->bearer_token);
        *hdrs = curl_slist_append(*hdrs, a);
        free(a);
    }
    return c;
}

/* The server's error message, shortened for one line. */
static const char *err_excerpt(sink *s)
{
    for (size_t i = 0; i < s->err_n; i++)
        if (s->err[i] == '\n' || s->err[i] == '\r') s->err[i] = ' ';
    if (s->err_n > 200) strcpy(s->err + 197, "...");
    return s->err;
}

/* Runs one request with retries into s (memory, a file: fp set, or a stream: on_data set).
 * post_body (post_len bytes) makes it a POST. */
static int perform(const char *url, const reel_http_opts *o, const char *post_body, size_t post_len,
                   struct curl_slist *extra, sink *s, const char *path_for_resume)
{
    long backoff = o->backoff_ms > 0 ? o->backoff_ms : 1;
    int rc = 0;
    for (int attempt = 0;; attempt++) {
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdrs;
        CURL *c = easy_new(url, o, &hdrs, errbuf);
        if (!c) return reel_set_error(REEL_ENOMEM, "%s: cannot create a curl handle", url);
        for (struct curl_slist *e = extra; e; e = e->next) hdrs = curl_slist_append(hdrs, e->data);
        if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        if (post_body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, post_body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len);
        }
        if (o->on_tick) {
            s->on_tick = o->on_tick;
            s->tick_ctx = o->tick_ctx;
            curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
            curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
            curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
        }
        s->curl = c;
        s->checked = 0;
        s->status = 0;
        s->err_n = 0;
        s->err[0] = '\0';
        s->mem_n = 0;
        s->written = 0;
        s->total = 0;
        if (s->fp) {
            fflush(s->fp);
            struct stat st;
            s->offset = fstat(fileno(s->fp), &st) == 0 ? (uint64_t)st.st_size : 0;
            if (fseek(s->fp, 0, SEEK_END) != 0) s->offset = 0;
            s->flushed = s->offset;
            if (hash_restart(s) < 0) {
                curl_easy_cleanup(c);
                curl_slist_free_all(hdrs);
                return reel_last_error_code();
            }
            /* big reads: fewer calls into the write callback for a large file */
            curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
            if (s->offset > 0) {
                curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)s->offset);
                REEL_LOGI("%s: resuming at byte %llu", path_for_resume,
                          (unsigned long long)s->offset);
            }
        }
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
        free(s->link);
        s->link = NULL;
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_off_t retry_after = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after);
        s->status = status;
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);

        int transient = 0;
        if (s->stopped) return reel_set_error(REEL_ECANCELED, "%s: stopped by the reader", url);
        if (s->io_error) {
            errno = s->io_error;
            return reel_set_error_errno("%s: writing %s", url,
                                        path_for_resume ? path_for_resume : "memory");
        }
        if (cc == CURLE_WRITE_ERROR && !s->fp && !s->on_data)
            return reel_set_error(REEL_ERANGE, "%s: answer larger than %zu bytes", url, s->mem_max);
        if (cc == CURLE_RANGE_ERROR || status == 416) {
            /* Our partial file is longer than the resource: start over. */
            if (s->fp && s->offset > 0 && attempt == 0) {
                if (ftruncate(fileno(s->fp), 0) == 0) continue;
            }
            return reel_set_error(REEL_EHTTP, "%s: server refused the byte range", url);
        }
        if (cc != CURLE_OK) {
            rc = reel_set_error(cc == CURLE_OPERATION_TIMEDOUT ? REEL_ETIMEDOUT : REEL_ENET,
                                "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
            transient = transient_curl(cc) && !(s->on_data && s->written > 0);
        } else if (status >= 400) {
            rc = reel_set_error(REEL_EHTTP, "%s: HTTP %ld%s%s", url, status, s->err_n ? ": " : "",
                                err_excerpt(s));
            transient = transient_status(status);
        } else {
            return 0;
        }
        if (!transient || attempt >= o->retries) return rc;
        /* the server knows best when it will be ready again: wait at least what it asks */
        long wait = backoff;
        if (retry_after > 0 && status >= 400) {
            long cap = o->retry_after_max_ms > 0 ? o->retry_after_max_ms : 0;
            long asked = retry_after > cap / 1000 ? cap : (long)retry_after * 1000;
            if (asked > wait) wait = asked;
        }
        REEL_LOGW("%s (attempt %d of %d, retrying in %.1f s)", reel_last_error(), attempt + 1,
                  o->retries + 1, (double)wait / 1000);
        sleep_ms(wait);
        backoff *= 2;
    }
}

int reel_http_get_file(const char *url, const char *path, const reel_http_opts *opts)
{
    reel_http_opts o = opts ? *opts : reel_http_default_opts();
    char *part = reel_xasprintf("%s.part", path);
    sink s = {0};
    int rc = 0;
    if (o.status) *o.status = 0;
    s.fp = fopen(part, "ab");
    if (!s.fp) {
        rc = reel_set_error_errno("%s", part);
        goto fail;
    }
    /* unbuffered: what fwrite returns from is in the file, for the hashing thread to read (libcurl
     * hands over large pieces) */
    setvbuf(s.fp, NULL, _IONBF, 0);
    s.part = part;
    s.want_hash = o.expect_sha256 || o.linked_sha256;
    if (o.linked_sha256) o.linked_sha256[0] = '\0';
    if (o.progress) {
        const char *base = strrchr(path, '/');
        s.progress = reel_progress_init(base ? base + 1 : path, 0, "B");
    }
    s.on_progress = o.on_progress;
    s.progress_ctx = o.progress_ctx;
    rc = perform(url, &o, NULL, 0, NULL, &s, part);
    free(s.link);
    if (o.status) *o.status = s.status;
    if (o.linked_sha256) memcpy(o.linked_sha256, s.linked, sizeof s.linked);
    if (rc < 0) goto fail;
    if (fflush(s.fp) != 0 || fsync(fileno(s.fp)) != 0) {
        rc = reel_set_error_errno("%s: flush", part);
        goto fail;
    }
    fclose(s.fp);
    s.fp = NULL;
    /* what the caller knows, else what the server vouched for on the way */
    const char *expect = o.expect_sha256                         ? o.expect_sha256
                         : o.linked_sha256 && o.linked_sha256[0] ? o.linked_sha256
                                                                 : NULL;
    if (expect) {
        uint8_t d[REEL_SHA256_SIZE];
        char hex[REEL_SHA256_HEX_SIZE];
        if (s.follow) { /* hashed as it arrived */
            rc = reel_sha256_follow_finish(s.follow, d);
            s.follow = NULL;
            if (rc < 0) goto fail;
        } else if ((rc = reel_sha256_file(part, d)) < 0) {
            goto fail;
        }
        reel_hex(d, sizeof d, hex);
        if (strcasecmp(hex, expect) != 0) {
            if (!o.keep_part_on_mismatch) unlink(part);
            rc = reel_set_error(REEL_EFORMAT, "%s: checksum mismatch: got sha256 %s, expected %s",
                                url, hex, expect);
            goto fail;
        }
    }
    if (rename(part, path) != 0) {
        rc = reel_set_error_errno("%s: rename from %s", path, part);
        goto fail;
    }
fail:
    reel_sha256_follow_cancel(s.follow);
    if (s.fp) fclose(s.fp);
    if (rc == 0)
        reel_progress_finish(s.progress);
    else
        reel_progress_cancel(s.progress);
    free(part);
    return rc;
}

int reel_http_get(const char *url, const reel_http_opts *opts, char **body, size_t *size,
                  long *status)
{
    reel_http_opts o = opts ? *opts : reel_http_default_opts();
    sink s = {0};
    s.mem_max = MEM_MAX;
    int rc = perform(url, &o, NULL, 0, NULL, &s, NULL);
    if (status) *status = s.status;
    if (o.next_page) *o.next_page = NULL;
    if (rc == 0 && o.next_page && s.link) rc = reel_http_link_next(s.link, url, o.next_page);
    free(s.link);
    if (rc == 0 && !s.mem) s.mem = reel_xcalloc(1, 1);
    if (body)
        *body = s.mem;
    else
        free(s.mem);
    if (size) *size = s.mem_n;
    return rc;
}

int reel_http_post_json(const char *url, const json_t *body, const reel_http_opts *opts,
                        json_t **response, long *status)
{
    reel_http_opts o = opts ? *opts : reel_http_default_opts();
    if (o.timeout_ms == 0) o.timeout_ms = 600000;
    *response = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) return reel_set_error(REEL_EINVAL, "%s: request body is not serialisable", url);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json");
    sink s = {0};
    s.mem_max = MEM_MAX;
    int rc = perform(url, &o, text, strlen(text), h, &s, NULL);
    free(s.link);
    curl_slist_free_all(h);
    free(text);
    if (status) *status = s.status;
    if (rc == 0) {
        *response = reel_json_parse(s.mem ? s.mem : "", s.mem_n, url);
        if (!*response) {
            char excerpt[81];
            snprintf(excerpt, sizeof excerpt, "%s", s.mem ? s.mem : "");
            for (char *p = excerpt; *p; p++)
                if (*p == '\n' || *p == '\r') *p = ' ';
            rc = reel_set_error(REEL_EFORMAT, "%s: answer is not JSON (%s): \"%s\"", url,
                                reel_last_error(), excerpt);
        }
    }
    free(s.mem);
    return rc;
}

int reel_http_request_stream(const char *method, const char *url, const char *content_type,
                             const char *body, size_t body_len, const reel_http_opts *opts,
                             int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                             long *status)
{
    reel_http_opts o = opts ? *opts : reel_http_default_opts();
    if (status) *status = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return reel_set_error(REEL_EINVAL, "%s: method %s: only GET and POST are spoken", url,
                              method);
    if (!strcmp(method, "POST") && !body) body = "";
    if (!strcmp(method, "GET") && body)
        return reel_set_error(REEL_EINVAL, "%s: a GET request carries no body", url);
    struct curl_slist *h = NULL;
    if (body && content_type) {
        char *ct = reel_xasprintf("Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
        free(ct);
    }
    sink s = {0};
    s.on_data = on_data;
    s.ctx = ctx;
    int rc = perform(url, &o, body, body ? body_len : 0, h, &s, NULL);
    free(s.link);
    curl_slist_free_all(h);
    if (status) *status = s.status;
    return rc;
}

int reel_http_post_stream(const char *url, const json_t *body, const reel_http_opts *opts,
                          int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                          long *status)
{
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text) return reel_set_error(REEL_EINVAL, "%s: request body is not serialisable", url);
    int rc = reel_http_request_stream("POST", url, "application/json", text, strlen(text), opts,
                                      on_data, ctx, status);
    free(text);
    return rc;
}

int reel_http_url_host(const char *url, char **host, int *port)
{
    *host = NULL;
    *port = 0;
    CURLU *u = curl_url();
    char *scheme = NULL, *h = NULL, *p = NULL;
    int rc = 0;
    if (!u) return reel_set_error(REEL_ENOMEM, "%s: cannot parse the URL", url);
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !*h ||
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rc = reel_set_error(REEL_EINVAL, "'%s' is not an http:// or https:// URL with a host", url);
    } else {
        size_t n = strlen(h);
        if (h[0] == '[' && n >= 2 && h[n - 1] == ']')
            *host = reel_xasprintf("%.*s", (int)(n - 2), h + 1);
        else
            *host = reel_xstrdup(h);
        *port = atoi(p);
    }
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

int reel_http_host_is_loopback(const char *host)
{
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0 ||
        (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
        return 1;
    if (strcmp(host, "::1") == 0 || strcasecmp(host, "0:0:0:0:0:0:0:1") == 0) return 1;
    unsigned a, b, c, d;
    char tail;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}
