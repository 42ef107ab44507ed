/* AVX-VNNI on x86-64 CPUs that lack it, for tests: a SIGILL handler that runs the VEX-encoded
 * integer dot products (vpdpbusd, vpdpbusds, vpdpwssd, vpdpwssds on xmm / ymm registers, with
 * register or memory operands) from the registers and memory of the signal frame, writes the
 * result back and steps past the instruction. Every other instruction is left to fault: the
 * handler prints it and the process dies of SIGILL, as it would have without the handler.
 *
 * It lets the AVX-VNNI kernels (kernels/cpu/x86/gemm-interleaved-avxvnni.c) run, as compiled,
 * on this project's AVX2 and AVX-512 machines, none of which has AVX-VNNI; a trap costs some
 * microseconds, so only small shapes are practical. */
#ifndef REEL_TESTS_X86_VNNI_TRAP_H
#define REEL_TESTS_X86_VNNI_TRAP_H

/* Installs the handler (process-wide): 0, or -1 with the reason on stderr where it cannot work
 * (not x86-64 Linux, or a signal frame without the AVX state). */
int tu_vnni_trap_install(void);
/* Instructions the handler has run since it was installed (all threads). */
unsigned long tu_vnni_trap_count(void);

#endif
