/* AVX-VNNI's VEX dot products run by a SIGILL handler (x86_vnni_trap.h).
 *
 * The instructions: VEX.128/256.66.0F38.W0 50 /r vpdpbusd, 51 vpdpbusds, 52 vpdpwssd,
 * 53 vpdpwssds; reg (with VEX.R) is the accumulator and destination, VEX.vvvv the first source
 * (bytes taken unsigned, or words), r/m (with VEX.B, or a memory operand) the second (bytes
 * taken signed, or words). The 128-bit form zeroes the destination's bits 128 and up, as every
 * VEX instruction does.
 *
 * The registers: Linux's signal frame holds the general registers in uc_mcontext.gregs and the
 * vector state as an XSAVE image in standard (non-compacted) form behind uc_mcontext.fpregs: the
 * low 128 bits of xmm0-15 in its legacy area at byte 160, the upper 128 bits of ymm0-15 in the
 * YMM_Hi128 component and those of zmm0-15 in ZMM_Hi256 (offsets from CPUID leaf 0xD). A
 * component whose XSTATE_BV bit is clear is in its initial state (zeros) and the kernel restores
 * it as zeros whatever the image holds, so a write sets the bit (after zeroing the component). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* REG_RIP and the other gregs indices */
#endif
#include "x86_vnni_trap.h"

#include <stdio.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

enum {
    FX_XMM = 160,         /* xmm0-15 in the legacy area */
    FX_SW = 464,          /* struct _fpx_sw_bytes: magic1, extended_size, xfeatures, ... */
    XSAVE_BV = 512,       /* the XSAVE header's XSTATE_BV */
    MAGIC1 = 0x46505853u, /* "FPXS": the frame has an XSAVE image */
    BV_SSE = 1u << 1,     /* XSTATE_BV bits: xmm */
    BV_AVX = 1u << 2,     /* ymm upper halves */
    BV_ZMM_HI = 1u << 6,  /* zmm0-15 upper halves */
};

static atomic_ulong trapped;
static unsigned off_ymmh, off_zmmh; /* image offsets of YMM_Hi128 and ZMM_Hi256 (0: absent) */

