/* conv_cpu.c - convolution on the CPU: forward, data gradient, filter
 * gradient, for three families:
 *
 *   depthwise  (groups == cin == cout): a direct stencil per channel plane
 *              over a zero-padded copy of the plane, vectorised along rows;
 *   pointwise  (1x1, groups 1, no padding): one GEMM per image, reading the
 *              image in place when unstrided and without ReLU;
 *   generic    everything else (stem 3x3, 1xK/Kx1, grouped): im2col and a
 *              GEMM per image and group.
 *
 * The generic path handles every case and is the reference the tests hold
 * the fast paths to.  Work is split over images (or over channels for the
 * depthwise filter gradient, which then needs no reduction); filter
 * gradients of the GEMM paths are summed from per-thread partials. */
#include "backend/cpu/cpu.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static int is_depthwise(const conv_desc *d)
{
    return d->groups > 1 && d->groups == d->cin && d->cin == d->cout;
}

static int is_pointwise(const conv_desc *d)
{
    return d->kh == 1 && d->kw == 1 && d->groups == 1 && d->ph == 0 && d->pw == 0;
}

/* a pointwise conv that reads its input image as a [cin][h*w] matrix */
static int is_pointwise_direct(const conv_desc *d)
{
    return is_pointwise(d) && d->sh == 1 && d->sw == 1 && d->oy == 0 && d->ox == 0;
}

/* The most any path may need for this conv: the generic path is always
 * possible (CELLAR_CONV=generic), so its need is included. */
size_t cpu_conv_scratch(const conv_desc *d, int h, int w)
{
    size_t ho = (size_t)conv_out_h(d, h), wo = (size_t)conv_out_w(d, w);
    size_t wc = (size_t)conv_weight_count(d);
    size_t cin_g = (size_t)(d->cin / d->groups);
    size_t col = cin_g * (size_t)(d->kh * d->kw) * ho * wo;
    size_t img = cin_g * (size_t)h * (size_t)w;
    size_t need = col + (img > wc ? img : wc), fast = 0;
    if (cpu_dw_fast(d))
        fast = cpu_dw_scratch(d, h, w);
    else if (is_depthwise(d))
        fast = (size_t)(h - d->oy + 2 * d->ph) * (size_t)(w - d->ox + 2 * d->pw);
    else if (is_pointwise(d))
        fast = (size_t)d->cin * ho * wo + wc + (size_t)CL_MAX(d->cin, d->cout) * 32;
    return need > fast ? need : fast;
}

/* outputs o in [*lo, *hi) satisfy 0 <= o*stride + off < n_in */
static void valid_range(int n_out, int stride, int off, int n_in, int *lo, int *hi)
{
    int l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int h = n_in - off <= 0 ? 0 : (n_in - 1 - off) / stride + 1;
    if (h > n_out)
        h = n_out;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* dx = (acc ? dx : 0) + (relu ? g * (x > 0) : g) over n values */
static void store_grad(float *restrict dx, const float *restrict g, const float *restrict x, long n,
                       int relu, int acc)
{
    if (relu && acc) {
        for (long i = 0; i < n; i++)
            dx[i] += x[i] > 0.f ? g[i] : 0.f;
    } else if (relu) {
        for (long i = 0; i < n; i++)
            dx[i] = x[i] > 0.f ? g[i] : 0.f;
    } else if (acc) {
        for (long i = 0; i < n; i++)
            dx[i] += g[i];
    } else {
        memcpy(dx, g, (size_t)n * sizeof *dx);
    }
}

/* dw[i] = sum over threads of part_t[i]; part_t starts `off` floats into
 * each thread's scratch */
static void reduce_partials(cpu_state *s, size_t off, long count, float *dw)
{
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (long i = 0; i < count; i++) {
        float v = 0.f;
        for (int t = 0; t < s->threads; t++)
            v += s->scratch[t][off + (size_t)i];
        dw[i] = v;
    }
}

/* ---- generic: im2col + GEMM ------------------------------------------- */

/* col[ci][ky][kx][oy][ox] = relu?(x[ci][oy0 + oy*sh - ph + ky*dh][ox0 + ...]) */
static void im2col(const float *x, int cin_g, int h, int w, const conv_desc *d, int ho, int wo,
                   float *col)
{
    int he = h - d->oy, we = w - d->ox;
    for (int ci = 0; ci < cin_g; ci++) {
        const float *xp = x + (long)ci * h * w + (long)d->oy * w + d->ox;
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                float *row = col + (((long)ci * d->kh + ky) * d->kw + kx) * ho * wo;
                int xoff = kx * d->dw - d->pw, lo, hi;
                valid_range(wo, d->sw, xoff, we, &lo, &hi);
                for (int oy = 0; oy < ho; oy++) {
                    int iy = oy * d->sh - d->ph + ky * d->dh;
                    float *r = row + (long)oy * wo;
                    if (iy < 0 || iy >= he) {
                        memset(r, 0, (size_t)wo * sizeof *r);
                        continue;
                    }
                    const float *xr = xp + (long)iy * w + xoff;
                    for (int ox = 0; ox < lo; ox++)
                        r[ox] = 0.f;
                    if (d->relu_in)
                        for (int ox = lo; ox < hi; ox++) {
                            float v = xr[ox * d->sw];
                            r[ox] = v > 0.f ? v : 0.f;
                        }
                    else
                        for (int ox = lo; ox < hi; ox++)
                            r[ox] = xr[ox * d->sw];
                    for (int ox = hi; ox < wo; ox++)
                        r[ox] = 0.f;
                }
            }
    }
}

