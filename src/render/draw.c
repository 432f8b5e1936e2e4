/* draw.c - a laid-out cell drawn into a grid of terminal characters: boxes
 * with centred labels (shortened when columns are short), edges as
 * orthogonal lines that turn and cross with box-drawing characters, an
 * arrow where each edge enters its head.  The screen's cell pane and
 * `cellar render --format ascii` both draw through here.
 *
 * How a drawing is planned:
 *   columns  node centres are Graphviz x scaled (at most one column per
 *            RENDER_COL_PT points, less when the rectangle is narrow); a
 *            box takes the longest label form that fits between its
 *            neighbours on the same rank.
 *   ranks    nodes at one Graphviz y form a rank, drawn as a band of rows
 *            (boxes 3 rows tall, or 1 when rows are short) with a gap of
 *            rows below it.
 *   edges    an edge leaves its tail's bottom centre and, in every gap it
 *            crosses, turns once along a "jog" row to the column where it
 *            passes the next band (the spline's x there, moved clear of
 *            boxes) or enters its head (the head's centre, under the
 *            arrow).  Segments from one source, or into one head, share a
 *            jog row (one signal, or lines that meet anyway); other
 *            segments whose spans overlap get different rows while there
 *            are rows (interval colouring), so two sources never merge
 *            into one line.
 *   rows     each gap gets the jog rows it needs plus one for arrows; when
 *            the rectangle is short the title's blank line, then 3-row
 *            boxes, then the extra jog rows give way, in that order.
 * Edges are drawn first and boxes over them, so labels are never
 * overwritten; every write is clipped to the rectangle. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "render/render.h"
#include "render/render_priv.h"

enum { DIR_N = 1, DIR_S = 2, DIR_E = 4, DIR_W = 8 };

/* Shorter forms of the labels render_cell_layout writes, longest first;
 * other labels are only cut. */
static const char *const label_table[][3] = {
    {"h[i-1]", "hi-1", "h0"},    {"h[i]", "hi", "h1"},        {"sep 3x3", "sep3", "s3"},
    {"sep 5x5", "sep5", "s5"},   {"sep 7x7", "sep7", "s7"},   {"dil 3x3", "dil3", "d3"},
    {"conv 1x1", "cv1", "c1"},   {"conv 3x3", "cv3", "c3"},   {"1x3+3x1", "1x3", "f3"},
    {"1x7+7x1", "1x7", "f7"},    {"avg 3x3", "avg3", "a3"},   {"max 3x3", "max3", "m3"},
    {"max 5x5", "max5", "m5"},   {"max 7x7", "max7", "m7"},   {"identity", "id", "id"},
    {"add", "add", "+"},         {"concat", "cat", "||"},     {"out: add", "out", "o"},
    {"out: concat", "out", "o"},
};

typedef struct dnode {
    int rank;       /* -1: a title, drawn above the bands */
    int cx;         /* centre column */
    int l, r;       /* its box's columns; l > r when there is no room for it */
    int framed;     /* borders (3-row box) or brackets (1-row box) */
    char text[32];  /* the label as drawn */
} dnode;

typedef struct plan {
    const render_layout *L;
    int top, left, rows, cols;
    int nranks;
    double *rank_y;     /* [n_nodes] Graphviz y of each rank, top first */
    dnode *nd;          /* [n_nodes] */
    int *ra, *rb;       /* [n_edges] ranks of tail and head */
    int *xs;            /* [n_edges * stride] column at ranks ra..rb */
    int *colour;        /* [n_edges * stride] jog row of each gap from ra (-1: straight down) */
    int *ncol;          /* [n_nodes] jog rows gap k needs */
    int stride;
    int title;          /* node index of the title, or -1 */
    /* the vertical plan */
    int title_rows, box_h, gap_mode, cap;   /* box_h 3: 3-row boxes where a rank is all framed */
    int *band_h;        /* [n_nodes] rows of band k: 3, or 1 when any box in it is bare */
    int *rank_row;      /* [n_nodes] first row of each band */
    int *gap_rows;      /* [n_nodes] rows of the gap below band k */
    int used_rows;
    double edge_q;      /* 0..1: how well its edges read (rows to spare) */
    double label_q;     /* 0..1: how much of the labels it shows */
    /* drawing */
    double xmin, scale, off;
} plan;

enum { GAP_FULL, GAP_MERGED, GAP_NONE };

static void plan_free(plan *p)
{
    free(p->rank_y);
    free(p->nd);
    free(p->ra);
    free(p->rb);
    free(p->xs);
    free(p->colour);
    free(p->ncol);
    free(p->rank_row);
    free(p->gap_rows);
    free(p->band_h);
    memset(p, 0, sizeof *p);
}

