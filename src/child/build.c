/* build.c - from a genotype to a network graph.
 *
 * Every op of a block writes straight into the block's output: the first
 * path overwrites it and the second adds to it (an add combiner), or the
 * two write the two halves of a 2C buffer that a ReLU-1x1 conv-BN maps
 * back to C channels (a concat combiner).  Blocks that form the cell's
 * output are channel slices of the cell's output tensor, so the cell's
 * concatenation costs nothing. */
#include "child/child.h"

#include <stdlib.h>
#include <string.h>

int child_parse_shape(const char *s, int *h, int *w, int *c, cl_err *err)
{
    long v[3];
    const char *p = s;
    for (int i = 0; i < 3; i++) {
        char *end;
        v[i] = strtol(p, &end, 10);
        if (end == p || v[i] < 1 || v[i] > 4096 || (i < 2 && *end != 'x') || (i == 2 && *end))
            return ERR_SET(err, CL_ERR_ARG,
                           "input shape '%s': expected HxWxC, e.g. 32x32x3 (each 1 to 4096)", s);
        p = end + 1;
    }
    *h = (int)v[0];
    *w = (int)v[1];
    *c = (int)v[2];
    return CL_OK;
}

typedef struct builder {
    cl_net *net;
    int C;          /* channels of every block in the current cell */
    cl_err *err;
} builder;

static int shape_c(builder *b, int v) { return b->net->vals[v].c; }
static int shape_h(builder *b, int v) { return b->net->vals[v].h; }
static int shape_w(builder *b, int v) { return b->net->vals[v].w; }

static conv_desc conv_square(int cin, int cout, int k, int stride, int relu)
{
    conv_desc d;
    memset(&d, 0, sizeof d);
    d.cin = cin;
    d.cout = cout;
    d.kh = d.kw = k;
    d.sh = d.sw = stride;
    d.ph = d.pw = k / 2;
    d.dh = d.dw = 1;
    d.groups = 1;
    d.relu_in = relu;
    return d;
}

/* ReLU, KxK conv (stride, padding k/2), BN into y */
static void relu_conv_bn(builder *b, int x, int y, int k, int stride, int acc, int path)
{
    cl_net *net = b->net;
    conv_desc d = conv_square(shape_c(b, x), shape_c(b, y), k, stride, 1);
    int t = net_value_new(net, shape_c(b, y), shape_h(b, y), shape_w(b, y));
    net_conv(net, x, t, &d, 0);
    net_bn(net, t, y, acc, path);
}

/* ReLU, two 1x1 stride-2 convs on grids offset by one pixel, each to half
 * the channels, BN into y.  Needs an even input size. */
static int fact_reduce(builder *b, int x, int y, int acc, int path)
{
    cl_net *net = b->net;
    int cout = shape_c(b, y), h = shape_h(b, x), w = shape_w(b, x);
    conv_desc d = conv_square(shape_c(b, x), cout / 2, 1, 2, 1);
    int t, lo, hi;
    if (h % 2 || w % 2)
        return ERR_SET(b->err, CL_ERR_SHAPE,
                       "a factorized reduce needs an even size, but the network reaches it at "
                       "%dx%d (choose an input size divisible by 4)", h, w);
    if (cout % 2)
        return ERR_SET(b->err, CL_ERR_SHAPE,
                       "a factorized reduce needs an even channel count, got %d", cout);
    t = net_value_new(net, cout, h / 2, w / 2);
    lo = net_value_slice(net, t, 0, cout / 2);
    hi = net_value_slice(net, t, cout / 2, cout / 2);
    net_conv(net, x, lo, &d, 0);
    d.oy = d.ox = 1;
    net_conv(net, x, hi, &d, 0);
    net_bn(net, t, y, acc, path);
    return CL_OK;
}

