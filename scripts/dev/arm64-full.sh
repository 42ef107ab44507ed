#!/usr/bin/env bash
# The whole project for ARM64, checked from an x86-64 Debian 12 machine: installs what is missing
# (the cross compiler, qemu-user and, by multiarch, Debian's own arm64 -dev packages of every
# library reel links: FFmpeg, Lua, curl, cmocka, Pango...), cross-builds everything (library,
# reel, plugins, tests, benchmarks) with cmake/aarch64-linux-gnu-multiarch.cmake and the
# project's warnings, runs the whole ctest suite under qemu-aarch64, and prints a summary.
# Idempotent: a second run installs nothing and rebuilds incrementally.
#
# A developer check, not part of `make test`: the first run installs about 270 arm64 packages
# (160 MB of downloads) and upgrades the amd64 packages that multiarch needs at the same version
# (apt, as root). Then, on 2 cores of an AMD EPYC: the fresh cross build about a minute, the
# emulated tests about 14 (qemu-user is tens of times slower than a CPU: test_llm_constrain,
# 9 s natively, takes 6 minutes; the tests' timeouts are scaled by 10 for it). On an ARM64
# machine build and test natively instead (docs/arm64.md).
#
# Not run under emulation, with why (they need what qemu-user cannot give):
#   test_pipeline_slurm: Slurm's job script execs the aarch64 reel directly, which the kernel
#     cannot run without a binfmt_misc registration of qemu (and it starts system daemons).
#   test_pipeline_slurm_parse's test_quote_and_cmd: it expects posix_spawnp of a missing
#     program to fail, but qemu-user runs glibc's CLONE_VFORK spawn as a fork, so the exec's
#     failure becomes an exit status of 127 instead.
#
# usage: scripts/dev/arm64-full.sh [BUILD_DIR]    (default: build-arm64-full in the source tree)
#   JOBS=N      parallel build and test jobs (default 2)
#   QEMU_CPU=C  the emulated CPU (default max: neon, dotprod and i8mm; see docs/arm64.md)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-arm64-full}
jobs=${JOBS:-2}
export QEMU_CPU=${QEMU_CPU:-max}

# ---- packages: host tools, then the arm64 libraries (multiarch) ----
HOST_PACKAGES=(cmake pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
ARM64_PACKAGES=(libcmocka-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libssl-dev
                liblua5.4-dev libpcre2-dev libavformat-dev libavcodec-dev libavfilter-dev
                libavutil-dev libswscale-dev libswresample-dev libespeak-ng-dev libpango1.0-dev
                libcairo2-dev)
missing=()
for p in "${HOST_PACKAGES[@]}" "${ARM64_PACKAGES[@]/%/:arm64}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "arm64-full: run as root (or install sudo)" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "arm64-full: dpkg --add-architecture arm64"
    $SUDO dpkg --add-architecture arm64
  fi
  echo "arm64-full: apt-get update"
  $SUDO apt-get update -qq
  echo "arm64-full: installing ${missing[*]}"
  # (the arm64 glib's postinst cannot run its arm64 helpers here: its "Exec format error"
  # lines are harmless, the packages are still configured)
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "arm64-full: every package is installed"
fi

# ---- the cross build ----
echo "arm64-full: building into $build (log: $build.log)"
mkdir -p "$build"
if ! { cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu-multiarch.cmake" \
      -DCMAKE_BUILD_TYPE=Release -DREEL_NATIVE=OFF &&
      cmake --build "$build" -j"$jobs"; } >"$build.log" 2>&1; then
  tail -40 "$build.log"
  echo "arm64-full: the aarch64 cross build failed (log above, all of it in $build.log)"
  exit 1
fi
if grep -q 'warning:' "$build.log"; then
  grep 'warning:' "$build.log" | sort -u
  echo "arm64-full: the cross build has compiler warnings (above)"
  exit 1
fi

# ---- the tests under qemu-aarch64 (the toolchain file makes it ctest's emulator) ----
echo "arm64-full: ctest under qemu-aarch64, QEMU_CPU=$QEMU_CPU (log: $build/ctest.log)"
rm -f "$build/skipped-tests.txt"
rc=0
# REEL_TEST_EXCLUDE: test executables without a filter of their own skip that test
REEL_TEST_EXCLUDE=test_quote_and_cmd ctest --test-dir "$build" -j"$jobs" --output-on-failure \
  -E '^test_pipeline_slurm$' >"$build/ctest.log" 2>&1 || rc=$?

log=$build/ctest.log
total=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$log" || true)
passed=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#.* Passed ' "$log" || true)
skipped=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#.*\*\*\*Skipped' "$log" || true)
echo
echo "arm64-full: of $total ctest entries $passed passed, $skipped skipped, $((total - passed - skipped)) failed"
echo "  not run under emulation (this script's header says why): test_pipeline_slurm," \
  "test_pipeline_slurm_parse's test_quote_and_cmd"
if [ "$skipped" -gt 0 ]; then
  echo "  skipped entries:" $(grep -E '^ *[0-9]+/[0-9]+ Test +#.*\*\*\*Skipped' "$log" |
    sed -E 's/.*#[0-9]+: ([^ ]+) .*/\1/')
fi
if [ -s "$build/skipped-tests.txt" ]; then
  echo "  what they skipped, and why:"
  sort "$build/skipped-tests.txt" | sed 's/^/    /'
fi
if [ "$rc" -ne 0 ]; then
  echo "  failed:"
  sed -n '/The following tests FAILED:/,$p' "$log" | grep -E '^\s+[0-9]+ - ' || true
  echo "arm64-full: FAILED (the output of each failure is in $log)"
  exit 1
fi
echo "arm64-full: the aarch64 build passed its tests under qemu-aarch64 -cpu $QEMU_CPU"
