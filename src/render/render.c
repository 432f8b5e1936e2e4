/* render.c - cells as Graphviz graphs: built with libcgraph, laid out by
 * libgvc's dot engine, read back for the terminal drawing (draw.c), and
 * written to SVG, PNG and DOT files; both cells of a genotype drawn into
 * one grid or one text file.
 *
 * A cell's nodes, in this order (render_layout.nodes keeps it): 0 h[i-1],
 * 1 h[i], then per block b its two ops (2 + 3b, 3 + 3b) and its combiner
 * (4 + 3b), then the output "concat" of the blocks no later block reads
 * when there are several; with one, that block's combiner is the output
 * ("out: add").  The title ("normal cell", "reduction cell") comes last.
 * Edges: per block input -> op for both ops, then op -> combiner for both;
 * then combiner -> output for each output block.  An input the cell never
 * reads stays in the picture, unconnected, so both inputs always head the
 * drawing in the order the genotype numbers them (0, 1) and a cell that
 * ignores one says so.
 *
 * Positions come back through gvRenderData in the "plain" format: a small,
 * documented text format (graph size, node centre and size, each edge's
 * control points) that stays the same across Graphviz versions, where the
 * alternatives either reach into libgvc's private structs (ND_coord, ED_spl
 * from types.h) or parse the pos attributes of the "dot" output with their
 * "e,x,y" arrow prefixes.
 *
 * Graphviz reports problems through agerr, which writes to stderr unless
 * told otherwise; every entry point here routes them into a buffer while
 * it runs (agseterrf) and hands them back in cl_err, since a curses screen
 * owns the terminal.  Graphviz's error hooks are process-wide, so these
 * functions are not for concurrent threads (nothing in cellar needs that). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cgraph.h>
#include <gvc.h>

#include "core/util.h"
#include "render/render.h"
#include "render/render_priv.h"

#define CELL_MAX_NODES (2 + 3 * GENO_MAX_BLOCKS + 1)
#define CELL_MAX_EDGES (5 * GENO_MAX_BLOCKS)

static const char *const op_label[OP_COUNT] = {
    [OP_IDENTITY] = "identity",      [OP_CONV_1X3_3X1] = "1x3+3x1",
    [OP_CONV_1X7_7X1] = "1x7+7x1",   [OP_DIL_CONV_3X3] = "dil 3x3",
    [OP_AVG_POOL_3X3] = "avg 3x3",   [OP_MAX_POOL_3X3] = "max 3x3",
    [OP_MAX_POOL_5X5] = "max 5x5",   [OP_MAX_POOL_7X7] = "max 7x7",
    [OP_CONV_1X1] = "conv 1x1",      [OP_CONV_3X3] = "conv 3x3",
    [OP_SEP_CONV_3X3] = "sep 3x3",   [OP_SEP_CONV_5X5] = "sep 5x5",
    [OP_SEP_CONV_7X7] = "sep 7x7",
};

static const char *const formats[] = {"svg", "png", "dot", "ascii"};
#define FORMAT_LIST "svg, png, dot, ascii"

/* ---- the cell as nodes and edges, before Graphviz ------------------------- */

typedef struct cell_spec {
    int n_nodes, n_edges;
    render_kind kind[CELL_MAX_NODES];
    char label[CELL_MAX_NODES][32];
    int from[CELL_MAX_EDGES], to[CELL_MAX_EDGES];
    int nblocks;
} cell_spec;

static int cell_spec_make(const geno_cell *c, cell_spec *s, cl_err *err)
{
    int outs[GENO_MAX_BLOCKS], nout, B;
    if (!c || c->nblocks < 1 || c->nblocks > GENO_MAX_BLOCKS)
        return ERR_SET(err, CL_ERR_ARG, "a cell has 1 to %d blocks, not %d", GENO_MAX_BLOCKS,
                       c ? c->nblocks : 0);
    B = c->nblocks;
    for (int b = 0; b < B; b++) {
        const geno_block *k = &c->b[b];
        for (int j = 0; j < 2; j++) {
            if (k->in[j] >= 2 + b)
                return ERR_SET(err, CL_ERR_ARG, "block %d reads input %d, which is not before it",
                               b, k->in[j]);
            if (k->op[j] >= OP_COUNT)
                return ERR_SET(err, CL_ERR_ARG, "block %d has op number %d", b, k->op[j]);
        }
        if (k->comb >= COMB_COUNT)
            return ERR_SET(err, CL_ERR_ARG, "block %d has combiner number %d", b, k->comb);
    }
    memset(s, 0, sizeof *s);
    s->nblocks = B;
    nout = geno_cell_outputs(c, outs);
    s->kind[0] = s->kind[1] = RK_INPUT;
    snprintf(s->label[0], sizeof s->label[0], "h[i-1]");
    snprintf(s->label[1], sizeof s->label[1], "h[i]");
    for (int b = 0; b < B; b++) {
        const geno_block *k = &c->b[b];
        int comb = 4 + 3 * b;
        for (int j = 0; j < 2; j++) {
            int op = 2 + 3 * b + j, in = k->in[j];
            s->kind[op] = RK_OP;
            snprintf(s->label[op], sizeof s->label[op], "%s", op_label[k->op[j]]);
            s->from[s->n_edges] = in < 2 ? in : 4 + 3 * (in - 2);
            s->to[s->n_edges++] = op;
        }
        for (int j = 0; j < 2; j++) {
            s->from[s->n_edges] = 2 + 3 * b + j;
            s->to[s->n_edges++] = comb;
        }
        s->kind[comb] = RK_COMBINER;
        snprintf(s->label[comb], sizeof s->label[comb], "%s", geno_comb_names[k->comb]);
    }
    s->n_nodes = 2 + 3 * B;
    if (nout == 1) {
        int comb = 4 + 3 * outs[0];
        s->kind[comb] = RK_OUTPUT;
        snprintf(s->label[comb], sizeof s->label[comb], "out: %s",
                 geno_comb_names[c->b[outs[0]].comb]);
    } else {
        int out = s->n_nodes++;
        s->kind[out] = RK_OUTPUT;
        snprintf(s->label[out], sizeof s->label[out], "concat");
        for (int i = 0; i < nout; i++) {
            s->from[s->n_edges] = 4 + 3 * outs[i];
            s->to[s->n_edges++] = out;
        }
    }
    return CL_OK;
}

