/* bn.cu - batch normalisation with the CPU backend's semantics (bn_cpu.c):
 * training uses the batch statistics (mean and biased variance), saves
 * mean and 1/std, moves the running statistics
 * by the momentum with the unbiased variance, and writes
 * y (+)= sscale[n] * (gamma * xhat + beta); backward gives dgamma, dbeta
 * (overwritten) and dx (+)= gamma * rstd * (dy' - mean(dy') - xhat *
 * mean(dy' xhat)) with dy' = sscale[n] * dy.  With y2 (an identity op
 * folded in: backend.h), y2 (+)= what y then holds, and backward dy2 is
 * added to dy as it is read.
 *
 * Two ways, both deterministic, with sums in double:
 *
 *   one block per channel, all passes in that block (the channel's n*h*w
 *   values stay in L2 between them; the variance around the mean, a
 *   second pass): for many channels;
 *   split, when channels are too few to fill the GPU (the proxy's 16 to
 *   64): each channel's values are cut into `parts` ranges, block (c, p)
 *   sums range p (x and x^2 forward; dy and dy*(x - mean) backward) into
 *   part[(p*C + c)*2 + 0..1]; then block (c, p) of a second kernel adds
 *   its channel's parts in a fixed order, a warp at once (so every block
 *   of a channel gets the same statistics), block (c, 0) writes the
 *   per-channel results, and each block normalises (or back-propagates
 *   through) its own range.
 *   The variance is E[x^2] - mean^2 in double, one pass over x;
 *   with the statistics already summed in parts by the kernel that wrote
 *   x (sepconv.cu), only the second kernel runs (k_bn_fwd_train_parts);
 *   so in the backward with dy's sums taken by the kernel that wrote dy
 *   (the separable backward, sepconv.cu: k_bn_bwd_parts). */
#include <limits.h>

#include "common.cuh"
#include "fastdiv.h"

#define BN_THREADS 512

/* value i (of n*h*w) of channel c's plane in view t; co = c*h*w; hw
 * divides by h*w (kernels/fastdiv.h: a channel's values are walked across
 * the images, one division each) */
static __device__ __forceinline__ long bn_at(const tview &t, long co, k_div hw, int i)
{
    int img = k_div_q(hw, i);
    return (long)img * t.ns + co + (i - img * (int)hw.d);
}

/* From a channel's mean and biased variance over m values: its mean and
 * 1/std as floats, written (with the running statistics moved) when
 * `write` */
static __device__ void bn_finish(double mean, double var, int m, float eps, float mom, int c,
                                 int write, float *save_mean, float *save_rstd, float *run_mean,
                                 float *run_var, float *mf, float *rstd)
{
    *mf = (float)mean;
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
    if (!write)
        return;
    save_mean[c] = *mf;
    save_rstd[c] = *rstd;
    if (run_mean) {
        double unbiased = m > 1 ? var * m / (m - 1) : var;
        run_mean[c] = (float)((1.0 - mom) * run_mean[c] + (double)mom * mean);
        run_var[c] = (float)((1.0 - mom) * run_var[c] + (double)mom * unbiased);
    }
}

/* The passes over a channel's values take BN_LD of a thread's values at
 * a time (values i, i + bd, ..., bd the block's threads), every load of
 * the group before any store: a thread's values one at a time (a store
 * between each load and the next, which the compiler may not move a load
 * above) kept one or two loads in flight, and a batch norm does little
 * but wait on memory.  Each value's result, and the order of the sums,
 * are as one at a time. */
#define BN_LD 4

/* v[u] = value i + u * bd of the channel in view t (co = c*h*w), 0 from
 * i1 on */
static __device__ __forceinline__ void bn_group(const tview &t, long co, k_div hw, int i, int bd,
                                                int i1, float *v)
{
#pragma unroll
    for (int u = 0; u < BN_LD; u++) {
        int j = i + u * bd;
        v[u] = j < i1 ? t.d[bn_at(t, co, hw, j)] : 0.f;
    }
}

/* sc[u] = the drop-path scale of value i + u * bd's image (1 without
 * scales), 0 from i1 on */
static __device__ __forceinline__ void bn_group_scales(const float *sscale, k_div hw, int i,
                                                       int bd, int i1, float *sc)
{
#pragma unroll
    for (int u = 0; u < BN_LD; u++) {
        int j = i + u * bd;
        sc[u] = j >= i1 ? 0.f : sscale ? sscale[k_div_q(hw, j)] : 1.f;
    }
}

/* y (+)= sscale[img] * (a x + b) over the channel's values [i0, i1);
 * with y2.d, y2 (+)= (acc2) what y then holds */
