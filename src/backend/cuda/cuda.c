/* cuda.c - the CUDA backend: device memory, one stream for all work, error
 * keeping, the backend table, and the ops other than convolution (batch
 * norm, pooling, identity paths, global average pooling and cross-entropy
 * through the kernels of kernels/; the linear layer through cuBLAS).
 *
 * Everything is queued on one non-blocking stream, in program order, so
 * ops need no events between them; upload(), download() and sync() wait
 * for it.  A network may spread its ops over lanes (lane_new: more
 * backends with streams of their own), ordered by events it places.
 * Nothing is allocated while a network runs: conv_prepare and
 * pool_prepare grow the shared workspace and scratch buffers.
 *
 * Environment (read when the backend is created; see cellar(1)):
 *   CELLAR_STRICT_FP32=1   convolutions in strict FP32 (no TF32 tensor cores)
 *   CELLAR_CUDNN_FIND=1    choose convolution algorithms by timing them
 *   CELLAR_CUDA_SYNC=1     wait after every op, so an error names its op
 *   CELLAR_CUDA_DEVICE=i   the GPU to use (default 0)
 *   CELLAR_CUDA_GRAPH=0    run training steps op by op, not as recorded CUDA graphs
 *   CELLAR_DEPTHWISE=cudnn depthwise convolutions through cuDNN, not kernels/dwconv.cu
 *   CELLAR_DEPTHWISE=simple kernels/dwconv.cu without its shared-memory tiles
 *   CELLAR_POINTWISE=own   pointwise convolutions by kernels/pwconv.cu, not cuDNN
 *   CELLAR_POINTWISE=cudnn all of them by cuDNN (the default, mixed: by
 *                          kernels/pwconv.cu those cuDNN would need staged
 *                          through ReLU or from a shifted origin)
 *   CELLAR_SEPARABLE=split a separable layer's depthwise and pointwise convolutions
 *                          as two kernels each way (the default, fused: one forward,
 *                          one backward with the pointwise filter gradient,
 *                          kernels/sepconv.cu, where the two kinds run as by default
 *                          or own; =keep-mid: the forward writes the depthwise
 *                          output and that filter gradient runs apart, =forward:
 *                          fused forward only, =stride-1: the stride-2 layers'
 *                          backward apart)
 *   CELLAR_DEPTHWISE=auto, CELLAR_POINTWISE=auto: each shape's convolutions
 *                          (each direction) the fastest way, timed when preparing
 *   CELLAR_CUDA_POOL=0     device memory by cudaMalloc/cudaFree, not the stream-ordered pool
 *   CELLAR_CUDA_LANES=k    a network's independent ops on up to k streams (1 to 8, default 1)
 *   CELLAR_BN_SPLIT=0      batch norm one block per channel always (one kernel, not two)
 *   CELLAR_BN_STATS=apart  every batch norm takes its own statistics (the default,
 *                          fused: those after a fused separable forward or one of
 *                          our pointwise kernels take the sums that kernel gave as
 *                          it wrote their input, and in the backward those whose
 *                          output a fused separable backward takes, the sums of dy
 *                          that kernel gave as it wrote dy); =forward: fused in the
 *                          forward only
 *   CELLAR_FILTER_SUMS=each each split filter gradient's parts added by a kernel
 *                          of its own right after it (the default, later: up to
 *                          16 gradients' sums added by one kernel, before the
 *                          SGD step or anything else that may read them;
 *                          conv_cudnn.c)
 *   CELLAR_BN_FACTORS=apart a batch norm's backward factors from sums it took in
 *                          ranges made by a kernel of their own (the default,
 *                          fused: by the block that sums a channel's last range,
 *                          in the launch that sums) */
#include "backend/cuda/cuda.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"
#include "kernels/kernels.h"

#define BLAS_WS_BYTES ((size_t)32 << 20)

/* ---- errors ---- */

static const char *base_name(const char *path)
{
    const char *p = strrchr(path, '/');
    return p ? p + 1 : path;
}

/* the message goes to err when given, else becomes the backend's first error */
static int report(cuda_state *s, cl_err *err, const char *file, int line, const char *msg)
{
    if (err) {
        err_set_at(err, CL_ERR_BACKEND, file, line, "CUDA backend: %s (%s:%d)", msg,
                   base_name(file), line);
    } else if (!s->failed) {
        s->failed = 1;
        err_set_at(&s->err, CL_ERR_BACKEND, file, line, "CUDA backend: %s (%s:%d)", msg,
                   base_name(file), line);
    }
    return 0;
}

int cuda_fail_at(cuda_state *s, const char *file, int line, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return report(s, NULL, file, line, msg);
}

int cuda_rt_ok(cuda_state *s, cl_err *err, cudaError_t e, const char *what, const char *file,
               int line)
{
    char msg[768];
    if (e == cudaSuccess)
        return 1;
    /* taken here, so that it is not the thread's last error for the next
     * launch to report as its own (a sticky error stays and shows at the
     * next wait) */
    (void)cudaGetLastError();
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    return report(s, err, file, line, msg);
}

int cuda_dnn_ok(cuda_state *s, cl_err *err, cudnnStatus_t st, const char *what, const char *file,
                int line)
{
    char msg[768], detail[512];
    if (st == CUDNN_STATUS_SUCCESS)
        return 1;
    detail[0] = '\0';
    cudnnGetLastErrorString(detail, sizeof detail);
    snprintf(msg, sizeof msg, "%s: %s%s%s", what, cudnnGetErrorString(st), detail[0] ? ": " : "",
             detail);
    return report(s, err, file, line, msg);
}

int cuda_blas_ok(cuda_state *s, cl_err *err, cublasStatus_t st, const char *what,
                 const char *file, int line)
{
    char msg[768];
    if (st == CUBLAS_STATUS_SUCCESS)
        return 1;
    snprintf(msg, sizeof msg, "%s: %s (%s)", what, cublasGetStatusString(st),
             cublasGetStatusName(st));
    return report(s, err, file, line, msg);
}

