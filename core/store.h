/* reel core: the local model store — where `reel pull` puts models, and how a reference such as
 * "unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M" finds the file it names. No network here.
 *
 * The store is $REEL_MODELS, else $XDG_DATA_HOME/reel/models, else ~/.local/share/reel/models,
 * laid out <owner>/<repo>/<file> as on the Hugging Face hub. Each repository folder holds a
 * hidden record of the files that were verified after download (.reel-pull.json), so that an
 * unchanged file is not hashed or fetched again.
 *
 * A reference is OWNER/REPO, optionally followed by ":SEL". SEL with a '.' or a '/' is a file
 * name (the path in the repository, or its last part); otherwise it is a quantization such as
 * Q4_K_M, matched case-insensitively against the GGUF file names as a whole word ("Q4_K" does
 * not match "Q4_K_M", "Q4_XS" does not match "IQ4_XS").
 *
 *     char *path;
 *     if (reel_store_resolve("unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M", &path) == 0) ...
 */
#ifndef REEL_CORE_STORE_H
#define REEL_CORE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* What `reel pull` fetches when given no reference. */
#define REEL_STORE_DEFAULT_REF "unsloth/NVIDIA-Nemotron-3-Nano-4B-GGUF:Q4_K_M"

/* The name of the per-repository record of verified files. */
#define REEL_STORE_RECORD ".reel-pull.json"

typedef struct reel_model_ref {
    char *repo;  /* "owner/name" */
    char *owner; /* "owner" */
    char *name;  /* "name" */
    char *sel;   /* what followed ':', or NULL */
} reel_model_ref;

/* Parses "OWNER/REPO[:SEL]". Owner and repository names are 1 to 96 characters of letters,
 * digits, '-', '_' and '.', not starting with '.' or '-'; SEL has no control characters, no
 * empty, "." or ".." path parts. REEL_EINVAL with a message quoting the text otherwise. */
int reel_model_ref_parse(const char *text, reel_model_ref *ref);

/* Frees the strings of ref (not ref itself); safe on a zeroed ref. */
void reel_model_ref_free(reel_model_ref *ref);

/* 1 if rel is a path that is safe to write below a store folder: relative, with no empty, "."
 * or ".." part, no backslash and no control character. */
int reel_store_path_ok(const char *rel);

/* 1 if sel names a file (has a '.' or a '/'), 0 if it is a quantization. */
int reel_model_sel_is_file(const char *sel);

/* The store folder (free()): $REEL_MODELS, $XDG_DATA_HOME/reel/models or
 * $HOME/.local/share/reel/models. NULL with REEL_ENOTFOUND when none of them is set. */
char *reel_store_root(void);

/* Chooses one of names (paths in a repository) for sel; repo names the repository in messages.
 * sel NULL: the only GGUF file; a file sel: the path equal to it, else the one path whose last
 * part equals it; a quantization: the one GGUF file containing it as a whole word. Returns the
 * index, or REEL_ENOTFOUND (none) / REEL_EINVAL (several) with a message listing the candidates
 * and how to name one. */
int reel_store_pick(const char *repo, const char *sel, const char *const *names, size_t n);

/* 1 if name is a GGUF file name (ends in ".gguf", any case). */
int reel_store_is_gguf(const char *name);

/* The files of a store folder (paths relative to dir, sorted; hidden files, *.part and temporary
 * files left out). *names is an array of strings, free with reel_store_names_free. */
int reel_store_scan(const char *dir, char ***names, size_t *n);
void reel_store_names_free(char **names, size_t n);

/* Resolves a reference to what is in the store, without any network: a GGUF file, or the
 * repository folder for a Hugging Face (safetensors) repository without SEL. *path is owned by
 * the caller. REEL_ENOTFOUND says what is missing and to run `reel pull REF`. */
int reel_store_resolve(const char *ref_text, char **path);

/* For a model argument (-m): if arg is an existing path or not a reference, *path = NULL and 0;
 * if it is a reference to a model in the store, *path is that model (free()); if it is a
 * reference the store lacks, an error saying there is no such file and to run `reel pull`. */
int reel_store_model_arg(const char *arg, char **path);

/* One file in the store, for listings. */
typedef struct reel_store_item {
    char *repo;    /* "owner/name" */
    char *file;    /* path inside the repository folder */
    uint64_t size; /* bytes on disk */
    int partial;   /* an unfinished download (a .part file); file is the name it will have */
} reel_store_item;

/* Lists every file under root (sorted by repository, then file). A missing root is an empty
 * store. Free with reel_store_items_free. */
int reel_store_list(const char *root, reel_store_item **items, size_t *n);
void reel_store_items_free(reel_store_item *items, size_t n);

/* Removes what ref_text names from the store: the whole repository folder for OWNER/REPO, one
 * file (with its unfinished download and its record) for OWNER/REPO:SEL. *freed gets the bytes
 * removed (may be NULL). REEL_ENOTFOUND when there is nothing to remove. */
int reel_store_remove(const char *ref_text, uint64_t *freed);

/* The verified record of dir (a repository folder): 1 if `file` was verified with this oid
 * (an LFS SHA-256, or the hub's git object id) and still has the size and modification time it
 * had then; 0 otherwise. */
int reel_store_is_verified(const char *dir, const char *file, const char *oid);

/* Records that dir/file was verified against oid (its size and mtime are read now). */
int reel_store_mark_verified(const char *dir, const char *file, const char *oid);

/* Forgets the record of dir/file (when it is removed or replaced). */
int reel_store_forget(const char *dir, const char *file);

#endif