static const int gpr[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                            REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

typedef struct {
    uint8_t *img;      /* the XSAVE image */
    uint64_t features; /* components the image holds */
} frame;

static uint64_t bv(const frame *f)
{
    uint64_t v;
    memcpy(&v, f->img + XSAVE_BV, 8);
    return v;
}

static void set_bv(frame *f, uint64_t bit, unsigned off, size_t bytes)
{
    uint64_t v = bv(f);
    if (v & bit) return;
    memset(f->img + off, 0, bytes);
    v |= bit;
    memcpy(f->img + XSAVE_BV, &v, 8);
}

/* ymm register r (0-15) into out */
static void get_ymm(const frame *f, int r, uint8_t out[32])
{
    memset(out, 0, 32);
    if (bv(f) & BV_SSE) memcpy(out, f->img + FX_XMM + 16 * r, 16);
    if (bv(f) & BV_AVX) memcpy(out + 16, f->img + off_ymmh + 16 * r, 16);
}

/* a VEX write of ymm register r: the upper half too, and the zmm bits above it zeroed */
static void put_ymm(frame *f, int r, const uint8_t in[32])
{
    set_bv(f, BV_SSE, FX_XMM, 256);
    set_bv(f, BV_AVX, off_ymmh, 256);
    memcpy(f->img + FX_XMM + 16 * r, in, 16);
    memcpy(f->img + off_ymmh + 16 * r, in + 16, 16);
    if (off_zmmh && (f->features & BV_ZMM_HI) && (bv(f) & BV_ZMM_HI))
        memset(f->img + off_zmmh + 32 * r, 0, 32);
}

/* The dword lanes of the four instructions: acc + the products of the lane's 4 bytes (u8 x s8)
 * or 2 words (s16 x s16), wrapped or saturated. */
static int32_t lane(int op, int32_t acc, const uint8_t *a, const uint8_t *b)
{
    int64_t s = acc;
    if (op <= 0x51) {
        for (int k = 0; k < 4; k++) s += (int64_t)a[k] * (int8_t)b[k];
    } else {
        for (int k = 0; k < 2; k++) {
            int16_t x, y;
            memcpy(&x, a + 2 * k, 2);
            memcpy(&y, b + 2 * k, 2);
            s += (int64_t)x * y;
        }
    }
    if (op & 1) return s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
    return (int32_t)(uint32_t)(uint64_t)s;
}

/* Runs the instruction at the trapped RIP if it is one of the four: its length, else 0. */
static size_t run(ucontext_t *uc, frame *f)
{
    const uint8_t *ip = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
    if (ip[0] != 0xC4) return 0; /* the three-byte VEX prefix: map 0F38 needs it */
    const uint8_t b1 = ip[1], b2 = ip[2], op = ip[3], m = ip[4];
    if ((b1 & 0x1f) != 2 || (b2 & 3) != 1 || (b2 & 0x80) || op < 0x50 || op > 0x53) return 0;
    const int R = b1 & 0x80 ? 0 : 8, X = b1 & 0x40 ? 0 : 8, B = b1 & 0x20 ? 0 : 8;
    const int L = (b2 >> 2) & 1, vvvv = (~b2 >> 3) & 15;
    const int mod = m >> 6, reg = ((m >> 3) & 7) | R, rm = m & 7;
    size_t n = 5;
    uint8_t d[32], a[32], b[32] = {0};
    if (mod == 3) {
        get_ymm(f, rm | B, b);
    } else {
        const greg_t *g = uc->uc_mcontext.gregs;
        uint64_t addr = 0;
        int disp32 = mod == 2, rip = 0;
        if (rm == 4) { /* SIB; index 100 without VEX.X is none, base 101 with mod 00 is none */
            const uint8_t sib = ip[n++];
            const int index = ((sib >> 3) & 7) | X, base = sib & 7;
            if (index != 4) addr += (uint64_t)g[gpr[index]] << (sib >> 6);
            if (base == 5 && mod == 0)
                disp32 = 1;
            else
                addr += (uint64_t)g[gpr[base | B]];
        } else if (rm == 5 && mod == 0) { /* RIP-relative, whatever VEX.B says */
            rip = disp32 = 1;
        } else {
            addr += (uint64_t)g[gpr[rm | B]];
        }
        if (mod == 1) {
            addr += (uint64_t)(int64_t)(int8_t)ip[n];
            n += 1;
        } else if (disp32) {
            int32_t v;
            memcpy(&v, ip + n, 4);
            addr += (uint64_t)(int64_t)v;
            n += 4;
        }
        if (rip) addr += (uint64_t)(uintptr_t)(ip + n);
        memcpy(b, (const void *)(uintptr_t)addr, L ? 32 : 16);
    }
    get_ymm(f, reg, d);
    get_ymm(f, vvvv, a);
    for (int i = 0; i < (L ? 8 : 4); i++) {
        int32_t acc;
        memcpy(&acc, d + 4 * i, 4);
        acc = lane(op, acc, a + 4 * i, b + 4 * i);
        memcpy(d + 4 * i, &acc, 4);
    }
    if (!L) memset(d + 16, 0, 16);
    put_ymm(f, reg, d);
    return n;
}

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void on_sigill(int sig, siginfo_t *si, void *ctx)
{
    (void)sig, (void)si;
    ucontext_t *uc = ctx;
    frame f = {.img = (uint8_t *)uc->uc_mcontext.fpregs};
    uint32_t magic = 0;
    if (f.img) memcpy(&magic, f.img + FX_SW, 4);
    if (magic == MAGIC1) memcpy(&f.features, f.img + FX_SW + 8, 8);
    size_t n = 0;
    if (!(f.features & BV_AVX))
        say("x86_vnni_trap: the signal frame holds no AVX state\n");
    else
        n = run(uc, &f);
    if (n) {
        uc->uc_mcontext.gregs[REG_RIP] += (greg_t)n;
        atomic_fetch_add(&trapped, 1);
        return;
    }
    /* not ours: fault again, with the default action */
    const uint8_t *ip = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
    char msg[96], *p = msg;
    const char *hex = "0123456789abcdef";
    memcpy(p, "x86_vnni_trap: illegal instruction, bytes", 41), p += 41;
    for (int i = 0; i < 8; i++) *p++ = ' ', *p++ = hex[ip[i] >> 4], *p++ = hex[ip[i] & 15];
    *p++ = '\n', *p = '\0';
    say(msg);
    signal(SIGILL, SIG_DFL);
}

int tu_vnni_trap_install(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid_count(0xd, 2, &a, &b, &c, &d) || a != 256 || b == 0) {
        fprintf(stderr, "x86_vnni_trap: CPUID reports no AVX state in XSAVE\n");
        return -1;
    }
    off_ymmh = b;
    if (__get_cpuid_count(0xd, 6, &a, &b, &c, &d) && a == 512) off_zmmh = b;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigill;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGILL, &sa, NULL) != 0) {
        perror("x86_vnni_trap: sigaction");
        return -1;
    }
    return 0;
}

unsigned long tu_vnni_trap_count(void)
{
    return atomic_load(&trapped);
}

#else
int tu_vnni_trap_install(void)
{
    fprintf(stderr, "x86_vnni_trap: x86-64 Linux only\n");
    return -1;
}

unsigned long tu_vnni_trap_count(void)
{
    return 0;
}
#endif
