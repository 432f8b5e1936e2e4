// gpu_calib.cu - the calibration runs of a GPU machine, before reading
// cellar's own figures there: what one kernel costs at least inside a
// CUDA graph (a chain of dependent empty kernels, and of tiny ones that
// touch 8 KB), and the bandwidth a plain copy kernel reaches by size
// (from L2-resident to HBM-sized).  One JSON line per figure.  Built and
// run by tests/gpu.sh:
//
//     nvcc -O3 -o gpu_calib tests/gpu_calib.cu && ./gpu_calib
#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

#define OK(call)                                                                              \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess) {                                                              \
            std::fprintf(stderr, "gpu_calib: %s: %s\n", #call, cudaGetErrorString(e_));      \
            std::exit(1);                                                                     \
        }                                                                                     \
    } while (0)

static __global__ void empty_k() {}

static __global__ void touch_k(float *p, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        p[i] = p[i] * 0.5f + 1.f;
}

static __global__ void copy_k(const float4 *a, float4 *b, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n;
         i += (long)gridDim.x * blockDim.x)
        b[i] = a[i];
}

// microseconds per kernel of a graph of `count` dependent launches
template <typename L> static double chain(cudaStream_t st, int count, L launch)
{
    cudaGraph_t g;
    cudaGraphExec_t x;
    cudaEvent_t a, b;
    float ms;
    const int reps = 20;
    OK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < count; i++)
        launch();
    OK(cudaStreamEndCapture(st, &g));
    OK(cudaGraphInstantiate(&x, g, 0));
    OK(cudaGraphLaunch(x, st)); // warm-up
    OK(cudaEventCreate(&a));
    OK(cudaEventCreate(&b));
    OK(cudaEventRecord(a, st));
    for (int r = 0; r < reps; r++)
        OK(cudaGraphLaunch(x, st));
    OK(cudaEventRecord(b, st));
    OK(cudaEventSynchronize(b));
    OK(cudaEventElapsedTime(&ms, a, b));
    OK(cudaGraphExecDestroy(x));
    OK(cudaGraphDestroy(g));
    OK(cudaEventDestroy(a));
    OK(cudaEventDestroy(b));
    return ms * 1e3 / reps / count;
}

int main()
{
    cudaStream_t st;
    cudaDeviceProp prop;
    float *small, *a, *b;
    const long most = 64L << 20; // bytes
    int sms;
    OK(cudaGetDeviceProperties(&prop, 0));
    sms = prop.multiProcessorCount;
    OK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    OK(cudaMalloc(&small, 8192));
    OK(cudaMalloc(&a, most));
    OK(cudaMalloc(&b, most));
    OK(cudaMemset(small, 0, 8192));
    OK(cudaMemset(a, 0, most));
    std::printf("{\"device\":\"%s\",\"sms\":%d,\"l2_mb\":%.1f}\n", prop.name, sms,
                prop.l2CacheSize / 1048576.0);
    std::printf("{\"calib\":\"empty kernel in a graph\",\"us_per_kernel\":%.3f}\n",
                chain(st, 1000, [&] { empty_k<<<1, 32, 0, st>>>(); }));
    std::printf("{\"calib\":\"8 KB kernel in a graph\",\"us_per_kernel\":%.3f}\n",
                chain(st, 1000, [&] { touch_k<<<8, 256, 0, st>>>(small, 2048); }));
    for (long bytes = 2L << 20; bytes <= most; bytes *= 2) {
        long n4 = bytes / 16;
        double us = chain(st, 50, [&] {
            copy_k<<<4 * sms, 512, 0, st>>>((const float4 *)a, (float4 *)b, n4);
        });
        std::printf("{\"calib\":\"copy\",\"mb\":%ld,\"us\":%.2f,\"gb_s\":%.0f}\n", bytes >> 20, us,
                    2.0 * bytes / (us * 1e3));
    }
    OK(cudaFree(small));
    OK(cudaFree(a));
    OK(cudaFree(b));
    OK(cudaStreamDestroy(st));
    return 0;
}
