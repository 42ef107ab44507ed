#!/usr/bin/env bash
# Mutation checks: does the unit suite still catch a wrong kernel? In a scratch copy of the
# source tree (never the working tree), one small deliberate arithmetic error at a time is
# applied to a kernel (each quantized-matmul layout, the activation quantizer, the repacking,
# float matmul, norms, conv, scan, attention, sampling), only the test executables concerned are
# rebuilt (a release build of its own), and the tests that guard that kernel must FAIL; without
# any mutation they must pass. Prints a table and exits 1 if a mutation survives, if a pattern
# no longer matches its source line (a mutation that does not apply is an error, not a pass),
# or if the unmutated suite fails.
#
#   tests/mutation.sh              all mutations
#   tests/mutation.sh -l           list them
#   tests/mutation.sh NAME...      only these
# MUTATION_DIR (default build-mutation/) holds the copy and its build, reused between runs;
# JOBS (default nproc) is the build parallelism; MUTATION_TESTS (comma-separated test names)
# replaces every mutation's guards, to see what one test catches on its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${MUTATION_DIR:-$root/build-mutation}
jobs=${JOBS:-$(nproc)}
targets=(test_kernels_quant test_kernels_kquant test_kernels_qexact test_kernels_ops test_llm_sample
  test_plugins_image)

