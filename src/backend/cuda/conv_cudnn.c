/* conv_cudnn.c - convolutions of the CUDA backend through cuDNN (its
 * legacy convolution API, NCHW float32), except the depthwise ones of
 * separable convolutions: cuDNN's NCHW float32 grouped convolution with
 * one filter per channel is slow, and needs its ReLU input staged, so
 * those go to kernels/dwconv.cu, which reads through ReLU itself
 * (CELLAR_DEPTHWISE=cudnn sends them to cuDNN, to compare).  Pointwise
 * (1x1) convolutions that read through ReLU or from a shifted origin (the
 * cells' input convolutions, the factorized reduce) go to kernels/pwconv.cu,
 * which reads such inputs as they are, and the others to cuDNN: cuDNN
 * would need the first kind's input copied through ReLU into a staging
 * buffer forward, again for the filter gradient, and its data gradient
 * put back through a mask: a training step moves 10X + 3Y bytes for
 * such a convolution (X its input, Y its output) in six kernels, against
 * 4X + 3Y in three or four read in place (the "mixed" default of
 * CELLAR_POINTWISE; =cudnn sends all of them to cuDNN, =own all to
 * kernels/pwconv.cu).  Our own kernels need preparing
 * only for the filter gradient's partial sums: conv_prepare grows the one
 * scratch for them, and a filter gradient whose batch needs more than
 * there is fails as "not prepared" (forward and data gradient need
 * nothing).
 *
 * Each distinct convolution (description and input size) has an entry,
 * made by conv_prepare: its filter and convolution descriptors (groups,
 * dilation, math type) and a few cached algorithm choices per direction,
 * keyed by the batch and the image strides of the two views, since a view
 * may be a channel slice (image stride larger than c*h*w, given to cuDNN
 * as the N stride of cudnnSetTensor4dDescriptorEx).  conv_prepare chooses
 * the algorithms for the largest batch on dense tensors and grows the one
 * shared workspace to fit; a layout first seen while running is chosen
 * for then (host-side heuristics, no allocation) within the workspace
 * there is.
 *
 * What cuDNN cannot express is staged by kernels (kernels/elementwise.cu):
 * a convolution that reads through ReLU or from a shifted origin (the
 * factorized reduce's x[:, :, 1:, 1:]) gets its input copied, through
 * ReLU and cropped, into a dense staging buffer; its data gradient is
 * computed densely into a second one and put back by a kernel that masks
 * it by x > 0, fills the cropped rows and columns with zeros, and writes
 * or adds (acc).  Otherwise acc is cuDNN's beta.
 *
 * CELLAR_DEPTHWISE=auto and CELLAR_POINTWISE=auto time every way of
 * running each shape's directions when preparing and keep the fastest
 * (the auto section below).
 *
 * Algorithms: deterministic ones first, within a workspace limit
 * (CELLAR_CUDNN_WORKSPACE_MB, default 256), by cuDNN's heuristics or, with
 * CELLAR_CUDNN_FIND=1, by timing them when preparing.  TF32 is allowed
 * (CUDNN_DEFAULT_MATH) unless CELLAR_STRICT_FP32=1, which runs every
 * convolution with CUDNN_FMA_MATH. */
#include "backend/cuda/cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "kernels/conv_math.h"
#include "kernels/kernels.h"

enum { DIR_FWD, DIR_DATA, DIR_FILTER, DIR_COUNT };

static const char *const dir_name[DIR_COUNT] = {"forward", "data gradient", "filter gradient"};

#define SLOTS 16   /* layouts (batch, image strides) remembered per convolution and direction */
#define MAX_ALGOS 16

typedef struct algo_slot {
    int used;
    int n;
    long a, b;              /* image strides of the two views */
    int algo;
    cudnnMathType_t math;
} algo_slot;

struct conv_entry {
    conv_entry *next;
    conv_desc d;
    int h, w;               /* input size */
    int max_n;              /* the largest batch prepared */
    int stage;              /* input through ReLU or from a shifted origin */
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    algo_slot slot[DIR_COUNT][SLOTS];
    int victim[DIR_COUNT];  /* the slot the next new layout replaces */
    int timed;              /* auto: impl chosen */
    int impl[DIR_COUNT];    /* auto: how each direction runs (IMPL_*) */
    float ms[DIR_COUNT][IMPL_AUTO];   /* auto: each way's time (< 0: not timed) */
    char label[112];        /* for messages: "conv 3x3 s1 d1 g1 16->16 relu @32x32" */
};

/* ---- the entries ---- */

static int same_desc(const conv_desc *a, const conv_desc *b)
{
    return a->cin == b->cin && a->cout == b->cout && a->kh == b->kh && a->kw == b->kw &&
           a->sh == b->sh && a->sw == b->sw && a->ph == b->ph && a->pw == b->pw &&
           a->dh == b->dh && a->dw == b->dw && a->oy == b->oy && a->ox == b->ox &&
           a->groups == b->groups && a->relu_in == b->relu_in;
}

static unsigned bucket_of(const conv_desc *d, int h, int w)
{
    int v[] = {d->cin, d->cout, d->kh, d->kw, d->sh, d->sw, d->ph, d->pw,
               d->dh,  d->dw,   d->oy, d->ox, d->groups, d->relu_in, h, w};
    unsigned x = 2166136261u;
    for (size_t i = 0; i < CL_ARRAY_LEN(v); i++) {
        x ^= (unsigned)v[i];
        x *= 16777619u;
    }
    return x % CONV_BUCKETS;
}

static conv_entry *lookup(cuda_state *s, const conv_desc *d, int h, int w)
{
    for (conv_entry *e = s->convs[bucket_of(d, h, w)]; e; e = e->next)
        if (e->h == h && e->w == w && same_desc(&e->d, d))
            return e;
    return NULL;
}

static void entry_free(conv_entry *e)
{
    if (e->wd)
        (void)cudnnDestroyFilterDescriptor(e->wd);
    if (e->cd)
        (void)cudnnDestroyConvolutionDescriptor(e->cd);
    free(e);
}