void cuda_after_op(cuda_state *s, const char *op)
{
    char what[160];
    if (!s->debug_sync || s->failed)
        return;
    snprintf(what, sizeof what, "%s (CELLAR_CUDA_SYNC: waiting after it)", op);
    RT_OK(s, cudaStreamSynchronize(s->stream), what);
}

/* a kernel launcher's status: the launch itself, then the debug wait */
#define LAUNCH(s, call, op)              \
    do {                                 \
        if (RT_OK((s), (call), (op)))    \
            cuda_after_op((s), (op));    \
    } while (0)

/* ---- memory ---- */

cudaError_t cuda_dev_alloc(cuda_state *s, void **p, size_t bytes)
{
    cudaError_t e;
    *p = NULL;
    if (!s->pools)
        return cudaMalloc(p, bytes ? bytes : 1);
    if ((e = cudaMallocAsync(p, bytes ? bytes : 1, s->stream)) != cudaSuccess)
        return e;
    /* the allocation is done: the memory is good on every stream */
    if ((e = cudaStreamSynchronize(s->stream)) != cudaSuccess) {
        (void)cudaFreeAsync(*p, s->stream);
        *p = NULL;
    }
    return e;
}

cudaError_t cuda_dev_free(cuda_state *s, void *p)
{
    cudaError_t e;
    if (!p)
        return cudaSuccess;
    if (s->pools)
        return cudaFreeAsync(p, s->stream);   /* after the work queued so far */
    /* the memory may still be in use by queued work */
    if ((e = cudaStreamSynchronize(s->stream)) != cudaSuccess)
        return e;
    return cudaFree(p);
}

static void *cuda_alloc(cl_backend *be, size_t bytes)
{
    void *p = NULL;
    if (cuda_dev_alloc(cuda_of(be), &p, bytes) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory is not sticky: clear it */
        return NULL;
    }
    return p;
}

static void cuda_free(cl_backend *be, void *p)
{
    cuda_state *s = cuda_of(be);
    if (p)
        RT_OK(s, cuda_dev_free(s, p), s->pools ? "cudaFreeAsync" : "cudaFree");
}

/* Uploads wait until the copy is done: callers reuse or free the host
 * buffer at once (net_init_params does), and CUDA only says a copy from
 * pageable memory "might" be synchronous.  A few uploads per step. */
static void cuda_upload(cl_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_state *s = cuda_of(be);
    cuda_psum_join(s);
    if (bytes &&
        RT_OK(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s->stream),
              "cudaMemcpyAsync (upload)"))
        RT_OK(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (upload)");
}

static void cuda_download(cl_backend *be, void *dst, const void *src, size_t bytes)
{
    cuda_state *s = cuda_of(be);
    if (!bytes)
        return;
    cuda_psum_join(s);
    if (RT_OK(s, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s->stream),
              "cudaMemcpyAsync (download)"))
        RT_OK(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize (download)");
}

static void cuda_zero(cl_backend *be, void *p, size_t bytes)
{
    cuda_state *s = cuda_of(be);
    cuda_psum_join(s);
    if (bytes)
        RT_OK(s, cudaMemsetAsync(p, 0, bytes, s->stream), "cudaMemsetAsync");
}

/* Reports the first error since the last sync.  The backend then goes on
 * if the GPU still works (a cuDNN refusal, an op that was not prepared):
 * the search engine fails that one trial and trains the next.  An error
 * that spoils the CUDA context keeps coming back from the wait. */
/* After a failure the parent's events were not queued (a failed backend
 * queues nothing), so its lanes' work is waited for here, stream by
 * stream, before the failure is cleared and the next work may start. */
static void wait_lanes(cuda_state *s)
{
    for (int i = 0; i < s->n_lane; i++)
        (void)cudaStreamSynchronize(s->lane[i]->stream);
    (void)cudaGetLastError();
}

/* A lane's failure becomes its parent's (once; the lane's is cleared, as
 * its parent's will be when reported).  Returns s->failed. */
static int take_lane_failures(cuda_state *s)
{
    for (int i = 0; i < s->n_lane; i++) {
        cuda_state *l = s->lane[i];
        if (!l->failed)
            continue;
        if (!s->failed) {
            s->failed = 1;
            s->err = l->err;
        }
        l->failed = 0;
        err_clear(&l->err);
    }
    return s->failed;
}

static int cuda_sync(cl_backend *be, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    int rc;
    cuda_psum_join(s);
    if (!s->failed)
        RT_OK(s, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize");
    /* a lane's failure is its parent's (the lane's work was joined to
     * this stream, so it has been waited for) */
    if (!take_lane_failures(s))
        return CL_OK;
    if (err)
        *err = s->err;
    rc = s->err.code;
    (void)cudaGetLastError();
    wait_lanes(s);
    if (cudaStreamSynchronize(s->stream) == cudaSuccess) {
        s->failed = 0;
        err_clear(&s->err);
    }
    return rc;
}

int cuda_grow(cuda_state *s, void **buf, size_t bytes, const char *what, cl_err *err)
{
    void *p = NULL;
    char msg[160];
    /* the new buffer first: on failure the old one stays as it was */
    if (cuda_dev_alloc(s, &p, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        return ERR_SET(err, CL_ERR_NOMEM,
                       "CUDA backend: cannot allocate %.1f MiB of GPU memory for %s",
                       (double)bytes / (1 << 20), what);
    }
    snprintf(msg, sizeof msg, "cudaMemsetAsync (%s)", what);
    if (!RT_OK_E(s, err, cudaMemsetAsync(p, 0, bytes ? bytes : 1, s->stream), msg)) {
        (void)cuda_dev_free(s, p);
        return CL_ERR_BACKEND;
    }
    if (*buf) {
        /* freed after the queued work that may still use it */
        snprintf(msg, sizeof msg, "freeing the old %s", what);
        if (!RT_OK_E(s, err, cuda_dev_free(s, *buf), msg)) {
            (void)cuda_dev_free(s, p);
            return CL_ERR_BACKEND;
        }
    }
    *buf = p;
    return CL_OK;
}

int cuda_reserve_stage(cuda_state *s, size_t floats, cl_err *err)
{
    int rc;
    if (floats <= s->stage_floats)
        return CL_OK;
    if ((rc = cuda_grow(s, (void **)&s->stage_in, floats * sizeof(float), "convolution staging", err)) ||
        (rc = cuda_grow(s, (void **)&s->stage_grad, floats * sizeof(float), "convolution staging", err)))
        return rc;
    s->stage_floats = floats;
    return CL_OK;
}

/* ---- pooling ---- */

static int cuda_pool_prepare(cl_backend *be, const pool_desc *d, int n, int c, int h, int w,
                             cl_err *err)
{
    cuda_state *s = cuda_of(be);
    size_t count = (size_t)n * c * pool_out(d, h) * pool_out(d, w);
    int rc;
    if (d->kind != POOL_MAX || count <= s->pool_idx_count)
        return CL_OK;
    if ((rc = cuda_grow(s, (void **)&s->pool_idx, count * sizeof(int), "max-pool indices", err)))
        return rc;
    s->pool_idx_count = count;
    return CL_OK;
}

static void cuda_pool_fwd(cl_backend *be, const pool_desc *d, tview x, tview y, int acc,
                          const float *sscale)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_pool_fwd(s->stream, d->kind == POOL_MAX, d->k, d->s, d->p, x, y, acc, sscale),
           d->kind == POOL_MAX ? "max pool forward kernel" : "average pool forward kernel");
}

