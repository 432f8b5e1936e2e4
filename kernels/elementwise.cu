/* elementwise.cu - the small kernels of the CUDA backend: staging the input
 * and the gradient of convolutions that read through ReLU or from a shifted
 * origin, identity paths, global average pooling, the linear layer's bias,
 * softmax cross-entropy and the SGD update.  One version of each, written
 * for clarity; their CPU twins are named in kernels.h. */
#include "common.cuh"
#include "fastdiv.h"

/* ---- convolution staging ---- */

static __global__ void conv_stage_in_k(tview x, int oy, int ox, int relu, float *out,
                                       k_div dplane, k_div drow)
{
    int he = x.h - oy, we = x.w - ox, plane = he * we, per = x.c * plane;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns;
        float *oi = out + (long)img * per;
        FOR_VALUES(j, per)
        {
            int ci = k_div_q(dplane, j), r = j - ci * plane, iy = k_div_q(drow, r);
            int ix = r - iy * we;
            float v = xi[(long)ci * x.h * x.w + (long)(iy + oy) * x.w + ix + ox];
            oi[j] = relu ? (v > 0.f ? v : 0.f) : v;
        }
    }
}

cudaError_t k_conv_stage_in(cudaStream_t st, tview x, int oy, int ox, int relu, float *out)
{
    K_LAUNCH(conv_stage_in_k, k_grid2((long)x.c * (x.h - oy) * (x.w - ox), x.n), K_THREADS, st)
    (x, oy, ox, relu, out, k_div_make((x.h - oy) * (x.w - ox)), k_div_make(x.w - ox));
    return cudaGetLastError();
}

static __global__ void conv_stage_grad_k(const float *g, tview x, int oy, int ox, int relu,
                                         tview dx, int acc, k_div dplane, k_div drow)
{
    int hw = x.h * x.w, per = x.c * hw, he = x.h - oy, we = x.w - ox, gper = x.c * he * we;
    FOR_IMAGES(img, x.n)
    {
        const float *xi = x.d + (long)img * x.ns, *gi = g + (long)img * gper;
        float *di = dx.d + (long)img * dx.ns;
        FOR_VALUES(j, per)
        {
            int ci = k_div_q(dplane, j), r = j - ci * hw, iy = k_div_q(drow, r), ix = r - iy * x.w;
            float v = 0.f;
            if (iy >= oy && ix >= ox)
                v = gi[(long)ci * he * we + (long)(iy - oy) * we + (ix - ox)];
            if (relu && !(xi[j] > 0.f))
                v = 0.f;
            di[j] = acc ? di[j] + v : v;
        }
    }
}

cudaError_t k_conv_stage_grad(cudaStream_t st, const float *g, tview x, int oy, int ox, int relu,
                              tview dx, int acc)
{
    K_LAUNCH(conv_stage_grad_k, k_grid2((long)x.c * x.h * x.w, x.n), K_THREADS, st)
    (g, x, oy, ox, relu, dx, acc, k_div_make(x.h * x.w), k_div_make(x.w));
    return cudaGetLastError();
}

/* ---- identity paths ---- */

static __global__ void scale_copy_k(tview x, tview y, int acc, const float *sscale)
{
    int per = x.c * x.h * x.w;
    FOR_IMAGES(img, x.n)
    {
        const float *p = x.d + (long)img * x.ns;
        float *q = y.d + (long)img * y.ns;
        float sc = sscale ? sscale[img] : 1.f;
        FOR_VALUES(j, per)
        q[j] = acc ? q[j] + sc * p[j] : sc * p[j];
    }
}

cudaError_t k_scale_copy(cudaStream_t st, tview x, tview y, int acc, const float *sscale)
{
    K_LAUNCH(scale_copy_k, k_grid2((long)x.c * x.h * x.w, x.n), K_THREADS, st)(x, y, acc, sscale);
    return cudaGetLastError();
}

/* ---- global average pooling ---- */

