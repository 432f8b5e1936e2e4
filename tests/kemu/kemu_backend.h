/* kemu_backend.h - a backend of the GPU's kernels run on the CPU, for
 * test_kernels (kemu_backend.c says what runs where). */
#ifndef KEMU_BACKEND_H
#define KEMU_BACKEND_H

#include "backend/backend.h"

/* Split sums as on a GPU of `sms` multiprocessors; batch norm split in
 * bn_parts parts (at most one per image). */
int kemu_backend_create(int sms, int bn_parts, cl_backend **out, cl_err *err);

#endif
