/* The Hugging Face hub client: the tree listing, choosing the files, and resumable verified
 * downloads into the model store. */
#include "core/hub.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/hash.h"
#include "core/http.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define LISTING_MAX      ((size_t)64 << 20)

/* ---- the listing ---- */

static int hidden_part(const char *path)
{
    for (const char *p = path; p; p = strchr(p, '/')) {
        if (*p == '/') p++;
        if (*p == '.') return 1;
    }
    return 0;
}

/* lfs.oid as 64 lowercase hex digits ("sha256:" prefix allowed), or "" when it is not one. */
static void sha_of(const char *oid, char out[65])
{
    out[0] = '\0';
    if (!oid) return;
    if (strncmp(oid, "sha256:", 7) == 0) oid += 7;
    if (strlen(oid) != 64) return;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)oid[i])) {
            out[0] = '\0';
            return;
        }
        out[i] = (char)tolower((unsigned char)oid[i]);
    }
    out[64] = '\0';
}

int reel_hub_parse_tree(const char *text, size_t size, const char *where, reel_hub_file **files,
                        size_t *n)
{
    *files = NULL;
    *n = 0;
    json_t *v = reel_json_parse(text, size, where);
    if (!v) return reel_last_error_code();
    if (!json_is_array(v)) {
        json_decref(v);
        return reel_set_error(REEL_EFORMAT, "%s: expected a JSON array of files", where);
    }
    size_t cap = json_array_size(v), i;
    json_t *e;
    reel_hub_file *out = reel_xcalloc(cap ? cap : 1, sizeof *out);
    int rc = 0;
    json_array_foreach(v, i, e)
    {
        const char *path = json_string_value(json_object_get(e, "path"));
        const char *type = json_string_value(json_object_get(e, "type"));
        if (!json_is_object(e) || !path) {
            rc = reel_set_error(REEL_EFORMAT, "%s: entry %zu has no \"path\"", where, i);
            break;
        }
        if ((type && strcmp(type, "file") != 0) || !reel_store_path_ok(path) || hidden_part(path))
            continue;
        json_t *lfs = json_object_get(e, "lfs");
        json_int_t sz = json_integer_value(json_object_get(e, "size"));
        if (json_is_object(lfs) && json_is_integer(json_object_get(lfs, "size")))
            sz = json_integer_value(json_object_get(lfs, "size"));
        reel_hub_file *f = &out[(*n)++];
        f->path = reel_xstrdup(path);
        f->size = sz > 0 ? (uint64_t)sz : 0;
        sha_of(json_string_value(json_object_get(lfs, "oid")), f->sha256);
        const char *oid = json_string_value(json_object_get(e, "oid"));
        f->oid = reel_xstrdup(oid ? oid : "");
    }
    json_decref(v);
    if (rc < 0) {
        reel_hub_files_free(out, *n);
        *n = 0;
        return rc;
    }
    *files = out;
    return 0;
}

void reel_hub_files_free(reel_hub_file *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++) {
        free(files[i].path);
        free(files[i].oid);
    }
    free(files);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

size_t reel_hub_safetensors_set(const reel_hub_file *files, size_t n, size_t **pick)
{
    static const char *const wanted[] = {"config.json",
                                         "tokenizer.json",
                                         "tokenizer_config.json",
                                         "special_tokens_map.json",
                                         "generation_config.json",
                                         "chat_template.jinja",
                                         "model.safetensors.index.json"};
    size_t k = 0, weights = 0;
    *pick = reel_xcalloc(n ? n : 1, sizeof **pick);
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        if (strchr(p, '/')) continue; /* only the top level: "original/" and the like are not it */
        int want = ends_with(p, ".safetensors");
        weights += (size_t)want;
        for (size_t w = 0; w < sizeof wanted / sizeof *wanted; w++) want |= !strcmp(p, wanted[w]);
        if (want) (*pick)[k++] = i;
    }
    if (weights == 0) k = 0;
    return k;
}

/* ---- pulling ---- */

reel_hub_opts reel_hub_default_opts(void)
{
    reel_hub_opts o = {0};
    o.offline = -1;
    o.retries = 4;
    o.backoff_ms = 500;
    return o;
}

char *reel_hub_endpoint(const reel_hub_opts *o)
{
    const char *e = o && o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
    char *s = reel_xstrdup(e && *e ? e : DEFAULT_ENDPOINT);
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/') s[--n] = '\0';
    return s;
}