/* whether node i is an op (2 + 3b or 3 + 3b); its block is (i - 2) / 3 */
static int is_op(const cell_spec *s, int i)
{
    return i >= 2 && i < 2 + 3 * s->nblocks && (i - 2) % 3 < 2;
}

/* ---- Graphviz sessions: a context, and its messages caught -------------- */

static char gv_msg[768];
static size_t gv_len;

/* agerr hands a message over in pieces ("Error", ": ", the text) */
static int gv_collect(char *msg)
{
    for (; *msg && gv_len + 1 < sizeof gv_msg; msg++)
        gv_msg[gv_len++] = *msg == '\n' ? ' ' : *msg;
    gv_msg[gv_len] = '\0';
    return 0;
}

/* Graphviz 2.43 (dot's ranking of clusters and virtual nodes, its config
 * reading) and the font libraries under it keep memory they never free,
 * however the caller cleans up (gvFreeLayout, agclose, gvFreeContext, as
 * here).  In a build with AddressSanitizer, any program that draws cells
 * tells LeakSanitizer to leave allocations made from inside those
 * libraries alone: Graphviz is built without frame pointers, so the one
 * frame LeakSanitizer can be sure of is the library that called malloc.
 * valgrind, which unwinds through them, checks the cleanup precisely
 * (tests/valgrind-graphviz.supp). */
#ifdef __SANITIZE_ADDRESS__
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libgvc.so\nleak:libcgraph.so\nleak:libcdt.so\nleak:libpathplan.so\n"
           "leak:libgvplugin_dot_layout.so\nleak:libgvplugin_core.so\n"
           "leak:libgvplugin_pango.so\nleak:libgvplugin_gd.so\nleak:libpango\nleak:libcairo\n"
           "leak:libfontconfig.so\nleak:libfreetype.so\nleak:libharfbuzz.so\nleak:libglib\n"
           "leak:libgobject\n";
}
/* and says nothing about them at exit */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
    return "print_suppressions=0";
}
#endif

/* One libgvc context for the process, made on first use and freed at
 * exit.  Not one per call: Graphviz 2.43's pango text-layout plugin keeps a
 * static pointer to the last font name it measured, which points into the
 * font dictionary of the context that measured it; after gvFreeContext the
 * next labelled layout under a new context compares against freed memory
 * (AddressSanitizer reports it on the second picture a process writes).  A
 * context that lives as long as the process keeps that pointer valid, and
 * saves the plugin set-up on every call. */
static GVC_t *gv_ctx;

static void gv_release(void)
{
    if (gv_ctx)
        gvFreeContext(gv_ctx);
    gv_ctx = NULL;
}

typedef struct gv_session {
    GVC_t *gvc;
    agusererrf old;
} gv_session;

static int gv_open(gv_session *s, cl_err *err)
{
    gv_len = 0;
    gv_msg[0] = '\0';
    s->old = agseterrf(gv_collect);
    agreseterrors();
    if (!gv_ctx) {
        if (!(gv_ctx = gvContext())) {
            agseterrf(s->old);
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not make a context");
        }
        atexit(gv_release);
    }
    s->gvc = gv_ctx;
    return CL_OK;
}

/* the end of a call: Graphviz's messages go back where they went before */
static void gv_close(gv_session *s)
{
    s->gvc = NULL;
    agseterrf(s->old);
}

/* Report what Graphviz said about a failure: the messages caught, or the
 * last one it kept (aglasterr) if none came through the hook. */
static int gv_fail(cl_err *err, cl_status code, const char *what)
{
    char *last = NULL;
    const char *why = gv_msg;
    size_t n;
    if (gv_len == 0) {
        last = aglasterr();
        why = last && *last ? last : "it gave no reason";
    }
    n = strlen(why);
    while (n > 0 && (why[n - 1] == ' ' || why[n - 1] == '\n'))
        n--;
    ERR_SET(err, code, "Graphviz could not %s: %.*s", what, (int)n, why);
    free(last);
    return code;
}

/* Numbers to and from Graphviz without printf's %f or strtod: the screen
 * runs in the user's locale, whose decimal point may be a comma, while
 * Graphviz reads and writes C-locale numbers ("1.25"). */
static void fmt_fixed(char *buf, size_t cap, double v)
{
    long m = lround(v * 1000);
    snprintf(buf, cap, "%s%ld.%03ld", m < 0 ? "-" : "", labs(m) / 1000, labs(m) % 1000);
}

