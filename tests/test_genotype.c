/* test_genotype.c - the genotype layer: op registry, text round trips, every
 * parse and validation message, the cell output rule, the graph hash's
 * invariances and sensitivities, and the built-in genotypes.
 *
 * "Same graph" is decided here without geno_hash: every block is interned
 * as an exact tuple (combiner, sorted (op, child id) pairs), so two cells
 * are the same graph exactly when their output multisets of ids agree.
 * The hash must agree with that oracle: equal on equal graphs, different
 * on every different pair we try. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "core/rng.h"
#include "space/genotype.h"

/* DESIGN.md section 5, verbatim */
static const char *const NASNET_A =
    "normal: sep_conv_5x5(1) sep_conv_3x3(0) add | sep_conv_5x5(0) sep_conv_3x3(0) add | "
    "avg_pool_3x3(1) identity(0) add | avg_pool_3x3(0) avg_pool_3x3(0) add | sep_conv_3x3(1) "
    "identity(1) add ; reduce: sep_conv_5x5(1) sep_conv_7x7(0) add | max_pool_3x3(1) "
    "sep_conv_7x7(0) add | avg_pool_3x3(1) sep_conv_5x5(0) add | identity(3) avg_pool_3x3(2) add "
    "| sep_conv_3x3(2) max_pool_3x3(1) add";

static char text_buf[8192];

static const char *fmt(const cl_genotype *g)
{
    int n = geno_format(g, text_buf, sizeof text_buf);
    if (n < 0 || (size_t)n >= sizeof text_buf)
        return "(format overflow)";
    return text_buf;
}

static cl_genotype must_parse(const char *text)
{
    cl_genotype g;
    cl_err err;
    memset(&g, 0, sizeof g);
    err_clear(&err);
    if (geno_parse(text, &g, &err) != CL_OK) {
        printf("# unexpected parse error: %s\n#   in: %s\n", err.msg, text);
        CHECK(0, "parse of a known-good line");
    }
    return g;
}

static int cells_equal(const geno_cell *a, const geno_cell *b)
{
    if (a->nblocks != b->nblocks)
        return 0;
    for (int i = 0; i < a->nblocks; i++) {
        const geno_block *x = &a->b[i], *y = &b->b[i];
        if (x->in[0] != y->in[0] || x->in[1] != y->in[1] || x->op[0] != y->op[0] ||
            x->op[1] != y->op[1] || x->comb != y->comb)
            return 0;
    }
    return 1;
}

static int genos_equal(const cl_genotype *a, const cl_genotype *b)
{
    return cells_equal(&a->normal, &b->normal) && cells_equal(&a->reduce, &b->reduce);
}

/* ---- the same-graph oracle ---------------------------------------------- */

enum { INTERN_CAP = 1 << 18 };
typedef struct { int comb, op_lo, id_lo, op_hi, id_hi; } node_key;
static node_key intern_keys[INTERN_CAP];
static int intern_slot[INTERN_CAP]; /* 0 = empty, else id + 1 */
static int intern_n;

static int intern(node_key k)
{
    uint32_t h = 2166136261u;
    int v[5] = {k.comb, k.op_lo, k.id_lo, k.op_hi, k.id_hi};
    for (int i = 0; i < 5; i++)
        h = (h ^ (uint32_t)v[i]) * 16777619u;
    for (uint32_t s = h & (INTERN_CAP - 1);; s = (s + 1) & (INTERN_CAP - 1)) {
        if (!intern_slot[s]) {
            if (intern_n >= INTERN_CAP / 2) {
                printf("# intern table full\n");
                exit(1);
            }
            intern_keys[intern_n] = k;
            intern_slot[s] = ++intern_n;
            return intern_n + 1; /* ids 0 and 1 are h_{i-1} and h_i */
        }
        node_key *o = &intern_keys[intern_slot[s] - 1];
        if (!memcmp(o, &k, sizeof k))
            return intern_slot[s] + 1;
    }
}

typedef struct { int n; int ids[GENO_MAX_BLOCKS]; } canon_cell;
typedef struct { canon_cell normal, reduce; } canon_geno;

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static canon_cell canon_of_cell(const geno_cell *c)
{
    int id[2 + GENO_MAX_BLOCKS] = {0, 1};
    int outs[GENO_MAX_BLOCKS];
    canon_cell cc;
    memset(&cc, 0, sizeof cc);
    for (int b = 0; b < c->nblocks; b++) {
        const geno_block *x = &c->b[b];
        int o0 = x->op[0], i0 = id[x->in[0]], o1 = x->op[1], i1 = id[x->in[1]];
        node_key k;
        memset(&k, 0, sizeof k);
        k.comb = x->comb;
        if (o0 < o1 || (o0 == o1 && i0 <= i1)) {
            k.op_lo = o0; k.id_lo = i0; k.op_hi = o1; k.id_hi = i1;
        } else {
            k.op_lo = o1; k.id_lo = i1; k.op_hi = o0; k.id_hi = i0;
        }
        id[2 + b] = intern(k);
    }
    cc.n = geno_cell_outputs(c, outs);
    for (int i = 0; i < cc.n; i++)
        cc.ids[i] = id[2 + outs[i]];
    qsort(cc.ids, (size_t)cc.n, sizeof cc.ids[0], cmp_int);
    return cc;
}

static canon_geno canon_of(const cl_genotype *g)
{
    canon_geno c;
    c.normal = canon_of_cell(&g->normal);
    c.reduce = canon_of_cell(&g->reduce);
    return c;
}

static int canon_equal(const canon_geno *a, const canon_geno *b)
{
    return !memcmp(a, b, sizeof *a);
}

/* ---- helpers that rewrite a cell without changing its graph ------------ */

/* A uniformly chosen topological order of the blocks, inputs remapped;
 * with swap_pairs each block's two (op, input) pairs are also swapped at
 * random.  The result is the same graph written another way. */
