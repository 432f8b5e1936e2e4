/* kemu_rt.cc - the CUDA runtime of cuda_runtime_api.h on the CPU: device
 * memory, streams that run their work at once or record it, graphs made
 * of the recordings, errors.  One host thread: streams never overlap, so
 * only what happens in which order is checked here, not concurrency (a
 * graph's replay does vary the order among what its dependencies leave
 * free, see replay_order). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cuda_runtime.h"
#include "kemu_race.h"

#define TOTAL_BYTES ((size_t)80 << 30)   /* the memory the stand-in device reports */
#define SMS 4    /* and its multiprocessors: a small GPU, so that few blocks split a sum
                  * (KEMU_SMS=k: k of them, 1 to 1024, e.g. 132 to split sums as an H100) */

/* device memory an operation was given (argument `arg` of `who`) */
struct kemu_use {
    const char *who;
    int arg;
    const void *p;
    size_t bytes;
};

/* One capture: the stream that began it and the streams that joined it
 * (by waiting for an event recorded in it), and what they queued: each
 * operation with the operations it must follow, its stream's previous
 * one and those of the events its stream waited for. */
struct kemu_capture {
    long id;
    int streams;                         /* that took part */
    cudaStream_t origin;
    std::vector<cudaStream_t> members;
    int invalid;
    const char *why;                     /* what spoilt the capture */
    std::vector<std::function<void()>> ops;
    std::vector<const char *> names;     /* each op's kernel or call */
    std::vector<std::vector<kemu_use>> uses;   /* and the memory it was given */
    std::vector<std::vector<int>> deps;
};

struct kemu_stream {
    kemu_capture *cap;                   /* the capture it records into, or NULL */
    std::vector<int> tail;               /* the operations its next one follows */
    int id;                              /* for kemu_race.cc: 1, 2, ... (0: the legacy stream) */
    std::vector<uint32_t> vc;            /* and its clock of every stream's operations */
};

struct kemu_graph {
    int streams;   /* that took part in the capture */
    std::vector<std::function<void()>> ops;
    std::vector<const char *> names;
    std::vector<std::vector<kemu_use>> uses;
    std::vector<std::vector<int>> deps;
    std::vector<std::vector<uint64_t>> before;   /* for kemu_race.cc: each op's ancestors, bits */
};

/* For kemu_race.cc, the order between streams, where it is linked in:
 * each stream counts its operations as they run, and keeps a vector clock
 * of how far it has followed every stream (its own operations, the
 * events it waited for: their stream's clock at the record); the host
 * follows a stream it synchronised with, and a stream follows what the
 * host has followed when given work.  kemu_xstream is the stream of the
 * operation running (-1: none), kemu_xvc its clock. */
static kemu_stream legacy_stream;
static int stream_ids = 1;
static std::vector<uint32_t> host_vc;
int kemu_xstream = -1;
const std::vector<uint32_t> *kemu_xvc;

static void vc_join(std::vector<uint32_t> &a, const std::vector<uint32_t> &b)
{
    if (a.size() < b.size())
        a.resize(b.size(), 0);
    for (size_t i = 0; i < b.size(); i++)
        a[i] = a[i] > b[i] ? a[i] : b[i];
}

/* for kemu_race.cc: the graph replay running (its number) and its
 * operation (-1: none), and that operation's ancestors */
unsigned kemu_replay_no;
int kemu_op_no = -1;
const char *kemu_op_name = "";
static const kemu_graph *replaying;

static cudaError_t last_error = cudaSuccess;
static int spoilt;                       /* an illegal address: every call fails from then on */
static std::map<uintptr_t, size_t> *allocs;
static size_t held, peak;
static long graph_launches, replayed, refusals;
static std::vector<kemu_capture *> capturing;   /* captures under way */
/* while capturing: the memory the operation being queued was checked for,
 * kept with it so that each replay checks it again (it may have been
 * freed since) */
static std::vector<kemu_use> pending_uses;

static void note_use(const char *who, int arg, const void *p, size_t bytes)
{
    if (p && !capturing.empty())
        pending_uses.push_back({who, arg, p, bytes});
}

static cudaError_t fail(cudaError_t e)
{
    if (!spoilt)
        last_error = e;
    return e;
}

static void free_allocs()
{
    delete allocs;
    allocs = NULL;
}