static __device__ void bn_apply(tview x, tview y, long co, k_div hw, float a, float b, int acc,
                                const float *sscale, tview y2, int acc2, int i0, int i1)
{
    int bd = (int)blockDim.x;
    for (int i = i0 + (int)threadIdx.x; i < i1; i += BN_LD * bd) {
        float v[BN_LD], o[BN_LD] = {}, o2[BN_LD] = {}, sc[BN_LD];
        bn_group_scales(sscale, hw, i, bd, i1, sc);
        bn_group(x, co, hw, i, bd, i1, v);
        if (acc)
            bn_group(y, co, hw, i, bd, i1, o);
        if (y2.d && acc2)
            bn_group(y2, co, hw, i, bd, i1, o2);
#pragma unroll
        for (int u = 0; u < BN_LD; u++) {
            int j = i + u * bd;
            if (j < i1) {
                float r = (sc[u] * a) * v[u] + sc[u] * b, *q = y.d + bn_at(y, co, hw, j);
                if (!acc)
                    *q = r;
                else if (sc[u] != 0.f)
                    *q = r = o[u] + r;
                else
                    r = o[u];
                if (y2.d)
                    y2.d[bn_at(y2, co, hw, j)] = acc2 ? o2[u] + r : r;
            }
        }
    }
}

/* g[u] = dy (+ dy2, given) at value i + u * bd, 0 from i1 on */
static __device__ __forceinline__ void bn_dy_group(const tview &dy, const tview &dy2, long co,
                                                   k_div hw, int i, int bd, int i1, float *g)
{
    bn_group(dy, co, hw, i, bd, i1, g);
    if (dy2.d) {
        float g2[BN_LD];
        bn_group(dy2, co, hw, i, bd, i1, g2);
#pragma unroll
        for (int u = 0; u < BN_LD; u++)
            g[u] += g2[u];
    }
}

/* the block's sums of dy' and dy' (x - mean) over [i0, i1), dy' = sscale
 * (dy + dy2) (dy2 where given) */
static __device__ void bn_dy_sums(tview x, tview dy, tview dy2, long co, k_div hw, float mean,
                                  const float *sscale, int i0, int i1, double *sh, double *sdy,
                                  double *sdyx)
{
    double a = 0.0, b = 0.0;
    int bd = (int)blockDim.x;
    for (int i = i0 + (int)threadIdx.x; i < i1; i += BN_LD * bd) {
        float g[BN_LD], p[BN_LD], sc[BN_LD];
        bn_group_scales(sscale, hw, i, bd, i1, sc);   /* 0 past i1: skipped */
        bn_dy_group(dy, dy2, co, hw, i, bd, i1, g);
        bn_group(x, co, hw, i, bd, i1, p);
#pragma unroll
        for (int u = 0; u < BN_LD; u++)
            if (sc[u] != 0.f) {
                a += (double)sc[u] * g[u];
                b += (double)sc[u] * (g[u] * (p[u] - mean));
            }
    }
    *sdy = block_sum(a, sh);
    *sdyx = block_sum(b, sh);
}

/* the backward's per-channel factors from the channel's sums: k = gamma
 * rstd, mdy = mean dy', mdyx = mean dy' xhat * rstd; dgamma and dbeta
 * written when `write` */
static __device__ void bn_grads(double sdy, double sdyx, float gamma, float rstd, int m, int c,
                                int write, float *dgamma, float *dbeta, float *k, float *mdy,
                                float *mdyx)
{
    if (write) {
        dbeta[c] = (float)sdy;
        dgamma[c] = (float)(sdyx * rstd);
    }
    *k = gamma * rstd;
    *mdy = (float)(sdy / m);
    *mdyx = (float)(sdyx * rstd / m) * rstd;
}

/* dx (+)= k (dy' - mdy - (x - mean) mdyx) over [i0, i1) */
static __device__ void bn_dx(tview x, tview dy, tview dy2, tview dx, long co, k_div hw,
                             float mean, float k, float mdy, float mdyx, const float *sscale,
                             int acc, int i0, int i1)
{
    int bd = (int)blockDim.x;
    for (int i = i0 + (int)threadIdx.x; i < i1; i += BN_LD * bd) {
        float g[BN_LD], p[BN_LD], o[BN_LD] = {}, sc[BN_LD];
        bn_group_scales(sscale, hw, i, bd, i1, sc);
        bn_dy_group(dy, dy2, co, hw, i, bd, i1, g);
        bn_group(x, co, hw, i, bd, i1, p);
        if (acc)
            bn_group(dx, co, hw, i, bd, i1, o);
#pragma unroll
        for (int u = 0; u < BN_LD; u++) {
            int j = i + u * bd;
            float v = k * (sc[u] * g[u] - mdy - (p[u] - mean) * mdyx);
            if (j < i1)
                dx.d[bn_at(dx, co, hw, j)] = acc ? o[u] + v : v;
        }
    }
}

