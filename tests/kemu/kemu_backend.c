/* kemu_backend.c - a backend made of the GPU's own kernels run on the CPU
 * (tests/kemu), for checking them composed as a network composes them:
 * channel slices, adds into shared outputs, drop-path scales, the step
 * counter, resident batches.  Every op the CUDA backend gives to
 * kernels/ goes to the same launcher here; what it gives to cuDNN and
 * cuBLAS (dense convolutions, the linear layer's GEMMs) goes to the CPU
 * backend or OpenBLAS, and pointwise convolutions go to kernels/pwconv.cu
 * (as with CELLAR_POINTWISE=own).  Memory is the host's, but the backend
 * says it is not (host_memory 0), so callers take the GPU's paths:
 * uploads, the dataset copied in.  New memory is filled with NaN, as a
 * GPU's is not zeroed: an op that reads what nothing wrote shows. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kemu_backend.h"
#include "kernels/conv_math.h"
#include "kernels/kernels.h"

typedef struct kb_state {
    cl_backend *cpu;
    int sms, bn_parts;
    float *part;
    size_t part_floats;
    double *bn_part;
    unsigned *bn_count;   /* zero: a channel's count of its parts summed */
    int *pool_idx;
    size_t pool_idx_count;
    cudaError_t err;   /* the first launch failure */
    char what[96];
} kb_state;

static kb_state *kb(cl_backend *be) { return (kb_state *)be->impl; }

static void check(cl_backend *be, cudaError_t e, const char *what)
{
    kb_state *s = kb(be);
    cudaError_t last = cudaGetLastError();
    if (e == cudaSuccess)
        e = last;
    if (e != cudaSuccess && s->err == cudaSuccess) {
        s->err = e;
        snprintf(s->what, sizeof s->what, "%s", what);
    }
}

static void *kb_alloc(cl_backend *be, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p)
        memset(p, 0xff, bytes); /* NaN as floats */
    return p;
}
static void kb_free(cl_backend *be, void *p) { free(p); }
static void kb_copy(cl_backend *be, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}
static void kb_zero(cl_backend *be, void *p, size_t bytes) { memset(p, 0, bytes); }

static int kb_sync(cl_backend *be, cl_err *err)
{
    kb_state *s = kb(be);
    if (s->err == cudaSuccess)
        return CL_OK;
    ERR_SET(err, CL_ERR_BACKEND, "kernel emulation: %s: %s", s->what, cudaGetErrorString(s->err));
    s->err = cudaSuccess;
    return CL_ERR_BACKEND;
}

static void kb_destroy(cl_backend *be)
{
    kb_state *s = kb(be);
    backend_destroy(s->cpu);
    free(s->part);
    free(s->bn_part);
    free(s->bn_count);
    free(s->pool_idx);
    free(s);
    free(be);
}

/* ---- convolutions ---- */

static size_t parts_floats(const kb_state *s, const conv_desc *d, int n, int h, int w, int *parts)
{
    if (dw_handles(d)) {
        *parts = dw_filter_splits(d->cin, n, s->sms);
        return (size_t)*parts * d->cin * d->kh * d->kw;
    }
    *parts = pw_filter_parts(d->cout, d->cin, (long)n * conv_out_h(d, h) * conv_out_w(d, w),
                             s->sms);
    return (size_t)*parts * d->cout * d->cin;
}

/* the partial sums' scratch grown to `need` floats */
static int grow_part(kb_state *s, size_t need, cl_err *err)
{
    if (need > s->part_floats) {
        float *p = realloc(s->part, need * sizeof *p);
        if (!p)
            return ERR_SET(err, CL_ERR_NOMEM, "kernel emulation: out of memory");
        s->part = p;
        s->part_floats = need;
    }
    return CL_OK;
}

static int kb_conv_prepare(cl_backend *be, const conv_desc *d, int n, int h, int w, cl_err *err)
{
    kb_state *s = kb(be);
    int parts;
    if (!dw_handles(d) && !pw_handles(d))
        return s->cpu->conv_prepare(s->cpu, d, n, h, w, err);
    return grow_part(s, parts_floats(s, d, n, h, w, &parts), err);
}

