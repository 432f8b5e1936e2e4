/* kernels.h - the launchers of the CUDA kernels (the .cu files beside it), callable
 * from C.  Each enqueues its kernel(s) on `st` and returns the launch
 * status (cudaGetLastError after the launch); errors of the execution
 * itself show at the next synchronisation.  Every pointer is in device
 * memory, views included (tview from backend.h: image i of a view starts
 * at d + i*ns, its c*h*w values contiguous).  The CPU twin of each is
 * named beside it; tests/test_cuda.c holds them to each other.
 *
 *   elementwise.cu  conv input/gradient staging, identity paths, global
 *                   average pooling, linear bias, softmax cross-entropy, SGD
 *   bn.cu           batch normalisation: train, eval, backward
 *   pool.cu         max and average pooling, forward and backward
 *   dwconv.cu       depthwise convolutions, forward and both gradients
 *   pwconv.cu       pointwise (1x1) convolutions, forward and both gradients
 *   sepconv.cu      a separable layer's depthwise and pointwise convolutions in one
 *                   kernel: the forward, and the backward but the pointwise filter
 *                   gradient */
#ifndef CELLAR_KERNELS_KERNELS_H
#define CELLAR_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend/backend.h"

/* ---- elementwise.cu ---- */

/* out[n][c][h-oy][w-ox] (dense) = relu?(x[n][c][oy + i][ox + j]): the
 * input of a convolution that reads through ReLU or from a shifted origin,
 * staged for cuDNN (CPU twin: the im2col / pad_plane reads of conv_cpu.c) */
cudaError_t k_conv_stage_in(cudaStream_t st, tview x, int oy, int ox, int relu, float *out);

/* dx (+)= g placed back at the origin (oy, ox), zero above and left of it,
 * masked by x > 0 when relu; g is dense [n][c][h-oy][w-ox] (CPU twin:
 * store_grad and the crop of conv_cpu.c) */
cudaError_t k_conv_stage_grad(cudaStream_t st, const float *g, tview x, int oy, int ox, int relu,
                              tview dx, int acc);

/* y = (acc ? y : 0) + sscale[n] * x (cpu_scale_copy) */
cudaError_t k_scale_copy(cudaStream_t st, tview x, tview y, int acc, const float *sscale);

/* cpu_gap_fwd, cpu_gap_bwd */
cudaError_t k_gap_fwd(cudaStream_t st, tview x, tview y);
cudaError_t k_gap_bwd(cudaStream_t st, tview dy, tview dx, int acc);

/* y[i][j] = b[j] for i < n, j < m (the bias before the GEMM of cpu_linear_fwd) */
cudaError_t k_bias_rows(cudaStream_t st, int n, int m, const float *b, float *y);
/* db[j] = sum_i dy[i][j] (the bias gradient of cpu_linear_bwd) */
cudaError_t k_col_sum(cudaStream_t st, int n, int m, const float *dy, float *db);

/* cpu_xent: loss and correct are single values in device memory (with sr,
 * arrays of sr->slots, the step's slot written).  A label outside [0, m)
 * makes the loss NaN. */
cudaError_t k_xent(cudaStream_t st, int n, int m, const float *logits, const int *labels,
                   float *loss, int *correct, float *dlogits, const step_ref *sr);

/* cpu_sgd */
cudaError_t k_sgd(cudaStream_t st, long count, float *p, const float *g, float *v, float lr,
                  float mom, float wd, int first, const step_ref *sr);

/* cpu_batch_gather: a batch from a dataset resident in device memory */
cudaError_t k_batch_gather(cudaStream_t st, const batch_desc *d, const uint8_t *images,
                           const uint8_t *labels, const int *idx, int n, float *x, int *y,
                           const step_ref *sr);
/* cpu_drop_draw */
cudaError_t k_drop_draw(cudaStream_t st, uint64_t seed, long step, float prob, long count,
                        const int *pairs, int n_sums, long row, float *scale, const step_ref *sr);
/* cpu_step_next */
cudaError_t k_step_next(cudaStream_t st, const step_ref *sr);

/* out[i] = sum over q < parts of part[q * count + i]: the last step of the
 * split filter-gradient sums (no CPU twin: the CPU sums whole).  The order
 * is fixed by parts alone: W = k_parts_warps(parts) warps share each i,
 * warp w adding parts w, w + W, ... in order, then the W sums in warp
 * order (W = 1, up to 16 parts: q in order). */
