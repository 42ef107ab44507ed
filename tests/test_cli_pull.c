/* reel pull and reel models through the binary, against a fake Hugging Face hub this test runs
 * on 127.0.0.1 (HF_ENDPOINT): the tree listing, redirects to a "CDN", ranges, a dropped
 * connection, a wrong checksum, a gated repository, 404s, the quantization picker, offline mode,
 * the store listing and removal, and -m OWNER/REPO:QUANT. */
#include "testutil.h"
#include "core/core.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "hf_secret"

typedef struct hub_file {
    const char *path;
    unsigned char *data;
    size_t size;
    int lfs;      /* listed with lfs.oid (and served through a redirect) */
    int ghost;    /* listed, but 404 when fetched */
    char sha[65]; /* of data */
} hub_file;

typedef struct hub_repo {
    const char *name;
    hub_file files[8];
    size_t n;
    int gated;   /* resolve needs "Authorization: Bearer hf_secret" */
    int bad_sum; /* the listing gives a wrong lfs.oid */
    int drop;    /* the first download of each file is cut after a third */
    int paged;   /* the listing comes one file per page, linked by Link: rel="next" */
    int etag;    /* 1: no lfs in the listing, the SHA-256 in X-Linked-Etag; 2: a wrong one */
} hub_repo;

static hub_repo repos[16];
static size_t n_repos;
static tu_httpd *srv;
static char *store, *endpoint;
static unsigned char *tiny_gguf;
static size_t tiny_gguf_size;

static atomic_int n_requests, n_downloads, drops_left, last_range, saw_token;

static unsigned char *noise(size_t n, unsigned seed)
{
    unsigned char *p = reel_xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

static hub_repo *add_repo(const char *name)
{
    hub_repo *r = &repos[n_repos++];
    memset(r, 0, sizeof *r);
    r->name = name;
    return r;
}

static hub_file *add_file(hub_repo *r, const char *path, const void *data, size_t size, int lfs)
{
    hub_file *f = &r->files[r->n++];
    f->path = path;
    f->data = reel_xmalloc(size ? size : 1);
    memcpy(f->data, data, size);
    f->size = size;
    f->lfs = lfs;
    uint8_t d[32];
    reel_sha256_buf(data, size, d);
    reel_hex(d, 32, f->sha);
    return f;
}

static hub_file *add_noise(hub_repo *r, const char *path, size_t size, unsigned seed)
{
    unsigned char *p = noise(size, seed);
    hub_file *f = add_file(r, path, p, size, 1);
    free(p);
    return f;
}

static hub_repo *find_repo(const char *name, size_t len)
{
    for (size_t i = 0; i < n_repos; i++)
        if (strlen(repos[i].name) == len && strncmp(repos[i].name, name, len) == 0)
            return &repos[i];
    return NULL;
}

static hub_file *find_file(hub_repo *r, const char *path)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->files[i].path, path) == 0) return &r->files[i];
    return NULL;
}

static void respond_json(int fd, int status, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    tu_http_respond(fd, status, "application/json", text, strlen(text));
    free(text);
    json_decref(v);
}

static void serve_listing(int fd, hub_repo *r, int cursor)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i}", "type", "file", "oid",
                                       "a6344aac8c09253b3b630fb776ae94478aa0275b", "path",
                                       ".gitattributes", "size", 1519));
    json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:i}", "type", "directory", "oid",
                                       "1111111111111111111111111111111111111111", "path", "sub",
                                       "size", 0));
    for (size_t i = 0; i < r->n; i++) {
        if (r->paged && (int)i != cursor) continue;
        hub_file *f = &r->files[i];
        json_t *e = json_pack("{s:s, s:s, s:I, s:s}", "type", "file", "oid",
                              "2222222222222222222222222222222222222222", "size",
                              (json_int_t)f->size, "path", f->path);
        if (f->lfs && !r->etag)
            json_object_set_new(e, "lfs",
                                json_pack("{s:s, s:I, s:i}", "oid",
                                          r->bad_sum ? "00000000000000000000000000000000000000000"
                                                       "00000000000000000000000"
                                                     : f->sha,
                                          "size", (json_int_t)f->size, "pointerSize", 134));
        json_array_append_new(a, e);
    }
    if (r->paged && (size_t)cursor + 1 < r->n) {
        char *text = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        char head[600];
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Link: <%s/api/models/%s/tree/main?recursive=true&cursor=%d>; "
                         "rel=\"next\"\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                         endpoint, r->name, cursor + 1, strlen(text));
        tu_write_all(fd, head, (size_t)n);
        tu_write_all(fd, text, strlen(text));
        free(text);
        return;
    }
    respond_json(fd, 200, a);
}

