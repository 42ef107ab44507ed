/* reel serve's request parser (serve/request.c) on its own, without a model or a socket: each
 * malformed or unsupported field is refused with a 400 naming it, and a good request holds what
 * it said. */
#include "testutil.h"
#include "serve/serve.h"

#include <stdlib.h>
#include <string.h>

static void parse_fails(reel_serve_kind kind, const char *body, const char *param)
{
    reel_serve_request r;
    reel_serve_error e = {0};
    if (reel_serve_request_parse(body, strlen(body), kind, &r, &e) == 0)
        fail_msg("accepted: %s", body);
    assert_int_equal(e.status, 400);
    if (strcmp(e.param, param) != 0)
        fail_msg("%s: param '%s', not '%s' (%s)", body, e.param, param, e.message);
}

static void test_parser(void **state)
{
    (void)state;
    const reel_serve_kind C = REEL_SERVE_CHAT, P = REEL_SERVE_COMPLETION;
    parse_fails(C, "{not json", "");
    parse_fails(C, "[1]", "");
    parse_fails(C, "{}", "messages");
    parse_fails(C, "{\"messages\":[]}", "messages");
    parse_fails(C, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role");
    parse_fails(C, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0].role");
    parse_fails(C, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content");
    parse_fails(C, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content");
    parse_fails(C, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                "messages[0].content[0]");
    const char *m = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],";
    char b[512];
#define FAILS(extra, param)                                                                        \
    snprintf(b, sizeof b, "%s%s}", m, extra);                                                      \
    parse_fails(C, b, param)
    FAILS("\"max_tokens\":0", "max_tokens");
    FAILS("\"max_tokens\":\"9\"", "max_tokens");
    FAILS("\"max_completion_tokens\":1.5", "max_completion_tokens");
    FAILS("\"temperature\":3", "temperature");
    FAILS("\"temperature\":\"hot\"", "temperature");
    FAILS("\"top_p\":-1", "top_p");
    FAILS("\"seed\":1.5", "seed");
    FAILS("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop");
    FAILS("\"stop\":\"\"", "stop");
    FAILS("\"stop\":[1]", "stop");
    FAILS("\"stream\":\"yes\"", "stream");
    FAILS("\"stream_options\":{\"include_usage\":1}", "stream_options.include_usage");
    FAILS("\"n\":2", "n");
    FAILS("\"logprobs\":true", "logprobs");
    FAILS("\"tools\":[{\"type\":\"function\"}]", "tools");
    FAILS("\"response_format\":{\"type\":\"yaml\"}", "response_format.type");
    FAILS("\"response_format\":{\"type\":\"json_schema\"}", "response_format.json_schema");
    FAILS("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":3}}",
          "response_format.json_schema.schema");
    FAILS("\"chat_template_kwargs\":{\"enable_thinking\":\"no\"}",
          "chat_template_kwargs.enable_thinking");
#undef FAILS
    parse_fails(P, "{\"prompt\":5}", "prompt");
    parse_fails(P, "{\"prompt\":[\"a\",\"b\"]}", "prompt");
    parse_fails(P, "{\"prompt\":[1,-2]}", "prompt");
    parse_fails(P, "{\"prompt\":\"x\",\"echo\":true}", "echo");

    /* what a good request holds */
    const char *good =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"S\"},{\"role\":"
        "\"user\","
        "\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":null}],\"max_tokens\":9,\"max_completion_tokens\":7,"
        "\"temperature\":0,\"seed\":5,\"stop\":\"END\",\"stream\":true,\"stream_options\":"
        "{\"include_usage\":true},\"frequency_penalty\":0,\"user\":\"u\",\"response_format\":"
        "{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":true,\"schema\":"
        "{\"type\":\"object\"}}}}";
    reel_serve_request r;
    reel_serve_error e = {0};
    assert_int_equal(reel_serve_request_parse(good, strlen(good), C, &r, &e), 0);
    assert_int_equal(r.n_msgs, 3);
    assert_string_equal(r.msgs[0].role, "system");
    assert_string_equal(r.msgs[1].content, "a\nb");
    assert_string_equal(r.msgs[2].content, "");
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.temperature == 0 && r.top_p == 1);
    assert_true(r.has_seed && r.seed == 5);
    assert_int_equal(r.n_stop, 1);
    assert_true(r.stream && r.include_usage);
    assert_int_equal(r.format, REEL_SERVE_FORMAT_JSON_SCHEMA);
    assert_non_null(r.schema);
    reel_serve_request_free(&r);
    assert_int_equal(reel_serve_request_parse("{\"prompt\":[[1,2,3]]}", 20, P, &r, &e), 0);
    assert_int_equal(r.n_prompt_ids, 3);
    assert_null(r.prompt);
    reel_serve_request_free(&r);
}

static void test_hosts(void **state)
{
    (void)state;
    static const struct {
        const char *host;
        int loopback;
    } H[] = {
        {"127.0.0.1", 1},       {"127.8.9.10", 1},   {"localhost", 1}, {"::1", 1},
        {"[::1]", 1},           {"0.0.0.0", 0},      {"::", 0},        {"10.0.0.1", 0},
        {"::ffff:10.0.0.1", 0}, {"example.com", -1}, {"", -1},         {"127.0.0.1:80", -1},
    };
    for (size_t i = 0; i < sizeof H / sizeof *H; i++)
        if (reel_serve_host_is_loopback(H[i].host) != H[i].loopback)
            fail_msg("%s: %d", H[i].host, reel_serve_host_is_loopback(H[i].host));
}

/* Error bodies are OpenAI's shape and valid JSON whatever the message quotes. */
static void test_error_json(void **state)
{
    (void)state;
    reel_serve_error e;
    reel_serve_fail(&e, 400, "invalid_request_error", NULL, "messages[0].role", "unknown role '%s'",
                    "w\xc3\"\n");
    char *body = reel_serve_error_json(&e);
    json_t *v = json_loads(body, 0, NULL);
    assert_non_null(v);
    const json_t *err = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(err, "param")), "messages[0].role");
    assert_string_equal(json_string_value(json_object_get(err, "type")), "invalid_request_error");
    assert_true(json_is_null(json_object_get(err, "code")));
    assert_true(json_is_string(json_object_get(err, "message")));
    json_decref(v);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