static cudnnMathType_t base_math(const cuda_state *s)
{
    return s->strict ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

static int entry_new(cuda_state *s, const conv_desc *d, int h, int w, conv_entry **out,
                     cl_err *err)
{
    conv_entry *e = calloc(1, sizeof *e);
    char what[200];
    if (!e)
        return ERR_SET(err, CL_ERR_NOMEM, "CUDA backend: out of memory");
    e->d = *d;
    e->h = h;
    e->w = w;
    e->stage = d->relu_in || d->oy || d->ox;
    snprintf(e->label, sizeof e->label, "conv %dx%d s%dx%d d%dx%d g%d %d->%d%s%s @%dx%d", d->kh,
             d->kw, d->sh, d->sw, d->dh, d->dw, d->groups, d->cin, d->cout,
             d->relu_in ? " relu" : "", d->oy || d->ox ? " shifted" : "", h, w);
    snprintf(what, sizeof what, "describing %s", e->label);
    if (!DNN_OK_E(s, err, cudnnCreateFilterDescriptor(&e->wd), what) ||
        !DNN_OK_E(s, err,
                  cudnnSetFilter4dDescriptor(e->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->cout,
                                             d->cin / d->groups, d->kh, d->kw),
                  what) ||
        !DNN_OK_E(s, err, cudnnCreateConvolutionDescriptor(&e->cd), what) ||
        !DNN_OK_E(s, err,
                  cudnnSetConvolution2dDescriptor(e->cd, d->ph, d->pw, d->sh, d->sw, d->dh, d->dw,
                                                  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                  what) ||
        !DNN_OK_E(s, err, cudnnSetConvolutionGroupCount(e->cd, d->groups), what) ||
        !DNN_OK_E(s, err, cudnnSetConvolutionMathType(e->cd, base_math(s)), what)) {
        entry_free(e);
        return CL_ERR_BACKEND;
    }
    *out = e;
    return CL_OK;
}

/* ---- tensor descriptors ---- */

/* n images of c x h x w, rows of `rs` values, planes of `ps`, images `ns` apart */
static int set_td(cuda_state *s, cl_err *err, cudnnTensorDescriptor_t t, int n, int c, int h,
                  int w, long ns, long ps, int rs, const char *what)
{
    if (ns > 2147483647L) {
        if (!err)
            return cuda_fail_at(s, __FILE__, __LINE__, "%s: images of over 2^31 values", what);
        ERR_SET(err, CL_ERR_UNSUPPORTED, "CUDA backend: %s: images of over 2^31 values", what);
        return 0;
    }
    return DNN_OK_E(s, err,
                    cudnnSetTensor4dDescriptorEx(t, CUDNN_DATA_FLOAT, n, c, h, w, (int)ns, (int)ps,
                                                 rs, 1),
                    what);
}

/* the input as cuDNN reads it: the view, or the dense staged copy */
static int set_input_td(cuda_state *s, cl_err *err, const conv_entry *e, cudnnTensorDescriptor_t t,
                        int n, long ns, const char *what)
{
    int he = e->h - e->d.oy, we = e->w - e->d.ox;
    if (e->stage)
        return set_td(s, err, t, n, e->d.cin, he, we, (long)e->d.cin * he * we, (long)he * we, we,
                      what);
    return set_td(s, err, t, n, e->d.cin, e->h, e->w, ns, (long)e->h * e->w, e->w, what);
}

static int set_view_td(cuda_state *s, cl_err *err, cudnnTensorDescriptor_t t, tview v,
                       const char *what)
{
    return set_td(s, err, t, v.n, v.c, v.h, v.w, v.ns, tview_plane(&v), v.w, what);
}

/* ---- algorithms ---- */

typedef struct cand {
    int algo;
    cudnnStatus_t status;
    cudnnDeterminism_t det;
    cudnnMathType_t math;
} cand;

/* The workspace `algo` needs in direction dir on descriptors (ta, tb)
 * (forward: x, y; data: dy, dx; filter: x, dy), with the entry's math type
 * set to `math`; a cuDNN status. */
static cudnnStatus_t ws_need(cuda_state *s, conv_entry *e, int dir, cudnnTensorDescriptor_t ta,
                             cudnnTensorDescriptor_t tb, int algo, cudnnMathType_t math,
                             size_t *bytes)
{
    cudnnStatus_t st = cudnnSetConvolutionMathType(e->cd, math);
    if (st != CUDNN_STATUS_SUCCESS)
        return st;
    switch (dir) {
    case DIR_FWD:
        return cudnnGetConvolutionForwardWorkspaceSize(s->dnn, ta, e->wd, e->cd, tb,
                                                       (cudnnConvolutionFwdAlgo_t)algo, bytes);
    case DIR_DATA:
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            s->dnn, e->wd, ta, e->cd, tb, (cudnnConvolutionBwdDataAlgo_t)algo, bytes);
    default:
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            s->dnn, ta, tb, e->cd, e->wd, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
    }
}

/* cuDNN's ranking of the algorithms (heuristics, or timings when find) */
static cudnnStatus_t rank(cuda_state *s, conv_entry *e, int dir, cudnnTensorDescriptor_t ta,
                          cudnnTensorDescriptor_t tb, int find, cand *c, int *nc)
{
    cudnnStatus_t st;
    int got = 0;
    *nc = 0;
    if ((st = cudnnSetConvolutionMathType(e->cd, base_math(s))) != CUDNN_STATUS_SUCCESS)
        return st;
    /* timing takes buffers with cudaMalloc: the pool's reserve back first,
     * or the algorithms that need much memory are not timed */
    if (find && s->pools && cudaMemPoolTrimTo(s->pool, 0) != cudaSuccess)
        (void)cudaGetLastError();
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t p[MAX_ALGOS];
        st = find ? cudnnFindConvolutionForwardAlgorithm(s->dnn, ta, e->wd, e->cd, tb,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, p)
                  : cudnnGetConvolutionForwardAlgorithm_v7(s->dnn, ta, e->wd, e->cd, tb,
                                                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got,
                                                           p);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < got && i < MAX_ALGOS; i++)
            c[(*nc)++] = (cand){(int)p[i].algo, p[i].status, p[i].determinism, p[i].mathType};
    } else if (dir == DIR_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t p[MAX_ALGOS];
        st = find ? cudnnFindConvolutionBackwardDataAlgorithm(
                        s->dnn, e->wd, ta, e->cd, tb, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, p)
                  : cudnnGetConvolutionBackwardDataAlgorithm_v7(
                        s->dnn, e->wd, ta, e->cd, tb, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got,
                        p);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < got && i < MAX_ALGOS; i++)
            c[(*nc)++] = (cand){(int)p[i].algo, p[i].status, p[i].determinism, p[i].mathType};
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t p[MAX_ALGOS];
        st = find ? cudnnFindConvolutionBackwardFilterAlgorithm(
                        s->dnn, ta, tb, e->cd, e->wd, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
                        p)
                  : cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                        s->dnn, ta, tb, e->cd, e->wd, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
                        p);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < got && i < MAX_ALGOS; i++)
            c[(*nc)++] = (cand){(int)p[i].algo, p[i].status, p[i].determinism, p[i].mathType};
    }
    return st;
}

static int algo_count(int dir)
{
    return dir == DIR_FWD    ? CUDNN_CONVOLUTION_FWD_ALGO_COUNT
           : dir == DIR_DATA ? CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT
                             : CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
}

/* Choose the algorithm for direction dir on (ta, tb) whose workspace fits
 * `limit`, skipping those whose bit is set in `avoid` (0: none): cuDNN's
 * ranking, deterministic ones first, then every algorithm in turn as a last
 * resort.  Sets *algo, *math and *need; a status with a message in err. */
static int choose(cuda_state *s, conv_entry *e, int dir, cudnnTensorDescriptor_t ta,
                  cudnnTensorDescriptor_t tb, int find, size_t limit, unsigned avoid, int *algo,
                  cudnnMathType_t *math, size_t *need, cl_err *err)
{
    cand c[MAX_ALGOS];
    int nc = 0;
    char what[200];
    cudnnStatus_t st;
    snprintf(what, sizeof what, "ranking %s algorithms for %s", dir_name[dir], e->label);
    st = rank(s, e, dir, ta, tb, find, c, &nc);
    if (st != CUDNN_STATUS_SUCCESS && find)   /* timing failed (memory?): the heuristics then */
        st = rank(s, e, dir, ta, tb, 0, c, &nc);
    if (st != CUDNN_STATUS_SUCCESS)           /* no ranking: the last resort below */
        nc = 0;
    for (int pass = 0; pass < 3; pass++) {
        int n = pass < 2 ? nc : algo_count(dir);
        for (int i = 0; i < n; i++) {
            int a = pass < 2 ? c[i].algo : i;
            cudnnMathType_t m = base_math(s);
            size_t bytes = 0;
            if (a >= 0 && a < 32 && (avoid >> a & 1u))
                continue;
            if (pass < 2) {
                if (c[i].status != CUDNN_STATUS_SUCCESS ||
                    (pass == 0) != (c[i].det == CUDNN_DETERMINISTIC))
                    continue;
                /* strict FP32 keeps FMA math whatever the ranking says; otherwise
                 * FMA or the default (TF32 allowed on Ampere and later), never
                 * the tensor-op modes, which may convert FP32 to half */
                if (!s->strict)
                    m = c[i].math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
            }
            if (ws_need(s, e, dir, ta, tb, a, m, &bytes) != CUDNN_STATUS_SUCCESS || bytes > limit)
                continue;
            *algo = a;
            *math = m;
            *need = bytes;
            (void)cudnnGetLastErrorString(what, sizeof what); /* drop the refusals' messages */
            return CL_OK;
        }
    }
    return ERR_SET(err, CL_ERR_BACKEND,
                   "CUDA backend: no cuDNN %s algorithm for %s fits in %.0f MiB of workspace "
                   "(CELLAR_CUDNN_WORKSPACE_MB)%s%s",
                   dir_name[dir], e->label, (double)limit / (1 << 20),
                   st != CUDNN_STATUS_SUCCESS ? "; ranking them failed: " : "",
                   st != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(st) : "");
}