/* x[...] += col[...]: the adjoint of im2col (without the ReLU) */
static void col2im(const float *col, int cin_g, int h, int w, const conv_desc *d, int ho, int wo,
                   float *x)
{
    int he = h - d->oy, we = w - d->ox;
    for (int ci = 0; ci < cin_g; ci++) {
        float *xp = x + (long)ci * h * w + (long)d->oy * w + d->ox;
        for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
                const float *row = col + (((long)ci * d->kh + ky) * d->kw + kx) * ho * wo;
                int xoff = kx * d->dw - d->pw, lo, hi;
                valid_range(wo, d->sw, xoff, we, &lo, &hi);
                for (int oy = 0; oy < ho; oy++) {
                    int iy = oy * d->sh - d->ph + ky * d->dh;
                    if (iy < 0 || iy >= he)
                        continue;
                    const float *r = row + (long)oy * wo;
                    float *xr = xp + (long)iy * w + xoff;
                    for (int ox = lo; ox < hi; ox++)
                        xr[ox * d->sw] += r[ox];
                }
            }
    }
}

static void generic_fwd(cpu_state *s, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    int g_n = d->groups, cin_g = d->cin / g_n, cout_g = d->cout / g_n;
    int k = cin_g * d->kh * d->kw, hw = x.h * x.w, howo = y.h * y.w;
#pragma omp parallel num_threads(s->threads)
    {
        float *col = s->scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int g = 0; g < g_n; g++) {
                im2col(x.d + n * x.ns + (long)g * cin_g * hw, cin_g, x.h, x.w, d, y.h, y.w, col);
                cpu_gemm(0, 0, cout_g, howo, k, 1.f, w + (long)g * cout_g * k, k, col, howo,
                         acc ? 1.f : 0.f, y.d + n * y.ns + (long)g * cout_g * howo, howo);
            }
    }
}

static void generic_bwd_data(cpu_state *s, const conv_desc *d, tview x, const float *w, tview dy,
                             tview dx, int acc)
{
    int g_n = d->groups, cin_g = d->cin / g_n, cout_g = d->cout / g_n;
    int k = cin_g * d->kh * d->kw, hw = x.h * x.w, howo = dy.h * dy.w;
    size_t colsz = (size_t)k * howo;
#pragma omp parallel num_threads(s->threads)
    {
        float *col = s->scratch[omp_get_thread_num()];
        float *tmp = col + colsz;
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int g = 0; g < g_n; g++) {
                long xo = (long)g * cin_g * hw;
                cpu_gemm(1, 0, k, howo, cout_g, 1.f, w + (long)g * cout_g * k, k,
                         dy.d + n * dy.ns + (long)g * cout_g * howo, howo, 0.f, col, howo);
                memset(tmp, 0, (size_t)cin_g * hw * sizeof *tmp);
                col2im(col, cin_g, x.h, x.w, d, dy.h, dy.w, tmp);
                store_grad(dx.d + n * dx.ns + xo, tmp, x.d + n * x.ns + xo, (long)cin_g * hw,
                           d->relu_in, acc);
            }
    }
}