/* the three forms of a label, longest first (unknown labels: itself) */
static void label_forms(const char *label, const char *forms[3])
{
    for (size_t i = 0; i < sizeof label_table / sizeof label_table[0]; i++)
        if (!strcmp(label, label_table[i][0])) {
            forms[0] = label_table[i][0];
            forms[1] = label_table[i][1];
            forms[2] = label_table[i][2];
            return;
        }
    forms[0] = forms[1] = forms[2] = label;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* nodes sharing a Graphviz y (within a point) are one rank */
static void find_ranks(plan *p)
{
    const render_layout *L = p->L;
    int n = 0;
    for (int i = 0; i < L->n_nodes; i++)
        if (L->nodes[i].kind != RK_TITLE)
            p->rank_y[n++] = L->nodes[i].y;
    qsort(p->rank_y, (size_t)n, sizeof(double), cmp_desc);
    p->nranks = 0;
    for (int i = 0; i < n; i++)
        if (p->nranks == 0 || p->rank_y[p->nranks - 1] - p->rank_y[i] > 1.0)
            p->rank_y[p->nranks++] = p->rank_y[i];
    p->title = -1;
    for (int i = 0; i < L->n_nodes; i++) {
        double best = INFINITY;
        p->nd[i].rank = -1;
        if (L->nodes[i].kind == RK_TITLE) {
            if (p->title < 0)
                p->title = i;
            continue;
        }
        for (int k = 0; k < p->nranks; k++)
            if (fabs(p->rank_y[k] - L->nodes[i].y) < best) {
                best = fabs(p->rank_y[k] - L->nodes[i].y);
                p->nd[i].rank = k;
            }
    }
}

static int col_of(const plan *p, double x)
{
    double c = p->off + (x - p->xmin) * p->scale;
    if (!(c > -1e6 && c < 1e6))   /* NaN or absurd: keep integer conversion defined */
        c = 0;
    return p->left + (int)floor(c + 0.5);
}

/* The ways to show a label, best first: each form framed with a space
 * either side, then framed tight (choices 0-5), each form bare (6-8),
 * the shortest form cut (9). */
enum { CHOICE_BARE = 6, CHOICE_CUT = 9, CHOICES = 10 };

/* Width of choice `ch` of a label in `avail` columns (0: it does not fit),
 * and the text and framing it draws. */
static int label_choice(dnode *d, const char *label, int ch, int avail)
{
    const char *forms[3];
    int len, w;
    label_forms(label, forms);
    d->framed = ch < CHOICE_BARE;
    if (ch < CHOICE_BARE) {
        len = (int)strlen(forms[ch / 2]);
        w = len + (ch % 2 ? 2 : 4);
        snprintf(d->text, sizeof d->text, "%s", forms[ch / 2]);
    } else if (ch < CHOICE_CUT) {
        w = len = (int)strlen(forms[ch - CHOICE_BARE]);
        snprintf(d->text, sizeof d->text, "%s", forms[ch - CHOICE_BARE]);
    } else {
        w = len = CL_MIN((int)strlen(forms[2]), avail);
        snprintf(d->text, sizeof d->text, "%.*s", CL_MAX(len, 0), forms[2]);
    }
    return w <= avail && w > 0 ? w : 0;
}

/* the first choice from `from` on that fits; CHOICES when none does */
static int first_fit(dnode *d, const char *label, int from, int avail)
{
    for (int ch = from; ch < CHOICES; ch++)
        if (label_choice(d, label, ch, avail) > 0)
            return ch;
    return CHOICES;
}

/* Place the boxes of one rank: centres kept in order at least a column
 * apart, each box inside the columns between its neighbours' (one column
 * of space left between two boxes when there is any). */
static void place_rank(plan *p, int k, int *idx)
{
    const render_layout *L = p->L;
    int n = 0, lo_edge = p->left, hi_edge = p->left + p->cols - 1, worst = 0;
    for (int i = 0; i < L->n_nodes; i++)
        if (p->nd[i].rank == k)
            idx[n++] = i;
    /* insertion sort by centre, then Graphviz x: a rank holds a few nodes */
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && (p->nd[idx[j]].cx > p->nd[v].cx ||
                          (p->nd[idx[j]].cx == p->nd[v].cx && L->nodes[idx[j]].x > L->nodes[v].x))) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
    for (int i = 1; i < n; i++)
        if (p->nd[idx[i]].cx <= p->nd[idx[i - 1]].cx)
            p->nd[idx[i]].cx = p->nd[idx[i - 1]].cx + 1;
    /* the columns each box may take: one free column between neighbours */
    for (int i = 0; i < n; i++) {
        dnode *d = &p->nd[idx[i]];
        d->l = lo_edge;
        d->r = hi_edge;
        if (i > 0) {
            int a = p->nd[idx[i - 1]].cx, b = d->cx;
            d->l = CL_MAX(lo_edge, b - a >= 2 ? (a + b) / 2 + 1 : b);
        }
        if (i + 1 < n) {
            int a = d->cx, b = p->nd[idx[i + 1]].cx;
            d->r = CL_MIN(hi_edge, b - a >= 2 ? (a + b) / 2 - 1 : a);
        }
    }
    /* one way of showing labels for the whole rank (the worst any box
     * needs), so a rank never mixes "sep 5x5" with "s5" */
    for (int i = 0; i < n; i++) {
        dnode *d = &p->nd[idx[i]];
        worst = CL_MAX(worst, first_fit(d, L->nodes[idx[i]].label, 0, d->r - d->l + 1));
    }
    for (int i = 0; i < n; i++) {
        dnode *d = &p->nd[idx[i]];
        int lo = d->l, hi = d->r, w = 0, l, ch;
        ch = first_fit(d, L->nodes[idx[i]].label, worst, hi - lo + 1);
        if (ch < CHOICES)
            w = label_choice(d, L->nodes[idx[i]].label, ch, hi - lo + 1);
        d->l = 0;
        d->r = -1;
        if (w <= 0)
            continue;
        l = d->cx - (w - 1) / 2;
        if (l < lo)
            l = lo;
        if (l + w - 1 > hi)
            l = hi - w + 1;
        d->l = l;
        d->r = l + w - 1;
    }
}

