/* k_sepconv.cc - kernels/sepconv.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "sepconv.cu"
