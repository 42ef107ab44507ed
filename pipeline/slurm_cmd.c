/* Runs the Slurm client commands (sbatch, squeue, scancel) for the slurm executor and captures
 * what they print. Each runs in its own process group: a Ctrl-C on the terminal then reaches
 * reel alone, which answers it by running scancel, instead of killing the command it waits for. */
#include "pipeline/slurm-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* What a command may print before the rest is dropped (squeue on a busy cluster is long). */
#define MAX_OUTPUT ((size_t)64 << 20)

typedef struct buf {
    char *data;
    size_t len, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t k)
{
    if (k > MAX_OUTPUT - b->len) k = MAX_OUTPUT - b->len;
    if (k == 0) return;
    if (b->len + k + 1 > b->cap) {
        b->cap = (b->len + k + 1) * 2;
        b->data = reel_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, k);
    b->len += k;
    b->data[b->len] = '\0';
}

int reeli_slurm_cmd(const char *const *argv, char **out, char **err)
{
    if (out) *out = NULL;
    if (err) *err = NULL;
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) != 0) return reel_set_error_errno("%s: pipe", argv[0]);
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        return reel_set_error_errno("%s: pipe", argv[0]);
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, &attr, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        errno = rc;
        return reel_set_error_errno("cannot run %s (is Slurm's client installed and in PATH?)",
                                    argv[0]);
    }
    buf b[2] = {{0}, {0}};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char chunk[8192];
            ssize_t k = read(fds[i].fd, chunk, sizeof chunk);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            buf_add(&b[i], chunk, (size_t)k);
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    for (int i = 0; i < 2; i++)
        if (!b[i].data) b[i].data = reel_xstrdup("");
    if (out)
        *out = b[0].data;
    else
        free(b[0].data);
    if (err)
        *err = b[1].data;
    else
        free(b[1].data);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return reel_set_error(REEL_EIO, "%s was killed by signal %d", argv[0],
                          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

char *reeli_slurm_shell_quote(const char *s)
{
    size_t n = 2;
    for (const char *p = s; *p; p++) n += *p == '\'' ? 4 : 1;
    char *q = reel_xmalloc(n + 1), *w = q;
    *w++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *p;
        }
    }
    *w++ = '\'';
    *w = '\0';
    return q;
}
