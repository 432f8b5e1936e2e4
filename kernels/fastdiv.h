/* fastdiv.h - integer division by a divisor fixed for a kernel's life.
 *
 * A GPU has no integer divide: n / d compiles to some twenty instructions,
 * which in a kernel that moves one float per index (batch norm walking a
 * channel across the images) cost more than the memory access.  With d
 * known beforehand, n / d is a multiply-high, an add and a shift
 * (Granlund and Montgomery, "Division by invariant integers using
 * multiplication", 1994): for d >= 1 let s = ceil(log2 d) and
 * m = floor(2^32 (2^s - d) / d) + 1; then for 0 <= n < 2^31,
 * n / d = (mulhi(n, m) + n) >> s, where mulhi(n, m) < n keeps the sum
 * within 32 bits.  Written for both compilers: tests/test_nn.c holds it
 * to the division on the CPU. */
#ifndef CELLAR_KERNELS_FASTDIV_H
#define CELLAR_KERNELS_FASTDIV_H

#ifdef __CUDACC__
#define FD_FN static __host__ __device__ __forceinline__
#else
#define FD_FN static inline
#endif

typedef struct k_div {
    unsigned d, mul, shift;
} k_div;

/* the divider for d (1 <= d < 2^31; d < 1, as for an empty tensor whose
 * kernel divides nothing, is taken as 1) */
FD_FN k_div k_div_make(int d)
{
    k_div f;
    unsigned s = 0;
    if (d < 1)
        d = 1;
    while (s < 31 && (1u << s) < (unsigned)d)
        s++;
    f.d = (unsigned)d;
    f.shift = s;
    f.mul = (unsigned)((((1ull << s) - (unsigned)d) << 32) / (unsigned)d + 1);
    return f;
}

/* n / d for 0 <= n < 2^31 */
FD_FN int k_div_q(k_div f, int n)
{
    unsigned hi = (unsigned)(((unsigned long long)(unsigned)n * f.mul) >> 32);
    return (int)((hi + (unsigned)n) >> f.shift);
}

#endif