typedef struct pull {
    const reel_hub_opts *o;
    reel_model_ref ref;
    char *endpoint, *host, *dir;
    const char *token;
    reel_hub_event ev; /* the event being built, reused */
    const reel_hub_file *file;
    char linked[65]; /* the file's SHA-256 from X-Linked-Etag when the listing has none */
} pull;

static void emit(pull *p, reel_hub_event_kind kind)
{
    p->ev.kind = kind;
    if (p->o->on_event) p->o->on_event(p->o->ctx, &p->ev);
}

static void on_bytes(void *ctx, uint64_t done, uint64_t total)
{
    pull *p = ctx;
    p->ev.done = done;
    p->ev.total = total ? total : p->file->size;
    emit(p, REEL_HUB_FILE_BYTES);
}

/* The host part of the endpoint, for messages. */
static char *host_of(const char *endpoint)
{
    const char *s = strstr(endpoint, "://");
    s = s ? s + 3 : endpoint;
    size_t n = strcspn(s, "/?#");
    return reel_xasprintf("%.*s", (int)n, s);
}

/* The curl message of the last error without the "URL: " the HTTP layer puts first. */
static const char *net_reason(const char *url)
{
    const char *m = reel_last_error();
    size_t n = strlen(url);
    if (strncmp(m, url, n) == 0 && m[n] == ':' && m[n + 1] == ' ') return m + n + 2;
    return m;
}

/* Turns the HTTP layer's failure into a message saying what to do. what: "" for the listing, the
 * file's path for a download. */
static int explain(pull *p, int rc, long status, const char *url, const char *what)
{
    const char *repo = p->ref.repo;
    char reason[600];
    snprintf(reason, sizeof reason, "%s", net_reason(url));
    if (rc == REEL_ENET || rc == REEL_ETIMEDOUT) {
        if (*what)
            return reel_set_error(rc,
                                  "cannot reach %s while downloading %s (%s); what arrived is "
                                  "kept: run the same reel pull again to resume",
                                  p->host, what, reason);
        return reel_set_error(rc, "cannot reach %s (%s)", p->host, reason);
    }
    if (rc != REEL_EHTTP) return rc;
    if (status == 401 && p->token)
        return reel_set_error(rc,
                              "%s%s%s: the hub refused the token (HTTP 401): check HF_TOKEN or "
                              "--token",
                              repo, *what ? ": " : "", what);
    if (status == 401 && *what)
        return reel_set_error(rc,
                              "%s: %s needs a token (set HF_TOKEN or --token): the repository is "
                              "gated or private (HTTP 401)",
                              repo, what);
    if (status == 401)
        return reel_set_error(rc,
                              "%s needs a token (set HF_TOKEN or --token), or there is no such "
                              "repository on %s (HTTP 401)",
                              repo, p->host);
    if (status == 403)
        return reel_set_error(rc,
                              "%s is gated and this token has no access (HTTP 403): accept its "
                              "terms at %s/%s, then use a token of that account",
                              repo, p->endpoint, repo);
    if (status == 404 && *what)
        return reel_set_error(rc, "%s has no file %s on %s (HTTP 404)", repo, what, p->host);
    if (status == 404)
        return reel_set_error(rc, "there is no repository %s on %s (HTTP 404): check the name",
                              repo, p->host);
    return reel_set_error(rc, "%s%s%s: the hub answered HTTP %ld (%s)", repo, *what ? ": " : "",
                          what, status, reason);
}

/* Percent-encodes a repository path for a URL, keeping its '/'. */
static char *url_path(const char *path)
{
    size_t n = strlen(path);
    char *out = reel_xmalloc(3 * n + 1), *o = out;
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        if (isalnum(*s) || strchr("-._~/", *s))
            *o++ = (char)*s;
        else
            o += sprintf(o, "%%%02X", *s);
    }
    *o = '\0';
    return out;
}

static int hash_hex(const char *path, char hex[65])
{
    uint8_t d[REEL_SHA256_SIZE];
    int rc = reel_sha256_file(path, d);
    if (rc == 0) reel_hex(d, sizeof d, hex);
    return rc;
}

static int enough_space(pull *p, const reel_hub_file *f, uint64_t have)
{
    struct statvfs vs;
    if (f->size <= have || statvfs(p->dir, &vs) != 0) return 0;
    uint64_t free_b = (uint64_t)vs.f_bavail * vs.f_frsize, need = f->size - have;
    if (free_b >= need) return 0;
    char a[32], b[32];
    return reel_set_error(REEL_EIO, "%s needs %s more in %s, which has %s free", f->path,
                          reel_format_bytes((double)need, a, sizeof a), p->dir,
                          reel_format_bytes((double)free_b, b, sizeof b));
}

