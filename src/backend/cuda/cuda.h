/* cuda.h - internals shared by the CUDA backend's files (cuda.c: memory,
 * the table and the small ops; conv_cudnn.c: convolutions through cuDNN,
 * depthwise ones through kernels/dwconv.cu).
 *
 * Errors.  The ops of the backend table return nothing, and their work
 * runs later on the GPU anyway, so a failing call (a launch, cuDNN,
 * cuBLAS) is kept as the backend's first error with the call, the op and
 * the library's message; from then on ops do nothing until sync() reports
 * it (and clears it, unless the CUDA context is spoilt, as after an
 * illegal address: then every later sync fails too).  Preparing calls
 * report through their own cl_err at once. */
#ifndef CELLAR_BACKEND_CUDA_H
#define CELLAR_BACKEND_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "backend/backend.h"
#include "kernels/kernels.h"

#define CONV_BUCKETS 256
#define BN_PART_PAIRS 8192

typedef struct conv_entry conv_entry;

/* How a kind of convolution runs: cuDNN, our kernels (depthwise ones
 * tiled in shared memory), our depthwise kernels without tiles, or the
 * fastest of those for each shape and direction; or, for pointwise ones,
 * mixed: our kernels where cuDNN would need the input staged (read
 * through ReLU, or from a shifted origin), cuDNN for the rest.  The ways
 * are IMPL_CUDNN to IMPL_SIMPLE; auto and mixed choose among them. */
enum { IMPL_CUDNN, IMPL_OWN, IMPL_SIMPLE, IMPL_AUTO, IMPL_MIXED };
/* s->sep's bits: which directions of a separable layer run fused */
enum { SEP_FWD = 1, SEP_BWD = 2, SEP_PWF = 4, SEP_S2 = 8 };   /* SEP_PWF: the backward takes
                                                              * the pointwise filter gradient
                                                              * too; SEP_S2: the backward
                                                              * takes stride 2 too */
/* s->bn_stats: where batch norms' sums come from the kernel before them */
enum { BN_STATS_APART, BN_STATS_FORWARD, BN_STATS_FUSED };

/* "cudnn", "own", "simple", "auto", "mixed" */
const char *cuda_impl_name(int impl);

typedef struct cuda_state {
    int device;
    int sms;             /* the device's multiprocessors */
    cudaStream_t stream;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    int strict;          /* CELLAR_STRICT_FP32: no TF32 in convolutions */
    int find;            /* CELLAR_CUDNN_FIND: benchmark algorithms when preparing */
    int debug_sync;      /* CELLAR_CUDA_SYNC: synchronise and check after every op */
    int graphs;          /* CUDA graphs allowed (CELLAR_CUDA_GRAPH, default on) */
    int bn_split;        /* batch norm split over the batch when channels are few
                          * (CELLAR_BN_SPLIT, default on) */
    int bn_stats;        /* batch-norm sums taken by the kernels that write
                          * their input (the separable and pointwise forward)
                          * or, in the backward, dy (the separable backward):
                          * BN_STATS_* (CELLAR_BN_STATS: fused, the default,
                          * forward or apart) */
    int capturing;       /* between graph_begin and graph_end */
    void *blas_ws;       /* cuBLAS's workspace, given once so that it never
                          * allocates inside a recorded step */
    int failed;
    cl_err err;          /* the first failure of an op */
    cudaEvent_t *ev;     /* timing marks (be->marks) */
    int n_ev;
    int pools;           /* memory from the device's stream-ordered pool */
    cudaMemPool_t pool;
    /* lanes (be->lane_new): a lane's parent, whose sync reports the
     * lane's failures; a parent's lanes */
    struct cuda_state *parent;
    struct cuda_state **lane;
    int n_lane;
    cudaEvent_t psum_done;   /* a lane's: its sums left for later added (cuda_psum_join) */

    /* convolutions (conv_cudnn.c) */
    cudnnTensorDescriptor_t td_a, td_b;   /* set per call */
    void *ws;                             /* one workspace for every algorithm */
    size_t ws_bytes, ws_limit;
    conv_entry *convs[CONV_BUCKETS];

    /* scratch, grown only while preparing */
    float *stage_in, *stage_grad;         /* conv inputs through ReLU / shifted */
    size_t stage_floats;
    int *pool_idx;                        /* max-pool arg-max */
    size_t pool_idx_count;
    double *bn_part;                      /* batch-norm partial sums: BN_PART_PAIRS
                                           * (channel, range) pairs of two */
    unsigned *bn_count;                   /* BN_PART_PAIRS counters, zero between
                                           * launches: each channel's ranges summed,
                                           * where the block summing the last makes
                                           * the backward's factors (bn_count_on,
                                           * CELLAR_BN_FACTORS=fused, the default;
                                           * apart: a launch of their own) */
    int bn_count_on;

    /* convolutions by our own kernels: depthwise (kernels/dwconv.cu, unless
     * CELLAR_DEPTHWISE says otherwise), pointwise (kernels/pwconv.cu, with
     * CELLAR_POINTWISE=own); with "auto", whichever is the fastest for each
     * shape and direction, timed when preparing (conv_cudnn.c) */
    int dw_impl, pw_impl;                 /* IMPL_* */
    int sep;                              /* SEP_FWD | SEP_BWD | SEP_PWF: separable
                                           * layers' halves in one kernel, forward
                                           * and backward with the pointwise filter
                                           * gradient (CELLAR_SEPARABLE, default
                                           * fused: all) where both are ours */
    int picks[2][IMPL_AUTO];              /* auto: the choices made, depthwise
                                           * and pointwise, by IMPL_* */
    char detail[256];                     /* be->detail */
    /* their filter gradients' partial sums (and the separable backward's):
     * psum_slots slots of part_floats each.  With psum_later
     * (CELLAR_FILTER_SUMS=later, the default) a filter gradient leaves its
     * parts in the next free slot and its sum in pend, and the sums are
     * added together, one launch for all, when the slots are full or
     * before anything may read a gradient (cuda_psum_flush); otherwise
     * one slot, each sum added at once. */
    float *part;
    size_t part_floats;
    int psum_later, psum_slots;
    k_psum_set pend;
} cuda_state;

