/* simd.h - 16-float vectors through GCC's vector extensions (which Clang
 * has too).  On an
 * AVX-512 machine (with -march=native) one vf is one zmm register; on
 * others the compiler splits it into AVX2 or SSE halves, so the same code
 * runs everywhere without intrinsics. */
#ifndef CELLAR_BACKEND_CPU_SIMD_H
#define CELLAR_BACKEND_CPU_SIMD_H

#include <stdint.h>
#include <string.h>

#define VL 16

/* Without AVX-512 GCC warns that passing 64-byte vectors by value differs
 * between ABIs; every function here is static inline, so no ABI is crossed. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* the first n (< VL) lanes from p, the rest zero */
static inline vf vload_part(const float *p, int n)
{
    vf v = {0};
    memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

static inline void vstore_part(float *p, vf v, int n) { memcpy(p, &v, (size_t)n * sizeof(float)); }

static inline vf vsplat(float x) { return (vf){0} + x; }

static inline vf vmax(vf a, vf b)
{
    vi m = a > b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

/* a where m, else 0 */
static inline vf vmask(vf a, vi m) { return (vf)((vi)a & m); }

/* two-vector lane selection: GCC's __builtin_shuffle takes the lanes as a
 * vector, Clang's __builtin_shufflevector as constants */
#if defined(__clang__)
#define VSHUF2(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
#else
#define VSHUF2(a, b, ...) __builtin_shuffle((a), (b), (vi){__VA_ARGS__})
#endif

/* lanes a0 b0 a1 b1 ... a7 b7 */
static inline vf vinterleave(vf a, vf b)
{
    return VSHUF2(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/* the even lanes of a then of b, and the odd lanes of a then of b */
static inline vf veven(vf a, vf b)
{
    return VSHUF2(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

static inline vf vodd(vf a, vf b)
{
    return VSHUF2(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

static inline vf vrelu(vf a) { return vmask(a, a > 0.f); }

static inline float vsum(vf v)
{
    float s = 0.f;
    for (int i = 0; i < VL; i++)
        s += v[i];
    return s;
}

#endif
