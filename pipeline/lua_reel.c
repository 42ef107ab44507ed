/* The reel Lua module: thin C primitives (luaL_Reg) over the graph, the scheduler and the
 * run's options. The friendlier parts (subtitles from narration, schemas, plan checks) live
 * in the embedded prelude, pipeline/prelude.lua.
 *
 * Nodes are full userdata "reel.node" holding the node id; the graph owns the node itself. One
 * userdata exists per node (kept in the registry table NODES), so nodes compare with ==. */
#include "pipeline/lua-impl.h"
#include "pipeline/size-impl.h"
#include "pipeline/slurm-impl.h"

#include "llm/grammar.h"
#include "llm/plan.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reel_config.h"

#include <lauxlib.h>
#include <lua.h>

#define NODES_KEY   "reel.nodes"   /* registry: id -> userdata */
#define METHODS_KEY "reel.methods" /* registry: method table of nodes (prelude adds to it) */

typedef struct lnode {
    int id;
} lnode;

/* ---- nodes ---------------------------------------------------------------------------------- */

static reeli_node *check_node(lua_State *L, int idx)
{
    lnode *u = luaL_checkudata(L, idx, REELI_NODE_MT);
    return reeli_graph_node(&reeli_run_of(L)->graph, u->id);
}

static reeli_node *test_node(lua_State *L, int idx)
{
    lnode *u = luaL_testudata(L, idx, REELI_NODE_MT);
    return u ? reeli_graph_node(&reeli_run_of(L)->graph, u->id) : NULL;
}

static void push_node(lua_State *L, int id)
{
    lua_getfield(L, LUA_REGISTRYINDEX, NODES_KEY); /* [nodes] */
    lua_rawgeti(L, -1, id);                        /* [nodes ud] */
    lua_remove(L, -2);                             /* [ud] */
}

/* "film.lua:12" of the Lua function calling the current C function (level 1), or NULL. */
static char *caller_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        /* skip the prelude: the user wants their own line */
        if (ar.currentline > 0 && strcmp(ar.short_src, "[reel prelude]") != 0)
            return reel_xasprintf("%s:%d", ar.short_src, ar.currentline);
    }
    return NULL;
}

static int is_visual(const char *kind)
{
    return strcmp(kind, "video") == 0 || strcmp(kind, "image") == 0 ||
           strcmp(kind, "concat") == 0 || strcmp(kind, "with_audio") == 0 ||
           strcmp(kind, "subtitles") == 0;
}

static int is_audio(const char *kind)
{
    return strcmp(kind, "audio") == 0 || strcmp(kind, "mix") == 0;
}

/* Adds a node (taking params) and pushes its userdata; or, when the memory cap refuses it,
 * pushes the reason and returns -1. */
static int try_new_node(lua_State *L, const char *kind, json_t *params, const int *inputs,
                        size_t n_inputs, const char *name)
{
    reeli_run *run = reeli_run_of(L);
    /* Nodes live outside the Lua heap but the script decides how many and how large: they
     * count against the same cap, or a loop of nodes would use memory without bound. */
    size_t cost = sizeof(reeli_node) + 256 + strlen(kind) + n_inputs * sizeof *inputs +
                  reeli_json_footprint(params) + (name ? strlen(name) : 0);
    if (run->mem_cap && run->mem_used + run->graph_mem + cost > run->mem_cap) {
        json_decref(params);
        char b[32];
        luaL_where(L, 1);
        lua_pushfstring(L,
                        "reel.%s: the Lua heap and the %d nodes built so far exceed the memory "
                        "limit of %s (--max-lua-mem counts both)",
                        kind, (int)run->graph.n,
                        reel_format_bytes((double)run->mem_cap, b, sizeof b));
        lua_concat(L, 2);
        return -1;
    }
    run->graph_mem += cost;
    char *where = caller_where(L);
    int id = reeli_graph_add(&run->graph, kind, params, inputs, n_inputs, name, where);
    free(where);
    lnode *u = lua_newuserdatauv(L, sizeof *u, 0); /* [ud] */
    u->id = id;
    luaL_setmetatable(L, REELI_NODE_MT);
    lua_getfield(L, LUA_REGISTRYINDEX, NODES_KEY); /* [ud nodes] */
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, id);
    lua_pop(L, 1); /* [ud] */
    return 1;
}

