/* Cache maintenance behind `reel cache verify` and `reel cache gc` (pipeline.h): walks a cache
 * folder laid out as pipeline/cache.c describes, checks entries against their records and
 * removes what is damaged, stray, old or over a size budget. */
#include "pipeline/cache-impl.h"
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A temporary of an atomic write ("NAME.tmp-XXXXXX") this old belongs to no live writer. */
#define STALE_TMP_S 3600

typedef struct entry {
    char *path, *meta; /* meta NULL: no record */
    int64_t size;
    time_t used; /* last use: the later of the file's and its record's mtime */
} entry;

typedef struct walk {
    entry *e;
    size_t n, cap;
    char **strays; /* files that belong to no entry */
    size_t n_strays, cap_strays;
} walk;

static int is_key(const char *name)
{
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)name[i]) || isupper((unsigned char)name[i])) return 0;
    return 1;
}

static void add_stray(walk *w, char *path)
{
    if (w->n_strays == w->cap_strays) {
        w->cap_strays = w->cap_strays ? 2 * w->cap_strays : 16;
        w->strays = reel_xrealloc(w->strays, w->cap_strays * sizeof *w->strays);
    }
    w->strays[w->n_strays++] = path;
}

static int dead_writer(const char *name)
{
    const char *dash = strchr(name, '-');
    long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
    if (pid <= 0) return 1;
    return !(kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* Lists the entries and stray files of cache folder dir. */
static int scan(const char *dir, walk *w)
{
    memset(w, 0, sizeof *w);
    struct stat st;
    char *tmpdir = reel_xasprintf("%s/tmp", dir);
    int looks = stat(tmpdir, &st) == 0 && S_ISDIR(st.st_mode);
    DIR *top = opendir(dir);
    if (!top) {
        free(tmpdir);
        return reel_set_error_errno("%s", dir);
    }
    struct dirent *e;
    int subs = 0;
    while ((e = readdir(top))) {
        const char *n = e->d_name;
        if (strlen(n) != 2 || !isxdigit((unsigned char)n[0]) || !isxdigit((unsigned char)n[1]))
            continue;
        subs++;
        char *sub = reel_xasprintf("%s/%s", dir, n);
        size_t first = w->n; /* this folder's entries */
        DIR *d = opendir(sub);
        struct dirent *f;
        while (d && (f = readdir(d))) {
            const char *name = f->d_name;
            if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
            char *path = reel_xasprintf("%s/%s", sub, name);
            size_t len = strlen(name);
            if (lstat(path, &st) != 0) {
                free(path);
                continue;
            }
            if (strstr(name, ".tmp-")) { /* an atomic write that never finished */
                if (time(NULL) - st.st_mtime > STALE_TMP_S)
                    add_stray(w, path);
                else
                    free(path);
                continue;
            }
            if (len > 10 && !strcmp(name + len - 10, ".meta.json")) {
                /* a record whose entry is missing is found below, from the entries' side */
                free(path);
                continue;
            }
            if (len < 64 || !is_key(name) || strncmp(name, n, 2) != 0) {
                free(path); /* not ours: left alone */
                continue;
            }
            if (w->n == w->cap) {
                w->cap = w->cap ? 2 * w->cap : 64;
                w->e = reel_xrealloc(w->e, w->cap * sizeof *w->e);
            }
            char key[65];
            memcpy(key, name, 64);
            key[64] = 0;
            char *meta = reeli_cache_meta_path(dir, key);
            struct stat ms;
            int has_meta = stat(meta, &ms) == 0;
            w->e[w->n++] =
                (entry){path, has_meta ? meta : NULL, (int64_t)st.st_size,
                        has_meta && ms.st_mtime > st.st_mtime ? ms.st_mtime : st.st_mtime};
            if (!has_meta) free(meta);
        }
        if (d) closedir(d);
        /* records without an entry */
        d = opendir(sub);
        while (d && (f = readdir(d))) {
            size_t len = strlen(f->d_name);
            if (len != 64 + 10 || strcmp(f->d_name + 64, ".meta.json") || !is_key(f->d_name))
                continue;
            int found = 0;
            for (size_t i = first; i < w->n && !found; i++)
                found = w->e[i].meta && !strcmp(strrchr(w->e[i].meta, '/') + 1, f->d_name);
            if (!found) add_stray(w, reel_xasprintf("%s/%s", sub, f->d_name));
        }
        if (d) closedir(d);
        free(sub);
    }
    closedir(top);
    if (!looks && subs == 0) {
        free(tmpdir);
        return reel_set_error(REEL_ENOTFOUND, "%s: not a reel cache folder (no tmp/ inside)", dir);
    }
    DIR *t = opendir(tmpdir);
    while (t && (e = readdir(t))) {
        if (e->d_name[0] == '.') continue;
        if (dead_writer(e->d_name)) add_stray(w, reel_xasprintf("%s/%s", tmpdir, e->d_name));
    }
    if (t) closedir(t);
    free(tmpdir);
    return 0;
}

static void walk_free(walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->e[i].path);
        free(w->e[i].meta);
    }
    free(w->e);
    for (size_t i = 0; i < w->n_strays; i++) free(w->strays[i]);
    free(w->strays);
}

