-- film.lua: a one-line idea becomes a narrated, subtitled short film.
--
--   idea -> scene plan (a language model, or examples/film-plan.json without one)
--        -> per shot: a `card` video (animated title card) + `espeak` narration
--        -> concat with cross-fades -> subtitles from the narration -> film.mp4
--
--   reel run examples/film.lua --out out -- "a lighthouse keeper's cat learns the stars"
--   reel run examples/film.lua --out out --model nemotron-h.gguf --seed 7 -- "..."
--   reel run examples/film.lua --out out -- "ignored idea" my-plan.json   (your own plan)
--
-- Every node is cached: run it again and nothing is redone; edit one shot in the plan and only
-- that shot, the assembly and the encode run again.
local idea = reel.args[1] or "a lighthouse keeper's cat learns to read the stars"

-- 1. The plan: from the model when there is one, else from the example plan file.
local plan
local model, why = reel.model(reel.model_spec)
if model then
  reel.log("planning with " .. reel.model_spec .. ": " .. idea)
  plan, why = model:json{
    schema = reel.schemas.scene_plan,
    system = "You are a film director. You plan short narrated films.",
    prompt = "Plan a short film of 4 to 6 shots about: " .. idea,
    seed = reel.seed("plan"), temp = 0.7,
  }
end
if not plan then
  local path = reel.args[2] or (reel.script_dir .. "/film-plan.json")
  reel.log(("no plan from a language model (%s); the plan comes from %s and does NOT "
            .. "follow the idea %q"):format(why, path, idea))
  plan = assert(reel.read_json(path))
end
assert(reel.check_plan(plan))

-- 2. One shot per planned scene: an animated title card with its narration. The card's
--    palette follows the shot's visual description; seeds are stable per shot title.
local shots = {transition = "fade", transition_s = 0.5}
for i, shot in ipairs(plan.shots) do
  local card = reel.video{
    plugin = "card",
    name = "shot " .. i,
    title = shot.title,
    caption = shot.visual,
    setting = shot.visual or shot.title,
    style = plan.logline,
    duration_s = shot.duration_s,
    width = 1280, height = 720, fps = 24,
    seed = reel.seed("card " .. shot.title),
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
