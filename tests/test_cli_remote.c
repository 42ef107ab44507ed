/* Remote models through the reel command: `reel generate`, `reel plan` and `reel run` (Lua's
 * reel.model) with --model openai:URL#MODEL against `reel serve` on the tiny model, and against a
 * fake OpenAI server on loopback that counts its requests (a cached generation asks nothing),
 * checks the API key, ignores the schema or refuses the key. (The library alone:
 * test_llm_remote.c.) */
#include "testutil.h"
#include "core/core.h"
#include "llm/grammar.h"
#include "llm/plan.h"

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

/* ---- reel serve ------------------------------------------------------------------------------ */

static pid_t serve_pid;
static char serve_spec[128]; /* openai:http://127.0.0.1:PORT/v1#tiny-a */

static void start_serve(void)
{
    char model[1024];
    snprintf(model, sizeof model, "%s/tests/data/models/tiny-a", tu_source_dir());
    const char *argv[] = {tu_reel_bin(), "serve", "-m",    model,  "--port", "0",
                          "-t",          "2",     "--ctx", "8192", NULL};
    int out[2];
    if (pipe(out)) abort();
    serve_pid = fork();
    if (serve_pid < 0) abort();
    if (serve_pid == 0) {
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
    if (!at) {
        fprintf(stderr, "reel serve did not start: '%s'\n", line);
        abort();
    }
    snprintf(serve_spec, sizeof serve_spec, "openai:http://127.0.0.1:%d/v1#tiny-a",
             atoi(at + strlen("http://127.0.0.1:")));
}

/* ---- the fake server ------------------------------------------------------------------------ */

enum mode { M_OK, M_IGNORE_SCHEMA, M_401 };

static struct {
    pthread_mutex_t mu;
    enum mode mode;
    int requests;
    char auth[256];
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};
static tu_httpd *H;
static char fake_spec[128];

static void handler(void *ctx, const tu_http_req *req, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&F.mu);
    F.requests++;
    enum mode mode = F.mode;
    F.auth[0] = '\0';
    const char *a = strcasestr(req->headers, "\r\nauthorization: ");
    if (a) snprintf(F.auth, sizeof F.auth, "%.*s", (int)strcspn(a + 17, "\r\n"), a + 17);
    pthread_mutex_unlock(&F.mu);
    if (mode == M_401) {
        const char *b = "{\"error\":{\"message\":\"Incorrect API key provided\"}}";
        tu_http_respond(fd, 401, "application/json", b, strlen(b));
        return;
    }
    const char *content = mode == M_OK ? "{\\\"n\\\":7}" : "{\\\"n\\\":\\\"seven\\\"}";
    char *events = reel_xasprintf(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"%s\"},\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n",
        content);
    tu_write_all(fd, events, strlen(events));
    free(events);
}

