/* dwconv.cu - depthwise convolutions (the K x K half of a separable
 * convolution), forward and both gradients, in place of cuDNN's NCHW
 * grouped convolutions, which are slow for one filter per channel.
 *
 * The arithmetic is conv_math.h's, shared with the CPU test that checks
 * it; here it runs with K a compile-time constant (3, 5 or 7) so the tap
 * loops unroll and the filter gradient's K*K sums live in registers.
 *
 *   forward     tiled (below) where the shape allows, else one thread
 *               per output value; the input read through ReLU when the op
 *               has one, so nothing is staged
 *   data grad   tiled where the forward is, else one thread per input
 *               value, gathering the outputs whose windows hold it;
 *               masked by x > 0 under ReLU (no atomics)
 *   filter grad a split reduction: block (c, part) sums its channel's K*K
 *               products over a slice of the batch (per thread, then per
 *               warp by shuffles, then across warps), writing one partial
 *               per part; k_parts_sum adds the parts in its fixed order.  With
 *               one part the block writes dw itself.  Tiled where the
 *               forward is, else one thread per output value.
 *
 * Every sum is in a fixed order, so results repeat bit for bit. */
#include "common.cuh"
#include "conv_math.h"
#include "dwtile.cuh"
#include "fastdiv.h"

template <int K>
static __global__ void dw_fwd_k(tview x, const float *wt, tview y, int s, int p, int d, int relu,
                                int acc, k_div dplane, k_div drow)
{
    int hw = x.h * x.w, howo = y.h * y.w, per = y.c * howo;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns;
        float *yi = y.d + (long)img * y.ns;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j), r = j - c * howo, oy = k_div_q(drow, r), ox = r - oy * y.w;
            float v = dw_fwd_at(xi + (long)c * hw, wt + c * K * K, x.h, x.w, K, s, p, d, relu, oy,
                                ox);
            yi[j] = acc ? yi[j] + v : v;
        }
    }
}

template <int K>
static __global__ void dw_data_k(tview x, const float *wt, tview dy, tview dx, int s, int p, int d,
                                 int relu, int acc, k_div dplane, k_div drow)
{
    int hw = x.h * x.w, howo = dy.h * dy.w, per = x.c * hw;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns, *gi = dy.d + (long)img * dy.ns;
        float *oi = dx.d + (long)img * dx.ns;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j), r = j - c * hw, iy = k_div_q(drow, r), ix = r - iy * x.w;
            /* stride 1 spelt out, so the divisions by it fold away */
            float v = s == 1 ? dw_data_at(gi + (long)c * howo, wt + c * K * K, dy.h, dy.w, K, 1,
                                          p, d, iy, ix)
                             : dw_data_at(gi + (long)c * howo, wt + c * K * K, dy.h, dy.w, K, s,
                                          p, d, iy, ix);
            if (relu && !(xi[j] > 0.f))
                v = 0.f;
            oi[j] = acc ? oi[j] + v : v;
        }
    }
}

/* Block (c, part) of a filter gradient: its threads' K*K sums acc added
 * up (per warp by shuffles, then across warps through red) and written to
 * out[(part * C + c) * K*K + t] */
template <int K>
static __device__ __forceinline__ void dw_filter_out(const float *acc, float (*red)[K_THREADS / 32],
                                                     float *out)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
#pragma unroll
    for (int t = 0; t < K * K; t++) {
        float v = acc[t];
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0)
            red[t][warp] = v;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < K * K; t += blockDim.x) {
        float v = 0.f;
        for (int i = 0; i < nw; i++)
            v += red[t][i];
        out[((long)blockIdx.y * gridDim.x + blockIdx.x) * (K * K) + t] = v;
    }
}

/* block (c, part): out[(part * C + c) * K*K + t] = the sum over the
 * part's images of channel c's products for tap t */
