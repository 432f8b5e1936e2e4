/* test_render.c - the render layer: the Graphviz layout of NASNet-A's
 * cells (nodes, labels, kinds, edges, ranks: inputs on top, a block's ops
 * side by side above their combiner, the output at the bottom); concat
 * blocks, blocks that read blocks, one output block, an unused input;
 * refusals of bad cells; the terminal drawing at many sizes (never a cell
 * outside its rectangle, every label when there is room, an arrow into
 * every head, ASCII and Unicode); random cells up to 16 blocks; both
 * cells in one grid; the files (SVG, PNG, DOT read back by libcgraph,
 * ascii equal to the grid); unknown formats and unwritable paths; and
 * silence: Graphviz must print nothing on stderr, which is redirected to
 * a file for the whole run and checked empty at the end. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cgraph.h>

#include "check.h"
#include "testdir.h"
#include "core/err.h"
#include "core/util.h"
#include "render/render.h"
#include "render/render_priv.h"
#include "space/genotype.h"

/* LeakSanitizer leaves Graphviz's own leaks alone: see src/render/render.c. */

/* ---- helpers ------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cl_genotype geno(const char *text)
{
    cl_genotype g;
    cl_err err = {0};
    memset(&g, 0, sizeof g);
    if (geno_from_arg(text, &g, &err))
        printf("# genotype refused: %s\n", err.msg);
    return g;
}

static const char *op_labels[OP_COUNT] = {
    [OP_IDENTITY] = "identity",    [OP_CONV_1X3_3X1] = "1x3+3x1", [OP_CONV_1X7_7X1] = "1x7+7x1",
    [OP_DIL_CONV_3X3] = "dil 3x3", [OP_AVG_POOL_3X3] = "avg 3x3", [OP_MAX_POOL_3X3] = "max 3x3",
    [OP_MAX_POOL_5X5] = "max 5x5", [OP_MAX_POOL_7X7] = "max 7x7", [OP_CONV_1X1] = "conv 1x1",
    [OP_CONV_3X3] = "conv 3x3",    [OP_SEP_CONV_3X3] = "sep 3x3", [OP_SEP_CONV_5X5] = "sep 5x5",
    [OP_SEP_CONV_7X7] = "sep 7x7",
};

/* The shortened forms a drawing may show instead of a label (the oracle:
 * any abbreviation listed here counts as the label being shown). */
static const char *const short_forms[][3] = {
    {"h[i-1]", "hi-1", "h0"}, {"h[i]", "hi", "h1"},      {"sep 3x3", "sep3", "s3"},
    {"sep 5x5", "sep5", "s5"}, {"sep 7x7", "sep7", "s7"}, {"dil 3x3", "dil3", "d3"},
    {"conv 1x1", "cv1", "c1"}, {"conv 3x3", "cv3", "c3"}, {"1x3+3x1", "1x3", "f3"},
    {"1x7+7x1", "1x7", "f7"},  {"avg 3x3", "avg3", "a3"}, {"max 3x3", "max3", "m3"},
    {"max 5x5", "max5", "m5"}, {"max 7x7", "max7", "m7"}, {"identity", "id", "id"},
    {"add", "add", "+"},       {"concat", "cat", "||"},   {"out: add", "out", "o"},
    {"out: concat", "out", "o"},
};

/* columns c0 .. c0 + cols - 1 of row r of a grid as UTF-8 (static buffer) */
static const char *row_text(const render_grid *g, int r, int c0, int cols)
{
    static char buf[8192];
    size_t n = 0;
    for (int c = c0; c < c0 + cols && c < g->cols && n + 4 < sizeof buf; c++)
        n += cl_utf8_put(g->ch[(size_t)r * g->cols + c], buf + n);
    buf[n] = '\0';
    return buf;
}

/* occurrences of s in the grid's rows (within the rectangle) */
static int grid_count(const render_grid *g, int top, int left, int rows, int cols, const char *s)
{
    int n = 0;
    size_t len = strlen(s);
    for (int r = top; r < top + rows; r++)
        for (int c = left; c + (int)len <= left + cols; c++) {
            size_t i = 0;
            while (i < len && g->ch[(size_t)r * g->cols + c + i] == (unsigned char)s[i])
                i++;
            n += i == len;
        }
    return n;
}

static int label_shown(const render_grid *g, int top, int left, int rows, int cols,
                       const char *label)
{
    if (grid_count(g, top, left, rows, cols, label))
        return 1;
    for (size_t i = 0; i < CL_ARRAY_LEN(short_forms); i++)
        if (!strcmp(short_forms[i][0], label))
            return grid_count(g, top, left, rows, cols, short_forms[i][1]) ||
                   grid_count(g, top, left, rows, cols, short_forms[i][2]);
    return 0;
}

static int is_arrow(uint32_t c)
{
    return c == 0x25BC || c == 0x25B2 || c == 0x25B6 || c == 0x25C0 || c == 'v' || c == '^' ||
           c == '>' || c == '<';
}

