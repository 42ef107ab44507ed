#!/usr/bin/env bash
# reel run --executor slurm against a real one-node Slurm cluster started here (munged,
# slurmctld, slurmd; 2 CPUs; tests/slurm_cluster.sh), and reel node exec:
#   1. a small film made through Slurm equals the local render: the same cache keys with the
#      same content hashes, the same film
#   2. an unchanged re-run submits nothing
#   3. scancel of one running job: that node is reported (job id, node, parameters, log tail),
#      the other nodes finish and are cached, the jobs waiting on it are cancelled; a requeued
#      job (node failure, preemption) is waited for and its node done; a job cancelled after
#      storing its output counts as done, and the job waiting on it is submitted again
#   4. reel run killed (SIGKILL) and run again re-attaches to its queued and running jobs:
#      every node is submitted once
#   5. Ctrl-C on reel run cancels every queued and running job of the run
# The cluster is stopped at the end whatever happens. Exits 77 (skipped, with the reason) only
# when the cluster cannot start here.
set -uo pipefail

REEL=${REEL_BIN:?REEL_BIN must name the reel binary}
SRC=${REEL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
T=$(mktemp -d /tmp/reel-slurm-test-XXXXXX)
C=$T/cluster
mkdir -p "$C"
# shellcheck source=tests/slurm_cluster.sh
source "$SRC/tests/slurm_cluster.sh"

skip() {
  echo "SKIP: $*"
  [ -n "${REEL_SKIP_LOG:-}" ] && echo "test_pipeline_slurm: $*" >>"$REEL_SKIP_LOG"
  exit 77
}
cleanup() {
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
  slurm_cluster_stop "$C"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

slurm_cluster_start "$C"
rc=$?
[ $rc -eq 77 ] && skip "$(tail -1 "$C"/*.out 2>/dev/null) one-node Slurm cluster cannot start here"
[ $rc -ne 0 ] && skip "one-node Slurm cluster cannot start here"
ok "cluster up: $(sinfo -h -N -o '%N %T %c CPUs')"

# how many jobs the controller knows (it keeps finished ones for MinJobAge) whose comment is
# reel:<key>
njobs() { squeue -h -t all -o '%k' | grep -c '^reel:'; }
# complete lines only: reel may be writing the last one while we read
count_events() { cat "$1" 2>/dev/null | grep -c "\"event\":\"$2\".*}\$"; }
job_ids() { grep "\"event\":\"$2\".*}\$" "$1" | sed 's/.*"job_id": *\([0-9]*\).*/\1/'; } # FILE EVENT
wait_events() { # FILE EVENT N SECONDS
  local i
  for i in $(seq 1 $(($4 * 10))); do
    [ "$(count_events "$1" "$2")" -ge "$3" ] && return 0
    sleep 0.1
  done
  return 1
}

# ---- 1. the film through Slurm equals the local render --------------------------------------
mkdir -p "$T/film"
cat >"$T/film/film.lua" <<'LUA'
local shots = {transition = "fade", transition_s = 0.25}
for i = 1, 3 do
  -- resources: what the slurm executor asks for this node (the local one ignores it)
  local v = reel.video{plugin = "card", name = "shot " .. i, title = "shot " .. i,
                       style = "sunset", duration_s = 1, width = 96, height = 64, fps = 12,
                       seed = i, resources = i == 1 and {cpus = 1, time = "10:00", mem = "300M"}
                                             or nil}
  local a = reel.audio{plugin = "tone", name = "tone " .. i, frequency = 220 * i,
                       duration_s = 1}
  shots[#shots + 1] = v:with_audio(a)
end
assert(reel.render(reel.concat(shots), "film.mp4", {crf = 30}))
LUA
"$REEL" run "$T/film/film.lua" --out "$T/local" --cache "$T/local/cache" --jobs 2 \
  --no-progress 2>"$T/local.err" || { cat "$T/local.err"; fail "local render failed"; }
"$REEL" run "$T/film/film.lua" --out "$T/slurm" --cache "$T/slurm/cache" --executor slurm \
  --max-jobs 2 --no-progress --events "$T/slurm1.jsonl" 2>"$T/slurm1.err" ||
  { cat "$T/slurm1.err"; fail "render through Slurm failed"; }
# the same entries (keys and kinds: 3 cards, 3 tones and the render, which joins and narrates
# the shots itself) in both caches, and in each the same streams: compared by
# packets, as a Matroska file carries a random segment UID that differs from run to run
HASH=${REEL_STREAMHASH:?REEL_STREAMHASH must name the media_streamhash tool}
entries() { (cd "$1" && find . -mindepth 2 -maxdepth 2 -path './??/*' ! -name '*.meta.json' -printf '%f\n' | sort); }
entries "$T/local/cache" >"$T/local.keys"
entries "$T/slurm/cache" >"$T/slurm.keys"
nkeys=$(wc -l <"$T/local.keys")
same=0
while read -r f; do
  a=$("$HASH" "$T/local/cache/${f:0:2}/$f" 2>&1)
  b=$("$HASH" "$T/slurm/cache/${f:0:2}/$f" 2>&1)
  [ -n "$a" ] && [ "$a" = "$b" ] && same=$((same + 1))
done <"$T/local.keys"
if [ "$nkeys" -ge 7 ] && cmp -s "$T/local.keys" "$T/slurm.keys" && [ "$same" -eq "$nkeys" ]; then
  ok "same $nkeys cache keys, each with the same stream checksums"
else
  diff "$T/local.keys" "$T/slurm.keys" | head
  fail "caches differ: local $nkeys entries, $same with the same streams"
fi
if [ -n "$("$HASH" "$T/local/film.mp4")" ] &&
  [ "$("$HASH" "$T/local/film.mp4")" = "$("$HASH" "$T/slurm/film.mp4")" ]; then
  ok "film.mp4: the same streams ($("$HASH" "$T/slurm/film.mp4" | awk '{print $2}' | paste -sd+))"
else
  fail "the films' streams differ"
fi
submitted=$(count_events "$T/slurm1.jsonl" node_submitted)
done_=$(count_events "$T/slurm1.jsonl" node_done)
if [ "$submitted" -eq "$nkeys" ] && [ "$done_" -eq "$nkeys" ] && [ "$(njobs)" -eq "$nkeys" ]; then
  ok "$submitted nodes submitted, $done_ done, one job each"
else
  fail "submitted $submitted, done $done_, jobs $(njobs), nodes $nkeys"
fi
grep -q '"event":"node_start".*"job_id"' "$T/slurm1.jsonl" || fail "no node_start event with a job id"
# shot 1 asked for a 10-minute limit, the other nodes got the cluster's (unlimited)
limits=$(squeue -h -t all -o '%j %l' | sort -u)
[[ "$limits" == *"reel-1 10:00"* ]] && [[ "$limits" == *"reel-2 UNLIMITED"* ]] &&
  ok "per-node resources: shot 1 ran with --time=10:00" || fail "per-node resources: $limits"
# what each job asked for (scontrol, while the controller remembers it): the card and tone
# plugins declare cpus=1 and mem (1G, 512M); shot 1's own resources win over its plugin's; a
# media stage (no plugin) asks for nothing
while read -r id plugin name; do
  info=$(scontrol show job -o "$id" 2>&1)
  mem=$(grep -o 'MinMemoryNode=[^ ]*' <<<"$info" | cut -d= -f2)
  echo "$name $plugin $mem $(grep -o 'TimeLimit=[^ ]*' <<<"$info" | cut -d= -f2)"
done < <(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "node_submitted":
        print(e["job_id"], e.get("plugin", "-"), e.get("name", e["kind"]).replace(" ", "_"))
' "$T/slurm1.jsonl") >"$T/asked.txt"
if grep -qx 'shot_1 card 300M 00:10:00' "$T/asked.txt" && grep -qx 'shot_2 card 1G UNLIMITED' "$T/asked.txt" &&
  grep -qx 'tone_3 tone 512M UNLIMITED' "$T/asked.txt" && grep -qx 'render - 0 UNLIMITED' "$T/asked.txt" &&
  grep -q '"name":"shot 2".*"resources":{"cpus":1,"mem":"1G"}' "$T/slurm1.jsonl"; then
  ok "job resources: plugin-declared mem reached the jobs, shot 1's own won"
else
  cat "$T/asked.txt"; fail "job resources asked of Slurm"
fi
out=$(printf 'reel.video{plugin = "card", duration_s = 1, resources = {memory = "1G"}}\n' >"$T/film/bad.lua"
  "$REEL" run "$T/film/bad.lua" --out "$T/x" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"field 'resources': 'memory' is not one of"* ]] ||
  fail "bad resources: $rc $out"

# --max-jobs 2: never more than 2 jobs submitted and not yet done
most=$(awk '/"event":"node_submitted"/ {n++; if (n > m) m = n} /"event":"node_(done|failed)"/ {n--}
            END {print m + 0}' "$T/slurm1.jsonl")
[ "$most" -ge 1 ] && [ "$most" -le 2 ] && ok "--max-jobs 2: at most $most jobs in flight" ||
  fail "--max-jobs 2: $most jobs in flight at once"

# bad options and a refused submission are clear errors
out=$("$REEL" run "$T/film/film.lua" --out "$T/x" --max-jobs 2 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"need --executor slurm"* ]] || fail "--max-jobs without slurm: $rc $out"
out=$("$REEL" run "$T/film/film.lua" --out "$T/x" --executor pbs 2>&1); rc=$?
[ $rc -eq 2 ] && [[ "$out" == *"local or slurm"* ]] || fail "--executor pbs: $rc $out"
out=$("$REEL" run "$T/film/film.lua" --out "$T/x" --executor slurm --partition nosuchpart \
  --no-progress 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"sbatch failed"* ]] && [[ "$out" == *"params:"* ]] ||
  fail "unknown partition: $rc $out"
ok "option errors and a refused sbatch are reported"

# ---- 2. an unchanged re-run submits nothing --------------------------------------------------
before=$(njobs)
"$REEL" run "$T/film/film.lua" --out "$T/slurm" --cache "$T/slurm/cache" --executor slurm \
  --no-progress --events "$T/slurm2.jsonl" 2>"$T/slurm2.err" || fail "unchanged re-run failed"
if [ "$(count_events "$T/slurm2.jsonl" node_submitted)" -eq 0 ] && [ "$(njobs)" -eq "$before" ]; then
  ok "unchanged re-run submitted nothing"
else
  fail "unchanged re-run submitted jobs"
fi

# ---- slow shots: the exec plugin sleeps, then copies a tiny y4m clip ------------------------
mkdir -p "$T/slow"
{
  printf 'YUV4MPEG2 W16 H16 F12:1 Ip A1:1 C420jpeg\n'
  for _ in $(seq 1 6); do printf 'FRAME\n'; head -c 384 /dev/zero | tr '\0' '\200'; done
} >"$T/slow/clip.y4m"
cat >"$T/slow/slow.lua" <<LUA
local base, n, sleep = tonumber(reel.args[1]), tonumber(reel.args[2]), reel.args[3]
local shots = {}
for i = 1, n do
  shots[#shots + 1] = reel.video{plugin = "exec", name = "slow " .. i, seed = base + i,
    argv = {"sh", "-c", "sleep " .. sleep .. "; cp $T/slow/clip.y4m \"\$1\"", "sh", "{out}"},
    out_ext = ".y4m"}
end
-- the concat sets its rate (the clips'), so it stays a node of its own and is not joined by
-- the render: two levels of jobs waiting on others
shots.fps = 12
assert(reel.render(reel.concat(shots), "slow-" .. base .. ".mp4", {crf = 35}))
LUA
# exec: run in the background, $! is then reel itself and not a subshell around it
slow() { # CACHE EVENTS BASE N SLEEP
  exec "$REEL" run "$T/slow/slow.lua" --out "$T/slow" --cache "$1" --executor slurm --no-progress \
    --allow-exec sh --events "$2" -- "$3" "$4" "$5"
}

# ---- 3. scancel of one running job: reported, the rest finish -------------------------------
slow "$T/c3" "$T/s3.jsonl" 100 3 8 2>"$T/s3.err" &
pid=$!
if wait_events "$T/s3.jsonl" node_start 1 60; then
  victim=$(job_ids "$T/s3.jsonl" node_start | head -1)
  scancel "$victim"
  wait $pid
  rc=$?
  # the concat and render were submitted waiting on the shots: cancelled when one failed
  if [ $rc -ne 0 ] && grep -q "Slurm job $victim CANCELLED" "$T/s3.err" && grep -q "params:" "$T/s3.err" &&
    grep -q "job log" "$T/s3.err" && [ "$(count_events "$T/s3.jsonl" node_done)" -eq 2 ] &&
    [ "$(grep -c '"event":"node_submitted".*"dependency":"afterok:' "$T/s3.jsonl")" -eq 2 ] &&
    [ "$(grep -c '"event":"node_cancelled".*"reason":"an input failed"' "$T/s3.jsonl")" -eq 2 ]; then
    ok "scancel of job $victim reported, the 2 other shots finished, the 2 jobs waiting on it cancelled"
  else
    cat "$T/s3.err"; fail "scancel: exit $rc, $(count_events "$T/s3.jsonl" node_done) nodes done"
  fi
else
  kill $pid; wait $pid; cat "$T/s3.err"; fail "no job started within 60 s"
fi

# ---- 3b. a running job requeued (what node failure or preemption does) runs again ----------
slow "$T/c3b" "$T/s3b.jsonl" 150 2 4 2>"$T/s3b.err" &
pid=$!
if wait_events "$T/s3b.jsonl" node_start 1 60; then
  rq=$(job_ids "$T/s3b.jsonl" node_start | head -1)
  scontrol requeue "$rq"
  # Slurm starts a requeued job again once its credential expired (cred_expire=10 in the
  # test cluster; 120 s by default)
  wait $pid
  rc=$?
  if [ $rc -eq 0 ] && [ "$(count_events "$T/s3b.jsonl" node_requeued)" -ge 1 ] &&
    [ "$(count_events "$T/s3b.jsonl" node_done)" -eq 4 ]; then
    ok "job $rq requeued: reel waited for it and the film was made"
  else
    cat "$T/s3b.err"; fail "requeue: exit $rc, $(count_events "$T/s3b.jsonl" node_requeued) requeued"
  fi
else
  kill $pid; wait $pid; cat "$T/s3b.err"; fail "no job started within 60 s"
fi

# ---- 3c. a job that ended CANCELLED with its output in the cache: its node is done, and the
#          concat waiting on it (which Slurm cancels: afterok can no longer be met) is submitted
#          again ----------------------------------------------------------------------------------
"$REEL" run "$T/slow/slow.lua" --out "$T/slow" --cache "$T/c3c-local" --jobs 2 --no-progress \
  --allow-exec sh -- 250 2 4 2>"$T/s3c-local.err" || { cat "$T/s3c-local.err"; fail "local run for 3c"; }
slow "$T/c3c" "$T/s3c.jsonl" 250 2 4 2>"$T/s3c.err" &
pid=$!
if wait_events "$T/s3c.jsonl" node_start 1 60; then
  line=$(grep '"event":"node_start"' "$T/s3c.jsonl" | head -1)
  job=$(sed 's/.*"job_id": *\([0-9]*\).*/\1/' <<<"$line")
  key=$(sed 's/.*"key": *"\([0-9a-f]*\)".*/\1/' <<<"$line")
  # the output as the job would have stored it (meta first: readers look for the data file)
  mkdir -p "$T/c3c/${key:0:2}"
  for f in "$T/c3c-local/${key:0:2}/$key".meta.json $(ls "$T/c3c-local/${key:0:2}/$key".* | grep -v '\.meta\.json$'); do
    cp "$f" "$T/c3c/${key:0:2}/.tmp" && mv "$T/c3c/${key:0:2}/.tmp" "$T/c3c/${key:0:2}/${f##*/}"
  done
  scancel "$job"
  wait $pid
  rc=$?
  if [ $rc -eq 0 ] && grep -q '"event":"node_requeued".*"kind":"concat".*"reason":"its dependency could not be met"' "$T/s3c.jsonl" &&
    [ "$(count_events "$T/s3c.jsonl" node_done)" -eq 4 ]; then
    ok "job $job cancelled with its output stored: the concat Slurm cancelled was submitted again"
  else
    cat "$T/s3c.err"; grep -E 'requeued|cancelled|failed' "$T/s3c.jsonl"
    fail "cancelled with output: exit $rc, $(count_events "$T/s3c.jsonl" node_done) nodes done"
  fi
else
  kill $pid; wait $pid; cat "$T/s3c.err"; fail "no job started within 60 s"
fi

# ---- 4. reel killed and run again re-attaches instead of resubmitting -----------------------
before=$(njobs)
last=$(squeue -h -t all -o '%i' | sort -n | tail -1)
slow "$T/c4" "$T/s4a.jsonl" 200 4 3 2>"$T/s4a.err" &
pid=$!
wait_events "$T/s4a.jsonl" node_submitted 4 30 || fail "the 4 shots were not submitted"
kill -9 $pid
wait $pid 2>/dev/null
(slow "$T/c4" "$T/s4b.jsonl" 200 4 3 2>"$T/s4b.err") || { cat "$T/s4b.err"; fail "re-run after kill failed"; }
attached=$(count_events "$T/s4b.jsonl" node_attached)
new=$(($(njobs) - before))
# keys of the jobs submitted since (3c submitted one key twice, on purpose)
twice=$(squeue -h -t all -o '%i %k' | awk -v l="$last" '$1 > l && $2 ~ /^reel:/ {print $2}' | sort | uniq -d | wc -l)
if [ "$attached" -ge 1 ] && [ "$twice" -eq 0 ] &&
  [ "$new" -eq 6 ]; then
  ok "re-run attached to $attached jobs; 6 nodes, 6 jobs, none submitted twice"
else
  fail "re-attach: attached $attached, $new new jobs for 6 nodes"
fi

# ---- 5. Ctrl-C cancels every queued and running job -----------------------------------------
slow "$T/c5" "$T/s5.jsonl" 300 4 20 2>"$T/s5.err" &
pid=$!
wait_events "$T/s5.jsonl" node_submitted 4 30 || fail "the 4 shots were not submitted"
kill -INT $pid
wait $pid
rc=$?
# the 4 shots, and the concat and render if they were submitted already (after the shots)
ids=$(job_ids "$T/s5.jsonl" node_submitted | paste -sd,)
nsub=$(count_events "$T/s5.jsonl" node_submitted)
sleep 1
live=$(squeue -h -t pending,running -j "$ids" 2>/dev/null | wc -l)
cancelled=$(squeue -h -t all -j "$ids" -o '%T' 2>/dev/null | grep -c CANCELLED)
if [ $rc -ne 0 ] && [ "$nsub" -ge 4 ] && [ "$live" -eq 0 ] && [ "$cancelled" -eq "$nsub" ] &&
  grep -q "$nsub Slurm jobs of this run cancelled" "$T/s5.err"; then
  ok "Ctrl-C cancelled the run's $nsub jobs"
else
  cat "$T/s5.err"; fail "Ctrl-C: exit $rc, $live jobs still live, $cancelled of $nsub cancelled"
fi

# ---- reel node exec: its contract on bad input ----------------------------------------------
out=$("$REEL" node exec nothex --cache "$T/slurm/cache" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"not a node key"* ]] || fail "node exec on a bad key: $rc $out"
k=$(printf '%064d' 0)
out=$("$REEL" node exec "$k" --cache "$T/slurm/cache" 2>&1); rc=$?
[ $rc -eq 1 ] && [[ "$out" == *"no description"* ]] || fail "node exec on an unknown key: $rc $out"
key1=$(ls "$T/slurm/cache/cluster/nodes" | head -1); key1=${key1%.json}
out=$("$REEL" node exec "$key1" --cache "$T/slurm/cache" 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$out" == *"already in the cache"* ]] || fail "node exec of a cached node: $rc $out"
ok "reel node exec: bad key, unknown key, cached node"

slurm_cluster_stop "$C"
if pgrep -F "$C/slurmctld.pid" >/dev/null 2>&1; then fail "slurmctld still running"; fi
[ $fails -eq 0 ] && { echo "all checks passed"; exit 0; }
echo "$fails check(s) failed"
exit 1
