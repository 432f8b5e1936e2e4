/* test_cuda.c - the CUDA backend against its twin, the CPU backend: every
 * op of the backend table on fresh random inputs over a spread of shapes
 * (channel-slice views, acc 0 and 1, drop-path scales, strides, dilation,
 * depthwise, 1x7 and 7x1, ReLU inputs, shifted origins, odd sizes); then a
 * whole child network (forward, loss, backward, two SGD steps, evaluation)
 * built on both; then a short training on Fashion-MNIST on the GPU that
 * must learn.  Ops must agree to a relative error under 1e-4; the
 * comparison runs with CELLAR_STRICT_FP32=1 (TF32 would not meet it), the
 * training with TF32 allowed.
 *
 * Without a usable GPU it prints "skip - no CUDA device (reason)" and
 * exits 77.  Error measure: max |gpu - cpu| / (|cpu| + mean |cpu|) over
 * the whole buffer, slice padding included (which must stay untouched).
 *
 * Built with CELLAR_KEMU (tests/test_cuda_emu), the same checks run the
 * backend's own files (src/backend/cuda) and kernels on the CPU, over the
 * stand-ins of tests/kemu for the CUDA runtime, cuDNN and cuBLAS: no GPU
 * needed, so its calls, descriptors, workspaces, scratch, recorded steps
 * and errors are checked in every test run; only the GPU's own behaviour
 * (and speed) waits for a GPU.  There the Fashion-MNIST training is left
 * to a GPU (test_steps has held the training steps to the CPU's), and a
 * few checks of the run as the stand-in saw it are added (test_emulation:
 * graphs replayed, the broken recording refused, no device memory left,
 * a host pointer caught). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef CELLAR_KEMU
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "backend/backend.h"
#include "cdesc.h"
#include "check.h"
#include "testds.h"
#include "child/child.h"
#include "child/train.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "kernels/conv_math.h"
#ifdef CELLAR_KEMU
#include "cuda_runtime_api.h"
#endif

#define TOL 1e-4      /* one op */
#define NET_TOL 1e-3  /* a whole network: many ops' rounding, through batch norms */

static cl_backend *cpu, *gpu;
static cl_rng rng;

/* the shorter run: CELLAR_TEST_SHORT (the sanitizer builds), and always
 * with the race check (test_cuda_emu_race, every access watched: slow) */
static int test_short(void)
{
#ifdef CELLAR_KEMU_RACE
    return 1;
#else
    return getenv("CELLAR_TEST_SHORT") != NULL;
#endif
}

/* A CUDA backend made while the environment variable `var` is `val`, the
 * variable as it was again after; NULL after a failed check naming both. */
static cl_backend *cuda_with(const char *var, const char *val)
{
    cl_backend *be = NULL;
    cl_err err = {0};
    const char *was = getenv(var);
    char *keep = was ? strdup(was) : NULL;
    setenv(var, val, 1);
    if (backend_cuda_create(&be, &err)) {
        CHECK(0, "a CUDA backend with %s=%s starts: %s", var, val, err.msg);
        be = NULL;
    }
    if (keep)
        setenv(var, keep, 1);
    else
        unsetenv(var);
    free(keep);
    return be;
}

/* ---- tensors in both memories ---- */

typedef struct pair {
    tview h, d;    /* the same view in host (CPU backend) and device memory */
    long len;      /* floats allocated: n * ns */
    long off;      /* floats from the allocation's start to the view's */
} pair;

static const tview NOV;   /* an optional view not given */

static void fill(float *p, long n, float scale)
{
    for (long i = 0; i < n; i++)
        p[i] = scale * (2.f * rng_uniform(&rng) - 1.f);
}

static void *dev_alloc(size_t bytes)
{
    void *p = gpu->alloc(gpu, bytes);
    if (!p) {
        printf("not ok - cudaMalloc of %zu bytes failed\n", bytes);
        exit(1);
    }
    return p;
}

static float *dev_copy(const void *host, size_t bytes)
{
    float *p = dev_alloc(bytes);
    gpu->upload(gpu, p, host, bytes);
    return p;
}

/* a view of n images; pad_c > 0 makes it the first channels of a wider
 * tensor, pad_c < 0 its channels from -pad_c on (so the view starts
 * -pad_c planes into the memory); random values everywhere, the same on
 * both sides */
static pair pr_new(int n, int c, int h, int w, int pad_c, float scale)
{
    pair p;
    float *hb, *db;
    int extra = pad_c < 0 ? -pad_c : pad_c;
    p.h.n = n;
    p.h.c = c;
    p.h.h = h;
    p.h.w = w;
    p.h.ns = (long)(c + extra) * h * w;
    p.len = n * p.h.ns;
    p.off = pad_c < 0 ? (long)extra * h * w : 0;
    hb = malloc((size_t)p.len * sizeof(float));
    fill(hb, p.len, scale);
    db = dev_copy(hb, (size_t)p.len * sizeof(float));
    p.d = p.h;
    p.h.d = hb + p.off;
    p.d.d = db + p.off;
    return p;
}

static void pr_refill(pair *p, float scale)
{
    fill(p->h.d - p->off, p->len, scale);
    gpu->upload(gpu, p->d.d - p->off, p->h.d - p->off, (size_t)p->len * sizeof(float));
}

static void pr_free(pair *p)
{
    free(p->h.d - p->off);
    gpu->free(gpu, p->d.d - p->off);
}

/* wait for the GPU; a failure is a failed check */
static int synced(const char *what)
{
    cl_err err = {0};
    if (gpu->sync(gpu, &err) != CL_OK) {
        CHECK(0, "%s: the CUDA backend reports: %s", what, err.msg);
        return 0;
    }
    return 1;
}

/* device buffer against host buffer, n floats */
static int same_buf(const char *what, const float *dev, const float *host, long n, double tol)
{
    float *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    double e;
    int ok;
    if (!synced(what)) {
        free(got);
        return 0;
    }
    gpu->download(gpu, got, dev, (size_t)n * sizeof *got);
    e = check_rel_err(got, host, n);
    ok = CHECK(e < tol, "%s (relative error %.2g)", what, e);
    free(got);
    return ok;
}

static int same(const char *what, const pair *p, double tol)
{
    return same_buf(what, p->d.d - p->off, p->h.d - p->off, p->len, tol);
}

/* per-image drop-path scales with some zeros, or NULL */
static float *scales_host(int n, int on)
{
    static float sc[256];
    if (!on)
        return NULL;
    for (int i = 0; i < n && i < 256; i++)
        sc[i] = i % 3 == 1 ? 0.f : 1.f / 0.7f;
    return sc;
}

/* a batch norm's parameters and state for c channels, drawn: gamma,
 * beta, running mean, running variance (positive), then the saved mean
 * and 1/std (zero) */
static float *bn_params_host(int c)
{
    float *p = malloc((size_t)6 * c * sizeof *p);
    for (int i = 0; i < c; i++) {
        p[i] = 0.5f + rng_uniform(&rng);
        p[c + i] = rng_uniform(&rng) - 0.5f;
        p[2 * c + i] = rng_uniform(&rng) - 0.5f;
        p[3 * c + i] = 0.5f + rng_uniform(&rng);
        p[4 * c + i] = p[5 * c + i] = 0.f;
    }
    return p;
}

/* gpu->bn_fwd_parts from statistics a convolution took of y (st, parts
 * partial sums, in device memory) against the CPU's batch norm of y (as
 * the CPU computed it), added into its output under drop-path scales */
static void bn_from_stats(const char *name, const double *st, int parts, pair *y)
{
    int n = y->h.n, c = y->h.c;
    bn_desc bd = {1e-5f, 0.1f};
    float *ph = bn_params_host(c), *pdv, *sch = scales_host(n, 1), *scd;
    pair z = pr_new(n, c, y->h.h, y->h.w, 2, 1.f);
    char what[200];
    pdv = dev_copy(ph, (size_t)6 * c * sizeof *ph);
    scd = dev_copy(sch, (size_t)n * sizeof *sch);
    cpu->bn_fwd_train(cpu, &bd, y->h, ph, ph + c, ph + 4 * c, ph + 5 * c, ph + 2 * c, ph + 3 * c,
                      z.h, 1, sch, NOV, 0);
    gpu->bn_fwd_parts(gpu, &bd, y->d, st, parts, pdv, pdv + c, pdv + 4 * c, pdv + 5 * c,
                      pdv + 2 * c, pdv + 3 * c, z.d, 1, scd, NOV, 0);
    snprintf(what, sizeof what, "%s: batch norm from the kernel's statistics, added into", name);
    same(what, &z, TOL);
    snprintf(what, sizeof what, "%s: saved mean and 1/std, running mean and variance", name);
    same_buf(what, pdv + 2 * c, ph + 2 * c, 4L * c, TOL);
    pr_free(&z);
    gpu->free(gpu, pdv);
    gpu->free(gpu, scd);
    free(ph);
}

/* ---- convolution ---- */

/* whether the backend's forward of d gives the batch-norm statistics of
 * its output, as gpu->detail says it computes: where our pointwise
 * kernels run it (all with "pointwise own"; with "mixed", those reading
 * through ReLU or from a shifted origin); -1 when timings decide (auto) */
static int stats_expected(const conv_desc *d)
{
    const char *how = gpu->detail ? gpu->detail : "";
    if (strstr(how, "statistics apart") || !pw_handles(d))
        return 0;
    if (strstr(how, "pointwise own"))
        return 1;
    if (strstr(how, "pointwise mixed"))
        return d->relu_in || d->oy || d->ox;
    return strstr(how, "pointwise auto") ? -1 : 0;
}

static void test_conv(const char *name, conv_desc d, int n, int h, int w, int xpad, int ypad)
{
    cl_err err = {0};
    int ho = conv_out_h(&d, h), wo = conv_out_w(&d, w), stats, want;
    long nw = conv_weight_count(&d);
    pair x, y, dy, dx;
    float *wh = malloc((size_t)nw * sizeof *wh), *wd, *dwh = malloc((size_t)nw * sizeof *dwh),
          *dwd;
    char what[200];

    if (cpu->conv_prepare(cpu, &d, n, h, w, &err) || gpu->conv_prepare(gpu, &d, n, h, w, &err)) {
        CHECK(0, "%s: prepared: %s", name, err.msg);
        free(wh);
        free(dwh);
        return;
    }
    fill(wh, nw, 0.5f);
    wd = dev_copy(wh, (size_t)nw * sizeof *wh);
    dwd = dev_alloc((size_t)nw * sizeof *dwd);
    x = pr_new(n, d.cin, h, w, xpad, 1.f);
    y = pr_new(n, d.cout, ho, wo, ypad, 1.f);
    dy = pr_new(n, d.cout, ho, wo, ypad, 1.f);
    dx = pr_new(n, d.cin, h, w, xpad ? 0 : 1, 1.f); /* its own layout, unlike x's */

    for (int acc = 0; acc < 2; acc++) {
        pr_refill(&y, 1.f);
        cpu->conv_fwd(cpu, &d, x.h, wh, y.h, acc);
        gpu->conv_fwd(gpu, &d, x.d, wd, y.d, acc);
        snprintf(what, sizeof what, "%s: forward, acc %d", name, acc);
        same(what, &y, TOL);

        pr_refill(&dx, 1.f);
        cpu->conv_bwd_data(cpu, &d, x.h, wh, dy.h, dx.h, acc);
        gpu->conv_bwd_data(gpu, &d, x.d, wd, dy.d, dx.d, acc);
        snprintf(what, sizeof what, "%s: data gradient, acc %d", name, acc);
        same(what, &dx, TOL);
    }
    /* the forward with y's batch-norm statistics, where the backend's
     * kernel for it gives them */
    stats = gpu->conv_stats_parts ? gpu->conv_stats_parts(gpu, &d, n, h, w) : 0;
    want = stats_expected(&d);
    if (want >= 0)
        CHECK((stats > 0) == want, "%s: the backend %s y's batch-norm statistics (%d parts; %s)",
              name, stats > 0 ? "gives" : "does not give", stats, gpu->detail);
    if (stats > 0) {
        double *st = dev_alloc((size_t)stats * d.cout * 2 * sizeof *st);
        cpu->conv_fwd(cpu, &d, x.h, wh, y.h, 0);
        gpu->conv_fwd_stats(gpu, &d, x.d, wd, y.d, st);
        snprintf(what, sizeof what, "%s: forward, statistics taken", name);
        same(what, &y, TOL);
        bn_from_stats(name, st, stats, &y);
        gpu->free(gpu, st);
    }

    cpu->conv_bwd_filter(cpu, &d, x.h, dy.h, dwh);
    gpu->conv_bwd_filter(gpu, &d, x.d, dy.d, dwd);
    snprintf(what, sizeof what, "%s: filter gradient", name);
    same_buf(what, dwd, dwh, nw, TOL);

    /* both at once; then the filter gradient alone, dx left as it was */
    pr_refill(&dy, 1.f);
    pr_refill(&dx, 1.f);
    cpu->conv_bwd(cpu, &d, x.h, wh, dy.h, dx.h, 1, 1, dwh);
    gpu->conv_bwd(gpu, &d, x.d, wd, dy.d, dx.d, 1, 1, dwd);
    snprintf(what, sizeof what, "%s: combined backward, dx added to", name);
    if (same(what, &dx, TOL))
        same_buf(what, dwd, dwh, nw, TOL);
    pr_refill(&dy, 1.f);
    cpu->conv_bwd(cpu, &d, x.h, wh, dy.h, dx.h, 0, 0, dwh);
    gpu->conv_bwd(gpu, &d, x.d, wd, dy.d, dx.d, 0, 0, dwd);
    snprintf(what, sizeof what, "%s: combined backward without dx", name);
    if (same(what, &dx, TOL))
        same_buf(what, dwd, dwh, nw, TOL);

    pr_free(&x);
    pr_free(&y);
    pr_free(&dy);
    pr_free(&dx);
    gpu->free(gpu, wd);
    gpu->free(gpu, dwd);
    free(wh);
    free(dwh);
}

/* test_convs(0) leaves out the proxy's batch-128 shapes (the stand-in
 * runs each implementation but the default on the smaller ones only: the
 * large ones took most of a minute of test_cuda_emu each time round) */