static void serve_bytes(int fd, const tu_http_req *req, hub_repo *r, hub_file *f)
{
    atomic_fetch_add(&n_downloads, 1);
    long start = req->range_start > 0 ? req->range_start : 0;
    atomic_store(&last_range, (int)req->range_start);
    char head[256];
    if ((size_t)start >= f->size && start > 0) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%zu\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n",
                         f->size);
        tu_write_all(fd, head, (size_t)n);
        return;
    }
    size_t len = f->size - (size_t)start;
    int n = start > 0 ? snprintf(head, sizeof head,
                                 "HTTP/1.1 206 Partial Content\r\nContent-Length: %zu\r\n"
                                 "Content-Range: bytes %ld-%zu/%zu\r\nConnection: close\r\n\r\n",
                                 len, start, f->size - 1, f->size)
                      : snprintf(head, sizeof head,
                                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                                 "Connection: close\r\n\r\n",
                                 len);
    tu_write_all(fd, head, (size_t)n);
    int drop = r->drop && atomic_fetch_sub(&drops_left, 1) > 0;
    tu_write_all(fd, f->data + start, drop ? len / 3 : len);
}

static int has_token(const tu_http_req *req)
{
    char *h = reel_xstrdup(req->headers);
    for (char *p = h; *p; p++) *p = (char)tolower((unsigned char)*p);
    int ok = strstr(h, "authorization: bearer " TOKEN) != NULL;
    free(h);
    return ok;
}

static void handler(void *ctx, const tu_http_req *req, int fd)
{
    (void)ctx;
    atomic_fetch_add(&n_requests, 1);
    const char *p = req->path;
    const char *api = "/api/models/", *tree = "/tree/main?recursive=true";
    if (strncmp(p, api, strlen(api)) == 0) {
        const char *name = p + strlen(api), *t = strstr(name, "/tree/main");
        hub_repo *r = t ? find_repo(name, (size_t)(t - name)) : NULL;
        const char *q = t ? t + strlen(tree) : NULL;
        if (!r || strncmp(t, tree, strlen(tree)) != 0 || (*q && strncmp(q, "&cursor=", 8) != 0))
            respond_json(fd, 404, json_pack("{s:s}", "error", "Repository not found"));
        else
            serve_listing(fd, r, *q ? atoi(q + 8) : 0);
        return;
    }
    int cdn = strncmp(p, "/cdn/", 5) == 0;
    const char *name = p + (cdn ? 5 : 1), *res = strstr(name, "/resolve/main/");
    if (!res) {
        tu_http_respond(fd, 404, "text/plain", "Not Found", 9);
        return;
    }
    hub_repo *r = find_repo(name, (size_t)(res - name));
    hub_file *f = find_file(r, res + strlen("/resolve/main/"));
    if (r && r->gated && !cdn) {
        if (!has_token(req)) {
            const char *msg = "Access to model is restricted. You must be authenticated.";
            tu_http_respond(fd, 401, "text/plain", msg, strlen(msg));
            return;
        }
        atomic_store(&saw_token, 1);
    }
    if (!f || f->ghost) {
        respond_json(fd, 404, json_pack("{s:s}", "error", "Entry not found"));
    } else if (f->lfs && !cdn) {
        /* like the hub: LFS files live on a CDN the resolve URL redirects to */
        char head[1400];
        char etag[100] = "";
        if (r->etag)
            snprintf(etag, sizeof etag, "X-Linked-Etag: \"%s\"\r\n",
                     r->etag == 2
                         ? "1111111111111111111111111111111111111111111111111111111111111111"
                         : f->sha);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 302 Found\r\nLocation: /cdn%s\r\n%sContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n",
                         p, etag);
        tu_write_all(fd, head, (size_t)n);
    } else {
        serve_bytes(fd, req, r, f);
    }
}

