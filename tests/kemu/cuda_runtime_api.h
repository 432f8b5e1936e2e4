/* cuda_runtime_api.h - the little of the CUDA runtime that kernels/ uses,
 * for running those kernels on the CPU (see cuda_runtime.h beside this).
 * Host memory stands for device memory; a stream is only a name. */
#ifndef KEMU_CUDA_RUNTIME_API_H
#define KEMU_CUDA_RUNTIME_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorInvalidConfiguration = 9
} cudaError_t;

typedef struct kemu_stream *cudaStream_t;

/* under names of their own, so a test that also links the real runtime
 * (a build with CUDA) calls these */
#define cudaGetLastError kemu_get_last_error
#define cudaGetErrorString kemu_get_error_string
#define cudaMemsetAsync kemu_memset_async

/* the error of the last launch (a grid or block CUDA would refuse), then
 * cudaSuccess again */
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t st);

/* blocks run by the launches so far (for the tests' reports) */
long kemu_blocks_run(void);

#ifdef __cplusplus
}
#endif

#endif
