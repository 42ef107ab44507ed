/* Node descriptions in the cache and `reel node exec KEY`: one node of a graph run away from the
 * process that built the graph (a Slurm job, a Kubernetes Job), against a shared cache folder.
 *
 * DIR/cluster/nodes/<key>.json holds {"format": "reel-node/1", "key", "kind", "params", "ext",
 * "inputs": [{"key", "ext"}...], "file"?, "name"?, "where"?}. The executing side recomputes the
 * key from it with its own reel and plugins: a machine whose plugin version differs would make
 * a different output, so it refuses instead of storing that output under the submitted key.
 * Outputs are written to DIR/cluster/tmp/ (names carry the host, as pids of other machines mean
 * nothing here) and renamed into place like every cache entry, so readers never see half a
 * file even when two jobs make the same key. */
#include "pipeline/node-impl.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/sched-impl.h"

#define MAX_DESC_SIZE ((size_t)64 << 20)

char *reeli_cluster_path(const char *dir, const char *sub, const char *key, const char *suffix)
{
    return reel_xasprintf("%s/cluster/%s/%s%s", dir, sub, key, suffix);
}

int reeli_node_desc_write(const reeli_cache *c, const reeli_graph *g, const reeli_node *n)
{
    json_t *d = json_object();
    json_object_set_new(d, "format", json_string("reel-node/1"));
    json_object_set_new(d, "key", json_string(n->key));
    json_object_set_new(d, "kind", json_string(n->kind));
    json_object_set(d, "params", n->params ? n->params : json_object());
    json_object_set_new(d, "ext", json_string(n->ext));
    json_t *in = json_array();
    for (size_t i = 0; i < n->n_inputs; i++) {
        const reeli_node *x = reeli_graph_node(g, n->inputs[i]);
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(x->key));
        json_object_set_new(o, "ext", json_string(x->ext));
        json_array_append_new(in, o);
    }
    json_object_set_new(d, "inputs", in);
    if (n->file_digest) json_object_set_new(d, "file", json_string(n->file_digest));
    if (n->name) json_object_set_new(d, "name", json_string(n->name));
    if (n->where) json_object_set_new(d, "where", json_string(n->where));
    char *dir = reel_xasprintf("%s/cluster/nodes", c->dir);
    int rc = reel_mkdir_p(dir);
    free(dir);
    char *path = reeli_cluster_path(c->dir, "nodes", n->key, ".json");
    if (rc == 0) rc = reel_json_save_file(d, path);
    free(path);
    json_decref(d);
    return rc;
}

