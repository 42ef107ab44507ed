/* reel serve end to end: the real binary on the tiny test model, on loopback ports it picks
 * itself (--port 0), driven with libcurl (and the curl command when there is one): health and
 * models, chat and completions, streams that reassemble to the whole answers, JSON Schema and
 * JSON object formats, stop sequences, token limits, many requests at once, malformed and
 * oversized requests, API keys, a client that leaves mid-stream, and clean shutdown. (The request
 * parser alone: test_cli_serve_request.c.) */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"
#include "serve/serve.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a server process --------------------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int out; /* its stdout */
    int port;
} server;

static char model[1024];

/* Starts `reel serve -m tiny-a --port 0 ARGS...` and reads the port from its first line. */
static server start_server(const char *const *args)
{
    server s = {0};
    const char *argv[32] = {tu_reel_bin(), "serve", "-m", model, "--port", "0", "-t", "2"};
    int n = 8;
    for (; args && *args && n < 31; args++) argv[n++] = *args;
    argv[n] = NULL;
    int out[2];
    if (pipe(out)) abort();
    s.pid = fork();
    if (s.pid < 0) abort();
    if (s.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* no server left behind by a test that dies */
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    s.out = out[0];
    char line[1024];
    size_t k = 0;
    while (k + 1 < sizeof line) { /* until the first newline or the end */
        ssize_t r = read(s.out, line + k, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || line[k] == '\n') break;
        k++;
    }
    line[k] = '\0';
    const char *at = strstr(line, "listening on http://127.0.0.1:");
    if (!at) fail_msg("reel serve did not start: '%s'", line);
    s.port = atoi(at + strlen("listening on http://127.0.0.1:"));
    assert_true(s.port > 0);
    return s;
}

/* SIGTERM (or SIGINT) and the exit status, which must be 0: a clean stop (under ASan also no
 * leak). */
static void stop_server(server *s, int sig)
{
    /* a server that never started (its setup failed) has pid 0, and kill(0) would signal this
     * whole process group: ctest and the shell that ran it */
    if (s->pid <= 0) return;
    kill(s->pid, sig);
    int st = 0;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    close(s->out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("reel serve ended with status %d (signal %d)",
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* assert_string_equal that fails (rather than crashes) on NULL */
#define assert_str(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            fail_msg("'%s' != '%s'", a_ ? a_ : "(null)", b_ ? b_ : "(null)");                      \
    } while (0)

/* Two answers' texts are the same bytes. */
#define assert_text(x, y)                                                                          \
    do {                                                                                           \
        if ((x).len != (y).len || memcmp((x).text, (y).text, (x).len) != 0)                        \
            fail_msg("'%s' (%zu bytes) != '%s' (%zu bytes)", (x).text, (x).len, (y).text,          \
                     (y).len);                                                                     \
    } while (0)

/* ---- HTTP through libcurl ------------------------------------------------------------------ */

typedef struct resp {
    long status;
    char *body;
    size_t n;
    size_t abort_after; /* > 0: stop reading (hang up) once this many bytes arrived */
    json_t *json;       /* the body parsed, when it is JSON */
} resp;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
    resp *r = ctx;
    size_t k = size * nmemb;
    r->body = reel_xrealloc(r->body, r->n + k + 1);
    memcpy(r->body + r->n, p, k);
    r->n += k;
    r->body[r->n] = '\0';
    if (r->abort_after && r->n >= r->abort_after) return 0; /* curl closes the connection */
    return k;
}

static resp request(int port, const char *method, const char *path, const char *body, size_t len,
                    const char *key, size_t abort_after)
{
    resp r = {0};
    r.abort_after = abort_after;
    r.body = reel_xcalloc(1, 1);
    CURL *c = curl_easy_init();
    char url[256], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (rc != CURLE_OK && !(abort_after && rc == CURLE_WRITE_ERROR)) {
        /* reported by the caller's checks (this may run on another thread than cmocka's) */
        free(r.body);
        r.body = reel_xasprintf("%s %s: %s", method, path, curl_easy_strerror(rc));
        r.n = strlen(r.body);
        r.status = -1;
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.json = json_loadb(r.body, r.n, JSON_ALLOW_NUL, NULL);
    return r;
}

static resp post(int port, const char *path, const char *body)
{
    return request(port, "POST", path, body, strlen(body), NULL, 0);
}

static resp get(int port, const char *path)
{
    return request(port, "GET", path, NULL, 0, NULL, 0);
}

static void resp_free(resp *r)
{
    free(r->body);
    json_decref(r->json);
}

/* A 4xx answer in OpenAI's error shape, whose param is `param` (NULL: not checked). */
static void assert_error(const resp *r, long status, const char *param)
{
    if (r->status != status) fail_msg("status %ld, not %ld: %s", r->status, status, r->body);
    const json_t *e = json_object_get(r->json, "error");
    assert_true(json_is_object(e));
    assert_true(json_is_string(json_object_get(e, "message")));
    assert_true(json_is_string(json_object_get(e, "type")));
    assert_non_null(json_object_get(e, "param"));
    assert_non_null(json_object_get(e, "code"));
    if (param) {
        const char *p = json_string_value(json_object_get(e, "param"));
        if (!p || strcmp(p, param) != 0)
            fail_msg("param '%s', not '%s': %s", p ? p : "null", param, r->body);
    }
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct answer {
    char *text; /* chat: message.content (or the deltas); completion: text */
    size_t len; /* (a random model may write a NUL) */
    char *finish;
    long prompt_tokens, completion_tokens;
} answer;

static void answer_free(answer *a)
{
    free(a->text);
    free(a->finish);
}

/* The answer of a 200 JSON body, its shape checked. */
static answer whole(const resp *r, int chat)
{
    if (r->status != 200 || !json_is_object(r->json))
        fail_msg("status %ld: %s", r->status, r->body);
    const json_t *d = r->json;
    assert_str(json_string_value(json_object_get(d, "object")),
               chat ? "chat.completion" : "text_completion");
    assert_true(
        tu_contains(json_string_value(json_object_get(d, "id")), chat ? "chatcmpl-" : "cmpl-"));
    assert_true(json_is_integer(json_object_get(d, "created")));
    assert_str(json_string_value(json_object_get(d, "model")), "tiny-a");
    const json_t *ch = json_array_get(json_object_get(d, "choices"), 0);
    assert_int_equal(json_array_size(json_object_get(d, "choices")), 1);
    assert_int_equal(json_integer_value(json_object_get(ch, "index")), 0);
    const json_t *text = json_object_get(ch, "text");
    if (chat) {
        const json_t *m = json_object_get(ch, "message");
        assert_str(json_string_value(json_object_get(m, "role")), "assistant");
        text = json_object_get(m, "content");
    }
    assert_true(json_is_string(text));
    const json_t *u = json_object_get(d, "usage");
    answer a = {reel_xmalloc(json_string_length(text) + 1), json_string_length(text),
                reel_xstrdup(json_string_value(json_object_get(ch, "finish_reason"))),
                (long)json_integer_value(json_object_get(u, "prompt_tokens")),
                (long)json_integer_value(json_object_get(u, "completion_tokens"))};
    memcpy(a.text, json_string_value(text), a.len + 1);
    assert_true(!strcmp(a.finish, "stop") || !strcmp(a.finish, "length"));
    assert_true(a.prompt_tokens > 0);
    assert_int_equal(json_integer_value(json_object_get(u, "total_tokens")),
                     a.prompt_tokens + a.completion_tokens);
    return a;
}

/* The answer of a server-sent event stream: "data: {chunk}" events, reassembled, then
 * "data: [DONE]". Usage comes from the include_usage chunk when there is one. */
static answer streamed(const resp *r, int chat)
{
    if (r->status != 200) fail_msg("status %ld: %s", r->status, r->body);
    answer a = {reel_xcalloc(1, 1), 0, NULL, -1, -1};
    size_t n = 0;
    int done = 0, chunks = 0;
    for (char *ev = r->body; *ev;) {
        char *end = strstr(ev, "\n\n");
        assert_non_null(end);
        *end = '\0';
        assert_true(!strncmp(ev, "data: ", 6));
        assert_false(done); /* nothing after [DONE] */
        if (!strcmp(ev + 6, "[DONE]")) {
            done = 1;
        } else {
            json_t *c = json_loads(ev + 6, JSON_ALLOW_NUL, NULL);
            if (!c) fail_msg("not JSON: %s", ev + 6);
            assert_str(json_string_value(json_object_get(c, "object")),
                       chat ? "chat.completion.chunk" : "text_completion");
            const json_t *choices = json_object_get(c, "choices");
            const json_t *u = json_object_get(c, "usage");
            if (json_array_size(choices) == 0) { /* the usage chunk */
                a.prompt_tokens = (long)json_integer_value(json_object_get(u, "prompt_tokens"));
                a.completion_tokens =
                    (long)json_integer_value(json_object_get(u, "completion_tokens"));
            } else {
                const json_t *ch = json_array_get(choices, 0);
                const json_t *t = chat ? json_object_get(json_object_get(ch, "delta"), "content")
                                       : json_object_get(ch, "text");
                if (chat && chunks == 0)
                    assert_str(
                        json_string_value(json_object_get(json_object_get(ch, "delta"), "role")),
                        "assistant");
                if (t) {
                    size_t k = json_string_length(t);
                    a.text = reel_xrealloc(a.text, n + k + 1);
                    memcpy(a.text + n, json_string_value(t), k + 1);
                    n += k;
                }
                const char *f = json_string_value(json_object_get(ch, "finish_reason"));
                if (f) {
                    assert_null(a.finish);
                    a.finish = reel_xstrdup(f);
                }
                chunks++;
            }
            json_decref(c);
        }
        ev = end + 2;
    }
    assert_true(done);
    assert_non_null(a.finish);
    a.len = n;
    return a;
}

static char *chat_body(const char *user, const char *extra)
{
    json_t *m = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "Be brief.", "role",
                          "user", "content", user);
    char *ms = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    char *b = reel_xasprintf("{\"model\":\"tiny-a\",\"messages\":%s%s%s}", ms, extra ? "," : "",
                             extra ? extra : "");
    free(ms);
    return b;
}

/* ---- the shared server --------------------------------------------------------------------- */

static server S; /* --parallel 2 */

static int setup(void **state)
{
    (void)state;
    snprintf(model, sizeof model, "%s/tests/data/models/tiny-a", tu_source_dir());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    S = start_server((const char *[]){"--parallel", "2", "--ctx", "8192", NULL});
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_server(&S, SIGTERM);
    curl_global_cleanup();
    return 0;
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static void test_health_models_routes(void **state)
{
    (void)state;
    resp r = get(S.port, "/health");
    assert_int_equal(r.status, 200);
    assert_str(json_string_value(json_object_get(r.json, "status")), "ok");
    resp_free(&r);
    r = get(S.port, "/v1/models");
    assert_int_equal(r.status, 200);
    assert_str(json_string_value(json_object_get(r.json, "object")), "list");
    const json_t *m = json_array_get(json_object_get(r.json, "data"), 0);
    assert_str(json_string_value(json_object_get(m, "id")), "tiny-a");
    assert_str(json_string_value(json_object_get(m, "object")), "model");
    resp_free(&r);
    r = get(S.port, "/v2/nothing");
    assert_error(&r, 404, NULL);
    resp_free(&r);
    r = get(S.port, "/v1/chat/completions");
    assert_error(&r, 405, NULL);
    resp_free(&r);
}

static void test_chat_and_stream_agree(void **state)
{
    (void)state;
    char *b = chat_body("Tell me about cats.", "\"max_tokens\":24,\"temperature\":0");
    resp r = post(S.port, "/v1/chat/completions", b);
    answer w = whole(&r, 1);
    resp_free(&r);
    assert_true(w.completion_tokens >= 1 && w.completion_tokens <= 24);
    free(b);
    b = chat_body("Tell me about cats.", "\"max_tokens\":24,\"temperature\":0,\"stream\":true,"
                                         "\"stream_options\":{\"include_usage\":true}");
    r = post(S.port, "/v1/chat/completions", b);
    answer s = streamed(&r, 1);
    resp_free(&r);
    assert_text(s, w);
    assert_str(s.finish, w.finish);
    assert_int_equal(s.prompt_tokens, w.prompt_tokens);
    assert_int_equal(s.completion_tokens, w.completion_tokens);
    answer_free(&w), answer_free(&s);
    free(b);

    /* completions, and a seeded sample: the same seed, the same text */
    const char *cb = "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"temperature\":1,"
                     "\"seed\":1234}";
    r = post(S.port, "/v1/completions", cb);
    w = whole(&r, 0);
    resp_free(&r);
    r = post(S.port, "/v1/completions", cb);
    answer again = whole(&r, 0);
    resp_free(&r);
    assert_text(again, w);
    answer_free(&again);
    const char *cs = "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"temperature\":1,"
                     "\"seed\":1234,\"stream\":true}";
    r = post(S.port, "/v1/completions", cs);
    s = streamed(&r, 0);
    resp_free(&r);
    assert_text(s, w);
    assert_str(s.finish, w.finish);
    answer_free(&w), answer_free(&s);
}

/* max_tokens ends an answer with "length" after exactly that many tokens. */
static void test_max_tokens_length(void **state)
{
    (void)state;
    int lengths = 0;
    for (int i = 0; i < 8; i++) {
        char *b = reel_xasprintf("{\"prompt\":\"Item %d:\",\"max_tokens\":3,\"temperature\":0}", i);
        resp r = post(S.port, "/v1/completions", b);
        answer a = whole(&r, 0);
        assert_true(a.completion_tokens <= 3);
        if (!strcmp(a.finish, "length")) {
            assert_int_equal(a.completion_tokens, 3);
            lengths++;
        }
        answer_free(&a);
        resp_free(&r);
        free(b);
    }
    assert_true(lengths > 0);
    /* a budget larger than the context is capped by it, not refused */
    resp r =
        post(S.port, "/v1/completions",
             "{\"prompt\":\"x\",\"max_tokens\":1000000,\"response_format\":{\"type\":"
             "\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{\"enum\":[\"a\"]}}}}");
    answer a = whole(&r, 0);
    assert_str(a.text, "\"a\"");
    answer_free(&a);
    resp_free(&r);
}

/* A stop sequence cuts the greedy answer where it first appears, streamed or not. */
static void test_stop_sequences(void **state)
{
    (void)state;
    char *b = chat_body("Count.", "\"max_tokens\":32,\"temperature\":0");
    resp r = post(S.port, "/v1/chat/completions", b);
    answer full = whole(&r, 1);
    resp_free(&r);
    free(b);
    size_t n = full.len;
    if (n < 6) fail_msg("the answer is too short to cut: '%s'", full.text);
    /* a stop string of two whole characters from the middle */
    size_t k = n / 2;
    while (k > 0 && ((unsigned char)full.text[k] & 0xC0) == 0x80) k--;
    size_t e = k;
    for (int chars = 0; chars < 2 && e < n; chars++)
        for (e++; e < n && ((unsigned char)full.text[e] & 0xC0) == 0x80;) e++;
    char stop[64];
    snprintf(stop, sizeof stop, "%.*s", (int)(e - k < 60 ? e - k : 60), full.text + k);
    size_t at = (size_t)((char *)memmem(full.text, n, stop, strlen(stop)) - full.text);
    json_t *sj = json_string(stop);
    char *sjs = json_dumps(sj, JSON_ENCODE_ANY);
    json_decref(sj);
    for (int stream = 0; stream < 2; stream++) {
        char *extra = reel_xasprintf("\"max_tokens\":32,\"temperature\":0,\"stop\":[\"zzzz\",%s]%s",
                                     sjs, stream ? ",\"stream\":true" : "");
        b = chat_body("Count.", extra);
        r = post(S.port, "/v1/chat/completions", b);
        answer cut = stream ? streamed(&r, 1) : whole(&r, 1);
        if (cut.len != at || memcmp(cut.text, full.text, at) != 0)
            fail_msg("stop '%s' in '%s': got '%s'", stop, full.text, cut.text);
        assert_str(cut.finish, "stop");
        answer_free(&cut);
        resp_free(&r);
        free(b);
        free(extra);
    }
    free(sjs);
    answer_free(&full);
}

static const char *SCHEMA = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},"
                            "\"n\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},\"tag\":"
                            "{\"enum\":[\"red\",\"green\"]}},\"required\":[\"ok\",\"n\",\"tag\"]}";

static void test_json_schema(void **state)
{
    (void)state;
    json_t *schema = json_loads(SCHEMA, 0, NULL);
    for (int i = 0; i < 6; i++) {
        int stream = i % 2;
        char *extra = reel_xasprintf(
            "\"max_tokens\":64,\"temperature\":1,\"seed\":%d,\"stream\":%s,\"response_format\":"
            "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"t\",\"strict\":true,"
            "\"schema\":%s}}",
            i / 2, stream ? "true" : "false", SCHEMA);
        char *b = chat_body("Give me a record.", extra);
        resp r = post(S.port, "/v1/chat/completions", b);
        answer a = stream ? streamed(&r, 1) : whole(&r, 1);
        assert_str(a.finish, "stop");
        json_t *v = json_loads(a.text, 0, NULL);
        if (!v) fail_msg("not JSON: %s", a.text);
        if (reel_json_schema_validate(schema, v) < 0) fail_msg("%s: %s", a.text, reel_last_error());
        json_decref(v);
        answer_free(&a);
        resp_free(&r);
        free(b);
        free(extra);
    }
    /* the same seed streamed and not gives the same document */
    json_decref(schema);

    /* json_object: any object; completed answers parse as one */
    int objects = 0;
    for (int seed = 0; seed < 6; seed++) {
        char *extra = reel_xasprintf("\"max_tokens\":200,\"temperature\":1,\"seed\":%d,"
                                     "\"response_format\":{\"type\":\"json_object\"}",
                                     seed);
        char *b = chat_body("Describe a cat as JSON.", extra);
        resp r = post(S.port, "/v1/chat/completions", b);
        answer a = whole(&r, 1);
        assert_true(a.text[0] == '{');
        if (!strcmp(a.finish, "stop")) {
            json_t *v = json_loads(a.text, 0, NULL);
            if (!json_is_object(v)) fail_msg("not a JSON object: %s", a.text);
            json_decref(v);
            objects++;
        }
        answer_free(&a);
        resp_free(&r);
        free(b);
        free(extra);
    }
    assert_true(objects > 0);

    /* a schema the grammar engine refuses is the client's error, named */
    char *b = chat_body("x", "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{"
                             "\"name\":\"t\",\"schema\":{\"type\":\"object\",\"if\":{}}}}");
    resp r = post(S.port, "/v1/chat/completions", b);
    assert_error(&r, 400, "response_format.json_schema.schema");
    assert_true(tu_contains(r.body, "if"));
    resp_free(&r);
    free(b);
}

/* With thinking on, the think block comes back as reasoning_content, streamed or not (the tiny
 * model never closes it, so all of its text is reasoning). */
static void test_reasoning(void **state)
{
    (void)state;
    const char *kw = "\"max_tokens\":8,\"temperature\":0,\"chat_template_kwargs\":{"
                     "\"enable_thinking\":true}";
    char *b = chat_body("Think.", kw);
    resp r = post(S.port, "/v1/chat/completions", b);
    answer a = whole(&r, 1);
    const json_t *m =
        json_object_get(json_array_get(json_object_get(r.json, "choices"), 0), "message");
    const json_t *rc = json_object_get(m, "reasoning_content");
    assert_true(json_is_string(rc) && json_string_length(rc) > 0);
    assert_int_equal(a.len, 0);
    free(b);
    char *extra = reel_xasprintf("%s,\"stream\":true", kw);
    b = chat_body("Think.", extra);
    resp sr = post(S.port, "/v1/chat/completions", b);
    reel_strbuf got = {0};
    reel_strbuf_add(&got, "", 0);
    for (const char *p = sr.body; (p = strstr(p, "data: {")); p++) {
        json_t *c = json_loads(p + 6, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL);
        const json_t *d =
            json_object_get(json_array_get(json_object_get(c, "choices"), 0), "delta");
        const json_t *t = json_object_get(d, "reasoning_content");
        if (t) reel_strbuf_add(&got, json_string_value(t), json_string_length(t));
        json_decref(c);
    }
    if (got.n != json_string_length(rc) || memcmp(got.p, json_string_value(rc), got.n) != 0)
        fail_msg("streamed reasoning '%s' != '%s'", got.p, json_string_value(rc));
    free(got.p);
    answer_free(&a);
    resp_free(&r);
    resp_free(&sr);
    free(b);
    free(extra);
}

/* ---- many requests at once ------------------------------------------------------------------ */

#define N_CONCURRENT 16

typedef struct job {
    int i;
    int stream;
    resp r; /* checked by the main thread: cmocka's assertions are not for other threads */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    char user[64], extra[96];
    snprintf(user, sizeof user, "Question number %d?", j->i);
    snprintf(extra, sizeof extra, "\"max_tokens\":12,\"temperature\":0%s",
             j->stream ? ",\"stream\":true" : "");
    char *b = chat_body(user, extra);
    j->r = request(S.port, "POST", "/v1/chat/completions", b, strlen(b), NULL, 0);
    free(b);
    return NULL;
}

static answer job_answer(job *j)
{
    answer a = j->stream ? streamed(&j->r, 1) : whole(&j->r, 1);
    resp_free(&j->r);
    return a;
}

/* 16 requests at once on 2 sessions (and garbage sent meanwhile): every one is answered, and
 * each answer is the one it gets alone, so no session sees another's tokens. */
static void test_concurrent(void **state)
{
    (void)state;
    job alone[N_CONCURRENT], together[N_CONCURRENT];
    answer want[N_CONCURRENT];
    for (int i = 0; i < N_CONCURRENT; i++) {
        alone[i] = (job){i, 0, {0}};
        run_job(&alone[i]);
        want[i] = job_answer(&alone[i]);
    }
    pthread_t t[N_CONCURRENT];
    for (int i = 0; i < N_CONCURRENT; i++) {
        together[i] = (job){i, i % 2, {0}};
        assert_int_equal(pthread_create(&t[i], NULL, run_job, &together[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        resp r = post(S.port, "/v1/chat/completions", "{\"messages\": [garbage");
        assert_error(&r, 400, NULL);
        resp_free(&r);
    }
    for (int i = 0; i < N_CONCURRENT; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < N_CONCURRENT; i++) {
        answer got = job_answer(&together[i]);
        assert_text(got, want[i]);
        answer_free(&got);
        answer_free(&want[i]);
    }
}

/* ---- bad requests ------------------------------------------------------------------------- */

static void test_bad_requests(void **state)
{
    (void)state;
    static const struct {
        const char *path, *body, *param;
    } BAD[] = {
        {"/v1/chat/completions", "", NULL},
        {"/v1/chat/completions", "\x01\x02garbage", NULL},
        {"/v1/chat/completions", "{\"messages\":\"hi\"}", "messages"},
        {"/v1/chat/completions", "{\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}",
         "messages[0].role"},
        {"/v1/chat/completions",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"warm\"}",
         "temperature"},
        {"/v1/completions", "{\"prompt\":{}}", "prompt"},
        {"/v1/completions", "{\"prompt\":[1,2,99999999]}", "prompt"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        resp r = post(S.port, BAD[i].path, BAD[i].body);
        assert_error(&r, 400, BAD[i].param);
        resp_free(&r);
    }
    /* a prompt longer than the context */
    reel_strbuf big = {0};
    reel_strbuf_str(&big, "{\"prompt\":[");
    for (int i = 0; i < 9000; i++) reel_strbuf_printf(&big, "%s5", i ? "," : "");
    reel_strbuf_str(&big, "]}");
    resp r = post(S.port, "/v1/completions", big.p);
    assert_error(&r, 400, "prompt");
    assert_true(tu_contains(r.body, "context_length_exceeded"));
    resp_free(&r);
    free(big.p);
    /* a body over the 1 MiB limit */
    size_t n = 2u << 20;
    char *huge = reel_xmalloc(n + 1);
    memset(huge, ' ', n);
    memcpy(huge, "{\"prompt\":\"", 11);
    huge[n - 2] = '"', huge[n - 1] = '}', huge[n] = '\0';
    r = request(S.port, "POST", "/v1/completions", huge, n, NULL, 0);
    assert_error(&r, 413, NULL);
    resp_free(&r);
    free(huge);
    /* and the server still answers */
    r = post(S.port, "/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":4}");
    answer a = whole(&r, 0);
    answer_free(&a);
    resp_free(&r);
}

/* A client that hangs up mid-stream cancels its generation: the schema below needs at least
 * 600 tokens, so the generation cannot have ended by itself when the client leaves. */
static void test_disconnect_cancels(void **state)
{
    (void)state;
    resp h = get(S.port, "/health");
    json_int_t cancelled = json_integer_value(json_object_get(h.json, "cancelled"));
    resp_free(&h);
    const char *b = "{\"prompt\":\"Numbers:\",\"max_tokens\":4000,\"stream\":true,"
                    "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"n\","
                    "\"schema\":{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,"
                    "\"maximum\":9},\"minItems\":300,\"maxItems\":300}}}}";
    resp r = request(S.port, "POST", "/v1/completions", b, strlen(b), NULL, 1);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* wait until the server has noticed (no time limit asserted: ctest's timeout is the guard) */
    for (;;) {
        h = get(S.port, "/health");
        json_int_t now = json_integer_value(json_object_get(h.json, "cancelled"));
        json_int_t running = json_integer_value(json_object_get(h.json, "running"));
        resp_free(&h);
        if (now == cancelled + 1 && running == 0) break;
        usleep(20000);
    }
}

/* ---- other servers ------------------------------------------------------------------------- */

static void test_api_key(void **state)
{
    (void)state;
    server s = start_server((const char *[]){"--api-key", "s3cret", NULL});
    resp r = get(s.port, "/v1/models");
    assert_error(&r, 401, NULL);
    assert_true(tu_contains(r.body, "invalid_api_key"));
    resp_free(&r);
    r = request(s.port, "GET", "/v1/models", NULL, 0, "wrong", 0);
    assert_error(&r, 401, NULL);
    resp_free(&r);
    r = request(s.port, "POST", "/v1/completions", "{\"prompt\":\"x\"}", 14, "s3cre", 0);
    assert_error(&r, 401, NULL);
    resp_free(&r);
    r = request(s.port, "GET", "/v1/models", NULL, 0, "s3cret", 0);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    const char *b = "{\"prompt\":\"x\",\"max_tokens\":2}";
    r = request(s.port, "POST", "/v1/completions", b, strlen(b), "s3cret", 0);
    answer a = whole(&r, 0);
    answer_free(&a);
    resp_free(&r);
    r = get(s.port, "/health"); /* liveness needs no key */
    assert_int_equal(r.status, 200);
    resp_free(&r);
    stop_server(&s, SIGINT);
}

static void test_non_loopback_needs_key(void **state)
{
    (void)state;
    char *argv[] = {(char *)tu_reel_bin(), "serve", "-m", model, "--host", "0.0.0.0", NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--api-key"));
    tu_result_free(&r);
    char *argv6[] = {(char *)tu_reel_bin(), "serve", "-m", model, "--host", "::", NULL};
    r = tu_run(argv6, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    char *argvn[] = {(char *)tu_reel_bin(), "serve", "-m", model, "--host", "example.com", NULL};
    r = tu_run(argvn, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    char *help[] = {(char *)tu_reel_bin(), "serve", "--help", NULL};
    r = tu_run(help, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "curl"));
    tu_result_free(&r);
}

/* The curl command line, as the help shows it, when there is one. */
static void test_curl_command(void **state)
{
    (void)state;
    const char *path = getenv("PATH");
    char curl[1024] = "";
    for (const char *p = path ? path : ""; *p;) {
        size_t n = strcspn(p, ":");
        snprintf(curl, sizeof curl, "%.*s/curl", (int)n, p);
        if (access(curl, X_OK) == 0) break;
        curl[0] = '\0';
        p += n + (p[n] == ':');
    }
    if (!curl[0]) {
        tu_skip("no curl command in PATH");
        return;
    }
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/chat/completions", S.port);
    char *body = chat_body("Name a colour.", "\"max_tokens\":8,\"temperature\":0");
    char *argv[] = {curl, "-sS", url, "-H", "Content-Type: application/json", "-d", body, NULL};
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    resp w = {200, r.out, strlen(r.out), 0, json_loads(r.out, JSON_ALLOW_NUL, NULL)};
    answer a = whole(&w, 1);
    json_decref(w.json);
    tu_result_free(&r);
    free(body);
    body = chat_body("Name a colour.", "\"max_tokens\":8,\"temperature\":0,\"stream\":true");
    char *argvs[] = {curl, "-sS", "-N", url, "-H", "Content-Type: application/json",
                     "-d", body,  NULL};
    r = tu_run(argvs, NULL);
    assert_int_equal(r.status, 0);
    resp sr = {200, r.out, strlen(r.out), 0, NULL};
    answer s = streamed(&sr, 1);
    assert_text(s, a);
    answer_free(&s);
    answer_free(&a);
    tu_result_free(&r);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_models_routes),
        cmocka_unit_test(test_chat_and_stream_agree),
        cmocka_unit_test(test_max_tokens_length),
        cmocka_unit_test(test_stop_sequences),
        cmocka_unit_test(test_json_schema),
        cmocka_unit_test(test_reasoning),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_disconnect_cancels),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_non_loopback_needs_key),
        cmocka_unit_test(test_curl_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