/* depthwise KxK (stride, dilation; ReLU first) then pointwise, into a new value */
static int dw_pw(builder *b, int x, int k, int stride, int dil)
{
    cl_net *net = b->net;
    int c = shape_c(b, x);
    conv_desc d = conv_square(c, c, k, stride, 1);
    int t1, t2;
    d.groups = c;
    d.dh = d.dw = dil;
    d.ph = d.pw = dil * (k - 1) / 2;
    t1 = net_value_new(net, c, conv_out_h(&d, shape_h(b, x)), conv_out_w(&d, shape_w(b, x)));
    net_conv(net, x, t1, &d, 0);
    d = conv_square(c, c, 1, 1, 0);
    t2 = net_value_new(net, c, shape_h(b, t1), shape_w(b, t1));
    net_conv(net, t1, t2, &d, 0);
    return t2;
}

/* one op of a block: x -> y (adding to y when acc) */
static int op_path(builder *b, int op, int x, int stride, int y, int acc)
{
    cl_net *net = b->net;
    const geno_op_info *info = &geno_ops[op];
    int path = info->kind == OPK_IDENTITY ? -1 : net_path_new(net);
    switch (info->kind) {
    case OPK_IDENTITY:
        if (stride == 1)
            net_copy(net, x, y, acc, -1);
        else
            return fact_reduce(b, x, y, acc, -1);
        break;
    case OPK_POOL_AVG:
    case OPK_POOL_MAX: {
        pool_desc d;
        d.kind = info->kind == OPK_POOL_MAX ? POOL_MAX : POOL_AVG;
        d.k = info->k;
        d.s = stride;
        d.p = info->k / 2;
        net_pool(net, x, y, &d, acc, path);
        break;
    }
    case OPK_CONV:
        relu_conv_bn(b, x, y, info->k, stride, acc, path);
        break;
    case OPK_CONV_PAIR: {
        /* ReLU, 1xK with stride (1, s), Kx1 with stride (s, 1), BN */
        int c = shape_c(b, x), k = info->k, t1, t2;
        conv_desc d = conv_square(c, c, 1, 1, 1);
        d.kw = k;
        d.pw = k / 2;
        d.sw = stride;
        t1 = net_value_new(net, c, shape_h(b, x), conv_out_w(&d, shape_w(b, x)));
        net_conv(net, x, t1, &d, 0);
        d = conv_square(c, c, 1, 1, 0);
        d.kh = k;
        d.ph = k / 2;
        d.sh = stride;
        t2 = net_value_new(net, c, conv_out_h(&d, shape_h(b, t1)), shape_w(b, t1));
        net_conv(net, t1, t2, &d, 0);
        net_bn(net, t2, y, acc, path);
        break;
    }
    case OPK_SEP: {
        int t = dw_pw(b, x, info->k, stride, 1);
        int u = net_value_new(net, shape_c(b, t), shape_h(b, t), shape_w(b, t));
        net_bn(net, t, u, 0, -1);
        t = dw_pw(b, u, info->k, 1, 1);
        net_bn(net, t, y, acc, path);
        break;
    }
    case OPK_DIL:
        net_bn(net, dw_pw(b, x, info->k, stride, info->dilation), y, acc, path);
        break;
    }
    return CL_OK;
}