static int done(pull *p, const char *status, const char *full)
{
    p->ev.status = status;
    p->ev.path = full;
    p->ev.sha256 = p->file->sha256[0] ? p->file->sha256 : p->linked[0] ? p->linked : NULL;
    p->ev.done = p->ev.total = p->file->size;
    emit(p, REEL_HUB_FILE_DONE);
    return 0;
}

/* A file already on disk with the listed size: 1 if it is the listed one (recorded as such). */
static int already_there(pull *p, const char *full)
{
    const reel_hub_file *f = p->file;
    const char *oid = f->sha256[0] ? f->sha256 : f->oid;
    uint64_t size;
    if (reel_file_size(full, &size) < 0) return 0;
    if (*oid && reel_store_is_verified(p->dir, f->path, oid)) return 1;
    if (size != f->size || !f->sha256[0]) return 0;
    char hex[65];
    p->ev.done = 0;
    p->ev.total = size;
    emit(p, REEL_HUB_FILE_VERIFY);
    if (hash_hex(full, hex) < 0 || strcmp(hex, f->sha256) != 0) return 0;
    reel_store_mark_verified(p->dir, f->path, f->sha256);
    return 1;
}

static int fetch_one(pull *p, const reel_hub_file *f)
{
    p->file = f;
    p->linked[0] = '\0';
    p->ev.file = f->path;
    p->ev.sha256 = NULL;
    p->ev.status = NULL;
    char *full = reel_xasprintf("%s/%s", p->dir, f->path);
    char *part = reel_xasprintf("%s.part", full);
    char *url = NULL, *esc = NULL;
    int rc = 0, existed = reel_file_exists(full);
    p->ev.path = full;
    if (existed && already_there(p, full)) {
        rc = done(p, "present", full);
        goto out;
    }
    char *slash = strrchr(full, '/');
    *slash = '\0';
    rc = reel_mkdir_p(full);
    *slash = '/';
    if (rc < 0) goto out;
    /* A leftover as long as the file: a finished download that was never renamed, or one refused
     * for its checksum; keep it only if it is right. */
    uint64_t have = 0;
    if (reel_file_size(part, &have) == 0 && have >= f->size && f->size > 0) {
        char hex[65];
        if (have == f->size && f->sha256[0] && hash_hex(part, hex) == 0 &&
            strcmp(hex, f->sha256) == 0 && rename(part, full) == 0) {
            reel_store_mark_verified(p->dir, f->path, f->sha256);
            rc = done(p, existed ? "updated" : "downloaded", full);
            goto out;
        }
        unlink(part);
        have = 0;
    }
    if ((rc = enough_space(p, f, have)) < 0) goto out;
    p->ev.done = have;
    p->ev.total = f->size;
    emit(p, REEL_HUB_FILE_START);

    esc = url_path(f->path);
    url = reel_xasprintf("%s/%s/resolve/main/%s", p->endpoint, p->ref.repo, esc);
    reel_http_opts ho = reel_http_default_opts();
    long status = 0;
    ho.retries = p->o->retries;
    ho.backoff_ms = p->o->backoff_ms;
    ho.bearer_token = p->token;
    ho.expect_sha256 = f->sha256[0] ? f->sha256 : NULL;
    /* a listing without the LFS SHA-256: the resolve answer's X-Linked-Etag vouches instead */
    if (!ho.expect_sha256) ho.linked_sha256 = p->linked;
    ho.keep_part_on_mismatch = 1;
    ho.status = &status;
    ho.on_progress = on_bytes;
    ho.progress_ctx = p;
    reel_store_forget(p->dir, f->path);
    rc = reel_http_get_file(url, full, &ho);
    if (rc == REEL_EFORMAT && ho.expect_sha256) {
        rc = reel_set_error(
            rc,
            "%s: %s does not match the SHA-256 the hub lists (%s); refused, and kept "
            "as %s: the next reel pull checks it again and downloads it anew if it "
            "still differs",
            p->ref.repo, f->path, f->sha256, part);
        goto out;
    }
    if (rc == REEL_EFORMAT && p->linked[0]) {
        rc = reel_set_error(rc,
                            "%s: %s does not match the SHA-256 the hub vouched for in its "
                            "X-Linked-Etag header (%s); refused, and kept as %s",
                            p->ref.repo, f->path, p->linked, part);
        goto out;
    }
    if (rc < 0) {
        rc = explain(p, rc, status, url, f->path);
        struct stat st;
        if (stat(part, &st) == 0 && st.st_size == 0) unlink(part); /* nothing to resume */
        goto out;
    }
    uint64_t got = 0;
    if (!f->sha256[0] && reel_file_size(full, &got) == 0 && got != f->size) {
        unlink(full);
        rc = reel_set_error(REEL_EFORMAT, "%s: %s arrived with %llu bytes, the hub lists %llu",
                            p->ref.repo, f->path, (unsigned long long)got,
                            (unsigned long long)f->size);
        goto out;
    }
    /* recorded under what the next listing will give for the file: its LFS SHA-256, else its
     * git object id; the X-Linked-Etag only when the listing gives neither */
    if (f->sha256[0] || *f->oid || p->linked[0])
        reel_store_mark_verified(p->dir, f->path,
                                 f->sha256[0] ? f->sha256
                                 : *f->oid    ? f->oid
                                              : p->linked);
    rc = done(p, existed ? "updated" : "downloaded", full);
out:
    free(url);
    free(esc);
    free(part);
    free(full);
    return rc;
}

