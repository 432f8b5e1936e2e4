/* kemu_dnn.cc - cuDNN's convolutions and cuBLAS's SGEMM on the CPU, as
 * the CUDA backend calls them (cudnn.h and cublas_v2.h beside this), so
 * that src/backend/cuda runs unchanged in a test where there is no GPU.
 *
 * Descriptors hold what cuDNN's do and are read when a call is made (a
 * recorded call keeps the values of that moment, as a graph does).  A call
 * checks what cuDNN checks: set descriptors, the output shape its formula
 * gives, a workspace as large as the algorithm needs (and in device
 * memory), tensors inside device memory; then its work goes to the
 * handle's stream, run at once or recorded.  The arithmetic is the
 * definition (sums in double), independent of the CPU backend's.
 *
 * Algorithms.  So that the backend's choosing and retrying run as on a
 * GPU, each direction offers a few, with workspaces and traits of their
 * own, and refuses the rest as not supported:
 *   forward  GEMM (2: an im2col workspace; x and y 16-byte aligned, else
 *            CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER at run time),
 *            IMPLICIT_PRECOMP_GEMM (1: a small index workspace),
 *            IMPLICIT_GEMM (0: none); all deterministic, ranked 2, 1, 0.
 *   data     ALGO_0 (none, non-deterministic), ALGO_1 (im2col, deterministic).
 *   filter   ALGO_0 (none), ALGO_3 (a filter-sized workspace), both
 *            non-deterministic; ALGO_1 (im2col, deterministic; x and dy
 *            16-byte aligned, else refused at run time).
 * Math types are taken and kept but change nothing: FP32 throughout. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <vector>

#include "cuda_runtime.h"
#include "kemu_race.h"
#include "cublas_v2.h"
#include "cudnn.h"

struct kemu_dnn {
    cudaStream_t st;
};

struct kemu_tensor_desc {
    int set;
    int n, c, h, w;
    long sn, sc, sh, sw;
};

struct kemu_filter_desc {
    int set;
    int k, c, h, w;
};

struct kemu_conv_desc {
    int set;
    int ph, pw, sh, sw, dh, dw;
    int flip;   /* CUDNN_CONVOLUTION: the filter turned round */
    int groups;
    cudnnMathType_t math;
};

static char last_msg[512];

