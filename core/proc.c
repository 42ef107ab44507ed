/* Child process groups and per-process temporary folders (see proc.h). */
#include "core/proc.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

#define MAX_GROUPS 1024

/* Lock-free so that a signal handler can walk it while a thread adds or removes a group. */
static _Atomic int32_t groups[MAX_GROUPS];

void reel_proc_track(int32_t pgid)
{
    if (pgid <= 1) return;
    for (int i = 0; i < MAX_GROUPS; i++) {
        int32_t zero = 0;
        if (atomic_compare_exchange_strong(&groups[i], &zero, pgid)) return;
    }
}

void reel_proc_untrack(int32_t pgid)
{
    if (pgid <= 1) return;
    for (int i = 0; i < MAX_GROUPS; i++) {
        int32_t g = pgid;
        if (atomic_compare_exchange_strong(&groups[i], &g, 0)) return;
    }
}

static int group_alive(int32_t g)
{
    return kill(-g, 0) == 0 || errno != ESRCH;
}

void reel_proc_kill_all(void)
{
    int saved = errno, any = 0;
    for (int i = 0; i < MAX_GROUPS; i++) {
        int32_t g = atomic_load(&groups[i]);
        if (g > 1 && kill(-g, SIGTERM) == 0) any = 1;
    }
    /* a group whose leader is an unreaped zombie still counts as alive; the thread that
     * started it reaps it (a handler must not, or that thread would lose the exit status) */
    for (int step = 0; any && step < (int)(REEL_PROC_GRACE_S * 20); step++) {
        any = 0;
        for (int i = 0; i < MAX_GROUPS; i++) {
            int32_t g = atomic_load(&groups[i]);
            if (g <= 1) continue;
            if (group_alive(g)) any = 1;
        }
        if (any) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < MAX_GROUPS; i++) {
        int32_t g = atomic_load(&groups[i]);
        if (g > 1) kill(-g, SIGKILL);
    }
    errno = saved;
}

static const char *tmp_base(void)
{
    const char *base = getenv("TMPDIR");
    return base && *base ? base : "/tmp";
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void reel_proc_rmtree(const char *path)
{
    if (path && *path) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int reel_proc_sweep_tmpdirs(const char *prefix)
{
    DIR *d = opendir(tmp_base());
    if (!d) return 0;
    size_t plen = strlen(prefix);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] != '-') continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + plen + 1, &end, 10);
        if (errno || end == e->d_name + plen + 1 || *end != '-' || pid <= 1 || pid == getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* owner still running */
        char *path = reel_xasprintf("%s/%s", tmp_base(), e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
            reel_proc_rmtree(path);
            n++;
        }
        free(path);
    }
    closedir(d);
    return n;
}

static pthread_once_t swept = PTHREAD_ONCE_INIT;
static const char *sweep_prefix;
static void sweep_once(void)
{
    reel_proc_sweep_tmpdirs(sweep_prefix);
}

char *reel_proc_tmpdir(const char *prefix)
{
    sweep_prefix = prefix;
    pthread_once(&swept, sweep_once);
    char *tmp = reel_xasprintf("%s/%s-%ld-XXXXXX", tmp_base(), prefix, (long)getpid());
    if (!mkdtemp(tmp)) {
        reel_set_error_errno("%s", tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}
