/* Remote models (llm/remote.h) over real HTTP on loopback: a fake OpenAI server written here
 * (a server that ignores the schema, answers garbage or a cut stream, is unavailable once, wants
 * an API key) and `reel serve` itself on the tiny test model (streamed and whole answers agree,
 * schema answers validate); the spec parser, offline mode, and the answer parser alone. */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"
#include "llm/remote.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the fake server ------------------------------------------------------------------------ */

enum mode {
    M_OK_STREAM,     /* a good streamed chat answer */
    M_IGNORE_SCHEMA, /* valid JSON that breaks the schema, whatever response_format said */
    M_NOT_JSON,      /* prose where JSON was asked for */
    M_GARBAGE,       /* an HTML page */
    M_TRUNCATED,     /* a stream cut after one piece */
    M_BAD_EVENT,     /* an event whose data is not JSON */
    M_503_THEN_OK,   /* 503 with Retry-After once, then a good answer */
    M_401,           /* refuses every request */
    M_ERROR_EVENT,   /* an error reported inside the stream */
};

typedef struct fake {
    pthread_mutex_t mu;
    enum mode mode;
    int requests;
    char auth[256];  /* the Authorization header of the last request */
    char path[1024]; /* its path */
    json_t *body;    /* its body */
} fake;

static fake F = {.mu = PTHREAD_MUTEX_INITIALIZER};
static tu_httpd *H;
static char url[128];

