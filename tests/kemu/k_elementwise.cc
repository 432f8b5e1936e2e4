/* k_elementwise.cc - kernels/elementwise.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "kemu_args.h"

#include "elementwise.cu"
