/* dwtile.cuh - the pieces of the depthwise tiles (planes in shared memory,
 * a strip of outputs a thread) that dwconv.cu's tiled kernels and
 * sepconv.cu's depthwise stage share: the copy of a plane's row into a
 * tile, a filter row's span into registers, the shapes they take and the
 * launch for each (taps, stride, dilation). */
#ifndef CELLAR_KERNELS_DWTILE_CUH
#define CELLAR_KERNELS_DWTILE_CUH

#include <cuda_pipeline_primitives.h>

#include "common.cuh"
#include "conv_math.h"

/* Tile row t (tw floats, the warp's lanes across it) from row iy of an
 * h x w plane, read through ReLU when relu, zero outside the plane (the
 * tile's column tx is the plane's column tx - pad).  up = 2: of the plane
 * spread out with a zero between neighbours, rows and columns (row iy is
 * the plane's row iy / 2 when iy is even, else zeros). */
static __device__ __forceinline__ void dwt_copy_row(float *t, const float *plane, int iy, int h,
                                                    int w, int tw, int pad, int relu, int up)
{
    if (up == 1) {
        const float *xr = plane + (long)iy * w;
        int inside = iy >= 0 && iy < h;
        for (int tx = (int)(threadIdx.x & 31); tx < tw; tx += 32) {
            int ix = tx - pad;
            t[tx] = inside && ix >= 0 && ix < w ? dw_relu(xr[ix], relu) : 0.f;
        }
    } else {
        const float *xr = plane + (long)(iy >> 1) * w;
        int inside = iy >= 0 && !(iy & 1) && (iy >> 1) < h;
        for (int tx = (int)(threadIdx.x & 31); tx < tw; tx += 32) {
            int ix = tx - pad;
            t[tx] = inside && ix >= 0 && !(ix & 1) && (ix >> 1) < w ? dw_relu(xr[ix >> 1], relu)
                                                                   : 0.f;
        }
    }
}

/* dwt_copy_row (up 1) of a plane read through a batch norm's scale and
 * shift first: relu?(fmaf(a, x, b)), zero outside the plane (the padding
 * is the batch norm's output's) */
static __device__ __forceinline__ void dwt_copy_row_bn(float *t, const float *plane, int iy,
                                                       int h, int w, int tw, int pad, int relu,
                                                       float a, float b)
{
    const float *xr = plane + (long)iy * w;
    int inside = iy >= 0 && iy < h;
    for (int tx = (int)(threadIdx.x & 31); tx < tw; tx += 32) {
        int ix = tx - pad;
        t[tx] = inside && ix >= 0 && ix < w ? dw_relu(fmaf(a, xr[ix], b), relu) : 0.f;
    }
}

/* dwt_copy_tiles' values of the planes put through a batch norm's scale
 * and shift, then ReLU when relu (the padding left zero) */
static __device__ __forceinline__ void dwt_bn_tiles(float *t, int per, int cc, int th, int tw,
                                               int iy0, int h, int w, int pad, int relu,
                                               const float *sa, const float *sb)
{
    int lane = (int)(threadIdx.x & 31), warp = (int)(threadIdx.x >> 5);
    int nw = (int)(blockDim.x >> 5);
    for (int row = warp; row < cc * th; row += nw) {
        int i = row / th, ty = row - i * th, iy = iy0 + ty;
        float *tr = t + i * per + ty * tw, a = sa[i], b = sb[i];
        if (iy < 0 || iy >= h)
            continue;
        for (int tx = lane; tx < tw; tx += 32) {
            int ix = tx - pad;
            if (ix >= 0 && ix < w)
                tr[tx] = dw_relu(fmaf(a, tr[tx], b), relu);
        }
    }
}

/* cc tiles of th x tw (tile i at t + i * per, per = th * tw) from rows
 * iy0.. of cc h x w planes (plane i at planes + i * ps), read through
 * ReLU when relu (with sa, else NULL: through a batch norm's scale and
 * shift first, relu?(fmaf(sa[i], x, sb[i])), as dwt_copy_row_bn), zero
 * outside the planes (the tile's column tx is the plane's column tx -
 * pad): a warp to a row, as dwt_copy_row, but each
 * value an asynchronous copy (cp.async: global to shared memory without
 * passing through registers), so that a warp starts its rows' copies one
 * after another and then waits once for all, before putting its own
 * values through ReLU.  Loading and storing, a lane had one or two loads
 * in flight and waited for each row: at 8x8 planes (rows of 12) a block
 * waited on memory a dozen times a trip.  The caller's barrier after it
 * makes the tiles whole for the block. */