template <int K>
static __global__ void dw_filter_k(tview x, tview dy, int s, int p, int d, int relu, int parts,
                                   float *out, k_div dplane, k_div drow)
{
    __shared__ float sh[K * K][K_THREADS / 32];
    int c = blockIdx.x, part = blockIdx.y, howo = dy.h * dy.w, hw = x.h * x.w;
    int n0 = (int)((long)x.n * part / parts), n1 = (int)((long)x.n * (part + 1) / parts);
    int count = (n1 - n0) * howo;
    float acc[K * K];

#pragma unroll
    for (int t = 0; t < K * K; t++)
        acc[t] = 0.f;
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
        int q = k_div_q(dplane, j), img = n0 + q, r = j - q * howo, oy = k_div_q(drow, r);
        int ox = r - oy * dy.w;
        float gv = dy.d[(long)img * dy.ns + (long)c * howo + r];
        dw_filter_add(x.d + (long)img * x.ns + (long)c * hw, x.h, x.w, K, s, p, d, relu, oy, ox,
                      gv, acc);
    }
    dw_filter_out<K>(acc, sh, out);
}

/* ---- tiled: planes in shared memory, a strip of outputs per thread ----
 *
 * Forward, and the data gradient (the same correlation at stride 1 over
 * dy with the filter turned round and padding (K-1)*D - p; at stride 2
 * over dy spread out, a zero between neighbours in rows and columns, so
 * three taps in four multiply zeros but none needs a test; the filter
 * gradient, dw_filter_tile_k below, tiles x the same way): a block copies
 * its planes (or a band of rows of one big plane), read through ReLU and
 * zero-padded, into shared memory with the filters, then each thread
 * computes DWT_V neighbouring outputs of a row at a time, holding the
 * input values one filter row spans for them in registers.  Compared with
 * one thread per output reading through the cache with bounds checks at
 * every tap: no bounds checks after the copy, and each tap's value loaded
 * once for DWT_V outputs.  The forward adds its taps in the order the
 * simple kernel does (the padding adds zeros); the data gradient in the
 * opposite order.  CELLAR_DEPTHWISE=simple keeps to the simple kernels. */

#define DWT_V 4           /* outputs of a row per thread */
#define DWT_FLOATS 8192   /* shared memory for the planes: 32 KB */
#define DWT_PLANES 16     /* planes per block at most */

/* What a block covers: P planes (all rows), or one plane's band of R rows.
 * The dividers (kernels/fastdiv.h) split the kernels' flat indices with
 * no integer division: th (tile rows a plane), spr (strips of DWT_V
 * outputs a row) and R * spr (strips a plane's band; where P > 1 a band
 * is the whole plane, and where P = 1 every strip index is below it, so
 * it splits a block's strips by plane either way). */
typedef struct dwt_shape {
    int P, R, bands, th, tw;
    k_div dth, dspr, dstrips;
} dwt_shape;

/* The block shape for outputs oh x ow, taps K with stride S and dilation D,
 * about K_THREADS strips per block; 0 when one output row's band does not
 * fit in shared memory. */
static int dwt_plan(int K, int S, int D, int oh, int ow, int planes, dwt_shape *sh)
{
    int spr = (ow + DWT_V - 1) / DWT_V, span = (K - 1) * D + 1;
    long tw = (long)(spr * DWT_V - 1) * S + span;
    if (oh < 1 || ow < 1 || planes < 1 || tw * span > DWT_FLOATS)
        return 0;
    sh->tw = (int)tw;
    if ((long)oh * spr >= K_THREADS / 2) {   /* a big plane: bands of rows */
        int R = K_THREADS / spr;
        if (R < 1)
            R = 1;
        if (R > oh)
            R = oh;
        while (R > 1 && ((long)(R - 1) * S + span) * tw > DWT_FLOATS)
            R--;
        sh->P = 1;
        sh->R = R;
    } else {   /* small planes: several to a block */
        long th = (long)(oh - 1) * S + span;
        int P = K_THREADS / (oh * spr);
        if (P > DWT_PLANES)
            P = DWT_PLANES;
        if (P > planes)
            P = planes;
        while (P > 1 && P * th * tw > DWT_FLOATS)
            P--;
        if (P < 1)
            P = 1;
        if (th * tw > DWT_FLOATS)
            return 0;
        sh->P = P;
        sh->R = oh;
    }
    sh->bands = (oh + sh->R - 1) / sh->R;
    sh->th = (sh->R - 1) * S + span;
    sh->dth = k_div_make(sh->th);
    sh->dspr = k_div_make(spr);
    sh->dstrips = k_div_make(sh->R * spr);
    return 1;
}