static void kb_conv_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y,
                        int acc)
{
    if (dw_handles(d))
        check(be, k_dw_fwd(NULL, d, x, w, y, acc, 1), "depthwise forward");
    else if (pw_handles(d))
        check(be, k_pw_fwd(NULL, d, x, w, y, acc), "pointwise forward");
    else
        kb(be)->cpu->conv_fwd(kb(be)->cpu, d, x, w, y, acc);
}

static int kb_conv_stats_parts(cl_backend *be, const conv_desc *d, int n, int h, int w)
{
    (void)be;
    return k_pw_stats_parts(d, n, h, w);
}

static void kb_conv_fwd_stats(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y,
                              double *stats)
{
    check(be, k_pw_fwd_stats(NULL, d, x, w, y, stats), "pointwise forward with statistics");
}

static int kb_sep_fwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                      const float *xab, const float *wd, tview mid, const float *wp, tview y,
                      double *stats)
{
    if (!k_sep_takes(dd, pd, x.h, x.w))
        return 0;
    check(be, k_sep_fwd(NULL, dd, pd, x, xab, wd, mid, wp, y, stats), "separable forward");
    return 1;
}

static int kb_sep_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n,
                              int h, int w)
{
    (void)be;
    return k_sep_stats_parts(dd, pd, n, h, w);
}

static int kb_sep_prepare(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                          int w, int *takes, cl_err *err)
{
    kb_state *s = kb(be);
    /* with the pointwise filter gradient: two scratches of partial sums */
    *takes = k_sep_bwd_takes(dd, pd, n, h, w) ? 2 : 0;
    return *takes ? grow_part(s, 2 * (size_t)k_sep_bwd_part_floats(dd, pd, n, h, w, s->sms, 1),
                              err)
                  : CL_OK;
}

static void kb_sep_bwd_run(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                           const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                           const float *wp, tview dx, int acc, float *dwd,
                           float *dwp, const k_bnsums *bn)
{
    kb_state *s = kb(be);
    size_t floats = (size_t)k_sep_bwd_part_floats(dd, pd, x.n, x.h, x.w, s->sms, 1);
    if (2 * floats > s->part_floats) {
        check(be, cudaErrorInvalidValue, "separable backward not prepared for its batch");
        return;
    }
    check(be,
          k_sep_bwd(NULL, dd, pd, x, xab, wd, dy, gb, wp, dx, acc, s->sms, s->part,
                    dwd, NULL, s->part + floats, dwp, NULL, bn),
          bn ? "separable backward with batch-norm sums" : "separable backward");
}

static void kb_sep_bwd(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                       const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                       const float *wp, tview dx, int acc, float *dwd, float *dwp)
{
    kb_sep_bwd_run(be, dd, pd, x, xab, wd, dy, gb, wp, dx, acc, dwd, dwp, NULL);
}

static int kb_sep_bwd_stats_parts(cl_backend *be, const conv_desc *dd, const conv_desc *pd,
                                  int n, int h, int w)
{
    (void)be;
    return k_sep_bwd_stats_parts(dd, pd, n, h, w);
}

static void kb_sep_bwd_stats(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                             const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                             const float *wp, tview dx, float *dwd, float *dwp,
                             tview bx, const float *bmean, double *stats)
{
    k_bnsums bn = {bx, bmean, stats};
    kb_sep_bwd_run(be, dd, pd, x, xab, wd, dy, gb, wp, dx, 0, dwd, dwp, &bn);
}

static void kb_conv_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w,
                             tview dy, tview dx, int acc)
{
    if (dw_handles(d))
        check(be, k_dw_bwd_data(NULL, d, x, w, dy, dx, acc, 1), "depthwise data gradient");
    else if (pw_handles(d))
        check(be, k_pw_bwd_data(NULL, d, x, w, dy, dx, acc), "pointwise data gradient");
    else
        kb(be)->cpu->conv_bwd_data(kb(be)->cpu, d, x, w, dy, dx, acc);
}