static inline int k_parts_warps(int parts)
{
    int W = 1;
    while (W < 32 && (parts + W - 1) / W > 16)
        W *= 2;
    return W;
}
cudaError_t k_parts_sum(cudaStream_t st, long count, int parts, const float *part, float *out);

/* A split sum left for later: the filter-gradient launchers given a
 * k_psum (not NULL) write their parts and describe the sum there instead
 * of adding it (count 0: nothing left, the gradient is written), so that
 * up to K_PSUM_MAX of them are added by one launch of k_parts_sum_set,
 * each in k_parts_sum's order (the same bits).  Until then `out` holds
 * nothing and `part` must stay as it is. */
typedef struct k_psum {
    long count;
    int parts, W;   /* W = k_parts_warps(parts) */
    const float *part;
    float *out;
} k_psum;
#define K_PSUM_MAX 16
typedef struct k_psum_set {
    int n;
    k_psum e[K_PSUM_MAX];
} k_psum_set;
cudaError_t k_parts_sum_set(cudaStream_t st, const k_psum_set *set);
/* the launchers' last step: without later, k_parts_sum (parts > 1);
 * with it, the sum described there (count 0 where there is none) */
cudaError_t k_parts_finish(cudaStream_t st, long count, int parts, const float *part, float *out,
                           k_psum *later);

/* ---- bn.cu (cpu_bn_fwd_train, cpu_bn_fwd_eval, cpu_bn_bwd) ----
 * y2 (d NULL: none) (+)= (acc2) what y holds after the op; dy2 (d NULL:
 * none) is added to dy (backend.h: an identity path folded in) */

cudaError_t k_bn_fwd_train(cudaStream_t st, float eps, float momentum, tview x, const float *gamma,
                           const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                           float *run_var, tview y, int acc, const float *sscale, tview y2,
                           int acc2);
cudaError_t k_bn_fwd_eval(cudaStream_t st, float eps, tview x, const float *gamma,
                          const float *beta, const float *run_mean, const float *run_var, tview y,
                          int acc, tview y2, int acc2);
cudaError_t k_bn_bwd(cudaStream_t st, tview x, tview dy, tview dy2, const float *gamma,
                     const float *save_mean, const float *save_rstd, const float *sscale,
                     tview dx, int acc, float *dgamma, float *dbeta);
/* the same, each channel's values cut into `parts` ranges summed by blocks
 * of their own (for few channels); part: scratch of parts * c * 2
 * doubles.  parts <= 1 is the one-block-per-channel version above. */
cudaError_t k_bn_fwd_train_split(cudaStream_t st, float eps, float momentum, tview x,
                                 const float *gamma, const float *beta, float *save_mean,
                                 float *save_rstd, float *run_mean, float *run_var, tview y,
                                 int acc, const float *sscale, tview y2, int acc2, int parts,
                                 double *part);
/* the second half of k_bn_fwd_train_split alone, from statistics summed
 * elsewhere: part holds nparts partial sums of each channel's values and
 * their squares, [(p * c + channel) * 2 + 0 or 1] (k_sep_fwd's stats);
 * each channel's values are normalised by `ranges` blocks */
/* k_bn_fwd_train_parts without y: each channel's scale and shift, ab[c]
 * = gamma rstd and ab[x.c + c] = beta - mean gamma rstd, for a kernel
 * that applies the batch norm as it reads x (k_sep_fwd's xab); the mean
 * and 1/std saved and the running statistics moved as there.
 * k_bn_affine_eval: from the running statistics, as k_bn_fwd_eval
 * applies them (c channels). */
cudaError_t k_bn_affine_parts(cudaStream_t st, float eps, float momentum, tview x,
                              const float *gamma, const float *beta, float *save_mean,
                              float *save_rstd, float *run_mean, float *run_var, int nparts,
                              const double *part, float *ab);
cudaError_t k_bn_affine_eval(cudaStream_t st, float eps, int c, const float *gamma,
                             const float *beta, const float *run_mean, const float *run_var,
                             float *ab);
cudaError_t k_bn_fwd_train_parts(cudaStream_t st, float eps, float momentum, tview x,
                                 const float *gamma, const float *beta, float *save_mean,
                                 float *save_rstd, float *run_mean, float *run_var, tview y,
                                 int acc, const float *sscale, tview y2, int acc2, int nparts,
                                 const double *part, int ranges);
/* k_bn_bwd_split with dy's sums given as nparts partial sums (of each
 * channel's dy' and dy' (x - mean), dy' = sscale dy: k_sep_bwd's bn) in
 * part[(p * c + channel) * 2 + 0 or 1]; `ranges` blocks to a channel */