typedef struct draw_stats {
    int outside;      /* cells changed outside the rectangle */
    int bad_kind;     /* kinds out of range inside it */
    int edge_cells;   /* cells of kind RK_EDGE */
    int arrows;       /* arrow characters */
    int non_ascii;    /* code points >= 128 */
    int box_chars;    /* U+2500..U+257F */
    int missing;      /* labels shown in no form */
    int whole;        /* labels shown whole */
} draw_stats;

#define SENTINEL 0x2588u   /* a full block, drawn by nobody */
#define SENT_KIND 200

/* Draw l into a rows x cols rectangle at (2, 3) of a grid 5 rows and 7
 * columns larger, filled with a sentinel, and count what came out. */
static draw_stats draw_in(const render_layout *l, int rows, int cols, int unicode,
                          render_grid *keep)
{
    render_grid g;
    cl_err err = {0};
    draw_stats s = {0};
    int top = 2, left = 3;
    if (render_grid_new(&g, rows + 5, cols + 7, &err)) {
        s.outside = -1;
        return s;
    }
    for (int i = 0; i < g.rows * g.cols; i++) {
        g.ch[i] = SENTINEL;
        g.kind[i] = SENT_KIND;
    }
    render_draw(&g, l, top, left, rows, cols, unicode);
    for (int r = 0; r < g.rows; r++)
        for (int c = 0; c < g.cols; c++) {
            size_t i = (size_t)r * g.cols + c;
            int in = r >= top && r < top + rows && c >= left && c < left + cols;
            if (!in) {
                s.outside += g.ch[i] != SENTINEL || g.kind[i] != SENT_KIND;
                continue;
            }
            s.bad_kind += g.kind[i] >= RK_COUNT || g.ch[i] == SENTINEL;
            s.edge_cells += g.kind[i] == RK_EDGE;
            s.arrows += is_arrow(g.ch[i]) && g.kind[i] == RK_EDGE;
            s.non_ascii += g.ch[i] >= 128;
            s.box_chars += g.ch[i] >= 0x2500 && g.ch[i] <= 0x257F;
        }
    for (int i = 0; i < l->n_nodes; i++) {
        s.missing += !label_shown(&g, top, left, rows, cols, l->nodes[i].label);
        s.whole += grid_count(&g, top, left, rows, cols, l->nodes[i].label) > 0;
    }
    if (keep)
        *keep = g;
    else
        render_grid_free(&g);
    return s;
}

/* nodes that some edge enters */
static int heads(const render_layout *l)
{
    int n = 0;
    for (int i = 0; i < l->n_nodes; i++) {
        int in = 0;
        for (int e = 0; e < l->n_edges; e++)
            in |= l->edges[e].to == i;
        n += in;
    }
    return n;
}

static int find_edge(const render_layout *l, int from, int to)
{
    for (int e = 0; e < l->n_edges; e++)
        if (l->edges[e].from == from && l->edges[e].to == to)
            return 1;
    return 0;
}

/* Structural checks every layout must pass; returns the failures. */
static int layout_sane(const render_layout *l, const geno_cell *c, int reduction)
{
    int bad = 0, outs[GENO_MAX_BLOCKS], nout = geno_cell_outputs(c, outs), B = c->nblocks;
    int expect_nodes = 2 + 3 * B + (nout > 1) + 1, expect_edges = 4 * B + (nout > 1 ? nout : 0);
    const render_node *title;
    bad += l->n_nodes != expect_nodes;
    bad += l->n_edges != expect_edges;
    if (bad)
        return bad;
    title = &l->nodes[l->n_nodes - 1];
    bad += title->kind != RK_TITLE;
    bad += strcmp(title->label, reduction ? "reduction cell" : "normal cell") != 0;
    bad += l->nodes[0].kind != RK_INPUT || strcmp(l->nodes[0].label, "h[i-1]");
    bad += l->nodes[1].kind != RK_INPUT || strcmp(l->nodes[1].label, "h[i]");
    for (int b = 0; b < B; b++) {
        const render_node *o0 = &l->nodes[2 + 3 * b], *o1 = &l->nodes[3 + 3 * b],
                          *cb = &l->nodes[4 + 3 * b];
        bad += o0->kind != RK_OP || strcmp(o0->label, op_labels[c->b[b].op[0]]);
        bad += o1->kind != RK_OP || strcmp(o1->label, op_labels[c->b[b].op[1]]);
        /* side by side above their combiner */
        bad += o0->y != o1->y || !(o0->y > cb->y);
        for (int j = 0; j < 2; j++) {
            int in = c->b[b].in[j], src = in < 2 ? in : 4 + 3 * (in - 2);
            bad += !find_edge(l, src, 2 + 3 * b + j);
            bad += !find_edge(l, 2 + 3 * b + j, 4 + 3 * b);
        }
        if (nout == 1 && b == outs[0]) {
            char want[32];
            snprintf(want, sizeof want, "out: %s", geno_comb_names[c->b[b].comb]);
            bad += cb->kind != RK_OUTPUT || strcmp(cb->label, want);
        } else {
            bad += cb->kind != RK_COMBINER || strcmp(cb->label, geno_comb_names[c->b[b].comb]);
        }
    }
    if (nout > 1) {
        const render_node *o = &l->nodes[2 + 3 * B];
        bad += o->kind != RK_OUTPUT || strcmp(o->label, "concat");
        for (int i = 0; i < nout; i++)
            bad += !find_edge(l, 4 + 3 * outs[i], 2 + 3 * B);
    }
    for (int i = 0; i < l->n_nodes - 1; i++) {
        const render_node *v = &l->nodes[i];
        /* inputs on top, the output at the bottom, all inside the box */
        bad += !(v->x >= 0 && v->x <= l->width && v->y >= 0 && v->y <= l->height);
        bad += v->w <= 0 || v->h <= 0;
        if (i >= 2)
            bad += !(l->nodes[0].y > v->y);
        if (v->kind == RK_OUTPUT)
            for (int j = 0; j < l->n_nodes - 1; j++)
                bad += j != i && !(v->y < l->nodes[j].y);
    }
    for (int e = 0; e < l->n_edges; e++) {
        const render_edge *E = &l->edges[e];
        const render_node *t, *h;
        if (E->from < 0 || E->from >= l->n_nodes - 1 || E->to < 0 || E->to >= l->n_nodes - 1) {
            bad++;
            continue;
        }
        t = &l->nodes[E->from];
        h = &l->nodes[E->to];
        bad += E->npts < 4 || E->npts > 64 || (E->npts - 1) % 3 != 0;
        if (E->npts >= 4) {
            /* the curve starts at its tail and ends near its head (the
             * arrow head lies between) */
            double x0 = E->pts[0], y0 = E->pts[1];
            double x1 = E->pts[2 * E->npts - 2], y1 = E->pts[2 * E->npts - 1];
            bad += !(fabs(x0 - t->x) <= t->w / 2 + 2 && fabs(y0 - t->y) <= t->h / 2 + 2);
            bad += !(fabs(x1 - h->x) <= h->w / 2 + 12 && fabs(y1 - h->y) <= h->h / 2 + 12);
        }
    }
    return bad;
}

