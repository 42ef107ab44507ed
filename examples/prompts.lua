-- prompts.lua: turn a scene plan into per-shot prompts and seeds for an external generator
-- (a ComfyUI workflow, a text-to-video model behind the `exec` plugin, ...). It renders
-- nothing: it writes OUT/prompts.json, so it is also a quick way to try the Lua API.
--
--   reel run examples/prompts.lua --out out --seed 3 -- "cinematic, 35mm, soft light"
--
-- Seeds come from reel.seed(name): the same shot keeps its seed whatever order the shots are
-- in, and --seed gives a whole new set.
local style = reel.args[1] or "storybook illustration, warm palette"

local plan
local model, why = reel.model(reel.model_spec)
if model then
  plan = assert(model:json{schema = reel.schemas.scene_plan, max_tokens = 3000,
                           prompt = "Plan a short film about a lighthouse keeper's cat."})
else
  reel.log("no language model (" .. why .. "); using the example plan")
  plan = assert(reel.read_json(reel.script_dir .. "/film-plan.json"))
end
assert(reel.check_plan(plan))

local prompts = {}
for i, shot in ipairs(plan.shots) do
  -- the plan's generator prompt, in the style asked for on the command line
  local prompt = ("%s. %s"):format(shot.prompt:gsub("%.$", ""), style)
  prompts[i] = {
    shot = shot.id,
    camera = shot.camera,
    prompt = prompt,
    negative = "text, watermark, blurry",
    seed = reel.seed("shot " .. shot.id),
    duration_s = shot.duration_s,
  }
end

local path = reel.out_dir .. "/prompts.json"
local f = assert(io.open(path, "w"))
f:write(reel.json.encode({title = plan.title, style = style, shots = prompts}), "\n")
f:close()
reel.log(("wrote %d prompts to %s"):format(#prompts, path))
