/* CPU feature detection for run-time kernel dispatch. */
#include "kernels/kernels-impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
/* bits of AT_HWCAP / AT_HWCAP2 (Linux arch/arm64 uapi hwcap.h), for C libraries without them */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1ul << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1ul << 13)
#endif
#endif

static reel_cpu_features features;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void detect(void)
{
    const char *force = getenv("REEL_CPU");
    /* scalar-q8: the scalar table with the integer-dot reference matmul (ops.c), for tests */
    if (force && (strcmp(force, "scalar") == 0 || strcmp(force, "scalar-q8") == 0)) return;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    features.sse42 = __builtin_cpu_supports("sse4.2");
    features.avx = __builtin_cpu_supports("avx");
    features.avx2 = __builtin_cpu_supports("avx2");
    features.fma = __builtin_cpu_supports("fma");
    features.avx512f = __builtin_cpu_supports("avx512f");
    features.avx512bw = __builtin_cpu_supports("avx512bw");
    features.avx512vl = __builtin_cpu_supports("avx512vl");
    features.avx512vnni = __builtin_cpu_supports("avx512vnni");
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) features.f16c = features.avx && (c & (1u << 29)) != 0;
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        features.avxvnni = features.avx2 && (a & (1u << 4)) != 0;
        features.avx512bf16 = features.avx512f && (a & (1u << 5)) != 0;
    }
    /* a lower level on a newer CPU: AVX2 alone, or AVX2 with AVX-VNNI (where the CPU has it) */
    if (force && (strcmp(force, "avx2") == 0 || strcmp(force, "avxvnni") == 0))
        features.avx512f = features.avx512bw = features.avx512vl = features.avx512vnni =
            features.avx512bf16 = 0;
    if (force && strcmp(force, "avx2") == 0) features.avxvnni = 0;
#elif defined(__aarch64__)
    const unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    features.neon = (hw & HWCAP_ASIMD) != 0;
    features.fp16 = features.neon && (hw & HWCAP_ASIMDHP) != 0;
    features.dotprod = features.neon && (hw & HWCAP_ASIMDDP) != 0;
    features.i8mm = features.neon && (hw2 & HWCAP2_I8MM) != 0;
    /* a lower level on a newer CPU, to run (and test) its kernels there */
    if (force && strcmp(force, "neon") == 0) features.fp16 = features.dotprod = features.i8mm = 0;
    if (force && strcmp(force, "dotprod") == 0) features.i8mm = 0;
#endif
}

int reeli_x86_isa(const reel_cpu_features *f)
{
    return f->avx512vnni && f->avx512vl ? REELI_X86_AVX512VNNI
           : f->avxvnni                 ? REELI_X86_AVXVNNI
                                        : REELI_X86_AVX2;
}

const reel_cpu_features *reel_kernels_cpu(void)
{
    pthread_once(&once, detect);
    return &features;
}

void reel_kernels_cpu_describe(char *buf, size_t size)
{
    const reel_cpu_features *f = reel_kernels_cpu();
    struct {
        int on;
        const char *name;
    } list[] = {
        {f->sse42, "sse4.2"},
        {f->avx, "avx"},
        {f->avx2, "avx2"},
        {f->fma, "fma"},
        {f->f16c, "f16c"},
        {f->avxvnni, "avx-vnni"},
        {f->avx512f, "avx512f"},
        {f->avx512bw, "avx512bw"},
        {f->avx512vl, "avx512vl"},
        {f->avx512vnni, "avx512vnni"},
        {f->avx512bf16, "avx512bf16"},
        {f->neon, "neon"},
        {f->fp16, "fp16"},
        {f->dotprod, "dotprod"},
        {f->i8mm, "i8mm"},
    };
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on) continue;
        int k = snprintf(buf + n, size - n, "%s%s", n ? " " : "", list[i].name);
        if (k < 0 || (size_t)k >= size - n) break;
        n += (size_t)k;
    }
    if (n == 0) snprintf(buf, size, "none (scalar kernels)");
}
