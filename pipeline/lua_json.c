/* Lua <-> JSON: script values to stage parameters and JSON results back to Lua tables. Arrays
 * are tables with keys 1..n, objects tables with string keys; reel.json.null (a NULL light
 * userdata) stands for JSON null. */
#include "pipeline/lua-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#define MAX_JSON_DEPTH 64

/* Converts the value at idx. On failure returns NULL and writes a reason into err. Nodes and
 * functions are not data. */
json_t *reeli_lua_to_json_err(lua_State *L, int idx, int depth, char *err, size_t errsz)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(err, errsz, "numbers must be finite");
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = json_stringn(s, len);
        if (!v) snprintf(err, errsz, "strings must be valid UTF-8");
        return v;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) return json_null(); /* reel.json.null */
        break;
    case LUA_TTABLE: {
        if (depth >= MAX_JSON_DEPTH) {
            snprintf(err, errsz, "tables nested deeper than %d levels (a cycle?)", MAX_JSON_DEPTH);
            return NULL;
        }
        lua_Unsigned n = lua_rawlen(L, idx);
        size_t count = 0;
        int all_int = 1, all_str = 1;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            if (lua_type(L, -2) == LUA_TSTRING)
                all_int = 0;
            else
                all_str = 0;
            if (lua_isinteger(L, -2)) {
                lua_Integer k = lua_tointeger(L, -2);
                if (k < 1 || (lua_Unsigned)k > n) all_int = 0;
            } else {
                all_int = 0;
            }
            lua_pop(L, 1);
        }
        if (count == 0 || (all_int && count == n)) {
            json_t *a = json_array();
            for (lua_Unsigned i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i);
                json_t *v = reeli_lua_to_json_err(L, -1, depth + 1, err, errsz);
                lua_pop(L, 1);
                if (!v) {
                    json_decref(a);
                    return NULL;
                }
                json_array_append_new(a, v);
            }
            return a;
        }
        if (!all_str) {
            snprintf(err, errsz, "a table must be an array (keys 1..n) or have only string keys");
            return NULL;
        }
        json_t *o = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *k = lua_tostring(L, -2);
            json_t *v = reeli_lua_to_json_err(L, -1, depth + 1, err, errsz);
            if (!v) {
                size_t used = strlen(err);
                char tail[256];
                snprintf(tail, sizeof tail, "%s", err);
                snprintf(err, errsz, "%s: %s", k, tail);
                (void)used;
                lua_pop(L, 2);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, k, v);
            lua_pop(L, 1);
        }
        return o;
    }
    default:
        break;
    }
    if (luaL_testudata(L, idx, REELI_NODE_MT))
        snprintf(err, errsz, "a node cannot be a parameter here");
    else
        snprintf(err, errsz, "a %s cannot be a parameter", luaL_typename(L, idx));
    return NULL;
}

json_t *reeli_lua_to_json(lua_State *L, int idx, const char *what)
{
    char err[512];
    json_t *v = reeli_lua_to_json_err(L, idx, 0, err, sizeof err);
    if (!v) luaL_error(L, "%s: %s", what, err);
    return v;
}

void reeli_lua_push_json(lua_State *L, const json_t *v)
{
    luaL_checkstack(L, 4, "JSON too deep");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            reeli_lua_push_json(L, x);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(v), 0);
        for (size_t i = 0; i < json_array_size(v); i++) {
            reeli_lua_push_json(L, json_array_get(v, i));
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_NULL:
        lua_pushlightuserdata(L, NULL);
        break;
    }
}
