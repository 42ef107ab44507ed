# Cross build for 64-bit ARM Linux with Debian's gcc-aarch64-linux-gnu (and libc6-dev-arm64-cross).
# Only the kernels-only build works this way (-DREEL_KERNELS_ONLY=ON): the full project needs
# arm64 builds of FFmpeg, Lua, curl and the rest, which Debian's multiarch packages provide
# (aarch64-linux-gnu-multiarch.cmake). Tests run under qemu-aarch64 (qemu-user),
# which ctest uses as the emulator; QEMU_CPU picks the emulated CPU model (see docs/arm64.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# LD_LIBRARY_PATH=/lib keeps the programs on the sysroot's C library where Debian's arm64 one is
# installed too (multiarch): the cross loader would find that one first (tests/arm64_kernels.sh)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/lib)
