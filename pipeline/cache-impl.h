/* reel pipeline: private header of the content-addressed stage cache (cache.c). */
#ifndef REEL_PIPELINE_CACHE_IMPL_H
#define REEL_PIPELINE_CACHE_IMPL_H

typedef struct reeli_cache {
    char *dir; /* absolute */
} reeli_cache;

/* Creates the folder (and tmp/) and removes temporary files left by dead processes. */
int reeli_cache_open(reeli_cache *c, const char *dir);
void reeli_cache_close(reeli_cache *c);
/* Final path of key+ext (owned by the caller). */
char *reeli_cache_path(const reeli_cache *c, const char *key, const char *ext);
/* A fresh temporary path for key+ext, unique in this process (owned). */
char *reeli_cache_tmp_path(const reeli_cache *c, const char *key, const char *ext);
/* 1 if the finished output of key is present. */
int reeli_cache_has(const reeli_cache *c, const char *key, const char *ext);
/* fsyncs tmp and renames it to the final name of key. */
int reeli_cache_commit(const reeli_cache *c, const char *tmp, const char *key, const char *ext);
/* Copies a cached file to dest atomically (temp + rename), creating dest's folder. */
int reeli_cache_export(const char *src, const char *dest);

#endif