static __global__ void bn_fwd_train_k(float eps, float mom, tview x, const float *gamma,
                                      const float *beta, float *save_mean, float *save_rstd,
                                      float *run_mean, float *run_var, tview y, int acc,
                                      const float *sscale, tview y2, int acc2, k_div hd)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw;
    long co = (long)c * hw;
    double s = 0.0, q = 0.0, mean, var;
    float mf, rstd, a;

    for (int i = threadIdx.x; i < m; i += blockDim.x)
        s += x.d[bn_at(x, co, hd, i)];
    mean = block_sum(s, sh) / m;
    mf = (float)mean;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        float d = x.d[bn_at(x, co, hd, i)] - mf;
        q += (double)(d * d);
    }
    var = block_sum(q, sh) / m;
    bn_finish(mean, var, m, eps, mom, c, threadIdx.x == 0, save_mean, save_rstd, run_mean, run_var,
              &mf, &rstd);
    a = gamma[c] * rstd;
    bn_apply(x, y, co, hd, a, beta[c] - mf * a, acc, sscale, y2, acc2, 0, m);
}

cudaError_t k_bn_fwd_train(cudaStream_t st, float eps, float momentum, tview x, const float *gamma,
                           const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                           float *run_var, tview y, int acc, const float *sscale, tview y2,
                           int acc2)
{
    if ((long)x.n * x.h * x.w > INT_MAX)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_fwd_train_k, x.c, BN_THREADS, st)
    (eps, momentum, x, gamma, beta, save_mean, save_rstd, run_mean, run_var, y, acc, sscale, y2,
     acc2, k_div_make(x.h * x.w));
    return cudaGetLastError();
}

/* ---- split over the batch ---- */

#define BN_SPLIT_THREADS 256

/* the range of channel values block (c, p) covers: [*i0, *i1) of m */
static __device__ __forceinline__ void bn_range(int m, int parts, int *i0, int *i1)
{
    *i0 = (int)((long)m * blockIdx.y / parts);
    *i1 = (int)((long)m * (blockIdx.y + 1) / parts);
}

static __global__ void bn_stats_k(tview x, int parts, double *part, k_div hd)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, i0, i1;
    long co = (long)c * hw;
    double s = 0.0, q = 0.0;
    bn_range(x.n * hw, parts, &i0, &i1);
    for (int i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
        double v = x.d[bn_at(x, co, hd, i)];
        s += v;
        q += v * v;
    }
    s = block_sum(s, sh);
    q = block_sum(q, sh);
    if (threadIdx.x == 0) {
        part[((long)blockIdx.y * gridDim.x + c) * 2] = s;
        part[((long)blockIdx.y * gridDim.x + c) * 2 + 1] = q;
    }
}

/* channel c's two sums over all parts, called by the 32 lanes of the
 * block's first warp: lane l adds parts l, l + 32, ... in order, then the
 * lanes' sums meet in warp_sum's fixed tree, so every block of a channel
 * gets the same totals (in lane 0) without one thread reading every part */
static __device__ void bn_parts_total(const double *part, int parts, int c, double *s, double *q)
{
    double a = 0.0, b = 0.0;
    for (int p = threadIdx.x; p < parts; p += 32) {
        a += part[((long)p * gridDim.x + c) * 2];
        b += part[((long)p * gridDim.x + c) * 2 + 1];
    }
    *s = warp_sum(a);
    *q = warp_sum(b);
}

/* From channel c's sum s and sum of squares q over m values: its scale
 * *a = gamma rstd and shift *b = beta - mean gamma rstd (the statistics
 * written when `write`, as bn_finish) */
static __device__ void bn_scale_shift(double s, double q, int m, float eps, float mom, int c,
                                      int write, const float *gamma, const float *beta,
                                      float *save_mean, float *save_rstd, float *run_mean,
                                      float *run_var, float *a, float *b)
{
    double mean = s / m, var = q / m - mean * mean;
    float mf, rstd;
    bn_finish(mean, var > 0.0 ? var : 0.0, m, eps, mom, c, write, save_mean, save_rstd, run_mean,
              run_var, &mf, &rstd);
    *a = gamma[c] * rstd;
    *b = beta[c] - mf * *a;
}

/* evaluation: channel c's scale and shift from the running statistics */
static __device__ __forceinline__ void bn_eval_ab(float eps, int c, const float *gamma,
                                                  const float *beta, const float *run_mean,
                                                  const float *run_var, float *a, float *b)
{
    *a = gamma[c] / sqrtf(run_var[c] + eps);
    *b = beta[c] - run_mean[c] * *a;
}