static int is_key(const char *s)
{
    if (!s || strlen(s) != 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

static int is_ext(const char *s)
{
    return s && s[0] == '.' && strlen(s) <= 16 && !strchr(s, '/');
}

static int on_progress(void *ctx, double fraction)
{
    (void)ctx;
    (void)fraction;
    return reeli_cancel_flag != 0;
}

/* Builds in g the node the description d gives (after placeholder nodes for its inputs, whose
 * keys are taken as given) and keys it. Returns its id, or an error naming the field. */
static int build(reeli_graph *g, const json_t *d, const char *path)
{
    const char *kind = reel_json_str(d, "kind", NULL);
    const json_t *params = json_object_get(d, "params");
    const json_t *inputs = json_object_get(d, "inputs");
    const char *file = reel_json_str(d, "file", NULL);
    if (strcmp(reel_json_str(d, "format", ""), "reel-node/1") != 0)
        return reel_set_error(REEL_EFORMAT, "%s: field 'format': not \"reel-node/1\"", path);
    if (!kind) return reel_set_error(REEL_EFORMAT, "%s: field 'kind': missing", path);
    if (!json_is_object(params))
        return reel_set_error(REEL_EFORMAT, "%s: field 'params': not an object", path);
    if (!json_is_array(inputs))
        return reel_set_error(REEL_EFORMAT, "%s: field 'inputs': not an array", path);
    size_t n_in = json_array_size(inputs);
    int *ids = n_in ? reel_xmalloc(n_in * sizeof *ids) : NULL;
    for (size_t i = 0; i < n_in; i++) {
        const json_t *x = json_array_get(inputs, i);
        const char *k = reel_json_str(x, "key", NULL), *e = reel_json_str(x, "ext", NULL);
        if (!is_key(k) || !is_ext(e)) {
            free(ids);
            return reel_set_error(REEL_EFORMAT, "%s: inputs[%zu]: needs a key and an ext", path, i);
        }
        ids[i] = reeli_graph_add(g, "input", json_object(), NULL, 0, NULL, NULL);
        reeli_node *p = reeli_graph_node(g, ids[i]);
        memcpy(p->key, k, 65);
        p->ext = reel_xstrdup(e);
        p->have_key = 1;
    }
    int id = reeli_graph_add(g, kind, json_deep_copy(params), ids, n_in,
                             reel_json_str(d, "name", NULL), reel_json_str(d, "where", NULL));
    free(ids);
    if (file) reeli_graph_node(g, id)->file_digest = reel_xstrdup(file);
    /* the built-in stage runner, as reel_pipeline_default_runner() gives it to local runs */
    static const reel_stage_runner stages = {reel_stage_run, reel_stage_ext, reel_stage_version,
                                             reel_stage_concurrency};
    int rc = reeli_graph_key(g, id, &stages);
    return rc < 0 ? rc : id;
}

static int exec_node(reeli_cache *c, const char *key, int *already)
{
    char *path = reeli_cluster_path(c->dir, "nodes", key, ".json");
    json_t *d = reel_json_load_file(path, MAX_DESC_SIZE);
    if (!d) {
        int rc = reel_error_prefix("no description of this node in the cache");
        free(path);
        return rc;
    }
    reeli_graph g;
    reeli_graph_init(&g);
    int rc = build(&g, d, path);
    free(path);
    reeli_node *n = rc > 0 ? reeli_graph_node(&g, rc) : NULL;
    const char *want_ext = reel_json_str(d, "ext", "");
    if (n && strcmp(n->key, key) != 0)
        rc = reel_set_error(REEL_EINVAL,
                            "this machine computes key %.16s... for the node, not the submitted "
                            "one: its reel or plugin versions differ from the submitting machine's",
                            n->key);
    else if (n && strcmp(n->ext, want_ext) != 0)
        rc = reel_set_error(REEL_EINVAL, "this machine writes %s files for the node, not %s",
                            n->ext, want_ext);
    if (rc < 0) goto out;

    char *why = NULL;
    if (reeli_cache_check(c, key, n->ext, &why) == 1) {
        *already = 1;
        rc = 0;
        goto out;
    }
    free(why);
    const char **ins = n->n_inputs ? reel_xcalloc(n->n_inputs, sizeof *ins) : NULL;
    for (size_t i = 0; i < n->n_inputs && rc >= 0; i++) {
        const reeli_node *x = reeli_graph_node(&g, n->inputs[i]);
        char *w = NULL;
        if (reeli_cache_check(c, x->key, x->ext, &w) != 1)
            rc = reel_set_error(REEL_ENOTFOUND, "input %zu (%.16s...%s) is not in the cache%s%s",
                                i + 1, x->key, x->ext, w ? ": " : "", w ? w : "");
        free(w);
        ins[i] = reeli_cache_path(c, x->key, x->ext);
    }
    char *tmpdir = reel_xasprintf("%s/cluster/tmp", c->dir);
    if (rc >= 0) rc = reel_mkdir_p(tmpdir);
    free(tmpdir);
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *h = host; *h; h++)
        if (*h == '/' || *h == '-') *h = '_';
    /* transient failures (a network plugin's server away) are retried as the local run does */
    double delay = 0.5;
    for (int attempt = 1; rc >= 0 && attempt <= 3; attempt++) {
        char *suffix = reel_xasprintf("-%s-%ld-%d%s", host, (long)getpid(), attempt, n->ext);
        char *tmp = reeli_cluster_path(c->dir, "tmp", key, suffix);
        free(suffix);
        reel_stage_io io = {.kind = n->kind,
                            .params = n->params,
                            .inputs = ins,
                            .n_inputs = n->n_inputs,
                            .out_path = tmp,
                            .progress = on_progress};
        reel_clear_error();
        rc = reel_stage_run(&io);
        if (rc == 0) rc = reeli_cache_commit(c, tmp, key, n->ext);
        if (rc < 0) unlink(tmp);
        free(tmp);
        if (rc >= 0 || (rc != REEL_ENET && rc != REEL_ETIMEDOUT) || reeli_cancel_flag) break;
        if (attempt == 3) break;
        REEL_LOGW("node %.16s...: %s; retrying in %.1f s", key, reel_last_error(), delay);
        struct timespec ts = {(time_t)delay, (long)((delay - (time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        delay *= 2;
        rc = 0;
    }
    for (size_t i = 0; i < n->n_inputs; i++) free((char *)ins[i]);
    free(ins);
out:
    json_decref(d);
    reeli_graph_free(&g);
    return rc;
}

int reel_node_exec(const char *cache_dir, const char *key, int *already)
{
    int dummy;
    if (!already) already = &dummy;
    *already = 0;
    if (!is_key(key))
        return reel_set_error(REEL_EINVAL, "'%s' is not a node key (64 lowercase hex digits)",
                              key ? key : "");
    /* Not reeli_cache_open(): its sweep of tmp/ judges writers by pid, which on a cache shared
     * between machines would remove files that live processes elsewhere are writing. */
    char real[PATH_MAX];
    if (!realpath(cache_dir, real)) return reel_set_error_errno("cache folder %s", cache_dir);
    reeli_cache c;
    memset(&c, 0, sizeof c);
    pthread_mutex_init(&c.mu, NULL);
    c.dir = reel_xstrdup(real);
    int rc = exec_node(&c, key, already);
    if (rc < 0) reel_error_prefix("node %.16s...", key);
    reeli_cache_close(&c);
    return rc < 0 ? rc : 0;
}
