/* tui.h - the workbench screen: a search running in ncurses panes (status,
 * charts of the controller's entropy and of the rewards, leaderboard, the
 * selected trial's cells, log and Lua console), steered by keys. */
#ifndef CELLAR_TUI_TUI_H
#define CELLAR_TUI_TUI_H

#include "core/err.h"
#include "lua/cellar_lua.h"
#include "search/engine.h"
#include "search/experiment.h"
#include "store/store.h"

typedef struct tui_opts {
    const char *theme;     /* NULL: "default" (monochrome when NO_COLOR is set) */
    const char *db_path;   /* for messages and rendered file names */
} tui_opts;

/* The key map, for the help overlay and the manual. */
typedef struct tui_key {
    const char *key;
    const char *help;
} tui_key;
extern const tui_key tui_keys[];   /* terminated by a NULL key */

/* Run the screen until the user quits (or a signal asks to).  The engine
 * and journal stay the caller's; on return the search is stopped or
 * finished and the journal consistent.  Errors are what stopped the
 * screen itself (no terminal, an engine failure it could not show). */
int tui_run(cl_engine *e, cl_store *st, cl_lua *L, const experiment *x, const tui_opts *o,
            cl_err *err);

#endif
