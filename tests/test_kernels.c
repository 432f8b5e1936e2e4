/* test_kernels.c - the CUDA kernels of kernels/ run on the CPU (tests/kemu:
 * the same source files compiled as C++ against a CPU stand-in for the
 * CUDA runtime) and held to their CPU twins, the CPU backend's ops.
 *
 * What this checks: each kernel's indexing, its division of the work into
 * blocks and threads, its shared memory, barriers and warp shuffles, and
 * its launcher's grid, on every machine; and, through a backend made of
 * these kernels (kemu/kemu_backend.c), a few queued training steps of two
 * networks, which must end with the CPU engine's parameters.  What it cannot: the GPU's own
 * behaviour (memory model, timing, the real runtime), which test_cuda
 * checks where there is a GPU.  Host memory stands for device memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cdesc.h"
#include "check.h"
#include "testds.h"
#include "core/rng.h"
#include "kernels/conv_math.h"
#include "kernels/kernels.h"
#include "kemu_backend.h"
#include "kemu_selftest.h"
#include "child/child.h"
#include "child/train.h"
#include "data/dataset.h"
#include "space/genotype.h"

#define TOL 1e-5
#define SMS 132   /* the multiprocessors of an H100 or H200: how sums are split there */

static cl_backend *cpu;
static cl_rng rng;

/* ---- tensors ---- */

static tview tv_new(int n, int c, int h, int w, int pad_c)
{
    tview t = {NULL, n, c, h, w, (long)(c + pad_c) * h * w};
    t.d = malloc((size_t)n * t.ns * sizeof *t.d + sizeof *t.d);
    for (long i = 0; i < (long)n * t.ns; i++)
        t.d[i] = 2.f * rng_uniform(&rng) - 1.f;
    return t;
}

static long tv_len(tview t) { return (long)t.n * t.c * t.h * t.w; }

/* t's values, dense, in n,c,h,w order */
static float *tv_dense(tview t)
{
    long per = (long)t.c * t.h * t.w;
    float *o = malloc((size_t)tv_len(t) * sizeof *o + sizeof *o);
    for (int i = 0; i < t.n; i++)
        memcpy(o + i * per, t.d + i * t.ns, (size_t)per * sizeof *o);
    return o;
}

static const tview NOV;   /* an optional view not given */

static tview tv_clone(tview t)
{
    tview c = t;
    c.d = malloc((size_t)t.n * t.ns * sizeof *t.d + sizeof *t.d);
    memcpy(c.d, t.d, (size_t)t.n * t.ns * sizeof *t.d);
    return c;
}

static float *rand_buf(long n, float scale)
{
    float *p = malloc((size_t)n * sizeof *p + sizeof *p);
    for (long i = 0; i < n; i++)
        p[i] = scale * (2.f * rng_uniform(&rng) - 1.f);
    return p;
}

/* the kernel's view against the CPU's, over the c*h*w values of each
 * image; the rest of each image's stride (another slice's channels),
 * which both started with the same values, must be untouched alike */
static int same_view(const char *what, tview got, tview want, double tol)
{
    float *a = tv_dense(got), *b = tv_dense(want);
    long per = (long)want.c * want.h * want.w, pad = 0;
    double e = check_rel_err(a, b, tv_len(want));
    int ok;
    for (int i = 0; i < want.n; i++)
        for (long j = per; j < want.ns; j++)
            pad += got.d[i * got.ns + j] != want.d[i * want.ns + j];
    ok = CHECK(e < tol && !pad, "%s (relative error %.2g; %ld values outside the view changed)",
               what, e, pad);
    free(a);
    free(b);
    return ok;
}

static int same_buf(const char *what, const float *got, const float *want, long n, double tol)
{
    double e = check_rel_err(got, want, n);
    return CHECK(e < tol, "%s (relative error %.2g)", what, e);
}

static int launched(const char *what, cudaError_t e)
{
    cudaError_t last = cudaGetLastError();
    if (e == cudaSuccess && last == cudaSuccess)
        return 1;
    return CHECK(0, "%s: launch refused: %s", what,
                 cudaGetErrorString(e != cudaSuccess ? e : last));
}

/* the operation `back` before the stand-in's last was kernel `name`
 * (any instance of its template: "sep_fwd_k<" ...) */
static void ran_kernel(const char *what, int back, const char *name)
{
    const char *op = kemu_recent_op(back);
    CHECK(!strncmp(op, name, strlen(name)), "%s: ran %s", what, op);
}

/* ---- filter gradients' sums left for later ---- */

static void nan_fill(float *p, long n)
{
    for (long i = 0; i < n; i++)
        p[i] = NAN;
}

/* A filter-gradient launch given a k_psum (e its status), into out
 * filled with NaN: with parts it must leave out alone and describe the
 * sum, which k_parts_sum_set must then add to the bits of `now` (the same
 * launch summing at once); with one part it writes out itself. */
static void later_sum(const char *what, cudaError_t e, const k_psum *later, float *out,
                      const float *now, long count, int parts)
{
    long untouched = 0;
    k_psum_set set = {0};
    if (!launched(what, e))
        return;
    for (long i = 0; i < count; i++)
        untouched += isnan(out[i]);
    if (parts <= 1) {
        CHECK(later->count == 0 && !memcmp(out, now, (size_t)count * sizeof *out),
              "%s: one part, written at once (%ld left to add)", what, later->count);
        return;
    }
    if (!CHECK(later->count == count && later->parts == parts && untouched == count,
               "%s: the sum left for later (%ld of %ld values, %d parts; %ld of the gradient "
               "untouched)",
               what, later->count, count, later->parts, untouched))
        return;
    set.n = 1;
    set.e[0] = *later;
    if (launched(what, k_parts_sum_set(NULL, &set)))
        CHECK(!memcmp(out, now, (size_t)count * sizeof *out),
              "%s: added by k_parts_sum_set, the same bits as at once", what);
}

/* ---- batch-norm statistics taken by a convolution's kernel ---- */

/* a batch norm's scale and shift for c channels, [scale][shift] as
 * k_bn_affine_parts writes them: scales of either sign, so that ReLU
 * after them clips */
static float *rand_ab(int c)
{
    float *ab = rand_buf(2 * c, 0.5f);
    for (int i = 0; i < c; i++)
        ab[i] += ab[i] < 0.f ? -0.75f : 0.75f;
    return ab;
}

/* x through the batch norm of scale and shift ab (channel by channel,
 * fmaf(a, x, b) as the kernels apply it; another slice's channels left):
 * what a kernel given x and ab must see */
static tview bn_through(tview x, const float *ab)
{
    tview u = tv_clone(x);
    long hw = (long)x.h * x.w;
    for (int i = 0; i < x.n; i++)
        for (int c = 0; c < x.c; c++)
            for (long k = 0; k < hw; k++) {
                float *v = u.d + i * x.ns + c * hw + k;
                *v = fmaf(ab[c], *v, ab[x.c + c]);
            }
    return u;
}

/* A batch norm's data gradient from its output's, dy, its input x and
 * the factors f (k_bn_bwd_factors' 4 a channel), as a kernel given them
 * makes it: f0 (s dy - f1 - (x - f2) f3), s = sscale[image] (NULL: 1),
 * into a view of dy's shape (x's other channels copied) */
static tview bn_back(tview x, tview dy, const float *f, const float *sscale)
{
    tview o = tv_clone(x);
    long hw = (long)x.h * x.w;
    for (int i = 0; i < x.n; i++)
        for (int c = 0; c < x.c; c++)
            for (long k = 0; k < hw; k++) {
                const float *q = f + 4 * c;
                float g = dy.d[i * dy.ns + c * hw + k], b = x.d[i * x.ns + c * hw + k];
                float s = sscale ? sscale[i] : 1.f;
                o.d[i * o.ns + c * hw + k] = q[0] * (s * g - q[1] - (b - q[2]) * q[3]);
            }
    return o;
}

/* x through the scale and shift ab against want, value by value (their
 * other channels apart) */
static void same_through(const char *what, tview x, const float *ab, tview want)
{
    tview u = bn_through(x, ab);
    float *a = tv_dense(u), *b = tv_dense(want);
    same_buf(what, a, b, tv_len(want), TOL);
    free(u.d);
    free(a);
    free(b);
}

/* The batch-norm statistics st (parts partial sums, as k_sep_fwd and
 * k_pw_fwd_stats give them) a kernel took of yk, what it wrote, against
 * the CPU's sums of y (the same values as the CPU computed them); then
 * k_bn_fwd_train_parts from them against the CPU's batch norm of y: once
 * into a fresh output in one range a channel, once added into one under
 * drop-path scales (some images dropped) in 3 ranges, then also into a
 * second output (an identity op folded in: added to) */
static void check_stats(const char *name, int parts, const double *st, tview y, tview yk)
{
    int c = y.c, bad = 0;
    tview z = tv_new(y.n, c, y.h, y.w, 1), zk = tv_clone(z);
    tview z2 = tv_new(y.n, c, y.h, y.w, 2), z2k = tv_clone(z2);
    double *want = calloc((size_t)c * 3, sizeof *want), worst = 0.0;
    /* gamma, beta, run mean, run var, save mean, save rstd; twice */
    float *pc = rand_buf(6L * c, 1.f), *pk = malloc((size_t)6 * c * 4);
    float *sc = rand_buf(y.n, 1.f);
    bn_desc bd = {1e-5f, 0.1f};
    char what[200];

    /* want[3c..]: the CPU's sum, sum of squares, sum of magnitudes */
    for (int i = 0; i < y.n; i++)
        for (int ch = 0; ch < c; ch++)
            for (long j = 0; j < (long)y.h * y.w; j++) {
                double v = y.d[i * y.ns + (long)ch * y.h * y.w + j];
                want[ch * 3] += v;
                want[ch * 3 + 1] += v * v;
                want[ch * 3 + 2] += fabs(v);
            }
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0, q = 0.0, es, eq;
        for (int p = 0; p < parts; p++) {
            s += st[((long)p * c + ch) * 2];
            q += st[((long)p * c + ch) * 2 + 1];
        }
        es = fabs(s - want[ch * 3]) / (want[ch * 3 + 2] + 1e-30);
        eq = fabs(q - want[ch * 3 + 1]) / (want[ch * 3 + 1] + 1e-30);
        bad += !(es < 1e-5) || !(eq < 1e-5);   /* NaN: a part never written */
        worst = es > worst ? es : worst;
        worst = eq > worst ? eq : worst;
    }
    CHECK(!bad, "%s: each channel's sum and sum of squares in %d parts (%d channels wrong; "
          "worst relative error %.2g)", name, parts, bad, worst);
    for (int i = 0; i < c; i++)
        pc[3 * c + i] = 0.5f + fabsf(pc[3 * c + i]);   /* running variance > 0 */
    for (int i = 0; i < y.n; i += 2)
        sc[i] = 0.f;
    memcpy(pk, pc, (size_t)6 * c * 4);
    for (int acc = 0; acc < 2; acc++) {
        int ranges = acc ? 3 : 1;
        const float *scale = acc ? sc : NULL;
        snprintf(what, sizeof what, "%s: batch norm from the statistics, %d ranges, acc %d%s",
                 name, ranges, acc, acc ? ", y2 added to" : "");
        cpu->bn_fwd_train(cpu, &bd, y, pc, pc + c, pc + 4 * c, pc + 5 * c, pc + 2 * c, pc + 3 * c,
                          z, acc, scale, acc ? z2 : NOV, 1);
        if (launched(what, k_bn_fwd_train_parts(NULL, bd.eps, bd.momentum, yk, pk, pk + c,
                                                pk + 4 * c, pk + 5 * c, pk + 2 * c, pk + 3 * c,
                                                zk, acc, scale, acc ? z2k : NOV, 1, parts, st,
                                                ranges))) {
            same_view(what, zk, z, TOL);
            if (acc)
                same_view(what, z2k, z2, TOL);
            snprintf(what, sizeof what, "%s: saved and running statistics, step %d", name,
                     acc + 1);
            same_buf(what, pk + 2 * c, pc + 2 * c, 4L * c, TOL);
            CHECK(!strcmp(kemu_recent_op(0), "bn_norm_parts_k"), "%s: ran %s", what,
                  kemu_recent_op(0));
        }
    }
    {   /* a third step, the scale and shift alone (k_bn_affine_parts): y
         * through them is the CPU's batch norm of y; then from the running
         * statistics (k_bn_affine_eval), the CPU's evaluation */
        float *ab = malloc((size_t)2 * c * sizeof *ab);
        snprintf(what, sizeof what, "%s: a batch norm's scale and shift from the statistics",
                 name);
        cpu->bn_fwd_train(cpu, &bd, y, pc, pc + c, pc + 4 * c, pc + 5 * c, pc + 2 * c, pc + 3 * c,
                          z, 0, NULL, NOV, 0);
        if (launched(what, k_bn_affine_parts(NULL, bd.eps, bd.momentum, yk, pk, pk + c, pk + 4 * c,
                                             pk + 5 * c, pk + 2 * c, pk + 3 * c, parts, st,
                                             ab))) {
            same_through(what, yk, ab, z);
            snprintf(what, sizeof what, "%s: saved and running statistics beside them", name);
            same_buf(what, pk + 2 * c, pc + 2 * c, 4L * c, TOL);
        }
        snprintf(what, sizeof what, "%s: and from the running statistics, for evaluation", name);
        cpu->bn_fwd_eval(cpu, &bd, y, pc, pc + c, pc + 2 * c, pc + 3 * c, z, 0, NOV, 0);
        if (launched(what, k_bn_affine_eval(NULL, bd.eps, c, pk, pk + c, pk + 2 * c, pk + 3 * c,
                                            ab))) {
            same_through(what, yk, ab, z);
        }
        free(ab);
    }
    free(z.d);
    free(zk.d);
    free(z2.d);
    free(z2k.d);
    free(want);
    free(pc);
    free(pk);
    free(sc);
}

