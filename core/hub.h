/* reel core: the Hugging Face hub client behind `reel pull` — the file listing of a repository
 * and downloads into the model store (core/store.h), resumable and verified.
 *
 * The listing is GET {endpoint}/api/models/{owner}/{repo}/tree/main?recursive=true, a JSON array
 * of {type, path, size, oid, lfs: {oid, size}}; lfs.oid is the SHA-256 of the file's contents,
 * which every download is checked against. Files come from
 * {endpoint}/{owner}/{repo}/resolve/main/{path} (redirects followed). Bytes land in FILE.part
 * first, so an interrupted download resumes where it stopped; a file whose checksum differs is
 * refused and stays FILE.part. A file already verified and unchanged on the hub is not fetched.
 *
 *     reel_hub_opts o = reel_hub_default_opts();
 *     char *path;
 *     if (reel_hub_pull("unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M", &o, &path) < 0) ...
 */
#ifndef REEL_CORE_HUB_H
#define REEL_CORE_HUB_H

#include <stddef.h>
#include <stdint.h>

/* One file of a repository listing. */
typedef struct reel_hub_file {
    char *path;      /* relative path in the repository (checked: no "..", no absolute path) */
    uint64_t size;   /* bytes */
    char sha256[65]; /* lowercase hex from lfs.oid, or "" for a file not stored with LFS */
    char *oid;       /* the git object id the hub gives every file (may be "") */
} reel_hub_file;

/* Parses a tree listing. Directories, and files whose path is unsafe to write or hidden
 * (a part starting with '.'), are left out. REEL_EFORMAT naming `where` when text is not a JSON
 * array of objects with a string path. Free with reel_hub_files_free. */
int reel_hub_parse_tree(const char *text, size_t size, const char *where, reel_hub_file **files,
                        size_t *n);
void reel_hub_files_free(reel_hub_file *files, size_t n);

/* The files a safetensors repository needs (config, tokenizer, generation config, chat
 * template, weight shards and their index): their indices into files, in *pick (caller frees).
 * 0 files when the repository has no *.safetensors at its top level. */
size_t reel_hub_safetensors_set(const reel_hub_file *files, size_t n, size_t **pick);

/* What a pull reports as it goes. */
typedef enum reel_hub_event_kind {
    REEL_HUB_START,       /* the files are chosen: count, total (bytes of all of them) */
    REEL_HUB_FILE_START,  /* a download begins: file, total, done (bytes kept from before) */
    REEL_HUB_FILE_BYTES,  /* bytes arrived: file, done, total */
    REEL_HUB_FILE_VERIFY, /* hashing a file already on disk: file, total */
    REEL_HUB_FILE_DONE,   /* file, path, status: "downloaded", "updated" (replaced a changed
                             file), "present" (verified, unchanged on the hub) or
                             "present-unchecked" (offline: in the store, the hub not asked) */
} reel_hub_event_kind;

typedef struct reel_hub_event {
    reel_hub_event_kind kind;
    const char *repo;   /* "owner/name" */
    const char *file;   /* path in the repository */
    const char *path;   /* where it is in the store */
    const char *status; /* FILE_DONE */
    const char *sha256; /* FILE_DONE: the verified digest, or NULL */
    uint64_t done, total;
    size_t index, count; /* file index of count (START: count only) */
} reel_hub_event;

typedef struct reel_hub_opts {
    const char *endpoint; /* default: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;    /* default: $HF_TOKEN; sent as "Authorization: Bearer" */
    const char *root;     /* the store; default reel_store_root() */
    int offline;          /* 1: never touch the network; -1 (default): $REEL_OFFLINE=1 */
    int retries;          /* extra attempts after a transient failure (default 4) */
    long backoff_ms;      /* first wait between attempts (default 500) */
    void (*on_event)(void *ctx, const reel_hub_event *ev);
    void *ctx;
} reel_hub_opts;

/* Defaults as documented above. */
reel_hub_opts reel_hub_default_opts(void);

/* The endpoint o names (or the default), without a trailing '/' (free()). */
char *reel_hub_endpoint(const reel_hub_opts *o);

/* Downloads what ref_text (OWNER/REPO[:QUANT|:FILE]; see core/store.h) names into the store:
 * one GGUF file, one named file, or the safetensors set of a repository without GGUF files.
 * *path (owned by the caller) is the file, or the repository folder for a safetensors set.
 * Offline, nothing is downloaded: what the store has is reported ("present") or the pull fails.
 * Failures say what to do: a 401 asks for a token (HF_TOKEN or --token), a 404 names the
 * repository or file, an unreachable hub names its host. */
int reel_hub_pull(const char *ref_text, const reel_hub_opts *o, char **path);

#endif
