/* A validated request made ready to run: the chat template rendered and tokenized, the token
 * budget fitted to the context, OpenAI's sampling mapped onto reel's sampler, and the response
 * format compiled to a grammar. Runs on the connection's thread, so a slow schema or a long
 * prompt never holds up the sessions. */
#include "serve/serve-impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char *const INVALID = "invalid_request_error";

/* The schema is shown to the model in the system turn, as `reel generate --json-schema` does:
 * the grammar keeps the answer valid, the instruction makes it sensible. */
static char *format_instruction(const reel_serve_request *r)
{
    if (r->format == REEL_SERVE_FORMAT_JSON_OBJECT)
        return reel_xstrdup("Answer with one JSON object.");
    char *st = json_dumps(r->schema, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *s = reel_xasprintf("Answer with one JSON value that matches this JSON schema: %s",
                             st ? st : "{}");
    free(st);
    return s;
}

static int render_chat(const reeli_serve_model *sm, const reel_serve_request *r, int think,
                       char **out, reel_serve_error *e)
{
    if (sm->chat == REEL_LLM_CHAT_UNKNOWN)
        return reel_serve_fail(e, 400, INVALID, "unsupported_model", "messages",
                               "the model has no chat template reel knows (Nemotron-3 or Nano-v2): "
                               "use /v1/completions");
    size_t n = r->n_msgs;
    reel_llm_chat_msg *msgs = reel_xcalloc(n + 1, sizeof *msgs);
    memcpy(msgs, r->msgs, n * sizeof *msgs);
    char *sys = NULL;
    if (r->format != REEL_SERVE_FORMAT_TEXT) {
        char *ask = format_instruction(r);
        if (n > 0 && !strcmp(msgs[0].role, "system")) {
            sys = reel_xasprintf("%s%s%s", msgs[0].content ? msgs[0].content : "",
                                 msgs[0].content && *msgs[0].content ? "\n\n" : "", ask);
            msgs[0].content = sys;
        } else {
            memmove(msgs + 1, msgs, n * sizeof *msgs);
            msgs[0] = (reel_llm_chat_msg){"system", ask, NULL};
            n++;
            sys = ask, ask = NULL;
        }
        free(ask);
    }
    reel_llm_chat_params cp = reel_llm_chat_default_params();
    cp.format = sm->chat;
    cp.enable_thinking = think;
    int rc = reel_llm_chat_render(msgs, n, &cp, out, NULL);
    free(msgs);
    free(sys);
    if (rc < 0)
        return reel_serve_fail(e, 400, INVALID, NULL, "messages", "chat template: %s",
                               reel_last_error());
    return 0;
}

static int tokenize(const reeli_serve_model *sm, const reel_serve_request *r, int think,
                    reeli_job *j, reel_serve_error *e)
{
    const char *param = r->kind == REEL_SERVE_CHAT ? "messages" : "prompt";
    if (r->kind == REEL_SERVE_COMPLETION && !r->prompt) {
        int32_t nv = reel_llm_tokenizer_n_vocab(sm->tok);
        for (size_t i = 0; i < r->n_prompt_ids; i++)
            if (r->prompt_ids[i] >= nv)
                return reel_serve_fail(e, 400, INVALID, NULL, "prompt",
                                       "prompt[%zu]: token id %d is outside the vocabulary (%d)", i,
                                       (int)r->prompt_ids[i], (int)nv);
        j->ids = reel_xmalloc(r->n_prompt_ids * sizeof *j->ids);
        memcpy(j->ids, r->prompt_ids, r->n_prompt_ids * sizeof *j->ids);
        j->n_ids = (int64_t)r->n_prompt_ids;
        return 0;
    }
    char *rendered = NULL;
    const char *text = r->prompt;
    if (r->kind == REEL_SERVE_CHAT) {
        if (render_chat(sm, r, think, &rendered, e) < 0) return -1;
        text = rendered;
    } else if (r->format != REEL_SERVE_FORMAT_TEXT) {
        char *ask = format_instruction(r);
        rendered = reel_xasprintf("%s\n%s\n", r->prompt, ask);
        free(ask);
        text = rendered;
    }
    size_t n = 0;
    int rc =
        reel_llm_tokenizer_encode(sm->tok, text, strlen(text), REEL_LLM_TOK_DEFAULT, &j->ids, &n);
    free(rendered);
    if (rc < 0)
        return reel_serve_fail(e, 400, INVALID, NULL, param, "tokenizer: %s", reel_last_error());
    if (n == 0)
        return reel_serve_fail(e, 400, INVALID, NULL, param, "the prompt encodes to no tokens");
    j->n_ids = (int64_t)n;
    return 0;
}

static uint64_t fresh_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s) return s;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
}

static int grammar(const reeli_serve_model *sm, const reel_serve_request *r, reeli_job *j,
                   reel_serve_error *e)
{
    if (r->format == REEL_SERVE_FORMAT_TEXT) return 0;
    json_t *any = NULL;
    const json_t *schema = r->schema;
    if (r->format == REEL_SERVE_FORMAT_JSON_OBJECT)
        schema = any = json_pack("{s:s,s:b}", "type", "object", "additionalProperties", 1);
    j->grammar = reel_grammar_from_json_schema(schema);
    json_decref(any);
    if (!j->grammar)
        return reel_serve_fail(e, 400, INVALID, "invalid_json_schema",
                               "response_format.json_schema.schema", "the schema: %s",
                               reel_last_error());
    j->constraint = reel_llm_constraint_init(sm->tok, j->grammar);
    return 0;
}

int reeli_serve_prepare(const reeli_serve_model *sm, const reel_serve_request *r, reeli_job *j,
                        reel_serve_error *err)
{
    /* a constrained answer starts at once: no think block before it */
    int think = r->think >= 0 ? r->think : sm->think;
    if (r->format != REEL_SERVE_FORMAT_TEXT || r->kind != REEL_SERVE_CHAT) think = 0;
    if (tokenize(sm, r, think, j, err) < 0) return -1;
    if (j->n_ids >= sm->n_ctx)
        return reel_serve_fail(err, 400, INVALID, "context_length_exceeded",
                               r->kind == REEL_SERVE_CHAT ? "messages" : "prompt",
                               "the prompt is %lld tokens; this server's context holds %lld "
                               "(prompt and answer together)",
                               (long long)j->n_ids, (long long)sm->n_ctx);
    int64_t room = sm->n_ctx - j->n_ids;
    j->max_tokens = (int)(r->max_tokens > 0 && r->max_tokens < room ? r->max_tokens : room);
    if (grammar(sm, r, j, err) < 0) return -1;
    /* OpenAI's sampling is temperature and top_p alone: reel's other filters are off */
    reel_llm_sampler_params sp = reel_llm_sampler_greedy_params();
    sp.temp = (float)r->temperature;
    sp.top_p = (float)r->top_p;
    sp.seed = r->has_seed ? r->seed : fresh_seed();
    j->sp = sp;
    for (int i = 0; i < r->n_stop; i++) j->stop[i] = reel_xstrdup(r->stop[i]);
    j->n_stop = r->n_stop;
    j->reasoning = think == 1 && sm->think_end >= 0;
    j->phase = j->reasoning ? REELI_REASONING : REELI_CONTENT;
    j->think_end = sm->think_end;
    return 0;
}
