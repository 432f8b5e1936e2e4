/* chart.c - charts on a grid of braille cells: each character holds 2 x 4
 * dots, so a 40 x 6 plot has 80 x 24 points of resolution.  A cell takes
 * the colour of the last series that set a dot in it; points are drawn
 * before lines, so a line stays readable where they meet.  Without UTF-8
 * a cell shows '*' for a line and '.' for points. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static const unsigned char dot_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

typedef struct canvas {
    int rows, cols;          /* in characters */
    unsigned char *bits;     /* braille dots per cell */
    signed char *owner;      /* series index per cell, -1 empty */
    unsigned char *is_line;
} canvas;

static void set_dot(canvas *c, int dx, int dy, int series, int line)
{
    int cx = dx / 2, cy = dy / 4, i;
    if (dx < 0 || dy < 0 || cx >= c->cols || cy >= c->rows)
        return;
    i = cy * c->cols + cx;
    c->bits[i] |= dot_bit[dy % 4][dx % 2];
    c->owner[i] = (signed char)series;
    c->is_line[i] = (unsigned char)line;
}

/* Bresenham between two dots (both inside the canvas: see chart_draw) */
static void line_to(canvas *c, int x0, int y0, int x1, int y1, int series)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        int e2 = 2 * e;   /* one error for both tests of the step */
        set_dot(c, x0, y0, series, 1);
        if (x0 == x1 && y0 == y1)
            break;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void chart_draw(WINDOW *w, int top, int left, int rows, int cols, const chart_spec *spec,
                const chart_series *s, int ns)
{
    char lab[32], autofmt[8];
    const char *yfmt = spec->yfmt;
    int lw = 8, titled = spec->title != NULL, pr = rows - 1 - titled, pc = cols - lw, any = 0;
    double ymin = INFINITY, ymax = -INFINITY;
    canvas c;

    if (pr < 2 || cols < 16)
        return;
    if (titled) {
        wattron(w, spec->title_attr);
        mvwaddnstr(w, top, left, spec->title, cols);
        wattroff(w, spec->title_attr);
        if (spec->latest) {
            int n = (int)strlen(spec->latest), x = left + cols - n;
            if (x > left + (int)strlen(spec->title) + 1)
                mvwaddstr(w, top, x, spec->latest);
        }
        top++;
    }
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i])) {
                ymin = fmin(ymin, s[k].y[i]);
                ymax = fmax(ymax, s[k].y[i]);
                any = 1;
            }
    if (!any) {
        wattron(w, spec->axis_attr);
        mvwaddnstr(w, top + rows / 2, left + 2, spec->empty ? spec->empty : "no data yet",
                   cols - 4);
        wattroff(w, spec->axis_attr);
        return;
    }
    {   /* a margin, and some height for a flat series */
        double span = ymax - ymin, pad = span > 0 ? span * 0.08 : fmax(fabs(ymax) * 0.01, 1e-3);
        ymin -= pad;
        ymax += pad;
    }
    if (!yfmt) {   /* enough decimals that the two labels differ */
        int dec = (int)ceil(-log10(ymax - ymin)) + 1;
        dec = dec < 0 ? 0 : dec > 6 ? 6 : dec;
        snprintf(autofmt, sizeof autofmt, "%%.%df", dec);
        yfmt = autofmt;
    }
    c.rows = pr;
    c.cols = pc;
    c.bits = calloc((size_t)pr * pc, 1);
    c.owner = malloc((size_t)pr * pc);
    c.is_line = calloc((size_t)pr * pc, 1);
    if (!c.bits || !c.owner || !c.is_line) {
        free(c.bits);
        free(c.owner);
        free(c.is_line);
        return;
    }
    memset(c.owner, -1, (size_t)pr * pc);
    {
        double xspan = spec->xmax > spec->xmin ? spec->xmax - spec->xmin : 1.0;
        int W = pc * 2 - 1, H = pr * 4 - 1;
        for (int pass = 0; pass < 2; pass++)   /* points first, lines over them */
            for (int k = 0; k < ns; k++) {
                int px = -1, py = -1;
                if ((pass == 0) != (s[k].points != 0))
                    continue;
                for (int i = 0; i < s[k].n; i++) {
                    int dx, dy;
                    if (!isfinite(s[k].y[i]) || !isfinite(s[k].x[i]))
                        continue;
                    /* values outside the x range are pinned to its ends */
                    dx = (int)lround(fmin(fmax((s[k].x[i] - spec->xmin) / xspan, 0.0), 1.0) * W);
                    dy = H - (int)lround((s[k].y[i] - ymin) / (ymax - ymin) * H);
                    if (s[k].points)
                        set_dot(&c, dx, dy, k, 0);
                    else if (px >= 0)
                        line_to(&c, px, py, dx, dy, k);
                    else
                        set_dot(&c, dx, dy, k, 1);
                    px = dx;
                    py = dy;
                }
            }
    }
    for (int y = 0; y < pr; y++)
        for (int x = 0; x < pc; x++) {
            int i = y * pc + x;
            if (c.owner[i] < 0)
                continue;
            wattron(w, s[(int)c.owner[i]].attr);
            if (spec->unicode) {
                wchar_t ch[2] = {(wchar_t)(0x2800 + c.bits[i]), 0};
                mvwaddwstr(w, top + y, left + lw + x, ch);
            } else {
                mvwaddch(w, top + y, left + lw + x, c.is_line[i] ? '*' : '.');
            }
            wattroff(w, s[(int)c.owner[i]].attr);
        }
    free(c.bits);
    free(c.owner);
    free(c.is_line);
    /* axes */
    wattron(w, spec->axis_attr);
    snprintf(lab, sizeof lab, yfmt, ymax);
    mvwaddnstr(w, top, left, lab, lw - 1);
    snprintf(lab, sizeof lab, yfmt, ymin);
    mvwaddnstr(w, top + pr - 1, left, lab, lw - 1);
    for (int y = 0; y < pr; y++)
        mvwaddch(w, top + y, left + lw - 1, spec->unicode ? ACS_VLINE : '|');
    mvwhline(w, top + pr, left + lw, spec->unicode ? ACS_HLINE : '-', pc);
    snprintf(lab, sizeof lab, "%.0f", spec->xmin);
    mvwaddstr(w, top + pr, left + lw, lab);
    snprintf(lab, sizeof lab, "trial %.0f", spec->xmax);
    mvwaddstr(w, top + pr, left + cols - (int)strlen(lab), lab);
    wattroff(w, spec->axis_attr);
}
