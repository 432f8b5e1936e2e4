/* test_nn.c - every op's backward against finite differences, the fast
 * convolution paths against the generic one, and whole networks: the
 * gradient of every parameter group of a child that uses all 13 ops and
 * both combiners, with and without drop-path, against finite differences
 * of the loss; parameter counts against PyTorch's for the same layout.
 *   GENO='normal: ... ; reduce: ...' tests/test_nn   checks only that
 * genotype's network gradient (for chasing a failure). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu.h"
#include "cdesc.h"
#include "check.h"
#include "data/dataset.h"
#include "child/child.h"
#include "core/rng.h"
#include "kernels/conv_math.h"
#include "kernels/fastdiv.h"

static cl_backend *be;
static cl_rng rng;

/* ---- tensors in host memory (the CPU backend's memory) ---- */

/* a view of n images; pad_c > 0 makes it a channel slice of a wider
 * tensor (ns = (c + pad_c) * h * w) so slices are exercised too */
static tview tv_new(int n, int c, int h, int w, int pad_c)
{
    tview t;
    t.n = n;
    t.c = c;
    t.h = h;
    t.w = w;
    t.ns = (long)(c + pad_c) * h * w;
    t.d = calloc((size_t)n * t.ns, sizeof(float));
    return t;
}

static float *tv_at(tview t, long i)   /* i-th element in n,c,h,w order */
{
    long per = (long)t.c * t.h * t.w;
    return t.d + (i / per) * t.ns + i % per;
}

static long tv_len(tview t) { return (long)t.n * t.c * t.h * t.w; }

static const tview NOV;   /* an optional view not given */

/* values in +-[0.1, 1]: away from ReLU's kink */
static void fill_away(tview t)
{
    for (long i = 0; i < tv_len(t); i++) {
        float m = 0.1f + 0.9f * rng_uniform(&rng);
        *tv_at(t, i) = rng_uniform(&rng) < 0.5f ? -m : m;
    }
}

/* distinct values 0.01 apart in random order: no ties for max pooling */
static void fill_distinct(tview t)
{
    long n = tv_len(t);
    int *perm = malloc((size_t)n * sizeof *perm);
    for (long i = 0; i < n; i++)
        perm[i] = (int)i;
    rng_shuffle(&rng, perm, (int)n);
    for (long i = 0; i < n; i++)
        *tv_at(t, i) = 0.01f * (float)(perm[i] - n / 2);
    free(perm);
}

static void fill_buf(float *p, long n, float scale)
{
    for (long i = 0; i < n; i++)
        p[i] = scale * (2.f * rng_uniform(&rng) - 1.f);
}

/* ---- one op under test ---- */

typedef struct optest optest;
struct optest {
    tview x, y;
    float *p;
    long np;
    const float *sscale;
    void (*fwd)(optest *t, tview y, int acc);
    void (*bwd)(optest *t, tview dy, tview dx, float *dp, int acc);
    conv_desc conv;
    pool_desc pool;
    bn_desc bn;
    int no_fwd_acc;   /* the op always overwrites its output */
    float stats[4 * 64];
};

static void conv_f(optest *t, tview y, int acc) { be->conv_fwd(be, &t->conv, t->x, t->p, y, acc); }
static void conv_b(optest *t, tview dy, tview dx, float *dp, int acc)
{
    be->conv_bwd_data(be, &t->conv, t->x, t->p, dy, dx, acc);
    be->conv_bwd_filter(be, &t->conv, t->x, dy, dp);
}
static void bn_f(optest *t, tview y, int acc)
{
    int c = t->x.c;
    be->bn_fwd_train(be, &t->bn, t->x, t->p, t->p + c, t->stats + 2 * c, t->stats + 3 * c,
                     t->stats, t->stats + c, y, acc, t->sscale, NOV, 0);
}
static void bn_b(optest *t, tview dy, tview dx, float *dp, int acc)
{
    int c = t->x.c;
    be->bn_bwd(be, t->x, dy, NOV, t->p, t->stats + 2 * c, t->stats + 3 * c, t->sscale, dx, acc,
               dp, dp + c);
}
static void pool_f(optest *t, tview y, int acc) { be->pool_fwd(be, &t->pool, t->x, y, acc, t->sscale); }
static void pool_b(optest *t, tview dy, tview dx, float *dp, int acc)
{
    be->pool_bwd(be, &t->pool, t->x, dy, dx, acc, t->sscale);
}
static void copy_f(optest *t, tview y, int acc) { be->scale_copy(be, t->x, y, acc, t->sscale); }
static void copy_b(optest *t, tview dy, tview dx, float *dp, int acc)
{
    be->scale_copy(be, dy, dx, acc, t->sscale);
}
static void gap_f(optest *t, tview y, int acc) { be->gap_fwd(be, t->x, y); }
static void gap_b(optest *t, tview dy, tview dx, float *dp, int acc) { be->gap_bwd(be, dy, dx, acc); }

static double loss_of(optest *t, const float *r)
{
    double l = 0.0;
    t->fwd(t, t->y, 0);
    for (long i = 0; i < tv_len(t->y); i++)
        l += (double)r[i] * *tv_at(t->y, i);
    return l;
}

/* Check dx and dp against central differences, then the acc modes. */
static void gradcheck(optest *t, const char *name, float eps)
{
    long ny = tv_len(t->y), nx = tv_len(t->x);
    float *r = malloc((size_t)ny * sizeof *r), *dp = calloc((size_t)t->np + 1, sizeof *dp);
    tview dy = tv_new(t->y.n, t->y.c, t->y.h, t->y.w, (int)(t->y.ns / ((long)t->y.h * t->y.w)) - t->y.c);
    tview dx = tv_new(t->x.n, t->x.c, t->x.h, t->x.w, (int)(t->x.ns / ((long)t->x.h * t->x.w)) - t->x.c);
    tview y0 = tv_new(t->y.n, t->y.c, t->y.h, t->y.w, 0), y1 = tv_new(t->y.n, t->y.c, t->y.h, t->y.w, 0);
    double worst = 0.0;
    int bad = 0, checked = 0;

    fill_buf(r, ny, 1.f);
    for (long i = 0; i < ny; i++)
        *tv_at(dy, i) = r[i];
    t->fwd(t, t->y, 0);
    t->bwd(t, dy, dx, dp, 0);

    for (int k = 0; k < 40 && k < nx; k++) {
        long i = nx <= 40 ? k : (long)rng_below(&rng, (uint32_t)nx);
        float *xi = tv_at(t->x, i), keep = *xi, an = *tv_at(dx, i);
        double lp, lm, fd, e;
        *xi = keep + eps;
        lp = loss_of(t, r);
        *xi = keep - eps;
        lm = loss_of(t, r);
        *xi = keep;
        fd = (lp - lm) / (2.0 * eps);
        e = fabs(fd - an) / (1e-3 + 1e-2 * fabs(fd));
        worst = e > worst ? e : worst;
        bad += e > 1.0;
        checked++;
    }
    CHECK(bad == 0, "%s: input gradient matches finite differences at %d points (worst %.2f of tolerance)",
          name, checked, worst);
    if (t->np) {
        worst = 0.0;
        bad = checked = 0;
        for (int k = 0; k < 40 && k < t->np; k++) {
            long i = t->np <= 40 ? k : (long)rng_below(&rng, (uint32_t)t->np);
            float keep = t->p[i], an = dp[i];
            double lp, lm, fd, e;
            t->p[i] = keep + eps;
            lp = loss_of(t, r);
            t->p[i] = keep - eps;
            lm = loss_of(t, r);
            t->p[i] = keep;
            fd = (lp - lm) / (2.0 * eps);
            e = fabs(fd - an) / (1e-3 + 1e-2 * fabs(fd));
            worst = e > worst ? e : worst;
            bad += e > 1.0;
            checked++;
        }
        CHECK(bad == 0, "%s: parameter gradient matches finite differences at %d points (worst %.2f)",
              name, checked, worst);
    }

    /* forward acc: y = y_before + f(x) */
    t->fwd(t, y0, 0);
    if (!t->no_fwd_acc) {
    fill_buf(y1.d, ny, 1.f);
    {
        tview yb = tv_new(t->y.n, t->y.c, t->y.h, t->y.w, 0);
        double err = 0.0;
        memcpy(yb.d, y1.d, (size_t)ny * sizeof(float));
        t->fwd(t, y1, 1);
        for (long i = 0; i < ny; i++)
            err = fmax(err, fabs(y1.d[i] - (yb.d[i] + y0.d[i])));
        CHECK(err < 1e-5, "%s: forward with acc adds to the output (max error %.2g)", name, err);
        free(yb.d);
    }
    }
    /* backward acc: dx = dx_before + grad */
    {
        float *g = malloc((size_t)nx * sizeof *g), *before = malloc((size_t)nx * sizeof *before);
        double err = 0.0;
        for (long i = 0; i < nx; i++)
            g[i] = *tv_at(dx, i);
        fill_buf(before, nx, 1.f);
        for (long i = 0; i < nx; i++)
            *tv_at(dx, i) = before[i];
        t->fwd(t, t->y, 0);
        t->bwd(t, dy, dx, dp, 1);
        for (long i = 0; i < nx; i++)
            err = fmax(err, fabs(*tv_at(dx, i) - (before[i] + g[i])));
        CHECK(err < 1e-4, "%s: backward with acc adds to the input gradient (max error %.2g)", name,
              err);
        free(g);
        free(before);
    }
    free(r);
    free(dp);
    free(dy.d);
    free(dx.d);
    free(y0.d);
    free(y1.d);
}

/* max relative difference |a-b| / (|b| + 1e-3) over n values */
static double rel_diff(const float *a, const float *b, long n)
{
    double m = 0.0;
    for (long i = 0; i < n; i++)
        m = fmax(m, fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + 1e-3));
    return m;
}