/* the allocation holding [p, p + bytes), or NULL */
static const std::pair<const uintptr_t, size_t> *alloc_of(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p;
    if (!allocs || allocs->empty())
        return NULL;
    auto it = allocs->upper_bound(a);
    if (it == allocs->begin())
        return NULL;
    --it;
    if (a - it->first > it->second || bytes > it->second - (a - it->first))
        return NULL;
    return &*it;
}

/* for kemu_race.cc (kemu_race.h): allocations come or go, and where */
unsigned long kemu_allocs_changed;
extern "C" int kemu_device_span(const void *p, uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t a = (uintptr_t)p;
    *lo = 0;
    *hi = UINTPTR_MAX;
    if (!allocs || allocs->empty())
        return 0;
    auto it = allocs->upper_bound(a);   /* the first allocation after p */
    if (it != allocs->end())
        *hi = it->first;
    if (it == allocs->begin())
        return 0;
    --it;
    if (a - it->first < it->second) {
        *lo = it->first;
        *hi = it->first + it->second;
        return 1;
    }
    *lo = it->first + it->second;
    return 0;
}

extern "C" int kemu_is_device(const void *p)
{
    return !allocs || !p || alloc_of(p, 0) != NULL;
}

/* a call CUDA refuses while this thread captures (thread-local mode):
 * every capture is spoilt */
static cudaError_t refuse_in_capture(const char *what)
{
    refusals++;
    for (kemu_capture *c : capturing)
        if (!c->invalid) {
            c->invalid = 1;
            c->why = what;
        }
    return fail(cudaErrorStreamCaptureUnsupported);
}

static const char *recent_ops[8];   /* the last operations' names, a ring */
static unsigned n_ops;

extern "C" const char *kemu_recent_op(int back)
{
    if (back < 0 || back >= 8 || (unsigned)back >= n_ops)
        return "";
    return recent_ops[(n_ops - 1 - (unsigned)back) % 8];
}

void kemu_submit(cudaStream_t st, std::function<void()> op, const char *name)
{
    if (spoilt)
        return;
    recent_ops[n_ops++ % 8] = name;
    if (st && st->cap) {
        kemu_capture *c = st->cap;
        c->ops.push_back(std::move(op));
        c->names.push_back(name);
        c->uses.push_back(std::move(pending_uses));
        c->deps.push_back(st->tail);
        pending_uses.clear();
        st->tail.assign(1, (int)c->ops.size() - 1);
        return;
    }
    pending_uses.clear();
    if (kemu_race_note) {   /* the operation, one more of its stream's */
        kemu_stream *x = st ? st : &legacy_stream;
        vc_join(x->vc, host_vc);
        if (x->vc.size() <= (size_t)x->id)
            x->vc.resize((size_t)x->id + 1, 0);
        x->vc[(size_t)x->id]++;
        kemu_xstream = x->id;
        kemu_xvc = &x->vc;
        kemu_op_name = name;
        op();
        kemu_xstream = -1;
        return;
    }
    op();
}

/* KEMU_TRACE's level: 0 unset, empty or starting with 0; 2 or more as
 * its number says; 1 otherwise */
static int trace_level()
{
    static int level = -1;
    if (level < 0) {
        const char *t = getenv("KEMU_TRACE");
        level = !t || !*t || *t == '0' ? 0 : atoi(t) >= 2 ? atoi(t) : 1;
    }
    return level;
}

void kemu_trace_launch(const char *name, dim3 grid, dim3 block)
{
    if (trace_level() >= 2)
        fprintf(stderr, "kemu: launch %s grid %u %u %u block %u\n", name, grid.x, grid.y, grid.z,
                block.x);
}

