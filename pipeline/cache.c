/* The content-addressed stage cache.
 *
 * Layout:  DIR/ab/abcdef...<ext>     finished output of the node whose key starts with "ab"
 *          DIR/ab/abcdef....meta.json  its record: {"sha256", "size", "ext"} when written
 *          DIR/tmp/<key>-<pid>-<n><ext>  a stage being written (renamed into place when done)
 *
 * A file under its final name is always complete: stages write to tmp/, and the rename happens
 * only after the stage returned 0, the data was fsync'ed and its record written (atomically,
 * before the rename). A run killed at any moment leaves at worst files in tmp/, which the next
 * run removes when their process is gone, or a record without its file, which is rewritten.
 *
 * Nothing under the final name is trusted: before an entry is used its size and SHA-256 are
 * checked against the record, and an entry that is truncated, changed or has no record is
 * removed and its node runs again. The record guards against damage (a full disk, a copy cut
 * short, a hand edit), not against someone who can write the cache and so the records too. */
#include "pipeline/cache-impl.h"

#include "core/core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
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
    for (size_t i = 0; i < c->cap; i++) free(c->verified[i]);
    free(c->verified);
    c->verified = NULL;
    c->cap = c->count = 0;
    pthread_mutex_destroy(&c->mu);
}

/* ---- keys verified in this process ---------------------------------------------------------- */
static size_t slot_of(char *const *set, size_t cap, const char *key)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *k = key; *k; k++) h = (h ^ (unsigned char)*k) * 1099511628211u;
    size_t i = h & (cap - 1);
    while (set[i] && strcmp(set[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static int is_verified(reeli_cache *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    int yes = c->cap && c->verified[slot_of(c->verified, c->cap, key)] != NULL;
    pthread_mutex_unlock(&c->mu);
    return yes;
}

static void set_verified(reeli_cache *c, const char *key, int yes)
{
    pthread_mutex_lock(&c->mu);
    if (yes && 2 * (c->count + 1) > c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        char **set = reel_xcalloc(cap, sizeof *set);
        for (size_t i = 0; i < c->cap; i++)
            if (c->verified[i]) set[slot_of(set, cap, c->verified[i])] = c->verified[i];
        free(c->verified);
        c->verified = set;
        c->cap = cap;
    }
    if (c->cap) {
        size_t i = slot_of(c->verified, c->cap, key);
        if (yes && !c->verified[i]) {
            c->verified[i] = reel_xstrdup(key);
            c->count++;
        } else if (!yes && c->verified[i]) {
            /* removing from linear probing: reinsert the rest of the cluster */
            free(c->verified[i]);
            c->verified[i] = NULL;
            c->count--;
            for (size_t j = (i + 1) & (c->cap - 1); c->verified[j]; j = (j + 1) & (c->cap - 1)) {
                char *k = c->verified[j];
                c->verified[j] = NULL;
                c->verified[slot_of(c->verified, c->cap, k)] = k;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
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

char *reeli_cache_meta_path(const char *dir, const char *key)
{
    return reel_xasprintf("%s/%.2s/%s.meta.json", dir, key, key);
}

int reeli_cache_verify_file(const char *path, const char *meta_path, char **why)
{
    *why = NULL;
    json_t *m = reel_json_load_file(meta_path, 1 << 16);
    if (!m) {
        reel_clear_error();
        *why = reel_xstrdup(reel_file_exists(meta_path) ? "its record is unreadable"
                                                        : "no record of what was written");
        return REEL_EFORMAT;
    }
    const char *want = json_string_value(json_object_get(m, "sha256"));
    json_t *sz = json_object_get(m, "size");
    struct stat st;
    int rc = 0;
    if (!want || strlen(want) != 64 || !json_is_integer(sz)) {
        *why = reel_xstrdup("its record is unreadable");
        rc = REEL_EFORMAT;
    } else if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = reel_xstrdup("the file is missing");
        rc = REEL_EFORMAT;
    } else if ((json_int_t)st.st_size != json_integer_value(sz)) {
        *why = reel_xasprintf("size %lld bytes, %lld bytes when written", (long long)st.st_size,
                              (long long)json_integer_value(sz));
        rc = REEL_EFORMAT;
    } else {
        uint8_t d[REEL_SHA256_SIZE];
        char hex[REEL_SHA256_HEX_SIZE];
        if (reel_sha256_file(path, d) < 0) {
            *why = reel_xasprintf("cannot be read: %s", reel_last_error());
            reel_clear_error();
            rc = REEL_EFORMAT;
        } else if (strcmp(reel_hex(d, sizeof d, hex), want) != 0) {
            *why = reel_xasprintf("content changed: SHA-256 %.16s..., %.16s... when written", hex,
                                  want);
            rc = REEL_EFORMAT;
        }
    }
    json_decref(m);
    return rc;
}

int reeli_cache_check(reeli_cache *c, const char *key, const char *ext, char **why)
{
    if (why) *why = NULL;
    char *p = reeli_cache_path(c, key, ext);
    struct stat st;
    if (stat(p, &st) != 0) {
        free(p);
        return 0;
    }
    if (is_verified(c, key) && S_ISREG(st.st_mode)) {
        free(p);
        return 1;
    }
    char *meta = reeli_cache_meta_path(c->dir, key);
    char *reason = NULL;
    int ok;
    if (!S_ISREG(st.st_mode)) {
        reason = reel_xstrdup("not a regular file");
        ok = -1;
    } else {
        ok = reeli_cache_verify_file(p, meta, &reason) == 0 ? 1 : -1;
    }
    if (ok == 1) {
        set_verified(c, key, 1);
        utimensat(AT_FDCWD, meta, NULL, 0); /* last use, for `reel cache gc --older-than` */
    } else {
        unlink(p);
        unlink(meta);
    }
    free(meta);
    free(p);
    if (why)
        *why = reason;
    else
        free(reason);
    return ok;
}

int reeli_cache_has(reeli_cache *c, const char *key, const char *ext)
{
    char *why;
    int ok = reeli_cache_check(c, key, ext, &why);
    if (ok < 0) REEL_LOGW("cache: entry %.16s... %s: %s; it is made again", key, ext, why);
    free(why);
    return ok == 1;
}

/* Writes key's record for a file of size bytes with digest d, atomically. */
static int write_meta(reeli_cache *c, const char *key, const char *ext, uint64_t size,
                      const uint8_t d[REEL_SHA256_SIZE])
{
    char hex[REEL_SHA256_HEX_SIZE];
    json_t *m = json_object();
    json_object_set_new(m, "sha256", json_string(reel_hex(d, REEL_SHA256_SIZE, hex)));
    json_object_set_new(m, "size", json_integer((json_int_t)size));
    json_object_set_new(m, "ext", json_string(ext));
    char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    char *meta = reeli_cache_meta_path(c->dir, key);
    int rc = text ? reel_file_write_atomic(meta, text, strlen(text))
                  : reel_set_error(REEL_ENOMEM, "out of memory");
    free(meta);
    free(text);
    return rc;
}

int reeli_cache_put(reeli_cache *c, const char *key, const char *ext, const void *data, size_t size)
{
    char *sub = reel_xasprintf("%s/%.2s", c->dir, key);
    int rc = reel_mkdir_p(sub);
    free(sub);
    if (rc < 0) return rc;
    uint8_t d[REEL_SHA256_SIZE];
    reel_sha256_buf(data, size, d);
    set_verified(c, key, 0);
    rc = write_meta(c, key, ext, size, d);
    char *final = reeli_cache_path(c, key, ext);
    if (rc == 0) rc = reel_file_write_atomic(final, data, size);
    free(final);
    if (rc == 0) set_verified(c, key, 1);
    return rc;
}

static int fsync_path(const char *path, int dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return reel_set_error_errno("%s", path);
    int rc = fsync(fd) == 0 || dir ? 0 : reel_set_error_errno("%s: fsync", path);
    close(fd);
    return rc;
}

int reeli_cache_commit(reeli_cache *c, const char *tmp, const char *key, const char *ext)
{
    struct stat st;
    if (stat(tmp, &st) != 0 || !S_ISREG(st.st_mode))
        return reel_set_error(REEL_EIO, "the stage reported success but wrote no file %s", tmp);
    int rc = fsync_path(tmp, 0);
    if (rc < 0) return rc;
    uint8_t d[REEL_SHA256_SIZE];
    if ((rc = reel_sha256_file(tmp, d)) < 0) return rc;
    char *sub = reel_xasprintf("%s/%.2s", c->dir, key);
    rc = reel_mkdir_p(sub);
    set_verified(c, key, 0);
    if (rc == 0) rc = write_meta(c, key, ext, (uint64_t)st.st_size, d);
    char *final = reeli_cache_path(c, key, ext);
    if (rc == 0 && rename(tmp, final) != 0) rc = reel_set_error_errno("cache: rename to %s", final);
    if (rc == 0) fsync_path(sub, 1);
    if (rc == 0) set_verified(c, key, 1);
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
