/* The content-addressed stage cache.
 *
 * Layout:  DIR/ab/abcdef...<ext>     finished output of the node whose key starts with "ab"
 *          DIR/tmp/<key>-<pid>-<n><ext>  a stage being written (renamed into place when done)
 *
 * A file under its final name is always complete: stages write to tmp/, and the rename happens
 * only after the stage returned 0 and the data was fsync'ed. A run killed at any moment leaves
 * at worst files in tmp/, which the next run removes when their process is gone. */
#include "pipeline/cache-impl.h"

#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint tmp_counter;

/* Removes tmp/ files whose writer process no longer exists. */
static void sweep_tmp(const char *tmpdir)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        /* <64 hex>-<pid>-<n><ext> */
        const char *dash = strchr(e->d_name, '-');
        if (!dash) continue;
        long pid = strtol(dash + 1, NULL, 10);
        if (pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue; /* another live run is writing it */
        char *p = reel_xasprintf("%s/%s", tmpdir, e->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
}

int reeli_cache_open(reeli_cache *c, const char *dir)
{
    c->dir = NULL;
    int rc = reel_mkdir_p(dir);
    if (rc < 0) return reel_error_prefix("cache folder");
    char real[PATH_MAX];
    if (!realpath(dir, real)) return reel_set_error_errno("cache folder %s", dir);
    char *tmp = reel_xasprintf("%s/tmp", real);
    rc = reel_mkdir_p(tmp);
    if (rc == 0) sweep_tmp(tmp);
    free(tmp);
    if (rc < 0) return reel_error_prefix("cache folder");
    c->dir = reel_xstrdup(real);
    return 0;
}

void reeli_cache_close(reeli_cache *c)
{
    free(c->dir);
    c->dir = NULL;
}

char *reeli_cache_path(const reeli_cache *c, const char *key, const char *ext)
{
    return reel_xasprintf("%s/%.2s/%s%s", c->dir, key, key, ext);
}

char *reeli_cache_tmp_path(const reeli_cache *c, const char *key, const char *ext)
{
    unsigned n = atomic_fetch_add(&tmp_counter, 1);
    return reel_xasprintf("%s/tmp/%s-%ld-%u%s", c->dir, key, (long)getpid(), n, ext);
}

int reeli_cache_has(const reeli_cache *c, const char *key, const char *ext)
{
    char *p = reeli_cache_path(c, key, ext);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return reel_set_error_errno("%s", path);
    int rc = fsync(fd) == 0 || dir ? 0 : reel_set_error_errno("%s: fsync", path);
    close(fd);
    return rc;
}

int reeli_cache_commit(const reeli_cache *c, const char *tmp, const char *key, const char *ext)
{
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISREG(st.st_mode))
        return reel_set_error(REEL_EIO, "the stage reported success but wrote no file %s", tmp);
    int rc = fsync_path(tmp, 0);
    if (rc < 0) return rc;
    char *sub = reel_xasprintf("%s/%.2s", c->dir, key);
    rc = reel_mkdir_p(sub);
    char *final = reeli_cache_path(c, key, ext);
    if (rc == 0 && rename(tmp, final) != 0) rc = reel_set_error_errno("cache: rename to %s", final);
    if (rc == 0) fsync_path(sub, 1);
    free(final);
    free(sub);
    return rc;
}

int reeli_cache_export(const char *src, const char *dest)
{
    char *dir = reel_xstrdup(dest);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = reel_mkdir_p(dir);
    }
    free(dir);
    if (rc < 0) return rc;
    FILE *in = fopen(src, "rb");
    if (!in) return reel_set_error_errno("%s", src);
    reel_afile af;
    rc = reel_afile_open(&af, dest);
    if (rc < 0) {
        fclose(in);
        return rc;
    }
    char buf[1 << 16];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, k, af.fp) != k) {
            rc = reel_set_error_errno("%s: write", dest);
            break;
        }
    }
    if (rc == 0 && ferror(in)) rc = reel_set_error_errno("%s: read", src);
    fclose(in);
    if (rc < 0) {
        reel_afile_abort(&af);
        return rc;
    }
    return reel_afile_commit(&af);
}
