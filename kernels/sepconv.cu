/* sepconv.cu - the forward of a separable layer's two convolutions in one
 * kernel: mid = depthwise K x K (relu?(x)), y = pointwise 1x1 (mid).
 *
 * Run apart (dwconv.cu, then cuDNN or pwconv.cu), the depthwise output
 * goes to memory and comes back for the pointwise convolution, in two
 * launches.  Here a block takes one image's band of R output rows, every
 * channel: it copies SEP_CC input planes' rows at a time (read through
 * ReLU, zero-padded) with their filters into shared memory, computes those
 * channels' depthwise outputs for the band into shared memory (and into
 * mid, where the backward needs it: not where it recomputes mid itself
 * for the pointwise filter gradient), and each thread then adds them, through
 * the pointwise weights, into the SEP_G output channels of its pixel that
 * it keeps in registers; after the last input channel it writes them.
 * Reading mid back is gone, and one launch with it.
 *
 * Given `stats`, it also takes the batch norm's statistics of y as it
 * writes it (the batch norm that follows then only applies them,
 * k_bn_fwd_train_parts): each block's sum and sum of squares of each
 * output channel over its band of every image it takes, a warp's 32
 * pixels added in float (k_warp_fold16), the warps and the images in
 * double, into stats[(part * C + c) * 2 + 0 or 1], part = the block's
 * number (blockIdx.y * bands + blockIdx.x).  Only where a group of
 * output channels' pixels are whole warps (k_sep_stats_parts; a band's
 * rows are chosen so, where that takes no more bands).
 *
 * Sums: a depthwise output adds its taps in the order of dw_fwd_at
 * (conv_math.h; the padding adds zeros), a pointwise output its input
 * channels in ascending order, as pwconv.cu's forward does.
 *
 * Shapes: those the tiled depthwise kernels take (K 3, 5 or 7, stride
 * and dilation 1 or 2), the pointwise half 1x1 at stride 1 from the
 * depthwise output as it is (no ReLU between), at most 256 output
 * channels, and a band of at least one row that fits (k_sep_takes). */
#include <limits.h>
#include <stdint.h>

#include "common.cuh"
#include "conv_math.h"
#include "dwtile.cuh"
#include "fastdiv.h"

#define SEP_CC 8       /* input channels per trip through shared memory */
#define SEP_G 16       /* output channels a thread sums */
#define SEP_PIX 256    /* threads a block at most: pixels of a band times channel groups */
#define SEP_XF 6144    /* shared floats for the SEP_CC input bands: 24 KB */
#define SEP_CMAX 256   /* output channels at most */
#define SEP_V 4        /* depthwise outputs of a row a thread computes at once */

/* A block's band: R output rows of ow pixels (pix = R * ow), ng groups of
 * SEP_G output channels (thread t: group t / pix, pixel t % pix), the
 * input band th x tw per plane (tw covering whole strips of SEP_V outputs,
 * spr a row); the dividers split the depthwise stage's flat indices. */
typedef struct sep_shape {
    int R, bands, ng, pix, th, tw, spr;
    k_div dpix, dstrips, dspr;
} sep_shape;

/* the band for outputs oh x ow of cout channels, taps K at stride S and
 * dilation D; 0 when not even one row fits */
static int sep_plan(int K, int S, int D, int oh, int ow, int cout, sep_shape *sh)
{
    int ng = (cout + SEP_G - 1) / SEP_G, span = (K - 1) * D + 1, R;
    int spr = (ow + SEP_V - 1) / SEP_V;
    long tw = (long)(spr * SEP_V - 1) * S + span;
    if (oh < 1 || ow < 1 || cout < 1 || cout > SEP_CMAX || ow > SEP_PIX / ng)
        return 0;
    R = SEP_PIX / ng / ow;
    if (R > oh)
        R = oh;
    while (R > 1 && SEP_CC * ((long)(R - 1) * S + span) * tw > SEP_XF)
        R--;
    if (SEP_CC * ((long)(R - 1) * S + span) * tw > SEP_XF)
        return 0;
    /* as many bands with fewer rows each, where that makes a band's
     * pixels whole warps (what the statistics need: 16 rows of 16 in 3
     * bands of 6 rather than of 7), the bands no fewer and no larger */
    for (int r = R; r >= 1 && (oh + r - 1) / r == (oh + R - 1) / R; r--)
        if (r * ow % 32 == 0) {
            R = r;
            break;
        }
    sh->R = R;
    sh->bands = (oh + R - 1) / R;
    sh->ng = ng;
    sh->pix = R * ow;
    sh->th = (R - 1) * S + span;
    sh->tw = (int)tw;
    sh->spr = spr;
    sh->dpix = k_div_make(sh->pix);
    sh->dstrips = k_div_make(R * spr);
    sh->dspr = k_div_make(spr);
    return 1;
}

/* block (band, image): see the top of the file; BN: x read through the
 * batch norm xab (a kernel of its own, sep_fwd_bn_k, so that sep_fwd_k's
 * registers are as without it) */
