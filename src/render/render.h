/* render.h - cells as graphs: laid out by Graphviz (libcgraph, libgvc,
 * the dot layout), written to files (SVG, PNG, DOT), and drawn into a grid
 * of characters for the terminal (the screen's cell pane and `cellar
 * render --format ascii`).
 *
 * A cell's graph: the two inputs (h_{i-1} and h_i), each block's two ops
 * and its combiner, and the cell's output (the concatenation of the blocks
 * no later block reads); edges input -> op -> combiner -> (later op |
 * output).  Graphviz's messages never reach the terminal: they come back
 * in cl_err.  Graphviz keeps process-wide state, so these functions are
 * for one thread at a time; one Graphviz context serves the process and is
 * freed at exit. */
#ifndef CELLAR_RENDER_RENDER_H
#define CELLAR_RENDER_RENDER_H

#include <stdint.h>

#include "core/err.h"
#include "space/genotype.h"

/* what a node or a grid cell shows (themes colour them) */
typedef enum {
    RK_EMPTY,     /* nothing */
    RK_EDGE,      /* a line of an edge (or its arrow head) */
    RK_INPUT,     /* a cell input: h_{i-1}, h_i */
    RK_OP,        /* an op */
    RK_COMBINER,  /* add / concat */
    RK_OUTPUT,    /* the cell's output */
    RK_TITLE,     /* "normal cell", "reduction cell" */
    RK_COUNT
} render_kind;

typedef struct render_node {
    render_kind kind;
    char label[32];          /* "h[i-1]", "sep 5x5", "add", "concat", "out" ... */
    double x, y, w, h;       /* Graphviz points, origin bottom-left, (x, y) the centre */
} render_node;

typedef struct render_edge {
    int from, to;            /* node indices */
    int npts;
    double pts[2 * 64];      /* the spline's control points (x, y), at most 64 */
} render_edge;

typedef struct render_layout {
    render_node *nodes;
    int n_nodes;
    render_edge *edges;
    int n_edges;
    double width, height;    /* bounding box in points */
} render_layout;

/* Lay one cell out (reduction: title it so).  Free with render_layout_free. */
int render_cell_layout(const geno_cell *c, int reduction, render_layout *out, cl_err *err);
void render_layout_free(render_layout *l);

/* A grid of terminal cells: code points and what each shows. */
typedef struct render_grid {
    int rows, cols;
    uint32_t *ch;            /* [rows * cols] Unicode code points (' ' when empty) */
    unsigned char *kind;     /* [rows * cols] render_kind */
} render_grid;

int render_grid_new(render_grid *g, int rows, int cols, cl_err *err);
void render_grid_free(render_grid *g);

/* Draw a layout scaled into the grid's rectangle (top, left, rows, cols),
 * clearing it first and writing nothing outside it: boxes with their
 * labels (shortened to fit when space is short), edges as lines, an arrow
 * at each edge's end.  unicode: box-drawing characters and arrows;
 * otherwise ASCII (+ - | > v).  When the space is too small to be useful
 * it draws what fits. */
void render_draw(render_grid *g, const render_layout *l, int top, int left, int rows, int cols,
                 int unicode);

/* Both cells of a genotype, the normal above the reduction cell (or side
 * by side when the grid is wide), into the whole grid. */
int render_genotype_grid(render_grid *g, const cl_genotype *geno, int unicode, cl_err *err);

/* Write a genotype's two cells to a file: "svg", "png", "dot" (through
 * libgvc) or "ascii" (the terminal drawing, UTF-8 box characters, as
 * text).  An unknown format lists the valid ones.  path "-" is standard
 * output. */
int render_genotype_file(const cl_genotype *geno, const char *format, const char *path,
                         cl_err *err);

/* The format a file's extension names (.svg .png .dot .gv .txt -> "svg",
 * "png", "dot", "dot", "ascii"), or NULL.  Available without Graphviz. */
const char *render_format_of(const char *path);

#endif