static void renumber(const geno_cell *in, geno_cell *out, cl_rng *r, int swap_pairs)
{
    int pos[GENO_MAX_BLOCKS], placed[GENO_MAX_BLOCKS] = {0};
    out->nblocks = in->nblocks;
    for (int k = 0; k < in->nblocks; k++) {
        int ready[GENO_MAX_BLOCKS], nready = 0, pick;
        for (int b = 0; b < in->nblocks; b++) {
            if (placed[b])
                continue;
            int ok = 1;
            for (int j = 0; j < 2; j++)
                if (in->b[b].in[j] >= 2 && !placed[in->b[b].in[j] - 2])
                    ok = 0;
            if (ok)
                ready[nready++] = b;
        }
        pick = ready[rng_below(r, (uint32_t)nready)];
        placed[pick] = 1;
        pos[pick] = k;
        out->b[k] = in->b[pick];
        for (int j = 0; j < 2; j++)
            if (out->b[k].in[j] >= 2)
                out->b[k].in[j] = (uint8_t)(2 + pos[out->b[k].in[j] - 2]);
        if (swap_pairs && rng_below(r, 2)) {
            geno_block *x = &out->b[k];
            uint8_t t = x->in[0]; x->in[0] = x->in[1]; x->in[1] = t;
            t = x->op[0]; x->op[0] = x->op[1]; x->op[1] = t;
        }
    }
}

static void random_cell(geno_cell *c, int nb, cl_rng *r)
{
    c->nblocks = nb;
    for (int b = 0; b < nb; b++) {
        for (int j = 0; j < 2; j++) {
            c->b[b].op[j] = (uint8_t)rng_below(r, OP_COUNT);
            c->b[b].in[j] = (uint8_t)rng_below(r, (uint32_t)(2 + b));
        }
        c->b[b].comb = (uint8_t)rng_below(r, COMB_COUNT);
    }
}

/* ---- registry ------------------------------------------------------------ */

