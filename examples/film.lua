-- film.lua: a one-line idea becomes a narrated, subtitled short film.
--
--   idea -> scene plan (a language model, or examples/film-plan.json without one)
--        -> per shot: a `card` video (animated title card) + `espeak` narration
--        -> concat with cross-fades -> subtitles from the narration -> film.mp4
--
--   reel run examples/film.lua --out out -- "a lighthouse keeper's cat learns the stars"
--   reel run examples/film.lua --out out --model nemotron-h.gguf --seed 7 -- "..."
--   reel run examples/film.lua --out out -- "ignored idea" my-plan.json   (your own plan,
--                                          e.g. written by: reel plan -m M "idea" -o my-plan.json)
--
-- Every node is cached: run it again and nothing is redone; edit one shot in the plan and only
-- that shot, the assembly and the encode run again.
local idea = reel.args[1] or "a lighthouse keeper's cat learns to read the stars"

-- 1. The plan: from the model when there is one, else from the example plan file.
local plan
local model, why = reel.model(reel.model_spec)
if model and reel.model_is_test then
  model, why = nil, "the tiny test model has random weights and would plan noise"
end
if model then
  reel.log("planning with " .. reel.model_spec .. ": " .. idea)
  -- decoding is constrained by the schema: the plan always parses and validates; the narration
  -- times the shots, so the plan carries no durations
  plan, why = model:json{
    schema = reel.schemas.scene_plan_narrated,
    system = "You are a film director. You plan short narrated films shot by shot.",
    prompt = "Plan a short film of 4 to 6 shots about: " .. idea,
    seed = reel.seed("plan"), temp = 0.7, max_tokens = 3000,
  }
end
if not plan then
  local path = reel.args[2] or (reel.script_dir .. "/film-plan.json")
  reel.log(("no plan from a language model (%s); the plan comes from %s and does NOT "
            .. "follow the idea %q"):format(why, path, idea))
  plan = assert(reel.read_json(path))
end
assert(reel.check_plan(plan))

-- 2. One shot per planned scene: an animated card showing the shot's action over a palette
--    taken from its setting and the film's style, with its narration spoken over it. Seeds are
--    stable per shot id, so reordering shots never changes them.
local function clip(s, n) -- at most n characters (UTF-8 aware)
  if utf8.len(s) and utf8.len(s) > n then return s:sub(1, utf8.offset(s, n + 1) - 1) .. "…" end
  return s
end
local shots = {transition = "fade", transition_s = 0.5}
for i, shot in ipairs(plan.shots) do
  local card = reel.video{
    plugin = "card",
    name = "shot " .. i,
    title = clip(shot.action, 80),
    caption = clip(shot.camera .. " · " .. shot.setting, 200),
    setting = shot.setting,
    style = plan.style,
    prompt = shot.prompt,
    duration_s = shot.duration_s or reel.speech_s(shot.narration, 160),
    width = 1280, height = 720, fps = 24,
    seed = reel.seed("card " .. shot.id),
  }
  local voice = reel.audio{plugin = "espeak", name = "voice " .. i, text = shot.narration,
                           voice = "en", rate = 160}
  shots[#shots + 1] = card:with_audio(voice)
end

-- 3. Assemble, subtitle from the narration, encode.
local film = reel.concat(shots)
film = film:subtitles{from = film}
local out = assert(reel.render(film, "film.mp4", {
  fps = 24, size = "1280x720", crf = 23, title = plan.title, plan = plan,
}))
reel.log("wrote " .. out .. " (" .. #plan.shots .. " shots)")
