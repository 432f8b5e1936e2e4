/* fuzz_genotype.c - libFuzzer target for the genotype text parser.
 *
 * For every input that parses, the normal form must parse again to the
 * same blocks and hash and format identically (format(parse(x)) is a fixed
 * point); for every input, parsing must not crash or read out of bounds,
 * and a failure must name its column.  Not part of the default build.
 * From the source root:
 *
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I src \
 *       tests/fuzz_genotype.c src/space/genotype.c src/space/named.c \
 *       src/core/err.c src/core/rng.c -lm -o /tmp/fuzz_genotype
 *   mkdir -p /tmp/geno-corpus
 *   printf 'normal: sep_conv_5x5(1) sep_conv_3x3(0) add | identity(2) max_pool_3x3(0) concat ; reduce: conv_1x1(0) dil_conv_3x3(1) add | avg_pool_3x3(2) conv_1x7_7x1(1) add' \
 *       > /tmp/geno-corpus/seed
 *   /tmp/fuzz_genotype -max_total_time=120 -max_len=2048 /tmp/geno-corpus
 *
 * The first call also checks every built-in genotype. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "space/genotype.h"

/* abort() so that libFuzzer records the input as a crash */
static void must(int cond, const char *what, const char *text)
{
    if (!cond) {
        fprintf(stderr, "fuzz_genotype: %s\n  input: %s\n", what, text);
        abort();
    }
}

static void check_text(const char *text)
{
    cl_genotype g, h;
    cl_err err;
    char a[4096], b[4096];
    int n, m, outs[GENO_MAX_BLOCKS];

    err_clear(&err);
    if (geno_parse(text, &g, &err) != CL_OK) {
        must(err.code == CL_ERR_PARSE && strncmp(err.msg, "column ", 7) == 0,
             "a failed parse must say the column", text);
        return;
    }
    must(geno_validate(&g, &err) == CL_OK, "a parsed genotype must validate", text);
    n = geno_format(&g, a, sizeof a);
    must(n > 0 && (size_t)n < sizeof a, "the normal form must fit 4096 bytes", text);
    must(geno_parse(a, &h, &err) == CL_OK, "the normal form must parse", a);
    must(geno_hash(&g) == geno_hash(&h), "the normal form must keep the hash", a);
    m = geno_format(&h, b, sizeof b);
    must(m == n && strcmp(a, b) == 0, "formatting must be a fixed point", a);
    must(memcmp(&g.normal.b, &h.normal.b, sizeof(geno_block) * (size_t)g.normal.nblocks) == 0 &&
             memcmp(&g.reduce.b, &h.reduce.b, sizeof(geno_block) * (size_t)g.reduce.nblocks) == 0,
         "the normal form must read back to the same blocks", a);
    must(geno_cell_outputs(&g.normal, outs) >= 1 && geno_cell_outputs(&g.reduce, outs) >= 1,
         "a cell always has an output (its last block)", a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int seeded;
    char *text;
    if (!seeded) {
        /* the built-ins are the most interesting valid lines we know */
        seeded = 1;
        for (int i = 0; i < geno_builtin_count; i++)
            check_text(geno_builtin[i].text);
    }
    if (size > 1 << 16)
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_text(text);
    {
        /* the name-or-line path shares the parser but builds a longer message */
        cl_genotype g;
        cl_err err;
        if (geno_from_arg(text, &g, &err) != CL_OK)
            must(err.msg[0] != '\0', "geno_from_arg must explain a failure", text);
    }
    free(text);
    return 0;
}
