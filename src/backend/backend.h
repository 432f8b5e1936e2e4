/* backend.h - tensors and the compute backend interface.
 *
 * Activations are float32 NCHW.  A tview is a view of a batch: image i
 * starts at d + i*ns, and inside an image the c*h*w values are contiguous.
 * A view whose ns is larger than c*h*w is a channel slice of a wider
 * tensor: that is how block outputs are written straight into a cell's
 * concatenated output, with no copy.
 *
 * A backend is a const table of functions (one for the CPU, one for CUDA)
 * chosen at run time.  Every op works on whole batches; pointers are in the
 * backend's memory.  Two conventions run through the ops:
 *
 *   acc     forward outputs and input gradients are either overwritten
 *           (acc = 0) or added to (acc = 1).  An add combiner is its second
 *           path writing with acc = 1 into the first path's output, and a
 *           gradient with several consumers is written by the first and
 *           added to by the others, so no op ever needs a zeroed buffer.
 *   sscale  an optional per-image scale (NULL = 1) applied to the output
 *           of the last op of a path: drop-path masks divided by the keep
 *           probability.  Backward applies the same scale to the gradient.
 *
 * Parameter gradients are always overwritten: every parameter belongs to
 * exactly one op. */
#ifndef CELLAR_BACKEND_BACKEND_H
#define CELLAR_BACKEND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"

typedef struct tview {
    float *d;
    int n, c, h, w;
    long ns;   /* elements from one image to the next */
} tview;

static inline long tview_plane(const tview *t) { return (long)t->h * t->w; }

/* Convolution.  Output size: (H - oy + 2ph - dh*(kh-1) - 1) / sh + 1, where
 * (oy, ox) shifts the input origin: the factorized reduce's second path
 * reads x[:, :, 1:, 1:] as oy = ox = 1.  With relu_in the input is read
 * through ReLU (and the gradient masked by x > 0). */
typedef struct conv_desc {
    int cin, cout;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    int oy, ox;
    int groups;
    int relu_in;
} conv_desc;

int conv_out_h(const conv_desc *d, int h);
int conv_out_w(const conv_desc *d, int w);
long conv_weight_count(const conv_desc *d);

typedef enum { POOL_MAX, POOL_AVG } pool_kind;

typedef struct pool_desc {
    pool_kind kind;
    int k, s, p;    /* square window, stride, padding; avg excludes padding */
} pool_desc;

int pool_out(const pool_desc *d, int h);

typedef struct bn_desc {
    float eps, momentum;
} bn_desc;

/* A batch norm a separable pair's backward reads its dy through
 * (sep_bwd's gb): the pair's dy is then that batch norm's output
 * gradient, x its input (the pair's output), f its factors
 * (bn_bwd_factors), sscale its drop-path scales (NULL: none) */
typedef struct bn_grad_in {
    tview x;
    const float *f;
    const float *sscale;
} bn_grad_in;

/* Training batches made by the backend from its own copy of a dataset, so
 * that no image crosses from the host per step.  Image i of a batch is
 * images[idx[i]] (bytes [c][h][w]), normalised per channel as
 * (v / 255 - mean[ch]) / std[ch] (a std <= 0 counts as 1); with pad > 0 it
 * is first shifted by (dy, dx) in [-pad, pad]^2 over a zero border (the
 * pad-and-random-crop of CIFAR training), with flip mirrored left-right
 * with probability 1/2.  The shifts and flips depend on (seed, step, i)
 * alone, through batch_aug_draw, so every backend draws the same ones and
 * a run does not depend on how it was sliced. */
#define BATCH_MAX_CHANNELS 4

typedef struct batch_desc {
    int c, h, w;
    int pad, flip;
    float mean[BATCH_MAX_CHANNELS], std[BATCH_MAX_CHANNELS];
    uint64_t seed;
    long step;
} batch_desc;

static inline void batch_aug_draw(const batch_desc *d, int i, int *dy, int *dx, int *flip)
{
    uint64_t r = mix64(d->seed + mix64(((uint64_t)d->step << 20) + (uint64_t)i));
    int pad = d->pad > 0 ? d->pad : 0;
    uint32_t span = 2u * (uint32_t)pad + 1u;
    *dy = (int)((uint32_t)(r & 0xffff) % span) - pad;
    *dx = (int)((uint32_t)((r >> 16) & 0xffff) % span) - pad;
    *flip = d->flip ? (int)(r >> 63) : 0;
}

