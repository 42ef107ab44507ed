-- short.lua: a 9:16 short (720x1280) with karaoke captions over a ducked music bed.
--
--   reel run examples/short.lua --out out                      (a soft tone stands in for music)
--   reel run examples/short.lua --out out --allow-path ~/Music -- ~/Music/theme.mp3
--
-- Each shot is a title card with its narration (espeak); the narration decides how long the
-- shot lasts, the music under it is ducked while the voice speaks, the shots slide up into
-- each other, and the narration's word timings become captions that light up word by word.
-- (fade_s = 0: a card held for its narration keeps its last picture, which must not be black)
local music = reel.args[1]
local lines = {
  {"Night", "Every night the old lighthouse keeper climbed one hundred and twelve steps."},
  {"Cat", "His cat followed, counting each one, and never once lost count."},
  {"Stars", "At the top, they watched the ships, and the stars, until morning."},
}

local shots = {transition = "slideup", transition_s = 0.4}
for i, line in ipairs(lines) do
  local title, text = line[1], line[2]
  local card = reel.video{plugin = "card", name = "card " .. i, title = title,
                          setting = "night sea lighthouse", width = 720, height = 1280,
                          fps = 30, duration_s = 2, fade_s = 0, seed = reel.seed("card " .. i)}
  local voice = reel.audio{plugin = "espeak", name = "voice " .. i, text = text, rate = 170}
  -- the bed: a piece of the song (looped if it is short), or a quiet tone
  local bed = music
    and reel.audio{path = music, start_s = (i - 1) * 6, duration_s = 6, loop = true,
                   fade_in_s = 0.3, fade_out_s = 0.8, gain = 0.6}
    or reel.audio{plugin = "tone", frequency = 220, amplitude = 0.08, duration_s = 6}
  local sound = reel.mix{voice, bed, duck = {voice = 0, amount_db = -14}}
  shots[#shots + 1] = card:with_audio(sound)
end

local film = reel.concat(shots)
film = film:subtitles{from = film, burn = true, words_per_cue = 3,
                      style = {karaoke = true, size = 64, highlight = "#FFD700",
                               position = "bottom", margin = 160, outline = 4}}
local out = assert(reel.render(film, "short.mp4", {fps = 30, size = "720x1280",
                                                   loudness = -14, title = "The Keeper's Cat"}))
reel.log("wrote " .. out)
