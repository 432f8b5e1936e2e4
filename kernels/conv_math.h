/* conv_math.h - the arithmetic of the GPU's own convolutions, written once
 * for both compilers: the kernels of dwconv.cu and pwconv.cu run these
 * functions, and tests/test_nn.c runs them on the CPU over every index (in
 * the kernels' order of sums) and holds them to the CPU backend's
 * convolutions, so the arithmetic is checked even where there is no GPU
 * (a GPU repeats the check on the kernels themselves in test_cuda).
 *
 * Depthwise: the K x K half of the NASNet space's separable convolutions:
 * square K in {3, 5, 7}, one filter per channel (groups = channels in =
 * channels out), stride and dilation equal in both directions, any
 * padding, the input possibly read through ReLU.  A plane is one channel
 * of one image, h x w floats, rows contiguous.
 *
 * Pointwise: 1x1 convolutions (groups 1, no padding), stride s in both
 * directions, the input origin shifted by (oy, ox) (the factorized
 * reduce's second path), the input possibly read through ReLU. */
#ifndef CELLAR_KERNELS_CONV_MATH_H
#define CELLAR_KERNELS_CONV_MATH_H

#include "backend/backend.h"

#ifdef __CUDACC__
#define DW_FN static __host__ __device__ __forceinline__
#else
#define DW_FN static inline
#endif

/* the convolutions these functions (and dwconv.cu) compute */
DW_FN int dw_handles(const conv_desc *d)
{
    return d->groups > 1 && d->groups == d->cin && d->cin == d->cout && d->kh == d->kw &&
           (d->kh == 3 || d->kh == 5 || d->kh == 7) && d->sh == d->sw && d->sh >= 1 &&
           d->dh == d->dw && d->dh >= 1 && d->ph == d->pw && d->ph >= 0 && d->oy == 0 &&
           d->ox == 0;
}

DW_FN float dw_relu(float v, int relu) { return relu && !(v > 0.f) ? 0.f : v; }

/* y[oy][ox] = sum over the taps inside the plane of w[ky][kx] *
 * relu?(x[oy*s - p + ky*d][ox*s - p + kx*d]) */
DW_FN float dw_fwd_at(const float *x, const float *w, int h, int wd, int k, int s, int p, int d,
                      int relu, int oy, int ox)
{
    int y0 = oy * s - p, x0 = ox * s - p;
    float a = 0.f;
    for (int ky = 0; ky < k; ky++) {
        int iy = y0 + ky * d;
        if (iy < 0 || iy >= h)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = x0 + kx * d;
            if (ix >= 0 && ix < wd)
                a += w[ky * k + kx] * dw_relu(x[iy * wd + ix], relu);
        }
    }
    return a;
}

/* The gradient reaching input (iy, ix) from the output gradient g (ho x
 * wo): the sum of g[oy][ox] * w[ky][kx] over the taps with
 * oy*s - p + ky*d = iy and ox*s - p + kx*d = ix (gathered, so no two
 * threads write one value).  The caller masks it by x > 0 under ReLU. */
DW_FN float dw_data_at(const float *g, const float *w, int ho, int wo, int k, int s, int p, int d,
                       int iy, int ix)
{
    float a = 0.f;
    for (int ky = 0; ky < k; ky++) {
        int ty = iy + p - ky * d, oy = ty / s;
        if (ty < 0)
            break;   /* ty only falls as ky grows */
        if (oy * s != ty || oy >= ho)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int tx = ix + p - kx * d, ox = tx / s;
            if (tx < 0)
                break;
            if (ox * s == tx && ox < wo)
                a += g[oy * wo + ox] * w[ky * k + kx];
        }
    }
    return a;
}

/* acc[ky*k + kx] += gv * relu?(x at tap (ky, kx) of output (oy, ox)): one
 * output position's share of the filter gradient, gv its gradient */
DW_FN void dw_filter_add(const float *x, int h, int wd, int k, int s, int p, int d, int relu,
                         int oy, int ox, float gv, float *acc)
{
    int y0 = oy * s - p, x0 = ox * s - p;
    for (int ky = 0; ky < k; ky++) {
        int iy = y0 + ky * d;
        if (iy < 0 || iy >= h)
            continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = x0 + kx * d;
            if (ix >= 0 && ix < wd)
                acc[ky * k + kx] += gv * dw_relu(x[iy * wd + ix], relu);
        }
    }
}

