/* The answer of an OpenAI-compatible server: server-sent events (one "data:" JSON chunk per
 * event, "data: [DONE]" at the end) or one JSON document, parsed as bytes arrive. Only
 * choices[0] is read; its content pieces are handed on as they are parsed. */
#include "llm/remote.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES ((size_t)8 << 20)  /* one event line */
#define TEXT_MAX_BYTES ((size_t)64 << 20) /* the answer text, or a whole JSON body */

enum { MODE_UNKNOWN, MODE_SSE, MODE_JSON };

struct reel_llm_answer {
    int chat;
    void (*on_text)(void *, const char *, size_t);
    void *ctx;
    int mode;
    reel_strbuf line; /* the line being read (events) or the whole body (JSON) */
    reel_strbuf data; /* the data of the event being read */
    int has_data;
    int after_cr; /* the last byte was '\r': a following '\n' ends nothing more */
    reel_strbuf text;
    int done; /* "[DONE]" seen, or the JSON answer read */
    int n_events;
    char finish[16];
    int n_tokens;
    int failed;    /* the error code once something was wrong: it sticks */
    int at_end;    /* the body has ended: an event that does not parse was cut short */
    char head[64]; /* the first bytes of the body, for a message about a body that is garbage */
    size_t head_n;
};

reel_llm_answer *reel_llm_answer_new(int chat, void (*on_text)(void *, const char *, size_t),
                                     void *ctx)
{
    reel_llm_answer *a = reel_xcalloc(1, sizeof *a);
    a->chat = chat;
    a->on_text = on_text;
    a->ctx = ctx;
    a->n_tokens = -1;
    return a;
}

void reel_llm_answer_free(reel_llm_answer *a)
{
    if (!a) return;
    free(a->line.p);
    free(a->data.p);
    free(a->text.p);
    free(a);
}

static int fail(reel_llm_answer *a, int code, const char *fmt, const char *arg)
{
    a->failed = reel_set_error(code, fmt, arg);
    return a->failed;
}