/* The rest of a split forward once thread 0 holds channel blockIdx.x's
 * sum s and sum of squares q: its mean and 1/std (block (c, 0) writes
 * them and moves the running statistics), then range blockIdx.y of
 * gridDim.y of its values normalised; ab: the block's shared pair */
static __device__ void bn_norm_range(double s, double q, float eps, float mom, tview x,
                                     const float *gamma, const float *beta, float *save_mean,
                                     float *save_rstd, float *run_mean, float *run_var, tview y,
                                     int acc, const float *sscale, tview y2, int acc2, k_div hd,
                                     float *ab)
{
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw, i0, i1;
    if (threadIdx.x == 0)
        bn_scale_shift(s, q, m, eps, mom, c, blockIdx.y == 0, gamma, beta, save_mean, save_rstd,
                       run_mean, run_var, &ab[0], &ab[1]);
    __syncthreads();
    bn_range(m, gridDim.y, &i0, &i1);
    bn_apply(x, y, (long)c * hw, hd, ab[0], ab[1], acc, sscale, y2, acc2, i0, i1);
}

static __global__ void bn_norm_k(float eps, float mom, tview x, const float *gamma,
                                 const float *beta, float *save_mean, float *save_rstd,
                                 float *run_mean, float *run_var, tview y, int acc,
                                 const float *sscale, tview y2, int acc2, int parts,
                                 const double *part, k_div hd)
{
    __shared__ float ab[2];
    int c = blockIdx.x;
    double s = 0.0, q = 0.0;
    if (threadIdx.x < 32)
        bn_parts_total(part, parts, c, &s, &q);
    bn_norm_range(s, q, eps, mom, x, gamma, beta, save_mean, save_rstd, run_mean, run_var, y, acc,
                  sscale, y2, acc2, hd, ab);
}

/* channel c's two sums over `nparts` parts summed elsewhere (a kernel's
 * epilogue: sepconv.cu), added by the whole block since they are many
 * (thread i: parts i, i + blockDim.x, ... in order, then block_sum's
 * fixed tree), into every thread's *s and *q; P: const double *, or
 * const volatile double * for parts other blocks of this launch wrote
 * (read past the multiprocessor's L1 cache, which does not follow them) */
template <typename P>
static __device__ void bn_parts_block_total(P part, int nparts, int c, double *sh, double *s,
                                            double *q)
{
    double a = 0.0, b = 0.0;
    for (int p = threadIdx.x; p < nparts; p += blockDim.x) {
        a += part[((long)p * gridDim.x + c) * 2];
        b += part[((long)p * gridDim.x + c) * 2 + 1];
    }
    *s = block_sum(a, sh);
    *q = block_sum(b, sh);
}

/* bn_norm_k for statistics summed elsewhere (bn_parts_block_total); the
 * channel's values are cut into gridDim.y ranges for the normalising */
static __global__ void bn_norm_parts_k(float eps, float mom, tview x, const float *gamma,
                                       const float *beta, float *save_mean, float *save_rstd,
                                       float *run_mean, float *run_var, tview y, int acc,
                                       const float *sscale, tview y2, int acc2, int nparts,
                                       const double *part, k_div hd)
{
    __shared__ double sh[33];
    __shared__ float ab[2];
    double s, q;
    bn_parts_block_total(part, nparts, blockIdx.x, sh, &s, &q);
    bn_norm_range(s, q, eps, mom, x, gamma, beta, save_mean, save_rstd, run_mean, run_var, y, acc,
                  sscale, y2, acc2, hd, ab);
}

/* block c: channel c's statistics from nparts parts, as bn_norm_parts_k
 * takes them (mean and 1/std saved, the running statistics moved), and
 * its scale and shift into ab[c] and ab[gridDim.x + c] instead of y */
static __global__ void bn_affine_parts_k(float eps, float mom, int m, const float *gamma,
                                         const float *beta, float *save_mean, float *save_rstd,
                                         float *run_mean, float *run_var, int nparts,
                                         const double *part, float *ab)
{
    __shared__ double sh[33];
    int c = blockIdx.x;
    double s, q;
    bn_parts_block_total(part, nparts, c, sh, &s, &q);
    if (threadIdx.x == 0)
        bn_scale_shift(s, q, m, eps, mom, c, 1, gamma, beta, save_mean, save_rstd, run_mean,
                       run_var, &ab[c], &ab[gridDim.x + c]);
}

/* evaluation: each channel's scale and shift from the running statistics,
 * as bn_fwd_eval_k applies them */
