/* reel core: SHA-256 (OpenSSL libcrypto), one-shot and streaming, and hex encoding.
 * Used for cache keys, model identity and download checksums. */
#ifndef REEL_CORE_HASH_H
#define REEL_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define REEL_SHA256_SIZE     32
#define REEL_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */

typedef struct reel_sha256 reel_sha256;

/* Streaming hash: init, update any number of times, final (which frees the context).
 * init aborts on OOM (small allocation). */
reel_sha256 *reel_sha256_init(void);
void reel_sha256_update(reel_sha256 *h, const void *data, size_t size);
void reel_sha256_final(reel_sha256 *h, uint8_t out[REEL_SHA256_SIZE]);

/* One-shot digest of a buffer. */
void reel_sha256_buf(const void *data, size_t size, uint8_t out[REEL_SHA256_SIZE]);

/* Digest of a file's contents; REEL_ENOTFOUND/REEL_EIO on failure. */
int reel_sha256_file(const char *path, uint8_t out[REEL_SHA256_SIZE]);

/* SHA-256 of a file that is being written, computed on a thread of its own behind the writer
 * (core/hash-follow.c), so that a download is hashed while it arrives without slowing the
 * thread that receives it. The hasher reads the file from byte 0 as the writer reports it
 * grown; the bytes reported must already be in the file (written, not buffered).
 *
 *     reel_sha256_follow *f = reel_sha256_follow_start("model.gguf.part");
 *     ... write(fd, buf, n); reel_sha256_follow_grow(f, total_written); ...
 *     if (reel_sha256_follow_finish(f, digest) < 0) ...   // waits for the rest, then frees */
typedef struct reel_sha256_follow reel_sha256_follow;

/* Starts hashing path from its first byte; NULL with REEL_EIO (message set) if it cannot be
 * opened or the thread cannot start. */
reel_sha256_follow *reel_sha256_follow_start(const char *path);
/* The file now holds size bytes (never less than before). */
void reel_sha256_follow_grow(reel_sha256_follow *f, uint64_t size);
/* Hashes up to the last size reported, then frees f: 0 with the digest in out, or REEL_EIO
 * (message set) when the file could not be read that far. */
int reel_sha256_follow_finish(reel_sha256_follow *f, uint8_t out[REEL_SHA256_SIZE]);
/* Stops and frees f without a digest (NULL is fine). */
void reel_sha256_follow_cancel(reel_sha256_follow *f);

/* Lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *reel_hex(const uint8_t *bytes, size_t n, char *out);

/* Parses 2n hex digits into n bytes; REEL_EFORMAT if the text is not exactly that. */
int reel_unhex(const char *hex, uint8_t *bytes, size_t n);

#endif