/* one warp per (image, channel) */
static __global__ void gap_fwd_k(tview x, tview y)
{
    int hw = x.h * x.w, lane = threadIdx.x & 31;
    long pairs = (long)x.n * x.c;
    long wid = ((long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    long nwarps = ((long)gridDim.x * blockDim.x) >> 5;
    for (long pc = wid; pc < pairs; pc += nwarps) {
        int img = (int)(pc / x.c), ci = (int)(pc - (long)img * x.c);
        const float *p = x.d + (long)img * x.ns + (long)ci * hw;
        float a = 0.f;
        for (int i = lane; i < hw; i += 32)
            a += p[i];
        for (int o = 16; o > 0; o >>= 1)
            a += __shfl_down_sync(0xffffffffu, a, o);
        if (lane == 0)
            y.d[(long)img * y.ns + ci] = a / (float)hw;
    }
}

cudaError_t k_gap_fwd(cudaStream_t st, tview x, tview y)
{
    K_LAUNCH(gap_fwd_k, k_grid1((long)x.n * x.c * 32), K_THREADS, st)(x, y);
    return cudaGetLastError();
}

static __global__ void gap_bwd_k(tview dy, tview dx, int acc)
{
    int hw = dx.h * dx.w, per = dx.c * hw;
    FOR_IMAGES(img, dx.n)
    {
        const float *g = dy.d + (long)img * dy.ns;
        float *q = dx.d + (long)img * dx.ns;
        FOR_VALUES(j, per)
        {
            float v = g[j / hw] / (float)hw;
            q[j] = acc ? q[j] + v : v;
        }
    }
}

cudaError_t k_gap_bwd(cudaStream_t st, tview dy, tview dx, int acc)
{
    K_LAUNCH(gap_bwd_k, k_grid2((long)dx.c * dx.h * dx.w, dx.n), K_THREADS, st)(dy, dx, acc);
    return cudaGetLastError();
}

/* ---- linear layer: the bias (the GEMMs are cuBLAS's) ---- */

static __global__ void bias_rows_k(long count, int m, const float *b, float *y)
{
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (long)gridDim.x * blockDim.x)
        y[i] = b[i % m];
}

cudaError_t k_bias_rows(cudaStream_t st, int n, int m, const float *b, float *y)
{
    long count = (long)n * m;
    K_LAUNCH(bias_rows_k, k_grid1(count), K_THREADS, st)(count, m, b, y);
    return cudaGetLastError();
}

/* one thread per column, rows in order (as the CPU sums them) */
static __global__ void col_sum_k(int n, int m, const float *dy, float *db)
{
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < m; j += gridDim.x * blockDim.x) {
        float a = 0.f;
        for (int i = 0; i < n; i++)
            a += dy[(long)i * m + j];
        db[j] = a;
    }
}

cudaError_t k_col_sum(cudaStream_t st, int n, int m, const float *dy, float *db)
{
    K_LAUNCH(col_sum_k, k_grid1(m), K_THREADS, st)(n, m, dy, db);
    return cudaGetLastError();
}

/* ---- softmax cross-entropy ---- */

/* One block: each thread takes rows, then the block sums the loss (in
 * double, as the CPU does) and the count of right answers. */
#define XENT_THREADS 256
static __global__ void xent_k(int n, int m, const float *logits, const int *labels, float *loss,
                              int *correct, float *dlogits, step_ref sr, int use_sr)
{
    __shared__ double sh[33];
    double total = 0.0, right = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float *z = logits + (long)i * m;
        int lab = labels[i], arg = 0;
        float zmax = z[0], sum = 0.f;
        for (int j = 1; j < m; j++)
            if (z[j] > zmax) {
                zmax = z[j];
                arg = j;
            }
        for (int j = 0; j < m; j++)
            sum += expf(z[j] - zmax);
        if (lab < 0 || lab >= m) {
            total += __longlong_as_double(0x7ff8000000000000LL); /* NaN: a bad label */
            lab = -1;
        } else {
            total += (double)logf(sum) + zmax - z[lab];
            right += arg == lab;
        }
        if (dlogits) {
            float *g = dlogits + (long)i * m;
            for (int j = 0; j < m; j++)
                g[j] = (expf(z[j] - zmax) / sum - (j == lab ? 1.f : 0.f)) / (float)n;
        }
    }
    total = block_sum(total, sh);
    right = block_sum(right, sh);
    if (threadIdx.x == 0) {
        if (use_sr) {
            long slot = (long)(*sr.step % sr.slots);
            loss += slot;
            correct += slot;
        }
        *loss = (float)(total / n);
        *correct = (int)right;
    }
}

cudaError_t k_xent(cudaStream_t st, int n, int m, const float *logits, const int *labels,
                   float *loss, int *correct, float *dlogits, const step_ref *sr)
{
    step_ref none{};
    K_LAUNCH(xent_k, 1, XENT_THREADS, st)
    (n, m, logits, labels, loss, correct, dlogits, sr ? *sr : none, sr != NULL);
    return cudaGetLastError();
}

/* ---- SGD with momentum and L2 weight decay (torch.optim.SGD) ---- */