static void build_hub(void)
{
    char *path = reel_xasprintf("%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    char *data;
    assert_int_equal(reel_file_read(path, 0, &data, &tiny_gguf_size), 0);
    tiny_gguf = (unsigned char *)data;
    free(path);
    const char *readme = "# a model card\n";
    hub_repo *r = add_repo("test/tiny-GGUF");
    add_file(r, "tiny-Q4_K_M.gguf", tiny_gguf, tiny_gguf_size, 1);
    add_noise(r, "tiny-Q8_0.gguf", 40000, 1);
    add_noise(r, "tiny-UD-Q4_K_XL.gguf", 30000, 2);
    add_file(r, "README.md", readme, strlen(readme), 0);

    r = add_repo("test/paged-GGUF");
    r->paged = 1;
    add_noise(r, "p-Q8_0.gguf", 3000, 20);
    add_noise(r, "p-Q4_K_M.gguf", 2000, 21);
    add_noise(r, "p-Q6_K.gguf", 1000, 22);

    r = add_repo("test/etag-GGUF");
    r->etag = 1;
    add_noise(r, "e-Q4_K_M.gguf", 20000, 23);

    r = add_repo("test/badetag-GGUF");
    r->etag = 2;
    add_noise(r, "b-Q4_K_M.gguf", 20000, 24);

    r = add_repo("test/one-GGUF");
    add_file(r, "one-Q4_K_M.gguf", tiny_gguf, tiny_gguf_size, 1);

    r = add_repo("test/ambiguous-GGUF");
    add_noise(r, "m-Q4_K_M.gguf", 1000, 3);
    add_noise(r, "m-UD-Q4_K_M.gguf", 1000, 4);
    add_noise(r, "m-IQ4_XS.gguf", 1000, 5);

    r = add_repo("test/badsum-GGUF");
    add_noise(r, "b-Q4_K_M.gguf", 20000, 6);
    r->bad_sum = 1;

    r = add_repo("test/gated-GGUF");
    add_noise(r, "g-Q4_K_M.gguf", 20000, 7);
    r->gated = 1;

    r = add_repo("test/drop-GGUF");
    add_noise(r, "d-Q4_K_M.gguf", 300000, 8);
    r->drop = 1;

    r = add_repo("test/ghost-GGUF");
    add_noise(r, "ghost-Q4_K_M.gguf", 100, 9)->ghost = 1;

    r = add_repo("test/tiny-st");
    const char *cfg = "{\"architectures\": [\"X\"]}";
    add_file(r, "config.json", cfg, strlen(cfg), 0);
    add_file(r, "tokenizer.json", "{}", 2, 0);
    add_file(r, "tokenizer_config.json", "{}", 2, 0);
    add_noise(r, "model.safetensors", 5000, 10);
    add_noise(r, "original/consolidated.safetensors", 5000, 11);
    add_file(r, "README.md", readme, strlen(readme), 0);
    add_noise(r, "other.bin", 100, 12);

    /* a real checkpoint (the tiny-a fixture) for --quantize */
    r = add_repo("test/tiny-a-hf");
    const char *hf[] = {"config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        char *p = reel_xasprintf("%s/tests/data/models/tiny-a/%s", tu_source_dir(), hf[i]), *d;
        size_t n;
        assert_int_equal(reel_file_read(p, 0, &d, &n), 0);
        add_file(r, hf[i], d, n, i == 4);
        free(d);
        free(p);
    }

    r = add_repo("unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF");
    add_file(r, "NVIDIA-Nemotron-3-Nano-4B-Q4_K_M.gguf", tiny_gguf, tiny_gguf_size, 1);
    add_noise(r, "NVIDIA-Nemotron-3-Nano-4B-Q8_0.gguf", 1000, 13);

    r = add_repo("test/evil-GGUF");
    add_noise(r, "../../escape-Q4_K_M.gguf", 100, 14);
    add_noise(r, "/abs-Q4_K_M.gguf", 100, 15);
    add_noise(r, "ok-Q4_K_M.gguf", 100, 16);
}

static int setup(void **state)
{
    (void)state;
    build_hub();
    srv = tu_httpd_start(handler, NULL);
    endpoint = reel_xasprintf("http://127.0.0.1:%d", tu_httpd_port(srv));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_httpd_stop(srv);
    for (size_t i = 0; i < n_repos; i++)
        for (size_t k = 0; k < repos[i].n; k++) free(repos[i].files[k].data);
    free(tiny_gguf);
    free(endpoint);
    return 0;
}

/* Each test gets a fresh store and a clean environment. */
static int fresh(void **state)
{
    (void)state;
    store = tu_tmpdir();
    setenv("REEL_MODELS", store, 1);
    setenv("HF_ENDPOINT", endpoint, 1);
    unsetenv("HF_TOKEN");
    unsetenv("REEL_OFFLINE");
    atomic_store(&drops_left, 0);
    return 0;
}

static int cleanup(void **state)
{
    (void)state;
    tu_rmtree(store);
    free(store);
    return 0;
}

static tu_result reel(const char *a1, const char *a2, const char *a3, const char *a4)
{
    char *argv[] = {(char *)tu_reel_bin(), (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
    return tu_run(argv, NULL);
}

static char *in_store(const char *rel)
{
    return reel_xasprintf("%s/%s", store, rel);
}

static void check_file(const char *rel, const void *data, size_t size)
{
    char *p = in_store(rel), *got;
    size_t n;
    assert_int_equal(reel_file_read(p, 0, &got, &n), 0);
    assert_int_equal(n, size);
    assert_memory_equal(got, data, size);
    free(got);
    free(p);
}

static int exists(const char *rel)
{
    char *p = in_store(rel);
    int e = reel_file_exists(p);
    free(p);
    return e;
}

/* The JSON event lines of stdout named event (a new array). */
static json_t *events(const char *out, const char *event)
{
    json_t *a = json_array();
    const char *line = out;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        json_t *v = reel_json_parse(line, n, "stdout");
        assert_non_null(v); /* every line of stdout is JSON when stderr is not a terminal */
        if (strcmp(json_string_value(json_object_get(v, "event")), event) == 0)
            json_array_append(a, v);
        json_decref(v);
        line = end ? end + 1 : NULL;
    }
    return a;
}

static void test_pull_quant_then_unchanged(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/tiny-GGUF:q4_k_m", NULL, NULL);
    assert_int_equal(r.status, 0);
    check_file("test/tiny-GGUF/tiny-Q4_K_M.gguf", tiny_gguf, tiny_gguf_size);
    assert_false(exists("test/tiny-GGUF/tiny-Q8_0.gguf"));
    assert_false(exists("test/tiny-GGUF/README.md"));
    json_t *done = events(r.out, "file_done"), *end = events(r.out, "pull_done");
    assert_int_equal(json_array_size(done), 1);
    assert_string_equal(reel_json_str(json_array_get(done, 0), "status", ""), "downloaded");
    assert_string_equal(reel_json_str(json_array_get(done, 0), "sha256", ""),
                        repos[0].files[0].sha);
    char *want = in_store("test/tiny-GGUF/tiny-Q4_K_M.gguf");
    assert_string_equal(reel_json_str(json_array_get(end, 0), "path", ""), want);
    json_decref(done);
    json_decref(end);
    tu_result_free(&r);

    /* again: the listing is asked for, nothing is downloaded, and it says so */
    int before = atomic_load(&n_downloads);
    r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&n_downloads), before);
    done = events(r.out, "file_done");
    assert_string_equal(reel_json_str(json_array_get(done, 0), "status", ""), "present");
    json_decref(done);
    tu_result_free(&r);

    /* reel models path and -m find it by the same name */
    r = reel("models", "path", "test/tiny-GGUF:Q4_K_M", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, want));
    tu_result_free(&r);
    r = reel("tokenize", "-m", "test/tiny-GGUF:Q4_K_M", "hello");
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    free(want);
}

