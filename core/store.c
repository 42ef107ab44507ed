/* The local model store: references, the file picker, resolving, listing, removing, and the
 * record of verified files. */
#include "core/store.h"
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/proc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_LEN 96
#define LIST_SHOWN   24 /* candidates named in an error message */

static int name_ok(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') return 0;
    return !(n == 2 && s[0] == '.' && s[1] == '.');
}

int reel_store_path_ok(const char *s)
{
    if (!*s || *s == '/') return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') return 0;
    const char *part = s;
    for (;;) {
        const char *end = strchr(part, '/');
        size_t n = end ? (size_t)(end - part) : strlen(part);
        if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.'))
            return 0;
        if (!end) return 1;
        part = end + 1;
    }
}

int reel_model_ref_parse(const char *text, reel_model_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    const char *slash = strchr(text, '/');
    const char *colon = strchr(text, ':');
    if (!slash || (colon && colon < slash))
        return reel_set_error(
            REEL_EINVAL, "'%s' is not a model reference: expected OWNER/REPO[:QUANT|:FILE]", text);
    size_t repo_len = colon ? (size_t)(colon - text) : strlen(text);
    size_t owner_len = (size_t)(slash - text);
    if (!name_ok(text, owner_len) || !name_ok(slash + 1, repo_len - owner_len - 1))
        return reel_set_error(REEL_EINVAL,
                              "'%s' is not a model reference: OWNER and REPO are letters, digits, "
                              "'-', '_' and '.' (OWNER/REPO[:QUANT|:FILE])",
                              text);
    if (colon && !reel_store_path_ok(colon + 1))
        return reel_set_error(REEL_EINVAL, "'%s': '%s' is not a quantization or a file name", text,
                              colon + 1);
    ref->repo = reel_xasprintf("%.*s", (int)repo_len, text);
    ref->owner = reel_xasprintf("%.*s", (int)owner_len, text);
    ref->name = reel_xstrdup(ref->repo + owner_len + 1);
    ref->sel = colon ? reel_xstrdup(colon + 1) : NULL;
    return 0;
}

void reel_model_ref_free(reel_model_ref *ref)
{
    free(ref->repo);
    free(ref->owner);
    free(ref->name);
    free(ref->sel);
    memset(ref, 0, sizeof *ref);
}

int reel_model_sel_is_file(const char *sel)
{
    return sel && (strchr(sel, '.') || strchr(sel, '/'));
}

char *reel_store_root(void)
{
    const char *m = getenv("REEL_MODELS"), *data = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (m && *m) return reel_xstrdup(m);
    if (data && *data) return reel_xasprintf("%s/reel/models", data);
    if (home && *home) return reel_xasprintf("%s/.local/share/reel/models", home);
    reel_set_error(REEL_ENOTFOUND, "no model store: set REEL_MODELS (or HOME)");
    return NULL;
}

int reel_store_is_gguf(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcasecmp(name + n - 5, ".gguf") == 0;
}