static void generic_bwd_filter(cpu_state *s, const conv_desc *d, tview x, tview dy, float *dw)
{
    int g_n = d->groups, cin_g = d->cin / g_n, cout_g = d->cout / g_n;
    int k = cin_g * d->kh * d->kw, hw = x.h * x.w, howo = dy.h * dy.w;
    size_t colsz = (size_t)k * howo;
    long wc = conv_weight_count(d);
#pragma omp parallel num_threads(s->threads)
    {
        float *col = s->scratch[omp_get_thread_num()];
        float *part = col + colsz;
        memset(part, 0, (size_t)wc * sizeof *part);
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int g = 0; g < g_n; g++) {
                im2col(x.d + n * x.ns + (long)g * cin_g * hw, cin_g, x.h, x.w, d, dy.h, dy.w, col);
                cpu_gemm(0, 1, cout_g, k, howo, 1.f, dy.d + n * dy.ns + (long)g * cout_g * howo,
                         howo, col, howo, 1.f, part + (long)g * cout_g * k, k);
            }
    }
    reduce_partials(s, colsz, wc, dw);
}

/* ---- depthwise --------------------------------------------------------- */

/* P[hp][wp] = the (cropped) plane x, zero-padded by (ph, pw), through ReLU */
static void pad_plane(const float *x, int h, int w, const conv_desc *d, float *p)
{
    int he = h - d->oy, we = w - d->ox;
    int hp = he + 2 * d->ph, wp = we + 2 * d->pw;
    memset(p, 0, (size_t)d->ph * wp * sizeof *p);
    for (int iy = 0; iy < he; iy++) {
        float *row = p + (long)(iy + d->ph) * wp;
        const float *xr = x + (long)(iy + d->oy) * w + d->ox;
        for (int j = 0; j < d->pw; j++)
            row[j] = row[d->pw + we + j] = 0.f;
        if (d->relu_in)
            for (int j = 0; j < we; j++)
                row[d->pw + j] = xr[j] > 0.f ? xr[j] : 0.f;
        else
            memcpy(row + d->pw, xr, (size_t)we * sizeof *row);
    }
    memset(p + (long)(he + d->ph) * wp, 0, (size_t)(hp - he - d->ph) * wp * sizeof *p);
}

static void dw_fwd(cpu_state *s, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    int c_n = d->cin, ho = y.h, wo = y.w, kk = d->kh * d->kw;
    int wp = x.w - d->ox + 2 * d->pw, sw = d->sw;
    long hw = (long)x.h * x.w, howo = (long)ho * wo;
#pragma omp parallel num_threads(s->threads)
    {
        float *p = s->scratch[omp_get_thread_num()];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < c_n; c++) {
                const float *wk = w + (long)c * kk;
                float *yp = y.d + n * y.ns + c * howo;
                pad_plane(x.d + n * x.ns + c * hw, x.h, x.w, d, p);
                if (!acc)
                    memset(yp, 0, (size_t)howo * sizeof *yp);
                for (int oy = 0; oy < ho; oy++) {
                    float *restrict r = yp + (long)oy * wo;
                    for (int ky = 0; ky < d->kh; ky++) {
                        const float *prow = p + (long)(oy * d->sh + ky * d->dh) * wp;
                        for (int kx = 0; kx < d->kw; kx++) {
                            const float *restrict src = prow + kx * d->dw;
                            float wv = wk[ky * d->kw + kx];
                            if (sw == 1)
                                for (int ox = 0; ox < wo; ox++)
                                    r[ox] += wv * src[ox];
                            else
                                for (int ox = 0; ox < wo; ox++)
                                    r[ox] += wv * src[ox * sw];
                        }
                    }
                }
            }
    }
}

