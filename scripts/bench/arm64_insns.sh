#!/bin/sh
# Instructions per row, token and 32-element block that QEMU executes inside each ARM64
# integer-dot kernel's row body (docs/arm64.md's table): bench_arm64_insns runs one matmul of 16
# rows x 4096 weights by T tokens, and qemu-aarch64 logs every instruction executed in the body's
# address range (-singlestep -d exec,nochain -dfilter START..END); the lines are counted. Counts,
# not speed: a real core's throughput per instruction differs by kind, and decode is bound by
# memory. The activation quantizer is outside the range, as in the table.
#
# usage: scripts/bench/arm64_insns.sh [BUILD_DIR]   (a kernels-only aarch64 build, made if absent:
#        default build-arm64-insns in the source tree; needs gcc-aarch64-linux-gnu and qemu-user)
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build-arm64-insns}
sysroot=/usr/aarch64-linux-gnu
if [ ! -x "$build/bin/bench_arm64_insns" ]; then
    cmake -S "$src" -B "$build" -DCMAKE_TOOLCHAIN_FILE="$src/cmake/aarch64-linux-gnu.cmake" \
        -DREEL_KERNELS_ONLY=ON -DREEL_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j2 --target bench_arm64_insns >/dev/null
fi
exe=$build/bin/bench_arm64_insns
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# count TYPE LEVEL T: instructions per row, token and block (16 rows, 128 blocks)
count() {
    fn=$(qemu-aarch64 -L $sysroot -E LD_LIBRARY_PATH=$sysroot/lib -cpu max "$exe" "$1" "$2" "$3")
    start=$(aarch64-linux-gnu-nm "$exe" | awk -v f="$fn" '$3 == f { print $1 }')
    size=$(aarch64-linux-gnu-nm -S "$exe" | awk -v f="$fn" '$4 == f { print $2 }')
    end=$(printf '%x' $((0x$start + 0x$size - 1)))
    qemu-aarch64 -L $sysroot -E LD_LIBRARY_PATH=$sysroot/lib -cpu max -singlestep \
        -d exec,nochain -dfilter "0x$start..0x$end" -D "$log" "$exe" "$1" "$2" "$3" >/dev/null
    n=$(grep -c '^Trace' "$log" || true)
    awk -v n="$n" -v t="$3" 'BEGIN { printf "%.1f", n / (16 * t * 128) }'
}
printf '| weights | level | T=1 | T=8 |\n| --- | --- | ---: | ---: |\n'
for t in q8_0 q4_0 q5_0; do
    for lv in neon dotprod i8mm r8; do
        printf '| %s | %s | %s | %s |\n' "$t" "$lv" "$(count $t $lv 1)" "$(count $t $lv 8)"
    done
done
for t in q4_k q6_k; do
    for lv in neon dotprod i8mm r8; do
        printf '| %s | %s | %s | %s |\n' "$t" "$lv" "$(count $t $lv 1)" "$(count $t $lv 8)"
    done
done