static void test_hand_copied_file_is_verified_once(void **state)
{
    (void)state;
    char *dir = in_store("test/tiny-GGUF");
    assert_int_equal(reel_mkdir_p(dir), 0);
    char *p = in_store("test/tiny-GGUF/tiny-Q4_K_M.gguf");
    tu_write_file(p, tiny_gguf, tiny_gguf_size);
    int before = atomic_load(&n_downloads);
    tu_result r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&n_downloads), before);
    assert_true(tu_contains(r.out, "\"file_verify\""));
    assert_true(tu_contains(r.out, "\"present\""));
    tu_result_free(&r);
    /* a copy with other bytes of the same size is replaced */
    unsigned char *other = noise(tiny_gguf_size, 99);
    tu_write_file(p, other, tiny_gguf_size);
    free(other);
    r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "\"updated\""));
    check_file("test/tiny-GGUF/tiny-Q4_K_M.gguf", tiny_gguf, tiny_gguf_size);
    tu_result_free(&r);
    free(p);
    free(dir);
}

static void test_picker(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/tiny-GGUF:Q8_0", NULL, NULL);
    assert_int_equal(r.status, 0);
    check_file("test/tiny-GGUF/tiny-Q8_0.gguf", repos[0].files[1].data, repos[0].files[1].size);
    tu_result_free(&r);
    r = reel("pull", "test/tiny-GGUF:UD-Q4_K_XL", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(exists("test/tiny-GGUF/tiny-UD-Q4_K_XL.gguf"));
    tu_result_free(&r);
    /* none: the error lists the GGUF files */
    r = reel("pull", "test/tiny-GGUF:Q5_K_S", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "no GGUF file for 'Q5_K_S'"));
    assert_true(tu_contains(r.err, "tiny-Q4_K_M.gguf"));
    assert_true(tu_contains(r.err, "tiny-Q8_0.gguf"));
    assert_false(tu_contains(r.err, "README.md"));
    assert_true(tu_contains(r.out, "\"error\""));
    tu_result_free(&r);
    /* "Q4_K" is not a whole word of Q4_K_M or Q4_K_XL */
    r = reel("pull", "test/tiny-GGUF:Q4_K", NULL, NULL);
    assert_int_equal(r.status, 1);
    tu_result_free(&r);
    /* several GGUF files and no choice */
    r = reel("pull", "test/tiny-GGUF", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "has 3 GGUF files"));
    assert_true(tu_contains(r.err, "tiny-UD-Q4_K_XL.gguf"));
    tu_result_free(&r);
    /* ambiguous: both match, the error names both; the full name settles it */
    r = reel("pull", "test/ambiguous-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "matches 2 files"));
    assert_true(tu_contains(r.err, "m-Q4_K_M.gguf"));
    assert_true(tu_contains(r.err, "m-UD-Q4_K_M.gguf"));
    assert_false(tu_contains(r.err, "IQ4_XS"));
    tu_result_free(&r);
    r = reel("pull", "test/ambiguous-GGUF:m-UD-Q4_K_M.gguf", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(exists("test/ambiguous-GGUF/m-UD-Q4_K_M.gguf"));
    tu_result_free(&r);
    /* Q4_XS is not IQ4_XS */
    r = reel("pull", "test/ambiguous-GGUF:Q4_XS", NULL, NULL);
    assert_int_equal(r.status, 1);
    tu_result_free(&r);
    /* an exact file name that is not there */
    r = reel("pull", "test/tiny-GGUF:nope.gguf", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "no file named 'nope.gguf'"));
    tu_result_free(&r);
}