/* out (+)= the correlation of src's planes (read through ReLU when relu;
 * up = 2: spread out, as dwt_copy_row) with the filters, taps K x K at
 * stride S and dilation D, the window of output (oy, ox) starting at input
 * (oy*S - pad, ox*S - pad); flip: each filter turned round (tap K*K-1-t
 * for t); mask (its .d NULL: none): an output is 0 where mask's value at
 * the same place is not > 0.  dc divides by src's channels. */
template <int KSD>   /* K*100 + S*10 + D: one parameter, so a launch macro takes it */
static __global__ void dw_tile_k(tview src, int up, const float *wt, int flip, int pad, int relu,
                                 tview out, tview mask, int acc, dwt_shape sh, k_div dc)
{
    enum { K = KSD / 100, S = KSD / 10 % 10, D = KSD % 10 };
    __shared__ float tile[DWT_FLOATS];
    __shared__ float wsh[DWT_PLANES * K * K];
    int C = src.c, nq = src.n * C, hw = src.h * src.w, ohw = out.h * out.w;
    int grp = blockIdx.x / sh.bands, band = blockIdx.x - grp * sh.bands;
    int q0 = grp * sh.P, np = nq - q0 < sh.P ? nq - q0 : sh.P;
    int oy0 = band * sh.R, rows = out.h - oy0 < sh.R ? out.h - oy0 : sh.R;
    int iy0 = oy0 * S - pad, per = sh.th * sh.tw, spr = (out.w + DWT_V - 1) / DWT_V;
    int warp = threadIdx.x >> 5, nw = blockDim.x >> 5;

    /* the planes' rows, a warp to a row */
    for (int row = warp; row < np * sh.th; row += nw) {
        int i = k_div_q(sh.dth, row), ty = row - i * sh.th, q = q0 + i, img = k_div_q(dc, q);
        int c = q - img * C;
        dwt_copy_row(tile + i * per + ty * sh.tw, src.d + (long)img * src.ns + (long)c * hw,
                     iy0 + ty, src.h, src.w, sh.tw, pad, relu, up);
    }
    for (int j = threadIdx.x; j < np * K * K; j += blockDim.x) {
        int i = j / (K * K), tap = j - i * (K * K), c = q0 + i - k_div_q(dc, q0 + i) * C;
        wsh[j] = wt[c * (K * K) + (flip ? K * K - 1 - tap : tap)];
    }
    __syncthreads();

    for (int j = threadIdx.x; j < np * rows * spr; j += blockDim.x) {
        int i = k_div_q(sh.dstrips, j), r = j - i * (int)sh.dstrips.d, ry = k_div_q(sh.dspr, r);
        int ox0 = (r - ry * spr) * DWT_V, q = q0 + i, img = k_div_q(dc, q), c = q - img * C;
        int oy = oy0 + ry;
        const float *tp = tile + i * per + ry * S * sh.tw + ox0 * S, *wp = wsh + i * (K * K);
        float a[DWT_V];
#pragma unroll
        for (int v = 0; v < DWT_V; v++)
            a[v] = 0.f;
        dwt_strip<K, S, D, DWT_V>(a, tp, sh.tw, wp);
        long o = (long)img * out.ns + (long)c * ohw + (long)oy * out.w;
        long m = mask.d ? (long)img * mask.ns + (long)c * ohw + (long)oy * out.w : 0;
#pragma unroll
        for (int v = 0; v < DWT_V; v++) {
            int ox = ox0 + v;
            if (ox >= out.w)
                break;
            float val = mask.d && !(mask.d[m + ox] > 0.f) ? 0.f : a[v];
            out.d[o + ox] = acc ? out.d[o + ox] + val : val;
        }
    }
}

