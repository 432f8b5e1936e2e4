/* chart.h - line and point charts in a curses window, over plain arrays,
 * knowing nothing of what they show. */
#ifndef CELLAR_TUI_CHART_H
#define CELLAR_TUI_CHART_H

#include <curses.h>

typedef struct chart_series {
    const double *x, *y;
    int n;
    int points;      /* 1: a dot per value; 0: a line through the values */
    attr_t attr;     /* how the series is drawn */
} chart_series;

typedef struct chart_spec {
    const char *title;      /* top line, left (NULL: no title line; the caller shows it) */
    const char *latest;     /* top line, right: the latest value(s) */
    const char *empty;      /* shown when there is nothing to plot */
    double xmin, xmax;      /* the x range (trials) */
    const char *yfmt;       /* printf format of the y labels; NULL: as many decimals as the
                               range needs */
    attr_t title_attr, axis_attr;
    int unicode;            /* braille dots; otherwise ASCII */
} chart_spec;

/* Draw into the rectangle (top, left, rows, cols) of w: the title line
 * (unless the title is NULL), the y range on the left, the plot, the x
 * range on the bottom line; at least 3 rows and 16 columns.  The y range
 * fits the data (with a margin); NaN values are skipped. */
void chart_draw(WINDOW *w, int top, int left, int rows, int cols, const chart_spec *spec,
                const chart_series *s, int ns);

#endif
