/* k_pwconv.cc - kernels/pwconv.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "pwconv.cu"
