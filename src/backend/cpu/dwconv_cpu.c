/* dwconv_cpu.c - vectorised depthwise convolution for the shapes the
 * NASNet space uses: square K in {3, 5, 7}, stride 1 or 2, dilation 1 or
 * 2, "same" padding d*(K-1)/2.  (Other depthwise shapes take the scalar
 * path in conv_cpu.c.)
 *
 * Each channel plane is copied once into a zero-padded scratch plane
 * (through ReLU when the op has one), then every output row is a sum of
 * K*K shifted row loads times a weight, 16 outputs per vector.  Stride 2
 * splits the padded plane into its even and odd columns first, so the
 * shifted loads stay contiguous.  For stride 1 the data gradient is the
 * same forward pass over the zero-padded output gradient with the kernel
 * turned by 180 degrees; for stride 2 it accumulates into column-parity
 * planes.  Rows are loaded as whole vectors even past a row's end: the
 * extra lanes read finite values from the plane's slack and are never
 * stored (or are multiplied by zero lanes). */
#include "backend/cpu/cpu.h"
#include "backend/cpu/simd.h"

#include <omp.h>
#include <string.h>

int cpu_dw_fast(const conv_desc *d)
{
    int k = d->kh;
    return d->groups == d->cin && d->cin == d->cout && d->groups > 1 && d->kw == k &&
           (k == 3 || k == 5 || k == 7) && d->sh == d->sw && (d->sh == 1 || d->sh == 2) &&
           d->dh == d->dw && (d->dh == 1 || d->dh == 2) && d->oy == 0 && d->ox == 0 &&
           d->ph == d->dh * (k - 1) / 2 && d->pw == d->ph;
}


/* Where tap kx of a row starts: plane and column offset. */
static void taps(const cpu_planes *q, int k, int s, int d, const float **pl, int *off)
{
    for (int kx = 0; kx < k; kx++) {
        int col = kx * d;
        pl[kx] = s == 1 ? q->pl[0] : q->pl[col & 1];
        off[kx] = s == 1 ? col : col >> 1;
    }
}

/* out[oy][ox] (+)= mask? * sum w[ky][kx] X[oy*s + ky*d][ox*s + kx*d] */
#define DW_ROWS(K)                                                                              \
    static void dw_rows_##K(const float *const *pl, const int *off, int rs, int s, int d,      \
                            const float *w, int ho, int wo, float *out, const float *mask,      \
                            int acc)                                                            \
    {                                                                                           \
        for (int oy = 0; oy < ho; oy++) {                                                       \
            float *orow = out + (long)oy * wo;                                                  \
            const float *mrow = mask ? mask + (long)oy * wo : NULL;                             \
            for (int x0 = 0; x0 < wo; x0 += VL) {                                               \
                int n = wo - x0 < VL ? wo - x0 : VL;                                            \
                vf a = {0};                                                                     \
                for (int ky = 0; ky < K; ky++) {                                                \
                    long r = (long)(oy * s + ky * d) * rs + x0;                                 \
                    for (int kx = 0; kx < K; kx++)                                              \
                        a += vload(pl[kx] + r + off[kx]) * w[ky * K + kx];                      \
                }                                                                               \
                if (mrow) {                                                                     \
                    vf m = n == VL ? vload(mrow + x0) : vload_part(mrow + x0, n);               \
                    a = vmask(a, m > 0.f);                                                      \
                }                                                                               \
                if (acc)                                                                        \
                    a += n == VL ? vload(orow + x0) : vload_part(orow + x0, n);                 \
                if (n == VL)                                                                    \
                    vstore(orow + x0, a);                                                       \
                else                                                                            \
                    vstore_part(orow + x0, a, n);                                               \
            }                                                                                   \
        }                                                                                       \
    }

DW_ROWS(3)
DW_ROWS(5)
DW_ROWS(7)

