/* reel pipeline: private header of the content-addressed stage cache (cache.c). */
#ifndef REEL_PIPELINE_CACHE_IMPL_H
#define REEL_PIPELINE_CACHE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reeli_cache {
    char *dir; /* absolute */
    /* keys verified (or written) by this process, so each entry is hashed at most once a run */
    pthread_mutex_t mu;
    char **verified; /* open-addressing set of owned keys */
    size_t cap, count;
} reeli_cache;

/* Creates the folder (and tmp/) and removes temporary files left by dead processes. */
int reeli_cache_open(reeli_cache *c, const char *dir);
void reeli_cache_close(reeli_cache *c);
/* Final path of key+ext (owned by the caller). */
char *reeli_cache_path(const reeli_cache *c, const char *key, const char *ext);
/* A fresh temporary path for key+ext, unique in this process (owned). */
char *reeli_cache_tmp_path(const reeli_cache *c, const char *key, const char *ext);
/* Looks key+ext up and verifies it against its record (DIR/ab/<key>.meta.json: SHA-256 and
 * size, written when the entry was). Returns 1 if present and intact, 0 if absent, -1 if it was
 * there but damaged, unrecorded or changed: the entry is then removed and *why (owned, may be
 * NULL) says what was wrong. Each key is hashed once per process. */
int reeli_cache_check(reeli_cache *c, const char *key, const char *ext, char **why);
/* reeli_cache_check() == 1; a damaged entry is removed with a warning. */
int reeli_cache_has(reeli_cache *c, const char *key, const char *ext);
/* fsyncs tmp, records its hash and size (re-reading it once: the stages write through libav
 * muxers, which do not stream through us), then renames it to the final name of key. */
int reeli_cache_commit(reeli_cache *c, const char *tmp, const char *key, const char *ext);
/* Stores size bytes as the entry key+ext, with its record (for outputs made in memory). */
int reeli_cache_put(reeli_cache *c, const char *key, const char *ext, const void *data,
                    size_t size);
/* Path of key's record (owned). */
char *reeli_cache_meta_path(const char *dir, const char *key);
/* Checks the file at path against the record at meta_path; 0, or REEL_EFORMAT with *why (owned)
 * saying what differs. */
int reeli_cache_verify_file(const char *path, const char *meta_path, char **why);
/* Copies a cached file to dest atomically (temp + rename), creating dest's folder. */
int reeli_cache_export(const char *src, const char *dest);

#endif