static void kb_conv_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw)
{
    kb_state *s = kb(be);
    int parts;
    if (!dw_handles(d) && !pw_handles(d)) {
        s->cpu->conv_bwd_filter(s->cpu, d, x, dy, dw);
        return;
    }
    if (parts_floats(s, d, x.n, x.h, x.w, &parts) > s->part_floats) {
        check(be, cudaErrorInvalidValue, "filter gradient not prepared for its batch");
        return;
    }
    if (dw_handles(d))
        check(be, k_dw_bwd_filter(NULL, d, x, dy, parts, s->part, dw, 1, NULL),
              "depthwise filter gradient");
    else
        check(be, k_pw_bwd_filter(NULL, d, x, dy, parts, s->part, dw, NULL), "pointwise filter gradient");
}

static void kb_conv_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                        tview dx, int need_dx, int acc, float *dw)
{
    kb_conv_bwd_filter(be, d, x, dy, dw);
    if (need_dx)
        kb_conv_bwd_data(be, d, x, w, dy, dx, acc);
}

/* ---- batch norm, pooling and the rest ---- */

/* the split version whenever there are images to split over, so the
 * network exercises it */
static int bn_parts(const kb_state *s, tview x)
{
    int p = s->bn_parts < x.n ? s->bn_parts : x.n;
    return x.c * p <= 4096 ? p : 1;
}

static void kb_bn_fwd_train(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                            const float *beta, float *save_mean, float *save_rstd,
                            float *run_mean, float *run_var, tview y, int acc, const float *sscale,
                            tview y2, int acc2)
{
    kb_state *s = kb(be);
    if (x.c <= 0)
        return;
    check(be,
          k_bn_fwd_train_split(NULL, d->eps, d->momentum, x, gamma, beta, save_mean, save_rstd,
                               run_mean, run_var, y, acc, sscale, y2, acc2, bn_parts(s, x),
                               s->bn_part),
          "batch norm (training)");
}

static void kb_bn_affine(cl_backend *be, const bn_desc *d, tview x, int train,
                         const double *stats, int parts, const float *gamma, const float *beta,
                         float *save_mean, float *save_rstd, float *run_mean, float *run_var,
                         float *ab)
{
    if (!train)
        check(be, k_bn_affine_eval(NULL, d->eps, x.c, gamma, beta, run_mean, run_var, ab),
              "batch norm scale and shift (evaluation)");
    else
        check(be,
              k_bn_affine_parts(NULL, d->eps, d->momentum, x, gamma, beta, save_mean, save_rstd,
                                run_mean, run_var, parts, stats, ab),
              "batch norm scale and shift (training, statistics given)");
}

static void kb_bn_fwd_parts(cl_backend *be, const bn_desc *d, tview x, const double *stats,
                            int parts, const float *gamma, const float *beta, float *save_mean,
                            float *save_rstd, float *run_mean, float *run_var, tview y, int acc,
                            const float *sscale, tview y2, int acc2)
{
    kb_state *s = kb(be);
    if (x.c <= 0)
        return;
    check(be,
          k_bn_fwd_train_parts(NULL, d->eps, d->momentum, x, gamma, beta, save_mean, save_rstd,
                               run_mean, run_var, y, acc, sscale, y2, acc2, parts, stats,
                               bn_parts(s, x)),
          "batch norm (training, statistics given)");
}

static void kb_bn_fwd_eval(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                           const float *beta, const float *run_mean, const float *run_var, tview y,
                           int acc, tview y2, int acc2)
{
    check(be, k_bn_fwd_eval(NULL, d->eps, x, gamma, beta, run_mean, run_var, y, acc, y2, acc2),
          "batch norm (evaluation)");
}

static void kb_bn_bwd(cl_backend *be, tview x, tview dy, tview dy2, const float *gamma,
                      const float *save_mean, const float *save_rstd, const float *sscale,
                      tview dx, int acc, float *dgamma, float *dbeta)
{
    kb_state *s = kb(be);
    if (x.c <= 0)
        return;
    check(be,
          k_bn_bwd_split(NULL, x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma,
                         dbeta, bn_parts(s, x), s->bn_part),
          "batch norm backward");
}

