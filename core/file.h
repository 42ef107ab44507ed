/* reel core: files — read-only memory maps, whole-file reads, atomic writes, mkdir -p.
 *
 * Atomic writes never leave a half-written file under the final name: data goes to a temporary
 * file in the same folder ("NAME.tmp-XXXXXX"), is flushed and fsync'ed, then renamed over NAME
 * and the folder is fsync'ed. A failure or an abort removes the temporary file.
 */
#ifndef REEL_CORE_FILE_H
#define REEL_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A read-only mapping of a whole file. data is NULL for an empty file. */
typedef struct reel_file_map {
    const void *data;
    size_t size;
} reel_file_map;

/* Maps path read-only. Returns 0, or REEL_ENOTFOUND / REEL_EIO with a message naming path. */
int reel_file_map_open(reel_file_map *map, const char *path);
/* Unmaps; safe on a zeroed or already-closed map. */
void reel_file_map_close(reel_file_map *map);

/* Reads a whole file into a new NUL-terminated buffer (*data owned by the caller, free()).
 * Files larger than max_size fail with REEL_ERANGE (max_size 0 = no limit). */
int reel_file_read(const char *path, size_t max_size, char **data, size_t *size);

/* Writes size bytes to path atomically (temp + fsync + rename). */
int reel_file_write_atomic(const char *path, const void *data, size_t size);

/* Streaming atomic writer: write through fp, then commit (or abort). */
typedef struct reel_afile {
    FILE *fp;       /* write here */
    char *path;     /* final name (owned) */
    char *tmp_path; /* temporary name (owned) */
} reel_afile;

/* Creates the temporary file next to path. */
int reel_afile_open(reel_afile *af, const char *path);
/* Flushes, fsyncs, renames to the final name, fsyncs the folder; frees af's strings. On failure
 * the temporary file is removed. */
int reel_afile_commit(reel_afile *af);
/* Closes and removes the temporary file; safe to call twice or after a commit. */
void reel_afile_abort(reel_afile *af);

/* Creates path and its missing parents (like mkdir -p), mode 0755. Existing folders are fine. */
int reel_mkdir_p(const char *path);

/* 1 if path exists (any type), 0 otherwise. */
int reel_file_exists(const char *path);

/* Size of the file at path in *size. */
int reel_file_size(const char *path, uint64_t *size);

#endif
