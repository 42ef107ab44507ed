/* Element-wise activations (scalar reference). */
#include "kernels/kernels-impl.h"

#include <math.h>

void reeli_cpu_unary(reel_unary op, float *y, const float *x, int64_t n)
{
    switch (op) {
    case REEL_UNARY_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case REEL_UNARY_RELU2:
        for (int64_t i = 0; i < n; i++) {
            float v = x[i] > 0 ? x[i] : 0;
            y[i] = v * v;
        }
        break;
    case REEL_UNARY_SOFTPLUS: /* threshold 20 as in torch, the mamba kernels and ggml */
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 20.0f ? x[i] : log1pf(expf(x[i]));
        break;
    }
}
