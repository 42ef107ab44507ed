/* RMSNorm and the gated grouped RMSNorm of the Mamba-2 mixer (scalar reference). Statistics are
 * accumulated in double: cheap next to the matmuls and closer to the exact value. */
#include "kernels/kernels-impl.h"

#include <math.h>

void reeli_cpu_rmsnorm(float *y, const float *x, const float *w, int64_t n, int64_t T, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * n;
        float *yr = y + t * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

void reeli_cpu_gated_rmsnorm(float *y, int64_t y_stride, const float *x, int64_t x_stride,
                             const float *z, int64_t z_stride, const float *w, int64_t n,
                             int64_t gs, int64_t T, float eps)
{
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * x_stride, *zr = z + t * z_stride;
        float *yr = y + t * y_stride;
        for (int64_t g0 = 0; g0 < n; g0 += gs) {
            double ss = 0;
            for (int64_t i = g0; i < g0 + gs; i++) {
                float v = xr[i] * (zr[i] / (1.0f + expf(-zr[i])));
                yr[i] = v;
                ss += (double)v * v;
            }
            float inv = (float)(1.0 / sqrt(ss / (double)gs + eps));
            for (int64_t i = g0; i < g0 + gs; i++) yr[i] = w[i] * (yr[i] * inv);
        }
    }
}
