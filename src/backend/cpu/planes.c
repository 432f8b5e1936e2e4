/* planes.c - padded channel planes for the vectorised stencils
 * (depthwise convolution and pooling).
 *
 * A plane is copied once into scratch with its border (zero, or -infinity
 * for max pooling) and optionally through ReLU.  For stride 2 it is then
 * split into its even and odd columns, so that "every second column,
 * starting at column k" is a contiguous run in one of the two halves.
 * Kernels load whole 16-float vectors even where a row ends: the slack
 * after each plane holds finite values so those lanes are harmless. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/simd.h"

#include <string.h>

/* Room for the padded plane and its slack, or for its two column halves
 * with a slack after each (2 * hp * ceil(wp / 2) <= (hp + 1) * (wp + 2)). */
size_t cpu_plane_floats(int h, int w, int p)
{
    return (size_t)(h + 2 * p + 1) * (size_t)(w + 2 * p + 2) + 2 * CPU_SLACK;
}

static void fill(float *p, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        p[i] = v;
}

cpu_planes cpu_make_planes(const float *x, int h, int w, int p, float pad, int relu, int s,
                           float *buf, float *buf2)
{
    cpu_planes q;
    int hp = h + 2 * p, wp = w + 2 * p;
    fill(buf, (size_t)p * wp, pad);
    for (int iy = 0; iy < h; iy++) {
        float *row = buf + (long)(iy + p) * wp;
        const float *xr = x + (long)iy * w;
        for (int j = 0; j < p; j++)
            row[j] = row[p + w + j] = pad;
        if (relu) {
            int j = 0;
            for (; j + VL <= w; j += VL)
                vstore(row + p + j, vrelu(vload(xr + j)));
            for (; j < w; j++)
                row[p + j] = xr[j] > 0.f ? xr[j] : 0.f;
        } else {
            memcpy(row + p, xr, (size_t)w * sizeof *row);
        }
    }
    fill(buf + (long)(h + p) * wp, (size_t)p * wp, pad);
    memset(buf + (long)hp * wp, 0, CPU_SLACK * sizeof *buf);
    if (s == 1) {
        q.pl[0] = q.pl[1] = buf;
        q.rs = wp;
        return q;
    }
    {
        int wh = (wp + 1) / 2;
        float *e = buf2, *o = buf2 + (long)hp * wh + CPU_SLACK;
        for (int r = 0; r < hp; r++) {
            const float *src = buf + (long)r * wp;
            float *er = e + (long)r * wh, *orow = o + (long)r * wh;
            int j = 0;
            /* 16 even and 16 odd columns from 32; the row's slack (or the
             * next row) covers the second load near the end */
            for (; j + VL <= wp / 2; j += VL) {
                vf a = vload(src + 2 * j), b = vload(src + 2 * j + VL);
                vstore(er + j, veven(a, b));
                vstore(orow + j, vodd(a, b));
            }
            for (; j < wp / 2; j++) {
                er[j] = src[2 * j];
                orow[j] = src[2 * j + 1];
            }
            if (wp & 1) {
                er[wh - 1] = src[wp - 1];
                orow[wh - 1] = pad;
            }
        }
        memset(e + (long)hp * wh, 0, CPU_SLACK * sizeof *e);
        memset(o + (long)hp * wh, 0, CPU_SLACK * sizeof *o);
        q.pl[0] = e;
        q.pl[1] = o;
        q.rs = wh;
    }
    return q;
}

float *cpu_grad_planes(int h, int w, int p, int s, float *buf, int *rs, float **odd)
{
    int hp = h + 2 * p, wp = w + 2 * p;
    if (s == 1) {
        memset(buf, 0, ((size_t)hp * wp + CPU_SLACK) * sizeof *buf);
        *rs = wp;
        *odd = buf;
        return buf;
    }
    *rs = (wp + 1) / 2;
    memset(buf, 0, (2 * (size_t)hp * *rs + 2 * CPU_SLACK) * sizeof *buf);
    *odd = buf + (long)hp * *rs + CPU_SLACK;
    return buf;
}

void cpu_crop_planes(const float *even, const float *odd, int rs, int s, int h, int w, int p,
                     const float *mask, float *dx, int acc)
{
    for (int iy = 0; iy < h; iy++) {
        float *dr = dx + (long)iy * w;
        const float *mr = mask ? mask + (long)iy * w : NULL;
        long row = (long)(iy + p) * rs;
        for (int x0 = 0; x0 < w; x0 += VL) {
            int n = w - x0 < VL ? w - x0 : VL, col = x0 + p;
            vf v;
            if (s == 1) {
                v = vload(even + row + col);
            } else {
                /* columns col, col+1, ... alternate between the halves */
                const float *first = (col & 1 ? odd : even) + row + (col >> 1);
                const float *second = (col & 1 ? even + 1 : odd) + row + (col >> 1);
                v = vinterleave(vload(first), vload(second));
            }
            if (mr)
                v = vmask(v, (n == VL ? vload(mr + x0) : vload_part(mr + x0, n)) > 0.f);
            if (acc)
                v += n == VL ? vload(dr + x0) : vload_part(dr + x0, n);
            if (n == VL)
                vstore(dr + x0, v);
            else
                vstore_part(dr + x0, v, n);
        }
    }
}
