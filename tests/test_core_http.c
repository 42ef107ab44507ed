/* The HTTP helper against a server this test runs on 127.0.0.1: downloads, resume after a
 * dropped connection, resume of a leftover .part file, retries on 503, no retry on 404,
 * checksum verification, stalls, JSON POST and garbage answers. */
#include "testutil.h"
#include "core/core.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_SIZE 200000

static unsigned char content[FILE_SIZE];

typedef struct {
    atomic_int requests;
    atomic_int drops_left;  /* /drop: connections still to cut in the middle */
    atomic_int errors_left; /* /flaky: 503 answers still to give */
    atomic_int saw_range;   /* a request carried Range */
    long last_range;
} server_state;

static void send_file(const tu_http_req *req, int fd, int drop)
{
    long start = req->range_start > 0 ? req->range_start : 0;
    if (start > FILE_SIZE) {
        tu_http_respond(fd, 416, "text/plain", "", 0);
        return;
    }
    char head[256];
    int n;
    size_t len = FILE_SIZE - (size_t)start;
    if (start > 0)
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 206 Partial\r\nContent-Length: %zu\r\n"
                     "Content-Range: bytes %ld-%d/%d\r\nConnection: close\r\n\r\n",
                     len, start, FILE_SIZE - 1, FILE_SIZE);
    else
        n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", len);
    tu_write_all(fd, head, (size_t)n);
    /* a dropped connection delivers a third of what it promised */
    tu_write_all(fd, content + start, drop ? len / 3 : len);
}

static void handler(void *ctx, const tu_http_req *req, int fd)
{
    server_state *st = ctx;
    atomic_fetch_add(&st->requests, 1);
    if (req->range_start >= 0) {
        atomic_store(&st->saw_range, 1);
        st->last_range = req->range_start;
    }
    if (strcmp(req->path, "/file") == 0) {
        send_file(req, fd, 0);
    } else if (strcmp(req->path, "/drop") == 0) {
        send_file(req, fd, atomic_fetch_sub(&st->drops_left, 1) > 0);
    } else if (strcmp(req->path, "/flaky") == 0) {
        if (atomic_fetch_sub(&st->errors_left, 1) > 0)
            tu_http_respond(fd, 503, "text/plain", "busy", 4);
        else
            tu_http_respond(fd, 200, "application/json", "{\"ok\":true}", 11);
    } else if (strcmp(req->path, "/stall") == 0) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n";
        tu_write_all(fd, h, strlen(h));
        sleep(6);
    } else if (strcmp(req->path, "/echo") == 0 && strcmp(req->method, "POST") == 0) {
        char *out = reel_xasprintf("{\"got\":%.*s}", (int)req->body_len, req->body);
        tu_http_respond(fd, 200, "application/json", out, strlen(out));
        free(out);
    } else if (strcmp(req->path, "/garbage") == 0) {
        tu_http_respond(fd, 200, "text/html", "<html>oops</html>", 17);
    } else {
        tu_http_respond(fd, 404, "text/plain", "no such thing here", 18);
    }
}

static tu_httpd *srv;
static server_state st;
static char *dir;

static char *url(const char *path)
{
    return reel_xasprintf("http://127.0.0.1:%d%s", tu_httpd_port(srv), path);
}

