/* pool.cu - max and average pooling with the CPU backend's semantics
 * (pool_cpu.c): square windows clipped to the image, max ignoring the
 * padding, average dividing by the cells inside the image, the output
 * scaled per image (drop-path) and written or added.
 *
 * Backward gathers instead of scattering, so no atomics and a fixed order
 * of sums: each input value adds up the outputs whose windows hold it.
 * For max pooling a first kernel records each window's arg-max (the first
 * maximum in scan order, as the CPU and PyTorch take it) in a scratch
 * buffer, since the forward may have added into a shared output and left
 * nothing to compare against.
 *
 * The kernels are templates on the window K and stride S (KS = K*10 + S),
 * so that the common 3x3 pools (stride 1 or 2) divide by constants, and
 * the index of a value splits into channel, row and column by
 * kernels/fastdiv.h: otherwise the backward's six integer divisions a
 * value (some twenty instructions each) outweighed its memory traffic.
 * Other windows take KS = 0: k and s as passed. */
#include <float.h>

#include "common.cuh"
#include "fastdiv.h"

/* first and last+1 input rows of output row o's window, clipped */
static __device__ __forceinline__ void window(int o, int k, int s, int p, int n, int *lo, int *hi)
{
    int a = o * s - p, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n ? n : b;
}

template <int KS>   /* K*10 + S: one parameter, so a launch macro takes it */
static __global__ void pool_fwd_k(int max, int kr, int sr, int p, tview x, tview y, int acc,
                                  const float *sscale, k_div dplane, k_div drow)
{
    const int k = KS ? KS / 10 : kr, s = KS ? KS % 10 : sr;
    int hw = x.h * x.w, howo = y.h * y.w, per = y.c * howo;
    FOR_IMAGES(img, x.n)
    {
        float sc = sscale ? sscale[img] : 1.f;
        const float *xi = x.d + (long)img * x.ns;
        float *yi = y.d + (long)img * y.ns;
        if (acc && sc == 0.f)
            continue;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j), r = j - c * howo, oy = k_div_q(drow, r), ox = r - oy * y.w;
            int y0, y1, x0, x1;
            const float *xp = xi + (long)c * hw;
            float v;
            window(oy, k, s, p, x.h, &y0, &y1);
            window(ox, k, s, p, x.w, &x0, &x1);
            if (max) {
                v = -FLT_MAX;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        v = xp[iy * x.w + ix] > v ? xp[iy * x.w + ix] : v;
            } else {
                v = 0.f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        v += xp[iy * x.w + ix];
                v /= (float)((y1 - y0) * (x1 - x0));
            }
            yi[j] = acc ? yi[j] + sc * v : sc * v;
        }
    }
}

/* launch(KS): the kernel for window k and stride s */
#define POOL_DISPATCH(k, s, launch) \
    if ((k) == 3 && (s) == 1)       \
        launch(31);                 \
    else if ((k) == 3 && (s) == 2)  \
        launch(32);                 \
    else                            \
        launch(0)

cudaError_t k_pool_fwd(cudaStream_t st, int max, int k, int s, int p, tview x, tview y, int acc,
                       const float *sscale)
{
    dim3 g = k_grid2((long)y.c * y.h * y.w, x.n);
    k_div dp = k_div_make(y.h * y.w), dr = k_div_make(y.w);
#define FWD(KS) \
    K_LAUNCH(pool_fwd_k<KS>, g, K_THREADS, st)(max, k, s, p, x, y, acc, sscale, dp, dr)
    POOL_DISPATCH(k, s, FWD);
#undef FWD
    return cudaGetLastError();
}

