/* kemu_race.h - what the stand-in runtime (kemu.cc, kemu_rt.cc,
 * kemu_dnn.cc) and the race check (kemu_race.cc) tell each other. */
#ifndef KEMU_RACE_H
#define KEMU_RACE_H

#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "cuda_runtime.h"

/* kemu_race.cc's, in the programs it is linked into (test_kernels_race,
 * test_cuda_emu_race, cellar-emu-race); elsewhere weak and so NULL:
 *   kemu_race_note: what an operation of the runtime or the cuDNN and
 *     cuBLAS stand-ins reads (write 0) or writes (1), n bytes at p;
 *   kemu_race_forget: new device memory, which no stream has touched */
#ifdef KEMU_RACE_IMPL
#define KEMU_RACE_HOOK
#else
#define KEMU_RACE_HOOK __attribute__((weak))
#endif
extern "C" void kemu_race_note(const void *p, size_t n, int write) KEMU_RACE_HOOK;
extern "C" void kemu_race_forget(const void *p, size_t n) KEMU_RACE_HOOK;
/*   kemu_race_fence, kemu_race_atomic: the running thread's
 *     __threadfence() and atomic at p (kemu.cc) */
extern "C" void kemu_race_fence(void) KEMU_RACE_HOOK;
extern "C" void kemu_race_atomic(const void *p) KEMU_RACE_HOOK;

/* kemu.cc: the launch running (its number; 0 between launches), its
 * kernel, the block barriers passed so far (a block's intervals between
 * barriers), and the threads' stacks, [kemu_stacks_lo, kemu_stacks_hi) */
extern unsigned kemu_launch_no, kemu_bar_gen;
extern const char *kemu_kernel;
extern char *kemu_stacks_lo, *kemu_stacks_hi;

/* kemu_rt.cc: the graph replay running (its number) and its operation
 * (-1: none), whether one of its operations follows another through the
 * recorded dependencies; the stream of the operation running (-1: none)
 * and its vector clock; the device allocation holding p, [*lo, *hi), 1,
 * or the room between allocations that holds it, 0, an answer good
 * until kemu_allocs_changed changes; the name of the operation running;
 * a launch's failure */
extern unsigned kemu_replay_no;
extern int kemu_op_no;
extern "C" int kemu_op_follows(int later, int earlier);
extern int kemu_xstream;
extern const std::vector<uint32_t> *kemu_xvc;
extern "C" int kemu_device_span(const void *p, uintptr_t *lo, uintptr_t *hi);
extern unsigned long kemu_allocs_changed;
extern const char *kemu_op_name;
void kemu_set_error(cudaError_t e);

#endif
