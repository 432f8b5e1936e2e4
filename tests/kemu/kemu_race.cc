/* kemu_race.cc - races on device memory, for the stand-in runtime.
 *
 * kemu runs a launch's blocks one after another and a graph's operations
 * in one order at a time, so two blocks writing one word, or a block
 * reading what another block of the same launch writes, give whatever the
 * last one left, the same on every run; on a GPU the blocks run at once,
 * in any order, and the result changes from run to run.  compute-
 * sanitizer's racecheck sees only shared memory.  Here every access the
 * kernels make to device memory is seen: the kernels' files are compiled
 * with the compiler's thread-sanitizer instrumentation (-fsanitize=thread
 * without its run-time library), which calls __tsan_readN / __tsan_writeN
 * before each load and store, and these functions are that run-time.
 *
 * Each 4-byte word a kernel touches gets a shadow (a table of 2 MB
 * chunks of the address space, a shadow chunk made at its first use)
 * saying who last wrote it and who read it since: which launch, block,
 * thread and barrier interval (the block's barriers passed so far), and,
 * for device memory (cudaMalloc's), which operation of which replay of a
 * graph, and which stream at which of its operations.  A word is raced
 * on when, within one launch,
 *   - two blocks touch it and one of them writes it, or
 *   - a thread reads or writes it after another thread of its block, not
 *     of its warp, wrote it (or writes it after such a thread read it),
 *     with no barrier between;
 * within one replay of a graph, when two operations touch it, one writes,
 * and neither follows the other through the graph's dependencies (a lane
 * that should have waited for an event: on a GPU the two run at once);
 * and between streams, when an operation touches it after one on another
 * stream wrote it (or writes it after one read it) that its own stream
 * has not followed: no event recorded after the first and waited for
 * before the second, no synchronisation of the host with the first stream
 * before the second was given its work (kemu_rt.cc keeps the streams'
 * vector clocks).  The copies and sets the runtime makes (kemu_rt.cc) and
 * the cuDNN and cuBLAS stand-ins (kemu_dnn.cc) tell what their operations
 * read and write (kemu_race_note).  Accesses of one, two and eight or
 * more bytes count for the words they cover.  Not watched: the program's
 * static data (where the stand-in keeps __shared__ arrays, one copy for
 * every block) and the threads' stacks.
 *
 * A race is reported on stderr (the first three of a launch or replay),
 * and the launch fails (cudaErrorLaunchFailure), so the test that made it
 * fails; at exit a process that met more races than its self-tests asked
 * for ends with status 1.  Of the reads since the last write only the
 * last reader is kept, so a write racing with an earlier reader and not
 * the last may go unseen in one replay (the replays' orders differ, see
 * kemu_rt.cc). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KEMU_RACE_IMPL
#include "kemu_race.h"

#define CHUNK_BITS 21                      /* 2 MB of addresses a shadow chunk */
#define CHUNKS ((size_t)1 << (47 - CHUNK_BITS))
#define CHUNK_WORDS ((size_t)1 << (CHUNK_BITS - 2))

/* a word's shadow within launches: the last write (block + 1, thread,
 * barrier interval) and the reads since (blocks; of one block, the
 * thread and interval), of launch kepoch */
struct lshadow {
    uint32_t kepoch, wb, rb;   /* rb RB_MANY: several blocks */
    uint16_t wt, wg, rt, rg;   /* rt RT_MANY: several threads in interval rg */
    uint32_t wtick;            /* the write's place among the launch's accesses */
};
#define RB_MANY 0xffffffffu
#define RT_MANY 0xffffu

/* and within graph replays: the last operation to write it and to read
 * it, of replay gepoch */
struct gshadow {
    uint32_t gepoch;
    int32_t wop, rop;
};

/* and between streams: the last write's and the last read's stream (its
 * id + 1; 0: none) and that stream's clock then (kemu_rt.cc) */
struct xshadow {
    uint32_t ws, wc, rs, rc;
};

