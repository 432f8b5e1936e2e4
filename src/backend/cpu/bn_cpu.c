/* bn_cpu.c - batch normalisation on the CPU.  Work is split over channels:
 * each channel's statistics need all images, and one channel of a small
 * cell (n x h x w values) stays in cache across the passes over it. */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <string.h>

/* (x - mean) two-pass over the channel for numerical safety */
static void channel_stats(tview x, int c, double *mean, double *var)
{
    long hw = tview_plane(&x);
    double s = 0.0, q = 0.0;
    for (int n = 0; n < x.n; n++) {
        const float *p = x.d + n * x.ns + c * hw;
        float a = 0.f;
#pragma omp simd reduction(+ : a)
        for (long i = 0; i < hw; i++)
            a += p[i];
        s += a;
    }
    s /= (double)x.n * hw;
    for (int n = 0; n < x.n; n++) {
        const float *p = x.d + n * x.ns + c * hw;
        float m = (float)s, a = 0.f;
#pragma omp simd reduction(+ : a)
        for (long i = 0; i < hw; i++)
            a += (p[i] - m) * (p[i] - m);
        q += a;
    }
    *mean = s;
    *var = q / ((double)x.n * hw);
}

/* y = (acc ? y : 0) + sc[n] * (a*x + b) over channel c; then, with
 * y2.d, y2 = (acc2 ? y2 : 0) + y */
static void channel_apply(tview x, tview y, int c, float a, float b, int acc, const float *sscale,
                          tview y2, int acc2)
{
    long hw = tview_plane(&x);
    for (int n = 0; n < x.n; n++) {
        const float *restrict p = x.d + n * x.ns + c * hw;
        float *restrict q = y.d + n * y.ns + c * hw;
        float sc = sscale ? sscale[n] : 1.f, sa = sc * a, sb = sc * b;
        if (acc) {
            if (sc != 0.f)
                for (long i = 0; i < hw; i++)
                    q[i] += sa * p[i] + sb;
        } else {
            for (long i = 0; i < hw; i++)
                q[i] = sa * p[i] + sb;
        }
        if (y2.d) {
            float *restrict q2 = y2.d + n * y2.ns + c * hw;
            if (acc2)
                for (long i = 0; i < hw; i++)
                    q2[i] += q[i];
            else
                memcpy(q2, q, (size_t)hw * sizeof *q2);
        }
    }
}

void cpu_bn_fwd_train(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                      const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                      float *run_var, tview y, int acc, const float *sscale, tview y2,
                      int acc2)
{
    cpu_state *s = cpu_of(be);
    double m_count = (double)x.n * x.h * x.w;
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int c = 0; c < x.c; c++) {
        double mean, var;
        float rstd, a;
        channel_stats(x, c, &mean, &var);
        rstd = (float)(1.0 / sqrt(var + d->eps));
        save_mean[c] = (float)mean;
        save_rstd[c] = rstd;
        if (run_mean) {
            double unbiased = m_count > 1 ? var * m_count / (m_count - 1) : var;
            run_mean[c] = (float)((1.0 - d->momentum) * run_mean[c] + d->momentum * mean);
            run_var[c] = (float)((1.0 - d->momentum) * run_var[c] + d->momentum * unbiased);
        }
        a = gamma[c] * rstd;
        channel_apply(x, y, c, a, beta[c] - (float)mean * a, acc, sscale, y2, acc2);
    }
}

void cpu_bn_fwd_eval(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                     const float *beta, const float *run_mean, const float *run_var, tview y,
                     int acc, tview y2, int acc2)
{
    cpu_state *s = cpu_of(be);
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int c = 0; c < x.c; c++) {
        float a = gamma[c] / sqrtf(run_var[c] + d->eps);
        channel_apply(x, y, c, a, beta[c] - run_mean[c] * a, acc, NULL, y2, acc2);
    }
}

/* over a plane: *a = sum g', *b = sum g' (p - mean), g' = g + g2 (g2
 * where given) */
static void plane_sums(const float *restrict p, const float *restrict g,
                       const float *restrict g2, long hw, float mean, float *a, float *b)
{
    float sa = 0.f, sb = 0.f;
    if (g2) {
#pragma omp simd reduction(+ : sa, sb)
        for (long i = 0; i < hw; i++) {
            float v = g[i] + g2[i];
            sa += v;
            sb += v * (p[i] - mean);
        }
    } else {
#pragma omp simd reduction(+ : sa, sb)
        for (long i = 0; i < hw; i++) {
            sa += g[i];
            sb += g[i] * (p[i] - mean);
        }
    }
    *a = sa;
    *b = sb;
}

/* over a plane: q (+)= k (sc g' - mdy - (p - mean) mdyx), g' as above */
static void plane_dx(const float *restrict p, const float *restrict g, const float *restrict g2,
                     float *restrict q, long hw, int acc, float sc, float k, float mean,
                     float mdy, float mdyx)
{
    if (g2 && acc)
        for (long i = 0; i < hw; i++)
            q[i] += k * (sc * (g[i] + g2[i]) - mdy - (p[i] - mean) * mdyx);
    else if (g2)
        for (long i = 0; i < hw; i++)
            q[i] = k * (sc * (g[i] + g2[i]) - mdy - (p[i] - mean) * mdyx);
    else if (acc)
        for (long i = 0; i < hw; i++)
            q[i] += k * (sc * g[i] - mdy - (p[i] - mean) * mdyx);
    else
        for (long i = 0; i < hw; i++)
            q[i] = k * (sc * g[i] - mdy - (p[i] - mean) * mdyx);
}

/* With dy' = sc[n] * (dy + dy2) (dy2 where given) and xhat = (x - mean) * rstd:
 *   dbeta = sum dy',  dgamma = sum dy' xhat,
 *   dx = gamma rstd (dy' - dbeta/M - xhat dgamma/M). */
void cpu_bn_bwd(cl_backend *be, tview x, tview dy, tview dy2, const float *gamma,
                const float *save_mean, const float *save_rstd, const float *sscale, tview dx,
                int acc, float *dgamma, float *dbeta)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&x);
    double m_count = (double)x.n * hw;
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int c = 0; c < x.c; c++) {
        float mean = save_mean[c], rstd = save_rstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < x.n; n++) {
            float sc = sscale ? sscale[n] : 1.f, a, b;
            if (sc == 0.f)
                continue;
            plane_sums(x.d + n * x.ns + c * hw, dy.d + n * dy.ns + c * hw,
                       dy2.d ? dy2.d + n * dy2.ns + c * hw : NULL, hw, mean, &a, &b);
            sdy += (double)sc * a;
            sdyx += (double)sc * b;
        }
        dbeta[c] = (float)sdy;
        dgamma[c] = (float)(sdyx * rstd);
        {
            float k = gamma[c] * rstd;
            float mdy = (float)(sdy / m_count);
            float mdyx = (float)(sdyx * rstd / m_count) * rstd; /* times (x - mean) = xhat/rstd */
            for (int n = 0; n < x.n; n++)
                plane_dx(x.d + n * x.ns + c * hw, dy.d + n * dy.ns + c * hw,
                         dy2.d ? dy2.d + n * dy2.ns + c * hw : NULL, dx.d + n * dx.ns + c * hw,
                         hw, acc, sscale ? sscale[n] : 1.f, k, mean, mdy, mdyx);
        }
    }
}
