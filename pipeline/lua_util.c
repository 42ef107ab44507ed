/* What every part of the Lua runtime needs from a lua_State: the run that owns it (stored in
 * the state's extra space by lua.c). */
#include "pipeline/lua-impl.h"

#include <lua.h>

reeli_run *reeli_run_of(lua_State *L)
{
    return *(reeli_run **)lua_getextraspace(L);
}
