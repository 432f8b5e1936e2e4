/* test_chart.c - charts drawn in a curses screen (a terminal description
 * on /dev/null): every draw finishes, touches nothing outside its
 * rectangle, and shows what it should (labels, the empty message). */
#include <curses.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "tui/chart.h"

/* fill the screen with '#', draw, then check the rectangle's outside */
static int stays_inside(int top, int left, int rows, int cols, const chart_spec *sp,
                        const chart_series *s, int ns)
{
    int ok = 1, R, C;
    getmaxyx(stdscr, R, C);
    for (int y = 0; y < R; y++)
        mvhline(y, 0, '#', C);
    chart_draw(stdscr, top, left, rows, cols, sp, s, ns);
    for (int y = 0; y < R; y++)
        for (int x = 0; x < C; x++) {
            int in = y >= top && y < top + rows && x >= left && x < left + cols;
            if (!in && (mvinch(y, x) & A_CHARTEXT) != '#')
                ok = 0;
        }
    return ok;
}

static int screen_has(const char *text)
{
    int R, C;
    char line[512];
    getmaxyx(stdscr, R, C);
    for (int y = 0; y < R; y++) {
        int n = 0;
        for (int x = 0; x < C && n < (int)sizeof line - 1; x++)
            line[n++] = (char)(mvinch(y, x) & A_CHARTEXT);
        line[n] = '\0';
        if (strstr(line, text))
            return 1;
    }
    return 0;
}

int main(void)
{
    FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
    SCREEN *sc;
    cl_rng rng;
    double x[64], y[64], y2[64];
    int all = 1, draws = 0;
    chart_spec sp;
    chart_series s[2];
    setenv("LINES", "40", 1);
    setenv("COLUMNS", "120", 1);
    sc = newterm("xterm", out, in);
    if (!sc)
        check_skip("no terminal description 'xterm' (Debian: ncurses-base)");
    set_term(sc);
    rng_seed(&rng, 3);
    memset(&sp, 0, sizeof sp);
    sp.title = "reward";
    sp.yfmt = "%.3f";
    sp.xmin = 1;
    sp.xmax = 60;
    for (int unicode = 0; unicode < 2; unicode++)
        for (int trial = 0; trial < 40; trial++) {
            int n = 1 + (int)rng_below(&rng, 60);
            for (int i = 0; i < n; i++) {
                /* steep, flat, out of range, missing: lines of every slope */
                x[i] = 1 + i * (trial % 3 == 0 ? 3.0 : 1.0);
                y[i] = trial % 5 == 0 ? 0.5 : rng_uniform(&rng) * (trial % 2 ? 1e6 : 1.0);
                y2[i] = i % 7 == 3 ? NAN : y[i] * 0.9;
            }
            s[0] = (chart_series){x, y, n, 1, 0};
            s[1] = (chart_series){x, y2, n, 0, A_BOLD};
            sp.unicode = unicode;
            for (int rows = 3; rows <= 14; rows += 1 + trial % 3)
                for (int cols = 10; cols <= 90; cols += 9 + trial % 5) {
                    all &= stays_inside(2, 3, rows, cols, &sp, s, 2);
                    draws++;
                }
        }
    CHECK(all, "%d charts of random series (steep, flat, huge, missing values, ASCII and "
               "braille) finish and draw only inside their rectangles", draws);
    erase();
    x[0] = 1;
    x[1] = 60;
    y[0] = 0.25;
    y[1] = 0.75;
    s[0] = (chart_series){x, y, 2, 0, 0};
    sp.unicode = 0;
    chart_draw(stdscr, 0, 0, 10, 60, &sp, s, 1);
    CHECK(screen_has("reward") && screen_has("0.7") && screen_has("0.2") && screen_has("trial 60"),
          "the title, the y range and the last trial are labelled");
    CHECK(screen_has("*"), "an ASCII chart draws its line with '*'");
    erase();
    sp.empty = "waiting for the first trial";
    s[0].n = 0;
    chart_draw(stdscr, 0, 0, 10, 60, &sp, s, 1);
    CHECK(screen_has("waiting for the first trial"), "an empty chart says why it is empty");
    endwin();
    delscreen(sc);
    fclose(out);
    fclose(in);
    return check_done();
}
