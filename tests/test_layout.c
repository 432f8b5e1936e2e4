/* test_layout.c - the screen's layout over many terminal sizes: every pane
 * inside the screen, no two overlapping, the panes together covering it,
 * and each big enough to be read; too small a terminal is said so. */
#include "check.h"
#include "tui/layout.h"

static int overlap(rect a, rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

int main(void)
{
    int sizes = 0, inside = 1, apart = 1, covered = 1, readable = 1;
    rect r[PANE_COUNT];
    static const int mins[PANE_COUNT][2] = {
        /* rows, cols */
        [PANE_STATUS] = {1, 60}, [PANE_ENTROPY] = {5, 30}, [PANE_REWARD] = {5, 30},
        [PANE_BOARD] = {10, 30}, [PANE_CELL] = {8, 30},    [PANE_LOG] = {8, 30},
        [PANE_HINT] = {1, 60},
    };
    for (int rows = LAYOUT_MIN_ROWS; rows <= 120; rows += 3)
        for (int cols = LAYOUT_MIN_COLS; cols <= 320; cols += 7) {
            long area = 0;
            sizes++;
            if (tui_layout(rows, cols, r) != 0) {
                inside = 0;
                continue;
            }
            for (int i = 0; i < PANE_COUNT; i++) {
                area += (long)r[i].h * r[i].w;
                if (r[i].y < 0 || r[i].x < 0 || r[i].y + r[i].h > rows || r[i].x + r[i].w > cols)
                    inside = 0;
                if (r[i].h < mins[i][0] || r[i].w < mins[i][1])
                    readable = 0;
                for (int j = 0; j < i; j++)
                    if (overlap(r[i], r[j]))
                        apart = 0;
            }
            if (area != (long)rows * cols)
                covered = 0;
        }
    CHECK(inside, "every pane lies inside the screen (%d sizes from 20x60 to 120x320)", sizes);
    CHECK(apart, "no two panes overlap");
    CHECK(covered, "the panes cover the whole screen");
    CHECK(readable, "each pane keeps its minimum size (charts 5x30, leaderboard 10x30, ...)");
    tui_layout(24, 80, r);
    CHECK(r[PANE_BOARD].h >= 10 && r[PANE_CELL].w >= 32 && r[PANE_LOG].w >= 40,
          "at 80x24: leaderboard %d rows, cells %d columns, log %d columns", r[PANE_BOARD].h,
          r[PANE_CELL].w, r[PANE_LOG].w);
    tui_layout(60, 200, r);
    CHECK(r[PANE_CELL].h >= 30 && r[PANE_CELL].w >= 80,
          "a large terminal gives the cells room (%dx%d at 200x60)", r[PANE_CELL].w, r[PANE_CELL].h);
    CHECK(tui_layout(19, 80, r) == -1 && tui_layout(24, 59, r) == -1,
          "below 60x20 the layout says the terminal is too small");
    return check_done();
}