static void kb_bn_bwd_parts(cl_backend *be, tview x, tview dy, const double *stats, int parts,
                            const float *gamma, const float *save_mean, const float *save_rstd,
                            const float *sscale, tview dx, int acc, float *dgamma, float *dbeta)
{
    kb_state *s = kb(be);
    if (x.c <= 0)
        return;
    check(be,
          k_bn_bwd_parts(NULL, x, dy, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma, dbeta,
                         parts, stats, bn_parts(s, x)),
          "batch norm backward (sums given)");
}

static void kb_bn_bwd_factors(cl_backend *be, tview x, tview dy, const float *sscale,
                              const double *stats, int parts, const float *gamma,
                              const float *save_mean, const float *save_rstd, float *dgamma,
                              float *dbeta, float *f)
{
    kb_state *s = kb(be);
    if (x.c <= 0)
        return;
    if (stats)
        check(be,
              k_bn_bwd_factors(NULL, x, gamma, save_mean, save_rstd, dgamma, dbeta, parts, stats,
                               f),
              "batch norm backward factors (sums given)");
    else
        check(be,
              k_bn_bwd_factors_dy(NULL, x, dy, sscale, gamma, save_mean, save_rstd, dgamma,
                                  dbeta, bn_parts(s, x), s->bn_part, s->bn_count, f),
              "batch norm backward factors");
}

static int kb_pool_prepare(cl_backend *be, const pool_desc *d, int n, int c, int h, int w,
                           cl_err *err)
{
    kb_state *s = kb(be);
    size_t count = (size_t)n * c * pool_out(d, h) * pool_out(d, w);
    if (count > s->pool_idx_count) {
        int *p = realloc(s->pool_idx, count * sizeof *p);
        if (!p)
            return ERR_SET(err, CL_ERR_NOMEM, "kernel emulation: out of memory");
        s->pool_idx = p;
        s->pool_idx_count = count;
    }
    return CL_OK;
}

static void kb_pool_fwd(cl_backend *be, const pool_desc *d, tview x, tview y, int acc,
                        const float *sscale)
{
    check(be, k_pool_fwd(NULL, d->kind == POOL_MAX, d->k, d->s, d->p, x, y, acc, sscale),
          "pooling");
}

static void kb_pool_bwd(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                        const float *sscale)
{
    int max = d->kind == POOL_MAX;
    if (max && (size_t)dy.n * dy.c * dy.h * dy.w > kb(be)->pool_idx_count) {
        check(be, cudaErrorInvalidValue, "max pooling backward not prepared for its batch");
        return;
    }
    check(be,
          k_pool_bwd(NULL, max, d->k, d->s, d->p, x, dy, dx, acc, sscale,
                     max ? kb(be)->pool_idx : NULL),
          "pooling backward");
}

static void kb_scale_copy(cl_backend *be, tview x, tview y, int acc, const float *sscale)
{
    check(be, k_scale_copy(NULL, x, y, acc, sscale), "identity path");
}

static void kb_gap_fwd(cl_backend *be, tview x, tview y)
{
    check(be, k_gap_fwd(NULL, x, y), "global average pool");
}

static void kb_gap_bwd(cl_backend *be, tview dy, tview dx, int acc)
{
    check(be, k_gap_bwd(NULL, dy, dx, acc), "global average pool backward");
}

/* as the CUDA backend: the bias rows by the kernel, then y += x w^T
 * (cuBLAS there, OpenBLAS here) */
static void kb_linear_fwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                          const float *b, float *y)
{
    check(be, k_bias_rows(NULL, n, m, b, y), "linear bias");
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.f, x, k, w, k, 1.f, y, m);
}

/* the GEMMs by the CPU backend, the bias gradient by the kernel */
static void kb_linear_bwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                          const float *dy, float *dx, int acc, float *dw, float *db)
{
    kb(be)->cpu->linear_bwd(kb(be)->cpu, n, k, m, x, w, dy, dx, acc, dw, db);
    memset(db, 0xff, (size_t)m * sizeof *db);
    check(be, k_col_sum(NULL, n, m, dy, db), "linear bias gradient");
}

static void kb_xent(cl_backend *be, int n, int m, const float *logits, const int *labels,
                    float *loss, int *correct, float *dlogits, const step_ref *sr)
{
    check(be, k_xent(NULL, n, m, logits, labels, loss, correct, dlogits, sr), "cross-entropy");
}