static int parse_fixed(const char *s, size_t len, double *v)
{
    size_t i = 0;
    int neg = 0, digits = 0, eneg = 0;
    long ex = 0;
    double x = 0, scale = 1;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        x = x * 10 + (s[i] - '0');
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            x += (s[i] - '0') * (scale /= 10);
    if (!digits)
        return -1;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            eneg = s[i++] == '-';
        if (i >= len || s[i] < '0' || s[i] > '9')
            return -1;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ex = ex < 1000 ? ex * 10 + (s[i] - '0') : ex;
    }
    if (i != len)
        return -1;
    *v = (neg ? -x : x) * pow(10.0, (double)(eneg ? -ex : ex));
    return 0;
}

/* agsafeset with Graphviz 2.x's char * parameters (it copies the strings) */
static void set(void *obj, const char *name, const char *value)
{
    agsafeset(obj, (char *)name, (char *)value, (char *)"");
}

/* ---- building the Graphviz graph ----------------------------------------- */

/* Node look for files: inputs blue, ops yellow, combiners grey ellipses,
 * the output green. */
static void style_for_file(Agnode_t *n, render_kind kind)
{
    static const char *const fill[RK_COUNT] = {
        [RK_INPUT] = "#cfe2f3", [RK_OP] = "#fff2cc", [RK_COMBINER] = "#eeeeee",
        [RK_OUTPUT] = "#d9ead3",
    };
    set(n, "style", "rounded,filled");
    set(n, "fillcolor", fill[kind] ? fill[kind] : "#ffffff");
    if (kind == RK_COMBINER) {
        set(n, "shape", "ellipse");
        set(n, "style", "filled");
    }
}

/* h[i-1] and h[i] on the top rank, in that order (an invisible flat edge
 * orders them; nobody draws it) */
static int add_inputs_rank(Agraph_t *where, const char *prefix, Agnode_t *in0, Agnode_t *in1,
                           cl_err *err)
{
    char name[64];
    Agraph_t *sub;
    Agedge_t *e;
    snprintf(name, sizeof name, "%s_inputs", prefix);
    if (!(sub = agsubg(where, name, 1)))
        return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add a subgraph");
    set(sub, "rank", "min");
    agsubnode(sub, in0, 1);
    agsubnode(sub, in1, 1);
    if (!(e = agedge(sub, in0, in1, NULL, 1)))
        return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add an edge");
    set(e, "style", "invis");
    return CL_OK;
}

/* Add one cell's nodes and edges to graph `where` (the root for a layout,
 * a cluster for a file), naming nodes prefix0, prefix1, ...  The inputs
 * share the top rank in order h[i-1], h[i]; a block's two ops share a
 * rank, and in files each block is an invisible cluster so that they sit
 * side by side above their combiner (see add_cell_paired for layouts). */
static int add_cell(Agraph_t *where, const cell_spec *s, const char *prefix, int file,
                    Agnode_t **nodes, cl_err *err)
{
    char name[64], num[32];
    Agraph_t *sub;
    int rc;
    for (int i = 0; i < s->n_nodes; i++) {
        snprintf(name, sizeof name, "%s%d", prefix, i);
        nodes[i] = agnode(where, name, 1);
        if (!nodes[i])
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add node %s", name);
        if (file) {
            set(nodes[i], "label", s->label[i]);
            style_for_file(nodes[i], s->kind[i]);
        } else {
            /* a box of (label + 4) terminal columns: see RENDER_COL_PT;
             * the label is left out, nobody draws this graph's text */
            fmt_fixed(num, sizeof num, (strlen(s->label[i]) + 4) * RENDER_COL_PT / 72.0);
            set(nodes[i], "width", num);
        }
    }
    if ((rc = add_inputs_rank(where, prefix, nodes[0], nodes[1], err)))
        return rc;
    for (int b = 0; b < s->nblocks; b++) {
        Agraph_t *in = where;
        if (file) {
            snprintf(name, sizeof name, "cluster_%s_block%d", prefix, b);
            if (!(in = agsubg(where, name, 1)))
                return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add a subgraph");
            set(in, "style", "invis");
            set(in, "margin", "4");
            agsubnode(in, nodes[4 + 3 * b], 1);
        }
        snprintf(name, sizeof name, "%s_ops%d", prefix, b);
        if (!(sub = agsubg(in, name, 1)))
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add a subgraph");
        set(sub, "rank", "same");
        agsubnode(sub, nodes[2 + 3 * b], 1);
        agsubnode(sub, nodes[3 + 3 * b], 1);
    }
    for (int i = 0; i < s->n_edges; i++)
        if (!agedge(where, nodes[s->from[i]], nodes[s->to[i]], NULL, 1))
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add an edge");
    return CL_OK;
}

/* The screen's layout with each block's two ops as one node "p<b>": a
 * record of two equal fields, l and r, the op order[b] names (0 or 1) on
 * the left, edges attached to the fields.  One node cannot be split, so
 * the ops sit side by side, which clusters would also give but dot 2.43
 * never frees its cluster skeletons (some 35 KB a layout, and the screen
 * lays a cell out each time the selection moves). */