static void remove_entry(const entry *e)
{
    unlink(e->path);
    if (e->meta) unlink(e->meta);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int reel_cache_verify(const char *dir, int fix, reel_cache_report_fn report, void *ctx,
                      reel_cache_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    walk w;
    int rc = scan(dir, &w);
    if (rc < 0) return rc;
    for (size_t i = 0; i < w.n; i++) {
        entry *e = &w.e[i];
        stats->entries++;
        stats->bytes += e->size;
        char *why = NULL;
        if (!e->meta)
            why = reel_xstrdup("no record of what was written");
        else
            reeli_cache_verify_file(e->path, e->meta, &why);
        if (!why) continue;
        stats->bad++;
        if (report) report(ctx, e->path, why, e->size);
        if (fix) {
            remove_entry(e);
            stats->removed++;
            stats->removed_bytes += e->size;
        }
        free(why);
    }
    walk_free(&w);
    return 0;
}

static int by_use(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return x->used < y->used ? -1 : x->used > y->used;
}

int reel_cache_gc(const char *dir, double older_than_days, int64_t max_bytes, int dry_run,
                  reel_cache_report_fn report, void *ctx, reel_cache_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    walk w;
    int rc = scan(dir, &w);
    if (rc < 0) return rc;
    for (size_t i = 0; i < w.n_strays; i++) {
        int64_t size = file_size(w.strays[i]);
        if (report) report(ctx, w.strays[i], "stray file", size);
        if (!dry_run) unlink(w.strays[i]);
        stats->removed++;
        stats->removed_bytes += size;
    }
    int64_t total = 0;
    for (size_t i = 0; i < w.n; i++) total += w.e[i].size;
    stats->entries = (int64_t)w.n;
    stats->bytes = total;
    qsort(w.e, w.n, sizeof *w.e, by_use); /* least recently used first */
    time_t now = time(NULL);
    for (size_t i = 0; i < w.n; i++) {
        entry *e = &w.e[i];
        const char *why = NULL;
        char buf[64];
        if (!e->meta) {
            why = "entry without a record";
        } else if (older_than_days >= 0 && difftime(now, e->used) > older_than_days * 86400) {
            snprintf(buf, sizeof buf, "unused for %.1f days", difftime(now, e->used) / 86400);
            why = buf;
        } else if (max_bytes >= 0 && total > max_bytes) {
            why = "over the size limit (least recently used)";
        }
        if (!why) continue;
        if (report) report(ctx, e->path, why, e->size);
        if (!dry_run) remove_entry(e);
        total -= e->size;
        stats->removed++;
        stats->removed_bytes += e->size;
    }
    walk_free(&w);
    return 0;
}
