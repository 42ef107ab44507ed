/* Options of the media nodes checked at the script's line (reel.concat's transitions,
 * node:with_audio's narration options, reel.render's loudness), so that a typo fails before
 * anything runs, naming the field and what it accepts. */
#include "pipeline/lua-impl.h"

#include <string.h>

#include <lauxlib.h>
#include <lua.h>

/* Pushes "a, b, c" of the xfade styles. */
static void push_styles(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char *const *st = reel_stage_transition_styles();
    for (int i = 0; st[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, st[i]);
    }
    luaL_pushresult(&b);
}

static int style_ok(const char *name)
{
    const char *const *st = reel_stage_transition_styles();
    for (int i = 0; st[i]; i++)
        if (!strcmp(st[i], name)) return 1;
    return 0;
}

void reeli_lua_check_transition(lua_State *L, int t)
{
    const char *tr = lua_getfield(L, t, "transition") == LUA_TSTRING ? lua_tostring(L, -1) : "cut";
    if (strcmp(tr, "cut") && strcmp(tr, "fade") && strcmp(tr, "crossfade") && !style_ok(tr)) {
        push_styles(L);
        luaL_argerror(L, t,
                      lua_pushfstring(L,
                                      "field 'transition': unknown transition \"%s\" (cut, fade, "
                                      "crossfade, or an xfade style: %s)",
                                      tr, lua_tostring(L, -1)));
    }
    int s = lua_getfield(L, t, "style");
    if (s != LUA_TNIL) {
        if (s != LUA_TSTRING || !style_ok(lua_tostring(L, -1))) {
            push_styles(L);
            luaL_argerror(L, t,
                          lua_pushfstring(L,
                                          "field 'style': must be an xfade style name (one of: %s)",
                                          lua_tostring(L, -1)));
        }
        if (strcmp(tr, "crossfade") != 0 && strcmp(tr, lua_tostring(L, -1)) != 0)
            luaL_argerror(L, t,
                          "field 'style': goes with transition = \"crossfade\" (the overlapping "
                          "transition it draws)");
    }
    lua_pop(L, 2);
}

json_t *reeli_lua_with_audio_opts(lua_State *L, int t)
{
    if (lua_isnoneornil(L, t)) return json_object();
    if (!lua_istable(L, t)) luaL_argerror(L, t, "options table expected ({trim=, pad_s=})");
    int tt = lua_getfield(L, t, "trim");
    if (tt != LUA_TNIL && tt != LUA_TBOOLEAN) luaL_argerror(L, t, "field 'trim' must be a boolean");
    int pt = lua_getfield(L, t, "pad_s");
    if (pt != LUA_TNIL &&
        (pt != LUA_TNUMBER || lua_tonumber(L, -1) < 0 || lua_tonumber(L, -1) > 10))
        luaL_argerror(L, t, "field 'pad_s' must be a number of seconds 0..10");
    json_t *params = json_object(); /* nothing raises from here on */
    if (tt == LUA_TBOOLEAN) json_object_set_new(params, "trim", json_boolean(lua_toboolean(L, -2)));
    if (pt == LUA_TNUMBER) json_object_set_new(params, "pad_s", json_real(lua_tonumber(L, -1)));
    lua_pop(L, 2);
    return params;
}

void reeli_lua_loudness_opts(lua_State *L, int t, json_t *params)
{
    int lt = lua_getfield(L, t, "loudness");
    double v = lua_tonumber(L, -1);
    if (lt == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        if (params) json_object_set_new(params, "loudness", json_false());
    } else if (lt == LUA_TNUMBER && v >= -70 && v <= -5) {
        if (params) json_object_set_new(params, "loudness", json_real(v));
    } else if (lt != LUA_TNIL) {
        luaL_argerror(L, t,
                      "field 'loudness' must be a target in LUFS (-70..-5, e.g. -14) or false");
    }
    lt = lua_getfield(L, t, "true_peak");
    v = lua_tonumber(L, -1);
    if (lt == LUA_TNUMBER && v >= -9 && v <= 0) {
        if (params) json_object_set_new(params, "true_peak_db", json_real(v));
    } else if (lt != LUA_TNIL) {
        luaL_argerror(L, t, "field 'true_peak' must be a ceiling in dBTP (-9..0)");
    }
    lua_pop(L, 2);
}
