/* pool_cpu.c - max and average pooling on the CPU, one channel plane at a
 * time.  Average pooling divides by the number of window cells inside the
 * image (padding excluded); max pooling treats padding as -infinity.  The
 * max backward recomputes each window's arg-max from x instead of storing
 * indices: x is kept anyway, and a forward that adds into a shared output
 * (acc) leaves no per-path result to compare against.  Ties go to the
 * first maximum in scan order, as in PyTorch.
 *
 * Windows of 3, 5 or 7 with stride 1 or 2 and padding k/2 (the NASNet
 * pools) run vectorised over padded planes (planes.c): a horizontal pass
 * then a vertical one for the forward, vector scatters into padded
 * gradient planes for the backward (stride-1 average pooling: the
 * forward's passes again, see avg_bwd_stride1).  Other shapes take the
 * scalar loops. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/simd.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

static int pool_fast(const pool_desc *d)
{
    return (d->k == 3 || d->k == 5 || d->k == 7) && (d->s == 1 || d->s == 2) && d->p == d->k / 2;
}

static int round_vl(int n) { return (n + VL - 1) / VL * VL; }

size_t cpu_pool_scratch(const pool_desc *d, int h, int w)
{
    if (!pool_fast(d))
        return 0;
    /* input planes (and halves), gradient planes (and halves), the
     * horizontal pass, 1/count per column */
    return 4 * cpu_plane_floats(h, w, d->p) + (size_t)(h + 2 * d->p) * round_vl(w) +
           (size_t)round_vl(w) + CPU_SLACK;
}

/* cells of window o that fall inside [0, n) */
static int inside(int o, const pool_desc *d, int n)
{
    int a = o * d->s - d->p, b = a + d->k;
    return (b > n ? n : b) - (a < 0 ? 0 : a);
}

typedef struct pool_bufs {
    float *planes, *grad, *hbuf, *rx;
    size_t pf;
} pool_bufs;

/* one thread's scratch, laid out as cpu_pool_scratch counts it */
static pool_bufs carve(float *scratch, int h, int w, const pool_desc *d)
{
    pool_bufs b;
    b.pf = cpu_plane_floats(h, w, d->p);
    b.planes = scratch;
    b.grad = scratch + 2 * b.pf;
    b.hbuf = b.grad + 2 * b.pf;
    b.rx = b.hbuf + (size_t)(h + 2 * d->p) * round_vl(w);
    return b;
}

/* y (+)= sc * the pooled x; with plain set, an average pool's window sums
 * are not divided by their cell counts (the stride-1 backward below) */
static void fast_fwd_plane(const pool_desc *d, const float *x, int h, int w, float *y, int ho,
                           int wo, int acc, float sc, int plain, pool_bufs *b)
{
    int k = d->k, s = d->s, mx = d->kind == POOL_MAX, hp = h + 2 * d->p, hs = round_vl(wo);
    cpu_planes q = cpu_make_planes(x, h, w, d->p, mx ? -INFINITY : 0.f, 0, s, b->planes,
                                   b->planes + b->pf);
    const float *pl[7];
    int off[7];
    for (int kx = 0; kx < k; kx++) {
        pl[kx] = s == 1 ? q.pl[0] : q.pl[kx & 1];
        off[kx] = s == 1 ? kx : kx >> 1;
    }
    /* horizontal: hbuf[r][ox] = op over kx of X[r][ox*s + kx] */
    for (int r = 0; r < hp; r++)
        for (int x0 = 0; x0 < wo; x0 += VL) {
            long at = (long)r * q.rs + x0;
            vf v = vload(pl[0] + at + off[0]);
            for (int kx = 1; kx < k; kx++)
                v = mx ? vmax(v, vload(pl[kx] + at + off[kx])) : v + vload(pl[kx] + at + off[kx]);
            vstore(b->hbuf + (long)r * hs + x0, v);
        }
    if (!mx)
        for (int ox = 0; ox < hs; ox++)
            b->rx[ox] = ox >= wo ? 0.f : plain ? 1.f : 1.f / (float)inside(ox, d, w);
    /* vertical, then scale and store */
    for (int oy = 0; oy < ho; oy++) {
        float ry = mx || plain ? sc : sc / (float)inside(oy, d, h);
        float *yr = y + (long)oy * wo;
        for (int x0 = 0; x0 < wo; x0 += VL) {
            int n = wo - x0 < VL ? wo - x0 : VL;
            const float *hc = b->hbuf + (long)oy * s * hs + x0;
            vf v = vload(hc);
            for (int ky = 1; ky < k; ky++)
                v = mx ? vmax(v, vload(hc + (long)ky * hs)) : v + vload(hc + (long)ky * hs);
            v = mx ? v * ry : v * vload(b->rx + x0) * ry;
            if (acc)
                v += n == VL ? vload(yr + x0) : vload_part(yr + x0, n);
            if (n == VL)
                vstore(yr + x0, v);
            else
                vstore_part(yr + x0, v, n);
        }
    }
}