template <int KSD, int BN>   /* K*100 + S*10 + D, as dwconv.cu's tiled kernels */
static __device__ __forceinline__ void sep_fwd_body(tview x, const float *wd, int pad, int relu,
                                                    const float *xab, tview mid,
                                                    const float *wp, tview y, sep_shape sh,
                                                    double *stats)
{
    enum { K = KSD / 100, S = KSD / 10 % 10, D = KSD % 10 };
    enum { SEG = (SEP_V - 1) * S + (K - 1) * D + 1 };   /* what a filter row spans */
    __shared__ float xs[SEP_XF];
    __shared__ float ds[SEP_CC * SEP_PIX];          /* the chunk's depthwise outputs */
    __shared__ float4 ws[SEP_CC][SEP_CMAX / 4];     /* pointwise weights [ci][co] */
    __shared__ float kw[SEP_CC * K * K];            /* depthwise filters */
    __shared__ double st[SEP_PIX];                  /* statistics: each lane's warp sum
                                                     * over the images so far */
    int oy0 = blockIdx.x * sh.R, rows = y.h - oy0 < sh.R ? y.h - oy0 : sh.R;
    int npx = rows * y.w, per = sh.th * sh.tw, ohw = y.h * y.w, hw = x.h * x.w;
    int t = (int)threadIdx.x, g = k_div_q(sh.dpix, t), px = t - g * sh.pix;
    int live = g < sh.ng && px < npx, co0 = g * SEP_G, nco = y.c - co0, cw = sh.ng * (SEP_G / 4);
    int iy0 = oy0 * S - pad;

    nco = nco < SEP_G ? nco : SEP_G;
    for (int img = blockIdx.y; img < x.n; img += gridDim.y) {
        const float *xi = x.d + (long)img * x.ns;
        float *mi = mid.d ? mid.d + (long)img * mid.ns + (long)oy0 * y.w : NULL;
        float a[SEP_G];
#pragma unroll
        for (int j = 0; j < SEP_G; j++)
            a[j] = 0.f;
        for (int c0 = 0; c0 < x.c; c0 += SEP_CC) {
            int cc = x.c - c0 < SEP_CC ? x.c - c0 : SEP_CC;
            __syncthreads();   /* the last chunk's readers are done */
            /* the chunk's input bands, through ReLU */
            dwt_copy_tiles(xs, per, xi + (long)c0 * hw, hw, cc, sh.th, sh.tw, iy0, x.h, x.w, pad,
                           relu, BN ? xab + c0 : NULL, BN ? xab + x.c + c0 : NULL);
            for (int j = t; j < cc * K * K; j += blockDim.x)
                kw[j] = wd[(long)c0 * K * K + j];
            /* consecutive threads read consecutive input channels of one
             * output channel; output channels past y.c weigh zero */
            for (int j = t; j < cw * 4 * SEP_CC; j += blockDim.x) {
                int co = j / SEP_CC, ci = j - co * SEP_CC;
                float v = ci < cc && co < y.c ? wp[(long)co * mid.c + c0 + ci] : 0.f;
                ((float *)ws[ci])[co] = v;
            }
            __syncthreads();
            /* the chunk's depthwise outputs for the band, SEP_V of a row
             * a thread, the input values a filter row spans for them in
             * registers (each loaded once for SEP_V outputs) */
            for (int j = t; j < cc * (int)sh.dstrips.d; j += blockDim.x) {
                int i = k_div_q(sh.dstrips, j), r = j - i * (int)sh.dstrips.d;
                int ry = k_div_q(sh.dspr, r), ox0 = (r - ry * sh.spr) * SEP_V;
                const float *tp = xs + i * per + ry * S * sh.tw + ox0 * S, *kp = kw + i * K * K;
                float v[SEP_V];
                if (ry >= rows)   /* the last band's rows past the plane */
                    continue;
#pragma unroll
                for (int e = 0; e < SEP_V; e++)
                    v[e] = 0.f;
                /* dwt_strip's loop written out: called, ptxas spills 12
                 * bytes here (64 registers either way) */
#pragma unroll
                for (int ky = 0; ky < K; ky++) {
                    float seg[SEG];
                    dwt_seg<SEG>(seg, tp + ky * D * sh.tw);
#pragma unroll
                    for (int kx = 0; kx < K; kx++) {
                        float wv = kp[ky * K + kx];
#pragma unroll
                        for (int e = 0; e < SEP_V; e++)
                            v[e] += wv * seg[e * S + kx * D];
                    }
                }
#pragma unroll
                for (int e = 0; e < SEP_V; e++) {
                    int p = ry * y.w + ox0 + e;
                    if (ox0 + e >= y.w)
                        break;
                    ds[i * SEP_PIX + p] = v[e];
                    if (mid.d)
                        mi[(long)(c0 + i) * ohw + p] = v[e];
                }
            }
            __syncthreads();
            /* the pointwise sums of the thread's pixel */
            if (live)
                for (int ci = 0; ci < cc; ci++) {
                    float v = ds[ci * SEP_PIX + px];
#pragma unroll
                    for (int j4 = 0; j4 < SEP_G / 4; j4++) {
                        float4 w4 = ws[ci][co0 / 4 + j4];
                        a[4 * j4] += w4.x * v;
                        a[4 * j4 + 1] += w4.y * v;
                        a[4 * j4 + 2] += w4.z * v;
                        a[4 * j4 + 3] += w4.w * v;
                    }
                }
        }
        if (live) {
            float *yo = y.d + (long)img * y.ns + (long)co0 * ohw + (long)oy0 * y.w + px;
#pragma unroll
            for (int j = 0; j < SEP_G; j++)
                if (j < nco)
                    yo[(long)j * ohw] = a[j];
        }
        if (stats) {
            /* y's sums and sums of squares over the band: a warp's pixels
             * by k_stats16 into lane l (l < 16: the sum of the group's
             * channel l, else the sum of squares of its channel l - 16;
             * threads past the plane hold zeros), added over the images
             * in st[t] */
            double v = k_stats16(a);
            st[t] = img == (int)blockIdx.y ? v : st[t] + v;
        }
    }
    if (stats) {
        /* then slot t = 32 g + l adds its lane's sums over the warps of
         * group g (a group's pixels are whole warps), in order, as part
         * blockIdx.y * bands + blockIdx.x */
        int wpg = sh.pix >> 5;
        __syncthreads();
        if (t < sh.ng * 32)
            k_stats_put(st + (t >> 5) * wpg * 32, wpg, t & 31, (t >> 5) * SEP_G + (t & 15), y.c,
                        (long)blockIdx.y * gridDim.x + blockIdx.x, stats);
    }
}

