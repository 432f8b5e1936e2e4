/* lanes.c - a network's independent ops on several queues at once.
 *
 * Where the backend has lanes (be->lanes > 1: a GPU's streams), net_plan
 * asks here for a schedule of each pass (forward in node order, backward
 * in reverse): which lane runs each op, and which events order it after
 * ops on other lanes.  Node j must follow node i (earlier in the pass)
 * when one of them writes a region of an arena that the other reads or
 * writes: a value of the activation arena forward, of the gradient arena
 * backward, a channel slice being the part of its parent it covers.
 * Nothing else is shared between nodes: every value has its own memory
 * (the arenas are not reused), every node its own parameters, gradients
 * and statistics, every lane its own scratch.
 *
 * Backward, a convolution whose input wants a gradient is two entries:
 * its data gradient (entry i, on the chain the gradients flow along) and
 * its filter gradient (entry n + i), which nothing but the update reads,
 * so it may run on another lane beside the rest of the backward pass.
 *
 * Each entry goes to the lane where it could start first if every entry
 * took the same time (a list schedule: an entry is ready when the entries
 * it must follow are done, a lane is free when its last entry is done),
 * of equal lanes preferring one whose last entry it must follow (the
 * lane's order then carries the dependency with no event); for its
 * dependencies on other lanes it waits for the event of the latest such
 * entry on each, unless its lane has already waited for that entry or a
 * later one there.  A pass starts with every lane waiting for the first
 * lane (where the batch, the masks and the loss were queued) and ends
 * with the first lane waiting for each lane, so whatever comes before
 * and after a pass (and a recorded graph's end) sees one queue. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "nn/net.h"

/* A pass's entries: node i is entry i; backward, a split convolution's
 * filter gradient is entry n + i (n nodes) */
typedef struct lane_pass {
    int *lane;             /* [2n] the lane of entry e */
    int *wait_at;          /* [2n + 1]: entry e waits for the events of */
    int *wait;             /* wait[wait_at[e] .. wait_at[e + 1]) (entries) */
    void **ev;             /* [2n] entry e's event, where some entry waits for it */
    void *fork;            /* recorded on lane 0 as the pass starts */
    int waits;             /* events waited for in the pass */
} lane_pass;

struct net_lanes {
    int k;                 /* lanes the schedules use */
    cl_backend **be;       /* [k]: be[0] is the network's backend */
    void **join;           /* [k]: recorded on lane l after its last node of a pass */
    unsigned char *in[2];  /* [k]: lane l runs nodes in the pass */
    lane_pass pass[2];     /* forward, backward */
};

typedef struct region {
    int grad, root, c0, c1;
} region;

static region region_of(const cl_net *net, int v, int grad)
{
    region r;
    r.grad = grad;
    net_value_span(net, v, &r.root, &r.c0, &r.c1);
    return r;
}

static int overlap(const region *a, const region *b)
{
    return a->grad == b->grad && a->root == b->root && a->c0 < b->c1 && b->c0 < a->c1;
}

/* what node i reads and writes in a pass: at most three regions read,
 * two written (a batch norm with an identity folded in: its y2) */
typedef struct node_io {
    region rd[3], wr[2];
    int nr, nw;
} node_io;

/* whether node i's backward is split in two entries */
static int split(const cl_net *net, int i)
{
    return net->nodes[i].kind == NODE_CONV && net->nodes[i].need_dx;
}

static node_io io_of(const cl_net *net, int pass, int e)
{
    int n = net->n_nodes, i = e < n ? e : e - n;
    const net_node *nd = &net->nodes[i];
    node_io io;
    memset(&io, 0, sizeof io);
    if (e >= n) {   /* a filter gradient: reads the output's gradient */
        io.rd[io.nr++] = region_of(net, nd->y, 1);
        return io;
    }
    if (pass == 0) {
        io.rd[io.nr++] = region_of(net, nd->x, 0);
        if (nd->acc)
            io.rd[io.nr++] = region_of(net, nd->y, 0);
        io.wr[io.nw++] = region_of(net, nd->y, 0);
        if (nd->y2 >= 0) {
            if (nd->acc2)
                io.rd[io.nr++] = region_of(net, nd->y2, 0);
            io.wr[io.nw++] = region_of(net, nd->y2, 0);
        }
    } else {
        /* activations are only read backward: the gradients order it */
        io.rd[io.nr++] = region_of(net, nd->y, 1);
        if (nd->y2 >= 0)
            io.rd[io.nr++] = region_of(net, nd->y2, 1);
        if (nd->need_dx) {
            if (nd->dx_acc)
                io.rd[io.nr++] = region_of(net, nd->x, 1);
            io.wr[io.nw++] = region_of(net, nd->x, 1);
        }
    }
    return io;
}

/* whether b must follow a: one writes what the other touches */
static int conflict(const node_io *a, const node_io *b)
{
    for (int w = 0; w < a->nw; w++) {
        for (int v = 0; v < b->nw; v++)
            if (overlap(&a->wr[w], &b->wr[v]))
                return 1;
        for (int r = 0; r < b->nr; r++)
            if (overlap(&a->wr[w], &b->rd[r]))
                return 1;
    }
    for (int v = 0; v < b->nw; v++)
        for (int r = 0; r < a->nr; r++)
            if (overlap(&b->wr[v], &a->rd[r]))
                return 1;
    return 0;
}