static void test_conv(const char *name, conv_desc d, int n, int h, int w, int xslice, int yslice)
{
    optest t;
    memset(&t, 0, sizeof t);
    t.conv = d;
    t.x = tv_new(n, d.cin, h, w, xslice);
    t.y = tv_new(n, d.cout, conv_out_h(&d, h), conv_out_w(&d, w), yslice);
    t.np = conv_weight_count(&d);
    t.p = malloc((size_t)t.np * sizeof(float));
    t.fwd = conv_f;
    t.bwd = conv_b;
    fill_away(t.x);
    fill_buf(t.p, t.np, 0.5f);
    if (be->conv_prepare(be, &d, n, h, w, NULL) != CL_OK) {
        CHECK(0, "%s: scratch reserved", name);
        return;
    }
    gradcheck(&t, name, 1e-2f);

    /* the fast path against the generic one, on the same data */
    {
        long ny = tv_len(t.y), nx = tv_len(t.x);
        tview dy = tv_new(t.y.n, t.y.c, t.y.h, t.y.w, 0), dx = tv_new(n, d.cin, h, w, 0);
        float *yf = malloc((size_t)ny * 4), *yg = malloc((size_t)ny * 4);
        float *dxf = malloc((size_t)nx * 4), *dwf = malloc((size_t)t.np * 4), *dwg = malloc((size_t)t.np * 4);
        fill_buf(dy.d, ny, 1.f);
        for (int pass = 0; pass < 2; pass++) {
            cpu_conv_set_generic(pass);
            be->conv_fwd(be, &d, t.x, t.p, t.y, 0);
            be->conv_bwd_data(be, &d, t.x, t.p, dy, dx, 0);
            be->conv_bwd_filter(be, &d, t.x, dy, pass ? dwg : dwf);
            for (long i = 0; i < ny; i++)
                (pass ? yg : yf)[i] = *tv_at(t.y, i);
            if (!pass)
                memcpy(dxf, dx.d, (size_t)nx * 4);
        }
        cpu_conv_set_generic(0);
        {
            /* the combined backward equals the two separate ones */
            tview dx2 = tv_new(n, d.cin, h, w, 0);
            float *dw2 = malloc((size_t)t.np * 4);
            memcpy(dx2.d, dx.d, (size_t)nx * 4);
            be->conv_bwd_data(be, &d, t.x, t.p, dy, dx, 1);
            be->conv_bwd_filter(be, &d, t.x, dy, dwf);
            be->conv_bwd(be, &d, t.x, t.p, dy, dx2, 1, 1, dw2);
            CHECK(rel_diff(dx2.d, dx.d, nx) < 1e-5 && rel_diff(dw2, dwf, t.np) < 1e-4,
                  "%s: combined backward equals data and filter gradients apart (dx %.1g, dw %.1g)",
                  name, rel_diff(dx2.d, dx.d, nx), rel_diff(dw2, dwf, t.np));
            free(dx2.d);
            free(dw2);
            be->conv_bwd_filter(be, &d, t.x, dy, dwf);
            memcpy(dx.d, dxf, (size_t)nx * 4);
            cpu_conv_set_generic(1);
            be->conv_bwd_data(be, &d, t.x, t.p, dy, dx, 0);
            cpu_conv_set_generic(0);
        }
        CHECK(rel_diff(yf, yg, ny) < 1e-4 && rel_diff(dxf, dx.d, nx) < 1e-4 &&
                  rel_diff(dwf, dwg, t.np) < 1e-4,
              "%s: fast path equals the generic path (y %.1g, dx %.1g, dw %.1g)", name,
              rel_diff(yf, yg, ny), rel_diff(dxf, dx.d, nx), rel_diff(dwf, dwg, t.np));
        free(dy.d); free(dx.d); free(yf); free(yg); free(dxf); free(dwf); free(dwg);
    }
    free(t.x.d);
    free(t.y.d);
    free(t.p);
}

static void test_convs(void)
{
    test_conv("conv 3x3 dense", cdesc(3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0), 2, 6, 7, 0, 0);
    test_conv("conv 3x3 dense stride 2 relu", cdesc(4, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1), 2, 7, 8, 1, 2);
    test_conv("conv 1x7 stride (1,2) relu", cdesc(3, 3, 1, 7, 1, 2, 0, 3, 1, 1, 1), 2, 8, 8, 0, 0);
    test_conv("conv 7x1 stride (2,1)", cdesc(3, 3, 7, 1, 2, 1, 3, 0, 1, 1, 0), 2, 8, 4, 0, 0);
    test_conv("conv grouped (2 groups)", cdesc(4, 6, 3, 3, 1, 1, 1, 1, 1, 2, 1), 2, 5, 5, 0, 0);
    test_conv("depthwise 3x3 relu", cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 1), 2, 6, 6, 2, 0);
    test_conv("depthwise 5x5 stride 2 relu", cdesc(3, 3, 5, 5, 2, 2, 2, 2, 1, 3, 1), 2, 8, 8, 0, 1);
    test_conv("depthwise 7x7", cdesc(2, 2, 7, 7, 1, 1, 3, 3, 1, 2, 0), 2, 9, 9, 0, 0);
    test_conv("depthwise 3x3 dilation 2 stride 2 relu", cdesc(3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 1), 2, 8, 8, 0, 0);
    /* wider than one 16-float vector, widths not a multiple of it */
    test_conv("depthwise 3x3 dilation 2 relu, 21x20", cdesc(3, 3, 3, 3, 1, 1, 2, 2, 2, 3, 1), 1, 21, 20, 0, 0);
    test_conv("depthwise 5x5, 18x33", cdesc(2, 2, 5, 5, 1, 1, 2, 2, 1, 2, 0), 2, 18, 33, 1, 0);
    test_conv("depthwise 7x7 stride 2 relu, 20x34", cdesc(2, 2, 7, 7, 2, 2, 3, 3, 1, 2, 1), 2, 20, 34, 0, 1);
    test_conv("depthwise 3x3 stride 2, 32x32", cdesc(2, 2, 3, 3, 2, 2, 1, 1, 1, 2, 0), 2, 32, 32, 0, 0);
    test_conv("pointwise", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0), 3, 4, 5, 1, 3);
    test_conv("pointwise relu", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1), 3, 4, 5, 0, 0);
    {
        conv_desc d = cdesc(4, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1);
        test_conv("pointwise stride 2 relu (factorized reduce, even grid)", d, 2, 6, 6, 0, 3);
        d.oy = d.ox = 1;
        test_conv("pointwise stride 2 relu offset (factorized reduce, odd grid)", d, 2, 6, 6, 1, 3);
    }
}

static void test_bn(const char *name, int n, int c, int h, int w, int with_scale)
{
    optest t;
    float sc[8];
    memset(&t, 0, sizeof t);
    t.x = tv_new(n, c, h, w, 1);
    t.y = tv_new(n, c, h, w, 2);
    t.np = 2 * c;
    t.p = malloc((size_t)t.np * sizeof(float));
    t.bn.eps = 1e-5f;
    t.bn.momentum = 0.1f;
    t.fwd = bn_f;
    t.bwd = bn_b;
    fill_buf(t.x.d, (long)n * t.x.ns, 2.f);
    for (int i = 0; i < c; i++) {
        t.p[i] = 0.5f + rng_uniform(&rng);
        t.p[c + i] = rng_uniform(&rng) - 0.5f;
        t.stats[i] = 0.f;
        t.stats[c + i] = 1.f;
    }
    for (int i = 0; i < n; i++)
        sc[i] = i % 3 == 1 ? 0.f : 1.f / 0.7f;
    t.sscale = with_scale ? sc : NULL;
    gradcheck(&t, name, 1e-3f);
    free(t.x.d);
    free(t.y.d);
    free(t.p);
}

static void test_bn_stats(void)
{
    /* batch statistics, running statistics, eval mode */
    int n = 4, c = 2, hw = 9;
    tview x = tv_new(n, c, 3, 3, 0), y = tv_new(n, c, 3, 3, 0);
    float g[2] = {1.f, 2.f}, b[2] = {0.f, 1.f}, rm[2] = {0.f, 0.f}, rv[2] = {1.f, 1.f}, sm[2], sr[2];
    bn_desc d = {1e-5f, 0.1f};
    double mean = 0, var = 0, m1 = 0, s1 = 0;
    fill_buf(x.d, n * c * hw, 3.f);
    be->bn_fwd_train(be, &d, x, g, b, sm, sr, rm, rv, y, 0, NULL, NOV, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < hw; j++)
            mean += x.d[i * c * hw + j];
    mean /= n * hw;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < hw; j++)
            var += pow(x.d[i * c * hw + j] - mean, 2);
    var /= n * hw;
    CHECK_NEAR(sm[0], mean, 1e-6, 1e-5, "batch norm: saved mean is the batch mean");
    CHECK_NEAR(sr[0], 1.0 / sqrt(var + 1e-5), 1e-5, 1e-5, "batch norm: saved 1/std from the biased variance");
    CHECK_NEAR(rm[0], 0.1 * mean, 1e-6, 1e-5, "batch norm: running mean moves by momentum 0.1");
    CHECK_NEAR(rv[0], 0.9 + 0.1 * var * n * hw / (n * hw - 1), 1e-6, 1e-5,
               "batch norm: running variance uses the unbiased variance");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < hw; j++) {
            m1 += y.d[i * c * hw + hw + j];
            s1 += pow(y.d[i * c * hw + hw + j] - 1.0, 2);
        }
    CHECK_NEAR(m1 / (n * hw), 1.0, 1e-5, 0, "batch norm: output mean is beta");
    CHECK_NEAR(sqrt(s1 / (n * hw)), 2.0, 1e-3, 0, "batch norm: output std is gamma");
    be->bn_fwd_eval(be, &d, x, g, b, rm, rv, y, 0, NOV, 0);
    CHECK_NEAR(y.d[0], (x.d[0] - rm[0]) / sqrt(rv[0] + 1e-5), 1e-5, 1e-5,
               "batch norm eval: uses the running statistics");
    free(x.d);
    free(y.d);
}