static void dw_bwd_data(cpu_state *s, const conv_desc *d, tview x, const float *w, tview dy,
                        tview dx, int acc)
{
    int c_n = d->cin, ho = dy.h, wo = dy.w, kk = d->kh * d->kw;
    int he = x.h - d->oy, we = x.w - d->ox, hp = he + 2 * d->ph, wp = we + 2 * d->pw, sw = d->sw;
    long hw = (long)x.h * x.w, howo = (long)ho * wo;
#pragma omp parallel num_threads(s->threads)
    {
        float *g = s->scratch[omp_get_thread_num()];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < c_n; c++) {
                const float *wk = w + (long)c * kk;
                const float *dyp = dy.d + n * dy.ns + c * howo;
                const float *xp = x.d + n * x.ns + c * hw;
                float *dxp = dx.d + n * dx.ns + c * hw;
                memset(g, 0, (size_t)hp * wp * sizeof *g);
                for (int oy = 0; oy < ho; oy++) {
                    const float *restrict dr = dyp + (long)oy * wo;
                    for (int ky = 0; ky < d->kh; ky++) {
                        float *grow = g + (long)(oy * d->sh + ky * d->dh) * wp;
                        for (int kx = 0; kx < d->kw; kx++) {
                            float *restrict dst = grow + kx * d->dw;
                            float wv = wk[ky * d->kw + kx];
                            if (sw == 1)
                                for (int ox = 0; ox < wo; ox++)
                                    dst[ox] += wv * dr[ox];
                            else
                                for (int ox = 0; ox < wo; ox++)
                                    dst[ox * sw] += wv * dr[ox];
                        }
                    }
                }
                /* rows and columns before the crop origin get no gradient */
                for (int iy = 0; iy < x.h; iy++) {
                    float *dxr = dxp + (long)iy * x.w;
                    if (!acc)
                        for (int ix = 0; ix < d->ox; ix++)
                            dxr[ix] = 0.f;
                    if (iy < d->oy) {
                        if (!acc)
                            memset(dxr, 0, (size_t)x.w * sizeof *dxr);
                        continue;
                    }
                    store_grad(dxr + d->ox, g + (long)(iy - d->oy + d->ph) * wp + d->pw,
                               xp + (long)iy * x.w + d->ox, we, d->relu_in, acc);
                }
            }
    }
}

static void dw_bwd_filter(cpu_state *s, const conv_desc *d, tview x, tview dy, float *dw)
{
    int c_n = d->cin, ho = dy.h, wo = dy.w, kk = d->kh * d->kw;
    int wp = x.w - d->ox + 2 * d->pw, sw = d->sw;
    long hw = (long)x.h * x.w, howo = (long)ho * wo;
#pragma omp parallel num_threads(s->threads)
    {
        float *p = s->scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int c = 0; c < c_n; c++) {
            double sum[64 * 64];
            for (int k = 0; k < kk; k++)
                sum[k] = 0.0;
            for (int n = 0; n < x.n; n++) {
                const float *dyp = dy.d + n * dy.ns + c * howo;
                pad_plane(x.d + n * x.ns + c * hw, x.h, x.w, d, p);
                for (int ky = 0; ky < d->kh; ky++)
                    for (int kx = 0; kx < d->kw; kx++) {
                        float acc = 0.f;
                        for (int oy = 0; oy < ho; oy++) {
                            const float *src = p + (long)(oy * d->sh + ky * d->dh) * wp + kx * d->dw;
                            const float *dr = dyp + (long)oy * wo;
                            if (sw == 1) {
#pragma omp simd reduction(+ : acc)
                                for (int ox = 0; ox < wo; ox++)
                                    acc += dr[ox] * src[ox];
                            } else {
#pragma omp simd reduction(+ : acc)
                                for (int ox = 0; ox < wo; ox++)
                                    acc += dr[ox] * src[ox * sw];
                            }
                        }
                        sum[ky * d->kw + kx] += acc;
                    }
            }
            for (int k = 0; k < kk; k++)
                dw[(long)c * kk + k] = (float)sum[k];
        }
    }
}

