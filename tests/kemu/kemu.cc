/* kemu.cc - the CPU stand-in for the CUDA runtime of cuda_runtime.h: a
 * block's threads as coroutines, switched at barriers.
 *
 * Order.  Blocks take turns running their threads in ascending and in
 * descending order (both in each pass over the coroutines and in the
 * plain calls of barrier-free kernels), so a missing barrier shows
 * whichever way its writers and readers lie: "thread 0 writes, the others
 * read" breaks in a descending block, "thread t reads what t + 1 wrote"
 * in an ascending one.
 *
 * Shuffles.  A lane puts its value and waits at a warp barrier; when every
 * lane of the warp waits there the values are copied aside, and each lane
 * takes its partner's from that copy when it runs on, so one barrier per
 * shuffle is enough in either order.
 *
 * Switching.  A switch saves the registers a call must keep and changes
 * stacks: on x86-64 Linux by a few instructions of its own (ucontext's
 * swapcontext also saves the signal mask, a system call each time, which
 * made emulating a network's training steps take minutes); with Intel CET
 * in the build (shadow stacks would refuse a return onto another stack),
 * elsewhere, or with KEMU_UCONTEXT defined, through ucontext.  The x87
 * control word and MXCSR, callee-saved as well, are never changed here,
 * so they are not saved.  A thread that stops at a barrier switches
 * straight to the next ready thread of the pass, and only the pass's last
 * one back to the scheduler; and each thread's stack starts at its own
 * offset into its mapping (COLOR), so that their tops do not all fall in
 * the same cache sets.  Together these took the default bench of
 * gpu_emu.test.sh from 5.1 s to 1.8 s (the time is in the switches). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <vector>

#include "cuda_pipeline_primitives.h"
#include "cuda_runtime.h"
#include "kemu_race.h"

#if defined(__x86_64__) && defined(__linux__) && !defined(__CET__) && !defined(KEMU_UCONTEXT)
#define KEMU_ASM 1
/* kemu_switch(&save, to): push the callee-saved registers, store the stack
 * pointer in save, take `to` as the stack pointer, pop and return there */
extern "C" void kemu_switch(void **save, void *to);
__asm__(".pushsection .text\n"
        ".globl kemu_switch\n"
        ".hidden kemu_switch\n"
        ".type kemu_switch,@function\n"
        "kemu_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size kemu_switch,.-kemu_switch\n"
        ".popsection\n");
#else
#define KEMU_ASM 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_FIBERS 1
#endif
#endif
#ifndef ASAN_FIBERS
#define ASAN_FIBERS 0
#endif
#if ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

/* for kemu_race.cc (kemu_race.h) */
unsigned kemu_launch_no, kemu_bar_gen;
const char *kemu_kernel = "";
static unsigned launches;

static long blocks_run;

enum { READY, AT_BLOCK, AT_WARP, DONE };

#if ASAN_FIBERS
#define STACK_BYTES (512 * 1024)   /* AddressSanitizer's frames are larger */
#else
#define STACK_BYTES (128 * 1024)
#endif

/* Stacks come from separate mappings, a whole number of pages apart, so
 * their tops would share a few sets of the caches, and a block's threads
 * evict each other's frames at every switch; each thread's stack starts
 * COLOR(t) bytes lower, 17 cache lines a thread, up to 32 KB. */
#define COLOR(t) (((t) * 1088u) % 32768u)

struct fiber {
#if KEMU_ASM
    void *sp;
#else
    ucontext_t ctx;
#endif
    int state;
    char *stack;
    void *fake;   /* AddressSanitizer's fake stack while switched out */
};

#if KEMU_ASM
static void *sched_sp;
#else
static ucontext_t sched;
#endif
static std::vector<fiber> *fibers;
static int plain;                  /* threads run as plain calls: no barrier allowed */
static int down;                   /* this block runs its threads in descending order */
static unsigned long block_serial; /* blocks so far, for the order */
static unsigned cur;
static const std::function<void()> *body;
static std::vector<unsigned long long> lanes, taken;   /* shuffles: put, copied aside */
/* the threads' stacks, thread t's STACK_BYTES from kemu_stacks_lo + t *
 * STACK_BYTES: one mapping, room for 1024, kept from launch to launch and
 * unmapped at exit (kemu_race.cc leaves them alone: the next block's
 * threads use them again) */