static algo_slot *find_slot(conv_entry *e, int dir, int n, long a, long b)
{
    for (int i = 0; i < SLOTS; i++) {
        algo_slot *sl = &e->slot[dir][i];
        if (sl->used && sl->n == n && sl->a == a && sl->b == b)
            return sl;
    }
    return NULL;
}

static algo_slot *store_slot(conv_entry *e, int dir, int n, long a, long b, int algo,
                             cudnnMathType_t math)
{
    algo_slot *sl = find_slot(e, dir, n, a, b);
    if (!sl) {
        sl = &e->slot[dir][e->victim[dir]];
        e->victim[dir] = (e->victim[dir] + 1) % SLOTS;
    }
    sl->used = 1;
    sl->n = n;
    sl->a = a;
    sl->b = b;
    sl->algo = algo;
    sl->math = math;
    return sl;
}

/* ---- preparing ---- */

/* CELLAR_DEPTHWISE / CELLAR_POINTWISE: "own" (our kernels), "cudnn" or
 * "auto" (the fastest for each shape); for the depthwise ones also
 * "simple" (our kernels without shared-memory tiles), for the pointwise
 * ones "mixed" (ours where cuDNN's input would be staged) */
static int which_impl(const char *name, int dflt, int dw, int *impl, cl_err *err)
{
    const char *v = getenv(name);
    *impl = dflt;
    if (!v || !*v)
        return CL_OK;
    if (!strcmp(v, "own"))
        *impl = IMPL_OWN;
    else if (!strcmp(v, "cudnn"))
        *impl = IMPL_CUDNN;
    else if (dw && !strcmp(v, "simple"))
        *impl = IMPL_SIMPLE;
    else if (!dw && !strcmp(v, "mixed"))
        *impl = IMPL_MIXED;
    else if (!strcmp(v, "auto"))
        *impl = IMPL_AUTO;
    else
        return ERR_SET(err, CL_ERR_ARG, "%s=%s: expected own, %s, cudnn or auto", name, v,
                       dw ? "simple" : "mixed");
    return CL_OK;
}

int cuda_conv_init(cuda_state *s, cl_err *err)
{
    const char *v = getenv("CELLAR_CUDNN_WORKSPACE_MB");
    long mb = 256;
    int rc;
    if (v && *v && (rc = parse_long(v, 0, 1L << 20, &mb, "CELLAR_CUDNN_WORKSPACE_MB", err)))
        return rc;
    s->ws_limit = (size_t)mb << 20;
    if ((rc = which_impl("CELLAR_DEPTHWISE", IMPL_OWN, 1, &s->dw_impl, err)) ||
        (rc = which_impl("CELLAR_POINTWISE", IMPL_MIXED, 0, &s->pw_impl, err)))
        return rc;
    v = getenv("CELLAR_SEPARABLE");
    s->sep = SEP_FWD | SEP_BWD | SEP_PWF | SEP_S2;
    if (v && *v && !strcmp(v, "split"))
        s->sep = 0;
    else if (v && *v && !strcmp(v, "forward"))
        s->sep = SEP_FWD;
    else if (v && *v && !strcmp(v, "keep-mid"))
        s->sep = SEP_FWD | SEP_BWD | SEP_S2;
    else if (v && *v && !strcmp(v, "stride-1"))
        s->sep = SEP_FWD | SEP_BWD | SEP_PWF;
    else if (v && *v && strcmp(v, "fused"))
        return ERR_SET(err, CL_ERR_ARG,
                       "CELLAR_SEPARABLE=%s: expected fused, stride-1, keep-mid, forward or split",
                       v);
    if (!DNN_OK_E(s, err, cudnnCreateTensorDescriptor(&s->td_a), "cudnnCreateTensorDescriptor") ||
        !DNN_OK_E(s, err, cudnnCreateTensorDescriptor(&s->td_b), "cudnnCreateTensorDescriptor"))
        return CL_ERR_BACKEND;
    return CL_OK;
}

void cuda_conv_free(cuda_state *s)
{
    for (int b = 0; b < CONV_BUCKETS; b++) {
        conv_entry *e = s->convs[b];
        while (e) {
            conv_entry *next = e->next;
            entry_free(e);
            e = next;
        }
        s->convs[b] = NULL;
    }
    if (s->td_a)
        (void)cudnnDestroyTensorDescriptor(s->td_a);
    if (s->td_b)
        (void)cudnnDestroyTensorDescriptor(s->td_b);
    s->td_a = s->td_b = NULL;
    (void)cuda_dev_free(s, s->ws);
    s->ws = NULL;
    s->ws_bytes = 0;
    (void)cuda_dev_free(s, s->part);
    s->part = NULL;
    s->part_floats = 0;
    s->pend.n = 0;
}

/* ---- convolutions by our own kernels (depthwise, pointwise) ---- */

enum { OWN_NONE = -1, OWN_DW, OWN_PW };   /* OWN_DW, OWN_PW: s->picks' rows */

/* the kind of convolution our kernels take d for */
static int own_kind(const conv_desc *d)
{
    return dw_handles(d) ? OWN_DW : pw_handles(d) ? OWN_PW : OWN_NONE;
}

/* how the environment asks d, a convolution of a kind, to run: a way, or
 * IMPL_AUTO (mixed is settled here) */
static int mode_of(const cuda_state *s, int kind, const conv_desc *d)
{
    int mode = kind == OWN_DW ? s->dw_impl : kind == OWN_PW ? s->pw_impl : IMPL_CUDNN;
    if (mode == IMPL_MIXED)
        mode = d->relu_in || d->oy || d->ox ? IMPL_OWN : IMPL_CUDNN;
    return mode;
}

static const char *own_name(int kind) { return kind == OWN_DW ? "depthwise" : "pointwise"; }

/* the filter gradient's partial sums for a batch of n images of h x w:
 * parts, and the floats they need (0 with one part: written in place) */
static int own_parts(const cuda_state *s, int kind, const conv_desc *d, int n, int h, int w,
                     size_t *floats)
{
    int parts;
    if (kind == OWN_DW) {
        parts = dw_filter_splits(d->cin, n, s->sms);
        *floats = (size_t)parts * d->cin * d->kh * d->kw;
    } else {
        parts = pw_filter_parts(d->cout, d->cin, (long)n * conv_out_h(d, h) * conv_out_w(d, w),
                                s->sms);
        *floats = (size_t)parts * d->cout * d->cin;
    }
    if (parts <= 1)
        *floats = 0;
    return parts;
}

/* ---- filter gradients' partial sums ----
 * A slot of s->part holds one filter gradient's parts.  With sums left
 * for later, a gradient's parts go to slot pend.n and its sum to
 * pend.e[pend.n]; the sums are added by one launch when every slot is
 * taken or before anything may read a gradient.  Up to K_PSUM_MAX slots,
 * fewer where that would take over PSUM_BYTES. */