/* How many parts the filter gradient's sum over the batch is split into,
 * for c channels, a batch of n and a device of `sms` multiprocessors: one
 * block per (channel, part), about two blocks per multiprocessor, each
 * part at least one image.  The parts are then added in a fixed order. */
DW_FN int dw_filter_splits(int c, int n, int sms)
{
    int want = sms > 0 ? 2 * sms : 1, sp = (want + c - 1) / (c > 0 ? c : 1);
    if (sp > n)
        sp = n;
    return sp < 1 ? 1 : sp;
}

/* ---- pointwise ---- */

DW_FN int pw_handles(const conv_desc *d)
{
    return d->groups == 1 && d->kh == 1 && d->kw == 1 && d->sh == d->sw && d->sh >= 1 &&
           d->ph == 0 && d->pw == 0 && d->oy >= 0 && d->ox >= 0;
}

/* where in an input plane of width w the output pixel of row r and column
 * c reads */
DW_FN int pw_src_rc(int r, int c, int w, int s, int oy, int ox)
{
    return (oy + r * s) * w + ox + c * s;
}

/* the same for output pixel p of an ho x wo plane */
DW_FN int pw_src(int p, int wo, int w, int s, int oy, int ox)
{
    int r = p / wo;
    return pw_src_rc(r, p - r * wo, w, s, oy, ox);
}

/* the output pixel input (iy, ix) feeds, or -1 when it feeds none */
DW_FN int pw_dst(int iy, int ix, int ho, int wo, int s, int oy, int ox)
{
    int ty = iy - oy, tx = ix - ox, r, c;
    if (ty < 0 || tx < 0)
        return -1;
    r = ty / s;
    c = tx / s;
    return r * s == ty && c * s == tx && r < ho && c < wo ? r * wo + c : -1;
}

/* Launch shapes of pwconv.cu that decide the order of its sums.
 * Forward and data gradient: one thread per pixel and PW_CH output (or
 * input) channels, the other side's channels summed in order.  Filter
 * gradient: the n*ho*wo output pixels cut into `parts` ranges, each
 * range into chunks of PW_FK pixels and each chunk into PW_FG slices;
 * a range's sum is that of slice 0 of every chunk in pixel order, plus
 * that of slice 1, and so on; the ranges are then added in order. */
#define PW_CH 32
#define PW_FK 32   /* pixels of a filter-gradient chunk */
#define PW_FG 4    /* its slices (of PW_FK / PW_FG pixels) */

/* the channels a forward (output side, c = cout) or data-gradient (input
 * side, c = cin) thread keeps sums of: 16 where that side has 16 or
 * fewer (the proxy's cell inputs 80 -> 16 would otherwise sum 16 zero
 * weights for every input value), else PW_CH */
DW_FN int pw_group(int c) { return c <= 16 ? 16 : PW_CH; }

/* the edge of the filter gradient's tiles: 16 where both channel counts
 * are 16 or fewer, else 32 */
DW_FN int pw_filter_tile(int cout, int cin)
{
    return cout <= 16 && cin <= 16 ? 16 : 32;
}

/* parts of the filter gradient's sum over n*ho*wo pixels, for a cout x
 * cin filter on `sms` multiprocessors: about as many threads as four
 * blocks of 256 per multiprocessor over the tiles of the filter, each
 * part at least 512 pixels for 32 x 32 tiles (256 threads), 128 for
 * 16 x 16 ones (64 threads), so that a part has at least two pixels for
 * each of its threads either way */
DW_FN int pw_filter_parts(int cout, int cin, long pixels, int sms)
{
    int t = pw_filter_tile(cout, cin), k = (32 / t) * (32 / t);
    long tiles = (long)((cout + t - 1) / t) * ((cin + t - 1) / t);
    long want = 4L * k * (sms > 0 ? sms : 1), p = (want + tiles - 1) / tiles;
    if (p > pixels / (512 / k))
        p = pixels / (512 / k);
    if (p > 65535)
        p = 65535;
    return p < 1 ? 1 : (int)p;
}

#endif