/* An excerpt of text for a message: at most 60 bytes, control bytes as spaces. */
static void excerpt(char out[64], const char *text, size_t n)
{
    size_t k = n < 60 ? n : 60;
    for (size_t i = 0; i < k; i++) out[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    out[k] = '\0';
    if (n > k) memcpy(out + 57, "...", 4);
}

static int add_text(reel_llm_answer *a, const char *s, size_t n)
{
    if (!n) return 0;
    if (a->text.n + n > TEXT_MAX_BYTES)
        return fail(a, REEL_ERANGE, "the answer is longer than %s", "64 MiB");
    reel_strbuf_add(&a->text, s, n);
    if (a->on_text) a->on_text(a->ctx, s, n);
    return 0;
}

/* One answer object: a streamed chunk or the whole JSON answer. */
static int take_object(reel_llm_answer *a, const json_t *o, int streamed, const char *where)
{
    char msg[512];
    if (!json_is_object(o)) {
        snprintf(msg, sizeof msg, "%s is not a JSON object", where);
        return fail(a, REEL_EFORMAT, "%s", msg);
    }
    const json_t *err = json_object_get(o, "error");
    if (err && !json_is_null(err)) {
        const char *m = json_string_value(json_object_get(err, "message"));
        if (!m) m = json_string_value(err);
        snprintf(msg, sizeof msg, "the server reported an error in %s: %s", where,
                 m ? m : "(no message)");
        return fail(a, REEL_EHTTP, "%s", msg);
    }
    const json_t *choices = json_object_get(o, "choices");
    if (!json_is_array(choices)) {
        snprintf(msg, sizeof msg, "%s has no 'choices' array: not an OpenAI %scompletion", where,
                 a->chat ? "chat " : "");
        return fail(a, REEL_EFORMAT, "%s", msg);
    }
    const json_t *usage = json_object_get(o, "usage");
    const json_t *ct = json_object_get(usage, "completion_tokens");
    if (json_is_integer(ct) && json_integer_value(ct) >= 0 && json_integer_value(ct) < (1 << 30))
        a->n_tokens = (int)json_integer_value(ct);
    if (json_array_size(choices) == 0) {
        if (!streamed) {
            snprintf(msg, sizeof msg, "%s has no choice", where);
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
        return 0; /* the usage chunk at the end of a stream */
    }
    const json_t *c = json_array_get(choices, 0);
    const char *field = a->chat ? (streamed ? "delta" : "message") : NULL;
    const json_t *holder = field ? json_object_get(c, field) : c;
    if (!json_is_object(holder)) {
        if (!streamed || !a->chat || holder) {
            snprintf(msg, sizeof msg, "%s: choices[0]%s%s is not an object", where,
                     field ? "." : "", field ? field : "");
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
    } else {
        const char *key = a->chat ? "content" : "text";
        const json_t *t = json_object_get(holder, key);
        if (json_is_string(t)) {
            if (add_text(a, json_string_value(t), json_string_length(t)) < 0) return a->failed;
        } else if (t && !json_is_null(t)) {
            snprintf(msg, sizeof msg, "%s: choices[0].%s%s%s is not a string", where,
                     field ? field : "", field ? "." : "", key);
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
        const char *refusal = json_string_value(json_object_get(holder, "refusal"));
        if (refusal && *refusal) {
            snprintf(msg, sizeof msg, "the model refused to answer: %s", refusal);
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
    }
    const char *fr = json_string_value(json_object_get(c, "finish_reason"));
    if (fr) snprintf(a->finish, sizeof a->finish, "%s", fr);
    if (!streamed) a->done = 1;
    return 0;
}

static int dispatch_data(reel_llm_answer *a, const char *d, size_t n);

static int dispatch(reel_llm_answer *a)
{
    /* the event's data is taken over; the buffer starts empty for the next event */
    reel_strbuf took = a->data;
    a->data = (reel_strbuf){0};
    a->has_data = 0;
    int rc = dispatch_data(a, took.p ? took.p : "", took.n);
    free(took.p);
    return rc;
}

static int dispatch_data(reel_llm_answer *a, const char *d, size_t n)
{
    a->n_events++;
    if (a->done) return 0; /* after [DONE] nothing counts */
    if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
        a->done = 1;
        return 0;
    }
    char where[64];
    snprintf(where, sizeof where, "event %d", a->n_events);
    json_error_t je;
    /* a model may well produce U+0000: it is text like any other */
    json_t *o = json_loadb(d, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!o) {
        char ex[64], msg[400];
        excerpt(ex, d, n);
        if (a->at_end)
            snprintf(msg, sizeof msg,
                     "the stream ended in the middle of %s (\"%s\"): the answer was cut short",
                     where, ex);
        else
            snprintf(msg, sizeof msg, "%s of the stream is not JSON (%s at column %d): \"%s\"",
                     where, je.text, je.column, ex);
        return fail(a, REEL_EFORMAT, "%s", msg);
    }
    int rc = take_object(a, o, 1, where);
    json_decref(o);
    return rc;
}

/* One line of an event stream (without its end). */
static int take_line(reel_llm_answer *a, const char *s, size_t n)
{
    if (n == 0) return a->has_data ? dispatch(a) : 0;
    if (s[0] == ':') return 0; /* a comment (keep-alive) */
    const char *colon = memchr(s, ':', n);
    size_t name_n = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vn = (size_t)(s + n - v);
    if (vn && *v == ' ') v++, vn--;
    if (name_n == 4 && memcmp(s, "data", 4) == 0) {
        if (a->has_data) reel_strbuf_add(&a->data, "\n", 1);
        reel_strbuf_add(&a->data, v, vn);
        if (!a->data.p) reel_strbuf_add(&a->data, "", 0);
        a->has_data = 1;
        if (a->data.n > LINE_MAX_BYTES)
            return fail(a, REEL_ERANGE, "an event of the stream is longer than %s", "8 MiB");
    }
    return 0; /* event:, id:, retry: and unknown fields say nothing about the answer */
}

static int feed_sse(reel_llm_answer *a, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\n' && a->after_cr) {
            a->after_cr = 0;
            continue;
        }
        a->after_cr = ch == '\r';
        if (ch == '\n' || ch == '\r') {
            int rc = take_line(a, a->line.p ? a->line.p : "", a->line.n);
            a->line.n = 0;
            if (rc < 0) return rc;
            continue;
        }
        if (a->line.n >= LINE_MAX_BYTES)
            return fail(a, REEL_ERANGE, "a line of the stream is longer than %s", "8 MiB");
        reel_strbuf_add(&a->line, &ch, 1);
    }
    return 0;
}

int reel_llm_answer_feed(reel_llm_answer *a, const char *data, size_t n)
{
    if (a->failed) return a->failed;
    if (a->mode == MODE_UNKNOWN) {
        size_t k = 0;
        while (k < n && (data[k] == ' ' || data[k] == '\t' || data[k] == '\r' || data[k] == '\n'))
            k++;
        if (k == n) return 0; /* whitespace says nothing yet */
        a->mode = data[k] == '{' ? MODE_JSON : MODE_SSE;
        data += k;
        n -= k;
    }
    if (a->head_n < 60) {
        size_t k = n < 60 - a->head_n ? n : 60 - a->head_n;
        memcpy(a->head + a->head_n, data, k);
        a->head_n += k;
    }
    if (a->mode == MODE_JSON) {
        if (a->line.n + n > TEXT_MAX_BYTES)
            return fail(a, REEL_ERANGE, "the answer is longer than %s", "64 MiB");
        reel_strbuf_add(&a->line, data, n);
        return 0;
    }
    return feed_sse(a, data, n);
}

int reel_llm_answer_finish(reel_llm_answer *a, reel_llm_remote_result *res)
{
    memset(res, 0, sizeof *res);
    res->n_tokens = -1;
    if (a->failed) return a->failed;
    if (a->mode == MODE_UNKNOWN) return fail(a, REEL_EFORMAT, "the server's answer is %s", "empty");
    if (a->mode == MODE_JSON) {
        json_error_t je;
        json_t *o = json_loadb(a->line.p ? a->line.p : "", a->line.n,
                               JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        if (!o) {
            char ex[64], msg[400];
            excerpt(ex, a->line.p ? a->line.p : "", a->line.n);
            snprintf(msg, sizeof msg, "the server's answer is not JSON (%s at line %d): \"%s\"",
                     je.text, je.line, ex);
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
        int rc = take_object(a, o, 0, "the answer");
        json_decref(o);
        if (rc < 0) return rc;
    } else {
        /* a last line or event without its blank line still counts */
        a->at_end = 1;
        if (a->line.n && take_line(a, a->line.p, a->line.n) < 0) return a->failed;
        a->line.n = 0;
        if (a->has_data && dispatch(a) < 0) return a->failed;
        if (a->n_events == 0) {
            char ex[64];
            excerpt(ex, a->head, a->head_n);
            return fail(a, REEL_EFORMAT,
                        "the server's answer is neither JSON nor server-sent events: \"%s\"", ex);
        }
        if (!a->done && !a->finish[0]) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "the stream ended after %d events without a finish_reason or [DONE]: the "
                     "answer was cut short",
                     a->n_events);
            return fail(a, REEL_EFORMAT, "%s", msg);
        }
    }
    res->text = a->text.p ? a->text.p : reel_xcalloc(1, 1);
    res->len = a->text.n;
    a->text = (reel_strbuf){0};
    snprintf(res->finish_reason, sizeof res->finish_reason, "%s", a->finish);
    res->n_tokens = a->n_tokens;
    return 0;
}