static __global__ void bn_affine_eval_k(float eps, int C, const float *gamma, const float *beta,
                                        const float *run_mean, const float *run_var, float *ab)
{
    for (int c = (int)(blockIdx.x * blockDim.x + threadIdx.x); c < C;
         c += (int)(gridDim.x * blockDim.x))
        bn_eval_ab(eps, c, gamma, beta, run_mean, run_var, &ab[c], &ab[C + c]);
}

static __global__ void bn_bwd_sums_k(tview x, tview dy, tview dy2, const float *save_mean,
                                     const float *sscale, int parts, double *part, k_div hd)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, i0, i1;
    double sdy, sdyx;
    bn_range(x.n * hw, parts, &i0, &i1);
    bn_dy_sums(x, dy, dy2, (long)c * hw, hd, save_mean[c], sscale, i0, i1, sh, &sdy, &sdyx);
    if (threadIdx.x == 0) {
        part[((long)blockIdx.y * gridDim.x + c) * 2] = sdy;
        part[((long)blockIdx.y * gridDim.x + c) * 2 + 1] = sdyx;
    }
}

/* The rest of a split backward once thread 0 holds channel blockIdx.x's
 * sums of dy' and dy' (x - mean): its factors (block (c, 0) writes dgamma
 * and dbeta), then range blockIdx.y of gridDim.y of its values back-
 * propagated; kk: the block's shared factors */
static __device__ void bn_bwd_range(double sdy, double sdyx, tview x, tview dy, tview dy2,
                                    const float *gamma, const float *save_mean,
                                    const float *save_rstd, const float *sscale, tview dx, int acc,
                                    float *dgamma, float *dbeta, k_div hd, float *kk)
{
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw, i0, i1;
    if (threadIdx.x == 0) {
        bn_grads(sdy, sdyx, gamma[c], save_rstd[c], m, c, blockIdx.y == 0, dgamma, dbeta, &kk[0],
                 &kk[1], &kk[2]);
    }
    __syncthreads();
    bn_range(m, gridDim.y, &i0, &i1);
    bn_dx(x, dy, dy2, dx, (long)c * hw, hd, save_mean[c], kk[0], kk[1], kk[2], sscale, acc, i0,
          i1);
}

static __global__ void bn_bwd_apply_k(tview x, tview dy, tview dy2, const float *gamma,
                                      const float *save_mean, const float *save_rstd,
                                      const float *sscale, tview dx, int acc, float *dgamma,
                                      float *dbeta, int parts, const double *part, k_div hd)
{
    __shared__ float kk[3];
    double sdy = 0.0, sdyx = 0.0;
    if (threadIdx.x < 32)
        bn_parts_total(part, parts, blockIdx.x, &sdy, &sdyx);
    bn_bwd_range(sdy, sdyx, x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma, dbeta,
                 hd, kk);
}

/* bn_bwd_apply_k for sums taken elsewhere (the separable backward's
 * epilogue: sepconv.cu), added by bn_parts_block_total */
static __global__ void bn_bwd_parts_k(tview x, tview dy, const float *gamma,
                                      const float *save_mean, const float *save_rstd,
                                      const float *sscale, tview dx, int acc, float *dgamma,
                                      float *dbeta, int nparts, const double *part, k_div hd)
{
    __shared__ double sh[33];
    __shared__ float kk[3];
    double sdy, sdyx;
    bn_parts_block_total(part, nparts, blockIdx.x, sh, &sdy, &sdyx);
    bn_bwd_range(sdy, sdyx, x, dy, tview{}, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma,
                 dbeta, hd, kk);
}

/* channel c's dgamma, dbeta and the factors of its data gradient from
 * its sums of dy' and dy' (x - mean) over m values, f[4 c ..]: k, the
 * mean of dy', the mean, the mean of dy' (x - mean) rstd^2 */
static __device__ void bn_factors_put(double sdy, double sdyx, int m, int c, const float *gamma,
                                      const float *save_mean, const float *save_rstd,
                                      float *dgamma, float *dbeta, float *f)
{
    float *o = f + 4L * c;
    bn_grads(sdy, sdyx, gamma[c], save_rstd[c], m, c, 1, dgamma, dbeta, &o[0], &o[1], &o[3]);
    o[2] = save_mean[c];
}

/* block c: channel c's sums from nparts parts, as bn_bwd_parts_k adds
 * them, into its factors (bn_factors_put) */
static __global__ void bn_bwd_factors_k(int m, const float *gamma, const float *save_mean,
                                        const float *save_rstd, float *dgamma, float *dbeta,
                                        int nparts, const double *part, float *f)
{
    __shared__ double sh[33];
    int c = blockIdx.x;
    double sdy, sdyx;
    bn_parts_block_total(part, nparts, c, sh, &sdy, &sdyx);
    if (threadIdx.x == 0)
        bn_factors_put(sdy, sdyx, m, c, gamma, save_mean, save_rstd, dgamma, dbeta, f);
}