char *kemu_stacks_lo, *kemu_stacks_hi;

#if ASAN_FIBERS
static const void *sched_bottom;   /* the scheduler's stack, for AddressSanitizer */
static size_t sched_size;
#endif

static void free_stacks()
{
    munmap(kemu_stacks_lo, (size_t)(kemu_stacks_hi - kemu_stacks_lo));
    kemu_stacks_lo = kemu_stacks_hi = NULL;
}

static int from_sched;   /* the last switch into a thread came from the scheduler */

#if ASAN_FIBERS
static const void *from_bottom;   /* the stack a switch came from */
static size_t from_size;
#endif

/* after a switch into a thread: AddressSanitizer told, the scheduler's
 * stack noted when the switch came from there (into globals: locals in
 * entry()'s frame, which never returns, would leave their poison on the
 * stack for the next block's thread) */
static void switched_in(void *fake)
{
#if ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, &from_bottom, &from_size);
    if (from_sched) {
        sched_bottom = from_bottom;
        sched_size = from_size;
    }
#endif
    (void)fake;
}

/* from the scheduler to thread t */
static void to_fiber(unsigned t)
{
    fiber &f = (*fibers)[t];
    void *fake = NULL;
    cur = t;
    threadIdx = {t, 0, 0};
    from_sched = 1;
#if ASAN_FIBERS
    __sanitizer_start_switch_fiber(&fake, f.stack, STACK_BYTES);
#endif
#if KEMU_ASM
    kemu_switch(&sched_sp, f.sp);
#else
    swapcontext(&sched, &f.ctx);
#endif
#if ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    (void)fake;
}

/* leave the running thread as `state` (at a barrier, or done) for the
 * next ready thread of this pass in the block's order, straight from
 * stack to stack, or for the scheduler when none is left (half the
 * switches of going through the scheduler every time); returns when the
 * thread is let on */
static void to_sched(int state)
{
    std::vector<fiber> &fs = *fibers;
    fiber &f = fs[cur];
    unsigned nt = blockDim.x, i = down ? nt - 1 - cur : cur, next = nt;
    f.state = state;
    while (++i < nt) {
        unsigned t = down ? nt - 1 - i : i;
        if (fs[t].state == READY) {
            next = t;
            break;
        }
    }
    from_sched = 0;
    if (next < nt) {
        cur = next;
        threadIdx = {next, 0, 0};
    }
#if ASAN_FIBERS
    __sanitizer_start_switch_fiber(state == DONE ? NULL : &f.fake,
                                   next < nt ? fs[next].stack : sched_bottom,
                                   next < nt ? STACK_BYTES : sched_size);
#endif
#if KEMU_ASM
    kemu_switch(&f.sp, next < nt ? fs[next].sp : sched_sp);
#else
    swapcontext(&f.ctx, next < nt ? &fs[next].ctx : &sched);
#endif
    switched_in(f.fake);
}

static void entry()
{
    switched_in(NULL);
    (*body)();
    to_sched(DONE);
    abort(); /* a finished thread is never let on */
}

static void stuck(const char *why)
{
    fprintf(stderr, "kemu: block (%u,%u,%u) %s\n", blockIdx.x, blockIdx.y, blockIdx.z, why);
    abort();
}

/* after every ready thread has run on: let a barrier's threads go (1), see
 * that all are done (0), or stop: the block is stuck */