static int truthy(const char *v)
{
    return v && *v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 &&
           strcasecmp(v, "no") != 0;
}

/* Offline: report what the store has, fetch nothing. */
static int pull_offline(pull *p, const char *ref_text, char **path)
{
    int rc = reel_store_resolve(ref_text, path);
    if (rc < 0) return reel_error_prefix("REEL_OFFLINE=1 is set, so reel pull downloads nothing");
    static char empty[] = "";
    reel_hub_file f = {.path = empty, .oid = empty};
    size_t n = strlen(p->dir);
    if (strncmp(*path, p->dir, n) == 0 && (*path)[n] == '/') f.path = *path + n + 1;
    reel_file_size(*path, &f.size);
    p->file = &f;
    p->ev.file = f.path;
    p->ev.count = 1;
    p->ev.total = f.size;
    emit(p, REEL_HUB_START);
    done(p, "present-unchecked", *path);
    p->file = NULL;
    return 0;
}

/* Appends the n files of more to *files (*n of them so far); more's strings move over. */
static void append_files(reel_hub_file **files, size_t *n, reel_hub_file *more, size_t k)
{
    *files = reel_xrealloc(*files, (*n + k + 1) * sizeof **files);
    memcpy(*files + *n, more, k * sizeof *more);
    *n += k;
    free(more);
}