static void dw_rows(int k, const float *const *pl, const int *off, int rs, int s, int d,
                    const float *w, int ho, int wo, float *out, const float *mask, int acc)
{
    if (k == 3)
        dw_rows_3(pl, off, rs, s, d, w, ho, wo, out, mask, acc);
    else if (k == 5)
        dw_rows_5(pl, off, rs, s, d, w, ho, wo, out, mask, acc);
    else
        dw_rows_7(pl, off, rs, s, d, w, ho, wo, out, mask, acc);
}

void cpu_dw_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc)
{
    cpu_state *st = cpu_of(be);
    int k = d->kh, s = d->sh, dil = d->dh, p = d->ph;
    long hw = tview_plane(&x), howo = tview_plane(&y);
    size_t pf = cpu_plane_floats(x.h, x.w, p);
#pragma omp parallel num_threads(st->threads)
    {
        float *buf = st->scratch[omp_get_thread_num()];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < x.c; c++) {
                const float *pl[7];
                int off[7];
                cpu_planes q = cpu_make_planes(x.d + n * x.ns + c * hw, x.h, x.w, p, 0.f,
                                               d->relu_in, s, buf, buf + pf);
                taps(&q, k, s, dil, pl, off);
                dw_rows(k, pl, off, q.rs, s, dil, w + (long)c * k * k, y.h, y.w,
                        y.d + n * y.ns + c * howo, NULL, acc);
            }
    }
}

/* The data gradient of a stride-2 depthwise conv, without scatters.  In
 * padded coordinates input (r, c) receives w[ky][kx] dy[oy][ox] where
 * r = 2 oy + ky d and c = 2 ox + kx d.  Split the padded input by the
 * parities (a, b) of (r, c): with r = 2R + a, only taps with ky d = a
 * (mod 2) reach it, from dy row R - (ky d - a)/2.  So each of the four
 * phases is a small correlation of dy (zero-padded by p on top and left)
 * with the taps of its parity, contiguous along columns; the phases are
 * then interleaved back into dx. */
static void stride2_bwd_data(int k, int dil, int p, const float *wk, const float *dy, int ho,
                             int wo, int h, int w, const float *mask, float *dx, int acc,
                             float *buf)
{
    int hp = h + 2 * p, wp = w + 2 * p;
    int qh = ho + 2 * p + 2, qw = wo + 2 * p + 2;   /* dy padded by p top-left, more bottom-right */
    int ph_h = (hp + 1) / 2, ph_w = (wp + 1) / 2;  /* phase planes */
    float *q = buf, *phase[2][2];
    long qsz = (long)qh * qw + CPU_SLACK, psz = (long)ph_h * ph_w + CPU_SLACK;
    memset(q, 0, (size_t)qsz * sizeof *q);
    for (int oy = 0; oy < ho; oy++)
        memcpy(q + (long)(oy + p) * qw + p, dy + (long)oy * wo, (size_t)wo * sizeof *q);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            float *ph = q + qsz + (2 * a + b) * psz;
            const float *src[49];
            float wt[49];
            int nt = 0;
            phase[a][b] = ph;
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int my = ky * dil, mx = kx * dil;
                    if ((my & 1) != a || (mx & 1) != b)
                        continue;
                    /* dy row R - (my - a)/2 is padded row R - (my - a)/2 + p */
                    src[nt] = q + (long)(p - (my - a) / 2) * qw + (p - (mx - b) / 2);
                    wt[nt++] = wk[ky * k + kx];
                }
            for (int r = 0; r < ph_h; r++)
                for (int c0 = 0; c0 < ph_w; c0 += VL) {
                    vf v = {0};
                    long at = (long)r * qw + c0;
                    for (int t = 0; t < nt; t++)
                        v += vload(src[t] + at) * wt[t];
                    vstore(ph + (long)r * ph_w + c0, v);
                }
        }
    /* dx[iy][ix] = phase[(iy+p)&1][(ix+p)&1][(iy+p)>>1][(ix+p)>>1] */
    for (int iy = 0; iy < h; iy++) {
        int r = iy + p;
        cpu_crop_planes(phase[r & 1][0] + (long)(r >> 1) * ph_w, phase[r & 1][1] + (long)(r >> 1) * ph_w,
                        0, 2, 1, w, p, mask ? mask + (long)iy * w : NULL, dx + (long)iy * w, acc);
    }
}