/* a batch-norm statistics buffer of `parts` partial sums of c channels,
 * NaN: every entry must be written */
static double *stats_buf(int parts, int c)
{
    double *st = malloc((size_t)(parts > 0 ? parts : 1) * c * 2 * sizeof *st);
    for (long i = 0; i < (long)parts * c * 2; i++)
        st[i] = NAN;
    return st;
}

/* ---- convolutions (depthwise and pointwise) ---- */

/* the kernel launched `back` launches before the last was a tiled
 * depthwise one (dw_tile_k, dw_filter_tile_k) */
static int tile_ran(int back)
{
    const char *op = kemu_recent_op(back);
    return !strncmp(op, "dw_", 3) && strstr(op, "tile_k<") != NULL;
}

/* tile: 1 when the tiled depthwise kernels take the shape (forward, both
 * gradients), 0 when it is too wide for them */
static void test_conv(const char *name, conv_desc d, int n, int h, int w, int xpad, int ypad,
                      int sms, int tile)
{
    int ho = conv_out_h(&d, h), wo = conv_out_w(&d, w), dw = dw_handles(&d), parts;
    long nw = conv_weight_count(&d);
    tview x = tv_new(n, d.cin, h, w, xpad), y = tv_new(n, d.cout, ho, wo, ypad);
    tview dy = tv_new(n, d.cout, ho, wo, ypad), dx = tv_new(n, d.cin, h, w, xpad ? 0 : 1);
    tview yk = tv_clone(y), dxk = tv_clone(dx);
    float *wt = rand_buf(nw, 0.5f), *dwc = malloc((size_t)nw * 4), *dwk = rand_buf(nw, 9.f);
    float *part, *dwl;
    k_psum later;
    size_t part_n;
    char what[200];
    cl_err err = {0};

    CHECK(dw || pw_handles(&d), "%s: a shape the own kernels take", name);
    if (cpu->conv_prepare(cpu, &d, n, h, w, &err)) {
        CHECK(0, "%s: CPU prepared: %s", name, err.msg);
        nw = 0;   /* nothing to compare; free below */
    }
    /* depthwise: tiled (t = 1) and one thread per value (t = 0) */
    for (int t = dw; nw && t >= 0; t--)
        for (int acc = 0; acc < 2; acc++) {
            const char *how = !dw ? "" : t ? " (tiled)" : " (simple)";
            snprintf(what, sizeof what, "%s: forward%s, acc %d", name, how, acc);
            cpu->conv_fwd(cpu, &d, x, wt, y, acc);
            if (launched(what, dw ? k_dw_fwd(NULL, &d, x, wt, yk, acc, t)
                                  : k_pw_fwd(NULL, &d, x, wt, yk, acc)))
                same_view(what, yk, y, TOL);
            if (dw && acc == 0)
                CHECK(tile_ran(0) == (t && tile), "%s: forward%s ran %s", name, how,
                      kemu_recent_op(0));
            snprintf(what, sizeof what, "%s: data gradient%s, acc %d", name, how, acc);
            cpu->conv_bwd_data(cpu, &d, x, wt, dy, dx, acc);
            if (launched(what, dw ? k_dw_bwd_data(NULL, &d, x, wt, dy, dxk, acc, t)
                                  : k_pw_bwd_data(NULL, &d, x, wt, dy, dxk, acc)))
                same_view(what, dxk, dx, TOL);
            if (dw && acc == 0)
                CHECK(tile_ran(0) == (t && tile), "%s: data gradient%s ran %s", name, how,
                      kemu_recent_op(0));
        }
    if (!dw && nw) {   /* the forward with y's batch-norm statistics */
        int sp = k_pw_stats_parts(&d, n, h, w);
        double *st = stats_buf(sp, d.cout);
        snprintf(what, sizeof what, "%s: forward with statistics", name);
        cpu->conv_fwd(cpu, &d, x, wt, y, 0);
        if (CHECK(sp > 0, "%s (%d parts)", what, sp) &&
            launched(what, k_pw_fwd_stats(NULL, &d, x, wt, yk, st))) {
            same_view(what, yk, y, TOL);
            check_stats(name, sp, st, y, yk);
        }
        free(st);
    }
    parts = dw ? dw_filter_splits(d.cin, n, sms)
               : pw_filter_parts(d.cout, d.cin, (long)n * ho * wo, sms);
    part_n = (size_t)parts * nw;
    part = rand_buf((long)part_n, 7.f); /* garbage: every entry must be written */
    dwl = rand_buf(nw, 9.f);
    if (nw)
        cpu->conv_bwd_filter(cpu, &d, x, dy, dwc);
    for (int t = dw; nw && t >= 0; t--) {
        const char *how = !dw ? "" : t ? " (tiled)" : " (simple)";
        snprintf(what, sizeof what, "%s: filter gradient in %d parts%s", name, parts, how);
        if (launched(what, dw ? k_dw_bwd_filter(NULL, &d, x, dy, parts, part, dwk, t, NULL)
                              : k_pw_bwd_filter(NULL, &d, x, dy, parts, part, dwk, NULL)))
            same_buf(what, dwk, dwc, nw, 1e-4);
        if (dw)   /* with parts, the parts' sum ran after it */
            CHECK(tile_ran(parts > 1) == (t && tile), "%s: filter gradient%s ran %s", name, how,
                  kemu_recent_op(parts > 1));
        snprintf(what, sizeof what, "%s: filter gradient in %d parts%s, summed later", name,
                 parts, how);
        nan_fill(dwl, nw);
        later_sum(what, dw ? k_dw_bwd_filter(NULL, &d, x, dy, parts, part, dwl, t, &later)
                           : k_pw_bwd_filter(NULL, &d, x, dy, parts, part, dwl, &later),
                  &later, dwl, dwk, nw, parts);
    }
    free(x.d);
    free(y.d);
    free(dy.d);
    free(dx.d);
    free(yk.d);
    free(dxk.d);
    free(wt);
    free(dwc);
    free(dwk);
    free(dwl);
    free(part);
}

static void test_convs(void)
{
    conv_desc d;
    test_conv("depthwise 3x3 relu, slice in", cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 1), 2, 6, 6, 2, 0,
              SMS, 1);
    test_conv("depthwise 5x5 stride 2 relu, slice out", cdesc(3, 3, 5, 5, 2, 2, 2, 2, 1, 3, 1), 3, 8,
              8, 0, 1, 4, 1);
    test_conv("depthwise 7x7 stride 2 relu, 11x13", cdesc(5, 5, 7, 7, 2, 2, 3, 3, 1, 5, 1), 2, 11,
              13, 1, 1, SMS, 1);
    test_conv("depthwise 3x3 dilation 2 stride 2", cdesc(3, 3, 3, 3, 2, 2, 2, 2, 2, 3, 0), 2, 9, 8,
              0, 0, 1, 1);
    test_conv("depthwise 5x5 relu, 16 channels at 12x12, batch 3",
              cdesc(16, 16, 5, 5, 1, 1, 2, 2, 1, 16, 1), 3, 12, 12, 0, 0, SMS, 1);
    /* the tiled kernels' own cases: a plane cut into bands of rows,
     * planes of a few rows several to a block, dilation 2 at stride 1,
     * and a plane too wide for shared memory (the simple kernels run) */
    test_conv("depthwise 7x7 relu at 40x37: bands of rows", cdesc(3, 3, 7, 7, 1, 1, 3, 3, 1, 3, 1),
              2, 40, 37, 1, 0, SMS, 1);
    test_conv("depthwise 3x3 stride 2 at 32x32, 6 channels", cdesc(6, 6, 3, 3, 2, 2, 1, 1, 1, 6, 1),
              3, 32, 32, 0, 2, SMS, 1);
    test_conv("depthwise 5x5 at 4x4, 20 channels (16 planes a block)",
              cdesc(20, 20, 5, 5, 1, 1, 2, 2, 1, 20, 0), 3, 4, 4, 1, 1, SMS, 1);
    test_conv("depthwise 3x3 dilation 2 relu (dil_conv) at 9x10", cdesc(4, 4, 3, 3, 1, 1, 2, 2, 2, 4, 1),
              2, 9, 10, 0, 1, SMS, 1);
    test_conv("depthwise 7x7 relu at 3x1200: too wide for tiles", cdesc(2, 2, 7, 7, 1, 1, 3, 3, 1, 2, 1),
              1, 3, 1200, 0, 0, SMS, 0);
    test_conv("pointwise relu, slices", cdesc(5, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1), 3, 4, 5, 1, 3, SMS, 1);
    test_conv("pointwise 70->40 relu, 12x11 (partial channel groups, two trips)",
              cdesc(70, 40, 1, 1, 1, 1, 0, 0, 1, 1, 1), 3, 12, 11, 2, 0, SMS, 1);
    d = cdesc(6, 5, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    d.oy = d.ox = 1;
    test_conv("pointwise stride 2 relu shifted (factorized reduce, odd grid)", d, 3, 9, 7, 1, 2,
              SMS, 1);
    test_conv("pointwise 16->33 at 16x16 (more than 128 pixels), batch 4",
              cdesc(16, 33, 1, 1, 1, 1, 0, 0, 1, 1, 0), 4, 16, 16, 0, 3, SMS, 1);
    /* the proxy's 8x8 stage: two images a block, the last block's second
     * image past the batch */
    test_conv("pointwise 64->16 at 8x8 (two images a block), batch 5",
              cdesc(64, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1), 5, 8, 8, 1, 0, SMS, 1);
    /* the proxy's commonest: 16 -> 16, its filter gradient in 16 x 16 tiles */
    test_conv("pointwise 16->16 relu at 16x16 (16 x 16 filter tiles), batch 2",
              cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1), 2, 16, 16, 0, 1, SMS, 1);
}

/* ---- the separable forward in one kernel (sepconv.cu) ---- */

/* k_sep_fwd with the batch-norm statistics of y (check_stats); where the
 * kernel gives none (k_sep_stats_parts 0), it must refuse to be asked */
