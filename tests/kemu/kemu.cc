/* kemu.cc - the CPU stand-in for the CUDA runtime of cuda_runtime.h: a
 * block's threads as coroutines, switched at barriers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <vector>

#include "cuda_runtime.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define ASAN_FIBERS 1
#else
#define ASAN_FIBERS 0
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

static cudaError_t last_error = cudaSuccess;
static long blocks_run;

enum { READY, AT_BLOCK, AT_WARP, DONE };

#define STACK_BYTES (256 * 1024)

struct fiber {
    ucontext_t ctx;
    int state;
    char *stack;
    void *fake;   /* AddressSanitizer's fake stack while switched out */
};

static ucontext_t sched;
static std::vector<fiber> *fibers;
static unsigned cur;
static const std::function<void()> *body;
static std::vector<double> lanes;   /* the shuffle under way: one value per thread */
#if ASAN_FIBERS
static const void *sched_bottom;   /* the scheduler's stack, for AddressSanitizer */
static size_t sched_size;
#endif

static void to_fiber(unsigned t)
{
    fiber &f = (*fibers)[t];
    void *fake = NULL;
    cur = t;
    threadIdx = {t, 0, 0};
#if ASAN_FIBERS
    __sanitizer_start_switch_fiber(&fake, f.stack, STACK_BYTES);
#endif
    swapcontext(&sched, &f.ctx);
#if ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    (void)fake;
}

/* back to the scheduler, as `state`; returns when let on */
static void to_sched(int state)
{
    fiber &f = (*fibers)[cur];
    f.state = state;
#if ASAN_FIBERS
    __sanitizer_start_switch_fiber(state == DONE ? NULL : &f.fake, sched_bottom, sched_size);
#endif
    swapcontext(&f.ctx, &sched);
#if ASAN_FIBERS
    __sanitizer_finish_switch_fiber(f.fake, &sched_bottom, &sched_size);
#endif
}

static void entry()
{
#if ASAN_FIBERS
    __sanitizer_finish_switch_fiber(NULL, &sched_bottom, &sched_size);
#endif
    (*body)();
    to_sched(DONE);
}

/* after every ready thread has run on: let a barrier's threads go, or
 * report that the block is stuck */
static int release(unsigned nt)
{
    std::vector<fiber> &f = *fibers;
    int any = 0, at_block = 0, live = 0;
    for (unsigned w = 0; w < nt; w += 32) {
        unsigned end = w + 32 < nt ? w + 32 : nt;
        int waiting = 0, alive = 0;
        for (unsigned t = w; t < end; t++) {
            alive += f[t].state != DONE;
            waiting += f[t].state == AT_WARP;
        }
        if (alive && waiting == alive) {
            for (unsigned t = w; t < end; t++)
                if (f[t].state == AT_WARP)
                    f[t].state = READY;
            any = 1;
        }
    }
    if (any)
        return 1;
    for (unsigned t = 0; t < nt; t++) {
        live += f[t].state != DONE;
        at_block += f[t].state == AT_BLOCK;
    }
    if (!live)
        return 0;
    if (at_block == live) {
        for (unsigned t = 0; t < nt; t++)
            if (f[t].state == AT_BLOCK)
                f[t].state = READY;
        return 1;
    }
    fprintf(stderr, "kemu: block (%u,%u,%u) is stuck: its threads wait at different barriers\n",
            blockIdx.x, blockIdx.y, blockIdx.z);
    abort();
}

/* thread t of the next block, ready to start (out of line: getcontext
 * returns twice, which the caller's loop variables must not see) */
static __attribute__((noinline)) void fiber_start(fiber &f)
{
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = NULL;
    makecontext(&f.ctx, entry, 0);
    f.state = READY;
    f.fake = NULL;
}

void kemu_run(dim3 grid, dim3 block, const std::function<void()> &b)
{
    unsigned nt = block.x;
    std::vector<fiber> f(nt);
    if (!grid.x || !grid.y || !grid.z || grid.y > 65535 || grid.z > 65535 || !nt || nt > 1024 ||
        block.y != 1 || block.z != 1) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    gridDim = grid;
    blockDim = block;
    fibers = &f;
    body = &b;
    lanes.assign(nt, 0.0);
    for (unsigned t = 0; t < nt; t++)
        if (!(f[t].stack = (char *)malloc(STACK_BYTES))) {
            fprintf(stderr, "kemu: out of memory for %u thread stacks\n", nt);
            abort();
        }
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = {x, y, z};
                for (unsigned t = 0; t < nt; t++)
                    fiber_start(f[t]);
                do {
                    for (unsigned t = 0; t < nt; t++)
                        if (f[t].state == READY)
                            to_fiber(t);
                } while (release(nt));
            }
    for (unsigned t = 0; t < nt; t++)
        free(f[t].stack);
    fibers = NULL;
    blocks_run += (long)grid.x * grid.y * grid.z;
}

void __syncthreads() { to_sched(AT_BLOCK); }

double kemu_shfl_down(double v, int delta)
{
    unsigned t = threadIdx.x, lane = t & 31;
    double r;
    lanes[t] = v;
    to_sched(AT_WARP);   /* every lane has put its value */
    r = lane + delta < 32 && t + delta < blockDim.x ? lanes[t + delta] : v;
    to_sched(AT_WARP);   /* every lane has taken one */
    return r;
}

extern "C" {

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess                     ? "no error"
           : e == cudaErrorInvalidValue         ? "invalid argument"
           : e == cudaErrorInvalidConfiguration ? "invalid configuration argument"
                                                : "unknown error";
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st)
{
    (void)st;
    memset(p, value, bytes);
    return cudaSuccess;
}

long kemu_blocks_run(void) { return blocks_run; }
}
