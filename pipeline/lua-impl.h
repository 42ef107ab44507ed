/* reel pipeline: private header of the Lua runtime (lua.c opens the state and registers the
 * modules of lua_sandbox.c, lua_reel.c and lua_model.c; lua_util.c and lua_json.c hold what
 * they share). */
#ifndef REEL_PIPELINE_LUA_IMPL_H
#define REEL_PIPELINE_LUA_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "pipeline/cache-impl.h"
#include "pipeline/events-impl.h"
#include "pipeline/graph-impl.h"
#include "pipeline/pipeline.h"
#include "pipeline/sched-impl.h"

typedef struct lua_State lua_State;

/* Metatable name of the node userdata (lua_reel.c). */
#define REELI_NODE_MT "reel.node"

/* Everything one run owns; reachable from Lua through the registry. */
typedef struct reeli_run {
    const reel_pipeline_params *params;
    lua_State *L;
    size_t mem_used, mem_cap;
    size_t graph_mem;  /* estimated C-side memory of the nodes the script built: counts
                          against mem_cap together with the Lua heap (mem_used) */
    int mem_hit;       /* the cap refused an allocation */
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
    json_t *models_used; /* names of the models that gave text in this run (provenance), or
                            NULL: a film is tagged only with models that took part */
} reeli_run;

/* The run that owns L (lua_util.c). */
reeli_run *reeli_run_of(lua_State *L);
/* Opens the restricted standard libraries and the confined file functions (lua_sandbox.c). */
void reeli_sandbox_open(lua_State *L, reeli_run *run);
/* Opens path (relative to the current folder) with open(2) flags and mode beneath the root it
 * lies in, refusing any link or '..' that leaves it. Returns the descriptor, or -1 with the
 * reason in why (lua_path.c). */
int reeli_path_open(reeli_run *run, const char *path, int flags, unsigned mode, char *why,
                    size_t whysz);
/* What reeli_path_open does where the kernel lacks openat2: opens rel beneath the folder root
 * one component at a time with O_NOFOLLOW; -1 with errno EXDEV when a '..' or link leaves it
 * (lua_path.c; exposed for its test). */
int reeli_path_walk(int root, const char *rel, int flags, unsigned mode);
/* The canonical absolute name of path once opened beneath a root (owned), or NULL with the
 * reason in why. for_write: the file need not exist but its folder must; a folder or a
 * dangling link is refused (lua_path.c). */
char *reeli_sandbox_resolve(reeli_run *run, const char *path, int for_write, char *why,
                            size_t whysz);
/* Opens the reel module and leaves it in the global "reel" (lua_reel.c). */
void reeli_reel_open(lua_State *L, reeli_run *run);

/* Provenance (lua_provenance.c): "a, b" of the models that gave text in this run, and of the
 * plugins of the nodes target is made from (sorted); NULL when none (free()). */
char *reeli_provenance_models(const reeli_run *run);
char *reeli_provenance_plugins(reeli_run *run, int target);
/* The nodes target is made from, as the JSON the sidecar records (owned by the caller). */
json_t *reeli_provenance_graph(reeli_run *run, int target);

/* Options of the media nodes (lua_media_opts.c); each raises a Lua argument error naming the
 * field. The fields transition/style of the table at arg t (reel.concat): a known transition
 * or xfade style, listed when unknown. */
void reeli_lua_check_transition(lua_State *L, int t);
/* node:with_audio's options table at arg t (may be absent): {trim=, pad_s=} as stage params
 * (a new object). */
json_t *reeli_lua_with_audio_opts(lua_State *L, int t);
/* reel.render's loudness=, true_peak= of the table at arg t: checked, and set as the stage's
 * loudness/true_peak_db in params when params is not NULL. */
void reeli_lua_loudness_opts(lua_State *L, int t, json_t *params);
/* Registers reel.model and the model userdata type into the reel table at the stack top
 * (lua_model.c). */
void reeli_model_register(lua_State *L);
/* How deep Lua tables and JSON values may nest when converted either way (lua_json.c). */
#define REELI_JSON_MAX_DEPTH 200
/* Lua value at idx to JSON (new reference) or raises a Lua error naming `what` (lua_json.c). */
json_t *reeli_lua_to_json(lua_State *L, int idx, const char *what);
/* Checks the `resources` table of a generator at idx (lua_resources.c); with out, also makes
 * it a JSON object (owned). 0, or -1 with err saying what is wrong. Never raises. */
int reeli_lua_resources(lua_State *L, int idx, json_t **out, char *err, size_t errsz);
/* The same without raising: NULL with the reason in err on failure. depth is the nesting level
 * of idx (0 at the top); nodes and functions are not data (lua_json.c). */
json_t *reeli_lua_to_json_err(lua_State *L, int idx, int depth, char *err, size_t errsz);
/* Estimated heap bytes jansson holds for v (what a node's parameters cost) (lua_json.c). */
size_t reeli_json_footprint(const json_t *v);
/* Pushes a JSON value as a Lua value, or raises when it nests deeper than the limit
 * (lua_json.c). */
void reeli_lua_push_json(lua_State *L, const json_t *v);
/* The same without raising: -1 with the reason in err, nothing pushed (lua_json.c). */
int reeli_lua_push_json_err(lua_State *L, const json_t *v, char *err, size_t errsz);

/* The embedded prelude (generated from pipeline/prelude.lua at build time). */
extern const char reeli_prelude[];
extern const size_t reeli_prelude_size;

#endif