template <int KSD>
static __global__ void __launch_bounds__(SEP_PIX)
    sep_fwd_k(tview x, const float *wd, int pad, int relu, tview mid, const float *wp, tview y,
              sep_shape sh, double *stats)
{
    sep_fwd_body<KSD, 0>(x, wd, pad, relu, NULL, mid, wp, y, sh, stats);
}

template <int KSD>
static __global__ void __launch_bounds__(SEP_PIX)
    sep_fwd_bn_k(tview x, const float *wd, int pad, int relu, const float *xab, tview mid,
                 const float *wp, tview y, sep_shape sh, double *stats)
{
    sep_fwd_body<KSD, 1>(x, wd, pad, relu, xab, mid, wp, y, sh, stats);
}

/* what both directions' kernels take of a pair: a depthwise half of the
 * tiles' shapes, then 1x1 at stride 1 reading its output as it is, on
 * h x w planes (the output channels are each kernel's to check) */
static int sep_pair_ok(const conv_desc *dd, const conv_desc *pd, int h, int w)
{
    return dw_handles(dd) && dwt_takes(dd->sh, dd->dh) && pd->groups == 1 && pd->kh == 1 &&
           pd->kw == 1 && pd->sh == 1 && pd->sw == 1 && !pd->ph && !pd->pw && !pd->oy &&
           !pd->ox && !pd->relu_in && pd->cin == dd->cout && h >= 1 && w >= 1 &&
           (long)h * w <= INT_MAX / 64;
}

/* the pair this kernel computes, and its band (sh may be NULL) */
static int sep_shape_of(const conv_desc *dd, const conv_desc *pd, int h, int w, sep_shape *sh)
{
    sep_shape tmp;
    if (!sep_pair_ok(dd, pd, h, w))
        return 0;
    return sep_plan(dd->kh, dd->sh, dd->dh, conv_out_h(dd, h), conv_out_w(dd, w), pd->cout,
                    sh ? sh : &tmp);
}

int k_sep_takes(const conv_desc *dd, const conv_desc *pd, int h, int w)
{
    return sep_shape_of(dd, pd, h, w, NULL);
}

int k_sep_stats_parts(const conv_desc *dd, const conv_desc *pd, int n, int h, int w)
{
    sep_shape sh;
    if (n < 1 || !sep_shape_of(dd, pd, h, w, &sh) || sh.pix % 32)
        return 0;
    return sh.bands * (n < 65535 ? n : 65535);
}

cudaError_t k_sep_fwd(cudaStream_t st, const conv_desc *dd, const conv_desc *pd, tview x,
                      const float *xab, const float *wd, tview mid, const float *wp, tview y,
                      double *stats)
{
    sep_shape sh;
    int threads, ksd = dd->kh * 100 + dd->sh * 10 + dd->dh;
    dim3 g;
    if (!sep_shape_of(dd, pd, x.h, x.w, &sh) || x.c != dd->cin || mid.c != dd->cout ||
        y.c != pd->cout || mid.h != y.h || mid.w != y.w ||
        y.h != conv_out_h(dd, x.h) || y.w != conv_out_w(dd, x.w) || mid.n != x.n || y.n != x.n ||
        (stats && sh.pix % 32))
        return cudaErrorInvalidValue;
    if (x.n <= 0)
        return cudaSuccess;
    threads = (sh.ng * sh.pix + 31) / 32 * 32;
    g = dim3((unsigned)sh.bands, (unsigned)(x.n < 65535 ? x.n : 65535), 1);
#define SEP(KSD)                                                                                   \
    K_LAUNCH(sep_fwd_k<KSD>, g, threads, st)(x, wd, dd->ph, dd->relu_in, mid, wp, y, sh, stats)
#define SEPBN(KSD)                                                                                 \
    K_LAUNCH(sep_fwd_bn_k<KSD>, g, threads, st)                                                   \
    (x, wd, dd->ph, dd->relu_in, xab, mid, wp, y, sh, stats)
    if (xab)
        DWT_DISPATCH(ksd, SEPBN)   /* sep_shape_of has checked K, stride and dilation */
    else
        DWT_DISPATCH(ksd, SEP)
#undef SEP
#undef SEPBN
    return cudaGetLastError();
}

