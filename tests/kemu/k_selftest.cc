/* k_selftest.cc - kernels that check the stand-in runtime itself: a block
 * that passes values through shared memory, with and without the barrier
 * between writing and reading, and a warp sum by shuffles; and, where
 * kemu_race.cc watches memory, races it must see and ways that are not
 * races. */
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

/* The last block's pattern: each block's word out[8 + block] written
 * by thread `from`, published by thread 0's fence and count of the blocks
 * done in out[0] (zero before), and the block that counts last adds them
 * up into out[1] (thread `to`) and sets the count back to zero.  RACE_LAST
 * as it should be (thread `from` 0, or with a barrier before the fence);
 * RACE_LAST_NO_FENCE without the fence; RACE_LAST_NO_BARRIER: thread
 * `from`'s write with no barrier before thread 0's fence; RACE_LAST_LATE:
 * the write after the fence. */
static __device__ void last_block(int how, unsigned from, unsigned to, int *out)
{
    __shared__ int last;
    unsigned t = threadIdx.x, b = blockIdx.x;
    if (t == from && how != RACE_LAST_LATE)
        out[8 + b] = (int)b + 1;
    if (how == RACE_LAST && from != 0)
        __syncthreads();
    if (t == 0) {
        if (how != RACE_LAST_NO_FENCE)
            __threadfence();
        if (how == RACE_LAST_LATE)
            out[8 + b] = (int)b + 1;
        last = atomicAdd((unsigned *)out, 1u) == gridDim.x - 1;
    }
    __syncthreads();
    if (last && t == to) {
        int sum = 0;
        for (unsigned i = 0; i < gridDim.x; i++)
            sum += out[8 + i];
        out[1] = sum;
        out[0] = 0;
    }
}

/* how thread `to` gets what thread `from` wrote to out[0]: out[1 + block]
 * (RACE_OWN: every block its own word, no race), out[0] written by every
 * block (RACE_BLOCKS_WRITE), written by block 0 and read by block 1
 * (RACE_BLOCKS_READ), within one block with or without a barrier between
 * (RACE_THREADS, RACE_BARRIER) */
static __global__ void race_k(int how, unsigned from, unsigned to, int *out)
{
    unsigned t = threadIdx.x, b = blockIdx.x;
    switch (how) {
    case RACE_OWN:
        if (t == from)
            out[1 + b] = (int)b;
        break;
    case RACE_BLOCKS_WRITE:
        if (t == from)
            out[0] = (int)b;
        break;
    case RACE_BLOCKS_READ:
        if (t == from && b == 0)
            out[0] = 5;
        if (t == to && b == 1)
            out[2] = out[0];
        break;
    case RACE_THREADS:
    case RACE_BARRIER:
        if (t == from && b == 0)
            out[0] = 7;
        if (how == RACE_BARRIER)
            __syncthreads();
        if (t == to && b == 0)
            out[1] = out[0];
        break;
    default:
        last_block(how, from, to, out);
    }
}

static __global__ void put_k(int *p, int v) { p[threadIdx.x] = v; }
static __global__ void get_k(const int *p, int *q) { q[threadIdx.x] = p[threadIdx.x]; }

extern "C" {

void kemu_race(int how, int blocks, unsigned from, unsigned to, int *out)
{
    K_LAUNCH(race_k, blocks, K_THREADS, (cudaStream_t)0)(how, from, to, out);
}

/* a graph of two streams: put_k writes a on the first, get_k reads it
 * into b on the second, after an event recorded behind put_k (ordered)
 * or only after the capture's start (not), then replayed twice */
int kemu_race_graph(int ordered, int *a, int *b)
{
    cudaStream_t s1, s2;
    cudaEvent_t fork, done, join;
    cudaGraph_t g;
    cudaGraphExec_t x;
    int bad = 0;
    bad |= cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking) != cudaSuccess;
    bad |= cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking) != cudaSuccess;
    bad |= cudaEventCreateWithFlags(&fork, cudaEventDisableTiming) != cudaSuccess;
    bad |= cudaEventCreateWithFlags(&done, cudaEventDisableTiming) != cudaSuccess;
    bad |= cudaEventCreateWithFlags(&join, cudaEventDisableTiming) != cudaSuccess;
    if (bad)
        return -1;
    (void)cudaStreamSynchronize(0);   /* (after what the legacy stream wrote there) */
    bad |= cudaStreamBeginCapture(s1, cudaStreamCaptureModeThreadLocal) != cudaSuccess;
    bad |= cudaEventRecord(fork, s1) != cudaSuccess;
    bad |= cudaStreamWaitEvent(s2, fork, 0) != cudaSuccess;
    K_LAUNCH(put_k, 1, 32, s1)(a, 3);
    bad |= cudaEventRecord(done, s1) != cudaSuccess;
    if (ordered)
        bad |= cudaStreamWaitEvent(s2, done, 0) != cudaSuccess;
    K_LAUNCH(get_k, 1, 32, s2)(a, b);
    bad |= cudaEventRecord(join, s2) != cudaSuccess;
    bad |= cudaStreamWaitEvent(s1, join, 0) != cudaSuccess;
    bad |= cudaStreamEndCapture(s1, &g) != cudaSuccess;
    bad |= cudaGraphInstantiate(&x, g, 0) != cudaSuccess;
    if (!bad) {
        (void)cudaGraphLaunch(x, s1);
        (void)cudaGraphLaunch(x, s1);
        (void)cudaStreamSynchronize(s1);
        cudaGraphExecDestroy(x);
        cudaGraphDestroy(g);
    }
    cudaEventDestroy(fork);
    cudaEventDestroy(done);
    cudaEventDestroy(join);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
    return bad ? -1 : 0;
}

/* put_k writes a on one stream, then get_k reads it on another, not
 * ordered (0), after an event recorded behind put_k (1) or after the host
 * waited for the first stream (2) */
int kemu_race_streams(int how, int *a, int *b)
{
    cudaStream_t s1, s2;
    cudaEvent_t done;
    int bad = 0;
    bad |= cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking) != cudaSuccess;
    bad |= cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking) != cudaSuccess;
    bad |= cudaEventCreateWithFlags(&done, cudaEventDisableTiming) != cudaSuccess;
    if (bad)
        return -1;
    (void)cudaStreamSynchronize(0);
    K_LAUNCH(put_k, 1, 32, s1)(a, 4);
    if (how == 1) {
        bad |= cudaEventRecord(done, s1) != cudaSuccess;
        bad |= cudaStreamWaitEvent(s2, done, 0) != cudaSuccess;
    } else if (how == 2) {
        bad |= cudaStreamSynchronize(s1) != cudaSuccess;
    }
    K_LAUNCH(get_k, 1, 32, s2)(a, b);
    (void)cudaStreamSynchronize(s1);
    (void)cudaStreamSynchronize(s2);
    cudaEventDestroy(done);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
    return bad ? -1 : 0;
}

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
