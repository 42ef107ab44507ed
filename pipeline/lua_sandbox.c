/* The script sandbox: which standard library functions a pipeline script gets.
 *
 * Opened: base, package (Lua modules only), coroutine, table, string, math, utf8, io, os.
 * Never opened: debug. Replaced by refusals: os.execute, os.exit, os.getenv, os.remove,
 * os.rename, os.tmpname, os.setlocale, io.popen, package.loadlib, string.dump.
 * Confined to the run's roots (script folder, output folder, --allow-path): io.open, io.lines,
 * io.input, io.output, dofile, loadfile and require's file searcher, which open their files
 * beneath a root (lua_path.c), so no link or '..' can lead them outside it. Chunks load as text
 * only: precompiled bytecode can crash the VM, so load/loadfile/dofile/require refuse it. */
#include "pipeline/lua-impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define MAX_CHUNK_SIZE ((size_t)16 << 20)

/* io.open's mode ("r", "w+", "ab", ...) as open(2) flags, or -1 when it is not one. */
static int mode_flags(const char *mode)
{
    if (!*mode || !strchr("rwa", mode[0])) return -1;
    const char *m = mode + 1;
    int plus = *m == '+';
    if (plus) m++;
    if (m[strspn(m, "b")] != '\0') return -1;
    int rw = plus ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
    if (mode[0] == 'w') return rw | O_CREAT | O_TRUNC;
    if (mode[0] == 'a') return rw | O_CREAT | O_APPEND;
    return rw;
}

static int stream_close(lua_State *L)
{
    luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    int ok = fclose(p->f) == 0;
    return luaL_fileresult(L, ok, NULL);
}

/* Pushes io.open's failure form: fail, "path: why", errno. */
static int push_open_failure(lua_State *L, const char *path, const char *why, int err)
{
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, why);
    lua_pushinteger(L, err);
    return 3;
}

/* Opens path beneath the roots as a Lua file handle, which the io library then treats as its
 * own. Pushes the handle (returns 1) or the failure form (returns 3). */
static int push_file(lua_State *L, const char *path, const char *mode)
{
    int flags = mode_flags(mode);
    if (flags < 0) return luaL_error(L, "invalid mode '%s' for a file", mode);
    char why[512];
    int fd = reeli_path_open(reeli_run_of(L), path, flags | O_NOCTTY, 0666, why, sizeof why);
    if (fd < 0) return push_open_failure(L, path, why, errno);
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return push_open_failure(L, path, "is a folder, not a file", EISDIR);
    }
    luaL_Stream *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->closef = NULL; /* a closed handle until fdopen succeeds */
    luaL_setmetatable(L, LUA_FILEHANDLE);
    p->f = fdopen(fd, mode);
    if (!p->f) {
        int err = errno;
        close(fd);
        lua_pop(L, 1);
        return push_open_failure(L, path, strerror(err), err);
    }
    p->closef = stream_close;
    return 1;
}

static int s_io_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "r");
    if (mode_flags(mode) < 0) return luaL_argerror(L, 2, "invalid mode");
    return push_file(L, path, mode);
}

/* io.lines(path, ...) raises on failure, like the original; the handle is returned as the
 * generic for's closing value, so the loop closes it. */
static int s_io_lines(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_pushvalue(L, lua_upvalueindex(1));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }
    int n = lua_gettop(L);
    if (push_file(L, luaL_checkstring(L, 1), "r") != 1)
        return luaL_error(L, "%s", lua_tostring(L, -2));
    int file = lua_gettop(L);
    lua_getfield(L, file, "lines");
    lua_pushvalue(L, file);
    for (int i = 2; i <= n; i++) lua_pushvalue(L, i);
    lua_call(L, n, 1); /* [.. file iter] */
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushvalue(L, file);
    return 4;
}

/* io.input(path) / io.output(path): the file opened beneath the roots, then handed to the
 * original function as a handle. */
static int io_redirect(lua_State *L, const char *mode)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        if (push_file(L, lua_tostring(L, 1), mode) != 1)
            return luaL_error(L, "%s", lua_tostring(L, -2));
        lua_replace(L, 1);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int s_io_input(lua_State *L)
{
    return io_redirect(L, "r");
}

static int s_io_output(lua_State *L)
{
    return io_redirect(L, "w");
}

/* Loads the Lua text chunk in path (opened beneath the roots) under the name "@path". Pushes
 * the chunk and returns LUA_OK, or pushes a message and returns an error status. */
static int load_file(lua_State *L, const char *path)
{
    char why[512];
    int fd = reeli_path_open(reeli_run_of(L), path, O_RDONLY, 0, why, sizeof why);
    if (fd < 0) {
        lua_pushfstring(L, "cannot open %s: %s", path, why);
        return LUA_ERRFILE;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= MAX_CHUNK_SIZE) {
                free(text);
                close(fd);
                lua_pushfstring(L, "cannot read %s: larger than 16 MiB", path);
                return LUA_ERRFILE;
            }
            cap = cap ? 2 * cap : 4096;
            text = reel_xrealloc(text, cap);
        }
        ssize_t k = read(fd, text + len, cap - len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int err = errno;
            free(text);
            close(fd);
            lua_pushfstring(L, "cannot read %s: %s", path, strerror(err));
            return LUA_ERRFILE;
        }
        if (k == 0) break;
        len += (size_t)k;
    }
    close(fd);
    /* like luaL_loadfile: a first line starting with '#' (a shebang) is skipped, its newline
     * kept so that line numbers stay right */
    size_t skip = 0;
    if (len > 0 && text[0] == '#')
        while (skip < len && text[skip] != '\n') skip++;
    lua_pushfstring(L, "@%s", path);
    int st = luaL_loadbufferx(L, text ? text + skip : "", len - skip, lua_tostring(L, -1), "t");
    free(text);
    lua_remove(L, -2);
    return st;
}

/* Loads a file chunk as text after the confinement check; pushes the chunk or raises. */
static void load_confined(lua_State *L, int idx)
{
    if (load_file(L, luaL_checkstring(L, idx)) != LUA_OK) lua_error(L);
}

static int s_loadfile(lua_State *L)
{
    const char *mode = luaL_optstring(L, 2, "t");
    if (strcmp(mode, "t") != 0)
        return luaL_argerror(L, 2, "only text chunks (mode \"t\") may be loaded in reel scripts");
    int env = !lua_isnone(L, 3) ? 3 : 0;
    if (load_file(L, luaL_checkstring(L, 1)) != LUA_OK) {
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
            char why[512];
            int fd = reeli_path_open(reeli_run_of(L), cand, O_RDONLY, 0, why, sizeof why);
            if (fd >= 0) {
                close(fd);
                if (load_file(L, cand) != LUA_OK)
                    return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name,
                                      cand, lua_tostring(L, -1));
                lua_pushstring(L, cand);
                return 2;
            }
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