static int word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* sel occurs in name, case-insensitively, with no letter, digit or '_' on either side. */
static int has_word(const char *name, const char *sel)
{
    size_t n = strlen(name), k = strlen(sel);
    for (size_t i = 0; k && i + k <= n; i++) {
        if (strncasecmp(name + i, sel, k) != 0) continue;
        if ((i == 0 || !word_char(name[i - 1])) && !word_char(name[i + k])) return 1;
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Appends "\n  name" for up to LIST_SHOWN of the names that keep(name) accepts. */
static void list_names(char *out, size_t size, const char *const *names, size_t n,
                       int (*keep)(const char *))
{
    size_t shown = 0, total = 0, o = strlen(out);
    for (size_t i = 0; i < n; i++) {
        if (keep && !keep(names[i])) continue;
        total++;
        if (shown < LIST_SHOWN && o < size) {
            o += (size_t)snprintf(out + o, size - o, "\n  %s", names[i]);
            shown++;
        }
    }
    if (total > shown && o < size)
        snprintf(out + o, size - o, "\n  ... and %zu more", total - shown);
    if (total == 0 && o < size) snprintf(out + o, size - o, " (none)");
}

int reel_store_pick(const char *repo, const char *sel, const char *const *names, size_t n)
{
    char msg[1900];
    size_t found = 0, hit = 0;
    if (sel && reel_model_sel_is_file(sel)) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(names[i], sel) == 0) return (int)i;
        for (size_t i = 0; i < n; i++)
            if (strcmp(base_name(names[i]), sel) == 0) found++, hit = i;
        if (found == 1) return (int)hit;
        snprintf(msg, sizeof msg, "%s has %s file named '%s'; its files:", repo,
                 found ? "more than one" : "no", sel);
        list_names(msg, sizeof msg, names, n, NULL);
        return reel_set_error(found ? REEL_EINVAL : REEL_ENOTFOUND, "%s", msg);
    }
    for (size_t i = 0; i < n; i++)
        if (reel_store_is_gguf(names[i]) && (!sel || has_word(names[i], sel))) found++, hit = i;
    if (found == 1) return (int)hit;
    if (!sel && found == 0) {
        snprintf(msg, sizeof msg, "%s has no GGUF file; its files:", repo);
        list_names(msg, sizeof msg, names, n, NULL);
        return reel_set_error(REEL_ENOTFOUND, "%s", msg);
    }
    if (!sel) {
        snprintf(msg, sizeof msg,
                 "%s has %zu GGUF files; name one with %s:QUANT (e.g. %s:Q4_K_M) or %s:FILE. Its "
                 "GGUF files:",
                 repo, found, repo, repo, repo);
        list_names(msg, sizeof msg, names, n, reel_store_is_gguf);
        return reel_set_error(REEL_EINVAL, "%s", msg);
    }
    if (found == 0) {
        snprintf(msg, sizeof msg, "%s has no GGUF file for '%s'; its GGUF files:", repo, sel);
        list_names(msg, sizeof msg, names, n, reel_store_is_gguf);
        return reel_set_error(REEL_ENOTFOUND, "%s", msg);
    }
    snprintf(msg, sizeof msg, "'%s' matches %zu files in %s; name one with %s:FILE:", sel, found,
             repo, repo);
    size_t o = strlen(msg), shown = 0;
    for (size_t i = 0; i < n && o < sizeof msg; i++)
        if (reel_store_is_gguf(names[i]) && has_word(names[i], sel) && shown++ < LIST_SHOWN)
            o += (size_t)snprintf(msg + o, sizeof msg - o, "\n  %s", names[i]);
    return reel_set_error(REEL_EINVAL, "%s", msg);
}

/* What a scan leaves out: hidden names, unfinished downloads, temporary files. */
static int skipped_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || (n > 5 && strcmp(name + n - 5, ".part") == 0) ||
           strstr(name, ".tmp-") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the files under dir/rel to the list; with parts, *.part files too. */
static int scan_into(const char *dir, const char *rel, int parts, char ***names, size_t *n,
                     size_t *cap, int depth)
{
    char *path = rel ? reel_xasprintf("%s/%s", dir, rel) : reel_xstrdup(dir);
    DIR *d = opendir(path);
    if (!d) {
        int rc = reel_set_error_errno("%s", path);
        free(path);
        return rc;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        int part = len > 5 && strcmp(e->d_name + len - 5, ".part") == 0;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (skipped_name(e->d_name) && !(parts && part && e->d_name[0] != '.')) continue;
        char *sub = rel ? reel_xasprintf("%s/%s", rel, e->d_name) : reel_xstrdup(e->d_name);
        char *full = reel_xasprintf("%s/%s", dir, sub);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode) && depth < 8) {
            rc = scan_into(dir, sub, parts, names, n, cap, depth + 1);
            free(sub);
        } else if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *names = reel_xrealloc(*names, *cap * sizeof **names);
            }
            (*names)[(*n)++] = sub;
        } else {
            free(sub);
        }
        free(full);
    }
    closedir(d);
    free(path);
    return rc;
}

static int scan(const char *dir, int parts, char ***names, size_t *n)
{
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    int rc = scan_into(dir, NULL, parts, names, n, &cap, 0);
    if (rc < 0) {
        reel_store_names_free(*names, *n);
        *names = NULL;
        *n = 0;
        return rc;
    }
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return 0;
}