static void test_default_model(void **state)
{
    (void)state;
    tu_result r = reel("pull", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    check_file("unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF/NVIDIA-Nemotron-3-Nano-4B-Q4_K_M.gguf",
               tiny_gguf, tiny_gguf_size);
    tu_result_free(&r);
}

static void test_safetensors_repo(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/tiny-st", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(exists("test/tiny-st/config.json"));
    assert_true(exists("test/tiny-st/tokenizer.json"));
    assert_true(exists("test/tiny-st/tokenizer_config.json"));
    hub_repo *st = find_repo("test/tiny-st", 12);
    check_file("test/tiny-st/model.safetensors", st->files[3].data, st->files[3].size);
    assert_false(exists("test/tiny-st/original/consolidated.safetensors"));
    assert_false(exists("test/tiny-st/README.md"));
    assert_false(exists("test/tiny-st/other.bin"));
    json_t *end = events(r.out, "pull_done");
    char *dir = in_store("test/tiny-st");
    assert_string_equal(reel_json_str(json_array_get(end, 0), "path", ""), dir);
    json_decref(end);
    tu_result_free(&r);
    /* unchanged: small files are known by the hub's object id, nothing is fetched again */
    int before = atomic_load(&n_requests);
    r = reel("pull", "test/tiny-st", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&n_requests) - before, 1); /* the listing only */
    tu_result_free(&r);
    r = reel("models", "path", "test/tiny-st", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, dir));
    tu_result_free(&r);
    free(dir);
}

/* --quantize: the pulled checkpoint converted into the store, as reel convert writes it, found
 * by -m OWNER/REPO:TYPE, and not converted again while the download is unchanged */
static void test_pull_quantize(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/tiny-a-hf", "--quantize", "q8_0");
    assert_int_equal(r.status, 0);
    json_t *conv = events(r.out, "convert_done"), *end = events(r.out, "pull_done");
    assert_string_equal(reel_json_str(json_array_get(conv, 0), "status", ""), "converted");
    char *want = in_store("test/tiny-a-hf/tiny-a-hf-Q8_0.gguf");
    assert_string_equal(reel_json_str(json_array_get(end, 0), "path", ""), want);
    json_decref(conv);
    json_decref(end);
    tu_result_free(&r);

    char *ref = reel_xasprintf("%s/ref.gguf", store);
    char *src = reel_xasprintf("%s/tests/data/models/tiny-a", tu_source_dir());
    char *argv[] = {(char *)tu_reel_bin(), "convert", src, ref, "--type", "q8_0", NULL};
    r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    char *a, *b;
    size_t na, nb;
    assert_int_equal(reel_file_read(want, 0, &a, &na), 0);
    assert_int_equal(reel_file_read(ref, 0, &b, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na); /* the same file reel convert writes */
    free(a);
    free(b);
    unlink(ref);

    r = reel("tokenize", "-m", "test/tiny-a-hf:Q8_0", "hello");
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    r = reel("pull", "test/tiny-a-hf", "--quantize", "q8_0");
    assert_int_equal(r.status, 0);
    conv = events(r.out, "convert_done");
    assert_string_equal(reel_json_str(json_array_get(conv, 0), "status", ""), "present");
    json_decref(conv);
    tu_result_free(&r);

    /* not for GGUF repositories, files or unknown types: usage errors naming the fix */
    r = reel("pull", "test/one-GGUF", "--quantize", "q8_0");
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "reel quantize"));
    tu_result_free(&r);
    r = reel("pull", "test/tiny-a-hf:model.safetensors", "--quantize", "q8_0");
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("pull", "test/tiny-a-hf", "--quantize", "q9_9");
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "q9_9"));
    tu_result_free(&r);
    free(src);
    free(ref);
    free(want);
}