/* The filter gradient from tiles: block (c, part) as dw_filter_k, its
 * images' x planes (or bands of rows) copied into shared memory as the
 * forward copies them, each thread a strip of DWT_V outputs: for each tap,
 * the strip's dy values times the x values the tap reads for them, the
 * K*K sums in registers; then summed over the block as dw_filter_k does.
 * sh.P is images at a time. */
template <int KSD>
static __global__ void dw_filter_tile_k(tview x, tview dy, int pad, int relu, int parts,
                                        dwt_shape sh, float *out)
{
    enum { K = KSD / 100, S = KSD / 10 % 10, D = KSD % 10 };
    __shared__ float tile[DWT_FLOATS];
    __shared__ float red[K * K][K_THREADS / 32];
    int c = blockIdx.x, part = blockIdx.y, hw = x.h * x.w, ohw = dy.h * dy.w;
    int n0 = (int)((long)x.n * part / parts), n1 = (int)((long)x.n * (part + 1) / parts);
    int per = sh.th * sh.tw, spr = (dy.w + DWT_V - 1) / DWT_V;
    float acc[K * K];
#pragma unroll
    for (int t = 0; t < K * K; t++)
        acc[t] = 0.f;

    for (int g0 = n0; g0 < n1; g0 += sh.P)
        for (int band = 0; band < sh.bands; band++) {
            int np = n1 - g0 < sh.P ? n1 - g0 : sh.P;
            int oy0 = band * sh.R, rows = dy.h - oy0 < sh.R ? dy.h - oy0 : sh.R;
            int iy0 = oy0 * S - pad;
            __syncthreads();   /* the last unit's tile is read */
            dwt_copy_tiles(tile, per, x.d + (long)g0 * x.ns + (long)c * hw, x.ns, np, sh.th,
                           sh.tw, iy0, x.h, x.w, pad, relu, NULL, NULL);
            __syncthreads();
            for (int j = threadIdx.x; j < np * rows * spr; j += blockDim.x) {
                int i = k_div_q(sh.dstrips, j), r = j - i * (int)sh.dstrips.d;
                int ry = k_div_q(sh.dspr, r), ox0 = (r - ry * spr) * DWT_V;
                const float *tp = tile + i * per + ry * S * sh.tw + ox0 * S;
                const float *g = dy.d + (long)(g0 + i) * dy.ns + (long)c * ohw +
                                 (long)(oy0 + ry) * dy.w + ox0;
                float gv[DWT_V];
#pragma unroll
                for (int v = 0; v < DWT_V; v++)
                    gv[v] = ox0 + v < dy.w ? g[v] : 0.f;
                dwt_strip_taps<K, S, D, DWT_V>(acc, gv, tp, sh.tw);
            }
        }
    dw_filter_out<K>(acc, red, out);
}

/* The tiled launch of one correlation, its status in *e; 0 (nothing
 * launched) for a shape it does not take (dwt_takes, an output row's band
 * within shared memory). */
static int dw_tile(cudaStream_t st, int k, int s, int dil, tview src, int up, const float *w,
                   int flip, int pad, int relu, tview out, tview mask, int acc, cudaError_t *e)
{
    dwt_shape sh;
    long planes = (long)src.n * src.c, blocks;
    if (!dwt_takes(s, dil) || up < 1 || up > 2 || planes < 1 || planes > 0x7fffffffL ||
        !dwt_plan(k, s, dil, out.h, out.w, (int)planes, &sh))
        return 0;
    blocks = (planes + sh.P - 1) / sh.P * sh.bands;
    if (blocks > 0x7fffffffL)
        return 0;
#define TILE(KSD)                                                                                  \
    K_LAUNCH(dw_tile_k<KSD>, (unsigned)blocks, K_THREADS, st)(src, up, w, flip, pad, relu, out,   \
                                                               mask, acc, sh, k_div_make(src.c))
    DWT_DISPATCH(k * 100 + s * 10 + dil, TILE)
#undef TILE
    *e = cudaGetLastError();
    return 1;
}

#define DW_DISPATCH(k, launch) \
    switch (k) {               \
    case 3:                    \
        launch(3);             \
        break;                 \
    case 5:                    \
        launch(5);             \
        break;                 \
    case 7:                    \
        launch(7);             \
        break;                 \
    default:                   \
        return cudaErrorInvalidValue; \
    }