int reel_store_scan(const char *dir, char ***names, size_t *n)
{
    return scan(dir, 0, names, n);
}

void reel_store_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Parses ref_text and finds the store's root and the repository's folder in it (whether or not
 * it exists); the caller frees all three. */
static int ref_dir(const char *ref_text, reel_model_ref *ref, char **root, char **dir)
{
    *root = *dir = NULL;
    int rc = reel_model_ref_parse(ref_text, ref);
    if (rc < 0) return rc;
    if (!(*root = reel_store_root())) {
        reel_model_ref_free(ref);
        return REEL_ENOTFOUND; /* reel_store_root set the message */
    }
    *dir = reel_xasprintf("%s/%s/%s", *root, ref->owner, ref->name);
    return 0;
}

int reel_store_resolve(const char *ref_text, char **path)
{
    *path = NULL;
    reel_model_ref ref;
    char *root, *dir;
    int rc = ref_dir(ref_text, &ref, &root, &dir);
    if (rc < 0) return rc;
    char **names = NULL;
    size_t n = 0;
    if (!is_dir(dir)) {
        rc = reel_set_error(REEL_ENOTFOUND,
                            "%s is not in the model store (%s): run 'reel pull %s' to download it",
                            ref.repo, root, ref_text);
    } else if ((rc = scan(dir, 0, &names, &n)) == 0) {
        int gguf = 0;
        for (size_t i = 0; i < n; i++) gguf |= reel_store_is_gguf(names[i]);
        char *cfg = reel_xasprintf("%s/config.json", dir);
        if (!ref.sel && !gguf && reel_file_exists(cfg)) {
            *path = reel_xstrdup(dir); /* a Hugging Face folder */
        } else {
            int k = reel_store_pick(ref.repo, ref.sel, (const char *const *)names, n);
            if (k >= 0)
                *path = reel_xasprintf("%s/%s", dir, names[k]);
            else if (k == REEL_ENOTFOUND)
                rc = reel_set_error(REEL_ENOTFOUND,
                                    "%s is not in the model store (%s): run 'reel pull %s' to "
                                    "download it",
                                    ref_text, root, ref_text);
            else
                rc = k;
        }
        free(cfg);
    }
    reel_store_names_free(names, n);
    free(dir);
    free(root);
    reel_model_ref_free(&ref);
    return rc;
}

int reel_store_model_arg(const char *arg, char **path)
{
    *path = NULL;
    reel_model_ref ref;
    if (reel_file_exists(arg) || reel_model_ref_parse(arg, &ref) < 0) {
        reel_clear_error();
        return 0;
    }
    reel_model_ref_free(&ref);
    int rc = reel_store_resolve(arg, path);
    if (rc == REEL_ENOTFOUND) return reel_error_prefix("%s: no such file or folder, and", arg);
    return rc;
}

static void add_item(reel_store_item **items, size_t *n, size_t *cap, const char *repo,
                     const char *file, uint64_t size, int partial)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *items = reel_xrealloc(*items, *cap * sizeof **items);
    }
    reel_store_item *it = &(*items)[(*n)++];
    it->repo = reel_xstrdup(repo);
    it->file = reel_xstrdup(file);
    it->size = size;
    it->partial = partial;
}