/* a listing in pages: every page is read, so the picker sees the file on the last one */
static void test_paged_listing(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/paged-GGUF:Q6_K", NULL, NULL);
    assert_int_equal(r.status, 0);
    hub_repo *h = find_repo("test/paged-GGUF", 15);
    check_file("test/paged-GGUF/p-Q6_K.gguf", h->files[2].data, h->files[2].size);
    tu_result_free(&r);
}

/* no LFS SHA-256 in the listing: the X-Linked-Etag of the resolve answer is checked instead */
static void test_linked_etag(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/etag-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    hub_repo *h = find_repo("test/etag-GGUF", 14);
    json_t *done = events(r.out, "file_done");
    assert_string_equal(reel_json_str(json_array_get(done, 0), "sha256", ""), h->files[0].sha);
    json_decref(done);
    tu_result_free(&r);
    check_file("test/etag-GGUF/e-Q4_K_M.gguf", h->files[0].data, h->files[0].size);
    r = reel("pull", "test/badetag-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "X-Linked-Etag"));
    assert_false(exists("test/badetag-GGUF/b-Q4_K_M.gguf"));
    assert_true(exists("test/badetag-GGUF/b-Q4_K_M.gguf.part"));
    tu_result_free(&r);
}

static void test_resume_after_drop(void **state)
{
    (void)state;
    atomic_store(&drops_left, 1);
    atomic_store(&last_range, -1);
    hub_repo *d = find_repo("test/drop-GGUF", 14);
    tu_result r = reel("pull", "test/drop-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&last_range), (int)(d->files[0].size / 3));
    check_file("test/drop-GGUF/d-Q4_K_M.gguf", d->files[0].data, d->files[0].size);
    assert_false(exists("test/drop-GGUF/d-Q4_K_M.gguf.part"));
    tu_result_free(&r);
}

static void test_resume_part_file(void **state)
{
    (void)state;
    hub_repo *d = find_repo("test/drop-GGUF", 14);
    char *dir = in_store("test/drop-GGUF");
    assert_int_equal(reel_mkdir_p(dir), 0);
    char *part = in_store("test/drop-GGUF/d-Q4_K_M.gguf.part");
    tu_write_file(part, d->files[0].data, 12345);
    /* reel models shows the unfinished download */
    tu_result r = reel("models", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "d-Q4_K_M.gguf"));
    assert_true(tu_contains(r.out, "unfinished"));
    tu_result_free(&r);
    atomic_store(&last_range, -1);
    r = reel("pull", "test/drop-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(atomic_load(&last_range), 12345);
    json_t *st = events(r.out, "file_start");
    assert_int_equal(reel_json_int(json_array_get(st, 0), "resume_from", -1), 12345);
    json_decref(st);
    check_file("test/drop-GGUF/d-Q4_K_M.gguf", d->files[0].data, d->files[0].size);
    tu_result_free(&r);
    free(part);
    free(dir);
}

static void test_checksum_mismatch(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/badsum-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "does not match the SHA-256"));
    assert_true(tu_contains(r.err, "b-Q4_K_M.gguf"));
    assert_false(exists("test/badsum-GGUF/b-Q4_K_M.gguf"));
    assert_true(exists("test/badsum-GGUF/b-Q4_K_M.gguf.part"));
    tu_result_free(&r);
    /* the next try checks the kept file, drops it and fetches anew: refused again */
    int before = atomic_load(&n_downloads);
    r = reel("pull", "test/badsum-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_int_equal(atomic_load(&n_downloads) - before, 1);
    assert_true(atomic_load(&last_range) < 0); /* from the start, not resumed past the end */
    tu_result_free(&r);
}

static void test_token(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/gated-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "needs a token (set HF_TOKEN or --token)"));
    assert_true(tu_contains(r.err, "test/gated-GGUF"));
    assert_false(exists("test/gated-GGUF/g-Q4_K_M.gguf"));
    tu_result_free(&r);
    /* a wrong token is said to be wrong */
    r = reel("pull", "test/gated-GGUF:Q4_K_M", "--token", "hf_wrong");
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "refused the token"));
    tu_result_free(&r);
    atomic_store(&saw_token, 0);
    r = reel("pull", "test/gated-GGUF:Q4_K_M", "--token", TOKEN);
    assert_int_equal(r.status, 0);
    assert_true(atomic_load(&saw_token));
    assert_true(exists("test/gated-GGUF/g-Q4_K_M.gguf"));
    tu_result_free(&r);
    /* HF_TOKEN does the same */
    r = reel("models", "rm", "test/gated-GGUF", NULL);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    setenv("HF_TOKEN", TOKEN, 1);
    r = reel("pull", "test/gated-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
}

