/* k_selftest.cc - kernels that check the stand-in runtime itself: a block
 * that passes values through shared memory, with and without the barrier
 * between writing and reading, and a warp sum by shuffles. */
#include "common.cuh"

#include "kemu_selftest.h"

static __global__ void pass_on_k(int barrier, int *out)
{
    __shared__ int sh[K_THREADS];
    unsigned t = threadIdx.x;
    sh[t] = (int)(t + 1000 * blockIdx.x);
    if (barrier)
        __syncthreads();
    out[blockIdx.x * blockDim.x + t] = sh[(t + 1) % blockDim.x];
}

static __global__ void broadcast_k(int barrier, int *out)
{
    __shared__ int v;
    if (threadIdx.x == 0)
        v = (int)blockIdx.x + 7;
    if (barrier)
        __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

static __global__ void warp_sums_k(double *out)
{
    out[threadIdx.x] = warp_sum((double)threadIdx.x);
}

static __global__ void block_sums_k(double *out)
{
    __shared__ double sh[33];
    double v = block_sum((double)(threadIdx.x + blockIdx.x), sh);
    if (threadIdx.x == 0)
        out[blockIdx.x] = v;
}

extern "C" {

void kemu_pass_on(int barrier, int blocks, int *out)
{
    K_LAUNCH(pass_on_k, blocks, K_THREADS, (cudaStream_t)0)(barrier, out);
}

void kemu_broadcast(int barrier, int blocks, int *out)
{
    K_LAUNCH(broadcast_k, blocks, K_THREADS, (cudaStream_t)0)(barrier, out);
}

void kemu_warp_sums(int threads, double *out)
{
    K_LAUNCH(warp_sums_k, 1, threads, (cudaStream_t)0)(out);
}

void kemu_block_sums(int blocks, int threads, double *out)
{
    K_LAUNCH(block_sums_k, blocks, threads, (cudaStream_t)0)(out);
}
}
