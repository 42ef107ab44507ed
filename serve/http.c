/* The HTTP side of reel serve, on libmicrohttpd: routing, authentication, body limits, JSON
 * answers and server-sent event streams.
 *
 * Threading: libmicrohttpd runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
 * A request waits for its generation by blocking in its own thread (the access handler for a
 * JSON answer, the content reader for a stream), so a slow or stalled client only ever holds
 * up itself: the workers never write to sockets, they append to the job and move on. The
 * alternative, one polling thread with suspend/resume, would need every wait turned into a
 * callback for the same result; the connection limit bounds the threads. While it waits, a
 * request polls its socket for a hang-up, so a client that goes away cancels its generation
 * even before any token was sent. */
#include "serve/serve-impl.h"

#include <microhttpd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* How often a waiting request looks at its socket (ms). */
#define POLL_MS 200
/* Idle seconds before libmicrohttpd drops a connection that sends nothing (slow headers or
 * body); a request being answered has no limit: it watches its client itself. */
#define IDLE_TIMEOUT_S 60

typedef enum { ROUTE_NONE, ROUTE_HEALTH, ROUTE_MODELS, ROUTE_CHAT, ROUTE_COMPLETION } route;

typedef struct conn {
    route route;
    int answered; /* a response is queued: ignore the rest of the body */
    int too_big;
    reel_serve_error err; /* status != 0: the answer, once the body is read */
    size_t received;
    reel_strbuf body;
    reeli_job *job; /* this connection's reference */
} conn;

/* ---- plain answers ------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, conn *cx, unsigned status, char *body,
                             const char *ctype, const char *h1, const char *v1)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (h1) MHD_add_response_header(r, h1, v1);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (cx) cx->answered = 1;
    return ok;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, conn *cx, unsigned status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    return reply(c, cx, status, s ? s : reel_xstrdup("{}"), "application/json", NULL, NULL);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, conn *cx, const reel_serve_error *e)
{
    const char *h = NULL, *v = NULL;
    if (e->status == 401) h = MHD_HTTP_HEADER_WWW_AUTHENTICATE, v = "Bearer";
    if (e->status == 503) h = MHD_HTTP_HEADER_RETRY_AFTER, v = "1";
    if (e->status == 405)
        h = MHD_HTTP_HEADER_ALLOW, v = cx && cx->route >= ROUTE_CHAT ? "POST" : "GET";
    return reply(c, cx, (unsigned)e->status, reel_serve_error_json(e), "application/json", h, v);
}

/* ---- routing and authentication ------------------------------------------------------------ */

static route route_of(const char *url, const char *method, reel_serve_error *e)
{
    static const struct {
        const char *path, *method;
        route r;
    } R[] = {
        {"/health", "GET", ROUTE_HEALTH},
        {"/v1/models", "GET", ROUTE_MODELS},
        {"/v1/chat/completions", "POST", ROUTE_CHAT},
        {"/v1/completions", "POST", ROUTE_COMPLETION},
    };
    for (size_t i = 0; i < sizeof R / sizeof *R; i++) {
        if (strcmp(url, R[i].path) != 0) continue;
        if (!strcmp(method, R[i].method) || (R[i].r <= ROUTE_MODELS && !strcmp(method, "HEAD")))
            return R[i].r;
        reel_serve_fail(e, 405, "invalid_request_error", "method_not_allowed", NULL,
                        "%s %s: use %s", method, url, R[i].method);
        return R[i].r;
    }
    reel_serve_fail(e, 404, "invalid_request_error", "not_found", NULL,
                    "no such endpoint: %.200s (reel serves /v1/chat/completions, "
                    "/v1/completions, /v1/models and /health)",
                    url);
    return ROUTE_NONE;
}

