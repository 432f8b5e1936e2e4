/* kemu_rt.cc - the CUDA runtime of cuda_runtime_api.h on the CPU: device
 * memory, streams that run their work at once or record it, graphs made
 * of the recordings, errors.  One host thread: streams never overlap, so
 * only what happens in which order is checked here, not concurrency. */
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

#define TOTAL_BYTES ((size_t)80 << 30)   /* the memory the stand-in device reports */
#define SMS 4    /* and its multiprocessors: a small GPU, so that few blocks split a sum */

/* device memory an operation was given (argument `arg` of `who`) */
struct kemu_use {
    const char *who;
    int arg;
    const void *p;
    size_t bytes;
};

struct kemu_stream {
    int capturing, invalid;
    const char *why;                     /* what spoilt the capture */
    std::vector<std::function<void()>> ops;
    std::vector<const char *> names;     /* each op's kernel or call */
    std::vector<std::vector<kemu_use>> uses;   /* and the memory it was given */
};

struct kemu_graph {
    std::vector<std::function<void()>> ops;
    std::vector<const char *> names;
    std::vector<std::vector<kemu_use>> uses;
};

static cudaError_t last_error = cudaSuccess;
static int spoilt;                       /* an illegal address: every call fails from then on */
static std::map<uintptr_t, size_t> *allocs;
static size_t held, peak;
static long graph_launches, replayed, refusals;
static std::vector<kemu_stream *> capturing;
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

extern "C" int kemu_is_device(const void *p)
{
    return !allocs || !p || alloc_of(p, 0) != NULL;
}

/* a call CUDA refuses while this thread captures (thread-local mode):
 * every capture is spoilt */
static cudaError_t refuse_in_capture(const char *what)
{
    refusals++;
    for (kemu_stream *s : capturing)
        if (!s->invalid) {
            s->invalid = 1;
            s->why = what;
        }
    return fail(cudaErrorStreamCaptureUnsupported);
}

void kemu_submit(cudaStream_t st, std::function<void()> op, const char *name)
{
    if (spoilt)
        return;
    if (st && st->capturing) {
        st->ops.push_back(std::move(op));
        st->names.push_back(name);
        st->uses.push_back(std::move(pending_uses));
        pending_uses.clear();
        return;
    }
    pending_uses.clear();
    op();
}

/* KEMU_TRACE=1: a capture's operations counted by name, on stderr */
static void trace_capture(const kemu_graph *g)
{
    std::map<std::string, long> n;
    std::vector<std::pair<long, std::string>> v;
    const char *t = getenv("KEMU_TRACE");
    if (!t || !*t || *t == '0')
        return;
    for (const char *name : g->names)
        n[name]++;
    for (auto &kv : n)
        v.push_back({-kv.second, kv.first});
    std::sort(v.begin(), v.end());
    fprintf(stderr, "kemu: a capture of %zu operations:", g->ops.size());
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
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorStreamCaptureUnsupported:
        return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated:
        return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched:
        return "the capture was not initiated in this stream";
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
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
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

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev)
{
    if (dev != 0 ||
        (attr != cudaDevAttrMultiProcessorCount && attr != cudaDevAttrMemoryPoolsSupported))
        return fail(cudaErrorInvalidValue);
    *value = attr == cudaDevAttrMultiProcessorCount ? SMS : 1;
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
    (*allocs)[(uintptr_t)m] = bytes;
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

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (allocs && bytes && !alloc_of(p, bytes))
        return fail(cudaErrorInvalidValue);
    note_use("cudaMemsetAsync", 1, p, bytes);
    kemu_submit(st, [=] { memset(p, value, bytes); }, "cudaMemsetAsync");
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
    if (st && st->capturing && kind != cudaMemcpyDeviceToDevice)
        return refuse_in_capture("cudaMemcpyAsync between host and device");
    note_use("cudaMemcpyAsync", 1, dst, bytes);
    note_use("cudaMemcpyAsync", 2, src, bytes);
    kemu_submit(st, [=] { memcpy(dst, src, bytes); }, "cudaMemcpyAsync");
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
    (*st)->capturing = (*st)->invalid = 0;
    (*st)->why = NULL;
    return cudaSuccess;
}

static void end_capture(cudaStream_t st)
{
    for (size_t i = 0; i < capturing.size(); i++)
        if (capturing[i] == st) {
            capturing.erase(capturing.begin() + (long)i);
            break;
        }
    st->capturing = 0;
}

cudaError_t cudaStreamDestroy(cudaStream_t st)
{
    if (!st)
        return fail(cudaErrorInvalidValue);
    if (st->capturing)
        end_capture(st);
    delete st;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (st && st->capturing)
        return refuse_in_capture("cudaStreamSynchronize");
    return cudaSuccess;   /* its work has run */
}

cudaError_t cudaStreamBeginCapture(cudaStream_t st, cudaStreamCaptureMode mode)
{
    (void)mode;
    if (spoilt)
        return last_error;
    if (!st)   /* the legacy stream cannot capture */
        return fail(cudaErrorStreamCaptureUnsupported);
    if (st->capturing)
        return fail(cudaErrorIllegalState);
    st->capturing = 1;
    st->invalid = 0;
    st->why = NULL;
    st->ops.clear();
    st->names.clear();
    st->uses.clear();
    capturing.push_back(st);
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t st, cudaGraph_t *graph)
{
    *graph = NULL;
    if (!st || !st->capturing)
        return fail(cudaErrorIllegalState);
    end_capture(st);
    if (st->invalid) {
        st->ops.clear();
        st->names.clear();
        st->uses.clear();
        fprintf(stderr, "kemu: a capture was spoilt by %s during it\n", st->why);
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = new kemu_graph();
    (*graph)->ops.swap(st->ops);
    (*graph)->names.swap(st->names);
    (*graph)->uses.swap(st->uses);
    trace_capture(*graph);
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
    int recorded;
    double t;   /* seconds, the host's monotonic clock */
};

cudaError_t cudaEventCreate(cudaEvent_t *ev)
{
    if (spoilt)
        return last_error;
    if (!ev)
        return fail(cudaErrorInvalidValue);
    *ev = new kemu_event();
    (*ev)->recorded = 0;
    (*ev)->t = 0.0;
    return cudaSuccess;
}

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
    /* inside a capture only an external record becomes a node (a plain
     * one would join streams, which the stand-in's one stream has no use
     * for) */
    if (st && st->capturing && !(flags & cudaEventRecordExternal))
        return refuse_in_capture("cudaEventRecord without cudaEventRecordExternal");
    kemu_submit(st, [=] {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ev->t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
        ev->recorded = 1;
    }, "cudaEventRecord");
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t st)
{
    return cudaEventRecordWithFlags(ev, st, cudaEventRecordDefault);
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

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t st)
{
    if (spoilt)
        return last_error;
    if (!exec)
        return fail(cudaErrorInvalidValue);
    graph_launches++;
    for (size_t i = 0; i < exec->ops.size(); i++) {
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
        kemu_submit(st, exec->ops[i], exec->names[i]);
    }
    return cudaSuccess;
}

int kemu_capturing(cudaStream_t st) { return st && st->capturing; }

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
