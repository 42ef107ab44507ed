/* reel pipeline: private header of node descriptions (node_exec.c): what `reel node exec KEY`
 * needs to run one node away from the process that built the graph, kept in the cache. */
#ifndef REEL_PIPELINE_NODE_IMPL_H
#define REEL_PIPELINE_NODE_IMPL_H

#include "pipeline/cache-impl.h"
#include "pipeline/graph-impl.h"

/* The cluster files of the cache folder dir: DIR/cluster/<sub>/<key><suffix> (owned). sub is
 * "nodes" (descriptions, .json), "jobs" (the batch job that makes the key, .job), "logs" (the
 * job's output, .log) or "tmp" (outputs being written by node exec). */
char *reeli_cluster_path(const char *dir, const char *sub, const char *key, const char *suffix);

/* Writes the description of node n (keyed, as are its inputs) to DIR/cluster/nodes/<key>.json,
 * atomically: kind, params, output extension, file digest and its inputs' keys and
 * extensions. Returns 0 or an error. */
int reeli_node_desc_write(const reeli_cache *c, const reeli_graph *g, const reeli_node *n);

#endif
