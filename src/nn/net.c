/* net.c - building, planning and running a network of ops.
 *
 * Gradient rule: every node overwrites its parameter gradients (each
 * parameter belongs to one node) and writes its input gradient with the
 * dx_acc flag planned here: the first node (in backward order) to reach a
 * value overwrites, the others add.  So nothing is zeroed per step. */
#include "nn/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

cl_net *net_new(cl_backend *be)
{
    cl_net *net = calloc(1, sizeof *net);
    if (!net)
        return NULL;
    net->be = be;
    net->input = net->logits = -1;
    return net;
}

void net_free(cl_net *net)
{
    cl_backend *be;
    if (!net)
        return;
    be = net->be;
    net_lanes_free(net);
    if (be && net->prof_marks)
        be->marks(be, 0, NULL);
    if (be)
        be->free(be, net->arena);
    free(net->path_host);
    free(net->prof_fwd);
    free(net->prof_bwd);
    free(net->prof_t);
    free(net->nodes);
    free(net->vals);
    free(net);
}

/* ---- building ---- */

static int failed(cl_net *net) { return net->build_err.code != CL_OK; }

#define BUILD_FAIL(net, ...) (ERR_SET(&(net)->build_err, CL_ERR_SHAPE, __VA_ARGS__), -1)

int net_value_new(cl_net *net, int c, int h, int w)
{
    net_value *v;
    if (failed(net))
        return -1;
    if (c <= 0 || h <= 0 || w <= 0)
        return BUILD_FAIL(net, "tensor of %d channels of %dx%d: sizes must be positive", c, h, w);
    if (cl_grow(&net->vals, sizeof *net->vals, net->n_vals + 1, &net->cap_vals, 64)) {
        ERR_SET(&net->build_err, CL_ERR_NOMEM, "network: out of memory");
        return -1;
    }
    v = &net->vals[net->n_vals];
    v->c = c;
    v->h = h;
    v->w = w;
    v->parent = -1;
    v->c0 = 0;
    v->off = 0;
    return net->n_vals++;
}

int net_value_slice(cl_net *net, int parent, int c0, int c)
{
    int id;
    if (failed(net))
        return -1;
    if (parent < 0 || parent >= net->n_vals || net->vals[parent].parent >= 0)
        return BUILD_FAIL(net, "slice of value %d: not a whole tensor", parent);
    if (c0 < 0 || c <= 0 || c0 + c > net->vals[parent].c)
        return BUILD_FAIL(net, "slice [%d, %d) of a %d-channel tensor", c0, c0 + c,
                          net->vals[parent].c);
    id = net_value_new(net, c, net->vals[parent].h, net->vals[parent].w);
    if (id >= 0) {
        net->vals[id].parent = parent;
        net->vals[id].c0 = c0;
    }
    return id;
}

int net_path_new(cl_net *net) { return net->n_paths++; }

static net_node *node_add(cl_net *net, node_kind kind, int x, int y, int acc, int path)
{
    net_node *nd;
    if (failed(net))
        return NULL;
    if (x < 0 || x >= net->n_vals || y < 0 || y >= net->n_vals) {
        (void)BUILD_FAIL(net, "op reads value %d and writes value %d: no such value", x, y);
        return NULL;
    }
    if (cl_grow(&net->nodes, sizeof *net->nodes, net->n_nodes + 1, &net->cap_nodes, 64)) {
        ERR_SET(&net->build_err, CL_ERR_NOMEM, "network: out of memory");
        return NULL;
    }
    nd = &net->nodes[net->n_nodes++];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->x = x;
    nd->y = y;
    nd->acc = acc;
    nd->path = path;
    nd->y2 = -1;
    nd->path2 = -1;
    nd->twin_row = -1;
    nd->xbn = -1;
    nd->gbn = -1;
    nd->p_off = net->n_params;
    return nd;
}

int net_conv(cl_net *net, int x, int y, const conv_desc *d, int acc)
{
    net_node *nd = node_add(net, NODE_CONV, x, y, acc, -1);
    const net_value *vx, *vy;
    if (!nd)
        return -1;
    vx = &net->vals[x];
    vy = &net->vals[y];
    if (d->groups <= 0 || d->cin % d->groups || d->cout % d->groups || d->sh <= 0 || d->sw <= 0 ||
        d->dh <= 0 || d->dw <= 0 || d->kh <= 0 || d->kw <= 0)
        return BUILD_FAIL(net, "conv %dx%d, %d groups over %d -> %d channels: bad description",
                          d->kh, d->kw, d->groups, d->cin, d->cout);
    if (vx->c != d->cin || vy->c != d->cout || vy->h != conv_out_h(d, vx->h) ||
        vy->w != conv_out_w(d, vx->w) || conv_out_h(d, vx->h) <= 0 || conv_out_w(d, vx->w) <= 0)
        return BUILD_FAIL(net,
                          "conv %dx%d stride %d: input %dx%dx%d does not give output %dx%dx%d",
                          d->kh, d->kw, d->sh, vx->c, vx->h, vx->w, vy->c, vy->h, vy->w);
    nd->u.conv = *d;
    nd->p_len = conv_weight_count(d);
    net->n_params += nd->p_len;
    return net->n_nodes - 1;
}

static int same_shape(const net_value *a, const net_value *b)
{
    return a->c == b->c && a->h == b->h && a->w == b->w;
}

int net_bn(cl_net *net, int x, int y, int acc, int path)
{
    net_node *nd = node_add(net, NODE_BN, x, y, acc, path);
    if (!nd)
        return -1;
    if (!same_shape(&net->vals[x], &net->vals[y]))
        return BUILD_FAIL(net, "batch norm: input and output shapes differ");
    nd->u.bn.eps = 1e-5f;
    nd->u.bn.momentum = 0.1f;
    nd->p_len = 2L * net->vals[x].c;
    net->n_params += nd->p_len;
    nd->s_off = net->n_state;
    net->n_state += 4L * net->vals[x].c;
    return net->n_nodes - 1;
}

int net_pool(cl_net *net, int x, int y, const pool_desc *d, int acc, int path)
{
    net_node *nd = node_add(net, NODE_POOL, x, y, acc, path);
    const net_value *vx, *vy;
    if (!nd)
        return -1;
    vx = &net->vals[x];
    vy = &net->vals[y];
    if (d->k <= 0 || d->s <= 0 || d->p < 0 || 2 * d->p > d->k)
        return BUILD_FAIL(net, "pool %dx%d stride %d padding %d: bad description", d->k, d->k,
                          d->s, d->p);
    if (vx->c != vy->c || vy->h != pool_out(d, vx->h) || vy->w != pool_out(d, vx->w))
        return BUILD_FAIL(net, "pool %dx%d stride %d: input %dx%dx%d does not give %dx%dx%d",
                          d->k, d->k, d->s, vx->c, vx->h, vx->w, vy->c, vy->h, vy->w);
    nd->u.pool = *d;
    return net->n_nodes - 1;
}

int net_copy(cl_net *net, int x, int y, int acc, int path)
{
    net_node *nd = node_add(net, NODE_COPY, x, y, acc, path);
    if (!nd)
        return -1;
    if (!same_shape(&net->vals[x], &net->vals[y]))
        return BUILD_FAIL(net, "identity: input and output shapes differ");
    return net->n_nodes - 1;
}

int net_gap(cl_net *net, int x, int y)
{
    net_node *nd = node_add(net, NODE_GAP, x, y, 0, -1);
    if (!nd)
        return -1;
    if (net->vals[y].c != net->vals[x].c || net->vals[y].h != 1 || net->vals[y].w != 1)
        return BUILD_FAIL(net, "global average pool: output must be %dx1x1", net->vals[x].c);
    return net->n_nodes - 1;
}

int net_linear(cl_net *net, int x, int y)
{
    net_node *nd = node_add(net, NODE_LINEAR, x, y, 0, -1);
    const net_value *vx, *vy;
    if (!nd)
        return -1;
    vx = &net->vals[x];
    vy = &net->vals[y];
    if (vx->h != 1 || vx->w != 1 || vy->h != 1 || vy->w != 1 || vx->parent >= 0 ||
        vy->parent >= 0)
        return BUILD_FAIL(net, "linear: input and output must be whole Cx1x1 tensors");
    nd->p_len = (long)vx->c * vy->c + vy->c;
    net->n_params += nd->p_len;
    return net->n_nodes - 1;
}