/* largest |a - b| over two views of one shape */
static double tv_maxdiff(tview a, tview b)
{
    double m = 0;
    for (long i = 0; i < tv_len(a); i++)
        m = fmax(m, fabs((double)*tv_at(a, i) - *tv_at(b, i)));
    return m;
}

/* A batch norm's second output (an identity op folded into it): y2 gets
 * what y holds after the op, overwritten or added to; backward, dy2 adds
 * to dy, the same as one gradient dy + dy2.  y2 a channel slice. */
static void test_bn_second_output(void)
{
    int n = 3, c = 4, h = 5, w = 3;
    tview x = tv_new(n, c, h, w, 0), y = tv_new(n, c, h, w, 0), y2 = tv_new(n, c, h, w, 2),
          old = tv_new(n, c, h, w, 0), dy = tv_new(n, c, h, w, 0), dy2 = tv_new(n, c, h, w, 2),
          sum = tv_new(n, c, h, w, 0), dx1 = tv_new(n, c, h, w, 0), dx2 = tv_new(n, c, h, w, 0);
    float g[4] = {1.f, 0.5f, -2.f, 1.5f}, b[4] = {0.f, 1.f, -1.f, 0.25f}, sm[4], sr[4],
          dg1[4], db1[4], dg2[4], db2[4], sc[3] = {2.f, 0.f, 1.5f};
    bn_desc d = {1e-5f, 0.1f};
    double e = 0;
    fill_away(x);
    fill_away(old);
    for (int acc2 = 0; acc2 < 2; acc2++)
        for (int acc = 0; acc < 2; acc++) {
            double worst = 0;
            for (long i = 0; i < tv_len(y); i++) {
                *tv_at(y, i) = *tv_at(old, i) * 0.5f;
                *tv_at(y2, i) = *tv_at(old, i);
            }
            be->bn_fwd_train(be, &d, x, g, b, sm, sr, NULL, NULL, y, acc, sc, y2, acc2);
            for (long i = 0; i < tv_len(y); i++)
                worst = fmax(worst, fabs(*tv_at(y2, i) - (*tv_at(y, i) +
                                                          (acc2 ? *tv_at(old, i) : 0.f))));
            CHECK(worst < 1e-6, "batch norm: y2 %s what y holds after the op (y %s, drop-path "
                   "scales): off by %g", acc2 ? "adds" : "takes", acc ? "added to" : "overwritten",
                   worst);
        }
    be->bn_fwd_eval(be, &d, x, g, b, sm, sr, y, 0, y2, 0);
    CHECK(tv_maxdiff(y, y2) == 0, "batch norm eval: y2 takes y");
    be->bn_fwd_train(be, &d, x, g, b, sm, sr, NULL, NULL, y, 0, NULL, NOV, 0);
    fill_away(dy);
    fill_away(dy2);
    for (long i = 0; i < tv_len(sum); i++)
        *tv_at(sum, i) = *tv_at(dy, i) + *tv_at(dy2, i);
    be->bn_bwd(be, x, dy, dy2, g, sm, sr, sc, dx1, 0, dg1, db1);
    be->bn_bwd(be, x, sum, NOV, g, sm, sr, sc, dx2, 0, dg2, db2);
    for (int k = 0; k < c; k++)
        e = fmax(e, fmax(fabs(dg1[k] - dg2[k]), fabs(db1[k] - db2[k])));
    CHECK(tv_maxdiff(dx1, dx2) < 1e-5 && e < 1e-5,
           "batch norm backward: dy2 added to dy is the gradient dy + dy2 (dx off by %g, "
           "dgamma and dbeta by %g)", tv_maxdiff(dx1, dx2), e);
    free(x.d);
    free(y.d);
    free(y2.d);
    free(old.d);
    free(dy.d);
    free(dy2.d);
    free(sum.d);
    free(dx1.d);
    free(dx2.d);
}

static void test_pool(const char *name, pool_kind kind, int k, int s, int n, int c, int h, int w,
                      int with_scale)
{
    optest t;
    float sc[8];
    memset(&t, 0, sizeof t);
    t.pool.kind = kind;
    t.pool.k = k;
    t.pool.s = s;
    t.pool.p = k / 2;
    t.x = tv_new(n, c, h, w, 1);
    t.y = tv_new(n, c, pool_out(&t.pool, h), pool_out(&t.pool, w), 1);
    t.fwd = pool_f;
    t.bwd = pool_b;
    fill_distinct(t.x);
    for (int i = 0; i < n; i++)
        sc[i] = i % 2 ? 0.f : 1.25f;
    t.sscale = with_scale ? sc : NULL;
    gradcheck(&t, name, 1e-3f);
    free(t.x.d);
    free(t.y.d);
}

static void test_pool_values(void)
{
    /* avg excludes padding: the corner of a 3x3 avg over a 2x2 image of
     * ones is 1, not 4/9; max pads with -inf: all-negative image keeps its max */
    tview x = tv_new(1, 1, 2, 2, 0), y = tv_new(1, 1, 2, 2, 0);
    pool_desc avg = {POOL_AVG, 3, 1, 1}, mx = {POOL_MAX, 3, 1, 1};
    for (int i = 0; i < 4; i++)
        x.d[i] = 1.f;
    be->pool_fwd(be, &avg, x, y, 0, NULL);
    CHECK_NEAR(y.d[0], 1.0, 1e-6, 0, "avg pool: padding is excluded from the count");
    for (int i = 0; i < 4; i++)
        x.d[i] = -1.f - (float)i;
    be->pool_fwd(be, &mx, x, y, 0, NULL);
    CHECK_NEAR(y.d[3], -1.0, 1e-6, 0, "max pool: padding never wins");
    free(x.d);
    free(y.d);
}

static void test_small_ops(void)
{
    optest t;
    float sc[3] = {1.f, 0.f, 2.f};
    memset(&t, 0, sizeof t);
    t.x = tv_new(3, 4, 3, 3, 2);
    t.y = tv_new(3, 4, 3, 3, 1);
    t.fwd = copy_f;
    t.bwd = copy_b;
    t.sscale = sc;
    fill_away(t.x);
    gradcheck(&t, "identity path with drop-path scale", 1e-2f);
    free(t.y.d);
    t.y = tv_new(3, 4, 1, 1, 0);
    t.fwd = gap_f;
    t.bwd = gap_b;
    t.no_fwd_acc = 1;
    gradcheck(&t, "global average pool", 1e-2f);
    free(t.x.d);
    free(t.y.d);

    /* linear and softmax cross-entropy, with finite differences by hand */
    {
        int n = 3, k = 5, m = 4, labels[3] = {0, 3, 1}, correct;
        float x[15], w[20], b[4], y[12], dy[12], dx[15], dw[20], db[4], loss, lp, lm;
        float dl[12];
        double worst = 0.0;
        fill_buf(x, 15, 1.f);
        fill_buf(w, 20, 1.f);
        fill_buf(b, 4, 1.f);
        be->linear_fwd(be, n, k, m, x, w, b, y);
        CHECK_NEAR(y[1 * m + 2], b[2] + x[5] * w[10] + x[6] * w[11] + x[7] * w[12] + x[8] * w[13] + x[9] * w[14],
                   1e-5, 1e-5, "linear: y = x w^T + b");
        be->xent(be, n, m, y, labels, &loss, &correct, dl, NULL);
        for (int i = 0; i < 12; i++) {
            float keep = y[i];
            y[i] = keep + 1e-3f;
            be->xent(be, n, m, y, labels, &lp, &correct, NULL, NULL);
            y[i] = keep - 1e-3f;
            be->xent(be, n, m, y, labels, &lm, &correct, NULL, NULL);
            y[i] = keep;
            worst = fmax(worst, fabs((lp - lm) / 2e-3 - dl[i]));
        }
        CHECK(worst < 1e-3, "cross-entropy: gradient matches finite differences (max error %.2g)", worst);
        memcpy(dy, dl, sizeof dy);
        be->linear_bwd(be, n, k, m, x, w, dy, dx, 0, dw, db);
        worst = 0.0;
        for (int i = 0; i < 20; i++) {
            float keep = w[i];
            w[i] = keep + 1e-2f;
            be->linear_fwd(be, n, k, m, x, w, b, y);
            be->xent(be, n, m, y, labels, &lp, &correct, NULL, NULL);
            w[i] = keep - 1e-2f;
            be->linear_fwd(be, n, k, m, x, w, b, y);
            be->xent(be, n, m, y, labels, &lm, &correct, NULL, NULL);
            w[i] = keep;
            worst = fmax(worst, fabs((lp - lm) / 2e-2 - dw[i]));
        }
        for (int i = 0; i < 15; i++) {
            float keep = x[i];
            x[i] = keep + 1e-2f;
            be->linear_fwd(be, n, k, m, x, w, b, y);
            be->xent(be, n, m, y, labels, &lp, &correct, NULL, NULL);
            x[i] = keep - 1e-2f;
            be->linear_fwd(be, n, k, m, x, w, b, y);
            be->xent(be, n, m, y, labels, &lm, &correct, NULL, NULL);
            x[i] = keep;
            worst = fmax(worst, fabs((lp - lm) / 2e-2 - dx[i]));
        }
        CHECK(worst < 1e-3, "linear: weight and input gradients match finite differences (max error %.2g)", worst);
    }

    /* SGD as torch.optim.SGD: first step v = g + wd p */
    {
        float p[2] = {1.f, -2.f}, g[2] = {0.5f, 0.25f}, v[2] = {9.f, 9.f};
        be->sgd(be, 2, p, g, v, 0.1f, 0.9f, 0.01f, 1, NULL);
        CHECK_NEAR(v[0], 0.51, 1e-6, 0, "sgd: first step's momentum buffer is g + wd p");
        CHECK_NEAR(p[0], 1.0 - 0.051, 1e-6, 0, "sgd: p -= lr v");
        be->sgd(be, 2, p, g, v, 0.1f, 0.9f, 0.01f, 0, NULL);
        CHECK_NEAR(v[1], 0.9 * (0.25 - 0.02) + (0.25 + 0.01 * p[1] / 1.0 * 1.0 - 0.0), 2e-3, 0,
                   "sgd: later steps v = mom v + g + wd p");
    }
}