#define PSUM_BYTES ((size_t)64 << 20)

void cuda_psum_flush(cuda_state *s)
{
    const char *what = "filter-gradient sums kernel";
    int n = 0;
    if (s->pend.n == 0)
        return;
    for (int i = 0; i < s->pend.n; i++)   /* slots left empty out */
        if (s->pend.e[i].count > 0)
            s->pend.e[n++] = s->pend.e[i];
    s->pend.n = n;
    if (n && !s->failed && RT_OK(s, k_parts_sum_set(s->stream, &s->pend), what))
        cuda_after_op(s, what);
    s->pend.n = 0;
}

void cuda_psum_join(cuda_state *s)
{
    cuda_psum_flush(s);
    for (int i = 0; i < s->n_lane; i++) {
        cuda_state *l = s->lane[i];
        if (l->pend.n == 0)
            continue;
        cuda_psum_flush(l);
        if (!l->failed && !s->failed &&
            RT_OK(l, cudaEventRecord(l->psum_done, l->stream),
                  "cudaEventRecord (a lane's filter-gradient sums)"))
            RT_OK(s, cudaStreamWaitEvent(s->stream, l->psum_done, 0),
                  "cudaStreamWaitEvent (a lane's filter-gradient sums)");
    }
}

/* room for k more sums left for later (k <= 2, the slots there are) */
static void part_room(cuda_state *s, int k)
{
    if (s->psum_later && s->pend.n + k > s->psum_slots)
        cuda_psum_flush(s);
}

/* where the j-th next filter gradient leaves its parts, and its sum
 * (NULL: added at once, parts in slot j) */
static float *part_at(cuda_state *s, int j, k_psum **later)
{
    int slot = s->psum_later ? s->pend.n + j : j;
    *later = s->psum_later ? &s->pend.e[slot] : NULL;
    return s->part + (size_t)slot * s->part_floats;
}

/* after a launcher given part_at(s, 0)'s later (a) and part_at(s, 1)'s
 * (b, or NULL): the sums left there take their slots (one left empty,
 * count 0, is passed over when they are added) */
static void parts_taken(cuda_state *s, const k_psum *a, const k_psum *b)
{
    int took = b ? 2 : 1;
    if (!a || (a->count <= 0 && (!b || b->count <= 0)))
        return;
    s->pend.n += took;
    if (s->pend.n >= s->psum_slots)
        cuda_psum_flush(s);
}

/* s->part grown to slots of `floats` (preparing only) */
static int part_reserve(cuda_state *s, size_t floats, cl_err *err)
{
    int rc, slots = 2;   /* the separable backward's two sums at least */
    if (floats <= s->part_floats)
        return CL_OK;
    if (s->psum_later) {
        size_t fit = PSUM_BYTES / (floats * sizeof(float));
        slots = fit < 2 ? 2 : fit > K_PSUM_MAX ? K_PSUM_MAX : (int)fit;
    }
    cuda_psum_flush(s);   /* the sums left for later read the old buffer */
    if ((rc = cuda_grow(s, (void **)&s->part, floats * slots * sizeof(float),
                        "filter-gradient partial sums", err)))
        return rc;
    s->part_floats = floats;
    s->psum_slots = slots;
    return CL_OK;
}

static int own_prepare(cuda_state *s, int kind, const conv_desc *d, int n, int h, int w,
                       cl_err *err)
{
    size_t floats;
    (void)own_parts(s, kind, d, n, h, w, &floats);
    return part_reserve(s, floats, err);
}

/* impl: IMPL_OWN (depthwise: tiled where the shape allows) or IMPL_SIMPLE */
static void own_fwd(cuda_state *s, int kind, int impl, const conv_desc *d, tview x,
                    const float *w, tview y, int acc)
{
    const char *what =
        kind == OWN_DW ? "depthwise convolution kernel" : "pointwise convolution kernel";
    if (RT_OK(s, kind == OWN_DW ? k_dw_fwd(s->stream, d, x, w, y, acc, impl == IMPL_OWN)
                                : k_pw_fwd(s->stream, d, x, w, y, acc),
              what))
        cuda_after_op(s, what);
}

static void own_filter(cuda_state *s, int kind, int impl, const conv_desc *d, tview x, tview dy,
                       float *dw)
{
    size_t floats;
    int parts = own_parts(s, kind, d, x.n, x.h, x.w, &floats);
    k_psum *later;
    float *part;
    const char *what = kind == OWN_DW ? "depthwise filter gradient kernel"
                                      : "pointwise filter gradient kernel";
    if (floats > s->part_floats) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "%s %dx%d filter gradient (%d->%d) on a batch of %d %dx%d images: not "
                     "prepared for it (conv_prepare)",
                     own_name(kind), d->kh, d->kw, d->cin, d->cout, x.n, x.h, x.w);
        return;
    }
    part_room(s, 1);
    part = part_at(s, 0, &later);
    if (RT_OK(s, kind == OWN_DW ? k_dw_bwd_filter(s->stream, d, x, dy, parts, part, dw,
                                                  impl == IMPL_OWN, later)
                                : k_pw_bwd_filter(s->stream, d, x, dy, parts, part, dw, later),
              what)) {
        parts_taken(s, later, NULL);
        cuda_after_op(s, what);
    }
}

static void own_data(cuda_state *s, int kind, int impl, const conv_desc *d, tview x,
                     const float *w, tview dy, tview dx, int acc)
{
    const char *what =
        kind == OWN_DW ? "depthwise data gradient kernel" : "pointwise data gradient kernel";
    if (RT_OK(s, kind == OWN_DW ? k_dw_bwd_data(s->stream, d, x, w, dy, dx, acc, impl == IMPL_OWN)
                                : k_pw_bwd_data(s->stream, d, x, w, dy, dx, acc),
              what))
        cuda_after_op(s, what);
}

/* ---- running through cuDNN ---- */

/* The entry of a running convolution, or NULL after recording why not. */
static conv_entry *entry_for(cuda_state *s, const conv_desc *d, tview x, const char *op)
{
    conv_entry *e;
    if (s->failed)
        return NULL;
    e = lookup(s, d, x.h, x.w);
    if (!e || x.n > e->max_n) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "%s of conv %dx%d (%d->%d) on a batch of %d %dx%d images: not prepared for it "
                     "(conv_prepare)",
                     op, d->kh, d->kw, d->cin, d->cout, x.n, x.h, x.w);
        return NULL;
    }
    return e;
}

/* A refusal of one algorithm that another may not share: cuDNN 9's status
 * codes are categories plus a detail (CUDNN_STATUS_NOT_SUPPORTED_LAYOUT,
 * _SHAPE, _PADDING, ...), and a pointer it cannot take (a weight or a
 * channel slice only 4-byte aligned) is a bad parameter of its own. */
static int refused(cudnnStatus_t st)
{
    return CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED ||
           st == CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER;
}

/* Run direction dir with the two descriptors already set (ta, tb as in
 * ws_need): in (the input or dy), w (weights or dy), out (y, dx or dw),
 * beta 0 or 1.  The algorithm is the cached one for this layout, else one
 * chosen now within the workspace there is; while cuDNN refuses one at run
 * time (say, for an alignment it cannot take), the next one is tried. */