static void cuda_pool_bwd(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                          const float *sscale)
{
    cuda_state *s = cuda_of(be);
    int max = d->kind == POOL_MAX;
    if (s->failed)
        return;
    if (max && (size_t)dy.n * dy.c * dy.h * dy.w > s->pool_idx_count) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "max pool %dx%d backward on %dx%dx%dx%d: not prepared (pool_prepare)", d->k,
                     d->k, x.n, x.c, x.h, x.w);
        return;
    }
    LAUNCH(s, k_pool_bwd(s->stream, max, d->k, d->s, d->p, x, dy, dx, acc, sscale,
                         max ? s->pool_idx : NULL),
           max ? "max pool backward kernels" : "average pool backward kernel");
}

/* ---- batch norm ---- */

/* How many ranges each channel's n*h*w values are cut into: one block per
 * channel when there are channels enough for about four blocks per
 * multiprocessor, else about that many blocks in all, each range at least
 * 1024 values (4 a thread), within the scratch made at creation.  A
 * batch norm moves little and waits on memory: its time goes by how many
 * loads are in flight, so blocks enough to fill the GPU, even short ones,
 * beat fewer longer ones (at the proxy's batch 128 on 132
 * multiprocessors: 16 channels in 33 ranges, 32 in 17, 64 at 8x8 in 8,
 * where at least 4096 values a range left the 8x8 stage 128 blocks, one
 * a multiprocessor). */
static int bn_parts(const cuda_state *s, tview x)
{
    long m = (long)x.n * x.h * x.w, want = 4L * s->sms, p;
    if (!s->bn_split || x.c <= 0 || x.c >= want)
        return 1;
    p = (want + x.c - 1) / x.c;
    if (p > m / 1024)
        p = m / 1024;
    if (p > BN_PART_PAIRS / x.c)
        p = BN_PART_PAIRS / x.c;
    return p < 1 ? 1 : (int)p;
}

static void cuda_bn_fwd_train(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                              const float *beta, float *save_mean, float *save_rstd,
                              float *run_mean, float *run_var, tview y, int acc,
                              const float *sscale, tview y2, int acc2)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    LAUNCH(s, k_bn_fwd_train_split(s->stream, d->eps, d->momentum, x, gamma, beta, save_mean,
                                   save_rstd, run_mean, run_var, y, acc, sscale, y2, acc2,
                                   bn_parts(s, x), s->bn_part),
           "batch norm (training) kernel");
}

static void cuda_bn_affine(cl_backend *be, const bn_desc *d, tview x, int train,
                           const double *stats, int parts, const float *gamma, const float *beta,
                           float *save_mean, float *save_rstd, float *run_mean, float *run_var,
                           float *ab)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    if (!train)
        LAUNCH(s, k_bn_affine_eval(s->stream, d->eps, x.c, gamma, beta, run_mean, run_var, ab),
               "batch norm scale and shift (evaluation) kernel");
    else
        LAUNCH(s, k_bn_affine_parts(s->stream, d->eps, d->momentum, x, gamma, beta, save_mean,
                                    save_rstd, run_mean, run_var, parts, stats, ab),
               "batch norm scale and shift (training, statistics given) kernel");
}

static void cuda_bn_fwd_parts(cl_backend *be, const bn_desc *d, tview x, const double *stats,
                              int parts, const float *gamma, const float *beta, float *save_mean,
                              float *save_rstd, float *run_mean, float *run_var, tview y, int acc,
                              const float *sscale, tview y2, int acc2)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    LAUNCH(s, k_bn_fwd_train_parts(s->stream, d->eps, d->momentum, x, gamma, beta, save_mean,
                                   save_rstd, run_mean, run_var, y, acc, sscale, y2, acc2, parts,
                                   stats, bn_parts(s, x)),
           "batch norm (training, statistics given) kernel");
}

static void cuda_bn_bwd_parts(cl_backend *be, tview x, tview dy, const double *stats, int parts,
                              const float *gamma, const float *save_mean, const float *save_rstd,
                              const float *sscale, tview dx, int acc, float *dgamma, float *dbeta)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    LAUNCH(s, k_bn_bwd_parts(s->stream, x, dy, gamma, save_mean, save_rstd, sscale, dx, acc,
                             dgamma, dbeta, parts, stats, bn_parts(s, x)),
           "batch norm backward (sums given) kernel");
}