static void test_not_found(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/no-such-model:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "no repository test/no-such-model"));
    assert_true(tu_contains(r.err, "404"));
    tu_result_free(&r);
    r = reel("pull", "test/ghost-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "test/ghost-GGUF has no file ghost-Q4_K_M.gguf"));
    tu_result_free(&r);
}

static void test_unsafe_paths_ignored(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/evil-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0); /* the one safe file is the only match */
    assert_true(exists("test/evil-GGUF/ok-Q4_K_M.gguf"));
    assert_false(exists("escape-Q4_K_M.gguf"));
    assert_false(exists("../escape-Q4_K_M.gguf"));
    tu_result_free(&r);
    r = reel("pull", "test/evil-GGUF:../../escape-Q4_K_M.gguf", NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
}

static void test_offline(void **state)
{
    (void)state;
    tu_result r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    setenv("REEL_OFFLINE", "1", 1);
    int before = atomic_load(&n_requests);
    r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "present-unchecked"));
    tu_result_free(&r);
    r = reel("pull", "test/tiny-GGUF:Q8_0", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "REEL_OFFLINE=1"));
    assert_true(tu_contains(r.err, "reel pull test/tiny-GGUF:Q8_0"));
    tu_result_free(&r);
    assert_int_equal(atomic_load(&n_requests), before); /* the hub was never asked */
    unsetenv("REEL_OFFLINE");
}

static void test_unreachable(void **state)
{
    (void)state;
    setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1); /* nothing listens there */
    tu_result r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "cannot reach 127.0.0.1:1"));
    /* one line: the retries' warnings are not shown at the default log level */
    const char *nl = strchr(r.err, '\n');
    assert_true(nl && nl[1] == '\0');
    tu_result_free(&r);
    setenv("HF_ENDPOINT", endpoint, 1);
}

static void test_models_list_and_rm(void **state)
{
    (void)state;
    tu_result r = reel("models", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "is empty"));
    tu_result_free(&r);
    r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    tu_result_free(&r);
    r = reel("pull", "test/tiny-GGUF:Q8_0", NULL, NULL);
    tu_result_free(&r);
    r = reel("pull", "test/tiny-st", NULL, NULL);
    tu_result_free(&r);
    r = reel("models", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "test/tiny-GGUF\n"));
    assert_true(tu_contains(r.out, "tiny-Q4_K_M.gguf"));
    assert_true(tu_contains(r.out, "tiny-Q8_0.gguf"));
    assert_true(tu_contains(r.out, "39.1 KiB")); /* 40000 bytes */
    assert_true(tu_contains(r.out, "test/tiny-st\n"));
    assert_false(tu_contains(r.out, ".reel-pull"));
    tu_result_free(&r);
    r = reel("models", "--json", NULL, NULL);
    assert_int_equal(r.status, 0);
    json_t *list = reel_json_parse(r.out, strlen(r.out), "models --json");
    assert_non_null(list);
    assert_int_equal(json_array_size(list), 6); /* 2 GGUF + config, 2 tokenizer, weights */
    json_decref(list);
    tu_result_free(&r);

    r = reel("models", "rm", "test/tiny-GGUF:q8_0", NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "39.1 KiB freed"));
    assert_false(exists("test/tiny-GGUF/tiny-Q8_0.gguf"));
    assert_true(exists("test/tiny-GGUF/tiny-Q4_K_M.gguf"));
    tu_result_free(&r);
    r = reel("models", "rm", "test/tiny-GGUF:Q8_0", NULL);
    assert_int_equal(r.status, 1);
    tu_result_free(&r);
    r = reel("models", "rm", "test/tiny-GGUF", NULL);
    assert_int_equal(r.status, 0);
    assert_false(exists("test/tiny-GGUF"));
    assert_true(exists("test"));
    tu_result_free(&r);
    r = reel("models", "rm", "test/tiny-st", NULL);
    assert_int_equal(r.status, 0);
    assert_false(exists("test")); /* the owner folder goes with its last repository */
    tu_result_free(&r);
    r = reel("models", "rm", "test/tiny-st", NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "not in the model store"));
    tu_result_free(&r);
}

