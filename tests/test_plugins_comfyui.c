/* The comfyui plugin against a loopback fake of ComfyUI's HTTP API (/prompt, /history, /view):
 * substitution into the workflow, polling, download, validation, and the failure kinds. */
#include <stdlib.h>

#include "media_testutil.h"

typedef struct fake {
    int polls_before_done; /* /history answers {} this many times first */
    int polls;
    int fail_exec;         /* the job ends with status "error" */
    int status_prompt;     /* HTTP status for /prompt (200 normally) */
    int junk_file;         /* /view returns garbage */
    char *posted;          /* last /prompt body */
} fake;

static char *y4m(size_t *n)
{
    const char *hdr = "YUV4MPEG2 W32 H24 F8:1 Ip A1:1 C420jpeg\n";
    size_t fsz = 32 * 24 * 3 / 2, frames = 4;
    *n = strlen(hdr) + frames * (6 + fsz);
    char *b = malloc(*n), *p = b;
    memcpy(p, hdr, strlen(hdr));
    p += strlen(hdr);
    for (size_t f = 0; f < frames; f++) {
        memcpy(p, "FRAME\n", 6);
        memset(p + 6, (int)(60 + f * 30), fsz);
        p += 6 + fsz;
    }
    return b;
}

static void handler(void *ctx, const tu_http_req *req, int fd)
{
    fake *f = ctx;
    if (!strcmp(req->method, "POST") && !strcmp(req->path, "/prompt")) {
        free(f->posted);
        f->posted = strndup(req->body ? req->body : "", req->body_len);
        if (f->status_prompt != 200) {
            const char *e = "{\"error\":{\"message\":\"Prompt outputs failed validation\"}}";
            tu_http_respond(fd, f->status_prompt, "application/json", e, strlen(e));
            return;
        }
        const char *a = "{\"prompt_id\":\"job-1\",\"number\":1}";
        tu_http_respond(fd, 200, "application/json", a, strlen(a));
    } else if (!strcmp(req->path, "/history/job-1")) {
        const char *a = "{}";
        if (f->polls++ >= f->polls_before_done)
            a = f->fail_exec
                    ? "{\"job-1\":{\"status\":{\"status_str\":\"error\",\"completed\":false,"
                      "\"messages\":[[\"execution_error\",{\"exception_message\":\"CUDA OOM\"}]]},"
                      "\"outputs\":{}}}"
                    : "{\"job-1\":{\"status\":{\"status_str\":\"success\",\"completed\":true},"
                      "\"outputs\":{\"9\":{\"images\":[{\"filename\":\"still.png\"}]},"
                      "\"12\":{\"gifs\":[{\"filename\":\"clip 1.y4m\",\"subfolder\":\"vid\","
                      "\"type\":\"output\"}]}}}}";
        tu_http_respond(fd, 200, "application/json", a, strlen(a));
    } else if (!strncmp(req->path, "/view?filename=clip%201.y4m&subfolder=vid&type=output", 52)) {
        size_t n;
        char *b = y4m(&n);
        if (f->junk_file) memset(b, 'x', 64);
        tu_http_respond(fd, 200, "application/octet-stream", b, n);
        free(b);
    } else {
        tu_http_respond(fd, 404, "text/plain", "no", 2);
    }
}

static char *params_for(int port, const char *extra)
{
    return reel_xasprintf(
        "{\"plugin\":\"comfyui\",\"server\":\"http://127.0.0.1:%d/\",\"prompt\":\"a red fox\","
        "\"seed\":1234,\"width\":32,\"height\":24,\"frames\":4,\"poll_s\":0.02,"
        "\"workflow\":{\"3\":{\"class_type\":\"KSampler\",\"inputs\":{\"seed\":\"{seed}\","
        "\"steps\":20}},\"6\":{\"class_type\":\"CLIPTextEncode\",\"inputs\":{\"text\":"
        "\"{prompt}, cinematic {unknown}\"}},\"5\":{\"inputs\":{\"width\":\"{width}\","
        "\"length\":\"{frames}\"}}}%s}",
        port, extra);
}

static void test_comfyui_ok(void **state)
{
    (void)state;
    fake f = {.polls_before_done = 2, .status_prompt = 200};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv"), *params = params_for(tu_httpd_port(srv), "");
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), 0);
    assert_int_equal(f.polls, 3);
    /* the workflow went out with the values substituted, numbers as numbers */
    json_t *posted = json_loads(f.posted, 0, NULL);
    assert_non_null(posted);
    json_t *wf = json_object_get(posted, "prompt");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(wf, "3"), "inputs"), "seed")),
                     1234);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(wf, "6"), "inputs"), "text")),
                        "a red fox, cinematic {unknown}");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(wf, "5"), "inputs"), "length")),
                     4);
    json_decref(posted);
    /* the video output (gifs) was preferred over the still and decoded */
    reeli_probe p = mt_probe(out);
    assert_int_equal(p.width, 32);
    assert_int_equal(p.height, 24);
    assert_int_equal(p.n_frames, 4);
    tu_httpd_stop(srv);
    free(f.posted);
    free(params);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

static void test_comfyui_failures(void **state)
{
    (void)state;
    fake f = {.status_prompt = 400};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    int port = tu_httpd_port(srv);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv"), *params = params_for(port, "");
    /* a workflow the server refuses: not transient, the server's message is kept */
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "HTTP 400"));
    assert_true(tu_contains(reel_last_error(), "failed validation"));
    /* busy server: transient, so the scheduler may retry */
    f.status_prompt = 503;
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_ENET);
    /* execution error in the graph */
    f.status_prompt = 200;
    f.fail_exec = 1;
    f.polls = 0;
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "CUDA OOM"));
    /* a broken output file is rejected by the host */
    f.fail_exec = 0;
    f.junk_file = 1;
    f.polls = 0;
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "output file rejected"));
    /* never finishes: times out */
    f.junk_file = 0;
    f.polls = 0;
    f.polls_before_done = 1000000;
    char *slow = params_for(port, ",\"timeout_s\":0.3");
    assert_int_equal(mt_stage("video", slow, NULL, 0, out, NULL), REEL_ETIMEDOUT);
    assert_true(tu_contains(reel_last_error(), "not finished after 0.3 s"));
    tu_httpd_stop(srv);
    /* nobody listening, on every server of a pool: transient */
    char *pool = reel_xasprintf("{\"plugin\":\"comfyui\",\"servers\":[\"http://127.0.0.1:%d\","
                                "\"http://127.0.0.1:%d\"],\"workflow\":{}}",
                                port, port);
    assert_int_equal(mt_stage("video", pool, NULL, 0, out, NULL), REEL_ENET);
    assert_false(reel_file_exists(out));
    free(pool);
    free(slow);
    free(f.posted);
    free(params);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comfyui_ok),
        cmocka_unit_test(test_comfyui_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