/* One cell; returns its output value in *out. */
static int build_cell(builder *b, const geno_cell *cell, int reduction, int prev_reduction,
                      int hpp, int hp, int *out)
{
    cl_net *net = b->net;
    int C = b->C, h = shape_h(b, hp), w = shape_w(b, hp);
    int ho = reduction ? (h - 1) / 2 + 1 : h, wo = reduction ? (w - 1) / 2 + 1 : w;
    int states[2 + GENO_MAX_BLOCKS], outs[GENO_MAX_BLOCKS], is_out[GENO_MAX_BLOCKS] = {0};
    int nout = geno_cell_outputs(cell, outs), cat, rc;

    states[0] = net_value_new(net, C, h, w);
    if (prev_reduction) {
        if ((rc = fact_reduce(b, hpp, states[0], 0, -1)))
            return rc;
    } else {
        relu_conv_bn(b, hpp, states[0], 1, 1, 0, -1);
    }
    states[1] = net_value_new(net, C, h, w);
    relu_conv_bn(b, hp, states[1], 1, 1, 0, -1);

    cat = net_value_new(net, nout * C, ho, wo);
    for (int j = 0; j < nout; j++)
        is_out[outs[j]] = j + 1;
    for (int i = 0; i < cell->nblocks; i++) {
        const geno_block *blk = &cell->b[i];
        int y = is_out[i] ? net_value_slice(net, cat, (is_out[i] - 1) * C, C)
                          : net_value_new(net, C, ho, wo);
        int s0 = reduction && blk->in[0] < 2 ? 2 : 1, s1 = reduction && blk->in[1] < 2 ? 2 : 1;
        if (blk->comb == COMB_ADD) {
            if ((rc = op_path(b, blk->op[0], states[blk->in[0]], s0, y, 0)) ||
                (rc = op_path(b, blk->op[1], states[blk->in[1]], s1, y, 1)))
                return rc;
        } else {
            int both = net_value_new(net, 2 * C, ho, wo);
            if ((rc = op_path(b, blk->op[0], states[blk->in[0]], s0,
                              net_value_slice(net, both, 0, C), 0)) ||
                (rc = op_path(b, blk->op[1], states[blk->in[1]], s1,
                              net_value_slice(net, both, C, C), 0)))
                return rc;
            relu_conv_bn(b, both, y, 1, 1, 0, -1);
        }
        states[2 + i] = y;
    }
    *out = cat;
    return CL_OK;
}

int child_build(const cl_genotype *g, const child_spec *spec, cl_backend *be, cl_net **out,
                cl_err *err)
{
    builder b;
    cl_net *net;
    int L = 3 * spec->N + 2, stem, t, hpp, hp, prev_red = 0, rc;
    conv_desc d;

    if ((rc = geno_validate(g, err)))
        return rc;
    if (spec->N < 1 || spec->N > 64)
        return ERR_SET(err, CL_ERR_ARG, "N must be 1 to 64 (got %d)", spec->N);
    if (spec->F < 2 || spec->F > 4096)
        return ERR_SET(err, CL_ERR_ARG, "F must be 2 to 4096 (got %d)", spec->F);
    if (spec->in_c < 1 || spec->in_h < 4 || spec->in_w < 4)
        return ERR_SET(err, CL_ERR_ARG, "input %dx%dx%d is too small (at least 4x4x1)",
                       spec->in_h, spec->in_w, spec->in_c);
    if (spec->classes < 2)
        return ERR_SET(err, CL_ERR_ARG, "a classifier needs at least 2 classes (got %d)",
                       spec->classes);
    net = net_new(be);
    if (!net)
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory");
    b.net = net;
    b.err = err;
    b.C = spec->F;

    net->input = net_value_new(net, spec->in_c, spec->in_h, spec->in_w);
    t = net_value_new(net, 3 * spec->F, spec->in_h, spec->in_w);
    stem = net_value_new(net, 3 * spec->F, spec->in_h, spec->in_w);
    d = conv_square(spec->in_c, 3 * spec->F, 3, 1, 0);
    net_conv(net, net->input, t, &d, 0);
    net_bn(net, t, stem, 0, -1);

    hpp = hp = stem;
    for (int i = 0; i < L; i++) {
        int red = i == L / 3 || i == 2 * L / 3, cell_out;
        if (red)
            b.C *= 2;
        rc = build_cell(&b, red ? &g->reduce : &g->normal, red, prev_red, hpp, hp, &cell_out);
        if (rc) {
            err_prefix(err, "cell %d", i);
            net_free(net);
            return rc;
        }
        hpp = hp;
        hp = cell_out;
        prev_red = red;
    }
    t = net_value_new(net, shape_c(&b, hp), 1, 1);
    net_gap(net, hp, t);
    net->logits = net_value_new(net, spec->classes, 1, 1);
    net_linear(net, t, net->logits);
    net_prune(net);
    if (net->build_err.code) {
        if (err)
            *err = net->build_err;
        rc = net->build_err.code;
        net_free(net);
        return rc;
    }
    *out = net;
    return CL_OK;
}
