/* reel pipeline: declarations shared by the files of the module (not public). */
#ifndef REEL_PIPELINE_IMPL_H
#define REEL_PIPELINE_IMPL_H

#include "core/core.h"
#include "pipeline/pipeline.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* ---- graph (graph.c) ------------------------------------------------------------------------ */

/* One lazy media node. Nodes are immutable once added; the graph owns them. */
typedef struct reeli_node {
    int id;           /* 1-based, in creation order */
    char *kind;       /* stage kind (stage.h) */
    char *plugin;     /* params.plugin when present, else NULL (points into nothing: owned copy) */
    char *name;       /* optional label given by the script (not part of the key), or NULL */
    char *where;      /* "script.lua:12": where the script created it */
    json_t *params;   /* stage parameters (owned) */
    int *inputs;      /* ids of the input nodes, in order */
    size_t n_inputs;
    char *file_digest; /* hex SHA-256 of an external file the node reads (image path), or NULL */
    /* Filled by reeli_graph_key(): */
    int have_key;
    char key[REEL_SHA256_HEX_SIZE];
    char *ext;        /* output extension (".mkv") */
    int concurrency;  /* plugin's limit (0 = any) */
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
/* "node 3 (video card 'intro', film.lua:12)": a label for messages, written into buf. */
const char *reeli_node_label(const reeli_node *n, char *buf, size_t size);

/* ---- cache (cache.c) ------------------------------------------------------------------------ */

typedef struct reeli_cache {
    char *dir; /* absolute */
} reeli_cache;

/* Creates the folder (and tmp/) and removes temporary files left by dead processes. */
int reeli_cache_open(reeli_cache *c, const char *dir);
void reeli_cache_close(reeli_cache *c);
/* Final path of key+ext (owned by the caller). */
char *reeli_cache_path(const reeli_cache *c, const char *key, const char *ext);
/* A fresh temporary path for key+ext, unique in this process (owned). */
char *reeli_cache_tmp_path(const reeli_cache *c, const char *key, const char *ext);
/* 1 if the finished output of key is present. */
int reeli_cache_has(const reeli_cache *c, const char *key, const char *ext);
/* fsyncs tmp and renames it to the final name of key. */
int reeli_cache_commit(const reeli_cache *c, const char *tmp, const char *key, const char *ext);
/* Copies a cached file to dest atomically (temp + rename), creating dest's folder. */
int reeli_cache_export(const char *src, const char *dest);

/* ---- events and progress display (events.c) ------------------------------------------------- */

typedef struct reeli_events reeli_events;

/* path: file, "-" (stdout) or NULL; progress: 1/0/-1 (auto: stderr is a tty). NULL + error if
 * the file cannot be opened. */
reeli_events *reeli_events_init(const char *path, int progress);
void reeli_events_free(reeli_events *ev);
/* Writes one event line {"event": name, "t": seconds since init, ...fields}; steals fields.
 * Thread-safe. */
void reeli_events_emit(reeli_events *ev, const char *name, json_t *fields);
/* Display hooks (thread-safe): a scheduling pass with `total` nodes begins / a node changes. */
void reeli_events_pass_begin(reeli_events *ev, int total);
void reeli_events_node_state(reeli_events *ev, const reeli_node *n, int state, double fraction);
void reeli_events_pass_end(reeli_events *ev);
/* Script log line (reel.log): to stderr and as a "log" event. */
void reeli_events_log(reeli_events *ev, const char *where, const char *msg);

enum { REELI_NODE_RUNNING = 1, REELI_NODE_DONE = 2, REELI_NODE_CACHED = 3, REELI_NODE_FAILED = 4 };

/* ---- scheduler (sched.c) -------------------------------------------------------------------- */

typedef struct reeli_sched_stats {
    int executed, cached, failed;
} reeli_sched_stats;

typedef struct reeli_sched {
    reeli_graph *graph;
    reeli_cache *cache;
    reeli_events *events;
    const reel_stage_runner *runner;
    int jobs;
    int max_attempts;
    double retry_base_s;
    reeli_sched_stats stats; /* accumulated over passes */
} reeli_sched;

/* Makes the output of node `target` present in the cache, running what is missing. On failure
 * the error names the first failed node with its parameters; other nodes still ran. */
int reeli_sched_run(reeli_sched *s, int target);

/* Set by reel_pipeline_cancel(). */
extern volatile sig_atomic_t reeli_cancel_flag;

/* ---- Lua runtime (lua*.c) ------------------------------------------------------------------- */

typedef struct lua_State lua_State;

/* Everything one run owns; reachable from Lua through the registry. */
typedef struct reeli_run {
    const reel_pipeline_params *params;
    lua_State *L;
    size_t mem_used, mem_cap;
    int mem_hit; /* the cap refused an allocation */
    char *script_path; /* absolute */
    char *script_dir;  /* absolute, real */
    char *out_dir;     /* absolute, real */
    char **roots;      /* folders the script may touch (real paths) */
    size_t n_roots;
    reeli_graph graph;
    reeli_cache cache;
    reeli_events *events;
    reeli_sched sched;
    int renders;
} reeli_run;

/* The run that owns L. */
reeli_run *reeli_run_of(lua_State *L);
/* Opens the restricted standard libraries and the confined file functions (lua_sandbox.c). */
void reeli_sandbox_open(lua_State *L, reeli_run *run);
/* Resolves path (relative to the current folder) and checks that it lies inside one of the
 * run's roots. Returns the absolute path (owned) or NULL with *why set to a static reason. */
char *reeli_sandbox_resolve(reeli_run *run, const char *path, int for_write, const char **why);
/* Opens the reel module and leaves it in the global "reel" (lua_reel.c). */
void reeli_reel_open(lua_State *L, reeli_run *run);
/* Lua value at idx to JSON (new reference) or raises a Lua error naming `what`. */
json_t *reeli_lua_to_json(lua_State *L, int idx, const char *what);
/* Pushes a JSON value as a Lua value. */
void reeli_lua_push_json(lua_State *L, const json_t *v);

/* The embedded prelude (generated from scripts/prelude.lua at build time). */
extern const char reeli_prelude[];
extern const size_t reeli_prelude_size;

#endif
