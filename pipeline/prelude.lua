-- reel prelude: the friendly half of the `reel` Lua module, embedded into the reel binary.
--
-- The C side (pipeline/lua_reel.c; reel.model: pipeline/lua_model.c) registers the primitives:
-- reel.video, reel.audio, reel.image, reel.concat, reel.mix, reel.render, reel.seed, reel.log,
-- reel.model, reel.json, node:with_audio. This file adds what is easier to say in Lua:
-- node:subtitles{} (with cues derived from narration), reel.schemas, reel.validate, reel.check_plan.
--
-- Errors raised here use level 2 so that they point at the user's script line.
local reel = ...
local methods = reel._methods
local subtitles_node = reel._subtitles
local model_methods = reel._model_methods
reel._methods, reel._subtitles, reel._model_methods = nil, nil, nil

local function is_node(v)
  return type(v) == "userdata" and getmetatable(v) == "reel.node"
end

-- Length of a visual node in seconds, from its parameters (nodes are lazy, so this is what the
-- script asked for, not a measurement).
local duration_of

-- Seconds each pair of neighbours in a concat shares: a "crossfade" (or any xfade style named
-- as the transition, e.g. "wipeleft") overlaps them by transition_s (default 0.5, at most half
-- the shorter of the two, as the concat stage does); "cut" and "fade" (out to black and in
-- again) put them end to end.
local function overlaps_of(node)
  local p, ov = node.params, {}
  local ins = node.inputs
  local overlap = p.transition ~= nil and p.transition ~= "cut" and p.transition ~= "fade"
  for i = 1, #ins - 1 do
    ov[i] = 0
    if overlap then
      ov[i] = math.min(p.transition_s or 0.5, duration_of(ins[i]) / 2, duration_of(ins[i + 1]) / 2)
    end
  end
  return ov
end

function duration_of(node)
  local k = node.kind
  if k == "video" or k == "image" then
    local d = node.params.duration_s
    if type(d) ~= "number" then
      error(("%s has no duration_s parameter to time subtitles with"):format(tostring(node)), 0)
    end
    return d
  elseif k == "with_audio" or k == "subtitles" then
    return duration_of(node.inputs[1])
  elseif k == "concat" then
    local total, ov = 0, overlaps_of(node)
    for i, n in ipairs(node.inputs) do total = total + duration_of(n) - (ov[i - 1] or 0) end
    return total
  end
  error(("cannot time a %s node"):format(k), 0)
end

