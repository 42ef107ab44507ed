-- Every way out of the sandbox is refused; the allowed folders work.
local function refused(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected a refusal")
  return e
end

for _, name in ipairs{"execute", "exit", "getenv", "remove", "rename", "tmpname", "setlocale"} do
  local e = refused(os[name], "x")
  assert(e:find("os%." .. name .. " is not available to reel scripts %(sandbox%)"), e)
end
assert(refused(io.popen, "ls"):find("io.popen is not available", 1, true))
assert(refused(package.loadlib, "/lib/x86_64-linux-gnu/libc.so.6", "system"):find("sandbox"))
assert(refused(string.dump, print):find("sandbox"))
assert(debug == nil, "no debug library")
assert(package.cpath == "", "no C module path")
assert(#package.searchers == 2, "preload and the confined Lua searcher only")

-- C modules cannot be loaded even when the script points cpath at them
package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;/usr/local/lib/lua/5.4/?.so"
local e = refused(require, "lpeg")
assert(e:find("module 'lpeg' not found"), e)
-- nor Lua files outside the allowed folders
local saved = package.path
package.path = "/usr/share/lua/5.4/?.lua;/etc/?"
e = refused(require, "passwd")
assert(e:find("not found"), e)
package.path = saved

-- files outside the allowed folders
local f, msg = io.open("/etc/passwd")
assert(f == nil and msg:find("outside the folders"), msg)
f, msg = io.open(reel.script_dir .. "/../escape.txt", "w")
assert(f == nil and msg:find("outside the folders"), msg)
f, msg = io.open("/tmp/reel-escape.txt", "w")
assert(f == nil and msg:find("outside"), msg)
assert(refused(io.lines, "/etc/passwd"):find("outside"))
assert(refused(io.input, "/etc/passwd"):find("outside"))
assert(refused(io.output, "/tmp/reel-escape.txt"):find("outside"))
assert(refused(dofile, "/etc/passwd"):find("outside"))
assert(refused(dofile):find("a file name is required"))
local chunk, lerr = loadfile("/etc/passwd")
assert(chunk == nil and lerr:find("outside"), lerr)
-- binary chunks are refused (they can crash the VM)
assert(refused(load, "return 1", "x", "b"):find("only text chunks"))
assert(refused(load, "return 1", "x", "bt"):find("only text chunks"))
local bin, berr = load("\27Lua\84\0garbage")
assert(bin == nil and berr:find("binary"), berr)
-- text chunks are fine, with or without an environment
assert(load("return 1 + 1")() == 2)
assert(load("return x", "=env", "t", {x = 7})() == 7)

-- the output folder and the script's folder are usable
f = assert(io.open(reel.out_dir .. "/inside.txt", "w"))
f:write("ok\n")
f:close()
for line in io.lines(reel.out_dir .. "/inside.txt") do assert(line == "ok") end
f = assert(io.open(reel.script_dir .. "/sandbox.lua", "r"))
f:close()
assert(loadfile(reel.script_dir .. "/mod/greet.lua"))
reel.log("sandbox.lua: all escapes refused")
