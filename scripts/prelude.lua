-- reel prelude: the friendly half of the `reel` Lua module, embedded into the reel binary.
--
-- The C side (pipeline/lua_reel.c) registers the primitives: reel.video, reel.audio,
-- reel.image, reel.concat, reel.mix, reel.render, reel.seed, reel.log, reel.model, reel.json,
-- node:with_audio. This file adds what is easier to say in Lua: node:subtitles{} (with cues
-- derived from narration), reel.schemas, reel.validate and reel.check_plan.
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

-- Seconds each pair of neighbours in a concat shares: a "crossfade" overlaps them by
-- transition_s (default 0.5, at most half the shorter of the two, as the concat stage does);
-- "cut" and "fade" (out to black and in again) put them end to end.
local function overlaps_of(node)
  local p, ov = node.params, {}
  local ins = node.inputs
  for i = 1, #ins - 1 do
    ov[i] = 0
    if p.transition == "crossfade" then
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
-- node:subtitles{from=node}: one cue per narrated shot of `from` (usually the node itself):
--   every with_audio(video, espeak{text=...}) inside a concat becomes a cue timed by the
--   shots' duration_s and the concat's crossfade overlap.
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
    if not ok then error("bad argument #1 to 'subtitles' (field 'from': " .. res .. ")", 2) end
    cues = res
    if #cues == 0 then
      error("bad argument #1 to 'subtitles' (field 'from': no narrated shots found)", 2)
    end
  end
  local why = check_cues(cues)
  if why then error("bad argument #1 to 'subtitles' (" .. why .. ")", 2) end
  if opts.burn ~= nil and type(opts.burn) ~= "boolean" then
    error("bad argument #1 to 'subtitles' (field 'burn' must be a boolean)", 2)
  end
  return subtitles_node(self, cues, opts.burn or false)
end

-- JSON Schemas a model's output (or a plan file) must satisfy.
reel.schemas = {
  scene_plan = {
    type = "object",
    required = {"title", "shots"},
    properties = {
      title = {type = "string", maxLength = 80},
      logline = {type = "string", maxLength = 240},
      shots = {
        type = "array", minItems = 1, maxItems = 16,
        items = {
          type = "object",
          required = {"title", "narration", "duration_s"},
          properties = {
            title = {type = "string", maxLength = 60},
            narration = {type = "string", maxLength = 400},
            visual = {type = "string", maxLength = 240},
            duration_s = {type = "number", minimum = 1, maximum = 30},
          },
        },
      },
    },
  },
}

local function json_type(v)
  local t = type(v)
  if t == "table" then
    if next(v) == nil or #v > 0 then return "array" end
    return "object"
  elseif t == "number" then
    return math.type(v) == "integer" and "integer" or "number"
  end
  return t
end

local function validate(v, s, path)
  local want, got = s.type, json_type(v)
  if want then
    local ok = want == got or (want == "number" and got == "integer")
        or (want == "object" and got == "array" and next(v) == nil)
    if not ok then return ("%s: %s expected, got %s"):format(path, want, got) end
  end
  if s.enum then
    local found = false
    for _, e in ipairs(s.enum) do if e == v then found = true end end
    if not found then return ("%s: not one of the allowed values"):format(path) end
  end
  if type(v) == "string" and s.maxLength and utf8.len(v) and utf8.len(v) > s.maxLength then
    return ("%s: longer than %d characters"):format(path, s.maxLength)
  end
  if type(v) == "number" then
    if s.minimum and v < s.minimum then return ("%s: below %s"):format(path, s.minimum) end
    if s.maximum and v > s.maximum then return ("%s: above %s"):format(path, s.maximum) end
  end
  if type(v) == "table" then
    if s.minItems and #v < s.minItems then
      return ("%s: fewer than %d items"):format(path, s.minItems)
    end
    if s.maxItems and #v > s.maxItems then
      return ("%s: more than %d items"):format(path, s.maxItems)
    end
    if s.items then
      for i, x in ipairs(v) do
        local e = validate(x, s.items, ("%s[%d]"):format(path, i))
        if e then return e end
      end
    end
    for _, k in ipairs(s.required or {}) do
      if v[k] == nil then return ("%s: missing required member '%s'"):format(path, k) end
    end
    for k, sub in pairs(s.properties or {}) do
      if v[k] ~= nil then
        local e = validate(v[k], sub, path .. "." .. k)
        if e then return e end
      end
    end
  end
  return nil
end

-- reel.validate(value, schema) -> true | nil, "where: what"   (the JSON Schema subset above)
function reel.validate(value, schema)
  if type(schema) ~= "table" then error("bad argument #2 to 'validate' (schema table expected)", 2) end
  local e = validate(value, schema, "$")
  if e then return nil, e end
  return true
end

-- reel.check_plan(plan) -> true | nil, msg: a scene plan against reel.schemas.scene_plan.
function reel.check_plan(plan)
  return reel.validate(plan, reel.schemas.scene_plan)
end

-- reel.read_json(path) -> value | nil, msg   (path inside the sandbox; relative to the cwd)
function reel.read_json(path)
  if type(path) ~= "string" then error("bad argument #1 to 'read_json' (string expected)", 2) end
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  return reel.json.decode(text, path)
end

-- m:json{schema=, prompt=, system=, tries=3, max_tokens=1024, seed=, temp=, ...}
--   -> table valid against schema | nil, msg
-- Asks the model (through m:chat) for JSON matching the schema, takes the first {...} or [...]
-- of the answer, and validates it with reel.validate; tries again with the next seed when the
-- answer does not parse or validate. (Decoding is not grammar-constrained in this build.)
local sampling_fields = {"temp", "top_k", "top_p", "min_p", "repeat_penalty", "stop", "think"}
function model_methods.json(self, opts)
  if type(opts) ~= "table" then error("bad argument #1 to 'json' (table expected)", 2) end
  if type(opts.schema) ~= "table" then
    error("bad argument #1 to 'json' (field 'schema' must be a table, e.g. reel.schemas.scene_plan)", 2)
  end
  if type(opts.prompt) ~= "string" then
    error("bad argument #1 to 'json' (field 'prompt' must be a string)", 2)
  end
  local tries = opts.tries or 3
  if math.type(tries) ~= "integer" or tries < 1 then
    error("bad argument #1 to 'json' (field 'tries' must be a positive integer)", 2)
  end
  local system = (opts.system and opts.system .. "\n\n" or "")
    .. "Answer with one JSON value only, no other text. It must be valid against this JSON Schema:\n"
    .. reel.json.encode(opts.schema)
  local last = "no answer"
  for i = 1, tries do
    local o = {system = system, prompt = opts.prompt, max_tokens = opts.max_tokens or 1024,
               seed = (opts.seed or reel.run_seed) + i - 1}
    for _, k in ipairs(sampling_fields) do o[k] = opts[k] end
    local text, err = self:chat(o)
    if not text then return nil, err end
    local js = text:match("%b{}") or text:match("%b[]")
    if not js then
      last = "the answer holds no JSON"
    else
      local v, jerr = reel.json.decode(js, "model answer")
      if v == nil then
        last = jerr
      else
        local ok, verr = reel.validate(v, opts.schema)
        if ok then return v end
        last = verr
      end
    end
  end
  return nil, ("no schema-valid JSON from the model after %d tries (last: %s)"):format(tries, last)
end
