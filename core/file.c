#include "core/file.h"
#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int reel_file_map_open(reel_file_map *map, const char *path)
{
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return reel_set_error_errno("%s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = reel_set_error_errno("%s: stat", path);
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return reel_set_error(REEL_EIO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int rc = reel_set_error_errno("%s: mmap", path);
            close(fd);
            return rc;
        }
        map->data = p;
        map->size = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void reel_file_map_close(reel_file_map *map)
{
    if (map->data) munmap((void *)map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

int reel_file_read(const char *path, size_t max_size, char **data, size_t *size)
{
    *data = NULL;
    if (size) *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return reel_set_error_errno("%s", path);
    size_t cap = 4096, n = 0;
    char *buf = reel_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (max_size && cap >= max_size) {
                free(buf);
                fclose(f);
                return reel_set_error(REEL_ERANGE, "%s: larger than %zu bytes", path, max_size);
            }
            cap *= 2;
            buf = reel_xrealloc(buf, cap + 1);
        }
        size_t want = cap - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return reel_set_error(REEL_EIO, "%s: read error", path);
    }
    if (max_size && n > max_size) {
        free(buf);
        return reel_set_error(REEL_ERANGE, "%s: larger than %zu bytes", path, max_size);
    }
    buf[n] = '\0';
    *data = buf;
    if (size) *size = n;
    return 0;
}

int reel_afile_open(reel_afile *af, const char *path)
{
    memset(af, 0, sizeof *af);
    af->path = reel_xstrdup(path);
    af->tmp_path = reel_xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkostemp(af->tmp_path, O_CLOEXEC);
    if (fd < 0) {
        int rc = reel_set_error_errno("%s: cannot create temporary file", path);
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return rc;
    }
    fchmod(fd, 0644);
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int rc = reel_set_error_errno("%s: fdopen", path);
        close(fd);
        unlink(af->tmp_path);
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return rc;
    }
    return 0;
}

static void fsync_parent(const char *path)
{
    char *copy = reel_xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int reel_afile_commit(reel_afile *af)
{
    if (!af->fp) return reel_set_error(REEL_EINVAL, "atomic file: commit without open");
    int rc = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp))
        rc = reel_set_error_errno("%s: write", af->path);
    else if (fsync(fileno(af->fp)) != 0)
        rc = reel_set_error_errno("%s: fsync", af->path);
    if (fclose(af->fp) != 0 && rc == 0) rc = reel_set_error_errno("%s: close", af->path);
    af->fp = NULL;
    if (rc == 0 && rename(af->tmp_path, af->path) != 0)
        rc = reel_set_error_errno("%s: rename from %s", af->path, af->tmp_path);
    if (rc == 0)
        fsync_parent(af->path);
    else
        unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return rc;
}

void reel_afile_abort(reel_afile *af)
{
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

int reel_file_write_atomic(const char *path, const void *data, size_t size)
{
    reel_afile af;
    int rc = reel_afile_open(&af, path);
    if (rc < 0) return rc;
    if (size && fwrite(data, 1, size, af.fp) != size) {
        rc = reel_set_error_errno("%s: write", path);
        reel_afile_abort(&af);
        return rc;
    }
    return reel_afile_commit(&af);
}

int reel_mkdir_p(const char *path)
{
    if (!path || !*path) return reel_set_error(REEL_EINVAL, "mkdir: empty path");
    char *p = reel_xstrdup(path);
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') p[--len] = '\0';
    for (char *s = p + 1;; s++) {
        int end = *s == '\0';
        if (*s == '/' || end) {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int rc = reel_set_error_errno("%s: mkdir", p);
                free(p);
                return rc;
            }
            struct stat st;
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                int rc = reel_set_error(REEL_EIO, "%s: exists and is not a folder", p);
                free(p);
                return rc;
            }
            *s = c;
        }
        if (end) break;
    }
    free(p);
    return 0;
}

int reel_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int reel_file_size(const char *path, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0) return reel_set_error_errno("%s", path);
    *size = (uint64_t)st.st_size;
    return 0;
}
