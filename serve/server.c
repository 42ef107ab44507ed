/* Starting and stopping a server: the address to bind (loopback unless an API key guards it),
 * the model and tokenizer, the engine's sessions, then the HTTP daemon; the reverse to stop. */
#include "serve/serve-impl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

reel_serve_params reel_serve_default_params(void)
{
    reel_serve_params p = {0};
    p.host = "127.0.0.1";
    p.port = 8080;
    p.parallel = 1;
    p.max_queue = 64;
    p.max_body = 1u << 20;
    return p;
}

/* host as a socket address; "localhost" is 127.0.0.1, names are not looked up. */
static int parse_host(const char *host, struct sockaddr_storage *ss, int *ipv6)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        *ipv6 = 0;
        return 0;
    }
    /* "[::1]" as in a URL, or "::1" */
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        host = buf;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        *ipv6 = 1;
        return 0;
    }
    return reel_set_error(REEL_EINVAL,
                          "'%s' is not an IP address (give one, such as 127.0.0.1, ::1 or "
                          "0.0.0.0, or localhost)",
                          host);
}

static int is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
    /* ::ffff:127.x.y.z */
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

int reel_serve_host_is_loopback(const char *host)
{
    struct sockaddr_storage ss;
    int v6;
    if (!host || parse_host(host, &ss, &v6) < 0) return -1;
    return is_loopback(&ss);
}

/* The id answers report: the model's file or folder name, without ".gguf". */
static void model_id(const char *path, char *id, size_t size)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    size_t len = n - b;
    if (len > 5 && !strncmp(path + n - 5, ".gguf", 5)) len -= 5;
    if (len >= size) len = size - 1;
    memcpy(id, path + b, len);
    id[len] = '\0';
    if (!*id) snprintf(id, size, "model");
}

static int load_model(reel_server *s, const reel_serve_params *p)
{
    reeli_serve_model *sm = &s->sm;
    reel_llm_model_params mp = reel_llm_model_default_params();
    mp.n_threads = p->n_threads;
    if (!(sm->m = reel_llm_model_load(p->model, &mp))) return -1;
    sm->vocab = reel_llm_desc_vocab(reel_llm_model_desc(sm->m));
    if (!sm->vocab || sm->vocab->n_tokens <= 0)
        return reel_set_error(REEL_EUNSUPPORTED, "%s: the model carries no tokenizer", p->model);
    if (!(sm->tok = reel_llm_tokenizer_init(sm->vocab))) return -1;
    sm->chat = reel_llm_chat_detect(sm->vocab->chat_template);
    sm->n_stops = reel_llm_gen_stop_ids(sm->tok, sm->vocab, sm->stops, 16);
    sm->think_end = reel_llm_tokenizer_find(sm->tok, "</think>");
    sm->think = p->think;
    int64_t ctx = reel_llm_model_hparams(sm->m)->context_length;
    sm->n_ctx = p->n_ctx > 0 ? p->n_ctx : (ctx > 0 && ctx < 4096 ? ctx : 4096);
    model_id(p->model, sm->id, sizeof sm->id);
    s->created = (int64_t)time(NULL);
    return 0;
}

reel_server *reel_server_start(const reel_serve_params *p)
{
    struct sockaddr_storage ss;
    int ipv6 = 0;
    if (!p->model) {
        reel_set_error(REEL_EINVAL, "serve: no model given");
        return NULL;
    }
    if (parse_host(p->host ? p->host : "127.0.0.1", &ss, &ipv6) < 0) return NULL;
    if (!is_loopback(&ss) && !(p->api_key && *p->api_key)) {
        reel_set_error(REEL_EINVAL,
                       "refusing to listen on %s without an API key: anyone who can reach it "
                       "could use the model (give --api-key KEY, or listen on 127.0.0.1)",
                       p->host);
        return NULL;
    }
    if (p->port < 0 || p->port > 65535 || p->parallel < 1 || p->parallel > 256 ||
        p->max_queue < 1 || p->max_body < 1) {
        reel_set_error(REEL_EINVAL, "serve: port, parallel, max_queue or max_body out of range");
        return NULL;
    }
    if (ipv6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p->port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p->port);
    reel_server *s = reel_xcalloc(1, sizeof *s);
    s->max_body = p->max_body;
    s->api_key = p->api_key && *p->api_key ? reel_xstrdup(p->api_key) : NULL;
    if (load_model(s, p) < 0 ||
        !(s->engine = reeli_engine_start(&s->sm, p->parallel, p->max_queue))) {
        reel_server_stop(s);
        return NULL;
    }
    /* room for every queued and running request, plus a few for /health and refusals */
    const unsigned conns = (unsigned)(p->max_queue + p->parallel + 16);
    if (!(s->daemon = reeli_http_start(s, (const struct sockaddr *)&ss, ipv6, conns))) {
        reel_error_prefix("%s port %d", p->host, p->port);
        reel_server_stop(s);
        return NULL;
    }
    s->port = reeli_http_port(s->daemon);
    return s;
}

int reel_server_port(const reel_server *s)
{
    return s->port;
}

const char *reel_server_model_id(const reel_server *s)
{
    return s->sm.id;
}

void reel_server_stop(reel_server *s)
{
    if (!s) return;
    s->stopping = 1;
    /* the requests in flight are cancelled first and given a moment to tell their clients
     * (an error event, or a 503), then the daemon closes what is left and joins its threads */
    if (s->engine) reeli_engine_cancel_all(s->engine);
    for (int i = 0; s->daemon && i < 500 && __atomic_load_n(&s->busy, __ATOMIC_SEQ_CST) > 0; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    reeli_http_stop(s->daemon);
    reeli_engine_free(s->engine);
    reel_llm_tokenizer_free(s->sm.tok);
    reel_llm_model_free(s->sm.m);
    free(s->api_key);
    free(s);
}