/* one step of a walk along a curve from (px, py) to (qx, qy): 1 when the
 * step crosses height y (*x is where); otherwise it keeps in *x the x of
 * the point nearest that height so far */
static int walk_step(double *px, double *py, double qx, double qy, double y, double *x,
                     double *bestd)
{
    if ((*py - y) * (qy - y) <= 0 && *py != qy) {
        *x = *px + (qx - *px) * (y - *py) / (qy - *py);
        return 1;
    }
    if (fabs(qy - y) < *bestd) {
        *bestd = fabs(qy - y);
        *x = qx;
    }
    *px = qx;
    *py = qy;
    return 0;
}

/* x of the edge's curve where it crosses height y: pts are a piecewise
 * cubic Bezier (3k+1 points) or, otherwise, a polyline; NaN without points */
static double spline_x_at(const render_edge *e, double y)
{
    int n = e->npts < 0 ? 0 : e->npts > 64 ? 64 : e->npts;
    double px, py, x, bestd;
    if (n < 1)
        return NAN;
    px = e->pts[0];
    py = e->pts[1];
    x = px;
    bestd = fabs(py - y);
    if (n >= 4 && (n - 1) % 3 == 0) {
        for (int s = 0; s + 3 < n; s += 3) {
            const double *c = &e->pts[2 * s];
            for (int i = 1; i <= 16; i++) {
                double t = i / 16.0, u = 1 - t;
                double b0 = u * u * u, b1 = 3 * u * u * t, b2 = 3 * u * t * t, b3 = t * t * t;
                if (walk_step(&px, &py, b0 * c[0] + b1 * c[2] + b2 * c[4] + b3 * c[6],
                              b0 * c[1] + b1 * c[3] + b2 * c[5] + b3 * c[7], y, &x, &bestd))
                    return x;
            }
        }
        return x;
    }
    for (int i = 1; i < n; i++)
        if (walk_step(&px, &py, e->pts[2 * i], e->pts[2 * i + 1], y, &x, &bestd))
            return x;
    return x;
}

static int node_ok(const plan *p, int i)
{
    return i >= 0 && i < p->L->n_nodes && p->nd[i].rank >= 0 && p->nd[i].l <= p->nd[i].r;
}

static int port_col(const plan *p, int i)
{
    return (p->nd[i].l + p->nd[i].r) / 2;
}

/* whether column c at rank k is taken: by a box (or the column either
 * side of it), or by an edge before e that passes rank k there */
static int col_busy(const plan *p, int e, int k, int c)
{
    const render_layout *L = p->L;
    if (c < p->left || c > p->left + p->cols - 1)
        return 1;
    for (int i = 0; i < L->n_nodes; i++)
        if (p->nd[i].rank == k && p->nd[i].l <= p->nd[i].r && c >= p->nd[i].l - 1 &&
            c <= p->nd[i].r + 1)
            return 1;
    for (int f = 0; f < e; f++)
        if (p->rb[f] > p->ra[f] && p->ra[f] < k && k < p->rb[f] &&
            p->xs[f * p->stride + (k - p->ra[f])] == c)
            return 1;
    return 0;
}

/* The column where edge e passes rank k: straight on down the column it
 * comes in if that is free (fewer turns read better than following the
 * spline), else the free column nearest the spline's x there. */
static int pass_col(const plan *p, int e, int k)
{
    double x = spline_x_at(&p->L->edges[e], p->rank_y[k]);
    int prev = p->xs[e * p->stride + (k - p->ra[e]) - 1], c;
    if (isnan(x)) {
        /* no curve: straight between the ends */
        int a = p->xs[e * p->stride], b = p->xs[e * p->stride + (p->rb[e] - p->ra[e])];
        c = a + (b - a) * (k - p->ra[e]) / (p->rb[e] - p->ra[e]);
    } else {
        c = col_of(p, x);
    }
    if (!col_busy(p, e, k, prev))
        return prev;
    for (int d = 0; d <= p->cols; d++) {
        if (!col_busy(p, e, k, c - d))
            return c - d;
        if (!col_busy(p, e, k, c + d))
            return c + d;
    }
    return c;
}

/* columns of a node's box an edge may leave or enter by */
static int inside(const dnode *d, int c)
{
    return d->framed ? c > d->l && c < d->r : c >= d->l && c <= d->r;
}

/* A tail's port moves (at most 2 columns) onto the centre column of a
 * head on the next rank, so that edge goes straight down; the tail's other
 * edges leave by the same port. */
static void snap_tails(plan *p)
{
    const render_layout *L = p->L;
    for (int t = 0; t < L->n_nodes; t++) {
        int centre, best = -1;
        if (!node_ok(p, t))
            continue;
        centre = port_col(p, t);
        for (int e = 0; e < L->n_edges; e++) {
            int h;
            if (L->edges[e].from != t || p->rb[e] != p->ra[e] + 1)
                continue;
            h = p->xs[e * p->stride + 1];
            if (inside(&p->nd[t], h) && abs(h - centre) <= 2 &&
                (best < 0 || abs(h - centre) < abs(best - centre)))
                best = h;
        }
        if (best >= 0)
            for (int e = 0; e < L->n_edges; e++)
                if (L->edges[e].from == t && p->rb[e] > p->ra[e])
                    p->xs[e * p->stride] = best;
    }
}