static __global__ void sgd_k(long count, float *p, const float *g, float *v, float lr, float mom,
                             float wd, int first, const float *lr_at, const int64_t *step)
{
    if (lr_at)
        lr = lr_at[*step];
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (long)gridDim.x * blockDim.x) {
        float d = g[i] + wd * p[i];
        float u = first ? d : mom * v[i] + d;
        v[i] = u;
        p[i] -= lr * u;
    }
}

cudaError_t k_sgd(cudaStream_t st, long count, float *p, const float *g, float *v, float lr,
                  float mom, float wd, int first, const step_ref *sr)
{
    if (count <= 0)
        return cudaSuccess;
    K_LAUNCH(sgd_k, k_grid1(count), K_THREADS, st)
    (count, p, g, v, lr, mom, wd, first, sr ? sr->lr : NULL, sr ? sr->step : NULL);
    return cudaGetLastError();
}

/* ---- batches from the resident dataset, drop-path masks ---- */

static __global__ void batch_gather_k(batch_desc d, const uint8_t *images, const uint8_t *labels,
                                      const int *idx, int n, float *x, int *y, step_ref sr,
                                      int use_sr)
{
    int plane = d.h * d.w, per = d.c * plane;
    if (use_sr) {
        d.step = (long)*sr.step;
        idx += (d.step % sr.steps_per_epoch) * n;
    }
    FOR_IMAGES(img, n)
    {
        const uint8_t *src = images + (long)idx[img] * per;
        float *dst = x + (long)img * per;
        int dy = 0, dx = 0, flip = 0;
        if (d.pad > 0 || d.flip)
            k_aug_draw(d, img, &dy, &dx, &flip);
        if (y && blockIdx.x == 0 && threadIdx.x == 0)
            y[img] = labels[idx[img]];
        FOR_VALUES(j, per)
        {
            int ch = j / plane, r = j - ch * plane, row = r / d.w, col = r - row * d.w;
            int srow = row + dy, scol = (flip ? d.w - 1 - col : col) + dx;
            float sd = d.std[ch] > 0.f ? d.std[ch] : 1.f;
            float scale = 1.f / (255.f * sd), shift = -d.mean[ch] / sd;
            dst[j] = srow < 0 || srow >= d.h || scol < 0 || scol >= d.w
                         ? 0.f
                         : (float)src[(long)ch * plane + (long)srow * d.w + scol] * scale + shift;
        }
    }
}

cudaError_t k_batch_gather(cudaStream_t st, const batch_desc *d, const uint8_t *images,
                           const uint8_t *labels, const int *idx, int n, float *x, int *y,
                           const step_ref *sr)
{
    step_ref none{};
    if (n <= 0)
        return cudaSuccess;
    K_LAUNCH(batch_gather_k, k_grid2((long)d->c * d->h * d->w, n), K_THREADS, st)
    (*d, images, labels, idx, n, x, y, sr ? *sr : none, sr != NULL);
    return cudaGetLastError();
}

/* the sum rows draw their two values again rather than read them back:
 * no thread waits for another's */
static __global__ void drop_draw_k(unsigned long long seed, long step, float prob, long count,
                                   const int *pairs, long row, long total, float *scale,
                                   const int64_t *step_at, const float *prob_at)
{
    if (step_at) {
        step = (long)*step_at;
        prob = prob_at[step];
    }
    for (long k = (long)blockIdx.x * blockDim.x + threadIdx.x; k < total;
         k += (long)gridDim.x * blockDim.x) {
        if (k < count) {
            scale[k] = k_drop_one(seed, step, k, prob);
        } else {
            long j = (k - count) / row, i = (k - count) - j * row;
            scale[k] = k_drop_one(seed, step, (long)pairs[2 * j] * row + i, prob) +
                       k_drop_one(seed, step, (long)pairs[2 * j + 1] * row + i, prob);
        }
    }
}

cudaError_t k_drop_draw(cudaStream_t st, uint64_t seed, long step, float prob, long count,
                        const int *pairs, int n_sums, long row, float *scale, const step_ref *sr)
{
    long total = count + (n_sums > 0 ? (long)n_sums * row : 0);
    if (total <= 0)
        return cudaSuccess;
    K_LAUNCH(drop_draw_k, k_grid1(total), K_THREADS, st)
    (seed, step, prob, count, pairs, row, total, scale, sr ? sr->step : NULL,
     sr ? sr->drop : NULL);
    return cudaGetLastError();
}

static __global__ void step_next_k(int64_t *step) { ++*step; }

cudaError_t k_step_next(cudaStream_t st, const step_ref *sr)
{
    K_LAUNCH(step_next_k, 1, 1, st)(sr->step);
    return cudaGetLastError();
}

