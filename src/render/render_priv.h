/* render_priv.h - what the files of src/render share and nobody else needs:
 * the scale that ties Graphviz points to terminal columns, and the size a
 * layout takes when drawn at that scale. */
#ifndef CELLAR_RENDER_RENDER_PRIV_H
#define CELLAR_RENDER_RENDER_PRIV_H

#include "render/render.h"

/* One terminal column in points.  render_cell_layout sizes every box as
 * (label + 4) columns of this width (fixedsize), so Graphviz spaces nodes
 * the way a monospaced terminal needs, and a drawing at one column per
 * RENDER_COL_PT points shows every label whole with a space either side. */
#define RENDER_COL_PT 7.2

/* The rows and columns render_draw needs to show a layout at its natural
 * scale (full labels, boxes three rows tall, one row per bus).  Returns
 * CL_OK, or CL_ERR_NOMEM. */
int render_natural_size(const render_layout *l, int *rows, int *cols, cl_err *err);

/* How well a layout shows in a rectangle of rows x cols, for choosing
 * between arrangements: *quality in 0..1 (the share of label text shown,
 * times how well the edges read with the rows there are), and the rows
 * the drawing takes (at most rows).  CL_OK, or CL_ERR_NOMEM. */
int render_fit(const render_layout *l, int rows, int cols, double *quality, int *used_rows);

#endif
