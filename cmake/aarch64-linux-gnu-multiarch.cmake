# Cross build of the whole project for 64-bit ARM Linux against Debian's own arm64 packages,
# installed next to the amd64 ones by multiarch (dpkg --add-architecture arm64, then
# libavcodec-dev:arm64 and the rest, see docs/arm64.md). Multiarch puts the arm64
# libraries in /usr/lib/aarch64-linux-gnu and the loader in /lib, so the "sysroot" is / itself:
# the kernels-only file (aarch64-linux-gnu.cmake) roots every search in /usr/aarch64-linux-gnu,
# where none of these libraries are. Tests run under qemu-aarch64 -L /; QEMU_CPU picks the CPU.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# find_library/find_path look in lib/aarch64-linux-gnu under / (CMAKE_LIBRARY_ARCHITECTURE, from
# the compiler) and never in the amd64 directories; programs (pkg-config, qemu) are the host's.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config must read the arm64 .pc files only (the amd64 ones would hand out x86 libraries);
# set here, so every re-configure of this build gets it too, whatever the calling shell has
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
unset(ENV{PKG_CONFIG_PATH})
unset(ENV{PKG_CONFIG_SYSROOT_DIR})
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
