/* cuda_pipeline_primitives.h - the stand-in's asynchronous copies (sm_80's
 * cp.async) for kernels compiled to run on the CPU.  A copy is queued for
 * the thread that starts it and made when that thread waits for its batch
 * (__pipeline_wait_prior), not before: a kernel that reads the destination
 * before waiting reads what was there, as it may on a GPU, and gives wrong
 * numbers here too.  Copies still queued when a block ends are lost. */
#ifndef KEMU_CUDA_PIPELINE_PRIMITIVES_H
#define KEMU_CUDA_PIPELINE_PRIMITIVES_H

#include <stddef.h>

#include "cuda_runtime.h"

/* size_and_align bytes (4, 8 or 16) from src to dst, the last zfill of
 * them zeros instead */
void __pipeline_memcpy_async(void *dst, const void *src, size_t size_and_align, size_t zfill = 0);
/* the thread's copies since its last commit make a batch */
void __pipeline_commit();
/* make the thread's copies but those of its `prior` latest batches */
void __pipeline_wait_prior(size_t prior);

#endif