static int add_cell_paired(Agraph_t *g, const cell_spec *s, const unsigned char *order,
                           Agnode_t **nodes, cl_err *err)
{
    char name[64], num[32];
    Agnode_t *pair[GENO_MAX_BLOCKS];
    int rc;
    for (int i = 0; i < s->n_nodes; i++) {
        int b = (i - 2) / 3;
        nodes[i] = NULL;
        if (is_op(s, i)) {
            size_t l0, l1;
            if ((i - 2) % 3 == 1)
                continue;
            snprintf(name, sizeof name, "p%d", b);
            if (!(pair[b] = agnode(g, name, 1)))
                return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add node %s", name);
            /* two halves as wide as the wider op, two columns apart */
            l0 = strlen(s->label[i]);
            l1 = strlen(s->label[i + 1]);
            fmt_fixed(num, sizeof num, (2 * (CL_MAX(l0, l1) + 4) + 2) * RENDER_COL_PT / 72.0);
            set(pair[b], "width", num);
            set(pair[b], "shape", "record");
            set(pair[b], "label", "<l>|<r>");
            continue;
        }
        snprintf(name, sizeof name, "n%d", i);
        if (!(nodes[i] = agnode(g, name, 1)))
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add node %s", name);
        fmt_fixed(num, sizeof num, (strlen(s->label[i]) + 4) * RENDER_COL_PT / 72.0);
        set(nodes[i], "width", num);
    }
    if ((rc = add_inputs_rank(g, "n", nodes[0], nodes[1], err)))
        return rc;
    for (int i = 0; i < s->n_edges; i++) {
        int f = s->from[i], t = s->to[i], fb = (f - 2) / 3, tb = (t - 2) / 3;
        int fop = is_op(s, f), top = is_op(s, t);
        Agedge_t *e = agedge(g, fop ? pair[fb] : nodes[f], top ? pair[tb] : nodes[t], NULL, 1);
        if (!e)
            return ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add an edge");
        /* the op's field, l when it is the one order puts on the left;
         * leaving by its bottom and entering by its top centre, as edges
         * of a node of its own would */
        if (fop)
            set(e, "tailport", ((f - 2) % 3 == order[fb]) ? "l:s" : "r:s");
        if (top)
            set(e, "headport", ((t - 2) % 3 == order[tb]) ? "l:n" : "r:n");
    }
    return CL_OK;
}

static void graph_defaults(Agraph_t *g, int file)
{
    agattr(g, AGRAPH, "rankdir", "TB");
    agattr(g, AGNODE, "shape", "box");
    agattr(g, AGEDGE, "arrowsize", "0.7");
    if (file) {
        agattr(g, AGRAPH, "nodesep", "0.25");
        agattr(g, AGRAPH, "ranksep", "0.35");
        agattr(g, AGRAPH, "fontname", "Helvetica");
        agattr(g, AGRAPH, "fontsize", "14");
        agattr(g, AGRAPH, "bgcolor", "white");
        agattr(g, AGRAPH, "pad", "0.2");
        agattr(g, AGNODE, "fontname", "Helvetica");
        agattr(g, AGNODE, "fontsize", "12");
        agattr(g, AGNODE, "height", "0.36");
        agattr(g, AGNODE, "margin", "0.12,0.05");
        agattr(g, AGNODE, "color", "#555555");
        agattr(g, AGEDGE, "color", "#555555");
    } else {
        /* two columns between boxes; ranks as close as dot allows */
        char sep[32];
        fmt_fixed(sep, sizeof sep, 2 * RENDER_COL_PT / 72.0);
        agattr(g, AGRAPH, "nodesep", sep);
        agattr(g, AGRAPH, "ranksep", "0.3");
        agattr(g, AGNODE, "fixedsize", "true");
        agattr(g, AGNODE, "height", "0.3");
        agattr(g, AGNODE, "label", "");
    }
}

/* ---- reading the layout back -------------------------------------------- */

/* next whitespace-separated word of a line; quoted words are skipped whole */
static const char *next_word(const char **p, size_t *len)
{
    const char *s = *p, *w;
    while (*s == ' ' || *s == '\t')
        s++;
    w = s;
    if (*s == '"') {
        for (s++; *s && *s != '"' && *s != '\n'; s++)
            if (*s == '\\' && s[1] && s[1] != '\n')
                s++;
        if (*s == '"')
            s++;
    } else {
        while (*s && *s != ' ' && *s != '\t' && *s != '\n')
            s++;
    }
    *len = (size_t)(s - w);
    *p = s;
    return *len ? w : NULL;
}

static int word_num(const char **p, double *v)
{
    size_t len;
    const char *w = next_word(p, &len);
    return w ? parse_fixed(w, len, v) : -1;
}

/* A layout as "plain" lists it: nodes by the names add_cell and
 * add_cell_paired give them ("n<i>": PG_N + i, "p<b>": PG_P + b), edges
 * between them with their control points (points, origin bottom-left). */
enum { PG_N = 0, PG_P = CELL_MAX_NODES, PG_NODES = CELL_MAX_NODES + GENO_MAX_BLOCKS };

typedef struct plain_edge {
    int t, h;
    int n;
    double *pts;   /* [2n] */
    int used;
} plain_edge;

typedef struct plain_graph {
    double width, height;
    double x[PG_NODES], y[PG_NODES], w[PG_NODES], h[PG_NODES];
    unsigned char seen[PG_NODES];
    plain_edge e[CELL_MAX_EDGES + GENO_MAX_BLOCKS + 1];
    int n_edges;
} plain_graph;

static void plain_free(plain_graph *pg)
{
    for (int i = 0; i < pg->n_edges; i++)
        free(pg->e[i].pts);
    pg->n_edges = 0;
}

