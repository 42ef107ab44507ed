-- The reel Lua API, run inside reel by test_pipeline_lua with the test stage runner.
local function raises(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return e
end

-- nodes and their fields
local v = reel.video{plugin = "test", text = "a", duration_s = 2, name = "shot1"}
assert(v.kind == "video" and v.plugin == "test" and v.name == "shot1" and v.id >= 1)
assert(v.params.text == "a" and v.params.duration_s == 2 and v.params.name == nil)
assert(tostring(v):find("^reel%.node %d+ %(video test 'shot1', .*api%.lua:%d+%)$"), tostring(v))
local a = reel.audio{plugin = "test", text = "hello there"}
local s = v:with_audio(a)
assert(s.kind == "with_audio" and s.inputs[1] == v and s.inputs[2] == a)
local c = reel.concat{s, s, transition = "fade", transition_s = 0.5}
assert(#c.inputs == 2 and c.params.transition == "fade")
local m = reel.mix{a, a, gains = {1.0, 0.5}}
assert(m.kind == "mix" and #m.inputs == 2)
assert(getmetatable(v) == "reel.node")

-- misuse raises, naming the argument and this script's line
local e = raises(function() reel.video({text = "x"}) end)
assert(e:find("api%.lua:%d+: bad argument #1 to 'video' %(field 'plugin' must be a string"), e)
e = raises(function() reel.video({plugin = "test", f = function() end}) end)
assert(e:find("field 'f': a function cannot be a parameter"), e)
e = raises(function() reel.video({plugin = "test", nested = {bad = v}}) end)
assert(e:find("field 'nested': bad: a node cannot be a parameter here"), e)
e = raises(function() reel.concat({a}) end)
assert(e:find("item 1 must be a video node, got audio node"), e)
e = raises(function() reel.concat({}) end)
assert(e:find("needs at least one video node"), e)
e = raises(function() reel.concat({v, transition = 3}) end)
assert(e:find("field 'transition' must be a string"), e)
-- transitions: cut, fade, crossfade (style = an xfade name) or an xfade name itself
e = raises(function() reel.concat({v, transition = "swirl"}) end)
assert(e:find("field 'transition': unknown transition \"swirl\" %(cut, fade, crossfade, or an "
              .. "xfade style: fade, dissolve, wipeleft"), e)
e = raises(function() reel.concat({v, transition = "crossfade", style = "swirl"}) end)
assert(e:find("field 'style': must be an xfade style name %(one of: fade, dissolve"), e)
e = raises(function() reel.concat({v, transition = "fade", style = "dissolve"}) end)
assert(e:find("field 'style': goes with transition = \"crossfade\""), e)
assert(reel.concat{v, transition = "circleopen"}.params.transition == "circleopen")
e = raises(function() reel.render(c, "x.mp4", {loudness = 3}) end)
assert(e:find("field 'loudness' must be a target in LUFS"), e)
e = raises(function() reel.render(c, "x.mp4", {true_peak = 2}) end)
assert(e:find("field 'true_peak'"), e)
e = raises(function() reel.mix({a, a, gains = {1}}) end)
assert(e:find("field 'gains' must be an array of 2 numbers"), e)
e = raises(function() v:with_audio(v) end)
assert(e:find("bad argument #1 to 'with_audio' %(an audio node is needed, got video%)"), e)
e = raises(function() reel.render(a, "x.mp4") end)
assert(e:find("bad argument #1 to 'render' %(a video node is needed, got audio%)"), e)
e = raises(function() reel.render(c, "x.mp4", {fps = 0}) end)
assert(e:find("field 'fps' must be an integer from 1 to 240"), e)
e = raises(function() reel.render(c, "x.mp4", {size = "big"}) end)
assert(e:find("field 'size'"), e)
e = raises(function() reel.render(c, "/etc/x.mp4") end)
assert(e:find("outside the folders"), e)
e = raises(function() c.kind = "x" end)
assert(e:find("immutable"), e)
e = raises(function() reel.image({path = "no-such-file.png"}) end)
assert(e:find("field 'path'"), e)
e = raises(function() reel.seed() end)
assert(e:find("bad argument #1 to 'seed'"), e)

-- subtitles: explicit cues, or one cue per narrated shot timed by duration_s and transitions
local sub = c:subtitles{from = c}
local cues = sub.params.cues
assert(#cues == 2, #cues)
assert(cues[1].start_s == 0 and cues[1].end_s == 2 and cues[1].text == "hello there")
assert(cues[2].start_s == 2 and cues[2].end_s == 4) -- a fade does not overlap the shots
local xc = reel.concat{s, s, s, transition = "crossfade", transition_s = 0.5}
local xcues = xc:subtitles{from = xc}.params.cues
assert(xcues[2].start_s == 1.5 and xcues[3].start_s == 3 and xcues[3].end_s == 5)
-- a crossfade longer than half a shot is clamped, as the concat stage does
local wipe = reel.concat{s, s, transition = "wipeleft", transition_s = 0.5}
assert(wipe:subtitles{from = wipe}.params.cues[2].start_s == 1.5) -- any xfade style overlaps
local long = reel.concat{s, s, transition = "crossfade", transition_s = 5}
local lcues = long:subtitles{from = long}.params.cues
assert(lcues[2].start_s == 1 and lcues[2].end_s == 3, lcues[2].start_s)
e = raises(function() c:subtitles{cues = {{start_s = 2, end_s = 1, text = "x"}}} end)
assert(e:find("api%.lua:%d+: bad argument #1 to 'subtitles' %(cue 1 needs"), e)
e = raises(function() c:subtitles{from = reel.concat{v}} end)
assert(e:find("no narrated shots"), e)
local sub2 = c:subtitles{cues = {{start_s = 0, end_s = 1, text = "hi"}}, burn = true}
assert(sub2.params.burn == true)
-- captions from the narration's word timings, styled when burnt in
local ks = c:subtitles{from = c, burn = true, words_per_cue = 3,
                       style = {karaoke = true, highlight = "#FFD700", position = "top"}}
assert(ks.params.words == true and ks.params.words_per_cue == 3 and ks.params.style.karaoke)
e = raises(function() c:subtitles{from = c, style = {size = 20}} end)
assert(e:find("field 'style' styles burnt captions: add burn = true"), e)
-- narration options of with_audio
assert(v:with_audio(a, {trim = true, pad_s = 1}).params.trim == true)
e = raises(function() v:with_audio(a, {trim = "yes"}) end)
assert(e:find("field 'trim' must be a boolean"), e)

-- rendering runs the graph and returns the absolute output path
local out = assert(reel.render(sub, "api.mp4", {title = "API", plan = {title = "p"}}))
assert(out == reel.out_dir .. "/api.mp4", out)
local f = assert(io.open(out, "rb"))
local text = f:read("a")
f:close()
assert(text:find("^render ") and text:find('"title":"API"') and text:find("hello there"), text)
assert(text:find('"pipeline_hash":"' .. string.rep("%x", 64)), "provenance metadata")
local side = assert(reel.read_json(out .. ".reel.json"))
assert(side.ai_generated == true and side.plan.title == "p" and #side.graph == 6, #side.graph)

-- operational failures return nil, msg: the node's id, label and parameters
local bad = reel.video{plugin = "test", fail = "permanent", name = "broken"}
local ok, msg = reel.render(bad, "bad.mp4")
assert(ok == nil, "render of a failing node")
assert(msg:find("node %d+ %(video test 'broken', .-api%.lua:%d+%) failed"), msg)
assert(msg:find('params: {"fail":"permanent","plugin":"test"}', 1, true), msg)
ok, msg = reel.render(reel.video{plugin = "missing"}, "m.mp4")
assert(ok == nil and msg:find("plugin 'missing' not found"), msg)
-- a transient failure is retried and succeeds
assert(reel.render(reel.video{plugin = "test", fail = "transient:2"}, "retry.mp4"))

-- JSON
local t = reel.json.decode('{"a":[1,2.5,"x",true,null],"b":{}}')
assert(t.a[1] == 1 and math.type(t.a[1]) == "integer" and t.a[2] == 2.5 and t.a[5] == reel.json.null)
assert(reel.json.encode({b = 1, a = {1, 2}}) == '{"a":[1,2],"b":1}')
local bad_json, jerr = reel.json.decode("{oops", "plan.json")
assert(bad_json == nil and jerr:find("plan.json:1:"), jerr)
e = raises(function() reel.json.encode({1, x = 2}) end)
assert(e:find("array"), e)

-- seeds: integers below 2^53, stable per name
local s1 = reel.seed("shot 1")
assert(math.type(s1) == "integer" and s1 >= 0 and s1 < 2^53)
assert(s1 == reel.seed("shot 1") and s1 ~= reel.seed("shot 2"))

-- plans and schemas (the same C validator as reel plan and --json-schema)
local function shot(over)
  local s = {id = 1, duration_s = 2, camera = "wide", setting = "a beach", action = "waves",
             characters = {}, narration = "n", prompt = "p", transition = "cut"}
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end
local function plan(shots)
  return {title = "t", logline = "l", style = "s", characters = {}, shots = shots}
end
assert(reel.check_plan(plan{shot()}))
local okp, perr = reel.check_plan(plan{})
assert(okp == nil and perr:find("/shots") and perr:find("fewer than minItems 1"), perr)
okp, perr = reel.check_plan(plan{shot{camera = "zoom"}})
assert(okp == nil and perr:find("/shots/0/camera") and perr:find("enum"), perr)
local s2 = shot()
s2.narration = nil
okp, perr = reel.check_plan(plan{s2})
assert(perr:find("missing required property 'narration'"), perr)
assert(reel.validate({a = 1}, {type = "object", properties = {a = {type = "integer", maximum = 3}}}))
okp, perr = reel.validate({a = 5}, {type = "object", properties = {a = {type = "integer", maximum = 3}}})
assert(okp == nil and perr:find("above maximum"), perr)
-- an empty Lua table is an object where the schema says object
assert(reel.validate({}, {type = "object", properties = {a = {type = "string"}}}))
assert(reel.schemas.scene_plan.properties.shots.items.properties.camera.enum[1] == "wide")
-- plans whose narration times the shots: no duration_s anywhere, or one in every shot
local untimed = shot()
untimed.duration_s = nil
assert(reel.check_plan(plan{untimed}))
assert(reel.schemas.scene_plan_narrated.properties.shots.items.properties.duration_s == nil)
okp, perr = reel.validate(plan{untimed}, reel.schemas.scene_plan)
assert(okp == nil and perr:find("missing required property 'duration_s'"), perr)
-- a plan that times some shots but not others is refused at the first untimed one
okp, perr = reel.check_plan(plan{untimed, shot{id = 2}})
assert(okp == nil and perr:find("/shots/0") and perr:find("'duration_s'"), perr)
okp, perr = reel.check_plan(plan{shot{duration_s = 0}})
assert(okp == nil and perr:find("/shots/0/duration_s"), perr)
-- spoken length estimates: words and pauses at the rate, never under a second
assert(reel.speech_s("one") == 1)
assert(math.abs(reel.speech_s(string.rep("word ", 80), 160) - 30) < 1e-9)
assert(reel.speech_s("a, b.", 120) == 2)
assert(reel.speech_s(string.rep("word ", 80), 320) < reel.speech_s(string.rep("word ", 80)))
e = raises(function() reel.speech_s(3) end)
assert(e:find("speech_s") and e:find("string expected"), e)
e = raises(function() reel.speech_s("x", 10) end)
assert(e:find("words a minute"), e)

-- the model binding reports its absence as an operational failure
local model, merr = reel.model("x.gguf")
assert(model == nil and type(merr) == "string")

-- modules from the script's folder
local greet = require("mod.greet")
assert(greet("x") == "hello x")
assert(type(reel.args) == "table" and reel.version)
reel.log("api.lua: all checks passed")
