/* Files a script names, opened beneath the run's roots (script folder, --out, --allow-path).
 *
 * A path is opened from the descriptor of the root it lies in with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS): the kernel refuses any '..' or symbolic link that would leave the
 * root, at the moment of the open, so a link swapped in or left dangling inside --out cannot
 * make a write land outside it. A link that stays inside its root is followed. Kernels without
 * openat2 get the same rules from a walk one component at a time with O_NOFOLLOW. */
#include "pipeline/lua-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINKS 40 /* as the kernel's own limit on links followed in one lookup */

static const char *const OUTSIDE =
    "outside the folders this script may use (its own folder, --out, --allow-path)";
static const char *const LEAVES =
    "a symbolic link or '..' in it leads outside the folders this script may use";

/* The component-by-component equivalent of openat2 with RESOLVE_BENEATH: every component is
 * opened with O_NOFOLLOW, links are expanded by hand, and an absolute link or a '..' above the
 * root fails with EXDEV. */
int reeli_path_walk(int root, const char *rel, int flags, unsigned mode)
{
    char *todo = reel_xstrdup(rel);
    int *stack = reel_xmalloc(sizeof *stack * (strlen(rel) / 2 + 2));
    int depth = 0, links = 0, fd = -1, err = 0;
    stack[0] = root;
    char *p = todo;
    for (;;) {
        while (*p == '/') p++;
        if (!*p) { /* the path named a folder: open it with the caller's flags */
            fd = openat(stack[depth], ".", flags | O_CLOEXEC, mode);
            if (fd < 0) err = errno;
            break;
        }
        char *end = strchr(p, '/');
        char *next = end ? end + 1 : p + strlen(p);
        if (end) *end = '\0';
        int last = !end || !next[strspn(next, "/")];
        if (strcmp(p, ".") == 0) {
            p = next;
            if (last) {
                fd = openat(stack[depth], ".", flags | O_CLOEXEC, mode);
                if (fd < 0) err = errno;
                break;
            }
            continue;
        }
        if (strcmp(p, "..") == 0) {
            if (depth == 0) {
                err = EXDEV;
                break;
            }
            close(stack[depth--]);
            p = next;
            if (last) {
                fd = openat(stack[depth], ".", flags | O_CLOEXEC, mode);
                if (fd < 0) err = errno;
                break;
            }
            continue;
        }
        int f = last ? openat(stack[depth], p, flags | O_NOFOLLOW | O_CLOEXEC, mode)
                     : openat(stack[depth], p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (f >= 0 && last && (flags & O_PATH) && fstat(f, &st) == 0 && S_ISLNK(st.st_mode)) {
            close(f); /* O_PATH | O_NOFOLLOW opened the link itself: follow it below */
            f = -1;
            errno = ELOOP;
        }
        if (f >= 0 && last) {
            fd = f;
            break;
        }
        if (f >= 0) {
            stack[++depth] = f;
            p = next;
            continue;
        }
        int e = errno;
        if ((e == ELOOP || e == ENOTDIR || e == EEXIST) &&
            fstatat(stack[depth], p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(stack[depth], p, target, sizeof target - 1);
            if (n <= 0 || ++links > MAX_LINKS) {
                err = n <= 0 ? errno : ELOOP;
                break;
            }
            target[n] = '\0';
            if (target[0] == '/') {
                err = EXDEV;
                break;
            }
            /* continue with the link's target followed by what was left of the path */
            char *rest = reel_xasprintf("%s%s%s", target, last ? "" : "/", last ? "" : next);
            free(todo);
            todo = rest;
            p = todo;
            stack = reel_xrealloc(stack, sizeof *stack * (depth + strlen(todo) / 2 + 2));
            continue;
        }
        err = e;
        break;
    }
    while (depth > 0) close(stack[depth--]);
    free(stack);
    free(todo);
    if (fd < 0) errno = err ? err : EIO;
    return fd;
}

static int open_beneath(int root, const char *rel, int flags, mode_t mode)
{
    static int no_openat2;
    if (!no_openat2) {
        struct open_how how;
        memset(&how, 0, sizeof how);
        how.flags = (unsigned long long)(flags | O_CLOEXEC);
        how.mode = (flags & O_CREAT) ? mode : 0;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd;
        do fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
        while (fd < 0 && errno == EAGAIN);
        if (fd >= 0 || errno != ENOSYS) return (int)fd;
        no_openat2 = 1;
    }
    return reeli_path_walk(root, rel, flags, mode);
}

/* The part of abs below root, or NULL when abs does not start with root. */
static const char *below(const char *root, const char *abs)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0) return abs + 1;
    if (strncmp(abs, root, n) != 0) return NULL;
    if (abs[n] == '\0') return abs + n;
    if (abs[n] != '/') return NULL;
    return abs + n + 1;
}

