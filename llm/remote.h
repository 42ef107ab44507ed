/* reel llm: remote models — any OpenAI-compatible server (vLLM, TensorRT-LLM, NIM, llama-server,
 * `reel serve`) named "openai:URL#MODEL", e.g. "openai:http://127.0.0.1:8080/v1#tiny-a".
 *
 * A chat goes to URL/chat/completions, a plain prompt to URL/completions, streamed as
 * server-sent events or not. A JSON Schema is sent as response_format {type: json_schema,
 * strict: true} and every answer is still parsed and validated here: a server that ignores the
 * schema fails closed. Transport (timeouts, retries with backoff on connection errors, 429 and
 * 5xx, Retry-After) is core/http.c's. With REEL_OFFLINE=1 only this machine may be reached.
 *
 *     reel_llm_remote *r = reel_llm_remote_open("openai:http://127.0.0.1:8080/v1#tiny-a", NULL);
 *     reel_llm_remote_request q = reel_llm_remote_default_request();
 *     q.prompt = "Once upon a time";
 *     reel_llm_remote_result res;
 *     if (!r || reel_llm_remote_generate(r, &q, &res) < 0) puts(reel_last_error());
 */
#ifndef REEL_LLM_REMOTE_H
#define REEL_LLM_REMOTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/chat.h"

#define REEL_LLM_REMOTE_PREFIX "openai:"

typedef struct reel_llm_remote reel_llm_remote;

typedef struct reel_llm_remote_params {
    const char *api_key; /* sent as "Authorization: Bearer"; NULL: $OPENAI_API_KEY (if set) */
    double timeout_s;    /* whole request, in seconds (default 600); 0: no limit */
    int retries;         /* extra attempts after a transient failure (default 4) */
    long backoff_ms;     /* first wait between attempts, doubled each time (default 500) */
} reel_llm_remote_params;

/* Defaults as documented above. */
reel_llm_remote_params reel_llm_remote_default_params(void);

/* 1 if spec starts with "openai:". */
int reel_llm_remote_is_spec(const char *spec);

/* Parses "openai:URL#MODEL" (URL http or https, the API root such as http://host:8000/v1; MODEL
 * not empty); touches no network. With REEL_OFFLINE=1 a host other than this machine is
 * refused. NULL with REEL_EINVAL (REEL_ENET when offline) and a message quoting spec. p may be
 * NULL for defaults. */
reel_llm_remote *reel_llm_remote_open(const char *spec, const reel_llm_remote_params *p);
void reel_llm_remote_free(reel_llm_remote *r);

/* The spec as given, the API root URL, the model name, and "HOST:PORT" (IPv6 as [HOST]:PORT,
 * the form reel_grant_allowed takes). Owned by r. */
const char *reel_llm_remote_spec(const reel_llm_remote *r);
const char *reel_llm_remote_url(const reel_llm_remote *r);
const char *reel_llm_remote_model(const reel_llm_remote *r);
const char *reel_llm_remote_hostport(const reel_llm_remote *r);

/* One request. */
typedef struct reel_llm_remote_request {
    const reel_llm_chat_msg *msgs; /* a chat (roles system, user, assistant), or NULL */
    size_t n_msgs;
    const char *prompt;      /* a plain completion when msgs is NULL */
    const json_t *schema;    /* JSON Schema the answer must satisfy (chat only), or NULL */
    const char *schema_name; /* response_format's name ([A-Za-z0-9_-]); default "answer" */
    int max_tokens;          /* > 0 (default 256) */
    double temperature;      /* default 0.8 */
    double top_p;            /* default 0.95 */
    int has_seed;
    uint64_t seed; /* sent with its top bit cleared: OpenAI's seed is a signed 64-bit integer */
    const char *const *stop; /* stop strings, or NULL */
    int n_stop;
    int think;  /* chat_template_kwargs.enable_thinking: 0 or 1; -1 (default): not sent */
    int stream; /* 1: ask for server-sent events (on_text sees each piece as it arrives) */
    /* called with each piece of the answer text as it arrives (streamed), or once with the
     * whole text; may be NULL */
    void (*on_text)(void *ctx, const char *text, size_t len);
    void *ctx;
    volatile int *cancel; /* stops the request (REEL_ECANCELED) soon after *cancel becomes
                             nonzero; may be NULL */
} reel_llm_remote_request;

/* Defaults as documented above. */
reel_llm_remote_request reel_llm_remote_default_request(void);

/* The JSON body reel_llm_remote_generate sends for q (new reference), "stream" left out: what a
 * cache key of a remote generation hashes, with the model's URL. */
json_t *reel_llm_remote_body(const reel_llm_remote *r, const reel_llm_remote_request *q);

typedef struct reel_llm_remote_result {
    char *text; /* the answer (NUL-terminated, free()) */
    size_t len;
    char finish_reason[16]; /* "stop", "length", ... as the server said; "" if it did not */
    int n_tokens;           /* usage.completion_tokens, or -1 when the server did not say */
} reel_llm_remote_result;

/* Sends q and collects the answer. A schema answer that is not JSON valid against the schema,
 * an answer cut short by max_tokens under a schema, a truncated or malformed stream, an HTTP
 * error (401/403 naming the API key) fail with a message naming the spec. */
int reel_llm_remote_generate(reel_llm_remote *r, const reel_llm_remote_request *q,
                             reel_llm_remote_result *res);

/* ---- the answer parser (server-sent events or one JSON answer; exposed for tests and fuzzing)
 */

typedef struct reel_llm_answer reel_llm_answer;

/* A parser for the answer of a chat (chat 1) or completion (chat 0) request. on_text (may be
 * NULL) gets each piece of content as it is parsed. */
reel_llm_answer *reel_llm_answer_new(int chat, void (*on_text)(void *, const char *, size_t),
                                     void *ctx);
void reel_llm_answer_free(reel_llm_answer *a);

/* Feeds the next bytes of the body. Either server-sent events ("data: {chunk}" lines, ending
 * with "data: [DONE]") or, when the body starts with '{', one JSON answer. Returns 0, or
 * REEL_EFORMAT naming the event and what is wrong (an "error" event carries the server's
 * message). */
int reel_llm_answer_feed(reel_llm_answer *a, const char *data, size_t n);

/* The body has ended: fills res (text moved out of the parser) or fails with REEL_EFORMAT when
 * the answer is incomplete (a stream cut before its end, an empty body). */
int reel_llm_answer_finish(reel_llm_answer *a, reel_llm_remote_result *res);

#endif