/* Average pooling with stride 1 and padding k/2 is a box sum whose
 * transpose is the same box sum: dx[i][j] is the sum of g = dy / counts
 * over the k x k window around (i, j), zero outside the image.  So the
 * backward is the forward's two passes over g, with no scatter. */
static void avg_bwd_stride1(const pool_desc *d, int h, int w, const float *dy, float sc, float *dx,
                            int acc, pool_bufs *b)
{
    float *g = b->grad;   /* h*w fits: the gradient planes are larger */
    for (int ox = 0; ox < w; ox++)
        b->rx[ox] = 1.f / (float)inside(ox, d, w);
    for (int oy = 0; oy < h; oy++) {
        float ry = 1.f / (float)inside(oy, d, h);
        const float *dr = dy + (long)oy * w;
        float *gr = g + (long)oy * w;
        for (int ox = 0; ox < w; ox++)
            gr[ox] = dr[ox] * b->rx[ox] * ry;
    }
    fast_fwd_plane(d, g, h, w, dx, h, w, acc, sc, 1, b);
}

static void fast_bwd_plane(const pool_desc *d, const float *x, int h, int w, const float *dy,
                           int ho, int wo, float sc, float *dx, int acc, pool_bufs *b)
{
    int k = d->k, s = d->s, p = d->p, mx = d->kind == POOL_MAX, rs;
    float *odd, *even = cpu_grad_planes(h, w, p, s, b->grad, &rs, &odd);
    float *g[2] = {even, odd};
    cpu_planes q = {{NULL, NULL}, 0};
    const float *pl[7];
    int off[7];
    if (mx)
        q = cpu_make_planes(x, h, w, p, -INFINITY, 0, s, b->planes, b->planes + b->pf);
    for (int kx = 0; kx < k; kx++) {
        pl[kx] = mx ? (s == 1 ? q.pl[0] : q.pl[kx & 1]) : NULL;
        off[kx] = s == 1 ? kx : kx >> 1;
    }
    for (int ox = 0; ox < round_vl(wo); ox++)
        b->rx[ox] = ox < wo ? 1.f / (float)inside(ox, d, w) : 0.f;
    for (int oy = 0; oy < ho; oy++) {
        float ry = mx ? sc : sc / (float)inside(oy, d, h);
        for (int x0 = 0; x0 < wo; x0 += VL) {
            int n = wo - x0 < VL ? wo - x0 : VL;
            const float *dr = dy + (long)oy * wo + x0;
            vf gv = (n == VL ? vload(dr) : vload_part(dr, n)) * ry;
            if (!mx) {
                gv *= vload(b->rx + x0);
                for (int ky = 0; ky < k; ky++) {
                    long r = (long)(oy * s + ky) * rs + x0;
                    for (int kx = 0; kx < k; kx++) {
                        float *gp = (s == 1 ? g[0] : g[kx & 1]) + r + off[kx];
                        vstore(gp, vload(gp) + gv);
                    }
                }
            } else {
                /* the first maximum of each window takes the gradient */
                vf m = vsplat(-INFINITY);
                vi taken = {0};
                for (int ky = 0; ky < k; ky++) {
                    long r = (long)(oy * s + ky) * q.rs + x0;
                    for (int kx = 0; kx < k; kx++)
                        m = vmax(m, vload(pl[kx] + r + off[kx]));
                }
                for (int ky = 0; ky < k; ky++) {
                    long r = (long)(oy * s + ky) * q.rs + x0, rg = (long)(oy * s + ky) * rs + x0;
                    for (int kx = 0; kx < k; kx++) {
                        vi hit = (vload(pl[kx] + r + off[kx]) == m) & ~taken;
                        float *gp = (s == 1 ? g[0] : g[kx & 1]) + rg + off[kx];
                        taken |= hit;
                        vstore(gp, vload(gp) + vmask(gv, hit));
                    }
                }
            }
        }
    }
    cpu_crop_planes(even, odd, rs, s, h, w, p, NULL, dx, acc);
}

