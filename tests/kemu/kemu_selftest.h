/* kemu_selftest.h - launchers of k_selftest.cc, for test_kernels. */
#ifndef KEMU_SELFTEST_H
#define KEMU_SELFTEST_H

#ifdef __cplusplus
extern "C" {
#endif

/* out[b*256 + t] = what thread t+1 of block b wrote to shared memory
 * (t + 1000 b), read with or without a barrier after the writes */
void kemu_pass_on(int barrier, int blocks, int *out);
/* out[b*256 + t] = what thread 0 of block b put in shared memory (b + 7),
 * read with or without a barrier after it */
void kemu_broadcast(int barrier, int blocks, int *out);
/* out[t] = warp_sum over the lanes from t (a shuffle-down tree) */
void kemu_warp_sums(int threads, double *out);
/* out[b] = block_sum of (t + b) over the block */
void kemu_block_sums(int blocks, int threads, double *out);

#ifdef __cplusplus
}
#endif

#endif