static void test_sep_stats(const char *name, const conv_desc *dd, const conv_desc *pd, tview x,
                           const float *wd, const float *wp, tview y)
{
    int parts = k_sep_stats_parts(dd, pd, x.n, x.h, x.w);
    tview mid = tv_new(y.n, dd->cout, y.h, y.w, 0), yk = tv_clone(y);
    double *st = stats_buf(parts, y.c);
    char what[200];

    if (parts <= 0) {
        snprintf(what, sizeof what, "%s: no statistics from this band", name);
        CHECK(k_sep_fwd(NULL, dd, pd, x, NULL, wd, mid, wp, yk, st) == cudaErrorInvalidValue, "%s",
              what);
        cudaGetLastError();
    } else {
        snprintf(what, sizeof what, "%s: forward with statistics", name);
        if (launched(what, k_sep_fwd(NULL, dd, pd, x, NULL, wd, mid, wp, yk, st))) {
            same_view(what, yk, y, TOL);
            check_stats(name, parts, st, y, yk);
        }
    }
    free(mid.d);
    free(yk.d);
    free(st);
}

/* k_sep_fwd against the CPU's two convolutions: the depthwise dd of x
 * into mid, then the pointwise cout x cin of mid into y; pads: channels
 * of other slices in each view's image stride (untouched alike) */