static void test_model_arg_not_pulled(void **state)
{
    (void)state;
    tu_result r = reel("tokenize", "-m", "test/tiny-GGUF:Q4_K_M", "hello");
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "no such file or folder"));
    assert_true(tu_contains(r.err, "run 'reel pull test/tiny-GGUF:Q4_K_M'"));
    tu_result_free(&r);
    /* a path that exists is taken as a path, whatever it looks like */
    char *p = reel_xasprintf("%s/tests/data/models/gguf/tiny-b-f16.gguf", tu_source_dir());
    r = reel("tokenize", "-m", p, "hello");
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    free(p);
}

/* reel.model('OWNER/REPO:QUANT') in a script, and reel run -m OWNER/REPO:QUANT */
static void test_lua_model_ref(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char *sc = reel_xasprintf("%s/m.lua", dir), *out = reel_xasprintf("%s/m.txt", dir);
    const char *lua = "local m, err = reel.model('test/tiny-GGUF:Q4_K_M')\n"
                      "local f = assert(io.open(reel.out_dir .. '/m.txt', 'w'))\n"
                      "f:write(m and 'ok' or err, ' ', tostring(reel.model_spec)) f:close()\n";
    tu_write_file(sc, lua, strlen(lua));
    char *argv[] = {(char *)tu_reel_bin(),   "run", sc, "--out", dir, "--no-progress", "-m",
                    "test/tiny-GGUF:Q4_K_M", NULL};
    /* not pulled yet: -m fails before the script runs, and so does reel.model() */
    tu_result r = tu_run(argv, NULL);
    assert_int_equal(r.status, 1);
    assert_true(tu_contains(r.err, "run 'reel pull test/tiny-GGUF:Q4_K_M'"));
    tu_result_free(&r);
    argv[6] = NULL;
    r = tu_run(argv, NULL);
    char *text = NULL;
    assert_int_equal(reel_file_read(out, 0, &text, NULL), 0);
    assert_true(tu_contains(text, "reel pull test/tiny-GGUF:Q4_K_M"));
    free(text);
    tu_result_free(&r);

    r = reel("pull", "test/tiny-GGUF:Q4_K_M", NULL, NULL);
    assert_int_equal(r.status, 0);
    tu_result_free(&r);
    argv[6] = "-m";
    r = tu_run(argv, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(reel_file_read(out, 0, &text, NULL), 0);
    char *want = reel_xasprintf("ok %s/test/tiny-GGUF/tiny-Q4_K_M.gguf", store);
    assert_string_equal(text, want);
    free(want);
    free(text);
    tu_result_free(&r);
    tu_rmtree(dir);
    free(dir);
    free(sc);
    free(out);
}

static void test_usage_and_help(void **state)
{
    (void)state;
    tu_result r = reel("pull", "--help", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "Examples:"));
    assert_true(tu_contains(r.out, "HF_TOKEN"));
    assert_true(tu_contains(r.out, "REEL_OFFLINE"));
    tu_result_free(&r);
    r = reel("pull", "not-a-reference", NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_true(tu_contains(r.err, "OWNER/REPO"));
    tu_result_free(&r);
    r = reel("pull", "a/b", "c/d", NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("models", "frobnicate", NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_result_free(&r);
    r = reel("models", "--help", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_true(tu_contains(r.out, "reel models rm"));
    tu_result_free(&r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, cleanup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pull_quant_then_unchanged),
        T(test_hand_copied_file_is_verified_once),
        T(test_picker),
        T(test_default_model),
        T(test_safetensors_repo),
        T(test_pull_quantize),
        T(test_paged_listing),
        T(test_linked_etag),
        T(test_resume_after_drop),
        T(test_resume_part_file),
        T(test_checksum_mismatch),
        T(test_token),
        T(test_not_found),
        T(test_unsafe_paths_ignored),
        T(test_offline),
        T(test_unreachable),
        T(test_models_list_and_rm),
        T(test_model_arg_not_pulled),
        T(test_lua_model_ref),
        T(test_usage_and_help),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