/* the three side by side: a word's checks touch one or two cache lines,
 * not three places apart (a launch's accesses are nearly all the time of
 * the race build) */
struct shadow {
    lshadow l;
    xshadow x;
    gshadow g;
};

extern char __data_start[], _end[];   /* the program's static data */

static void **tab;   /* CHUNKS entries: shadow chunks or NULL */
static long races, expected;

static void *map_or_die(size_t bytes, const char *what)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "kemu: cannot map %zu MB for %s: %s\n", bytes >> 20, what,
                strerror(errno));
        abort();
    }
    return p;
}

/* word a's shadow (the table is made at start) */
static inline shadow *shadow_of(uintptr_t a)
{
    size_t c = (size_t)(a >> CHUNK_BITS) & (CHUNKS - 1);
    if (__builtin_expect(!tab[c], 0))
        tab[c] = map_or_die(CHUNK_WORDS * sizeof(shadow), "the race check's shadow");
    return (shadow *)tab[c] + ((a >> 2) & (CHUNK_WORDS - 1));
}

/* races reported in the launch or replay running: the first few shown */
static unsigned shown_in, shown;

static void report(const char *what, uintptr_t a, const char *why)
{
    unsigned now = kemu_launch_no ? kemu_launch_no : kemu_replay_no | 0x80000000u;
    races++;
    if (shown_in != now) {
        shown_in = now;
        shown = 0;
    }
    if (++shown <= 3)
        fprintf(stderr, "kemu: race on memory at %p: %s (%s)\n", (void *)a, what, why);
    else if (shown == 4)
        fprintf(stderr, "kemu: (more races in this %s: not shown)\n",
                kemu_launch_no ? "launch" : "replay");
    kemu_set_error(cudaErrorLaunchFailure);
}

/* block b's coordinates (b: its number in the grid + 1) */
static const char *block_name(uint32_t b, char *buf, size_t n)
{
    uint32_t id = b - 1, gx = gridDim.x, gy = gridDim.y;
    snprintf(buf, n, "block (%u,%u,%u)", id % gx, id / gx % gy, id / gx / gy);
    return buf;
}

/* ---- blocks ordered by a fence and an atomic ----
 *
 * A thread's __threadfence() then atomic publishes, at the atomic's
 * address, what it wrote before the fence and what its block wrote
 * before a barrier that came before; the atomic also lets its block see
 * what other blocks published at that address before (their atomics came
 * first: the stand-in runs one thread at a time, so "before" is the order
 * they ran in), in the thread's later reads and its block's after a
 * barrier.  A block's last publication and last atomic are kept. */
struct sync_rec {
    unsigned launch;
    uintptr_t addr;
    uint32_t tick, seq;   /* publication: its fence's tick; both: the atomic's number */
    uint16_t t, g;        /* the thread, its interval (at the fence, for a publication) */
};
static std::vector<sync_rec> pubs, acqs;   /* by block number */
static uint32_t tick, atomics;
static unsigned fence_launch[1024];
static uint32_t fence_block[1024], fence_tick[1024];
static uint16_t fence_gen[1024];

static inline uint32_t block_no(void)
{
    return blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z) + 1;
}

extern "C" void kemu_race_fence(void)
{
    unsigned t = threadIdx.x;
    if (!kemu_launch_no || t >= 1024)
        return;
    fence_launch[t] = kemu_launch_no;
    fence_block[t] = block_no();
    fence_tick[t] = ++tick;
    fence_gen[t] = (uint16_t)kemu_bar_gen;
}

extern "C" void kemu_race_atomic(const void *p)
{
    unsigned t = threadIdx.x;
    uint32_t b = block_no();
    if (!kemu_launch_no || t >= 1024)
        return;
    if (acqs.size() < b) {
        acqs.resize(b);
        pubs.resize(b);
    }
    acqs[b - 1] = {kemu_launch_no, (uintptr_t)p, ++tick, ++atomics, (uint16_t)t,
                   (uint16_t)kemu_bar_gen};
    if (fence_launch[t] == kemu_launch_no && fence_block[t] == b)
        pubs[b - 1] = {kemu_launch_no, (uintptr_t)p, fence_tick[t], atomics, (uint16_t)t,
                       fence_gen[t]};
}