/* KEMU_TRACE=1 (or 2): a capture's operations counted by name, on stderr */
static void trace_capture(const kemu_graph *g)
{
    std::map<std::string, long> n;
    std::vector<std::pair<long, std::string>> v;
    if (!trace_level())
        return;
    for (const char *name : g->names)
        n[name]++;
    for (auto &kv : n)
        v.push_back({-kv.second, kv.first});
    std::sort(v.begin(), v.end());
    /* the longest chain of operations each waiting for the one before:
     * what no number of streams can run side by side */
    std::vector<long> depth(g->ops.size(), 1);
    std::vector<int> via(g->ops.size(), -1);
    long longest = 0;
    int end = -1;
    for (size_t i = 0; i < g->ops.size(); i++) {
        for (int d : g->deps[i])
            if (d >= 0 && depth[(size_t)d] + 1 > depth[i]) {
                depth[i] = depth[(size_t)d] + 1;
                via[i] = d;
            }
        if (depth[i] > longest) {
            longest = depth[i];
            end = (int)i;
        }
    }
    fprintf(stderr, "kemu: a capture of %zu operations from %d streams, the longest chain %ld:",
            g->ops.size(), g->streams, longest);
    /* what the chain is made of, when other streams took part */
    if (g->streams > 1) {
        std::map<std::string, long> on;
        std::vector<std::pair<long, std::string>> w;
        for (int i = end; i >= 0; i = via[(size_t)i])
            on[g->names[(size_t)i]]++;
        for (auto &kv : on)
            w.push_back({-kv.second, kv.first});
        std::sort(w.begin(), w.end());
        for (auto &c : w)
            fprintf(stderr, " %s %ld,", c.second.c_str(), -c.first);
        fprintf(stderr, "\nkemu: ... of all the capture's operations:");
    }
    for (auto &c : v)
        fprintf(stderr, " %s %ld,", c.second.c_str(), -c.first);
    fprintf(stderr, "\n");
}

int kemu_device_arg(const char *k, int i, const void *p)
{
    if (kemu_is_device(p)) {
        note_use(k, i, p, 0);
        return 1;
    }
    fprintf(stderr,
            "kemu: kernel %s, argument %d: %p is not in device memory (cudaMalloc); on a GPU this "
            "is an illegal address\n",
            k, i, p);
    spoilt = 1;
    last_error = cudaErrorIllegalAddress;
    return 0;
}

extern "C" {

int kemu_device_range(const char *who, int i, const void *p, size_t bytes)
{
    if (!allocs || alloc_of(p, bytes)) {
        note_use(who, i, p, bytes);
        return 1;
    }
    fprintf(stderr,
            "kemu: %s, argument %d: %zu bytes at %p are not in one allocation of device memory "
            "(cudaMalloc); on a GPU this is an illegal address\n",
            who, i, bytes, p);
    spoilt = 1;
    last_error = cudaErrorIllegalAddress;
    return 0;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    if (!spoilt)
        last_error = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
        return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched:
        return "the capture was not initiated in this stream";
    case cudaErrorStreamCaptureUnjoined:
        return "the capture sequence contains a fork that was not joined to the primary stream";
    }
    return "unknown error";
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureUnjoined: return "cudaErrorStreamCaptureUnjoined";
    }
    return "cudaErrorUnknown";
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int dev)
{
    if (spoilt)
        return last_error;
    return dev == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}

/* the multiprocessors the stand-in reports: SMS, or KEMU_SMS when it is
 * a number from 1 to 1024 */
static int kemu_sms(void)
{
    const char *v = getenv("KEMU_SMS");
    char *end;
    long k = v && *v ? strtol(v, &end, 10) : 0;
    if (!v || !*v)
        return SMS;
    if (*end || k < 1 || k > 1024) {
        fprintf(stderr, "kemu: KEMU_SMS=%s: expected a number from 1 to 1024\n", v);
        abort();
    }
    return (int)k;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev)
{
    if (dev != 0 ||
        (attr != cudaDevAttrMultiProcessorCount && attr != cudaDevAttrMemoryPoolsSupported))
        return fail(cudaErrorInvalidValue);
    *value = attr == cudaDevAttrMultiProcessorCount ? kemu_sms() : 1;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    unsigned char *m;
    *p = NULL;
    if (spoilt)
        return last_error;
    if (!capturing.empty())
        return refuse_in_capture("cudaMalloc");
    /* aligned as cudaMalloc's are (at least 256 bytes) */
    if (bytes > TOTAL_BYTES - held || posix_memalign((void **)&m, 256, bytes ? bytes : 1))
        return fail(cudaErrorMemoryAllocation);
    /* what a GPU leaves there is anything: NaN, so that a read of memory
     * nothing wrote shows */
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
        static const uint32_t nan = 0x7fc00000u;
        memcpy(m + i, &nan, 4);
    }
    memset(m + bytes / 4 * 4, 0xff, bytes % 4);
    if (!allocs) {
        allocs = new std::map<uintptr_t, size_t>;
        atexit(free_allocs);
    }
    if (kemu_race_forget)   /* new memory: no stream has touched it */
        kemu_race_forget(m, bytes);
    (*allocs)[(uintptr_t)m] = bytes;
    kemu_allocs_changed++;
    held += bytes;
    peak = held > peak ? held : peak;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    if (!capturing.empty())
        return refuse_in_capture("cudaFree");
    if (!allocs || allocs->find((uintptr_t)p) == allocs->end())
        return fail(cudaErrorInvalidDevicePointer);
    held -= (*allocs)[(uintptr_t)p];
    allocs->erase((uintptr_t)p);
    kemu_allocs_changed++;
    free(p);
    return spoilt ? last_error : cudaSuccess;
}

