/* The comfyui plugin against a loopback fake of ComfyUI's HTTP API (/prompt, /history, /view):
 * substitution into the workflow, polling, download, validation, the failure kinds, the hosts
 * the user grants, and timeouts and cancel during slow transfers. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/grant.h"

#include "media_testutil.h"

typedef struct fake {
    int polls_before_done; /* /history answers {} this many times first */
    int polls;
    int fail_exec;           /* the job ends with status "error" */
    int status_prompt;       /* HTTP status for /prompt (200 normally) */
    int junk_file;           /* /view returns garbage */
    const char *playlist;    /* /view returns an HLS playlist naming this local file */
    char *posted;            /* last /prompt body */
    const char *error_body;  /* with status_prompt != 200: the body of the refusal */
    int slow_prompt;         /* /prompt answers one byte every 20 ms */
    int slow_view;           /* /view answers one byte every 20 ms */
    atomic_int view_started; /* the slow /view has sent its headers */
    size_t sent, total;      /* bytes of the slow body sent, and its full size */
} fake;

/* Sends a body slowly (one byte per 20 ms), counting what went out, until the client goes. */
static void dribble(fake *f, int fd, const char *body, size_t n, atomic_int *started)
{
    char head[256];
    int h = snprintf(head, sizeof head,
                     "HTTP/1.1 200 X\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     n);
    f->sent = 0;
    f->total = n;
    if (send(fd, head, (size_t)h, MSG_NOSIGNAL) != h) return;
    if (started) atomic_store(started, 1);
    for (size_t i = 0; i < n; i++) {
        if (send(fd, body + i, 1, MSG_NOSIGNAL) != 1) return;
        f->sent++;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

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
        if (f->slow_prompt) {
            const char *a = "{\"prompt_id\":\"job-1\",\"number\":1}                          "
                            "                                                                  ";
            dribble(f, fd, a, strlen(a), NULL);
            return;
        }
        if (f->status_prompt != 200) {
            const char *e = f->error_body ? f->error_body
                                          : "{\"error\":{\"message\":\"Prompt outputs failed "
                                            "validation\"}}";
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
        if (f->playlist) {
            free(b);
            b = reel_xasprintf("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\n%s\n"
                               "#EXT-X-ENDLIST\n",
                               f->playlist);
            n = strlen(b);
        }
        if (f->slow_view)
            dribble(f, fd, b, n, &f->view_started);
        else
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
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv"),
         *params = params_for(tu_httpd_port(srv), "");
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
    /* a playlist naming a local file (here the test's own executable) is refused unread */
    f.junk_file = 0;
    f.playlist = "/proc/self/exe";
    f.polls = 0;
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EIO);
    assert_true(tu_contains(reel_last_error(), "output file rejected"));
    assert_true(tu_contains(reel_last_error(), "format 'hls'"));
    f.playlist = NULL;
    /* never finishes: times out */
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

/* Only granted hosts are contacted: nothing a script says can reach another one. */
static void test_comfyui_host_not_granted(void **state)
{
    (void)state;
    fake f = {.status_prompt = 200};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    int port = tu_httpd_port(srv);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv"), *params = params_for(port, "");
    char want[128];
    snprintf(want, sizeof want,
             "host '127.0.0.1:%d' is not allowed (reel run --allow-host 127.0.0.1:%d allows it)",
             port, port);
    reel_grant_clear();
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), want));
    /* another port of the same host is not enough; the host alone allows every port */
    assert_int_equal(reel_grant_add("net", "127.0.0.1:1"), 0);
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    assert_int_equal(reel_grant_add("net", "localhost"), 0); /* names are not resolved */
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    /* a pool is refused as a whole when one of its servers is not granted */
    char *pool = reel_xasprintf("{\"plugin\":\"comfyui\",\"servers\":[\"http://127.0.0.1:%d\","
                                "\"http://evil.example:80@127.0.0.2:8188\"],\"workflow\":{}}",
                                port);
    assert_int_equal(reel_grant_add("net", "127.0.0.1"), 0);
    assert_int_equal(mt_stage("video", pool, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "host '127.0.0.2:8188' is not allowed"));
    assert_null(f.posted); /* the server was never contacted */
    /* the grant cannot come from the parameters */
    char *forged = params_for(port, ",\"allow\":[\"127.0.0.1\"]");
    assert_int_equal(mt_stage("video", forged, NULL, 0, out, NULL), REEL_EINVAL);
    assert_true(tu_contains(reel_last_error(), "parameter 'allow'"));
    assert_false(reel_file_exists(out));
    tu_httpd_stop(srv);
    free(forged);
    free(pool);
    free(params);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* /prompt honours timeout_s: a server that answers too slowly is left before it finishes. */
static void test_comfyui_slow_prompt_times_out(void **state)
{
    (void)state;
    fake f = {.status_prompt = 200, .slow_prompt = 1};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv");
    char *params = params_for(tu_httpd_port(srv), ",\"timeout_s\":0.3");
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_ETIMEDOUT);
    tu_httpd_stop(srv); /* waits for the handler, so f.sent is final */
    assert_true(f.sent < f.total);
    assert_false(reel_file_exists(out));
    free(f.posted);
    free(params);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

static int cancel_once_view_started(void *ctx, double fraction)
{
    (void)fraction;
    return atomic_load(&((fake *)ctx)->view_started);
}

/* Cancel (Ctrl-C) stops a slow download at once instead of waiting for its end. */
static void test_comfyui_cancel_during_download(void **state)
{
    (void)state;
    fake f = {.status_prompt = 200, .slow_view = 1};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv");
    char *text = params_for(tu_httpd_port(srv), ",\"timeout_s\":600");
    json_t *p = json_loads(text, 0, NULL);
    reel_stage_io io = {.kind = "video",
                        .params = p,
                        .out_path = out,
                        .progress = cancel_once_view_started,
                        .progress_ctx = &f};
    assert_int_equal(reel_stage_run(&io), REEL_ECANCELED);
    tu_httpd_stop(srv);
    assert_true(f.total > 0);
    assert_true(f.sent < f.total);
    assert_false(reel_file_exists(out));
    json_decref(p);
    free(f.posted);
    free(text);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* What a server says in an error reaches the terminal and the events escaped and as UTF-8. */
static void test_comfyui_error_body_escaped(void **state)
{
    (void)state;
    fake f = {.status_prompt = 400, .error_body = "\x1b[2J\x1b]0;owned\x07 bad \xff\xfe byte"};
    tu_httpd *srv = tu_httpd_start(handler, &f);
    char *dir = tu_tmpdir(), *out = mt_path(dir, "c.mkv"),
         *params = params_for(tu_httpd_port(srv), "");
    assert_int_equal(mt_stage("video", params, NULL, 0, out, NULL), REEL_EINVAL);
    const char *e = reel_last_error();
    assert_null(strchr(e, '\x1b'));
    assert_null(strchr(e, '\x07'));
    assert_true(tu_contains(e, "\\x1b[2J\\x1b]0;owned\\x07 bad \\xff\\xfe byte"));
    json_t *j = json_string(e); /* valid UTF-8: an event can carry it */
    assert_non_null(j);
    json_decref(j);
    tu_httpd_stop(srv);
    free(f.posted);
    free(params);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* Each test starts from the grant a user running these servers would give. */
static int grant_loopback(void **state)
{
    (void)state;
    reel_grant_clear();
    return reel_grant_add("net", "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_comfyui_ok, grant_loopback),
        cmocka_unit_test_setup(test_comfyui_failures, grant_loopback),
        cmocka_unit_test_setup(test_comfyui_host_not_granted, grant_loopback),
        cmocka_unit_test_setup(test_comfyui_slow_prompt_times_out, grant_loopback),
        cmocka_unit_test_setup(test_comfyui_cancel_during_download, grant_loopback),
        cmocka_unit_test_setup(test_comfyui_error_body_escaped, grant_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
