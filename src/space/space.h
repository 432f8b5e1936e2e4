/* space.h - a search space of cells, and the decisions that pick a cell.
 *
 * A space says which ops (from the registry of genotype.h) and combiners a
 * block may use, how many blocks B a cell has, and how many of the
 * previous cells' outputs a block may read: 2 (h_{i-1} and h_i, NASNet) or
 * 1 (h_i only).  A genotype of the space is reached by 2 x 5B decisions,
 * in the controller's order: for the normal cell, then the reduction
 * cell, for each block: input 1, input 2, op 1, op 2, combiner. */
#ifndef CELLAR_SPACE_SPACE_H
#define CELLAR_SPACE_SPACE_H

#include "core/err.h"
#include "core/rng.h"
#include "space/genotype.h"

#define SPACE_MAX_DECISIONS (2 * 5 * GENO_MAX_BLOCKS)

typedef struct cl_space {
    char name[32];
    int B;                      /* blocks per cell */
    int inputs;                 /* 2: h_{i-1} and h_i; 1: h_i only */
    int n_ops;
    unsigned char ops[OP_COUNT];        /* registry indices, in the space's order */
    int n_combs;
    unsigned char combs[COMB_COUNT];
} cl_space;

/* NASNet's: the 13 ops, add and concat, B = 5, 2 inputs. */
void space_nasnet(cl_space *s);
int space_validate(const cl_space *s, cl_err *err);

/* The number of decisions (2 * 5B); n_choices[t] receives each one's count. */
int space_decisions(const cl_space *s, int *n_choices);

/* decisions -> genotype (actions must be in range) */
int space_decode(const cl_space *s, const int *actions, cl_genotype *g, cl_err *err);
/* genotype -> decisions; fails, saying why, for a genotype outside the space */
int space_encode(const cl_space *s, const cl_genotype *g, int *actions, cl_err *err);

/* uniform choices at every decision */
void space_sample_uniform(const cl_space *s, cl_rng *rng, int *actions);

/* "1 0 10 11 0 ..." (at most cap bytes) and back */
void space_actions_format(const int *actions, int n, char *out, size_t cap);
int space_actions_parse(const char *text, int *actions, int n, cl_err *err);

#endif