/* ---- whole networks ---- */

/* every op and both combiners, in both cells */
static const char *ALL_OPS =
    "normal: identity(0) conv_1x3_3x1(1) add | conv_1x7_7x1(0) dil_conv_3x3(2) concat | "
    "avg_pool_3x3(1) max_pool_3x3(3) add | max_pool_5x5(0) max_pool_7x7(1) add | "
    "conv_1x1(4) conv_3x3(5) concat | sep_conv_3x3(1) sep_conv_5x5(6) add | sep_conv_7x7(2) identity(1) add ; "
    "reduce: identity(0) conv_1x3_3x1(1) concat | conv_1x7_7x1(0) dil_conv_3x3(1) add | "
    "avg_pool_3x3(1) max_pool_3x3(0) add | max_pool_5x5(2) max_pool_7x7(1) concat | "
    "conv_1x1(0) conv_3x3(3) add | sep_conv_3x3(1) sep_conv_5x5(4) add | sep_conv_7x7(6) identity(5) concat";

static float net_loss_at(cl_net *net, const float *x, const int *y, int n)
{
    float loss;
    int correct;
    net_forward(net, x, n, 1, NULL);
    net_loss(net, y, &loss, &correct, 0, NULL);
    return loss;
}

static void test_network_grad(const char *text, int drop, int min_groups)
{
    cl_genotype g;
    cl_err err = {0};
    cl_net *net = NULL;
    int hw = 16;
    child_spec spec = {1, 4, 3, hw, hw, 10};
    int n = 8, y[8] = {1, 7, 3, 3, 0, 9, 2, 5}, bad = 0, groups = 0;
    float *x = malloc(sizeof(float) * 8 * 3 * hw * hw), loss;
    int correct;
    double worst = 0.0;
    if (geno_parse(text, &g, &err) || child_build(&g, &spec, be, &net, &err) ||
        net_plan(net, n, &err) || net_init_params(net, &rng, &err)) {
        CHECK(0, "network builds: %s", err.msg);
        net_free(net);
        return;
    }
    fill_buf(x, (long)n * 3 * hw * hw, 1.f);
    if (drop)
        net_drop_path(net, 0.3f, &rng);
    net_forward(net, x, n, 1, NULL);
    net_loss(net, y, &loss, &correct, 1, NULL);
    net_backward(net, NULL);
    {
        /* For each node with parameters, its parameter with the largest
         * gradient against a central difference of the loss.  One weight
         * at a time: moving many at once crosses ReLU and max-pool kinks
         * downstream and the difference quotient stops meaning anything.
         * The step is small because the largest gradients sit where the
         * loss bends most: at 1e-3 the quotient is still 5-10% short of
         * its limit there, at 1e-4 it has converged. */
        float *p = net->params, *grad = malloc((size_t)net->p_storage * sizeof(float));
        double sa = 0, sf = 0, saa = 0, sff = 0, saf = 0;
        memcpy(grad, net->pgrad, (size_t)net->p_storage * sizeof(float));
        for (int i = 0; i < net->n_nodes; i++) {
            const net_node *nd = &net->nodes[i];
            const float eps = 1e-4f;   /* the loss is strongly curved here: see below */
            long at = nd->p_off;
            double fd, an, e;
            float keep;
            if (!nd->p_len)
                continue;
            for (long j = nd->p_off; j < nd->p_off + nd->p_len; j++)
                if (fabsf(grad[j]) > fabsf(grad[at]))
                    at = j;
            keep = p[at];
            p[at] = keep + eps;
            fd = net_loss_at(net, x, y, n);
            p[at] = keep - eps;
            fd -= net_loss_at(net, x, y, n);
            p[at] = keep;
            fd /= 2 * eps;
            an = grad[at];
            e = fabs(fd - an) / (4e-3 + 5e-2 * fabs(an));
            if (e > 1.0) {
                bad++;
                printf("# node %d (kind %d) parameter %ld: analytic %.6g, finite differences %.6g\n",
                       i, nd->kind, at - nd->p_off, an, fd);
            }
            worst = e > worst ? e : worst;
            sa += an;
            sf += fd;
            saa += an * an;
            sff += fd * fd;
            saf += an * fd;
            groups++;
        }
        {
            double cov = saf - sa * sf / groups, corr;
            corr = cov / sqrt((saa - sa * sa / groups) * (sff - sf * sf / groups));
            CHECK(corr > 0.995, "network gradient%s: analytic and finite differences correlate (r = %.5f over %d parameters)",
                  drop ? " with drop-path" : "", corr, groups);
        }
        free(grad);
    }
    CHECK(bad <= groups / 50 && groups >= min_groups,
          "network gradient%s: the largest gradient of each of %d parameter groups matches finite differences (%d outside tolerance, worst %.2f)",
          drop ? " with drop-path" : "", groups, bad, worst);
    free(x);
    net_free(net);
}

static void test_param_counts(void)
{
    /* torch_nasnet.py's Net(C, N, cin) for NASNet-A: sum of p.numel() */
    static const struct { int F, N, cin; long params; } ref[] = {
        {16, 2, 3, 333946}, {8, 1, 1, 66850}, {32, 6, 3, 3061738},
        {4, 1, 1, 23734}, {16, 2, 1, 333082}, {24, 3, 3, 965506},
    };
    cl_genotype g;
    cl_err err = {0};
    geno_from_arg("nasnet-a", &g, &err);
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        child_spec s = {ref[i].N, ref[i].F, ref[i].cin, 32, 32, 10};
        cl_net *net = NULL;
        int rc = child_build(&g, &s, be, &net, &err);
        CHECK(rc == CL_OK && net_param_count(net) == ref[i].params,
              "NASNet-A F=%d N=%d, %d input channels: %ld parameters, as PyTorch (%ld)", ref[i].F,
              ref[i].N, ref[i].cin, rc ? -1L : net_param_count(net), ref[i].params);
        if (i == 0)
            CHECK(rc == CL_OK && fabs(net_flops(net) - 112.4e6) < 0.1e6,
                  "NASNet-A F=16 N=2 32x32x3: %.1f MFLOPs forward per image", net_flops(net) / 1e6);
        net_free(net);
    }
    {
        child_spec s = {1, 8, 1, 30, 30, 10};
        cl_net *net = NULL;
        int rc = child_build(&g, &s, be, &net, &err);
        CHECK(rc == CL_ERR_SHAPE && strstr(err.msg, "even"),
              "a 30x30 input is refused: %s", err.msg);
        net_free(net);
    }
}

static void test_eval_independent_of_batch(void)
{
    /* in eval mode an image's logits do not depend on the rest of its batch */
    cl_genotype g;
    cl_err err = {0};
    cl_net *net = NULL;
    child_spec spec = {1, 4, 1, 8, 8, 10};
    float x[4 * 64], l4[40], l1[10];
    int y[4] = {0, 1, 2, 3}, correct;
    float loss;
    geno_from_arg("nasnet-a", &g, &err);
    if (child_build(&g, &spec, be, &net, &err) || net_plan(net, 4, &err) ||
        net_init_params(net, &rng, &err)) {
        CHECK(0, "network builds: %s", err.msg);
        return;
    }
    fill_buf(x, 4 * 64, 1.f);
    for (int s = 0; s < 3; s++) {   /* move the running statistics */
        net_forward(net, x, 4, 1, NULL);
        net_loss(net, y, &loss, &correct, 1, NULL);
        net_backward(net, NULL);
        net_sgd(net, 0.01f, 0.9f, 3e-4f);
    }
    net_forward(net, x, 4, 0, NULL);
    net_logits(net, l4);
    net_forward(net, x, 1, 0, NULL);
    net_logits(net, l1);
    CHECK(rel_diff(l1, l4, 10) < 1e-5, "eval mode: logits of an image alone equal those in a batch");
    {
        /* parameter blocks on 16 bytes, the padding between them zero
         * after training, the count unchanged by it */
        long real = 0, pad_nonzero = 0, next = 0;
        int aligned = 1;
        for (int i = 0; i < net->n_nodes; i++) {
            const net_node *nd = &net->nodes[i];
            aligned &= nd->p_off % 4 == 0 && ((uintptr_t)(net->params + nd->p_off) & 15) == 0;
            for (long j = next; j < nd->p_off; j++)
                pad_nonzero += net->params[j] != 0.f || net->pgrad[j] != 0.f || net->mom[j] != 0.f;
            next = nd->p_off + nd->p_len;
            real += nd->p_len;
        }
        CHECK(aligned, "every parameter block starts on 16 bytes");
        CHECK(pad_nonzero == 0 && real == net_param_count(net) && net->p_storage >= real,
              "the padding stays zero through training and is not counted (%ld parameters, "
              "%ld stored)", real, net->p_storage);
    }
    net_free(net);
}