/* bn_bwd_sums_k and bn_bwd_factors_k in one launch: block (c, p) writes
 * part p of channel c's sums, and the block that writes the channel's
 * last (cnt[c] counts them: zero before the launch, left zero after) adds
 * the parts, as bn_bwd_factors_k does, into the factors.  A part reaches
 * that block by a fence before the count, as in the CUDA Programming
 * Guide's memory-fence example, and is read back volatile. */
static __global__ void bn_bwd_sums_factors_k(tview x, tview dy, const float *sscale,
                                             const float *gamma, const float *save_mean,
                                             const float *save_rstd, float *dgamma,
                                             float *dbeta, int parts, double *part,
                                             unsigned *cnt, float *f, k_div hd)
{
    __shared__ double sh[33];
    __shared__ int last;
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw, i0, i1;
    double sdy, sdyx;
    bn_range(m, parts, &i0, &i1);
    bn_dy_sums(x, dy, tview{}, (long)c * hw, hd, save_mean[c], sscale, i0, i1, sh, &sdy, &sdyx);
    if (threadIdx.x == 0) {
        volatile double *o = part + ((long)blockIdx.y * gridDim.x + c) * 2;
        o[0] = sdy;
        o[1] = sdyx;
        __threadfence();
        last = atomicAdd(&cnt[c], 1u) == (unsigned)parts - 1;
    }
    __syncthreads();
    if (!last)
        return;
    bn_parts_block_total((const volatile double *)part, parts, c, sh, &sdy, &sdyx);
    if (threadIdx.x == 0) {
        bn_factors_put(sdy, sdyx, m, c, gamma, save_mean, save_rstd, dgamma, dbeta, f);
        cnt[c] = 0;
    }
}

/* block c: channel c's sums taken from dy (sscale applied) and x, as
 * bn_bwd_k takes them, into its factors */
static __global__ void bn_bwd_factors_dy_k(tview x, tview dy, const float *sscale,
                                           const float *gamma, const float *save_mean,
                                           const float *save_rstd, float *dgamma, float *dbeta,
                                           float *f, k_div hd)
{
    __shared__ double sh[33];
    int c = blockIdx.x, m = x.n * x.h * x.w;
    double sdy, sdyx;
    bn_dy_sums(x, dy, tview{}, (long)c * x.h * x.w, hd, save_mean[c], sscale, 0, m, sh, &sdy,
               &sdyx);
    if (threadIdx.x == 0)
        bn_factors_put(sdy, sdyx, m, c, gamma, save_mean, save_rstd, dgamma, dbeta, f);
}

cudaError_t k_bn_fwd_train_split(cudaStream_t st, float eps, float momentum, tview x,
                                 const float *gamma, const float *beta, float *save_mean,
                                 float *save_rstd, float *run_mean, float *run_var, tview y,
                                 int acc, const float *sscale, tview y2, int acc2, int parts,
                                 double *part)
{
    dim3 g((unsigned)x.c, (unsigned)parts, 1);
    k_div hd = k_div_make(x.h * x.w);
    cudaError_t e;
    if (parts <= 1)
        return k_bn_fwd_train(st, eps, momentum, x, gamma, beta, save_mean, save_rstd, run_mean,
                              run_var, y, acc, sscale, y2, acc2);
    if ((long)x.n * x.h * x.w > INT_MAX || parts > 65535 || x.c > 0x7fffffff / 2)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_stats_k, g, BN_SPLIT_THREADS, st)(x, parts, part, hd);
    if ((e = cudaGetLastError()) != cudaSuccess)
        return e;
    K_LAUNCH(bn_norm_k, g, BN_SPLIT_THREADS, st)
    (eps, momentum, x, gamma, beta, save_mean, save_rstd, run_mean, run_var, y, acc, sscale, y2,
     acc2, parts, part, hd);
    return cudaGetLastError();
}

/* The grid of a kernel from sums given in nparts parts (a block for each
 * of `ranges` ranges of each channel's values): cudaErrorInvalidValue
 * where x does not fit it, else cudaSuccess, *run 0 when x is empty */
static cudaError_t given_grid(tview x, int nparts, int ranges, dim3 *g, int *run)
{
    *g = dim3((unsigned)x.c, (unsigned)(ranges < 1 ? 1 : ranges), 1);
    *run = x.n > 0 && x.c > 0;
    if ((long)x.n * x.h * x.w > INT_MAX || ranges > 65535 || nparts < 1 ||
        x.c > 0x7fffffff / 2)
        return cudaErrorInvalidValue;
    return cudaSuccess;
}