/* the id of a node name ("n12", "p3"), or -1 */
static int node_id(const char *w, size_t len)
{
    int v = 0;
    if (!w || len < 2 || len > 4 || (w[0] != 'n' && w[0] != 'p'))
        return -1;
    for (size_t i = 1; i < len; i++) {
        if (w[i] < '0' || w[i] > '9')
            return -1;
        v = v * 10 + (w[i] - '0');
    }
    if (w[0] == 'n')
        return v < CELL_MAX_NODES ? PG_N + v : -1;
    return v < GENO_MAX_BLOCKS ? PG_P + v : -1;
}

/* Keep at most 64 control points: past that, the curve is resampled at 22
 * points and written as straight Bezier pieces (still 3k + 1 points). */
static void store_points(render_edge *e, const double *pts, int n)
{
    if (n <= 64) {
        memcpy(e->pts, pts, sizeof(double) * 2 * (size_t)n);
        e->npts = n;
        return;
    }
    {
        double q[2 * 22];
        int segs = (n - 1) / 3;
        for (int i = 0; i < 22; i++) {
            double t = (double)i / 21 * segs, u;
            int s = (int)t;
            const double *c;
            if (s >= segs)
                s = segs - 1;
            t -= s;
            u = 1 - t;
            c = &pts[6 * s];
            for (int d = 0; d < 2; d++)
                q[2 * i + d] = u * u * u * c[d] + 3 * u * u * t * c[2 + d] + 3 * u * t * t * c[4 + d] +
                               t * t * t * c[6 + d];
        }
        for (int i = 0; i < 21; i++)
            for (int d = 0; d < 2; d++) {
                double a = q[2 * i + d], b = q[2 * i + 2 + d];
                e->pts[6 * i + d] = a;
                e->pts[6 * i + 2 + d] = a + (b - a) / 3;
                e->pts[6 * i + 4 + d] = a + 2 * (b - a) / 3;
            }
        e->pts[2 * 63] = q[2 * 21];
        e->pts[2 * 63 + 1] = q[2 * 21 + 1];
        e->npts = 64;
    }
}

/* Parse "plain" output (inches, converted to points).  Edges between
 * nodes of other names are passed over. */
