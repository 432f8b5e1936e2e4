/* layout.c - the screen's panes:
 *
 *   status line
 *   entropy chart  | leaderboard
 *   reward chart   |
 *   ---------------+------------
 *   cells          | log (+ console)
 *   key hints
 *
 * The charts and cells take the left column (40% of the width, at least
 * 30 columns), the leaderboard and log the right; the upper band takes 45%
 * of the rows between the two lines.  At 80x24 every pane still shows its
 * content; a large terminal gives all of them more room. */
#include "tui/layout.h"

#include <string.h>

int tui_layout(int rows, int cols, rect out[PANE_COUNT])
{
    int body, top, left, right, half;
    memset(out, 0, PANE_COUNT * sizeof *out);
    if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS)
        return -1;
    body = rows - 2;
    top = body * 45 / 100;
    if (top < 10)
        top = 10;
    left = cols * 40 / 100;
    if (left < 30)
        left = 30;
    right = cols - left;
    half = top / 2;

    out[PANE_STATUS] = (rect){0, 0, 1, cols};
    out[PANE_ENTROPY] = (rect){1, 0, half, left};
    out[PANE_REWARD] = (rect){1 + half, 0, top - half, left};
    out[PANE_BOARD] = (rect){1, left, top, right};
    out[PANE_CELL] = (rect){1 + top, 0, body - top, left};
    out[PANE_LOG] = (rect){1 + top, left, body - top, right};
    out[PANE_HINT] = (rect){rows - 1, 0, 1, cols};
    return 0;
}
