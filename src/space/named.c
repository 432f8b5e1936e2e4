/* named.c - the built-in genotypes that `--genotype NAME` and Lua accept.
 *
 * An entry is here only when its source gives the cell exactly and every
 * part of it fits this space as it is: the 13 ops, add or concat, inputs
 * 0 = h_{i-1}, 1 = h_i, 2 + j = block j, and a cell output made of the
 * blocks no later block reads.  Cells published with other output rules
 * (DARTS, PNASNet and AmoebaNet concatenate blocks that are also read, or
 * the cell's input) or ops outside the 13 (DARTS' none and dil_conv_5x5)
 * would be a different network under this format, so they are left out;
 * see cellar-genotype(5). */
#include "space/genotype.h"

const geno_named geno_builtin[] = {
    {
        "nasnet-a",
        "normal: sep_conv_5x5(1) sep_conv_3x3(0) add | sep_conv_5x5(0) sep_conv_3x3(0) add"
        " | avg_pool_3x3(1) identity(0) add | avg_pool_3x3(0) avg_pool_3x3(0) add"
        " | sep_conv_3x3(1) identity(1) add"
        " ; reduce: sep_conv_5x5(1) sep_conv_7x7(0) add | max_pool_3x3(1) sep_conv_7x7(0) add"
        " | avg_pool_3x3(1) sep_conv_5x5(0) add | identity(3) avg_pool_3x3(2) add"
        " | sep_conv_3x3(2) max_pool_3x3(1) add",
        "NASNet-A, Zoph et al. 2018 (Fig. 4), CIFAR-10 search; cellar's DESIGN.md line, "
        "as in the DARTS genotype list",
    },
    {
        /* fixed_arc quadruples (x_id x_op y_id y_op), ops 0 sep3, 1 sep5,
         * 2 avg3, 3 max3, 4 identity; unread nodes are concatenated */
        "enas",
        "normal: avg_pool_3x3(0) sep_conv_3x3(0) add | identity(0) sep_conv_5x5(0) add"
        " | identity(0) sep_conv_5x5(1) add | sep_conv_3x3(1) sep_conv_5x5(0) add"
        " | avg_pool_3x3(0) sep_conv_5x5(1) add"
        " ; reduce: sep_conv_3x3(1) sep_conv_3x3(1) add | max_pool_3x3(0) avg_pool_3x3(0) add"
        " | sep_conv_5x5(1) sep_conv_5x5(3) add | sep_conv_3x3(1) identity(0) add"
        " | max_pool_3x3(0) sep_conv_5x5(1) add",
        "ENAS micro cell, Pham et al. 2018, CIFAR-10; the fixed_arc of "
        "scripts/cifar10_micro_final.sh in the authors' code (melodyguan/enas)",
    },
};

const int geno_builtin_count = (int)(sizeof geno_builtin / sizeof geno_builtin[0]);