int reel_store_list(const char *root, reel_store_item **items, size_t *n)
{
    *items = NULL;
    *n = 0;
    size_t cap = 0;
    DIR *top = opendir(root);
    if (!top) return errno == ENOENT ? 0 : reel_set_error_errno("%s", root);
    char **owners = NULL;
    size_t n_owners = 0, cap_owners = 0;
    struct dirent *e;
    while ((e = readdir(top))) {
        if (e->d_name[0] == '.') continue;
        if (n_owners == cap_owners) {
            cap_owners = cap_owners ? cap_owners * 2 : 8;
            owners = reel_xrealloc(owners, cap_owners * sizeof *owners);
        }
        owners[n_owners++] = reel_xstrdup(e->d_name);
    }
    closedir(top);
    if (n_owners) qsort(owners, n_owners, sizeof *owners, cmp_str);
    for (size_t o = 0; o < n_owners; o++) {
        char *odir = reel_xasprintf("%s/%s", root, owners[o]);
        DIR *od = is_dir(odir) ? opendir(odir) : NULL;
        char **repos = NULL;
        size_t n_repos = 0, cap_repos = 0;
        while (od && (e = readdir(od))) {
            if (e->d_name[0] == '.') continue;
            if (n_repos == cap_repos) {
                cap_repos = cap_repos ? cap_repos * 2 : 8;
                repos = reel_xrealloc(repos, cap_repos * sizeof *repos);
            }
            repos[n_repos++] = reel_xstrdup(e->d_name);
        }
        if (od) closedir(od);
        if (n_repos) qsort(repos, n_repos, sizeof *repos, cmp_str);
        for (size_t r = 0; r < n_repos; r++) {
            char *rdir = reel_xasprintf("%s/%s", odir, repos[r]);
            char *repo = reel_xasprintf("%s/%s", owners[o], repos[r]);
            char **names = NULL;
            size_t nn = 0;
            if (is_dir(rdir) && scan(rdir, 1, &names, &nn) == 0) {
                for (size_t i = 0; i < nn; i++) {
                    char *full = reel_xasprintf("%s/%s", rdir, names[i]);
                    uint64_t size = 0;
                    reel_file_size(full, &size);
                    size_t len = strlen(names[i]);
                    int part = len > 5 && strcmp(names[i] + len - 5, ".part") == 0;
                    if (part) names[i][len - 5] = '\0';
                    add_item(items, n, &cap, repo, names[i], size, part);
                    free(full);
                }
            }
            reel_store_names_free(names, nn);
            free(repo);
            free(rdir);
            free(repos[r]);
        }
        free(repos);
        free(odir);
        free(owners[o]);
    }
    free(owners);
    return 0;
}

void reel_store_items_free(reel_store_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].repo);
        free(items[i].file);
    }
    free(items);
}

static uint64_t tree_size(const char *dir)
{
    char **names = NULL;
    size_t n = 0;
    uint64_t total = 0;
    if (scan(dir, 1, &names, &n) == 0)
        for (size_t i = 0; i < n; i++) {
            char *full = reel_xasprintf("%s/%s", dir, names[i]);
            uint64_t s = 0;
            if (reel_file_size(full, &s) == 0) total += s;
            free(full);
        }
    reel_store_names_free(names, n);
    return total;
}

/* Removes the folders between dir/rel and dir that rel's removal left empty. */
static void prune_empty(const char *dir, const char *rel)
{
    char *p = reel_xasprintf("%s/%s", dir, rel);
    char *slash;
    size_t stop = strlen(dir);
    while ((slash = strrchr(p, '/')) && (size_t)(slash - p) > stop) {
        *slash = '\0';
        if (rmdir(p) != 0) break;
    }
    free(p);
}

/* Removes a repository folder and then its owner folder if that is left empty. */
static int remove_repo_dir(const char *dir)
{
    reel_proc_rmtree(dir);
    if (is_dir(dir)) return reel_set_error(REEL_EIO, "%s: could not remove it all", dir);
    char *owner = reel_xstrdup(dir);
    char *slash = strrchr(owner, '/');
    if (slash) {
        *slash = '\0';
        rmdir(owner); /* fails, as it should, while other repositories are there */
    }
    free(owner);
    return 0;
}