/* largest |a - b| over the largest |b| (a NaN the worst: fmax would
 * drop it) */
static double scaled_diff(const float *a, const float *b, long n)
{
    double m = 0.0, top = 1e-30;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m))
            m = isnan(d) ? INFINITY : d;
        top = fmax(top, fabs((double)b[i]));
    }
    return m / top;
}

/* one network of genotype `geno` (N=1 F=4 8x8x3) planned with the
 * environment variable var set to mode, its parameters from seed 7; NULL
 * with a message when it does not build */
static cl_net *env_net(const char *geno, const char *var, const char *mode, cl_err *err)
{
    cl_genotype g;
    cl_net *net = NULL;
    cl_rng r;
    child_spec spec = {1, 4, 3, 8, 8, 10};
    setenv(var, mode, 1);
    rng_seed(&r, 7);
    if (geno_from_arg(geno, &g, err) || child_build(&g, &spec, be, &net, err) ||
        net_plan(net, 4, err) || net_init_params(net, &r, err)) {
        net_free(net);
        net = NULL;
    }
    unsetenv(var);
    return net;
}

/* identity ops folded (CELLAR_IDENTITY fold) or copied */
static cl_net *fold_net(const char *geno, const char *mode, cl_err *err)
{
    return env_net(geno, "CELLAR_IDENTITY", mode, err);
}

/* a and b, one network of genotype geno planned two ways (b `how`),
 * trained 3 steps on the same batch with the same drop-path masks and
 * evaluated, train alike: the first loss the same, the loss after 2 steps,
 * the gradients and the parameters (each over the largest) and the
 * evaluation logits (over the largest: a logit near 0 takes its rounding
 * from the others) within 1e-5 */
static void train_alike(cl_net *a, cl_net *b, const char *geno, const char *how)
{
    float x[4 * 3 * 64], la[40], lb[40], loss[2][3];
    int y[4] = {1, 3, 5, 7}, correct;
    double gd = 0, pd, ld;
    fill_buf(x, 4 * 3 * 64, 1.f);
    for (int s = 0; s < 3; s++) {
        cl_net *nets[2] = {a, b};
        for (int j = 0; j < 2; j++) {
            cl_rng r;
            rng_seed(&r, 100 + s);
            net_drop_path(nets[j], 0.2f, &r);
            net_forward(nets[j], x, 4, 1, NULL);
            net_loss(nets[j], y, &loss[j][s], &correct, 1, NULL);
            net_backward(nets[j], NULL);
        }
        gd = fmax(gd, scaled_diff(b->pgrad, a->pgrad, a->p_storage));
        net_sgd(a, 0.05f, 0.9f, 3e-4f);
        net_sgd(b, 0.05f, 0.9f, 3e-4f);
    }
    pd = scaled_diff(b->params, a->params, a->p_storage);
    net_forward(a, x, 4, 0, NULL);
    net_logits(a, la);
    net_forward(b, x, 4, 0, NULL);
    net_logits(b, lb);
    ld = scaled_diff(lb, la, 40);
    CHECK(loss[0][0] == loss[1][0] && fabs(loss[0][2] - loss[1][2]) < 1e-5 * fabs(loss[0][2]),
          "%.40s: %s, the training loss with drop-path is the same (%.7f, %.7f after 2 steps; "
          "%.7f, %.7f)", geno, how, loss[1][0], loss[1][2], loss[0][0], loss[0][2]);
    CHECK(gd < 1e-5 && pd < 1e-5,
          "%.40s: and so are the gradients (off by %.2g of the largest) and the parameters "
          "after 3 steps (%.2g)", geno, gd, pd);
    CHECK(ld < 1e-5, "%.40s: and the evaluation logits (off by %.2g)", geno, ld);
}

/* An identity op copying a batch norm's output (a cell's preprocessed
 * input) folds into that batch norm: the same network, the same step. */
