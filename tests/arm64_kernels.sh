#!/bin/sh
# The ARM64 kernels under emulation: cross-builds core + kernels and test_kernels_arm64 for
# aarch64 (cmake/aarch64-linux-gnu.cmake, -DREEL_KERNELS_ONLY=ON) and runs the test under
# qemu-aarch64 once per CPU feature level, each QEMU CPU model telling the kernels (through
# AT_HWCAP) what it has, and REEL_CPU capping a newer model to a lower level. Skipped (77) with
# the reason when the cross compiler or qemu-user is missing. The builds go to BUILD_DIR (Release)
# and BUILD_DIR-asan (sanitizers); each is incremental after its first run.
#
# usage: tests/arm64_kernels.sh [BUILD_DIR]   (default: build-arm64 in the source tree)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-arm64}
sysroot=/usr/aarch64-linux-gnu

skip() {
    echo "SKIPPED: arm64_kernels.sh: $1"
    if [ -n "${REEL_SKIP_LOG:-}" ]; then echo "arm64_kernels.sh: $1" >>"$REEL_SKIP_LOG"; fi
    exit 77
}
command -v aarch64-linux-gnu-gcc >/dev/null ||
    skip "no aarch64-linux-gnu-gcc (Debian packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)"
[ -e "$sysroot/lib/ld-linux-aarch64.so.1" ] ||
    skip "no arm64 C library in $sysroot (Debian package libc6-dev-arm64-cross)"
command -v qemu-aarch64 >/dev/null || skip "no qemu-aarch64 (Debian package qemu-user)"

# cross_build DIR CMAKE_ARGS...: configures and builds test_kernels_arm64 into DIR, quietly
cross_build() {
    dir=$1
    shift
    mkdir -p "$dir"
    if ! { cmake -S "$src" -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
        -DREEL_KERNELS_ONLY=ON -DREEL_NATIVE=OFF "$@" &&
        cmake --build "$dir" -j2 --target test_kernels_arm64; } >"$dir.log" 2>&1; then
        cat "$dir.log"
        echo "arm64_kernels.sh: the aarch64 cross build in $dir failed (log above, also in $dir.log)"
        exit 1
    fi
}
cross_build "$build" -DCMAKE_BUILD_TYPE=Release
# and with AddressSanitizer + UBSan, which work under qemu-user (LeakSanitizer does not: it needs
# ptrace, so leaks are not checked here)
cross_build "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DREEL_SANITIZE=ON
exe="$build/bin/test_kernels_arm64"

unset REEL_CPU
# LD_LIBRARY_PATH=/lib (the guest's /lib, which -L maps to the sysroot's): where Debian's own
# arm64 C library is also installed (multiarch libc6:arm64, scripts/dev/arm64-full.sh), the cross
# loader's default path begins with /lib/aarch64-linux-gnu, which the sysroot lacks and qemu then
# takes from the host: a loader and a C library of two glibc builds (2.36-8cross1 and
# 2.36-9+deb12u14), which hang after main returns.
fail=0
# run CPU EXPECT [REEL_CPU]: the test on QEMU's CPU model CPU, expecting the table of level EXPECT
run() {
    echo "== qemu-aarch64 -cpu $1${3:+ with REEL_CPU=$3}: expect $2"
    if [ -n "${3:-}" ]; then
        REEL_CPU=$3 REEL_TEST_ARM64_EXPECT=$2 qemu-aarch64 -L "$sysroot" -E LD_LIBRARY_PATH=/lib \
            -cpu "$1" "$exe" || fail=1
    else
        REEL_TEST_ARM64_EXPECT=$2 qemu-aarch64 -L "$sysroot" -E LD_LIBRARY_PATH=/lib -cpu "$1" \
            "$exe" || fail=1
    fi
}
run cortex-a53 neon        # Armv8.0: plain NEON, no SDOT
run cortex-a76 dotprod     # Armv8.2 with dotprod, no i8mm
run max i8mm               # every feature QEMU emulates: dotprod and i8mm
run max neon neon          # the caps of REEL_CPU on a CPU that has more
run max dotprod dotprod
run max scalar scalar
exe="$build-asan/bin/test_kernels_arm64"
export ASAN_OPTIONS=detect_leaks=0
echo "== the same under AddressSanitizer + UBSan"
run cortex-a53 neon
run max i8mm
if [ "$fail" -ne 0 ]; then
    echo "arm64_kernels.sh: FAILED at some level (above)"
    exit 1
fi
echo "arm64_kernels.sh: every level passed"