/* ---- the stream-ordered pool ---- */

struct kemu_mem_pool {
    unsigned long long threshold;
};

static kemu_mem_pool the_pool;
static std::set<void *> *pooled;   /* what cudaMallocAsync gave and nothing freed yet */
static size_t pool_held;

static void free_pooled()
{
    delete pooled;
    pooled = NULL;
}

cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t st)
{
    cudaError_t e;
    (void)st;
    *p = NULL;
    if (spoilt)
        return last_error;
    if (!capturing.empty())
        return refuse_in_capture("cudaMallocAsync");
    if ((e = cudaMalloc(p, bytes)) != cudaSuccess)
        return e;
    if (!pooled) {
        pooled = new std::set<void *>;
        atexit(free_pooled);
    }
    pooled->insert(*p);
    pool_held += (*allocs)[(uintptr_t)*p];
    return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *p, cudaStream_t st)
{
    if (!capturing.empty())
        return refuse_in_capture("cudaFreeAsync");
    if (!p || !pooled || !pooled->count(p))
        return fail(cudaErrorInvalidValue);   /* not the pool's (or freed already) */
    pooled->erase(p);
    pool_held -= (*allocs)[(uintptr_t)p];
    if (spoilt)   /* streams run nothing more: freed now, as cudaFree does then */
        return cudaFree(p);
    kemu_submit(st, [=] { (void)cudaFree(p); }, "cudaFreeAsync");
    return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int dev)
{
    if (dev != 0 || !pool)
        return fail(cudaErrorInvalidValue);
    *pool = &the_pool;
    return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value)
{
    if (pool != &the_pool || attr != cudaMemPoolAttrReleaseThreshold || !value)
        return fail(cudaErrorInvalidValue);
    memcpy(&pool->threshold, value, sizeof pool->threshold);
    return cudaSuccess;
}

/* the pool keeps nothing back: what it holds is what is in use */
cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value)
{
    unsigned long long v;
    if (pool != &the_pool || !value)
        return fail(cudaErrorInvalidValue);
    switch (attr) {
    case cudaMemPoolAttrReleaseThreshold:
        v = pool->threshold;
        break;
    case cudaMemPoolAttrReservedMemCurrent:
    case cudaMemPoolAttrUsedMemCurrent:
        v = pool_held;
        break;
    default:
        return fail(cudaErrorInvalidValue);
    }
    memcpy(value, &v, sizeof v);
    return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep)
{
    (void)keep;
    if (pool != &the_pool)
        return fail(cudaErrorInvalidValue);
    if (!capturing.empty())
        return refuse_in_capture("cudaMemPoolTrimTo");
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (allocs && bytes && !alloc_of(p, bytes))
        return fail(cudaErrorInvalidValue);
    note_use("cudaMemsetAsync", 1, p, bytes);
    kemu_submit(
        st,
        [=] {
            if (kemu_race_note)
                kemu_race_note(p, bytes, 1);
            memset(p, value, bytes);
        },
        "cudaMemsetAsync");
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t st)
{
    int dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    int src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (spoilt)
        return last_error;
    if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost &&
        kind != cudaMemcpyDeviceToDevice)
        return fail(cudaErrorInvalidMemcpyDirection);
    if (!bytes)
        return cudaSuccess;
    /* each side where its direction says (the host side: not device memory) */
    if (allocs && ((dst_dev ? !alloc_of(dst, bytes) : kemu_is_device(dst)) ||
                   (src_dev ? !alloc_of(src, bytes) : kemu_is_device(src))))
        return fail(cudaErrorInvalidValue);
    if (st && st->cap && kind != cudaMemcpyDeviceToDevice)
        return refuse_in_capture("cudaMemcpyAsync between host and device");
    note_use("cudaMemcpyAsync", 1, dst, bytes);
    note_use("cudaMemcpyAsync", 2, src, bytes);
    kemu_submit(
        st,
        [=] {
            if (kemu_race_note) {
                kemu_race_note(src, bytes, 0);
                kemu_race_note(dst, bytes, 1);
            }
            memcpy(dst, src, bytes);
        },
        "cudaMemcpyAsync");
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (spoilt)
        return last_error;
    *free_bytes = TOTAL_BYTES - held;
    *total_bytes = TOTAL_BYTES;
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *st, unsigned flags)
{
    (void)flags;
    *st = new kemu_stream();
    (*st)->cap = NULL;
    (*st)->id = stream_ids++;
    return cudaSuccess;
}

