/* child.h - child networks: a genotype laid out as a CIFAR-style network
 * by the conventions of DESIGN.md section 3 (stem, N normal cells per
 * stage, reductions at L/3 and 2L/3 of L = 3N + 2 cells, global average
 * pool, linear), and the training of one. */
#ifndef CELLAR_CHILD_CHILD_H
#define CELLAR_CHILD_CHILD_H

#include "backend/backend.h"
#include "core/err.h"
#include "nn/net.h"
#include "space/genotype.h"

typedef struct child_spec {
    int N;          /* normal cells per stage */
    int F;          /* filters of the first stage's blocks */
    int in_c, in_h, in_w;
    int classes;
} child_spec;

/* "32x32x3" -> h, w, c (each 1 to 4096); the message says what was expected */
int child_parse_shape(const char *s, int *h, int *w, int *c, cl_err *err);

/* Build the network's graph (not yet planned: call net_plan before
 * running it; parameter and FLOP counts are available at once).  Fails
 * with a message for sizes the layout cannot take (an odd size reaching a
 * factorized reduce, F too small, ...). */
int child_build(const cl_genotype *g, const child_spec *spec, cl_backend *be, cl_net **out,
                cl_err *err);

#endif
