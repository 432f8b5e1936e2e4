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

/* races for kemu_race.cc to see (k_selftest.cc's race_k says which) */
enum {
    RACE_OWN,
    RACE_BLOCKS_WRITE,
    RACE_BLOCKS_READ,
    RACE_THREADS,
    RACE_BARRIER,
    RACE_LAST,            /* the last block's pattern (k_selftest.cc's last_block) */
    RACE_LAST_NO_FENCE,
    RACE_LAST_NO_BARRIER,
    RACE_LAST_LATE
};
void kemu_race(int how, int blocks, unsigned from, unsigned to, int *out);
/* a graph whose second stream reads what its first writes, ordered by an
 * event or not; 0, or -1 when the runtime refused it */
int kemu_race_graph(int ordered, int *a, int *b);
/* one stream writes, another reads: not ordered (0), ordered by an event
 * (1) or by the host waiting for the first (2); 0, or -1 when refused */
int kemu_race_streams(int how, int *a, int *b);
/* kemu_race.cc's, where it is linked in (test_kernels_race): */
int kemu_race_active(void) __attribute__((weak));   /* 1 */
long kemu_race_count(void) __attribute__((weak));   /* races seen so far */
void kemu_race_expect(long n) __attribute__((weak)); /* n of them were meant */

#ifdef __cplusplus
}
#endif

#endif
