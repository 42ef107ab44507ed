/* Remote models over the OpenAI API: the spec, the request body, the exchange, and the checks
 * on the answer (reel validates every schema answer itself; a server's word is not enough). */
#include "llm/remote.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/http.h"
#include "core/json.h"
#include "llm/grammar.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct reel_llm_remote {
    char *spec, *url, *model, *hostport, *api_key;
    reel_llm_remote_params p;
};

reel_llm_remote_params reel_llm_remote_default_params(void)
{
    reel_llm_remote_params p = {0};
    p.timeout_s = 600;
    p.retries = 4;
    p.backoff_ms = 500;
    return p;
}

reel_llm_remote_request reel_llm_remote_default_request(void)
{
    reel_llm_remote_request q = {0};
    q.max_tokens = 256;
    q.temperature = 0.8;
    q.top_p = 0.95;
    q.think = -1;
    return q;
}

int reel_llm_remote_is_spec(const char *spec)
{
    return spec && strncmp(spec, REEL_LLM_REMOTE_PREFIX, strlen(REEL_LLM_REMOTE_PREFIX)) == 0;
}

static int truthy(const char *v)
{
    return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 &&
           strcasecmp(v, "no") != 0;
}

reel_llm_remote *reel_llm_remote_open(const char *spec, const reel_llm_remote_params *p)
{
    if (!reel_llm_remote_is_spec(spec)) {
        reel_set_error(REEL_EINVAL, "'%s' is not a remote model (openai:URL#MODEL)", spec);
        return NULL;
    }
    const char *u = spec + strlen(REEL_LLM_REMOTE_PREFIX), *hash = strrchr(u, '#');
    if (!hash || !hash[1] || hash == u) {
        reel_set_error(REEL_EINVAL,
                       "%s: a remote model is openai:URL#MODEL, e.g. "
                       "openai:http://127.0.0.1:8080/v1#my-model",
                       spec);
        return NULL;
    }
    size_t un = (size_t)(hash - u);
    while (un > 0 && u[un - 1] == '/') un--; /* ".../v1/" and ".../v1" are the same root */
    char *url = reel_xasprintf("%.*s", (int)un, u), *host = NULL;
    int port = 0;
    if (reel_http_url_host(url, &host, &port) < 0) {
        free(url);
        reel_error_prefix("%s", spec);
        return NULL;
    }
    if (truthy(getenv("REEL_OFFLINE")) && !reel_http_host_is_loopback(host)) {
        reel_set_error(REEL_ENET,
                       "%s: REEL_OFFLINE=1 is set, so reel reaches no host but this machine "
                       "(localhost, 127.0.0.1, ::1), and %s is another",
                       spec, host);
        free(url);
        free(host);
        return NULL;
    }
    reel_llm_remote *r = reel_xcalloc(1, sizeof *r);
    r->p = p ? *p : reel_llm_remote_default_params();
    r->spec = reel_xstrdup(spec);
    r->url = url;
    r->model = reel_xstrdup(hash + 1);
    r->hostport = strchr(host, ':') ? reel_xasprintf("[%s]:%d", host, port)
                                    : reel_xasprintf("%s:%d", host, port);
    free(host);
    const char *key = r->p.api_key ? r->p.api_key : getenv("OPENAI_API_KEY");
    r->api_key = key && *key ? reel_xstrdup(key) : NULL;
    r->p.api_key = NULL;
    return r;
}

void reel_llm_remote_free(reel_llm_remote *r)
{
    if (!r) return;
    free(r->spec);
    free(r->url);
    free(r->model);
    free(r->hostport);
    if (r->api_key) memset(r->api_key, 0, strlen(r->api_key));
    free(r->api_key);
    free(r);
}

const char *reel_llm_remote_spec(const reel_llm_remote *r)
{
    return r->spec;
}
const char *reel_llm_remote_url(const reel_llm_remote *r)
{
    return r->url;
}
const char *reel_llm_remote_model(const reel_llm_remote *r)
{
    return r->model;
}
const char *reel_llm_remote_hostport(const reel_llm_remote *r)
{
    return r->hostport;
}

json_t *reel_llm_remote_body(const reel_llm_remote *r, const reel_llm_remote_request *q)
{
    json_t *b = json_object();
    json_object_set_new(b, "model", json_string(r->model));
    if (q->msgs) {
        json_t *ms = json_array();
        for (size_t i = 0; i < q->n_msgs; i++)
            json_array_append_new(ms, json_pack("{s:s,s:s}", "role", q->msgs[i].role, "content",
                                                q->msgs[i].content ? q->msgs[i].content : ""));
        json_object_set_new(b, "messages", ms);
    } else {
        json_object_set_new(b, "prompt", json_string(q->prompt ? q->prompt : ""));
    }
    json_object_set_new(b, "max_tokens", json_integer(q->max_tokens));
    json_object_set_new(b, "temperature", json_real(q->temperature));
    json_object_set_new(b, "top_p", json_real(q->top_p));
    /* OpenAI's seed is a signed 64-bit integer */
    if (q->has_seed)
        json_object_set_new(b, "seed", json_integer((json_int_t)(q->seed & (uint64_t)INT64_MAX)));
    if (q->n_stop > 0) {
        json_t *s = json_array();
        for (int i = 0; i < q->n_stop; i++) json_array_append_new(s, json_string(q->stop[i]));
        json_object_set_new(b, "stop", s);
    }
    if (q->think >= 0)
        json_object_set_new(b, "chat_template_kwargs",
                            json_pack("{s:b}", "enable_thinking", q->think));
    if (q->schema)
        json_object_set_new(b, "response_format",
                            json_pack("{s:s,s:{s:s,s:O,s:b}}", "type", "json_schema", "json_schema",
                                      "name", q->schema_name ? q->schema_name : "answer", "schema",
                                      q->schema, "strict", 1));
    return b;
}

