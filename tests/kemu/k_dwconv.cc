/* k_dwconv.cc - kernels/dwconv.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "dwconv.cu"