static cudnnStatus_t bad(cudnnStatus_t st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static cudnnStatus_t bad(cudnnStatus_t st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    va_end(ap);
    return st;
}

/* ---- geometry ---- */

struct geo {
    kemu_tensor_desc x, y;    /* the input and the output (forward's view) */
    kemu_filter_desc f;
    kemu_conv_desc cv;
    int cpg, kpg;             /* input and output channels per group */
};

static cudnnStatus_t geometry(const kemu_tensor_desc *x, const kemu_filter_desc *f,
                              const kemu_conv_desc *cv, const kemu_tensor_desc *y, geo *g,
                              const char *who)
{
    int ho, wo;
    if (!x || !f || !cv || !x->set || !f->set || !cv->set || (y && !y->set))
        return bad(CUDNN_STATUS_BAD_PARAM, "%s: a descriptor is missing or was never set", who);
    if (x->c != f->c * cv->groups || f->k % cv->groups)
        return bad(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                   "%s: %d input channels against a filter of %d x %d in %d groups", who, x->c,
                   f->k, f->c, cv->groups);
    ho = (x->h + 2 * cv->ph - cv->dh * (f->h - 1) - 1) / cv->sh + 1;
    wo = (x->w + 2 * cv->pw - cv->dw * (f->w - 1) - 1) / cv->sw + 1;
    if (x->h + 2 * cv->ph - cv->dh * (f->h - 1) - 1 < 0 ||
        x->w + 2 * cv->pw - cv->dw * (f->w - 1) - 1 < 0 || ho <= 0 || wo <= 0)
        return bad(CUDNN_STATUS_BAD_PARAM, "%s: no output for a %dx%d input", who, x->h, x->w);
    if (y && (y->n != x->n || y->c != f->k || y->h != ho || y->w != wo))
        return bad(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH,
                   "%s: output descriptor %dx%dx%dx%d, the convolution gives %dx%dx%dx%d", who,
                   y->n, y->c, y->h, y->w, x->n, f->k, ho, wo);
    g->x = *x;
    if (y)
        g->y = *y;
    else
        g->y = kemu_tensor_desc{1, x->n, f->k, ho, wo, (long)f->k * ho * wo, (long)ho * wo, wo, 1};
    g->f = *f;
    g->cv = *cv;
    g->cpg = f->c;
    g->kpg = f->k / cv->groups;
    return CUDNN_STATUS_SUCCESS;
}

/* for kemu_race.cc, where it is linked in: what an operation reads or
 * writes of a tensor, told element by element (a view of channels is not
 * its whole extent: another lane may write the channels between) */
static void note_tensor(const kemu_tensor_desc *t, const float *p, int write)
{
    if (!kemu_race_note)
        return;
    for (int i = 0; i < t->n; i++)
        for (int c = 0; c < t->c; c++)
            for (int y = 0; y < t->h; y++) {
                const float *r = p + i * t->sn + c * t->sc + y * t->sh;
                if (t->sw == 1)
                    kemu_race_note(r, (size_t)t->w * sizeof *r, write);
                else
                    for (int x = 0; x < t->w; x++)
                        kemu_race_note(r + x * t->sw, sizeof *r, write);
            }
}

/* ... and of a column-major matrix, rows x cols, its columns ld apart */
static void note_columns(const float *p, int ld, int rows, int cols, int write)
{
    for (int j = 0; j < cols; j++)
        kemu_race_note(p + (long)j * ld, (size_t)rows * sizeof *p, write);
}

static size_t extent_bytes(const kemu_tensor_desc *t)
{
    return ((size_t)(t->n - 1) * t->sn + (size_t)(t->c - 1) * t->sc + (size_t)(t->h - 1) * t->sh +
            (size_t)(t->w - 1) * t->sw + 1) *
           sizeof(float);
}

static size_t im2col_bytes(const geo *g)
{
    return (size_t)g->cpg * g->f.h * g->f.w * g->y.h * g->y.w * sizeof(float);
}

enum { DIR_FWD, DIR_DATA, DIR_FILTER };

/* the workspace of an algorithm, or a refusal */
static cudnnStatus_t need_of(int dir, int algo, const geo *g, size_t *bytes)
{
    *bytes = 0;
    switch (dir) {
    case DIR_FWD:
        if (algo == 0)
            return CUDNN_STATUS_SUCCESS;
        if (algo == 1) {
            *bytes = (size_t)g->y.h * g->y.w * 2 * sizeof(int);
            return CUDNN_STATUS_SUCCESS;
        }
        if (algo == 2) {
            *bytes = im2col_bytes(g);
            return CUDNN_STATUS_SUCCESS;
        }
        break;
    case DIR_DATA:
        if (algo == 0)
            return CUDNN_STATUS_SUCCESS;
        if (algo == 1) {
            *bytes = im2col_bytes(g);
            return CUDNN_STATUS_SUCCESS;
        }
        break;
    default:
        if (algo == 0)
            return CUDNN_STATUS_SUCCESS;
        if (algo == 1) {
            *bytes = im2col_bytes(g);
            return CUDNN_STATUS_SUCCESS;
        }
        if (algo == 3) {
            *bytes = (size_t)g->f.k * g->f.c * g->f.h * g->f.w * sizeof(float);
            return CUDNN_STATUS_SUCCESS;
        }
        break;
    }
    return bad(CUDNN_STATUS_NOT_SUPPORTED, "algorithm %d of this direction is not supported here",
               algo);
}

static const int fwd_rank[] = {2, 1, 0, 3, 4, 5, 6, 7};
static const int data_rank[] = {0, 1, 2, 3, 4, 5};
static const int filter_rank[] = {0, 3, 1, 2, 4, 5, 6};

/* as cuDNN documents them: ALGO_0 of both gradients and the filter's
 * ALGO_3 sum in no fixed order */
static int deterministic(int dir, int algo)
{
    return dir == DIR_FWD || (algo != 0 && !(dir == DIR_FILTER && algo == 3));
}

/* ---- the arithmetic ---- */

static inline long at(const kemu_tensor_desc &t, long n, long c, long h, long w)
{
    return n * t.sn + c * t.sc + h * t.sh + w * t.sw;
}

static inline long tap(const geo &g, int k, int c, int r, int s)
{
    if (g.cv.flip) {
        r = g.f.h - 1 - r;
        s = g.f.w - 1 - s;
    }
    return (((long)k * g.f.c + c) * g.f.h + r) * g.f.w + s;
}

/* The taps of a dimension that land inside the input, listed three ways
 * so that the loops below neither test bounds nor multiply indices: by
 * output position (for each o in order, its taps t in order, with the
 * input offset i * istride), by tap (for each t in order, its outputs o
 * in order, with the offsets o * ostride and i * istride) and by input
 * position (for each i, the outputs o it reaches in order, with o *
 * ostride and the tap).  Each sum adds its terms in the order the
 * definition's loops meet them. */
struct tap_lists {
    std::vector<int> by_out, tap;          /* by_out[o] .. by_out[o + 1]: o's taps */
    std::vector<long> in_off;              /* ... their input offsets */
    std::vector<int> by_tap;               /* by_tap[t] .. by_tap[t + 1]: t's outputs */
    std::vector<long> t_out_off, t_in_off; /* ... their output and input offsets */
    std::vector<int> by_in, i_tap;         /* by_in[i] .. by_in[i + 1]: i's outputs, their taps */
    std::vector<long> i_out_off;           /* ... and output offsets */
};

static tap_lists taps_of(int out, int in, int k, int stride, int pad, int dil, long ostride,
                         long istride)
{
    tap_lists l;
    l.by_out.push_back(0);
    for (int o = 0; o < out; o++) {
        for (int t = 0; t < k; t++) {
            int i = o * stride - pad + t * dil;
            if (i >= 0 && i < in) {
                l.tap.push_back(t);
                l.in_off.push_back(i * istride);
            }
        }
        l.by_out.push_back((int)l.tap.size());
    }
    l.by_tap.push_back(0);
    for (int t = 0; t < k; t++) {
        for (int o = 0; o < out; o++) {
            int i = o * stride - pad + t * dil;
            if (i >= 0 && i < in) {
                l.t_out_off.push_back(o * ostride);
                l.t_in_off.push_back(i * istride);
            }
        }
        l.by_tap.push_back((int)l.t_out_off.size());
    }
    l.by_in.push_back(0);
    for (int i = 0; i < in; i++) {
        for (int o = 0; o < out; o++)
            for (int t = 0; t < k; t++)
                if (o * stride - pad + t * dil == i) {
                    l.i_tap.push_back(t);
                    l.i_out_off.push_back(o * ostride);
                }
        l.by_in.push_back((int)l.i_tap.size());
    }
    return l;
}

/* the filter as the sums read it: [k][c][r][s] with CUDNN_CONVOLUTION's
 * turn made */
static std::vector<float> turned(const geo &g, const float *w)
{
    std::vector<float> wf((size_t)g.f.k * g.f.c * g.f.h * g.f.w);
    size_t i = 0;
    for (int k = 0; k < g.f.k; k++)
        for (int c = 0; c < g.f.c; c++)
            for (int r = 0; r < g.f.h; r++)
                for (int q = 0; q < g.f.w; q++)
                    wf[i++] = w[tap(g, k, c, r, q)];
    return wf;
}

/* y = alpha conv(x, w) + beta y */
static void run_fwd(const geo &g, float alpha, float beta, const float *x, const float *w,
                    float *y)
{
    tap_lists rows = taps_of(g.y.h, g.x.h, g.f.h, g.cv.sh, g.cv.ph, g.cv.dh, 0, g.x.sh);
    tap_lists cols = taps_of(g.y.w, g.x.w, g.f.w, g.cv.sw, g.cv.pw, g.cv.dw, 0, g.x.sw);
    std::vector<float> wf = turned(g, w);
    long fhw = (long)g.f.h * g.f.w;
    for (int n = 0; n < g.x.n; n++)
        for (int k = 0; k < g.f.k; k++) {
            int c0 = k / g.kpg * g.cpg;
            const float *xb = x + at(g.x, n, c0, 0, 0), *wk = &wf[(size_t)k * g.cpg * fhw];
            for (int oh = 0; oh < g.y.h; oh++)
                for (int ow = 0; ow < g.y.w; ow++) {
                    double sum = 0.0;
                    for (int cc = 0; cc < g.cpg; cc++)
                        for (int ri = rows.by_out[oh]; ri < rows.by_out[oh + 1]; ri++) {
                            const float *xr = xb + cc * g.x.sc + rows.in_off[ri];
                            const float *wr = wk + cc * fhw + rows.tap[ri] * g.f.w;
                            for (int qi = cols.by_out[ow]; qi < cols.by_out[ow + 1]; qi++)
                                sum += (double)xr[cols.in_off[qi]] * wr[cols.tap[qi]];
                        }
                    float *o = &y[at(g.y, n, k, oh, ow)];
                    *o = (float)(alpha * sum + (beta != 0.f ? (double)beta * *o : 0.0));
                }
        }
}

/* dx = alpha conv^T(dy, w) + beta dx: each dx gathers its terms in the
 * order the definition's scatter (over k, then oh, then ow) adds them */
static void run_data(const geo &g, float alpha, float beta, const float *w, const float *dy,
                     float *dx)
{
    tap_lists rows = taps_of(g.y.h, g.x.h, g.f.h, g.cv.sh, g.cv.ph, g.cv.dh, g.y.sh, 0);
    tap_lists cols = taps_of(g.y.w, g.x.w, g.f.w, g.cv.sw, g.cv.pw, g.cv.dw, g.y.sw, 0);
    std::vector<float> wf = turned(g, w);
    long fhw = (long)g.f.h * g.f.w;
    for (int n = 0; n < g.x.n; n++)
        for (int c = 0; c < g.x.c; c++) {
            int k0 = c / g.cpg * g.kpg, cc = c % g.cpg;
            for (int ih = 0; ih < g.x.h; ih++)
                for (int iw = 0; iw < g.x.w; iw++) {
                    double sum = 0.0;
                    for (int k = k0; k < k0 + g.kpg; k++) {
                        const float *yk = dy + at(g.y, n, k, 0, 0);
                        const float *wk = &wf[((size_t)k * g.cpg + cc) * fhw];
                        for (int ri = rows.by_in[ih]; ri < rows.by_in[ih + 1]; ri++) {
                            const float *yr = yk + rows.i_out_off[ri];
                            const float *wr = wk + rows.i_tap[ri] * g.f.w;
                            for (int qi = cols.by_in[iw]; qi < cols.by_in[iw + 1]; qi++)
                                sum += (double)yr[cols.i_out_off[qi]] * wr[cols.i_tap[qi]];
                        }
                    }
                    float *o = &dx[at(g.x, n, c, ih, iw)];
                    *o = (float)(alpha * sum + (beta != 0.f ? (double)beta * *o : 0.0));
                }
        }
}

/* dw = alpha sum over the batch of dy x + beta dw (dw dense [k][c][r][s]) */
static void run_filter(const geo &g, float alpha, float beta, const float *x, const float *dy,
                       float *dw)
{
    tap_lists rows = taps_of(g.y.h, g.x.h, g.f.h, g.cv.sh, g.cv.ph, g.cv.dh, g.y.sh, g.x.sh);
    tap_lists cols = taps_of(g.y.w, g.x.w, g.f.w, g.cv.sw, g.cv.pw, g.cv.dw, g.y.sw, g.x.sw);
    for (int k = 0; k < g.f.k; k++) {
        int c0 = k / g.kpg * g.cpg;
        for (int cc = 0; cc < g.cpg; cc++)
            for (int r = 0; r < g.f.h; r++)
                for (int q = 0; q < g.f.w; q++) {
                    double sum = 0.0;
                    for (int n = 0; n < g.x.n; n++) {
                        const float *yb = dy + at(g.y, n, k, 0, 0);
                        const float *xb = x + at(g.x, n, c0 + cc, 0, 0);
                        for (int ri = rows.by_tap[r]; ri < rows.by_tap[r + 1]; ri++) {
                            const float *yr = yb + rows.t_out_off[ri], *xr = xb + rows.t_in_off[ri];
                            for (int qi = cols.by_tap[q]; qi < cols.by_tap[q + 1]; qi++)
                                sum += (double)yr[cols.t_out_off[qi]] * xr[cols.t_in_off[qi]];
                        }
                    }
                    float *o = &dw[tap(g, k, cc, r, q)];
                    *o = (float)(alpha * sum + (beta != 0.f ? (double)beta * *o : 0.0));
                }
    }
}

/* ---- cuDNN ---- */

extern "C" {

cudnnStatus_t cudnnCreate(cudnnHandle_t *h)
{
    *h = new kemu_dnn();
    (*h)->st = NULL;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroy(cudnnHandle_t h)
{
    delete h;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t st)
{
    if (!h)
        return bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnSetStream: no handle");
    h->st = st;
    return CUDNN_STATUS_SUCCESS;
}

const char *cudnnGetErrorString(cudnnStatus_t st)
{
    switch (st) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER:
        return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    }
    return "CUDNN_STATUS_UNKNOWN";
}

void cudnnGetLastErrorString(char *message, size_t max)
{
    if (max)
        snprintf(message, max, "%s", last_msg);
    last_msg[0] = '\0';
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *t)
{
    *t = new kemu_tensor_desc();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t t)
{
    delete t;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t t, cudnnDataType_t type, int n,
                                           int c, int h, int w, int nStride, int cStride,
                                           int hStride, int wStride)
{
    if (!t)
        return bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "cudnnSetTensor4dDescriptorEx: no descriptor");
    if (type != CUDNN_DATA_FLOAT)
        return bad(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetTensor4dDescriptorEx: only float here");
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || nStride <= 0 || cStride <= 0 || hStride <= 0 ||
        wStride <= 0)
        return bad(CUDNN_STATUS_BAD_PARAM,
                   "cudnnSetTensor4dDescriptorEx: sizes %dx%dx%dx%d, strides %d %d %d %d", n, c,
                   h, w, nStride, cStride, hStride, wStride);
    *t = kemu_tensor_desc{1, n, c, h, w, nStride, cStride, hStride, wStride};
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *f)
{
    *f = new kemu_filter_desc();
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t f)
{
    delete f;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t f, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w)
{
    if (type != CUDNN_DATA_FLOAT || format != CUDNN_TENSOR_NCHW)
        return bad(CUDNN_STATUS_NOT_SUPPORTED, "cudnnSetFilter4dDescriptor: float NCHW only here");
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0)
        return bad(CUDNN_STATUS_BAD_PARAM, "cudnnSetFilter4dDescriptor: %dx%dx%dx%d", k, c, h, w);
    *f = kemu_filter_desc{1, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *c)
{
    *c = new kemu_conv_desc();
    (*c)->groups = 1;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t c)
{
    delete c;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t c, int pad_h,
                                              int pad_w, int u, int v, int dilation_h,
                                              int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute)
{
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0 ||
        compute != CUDNN_DATA_FLOAT)
        return bad(CUDNN_STATUS_BAD_PARAM,
                   "cudnnSetConvolution2dDescriptor: pad %d %d, stride %d %d, dilation %d %d", pad_h,
                   pad_w, u, v, dilation_h, dilation_w);
    c->set = 1;
    c->ph = pad_h;
    c->pw = pad_w;
    c->sh = u;
    c->sw = v;
    c->dh = dilation_h;
    c->dw = dilation_w;
    c->flip = mode == CUDNN_CONVOLUTION;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t c, int groups)
{
    if (groups <= 0)
        return bad(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionGroupCount: %d", groups);
    c->groups = groups;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t c, cudnnMathType_t m)
{
    if (m != CUDNN_DEFAULT_MATH && m != CUDNN_TENSOR_OP_MATH &&
        m != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && m != CUDNN_FMA_MATH)
        return bad(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolutionMathType: %d", (int)m);
    c->math = m;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(cudnnConvolutionDescriptor_t c,
                                                    cudnnTensorDescriptor_t x,
                                                    cudnnFilterDescriptor_t w, int *n, int *k,
                                                    int *h, int *wo)
{
    geo g = {};
    cudnnStatus_t st = geometry(x, w, c, NULL, &g, "cudnnGetConvolution2dForwardOutputDim");
    if (st)
        return st;
    *n = g.y.n;
    *k = g.y.c;
    *h = g.y.h;
    *wo = g.y.w;
    return CUDNN_STATUS_SUCCESS;
}

}

/* ---- algorithms ---- */

/* The ranking of the algorithms of direction dir on input x, filter f
 * and output y (forward's names; the gradients pass theirs in that
 * order): with find, timed as cudnnFind* would, which first waits for the
 * stream and so spoils a capture as on a GPU. */
template <typename P>
static cudnnStatus_t algorithms(int dir, cudnnHandle_t h, const kemu_tensor_desc *x,
                                const kemu_filter_desc *f, const kemu_conv_desc *c,
                                const kemu_tensor_desc *y, int want, int *got, P *p, int find,
                                const char *who)
{
    const int *order = dir == DIR_FWD ? fwd_rank : dir == DIR_DATA ? data_rank : filter_rank;
    int count = dir == DIR_FWD    ? (int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT
                : dir == DIR_DATA ? (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT
                                  : (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
    geo g = {};
    cudnnStatus_t st = geometry(x, f, c, y, &g, who);
    *got = 0;
    if (st)
        return st;
    if (find && cudaStreamSynchronize(h->st) != cudaSuccess)
        return bad(CUDNN_STATUS_INTERNAL_ERROR, "%s: waiting for the stream failed (capturing?)",
                   who);
    for (int i = 0; i < count && i < want; i++) {
        size_t bytes = 0;
        P e;
        memset(&e, 0, sizeof e);
        e.algo = (decltype(e.algo))order[i];
        e.status = need_of(dir, order[i], &g, &bytes);
        e.memory = bytes;
        e.time = e.status ? -1.f : find ? 0.1f * (float)(i + 1) : -1.f;
        e.determinism = deterministic(dir, order[i]) ? CUDNN_DETERMINISTIC : CUDNN_NON_DETERMINISTIC;
        e.mathType = c->math;
        p[(*got)++] = e;
    }
    last_msg[0] = '\0';
    return CUDNN_STATUS_SUCCESS;
}

/* the workspace of an algorithm, on descriptors in forward's order */
static cudnnStatus_t workspace(int dir, const kemu_tensor_desc *x, const kemu_filter_desc *f,
                               const kemu_conv_desc *c, const kemu_tensor_desc *y, int algo,
                               size_t *bytes, const char *who)
{
    geo g = {};
    cudnnStatus_t st = geometry(x, f, c, y, &g, who);
    return st ? st : need_of(dir, algo, &g, bytes);
}

extern "C" {

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                     cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t c,
                                                     cudnnTensorDescriptor_t y, int want,
                                                     int *got, cudnnConvolutionFwdAlgoPerf_t *p)
{
    return algorithms(DIR_FWD, h, x, w, c, y, want, got, p, 0,
                      "cudnnGetConvolutionForwardAlgorithm_v7");
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx, int want, int *got,
    cudnnConvolutionBwdDataAlgoPerf_t *p)
{
    return algorithms(DIR_DATA, h, dx, w, c, dy, want, got, p, 0,
                      "cudnnGetConvolutionBackwardDataAlgorithm_v7");
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
    cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t dw, int want, int *got,
    cudnnConvolutionBwdFilterAlgoPerf_t *p)
{
    return algorithms(DIR_FILTER, h, x, dw, c, dy, want, got, p, 0,
                      "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                   cudnnFilterDescriptor_t w,
                                                   cudnnConvolutionDescriptor_t c,
                                                   cudnnTensorDescriptor_t y, int want, int *got,
                                                   cudnnConvolutionFwdAlgoPerf_t *p)
{
    return algorithms(DIR_FWD, h, x, w, c, y, want, got, p, 1,
                      "cudnnFindConvolutionForwardAlgorithm");
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t h,
                                                        cudnnFilterDescriptor_t w,
                                                        cudnnTensorDescriptor_t dy,
                                                        cudnnConvolutionDescriptor_t c,
                                                        cudnnTensorDescriptor_t dx, int want,
                                                        int *got,
                                                        cudnnConvolutionBwdDataAlgoPerf_t *p)
{
    return algorithms(DIR_DATA, h, dx, w, c, dy, want, got, p, 1,
                      "cudnnFindConvolutionBackwardDataAlgorithm");
}

cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithm(cudnnHandle_t h,
                                                          cudnnTensorDescriptor_t x,
                                                          cudnnTensorDescriptor_t dy,
                                                          cudnnConvolutionDescriptor_t c,
                                                          cudnnFilterDescriptor_t dw, int want,
                                                          int *got,
                                                          cudnnConvolutionBwdFilterAlgoPerf_t *p)
{
    return algorithms(DIR_FILTER, h, x, dw, c, dy, want, got, p, 1,
                      "cudnnFindConvolutionBackwardFilterAlgorithm");
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, cudnnTensorDescriptor_t x,
                                                      cudnnFilterDescriptor_t w,
                                                      cudnnConvolutionDescriptor_t c,
                                                      cudnnTensorDescriptor_t y,
                                                      cudnnConvolutionFwdAlgo_t algo,
                                                      size_t *bytes)
{
    (void)h;
    return workspace(DIR_FWD, x, w, c, y, algo, bytes, "cudnnGetConvolutionForwardWorkspaceSize");
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h,
                                                           cudnnFilterDescriptor_t w,
                                                           cudnnTensorDescriptor_t dy,
                                                           cudnnConvolutionDescriptor_t c,
                                                           cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo,
                                                           size_t *bytes)
{
    (void)h;
    return workspace(DIR_DATA, dx, w, c, dy, algo, bytes,
                     "cudnnGetConvolutionBackwardDataWorkspaceSize");
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h,
                                                             cudnnTensorDescriptor_t x,
                                                             cudnnTensorDescriptor_t dy,
                                                             cudnnConvolutionDescriptor_t c,
                                                             cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo,
                                                             size_t *bytes)
{
    (void)h;
    return workspace(DIR_FILTER, x, dw, c, dy, algo, bytes,
                     "cudnnGetConvolutionBackwardFilterWorkspaceSize");
}
}

/* ---- running ---- */

/* One convolution call of direction dir on descriptors in forward's
 * order (x the input, f the filter, y the output): checks what cuDNN
 * checks (the algorithm, its workspace, alignment, each tensor in device
 * memory), then queues the work on the handle's stream.  The tensors are
 * forward's x, w, y whatever the direction: the data gradient's dx, w,
 * dy and the filter gradient's x, dw, dy. */
static cudnnStatus_t convolve(int dir, cudnnHandle_t h, const kemu_tensor_desc *xd,
                              const kemu_filter_desc *fd, const kemu_conv_desc *c,
                              const kemu_tensor_desc *yd, int algo, const void *alpha,
                              const void *beta, const void *x, const void *w, const void *y,
                              void *ws, size_t ws_bytes, const char *who)
{
    geo g = {};
    size_t need = 0;
    size_t wbytes;
    float a = *(const float *)alpha, b = *(const float *)beta;
    cudnnStatus_t st = geometry(xd, fd, c, yd, &g, who);
    if (st || (st = need_of(dir, algo, &g, &need)))
        return st;
    if (need > ws_bytes || (need && !ws))
        return bad(CUDNN_STATUS_BAD_PARAM, "%s: algorithm %d needs %zu bytes of workspace, given %zu",
                   who, algo, need, ws ? ws_bytes : 0);
    if (!x || !w || !y)
        return bad(CUDNN_STATUS_BAD_PARAM_NULL_POINTER, "%s: a NULL tensor", who);
    if (((dir == DIR_FWD && algo == 2) || (dir == DIR_FILTER && algo == 1)) &&
        (((uintptr_t)x | (uintptr_t)y) & 15))
        return bad(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER,
                   "%s: algorithm %d wants 16-byte aligned tensors", who, algo);
    wbytes = (size_t)g.f.k * g.f.c * g.f.h * g.f.w * sizeof(float);
    if (!kemu_device_range(who, 1, x, extent_bytes(&g.x)) ||
        !kemu_device_range(who, 2, w, wbytes) || !kemu_device_range(who, 3, y, extent_bytes(&g.y)) ||
        (need && !kemu_device_range(who, 4, ws, need)))
        return bad(CUDNN_STATUS_EXECUTION_FAILED, "%s: a tensor outside device memory", who);
    kemu_submit(h->st, [=] {
        /* what it reads (its output too where beta adds to it), then
         * what it writes */
        if (dir != DIR_DATA || b != 0.f)
            note_tensor(&g.x, (const float *)x, 0);
        if (dir != DIR_FWD || b != 0.f)
            note_tensor(&g.y, (const float *)y, 0);
        if (kemu_race_note) {
            if (dir != DIR_FILTER || b != 0.f)
                kemu_race_note(w, wbytes, 0);
            if (need)
                kemu_race_note(ws, need, 1);
            if (dir == DIR_FWD)
                note_tensor(&g.y, (const float *)y, 1);
            else if (dir == DIR_DATA)
                note_tensor(&g.x, (const float *)x, 1);
            else
                kemu_race_note(w, wbytes, 1);
        }
        /* the algorithm scribbles over its workspace, as a real one uses it */
        if (need)
            memset(ws, 0xa5, need);
        if (dir == DIR_FWD)
            run_fwd(g, a, b, (const float *)x, (const float *)w, (float *)y);
        else if (dir == DIR_DATA)
            run_data(g, a, b, (const float *)w, (const float *)y, (float *)x);
        else
            run_filter(g, a, b, (const float *)x, (const float *)y, (float *)w);
    }, who);
    return CUDNN_STATUS_SUCCESS;
}

extern "C" {

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha,
                                      cudnnTensorDescriptor_t xd, const void *x,
                                      cudnnFilterDescriptor_t wd, const void *w,
                                      cudnnConvolutionDescriptor_t c,
                                      cudnnConvolutionFwdAlgo_t algo, void *ws, size_t ws_bytes,
                                      const void *beta, cudnnTensorDescriptor_t yd, void *y)
{
    return convolve(DIR_FWD, h, xd, wd, c, yd, algo, alpha, beta, x, w, y, ws, ws_bytes,
                    "cudnnConvolutionForward");
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha,
                                           cudnnFilterDescriptor_t wd, const void *w,
                                           cudnnTensorDescriptor_t dyd, const void *dy,
                                           cudnnConvolutionDescriptor_t c,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *ws,
                                           size_t ws_bytes, const void *beta,
                                           cudnnTensorDescriptor_t dxd, void *dx)
{
    return convolve(DIR_DATA, h, dxd, wd, c, dyd, algo, alpha, beta, dx, w, dy, ws, ws_bytes,
                    "cudnnConvolutionBackwardData");
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha,
                                             cudnnTensorDescriptor_t xd, const void *x,
                                             cudnnTensorDescriptor_t dyd, const void *dy,
                                             cudnnConvolutionDescriptor_t c,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws,
                                             size_t ws_bytes, const void *beta,
                                             cudnnFilterDescriptor_t dwd, void *dw)
{
    return convolve(DIR_FILTER, h, xd, dwd, c, dyd, algo, alpha, beta, x, dw, dy, ws, ws_bytes,
                    "cudnnConvolutionBackwardFilter");
}

/* ---- cuBLAS ---- */

struct kemu_blas {
    cudaStream_t st;
    void *ws;
    size_t ws_bytes;
    cublasMath_t math;
};

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new kemu_blas();
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

/* as cuBLAS's does, setting the stream drops a workspace given before */
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t st)
{
    h->st = st;
    h->ws = NULL;
    h->ws_bytes = 0;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TENSOR_OP_MATH &&
        mode != CUBLAS_PEDANTIC_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    h->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes)
{
    if (((uintptr_t)ws & 255) || (bytes && !kemu_device_range("cublasSetWorkspace", 2, ws, bytes)))
        return CUBLAS_STATUS_INVALID_VALUE;   /* cuBLAS wants 256-byte alignment */
    h->ws = ws;
    h->ws_bytes = bytes;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *a, int lda,
                           const float *b, int ldb, const float *beta, float *c, int ldc)
{
    float al = *alpha, be = *beta;
    int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    if (m < 0 || n < 0 || k < 0 || lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) ||
        ldc < (m > 1 ? m : 1) || (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) ||
        (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!m || !n)
        return CUBLAS_STATUS_SUCCESS;
    if ((k && (!kemu_device_range("cublasSgemm", 7, a, ((size_t)(ac - 1) * lda + ar) * 4) ||
               !kemu_device_range("cublasSgemm", 9, b, ((size_t)(bc - 1) * ldb + br) * 4))) ||
        !kemu_device_range("cublasSgemm", 12, c, ((size_t)(n - 1) * ldc + m) * 4))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    kemu_submit(h->st, [=] {
        if (kemu_race_note) {   /* what it reads, then what it writes */
            note_columns(a, lda, ar, ac, 0);
            note_columns(b, ldb, br, bc, 0);
            if (be != 0.f)
                note_columns(c, ldc, m, n, 0);
            note_columns(c, ldc, m, n, 1);
        }
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double sum = 0.0;
                for (int l = 0; l < k; l++) {
                    float x = ta == CUBLAS_OP_N ? a[i + (long)l * lda] : a[l + (long)i * lda];
                    float y = tb == CUBLAS_OP_N ? b[l + (long)j * ldb] : b[j + (long)l * ldb];
                    sum += (double)x * y;
                }
                float *o = &c[i + (long)j * ldc];
                *o = (float)(al * sum + (be != 0.f ? (double)be * *o : 0.0));
            }
    }, "cublasSgemm");
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown error";
}

const char *cublasGetStatusName(cublasStatus_t st)
{
    switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}
}
