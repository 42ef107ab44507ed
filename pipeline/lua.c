/* The Lua runtime of one run: a lua_State with a counting, capped allocator, the sandboxed
 * standard libraries, the reel module and its prelude, and the script run under lua_pcall with
 * a traceback. */
#include "pipeline/lua-impl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define DEFAULT_MAX_LUA_MEM ((size_t)512 << 20)
#define MAX_SCRIPT_SIZE     ((size_t)16 << 20)

static const reel_stage_runner *runner_or_default(const reel_pipeline_params *p);

reel_pipeline_params reel_pipeline_default_params(void)
{
    reel_pipeline_params p;
    memset(&p, 0, sizeof p);
    p.max_lua_mem = DEFAULT_MAX_LUA_MEM;
    p.progress = -1;
    p.max_attempts = 3;
    p.retry_base_s = 0.5;
    return p;
}

void reel_pipeline_cancel(void)
{
    reeli_cancel_flag = 1;
}

void reel_pipeline_reset_cancel(void)
{
    reeli_cancel_flag = 0;
}

/* Every allocation of the state goes through here. Refusing one makes Lua raise a memory
 * error (LUA_ERRMEM), which unwinds the script like any other error. The nodes the script built
 * (run->graph_mem) share the cap. */
static void *counting_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    reeli_run *run = ud;
    size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag, not a size */
    if (nsize == 0) {
        free(ptr);
        run->mem_used -= old;
        return NULL;
    }
    if (run->mem_cap && nsize > old &&
        run->mem_used - old + nsize + run->graph_mem > run->mem_cap) {
        run->mem_hit = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    run->mem_used = run->mem_used - old + nsize;
    return p;
}

/* Message handler: the error message plus a traceback (the message already starts with the
 * script's file:line when the error came from Lua code or from luaL_error/luaL_argerror). */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Count hook: lets SIGINT stop a script stuck in a Lua loop. The error it raises can be caught
 * by pcall, so once the run is cancelled the hook is re-armed to fire on every instruction: the
 * first instruction after a pcall returns raises again, and the script cannot keep running.
 * (Count hooks never fire inside C functions such as the message handler.) */
static void cancel_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    if (!reeli_cancel_flag) return;
    lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 1);
    /* a hook runs in the frame of the interrupted Lua function: level 0 is its line */
    luaL_where(L, 0);
    lua_pushliteral(L, "interrupted");
    lua_concat(L, 2);
    lua_error(L);
}