/* st leaves its capture; the capture ends with its origin */
static void leave_capture(cudaStream_t st)
{
    kemu_capture *c = st->cap;
    if (!c)
        return;
    st->cap = NULL;
    st->tail.clear();
    c->members.erase(std::find(c->members.begin(), c->members.end(), st));
    if (c->origin != st)
        return;
    for (cudaStream_t m : c->members) {
        m->cap = NULL;
        m->tail.clear();
    }
    capturing.erase(std::find(capturing.begin(), capturing.end(), c));
    delete c;
}

cudaError_t cudaStreamDestroy(cudaStream_t st)
{
    if (!st)
        return fail(cudaErrorInvalidValue);
    leave_capture(st);
    delete st;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (st && st->cap)
        return refuse_in_capture("cudaStreamSynchronize");
    if (kemu_race_note)   /* the host has seen its work end */
        vc_join(host_vc, st ? st->vc : legacy_stream.vc);
    return cudaSuccess;   /* its work has run */
}

cudaError_t cudaStreamBeginCapture(cudaStream_t st, cudaStreamCaptureMode mode)
{
    (void)mode;
    if (spoilt)
        return last_error;
    if (!st)   /* the legacy stream cannot capture */
        return fail(cudaErrorStreamCaptureUnsupported);
    if (st->cap)
        return fail(cudaErrorIllegalState);
    static long captures;
    kemu_capture *c = new kemu_capture();
    c->id = ++captures;
    c->origin = st;
    c->members.push_back(st);
    c->streams = 1;
    c->invalid = 0;
    c->why = NULL;
    st->cap = c;
    st->tail.clear();
    capturing.push_back(c);
    return cudaSuccess;
}

/* the operations of c that `from` follow, themselves included */
static std::vector<char> ancestors(const kemu_capture *c, const std::vector<int> &from)
{
    std::vector<char> seen(c->ops.size(), 0);
    std::vector<int> todo(from);
    while (!todo.empty()) {
        int i = todo.back();
        todo.pop_back();
        if (i < 0 || seen[(size_t)i])
            continue;
        seen[(size_t)i] = 1;
        for (int d : c->deps[(size_t)i])
            todo.push_back(d);
    }
    return seen;
}

cudaError_t cudaStreamEndCapture(cudaStream_t st, cudaGraph_t *graph)
{
    *graph = NULL;
    if (!st || !st->cap)
        return fail(cudaErrorIllegalState);
    kemu_capture *c = st->cap;
    if (c->origin != st)
        return fail(cudaErrorStreamCaptureUnmatched);
    if (!c->invalid) {
        /* every stream that joined must have been joined back: its last
         * operation one that the origin's last follows */
        std::vector<char> before = ancestors(c, st->tail);
        for (cudaStream_t m : c->members)
            for (int t : m->tail)
                if (m != st && t >= 0 && !before[(size_t)t]) {
                    fprintf(stderr, "kemu: a capture ended with a stream that joined it never "
                                    "joined back to the one that began it\n");
                    leave_capture(st);
                    return fail(cudaErrorStreamCaptureUnjoined);
                }
    }
    if (c->invalid) {
        fprintf(stderr, "kemu: a capture was spoilt by %s\n", c->why);
        leave_capture(st);
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = new kemu_graph();
    (*graph)->streams = c->streams;
    (*graph)->ops.swap(c->ops);
    (*graph)->names.swap(c->names);
    (*graph)->uses.swap(c->uses);
    (*graph)->deps.swap(c->deps);
    trace_capture(*graph);
    leave_capture(st);
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags)
{
    (void)flags;
    *exec = NULL;
    if (!graph)
        return fail(cudaErrorInvalidValue);
    *exec = new kemu_graph(*graph);
    return cudaSuccess;
}

cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count)
{
    if (!graph || !count)
        return fail(cudaErrorInvalidValue);
    if (nodes) {
        size_t n = *count < graph->ops.size() ? *count : graph->ops.size();
        for (size_t i = 0; i < n; i++)
            nodes[i] = (cudaGraphNode_t)(uintptr_t)(i + 1);
        *count = n;
    } else {
        *count = graph->ops.size();
    }
    return cudaSuccess;
}

