/* The plugin host's HTTP services: plugins reach servers through core/http.c (one HTTP client
 * for the whole program) instead of linking an HTTP library of their own. */
#include "pipeline/plugin-impl.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int (*on_data)(void *ctx, const char *data, size_t size);
    void *ctx;
} reader;

/* The plugin may stop a request that is only waiting, too. */
static int tick(void *arg)
{
    reader *r = arg;
    return r->on_data(r->ctx, NULL, 0);
}

int reeli_plugin_http(const char *method, const char *url, const char *content_type,
                      const char *body, size_t body_len, double timeout_s,
                      int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                      long *status, char *msg, size_t msg_size)
{
    long st = 0;
    if (status) *status = 0;
    if (!method || !url || !on_data) {
        snprintf(msg, msg_size, "http: method, url and on_data are required");
        return REEL_PLUGIN_EINVAL;
    }
    char *host = NULL;
    int port;
    if (reel_http_url_host(url, &host, &port) < 0) {
        snprintf(msg, msg_size, "%s", reel_last_error());
        return REEL_PLUGIN_EINVAL;
    }
    free(host);
    reel_http_opts o = reel_http_default_opts();
    /* the plugin judges what to do next: the scheduler retries what is transient */
    o.retries = 0;
    double ms = timeout_s * 1000;
    o.timeout_ms = !(ms >= 1) ? 1 : ms > 1e9 ? 1000000000L : (long)ms;
    o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
    o.stall_timeout_ms = 0;
    o.no_redirects = 1; /* a redirect could lead to a host the user did not grant */
    reader r = {on_data, ctx};
    o.on_tick = tick;
    o.tick_ctx = &r;
    int rc =
        reel_http_request_stream(method, url, content_type, body, body_len, &o, on_data, ctx, &st);
    if (status) *status = st;
    if (rc == 0) return REEL_PLUGIN_OK;
    snprintf(msg, msg_size, "%s", reel_last_error());
    switch (rc) {
    case REEL_ECANCELED:
        return REEL_PLUGIN_ECANCELED;
    case REEL_ETIMEDOUT:
        return REEL_PLUGIN_ETIMEDOUT;
    case REEL_ENET:
        return REEL_PLUGIN_ETRANSIENT;
    case REEL_EINVAL:
        return REEL_PLUGIN_EINVAL;
    case REEL_EHTTP:
        return st == 408 || st == 429 || st >= 500 ? REEL_PLUGIN_ETRANSIENT : REEL_PLUGIN_EFATAL;
    default:
        return REEL_PLUGIN_EFATAL;
    }
}

int reeli_plugin_http_hostport(const char *url, char *out, size_t out_size)
{
    char *host = NULL;
    int port;
    if (!url || reel_http_url_host(url, &host, &port) < 0) {
        reel_clear_error();
        return -1;
    }
    int n = strchr(host, ':') ? snprintf(out, out_size, "[%s]:%d", host, port)
                              : snprintf(out, out_size, "%s:%d", host, port);
    free(host);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}
