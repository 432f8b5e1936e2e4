/* k_pwconv.cc - kernels/pwconv.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "pwconv.cu"
