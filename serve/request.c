/* OpenAI request bodies to reel_serve_request: every field reel reads is type- and range-checked
 * here, so the rest of the server sees only valid values; an error names the field at fault. */
#include "serve/serve.h"
#include "core/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const INVALID = "invalid_request_error";

int reel_serve_fail(reel_serve_error *e, int status, const char *type, const char *code,
                    const char *param, const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *reel_serve_error_json(const reel_serve_error *e)
{
    /* the message may quote request text: jansson escapes it, and a message cut mid-character
     * by snprintf is made valid first */
    char *msg = NULL;
    size_t n = strlen(e->message);
    json_t *m = json_stringn(e->message, n);
    if (!m) {
        size_t k = n;
        while (k > 0 && !(m = json_stringn(e->message, k))) k--;
        if (!m) m = json_string("error");
    }
    json_t *err = json_pack("{s:o,s:s,s:o,s:o}", "message", m, "type", e->type ? e->type : INVALID,
                            "param", e->param[0] ? json_string(e->param) : json_null(), "code",
                            e->code ? json_string(e->code) : json_null());
    json_t *doc = json_pack("{s:o}", "error", err);
    msg = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return msg ? msg : reel_xstrdup("{\"error\":{\"message\":\"error\"}}");
}

/* ---- helpers: a member of the body, checked for type and range ----------------------------- */

static int bad(reel_serve_error *e, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(reel_serve_error *e, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return reel_serve_fail(e, 400, INVALID, NULL, param, "%s", msg);
}

/* A member that is absent or JSON null reads as absent, as the OpenAI API treats it. */
static const json_t *member(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

static int get_number(const json_t *o, const char *key, double lo, double hi, double *out,
                      reel_serve_error *e)
{
    const json_t *v = member(o, key);
    if (!v) return 0;
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < lo || d > hi)
        return bad(e, key, "'%s' must be a number from %g to %g", key, lo, hi);
    *out = d;
    return 0;
}

static int get_bool(const json_t *o, const char *key, int *out, reel_serve_error *e)
{
    const json_t *v = member(o, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) return bad(e, key, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* An integer in [lo, hi] (a number like 16.0 is accepted, as JSON does not tell them apart). */
static int get_int(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   reel_serve_error *e)
{
    const json_t *v = member(o, key);
    if (!v) return 0;
    double d = json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
    if (!json_is_number(v) || d != floor(d) || d < (double)lo || d > (double)hi)
        return bad(e, key, "'%s' must be an integer from %lld to %lld", key, (long long)lo,
                   (long long)hi);
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)d;
    return 0;
}

/* ---- fields reel cannot honour: refused rather than silently ignored ------------------------ */

static int refuse_unsupported(const json_t *o, reel_serve_kind kind, reel_serve_error *e)
{
    int64_t n = 1;
    if (get_int(o, "n", 1, 1, &n, e) < 0)
        return bad(e, "n", "'n' must be 1: reel generates one choice per request");
    const json_t *v;
    if ((v = member(o, "logprobs")) && !json_is_false(v) &&
        !(json_is_integer(v) && json_integer_value(v) == 0))
        return bad(e, "logprobs", "'logprobs' is not supported");
    if ((v = member(o, "top_logprobs")) && !(json_is_integer(v) && json_integer_value(v) == 0))
        return bad(e, "top_logprobs", "'top_logprobs' is not supported");
    static const char *const lists[] = {"tools", "functions"};
    for (size_t i = 0; i < 2; i++)
        if ((v = member(o, lists[i])) && !(json_is_array(v) && json_array_size(v) == 0))
            return bad(e, lists[i], "'%s' (tool calling) is not supported", lists[i]);
    if ((v = member(o, "logit_bias")) && !(json_is_object(v) && json_object_size(v) == 0))
        return bad(e, "logit_bias", "'logit_bias' is not supported");
    static const char *const pens[] = {"frequency_penalty", "presence_penalty"};
    for (size_t i = 0; i < 2; i++) {
        double d = 0;
        if (get_number(o, pens[i], -2, 2, &d, e) < 0) return -1;
        /* accepted for compatibility; reel's sampler has a repetition penalty of another kind,
         * so a nonzero value is refused rather than approximated */
        if (d != 0) return bad(e, pens[i], "'%s' is not supported (give 0)", pens[i]);
    }
    if (kind == REEL_SERVE_COMPLETION) {
        int echo = 0;
        if (get_bool(o, "echo", &echo, e) < 0) return -1;
        if (echo) return bad(e, "echo", "'echo' is not supported");
        int64_t best = 1;
        if (get_int(o, "best_of", 1, 1, &best, e) < 0)
            return bad(e, "best_of", "'best_of' must be 1");
        if ((v = member(o, "suffix")) && !(json_is_string(v) && !*json_string_value(v)))
            return bad(e, "suffix", "'suffix' is not supported");
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */

static const char *owned_str(reel_serve_request *r, char *s)
{
    r->owned = reel_xrealloc(r->owned, (r->n_owned + 1) * sizeof *r->owned);
    r->owned[r->n_owned++] = s;
    return s;
}

/* content: a string, an array of {"type":"text","text":...} parts (joined with "\n"), or null
 * (an assistant turn without text). */
static int read_content(reel_serve_request *r, const json_t *c, const char *role, size_t i,
                        const char **out, reel_serve_error *e)
{
    char p[64];
    snprintf(p, sizeof p, "messages[%zu].content", i);
    if (!c) {
        if (strcmp(role, "assistant") != 0) return bad(e, p, "%s: missing content", p);
        *out = "";
        return 0;
    }
    if (json_is_string(c)) {
        *out = json_string_value(c);
        return 0;
    }
    if (!json_is_array(c)) return bad(e, p, "%s must be a string or an array of text parts", p);
    reel_strbuf b = {0};
    reel_strbuf_add(&b, "", 0);
    for (size_t k = 0; k < json_array_size(c); k++) {
        const json_t *part = json_array_get(c, k);
        char pp[96];
        snprintf(pp, sizeof pp, "%s[%zu]", p, k);
        const char *type = json_string_value(json_object_get(part, "type"));
        const json_t *text = json_object_get(part, "text");
        if (!json_is_object(part) || !type) {
            free(b.p);
            return bad(e, pp, "%s must be an object with a 'type'", pp);
        }
        if (strcmp(type, "text") != 0) {
            free(b.p);
            return bad(e, pp, "%s: content parts of type '%.40s' are not supported (text only)", pp,
                       type);
        }
        if (!json_is_string(text)) {
            free(b.p);
            return bad(e, pp, "%s.text must be a string", pp);
        }
        if (k) reel_strbuf_add(&b, "\n", 1);
        reel_strbuf_add(&b, json_string_value(text), json_string_length(text));
    }
    *out = owned_str(r, b.p);
    return 0;
}

static int read_messages(reel_serve_request *r, reel_serve_error *e)
{
    const json_t *ms = member(r->doc, "messages");
    if (!ms) return bad(e, "messages", "'messages' is required");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return bad(e, "messages", "'messages' must be a non-empty array");
    r->n_msgs = json_array_size(ms);
    r->msgs = reel_xcalloc(r->n_msgs, sizeof *r->msgs);
    for (size_t i = 0; i < r->n_msgs; i++) {
        const json_t *m = json_array_get(ms, i);
        char p[64];
        snprintf(p, sizeof p, "messages[%zu]", i);
        if (!json_is_object(m)) return bad(e, p, "%s must be an object", p);
        const json_t *role = json_object_get(m, "role");
        snprintf(p, sizeof p, "messages[%zu].role", i);
        if (!json_is_string(role)) return bad(e, p, "%s must be a string", p);
        const char *rs = json_string_value(role);
        if (!strcmp(rs, "developer")) rs = "system"; /* OpenAI's newer name for it */
        if (!strcmp(rs, "tool") || !strcmp(rs, "function"))
            return bad(e, p, "%s: '%s' messages are not supported (no tool calling)", p, rs);
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant"))
            return bad(e, p, "%s: unknown role '%.40s' (system, user or assistant)", p, rs);
        const json_t *tc = member(m, "tool_calls");
        if (tc && !(json_is_array(tc) && json_array_size(tc) == 0)) {
            snprintf(p, sizeof p, "messages[%zu].tool_calls", i);
            return bad(e, p, "%s: tool calls are not supported", p);
        }
        r->msgs[i].role = rs;
        if (read_content(r, member(m, "content"), rs, i, &r->msgs[i].content, e) < 0) return -1;
        const json_t *rc = member(m, "reasoning_content");
        if (rc && !json_is_string(rc)) {
            snprintf(p, sizeof p, "messages[%zu].reasoning_content", i);
            return bad(e, p, "%s must be a string", p);
        }
        if (rc && !strcmp(rs, "assistant")) r->msgs[i].reasoning_content = json_string_value(rc);
    }
    return 0;
}

/* ---- prompt (completions) ------------------------------------------------------------------- */

static int read_ids(reel_serve_request *r, const json_t *a, reel_serve_error *e)
{
    size_t n = json_array_size(a);
    if (n == 0) return bad(e, "prompt", "'prompt' must not be empty");
    r->prompt_ids = reel_xmalloc(n * sizeof *r->prompt_ids);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return bad(e, "prompt", "prompt[%zu] must be a token id (a non-negative integer)", i);
        r->prompt_ids[i] = (int32_t)json_integer_value(v);
    }
    r->n_prompt_ids = n;
    return 0;
}

/* prompt: a string, or token ids; also either wrapped in an array of one (a batch of one). */
static int read_prompt(reel_serve_request *r, reel_serve_error *e)
{
    const json_t *p = member(r->doc, "prompt");
    if (!p) return bad(e, "prompt", "'prompt' is required");
    if (json_is_array(p) && json_array_size(p) == 1 &&
        (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        r->prompt = json_string_value(p);
        return 0;
    }
    if (json_is_array(p) && json_array_size(p) > 0 && !json_is_integer(json_array_get(p, 0)))
        return bad(e, "prompt",
                   "'prompt' must be one string or one array of token ids: reel "
                   "answers one prompt per request");
    if (json_is_array(p)) return read_ids(r, p, e);
    return bad(e, "prompt", "'prompt' must be a string or an array of token ids");
}

/* ---- sampling, stops, format ---------------------------------------------------------------- */

static int read_stop(reel_serve_request *r, reel_serve_error *e)
{
    const json_t *s = member(r->doc, "stop");
    if (!s) return 0;
    if (json_is_string(s)) {
        if (!*json_string_value(s)) return bad(e, "stop", "'stop' must not be empty");
        r->stop[r->n_stop++] = json_string_value(s);
        return 0;
    }
    if (!json_is_array(s)) return bad(e, "stop", "'stop' must be a string or an array of strings");
    if (json_array_size(s) > REEL_SERVE_MAX_STOP)
        return bad(e, "stop", "'stop' holds at most %d sequences", REEL_SERVE_MAX_STOP);
    for (size_t i = 0; i < json_array_size(s); i++) {
        const json_t *v = json_array_get(s, i);
        if (!json_is_string(v) || !*json_string_value(v))
            return bad(e, "stop", "stop[%zu] must be a non-empty string", i);
        r->stop[r->n_stop++] = json_string_value(v);
    }
    return 0;
}

static int read_format(reel_serve_request *r, reel_serve_error *e)
{
    const json_t *f = member(r->doc, "response_format");
    if (!f) return 0;
    const char *type = json_string_value(json_object_get(f, "type"));
    if (!json_is_object(f) || !type)
        return bad(e, "response_format", "'response_format' must be an object with a 'type'");
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) {
        r->format = REEL_SERVE_FORMAT_JSON_OBJECT;
        return 0;
    }
    if (strcmp(type, "json_schema") != 0)
        return bad(e, "response_format.type",
                   "response_format.type must be 'text', 'json_object' or 'json_schema', not "
                   "'%.40s'",
                   type);
    const json_t *js = json_object_get(f, "json_schema");
    if (!json_is_object(js))
        return bad(e, "response_format.json_schema",
                   "response_format.json_schema must be an "
                   "object with a 'schema'");
    const json_t *name = member(js, "name"), *strict = member(js, "strict");
    if (name && !json_is_string(name))
        return bad(e, "response_format.json_schema.name",
                   "response_format.json_schema.name must be a string");
    if (strict && !json_is_boolean(strict))
        return bad(e, "response_format.json_schema.strict",
                   "response_format.json_schema.strict must be true or false");
    const json_t *schema = json_object_get(js, "schema");
    if (!json_is_object(schema))
        return bad(e, "response_format.json_schema.schema",
                   "response_format.json_schema.schema must be a JSON Schema object");
    r->format = REEL_SERVE_FORMAT_JSON_SCHEMA;
    r->schema = schema;
    return 0;
}

static int read_sampling(reel_serve_request *r, reel_serve_error *e)
{
    int64_t a = -1, b = -1;
    if (get_int(r->doc, "max_tokens", 1, 1 << 30, &a, e) < 0 ||
        get_int(r->doc, "max_completion_tokens", 1, 1 << 30, &b, e) < 0)
        return -1;
    r->max_tokens = a < 0 ? b : b < 0 ? a : (a < b ? a : b);
    if (get_number(r->doc, "temperature", 0, 2, &r->temperature, e) < 0 ||
        get_number(r->doc, "top_p", 0, 1, &r->top_p, e) < 0)
        return -1;
    const json_t *seed = member(r->doc, "seed");
    if (seed) {
        if (!json_is_integer(seed)) return bad(e, "seed", "'seed' must be an integer");
        r->has_seed = 1;
        r->seed = (uint64_t)json_integer_value(seed);
    }
    if (get_bool(r->doc, "stream", &r->stream, e) < 0) return -1;
    const json_t *so = member(r->doc, "stream_options");
    if (so && !json_is_object(so))
        return bad(e, "stream_options", "'stream_options' must be an object");
    if (so && get_bool(so, "include_usage", &r->include_usage, e) < 0) {
        snprintf(e->param, sizeof e->param, "stream_options.include_usage");
        return -1;
    }
    const json_t *kw = member(r->doc, "chat_template_kwargs");
    if (kw && !json_is_object(kw))
        return bad(e, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
    if (kw && get_bool(kw, "enable_thinking", &r->think, e) < 0) {
        snprintf(e->param, sizeof e->param, "chat_template_kwargs.enable_thinking");
        return -1;
    }
    const json_t *model = member(r->doc, "model");
    if (model && !json_is_string(model)) return bad(e, "model", "'model' must be a string");
    return 0;
}

int reel_serve_request_parse(const char *body, size_t len, reel_serve_kind kind,
                             reel_serve_request *req, reel_serve_error *err)
{
    memset(req, 0, sizeof *req);
    req->kind = kind;
    req->max_tokens = -1;
    req->temperature = 1;
    req->top_p = 1;
    req->think = -1;
    if (!(req->doc = reel_json_parse(body, len, "request body")))
        return reel_serve_fail(err, 400, INVALID, NULL, NULL, "the body is not valid JSON: %s",
                               reel_last_error());
    if (!json_is_object(req->doc)) {
        reel_serve_request_free(req);
        return bad(err, NULL, "the body must be a JSON object");
    }
    int rc = refuse_unsupported(req->doc, kind, err);
    if (rc == 0) rc = kind == REEL_SERVE_CHAT ? read_messages(req, err) : read_prompt(req, err);
    if (rc == 0) rc = read_sampling(req, err);
    if (rc == 0) rc = read_stop(req, err);
    if (rc == 0) rc = read_format(req, err);
    if (rc < 0) {
        reel_serve_request_free(req);
        return -1;
    }
    return 0;
}

void reel_serve_request_free(reel_serve_request *req)
{
    for (size_t i = 0; i < req->n_owned; i++) free(req->owned[i]);
    free(req->owned);
    free(req->msgs);
    free(req->prompt_ids);
    json_decref(req->doc);
    memset(req, 0, sizeof *req);
}
