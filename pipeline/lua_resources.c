/* The `resources` field of reel.video{} / reel.audio{}: what a batch executor asks for that one
 * node (partition, gres, account, cpus, mem, time). It is not a plugin parameter and not part
 * of the cache key: the same node run with more memory makes the same output. */
#include "pipeline/lua-impl.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <string.h>

static const char *const string_keys[] = {"partition", "gres", "account", "mem", "time", NULL};

/* A value that goes to sbatch as one option: printable, no spaces, not empty, short. */
static int plain_word(const char *s, size_t len)
{
    if (len == 0 || len > 100) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f) return 0;
    return 1;
}

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
        int is_string = 0;
        for (const char *const *s = string_keys; k && *s; s++) is_string |= !strcmp(k, *s);
        const char *why = NULL;
        if (!k) {
            why = "has an item without a name (partition, gres, account, cpus, mem, time)";
        } else if (is_string) {
            size_t len;
            const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (!v || !plain_word(v, len))
                why = "must be a non-empty string without spaces (at most 100 characters)";
            else if (o)
                json_object_set_new(o, k, json_string(v));
        } else if (!strcmp(k, "cpus")) {
            if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > 4096)
                why = "must be an integer from 1 to 4096";
            else if (o)
                json_object_set_new(o, k, json_integer(lua_tointeger(L, -1)));
        } else {
            why = "is not one of partition, gres, account, cpus, mem, time";
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