static void test_identity_fold(void)
{
    static const struct { const char *geno; int folded, left; } cases[] = {
        /* normal cells' identity(0), identity(1) fold; the reduction cell's
         * identity(3) reads a block output (two writers) and stays */
        {"nasnet-a", 6, 2},
        /* identity first in its block (the op beside it now adds); each
         * normal cell's two identity(0) read one batch norm, which takes
         * the first */
        {"enas", 3, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cl_err err = {0};
        cl_net *a = fold_net(cases[k].geno, "copy", &err), *b;
        int copies[2] = {0, 0}, folds = 0;
        if (!a || !(b = fold_net(cases[k].geno, "fold", &err))) {
            CHECK(0, "%s: networks build (%s)", cases[k].geno, err.msg);
            net_free(a);
            continue;
        }
        for (int i = 0; i < a->n_nodes; i++)
            copies[0] += a->nodes[i].kind == NODE_COPY;
        for (int i = 0; i < b->n_nodes; i++) {
            copies[1] += b->nodes[i].kind == NODE_COPY;
            folds += b->nodes[i].kind == NODE_BN && b->nodes[i].y2 >= 0;
        }
        CHECK(copies[0] == cases[k].folded + cases[k].left && copies[1] == cases[k].left &&
                  folds == cases[k].folded && b->n_nodes == a->n_nodes - folds,
              "%s: %d of %d identity ops folded into batch norms, %d left (%d copies, %d "
              "folds, %d ops of %d)", cases[k].geno, cases[k].folded,
              cases[k].folded + cases[k].left, cases[k].left, copies[1], folds, b->n_nodes,
              a->n_nodes);
        train_alike(a, b, cases[k].geno, "folded");
        net_free(a);
        net_free(b);
    }
    {
        cl_err err = {0};
        cl_net *n = fold_net("nasnet-a", "never", &err);
        CHECK(!n && strstr(err.msg, "CELLAR_IDENTITY") && strstr(err.msg, "fold or copy"),
              "CELLAR_IDENTITY=never is refused: %s", err.msg);
        net_free(n);
    }
}

/* Two like pools of one input adding into one output are one pool
 * scaled by both paths' drop-path scales: the same network, the same
 * step, one op fewer per pair. */
static void test_twin_pools(void)
{
    static const struct { const char *geno; int twins; } cases[] = {
        /* each normal cell's avg_pool_3x3(0) avg_pool_3x3(0) add */
        {"nasnet-a", 3},
        /* max pools, and stride 2 in the reduction cells; a pair of unlike
         * kinds, of two inputs, or concatenated, stays apart */
        {"normal: max_pool_3x3(1) max_pool_3x3(1) add | avg_pool_3x3(0) max_pool_3x3(0) add"
         " | avg_pool_3x3(0) avg_pool_3x3(1) add | avg_pool_3x3(2) avg_pool_3x3(2) concat"
         " | sep_conv_3x3(3) avg_pool_3x3(2) add"
         " ; reduce: avg_pool_3x3(0) avg_pool_3x3(0) add | max_pool_5x5(1) sep_conv_3x3(2) add"
         " | identity(0) sep_conv_3x3(1) add | avg_pool_3x3(3) max_pool_3x3(4) add"
         " | sep_conv_3x3(5) identity(2) add",
         5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        cl_err err = {0};
        cl_net *a = env_net(cases[k].geno, "CELLAR_TWINS", "apart", &err), *b;
        int pools[2] = {0, 0}, twins = 0;
        if (!a || !(b = env_net(cases[k].geno, "CELLAR_TWINS", "merge", &err))) {
            CHECK(0, "%s: networks build (%s)", cases[k].geno, err.msg);
            net_free(a);
            continue;
        }
        for (int i = 0; i < a->n_nodes; i++)
            pools[0] += a->nodes[i].kind == NODE_POOL;
        for (int i = 0; i < b->n_nodes; i++)
            pools[1] += b->nodes[i].kind == NODE_POOL;
        twins = net_twin_pools(b);
        CHECK(twins == cases[k].twins && net_twin_pools(a) == 0 &&
                  pools[1] == pools[0] - twins && b->n_nodes == a->n_nodes - twins &&
                  b->n_twins == twins && b->n_paths == a->n_paths,
              "%.40s: %d pairs of pools merged (%d twins, %d pools of %d, %d ops of %d)",
              cases[k].geno, cases[k].twins, twins, pools[1], pools[0], b->n_nodes, a->n_nodes);
        train_alike(a, b, cases[k].geno, "twins merged");
        net_free(a);
        net_free(b);
    }
    {
        cl_err err = {0};
        cl_net *n = env_net("nasnet-a", "CELLAR_TWINS", "both", &err);
        CHECK(!n && strstr(err.msg, "CELLAR_TWINS") && strstr(err.msg, "merge or apart"),
              "CELLAR_TWINS=both is refused: %s", err.msg);
        net_free(n);
    }
}

/* Cells that never read h_{i-1}, or only read it (so some cell outputs
 * reach nothing): the unused ops are dropped, the rest trains and its
 * gradient is right. */
static void test_dead_inputs(void)
{
    static const char *const genos[] = {
        "normal: identity(1) avg_pool_3x3(1) add ; reduce: identity(1) sep_conv_3x3(1) add",
        "normal: sep_conv_3x3(0) identity(0) add ; reduce: max_pool_3x3(0) identity(0) add",
    };
    for (int i = 0; i < 2; i++) {
        cl_genotype g;
        cl_err err = {0};
        cl_net *net = NULL;
        child_spec spec = {1, 4, 3, 16, 16, 10};
        long full;
        int rc = geno_parse(genos[i], &g, &err);
        rc = rc ? rc : child_build(&g, &spec, be, &net, &err);
        rc = rc ? rc : net_plan(net, 4, &err);
        CHECK(rc == CL_OK, "a network whose cells %s builds and plans (%s)",
              i ? "only read h_{i-1}" : "never read h_{i-1}", rc ? err.msg : "ok");
        if (rc == CL_OK) {
            full = 0;
            for (int j = 0; j < net->n_nodes; j++)
                full += net->nodes[j].p_len;
            CHECK(full == net_param_count(net) && net->n_nodes > 10,
                  "its parameter count (%ld) is that of the ops it kept", net_param_count(net));
        }
        net_free(net);
        test_network_grad(genos[i], 0, 20);
    }
}

/* ---- batches and drop-path masks drawn by the backend ---- */

/* the pixel a batch_desc puts at (ch, r, c) of batch image i, from first principles */
static float batch_ref(const batch_desc *d, const uint8_t *img, int i, int ch, int r, int c)
{
    int dy, dx, flip, sr, sc;
    float sd = d->std[ch] > 0.f ? d->std[ch] : 1.f;
    batch_aug_draw(d, i, &dy, &dx, &flip);
    if (!(d->pad > 0 || d->flip))
        dy = dx = flip = 0;
    sr = r + dy;
    sc = (flip ? d->w - 1 - c : c) + dx;
    if (sr < 0 || sr >= d->h || sc < 0 || sc >= d->w)
        return 0.f;
    return ((float)img[(ch * d->h + sr) * d->w + sc] / 255.f - d->mean[ch]) / sd;
}

static void test_batches(void)
{
    enum { COUNT = 40, C = 3, H = 9, W = 7, N = 64 };
    uint8_t *images = malloc((size_t)COUNT * C * H * W), labels[COUNT];
    int idx[N], y[N], seen_off[9][9] = {{0}}, flips = 0, offs = 0;
    float *x = malloc((size_t)N * C * H * W * sizeof *x), *x2 = malloc((size_t)N * C * H * W * sizeof *x2);
    float mean[C] = {0.3f, 0.5f, 0.1f}, sd[C] = {0.25f, 0.0f, 0.4f};
    batch_desc d;
    double worst = 0.0;
    int plain = 1, labels_ok = 1;
    for (int i = 0; i < COUNT * C * H * W; i++)
        images[i] = (uint8_t)(rng_u64(&rng) & 0xff);
    for (int i = 0; i < COUNT; i++)
        labels[i] = (uint8_t)(i % 10);
    for (int i = 0; i < N; i++)
        idx[i] = (int)rng_below(&rng, COUNT);
    memset(&d, 0, sizeof d);
    d.c = C;
    d.h = H;
    d.w = W;
    d.seed = 99;
    d.step = 5;
    for (int ch = 0; ch < C; ch++) {
        d.mean[ch] = mean[ch];
        d.std[ch] = sd[ch];
    }
    /* without augmentation: dataset_make_batch's normalisation, pixel for pixel */
    be->batch_gather(be, &d, images, labels, idx, N, x, y, NULL);
    dataset_make_batch(images, labels, C, H, W, idx, N, mean, sd, NULL, NULL, x2, NULL);
    for (long k = 0; k < (long)N * C * H * W; k++)
        if (fabsf(x[k] - x2[k]) > 1e-6f * (1.f + fabsf(x2[k])))
            plain = 0;
    for (int i = 0; i < N; i++)
        if (y[i] != labels[idx[i]])
            labels_ok = 0;
    CHECK(plain, "batch gather without augmentation normalises as dataset_make_batch does "
                 "(a std of 0 counts as 1)");
    CHECK(labels_ok, "... and takes each image's label");
    /* pad 4 and flip: each image is its source shifted and mirrored as drawn */
    d.pad = 4;
    d.flip = 1;
    be->batch_gather(be, &d, images, labels, idx, N, x, NULL, NULL);
    for (int i = 0; i < N; i++)
        for (int ch = 0; ch < C; ch++)
            for (int r = 0; r < H; r++)
                for (int c = 0; c < W; c++) {
                    float want = batch_ref(&d, images + (long)idx[i] * C * H * W, i, ch, r, c);
                    float got = x[((long)i * C + ch) * H * W + r * W + c];
                    double e = fabs((double)got - want) / (1.0 + fabs(want));
                    if (e > worst)
                        worst = e;
                }
    CHECK(worst < 1e-6, "batch gather with pad 4 and flip: every pixel is the drawn shift and "
                        "mirror of its source, zero outside (worst error %.2g)", worst);
    for (d.step = 0; d.step < 200; d.step++)
        for (int i = 0; i < N; i++) {
            int dy, dx, fl;
            batch_aug_draw(&d, i, &dy, &dx, &fl);
            if (dy >= -4 && dy <= 4 && dx >= -4 && dx <= 4)
                seen_off[dy + 4][dx + 4]++;
            offs++;
            flips += fl;
        }
    {
        int all = 1, inside = 0;
        for (int a = 0; a < 9; a++)
            for (int b = 0; b < 9; b++) {
                inside += seen_off[a][b];
                if (seen_off[a][b] < offs / 81 / 2)
                    all = 0;
            }
        CHECK(inside == offs && all, "crop offsets stay in [-4, 4] and all 81 come up about evenly");
        CHECK(flips > offs * 45 / 100 && flips < offs * 55 / 100,
              "about half the images are mirrored (%d of %d)", flips, offs);
    }
    /* the same (seed, step) draws the same batch; another step another one */
    d.step = 7;
    be->batch_gather(be, &d, images, labels, idx, N, x, NULL, NULL);
    be->batch_gather(be, &d, images, labels, idx, N, x2, NULL, NULL);
    CHECK(!memcmp(x, x2, (size_t)N * C * H * W * sizeof *x), "a batch depends on (seed, step) only");
    d.step = 8;
    be->batch_gather(be, &d, images, labels, idx, N, x2, NULL, NULL);
    CHECK(memcmp(x, x2, (size_t)N * C * H * W * sizeof *x), "... and the next step draws anew");
    /* drop-path masks */
    {
        enum { M = 20000 };
        float *m = malloc(M * sizeof *m), *m2 = malloc(M * sizeof *m2);
        int zeros = 0, kept_ok = 1;
        be->drop_draw(be, 3, 11, 0.3f, M, NULL, 0, 0, m, NULL);
        be->drop_draw(be, 3, 11, 0.3f, M, NULL, 0, 0, m2, NULL);
        for (int k = 0; k < M; k++) {
            if (m[k] == 0.f)
                zeros++;
            else if (m[k] != 1.f / (1.f - 0.3f))
                kept_ok = 0;
        }
        CHECK(zeros > M * 28 / 100 && zeros < M * 32 / 100 && kept_ok,
              "drop-path draw at 0.3: %d of %d dropped, the rest scaled by 1/0.7", zeros, M);
        CHECK(!memcmp(m, m2, M * sizeof *m), "... the same masks for the same (seed, step)");
        be->drop_draw(be, 3, 12, 0.3f, M, NULL, 0, 0, m2, NULL);
        CHECK(memcmp(m, m2, M * sizeof *m), "... new ones at the next step");
        {
            /* rows of 1000 after the 20 drawn, each the sum of two of them */
            static const int pairs[4] = {19, 2, 7, 7};
            float *s = malloc((M + 2000) * sizeof *s);
            int sums_ok = 1, twos = 0;
            be->drop_draw(be, 3, 11, 0.3f, M, pairs, 2, 1000, s, NULL);
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 1000; i++) {
                    float want = m[pairs[2 * j] * 1000 + i] + m[pairs[2 * j + 1] * 1000 + i];
                    sums_ok &= s[M + j * 1000 + i] == want;
                    twos += s[M + j * 1000 + i] == 2.f / (1.f - 0.3f);
                }
            CHECK(!memcmp(s, m, M * sizeof *m) && sums_ok && twos > 2000 * 55 / 100 &&
                      twos < 2000 * 64 / 100,
                  "... and rows summing two rows drawn (for twin pools): the draws unchanged, "
                  "each sum that of its two rows (%d of 2000 both kept: 0.49 of one pair, "
                  "0.7 of a row with itself)", twos);
            free(s);
        }
        free(m);
        free(m2);
    }
    free(images);
    free(x);
    free(x2);
}

/* ---- the GPU's depthwise arithmetic (kernels/conv_math.h) ----
 *
 * dwconv.cu runs conv_math.h's functions one thread per value; here the
 * same functions run over every index, as the kernels divide the work
 * (the filter gradient in dw_filter_splits parts, added in order), and
 * must give what the CPU backend's convolutions give.  A GPU repeats this
 * on the kernels themselves (test_cuda). */
#define DW_THREADS 256   /* K_THREADS of kernels/common.cuh */

/* One convolution on the CPU backend, to hold a kernel's arithmetic to:
 * random x and dy (slices where asked), weights, and the CPU's y (made
 * dense), dx and dw; the kernel's results go in yk, dxk, dwk. */
typedef struct conv_case {
    const char *name;
    conv_desc d;
    int n, h, w, ho, wo;
    long nw, hw, howo;
    tview x, y, dy, dx;
    float *wt, *yc, *dwc;
    float *yk, *dxk, *dwk;
    int ready;   /* the CPU's results are there */
} conv_case;

static int conv_case_new(conv_case *k, const char *name, conv_desc d, int n, int h, int w,
                         int xslice, int yslice)
{
    memset(k, 0, sizeof *k);
    k->name = name;
    k->d = d;
    k->n = n;
    k->h = h;
    k->w = w;
    k->ho = conv_out_h(&d, h);
    k->wo = conv_out_w(&d, w);
    k->nw = conv_weight_count(&d);
    k->hw = (long)h * w;
    k->howo = (long)k->ho * k->wo;
    k->x = tv_new(n, d.cin, h, w, xslice);
    k->y = tv_new(n, d.cout, k->ho, k->wo, yslice);
    k->dy = tv_new(n, d.cout, k->ho, k->wo, yslice);
    k->dx = tv_new(n, d.cin, h, w, 0);
    k->wt = malloc((size_t)k->nw * 4);
    k->dwc = malloc((size_t)k->nw * 4);
    k->dwk = calloc((size_t)k->nw, 4);
    k->yc = malloc((size_t)tv_len(k->y) * 4);
    k->yk = malloc((size_t)tv_len(k->y) * 4);
    k->dxk = malloc((size_t)tv_len(k->dx) * 4);
    fill_away(k->x);
    fill_away(k->dy);
    fill_buf(k->wt, k->nw, 0.5f);
    if (be->conv_prepare(be, &d, n, h, w, NULL) != CL_OK)
        return CHECK(0, "%s: scratch reserved", name);
    be->conv_fwd(be, &d, k->x, k->wt, k->y, 0);
    be->conv_bwd_data(be, &d, k->x, k->wt, k->dy, k->dx, 0);
    be->conv_bwd_filter(be, &d, k->x, k->dy, k->dwc);
    for (long i = 0; i < tv_len(k->y); i++)
        k->yc[i] = *tv_at(k->y, i);
    return k->ready = 1;
}

/* the kernel's results against the CPU's, and free the case */
static void conv_case_end(conv_case *k, int parts)
{
    long ny = tv_len(k->y), nx = tv_len(k->dx);
    if (k->ready) {
        CHECK(check_rel_err(k->yk, k->yc, ny) < 1e-5, "%s: forward as the CPU's (%.1g)", k->name,
              check_rel_err(k->yk, k->yc, ny));
        CHECK(check_rel_err(k->dxk, k->dx.d, nx) < 1e-5, "%s: data gradient as the CPU's (%.1g)",
              k->name, check_rel_err(k->dxk, k->dx.d, nx));
        CHECK(check_rel_err(k->dwk, k->dwc, k->nw) < 1e-4,
              "%s: filter gradient in %d parts as the CPU's (%.1g)", k->name, parts,
              check_rel_err(k->dwk, k->dwc, k->nw));
    }
    free(k->x.d);
    free(k->y.d);
    free(k->dy.d);
    free(k->dx.d);
    free(k->wt);
    free(k->yc);
    free(k->dwc);
    free(k->yk);
    free(k->dxk);
    free(k->dwk);
}

/* dwk = the sum over q < parts of part[q][...], in order (k_parts_sum's
 * order differs past 16 parts; the comparison's tolerance covers it) */
static void add_parts(conv_case *k, const float *part, int parts)
{
    for (long t = 0; t < k->nw; t++)
        for (int q = 0; q < parts; q++)
            k->dwk[t] += part[(long)q * k->nw + t];
}

static void test_dw_math(const char *name, conv_desc d, int n, int h, int w, int xslice,
                         int yslice, int sms)
{
    conv_case c;
    int k = d.kh, parts;
    float *part;

    CHECK(dw_handles(&d), "%s: a shape the depthwise kernels take", name);
    if (!conv_case_new(&c, name, d, n, h, w, xslice, yslice)) {
        conv_case_end(&c, 0);
        return;
    }
    /* forward and data gradient: one value per "thread" */
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < d.cin; ch++) {
            const float *xp = c.x.d + i * c.x.ns + ch * c.hw, *gp = c.dy.d + i * c.dy.ns + ch * c.howo;
            const float *wc = c.wt + ch * k * k;
            for (int oy = 0; oy < c.ho; oy++)
                for (int ox = 0; ox < c.wo; ox++)
                    c.yk[((long)i * d.cout + ch) * c.howo + oy * c.wo + ox] =
                        dw_fwd_at(xp, wc, h, w, k, d.sh, d.ph, d.dh, d.relu_in, oy, ox);
            for (int iy = 0; iy < h; iy++)
                for (int ix = 0; ix < w; ix++) {
                    float v = dw_data_at(gp, wc, c.ho, c.wo, k, d.sh, d.ph, d.dh, iy, ix);
                    c.dxk[((long)i * d.cin + ch) * c.hw + iy * w + ix] =
                        d.relu_in && !(xp[iy * w + ix] > 0.f) ? 0.f : v;
                }
        }

    /* filter gradient: parts of the batch, each summed by a block of
     * DW_THREADS threads (thread t takes positions t, t + DW_THREADS, ...;
     * then each warp's 32 sums are added as the shuffles add them, then
     * the warps in order), then the parts added in order */
    parts = dw_filter_splits(d.cin, n, sms);
    part = calloc((size_t)parts * c.nw, 4);
    for (int q = 0; q < parts; q++) {
        int n0 = (int)((long)n * q / parts), n1 = (int)((long)n * (q + 1) / parts);
        int count = (n1 - n0) * (int)c.howo;
        for (int ch = 0; ch < d.cin; ch++) {
            static float acc[DW_THREADS][49];
            float *out = part + ((long)q * d.cin + ch) * k * k;
            memset(acc, 0, sizeof acc);
            for (int j = 0; j < count; j++) {
                int i = n0 + j / (int)c.howo, r = j % (int)c.howo;
                dw_filter_add(c.x.d + i * c.x.ns + ch * c.hw, h, w, k, d.sh, d.ph, d.dh,
                              d.relu_in, r / c.wo, r % c.wo, c.dy.d[i * c.dy.ns + ch * c.howo + r],
                              acc[j % DW_THREADS]);
            }
            for (int t = 0; t < k * k; t++) {
                float v = 0.f;
                for (int wp = 0; wp < DW_THREADS / 32; wp++) {
                    float lane[32];
                    for (int l = 0; l < 32; l++)
                        lane[l] = acc[wp * 32 + l][t];
                    for (int o = 16; o > 0; o >>= 1)
                        for (int l = 0; l < o; l++)
                            lane[l] += lane[l + o];
                    v += lane[0];
                }
                out[t] = v;
            }
        }
    }
    add_parts(&c, part, parts);
    free(part);
    conv_case_end(&c, parts);
}

