#!/usr/bin/env python3
"""reel vs one ffmpeg filter graph vs MoviePy 2.x on the same short film (developer benchmark,
not a test): five image shots with a slow zoom, a tone under each, 0.5 s crossfades (video and
audio), 1280x720 at 24 fps, H.264 (x264 veryfast, CRF 20, High profile, 2 s GOP) + AAC 160k.

    python3 scripts/bench/film_3way.py --reel build/bin/reel --rounds 6 --raw docs/bench/film-3way

Needs the `ffmpeg` command (Debian's ffmpeg package; only for this benchmark) and, for the
MoviePy column, a venv with MoviePy 2.x:
    python3 -m venv /tmp/moviepy-venv && /tmp/moviepy-venv/bin/pip install moviepy
(--moviepy-python names another interpreter; --no-moviepy runs the other two.) With
--ab REEL_B it times two reel builds instead (A: --reel, B: REEL_B), alternating, with the
seconds of each stage kind from reel's events: the check of one change.

The same work for all three:
- five 1920x1080 PNG pictures made once by ffmpeg's lavfi sources (deterministic);
- each shot 115 frames (4.8 s at 24 fps, rounded as reel rounds it): a centred window of the
  picture, zoom 1 -> 1.2 with a smoothstep ease (reel's `motion = "zoom_in"`), sampled to
  1280x720 (reel: its image plugin; ffmpeg: `zoompan`; MoviePy: PIL's bilinear resize of the
  window, per frame);
- a sine tone per shot (amplitude 0.2, 10 ms fade in and out), mono made stereo 48 kHz;
- neighbours overlapping by 12 frames (0.5 s): `xfade=fade` and `acrossfade` (tri curves);
  MoviePy: CrossFadeIn plus audio fades in its compose concatenation;
- no loudness normalisation: reel's render is given `loudness = false` (its default is a
  two-pass EBU R128 loudnorm, which the peers do not do).
x264's threads: reel's writer fixes thread_count = 4 (x264's output depends on it and reel's
cache wants the same packets on every machine); ffmpeg and MoviePy (which runs ffmpeg) leave
it to x264 (auto: 1.5 x CPUs). --x264-threads N gives the peers N as well.

Each round runs the three in an order that rotates from round to round, reel into a fresh cache
(a first run); after the rounds, reel runs its last script again unchanged (everything cached)
--rerun times. Prints the CPU, versions, medians, and the medians of the per-round ratios with
their distribution-free 95% confidence intervals (benchstats.median_ci). --raw DIR keeps every
run's time, command, ffprobe of the result and reel's events (per-stage times) as JSON.
"""
import argparse, json, os, shutil, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402

W, H, FPS = 1280, 720, 24
SHOTS = 5
FRAMES = 115  # llround(4.8 * 24)
OV = 12  # llround(0.5 * 24)
ZOOM = 1.2
TONES = [220.0, 277.18, 329.63, 392.0, 440.0]
CRF, PRESET = 20, "veryfast"
SOURCES = [  # 1920x1080 test pictures (lavfi), deterministic
    "testsrc2=s=1920x1080:r=1",
    "mandelbrot=s=1920x1080:r=1:start_scale=1.5:end_pts=1",
    "smptehdbars=s=1920x1080:r=1",
    "gradients=s=1920x1080:r=1:seed=7:n=5",
    "cellauto=s=1920x1080:r=1:rule=110:seed=3:random_fill_ratio=0.5",
]

LUA = """-- film_3way's film: five image shots with a slow zoom, a tone each, 0.5 s crossfades
local shots = {transition = "crossfade", transition_s = 0.5}
local tones = {%(tones)s}
for i = 1, %(n)d do
  local pic = reel.image{path = reel.script_dir .. ("/img%%d.png"):format(i), width = %(w)d,
                         height = %(h)d, fps = %(fps)d, duration_s = 4.8, motion = "zoom_in",
                         zoom = %(zoom)s}
  local tone = reel.audio{plugin = "tone", frequency = tones[i], amplitude = 0.2,
                          duration_s = 4.8, fade_s = 0.01}
  shots[#shots + 1] = pic:with_audio(tone, {trim = true})
end
assert(reel.render(reel.concat(shots), "film.mp4",
                   {fps = %(fps)d, size = "%(w)dx%(h)d", crf = %(crf)d, preset = "%(preset)s",
                    loudness = false}))
"""