struct kemu_event {
    std::vector<uint32_t> vc;   /* for kemu_race.cc: its stream's clock at the record */
    int recorded;
    double t;      /* seconds, the host's monotonic clock */
    long cap;      /* recorded in capture `cap` (its id; 0: outside one) */
    std::vector<int> nodes;   /* there: the operations a wait for it follows */
};

static kemu_capture *capture_of(long id)
{
    for (kemu_capture *c : capturing)
        if (c->id == id)
            return c;
    return NULL;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *ev, unsigned flags)
{
    if (spoilt)
        return last_error;
    if (!ev || (flags & ~(unsigned)cudaEventDisableTiming))
        return fail(cudaErrorInvalidValue);
    *ev = new kemu_event();
    (*ev)->recorded = 0;
    (*ev)->t = 0.0;
    (*ev)->cap = 0;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *ev) { return cudaEventCreateWithFlags(ev, 0); }

cudaError_t cudaEventDestroy(cudaEvent_t ev)
{
    if (!ev)
        return fail(cudaErrorInvalidValue);
    delete ev;
    return cudaSuccess;
}

cudaError_t cudaEventRecordWithFlags(cudaEvent_t ev, cudaStream_t st, unsigned flags)
{
    if (spoilt)
        return last_error;
    if (!ev || (flags & ~(unsigned)cudaEventRecordExternal))
        return fail(cudaErrorInvalidValue);
    /* inside a capture a plain record is no operation: it marks the
     * point of the stream that a wait for it joins; an external one is
     * an event-record node */
    if (st && st->cap && !(flags & cudaEventRecordExternal)) {
        ev->cap = st->cap->id;
        ev->nodes = st->tail;
        return cudaSuccess;
    }
    ev->cap = 0;
    kemu_submit(st, [=] {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ev->t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        ev->recorded = 1;
        if (kemu_xvc)   /* how far its stream has come */
            ev->vc = *kemu_xvc;
    }, "cudaEventRecord");
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t st)
{
    return cudaEventRecordWithFlags(ev, st, cudaEventRecordDefault);
}

/* Later work on st follows the event's last record: inside a capture, an
 * edge (a stream not capturing joins the capture); outside, nothing to
 * do (the stand-in has run the work already). */
cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t ev, unsigned flags)
{
    kemu_capture *c;
    if (spoilt)
        return last_error;
    if (!ev || flags)
        return fail(cudaErrorInvalidValue);
    c = ev->cap ? capture_of(ev->cap) : NULL;
    if (!c) {
        if (st && st->cap)   /* CUDA: cudaErrorStreamCaptureIsolation */
            return refuse_in_capture("a wait for an event recorded outside the capture");
        if (kemu_race_note)
            vc_join(st ? st->vc : legacy_stream.vc, ev->vc);
        return cudaSuccess;
    }
    if (!st)
        return refuse_in_capture("the legacy stream waiting for a capture's event");
    if (!st->cap) {
        st->cap = c;
        st->tail = ev->nodes;
        c->members.push_back(st);
        c->streams++;
        return cudaSuccess;
    }
    if (st->cap != c)
        return refuse_in_capture("a wait joining two captures");
    for (int n : ev->nodes)
        if (std::find(st->tail.begin(), st->tail.end(), n) == st->tail.end())
            st->tail.push_back(n);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (spoilt)
        return last_error;
    if (!ms || !start || !end)
        return fail(cudaErrorInvalidValue);
    if (!start->recorded || !end->recorded)
        return fail(cudaErrorInvalidResourceHandle);
    *ms = (float)((end->t - start->t) * 1e3);
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}