static char *dir_of(const char *path)
{
    char *d = reel_xstrdup(path);
    char *slash = strrchr(d, '/');
    if (slash == d)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

static int add_root(reeli_run *run, const char *dir, const char *what)
{
    char real[PATH_MAX];
    if (!realpath(dir, real)) return reel_set_error_errno("%s %s", what, dir);
    run->roots = reel_xrealloc(run->roots, (run->n_roots + 1) * sizeof *run->roots);
    run->roots[run->n_roots++] = reel_xstrdup(real);
    return 0;
}

static int setup(reeli_run *run, const reel_pipeline_params *p)
{
    char real[PATH_MAX];
    if (!p->script || !*p->script) return reel_set_error(REEL_EINVAL, "no script given");
    if (!realpath(p->script, real)) return reel_set_error_errno("%s", p->script);
    run->script_path = reel_xstrdup(real);
    run->script_dir = dir_of(real);
    const char *out = p->out_dir && *p->out_dir ? p->out_dir : ".";
    int rc = reel_mkdir_p(out);
    if (rc < 0) return reel_error_prefix("--out");
    if (!realpath(out, real)) return reel_set_error_errno("--out %s", out);
    run->out_dir = reel_xstrdup(real);
    if ((rc = add_root(run, run->script_dir, "script folder")) < 0) return rc;
    if ((rc = add_root(run, run->out_dir, "--out")) < 0) return rc;
    for (size_t i = 0; i < p->n_allow_paths; i++)
        if ((rc = add_root(run, p->allow_paths[i], "--allow-path")) < 0) return rc;
    char *cache = p->cache_dir && *p->cache_dir ? reel_xstrdup(p->cache_dir)
                                                : reel_xasprintf("%s/.reel-cache", run->out_dir);
    rc = reeli_cache_open(&run->cache, cache);
    free(cache);
    if (rc < 0) return rc;
    run->events = reeli_events_init(p->events_path, p->progress);
    if (!run->events) return reel_last_error_code();
    run->sched.graph = &run->graph;
    run->sched.cache = &run->cache;
    run->sched.events = run->events;
    run->sched.runner = runner_or_default(p);
    run->sched.jobs = p->jobs;
    run->sched.max_attempts = p->max_attempts;
    run->sched.retry_base_s = p->retry_base_s;
    run->sched.slurm = p->slurm;
    return 0;
}

/* Runs the prelude and then the script, both under msgh. Returns 0 or an error. */
static int run_script(reeli_run *run)
{
    lua_State *L = run->L;
    lua_pushcfunction(L, msgh); /* [msgh] */
    if (luaL_loadbufferx(L, reeli_prelude, reeli_prelude_size, "=[reel prelude]", "t") != LUA_OK)
        return reel_set_error(REEL_EINVAL, "prelude: %s", lua_tostring(L, -1));
    lua_getglobal(L, "reel"); /* [msgh prelude reel] */
    if (lua_pcall(L, 1, 0, 1) != LUA_OK)
        return reel_set_error(REEL_EINVAL, "prelude: %s", lua_tostring(L, -1));

    char *text = NULL;
    size_t size = 0;
    int rc = reel_file_read(run->script_path, MAX_SCRIPT_SIZE, &text, &size);
    if (rc < 0) return reel_error_prefix("script");
    /* "@" + the path as the user wrote it: error messages then say "film.lua:12:" */
    char *chunk = reel_xasprintf("@%s", run->params->script);
    int st = luaL_loadbufferx(L, text, size, chunk, "t"); /* [msgh chunk|err] */
    free(chunk);
    free(text);
    if (st == LUA_OK) {
        st = lua_pcall(L, 0, 0, 1); /* [msgh (err)] */
    }
    if (st == LUA_OK) return 0;
    if (st == LUA_ERRMEM && run->mem_hit) {
        char b[32];
        return reel_set_error(
            REEL_ENOMEM, "%s: the script exceeded its Lua memory limit of %s (--max-lua-mem)",
            run->params->script, reel_format_bytes((double)run->mem_cap, b, sizeof b));
    }
    const char *msg = lua_tostring(L, -1);
    if (reeli_cancel_flag) return reel_set_error(REEL_ECANCELED, "%s", msg ? msg : "interrupted");
    return reel_set_error(st == LUA_ERRMEM ? REEL_ENOMEM : REEL_EINVAL, "%s",
                          msg ? msg : "unknown Lua error");
}

int reel_pipeline_run(const reel_pipeline_params *p)
{
    reeli_run run;
    memset(&run, 0, sizeof run);
    run.params = p;
    run.mem_cap = p->max_lua_mem;
    reeli_graph_init(&run.graph);
    double t0 = reel_now();
    int rc = setup(&run, p);
    if (rc < 0) goto done;

    json_t *f = json_object();
    json_object_set_new(f, "script", json_string(p->script));
    json_object_set_new(f, "seed", json_integer((json_int_t)p->seed));
    json_object_set_new(f, "jobs", json_integer(p->jobs > 0 ? p->jobs : reel_cpu_count()));
    json_object_set_new(f, "cache", json_string(run.cache.dir));
    reeli_events_emit(run.events, "run_start", f);

    run.L = lua_newstate(counting_alloc, &run);
    if (!run.L) {
        rc = reel_set_error(REEL_ENOMEM, "cannot create the Lua state");
        goto done;
    }
    *(reeli_run **)lua_getextraspace(run.L) = &run;
    lua_sethook(run.L, cancel_hook, LUA_MASKCOUNT, 10000);
    reeli_sandbox_open(run.L, &run);
    reeli_reel_open(run.L, &run);
    lua_getglobal(run.L, "reel"); /* reel.model and the model metatable join the reel table */
    reeli_model_register(run.L);
    lua_pop(run.L, 1);
    rc = run_script(&run);
    if (rc == 0 && reeli_cancel_flag)
        rc = reel_set_error(REEL_ECANCELED, "interrupted; finished nodes are cached");

    f = json_object();
    json_object_set_new(f, "ok", json_boolean(rc == 0));
    json_object_set_new(f, "duration_s", json_real(reel_now() - t0));
    json_object_set_new(f, "executed", json_integer(run.sched.stats.executed));
    json_object_set_new(f, "cached", json_integer(run.sched.stats.cached));
    json_object_set_new(f, "failed", json_integer(run.sched.stats.failed));
    json_object_set_new(f, "renders", json_integer(run.renders));
    if (rc < 0) json_object_set_new(f, "error", json_string(reel_last_error()));
    reeli_events_emit(run.events, "run_done", f);

done:;
    /* keep the error message across the cleanup below */
    char *msg = rc < 0 ? reel_xstrdup(reel_last_error()) : NULL;
    if (run.L) lua_close(run.L);
    reeli_events_free(run.events);
    reeli_graph_free(&run.graph);
    json_decref(run.models_used);
    reeli_cache_close(&run.cache);
    for (size_t i = 0; i < run.n_roots; i++) free(run.roots[i]);
    free(run.roots);
    free(run.script_path);
    free(run.script_dir);
    free(run.out_dir);
    if (msg) {
        reel_set_error(rc, "%s", msg);
        free(msg);
    }
    return rc;
}

/* ---- the built-in stage runner: reel_stage_run() & co. (stage.c, the media side) ---------- */

const reel_stage_runner *reel_pipeline_default_runner(void)
{
    static const reel_stage_runner real = {reel_stage_run, reel_stage_ext, reel_stage_version,
                                           reel_stage_concurrency};
    return &real;
}

static const reel_stage_runner *runner_or_default(const reel_pipeline_params *p)
{
    return p->runner ? p->runner : reel_pipeline_default_runner();
}
