/* The script sandbox: which standard library functions a pipeline script gets.
 *
 * Opened: base, package (Lua modules only), coroutine, table, string, math, utf8, io, os.
 * Never opened: debug. Replaced by refusals: os.execute, os.exit, os.getenv, os.remove,
 * os.rename, os.tmpname, os.setlocale, io.popen, package.loadlib, string.dump.
 * Confined to the run's roots (script folder, output folder, --allow-path): io.open, io.lines,
 * io.input, io.output, dofile, loadfile and require's file searcher. Chunks load as text only:
 * precompiled bytecode can crash the VM, so load/loadfile/dofile/require refuse it. */
#include "pipeline/lua-impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static int under_root(const reeli_run *run, const char *real)
{
    for (size_t i = 0; i < run->n_roots; i++) {
        size_t n = strlen(run->roots[i]);
        if (strncmp(real, run->roots[i], n) == 0 &&
            (real[n] == '/' || real[n] == '\0' || (n == 1 && run->roots[i][0] == '/')))
            return 1;
    }
    return 0;
}

char *reeli_sandbox_resolve(reeli_run *run, const char *path, int for_write, const char **why)
{
    (void)for_write;
    char cwd[PATH_MAX], real[PATH_MAX];
    char *abs;
    if (path[0] == '/') {
        abs = reel_xstrdup(path);
    } else {
        if (!getcwd(cwd, sizeof cwd)) {
            *why = "cannot read the current folder";
            return NULL;
        }
        abs = reel_xasprintf("%s/%s", cwd, path);
    }
    char *out = NULL;
    if (realpath(abs, real)) {
        out = reel_xstrdup(real);
    } else if (errno == ENOENT) {
        /* A file that does not exist yet: its folder must, and must be inside a root. */
        char *slash = strrchr(abs, '/');
        const char *base = slash + 1;
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
            *why = "not a file name";
            free(abs);
            return NULL;
        }
        *slash = '\0';
        if (!realpath(*abs ? abs : "/", real)) {
            *why = "no such file or folder";
            free(abs);
            return NULL;
        }
        out = reel_xasprintf("%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
    } else {
        *why = strerror(errno);
        free(abs);
        return NULL;
    }
    free(abs);
    if (!under_root(run, out)) {
        *why = "outside the folders this script may use (its own folder, --out, --allow-path)";
        free(out);
        return NULL;
    }
    return out;
}

/* Resolves the path at idx or pushes nil, message, errno-like code (io.open's failure form)
 * and returns NULL. */
static char *resolve_arg(lua_State *L, int idx, int for_write)
{
    const char *path = luaL_checkstring(L, idx);
    const char *why = NULL;
    char *real = reeli_sandbox_resolve(reeli_run_of(L), path, for_write, &why);
    if (!real) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", path, why);
        lua_pushinteger(L, EACCES);
    }
    return real;
}

static int mode_writes(const char *mode)
{
    return strpbrk(mode, "wa+") != NULL;
}

/* Calls the original function (upvalue 1) with argument 1 replaced by the resolved path. */
static int call_original(lua_State *L, char *real)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushstring(L, real);
    free(real);
    for (int i = 2; i <= n; i++) lua_pushvalue(L, i);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L) - n;
}

static int s_io_open(lua_State *L)
{
    const char *mode = luaL_optstring(L, 2, "r");
    char *real = resolve_arg(L, 1, mode_writes(mode));
    if (!real) return 3;
    return call_original(L, real);
}

/* io.lines(path, ...) raises on failure, like the original. */
static int s_io_lines(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    char *real = resolve_arg(L, 1, 0);
    if (!real) return luaL_error(L, "%s", lua_tostring(L, -2));
    return call_original(L, real);
}

static int io_redirect(lua_State *L, int for_write)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    char *real = resolve_arg(L, 1, for_write);
    if (!real) return luaL_error(L, "%s", lua_tostring(L, -2));
    return call_original(L, real);
}

static int s_io_input(lua_State *L)
{
    return io_redirect(L, 0);
}

static int s_io_output(lua_State *L)
{
    return io_redirect(L, 1);
}

/* Loads a file chunk as text after the confinement check; pushes the chunk or raises. */
static void load_confined(lua_State *L, int idx)
{
    char *real = resolve_arg(L, idx, 0);
    if (!real) luaL_error(L, "%s", lua_tostring(L, -2));
    int st = luaL_loadfilex(L, real, "t");
    free(real);
    if (st != LUA_OK) lua_error(L);
}

static int s_loadfile(lua_State *L)
{
    const char *mode = luaL_optstring(L, 2, "t");
    if (strcmp(mode, "t") != 0)
        return luaL_argerror(L, 2, "only text chunks (mode \"t\") may be loaded in reel scripts");
    int env = !lua_isnone(L, 3) ? 3 : 0;
    char *real = resolve_arg(L, 1, 0);
    if (!real) {
        lua_pop(L, 1); /* [fail msg]: loadfile's failure form has no errno */
        return 2;
    }
    int st = luaL_loadfilex(L, real, "t");
    free(real);
    if (st != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    }
    return 1;
}