static int parse_plain(const char *text, plain_graph *pg, cl_err *err)
{
    int have_graph = 0;
    const char *line = text;
    memset(pg, 0, sizeof *pg);
    while (*line) {
        const char *p = line, *w;
        const char *eol = strchr(line, '\n');
        size_t len;
        w = next_word(&p, &len);
        if (w && len == 5 && !memcmp(w, "graph", 5)) {
            double scale;
            if (word_num(&p, &scale) || word_num(&p, &pg->width) || word_num(&p, &pg->height))
                goto bad;
            pg->width *= 72;
            pg->height *= 72;
            have_graph = 1;
        } else if (w && len == 4 && !memcmp(w, "node", 4)) {
            int i;
            w = next_word(&p, &len);
            if ((i = node_id(w, len)) < 0)
                goto bad;
            if (word_num(&p, &pg->x[i]) || word_num(&p, &pg->y[i]) || word_num(&p, &pg->w[i]) ||
                word_num(&p, &pg->h[i]))
                goto bad;
            pg->x[i] *= 72;
            pg->y[i] *= 72;
            pg->w[i] *= 72;
            pg->h[i] *= 72;
            pg->seen[i] = 1;
        } else if (w && len == 4 && !memcmp(w, "edge", 4)) {
            plain_edge *e;
            double nd;
            int t, h;
            w = next_word(&p, &len);
            t = node_id(w, len);
            w = next_word(&p, &len);
            h = node_id(w, len);
            if (word_num(&p, &nd) || nd < 1 || nd > 10000)
                goto bad;
            if (t >= 0 && h >= 0 && pg->n_edges < (int)CL_ARRAY_LEN(pg->e)) {
                e = &pg->e[pg->n_edges];
                e->t = t;
                e->h = h;
                e->n = (int)nd;
                if (!(e->pts = malloc(sizeof(double) * 2 * (size_t)e->n))) {
                    plain_free(pg);
                    return ERR_SET(err, CL_ERR_NOMEM, "out of memory reading a layout");
                }
                pg->n_edges++;
                for (int i = 0; i < 2 * e->n; i++) {
                    if (word_num(&p, &e->pts[i]))
                        goto bad;
                    e->pts[i] *= 72;
                }
            }
        } else if (w && len == 4 && !memcmp(w, "stop", 4)) {
            break;
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    if (!have_graph) {
        plain_free(pg);
        return ERR_SET(err, CL_ERR_INTERNAL, "Graphviz's layout has no size");
    }
    return CL_OK;
bad:
    plain_free(pg);
    {
        size_t n = strcspn(line, "\n");
        return ERR_SET(err, CL_ERR_INTERNAL, "unexpected line in Graphviz's layout: %.*s",
                       (int)(n > 80 ? 80 : n), line);
    }
}

/* Fill L's nodes and edges from a parsed layout.  order: NULL for a
 * layout of add_cell, else that of add_cell_paired (each op at the centre
 * of its half of its block's node; of two edges between the same nodes,
 * the one leaving or entering on the left is the left op's). */
static int map_plain(const plain_graph *pg, const cell_spec *s, const unsigned char *order,
                     render_layout *L, cl_err *err)
{
    L->width = pg->width;
    L->height = pg->height;
    for (int i = 0; i < s->n_nodes; i++) {
        render_node *v = &L->nodes[i];
        if (order && is_op(s, i)) {
            int b = (i - 2) / 3, id = PG_P + b, left = (i - 2) % 3 == order[b];
            if (!pg->seen[id])
                return ERR_SET(err, CL_ERR_INTERNAL, "Graphviz's layout lacks block %d", b);
            v->x = pg->x[id] + (left ? -1 : 1) * pg->w[id] / 4;
            v->y = pg->y[id];
            v->w = (strlen(s->label[i]) + 4) * RENDER_COL_PT;
            v->h = pg->h[id];
            continue;
        }
        if (!pg->seen[PG_N + i])
            return ERR_SET(err, CL_ERR_INTERNAL, "Graphviz's layout lacks node %s", s->label[i]);
        v->x = pg->x[PG_N + i];
        v->y = pg->y[PG_N + i];
        v->w = pg->w[PG_N + i];
        v->h = pg->h[PG_N + i];
    }
    for (int k = 0; k < s->n_edges; k++) {
        int f = s->from[k], t = s->to[k], found = -1;
        int fop = order && is_op(s, f), top = order && is_op(s, t);
        int tid = fop ? PG_P + (f - 2) / 3 : PG_N + f, hid = top ? PG_P + (t - 2) / 3 : PG_N + t;
        plain_edge *e;
        for (int pass = 0; pass < 2 && found < 0; pass++)
            for (int i = 0; i < pg->n_edges && found < 0; i++) {
                const plain_edge *c = &pg->e[i];
                int side_ok = 1;
                if (c->used || c->t != tid || c->h != hid)
                    continue;
                /* first pass: the side must match the op's half */
                if (fop)
                    side_ok &= (c->pts[0] < pg->x[tid]) == (L->nodes[f].x < pg->x[tid]);
                if (top)
                    side_ok &= (c->pts[2 * c->n - 2] < pg->x[hid]) == (L->nodes[t].x < pg->x[hid]);
                if (side_ok || pass == 1)
                    found = i;
            }
        if (found < 0)
            return ERR_SET(err, CL_ERR_INTERNAL, "Graphviz's layout lacks the edge %s -> %s",
                           s->label[f], s->label[t]);
        e = (plain_edge *)&pg->e[found];
        e->used = 1;
        store_points(&L->edges[k], e->pts, e->n);
    }
    return CL_OK;
}

/* ---- one cell, laid out --------------------------------------------------- */

void render_layout_free(render_layout *l)
{
    if (!l)
        return;
    free(l->nodes);
    free(l->edges);
    memset(l, 0, sizeof *l);
}

/* One dot layout of the cell into L (whose arrays the caller allocated):
 * built by add_cell (order NULL) or add_cell_paired, laid out, read back
 * as "plain", freed. */
static int layout_once(GVC_t *gvc, const cell_spec *s, const unsigned char *order,
                       render_layout *L, cl_err *err)
{
    Agraph_t *g;
    Agnode_t *nodes[CELL_MAX_NODES];
    char *data = NULL;
    unsigned int len = 0;
    int rc = CL_OK, laid = 0;

    if (!(g = agopen("cell", Agdirected, NULL)))
        return gv_fail(err, CL_ERR_NOMEM, "make a graph");
    graph_defaults(g, 0);
    rc = order ? add_cell_paired(g, s, order, nodes, err) : add_cell(g, s, "n", 0, nodes, err);
    if (rc)
        goto done;
    if (gvLayout(gvc, g, "dot") != 0) {
        rc = gv_fail(err, CL_ERR_INTERNAL, "lay the cell out");
        goto done;
    }
    laid = 1;
    if (gvRenderData(gvc, g, "plain", &data, &len) != 0 || !data) {
        rc = gv_fail(err, CL_ERR_INTERNAL, "write the layout as plain text");
        goto done;
    }
    {
        /* not promised to end in a NUL */
        char *text = malloc((size_t)len + 1);
        plain_graph *pg = malloc(sizeof *pg);
        if (!text || !pg) {
            free(text);
            free(pg);
            rc = ERR_SET(err, CL_ERR_NOMEM, "out of memory reading a layout");
            goto done;
        }
        memcpy(text, data, len);
        text[len] = '\0';
        if (!(rc = parse_plain(text, pg, err))) {
            rc = map_plain(pg, s, order, L, err);
            plain_free(pg);
        }
        free(pg);
        free(text);
    }
done:
    if (data)
        gvFreeRenderData(data);
    if (laid)
        gvFreeLayout(gvc, g);
    agclose(g);
    return rc;
}

/* Whether every block's ops sit next to each other (no node between them
 * on their rank); order[b] is set to 1 where op 1 is on the left. */
static int ops_together(const cell_spec *s, const render_layout *L, unsigned char *order)
{
    int together = 1;
    for (int b = 0; b < s->nblocks; b++) {
        const render_node *a = &L->nodes[2 + 3 * b], *o = &L->nodes[3 + 3 * b];
        double lo = fmin(a->x, o->x), hi = fmax(a->x, o->x);
        order[b] = o->x < a->x;
        for (int i = 0; i < s->n_nodes; i++)
            if (i != 2 + 3 * b && i != 3 + 3 * b && fabs(L->nodes[i].y - a->y) < 1 &&
                L->nodes[i].x > lo && L->nodes[i].x < hi)
                together = 0;
    }
    return together;
}

int render_cell_layout(const geno_cell *c, int reduction, render_layout *out, cl_err *err)
{
    cell_spec s;
    gv_session gs = {0};
    unsigned char order[GENO_MAX_BLOCKS];
    int rc;
    render_layout L = {0};

    memset(out, 0, sizeof *out);
    if ((rc = cell_spec_make(c, &s, err)))
        return rc;
    L.nodes = calloc((size_t)s.n_nodes + 1, sizeof *L.nodes);
    L.edges = calloc((size_t)s.n_edges, sizeof *L.edges);
    if (!L.nodes || !L.edges) {
        render_layout_free(&L);
        return ERR_SET(err, CL_ERR_NOMEM, "out of memory laying out a cell");
    }
    if ((rc = gv_open(&gs, err))) {
        render_layout_free(&L);
        return rc;
    }
    /* dot's own order first; where it split a block, again with each
     * block's ops as one node, in the order dot chose for them */
    rc = layout_once(gs.gvc, &s, NULL, &L, err);
    if (!rc && !ops_together(&s, &L, order))
        rc = layout_once(gs.gvc, &s, order, &L, err);
    gv_close(&gs);
    if (rc) {
        render_layout_free(&L);
        return rc;
    }
    for (int i = 0; i < s.n_nodes; i++) {
        L.nodes[i].kind = s.kind[i];
        memcpy(L.nodes[i].label, s.label[i], sizeof L.nodes[i].label);
    }
    for (int i = 0; i < s.n_edges; i++) {
        L.edges[i].from = s.from[i];
        L.edges[i].to = s.to[i];
    }
    L.n_edges = s.n_edges;
    {
        /* the title: a row of text above the graph */
        render_node *t = &L.nodes[s.n_nodes];
        t->kind = RK_TITLE;
        snprintf(t->label, sizeof t->label, "%s", reduction ? "reduction cell" : "normal cell");
        t->h = 0.3 * 72;
        t->w = (strlen(t->label) + 2) * RENDER_COL_PT;
        t->x = L.width / 2;
        t->y = L.height + 0.1 * 72 + t->h / 2;
        L.height = t->y + t->h / 2;
        L.n_nodes = s.n_nodes + 1;
    }
    *out = L;
    return CL_OK;
}

/* ---- both cells into one grid ---------------------------------------------- */

/* Draw two layouts into the whole grid: stacked (a blank row between) or
 * side by side (two blank columns between), whichever shows the worse-off
 * cell better (render_fit); stacked on a tie.  nat: natural rows and
 * columns of a, then of b.  Stacked, the first cell takes the rows its
 * drawing uses and the second the rest. */
static int draw_pair(render_grid *g, const render_layout *a, const render_layout *b,
                     const int *nat, int unicode, cl_err *err)
{
    int rows = g->rows, cols = g->cols, share, ua, ub, ua2, ub2, side_a;
    double qa, qb, qa2, qb2, stacked, side;
    if (rows <= 0 || cols <= 0)
        return CL_OK;
    share = rows - 1 >= nat[0] + nat[2] ? nat[0]
                                        : (int)((double)(rows - 1) * nat[0] / (nat[0] + nat[2]) + 0.5);
    if (render_fit(a, share, cols, &qa, &ua) || render_fit(b, rows - 1 - ua, cols, &qb, &ub))
        goto nomem;
    if (ub < rows - 1 - ua && render_fit(a, rows - 1 - ub, cols, &qa, &ua))
        goto nomem;
    stacked = fmin(qa, qb);
    side_a = cols - 2 >= nat[1] + nat[3]
                 ? nat[1]
                 : (int)((double)(cols - 2) * nat[1] / (nat[1] + nat[3]) + 0.5);
    if (render_fit(a, rows, side_a, &qa2, &ua2) || render_fit(b, rows, cols - 2 - side_a, &qb2, &ub2))
        goto nomem;
    side = fmin(qa2, qb2);
    if (side > stacked + 1e-9) {
        render_draw(g, a, 0, 0, rows, side_a, unicode);
        render_draw(g, b, 0, side_a + 2, rows, cols - 2 - side_a, unicode);
    } else {
        render_draw(g, a, 0, 0, ua, cols, unicode);
        render_draw(g, b, ua + 1, 0, rows - 1 - ua, cols, unicode);
    }
    return CL_OK;
nomem:
    return ERR_SET(err, CL_ERR_NOMEM, "out of memory arranging a drawing of %d x %d", rows, cols);
}

static void grid_clear(render_grid *g)
{
    for (size_t i = 0; i < (size_t)g->rows * (size_t)g->cols; i++) {
        g->ch[i] = ' ';
        g->kind[i] = RK_EMPTY;
    }
}

static int layout_pair(const cl_genotype *geno, render_layout *a, render_layout *b, int *sz,
                       cl_err *err)
{
    int rc;
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    if (!geno)
        return ERR_SET(err, CL_ERR_ARG, "no genotype to render");
    if ((rc = render_cell_layout(&geno->normal, 0, a, err)) ||
        (rc = render_natural_size(a, &sz[0], &sz[1], err))) {
        err_prefix(err, "the normal cell");
        render_layout_free(a);
        return rc;
    }
    if ((rc = render_cell_layout(&geno->reduce, 1, b, err)) ||
        (rc = render_natural_size(b, &sz[2], &sz[3], err))) {
        err_prefix(err, "the reduction cell");
        render_layout_free(a);
        render_layout_free(b);
        return rc;
    }
    return CL_OK;
}

int render_genotype_grid(render_grid *g, const cl_genotype *geno, int unicode, cl_err *err)
{
    render_layout a, b;
    int sz[4], rc;
    if (!g || (g->rows * g->cols > 0 && (!g->ch || !g->kind)))
        return ERR_SET(err, CL_ERR_ARG, "no grid to draw into");
    if ((rc = layout_pair(geno, &a, &b, sz, err)))
        return rc;
    grid_clear(g);
    rc = draw_pair(g, &a, &b, sz, unicode, err);
    render_layout_free(&a);
    render_layout_free(&b);
    return rc;
}

/* ---- files ------------------------------------------------------------------ */

static FILE *open_out(const char *path, cl_err *err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
    if (!f)
        ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, cl_err *err)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad)
        return ERR_SET(err, CL_ERR_IO, "%s: could not write it: %s",
                       strcmp(path, "-") ? path : "standard output", strerror(errno));
    return CL_OK;
}