/* ---- pointwise ---------------------------------------------------------- */

/* xs[ci][oy][ox] = relu?(x[ci][oy0 + oy*sh][ox0 + ox*sw]) */
static void pw_gather(const float *x, int cin, int h, int w, const conv_desc *d, int ho, int wo,
                      float *xs)
{
    for (int ci = 0; ci < cin; ci++)
        for (int oy = 0; oy < ho; oy++) {
            const float *xr = x + ((long)ci * h + d->oy + (long)oy * d->sh) * w + d->ox;
            float *r = xs + ((long)ci * ho + oy) * wo;
            if (d->relu_in)
                for (int ox = 0; ox < wo; ox++) {
                    float v = xr[ox * d->sw];
                    r[ox] = v > 0.f ? v : 0.f;
                }
            else
                for (int ox = 0; ox < wo; ox++)
                    r[ox] = xr[ox * d->sw];
        }
}

/* the image as the GEMM reads it: in place, or gathered into `buf` */
static const float *pw_input(const conv_desc *d, const float *x, int h, int w, int ho, int wo,
                             float *buf)
{
    if (is_pointwise_direct(d) && !d->relu_in)
        return x;
    pw_gather(x, d->cin, h, w, d, ho, wo, buf);
    return buf;
}

/* Unstrided pointwise convs reading through ReLU use the fused kernel
 * (pwgemm.c) for the forward: no ReLU copy.  Without ReLU, OpenBLAS reads
 * the image in place and is faster.  (For the data gradient the fused
 * kernel with its mask epilogue measured slower inside the network than a
 * GEMM into scratch and one masked pass, though faster alone.) */
static int pw_fused(const conv_desc *d) { return is_pointwise_direct(d) && d->relu_in; }

static void pw_fwd(cpu_state *s, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    int howo = y.h * y.w;
    size_t bufsz = (size_t)d->cin * howo + (size_t)conv_weight_count(d);
#pragma omp parallel num_threads(s->threads)
    {
        float *buf = s->scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++) {
            const float *xs;
            if (pw_fused(d)) {
                cpu_pw_gemm(d->cout, howo, d->cin, w, d->cin, 1, x.d + n * x.ns, howo, 1,
                            y.d + n * y.ns, howo, NULL, 0, acc, buf + bufsz);
                continue;
            }
            xs = pw_input(d, x.d + n * x.ns, x.h, x.w, y.h, y.w, buf);
            cpu_gemm(0, 0, d->cout, howo, d->cin, 1.f, w, d->cin, xs, howo, acc ? 1.f : 0.f,
                     y.d + n * y.ns, howo);
        }
    }
}

static void pw_bwd_data(cpu_state *s, const conv_desc *d, tview x, const float *w, tview dy,
                        tview dx, int acc)
{
    int howo = dy.h * dy.w, hw = x.h * x.w, direct = is_pointwise_direct(d);
#pragma omp parallel num_threads(s->threads)
    {
        float *t = s->scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++) {
            const float *dyi = dy.d + n * dy.ns, *xi = x.d + n * x.ns;
            float *dxi = dx.d + n * dx.ns;

            if (direct && !d->relu_in) {
                cpu_gemm(1, 0, d->cin, hw, d->cout, 1.f, w, d->cin, dyi, howo, acc ? 1.f : 0.f,
                         dxi, hw);
                continue;
            }
            cpu_gemm(1, 0, d->cin, howo, d->cout, 1.f, w, d->cin, dyi, howo, 0.f, t, howo);
            if (direct) {
                store_grad(dxi, t, xi, (long)d->cin * hw, 1, acc);
                continue;
            }
            /* strided: scatter back to the sampled positions */
            if (!acc)
                memset(dxi, 0, (size_t)d->cin * hw * sizeof *dxi);
            for (int ci = 0; ci < d->cin; ci++)
                for (int oy = 0; oy < dy.h; oy++) {
                    long base = ((long)ci * x.h + d->oy + (long)oy * d->sh) * x.w + d->ox;
                    const float *tr = t + ((long)ci * dy.h + oy) * dy.w;
                    for (int ox = 0; ox < dy.w; ox++) {
                        long at = base + (long)ox * d->sw;
                        if (!d->relu_in || xi[at] > 0.f)
                            dxi[at] += tr[ox];
                    }
                }
        }
    }
}

