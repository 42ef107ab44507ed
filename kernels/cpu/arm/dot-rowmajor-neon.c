/* The row-major Q8_0 / Q4_0 / Q5_0 integer-dot body (dot-rowmajor-body.h) in plain ASIMD, which
 * every ARM64 CPU has: the 16 products of int8 pairs widened to int16 (SMULL, exact: |w a| <= 2^14)
 * and added pairwise into the int32 lanes (SADALP). */
#include "kernels/kernels-impl.h"

#include <arm_neon.h>

static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t a)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w), vget_low_s8(a)));
    return vpadalq_s16(acc, vmull_high_s8(w, a));
}

#define REELI_ARM_FN reeli_neon_qrows
#define REELI_ARM_ATTR
#include "dot-rowmajor-body.h"
#define REELI_ARM_KFN reeli_neon_kqrows
#include "dot-kquant-body.h"