static void test_sep(const char *name, conv_desc dd, int cout, int n, int h, int w, int xpad,
                     int mpad, int ypad)
{
    conv_desc pd = cdesc(dd.cout, cout, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    int ho = conv_out_h(&dd, h), wo = conv_out_w(&dd, w);
    tview x = tv_new(n, dd.cin, h, w, xpad), mid = tv_new(n, dd.cout, ho, wo, mpad);
    tview y = tv_new(n, cout, ho, wo, ypad), midk = tv_clone(mid), yk = tv_clone(y);
    float *wd = rand_buf(conv_weight_count(&dd), 0.5f), *wp = rand_buf(conv_weight_count(&pd), 0.5f);
    char what[200];
    cl_err err = {0};

    CHECK(k_sep_takes(&dd, &pd, h, w), "%s: a pair the kernel takes", name);
    if (cpu->conv_prepare(cpu, &dd, n, h, w, &err) || cpu->conv_prepare(cpu, &pd, n, ho, wo, &err))
        CHECK(0, "%s: CPU prepared: %s", name, err.msg);
    else {
        /* x as it is, then x a batch norm's input, that batch norm applied
         * on the way in (the CPU given its output) */
        for (int bn = 1; bn >= 0; bn--) {
            float *ab = bn ? rand_ab(dd.cin) : NULL;
            tview xin = bn ? bn_through(x, ab) : x;
            const char *how = bn ? ", through a batch norm" : "";
            cpu->conv_fwd(cpu, &dd, xin, wd, mid, 0);
            cpu->conv_fwd(cpu, &pd, mid, wp, y, 0);
            snprintf(what, sizeof what, "%s: fused forward%s", name, how);
            if (launched(what, k_sep_fwd(NULL, &dd, &pd, x, ab, wd, midk, wp, yk, NULL))) {
                snprintf(what, sizeof what, "%s: depthwise output%s", name, how);
                same_view(what, midk, mid, TOL);
                snprintf(what, sizeof what, "%s: pointwise output%s", name, how);
                same_view(what, yk, y, TOL);
                ran_kernel(what, 0, bn ? "sep_fwd_bn_k<" : "sep_fwd_k<");
                if (!bn)
                    test_sep_stats(name, &dd, &pd, x, wd, wp, y);
            }
            if (bn) {
                free(ab);
                free(xin.d);
            }
        }
        {   /* mid not asked for: y alike, mid's memory left alone */
            tview none = midk;
            float *was = malloc((size_t)midk.n * midk.ns * sizeof *was);
            memcpy(was, midk.d, (size_t)midk.n * midk.ns * sizeof *was);
            none.d = NULL;
            nan_fill(yk.d, (long)yk.n * yk.ns);
            snprintf(what, sizeof what, "%s: fused forward, mid not written", name);
            if (launched(what, k_sep_fwd(NULL, &dd, &pd, x, NULL, wd, none, wp, yk, NULL))) {
                long changed = 0;
                float *a = tv_dense(yk), *b = tv_dense(y);
                double e = check_rel_err(a, b, tv_len(y));
                for (long i = 0; i < (long)midk.n * midk.ns; i++)
                    changed += memcmp(&was[i], &midk.d[i], sizeof *was) != 0;
                CHECK(e < TOL && !changed,
                      "%s: the pointwise output alike (relative error %.2g), mid untouched (%ld "
                      "changed)",
                      what, e, changed);
                free(a);
                free(b);
            }
            free(was);
        }
    }
    free(x.d);
    free(mid.d);
    free(y.d);
    free(midk.d);
    free(yk.d);
    free(wd);
    free(wp);
}

static void test_seps(void)
{
    conv_desc d = cdesc(16, 16, 3, 3, 1, 1, 1, 1, 1, 16, 1), p;
    /* the proxy's shapes: 16 channels at 32x32 in bands of 8 rows, 32 at
     * 16x16 (two channel groups), 64 at 8x8 (four) */
    test_sep("sep 3x3 relu, 16 -> 16 at 32x32", d, 16, 2, 32, 32, 0, 0, 0);
    test_sep("sep 5x5 relu, 32 -> 32 at 16x16, slices",
             cdesc(32, 32, 5, 5, 1, 1, 2, 2, 1, 32, 1), 32, 2, 16, 16, 3, 2, 5);
    test_sep("sep 7x7 relu, 64 -> 64 at 8x8", cdesc(64, 64, 7, 7, 1, 1, 3, 3, 1, 64, 1), 64, 3, 8,
             8, 0, 0, 0);
    /* a reduction's first half (stride 2), the dilated conv, odd sizes,
     * channels that fill neither a trip (8) nor a group (16) */
    test_sep("sep 5x5 stride 2 relu, 12 -> 20 at 15x13",
             cdesc(12, 12, 5, 5, 2, 2, 2, 2, 1, 12, 1), 20, 3, 15, 13, 1, 0, 2);
    test_sep("sep 7x7 stride 2 relu, 5 -> 3 at 11x9", cdesc(5, 5, 7, 7, 2, 2, 3, 3, 1, 5, 1), 3, 2,
             11, 9, 0, 1, 0);
    test_sep("dil_conv 3x3 dilation 2 relu, 10 -> 10 at 9x10",
             cdesc(10, 10, 3, 3, 1, 1, 2, 2, 2, 10, 1), 10, 2, 9, 10, 0, 0, 1);
    test_sep("dilation 2 stride 2, no ReLU, 4 -> 7 at 12x12",
             cdesc(4, 4, 3, 3, 2, 2, 2, 2, 2, 4, 0), 7, 2, 12, 12, 0, 0, 0);
    test_sep("sep 3x3, 256 output channels at 4x4 (16 groups)",
             cdesc(9, 9, 3, 3, 1, 1, 1, 1, 1, 9, 1), 256, 2, 4, 4, 0, 0, 0);
    /* a 64-wide plane: bands of 4 rows; 37 wide: bands of 6, the last
     * of 4, the last strip of a row one output wide */
    test_sep("sep 7x7 relu, 3 -> 16 at 20x64", cdesc(3, 3, 7, 7, 1, 1, 3, 3, 1, 3, 1), 16, 1, 20,
             64, 0, 0, 0);
    test_sep("sep 7x7 relu, 3 -> 16 at 40x37", cdesc(3, 3, 7, 7, 1, 1, 3, 3, 1, 3, 1), 16, 2, 40,
             37, 1, 0, 1);

    /* what it refuses: the pointwise half through ReLU, strided, or with
     * more than 256 output channels; a plane too wide for a band */
    p = cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    CHECK(!k_sep_takes(&d, &p, 32, 32), "sep refuses a pointwise half that reads through ReLU");
    p = cdesc(16, 16, 1, 1, 2, 2, 0, 0, 1, 1, 0);
    CHECK(!k_sep_takes(&d, &p, 32, 32), "sep refuses a strided pointwise half");
    p = cdesc(16, 257, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(!k_sep_takes(&d, &p, 8, 8), "sep refuses 257 output channels");
    p = cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(!k_sep_takes(&d, &p, 4, 300), "sep refuses a 300-wide plane");
    p = cdesc(8, 16, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(!k_sep_takes(&d, &p, 8, 8), "sep refuses a pointwise half of other input channels");
}

/* ---- batch-norm backward sums taken elsewhere ---- */

/* each channel's sums as a batch norm's backward takes them, of dy' and
 * dy' (x - mean), dy' = sc[image] dy (sc NULL: 1), in double, in `parts`
 * partial sums (part p: images p, p + parts, ...) into s[(p * channels +
 * channel) * 2 + 0 or 1]; with the sums of their magnitudes into mag
 * (NULL: not wanted; where a float's rounding of the terms shows) */
static void dy_sums(tview x, tview dy, const float *mean, const float *sc, int parts, double *s,
                    double *mag)
{
    long hw = (long)x.h * x.w;
    memset(s, 0, (size_t)parts * x.c * 2 * sizeof *s);
    if (mag)
        memset(mag, 0, (size_t)parts * x.c * 2 * sizeof *mag);
    for (int i = 0; i < x.n; i++)
        for (int c = 0; c < x.c; c++) {
            long k = ((long)(i % parts) * x.c + c) * 2;
            for (long j = 0; j < hw; j++) {
                float g = (sc ? sc[i] : 1.f) * dy.d[i * dy.ns + c * hw + j];
                float t = g * (x.d[i * x.ns + c * hw + j] - mean[c]);
                s[k] += g;
                s[k + 1] += t;
                if (mag) {
                    mag[k] += fabs(g);
                    mag[k + 1] += fabs(t);
                }
            }
        }
}

/* `parts` partial sums [(p * c + channel) * 2 + 0 or 1] added up against
 * dy_sums' totals */
static void same_sums(const char *what, const double *part, int parts, tview x, tview dy,
                      const float *mean, const float *sc)
{
    double *want = malloc((size_t)x.c * 4 * sizeof *want), *mag = want + 2 * x.c, worst = 0.0;
    dy_sums(x, dy, mean, sc, 1, want, mag);
    for (int k = 0; k < 2 * x.c; k++) {
        double got = 0.0, e;
        for (int p = 0; p < parts; p++)
            got += part[(long)p * 2 * x.c + k];
        e = fabs(got - want[k]) / (mag[k] + 1e-30);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < TOL, "%s (%d partial sums; error %.2g of the terms' magnitude)", what, parts,
          worst);
    free(want);
}

/* A fused backward's three results against the CPU's: "what: data
 * gradient", "what: depthwise filter gradient", "what: pointwise filter
 * gradient" */
static void sepb_same(const char *what, tview dx, tview want, const float *gd, const float *gw,
                      long nd, const float *pd, const float *pw, long np)
{
    char m[240];
    snprintf(m, sizeof m, "%s: data gradient", what);
    same_view(m, dx, want, TOL);
    snprintf(m, sizeof m, "%s: depthwise filter gradient", what);
    same_buf(m, gd, gw, nd, TOL);
    snprintf(m, sizeof m, "%s: pointwise filter gradient", what);
    same_buf(m, pd, pw, np, TOL);
}

/* k_sep_bwd against the CPU's pointwise data gradient then depthwise
 * gradients (dmid through memory), dx overwritten then added into; pads
 * as test_sep's */
static void test_sepb(const char *name, conv_desc dd, int cout, int n, int h, int w, int xpad,
                      int ypad, int dxpad)
{
    conv_desc pd = cdesc(dd.cout, cout, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    long nd = conv_weight_count(&dd), np = conv_weight_count(&pd);
    long floats = k_sep_bwd_part_floats(&dd, &pd, n, h, w, SMS, 1);
    int parts = 1, ho = conv_out_h(&dd, h), wo = conv_out_w(&dd, w);
    tview x = tv_new(n, dd.cin, h, w, xpad), dy = tv_new(n, cout, ho, wo, ypad);
    tview mid = tv_new(n, dd.cout, ho, wo, 0), dmid = tv_new(n, dd.cout, ho, wo, 0);
    tview dx = tv_new(n, dd.cin, h, w, dxpad), dxk = tv_clone(dx);
    float *wd = rand_buf(nd, 0.5f), *wp = rand_buf(np, 0.5f);
    float *gc = malloc((size_t)nd * 4), *gk = rand_buf(nd, 9.f);
    float *pc = malloc((size_t)np * 4), *pk = rand_buf(np, 9.f);
    float *part = floats ? rand_buf(floats, 9.f) : NULL;
    float *ppart = floats ? rand_buf(floats, 9.f) : NULL;
    char what[200];
    cl_err err = {0};

    CHECK(k_sep_bwd_takes(&dd, &pd, n, h, w), "%s: a pair the backward kernel takes", name);
    if (floats)   /* the depthwise filter gradient's parts are the fewer floats */
        parts = (int)(floats / (nd > np ? nd : np));
    if (cpu->conv_prepare(cpu, &dd, n, h, w, &err) || cpu->conv_prepare(cpu, &pd, n, ho, wo, &err))
        CHECK(0, "%s: CPU prepared: %s", name, err.msg);
    else
        for (int acc = 0; acc < 2; acc++) {
            cpu->conv_fwd(cpu, &dd, x, wd, mid, 0);
            cpu->conv_bwd_data(cpu, &pd, mid, wp, dy, dmid, 0);
            cpu->conv_bwd(cpu, &dd, x, wd, dmid, dx, 1, acc, gc);
            cpu->conv_bwd_filter(cpu, &pd, mid, dy, pc);
            /* without the pointwise filter gradient, then with it, from the
             * same dx (acc 1 adds into it) */
            tview keep = tv_clone(dxk);
            for (int pw = 0; pw < 2; pw++) {
                if (pw)
                    memcpy(dxk.d, keep.d, (size_t)dxk.n * dxk.ns * sizeof *dxk.d);
                snprintf(what, sizeof what, "%s: fused backward%s, acc %d", name,
                         pw ? " with the pointwise filter gradient" : "", acc);
                if (launched(what, k_sep_bwd(NULL, &dd, &pd, x, NULL, wd, dy, NULL, wp, dxk, acc, SMS,
                                             part, gk, NULL, ppart, pw ? pk : NULL, NULL, NULL))) {
                    snprintf(what, sizeof what, "%s: data gradient, acc %d%s", name, acc,
                             pw ? ", pointwise filter gradient too" : "");
                    same_view(what, dxk, dx, TOL);
                    snprintf(what, sizeof what, "%s: depthwise filter gradient (%d partial sums)%s",
                             name, parts, pw ? ", pointwise filter gradient too" : "");
                    same_buf(what, gk, gc, nd, TOL);
                    if (pw) {
                        snprintf(what, sizeof what,
                                 "%s: pointwise filter gradient (%d partial sums), mid recomputed",
                                 name, parts);
                        same_buf(what, pk, pc, np, TOL);
                    }
                    ran_kernel(name, floats ? 1 + pw : 0, "sep_bwd_k<");
                }
            }
            free(keep.d);
            /* with the sums of dx a batch norm before it needs (bx its
             * input); then x that batch norm's input, the batch norm applied
             * on the way in (the CPU given its output) */
            for (int bn_in = 0; acc == 0 && bn_in < 2; bn_in++) {
                tview bx = bn_in ? x : tv_new(n, dd.cin, h, w, 1);
                float *bm = rand_buf(dd.cin, 0.5f), *ab = bn_in ? rand_ab(dd.cin) : NULL;
                int bp = k_sep_bwd_stats_parts(&dd, &pd, n, h, w);
                double *bs = stats_buf(bp, dd.cin);
                k_bnsums bn = {bx, bm, bs};
                tview want = dx, was = tv_clone(dxk);
                float *gw = gc, *pw = pc;
                const char *how = bn_in ? " through a batch norm" : "";
                if (bn_in) {   /* the CPU's gradients from the batch norm's output */
                    tview u = bn_through(x, ab);
                    want = tv_clone(dx);
                    gw = malloc((size_t)nd * 4);
                    pw = malloc((size_t)np * 4);
                    cpu->conv_fwd(cpu, &dd, u, wd, mid, 0);
                    cpu->conv_bwd_data(cpu, &pd, mid, wp, dy, dmid, 0);
                    cpu->conv_bwd(cpu, &dd, u, wd, dmid, want, 1, 0, gw);
                    cpu->conv_bwd_filter(cpu, &pd, mid, dy, pw);
                    free(u.d);
                }
                snprintf(what, sizeof what, "%s: fused backward with batch-norm sums%s", name,
                         how);
                CHECK(bp == n * (bp / n) && bp >= n, "%s: a partial sum per image and band (%d)",
                      what, bp);
                if (launched(what, k_sep_bwd(NULL, &dd, &pd, x, ab, wd, dy, NULL, wp, dxk, 0, SMS,
                                             part, gk, NULL, ppart, pk, NULL, &bn))) {
                    snprintf(what, sizeof what, "%s, beside batch-norm sums%s", name, how);
                    sepb_same(what, dxk, want, gk, gw, nd, pk, pw, np);
                    snprintf(what, sizeof what, "%s: dx's sums for the batch norm before it%s",
                             name, how);
                    same_sums(what, bs, bp, bx, want, bm, NULL);
                    ran_kernel(what, floats ? 2 : 0, bn_in ? "sep_bwd_bn_k<" : "sep_bwd_k<");
                }
                snprintf(what, sizeof what, "%s: batch-norm sums refused when adding into dx%s",
                         name, how);
                CHECK(k_sep_bwd(NULL, &dd, &pd, x, ab, wd, dy, NULL, wp, dxk, 1, SMS, part, gk,
                                NULL, ppart, pk, NULL, &bn) == cudaErrorInvalidValue,
                      "%s", what);
                (void)cudaGetLastError();
                memcpy(dxk.d, was.d, (size_t)dxk.n * dxk.ns * sizeof *dxk.d);   /* acc 1 adds */
                free(was.d);
                if (bn_in) {
                    free(want.d);
                    free(gw);
                    free(pw);
                    free(ab);
                } else {
                    free(bx.d);
                }
                free(bm);
                free(bs);
            }
            /* dy a batch norm's output gradient (gx its input, f its
             * factors), the pair's own made as it is read; then with that
             * batch norm's drop-path scales (an image dropped) and x read
             * through a batch norm too; with acc 0 the sums for a batch
             * norm before it beside */
            for (int in_bn = 0; in_bn < 2; in_bn++) {
                tview gx = tv_new(n, cout, ho, wo, 2), pdy, want = tv_clone(dxk),
                      got = tv_clone(dxk), bx = in_bn ? x : tv_new(n, dd.cin, h, w, 1), u = x;
                float *f = rand_buf(4L * cout, 0.5f), *bm = rand_buf(dd.cin, 0.5f);
                float *ab = in_bn ? rand_ab(dd.cin) : NULL, *sc = in_bn ? rand_buf(n, 1.f) : NULL;
                float *gw = malloc((size_t)nd * 4), *pw = malloc((size_t)np * 4);
                float *gd = rand_buf(nd, 9.f), *pdd = rand_buf(np, 9.f);
                int bp = k_sep_bwd_stats_parts(&dd, &pd, n, h, w);
                double *bs = stats_buf(bp, dd.cin);
                k_bnsums bn = {bx, bm, bs};
                bn_grad_in dyb = {gx, f, sc};
                const char *how = in_bn ? ", its drop-path scales, x through a batch norm" : "";
                for (int i = 0; i < cout; i++)   /* k of either sign, as gamma rstd */
                    f[4 * i] += f[4 * i] < 0.f ? -0.75f : 0.75f;
                if (sc)
                    sc[0] = 0.f;   /* a dropped image */
                if (in_bn)
                    u = bn_through(x, ab);
                pdy = bn_back(gx, dy, f, sc);
                cpu->conv_fwd(cpu, &dd, u, wd, mid, 0);
                cpu->conv_bwd_data(cpu, &pd, mid, wp, pdy, dmid, 0);
                cpu->conv_bwd(cpu, &dd, u, wd, dmid, want, 1, acc, gw);
                cpu->conv_bwd_filter(cpu, &pd, mid, pdy, pw);
                snprintf(what, sizeof what, "%s: fused backward from a batch norm's dy%s, acc %d%s",
                         name, how, acc, acc ? "" : ", batch-norm sums");
                if (launched(what, k_sep_bwd(NULL, &dd, &pd, x, ab, wd, dy, &dyb, wp, got, acc,
                                             SMS, part, gd, NULL, ppart, pdd, NULL,
                                             acc ? NULL : &bn))) {
                    snprintf(what, sizeof what, "%s, from a batch norm's dy%s, acc %d", name, how,
                             acc);
                    sepb_same(what, got, want, gd, gw, nd, pdd, pw, np);
                    if (!acc) {
                        snprintf(what, sizeof what, "%s: dx's sums beside a batch norm's dy%s",
                                 name, how);
                        same_sums(what, bs, bp, bx, want, bm, NULL);
                    }
                    ran_kernel(name, floats ? 2 : 0, in_bn ? "sep_bwd_bn_dy_k<" : "sep_bwd_dy_k<");
                }
                if (!in_bn) {   /* factors read four at once: on 16 bytes */
                    bn_grad_in off = dyb;
                    off.f = f + 2;
                    snprintf(what, sizeof what, "%s: factors not on 16 bytes refused", name);
                    CHECK(k_sep_bwd(NULL, &dd, &pd, x, NULL, wd, dy, &off, wp, got, acc, SMS, part,
                                    gd, NULL, ppart, pdd, NULL, NULL) == cudaErrorInvalidValue,
                          "%s", what);
                    (void)cudaGetLastError();
                }
                free(gx.d);
                free(pdy.d);
                free(want.d);
                free(got.d);
                if (in_bn)
                    free(u.d);
                else
                    free(bx.d);
                free(f);
                free(bm);
                free(ab);
                free(sc);
                free(gw);
                free(pw);
                free(gd);
                free(pdd);
                free(bs);
            }
            if (acc == 1) {   /* both filter gradients' sums left for later */
                float *gl = malloc((size_t)nd * 4), *pl = malloc((size_t)np * 4);
                k_psum later, plater;
                cudaError_t e;
                nan_fill(gl, nd);
                nan_fill(pl, np);
                e = k_sep_bwd(NULL, &dd, &pd, x, NULL, wd, dy, NULL, wp, dxk, acc, SMS, part, gl,
                              &later, ppart, pl, &plater, NULL);
                snprintf(what, sizeof what, "%s: depthwise filter gradient summed later", name);
                later_sum(what, e, &later, gl, gk, nd, parts);
                snprintf(what, sizeof what, "%s: pointwise filter gradient summed later", name);
                later_sum(what, e, &plater, pl, pk, np, parts);
                free(gl);
                free(pl);
            }
        }
    free(x.d);
    free(dy.d);
    free(mid.d);
    free(dmid.d);
    free(dx.d);
    free(dxk.d);
    free(wd);
    free(wp);
    free(gc);
    free(gk);
    free(pc);
    free(pk);
    free(part);
    free(ppart);
}

static void test_sepbs(void)
{
    conv_desc d = cdesc(16, 16, 3, 3, 1, 1, 1, 1, 1, 16, 1), p;
    /* the proxy's: 32x32 in bands (11, 11, 10 rows), 16x16 with other
     * slices' channels in every view, 8x8 with the channels' trips
     * spread over blocks */
    test_sepb("sep backward 3x3 relu, 16 -> 16 at 32x32", d, 16, 2, 32, 32, 0, 0, 0);
    test_sepb("sep backward 5x5 relu, 32 -> 32 at 16x16, slices",
              cdesc(32, 32, 5, 5, 1, 1, 2, 2, 1, 32, 1), 32, 2, 16, 16, 3, 2, 5);
    test_sepb("sep backward 7x7 relu, 64 -> 64 at 8x8", cdesc(64, 64, 7, 7, 1, 1, 3, 3, 1, 64, 1),
              64, 3, 8, 8, 0, 0, 0);
    /* dilation 2, channels that fill no trip, no ReLU, many output
     * channels, a short last band, one image of one band (no partial
     * sums) */
    test_sepb("dil_conv backward 3x3 dilation 2 relu, 10 -> 10 at 9x10",
              cdesc(10, 10, 3, 3, 1, 1, 2, 2, 2, 10, 1), 10, 2, 9, 10, 0, 1, 0);
    test_sepb("sep backward 5x5 dilation 2 relu, 12 -> 20 at 15x13",
              cdesc(12, 12, 5, 5, 1, 1, 4, 4, 2, 12, 1), 20, 2, 15, 13, 1, 0, 2);
    test_sepb("dil_conv backward 3x3 dilation 2 relu, 16 -> 16 at 4x4 (the halo past the plane)",
              cdesc(16, 16, 3, 3, 1, 1, 2, 2, 2, 16, 1), 16, 8, 4, 4, 0, 0, 0);
    test_sepb("sep backward 3x3 no ReLU, 4 -> 7 at 12x12", cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 0),
              7, 2, 12, 12, 0, 0, 0);
    test_sepb("sep backward 3x3, 9 -> 256 at 4x4", cdesc(9, 9, 3, 3, 1, 1, 1, 1, 1, 9, 1), 256, 2,
              4, 4, 0, 0, 0);
    test_sepb("sep backward 7x7 relu, 3 -> 16 at 37x40 (bands of 5, the last of 2)",
              cdesc(3, 3, 7, 7, 1, 1, 3, 3, 1, 3, 1), 16, 2, 37, 40, 0, 0, 1);
    test_sepb("sep backward 5x5 relu, one image of 6x6 (one band)",
              cdesc(8, 8, 5, 5, 1, 1, 2, 2, 1, 8, 1), 8, 1, 6, 6, 0, 0, 0);
    /* stride 2: the proxy's reduction layers, dilation 2, odd planes
     * (the last output row and column at the plane's edge), bands of an
     * even number of rows */
    test_sepb("sep backward 5x5 stride 2 relu, 16 -> 16 at 32x32",
              cdesc(16, 16, 5, 5, 2, 2, 2, 2, 1, 16, 1), 16, 2, 32, 32, 0, 0, 0);
    test_sepb("sep backward 7x7 stride 2 relu, 32 -> 32 at 16x16, slices",
              cdesc(32, 32, 7, 7, 2, 2, 3, 3, 1, 32, 1), 32, 2, 16, 16, 3, 2, 5);
    test_sepb("dil_conv backward 3x3 dilation 2 stride 2 relu, 10 -> 12 at 16x16",
              cdesc(10, 10, 3, 3, 2, 2, 2, 2, 2, 10, 1), 12, 3, 16, 16, 0, 1, 0);
    test_sepb("sep backward 3x3 stride 2 relu, 6 -> 10 at 15x13 (odd)",
              cdesc(6, 6, 3, 3, 2, 2, 1, 1, 1, 6, 1), 10, 2, 15, 13, 1, 0, 2);
    test_sepb("sep backward 7x7 stride 2 relu, 3 -> 16 at 37x40 (even bands, the last short)",
              cdesc(3, 3, 7, 7, 2, 2, 3, 3, 1, 3, 1), 16, 2, 37, 40, 0, 0, 1);
    test_sepb("sep backward 3x3 stride 2 no ReLU, 9 -> 256 at 4x4",
              cdesc(9, 9, 3, 3, 2, 2, 1, 1, 1, 9, 0), 256, 2, 4, 4, 0, 0, 0);

    /* what it refuses: stride 3, an output not the input's size (over
     * the stride), the pointwise half through ReLU or past 256 channels,
     * a plane too wide */
    p = cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(!k_sep_bwd_takes(&d, &p, 2, 300, 600), "sep backward refuses a 600-wide plane");
    CHECK(!k_sep_bwd_takes(&d, &p, 70000, 8, 8), "sep backward refuses 70,000 images");
    {
        conv_desc s3 = cdesc(16, 16, 3, 3, 3, 3, 1, 1, 1, 16, 1);
        conv_desc valid = cdesc(16, 16, 3, 3, 1, 1, 0, 0, 1, 16, 1);
        conv_desc valid2 = cdesc(16, 16, 3, 3, 2, 2, 0, 0, 1, 16, 1);
        CHECK(!k_sep_bwd_takes(&s3, &p, 2, 32, 32), "sep backward refuses stride 3");
        CHECK(!k_sep_bwd_takes(&valid, &p, 2, 32, 32), "sep backward refuses padding 0 (a smaller output)");
        CHECK(!k_sep_bwd_takes(&valid2, &p, 2, 32, 32),
              "sep backward refuses padding 0 at stride 2 (not half the input's size)");
    }
    p = cdesc(16, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1);
    CHECK(!k_sep_bwd_takes(&d, &p, 2, 32, 32), "sep backward refuses a pointwise half through ReLU");
    p = cdesc(16, 257, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    CHECK(!k_sep_bwd_takes(&d, &p, 2, 8, 8), "sep backward refuses 257 output channels");
}

/* ---- batch norm ---- */

/* with acc 1, a second output too (an identity folded in): y2 added to,
 * dy2 added to dy */
static void test_bn(const char *name, int n, int c, int h, int w, int parts, int scaled)
{
    float eps = 1e-5f, mom = 0.1f;
    tview x = tv_new(n, c, h, w, 1), y = tv_new(n, c, h, w, 2), dy = tv_new(n, c, h, w, 2);
    tview dx = tv_new(n, c, h, w, 0), yk = tv_clone(y), dxk = tv_clone(dx);
    tview y2 = tv_new(n, c, h, w, 3), y2k = tv_clone(y2), dy2 = tv_new(n, c, h, w, 1);
    /* gamma, beta, run mean, run var, save mean, save rstd; twice */
    float *pc = rand_buf(6L * c, 1.f), *pk = malloc((size_t)6 * c * 4);
    float *gc = malloc((size_t)2 * c * 4), *gk = malloc((size_t)2 * c * 4);
    float *sc = scaled ? rand_buf(n, 1.f) : NULL;
    double *part = malloc((size_t)parts * c * 2 * sizeof *part + 1);
    tview before;
    bn_desc d = {eps, mom};
    char what[200];
    for (int i = 0; i < c; i++)
        pc[3 * c + i] = 0.5f + fabsf(pc[3 * c + i]);   /* running variance > 0 */
    if (sc)
        for (int i = 0; i < n; i += 3)
            sc[i] = 0.f;   /* dropped images */
    memcpy(pk, pc, (size_t)6 * c * 4);
    for (int acc = 0; acc < 2; acc++) {
        /* with acc 1: y2 and dy2 */
        tview o2 = acc ? y2 : NOV, o2k = acc ? y2k : NOV, g2 = acc ? dy2 : NOV;
        snprintf(what, sizeof what, "%s: training forward in %d parts, acc %d%s", name, parts, acc,
                 acc ? ", y2 added to" : "");
        cpu->bn_fwd_train(cpu, &d, x, pc, pc + c, pc + 4 * c, pc + 5 * c, pc + 2 * c, pc + 3 * c,
                          y, acc, sc, o2, acc);
        if (launched(what, k_bn_fwd_train_split(NULL, eps, mom, x, pk, pk + c, pk + 4 * c,
                                                pk + 5 * c, pk + 2 * c, pk + 3 * c, yk, acc, sc,
                                                o2k, acc, parts, part))) {
            same_view(what, yk, y, TOL);
            if (acc)
                same_view(what, y2k, y2, TOL);
            snprintf(what, sizeof what, "%s: saved and running statistics after step %d", name,
                     acc + 1);
            same_buf(what, pk + 2 * c, pc + 2 * c, 4L * c, TOL);
        }
        snprintf(what, sizeof what, "%s: backward in %d parts, acc %d", name, parts, acc);
        before = tv_clone(dxk);
        cpu->bn_bwd(cpu, x, dy, g2, pc, pc + 4 * c, pc + 5 * c, sc, dx, acc, gc, gc + c);
        if (launched(what, k_bn_bwd_split(NULL, x, dy, g2, pk, pk + 4 * c, pk + 5 * c, sc, dxk,
                                          acc, gk, gk + c, parts, part))) {
            same_view(what, dxk, dx, TOL);
            snprintf(what, sizeof what, "%s: dgamma and dbeta in %d parts%s", name, parts,
                     acc ? ", dy2 added to dy" : "");
            same_buf(what, gk, gc, 2L * c, TOL);
        }
        {   /* dy's sums given in 3 parts (images i, i + 3, ...), as a
             * kernel writing dy would take them (never with dy2: against
             * the CPU's backward of dy alone) */
            double *given = malloc((size_t)3 * c * 2 * sizeof *given);
            tview ref = tv_clone(before);
            float *gr = malloc((size_t)2 * c * 4);
            cpu->bn_bwd(cpu, x, dy, NOV, pc, pc + 4 * c, pc + 5 * c, sc, ref, acc, gr, gr + c);
            dy_sums(x, dy, pk + 4 * c, sc, 3, given, NULL);
            memcpy(dxk.d, before.d, (size_t)n * dxk.ns * sizeof *dxk.d);
            nan_fill(gk, 2L * c);
            snprintf(what, sizeof what, "%s: backward from given sums in %d ranges, acc %d", name,
                     parts, acc);
            if (launched(what, k_bn_bwd_parts(NULL, x, dy, pk, pk + 4 * c, pk + 5 * c, sc, dxk,
                                              acc, gk, gk + c, 3, given, parts))) {
                same_view(what, dxk, ref, TOL);
                snprintf(what, sizeof what, "%s: dgamma and dbeta from given sums", name);
                same_buf(what, gk, gr, 2L * c, TOL);
            }
            if (!sc && !acc) {   /* the factors alone, dx made from them
                                  * as a kernel reading dy would */
                float *f = malloc((size_t)4 * c * 4);
                nan_fill(f, 4L * c);
                nan_fill(gk, 2L * c);
                snprintf(what, sizeof what, "%s: backward factors from given sums", name);
                if (launched(what, k_bn_bwd_factors(NULL, x, pk, pk + 4 * c, pk + 5 * c, gk, gk + c,
                                                    3, given, f))) {
                    tview made = bn_back(x, dy, f, NULL);
                    snprintf(what, sizeof what, "%s: dx from the backward factors", name);
                    same_view(what, made, ref, TOL);
                    snprintf(what, sizeof what, "%s: dgamma and dbeta beside the factors", name);
                    same_buf(what, gk, gr, 2L * c, TOL);
                    free(made.d);
                }
                free(f);
            }
            if (!acc) {   /* the factors with dy's sums taken from dy (and its
                           * drop-path scales) in `parts` ranges: in two
                           * launches, then in one (the block summing a
                           * channel's last range makes them), the same */
                float *f = malloc((size_t)4 * c * 4), *f1 = malloc((size_t)4 * c * 4);
                float *g1 = malloc((size_t)2 * c * 4);
                unsigned *count = calloc((size_t)c, sizeof *count);
                int zero = 1;
                nan_fill(f, 4L * c);
                nan_fill(gk, 2L * c);
                snprintf(what, sizeof what, "%s: backward factors from dy in %d parts", name, parts);
                if (launched(what, k_bn_bwd_factors_dy(NULL, x, dy, sc, pk, pk + 4 * c, pk + 5 * c,
                                                       gk, gk + c, parts, part, NULL, f))) {
                    tview made = bn_back(x, dy, f, sc);
                    snprintf(what, sizeof what, "%s: dx from the factors taken from dy%s", name,
                             sc ? " under drop-path scales" : "");
                    same_view(what, made, ref, TOL);
                    snprintf(what, sizeof what, "%s: dgamma and dbeta beside them", name);
                    same_buf(what, gk, gr, 2L * c, TOL);
                    CHECK(!strcmp(kemu_recent_op(0), parts > 1 ? "bn_bwd_factors_k"
                                                               : "bn_bwd_factors_dy_k"),
                          "%s: ran %s", what, kemu_recent_op(0));
                    free(made.d);
                }
                nan_fill(f1, 4L * c);
                nan_fill(g1, 2L * c);
                snprintf(what, sizeof what, "%s: backward factors from dy in %d parts, one launch",
                         name, parts);
                if (launched(what, k_bn_bwd_factors_dy(NULL, x, dy, sc, pk, pk + 4 * c, pk + 5 * c,
                                                       g1, g1 + c, parts, part, count, f1))) {
                    CHECK(!memcmp(f1, f, (size_t)4 * c * 4) && !memcmp(g1, gk, (size_t)2 * c * 4),
                          "%s: the factors, dgamma and dbeta of the two launches, bit for bit",
                          what);
                    for (int i = 0; i < c; i++)
                        zero = zero && count[i] == 0;
                    CHECK(zero, "%s: the channels' counters left zero", what);
                    if (parts > 1)
                        CHECK(!strcmp(kemu_recent_op(0), "bn_bwd_sums_factors_k") &&
                                  !strcmp(kemu_recent_op(1), "bn_bwd_factors_k"),
                              "%s: ran %s after %s", what, kemu_recent_op(0), kemu_recent_op(1));
                }
                free(f);
                free(f1);
                free(g1);
                free(count);
            }
            /* the next step adds to what the split backward left */
            memcpy(dxk.d, dx.d, (size_t)n * dxk.ns * sizeof *dxk.d);
            free(given);
            free(ref.d);
            free(gr);
            free(before.d);
        }
        snprintf(what, sizeof what, "%s: evaluation forward, acc %d%s", name, acc,
                 acc ? ", y2 added to" : "");
        cpu->bn_fwd_eval(cpu, &d, x, pc, pc + c, pc + 2 * c, pc + 3 * c, y, acc, o2, acc);
        if (launched(what, k_bn_fwd_eval(NULL, eps, x, pk, pk + c, pk + 2 * c, pk + 3 * c, yk,
                                         acc, o2k, acc))) {
            same_view(what, yk, y, TOL);
            if (acc)
                same_view(what, y2k, y2, TOL);
        }
    }
    free(y2.d);
    free(y2k.d);
    free(dy2.d);
    free(x.d);
    free(y.d);
    free(dy.d);
    free(dx.d);
    free(yk.d);
    free(dxk.d);
    free(pc);
    free(pk);
    free(gc);
    free(gk);
    free(sc);
    free(part);
}

/* ---- pooling ---- */

static void test_pool(const char *name, pool_kind kind, int k, int s, int n, int c, int h, int w)
{
    pool_desc d = {kind, k, s, k / 2};
    int ho = pool_out(&d, h), wo = pool_out(&d, w);
    tview x = tv_new(n, c, h, w, 1), y = tv_new(n, c, ho, wo, 2), dy = tv_new(n, c, ho, wo, 0);
    tview dx = tv_new(n, c, h, w, 0), yk = tv_clone(y), dxk = tv_clone(dx);
    float *sc = rand_buf(n, 1.f);
    int *idx = malloc((size_t)n * c * ho * wo * sizeof *idx);
    char what[200];
    sc[0] = 0.f;
    /* distinct values: no ties for the arg-max */
    for (int i = 0; i < n; i++)
        for (long j = 0; j < (long)c * h * w; j++)
            x.d[i * x.ns + j] = (float)((j * 7919 + i * 104729) % 100003) * 1e-3f;
    for (int acc = 0; acc < 2; acc++) {
        snprintf(what, sizeof what, "%s: forward, acc %d", name, acc);
        cpu->pool_fwd(cpu, &d, x, y, acc, sc);
        if (launched(what, k_pool_fwd(NULL, kind == POOL_MAX, k, s, d.p, x, yk, acc, sc)))
            same_view(what, yk, y, TOL);
        if (acc == 0) {
            /* 3x3 windows by the kernels for that window and stride */
            char want[40];
            snprintf(want, sizeof want, "pool_fwd_k<%d>", k == 3 ? k * 10 + s : 0);
            CHECK(!strcmp(kemu_recent_op(0), want), "%s: forward ran %s (%s expected)", name,
                  kemu_recent_op(0), want);
        }
        snprintf(what, sizeof what, "%s: backward, acc %d", name, acc);
        cpu->pool_bwd(cpu, &d, x, dy, dx, acc, sc);
        if (launched(what, k_pool_bwd(NULL, kind == POOL_MAX, k, s, d.p, x, dy, dxk, acc, sc,
                                      kind == POOL_MAX ? idx : NULL)))
            same_view(what, dxk, dx, TOL);
    }
    free(x.d);
    free(y.d);
    free(dy.d);
    free(dx.d);
    free(yk.d);
    free(dxk.d);
    free(sc);
    free(idx);
}

/* ---- the small ops ---- */

static void test_small(void)
{
    tview x = tv_new(5, 6, 7, 9, 1), y = tv_new(5, 6, 7, 9, 2), yk = tv_clone(y);
    tview g = tv_new(5, 6, 1, 1, 3), gk = tv_clone(g), dx = tv_new(5, 6, 7, 9, 0),
          dxk = tv_clone(dx);
    float *sc = rand_buf(5, 1.f);
    char what[160];
    sc[2] = 0.f;
    for (int acc = 0; acc < 2; acc++) {
        snprintf(what, sizeof what, "identity path with drop-path scales, acc %d", acc);
        cpu->scale_copy(cpu, x, y, acc, sc);
        if (launched(what, k_scale_copy(NULL, x, yk, acc, sc)))
            same_view(what, yk, y, TOL);
        snprintf(what, sizeof what, "global average pool backward, acc %d", acc);
        cpu->gap_bwd(cpu, g, dx, acc);
        if (launched(what, k_gap_bwd(NULL, g, dxk, acc)))
            same_view(what, dxk, dx, TOL);
    }
    cpu->gap_fwd(cpu, x, g);
    if (launched("global average pool forward", k_gap_fwd(NULL, x, gk)))
        same_view("global average pool forward (warp sums)", gk, g, TOL);

    {
        /* staging for cuDNN: the input through ReLU from a shifted origin,
         * and its gradient put back (masked, zero in the cropped border) */
        int oy = 1, ox = 1, he = x.h - oy, we = x.w - ox;
        long per = (long)x.c * he * we;
        float *st = malloc((size_t)x.n * per * 4), *gr = rand_buf(x.n * per, 1.f);
        int bad = 0;
        if (launched("conv input staging", k_conv_stage_in(NULL, x, oy, ox, 1, st))) {
            for (int i = 0; i < x.n; i++)
                for (int c = 0; c < x.c; c++)
                    for (int r = 0; r < he; r++)
                        for (int q = 0; q < we; q++) {
                            float v = x.d[i * x.ns + ((long)c * x.h + r + oy) * x.w + q + ox];
                            bad += st[i * per + ((long)c * he + r) * we + q] != (v > 0 ? v : 0);
                        }
            CHECK(!bad, "conv input staging: ReLU'd and cropped (%d wrong)", bad);
        }
        bad = 0;
        if (launched("conv gradient staging", k_conv_stage_grad(NULL, gr, x, oy, ox, 1, dxk, 0))) {
            for (int i = 0; i < x.n; i++)
                for (int c = 0; c < x.c; c++)
                    for (int r = 0; r < x.h; r++)
                        for (int q = 0; q < x.w; q++) {
                            long at = ((long)c * x.h + r) * x.w + q;
                            float want = r < oy || q < ox || !(x.d[i * x.ns + at] > 0)
                                             ? 0.f
                                             : gr[i * per + ((long)c * he + r - oy) * we + q - ox];
                            bad += dxk.d[i * dxk.ns + at] != want;
                        }
            CHECK(!bad, "conv gradient staging: masked, zero in the cropped border (%d wrong)",
                  bad);
        }
        free(st);
        free(gr);
    }
    free(x.d);
    free(y.d);
    free(yk.d);
    free(g.d);
    free(gk.d);
    free(dx.d);
    free(dxk.d);
    free(sc);
}

static void test_linear_parts(void)
{
    enum { N = 37, M = 10 };
    float *b = rand_buf(M, 1.f), *y = malloc(N * M * 4), *dy = rand_buf(N * M, 1.f);
    float db[M], part[3 * 50], out[50], want[50];
    int bad = 0;
    if (launched("linear bias rows", k_bias_rows(NULL, N, M, b, y)))
        for (int i = 0; i < N * M; i++)
            bad += y[i] != b[i % M];
    CHECK(!bad, "linear bias: every row is the bias (%d wrong)", bad);
    if (launched("linear bias gradient", k_col_sum(NULL, N, M, dy, db))) {
        float ref[M] = {0};
        for (int i = 0; i < N; i++)
            for (int j = 0; j < M; j++)
                ref[j] += dy[i * M + j];
        same_buf("linear bias gradient: column sums", db, ref, M, TOL);
    }
    for (int i = 0; i < 150; i++)
        part[i] = (float)(i % 17) - 8.f;
    for (int i = 0; i < 50; i++)
        want[i] = part[i] + part[50 + i] + part[100 + i];
    if (launched("sums in parts", k_parts_sum(NULL, 50, 3, part, out)))
        CHECK(!memcmp(out, want, sizeof out), "sums in parts: added in order");
    free(b);
    free(y);
    free(dy);
}

/* k_parts_sum over many parts: the order k_parts_warps documents (its W
 * warps' in-order sums, then those in warp order), and the sum itself
 * against double; counts not a multiple of a warp, so edge lanes idle */
static void test_parts_sum(void)
{
    static const int cases[][2] = {{45, 17}, {144, 256}, {300, 1000}, {7, 40}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int count = cases[c][0], parts = cases[c][1], W = k_parts_warps(parts);
        int bad = 0, off = 0;
        float *part = rand_buf((long)count * parts, 1.f), *out = malloc((size_t)count * 4);
        double worst = 0.;
        char what[80];
        snprintf(what, sizeof what, "sums in %d parts of %d (%d warps a value)", parts, count, W);
        for (int i = 0; i < count; i++)
            out[i] = NAN;
        if (launched(what, k_parts_sum(NULL, count, parts, part, out))) {
            for (int i = 0; i < count; i++) {
                float t = 0.f;
                double d = 0., mag = 0.;
                for (int w = 0; w < W; w++) {
                    float v = 0.f;
                    for (int q = w; q < parts; q += W)
                        v += part[(long)q * count + i];
                    t = w ? t + v : v;
                }
                for (int q = 0; q < parts; q++) {
                    d += part[(long)q * count + i];
                    mag += fabs(part[(long)q * count + i]);
                }
                bad += memcmp(&t, &out[i], sizeof t) != 0;
                if (fabs(out[i] - d) / mag > worst)
                    worst = fabs(out[i] - d) / mag;
                off += !(fabs(out[i] - d) / mag < 1e-6);
            }
            CHECK(!bad, "%s: in the documented order (%d of %d differ)", what, bad, count);
            CHECK(!off, "%s: the sum (worst %.2g of the magnitudes)", what, worst);
        }
        free(part);
        free(out);
    }
}

/* k_parts_sum_set: sums of every width of warps at once, each with
 * k_parts_sum's bits, a sum of nothing passed over, and what it refuses */
static void test_parts_sum_set(void)
{
    static const int cases[][2] = {{45, 17}, {144, 256}, {0, 5}, {3000, 1000}, {7, 40},
                                   {1, 2},   {260, 33},  {64, 600}};
    enum { NC = sizeof cases / sizeof cases[0] };
    k_psum_set set = {0};
    float *part[NC], *now[NC], *out[NC];
    int bad = 0;
    for (int c = 0; c < NC; c++) {
        int count = cases[c][0], parts = cases[c][1];
        part[c] = rand_buf((long)count * parts, 1.f);
        now[c] = malloc((size_t)count * 4 + 4);
        out[c] = malloc((size_t)count * 4 + 4);
        nan_fill(out[c], count);
        if (count)
            (void)launched("sums at once", k_parts_sum(NULL, count, parts, part[c], now[c]));
        set.e[set.n++] = (k_psum){count, parts, k_parts_warps(parts), part[c], out[c]};
    }
    if (launched("sums of 1 to 32 warps a value in one launch", k_parts_sum_set(NULL, &set))) {
        for (int c = 0; c < NC; c++)
            bad += memcmp(out[c], now[c], (size_t)cases[c][0] * 4) != 0;
        CHECK(!bad, "one launch of %d sums (1 to 32 warps a value): k_parts_sum's bits (%d differ)",
              NC, bad);
        CHECK(!strcmp(kemu_recent_op(0), "parts_sum_set_k"), "the sums in one launch: ran %s",
              kemu_recent_op(0));
    }
    set.e[1].W = 1;   /* 256 parts take 16 warps a value */
    CHECK(k_parts_sum_set(NULL, &set) == cudaErrorInvalidValue, "a sum of the wrong width refused");
    set.e[1].W = k_parts_warps(256);
    set.n = K_PSUM_MAX + 1;
    CHECK(k_parts_sum_set(NULL, &set) == cudaErrorInvalidValue, "%d sums at once refused",
          K_PSUM_MAX + 1);
    set.n = 0;
    CHECK(k_parts_sum_set(NULL, &set) == cudaSuccess, "no sums: nothing to launch");
    (void)cudaGetLastError();
    for (int c = 0; c < NC; c++) {
        free(part[c]);
        free(now[c]);
        free(out[c]);
    }
}

static void test_xent_sgd(void)
{
    enum { N = 70, M = 10, COUNT = 3001 };
    float *z = rand_buf(N * M, 3.f), gc[N * M], gk[N * M], lc = 0.f, lk = -1.f;
    int labels[N], rc = 0, rk = -1;
    float *p = rand_buf(COUNT, 1.f), *g = rand_buf(COUNT, 1.f), *v = rand_buf(COUNT, 1.f);
    float *pk = malloc(COUNT * 4), *vk = malloc(COUNT * 4);
    for (int i = 0; i < N; i++)
        labels[i] = (int)rng_below(&rng, M);
    cpu->xent(cpu, N, M, z, labels, &lc, &rc, gc, NULL);
    if (launched("cross-entropy", k_xent(NULL, N, M, z, labels, &lk, &rk, gk, NULL))) {
        CHECK(fabsf(lk - lc) <= TOL * fabsf(lc) && rk == rc,
              "cross-entropy: loss %.6f (CPU %.6f), %d right (CPU %d)", lk, lc, rk, rc);
        same_buf("cross-entropy: logit gradients", gk, gc, N * M, TOL);
    }
    {
        /* into the step's slot, through a step counter */
        int64_t step = 5;
        float slots_l[4] = {0}, lr[8] = {0}, drop[8] = {0};
        int slots_c[4] = {0};
        step_ref sr = {&step, lr, drop, 100, 4};
        if (launched("cross-entropy into a slot",
                     k_xent(NULL, N, M, z, labels, slots_l, slots_c, NULL, &sr)))
            CHECK(slots_l[1] == lk && slots_c[1] == rk && slots_l[0] == 0.f,
                  "cross-entropy with a step counter: step 5 writes slot 1 of 4");
        if (launched("step counter", k_step_next(NULL, &sr)))
            CHECK(step == 6, "the step counter moves on by one");
    }
    memcpy(pk, p, COUNT * 4);
    memcpy(vk, v, COUNT * 4);
    for (int first = 1; first >= 0; first--) {
        cpu->sgd(cpu, COUNT, p, g, v, 0.05f, 0.9f, 3e-4f, first, NULL);
        if (launched("SGD", k_sgd(NULL, COUNT, pk, g, vk, 0.05f, 0.9f, 3e-4f, first, NULL))) {
            same_buf(first ? "SGD first step: parameters" : "SGD with momentum: parameters", pk,
                     p, COUNT, TOL);
            same_buf(first ? "SGD first step: momentum" : "SGD with momentum: momentum", vk, v,
                     COUNT, TOL);
        }
    }
    free(z);
    free(p);
    free(g);
    free(v);
    free(pk);
    free(vk);
}

static void test_batches(void)
{
    enum { COUNT = 20, C = 3, H = 12, W = 10, N = 9 };
    long img = (long)C * H * W;
    uint8_t images[COUNT * C * H * W], labels[COUNT];
    int idx[N], yc[N], yk[N];
    float *xc = malloc(N * img * 4), *xk = malloc(N * img * 4);
    batch_desc d;
    for (long i = 0; i < COUNT * img; i++)
        images[i] = (uint8_t)(rng_u64(&rng) & 0xff);
    for (int i = 0; i < COUNT; i++)
        labels[i] = (uint8_t)rng_below(&rng, 10);
    for (int i = 0; i < N; i++)
        idx[i] = (int)rng_below(&rng, COUNT);
    memset(&d, 0, sizeof d);
    d.c = C;
    d.h = H;
    d.w = W;
    d.seed = 99;
    for (int ch = 0; ch < C; ch++) {
        d.mean[ch] = 0.4f + 0.05f * ch;
        d.std[ch] = 0.25f;
    }
    for (int aug = 0; aug < 2; aug++) {
        d.pad = aug ? 4 : 0;
        d.flip = aug;
        d.step = 31 + aug;
        cpu->batch_gather(cpu, &d, images, labels, idx, N, xc, yc, NULL);
        if (launched("batch gather", k_batch_gather(NULL, &d, images, labels, idx, N, xk, yk,
                                                     NULL))) {
            same_buf(aug ? "batch gather with crop and flip" : "batch gather", xk, xc, N * img,
                     1e-6);
            CHECK(!memcmp(yk, yc, sizeof yc), "... and the same labels");
        }
    }
    {
        /* five rows of 100, then three rows of sums of two of them */
        static const int pairs[6] = {3, 0, 1, 1, 4, 2};
        float mc[800], mk[800];
        cpu->drop_draw(cpu, 7, 12, 0.3f, 500, pairs, 3, 100, mc, NULL);
        if (launched("drop-path masks", k_drop_draw(NULL, 7, 12, 0.3f, 500, pairs, 3, 100, mk,
                                                    NULL)))
            CHECK(!memcmp(mk, mc, sizeof mc),
                  "drop-path masks and the rows summing two of them: the CPU's draws exactly");
    }
    free(xc);
    free(xk);
}

/* the stand-in runtime: barriers order shared memory, a missing one
 * shows, shuffles and block sums add what they should, bad shapes are
 * refused */
static void test_runtime(void)
{
    int out[3 * 256], wrong = 0;
    static double ws[2048];
    double bs[3];
    kemu_pass_on(1, 3, out);
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 256; t++)
            wrong += out[b * 256 + t] != (t + 1) % 256 + 1000 * b;
    CHECK(!wrong, "runtime: values pass between threads through shared memory after a barrier");
    kemu_pass_on(0, 3, out);
    wrong = 0;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 256; t++)
            wrong += out[b * 256 + t] != (t + 1) % 256 + 1000 * b;
    CHECK(wrong > 0, "runtime: without the barrier they do not (%d of 768 wrong)", wrong);
    for (int barrier = 1; barrier >= 0; barrier--) {
        kemu_broadcast(barrier, 3, out);
        wrong = 0;
        for (int b = 0; b < 3; b++)
            for (int t = 0; t < 256; t++)
                wrong += out[b * 256 + t] != b + 7;
        if (barrier)
            CHECK(!wrong, "runtime: what thread 0 puts in shared memory reaches all after a "
                          "barrier");
        else
            CHECK(wrong > 0, "runtime: without the barrier it does not (threads run in "
                             "descending order in every other block: %d of 768 wrong)",
                  wrong);
    }
    kemu_warp_sums(64, ws);
    CHECK(ws[0] == 496.0 && ws[32] == 32 * 32 + 496.0,
          "runtime: a warp sum by shuffles gives each warp's lane 0 its total (%g, %g)", ws[0],
          ws[32]);
    kemu_block_sums(3, 96, bs);
    CHECK(bs[0] == 4560.0 && bs[2] == 4560.0 + 2 * 96,
          "runtime: block sums over three warps (%g, %g)", bs[0], bs[2]);
    CHECK(cudaGetLastError() == cudaSuccess, "runtime: those launches were accepted");
    kemu_warp_sums(2048, ws);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration && cudaGetLastError() == cudaSuccess,
          "runtime: a block of 2048 threads is refused, once");
}

/* the races kemu_race.cc has seen since it had seen `before`, all of
 * them meant by the test (so not counted against the program at exit) */
static long races_since(long before)
{
    long seen = kemu_race_count() - before;
    kemu_race_expect(seen);
    return seen;
}

/* with kemu_race.cc linked in (test_kernels_race): it sees the races it
 * should and no others, and the launch that raced fails */
static void test_race(void)
{
    static const struct {
        int how, blocks;
        unsigned from, to;
        int races;
        const char *what;
    } cases[] = {
        {RACE_OWN, 3, 5, 5, 0, "each block writing its own word"},
        {RACE_BLOCKS_WRITE, 3, 5, 5, 1, "three blocks writing one word"},
        {RACE_BLOCKS_READ, 2, 5, 9, 1, "a block reading what another writes"},
        {RACE_THREADS, 1, 0, 64, 1, "thread 64 reading what thread 0 wrote, no barrier"},
        {RACE_BARRIER, 1, 0, 64, 0, "thread 64 reading what thread 0 wrote after a barrier"},
        {RACE_THREADS, 1, 0, 1, 0, "a lane reading what another lane of its warp wrote"},
        {RACE_LAST, 5, 0, 64, 0, "the last block reading what the others fenced and counted"},
        {RACE_LAST, 5, 64, 64, 0, "the same, written by a thread before a barrier and the fence"},
        {RACE_LAST_NO_FENCE, 5, 0, 64, 1, "the last block's pattern without the fence"},
        {RACE_LAST_NO_BARRIER, 5, 64, 64, 1, "another thread's write, no barrier before the fence"},
        {RACE_LAST_LATE, 5, 0, 64, 1, "a write after the fence"},
    };
    int *d = NULL, *e = NULL;
    if (!kemu_race_active)
        return;
    if (cudaMalloc((void **)&d, 64 * sizeof *d) != cudaSuccess ||
        cudaMalloc((void **)&e, 64 * sizeof *e) != cudaSuccess) {
        CHECK(0, "race check: device memory for its tests");
        return;
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long before = kemu_race_count(), seen;
        cudaError_t rc;
        cudaMemsetAsync(d, 0, 64 * sizeof *d, (cudaStream_t)0);   /* the blocks' count */
        kemu_race(cases[i].how, cases[i].blocks, cases[i].from, cases[i].to, d);
        rc = cudaGetLastError();
        if (cases[i].how >= RACE_LAST) {
            /* (the stand-in's device memory is the host's) */
            CHECK(d[0] == 0 && d[1] == 15, "race check: %s: the sum 15 (%d), the count back to 0 "
                  "(%d)", cases[i].what, d[1], d[0]);
        }
        seen = races_since(before);
        if (cases[i].races)
            CHECK(seen > 0 && rc == cudaErrorLaunchFailure,
                  "race check: %s is a race (%ld seen), the launch fails (%s)", cases[i].what,
                  seen, cudaGetErrorString(rc));
        else
            CHECK(seen == 0 && rc == cudaSuccess, "race check: %s is none (%ld seen, %s)",
                  cases[i].what, seen, cudaGetErrorString(rc));
    }
    for (int ordered = 0; ordered <= 1; ordered++) {
        static const char *const what[2] = {
            "a graph's second stream reading what the first writes, no event between, is a race",
            "with the second stream waiting for an event behind the write, none"};
        long before = kemu_race_count(), seen;
        int rc = kemu_race_graph(ordered, d, e);
        (void)cudaGetLastError();
        seen = races_since(before);
        CHECK(rc == 0 && (ordered ? seen == 0 : seen > 0), "race check: %s (%ld seen)",
              what[ordered], seen);
    }
    for (int how = 0; how < 3; how++) {
        static const char *const what[3] = {
            "a stream reading what another wrote, neither waiting for the other, is a race",
            "with the reader's stream waiting for an event behind the write, none",
            "with the host waiting for the writer's stream first, none"};
        long before = kemu_race_count(), seen;
        int rc = kemu_race_streams(how, d, e);
        (void)cudaGetLastError();
        seen = races_since(before);
        CHECK(rc == 0 && (how ? seen == 0 : seen > 0), "race check: %s (%ld seen)", what[how],
              seen);
    }
    cudaFree(d);
    cudaFree(e);
}

static void test_refusals(void)
{
    conv_desc d = cdesc(4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 0);
    tview x = tv_new(1, 4, 3, 3, 0);
    float w[16];
    CHECK(k_dw_fwd(NULL, &d, x, w, x, 0, 1) == cudaErrorInvalidValue,
          "the depthwise kernels refuse a 1x1 convolution");
    d = cdesc(4, 4, 3, 3, 1, 1, 1, 1, 1, 4, 0);
    CHECK(k_pw_fwd(NULL, &d, x, w, x, 0) == cudaErrorInvalidValue,
          "the pointwise kernels refuse a 3x3 one");
    free(x.d);
}

/* ---- a network trained by the kernels ---- */

/* a network and its trainer on one backend (tr NULL after a failed check) */
typedef struct run {
    cl_net *net;
    cl_trainer *tr;
} run;

static run run_on(cl_backend *be, const cl_dataset *ds, const int *idx, int n,
                  const char *genotype)
{
    child_spec spec = {1, 4, 3, 8, 8, 10};
    float mean[3] = {0.5f, 0.4f, 0.3f}, sd[3] = {0.25f, 0.3f, 0.2f};
    run out = {NULL, NULL};
    cl_genotype g;
    cl_err err = {0};
    cl_rng r;
    train_cfg cfg;
    train_cfg_defaults(&cfg);
    cfg.epochs = 1;
    cfg.batch = 4;
    cfg.augment = 1;
    cfg.drop_path.kind = SCHED_LINEAR;
    cfg.drop_path.from = 0.0;
    cfg.drop_path.to = 0.3;
    rng_seed(&r, 99);
    if (geno_from_arg(genotype, &g, &err) || child_build(&g, &spec, be, &out.net, &err) ||
        net_plan(out.net, cfg.batch, &err) || net_init_params(out.net, &r, &err) ||
        trainer_new(out.net, ds, idx, n, mean, sd, &cfg, &out.tr, &err))
        CHECK(0, "a network and its trainer on %s: %s", be->name, err.msg);
    return out;
}

static void run_free(run *r)
{
    trainer_free(r->tr);
    net_free(r->net);
}

/* n floats of a backend's memory, in host memory the caller frees */
static float *host_copy(cl_backend *be, const float *dev, long n)
{
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    be->download(be, h, dev, (size_t)n * sizeof *h);
    return h;
}

/* The trainer's queued steps (batches made from the resident set, crops,
 * flips, drop-path masks, the step counter, losses into slots) on the
 * kernels and on the CPU, step by step: before each step the CPU's
 * network takes the kernels' parameters, momentum and batch-norm state,
 * and the two steps' changes to the parameters are compared (judged by
 * themselves, not hidden in the parameters).  Measured on 12 draws of the
 * data, 72 steps: 1.3e-5 to 2.7e-4.  A step may now and then meet a ReLU
 * input or two max-pooling candidates a rounding apart, and the gradient
 * behind it differs (test_cuda's test_steps saw such steps; run on from
 * there, as this test once did, the two runs part, up to 0.34 here): so
 * the median step must agree within 1e-3 and every step within
 * STEP_EVENT. */
#define STEP_EVENT 1e-2
#ifndef TRAIN_SEED
#define TRAIN_SEED 1
#endif
static void test_training(void)
{
    enum { COUNT = 12, STEPS = 3 };
    static const char *const genos[] = {
        "nasnet-a",
        /* every op of the space */
        "normal: identity(0) conv_1x3_3x1(1) add | conv_1x7_7x1(0) dil_conv_3x3(2) concat | "
        "avg_pool_3x3(1) max_pool_5x5(3) add | max_pool_7x7(0) conv_3x3(1) add | "
        "sep_conv_7x7(4) conv_1x1(5) concat ; reduce: identity(0) sep_conv_3x3(1) concat | "
        "sep_conv_5x5(0) max_pool_3x3(1) add | avg_pool_3x3(1) identity(3) add | "
        "conv_1x1(2) conv_3x3(0) add | sep_conv_7x7(1) dil_conv_3x3(5) add"};
    cl_dataset ds;
    int idx[COUNT];
    cl_backend *kb = NULL;
    cl_err err = {0};
    /* its own draw, whatever the tests before it took: data whose steps
     * meet no ReLU input or max-pooling candidate a rounding apart in the
     * optimised, sanitizer and valgrind builds alike.  Draws that did, in
     * the sanitizer build only: one step's worst 0.036 (NASNet-A, the same
     * with the separable backward apart), 0.39 (every op, seed 3: its
     * third step, after the fused and apart runs' states parted by
     * rounding; each fused backward there matched the kernels apart) */
    rng_seed(&rng, TRAIN_SEED);
    test_dataset(&ds, COUNT, 8, &rng, idx);
    /* one multiprocessor: filter gradients in one part (the op tests split them) */
    if (kemu_backend_create(1, 3, &kb, &err)) {
        CHECK(0, "the kernels' backend starts: %s", err.msg);
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "every op" : "NASNet-A";
        run c = run_on(cpu, &ds, idx, COUNT, genos[i]), k = run_on(kb, &ds, idx, COUNT, genos[i]);
        double errs[STEPS], worst = 0.0, serr = 0.0, median;
        int steps = 0;
        if (c.tr && k.tr && c.net->p_storage == k.net->p_storage &&
            c.net->n_state == k.net->n_state) {
            long np = c.net->p_storage, ns = c.net->n_state;
            float *p0 = host_copy(kb, k.net->params, np);
            int fused = 0, layers = 0, cpu_fused = 0, strided = 0;
            /* every separable layer's backward runs as one (sep_bwd_k), at
             * stride 2 too, its pointwise filter gradient too, never on the
             * CPU */
            for (int j = 0; j < k.net->n_nodes; j++) {
                const net_node *nd = &k.net->nodes[j];
                fused += nd->sepb == 2;
                layers += nd->sep && dw_handles(&nd->u.conv);
                strided += nd->sepb == 2 && nd->u.conv.sh == 2;
                cpu_fused += c.net->nodes[j].sepb;
            }
            CHECK(fused > 0 && fused == layers && strided > 0 && !cpu_fused,
                  "%s: the backward of %d of %d separable layers in one kernel (%d at stride "
                  "2), with the pointwise filter gradient (on the CPU: %d)",
                  name, fused, layers, strided, cpu_fused);
            CHECK(!memcmp(p0, c.net->params, (size_t)np * sizeof *p0),
                  "%s: both networks start from the same parameters", name);
            free(p0);
            for (; steps < STEPS && !trainer_done(k.tr); steps++) {
                float *before, *pk;
                kb->download(kb, c.net->params, k.net->params, (size_t)np * sizeof(float));
                kb->download(kb, c.net->mom, k.net->mom, (size_t)np * sizeof(float));
                kb->download(kb, c.net->state, k.net->state, (size_t)ns * sizeof(float));
                before = host_copy(cpu, c.net->params, np);
                if (trainer_run(c.tr, 1, &err) || trainer_run(k.tr, 1, &err) ||
                    kb->sync(kb, &err)) {
                    CHECK(0, "%s: training step %d runs on both: %s", name, steps + 1, err.msg);
                    free(before);
                    break;
                }
                pk = host_copy(kb, k.net->params, np);
                for (long j = 0; j < np; j++) {
                    pk[j] -= before[j];
                    before[j] = c.net->params[j] - before[j];
                }
                errs[steps] = check_rel_err(pk, before, np);
                worst = errs[steps] > worst ? errs[steps] : worst;
                free(before);
                free(pk);
            }
            if (steps == STEPS) {
                int took = 0, could = 0, n = k.net->batch;
                float *sk = host_copy(kb, k.net->state, ns);
                /* in the last step's forward, every batch norm after a
                 * separable layer whose band gives them, or after a
                 * pointwise convolution alone, took its statistics from
                 * that forward kernel; none on the CPU */
                for (int j = 2; j < k.net->n_nodes; j++) {
                    const net_node *nd = &k.net->nodes[j], *a = nd - 2, *b = nd - 1;
                    const net_value *va = &k.net->vals[a->x], *vb = &k.net->vals[b->x];
                    if (nd->kind != NODE_BN)
                        continue;
                    took += nd->bst_parts > 0 && c.net->nodes[j].bst_parts == 0;
                    if (a->sep && b->y == nd->x)
                        could += k_sep_stats_parts(&a->u.conv, &b->u.conv, n, va->h, va->w) > 0;
                    else if (b->kind == NODE_CONV && !b->acc && b->y == nd->x)
                        could += k_pw_stats_parts(&b->u.conv, n, vb->h, vb->w) > 0;
                }
                CHECK(took > 0 && took == could,
                      "%s: %d of %d batch norms took the statistics of their input from the "
                      "kernel that wrote it (none on the CPU)", name, took, could);
                serr = check_rel_err(sk, c.net->state, ns);
                free(sk);
                median = check_median(errs, STEPS);
                CHECK(median < 1e-3 && worst < STEP_EVENT,
                      "%s: %d queued training steps by the GPU's kernels change the parameters "
                      "as the CPU's do from the same state (relative error: median %.2g, under "
                      "1e-3; worst %.2g, under %g)",
                      name, STEPS, median, worst, STEP_EVENT);
                CHECK(serr < 1e-3, "%s: ... and leave the same batch-norm running statistics "
                                   "(relative error %.2g)", name, serr);
            } else {
                CHECK(0, "%s: %d training steps in an epoch (%d ran)", name, STEPS, steps);
            }
        } else if (c.tr && k.tr) {
            CHECK(0, "%s: the same network on both backends", name);
        }
        run_free(&c);
        run_free(&k);
    }
out:
    backend_destroy(kb);
    dataset_free(&ds);
}

int main(void)
{
    cl_err err = {0};
    if (backend_cpu_create(2, &cpu, &err)) {
        printf("not ok - the CPU backend starts: %s\n", err.msg);
        return 1;
    }
    rng_seed(&rng, 2024);
    test_runtime();
    test_convs();
    test_seps();
    test_sepbs();
    test_bn("batch norm 4x3x5x5, one block per channel", 4, 3, 5, 5, 1, 0);
    test_bn("batch norm 6x5x7x6 with drop-path scales, split", 6, 5, 7, 6, 4, 1);
    test_bn("batch norm 3x2x9x9, split in more parts than images", 3, 2, 9, 9, 7, 1);
    test_bn("batch norm 3x4x32x32 (planes longer than a block), one block per channel", 3, 4, 32, 32, 1, 1);
    test_bn("batch norm 3x4x32x32 (planes longer than a block), split", 3, 4, 32, 32, 5, 1);
    /* the proxy's 16 channels take 33 parts on an H100: more than the 32
     * lanes that add a channel's parts */
    test_bn("batch norm 2x3x16x16, split in 40 parts (more than a warp's lanes)", 2, 3, 16, 16, 40, 1);
    test_pool("max pool 3x3", POOL_MAX, 3, 1, 2, 3, 7, 6);
    test_pool("max pool 3x3 stride 2", POOL_MAX, 3, 2, 2, 3, 9, 10);
    test_pool("max pool 5x5 stride 2", POOL_MAX, 5, 2, 2, 2, 9, 8);
    test_pool("avg pool 3x3", POOL_AVG, 3, 1, 3, 4, 8, 5);
    test_pool("avg pool 3x3 stride 2", POOL_AVG, 3, 2, 3, 2, 8, 9);
    test_pool("avg pool 7x7", POOL_AVG, 7, 1, 2, 2, 6, 7);
    test_small();
    test_linear_parts();
    test_parts_sum();
    test_parts_sum_set();
    test_xent_sgd();
    test_batches();
    test_refusals();
    test_training();
    test_race();   /* (device memory: last, as the stand-in then holds every kernel to it) */
    printf("# %ld blocks run\n", kemu_blocks_run());
    backend_destroy(cpu);
    return check_done();
}