static void test_registry(void)
{
    static const char *const names[OP_COUNT] = {
        "identity", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3",
        "max_pool_3x3", "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3",
        "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    };
    int names_ok = 1, find_ok = 1;
    for (int i = 0; i < OP_COUNT; i++) {
        if (strcmp(geno_ops[i].name, names[i]) != 0)
            names_ok = 0;
        if (geno_op_find(names[i], strlen(names[i])) != i)
            find_ok = 0;
    }
    CHECK(names_ok, "the 13 op names in enum order");
    CHECK(find_ok, "geno_op_find finds every op");
    CHECK(geno_ops[OP_DIL_CONV_3X3].kind == OPK_DIL && geno_ops[OP_DIL_CONV_3X3].k == 3 &&
              geno_ops[OP_DIL_CONV_3X3].dilation == 2,
          "dil_conv_3x3: dilated, k 3, dilation 2");
    CHECK(geno_ops[OP_CONV_1X3_3X1].kind == OPK_CONV_PAIR && geno_ops[OP_CONV_1X3_3X1].k == 3 &&
              geno_ops[OP_CONV_1X7_7X1].kind == OPK_CONV_PAIR && geno_ops[OP_CONV_1X7_7X1].k == 7,
          "conv pairs: k 3 and 7");
    CHECK(geno_ops[OP_AVG_POOL_3X3].kind == OPK_POOL_AVG && geno_ops[OP_MAX_POOL_5X5].kind == OPK_POOL_MAX &&
              geno_ops[OP_MAX_POOL_7X7].k == 7,
          "pool kinds and windows");
    CHECK(geno_ops[OP_CONV_1X1].kind == OPK_CONV && geno_ops[OP_CONV_1X1].k == 1 &&
              geno_ops[OP_CONV_3X3].kind == OPK_CONV && geno_ops[OP_CONV_3X3].k == 3,
          "dense convs");
    CHECK(geno_ops[OP_SEP_CONV_3X3].kind == OPK_SEP && geno_ops[OP_SEP_CONV_5X5].k == 5 &&
              geno_ops[OP_SEP_CONV_7X7].k == 7 && geno_ops[OP_IDENTITY].kind == OPK_IDENTITY,
          "separable convs and identity");
    {
        int dil_ok = 1;
        for (int i = 0; i < OP_COUNT; i++)
            if (i != OP_DIL_CONV_3X3 && geno_ops[i].dilation != 1)
                dil_ok = 0;
        CHECK(dil_ok, "every other op has dilation 1");
    }
    CHECK(geno_op_find("sep_conv_3", 10) == -1 && geno_op_find("sep_conv_3x3x", 13) == -1 &&
              geno_op_find("SEP_CONV_3X3", 12) == -1 && geno_op_find("", 0) == -1 &&
              geno_op_find(NULL, 0) == -1,
          "geno_op_find rejects prefixes, extensions, other case, empty");
    CHECK(geno_op_find("identity(0)", 8) == OP_IDENTITY, "geno_op_find honours len");
    CHECK(geno_comb_find("add", 3) == COMB_ADD && geno_comb_find("concat", 6) == COMB_CONCAT &&
              geno_comb_find("mul", 3) == -1 && geno_comb_find("ad", 2) == -1,
          "combiners add and concat");
    CHECK(!strcmp(geno_comb_names[COMB_ADD], "add") && !strcmp(geno_comb_names[COMB_CONCAT], "concat"),
          "combiner names");
}

/* ---- round trips --------------------------------------------------------- */

/* Rewrite the normal form with random whitespace: every single space becomes
 * 1..3 spaces/tabs, and optional whitespace appears around ( ) : ; | and at
 * both ends (sometimes none at all where none is needed). */
static void messy(const char *in, char *out, size_t cap, cl_rng *r, int compact)
{
    size_t n = 0;
    static const char ws[] = " \t";
#define EMIT(c) do { if (n + 1 < cap) out[n++] = (c); } while (0)
#define SOME_WS(min)                                                          \
    do {                                                                      \
        int k_ = compact ? 0 : (int)(min) + (int)rng_below(r, 3);             \
        for (int i_ = 0; i_ < k_; i_++)                                       \
            EMIT(ws[rng_below(r, 2)]);                                        \
    } while (0)
    SOME_WS(0);
    for (const char *p = in; *p; p++) {
        if (*p == ' ') {
            /* a space between two words must stay; one before or after a
             * delimiter is optional */
            int needed = p > in && p[1] && p[-1] != ')' && p[-1] != '|' && p[-1] != ';' &&
                         p[-1] != ':' && p[1] != '|' && p[1] != ';';
            SOME_WS(needed ? 1 : 0);
            if (compact && needed)
                EMIT(' ');
        } else if (strchr("():;|", *p)) {
            SOME_WS(0);
            EMIT(*p);
            SOME_WS(0);
        } else {
            EMIT(*p);
        }
    }
    SOME_WS(0);
    out[n] = '\0';
#undef EMIT
#undef SOME_WS
}

static void test_builtins(void)
{
    char line[4096];
    int found_a = 0;
    CHECK(geno_builtin_count >= 1, "there are built-in genotypes");
    for (int i = 0; i < geno_builtin_count; i++) {
        const geno_named *n = &geno_builtin[i];
        cl_genotype g = must_parse(n->text), h;
        cl_err err;
        CHECK(!strcmp(fmt(&g), n->text), "built-in %s round-trips: format(parse(x)) == x", n->name);
        CHECK(n->about && strlen(n->about) > 10, "built-in %s says where it comes from", n->name);
        CHECK(geno_validate(&g, &err) == CL_OK, "built-in %s validates", n->name);
        for (char *p = strcpy(line, n->name); *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        memset(&h, 0, sizeof h);
        CHECK(geno_from_arg(line, &h, &err) == CL_OK && genos_equal(&g, &h),
              "geno_from_arg('%s') finds the built-in regardless of case", line);
        for (int j = 0; j < i; j++)
            CHECK(strcmp(geno_builtin[j].name, n->name) != 0, "built-in names are unique (%s)", n->name);
        if (!strcmp(n->name, "nasnet-a")) {
            found_a = 1;
            CHECK(!strcmp(n->text, NASNET_A), "nasnet-a is exactly the DESIGN.md line");
        }
    }
    CHECK(found_a, "nasnet-a is built in");
}

static void test_round_trips(void)
{
    char line[8192];
    cl_rng r;
    rng_seed(&r, 7);
    CHECK(!strcmp(fmt(&(cl_genotype){0}), "normal:  ; reduce: "), "format of an empty struct does not crash");
    for (int i = 0; i < geno_builtin_count; i++) {
        int all_ok = 1;
        for (int rep = 0; rep < 50; rep++) {
            cl_genotype g;
            cl_err err;
            messy(geno_builtin[i].text, line, sizeof line, &r, rep == 0);
            if (i == 0 && rep < 2)
                printf("# %s variant: %s\n", rep ? "messy" : "compact", line);
            if (geno_parse(line, &g, &err) != CL_OK) {
                printf("# %s\n# %s\n", err.msg, line);
                all_ok = 0;
                break;
            }
            if (strcmp(fmt(&g), geno_builtin[i].text) != 0) {
                all_ok = 0;
                break;
            }
        }
        CHECK(all_ok, "messy-whitespace variants of %s (and the compact one) format to the normal form",
              geno_builtin[i].name);
    }
    {
        const char *a = "\t normal :sep_conv_3x3 ( 1 )\tidentity(0)add|avg_pool_3x3(0) "
                        "max_pool_3x3 (2) concat ;reduce:conv_1x1(0) conv_3x3(1) concat"
                        " | dil_conv_3x3(2) conv_1x7_7x1(1) add \n";
        const char *want = "normal: sep_conv_3x3(1) identity(0) add | avg_pool_3x3(0) max_pool_3x3(2) "
                           "concat ; reduce: conv_1x1(0) conv_3x3(1) concat | dil_conv_3x3(2) "
                           "conv_1x7_7x1(1) add";
        cl_genotype g = must_parse(a), h;
        CHECK(!strcmp(fmt(&g), want), "a genotype with concat combiners formats to the normal form");
        h = must_parse(want);
        CHECK(genos_equal(&g, &h) && !strcmp(fmt(&h), want), "and round-trips");
        CHECK(g.normal.b[1].comb == COMB_CONCAT && g.reduce.b[0].comb == COMB_CONCAT &&
                  g.reduce.b[1].comb == COMB_ADD,
              "concat and add are read into the right blocks");
        CHECK(g.normal.b[0].op[0] == OP_SEP_CONV_3X3 && g.normal.b[0].in[0] == 1 &&
                  g.normal.b[0].op[1] == OP_IDENTITY && g.normal.b[0].in[1] == 0,
              "ops and inputs are read in order");
    }
    {
        /* leading zeros are decimal, not octal: 010 is 10 */
        cl_genotype g;
        cl_err err;
        int rc = geno_parse("normal: identity(01) identity(00) add ; reduce: identity(1) identity(0) add",
                            &g, &err);
        CHECK(rc == CL_OK && g.normal.b[0].in[0] == 1 && g.normal.b[0].in[1] == 0,
              "leading zeros are accepted as decimal");
    }
    {
        /* the longest possible line fits and round-trips */
        cl_genotype g;
        g.normal.nblocks = g.reduce.nblocks = GENO_MAX_BLOCKS;
        for (int b = 0; b < GENO_MAX_BLOCKS; b++) {
            geno_block x = {{(uint8_t)(b + 1), (uint8_t)(b + 1)}, {OP_SEP_CONV_7X7, OP_SEP_CONV_7X7}, COMB_CONCAT};
            g.normal.b[b] = g.reduce.b[b] = x;
        }
        int need = geno_format(&g, NULL, 0);
        char small[32];
        int n2 = geno_format(&g, small, sizeof small);
        CHECK(need > 0 && need == (int)strlen(fmt(&g)), "geno_format(NULL, 0) returns the length needed (%d)", need);
        CHECK(n2 == need && strlen(small) == sizeof small - 1 && !strncmp(small, fmt(&g), sizeof small - 1),
              "a short buffer gets a NUL-terminated prefix and the full length back");
        cl_genotype h = must_parse(fmt(&g));
        CHECK(genos_equal(&g, &h), "16-block concat genotype round-trips");
    }
}

/* ---- parse errors -------------------------------------------------------- */

/* Parse `text`, expect failure whose message starts with "column COL: " and
 * contains each of the NULL-terminated key phrases. */
static void expect_error(const char *what, const char *text, int col, ...)
{
    cl_genotype g;
    cl_err err;
    char prefix[32];
    va_list ap;
    const char *key;
    int ok;
    memset(&g, 0x5a, sizeof g);
    err_clear(&err);
    ok = geno_parse(text, &g, &err) == CL_ERR_PARSE;
    snprintf(prefix, sizeof prefix, "column %d: ", col);
    ok = ok && strncmp(err.msg, prefix, strlen(prefix)) == 0;
    va_start(ap, col);
    while ((key = va_arg(ap, const char *)) != NULL)
        if (!strstr(err.msg, key)) {
            printf("# missing '%s'\n", key);
            ok = 0;
        }
    va_end(ap);
    {
        cl_genotype untouched;
        memset(&untouched, 0x5a, sizeof untouched);
        ok = ok && !memcmp(&g, &untouched, sizeof g);
    }
    if (!ok)
        printf("# got: %s\n", err.msg);
    CHECK(ok, "error: %s -> column %d", what, col);
}

static int col_of(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    return p ? (int)(p - hay) + 1 : -1;
}

static void replace_first(char *buf, size_t cap, const char *from, const char *to)
{
    char tmp[8192];
    char *p = strstr(buf, from);
    if (!p)
        return;
    snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - buf), buf, to, p + strlen(from));
    snprintf(buf, cap, "%s", tmp);
}

