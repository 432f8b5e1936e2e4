/* layout.h - where each pane of the screen goes, as a pure function of the
 * terminal's size (tested over many sizes: inside the screen, no overlap,
 * every pane big enough to be read). */
#ifndef CELLAR_TUI_LAYOUT_H
#define CELLAR_TUI_LAYOUT_H

typedef enum {
    PANE_STATUS,    /* one line on top */
    PANE_ENTROPY,   /* chart: the controller's policy entropy */
    PANE_REWARD,    /* chart: rewards and their moving average */
    PANE_BOARD,     /* the leaderboard */
    PANE_CELL,      /* the selected trial's cells */
    PANE_LOG,       /* the log, with the console's input line at its foot */
    PANE_HINT,      /* one line at the bottom: the main keys */
    PANE_COUNT
} pane_id;

typedef struct rect {
    int y, x, h, w;
} rect;

#define LAYOUT_MIN_ROWS 20
#define LAYOUT_MIN_COLS 60

/* Fill out[PANE_COUNT]; returns 0, or -1 when the terminal is smaller than
 * LAYOUT_MIN_ROWS x LAYOUT_MIN_COLS (out is then left as zeros). */
int tui_layout(int rows, int cols, rect out[PANE_COUNT]);

#endif
