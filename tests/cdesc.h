/* cdesc.h - a convolution description in one call, for the tests that
 * build convolutions op by op (test_nn against finite differences,
 * test_cuda against the CPU). */
#ifndef CELLAR_TESTS_CDESC_H
#define CELLAR_TESTS_CDESC_H

#include <string.h>

#include "backend/backend.h"

static inline conv_desc cdesc(int cin, int cout, int kh, int kw, int sh, int sw, int ph, int pw,
                              int dil, int groups, int relu)
{
    conv_desc d;
    memset(&d, 0, sizeof d);
    d.cin = cin;
    d.cout = cout;
    d.kh = kh;
    d.kw = kw;
    d.sh = sh;
    d.sw = sw;
    d.ph = ph;
    d.pw = pw;
    d.dh = d.dw = dil;
    d.groups = groups;
    d.relu_in = relu;
    return d;
}

#endif