/* The terminal drawing at its natural size, the normal cell above the
 * reduction cell, each row exactly as wide as the grid. */
static int write_ascii(const cl_genotype *geno, const char *path, cl_err *err)
{
    render_layout a, b;
    render_grid g;
    int sz[4], rc;
    char *line = NULL;
    FILE *f;
    if ((rc = layout_pair(geno, &a, &b, sz, err)))
        return rc;
    rc = render_grid_new(&g, sz[0] + 1 + sz[2], CL_MAX(sz[1], sz[3]), err);
    if (!rc && !(rc = draw_pair(&g, &a, &b, sz, 1, err))) {
        if (!(line = malloc((size_t)g.cols * 4 + 2)))
            rc = ERR_SET(err, CL_ERR_NOMEM, "out of memory writing %s", path);
    }
    render_layout_free(&a);
    render_layout_free(&b);
    if (rc) {
        render_grid_free(&g);
        return rc;
    }
    if (!(f = open_out(path, err))) {
        free(line);
        render_grid_free(&g);
        return CL_ERR_IO;
    }
    for (int r = 0; r < g.rows; r++) {
        size_t n = 0;
        for (int c = 0; c < g.cols; c++)
            n += cl_utf8_put(g.ch[(size_t)r * g.cols + c], line + n);
        line[n++] = '\n';
        fwrite(line, 1, n, f);
    }
    free(line);
    render_grid_free(&g);
    return close_out(f, path, err);
}