static int release(unsigned nt)
{
    std::vector<fiber> &f = *fibers;
    int any = 0, at_block = 0, live = 0;
    for (unsigned w = 0; w < nt; w += 32) {
        unsigned end = w + 32 < nt ? w + 32 : nt;
        unsigned waiting = 0, alive = 0;
        for (unsigned t = w; t < end; t++) {
            alive += f[t].state != DONE;
            waiting += f[t].state == AT_WARP;
        }
        if (waiting && waiting == alive) {
            if (alive < end - w)
                stuck("has a warp shuffle that some of its warp's lanes, already finished, "
                      "never reach");
            for (unsigned t = w; t < end; t++) {
                taken[t] = lanes[t];
                f[t].state = READY;
            }
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
        kemu_bar_gen++;
        return 1;
    }
    stuck("is stuck: its threads wait at different barriers");
    return 0;
}

/* thread t of the next block, ready to start (out of line: getcontext
 * returns twice, which the caller's loop variables must not see) */
static __attribute__((noinline)) void fiber_start(fiber &f, unsigned t)
{
#if KEMU_ASM
    /* the stack as kemu_switch leaves it: six saved registers, then
     * entry() as the return address, then a slot for entry's own return
     * address (never used), 16-byte aligned as a call would leave it;
     * its top COLOR(t) bytes down */
    void **sp = (void **)(((unsigned long)(f.stack + STACK_BYTES - COLOR(t))) & ~15UL);
    *--sp = NULL;
    *--sp = (void *)entry;
    for (int i = 0; i < 6; i++)
        *--sp = NULL;
    f.sp = sp;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = NULL;
    makecontext(&f.ctx, entry, 0);
#endif
    (void)t;
    f.state = READY;
    f.fake = NULL;
#if ASAN_FIBERS
    /* the frames of entry() and to_sched(), which a finished thread never
     * returns from, leave their redzones poisoned near the top of its
     * stack, where the next thread to run on it (COLOR(t) apart, up to
     * 32 KB) puts other frames: unpoison the top */
    __asan_unpoison_memory_region(f.stack + STACK_BYTES - 64 * 1024, 64 * 1024);
#endif
}

/* thread i of the block's order */
static inline unsigned nth(unsigned i, unsigned nt) { return down ? nt - 1 - i : i; }

/* one block as coroutines; 1 when some thread met a barrier */
static int run_block(unsigned nt)
{
    std::vector<fiber> &f = *fibers;
    int waited = 0;
    for (unsigned t = 0; t < nt; t++)
        fiber_start(f[t], t);
    for (;;) {
        for (unsigned i = 0; i < nt; i++)
            if (f[nth(i, nt)].state == READY)
                to_fiber(nth(i, nt));
        if (!release(nt))
            return waited;
        waited = 1;
    }
}

int kemu_launch_ok(dim3 grid, dim3 block)
{
    if (!grid.x || !grid.y || !grid.z || grid.x > 0x7fffffffu || grid.y > 65535 ||
        grid.z > 65535 || !block.x || block.x > 1024 || block.y != 1 || block.z != 1) {
        kemu_set_error(cudaErrorInvalidConfiguration);
        return 0;
    }
    return 1;
}

void kemu_run(dim3 grid, dim3 block, const std::function<void()> &b, const char *name)
{
    unsigned nt = block.x;
    int first = 1;
    if (!kemu_launch_ok(grid, block))
        return;
    std::vector<fiber> f(nt);
    gridDim = grid;
    blockDim = block;
    fibers = &f;
    body = &b;
    lanes.assign(nt, 0);
    taken.assign(nt, 0);
    if (!kemu_stacks_lo) {
        void *m = mmap(NULL, 1024 * (size_t)STACK_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) {
            fprintf(stderr, "kemu: no memory for the threads' stacks\n");
            abort();
        }
        kemu_stacks_lo = (char *)m;
        kemu_stacks_hi = kemu_stacks_lo + 1024 * (size_t)STACK_BYTES;
        atexit(free_stacks);
    }
    for (unsigned t = 0; t < nt; t++)
        f[t].stack = kemu_stacks_lo + t * (size_t)STACK_BYTES;
    if (!++launches)
        launches = 1;
    kemu_launch_no = launches;
    kemu_kernel = name;
    /* The first block runs as coroutines; when none of its threads met a
     * barrier, the kernel has none, and the other blocks' threads run as
     * plain calls, one after another (much faster). */
    plain = 0;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = {x, y, z};
                down = (int)(block_serial++ & 1);
                if (plain) {
                    for (unsigned i = 0; i < nt; i++) {
                        threadIdx = {nth(i, nt), 0, 0};
                        b();
                    }
                    continue;
                }
                if (run_block(nt) == 0 && first)
                    plain = 1;
                first = 0;
            }
    plain = 0;
    fibers = NULL;
    kemu_launch_no = 0;
    blocks_run += (long)grid.x * grid.y * grid.z;
}