/* Drop-path masks drawn by the backend: value k of step `step` is 0 with
 * probability prob, else 1 / (1 - prob); a function of (seed, step, k). */
static inline float drop_draw_one(uint64_t seed, long step, long k, float prob)
{
    uint64_t r = mix64(seed + mix64(((uint64_t)step << 32) + (uint64_t)k));
    float u = (float)(r >> 40) * (1.0f / 16777216.0f);
    return u < prob ? 0.f : 1.f / (1.f - prob);
}

/* A training run's step counter in backend memory, so that a step can be
 * recorded once and replayed (a CUDA graph) with nothing passed from the
 * host: ops given a step_ref (not NULL) read the step s there, and with it
 * what depends on it: the batch starts at idx[(s % steps_per_epoch) *
 * batch], the loss goes to slot s % slots, the learning rate is lr[s] and
 * the drop-path probability drop[s].  With NULL, ops use their arguments.
 * The struct itself is the caller's (host memory); its pointers are in
 * the backend's memory. */
typedef struct step_ref {
    int64_t *step;
    const float *lr, *drop;   /* one value per step of the run */
    long steps_per_epoch;
    int slots;
} step_ref;

typedef struct cl_backend cl_backend;

struct cl_backend {
    const char *name;
    /* how it computes, for reports ("depthwise own, pointwise mixed,
     * separable fused, tf32"), or NULL */
    const char *detail;
    int threads;   /* CPU threads the backend uses */