static __device__ __forceinline__ void dwt_copy_tiles(float *t, int per, const float *planes,
                                                      long ps, int cc, int th, int tw, int iy0,
                                                      int h, int w, int pad, int relu,
                                                      const float *sa, const float *sb)
{
    int lane = (int)(threadIdx.x & 31), warp = (int)(threadIdx.x >> 5);
    int nw = (int)(blockDim.x >> 5);
    for (int row = warp; row < cc * th; row += nw) {
        int i = row / th, ty = row - i * th, iy = iy0 + ty;
        float *tr = t + i * per + ty * tw;
        const float *xr = planes + i * ps + (long)iy * w;
        for (int tx = lane; tx < tw; tx += 32) {
            int ix = tx - pad;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                __pipeline_memcpy_async(tr + tx, xr + ix, sizeof(float));
            else
                tr[tx] = 0.f;
        }
    }
    __pipeline_commit();
    __pipeline_wait_prior(0);
    if (sa)
        dwt_bn_tiles(t, per, cc, th, tw, iy0, h, w, pad, relu, sa, sb);
    else if (relu)
        for (int row = warp; row < cc * th; row += nw) {
            int i = row / th, ty = row - i * th;
            float *tr = t + i * per + ty * tw;
            for (int tx = lane; tx < tw; tx += 32)
                tr[tx] = dw_relu(tr[tx], 1);
        }
}

/* seg = the SEG tile values from row: what one filter row reads for a
 * strip of DWT_V outputs (registers, the loop unrolled) */
template <int SEG>
static __device__ __forceinline__ void dwt_seg(float *seg, const float *row)
{
#pragma unroll
    for (int e = 0; e < SEG; e++)
        seg[e] = row[e];
}

/* A strip of V outputs of a row: a[v] += the sum over taps (ky, kx) of
 * w[ky*K + kx] times the tile value row0[ky*D*tw + v*S + kx*D], taps in
 * that order, the values a filter row spans held in registers */
template <int K, int S, int D, int V>
static __device__ __forceinline__ void dwt_strip(float (&a)[V], const float *row0, int tw,
                                                 const float *w)
{
    enum { SEG = (V - 1) * S + (K - 1) * D + 1 };
#pragma unroll
    for (int ky = 0; ky < K; ky++) {
        float seg[SEG];
        dwt_seg<SEG>(seg, row0 + ky * D * tw);
#pragma unroll
        for (int kx = 0; kx < K; kx++) {
            float wv = w[ky * K + kx];
#pragma unroll
            for (int v = 0; v < V; v++)
                a[v] += wv * seg[v * S + kx * D];
        }
    }
}

/* The filter gradient's products for the same strip: acc[ky*K + kx] +=
 * g[v] times the tile value tap (ky, kx) reads for output v, v in order */
template <int K, int S, int D, int V>
static __device__ __forceinline__ void dwt_strip_taps(float (&acc)[K * K], const float (&g)[V],
                                                      const float *row0, int tw)
{
    enum { SEG = (V - 1) * S + (K - 1) * D + 1 };
#pragma unroll
    for (int ky = 0; ky < K; ky++) {
        float seg[SEG];
        dwt_seg<SEG>(seg, row0 + ky * D * tw);
#pragma unroll
        for (int kx = 0; kx < K; kx++)
#pragma unroll
            for (int v = 0; v < V; v++)
                acc[ky * K + kx] += g[v] * seg[v * S + kx * D];
    }
}

/* The tiled kernels take stride and dilation 1 or 2 (dw_handles has
 * checked K and that both are at least 1) */
static inline int dwt_takes(int s, int dil) { return s <= 2 && dil <= 2; }

/* launch(KSD) for the taps, stride and dilation ksd = K*100 + S*10 + D
 * (K 3, 5 or 7; S and D 1 or 2: the caller checks) */
#define DWT_DISPATCH(ksd, launch)                                                                  \
    switch (ksd) {                                                                                 \
    case 311: launch(311); break;                                                                  \
    case 312: launch(312); break;                                                                  \
    case 321: launch(321); break;                                                                  \
    case 322: launch(322); break;                                                                  \
    case 511: launch(511); break;                                                                  \
    case 512: launch(512); break;                                                                  \
    case 521: launch(521); break;                                                                  \
    case 522: launch(522); break;                                                                  \
    case 711: launch(711); break;                                                                  \
    case 712: launch(712); break;                                                                  \
    case 721: launch(721); break;                                                                  \
    default: launch(722); break;                                                                   \
    }

#endif