/* The pointwise kernels' arithmetic (conv_math.h's pixel maps, each sum
 * in the kernels' order: over the other side's channels in order; the
 * filter gradient over each part's chunks slice by slice, then the parts)
 * held to the CPU backend. */
static void test_pw_math(const char *name, conv_desc d, int n, int h, int w, int xslice,
                         int yslice, int sms)
{
    conv_case c;
    int parts;
    long total;
    float *part;

    CHECK(pw_handles(&d), "%s: a shape the pointwise kernels take", name);
    if (!conv_case_new(&c, name, d, n, h, w, xslice, yslice)) {
        conv_case_end(&c, 0);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *xi = c.x.d + i * c.x.ns, *gi = c.dy.d + i * c.dy.ns;
        for (int co = 0; co < d.cout; co++)
            for (int p = 0; p < c.howo; p++) {
                int src = pw_src(p, c.wo, w, d.sh, d.oy, d.ox);
                float a = 0.f;
                for (int ci = 0; ci < d.cin; ci++) {
                    float v = xi[ci * c.hw + src];
                    a += c.wt[(long)co * d.cin + ci] * (d.relu_in && !(v > 0.f) ? 0.f : v);
                }
                c.yk[((long)i * d.cout + co) * c.howo + p] = a;
            }
        for (int ci = 0; ci < d.cin; ci++)
            for (int q = 0; q < c.hw; q++) {
                int dst = pw_dst(q / w, q % w, c.ho, c.wo, d.sh, d.oy, d.ox);
                float a = 0.f;
                if (dst >= 0)
                    for (int co = 0; co < d.cout; co++)
                        a += c.wt[(long)co * d.cin + ci] * gi[co * c.howo + dst];
                c.dxk[((long)i * d.cin + ci) * c.hw + q] =
                    d.relu_in && !(xi[ci * c.hw + q] > 0.f) ? 0.f : a;
            }
    }

    total = (long)n * c.howo;
    parts = pw_filter_parts(d.cout, d.cin, total, sms);
    part = calloc((size_t)parts * c.nw, 4);
    for (int q = 0; q < parts; q++) {
        long t0 = total * q / parts, t1 = total * (q + 1) / parts;
        for (int co = 0; co < d.cout; co++)
            for (int ci = 0; ci < d.cin; ci++) {
                float a = 0.f;
                /* slice g of every chunk of PW_FK pixels, then slice g + 1 */
                for (int g = 0; g < PW_FG; g++) {
                    float b = 0.f;
                    for (long c0 = t0; c0 < t1; c0 += PW_FK)
                        for (long t = c0 + g * (PW_FK / PW_FG);
                             t < c0 + (g + 1) * (PW_FK / PW_FG) && t < t1; t++) {
                            int i = (int)(t / c.howo), p = (int)(t % c.howo);
                            float v = c.x.d[i * c.x.ns + ci * c.hw +
                                            pw_src(p, c.wo, w, d.sh, d.oy, d.ox)];
                            b += c.dy.d[i * c.dy.ns + co * c.howo + p] *
                                 (d.relu_in && !(v > 0.f) ? 0.f : v);
                        }
                    a = g ? a + b : b;
                }
                part[((long)q * d.cout + co) * d.cin + ci] = a;
            }
    }
    add_parts(&c, part, parts);
    free(part);
    conv_case_end(&c, parts);
}