-- The narration text carried by an audio node (espeak's text, or the first in a mix).
local function narration_of(audio)
  if audio.kind == "audio" then
    local t = audio.params.text
    return type(t) == "string" and t or nil
  elseif audio.kind == "mix" then
    for _, a in ipairs(audio.inputs) do
      local t = narration_of(a)
      if t then return t end
    end
  end
  return nil
end

-- One cue per narrated shot, in time order.
local function collect_cues(node, t0, cues)
  local k = node.kind
  if k == "concat" then
    local t, ov = t0, overlaps_of(node)
    for i, n in ipairs(node.inputs) do
      collect_cues(n, t, cues)
      t = t + duration_of(n) - (ov[i] or 0)
    end
  elseif k == "with_audio" then
    local video, audio = node.inputs[1], node.inputs[2]
    local text = narration_of(audio)
    if text and text ~= "" then
      cues[#cues + 1] = {start_s = t0, end_s = t0 + duration_of(video), text = text}
    end
  elseif k == "subtitles" then
    collect_cues(node.inputs[1], t0, cues)
  end
  return cues
end

local function check_cues(cues)
  if type(cues) ~= "table" then return "field 'cues' must be an array of cues" end
  for i, c in ipairs(cues) do
    if type(c) ~= "table" then return ("cue %d must be a table"):format(i) end
    if type(c.start_s) ~= "number" or type(c.end_s) ~= "number" or c.start_s < 0
        or c.end_s <= c.start_s then
      return ("cue %d needs numbers start_s >= 0 and end_s > start_s"):format(i)
    end
    if type(c.text) ~= "string" then return ("cue %d needs a text string"):format(i) end
  end
  return nil
end

-- node:subtitles{cues={{start_s=, end_s=, text=}...}, burn=false}
-- node:subtitles{from=node, words_per_cue=4, max_cue_s=3, burn=false}: captions from the
--   narration of `from` (usually the node itself): the word timings its TTS reports (espeak
--   does) become cues of a few words each, timed where each shot lands in the film, never
--   overlapping, always inside the film. For narration without timings, one cue per narrated
--   shot (every with_audio(video, audio{text=...}) inside a concat), timed by the shots'
--   duration_s and the concat's overlaps, is the fallback.
-- burn=true draws the captions into the picture and writes no soft track; style={font=,
--   size= (px), colour="#RRGGBB", highlight=, outline= (px), position="bottom"|"middle"|"top",
--   margin= (px), karaoke=true (each word fills with the highlight as it is spoken)} styles them.
function methods.subtitles(self, opts)
  if not is_node(self) then error("bad self to 'subtitles' (a reel node expected)", 2) end
  if type(opts) ~= "table" then
    error("bad argument #1 to 'subtitles' (table expected: {cues=...} or {from=node})", 2)
  end
  local cues = opts.cues
  if opts.from ~= nil then
    if cues ~= nil then error("bad argument #1 to 'subtitles' (give cues or from, not both)", 2) end
    if not is_node(opts.from) then
      error("bad argument #1 to 'subtitles' (field 'from' must be a node)", 2)
    end
    local ok, res = pcall(collect_cues, opts.from, 0, {})
    -- shots without a duration_s (a clip, a plugin's own length) leave timing to the words
    cues = ok and res or {}
    if ok and #cues == 0 then
      error("bad argument #1 to 'subtitles' (field 'from': no narrated shots found)", 2)
    end
    for _, k in ipairs{"words_per_cue", "max_cue_s"} do
      if opts[k] ~= nil and type(opts[k]) ~= "number" then
        error(("bad argument #1 to 'subtitles' (field '%s' must be a number)"):format(k), 2)
      end
    end
  end
  local why = check_cues(cues)
  if why then error("bad argument #1 to 'subtitles' (" .. why .. ")", 2) end
  if opts.burn ~= nil and type(opts.burn) ~= "boolean" then
    error("bad argument #1 to 'subtitles' (field 'burn' must be a boolean)", 2)
  end
  if opts.style ~= nil then
    if type(opts.style) ~= "table" then
      error("bad argument #1 to 'subtitles' (field 'style' must be a table)", 2)
    end
    if not opts.burn then
      error("bad argument #1 to 'subtitles' (field 'style' styles burnt captions: add burn = true)", 2)
    end
  end
  return subtitles_node(self, cues, opts.burn or false, opts.from, opts.words_per_cue,
                        opts.max_cue_s, opts.style)
end

-- JSON Schemas a model's output (or a plan file) must satisfy. scene_plan is the schema
-- `reel plan` uses (llm/plan.c): title, logline, style, characters [{id, description}],
-- shots [{id, duration_s, camera, setting, action, characters, narration, prompt, transition}].
-- scene_plan_narrated (`reel plan --durations narration`) is the same without duration_s: the
-- narration times each shot (reel.speech_s estimates it; node:with_audio holds the shot until
-- its narration is done).
reel.schemas = {scene_plan = reel._plan_schema(), scene_plan_narrated = reel._plan_schema(true)}
reel._plan_schema = nil

-- reel.speech_s(text [, wpm = 160]) -> seconds: about how long `text` takes to say at wpm words
-- a minute (espeak's rate), at least 1 s; a plan for a shot's picture before its narration is
-- synthesized (the spoken length decides in the end: see node:with_audio).
function reel.speech_s(text, wpm)
  if type(text) ~= "string" then error("bad argument #1 to 'speech_s' (string expected)", 2) end
  wpm = wpm == nil and 160 or wpm
  if type(wpm) ~= "number" or wpm < 40 or wpm > 600 then
    error("bad argument #2 to 'speech_s' (words a minute, 40-600)", 2)
  end
  local words, pauses = 0, 0
  for _ in text:gmatch("%S+") do words = words + 1 end
  for _ in text:gmatch("[%.!?;:,]") do pauses = pauses + 1 end
  -- espeak pauses at punctuation: about a word's length at each
  return math.max(1, (words + pauses) * 60 / wpm)
end

-- reel.validate(value, schema) -> true | nil, "JSON value at '/shots/0/camera': what" is
-- implemented in C: the same validator checks `reel plan`, `reel generate --json-schema`
-- and m:json.

-- reel.check_plan(plan) -> true | nil, msg: a scene plan against reel.schemas.scene_plan, or
-- against scene_plan_narrated when no shot carries a duration_s.
function reel.check_plan(plan)
  local timed = true
  if type(plan) == "table" and type(plan.shots) == "table" then
    timed = false
    for _, shot in ipairs(plan.shots) do
      if type(shot) ~= "table" or shot.duration_s ~= nil then timed = true end
    end
  end
  return reel.validate(plan, timed and reel.schemas.scene_plan or reel.schemas.scene_plan_narrated)
end

-- reel.read_json(path) -> value | nil, msg   (path inside the sandbox; relative to the cwd;
-- a folder, an unreadable file or JSON nested deeper than 200 levels gives nil, msg)
function reel.read_json(path)
  if type(path) ~= "string" then error("bad argument #1 to 'read_json' (string expected)", 2) end
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text, rerr = f:read("a")
  f:close()
  if not text then return nil, path .. ": " .. tostring(rerr) end
  return reel.json.decode(text, path)
end

-- m:json{schema=, prompt=, system=, max_tokens=1024, seed=, temp=, show_schema=true, ...}
--   -> table valid against schema | nil, msg
-- Decoding is constrained by the schema's grammar: the answer always parses and validates.
-- The schema is shown to the model in the system message unless show_schema = false. If
-- max_tokens runs out before the JSON is complete, the call returns nil, msg.
function model_methods.json(self, opts)
  if type(opts) ~= "table" then error("bad argument #1 to 'json' (table expected)", 2) end
  if type(opts.schema) ~= "table" then
    error("bad argument #1 to 'json' (field 'schema' must be a table, e.g. reel.schemas.scene_plan)", 2)
  end
  if type(opts.prompt) ~= "string" then
    error("bad argument #1 to 'json' (field 'prompt' must be a string)", 2)
  end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.max_tokens = opts.max_tokens or 1024
  local text, err = self:_json(o)
  if not text then return nil, err end
  return reel.json.decode(text, "model answer")
end