cudaError_t k_dw_fwd(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                     int acc, int tiled)
{
    dim3 g = k_grid2((long)y.c * y.h * y.w, x.n);
    k_div dp = k_div_make(y.h * y.w), dr = k_div_make(y.w);
    if (!dw_handles(d))
        return cudaErrorInvalidValue;
    if (tiled) {
        tview none = {NULL, 0, 0, 0, 0, 0};
        cudaError_t e;
        if (dw_tile(st, d->kh, d->sh, d->dh, x, 1, w, 0, d->ph, d->relu_in, y, none, acc, &e))
            return e;
    }
#define FWD(K)                                                                                     \
    K_LAUNCH(dw_fwd_k<K>, g, K_THREADS, st)(x, w, y, d->sh, d->ph, d->dh, d->relu_in, acc, dp, dr)
    DW_DISPATCH(d->kh, FWD)
#undef FWD
    return cudaGetLastError();
}

cudaError_t k_dw_bwd_data(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc, int tiled)
{
    dim3 g = k_grid2((long)x.c * x.h * x.w, x.n);
    k_div dp = k_div_make(x.h * x.w), dr = k_div_make(x.w);
    if (!dw_handles(d))
        return cudaErrorInvalidValue;
    /* dx is dy (at stride 2 spread out, a zero between neighbours)
     * correlated at stride 1 with the filters turned round */
    if (tiled) {
        tview none = {NULL, 0, 0, 0, 0, 0};
        cudaError_t e;
        if (dw_tile(st, d->kh, 1, d->dh, dy, d->sh, w, 1, (d->kh - 1) * d->dh - d->ph, 0, dx,
                    d->relu_in ? x : none, acc, &e))
            return e;
    }
#define DATA(K)                                                                                    \
    K_LAUNCH(dw_data_k<K>, g, K_THREADS, st)                                                      \
    (x, w, dy, dx, d->sh, d->ph, d->dh, d->relu_in, acc, dp, dr)
    DW_DISPATCH(d->kh, DATA)
#undef DATA
    return cudaGetLastError();
}

cudaError_t k_dw_bwd_filter(cudaStream_t st, const conv_desc *d, tview x, tview dy, int parts,
                            float *part, float *dw, int tiled, k_psum *later)
{
    int kk = d->kh * d->kh, k = d->kh, s = d->sh, dil = d->dh;
    dim3 g((unsigned)x.c, (unsigned)(parts < 1 ? 1 : parts), 1);
    float *out = parts > 1 ? part : dw;
    cudaError_t e;
    dwt_shape sh;
    if (later)
        later->count = 0;
    if (x.c <= 0)   /* no channels: no filter, and a grid of 0 blocks is refused */
        return cudaSuccess;
    if (!dw_handles(d) || x.c > 65535 || parts > 65535 || (long)x.n * dy.h * dy.w > 0x7fffffffL ||
        (parts > 1 && !part))
        return cudaErrorInvalidValue;
    /* tiled: as many images at a time as a part has at most */
    if (tiled && dwt_takes(s, dil) && x.n > 0 &&
        dwt_plan(k, s, dil, dy.h, dy.w, (int)((x.n + (long)g.y - 1) / g.y), &sh)) {
#define FTILE(KSD)                                                                                 \
    K_LAUNCH(dw_filter_tile_k<KSD>, g, K_THREADS, st)(x, dy, d->ph, d->relu_in, g.y, sh, out)
        DWT_DISPATCH(k * 100 + s * 10 + dil, FTILE)
#undef FTILE
    } else {
#define FILT(K)                                                                                    \
    K_LAUNCH(dw_filter_k<K>, g, K_THREADS, st)                                                    \
    (x, dy, d->sh, d->ph, d->dh, d->relu_in, g.y, out, k_div_make(dy.h * dy.w), k_div_make(dy.w))
        DW_DISPATCH(d->kh, FILT)
#undef FILT
    }
    if ((e = cudaGetLastError()) != cudaSuccess)
        return e;
    return k_parts_finish(st, (long)x.c * kk, parts, part, dw, later);
}
