#!/usr/bin/env bash
# Installs every Debian package reel needs to build, run and test. Idempotent; safe to re-run.
#   scripts/setup.sh          update the package lists, then install what is missing
#   scripts/setup.sh --check  exit 0 if everything is installed, 1 otherwise (installs nothing)
# No PyPI and no other network: Debian's packages only.
set -euo pipefail

# package                     why
PACKAGES=(
  build-essential             # gcc, make, libc headers: the C11 toolchain
  cmake                       # the build system (3.25 on Debian 12)
  pkg-config                  # finds the libraries below
  clang                       # libFuzzer fuzz targets (make test builds them with clang)
  libclang-rt-14-dev          # clang's sanitizer and libFuzzer runtimes
  clang-format                # make format-check
  libcmocka-dev               # unit-test framework
  libjansson-dev              # JSON (core/json.h, GGUF metadata, plans, schemas)
  libcurl4-openssl-dev        # HTTP client (downloads, remote models, ComfyUI)
  libmicrohttpd-dev           # HTTP server of reel serve (the OpenAI-compatible API)
  libssl-dev                  # libcrypto: SHA-256 for cache keys and checksums
  ca-certificates             # TLS verification for HTTPS downloads
  liblua5.4-dev               # the embedded Lua 5.4 pipeline runtime
  libpcre2-dev                # tokenizer pre-tokenizer regexes (PCRE2 with JIT)
  libavformat-dev             # FFmpeg: containers (MP4, WebM) in and out
  libavcodec-dev              # FFmpeg: H.264/AAC/VP9/Opus encoders and all decoders
  libavfilter-dev             # FFmpeg: scaling, transitions, drawtext, audio mixing
  libavutil-dev               # FFmpeg: frames, options, metadata
  libswscale-dev              # FFmpeg: pixel format conversion and scaling
  libswresample-dev           # FFmpeg: audio resampling
  libespeak-ng-dev            # narration plugin (text to speech)
  libpango1.0-dev             # card text: HarfBuzz shaping, wrapping, font fallback (fontconfig)
  libcairo2-dev               # card frames: drawing and compositing
  fonts-dejavu-core           # a font that is always there
  fonts-wqy-microhei          # card text in Chinese, Japanese and Korean (DejaVu has no CJK)
  slurm-wlm                   # reel run --executor slurm: its test starts a one-node cluster
  munge                       # Slurm's authentication daemon (the cluster test runs munged)
)
# An x86-64 machine also checks the ARM64 kernels, cross-built and emulated (an ARM64 machine
# runs their test natively, and Debian has no arm64 build of the cross compiler).
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  PACKAGES+=(
    gcc-aarch64-linux-gnu     # cross compiler: builds kernels/ for ARM64 (tests/arm64_kernels.sh)
    libc6-dev-arm64-cross     # the arm64 C library that cross build links against
    qemu-user                 # qemu-aarch64: runs the ARM64 kernel tests at each CPU level
  )
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
  echo "setup: missing packages: ${missing[*]}" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: run as root (or install sudo)" >&2; exit 1; }
  SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
echo "setup: apt-get update"
$SUDO apt-get update -qq
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