static int s_dofile(lua_State *L)
{
    if (lua_isnoneornil(L, 1))
        return luaL_argerror(L, 1, "a file name is required (reading stdin is not allowed)");
    lua_settop(L, 1);
    load_confined(L, 1);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* load(chunk, name, mode, env) with mode forced to text. */
static int s_load(lua_State *L)
{
    const char *mode = luaL_optstring(L, 3, "t");
    if (strcmp(mode, "t") != 0)
        return luaL_argerror(L, 3, "only text chunks (mode \"t\") may be loaded in reel scripts");
    int has_env = lua_gettop(L) >= 4; /* an explicit nil env differs from none */
    lua_settop(L, 4);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (has_env) lua_pushvalue(L, 4);
    lua_call(L, has_env ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - 4;
}

/* package.searchers[2]: Lua files found through package.path, inside the roots only. */
static int s_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    if (!path) return luaL_error(L, "package.path must be a string");
    const char *file = luaL_gsub(L, name, ".", "/"); /* [name package path file] */
    luaL_Buffer tried;
    luaL_buffinit(L, &tried);
    for (const char *p = path; *p;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            lua_pushlstring(L, p, len);
            const char *cand = luaL_gsub(L, lua_tostring(L, -1), "?", file);
            const char *why = NULL;
            char *real = reeli_sandbox_resolve(reeli_run_of(L), cand, 0, &why);
            if (real && access(real, R_OK) == 0) {
                if (luaL_loadfilex(L, real, "t") != LUA_OK)
                    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name,
                                      real, lua_tostring(L, -1));
                lua_pushstring(L, real);
                free(real);
                return 2;
            }
            free(real);
            lua_pop(L, 2);
            luaL_addstring(&tried, "\n\tno file '");
            luaL_addlstring(&tried, p, len);
            luaL_addstring(&tried, "'");
        }
        p += len + (end ? 1 : 0);
    }
    luaL_pushresult(&tried);
    return 1;
}

static int refuse(lua_State *L)
{
    return luaL_error(L, "%s is not available to reel scripts (sandbox)",
                      lua_tostring(L, lua_upvalueindex(1)));
}

static void set_refusal(lua_State *L, const char *lib, const char *fn)
{
    /* [lib] */
    lua_pushfstring(L, "%s.%s", lib, fn);
    lua_pushcclosure(L, refuse, 1);
    lua_setfield(L, -2, fn);
}

/* Replaces t[fn] (t at the stack top) with f closing over the original. */
static void wrap(lua_State *L, const char *fn, lua_CFunction f)
{
    lua_getfield(L, -1, fn);
    lua_pushcclosure(L, f, 1);
    lua_setfield(L, -2, fn);
}

/* print goes to stderr when stdout carries the JSON events. */
static int s_print_stderr(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stderr);
        fwrite(s, 1, len, stderr);
        lua_pop(L, 1);
    }
    fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

void reeli_sandbox_open(lua_State *L, reeli_run *run)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},          {LUA_LOADLIBNAME, luaopen_package},
        {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},        {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string},   {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},    {NULL, NULL},
    };
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }

    lua_pushglobaltable(L); /* [_G] */
    wrap(L, "load", s_load);
    lua_pushcfunction(L, s_loadfile);
    lua_setfield(L, -2, "loadfile");
    lua_pushcfunction(L, s_dofile);
    lua_setfield(L, -2, "dofile");
    if (run->params->events_path && strcmp(run->params->events_path, "-") == 0) {
        lua_pushcfunction(L, s_print_stderr);
        lua_setfield(L, -2, "print");
    }
    lua_pop(L, 1); /* [] */

    lua_getglobal(L, "os"); /* [os] */
    static const char *const os_refused[] = {"execute", "exit",    "getenv",    "remove",
                                             "rename",  "tmpname", "setlocale", NULL};
    for (const char *const *f = os_refused; *f; f++) set_refusal(L, "os", *f);
    lua_pop(L, 1);

    lua_getglobal(L, "io"); /* [io] */
    set_refusal(L, "io", "popen");
    wrap(L, "open", s_io_open);
    wrap(L, "lines", s_io_lines);
    wrap(L, "input", s_io_input);
    wrap(L, "output", s_io_output);
    lua_pop(L, 1);

    lua_getglobal(L, "string"); /* [string] */
    set_refusal(L, "string", "dump");
    lua_pop(L, 1);

    lua_getglobal(L, "package"); /* [package] */
    set_refusal(L, "package", "loadlib");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", run->script_dir, run->script_dir);
    lua_setfield(L, -2, "path");
    lua_createtable(L, 2, 0);         /* [package searchers] */
    lua_getfield(L, -2, "searchers"); /* [package new old] */
    lua_rawgeti(L, -1, 1);            /* the preload searcher */
    lua_rawseti(L, -3, 1);
    lua_pop(L, 1);
    lua_pushcfunction(L, s_searcher);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, "searchers"); /* [package] */
    lua_pop(L, 1);
    /* The io library's file handles live in the registry; nothing else reaches the debug
     * library, which was never opened. */
    lua_pushnil(L);
    lua_setglobal(L, "debug");
}