/* ---- layouts --------------------------------------------------------------- */

static void test_nasnet_layout(void)
{
    cl_genotype g = geno("nasnet-a");
    render_layout l;
    cl_err err = {0};
    int rc, n_concat = 0;

    rc = render_cell_layout(&g.normal, 0, &l, &err);
    CHECK(rc == CL_OK, "NASNet-A normal cell: laid out (%s)", err.msg);
    if (rc == CL_OK) {
        CHECK(l.n_nodes == 19 && l.n_edges == 25,
              "normal cell: 2 inputs + 10 ops + 5 adds + concat + title = 19 nodes, 25 edges "
              "(got %d, %d)", l.n_nodes, l.n_edges);
        CHECK(layout_sane(&l, &g.normal, 0) == 0,
              "normal cell: labels, kinds, edges, ranks (inputs on top, ops paired above "
              "their add, concat at the bottom)");
        for (int i = 0; i < l.n_nodes; i++)
            n_concat += !strcmp(l.nodes[i].label, "concat");
        CHECK(n_concat == 1 && l.nodes[17].kind == RK_OUTPUT,
              "normal cell: the output concat of its 5 unread blocks");
        CHECK(l.width > 0 && l.height > 0, "normal cell: a bounding box (%.0f x %.0f pt)",
              l.width, l.height);
        render_layout_free(&l);
        CHECK(l.nodes == NULL && l.n_nodes == 0, "render_layout_free empties the layout");
        render_layout_free(&l);   /* twice is harmless */
    }
    rc = render_cell_layout(&g.reduce, 1, &l, &err);
    CHECK(rc == CL_OK, "NASNet-A reduction cell: laid out (%s)", err.msg);
    if (rc == CL_OK) {
        CHECK(l.n_nodes == 19 && l.n_edges == 23,
              "reduction cell: 19 nodes; 20 block edges + 3 into concat (blocks 2, 3, 4) "
              "(got %d, %d)", l.n_nodes, l.n_edges);
        CHECK(layout_sane(&l, &g.reduce, 1) == 0,
              "reduction cell: labels, kinds, edges, ranks");
        CHECK(find_edge(&l, 4, 14) && find_edge(&l, 7, 11) && find_edge(&l, 4, 12),
              "reduction cell: blocks 3 and 4 read the adds of blocks 0 and 1");
        CHECK(!strcmp(l.nodes[18].label, "reduction cell"), "reduction cell: titled so");
        render_layout_free(&l);
    }
}

