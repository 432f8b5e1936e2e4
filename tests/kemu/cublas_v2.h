/* cublas_v2.h - the part of cuBLAS that the CUDA backend uses (the linear
 * layer's GEMMs), run on the CPU by kemu_dnn.cc; names and codes as in
 * cuBLAS 12, the functions under names of their own (kemu_cublas...). */
#ifndef KEMU_CUBLAS_V2_H
#define KEMU_CUBLAS_V2_H

#include <stddef.h>

#include "cuda_runtime_api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15
} cublasStatus_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum {
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3
} cublasMath_t;

typedef struct kemu_blas *cublasHandle_t;

#define cublasCreate kemu_cublasCreate
#define cublasDestroy kemu_cublasDestroy
#define cublasSetStream kemu_cublasSetStream
#define cublasSetMathMode kemu_cublasSetMathMode
#define cublasSetWorkspace kemu_cublasSetWorkspace
#define cublasSgemm kemu_cublasSgemm
#define cublasGetStatusString kemu_cublasGetStatusString
#define cublasGetStatusName kemu_cublasGetStatusName

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t st);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode);
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes);
/* column-major C = alpha op(A) op(B) + beta C (C not read when beta is 0) */
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *a, int lda,
                           const float *b, int ldb, const float *beta, float *c, int ldc);
const char *cublasGetStatusString(cublasStatus_t st);
const char *cublasGetStatusName(cublasStatus_t st);

#ifdef __cplusplus
}
#endif

#endif