cudaError_t k_bn_bwd_parts(cudaStream_t st, tview x, tview dy, const float *gamma,
                           const float *save_mean, const float *save_rstd, const float *sscale,
                           tview dx, int acc, float *dgamma, float *dbeta, int nparts,
                           const double *part, int ranges);
/* k_bn_bwd_parts without dx: dgamma and dbeta, and each channel's factors
 * of its data gradient into f[4 c .. 4 c + 3], for a kernel that makes
 * dx as it reads dy and x (k_sep_bwd's dyb): dx = f0 (dy - f1 - (x - f2)
 * f3), the expression k_bn_bwd_parts writes (no drop-path scale) */
cudaError_t k_bn_bwd_factors(cudaStream_t st, tview x, const float *gamma,
                             const float *save_mean, const float *save_rstd, float *dgamma,
                             float *dbeta, int nparts, const double *part, float *f);
/* the same with the sums taken from dy (dy' = sscale[image] dy, sscale
 * NULL: 1) and x here, as k_bn_bwd_split takes them (parts > 1: in parts
 * ranges a channel, part its scratch; with count, x.c counters that are
 * zero, left zero, in one launch: the block that sums a channel's last
 * range makes its factors; without, a launch to sum and one to finish);
 * dx is then f0 (sscale dy - f1 - (x - f2) f3) */
cudaError_t k_bn_bwd_factors_dy(cudaStream_t st, tview x, tview dy, const float *sscale,
                                const float *gamma, const float *save_mean,
                                const float *save_rstd, float *dgamma, float *dbeta, int parts,
                                double *part, unsigned *count, float *f);
cudaError_t k_bn_bwd_split(cudaStream_t st, tview x, tview dy, tview dy2, const float *gamma,
                           const float *save_mean, const float *save_rstd, const float *sscale,
                           tview dx, int acc, float *dgamma, float *dbeta, int parts,
                           double *part);

/* ---- pool.cu (cpu_pool_fwd, cpu_pool_bwd) ---- */

cudaError_t k_pool_fwd(cudaStream_t st, int max, int k, int s, int p, tview x, tview y, int acc,
                       const float *sscale);
/* idx: scratch of n*c*ho*wo ints (max pooling only; NULL for average) */
cudaError_t k_pool_bwd(cudaStream_t st, int max, int k, int s, int p, tview x, tview dy, tview dx,
                       int acc, const float *sscale, int *idx);

/* ---- dwconv.cu (cpu_conv_fwd, cpu_conv_bwd_data, cpu_conv_bwd_filter for
 * the depthwise shapes dw_handles() of conv_math.h accepts; anything
 * else is cudaErrorInvalidValue) ---- */

/* tiled: planes in shared memory where the shape allows (forward and
 * filter gradient: K 3, 5, 7 at stride and dilation 1 or 2; data
 * gradient: stride 1), else one thread per value as with tiled 0 */
cudaError_t k_dw_fwd(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                     int acc, int tiled);
cudaError_t k_dw_bwd_data(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc, int tiled);
/* dw overwritten; with parts > 1 (dw_filter_splits), `part` is scratch of
 * parts * c * K*K floats; tiled as for the forward; with later (else
 * NULL) the parts' sum is left to k_parts_sum_set */
cudaError_t k_dw_bwd_filter(cudaStream_t st, const conv_desc *d, tview x, tview dy, int parts,
                            float *part, float *dw, int tiled, k_psum *later);

/* ---- pwconv.cu (the same, for the 1x1 shapes pw_handles() accepts,
 * any batch) ---- */

cudaError_t k_pw_fwd(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                     int acc);
cudaError_t k_pw_bwd_data(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc);
/* k_pw_fwd overwriting y, with y's batch-norm statistics as k_sep_fwd's
 * stats: k_pw_stats_parts partial sums (for a batch of n h x w inputs;
 * 0: pw_handles refuses d) of each channel and of its squares */
int k_pw_stats_parts(const conv_desc *d, int n, int h, int w);
cudaError_t k_pw_fwd_stats(cudaStream_t st, const conv_desc *d, tview x, const float *w, tview y,
                           double *stats);
/* dw overwritten; with parts > 1 (pw_filter_parts), `part` is scratch of
 * parts * cout * cin floats; later as for k_dw_bwd_filter */