cudaError_t k_bn_fwd_train_parts(cudaStream_t st, float eps, float momentum, tview x,
                                 const float *gamma, const float *beta, float *save_mean,
                                 float *save_rstd, float *run_mean, float *run_var, tview y,
                                 int acc, const float *sscale, tview y2, int acc2, int nparts,
                                 const double *part, int ranges)
{
    dim3 g;
    int run;
    cudaError_t e = given_grid(x, nparts, ranges, &g, &run);
    if (e != cudaSuccess || !run)
        return e;
    K_LAUNCH(bn_norm_parts_k, g, BN_SPLIT_THREADS, st)
    (eps, momentum, x, gamma, beta, save_mean, save_rstd, run_mean, run_var, y, acc, sscale, y2,
     acc2, nparts, part, k_div_make(x.h * x.w));
    return cudaGetLastError();
}

cudaError_t k_bn_affine_parts(cudaStream_t st, float eps, float momentum, tview x,
                              const float *gamma, const float *beta, float *save_mean,
                              float *save_rstd, float *run_mean, float *run_var, int nparts,
                              const double *part, float *ab)
{
    if (x.n <= 0 || x.c <= 0)
        return cudaSuccess;
    if ((long)x.n * x.h * x.w > INT_MAX || nparts < 1 || x.c > 0x7fffffff / 2)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_affine_parts_k, dim3((unsigned)x.c, 1, 1), BN_SPLIT_THREADS, st)
    (eps, momentum, x.n * x.h * x.w, gamma, beta, save_mean, save_rstd, run_mean, run_var, nparts,
     part, ab);
    return cudaGetLastError();
}

cudaError_t k_bn_affine_eval(cudaStream_t st, float eps, int c, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             float *ab)
{
    if (c <= 0)
        return cudaSuccess;
    K_LAUNCH(bn_affine_eval_k, k_grid1(c), K_THREADS, st)
    (eps, c, gamma, beta, run_mean, run_var, ab);
    return cudaGetLastError();
}

cudaError_t k_bn_bwd_split(cudaStream_t st, tview x, tview dy, tview dy2, const float *gamma,
                           const float *save_mean, const float *save_rstd, const float *sscale,
                           tview dx, int acc, float *dgamma, float *dbeta, int parts,
                           double *part)
{
    dim3 g((unsigned)x.c, (unsigned)parts, 1);
    k_div hd = k_div_make(x.h * x.w);
    cudaError_t e;
    if (parts <= 1)
        return k_bn_bwd(st, x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma,
                        dbeta);
    if ((long)x.n * x.h * x.w > INT_MAX || parts > 65535)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_bwd_sums_k, g, BN_SPLIT_THREADS, st)
    (x, dy, dy2, save_mean, sscale, parts, part, hd);
    if ((e = cudaGetLastError()) != cudaSuccess)
        return e;
    K_LAUNCH(bn_bwd_apply_k, g, BN_SPLIT_THREADS, st)
    (x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma, dbeta, parts, part, hd);
    return cudaGetLastError();
}

cudaError_t k_bn_bwd_parts(cudaStream_t st, tview x, tview dy, const float *gamma,
                           const float *save_mean, const float *save_rstd, const float *sscale,
                           tview dx, int acc, float *dgamma, float *dbeta, int nparts,
                           const double *part, int ranges)
{
    dim3 g;
    int run;
    cudaError_t e = given_grid(x, nparts, ranges, &g, &run);
    if (e != cudaSuccess || !run)
        return e;
    K_LAUNCH(bn_bwd_parts_k, g, BN_SPLIT_THREADS, st)
    (x, dy, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma, dbeta, nparts, part,
     k_div_make(x.h * x.w));
    return cudaGetLastError();
}

cudaError_t k_bn_bwd_factors(cudaStream_t st, tview x, const float *gamma,
                             const float *save_mean, const float *save_rstd, float *dgamma,
                             float *dbeta, int nparts, const double *part, float *f)
{
    if (x.n <= 0 || x.c <= 0)
        return cudaSuccess;
    if ((long)x.n * x.h * x.w > INT_MAX || nparts < 1 || x.c > 0x7fffffff / 4)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_bwd_factors_k, dim3((unsigned)x.c, 1, 1), BN_SPLIT_THREADS, st)
    (x.n * x.h * x.w, gamma, save_mean, save_rstd, dgamma, dbeta, nparts, part, f);
    return cudaGetLastError();
}

