/* Lua <-> JSON: script values to stage parameters and JSON results back to Lua tables. Arrays
 * are tables with keys 1..n, objects tables with string keys; reel.json.null (a NULL light
 * userdata) stands for JSON null. Values nest at most REELI_JSON_MAX_DEPTH (200) levels either
 * way: reel.json.encode raises "table nested deeper than 200 levels" or "table contains a
 * cycle", reel.json.decode returns nil, msg. */
#include "pipeline/lua-impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

/* Conversion recurses once per nesting level, so the depth is bounded (each level also needs
 * a few Lua stack slots, checked with lua_checkstack) and tables being converted are tracked
 * so that a cycle is reported instead of followed. */
typedef struct conv {
    lua_State *L;
    char *err;
    size_t errsz;
    int base;                                   /* depth of the value the caller asked for */
    const void *open[REELI_JSON_MAX_DEPTH + 2]; /* tables on the current path */
    int n_open;
} conv;

/* Keys prefixed to an error message, outermost first; deeper ones would only repeat. */
#define MAX_KEYS_NAMED 8

static json_t *to_json(conv *c, int idx, int depth);

static json_t *table_to_json(conv *c, int idx, int depth)
{
    lua_State *L = c->L;
    if (depth >= REELI_JSON_MAX_DEPTH) {
        snprintf(c->err, c->errsz, "table nested deeper than %d levels", REELI_JSON_MAX_DEPTH);
        return NULL;
    }
    const void *self = lua_topointer(L, idx);
    for (int i = 0; i < c->n_open; i++)
        if (c->open[i] == self) {
            snprintf(c->err, c->errsz, "table contains a cycle (a table inside itself)");
            return NULL;
        }
    if (!lua_checkstack(L, 4)) {
        snprintf(c->err, c->errsz, "out of Lua stack space");
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
    if (count != 0 && !(all_int && count == n) && !all_str) {
        snprintf(c->err, c->errsz, "a table must be an array (keys 1..n) or have only string keys");
        return NULL;
    }
    c->open[c->n_open++] = self;
    json_t *out;
    if (count == 0 || (all_int && count == n)) {
        out = json_array();
        for (lua_Unsigned i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            json_t *v = to_json(c, -1, depth + 1);
            lua_pop(L, 1);
            if (!v) {
                json_decref(out);
                out = NULL;
                break;
            }
            json_array_append_new(out, v);
        }
    } else {
        out = json_object();
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *k = lua_tostring(L, -2);
            json_t *v = to_json(c, -1, depth + 1);
            if (!v) {
                if (depth - c->base < MAX_KEYS_NAMED) {
                    char tail[512];
                    snprintf(tail, sizeof tail, "%s", c->err);
                    snprintf(c->err, c->errsz, "%s: %s", k, tail);
                }
                lua_pop(L, 2);
                json_decref(out);
                out = NULL;
                break;
            }
            json_object_set_new(out, k, v);
            lua_pop(L, 1);
        }
    }
    c->n_open--;
    return out;
}

static json_t *to_json(conv *c, int idx, int depth)
{
    lua_State *L = c->L;
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            snprintf(c->err, c->errsz, "numbers must be finite");
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = json_stringn(s, len);
        if (!v) snprintf(c->err, c->errsz, "strings must be valid UTF-8");
        return v;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) return json_null(); /* reel.json.null */
        break;
    case LUA_TTABLE:
        return table_to_json(c, idx, depth);
    default:
        break;
    }
    if (luaL_testudata(L, idx, REELI_NODE_MT))
        snprintf(c->err, c->errsz, "a node cannot be a parameter here");
    else
        snprintf(c->err, c->errsz, "a %s cannot be a parameter", luaL_typename(L, idx));
    return NULL;
}

/* Converts the value at idx. On failure returns NULL and writes a reason into err. Nodes and
 * functions are not data. */
json_t *reeli_lua_to_json_err(lua_State *L, int idx, int depth, char *err, size_t errsz)
{
    conv c = {.L = L, .err = err, .errsz = errsz, .base = depth};
    return to_json(&c, idx, depth);
}

json_t *reeli_lua_to_json(lua_State *L, int idx, const char *what)
{
    char err[512];
    json_t *v = reeli_lua_to_json_err(L, idx, 0, err, sizeof err);
    if (!v) luaL_error(L, "%s: %s", what, err);
    return v;
}

/* Pushes v, or leaves the stack as it was and returns -1 when v is nested deeper than the
 * limit or the Lua stack cannot grow. */
static int push_json(lua_State *L, const json_t *v, int depth)
{
    if (!lua_checkstack(L, 3)) return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (depth >= REELI_JSON_MAX_DEPTH) return -1;
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (push_json(L, x, depth + 1) < 0) {
                lua_pop(L, 1);
                return -1;
            }
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        if (depth >= REELI_JSON_MAX_DEPTH) return -1;
        lua_createtable(L, (int)json_array_size(v), 0);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (push_json(L, json_array_get(v, i), depth + 1) < 0) {
                lua_pop(L, 1);
                return -1;
            }
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
    return 0;
}

int reeli_lua_push_json_err(lua_State *L, const json_t *v, char *err, size_t errsz)
{
    if (push_json(L, v, 0) == 0) return 0;
    snprintf(err, errsz, "JSON nested deeper than %d levels", REELI_JSON_MAX_DEPTH);
    return -1;
}

void reeli_lua_push_json(lua_State *L, const json_t *v)
{
    char err[128];
    if (reeli_lua_push_json_err(L, v, err, sizeof err) < 0) luaL_error(L, "%s", err);
}

/* Sizes of jansson's structures plus malloc's overhead, rounded up: an estimate that errs high.
 * Parameters come from the conversion above, so the recursion is bounded by its depth limit. */
size_t reeli_json_footprint(const json_t *v)
{
    size_t total = 48;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        total += 64;
        json_object_foreach((json_t *)v, k, x) total += 64 + strlen(k) + reeli_json_footprint(x);
        break;
    }
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            total += sizeof(json_t *) + reeli_json_footprint(json_array_get(v, i));
        break;
    case JSON_STRING:
        total += json_string_length(v) + 1;
        break;
    default:
        break;
    }
    return total;
}