static void kb_sgd(cl_backend *be, long count, float *p, const float *g, float *v, float lr,
                   float mom, float wd, int first, const step_ref *sr)
{
    check(be, k_sgd(NULL, count, p, g, v, lr, mom, wd, first, sr), "SGD");
}

static void kb_batch_gather(cl_backend *be, const batch_desc *d, const uint8_t *images,
                            const uint8_t *labels, const int *idx, int n, float *x, int *y,
                            const step_ref *sr)
{
    check(be, k_batch_gather(NULL, d, images, labels, idx, n, x, y, sr), "batch gather");
}

static void kb_drop_draw(cl_backend *be, uint64_t seed, long step, float prob, long count,
                         const int *pairs, int n_sums, long row, float *scale,
                         const step_ref *sr)
{
    check(be, k_drop_draw(NULL, seed, step, prob, count, pairs, n_sums, row, scale, sr),
          "drop-path masks");
}

static void kb_step_next(cl_backend *be, const step_ref *sr)
{
    check(be, k_step_next(NULL, sr), "step counter");
}

static const cl_backend kb_table = {
    .name = "kemu",
    .detail = "the GPU's kernels run on the CPU",
    .alloc = kb_alloc,
    .free = kb_free,
    .upload = kb_copy,
    .download = kb_copy,
    .zero = kb_zero,
    .host_memory = 0,
    .sync = kb_sync,
    .destroy = kb_destroy,
    .conv_prepare = kb_conv_prepare,
    .pool_prepare = kb_pool_prepare,
    .conv_fwd = kb_conv_fwd,
    .conv_stats_parts = kb_conv_stats_parts,
    .conv_fwd_stats = kb_conv_fwd_stats,
    .conv_bwd_data = kb_conv_bwd_data,
    .conv_bwd_filter = kb_conv_bwd_filter,
    .conv_bwd = kb_conv_bwd,
    .sep_fwd = kb_sep_fwd,
    .sep_stats_parts = kb_sep_stats_parts,
    .sep_prepare = kb_sep_prepare,
    .sep_bwd = kb_sep_bwd,
    .sep_bwd_stats_parts = kb_sep_bwd_stats_parts,
    .sep_bwd_stats = kb_sep_bwd_stats,
    .bn_fwd_train = kb_bn_fwd_train,
    .bn_fwd_parts = kb_bn_fwd_parts,
    .bn_affine = kb_bn_affine,
    .bn_fwd_eval = kb_bn_fwd_eval,
    .bn_bwd = kb_bn_bwd,
    .bn_bwd_parts = kb_bn_bwd_parts,
    .bn_bwd_factors = kb_bn_bwd_factors,
    .pool_fwd = kb_pool_fwd,
    .pool_bwd = kb_pool_bwd,
    .scale_copy = kb_scale_copy,
    .gap_fwd = kb_gap_fwd,
    .gap_bwd = kb_gap_bwd,
    .linear_fwd = kb_linear_fwd,
    .linear_bwd = kb_linear_bwd,
    .xent = kb_xent,
    .sgd = kb_sgd,
    .batch_gather = kb_batch_gather,
    .drop_draw = kb_drop_draw,
    .step_next = kb_step_next,
};

int kemu_backend_create(int sms, int bn_parts, cl_backend **out, cl_err *err)
{
    cl_backend *be = malloc(sizeof *be);
    kb_state *s = calloc(1, sizeof *s);
    int rc;
    if (!be || !s || !(s->bn_part = malloc((size_t)4096 * 2 * sizeof *s->bn_part)) ||
        !(s->bn_count = calloc(4096, sizeof *s->bn_count))) {
        free(be);
        if (s) {
            free(s->bn_part);
            free(s->bn_count);
        }
        free(s);
        return ERR_SET(err, CL_ERR_NOMEM, "kernel emulation: out of memory");
    }
    if ((rc = backend_cpu_create(1, &s->cpu, err))) {
        free(s->bn_part);
        free(s->bn_count);
        free(s);
        free(be);
        return rc;
    }
    *be = kb_table;
    be->threads = 1;
    be->impl = s;
    s->sms = sms;
    s->bn_parts = bn_parts;
    *out = be;
    return CL_OK;
}