static void test_layout_shapes(void)
{
    /* block 0 concat, block 1 reads block 0; normal has one output block;
     * the reduction cell never reads h[i-1] */
    cl_genotype g = geno("normal: sep_conv_3x3(0) sep_conv_3x3(1) concat | identity(2) "
                         "max_pool_3x3(1) add ; reduce: conv_1x1(1) conv_3x3(1) add | "
                         "conv_1x7_7x1(1) dil_conv_3x3(2) concat");
    render_layout l;
    cl_err err = {0};
    int rc, touching = 0;

    rc = render_cell_layout(&g.normal, 0, &l, &err);
    CHECK(rc == CL_OK, "a two-block cell: laid out (%s)", err.msg);
    if (rc == CL_OK) {
        CHECK(l.n_nodes == 9 && l.n_edges == 8,
              "one output block: no concat node (9 nodes with the title, 8 edges; got %d, %d)",
              l.n_nodes, l.n_edges);
        CHECK(layout_sane(&l, &g.normal, 0) == 0, "one output block: structure");
        CHECK(l.nodes[4].kind == RK_COMBINER && !strcmp(l.nodes[4].label, "concat"),
              "a concat block's combiner is labelled concat");
        CHECK(find_edge(&l, 4, 5), "a block reading an earlier block: its combiner feeds the op");
        CHECK(l.nodes[7].kind == RK_OUTPUT && !strcmp(l.nodes[7].label, "out: add"),
              "the one output block is the output: 'out: add'");
        render_layout_free(&l);
    }
    rc = render_cell_layout(&g.reduce, 1, &l, &err);
    CHECK(rc == CL_OK, "a cell that never reads h[i-1]: laid out (%s)", err.msg);
    if (rc == CL_OK) {
        CHECK(layout_sane(&l, &g.reduce, 1) == 0, "unused input: structure");
        for (int e = 0; e < l.n_edges; e++)
            touching += l.edges[e].from == 0 || l.edges[e].to == 0;
        CHECK(l.nodes[0].kind == RK_INPUT && touching == 0 && l.nodes[0].y > l.nodes[2].y,
              "the unused input h[i-1] is shown, unconnected, on the top rank");
        CHECK(!strcmp(l.nodes[7].label, "out: concat"), "'out: concat' for a concat output");
        render_layout_free(&l);
    }
}

static void test_layout_refusals(void)
{
    geno_cell c;
    render_layout l;
    cl_err err = {0};
    memset(&c, 0, sizeof c);
    c.nblocks = 0;
    CHECK(render_cell_layout(&c, 0, &l, &err) == CL_ERR_ARG && strstr(err.msg, "blocks") &&
              l.nodes == NULL,
          "a cell of 0 blocks is refused: %s", err.msg);
    c.nblocks = GENO_MAX_BLOCKS + 1;
    CHECK(render_cell_layout(&c, 0, &l, &err) == CL_ERR_ARG, "a cell of 17 blocks is refused");
    c.nblocks = 1;
    c.b[0].in[0] = 2;
    CHECK(render_cell_layout(&c, 0, &l, &err) == CL_ERR_ARG && strstr(err.msg, "input 2"),
          "a block reading itself is refused: %s", err.msg);
    c.b[0].in[0] = 0;
    c.b[0].op[1] = OP_COUNT;
    CHECK(render_cell_layout(&c, 0, &l, &err) == CL_ERR_ARG, "an op out of range is refused");
    c.b[0].op[1] = 0;
    c.b[0].comb = COMB_COUNT;
    CHECK(render_cell_layout(&c, 0, &l, &err) == CL_ERR_ARG, "a combiner out of range is refused");
}

/* ---- drawing ------------------------------------------------------------------ */

static void test_draw_sizes(void)
{
    cl_genotype g = geno("nasnet-a");
    const geno_cell *cells[2] = {&g.normal, &g.reduce};
    static const int sizes[][2] = {{20, 60}, {40, 120}, {10, 30}, {5, 12}, {1, 1}, {2, 200},
                                   {60, 20}, {3, 8},    {25, 90}, {80, 300}};
    cl_err err = {0};

    for (int ci = 0; ci < 2; ci++) {
        render_layout l;
        int nr, nc, rc, outside = 0, badk = 0;
        if (render_cell_layout(cells[ci], ci, &l, &err)) {
            CHECK(0, "layout for drawing: %s", err.msg);
            continue;
        }
        for (int u = 0; u < 2; u++)
            for (size_t i = 0; i < CL_ARRAY_LEN(sizes); i++) {
                draw_stats s = draw_in(&l, sizes[i][0], sizes[i][1], u, NULL);
                outside += s.outside;
                badk += s.bad_kind;
                if (!u && s.non_ascii)
                    CHECK(0, "ASCII drawing %dx%d has non-ASCII characters", sizes[i][0],
                          sizes[i][1]);
            }
        CHECK(outside == 0 && badk == 0,
              "%s cell: at 10 sizes from 1x1 to 80x300, Unicode and ASCII, nothing is drawn "
              "outside the rectangle and every cell inside has a valid kind",
              ci ? "reduction" : "normal");

        nr = nc = 0;
        rc = render_natural_size(&l, &nr, &nc, &err);
        CHECK(rc == CL_OK && nr > 5 && nc > 20, "%s cell: natural size %dx%d",
              ci ? "reduction" : "normal", nr, nc);
        for (int u = 0; u < 2; u++) {
            render_grid keep;
            draw_stats s = draw_in(&l, nr, nc, u, &keep);
            CHECK(s.outside == 0 && s.whole == l.n_nodes,
                  "%s cell, natural size, %s: every label whole (%d of %d), title included",
                  ci ? "reduction" : "normal", u ? "Unicode" : "ASCII", s.whole, l.n_nodes);
            CHECK(s.arrows == heads(&l),
                  "%s cell, natural size, %s: an arrow into each of the %d nodes edges enter "
                  "(%d)", ci ? "reduction" : "normal", u ? "Unicode" : "ASCII", heads(&l),
                  s.arrows);
            CHECK(u ? s.box_chars > 50 : s.non_ascii == 0,
                  "%s: %s", u ? "Unicode uses box-drawing characters" : "ASCII stays ASCII",
                  u ? "yes" : "yes");
            if (ci == 0 && u == 1) {
                printf("# NASNet-A normal cell at its natural size (%dx%d):\n", nr, nc);
                for (int r = 2; r < 2 + nr; r++)
                    printf("#   %s\n", row_text(&keep, r, 3, nc));
            }
            render_grid_free(&keep);
        }
        {
            draw_stats a = draw_in(&l, 40, 120, 1, NULL), b = draw_in(&l, 20, 60, 1, NULL);
            CHECK(a.missing == 0 && a.edge_cells > 50 && a.arrows >= heads(&l) - 1,
                  "%s cell at 40x120: every label shown (%d missing), edges drawn (%d cells, "
                  "%d arrows)", ci ? "reduction" : "normal", a.missing, a.edge_cells, a.arrows);
            CHECK(b.missing == 0 && b.edge_cells > 20 && b.arrows > 0,
                  "%s cell at 20x60: every label or its short form shown (%d missing), edges "
                  "drawn (%d cells)", ci ? "reduction" : "normal", b.missing, b.edge_cells);
        }
        render_layout_free(&l);
    }
}