/* ---- sums split in parts ---- */

/* out[i] = the sum over q of part[q][i] in the order k_parts_warps fixes:
 * a warp's lanes take 32 consecutive i (each load one line), W warps share
 * them, warp w adding parts w, w + W, w + 2W, ... in order, and the first
 * of them then adds the W sums in warp order.  With one warp (parts <= 16)
 * that is parts 0, 1, 2, ... in order.  Thousands of parts (the separable
 * backward's one per image and band, the 16 x 16 pointwise filter
 * gradients' at batch 128) thus take 32 lanes' loads in flight each, not
 * one thread's chain of a load per part. */
static __device__ void parts_sum_one(long count, int parts, int W, const float *part, float *out,
                                     float *s)
{
    int lane = threadIdx.x & 31, wc = (int)(threadIdx.x >> 5), w = wc % W, chunk = wc / W;
    long per = blockDim.x / W; /* values a trip takes: blockDim.x / (32 W) chunks of 32 */
    for (long b0 = (long)blockIdx.x * per; b0 < count; b0 += (long)gridDim.x * per) {
        long i = b0 + chunk * 32 + lane;
        float v = 0.f;
        if (i < count)
            for (int q = w; q < parts; q += W)
                v += part[(long)q * count + i];
        /* (with W = 1 too: the barriers then depend on no block's sum) */
        s[threadIdx.x] = v;
        __syncthreads();
        if (w == 0 && i < count) {
            float t = v;
            for (int k = 1; k < W; k++)
                t += s[(chunk * W + k) * 32 + lane];
            out[i] = t;
        }
        __syncthreads();
    }
}

static __global__ void parts_sum_k(long count, int parts, int W, const float *part, float *out)
{
    __shared__ float s[1024];
    parts_sum_one(count, parts, W, part, out, s);
}

/* set.e[blockIdx.y], each as parts_sum_k would add it (blockDim.x at
 * least 32 W for every one: the order does not depend on it) */
static __global__ void parts_sum_set_k(k_psum_set set)
{
    __shared__ float s[1024];
    const k_psum *e = &set.e[blockIdx.y];
    parts_sum_one(e->count, e->parts, e->W, e->part, e->out, s);
}

cudaError_t k_parts_sum(cudaStream_t st, long count, int parts, const float *part, float *out)
{
    int W = k_parts_warps(parts), threads = 32 * W < K_THREADS ? K_THREADS : 32 * W;
    long per = threads / W, b = (count + per - 1) / per;
    if (count <= 0)
        return cudaSuccess;
    if (parts < 1 || !part || !out)
        return cudaErrorInvalidValue;
    K_LAUNCH(parts_sum_k, (unsigned)(b > 65535 ? 65535 : b), threads, st)
    (count, parts, W, part, out);
    return cudaGetLastError();
}

cudaError_t k_parts_sum_set(cudaStream_t st, const k_psum_set *set)
{
    int threads = K_THREADS;
    long most = 0;
    if (!set || set->n < 0 || set->n > K_PSUM_MAX)
        return cudaErrorInvalidValue;
    for (int j = 0; j < set->n; j++) {
        const k_psum *e = &set->e[j];
        if (e->count > 0 &&
            (e->parts < 1 || !e->part || !e->out || e->W != k_parts_warps(e->parts)))
            return cudaErrorInvalidValue;
        if (e->count > 0 && 32 * e->W > threads)
            threads = 32 * e->W;
    }
    for (int j = 0; j < set->n; j++) {   /* blocks: as many as the longest sum needs */
        const k_psum *e = &set->e[j];
        long per = e->count > 0 ? threads / e->W : 1, b = (e->count + per - 1) / per;
        if (b > most)
            most = b;
    }
    if (most == 0)
        return cudaSuccess;
    K_LAUNCH(parts_sum_set_k, dim3((unsigned)(most > 65535 ? 65535 : most), (unsigned)set->n, 1),
             threads, st)
    (*set);
    return cudaGetLastError();
}

cudaError_t k_parts_finish(cudaStream_t st, long count, int parts, const float *part, float *out,
                           k_psum *later)
{
    if (!later)
        return parts > 1 ? k_parts_sum(st, count, parts, part, out) : cudaSuccess;
    later->count = 0;   /* (the other fields then mean nothing) */
    if (parts <= 1 || count <= 0)
        return cudaSuccess;
    if (!part || !out)
        return cudaErrorInvalidValue;
    later->count = count;
    later->parts = parts;
    later->W = k_parts_warps(parts);
    later->part = part;
    later->out = out;
    return cudaSuccess;
}