static inline cuda_state *cuda_of(cl_backend *be) { return (cuda_state *)be->impl; }

/* Record the backend's first error (printf-style); returns 0 (not ok). */
int cuda_fail_at(cuda_state *s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when the call succeeded; otherwise the backend's first error (or *err
 * when err is not NULL) gets "<what>: <library message>" and 0 is returned.
 * `what` names the call and the op, e.g. "cudnnConvolutionForward (conv 3x3 ...)". */
int cuda_rt_ok(cuda_state *s, cl_err *err, cudaError_t e, const char *what, const char *file,
               int line);
int cuda_dnn_ok(cuda_state *s, cl_err *err, cudnnStatus_t st, const char *what, const char *file,
                int line);
int cuda_blas_ok(cuda_state *s, cl_err *err, cublasStatus_t st, const char *what,
                 const char *file, int line);

#define RT_OK(s, call, what) cuda_rt_ok((s), NULL, (call), (what), __FILE__, __LINE__)
#define DNN_OK(s, call, what) cuda_dnn_ok((s), NULL, (call), (what), __FILE__, __LINE__)
#define BLAS_OK(s, call, what) cuda_blas_ok((s), NULL, (call), (what), __FILE__, __LINE__)
/* the same, reporting into a caller's cl_err (preparing, creating) */
#define RT_OK_E(s, e, call, what) cuda_rt_ok((s), (e), (call), (what), __FILE__, __LINE__)
#define DNN_OK_E(s, e, call, what) cuda_dnn_ok((s), (e), (call), (what), __FILE__, __LINE__)
#define BLAS_OK_E(s, e, call, what) cuda_blas_ok((s), (e), (call), (what), __FILE__, __LINE__)

/* With CELLAR_CUDA_SYNC set: wait for the op and check it, so an error
 * shows at the op that caused it. */
void cuda_after_op(cuda_state *s, const char *op);

/* Device memory.  Where the GPU has a stream-ordered pool (and
 * CELLAR_CUDA_POOL is not 0) it comes from there: cudaMallocAsync on the
 * backend's stream (then waited for, so the memory may be used on any
 * stream) and cudaFreeAsync after the work queued so far, neither of which
 * waits for the rest of the GPU, so one child's memory comes and goes
 * while other children compute; else cudaMalloc and cudaFree, which wait
 * for every stream of the device.  cuda_dev_free may be given NULL. */
cudaError_t cuda_dev_alloc(cuda_state *s, void **p, size_t bytes);
cudaError_t cuda_dev_free(cuda_state *s, void *p);

/* Replace *buf by a zeroed device buffer of `bytes`, after waiting for
 * queued work (preparing only). */
int cuda_grow(cuda_state *s, void **buf, size_t bytes, const char *what, cl_err *err);

/* Grow the staging buffers to `floats` each (preparing only). */
int cuda_reserve_stage(cuda_state *s, size_t floats, cl_err *err);

/* Write be->detail again ("depthwise own, pointwise mixed, separable fused,
 * tf32"; with auto, the choices made so far) */
void cuda_set_detail(cl_backend *be);

/* Add the filter-gradient sums left for later (s->pend), one launch. */
void cuda_psum_flush(cuda_state *s);
/* The same for s and each of its lanes, whose sums s's stream then
 * waits for: before anything may read a gradient (sgd, download, sync,
 * marks, the end of a recorded step).  A network's only reader of its
 * filter gradients is the SGD step on s, so the lanes' events between
 * ops leave the sums for later. */
void cuda_psum_join(cuda_state *s);

/* conv_cudnn.c */
int cuda_conv_prepare(cl_backend *be, const conv_desc *d, int n, int h, int w, cl_err *err);
int cuda_sep_fwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                 const float *xab, const float *wd, tview mid, const float *wp, tview y,
                 double *stats);
int cuda_sep_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                         int w);
int cuda_sep_prepare(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                     int w, int *takes, cl_err *err);
void cuda_sep_bwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                  const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                  const float *wp, tview dx, int acc, float *dwd, float *dwp);
int cuda_sep_bwd_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n,
                             int h, int w);
void cuda_sep_bwd_stats(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                        const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                        const float *wp, tview dx, float *dwd, float *dwp, tview bx,
                        const float *bmean, double *stats);
/* 1 when separable layers' halves run as one in direction dir (SEP_FWD or
 * SEP_BWD): s->sep has it, and the depthwise and pointwise ways allow it */
int cuda_sep_on(const cuda_state *s, int dir);
void cuda_conv_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc);
int cuda_conv_stats_parts(cl_backend *be, const conv_desc *d, int n, int h, int w);
void cuda_conv_fwd_stats(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y,
                         double *stats);
void cuda_conv_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                        tview dx, int acc);
void cuda_conv_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw);
void cuda_conv_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                   tview dx, int need_dx, int acc, float *dw);
int cuda_conv_choices(cl_backend *be, char *buf, size_t size);
int cuda_conv_init(cuda_state *s, cl_err *err);
void cuda_conv_free(cuda_state *s);

#endif
