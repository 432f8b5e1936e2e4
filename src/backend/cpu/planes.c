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

#include <string.h>

size_t cpu_plane_floats(int h, int w, int p)
{
    return (size_t)(h + 2 * p + 1) * (size_t)(w + 2 * p + 2) + CPU_SLACK;
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
        if (relu)
            for (int j = 0; j < w; j++)
                row[p + j] = xr[j] > 0.f ? xr[j] : 0.f;
        else
            memcpy(row + p, xr, (size_t)w * sizeof *row);
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
            for (int j = 0; j < wp / 2; j++) {
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
        if (s == 1) {
            const float *g = even + row + p;
            for (int ix = 0; ix < w; ix++) {
                float v = mr && mr[ix] <= 0.f ? 0.f : g[ix];
                dr[ix] = acc ? dr[ix] + v : v;
            }
        } else {
            for (int ix = 0; ix < w; ix++) {
                int col = ix + p;
                float v = (col & 1 ? odd : even)[row + (col >> 1)];
                if (mr && mr[ix] <= 0.f)
                    v = 0.f;
                dr[ix] = acc ? dr[ix] + v : v;
            }
        }
    }
}