/* try_new_node or raise. */
static int new_node(lua_State *L, const char *kind, json_t *params, const int *inputs,
                    size_t n_inputs, const char *name)
{
    if (try_new_node(L, kind, params, inputs, n_inputs, name) < 0) return lua_error(L);
    return 1;
}

/* Collects the string-keyed fields of the table at arg 1 as parameters (skipping `name` and
 * any keys in skip) and the optional name. Raises argerror naming the field at fault. */
static json_t *table_params(lua_State *L, const char **name, const char *const *skip)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    json_t *params = json_object();
    *name = NULL;
    lua_pushnil(L);
    while (lua_next(L, 1)) { /* [k v] */
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 1);
            continue; /* positional items are the caller's business */
        }
        const char *k = lua_tostring(L, -2);
        int skipped = 0;
        for (const char *const *s = skip; s && *s; s++)
            if (strcmp(k, *s) == 0) skipped = 1;
        if (strcmp(k, "name") == 0) {
            if (lua_type(L, -1) != LUA_TSTRING) {
                json_decref(params);
                luaL_argerror(L, 1,
                              lua_pushfstring(L, "field 'name' must be a string, got %s",
                                              luaL_typename(L, -1)));
            }
            *name = lua_tostring(L, -1); /* anchored in the argument table */
        } else if (!skipped) {
            char err[512];
            json_t *v = reeli_lua_to_json_err(L, -1, 1, err, sizeof err);
            if (!v) {
                json_decref(params);
                luaL_argerror(L, 1, lua_pushfstring(L, "field '%s': %s", k, err));
            }
            json_object_set_new(params, k, v);
        }
        lua_pop(L, 1);
    }
    return params;
}

/* A file a node reads (field 'path', relative to the script's folder): opened beneath the
 * run's roots, like every file a script names, since the plugin that reads it later is not
 * sandboxed. Returns its canonical name (owned) and its digest for the cache key, or raises
 * (params are released first). */
static char *input_file(lua_State *L, const char *path, json_t *params,
                        uint8_t digest[REEL_SHA256_SIZE])
{
    reeli_run *run = reeli_run_of(L);
    char *rel =
        path[0] == '/' ? reel_xstrdup(path) : reel_xasprintf("%s/%s", run->script_dir, path);
    char why[512];
    char *real = reeli_sandbox_resolve(run, rel, 0, why, sizeof why);
    free(rel);
    if (!real) {
        lua_pushfstring(L, "field 'path' (%s): %s", path, why);
        json_decref(params);
        luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    if (reel_sha256_file(real, digest) < 0) {
        free(real);
        json_decref(params);
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'path': %s", reel_last_error()));
    }
    return real;
}

/* The size= field of a node's params (pipeline/size.c); raises with params released. */
static void node_size(lua_State *L, json_t *params, int as_dims)
{
    char err[300];
    if (reeli_size_field(params, as_dims, err, sizeof err) < 0) {
        lua_pushstring(L, err);
        json_decref(params);
        luaL_argerror(L, 1, lua_tostring(L, -1));
    }
}

/* Adds a node that reads the file real (taking params and real) and pushes it. */
static int file_node(lua_State *L, const char *kind, json_t *params, char *real,
                     const uint8_t digest[REEL_SHA256_SIZE], const char *name)
{
    json_object_set_new(params, "path", json_string(real));
    free(real);
    new_node(L, kind, params, NULL, 0, name);
    reeli_run *run = reeli_run_of(L);
    char hex[REEL_SHA256_HEX_SIZE];
    reeli_graph_node(&run->graph, (int)run->graph.n)->file_digest =
        reel_xstrdup(reel_hex(digest, REEL_SHA256_SIZE, hex));
    return 1;
}

/* reel.video{plugin=..., ...} / reel.audio{...}: a generator node. A string field 'path' is a
 * file the generator reads, confined like reel.image's; without a plugin, the file itself
 * (a clip, or a music bed: reel.audio{path=, start_s=, duration_s=, loop=, fade_in_s=,
 * fade_out_s=, gain=}, reel.video{path=, start_s=, duration_s=, width=, height=, fps=}).
 * A video's size= ("WxH" or a preset, "9:16"...) becomes its width= and height=.
 * Either way the node counts the file by its content (SHA-256), not its path. A table
 * 'resources' is what a batch executor asks for the node (lua_resources.c), not a parameter. */
static int generator(lua_State *L, const char *kind)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int has_path = lua_getfield(L, 1, "path") == LUA_TSTRING;
    lua_pop(L, 1);
    int pt = lua_getfield(L, 1, "plugin");
    /* without a plugin, a path is a media file of the script's: a music bed or a clip */
    if (pt != LUA_TSTRING && !(pt == LUA_TNIL && has_path))
        return luaL_argerror(L, 1,
                             lua_pushfstring(L,
                                             "field 'plugin' must be a string naming "
                                             "the generator (e.g. \"card\"), or give a media "
                                             "file as path=, got %s",
                                             luaL_typename(L, -1)));
    lua_pop(L, 1);
    if (lua_rawlen(L, 1) > 0)
        return luaL_argerror(L, 1, "takes named fields only (plugin=..., ...)");
    /* resources: checked now, attached once the node exists (nothing to free if this raises) */
    char err[256];
    int has_res = lua_getfield(L, 1, "resources") != LUA_TNIL;
    if (has_res && reeli_lua_resources(L, -1, NULL, err, sizeof err) < 0)
        return luaL_argerror(L, 1, lua_pushfstring(L, "field 'resources': %s", err));
    lua_pop(L, 1);
    const char *name;
    static const char *const skip[] = {"resources", NULL};
    json_t *params = table_params(L, &name, skip);
    if (!strcmp(kind, "video")) node_size(L, params, 1);
    const char *path = json_string_value(json_object_get(params, "path"));
    if (!path) {
        new_node(L, kind, params, NULL, 0, name);
    } else {
        uint8_t digest[REEL_SHA256_SIZE];
        char *keep = reel_xstrdup(path);
        lua_pushstring(L, keep); /* the message below may need it after params are gone */
        free(keep);
        char *real = input_file(L, lua_tostring(L, -1), params, digest);
        file_node(L, kind, params, real, digest, name);
    }
    if (has_res) {
        reeli_run *run = reeli_run_of(L);
        lua_getfield(L, 1, "resources");
        reeli_lua_resources(L, -1, &reeli_graph_node(&run->graph, (int)run->graph.n)->resources,
                            err, sizeof err);
        lua_pop(L, 1);
    }
    return 1;
}