/* Opens abs beneath the first root whose name it starts with. Returns the descriptor, or -1
 * with errno (EXDEV: it left that root; EACCES with no root matching). */
static int open_in_roots(reeli_run *run, const char *abs, int flags, mode_t mode)
{
    int err = EACCES;
    for (size_t i = 0; i < run->n_roots; i++) {
        const char *rel = below(run->roots[i], abs);
        if (!rel) continue;
        int root = open(run->roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) return -1;
        int fd = open_beneath(root, *rel ? rel : ".", flags, mode);
        err = errno;
        close(root);
        if (fd >= 0) return fd;
        if (err != EXDEV && err != ELOOP) break;
    }
    errno = err;
    return -1;
}

/* The same path with its links resolved: realpath of the whole path when it exists, else of
 * its folder with the last component kept as it is; or NULL. */
static char *canonical(const char *abs)
{
    char real[PATH_MAX];
    if (realpath(abs, real)) return reel_xstrdup(real);
    char *dir = reel_xstrdup(abs);
    char *slash = strrchr(dir, '/');
    const char *base = slash + 1;
    *slash = '\0';
    char *out = NULL;
    if (realpath(*dir ? dir : "/", real))
        out = reel_xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
    free(dir);
    return out;
}

int reeli_path_open(reeli_run *run, const char *path, int flags, unsigned mode, char *why,
                    size_t whysz)
{
    char cwd[PATH_MAX];
    char *abs;
    if (path[0] == '/') {
        abs = reel_xstrdup(path);
    } else {
        if (!getcwd(cwd, sizeof cwd)) {
            snprintf(why, whysz, "cannot read the current folder");
            return -1;
        }
        abs = reel_xasprintf("%s/%s", cwd, path);
    }
    int fd = open_in_roots(run, abs, flags, mode);
    int err = errno;
    if (fd < 0 && (err == EACCES || err == EXDEV || err == ELOOP)) {
        /* Spelled through a link to a root, or through an absolute link that stays inside
         * one: try again from the canonical spelling of its folder. */
        char *canon = canonical(abs);
        if (canon && strcmp(canon, abs) != 0) {
            int fd2 = open_in_roots(run, canon, flags, mode);
            if (fd2 >= 0 || errno != EACCES) {
                fd = fd2;
                err = errno;
            }
        }
        free(canon);
    }
    free(abs);
    if (fd >= 0) return fd;
    if (err == EACCES)
        snprintf(why, whysz, "%s", OUTSIDE);
    else if (err == EXDEV || err == ELOOP)
        snprintf(why, whysz, "%s", LEAVES);
    else
        snprintf(why, whysz, "%s", strerror(err));
    errno = err;
    return -1;
}

/* The absolute name of what fd refers to (the kernel's, so links are resolved), or NULL. */
static char *fd_name(int fd)
{
    char proc[64], buf[PATH_MAX];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, buf, sizeof buf - 1);
    if (n <= 0 || buf[0] != '/') return NULL;
    buf[n] = '\0';
    return reel_xstrdup(buf);
}

char *reeli_sandbox_resolve(reeli_run *run, const char *path, int for_write, char *why,
                            size_t whysz)
{
    int fd = reeli_path_open(run, path, O_PATH, 0, why, whysz);
    if (fd >= 0) {
        struct stat st;
        char *name = fstat(fd, &st) == 0 ? fd_name(fd) : NULL;
        close(fd);
        if (!name) {
            snprintf(why, whysz, "cannot name the file it leads to");
            return NULL;
        }
        if (for_write && S_ISDIR(st.st_mode)) {
            snprintf(why, whysz, "is a folder, not a file name");
            free(name);
            return NULL;
        }
        return name;
    }
    if (errno != ENOENT || !for_write) return NULL;
    /* A file that does not exist yet: its folder must, beneath a root, and the name must not
     * be a dangling link (whatever writes it would follow the link). */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        snprintf(why, whysz, "not a file name");
        return NULL;
    }
    char *dir = NULL;
    if (slash) {
        dir = reel_xstrdup(path);
        dir[(slash - path) + (slash == path)] = '\0'; /* "/x" keeps its "/" */
    }
    int dfd = reeli_path_open(run, dir ? dir : ".", O_PATH | O_DIRECTORY, 0, why, whysz);
    free(dir);
    if (dfd < 0) return NULL;
    struct stat st;
    char *out = NULL;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        snprintf(why, whysz, "is a symbolic link to a file that does not exist");
    } else {
        char *name = fd_name(dfd);
        if (name)
            out = reel_xasprintf("%s/%s", strcmp(name, "/") == 0 ? "" : name, base);
        else
            snprintf(why, whysz, "cannot name the folder it is in");
        free(name);
    }
    close(dfd);
    return out;
}