/* A head entered by one edge takes its arrow in the column the edge comes
 * down, when that is within 2 columns of the centre: no jog for nothing.
 * Heads with several edges keep the centre, where their lines meet. */
static void snap_heads(plan *p)
{
    const render_layout *L = p->L;
    for (int e = 0; e < L->n_edges; e++) {
        int h = L->edges[e].to, n = 0, last, c;
        if (p->rb[e] <= p->ra[e])
            continue;
        for (int f = 0; f < L->n_edges; f++)
            n += L->edges[f].to == h && p->rb[f] > p->ra[f];
        last = e * p->stride + (p->rb[e] - p->ra[e]);
        c = p->xs[last - 1];
        if (n == 1 && inside(&p->nd[h], c) && abs(c - p->xs[last]) <= 2)
            p->xs[last] = c;
    }
}

static int uf_find(int *parent, int i)
{
    while (parent[i] != i)
        i = parent[i] = parent[parent[i]];
    return i;
}

/* Jog rows of gap k (between ranks k and k+1): segments are grouped (one
 * tail, or one head that both enter in this gap), each group spans the
 * columns between its ends, and groups get rows by first fit in order of
 * their left end, which uses the fewest rows for intervals.  A group that
 * only goes straight down needs no row (-1).  w: scratch, 7 * (n_edges + 1). */