/* each operation's ancestors through the dependencies (which lead only
 * to earlier operations), for kemu_op_follows */
static void graph_before(kemu_graph *g)
{
    size_t n = g->ops.size(), words = (n + 63) / 64;
    g->before.assign(n, std::vector<uint64_t>(words, 0));
    for (size_t i = 0; i < n; i++)
        for (int d : g->deps[i])
            if (d >= 0) {
                for (size_t k = 0; k < words; k++)
                    g->before[i][k] |= g->before[(size_t)d][k];
                g->before[i][(size_t)d / 64] |= 1ull << ((size_t)d % 64);
            }
}

/* The order a replay runs a graph's operations in: one that its
 * dependencies allow, chosen among the ready ones by a generator seeded by
 * the launch's number (KEMU_ORDER=issue: the order they were queued in),
 * so that an operation whose dependency was forgotten (two streams
 * touching one buffer, not ordered by an event) runs too early in some
 * launch and gives a wrong result, as it may on a GPU. */
static std::vector<size_t> replay_order(const kemu_graph *g, long launch)
{
    size_t n = g->ops.size();
    std::vector<size_t> order, ready;
    std::vector<int> missing(n, 0);
    std::vector<std::vector<size_t>> next(n);
    const char *o = getenv("KEMU_ORDER");
    uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(launch + 1);
    int issue = o && !strcmp(o, "issue");
    for (size_t i = 0; i < n; i++)
        for (int d : g->deps[i])
            if (d >= 0) {
                missing[i]++;
                next[(size_t)d].push_back(i);
            }
    for (size_t i = 0; i < n; i++)
        if (!missing[i])
            ready.push_back(i);
    while (!ready.empty()) {
        size_t k = 0;
        if (issue) {
            k = (size_t)(std::min_element(ready.begin(), ready.end()) - ready.begin());
        } else {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            k = (size_t)(r % ready.size());
        }
        size_t i = ready[k];
        ready[k] = ready.back();
        ready.pop_back();
        order.push_back(i);
        for (size_t j : next[i])
            if (--missing[j] == 0)
                ready.push_back(j);
    }
    return order;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (!exec)
        return fail(cudaErrorInvalidValue);
    std::vector<size_t> order = replay_order(exec, graph_launches);
    graph_launches++;
    if (kemu_race_note) {   /* each operation seen as one of this replay */
        if (exec->before.size() != exec->ops.size())
            graph_before(exec);
        if (!++kemu_replay_no)
            kemu_replay_no = 1;
        replaying = exec;
    }
    for (size_t i : order) {
        /* what the operation was given must still be device memory: a
         * graph replayed after freeing it reaches freed memory, which on
         * a GPU is an illegal address (or, reused, someone else's) */
        for (const kemu_use &u : exec->uses[i])
            if (!alloc_of(u.p, u.bytes)) {
                fprintf(stderr,
                        "kemu: replaying a recorded graph: %s, argument %d: %zu bytes at %p are "
                        "no longer device memory (freed since it was recorded); on a GPU this "
                        "is an illegal address\n",
                        u.who, u.arg, u.bytes, u.p);
                spoilt = 1;
                last_error = cudaErrorIllegalAddress;
                return cudaSuccess;   /* a GPU would say so later, at a wait */
            }
        replayed++;
        if (kemu_race_note)
            kemu_op_no = (int)i;   /* (kemu_submit names it) */
        kemu_submit(st, exec->ops[i], exec->names[i]);
        kemu_op_no = -1;
    }
    return cudaSuccess;
}

int kemu_op_follows(int later, int earlier)
{
    return replaying && (replaying->before[(size_t)later][(size_t)earlier / 64] >>
                         ((size_t)earlier % 64) & 1);
}

int kemu_capturing(cudaStream_t st) { return st && st->cap; }

size_t kemu_device_bytes(size_t *most)
{
    if (most)
        *most = peak;
    return held;
}

void kemu_counts(long *launches, long *ops, long *refused)
{
    *launches = graph_launches;
    *ops = replayed;
    *refused = refusals;
}
}

/* kemu.cc's launch check reports here */
void kemu_set_error(cudaError_t e) { fail(e); }