/* ---- planning ---- */

static int root_of(const cl_net *net, int v)
{
    return net->vals[v].parent >= 0 ? net->vals[v].parent : v;
}

void net_prune(cl_net *net)
{
    unsigned char *needed, *live;
    long p_off = 0, s_off = 0;
    int k = 0;
    if (failed(net) || net->logits < 0)
        return;
    needed = calloc((size_t)net->n_vals, 1);
    live = calloc((size_t)(net->n_nodes ? net->n_nodes : 1), 1);
    if (!needed || !live) {   /* nothing pruned: still a correct network */
        free(needed);
        free(live);
        return;
    }
    /* producers come before consumers, so one backward sweep settles it */
    needed[root_of(net, net->logits)] = 1;
    for (int i = net->n_nodes - 1; i >= 0; i--)
        if (needed[root_of(net, net->nodes[i].y)]) {
            live[i] = 1;
            needed[root_of(net, net->nodes[i].x)] = 1;
        }
    for (int i = 0; i < net->n_nodes; i++) {
        net_node nd = net->nodes[i];
        long s_len = nd.kind == NODE_BN ? 4L * net->vals[nd.x].c : 0;
        if (!live[i])
            continue;
        nd.p_off = p_off;
        p_off += nd.p_len;
        if (s_len) {
            nd.s_off = s_off;
            s_off += s_len;
        }
        net->nodes[k++] = nd;
    }
    net->n_nodes = k;
    net->n_params = p_off;
    net->n_state = s_off;
    free(needed);
    free(live);
}

/* no tensor: an optional view not given */
static const tview no_view;

tview net_view(const cl_net *net, const float *arena, int value, int n)
{
    const net_value *v = &net->vals[value];
    tview t;
    t.n = n;
    t.c = v->c;
    t.h = v->h;
    t.w = v->w;
    if (v->parent >= 0) {
        const net_value *p = &net->vals[v->parent];
        t.d = (float *)arena + p->off + (long)v->c0 * v->h * v->w;
        t.ns = (long)p->c * p->h * p->w;
    } else {
        t.d = (float *)arena + v->off;
        t.ns = (long)v->c * v->h * v->w;
    }
    return t;
}

/* One block of backend memory holds everything the network runs with,
 * each part starting on a 256-byte boundary (what cuDNN and vector loads
 * like best).  carve() hands out the parts in order. */
#define ARENA_ALIGN 256

static size_t arena_round(size_t bytes) { return (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN; }

static void *carve(char *base, size_t *at, size_t bytes)
{
    void *p = base + *at;
    *at += arena_round(bytes ? bytes : 1);
    return p;
}

/* Parameter blocks start on 16-byte boundaries (4 floats) so that every
 * weight tensor is as aligned as the libraries underneath want it; the
 * padding between them is zero, gets no gradient and stays zero under
 * SGD.  n_params stays the count of real parameters. */
static void align_params(cl_net *net)
{
    long off = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *nd = &net->nodes[i];
        off = (off + 3) / 4 * 4;
        nd->p_off = off;
        off += nd->p_len;
    }
    net->p_storage = (off + 3) / 4 * 4;
}

/* 1 when node i, a batch norm, reads what the convolution `back` nodes
 * before it writes and nothing else: back 1, a convolution alone (not
 * adding into its output); back 2, a separable pair (sep), when run as
 * one */
static int stats_from(const cl_net *net, int i, int back)
{
    const net_node *c, *a;
    if (i < back || i >= net->n_nodes || net->nodes[i].kind != NODE_BN)
        return 0;
    c = &net->nodes[i];
    a = c - back;
    if (back == 2)
        return a->sep && a[1].y == c->x;
    return a->kind == NODE_CONV && !a->acc && a->y == c->x;
}

/* the statistics of the batch norm node i + back reads, when its
 * convolution (back 1) or separable pair (back 2) at node i may take them
 * in training: where they go (NULL: it takes none) */
static double *stats_for(cl_net *net, int i, int back, int train)
{
    if (!train || !stats_from(net, i + back, back) || !net->nodes[i + back].bst)
        return NULL;
    return net->bst + net->nodes[i + back].bst_off;
}

void net_value_span(const cl_net *net, int v, int *root, int *c0, int *c1)
{
    const net_value *val = &net->vals[v];
    *root = root_of(net, v);
    *c0 = val->parent >= 0 ? val->c0 : 0;
    *c1 = *c0 + val->c;
}

/* whether values a and b share memory (channels of one root) */
static int values_meet(const cl_net *net, int a, int b)
{
    int ra, a0, a1, rb, b0, b1;
    net_value_span(net, a, &ra, &a0, &a1);
    net_value_span(net, b, &rb, &b0, &b1);
    return ra == rb && a0 < b1 && b0 < a1;
}

/* Environment variable name set to one of two words: *on 1 for yes (also
 * when unset or empty), 0 for no; anything else refused naming both */
static int env_switch(const char *name, const char *yes, const char *no, int *on, cl_err *err)
{
    const char *e = getenv(name);
    *on = 1;
    if (!e || !*e || !strcmp(e, yes))
        return CL_OK;
    if (!strcmp(e, no)) {
        *on = 0;
        return CL_OK;
    }
    return ERR_SET(err, CL_ERR_ARG, "%s: \"%s\" is not %s or %s", name, e, yes, no);
}

/* The batch norm an identity op (node i) may be folded into: the only
 * writer of the copy's input, overwriting it with no second output yet,
 * where that input has another reader (whose gradient the batch norm's
 * dy then is, dy2 the copy's) and nothing between the two touches the
 * copy's output but writers of exactly that value (its first write moves
 * up to the batch norm); -1 where there is none.  Nodes already folded
 * (gone) count as not there. */
static int fold_into(const cl_net *net, int i, const unsigned char *gone)
{
    const net_node *c = &net->nodes[i];
    int b = -1, readers = 0;
    if (c->kind != NODE_COPY || c->path >= 0 || net->vals[c->x].parent >= 0)
        return -1;
    for (int j = 0; j < net->n_nodes; j++) {
        const net_node *nd = &net->nodes[j];
        if (gone[j])
            continue;
        if (values_meet(net, nd->y, c->x) || (nd->y2 >= 0 && values_meet(net, nd->y2, c->x))) {
            if (b >= 0 || nd->y != c->x)
                return -1;
            b = j;
        }
        readers += j != i && nd->x == c->x;
    }
    if (b < 0 || b > i || !readers || net->nodes[b].kind != NODE_BN || net->nodes[b].acc ||
        net->nodes[b].y2 >= 0)
        return -1;
    for (int j = b + 1; j < i; j++) {
        const net_node *nd = &net->nodes[j];
        if (!gone[j] && (values_meet(net, nd->x, c->y) ||
                         (nd->y != c->y && values_meet(net, nd->y, c->y)) ||
                         (nd->y2 >= 0 && values_meet(net, nd->y2, c->y))))
            return -1;
    }
    return b;
}

/* Fold identity ops into the batch norms whose outputs they copy (unless
 * CELLAR_IDENTITY=copy): the batch norm writes the copy too, as it writes
 * its own output, and takes the copy's gradient with its own; the copy's
 * node goes.  The writers of each such output then overwrite or add by
 * their new order. */
static int fold_identities(cl_net *net, cl_err *err)
{
    unsigned char *gone;
    int k = 0, on, rc = env_switch("CELLAR_IDENTITY", "fold", "copy", &on, err);
    if (rc || !on)
        return rc;
    if (!(gone = calloc((size_t)net->n_nodes + 1, 1)))
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory");
    for (int i = 0; i < net->n_nodes; i++) {
        int b = fold_into(net, i, gone), seen = 0, y = net->nodes[i].y;
        if (b < 0)
            continue;
        gone[i] = 1;
        net->nodes[b].y2 = y;
        for (int j = 0; j < net->n_nodes; j++) {
            net_node *nd = &net->nodes[j];
            if (gone[j])
                continue;
            if (nd->y2 == y) {
                nd->acc2 = seen;
                seen = 1;
            }
            if (nd->y == y) {
                nd->acc = seen;
                seen = 1;
            }
        }
    }
    for (int i = 0; i < net->n_nodes; i++)
        if (!gone[i])
            net->nodes[k++] = net->nodes[i];
    net->n_nodes = k;
    free(gone);
    return CL_OK;
}

