/* pool_cpu.c - max and average pooling on the CPU, one channel plane at a
 * time.  Average pooling divides by the number of window cells inside the
 * image (padding excluded); max pooling treats padding as -infinity.  The
 * max backward recomputes each window's arg-max from x instead of storing
 * indices: x is kept anyway, and a forward that adds into a shared output
 * (acc) leaves no per-path result to compare against. */
#include "backend/cpu/cpu.h"

#include <float.h>
#include <string.h>

size_t cpu_pool_scratch(const pool_desc *d, int h, int w)
{
    (void)d;
    (void)h;
    (void)w;
    return 0;
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
#pragma omp parallel for collapse(2) num_threads(s->threads) schedule(static)
    for (int n = 0; n < x.n; n++)
        for (int c = 0; c < x.c; c++) {
            float sc = sscale ? sscale[n] : 1.f;
            if (acc && sc == 0.f)
                continue;
            plane_fwd(d, x.d + n * x.ns + c * hw, x.h, x.w, y.d + n * y.ns + c * howo, y.h, y.w,
                      acc, sc);
        }
}

void cpu_pool_bwd(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                  const float *sscale)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&x), howo = tview_plane(&dy);
#pragma omp parallel for collapse(2) num_threads(s->threads) schedule(static)
    for (int n = 0; n < x.n; n++)
        for (int c = 0; c < x.c; c++) {
            float sc = sscale ? sscale[n] : 1.f;
            float *dxp = dx.d + n * dx.ns + c * hw;
            if (!acc)
                memset(dxp, 0, (size_t)hw * sizeof *dxp);
            if (sc == 0.f)
                continue;
            plane_bwd(d, x.d + n * x.ns + c * hw, x.h, x.w, dy.d + n * dy.ns + c * howo, dy.h,
                      dy.w, sc, dxp);
        }
}
