/* testds.h - a dataset of random bytes for the tests that train on one
 * (test_kernels, test_cuda): n images of 3 x side x side, labels below 10,
 * drawn from r (the images first, then the labels), and idx[i] = i for
 * training on all of them.  dataset_free() frees it. */
#ifndef CELLAR_TESTS_TESTDS_H
#define CELLAR_TESTS_TESTDS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/dataset.h"

static void test_dataset(cl_dataset *ds, int n, int side, cl_rng *r, int *idx)
    __attribute__((unused));
static void test_dataset(cl_dataset *ds, int n, int side, cl_rng *r, int *idx)
{
    long bytes = (long)n * 3 * side * side;
    memset(ds, 0, sizeof *ds);
    ds->c = 3;
    ds->h = ds->w = side;
    ds->classes = 10;
    ds->n_train = n;
    ds->train_x = malloc((size_t)bytes);
    ds->train_y = malloc((size_t)n);
    for (long i = 0; i < bytes; i++)
        ds->train_x[i] = (uint8_t)(rng_u64(r) & 0xff);
    for (int i = 0; i < n; i++) {
        ds->train_y[i] = (uint8_t)rng_below(r, 10);
        idx[i] = i;
    }
}

#endif