/* whether block b's running thread may see the write the shadow s holds,
 * another block's, through a publication and an atomic (intervals compared
 * as differences: a block passes few barriers, the count wraps) */
static int published(const lshadow *s, uint32_t b)
{
    if (s->wb > pubs.size() || b > acqs.size())
        return 0;
    const sync_rec &w = pubs[s->wb - 1], &r = acqs[b - 1];
    return w.launch == kemu_launch_no && r.launch == kemu_launch_no && w.addr == r.addr &&
           r.seq > w.seq && ((s->wt == w.t && s->wtick < w.tick) || (int16_t)(w.g - s->wg) > 0) &&
           (threadIdx.x == r.t || (int16_t)((uint16_t)kemu_bar_gen - r.g) > 0);
}

/* The checks below run at every access the kernels make: kept small and
 * inlined into the instrumentation's entry points, the reports (cold)
 * apart. */
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))

/* a race within a launch, of kind `why` (1 to 4: as tested in
 * launch_access), at a: block b's thread t touches it */
COLD void launch_race(int why, const lshadow *s, uintptr_t a, uint32_t b, uint16_t t, int write)
{
    char m[200], x[48], y[48];
    const char *rw = write ? "writes" : "reads";
    block_name(b, x, sizeof x);
    if (why == 1)
        snprintf(m, sizeof m, "%s: %s %s it, %s wrote it", kemu_kernel, x, rw,
                 block_name(s->wb, y, sizeof y));
    else if (why == 2)
        snprintf(m, sizeof m, "%s: %s, thread %u %s it, thread %u wrote it", kemu_kernel, x, t,
                 rw, s->wt);
    else if (why == 3)
        snprintf(m, sizeof m, "%s: %s writes it, %s read it", kemu_kernel, x,
                 s->rb == RB_MANY ? "other blocks" : block_name(s->rb, y, sizeof y));
    else
        snprintf(m, sizeof m, "%s: %s, thread %u writes it, other threads read it", kemu_kernel,
                 x, t);
    report(m, a, why == 1 || why == 3 ? "a launch's blocks run in any order"
                                      : "no barrier between them");
}

/* within one launch: the running thread touches the word at a (shadow s) */
HOT void launch_access(lshadow *s, uintptr_t a, int write)
{
    uint32_t b = block_no();
    uint16_t t = (uint16_t)threadIdx.x, g = (uint16_t)kemu_bar_gen;
    tick++;
    if (s->kepoch != kemu_launch_no) {
        s->kepoch = kemu_launch_no;
        s->wb = s->rb = 0;
    }
    if (s->wb && s->wb != b && !published(s, b))
        launch_race(1, s, a, b, t, write);
    else if (s->wb && s->wt != t && s->wg == g && s->wt / 32 != t / 32)
        launch_race(2, s, a, b, t, write);
    else if (write && s->rb && s->rb != b)
        launch_race(3, s, a, b, t, write);
    else if (write && s->rb == b && s->rg == g && s->rt != t &&
             (s->rt == RT_MANY || s->rt / 32 != t / 32))
        launch_race(4, s, a, b, t, write);
    if (write) {
        s->wb = b;
        s->wt = t;
        s->wg = g;
        s->wtick = tick;
    } else if (!s->rb || (s->rb == b && s->rg != g)) {
        s->rb = b;
        s->rt = t;
        s->rg = g;
    } else if (s->rb != b) {
        s->rb = RB_MANY;
    } else if (s->rt != t) {
        s->rt = RT_MANY;
    }
}

/* a race within a replay: operation `other` wrote (or, with read, read)
 * the word at a that the running operation touches */
