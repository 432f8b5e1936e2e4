/* pwconv.cu - pointwise (1x1) convolutions, forward and both gradients,
 * used where cuDNN would need its input staged (CELLAR_POINTWISE=mixed,
 * the default) or for all (=own): reading the input through ReLU and from
 * a strided, shifted origin directly, so nothing is staged, and writing
 * into channel slices as they are.
 *
 *   forward     block (pixels, image, output-channel group): a thread per
 *               output pixel keeps CH sums in registers (a group's
 *               channels, pw_group: 16 where there are 16 output channels
 *               or fewer, else 32); the weights of the group go through
 *               shared memory 64 input channels at a time, four to a read,
 *               and each input value read is used CH times; planes of at
 *               most PW_PIX / 2 pixels (the proxy's 8x8) take several
 *               images a block, so that no thread idles
 *   data grad   the same with the roles turned: a thread per input pixel,
 *               CH input channels, the output gradient summed over the
 *               output channels; inputs no output reads get zero, and ReLU
 *               masks by x > 0
 *   filter grad a split reduction: block (co tile, ci tile, part) sums the
 *               T x T tile over its range of the n*ho*wo output pixels,
 *               32 pixels at a time through shared memory, each of its
 *               T*T/4 threads a 4 x 4 block of entries over a quarter of
 *               each chunk's pixels (two 4-wide shared-memory reads for
 *               16 products), the quarters added in order at the end;
 *               the parts are then added in k_parts_sum's fixed
 *               order.  T is 16 where both channel counts are 16
 *               or fewer (the proxy's most common pointwise convolution,
 *               16 -> 16, would leave three quarters of a 32 x 32 tile
 *               summing zeros), else 32 (pw_filter_tile)
 *
 * Sums run in a fixed order (conv_math.h says which), so results repeat. */
#include <limits.h>

#include <cuda_pipeline_primitives.h>

#include "common.cuh"
#include "conv_math.h"
#include "fastdiv.h"

#define PW_PIX 128   /* threads (pixels) per block, forward and data gradient */
#define PW_KC 64     /* channels of the summed side per trip through shared memory */
#define PW_LD 8      /* of which a thread loads this many at once (see pw_sum) */

/* a[0..3] += w * v, lane by lane */
static __device__ __forceinline__ void fma4(float *a, float4 w, float v)
{
    a[0] += w.x * v;
    a[1] += w.y * v;
    a[2] += w.z * v;
    a[3] += w.w * v;
}

static __device__ __forceinline__ float relu_if(float v, int relu)
{
    return relu && !(v > 0.f) ? 0.f : v;
}

/* a[0..CH) += wsh[k][..] * relu?(src[k * stride]) for k < kc, k in order:
 * the forward's and data gradient's inner loop over a trip's channels.
 * The values come PW_LD at a time, each group loaded while the group
 * before it is summed, so that PW_LD loads are in flight behind the
 * products: where few blocks run (the 8x8 and 16x16 planes at batch 128
 * fill a few warps a multiprocessor), one or two loads at a time before
 * their products left each thread waiting on memory every channel or two.
 * The sums' order is the same either way. */
template <int CH>
static __device__ __forceinline__ void pw_sum(float *a, const float4 (*wsh)[CH / 4],
                                              const float *src, long stride, int kc, int relu)
{
    int k = 0;
    float v[PW_LD];
    if (kc >= PW_LD) {
#pragma unroll
        for (int u = 0; u < PW_LD; u++)
            v[u] = src[u * stride];
    }
    for (; k + PW_LD <= kc; k += PW_LD) {
        /* the next group (this one again after the last: no branch, so
         * the loads stay ahead of the products) */
        int kn = k + 2 * PW_LD <= kc ? k + PW_LD : k;
        float nv[PW_LD];
#pragma unroll
        for (int u = 0; u < PW_LD; u++)
            nv[u] = src[(kn + u) * stride];
#pragma unroll
        for (int u = 0; u < PW_LD; u++) {
            float r = relu_if(v[u], relu);
#pragma unroll
            for (int j4 = 0; j4 < CH / 4; j4++)
                fma4(a + 4 * j4, wsh[k + u][j4], r);
        }
#pragma unroll
        for (int u = 0; u < PW_LD; u++)
            v[u] = nv[u];
    }
    for (; k < kc; k++) {
        float r = relu_if(src[k * stride], relu);
#pragma unroll
        for (int j4 = 0; j4 < CH / 4; j4++)
            fma4(a + 4 * j4, wsh[k][j4], r);
    }
}

