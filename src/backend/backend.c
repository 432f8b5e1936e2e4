/* backend.c - shapes of the ops and the choice of a backend by name. */
#include "backend/backend.h"

#include <string.h>

#include "config.h"
#include "core/log.h"

int conv_out_h(const conv_desc *d, int h)
{
    return (h - d->oy + 2 * d->ph - d->dh * (d->kh - 1) - 1) / d->sh + 1;
}

int conv_out_w(const conv_desc *d, int w)
{
    return (w - d->ox + 2 * d->pw - d->dw * (d->kw - 1) - 1) / d->sw + 1;
}

long conv_weight_count(const conv_desc *d)
{
    return (long)d->cout * (d->cin / d->groups) * d->kh * d->kw;
}

int pool_out(const pool_desc *d, int h)
{
    return (h + 2 * d->p - d->k) / d->s + 1;
}

/* "auto" takes the GPU when one starts, else the CPU: a machine without a
 * GPU is the common case and says nothing; a GPU that is there but fails
 * to start is logged, and the run goes on on the CPU. */
int backend_create(const char *name, int threads, cl_backend **out, cl_err *err)
{
    if (!strcmp(name, "cpu"))
        return backend_cpu_create(threads, out, err);
    if (!strcmp(name, "auto")) {
#ifdef HAVE_CUDA
        cl_err cuda_err = {0};
        int rc = backend_cuda_create(out, &cuda_err);
        if (rc == CL_OK)
            return CL_OK;
        if (rc == CL_ERR_UNSUPPORTED)
            log_debug("backend auto: %s; using the CPU", cuda_err.msg);
        else
            log_warn("backend auto: the GPU did not start (%s); using the CPU", cuda_err.msg);
#endif
        return backend_cpu_create(threads, out, err);
    }
    if (!strcmp(name, "cuda")) {
#ifdef HAVE_CUDA
        return backend_cuda_create(out, err);
#else
        return ERR_SET(err, CL_ERR_UNSUPPORTED,
                       "this cellar was built without CUDA (configure found no CUDA toolkit with "
                       "cuDNN and cuBLAS); use --backend cpu");
#endif
    }
    return ERR_SET(err, CL_ERR_ARG, "unknown backend '%s' (valid: cpu, cuda, auto)", name);
}

void backend_destroy(cl_backend *be)
{
    if (be)
        be->destroy(be);
}
