/* k_pool.cc - kernels/pool.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "pool.cu"