/* ---- backward: the pointwise data gradient and both depthwise gradients
 * in one kernel ----
 *
 * Run apart, a separable layer's backward writes dmid (the pointwise
 * data gradient: dmid = wp^T dy at each pixel) to memory, then the
 * depthwise data gradient and filter gradient each read it back, in three
 * launches.  Here dmid never leaves the block: a block takes one image's
 * band of R input rows (of a group of channels, see ncg), and for SEP_CC
 * channels at a time
 *
 *   copies their x rows the band's windows reach (through ReLU,
 *   zero-padded) into shared memory, as the forward does;
 *   computes their dmid over the same rows and columns (the band and a
 *   halo of (K-1)*D/2 around it, zero outside the plane) from dy in memory
 *   into shared memory: the halo rows are computed by both bands beside
 *   them, the price of not writing dmid;
 *   then a warp to a channel, each lane a strip of SEP_V outputs of a row:
 *   dx, the correlation of dmid with the filter turned round (masked where
 *   x <= 0 under ReLU), written (or added) once; and the filter
 *   gradient's K*K products of the band's own dmid rows with x, summed in
 *   registers, then over the warp, into one partial sum per (image, band)
 *   that k_parts_sum adds in its fixed order.
 *
 * Given dwp, the block then also takes the pointwise filter gradient's
 * share of its band (dy with mid, dwp[co][c] = the sum over pixels of
 * dy[co] mid[c]): mid, the depthwise output, recomputed for the band's
 * own rows from the x tile into shared memory where dmid was, then nch
 * threads for each output channel summing its products with the trip's
 * channels a pixel apart, then those in order, into a partial sum per
 * (image, band) as for the depthwise filter; so the forward need not
 * write mid, nor another kernel read it and dy back (CELLAR_SEPARABLE=
 * keep-mid: mid kept and that gradient a kernel of its own).
 * Given bn, each warp also adds up, once it has written its channel's
 * dx, dx and dx (bx - mean) over the band, bx the input of the batch norm
 * whose output x is (so dx is that batch norm's dy): each lane reading
 * back the strips it wrote (from cache, in a loop apart: summed in the
 * strip loop they took K = 7 from 128 registers to 165), in strip order,
 * then warp_sum's tree, into a partial sum per (image, band) that the
 * batch norm's backward adds (k_bn_bwd_parts), instead of a kernel of its
 * own reading dx and bx back from memory for them
 * (CELLAR_BN_STATS=forward).
 * Given gf (sep_bwd_dy_k; sep_bwd_bn_dy_k with x read through a batch
 * norm too), dy is the gradient of a batch norm's output whose input gx
 * the pair wrote: the pair's own dy, that batch norm's data gradient, is
 * made wherever dy is read (dmid, the pointwise filter gradient) from dy,
 * gx, the batch norm's four factors a channel and its drop-path scale
 * (sepb_bn_dy: the expression bn.cu's backward writes), so that batch
 * norm's backward gives only its factors (k_bn_bwd_factors,
 * k_bn_bwd_factors_dy) and its dx is never written nor read back
 * (CELLAR_BN_DX=apart: it is).
 * Stride 2 the same way, over dmid spread out to the input's size with
 * zeros between (s[2o] = dmid[o], 0 at odd rows and columns: dx is then
 * the stride-1 correlation of s with the filter turned round, the filter
 * gradient the stride-1 products of s with x, s's zeros adding nothing),
 * so that only the tile's dmid (the even places) and the pointwise
 * filter gradient's pixels (the band's output pixels, mid at the even
 * places) see the stride; bands start at even rows.
 * Shapes: stride 1 or 2 with the output the input's size over the stride
 * (padding (K-1)*D/2), K 3, 5 or 7, dilation 1 or 2, at most 256
 * pointwise output channels; elsewhere the three run apart.  Sums: dmid
 * its output channels in ascending order; dx its taps in the order of
 * the tiled data gradient (dwconv.cu); the filter gradient per lane, then
 * across the warp; mid its taps as the forward; the pointwise filter
 * gradient each of nch threads its pixels in order, then the threads in
 * order. */

#define SEPB_TF 4096       /* shared floats for each of the two tiles: 16 KB each */
#define SEPB_THREADS (32 * SEP_CC)   /* a warp to each channel of a trip */

/* A block's band: R input rows (those of dx, and those of dmid, spread
 * out at stride 2, whose filter gradient it adds), bands of them down the
 * plane, ncg blocks a band splitting the channels' trips between them;
 * tiles of th x tw (the band and its halo, whole strips of SEP_V wide),
 * spr strips a row; S the stride; dwo divides by the output's width. */
typedef struct sepb_shape {
    int R, bands, ncg, th, tw, spr, S;
    int nch;   /* the pointwise filter gradient: threads summing a band for each output channel */
    k_div dtw, dspr, dwo;
} sepb_shape;

/* the band for h x w input planes of c channels, taps K at dilation D
 * and stride S, n images, blocks enough for 2 * sms where channels allow;
 * 0 when the tiles do not fit one row (two at stride 2, where a band
 * starts at an even row) */