typedef struct {
    reel_llm_answer *a;
    volatile int *cancel;
    int rc;
    char msg[1024];
} exchange;

static int on_data(void *ctx, const char *data, size_t n)
{
    exchange *x = ctx;
    if (x->cancel && *x->cancel) {
        x->rc = reel_set_error(REEL_ECANCELED, "stopped");
        snprintf(x->msg, sizeof x->msg, "%s", "stopped");
        return 1;
    }
    if ((x->rc = reel_llm_answer_feed(x->a, data, n)) < 0) {
        snprintf(x->msg, sizeof x->msg, "%s", reel_last_error());
        return 1;
    }
    return 0;
}

static int on_tick(void *ctx)
{
    exchange *x = ctx;
    return *x->cancel != 0;
}

/* An HTTP failure, said in terms of what the user can change. */
static int http_failed(const reel_llm_remote *r, long status)
{
    if (status == 401 || status == 403) {
        char was[1024];
        snprintf(was, sizeof was, "%s", reel_last_error());
        return reel_set_error(REEL_EHTTP,
                              "%s: the server refused the request (HTTP %ld): %s; give the API "
                              "key with OPENAI_API_KEY=... or --api-key KEY (%s); server said: %s",
                              r->spec, status,
                              r->api_key ? "the API key was not accepted" : "no API key was sent",
                              r->api_key ? "check it" : "none is set", was);
    }
    return reel_error_prefix("%s", r->spec);
}

/* A schema answer must be complete JSON valid against the schema: a server that ignored
 * response_format is found out here. */
static int check_schema(const reel_llm_remote *r, const reel_llm_remote_request *q,
                        const reel_llm_remote_result *res)
{
    if (strcmp(res->finish_reason, "length") == 0)
        return reel_set_error(REEL_ERANGE,
                              "%s: the answer ran out of max_tokens (%d) before its JSON was "
                              "complete; allow more tokens",
                              r->spec, q->max_tokens);
    json_t *v = reel_json_parse(res->text, res->len, "answer");
    if (!v)
        return reel_error_prefix("%s: the server's answer is not JSON although a JSON schema "
                                 "was asked for (does it support response_format json_schema?)",
                                 r->spec);
    int rc = reel_json_schema_validate(q->schema, v);
    json_decref(v);
    if (rc < 0)
        return reel_error_prefix("%s: the server's answer does not match the JSON schema (does it "
                                 "ignore response_format json_schema?)",
                                 r->spec);
    return 0;
}

int reel_llm_remote_generate(reel_llm_remote *r, const reel_llm_remote_request *q,
                             reel_llm_remote_result *res)
{
    memset(res, 0, sizeof *res);
    res->n_tokens = -1;
    if (!q->msgs && !q->prompt)
        return reel_set_error(REEL_EINVAL, "%s: a request needs messages or a prompt", r->spec);
    if (q->max_tokens <= 0)
        return reel_set_error(REEL_EINVAL, "%s: max_tokens must be positive", r->spec);
    char *url = reel_xasprintf("%s/%s", r->url, q->msgs ? "chat/completions" : "completions");
    json_t *body = reel_llm_remote_body(r, q);
    if (q->stream) { /* with the token count at the end, as OpenAI's API offers */
        json_object_set_new(body, "stream", json_true());
        json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    reel_http_opts o = reel_http_default_opts();
    o.timeout_ms = r->p.timeout_s > 0 ? (long)(r->p.timeout_s * 1000) : 0;
    /* a queued or long prefill sends nothing for a while; the whole-request limit bounds it */
    o.stall_timeout_ms = 0;
    o.retries = r->p.retries;
    o.backoff_ms = r->p.backoff_ms;
    o.bearer_token = r->api_key;
    static const char *const headers[] = {"Expect:", NULL}; /* no 100-continue round trip */
    o.headers = headers;
    exchange x = {0};
    x.a = reel_llm_answer_new(q->msgs != NULL, q->on_text, q->ctx);
    x.cancel = q->cancel;
    if (q->cancel) { /* seen while the server is still thinking, too */
        o.on_tick = on_tick;
        o.tick_ctx = &x;
    }
    long status = 0;
    int rc = reel_http_post_stream(url, body, &o, on_data, &x, &status);
    if (q->cancel && *q->cancel) {
        rc = reel_set_error(REEL_ECANCELED, "%s: stopped", r->spec);
    } else if (x.rc < 0) {
        rc = reel_set_error(x.rc, "%s: %s", r->spec, x.msg);
    } else if (rc < 0) {
        rc = http_failed(r, status);
    } else if ((rc = reel_llm_answer_finish(x.a, res)) < 0) {
        reel_error_prefix("%s", r->spec);
    } else if (q->schema && (rc = check_schema(r, q, res)) < 0) {
        free(res->text);
        memset(res, 0, sizeof *res);
        res->n_tokens = -1;
    }
    reel_llm_answer_free(x.a);
    json_decref(body);
    free(url);
    return rc;
}