/* whether pool b, right after pool a, pools a's input alike into a's
 * output, adding: the two are one pool scaled by both paths' scales */
static int twins(const net_node *a, const net_node *b)
{
    return a->kind == NODE_POOL && b->kind == NODE_POOL && a->x == b->x &&
           a->y == b->y && b->acc && a->u.pool.kind == b->u.pool.kind &&
           a->u.pool.k == b->u.pool.k && a->u.pool.s == b->u.pool.s &&
           a->u.pool.p == b->u.pool.p && (a->path < 0) == (b->path < 0);
}

/* Merge twin pools (unless CELLAR_TWINS=apart): the first stays, its
 * output scaled by the sum of the two paths' drop-path scales (a row of
 * path_scale of its own, drawn with the rest) or by 2; the second goes.
 * Without drop-path the forward is the two pools' to the bit: a value
 * and its double are exact. */
static int merge_twins(cl_net *net, cl_err *err)
{
    int k = 0, on, rc = env_switch("CELLAR_TWINS", "merge", "apart", &on, err);
    if (rc || !on)
        return rc;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node nd = net->nodes[i];
        if (i + 1 < net->n_nodes && twins(&nd, &net->nodes[i + 1])) {
            nd.twin = 1;
            nd.path2 = net->nodes[i + 1].path;
            if (nd.path >= 0)
                nd.twin_row = net->n_paths + net->n_twins++;
            i++;
        }
        net->nodes[k++] = nd;
    }
    net->n_nodes = k;
    return CL_OK;
}

/* Ops that touch value v besides its writer, node w: nodes reading it,
 * other nodes writing memory it shares, values that are slices of it.
 * 1 where only one op reads it and nothing else meets it. */
static int value_users(const cl_net *net, int v, int w)
{
    int k = 0;
    for (int j = 0; j < net->n_nodes; j++)
        k += net->nodes[j].x == v || (j != w && values_meet(net, net->nodes[j].y, v));
    for (int u = 0; u < net->n_vals; u++)
        k += net->vals[u].parent == v;
    return k;
}

/* Batch norms the separable pair after them applies as it reads (bnin,
 * unless CELLAR_BN_APPLY=apart): a batch norm c at node i with its
 * statistics from the op before (bst), no drop-path scale, overwriting a
 * value no other op reads, the pair's first half at i + 1, whose
 * backward runs as one (sepb), on backends (be and the lanes each may run
 * on) that give the scale and shift (bn_affine) and whose forward takes
 * the pair with its statistics (sep_stats_parts, which only a pair the
 * fused forward takes gives).  Each such batch norm's scale and shift
 * get 2 C floats of net->bab; *floats says how many in all. */
static int plan_bn_in(cl_net *net, int max_batch, long *floats, cl_err *err)
{
    int on, rc = env_switch("CELLAR_BN_APPLY", "fused", "apart", &on, err);
    *floats = 0;
    if (rc)
        return rc;
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *c = &net->nodes[i], *a = i + 2 < net->n_nodes ? c + 1 : NULL;
        int ok;
        c->bnin = 0;
        if (!on || c->kind != NODE_BN || !c->bst || c->path >= 0 || c->acc || c->y2 >= 0 || !a ||
            a->kind != NODE_CONV || !a->sep || a->sepb < 1 || a->x != c->y ||
            net->vals[c->y].parent >= 0)
            continue;
        ok = value_users(net, c->y, i) == 1;
        for (int k = 0; k < 2 && ok; k++) {
            cl_backend *bb = k ? net_lane_backend(net, 0, i) : net->be;
            cl_backend *pb = k ? net_lane_backend(net, 0, i + 1) : net->be;
            const net_value *vx = &net->vals[a->x];
            ok = bb->bn_affine && pb->sep_fwd && pb->sep_stats_parts &&
                 pb->sep_stats_parts(pb, &a->u.conv, &a[1].u.conv, max_batch, vx->h, vx->w) > 0;
        }
        if (ok) {
            c->bnin = 1;
            c->bab_off = *floats;
            *floats += 2L * net->vals[c->x].c;
        }
    }
    for (int i = 0; i + 1 < net->n_nodes; i++)
        net->nodes[i + 1].xbn = net->nodes[i].bnin ? i : -1;
    return CL_OK;
}

/* Batch norms whose data gradient the separable pair before them makes
 * as it reads (bdy, unless CELLAR_BN_DX=apart): a batch norm c at node i
 * with no identity folded in, the only reader of its input, which the
 * pair at i - 2 (sepb) writes, on backends (those the batch norm's and
 * the pair's backward may run on) that give the factors
 * (bn_bwd_factors) and so take them in sep_bwd: the batch norm between
 * a separable op's layers and the one after its second.  Its backward
 * then gives only dgamma, dbeta and the factors (from the sums of dy the
 * pair after it took, bbst, or its own), 4 C floats of net->bab from
 * *floats on; the pair reads c's dy and input instead of a gradient never
 * written.  CELLAR_BN_DX=inner: only those with bbst (the batch norm
 * between a separable op's layers), whose backward would otherwise make a
 * pass of its own only to write dx; the one after the second layer takes
 * dy's sums in a pass of its own either way. */
static int plan_bn_dy(cl_net *net, long *floats, cl_err *err)
{
    const char *e = getenv("CELLAR_BN_DX");
    int on = 1, inner_only = 0;
    if (e && *e && strcmp(e, "fused")) {
        if (!strcmp(e, "inner"))
            inner_only = 1;
        else if (!strcmp(e, "apart"))
            on = 0;
        else
            return ERR_SET(err, CL_ERR_ARG, "CELLAR_BN_DX: \"%s\" is not fused, inner or apart",
                           e);
    }
    for (int i = 0; i < net->n_nodes; i++)
        net->nodes[i].gbn = -1;
    for (int i = 2; i < net->n_nodes; i++) {
        net_node *c = &net->nodes[i], *a = c - 2;
        int ok;
        c->bdy = 0;
        if (!on || (inner_only && !c->bbst) || c->kind != NODE_BN || c->y2 >= 0 ||
            !c->need_dx || c->dx_acc || a->kind != NODE_CONV || a->sepb < 1 || a[1].y != c->x ||
            net->vals[c->x].parent >= 0)
            continue;
        ok = value_users(net, c->x, i - 1) == 1;
        for (int k = 0; k < 2 && ok; k++)
            ok = (k ? net_lane_backend(net, 1, i) : net->be)->bn_bwd_factors &&
                 (k ? net_lane_backend(net, 1, i - 2) : net->be)->bn_bwd_factors;
        if (ok) {
            c->bdy = 1;
            c->bdy_off = *floats = (*floats + 3) & ~3L;   /* read as float4s: 16 bytes */
            *floats += 4L * net->vals[c->x].c;
            a->gbn = i;
        }
    }
    return CL_OK;
}