# name | file | exact text of the line's fragment | its replacement | the guarding ctest entries
# (comma-separated test names, each with its _avx2 and _vnni entries) | the instruction set the
# mutated code needs to run at all (avx2, vnni, x86 for code built on x86-64 only, or -). The text
# is matched literally and must occur exactly once in the file. On a CPU without that instruction
# set (or capped by REEL_CPU) the mutated code never runs, so the mutation is shown as "n/a here"
# and does not fail the run.
Q='test_kernels_quant,test_kernels_kquant,test_kernels_qexact'
mutations=(
  "act-scale-128|kernels/cpu/x86/quant-act.c|const float d = amax / 127.0f|const float d = amax / 128.0f|$Q|avx2"
  "act-scale-127.5|kernels/cpu/x86/quant-act.c|const float d = amax / 127.0f|const float d = amax / 127.5f|$Q|avx2"
  "act-round-trunc|kernels/cpu/x86/quant-act.c|#define QA_ROUND (_MM_FROUND_TO_NEAREST_INT|#define QA_ROUND (_MM_FROUND_TO_ZERO|$Q|avx2"
  "rowmajor-avx2-q8_0|kernels/cpu/x86/dot-rowmajor-body.h|p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw[i], sx), _mm256_set1_epi16(1));|p = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(aw[i], sx), _mm256_set1_epi16(1)), _mm256_set1_epi32(1));|$Q|avx2"
  "rowmajor-avx2-block32|kernels/cpu/x86/dot-rowmajor-body.h|_mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));|_mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)), _mm256_set1_epi32(1));|$Q|avx2"
  "rowmajor-vnni-block32|kernels/cpu/x86/dot-rowmajor-body.h|const __m256i pr = _mm256_dpbusd_epi32(_mm256_setzero_si256(), a, b);|const __m256i pr = _mm256_dpbusd_epi32(_mm256_set1_epi32(1), a, b);|$Q|vnni"
  "rowmajor-kquant-q6k-offset|kernels/cpu/x86/dot-rowmajor-body.h|ty == DOT_Q6_K ? 32.0f : 4.0f|ty == DOT_Q6_K ? 31.0f : 4.0f|$Q|avx2"
  "rowmajor-q4k-min|kernels/cpu/x86/dot-rowmajor-body.h|_mm256_fnmadd_ps(mv[r], _mm256_loadu_ps(xsum[t] + 8 * sb), acc[r][t]);|_mm256_fnmadd_ps(_mm256_mul_ps(mv[r], _mm256_set1_ps(1.01f)), _mm256_loadu_ps(xsum[t] + 8 * sb), acc[r][t]);|$Q|avx2"
  "interleaved-1token-q4_0|kernels/cpu/x86/block8-vnni.h|__m256i lo = _mm256_set1_epi32(xb->s8), hi = _mm256_setzero_si256();|__m256i lo = _mm256_set1_epi32(xb->s8 + 1), hi = _mm256_setzero_si256();|$Q|vnni"
  "interleaved-batch-q4_0|kernels/cpu/x86/block8-vnni.h|kind ? xb->s8 : 16 * xb->s8|kind ? xb->s8 + 1 : 16 * xb->s8|$Q|vnni"
  "interleaved-q6k|kernels/cpu/x86/gemm-interleaved-tiles.h|__m256i a0 = _mm256_set1_epi32(-32 * xb->h16[0]);|__m256i a0 = _mm256_set1_epi32(-31 * xb->h16[0]);|$Q|vnni"
  "interleaved-q4k-1token|kernels/cpu/x86/gemm-interleaved-tiles.h|if (hi16) a = _mm256_srai_epi32(a, 4);|if (hi16) a = _mm256_srai_epi32(_mm256_add_epi32(a, _mm256_set1_epi32(16)), 4);|$Q|vnni"
  "interleaved-avx2-q4_0|kernels/cpu/x86/gemm-interleaved-tiles.h|a = _mm256_add_epi32(_mm256_madd_epi16(s, one), _mm256_set1_epi32(xb->s8));|a = _mm256_add_epi32(_mm256_madd_epi16(s, one), _mm256_set1_epi32(xb->s8 + 1));|$Q|avx2"
  "interleaved-avx2-q8_0-sign|kernels/cpu/x86/gemm-interleaved-tiles.h|a = gi_dot4(a, aw[k], _mm256_sign_epi8(gi_bcast4(xb->qs + 4 * k), wt[k]));|a = gi_dot4(a, aw[k], _mm256_sign_epi8(gi_bcast4(xb->qs + 4 * k), aw[k]));|$Q|avx2"
  "interleaved-avx2-q4k|kernels/cpu/x86/gemm-interleaved-tiles.h|a = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));|a = _mm256_madd_epi16(s16, _mm256_set1_epi16(2));|$Q|avx2"
  "interleaved-avxvnni-table|kernels/cpu/x86/gemm-interleaved.c|: isa == REELI_X86_AVXVNNI  ? &reeli_gi_tiles_avxvnni|: isa == REELI_X86_AVXVNNI  ? &reeli_gi_tiles_avx2|$Q|avx2"
  "repack-q5_0-bits|kernels/cpu/repack.c|((qh >> (4 * k + e)) & 1) << k|((qh >> (4 * e + k)) & 1) << k|$Q|x86"
  "f32-matmul-batch|kernels/cpu/x86/gemm-f32.c|acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);|acc[r][t] = _mm256_fmadd_ps(wv, _mm256_mul_ps(xv[t], _mm256_set1_ps(1.001f)), acc[r][t]);|test_kernels_ops|avx2"
  "norm-gated-simd|kernels/cpu/x86/unary.c|const float inv = (float)(1.0 / sqrt(ss / (double)gs + eps));|const float inv = (float)(1.0 / sqrt(ss / (double)(gs + 1) + eps));|test_kernels_ops|avx2"
  "norm-rms-scalar|kernels/cpu/norm.c|float inv = (float)(1.0 / sqrt(ss / (double)n + eps));|float inv = (float)(1.0 / sqrt(ss / (double)(n + 1) + eps));|test_kernels_ops|-"
  "conv-tap|kernels/cpu/x86/conv.c|for (int j = 0; j < S; j++) acc = _mm256_fmadd_ps(w[j], h[j], acc);|for (int j = 1; j < S; j++) acc = _mm256_fmadd_ps(w[j], h[j], acc);|test_kernels_ops|avx2"
  "scan-C-offset|kernels/cpu/x86/ssm.c|acc1 = _mm256_fmadd_ps(s1, _mm256_loadu_ps(C + n + 8), acc1);|acc1 = _mm256_fmadd_ps(s1, _mm256_loadu_ps(C + n + 7), acc1);|test_kernels_ops|avx2"
  "attention-scale|kernels/cpu/x86/attention.c|const float scale = 1.0f / sqrtf((float)hd);|const float scale = 1.0f / sqrtf((float)hd + 1.0f);|test_kernels_ops|avx2"
  "image-sampler-avx2-round|plugins/image/image.c|half = _mm256_set1_epi32(32768);|half = _mm256_set1_epi32(32768 + 64);|test_plugins_image|avx2"
  "sample-repeat-penalty|llm/sample.c|l[t] = l[t] > 0 ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;|l[t] = l[t] > 0 ? l[t] * p->repeat_penalty : l[t] / p->repeat_penalty;|test_llm_sample|-"
  "sample-temperature|llm/sample.c|pr[i] = (float)exp(c[i].v / p->temp - mx);|pr[i] = (float)exp(c[i].v - mx * p->temp);|test_llm_sample|-"
)