/* layouts nobody made with render_cell_layout: odd edges, no points, a
 * node outside the box; drawing them must stay inside the rectangle */
static void test_draw_odd_layouts(void)
{
    render_node nodes[4] = {
        {RK_INPUT, "a", 50, 100, 40, 20}, {RK_OP, "b", 150, 100, 40, 20},
        {RK_OP, "a much longer label than fits", 100, 20, 300, 20},
        {RK_OUTPUT, "d", -500, -500, 10, 10},
    };
    render_edge edges[5];
    render_layout l = {nodes, 4, edges, 5, 200, 120};
    int outside = 0, badk = 0;
    memset(edges, 0, sizeof edges);
    edges[0].from = 0, edges[0].to = 1;           /* sideways, no points */
    edges[1].from = 2, edges[1].to = 0;           /* upwards */
    edges[2].from = 0, edges[2].to = 2;           /* a polyline of 2 points */
    edges[2].npts = 2;
    edges[2].pts[0] = 50, edges[2].pts[1] = 90, edges[2].pts[2] = 100, edges[2].pts[3] = 30;
    edges[3].from = 7, edges[3].to = -1;          /* out of range: ignored */
    edges[4].from = 1, edges[4].to = 3;
    edges[4].npts = 99;                           /* more than the array holds */
    for (int u = 0; u < 2; u++)
        for (int rows = 0; rows < 14; rows += 3)
            for (int cols = 0; cols < 50; cols += 7) {
                draw_stats s = draw_in(&l, rows, cols, u, NULL);
                outside += s.outside;
                badk += s.bad_kind;
            }
    CHECK(outside == 0 && badk == 0,
          "hand-made layouts (sideways and upward edges, no points, bad indices, a node far "
          "outside): nothing outside the rectangle");
    {
        render_layout empty = {0};
        draw_stats s = draw_in(&empty, 5, 5, 1, NULL);
        CHECK(s.outside == 0 && s.bad_kind == 0 && s.edge_cells == 0, "an empty layout draws nothing");
    }
    {
        /* a rectangle that sticks out of the grid is cut to it */
        render_grid g;
        cl_err err = {0};
        render_layout nl;
        cl_genotype gg = geno("nasnet-a");
        if (!render_grid_new(&g, 10, 20, &err) && !render_cell_layout(&gg.normal, 0, &nl, &err)) {
            render_draw(&g, &nl, -3, -4, 30, 50, 1);
            render_draw(&g, &nl, 8, 15, 30, 50, 1);
            render_draw(&g, &nl, 50, 50, 3, 3, 1);
            CHECK(1, "a rectangle partly or wholly outside the grid is cut to it (no crash)");
            render_layout_free(&nl);
        }
        render_grid_free(&g);
    }
}