int net_plan(cl_net *net, int max_batch, cl_err *err)
{
    cl_backend *be = net->be;
    unsigned char *written;
    long off = 0, bst_doubles = 0, bab_floats = 0;

    if (failed(net)) {
        if (err)
            *err = net->build_err;
        return net->build_err.code;
    }
    if (net->input < 0 || net->logits < 0 || net->n_nodes == 0)
        return ERR_SET(err, CL_ERR_INTERNAL, "network has no input or no output");
    if (max_batch <= 0)
        return ERR_SET(err, CL_ERR_ARG, "batch size must be positive (got %d)", max_batch);
    net->max_batch = max_batch;
    {
        int rc = fold_identities(net, err);
        if (rc || (rc = merge_twins(net, err)))
            return rc;
    }

    /* each value on a 256-byte boundary, as the arena's parts are */
    for (int v = 0; v < net->n_vals; v++)
        if (net->vals[v].parent < 0) {
            long align = ARENA_ALIGN / (long)sizeof(float);
            net->vals[v].off = off;
            off += (long)max_batch * net->vals[v].c * net->vals[v].h * net->vals[v].w;
            off = (off + align - 1) / align * align;
        }
    net->arena_floats = off;

    /* backward order: who writes each gradient first */
    written = calloc((size_t)net->n_vals, 1);
    if (!written)
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory");
    written[root_of(net, net->logits)] = 1;
    for (int i = net->n_nodes - 1; i >= 0; i--) {
        net_node *nd = &net->nodes[i];
        if (!written[root_of(net, nd->y)]) {
            free(written);
            return ERR_SET(err, CL_ERR_INTERNAL, "network: the output of op %d is never used", i);
        }
        nd->need_dx = nd->x != net->input;
        if (!nd->need_dx)
            continue;
        if (net->vals[nd->x].parent >= 0) {
            free(written);
            return ERR_SET(err, CL_ERR_INTERNAL, "network: op %d reads a channel slice", i);
        }
        nd->dx_acc = written[nd->x];
        written[nd->x] = 1;
    }
    free(written);

    for (int i = 0; i < net->n_nodes; i++) {
        net_node *a = &net->nodes[i], *b = i + 1 < net->n_nodes ? a + 1 : NULL;
        a->sep = b && a->kind == NODE_CONV && b->kind == NODE_CONV && b->x == a->y && !a->acc &&
                 !b->acc && b->y != a->y && b->y != a->x;
        a->sep_ran = 0;
        a->sepb = 0;
    }

    /* each op prepared where it may run: on be (a profile runs every op
     * there) and on its lanes forward and backward */
    {
        int rc = net_lanes_plan(net, err);
        if (rc)
            return rc;
    }
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *nd = &net->nodes[i];
        const net_value *vx = &net->vals[nd->x];
        cl_backend *on[4] = {be, net_lane_backend(net, 0, i), net_lane_backend(net, 1, i),
                             net_lanes_split(net, i) ? net_lane_backend(net, 1, net->n_nodes + i)
                                                     : be};
        for (int b = 0; b < 4; b++) {
            int rc = CL_OK, again = 0;
            for (int a = 0; a < b; a++)
                again |= on[a] == on[b];
            if (again)
                continue;
            if (nd->kind == NODE_CONV && on[b]->conv_prepare)
                rc = on[b]->conv_prepare(on[b], &nd->u.conv, max_batch, vx->h, vx->w, err);
            else if (nd->kind == NODE_POOL && on[b]->pool_prepare)
                rc = on[b]->pool_prepare(on[b], &nd->u.pool, max_batch, vx->c, vx->h, vx->w, err);
            if (rc)
                return rc;
        }
    }

    /* separable pairs whose backward runs as one: where the second half
     * is the only reader of the first's output (so the data gradient
     * between them is the second's alone) and every backend the first's
     * backward may run on takes it */
    for (int i = 0; i + 1 < net->n_nodes; i++) {
        net_node *a = &net->nodes[i], *b = a + 1;
        const net_value *vx = &net->vals[a->x];
        cl_backend *on[2] = {be, net_lane_backend(net, 1, i)};
        a->sepb = a->sep && a->need_dx && b->need_dx && !b->dx_acc ? 2 : 0;
        for (int k = 0; k < 2 && a->sepb; k++) {
            int rc, takes = 0;
            if (k && on[1] == on[0])
                break;
            if (!on[k]->sep_prepare || !on[k]->sep_bwd) {
                a->sepb = 0;
                break;
            }
            if ((rc = on[k]->sep_prepare(on[k], &a->u.conv, &b->u.conv, max_batch, vx->h, vx->w,
                                         &takes, err)))
                return rc;
            if (takes < a->sepb)   /* what every backend it may run on takes */
                a->sepb = takes;
        }
    }

    /* batch norms whose statistics the convolution writing their input
     * takes as it writes (a separable pair run as one, be->sep_stats_parts,
     * or a convolution alone, be->conv_stats_parts), where every backend
     * that convolution and the batch norm may run on (be, their lanes)
     * offers that; each batch norm's partial sums get a place of their
     * own, so convolutions on different lanes never share one */
    for (int i = 0; i < net->n_nodes; i++) {
        net_node *c = &net->nodes[i];
        int from[2] = {stats_from(net, i, 2), stats_from(net, i, 1)};
        long most = 0;
        c->bst = 0;
        c->bst_off = 0;
        c->bst_parts = 0;
        if (c->kind != NODE_BN || i < 1)
            continue;
        for (int k = 0; k < 2; k++) {
            cl_backend *bn_on = k ? net_lane_backend(net, 0, i) : be;
            for (int f = 0; f < 2; f++) {
                const net_node *a;
                const net_value *vx;
                cl_backend *on;
                int parts = 0;
                if (!from[f] || !bn_on->bn_fwd_parts)
                    continue;
                a = &net->nodes[i - 2 + f];
                vx = &net->vals[a->x];
                on = k ? net_lane_backend(net, 0, i - 2 + f) : be;
                if (f == 0 && on->sep_fwd && on->sep_stats_parts)
                    parts = on->sep_stats_parts(on, &a->u.conv, &a[1].u.conv, max_batch, vx->h,
                                                vx->w);
                else if (f == 1 && on->conv_fwd_stats && on->conv_stats_parts)
                    parts = on->conv_stats_parts(on, &a->u.conv, max_batch, vx->h, vx->w);
                most = parts > most ? parts : most;
            }
        }
        if (most > 0) {
            c->bst = 1;
            c->bst_off = bst_doubles;
            bst_doubles += most * net->vals[c->x].c * 2;
        }
    }

    /* batch norms whose dy's sums the separable pair after them takes in
     * its backward as it writes dy: where the pair (sepb) is the only
     * writer of that gradient (overwriting it), no drop-path scale
     * applies, and every backend the two may run on backward offers it */
    for (int i = 0; i + 1 < net->n_nodes; i++) {
        net_node *c = &net->nodes[i], *a = c + 1;
        const net_value *vx = &net->vals[a->x];
        cl_backend *on[2] = {be, net_lane_backend(net, 1, i + 1)},
                   *bn_on[2] = {be, net_lane_backend(net, 1, i)};
        long most = 0;
        c->bbst = 0;
        c->bbst_off = 0;
        c->bbst_parts = 0;
        if (c->kind != NODE_BN || c->path >= 0 || c->y2 >= 0 || !a->sepb || a->x != c->y ||
            a->dx_acc)
            continue;
        for (int k = 0; k < 2; k++) {
            int parts = on[k]->sep_bwd_stats && on[k]->sep_bwd_stats_parts
                            ? on[k]->sep_bwd_stats_parts(on[k], &a->u.conv, &a[1].u.conv,
                                                         max_batch, vx->h, vx->w)
                            : 0;
            if (parts <= 0 || !bn_on[k]->bn_bwd_parts) {
                most = 0;
                break;
            }
            most = parts > most ? parts : most;
        }
        if (most > 0) {
            c->bbst = 1;
            c->bbst_off = bst_doubles;
            bst_doubles += most * vx->c * 2;
        }
    }

    {
        int rc = plan_bn_in(net, max_batch, &bab_floats, err);
        if (rc || (rc = plan_bn_dy(net, &bab_floats, err)))
            return rc;
    }

    align_params(net);
    {
        size_t np = (size_t)(net->n_paths + net->n_twins + 1) * max_batch;
        size_t sizes[] = {(size_t)off * sizeof(float), (size_t)off * sizeof(float),
                          (size_t)net->p_storage * sizeof(float),
                          (size_t)net->p_storage * sizeof(float),
                          (size_t)net->p_storage * sizeof(float),
                          (size_t)net->n_state * sizeof(float), np * sizeof(float),
                          (size_t)max_batch * sizeof(int), sizeof(float), sizeof(int),
                          (size_t)bst_doubles * sizeof(double),
                          (size_t)2 * net->n_twins * sizeof(int),
                          (size_t)bab_floats * sizeof(float)};
        size_t total = 0, at = 0;
        char *base;
        for (size_t i = 0; i < CL_ARRAY_LEN(sizes); i++)
            total += arena_round(sizes[i] ? sizes[i] : 1);
        base = be->alloc(be, total);
        if (!base)
            return ERR_SET(err, CL_ERR_NOMEM, "network: cannot allocate %.1f MiB of %s memory",
                           (double)total / (1 << 20), be->name);
        net->arena = base;
        net->arena_bytes = total;
        net->act = carve(base, &at, sizes[0]);
        net->grad = carve(base, &at, sizes[1]);
        net->params = carve(base, &at, sizes[2]);
        net->pgrad = carve(base, &at, sizes[3]);
        net->mom = carve(base, &at, sizes[4]);
        net->state = carve(base, &at, sizes[5]);
        net->path_scale = carve(base, &at, sizes[6]);
        net->labels = carve(base, &at, sizes[7]);
        net->loss_dev = carve(base, &at, sizes[8]);
        net->correct_dev = carve(base, &at, sizes[9]);
        net->bst = carve(base, &at, sizes[10]);
        net->twin_pairs = carve(base, &at, sizes[11]);
        net->bab = carve(base, &at, sizes[12]);
    }
    if (!(net->path_host = malloc((size_t)(net->n_paths + net->n_twins + 1) * max_batch *
                                  sizeof(float))))
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory for drop-path masks");
    {
        /* the row of 2, and the pairs of paths the twins' rows sum */
        float *two = net->path_host + (long)(net->n_paths + net->n_twins) * max_batch;
        int *pairs = malloc((size_t)(2 * net->n_twins + 1) * sizeof *pairs);
        if (!pairs)
            return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory for drop-path masks");
        for (int i = 0; i < max_batch; i++)
            two[i] = 2.f;
        be->upload(be, net->path_scale + (long)(net->n_paths + net->n_twins) * max_batch, two,
                   (size_t)max_batch * sizeof *two);
        for (int i = 0; i < net->n_nodes; i++) {
            const net_node *nd = &net->nodes[i];
            if (nd->twin_row >= 0) {
                pairs[2 * (nd->twin_row - net->n_paths)] = nd->path;
                pairs[2 * (nd->twin_row - net->n_paths) + 1] = nd->path2;
            }
        }
        if (net->n_twins)
            be->upload(be, net->twin_pairs, pairs, (size_t)2 * net->n_twins * sizeof *pairs);
        free(pairs);
    }
    /* the arenas are overwritten before they are read; zero them anyway so
     * a planning mistake shows as wrong numbers, not as uninitialised reads */
    be->zero(be, net->act, (size_t)off * sizeof(float));
    be->zero(be, net->grad, (size_t)off * sizeof(float));
    be->zero(be, net->params, (size_t)net->p_storage * sizeof(float));
    be->zero(be, net->pgrad, (size_t)net->p_storage * sizeof(float));
    be->zero(be, net->mom, (size_t)net->p_storage * sizeof(float));
    return CL_OK;
}

