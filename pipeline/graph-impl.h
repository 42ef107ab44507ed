/* reel pipeline: private header of the node graph (graph.c): the lazy media nodes a script
 * builds and their cache keys. */
#ifndef REEL_PIPELINE_GRAPH_IMPL_H
#define REEL_PIPELINE_GRAPH_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "core/core.h"
#include "pipeline/pipeline.h"

/* One lazy media node. Nodes are immutable once added; the graph owns them. */
typedef struct reeli_node {
    int id;         /* 1-based, in creation order */
    char *kind;     /* stage kind (stage.h) */
    char *plugin;   /* params.plugin when present, else NULL (points into nothing: owned copy) */
    char *name;     /* optional label given by the script (not part of the key), or NULL */
    char *where;    /* "script.lua:12": where the script created it */
    json_t *params; /* stage parameters (owned) */
    int *inputs;    /* ids of the input nodes, in order */
    size_t n_inputs;
    char *file_digest; /* hex SHA-256 of an external file the node reads (image path), or NULL */
    json_t *resources; /* what a batch executor asks for this node ({gres, mem...}; not part of
                          the key), or NULL */
    /* Filled by reeli_graph_key(): */
    int have_key;
    char key[REEL_SHA256_HEX_SIZE];
    char *ext;       /* output extension (".mkv") */
    int concurrency; /* plugin's limit (0 = any) */
} reeli_node;

typedef struct reeli_graph {
    reeli_node **nodes; /* nodes[id - 1] */
    size_t n, cap;
} reeli_graph;

void reeli_graph_init(reeli_graph *g);
void reeli_graph_free(reeli_graph *g);
/* Adds a node; takes ownership of params (also on failure). inputs are existing ids. Returns
 * the new id. */
int reeli_graph_add(reeli_graph *g, const char *kind, json_t *params, const int *inputs,
                    size_t n_inputs, const char *name, const char *where);
reeli_node *reeli_graph_node(const reeli_graph *g, int id);
/* Computes the cache key, extension and concurrency of node id and of everything it depends
 * on. Returns 0 or an error naming the node. */
int reeli_graph_key(reeli_graph *g, int id, const reel_stage_runner *runner);
/* The inputs of a render of node `in` (malloc'ed, *n of them): `in` itself, or, when it is a
 * concat that sets no size, fps or fit, the concat's clips, each with_audio clip taken apart
 * into its video and its voice; then params gets join = the concat's parameters (and parts
 * saying which clips are narrated, how): the render joins them itself (pipeline/stage.h). */
int *reeli_render_inputs(const reeli_graph *g, const reeli_node *in, json_t *params, size_t *n);
/* "node 3 (video card 'intro', film.lua:12)": a label for messages, written into buf. */
const char *reeli_node_label(const reeli_node *n, char *buf, size_t size);

#endif
