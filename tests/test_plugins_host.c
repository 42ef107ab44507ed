/* Plugin host: search path, ABI checks, schema validation, stage bookkeeping, and the HTTP
 * services of ABI 1.2 (no redirects followed, statuses mapped to plugin codes), the job resources
 * of ABI 1.3 (checked at load; not read from an older descriptor). */
#include <stdlib.h>
#include <unistd.h>

#include "media_testutil.h"

static void test_abi_major_mismatch_refused(void **state)
{
    (void)state;
    const reeli_plugin *p = reeli_plugin_get("badabi");
    assert_null(p);
    assert_int_equal(reel_last_error_code(), REEL_EUNSUPPORTED);
    const char *msg = reel_last_error();
    assert_true(tu_contains(msg, "plugin ABI version 2.3"));
    assert_true(tu_contains(msg, "host ABI version 1.3"));
    assert_true(tu_contains(msg, "reel-badabi.so"));
    /* through the stage runner the error names the stage kind and plugin */
    char *dir = tu_tmpdir(), *out = mt_path(dir, "x.wav");
    assert_int_equal(mt_stage("audio", "{\"plugin\":\"badabi\"}", NULL, 0, out, NULL),
                     REEL_EUNSUPPORTED);
    assert_true(tu_contains(reel_last_error(), "stage audio"));
    assert_true(tu_contains(reel_last_error(), "badabi"));
    assert_false(reel_file_exists(out));
    free(out);
    tu_rmtree(dir);
    free(dir);
}

static void test_missing_entry_and_plugin(void **state)
{
    (void)state;
    assert_null(reeli_plugin_get("noentry"));
    assert_true(tu_contains(reel_last_error(), "no reel_plugin_entry symbol"));
    assert_null(reeli_plugin_get("does-not-exist"));
    assert_int_equal(reel_last_error_code(), REEL_ENOTFOUND);
    assert_true(tu_contains(reel_last_error(), "reel-does-not-exist.so not found in"));
    assert_true(tu_contains(reel_last_error(), REEL_TEST_PLUGIN_DIR));
    assert_null(reeli_plugin_get("../etc/passwd"));
    assert_int_equal(reel_last_error_code(), REEL_EINVAL);
}

static void test_builtin_plugins_load(void **state)
{
    (void)state;
    const char *names[] = {"card", "tone", "silence", "espeak", "image", "exec"};
    for (size_t i = 0; i < 6; i++) {
        const reeli_plugin *p = reeli_plugin_get(names[i]);
        if (!p) fprintf(stderr, "%s\n", reel_last_error());
        assert_non_null(p);
        assert_string_equal(reeli_plugin_caps(p)->name, names[i]);
        assert_non_null(reeli_plugin_caps(p)->params_schema);
        /* loaded once: the same handle again */
        assert_ptr_equal(reeli_plugin_get(names[i]), p);
    }
}

/* A descriptor's job resources are checked when the plugin loads; an older descriptor has none,
 * and what lies past its struct_size is never read. */
static void test_job_resources(void **state)
{
    (void)state;
    assert_null(reeli_plugin_get("badres"));
    assert_int_equal(reel_last_error_code(), REEL_EFORMAT);
    const char *msg = reel_last_error();
    assert_true(tu_contains(msg, "plugin 'badres'"));
    assert_true(tu_contains(msg, "reel-badres.so"));
    assert_true(tu_contains(msg, "'job_mem' \"lots of it\" must be a size such as \"16G\""));

    const reeli_plugin *old = reeli_plugin_get("oldcaps");
    if (!old) fprintf(stderr, "%s\n", reel_last_error());
    assert_non_null(old);
    json_t *list = reeli_plugin_list("oldcaps");
    assert_non_null(list);
    const json_t *d = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(d, "abi")), "1.2");
    assert_int_equal(json_object_size(json_object_get(d, "job_resources")), 0);
    json_decref(list);

    /* the built-in ones declare theirs (exec runs any program: it cannot know) */
    list = reeli_plugin_list("card");
    d = json_object_get(json_array_get(list, 0), "job_resources");
    assert_int_equal(json_integer_value(json_object_get(d, "cpus")), 1);
    assert_string_equal(json_string_value(json_object_get(d, "mem")), "1G");
    assert_null(json_object_get(d, "gres"));
    json_decref(list);
    list = reeli_plugin_list("exec");
    assert_int_equal(json_object_size(json_object_get(json_array_get(list, 0), "job_resources")),
                     0);
    json_decref(list);
}