static void run_dir(cuda_state *s, conv_entry *e, int dir, int n, long a, long b, const void *in,
                    const void *w, void *out, float beta)
{
    const float one = 1.f;
    algo_slot *sl = find_slot(e, dir, n, a, b);
    char what[200];
    cudnnStatus_t st = CUDNN_STATUS_SUCCESS;
    cl_err err = {0};
    unsigned avoid = 0;

    for (int attempt = 0; attempt <= algo_count(dir); attempt++) {
        if (!sl || attempt > 0) {
            int algo;
            cudnnMathType_t math;
            size_t need;
            if (choose(s, e, dir, s->td_a, s->td_b, 0, s->ws_bytes, avoid, &algo, &math, &need,
                       &err)) {
                /* nothing left: report the last refusal if there was one */
                if (sl && st != CUDNN_STATUS_SUCCESS)
                    break;
                /* err.msg has the "CUDA backend: " the report adds again */
                cuda_fail_at(s, __FILE__, __LINE__, "%s",
                             strncmp(err.msg, "CUDA backend: ", 14) ? err.msg : err.msg + 14);
                return;
            }
            sl = store_slot(e, dir, n, a, b, algo, math);
        }
        snprintf(what, sizeof what, "setting the math type of %s", e->label);
        if (!DNN_OK(s, cudnnSetConvolutionMathType(e->cd, sl->math), what))
            return;
        switch (dir) {
        case DIR_FWD:
            st = cudnnConvolutionForward(s->dnn, &one, s->td_a, in, e->wd, w, e->cd,
                                         (cudnnConvolutionFwdAlgo_t)sl->algo, s->ws, s->ws_bytes,
                                         &beta, s->td_b, out);
            break;
        case DIR_DATA:
            st = cudnnConvolutionBackwardData(s->dnn, &one, e->wd, w, s->td_a, in, e->cd,
                                              (cudnnConvolutionBwdDataAlgo_t)sl->algo, s->ws,
                                              s->ws_bytes, &beta, s->td_b, out);
            break;
        default:
            st = cudnnConvolutionBackwardFilter(s->dnn, &one, s->td_a, in, s->td_b, w, e->cd,
                                                (cudnnConvolutionBwdFilterAlgo_t)sl->algo, s->ws,
                                                s->ws_bytes, &beta, e->wd, out);
            break;
        }
        if (!refused(st))
            break;
        if (sl->algo >= 0 && sl->algo < 32)
            avoid |= 1u << sl->algo;
    }
    snprintf(what, sizeof what, "%s (%s, algorithm %d, batch %d)",
             dir == DIR_FWD    ? "cudnnConvolutionForward"
             : dir == DIR_DATA ? "cudnnConvolutionBackwardData"
                               : "cudnnConvolutionBackwardFilter",
             e->label, sl ? sl->algo : -1, n);
    if (DNN_OK(s, st, what))
        cuda_after_op(s, what);
}

/* the input as cuDNN reads it, staging it when the conv needs that */
static const float *conv_input(cuda_state *s, const conv_entry *e, tview x, long *ns)
{
    int he = x.h - e->d.oy, we = x.w - e->d.ox;
    if (!e->stage) {
        *ns = x.ns;
        return x.d;
    }
    *ns = (long)x.c * he * we;
    if (!RT_OK(s, k_conv_stage_in(s->stream, x, e->d.oy, e->d.ox, e->d.relu_in, s->stage_in),
               "conv input staging kernel (ReLU / shifted origin)"))
        return NULL;
    return s->stage_in;
}

/* the filter gradient from an input already staged (or not needing it) */
static void filter_grad(cuda_state *s, conv_entry *e, const float *in, long ns, tview dy, float *dw)
{
    if (!set_input_td(s, NULL, e, s->td_a, dy.n, ns, e->label) ||
        !set_view_td(s, NULL, s->td_b, dy, e->label))
        return;
    run_dir(s, e, DIR_FILTER, dy.n, ns, dy.ns, in, dy.d, dw, 0.f);
}

static void data_grad(cuda_state *s, conv_entry *e, tview x, const float *w, tview dy, tview dx,
                      int acc)
{
    int he = x.h - e->d.oy, we = x.w - e->d.ox;
    long gns = (long)x.c * he * we;
    if (!set_view_td(s, NULL, s->td_a, dy, e->label))
        return;
    if (!e->stage) {
        if (set_view_td(s, NULL, s->td_b, dx, e->label))
            run_dir(s, e, DIR_DATA, dy.n, dy.ns, dx.ns, dy.d, w, dx.d, acc ? 1.f : 0.f);
        return;
    }
    /* dense into staging, then masked, uncropped and written or added */
    if (!set_input_td(s, NULL, e, s->td_b, dy.n, gns, e->label))
        return;
    run_dir(s, e, DIR_DATA, dy.n, dy.ns, gns, dy.d, w, s->stage_grad, 0.f);
    if (!s->failed &&
        RT_OK(s, k_conv_stage_grad(s->stream, s->stage_grad, x, e->d.oy, e->d.ox, e->d.relu_in, dx,
                                   acc),
              "conv gradient staging kernel (ReLU mask / shifted origin)"))
        cuda_after_op(s, "conv gradient staging kernel");
}

static void dnn_fwd(cuda_state *s, conv_entry *e, tview x, const float *w, tview y, int acc)
{
    const float *in;
    long ns;
    if (!(in = conv_input(s, e, x, &ns)) ||
        !set_input_td(s, NULL, e, s->td_a, x.n, ns, e->label) ||
        !set_view_td(s, NULL, s->td_b, y, e->label))
        return;
    run_dir(s, e, DIR_FWD, x.n, ns, y.ns, in, w, y.d, acc ? 1.f : 0.f);
}

static void dnn_filter(cuda_state *s, conv_entry *e, tview x, tview dy, float *dw)
{
    const float *in;
    long ns;
    if ((in = conv_input(s, e, x, &ns)))
        filter_grad(s, e, in, ns, dy, dw);
}

/* Direction dir of convolution d, run by impl (a kind of our kernels, or
 * IMPL_CUDNN through entry e): forward x, w -> y (y given as dy); data
 * gradient dy, w -> dx (masked by x under ReLU); filter gradient x, dy ->
 * dw */
static void run_impl(cuda_state *s, const conv_desc *d, conv_entry *e, int kind, int impl,
                     int dir, tview x, const float *w, tview dy, tview dx, float *dw, int acc)
{
    if (s->failed)
        return;
    if (dir == DIR_FWD) {
        if (impl == IMPL_CUDNN)
            dnn_fwd(s, e, x, w, dy, acc);
        else
            own_fwd(s, kind, impl, d, x, w, dy, acc);
    } else if (dir == DIR_DATA) {
        if (impl == IMPL_CUDNN)
            data_grad(s, e, x, w, dy, dx, acc);
        else
            own_data(s, kind, impl, d, x, w, dy, dx, acc);
    } else if (impl == IMPL_CUDNN) {
        dnn_filter(s, e, x, dy, dw);
    } else {
        own_filter(s, kind, impl, d, x, dy, dw);
    }
}

/* ---- auto: the fastest way for each shape and direction ----
 *
 * With CELLAR_DEPTHWISE=auto (or CELLAR_POINTWISE=auto), preparing a
 * convolution our kernels take times each way of running each direction
 * on the prepared batch (dense buffers of zeros, AUTO_REPS runs after one
 * untimed, between two events on the backend's stream) and keeps the
 * fastest: our kernels, for depthwise ones also without tiles, or cuDNN
 * with its chosen algorithm, staging included.  Every way is prepared, so
 * nothing changes while running (where there is no memory for the
 * timing, our kernels run untimed; where cuDNN cannot take a shape, the
 * others are timed).  A process remembers its choices (up to
 * AUTO_CACHE shapes), so a search's children, which share their shapes,
 * and a network's lanes time each shape once; one host thread drives
 * every backend, so the table needs no lock.  A shape first met while
 * other children run on the GPU is timed among them.  The choice follows
 * timings, so two runs may choose differently and differ in rounding. */