MOVIEPY = r'''
import sys, numpy as np
from PIL import Image
from moviepy import VideoClip, AudioClip, concatenate_videoclips, vfx, afx
W, H, FPS, FRAMES, OV, ZOOM, CRF, PRESET = %(w)d, %(h)d, %(fps)d, %(frames)d, %(ov)d, %(zoom)s, %(crf)d, "%(preset)s"
D, X = FRAMES / FPS, OV / FPS
threads = %(threads)s
def shot(path, freq):
    src = Image.open(path).convert("RGB")
    sw, sh = src.size
    cw, ch = sw, sw * H / W
    if ch > sh:
        cw, ch = sh * W / H, sh
    def frame(t):
        k = min(round(t * FPS), FRAMES - 1)
        u = k / (FRAMES - 1)
        u = u * u * (3 - 2 * u)
        z = 1 + (ZOOM - 1) * u
        ww, wh = cw / z, ch / z
        x0, y0 = (sw - ww) / 2, (sh - wh) / 2
        return np.asarray(src.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + ww, y0 + wh)))
    def tone(t):
        t = np.asarray(t, dtype=float)
        g = 0.2 * np.minimum(1, np.minimum(t, D - t) / 0.01).clip(0, 1)
        s = g * np.sin(2 * np.pi * freq * t)
        return np.stack([s, s], axis=-1) if s.ndim else np.array([s, s])
    a = AudioClip(tone, duration=D, fps=48000)
    return VideoClip(frame, duration=D).with_audio(a)
clips = [shot(p, f) for p, f in zip(sys.argv[2::2], map(float, sys.argv[3::2]))]
for i, c in enumerate(clips):
    fx, afxs = [], []
    if i > 0:
        fx.append(vfx.CrossFadeIn(X)); afxs.append(afx.AudioFadeIn(X))
    if i < len(clips) - 1:
        afxs.append(afx.AudioFadeOut(X))
    c = c.with_effects(fx) if fx else c
    clips[i] = c.with_audio(c.audio.with_effects(afxs))
film = concatenate_videoclips(clips, method="compose", padding=-X)
film.write_videofile(sys.argv[1], fps=FPS, codec="libx264", preset=PRESET, audio_codec="aac",
                     audio_fps=48000, audio_bitrate="160k", threads=threads, logger=None,
                     ffmpeg_params=["-crf", str(CRF), "-pix_fmt", "yuv420p", "-profile:v",
                                    "high", "-g", str(2 * FPS)])
'''


def ffmpeg_cmd(work, out, threads):
    """One ffmpeg command: the whole film as a single filter graph."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for i in range(SHOTS):
        cmd += ["-i", os.path.join(work, f"img{i + 1}.png")]
    d = FRAMES / FPS
    parts = []
    n1 = FRAMES - 1
    for i in range(SHOTS):
        # zoompan's own window: centred, zoom eased by smoothstep over the shot's frames
        z = f"1+{ZOOM - 1}*(on/{n1})*(on/{n1})*(3-2*on/{n1})"
        parts.append(f"[{i}:v]zoompan=z='{z}':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d={FRAMES}"
                     f":s={W}x{H}:fps={FPS},format=yuv420p,setsar=1[v{i}]")
        parts.append(f"sine=f={TONES[i]}:r=48000:d={d:.6f},volume=1.6,"
                     f"afade=t=in:d=0.01,afade=t=out:st={d - 0.01:.6f}:d=0.01,"
                     f"aformat=sample_fmts=fltp:channel_layouts=stereo[a{i}]")
    v, a = "v0", "a0"
    for i in range(1, SHOTS):
        off = i * (FRAMES - OV) / FPS
        parts.append(f"[{v}][v{i}]xfade=transition=fade:duration={OV / FPS:.6f}:offset={off:.6f}[vx{i}]")
        parts.append(f"[{a}][a{i}]acrossfade=ns={OV * 48000 // FPS}:c1=tri:c2=tri[ax{i}]")
        v, a = f"vx{i}", f"ax{i}"
    cmd += ["-filter_complex", ";".join(parts), "-map", f"[{v}]", "-map", f"[{a}]",
            "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF), "-profile:v", "high",
            "-g", str(2 * FPS), "-pix_fmt", "yuv420p"]
    if threads:
        cmd += ["-threads:v", str(threads)]
    cmd += ["-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-movflags", "+faststart", out]
    return cmd


def probe(path):
    """Frames, duration and streams of a result, by ffprobe (counting the frames)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,nb_read_frames,duration:format=duration",
                          "-of", "json", path], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-300:]}
    j = json.loads(out.stdout)
    return {"streams": j.get("streams"), "duration": j.get("format", {}).get("duration")}