static int l_video(lua_State *L)
{
    return generator(L, "video");
}

static int l_audio(lua_State *L)
{
    return generator(L, "audio");
}

/* reel.image{path=..., plugin="image"?, size=?, ...}: path is relative to the script's folder;
 * size= ("WxH" or a preset) becomes width= and height=. */
static int l_image(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "path") != LUA_TSTRING)
        return luaL_argerror(
            L, 1,
            lua_pushfstring(L, "field 'path' must be a string, got %s", luaL_typename(L, -1)));
    const char *path = lua_tostring(L, -1); /* anchored in the argument table */
    lua_pop(L, 1);
    const char *name;
    static const char *const skip[] = {"path", NULL};
    json_t *params = table_params(L, &name, skip);
    node_size(L, params, 1);
    uint8_t digest[REEL_SHA256_SIZE];
    char *real = input_file(L, path, params, digest);
    return file_node(L, "image", params, real, digest, name);
}

/* Inputs from the array part of arg 1; every item must be a node accepted by ok(). The ids live
 * in a userdata left on the stack, so that an error raised later frees them. */
static int *table_inputs(lua_State *L, const char *fname, int (*ok)(const char *), const char *want,
                         size_t *n)
{
    *n = (size_t)lua_rawlen(L, 1);
    if (*n == 0)
        luaL_argerror(L, 1, lua_pushfstring(L, "needs at least one %s node as item 1", want));
    int *ids = lua_newuserdatauv(L, *n * sizeof *ids, 0);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        reeli_node *in = test_node(L, -1);
        if (!in || !ok(in->kind)) {
            const char *got = in ? in->kind : luaL_typename(L, -1);
            luaL_argerror(L, 1,
                          lua_pushfstring(L, "item %d must be a %s node, got %s%s", (int)i + 1,
                                          want, got, in ? " node" : ""));
        }
        ids[i] = in->id;
        lua_pop(L, 1);
    }
    (void)fname;
    return ids;
}

/* reel.concat{n1, n2, ..., transition="fade"|"crossfade"|<xfade style>, style=, transition_s=,
 * size=} */
