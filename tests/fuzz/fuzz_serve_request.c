/* Fuzz target: the OpenAI request parser of reel serve. Any body, as a chat or a completion
 * request, must parse into a request whose fields hold what the server relies on, or fail with
 * a 4xx error whose JSON body is valid; never crash. */
#include "core/core.h"
#include "serve/serve.h"

#include <stdlib.h>
#include <string.h>

static void check(const uint8_t *data, size_t size, reel_serve_kind kind)
{
    reel_serve_request r;
    reel_serve_error e = {0};
    if (reel_serve_request_parse((const char *)data, size, kind, &r, &e) == 0) {
        if (kind == REEL_SERVE_CHAT) {
            if (!r.msgs || r.n_msgs == 0) abort();
            for (size_t i = 0; i < r.n_msgs; i++)
                if (!r.msgs[i].role || !r.msgs[i].content) abort();
        } else if (!r.prompt && (!r.prompt_ids || r.n_prompt_ids == 0)) {
            abort();
        }
        if (r.n_stop < 0 || r.n_stop > REEL_SERVE_MAX_STOP) abort();
        for (int i = 0; i < r.n_stop; i++)
            if (!r.stop[i] || !*r.stop[i]) abort();
        if (!(r.temperature >= 0 && r.temperature <= 2) || !(r.top_p >= 0 && r.top_p <= 1)) abort();
        if (r.max_tokens == 0 || r.max_tokens < -1) abort();
        if ((r.format == REEL_SERVE_FORMAT_JSON_SCHEMA) != (r.schema != NULL)) abort();
        reel_serve_request_free(&r);
        return;
    }
    if (e.status < 400 || e.status > 499 || !e.message[0]) abort();
    char *body = reel_serve_error_json(&e);
    json_t *v = reel_json_parse(body, strlen(body), "error");
    if (!v || !json_is_string(json_object_get(json_object_get(v, "error"), "message"))) abort();
    json_decref(v);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, REEL_SERVE_CHAT);
    check(data, size, REEL_SERVE_COMPLETION);
    return 0;
}