COLD void replay_race(int other, int read, uintptr_t a, int write)
{
    char m[200];
    if (!read)
        snprintf(m, sizeof m, "graph operation %d (%s) %s it, operation %d wrote it", kemu_op_no,
                 kemu_op_name, write ? "writes" : "reads", other);
    else
        snprintf(m, sizeof m, "graph operation %d (%s) writes it, operation %d read it",
                 kemu_op_no, kemu_op_name, other);
    report(m, a, "neither follows the other: their streams must wait for each other");
}

/* within one replay of a graph: its operation kemu_op_no touches the
 * word at a */
HOT void replay_access(gshadow *s, uintptr_t a, int write)
{
    int op = kemu_op_no;
    if (s->gepoch != kemu_replay_no) {
        s->gepoch = kemu_replay_no;
        s->wop = s->rop = -1;
    }
    if (s->wop >= 0 && s->wop != op && !kemu_op_follows(op, s->wop))
        replay_race(s->wop, 0, a, write);
    else if (write && s->rop >= 0 && s->rop != op && !kemu_op_follows(op, s->rop))
        replay_race(s->rop, 1, a, write);
    if (write)
        s->wop = op;
    else
        s->rop = op;
}

/* whether the running operation's stream has followed stream s (id + 1)
 * up to its operation c */
static inline int follows(uint32_t s, uint32_t c)
{
    return s - 1 == (uint32_t)kemu_xstream ||
           (s - 1 < kemu_xvc->size() && (*kemu_xvc)[s - 1] >= c);
}

/* a race between streams: stream other (id + 1) wrote (or, with read,
 * read) the word at a at its operation c */
COLD void stream_race(uint32_t other, uint32_t c, int read, uintptr_t a, int write)
{
    char m[200];
    if (!read)
        snprintf(m, sizeof m, "%s on stream %d %s it, stream %u wrote it (its operation %u)",
                 kemu_op_name, kemu_xstream, write ? "writes" : "reads", other - 1, c);
    else
        snprintf(m, sizeof m, "%s on stream %d writes it, stream %u read it (its operation %u)",
                 kemu_op_name, kemu_xstream, other - 1, c);
    report(m, a, "no event or synchronisation orders them");
}

/* between streams: the running operation touches the device word at a */
HOT void stream_access(xshadow *s, uintptr_t a, int write)
{
    uint32_t me = (uint32_t)kemu_xstream + 1, now = (*kemu_xvc)[(size_t)kemu_xstream];
    if (s->ws && !follows(s->ws, s->wc))
        stream_race(s->ws, s->wc, 0, a, write);
    else if (write && s->rs && !follows(s->rs, s->rc))
        stream_race(s->rs, s->rc, 1, a, write);
    if (write) {
        s->ws = me;
        s->wc = now;
        s->rs = 0;
    } else {
        s->rs = me;
        s->rc = now;
    }
}

/* new device memory (cudaMalloc): what streams did with the memory there
 * before is forgotten */
extern "C" void kemu_race_forget(const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)3, end = (uintptr_t)p + n;
    while (tab && a < end) {
        uintptr_t chunk_end = (a | (((uintptr_t)1 << CHUNK_BITS) - 1)) + 1;
        uintptr_t b = chunk_end < end ? chunk_end : end;
        if (tab[(size_t)(a >> CHUNK_BITS) & (CHUNKS - 1)])
            for (shadow *s = shadow_of(a), *e = s + (b - a + 3) / 4; s < e; s++)
                memset(&s->x, 0, sizeof s->x);
        a = chunk_end;
    }
}

/* Whether an address is device memory: for each of the pages last asked
 * about, the range found there (an allocation, or the room between two,
 * where the stand-in keeps its own buffers), kept at the page's place in
 * a table until allocations change: a launch reads and writes several
 * allocations and those buffers in turn, nearly always in a range it has
 * met before. */
#define PAGE_BITS 12
#define PAGES 4096
static uintptr_t page_lo[PAGES], page_hi[PAGES];   /* [lo, hi); empty: none */
static unsigned char page_dev[PAGES];
static unsigned long pages_seen;   /* kemu_allocs_changed when the table was made */