static void pw_bwd_filter(cpu_state *s, const conv_desc *d, tview x, tview dy, float *dw)
{
    int howo = dy.h * dy.w;
    size_t bufsz = (size_t)d->cin * howo;
    long wc = conv_weight_count(d);
#pragma omp parallel num_threads(s->threads)
    {
        float *buf = s->scratch[omp_get_thread_num()];
        float *part = buf + bufsz;
        memset(part, 0, (size_t)wc * sizeof *part);
#pragma omp for schedule(static)
        for (int n = 0; n < x.n; n++) {
            const float *xs = pw_input(d, x.d + n * x.ns, x.h, x.w, dy.h, dy.w, buf);
            cpu_gemm(0, 1, d->cout, d->cin, howo, 1.f, dy.d + n * dy.ns, howo, xs, howo, 1.f, part,
                     d->cin);
        }
    }
    reduce_partials(s, bufsz, wc, dw);
}

/* ---- dispatch ------------------------------------------------------------ */

/* The generic path on demand: the tests hold the fast paths to it, and
 * CELLAR_CONV=generic in the environment runs a whole network on it. */
static int force_generic = -1;

void cpu_conv_set_generic(int on) { force_generic = on; }

static int use_generic(void)
{
    if (force_generic < 0) {
        const char *e = getenv("CELLAR_CONV");
        force_generic = e && !strcmp(e, "generic");
    }
    return force_generic;
}

void cpu_conv_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    cpu_state *s = cpu_of(be);
    if (!use_generic() && cpu_dw_fast(d))
        cpu_dw_fwd(be, d, x, w, y, acc);
    else if (!use_generic() && is_depthwise(d) && d->kh * d->kw <= 64 * 64)
        dw_fwd(s, d, x, w, y, acc);
    else if (!use_generic() && is_pointwise(d))
        pw_fwd(s, d, x, w, y, acc);
    else
        generic_fwd(s, d, x, w, y, acc);
}

void cpu_conv_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                       tview dx, int acc)
{
    cpu_state *s = cpu_of(be);
    if (!use_generic() && cpu_dw_fast(d))
        cpu_dw_bwd_data(be, d, x, w, dy, dx, acc);
    else if (!use_generic() && is_depthwise(d) && d->kh * d->kw <= 64 * 64)
        dw_bwd_data(s, d, x, w, dy, dx, acc);
    else if (!use_generic() && is_pointwise(d))
        pw_bwd_data(s, d, x, w, dy, dx, acc);
    else
        generic_bwd_data(s, d, x, w, dy, dx, acc);
}

void cpu_conv_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw)
{
    cpu_state *s = cpu_of(be);
    if (!use_generic() && cpu_dw_fast(d))
        cpu_dw_bwd_filter(be, d, x, dy, dw);
    else if (!use_generic() && is_depthwise(d) && d->kh * d->kw <= 64 * 64)
        dw_bwd_filter(s, d, x, dy, dw);
    else if (!use_generic() && is_pointwise(d))
        pw_bwd_filter(s, d, x, dy, dw);
    else
        generic_bwd_filter(s, d, x, dy, dw);
}

void cpu_conv_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy, tview dx,
                  int need_dx, int acc, float *dw)
{
    if (!use_generic() && cpu_dw_fast(d)) {
        cpu_dw_bwd(be, d, x, w, dy, dx, need_dx, acc, dw);
        return;
    }
    if (need_dx)
        cpu_conv_bwd_data(be, d, x, w, dy, dx, acc);
    cpu_conv_bwd_filter(be, d, x, dy, dw);
}
