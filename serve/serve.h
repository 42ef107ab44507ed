/* reel serve: an OpenAI-compatible HTTP server over the in-process engine.
 *
 * Endpoints: POST /v1/chat/completions and /v1/completions (a JSON answer, or server-sent
 * events with "stream": true), GET /v1/models and GET /health. HTTP is libmicrohttpd's;
 * this module maps OpenAI requests onto reel's chat templates, sampler, grammars (JSON Schema
 * response formats) and generation loop, and queues them fairly onto a fixed set of sessions.
 *
 *     reel_serve_params p = reel_serve_default_params();
 *     p.model = "model.gguf";
 *     p.port = 0;                                    // any free port
 *     reel_server *s = reel_server_start(&p);        // NULL + reel_last_error()
 *     printf("port %d\n", reel_server_port(s));
 *     ...                                            // until SIGTERM
 *     reel_server_stop(s);
 *
 * The request parser is exposed on its own (reel_serve_request_parse) so that it can be tested
 * and fuzzed without a model or a socket.
 */
#ifndef REEL_SERVE_H
#define REEL_SERVE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "llm/chat.h"

/* ---- errors, as OpenAI writes them: {"error":{"message","type","param","code"}} ---------- */

typedef struct reel_serve_error {
    int status;       /* HTTP status: 400, 401, 404, 413, 500, 503 ... */
    const char *type; /* "invalid_request_error", "server_error", ... (static) */
    const char *code; /* machine-readable code ("invalid_api_key") or NULL (static) */
    char param[128];  /* the request field at fault ("messages[2].role"), "" for none */
    char message[512];
} reel_serve_error;

/* Fills e; param may be NULL. Returns -1 (so a parser can `return reel_serve_fail(...)`). */
int reel_serve_fail(reel_serve_error *e, int status, const char *type, const char *code,
                    const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The error's JSON body (malloc'ed, NUL-terminated; free()). */
char *reel_serve_error_json(const reel_serve_error *e);

/* ---- requests ------------------------------------------------------------------------------- */

typedef enum reel_serve_kind {
    REEL_SERVE_CHAT,       /* /v1/chat/completions */
    REEL_SERVE_COMPLETION, /* /v1/completions */
} reel_serve_kind;

typedef enum reel_serve_format {
    REEL_SERVE_FORMAT_TEXT,
    REEL_SERVE_FORMAT_JSON_OBJECT, /* any JSON object */
    REEL_SERVE_FORMAT_JSON_SCHEMA, /* JSON valid against `schema` */
} reel_serve_format;

#define REEL_SERVE_MAX_STOP 4 /* OpenAI's limit on stop sequences */

/* A validated request. Strings point into `doc` (or `owned`) and live as long as the request. */
typedef struct reel_serve_request {
    reel_serve_kind kind;
    json_t *doc; /* the parsed body */
    /* chat: the messages, roles "system" ("developer" is read as "system"), "user" and
     * "assistant"; content given as an array of text parts is joined with "\n" */
    reel_llm_chat_msg *msgs;
    size_t n_msgs;
    char **owned; /* joined texts */
    size_t n_owned;
    /* completion: the prompt as text, or as token ids (prompt NULL) */
    const char *prompt;
    int32_t *prompt_ids;
    size_t n_prompt_ids;
    int64_t max_tokens;        /* max_tokens or max_completion_tokens; -1 when absent */
    double temperature, top_p; /* OpenAI's defaults: 1 and 1 */
    int has_seed;
    uint64_t seed;
    const char *stop[REEL_SERVE_MAX_STOP];
    int n_stop;
    int stream, include_usage; /* stream; stream_options.include_usage */
    reel_serve_format format;  /* response_format */
    const json_t *schema;      /* FORMAT_JSON_SCHEMA: response_format.json_schema.schema */
    int think;                 /* chat_template_kwargs.enable_thinking: 0, 1, or -1 when absent */
} reel_serve_request;

/* Parses and validates an OpenAI request body of the given kind. Unknown fields are ignored;
 * fields reel cannot honour (n > 1, logprobs, tools, echo, best_of, suffix) and every wrong
 * type or value fail with a 400 error naming the field. Returns 0, or -1 with *err set (then
 * *req holds nothing to free). */
int reel_serve_request_parse(const char *body, size_t len, reel_serve_kind kind,
                             reel_serve_request *req, reel_serve_error *err);

/* Frees what a successful parse holds. Safe on a zeroed request. */
void reel_serve_request_free(reel_serve_request *req);

/* ---- the server ----------------------------------------------------------------------------- */

typedef struct reel_serve_params {
    const char *model;   /* GGUF file or Hugging Face directory (required) */
    const char *host;    /* address to bind: an IPv4/IPv6 literal or "localhost";
                            default "127.0.0.1" */
    int port;            /* 0: a free port (see reel_server_port); default 8080 */
    int parallel;        /* decoding sessions, each its own context; default 1 */
    const char *api_key; /* required as "Authorization: Bearer KEY" when set */
    int n_threads;       /* compute threads; <= 0: one per CPU */
    int64_t n_ctx;       /* positions per session; 0: 4096 (or the model's, if smaller) */
    int max_queue;       /* requests waiting for a session before 503; default 64 */
    size_t max_body;     /* request body limit in bytes before 413; default 1 MiB */
    int think;           /* default of chat_template_kwargs.enable_thinking; default 0 */
} reel_serve_params;

/* Defaults as documented above (model NULL). */
reel_serve_params reel_serve_default_params(void);

/* 1 if host is a loopback address (127.0.0.0/8, ::1, "localhost"), 0 if it is another address,
 * -1 (REEL_EINVAL set) if it is not an address reel can bind (names other than localhost are
 * refused: binding never needs DNS). */
int reel_serve_host_is_loopback(const char *host);

typedef struct reel_server reel_server;

/* Loads the model and its tokenizer, creates the sessions and their workers and starts
 * listening. Refuses a non-loopback host without an api key. NULL + reel_last_error(). */
reel_server *reel_server_start(const reel_serve_params *p);

/* The port the server listens on (the one chosen when params.port was 0). */
int reel_server_port(const reel_server *s);

/* The model id the server reports ("model" in answers, /v1/models). Borrowed. */
const char *reel_server_model_id(const reel_server *s);

/* Stops accepting, cancels the requests in flight (their clients get an error), waits for the
 * connection threads and workers and frees everything. NULL is a no-op. */
void reel_server_stop(reel_server *s);

#endif
