/* Fuzz target: the answer parser of remote models (server-sent events or one JSON answer), as a
 * chat and as a completion, fed whole and cut into pieces at every 7th byte: the two feeds must
 * agree, and an answer that is accepted has the text its pieces were handed on as. */
#include "core/core.h"
#include "llm/remote.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n;
} seen;

static void on_text(void *ctx, const char *text, size_t len)
{
    seen *s = ctx;
    s->p = realloc(s->p, s->n + len + 1);
    memcpy(s->p + s->n, text, len);
    s->n += len;
}

static int parse(const uint8_t *data, size_t size, int chat, size_t step, seen *s,
                 reel_llm_remote_result *res)
{
    reel_llm_answer *a = reel_llm_answer_new(chat, on_text, s);
    int rc = 0;
    for (size_t i = 0; i < size && rc == 0; i += step)
        rc = reel_llm_answer_feed(a, (const char *)data + i, size - i < step ? size - i : step);
    if (rc == 0) rc = reel_llm_answer_finish(a, res);
    reel_llm_answer_free(a);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int chat = 0; chat < 2; chat++) {
        seen s1 = {0}, s2 = {0};
        reel_llm_remote_result r1, r2;
        int rc1 = parse(data, size, chat, size ? size : 1, &s1, &r1);
        int rc2 = parse(data, size, chat, 7, &s2, &r2);
        if ((rc1 == 0) != (rc2 == 0)) abort();
        if (rc1 == 0) {
            if (r1.len != r2.len || memcmp(r1.text, r2.text, r1.len) != 0) abort();
            if (r1.len != s1.n || (s1.n && memcmp(r1.text, s1.p, s1.n) != 0)) abort();
            if (strlen(r1.finish_reason) >= sizeof r1.finish_reason) abort();
            free(r1.text);
            free(r2.text);
        }
        free(s1.p);
        free(s2.p);
    }
    return 0;
}
