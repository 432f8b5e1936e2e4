/* cuda_runtime.h - runs the kernels of kernels/ on the CPU, for testing
 * them where there is no GPU.  A test build puts this directory first on
 * the include path and compiles each kernels/X.cu as C++ (tests/kemu/k_*.cc),
 * so the very kernel and launcher code the GPU runs is what is checked.
 *
 * A launch runs its blocks one after another, and the threads of a block
 * as coroutines on one CPU thread (kemu.cc): each runs until it reaches
 * __syncthreads() or a warp shuffle (down or xor), then the next, in
 * ascending order in one block and descending in the next; a barrier lets its threads on
 * once every live thread of the block (of the warp, for a shuffle) has
 * reached it.  So a missing barrier shows as a wrong result, the same one
 * every run.  When the first block of a launch meets no
 * barrier, the others' threads run as plain calls (a kernel's barriers
 * must not depend on its block: kemu stops with a message if one does).
 * __shared__ arrays become function statics: one block at a time uses
 * them.  Launch shapes CUDA refuses (an empty grid, more than 1024
 * threads, a y or z grid size over 65535) are refused the same way, and
 * cudaGetLastError() reports them. */
#ifndef KEMU_CUDA_RUNTIME_H
#define KEMU_CUDA_RUNTIME_H

#include <math.h>
#include <string.h>

#include <functional>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define K_NOINLINE __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

struct uint3 {
    unsigned x, y, z;
};

/* CUDA's vector of four floats, aligned as a GPU loads it in one read */
struct alignas(16) float4 {
    float x, y, z, w;
};

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

void __syncthreads();
unsigned long long kemu_shfl_down(unsigned long long v, int delta);
unsigned long long kemu_shfl_xor(unsigned long long v, int mask);

/* a shuffle's value passes as its bytes: kemu_shfl_down or kemu_shfl_xor
 * moves them */
template <typename T>
static inline T kemu_shfl(T v, int arg, unsigned long long (*move)(unsigned long long, int))
{
    unsigned long long b = 0;
    T r;
    static_assert(sizeof(T) <= sizeof b, "a shuffle moves at most 8 bytes");
    memcpy(&b, &v, sizeof v);
    b = move(b, arg);
    memcpy(&r, &b, sizeof r);
    return r;
}

template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, int delta)
{
    (void)mask;
    return kemu_shfl(v, delta, kemu_shfl_down);
}

/* the value of the lane whose number differs from this one's by the bits
 * of lane_mask */
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask)
{
    (void)mask;
    return kemu_shfl(v, lane_mask, kemu_shfl_xor);
}

/* Device-wide order: one thread runs at a time here, so an atomic is a
 * plain read-modify-write and a fence has nothing to order.  The race
 * check (kemu_race.cc) takes a thread's __threadfence() then atomicAdd as
 * publishing what its block wrote before the fence (the thread's own
 * writes, and its block's before a barrier), and the atomic as letting
 * its block see what blocks published earlier at that address (its own
 * later reads, and its block's after a barrier): the "last block" pattern
 * of the CUDA Programming Guide's memory-fence example. */
void __threadfence();
unsigned atomicAdd(unsigned *p, unsigned v);

static inline double __longlong_as_double(long long v)
{
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* a launch of kernel `name` over grid x block, body run by each thread */
void kemu_run(dim3 grid, dim3 block, const std::function<void()> &body, const char *name);

/* a launch's shape as CUDA would take it (else cudaGetLastError says why) */
int kemu_launch_ok(dim3 grid, dim3 block);
/* run op now, or record it when st is capturing (kemu_rt.cc); `name`
 * (a kernel's, a call's) is what KEMU_TRACE=1 counts in each capture */
void kemu_submit(cudaStream_t st, std::function<void()> op, const char *name);
/* argument i of kernel k is a pointer: it must be device memory (else the
 * launch is dropped and the stream fails, as an illegal address would) */
int kemu_device_arg(const char *k, int i, const void *p);
/* KEMU_TRACE=2: each launch's name and shape on stderr as it is made
 * ("kemu: launch NAME grid X Y Z block B"), to find launches too small
 * for a GPU's multiprocessors */
void kemu_trace_launch(const char *name, dim3 grid, dim3 block);

/* pointers among a kernel's arguments, checked; views (tview) are checked
 * by an overload of kemu_arg_ok beside them (tests/kemu/kemu_args.h) */
template <typename T> static inline int kemu_arg_ok(const char *, int, const T &) { return 1; }
template <typename T> static inline int kemu_arg_ok(const char *k, int i, T *const &p)
{
    return kemu_device_arg(k, i, (const void *)p);
}

template <typename F> struct kemu_launch {
    F f;
    const char *name;
    dim3 grid, block;
    cudaStream_t st;
    template <typename... A> void operator()(A... a) const
    {
        int i = 0, ok = 1;
        F fn = f;
        dim3 g = grid, b = block;
        const char *nm = name;   /* (the recorded op outlives this launcher) */
        if (!kemu_launch_ok(grid, block))
            return;
        (void)i;
        ((ok = kemu_arg_ok(name, ++i, a) && ok), ...);
        if (!ok)
            return;
        kemu_trace_launch(name, g, b);
        kemu_submit(st, [=] { kemu_run(g, b, [&] { fn(a...); }, nm); }, name);
    }
};

#define K_LAUNCH(k, g, b, st) kemu_launch<decltype(&k)>{&k, #k, dim3(g), dim3(b), (st)}

#endif