static int l_concat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int t = lua_getfield(L, 1, "transition");
    if (t != LUA_TNIL && t != LUA_TSTRING)
        return luaL_argerror(L, 1, "field 'transition' must be a string (e.g. \"fade\")");
    lua_pop(L, 1);
    reeli_lua_check_transition(L, 1);
    t = lua_getfield(L, 1, "transition_s");
    if (t != LUA_TNIL && (t != LUA_TNUMBER || lua_tonumber(L, -1) < 0))
        return luaL_argerror(L, 1, "field 'transition_s' must be a number of seconds >= 0");
    lua_pop(L, 1);
    size_t n;
    int *ids = table_inputs(L, "concat", is_visual, "video", &n);
    const char *name;
    json_t *params = table_params(L, &name, NULL);
    node_size(L, params, 0);
    return new_node(L, "concat", params, ids, n, name);
}

/* reel.mix{a1, a2, ..., gains={...}, duck=...} */
static int l_mix(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t n;
    int *ids = table_inputs(L, "mix", is_audio, "audio", &n);
    const char *name;
    json_t *params = table_params(L, &name, NULL);
    json_t *gains = json_object_get(params, "gains");
    if (gains && (!json_is_array(gains) || json_array_size(gains) != n)) {
        json_decref(params);
        return luaL_argerror(L, 1,
                             lua_pushfstring(L,
                                             "field 'gains' must be an array of %d "
                                             "numbers, one per input",
                                             (int)n));
    }
    return new_node(L, "mix", params, ids, n, name);
}

/* node:with_audio(a [, {trim=false, pad_s=0.5}]) */
static int m_with_audio(lua_State *L)
{
    reeli_node *v = check_node(L, 1);
    if (!is_visual(v->kind))
        return luaL_argerror(L, 1, lua_pushfstring(L, "a video node is needed, got %s", v->kind));
    reeli_node *a = test_node(L, 2);
    if (!a || !is_audio(a->kind))
        return luaL_argerror(L, 2,
                             lua_pushfstring(L, "an audio node is needed, got %s",
                                             a ? a->kind : luaL_typename(L, 2)));
    json_t *params = reeli_lua_with_audio_opts(L, 3);
    int ids[2] = {v->id, a->id};
    return new_node(L, "with_audio", params, ids, 2, NULL);
}

/* reel._subtitles(node, cues, burn [, from, words_per_cue, max_cue_s, style]): the prelude's
 * node:subtitles{} checks and builds the fallback cues; with `from`, the stage makes the cues
 * from the word timings that node's narration carries. */
static int l_subtitles(lua_State *L)
{
    reeli_node *v = check_node(L, 1);
    if (!is_visual(v->kind))
        return luaL_argerror(L, 1, lua_pushfstring(L, "a video node is needed, got %s", v->kind));
    luaL_checktype(L, 2, LUA_TTABLE);
    reeli_node *from = lua_isnoneornil(L, 4) ? NULL : check_node(L, 4);
    json_t *cues = reeli_lua_to_json(L, 2, "cues");
    if (!json_is_array(cues)) {
        json_decref(cues);
        return luaL_argerror(L, 2, "cues must be an array of {start_s=, end_s=, text=}");
    }
    json_t *params = json_object();
    json_object_set_new(params, "cues", cues);
    json_object_set_new(params, "burn", json_boolean(lua_toboolean(L, 3)));
    if (from) {
        json_object_set_new(params, "words", json_true());
        if (lua_isnumber(L, 5))
            json_object_set_new(params, "words_per_cue", json_integer(lua_tointeger(L, 5)));
        if (lua_isnumber(L, 6))
            json_object_set_new(params, "max_cue_s", json_real(lua_tonumber(L, 6)));
    }
    if (lua_istable(L, 7)) json_object_set_new(params, "style", reeli_lua_to_json(L, 7, "style"));
    int ids[2] = {v->id, from ? from->id : 0};
    return new_node(L, "subtitles", params, ids, from && from->id != v->id ? 2 : 1, NULL);
}

