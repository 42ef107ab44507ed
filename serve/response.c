/* Answers in OpenAI's shapes: chat.completion / text_completion objects, their streaming
 * chunks, usage, and server-sent event framing. */
#include "serve/serve-impl.h"

#include <stdlib.h>
#include <string.h>

json_t *reeli_json_text(const char *text, size_t n)
{
    json_t *s = json_stringn(text, n);
    if (s) return s;
    /* invalid UTF-8 (an answer cut inside a character): as Python's "replace" decoding */
    size_t m = 0;
    char *clean = reel_llm_utf8_sanitize(text, n, &m);
    s = clean ? json_stringn(clean, m) : NULL;
    free(clean);
    return s ? s : json_string("");
}

static json_t *usage(int prompt_tokens, int completion_tokens)
{
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt_tokens, "completion_tokens",
                     completion_tokens, "total_tokens", prompt_tokens + completion_tokens);
}

static json_t *head(const reeli_answer *a, int chunk)
{
    const char *object = a->kind == REEL_SERVE_CHAT
                             ? (chunk ? "chat.completion.chunk" : "chat.completion")
                             : "text_completion";
    return json_pack("{s:s,s:s,s:I,s:s}", "id", a->id, "object", object, "created",
                     (json_int_t)a->created, "model", a->model);
}

json_t *reeli_answer_full(const reeli_answer *a, const reel_strbuf text[2], const char *finish,
                          int prompt_tokens, int completion_tokens)
{
    json_t *doc = head(a, 0);
    json_t *choice = json_pack("{s:i}", "index", 0);
    json_t *content = reeli_json_text(text[REELI_CONTENT].p, text[REELI_CONTENT].n);
    if (a->kind == REEL_SERVE_CHAT) {
        json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", content);
        if (text[REELI_REASONING].n)
            json_object_set_new(msg, "reasoning_content",
                                reeli_json_text(text[REELI_REASONING].p, text[REELI_REASONING].n));
        json_object_set_new(choice, "message", msg);
    } else {
        json_object_set_new(choice, "text", content);
    }
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", json_string(finish));
    json_object_set_new(doc, "choices", json_pack("[o]", choice));
    json_object_set_new(doc, "usage", usage(prompt_tokens, completion_tokens));
    return doc;
}

json_t *reeli_answer_chunk(const reeli_answer *a, int first, const char *content, size_t n_content,
                           const char *reasoning, size_t n_reasoning, const char *finish,
                           int with_usage)
{
    json_t *doc = head(a, 1);
    json_t *choice = json_pack("{s:i}", "index", 0);
    if (a->kind == REEL_SERVE_CHAT) {
        json_t *delta = json_object();
        if (first) {
            json_object_set_new(delta, "role", json_string("assistant"));
            json_object_set_new(delta, "content", json_string(""));
        }
        if (n_content) json_object_set_new(delta, "content", reeli_json_text(content, n_content));
        if (n_reasoning)
            json_object_set_new(delta, "reasoning_content",
                                reeli_json_text(reasoning, n_reasoning));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", reeli_json_text(content ? content : "", n_content));
    }
    json_object_set_new(choice, "logprobs", json_null());
    json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
    json_object_set_new(doc, "choices", json_pack("[o]", choice));
    if (with_usage) json_object_set_new(doc, "usage", json_null());
    return doc;
}

json_t *reeli_answer_usage_chunk(const reeli_answer *a, int prompt_tokens, int completion_tokens)
{
    json_t *doc = head(a, 1);
    json_object_set_new(doc, "choices", json_array());
    json_object_set_new(doc, "usage", usage(prompt_tokens, completion_tokens));
    return doc;
}

void reeli_sse_event(reel_strbuf *b, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    reel_strbuf_str(b, "data: ");
    reel_strbuf_str(b, s ? s : "{}");
    reel_strbuf_str(b, "\n\n");
    free(s);
}