static int sepb_plan(int K, int D, int S, int c, int co, long n, int h, int w, int sms,
                     sepb_shape *sh)
{
    int span = (K - 1) * D + 1, spr = (w + SEP_V - 1) / SEP_V, rmax, trips;
    long tw = (long)spr * SEP_V - 1 + span;
    if (h < 1 || w < 1 || c < 1 || n < 1 || S < 1 || S > 2)
        return 0;
    rmax = (int)(SEPB_TF / (SEP_CC * tw)) - (span - 1);
    if (rmax > h)
        rmax = h;
    else if (S == 2)
        rmax &= ~1;
    if (rmax < 1)
        return 0;
    sh->R = (h + (h + rmax - 1) / rmax - 1) / ((h + rmax - 1) / rmax);   /* bands alike */
    if (S == 2 && sh->R < h)
        sh->R += sh->R & 1;   /* still at most rmax, which is even */
    sh->bands = (h + sh->R - 1) / sh->R;
    sh->S = S;
    sh->th = sh->R + span - 1;
    sh->tw = (int)tw;
    sh->spr = spr;
    trips = (c + SEP_CC - 1) / SEP_CC;
    sh->ncg = 1;
    while (sh->ncg < trips && (long)sh->bands * n * sh->ncg < 2L * sms)
        sh->ncg++;
    sh->nch = co < SEPB_THREADS ? SEPB_THREADS / co : 1;
    sh->dtw = k_div_make(sh->tw);
    sh->dspr = k_div_make(spr);
    sh->dwo = k_div_make((w + S - 1) / S);
    return 1;
}

/* The batch norm's sums over a channel's band (k_sep_bwd's bn): lane
 * `lane` reads back the strips of dx it wrote (o, acc 0) with the batch
 * norm's input there (b), both from the band's first row, in strip order;
 * then warp_sum's fixed tree, into out[0] and out[1].  Apart from the
 * strip loop, and not inlined, so as not to add to its registers (summed
 * there, K = 7 took 165 where it takes 128; inlined after it, K = 5 126
 * where it takes 80). */
static __device__ K_NOINLINE void sepb_bn_sums(const float *o, const float *b, float mean,
                                                 int W, int strips, k_div dspr, int lane,
                                                 double *out)
{
    double s = 0.0, q = 0.0;
    for (int j = lane; j < strips; j += 32) {
        int r = k_div_q(dspr, j), ox0 = (j - r * (int)dspr.d) * SEP_V;
        const float *orow = o + (long)r * W, *brow = b + (long)r * W;
#pragma unroll
        for (int e = 0; e < SEP_V; e++) {
            int ox = ox0 + e;
            if (ox >= W)
                break;
            s += (double)orow[ox];
            q += (double)(orow[ox] * (brow[ox] - mean));
        }
    }
    s = warp_sum(s);
    q = warp_sum(q);
    if (lane == 0) {
        out[0] = s;
        out[1] = q;
    }
}

/* The pair's dy at one place when dy is a batch norm's output gradient
 * g, b that batch norm's input there, f its factors (k, mean of dy',
 * mean, mean of dy' xhat over 1/std: k_bn_bwd_factors), s the image's
 * drop-path scale (dy' = s dy): the batch norm's data gradient, the
 * expression its own backward writes (bn.cu's bn_dx) */
static __device__ __forceinline__ float sepb_bn_dy(float4 f, float s, float g, float b)
{
    return f.x * (s * g - f.y - (b - f.z) * f.w);
}

/* block (band * ncg + group, image): see above.  dwo: the filter
 * gradient's partial sums, [(image * bands + band) * C + channel][K*K]
 * (with one image and one band, the gradient itself); dpo (NULL: not
 * asked for) the pointwise filter gradient's, [image * bands + band][CO][C] */
template <int KD, int BN, int DY>   /* K*10 + D; BN as for sep_fwd_body; DY: dy through
                                     * a batch norm's backward (gx, gf, gs) */