static void cuda_bn_bwd_factors(cl_backend *be, tview x, tview dy, const float *sscale,
                                const double *stats, int parts, const float *gamma,
                                const float *save_mean, const float *save_rstd, float *dgamma,
                                float *dbeta, float *f)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    if (stats)
        LAUNCH(s, k_bn_bwd_factors(s->stream, x, gamma, save_mean, save_rstd, dgamma, dbeta,
                                   parts, stats, f),
               "batch norm backward factors (sums given) kernel");
    else
        LAUNCH(s, k_bn_bwd_factors_dy(s->stream, x, dy, sscale, gamma, save_mean, save_rstd,
                                      dgamma, dbeta, bn_parts(s, x), s->bn_part,
                                      s->bn_count_on ? s->bn_count : NULL, f),
               "batch norm backward factors kernel");
}

static void cuda_bn_fwd_eval(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             tview y, int acc, tview y2, int acc2)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    LAUNCH(s,
           k_bn_fwd_eval(s->stream, d->eps, x, gamma, beta, run_mean, run_var, y, acc, y2, acc2),
           "batch norm (evaluation) kernel");
}

static void cuda_bn_bwd(cl_backend *be, tview x, tview dy, tview dy2, const float *gamma,
                        const float *save_mean, const float *save_rstd, const float *sscale,
                        tview dx, int acc, float *dgamma, float *dbeta)
{
    cuda_state *s = cuda_of(be);
    if (s->failed || x.c <= 0)
        return;
    LAUNCH(s, k_bn_bwd_split(s->stream, x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc,
                             dgamma, dbeta, bn_parts(s, x), s->bn_part),
           "batch norm backward kernel");
}

/* ---- identity, global average pool ---- */

static void cuda_scale_copy(cl_backend *be, tview x, tview y, int acc, const float *sscale)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_scale_copy(s->stream, x, y, acc, sscale), "scale-copy kernel");
}

static void cuda_gap_fwd(cl_backend *be, tview x, tview y)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_gap_fwd(s->stream, x, y), "global average pool kernel");
}

static void cuda_gap_bwd(cl_backend *be, tview dy, tview dx, int acc)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_gap_bwd(s->stream, dy, dx, acc), "global average pool backward kernel");
}

/* ---- linear: row-major x[n][k], w[m][k], y[n][m] ----
 * cuBLAS is column-major: a row-major [r][c] matrix is its transpose there,
 * so y^T = w x^T is gemm(T, N) of w (k x m, ld k) and x^T (k x n, ld k). */

static void cuda_linear_fwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                            const float *b, float *y)
{
    cuda_state *s = cuda_of(be);
    const float one = 1.f;
    if (s->failed)
        return;
    if (!RT_OK(s, k_bias_rows(s->stream, n, m, b, y), "linear bias kernel"))
        return;
    if (BLAS_OK(s, cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, w, k, x, k, &one,
                               y, m),
                "cublasSgemm (linear forward)"))
        cuda_after_op(s, "linear forward");
}

static void cuda_linear_bwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                            const float *dy, float *dx, int acc, float *dw, float *db)
{
    cuda_state *s = cuda_of(be);
    const float one = 1.f, zero = 0.f;
    if (s->failed)
        return;
    /* dx^T (k x n) = w^T (k x m) dy^T (m x n) */
    if (dx && !BLAS_OK(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_N, k, n, m, &one, w, k, dy,
                                      m, acc ? &one : &zero, dx, k),
                       "cublasSgemm (linear input gradient)"))
        return;
    /* dw^T (k x m) = x^T (k x n) dy (n x m) */
    if (!BLAS_OK(s, cublasSgemm(s->blas, CUBLAS_OP_N, CUBLAS_OP_T, k, m, n, &one, x, k, dy, m,
                                &zero, dw, k),
                 "cublasSgemm (linear weight gradient)"))
        return;
    LAUNCH(s, k_col_sum(s->stream, n, m, dy, db), "linear bias gradient kernel");
}

/* ---- loss, optimizer ---- */

static void cuda_xent(cl_backend *be, int n, int m, const float *logits, const int *labels,
                      float *loss, int *correct, float *dlogits, const step_ref *sr)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_xent(s->stream, n, m, logits, labels, loss, correct, dlogits, sr),
           "softmax cross-entropy kernel");
}

static void cuda_sgd(cl_backend *be, long count, float *p, const float *g, float *v, float lr,
                     float mom, float wd, int first, const step_ref *sr)
{
    cuda_state *s = cuda_of(be);
    cuda_psum_join(s);
    if (s->failed)
        return;
    LAUNCH(s, k_sgd(s->stream, count, p, g, v, lr, mom, wd, first, sr), "SGD kernel");
}

/* ---- batches, drop-path ---- */

static void cuda_batch_gather(cl_backend *be, const batch_desc *d, const uint8_t *images,
                              const uint8_t *labels, const int *idx, int n, float *x, int *y,
                              const step_ref *sr)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    if (d->c < 1 || d->c > BATCH_MAX_CHANNELS) {
        cuda_fail_at(s, __FILE__, __LINE__, "batch of %d-channel images: at most %d channels",
                     d->c, BATCH_MAX_CHANNELS);
        return;
    }
    LAUNCH(s, k_batch_gather(s->stream, d, images, labels, idx, n, x, y, sr),
           "batch gather kernel");
}

static void cuda_drop_draw(cl_backend *be, uint64_t seed, long step, float prob, long count,
                           const int *pairs, int n_sums, long row, float *scale,
                           const step_ref *sr)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_drop_draw(s->stream, seed, step, prob, count, pairs, n_sums, row, scale, sr),
           "drop-path kernel");
}

static void cuda_step_next(cl_backend *be, const step_ref *sr)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, k_step_next(s->stream, sr), "step counter kernel");
}

/* ---- recorded steps (CUDA graphs) ----
 * A step is recorded by stream capture: the ops queued between graph_begin
 * and graph_end become one graph, instantiated once and launched per step
 * with a single call, so the host's cost of a step no longer grows with
 * its thousand-odd kernels and cuDNN calls.  Whatever varies from step to
 * step is read by the kernels from the backend's memory (step_ref). */