/* Which pixel of which image a thread of a forward or data-gradient
 * block takes: with ipb = 1, pixel blockIdx.x * PW_PIX + threadIdx.x of
 * image blockIdx.y, then every gridDim.y-th image; with ipb > 1 (a plane
 * of at most PW_PIX / ipb pixels, gridDim.x = 1), pixel threadIdx.x % n
 * of the block's image threadIdx.x / n of each group of ipb.  The images
 * are walked in groups the same for the whole block, so that every thread
 * meets the block's barriers; *sub is the thread's image in a group, and
 * the thread has no pixel where the returned one is not below n. */
static __device__ __forceinline__ int pw_pixel(int n, int ipb, int *sub)
{
    int t = (int)threadIdx.x;
    if (ipb <= 1) {
        *sub = 0;
        return (int)blockIdx.x * PW_PIX + t;
    }
    *sub = t / n;
    return *sub < ipb ? t - *sub * n : n;
}

/* y[img][co0 + j][p] (+)= sum over ci of W[co0 + j][ci] * relu?(x[img][ci][src(p)]),
 * for the CH output channels co0.. of the block's group (CH: pw_group) */
template <int CH>
static __global__ void pw_fwd_k(tview x, const float *wt, tview y, int s, int oy, int ox, int relu,
                                int acc, int ipb, double *stats)
{
    /* the weights of input channel ci for the group's output channels
     * 4j..4j+3 in wsh[ci][j]: one shared-memory read serves four sums */
    __shared__ float4 wsh[PW_KC][CH / 4];
    __shared__ double st[CH / 16][PW_PIX];   /* statistics: each lane's warp sums */
    int co0 = blockIdx.z * CH, howo = y.h * y.w, hw = x.h * x.w, sub;
    int p = pw_pixel(howo, ipb, &sub), pix = p < howo, nco = y.c - co0;
    int src = pix ? pw_src(p, y.w, x.w, s, oy, ox) : 0;

    nco = nco < CH ? nco : CH;
    for (int base = blockIdx.y * ipb; base < x.n; base += gridDim.y * ipb) {
        int img = base + sub, live = pix && img < x.n;
        const float *xi = x.d + (long)(live ? img : 0) * x.ns + src;
        float a[CH];
#pragma unroll
        for (int j = 0; j < CH; j++)
            a[j] = 0.f;
        for (int c0 = 0; c0 < x.c; c0 += PW_KC) {
            int kc = x.c - c0 < PW_KC ? x.c - c0 : PW_KC;
            __syncthreads();
            /* consecutive threads read consecutive weights of one output channel */
            for (int t = threadIdx.x; t < PW_KC * (CH / 4); t += blockDim.x) {
                int j4 = t / PW_KC, ci = t - j4 * PW_KC, j = 4 * j4;
                const float *w = wt + (long)(co0 + j) * x.c + c0 + ci;
                float4 v4;
                v4.x = ci < kc && j < nco ? w[0] : 0.f;
                v4.y = ci < kc && j + 1 < nco ? w[x.c] : 0.f;
                v4.z = ci < kc && j + 2 < nco ? w[2L * x.c] : 0.f;
                v4.w = ci < kc && j + 3 < nco ? w[3L * x.c] : 0.f;
                wsh[ci][j4] = v4;
            }
            __syncthreads();
            if (live)
                pw_sum<CH>(a, wsh, xi + (long)c0 * hw, hw, kc, relu);
        }
        if (live) {
            float *yo = y.d + (long)img * y.ns + (long)co0 * howo + p;
#pragma unroll
            for (int j = 0; j < CH; j++)
                if (j < nco)
                    yo[(long)j * howo] = acc ? yo[(long)j * howo] + a[j] : a[j];
        }
        if (stats) {   /* acc is 0 (k_pw_fwd_stats): y's statistics, as sepconv.cu's */
#pragma unroll
            for (int g = 0; g < CH / 16; g++) {
                double v = k_stats16(a + 16 * g);
                int t = (int)threadIdx.x;
                st[g][t] = base == (int)blockIdx.y * ipb ? v : st[g][t] + v;
            }
        }
    }
    if (stats) {
        /* slot t = 32 g + l: lane l's sums of channel group g over the
         * block's warps, part blockIdx.y * gridDim.x + blockIdx.x */
        int t = (int)threadIdx.x, g = t >> 5;
        __syncthreads();
        if (t < CH * 2)
            k_stats_put(&st[g][0], PW_PIX / 32, t & 31, co0 + g * 16 + (t & 15), y.c,
                        (long)blockIdx.y * gridDim.x + blockIdx.x, stats);
    }
}