cudaError_t k_pw_bwd_filter(cudaStream_t st, const conv_desc *d, tview x, tview dy, int parts,
                            float *part, float *dw, k_psum *later);

/* ---- sepconv.cu (cpu_conv_fwd twice: the depthwise convolution dd of
 * x into mid, then the pointwise one pd of mid into y, both overwritten) ---- */

/* 1 when k_sep_fwd takes the pair dd, pd on h x w inputs: a depthwise
 * shape of the tiled kernels (stride and dilation 1 or 2), then 1x1 at
 * stride 1 reading mid as it is, at most 256 output channels */
int k_sep_takes(const conv_desc *dd, const conv_desc *pd, int h, int w);
/* mid.d NULL: mid not written (its sizes still checked).  With stats
 * (else NULL), also y's batch-norm statistics: k_sep_stats_parts
 * partial sums (0: the pair's band does not give them) of each channel
 * and of its squares, stats[(part * cout + channel) * 2 + 0 or 1], for
 * k_bn_fwd_train_parts.  Given xab (else NULL), x is a batch norm's
 * input, read through its scale and shift, xab[c] and xab[x.c + c]
 * (k_bn_affine), as that batch norm's output: the pair's input is
 * relu?(fmaf(xab[c], x, xab[x.c + c])), the padding zeros (the batch
 * norm applied on the way in, its output never in memory). */
int k_sep_stats_parts(const conv_desc *dd, const conv_desc *pd, int n, int h, int w);
cudaError_t k_sep_fwd(cudaStream_t st, const conv_desc *dd, const conv_desc *pd, tview x,
                      const float *xab, const float *wd, tview mid, const float *wp, tview y,
                      double *stats);

/* The backward of the same pair: dx (+)= the depthwise data gradient of
 * dmid = the pointwise data gradient of dy, dwd = the depthwise filter
 * gradient (overwritten) and, given dwp (else NULL), dwp = the pointwise
 * filter gradient (overwritten; mid, the depthwise output, recomputed
 * from x band by band, so the forward need not keep it), dmid kept on
 * chip.  k_sep_bwd_takes: stride 1 or 2 with the output the input's size
 * over the stride, K 3, 5 or 7, dilation 1 or 2, then 1x1 as for
 * k_sep_fwd, 1 to 65535 images; part (and ppart, with dwp) are scratch of
 * k_sep_bwd_part_floats floats each (the same n, h, w and sms: the
 * multiprocessors the blocks are cut for; pw: with dwp); later and plater
 * as for k_dw_bwd_filter; xab as for k_sep_fwd (dx then the gradient of
 * the batch norm's output). */
int k_sep_bwd_takes(const conv_desc *dd, const conv_desc *pd, int n, int h, int w);
long k_sep_bwd_part_floats(const conv_desc *dd, const conv_desc *pd, int n, int h, int w, int sms,
                           int pw);
/* Given bn (else NULL), with acc 0, k_sep_bwd also takes the sums the
 * backward of the batch norm whose output dx is the gradient of needs:
 * bn->x that batch norm's input (dx's shape), bn->mean its saved mean;
 * k_sep_bwd_stats_parts partial sums of each channel's dx and dx (x -
 * mean), bn->part[(part * channels + channel) * 2 + 0 or 1], for
 * k_bn_bwd_parts */
typedef struct k_bnsums {
    tview x;
    const float *mean;
    double *part;
} k_bnsums;
int k_sep_bwd_stats_parts(const conv_desc *dd, const conv_desc *pd, int n, int h, int w);
/* Given dyb (else NULL), dy is the gradient of a batch norm's output
 * whose input is the pair's output: the pair's own dy, that batch norm's
 * data gradient, is made from dy as it is read, at each place f0 (s dy -
 * f1 - (x - f2) f3) with x = dyb->x there (that batch norm's input, dy's
 * shape), f = dyb->f + 4 c (k_bn_bwd_factors; f on 16 bytes) and s =
 * dyb->sscale[image] (NULL: 1), so it is never in memory (backend.h's
 * bn_grad_in, as sep_bwd takes it) */
cudaError_t k_sep_bwd(cudaStream_t st, const conv_desc *dd, const conv_desc *pd, tview x,
                      const float *xab, const float *wd, tview dy, const bn_grad_in *dyb,
                      const float *wp, tview dx, int acc, int sms,
                      float *part, float *dwd, k_psum *later, float *ppart, float *dwp,
                      k_psum *plater, const k_bnsums *bn);

#ifdef __cplusplus
}
#endif

#endif