static int cuda_graph_begin(cl_backend *be, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    if (!s->graphs)
        return ERR_SET(err, CL_ERR_UNSUPPORTED, "CUDA graphs are off (CELLAR_CUDA_GRAPH=0)");
    if (s->debug_sync)
        return ERR_SET(err, CL_ERR_UNSUPPORTED,
                       "CELLAR_CUDA_SYNC waits after every op, which a recorded step cannot");
    if (take_lane_failures(s))
        return ERR_SET(err, CL_ERR_BACKEND, "%s", s->err.msg);
    cuda_psum_join(s);   /* not into the recording */
    if (!RT_OK_E(s, err,
                 cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal),
                 "cudaStreamBeginCapture")) {
        (void)cudaGetLastError(); /* or the next kernel launch would report it */
        return CL_ERR_BACKEND;
    }
    s->capturing = 1;
    return CL_OK;
}

/* a recorded step: what is launched, and how many operations it holds */
typedef struct cuda_graph {
    cudaGraphExec_t ex;
    long nodes;
} cuda_graph;

/* A recording that breaks (an op cuDNN will not capture, say) leaves the
 * backend as it was, so the caller goes on op by op. */
static int cuda_graph_end(cl_backend *be, void **graph, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    cudaGraph_t g = NULL;
    cudaGraphExec_t ex = NULL;
    cudaError_t e;
    size_t nodes = 0;
    cuda_graph *cg = NULL;
    char why[600];
    *graph = NULL;
    if (!s->capturing)
        return ERR_SET(err, CL_ERR_INTERNAL, "CUDA backend: graph_end without graph_begin");
    cuda_psum_join(s);   /* into the recording */
    s->capturing = 0;
    /* an op refused on a lane spoils the recording as one refused here */
    (void)take_lane_failures(s);
    e = cudaStreamEndCapture(s->stream, &g);
    if (e == cudaSuccess && !s->failed)
        e = cudaGraphGetNodes(g, NULL, &nodes);
    if (e == cudaSuccess && !s->failed)
        e = cudaGraphInstantiate(&ex, g, 0);
    if (g)
        (void)cudaGraphDestroy(g);
    if (e == cudaSuccess && !s->failed && (cg = malloc(sizeof *cg))) {
        cg->ex = ex;
        cg->nodes = (long)nodes;
        *graph = cg;
        return CL_OK;
    }
    if (ex)
        (void)cudaGraphExecDestroy(ex);
    snprintf(why, sizeof why, "%.500s",
             s->failed ? s->err.msg : e != cudaSuccess ? cudaGetErrorString(e) : "out of memory");
    (void)cudaGetLastError();
    wait_lanes(s);
    s->failed = 0;
    err_clear(&s->err);
    return ERR_SET(err, CL_ERR_BACKEND, "recording a step as a CUDA graph failed: %s", why);
}

static void cuda_graph_run(cl_backend *be, void *graph)
{
    cuda_state *s = cuda_of(be);
    if (s->failed)
        return;
    LAUNCH(s, cudaGraphLaunch(((cuda_graph *)graph)->ex, s->stream), "cudaGraphLaunch (a step)");
}

static long cuda_graph_size(cl_backend *be, void *graph)
{
    (void)be;
    return graph ? ((cuda_graph *)graph)->nodes : 0;
}

static void cuda_graph_free(cl_backend *be, void *graph)
{
    cuda_state *s = cuda_of(be);
    if (!graph)
        return;
    (void)cudaStreamSynchronize(s->stream);
    RT_OK(s, cudaGraphExecDestroy(((cuda_graph *)graph)->ex), "cudaGraphExecDestroy");
    free(graph);
}

/* ---- timing marks: events on the stream (recorded into a graph as
 * event-record nodes while capturing) ---- */

static void marks_free(cuda_state *s)
{
    for (int i = 0; i < s->n_ev; i++)
        (void)cudaEventDestroy(s->ev[i]);
    free(s->ev);
    s->ev = NULL;
    s->n_ev = 0;
}

static int cuda_marks(cl_backend *be, int n, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    if (s->n_ev)
        (void)cudaStreamSynchronize(s->stream);
    marks_free(s);
    if (n <= 0)
        return CL_OK;
    if (!(s->ev = calloc((size_t)n, sizeof *s->ev)))
        return ERR_SET(err, CL_ERR_NOMEM, "out of memory for %d timing marks", n);
    for (; s->n_ev < n; s->n_ev++)
        if (!RT_OK_E(s, err, cudaEventCreate(&s->ev[s->n_ev]), "cudaEventCreate (a timing mark)")) {
            marks_free(s);
            (void)cudaGetLastError();
            return err ? err->code : CL_ERR_BACKEND;
        }
    return CL_OK;
}

static void cuda_mark(cl_backend *be, int i)
{
    cuda_state *s = cuda_of(be);
    cuda_psum_join(s);   /* timed with the op that left them */
    if (s->failed || i < 0 || i >= s->n_ev)
        return;
    if (s->capturing)
        RT_OK(s, cudaEventRecordWithFlags(s->ev[i], s->stream, cudaEventRecordExternal),
              "cudaEventRecordWithFlags (a timing mark in a graph)");
    else
        RT_OK(s, cudaEventRecord(s->ev[i], s->stream), "cudaEventRecord (a timing mark)");
}

static int cuda_mark_times(cl_backend *be, double *t, int n, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    int rc = cuda_sync(be, err);
    if (rc)
        return rc;
    if (n > s->n_ev)
        return ERR_SET(err, CL_ERR_ARG, "%d timing marks asked for, %d made", n, s->n_ev);
    if (n > 0)
        t[0] = 0.0;
    for (int i = 1; i < n; i++) {
        float ms = 0.f;
        if (!RT_OK_E(s, err, cudaEventElapsedTime(&ms, s->ev[0], s->ev[i]),
                     "cudaEventElapsedTime (timing marks)")) {
            (void)cudaGetLastError();
            return err ? err->code : CL_ERR_BACKEND;
        }
        t[i] = ms * 1e-3;
    }
    return CL_OK;
}

/* ---- siblings, memory ---- */

static int cuda_create_on(int dev, cl_backend **out, cl_err *err);

/* A second backend on the same GPU: its own stream, cuDNN and cuBLAS
 * handles and workspaces, so two children's work can overlap there. */
