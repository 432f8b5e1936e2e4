/* pwgemm.c - the small matrix products of pointwise convolutions with the
 * ReLU folded in:
 *
 *   c[i][n] (+)= mask(i, n) * sum_j a(i, j) * f(b[j][n])
 *
 * where a(i, j) = a[i * ars + j * acs] (so a weight matrix or its
 * transpose without copying), f is ReLU or the identity, and mask(i, n) is
 * (x[i][n] > 0) when a mask tensor is given.  Forward of a ReLU-1x1 conv is
 * (a = W, f = ReLU); its data gradient is (a = W^T, mask = the conv's
 * input).  OpenBLAS needs the ReLU applied to a copy first and the mask
 * applied in a second pass; here both happen in registers.
 *
 * Blocking: 32 columns of b at a time are packed (through f) into a
 * contiguous panel, so that the rows of b, a whole plane apart, do not
 * fight over the same cache sets; then 8 output rows by 32 columns (16
 * accumulators), the 8 weights of each step broadcast from memory, the two
 * panel vectors shared by the 8 rows; remaining rows take 4- and 1-row
 * variants, and the last vector of a row may be partial. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/simd.h"

static inline vf load_n(const float *p, int n) { return n >= VL ? vload(p) : vload_part(p, n); }
static inline void store_n(float *p, vf v, int n)
{
    if (n >= VL)
        vstore(p, v);
    else
        vstore_part(p, v, n);
}

/* rows [i0, i0 + MB) by the panel's 2*VL columns, stored at columns
 * [n0, n0 + cols) of c */
#define PW_BLOCK(MB)                                                                            \
    static void block_##MB(const float *a, long ars, long acs, const float *panel, int kdim,     \
                           float *c, long ldc, const float *mask, long ldm, int acc, int i0,     \
                           int n0, int cols)                                                     \
    {                                                                                            \
        enum { NV = 2 };                                                                         \
        vf s[MB][NV];                                                                            \
        for (int ii = 0; ii < MB; ii++)                                                          \
            for (int v = 0; v < NV; v++)                                                         \
                s[ii][v] = (vf){0};                                                              \
        for (int j = 0; j < kdim; j++) {                                                         \
            vf x[NV];                                                                            \
            const float *aj = a + (long)i0 * ars + (long)j * acs;                                \
            for (int v = 0; v < NV; v++)                                                         \
                x[v] = vload(panel + (long)j * NV * VL + v * VL);                                \
            for (int ii = 0; ii < MB; ii++) {                                                    \
                float w = aj[(long)ii * ars];                                                    \
                for (int v = 0; v < NV; v++)                                                     \
                    s[ii][v] += x[v] * w;                                                        \
            }                                                                                    \
        }                                                                                        \
        for (int ii = 0; ii < MB; ii++)                                                          \
            for (int v = 0; v < NV && v * VL < cols; v++) {                                      \
                int n = cols - v * VL;                                                           \
                long at = (long)(i0 + ii) * ldc + n0 + v * VL;                                   \
                vf r = s[ii][v];                                                                 \
                if (mask)                                                                        \
                    r = vmask(r, load_n(mask + (long)(i0 + ii) * ldm + n0 + v * VL, n) > 0.f);   \
                if (acc)                                                                         \
                    r += load_n(c + at, n);                                                      \
                store_n(c + at, r, n);                                                           \
            }                                                                                    \
    }

PW_BLOCK(8)
PW_BLOCK(4)
PW_BLOCK(1)

/* Loads of b and of the mask read whole vectors only where a full vector
 * is there; panel is scratch of kdim * 2 * VL floats. */
void cpu_pw_gemm(int mdim, int ndim, int kdim, const float *a, long ars, long acs, const float *b,
                 long ldb, int relu, float *c, long ldc, const float *mask, long ldm, int acc,
                 float *panel)
{
    for (int n0 = 0; n0 < ndim; n0 += 2 * VL) {
        int cols = ndim - n0 < 2 * VL ? ndim - n0 : 2 * VL;
        for (int j = 0; j < kdim; j++) {
            const float *src = b + (long)j * ldb + n0;
            float *dst = panel + (long)j * 2 * VL;
            for (int v = 0; v < 2; v++) {
                int n = cols - v * VL;
                vf x = n >= VL ? vload(src + v * VL) : n > 0 ? vload_part(src + v * VL, n) : (vf){0};
                vstore(dst + v * VL, relu ? vrelu(x) : x);
            }
        }
        for (int i0 = 0; i0 < mdim;) {
            int rows = mdim - i0 >= 8 ? 8 : mdim - i0 >= 4 ? 4 : 1;
            if (rows == 8)
                block_8(a, ars, acs, panel, kdim, c, ldc, mask, ldm, acc, i0, n0, cols);
            else if (rows == 4)
                block_4(a, ars, acs, panel, kdim, c, ldc, mask, ldm, acc, i0, n0, cols);
            else
                block_1(a, ars, acs, panel, kdim, c, ldc, mask, ldm, acc, i0, n0, cols);
            i0 += rows;
        }
    }
}