static void test_params_validated_against_schema(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), *out = mt_path(dir, "x.mkv");
    assert_int_equal(mt_stage("video", "{\"plugin\":\"card\",\"duration_s\":1,\"width\":\"wide\"}",
                              NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "stage video: plugin card: parameter 'width'"));
    assert_int_equal(mt_stage("video", "{\"plugin\":\"card\",\"duration_s\":1,\"colour\":1}", NULL,
                              0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'colour': property not allowed"));
    assert_int_equal(mt_stage("video", "{\"plugin\":\"card\"}", NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(
        tu_contains(reel_last_error(), "parameters: missing required property 'duration_s'"));
    assert_int_equal(mt_stage("audio", "{\"plugin\":\"tone\",\"duration_s\":1,\"amplitude\":3}",
                              NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'amplitude': 3 is above maximum 1"));
    assert_int_equal(mt_stage("video", "{\"plugin\":\"card\",\"duration_s\":1,\"motion\":\"spin\"}",
                              NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'motion': value is not one of 'enum'"));
    /* an empty Lua table arrives as []: where the schema wants an object it is the empty object,
     * so the plugin itself judges it (comfyui: a workflow with no nodes), not the type check */
    assert_true(mt_stage("video",
                         "{\"plugin\":\"comfyui\",\"server\":\"http://127.0.0.1:9\","
                         "\"workflow\":[],\"duration_s\":1}",
                         NULL, 0, out, NULL) < 0);
    assert_false(tu_contains(reel_last_error(), "parameter 'workflow': "));
    assert_int_equal(mt_stage("video",
                              "{\"plugin\":\"comfyui\",\"server\":\"http://127.0.0.1:9\","
                              "\"workflow\":[1],\"duration_s\":1}",
                              NULL, 0, out, NULL),
                     REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'workflow': "));
    /* kind mismatch: an audio plugin in a video stage */
    assert_int_equal(
        mt_stage("video", "{\"plugin\":\"tone\",\"duration_s\":1}", NULL, 0, out, NULL),
        REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "makes audio, not video"));
    assert_int_equal(mt_stage("video", "{\"duration_s\":1}", NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'plugin': required"));
    assert_int_equal(mt_stage("sculpt", "{}", NULL, 0, out, NULL), REEL_EINVAL);
    assert_int_equal(mt_stage("concat", "{\"speed\":2}", (const char *[]){out}, 1, out, NULL),
                     REEL_ENOTFOUND);
    assert_false(reel_file_exists(out));
    free(out);
    tu_rmtree(dir);
    free(dir);
}

static void test_schema_subset(void **state)
{
    (void)state;
    const char *s = "{\"type\":\"object\",\"required\":[\"a\"],\"additionalProperties\":false,"
                    "\"properties\":{\"a\":{\"type\":\"array\",\"maxItems\":2,"
                    "\"items\":{\"type\":\"integer\",\"minimum\":0}},"
                    "\"b\":{\"type\":\"string\",\"maxLength\":3}}}";
    json_t *v = json_loads("{\"a\":[1,2]}", 0, NULL);
    assert_int_equal(reeli_schema_validate(s, v), 0);
    json_decref(v);
    v = json_loads("{\"a\":[1,-2]}", 0, NULL);
    assert_int_equal(reeli_schema_validate(s, v), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'a[1]'"));
    json_decref(v);
    v = json_loads("{\"a\":[1,2,3]}", 0, NULL);
    assert_int_equal(reeli_schema_validate(s, v), REEL_EINVAL);
    json_decref(v);
    v = json_loads("{\"a\":[],\"b\":\"long\"}", 0, NULL);
    assert_int_equal(reeli_schema_validate(s, v), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(),
                            "parameter 'b': string of 4 characters, longer than maxLength 3"));
    json_decref(v);
    /* lengths count code points (3 here, 5 bytes), as in reel.validate and generations */
    v = json_loads("{\"a\":[],\"b\":\"h\u00e9\u00e9\"}", 0, NULL);
    assert_int_equal(reeli_schema_validate(s, v), 0);
    json_decref(v);
    /* nested objects: the path names keys and indices; an undeclared key is refused there too */
    const char *n = "{\"type\":\"object\",\"properties\":{\"o\":{\"type\":\"object\","
                    "\"properties\":{\"l\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
                    "\"properties\":{\"x/y\":{\"type\":\"integer\"}}}}}}}}";
    v = json_loads("{\"o\":{\"l\":[{\"x/y\":1},{\"x/y\":\"no\"}]}}", 0, NULL);
    assert_int_equal(reeli_schema_validate(n, v), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'o.l[1].x/y': expected integer"));
    json_decref(v);
    v = json_loads("{\"o\":{\"extra\":true}}", 0, NULL);
    assert_int_equal(reeli_schema_validate(n, v), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'o.extra': property not allowed"));
    json_decref(v);
}

static void test_stage_bookkeeping(void **state)
{
    (void)state;
    json_t *card = json_loads("{\"plugin\":\"card\"}", 0, NULL);
    json_t *sp = json_loads("{\"plugin\":\"espeak\"}", 0, NULL);
    json_t *webm = json_loads("{\"format\":\"webm\"}", 0, NULL);
    assert_string_equal(reel_stage_ext("video", card), ".mkv");
    assert_string_equal(reel_stage_ext("audio", sp), ".wav");
    assert_string_equal(reel_stage_ext("render", NULL), ".mp4");
    assert_string_equal(reel_stage_ext("render", webm), ".webm");
    assert_null(reel_stage_ext("nope", NULL));
    const char *v = reel_stage_version("video", card);
    assert_non_null(v);
    assert_true(tu_contains(v, "card 1.2"));
    assert_ptr_equal(v, reel_stage_version("video", card)); /* interned */
    assert_string_equal(reel_stage_version("concat", NULL), "concat 3");
    json_t *missing = json_loads("{\"plugin\":\"nothere\"}", 0, NULL);
    assert_null(reel_stage_version("video", missing));
    assert_true(tu_contains(reel_last_error(), "nothere"));
    assert_int_equal(reel_stage_concurrency("audio", sp), 1);
    assert_int_equal(reel_stage_concurrency("video", card), 0);
    assert_int_equal(reel_stage_concurrency("concat", NULL), 0);
    json_decref(card);
    json_decref(sp);
    json_decref(webm);
    json_decref(missing);
}

static void test_cli_plugins(void **state)
{
    (void)state;
    char *const list[] = {(char *)tu_reel_bin(), "plugins", NULL};
    tu_result r = tu_run(list, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "card"));
    assert_true(tu_contains(r.out, "espeak"));
    /* the refused plugin is listed with its reason */
    assert_true(tu_contains(r.out, "badabi"));
    assert_true(tu_contains(r.out, "plugin ABI version 2.3, host ABI version 1.3"));
    tu_result_free(&r);
    char *const one[] = {(char *)tu_reel_bin(), "plugins", "exec", NULL};
    r = tu_run(one, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "timeout_s"));
    assert_true(tu_contains(r.out, "argv"));
    assert_true(tu_contains(r.out, "job resources (for --executor slurm): none declared"));
    tu_result_free(&r);
    char *const tone[] = {(char *)tu_reel_bin(), "plugins", "tone", NULL};
    r = tu_run(tone, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "job resources (for --executor slurm): cpus=1 mem=512M"));
    tu_result_free(&r);
    char *const badres[] = {(char *)tu_reel_bin(), "plugins", "badres", NULL};
    r = tu_run(badres, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "'job_mem' \"lots of it\""));
    tu_result_free(&r);
    char *const js[] = {(char *)tu_reel_bin(), "plugins", "tone", "--json", NULL};
    r = tu_run(js, NULL);
    assert_int_equal(r.status, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "kind")), "audio");
    json_decref(j);
    tu_result_free(&r);
    char *const missing[] = {(char *)tu_reel_bin(), "plugins", "nope", NULL};
    r = tu_run(missing, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "reel: plugins: plugin 'nope': reel-nope.so not found"));
    tu_result_free(&r);
    char *const bad[] = {(char *)tu_reel_bin(), "plugins", "--frobnicate", NULL};
    r = tu_run(bad, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    char *const help[] = {(char *)tu_reel_bin(), "plugins", "--help", NULL};
    r = tu_run(help, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "REEL_PLUGIN_PATH"));
    tu_result_free(&r);
}

/* ---- the host's HTTP services (ABI 1.2) ---------------------------------------------------- */

static void redirect_handler(void *ctx, const tu_http_req *req, int fd)
{
    (void)ctx;
    if (strcmp(req->path, "/moved") == 0) {
        const char *r = "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:1/secret\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n";
        tu_write_all(fd, r, strlen(r));
    } else if (strcmp(req->path, "/busy") == 0) {
        tu_http_respond(fd, 503, "text/plain", "busy", 4);
    } else if (strcmp(req->path, "/gone") == 0) {
        tu_http_respond(fd, 404, "text/plain", "no such thing", 13);
    } else {
        tu_http_respond(fd, 200, "text/plain", req->body, req->body_len);
    }
}

typedef struct {
    char got[256];
    size_t n;
    int stop;
} answer;

static int take(void *ctx, const char *data, size_t size)
{
    answer *a = ctx;
    if (!size) return a->stop;
    memcpy(a->got + a->n, data, size < sizeof a->got - a->n - 1 ? size : sizeof a->got - a->n - 1);
    a->n += size;
    return 0;
}

static void test_host_http(void **state)
{
    (void)state;
    char hp[64], msg[512];
    assert_int_equal(reeli_plugin_http_hostport("http://[::1]/x", hp, sizeof hp), 0);
    assert_string_equal(hp, "[::1]:80");
    assert_int_equal(reeli_plugin_http_hostport("https://Example.com:8443/", hp, sizeof hp), 0);
    assert_string_equal(hp, "Example.com:8443");
    assert_int_equal(reeli_plugin_http_hostport("ftp://example.com/", hp, sizeof hp), -1);
    assert_int_equal(reeli_plugin_http_hostport("http://example.com/", hp, 4), -1);
    tu_httpd *srv = tu_httpd_start(redirect_handler, NULL);
    char url[128];
    long status;
    answer a = {0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/echo", tu_httpd_port(srv));
    assert_int_equal(reeli_plugin_http("POST", url, "application/json", "{\"a\":1}", 7, 10, take,
                                       &a, &status, msg, sizeof msg),
                     REEL_PLUGIN_OK);
    assert_int_equal(status, 200);
    assert_string_equal(a.got, "{\"a\":1}");
    /* a redirect is the answer: it is not followed to a host nobody granted */
    a = (answer){0};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/moved", tu_httpd_port(srv));
    assert_int_equal(
        reeli_plugin_http("GET", url, NULL, NULL, 0, 10, take, &a, &status, msg, sizeof msg),
        REEL_PLUGIN_OK);
    assert_int_equal(status, 302);
    assert_int_equal(a.n, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/busy", tu_httpd_port(srv));
    assert_int_equal(
        reeli_plugin_http("GET", url, NULL, NULL, 0, 10, take, &a, &status, msg, sizeof msg),
        REEL_PLUGIN_ETRANSIENT);
    assert_true(tu_contains(msg, "HTTP 503"));
    snprintf(url, sizeof url, "http://127.0.0.1:%d/gone", tu_httpd_port(srv));
    assert_int_equal(
        reeli_plugin_http("GET", url, NULL, NULL, 0, 10, take, &a, &status, msg, sizeof msg),
        REEL_PLUGIN_EFATAL);
    assert_true(tu_contains(msg, "no such thing"));
    assert_int_equal(
        reeli_plugin_http("DELETE", url, NULL, NULL, 0, 10, take, &a, &status, msg, sizeof msg),
        REEL_PLUGIN_EINVAL);
    assert_int_equal(reeli_plugin_http("GET", "file:///etc/passwd", NULL, NULL, 0, 10, take, &a,
                                       &status, msg, sizeof msg),
                     REEL_PLUGIN_EINVAL);
    tu_httpd_stop(srv);
}

int main(void)
{
    setenv("REEL_PLUGIN_PATH", REEL_TEST_PLUGIN_DIR, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_major_mismatch_refused),
        cmocka_unit_test(test_missing_entry_and_plugin),
        cmocka_unit_test(test_builtin_plugins_load),
        cmocka_unit_test(test_job_resources),
        cmocka_unit_test(test_params_validated_against_schema),
        cmocka_unit_test(test_schema_subset),
        cmocka_unit_test(test_stage_bookkeeping),
        cmocka_unit_test(test_cli_plugins),
        cmocka_unit_test(test_host_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
