/* Private declarations shared by the files of serve/: the model a server runs, jobs (one
 * request on its way through a session), the engine that runs them, and the answer builders. */
#ifndef REEL_SERVE_IMPL_H
#define REEL_SERVE_IMPL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "llm/constrain.h"
#include "llm/llm.h"
#include "llm/tokenizer.h"
#include "serve/serve.h"

/* ---- the model, as requests are prepared against it (read-only once the server runs) ------- */

typedef struct reeli_serve_model {
    reel_llm_model *m;
    reel_llm_tokenizer *tok;
    const reel_llm_vocab *vocab;
    reel_llm_chat_format chat; /* REEL_LLM_CHAT_UNKNOWN: /v1/chat/completions is refused */
    int32_t stops[16];         /* end-of-generation ids of free text */
    int n_stops;
    int32_t think_end; /* "</think>" id, -1 if the vocabulary has none */
    int64_t n_ctx;     /* positions of each session */
    int think;         /* default of enable_thinking */
    char id[256];      /* the model id answers report */
} reeli_serve_model;

/* ---- jobs ----------------------------------------------------------------------------------- */

enum { REELI_JOB_QUEUED, REELI_JOB_RUNNING, REELI_JOB_DONE };
enum { REELI_CONTENT = 0, REELI_REASONING = 1 };

typedef struct reeli_job {
    /* what to run: set by reeli_serve_prepare, read-only once submitted */
    int32_t *ids;
    int64_t n_ids;
    int max_tokens;
    reel_llm_sampler_params sp;
    reel_grammar *grammar;
    reel_llm_constraint *constraint;
    char *stop[REEL_SERVE_MAX_STOP];
    int n_stop;
    int reasoning; /* the answer opens inside a think block (until think_end) */
    int32_t think_end;

    /* the answer, under mu: [REELI_CONTENT] and [REELI_REASONING] texts, and how much of each
     * may be sent (complete UTF-8, and never a tail that could still become a stop string) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    int state;
    int phase;
    reel_strbuf text[2];
    size_t ready[2];
    int n_tokens;
    const char *finish;    /* "stop" or "length", once done without error */
    reel_serve_error fail; /* status != 0: the job failed */
    volatile sig_atomic_t cancel;
} reeli_job;

/* A job with one reference, queued state, nothing to run yet. */
reeli_job *reeli_job_new(void);
void reeli_job_ref(reeli_job *j);
/* Drops a reference; the last one frees the job. NULL is a no-op. */
void reeli_job_unref(reeli_job *j);

/* Asks the job to stop (client gone, server stopping); it ends at its next token. */
void reeli_job_cancel(reeli_job *j);

/* Worker side: adds the text of one generated token (phase switches at think_end). Returns 1
 * when a stop string is now complete (the text is cut before it), else 0. */
int reeli_job_push(reeli_job *j, int32_t id, const char *text, size_t len);

/* Worker side: marks the job done, "stop"/"length" or failed (fail->status != 0). */
void reeli_job_finish(reeli_job *j, const char *finish, const reel_serve_error *fail);

/* Client side: appends to out[] the text made ready since sent[] (advancing sent[]) and
 * returns 1 once the job is done and all of it was handed out, else 0; waits up to wait_ms for
 * something new when there is nothing yet. */
int reeli_job_take(reeli_job *j, size_t sent[2], reel_strbuf out[2], int wait_ms);

/* Builds a job from a validated request: the prompt (chat template, tokens), token budget
 * capped by the context, sampler, grammar of the response format, stop strings. Returns 0, or
 * -1 with a 4xx error naming the request field (e.g. a schema the grammar refuses, a prompt
 * longer than the context). */
int reeli_serve_prepare(const reeli_serve_model *sm, const reel_serve_request *r, reeli_job *j,
                        reel_serve_error *err);

/* ---- the engine: sessions, their workers and a fair queue ---------------------------------- */

/* Decode steps of the generating sessions as one batch (serve/batch.c): a worker enters before
 * its generation and leaves after it, and hands each token to reeli_batch_decode (the
 * decode_one hook of reel_llm_gen_params), which returns once the round holding it is decoded;
 * the model's turn is taken with take(turn) and handed on with give(turn) around each round.
 * cap: the most workers. */