/* Both cells in one graph, each a cluster titled with its name, laid out
 * by dot and written by libgvc's own renderer for the format. */
static int write_graphviz(const cl_genotype *geno, const char *format, const char *path,
                          cl_err *err)
{
    cell_spec s[2];
    gv_session gs = {0};
    Agraph_t *g = NULL;
    Agnode_t *nodes[CELL_MAX_NODES];
    FILE *f = NULL;
    int rc, laid = 0;
    static const char *const cluster[2] = {"cluster_normal", "cluster_reduce"};
    static const char *const title[2] = {"normal cell", "reduction cell"};
    static const char *const prefix[2] = {"n", "r"};

    if ((rc = cell_spec_make(&geno->normal, &s[0], err))) {
        err_prefix(err, "the normal cell");
        return rc;
    }
    if ((rc = cell_spec_make(&geno->reduce, &s[1], err))) {
        err_prefix(err, "the reduction cell");
        return rc;
    }
    if ((rc = gv_open(&gs, err)))
        return rc;
    if (!(g = agopen("cellar", Agdirected, NULL))) {
        rc = gv_fail(err, CL_ERR_NOMEM, "make a graph");
        goto done;
    }
    graph_defaults(g, 1);
    for (int i = 0; i < 2; i++) {
        Agraph_t *sub = agsubg(g, (char *)cluster[i], 1);
        if (!sub) {
            rc = ERR_SET(err, CL_ERR_NOMEM, "Graphviz could not add a cluster");
            goto done;
        }
        set(sub, "label", title[i]);
        set(sub, "labelloc", "t");
        set(sub, "style", "rounded");
        set(sub, "color", "#bbbbbb");
        set(sub, "margin", "12");
        if ((rc = add_cell(sub, &s[i], prefix[i], 1, nodes, err)))
            goto done;
    }
    if (gvLayout(gs.gvc, g, "dot") != 0) {
        rc = gv_fail(err, CL_ERR_INTERNAL, "lay the genotype out");
        goto done;
    }
    laid = 1;
    if (!(f = open_out(path, err))) {
        rc = CL_ERR_IO;
        goto done;
    }
    if (gvRender(gs.gvc, g, format, f) != 0) {
        char what[64];
        snprintf(what, sizeof what, "write %s", format);
        rc = gv_fail(err, CL_ERR_UNSUPPORTED, what);
        if (f != stdout)
            fclose(f);
        f = NULL;
        goto done;
    }
    rc = close_out(f, path, err);
    f = NULL;
done:
    if (laid)
        gvFreeLayout(gs.gvc, g);
    if (g)
        agclose(g);
    gv_close(&gs);
    return rc;
}

int render_genotype_file(const cl_genotype *geno, const char *format, const char *path,
                         cl_err *err)
{
    int known = 0;
    if (!format)
        return ERR_SET(err, CL_ERR_ARG, "no format given (valid: " FORMAT_LIST ")");
    for (size_t i = 0; i < CL_ARRAY_LEN(formats); i++)
        known |= !strcmp(format, formats[i]);
    if (!known)
        return ERR_SET(err, CL_ERR_ARG, "unknown format '%s' (valid: " FORMAT_LIST ")", format);
    if (!geno)
        return ERR_SET(err, CL_ERR_ARG, "no genotype to render");
    if (!path || !*path)
        return ERR_SET(err, CL_ERR_ARG, "no file to write the %s to", format);
    if (!strcmp(format, "ascii"))
        return write_ascii(geno, path, err);
    return write_graphviz(geno, format, path, err);
}