#define AUTO_REPS 3
#define AUTO_CACHE 256

typedef struct auto_choice {
    conv_desc d;
    int h, w, n, device, strict, find;
    int impl[DIR_COUNT];
    float ms[DIR_COUNT][IMPL_AUTO];
} auto_choice;

static auto_choice auto_cache[AUTO_CACHE];
static int auto_cached;

static auto_choice *auto_known(const cuda_state *s, const conv_entry *e, int n)
{
    for (int i = 0; i < auto_cached; i++) {
        auto_choice *c = &auto_cache[i];
        if (c->h == e->h && c->w == e->w && c->n == n && c->device == s->device &&
            c->strict == s->strict && c->find == s->find && same_desc(&c->d, &e->d))
            return c;
    }
    return NULL;
}

/* the milliseconds AUTO_REPS runs of direction dir by impl take, in *ms */
static int auto_time(cuda_state *s, conv_entry *e, int kind, int impl, int dir, tview x,
                     const float *w, tview y, tview dx, float *dw, cudaEvent_t *ev, float *ms,
                     cl_err *err)
{
    char what[200];
    snprintf(what, sizeof what, "timing the %s of %s", dir_name[dir], e->label);
    for (int rep = -1; rep < AUTO_REPS; rep++) {
        if (rep == 0 && !RT_OK_E(s, err, cudaEventRecord(ev[0], s->stream), what))
            return CL_ERR_BACKEND;
        run_impl(s, &e->d, e, kind, impl, dir, x, w, y, dx, dw, 0);
        cuda_psum_flush(s);   /* a filter gradient's sum timed with it */
    }
    if (!RT_OK_E(s, err, cudaEventRecord(ev[1], s->stream), what) ||
        !RT_OK_E(s, err, cudaStreamSynchronize(s->stream), what))
        return CL_ERR_BACKEND;
    if (s->failed) {   /* the op's own error, reported by the next sync too */
        if (err)
            *err = s->err;
        return s->err.code ? s->err.code : CL_ERR_BACKEND;
    }
    return RT_OK_E(s, err, cudaEventElapsedTime(ms, ev[0], ev[1]), what) ? CL_OK
                                                                          : CL_ERR_BACKEND;
}

/* Choose how each direction of e (a convolution of `kind`) runs on
 * batches of n, by timing (or as this process chose before), cuDNN among
 * the ways when dnn (prepared for it); counted in s->picks and
 * be->detail. */
static int auto_choose(cl_backend *be, cuda_state *s, conv_entry *e, int kind, int n, int dnn,
                       cl_err *err)
{
    static const int ways[2][3] = {{IMPL_OWN, IMPL_SIMPLE, IMPL_CUDNN},
                                   {IMPL_OWN, IMPL_CUDNN, -1}};
    const conv_desc *d = &e->d;
    int ho = conv_out_h(d, e->h), wo = conv_out_w(d, e->w), rc = CL_OK;
    long xs = (long)d->cin * e->h * e->w, ys = (long)d->cout * ho * wo;
    size_t len[5] = {(size_t)n * xs, (size_t)n * xs, (size_t)n * ys,
                     (size_t)conv_weight_count(d), (size_t)conv_weight_count(d)};
    float *buf[5] = {NULL, NULL, NULL, NULL, NULL};   /* x, dx, y (and dy), w, dw */
    cudaEvent_t ev[2] = {NULL, NULL};
    auto_choice *known = dnn ? auto_known(s, e, n) : NULL;

    for (int dir = 0; dir < DIR_COUNT; dir++)
        for (int i = 0; i < IMPL_AUTO; i++)
            e->ms[dir][i] = -1.f;
    if (known) {
        memcpy(e->impl, known->impl, sizeof e->impl);
        memcpy(e->ms, known->ms, sizeof e->ms);
    } else {
        for (int i = 0; i < 5 && !rc; i++)
            rc = cuda_grow(s, (void **)&buf[i], len[i] * sizeof(float),
                           "timing a convolution's ways of running", err);
        if (!rc && (!RT_OK_E(s, err, cudaEventCreate(&ev[0]), "cudaEventCreate (auto)") ||
                    !RT_OK_E(s, err, cudaEventCreate(&ev[1]), "cudaEventCreate (auto)")))
            rc = CL_ERR_BACKEND;
        for (int dir = 0; dir < DIR_COUNT && !rc; dir++) {
            tview x = {buf[0], n, d->cin, e->h, e->w, xs}, dx = {buf[1], n, d->cin, e->h, e->w, xs};
            tview y = {buf[2], n, d->cout, ho, wo, ys};
            float best = -1.f;
            for (int i = 0; i < 3 && ways[kind][i] >= 0 && !rc; i++) {
                float ms = 0.f;
                if (ways[kind][i] == IMPL_CUDNN && !dnn)
                    continue;
                rc = auto_time(s, e, kind, ways[kind][i], dir, x, buf[3], y, dx, buf[4], ev, &ms,
                               err);
                if (!rc)
                    e->ms[dir][ways[kind][i]] = ms;
                if (!rc && (best < 0.f || ms < best)) {
                    best = ms;
                    e->impl[dir] = ways[kind][i];
                }
            }
        }
        if (rc == CL_ERR_NOMEM) {   /* no room to time them: our kernels, untimed */
            for (int dir = 0; dir < DIR_COUNT; dir++)
                e->impl[dir] = IMPL_OWN;
            rc = CL_OK;
        } else if (!rc && dnn && auto_cached < AUTO_CACHE) {
            auto_choice *c = &auto_cache[auto_cached++];
            c->d = *d;
            c->h = e->h;
            c->w = e->w;
            c->n = n;
            c->device = s->device;
            c->strict = s->strict;
            c->find = s->find;
            memcpy(c->impl, e->impl, sizeof c->impl);
            memcpy(c->ms, e->ms, sizeof c->ms);
        }
        for (int i = 0; i < 2; i++)
            if (ev[i])
                (void)cudaEventDestroy(ev[i]);
        for (int i = 0; i < 5; i++)
            (void)cuda_dev_free(s, buf[i]);
        if (rc)
            return rc;
    }
    e->timed = 1;
    for (int dir = 0; dir < DIR_COUNT; dir++)
        s->picks[kind][e->impl[dir]]++;
    cuda_set_detail(be);
    return CL_OK;
}

/* ---- preparing a convolution ---- */

/* cuDNN's side of entry e for batches up to n: algorithms, workspace,
 * staging */