/* Fetches and parses the listing, following its pages (Link: rel="next") to the end. */
static int list_repo(pull *p, reel_hub_file **files, size_t *n)
{
    enum { MAX_PAGES = 1000 };
    char *url =
        reel_xasprintf("%s/api/models/%s/tree/main?recursive=true", p->endpoint, p->ref.repo);
    reel_http_opts ho = reel_http_default_opts();
    ho.retries = p->o->retries;
    ho.backoff_ms = p->o->backoff_ms;
    ho.bearer_token = p->token;
    ho.timeout_ms = 120000;
    *files = NULL;
    *n = 0;
    size_t total = 0;
    int rc = 0;
    for (int page = 0; url && rc == 0; page++) {
        if (page == MAX_PAGES) {
            rc = reel_set_error(REEL_ERANGE, "%s: the file listing runs past %d pages", p->ref.repo,
                                MAX_PAGES);
            break;
        }
        char *body = NULL, *next = NULL;
        size_t size = 0;
        long status = 0;
        ho.next_page = &next;
        rc = reel_http_get(url, &ho, &body, &size, &status);
        total += size;
        if (rc < 0) {
            rc = explain(p, rc, status, url, "");
        } else if (total > LISTING_MAX) {
            rc = reel_set_error(REEL_ERANGE, "%s: the file listing is over 64 MiB", url);
        } else {
            reel_hub_file *more;
            size_t k;
            rc = reel_hub_parse_tree(body, size, url, &more, &k);
            if (rc == 0) append_files(files, n, more, k);
        }
        if (next && !strcmp(next, url)) { /* a page that points at itself would never end */
            free(next);
            next = NULL;
        }
        free(body);
        free(url);
        url = next;
    }
    free(url);
    if (rc < 0) {
        reel_hub_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

/* Chooses what to download: indices into files in *pick. */
static int choose(pull *p, const reel_hub_file *files, size_t n, size_t **pick, size_t *n_pick)
{
    const char **names = reel_xcalloc(n ? n : 1, sizeof *names);
    int gguf = 0;
    for (size_t i = 0; i < n; i++) {
        names[i] = files[i].path;
        gguf |= reel_store_is_gguf(names[i]);
    }
    int rc = 0;
    *pick = NULL;
    *n_pick = 0;
    if (!p->ref.sel && !gguf) {
        *n_pick = reel_hub_safetensors_set(files, n, pick);
        if (*n_pick == 0) {
            free(*pick);
            *pick = NULL;
            rc = reel_set_error(REEL_ENOTFOUND,
                                "%s has no GGUF file and no *.safetensors weights at its top "
                                "level: nothing reel can run (%s:FILE fetches one file anyway)",
                                p->ref.repo, p->ref.repo);
        }
    } else {
        int k = reel_store_pick(p->ref.repo, p->ref.sel, names, n);
        if (k < 0) {
            rc = k;
        } else {
            *pick = reel_xmalloc(sizeof **pick);
            (*pick)[0] = (size_t)k;
            *n_pick = 1;
        }
    }
    free(names);
    return rc;
}

/* Only one pull writes into a repository folder at a time (a lock on the folder itself). */
static int lock_dir(pull *p, int *fd)
{
    int rc = reel_mkdir_p(p->dir);
    if (rc < 0) return rc;
    *fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return reel_set_error_errno("%s", p->dir);
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
        return reel_set_error(REEL_EINVAL, "another reel pull is downloading into %s: wait for it",
                              p->dir);
    return 0;
}

/* After a failure: folders this pull made and left empty go. */
static void remove_if_empty(const char *dir)
{
    if (rmdir(dir) != 0) return;
    char *owner = reel_xstrdup(dir), *slash = strrchr(owner, '/');
    if (slash) {
        *slash = '\0';
        rmdir(owner);
    }
    free(owner);
}

int reel_hub_pull(const char *ref_text, const reel_hub_opts *opts, char **path)
{
    reel_hub_opts defaults = reel_hub_default_opts();
    pull p = {.o = opts ? opts : &defaults};
    *path = NULL;
    int rc = reel_model_ref_parse(ref_text, &p.ref);
    if (rc < 0) return rc;
    char *root = p.o->root ? reel_xstrdup(p.o->root) : reel_store_root();
    if (!root) {
        reel_model_ref_free(&p.ref);
        return reel_last_error_code();
    }
    p.dir = reel_xasprintf("%s/%s/%s", root, p.ref.owner, p.ref.name);
    p.ev.repo = p.ref.repo;
    p.endpoint = reel_hub_endpoint(p.o);
    p.host = host_of(p.endpoint);
    const char *tok = p.o->token ? p.o->token : getenv("HF_TOKEN");
    p.token = tok && *tok ? tok : NULL;
    int offline = p.o->offline >= 0 ? p.o->offline : truthy(getenv("REEL_OFFLINE"));
    reel_hub_file *files = NULL;
    size_t n = 0, *pick = NULL, n_pick = 0;
    int lock = -1;
    if (offline) {
        rc = pull_offline(&p, ref_text, path);
        goto out;
    }
    if ((rc = list_repo(&p, &files, &n)) < 0 || (rc = choose(&p, files, n, &pick, &n_pick)) < 0 ||
        (rc = lock_dir(&p, &lock)) < 0)
        goto out;
    p.ev.count = n_pick;
    p.ev.total = 0;
    for (size_t i = 0; i < n_pick; i++) p.ev.total += files[pick[i]].size;
    emit(&p, REEL_HUB_START);
    for (size_t i = 0; i < n_pick && rc == 0; i++) {
        p.ev.index = i;
        rc = fetch_one(&p, &files[pick[i]]);
    }
    if (rc == 0)
        *path = n_pick == 1 && (p.ref.sel || reel_store_is_gguf(files[pick[0]].path))
                    ? reel_xasprintf("%s/%s", p.dir, files[pick[0]].path)
                    : reel_xstrdup(p.dir);
out:
    if (lock >= 0) close(lock);
    if (rc < 0 && !offline) remove_if_empty(p.dir);
    free(pick);
    reel_hub_files_free(files, n);
    free(p.endpoint);
    free(p.host);
    free(p.dir);
    free(root);
    reel_model_ref_free(&p.ref);
    return rc;
}