static void test_pw_maths(void)
{
    conv_desc d = cdesc(8, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(pw_handles(&d), "a 1x1 convolution goes to the pointwise kernels");
    d.groups = 2;
    CHECK(!pw_handles(&d), "a grouped one does not");
    d = cdesc(8, 4, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    CHECK(!pw_handles(&d), "nor a padded one");
    CHECK(pw_group(1) == 16 && pw_group(16) == 16 && pw_group(17) == PW_CH && pw_group(80) == PW_CH,
          "pointwise forward and data-gradient threads keep 16 sums for 16 channels or fewer, "
          "else PW_CH");
    CHECK(pw_filter_tile(16, 16) == 16 && pw_filter_tile(16, 17) == 32 &&
              pw_filter_tile(33, 8) == 32,
          "pointwise filter-gradient tiles: 16 x 16 for 16 channels or fewer each side, else 32");
    CHECK(pw_filter_parts(32, 16, 131072, 132) == 256 && pw_filter_parts(64, 64, 8192, 132) == 16 &&
              pw_filter_parts(16, 16, 131072, 132) == 1024 &&
              pw_filter_parts(16, 16, 100, 132) == 1 && pw_filter_parts(32, 32, 300, 132) == 1,
          "pointwise filter-gradient parts: about four 256-thread blocks per multiprocessor, "
          "512 pixels each at least (128 for 16 x 16 tiles)");
    test_pw_math("pw kernels relu, slices", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1), 3, 4, 5, 1, 3,
                 132);
    test_pw_math("pw kernels 70->40 relu, 9x7", cdesc(70, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1), 6, 9,
                 7, 0, 2, 1);
    test_pw_math("pw kernels 70->40 relu, 16x15", cdesc(70, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1), 9, 16,
                 15, 2, 0, 132);
    d = cdesc(24, 33, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    d.oy = d.ox = 1;
    test_pw_math("pw kernels 24->33 stride 2 relu shifted, 33x31", d, 6, 33, 31, 0, 0, 132);
    d = cdesc(6, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    test_pw_math("pw kernels stride 2 relu (factorized reduce, even grid)", d, 4, 8, 8, 0, 3, 2);
    d.oy = d.ox = 1;
    test_pw_math("pw kernels stride 2 relu shifted (factorized reduce, odd grid)", d, 4, 7, 9, 1,
                 0, 2);
    d.relu_in = 0;
    test_pw_math("pw kernels stride 2 shifted, no relu", d, 3, 8, 8, 0, 1, 2);
    test_pw_math("pw kernels 16->16 at 32x32", cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 0), 8, 32,
                 32, 0, 0, 132);
}

static void test_dw_maths(void)
{
    conv_desc d = cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 0);
    /* the shapes the kernels take, and those they leave to cuDNN */
    CHECK(dw_handles(&d), "depthwise 3x3 goes to the own kernels");
    d.kh = d.kw = 1;
    CHECK(!dw_handles(&d), "a 1x1 depthwise does not");
    d = cdesc(4, 8, 3, 3, 1, 1, 1, 1, 1, 4, 0);
    CHECK(!dw_handles(&d), "a channel multiplier of 2 does not");
    d = cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0);
    CHECK(!dw_handles(&d), "a dense convolution does not");
    d = cdesc(4, 4, 3, 3, 2, 1, 1, 1, 1, 4, 0);
    CHECK(!dw_handles(&d), "unequal strides do not");
    d = cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 0);
    d.oy = 1;
    CHECK(!dw_handles(&d), "a shifted origin does not");
    CHECK(dw_filter_splits(16, 128, 132) == 17 && dw_filter_splits(64, 128, 132) == 5 &&
              dw_filter_splits(16, 4, 132) == 4 && dw_filter_splits(512, 128, 132) == 1 &&
              dw_filter_splits(16, 128, 0) == 1,
          "filter-gradient parts: about two blocks per multiprocessor, at most one per image");

    test_dw_math("dw kernels 3x3 relu, slice in", cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 1), 5, 6, 6,
                 2, 0, 8);
    test_dw_math("dw kernels 5x5 stride 2 relu, slice out", cdesc(3, 3, 5, 5, 2, 2, 2, 2, 1, 3, 1),
                 4, 8, 8, 0, 1, 4);
    test_dw_math("dw kernels 7x7, 9x9", cdesc(2, 2, 7, 7, 1, 1, 3, 3, 1, 2, 0), 3, 9, 9, 0, 0, 132);
    test_dw_math("dw kernels 7x7 stride 2 relu, 11x13", cdesc(5, 5, 7, 7, 2, 2, 3, 3, 1, 5, 1), 3,
                 11, 13, 1, 1, 2);
    test_dw_math("dw kernels 3x3 dilation 2 stride 2 relu",
                 cdesc(3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 1), 2, 8, 8, 0, 0, 1);
    test_dw_math("dw kernels 5x5 dilation 2, 21x20", cdesc(3, 3, 5, 5, 1, 1, 4, 4, 2, 3, 0), 2, 21,
                 20, 0, 2, 3);
    test_dw_math("dw kernels 3x3 stride 2, 16 channels at 32x32",
                 cdesc(16, 16, 3, 3, 2, 2, 1, 1, 1, 16, 1), 8, 32, 32, 0, 0, 132);
    test_dw_math("dw kernels 3x3 without padding", cdesc(2, 2, 3, 3, 1, 1, 0, 0, 1, 2, 1), 2, 7, 6,
                 0, 0, 2);
}

/* kernels/fastdiv.h against the division: every divisor up to 4096 and
 * the powers of two and their neighbours up to 2^31 - 1, each with the
 * numerators where a quotient changes (q*d - 1, q*d) across the range,
 * the ends, and random ones */
static void test_fastdiv(void)
{
    long checked = 0, wrong = 0;
    int bad_d = 0, bad_n = 0;
    for (int k = 0; k < 4096 + 31 * 3; k++) {
        int d = k < 4096 ? k + 1 : (int)((1u << ((k - 4096) / 3 + 1)) - 1 + (k - 4096) % 3);
        k_div f;
        if (d < 1)
            continue;
        f = k_div_make(d);
        for (int j = 0; j < 64; j++) {
            /* quotients spread over [0, (2^31 - 1) / d] */
            long q = (long)(2147483647 / d) * j / 63;
            long cand[4] = {q * d - 1, q * d, q * d + d - 1, (long)(rng_u64(&rng) >> 33)};
            for (int i = 0; i < 4; i++) {
                int n = (int)cand[i];
                if (cand[i] < 0 || cand[i] > 2147483647L)
                    continue;
                checked++;
                if (k_div_q(f, n) != n / d) {
                    if (!wrong++) {
                        bad_d = d;
                        bad_n = n;
                    }
                }
            }
        }
        checked++;
        if (k_div_q(f, 2147483647) != 2147483647 / d && !wrong++) {
            bad_d = d;
            bad_n = 2147483647;
        }
    }
    CHECK(k_div_q(k_div_make(0), 0) == 0 && k_div_q(k_div_make(-3), 7) == 7,
          "a fast divider made for an empty tensor's 0 divides as by 1");
    CHECK(wrong == 0, "the kernels' fast division agrees with n / d in %ld cases (%ld wrong%s)",
          checked, wrong, wrong ? ", first shown below" : "");
    if (wrong)
        printf("# %d / %d: %d, fast division %d\n", bad_n, bad_d, bad_n / bad_d,
               k_div_q(k_div_make(bad_d), bad_n));
}

int main(void)
{
    cl_err err = {0};
    rng_seed(&rng, 12345);
    test_fastdiv();
    if (backend_cpu_create(2, &be, &err)) {
        printf("not ok - CPU backend: %s\n", err.msg);
        return 1;
    }
    test_convs();
    test_dw_maths();
    test_pw_maths();
    test_bn("batch norm (train)", 3, 3, 4, 5, 0);
    test_bn("batch norm with drop-path scale", 3, 2, 3, 3, 1);
    test_bn_stats();
    test_bn_second_output();
    test_pool("max pool 3x3", POOL_MAX, 3, 1, 2, 2, 5, 6, 0);
    test_pool("max pool 5x5 stride 2 with drop-path scale", POOL_MAX, 5, 2, 2, 2, 8, 8, 1);
    test_pool("max pool 7x7", POOL_MAX, 7, 1, 1, 2, 6, 6, 0);
    test_pool("avg pool 3x3", POOL_AVG, 3, 1, 2, 2, 5, 5, 0);
    test_pool("avg pool 3x3 stride 2 with drop-path scale", POOL_AVG, 3, 2, 2, 3, 7, 8, 1);
    test_pool("max pool 3x3 stride 2, 33x20", POOL_MAX, 3, 2, 2, 2, 33, 20, 0);
    test_pool("avg pool 3x3, 18x35 with drop-path scale", POOL_AVG, 3, 1, 2, 2, 18, 35, 1);
    test_pool("max pool 7x7 stride 2, 20x32", POOL_MAX, 7, 2, 2, 1, 20, 32, 0);
    test_pool("avg pool 5x5, 17x17", POOL_AVG, 5, 1, 1, 2, 17, 17, 0);
    {
        /* a window larger than the padding allows the scalar path */
        pool_desc odd = {POOL_AVG, 3, 1, 0};
        optest t;
        memset(&t, 0, sizeof t);
        t.pool = odd;
        t.x = tv_new(2, 2, 6, 7, 0);
        t.y = tv_new(2, 2, pool_out(&odd, 6), pool_out(&odd, 7), 0);
        t.fwd = pool_f;
        t.bwd = pool_b;
        fill_distinct(t.x);
        gradcheck(&t, "avg pool 3x3 without padding (scalar path)", 1e-3f);
        free(t.x.d);
        free(t.y.d);
    }
    test_pool_values();
    test_small_ops();
    test_batches();
    test_param_counts();
    test_eval_independent_of_batch();
    if (getenv("GENO")) {
        test_network_grad(getenv("GENO"), 0, 1);
        return check_done();
    }
    test_network_grad(ALL_OPS, 0, 100);
    test_network_grad(ALL_OPS, 1, 100);
    test_dead_inputs();
    test_identity_fold();
    test_twin_pools();
    backend_destroy(be);
    return check_done();
}