static void set_mode(enum mode m)
{
    pthread_mutex_lock(&F.mu);
    F.mode = m;
    F.requests = 0;
    pthread_mutex_unlock(&F.mu);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static tu_result reel(const char *const *args)
{
    const char *argv[40] = {tu_reel_bin()};
    int n = 1;
    for (; *args && n < 39; args++) argv[n++] = *args;
    argv[n] = NULL;
    return tu_run((char *const *)argv, NULL);
}

static void expect_ok(const tu_result *r)
{
    if (r->status != 0) fail_msg("status %d: %s", r->status, r->err);
}

static void expect_fail(const tu_result *r, const char *needle)
{
    if (r->status != 1) fail_msg("status %d, not 1: %s", r->status, r->err);
    if (!tu_contains(r->err, needle)) fail_msg("stderr does not say '%s': %s", needle, r->err);
}

static json_t *small_schema(void)
{
    return json_pack("{s:s,s:{s:{s:s}},s:[s]}", "type", "object", "properties", "n", "type",
                     "integer", "required", "n");
}

/* ---- against reel serve --------------------------------------------------------------------- */

/* Streamed (tokens printed as they arrive) and whole answers are the same text. */
static void test_generate_stream_and_not(void **state)
{
    (void)state;
    for (int chat = 0; chat < 2; chat++) {
        const char *s[] = {
            "generate", "-m",     serve_spec, "-p", "Once upon a time",         "-n",
            "12",       "--temp", "0",        "-v", chat ? "--chat" : "--temp", chat ? NULL : "0",
            NULL,       NULL};
        tu_result a = reel(s);
        expect_ok(&a);
        s[chat ? 11 : 12] = "--no-stream";
        tu_result b = reel(s);
        expect_ok(&b);
        /* (the tiny model's random weights may produce U+0000, so the bytes are compared in
         * test_llm_remote; here the text up to there, and the count) */
        assert_string_equal(a.out, b.out);
        assert_true(tu_contains(a.err, "12 tokens in") && tu_contains(b.err, "12 tokens in"));
        assert_true(tu_contains(a.err, "finish_reason length"));
        tu_result_free(&a);
        tu_result_free(&b);
    }
}

static void test_generate_json_schema(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = reel_xasprintf("%s/n.json", dir);
    json_t *sc = small_schema();
    char *text = json_dumps(sc, 0);
    tu_write_file(path, text, strlen(text));
    for (int st = 0; st < 2; st++) {
        const char *s[] = {"generate",
                           "-m",
                           serve_spec,
                           "--chat",
                           "-p",
                           "A number?",
                           "--json-schema",
                           path,
                           "-n",
                           "64",
                           "--seed",
                           "5",
                           st ? "--no-stream" : NULL,
                           NULL};
        tu_result r = reel(s);
        expect_ok(&r);
        json_t *v = json_loads(r.out, 0, NULL);
        if (!v) fail_msg("not JSON: %s", r.out);
        assert_int_equal(reel_json_schema_validate(sc, v), 0);
        json_decref(v);
        tu_result_free(&r);
    }
    json_decref(sc);
    free(text);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_plan(void **state)
{
    (void)state;
    const char *s[] = {"plan",
                       "-m",
                       serve_spec,
                       "--shots",
                       "1",
                       "--max-text",
                       "20",
                       "-n",
                       "3000",
                       "--compact",
                       "a cat who reads the stars",
                       NULL};
    tu_result r = reel(s);
    expect_ok(&r);
    json_t *v = json_loads(r.out, 0, NULL);
    if (!v) fail_msg("not JSON: %s", r.out);
    json_t *sc = reel_llm_plan_schema(1, 0, 20);
    assert_int_equal(reel_json_schema_validate(sc, v), 0);
    json_decref(sc);
    json_decref(v);
    tu_result_free(&r);
}

/* Lua: m:generate, m:chat and m:json against reel serve; local-only fields are refused. */
static void test_lua_against_serve(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = reel_xasprintf("%s/s.lua", dir), *out = reel_xasprintf("%s/out", dir);
    const char *lua =
        "local m = assert(reel.model())\n"
        "assert(tostring(m):find('openai:', 1, true))\n"
        "assert(m:generate{prompt = 'Once', max_tokens = 8, temp = 0})\n"
        "assert(m:chat{system = 'Be brief.', prompt = 'hi', max_tokens = 8})\n"
        "local j = assert(m:json{schema = {type = 'object', properties = {n = {type = "
        "'integer'}}, required = {'n'}}, prompt = 'n?', max_tokens = 64})\n"
        "assert(math.type(j.n) == 'integer')\n"
        "local ok, err = pcall(m.generate, m, {prompt = 'x', top_k = 3})\n"
        "assert(not ok and err:find('local models only', 1, true), err)\n"
        "reel.log('all good')\n";
    tu_write_file(script, lua, strlen(lua));
    const char *s[] = {"run", script, "--model", serve_spec, "--out", out, "--no-progress", NULL};
    tu_result r = reel(s);
    expect_ok(&r);
    assert_true(tu_contains(r.err, "all good"));
    tu_result_free(&r);
    free(script);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* ---- against the fake server ---------------------------------------------------------------- */

static char *write_chat_script(const char *dir)
{
    char *script = reel_xasprintf("%s/chat.lua", dir);
    const char *lua = "local m = assert(reel.model(reel.args[2]))\n"
                      "local t = assert(m:chat{prompt = reel.args[1], max_tokens = 16, temp = 0})\n"
                      "reel.log('answer: ' .. t)\n";
    tu_write_file(script, lua, strlen(lua));
    return script;
}

/* A second identical generation comes from the cache: the server is not asked again. The key
 * of OPENAI_API_KEY (or --api-key) reaches the server. */
static void test_lua_cached_and_key(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = write_chat_script(dir), *out = reel_xasprintf("%s/out", dir);
    set_mode(M_OK);
    setenv("OPENAI_API_KEY", "sk-from-env", 1);
    const char *s[] = {"run",           script, "--model", fake_spec, "--out", out,
                       "--no-progress", "--",   "hello",   NULL,      NULL,    NULL};
    tu_result r = reel(s);
    expect_ok(&r);
    assert_true(tu_contains(r.err, "answer: {\"n\":7}"));
    assert_int_equal(F.requests, 1);
    assert_string_equal(F.auth, "Bearer sk-from-env");
    tu_result_free(&r);
    r = reel(s); /* the same call: cached */
    expect_ok(&r);
    assert_true(tu_contains(r.err, "answer: {\"n\":7}"));
    assert_int_equal(F.requests, 1);
    tu_result_free(&r);
    unsetenv("OPENAI_API_KEY"); /* another prompt, the key from --api-key: asked */
    s[6] = "--api-key";
    s[7] = "sk-from-flag";
    s[8] = "--no-progress";
    s[9] = "--";
    s[10] = "something else";
    r = reel(s);
    expect_ok(&r);
    assert_int_equal(F.requests, 2);
    assert_string_equal(F.auth, "Bearer sk-from-flag");
    tu_result_free(&r);
    free(script);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* A remote model the script names itself needs the user's --allow-host. */
static void test_lua_script_named_host_needs_grant(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *script = write_chat_script(dir), *out = reel_xasprintf("%s/out", dir);
    set_mode(M_OK);
    char hostport[64];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", tu_httpd_port(H));
    const char *s[] = {"run",     script, "--out", out, "--no-progress", "--", "hi",
                       fake_spec, NULL,   NULL,    NULL};
    tu_result r = reel(s);
    expect_fail(&r, "--allow-host");
    assert_int_equal(F.requests, 0);
    tu_result_free(&r);
    const char *g[] = {"run", script, "--out",   out, "--no-progress", "--allow-host", hostport,
                       "--",  "hi",   fake_spec, NULL};
    r = reel(g);
    expect_ok(&r);
    assert_int_equal(F.requests, 1);
    tu_result_free(&r);
    free(script);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* A server that ignores the schema: reel fails closed, prints nothing on stdout. */
static void test_schema_ignored(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *path = reel_xasprintf("%s/n.json", dir);
    json_t *sc = small_schema();
    char *text = json_dumps(sc, 0);
    tu_write_file(path, text, strlen(text));
    set_mode(M_IGNORE_SCHEMA);
    const char *s[] = {"generate", "-m", fake_spec, "-p", "n?", "--json-schema", path, NULL};
    tu_result r = reel(s);
    expect_fail(&r, "does not match the JSON schema");
    assert_string_equal(r.out, "");
    tu_result_free(&r);
    const char *p[] = {"plan", "-m", fake_spec, "an idea", NULL};
    r = reel(p);
    expect_fail(&r, "does not match the JSON schema");
    assert_string_equal(r.out, "");
    tu_result_free(&r);
    json_decref(sc);
    free(text);
    free(path);
    tu_rmtree(dir);
    free(dir);
}

static void test_401_and_usage(void **state)
{
    (void)state;
    set_mode(M_401);
    unsetenv("OPENAI_API_KEY");
    const char *s[] = {"generate", "-m", fake_spec, "-p", "hi", NULL};
    tu_result r = reel(s);
    expect_fail(&r, "API key");
    assert_true(tu_contains(r.err, "HTTP 401"));
    tu_result_free(&r);
    const char *k[] = {"generate", "-m", fake_spec, "-p", "hi", "--kv", "f32", NULL};
    r = reel(k);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "--kv applies to local models only"));
    tu_result_free(&r);
    const char *bad[] = {"generate", "-m", "openai:http://127.0.0.1:1/v1", "-p", "hi", NULL};
    r = reel(bad);
    expect_fail(&r, "openai:URL#MODEL");
    tu_result_free(&r);
    setenv("REEL_OFFLINE", "1", 1);
    const char *off[] = {"generate", "-m", "openai:http://gpu1.example:8000/v1#m",
                         "-p",       "hi", NULL};
    r = reel(off);
    unsetenv("REEL_OFFLINE");
    expect_fail(&r, "REEL_OFFLINE=1");
    tu_result_free(&r);
}

static void test_help_teaches(void **state)
{
    (void)state;
    static const char *const cmds[] = {"generate", "plan", "run"};
    for (int i = 0; i < 3; i++) {
        const char *s[] = {cmds[i], "--help", NULL};
        tu_result r = reel(s);
        expect_ok(&r);
        if (!tu_contains(r.out, "openai:http://127.0.0.1:8080/v1#") ||
            !tu_contains(r.out, "reel serve") || !tu_contains(r.out, "--api-key"))
            fail_msg("reel %s --help does not teach remote models", cmds[i]);
        tu_result_free(&r);
    }
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    unsetenv("OPENAI_API_KEY");
    unsetenv("REEL_OFFLINE");
    start_serve();
    H = tu_httpd_start(handler, NULL);
    snprintf(fake_spec, sizeof fake_spec, "openai:http://127.0.0.1:%d/v1#fake", tu_httpd_port(H));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_httpd_stop(H);
    kill(serve_pid, SIGTERM);
    int st;
    while (waitpid(serve_pid, &st, 0) < 0 && errno == EINTR) {
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_stream_and_not),
        cmocka_unit_test(test_generate_json_schema),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_lua_against_serve),
        cmocka_unit_test(test_lua_cached_and_key),
        cmocka_unit_test(test_lua_script_named_host_needs_grant),
        cmocka_unit_test(test_schema_ignored),
        cmocka_unit_test(test_401_and_usage),
        cmocka_unit_test(test_help_teaches),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