static int cuda_fork(cl_backend *be, cl_backend **out, cl_err *err)
{
    return cuda_create_on(cuda_of(be)->device, out, err);
}

static void cuda_destroy(cl_backend *be);

/* A lane: a sibling whose failures its parent reports (cuda_sync) */
static int cuda_lane_new(cl_backend *be, cl_backend **out, cl_err *err)
{
    cuda_state *s = cuda_of(be), **grown;
    int rc;
    if (!(grown = realloc(s->lane, (size_t)(s->n_lane + 1) * sizeof *grown)))
        return ERR_SET(err, CL_ERR_NOMEM, "CUDA backend: out of memory for a lane");
    s->lane = grown;
    if ((rc = cuda_create_on(s->device, out, err)))
        return rc;
    if (!RT_OK_E(s, err,
                 cudaEventCreateWithFlags(&cuda_of(*out)->psum_done, cudaEventDisableTiming),
                 "cudaEventCreateWithFlags (a lane's filter-gradient sums)")) {
        (void)cudaGetLastError();
        cuda_destroy(*out);
        *out = NULL;
        return CL_ERR_BACKEND;
    }
    cuda_of(*out)->parent = s;
    s->lane[s->n_lane++] = cuda_of(*out);
    return CL_OK;
}

static void *cuda_event_new(cl_backend *be, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    cudaEvent_t ev = NULL;
    if (!RT_OK_E(s, err, cudaEventCreateWithFlags(&ev, cudaEventDisableTiming),
                 "cudaEventCreateWithFlags (ordering lanes)")) {
        (void)cudaGetLastError();
        return NULL;
    }
    return ev;
}

static void cuda_event_record(cl_backend *be, void *ev)
{
    cuda_state *s = cuda_of(be);
    if (!s->failed)
        RT_OK(s, cudaEventRecord((cudaEvent_t)ev, s->stream), "cudaEventRecord (ordering lanes)");
}

static void cuda_event_wait(cl_backend *be, void *ev)
{
    cuda_state *s = cuda_of(be);
    if (!s->failed)
        RT_OK(s, cudaStreamWaitEvent(s->stream, (cudaEvent_t)ev, 0),
              "cudaStreamWaitEvent (ordering lanes)");
}

static void cuda_event_free(cl_backend *be, void *ev)
{
    (void)be;
    if (ev)
        (void)cudaEventDestroy((cudaEvent_t)ev);
}

