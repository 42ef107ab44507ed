/* The row-major Q8_0 / Q4_0 / Q5_0 integer-dot body (dot-rowmajor-body.h) with SDOT (Armv8.2
 * dotprod: four int8 products summed into each int32 lane in one instruction), compiled for that
 * level by target attribute and called only when AT_HWCAP says the CPU has it (kernels/cpu/cpu.c).
 */
#include "kernels/kernels-impl.h"

#include <arm_neon.h>

#define REELI_ARM_ATTR __attribute__((target("arch=armv8.2-a+dotprod")))

REELI_ARM_ATTR static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a)
{
    return vdotq_s32(acc, w, a);
}

#define REELI_ARM_FN reeli_neon_qrows_dotprod
#include "dot-rowmajor-body.h"
#define REELI_ARM_KFN reeli_neon_kqrows_dotprod
#include "dot-kquant-body.h"