static void pass_free(cl_net *net, lane_pass *p)
{
    cl_backend *be = net->be;
    if (p->ev)
        for (int e = 0; e < 2 * net->n_nodes; e++)
            if (p->ev[e])
                be->event_free(be, p->ev[e]);
    if (p->fork)
        be->event_free(be, p->fork);
    free(p->lane);
    free(p->wait_at);
    free(p->wait);
    free(p->ev);
    memset(p, 0, sizeof *p);
}

void net_lanes_free(cl_net *net)
{
    struct net_lanes *L = net->lanes;
    if (!L)
        return;
    /* each lane waits for its own work as it goes (destroy) */
    for (int l = 1; l < L->k; l++)
        if (L->be && L->be[l])
            L->be[l]->destroy(L->be[l]);
    for (int q = 0; q < 2; q++)
        pass_free(net, &L->pass[q]);
    for (int l = 0; l < L->k; l++)
        if (L->join && L->join[l])
            net->be->event_free(net->be, L->join[l]);
    free(L->be);
    free(L->join);
    free(L->in[0]);
    free(L->in[1]);
    free(L);
    net->lanes = NULL;
}

/* The schedule of one pass over k lanes; the lanes it uses are marked in
 * `in`.  Returns CL_OK or CL_ERR_NOMEM. */
static int schedule(const cl_net *net, int pass, int k, lane_pass *p, unsigned char *in)
{
    int n = net->n_nodes, rc = CL_ERR_NOMEM, cap = 0, nw = 0, at = 0, m = 0;
    int *order = malloc((size_t)2 * n * sizeof *order);
    int *from = malloc((size_t)(2 * n + 1) * sizeof *from), *pos = malloc((size_t)2 * n * sizeof *pos);
    int *tail = malloc((size_t)k * sizeof *tail), *seen = malloc((size_t)k * k * sizeof *seen);
    int *latest = malloc((size_t)k * sizeof *latest), *w = NULL;
    long *done = malloc((size_t)2 * n * sizeof *done), *free_at = calloc((size_t)k, sizeof *free_at);
    node_io *io = malloc((size_t)2 * n * sizeof *io);
    p->lane = malloc((size_t)2 * n * sizeof *p->lane);
    p->wait_at = malloc((size_t)(2 * n + 1) * sizeof *p->wait_at);
    p->ev = calloc((size_t)2 * n, sizeof *p->ev);
    if (!order || !from || !pos || !tail || !seen || !latest || !done || !free_at || !io ||
        !p->lane || !p->wait_at || !p->ev)
        goto out;
    /* the entries in the order the pass queues them: position q runs
     * entry order[q] */
    for (int j = 0; j < n; j++) {
        int i = pass == 0 ? j : n - 1 - j;
        order[m++] = i;
        if (pass == 1 && split(net, i))
            order[m++] = n + i;
    }
    for (int e = 0; e < 2 * n; e++) {
        pos[e] = -1;
        p->lane[e] = 0;
    }
    for (int q = 0; q < m; q++) {
        io[q] = io_of(net, pass, order[q]);
        pos[order[q]] = q;
    }
    for (int l = 0; l < k; l++) {
        tail[l] = -1;
        for (int j = 0; j < k; j++)
            seen[l * k + j] = -1;
    }
    /* the waits of position q: w[from[q] .. from[q + 1]) */
    for (int q = 0; q < m; q++) {
        int best = 0;
        long ready = 0, start = -1;
        /* the latest position on each lane that this entry must follow,
         * and when the last of them is done */
        for (int l = 0; l < k; l++)
            latest[l] = -1;
        for (int r = 0; r < q; r++)
            if (conflict(&io[r], &io[q])) {
                latest[p->lane[order[r]]] = r;
                ready = done[r] > ready ? done[r] : ready;
            }
        /* the lane where it can start first; of equals, one whose last
         * entry it follows (no event), else the first */
        for (int l = 0; l < k; l++) {
            long at = free_at[l] > ready ? free_at[l] : ready;
            int cont = latest[l] >= 0 && latest[l] == tail[l];
            int best_cont = latest[best] >= 0 && latest[best] == tail[best];
            if (start < 0 || at < start || (at == start && cont && !best_cont)) {
                start = at;
                best = l;
            }
        }
        done[q] = start + 1;
        free_at[best] = done[q];
        p->lane[order[q]] = best;
        from[q] = nw;
        for (int l = 0; l < k; l++) {
            if (l == best || latest[l] < 0 || latest[l] <= seen[best * k + l])
                continue;
            if (cl_grow(&w, sizeof *w, nw + 1, &cap, 64))
                goto out;
            w[nw++] = order[latest[l]];
            seen[best * k + l] = latest[l];
        }
        tail[best] = q;
        in[best] = 1;
    }
    from[m] = nw;
    /* the same waits by entry */
    if (!(p->wait = malloc((size_t)(nw ? nw : 1) * sizeof *p->wait)))
        goto out;
    for (int e = 0; e < 2 * n; e++) {
        int q = pos[e];
        p->wait_at[e] = at;
        for (int j = q < 0 ? 0 : from[q]; q >= 0 && j < from[q + 1]; j++)
            p->wait[at++] = w[j];
    }
    p->wait_at[2 * n] = at;
    p->waits = nw;
    rc = CL_OK;
out:
    free(order);
    free(from);
    free(pos);
    free(tail);
    free(seen);
    free(latest);
    free(done);
    free(free_at);
    free(io);
    free(w);
    return rc;
}

