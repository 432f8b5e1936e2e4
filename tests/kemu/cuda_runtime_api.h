/* cuda_runtime_api.h - the part of the CUDA runtime that kernels/ and the
 * CUDA backend (src/backend/cuda) use, for running them on the CPU (see
 * cuda_runtime.h beside this; kemu_rt.cc implements what is here).
 *
 * Device memory is host memory from kemu's cudaMalloc, filled with NaN,
 * and remembered: once a program has allocated through it, every pointer
 * a kernel is given must lie in such an allocation, and copies are held
 * to their direction.  Streams run their work at once, in order, unless
 * they are capturing: then launches, cuDNN and cuBLAS calls and copies
 * are recorded, and a graph made of them replays them (see events below).  What CUDA refuses
 * while a stream captures (waiting for it, allocating or freeing, a copy
 * between host and device) is refused the same way and spoils the
 * capture, so a recorded step that would break on a GPU breaks here. */
#ifndef KEMU_CUDA_RUNTIME_API_H
#define KEMU_CUDA_RUNTIME_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDART_VERSION 13000

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,   /* (the stand-in never gives it) */
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorIllegalState = 401,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchFailure = 719,   /* (the stand-in's: a race on device memory, kemu_race.cc) */
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureUnjoined = 904
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
} cudaStreamCaptureMode;

typedef enum cudaDeviceAttr {
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrMemoryPoolsSupported = 115
} cudaDeviceAttr;

typedef enum cudaMemPoolAttr {
    cudaMemPoolAttrReleaseThreshold = 4,
    cudaMemPoolAttrReservedMemCurrent = 5,
    cudaMemPoolAttrUsedMemCurrent = 7
} cudaMemPoolAttr;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01

typedef struct kemu_stream *cudaStream_t;
typedef struct kemu_graph *cudaGraph_t;
typedef struct kemu_graph *cudaGraphExec_t;
typedef struct kemu_graph_node *cudaGraphNode_t;
typedef struct kemu_event *cudaEvent_t;
typedef struct kemu_mem_pool *cudaMemPool_t;

#define cudaEventRecordDefault 0x00
#define cudaEventRecordExternal 0x01
#define cudaEventDisableTiming 0x02

/* under names of their own, so a test that also links the real runtime
 * (a build with CUDA) calls these */
#define cudaGetLastError kemu_get_last_error
#define cudaGetErrorString kemu_get_error_string
#define cudaGetErrorName kemu_get_error_name
#define cudaMemsetAsync kemu_memset_async
#define cudaGetDeviceCount kemu_get_device_count
#define cudaSetDevice kemu_set_device
#define cudaDeviceGetAttribute kemu_device_get_attribute
#define cudaMalloc kemu_malloc
#define cudaFree kemu_free
#define cudaMemcpyAsync kemu_memcpy_async
#define cudaMemGetInfo kemu_mem_get_info
#define cudaStreamCreateWithFlags kemu_stream_create_with_flags
#define cudaStreamDestroy kemu_stream_destroy
#define cudaStreamSynchronize kemu_stream_synchronize
#define cudaStreamBeginCapture kemu_stream_begin_capture
#define cudaStreamEndCapture kemu_stream_end_capture
#define cudaGraphInstantiate kemu_graph_instantiate
#define cudaGraphDestroy kemu_graph_destroy
#define cudaGraphExecDestroy kemu_graph_exec_destroy
#define cudaGraphLaunch kemu_graph_launch
#define cudaGraphGetNodes kemu_graph_get_nodes
#define cudaMallocAsync kemu_malloc_async
#define cudaFreeAsync kemu_free_async
#define cudaDeviceGetDefaultMemPool kemu_device_get_default_mem_pool
#define cudaMemPoolSetAttribute kemu_mem_pool_set_attribute
#define cudaMemPoolGetAttribute kemu_mem_pool_get_attribute
#define cudaMemPoolTrimTo kemu_mem_pool_trim_to
#define cudaEventCreate kemu_event_create
#define cudaEventCreateWithFlags kemu_event_create_with_flags
#define cudaStreamWaitEvent kemu_stream_wait_event
#define cudaEventDestroy kemu_event_destroy
#define cudaEventRecord kemu_event_record
#define cudaEventRecordWithFlags kemu_event_record_with_flags
#define cudaEventElapsedTime kemu_event_elapsed_time

