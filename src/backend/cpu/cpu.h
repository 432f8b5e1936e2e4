/* cpu.h - internals shared by the CPU backend's files: per-thread scratch
 * and the kernels' entry points that cpu.c puts into the backend table. */
#ifndef CELLAR_BACKEND_CPU_H
#define CELLAR_BACKEND_CPU_H

#include "backend/backend.h"

typedef struct cpu_state {
    int threads;
    size_t scratch_floats;   /* per thread */
    float **scratch;         /* [threads], each scratch_floats long */
} cpu_state;

static inline cpu_state *cpu_of(cl_backend *be) { return (cpu_state *)be->impl; }

/* Make sure every thread has at least `floats` of scratch. */
int cpu_reserve(cl_backend *be, size_t floats, cl_err *err);

/* Scratch (in floats, per thread) each conv / pool variant needs. */
size_t cpu_conv_scratch(const conv_desc *d, int h, int w);
size_t cpu_pool_scratch(const pool_desc *d, int h, int w);

/* Padded planes (planes.c).  Element (r, col) of a plane padded by p is
 * pl[0][r*rs + col] for stride 1, pl[col & 1][r*rs + col/2] for stride 2. */
#define CPU_SLACK 64
typedef struct cpu_planes {
    const float *pl[2];
    int rs;
} cpu_planes;

/* floats one padded plane (or its two column halves) takes, with slack */
size_t cpu_plane_floats(int h, int w, int p);
/* pad (and ReLU) the h x w plane x by p with `pad` into buf, split by
 * column parity into buf2 when s == 2 */
cpu_planes cpu_make_planes(const float *x, int h, int w, int p, float pad, int relu, int s,
                           float *buf, float *buf2);
/* zeroed gradient planes for scatters in padded coordinates: returns the
 * even (or only) plane, sets the odd one and the row stride */
float *cpu_grad_planes(int h, int w, int p, int s, float *buf, int *rs, float **odd);
/* dx (+)= the h x w interior of padded gradient planes, zero where mask <= 0 */
void cpu_crop_planes(const float *even, const float *odd, int rs, int s, int h, int w, int p,
                     const float *mask, float *dx, int acc);

/* vectorised depthwise convolution (dwconv_cpu.c) for the shapes it takes */
int cpu_dw_fast(const conv_desc *d);
size_t cpu_dw_scratch(const conv_desc *d, int h, int w);
void cpu_dw_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc);
void cpu_dw_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                     tview dx, int acc);
void cpu_dw_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw);
void cpu_dw_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy, tview dx,
                int need_dx, int acc, float *dw);
void cpu_conv_bwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy, tview dx,
                  int need_dx, int acc, float *dw);

/* c[i][n] (+)= mask? * sum_j a[i*ars + j*acs] * relu?(b[j][n]) (pwgemm.c);
 * panel: kdim * 32 floats of scratch */
void cpu_pw_gemm(int mdim, int ndim, int kdim, const float *a, long ars, long acs, const float *b,
                 long ldb, int relu, float *c, long ldc, const float *mask, long ldm, int acc,
                 float *panel);

/* 1: every conv takes the generic im2col path; 0: the fast paths */
void cpu_conv_set_generic(int on);

/* row-major C[m][n] = alpha * op(A) op(B) + beta * C */
void cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

void cpu_conv_fwd(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc);
void cpu_conv_bwd_data(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                       tview dx, int acc);
void cpu_conv_bwd_filter(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw);

void cpu_bn_fwd_train(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                      const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                      float *run_var, tview y, int acc, const float *sscale, tview y2,
                      int acc2);
void cpu_bn_fwd_eval(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                     const float *beta, const float *run_mean, const float *run_var, tview y,
                     int acc, tview y2, int acc2);
void cpu_bn_bwd(cl_backend *be, tview x, tview dy, tview dy2, const float *gamma,
                const float *save_mean, const float *save_rstd, const float *sscale, tview dx,
                int acc, float *dgamma, float *dbeta);

void cpu_pool_fwd(cl_backend *be, const pool_desc *d, tview x, tview y, int acc,
                  const float *sscale);
void cpu_pool_bwd(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                  const float *sscale);

void cpu_scale_copy(cl_backend *be, tview x, tview y, int acc, const float *sscale);
void cpu_gap_fwd(cl_backend *be, tview x, tview y);
void cpu_gap_bwd(cl_backend *be, tview dy, tview dx, int acc);
void cpu_linear_fwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                    const float *b, float *y);
void cpu_linear_bwd(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                    const float *dy, float *dx, int acc, float *dw, float *db);
void cpu_xent(cl_backend *be, int n, int m, const float *logits, const int *labels, float *loss,
              int *correct, float *dlogits, const step_ref *sr);
void cpu_sgd(cl_backend *be, long count, float *p, const float *g, float *v, float lr, float mom,
             float wd, int first, const step_ref *sr);
void cpu_batch_gather(cl_backend *be, const batch_desc *d, const uint8_t *images,
                      const uint8_t *labels, const int *idx, int n, float *x, int *y,
                      const step_ref *sr);
void cpu_drop_draw(cl_backend *be, uint64_t seed, long step, float prob, long count,
                   const int *pairs, int n_sums, long row, float *scale, const step_ref *sr);
void cpu_step_next(cl_backend *be, const step_ref *sr);

#endif