/* random cells: every shape the space allows, up to 16 blocks */
static void test_random_cells(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int bad_layout = 0, bad_struct = 0, outside = 0, missing = 0, arrows = 0, n = 0, maxpts = 0;
    for (int t = 0; t < 60; t++) {
        geno_cell c;
        render_layout l;
        cl_err err = {0};
        memset(&c, 0, sizeof c);
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        c.nblocks = t < 4 ? GENO_MAX_BLOCKS : 1 + (int)((s >> 33) % 8);
        for (int b = 0; b < c.nblocks; b++)
            for (int j = 0; j < 2; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                /* favour recent blocks, as deep cells do */
                c.b[b].in[j] = (uint8_t)((s >> 33) % (2 + b));
                if (t % 3 == 0 && b >= 1 && j == 0)
                    c.b[b].in[j] = (uint8_t)(1 + b);
                c.b[b].op[j] = (uint8_t)((s >> 45) % OP_COUNT);
                c.b[b].comb = (uint8_t)((s >> 55) % COMB_COUNT);
            }
        if (render_cell_layout(&c, t & 1, &l, &err)) {
            if (!bad_layout++)
                printf("# random cell %d: %s\n", t, err.msg);
            continue;
        }
        n++;
        bad_struct += layout_sane(&l, &c, t & 1) != 0;
        for (int e = 0; e < l.n_edges; e++)
            maxpts = CL_MAX(maxpts, l.edges[e].npts);
        {
            int nr, nc;
            draw_stats a;
            render_natural_size(&l, &nr, &nc, &err);
            a = draw_in(&l, nr, nc, t & 1, NULL);
            outside += a.outside;
            missing += a.whole != l.n_nodes;
            arrows += a.arrows != heads(&l);
            for (int k = 0; k < 4; k++) {
                draw_stats b = draw_in(&l, 3 + (int)((s >> (8 * k)) % 40),
                                       4 + (int)((s >> (8 * k + 4)) % 150), k & 1, NULL);
                outside += b.outside + b.bad_kind;
            }
        }
        render_layout_free(&l);
    }
    CHECK(bad_layout == 0, "60 random cells (4 of 16 blocks): all laid out");
    CHECK(bad_struct == 0, "random cells: every layout's structure checks (%d bad)", bad_struct);
    CHECK(maxpts >= 4 && maxpts <= 64, "random cells: splines of at most 64 points (max %d)", maxpts);
    CHECK(outside == 0, "random cells at their natural size and 4 random sizes: nothing outside");
    CHECK(missing == 0, "random cells at their natural size: every label whole (%d cells short)",
          missing);
    CHECK(arrows == 0, "random cells at their natural size: an arrow into every entered node "
                       "(%d cells wrong)", arrows);
    (void)n;
}

static void test_genotype_grid(void)
{
    cl_genotype g = geno("nasnet-a");
    static const int sizes[][2] = {{20, 60}, {40, 120}, {10, 30}, {60, 140}, {24, 200}, {0, 0},
                                   {1, 1}};
    cl_err err = {0};
    for (int u = 0; u < 2; u++)
        for (size_t i = 0; i < CL_ARRAY_LEN(sizes); i++) {
            render_grid gr;
            int rc, titles = 0, bad = 0;
            if (render_grid_new(&gr, sizes[i][0], sizes[i][1], &err)) {
                CHECK(0, "grid %dx%d: %s", sizes[i][0], sizes[i][1], err.msg);
                continue;
            }
            rc = render_genotype_grid(&gr, &g, u, &err);
            for (int k = 0; k < gr.rows * gr.cols; k++)
                bad += gr.kind[k] >= RK_COUNT || (!u && gr.ch[k] >= 128);
            titles = grid_count(&gr, 0, 0, gr.rows, gr.cols, "normal cell") +
                     grid_count(&gr, 0, 0, gr.rows, gr.cols, "reduction cell");
            CHECK(rc == CL_OK && bad == 0, "both cells into a %dx%d grid (%s): %s",
                  sizes[i][0], sizes[i][1], u ? "Unicode" : "ASCII", rc ? err.msg : "drawn");
            if (sizes[i][0] >= 20 && sizes[i][1] >= 60)
                CHECK(titles == 2, "  ... both titles shown");
            if (sizes[i][0] == 40 && u) {
                printf("# both NASNet-A cells in 40x120:\n");
                for (int r = 0; r < gr.rows; r++)
                    printf("#   %s\n", row_text(&gr, r, 0, gr.cols));
            }
            render_grid_free(&gr);
        }
    {
        render_grid gr = {0};
        CHECK(render_grid_new(&gr, -1, 5, &err) == CL_ERR_ARG, "a grid of -1 rows is refused");
        CHECK(render_genotype_grid(NULL, &g, 1, &err) == CL_ERR_ARG, "no grid is refused");
        render_grid_new(&gr, 5, 5, &err);
        CHECK(render_genotype_grid(&gr, NULL, 1, &err) == CL_ERR_ARG, "no genotype is refused");
        render_grid_free(&gr);
        render_grid_free(&gr);
    }
}

