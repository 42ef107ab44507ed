/* The stage DAG: nodes in creation order (inputs always precede their users, so the graph is
 * acyclic by construction) and their content keys. */
#include "pipeline/graph-impl.h"

#include <stdlib.h>
#include <string.h>

void reeli_graph_init(reeli_graph *g)
{
    memset(g, 0, sizeof *g);
}

static void node_free(reeli_node *n)
{
    if (!n) return;
    free(n->kind);
    free(n->plugin);
    free(n->name);
    free(n->where);
    json_decref(n->params);
    free(n->inputs);
    free(n->file_digest);
    json_decref(n->resources);
    free(n->ext);
    free(n);
}

void reeli_graph_free(reeli_graph *g)
{
    for (size_t i = 0; i < g->n; i++) node_free(g->nodes[i]);
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

int reeli_graph_add(reeli_graph *g, const char *kind, json_t *params, const int *inputs,
                    size_t n_inputs, const char *name, const char *where)
{
    for (size_t i = 0; i < n_inputs; i++) REEL_ASSERT(inputs[i] >= 1 && (size_t)inputs[i] <= g->n);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->nodes = reel_xrealloc(g->nodes, g->cap * sizeof *g->nodes);
    }
    reeli_node *n = reel_xcalloc(1, sizeof *n);
    n->id = (int)g->n + 1;
    n->kind = reel_xstrdup(kind);
    const char *plugin = reel_json_str(params, "plugin", NULL);
    n->plugin = plugin ? reel_xstrdup(plugin) : NULL;
    n->name = name ? reel_xstrdup(name) : NULL;
    n->where = where ? reel_xstrdup(where) : NULL;
    n->params = params;
    if (n_inputs) {
        n->inputs = reel_xmalloc(n_inputs * sizeof *inputs);
        memcpy(n->inputs, inputs, n_inputs * sizeof *inputs);
    }
    n->n_inputs = n_inputs;
    g->nodes[g->n++] = n;
    return n->id;
}

reeli_node *reeli_graph_node(const reeli_graph *g, int id)
{
    if (id < 1 || (size_t)id > g->n) return NULL;
    return g->nodes[id - 1];
}

const char *reeli_node_label(const reeli_node *n, char *buf, size_t size)
{
    snprintf(buf, size, "node %d (%s%s%s%s%s%s%s%s)", n->id, n->kind, n->plugin ? " " : "",
             n->plugin ? n->plugin : "", n->name ? " '" : "", n->name ? n->name : "",
             n->name ? "'" : "", n->where ? ", " : "", n->where ? n->where : "");
    return buf;
}

/* key = SHA-256 of the canonical JSON
 *   {"kind":..., "plugin":..., "version":..., "params":..., "inputs":[keys...], "file":digest}
 * of one node whose inputs already have their keys. */
static int key_one(reeli_graph *g, reeli_node *n, const reel_stage_runner *runner)
{
    char label[256];
    const char *version = runner->version(n->kind, n->params);
    if (!version) {
        char *msg = reel_xstrdup(reel_last_error()); /* reel_set_error reuses its buffer */
        int code = reel_last_error_code() < 0 ? reel_last_error_code() : REEL_ENOTFOUND;
        reel_set_error(code, "%s: %s", reeli_node_label(n, label, sizeof label),
                       *msg ? msg : "no stage implementation for this kind or plugin");
        free(msg);
        return code;
    }
    const char *ext = runner->ext(n->kind, n->params);
    if (!ext || ext[0] != '.' || strchr(ext, '/') || strlen(ext) > 16)
        return reel_set_error(REEL_EINVAL, "%s: the stage runner gave no valid file extension",
                              reeli_node_label(n, label, sizeof label));
    json_t *desc = json_object();
    json_object_set_new(desc, "kind", json_string(n->kind));
    if (n->plugin) json_object_set_new(desc, "plugin", json_string(n->plugin));
    json_object_set_new(desc, "version", json_string(version));
    if (n->file_digest) {
        /* a file the node reads counts by its content, not by where it lies: the same
         * picture or song under another name or folder is the same node */
        json_t *p = json_deep_copy(n->params);
        json_object_del(p, "path");
        json_object_set_new(desc, "params", p);
    } else {
        json_object_set(desc, "params", n->params);
    }
    json_t *in = json_array();
    for (size_t i = 0; i < n->n_inputs; i++)
        json_array_append_new(in, json_string(reeli_graph_node(g, n->inputs[i])->key));
    json_object_set_new(desc, "inputs", in);
    if (n->file_digest) json_object_set_new(desc, "file", json_string(n->file_digest));
    uint8_t digest[REEL_SHA256_SIZE];
    reel_json_hash(desc, digest);
    json_decref(desc);
    reel_hex(digest, sizeof digest, n->key);
    free(n->ext);
    n->ext = reel_xstrdup(ext);
    n->concurrency = runner->concurrency ? runner->concurrency(n->kind, n->params) : 0;
    if (n->concurrency < 0) n->concurrency = 0;
    n->have_key = 1;
    return 0;
}

/* Inputs precede their users, so one backward pass marks what id needs and one forward pass
 * keys it: no recursion, however deep a chain the script built. */
int reeli_graph_key(reeli_graph *g, int id, const reel_stage_runner *runner)
{
    reeli_node *target = reeli_graph_node(g, id);
    REEL_ASSERT(target);
    if (target->have_key) return 0;
    unsigned char *need = reel_xcalloc((size_t)id + 1, 1);
    need[id] = 1;
    for (int i = id; i >= 1; i--) {
        reeli_node *n = g->nodes[i - 1];
        if (!need[i] || n->have_key) continue;
        for (size_t k = 0; k < n->n_inputs; k++) need[n->inputs[k]] = 1;
    }
    int rc = 0;
    for (int i = 1; i <= id && rc == 0; i++) {
        reeli_node *n = g->nodes[i - 1];
        if (need[i] && !n->have_key) rc = key_one(g, n, runner);
    }
    free(need);
    return rc;
}
