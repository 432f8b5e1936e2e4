/* common.cuh - what the kernel files share: launches, launch shapes and
 * block sums.
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

/* K_LAUNCH(kernel, grid, block, stream)(arguments...): a launch.  Written
 * as a macro so that tests/kemu can run these same files on the CPU (its
 * cuda_runtime.h defines K_LAUNCH first). */
#ifndef K_LAUNCH
#define K_LAUNCH(k, g, b, st) k<<<(g), (b), 0, (st)>>>
#endif

/* K_NOINLINE: a device function kept out of its callers, its registers
 * apart from theirs (tests/kemu defines it first: the name __noinline__
 * is the compiler's own there) */
#ifndef K_NOINLINE
#define K_NOINLINE __noinline__
#endif

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

/* one step of k_warp_fold16: a lane keeps v[0..H) or v[H..2H) as its
 * lane number's bit H says, and adds the partner's copy of that half */
template <int H> static __device__ __forceinline__ void k_fold_step(float *v, int lane)
{
    int up = lane & H;
#pragma unroll
    for (int i = 0; i < H; i++) {
        float lo = v[i], hi = v[i + H];
        float send = up ? lo : hi, keep = up ? hi : lo;
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, H);
    }
}

/* 16 sums over a warp at once: lanes l and l + 16 get the sum over the 32
 * lanes of their v[l].  Each of four steps halves what a lane holds, the
 * fifth adds the two half-warps: 8 + 4 + 2 + 1 + 1 = 16 shuffles instead
 * of 16 * 5, each sum in the same tree every time (steps as templates:
 * with a loop, nvcc leaves the inner bound unknown and v in local
 * memory).  v is used up. */
static __device__ __forceinline__ float k_warp_fold16(float (&v)[16])
{
    int lane = (int)(threadIdx.x & 31);
    k_fold_step<8>(v, lane);
    k_fold_step<4>(v, lane);
    k_fold_step<2>(v, lane);
    k_fold_step<1>(v, lane);
    return v[0] + __shfl_xor_sync(0xffffffffu, v[0], 16);
}

/* Batch-norm statistics of 16 channels over a warp: each lane holds its
 * pixel's a[0..15] (zeros for no pixel); lane l gets the warp's sum of
 * a[l] (l < 16) or of a[l - 16]^2 (l >= 16).  A kernel adds these per
 * lane over its images, then k_stats_put over its warps. */
static __device__ __forceinline__ float k_stats16(const float *a)
{
    float v[16], sum;
#pragma unroll
    for (int j = 0; j < 16; j++)
        v[j] = a[j];
    sum = k_warp_fold16(v);
#pragma unroll
    for (int j = 0; j < 16; j++)
        v[j] = a[j] * a[j];
    v[0] = k_warp_fold16(v);
    return (threadIdx.x & 31) < 16 ? sum : v[0];
}

/* Lane l's sums over nw warps (st[k * 32 + l], k in order) into part
 * `part` of the statistics of channel c of C: [(part * C + c) * 2 + 0]
 * the sum (l < 16), + 1 the sum of squares (l >= 16) */
static __device__ __forceinline__ void k_stats_put(const double *st, int nw, int l, int c, int C,
                                                   long part, double *stats)
{
    double w = 0.0;
    for (int k = 0; k < nw; k++)
        w += st[k * 32 + l];
    if (c < C)
        stats[(part * C + c) * 2 + (l >> 4)] = w;
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

/* The device twins of mix64 (core/rng.c), batch_aug_draw and drop_draw_one
 * (backend/backend.h): the same integer arithmetic, so the GPU draws
 * exactly the shifts, flips and masks the CPU draws. */
static __device__ __forceinline__ unsigned long long k_mix64(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static __device__ __forceinline__ void k_aug_draw(const batch_desc &d, int i, int *dy, int *dx,
                                                  int *flip)
{
    unsigned long long r =
        k_mix64(d.seed + k_mix64(((unsigned long long)d.step << 20) + (unsigned long long)i));
    int pad = d.pad > 0 ? d.pad : 0;
    unsigned span = 2u * (unsigned)pad + 1u;
    *dy = (int)((unsigned)(r & 0xffff) % span) - pad;
    *dx = (int)((unsigned)((r >> 16) & 0xffff) % span) - pad;
    *flip = d.flip ? (int)(r >> 63) : 0;
}

static __device__ __forceinline__ float k_drop_one(unsigned long long seed, long step, long k,
                                                   float prob)
{
    unsigned long long r =
        k_mix64(seed + k_mix64(((unsigned long long)step << 32) + (unsigned long long)k));
    float u = (float)(r >> 40) * (1.0f / 16777216.0f);
    return u < prob ? 0.f : 1.f / (1.f - prob);
}

#endif