static int cuda_mem_free(cl_backend *be, size_t *bytes)
{
    cuda_state *s = cuda_of(be);
    size_t free_b = 0, total = 0;
    cl_err why = {0};
    /* a question, not an op: a failure is answered, not kept as the
     * backend's error (which would fail the work queued on it) */
    if (!RT_OK_E(s, &why, cudaSetDevice(s->device), "cudaSetDevice") ||
        !RT_OK_E(s, &why, cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo")) {
        (void)cudaGetLastError(); /* or the next kernel launch would report it */
        return CL_ERR_BACKEND;
    }
    /* and what the pool keeps for reuse */
    if (s->pools) {
        uint64_t reserved = 0, used = 0;
        if (cudaMemPoolGetAttribute(s->pool, cudaMemPoolAttrReservedMemCurrent, &reserved) ==
                cudaSuccess &&
            cudaMemPoolGetAttribute(s->pool, cudaMemPoolAttrUsedMemCurrent, &used) == cudaSuccess &&
            reserved > used)
            free_b += (size_t)(reserved - used);
        (void)cudaGetLastError();
    }
    *bytes = free_b;
    return CL_OK;
}

/* ---- the backend ---- */

static const cl_backend cuda_table = {
    .name = "cuda",
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .zero = cuda_zero,
    .sync = cuda_sync,
    .destroy = cuda_destroy,
    .conv_prepare = cuda_conv_prepare,
    .pool_prepare = cuda_pool_prepare,
    .conv_fwd = cuda_conv_fwd,
    .conv_stats_parts = cuda_conv_stats_parts,
    .conv_fwd_stats = cuda_conv_fwd_stats,
    .conv_bwd_data = cuda_conv_bwd_data,
    .conv_bwd_filter = cuda_conv_bwd_filter,
    .conv_bwd = cuda_conv_bwd,
    .sep_fwd = cuda_sep_fwd,
    .sep_stats_parts = cuda_sep_stats_parts,
    .sep_prepare = cuda_sep_prepare,
    .sep_bwd = cuda_sep_bwd,
    .sep_bwd_stats_parts = cuda_sep_bwd_stats_parts,
    .sep_bwd_stats = cuda_sep_bwd_stats,
    .bn_fwd_train = cuda_bn_fwd_train,
    .bn_fwd_parts = cuda_bn_fwd_parts,
    .bn_affine = cuda_bn_affine,
    .bn_fwd_eval = cuda_bn_fwd_eval,
    .bn_bwd = cuda_bn_bwd,
    .bn_bwd_parts = cuda_bn_bwd_parts,
    .bn_bwd_factors = cuda_bn_bwd_factors,
    .pool_fwd = cuda_pool_fwd,
    .pool_bwd = cuda_pool_bwd,
    .scale_copy = cuda_scale_copy,
    .gap_fwd = cuda_gap_fwd,
    .gap_bwd = cuda_gap_bwd,
    .linear_fwd = cuda_linear_fwd,
    .linear_bwd = cuda_linear_bwd,
    .xent = cuda_xent,
    .sgd = cuda_sgd,
    .batch_gather = cuda_batch_gather,
    .drop_draw = cuda_drop_draw,
    .step_next = cuda_step_next,
    .graph_begin = cuda_graph_begin,
    .graph_end = cuda_graph_end,
    .graph_run = cuda_graph_run,
    .graph_free = cuda_graph_free,
    .graph_size = cuda_graph_size,
    .marks = cuda_marks,
    .mark = cuda_mark,
    .mark_times = cuda_mark_times,
    .fork = cuda_fork,
    .mem_free = cuda_mem_free,
    .conv_choices = cuda_conv_choices,
    .lane_new = cuda_lane_new,
    .event_new = cuda_event_new,
    .event_record = cuda_event_record,
    .event_wait = cuda_event_wait,
    .event_free = cuda_event_free,
};

/* an environment switch: set, not empty and not "0" */
static int env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

const char *backend_cuda_info(void)
{
    static char info[128];
    snprintf(info, sizeof info, "cuda (cuDNN %d.%d.%d, cuBLAS; CUDA %d.%d)", CUDNN_MAJOR,
             CUDNN_MINOR, CUDNN_PATCHLEVEL, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
    return info;
}

int backend_cuda_create(cl_backend **out, cl_err *err)
{
    int count = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    const char *dv = getenv("CELLAR_CUDA_DEVICE");

    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        /* the runtime says "driver version is insufficient" where there is
         * no driver at all, which reads as if an update would do */
        if (e == cudaErrorInsufficientDriver && access("/proc/driver/nvidia/version", F_OK))
            return ERR_SET(err, CL_ERR_UNSUPPORTED,
                           "no CUDA device: no NVIDIA driver is loaded on this machine "
                           "(/proc/driver/nvidia/version is missing)");
        if (e == cudaErrorInsufficientDriver)
            return ERR_SET(err, CL_ERR_UNSUPPORTED,
                           "no CUDA device: the NVIDIA driver is older than this build's CUDA "
                           "%d.%d runtime needs (%s)",
                           CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
                           cudaGetErrorString(e));
        return ERR_SET(err, CL_ERR_UNSUPPORTED, "no CUDA device: %s", cudaGetErrorString(e));
    }
    if (count <= 0)
        return ERR_SET(err, CL_ERR_UNSUPPORTED, "no CUDA device: the driver reports none");
    if (dv && *dv) {
        long v;
        int rc = parse_long(dv, 0, count - 1, &v, "CELLAR_CUDA_DEVICE", err);
        if (rc)
            return rc;
        dev = (int)v;
    }
    return cuda_create_on(dev, out, err);
}

/* The device's stream-ordered pool, where it has one and CELLAR_CUDA_POOL
 * is not 0, made to keep what is freed for reuse (by default it would
 * give it back to the system at every wait).  Returns 1; 0 after a
 * failure kept in err. */
static int use_pool(cuda_state *s, int dev, cl_err *err)
{
    const char *v = getenv("CELLAR_CUDA_POOL");
    int has = 0;
    uint64_t keep = UINT64_MAX;
    s->pools = 0;
    if ((v && !strcmp(v, "0")) ||
        cudaDeviceGetAttribute(&has, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess ||
        !has) {
        (void)cudaGetLastError();
        return 1;
    }
    if (!RT_OK_E(s, err, cudaDeviceGetDefaultMemPool(&s->pool, dev), "cudaDeviceGetDefaultMemPool") ||
        !RT_OK_E(s, err, cudaMemPoolSetAttribute(s->pool, cudaMemPoolAttrReleaseThreshold, &keep),
                 "cudaMemPoolSetAttribute (release threshold)"))
        return 0;
    s->pools = 1;
    return 1;
}

static int cuda_create_on(int dev, cl_backend **out, cl_err *err)
{
    cuda_state *s;
    cl_backend *be;
    s = calloc(1, sizeof *s);
    be = malloc(sizeof *be);
    if (!s || !be) {
        free(s);
        free(be);
        return ERR_SET(err, CL_ERR_NOMEM, "CUDA backend: out of memory");
    }
    *be = cuda_table;
    be->threads = 1;
    be->impl = s;
    s->device = dev;
    s->strict = env_on("CELLAR_STRICT_FP32");
    s->find = env_on("CELLAR_CUDNN_FIND");
    s->debug_sync = env_on("CELLAR_CUDA_SYNC");
    {
        const char *g = getenv("CELLAR_CUDA_GRAPH"), *l = getenv("CELLAR_CUDA_LANES");
        const char *b = getenv("CELLAR_BN_SPLIT"), *bs = getenv("CELLAR_BN_STATS");
        const char *fs = getenv("CELLAR_FILTER_SUMS"), *bf = getenv("CELLAR_BN_FACTORS");
        long lanes = 1;
        s->graphs = !(g && !strcmp(g, "0"));
        s->bn_split = !(b && !strcmp(b, "0"));
        s->bn_stats = !bs || !*bs || !strcmp(bs, "fused") ? BN_STATS_FUSED
                      : !strcmp(bs, "forward")            ? BN_STATS_FORWARD
                                                          : BN_STATS_APART;
        if (bs && *bs && strcmp(bs, "apart") && strcmp(bs, "fused") && strcmp(bs, "forward")) {
            ERR_SET(err, CL_ERR_ARG, "CELLAR_BN_STATS=%s: expected fused, forward or apart", bs);
            free(s);
            free(be);
            return CL_ERR_ARG;
        }
        s->bn_count_on = !bf || !*bf || !strcmp(bf, "fused");
        if (bf && *bf && strcmp(bf, "fused") && strcmp(bf, "apart")) {
            ERR_SET(err, CL_ERR_ARG, "CELLAR_BN_FACTORS=%s: expected fused or apart", bf);
            free(s);
            free(be);
            return CL_ERR_ARG;
        }
        /* waiting after every op, each sum is added at once: an error
         * then names the gradient that made it */
        s->psum_later = !(fs && !strcmp(fs, "each")) && !s->debug_sync;
        s->psum_slots = 1;
        if (fs && *fs && strcmp(fs, "each") && strcmp(fs, "later")) {
            ERR_SET(err, CL_ERR_ARG, "CELLAR_FILTER_SUMS=%s: expected later or each", fs);
            free(s);
            free(be);
            return CL_ERR_ARG;
        }
        if (l && *l && parse_long(l, 1, 8, &lanes, "CELLAR_CUDA_LANES", err)) {
            free(s);
            free(be);
            return err ? err->code : CL_ERR_ARG;
        }
        be->lanes = (int)lanes;
    }
    if (!RT_OK_E(s, err, cudaSetDevice(dev), "cudaSetDevice") ||
        !RT_OK_E(s, err, cudaDeviceGetAttribute(&s->sms, cudaDevAttrMultiProcessorCount, dev),
                 "cudaDeviceGetAttribute (multiprocessors)") ||
        !use_pool(s, dev, err) ||
        /* what the pool keeps goes back to the device first, since cuDNN
         * and cuBLAS take their memory with cudaMalloc */
        (s->pools && !RT_OK_E(s, err, cudaMemPoolTrimTo(s->pool, 0), "cudaMemPoolTrimTo")) ||
        !RT_OK_E(s, err, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking),
                 "cudaStreamCreateWithFlags") ||
        !DNN_OK_E(s, err, cudnnCreate(&s->dnn), "cudnnCreate") ||
        !DNN_OK_E(s, err, cudnnSetStream(s->dnn, s->stream), "cudnnSetStream") ||
        !BLAS_OK_E(s, err, cublasCreate(&s->blas), "cublasCreate") ||
        !BLAS_OK_E(s, err, cublasSetStream(s->blas, s->stream), "cublasSetStream") ||
        /* the linear layer in full FP32, TF32 or not for convolutions */
        !BLAS_OK_E(s, err, cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode") ||
        /* 32 MiB, NVIDIA's advice for Hopper; a workspace of our own keeps
         * cuBLAS from allocating while a step is recorded */
        !RT_OK_E(s, err, cuda_dev_alloc(s, &s->blas_ws, BLAS_WS_BYTES),
                 "allocating the cuBLAS workspace") ||
        !BLAS_OK_E(s, err, cublasSetWorkspace(s->blas, s->blas_ws, BLAS_WS_BYTES),
                   "cublasSetWorkspace") ||
        !RT_OK_E(s, err,
                 cuda_dev_alloc(s, (void **)&s->bn_part, BN_PART_PAIRS * 2 * sizeof(double)),
                 "allocating the batch-norm partial sums") ||
        !RT_OK_E(s, err,
                 cuda_dev_alloc(s, (void **)&s->bn_count, BN_PART_PAIRS * sizeof(unsigned)),
                 "allocating the batch-norm counters") ||
        !RT_OK_E(s, err,
                 cudaMemsetAsync(s->bn_count, 0, BN_PART_PAIRS * sizeof(unsigned), s->stream),
                 "zeroing the batch-norm counters") ||
        cuda_conv_init(s, err)) {
        int code = err ? err->code : CL_ERR_BACKEND;
        cuda_destroy(be);
        return code ? code : CL_ERR_BACKEND;
    }
    cuda_set_detail(be);
    *out = be;
    return CL_OK;
}

const char *cuda_impl_name(int impl)
{
    static const char *const name[IMPL_MIXED + 1] = {"cudnn", "own", "simple", "auto", "mixed"};
    return impl >= 0 && impl <= IMPL_MIXED ? name[impl] : "?";
}

void cuda_set_detail(cl_backend *be)
{
    cuda_state *s = cuda_of(be);
    char how[2][64], lanes[24] = "";
    for (int k = 0; k < 2; k++) {
        int impl = k ? s->pw_impl : s->dw_impl, *p = s->picks[k];
        if (impl != IMPL_AUTO)
            snprintf(how[k], sizeof how[k], "%s", cuda_impl_name(impl));
        else if (k == 0)
            snprintf(how[k], sizeof how[k], "auto (own %d, simple %d, cudnn %d)", p[IMPL_OWN],
                     p[IMPL_SIMPLE], p[IMPL_CUDNN]);
        else
            snprintf(how[k], sizeof how[k], "auto (own %d, cudnn %d)", p[IMPL_OWN],
                     p[IMPL_CUDNN]);
    }
    if (be->lanes > 1)
        snprintf(lanes, sizeof lanes, ", %d lanes", be->lanes);
    snprintf(s->detail, sizeof s->detail, "depthwise %s, pointwise %s, separable %s%s%s, %s%s",
             how[0], how[1],
             !cuda_sep_on(s, SEP_BWD)  ? (cuda_sep_on(s, SEP_FWD) ? "forward" : "split")
             : !(s->sep & SEP_PWF)     ? "fused, depthwise output kept"
             : !(s->sep & SEP_S2)      ? "fused, stride-2 backward apart"
                                       : "fused",
             s->bn_stats == BN_STATS_APART     ? ", batch-norm statistics apart"
             : s->bn_stats == BN_STATS_FORWARD ? ", batch-norm statistics fused forward"
                                               : "",
             !s->psum_later ? ", filter sums each" : "", s->strict ? "fp32" : "tf32", lanes);
    be->detail = s->detail;
}

static void cuda_destroy(cl_backend *be)
{
    cuda_state *s = cuda_of(be);
    /* errors here have nowhere to go: the backend is going away */
    if (s->stream)
        (void)cudaStreamSynchronize(s->stream);
    if (s->parent) {   /* a lane leaves its parent's list */
        cuda_state *p = s->parent;
        for (int i = 0; i < p->n_lane; i++)
            if (p->lane[i] == s) {
                p->lane[i] = p->lane[--p->n_lane];
                break;
            }
    }
    for (int i = 0; i < s->n_lane; i++)   /* lanes outliving their parent */
        s->lane[i]->parent = NULL;
    free(s->lane);
    marks_free(s);
    if (s->psum_done)
        (void)cudaEventDestroy(s->psum_done);
    cuda_conv_free(s);
    (void)cuda_dev_free(s, s->stage_in);
    (void)cuda_dev_free(s, s->stage_grad);
    (void)cuda_dev_free(s, s->pool_idx);
    (void)cuda_dev_free(s, s->bn_part);
    (void)cuda_dev_free(s, s->bn_count);
    if (s->blas)
        (void)cublasDestroy(s->blas);
    (void)cuda_dev_free(s, s->blas_ws);
    if (s->dnn)
        (void)cudnnDestroy(s->dnn);
    if (s->stream) {
        (void)cudaStreamSynchronize(s->stream);   /* the frees queued on it */
        (void)cudaStreamDestroy(s->stream);
    }
    (void)cudaGetLastError();
    free(s);
    free(be);
}
