#include "testutil.h"
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void append(char **buf, size_t *n, const char *data, size_t k)
{
    *buf = reel_xrealloc(*buf, *n + k + 1);
    memcpy(*buf + *n, data, k);
    *n += k;
    (*buf)[*n] = '\0';
}

tu_result tu_run(char *const argv[], const char *stdin_text)
{
    tu_result r = {0};
    int in[2], out[2], err[2];
    if (pipe(in) || pipe(out) || pipe(err)) abort();
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (stdin_text) {
        size_t len = strlen(stdin_text);
        if (write(in[1], stdin_text, len) < 0) {
        }
    }
    close(in[1]);
    size_t no = 0, ne = 0;
    r.out = reel_xcalloc(1, 1);
    r.err = reel_xcalloc(1, 1);
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[65536];
            ssize_t k = read(fds[i].fd, buf, sizeof buf);
            if (k <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&r.out, &no, buf, (size_t)k);
            } else {
                append(&r.err, &ne, buf, (size_t)k);
            }
        }
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

void tu_result_free(tu_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *tu_reel_bin(void)
{
    const char *b = getenv("REEL_BIN");
    return b ? b : "reel";
}

const char *tu_source_dir(void)
{
    const char *s = getenv("REEL_SOURCE_DIR");
    return s ? s : ".";
}

char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *t = reel_xasprintf("%s/reel-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(t)) abort();
    return t;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

int tu_contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

/* ---- skips that ctest can see ---- */
static int n_skips;

void tu_note_skip(const char *test, const char *why)
{
    n_skips++;
    /* the executable's whole name (/proc/self/comm cuts it at 15 characters) */
    const char *comm = program_invocation_short_name;
    FILE *f;
    printf("SKIPPED: %s/%s: %s\n", comm, test, why);
    const char *log = getenv("REEL_SKIP_LOG");
    if (log && *log && (f = fopen(log, "a"))) {
        fprintf(f, "%s/%s: %s\n", comm, test, why);
        fclose(f);
    }
}

/* 1 if name matches one of the comma-separated globs in list */
static int tu_name_matches(const char *name, const char *list)
{
    char glob[256];
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len < sizeof glob) {
            memcpy(glob, p, len);
            glob[len] = '\0';
            if (fnmatch(glob, name, 0) == 0) return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int tu_run_group_tests(const char *name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction setup, CMFixtureFunction teardown)
{
    /* REEL_TEST_FILTER / REEL_TEST_EXCLUDE (comma-separated globs on test names): one
     * executable as several ctest entries, e.g. the tests that need AVX-512 VNNI apart from the
     * rest, so that a machine without it shows that entry skipped and the others passed */
    const char *only = getenv("REEL_TEST_FILTER"), *except = getenv("REEL_TEST_EXCLUDE");
    struct CMUnitTest *kept = malloc((n ? n : 1) * sizeof *kept);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if ((!only || !*only || tu_name_matches(tests[i].name, only)) &&
            !(except && *except && tu_name_matches(tests[i].name, except)))
            kept[m++] = tests[i];
    int failed = _cmocka_run_group_tests(name, kept, m, setup, teardown);
    free(kept);
    if (failed == 0 && n_skips > 0) {
        printf("%d of %zu tests skipped: exiting with %d so that ctest reports a skip\n", n_skips,
               n, TU_SKIP_CODE);
        return TU_SKIP_CODE;
    }
    return failed;
}

/* ---- loopback HTTP server ---- */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>

struct tu_httpd {
    int listen_fd, port;
    pthread_t thread;
    tu_http_handler handler;
    void *ctx;
    volatile int stop;
};

void tu_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t k = send(fd, p, len, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k;
        len -= (size_t)k;
    }
}

void tu_http_respond(int fd, int status, const char *ctype, const void *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, ctype, len);
    tu_write_all(fd, head, (size_t)n);
    tu_write_all(fd, body, len);
}

static void serve_one(tu_httpd *s, int fd)
{
    char *buf = NULL;
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        if (k <= 0) {
            free(buf);
            return;
        }
        append(&buf, &n, tmp, (size_t)k);
        end = strstr(buf, "\r\n\r\n");
    }
    tu_http_req req = {.range_start = -1};
    sscanf(buf, "%15s %1023s", req.method, req.path);
    size_t head_len = (size_t)(end - buf) + 4;
    req.headers = reel_xstrdup(buf);
    req.headers[head_len] = '\0';
    size_t clen = 0;
    for (char *line = strstr(req.headers, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) clen = strtoul(line + 17, NULL, 10);
        if (strncasecmp(line + 2, "range: bytes=", 13) == 0) req.range_start = atol(line + 15);
    }
    while (n - head_len < clen) {
        char tmp[4096];
        ssize_t k = recv(fd, tmp, sizeof tmp, 0);
        if (k <= 0) break;
        append(&buf, &n, tmp, (size_t)k);
    }
    req.body = buf + head_len;
    req.body_len = n - head_len;
    s->handler(s->ctx, &req, fd);
    free(req.headers);
    free(buf);
}

static void *server_main(void *arg)
{
    tu_httpd *s = arg;
    while (!s->stop) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        if (s->stop) {
            close(fd);
            break;
        }
        serve_one(s, fd);
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
    return NULL;
}

tu_httpd *tu_httpd_start(tu_http_handler handler, void *ctx)
{
    tu_httpd *s = reel_xcalloc(1, sizeof *s);
    s->handler = handler;
    s->ctx = ctx;
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) || listen(s->listen_fd, 16)) abort();
    socklen_t len = sizeof a;
    getsockname(s->listen_fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, server_main, s);
    return s;
}

int tu_httpd_port(const tu_httpd *s)
{
    return s->port;
}

void tu_httpd_stop(tu_httpd *s)
{
    s->stop = 1;
    /* wake accept() with a throwaway connection */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    free(s);
}