/* ---- files ---------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    *len = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
    }
    fclose(f);
    return buf;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void test_files(void)
{
    cl_genotype g = geno("nasnet-a");
    cl_err err = {0};
    unsigned char *d;
    size_t len;
    int rc;

    rc = render_genotype_file(&g, "svg", tpath("a.svg"), &err);
    d = slurp(tpath("a.svg"), &len);
    CHECK(rc == CL_OK && d && (!strncmp((char *)d, "<?xml", 5) || !strncmp((char *)d, "<svg", 4)) &&
              strstr((char *)d, "</svg>"),
          "svg: a whole SVG document (%zu bytes) %s", len, rc ? err.msg : "");
    /* (SVG text writes '-' as &#45;, so h[i-1] is not looked for) */
    CHECK(d && strstr((char *)d, "sep 5x5") && strstr((char *)d, "sep 7x7") &&
              strstr((char *)d, "sep 3x3") && strstr((char *)d, "avg 3x3") &&
              strstr((char *)d, "identity") && strstr((char *)d, "max 3x3") &&
              strstr((char *)d, "concat") && strstr((char *)d, ">add<"),
          "svg: the op and combiner labels are in it");
    CHECK(d && strstr((char *)d, "normal cell") && strstr((char *)d, "reduction cell"),
          "svg: both cells, titled");
    free(d);

    rc = render_genotype_file(&g, "png", tpath("a.png"), &err);
    d = slurp(tpath("a.png"), &len);
    CHECK(rc == CL_OK && d && len > 33 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8) &&
              !memcmp(d + 12, "IHDR", 4),
          "png: the PNG signature and an IHDR chunk (%zu bytes) %s", len, rc ? err.msg : "");
    if (d && len > 33)
        CHECK(be32(d + 16) >= 300 && be32(d + 16) <= 10000 && be32(d + 20) >= 100 &&
                  be32(d + 20) <= 5000,
              "png: %u x %u pixels", be32(d + 16), be32(d + 20));
    free(d);

    rc = render_genotype_file(&g, "dot", tpath("a.dot"), &err);
    d = slurp(tpath("a.dot"), &len);
    CHECK(rc == CL_OK && d && strstr((char *)d, "digraph") && strstr((char *)d, "pos="),
          "dot: a laid-out digraph %s", rc ? err.msg : "");
    if (d) {
        Agraph_t *back = agmemread((char *)d);
        CHECK(back && agnnodes(back) == 36,
              "dot: libcgraph reads it back with 36 nodes (18 per cell; got %d)",
              back ? agnnodes(back) : -1);
        if (back)
            agclose(back);
    }
    free(d);

    rc = render_genotype_file(&g, "ascii", tpath("a.txt"), &err);
    d = slurp(tpath("a.txt"), &len);
    CHECK(rc == CL_OK && d && len > 100, "ascii: written (%zu bytes) %s", len, rc ? err.msg : "");
    if (d) {
        /* rows = lines, cols = code points of a line; all lines as wide */
        int rows = 0, cols = -1, same = 1, cp = 0;
        for (size_t i = 0; i < len; i++) {
            if (d[i] == '\n') {
                if (cols < 0)
                    cols = cp;
                same &= cp == cols;
                rows++;
                cp = 0;
            } else if ((d[i] & 0xC0) != 0x80) {
                cp++;
            }
        }
        CHECK(same && rows > 20 && cols > 40 && d[len - 1] == '\n',
              "ascii: %d lines of %d characters", rows, cols);
        if (same && rows > 0 && cols > 0) {
            render_grid gr;
            char *want = malloc((size_t)rows * ((size_t)cols * 3 + 1) + 1);
            size_t n = 0;
            if (want && !render_grid_new(&gr, rows, cols, &err)) {
                render_genotype_grid(&gr, &g, 1, &err);
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++)
                        n += cl_utf8_put(gr.ch[(size_t)r * cols + c], want + n);
                    want[n++] = '\n';
                }
                CHECK(n == len && !memcmp(want, d, len),
                      "ascii: the file is the grid drawing of both cells at that size");
                CHECK(strstr((char *)d, "sep 5x5") && strstr((char *)d, "normal cell") &&
                          strstr((char *)d, "reduction cell") && strstr((char *)d, "\xe2\x96\xbc"),
                      "ascii: labels, titles and arrows in UTF-8");
                render_grid_free(&gr);
            }
            free(want);
        }
    }
    free(d);

    /* refusals */
    rc = render_genotype_file(&g, "jpeg", tpath("a.jpeg"), &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "jpeg") && strstr(err.msg, "svg, png, dot, ascii") &&
              access(tpath("a.jpeg"), F_OK) != 0,
          "an unknown format is refused with the valid list, no file made: %s", err.msg);
    rc = render_genotype_file(&g, NULL, tpath("b.svg"), &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "svg, png, dot, ascii"), "no format: %s", err.msg);
    rc = render_genotype_file(&g, "svg", "/nonexistent-dir/x.svg", &err);
    CHECK(rc == CL_ERR_IO && strstr(err.msg, "/nonexistent-dir/x.svg"),
          "an unwritable path is named: %s", err.msg);
    rc = render_genotype_file(&g, "ascii", "/nonexistent-dir/x.txt", &err);
    CHECK(rc == CL_ERR_IO && strstr(err.msg, "/nonexistent-dir/x.txt"),
          "an unwritable ascii path is named: %s", err.msg);
    rc = render_genotype_file(NULL, "svg", tpath("c.svg"), &err);
    CHECK(rc == CL_ERR_ARG, "no genotype is refused");
    {
        cl_genotype bad = g;
        bad.reduce.nblocks = 0;
        rc = render_genotype_file(&bad, "svg", tpath("d.svg"), &err);
        CHECK(rc == CL_ERR_ARG && strstr(err.msg, "reduction cell"),
              "a bad cell is refused and named: %s", err.msg);
    }
}