/* the data gradient of one plane: dxp (+)= mask * conv^T(dyp) */
static void plane_bwd_data(const conv_desc *d, const float *wk, const float *dyp, int ho, int wo,
                           const float *xp, int h, int w, float *dxp, int acc, float *buf)
{
    int k = d->kh, dil = d->dh, p = d->ph, kk = k * k;
    if (d->sh == 1) {
        /* a forward pass over padded dy with the kernel turned around */
        float wf[49];
        const float *pl[7];
        int off[7];
        cpu_planes q = cpu_make_planes(dyp, ho, wo, p, 0.f, 0, 1, buf, NULL);
        for (int i = 0; i < kk; i++)
            wf[i] = wk[kk - 1 - i];
        taps(&q, k, 1, dil, pl, off);
        dw_rows(k, pl, off, q.rs, 1, dil, wf, h, w, dxp, d->relu_in ? xp : NULL, acc);
    } else {
        stride2_bwd_data(k, dil, p, wk, dyp, ho, wo, h, w, d->relu_in ? xp : NULL, dxp, acc, buf);
    }
}

void cpu_dw_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                     tview dx, int acc)
{
    cpu_state *st = cpu_of(be);
    int kk = d->kh * d->kw;
    long hw = tview_plane(&x), howo = tview_plane(&dy);
#pragma omp parallel num_threads(st->threads)
    {
        float *buf = st->scratch[omp_get_thread_num()];
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < x.c; c++)
                plane_bwd_data(d, w + (long)c * kk, dy.d + n * dy.ns + c * howo, dy.h, dy.w,
                               x.d + n * x.ns + c * hw, x.h, x.w, dx.d + n * dx.ns + c * hw, acc,
                               buf);
    }
}

/* dw[ky][kx] = sum over images and outputs of dy * X[oy*s + ky*d][ox*s + kx*d] */
#define DW_FILTER(K)                                                                            \
    static void dw_filter_##K(const float *const *pl, const int *off, int rs, int s, int d,    \
                              const float *dyp, int ho, int wo, vf *accv)                       \
    {                                                                                           \
        for (int ky = 0; ky < K; ky++) {                                                        \
            vf a[K];                                                                            \
            for (int kx = 0; kx < K; kx++)                                                      \
                a[kx] = (vf){0};                                                                \
            for (int oy = 0; oy < ho; oy++) {                                                   \
                long r = (long)(oy * s + ky * d) * rs;                                          \
                for (int x0 = 0; x0 < wo; x0 += VL) {                                           \
                    int n = wo - x0 < VL ? wo - x0 : VL;                                        \
                    const float *dr = dyp + (long)oy * wo + x0;                                 \
                    vf dv = n == VL ? vload(dr) : vload_part(dr, n);                            \
                    for (int kx = 0; kx < K; kx++)                                              \
                        a[kx] += dv * vload(pl[kx] + r + x0 + off[kx]);                         \
                }                                                                               \
            }                                                                                   \
            for (int kx = 0; kx < K; kx++)                                                      \
                accv[ky * K + kx] += a[kx];                                                     \
        }                                                                                       \
    }

DW_FILTER(3)
DW_FILTER(5)
DW_FILTER(7)

/* accv[ky*K + kx] += the filter gradient of one plane (vector partial sums) */
static void plane_filter(const conv_desc *d, const float *xp, int h, int w, const float *dyp,
                         int ho, int wo, vf *accv, float *buf, float *buf2)
{
    int k = d->kh, s = d->sh, dil = d->dh;
    const float *pl[7];
    int off[7];
    cpu_planes q = cpu_make_planes(xp, h, w, d->ph, 0.f, d->relu_in, s, buf, buf2);
    taps(&q, k, s, dil, pl, off);
    if (k == 3)
        dw_filter_3(pl, off, q.rs, s, dil, dyp, ho, wo, accv);
    else if (k == 5)
        dw_filter_5(pl, off, q.rs, s, dil, dyp, ho, wo, accv);
    else
        dw_filter_7(pl, off, q.rs, s, dil, dyp, ho, wo, accv);
}