/* dx[img][ci0 + j][q] (+)= mask * sum over co of W[co][ci0 + j] * dy[img][co][dst(q)],
 * for the CH input channels ci0.. of the block's group (CH: pw_group) */
template <int CH>
static __global__ void pw_data_k(tview x, const float *wt, tview dy, tview dx, int s, int oy,
                                 int ox, int relu, int acc, int ipb)
{
    __shared__ float4 wsh[PW_KC][CH / 4];   /* as in pw_fwd_k, by input channel */
    int ci0 = blockIdx.z * CH, howo = dy.h * dy.w, hw = x.h * x.w, sub;
    int q = pw_pixel(hw, ipb, &sub), pix = q < hw, nci = x.c - ci0, dst0 = -1;

    nci = nci < CH ? nci : CH;
    if (pix) {
        int iy = q / x.w;
        dst0 = pw_dst(iy, q - iy * x.w, dy.h, dy.w, s, oy, ox);
    }
    for (int base = blockIdx.y * ipb; base < x.n; base += gridDim.y * ipb) {
        int img = base + sub, live = pix && img < x.n, dst = live ? dst0 : -1;
        const float *gi = dy.d + (long)(live ? img : 0) * dy.ns + (dst < 0 ? 0 : dst);
        float a[CH];
#pragma unroll
        for (int j = 0; j < CH; j++)
            a[j] = 0.f;
        for (int c0 = 0; c0 < dy.c; c0 += PW_KC) {
            int kc = dy.c - c0 < PW_KC ? dy.c - c0 : PW_KC;
            __syncthreads();
            for (int t = threadIdx.x; t < PW_KC * (CH / 4); t += blockDim.x) {
                int co = t / (CH / 4), j = 4 * (t - co * (CH / 4));
                const float *w = wt + (long)(c0 + co) * x.c + ci0 + j;
                float4 v4;
                v4.x = co < kc && j < nci ? w[0] : 0.f;
                v4.y = co < kc && j + 1 < nci ? w[1] : 0.f;
                v4.z = co < kc && j + 2 < nci ? w[2] : 0.f;
                v4.w = co < kc && j + 3 < nci ? w[3] : 0.f;
                wsh[co][j / 4] = v4;
            }
            __syncthreads();
            if (dst >= 0)
                pw_sum<CH>(a, wsh, gi + (long)c0 * howo, howo, kc, 0);
        }
        if (live) {
            const float *xq = x.d + (long)img * x.ns + (long)ci0 * hw + q;
            float *o = dx.d + (long)img * dx.ns + (long)ci0 * hw + q;
#pragma unroll
            for (int j = 0; j < CH; j++)
                if (j < nci) {
                    float v = relu && !(xq[(long)j * hw] > 0.f) ? 0.f : a[j];
                    o[(long)j * hw] = acc ? o[(long)j * hw] + v : v;
                }
        }
    }
}

/* out[part][co][ci] = sum over the part's output pixels t of dy[t][co] *
 * relu?(x[src(t)][ci]), for the block's T x T tile, PW_FK pixels at a
 * time through shared memory.  Thread (g, cb, ib) of the T*T/4 keeps the
 * 4 x 4 entries co0 + 4cb.., ci0 + 4ib.. summed over slice g of each
 * chunk (its PW_FK / PW_FG pixels in order), two 4-wide reads a pixel for
 * 16 products; at the end the PW_FG slices' sums are added in order. */