/* The screen runs in the user's locale; where the decimal point is a
 * comma, numbers to and from Graphviz must still be C-locale numbers. */
static void test_locale(void)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                        "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
    cl_genotype g = geno("nasnet-a");
    render_layout a, b;
    cl_err err = {0};
    const char *got = NULL;
    int same = 1;
    if (render_cell_layout(&g.reduce, 1, &a, &err)) {
        CHECK(0, "layout in the C locale: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < CL_ARRAY_LEN(names) && !got; i++)
        if (setlocale(LC_NUMERIC, names[i]) && !strcmp(localeconv()->decimal_point, ","))
            got = names[i];
    if (!got && access("/usr/share/i18n/locales/de_DE", R_OK) == 0) {
        /* none installed: make one in the test's directory (glibc reads
         * LOCPATH at each setlocale) */
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1",
                 tmpdir);
        if (system(cmd) != -1 && setenv("LOCPATH", tmpdir, 1) == 0 &&
            setlocale(LC_NUMERIC, "de_DE.UTF-8") && !strcmp(localeconv()->decimal_point, ","))
            got = "de_DE.UTF-8 (made by localedef)";
    }
    if (!got) {
        printf("# no locale with a decimal comma is installed: the locale check is skipped\n");
        setlocale(LC_NUMERIC, "C");
        render_layout_free(&a);
        return;
    }
    if (render_cell_layout(&g.reduce, 1, &b, &err) == CL_OK) {
        same = a.n_nodes == b.n_nodes && fabs(a.width - b.width) < 0.01;
        for (int i = 0; i < a.n_nodes && same; i++)
            same = fabs(a.nodes[i].x - b.nodes[i].x) < 0.01 && fabs(a.nodes[i].w - b.nodes[i].w) < 0.01;
        render_layout_free(&b);
    } else {
        same = 0;
    }
    setlocale(LC_NUMERIC, "C");
    CHECK(same, "in the %s locale (decimal comma) a cell lays out as in C %s", got,
          same ? "" : err.msg);
    render_layout_free(&a);
    if (getenv("LOCPATH") && !strcmp(getenv("LOCPATH"), tmpdir)) {
        /* the locale made above is a directory: remove_tree goes one level deep */
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/de_DE.UTF-8'", tmpdir);
        if (system(cmd) != 0)
            printf("# could not remove %s/de_DE.UTF-8\n", tmpdir);
        unsetenv("LOCPATH");
    }
}

static void test_repeated(void)
{
    cl_genotype g = geno("nasnet-a");
    cl_err err = {0};
    double t0, per;
    int n = 0;
    render_layout l;
    t0 = now();
    for (int i = 0; i < 20; i++)
        if (!render_cell_layout(i & 1 ? &g.reduce : &g.normal, i & 1, &l, &err)) {
            render_layout_free(&l);
            n++;
        }
    per = (now() - t0) / 20 * 1e3;
    printf("# render_cell_layout: %.2f ms per cell (mean of 20, NASNet-A)\n", per);
    /* the time is information only (speed is for benchmarks); what is
     * checked is that layouts in a row keep working */
    CHECK(n == 20, "20 cell layouts in a row, each freed (%.2f ms each)", per);
    {
        render_grid gr;
        if (!render_grid_new(&gr, 40, 120, &err)) {
            t0 = now();
            for (int i = 0; i < 10; i++)
                render_genotype_grid(&gr, &g, 1, &err);
            per = (now() - t0) / 10 * 1e3;
            printf("# render_genotype_grid 40x120: %.2f ms (both layouts and drawings)\n", per);
            render_grid_free(&gr);
        }
    }
}

int main(void)
{
    int saved = dup(STDERR_FILENO), fd;
    char errpath[1100];
    size_t errlen = 0;
    unsigned char *errtext;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!tmpdir_make("test-render")) {
        printf("not ok - mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    /* Graphviz must say nothing on stderr: catch it in a file */
    snprintf(errpath, sizeof errpath, "%s/stderr", tmpdir);
    fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
        printf("not ok - redirecting stderr: %s\n", strerror(errno));
        return 1;
    }
    close(fd);

    test_nasnet_layout();
    test_layout_shapes();
    test_layout_refusals();
    test_draw_sizes();
    test_draw_odd_layouts();
    test_random_cells();
    test_genotype_grid();
    test_files();
    test_locale();
    test_repeated();

    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    errtext = slurp(errpath, &errlen);
    CHECK(errtext && errlen == 0, "nothing was written on stderr (%zu bytes%s%.200s)", errlen,
          errlen ? ": " : "", errlen && errtext ? (char *)errtext : "");
    free(errtext);
    remove_tree(tmpdir);
    return check_done();
}