static void test_convs(int large)
{
    conv_desc d;
    test_conv("conv 3x3 stem", cdesc(3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0), 2, 6, 7, 0, 0);
    test_conv("conv 3x3 stride 2 relu, slices", cdesc(4, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1), 2, 7, 8, 1,
              2);
    test_conv("conv 1x7 stride (1,2) relu", cdesc(3, 3, 1, 7, 1, 2, 0, 3, 1, 1, 1), 2, 8, 8, 0, 0);
    test_conv("conv 7x1 stride (2,1), slices", cdesc(3, 3, 7, 1, 2, 1, 3, 0, 1, 1, 0), 2, 8, 5, 2,
              1);
    test_conv("conv 1x3 relu", cdesc(6, 6, 1, 3, 1, 1, 0, 1, 1, 1, 1), 3, 9, 9, 0, 0);
    test_conv("conv 3x1", cdesc(6, 6, 3, 1, 1, 1, 1, 0, 1, 1, 0), 3, 9, 9, 0, 0);
    test_conv("conv grouped (2 groups) relu", cdesc(4, 6, 3, 3, 1, 1, 1, 1, 1, 2, 1), 2, 5, 5, 0,
              0);
    test_conv("depthwise 3x3 relu, slice in", cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 1), 2, 6, 6, 2, 0);
    test_conv("depthwise 5x5 stride 2 relu, slice out", cdesc(3, 3, 5, 5, 2, 2, 2, 2, 1, 3, 1), 2, 8,
              8, 0, 1);
    test_conv("depthwise 7x7", cdesc(2, 2, 7, 7, 1, 1, 3, 3, 1, 2, 0), 2, 9, 9, 0, 0);
    test_conv("depthwise 7x7 stride 2 relu, 11x13", cdesc(5, 5, 7, 7, 2, 2, 3, 3, 1, 5, 1), 2, 11,
              13, 1, 1);
    test_conv("depthwise 3x3 dilation 2 stride 2 relu", cdesc(3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 1), 2, 8,
              8, 0, 0);
    test_conv("depthwise 3x3 dilation 2 relu, 21x20", cdesc(3, 3, 3, 3, 1, 1, 2, 2, 2, 3, 1), 1, 21,
              20, 0, 0);
    test_conv("depthwise 5x5, 32x32, 16 channels", cdesc(16, 16, 5, 5, 1, 1, 2, 2, 1, 16, 1), 4, 32,
              32, 0, 0);
    /* the proxy's own shapes at batch 128: the filter gradient of the
     * depthwise kernels summed in parts (dw_filter_splits) */
    if (large) {
        test_conv("depthwise 3x3 relu, 16 channels at 32x32, batch 128",
                  cdesc(16, 16, 3, 3, 1, 1, 1, 1, 1, 16, 1), 128, 32, 32, 0, 0);
        test_conv("depthwise 5x5 stride 2 relu, 32 channels at 16x16, batch 128, slices",
                  cdesc(32, 32, 5, 5, 2, 2, 2, 2, 1, 32, 1), 128, 16, 16, 32, 32);
        test_conv("depthwise 7x7, 64 channels at 8x8, batch 128",
                  cdesc(64, 64, 7, 7, 1, 1, 3, 3, 1, 64, 0), 128, 8, 8, 0, 0);
    }
    test_conv("pointwise, slices", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0), 3, 4, 5, 1, 3);
    test_conv("pointwise relu", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1), 3, 4, 5, 0, 0);
    /* channel slices starting one 3x5 plane (60 bytes) in, as at a 7x7
     * stage on Fashion-MNIST: cuDNN's GEMM forward (and the stand-in's)
     * refuses pointers not 16-byte aligned at run time, and run_dir goes
     * on to another algorithm */
    test_conv("pointwise, slices 4-byte aligned (3x5 planes)", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0),
              3, 3, 5, -1, -1);
    if (large) {
        test_conv("pointwise relu 96->40, 8x8, batch 128, slices",
                  cdesc(96, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1), 128, 8, 8, 16, 24);
        test_conv("pointwise 64->64, 16x16, batch 128", cdesc(64, 64, 1, 1, 1, 1, 0, 0, 1, 1, 0),
                  128, 16, 16, 0, 0);
    }
    test_conv("pointwise relu 48->16, 32x32", cdesc(48, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1), 4, 32, 32,
              0, 0);
    d = cdesc(4, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    test_conv("pointwise stride 2 relu (factorized reduce, even grid)", d, 2, 6, 6, 0, 3);
    d.oy = d.ox = 1;
    test_conv("pointwise stride 2 relu shifted (factorized reduce, odd grid)", d, 2, 6, 6, 1, 3);
    test_conv("pointwise stride 2 relu shifted, 7x9", d, 2, 7, 9, 0, 0);
    d.relu_in = 0;
    test_conv("pointwise stride 2 shifted, no relu", d, 2, 8, 8, 0, 1);
    d = cdesc(3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    d.oy = 1;
    d.ox = 0;
    test_conv("conv 3x3 relu, origin shifted by one row", d, 2, 7, 6, 1, 0);
}

/* ---- a separable layer in one kernel each way (be->sep_fwd, be->sep_bwd) ---- */

/* The forward again with the batch-norm statistics of y (where the
 * backend gives them: `want`), then the batch norm from them */
static void test_sep_stats(const char *name, const conv_desc *dd, const conv_desc *pd, pair *x,
                           const float *wdd, const float *wpd, pair *y, int want)
{
    tview yv = y->h;
    int n = yv.n, c = yv.c, parts = gpu->sep_stats_parts
                                        ? gpu->sep_stats_parts(gpu, dd, pd, n, x->h.h, x->h.w)
                                        : 0;
    double *st;
    pair mid;
    char what[200];
    if (!CHECK((parts > 0) == want, "%s: the backend %s the batch norm's statistics (%d parts)",
               name, parts > 0 ? "gives" : "does not give", parts) ||
        !parts)
        return;
    st = dev_alloc((size_t)parts * c * 2 * sizeof *st);
    mid = pr_new(n, dd->cout, yv.h, yv.w, 0, 1.f);
    CHECK(gpu->sep_fwd(gpu, dd, pd, x->d, NULL, wdd, mid.d, wpd, y->d, st),
          "%s: the backend takes the pair with statistics", name);
    snprintf(what, sizeof what, "%s: pointwise output, statistics taken", name);
    same(what, y, TOL);
    bn_from_stats(name, st, parts, y);
    pr_free(&mid);
    gpu->free(gpu, st);
}

/* The backward again overwriting dx, with the sums of dx the batch norm
 * before the pair needs (where the backend gives them: `want`), then
 * that batch norm's backward from them; bx: the batch norm's input,
 * dmid: the CPU's pointwise data gradient (host) */
static void test_sep_bwd_stats(const char *name, const conv_desc *dd, const conv_desc *pd,
                               pair *x, const float *wdh, const float *wdd, pair *dy,
                               const float *wpd, tview dmid, int pwf, int want)
{
    int n = x->h.n, c = x->h.c, h = x->h.h, w = x->h.w;
    int parts = gpu->sep_bwd_stats_parts ? gpu->sep_bwd_stats_parts(gpu, dd, pd, n, h, w) : 0;
    long nd = conv_weight_count(dd), np = conv_weight_count(pd);
    pair bx, dx, bdx;
    float *ph, *pdv, *gh, *gd, *gwd, *gpd;
    double *st;
    char what[200];
    if (!CHECK((parts > 0) == want, "%s: the backend %s the sums of dy the batch norm before it "
                                    "needs (%d parts)",
               name, parts > 0 ? "gives" : "does not give", parts) ||
        !parts)
        return;
    bx = pr_new(n, c, h, w, 1, 2.f);
    dx = pr_new(n, c, h, w, -2, 1.f);
    bdx = pr_new(n, c, h, w, 1, 1.f);
    ph = bn_params_host(c);
    for (int i = 0; i < c; i++) {   /* a saved mean and 1/std of bx's sort */
        ph[4 * c + i] = 0.5f * (rng_uniform(&rng) - 0.5f);
        ph[5 * c + i] = 0.5f + rng_uniform(&rng);
    }
    pdv = dev_copy(ph, (size_t)6 * c * sizeof *ph);
    gh = malloc((size_t)2 * c * sizeof *gh);
    gd = dev_alloc((size_t)2 * c * sizeof *gd);
    gwd = dev_alloc((size_t)nd * sizeof *gwd);
    gpd = dev_alloc((size_t)np * sizeof *gpd);
    st = dev_alloc((size_t)parts * c * 2 * sizeof *st);
    cpu->conv_bwd_data(cpu, dd, x->h, wdh, dmid, dx.h, 0);
    gpu->sep_bwd_stats(gpu, dd, pd, x->d, NULL, wdd, dy->d, NULL, wpd, dx.d, gwd,
                       pwf ? gpd : NULL, bx.d, pdv + 4 * c, st);
    snprintf(what, sizeof what, "%s: backward with batch-norm sums, data gradient", name);
    same(what, &dx, TOL);
    cpu->bn_bwd(cpu, bx.h, dx.h, NOV, ph, ph + 4 * c, ph + 5 * c, NULL, bdx.h, 1, gh, gh + c);
    gpu->bn_bwd_parts(gpu, bx.d, dx.d, st, parts, pdv, pdv + 4 * c, pdv + 5 * c, NULL, bdx.d, 1,
                      gd, gd + c);
    snprintf(what, sizeof what, "%s: the batch norm's backward from those sums, added into",
             name);
    same(what, &bdx, TOL);
    snprintf(what, sizeof what, "%s: its dgamma and dbeta from those sums", name);
    same_buf(what, gd, gh, 2L * c, TOL);
    pr_free(&bx);
    pr_free(&dx);
    pr_free(&bdx);
    free(ph);
    free(gh);
    gpu->free(gpu, pdv);
    gpu->free(gpu, gd);
    gpu->free(gpu, gwd);
    gpu->free(gpu, gpd);
    gpu->free(gpu, st);
}

/* gpu->sep_fwd against the CPU's two convolutions: the depthwise dd of x
 * into mid, the pointwise cout x dd.cout of mid into y; then gpu->sep_bwd
 * against the CPU's pointwise data gradient into dmid and depthwise
 * gradients from it (dx added into).  fused, bwd: whether the backend
 * must take the pair forward and backward (else it must refuse it, and
 * the convolutions run apart) */
static void test_sep(const char *name, conv_desc dd, int cout, int n, int h, int w, int fused,
                     int bwd, int stats)
{
    conv_desc pd = cdesc(dd.cout, cout, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    int ho = conv_out_h(&dd, h), wo = conv_out_w(&dd, w), took;
    long nd = conv_weight_count(&dd), np = conv_weight_count(&pd);
    float *wdh = malloc((size_t)nd * sizeof *wdh), *wph = malloc((size_t)np * sizeof *wph);
    float *wdd, *wpd;
    pair x, mid, y;
    cl_err err = {0};
    char what[200];

    if (cpu->conv_prepare(cpu, &dd, n, h, w, &err) || cpu->conv_prepare(cpu, &pd, n, ho, wo, &err) ||
        gpu->conv_prepare(gpu, &dd, n, h, w, &err) || gpu->conv_prepare(gpu, &pd, n, ho, wo, &err)) {
        CHECK(0, "%s: prepared: %s", name, err.msg);
        free(wdh);
        free(wph);
        return;
    }
    fill(wdh, nd, 0.5f);
    fill(wph, np, 0.5f);
    wdd = dev_copy(wdh, (size_t)nd * sizeof *wdh);
    wpd = dev_copy(wph, (size_t)np * sizeof *wph);
    x = pr_new(n, dd.cin, h, w, 1, 1.f);
    mid = pr_new(n, dd.cout, ho, wo, 0, 1.f);
    y = pr_new(n, cout, ho, wo, -2, 1.f);
    cpu->conv_fwd(cpu, &dd, x.h, wdh, mid.h, 0);
    cpu->conv_fwd(cpu, &pd, mid.h, wph, y.h, 0);
    took = gpu->sep_fwd && gpu->sep_fwd(gpu, &dd, &pd, x.d, NULL, wdd, mid.d, wpd, y.d, NULL);
    CHECK(took == fused, "%s: the backend %s the pair (%s)", name, took ? "takes" : "refuses",
          gpu->detail);
    if (!took) {
        gpu->conv_fwd(gpu, &dd, x.d, wdd, mid.d, 0);
        gpu->conv_fwd(gpu, &pd, mid.d, wpd, y.d, 0);
    }
    snprintf(what, sizeof what, "%s: depthwise output", name);
    same(what, &mid, TOL);
    snprintf(what, sizeof what, "%s: pointwise output", name);
    same(what, &y, TOL);
    test_sep_stats(name, &dd, &pd, &x, wdd, wpd, &y, took && (stats & 1));

    took = 0;
    if (gpu->sep_prepare && gpu->sep_prepare(gpu, &dd, &pd, n, h, w, &took, &err))
        CHECK(0, "%s: backward prepared: %s", name, err.msg);
    else if (CHECK(took == bwd, "%s: the backend %s the pair's backward%s (%s)", name,
                   took ? "takes" : "refuses",
                   took == 2 ? " with the pointwise filter gradient" : "", gpu->detail) &&
             took) {
        pair dy = pr_new(n, cout, ho, wo, -3, 1.f), dx = pr_new(n, dd.cin, h, w, 2, 1.f);
        float *gwh = malloc((size_t)nd * sizeof *gwh), *gwd = dev_alloc((size_t)nd * sizeof *gwd);
        float *gph = malloc((size_t)np * sizeof *gph), *gpd = dev_alloc((size_t)np * sizeof *gpd);
        /* with takes 2 the pointwise filter gradient too (dy with mid,
         * which the backward makes again from x); then mid's values stand
         * in for dmid on the CPU (mid is not read again); dx is added into */
        cpu->conv_bwd_filter(cpu, &pd, mid.h, dy.h, gph);
        cpu->conv_bwd_data(cpu, &pd, mid.h, wph, dy.h, mid.h, 0);
        cpu->conv_bwd(cpu, &dd, x.h, wdh, mid.h, dx.h, 1, 1, gwh);
        gpu->sep_bwd(gpu, &dd, &pd, x.d, NULL, wdd, dy.d, NULL, wpd, dx.d, 1, gwd,
                     took == 2 ? gpd : NULL);
        snprintf(what, sizeof what, "%s: backward, data gradient added into", name);
        same(what, &dx, TOL);
        snprintf(what, sizeof what, "%s: backward, depthwise filter gradient", name);
        same_buf(what, gwd, gwh, nd, TOL);
        if (took == 2) {
            snprintf(what, sizeof what, "%s: backward, pointwise filter gradient", name);
            same_buf(what, gpd, gph, np, TOL);
        }
        test_sep_bwd_stats(name, &dd, &pd, &x, wdh, wdd, &dy, wpd, mid.h, took == 2,
                           (stats & 2) != 0);
        pr_free(&dy);
        pr_free(&dx);
        gpu->free(gpu, gwd);
        gpu->free(gpu, gpd);
        free(gwh);
        free(gph);
    }
    pr_free(&x);
    pr_free(&mid);
    pr_free(&y);
    gpu->free(gpu, wdd);
    gpu->free(gpu, wpd);
    free(wdh);
    free(wph);
}

/* fused, bwd: the backend's separable layers run as one forward, and
 * backward (CELLAR_SEPARABLE; bwd 2: with the pointwise filter gradient;
 * s2: at stride 2 too);
 * stats (CELLAR_BN_STATS): 1, the forward gives the batch norm's
 * statistics where the band allows; 2, the backward gives the sums of dx
 * the batch norm before the pair needs */
static void test_seps(int fused, int bwd, int s2, int stats)
{
#ifdef CELLAR_KEMU
    enum { BIG = 8 };   /* the stand-in is slow; the GPU takes the proxy's batch */
#else
    enum { BIG = 128 };
#endif
    test_sep("sep 3x3 relu, 16 channels at 32x32", cdesc(16, 16, 3, 3, 1, 1, 1, 1, 1, 16, 1), 16,
             BIG, 32, 32, fused, bwd, stats);
    /* stride 2: the backward as one too (dmid spread out on chip) */
    test_sep("sep 5x5 stride 2 relu, 32 -> 32 at 16x16", cdesc(32, 32, 5, 5, 2, 2, 2, 2, 1, 32, 1),
             32, 6, 16, 16, fused, s2 ? bwd : 0, stats);
    test_sep("sep 7x7 relu, 64 channels at 8x8", cdesc(64, 64, 7, 7, 1, 1, 3, 3, 1, 64, 1), 64, BIG,
             8, 8, fused, bwd, stats);
    /* rows of 9: a band's pixels are not whole warps, no statistics */
    test_sep("dil_conv 3x3 relu, 12 -> 20 at 11x9", cdesc(12, 12, 3, 3, 1, 1, 2, 2, 2, 12, 1), 20, 3,
             11, 9, fused, bwd, stats & 2);
    /* never a pair the kernels do not take: 300 output channels */
    test_sep("sep 3x3 relu, 8 -> 300 at 4x4", cdesc(8, 8, 3, 3, 1, 1, 1, 1, 1, 8, 1), 300, 2, 4, 4,
             0, 0, 0);
}

/* ---- batch norm ---- */

/* Each op with and without a second output (an identity folded in: y2
 * takes, or adds, what y then holds; backward, dy2 added to dy), y2 and
 * dy2 slices of their own width */
static void test_bn(const char *name, int n, int c, int h, int w, int xpad, int ypad, int with_scale)
{
    bn_desc d = {1e-5f, 0.1f};
    pair x = pr_new(n, c, h, w, xpad, 2.f), y = pr_new(n, c, h, w, ypad, 1.f);
    pair dy = pr_new(n, c, h, w, ypad, 1.f), dx = pr_new(n, c, h, w, xpad, 1.f);
    pair y2 = pr_new(n, c, h, w, ypad + 1, 1.f), dy2 = pr_new(n, c, h, w, ypad + 1, 1.f);
    /* per channel: gamma, beta, then run mean, run var, save mean, save rstd */
    float *ph = bn_params_host(c), *pd, *sch = scales_host(n, with_scale), *scd;
    float *gh = malloc((size_t)2 * c * sizeof *gh), *gd = dev_alloc((size_t)2 * c * sizeof *gd);
    char what[200];
    pd = dev_copy(ph, (size_t)6 * c * sizeof *ph);
    scd = sch ? dev_copy(sch, (size_t)n * sizeof *sch) : NULL;

    /* k: acc (bit 0), y2 given (bit 1), its acc2 the other way round */
    for (int k = 0; k < 4; k++) {
        int acc = k & 1, two = k >> 1;
        pr_refill(&y, 1.f);
        pr_refill(&y2, 1.f);
        cpu->bn_fwd_eval(cpu, &d, x.h, ph, ph + c, ph + 2 * c, ph + 3 * c, y.h, acc,
                         two ? y2.h : NOV, !acc);
        gpu->bn_fwd_eval(gpu, &d, x.d, pd, pd + c, pd + 2 * c, pd + 3 * c, y.d, acc,
                         two ? y2.d : NOV, !acc);
        snprintf(what, sizeof what, "%s: evaluation forward, acc %d%s", name, acc,
                 two ? ", with y2" : "");
        same(what, &y, TOL);
        if (two) {
            snprintf(what, sizeof what, "%s: evaluation forward's y2, acc2 %d", name, !acc);
            same(what, &y2, TOL);
        }
    }
    for (int k = 0; k < 4; k++) {
        int acc = k & 1, two = k >> 1;
        pr_refill(&y, 1.f);
        pr_refill(&y2, 1.f);
        cpu->bn_fwd_train(cpu, &d, x.h, ph, ph + c, ph + 4 * c, ph + 5 * c, ph + 2 * c, ph + 3 * c,
                          y.h, acc, sch, two ? y2.h : NOV, !acc);
        gpu->bn_fwd_train(gpu, &d, x.d, pd, pd + c, pd + 4 * c, pd + 5 * c, pd + 2 * c, pd + 3 * c,
                          y.d, acc, scd, two ? y2.d : NOV, !acc);
        snprintf(what, sizeof what, "%s: training forward, acc %d%s", name, acc,
                 two ? ", with y2" : "");
        same(what, &y, TOL);
        if (two) {
            snprintf(what, sizeof what, "%s: training forward's y2, acc2 %d", name, !acc);
            same(what, &y2, TOL);
        }
        snprintf(what, sizeof what,
                 "%s: saved mean and 1/std, running mean and variance after step %d", name,
                 k + 1);
        same_buf(what, pd + 2 * c, ph + 2 * c, 4L * c, TOL);
    }
    for (int k = 0; k < 4; k++) {
        int acc = k & 1, two = k >> 1;
        pr_refill(&dx, 1.f);
        cpu->bn_bwd(cpu, x.h, dy.h, two ? dy2.h : NOV, ph, ph + 4 * c, ph + 5 * c, sch, dx.h, acc,
                    gh, gh + c);
        gpu->bn_bwd(gpu, x.d, dy.d, two ? dy2.d : NOV, pd, pd + 4 * c, pd + 5 * c, scd, dx.d, acc,
                    gd, gd + c);
        snprintf(what, sizeof what, "%s: backward, acc %d%s", name, acc,
                 two ? ", with dy2" : "");
        same(what, &dx, TOL);
        snprintf(what, sizeof what, "%s: dgamma and dbeta%s", name, two ? ", with dy2" : "");
        same_buf(what, gd, gh, 2L * c, TOL);
    }
    pr_free(&x);
    pr_free(&y);
    pr_free(&dy);
    pr_free(&dx);
    pr_free(&y2);
    pr_free(&dy2);
    gpu->free(gpu, pd);
    gpu->free(gpu, gd);
    if (scd)
        gpu->free(gpu, scd);
    free(ph);
    free(gh);
}

static void test_bns(void)
{
    test_bn("batch norm 4x3x5x5, slices", 4, 3, 5, 5, 1, 2, 0);
    test_bn("batch norm with drop-path scales", 6, 4, 3, 3, 0, 1, 1);
    test_bn("batch norm 8x16x32x32", 8, 16, 32, 32, 0, 0, 1);
    test_bn("batch norm 8x5x1x1", 8, 5, 1, 1, 0, 0, 0);
    test_bn("batch norm 3x7x9x7, odd", 3, 7, 9, 7, 2, 0, 0);
    /* few channels, many values: each channel summed in ranges by blocks
     * of their own; many channels: a block per channel (cuda.c, bn_parts:
     * split below four blocks a multiprocessor, ranges of 1024 values at
     * least) */
#ifdef CELLAR_KEMU
    /* the stand-in's 4 multiprocessors: split below 16 channels (on the
     * GPU's shapes below every channel would have a block: no split) */
    test_bn("batch norm 32x4x16x16 (split in 4), slices, drop-path scales", 32, 4, 16, 16, 3, 5, 1);
    test_bn("batch norm 32x2x16x16 (split in 8)", 32, 2, 16, 16, 0, 0, 0);
    test_bn("batch norm 8x40x8x8 (a block per channel)", 8, 40, 8, 8, 0, 0, 1);
#else
    test_bn("batch norm 128x16x32x32 (split), slices, drop-path scales", 128, 16, 32, 32, 3, 5, 1);
    test_bn("batch norm 128x64x8x8 (split)", 128, 64, 8, 8, 0, 0, 0);
    test_bn("batch norm 64x600x8x8 (a block per channel)", 64, 600, 8, 8, 0, 0, 1);
#endif
}

/* ---- pooling ---- */

static void test_pool(const char *name, pool_kind kind, int k, int s, int p, int n, int c, int h,
                      int w, int xpad, int ypad, int with_scale)
{
    pool_desc d = {kind, k, s, p};
    cl_err err = {0};
    int ho = pool_out(&d, h), wo = pool_out(&d, w);
    pair x, y, dy, dx;
    float *sch = scales_host(n, with_scale), *scd;
    char what[200];
    if (cpu->pool_prepare(cpu, &d, n, c, h, w, &err) ||
        gpu->pool_prepare(gpu, &d, n, c, h, w, &err)) {
        CHECK(0, "%s: prepared: %s", name, err.msg);
        return;
    }
    x = pr_new(n, c, h, w, xpad, 1.f);
    y = pr_new(n, c, ho, wo, ypad, 1.f);
    dy = pr_new(n, c, ho, wo, ypad, 1.f);
    dx = pr_new(n, c, h, w, xpad ? 0 : 2, 1.f);
    scd = sch ? dev_copy(sch, (size_t)n * sizeof *sch) : NULL;
    for (int acc = 0; acc < 2; acc++) {
        pr_refill(&y, 1.f);
        cpu->pool_fwd(cpu, &d, x.h, y.h, acc, sch);
        gpu->pool_fwd(gpu, &d, x.d, y.d, acc, scd);
        snprintf(what, sizeof what, "%s: forward, acc %d", name, acc);
        same(what, &y, TOL);
        pr_refill(&dx, 1.f);
        cpu->pool_bwd(cpu, &d, x.h, dy.h, dx.h, acc, sch);
        gpu->pool_bwd(gpu, &d, x.d, dy.d, dx.d, acc, scd);
        snprintf(what, sizeof what, "%s: backward, acc %d", name, acc);
        same(what, &dx, TOL);
    }
    pr_free(&x);
    pr_free(&y);
    pr_free(&dy);
    pr_free(&dx);
    if (scd)
        gpu->free(gpu, scd);
}

static void test_pools(void)
{
    char name[96];
    for (int kind = 0; kind < 2; kind++)
        for (int k = 3; k <= 7; k += 2)
            for (int s = 1; s <= 2; s++) {
                snprintf(name, sizeof name, "%s pool %dx%d stride %d", kind ? "average" : "max", k,
                         k, s);
                test_pool(name, (pool_kind)kind, k, s, k / 2, 3, 3, 9, 8, 1, s - 1, s == 2);
            }
    test_pool("max pool 3x3 stride 2 on 32x32 with scales", POOL_MAX, 3, 2, 1, 4, 8, 32, 32, 0, 0,
              1);
    test_pool("average pool 3x3 on 32x32", POOL_AVG, 3, 1, 1, 4, 8, 32, 32, 0, 2, 0);
    test_pool("max pool 2x2 stride 2, no padding", POOL_MAX, 2, 2, 0, 2, 3, 7, 6, 0, 1, 0);
    test_pool("average pool 3x3 stride 2, no padding", POOL_AVG, 3, 2, 0, 2, 3, 9, 9, 1, 0, 1);
    test_pool("max pool 5x5 stride 1, padding 1", POOL_MAX, 5, 1, 1, 2, 2, 7, 7, 0, 0, 0);
}

/* ---- identity, global average pooling ---- */

static void test_small(void)
{
    char what[160];
    for (int on = 0; on < 2; on++)
        for (int acc = 0; acc < 2; acc++) {
            pair x = pr_new(5, 3, 7, 5, 1, 1.f), y = pr_new(5, 3, 7, 5, 2, 1.f);
            float *sch = scales_host(5, on), *scd = sch ? dev_copy(sch, 5 * sizeof *sch) : NULL;
            cpu->scale_copy(cpu, x.h, y.h, acc, sch);
            gpu->scale_copy(gpu, x.d, y.d, acc, scd);
            snprintf(what, sizeof what, "identity path: scales %s, acc %d", on ? "on" : "off", acc);
            same(what, &y, TOL);
            pr_free(&x);
            pr_free(&y);
            if (scd)
                gpu->free(gpu, scd);
        }
    {
        pair x = pr_new(6, 12, 8, 8, 0, 1.f), y = pr_new(6, 12, 1, 1, 3, 1.f);
        pair x2 = pr_new(3, 5, 13, 11, 2, 1.f), y2 = pr_new(3, 5, 1, 1, 0, 1.f);
        cpu->gap_fwd(cpu, x.h, y.h);
        gpu->gap_fwd(gpu, x.d, y.d);
        same("global average pool forward 8x8", &y, TOL);
        cpu->gap_fwd(cpu, x2.h, y2.h);
        gpu->gap_fwd(gpu, x2.d, y2.d);
        same("global average pool forward 13x11 (over a warp), slice in", &y2, TOL);
        for (int acc = 0; acc < 2; acc++) {
            pr_refill(&x, 1.f);
            cpu->gap_bwd(cpu, y.h, x.h, acc);
            gpu->gap_bwd(gpu, y.d, x.d, acc);
            snprintf(what, sizeof what, "global average pool backward, acc %d", acc);
            same(what, &x, TOL);
        }
        pr_free(&x);
        pr_free(&y);
        pr_free(&x2);
        pr_free(&y2);
    }
}

/* ---- linear, cross-entropy, SGD ---- */

static void test_linear(int n, int k, int m)
{
    long nx = (long)n * k, nw = (long)m * k, ny = (long)n * m;
    float *xh = malloc((size_t)nx * 4), *wh = malloc((size_t)(nw + m) * 4);
    float *yh = malloc((size_t)ny * 4), *dxh = malloc((size_t)nx * 4);
    float *gh = malloc((size_t)(nw + m) * 4);
    float *xd, *wd, *yd, *dxd, *gd;
    char what[160];
    fill(xh, nx, 1.f);
    fill(wh, nw + m, 0.5f);
    fill(yh, ny, 1.f);
    fill(dxh, nx, 1.f);
    xd = dev_copy(xh, (size_t)nx * 4);
    wd = dev_copy(wh, (size_t)(nw + m) * 4);
    yd = dev_copy(yh, (size_t)ny * 4);
    dxd = dev_copy(dxh, (size_t)nx * 4);
    gd = dev_alloc((size_t)(nw + m) * 4);
    cpu->linear_fwd(cpu, n, k, m, xh, wh, wh + nw, yh);
    gpu->linear_fwd(gpu, n, k, m, xd, wd, wd + nw, yd);
    snprintf(what, sizeof what, "linear %d x %d -> %d: forward", n, k, m);
    same_buf(what, yd, yh, ny, TOL);
    /* y as the output gradient from here on */
    for (int acc = 0; acc < 2; acc++) {
        cpu->linear_bwd(cpu, n, k, m, xh, wh, yh, dxh, acc, gh, gh + nw);
        gpu->linear_bwd(gpu, n, k, m, xd, wd, yd, dxd, acc, gd, gd + nw);
        snprintf(what, sizeof what, "linear %d x %d -> %d: input gradient, acc %d", n, k, m, acc);
        same_buf(what, dxd, dxh, nx, TOL);
        snprintf(what, sizeof what, "linear %d x %d -> %d: weight and bias gradients", n, k, m);
        same_buf(what, gd, gh, nw + m, TOL);
    }
    fill(gh, nw + m, 1.f);
    gpu->upload(gpu, gd, gh, (size_t)(nw + m) * 4);
    cpu->linear_bwd(cpu, n, k, m, xh, wh, yh, NULL, 0, gh, gh + nw);
    gpu->linear_bwd(gpu, n, k, m, xd, wd, yd, NULL, 0, gd, gd + nw);
    snprintf(what, sizeof what, "linear %d x %d -> %d: gradients without dx", n, k, m);
    same_buf(what, gd, gh, nw + m, TOL);
    free(xh);
    free(wh);
    free(yh);
    free(dxh);
    free(gh);
    gpu->free(gpu, xd);
    gpu->free(gpu, wd);
    gpu->free(gpu, yd);
    gpu->free(gpu, dxd);
    gpu->free(gpu, gd);
}

static void test_xent(int n, int m)
{
    float *zh = malloc((size_t)n * m * 4), *gh = malloc((size_t)n * m * 4), *zd, *gd, *ld;
    int *lh = malloc((size_t)n * sizeof *lh), *labd, *cd, right_c, right_g;
    float loss_c, loss_g;
    char what[160];
    fill(zh, (long)n * m, 3.f);
    for (int i = 0; i < n; i++)
        lh[i] = (int)rng_below(&rng, (uint32_t)m);
    zd = dev_copy(zh, (size_t)n * m * 4);
    gd = dev_alloc((size_t)n * m * 4);
    labd = (int *)dev_copy(lh, (size_t)n * sizeof *lh);
    ld = dev_alloc(sizeof(float));
    cd = (int *)dev_alloc(sizeof(int));
    for (int with_grad = 0; with_grad < 2; with_grad++) {
        cpu->xent(cpu, n, m, zh, lh, &loss_c, &right_c, with_grad ? gh : NULL, NULL);
        gpu->xent(gpu, n, m, zd, labd, ld, cd, with_grad ? gd : NULL, NULL);
        if (!synced("cross-entropy"))
            break;
        gpu->download(gpu, &loss_g, ld, sizeof loss_g);
        gpu->download(gpu, &right_g, cd, sizeof right_g);
        CHECK(fabs(loss_g - loss_c) <= TOL * fabs(loss_c) && right_g == right_c,
              "cross-entropy over %d rows of %d: loss %.6f (CPU %.6f), %d right (CPU %d)", n, m,
              loss_g, loss_c, right_g, right_c);
    }
    snprintf(what, sizeof what, "cross-entropy over %d rows of %d: logit gradients", n, m);
    same_buf(what, gd, gh, (long)n * m, TOL);
    free(zh);
    free(gh);
    free(lh);
    gpu->free(gpu, zd);
    gpu->free(gpu, gd);
    gpu->free(gpu, labd);
    gpu->free(gpu, ld);
    gpu->free(gpu, cd);
}

static void test_sgd(void)
{
    long count = 3001;
    float *p = malloc((size_t)count * 4), *g = malloc((size_t)count * 4),
          *v = malloc((size_t)count * 4);
    float *pd, *gd, *vd;
    fill(p, count, 1.f);
    fill(g, count, 1.f);
    fill(v, count, 1.f);
    pd = dev_copy(p, (size_t)count * 4);
    gd = dev_copy(g, (size_t)count * 4);
    vd = dev_copy(v, (size_t)count * 4);
    for (int first = 1; first >= 0; first--) {
        cpu->sgd(cpu, count, p, g, v, 0.05f, 0.9f, 3e-4f, first, NULL);
        gpu->sgd(gpu, count, pd, gd, vd, 0.05f, 0.9f, 3e-4f, first, NULL);
        same_buf(first ? "SGD first step: parameters" : "SGD with momentum: parameters", pd, p,
                 count, TOL);
        same_buf(first ? "SGD first step: momentum" : "SGD with momentum: momentum", vd, v, count,
                 TOL);
    }
    free(p);
    free(g);
    free(v);
    gpu->free(gpu, pd);
    gpu->free(gpu, gd);
    gpu->free(gpu, vd);
}

/* batches from a resident dataset and drop-path masks: the same integer
 * draws on both sides, so the same pixels and masks */
static void test_batches(void)
{
    enum { COUNT = 50, C = 3, H = 32, W = 32, N = 77 };
    long img = (long)C * H * W;
    uint8_t *images = malloc((size_t)COUNT * img), labels[COUNT];
    int idx[N], y_c[N], y_g[N], *idx_d, *y_d;
    float *x_c = malloc((size_t)N * img * sizeof(float)), *x_d;
    uint8_t *images_d, *labels_d;
    batch_desc d;
    for (long i = 0; i < COUNT * img; i++)
        images[i] = (uint8_t)(rng_u64(&rng) & 0xff);
    for (int i = 0; i < COUNT; i++)
        labels[i] = (uint8_t)(rng_below(&rng, 10));
    for (int i = 0; i < N; i++)
        idx[i] = (int)rng_below(&rng, COUNT);
    images_d = dev_alloc((size_t)COUNT * img);
    gpu->upload(gpu, images_d, images, (size_t)COUNT * img);
    labels_d = dev_alloc(COUNT);
    gpu->upload(gpu, labels_d, labels, COUNT);
    idx_d = (int *)dev_copy(idx, sizeof idx);
    y_d = dev_alloc(sizeof y_g);
    x_d = dev_alloc((size_t)N * img * sizeof(float));
    memset(&d, 0, sizeof d);
    d.c = C;
    d.h = H;
    d.w = W;
    d.seed = 4242;
    d.mean[0] = 0.49f, d.mean[1] = 0.48f, d.mean[2] = 0.45f;
    d.std[0] = 0.25f, d.std[1] = 0.24f, d.std[2] = 0.26f;
    for (int aug = 0; aug <= 1; aug++) {
        d.pad = aug ? 4 : 0;
        d.flip = aug;
        d.step = 1000 + aug;
        cpu->batch_gather(cpu, &d, images, labels, idx, N, x_c, y_c, NULL);
        gpu->batch_gather(gpu, &d, images_d, labels_d, idx_d, N, x_d, y_d, NULL);
        same_buf(aug ? "batch gather, pad-4 crop and flip" : "batch gather, normalisation only",
                 x_d, x_c, N * img, TOL);
        gpu->download(gpu, y_g, y_d, sizeof y_g);
        CHECK(!memcmp(y_c, y_g, sizeof y_c), "... with the same labels");
    }
    {
        /* 80 rows of 128, then 3 rows summing two of them */
        static const int pairs[6] = {79, 0, 5, 6, 12, 12};
        long m = 80 * 128, all = m + 3 * 128;
        float *mc = malloc((size_t)all * sizeof *mc), *md = dev_alloc((size_t)all * sizeof *md);
        int *pd = dev_alloc(sizeof pairs);
        gpu->upload(gpu, pd, pairs, sizeof pairs);
        cpu->drop_draw(cpu, 77, 123, 0.25f, m, pairs, 3, 128, mc, NULL);
        gpu->drop_draw(gpu, 77, 123, 0.25f, m, pd, 3, 128, md, NULL);
        same_buf("drop-path masks drawn on the GPU, and rows summing two, are the CPU's", md, mc,
                 all, 1e-12);
        free(mc);
        gpu->free(gpu, md);
        gpu->free(gpu, pd);
    }
    free(images);
    free(x_c);
    gpu->free(gpu, images_d);
    gpu->free(gpu, labels_d);
    gpu->free(gpu, idx_d);
    gpu->free(gpu, y_d);
    gpu->free(gpu, x_d);
}

/* ---- a whole child network on both backends ---- */

static const char *every_op =
    "normal: identity(0) conv_1x3_3x1(1) add | conv_1x7_7x1(0) dil_conv_3x3(2) concat | "
    "avg_pool_3x3(1) max_pool_5x5(3) add | max_pool_7x7(0) conv_3x3(1) add | "
    "sep_conv_7x7(4) conv_1x1(5) concat ; reduce: identity(0) sep_conv_3x3(1) concat | "
    "sep_conv_5x5(0) max_pool_3x3(1) add | avg_pool_3x3(1) identity(3) add | "
    "conv_1x1(2) conv_3x3(0) add | sep_conv_7x7(1) dil_conv_3x3(5) add";

static int net_on(cl_backend *be, const cl_genotype *g, const child_spec *spec, int batch,
                  cl_net **net, cl_err *err)
{
    cl_rng r;
    int rc;
    rng_seed(&r, 99);
    if ((rc = child_build(g, spec, be, net, err)) || (rc = net_plan(*net, batch, err)) ||
        (rc = net_init_params(*net, &r, err)))
        return rc;
    return CL_OK;
}

/* A value read through ReLU that lies this close to 0 may come out on
 * either side of it on the two backends (their sums round differently),
 * and the gradient through it with it: the comparison is then ill-posed.
 * Rarely one a little further does too (an add's output, -3.1e-6 on the
 * CPU, once came out +3.6e-6 on the GPU's kernels): test_network also
 * compares the signs the two forwards give (relu_flips). */
#define NEAR_TIE 3e-6

/* the values read through ReLU within NEAR_TIE of 0 in the CPU's two
 * training steps of test_network on input x */
static int relu_ties(const cl_genotype *g, const child_spec *spec, int batch, const float *x,
                     const int *labels)
{
    cl_net *net = NULL;
    cl_err err = {0};
    float loss;
    int right, ties = 0;
    if (net_on(cpu, g, spec, batch, &net, &err)) {
        net_free(net);
        return 0; /* test_network reports it */
    }
    for (int step = 0; step < 2; step++) {
        cl_rng r;
        rng_seed(&r, 7 + step);
        net_drop_path(net, 0.3f, &r);
        if (net_forward(net, x, batch, 1, &err))
            break;
        for (int i = 0; i < net->n_nodes; i++) {
            const net_node *nd = &net->nodes[i];
            tview v;
            if (nd->kind != NODE_CONV || !nd->u.conv.relu_in)
                continue;
            v = net_view(net, net->act, nd->x, batch);
            for (int im = 0; im < batch; im++)
                for (long j = 0; j < (long)v.c * v.h * v.w; j++) {
                    /* exact zeros (dropped paths) are zero on both */
                    float a = fabsf(v.d[im * v.ns + j]);
                    ties += a > 0.f && a < NEAR_TIE;
                }
        }
        if (net_loss(net, labels, &loss, &right, 1, &err) || net_backward(net, &err))
            break;
        net_sgd(net, 0.1f, 0.9f, 3e-4f);
    }
    net_free(net);
    return ties;
}

/* the values read through ReLU on opposite sides of 0 in the two
 * networks' last forward (both on batch images) */
static long relu_flips(const cl_net *nc, const cl_net *ng, int batch)
{
    long flips = 0;
    for (int i = 0; i < nc->n_nodes; i++) {
        const net_node *nd = &nc->nodes[i];
        tview vc, vg;
        float *got;
        if (nd->kind != NODE_CONV || !nd->u.conv.relu_in)
            continue;
        vc = net_view(nc, nc->act, nd->x, batch);
        vg = net_view(ng, ng->act, nd->x, batch);
        got = malloc((size_t)batch * vg.ns * sizeof *got);
        if (ng->nodes[i].xbn >= 0) {
            /* a batch norm's output the GPU never wrote: its input through
             * the scale and shift the pair applies (net.c's bnin) */
            const net_node *b = &ng->nodes[ng->nodes[i].xbn];
            tview t = net_view(ng, ng->act, b->x, batch);
            float *ab = malloc((size_t)2 * t.c * sizeof *ab);
            long hw = (long)t.h * t.w;
            gpu->download(gpu, got, t.d, (size_t)batch * t.ns * sizeof *got);
            gpu->download(gpu, ab, ng->bab + b->bab_off, (size_t)2 * t.c * sizeof *ab);
            vg.ns = t.ns;
            for (int im = 0; im < batch; im++)
                for (long j = 0; j < (long)t.c * hw; j++)
                    got[im * t.ns + j] = fmaf(ab[j / hw], got[im * t.ns + j], ab[t.c + j / hw]);
            free(ab);
        } else {
            gpu->download(gpu, got, vg.d, (size_t)batch * vg.ns * sizeof *got);
        }
        for (int im = 0; im < batch; im++)
            for (long j = 0; j < (long)vc.c * vc.h * vc.w; j++)
                flips += (vc.d[im * vc.ns + j] > 0.f) != (got[im * vg.ns + j] > 0.f);
        free(got);
    }
    return flips;
}

static void test_network(void)
{
    child_spec spec = {1, 4, 3, 16, 16, 10};
    int batch = 8, right_c = 0, right_g = 0;
    long in_len = (long)batch * 3 * 16 * 16;
    cl_genotype g;
    cl_net *nc = NULL, *ng = NULL;
    cl_err err = {0};
    float *x = malloc((size_t)in_len * 4), *lc = malloc((size_t)batch * 10 * 4);
    float *lg = malloc((size_t)batch * 10 * 4), loss_c = 0, loss_g = 0;
    int *labels = malloc((size_t)batch * sizeof *labels);
    char what[160];

    if (geno_from_arg(every_op, &g, &err) || net_on(cpu, &g, &spec, batch, &nc, &err) ||
        net_on(gpu, &g, &spec, batch, &ng, &err)) {
        CHECK(0, "the every-op network builds on both backends: %s", err.msg);
        goto out;
    }
    CHECK(nc->n_params == ng->n_params, "both networks have %ld parameters", nc->n_params);
    CHECK(net_bn_applied(ng) > 0 && net_bn_applied(nc) == 0,
          "the GPU's applies %d batch norms in the separable pair after them (the CPU's none)",
          net_bn_applied(ng));
    CHECK(net_bn_dx_fused(ng) > 0 && net_bn_dx_fused(nc) == 0,
          "the GPU's back-propagates through %d batch norms in the separable pair before them "
          "(the CPU's none)",
          net_bn_dx_fused(ng));
    for (int attempt = 1;; attempt++) {
        long flips;
        int ties;
        for (long i = 0; i < in_len; i++)
            x[i] = rng_normal(&rng);
        for (int i = 0; i < batch; i++)
            labels[i] = (int)rng_below(&rng, 10);
        if ((ties = relu_ties(&g, &spec, batch, x, labels))) {
            printf("# input %d puts %d values read through ReLU within %g of 0: another\n",
                   attempt, ties, NEAR_TIE);
        } else {
            /* the first step's forward on both: where a value read through
             * ReLU still comes out on the two sides of 0 (further from it
             * than NEAR_TIE), another input, on networks made afresh */
            cl_rng r1, r2;
            rng_seed(&r1, 7);
            rng_seed(&r2, 7);
            net_drop_path(nc, 0.3f, &r1);
            net_drop_path(ng, 0.3f, &r2);
            if (net_forward(nc, x, batch, 1, &err) || net_forward(ng, x, batch, 1, &err) ||
                ng->be->sync(ng->be, &err)) {
                CHECK(0, "network forward runs: %s", err.msg);
                goto out;
            }
            if (!(flips = relu_flips(nc, ng, batch)))
                break;
            printf("# input %d: %ld values read through ReLU on the two sides of 0: another\n",
                   attempt, flips);
        }
        if (attempt == 50) {
            CHECK(0, "an input with no value near a ReLU's 0 in 50 draws");
            goto out;
        }
    }
    for (int step = 0; step < 2; step++) {
        cl_rng r1, r2;
        if (step > 0) {
            /* each step from the same state: see test_steps */
            gpu->download(gpu, nc->params, ng->params, (size_t)nc->p_storage * sizeof(float));
            gpu->download(gpu, nc->mom, ng->mom, (size_t)nc->p_storage * sizeof(float));
            gpu->download(gpu, nc->state, ng->state, (size_t)nc->n_state * sizeof(float));
        }
        rng_seed(&r1, 7 + step);
        rng_seed(&r2, 7 + step);
        net_drop_path(nc, 0.3f, &r1);
        net_drop_path(ng, 0.3f, &r2);
        if (net_forward(nc, x, batch, 1, &err) || net_loss(nc, labels, &loss_c, &right_c, 1, &err) ||
            net_forward(ng, x, batch, 1, &err) || net_loss(ng, labels, &loss_g, &right_g, 1, &err) ||
            net_backward(nc, &err) || net_backward(ng, &err)) {
            CHECK(0, "network step %d runs: %s", step + 1, err.msg);
            goto out;
        }
        net_logits(nc, lc);
        net_logits(ng, lg);
        snprintf(what, sizeof what, "every-op network, step %d: logits", step + 1);
        CHECK(check_rel_err(lg, lc, (long)batch * 10) < NET_TOL, "%s (relative error %.2g)", what,
              check_rel_err(lg, lc, (long)batch * 10));
        {
            /* a row whose two best logits (CPU) are closer than the
             * tolerance may rightly come out either way */
            int near = 0;
            double mean = 0.0;
            for (long i = 0; i < (long)batch * 10; i++)
                mean += fabsf(lc[i]) / (batch * 10.0);
            for (int i = 0; i < batch; i++) {
                float a = -INFINITY, b2 = -INFINITY;
                for (int j = 0; j < 10; j++) {
                    float v = lc[i * 10 + j];
                    if (v > a) {
                        b2 = a;
                        a = v;
                    } else if (v > b2) {
                        b2 = v;
                    }
                }
                /* check_rel_err lets each logit move by NET_TOL * (|v| + mean) */
                near += a - b2 < 2 * NET_TOL * (fabsf(a) + mean);
            }
            CHECK(fabs(loss_g - loss_c) < NET_TOL * loss_c && abs(right_g - right_c) <= near,
                  "every-op network, step %d: loss %.6f (CPU %.6f), %d right (CPU %d; %d rows "
                  "near a tie)",
                  step + 1, loss_g, loss_c, right_g, right_c, near);
        }
        snprintf(what, sizeof what, "every-op network, step %d: all parameter gradients",
                 step + 1);
        same_buf(what, ng->pgrad, nc->pgrad, nc->p_storage, NET_TOL);
        net_sgd(nc, 0.1f, 0.9f, 3e-4f);
        net_sgd(ng, 0.1f, 0.9f, 3e-4f);
        snprintf(what, sizeof what, "every-op network, step %d: parameters after SGD", step + 1);
        same_buf(what, ng->params, nc->params, nc->p_storage, NET_TOL);
        snprintf(what, sizeof what, "every-op network, step %d: batch-norm statistics", step + 1);
        same_buf(what, ng->state, nc->state, nc->n_state, NET_TOL);
    }
    if (net_forward(nc, x, batch - 3, 0, &err) || net_forward(ng, x, batch - 3, 0, &err)) {
        CHECK(0, "network evaluation runs: %s", err.msg);
        goto out;
    }
    net_logits(nc, lc);
    net_logits(ng, lg);
    CHECK(check_rel_err(lg, lc, (long)(batch - 3) * 10) < NET_TOL,
          "every-op network: evaluation logits on a smaller batch (relative error %.2g)",
          check_rel_err(lg, lc, (long)(batch - 3) * 10));
out:
    net_free(nc);
    net_free(ng);
    free(x);
    free(lc);
    free(lg);
    free(labels);
}

/* A network of odd channel counts (F = 3): the factors of the batch norms
 * the separable layers back-propagate through (bdy) still start on 16
 * bytes, as the kernels read them (four floats at once; the 2 C floats of
 * a batch norm applied in the next op, bnin, before them would leave them
 * on 8), and a training step runs */
static void test_odd_channels(void)
{
    child_spec spec = {1, 3, 3, 16, 16, 10};
    int batch = 4, odd = 0, bad = 0, right = 0, labels[4] = {1, 2, 3, 4};
    long in_len = (long)batch * 3 * 16 * 16;
    float *x = malloc((size_t)in_len * sizeof *x), loss = 0.f;
    cl_genotype g;
    cl_net *ng = NULL;
    cl_err err = {0};

    if (geno_from_arg(every_op, &g, &err) || net_on(gpu, &g, &spec, batch, &ng, &err)) {
        CHECK(0, "the every-op network at F = 3 builds: %s", err.msg);
        goto out;
    }
    for (int i = 0; i < ng->n_nodes; i++)
        if (ng->nodes[i].bdy) {
            odd += ng->vals[ng->nodes[i].x].c % 2;
            bad += ng->nodes[i].bdy_off % 4 != 0;
        }
    CHECK(net_bn_dx_fused(ng) > 0 && net_bn_applied(ng) > 0 && odd > 0 && !bad,
          "at F = 3, %d batch norms back-propagated through in the layer before (%d of odd "
          "channels, beside %d applied in the next op), every one's factors on 16 bytes (%d not)",
          net_bn_dx_fused(ng), odd, net_bn_applied(ng), bad);
    for (long i = 0; i < in_len; i++)
        x[i] = rng_normal(&rng);
    if (net_forward(ng, x, batch, 1, &err) || net_loss(ng, labels, &loss, &right, 1, &err) ||
        net_backward(ng, &err) || ng->be->sync(ng->be, &err))
        CHECK(0, "a training step at F = 3 runs: %s", err.msg);
    else
        CHECK(isfinite(loss), "a training step at F = 3 runs (loss %g)", (double)loss);
out:
    net_free(ng);
    free(x);
}

/* ---- whole training steps: queued, recorded as a graph, and the CPU's ---- */

/* One run of test_steps: nasnet-a F=4 with a trainer of one epoch of 12
 * steps (4 on the stand-in; augmentation and a rising drop-path on) on a small random
 * dataset. */
typedef struct run {
    cl_backend *be;
    cl_net *net;
    cl_trainer *tr;
} run;

#define RUN_BATCH 8

/* training `net` (planned for RUN_BATCH on be; NULL: NASNet-A N=1 F=4)
 * on the 16x16x3 images of ds: one epoch, crops and flips, drop-path */
static int run_epochs(run *r, cl_backend *be, cl_net *net, const cl_dataset *ds, const int *idx,
                      int n, int epochs)
{
    child_spec spec = {1, 4, 3, 16, 16, 10};
    float mean[3] = {0.5f, 0.4f, 0.3f}, sd[3] = {0.25f, 0.3f, 0.2f};
    cl_genotype g;
    cl_err err = {0};
    train_cfg cfg;
    train_cfg_defaults(&cfg);
    cfg.epochs = epochs;
    cfg.batch = RUN_BATCH;
    cfg.augment = 1;
    cfg.drop_path.kind = SCHED_LINEAR;
    cfg.drop_path.from = 0.0;
    cfg.drop_path.to = 0.3;
    memset(r, 0, sizeof *r);
    r->be = be;
    r->net = net;
    if ((!net && (geno_from_arg("nasnet-a", &g, &err) ||
                  net_on(be, &g, &spec, cfg.batch, &r->net, &err))) ||
        trainer_new(r->net, ds, idx, n, mean, sd, &cfg, &r->tr, &err))
        return CHECK(0, "training on %s starts: %s", be->name, err.msg), 0;
    return 1;
}

static int run_with(run *r, cl_backend *be, cl_net *net, const cl_dataset *ds, const int *idx,
                    int n)
{
    return run_epochs(r, be, net, ds, idx, n, 1);
}

static int run_new(run *r, cl_backend *be, const cl_dataset *ds, const int *idx, int n)
{
    return run_with(r, be, NULL, ds, idx, n);
}

static void run_free(run *r)
{
    trainer_free(r->tr);
    net_free(r->net);
}

/* a copy of the network's parameters in host memory (malloc'ed) */
static float *run_params(const run *r)
{
    float *p = malloc((size_t)r->net->p_storage * sizeof *p);
    r->be->download(r->be, p, r->net->params, (size_t)r->net->p_storage * sizeof *p);
    return p;
}

/* Whole training steps, queued: op by op on the GPU (a backend with
 * CELLAR_CUDA_GRAPH=0), recorded as a graph and replayed, and on the CPU.
 * Each step on the CPU starts from the state the GPU's op-by-op run
 * reached (parameters, momentum, batch-norm statistics), so that each of
 * the GPU's steps is held to the CPU's own from the same place: over
 * several steps the two runs drift apart wherever a value read through
 * ReLU lies a rounding away from 0 (a few do, each step), which says
 * nothing about the engine.  Even one step now and then meets such a
 * value, read as positive by one and not by the other (or a max-pooling
 * window with two maxima a rounding apart): the gradient behind it
 * changes, batch norm spreads that over its channel, and that step's
 * parameters differ by up to a few 1e-3 (on the stand-in, 4 steps from
 * each of 16 draws: 2 of the 64 steps 3.4e-4 and 4.8e-4, all others about
 * 1e-7; other draws gave single steps of 1.5e-3 and 2.1e-3).  So the
 * median step must agree as one op does (TOL) and no step may differ by
 * more than such an event (STEP_EVENT); an engine that computes
 * something else is off at every step.  The replayed graph must then end
 * where op by op did, since both are the GPU's arithmetic. */
#define STEP_EVENT 1e-2

static void test_steps(void)
{
#ifdef CELLAR_KEMU
    enum { COUNT = 32, STEPS = 4 };   /* the stand-in is slow: one epoch of 4 steps */
#else
    enum { COUNT = 96, STEPS = 12 };
#endif
    cl_dataset ds;
    int idx[COUNT];
    run rc, rp, rg;
    cl_backend *plain = NULL, *graphed = NULL;
    cl_err err = {0};
    double worst = 0.0, errs[STEPS], median;
    int ok = 1, step = 0, bad = 0, lag = 1;
    char at[64] = "";
    memset(&rc, 0, sizeof rc);
    memset(&rp, 0, sizeof rp);
    memset(&rg, 0, sizeof rg);
    test_dataset(&ds, COUNT, 16, &rng, idx);
    if (!(plain = cuda_with("CELLAR_CUDA_GRAPH", "0")))
        goto out;
    /* the recorded run on a fresh backend too, so that both choose their
     * cuDNN algorithms alike (a backend that has prepared larger work
     * before may choose others, whose sums round differently) */
    if (backend_cuda_create(&graphed, &err)) {
        CHECK(0, "a second CUDA backend starts: %s", err.msg);
        goto out;
    }
    if (!run_new(&rc, cpu, &ds, idx, COUNT) || !run_new(&rp, plain, &ds, idx, COUNT) ||
        !run_new(&rg, graphed, &ds, idx, COUNT))
        goto out;
    for (step = 0; step < STEPS && ok; step++) {
        cl_net *c = rc.net, *p = rp.net;
        float *pc, *pp;
        double e;
        /* the CPU's network is in host memory: the GPU's state straight in */
        plain->download(plain, c->params, p->params, (size_t)c->p_storage * sizeof(float));
        plain->download(plain, c->mom, p->mom, (size_t)c->p_storage * sizeof(float));
        plain->download(plain, c->state, p->state, (size_t)c->n_state * sizeof(float));
        if (trainer_run(rc.tr, 1, &err) || trainer_run(rp.tr, 1, &err) ||
            trainer_run(rg.tr, 1, &err) || plain->sync(plain, &err) ||
            graphed->sync(graphed, &err)) {
            CHECK(0, "training step %d runs on each backend: %s", step + 1, err.msg);
            goto out;
        }
        /* the losses: the CPU's read at every step, the device's not
         * before the epoch's end (its steps run on without waiting) */
        if (step + 1 < STEPS)
            lag &= trainer_status(rc.tr)->loss_steps == step + 1 &&
                   trainer_status(rc.tr)->read_steps == step + 1 &&
                   trainer_status(rg.tr)->loss_steps == 0 && trainer_status(rg.tr)->read_steps == 0;
        pc = run_params(&rc);
        pp = run_params(&rp);
        e = check_rel_err(pp, pc, c->p_storage);
        errs[step] = e;
        worst = e > worst ? e : worst;
        if (!(e < STEP_EVENT)) {
            ok = 0;
            bad = step + 1;
        }
        free(pc);
        free(pp);
    }
    CHECK(strstr(trainer_note(rp.tr), "CELLAR_CUDA_GRAPH=0") != NULL,
          "with CELLAR_CUDA_GRAPH=0 steps run op by op, and the trainer says why: %s",
          trainer_note(rp.tr));
    CHECK(!trainer_note(rg.tr)[0], "training steps are recorded as a CUDA graph%s%s",
          trainer_note(rg.tr)[0] ? ": " : "", trainer_note(rg.tr));
    if (!ok)
        snprintf(at, sizeof at, "; over %g at step %d", STEP_EVENT, bad);
    median = check_median(errs, step);
    CHECK(ok && median < TOL,
          "each of %d queued training steps on the GPU (resident data, crops, flips, drop-path, "
          "op by op) gives the CPU's parameters from the same state (relative error: median "
          "%.2g, under %g; worst %.2g%s)",
          STEPS, median, TOL, worst, at);
    if (step == STEPS) {
        const train_status *sc = trainer_status(rc.tr), *sg = trainer_status(rg.tr);
        CHECK(lag && sc->loss_steps == STEPS && sg->loss_steps == STEPS &&
                  sg->read_steps == STEPS && sg->read_seconds > 0 &&
                  fabsf(sg->last_epoch_loss - sc->last_epoch_loss) <= 1e-3f * sc->last_epoch_loss,
              "the trainer's losses: the CPU's read after every step, the GPU's at the epoch's "
              "end (%d steps read; loss %.5f, CPU %.5f), none before (loss_steps, read_steps)",
              sg->loss_steps, sg->last_epoch_loss, sc->last_epoch_loss);
        float *pp = run_params(&rp), *pg = run_params(&rg);
        CHECK(check_rel_err(pg, pp, rp.net->p_storage) < 1e-6,
              "... and replaying the recorded step %d times ends where op by op did (relative "
              "error %.2g)",
              STEPS, check_rel_err(pg, pp, rp.net->p_storage));
        free(pp);
        free(pg);
    }
out:
    run_free(&rc);
    run_free(&rp);
    run_free(&rg);
    if (plain)
        backend_destroy(plain);
    if (graphed)
        backend_destroy(graphed);
    dataset_free(&ds);
}

/* A training's checkpoint on the GPU (cellar train's, each epoch): saved
 * after the first of two epochs (steps recorded and replayed) and loaded
 * into a fresh trainer, which records its steps anew from there, it ends
 * where the run never stopped did; loaded into the CPU's trainer it holds
 * the GPU's weights, momentum and statistics, bit for bit. */
static void test_checkpoint(void)
{
    enum { COUNT = 16 };   /* two steps of RUN_BATCH an epoch */
    cl_dataset ds;
    int idx[COUNT];
    run ra, rb, rc, rcpu;
    cl_err err = {0};
    unsigned char *blob = NULL;
    size_t len = 0;
    int rc_ = 0;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    memset(&rc, 0, sizeof rc);
    memset(&rcpu, 0, sizeof rcpu);
    test_dataset(&ds, COUNT, 16, &rng, idx);
    if (!run_epochs(&ra, gpu, NULL, &ds, idx, COUNT, 2) ||
        !run_epochs(&rb, gpu, NULL, &ds, idx, COUNT, 2) ||
        !run_epochs(&rc, gpu, NULL, &ds, idx, COUNT, 2) ||
        !run_epochs(&rcpu, cpu, NULL, &ds, idx, COUNT, 2))
        goto out;
    if (trainer_run(ra.tr, 1 << 30, &err) || trainer_run(rb.tr, COUNT / RUN_BATCH, &err) ||
        trainer_save(rb.tr, &blob, &len, &err) || trainer_load(rc.tr, blob, len, &err) ||
        trainer_load(rcpu.tr, blob, len, &err)) {
        CHECK(0, "a GPU training saved after its first epoch loads: %s", err.msg);
        goto out;
    }
    {
        float *pb = run_params(&rb), *pc = run_params(&rc);
        int same = !memcmp(pb, rcpu.net->params, (size_t)rb.net->p_storage * sizeof(float)) &&
                   !memcmp(pb, pc, (size_t)rb.net->p_storage * sizeof(float));
        float *mb = malloc((size_t)rb.net->p_storage * sizeof *mb);
        gpu->download(gpu, mb, rb.net->mom, (size_t)rb.net->p_storage * sizeof *mb);
        same = same && !memcmp(mb, rcpu.net->mom, (size_t)rb.net->p_storage * sizeof *mb);
        CHECK(same && trainer_status(rc.tr)->step == COUNT / RUN_BATCH,
              "its weights and momentum, into a GPU trainer and into the CPU's as they were, at "
              "step %ld", trainer_status(rc.tr)->step);
        free(pb);
        free(pc);
        free(mb);
    }
    rc_ = trainer_run(rc.tr, 1 << 30, &err);
    if (rc_ == CL_OK)
        rc_ = gpu->sync(gpu, &err);
    {
        float *pa = run_params(&ra), *pc = run_params(&rc);
        double e = check_rel_err(pc, pa, ra.net->p_storage);
        CHECK(rc_ == CL_OK && trainer_done(rc.tr) && e < 1e-6 && !trainer_note(rc.tr)[0],
              "the loaded GPU trainer records its steps and ends where the run never stopped did "
              "(relative error %.2g)%s%s", e, rc_ ? ": " : "", rc_ ? err.msg : "");
        free(pa);
        free(pc);
    }
out:
    free(blob);
    run_free(&ra);
    run_free(&rb);
    run_free(&rc);
    run_free(&rcpu);
    dataset_free(&ds);
}

/* The operations one recorded forward and backward pass of r's network
 * holds (not run); -1 after a failed check */
static long recorded_ops(run *r)
{
    cl_err err = {0};
    void *graph = NULL;
    long ops = -1;
    if (r->be->graph_begin(r->be, &err) == CL_OK) {
        int rc = net_forward_queued(r->net, RUN_BATCH, 1, &err);
        rc = rc ? rc : net_backward_queued(r->net, &err);
        if (r->be->graph_end(r->be, &graph, &err) == CL_OK && !rc)
            ops = r->be->graph_size(r->be, graph);
        if (graph)
            r->be->graph_free(r->be, graph);
    }
    CHECK(ops > 0, "a forward and backward pass is recorded on %s: %s", r->be->detail,
          ops > 0 ? "yes" : err.msg);
    return ops;
}

/* Filter gradients' split sums left for later (the default) and added
 * one by one (CELLAR_FILTER_SUMS=each): the same sums in the same order,
 * so the same training, and fewer operations a step.  NASNet-A N=1 has
 * some 40 separable layers whose fused backward splits its depthwise and
 * pointwise filter gradients, more than one launch adds at a time. */
static void test_filter_sums(void)
{
    enum { COUNT = 16, STEPS = 2 };
    cl_dataset ds;
    int idx[COUNT];
    run rl, re;
    cl_backend *later = NULL, *each = NULL;
    cl_err err = {0};
    memset(&rl, 0, sizeof rl);
    memset(&re, 0, sizeof re);
    test_dataset(&ds, COUNT, 16, &rng, idx);
    if (!(each = cuda_with("CELLAR_FILTER_SUMS", "each")))
        goto out;
    if (backend_cuda_create(&later, &err)) {
        CHECK(0, "a second CUDA backend starts: %s", err.msg);
        goto out;
    }
    CHECK(strstr(each->detail, "filter sums each") && !strstr(later->detail, "filter sums"),
          "the backend says when each filter gradient's sum is added apart: %s / %s",
          each->detail, later->detail);
    if (!run_new(&rl, later, &ds, idx, COUNT) || !run_new(&re, each, &ds, idx, COUNT))
        goto out;
    if (trainer_run(rl.tr, STEPS, &err) || trainer_run(re.tr, STEPS, &err) ||
        later->sync(later, &err) || each->sync(each, &err)) {
        CHECK(0, "training steps with the filter gradients' sums later and each apart: %s",
              err.msg);
        goto out;
    }
    {
        float *pl = run_params(&rl), *pe = run_params(&re);
        long ol = recorded_ops(&rl), oe = recorded_ops(&re);
#ifdef CELLAR_KEMU
        CHECK(!memcmp(pl, pe, (size_t)rl.net->p_storage * sizeof *pl),
              "%d training steps with the filter gradients' sums left for later end with the "
              "same bits as with each added at once (relative error %.2g)",
              STEPS, check_rel_err(pl, pe, rl.net->p_storage));
#else   /* on a GPU, cuDNN's algorithms are chosen anew for each backend */
        CHECK(check_rel_err(pl, pe, rl.net->p_storage) < 1e-6,
              "%d training steps with the filter gradients' sums left for later end where "
              "they do with each added at once (relative error %.2g)",
              STEPS, check_rel_err(pl, pe, rl.net->p_storage));
#endif
        CHECK(ol > 0 && oe - ol >= 30,
              "a recorded forward and backward pass holds fewer operations with the sums added "
              "together: %ld, against %ld one by one",
              ol, oe);
        free(pl);
        free(pe);
    }
out:
    run_free(&rl);
    run_free(&re);
    if (later)
        backend_destroy(later);
    if (each)
        backend_destroy(each);
    dataset_free(&ds);
}

/* A network's ops spread over lanes (CELLAR_CUDA_LANES: streams of their
 * own, ordered by events), op by op and recorded as a graph, must train
 * as the same network on one stream does.  On a GPU the lanes run at
 * once, so a missing order between two ops is a race there; the stand-in
 * runs one thing at a time but replays each recorded graph in an order
 * drawn anew among those its dependencies allow, so an op ordered after
 * the wrong one runs early in some replay and the parameters go astray. */
/* A network by hand on 16x16x3 images: a 3x3 convolution of the input,
 * with kind 1 a 1x1 one beside it added in (two ops reading the input, the
 * second free to start on a lane of its own once the batch is made),
 * batch norm, global average pooling and a linear layer; kind 2: the two
 * convolutions each to a batch norm (h0, h1), then into one value s an
 * average pool of h1 and a copy of h0 (an identity op, which net_plan
 * folds into h0's batch norm: that one then writes s first and the pool
 * adds), into another, z, an average pool of s and a 1x1 convolution of
 * h0, then global average pooling of z and the linear layer: forward,
 * the pool of h1 must wait for h0's batch norm; backward, that batch norm
 * for the gradient of s the pool of s writes, beside the convolution's
 * of h0.  Planned for RUN_BATCH images, its weights from a fixed seed.
 * NULL after a failed check. */
static cl_net *hand_net(cl_backend *be, int kind)
{
    cl_net *net = net_new(be);
    conv_desc d3 = cdesc(3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 0), d1 = cdesc(3, 8, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    conv_desc d8 = cdesc(8, 8, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    pool_desc pd = {POOL_AVG, 3, 1, 1};
    cl_err err = {0};
    cl_rng r;
    int t, u, v, g, z = -1;
    if (!net)
        return CHECK(0, "a network by hand: out of memory"), NULL;
    net->input = net_value_new(net, 3, 16, 16);
    t = net_value_new(net, 8, 16, 16);
    u = net_value_new(net, 8, 16, 16);
    v = net_value_new(net, 8, 16, 16);
    g = net_value_new(net, 8, 1, 1);
    net_conv(net, net->input, t, &d3, 0);
    if (kind == 1) {
        net_conv(net, net->input, u, &d1, 0);
        net_copy(net, u, t, 1, -1);
    }
    if (kind == 2) {
        int h0 = net_value_new(net, 8, 16, 16), h1 = net_value_new(net, 8, 16, 16);
        net_bn(net, t, h0, 0, -1);
        net_conv(net, net->input, u, &d1, 0);
        net_bn(net, u, h1, 0, -1);
        net_pool(net, h1, v, &pd, 0, -1);
        net_copy(net, h0, v, 1, -1);
        z = net_value_new(net, 8, 16, 16);
        net_pool(net, v, z, &pd, 0, -1);
        net_conv(net, h0, z, &d8, 1);
    } else {
        net_bn(net, t, v, 0, -1);
    }
    net_gap(net, z >= 0 ? z : v, g);
    net->logits = net_value_new(net, 10, 1, 1);
    net_linear(net, g, net->logits);
    rng_seed(&r, 7);
    if (net_plan(net, RUN_BATCH, &err) || net_init_params(net, &r, &err)) {
        CHECK(0, "a network by hand is planned on %s: %s", be->name, err.msg);
        net_free(net);
        return NULL;
    }
    return net;
}

/* The hand networks trained on one stream and on lanes, recorded */
static void test_lanes_by_hand(cl_backend *one, cl_backend *graphed, const cl_dataset *ds,
                               const int *idx, int count, int steps)
{
    static const char *const what[3] = {"one chain", "two convolutions of the input",
                                        "an identity folded beside a pool on another lane"};
    for (int kind = 0; kind < 3; kind++) {
        cl_net *n1 = hand_net(one, kind), *nl = hand_net(graphed, kind);
        run r1, rl;
        cl_err err = {0};
        memset(&r1, 0, sizeof r1);
        memset(&rl, 0, sizeof rl);
        if (!n1 || !nl) {
            net_free(n1);
            net_free(nl);
            return;
        }
        if (!kind)
            CHECK(net_lanes_used(nl, NULL) == 1,
                  "a network that is one chain of ops plans on lanes and keeps to one (%d)",
                  net_lanes_used(nl, NULL));
        else if (kind == 1)
            CHECK(net_lanes_used(nl, NULL) == 2,
                  "two convolutions of the input run on two lanes (%d)", net_lanes_used(nl, NULL));
        else
            CHECK(net_lanes_used(nl, NULL) >= 2 && net_identity_folds(nl) == 1 &&
                      net_identity_folds(n1) == 1,
                  "an identity op folds into the batch norm it copies, the pool beside it on "
                  "another lane (%d lanes, %d folds)",
                  net_lanes_used(nl, NULL), net_identity_folds(nl));
        if (!run_with(&r1, one, n1, ds, idx, count))
            net_free(nl);   /* not yet rl's */
        else if (run_with(&rl, graphed, nl, ds, idx, count)) {
            if (trainer_run(r1.tr, steps, &err) || trainer_run(rl.tr, steps, &err) ||
                one->sync(one, &err) || graphed->sync(graphed, &err)) {
                CHECK(0, "the network by hand trains on one stream and on lanes: %s", err.msg);
            } else {
                float *p1 = run_params(&r1), *pl = run_params(&rl);
                double e = check_rel_err(pl, p1, r1.net->p_storage);
                CHECK(e < 1e-4 && !trainer_note(rl.tr)[0],
                      "... %s: %d steps replayed from a graph on lanes end where one stream "
                      "does (relative error %.2g%s%s)",
                      what[kind], steps, e,
                      trainer_note(rl.tr)[0] ? "; not recorded: " : "", trainer_note(rl.tr));
                free(p1);
                free(pl);
            }
        }
        run_free(&r1);
        run_free(&rl);
    }
}

static void test_lanes(void)
{
#ifdef CELLAR_KEMU
    enum { COUNT = 32, STEPS = 4 };
#else
    enum { COUNT = 96, STEPS = 12 };
#endif
    cl_dataset ds;
    int idx[COUNT], waits = 0, used = 0;
    run r1, rl, rg;
    cl_backend *one = NULL, *eager = NULL, *graphed = NULL;
    cl_err err = {0};
    /* the shorter run: lanes recorded only */
    int with_eager = !test_short();
    memset(&r1, 0, sizeof r1);
    memset(&rl, 0, sizeof rl);
    memset(&rg, 0, sizeof rg);
    test_dataset(&ds, COUNT, 16, &rng, idx);
    setenv("CELLAR_CUDA_GRAPH", "0", 1);
    if (backend_cuda_create(&one, &err)) {
        CHECK(0, "a CUDA backend on one stream starts: %s", err.msg);
        goto out;
    }
    setenv("CELLAR_CUDA_LANES", "4", 1);
    if (with_eager && backend_cuda_create(&eager, &err)) {
        CHECK(0, "a CUDA backend with CELLAR_CUDA_LANES=4 starts: %s", err.msg);
        goto out;
    }
    unsetenv("CELLAR_CUDA_GRAPH");
    if (backend_cuda_create(&graphed, &err)) {
        CHECK(0, "a CUDA backend with CELLAR_CUDA_LANES=4 and graphs starts: %s", err.msg);
        goto out;
    }
    CHECK(graphed->lanes == 4 && strstr(graphed->detail, "4 lanes"),
          "CELLAR_CUDA_LANES=4: the backend has 4 lanes and says so: %s", graphed->detail);
    if (!run_new(&r1, one, &ds, idx, COUNT) || (eager && !run_new(&rl, eager, &ds, idx, COUNT)) ||
        !run_new(&rg, graphed, &ds, idx, COUNT))
        goto out;
    used = net_lanes_used(rg.net, &waits);
    CHECK(used > 1 && waits > 0 && net_lanes_used(r1.net, NULL) == 1,
          "a NASNet-A cell's branches spread over %d lanes, with %d waits for events a step "
          "(one stream: 1 lane)",
          used, waits);
    if (trainer_run(r1.tr, STEPS, &err) || (eager && trainer_run(rl.tr, STEPS, &err)) ||
        trainer_run(rg.tr, STEPS, &err) || one->sync(one, &err) ||
        (eager && eager->sync(eager, &err)) || graphed->sync(graphed, &err)) {
        CHECK(0, "%d training steps run on one stream and on lanes: %s", STEPS, err.msg);
        goto out;
    }
    CHECK(!trainer_note(rg.tr)[0], "training steps on lanes are recorded as one CUDA graph%s%s",
          trainer_note(rg.tr)[0] ? ": " : "", trainer_note(rg.tr));
    test_lanes_by_hand(one, graphed, &ds, idx, COUNT, STEPS);
    {
        float *p1 = run_params(&r1), *pg = run_params(&rg);
        double eg = check_rel_err(pg, p1, r1.net->p_storage);
        if (eager) {
            float *pl = run_params(&rl);
            double el = check_rel_err(pl, p1, r1.net->p_storage);
            CHECK(el < 1e-4, "%d training steps op by op on lanes end where one stream does "
                             "(relative error %.2g)", STEPS, el);
            free(pl);
        } else {
            printf("# (the shorter run: lanes op by op not run)\n");
        }
        CHECK(eg < 1e-4, "%d training steps replayed from a graph recorded on lanes end where "
                         "one stream does (relative error %.2g)", STEPS, eg);
        free(p1);
        free(pg);
    }
out:
    unsetenv("CELLAR_CUDA_GRAPH");
    unsetenv("CELLAR_CUDA_LANES");
    run_free(&r1);
    run_free(&rl);
    run_free(&rg);
    if (one)
        backend_destroy(one);
    if (eager)
        backend_destroy(eager);
    if (graphed)
        backend_destroy(graphed);
    dataset_free(&ds);
}

/* ---- learning on the GPU ---- */

static void test_learns(cl_backend *be)
{
    cl_dataset ds;
    cl_err err = {0};
    cl_split sp;
    cl_net *net = NULL;
    cl_trainer *tr = NULL;
    cl_genotype g;
    train_cfg cfg;
    cl_rng r;
    float mean[3], std[3], acc = 0, loss = 0;
    child_spec spec;
    memset(&ds, 0, sizeof ds);
    memset(&sp, 0, sizeof sp);
    if (dataset_load("fashion-mnist", &ds, &err)) {
        printf("skip - training on Fashion-MNIST: %s\n", err.msg);
        return;
    }
    spec = (child_spec){1, 4, ds.c, ds.h, ds.w, ds.classes};
    train_cfg_defaults(&cfg);
    cfg.epochs = 1;
    rng_seed(&r, cfg.seed);
    if (geno_from_arg("nasnet-a", &g, &err) || dataset_split(&ds, 0, 3000, cfg.seed, &sp, &err)) {
        CHECK(0, "Fashion-MNIST split: %s", err.msg);
        goto out;
    }
    dataset_channel_stats(&ds, sp.train_idx, sp.n_train, mean, std);
    if (child_build(&g, &spec, be, &net, &err) || net_plan(net, cfg.batch, &err) ||
        net_init_params(net, &r, &err) ||
        trainer_new(net, &ds, sp.train_idx, sp.n_train, mean, std, &cfg, &tr, &err) ||
        trainer_run(tr, 1 << 30, &err) ||
        child_evaluate(net, ds.test_x, ds.test_y, ds.c, ds.h, ds.w, NULL, 2000, mean, std, &acc,
                       &loss, NULL, NULL, &err)) {
        CHECK(0, "training on the GPU runs: %s", err.msg);
        goto out;
    }
    CHECK(acc > 0.65f,
          "NASNet-A F=4, one epoch of 3000 Fashion-MNIST images on the GPU (TF32 allowed): %.1f%% "
          "of 2000 test images right (chance is 10%%)",
          100.0 * acc);
    CHECK(loss < 1.2f, "and its test loss fell to %.3f", loss);
out:
    trainer_free(tr);
    net_free(net);
    split_free(&sp);
    dataset_free(&ds);
}

/* ---- the backend's own contract ---- */

/* A recording broken by a call that waits for the GPU (a download) fails
 * at graph_end with the reason, and leaves the backend working op by op. */
static void test_recording(void)
{
    cl_err err = {0};
    void *graph = NULL;
    float host[16] = {0}, *d = dev_alloc(sizeof host);
    pair x = pr_new(2, 3, 4, 4, 0, 1.f), y = pr_new(2, 3, 4, 4, 0, 1.f);
    int rc = gpu->graph_begin(gpu, &err);
    CHECK(rc == CL_OK, "a recording starts: %s", rc ? err.msg : "yes");
    if (rc == CL_OK) {
        gpu->scale_copy(gpu, x.d, y.d, 0, NULL);
        gpu->download(gpu, host, d, sizeof host);
        rc = gpu->graph_end(gpu, &graph, &err);
        CHECK(rc != CL_OK && !graph && strstr(err.msg, "recording a step as a CUDA graph failed"),
              "a download inside it breaks the recording, and graph_end says so: %s",
              rc ? err.msg : "(it recorded)");
        if (graph)
            gpu->graph_free(gpu, graph);
    }
    cpu->scale_copy(cpu, x.h, y.h, 0, NULL);
    gpu->scale_copy(gpu, x.d, y.d, 0, NULL);
    same("after it the backend runs ops as before", &y, TOL);
    pr_free(&x);
    pr_free(&y);
    gpu->free(gpu, d);
}

/* y = x, x += y on the GPU, marks 0, 1, 2 around the two */
static void marked_copies(pair *x, pair *y)
{
    gpu->mark(gpu, 0);
    gpu->scale_copy(gpu, x->d, y->d, 0, NULL);
    gpu->mark(gpu, 1);
    gpu->scale_copy(gpu, y->d, x->d, 1, NULL);
    gpu->mark(gpu, 2);
}

/* Timing marks: queued between ops and read once the queue is done, also
 * from a recorded step (event-record nodes), each time it is replayed. */
static void test_marks(void)
{
    cl_err err = {0};
    double t[3] = {-1, -1, -1};
    void *graph = NULL;
    int replays = 0;
    pair x = pr_new(16, 16, 32, 32, 0, 1.f), y = pr_new(16, 16, 32, 32, 0, 1.f);
    int rc = gpu->marks(gpu, 3, &err);
    CHECK(rc == CL_OK, "three timing marks are made: %s", rc ? err.msg : "yes");
    if (rc)
        goto out;
    marked_copies(&x, &y);
    rc = gpu->mark_times(gpu, t, 3, &err);
    CHECK(rc == CL_OK && t[0] == 0.0 && t[1] >= 0.0 && t[2] >= t[1] && t[2] > 0.0,
          "marks around two queued copies: %s %.6f ms, %.6f ms", rc ? err.msg : "at", t[1] * 1e3,
          t[2] * 1e3);
    rc = gpu->graph_begin(gpu, &err);
    if (rc == CL_OK) {
        marked_copies(&x, &y);
        rc = gpu->graph_end(gpu, &graph, &err);
    }
    CHECK(rc == CL_OK, "marks are recorded into a graph: %s", rc ? err.msg : "yes");
    for (int i = 0; i < 2 && graph; i++) {
        t[0] = t[1] = t[2] = -1.0;
        gpu->graph_run(gpu, graph);
        replays++;
        rc = gpu->mark_times(gpu, t, 3, &err);
        CHECK(rc == CL_OK && t[0] == 0.0 && t[1] >= 0.0 && t[2] >= t[1] && t[2] > 0.0,
              "replay %d of the graph sets them: %s %.6f ms, %.6f ms", i + 1,
              rc ? err.msg : "at", t[1] * 1e3, t[2] * 1e3);
    }
    if (graph)
        gpu->graph_free(gpu, graph);
    rc = gpu->mark_times(gpu, t, 4, &err);
    CHECK(rc == CL_ERR_ARG, "reading more marks than were made is refused: %s",
          rc ? err.msg : "(read)");
    err_clear(&err);
    gpu->marks(gpu, 0, NULL);
    /* the GPU copied y = x, x += y once op by op and once per replay */
    for (int i = 0; i < 1 + replays; i++) {
        cpu->scale_copy(cpu, x.h, y.h, 0, NULL);
        cpu->scale_copy(cpu, y.h, x.h, 1, NULL);
    }
    same("ops between marks compute as without them", &x, TOL);
out:
    pr_free(&x);
    pr_free(&y);
}

/* Memory by cudaMalloc/cudaFree (CELLAR_CUDA_POOL=0) serves as the pool's
 * does; either way a backend answers how much memory is free. */
static void test_pool_off(void)
{
    cl_backend *be = NULL;
    cl_err err = {0};
    float host[96], back[96];
    float *a, *b;
    size_t free_b = 0;
    int rc;
    if (!(be = cuda_with("CELLAR_CUDA_POOL", "0")))
        return;
    for (int i = 0; i < 96; i++)
        host[i] = (float)i - 40.f;
    a = be->alloc(be, sizeof host);
    b = be->alloc(be, sizeof host);
    CHECK(a && b, "CELLAR_CUDA_POOL=0: memory from cudaMalloc");
    if (a && b) {
        tview x = {a, 2, 3, 4, 4, 48}, y = {b, 2, 3, 4, 4, 48};
        be->upload(be, a, host, sizeof host);
        be->scale_copy(be, x, y, 0, NULL);
        be->scale_copy(be, x, y, 1, NULL);
        be->download(be, back, b, sizeof back);
        int ok = be->sync(be, &err) == CL_OK;
        for (int i = 0; i < 96 && ok; i++)
            ok = back[i] == 2.f * host[i];
        CHECK(ok, "... on which ops compute as on the pool's");
    }
    be->free(be, a);
    be->free(be, b);
    rc = be->mem_free(be, &free_b);
    CHECK(rc == CL_OK && free_b > 0, "... and the backend says how much is free (%.0f MiB)",
          (double)free_b / (1 << 20));
    free_b = 0;
    rc = gpu->mem_free(gpu, &free_b);
    CHECK(rc == CL_OK && free_b > 0, "the pool's backend says so too (%.0f MiB)",
          (double)free_b / (1 << 20));
    backend_destroy(be);
}

static void test_errors(void)
{
    cl_backend *be = NULL, *a = NULL;
    cl_err err = {0};
    conv_desc d = cdesc(3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    tview x = {NULL, 2, 3, 5, 5, 75}, y = {NULL, 2, 3, 5, 5, 75};
    float *w;
    int rc;
    if (backend_create("auto", 1, &a, &err) == CL_OK)
        CHECK(!strcmp(a->name, "cuda"), "backend auto picks the GPU here (got %s)", a->name);
    else
        CHECK(0, "backend auto starts: %s", err.msg);
    backend_destroy(a);
    if (backend_create("cuda", 1, &be, &err)) {
        CHECK(0, "a second CUDA backend starts: %s", err.msg);
        return;
    }
    x.d = dev_alloc(150 * 4);
    y.d = dev_alloc(150 * 4);
    w = dev_alloc(81 * 4);
    be->conv_fwd(be, &d, x, w, y, 0); /* never prepared */
    rc = be->sync(be, &err);
    CHECK(rc == CL_ERR_BACKEND && strstr(err.msg, "not prepared"),
          "a convolution run without conv_prepare fails at sync: %s", err.msg);
    CHECK(be->sync(be, &err) == CL_OK, "reported once, after which the backend goes on");
    be->conv_fwd(be, &d, x, w, y, 0);
    CHECK(be->sync(be, &err) == CL_ERR_BACKEND, "and reports the next such op again");
    /* a depthwise filter gradient needs scratch for the batch it sees */
    d.groups = 3;
    CHECK(be->conv_prepare(be, &d, 1, 5, 5, &err) == CL_OK, "a depthwise conv prepared for 1 image");
    be->conv_bwd_filter(be, &d, x, y, w);
    rc = be->sync(be, &err);
    CHECK(rc == CL_ERR_BACKEND && strstr(err.msg, "not prepared"),
          "its filter gradient on 2 images fails at sync: %s", err.msg);
    gpu->free(gpu, x.d);
    gpu->free(gpu, y.d);
    gpu->free(gpu, w);
    backend_destroy(be);
}

#ifdef CELLAR_KEMU
/* A recorded step replayed after memory it writes was freed reaches freed
 * memory; the stand-in checks each replayed operation's memory again and
 * fails the stream as an illegal address would.  In a child process, since
 * that ends the device for the rest of the run. */
static int replay_after_free(void)
{
    cl_backend *be = NULL;
    cl_err err = {0};
    void *graph = NULL;
    float *x, *y;
    int rc;
    if (backend_cuda_create(&be, &err))
        return 2;
    x = be->alloc(be, 64 * sizeof *x);
    y = be->alloc(be, 64 * sizeof *y);
    if (!x || !y)
        return 3;
    {
        tview vx = {x, 1, 4, 4, 4, 64}, vy = {y, 1, 4, 4, 4, 64};
        be->zero(be, x, 64 * sizeof *x);
        if (be->graph_begin(be, &err))
            return 4;
        be->scale_copy(be, vx, vy, 0, NULL);
        if (be->graph_end(be, &graph, &err))
            return 5;
    }
    be->graph_run(be, graph);
    if (be->sync(be, &err))   /* replayed once with its memory: fine */
        return 6;
    be->free(be, y);
    be->graph_run(be, graph);
    rc = be->sync(be, &err);
    return rc == CL_ERR_BACKEND && strstr(err.msg, "illegal") ? 0 : 7;
}

/* the stand-in's own record of the run */
static void test_emulation(void)
{
    long launches, replayed, refusals;
    size_t peak = 0, held = kemu_device_bytes(&peak);
    kemu_counts(&launches, &replayed, &refusals);
    CHECK(launches >= 3 && replayed >= 500 * 3,
          "the recorded steps ran as graphs: %ld launches replaying %ld operations", launches,
          replayed);
    CHECK(refusals >= 1, "the call that broke a recording was refused as a GPU would (%ld)",
          refusals);
    {
        int status = -1;
        pid_t pid;
        fflush(stdout);
        pid = fork();
        if (pid == 0)
            _exit(replay_after_free());
        if (pid > 0)
            waitpid(pid, &status, 0);
        CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a recorded step replayed after memory it writes was freed fails at the next wait "
              "(child exit %d)",
              pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    CHECK(held == 0,
          "every byte of device memory the backends allocated was freed (%zu bytes left of a "
          "peak of %.1f MiB)",
          held, (double)peak / (1 << 20));
    {
        /* the stand-in holds a capture's streams to CUDA's rule: a stream
         * that joined by waiting for an event must be joined back */
        cudaStream_t a = NULL, b = NULL;
        cudaEvent_t fork_ev = NULL, join_ev = NULL;
        cudaGraph_t g = NULL;
        void *buf = NULL;
        cudaError_t e1, e2;
        size_t nodes = 0;
        if (cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking) == cudaSuccess &&
            cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking) == cudaSuccess &&
            cudaEventCreateWithFlags(&fork_ev, cudaEventDisableTiming) == cudaSuccess &&
            cudaEventCreateWithFlags(&join_ev, cudaEventDisableTiming) == cudaSuccess &&
            cudaMalloc(&buf, 64) == cudaSuccess) {
            (void)cudaStreamBeginCapture(a, cudaStreamCaptureModeThreadLocal);
            (void)cudaEventRecord(fork_ev, a);
            (void)cudaStreamWaitEvent(b, fork_ev, 0);
            (void)cudaMemsetAsync(buf, 0, 64, b);
            e1 = cudaStreamEndCapture(a, &g);
            (void)cudaGetLastError();
            CHECK(e1 == cudaErrorStreamCaptureUnjoined && !g,
                  "a capture a second stream joined and was never joined back from is refused, "
                  "as CUDA refuses it (%s)",
                  cudaGetErrorName(e1));
            (void)cudaStreamBeginCapture(a, cudaStreamCaptureModeThreadLocal);
            (void)cudaEventRecord(fork_ev, a);
            (void)cudaStreamWaitEvent(b, fork_ev, 0);
            (void)cudaMemsetAsync(buf, 0, 32, b);
            (void)cudaMemsetAsync((char *)buf + 32, 0, 32, a);
            (void)cudaEventRecord(join_ev, b);
            (void)cudaStreamWaitEvent(a, join_ev, 0);
            e2 = cudaStreamEndCapture(a, &g);
            if (g)
                (void)cudaGraphGetNodes(g, NULL, &nodes);
            CHECK(e2 == cudaSuccess && g && nodes == 2,
                  "... and joined back it makes a graph of both streams' work (%s, %zu "
                  "operations)",
                  cudaGetErrorName(e2), nodes);
            if (g)
                (void)cudaGraphDestroy(g);
        } else {
            CHECK(0, "streams, events and memory for a capture on two streams");
        }
        (void)cudaFree(buf);
        (void)cudaEventDestroy(fork_ev);
        (void)cudaEventDestroy(join_ev);
        (void)cudaStreamDestroy(a);
        (void)cudaStreamDestroy(b);
    }
    {
        /* last, since it spoils the stand-in's device for good, as an
         * illegal address spoils a CUDA context: a host pointer given to
         * an op is caught */
        cl_backend *be = NULL;
        cl_err err = {0};
        float host[2 * 3 * 4 * 4];
        tview x = {host, 2, 3, 4, 4, 48}, y;
        if (backend_cuda_create(&be, &err) == CL_OK) {
            y = x;
            y.d = be->alloc(be, sizeof host);
            be->scale_copy(be, x, y, 0, NULL);
            CHECK(be->sync(be, &err) == CL_ERR_BACKEND && strstr(err.msg, "illegal memory access"),
                  "an op given host memory fails as on a GPU: %s", err.msg);
            be->free(be, y.d);
            backend_destroy(be);
        }
    }
}
#endif

/* With CELLAR_DEPTHWISE=auto (dw) or CELLAR_POINTWISE=auto, after the
 * convolution tests: the backend names the choices it made, three (one per
 * direction) for each shape it prepared */
static void check_auto_detail(const char *detail, int dw)
{
    int own = -1, simple = 0, dnn = -1, got;
    const char *at = detail ? strstr(detail, dw ? "depthwise auto (" : "pointwise auto (") : NULL;
    if (at && dw)
        got = sscanf(at, "depthwise auto (own %d, simple %d, cudnn %d)", &own, &simple, &dnn) == 3;
    else
        got = at && sscanf(at, "pointwise auto (own %d, cudnn %d)", &own, &dnn) == 2;
    CHECK(got && own >= 0 && simple >= 0 && dnn >= 0 && own + simple + dnn > 0 &&
              (own + simple + dnn) % 3 == 0,
          "%s=auto: the backend counts the ways it chose, three to a shape: %s",
          dw ? "CELLAR_DEPTHWISE" : "CELLAR_POINTWISE", detail ? detail : "(nothing)");
}

int main(void)
{
    cl_err err = {0};
    cl_backend *tf32 = NULL;
    int rc;
    setenv("CELLAR_STRICT_FP32", "1", 1);
    rc = backend_cuda_create(&gpu, &err);
    if (rc == CL_ERR_UNSUPPORTED) {
        char why[1100];
        const char *m = strncmp(err.msg, "no CUDA device: ", 16) ? err.msg : err.msg + 16;
        snprintf(why, sizeof why, "no CUDA device (%s)", m);
        check_skip(why);
    }
    if (rc) {
        printf("not ok - the CUDA backend starts: %s\n", err.msg);
        return 1;
    }
    if (backend_cpu_create(0, &cpu, &err)) {
        printf("not ok - the CPU backend starts: %s\n", err.msg);
        return 1;
    }
    rng_seed(&rng, 1234);
    CHECK(gpu->detail && !strcmp(gpu->detail, "depthwise own, pointwise mixed, separable fused, fp32"),
          "the backend says how it computes: %s", gpu->detail ? gpu->detail : "(nothing)");
    test_convs(1);
    test_seps(1, 2, 1, 3);
    {
        /* the forward alone fused, then apart, as asked, and where a kind
         * of convolution is not ours; the batch norms' statistics apart */
        static const struct {
            const char *var, *val, *detail;
            int fused, bwd, s2, stats;
        } env[8] = {{"CELLAR_SEPARABLE", "keep-mid", "separable fused, depthwise output kept,",
                     1, 1, 1, 3},
                    {"CELLAR_SEPARABLE", "stride-1", "separable fused, stride-2 backward apart,",
                     1, 2, 0, 3},
                    {"CELLAR_SEPARABLE", "forward", "separable forward,", 1, 0, 0, 1},
                    {"CELLAR_SEPARABLE", "split", "separable split", 0, 0, 0, 0},
                    {"CELLAR_DEPTHWISE", "cudnn", "separable split", 0, 0, 0, 0},
                    {"CELLAR_POINTWISE", "cudnn", "separable split", 0, 0, 0, 0},
                    {"CELLAR_BN_STATS", "apart",
                     "separable fused, batch-norm statistics apart,", 1, 2, 1, 0},
                    {"CELLAR_BN_STATS", "forward",
                     "separable fused, batch-norm statistics fused forward,", 1, 2, 1, 1}};
        static const char *const bad[3][2] = {
            {"CELLAR_SEPARABLE", "expected fused, stride-1, keep-mid, forward or split"},
            {"CELLAR_BN_STATS", "expected fused, forward or apart"},
            {"CELLAR_FILTER_SUMS", "expected later or each"}};
        cl_backend *first = gpu;
        for (int i = 0; i < 8; i++) {
            if ((gpu = cuda_with(env[i].var, env[i].val))) {
                printf("# separable layers with %s=%s\n", env[i].var, env[i].val);
                CHECK(strstr(gpu->detail, env[i].detail) != NULL, "%s=%s: %s", env[i].var,
                      env[i].val, gpu->detail);
                test_seps(env[i].fused, env[i].bwd, env[i].s2, env[i].stats);
                backend_destroy(gpu);
            }
            gpu = first;
        }
        for (int i = 0; i < 3; i++) {
            setenv(bad[i][0], "nope", 1);
            rc = backend_cuda_create(&gpu, &err);
            CHECK(rc == CL_ERR_ARG && strstr(err.msg, bad[i][1]), "%s=nope is refused: %s",
                  bad[i][0], rc ? err.msg : "(started)");
            if (rc == CL_OK)
                backend_destroy(gpu);
            gpu = first;
            unsetenv(bad[i][0]);
        }
    }
    {
        /* the convolutions again with the other implementations: depthwise
         * through cuDNN and by our kernels without tiles, pointwise all by
         * our own kernels or all by cuDNN (staging the inputs it cannot
         * read through ReLU or from a shifted origin), and each kind the
         * fastest way for each shape */
        static const char *const env[6][2] = {
            {"CELLAR_DEPTHWISE", "cudnn"}, {"CELLAR_DEPTHWISE", "simple"},
            {"CELLAR_POINTWISE", "own"},   {"CELLAR_POINTWISE", "cudnn"},
            {"CELLAR_DEPTHWISE", "auto"},  {"CELLAR_POINTWISE", "auto"}};
        cl_backend *first = gpu;
        int others = 6, large = 1;
#ifdef CELLAR_KEMU
        large = 0;   /* the stand-in: see test_convs */
        /* the shorter run: the stand-in once */
        if (test_short()) {
            printf("# (the shorter run: not again with the other implementations)\n");
            others = 0;
        }
#endif
        for (int i = 0; i < others; i++) {
            if ((gpu = cuda_with(env[i][0], env[i][1]))) {
                printf("# convolutions with %s=%s%s\n", env[i][0], env[i][1],
                       large ? "" : " (the batch-128 shapes with the defaults only)");
                test_convs(large);
                if (!strcmp(env[i][1], "auto"))
                    check_auto_detail(gpu->detail, !strcmp(env[i][0], "CELLAR_DEPTHWISE"));
                backend_destroy(gpu);
            }
            gpu = first;
        }
        /* an unknown choice is refused with the valid ones */
        for (int i = 0; i < 2; i++) {
            static const char *const var[2] = {"CELLAR_DEPTHWISE", "CELLAR_POINTWISE"};
            static const char *const valid[2] = {"own, simple, cudnn or auto",
                                                 "own, mixed, cudnn or auto"};
            setenv(var[i], "nope", 1);
            rc = backend_cuda_create(&gpu, &err);
            CHECK(rc == CL_ERR_ARG && strstr(err.msg, valid[i]), "%s=nope is refused: %s", var[i],
                  rc ? err.msg : "(started)");
            if (rc == CL_OK)
                backend_destroy(gpu);
            gpu = first;
            unsetenv(var[i]);
        }
    }
    test_bns();
    if (!test_short()) {
        /* again with one block per channel whatever the channels (on
         * draws of their own: the later tests' inputs stay as they were) */
        cl_backend *first = gpu;
        cl_rng kept = rng;
        if ((gpu = cuda_with("CELLAR_BN_SPLIT", "0"))) {
            printf("# batch norms with CELLAR_BN_SPLIT=0\n");
            test_bns();
            backend_destroy(gpu);
        }
        gpu = first;
        rng = kept;
    }
    test_pools();
    test_small();
    test_linear(5, 7, 3);
    test_linear(128, 256, 10);
    test_xent(9, 10);
    test_xent(128, 10);
    test_sgd();
    test_batches();
    test_network();
    test_odd_channels();
    test_steps();
#ifndef CELLAR_KEMU_RACE
    test_checkpoint();   /* host copies of device memory: nothing a race watch adds to */
#else
    (void)test_checkpoint;
#endif
    test_filter_sums();
    test_lanes();
#ifdef CELLAR_KEMU
    (void)tf32;
    (void)test_learns;
    printf("# (the stand-in leaves the Fashion-MNIST training to a GPU: test_steps has held "
           "the training steps to the CPU's)\n");
#else
    setenv("CELLAR_STRICT_FP32", "0", 1);
    if (backend_cuda_create(&tf32, &err)) {
        CHECK(0, "a CUDA backend with TF32 starts: %s", err.msg);
    } else {
        test_learns(tf32);
        backend_destroy(tf32);
    }
#endif
    test_recording();
    test_marks();
    test_pool_off();
    test_errors();
    backend_destroy(gpu);
    backend_destroy(cpu);
#ifdef CELLAR_KEMU
    test_emulation();
#endif
    return check_done();
}