cudaError_t k_bn_bwd_factors_dy(cudaStream_t st, tview x, tview dy, const float *sscale,
                                const float *gamma, const float *save_mean,
                                const float *save_rstd, float *dgamma, float *dbeta, int parts,
                                double *part, unsigned *count, float *f)
{
    k_div hd = k_div_make(x.h * x.w);
    cudaError_t e;
    if (x.n <= 0 || x.c <= 0)
        return cudaSuccess;
    if ((long)x.n * x.h * x.w > INT_MAX || parts > 65535 || x.c > 0x7fffffff / 4 ||
        dy.n != x.n || dy.c != x.c || dy.h != x.h || dy.w != x.w)
        return cudaErrorInvalidValue;
    if (parts <= 1) {
        K_LAUNCH(bn_bwd_factors_dy_k, dim3((unsigned)x.c, 1, 1), BN_SPLIT_THREADS, st)
        (x, dy, sscale, gamma, save_mean, save_rstd, dgamma, dbeta, f, hd);
        return cudaGetLastError();
    }
    if (count) {
        K_LAUNCH(bn_bwd_sums_factors_k, dim3((unsigned)x.c, (unsigned)parts, 1),
                 BN_SPLIT_THREADS, st)
        (x, dy, sscale, gamma, save_mean, save_rstd, dgamma, dbeta, parts, part, count, f, hd);
        return cudaGetLastError();
    }
    K_LAUNCH(bn_bwd_sums_k, dim3((unsigned)x.c, (unsigned)parts, 1), BN_SPLIT_THREADS, st)
    (x, dy, tview{}, save_mean, sscale, parts, part, hd);
    if ((e = cudaGetLastError()) != cudaSuccess)
        return e;
    return k_bn_bwd_factors(st, x, gamma, save_mean, save_rstd, dgamma, dbeta, parts, part, f);
}

static __global__ void bn_fwd_eval_k(float eps, tview x, const float *gamma, const float *beta,
                                     const float *run_mean, const float *run_var, tview y, int acc,
                                     tview y2, int acc2, k_div dplane)
{
    int hw = x.h * x.w, per = x.c * hw;
    FOR_IMAGES(img, x.n)
    {
        const float *p = x.d + (long)img * x.ns;
        float *q = y.d + (long)img * y.ns, *q2 = y2.d ? y2.d + (long)img * y2.ns : NULL;
        FOR_VALUES(j, per)
        {
            int c = k_div_q(dplane, j);
            float a, b;
            bn_eval_ab(eps, c, gamma, beta, run_mean, run_var, &a, &b);
            float r = acc ? q[j] + (a * p[j] + b) : a * p[j] + b;
            q[j] = r;
            if (q2)
                q2[j] = acc2 ? q2[j] + r : r;
        }
    }
}

cudaError_t k_bn_fwd_eval(cudaStream_t st, float eps, tview x, const float *gamma,
                          const float *beta, const float *run_mean, const float *run_var, tview y,
                          int acc, tview y2, int acc2)
{
    K_LAUNCH(bn_fwd_eval_k, k_grid2((long)x.c * x.h * x.w, x.n), K_THREADS, st)
    (eps, x, gamma, beta, run_mean, run_var, y, acc, y2, acc2, k_div_make(x.h * x.w));
    return cudaGetLastError();
}

static __global__ void bn_bwd_k(tview x, tview dy, tview dy2, const float *gamma,
                                const float *save_mean, const float *save_rstd,
                                const float *sscale, tview dx, int acc, float *dgamma,
                                float *dbeta, k_div hd)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw;
    long co = (long)c * hw;
    float mean = save_mean[c], k, mdy, mdyx;
    double sdy, sdyx;
    bn_dy_sums(x, dy, dy2, co, hd, mean, sscale, 0, m, sh, &sdy, &sdyx);
    bn_grads(sdy, sdyx, gamma[c], save_rstd[c], m, c, threadIdx.x == 0, dgamma, dbeta, &k, &mdy,
             &mdyx);
    bn_dx(x, dy, dy2, dx, co, hd, mean, k, mdy, mdyx, sscale, acc, 0, m);
}

cudaError_t k_bn_bwd(cudaStream_t st, tview x, tview dy, tview dy2, const float *gamma,
                     const float *save_mean, const float *save_rstd, const float *sscale,
                     tview dx, int acc, float *dgamma, float *dbeta)
{
    if ((long)x.n * x.h * x.w > INT_MAX)
        return cudaErrorInvalidValue;
    K_LAUNCH(bn_bwd_k, x.c, BN_THREADS, st)
    (x, dy, dy2, gamma, save_mean, save_rstd, sscale, dx, acc, dgamma, dbeta,
     k_div_make(x.h * x.w));
    return cudaGetLastError();
}