static int is_device_lookup(uintptr_t a)
{
    uintptr_t lo, hi;
    size_t pg = (size_t)(a >> PAGE_BITS) % PAGES;
    int dev;
    if (pages_seen != kemu_allocs_changed) {
        memset(page_lo, 0, sizeof page_lo);
        memset(page_hi, 0, sizeof page_hi);
        pages_seen = kemu_allocs_changed;
    }
    dev = kemu_device_span((const void *)a, &lo, &hi);
    page_lo[pg] = lo;
    page_hi[pg] = hi;
    page_dev[pg] = (unsigned char)dev;
    return dev;
}

HOT int is_device(uintptr_t a)
{
    size_t pg = (size_t)(a >> PAGE_BITS) % PAGES;
    if (a - page_lo[pg] < page_hi[pg] - page_lo[pg] && pages_seen == kemu_allocs_changed)
        return page_dev[pg];
    return is_device_lookup(a);
}

HOT void access(const void *p, size_t n, int write)
{
    uintptr_t a = (uintptr_t)p, frame = (uintptr_t)__builtin_frame_address(0);
    int in_launch = kemu_launch_no != 0, in_op = kemu_op_no >= 0, in_stream = kemu_xstream >= 0;
    if (!in_launch && !in_op && !in_stream)
        return;
    if ((a >= (uintptr_t)__data_start && a < (uintptr_t)_end) ||
        (a >= (uintptr_t)kemu_stacks_lo && a < (uintptr_t)kemu_stacks_hi) ||
        (a < frame + (256u << 10) && a + (256u << 10) > frame))
        return;   /* static data, the threads' stacks, or the host's */
    for (uintptr_t w = a & ~(uintptr_t)3; w < a + n; w += 4) {
        shadow *s = shadow_of(w);
        if (in_launch)
            launch_access(&s->l, w, write);
        if ((in_op || in_stream) && is_device(w)) {
            if (in_op)
                replay_access(&s->g, w, write);
            if (in_stream)
                stream_access(&s->x, w, write);
        }
    }
}

/* the runtime's own copies (kemu.cc's asynchronous copies into shared
 * memory, kemu_rt.cc's sets and copies) */
extern "C" void kemu_race_note(const void *p, size_t n, int write)
{
    if (n)
        access(p, n, write);
}

/* ---- what test_kernels asks ---- */

extern "C" int kemu_race_active(void) { return 1; }
extern "C" long kemu_race_count(void) { return races; }
extern "C" void kemu_race_expect(long n) { expected += n; }

static void at_exit(void)
{
    if (races > expected) {
        fprintf(stderr, "kemu: %ld race%s on device memory (%ld expected by the self-tests)\n",
                races, races == 1 ? "" : "s", expected);
        fflush(NULL);
        _exit(1);
    }
}

/* ---- the instrumentation's entry points ---- */

extern "C" {
void __tsan_init(void)
{
    tab = (void **)map_or_die(CHUNKS * sizeof *tab, "the race check's table");
    atexit(at_exit);
}
void __tsan_func_entry(void *) {}
void __tsan_func_exit(void) {}
#define RW(N)                                                                                      \
    void __tsan_read##N(void *p) { access(p, N, 0); }                                              \
    void __tsan_write##N(void *p) { access(p, N, 1); }                                             \
    void __tsan_unaligned_read##N(void *p) { access(p, N, 0); }                                    \
    void __tsan_unaligned_write##N(void *p) { access(p, N, 1); }
RW(1)
RW(2)
RW(4)
RW(8)
RW(16)
#undef RW
void __tsan_read_range(void *p, unsigned long n) { access(p, n, 0); }
void __tsan_write_range(void *p, unsigned long n) { access(p, n, 1); }
void __tsan_vptr_update(void **, void *) {}
void __tsan_vptr_read(void **) {}
}