    /* memory */
    void *(*alloc)(cl_backend *be, size_t bytes);      /* NULL on failure */
    void (*free)(cl_backend *be, void *p);
    void (*upload)(cl_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(cl_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(cl_backend *be, void *p, size_t bytes);
    /* 1 when the backend's memory is the host's (the CPU): host arrays can
     * be passed to ops as they are, with no upload */
    int host_memory;
    /* wait for queued work; returns a status with a message on failure */
    int (*sync)(cl_backend *be, cl_err *err);
    void (*destroy)(cl_backend *be);

    /* Called once for each op of a network when it is planned, before it
     * runs, with the largest batch it will see: the backend reserves its
     * working space (and may choose algorithms) here, so running never
     * allocates. */
    int (*conv_prepare)(cl_backend *be, const conv_desc *d, int n, int h, int w, cl_err *err);
    int (*pool_prepare)(cl_backend *be, const pool_desc *d, int n, int c, int h, int w,
                        cl_err *err);

    /* convolution: y = conv(relu?(x), w); w is [cout][cin/groups][kh][kw] */
    void (*conv_fwd)(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y, int acc);
    void (*conv_bwd_data)(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                          tview dx, int acc);
    /* A filter gradient (conv_bwd_filter's dw, conv_bwd's, sep_bwd's dwd
     * and dwp) may be finished late, as the CUDA backend adds its partial
     * sums: it is there for sgd, download, upload, zero, sync, marks and a
     * recording's end, and no other op may read or write it before one of
     * those (a network's only reader is sgd). */
    void (*conv_bwd_filter)(cl_backend *be, const conv_desc *d, tview x, tview dy, float *dw);
    /* both gradients at once (dx only when need_dx), so a backend can share
     * the passes over x and dy */
    void (*conv_bwd)(cl_backend *be, const conv_desc *d, tview x, const float *w, tview dy,
                     tview dx, int need_dx, int acc, float *dw);
    /* Optional (both NULL: none): conv_fwd overwriting y that also writes
     * y's batch-norm statistics into stats as sep_fwd does (for
     * bn_fwd_parts), conv_stats_parts(n) partial sums for a batch of n
     * h x w inputs; conv_stats_parts 0: not for this convolution, whose
     * conv_fwd_stats must then not be called */
    int (*conv_stats_parts)(cl_backend *be, const conv_desc *d, int n, int h, int w);
    void (*conv_fwd_stats)(cl_backend *be, const conv_desc *d, tview x, const float *w, tview y,
                           double *stats);
    /* Optional (NULL: none): a separable layer's forward in one pass: the
     * depthwise convolution dd of x into mid, then the pointwise one pd of
     * mid into y, both overwritten (the same values as conv_fwd twice;
     * mid.d NULL: mid not written, where the caller will not read it).
     * Returns 0, having queued nothing, where the backend does not take
     * the pair: the caller then runs the two convolutions.  With stats
     * (else NULL), where sep_stats_parts says it gives them, it also
     * writes the batch-norm statistics of y into stats for bn_fwd_parts:
     * sep_stats_parts(n) partial sums of each of y's channels and of its
     * squares, [(part * channels + channel) * 2 + 0 or 1], in doubles.
     * Given xab (else NULL; only where the backend has bn_affine), x is a
     * batch norm's input, read through that batch norm's scale and shift
     * (bn_affine's ab, x.c of each): the pair's input is that batch norm's
     * output, never in memory. */
    int (*sep_fwd)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                   const float *xab, const float *wd, tview mid, const float *wp, tview y,
                   double *stats);
    /* Optional (NULL: never): how many partial sums sep_fwd's statistics
     * of y take for a batch of n h x w images (0: it gives none for that
     * pair), the same while the backend lives */
    int (*sep_stats_parts)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                           int w);
    /* Optional (both NULL: none): the same pair's backward in one pass.
     * sep_prepare says in *takes whether the backend will take the pair
     * on batches of up to n images of h x w (0: no; 1: but for pd's filter
     * gradient; 2: with it), setting aside what that needs (called when
     * planning, beside conv_prepare); sep_bwd, only for a pair it takes,
     * gives dx (+)= dd's data gradient of pd's data gradient of dy (the
     * same values as conv_bwd_data of pd into dmid, then conv_bwd of dd
     * from dmid) and dwd = dd's filter gradient, dmid never in memory, and
     * with takes 2 and dwp (else NULL) dwp = pd's filter gradient, from x
     * alone (the forward's mid need not have been written); xab as for
     * sep_fwd (dx then the gradient of that batch norm's output).
     * Given gb (else NULL; only where the backend has bn_bwd_factors), dy
     * is the gradient of the output of a batch norm whose input, gb->x
     * (dy's shape), is the pair's output, and the pair's own dy, that
     * batch norm's data gradient, is made as dy is read from dy, gb->x,
     * the batch norm's factors gb->f (bn_bwd_factors) and its drop-path
     * scales: it is never in memory. */
    int (*sep_prepare)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n, int h,
                       int w, int *takes, cl_err *err);
    void (*sep_bwd)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                    const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                    const float *wp, tview dx, int acc, float *dwd, float *dwp);
    /* Optional (both NULL: none): sep_bwd overwriting dx (acc 0) that also
     * writes the sums the backward of the batch norm whose output x is
     * needs, into stats for bn_bwd_parts: sep_bwd_stats_parts(n) partial
     * sums of each channel's dx and of dx (bx - bmean), bx that batch
     * norm's input and bmean its saved mean, [(part * channels + channel)
     * * 2 + 0 or 1], in doubles; sep_bwd_stats_parts 0: not for this pair
     * (the same while the backend lives), whose sep_bwd_stats must then
     * not be called; gb as for sep_bwd */
    int (*sep_bwd_stats_parts)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, int n,
                               int h, int w);
    void (*sep_bwd_stats)(cl_backend *be, const conv_desc *dd, const conv_desc *pd, tview x,
                          const float *xab, const float *wd, tview dy, const bn_grad_in *gb,
                          const float *wp, tview dx, float *dwd, float *dwp, tview bx,
                          const float *bmean, double *stats);

    /* batch norm, training: batch statistics; saves mean and 1/std of each
     * channel and updates the running statistics (unbiased variance).
     * Every batch norm op takes a second place for its output, y2 (d NULL:
     * none; the same shape as y): forward, y2 (+)= (acc2) the value y
     * holds after the op; backward, dy2 (d NULL: none) is added to dy.
     * That is an identity path reading y folded into the batch norm
     * (net.c), with no copy of its own either way. */
    void (*bn_fwd_train)(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                         const float *beta, float *save_mean, float *save_rstd, float *run_mean,
                         float *run_var, tview y, int acc, const float *sscale, tview y2,
                         int acc2);
    /* Optional (NULL: none): bn_fwd_train with x's statistics given as
     * parts partial sums (sep_fwd's stats) instead of taken from x */
    void (*bn_fwd_parts)(cl_backend *be, const bn_desc *d, tview x, const double *stats,
                         int parts, const float *gamma, const float *beta, float *save_mean,
                         float *save_rstd, float *run_mean, float *run_var, tview y, int acc,
                         const float *sscale, tview y2, int acc2);
    /* Optional (NULL: none): a batch norm that a separable pair applies as
     * it reads (sep_fwd's xab): only each channel's scale and shift into
     * ab, ab[c] = gamma rstd and ab[x.c + c] = beta - mean gamma rstd;
     * training (train 1) from parts partial sums of x (sep_fwd's stats),
     * the mean and 1/std saved and the running statistics moved as
     * bn_fwd_parts does; evaluation from the running statistics, as
     * bn_fwd_eval applies them */
    void (*bn_affine)(cl_backend *be, const bn_desc *d, tview x, int train, const double *stats,
                      int parts, const float *gamma, const float *beta, float *save_mean,
                      float *save_rstd, float *run_mean, float *run_var, float *ab);
    void (*bn_fwd_eval)(cl_backend *be, const bn_desc *d, tview x, const float *gamma,
                        const float *beta, const float *run_mean, const float *run_var, tview y,
                        int acc, tview y2, int acc2);
    void (*bn_bwd)(cl_backend *be, tview x, tview dy, tview dy2, const float *gamma,
                   const float *save_mean, const float *save_rstd, const float *sscale, tview dx,
                   int acc, float *dgamma, float *dbeta);
    /* Optional (NULL: none): bn_bwd with dy's sums given as parts partial
     * sums (sep_bwd_stats' stats: of sscale dy and sscale dy (x - mean))
     * instead of taken from dy */
    void (*bn_bwd_parts)(cl_backend *be, tview x, tview dy, const double *stats, int parts,
                         const float *gamma, const float *save_mean, const float *save_rstd,
                         const float *sscale, tview dx, int acc, float *dgamma, float *dbeta);
    /* Optional (NULL: none): bn_bwd without dx, for a batch norm whose
     * data gradient the separable pair before it makes as it reads dy
     * (sep_bwd's gb): dgamma, dbeta, and into f (4 floats a channel) the
     * factors of dx as bn_bwd would write it; dy's sums given as parts
     * partial sums (stats, as bn_bwd_parts takes them; sscale then NULL)
     * or, stats NULL, taken from dy here */
    void (*bn_bwd_factors)(cl_backend *be, tview x, tview dy, const float *sscale,
                           const double *stats, int parts, const float *gamma,
                           const float *save_mean, const float *save_rstd, float *dgamma,
                           float *dbeta, float *f);

    void (*pool_fwd)(cl_backend *be, const pool_desc *d, tview x, tview y, int acc,
                     const float *sscale);
    void (*pool_bwd)(cl_backend *be, const pool_desc *d, tview x, tview dy, tview dx, int acc,
                     const float *sscale);

    /* y = (acc ? y : 0) + sscale * x  (identity path) */
    void (*scale_copy)(cl_backend *be, tview x, tview y, int acc, const float *sscale);

    /* global average pool: y[n][c] (a view with h = w = 1) */
    void (*gap_fwd)(cl_backend *be, tview x, tview y);
    void (*gap_bwd)(cl_backend *be, tview dy, tview dx, int acc);

    /* linear: y[n][m] = x[n][k] . w[m][k] + b[m] */
    void (*linear_fwd)(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                       const float *b, float *y);
    void (*linear_bwd)(cl_backend *be, int n, int k, int m, const float *x, const float *w,
                       const float *dy, float *dx, int acc, float *dw, float *db);

    /* mean softmax cross-entropy over n rows of m logits; writes the loss,
     * the number of rows whose arg-max equals the label, and (if dlogits is
     * not NULL) the gradient of the mean loss.  With sr, loss and correct
     * are arrays of sr->slots and the step's slot is written. */
    void (*xent)(cl_backend *be, int n, int m, const float *logits, const int *labels,
                 float *loss, int *correct, float *dlogits, const step_ref *sr);

    /* SGD with momentum and L2 weight decay over one flat parameter array,
     * as torch.optim.SGD: g += wd*p; v = first ? g : mom*v + g; p -= lr*v
     * (with sr, lr is sr->lr[step]) */
    void (*sgd)(cl_backend *be, long count, float *p, const float *g, float *v, float lr,
                float mom, float wd, int first, const step_ref *sr);

    /* a batch (see batch_desc): x [n][c][h][w] floats, y [n] ints (may be
     * NULL); images, labels and idx in the backend's memory (with sr, d->step
     * and the batch's place in idx come from the step counter) */
    void (*batch_gather)(cl_backend *be, const batch_desc *d, const uint8_t *images,
                         const uint8_t *labels, const int *idx, int n, float *x, int *y,
                         const step_ref *sr);
    /* scale[k] = drop_draw_one(seed, step, k, prob) for k < count, then
     * n_sums rows of `row` values, row j the sum of rows pairs[2j] and
     * pairs[2j + 1] of those: scale[count + j * row + i] = scale[pairs[2j]
     * * row + i] + scale[pairs[2j + 1] * row + i] (pairs in the backend's
     * memory; the scales of an op standing for two paths, net.c's twin
     * pools).  With sr: the counter's step and its drop-path probability. */
    void (*drop_draw)(cl_backend *be, uint64_t seed, long step, float prob, long count,
                      const int *pairs, int n_sums, long row, float *scale, const step_ref *sr);
    /* one more step: ++*sr->step */
    void (*step_next)(cl_backend *be, const step_ref *sr);

    /* Optional (NULL where the backend has none): record the ops queued
     * from graph_begin to graph_end as one replayable graph, without
     * running them; graph_run queues a recorded graph.  A backend that
     * cannot record says so through err, and the caller runs ops one by
     * one instead. */
    int (*graph_begin)(cl_backend *be, cl_err *err);
    int (*graph_end)(cl_backend *be, void **graph, cl_err *err);
    void (*graph_run)(cl_backend *be, void *graph);
    void (*graph_free)(cl_backend *be, void *graph);
    /* Optional: how many operations (kernels, copies, sets) a recorded
     * graph holds, as the device counts them */
    long (*graph_size)(cl_backend *be, void *graph);

    /* Optional: timing marks on the device's queue (a GPU's events), to
     * time ops without waiting after each.  marks(be, n) makes room for n
     * marks (n = 0 frees them); mark(be, i) queues mark i after the work
     * queued so far (while recording a graph, into the graph, so each
     * replay sets it again); mark_times waits for the queue and gives
     * t[i], the seconds from mark 0 to mark i as last passed, for i < n. */
    int (*marks)(cl_backend *be, int n, cl_err *err);
    void (*mark)(cl_backend *be, int i);
    int (*mark_times)(cl_backend *be, double *t, int n, cl_err *err);

    /* Optional: a second backend on the same device, with its own queue,
     * so two networks can compute at once (NULL: networks share this one);
     * the caller destroys it */
    int (*fork)(cl_backend *be, cl_backend **out, cl_err *err);
    /* Optional: the device memory still free */
    int (*mem_free)(cl_backend *be, size_t *bytes);
    /* Optional: where the backend chose how to run convolutions by timing
     * them (CELLAR_DEPTHWISE=auto, ...), a line per convolution into buf
     * (truncated to size): its label and batch, then for each direction
     * the way chosen and each way's milliseconds a run; returns the lines */
    int (*conv_choices)(cl_backend *be, char *buf, size_t size);

    /* Optional: lanes, more queues for one network's work, so that its
     * independent ops (a cell's branches) run at once.  lane_new makes a
     * backend on the same device with its own queue, handles and scratch,
     * whose failures be's sync reports too (the caller destroys it before
     * be); events order work across be and its lanes: event_record queues
     * ev on a backend after the work queued so far, event_wait makes the
     * work queued on a backend after it wait for ev's last record (from
     * any lane).  While be records a graph, a lane that waits for an event
     * recorded there joins the recording, and be must wait for an event
     * recorded on the lane after its last work before graph_end.  lanes
     * is how many queues a network may use (1: one, and no lanes). */
    int lanes;
    int (*lane_new)(cl_backend *be, cl_backend **out, cl_err *err);
    void *(*event_new)(cl_backend *be, cl_err *err);   /* NULL on failure */
    void (*event_record)(cl_backend *be, void *ev);
    void (*event_wait)(cl_backend *be, void *ev);
    void (*event_free)(cl_backend *be, void *ev);

    void *impl;   /* the backend's own state */
};

/* The CPU backend (OpenBLAS and OpenMP).  threads <= 0: all cores. */
int backend_cpu_create(int threads, cl_backend **out, cl_err *err);
void backend_destroy(cl_backend *be);

/* The CUDA backend (cuDNN, cuBLAS and the kernels of kernels/), on device
 * 0 or CELLAR_CUDA_DEVICE; only in builds with CUDA (HAVE_CUDA).  Fails
 * with CL_ERR_UNSUPPORTED and "no CUDA device: <reason>" when there is no
 * usable GPU, CL_ERR_BACKEND when one is there but will not start. */
int backend_cuda_create(cl_backend **out, cl_err *err);
/* what the CUDA backend was built with: "cuda (cuDNN 9.x.y, cuBLAS; CUDA 13.0)" */
const char *backend_cuda_info(void);

/* "cpu", "cuda" or "auto" (the GPU when there is one, else the CPU) */
int backend_create(const char *name, int threads, cl_backend **out, cl_err *err);

#endif