static int dnn_prepare(cuda_state *s, conv_entry *e, int n, cl_err *err)
{
    const conv_desc *d = &e->d;
    int h = e->h, w = e->w;
    int he = h - d->oy, we = w - d->ox, ho = conv_out_h(d, h), wo = conv_out_w(d, w);
    int on, oc, oh, ow, rc;
    size_t most = 0;
    long xns = (long)d->cin * he * we, yns = (long)d->cout * ho * wo;
    char what[200];

    if (n <= e->max_n)
        return CL_OK;
    /* cuDNN must see the output size the CPU's formula gives */
    snprintf(what, sizeof what, "preparing %s", e->label);
    if (!set_input_td(s, err, e, s->td_a, n, xns, what) ||
        !DNN_OK_E(s, err,
                  cudnnGetConvolution2dForwardOutputDim(e->cd, s->td_a, e->wd, &on, &oc, &oh, &ow),
                  what))
        return CL_ERR_BACKEND;
    if (on != n || oc != d->cout || oh != ho || ow != wo)
        return ERR_SET(err, CL_ERR_INTERNAL,
                       "CUDA backend: cuDNN gives %s an output of %dx%dx%d, cellar %dx%dx%d",
                       e->label, oc, oh, ow, d->cout, ho, wo);
    if (e->stage && (rc = cuda_reserve_stage(s, (size_t)n * d->cin * he * we, err)))
        return rc;

    /* algorithms for dense tensors of the largest batch */
    for (int dir = 0; dir < DIR_COUNT; dir++) {
        int algo;
        cudnnMathType_t math;
        size_t need;
        long a = dir == DIR_DATA ? yns : xns, b = dir == DIR_DATA ? xns : yns;
        /* forward: x, y; data: dy, dx; filter: x, dy */
        if (dir == DIR_DATA) {
            if (!set_td(s, err, s->td_a, n, d->cout, ho, wo, yns, (long)ho * wo, wo, what) ||
                !set_input_td(s, err, e, s->td_b, n, xns, what))
                return CL_ERR_BACKEND;
        } else {
            if (!set_input_td(s, err, e, s->td_a, n, xns, what) ||
                !set_td(s, err, s->td_b, n, d->cout, ho, wo, yns, (long)ho * wo, wo, what))
                return CL_ERR_BACKEND;
        }
        if ((rc = choose(s, e, dir, s->td_a, s->td_b, s->find, s->ws_limit, 0, &algo, &math,
                         &need, err)))
            return rc;
        store_slot(e, dir, n, a, b, algo, math);
        most = need > most ? need : most;
    }
    if (most > s->ws_bytes) {
        if ((rc = cuda_grow(s, &s->ws, most, "the cuDNN workspace", err)))
            return rc;
        s->ws_bytes = most;
    }
    e->max_n = n;
    return CL_OK;
}


int cuda_conv_prepare(cl_backend *be, const conv_desc *d, int n, int h, int w, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    conv_entry *e = lookup(s, d, h, w);
    int kind = own_kind(d), mode = mode_of(s, kind, d), rc;

    if (s->failed) {
        if (err)
            *err = s->err;
        return s->err.code;
    }
    if (n <= 0 || h - d->oy <= 0 || w - d->ox <= 0 || conv_out_h(d, h) <= 0 ||
        conv_out_w(d, w) <= 0 || d->groups <= 0 || d->cin % d->groups || d->cout % d->groups)
        return ERR_SET(err, CL_ERR_SHAPE, "CUDA backend: conv %dx%d on %dx%d: bad shape", d->kh,
                       d->kw, h, w);
    if (mode == IMPL_OWN || mode == IMPL_SIMPLE)
        return own_prepare(s, kind, d, n, h, w, err);
    if (mode == IMPL_AUTO && (rc = own_prepare(s, kind, d, n, h, w, err)))
        return rc;
    if (!e) {
        unsigned b = bucket_of(d, h, w);
        if ((rc = entry_new(s, d, h, w, &e, err)))
            return rc;
        e->next = s->convs[b];
        s->convs[b] = e;
    }
    rc = dnn_prepare(s, e, n, err);
    if (mode != IMPL_AUTO || e->timed)
        return rc;
    /* auto, the first time: where cuDNN cannot take the shape (workspace,
     * memory), our kernels' ways only */
    return auto_choose(be, s, e, kind, n, rc == CL_OK, err);
}

/* ---- the ops ---- */

/* How direction dir of d on h x w images runs: IMPL_CUDNN, IMPL_OWN or
 * IMPL_SIMPLE, and the kind; with auto the prepared choice (unprepared:
 * cuDNN's way, which reports it) */
static int impl_of(cuda_state *s, const conv_desc *d, int h, int w, int dir, int *kind)
{
    int mode = mode_of(s, *kind = own_kind(d), d);
    if (mode == IMPL_AUTO) {
        conv_entry *e = lookup(s, d, h, w);
        mode = e && e->timed ? e->impl[dir] : IMPL_CUDNN;
    }
    return mode;
}

/* Direction dir of d now: its way, and the entry cuDNN's way runs
 * through (NULL, after recording why, when that is missing); 0 when
 * nothing is to run */
static int op_start(cuda_state *s, const conv_desc *d, tview x, int dir, const char *op, int *kind,
                    int *impl, conv_entry **e)
{
    *impl = impl_of(s, d, x.h, x.w, dir, kind);
    *e = NULL;
    if (s->failed)
        return 0;
    return *impl != IMPL_CUDNN || (*e = entry_for(s, d, x, op)) != NULL;
}

void cuda_conv_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    cuda_state *s = cuda_of(be);
    conv_entry *e;
    int kind, impl;
    if (op_start(s, d, x, DIR_FWD, "forward", &kind, &impl, &e))
        run_impl(s, d, e, kind, impl, DIR_FWD, x, w, y, y, NULL, acc);
}

/* the batch-norm statistics of y, taken by our pointwise forward kernel
 * where it runs the convolution (unless CELLAR_BN_STATS=apart) */
int cuda_conv_stats_parts(cl_backend *be, const conv_desc *d, int n, int h, int w)
{
    cuda_state *s = cuda_of(be);
    int kind;
    if (!s->bn_stats || impl_of(s, d, h, w, DIR_FWD, &kind) != IMPL_OWN || kind != OWN_PW)
        return 0;
    return k_pw_stats_parts(d, n, h, w);
}

void cuda_conv_fwd_stats(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y,
                         double *stats)
{
    cuda_state *s = cuda_of(be);
    const char *what = "pointwise convolution kernel (with batch-norm statistics)";
    if (s->failed)
        return;
    if (!cuda_conv_stats_parts(be, d, x.n, x.h, x.w)) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "%s %dx%d convolution (%d->%d) on %dx%d images: asked for batch-norm "
                     "statistics it does not give (conv_stats_parts)",
                     own_name(own_kind(d)), d->kh, d->kw, d->cin, d->cout, x.h, x.w);
        return;
    }
    if (RT_OK(s, k_pw_fwd_stats(s->stream, d, x, w, y, stats), what))
        cuda_after_op(s, what);
}

void cuda_conv_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                        tview dx, int acc)
{
    cuda_state *s = cuda_of(be);
    conv_entry *e;
    int kind, impl;
    if (op_start(s, d, x, DIR_DATA, "data gradient", &kind, &impl, &e))
        run_impl(s, d, e, kind, impl, DIR_DATA, x, w, dy, dx, NULL, acc);
}

void cuda_conv_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw)
{
    cuda_state *s = cuda_of(be);
    conv_entry *e;
    int kind, impl;
    if (op_start(s, d, x, DIR_FILTER, "filter gradient", &kind, &impl, &e))
        run_impl(s, d, e, kind, impl, DIR_FILTER, x, NULL, dy, dy, dw, 0);
}

/* both gradients: the filter's, then (need_dx) the data's, each its own way */
void cuda_conv_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                   tview dx, int need_dx, int acc, float *dw)
{
    cuda_state *s = cuda_of(be);
    conv_entry *e;
    int kind, impl;
    if (op_start(s, d, x, DIR_FILTER, "backward", &kind, &impl, &e))
        run_impl(s, d, e, kind, impl, DIR_FILTER, x, w, dy, dx, dw, acc);
    if (need_dx && op_start(s, d, x, DIR_DATA, "backward", &kind, &impl, &e))
        run_impl(s, d, e, kind, impl, DIR_DATA, x, w, dy, dx, dw, acc);
}

/* ---- a separable layer's forward in one kernel (kernels/sepconv.cu) ----
 *
 * Where the depthwise half would run on our tiled kernel and the pointwise
 * half may be ours (CELLAR_POINTWISE mixed or own: under mixed, a plain
 * pointwise convolution goes to cuDNN when alone, but beside its depthwise
 * half ours saves reading the depthwise output back).  Measured ways
 * (auto) and the ways asked for by name (cudnn, simple) keep to them. */