int net_lanes_plan(cl_net *net, cl_err *err)
{
    cl_backend *be = net->be;
    struct net_lanes *L;
    int k = be->lanes, used = 1;
    if (k <= 1 || !be->lane_new || !be->event_new || !be->event_record || !be->event_wait ||
        !be->event_free || net->n_nodes < 2)
        return CL_OK;
    if (!(L = calloc(1, sizeof *L)))
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory for its lanes");
    net->lanes = L;
    L->k = k;
    if (!(L->in[0] = calloc((size_t)k, 1)) || !(L->in[1] = calloc((size_t)k, 1)) ||
        schedule(net, 0, k, &L->pass[0], L->in[0]) ||
        schedule(net, 1, k, &L->pass[1], L->in[1])) {
        net_lanes_free(net);
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory for its lanes");
    }
    for (int l = 0; l < k; l++)
        if (L->in[0][l] || L->in[1][l])
            used = l + 1;
    if (used == 1) {   /* nothing to run side by side */
        net_lanes_free(net);
        return CL_OK;
    }
    L->k = used;
    if (!(L->be = calloc((size_t)used, sizeof *L->be)) ||
        !(L->join = calloc((size_t)used, sizeof *L->join))) {
        net_lanes_free(net);
        return ERR_SET(err, CL_ERR_NOMEM, "network: out of memory for its lanes");
    }
    L->be[0] = be;
    for (int l = 1; l < used; l++) {
        int rc = be->lane_new(be, &L->be[l], err);
        if (rc) {
            net_lanes_free(net);
            return rc;
        }
    }
    for (int q = 0; q < 2; q++) {
        lane_pass *p = &L->pass[q];
        for (int j = 0; j < p->wait_at[2 * net->n_nodes]; j++)
            if (!p->ev[p->wait[j]] && !(p->ev[p->wait[j]] = be->event_new(be, err))) {
                net_lanes_free(net);
                return err ? err->code : CL_ERR_BACKEND;
            }
        if (!(p->fork = be->event_new(be, err))) {
            net_lanes_free(net);
            return err ? err->code : CL_ERR_BACKEND;
        }
    }
    for (int l = 1; l < used; l++)
        if (!(L->join[l] = be->event_new(be, err))) {
            net_lanes_free(net);
            return err ? err->code : CL_ERR_BACKEND;
        }
    return CL_OK;
}

cl_backend *net_lane_backend(const cl_net *net, int pass, int e)
{
    const struct net_lanes *L = net->lanes;
    return L ? L->be[L->pass[pass].lane[e]] : net->be;
}

int net_lanes_split(const cl_net *net, int i)
{
    return net->lanes && split(net, i);
}

void net_lanes_begin(cl_net *net, int pass)
{
    struct net_lanes *L = net->lanes;
    lane_pass *p;
    if (!L)
        return;
    p = &L->pass[pass];
    net->be->event_record(net->be, p->fork);
    for (int l = 1; l < L->k; l++)
        if (L->in[pass][l])
            L->be[l]->event_wait(L->be[l], p->fork);
}

cl_backend *net_lane_enter(cl_net *net, int pass, int e)
{
    struct net_lanes *L = net->lanes;
    lane_pass *p;
    cl_backend *b;
    if (!L)
        return net->be;
    p = &L->pass[pass];
    b = L->be[p->lane[e]];
    for (int j = p->wait_at[e]; j < p->wait_at[e + 1]; j++)
        b->event_wait(b, p->ev[p->wait[j]]);
    return b;
}

void net_lane_leave(cl_net *net, int pass, int e)
{
    struct net_lanes *L = net->lanes;
    if (L && L->pass[pass].ev[e]) {
        cl_backend *b = L->be[L->pass[pass].lane[e]];
        b->event_record(b, L->pass[pass].ev[e]);
    }
}

void net_lanes_end(cl_net *net, int pass)
{
    struct net_lanes *L = net->lanes;
    if (!L)
        return;
    for (int l = 1; l < L->k; l++)
        if (L->in[pass][l]) {
            L->be[l]->event_record(L->be[l], L->join[l]);
            net->be->event_wait(net->be, L->join[l]);
        }
}

int net_lanes_used(const cl_net *net, int *waits)
{
    const struct net_lanes *L = net->lanes;
    if (waits)
        *waits = L ? L->pass[0].waits + L->pass[1].waits : 0;
    return L ? L->k : 1;
}
