/* bn.cu - batch normalisation with the CPU backend's semantics (bn_cpu.c):
 * training uses the batch statistics (two passes: mean, then the biased
 * variance around it), saves mean and 1/std, moves the running statistics
 * by the momentum with the unbiased variance, and writes
 * y (+)= sscale[n] * (gamma * xhat + beta); backward gives dgamma, dbeta
 * (overwritten) and dx (+)= gamma * rstd * (dy' - mean(dy') - xhat *
 * mean(dy' xhat)) with dy' = sscale[n] * dy.
 *
 * Version 1: one block per channel, all passes in that block (the
 * channel's n*h*w values stay in L2 between them); sums in double.  Simple
 * and deterministic; too few blocks when channels are few (a split
 * reduction over images is the obvious next version). */
#include <limits.h>

#include "common.cuh"

#define BN_THREADS 512

static __global__ void bn_fwd_train_k(float eps, float mom, tview x, const float *gamma,
                                      const float *beta, float *save_mean, float *save_rstd,
                                      float *run_mean, float *run_var, tview y, int acc,
                                      const float *sscale)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw;
    long co = (long)c * hw;
    double s = 0.0, q = 0.0, mean, var;
    float mf, rstd, a, b;

    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        int img = i / hw;
        s += x.d[(long)img * x.ns + co + (i - img * hw)];
    }
    mean = block_sum(s, sh) / m;
    mf = (float)mean;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        int img = i / hw;
        float d = x.d[(long)img * x.ns + co + (i - img * hw)] - mf;
        q += (double)(d * d);
    }
    var = block_sum(q, sh) / m;
    rstd = (float)(1.0 / sqrt(var + (double)eps));
    if (threadIdx.x == 0) {
        save_mean[c] = mf;
        save_rstd[c] = rstd;
        if (run_mean) {
            double unbiased = m > 1 ? var * m / (m - 1) : var;
            run_mean[c] = (float)((1.0 - mom) * run_mean[c] + (double)mom * mean);
            run_var[c] = (float)((1.0 - mom) * run_var[c] + (double)mom * unbiased);
        }
    }
    a = gamma[c] * rstd;
    b = beta[c] - mf * a;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        int img = i / hw, j = i - img * hw;
        float sc = sscale ? sscale[img] : 1.f, v = x.d[(long)img * x.ns + co + j];
        float *o = y.d + (long)img * y.ns + co + j;
        if (!acc)
            *o = (sc * a) * v + sc * b;
        else if (sc != 0.f)
            *o += (sc * a) * v + sc * b;
    }
}

cudaError_t k_bn_fwd_train(cudaStream_t st, float eps, float momentum, tview x, const float *gamma,
                           const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                           float *run_var, tview y, int acc, const float *sscale)
{
    if ((long)x.n * x.h * x.w > INT_MAX)
        return cudaErrorInvalidValue;
    bn_fwd_train_k<<<x.c, BN_THREADS, 0, st>>>(eps, momentum, x, gamma, beta, save_mean,
                                                save_rstd, run_mean, run_var, y, acc, sscale);
    return cudaGetLastError();
}

static __global__ void bn_fwd_eval_k(float eps, tview x, const float *gamma, const float *beta,
                                     const float *run_mean, const float *run_var, tview y, int acc)
{
    int hw = x.h * x.w, per = x.c * hw;
    FOR_IMAGES(img, x.n)
    {
        const float *p = x.d + (long)img * x.ns;
        float *q = y.d + (long)img * y.ns;
        FOR_VALUES(j, per)
        {
            int c = j / hw;
            float a = gamma[c] / sqrtf(run_var[c] + eps), b = beta[c] - run_mean[c] * a;
            q[j] = acc ? q[j] + (a * p[j] + b) : a * p[j] + b;
        }
    }
}

cudaError_t k_bn_fwd_eval(cudaStream_t st, float eps, tview x, const float *gamma,
                          const float *beta, const float *run_mean, const float *run_var, tview y,
                          int acc)
{
    bn_fwd_eval_k<<<k_grid2((long)x.c * x.h * x.w, x.n), K_THREADS, 0, st>>>(
        eps, x, gamma, beta, run_mean, run_var, y, acc);
    return cudaGetLastError();
}

static __global__ void bn_bwd_k(tview x, tview dy, const float *gamma, const float *save_mean,
                                const float *save_rstd, const float *sscale, tview dx, int acc,
                                float *dgamma, float *dbeta)
{
    __shared__ double sh[33];
    int c = blockIdx.x, hw = x.h * x.w, m = x.n * hw;
    long co = (long)c * hw;
    float mean = save_mean[c], rstd = save_rstd[c], k, mdy, mdyx;
    double sdy = 0.0, sdyx = 0.0;

    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        int img = i / hw, j = i - img * hw;
        float sc = sscale ? sscale[img] : 1.f, g;
        if (sc == 0.f)
            continue;
        g = dy.d[(long)img * dy.ns + co + j];
        sdy += (double)sc * g;
        sdyx += (double)sc * (g * (x.d[(long)img * x.ns + co + j] - mean));
    }
    sdy = block_sum(sdy, sh);
    sdyx = block_sum(sdyx, sh);
    if (threadIdx.x == 0) {
        dbeta[c] = (float)sdy;
        dgamma[c] = (float)(sdyx * rstd);
    }
    k = gamma[c] * rstd;
    mdy = (float)(sdy / m);
    mdyx = (float)(sdyx * rstd / m) * rstd;
    for (int i = threadIdx.x; i < m; i += blockDim.x) {
        int img = i / hw, j = i - img * hw;
        float sc = sscale ? sscale[img] : 1.f;
        float g = dy.d[(long)img * dy.ns + co + j], p = x.d[(long)img * x.ns + co + j];
        float v = k * (sc * g - mdy - (p - mean) * mdyx);
        float *o = dx.d + (long)img * dx.ns + co + j;
        *o = acc ? *o + v : v;
    }
}

cudaError_t k_bn_bwd(cudaStream_t st, tview x, tview dy, const float *gamma,
                     const float *save_mean, const float *save_rstd, const float *sscale,
                     tview dx, int acc, float *dgamma, float *dbeta)
{
    if ((long)x.n * x.h * x.w > INT_MAX)
        return cudaErrorInvalidValue;
    bn_bwd_k<<<x.c, BN_THREADS, 0, st>>>(x, dy, gamma, save_mean, save_rstd, sscale, dx, acc,
                                          dgamma, dbeta);
    return cudaGetLastError();
}
