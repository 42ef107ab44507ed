/* What a film says made it (reel.render's container tags and DEST.reel.json sidecar): the
 * models that gave text in the run, the plugins of the nodes the film is made from, and the
 * graph itself. Nothing is named that did not take part. */
#include "pipeline/lua-impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* "a, b" of a JSON array of strings; NULL when empty. */
static char *joined(const json_t *list)
{
    if (json_array_size(list) == 0) return NULL;
    char *out = reel_xstrdup("");
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)list, i, v)
    {
        char *t = reel_xasprintf("%s%s%s", out, i ? ", " : "", json_string_value(v));
        free(out);
        out = t;
    }
    return out;
}

/* The plugins (sorted names) of the nodes target is made from. */
static json_t *plugins_of(reeli_run *run, int target)
{
    char *mark = reel_xcalloc((size_t)target + 1, 1);
    mark[target] = 1;
    json_t *names = json_object();
    for (int id = target; id >= 1; id--) /* inputs have smaller ids than their users */
        if (mark[id]) {
            reeli_node *n = reeli_graph_node(&run->graph, id);
            for (size_t k = 0; k < n->n_inputs; k++) mark[n->inputs[k]] = 1;
            if (n->plugin)
                json_object_set_new(names, n->plugin, json_true());
            else if (!strcmp(n->kind, "image"))
                json_object_set_new(names, "image", json_true());
        }
    free(mark);
    json_t *list = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(names, k, v) json_array_append_new(list, json_string(k));
    json_decref(names);
    /* object order is insertion order: sort for a stable tag (and cache key) */
    size_t n = json_array_size(list);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(list, b)),
                                           json_string_value(json_array_get(list, b - 1))) < 0;
             b--) {
            json_t *t = json_incref(json_array_get(list, b));
            json_array_set(list, b, json_array_get(list, b - 1));
            json_array_set_new(list, b - 1, t);
        }
    return list;
}

char *reeli_provenance_models(const reeli_run *run)
{
    return joined(run->models_used);
}

char *reeli_provenance_plugins(reeli_run *run, int target)
{
    json_t *list = plugins_of(run, target);
    char *s = joined(list);
    json_decref(list);
    return s;
}

/* The nodes target depends on (itself included), in id order, for the provenance sidecar. */
json_t *reeli_provenance_graph(reeli_run *run, int target)
{
    char *mark = reel_xcalloc((size_t)target + 1, 1);
    mark[target] = 1;
    for (int id = target; id >= 1; id--) /* inputs have smaller ids than their users */
        if (mark[id]) {
            reeli_node *n = reeli_graph_node(&run->graph, id);
            for (size_t k = 0; k < n->n_inputs; k++) mark[n->inputs[k]] = 1;
        }
    json_t *nodes = json_array();
    for (size_t i = 0; i < run->graph.n && (int)i < target; i++) {
        reeli_node *n = run->graph.nodes[i];
        if (!mark[i + 1]) continue; /* not part of this render */
        json_t *o = json_object();
        json_object_set_new(o, "id", json_integer(n->id));
        json_object_set_new(o, "kind", json_string(n->kind));
        if (n->plugin) json_object_set_new(o, "plugin", json_string(n->plugin));
        if (n->name) json_object_set_new(o, "name", json_string(n->name));
        json_object_set_new(o, "key", json_string(n->key));
        json_object_set(o, "params", n->params);
        json_t *in = json_array();
        for (size_t k = 0; k < n->n_inputs; k++)
            json_array_append_new(in, json_integer(n->inputs[k]));
        json_object_set_new(o, "inputs", in);
        if (n->where) json_object_set_new(o, "where", json_string(n->where));
        json_array_append_new(nodes, o);
    }
    free(mark);
    return nodes;
}