/* idx[img][c][oy][ox] = iy*w + ix of the window's first maximum */
template <int KS>   /* K*10 + S: one parameter, so a launch macro takes it */
static __global__ void pool_argmax_k(int kr, int sr, int p, tview x, int ho, int wo, int *idx,
                                     k_div dplane, k_div drow)
{
    const int k = KS ? KS / 10 : kr, s = KS ? KS % 10 : sr;
    int hw = x.h * x.w, howo = ho * wo, per = x.c * howo;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns;
        int *ii = idx + (long)img * per;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j), r = j - c * howo, oy = k_div_q(drow, r), ox = r - oy * wo;
            int y0, y1, x0, x1, at;
            const float *xp = xi + (long)c * hw;
            window(oy, k, s, p, x.h, &y0, &y1);
            window(ox, k, s, p, x.w, &x0, &x1);
            at = y0 * x.w + x0;
            for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++)
                    if (xp[iy * x.w + ix] > xp[at])
                        at = iy * x.w + ix;
            ii[j] = at;
        }
    }
}

template <int KS>   /* K*10 + S: one parameter, so a launch macro takes it */
static __global__ void pool_bwd_k(int max, int kr, int sr, int p, tview dy, tview dx, int acc,
                                  const float *sscale, const int *idx, k_div dplane, k_div drow)
{
    const int k = KS ? KS / 10 : kr, s = KS ? KS % 10 : sr;
    int hw = dx.h * dx.w, howo = dy.h * dy.w, per = dx.c * hw;
    FOR_IMAGES(img, dx.n)
    {
        float sc = sscale ? sscale[img] : 1.f;
        const float *gi = dy.d + (long)img * dy.ns;
        const int *ii = idx ? idx + (long)img * dy.c * howo : NULL;
        float *di = dx.d + (long)img * dx.ns;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j), r = j - c * hw, iy = k_div_q(drow, r), ix = r - iy * dx.w;
            /* outputs o with o*s - p <= i < o*s - p + k */
            int ty = iy + p - k + 1, tx = ix + p - k + 1;
            int oy0 = ty <= 0 ? 0 : (ty + s - 1) / s, oy1 = (iy + p) / s;
            int ox0 = tx <= 0 ? 0 : (tx + s - 1) / s, ox1 = (ix + p) / s;
            const float *g = gi + (long)c * howo;
            float v = 0.f;
            if (sc == 0.f) {
                if (!acc)
                    di[j] = 0.f;
                continue;
            }
            if (oy1 > dy.h - 1)
                oy1 = dy.h - 1;
            if (ox1 > dy.w - 1)
                ox1 = dy.w - 1;
            for (int oy = oy0; oy <= oy1; oy++)
                for (int ox = ox0; ox <= ox1; ox++) {
                    int o = oy * dy.w + ox;
                    if (max) {
                        if (ii[(long)c * howo + o] == r)
                            v += sc * g[o];
                    } else {
                        int y0, y1, x0, x1;
                        window(oy, k, s, p, dx.h, &y0, &y1);
                        window(ox, k, s, p, dx.w, &x0, &x1);
                        v += sc * g[o] / (float)((y1 - y0) * (x1 - x0));
                    }
                }
            di[j] = acc ? di[j] + v : v;
        }
    }
}

cudaError_t k_pool_bwd(cudaStream_t st, int max, int k, int s, int p, tview x, tview dy, tview dx,
                       int acc, const float *sscale, int *idx)
{
    cudaError_t e;
    dim3 ga = k_grid2((long)x.c * dy.h * dy.w, x.n), gb = k_grid2((long)dx.c * dx.h * dx.w, dx.n);
    /* outputs' and inputs' planes and rows */
    k_div dpo = k_div_make(dy.h * dy.w), dro = k_div_make(dy.w);
    k_div dpi = k_div_make(dx.h * dx.w), dri = k_div_make(dx.w);
    if (max) {
        if (!idx)
            return cudaErrorInvalidValue;
#define ARGMAX(KS) \
    K_LAUNCH(pool_argmax_k<KS>, ga, K_THREADS, st)(k, s, p, x, dy.h, dy.w, idx, dpo, dro)
        POOL_DISPATCH(k, s, ARGMAX);
#undef ARGMAX
        if ((e = cudaGetLastError()) != cudaSuccess)
            return e;
    }
#define BWD(KS) \
    K_LAUNCH(pool_bwd_k<KS>, gb, K_THREADS, st)(max, k, s, p, dy, dx, acc, sscale, idx, dpi, dri)
    POOL_DISPATCH(k, s, BWD);
#undef BWD
    return cudaGetLastError();
}
