/* reel core: HTTP over libcurl — downloads with resume, JSON requests, retries with backoff.
 *
 * TLS certificates are always verified (there is no switch to turn that off), and only http and
 * https are spoken, redirects included. Transient
 * failures (connection refused or dropped, timeouts, HTTP 408/429/5xx) are retried with
 * exponential backoff, waiting at least what a Retry-After header asks; downloads resume from what
 * already arrived. Other HTTP errors fail at once with REEL_EHTTP and a message naming the URL and
 * status.
 *
 *     reel_http_opts o = reel_http_default_opts();
 *     o.progress = 1;
 *     if (reel_http_get_file(url, "model.gguf", &o) < 0)
 *         fprintf(stderr, "%s\n", reel_last_error());
 */
#ifndef REEL_CORE_HTTP_H
#define REEL_CORE_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct reel_http_opts {
    long connect_timeout_ms;    /* default 10000 */
    long timeout_ms;            /* whole request; 0 = no limit (default for downloads) */
    long stall_timeout_ms;      /* fail if no byte arrives for this long; default 30000; 0 = off */
    int retries;                /* extra attempts after a transient failure; default 4 */
    long backoff_ms;            /* first wait between attempts, doubled each time; default 500 */
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    const char *bearer_token;   /* adds "Authorization: Bearer ..." if set */
    const char *expect_sha256;  /* get_file: hex digest the finished file must have, or NULL */
    int progress;               /* get_file: show a progress display on stderr */
    int keep_part_on_mismatch;  /* get_file: keep "path.part" when the checksum differs */
    long *status;               /* get_file: receives the last HTTP status (0: none), if set */
    /* get_file: called as bytes arrive with the bytes in the file so far and its expected
     * size (0 while unknown); the caller's own display instead of `progress`. */
    void (*on_progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    /* get: receives the URL of the answer's `Link: <URL>; rel="next"` header (the next page of
     * a paginated listing; malloc'd, NULL when there is none), if set. */
    char **next_page;
    /* get_file: a buffer of REEL_SHA256_HEX_SIZE bytes that receives the SHA-256 a server
     * vouched for in an X-Linked-Etag header on the way (the Hugging Face hub's resolve
     * answer), "" if none, if set; without expect_sha256 the download must then match it. */
    char *linked_sha256;
    /* A 429 or 503 answer's Retry-After (seconds) lengthens the wait before the next attempt,
     * up to this many milliseconds; default 60000. */
    long retry_after_max_ms;
    int no_redirects; /* 1: a 3xx answer is the answer (redirects are followed by default) */
    /* Called while a request runs (as often as every 50 ms, about once a second at the
     * slowest): non-zero stops the request with REEL_ECANCELED. */
    int (*on_tick)(void *ctx);
    void *tick_ctx;
} reel_http_opts;

/* The target of the rel="next" link in a Link header value, made absolute against base (the
 * URL that was fetched), into *out (malloc'd), or *out = NULL when there is none. A next link
 * on another scheme, host or port than base is refused (REEL_EFORMAT): a listing must not send
 * the caller's credentials elsewhere. */
int reel_http_link_next(const char *value, const char *base, char **out);

/* The SHA-256 in an X-Linked-Etag header value (64 hex digits, quotes and a W/ prefix
 * allowed), lowercase into out (REEL_SHA256_HEX_SIZE bytes); 0, or REEL_EFORMAT when it is not
 * one (out is then ""). */
int reel_http_linked_sha256(const char *value, char *out);

/* Defaults as documented above. */
reel_http_opts reel_http_default_opts(void);

/* Downloads url to path. Bytes land in "path.part", which a later call resumes with a Range
 * request; once complete (and the checksum matches, if given) it is fsync'ed and renamed to
 * path. On failure the .part file is kept for the next try (removed on a checksum mismatch,
 * unless keep_part_on_mismatch). o may be NULL for defaults. */
int reel_http_get_file(const char *url, const char *path, const reel_http_opts *o);

/* GET into memory: *body (NUL-terminated, owned by the caller) and *size; *status gets the HTTP
 * status. Statuses >= 400 fail with REEL_EHTTP after retries (body still returned if non-NULL
 * out-pointers are given). At most 256 MiB. */
int reel_http_get(const char *url, const reel_http_opts *o, char **body, size_t *size,
                  long *status);

/* POSTs body as application/json and parses the answer as JSON into *response (owned by the
 * caller). A non-JSON answer fails with REEL_EFORMAT quoting its start; HTTP >= 400 fails with
 * REEL_EHTTP quoting the server's message. status may be NULL. */
int reel_http_post_json(const char *url, const json_t *body, const reel_http_opts *o,
                        json_t **response, long *status);

/* POSTs body as JSON and hands each received chunk to on_data as it arrives (streaming answers
 * such as server-sent events). on_data returns 0 to go on, non-zero to stop (REEL_ECANCELED).
 * No retry once a byte has been delivered. */
int reel_http_post_stream(const char *url, const json_t *body, const reel_http_opts *o,
                          int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                          long *status);

/* One request of any body and method ("GET" or "POST"; body NULL for none, sent with
 * content_type), the answer handed to on_data as it arrives like reel_http_post_stream. */
int reel_http_request_stream(const char *method, const char *url, const char *content_type,
                             const char *body, size_t body_len, const reel_http_opts *o,
                             int (*on_data)(void *ctx, const char *data, size_t size), void *ctx,
                             long *status);

/* Splits an http or https URL: *host (IPv6 without brackets; free()) and *port (the scheme's
 * default when the URL has none). REEL_EINVAL quoting the URL when it is not an http(s) URL with
 * a host. */
int reel_http_url_host(const char *url, char **host, int *port);

/* 1 if host names this machine without asking DNS: "localhost" (or a name under it),
 * 127.0.0.0/8, ::1. */
int reel_http_host_is_loopback(const char *host);

#endif
