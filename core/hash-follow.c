/* SHA-256 of a growing file on a thread of its own (core/hash.h, reel_sha256_follow_*). */
#include "core/alloc.h"
#include "core/error.h"
#include "core/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { FOLLOW_CHUNK = 1 << 20 };

struct reel_sha256_follow {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    uint64_t avail;  /* bytes the writer has reported */
    uint64_t hashed; /* bytes hashed so far */
    int finishing;   /* no more growth: hash up to avail and stop */
    int stop;        /* abandon */
    int err;         /* errno of a failed read, or -1 for a file shorter than reported */
    reel_sha256 *h;
    char *path;
};

static void *follow(void *arg)
{
    reel_sha256_follow *f = arg;
    char *buf = reel_xmalloc(FOLLOW_CHUNK);
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && !f->finishing && f->hashed == f->avail)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop || f->hashed == f->avail) break; /* abandoned, or finished and caught up */
        const uint64_t at = f->hashed, left = f->avail - at;
        const size_t n = left < FOLLOW_CHUNK ? (size_t)left : FOLLOW_CHUNK;
        pthread_mutex_unlock(&f->mu);
        const ssize_t got = pread(f->fd, buf, n, (off_t)at);
        if (got > 0) reel_sha256_update(f->h, buf, (size_t)got);
        pthread_mutex_lock(&f->mu);
        if (got <= 0) {
            f->err = got < 0 ? errno : -1;
            break;
        }
        f->hashed += (uint64_t)got;
    }
    pthread_mutex_unlock(&f->mu);
    free(buf);
    return NULL;
}

reel_sha256_follow *reel_sha256_follow_start(const char *path)
{
    reel_sha256_follow *f = reel_xcalloc(1, sizeof *f);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        reel_set_error_errno("%s: opening it to hash", path);
        free(f);
        return NULL;
    }
    f->path = reel_xstrdup(path);
    f->h = reel_sha256_init();
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, follow, f) != 0) {
        reel_set_error(REEL_EIO, "%s: cannot start the hashing thread", path);
        uint8_t discard[REEL_SHA256_SIZE];
        reel_sha256_final(f->h, discard);
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        close(f->fd);
        free(f->path);
        free(f);
        return NULL;
    }
    return f;
}

void reel_sha256_follow_grow(reel_sha256_follow *f, uint64_t size)
{
    pthread_mutex_lock(&f->mu);
    if (size > f->avail) {
        f->avail = size;
        pthread_cond_signal(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
}

static int stop_and_free(reel_sha256_follow *f, int finish, uint8_t out[REEL_SHA256_SIZE])
{
    pthread_mutex_lock(&f->mu);
    if (finish)
        f->finishing = 1;
    else
        f->stop = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    int rc = 0;
    uint8_t discard[REEL_SHA256_SIZE];
    if (finish && (f->err || f->hashed != f->avail)) {
        errno = f->err > 0 ? f->err : EIO;
        rc = f->err > 0 ? reel_set_error_errno("%s: reading it back to hash", f->path)
                        : reel_set_error(REEL_EIO, "%s: shorter than the %llu bytes written",
                                         f->path, (unsigned long long)f->avail);
    }
    reel_sha256_final(f->h, finish && rc == 0 ? out : discard);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    close(f->fd);
    free(f->path);
    free(f);
    return rc;
}

int reel_sha256_follow_finish(reel_sha256_follow *f, uint8_t out[REEL_SHA256_SIZE])
{
    return stop_and_free(f, 1, out);
}

void reel_sha256_follow_cancel(reel_sha256_follow *f)
{
    if (f) stop_and_free(f, 0, NULL);
}