template <int T>
static __global__ void __launch_bounds__(T *T / 4, 4096 / (T * T))
    pw_filter_k(tview x, tview dy, int s, int oy, int ox, int relu, int parts, float *out,
                k_div dhowo, k_div dwo)
{
    enum { Q = T / 4, NT = Q * Q * PW_FG, SL = PW_FK / PW_FG };
    static_assert(NT == T * T / 4 && NT % PW_FK == 0, "a tile's threads load whole chunks");
    /* rows of a chunk's pixels, one float4 of padding (stores of a warp's
     * pixels spread over the banks) */
    __shared__ float4 gs[PW_FK][Q + 1], xs[PW_FK][Q + 1];
    __shared__ float4 red[PW_FG - 1][Q * Q][4];   /* slices 1.. for slice 0 to add */
    int co0 = blockIdx.x * T, ci0 = blockIdx.y * T, part = blockIdx.z;
    int howo = dy.h * dy.w, hw = x.h * x.w;
    int total = x.n * howo, t0 = (int)((long)total * part / parts);
    int t1 = (int)((long)total * (part + 1) / parts);
    int ib = threadIdx.x % Q, cb = threadIdx.x / Q % Q, sl = threadIdx.x / (Q * Q);
    float a[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int k = 0; k < 4; k++)
            a[r][k] = 0.f;

    for (int c0 = t0; c0 < t1; c0 += PW_FK) {
        /* a thread loads one pixel, its place worked out once per chunk
         * (with the dividers), for every NT / PW_FK-th channel of the tile */
        int px = threadIdx.x % PW_FK, in = c0 + px < t1, img = 0, p = 0, src = 0;
        if (in) {
            int t = c0 + px, r;
            img = k_div_q(dhowo, t);
            p = t - img * howo;
            r = k_div_q(dwo, p);
            src = pw_src_rc(r, p - r * dy.w, x.w, s, oy, ox);
        }
        __syncthreads();
        /* asynchronous copies (cp.async), all of a thread's started before
         * it waits for any: loading and storing, it waited for each */
        for (int ch = threadIdx.x / PW_FK; ch < T; ch += NT / PW_FK) {
            float *gd = (float *)gs[px] + ch, *vd = (float *)xs[px] + ch;
            if (in && co0 + ch < dy.c)
                __pipeline_memcpy_async(gd, dy.d + (long)img * dy.ns + (long)(co0 + ch) * howo + p,
                                        sizeof(float));
            else
                *gd = 0.f;
            if (in && ci0 + ch < x.c)
                __pipeline_memcpy_async(vd, x.d + (long)img * x.ns + (long)(ci0 + ch) * hw + src,
                                        sizeof(float));
            else
                *vd = 0.f;
        }
        __pipeline_commit();
        __pipeline_wait_prior(0);
        if (relu)
            for (int ch = threadIdx.x / PW_FK; ch < T; ch += NT / PW_FK) {
                float *vd = (float *)xs[px] + ch;
                *vd = relu_if(*vd, 1);
            }
        __syncthreads();
#pragma unroll
        for (int j = 0; j < SL; j++) {
            float4 g = gs[sl * SL + j][cb], v = xs[sl * SL + j][ib];
            float gr[4] = {g.x, g.y, g.z, g.w}, vr[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int k = 0; k < 4; k++)
                    a[r][k] += gr[r] * vr[k];
        }
    }
    if (sl > 0)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float4 b;
            b.x = a[r][0];
            b.y = a[r][1];
            b.z = a[r][2];
            b.w = a[r][3];
            red[sl - 1][cb * Q + ib][r] = b;
        }
    __syncthreads();
    if (sl > 0)
        return;
    for (int o = 0; o < PW_FG - 1; o++)
#pragma unroll
        for (int r = 0; r < 4; r++) {
            float4 b = red[o][cb * Q + ib][r];
            a[r][0] += b.x;
            a[r][1] += b.y;
            a[r][2] += b.z;
            a[r][3] += b.w;
        }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int co = co0 + 4 * cb + r;
        if (co < dy.c)
#pragma unroll
            for (int k = 0; k < 4; k++)
                if (ci0 + 4 * ib + k < x.c)
                    out[((long)part * dy.c + co) * x.c + ci0 + 4 * ib + k] = a[r][k];
    }
}

static int pw_ok(const conv_desc *d, tview x, tview y)
{
    return pw_handles(d) && (y.c + PW_CH - 1) / PW_CH <= 65535 &&
           (x.c + PW_CH - 1) / PW_CH <= 65535;
}

/* nothing to compute: an empty batch, plane or channel set */
static int pw_empty(tview x, tview y)
{
    return x.n <= 0 || x.c <= 0 || y.c <= 0 || x.h * x.w <= 0 || y.h * y.w <= 0;
}