field() { local IFS='|'; read -r -a f <<<"$1"; printf '%s' "${f[$2]}"; }

# the instruction sets this machine runs the kernels with (kernels/cpu/cpu.c: REEL_CPU caps them)
has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
isa_avx2=0 isa_vnni=0
if [ "${REEL_CPU:-}" != scalar ] && [ "${REEL_CPU:-}" != scalar-q8 ] && has avx2 && has fma && has f16c; then
  isa_avx2=1
  if [ "${REEL_CPU:-}" != avx2 ] && has avx512_vnni && has avx512vl; then isa_vnni=1; fi
fi
runs_here() {
  case $1 in
    avx2) [ $isa_avx2 = 1 ] ;;
    vnni) [ $isa_vnni = 1 ] ;;
    x86) [ "$(uname -m)" = x86_64 ] ;; # kernels/cpu/x86/ is compiled for x86-64 only
    *) true ;;
  esac
}

if [ "${1:-}" = "-l" ]; then
  for m in "${mutations[@]}"; do printf '%-28s %s\n' "$(field "$m" 0)" "$(field "$m" 1)"; done
  exit 0
fi
selected=("$@")
want() { [ ${#selected[@]} -eq 0 ] && return 0; local s; for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
for s in "${selected[@]}"; do
  ok=0; for m in "${mutations[@]}"; do [ "$(field "$m" 0)" = "$s" ] && ok=1; done
  [ $ok = 1 ] || { echo "mutation: no mutation named '$s' (tests/mutation.sh -l lists them)" >&2; exit 2; }
done

# literal text -> sed BRE / replacement
bre() { printf '%s' "$1" | sed -e 's/[]\/$*.^[]/\\&/g'; }
rep() { printf '%s' "$1" | sed -e 's/[\/&]/\\&/g'; }

# the scratch copy: the tracked and untracked-but-not-ignored files of the working tree; a file
# is copied (with a new time) only where its content differs, so the build redoes what changed
# and no object built from a mutated source outlives the mutation
rm -rf "$dir/stage"
mkdir -p "$dir/src" "$dir/stage"
(cd "$root" && git ls-files -co --exclude-standard -z |
  tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$dir/stage"
(cd "$dir/stage" && find . -type f -print0) | while IFS= read -r -d '' f; do
  if ! cmp -s "$dir/stage/$f" "$dir/src/$f"; then
    mkdir -p "$(dirname "$dir/src/$f")"
    cp "$dir/stage/$f" "$dir/src/$f"
  fi
done
rm -rf "$dir/stage"
# an interrupted run puts the mutated file back as it was
current=
restore() { if [ -n "$current" ] && [ -f "$current.orig" ]; then mv "$current.orig" "$current"; touch "$current"; fi; }
trap restore EXIT
trap "exit 130" INT TERM
cmake -S "$dir/src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DREEL_BENCH=OFF -DREEL_CUDA=OFF \
  >"$dir/configure.log" 2>&1 || { cat "$dir/configure.log" >&2; exit 2; }

build() { cmake --build "$dir/build" -j"$jobs" --target "${targets[@]}" >"$dir/build.log" 2>&1; }
# 0 all guards passed, 1 one failed, 3 all skipped
run_tests() {
  local out rc=0
  out=$(cd "$dir/build" && ctest -R "$1" --timeout 300 2>&1) || rc=$?
  printf '%s\n' "$out" >"$dir/ctest.log"
  [ $rc -ne 0 ] && return 1
  grep -Eq ' Passed ' <<<"$out" && return 0
  return 3
}

echo "mutation: building the unmutated copy in $dir"
build || { echo "mutation: the unmutated copy does not build ($dir/build.log)" >&2; exit 2; }
guards() { if [ -n "${MUTATION_TESTS:-}" ]; then printf '%s' "$MUTATION_TESTS"; else field "$1" 4; fi; }
all_regex=$(for m in "${mutations[@]}"; do if want "$(field "$m" 0)"; then guards "$m"; echo; fi; done |
  tr ',' '\n' | sort -u | paste -sd',')
# the named entries and their _avx2 / _vnni / _avxvnni runs (tests/kernels.cmake)
entries() { printf '^(%s)(_avx2|_vnni|_avxvnni)?$' "${1//,/|}"; }
if ! run_tests "$(entries "$all_regex")"; then
  echo "mutation: the unmutated suite fails; see $dir/ctest.log" >&2
  exit 2
fi

printf '%-28s %-38s %-58s %s\n' mutation file "tests run (and their _avx2 / _vnni / _avxvnni entries)" caught
survived=0 broken=0
for m in "${mutations[@]}"; do
  name=$(field "$m" 0) file=$(field "$m" 1) from=$(field "$m" 2) to=$(field "$m" 3) tests=$(guards "$m")
  want "$name" || continue
  isa=$(field "$m" 5)
  if ! runs_here "$isa"; then
    printf '%-28s %-38s %-58s %s\n' "$name" "$file" "$tests" "n/a here (needs $isa)"
    continue
  fi
  f="$dir/src/$file"
  n=$(grep -cF -- "$from" "$f" || true)
  if [ "$n" != 1 ]; then
    printf '%-28s %-38s %-58s %s\n' "$name" "$file" "$tests" "ERROR: pattern matches $n lines"
    broken=$((broken + 1))
    continue
  fi
  cp -p "$f" "$f.orig"
  current=$f
  sed -i "s/$(bre "$from")/$(rep "$to")/" "$f"
  if cmp -s "$f" "$f.orig"; then
    verdict="ERROR: sed changed nothing"
    broken=$((broken + 1))
  elif ! build; then
    verdict="ERROR: does not build ($dir/build.log)"
    broken=$((broken + 1))
  else
    rc=0
    run_tests "$(entries "$tests")" || rc=$?
    case $rc in
      1) verdict=yes ;;
      3) verdict="n/a here (all skipped)" ;;
      *) verdict="NO: survived"; survived=$((survived + 1)); cp "$dir/ctest.log" "$dir/survived-$name.log" ;;
    esac
  fi
  mv "$f.orig" "$f"
  touch "$f" # rebuilt unmutated next time
  current=
  printf '%-28s %-38s %-58s %s\n' "$name" "$file" "$tests" "$verdict"
done
build || { echo "mutation: the restored copy does not build" >&2; exit 2; }
if [ $broken -gt 0 ] || [ $survived -gt 0 ]; then
  echo "mutation: $survived survived, $broken could not be applied" >&2
  exit 1
fi
echo "mutation: every mutation was caught"