/* Compares the whole key whatever the first difference, so timing says nothing of it. */
static int authorized(const reel_server *s, struct MHD_Connection *c)
{
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    size_t n = strlen(h), k = strlen(s->api_key);
    unsigned char diff = n != k;
    for (size_t i = 0; i < k; i++) diff |= (unsigned char)(s->api_key[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
}

/* ---- the client's socket -------------------------------------------------------------------- */

static int socket_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* 1 once the client has hung up (it sends nothing more on a connection awaiting its answer). */
static int client_gone(int fd)
{
    if (fd < 0) return 0;
    struct pollfd p = {fd, POLLRDHUP, 0};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static void new_answer(const reel_server *s, reel_serve_kind kind, reeli_answer *a, char id[48])
{
    unsigned char r[12] = {0};
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(r, &ts, sizeof r < sizeof ts ? sizeof r : sizeof ts);
    }
    int n = snprintf(id, 48, "%s", kind == REEL_SERVE_CHAT ? "chatcmpl-" : "cmpl-");
    for (size_t i = 0; i < sizeof r; i++) n += snprintf(id + n, (size_t)(48 - n), "%02x", r[i]);
    a->kind = kind;
    a->id = id;
    a->created = (int64_t)time(NULL);
    a->model = s->sm.id;
}

/* ---- streams: server-sent events ------------------------------------------------------------ */

typedef struct stream {
    reeli_job *job; /* the stream's reference */
    reeli_answer a;
    char id[48];
    int include_usage;
    int fd;
    int stage; /* 0: role chunk next, 1: text, 2: all written */
    reel_strbuf out;
    size_t off;
    size_t sent[2];
} stream;

/* Adds the next events to st->out; -1 when the client is gone. */
static int stream_fill(stream *st)
{
    reeli_job *j = st->job;
    if (st->stage == 0) {
        st->stage = 1;
        if (st->a.kind == REEL_SERVE_CHAT) {
            reeli_sse_event(
                &st->out, reeli_answer_chunk(&st->a, 1, NULL, 0, NULL, 0, NULL, st->include_usage));
            return 0;
        }
    }
    reel_strbuf got[2] = {{0}, {0}};
    int done = reeli_job_take(j, st->sent, got, POLL_MS);
    if (got[0].n || got[1].n)
        reeli_sse_event(&st->out, reeli_answer_chunk(&st->a, 0, got[0].p, got[0].n, got[1].p,
                                                     got[1].n, NULL, st->include_usage));
    free(got[0].p);
    free(got[1].p);
    if (done) {
        if (j->fail.status) {
            char *e = reel_serve_error_json(&j->fail);
            reel_strbuf_printf(&st->out, "data: %s\n\n", e);
            free(e);
        } else {
            reeli_sse_event(&st->out, reeli_answer_chunk(&st->a, 0, NULL, 0, NULL, 0, j->finish,
                                                         st->include_usage));
            if (st->include_usage)
                reeli_sse_event(&st->out,
                                reeli_answer_usage_chunk(&st->a, (int)j->n_ids, j->n_tokens));
        }
        reel_strbuf_str(&st->out, "data: [DONE]\n\n");
        st->stage = 2;
    } else if (!st->out.n && client_gone(st->fd)) {
        reeli_job_cancel(j);
        return -1;
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    while (st->off == st->out.n) {
        st->off = st->out.n = 0;
        if (st->stage == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        if (stream_fill(st) < 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t k = st->out.n - st->off < max ? st->out.n - st->off : max;
    memcpy(buf, st->out.p + st->off, k);
    st->off += k;
    return (ssize_t)k;
}

static void stream_free(void *cls)
{
    stream *st = cls;
    reeli_job_cancel(st->job); /* a no-op once done; stops a stream cut short */
    reeli_job_unref(st->job);
    free(st->out.p);
    free(st);
}

/* ---- completions ---------------------------------------------------------------------------- */

static enum MHD_Result answer_stream(reel_server *s, struct MHD_Connection *c, conn *cx,
                                     reel_serve_kind kind, int include_usage)
{
    stream *st = reel_xcalloc(1, sizeof *st);
    reeli_job_ref(cx->job);
    st->job = cx->job;
    st->include_usage = include_usage;
    st->fd = socket_of(c);
    new_answer(s, kind, &st->a, st->id);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    cx->answered = 1;
    return ok;
}

static enum MHD_Result answer_whole(reel_server *s, struct MHD_Connection *c, conn *cx,
                                    reel_serve_kind kind)
{
    reeli_job *j = cx->job;
    size_t sent[2] = {0, 0};
    reel_strbuf text[2] = {{0}, {0}};
    for (int i = 0; i < 2; i++) reel_strbuf_add(&text[i], "", 0);
    const int fd = socket_of(c);
    while (!reeli_job_take(j, sent, text, POLL_MS))
        if (client_gone(fd)) {
            reeli_job_cancel(j);
            free(text[0].p);
            free(text[1].p);
            return MHD_NO; /* closes the connection */
        }
    enum MHD_Result ok;
    if (j->fail.status) {
        ok = reply_error(c, cx, &j->fail);
    } else {
        reeli_answer a;
        char id[48];
        new_answer(s, kind, &a, id);
        ok = reply_json(c, cx, MHD_HTTP_OK,
                        reeli_answer_full(&a, text, j->finish, (int)j->n_ids, j->n_tokens));
    }
    free(text[0].p);
    free(text[1].p);
    return ok;
}

static enum MHD_Result completion(reel_server *s, struct MHD_Connection *c, conn *cx)
{
    const reel_serve_kind kind = cx->route == ROUTE_CHAT ? REEL_SERVE_CHAT : REEL_SERVE_COMPLETION;
    reel_serve_error err = {0};
    reel_serve_request req;
    if (reel_serve_request_parse(cx->body.p ? cx->body.p : "", cx->body.n, kind, &req, &err) < 0)
        return reply_error(c, cx, &err);
    reeli_job *j = reeli_job_new();
    if (reeli_serve_prepare(&s->sm, &req, j, &err) < 0 ||
        reeli_engine_submit(s->engine, j, &err) < 0) {
        reeli_job_unref(j);
        reel_serve_request_free(&req);
        return reply_error(c, cx, &err);
    }
    cx->job = j;
    __atomic_add_fetch(&s->busy, 1, __ATOMIC_SEQ_CST);
    const int stream = req.stream, include_usage = req.include_usage;
    reel_serve_request_free(&req);
    /* the generation may take longer than any idle limit: the request watches its client */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    return stream ? answer_stream(s, c, cx, kind, include_usage) : answer_whole(s, c, cx, kind);
}

static enum MHD_Result get_route(reel_server *s, struct MHD_Connection *c, conn *cx)
{
    if (cx->route == ROUTE_HEALTH) {
        const reeli_engine_stats st = reeli_engine_get_stats(s->engine);
        return reply_json(c, cx, MHD_HTTP_OK,
                          json_pack("{s:s,s:s,s:i,s:i,s:I,s:I}", "status", "ok", "model", s->sm.id,
                                    "running", st.running, "queued", st.queued, "served",
                                    (json_int_t)st.served, "cancelled", (json_int_t)st.cancelled));
    }
    json_t *m = json_pack("{s:s,s:s,s:I,s:s}", "id", s->sm.id, "object", "model", "created",
                          (json_int_t)s->created, "owned_by", "reel");
    return reply_json(c, cx, MHD_HTTP_OK, json_pack("{s:s,s:[o]}", "object", "list", "data", m));
}

/* A body this many times over the limit is not even read: the connection is closed. */
#define DISCARD_FACTOR 16

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    reel_server *s = cls;
    conn *cx = *con_cls;
    if (!cx) {
        /* the headers are in. A refusal is decided now but sent once the body is read: a
         * reply before it would make the server close a socket with unread data, which resets
         * the connection and may lose the reply on the client's side */
        *con_cls = cx = reel_xcalloc(1, sizeof *cx);
        cx->route = route_of(url, method, &cx->err);
        if (!cx->err.status && cx->route != ROUTE_HEALTH && !authorized(s, c))
            reel_serve_fail(&cx->err, 401, "invalid_request_error", "invalid_api_key", NULL,
                            "missing or wrong API key: send 'Authorization: Bearer KEY' with "
                            "the server's --api-key");
        const char *len =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        const unsigned long long n = len ? strtoull(len, NULL, 10) : 0;
        if (n > s->max_body) cx->too_big = 1;
        if (n > (unsigned long long)s->max_body * DISCARD_FACTOR) { /* not worth reading */
            reel_serve_fail(&cx->err, 413, "invalid_request_error", "request_too_large", NULL,
                            "the request body is larger than this server's limit of %zu bytes",
                            s->max_body);
            return reply_error(c, cx, &cx->err);
        }
        return MHD_YES;
    }
    if (cx->answered) { /* answered early: the rest of the body is dropped */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        cx->received += *upload_size;
        if (cx->err.status || cx->too_big || cx->body.n + *upload_size > s->max_body) {
            cx->too_big |= !cx->err.status;
            free(cx->body.p);
            cx->body = (reel_strbuf){0};
        } else {
            reel_strbuf_add(&cx->body, upload, *upload_size);
        }
        *upload_size = 0;
        return cx->received > s->max_body * DISCARD_FACTOR ? MHD_NO : MHD_YES;
    }
    if (cx->err.status) return reply_error(c, cx, &cx->err);
    if (cx->too_big) {
        reel_serve_error err;
        reel_serve_fail(&err, 413, "invalid_request_error", "request_too_large", NULL,
                        "the request body is larger than this server's limit of %zu bytes",
                        s->max_body);
        return reply_error(c, cx, &err);
    }
    if (cx->route <= ROUTE_MODELS) return get_route(s, c, cx);
    return completion(s, c, cx);
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    (void)c, (void)why;
    reel_server *s = cls;
    conn *cx = *con_cls;
    if (!cx) return;
    if (cx->job) {
        reeli_job_cancel(cx->job); /* a no-op once done; the client left otherwise */
        reeli_job_unref(cx->job);
        __atomic_sub_fetch(&s->busy, 1, __ATOMIC_SEQ_CST);
    }
    free(cx->body.p);
    free(cx);
    *con_cls = NULL;
}

struct MHD_Daemon *reeli_http_start(reel_server *s, const struct sockaddr *addr, int ipv6,
                                    unsigned max_connections)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | (ipv6 ? MHD_USE_IPv6 : 0);
    if (reel_log_level() <= REEL_LOG_DEBUG) flags |= MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, s, MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_CONNECTION_LIMIT,
        max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, s, MHD_OPTION_END);
    if (!d) reel_set_error_errno("cannot listen");
    return d;
}

int reeli_http_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : -1;
}

void reeli_http_stop(struct MHD_Daemon *d)
{
    if (d) MHD_stop_daemon(d);
}