static void no_barrier(const char *what)
{
    fprintf(stderr,
            "kemu: %s in block (%u,%u,%u), though the launch's first block had none: a kernel's "
            "barriers must not depend on its block\n",
            what, blockIdx.x, blockIdx.y, blockIdx.z);
    abort();
}

void __syncthreads()
{
    if (plain)
        no_barrier("__syncthreads");
    to_sched(AT_BLOCK);
}

void __threadfence()
{
    if (kemu_race_fence)
        kemu_race_fence();
}

unsigned atomicAdd(unsigned *p, unsigned v)
{
    unsigned old = *p;
    if (kemu_race_atomic)
        kemu_race_atomic(p);
    *p = old + v;
    return old;
}

unsigned long long kemu_shfl_down(unsigned long long v, int delta)
{
    unsigned t = threadIdx.x, lane = t & 31;
    if (plain)
        no_barrier("a warp shuffle");
    lanes[t] = v;
    to_sched(AT_WARP); /* every lane has put its value, now copied aside */
    return delta >= 0 && lane + delta < 32 && t + delta < blockDim.x ? taken[t + delta] : v;
}

unsigned long long kemu_shfl_xor(unsigned long long v, int mask)
{
    unsigned t = threadIdx.x, src = t ^ (unsigned)(mask & 31);
    if (plain)
        no_barrier("a warp shuffle");
    lanes[t] = v;
    to_sched(AT_WARP);
    return src < blockDim.x ? taken[src] : v;
}

/* ---- asynchronous copies (cuda_pipeline_primitives.h) ---- */

struct async_copy {
    void *dst;
    const void *src;
    size_t bytes, zeros;
    unsigned long batch; /* the thread's commits before it */
};
static std::vector<std::vector<async_copy>> copies;   /* [threadIdx.x], this block's */
static std::vector<unsigned long> commits;            /* [threadIdx.x] */
static unsigned long copies_block = ~0ul;             /* the block they belong to */

static void copies_for_thread()
{
    if (copies_block != block_serial) {   /* a new block: what an old one left is lost */
        if (copies.size() < blockDim.x) {
            copies.resize(blockDim.x);
            commits.resize(blockDim.x);
        }
        for (unsigned t = 0; t < blockDim.x; t++) {   /* (the queues keep their room) */
            copies[t].clear();
            commits[t] = 0;
        }
        copies_block = block_serial;
    }
}

void __pipeline_memcpy_async(void *dst, const void *src, size_t size_and_align, size_t zfill)
{
    if ((size_and_align != 4 && size_and_align != 8 && size_and_align != 16) ||
        zfill > size_and_align || ((uintptr_t)dst | (uintptr_t)src) % size_and_align) {
        fprintf(stderr, "kemu: __pipeline_memcpy_async of %zu bytes (%zu zeros) from %p to %p: "
                        "not a copy cp.async makes\n", size_and_align, zfill, src, dst);
        abort();
    }
    copies_for_thread();
    copies[threadIdx.x].push_back({dst, src, size_and_align, zfill, commits[threadIdx.x]});
    if (kemu_race_note)   /* cp.async reads its source when it is issued */
        kemu_race_note(src, size_and_align - zfill, 0);
}

void __pipeline_commit()
{
    copies_for_thread();
    commits[threadIdx.x]++;
}

void __pipeline_wait_prior(size_t prior)
{
    size_t kept = 0;
    copies_for_thread();
    std::vector<async_copy> &q = copies[threadIdx.x];
    for (size_t k = 0; k < q.size(); k++)
        if (q[k].batch + prior < commits[threadIdx.x]) {
            memcpy(q[k].dst, q[k].src, q[k].bytes - q[k].zeros);
            memset((char *)q[k].dst + (q[k].bytes - q[k].zeros), 0, q[k].zeros);
        } else {
            q[kept++] = q[k];
        }
    q.resize(kept);
}

extern "C" long kemu_blocks_run(void) { return blocks_run; }