/* window rows [*lo, *hi) of output index o */
static inline void window(int o, const pool_desc *d, int n, int *lo, int *hi)
{
    int a = o * d->s - d->p, b = a + d->k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n ? n : b;
}

static void plane_fwd(const pool_desc *d, const float *x, int h, int w, float *y, int ho, int wo,
                      int acc, float sc)
{
    for (int oy = 0; oy < ho; oy++) {
        int y0, y1;
        window(oy, d, h, &y0, &y1);
        for (int ox = 0; ox < wo; ox++) {
            int x0, x1;
            float v;
            window(ox, d, w, &x0, &x1);
            if (d->kind == POOL_MAX) {
                v = -FLT_MAX;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        v = x[iy * w + ix] > v ? x[iy * w + ix] : v;
            } else {
                v = 0.f;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        v += x[iy * w + ix];
                v /= (float)((y1 - y0) * (x1 - x0));
            }
            if (acc)
                y[oy * wo + ox] += sc * v;
            else
                y[oy * wo + ox] = sc * v;
        }
    }
}

/* dx += the pooling's adjoint applied to sc * dy */
static void plane_bwd(const pool_desc *d, const float *x, int h, int w, const float *dy, int ho,
                      int wo, float sc, float *dx)
{
    for (int oy = 0; oy < ho; oy++) {
        int y0, y1;
        window(oy, d, h, &y0, &y1);
        for (int ox = 0; ox < wo; ox++) {
            int x0, x1;
            float g = sc * dy[oy * wo + ox];
            window(ox, d, w, &x0, &x1);
            if (d->kind == POOL_MAX) {
                int at = y0 * w + x0;
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        if (x[iy * w + ix] > x[at])
                            at = iy * w + ix;
                dx[at] += g;
            } else {
                g /= (float)((y1 - y0) * (x1 - x0));
                for (int iy = y0; iy < y1; iy++)
                    for (int ix = x0; ix < x1; ix++)
                        dx[iy * w + ix] += g;
            }
        }
    }
}

void cpu_pool_fwd(cl_backend *be, const pool_desc *d, tview x, tview y, int acc,
                  const float *sscale)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&x), howo = tview_plane(&y);
    int fast = pool_fast(d);
#pragma omp parallel num_threads(s->threads)
    {
        pool_bufs b = carve(s->scratch[omp_get_thread_num()], x.h, x.w, d);
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < x.c; c++) {
                float sc = sscale ? sscale[n] : 1.f;
                const float *xp = x.d + n * x.ns + c * hw;
                float *yp = y.d + n * y.ns + c * howo;
                if (acc && sc == 0.f)
                    continue;
                if (fast)
                    fast_fwd_plane(d, xp, x.h, x.w, yp, y.h, y.w, acc, sc, 0, &b);
                else
                    plane_fwd(d, xp, x.h, x.w, yp, y.h, y.w, acc, sc);
            }
    }
}

void cpu_pool_bwd(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                  const float *sscale)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&x), howo = tview_plane(&dy);
    int fast = pool_fast(d);
#pragma omp parallel num_threads(s->threads)
    {
        pool_bufs b = carve(s->scratch[omp_get_thread_num()], x.h, x.w, d);
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < x.c; c++) {
                float sc = sscale ? sscale[n] : 1.f;
                const float *xp = x.d + n * x.ns + c * hw, *dyp = dy.d + n * dy.ns + c * howo;
                float *dxp = dx.d + n * dx.ns + c * hw;
                if (sc == 0.f) {
                    if (!acc)
                        memset(dxp, 0, (size_t)hw * sizeof *dxp);
                } else if (fast && d->kind == POOL_AVG && d->s == 1) {
                    avg_bwd_stride1(d, x.h, x.w, dyp, sc, dxp, acc, &b);
                } else if (fast) {
                    fast_bwd_plane(d, xp, x.h, x.w, dyp, dy.h, dy.w, sc, dxp, acc, &b);
                } else {
                    if (!acc)
                        memset(dxp, 0, (size_t)hw * sizeof *dxp);
                    plane_bwd(d, xp, x.h, x.w, dyp, dy.h, dy.w, sc, dxp);
                }
            }
    }
}