int reel_store_remove(const char *ref_text, uint64_t *freed)
{
    if (freed) *freed = 0;
    reel_model_ref ref;
    char *root, *dir;
    int rc = ref_dir(ref_text, &ref, &root, &dir);
    if (rc < 0) return rc;
    if (!is_dir(dir)) {
        rc = reel_set_error(REEL_ENOTFOUND, "%s is not in the model store (%s)", ref.repo, root);
    } else if (!ref.sel) {
        if (freed) *freed = tree_size(dir);
        rc = remove_repo_dir(dir);
    } else {
        /* the finished files and the unfinished ones, under the names they will have */
        char **names = NULL;
        size_t n = 0;
        if ((rc = scan(dir, 1, &names, &n)) == 0) {
            for (size_t i = 0; i < n; i++) {
                size_t len = strlen(names[i]);
                if (len > 5 && strcmp(names[i] + len - 5, ".part") == 0) names[i][len - 5] = '\0';
            }
            if (n) qsort(names, n, sizeof *names, cmp_str);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) /* one entry per name */
                if (k == 0 || strcmp(names[k - 1], names[i]) != 0)
                    names[k++] = names[i];
                else
                    free(names[i]);
            n = k;
            int pick = reel_store_pick(ref.repo, ref.sel, (const char *const *)names, n);
            if (pick < 0) {
                rc = pick;
            } else {
                const char *file = names[pick];
                uint64_t s = 0;
                char *full = reel_xasprintf("%s/%s", dir, file);
                char *part = reel_xasprintf("%s.part", full);
                if (reel_file_size(full, &s) == 0 && freed) *freed += s;
                if (reel_file_size(part, &s) == 0 && freed) *freed += s;
                if ((unlink(full) != 0 && errno != ENOENT) ||
                    (unlink(part) != 0 && errno != ENOENT))
                    rc = reel_set_error_errno("%s", full);
                reel_store_forget(dir, file);
                free(full);
                free(part);
                /* the folder goes with its last model file */
                char **left = NULL;
                size_t n_left = 0;
                if (rc == 0 && scan(dir, 1, &left, &n_left) == 0 && n_left == 0)
                    rc = remove_repo_dir(dir);
                else if (rc == 0)
                    prune_empty(dir, file);
                reel_store_names_free(left, n_left);
            }
        }
        reel_store_names_free(names, n);
    }
    free(dir);
    free(root);
    reel_model_ref_free(&ref);
    return rc;
}

/* ---- the record of verified files ---- */

static json_t *record_load(const char *dir)
{
    char *path = reel_xasprintf("%s/" REEL_STORE_RECORD, dir);
    json_t *rec = reel_file_exists(path) ? reel_json_load_file(path, 0) : NULL;
    free(path);
    if (!json_is_object(rec)) {
        json_decref(rec);
        rec = json_object();
    }
    reel_clear_error();
    if (!json_is_object(json_object_get(rec, "files")))
        json_object_set_new(rec, "files", json_object());
    return rec;
}

static int record_save(const char *dir, json_t *rec)
{
    char *path = reel_xasprintf("%s/" REEL_STORE_RECORD, dir);
    int rc = reel_json_save_file(rec, path);
    free(path);
    return rc;
}

int reel_store_is_verified(const char *dir, const char *file, const char *oid)
{
    char *full = reel_xasprintf("%s/%s", dir, file);
    struct stat st;
    int ok = 0;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
        json_t *rec = record_load(dir);
        json_t *f = json_object_get(json_object_get(rec, "files"), file);
        const char *o = json_string_value(json_object_get(f, "oid"));
        ok = o && strcasecmp(o, oid) == 0 && reel_json_int(f, "size", -1) == (int64_t)st.st_size &&
             reel_json_int(f, "mtime_ns", -1) ==
                 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        json_decref(rec);
    }
    free(full);
    reel_clear_error();
    return ok;
}

int reel_store_mark_verified(const char *dir, const char *file, const char *oid)
{
    char *full = reel_xasprintf("%s/%s", dir, file);
    struct stat st;
    int rc = stat(full, &st) == 0 ? 0 : reel_set_error_errno("%s", full);
    free(full);
    if (rc < 0) return rc;
    json_t *rec = record_load(dir);
    json_object_set_new(json_object_get(rec, "files"), file,
                        json_pack("{s:s, s:I, s:I}", "oid", oid, "size", (json_int_t)st.st_size,
                                  "mtime_ns",
                                  (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec));
    rc = record_save(dir, rec);
    json_decref(rec);
    return rc;
}

int reel_store_forget(const char *dir, const char *file)
{
    char *path = reel_xasprintf("%s/" REEL_STORE_RECORD, dir);
    int exists = reel_file_exists(path);
    free(path);
    if (!exists) return 0;
    json_t *rec = record_load(dir);
    int rc = 0;
    if (json_object_del(json_object_get(rec, "files"), file) == 0) rc = record_save(dir, rec);
    json_decref(rec);
    return rc;
}
