#!/usr/bin/env bash
# reel run --executor slurm against the local executor, side by side: N independent shots of a
# generator that sleeps S seconds (the exec plugin running `sleep S` and copying a tiny clip),
# concatenated and rendered, on a one-node Slurm cluster with 2 CPUs started here
# (tests/slurm_cluster.sh; needs root and the slurm-wlm and munge packages) and locally with
# --jobs 2. The runs alternate (local, slurm, local, slurm...) so that machine noise falls on
# both; sleep-dominated, so CPU load matters little. Prints per run: the wall time, the time
# until the last shot was done (from the events), and for Slurm the mean and largest sbatch time
# per node; then the medians, and the median of the pairs' slurm/local ratios with a 95%
# bootstrap interval. SLURM_CLUSTER_EXTRA (slurm.conf lines) tries other cluster settings.
#   scripts/bench/slurm_vs_local.sh [REEL_BINARY] [SHOTS=8] [SLEEP_S=5] [REPS=5]
set -uo pipefail
HERE=$(cd "$(dirname "$0")/../.." && pwd)
REEL=${1:-$HERE/build/bin/reel}
N=${2:-8}
S=${3:-5}
REPS=${4:-5}
T=$(mktemp -d /tmp/reel-slurm-bench-XXXXXX)
# shellcheck source=tests/slurm_cluster.sh
source "$HERE/tests/slurm_cluster.sh"
trap 'slurm_cluster_stop "$T/cluster"; [ "${KEEP:-0}" = 1 ] || rm -rf "$T"' EXIT
mkdir -p "$T/cluster" "$T/w"
slurm_cluster_start "$T/cluster" || exit 1
{
  printf 'YUV4MPEG2 W16 H16 F12:1 Ip A1:1 C420jpeg\n'
  for _ in $(seq 1 6); do printf 'FRAME\n'; head -c 384 /dev/zero | tr '\0' '\200'; done
} >"$T/w/clip.y4m"
cat >"$T/w/shots.lua" <<LUA
local n, s = tonumber(reel.args[1]), reel.args[2]
local shots = {}
for i = 1, n do
  shots[#shots + 1] = reel.video{plugin = "exec", name = "shot " .. i, seed = i,
    argv = {"sh", "-c", "sleep " .. s .. "; cp $T/w/clip.y4m \"\$1\"", "sh", "{out}"},
    out_ext = ".y4m"}
end
assert(reel.render(reel.concat(shots), "film.mp4", {crf = 35}))
LUA

# prints "WALL SHOTS_DONE MEAN_SUBMIT" of one run from its events
measure() { # NAME EXTRA-ARGS...
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s.%N)
  "$REEL" run "$T/w/shots.lua" --out "$T/$name" --cache "$T/$name/cache" --no-progress \
    --allow-exec sh --events "$T/$name.jsonl" "$@" -- "$N" "$S" 2>"$T/$name.err" ||
    { cat "$T/$name.err"; exit 1; }
  t1=$(date +%s.%N)
  python3 - "$T/$name.jsonl" "$t0" "$t1" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
wall = float(sys.argv[3]) - float(sys.argv[2])
shots = max(e["t"] for e in ev if e["event"] == "node_done" and e.get("kind") == "video")
sub = [e["submit_s"] for e in ev if e["event"] == "node_submitted"]
print(f"{wall:.2f} {shots:.2f} {sum(sub) / len(sub) * 1000 if sub else 0:.1f}"
      f" {max(sub) * 1000 if sub else 0:.1f}")
PY
}

echo "$N shots sleeping $S s each, 2 CPUs; $(nproc) CPUs on this machine; $(sbatch --version)"
printf '%-8s %-4s %9s %15s %18s %17s\n' executor rep wall_s shots_done_s sbatch_ms_per_node \
  sbatch_ms_largest
: >"$T/runs.txt"
for r in $(seq 1 "$REPS"); do
  read -r w s m x < <(measure "local$r" --jobs 2)
  printf '%-8s %-4s %9s %15s %18s %17s\n' local "$r" "$w" "$s" - -
  echo "local $w $s" >>"$T/runs.txt"
  read -r w s m x < <(measure "slurm$r" --executor slurm)
  printf '%-8s %-4s %9s %15s %18s %17s\n' slurm "$r" "$w" "$s" "$m" "$x"
  echo "slurm $w $s" >>"$T/runs.txt"
  rm -rf "$T/local$r" "$T/slurm$r"
done
python3 - "$T/runs.txt" <<'PY'
import random, statistics, sys
runs = [l.split() for l in open(sys.argv[1])]
local = [float(r[1]) for r in runs if r[0] == "local"]
slurm = [float(r[1]) for r in runs if r[0] == "slurm"]
ratios = [s / l for s, l in zip(slurm, local)]
rng = random.Random(1)
boot = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
print(f"median wall: local {statistics.median(local):.2f} s, slurm {statistics.median(slurm):.2f} s;"
      f" slurm/local {statistics.median(ratios):.3f}"
      f" (95% bootstrap interval {boot[50]:.3f}-{boot[1949]:.3f}, {len(ratios)} pairs)")
PY
