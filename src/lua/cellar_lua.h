/* cellar_lua.h - the embedded Lua 5.4 and its `cellar` module.
 *
 * An experiment file is Lua: it declares one or more experiments with
 * cellar.experiment{...} (dataset, space, child recipe, strategy, budget,
 * seed ...), may register hooks with cellar.on(event, fn), and may give
 * settings as functions of the trial index.  The Lua files of lua/ (the
 * cellar helpers, the spaces, the shipped experiments) are compiled into
 * the binary, so `require "spaces.nasnet"` and the experiment name
 * "quick" work without an installation; files on disk are found too.
 *
 * Every call into Lua runs under a traceback handler (errors carry
 * file:line) and an instruction-count limit (runaway code is stopped);
 * the libraries are a chosen set (no os.execute, no loading of C code).
 * See cellar-lua(7). */
#ifndef CELLAR_LUA_CELLAR_LUA_H
#define CELLAR_LUA_CELLAR_LUA_H

#include <stddef.h>

#include "core/err.h"
#include "core/util.h"
#include "search/engine.h"
#include "search/experiment.h"
#include "store/store.h"

typedef struct cl_lua cl_lua;

int cl_lua_new(cl_lua **out, cl_err *err);
void cl_lua_free(cl_lua *L);

/* Run an experiment file: a path, or the name of an embedded experiment
 * ("quick", "rl-vs-random", "cifar10") when no such file exists.  The
 * experiments it declares come back in *xs (owned by L, valid while L
 * lives, their per_trial callbacks bound to L); source_path and source are
 * set. */
int cl_lua_load_experiment(cl_lua *L, const char *path_or_name, experiment **xs, int *n,
                           cl_err *err);

/* The same from text already in memory (`cellar resume` reads an
 * experiment's source back from its journal); path names it in messages
 * and in the experiments' source_path. */
int cl_lua_load_experiment_text(cl_lua *L, const char *path, const char *text, experiment **xs,
                                int *n, cl_err *err);

/* Call the hooks registered for the event's kind.  A failing hook is an
 * error carrying its file:line. */
int cl_lua_dispatch(cl_lua *L, const engine_event *ev, cl_err *err);

/* Attach the running engine and its journal (NULL detaches): then
 * cellar.pause(), cellar.set(...), cellar.status(), cellar.trials() ...
 * act on it; without one they raise "no search is running".  A journal
 * alone (e NULL: another process's search, watched) serves cellar.trials
 * and cellar.render(id). */
void cl_lua_attach(cl_lua *L, cl_engine *e, cl_store *st);

/* What commands given from Lua are journaled as: "lua" (the default), or
 * "console" while the screen evaluates what a user typed. */
void cl_lua_set_source(cl_lua *L, const char *source);

/* Run a Lua file that returns a table of strings (a colour theme: the
 * embedded "themes/NAME.lua", or a path) and call fn(ud, key, value) for
 * each string-valued entry, in no particular order.  Other values are an
 * error naming the key. */
int cl_lua_read_strings(cl_lua *L, const char *path, int (*fn)(void *ud, const char *key,
                        const char *value), void *ud, cl_err *err);

/* Evaluate a chunk as the console does: an expression's values are
 * returned as text in out (as `return <chunk>` first, as statements
 * otherwise).  *incomplete is set (and nothing run) when the chunk ends
 * inside a statement and more lines are needed. */
int cl_lua_eval(cl_lua *L, const char *chunk, cl_buf *out, int *incomplete, cl_err *err);

/* An embedded Lua file by its path under lua/ ("spaces/nasnet.lua"), or
 * NULL; and the names of the embedded experiments. */
const char *cl_lua_embedded(const char *path, size_t *len);
const char *const *cl_lua_embedded_experiments(void);

#endif
