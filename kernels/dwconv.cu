/* dwconv.cu - depthwise convolutions (the K x K half of a separable
 * convolution), forward and both gradients, in place of cuDNN's NCHW
 * grouped convolutions, which are slow for one filter per channel.
 *
 * The arithmetic is conv_math.h's, shared with the CPU test that checks
 * it; here it runs with K a compile-time constant (3, 5 or 7) so the tap
 * loops unroll and the filter gradient's K*K sums live in registers.
 *
 *   forward     one thread per output value; the input read through ReLU
 *               when the op has one, so nothing is staged
 *   data grad   one thread per input value, gathering the outputs whose
 *               windows hold it, masked by x > 0 under ReLU (no atomics)
 *   filter grad a split reduction: block (c, part) sums its channel's K*K
 *               products over a slice of the batch (per thread, then per
 *               warp by shuffles, then across warps), writing one partial
 *               per part; a second kernel adds the parts in order.  With
 *               one part the block writes dw itself.
 *
 * Every sum is in a fixed order, so results repeat bit for bit. */
#include "common.cuh"
#include "conv_math.h"

template <int K>
static __global__ void dw_fwd_k(tview x, const float *wt, tview y, int s, int p, int d, int relu,
                                int acc)
{
    int hw = x.h * x.w, howo = y.h * y.w, per = y.c * howo;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns;
        float *yi = y.d + (long)img * y.ns;
        FOR_VALUES(j, per)
        {
            int c = j / howo, r = j - c * howo, oy = r / y.w, ox = r - oy * y.w;
            float v = dw_fwd_at(xi + (long)c * hw, wt + c * K * K, x.h, x.w, K, s, p, d, relu, oy,
                                ox);
            yi[j] = acc ? yi[j] + v : v;
        }
    }
}

template <int K>
static __global__ void dw_data_k(tview x, const float *wt, tview dy, tview dx, int s, int p, int d,
                                 int relu, int acc)
{
    int hw = x.h * x.w, howo = dy.h * dy.w, per = x.c * hw;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns, *gi = dy.d + (long)img * dy.ns;
        float *oi = dx.d + (long)img * dx.ns;
        FOR_VALUES(j, per)
        {
            int c = j / hw, r = j - c * hw, iy = r / x.w, ix = r - iy * x.w;
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

/* block (c, part): out[(part * C + c) * K*K + t] = the sum over the
 * part's images of channel c's products for tap t */
template <int K>
static __global__ void dw_filter_k(tview x, tview dy, int s, int p, int d, int relu, int parts,
                                   float *out)
{
    __shared__ float sh[K * K][K_THREADS / 32];
    int c = blockIdx.x, part = blockIdx.y, howo = dy.h * dy.w, hw = x.h * x.w;
    int n0 = (int)((long)x.n * part / parts), n1 = (int)((long)x.n * (part + 1) / parts);
    int count = (n1 - n0) * howo, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int nw = blockDim.x >> 5;
    float acc[K * K];

#pragma unroll
    for (int t = 0; t < K * K; t++)
        acc[t] = 0.f;
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
        int img = n0 + j / howo, r = j % howo, oy = r / dy.w, ox = r - oy * dy.w;
        float gv = dy.d[(long)img * dy.ns + (long)c * howo + r];
        dw_filter_add(x.d + (long)img * x.ns + (long)c * hw, x.h, x.w, K, s, p, d, relu, oy, ox,
                      gv, acc);
    }
#pragma unroll
    for (int t = 0; t < K * K; t++) {
        float v = acc[t];
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0)
            sh[t][warp] = v;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < K * K; t += blockDim.x) {
        float v = 0.f;
        for (int i = 0; i < nw; i++)
            v += sh[t][i];
        out[((long)part * gridDim.x + c) * (K * K) + t] = v;
    }
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
                     int acc)
{
    dim3 g = k_grid2((long)y.c * y.h * y.w, x.n);
    if (!dw_handles(d))
        return cudaErrorInvalidValue;
#define FWD(K)                                                                                     \
    K_LAUNCH(dw_fwd_k<K>, g, K_THREADS, st)(x, w, y, d->sh, d->ph, d->dh, d->relu_in, acc)
    DW_DISPATCH(d->kh, FWD)
#undef FWD
    return cudaGetLastError();
}

cudaError_t k_dw_bwd_data(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc)
{
    dim3 g = k_grid2((long)x.c * x.h * x.w, x.n);
    if (!dw_handles(d))
        return cudaErrorInvalidValue;
#define DATA(K)                                                                                    \
    K_LAUNCH(dw_data_k<K>, g, K_THREADS, st)(x, w, dy, dx, d->sh, d->ph, d->dh, d->relu_in, acc)
    DW_DISPATCH(d->kh, DATA)
#undef DATA
    return cudaGetLastError();
}

cudaError_t k_dw_bwd_filter(cudaStream_t st, const conv_desc *d, tview x, tview dy, int parts,
                            float *part, float *dw)
{
    int kk = d->kh * d->kh;
    dim3 g((unsigned)x.c, (unsigned)(parts < 1 ? 1 : parts), 1);
    float *out = parts > 1 ? part : dw;
    cudaError_t e;
    if (x.c <= 0)   /* no channels: no filter, and a grid of 0 blocks is refused */
        return cudaSuccess;
    if (!dw_handles(d) || x.c > 65535 || parts > 65535 || (long)x.n * dy.h * dy.w > 0x7fffffffL ||
        (parts > 1 && !part))
        return cudaErrorInvalidValue;
#define FILT(K)                                                                                    \
    K_LAUNCH(dw_filter_k<K>, g, K_THREADS, st)(x, dy, d->sh, d->ph, d->dh, d->relu_in, g.y, out)
    DW_DISPATCH(d->kh, FILT)
#undef FILT
    e = cudaGetLastError();
    if (parts <= 1 || e != cudaSuccess)
        return e;
    return k_parts_sum(st, (long)x.c * kk, parts, part, dw);
}