int net_init_params(cl_net *net, cl_rng *rng, cl_err *err)
{
    cl_backend *be = net->be;
    float *p = calloc((size_t)(net->p_storage ? net->p_storage : 1), sizeof *p);
    float *s = malloc((size_t)(net->n_state ? net->n_state : 1) * sizeof *s);
    if (!p || !s) {
        free(p);
        free(s);
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory initialising parameters");
    }
    for (int i = 0; i < net->n_nodes; i++) {
        const net_node *nd = &net->nodes[i];
        float *w = p + nd->p_off;
        if (nd->kind == NODE_CONV) {
            const conv_desc *d = &nd->u.conv;
            float b = 1.f / sqrtf((float)(d->cin / d->groups * d->kh * d->kw));
            for (long j = 0; j < nd->p_len; j++)
                w[j] = (2.f * rng_uniform(rng) - 1.f) * b;
        } else if (nd->kind == NODE_LINEAR) {
            int k = net->vals[nd->x].c;
            float b = 1.f / sqrtf((float)k);
            for (long j = 0; j < nd->p_len; j++)
                w[j] = (2.f * rng_uniform(rng) - 1.f) * b;
        } else if (nd->kind == NODE_BN) {
            int c = net->vals[nd->x].c;
            for (int j = 0; j < c; j++) {
                w[j] = 1.f;
                w[c + j] = 0.f;
                s[nd->s_off + j] = 0.f;              /* running mean */
                s[nd->s_off + c + j] = 1.f;          /* running var */
                s[nd->s_off + 2 * c + j] = 0.f;
                s[nd->s_off + 3 * c + j] = 1.f;
            }
        }
    }
    be->upload(be, net->params, p, (size_t)net->p_storage * sizeof *p);
    be->upload(be, net->state, s, (size_t)net->n_state * sizeof *s);
    be->zero(be, net->mom, (size_t)net->p_storage * sizeof(float));
    net->sgd_steps = 0;
    free(p);
    free(s);
    return CL_OK;
}

/* ---- running ---- */

void net_drop_path(cl_net *net, float prob, cl_rng *rng)
{
    size_t count = (size_t)net->n_paths * net->max_batch;
    long B = net->max_batch;
    float *h = net->path_host;
    if (prob <= 0.f || net->n_paths == 0) {
        net->drop_active = 0;
        return;
    }
    for (size_t i = 0; i < count; i++)
        h[i] = rng_uniform(rng) < prob ? 0.f : 1.f / (1.f - prob);
    for (int j = 0; j < net->n_nodes; j++) {
        const net_node *nd = &net->nodes[j];
        if (nd->twin_row >= 0)
            for (long i = 0; i < B; i++)
                h[nd->twin_row * B + i] = h[nd->path * B + i] + h[nd->path2 * B + i];
    }
    net->be->upload(net->be, net->path_scale, h, (count + (size_t)net->n_twins * B) * sizeof *h);
    net->drop_active = 1;
}

static const float *sscale_of(const cl_net *net, const net_node *nd)
{
    long row = nd->path;
    if (nd->twin)   /* two paths' scales summed, or the row of 2 */
        row = net->train && net->drop_active && nd->path >= 0 ? nd->twin_row
                                                             : net->n_paths + net->n_twins;
    else if (!net->train || !net->drop_active || nd->path < 0)
        return NULL;
    return net->path_scale + row * net->max_batch;
}

void net_drop_path_draw(cl_net *net, float prob, uint64_t seed, long step, const step_ref *sr)
{
    if (prob <= 0.f || net->n_paths == 0) {
        net->drop_active = 0;
        return;
    }
    net->be->drop_draw(net->be, seed, step, prob, (long)net->n_paths * net->max_batch,
                       net->twin_pairs, net->n_twins, net->max_batch, net->path_scale, sr);
    net->drop_active = 1;
}

float *net_input_buf(cl_net *net) { return net->act + net->vals[net->input].off; }

int *net_label_buf(cl_net *net) { return net->labels; }

int net_forward(cl_net *net, const float *x, int n, int train, cl_err *err)
{
    const net_value *in = &net->vals[net->input];
    int rc;
    if (n <= 0 || n > net->max_batch)
        return ERR_SET(err, CL_ERR_ARG, "batch of %d images: this network takes 1 to %d", n,
                       net->max_batch);
    net->be->upload(net->be, net_input_buf(net), x,
                    (size_t)n * in->c * in->h * in->w * sizeof(float));
    if ((rc = net_forward_queued(net, n, train, err)))
        return rc;
    return net->be->sync(net->be, err);
}