static void raw(int fd, int status, const char *extra_headers, const char *ctype, const char *body)
{
    char *r = reel_xasprintf("HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sConnection: close\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             status, ctype, extra_headers, strlen(body), body);
    tu_write_all(fd, r, strlen(r));
    free(r);
}

/* A stream without Content-Length: the end of the connection ends it. */
static void stream(int fd, const char *events)
{
    const char *head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
    tu_write_all(fd, head, strlen(head));
    tu_write_all(fd, events, strlen(events));
}

static const char GOOD[] = "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
                           "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"n\\\":\"}}]}\n\n"
                           "data: {\"choices\":[{\"delta\":{\"content\":\"7}\"},"
                           "\"finish_reason\":\"stop\"}]}\n\n"
                           "data: [DONE]\n\n";

static void handler(void *ctx, const tu_http_req *req, int fd)
{
    fake *f = ctx;
    pthread_mutex_lock(&f->mu);
    int n = ++f->requests;
    enum mode mode = f->mode;
    snprintf(f->path, sizeof f->path, "%s", req->path);
    f->auth[0] = '\0';
    const char *a = strcasestr(req->headers, "\r\nauthorization: ");
    if (a) {
        a += 17;
        size_t k = strcspn(a, "\r\n");
        snprintf(f->auth, sizeof f->auth, "%.*s", (int)k, a);
    }
    json_decref(f->body);
    f->body = json_loadb(req->body, req->body_len, 0, NULL);
    pthread_mutex_unlock(&f->mu);
    switch (mode) {
    case M_OK_STREAM:
        stream(fd, GOOD);
        break;
    case M_IGNORE_SCHEMA:
        stream(fd, "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"n\\\":\\\"seven\\\"}\"},"
                   "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        break;
    case M_NOT_JSON:
        raw(fd, 200, "", "application/json",
            "{\"choices\":[{\"message\":{\"content\":\"Seven, I think.\"},"
            "\"finish_reason\":\"stop\"}]}");
        break;
    case M_GARBAGE:
        raw(fd, 200, "", "text/html", "<html><body>It works!</body></html>");
        break;
    case M_TRUNCATED:
        stream(fd, "data: {\"choices\":[{\"delta\":{\"content\":\"{\\\"n\\\":\"}}]}\n\n"
                   "data: {\"choices\":[{\"delta\":{\"cont");
        break;
    case M_BAD_EVENT:
        stream(fd, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
                   "data: this is not json\n\ndata: [DONE]\n\n");
        break;
    case M_503_THEN_OK:
        if (n == 1)
            raw(fd, 503, "Retry-After: 1\r\n", "application/json",
                "{\"error\":{\"message\":\"loading the model\"}}");
        else
            stream(fd, GOOD);
        break;
    case M_401:
        raw(fd, 401, "", "application/json",
            "{\"error\":{\"message\":\"Incorrect API key "
            "provided\",\"code\":\"invalid_api_key\"}}");
        break;
    case M_ERROR_EVENT:
        stream(fd, "data: {\"error\":{\"message\":\"the GPU fell over\"}}\n\n");
        break;
    }
}

static void set_mode(enum mode m)
{
    pthread_mutex_lock(&F.mu);
    F.mode = m;
    F.requests = 0;
    pthread_mutex_unlock(&F.mu);
}

static int requests(void)
{
    pthread_mutex_lock(&F.mu);
    int n = F.requests;
    pthread_mutex_unlock(&F.mu);
    return n;
}

static json_t *schema(void)
{
    return json_pack("{s:s,s:{s:{s:s}},s:[s],s:b}", "type", "object", "properties", "n", "type",
                     "integer", "required", "n", "additionalProperties", 0);
}

static reel_llm_remote *open_fake(void)
{
    reel_llm_remote_params p = reel_llm_remote_default_params();
    p.backoff_ms = 10;
    p.retries = 2;
    p.timeout_s = 60;
    reel_llm_remote *r = reel_llm_remote_open(url, &p);
    if (!r) fail_msg("%s", reel_last_error());
    return r;
}

/* Asks the fake server for {"n": integer} in a chat; returns the rc, the text in *text. */
static int ask(enum mode m, int stream_it, char **text)
{
    set_mode(m);
    reel_llm_remote *r = open_fake();
    json_t *s = schema();
    reel_llm_chat_msg msgs[] = {{"user", "A number?", NULL}};
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.msgs = msgs;
    q.n_msgs = 1;
    q.schema = s;
    q.stream = stream_it;
    reel_llm_remote_result res;
    int rc = reel_llm_remote_generate(r, &q, &res);
    *text = rc == 0 ? res.text : NULL;
    json_decref(s);
    reel_llm_remote_free(r);
    return rc;
}

#define assert_error_has(rc, needle)                                                               \
    do {                                                                                           \
        if ((rc) >= 0) fail_msg("succeeded where it should fail with '%s'", needle);               \
        if (!tu_contains(reel_last_error(), needle))                                               \
            fail_msg("error '%s' does not say '%s'", reel_last_error(), needle);                   \
    } while (0)

/* The request is what the OpenAI API expects, and a valid answer comes through. */
static void test_request_shape(void **state)
{
    (void)state;
    char *text;
    int rc = ask(M_OK_STREAM, 1, &text);
    if (rc < 0) fail_msg("%s", reel_last_error());
    assert_string_equal(text, "{\"n\":7}");
    free(text);
    assert_string_equal(F.path, "/v1/chat/completions");
    assert_string_equal(json_string_value(json_object_get(F.body, "model")), "fake-model");
    assert_true(json_is_true(json_object_get(F.body, "stream")));
    const json_t *rf = json_object_get(F.body, "response_format");
    assert_string_equal(json_string_value(json_object_get(rf, "type")), "json_schema");
    const json_t *js = json_object_get(rf, "json_schema");
    assert_string_equal(json_string_value(json_object_get(js, "name")), "answer");
    assert_true(json_is_true(json_object_get(js, "strict")));
    json_t *s = schema();
    assert_true(json_equal(json_object_get(js, "schema"), s));
    json_decref(s);
    const json_t *m0 = json_array_get(json_object_get(F.body, "messages"), 0);
    assert_string_equal(json_string_value(json_object_get(m0, "role")), "user");
    assert_string_equal(json_string_value(json_object_get(m0, "content")), "A number?");
}

/* A server that ignores the schema is found out: reel fails closed, naming the violation. */
static void test_schema_ignored_fails_closed(void **state)
{
    (void)state;
    char *text;
    int rc = ask(M_IGNORE_SCHEMA, 1, &text);
    assert_error_has(rc, "does not match the JSON schema");
    assert_error_has(rc, "/n"); /* the place of the violation */
    assert_error_has(rc, "fake-model");
    rc = ask(M_NOT_JSON, 0, &text);
    assert_error_has(rc, "is not JSON although a JSON schema was asked for");
}

static void test_garbage_and_cut_streams(void **state)
{
    (void)state;
    char *text;
    assert_error_has(ask(M_GARBAGE, 1, &text), "neither JSON nor server-sent events");
    assert_error_has(ask(M_GARBAGE, 1, &text), "It works!");
    assert_error_has(ask(M_TRUNCATED, 1, &text), "cut short");
    assert_error_has(ask(M_BAD_EVENT, 1, &text), "event 2 of the stream is not JSON");
    assert_error_has(ask(M_ERROR_EVENT, 1, &text), "the GPU fell over");
}

/* 503 with Retry-After, then a good answer: retried once, no error. */
static void test_503_retried(void **state)
{
    (void)state;
    char *text;
    int rc = ask(M_503_THEN_OK, 1, &text);
    if (rc < 0) fail_msg("%s", reel_last_error());
    assert_string_equal(text, "{\"n\":7}");
    free(text);
    assert_int_equal(requests(), 2);
}

/* 401 names the API key; the key of OPENAI_API_KEY travels as a bearer token. */
static void test_api_key(void **state)
{
    (void)state;
    char *text;
    unsetenv("OPENAI_API_KEY");
    int rc = ask(M_401, 1, &text);
    assert_error_has(rc, "HTTP 401");
    assert_error_has(rc, "no API key was sent");
    assert_error_has(rc, "OPENAI_API_KEY");
    assert_int_equal(requests(), 1); /* not retried */
    assert_string_equal(F.auth, "");
    setenv("OPENAI_API_KEY", "sk-test-1234", 1);
    rc = ask(M_401, 1, &text);
    assert_error_has(rc, "the API key was not accepted");
    assert_string_equal(F.auth, "Bearer sk-test-1234");
    rc = ask(M_OK_STREAM, 1, &text);
    assert_int_equal(rc, 0);
    free(text);
    assert_string_equal(F.auth, "Bearer sk-test-1234");
    unsetenv("OPENAI_API_KEY");
}

/* Nothing listens: connection errors are retried, then a clear network error. */
static void test_unreachable(void **state)
{
    (void)state;
    tu_httpd *gone = tu_httpd_start(handler, &F);
    char *spec = reel_xasprintf("openai:http://127.0.0.1:%d/v1#m", tu_httpd_port(gone));
    tu_httpd_stop(gone);
    reel_llm_remote_params p = reel_llm_remote_default_params();
    p.backoff_ms = 10;
    p.retries = 1;
    reel_llm_remote *r = reel_llm_remote_open(spec, &p);
    assert_non_null(r);
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.prompt = "hi";
    reel_llm_remote_result res;
    int rc = reel_llm_remote_generate(r, &q, &res);
    assert_int_equal(rc, REEL_ENET);
    assert_error_has(rc, spec);
    reel_llm_remote_free(r);
    free(spec);
}

static void test_spec(void **state)
{
    (void)state;
    static const char *const bad[] = {"openai:",   "openai:http://h/v1",  "openai:http://h/v1#",
                                      "openai:#m", "openai:ftp://h/v1#m", "openai:h/v1#m"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        reel_llm_remote *r = reel_llm_remote_open(bad[i], NULL);
        if (r) fail_msg("'%s' was accepted", bad[i]);
        assert_true(tu_contains(reel_last_error(), bad[i]));
    }
    reel_llm_remote *r = reel_llm_remote_open("openai:http://[::1]:9/v1/#org/model:q4", NULL);
    assert_non_null(r);
    assert_string_equal(reel_llm_remote_url(r), "http://[::1]:9/v1");
    assert_string_equal(reel_llm_remote_model(r), "org/model:q4");
    assert_string_equal(reel_llm_remote_hostport(r), "[::1]:9");
    reel_llm_remote_free(r);
    r = reel_llm_remote_open("openai:https://api.example.com/v1#gpt", NULL);
    assert_non_null(r);
    assert_string_equal(reel_llm_remote_hostport(r), "api.example.com:443");
    reel_llm_remote_free(r);
    assert_false(reel_llm_remote_is_spec("model.gguf"));
}

/* REEL_OFFLINE=1: this machine only. */
static void test_offline(void **state)
{
    (void)state;
    setenv("REEL_OFFLINE", "1", 1);
    reel_llm_remote *r = reel_llm_remote_open("openai:http://gpu1.example:8000/v1#m", NULL);
    assert_null(r);
    assert_int_equal(reel_last_error_code(), REEL_ENET);
    assert_true(tu_contains(reel_last_error(), "REEL_OFFLINE=1"));
    assert_true(tu_contains(reel_last_error(), "gpu1.example"));
    static const char *const local[] = {"openai:http://127.0.0.1:1/v1#m",
                                        "openai:http://localhost:1/v1#m",
                                        "openai:http://[::1]:1/v1#m"};
    for (size_t i = 0; i < 3; i++) {
        r = reel_llm_remote_open(local[i], NULL);
        if (!r) fail_msg("%s: %s", local[i], reel_last_error());
        reel_llm_remote_free(r);
    }
    unsetenv("REEL_OFFLINE");
}

/* The parser alone: pieces across reads, CRLF, comments, multi-line data, a whole JSON answer. */
typedef struct {
    char buf[8192];
    size_t n;
} pieces;
static void collect(void *ctx, const char *t, size_t n)
{
    pieces *p = ctx;
    if (p->n + n >= sizeof p->buf) n = sizeof p->buf - 1 - p->n;
    memcpy(p->buf + p->n, t, n);
    p->n += n;
    p->buf[p->n] = '\0';
}

static void test_answer_parser(void **state)
{
    (void)state;
    const char *sse =
        ": hello\r\nevent: message\r\ndata: {\"choices\":[{\"text\":\"Once\"}]}\r\n\r\n"
        "data: {\"choices\":\ndata: [{\"text\":\" upon\",\"finish_reason\":\"length\"}],"
        "\"usage\":{\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
    for (size_t step = 1; step <= strlen(sse); step += 5) {
        pieces p = {0};
        reel_llm_answer *a = reel_llm_answer_new(0, collect, &p);
        for (size_t i = 0; i < strlen(sse); i += step) {
            size_t k = strlen(sse) - i < step ? strlen(sse) - i : step;
            assert_int_equal(reel_llm_answer_feed(a, sse + i, k), 0);
        }
        reel_llm_remote_result res;
        assert_int_equal(reel_llm_answer_finish(a, &res), 0);
        assert_string_equal(res.text, "Once upon");
        assert_string_equal(p.buf, "Once upon");
        assert_string_equal(res.finish_reason, "length");
        assert_int_equal(res.n_tokens, 2);
        free(res.text);
        reel_llm_answer_free(a);
    }
    const char *whole =
        "{\"choices\":[{\"message\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}";
    reel_llm_answer *a = reel_llm_answer_new(1, NULL, NULL);
    assert_int_equal(reel_llm_answer_feed(a, whole, strlen(whole)), 0);
    reel_llm_remote_result res;
    assert_int_equal(reel_llm_answer_finish(a, &res), 0);
    assert_string_equal(res.text, "hi");
    free(res.text);
    reel_llm_answer_free(a);
    a = reel_llm_answer_new(1, NULL, NULL);
    assert_int_equal(reel_llm_answer_finish(a, &res), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "empty"));
    reel_llm_answer_free(a);
}

/* ---- reel serve on the tiny model ---------------------------------------------------------- */

typedef struct server {
    pid_t pid;
    int port;
} server;

static server start_serve(void)
{
    server s = {0};
    char model[1024];
    snprintf(model, sizeof model, "%s/tests/data/models/tiny-a", tu_source_dir());
    const char *argv[] = {tu_reel_bin(), "serve", "-m",    model,  "--port", "0",
                          "-t",          "2",     "--ctx", "4096", NULL};
    int out[2];
    if (pipe(out)) abort();
    s.pid = fork();
    if (s.pid < 0) abort();
    if (s.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    char line[512];
    size_t k = 0;
    while (k + 1 < sizeof line) {
        ssize_t r = read(out[0], line + k, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0 || line[k] == '\n') break;
        k++;
    }
    line[k] = '\0';
    close(out[0]);
    const char *at = strstr(line, "http://127.0.0.1:");
    if (!at) fail_msg("reel serve did not start: '%s'", line);
    s.port = atoi(at + strlen("http://127.0.0.1:"));
    return s;
}

static void stop_serve(server *s)
{
    kill(s->pid, SIGTERM);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
}

static char *gen(reel_llm_remote *r, const reel_llm_remote_request *q0, int stream_it, pieces *seen,
                 size_t *len)
{
    reel_llm_remote_request q = *q0;
    q.stream = stream_it;
    q.on_text = seen ? collect : NULL;
    q.ctx = seen;
    reel_llm_remote_result res;
    if (reel_llm_remote_generate(r, &q, &res) < 0) fail_msg("%s", reel_last_error());
    assert_true(res.finish_reason[0] != '\0');
    *len = res.len;
    return res.text;
}

static void test_against_reel_serve(void **state)
{
    (void)state;
    server s = start_serve();
    char *spec = reel_xasprintf("openai:http://127.0.0.1:%d/v1#tiny-a", s.port);
    reel_llm_remote *r = reel_llm_remote_open(spec, NULL);
    assert_non_null(r);
    /* a plain completion and a chat, each streamed and whole: the same text at temperature 0 */
    reel_llm_chat_msg msgs[] = {{"system", "Be brief.", NULL}, {"user", "Name a colour.", NULL}};
    for (int chat = 0; chat < 2; chat++) {
        reel_llm_remote_request q = reel_llm_remote_default_request();
        if (chat) {
            q.msgs = msgs;
            q.n_msgs = 2;
        } else {
            q.prompt = "Once upon a time";
        }
        q.max_tokens = 12;
        q.temperature = 0;
        q.has_seed = 1;
        pieces seen = {0};
        size_t na, nb;
        char *a = gen(r, &q, 1, &seen, &na), *b = gen(r, &q, 0, NULL, &nb);
        /* the random weights may well produce U+0000: compare bytes */
        assert_true(na > 0);
        assert_int_equal(na, nb);
        assert_int_equal(na, seen.n);
        assert_memory_equal(a, b, na);
        assert_memory_equal(a, seen.buf, na);
        free(a);
        free(b);
    }
    /* a schema answer validates (the tiny model's weights are random: the grammar decides) */
    json_t *sc = schema();
    reel_llm_remote_request q = reel_llm_remote_default_request();
    q.msgs = msgs;
    q.n_msgs = 2;
    q.schema = sc;
    q.max_tokens = 64;
    q.has_seed = 1;
    q.seed = 3;
    for (int st = 0; st < 2; st++) {
        reel_llm_remote_result res;
        q.stream = st;
        int rc = reel_llm_remote_generate(r, &q, &res);
        if (rc < 0) fail_msg("%s", reel_last_error());
        json_t *v = json_loads(res.text, 0, NULL);
        assert_non_null(v);
        assert_int_equal(reel_json_schema_validate(sc, v), 0);
        json_decref(v);
        free(res.text);
    }
    json_decref(sc);
    reel_llm_remote_free(r);
    free(spec);
    stop_serve(&s);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    unsetenv("OPENAI_API_KEY");
    unsetenv("REEL_OFFLINE");
    H = tu_httpd_start(handler, &F);
    snprintf(url, sizeof url, "openai:http://127.0.0.1:%d/v1#fake-model", tu_httpd_port(H));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_httpd_stop(H);
    json_decref(F.body);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_shape),
        cmocka_unit_test(test_schema_ignored_fails_closed),
        cmocka_unit_test(test_garbage_and_cut_streams),
        cmocka_unit_test(test_503_retried),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_answer_parser),
        cmocka_unit_test(test_against_reel_serve),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
