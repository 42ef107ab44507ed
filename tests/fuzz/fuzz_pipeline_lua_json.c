/* Fuzz target: JSON text -> Lua values (what reel.json.decode and node:params give scripts) ->
 * JSON again (what node parameters and reel.json.encode go through). Anything jansson accepts
 * must convert both ways without crashing, and a value made only of objects with members,
 * non-empty arrays, strings, numbers and booleans must come back equal. */
#include "pipeline/lua-impl.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

/* 1 if v survives the trip unchanged: no null, no empty array or object (Lua cannot tell an
 * empty table's kind), no arrays with holes. */
static int plain(const json_t *v)
{
    if (json_is_null(v)) return 0;
    if (json_is_object(v)) {
        if (json_object_size(v) == 0) return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if (!plain(x)) return 0;
    }
    if (json_is_array(v)) {
        if (json_array_size(v) == 0) return 0;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!plain(json_array_get(v, i))) return 0;
    }
    return 1;
}

static int roundtrip(lua_State *L)
{
    const json_t *v = lua_touserdata(L, 1);
    reeli_lua_push_json(L, v);
    json_t *back = reeli_lua_to_json(L, -1, "fuzz");
    lua_pushlightuserdata(L, back);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = reel_json_parse((const char *)data, size, "fuzz");
    if (!v) {
        reel_clear_error();
        return 0;
    }
    lua_State *L = luaL_newstate();
    lua_pushcfunction(L, roundtrip);
    lua_pushlightuserdata(L, v);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
        json_t *back = lua_touserdata(L, -1);
        if (plain(v) && !json_equal(v, back)) {
            /* integers stay integers and reals stay reals, so equality is exact */
            char *a = reel_json_canonical(v), *b = reel_json_canonical(back);
            fprintf(stderr, "round trip changed %s into %s\n", a, b);
            abort();
        }
        json_decref(back);
    }
    lua_close(L);
    json_decref(v);
    return 0;
}
