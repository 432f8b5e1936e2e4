/* cpu.c - the CPU backend: memory, per-thread scratch, the GEMM wrapper and
 * the backend table.  Parallelism is OpenMP inside each op; OpenBLAS runs
 * single-threaded inside those threads, since our GEMMs are many and small
 * (one per image) and splitting each of them would only add overhead. */
#include "backend/cpu/cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void cpu_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void *cpu_alloc(cl_backend *be, size_t bytes)
{
    void *p = NULL;
    (void)be;
    /* 64-byte alignment: one cache line, one AVX-512 vector */
    if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64) != 0)
        return NULL;
    return p;
}

static void cpu_free(cl_backend *be, void *p)
{
    (void)be;
    free(p);
}

static void cpu_copy(cl_backend *be, void *dst, const void *src, size_t bytes)
{
    (void)be;
    memcpy(dst, src, bytes);
}

static void cpu_zero(cl_backend *be, void *p, size_t bytes)
{
    (void)be;
    memset(p, 0, bytes);
}

static int cpu_sync(cl_backend *be, cl_err *err)
{
    (void)be;
    (void)err;
    return CL_OK;
}

int cpu_reserve(cl_backend *be, size_t floats, cl_err *err)
{
    cpu_state *s = cpu_of(be);
    if (floats <= s->scratch_floats)
        return CL_OK;
    for (int t = 0; t < s->threads; t++) {
        float *p = NULL;
        if (posix_memalign((void **)&p, 64, floats * sizeof(float)) != 0)
            return ERR_SET(err, CL_ERR_NOMEM, "CPU scratch: cannot allocate %zu MiB per thread",
                           floats * sizeof(float) >> 20);
        free(s->scratch[t]);
        s->scratch[t] = p;
    }
    s->scratch_floats = floats;
    return CL_OK;
}

static int cpu_conv_prepare(cl_backend *be, const conv_desc *d, int n, int h, int w, cl_err *err)
{
    (void)n;
    return cpu_reserve(be, cpu_conv_scratch(d, h, w), err);
}

static int cpu_pool_prepare(cl_backend *be, const pool_desc *d, int n, int c, int h, int w,
                            cl_err *err)
{
    (void)n;
    (void)c;
    return cpu_reserve(be, cpu_pool_scratch(d, h, w), err);
}

static void cpu_destroy(cl_backend *be);

static const cl_backend cpu_table = {
    .name = "cpu",
    .host_memory = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .zero = cpu_zero,
    .sync = cpu_sync,
    .destroy = cpu_destroy,
    .conv_prepare = cpu_conv_prepare,
    .pool_prepare = cpu_pool_prepare,
    .conv_fwd = cpu_conv_fwd,
    .conv_bwd_data = cpu_conv_bwd_data,
    .conv_bwd_filter = cpu_conv_bwd_filter,
    .conv_bwd = cpu_conv_bwd,
    .bn_fwd_train = cpu_bn_fwd_train,
    .bn_fwd_eval = cpu_bn_fwd_eval,
    .bn_bwd = cpu_bn_bwd,
    .pool_fwd = cpu_pool_fwd,
    .pool_bwd = cpu_pool_bwd,
    .scale_copy = cpu_scale_copy,
    .gap_fwd = cpu_gap_fwd,
    .gap_bwd = cpu_gap_bwd,
    .linear_fwd = cpu_linear_fwd,
    .linear_bwd = cpu_linear_bwd,
    .xent = cpu_xent,
    .sgd = cpu_sgd,
    .batch_gather = cpu_batch_gather,
    .drop_draw = cpu_drop_draw,
    .step_next = cpu_step_next,
};

int backend_cpu_create(int threads, cl_backend **out, cl_err *err)
{
    cl_backend *be = malloc(sizeof *be);
    cpu_state *s = calloc(1, sizeof *s);
    if (threads <= 0)
        threads = omp_get_num_procs();
    if (!be || !s || !(s->scratch = calloc((size_t)threads, sizeof *s->scratch))) {
        free(be);
        if (s)
            free(s->scratch);
        free(s);
        return ERR_SET(err, CL_ERR_NOMEM, "CPU backend: out of memory");
    }
    *be = cpu_table;
    be->threads = threads;
    s->threads = threads;
    be->impl = s;
    omp_set_num_threads(threads);
    openblas_set_num_threads(1);
    *out = be;
    return CL_OK;
}

static void cpu_destroy(cl_backend *be)
{
    cpu_state *s = cpu_of(be);
    for (int t = 0; t < s->threads; t++)
        free(s->scratch[t]);
    free(s->scratch);
    free(s);
    free(be);
}
