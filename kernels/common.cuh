/* common.cuh - what the kernel files share: launch shapes and block sums.
 *
 * Views are walked as a 2-D grid: x over the values of one image (c*h*w,
 * which fits an int), y over the images, both as grid-stride loops so any
 * batch fits the grid limits.  Indices inside an image are ints; image
 * offsets are long. */
#ifndef CELLAR_KERNELS_COMMON_CUH
#define CELLAR_KERNELS_COMMON_CUH

#include <cuda_runtime.h>

#include "kernels.h"

#define K_THREADS 256

/* a grid covering `per` values in each of `n` images */
static inline dim3 k_grid2(long per, int n)
{
    long bx = (per + K_THREADS - 1) / K_THREADS;
    if (bx > 1024)
        bx = 1024;
    if (bx < 1)
        bx = 1;
    return dim3((unsigned)bx, (unsigned)(n < 1 ? 1 : n > 65535 ? 65535 : n), 1);
}

/* a 1-D grid covering `count` values */
static inline unsigned k_grid1(long count)
{
    long b = (count + K_THREADS - 1) / K_THREADS;
    if (b > 65535)
        b = 65535;
    return (unsigned)(b < 1 ? 1 : b);
}

#define FOR_IMAGES(img, n) for (int img = blockIdx.y; img < (n); img += gridDim.y)
#define FOR_VALUES(j, per) \
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < (per); j += gridDim.x * blockDim.x)

static __device__ __forceinline__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* The sum of v over the block, returned to every thread.  blockDim.x is a
 * multiple of 32, at most 1024; `sh` holds 33 doubles.  Ends with a
 * barrier, so sh may be reused at once. */
static __device__ double block_sum(double v, double *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double t = lane < nw ? sh[lane] : 0.0;
        t = warp_sum(t);
        if (lane == 0)
            sh[32] = t;
    }
    __syncthreads();
    v = sh[32];
    __syncthreads();
    return v;
}

#endif
