/* backend.c - shapes of the ops and the choice of a backend by name. */
#include "backend/backend.h"

#include <string.h>

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

int backend_create(const char *name, int threads, cl_backend **out, cl_err *err)
{
    if (!strcmp(name, "cpu") || !strcmp(name, "auto"))
        return backend_cpu_create(threads, out, err);
    if (!strcmp(name, "cuda"))
        return ERR_SET(err, CL_ERR_UNSUPPORTED,
                       "the CUDA backend is not part of this build yet; use --backend cpu");
    return ERR_SET(err, CL_ERR_ARG, "unknown backend '%s' (valid: cpu, cuda, auto)", name);
}

void backend_destroy(cl_backend *be)
{
    if (be)
        be->destroy(be);
}