typedef struct reeli_batch reeli_batch;
reeli_batch *reeli_batch_new(int cap, void (*take)(void *), void (*give)(void *), void *turn);
void reeli_batch_free(reeli_batch *b);
void reeli_batch_enter(reeli_batch *b);
void reeli_batch_leave(reeli_batch *b);
int reeli_batch_decode(void *b, reel_llm_session *s, int32_t id);

typedef struct reeli_engine reeli_engine;

/* n_sessions sessions of n_ctx positions, each with a worker thread; at most max_queue jobs
 * wait for one. NULL + reel_last_error(). */
reeli_engine *reeli_engine_start(const reeli_serve_model *sm, int n_sessions, int max_queue);

/* Queues a job (taking a reference). 0, or -1 with err (503 when the queue is full or the
 * server is stopping). */
int reeli_engine_submit(reeli_engine *e, reeli_job *j, reel_serve_error *err);

/* What the engine is doing and has done, for /health. */
typedef struct reeli_engine_stats {
    int queued, running;
    long served;    /* requests answered (stop or length) */
    long cancelled; /* requests stopped because their client left (or the server stopped) */
} reeli_engine_stats;
reeli_engine_stats reeli_engine_get_stats(reeli_engine *e);

/* Refuses new jobs and cancels queued and running ones (they finish with a 503 error). */
void reeli_engine_cancel_all(reeli_engine *e);

/* cancel_all, then joins the workers and frees the sessions. NULL is a no-op. */
void reeli_engine_free(reeli_engine *e);

/* ---- answers -------------------------------------------------------------------------------- */

/* What an answer says about its request. */
typedef struct reeli_answer {
    reel_serve_kind kind;
    const char *id; /* "chatcmpl-..." / "cmpl-..." */
    int64_t created;
    const char *model;
} reeli_answer;

/* A JSON string of n bytes of text, invalid UTF-8 replaced by U+FFFD. */
json_t *reeli_json_text(const char *text, size_t n);

/* The non-streaming answer: choices[0] with the message (or text) and finish reason, usage. */
json_t *reeli_answer_full(const reeli_answer *a, const reel_strbuf text[2], const char *finish,
                          int prompt_tokens, int completion_tokens);

/* One streaming chunk: chat deltas (role on the first, content and/or reasoning_content) or
 * completion text; finish NULL until the last. with_usage adds "usage": null (stream_options
 * include_usage). */
json_t *reeli_answer_chunk(const reeli_answer *a, int first, const char *content, size_t n_content,
                           const char *reasoning, size_t n_reasoning, const char *finish,
                           int with_usage);

/* The usage-only chunk of stream_options.include_usage (choices empty). */
json_t *reeli_answer_usage_chunk(const reeli_answer *a, int prompt_tokens, int completion_tokens);

/* Appends "data: <compact JSON>\n\n" and takes the reference of v. */
void reeli_sse_event(reel_strbuf *b, json_t *v);

/* ---- the server ----------------------------------------------------------------------------- */

struct MHD_Daemon;

struct reel_server {
    reeli_serve_model sm;
    reeli_engine *engine;
    struct MHD_Daemon *daemon;
    char *api_key; /* NULL: no authentication */
    size_t max_body;
    int port;
    int64_t created; /* when the model was loaded (the "created" of /v1/models) */
    volatile sig_atomic_t stopping;
    int busy; /* requests with a job whose connection is not done yet (atomic) */
};

/* Starts libmicrohttpd on addr (thread per connection, see http.c) with the server's handlers.
 * NULL + reel_last_error() (the address in use, ...). */
struct sockaddr;
struct MHD_Daemon *reeli_http_start(reel_server *s, const struct sockaddr *addr, int ipv6,
                                    unsigned max_connections);
/* The port a daemon listens on. */
int reeli_http_port(struct MHD_Daemon *d);
/* Stops listening, closes the connections and joins their threads. */
void reeli_http_stop(struct MHD_Daemon *d);

#endif
