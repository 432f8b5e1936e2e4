/* kemu_args.h - the views and step counters among a kernel's arguments
 * hold pointers too: each k_*.cc includes this before its kernels/X.cu, so
 * that a launch checks them as it checks plain pointers (cuda_runtime.h):
 * a view's whole extent, the step counter's pointers. */
#ifndef KEMU_ARGS_H
#define KEMU_ARGS_H

#include "cuda_runtime.h"
#include "kernels.h"

/* a view: the whole of it, image n-1's last value included */
static inline int kemu_arg_ok(const char *k, int i, const tview &v)
{
    size_t last;
    if (!v.d || v.n <= 0 || v.c <= 0 || v.h <= 0 || v.w <= 0)
        return kemu_device_arg(k, i, (const void *)v.d);
    last = ((size_t)(v.n - 1) * (size_t)v.ns + (size_t)v.c * v.h * v.w) * sizeof(float);
    return kemu_device_range(k, i, (const void *)v.d, last);
}

/* the step counter's pointers (backend.h), where a kernel reads them */
static inline int kemu_arg_ok(const char *k, int i, const step_ref &r)
{
    return kemu_device_arg(k, i, (const void *)r.step) &&
           kemu_device_arg(k, i, (const void *)r.lr) &&
           kemu_device_arg(k, i, (const void *)r.drop);
}

#endif
