/* kemu_args.h - the views among a kernel's arguments hold pointers too:
 * each k_*.cc includes this before its kernels/X.cu, so that a launch
 * checks a view's data pointer as it checks plain pointers (cuda_runtime.h). */
#ifndef KEMU_ARGS_H
#define KEMU_ARGS_H

#include "cuda_runtime.h"
#include "kernels.h"

static inline int kemu_arg_ok(const char *k, int i, const tview &v)
{
    return kemu_device_arg(k, i, (const void *)v.d);
}

#endif