/* The grid of a forward or data-gradient launch over planes of `pixels`
 * pixels (> 0) and `groups` channel groups, with *ipb images a block (see
 * pw_pixel) */
static dim3 pw_grid(int pixels, int n, int groups, int *ipb)
{
    int per = pixels <= PW_PIX / 2 ? PW_PIX / pixels : 1, blocks = (n + per - 1) / per;
    *ipb = per;
    return dim3((unsigned)((pixels + PW_PIX - 1) / PW_PIX),
                (unsigned)(blocks < 65535 ? blocks : 65535), (unsigned)groups);
}

static cudaError_t pw_fwd(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                          int acc, double *stats)
{
    int ipb, ch = pw_group(y.c);
    dim3 g;
    if (!pw_ok(d, x, y))
        return cudaErrorInvalidValue;
    if (pw_empty(x, y))
        return cudaSuccess;
    g = pw_grid(y.h * y.w, x.n, (y.c + ch - 1) / ch, &ipb);
#define FWD(E)                                                                                     \
    K_LAUNCH(pw_fwd_k<E>, g, PW_PIX, st)(x, w, y, d->sh, d->oy, d->ox, d->relu_in, acc, ipb, stats)
    if (ch == 16)
        FWD(16);
    else
        FWD(PW_CH);
#undef FWD
    return cudaGetLastError();
}

cudaError_t k_pw_fwd(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                     int acc)
{
    return pw_fwd(st, d, x, w, y, acc, NULL);
}

int k_pw_stats_parts(const conv_desc *d, int n, int h, int w)
{
    int ipb, ho = conv_out_h(d, h), wo = conv_out_w(d, w);
    dim3 g;
    if (!pw_handles(d) || n < 1 || ho < 1 || wo < 1)
        return 0;
    g = pw_grid(ho * wo, n, 1, &ipb);
    return (int)(g.x * g.y);
}

cudaError_t k_pw_fwd_stats(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                           double *stats)
{
    if (!stats)
        return cudaErrorInvalidValue;
    return pw_fwd(st, d, x, w, y, 0, stats);
}

cudaError_t k_pw_bwd_data(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc)
{
    int ipb, ch = pw_group(x.c);
    dim3 g;
    if (!pw_ok(d, x, dy))
        return cudaErrorInvalidValue;
    if (pw_empty(x, dy))
        return cudaSuccess;
    g = pw_grid(x.h * x.w, x.n, (x.c + ch - 1) / ch, &ipb);
#define DATA(E)                                                                                    \
    K_LAUNCH(pw_data_k<E>, g, PW_PIX, st)(x, w, dy, dx, d->sh, d->oy, d->ox, d->relu_in, acc, ipb)
    if (ch == 16)
        DATA(16);
    else
        DATA(PW_CH);
#undef DATA
    return cudaGetLastError();
}

cudaError_t k_pw_bwd_filter(cudaStream_t st, const conv_desc *d, tview x, tview dy, int parts,
                            float *part, float *dw, k_psum *later)
{
    int T = pw_filter_tile(dy.c, x.c);
    dim3 g((unsigned)((dy.c + T - 1) / T), (unsigned)((x.c + T - 1) / T),
           (unsigned)(parts < 1 ? 1 : parts));
    cudaError_t e;
    if (later)
        later->count = 0;
    if (!pw_handles(d) || parts > 65535 || (parts > 1 && !part) || g.y > 65535 ||
        (long)x.n * dy.h * dy.w > INT_MAX - PW_FK)
        return cudaErrorInvalidValue;
    if (pw_empty(x, dy)) /* an empty batch: a zero filter gradient */
        return cudaMemsetAsync(
            dw, 0, (size_t)(dy.c > 0 ? dy.c : 0) * (x.c > 0 ? x.c : 0) * sizeof *dw, st);
#define FILTER(E)                                                                                  \
    K_LAUNCH(pw_filter_k<E>, g, E * E / 4, st)                                                     \
    (x, dy, d->sh, d->oy, d->ox, d->relu_in, g.z, parts > 1 ? part : dw, k_div_make(dy.h * dy.w), \
     k_div_make(dy.w))
    if (T == 16) {
        FILTER(16);
    } else {
        FILTER(32);
    }
#undef FILTER
    if ((e = cudaGetLastError()) != cudaSuccess)
        return e;
    return k_parts_finish(st, (long)dy.c * x.c, parts, part, dw, later);
}
