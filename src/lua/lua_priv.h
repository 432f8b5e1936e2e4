/* lua_priv.h - what the files of src/lua share and nothing outside uses:
 * the state behind a cl_lua, the table of embedded files (generated at
 * build time by bin2c), the protected call that every entry into Lua goes
 * through, the conversions between Lua values and the experiment's C
 * structs, and the engine-facing parts that live in lua_live.c.
 *
 * Lua-side state (hooks, per-trial functions) lives in the registry under
 * the string keys below; sandboxed code has no debug library and so no
 * way to reach the registry. */
#ifndef CELLAR_LUA_LUA_PRIV_H
#define CELLAR_LUA_LUA_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "backend/backend.h"
#include "lua/cellar_lua.h"

/* ---- the embedded files (src/lua/embedded.c, generated) ---- */
typedef struct cl_lua_file {
    const char *path;             /* under lua/: "spaces/nasnet.lua" */
    const unsigned char *data;    /* NUL-terminated, len bytes before the NUL */
    size_t len;
} cl_lua_file;

extern const cl_lua_file cl_lua_files[];
extern const int cl_lua_nfiles;
extern const char *const cl_lua_experiment_names[];   /* NULL-terminated */

/* ---- registry keys ---- */
#define CL_LUA_KEY_STATE "cellar.state"   /* light userdata: the cl_lua */
#define CL_LUA_KEY_HOOKS "cellar.hooks"   /* [event kind + 1] = {fn, ...} */
#define CL_LUA_KEY_SOURCES "cellar.sources" /* [chunk name] = its text (files only) */

/* Experiments declared by one cl_lua_load_experiment, kept until the state
 * is freed because the caller holds pointers into xs. */
typedef struct cl_lua_binding {
    cl_lua *cl;
    const experiment *x;   /* the declared experiment (for validation) */
    int funcs_ref;         /* registry ref of {["child.epochs"] = fn, ...} */
} cl_lua_binding;

typedef struct cl_lua_load {
    struct cl_lua_load *next;
    experiment *xs;
    cl_lua_binding *binds;
    int n, cap;
    char base[64];          /* file name without directory and .lua: default name */
    char path[512];         /* as recorded in source_path */
    char *text;             /* the file's text when read from disk (owned) */
} cl_lua_load;

struct cl_lua {
    lua_State *L;
    cl_engine *engine;      /* attached search, or NULL */
    cl_store *store;
    long long limit;        /* instructions allowed per call into Lua */
    long long used;         /* instructions counted in the current call */
    int depth;              /* calls into Lua in progress (nested through C) */
    int tripped;            /* the limit was hit: pcall inside Lua may not catch it */
    cl_lua_load *loads;     /* every finished load */
    cl_lua_load *loading;   /* the load in progress */
    cl_backend *cost_be;    /* CPU backend for cellar.cost, made on first use */
    char source[16];        /* what commands from Lua are journaled as ("lua", "console") */
};

/* The cl_lua a lua_State belongs to. */
cl_lua *cl_lua_of(lua_State *L);

/* Call the function below the nargs arguments on top of the stack with a
 * message handler (errors gain the file:line of the innermost Lua code)
 * and the instruction limit; like lua_pcall otherwise.  On failure the
 * message is in err and nothing is left on the stack. */
int cl_lua_pcall(cl_lua *cl, int nargs, int nres, cl_err *err);

/* The message handler cl_lua_pcall uses (for nested protected calls). */
int cl_lua_msg_handler(lua_State *L);

/* Compile text (never a binary chunk) as chunkname ("@path" for files)
 * and leave the function on the stack. */
int cl_lua_compile(lua_State *L, const char *text, size_t len, const char *chunkname,
                   cl_err *err);

/* ---- lua_module.c ---- */
int cl_lua_open_cellar(lua_State *L);   /* lua_CFunction: pushes the module */
/* Raise an error unless every key of the table at idx is in valid
 * (NULL-terminated); what names the table in the message. */
void cl_lua_check_keys(lua_State *L, int idx, const char *const *valid, const char *what);
/* A number (a constant) or a schedule table -> s; raises naming what. */
void cl_lua_to_sched(lua_State *L, int idx, cl_sched *s, const char *what);
void cl_lua_push_sched(lua_State *L, const cl_sched *s);
/* A table of cellar.space's keys -> validated space; raises naming what. */
void cl_lua_to_space(lua_State *L, int idx, cl_space *s, const char *what);
/* raises "what: expected T, got TYPE" */
int cl_lua_type_error(lua_State *L, int idx, const char *what, const char *expected);

/* ---- lua_experiment.c ---- */
int cl_lua_experiment_fn(lua_State *L);       /* cellar.experiment */
int cl_lua_strategy_fn(lua_State *L);         /* cellar.ppo & co (name as upvalue) */
void cl_lua_loads_free(cl_lua *cl);

/* ---- lua_live.c: everything that needs the engine's code ---- */
/* Add cellar.pause, resume, step (no arguments), stop, set, get, settings,
 * status and trials to the table on top of the stack. */
void cl_lua_open_live(lua_State *L);
/* The live step: called by cellar.step() when it has no arguments. */
int cl_lua_live_step(lua_State *L);
/* event names: index of name in event_kind_names or -1; the count */
int cl_lua_event_find(const char *name);
int cl_lua_event_count(void);
const char *cl_lua_event_name(int kind);
/* Push the table a hook receives for ev. */
void cl_lua_push_event(lua_State *L, const engine_event *ev);

/* print and cellar.log: the values, tab-separated, to the run log */
int cl_lua_print(lua_State *L);
/* the name of help()'s entry i, NULL past the last (lua_module.c) */
const char *cl_lua_help_names(int i);
/* push "a, b, c" of a NULL-terminated list and return it */
const char *cl_lua_push_list(lua_State *L, const char *const *names);

#endif
