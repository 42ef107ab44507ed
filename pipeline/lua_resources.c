/* The `resources` field of reel.video{} / reel.audio{}: what a batch executor asks for that one
 * node (partition, gres, account, cpus, mem, time). It is not a plugin parameter and not part
 * of the cache key: the same node run with more memory makes the same output. */
#include "pipeline/lua-impl.h"
#include "pipeline/resources-impl.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

int reeli_lua_resources(lua_State *L, int idx, json_t **out, char *err, size_t errsz)
{
    idx = lua_absindex(L, idx);
    if (out) *out = NULL;
    if (!lua_istable(L, idx)) {
        snprintf(err, errsz, "must be a table such as {gres = \"gpu:1\", mem = \"16G\"}, got %s",
                 luaL_typename(L, idx));
        return -1;
    }
    json_t *o = out ? json_object() : NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* [k v] */
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        const char *why = NULL;
        if (!k) {
            why = "has an item without a name (partition, gres, account, cpus, mem, time)";
        } else if (!strcmp(k, "cpus")) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
                lua_tointeger(L, -1) > REELI_RES_MAX_CPUS)
                why = "must be an integer from 1 to 4096";
            else if (o)
                json_object_set_new(o, k, json_integer(lua_tointeger(L, -1)));
        } else {
            /* a string, embedded NULs refused, then checked as every source's values are */
            size_t len = 0;
            const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            why = reeli_res_check(k, v && strlen(v) == len ? v : NULL);
            if (!why && o) json_object_set_new(o, k, json_string(v));
        }
        if (why) {
            snprintf(err, errsz, "%s%s%s %s", k ? "'" : "", k ? k : "", k ? "'" : "", why);
            lua_pop(L, 2);
            json_decref(o);
            return -1;
        }
        lua_pop(L, 1);
    }
    if (out) *out = o;
    return 0;
}
