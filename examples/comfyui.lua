-- comfyui.lua: the film of film.lua, with the pictures made by a ComfyUI server or a pool of
-- them instead of the built-in animatic cards.
--
--   reel run examples/comfyui.lua --out out --allow-host gpu1:8188 --allow-host gpu2:8188 \
--       -- http://gpu1:8188 http://gpu2:8188
--
-- reel contacts only the hosts given with --allow-host (without servers, the script uses
-- http://127.0.0.1:8188, which needs --allow-host 127.0.0.1:8188).
-- Each shot's detailed prompt from the plan is put into examples/comfyui-workflow.json (a
-- ComfyUI "API format" workflow: export yours with "Save (API)" and use its placeholders
-- "{prompt}", "{negative}", "{seed}", "{width}", "{height}", "{frames}", "{fps}"). Shots go to
-- the least busy server; an unreachable or busy server is a transient failure that reel
-- retries, and every finished shot stays cached if another one fails.
local servers = {}
for _, a in ipairs(reel.args) do servers[#servers + 1] = a end
if #servers == 0 then servers = {"http://127.0.0.1:8188"} end

local plan
local model, why = reel.model(reel.model_spec)
if model and not reel.model_is_test then
  plan, why = model:json{schema = reel.schemas.scene_plan, max_tokens = 3000,
                         prompt = "Plan a short film of 4 shots about a lighthouse keeper's cat."}
end
if not plan then
  reel.log(("no plan from a language model (%s); using examples/film-plan.json"):format(
    why or "the tiny test model has random weights"))
  plan = assert(reel.read_json(reel.script_dir .. "/film-plan.json"))
end
assert(reel.check_plan(plan))
local workflow = assert(reel.read_json(reel.script_dir .. "/comfyui-workflow.json"))

local fps = 8
local shots = {transition = "crossfade", transition_s = 0.5}
for i, shot in ipairs(plan.shots) do
  local video = reel.video{
    plugin = "comfyui", name = "shot " .. i,
    servers = servers, workflow = workflow,
    prompt = shot.prompt .. ", " .. plan.style,
    negative = "text, watermark, blurry, deformed",
    seed = reel.seed("shot " .. shot.id),
    width = 768, height = 432, fps = fps,
    duration_s = shot.duration_s,
    frames = math.max(1, math.floor(shot.duration_s * fps + 0.5)),
    timeout_s = 1800,
  }
  local voice = reel.audio{plugin = "espeak", name = "voice " .. i, text = shot.narration}
  shots[#shots + 1] = video:with_audio(voice)
end
local film = reel.concat(shots)
local out = assert(reel.render(film:subtitles{from = film}, "comfyui-film.mp4",
                               {fps = 24, size = "1280x720", title = plan.title, plan = plan}))
reel.log("wrote " .. out)
