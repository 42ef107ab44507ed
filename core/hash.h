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

/* Lowercase hex of n bytes into out (2n+1 bytes). Returns out. */
char *reel_hex(const uint8_t *bytes, size_t n, char *out);

/* Parses 2n hex digits into n bytes; REEL_EFORMAT if the text is not exactly that. */
int reel_unhex(const char *hex, uint8_t *bytes, size_t n);

#endif
