/* genotype.h - cells of the NASNet search space and their one-line text.
 *
 *   normal: sep_conv_5x5(1) sep_conv_3x3(0) add | ... ; reduce: ...
 *
 * A cell is B blocks; block b reads two inputs (0 = h_{i-1}, 1 = h_i,
 * 2 + j = the output of block j < b), applies one op to each and combines
 * the two results with `add` or `concat`.  The cell's output is the channel
 * concatenation of every block output that no later block reads.  See
 * cellar-genotype(5). */
#ifndef CELLAR_SPACE_GENOTYPE_H
#define CELLAR_SPACE_GENOTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define GENO_MAX_BLOCKS 16
/* room for the longest genotype line (16 blocks of sep_conv_7x7(17) ... concat) */
#define GENO_TEXT_MAX 2048

typedef enum {
    OP_IDENTITY,
    OP_CONV_1X3_3X1,
    OP_CONV_1X7_7X1,
    OP_DIL_CONV_3X3,
    OP_AVG_POOL_3X3,
    OP_MAX_POOL_3X3,
    OP_MAX_POOL_5X5,
    OP_MAX_POOL_7X7,
    OP_CONV_1X1,
    OP_CONV_3X3,
    OP_SEP_CONV_3X3,
    OP_SEP_CONV_5X5,
    OP_SEP_CONV_7X7,
    OP_COUNT
} geno_op;

typedef enum { COMB_ADD, COMB_CONCAT, COMB_COUNT } geno_comb;

typedef enum {
    OPK_IDENTITY,   /* identity; a factorized reduce when strided */
    OPK_POOL_AVG,
    OPK_POOL_MAX,
    OPK_CONV,       /* ReLU-conv-BN, dense KxK */
    OPK_CONV_PAIR,  /* ReLU-1xK-Kx1-BN */
    OPK_SEP,        /* (ReLU, depthwise KxK, pointwise, BN) twice */
    OPK_DIL,        /* ReLU, depthwise dilated KxK, pointwise, BN */
} geno_op_kind;

/* The op registry: name as written in genotypes and Lua, kind, kernel size. */
typedef struct geno_op_info {
    const char *name;
    geno_op_kind kind;
    int k;          /* kernel (or window) size */
    int dilation;   /* 1, or 2 for dil_conv */
    const char *brief;   /* two characters: s3, m7, id ... (the cell pane's shortest labels) */
} geno_op_info;

extern const geno_op_info geno_ops[OP_COUNT];
extern const char *const geno_comb_names[COMB_COUNT];

/* Look an op or combiner up by name; -1 if unknown. */
int geno_op_find(const char *name, size_t len);
int geno_comb_find(const char *name, size_t len);

typedef struct geno_block {
    uint8_t in[2];   /* input indices */
    uint8_t op[2];   /* geno_op */
    uint8_t comb;    /* geno_comb */
} geno_block;

typedef struct geno_cell {
    int nblocks;
    geno_block b[GENO_MAX_BLOCKS];
} geno_cell;

typedef struct cl_genotype {
    geno_cell normal, reduce;
} cl_genotype;

/* Parse the one-line text.  Errors name the column (1-based) and what was
 * expected there: "column 23: expected an op name, got 'sep_conv_4x4'
 * (valid: identity, conv_1x3_3x1, ...)". The result is validated. */
int geno_parse(const char *text, cl_genotype *g, cl_err *err);

/* Resolve a name of the built-in table ("nasnet-a", ...) or, failing
 * that, parse the text. */
int geno_from_arg(const char *name_or_text, cl_genotype *g, cl_err *err);

/* Write the normalised one-line text; returns the length it needs (as
 * snprintf does), so print(parse(x)) == x for normalised x. */
int geno_format(const cl_genotype *g, char *out, size_t cap);
/* The cells in brief, for a glance down a leaderboard: each block its two
 * ops' short names and its combiner (+ add, || concat), the inputs left
 * out; blocks apart by a space, the cells by " / ":
 * "s5s3+ s5s3+ a3id+ a3a3+ s3id+ / s5s7+ m3s7+ a3s5+ ida3+ s3m3+" (NASNet-A).
 * Returns the length it needs, as snprintf does. */
int geno_brief(const cl_genotype *g, char *out, size_t cap);
/* A genotype line's two halves, for showing them on two lines: returns
 * the length of the normal cell's part; *reduce is the reduction cell's
 * part (after " ; "), or "" when the text has none. */
int geno_text_halves(const char *text, const char **reduce);

/* Check structure: 1 <= blocks <= GENO_MAX_BLOCKS, inputs refer to h_{i-1},
 * h_i or earlier blocks, op and combiner indices in range. */
int geno_validate(const cl_genotype *g, cl_err *err);

/* Which blocks of a cell form its output (no later block reads them). */
int geno_cell_outputs(const geno_cell *c, int *blocks_out);

/* The stable hash of DESIGN.md: a hash of the cell graph, not the text;
 * swapping a block's two inputs or renumbering independent blocks keeps it,
 * any change of op, input or combiner changes it. */
uint64_t geno_hash(const cl_genotype *g);
/* 16 lower-case hex digits plus NUL */
void geno_hash_hex(uint64_t h, char out[17]);

/* Built-in named genotypes. */
typedef struct geno_named {
    const char *name;
    const char *text;
    const char *about;   /* one line: where it comes from */
} geno_named;

extern const geno_named geno_builtin[];
extern const int geno_builtin_count;

#endif