static __device__ __forceinline__ void sep_bwd_body(tview x, const float *wd, int pad, int relu,
                                                    const float *xab, tview dy, tview gx,
                                                    const float *gf, const float *gs,
                                                    const float *wp, tview dx,
                                                    int acc, float *dwo, float *dpo, tview bx,
                                                    const float *bmean, double *bst,
                                                    sepb_shape sh)
{
    enum { K = KD / 10, D = KD % 10, KK = K * K };
    __shared__ float xs[SEPB_TF];                  /* relu(x), [channel][th][tw] */
    __shared__ float ms[SEPB_TF];                  /* dmid, the same places */
    __shared__ float4 wps[SEP_CMAX][SEP_CC / 4];   /* wp[co][c0 + i] */
    __shared__ float wf[SEP_CC * KK];              /* the filters turned round */
    __shared__ float4 gfs[DY ? SEP_CMAX : 1];      /* the batch norm's factors, [co] */
    int band = blockIdx.x / sh.ncg, grp = blockIdx.x - band * sh.ncg, img = blockIdx.y;
    int H = x.h, W = x.w, hw = H * W, per = sh.th * sh.tw, C = x.c, CO = dy.c;
    int Wo = dy.w, hwo = dy.h * Wo, sft = sh.S - 1;   /* the output's; stride 2^sft */
    int y0 = band * sh.R, rows = H - y0 < sh.R ? H - y0 : sh.R, iy0 = y0 - pad;
    int t = (int)threadIdx.x, warp = t >> 5, lane = t & 31, nw = (int)(blockDim.x >> 5);
    const float *xi = x.d + (long)img * x.ns, *gi = dy.d + (long)img * dy.ns;
    const float *bi = DY ? gx.d + (long)img * gx.ns : NULL;
    float gsc = DY && gs ? gs[img] : 1.f;   /* the batch norm's dy' = gsc dy */
    float *oi = dx.d + (long)img * dx.ns;
    long prt = (long)img * sh.bands + band;

    if (DY)   /* read before the first trip's barrier */
        for (int j = t; j < CO; j += blockDim.x)
            gfs[j] = ((const float4 *)gf)[j];

    for (int c0 = grp * SEP_CC; c0 < C; c0 += sh.ncg * SEP_CC) {
        int cc = C - c0 < SEP_CC ? C - c0 : SEP_CC;
        __syncthreads();   /* the last trip's tiles are read */
        for (int row = warp; row < cc * sh.th; row += nw) {
            int i = row / sh.th, ty = row - i * sh.th;
            if (BN)   /* through the batch norm xab */
                dwt_copy_row_bn(xs + i * per + ty * sh.tw, xi + (long)(c0 + i) * hw, iy0 + ty, H,
                                W, sh.tw, pad, relu, xab[c0 + i], xab[C + c0 + i]);
            else
                dwt_copy_row(xs + i * per + ty * sh.tw, xi + (long)(c0 + i) * hw, iy0 + ty, H, W,
                             sh.tw, pad, relu, 1);
        }
        for (int j = t; j < cc * KK; j += blockDim.x) {
            int i = j / KK, tap = j - i * KK;
            wf[j] = wd[(long)(c0 + i) * KK + (KK - 1 - tap)];
        }
        for (int j = t; j < CO * SEP_CC; j += blockDim.x) {
            int co = j / SEP_CC, i = j - co * SEP_CC;
            ((float *)wps[co])[i] = i < cc ? wp[(long)co * C + c0 + i] : 0.f;
        }
        __syncthreads();
        /* dmid over the tiles' places: a thread a place, the trip's
         * channels in registers */
        for (int j = t; j < per; j += blockDim.x) {
            int ty = k_div_q(sh.dtw, j), tx = j - ty * sh.tw, oy = iy0 + ty, ox = tx - pad;
            float m[SEP_CC];
#pragma unroll
            for (int i = 0; i < SEP_CC; i++)
                m[i] = 0.f;
            /* s's place (oy, ox): dmid at (oy, ox) >> sft, or 0 between */
            if (oy >= 0 && oy < H && ox >= 0 && ox < W && !(((oy | ox) & sft))) {
                long at = (long)(oy >> sft) * Wo + (ox >> sft);
                const float *g = gi + at;
                for (int co = 0; co < CO; co++) {
                    float v = g[(long)co * hwo];
                    if (DY)
                        v = sepb_bn_dy(gfs[co], gsc, v, bi[at + (long)co * hwo]);
#pragma unroll
                    for (int q = 0; q < SEP_CC / 4; q++) {
                        float4 w4 = wps[co][q];
                        m[4 * q] += w4.x * v;
                        m[4 * q + 1] += w4.y * v;
                        m[4 * q + 2] += w4.z * v;
                        m[4 * q + 3] += w4.w * v;
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < SEP_CC; i++)
                if (i < cc)
                    ms[i * per + j] = m[i];
        }
        __syncthreads();
        /* a warp to a channel: dx and the filter gradient, strip by strip */
        if (warp < cc) {
            const float *xt = xs + warp * per, *mt = ms + warp * per, *wk = wf + warp * KK;
            float *oc = oi + (long)(c0 + warp) * hw;
            float gw[KK];
#pragma unroll
            for (int k = 0; k < KK; k++)
                gw[k] = 0.f;
            for (int s = lane; s < rows * sh.spr; s += 32) {
                int r = k_div_q(sh.dspr, s), ox0 = (s - r * sh.spr) * SEP_V;
                const float *xr = xt + r * sh.tw + ox0, *mr = mt + r * sh.tw + ox0;
                float a[SEP_V], gv[SEP_V];
#pragma unroll
                for (int e = 0; e < SEP_V; e++) {
                    a[e] = 0.f;
                    gv[e] = mr[pad * sh.tw + pad + e];   /* zero past the row's end */
                }
                dwt_strip<K, 1, D, SEP_V>(a, mr, sh.tw, wk);
                dwt_strip_taps<K, 1, D, SEP_V>(gw, gv, xr, sh.tw);
                {
                    float *o = oc + (long)(y0 + r) * W;
                    const float *xm = xr + pad * sh.tw + pad;
#pragma unroll
                    for (int e = 0; e < SEP_V; e++) {
                        int ox = ox0 + e;
                        float v;
                        if (ox >= W)
                            break;
                        v = relu && !(xm[e] > 0.f) ? 0.f : a[e];
                        o[ox] = acc ? o[ox] + v : v;
                    }
                }
            }
#pragma unroll
            for (int k = 0; k < KK; k++) {
                float v = gw[k];
                for (int o = 16; o > 0; o >>= 1)
                    v += __shfl_down_sync(0xffffffffu, v, o);
                if (lane == 0)
                    dwo[(prt * C + c0 + warp) * KK + k] = v;
            }
            if (bst)
                sepb_bn_sums(oc + (long)y0 * W, bx.d + (long)img * bx.ns + (long)(c0 + warp) * hw +
                                                    (long)y0 * W,
                             bmean[c0 + warp], W, rows * sh.spr, sh.dspr, lane,
                             bst + (prt * C + c0 + warp) * 2);
        }
        if (dpo) {
            /* the pointwise filter gradient over the band: mid (the
             * depthwise output, its taps in the forward's order) into ms
             * where dmid was, then each output channel's products with it
             * summed by nch threads, a pixel apart, into xs, then those
             * in order */
            /* the band's output pixels: rows (y0 + 2^sft r) >> sft */
            int np = ((rows + sft) >> sft) * Wo, nt = CO * sh.nch;
            __syncthreads();   /* dmid read */
            for (int i = 0; i < cc; i++)
                for (int p = t; p < np; p += blockDim.x) {
                    int r = k_div_q(sh.dwo, p), ox = p - r * Wo;
                    const float *xt = xs + i * per + (r << sft) * sh.tw + (ox << sft),
                                *kf = wf + i * KK;
                    float v = 0.f;
#pragma unroll
                    for (int ky = 0; ky < K; ky++)
#pragma unroll
                        for (int kx = 0; kx < K; kx++)
                            v += kf[KK - 1 - (ky * K + kx)] * xt[ky * D * sh.tw + kx * D];
                    ms[i * per + p] = v;
                }
            __syncthreads();   /* mid made, the x tiles read */
            if (t < nt) {
                int co = t / sh.nch, ch = t - co * sh.nch;
                long at = (long)co * hwo + (long)(y0 >> sft) * Wo;
                const float *g = gi + at, *gb = DY ? bi + at : NULL;
                float4 f = DY ? gfs[co] : float4{};
                float a[SEP_CC];
#pragma unroll
                for (int i = 0; i < SEP_CC; i++)
                    a[i] = 0.f;
                for (int p = ch; p < np; p += sh.nch) {
                    float v = DY ? sepb_bn_dy(f, gsc, g[p], gb[p]) : g[p];
#pragma unroll
                    for (int i = 0; i < SEP_CC; i++)
                        if (i < cc)
                            a[i] += v * ms[i * per + p];
                }
#pragma unroll
                for (int i = 0; i < SEP_CC; i++)
                    xs[t * SEP_CC + i] = a[i];
            }
            __syncthreads();
            for (int j = t; j < CO * cc; j += blockDim.x) {
                int co = j / cc, i = j - co * cc;
                const float *q = xs + (long)co * sh.nch * SEP_CC + i;
                float v = 0.f;
                for (int ch = 0; ch < sh.nch; ch++)
                    v += q[ch * SEP_CC];
                dpo[(prt * CO + co) * C + c0 + i] = v;
            }
        }
    }
}

template <int KD>
static __global__ void __launch_bounds__(SEPB_THREADS)
    sep_bwd_k(tview x, const float *wd, int pad, int relu, tview dy, const float *wp, tview dx,
              int acc, float *dwo, float *dpo, tview bx, const float *bmean, double *bst,
              sepb_shape sh)
{
    sep_bwd_body<KD, 0, 0>(x, wd, pad, relu, NULL, dy, tview{}, NULL, NULL, wp, dx, acc, dwo,
                           dpo, bx, bmean, bst, sh);
}

template <int KD>
static __global__ void __launch_bounds__(SEPB_THREADS)
    sep_bwd_bn_k(tview x, const float *wd, int pad, int relu, const float *xab, tview dy,
                 const float *wp, tview dx, int acc, float *dwo, float *dpo, tview bx,
                 const float *bmean, double *bst, sepb_shape sh)
{
    sep_bwd_body<KD, 1, 0>(x, wd, pad, relu, xab, dy, tview{}, NULL, NULL, wp, dx, acc, dwo,
                           dpo, bx, bmean, bst, sh);
}

/* dy a batch norm's output gradient, the pair's own dy made from it as
 * it is read (gx that batch norm's input, gf its factors, gs its drop-
 * path scales); sep_bwd_bn_dy_k with x read through a batch norm too.
 * Bound to as many blocks a multiprocessor as sep_bwd_k's registers give
 * it (4, 3, 2 for K 3, 5, 7): unbound, the second read took K = 3 from 60
 * registers to 103 and K = 5 from 80 to 124 (K = 3 now spills a little). */
template <int KD>
static __global__ void __launch_bounds__(SEPB_THREADS, 5 - KD / 20)
    sep_bwd_dy_k(tview x, const float *wd, int pad, int relu, tview dy, tview gx,
                 const float *gf, const float *gs, const float *wp, tview dx, int acc,
                 float *dwo, float *dpo, tview bx, const float *bmean, double *bst,
                 sepb_shape sh)
{
    sep_bwd_body<KD, 0, 1>(x, wd, pad, relu, NULL, dy, gx, gf, gs, wp, dx, acc, dwo, dpo, bx,
                           bmean, bst, sh);
}

template <int KD>
static __global__ void __launch_bounds__(SEPB_THREADS, 5 - KD / 20)
    sep_bwd_bn_dy_k(tview x, const float *wd, int pad, int relu, const float *xab, tview dy,
                    tview gx, const float *gf, const float *gs, const float *wp, tview dx,
                    int acc, float *dwo, float *dpo, tview bx, const float *bmean, double *bst,
                    sepb_shape sh)
{
    sep_bwd_body<KD, 1, 1>(x, wd, pad, relu, xab, dy, gx, gf, gs, wp, dx, acc, dwo, dpo, bx,
                           bmean, bst, sh);
}

/* the pair k_sep_bwd takes, and its band (sh may be NULL) */
static int sepb_shape_of(const conv_desc *dd, const conv_desc *pd, int n, int h, int w, int sms,
                         sepb_shape *sh)
{
    sepb_shape tmp;
    if (!sep_pair_ok(dd, pd, h, w) || dd->sh < 1 || dd->sh > 2 || dd->sw != dd->sh ||
        2 * dd->ph != (dd->kh - 1) * dd->dh || conv_out_h(dd, h) != (h + dd->sh - 1) / dd->sh ||
        conv_out_w(dd, w) != (w + dd->sh - 1) / dd->sh || pd->cout < 1 || pd->cout > SEP_CMAX ||
        n < 1 || n > 65535)
        return 0;
    return sepb_plan(dd->kh, dd->dh, dd->sh, dd->cin, pd->cout, n, h, w, sms < 1 ? 1 : sms,
                     sh ? sh : &tmp);
}

int k_sep_bwd_takes(const conv_desc *dd, const conv_desc *pd, int n, int h, int w)
{
    return sepb_shape_of(dd, pd, n, h, w, 1, NULL);
}

long k_sep_bwd_part_floats(const conv_desc *dd, const conv_desc *pd, int n, int h, int w, int sms,
                           int pw)
{
    sepb_shape sh;
    long parts, kk = (long)dd->kh * dd->kh;
    if (!sepb_shape_of(dd, pd, n, h, w, sms, &sh))
        return 0;
    parts = (long)n * sh.bands;
    if (parts <= 1)
        return 0;
    return parts * dd->cin * (pw && pd->cout > kk ? pd->cout : kk);
}

int k_sep_bwd_stats_parts(const conv_desc *dd, const conv_desc *pd, int n, int h, int w)
{
    sepb_shape sh;
    if (!sepb_shape_of(dd, pd, n, h, w, 1, &sh))
        return 0;
    return n * sh.bands;
}

cudaError_t k_sep_bwd(cudaStream_t st, const conv_desc *dd, const conv_desc *pd, tview x,
                      const float *xab, const float *wd, tview dy, const bn_grad_in *dyb,
                      const float *wp, tview dx, int acc, int sms,
                      float *part, float *dwd, k_psum *later, float *ppart, float *dwp,
                      k_psum *plater, const k_bnsums *bn)
{
    sepb_shape sh;
    int kd = dd->kh * 10 + dd->dh, parts;
    cudaError_t e;
    dim3 g;
    if (later)
        later->count = 0;
    if (plater)
        plater->count = 0;
    if (x.n <= 0)
        return cudaSuccess;
    if (!sepb_shape_of(dd, pd, x.n, x.h, x.w, sms, &sh) || x.c != dd->cin || dy.c != pd->cout ||
        dy.h != conv_out_h(dd, x.h) || dy.w != conv_out_w(dd, x.w) || dy.n != x.n ||
        dx.c != x.c || dx.h != x.h || dx.w != x.w || dx.n != x.n)
        return cudaErrorInvalidValue;
    if (bn && (acc || !bn->part || !bn->mean || bn->x.c != x.c || bn->x.h != x.h ||
               bn->x.w != x.w || bn->x.n != x.n))
        return cudaErrorInvalidValue;
    if (dyb && (!dyb->f || (uintptr_t)dyb->f % 16 || !dyb->x.d || dyb->x.c != dy.c ||
                dyb->x.h != dy.h || dyb->x.w != dy.w || dyb->x.n != dy.n))
        return cudaErrorInvalidValue;
    parts = x.n * sh.bands;
    if (parts > 1 && (!part || (dwp && !ppart)))
        return cudaErrorInvalidValue;
    g = dim3((unsigned)(sh.bands * sh.ncg), (unsigned)x.n, 1);
#define SEPB_ARGS                                                                                  \
    wp, dx, acc, parts > 1 ? part : dwd, !dwp ? NULL : parts > 1 ? ppart : dwp,                \
        bn ? bn->x : x, bn ? bn->mean : NULL, bn ? bn->part : NULL, sh
#define SEPB(KD)                                                                                   \
    do {                                                                                           \
        if (xab && dyb)                                                                            \
            K_LAUNCH(sep_bwd_bn_dy_k<KD>, g, SEPB_THREADS, st)                                    \
            (x, wd, dd->ph, dd->relu_in, xab, dy, dyb->x, dyb->f, dyb->sscale, SEPB_ARGS);       \
        else if (xab)                                                                              \
            K_LAUNCH(sep_bwd_bn_k<KD>, g, SEPB_THREADS, st)                                       \
            (x, wd, dd->ph, dd->relu_in, xab, dy, SEPB_ARGS);                                    \
        else if (dyb)                                                                              \
            K_LAUNCH(sep_bwd_dy_k<KD>, g, SEPB_THREADS, st)                                       \
            (x, wd, dd->ph, dd->relu_in, dy, dyb->x, dyb->f, dyb->sscale, SEPB_ARGS);            \
        else                                                                                       \
            K_LAUNCH(sep_bwd_k<KD>, g, SEPB_THREADS, st)                                          \
            (x, wd, dd->ph, dd->relu_in, dy, SEPB_ARGS);                                         \
    } while (0)
    switch (kd) {   /* sepb_shape_of has checked K and dilation */
    case 31: SEPB(31); break;
    case 32: SEPB(32); break;
    case 51: SEPB(51); break;
    case 52: SEPB(52); break;
    case 71: SEPB(71); break;
    default: SEPB(72); break;
    }
#undef SEPB
#undef SEPB_ARGS
    if ((e = cudaGetLastError()) != cudaSuccess ||
        (e = k_parts_finish(st, (long)dd->cin * dd->kh * dd->kh, parts, part, dwd, later)) !=
            cudaSuccess ||
        !dwp)
        return e;
    return k_parts_finish(st, (long)pd->cout * dd->cin, parts, ppart, dwp, plater);
}