static int node_index(lua_State *L)
{
    reeli_node *n = check_node(L, 1);
    const char *k = luaL_checkstring(L, 2);
    lua_getfield(L, LUA_REGISTRYINDEX, METHODS_KEY);
    if (lua_getfield(L, -1, k) != LUA_TNIL) return 1;
    lua_pop(L, 2);
    if (strcmp(k, "id") == 0)
        lua_pushinteger(L, n->id);
    else if (strcmp(k, "kind") == 0)
        lua_pushstring(L, n->kind);
    else if (strcmp(k, "plugin") == 0)
        lua_pushstring(L, n->plugin);
    else if (strcmp(k, "name") == 0)
        lua_pushstring(L, n->name);
    else if (strcmp(k, "params") == 0)
        reeli_lua_push_json(L, n->params);
    else if (strcmp(k, "inputs") == 0) {
        lua_createtable(L, (int)n->n_inputs, 0);
        for (size_t i = 0; i < n->n_inputs; i++) {
            push_node(L, n->inputs[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    } else
        lua_pushnil(L);
    return 1;
}

static int node_tostring(lua_State *L)
{
    reeli_node *n = check_node(L, 1);
    char label[256];
    lua_pushfstring(L, "reel.%s", reeli_node_label(n, label, sizeof label));
    return 1;
}

static int node_newindex(lua_State *L)
{
    return luaL_error(L, "reel nodes are immutable (cannot set '%s')", luaL_tolstring(L, 2, NULL));
}

/* ---- render --------------------------------------------------------------------------------- */

static int opt_int(lua_State *L, int t, const char *k, int def, int lo, int hi)
{
    int ty = lua_getfield(L, t, k);
    lua_Integer v = def;
    if (ty != LUA_TNIL) {
        if (!lua_isinteger(L, -1) || (v = lua_tointeger(L, -1)) < lo || v > hi)
            luaL_argerror(
                L, t, lua_pushfstring(L, "field '%s' must be an integer from %d to %d", k, lo, hi));
    }
    lua_pop(L, 1);
    return (int)v;
}

static const char *opt_str(lua_State *L, int t, const char *k, const char *def)
{
    int ty = lua_getfield(L, t, k);
    const char *v = def;
    if (ty == LUA_TSTRING)
        v = lua_tostring(L, -1);
    else if (ty != LUA_TNIL)
        luaL_argerror(L, t, lua_pushfstring(L, "field '%s' must be a string", k));
    lua_pop(L, 1); /* the string stays alive in the options table */
    return v;
}

/* reel.render(node, path, {fps=, size=, fit=, crf=, preset=, format=, loudness=, true_peak=,
 * title=, plan=}) -> path | nil, msg */
static int l_render(lua_State *L)
{
    reeli_run *run = reeli_run_of(L);
    reeli_node *in = check_node(L, 1);
    if (!is_visual(in->kind))
        return luaL_argerror(L, 1, lua_pushfstring(L, "a video node is needed, got %s", in->kind));
    const char *path = luaL_checkstring(L, 2);
    lua_settop(L, 3);
    if (!lua_isnil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
    } else {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    const char *dot = strrchr(path, '.');
    const char *def_format = dot && strcmp(dot, ".webm") == 0 ? "webm" : "mp4";
    /* fps, size and crf are left to the stage (the input's, the codec's) unless given */
    int fps = opt_int(L, 3, "fps", 0, 1, 240);
    const char *size = opt_str(L, 3, "size", NULL);
    int w = 0, h = 0;
    char size_err[256];
    if (size && reeli_size_parse(size, &w, &h, size_err, sizeof size_err) < 0)
        return luaL_argerror(L, 3, lua_pushfstring(L, "field 'size': %s", size_err));
    int crf = opt_int(L, 3, "crf", -1, 0, 63);
    const char *format = opt_str(L, 3, "format", def_format);
    if (strcmp(format, "mp4") != 0 && strcmp(format, "webm") != 0)
        return luaL_argerror(L, 3, "field 'format' must be \"mp4\" or \"webm\"");
    const char *fit = opt_str(L, 3, "fit", NULL);
    if (fit && strcmp(fit, "cover") != 0 && strcmp(fit, "contain") != 0)
        return luaL_argerror(L, 3, "field 'fit' must be \"cover\" or \"contain\"");
    const char *preset = opt_str(L, 3, "preset", NULL);
    const char *title = opt_str(L, 3, "title", NULL);
    reeli_lua_loudness_opts(L, 3, NULL); /* checked before anything is owned */
    json_t *plan = NULL;
    if (lua_getfield(L, 3, "plan") != LUA_TNIL) plan = reeli_lua_to_json(L, -1, "plan");
    lua_pop(L, 1);

    /* Where the film goes: relative paths are relative to --out. */
    char *dest_rel =
        path[0] == '/' ? reel_xstrdup(path) : reel_xasprintf("%s/%s", run->out_dir, path);
    char why[512];
    char *dest = reeli_sandbox_resolve(run, dest_rel, 1, why, sizeof why);
    free(dest_rel);
    if (!dest) {
        json_decref(plan);
        return luaL_argerror(L, 2, lua_pushfstring(L, "%s: %s", path, why));
    }

    /* The pipeline hash (the input's key) goes into the film's metadata. */
    int rc = reeli_graph_key(&run->graph, in->id, run->sched.runner);
    if (rc < 0) {
        free(dest);
        json_decref(plan);
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    /* the render stage adds ai_generated=true and an "AI-generated" comment itself */
    json_t *meta = json_object();
    json_object_set_new(meta, "pipeline_hash", json_string(in->key));
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, run->params->seed);
    json_object_set_new(meta, "seeds", json_string(seed));
    /* only what made the film: the models that gave text, the plugins of its nodes */
    char *models = reeli_provenance_models(run);
    if (models) json_object_set_new(meta, "model", json_string(models));
    free(models);
    char *pl = reeli_provenance_plugins(run, in->id);
    if (pl) json_object_set_new(meta, "plugins", json_string(pl));
    free(pl);
    json_object_set_new(meta, "generator", json_string("reel " REEL_VERSION));
    if (title) json_object_set_new(meta, "title", json_string(title));
    json_t *params = json_object();
    if (fps) json_object_set_new(params, "fps", json_integer(fps));
    if (size) json_object_set_new(params, "size", json_string(size));
    reeli_size_field(params, 0, size_err, sizeof size_err); /* checked above: "WxH" */
    if (fit) json_object_set_new(params, "fit", json_string(fit));
    if (crf >= 0) json_object_set_new(params, "crf", json_integer(crf));
    if (preset) json_object_set_new(params, "preset", json_string(preset));
    json_object_set_new(params, "format", json_string(format));
    reeli_lua_loudness_opts(L, 3, params);
    json_object_set_new(params, "metadata", meta);
    size_t n_inputs;
    int *inputs = reeli_render_inputs(&run->graph, in, params, &n_inputs);
    int made = try_new_node(L, "render", params, inputs, n_inputs, NULL);
    free(inputs);
    if (made < 0) { /* [node path opts rnode] */
        free(dest);
        json_decref(plan);
        return lua_error(L);
    }
    int target = (int)run->graph.n;
    run->renders++;

    rc = run->sched.slurm ? reeli_sched_slurm_run(&run->sched, target)
                          : reeli_sched_run(&run->sched, target);
    reeli_node *r = reeli_graph_node(&run->graph, target);
    if (rc == 0) {
        char *src = reeli_cache_path(&run->cache, r->key, r->ext);
        rc = reeli_cache_export(src, dest);
        free(src);
    }
    if (rc == 0) {
        /* provenance sidecar: DEST.reel.json */
        json_t *side = json_object();
        json_object_set_new(side, "ai_generated", json_true());
        json_object_set_new(side, "generator", json_string("reel " REEL_VERSION));
        json_object_set_new(side, "script", json_string(run->params->script));
        json_object_set_new(side, "seed", json_integer((json_int_t)run->params->seed));
        char *models_side = reeli_provenance_models(run);
        if (models_side) json_object_set_new(side, "model", json_string(models_side));
        free(models_side);
        json_object_set_new(side, "pipeline", json_string(in->key));
        json_object_set_new(side, "output_key", json_string(r->key));
        if (plan) json_object_set(side, "plan", plan);
        json_object_set_new(side, "graph", reeli_provenance_graph(run, target));
        char *sp = reel_xasprintf("%s.reel.json", dest);
        rc = reel_json_save_file(side, sp);
        free(sp);
        json_decref(side);
    }
    json_decref(plan);
    if (rc < 0) {
        free(dest);
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    lua_pushstring(L, dest);
    free(dest);
    return 1;
}

/* ---- the rest ------------------------------------------------------------------------------- */

/* reel.seed(name): 53 bits of SHA-256("reel.seed" 0 run-seed 0 name); stable whatever the order
 * of calls, and exactly representable as a double for any plugin that reads JSON numbers. */
static int l_seed(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    char seed[32];
    int k = snprintf(seed, sizeof seed, "%" PRIu64, reeli_run_of(L)->params->seed);
    reel_sha256 *h = reel_sha256_init();
    reel_sha256_update(h, "reel.seed", 10); /* with its NUL */
    reel_sha256_update(h, seed, (size_t)k + 1);
    reel_sha256_update(h, name, len);
    uint8_t d[REEL_SHA256_SIZE];
    reel_sha256_final(h, d);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | d[i];
    lua_pushinteger(L, (lua_Integer)(v >> 11));
    return 1;
}

/* reel.log(...): the values, tostring'ed and space-separated, with the caller's file:line. */
static int l_log(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    char *where = caller_where(L);
    reeli_events_log(reeli_run_of(L)->events, where ? where : "script", lua_tostring(L, -1));
    free(where);
    return 0;
}

static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    json_t *v = reel_json_parse(s, len, luaL_optstring(L, 2, "json"));
    if (!v) {
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    char err[128];
    int rc = reeli_lua_push_json_err(L, v, err, sizeof err);
    json_decref(v);
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", luaL_optstring(L, 2, "json"), err);
        return 2;
    }
    return 1;
}

static int l_json_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    char err[512];
    json_t *v = reeli_lua_to_json_err(L, 1, 0, err, sizeof err);
    if (!v) return luaL_error(L, "reel.json.encode: %s", err);
    char *s = reel_json_canonical(v);
    json_decref(v);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* Schemas can refer to themselves ($ref inside anyOf), which makes the walk below branch
 * without end: it gives up (leaving the value as it is, for the validator to judge) after a
 * fixed number of steps, and a $ref that comes back to a schema already followed for the same
 * value stops there. */
#define SHAPE_MAX_STEPS 100000
#define SHAPE_MAX_REFS  16

typedef struct shape_ctx {
    const json_t *root;
    long steps;
} shape_ctx;

/* Lua has one table type, so an empty table converts to []. Where the schema expects an
 * object there, make it {} before validating (recursively, following properties, items, anyOf
 * and $ref). refs: the schemas followed by $ref for this same value. Returns a new
 * reference. */
static json_t *shape_like_schema(json_t *v, const json_t *s, shape_ctx *c, int depth,
                                 const json_t **refs, int n_refs)
{
    if (!json_is_object(s) || depth > 64 || ++c->steps > SHAPE_MAX_STEPS) return json_incref(v);
    const json_t *root = c->root;
    const json_t *ref = json_object_get(s, "$ref");
    if (json_is_string(ref)) {
        const char *r = json_string_value(ref);
        const json_t *t = NULL;
        if (strncmp(r, "#/$defs/", 8) == 0)
            t = json_object_get(json_object_get(root, "$defs"), r + 8);
        else if (strncmp(r, "#/definitions/", 14) == 0)
            t = json_object_get(json_object_get(root, "definitions"), r + 14);
        for (int i = 0; i < n_refs; i++)
            if (refs[i] == t) return json_incref(v);
        if (n_refs >= SHAPE_MAX_REFS) return json_incref(v);
        const json_t *more[SHAPE_MAX_REFS];
        if (n_refs) memcpy(more, refs, (size_t)n_refs * sizeof *refs);
        more[n_refs] = t;
        return shape_like_schema(v, t, c, depth + 1, more, n_refs + 1);
    }
    const json_t *type = json_object_get(s, "type");
    const json_t *any = json_object_get(s, "anyOf");
    for (size_t i = 0; json_is_array(any) && i < json_array_size(any); i++) {
        const json_t *b = json_array_get(any, i);
        const json_t *bt = json_object_get(b, "type");
        if (json_is_array(v) && json_array_size(v) == 0 && bt && json_is_string(bt) &&
            strcmp(json_string_value(bt), "array") == 0)
            return json_incref(v); /* an array branch takes [] as it is */
    }
    for (size_t i = 0; json_is_array(any) && i < json_array_size(any); i++) {
        json_t *r = shape_like_schema(v, json_array_get(any, i), c, depth + 1, refs, n_refs);
        if (r != v) return r;
        json_decref(r);
    }
    int wants_object = (json_is_string(type) && strcmp(json_string_value(type), "object") == 0) ||
                       (!type && json_object_get(s, "properties"));
    if (json_is_array(v) && json_array_size(v) == 0 && wants_object) return json_object();
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        json_t *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            json_object_set_new(
                out, k, shape_like_schema(x, json_object_get(props, k), c, depth + 1, NULL, 0));
        }
        return out;
    }
    if (json_is_array(v) && json_object_get(s, "items")) {
        json_t *out = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(out, shape_like_schema(json_array_get(v, i),
                                                         json_object_get(s, "items"), c, depth + 1,
                                                         NULL, 0));
        return out;
    }
    return json_incref(v);
}

/* reel.validate(value, schema) -> true | nil, "JSON value at '/shots/0': what" */
static int l_validate(lua_State *L)
{
    luaL_checkany(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    char err[512];
    json_t *schema = reeli_lua_to_json_err(L, 2, 0, err, sizeof err);
    if (!schema) return luaL_argerror(L, 2, err);
    json_t *raw = reeli_lua_to_json_err(L, 1, 0, err, sizeof err);
    if (!raw) {
        json_decref(schema);
        luaL_pushfail(L);
        lua_pushfstring(L, "the value is not JSON data: %s", err);
        return 2;
    }
    shape_ctx sc = {schema, 0};
    json_t *v = shape_like_schema(raw, schema, &sc, 0, NULL, 0);
    json_decref(raw);
    /* a Ctrl-C stops a slow validation; the cancelled run's hook then ends the script */
    int rc = reel_json_schema_validate_cancel(schema, v, &reeli_cancel_flag);
    json_decref(v);
    json_decref(schema);
    if (rc < 0) {
        luaL_pushfail(L);
        lua_pushstring(L, reel_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* reel._plan_schema([narrated]) -> the built-in scene-plan schema (llm/plan.h) as a table; with
 * narrated true, shots carry no duration_s */
static int l_plan_schema(lua_State *L)
{
    json_t *s = reel_llm_plan_schema(0, lua_toboolean(L, 1) ? REEL_LLM_PLAN_NARRATED : 0, 0);
    reeli_lua_push_json(L, s);
    json_decref(s);
    return 1;
}

void reeli_reel_open(lua_State *L, reeli_run *run)
{
    static const luaL_Reg fns[] = {
        {"video", l_video},
        {"audio", l_audio},
        {"image", l_image},
        {"concat", l_concat},
        {"mix", l_mix},
        {"render", l_render},
        {"seed", l_seed},
        {"log", l_log},
        {"_subtitles", l_subtitles},
        {"validate", l_validate},
        {"_plan_schema", l_plan_schema},
        {NULL, NULL},
    };
    static const luaL_Reg methods[] = {
        {"with_audio", m_with_audio},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__index", node_index},
        {"__newindex", node_newindex},
        {"__tostring", node_tostring},
        {NULL, NULL},
    };
    luaL_newmetatable(L, REELI_NODE_MT); /* [mt] */
    luaL_setfuncs(L, meta, 0);
    lua_pushliteral(L, "reel.node");
    lua_setfield(L, -2, "__metatable"); /* getmetatable() cannot change it */
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, NODES_KEY);
    luaL_newlib(L, methods); /* [methods] */
    lua_setfield(L, LUA_REGISTRYINDEX, METHODS_KEY);

    luaL_newlib(L, fns); /* [reel] */
    lua_getfield(L, LUA_REGISTRYINDEX, METHODS_KEY);
    lua_setfield(L, -2, "_methods");
    lua_createtable(L, 0, 3); /* [reel json] */
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "decode");
    lua_pushcfunction(L, l_json_encode);
    lua_setfield(L, -2, "encode");
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    lua_setfield(L, -2, "json");
    lua_createtable(L, (int)run->params->n_args, 0); /* [reel args] */
    for (size_t i = 0; i < run->params->n_args; i++) {
        lua_pushstring(L, run->params->args[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "args");
    lua_pushstring(L, run->params->model);
    lua_setfield(L, -2, "model_spec");
    lua_pushboolean(L, run->params->model_is_test);
    lua_setfield(L, -2, "model_is_test");
    lua_pushstring(L, run->script_dir);
    lua_setfield(L, -2, "script_dir");
    lua_pushstring(L, run->out_dir);
    lua_setfield(L, -2, "out_dir");
    lua_pushinteger(L, (lua_Integer)run->params->seed);
    lua_setfield(L, -2, "run_seed");
    lua_pushliteral(L, REEL_VERSION);
    lua_setfield(L, -2, "version");
    /* require "reel" works and luaL_argerror names functions "reel.video" */
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "reel");
    lua_pop(L, 1);
    lua_setglobal(L, "reel"); /* [] */
}
