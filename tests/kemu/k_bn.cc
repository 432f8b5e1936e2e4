/* k_bn.cc - kernels/bn.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "bn.cu"