static void colour_gap(plan *p, int k, int *w)
{
    const render_layout *L = p->L;
    int m = L->n_edges + 1;
    int *seg = w, *parent = w + m, *glo = w + 2 * m, *ghi = w + 3 * m, *order = w + 4 * m,
        *last = w + 5 * m, *gcol = w + 6 * m;
    int n = 0, ng = 0, ncol = 0;
    for (int e = 0; e < L->n_edges; e++)
        if (p->rb[e] > p->ra[e] && p->ra[e] <= k && k < p->rb[e])
            seg[n++] = e;
    for (int i = 0; i < n; i++) {
        parent[i] = i;
        glo[i] = INT_MAX;
        ghi[i] = INT_MIN;
        gcol[i] = -1;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const render_edge *a = &L->edges[seg[i]], *b = &L->edges[seg[j]];
            if (a->from == b->from ||
                (a->to == b->to && p->rb[seg[i]] == k + 1 && p->rb[seg[j]] == k + 1))
                parent[uf_find(parent, i)] = uf_find(parent, j);
        }
    for (int i = 0; i < n; i++) {
        int e = seg[i], g = uf_find(parent, i), s = e * p->stride + (k - p->ra[e]);
        glo[g] = CL_MIN(glo[g], CL_MIN(p->xs[s], p->xs[s + 1]));
        ghi[g] = CL_MAX(ghi[g], CL_MAX(p->xs[s], p->xs[s + 1]));
    }
    for (int i = 0; i < n; i++)
        if (uf_find(parent, i) == i && ghi[i] > glo[i])
            order[ng++] = i;
    for (int i = 1; i < ng; i++) {
        int v = order[i], j = i - 1;
        while (j >= 0 && glo[order[j]] > glo[v]) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    for (int i = 0; i < ng; i++) {
        int g = order[i], c = 0;
        /* a column of space between two groups on one row */
        while (c < ncol && last[c] >= glo[g] - 1)
            c++;
        if (c == ncol)
            ncol++;
        last[c] = ghi[g];
        gcol[g] = c;
    }
    /* A segment that leaves the gap's top down the column another group
     * enters its bottom by must turn off that column first (jog above),
     * or the two would share a stretch of it and read as one line. */
    for (int iter = 0; iter < 4 * n + 4; iter++) {
        int moved = 0;
        for (int i = 0; i < n && !moved; i++)
            for (int j = 0; j < n && !moved; j++) {
                int gi = uf_find(parent, i), gj = uf_find(parent, j), c;
                int si = seg[i] * p->stride + (k - p->ra[seg[i]]);
                int sj = seg[j] * p->stride + (k - p->ra[seg[j]]);
                if (gi == gj || gcol[gi] < 0 || gcol[gj] < 0 || p->xs[si] != p->xs[sj + 1] ||
                    gcol[gi] < gcol[gj])
                    continue;
                /* move j's group to the first free row below i's */
                for (c = gcol[gi] + 1;; c++) {
                    int clash = 0;
                    for (int h = 0; h < n && !clash; h++)
                        clash = uf_find(parent, h) == h && h != gj && gcol[h] == c &&
                                !(ghi[h] < glo[gj] - 1 || glo[h] > ghi[gj] + 1);
                    if (!clash)
                        break;
                }
                gcol[gj] = c;
                ncol = CL_MAX(ncol, c + 1);
                moved = 1;
            }
        if (!moved)
            break;
    }
    for (int i = 0; i < n; i++) {
        int e = seg[i];
        p->colour[e * p->stride + (k - p->ra[e])] = gcol[uf_find(parent, i)];
    }
    p->ncol[k] = ncol;
}

static int gap_size(const plan *p, int k, int mode, int cap)
{
    if (mode == GAP_NONE)
        return 0;
    if (mode == GAP_MERGED)
        return 1;
    return CL_MIN(p->ncol[k], cap) + 1;
}

static int band_size(const plan *p, int k, int box_h)
{
    if (box_h < 3)
        return 1;
    for (int i = 0; i < p->L->n_nodes; i++)
        if (p->nd[i].rank == k && node_ok(p, i) && !p->nd[i].framed)
            return 1;
    return 3;
}

static int total_rows(const plan *p, int title_rows, int box_h, int mode, int cap)
{
    long t = title_rows;
    for (int k = 0; k < p->nranks; k++)
        t += band_size(p, k, box_h);
    for (int k = 0; k + 1 < p->nranks; k++)
        t += gap_size(p, k, mode, cap);
    return t > INT_MAX / 2 ? INT_MAX / 2 : (int)t;
}

/* Pick the first arrangement of rows, in order of preference, that fits. */
static void plan_rows(plan *p)
{
    /* q: how well edges read in it (for choosing between arrangements) */
    typedef struct { int title, box, mode, cap; double q; } rows_cfg;
    int maxc = 0, t = p->title >= 0, n = 0;
    rows_cfg cfg[40];
    for (int k = 0; k + 1 < p->nranks; k++)
        maxc = CL_MAX(maxc, p->ncol[k]);
    cfg[n++] = (rows_cfg){2 * t, 3, GAP_FULL, INT_MAX / 4, 1.0};
    cfg[n++] = (rows_cfg){t, 3, GAP_FULL, INT_MAX / 4, 1.0};
    cfg[n++] = (rows_cfg){t, 1, GAP_FULL, INT_MAX / 4, 0.85};
    for (int cap = CL_MIN(maxc - 1, 30); cap >= 1; cap--)
        cfg[n++] = (rows_cfg){t, 1, GAP_FULL, cap, 0.6};
    cfg[n++] = (rows_cfg){t, 1, GAP_MERGED, 0, 0.3};
    cfg[n++] = (rows_cfg){0, 1, GAP_MERGED, 0, 0.3};
    cfg[n++] = (rows_cfg){0, 1, GAP_NONE, 0, 0.05};
    for (int i = 0; i < n; i++)
        if (i == n - 1 || total_rows(p, cfg[i].title, cfg[i].box, cfg[i].mode, cfg[i].cap) <= p->rows) {
            p->title_rows = cfg[i].title;
            p->box_h = cfg[i].box;
            p->gap_mode = cfg[i].mode;
            p->cap = cfg[i].cap;
            p->edge_q = cfg[i].q;
            break;
        }
    p->used_rows = total_rows(p, p->title_rows, p->box_h, p->gap_mode, p->cap);
    for (int k = 0; k < p->nranks; k++) {
        p->band_h[k] = band_size(p, k, p->box_h);
        p->gap_rows[k] = k + 1 < p->nranks ? gap_size(p, k, p->gap_mode, p->cap) : 0;
        p->rank_row[k] = k == 0 ? p->top + p->title_rows
                                : p->rank_row[k - 1] + p->band_h[k - 1] + p->gap_rows[k - 1];
    }
}

/* Everything but the characters: ranks, columns, boxes, edge columns and
 * jog rows, the rows of each band.  -1 when memory runs out. */
static int plan_build(plan *p, const render_layout *L, int top, int left, int rows, int cols)
{
    int n = L->n_nodes > 0 ? L->n_nodes : 0, m = L->n_edges > 0 ? L->n_edges : 0;
    int *tmp = NULL;
    memset(p, 0, sizeof *p);
    p->L = L;
    p->top = top;
    p->left = left;
    p->rows = rows;
    p->cols = cols;
    p->stride = n + 1;
    p->rank_y = calloc((size_t)n + 1, sizeof *p->rank_y);
    p->nd = calloc((size_t)n + 1, sizeof *p->nd);
    p->ra = calloc((size_t)m + 1, sizeof *p->ra);
    p->rb = calloc((size_t)m + 1, sizeof *p->rb);
    p->xs = calloc(((size_t)m + 1) * (size_t)p->stride, sizeof *p->xs);
    p->colour = calloc(((size_t)m + 1) * (size_t)p->stride, sizeof *p->colour);
    p->ncol = calloc((size_t)n + 1, sizeof *p->ncol);
    p->rank_row = calloc((size_t)n + 1, sizeof *p->rank_row);
    p->gap_rows = calloc((size_t)n + 1, sizeof *p->gap_rows);
    p->band_h = calloc((size_t)n + 1, sizeof *p->band_h);
    tmp = malloc(((size_t)n + 7 * ((size_t)m + 1)) * sizeof *tmp);
    if (!p->rank_y || !p->nd || !p->ra || !p->rb || !p->xs || !p->colour || !p->ncol ||
        !p->rank_row || !p->gap_rows || !p->band_h || !tmp) {
        free(tmp);
        plan_free(p);
        return -1;
    }
    find_ranks(p);

    /* horizontal scale: natural, or squeezed to the rectangle */
    {
        double xmax = -INFINITY, span;
        p->xmin = INFINITY;
        for (int i = 0; i < n; i++) {
            const render_node *v = &L->nodes[i];
            if (v->kind == RK_TITLE)
                continue;
            p->xmin = fmin(p->xmin, v->x - v->w / 2);
            xmax = fmax(xmax, v->x + v->w / 2);
        }
        if (!(xmax >= p->xmin)) {
            p->xmin = 0;
            xmax = 1;
        }
        span = fmax(xmax - p->xmin, 1.0);
        p->scale = 1.0 / RENDER_COL_PT;
        if (span * p->scale > cols - 1)
            p->scale = cols > 1 ? (cols - 1) / span : 0;
        p->off = (cols - 1 - span * p->scale) / 2;
    }
    for (int i = 0; i < n; i++)
        p->nd[i].cx = col_of(p, L->nodes[i].x);
    for (int k = 0; k < p->nranks; k++)
        place_rank(p, k, tmp);

    /* edges: their ends at box centres, then straightened, then the
     * columns where they pass the ranks between */
    for (int e = 0; e < m; e++) {
        const render_edge *E = &L->edges[e];
        int *xs = &p->xs[e * p->stride];
        if (!node_ok(p, E->from) || !node_ok(p, E->to)) {
            p->ra[e] = p->rb[e] = 0;   /* not drawn */
            continue;
        }
        p->ra[e] = p->nd[E->from].rank;
        p->rb[e] = p->nd[E->to].rank;
        if (p->rb[e] <= p->ra[e])
            continue;
        xs[0] = port_col(p, E->from);
        xs[p->rb[e] - p->ra[e]] = port_col(p, E->to);
    }
    snap_tails(p);
    for (int e = 0; e < m; e++)
        for (int k = p->ra[e] + 1; k < p->rb[e]; k++)
            p->xs[e * p->stride + (k - p->ra[e])] = pass_col(p, e, k);
    snap_heads(p);
    for (int k = 0; k + 1 < p->nranks; k++)
        colour_gap(p, k, tmp);
    free(tmp);
    plan_rows(p);
    {
        double shown = 0, whole = 0;
        for (int i = 0; i < n; i++) {
            int len = (int)strlen(L->nodes[i].label);
            if (p->nd[i].rank < 0)
                continue;
            whole += len;
            if (node_ok(p, i))
                shown += (p->nd[i].framed ? 1.0 : 0.9) * CL_MIN((int)strlen(p->nd[i].text), len);
        }
        p->label_q = whole > 0 ? shown / whole : 1.0;
    }
    return 0;
}

/* ---- characters ---------------------------------------------------------- */

static void put(render_grid *g, const plan *p, int r, int c, uint32_t ch, int kind)
{
    if (r < p->top || r >= p->top + p->rows || c < p->left || c >= p->left + p->cols)
        return;
    if (r < 0 || r >= g->rows || c < 0 || c >= g->cols)
        return;
    g->ch[(size_t)r * g->cols + c] = ch;
    g->kind[(size_t)r * g->cols + c] = (unsigned char)(kind >= 0 && kind < RK_COUNT ? kind : RK_OP);
}

static void put_text(render_grid *g, const plan *p, int r, int c, const char *s, int kind)
{
    for (; *s; s++, c++)
        put(g, p, r, c, (unsigned char)*s, kind);
}

static uint32_t line_char(int mask, int unicode)
{
    /* indexed by N|S|E|W bits */
    static const uint32_t uni[16] = {
        ' ',    0x2502, 0x2502, 0x2502, 0x2500, 0x2514, 0x250C, 0x251C,
        0x2500, 0x2518, 0x2510, 0x2524, 0x2500, 0x2534, 0x252C, 0x253C,
    };
    static const char asc[16] = {' ', '|', '|', '|', '-', '+', '+', '+',
                                 '-', '+', '+', '+', '-', '+', '+', '+'};
    return unicode ? uni[mask & 15] : (uint32_t)(unsigned char)asc[mask & 15];
}

typedef struct canvas {
    unsigned char *mask;   /* [rows * cols] of the rectangle */
    const plan *p;
} canvas;

static void mark(canvas *cv, int r, int c, int bits)
{
    const plan *p = cv->p;
    if (r < p->top || r >= p->top + p->rows || c < p->left || c >= p->left + p->cols)
        return;
    cv->mask[(size_t)(r - p->top) * p->cols + (c - p->left)] |= (unsigned char)bits;
}

/* an axis-parallel run of line from (r1, c1) to (r2, c2) */
static void run(canvas *cv, int r1, int c1, int r2, int c2)
{
    int dr = (r2 > r1) - (r2 < r1), dc = (c2 > c1) - (c2 < c1);
    if (dr && dc)
        return;
    while (r1 != r2 || c1 != c2) {
        int nr = r1 + dr, nc = c1 + dc;
        mark(cv, r1, c1, dr > 0 ? DIR_S : dr < 0 ? DIR_N : dc > 0 ? DIR_E : DIR_W);
        mark(cv, nr, nc, dr > 0 ? DIR_N : dr < 0 ? DIR_S : dc > 0 ? DIR_W : DIR_E);
        r1 = nr;
        c1 = nc;
    }
}

static int jog_row(const plan *p, int k, int colour)
{
    int g = p->gap_rows[k], base = p->rank_row[k] + p->band_h[k];
    if (g <= 1 || colour < 0)
        return base;
    return base + colour % (g - 1);
}

typedef struct arrow {
    int r, c;
    uint32_t ch;
} arrow;

/* A downward edge along its planned columns and jog rows; 0 if the gaps
 * have no rows for it. */
static int route_down(canvas *cv, const plan *p, int e, arrow *a)
{
    int ra = p->ra[e], rb = p->rb[e], r, c;
    const int *xs = &p->xs[e * p->stride];
    for (int k = ra; k < rb; k++)
        if (p->gap_rows[k] < 1)
            return 0;
    r = p->rank_row[ra] + p->band_h[ra];
    c = xs[0];
    mark(cv, r, c, DIR_N);   /* joins the tail's border (or label) above */
    for (int k = ra; k < rb; k++) {
        int j = jog_row(p, k, p->colour[e * p->stride + (k - ra)]);
        run(cv, r, c, j, c);
        run(cv, j, c, j, xs[k - ra + 1]);
        r = j;
        c = xs[k - ra + 1];
    }
    a->r = p->rank_row[rb - 1] + p->band_h[rb - 1] + p->gap_rows[rb - 1] - 1;
    a->c = c;
    run(cv, r, c, a->r, c);
    return 1;
}

/* Edges that do not go down (no layout of render_cell_layout has them):
 * sideways along the tail's middle row, or up from its top to the row
 * under the head.  Best effort: boxes drawn later may cover them. */
static int route_other(canvas *cv, const plan *p, int e, arrow *a, int unicode)
{
    const dnode *t = &p->nd[p->L->edges[e].from], *h = &p->nd[p->L->edges[e].to];
    int mid = p->band_h[p->ra[e]] / 2;
    if (t == h)
        return 0;
    if (p->ra[e] == p->rb[e]) {
        int r = p->rank_row[p->ra[e]] + mid, right = h->l > t->r;
        int c1 = right ? t->r + 1 : t->l - 1, c2 = right ? h->l - 1 : h->r + 1;
        if (right ? c2 < c1 : c2 > c1)
            return 0;
        run(cv, r, c1, r, c2);
        a->r = r;
        a->c = c2;
        a->ch = unicode ? (right ? 0x25B6 : 0x25C0) : (right ? '>' : '<');
        return 1;
    }
    {
        int r1 = p->rank_row[p->ra[e]] - 1, r2 = p->rank_row[p->rb[e]] + p->band_h[p->rb[e]];
        int c1 = port_col(p, p->L->edges[e].from), c2 = port_col(p, p->L->edges[e].to);
        mark(cv, r1, c1, DIR_S);
        run(cv, r1, c1, r2, c1);
        run(cv, r2, c1, r2, c2);
        a->r = r2;
        a->c = c2;
        a->ch = unicode ? 0x25B2 : '^';
        return 1;
    }
}

static void draw_box(render_grid *g, const plan *p, int i, int unicode)
{
    const dnode *d = &p->nd[i];
    int kind = p->L->nodes[i].kind, y = p->rank_row[d->rank], w = d->r - d->l + 1;
    int bh = p->band_h[d->rank], len = (int)strlen(d->text), mid = bh == 3 ? y + 1 : y;
    int tx = d->l + (w - len) / 2;
    for (int r = y; r < y + bh; r++)
        for (int c = d->l; c <= d->r; c++)
            put(g, p, r, c, ' ', kind);
    if (d->framed && bh == 3) {
        uint32_t h = unicode ? 0x2500 : '-', v = unicode ? 0x2502 : '|';
        for (int c = d->l + 1; c < d->r; c++) {
            put(g, p, y, c, h, kind);
            put(g, p, y + 2, c, h, kind);
        }
        put(g, p, y, d->l, unicode ? 0x250C : '+', kind);
        put(g, p, y, d->r, unicode ? 0x2510 : '+', kind);
        put(g, p, y + 2, d->l, unicode ? 0x2514 : '+', kind);
        put(g, p, y + 2, d->r, unicode ? 0x2518 : '+', kind);
        put(g, p, y + 1, d->l, v, kind);
        put(g, p, y + 1, d->r, v, kind);
    } else if (d->framed) {
        put(g, p, y, d->l, '[', kind);
        put(g, p, y, d->r, ']', kind);
    }
    put_text(g, p, mid, tx, d->text, kind);
}

void render_draw(render_grid *g, const render_layout *l, int top, int left, int rows, int cols,
                 int unicode)
{
    plan p;
    canvas cv;
    arrow *arrows = NULL;
    int narrows = 0;
    unsigned char *drawn = NULL;
    if (!g || !g->ch || !g->kind || !l || rows <= 0 || cols <= 0)
        return;
    /* the part of the rectangle inside the grid */
    if (top < 0) {
        rows += top;
        top = 0;
    }
    if (left < 0) {
        cols += left;
        left = 0;
    }
    rows = CL_MIN(rows, g->rows - top);
    cols = CL_MIN(cols, g->cols - left);
    if (rows <= 0 || cols <= 0)
        return;
    for (int r = top; r < top + rows; r++)
        for (int c = left; c < left + cols; c++) {
            g->ch[(size_t)r * g->cols + c] = ' ';
            g->kind[(size_t)r * g->cols + c] = RK_EMPTY;
        }
    if (l->n_nodes <= 0 || !l->nodes || (l->n_edges > 0 && !l->edges))
        return;
    if (plan_build(&p, l, top, left, rows, cols))
        return;
    cv.p = &p;
    cv.mask = calloc((size_t)rows * (size_t)cols, 1);
    arrows = calloc((size_t)(l->n_edges > 0 ? l->n_edges : 1), sizeof *arrows);
    drawn = calloc((size_t)(l->n_edges > 0 ? l->n_edges : 1), 1);

    /* edges, as masks of directions, then as characters */
    if (cv.mask && arrows && drawn) {
        for (int e = 0; e < l->n_edges; e++) {
            arrow a = {0, 0, unicode ? 0x25BC : 'v'};
            int ok;
            if (!node_ok(&p, l->edges[e].from) || !node_ok(&p, l->edges[e].to))
                continue;
            ok = p.rb[e] > p.ra[e] ? route_down(&cv, &p, e, &a) : route_other(&cv, &p, e, &a, unicode);
            if (ok) {
                arrows[narrows++] = a;
                drawn[e] = 1;
            }
        }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                if (cv.mask[(size_t)r * cols + c])
                    put(g, &p, top + r, left + c, line_char(cv.mask[(size_t)r * cols + c], unicode),
                        RK_EDGE);
        for (int i = 0; i < narrows; i++)
            put(g, &p, arrows[i].r, arrows[i].c, arrows[i].ch, RK_EDGE);
    }

    /* boxes over the edges, then where edges leave them */
    for (int i = 0; i < l->n_nodes; i++)
        if (node_ok(&p, i))
            draw_box(g, &p, i, unicode);
    if (drawn)
        for (int e = 0; e < l->n_edges; e++) {
            int t = l->edges[e].from;
            if (drawn[e] && p.rb[e] > p.ra[e] && p.nd[t].framed && p.band_h[p.ra[e]] == 3)
                put(g, &p, p.rank_row[p.ra[e]] + 2, p.xs[e * p.stride], unicode ? 0x252C : '+',
                    l->nodes[t].kind);
        }

    if (p.title >= 0 && p.title_rows > 0) {
        char text[32];
        int len;
        snprintf(text, sizeof text, "%.*s", cols, l->nodes[p.title].label);
        len = (int)strlen(text);
        put_text(g, &p, top, left + (cols - len) / 2, text, RK_TITLE);
    }
    free(drawn);
    free(arrows);
    free(cv.mask);
    plan_free(&p);
}

int render_fit(const render_layout *l, int rows, int cols, double *quality, int *used_rows)
{
    plan p;
    if (rows <= 0 || cols <= 0) {
        *quality = 0;
        *used_rows = 0;
        return CL_OK;
    }
    if (plan_build(&p, l, 0, 0, rows, cols))
        return CL_ERR_NOMEM;
    *quality = p.label_q * p.edge_q;
    if (p.used_rows > rows)
        *quality *= (double)rows / p.used_rows;
    *used_rows = CL_MIN(p.used_rows, rows);
    plan_free(&p);
    return CL_OK;
}

int render_natural_size(const render_layout *l, int *rows, int *cols, cl_err *err)
{
    plan p;
    double xmin = INFINITY, xmax = -INFINITY;
    int c, title = 0;
    for (int i = 0; i < l->n_nodes; i++) {
        const render_node *v = &l->nodes[i];
        if (v->kind == RK_TITLE) {
            title = CL_MAX(title, (int)strlen(v->label) + 2);
            continue;
        }
        xmin = fmin(xmin, v->x - v->w / 2);
        xmax = fmax(xmax, v->x + v->w / 2);
    }
    c = xmax >= xmin ? (int)ceil((xmax - xmin) / RENDER_COL_PT) + 2 : 1;
    c = CL_MAX(c, title);
    if (plan_build(&p, l, 0, 0, INT_MAX / 4, c))
        return ERR_SET(err, CL_ERR_NOMEM, "out of memory sizing a cell drawing");
    *rows = CL_MAX(p.used_rows, 1);
    *cols = c;
    plan_free(&p);
    return CL_OK;
}

int render_grid_new(render_grid *g, int rows, int cols, cl_err *err)
{
    size_t n;
    memset(g, 0, sizeof *g);
    if (rows < 0 || cols < 0 || (cols > 0 && rows > INT_MAX / cols))
        return ERR_SET(err, CL_ERR_ARG, "a grid of %d x %d cells", rows, cols);
    n = (size_t)rows * (size_t)cols;
    g->ch = malloc((n ? n : 1) * sizeof *g->ch);
    g->kind = malloc(n ? n : 1);
    if (!g->ch || !g->kind) {
        render_grid_free(g);
        return ERR_SET(err, CL_ERR_NOMEM, "out of memory for a grid of %d x %d cells", rows, cols);
    }
    for (size_t i = 0; i < n; i++)
        g->ch[i] = ' ';
    memset(g->kind, RK_EMPTY, n);
    g->rows = rows;
    g->cols = cols;
    return CL_OK;
}

void render_grid_free(render_grid *g)
{
    if (!g)
        return;
    free(g->ch);
    free(g->kind);
    memset(g, 0, sizeof *g);
}