int net_forward_queued(cl_net *net, int n, int train, cl_err *err)
{
    cl_backend *be = net->be;
    /* a profile times the ops one after another, on be */
    int lanes = net->lanes && !net->prof_fwd, fused = 0, parts;
    double *st;
    if (n <= 0 || n > net->max_batch)
        return ERR_SET(err, CL_ERR_ARG, "batch of %d images: this network takes 1 to %d", n,
                       net->max_batch);
    net->batch = n;
    net->train = train;
    if (net_profile_marked(net))
        be->mark(be, 0);
    if (lanes)
        net_lanes_begin(net, 0);
    for (int i = 0; i < net->n_nodes; i++) {
        const net_node *nd = &net->nodes[i];
        tview vx = net_view(net, net->act, nd->x, n), vy = net_view(net, net->act, nd->y, n), mid;
        float *p = net->params + nd->p_off;
        const float *xab = NULL;
        double t0 = net->prof_fwd ? cl_now() : 0.0;
        if (nd->xbn >= 0) {   /* x: a batch norm's output, from its input */
            vx = net_view(net, net->act, net->nodes[nd->xbn].x, n);
            xab = net->bab + net->nodes[nd->xbn].bab_off;
        }
        if (lanes)
            be = net_lane_enter(net, 0, i);
        switch (nd->kind) {
        case NODE_CONV:
            /* the second half of a pair the one before ran: done (on
             * lanes, this node's lane has waited for that one) */
            if (fused) {
                fused = 0;
                break;
            }
            /* with the statistics of the batch norm after it, training,
             * where the backend takes them: after the pair, or after this
             * convolution alone */
            st = nd->sep ? stats_for(net, i, 2, train) : NULL;
            parts = st && be->sep_stats_parts
                        ? be->sep_stats_parts(be, &nd->u.conv, &nd[1].u.conv, n, vx.h, vx.w)
                        : 0;
            /* the depthwise output (mid) is read by nothing but the
             * pointwise filter gradient, which a pair whose backward takes
             * it (sepb 2) computes without it: then, or not training, the
             * fused forward need not write it */
            mid = vy;
            if (!train || nd->sepb == 2)
                mid.d = NULL;
            if (nd->sep && be->sep_fwd &&
                be->sep_fwd(be, &nd->u.conv, &nd[1].u.conv, vx, xab, p, mid,
                            net->params + nd[1].p_off, net_view(net, net->act, nd[1].y, n),
                            parts ? st : NULL)) {
                fused = 1;
                if (stats_from(net, i + 2, 2))
                    net->nodes[i + 2].bst_parts = parts;
            } else if (xab) {
                return ERR_SET(err, CL_ERR_INTERNAL,
                               "network: op %d, a separable pair reading through a batch norm, "
                               "not taken by the %s backend's fused forward", i, be->name);
            } else {
                st = stats_for(net, i, 1, train);
                parts = st && be->conv_stats_parts
                            ? be->conv_stats_parts(be, &nd->u.conv, n, vx.h, vx.w)
                            : 0;
                if (parts)
                    be->conv_fwd_stats(be, &nd->u.conv, vx, p, vy, st);
                else
                    be->conv_fwd(be, &nd->u.conv, vx, p, vy, nd->acc);
                if (stats_from(net, i + 1, 1))
                    net->nodes[i + 1].bst_parts = parts;
            }
            net->nodes[i].sep_ran = fused;
            break;
        case NODE_BN: {
            float *bs = net->state + nd->s_off;
            int c = vx.c;
            tview y2 = nd->y2 >= 0 ? net_view(net, net->act, nd->y2, n) : no_view;
            if (nd->bnin) {   /* the scale and shift for the pair after it */
                if (train && !nd->bst_parts)
                    return ERR_SET(err, CL_ERR_INTERNAL,
                                   "network: op %d, a batch norm the pair after it applies, "
                                   "without the statistics of its input", i);
                be->bn_affine(be, &nd->u.bn, vx, train, net->bst + nd->bst_off, nd->bst_parts, p,
                              p + c, bs + 2 * c, bs + 3 * c, bs, bs + c, net->bab + nd->bab_off);
            } else if (train && nd->bst_parts && be->bn_fwd_parts)
                be->bn_fwd_parts(be, &nd->u.bn, vx, net->bst + nd->bst_off, nd->bst_parts, p,
                                 p + c, bs + 2 * c, bs + 3 * c, bs, bs + c, vy, nd->acc,
                                 sscale_of(net, nd), y2, nd->acc2);
            else if (train)
                be->bn_fwd_train(be, &nd->u.bn, vx, p, p + c, bs + 2 * c, bs + 3 * c, bs, bs + c,
                                 vy, nd->acc, sscale_of(net, nd), y2, nd->acc2);
            else
                be->bn_fwd_eval(be, &nd->u.bn, vx, p, p + c, bs, bs + c, vy, nd->acc, y2,
                                nd->acc2);
            break;
        }
        case NODE_POOL:
            be->pool_fwd(be, &nd->u.pool, vx, vy, nd->acc, sscale_of(net, nd));
            break;
        case NODE_COPY:
            be->scale_copy(be, vx, vy, nd->acc, sscale_of(net, nd));
            break;
        case NODE_GAP:
            be->gap_fwd(be, vx, vy);
            break;
        case NODE_LINEAR:
            be->linear_fwd(be, n, vx.c, vy.c, vx.d, p, p + (long)vx.c * vy.c, vy.d);
            break;
        }
        if (lanes)
            net_lane_leave(net, 0, i);
        if (net_profile_marked(net)) {
            be->mark(be, i + 1);
        } else if (net->prof_fwd) {
            int rc = be->sync(be, err);
            if (rc)
                return rc;
            net->prof_fwd[i] += cl_now() - t0;
        }
    }
    if (lanes)
        net_lanes_end(net, 0);
    return CL_OK;
}

void net_loss_queued(cl_net *net, float *loss_dev, int *correct_dev, int backward,
                     const step_ref *sr)
{
    tview lg = net_view(net, net->act, net->logits, net->batch);
    tview dl = net_view(net, net->grad, net->logits, net->batch);
    net->be->xent(net->be, net->batch, lg.c, lg.d, net->labels, loss_dev, correct_dev,
                  backward ? dl.d : NULL, sr);
}

int net_loss(cl_net *net, const int *labels, float *loss, int *correct, int backward, cl_err *err)
{
    cl_backend *be = net->be;
    tview lg = net_view(net, net->act, net->logits, net->batch);
    tview dl = net_view(net, net->grad, net->logits, net->batch);
    int rc;
    be->upload(be, net->labels, labels, (size_t)net->batch * sizeof(int));
    be->xent(be, net->batch, lg.c, lg.d, net->labels, net->loss_dev, net->correct_dev,
             backward ? dl.d : NULL, NULL);
    if ((rc = be->sync(be, err)))
        return rc;
    be->download(be, loss, net->loss_dev, sizeof *loss);
    be->download(be, correct, net->correct_dev, sizeof *correct);
    if (!isfinite(*loss))
        return ERR_SET(err, CL_ERR_NUMERIC, "the loss is %s: training diverged",
                       isnan(*loss) ? "not a number" : "infinite");
    return CL_OK;
}

int net_backward(cl_net *net, cl_err *err)
{
    int rc = net_backward_queued(net, err);
    return rc ? rc : net->be->sync(net->be, err);
}