static void test_parse_errors(void)
{
    char t[8192];
    const char *R = " ; reduce: identity(1) identity(0) add";

    expect_error("empty input", "", 1, "expected 'normal:'", "got end of input", NULL);
    expect_error("blank input", "  \t ", 5, "expected 'normal:'", "end of input", NULL);
    expect_error("wrong first word", "norm: identity(0) identity(1) add ; reduce: identity(0) identity(1) add",
                 1, "expected 'normal:'", "got 'norm'", NULL);
    expect_error("reduce first", "reduce: identity(0) identity(1) add ; normal: identity(0) identity(1) add",
                 1, "expected 'normal:'", "'reduce'", NULL);
    expect_error("leading whitespace counts in the column", "   bogus", 4, "expected 'normal:'", "'bogus'", NULL);
    expect_error("no colon", "normal identity(0) identity(1) add ; reduce: identity(0) identity(1) add", 8,
                 "expected ':' after 'normal'", "got 'identity'", NULL);

    snprintf(t, sizeof t, "%s", NASNET_A);
    replace_first(t, sizeof t, "avg_pool_3x3(1) identity(0)", "avg_pool_3x3(1) sep_conv_4x4(0)");
    expect_error("unknown op", t, col_of(t, "sep_conv_4x4"), "expected an op name", "got 'sep_conv_4x4'",
                 "(valid: identity, conv_1x3_3x1, conv_1x7_7x1, dil_conv_3x3, avg_pool_3x3, max_pool_3x3, "
                 "max_pool_5x5, max_pool_7x7, conv_1x1, conv_3x3, sep_conv_3x3, sep_conv_5x5, sep_conv_7x7)",
                 NULL);

    snprintf(t, sizeof t, "%s", NASNET_A);
    replace_first(t, sizeof t, "sep_conv_3x3(0) add | avg", "sep_conv_3x3(0 add | avg");
    expect_error("missing ')'", t, col_of(t, "add | avg"), "expected ')' after the input index", "got 'add'",
                 NULL);

    snprintf(t, sizeof t, "%s", NASNET_A);
    replace_first(t, sizeof t, "sep_conv_5x5(1) sep_conv_3x3(0) add", "sep_conv_5x5 1) sep_conv_3x3(0) add");
    expect_error("missing '('", t, col_of(t, "1)"), "expected '(' after the op name", "got '1'", NULL);

    snprintf(t, sizeof t, "%s",
             "normal: identity(0) identity(1) add | identity(0) identity(1) add | identity(5) identity(1) add"
             " ; reduce: identity(0) identity(1) add | identity(0) identity(1) add | identity(0) identity(1) add");
    expect_error("later block (the brief's example)", t, col_of(t, "5)"), "input 5 of block 2 refers to a block that comes later", "(valid inputs here: 0..3)", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add | identity(0) identity(4) add%s", R);
    expect_error("later block in block 1", t, col_of(t, "4)"), "input 4 of block 1",
                 "comes later", "valid inputs here: 0..2", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add | identity(3) identity(0) add%s", R);
    expect_error("a block reading itself", t, col_of(t, "3)"), "input 3 of block 1 refers to the block itself",
                 "0..2", NULL);
    snprintf(t, sizeof t, "normal: identity(2) identity(1) add%s", R);
    expect_error("first block reading a block", t, 18, "input 2 of block 0 refers to the block itself",
                 "valid inputs here: 0..1", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add | identity(0) identity(1) add ; "
                          "reduce: identity(0) identity(1) add | conv_1x1(9) identity(1) add");
    /* reduce cell errors carry the reduce-cell column too */
    expect_error("later block in the reduce cell", t, col_of(t, "9)"), "input 9 of block 1", "comes later", NULL);
    snprintf(t, sizeof t, "normal: identity(99999999999999999999999999) identity(1) add%s", R);
    expect_error("overflowing index", t, 18, "too large", "valid inputs here: 0..1", NULL);
    snprintf(t, sizeof t, "normal: identity(4294967297) identity(1) add%s", R);
    expect_error("index that would wrap 32 bits", t, 18, "too large", NULL);
    snprintf(t, sizeof t, "normal: identity(-1) identity(1) add%s", R);
    expect_error("a sign", t, 18, "expected an input index", "got '-1'", NULL);
    snprintf(t, sizeof t, "normal: identity(+1) identity(1) add%s", R);
    expect_error("a plus sign", t, 18, "expected an input index", "got '+1'", NULL);
    snprintf(t, sizeof t, "normal: identity() identity(1) add%s", R);
    expect_error("no index", t, 18, "expected an input index", "got ')'", NULL);
    snprintf(t, sizeof t, "normal: identity(0x1) identity(1) add%s", R);
    expect_error("hex index", t, 19, "expected ')' after the input index", "got 'x1'", NULL);
    snprintf(t, sizeof t, "normal: identity(1 0) identity(1) add%s", R);
    expect_error("two numbers", t, 20, "expected ')' after the input index", "got '0'", NULL);

    snprintf(t, sizeof t, "normal: identity(0) identity(1) | identity(0) identity(1) add%s", R);
    expect_error("missing combiner", t, 33, "expected a combiner (add or concat)", "got '|'", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) mul%s", R);
    expect_error("unknown combiner", t, 33, "expected a combiner", "got 'mul'", NULL);
    snprintf(t, sizeof t, "normal: identity(0) add%s", R);
    expect_error("one op only", t, 21, "expected an op name", "got 'add'", NULL);
    snprintf(t, sizeof t, "normal: | identity(0) identity(1) add%s", R);
    expect_error("empty block", t, 9, "expected an op name", "got '|'", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add |%s", R);
    expect_error("trailing '|' in the normal cell", t, col_of(t, ";"), "expected an op name", "got ';'", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add , reduce: identity(1) identity(0) add");
    expect_error("wrong separator", t, 37, "expected '|' or ';' after block 0 of the normal cell", "got ','",
                 NULL);

    expect_error("normal only", "normal: identity(0) identity(1) add", 36, "both cells are required",
                 "end of input", NULL);
    expect_error("normal and a ';' only", "normal: identity(0) identity(1) add ;", 38, "expected 'reduce:'",
                 "end of input", NULL);
    expect_error("misspelt reduce", "normal: identity(0) identity(1) add ; reduction: identity(0) identity(1) add",
                 39, "expected 'reduce:'", "got 'reduction'", NULL);
    expect_error("empty reduce cell", "normal: identity(0) identity(1) add ; reduce:", 46,
                 "expected an op name", "end of input", NULL);
    expect_error("trailing ';'", "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add ;",
                 75, "expected '|' or end of input after block 0 of the reduce cell", "got ';'", NULL);
    expect_error("trailing words", "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add extra",
                 75, "expected '|' or end of input", "got 'extra'", NULL);

    snprintf(t, sizeof t, "normal: identity(0) identity(1) add | identity(0) identity(1) add"
                          " ; reduce: identity(0) identity(1) add");
    expect_error("reduce has fewer blocks", t, (int)strlen(t) + 1,
                 "the reduce cell has 1 block but the normal cell has 2",
                 "both cells need the same number of blocks", NULL);
    snprintf(t, sizeof t, "normal: identity(0) identity(1) add"
                          " ; reduce: identity(0) identity(1) add | identity(0) identity(1) add");
    expect_error("reduce has more blocks", t, col_of(t, "| identity") + 2,
                 "the reduce cell has more blocks than the normal cell's 1",
                 "both cells need the same number of blocks", NULL);

    {
        size_t n = (size_t)snprintf(t, sizeof t, "normal: ");
        int col17 = 0;
        for (int b = 0; b < GENO_MAX_BLOCKS + 1; b++) {
            if (b == GENO_MAX_BLOCKS)
                col17 = (int)n + 1;
            n += (size_t)snprintf(t + n, sizeof t - n, "%sidentity(0) identity(1) add",
                                  b ? " | " : "");
        }
        snprintf(t + n, sizeof t - n, "%s", R);
        expect_error("17 blocks", t, col17 + 3, "too many blocks in the normal cell", "at most 16", NULL);
    }

    expect_error("an unprintable byte", "normal: \001", 9, "expected an op name", "byte 0x01", NULL);
    expect_error("a non-ASCII byte", "normal: \xc3\xa9", 9, "expected an op name", "byte 0xc3", NULL);
    {
        char longname[200];
        memset(longname, 'x', 120);
        longname[120] = '\0';
        snprintf(t, sizeof t, "normal: %s(0) identity(1) add%s", longname, R);
        expect_error("a very long bad name is cut short", t, 9, "expected an op name", "xxx...'", NULL);
    }
    {
        cl_err err;
        CHECK(geno_parse(NULL, &(cl_genotype){0}, &err) != CL_OK, "geno_parse(NULL) is an error, not a crash");
    }
}

/* ---- geno_from_arg ------------------------------------------------------- */

static void test_from_arg(void)
{
    cl_genotype g, h;
    cl_err err;
    h = must_parse(NASNET_A);
    CHECK(geno_from_arg("nasnet-a", &g, &err) == CL_OK && genos_equal(&g, &h), "geno_from_arg by name");
    CHECK(geno_from_arg("NasNet-A", &g, &err) == CL_OK && genos_equal(&g, &h), "names are case-insensitive");
    CHECK(geno_from_arg(" \tnasnet-a\n", &g, &err) == CL_OK && genos_equal(&g, &h),
          "whitespace around a name is ignored");
    err_clear(&err);
    CHECK(geno_from_arg("nasnet", &g, &err) != CL_OK && strstr(err.msg, "unknown genotype name 'nasnet'"),
          "a prefix of a name is not the name");
    CHECK(geno_from_arg(NASNET_A, &g, &err) == CL_OK && genos_equal(&g, &h), "geno_from_arg with a line");
    err_clear(&err);
    CHECK(geno_from_arg("nasnet-z", &g, &err) == CL_ERR_PARSE &&
              strstr(err.msg, "unknown genotype name 'nasnet-z' (built-in: nasnet-a") &&
              strstr(err.msg, ") and not a genotype line: column 1: expected 'normal:', got 'nasnet-z'"),
          "neither a name nor a line: both reasons (%s)", err.msg);
    {
        char names[512] = "";
        for (int i = 0; i < geno_builtin_count; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     geno_builtin[i].name);
        CHECK(strstr(err.msg, names) != NULL, "the message lists every built-in name (%s)", names);
    }
    err_clear(&err);
    CHECK(geno_from_arg("normal: identity(0) identity(1) add", &g, &err) == CL_ERR_PARSE &&
              strstr(err.msg, "both cells are required"),
          "a bad line reports its parse error");
    CHECK(geno_from_arg(NULL, &g, &err) != CL_OK, "geno_from_arg(NULL) is an error");
}

/* ---- validation ---------------------------------------------------------- */

static void expect_invalid(const char *what, const cl_genotype *g, const char *k1, const char *k2)
{
    cl_err err;
    err_clear(&err);
    int rc = geno_validate(g, &err);
    int ok = rc != CL_OK && strstr(err.msg, k1) && (!k2 || strstr(err.msg, k2));
    if (!ok)
        printf("# got: %s\n", err.msg);
    CHECK(ok, "validate: %s", what);
}

static void test_validate(void)
{
    cl_genotype base = must_parse(NASNET_A), g;
    cl_err err;
    CHECK(geno_validate(&base, &err) == CL_OK, "NASNet-A validates");
    g = base; g.normal.nblocks = 0;
    expect_invalid("no blocks", &g, "normal cell: 0 blocks", "1..16");
    g = base; g.reduce.nblocks = GENO_MAX_BLOCKS + 1;
    expect_invalid("too many blocks", &g, "reduce cell: 17 blocks", "1..16");
    g = base; g.reduce.nblocks = -3;
    expect_invalid("negative block count", &g, "reduce cell: -3 blocks", NULL);
    g = base; g.normal.b[2].op[1] = OP_COUNT;
    expect_invalid("op out of range", &g, "normal cell, block 2: op 13", "0..12");
    g = base; g.reduce.b[4].op[0] = 255;
    expect_invalid("op 255", &g, "reduce cell, block 4: op 255", NULL);
    g = base; g.reduce.b[1].comb = COMB_COUNT;
    expect_invalid("combiner out of range", &g, "reduce cell, block 1: combiner 2", NULL);
    g = base; g.normal.b[3].in[0] = 5;
    expect_invalid("input = own index", &g, "normal cell, block 3: input 5", "valid inputs here: 0..4");
    g = base; g.reduce.b[0].in[1] = 2;
    expect_invalid("first block reads a block", &g, "reduce cell, block 0: input 2", "0..1");
    g = base; g.reduce.b[2].in[1] = 200;
    expect_invalid("input far out", &g, "reduce cell, block 2: input 200", NULL);
    g = base; g.reduce.nblocks = 4;
    expect_invalid("unequal block counts", &g, "the normal cell has 5 blocks but the reduce cell has 4",
                   "same number");
    CHECK(geno_validate(NULL, &err) != CL_OK, "geno_validate(NULL) is an error");
    g = base; g.normal.b[2].op[1] = OP_COUNT;
    {
        /* an invalid struct formats without crashing and fails to parse */
        cl_genotype h;
        int n = geno_format(&g, text_buf, sizeof text_buf);
        CHECK(n > 0 && strstr(text_buf, "?(0)") && geno_parse(text_buf, &h, &err) != CL_OK,
              "an invalid op formats as '?' and does not parse back");
    }
}

/* ---- outputs ------------------------------------------------------------- */

static void test_outputs(void)
{
    cl_genotype g = must_parse(NASNET_A);
    int o[GENO_MAX_BLOCKS];
    int n = geno_cell_outputs(&g.normal, o);
    CHECK(n == 5 && o[0] == 0 && o[1] == 1 && o[2] == 2 && o[3] == 3 && o[4] == 4,
          "NASNet-A normal: every block is an output");
    n = geno_cell_outputs(&g.reduce, o);
    CHECK(n == 3 && o[0] == 2 && o[1] == 3 && o[2] == 4,
          "NASNet-A reduce: blocks 2, 3, 4 (inputs 4, 5, 6) are the output");
    CHECK(geno_cell_outputs(&g.reduce, NULL) == 3, "geno_cell_outputs(c, NULL) only counts");
    {
        cl_genotype e;
        cl_err err;
        CHECK(geno_from_arg("enas", &e, &err) == CL_OK, "enas is built in");
        n = geno_cell_outputs(&e.reduce, o);
        CHECK(n == 4 && o[0] == 0 && o[1] == 2 && o[2] == 3 && o[3] == 4,
              "ENAS reduce: block 1 is read by block 2, the rest are the output");
        CHECK(geno_cell_outputs(&e.normal, o) == 5, "ENAS normal: every block is an output");
    }
    {
        cl_genotype c = must_parse("normal: identity(0) identity(1) add | identity(2) identity(2) add | "
                                   "identity(3) identity(0) add ; reduce: identity(0) identity(0) add | "
                                   "identity(0) identity(0) add | identity(0) identity(0) add");
        n = geno_cell_outputs(&c.normal, o);
        CHECK(n == 1 && o[0] == 2, "a chain has its last block as the only output");
    }
}

/* ---- hash ---------------------------------------------------------------- */

typedef struct { cl_genotype g; char what[96]; } mutant;

/* Every genotype one change away from g: each op to each other op, each
 * input to each other legal input, each combiner to the other. */
static int single_mutations(const cl_genotype *g, mutant *out)
{
    int n = 0;
    for (int cell = 0; cell < 2; cell++) {
        const geno_cell *c = cell ? &g->reduce : &g->normal;
        for (int b = 0; b < c->nblocks; b++) {
            for (int j = 0; j < 2; j++) {
                for (int op = 0; op < OP_COUNT; op++) {
                    if (op == c->b[b].op[j])
                        continue;
                    out[n].g = *g;
                    (cell ? &out[n].g.reduce : &out[n].g.normal)->b[b].op[j] = (uint8_t)op;
                    snprintf(out[n].what, sizeof out[n].what, "%s block %d op %d -> %s",
                             cell ? "reduce" : "normal", b, j, geno_ops[op].name);
                    n++;
                }
                for (int in = 0; in < b + 2; in++) {
                    if (in == c->b[b].in[j])
                        continue;
                    out[n].g = *g;
                    (cell ? &out[n].g.reduce : &out[n].g.normal)->b[b].in[j] = (uint8_t)in;
                    snprintf(out[n].what, sizeof out[n].what, "%s block %d input %d -> %d",
                             cell ? "reduce" : "normal", b, j, in);
                    n++;
                }
            }
            out[n].g = *g;
            (cell ? &out[n].g.reduce : &out[n].g.normal)->b[b].comb ^= 1;
            snprintf(out[n].what, sizeof out[n].what, "%s block %d combiner", cell ? "reduce" : "normal", b);
            n++;
        }
    }
    return n;
}

static void test_hash(void)
{
    cl_genotype a = must_parse(NASNET_A), g;
    uint64_t ha = geno_hash(&a);
    char hex[17];
    cl_rng r;
    rng_seed(&r, 2018);

    geno_hash_hex(0x0123456789abcdefULL, hex);
    CHECK(!strcmp(hex, "0123456789abcdef"), "geno_hash_hex: 16 lower-case digits");
    geno_hash_hex(0, hex);
    CHECK(!strcmp(hex, "0000000000000000"), "geno_hash_hex keeps leading zeros");
    geno_hash_hex(ha, hex);
    printf("# nasnet-a hash %s\n", hex);
    /* Journals store this value: a change of the hash function is a change
     * of format and must be deliberate. */
    CHECK(!strcmp(hex, "bcdc613b57da6cc9"), "the NASNet-A hash is stable across builds (%s)", hex);

    /* swapping a block's two pairs */
    {
        int all = 1;
        for (int cell = 0; cell < 2; cell++)
            for (int b = 0; b < 5; b++) {
                geno_block *x;
                g = a;
                x = &(cell ? &g.reduce : &g.normal)->b[b];
                uint8_t t = x->in[0]; x->in[0] = x->in[1]; x->in[1] = t;
                t = x->op[0]; x->op[0] = x->op[1]; x->op[1] = t;
                if (geno_hash(&g) != ha)
                    all = 0;
            }
        CHECK(all, "swapping any one block's two (op, input) pairs keeps the hash");
    }
    /* the normal cell's blocks are all independent: reverse them */
    {
        g = a;
        for (int b = 0; b < 5; b++)
            g.normal.b[b] = a.normal.b[4 - b];
        CHECK(geno_hash(&g) == ha && strcmp(fmt(&g), NASNET_A) != 0,
              "reversing NASNet-A's independent normal blocks keeps the hash");
    }
    /* the reduce cell: block 0 and 1 may trade places if the readers follow */
    {
        g = a;
        g.reduce.b[0] = a.reduce.b[1];
        g.reduce.b[1] = a.reduce.b[0];
        g.reduce.b[3].in[0] = 2; /* identity(block 1) */
        g.reduce.b[3].in[1] = 3; /* avg_pool(block 0) */
        g.reduce.b[4].in[0] = 3; /* sep_conv_3x3(block 0) */
        CHECK(geno_hash(&g) == ha, "swapping reduce blocks 0 and 1 with inputs remapped keeps the hash");
        g.reduce.b[4].in[0] = 2;
        CHECK(geno_hash(&g) != ha, "but not when a reader is left pointing at the wrong block");
    }
    {
        int all = 1;
        for (int rep = 0; rep < 200; rep++) {
            g = a;
            renumber(&a.normal, &g.normal, &r, 1);
            renumber(&a.reduce, &g.reduce, &r, 1);
            if (geno_hash(&g) != ha || geno_validate(&g, NULL) != CL_OK)
                all = 0;
        }
        CHECK(all, "200 random renumberings and pair swaps of NASNet-A keep the hash");
    }
    /* normal and reduce are ordered */
    {
        g.normal = a.reduce;
        g.reduce = a.normal;
        CHECK(geno_hash(&g) != ha, "swapping the normal and the reduce cell changes the hash");
        g.normal = a.normal;
        g.reduce = a.normal;
        cl_genotype h = g;
        h.normal = a.reduce;
        h.reduce = a.reduce;
        CHECK(geno_hash(&g) != geno_hash(&h), "(N, N) and (R, R) differ");
    }
    /* duplicate outputs count: a multiset, not a set */
    {
        cl_genotype one = must_parse("normal: conv_1x1(0) conv_1x1(1) add ; reduce: conv_1x1(0) conv_1x1(1) add");
        cl_genotype two = must_parse("normal: conv_1x1(0) conv_1x1(1) add | conv_1x1(0) conv_1x1(1) add ; "
                                     "reduce: conv_1x1(0) conv_1x1(1) add | conv_1x1(0) conv_1x1(1) add");
        cl_genotype same = must_parse("normal: identity(0) identity(0) add ; reduce: identity(0) identity(0) add");
        cl_genotype other = must_parse("normal: identity(1) identity(1) add ; reduce: identity(0) identity(0) add");
        CHECK(geno_hash(&one) != geno_hash(&two), "two equal output blocks differ from one");
        CHECK(geno_hash(&same) != geno_hash(&other), "equal pairs do not cancel: op(0) op(0) != op(1) op(1)");
    }
    /* every single mutation of NASNet-A */
    {
        static mutant m[1024];
        static uint64_t hm[1024];
        static canon_geno cm[1024];
        int n = single_mutations(&a, m);
        int changed = 1, consistent = 1, same_graphs = 0;
        canon_geno ca = canon_of(&a);
        for (int i = 0; i < n; i++) {
            hm[i] = geno_hash(&m[i].g);
            cm[i] = canon_of(&m[i].g);
            if (hm[i] == ha || canon_equal(&cm[i], &ca)) {
                printf("# unchanged: %s\n", m[i].what);
                changed = 0;
            }
        }
        CHECK(n == 310, "NASNet-A has 310 single mutations (%d)", n);
        CHECK(changed, "every single mutation of NASNet-A changes the hash");
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                int heq = hm[i] == hm[j], ceq = canon_equal(&cm[i], &cm[j]);
                same_graphs += ceq;
                if (heq != ceq) {
                    printf("# %s vs %s: hash %s, graph %s\n", m[i].what, m[j].what, heq ? "equal" : "differs",
                           ceq ? "same" : "differs");
                    consistent = 0;
                }
            }
        printf("# %d pairs of single mutations are the same graph\n", same_graphs);
        CHECK(consistent, "two single mutations of NASNet-A share a hash exactly when they are the same graph");
        CHECK(same_graphs > 0, "(some are: e.g. either avg_pool_3x3(0) of normal block 3 changed alike)");
    }
    /* the combiner alone */
    {
        g = a;
        g.normal.b[0].comb = COMB_CONCAT;
        CHECK(geno_hash(&g) != ha, "add -> concat changes the hash");
    }
}

/* ---- random genotypes ---------------------------------------------------- */

static void test_random(void)
{
    enum { N = 3000 };
    static uint64_t hs[N];
    static canon_geno cs[N];
    cl_rng r;
    int rt = 1, keep = 1, valid = 1, mut = 1, coll = 0, same = 0;
    rng_seed(&r, 20180501);
    for (int i = 0; i < N; i++) {
        cl_genotype g, h, k;
        cl_err err;
        int nb = 1 + (int)rng_below(&r, GENO_MAX_BLOCKS);
        char line[4096];
        random_cell(&g.normal, nb, &r);
        random_cell(&g.reduce, nb, &r);
        if (geno_validate(&g, &err) != CL_OK)
            valid = 0;
        geno_format(&g, line, sizeof line);
        if (geno_parse(line, &h, &err) != CL_OK || !genos_equal(&g, &h) || strcmp(fmt(&h), line) != 0) {
            if (rt)
                printf("# round trip failed: %s\n# %s\n", err.msg, line);
            rt = 0;
        }
        hs[i] = geno_hash(&g);
        cs[i] = canon_of(&g);
        k = g;
        renumber(&g.normal, &k.normal, &r, 1);
        renumber(&g.reduce, &k.reduce, &r, 1);
        if (geno_hash(&k) != hs[i])
            keep = 0;
        {
            canon_geno ck = canon_of(&k);
            if (!canon_equal(&ck, &cs[i]))
                keep = 0;
        }
        geno_format(&k, line, sizeof line);
        if (geno_parse(line, &h, &err) != CL_OK || geno_hash(&h) != hs[i])
            keep = 0;
        /* one random change: the hash moves exactly when the graph does */
        {
            geno_cell *c = rng_below(&r, 2) ? &k.reduce : &k.normal;
            int b = (int)rng_below(&r, (uint32_t)nb), j = (int)rng_below(&r, 2);
            switch (rng_below(&r, 3)) {
            case 0: c->b[b].op[j] = (uint8_t)((c->b[b].op[j] + 1 + rng_below(&r, OP_COUNT - 1)) % OP_COUNT); break;
            case 1: c->b[b].in[j] = (uint8_t)rng_below(&r, (uint32_t)(b + 2)); break;
            default: c->b[b].comb ^= 1; break;
            }
            canon_geno cm = canon_of(&k);
            if ((geno_hash(&k) == hs[i]) != canon_equal(&cm, &cs[i]))
                mut = 0;
        }
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            int ceq = canon_equal(&cs[i], &cs[j]);
            same += ceq;
            if ((hs[i] == hs[j]) != ceq)
                coll++;
        }
    CHECK(valid, "%d random genotypes (1..16 blocks) validate", N);
    CHECK(rt, "random genotypes round-trip through the text exactly");
    CHECK(keep, "random renumbering of independent blocks and pair swaps keep hash and graph");
    CHECK(mut, "a random single change moves the hash exactly when it changes the graph");
    printf("# %d random pairs were the same graph\n", same);
    CHECK(coll == 0, "no two random genotypes disagree between hash and graph (%d)", coll);
}

/* Tiny genotypes over two ops and one combiner repeat each other often, so
 * the "same graph -> same hash" direction is exercised on many real pairs
 * and not only on rewrites we made ourselves. */
static void test_small_space(void)
{
    enum { N = 1500 };
    static uint64_t hs[N];
    static canon_geno cs[N];
    cl_rng r;
    int bad = 0, same = 0;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        cl_genotype g;
        int nb = 1 + (int)rng_below(&r, 3);
        for (int cell = 0; cell < 2; cell++) {
            geno_cell *c = cell ? &g.reduce : &g.normal;
            c->nblocks = nb;
            for (int b = 0; b < nb; b++) {
                for (int j = 0; j < 2; j++) {
                    c->b[b].op[j] = (uint8_t)(rng_below(&r, 2) ? OP_IDENTITY : OP_CONV_1X1);
                    c->b[b].in[j] = (uint8_t)rng_below(&r, (uint32_t)(2 + b));
                }
                c->b[b].comb = COMB_ADD;
            }
        }
        hs[i] = geno_hash(&g);
        cs[i] = canon_of(&g);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) {
            int ceq = canon_equal(&cs[i], &cs[j]);
            same += ceq;
            bad += (hs[i] == hs[j]) != ceq;
        }
    printf("# %d same-graph pairs among %d tiny genotypes\n", same, N);
    CHECK(same > 1000, "the tiny space repeats itself (%d same-graph pairs)", same);
    CHECK(bad == 0, "tiny genotypes: equal hash exactly when the same graph (%d disagree)", bad);
}

/* a genotype line's two halves, as the commands show them on two lines */
static void test_halves(void)
{
    const char *text = "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add";
    const char *reduce = NULL;
    int n = geno_text_halves(text, &reduce);
    CHECK(n == 35 && !strncmp(text, "normal: identity(0) identity(1) add", (size_t)n) &&
              !strcmp(reduce, "reduce: identity(0) identity(1) add"),
          "halves: the normal part's length (%d) and the reduction part", n);
    n = geno_text_halves("nasnet-a", &reduce);
    CHECK(n == 8 && !strcmp(reduce, ""), "halves of a text without ' ; ': all of it, and ''");
}

/* the cells in brief, as a wide leaderboard shows them */
static void test_brief(void)
{
    cl_genotype g;
    cl_err err = {0};
    char out[256];
    int n;
    CHECK(geno_from_arg("nasnet-a", &g, &err) == CL_OK, "nasnet-a parses (%s)", err.msg);
    n = geno_brief(&g, out, sizeof out);
    CHECK(n == (int)strlen(out) &&
              !strcmp(out, "s5s3+ s5s3+ a3id+ a3a3+ s3id+ / s5s7+ m3s7+ a3s5+ ida3+ s3m3+"),
          "brief: NASNet-A's blocks, ops in order, normal / reduction (%s)", out);
    for (int op = 0; op < OP_COUNT; op++)
        for (int q = 0; q < op; q++)
            if (!strcmp(geno_ops[op].brief, geno_ops[q].brief) || strlen(geno_ops[op].brief) != 2)
                CHECK(0, "brief names are two characters and distinct: %s, %s",
                      geno_ops[op].brief, geno_ops[q].brief);
    CHECK(geno_parse("normal: conv_1x7_7x1(0) dil_conv_3x3(1) concat ; reduce: max_pool_7x7(0) "
                     "conv_1x1(1) add",
                     &g, &err) == CL_OK,
          "a genotype with concat parses (%s)", err.msg);
    n = geno_brief(&g, out, sizeof out);
    CHECK(!strcmp(out, "f7d3|| / m7c1+"), "brief: concat is ||, every op its name (%s)", out);
    n = geno_brief(&g, out, 8);
    CHECK(n == 14 && !strcmp(out, "f7d3|| "), "brief: cut to the room, the length it needs (%d)",
          n);
}

int main(void)
{
    test_registry();
    test_builtins();
    test_round_trips();
    test_parse_errors();
    test_from_arg();
    test_validate();
    test_outputs();
    test_hash();
    test_random();
    test_small_space();
    test_halves();
    test_brief();
    return check_done();
}
