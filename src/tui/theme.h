/* theme.h - colour themes: a style (foreground, background, attributes)
 * for each element of the screen, read from themes/NAME.lua, a Lua table
 * of strings such as  status = "white on blue bold". */
#ifndef CELLAR_TUI_THEME_H
#define CELLAR_TUI_THEME_H

#include "core/err.h"
#include "lua/cellar_lua.h"

typedef enum {
    TH_TEXT, TH_DIM, TH_STATUS, TH_HINT, TH_BORDER, TH_TITLE, TH_FOCUS, TH_SELECTED,
    TH_GOOD, TH_BAD, TH_LINE, TH_POINTS, TH_AXIS,
    TH_CELL_INPUT, TH_CELL_OP, TH_CELL_COMBINER, TH_CELL_OUTPUT, TH_CELL_EDGE, TH_CELL_TITLE,
    TH_LOG_INFO, TH_LOG_WARN, TH_LOG_ERROR, TH_LOG_COMMAND, TH_PROMPT, TH_OVERLAY,
    TH_COUNT
} theme_elem;

extern const char *const theme_elem_names[TH_COUNT];   /* "text", "dim", "status", ... */
extern const char *const theme_names[];   /* the shipped themes, NULL-terminated */

typedef struct theme_style {
    short fg, bg;        /* curses colour numbers; -1: the terminal's default */
    unsigned attrs;      /* THA_* */
} theme_style;

enum { THA_BOLD = 1, THA_UNDERLINE = 2, THA_REVERSE = 4, THA_DIM = 8 };

typedef struct tui_theme {
    char name[32];
    theme_style s[TH_COUNT];
} tui_theme;

/* Parse "fg on bg bold underline reverse dim" (any part may be left out;
 * colours: default, black, red, green, yellow, blue, magenta, cyan, white,
 * bright-NAME, or 0..255). */
int theme_parse_style(const char *text, theme_style *s);

/* Load a theme by name (the shipped themes/NAME.lua) or path.  Elements
 * the file leaves out keep the monochrome defaults. */
int theme_load(cl_lua *L, const char *name, tui_theme *t, cl_err *err);

/* The built-in monochrome theme: attributes only (for NO_COLOR). */
void theme_monochrome(tui_theme *t);

#endif
