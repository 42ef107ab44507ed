-- What a script can make deep, cyclic or huge fails with a Lua error or nil, msg: never a crash.

-- Lua -> JSON: nesting up to the limit converts; deeper, or a cycle, is an error naming it.
local t = "x"
for _ = 1, 19 do t = {k = t} end
assert(reel.json.encode(t):sub(1, 6) == '{"k":{')
local deep = "x"
for _ = 1, 200 do deep = {deep} end -- 200 levels of tables
assert(#reel.json.encode(deep) == 2 * 200 + 3)
deep = {deep}
local ok, e = pcall(function() return reel.json.encode(deep) end)
assert(not ok and e:find("harden.lua:%d+: reel.json.encode: table nested deeper than 200 levels"), e)
local obj = {}
for _ = 1, 300 do obj = {k = obj} end
ok, e = pcall(reel.json.encode, obj)
assert(not ok and e:find("table nested deeper than 200 levels"), e)
local c = {}
c.self = c
ok, e = pcall(reel.json.encode, c)
assert(not ok and e:find("reel.json.encode: self: table contains a cycle"), e)
local a = {}
a[1] = {a}
ok, e = pcall(reel.json.encode, a)
assert(not ok and e:find("contains a cycle"), e)
-- the same table twice side by side is not a cycle
local shared = {1, 2}
assert(reel.json.encode({shared, shared}) == "[[1,2],[1,2]]")
ok, e = pcall(reel.video, {plugin = "card", p = c})
assert(not ok and e:find("field 'p': self: table contains a cycle"), e)
ok, e = pcall(reel.video, {plugin = "card", p = obj})
assert(not ok and e:find("nested deeper than 200 levels"), e)
local v, verr = reel.validate(c, {type = "object"})
assert(v == nil and verr:find("contains a cycle"), verr)

-- JSON -> Lua: the same limit, reported as nil, msg.
local r, rerr = reel.json.decode(string.rep("[", 300) .. string.rep("]", 300))
assert(r == nil and rerr:find("nested deeper than 200 levels"), rerr)
r = reel.json.decode(string.rep("[", 60) .. "1" .. string.rep("]", 60))
assert(type(r) == "table")

-- A 60-deep JSON file through read_json, validate and a node parameter.
local path = reel.out_dir .. "/deep.json"
local f = assert(io.open(path, "w"))
f:write(string.rep('{"a":', 60) .. "1" .. string.rep("}", 60))
f:close()
local d = assert(reel.read_json(path))
assert(reel.validate(d, {type = "object"}) ~= nil or true)
local n = reel.video{plugin = "card", p = d}
assert(n.params.p.a.a.a ~= nil)

-- read_json on a folder: nil, msg
r, rerr = reel.read_json(reel.out_dir)
assert(r == nil and rerr:find("is a folder"), rerr)

-- A 50000-deep chain keys, schedules and fails (its leaf fails) without recursion.
local leaf = reel.video{plugin = "card", fail = "permanent"}
local chain = leaf
for _ = 1, 50000 do chain = reel.concat{chain} end
local res, msg = reel.render(chain, "deep.mp4")
assert(res == nil and msg:find("node " .. leaf.id .. " %(video card"), msg)

-- A generator's 'path' is a file it reads: confined like reel.image's, whatever the plugin.
ok, e = pcall(reel.video, {plugin = "image", path = "/etc/passwd"})
assert(not ok and e:find("field 'path' %(/etc/passwd%): outside the folders this script may use"), e)