/* the error of the last launch or call (a grid or block CUDA would
 * refuse, a call refused during capture), then cudaSuccess again */
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st);

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int dev);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t st);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

/* the stream-ordered pool: memory as from cudaMalloc, remembered as the
 * pool's; cudaFreeAsync takes only that, and frees it when its stream
 * gets there.  Inside a capture both are refused (CUDA would make graph
 * allocations of them, which cellar never asks for). */
cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t st);
cudaError_t cudaFreeAsync(void *p, cudaStream_t st);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *pool, int dev);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void *value);
/* the pool keeps nothing back here, so there is nothing to give back */
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *st, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t st);
cudaError_t cudaStreamSynchronize(cudaStream_t st);
cudaError_t cudaStreamBeginCapture(cudaStream_t st, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t st, cudaGraph_t *graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t st);
/* a graph's operations: their number (nodes NULL), else the first
 * *count of them, which here have no use but to be counted */
cudaError_t cudaGraphGetNodes(cudaGraph_t graph, cudaGraphNode_t *nodes, size_t *count);

/* Events: outside a capture a record takes the host's clock when the
 * stream reaches it, and the elapsed time of two is that clock's.  Inside
 * one, cudaEventRecordExternal records are event-record nodes, while a
 * plain record marks the point a cudaStreamWaitEvent joins: the waiting
 * stream's later work follows it, and a stream not capturing joins the
 * capture, which may then end only after every stream that joined was
 * joined back to the one that began it (else it ends with
 * cudaErrorStreamCaptureUnjoined and no graph, as on a GPU).  A graph's
 * replay runs its operations in an order its dependencies allow, drawn
 * anew at each launch (KEMU_ORDER=issue: the order they were queued in),
 * so a missing dependency between two streams shows as a wrong result. */
cudaError_t cudaEventCreate(cudaEvent_t *ev);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *ev, unsigned flags);
cudaError_t cudaStreamWaitEvent(cudaStream_t st, cudaEvent_t ev, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t ev);
cudaError_t cudaEventRecord(cudaEvent_t ev, cudaStream_t st);
cudaError_t cudaEventRecordWithFlags(cudaEvent_t ev, cudaStream_t st, unsigned flags);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* blocks run by the launches so far (for the tests' reports) */
long kemu_blocks_run(void);

/* ---- for the stand-ins of cuDNN and cuBLAS (kemu_dnn.cc) and tests ---- */

/* 1 when p (when not NULL) lies in memory from cudaMalloc (always 1
 * before the program's first cudaMalloc) */
int kemu_is_device(const void *p);
/* 1 when [p, p + bytes) lies in one allocation from cudaMalloc (or none
 * was made yet); else as kemu_device_arg: the stream fails, as an
 * illegal address would, after a message naming `who` and argument i */
int kemu_device_range(const char *who, int i, const void *p, size_t bytes);
/* whether a stream is recording now */
int kemu_capturing(cudaStream_t st);
/* the program's device memory now held, and the most it held */
size_t kemu_device_bytes(size_t *peak);
/* graphs launched, operations replayed from them, refusals met so far */
void kemu_counts(long *launches, long *replayed, long *refusals);
/* the name of the kernel launched or operation queued `back` operations
 * before the last (0: the last; "" beyond the last 8): a launch's is its
 * kernel as written, e.g. "dw_tile_k<511>" */
const char *kemu_recent_op(int back);

#ifdef __cplusplus
}
#endif

#endif
