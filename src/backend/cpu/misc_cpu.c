/* misc_cpu.c - the small ops: identity paths, global average pooling, the
 * linear classifier, softmax cross-entropy and the SGD update. */
#include "backend/cpu/cpu.h"

#include <math.h>
#include <string.h>

void cpu_scale_copy(cl_backend *be, tview x, tview y, int acc, const float *sscale)
{
    cpu_state *s = cpu_of(be);
    long len = (long)x.c * x.h * x.w;
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int n = 0; n < x.n; n++) {
        const float *restrict p = x.d + n * x.ns;
        float *restrict q = y.d + n * y.ns;
        float sc = sscale ? sscale[n] : 1.f;
        if (acc)
            for (long i = 0; i < len; i++)
                q[i] += sc * p[i];
        else
            for (long i = 0; i < len; i++)
                q[i] = sc * p[i];
    }
}

void cpu_gap_fwd(cl_backend *be, tview x, tview y)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&x);
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int n = 0; n < x.n; n++)
        for (int c = 0; c < x.c; c++) {
            const float *p = x.d + n * x.ns + c * hw;
            float a = 0.f;
#pragma omp simd reduction(+ : a)
            for (long i = 0; i < hw; i++)
                a += p[i];
            y.d[n * y.ns + c] = a / (float)hw;
        }
}

void cpu_gap_bwd(cl_backend *be, tview dy, tview dx, int acc)
{
    cpu_state *s = cpu_of(be);
    long hw = tview_plane(&dx);
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int n = 0; n < dx.n; n++)
        for (int c = 0; c < dx.c; c++) {
            float g = dy.d[n * dy.ns + c] / (float)hw;
            float *q = dx.d + n * dx.ns + c * hw;
            if (acc)
                for (long i = 0; i < hw; i++)
                    q[i] += g;
            else
                for (long i = 0; i < hw; i++)
                    q[i] = g;
        }
}

void cpu_linear_fwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                    const float *b, float *y)
{
    (void)be;
    for (int i = 0; i < n; i++)
        memcpy(y + (long)i * m, b, (size_t)m * sizeof *y);
    cpu_gemm(0, 1, n, m, k, 1.f, x, k, w, k, 1.f, y, m);
}

void cpu_linear_bwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                    const float *dy, float *dx, int acc, float *dw, float *db)
{
    (void)be;
    if (dx)
        cpu_gemm(0, 0, n, k, m, 1.f, dy, m, w, k, acc ? 1.f : 0.f, dx, k);
    cpu_gemm(1, 0, m, k, n, 1.f, dy, m, x, k, 0.f, dw, k);
    for (int j = 0; j < m; j++) {
        float a = 0.f;
        for (int i = 0; i < n; i++)
            a += dy[(long)i * m + j];
        db[j] = a;
    }
}

void cpu_xent(cl_backend *be, int n, int m, const float *logits, const int *labels, float *loss,
              int *correct, float *dlogits, const step_ref *sr)
{
    double total = 0.0;
    int right = 0;
    (void)be;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (long)i * m;
        float zmax = z[0], sum = 0.f;
        int arg = 0;
        for (int j = 1; j < m; j++)
            if (z[j] > zmax) {
                zmax = z[j];
                arg = j;
            }
        for (int j = 0; j < m; j++)
            sum += expf(z[j] - zmax);
        total += (double)logf(sum) + zmax - z[labels[i]];
        right += arg == labels[i];
        if (dlogits) {
            float *g = dlogits + (long)i * m;
            for (int j = 0; j < m; j++)
                g[j] = (expf(z[j] - zmax) / sum - (j == labels[i] ? 1.f : 0.f)) / (float)n;
        }
    }
    if (sr) {
        long slot = (long)(*sr->step % sr->slots);
        loss += slot;
        correct += slot;
    }
    *loss = (float)(total / n);
    *correct = right;
}

void cpu_sgd(cl_backend *be, long count, float *p, const float *g, float *v, float lr, float mom,
             float wd, int first, const step_ref *sr)
{
    cpu_state *s = cpu_of(be);
    if (sr)
        lr = sr->lr[*sr->step];
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (long i = 0; i < count; i++) {
        float d = g[i] + wd * p[i];
        float u = first ? d : mom * v[i] + d;
        v[i] = u;
        p[i] -= lr * u;
    }
}

/* The batch of batch_desc: every output value is read from one source
 * pixel (or the zero border), so the pixel loop needs no scratch. */
void cpu_batch_gather(cl_backend *be, const batch_desc *d_in, const uint8_t *images,
                      const uint8_t *labels, const int *idx, int n, float *x, int *y,
                      const step_ref *sr)
{
    cpu_state *s = cpu_of(be);
    long plane = (long)d_in->h * d_in->w, img = d_in->c * plane;
    batch_desc dd = *d_in;
    const batch_desc *d = &dd;
    if (sr) {
        dd.step = (long)*sr->step;
        idx += (dd.step % sr->steps_per_epoch) * n;
    }
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int i = 0; i < n; i++) {
        const uint8_t *src = images + (long)idx[i] * img;
        float *dst = x + i * img;
        int dy = 0, dx = 0, flip = 0;
        if (d->pad > 0 || d->flip)
            batch_aug_draw(d, i, &dy, &dx, &flip);
        if (y)
            y[i] = labels[idx[i]];
        for (int ch = 0; ch < d->c; ch++) {
            float sd = d->std[ch] > 0.f ? d->std[ch] : 1.f;
            float sc = 1.f / (255.f * sd), sh = -d->mean[ch] / sd;
            const uint8_t *sp = src + ch * plane;
            float *dp = dst + ch * plane;
            for (int r = 0; r < d->h; r++) {
                int srow = r + dy;
                for (int c = 0; c < d->w; c++) {
                    int scol = (flip ? d->w - 1 - c : c) + dx;
                    dp[(long)r * d->w + c] = srow < 0 || srow >= d->h || scol < 0 || scol >= d->w
                                                 ? 0.f
                                                 : (float)sp[(long)srow * d->w + scol] * sc + sh;
                }
            }
        }
    }
}

void cpu_drop_draw(cl_backend *be, uint64_t seed, long step, float prob, long count,
                   const int *pairs, int n_sums, long row, float *scale, const step_ref *sr)
{
    (void)be;
    if (sr) {
        step = (long)*sr->step;
        prob = sr->drop[step];
    }
    for (long k = 0; k < count; k++)
        scale[k] = drop_draw_one(seed, step, k, prob);
    for (int j = 0; j < n_sums; j++)
        for (long i = 0; i < row; i++)
            scale[count + j * row + i] =
                scale[pairs[2 * j] * row + i] + scale[pairs[2 * j + 1] * row + i];
}

void cpu_step_next(cl_backend *be, const step_ref *sr)
{
    (void)be;
    ++*sr->step;
}