static reel_http_opts fast_opts(void)
{
    reel_http_opts o = reel_http_default_opts();
    o.backoff_ms = 10;
    o.retries = 3;
    o.stall_timeout_ms = 1000;
    return o;
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < FILE_SIZE; i++) content[i] = (unsigned char)(i * 7 + i / 251);
    memset(&st, 0, sizeof st);
    srv = tu_httpd_start(handler, &st);
    dir = tu_tmpdir();
    reel_log_set_level(REEL_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_httpd_stop(srv);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static void check_file(const char *path)
{
    char *data;
    size_t n;
    assert_int_equal(reel_file_read(path, 0, &data, &n), 0);
    assert_int_equal(n, FILE_SIZE);
    assert_memory_equal(data, content, FILE_SIZE);
    free(data);
    char *part = reel_xasprintf("%s.part", path);
    assert_false(reel_file_exists(part));
    free(part);
}

static void test_download(void **state)
{
    (void)state;
    char *u = url("/file"), *p = reel_xasprintf("%s/plain.bin", dir);
    reel_http_opts o = fast_opts();
    assert_int_equal(reel_http_get_file(u, p, &o), 0);
    check_file(p);
    free(u);
    free(p);
}

static void test_dropped_connection_resumes(void **state)
{
    (void)state;
    atomic_store(&st.drops_left, 2);
    atomic_store(&st.saw_range, 0);
    char *u = url("/drop"), *p = reel_xasprintf("%s/drop.bin", dir);
    reel_http_opts o = fast_opts();
    assert_int_equal(reel_http_get_file(u, p, &o), 0);
    check_file(p);
    assert_true(atomic_load(&st.saw_range));
    free(u);
    free(p);
}

static void test_part_file_resumes(void **state)
{
    (void)state;
    char *u = url("/file"), *p = reel_xasprintf("%s/resume.bin", dir);
    char *part = reel_xasprintf("%s.part", p);
    tu_write_file(part, content, 12345);
    atomic_store(&st.saw_range, 0);
    reel_http_opts o = fast_opts();
    assert_int_equal(reel_http_get_file(u, p, &o), 0);
    assert_true(atomic_load(&st.saw_range));
    assert_int_equal(st.last_range, 12345);
    check_file(p);
    free(u);
    free(p);
    free(part);
}

static void test_too_many_drops_keeps_part(void **state)
{
    (void)state;
    atomic_store(&st.drops_left, 100);
    char *u = url("/drop"), *p = reel_xasprintf("%s/give-up.bin", dir);
    reel_http_opts o = fast_opts();
    o.retries = 1;
    int rc = reel_http_get_file(u, p, &o);
    assert_true(rc == REEL_ENET);
    assert_true(tu_contains(reel_last_error(), "/drop"));
    assert_false(reel_file_exists(p));
    char *part = reel_xasprintf("%s.part", p);
    uint64_t size = 0;
    assert_int_equal(reel_file_size(part, &size), 0);
    assert_true(size > 0 && size < FILE_SIZE); /* kept for the next try */
    atomic_store(&st.drops_left, 0);
    assert_int_equal(reel_http_get_file(u, p, &o), 0);
    check_file(p);
    free(u);
    free(p);
    free(part);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    uint64_t *seen = ctx;
    seen[0] = done;
    seen[1] = total;
}

static void test_checksum(void **state)
{
    (void)state;
    uint8_t d[32];
    char hex[65];
    reel_sha256_buf(content, FILE_SIZE, d);
    reel_hex(d, 32, hex);
    char *u = url("/file"), *p = reel_xasprintf("%s/sum.bin", dir);
    reel_http_opts o = fast_opts();
    o.expect_sha256 = hex;
    assert_int_equal(reel_http_get_file(u, p, &o), 0);
    check_file(p);
    char *q = reel_xasprintf("%s/badsum.bin", dir);
    o.expect_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(reel_http_get_file(u, q, &o), REEL_EFORMAT);
    assert_true(tu_contains(reel_last_error(), "checksum mismatch"));
    assert_false(reel_file_exists(q));
    /* kept on request, for the caller to look at again; the status and the progress reach the
     * caller */
    long status = 0;
    uint64_t seen[2] = {0, 0};
    o.keep_part_on_mismatch = 1;
    o.status = &status;
    o.on_progress = on_progress;
    o.progress_ctx = seen;
    assert_int_equal(reel_http_get_file(u, q, &o), REEL_EFORMAT);
    char *qpart = reel_xasprintf("%s.part", q);
    uint64_t size = 0;
    assert_int_equal(reel_file_size(qpart, &size), 0);
    assert_int_equal(size, FILE_SIZE);
    assert_int_equal(status, 200);
    assert_int_equal(seen[0], FILE_SIZE);
    assert_int_equal(seen[1], FILE_SIZE);
    free(qpart);
    free(u);
    free(p);
    free(q);
}

static void test_retry_then_success_and_404(void **state)
{
    (void)state;
    atomic_store(&st.errors_left, 2);
    int before = atomic_load(&st.requests);
    char *u = url("/flaky");
    reel_http_opts o = fast_opts();
    char *body;
    size_t n;
    long status;
    assert_int_equal(reel_http_get(u, &o, &body, &n, &status), 0);
    assert_int_equal(status, 200);
    assert_string_equal(body, "{\"ok\":true}");
    assert_int_equal(atomic_load(&st.requests) - before, 3);
    free(body);
    free(u);

    before = atomic_load(&st.requests);
    u = url("/missing");
    assert_int_equal(reel_http_get(u, &o, &body, &n, &status), REEL_EHTTP);
    assert_int_equal(status, 404);
    assert_true(tu_contains(reel_last_error(), "HTTP 404: no such thing here"));
    assert_int_equal(atomic_load(&st.requests) - before, 1); /* not retried */
    free(body);
    free(u);
}

static void test_stall_times_out(void **state)
{
    (void)state;
    char *u = url("/stall");
    reel_http_opts o = fast_opts();
    o.retries = 0;
    char *body = NULL;
    assert_int_equal(reel_http_get(u, &o, &body, NULL, NULL), REEL_ETIMEDOUT);
    free(body);
    free(u);
}

static void test_post_json(void **state)
{
    (void)state;
    char *u = url("/echo");
    json_t *req = json_pack("{s:s, s:i}", "prompt", "a red fox", "n", 3), *resp = NULL;
    long status = 0;
    assert_int_equal(reel_http_post_json(u, req, NULL, &resp, &status), 0);
    assert_int_equal(status, 200);
    assert_true(json_equal(json_object_get(resp, "got"), req));
    json_decref(resp);
    free(u);

    u = url("/garbage");
    assert_int_equal(reel_http_post_json(u, req, NULL, &resp, NULL), REEL_EFORMAT);
    assert_null(resp);
    assert_true(tu_contains(reel_last_error(), "not JSON"));
    assert_true(tu_contains(reel_last_error(), "<html>oops"));
    free(u);

    /* nothing listens on port 1: refused, reported with the URL */
    reel_http_opts o = fast_opts();
    o.retries = 1;
    assert_int_equal(reel_http_post_json("http://127.0.0.1:1/x", req, &o, &resp, NULL), REEL_ENET);
    assert_true(tu_contains(reel_last_error(), "127.0.0.1:1"));
    json_decref(req);
}

typedef struct {
    size_t total;
    int chunks;
} stream_ctx;

static int on_data(void *ctx, const char *data, size_t size)
{
    stream_ctx *s = ctx;
    (void)data;
    s->total += size;
    s->chunks++;
    return 0;
}

static void test_post_stream(void **state)
{
    (void)state;
    char *u = url("/echo");
    json_t *req = json_pack("{s:s}", "k", "v");
    stream_ctx s = {0};
    assert_int_equal(reel_http_post_stream(u, req, NULL, on_data, &s, NULL), 0);
    assert_int_equal(s.total, strlen("{\"got\":{\"k\":\"v\"}}"));
    json_decref(req);
    free(u);
}

/* Link headers: the rel="next" target, made absolute, and only on the same server */
static void test_link_next(void **state)
{
    (void)state;
    const char *base = "https://hub.example:8443/api/models/o/r/tree/main?recursive=true";
    char *u;
    assert_int_equal(
        reel_http_link_next("<https://hub.example:8443/api/x?cursor=a2>; rel=\"next\"", base, &u),
        0);
    assert_string_equal(u, "https://hub.example:8443/api/x?cursor=a2");
    free(u);
    /* several links, the next one second, parameters in any case, a relative target */
    assert_int_equal(reel_http_link_next("<https://hub.example:8443/p1>; rel=\"prev\", "
                                         "</api/x?cursor=b>; REL=next",
                                         base, &u),
                     0);
    assert_string_equal(u, "https://hub.example:8443/api/x?cursor=b");
    free(u);
    assert_int_equal(reel_http_link_next("<https://hub.example:8443/p1>; rel=\"prev\"", base, &u),
                     0);
    assert_null(u);
    assert_int_equal(reel_http_link_next("", base, &u), 0);
    assert_null(u);
    assert_int_equal(reel_http_link_next("<https://hub.example:8443/p1", base, &u), 0);
    assert_null(u);
    /* another host, port or scheme would get the caller's token: refused */
    assert_int_equal(reel_http_link_next("<https://evil.example/x>; rel=\"next\"", base, &u),
                     REEL_EFORMAT);
    assert_null(u);
    assert_true(strstr(reel_last_error(), "another server") != NULL);
    assert_int_equal(reel_http_link_next("<https://hub.example:9999/x>; rel=\"next\"", base, &u),
                     REEL_EFORMAT);
    assert_int_equal(reel_http_link_next("<http://hub.example:8443/x>; rel=\"next\"", base, &u),
                     REEL_EFORMAT);
    assert_int_equal(reel_http_link_next("<//evil.example/x>; rel=\"next\"", base, &u),
                     REEL_EFORMAT);
    assert_int_equal(reel_http_link_next("<https://hub.example:8443/a b>; rel=\"next\"", base, &u),
                     REEL_EFORMAT);
}

static void test_linked_sha256(void **state)
{
    (void)state;
    const char *hex = "A1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    char out[REEL_SHA256_HEX_SIZE], quoted[80];
    snprintf(quoted, sizeof quoted, "\"%s\"", hex);
    assert_int_equal(reel_http_linked_sha256(quoted, out), 0);
    assert_string_equal(out, "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90");
    snprintf(quoted, sizeof quoted, "W/\"%s\"  ", hex);
    assert_int_equal(reel_http_linked_sha256(quoted, out), 0);
    assert_int_equal(reel_http_linked_sha256(hex, out), 0);
    /* a git object id (40 digits), a longer value, trailing text: not a SHA-256 */
    assert_int_equal(reel_http_linked_sha256("\"a6344aac8c09253b3b630fb776ae94478aa0275b\"", out),
                     REEL_EFORMAT);
    assert_string_equal(out, "");
    snprintf(quoted, sizeof quoted, "\"%s0\"", hex);
    assert_int_equal(reel_http_linked_sha256(quoted, out), REEL_EFORMAT);
    snprintf(quoted, sizeof quoted, "\"%s\" x", hex);
    assert_int_equal(reel_http_linked_sha256(quoted, out), REEL_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download),          cmocka_unit_test(test_dropped_connection_resumes),
        cmocka_unit_test(test_part_file_resumes), cmocka_unit_test(test_too_many_drops_keeps_part),
        cmocka_unit_test(test_checksum),          cmocka_unit_test(test_retry_then_success_and_404),
        cmocka_unit_test(test_stall_times_out),   cmocka_unit_test(test_post_json),
        cmocka_unit_test(test_post_stream),       cmocka_unit_test(test_link_next),
        cmocka_unit_test(test_linked_sha256),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
