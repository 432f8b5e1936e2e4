/* space.c - search spaces as values, and the decision sequences that name
 * the cells of a space. */
#include "space/space.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void space_nasnet(cl_space *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "nasnet");
    s->B = 5;
    s->inputs = 2;
    s->n_ops = OP_COUNT;
    for (int i = 0; i < OP_COUNT; i++)
        s->ops[i] = (unsigned char)i;
    s->n_combs = COMB_COUNT;
    for (int i = 0; i < COMB_COUNT; i++)
        s->combs[i] = (unsigned char)i;
}

int space_validate(const cl_space *s, cl_err *err)
{
    if (s->B < 1 || s->B > GENO_MAX_BLOCKS)
        return ERR_SET(err, CL_ERR_ARG, "space '%s': B must be 1 to %d (got %d)", s->name,
                       GENO_MAX_BLOCKS, s->B);
    if (s->inputs != 1 && s->inputs != 2)
        return ERR_SET(err, CL_ERR_ARG, "space '%s': inputs must be 1 or 2 (got %d)", s->name,
                       s->inputs);
    if (s->n_ops < 1 || s->n_ops > OP_COUNT)
        return ERR_SET(err, CL_ERR_ARG, "space '%s': needs 1 to %d ops (got %d)", s->name,
                       OP_COUNT, s->n_ops);
    if (s->n_combs < 1 || s->n_combs > COMB_COUNT)
        return ERR_SET(err, CL_ERR_ARG, "space '%s': needs 1 or 2 combiners (got %d)", s->name,
                       s->n_combs);
    for (int i = 0; i < s->n_ops; i++) {
        if (s->ops[i] >= OP_COUNT)
            return ERR_SET(err, CL_ERR_ARG, "space '%s': op %d is not in the registry", s->name,
                           s->ops[i]);
        for (int j = 0; j < i; j++)
            if (s->ops[j] == s->ops[i])
                return ERR_SET(err, CL_ERR_ARG, "space '%s': op %s is listed twice", s->name,
                               geno_ops[s->ops[i]].name);
    }
    for (int i = 0; i < s->n_combs; i++) {
        if (s->combs[i] >= COMB_COUNT)
            return ERR_SET(err, CL_ERR_ARG, "space '%s': combiner %d does not exist", s->name,
                           s->combs[i]);
        if (i && s->combs[0] == s->combs[i])
            return ERR_SET(err, CL_ERR_ARG, "space '%s': combiner %s is listed twice", s->name,
                           geno_comb_names[s->combs[i]]);
    }
    return CL_OK;
}

int space_decisions(const cl_space *s, int *n_choices)
{
    int t = 0;
    for (int cell = 0; cell < 2; cell++)
        for (int b = 0; b < s->B; b++) {
            n_choices[t++] = s->inputs + b;
            n_choices[t++] = s->inputs + b;
            n_choices[t++] = s->n_ops;
            n_choices[t++] = s->n_ops;
            n_choices[t++] = s->n_combs;
        }
    return t;
}

int space_decode(const cl_space *s, const int *actions, cl_genotype *g, cl_err *err)
{
    int t = 0;
    memset(g, 0, sizeof *g);
    for (int cell = 0; cell < 2; cell++) {
        geno_cell *c = cell ? &g->reduce : &g->normal;
        c->nblocks = s->B;
        for (int b = 0; b < s->B; b++) {
            geno_block *blk = &c->b[b];
            for (int k = 0; k < 2; k++) {
                int a = actions[t++];
                if (a < 0 || a >= s->inputs + b)
                    return ERR_SET(err, CL_ERR_ARG, "decision %d: input choice %d of %d", t - 1, a,
                                   s->inputs + b);
                blk->in[k] = (uint8_t)(a + 2 - s->inputs);
            }
            for (int k = 0; k < 2; k++) {
                int a = actions[t++];
                if (a < 0 || a >= s->n_ops)
                    return ERR_SET(err, CL_ERR_ARG, "decision %d: op choice %d of %d", t - 1, a,
                                   s->n_ops);
                blk->op[k] = s->ops[a];
            }
            {
                int a = actions[t++];
                if (a < 0 || a >= s->n_combs)
                    return ERR_SET(err, CL_ERR_ARG, "decision %d: combiner choice %d of %d", t - 1,
                                   a, s->n_combs);
                blk->comb = s->combs[a];
            }
        }
    }
    return geno_validate(g, err);
}

static int index_of(const unsigned char *list, int n, int v)
{
    for (int i = 0; i < n; i++)
        if (list[i] == v)
            return i;
    return -1;
}

int space_encode(const cl_space *s, const cl_genotype *g, int *actions, cl_err *err)
{
    int t = 0;
    if (g->normal.nblocks != s->B || g->reduce.nblocks != s->B)
        return ERR_SET(err, CL_ERR_ARG, "the genotype has %d blocks per cell, space '%s' has %d",
                       g->normal.nblocks, s->name, s->B);
    for (int cell = 0; cell < 2; cell++) {
        const geno_cell *c = cell ? &g->reduce : &g->normal;
        const char *cname = cell ? "reduce" : "normal";
        for (int b = 0; b < s->B; b++) {
            const geno_block *blk = &c->b[b];
            for (int k = 0; k < 2; k++) {
                int a = blk->in[k] - (2 - s->inputs);
                if (a < 0)
                    return ERR_SET(err, CL_ERR_ARG, "%s cell, block %d reads h_{i-1}, which space "
                                   "'%s' does not offer", cname, b, s->name);
                actions[t++] = a;
            }
            for (int k = 0; k < 2; k++) {
                int a = index_of(s->ops, s->n_ops, blk->op[k]);
                if (a < 0)
                    return ERR_SET(err, CL_ERR_ARG, "%s cell, block %d uses %s, which is not an op "
                                   "of space '%s'", cname, b, geno_ops[blk->op[k]].name, s->name);
                actions[t++] = a;
            }
            {
                int a = index_of(s->combs, s->n_combs, blk->comb);
                if (a < 0)
                    return ERR_SET(err, CL_ERR_ARG, "%s cell, block %d combines with %s, which "
                                   "space '%s' does not offer", cname, b,
                                   geno_comb_names[blk->comb], s->name);
                actions[t++] = a;
            }
        }
    }
    return CL_OK;
}

void space_sample_uniform(const cl_space *s, cl_rng *rng, int *actions)
{
    int n[SPACE_MAX_DECISIONS], count = space_decisions(s, n);
    for (int t = 0; t < count; t++)
        actions[t] = (int)rng_below(rng, (uint32_t)n[t]);
}

void space_actions_format(const int *actions, int n, char *out, size_t cap)
{
    size_t len = 0;
    if (cap)
        out[0] = '\0';
    for (int t = 0; t < n && len < cap; t++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", t ? " " : "", actions[t]);
}

int space_actions_parse(const char *text, int *actions, int n, cl_err *err)
{
    const char *p = text;
    for (int t = 0; t < n; t++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 1000)
            return ERR_SET(err, CL_ERR_FORMAT, "decisions '%.40s': expected %d numbers", text, n);
        actions[t] = (int)v;
        p = end;
    }
    while (*p == ' ')
        p++;
    if (*p)
        return ERR_SET(err, CL_ERR_FORMAT, "decisions '%.40s': more than %d numbers", text, n);
    return CL_OK;
}