int net_backward_queued(cl_net *net, cl_err *err)
{
    cl_backend *be = net->be;
    int n = net->batch, lanes = net->lanes && !net->prof_bwd;
    if (!net->train)
        return ERR_SET(err, CL_ERR_INTERNAL, "backward after an evaluation forward");
    if (net_profile_marked(net))
        be->mark(be, net->n_nodes + 1);
    if (lanes)
        net_lanes_begin(net, 1);
    for (int i = net->n_nodes - 1; i >= 0; i--) {
        const net_node *nd = &net->nodes[i];
        tview vx = net_view(net, net->act, nd->x, n);
        tview dy = net_view(net, net->grad, nd->y, n), dx = net_view(net, net->grad, nd->x, n);
        float *p = net->params + nd->p_off, *g = net->pgrad + nd->p_off;
        /* x a batch norm's output, never written: from its input (sepb) */
        const float *xab = nd->xbn >= 0 ? net->bab + net->nodes[nd->xbn].bab_off : NULL;
        double t0 = net->prof_bwd ? cl_now() : 0.0;
        /* the second half of a pair whose backward runs at the first:
         * only its filter gradient here */
        int inner = i > 0 && nd[-1].sepb;
        if (lanes)
            be = net_lane_enter(net, 1, i);
        switch (nd->kind) {
        case NODE_CONV:
            if (nd->sepb) {   /* this pair's backward at once, dmid on chip */
                const net_node *pw = nd + 1;
                /* dy: the pair's own, or the batch norm after it's, the
                 * pair's made from that as it reads (gb) */
                const net_node *gn = nd->gbn >= 0 ? &net->nodes[nd->gbn] : NULL;
                tview pdy = net_view(net, net->grad, gn ? gn->y : pw->y, n);
                bn_grad_in gi, *gb = NULL;
                if (gn) {
                    gi.x = net_view(net, net->act, gn->x, n);
                    gi.f = net->bab + gn->bdy_off;
                    gi.sscale = sscale_of(net, gn);
                    gb = &gi;
                }
                if (xab)
                    vx = net_view(net, net->act, net->nodes[nd->xbn].x, n);
                /* the batch norm before it, whose dy it writes: with the
                 * sums of dy that one's backward needs, where it takes them */
                net_node *bn = i > 0 && nd[-1].bbst ? &net->nodes[i - 1] : NULL;
                int bp = bn && be->sep_bwd_stats_parts
                             ? be->sep_bwd_stats_parts(be, &nd->u.conv, &pw->u.conv, n, vx.h, vx.w)
                             : 0;
                if (bp)
                    be->sep_bwd_stats(be, &nd->u.conv, &pw->u.conv, vx, xab, p, pdy, gb,
                                      net->params + pw->p_off, dx, g,
                                      nd->sepb == 2 ? net->pgrad + pw->p_off : NULL,
                                      net_view(net, net->act, bn->x, n),
                                      net->state + bn->s_off + 2 * vx.c, net->bst + bn->bbst_off);
                else
                    be->sep_bwd(be, &nd->u.conv, &pw->u.conv, vx, xab, p, pdy, gb,
                                net->params + pw->p_off, dx, nd->dx_acc, g,
                                nd->sepb == 2 ? net->pgrad + pw->p_off : NULL);
                if (bn)
                    bn->bbst_parts = bp;
            } else if (inner && nd[-1].sepb == 2) {
                /* its filter gradient too: nothing left here */
            } else if (lanes && net_lanes_split(net, i)) {   /* the filter gradient below */
                if (!inner)
                    be->conv_bwd_data(be, &nd->u.conv, vx, p, dy, dx, nd->dx_acc);
            } else {
                be->conv_bwd(be, &nd->u.conv, vx, p, dy, dx, nd->need_dx && !inner, nd->dx_acc,
                             g);
            }
            break;
        case NODE_BN: {
            const float *st = net->state + nd->s_off;
            int c = vx.c;
            if (nd->bdy)   /* dx made by the pair before, from the factors; dy's
                            * sums as the pair after took them, or here */
                be->bn_bwd_factors(be, vx, dy, nd->bbst_parts ? NULL : sscale_of(net, nd),
                                   nd->bbst_parts ? net->bst + nd->bbst_off : NULL,
                                   nd->bbst_parts, p, st + 2 * c, st + 3 * c, g, g + c,
                                   net->bab + nd->bdy_off);
            else if (nd->bbst_parts && be->bn_bwd_parts)   /* dy's sums taken as it was written */
                be->bn_bwd_parts(be, vx, dy, net->bst + nd->bbst_off, nd->bbst_parts, p,
                                 st + 2 * c, st + 3 * c, sscale_of(net, nd), dx, nd->dx_acc, g,
                                 g + c);
            else
                be->bn_bwd(be, vx, dy,
                           nd->y2 >= 0 ? net_view(net, net->grad, nd->y2, n) : no_view, p,
                           st + 2 * c, st + 3 * c, sscale_of(net, nd), dx, nd->dx_acc, g, g + c);
            break;
        }
        case NODE_POOL:
            be->pool_bwd(be, &nd->u.pool, vx, dy, dx, nd->dx_acc, sscale_of(net, nd));
            break;
        case NODE_COPY:
            be->scale_copy(be, dy, dx, nd->dx_acc, sscale_of(net, nd));
            break;
        case NODE_GAP:
            be->gap_bwd(be, dy, dx, nd->dx_acc);
            break;
        case NODE_LINEAR: {
            int k = vx.c, m = net->vals[nd->y].c;
            be->linear_bwd(be, n, k, m, vx.d, p, dy.d, nd->need_dx ? dx.d : NULL, nd->dx_acc, g,
                           g + (long)k * m);
            break;
        }
        }
        if (lanes)
            net_lane_leave(net, 1, i);
        if (lanes && net_lanes_split(net, i)) {
            cl_backend *bf = net_lane_enter(net, 1, net->n_nodes + i);
            if (!nd->sepb && !(inner && nd[-1].sepb == 2))
                bf->conv_bwd_filter(bf, &nd->u.conv, vx, dy, g);
            net_lane_leave(net, 1, net->n_nodes + i);
        }
        if (net_profile_marked(net)) {
            be->mark(be, net->n_nodes + 2 + (net->n_nodes - 1 - i));
        } else if (net->prof_bwd) {
            int rc = be->sync(be, err);
            if (rc)
                return rc;
            net->prof_bwd[i] += cl_now() - t0;
        }
    }
    if (lanes)
        net_lanes_end(net, 1);
    return CL_OK;
}

void net_sgd(cl_net *net, float lr, float momentum, float weight_decay)
{
    net->be->sgd(net->be, net->p_storage, net->params, net->pgrad, net->mom, lr, momentum,
                 weight_decay, net->sgd_steps == 0, NULL);
    net->sgd_steps++;
}

/* The momentum buffer is zero until the first step (net_plan,
 * net_init_params), so mom * 0 + g is the first step's g exactly and no
 * "first" flag has to vary from step to step. */
void net_sgd_queued(cl_net *net, float momentum, float weight_decay, const step_ref *sr)
{
    net->be->sgd(net->be, net->p_storage, net->params, net->pgrad, net->mom, 0.f, momentum,
                 weight_decay, 0, sr);
    net->sgd_steps++;
}

void net_logits(cl_net *net, float *out)
{
    tview lg = net_view(net, net->act, net->logits, net->batch);
    net->be->download(net->be, out, lg.d, (size_t)net->batch * lg.c * sizeof(float));
}

int net_profile(cl_net *net, int on, cl_err *err)
{
    int nm = 2 * (net->n_nodes + 1);
    free(net->prof_fwd);
    free(net->prof_bwd);
    free(net->prof_t);
    net->prof_fwd = net->prof_bwd = net->prof_t = NULL;
    if (net->prof_marks)
        net->be->marks(net->be, 0, NULL);
    net->prof_marks = 0;
    if (!on)
        return CL_OK;
    net->prof_fwd = calloc((size_t)net->n_nodes, sizeof(double));
    net->prof_bwd = calloc((size_t)net->n_nodes, sizeof(double));
    net->prof_t = calloc((size_t)nm, sizeof(double));
    if (!net->prof_fwd || !net->prof_bwd || !net->prof_t) {
        free(net->prof_fwd);
        free(net->prof_bwd);
        free(net->prof_t);
        net->prof_fwd = net->prof_bwd = net->prof_t = NULL;
        return ERR_SET(err, CL_ERR_NOMEM, "profile: out of memory");
    }
    /* marks where the backend has them; else (or if they cannot be
     * made) each node waited for */
    if (net->be->marks && net->be->mark && net->be->mark_times) {
        cl_err why = {0};
        net->prof_marks = net->be->marks(net->be, nm, &why) == CL_OK;
    }
    return CL_OK;
}

int net_profile_marked(const cl_net *net) { return net->prof_fwd && net->prof_marks; }

int net_profile_take(cl_net *net, cl_err *err)
{
    int n = net->n_nodes, rc;
    const double *t = net->prof_t;
    if (!net_profile_marked(net))
        return CL_OK;
    if ((rc = net->be->mark_times(net->be, net->prof_t, 2 * (n + 1), err)))
        return rc;
    for (int i = 0; i < n; i++) {
        int k = n - 1 - i;   /* the backward takes node i k-th */
        net->prof_fwd[i] += t[i + 1] - t[i];
        net->prof_bwd[i] += t[n + 2 + k] - t[n + 1 + k];
    }
    return CL_OK;
}

