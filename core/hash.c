#include "core/hash.h"
#include "core/error.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reel_sha256 {
    EVP_MD_CTX *ctx;
};

reel_sha256 *reel_sha256_init(void)
{
    reel_sha256 *h = malloc(sizeof *h);
    if (!h || !(h->ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL)) {
        fprintf(stderr, "reel: out of memory creating a SHA-256 context\n");
        abort();
    }
    return h;
}

void reel_sha256_update(reel_sha256 *h, const void *data, size_t size)
{
    if (size) EVP_DigestUpdate(h->ctx, data, size);
}

void reel_sha256_final(reel_sha256 *h, uint8_t out[REEL_SHA256_SIZE])
{
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, out, &n);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void reel_sha256_buf(const void *data, size_t size, uint8_t out[REEL_SHA256_SIZE])
{
    reel_sha256 *h = reel_sha256_init();
    reel_sha256_update(h, data, size);
    reel_sha256_final(h, out);
}

int reel_sha256_file(const char *path, uint8_t out[REEL_SHA256_SIZE])
{
    FILE *f = fopen(path, "rb");
    if (!f) return reel_set_error_errno("%s", path);
    reel_sha256 *h = reel_sha256_init();
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) reel_sha256_update(h, buf, n);
    int err = ferror(f);
    fclose(f);
    reel_sha256_final(h, out);
    if (err) return reel_set_error(REEL_EIO, "%s: read error", path);
    return 0;
}

char *reel_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int reel_unhex(const char *hex, uint8_t *bytes, size_t n)
{
    if (strlen(hex) != 2 * n) return reel_set_error(REEL_EFORMAT, "expected %zu hex digits", 2 * n);
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return reel_set_error(REEL_EFORMAT, "bad hex digit at %zu", 2 * i);
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