void cpu_dw_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw)
{
    cpu_state *st = cpu_of(be);
    int kk = d->kh * d->kw;
    long hw = tview_plane(&x), howo = tview_plane(&dy);
    size_t pf = cpu_plane_floats(x.h, x.w, d->ph);
#pragma omp parallel num_threads(st->threads)
    {
        float *buf = st->scratch[omp_get_thread_num()];
#pragma omp for schedule(static)
        for (int c = 0; c < x.c; c++) {
            vf accv[49];
            for (int i = 0; i < kk; i++)
                accv[i] = (vf){0};
            for (int n = 0; n < x.n; n++)
                plane_filter(d, x.d + n * x.ns + c * hw, x.h, x.w, dy.d + n * dy.ns + c * howo,
                             dy.h, dy.w, accv, buf, buf + pf);
            for (int i = 0; i < kk; i++)
                dw[(long)c * kk + i] = vsum(accv[i]);
        }
    }
}

/* Where, in a thread's scratch, the fused backward keeps what: the data
 * gradient's planes, the filter gradient's planes, then per channel K*K
 * vector partial sums (64-byte aligned). */
static size_t data_floats(const conv_desc *d, int h, int w)
{
    size_t q = (size_t)(h + 2 * d->ph + 2) * (size_t)(w + 2 * d->ph + 2) + CPU_SLACK;
    size_t phases = 4 * ((size_t)(h / 2 + d->ph + 1) * (size_t)(w / 2 + d->ph + 1 + VL) + CPU_SLACK);
    size_t pf = cpu_plane_floats(h, w, d->ph);
    return (q + phases > pf ? q + phases : pf + VL) / VL * VL + VL;
}

static size_t acc_offset(const conv_desc *d, int h, int w)
{
    return data_floats(d, h, w) + (2 * cpu_plane_floats(h, w, d->ph) / VL + 1) * VL;
}

size_t cpu_dw_scratch(const conv_desc *d, int h, int w)
{
    return acc_offset(d, h, w) + (size_t)d->cin * d->kh * d->kw * VL;
}

/* Both gradients in one pass over the planes: each (image, channel) plane
 * of dy and x is brought into cache once for the two.  Each thread sums
 * its filter gradient into its own accumulators; they are added up in a
 * fixed order afterwards, so the result does not depend on timing. */
void cpu_dw_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy, tview dx,
                int need_dx, int acc, float *dw)
{
    cpu_state *st = cpu_of(be);
    int kk = d->kh * d->kw;
    long hw = tview_plane(&x), howo = tview_plane(&dy);
    size_t dfl = data_floats(d, x.h, x.w), pf = cpu_plane_floats(x.h, x.w, d->ph);
    size_t aoff = acc_offset(d, x.h, x.w);
#pragma omp parallel num_threads(st->threads)
    {
        float *buf = st->scratch[omp_get_thread_num()];
        vf *accv = (vf *)(buf + aoff);
        for (long i = 0; i < (long)x.c * kk; i++)
            accv[i] = (vf){0};
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < x.n; n++)
            for (int c = 0; c < x.c; c++) {
                const float *dyp = dy.d + n * dy.ns + c * howo, *xp = x.d + n * x.ns + c * hw;
                if (need_dx)
                    plane_bwd_data(d, w + (long)c * kk, dyp, dy.h, dy.w, xp, x.h, x.w,
                                   dx.d + n * dx.ns + c * hw, acc, buf);
                plane_filter(d, xp, x.h, x.w, dyp, dy.h, dy.w, accv + (long)c * kk, buf + dfl,
                             buf + dfl + pf);
            }
    }
#pragma omp parallel for num_threads(st->threads) schedule(static)
    for (long i = 0; i < (long)x.c * kk; i++) {
        float v = 0.f;
        for (int t = 0; t < st->threads; t++)
            v += vsum(((const vf *)(st->scratch[t] + aoff))[i]);
        dw[i] = v;
    }
}