static void node_class(const cl_net *net, const net_node *nd, char *out, size_t cap)
{
    const net_value *vx = &net->vals[nd->x];
    switch (nd->kind) {
    case NODE_CONV: {
        const conv_desc *d = &nd->u.conv;
        /* a depthwise convolution whose forward ran with the next node's
         * (the pointwise half) is a class of its own: its forward time
         * holds both halves' */
        const char *what = nd->sep_ran                              ? "separable"
                           : d->groups > 1 && d->groups == d->cin ? "depthwise"
                           : d->kh == 1 && d->kw == 1             ? "pointwise"
                                                                  : "conv";
        snprintf(out, cap, "%s %dx%d s%d%s @%d", what, d->kh, d->kw, d->sh, d->relu_in ? " relu" : "",
                 vx->h);
        break;
    }
    case NODE_BN:   /* with an identity folded in, applied by the pair after
                     * it, or back-propagated through by the pair before it, a
                     * class of its own */
        snprintf(out, cap, "batch norm%s @%d",
                 nd->y2 >= 0                ? " + identity"
                 : nd->bnin && nd->bdy      ? " in ops around it"
                 : nd->bnin                 ? " in the next op"
                 : nd->bdy                  ? " dx in the op before"
                                            : "",
                 vx->h);
        break;
    case NODE_POOL:   /* twins a class of their own */
        snprintf(out, cap, "%s pool %dx%d s%d%s @%d", nd->u.pool.kind == POOL_MAX ? "max" : "avg",
                 nd->u.pool.k, nd->u.pool.k, nd->u.pool.s, nd->twin ? " twin" : "", vx->h);
        break;
    case NODE_COPY:
        snprintf(out, cap, "identity @%d", vx->h);
        break;
    case NODE_GAP:
        snprintf(out, cap, "global average pool");
        break;
    case NODE_LINEAR:
        snprintf(out, cap, "linear");
        break;
    }
}

/* The least memory traffic of node nd for a batch of n, forward and
 * backward, in bytes: every tensor it reads or writes passed once (an
 * output added into is read too), parameters and their gradients once.
 * What the device moves beyond this (second passes, staging, partial
 * sums) shows as bandwidth below the memory's. */
static void node_bytes(const cl_net *net, const net_node *nd, int n, double *fwd, double *bwd)
{
    const net_value *vx = &net->vals[nd->x], *vy = &net->vals[nd->y];
    double x = 4.0 * n * vx->c * vx->h * vx->w, y = 4.0 * n * vy->c * vy->h * vy->w;
    double p = 4.0 * (double)nd->p_len;
    double dx = nd->need_dx ? x * (nd->dx_acc ? 2 : 1) : 0.0;
    /* the second half of a pair run as one reads its input where it was
     * made, not from memory */
    int inner = nd > net->nodes && nd[-1].sep_ran;
    *fwd = (inner ? 0.0 : x) + y * (nd->acc ? 2 : 1) + p;
    if (nd->sep_ran && nd->sepb == 2)   /* its output, mid, is not written */
        *fwd -= y;
    if (nd->kind == NODE_CONV && nd->sepb) {   /* the pair's dy, not dmid; wp read (and
                                                * with sepb 2 its gradient written) */
        const net_value *vz = &net->vals[nd[1].y];
        *bwd = 4.0 * n * vz->c * vz->h * vz->w + x + dx + 2 * p +
               4.0 * (double)nd[1].p_len * (nd->sepb == 2 ? 2 : 1);
        /* the batch norm's input, for its sums (x itself when the pair
         * reads through that batch norm) */
        if (nd > net->nodes && nd[-1].bbst_parts && nd->xbn < 0)
            *bwd += x;
        /* dy made from the batch norm after it's: that one's input too */
        if (nd->gbn >= 0)
            *bwd += 4.0 * n * vz->c * vz->h * vz->w;
        return;
    }
    if (nd->kind == NODE_CONV && nd > net->nodes && nd[-1].sepb) {   /* the filter gradient */
        *bwd = nd[-1].sepb == 2 ? 0.0 : y + x + 2 * p;
        return;
    }
    switch (nd->kind) {
    case NODE_BN:     /* dy, x, dx; gamma read, their gradients written; with an
                       * identity folded in, y2 written (or added to) and its
                       * gradient read */
        /* bdy: the factors alone, from dy's sums given or taken here */
        *bwd = nd->bdy ? (nd->bbst_parts ? 0.0 : y + x) + 2 * p : y + x + dx + 2 * p;
        if (nd->bnin)   /* forward: its scale and shift alone, from sums given */
            *fwd = p;
        if (nd->y2 >= 0) {
            *fwd += y * (nd->acc2 ? 2 : 1);
            *bwd += y;
        }
        break;
    case NODE_CONV:   /* dy, x for the filter gradient, dx; w read, dw written */
    case NODE_LINEAR:
        *bwd = y + x + dx + 2 * p;
        break;
    case NODE_POOL:   /* max pooling looks at x again */
        *bwd = y + dx + (nd->u.pool.kind == POOL_MAX ? x : 0.0);
        break;
    default:          /* identity, global average pooling */
        *bwd = y + dx;
        break;
    }
}

static int prof_cmp(const void *a, const void *b)
{
    const net_prof_row *x = a, *y = b;
    double tx = x->fwd + x->bwd, ty = y->fwd + y->bwd;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

int net_profile_report(const cl_net *net, net_prof_row *rows, int max)
{
    int n = 0;
    if (!net->prof_fwd || max <= 0)
        return 0;
    for (int i = 0; i < net->n_nodes; i++) {
        char name[48];
        int j;
        node_class(net, &net->nodes[i], name, sizeof name);
        for (j = 0; j < n && strcmp(rows[j].name, name); j++)
            ;
        if (j == n) {
            if (n == max)
                continue;
            memset(&rows[n], 0, sizeof rows[n]);
            snprintf(rows[n].name, sizeof rows[n].name, "%s", name);
            n++;
        }
        rows[j].fwd += net->prof_fwd[i];
        rows[j].bwd += net->prof_bwd[i];
        {
            double bf, bb;
            node_bytes(net, &net->nodes[i], net->batch, &bf, &bb);
            rows[j].fwd_bytes += bf;
            rows[j].bwd_bytes += bb;
        }
        rows[j].count++;
    }
    qsort(rows, (size_t)n, sizeof *rows, prof_cmp);
    return n;
}

long net_param_count(const cl_net *net) { return net->n_params; }

size_t net_memory(const cl_net *net) { return net->arena_bytes; }

int net_identity_folds(const cl_net *net)
{
    int k = 0;
    for (int i = 0; i < net->n_nodes; i++)
        k += net->nodes[i].y2 >= 0;
    return k;
}

int net_bn_applied(const cl_net *net)
{
    int k = 0;
    for (int i = 0; i < net->n_nodes; i++)
        k += net->nodes[i].bnin;
    return k;
}

int net_bn_dx_fused(const cl_net *net)
{
    int k = 0;
    for (int i = 0; i < net->n_nodes; i++)
        k += net->nodes[i].bdy;
    return k;
}

int net_twin_pools(const cl_net *net)
{
    int k = 0;
    for (int i = 0; i < net->n_nodes; i++)
        k += net->nodes[i].twin;
    return k;
}

double net_flops(const cl_net *net)
{
    double f = 0.0;
    for (int i = 0; i < net->n_nodes; i++) {
        const net_node *nd = &net->nodes[i];
        const net_value *vy = &net->vals[nd->y];
        if (nd->kind == NODE_CONV) {
            const conv_desc *d = &nd->u.conv;
            f += 2.0 * d->cout * vy->h * vy->w * (d->cin / d->groups) * d->kh * d->kw;
        } else if (nd->kind == NODE_LINEAR) {
            f += 2.0 * net->vals[nd->x].c * vy->c;
        }
    }
    return f;
}
