/* k_pool.cc - kernels/pool.cu, compiled to run on the CPU (cuda_runtime.h). */
#include "pool.cu"