int cuda_sep_on(const cuda_state *s, int dir)
{
    return (s->sep & dir) && s->dw_impl == IMPL_OWN &&
           (s->pw_impl == IMPL_MIXED || s->pw_impl == IMPL_OWN);
}

int cuda_sep_fwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                 const float *xab, const float *wd, tview mid, const float *wp, tview y,
                 double *stats)
{
    cuda_state *s = cuda_of(be);
    const char *what = "separable convolution kernel (depthwise and pointwise forward)";
    if (!cuda_sep_on(s, SEP_FWD) || !k_sep_takes(dd, pd, x.h, x.w))
        return 0;
    if (s->failed)
        return 1;
    if (stats && !cuda_sep_stats_parts(be, dd, pd, x.n, x.h, x.w)) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "separable forward %dx%d (%d->%d) on %dx%d images: asked for batch-norm "
                     "statistics it does not give (sep_stats_parts)",
                     dd->kh, dd->kw, dd->cin, pd->cout, x.h, x.w);
        return 1;
    }
    if (RT_OK(s, k_sep_fwd(s->stream, dd, pd, x, xab, wd, mid, wp, y, stats), what))
        cuda_after_op(s, what);
    return 1;
}

/* the batch-norm statistics of y taken by the same kernel (unless
 * CELLAR_BN_STATS=apart) */
int cuda_sep_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                         int w)
{
    cuda_state *s = cuda_of(be);
    if (!s->bn_stats || !cuda_sep_on(s, SEP_FWD))
        return 0;
    return k_sep_stats_parts(dd, pd, n, h, w);
}

/* whether the fused backward runs for the pair (at stride 2 only with
 * SEP_S2) */
static int sep_bwd_takes(const cuda_state *s, const conv_desc *dd, const conv_desc *pd, int n,
                         int h, int w)
{
    return cuda_sep_on(s, SEP_BWD) && (dd->sh == 1 || (s->sep & SEP_S2)) &&
           k_sep_bwd_takes(dd, pd, n, h, w);
}

/* The backward the same way (kernels/sepconv.cu's sep_bwd_k): the
 * pointwise data gradient and both depthwise gradients in one kernel, and
 * the pointwise filter gradient there too (takes 2), or apart with
 * CELLAR_SEPARABLE=keep-mid (takes 1: conv_bwd with need_dx 0); at
 * stride 2 too but with CELLAR_SEPARABLE=stride-1.  Its two
 * filter gradients' partial sums take two slots of s->part, as the other
 * filter gradients take one. */
int cuda_sep_prepare(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                     int w, int *takes, cl_err *err)
{
    cuda_state *s = cuda_of(be);
    int pwf = (s->sep & SEP_PWF) != 0;
    *takes = sep_bwd_takes(s, dd, pd, n, h, w) ? 1 + pwf : 0;
    return *takes ? part_reserve(s, (size_t)k_sep_bwd_part_floats(dd, pd, n, h, w, s->sms, pwf),
                                 err)
                  : CL_OK;
}

static void sep_bwd_run(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                        const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                        const float *wp, tview dx, int acc, float *dwd, float *dwp,
                        const k_bnsums *bn)
{
    cuda_state *s = cuda_of(be);
    const char *what = bn ? "separable convolution kernel (backward, batch-norm sums)"
                          : "separable convolution kernel (backward)";
    long floats = k_sep_bwd_part_floats(dd, pd, x.n, x.h, x.w, s->sms, dwp != NULL);
    k_psum *later, *plater;
    float *part, *ppart;
    if (s->failed)
        return;
    if (!sep_bwd_takes(s, dd, pd, x.n, x.h, x.w) || (dwp && !(s->sep & SEP_PWF)) ||
        (size_t)floats > s->part_floats) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "separable backward %dx%d (%d->%d) on a batch of %d %dx%d images%s: not "
                     "prepared for it (sep_prepare)",
                     dd->kh, dd->kw, dd->cin, pd->cout, x.n, x.h, x.w,
                     dwp ? " with its pointwise filter gradient" : "");
        return;
    }
    part_room(s, 2);
    part = part_at(s, 0, &later);
    ppart = part_at(s, 1, &plater);
    if (RT_OK(s, k_sep_bwd(s->stream, dd, pd, x, xab, wd, dy, gb, wp, dx, acc, s->sms,
                           part, dwd, later, ppart, dwp, dwp ? plater : NULL, bn),
              what)) {
        parts_taken(s, later, dwp ? plater : NULL);
        cuda_after_op(s, what);
    }
}

void cuda_sep_bwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                  const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                  const float *wp, tview dx, int acc, float *dwd, float *dwp)
{
    sep_bwd_run(be, dd, pd, x, xab, wd, dy, gb, wp, dx, acc, dwd, dwp, NULL);
}

/* the sums of dy the batch norm before the pair needs for its backward,
 * taken by the same kernel as it writes dx (unless CELLAR_BN_STATS is
 * forward or apart) */
int cuda_sep_bwd_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n,
                             int h, int w)
{
    cuda_state *s = cuda_of(be);
    if (s->bn_stats != BN_STATS_FUSED || !sep_bwd_takes(s, dd, pd, n, h, w))
        return 0;
    return k_sep_bwd_stats_parts(dd, pd, n, h, w);
}

void cuda_sep_bwd_stats(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                        const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                        const float *wp, tview dx, float *dwd, float *dwp, tview bx,
                        const float *bmean, double *stats)
{
    cuda_state *s = cuda_of(be);
    k_bnsums bn = {bx, bmean, stats};
    if (s->failed)
        return;
    if (!cuda_sep_bwd_stats_parts(be, dd, pd, x.n, x.h, x.w)) {
        cuda_fail_at(s, __FILE__, __LINE__,
                     "separable backward %dx%d (%d->%d) on a batch of %d %dx%d images asked "
                     "for batch-norm sums it does not give (sep_bwd_stats_parts)",
                     dd->kh, dd->kw, dd->cin, pd->cout, x.n, x.h, x.w);
        return;
    }
    sep_bwd_run(be, dd, pd, x, xab, wd, dy, gb, wp, dx, 0, dwd, dwp, &bn);
}

/* be->conv_choices: a line for each convolution whose ways were timed */
int cuda_conv_choices(cl_backend *be, char *buf, size_t size)
{
    cuda_state *s = cuda_of(be);
    size_t at = 0;
    int lines = 0;
    if (size)
        buf[0] = '\0';
    for (int b = 0; b < CONV_BUCKETS; b++)
        for (const conv_entry *e = s->convs[b]; e; e = e->next) {
            if (!e->timed)
                continue;
            lines++;
            if (at < size)
                at += (size_t)snprintf(buf + at, size - at, "%s (batch %d):", e->label, e->max_n);
            for (int dir = 0; dir < DIR_COUNT; dir++) {
                const char *sep = " (";
                if (at < size)
                    at += (size_t)snprintf(buf + at, size - at, "%s %s %s", dir ? ";" : "",
                                           dir_name[dir], cuda_impl_name(e->impl[dir]));
                for (int i = 0; i < IMPL_AUTO; i++)
                    if (e->ms[dir][i] >= 0.f && at < size) {
                        at += (size_t)snprintf(buf + at, size - at, "%s%s %.3f", sep,
                                               cuda_impl_name(i),
                                               e->ms[dir][i] / AUTO_REPS);
                        sep = ", ";
                    }
                if (at < size && sep[0] == ',')
                    at += (size_t)snprintf(buf + at, size - at, ")");
            }
            if (at < size)
                at += (size_t)snprintf(buf + at, size - at, "\n");
        }
    return lines;
}