def timed(cmd, env=None, cwd=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"film_3way: {' '.join(cmd)[:300]} failed ({p.returncode}):\n{p.stderr[-1500:]}")
    return dt, p


def stage_seconds(events):
    """Seconds spent in each stage kind (summed over its nodes) from reel's events."""
    start, out = {}, {}
    for e in events:
        if e["event"] == "node_start":
            start[e["id"]] = (e["t"], e.get("kind", "?"))
        elif e["event"] == "node_done" and e["id"] in start:
            t0, kind = start[e["id"]]
            out[kind] = out.get(kind, 0) + e["t"] - t0
    return out


def make_pictures(work):
    for i, src in enumerate(SOURCES):
        path = os.path.join(work, f"img{i + 1}.png")
        if not os.path.exists(path):
            subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                            "-f", "lavfi", "-i", src, "-frames:v", "1", "-pix_fmt", "rgb24",
                            path], check=True)


def version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--rerun", type=int, default=3, help="unchanged re-runs timed at the end")
    ap.add_argument("--work", default="/tmp/film-3way", help="scratch folder (pictures, outputs)")
    ap.add_argument("--raw", help="folder for every run's JSON")
    ap.add_argument("--moviepy-python", default="/tmp/moviepy-venv/bin/python")
    ap.add_argument("--no-moviepy", action="store_true")
    ap.add_argument("--x264-threads", type=int, default=0,
                    help="threads for the peers' x264 (default: x264's auto)")
    ap.add_argument("--only-reel", action="store_true", help="reel alone (quick profiling)")
    ap.add_argument("--ab", metavar="REEL_B",
                    help="A/B of two reel builds instead: --reel (A) and REEL_B (B), alternating")
    args = ap.parse_args()
    reel = os.path.abspath(args.reel)
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            sys.exit(f"film_3way: needs `{tool}` (apt-get install ffmpeg)")
    os.makedirs(args.work, exist_ok=True)
    if args.raw:
        os.makedirs(args.raw, exist_ok=True)
    make_pictures(args.work)
    with open(os.path.join(args.work, "film.lua"), "w") as f:
        f.write(LUA % dict(tones=", ".join(str(t) for t in TONES), n=SHOTS, w=W, h=H, fps=FPS,
                           zoom=ZOOM, crf=CRF, preset=PRESET))
    mp_script = os.path.join(args.work, "film_moviepy.py")
    with open(mp_script, "w") as f:
        f.write(MOVIEPY % dict(w=W, h=H, fps=FPS, frames=FRAMES, ov=OV, zoom=ZOOM, crf=CRF,
                               preset=PRESET, threads=args.x264_threads or None))
    who = ["reel"] if args.only_reel else ["reel", "ffmpeg"]
    if args.ab:
        who = ["reel", "reel-b"]
    elif not args.no_moviepy and not args.only_reel:
        if not os.access(args.moviepy_python, os.X_OK):
            sys.exit(f"film_3way: no MoviePy venv at {args.moviepy_python} (see --help), or "
                     "give --no-moviepy")
        who.append("moviepy")
    mp_env = dict(os.environ, FFMPEG_BINARY=shutil.which("ffmpeg"),
                  IMAGEIO_FFMPEG_EXE=shutil.which("ffmpeg"))
    pics = [os.path.join(args.work, f"img{i + 1}.png") for i in range(SHOTS)]
    times = {w: [] for w in who}
    stages = {}  # tool -> stage kind -> [seconds of all its nodes, per round]

    def run_one(w, r):
        out_dir = os.path.join(args.work, f"out-{w}")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        rec = {"tool": w, "round": r}
        if w in ("reel", "reel-b"):
            cache = os.path.join(args.work, "cache" if w == "reel" else "cache-b")
            shutil.rmtree(cache, ignore_errors=True)
        # every tool starts with nothing of an earlier run left to write out (untimed): reel's
        # cache is hundreds of MB, and its writeback (and the discards of deleting it) would
        # otherwise land in whichever run comes next
        os.sync()
        if w in ("reel", "reel-b"):
            ev = os.path.join(out_dir, "events.jsonl")
            binary = reel if w == "reel" else os.path.abspath(args.ab)
            cmd = [binary, "run", os.path.join(args.work, "film.lua"), "--out", out_dir,
                   "--cache", cache, "--no-progress", "--events", ev]
            dt, _ = timed(cmd)
            out = os.path.join(out_dir, "film.mp4")
            with open(ev) as f:
                rec["events"] = [json.loads(l) for l in f if '"node_progress"' not in l]
            for kind, t in stage_seconds(rec["events"]).items():
                stages.setdefault(w, {}).setdefault(kind, []).append(t)
        elif w == "ffmpeg":
            out = os.path.join(out_dir, "film.mp4")
            cmd = ffmpeg_cmd(args.work, out, args.x264_threads)
            dt, _ = timed(cmd)
        else:
            out = os.path.join(out_dir, "film.mp4")
            cmd = [args.moviepy_python, mp_script, out] + [x for p, t in zip(pics, TONES)
                                                            for x in (p, str(t))]
            dt, _ = timed(cmd, env=mp_env, cwd=out_dir)
        rec.update(seconds=dt, command=cmd, probe=probe(out))
        if args.raw:
            with open(os.path.join(args.raw, f"round{r + 1}-{w}.json"), "w") as f:
                json.dump(rec, f, indent=1)
        return dt

    for r in range(args.rounds):
        order = who[r % len(who):] + who[:r % len(who)]
        got = {w: run_one(w, r) for w in order}
        for w in who:
            times[w].append(got[w])
        print(f"round {r + 1}/{args.rounds} ({' -> '.join(order)}): " +
              ", ".join(f"{w} {got[w]:.2f} s" for w in who), flush=True)
    reruns = []
    out_dir = os.path.join(args.work, "out-reel")
    for k in range(0 if args.ab else args.rerun):
        cmd = [reel, "run", os.path.join(args.work, "film.lua"), "--out", out_dir, "--cache",
               os.path.join(args.work, "cache"), "--no-progress"]
        dt, _ = timed(cmd)
        reruns.append(dt)
    if args.raw and reruns:
        with open(os.path.join(args.raw, "rerun-reel.json"), "w") as f:
            json.dump({"seconds": reruns, "command": cmd}, f, indent=1)

    mp_ver = "-"
    if "moviepy" in who:
        # the distribution's version: some releases' moviepy.__version__ lags behind it
        mp_ver = version([args.moviepy_python, "-c",
                          "import importlib.metadata as m; print(m.version('moviepy'))"])
    print(f"\nCPU: {cpu_model()} ({os.cpu_count()} CPUs); {args.rounds} rounds, order rotating")
    print(f"reel: {version([reel, '--version'])}; {version(['ffmpeg', '-version'])}; "
          f"MoviePy {mp_ver}")
    print(f"x264 threads: reel 4 (fixed); peers "
          f"{args.x264_threads or 'auto (x264: 1.5 x CPUs)'}; loudness normalisation off in all")
    print("| tool | first run, median s | 95% CI |")
    print("| --- | ---: | --- |")
    for w in who:
        ci = median_ci(times[w])
        cis = f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else "too few rounds"
        print(f"| {w} | {median(times[w]):.2f} | {cis} |")
    if reruns:
        print(f"| reel, unchanged re-run | {median(reruns):.3f} | ({len(reruns)} runs: "
              f"{', '.join(f'{x:.3f}' for x in reruns)}) |")
    for w in stages:
        print(f"{w} stages (seconds summed over a kind's nodes, median of rounds; image nodes run "
              f"two at a time): " + ", ".join(f"{k} {median(v):.2f}" for k, v in stages[w].items()))
    print("\n| ratio | median of per-round ratios | 95% CI |")
    print("| --- | ---: | --- |")
    for peer in who[1:]:
        rs = [a / b for a, b in zip(times["reel"], times[peer])]
        ci = median_ci(rs)
        cis = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "too few rounds"
        name = "B / A" if peer == "reel-b" else f"reel / {peer}"
        if peer == "reel-b":
            rs = [b / a for a, b in zip(times["reel"], times[peer])]
            ci = median_ci(rs)
            cis = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "too few rounds"
        print(f"| {name} | {median(rs):.3f} | {cis} |")


if __name__ == "__main__":
    main()
