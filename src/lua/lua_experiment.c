/* lua_experiment.c - cellar.experiment{...} and the strategy constructors:
 * Lua tables checked key by key (an unknown key at any level is an error
 * listing the valid ones, a wrong type says what was expected) and turned
 * into the experiment struct of search/experiment.h; settings given as
 * functions of the trial index, evaluated through experiment.per_trial;
 * and cl_lua_load_experiment, which runs a file or an embedded experiment
 * and collects what it declares. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lua/lua_priv.h"

/* ---- settings as data ------------------------------------------------------- */

typedef enum { T_INT, T_REAL, T_SCHED } vtype;

typedef struct setting {
    const char *name;    /* as an experiment file spells it: "child.epochs" */
    const char *key;     /* the key inside its table: "epochs" */
    vtype type;
    int strat;           /* 0: a field of child_recipe, 1: of strat_params */
    size_t off;
    int per_trial;       /* may be a function of the trial index */
} setting;

#define CHILD(k, t, f, pt) {"child." k, k, t, 0, offsetof(child_recipe, f), pt}
#define STRAT(k, t, f, pt) {"strategy." k, k, t, 1, offsetof(strat_params, f), pt}

static const setting settings[] = {
    CHILD("N", T_INT, N, 1),
    CHILD("F", T_INT, F, 1),
    CHILD("epochs", T_INT, epochs, 1),
    CHILD("batch", T_INT, batch, 1),
    CHILD("lr", T_SCHED, lr, 1),
    CHILD("drop_path", T_SCHED, drop_path, 1),
    CHILD("momentum", T_REAL, momentum, 1),
    CHILD("weight_decay", T_REAL, weight_decay, 1),
    STRAT("lr", T_REAL, lr, 1),
    STRAT("entropy_weight", T_REAL, entropy_weight, 1),
    STRAT("temperature", T_SCHED, temperature, 1),
    STRAT("tanh_c", T_REAL, tanh_c, 1),
    STRAT("batch", T_INT, batch, 0),
    STRAT("epochs", T_INT, ppo_epochs, 0),
    STRAT("clip", T_REAL, clip, 0),
    STRAT("hidden", T_INT, hidden, 0),
    STRAT("baseline_decay", T_REAL, baseline_decay, 0),
    STRAT("population", T_INT, population, 0),
    STRAT("sample", T_INT, sample, 0),
};

static const char *const experiment_keys[] = {
    "name",     "dataset", "train_images", "val_images", "space", "child", "strategy", "budget",
    "time_budget", "seed", "reuse_duplicates", "parallel", NULL,
};
static const char *const child_keys[] = {
    "N", "F", "epochs", "batch", "lr", "drop_path", "momentum", "weight_decay", "augment", NULL,
};

typedef struct strategy_def {
    const char *name;
    const char *const keys[12];   /* "name" first: the key of the table form */
} strategy_def;

static const strategy_def strategies[] = {
    {"ppo",
     {"name", "lr", "entropy_weight", "batch", "epochs", "clip", "hidden", "baseline_decay",
      "temperature", "tanh_c", NULL}},
    {"reinforce",
     {"name", "lr", "entropy_weight", "batch", "hidden", "baseline_decay", "temperature",
      "tanh_c", NULL}},
    {"random", {"name", NULL}},
    {"evolution", {"name", "population", "sample", NULL}},
};

static const setting *find_setting(int strat, const char *key)
{
    for (size_t i = 0; i < CL_ARRAY_LEN(settings); i++)
        if (settings[i].strat == strat && !strcmp(settings[i].key, key))
            return &settings[i];
    return NULL;
}

static const strategy_def *find_strategy(const char *name)
{
    for (size_t i = 0; i < CL_ARRAY_LEN(strategies); i++)
        if (!strcmp(strategies[i].name, name))
            return &strategies[i];
    return NULL;
}

/* "child.N, child.F, ..." of the settings that may be functions */
static const char *push_per_trial_names(lua_State *L)
{
    luaL_Buffer b;
    int first = 1;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < CL_ARRAY_LEN(settings); i++)
        if (settings[i].per_trial) {
            if (!first)
                luaL_addstring(&b, ", ");
            luaL_addstring(&b, settings[i].name);
            first = 0;
        }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* a function where only a value may go: say where functions may go */
static void no_function(lua_State *L, int idx, const char *what, const char *expected)
{
    if (lua_type(L, idx) == LUA_TFUNCTION)
        luaL_error(L, "%s: expected %s, got a function (only %s may be functions of the trial)",
                   what, expected, push_per_trial_names(L));
}

static int check_int(lua_State *L, int idx, const char *what)
{
    int ok = 0;
    no_function(L, idx, what, "an integer");
    lua_Integer v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &ok) : 0;
    if (!ok || v < -2147483647 || v > 2147483647)
        cl_lua_type_error(L, idx, what, "an integer");
    return (int)v;
}

static double check_real(lua_State *L, int idx, const char *what)
{
    no_function(L, idx, what, "a number");
    if (lua_type(L, idx) != LUA_TNUMBER)
        cl_lua_type_error(L, idx, what, "a number");
    return lua_tonumber(L, idx);
}

/* The value at idx (not a function) into its field of r or p. */
static void set_value(lua_State *L, int idx, const setting *s, child_recipe *r, strat_params *p)
{
    char *base = s->strat ? (char *)p : (char *)r;
    switch (s->type) {
    case T_INT:
        *(int *)(base + s->off) = check_int(L, idx, s->name);
        break;
    case T_REAL:
        *(double *)(base + s->off) = check_real(L, idx, s->name);
        break;
    case T_SCHED:
        cl_lua_to_sched(L, idx, (cl_sched *)(base + s->off), s->name);
        break;
    }
}

/* The value of setting s at idx: a function is recorded in the table at
 * funcs (when funcs != 0) to be evaluated per trial; anything else is
 * converted now. */
static void take_setting(lua_State *L, int idx, const setting *s, int funcs, child_recipe *r,
                         strat_params *p)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TFUNCTION) {
        if (!s->per_trial)
            no_function(L, idx, s->name, s->type == T_INT ? "an integer" : "a number");
        if (funcs) {
            lua_pushvalue(L, idx);
            lua_setfield(L, funcs, s->name);
        }
        return;
    }
    set_value(L, idx, s, r, p);
}

/* ---- strategies -------------------------------------------------------------- */

/* The strategy at idx (a name, or a table with name and settings) into
 * name and p; functions go to funcs as above. */
static void take_strategy(lua_State *L, int idx, char *name, size_t cap, strat_params *p,
                          int funcs)
{
    const strategy_def *def;
    child_recipe unused;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        def = find_strategy(lua_tostring(L, idx));
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, "name");
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "strategy: a strategy table needs a name (ppo, reinforce, random or "
                          "evolution); cellar.ppo{...} and the like make one");
        def = find_strategy(lua_tostring(L, -1));
        lua_pop(L, 1);
    } else {
        cl_lua_type_error(L, idx, "strategy",
                          "a strategy name or table (\"ppo\", cellar.ppo{...}, ...)");
        return;
    }
    if (!def) {
        if (lua_type(L, idx) == LUA_TTABLE)
            lua_getfield(L, idx, "name");
        else
            lua_pushvalue(L, idx);
        luaL_error(L, "strategy: unknown strategy '%s' (valid: ppo, reinforce, random, evolution)",
                   lua_tostring(L, -1));
    }
    snprintf(name, cap, "%s", def->name);
    if (lua_type(L, idx) != LUA_TTABLE)
        return;
    cl_lua_check_keys(L, idx, def->keys, lua_pushfstring(L, "strategy (%s)", def->name));
    lua_pop(L, 1);
    for (int i = 1; def->keys[i]; i++) {
        lua_getfield(L, idx, def->keys[i]);
        if (!lua_isnil(L, -1))
            take_setting(L, -1, find_setting(1, def->keys[i]), funcs, &unused, p);
        lua_pop(L, 1);
    }
}

/* cellar.ppo{...}, cellar.reinforce{...}, cellar.random{}, cellar.evolution{...}:
 * the settings checked, returned as a table {name = "ppo", ...} that
 * cellar.experiment takes as its strategy. */
int cl_lua_strategy_fn(lua_State *L)
{
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    const strategy_def *def = find_strategy(name);
    strat_params p;
    char got[32];
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* check the keys without "name": it comes from the constructor */
    cl_lua_check_keys(L, 1, def->keys + 1, lua_pushfstring(L, "cellar.%s", name));
    lua_pop(L, 1);
    lua_createtable(L, 0, 8);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 2);
    }
    lua_pushstring(L, name);
    lua_setfield(L, 2, "name");
    strat_params_defaults(&p);
    take_strategy(L, 2, got, sizeof got, &p, 0);
    return 1;
}

/* ---- per-trial functions -------------------------------------------------------- */

typedef struct convert_args {
    const setting *s;
    child_recipe *r;
    strat_params *p;
} convert_args;

/* protected: converts argument 2 for the setting in argument 1 */
static int convert_protected(lua_State *L)
{
    convert_args *a = lua_touserdata(L, 1);
    set_value(L, 2, a->s, a->r, a->p);
    return 0;
}

/* Evaluate every function of the table at funcs for trial t into r and p
 * and check the result against base; raises, naming the setting, the
 * trial and where the function is. */
static void apply_functions(lua_State *L, int funcs, lua_Integer t, child_recipe *r,
                            strat_params *p, const experiment *base)
{
    cl_lua *cl = cl_lua_of(L);
    funcs = lua_absindex(L, funcs);
    for (size_t i = 0; i < CL_ARRAY_LEN(settings); i++) {
        const setting *s = &settings[i];
        convert_args a = {s, r, p};
        lua_Debug ar;
        experiment x;
        cl_err err = {0};
        int fn;
        if (lua_getfield(L, funcs, s->name) != LUA_TFUNCTION) {
            lua_pop(L, 1);
            continue;
        }
        fn = lua_gettop(L);
        lua_pushvalue(L, fn);
        lua_getinfo(L, ">S", &ar);
        /* call fn(t) under the message handler so a runtime error carries
         * the line inside fn */
        lua_pushcfunction(L, cl_lua_msg_handler);
        lua_pushvalue(L, fn);
        lua_pushinteger(L, t);
        /* every message starts with where the function is defined (not
         * luaL_error: its position would be that of the caller) */
        if (lua_pcall(L, 1, 1, fn + 1) != LUA_OK) {
            if (cl->tripped)
                lua_error(L);
            lua_pushfstring(L, "%s:%d: at trial %I, %s: %s", ar.short_src, ar.linedefined, t,
                            s->name, lua_tostring(L, -1));
            lua_error(L);
        }
        /* fn, handler, result */
        lua_pushcfunction(L, convert_protected);
        lua_pushlightuserdata(L, &a);
        lua_pushvalue(L, fn + 2);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            lua_pushfstring(L, "%s:%d: at trial %I, %s", ar.short_src, ar.linedefined, t,
                            lua_tostring(L, -1));
            lua_error(L);
        }
        x = *base;
        x.child = *r;
        x.strat = *p;
        if (experiment_validate(&x, &err)) {
            lua_pushfstring(L, "%s:%d: at trial %I, %s", ar.short_src, ar.linedefined, t,
                            err.msg);
            lua_error(L);
        }
        lua_settop(L, fn - 1);
    }
}

typedef struct per_trial_args {
    cl_lua_binding *b;
    lua_Integer trial;
    child_recipe *r;
    strat_params *p;
} per_trial_args;

static int per_trial_protected(lua_State *L)
{
    per_trial_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->b->funcs_ref);
    apply_functions(L, -1, a->trial, a->r, a->p, a->b->x);
    return 0;
}

/* experiment.per_trial: the settings given as functions, for this trial;
 * r and p change only when every function succeeded */
static int per_trial(void *ud, int64_t trial, child_recipe *r, strat_params *sp, cl_err *err)
{
    cl_lua_binding *b = ud;
    child_recipe r2 = *r;
    strat_params p2 = *sp;
    per_trial_args a = {b, (lua_Integer)trial, &r2, &p2};
    int rc;
    if (trial < 1)
        return ERR_SET(err, CL_ERR_ARG, "per_trial: trials count from 1 (got %lld)",
                       (long long)trial);
    lua_pushcfunction(b->cl->L, per_trial_protected);
    lua_pushlightuserdata(b->cl->L, &a);
    if ((rc = cl_lua_pcall(b->cl, 1, 0, err)))
        return rc;
    *r = r2;
    *sp = p2;
    return CL_OK;
}

/* ---- cellar.experiment ------------------------------------------------------------ */

static void string_field(lua_State *L, int t, const char *k, char *out, size_t cap)
{
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            cl_lua_type_error(L, -1, k, "a string");
        if (lua_rawlen(L, -1) >= cap)
            luaL_error(L, "%s: at most %d characters", k, (int)cap - 1);
        snprintf(out, cap, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
}

static void int_field(lua_State *L, int t, const char *k, int *out)
{
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1))
        *out = check_int(L, -1, k);
    lua_pop(L, 1);
}

static void take_child(lua_State *L, int idx, child_recipe *r, int funcs)
{
    strat_params unused;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        cl_lua_type_error(L, idx, "child", "a table of child settings");
    cl_lua_check_keys(L, idx, child_keys, "child");
    for (int i = 0; child_keys[i]; i++) {
        lua_getfield(L, idx, child_keys[i]);
        if (lua_isnil(L, -1)) {
            /* absent: the default stays */
        } else if (!strcmp(child_keys[i], "augment")) {
            if (lua_type(L, -1) == LUA_TBOOLEAN)
                r->augment = lua_toboolean(L, -1);
            else if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "auto"))
                r->augment = -1;
            else
                cl_lua_type_error(L, -1, "child.augment", "true, false or \"auto\"");
        } else {
            take_setting(L, -1, find_setting(0, child_keys[i]), funcs, r, &unused);
        }
        lua_pop(L, 1);
    }
}

static void take_space(lua_State *L, int idx, cl_space *s)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        /* a name: the space module spaces.NAME (embedded or on disk) */
        lua_getglobal(L, "require");
        lua_pushfstring(L, "spaces.%s", lua_tostring(L, idx));
        lua_call(L, 1, 1);
        cl_lua_to_space(L, -1, s, "space");
        lua_pop(L, 1);
        return;
    }
    cl_lua_to_space(L, idx, s, "space");
}

/* the table cellar.experiment returns: what the experiment is, at a glance */
static void push_description(lua_State *L, const experiment *x)
{
    char text[1024];
    cl_buf js = {0};
    lua_createtable(L, 0, 12);
    lua_pushstring(L, x->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, x->dataset);
    lua_setfield(L, -2, "dataset");
    lua_pushinteger(L, x->train_images);
    lua_setfield(L, -2, "train_images");
    lua_pushinteger(L, x->val_images);
    lua_setfield(L, -2, "val_images");
    lua_pushinteger(L, x->budget);
    lua_setfield(L, -2, "budget");
    lua_pushnumber(L, x->time_budget);
    lua_setfield(L, -2, "time_budget");
    lua_pushinteger(L, (lua_Integer)x->seed);
    lua_setfield(L, -2, "seed");
    lua_pushboolean(L, x->reuse_duplicates);
    lua_setfield(L, -2, "reuse_duplicates");
    lua_pushinteger(L, x->parallel);
    lua_setfield(L, -2, "parallel");
    lua_pushstring(L, x->strategy);
    lua_setfield(L, -2, "strategy");
    lua_pushstring(L, x->space.name);
    lua_setfield(L, -2, "space");
    recipe_text(&x->child, x, text, sizeof text);
    lua_pushstring(L, text);
    lua_setfield(L, -2, "recipe");
    if (experiment_settings_json(x, &js)) {
        buf_free(&js);
        luaL_error(L, "cellar.experiment: out of memory");
    }
    lua_pushstring(L, js.s);
    buf_free(&js);
    lua_setfield(L, -2, "settings");
}

/* Room for one more experiment in the load in progress. */
static void grow_load(lua_State *L, cl_lua_load *ld)
{
    int cap = ld->cap;   /* the arrays grow alike; ld->cap once both have */
    if (cl_grow(&ld->xs, sizeof *ld->xs, ld->n + 1, &cap, 4) ||
        (cap = ld->cap, cl_grow(&ld->binds, sizeof *ld->binds, ld->n + 1, &cap, 4)))
        luaL_error(L, "cellar.experiment: out of memory");
    ld->cap = cap;
}

int cl_lua_experiment_fn(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    cl_lua_load *ld = cl->loading;
    experiment x;
    cl_err err = {0};
    int has_funcs, named_by_file = 0;
    experiment_defaults(&x);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);   /* 2: the settings given as functions */
    cl_lua_check_keys(L, 1, experiment_keys, "cellar.experiment");

    lua_getfield(L, 1, "name");
    if (lua_isnil(L, -1) && ld) {
        /* the file's name serves for its first unnamed experiment */
        for (int i = 0; i < ld->n; i++)
            if (!strcmp(ld->xs[i].name, ld->base))
                return luaL_error(L, "cellar.experiment: give this experiment a name (\"%s\" is "
                                     "taken by an earlier one in this file)",
                                  ld->base);
        snprintf(x.name, sizeof x.name, "%s", ld->base);
        named_by_file = 1;
    }
    lua_pop(L, 1);
    string_field(L, 1, "name", x.name, sizeof x.name);
    string_field(L, 1, "dataset", x.dataset, sizeof x.dataset);
    int_field(L, 1, "train_images", &x.train_images);
    int_field(L, 1, "val_images", &x.val_images);
    int_field(L, 1, "budget", &x.budget);
    int_field(L, 1, "parallel", &x.parallel);
    lua_getfield(L, 1, "time_budget");
    if (!lua_isnil(L, -1))
        x.time_budget = check_real(L, -1, "time_budget");
    lua_getfield(L, 1, "seed");
    if (!lua_isnil(L, -1)) {
        int ok = 0;
        lua_Integer seed = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok || seed < 0)
            cl_lua_type_error(L, -1, "seed", "a non-negative integer");
        x.seed = (uint64_t)seed;
    }
    lua_getfield(L, 1, "reuse_duplicates");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            cl_lua_type_error(L, -1, "reuse_duplicates", "true or false");
        x.reuse_duplicates = lua_toboolean(L, -1);
    }
    lua_settop(L, 2);
    lua_getfield(L, 1, "space");
    if (!lua_isnil(L, -1))
        take_space(L, -1, &x.space);
    lua_getfield(L, 1, "child");
    if (!lua_isnil(L, -1))
        take_child(L, -1, &x.child, 2);
    lua_getfield(L, 1, "strategy");
    if (!lua_isnil(L, -1))
        take_strategy(L, -1, x.strategy, sizeof x.strategy, &x.strat, 2);
    lua_settop(L, 2);

    /* the settings given as values first, so a message about one of them
     * is not blamed on a function */
    if (experiment_validate(&x, &err)) {
        if (named_by_file && !strncmp(err.msg, "name ", 5))
            return luaL_error(L, "%s: the file's name cannot serve, give the experiment a name",
                              err.msg);
        return luaL_error(L, "%s", err.msg);
    }
    lua_pushnil(L);
    has_funcs = lua_next(L, 2);
    lua_settop(L, 2);
    if (has_funcs)
        apply_functions(L, 2, 1, &x.child, &x.strat, &x);

    if (ld) {
        for (int i = 0; i < ld->n; i++)
            if (!strcmp(ld->xs[i].name, x.name))
                return luaL_error(L, "cellar.experiment: the name '%s' is declared twice in this "
                                     "file",
                                  x.name);
        grow_load(L, ld);
        ld->xs[ld->n] = x;
        ld->binds[ld->n].cl = cl;
        ld->binds[ld->n].x = NULL;
        ld->binds[ld->n].funcs_ref = LUA_NOREF;
        if (has_funcs) {
            lua_pushvalue(L, 2);
            ld->binds[ld->n].funcs_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        }
        ld->n++;
    }
    push_description(L, &x);
    return 1;
}

/* ---- loading a file ----------------------------------------------------------------- */

static void load_free(cl_lua_load *ld)
{
    if (!ld)
        return;
    free(ld->xs);
    free(ld->binds);
    free(ld->text);
    free(ld);
}

void cl_lua_loads_free(cl_lua *cl)
{
    while (cl->loads) {
        cl_lua_load *next = cl->loads->next;
        load_free(cl->loads);
        cl->loads = next;
    }
    load_free(cl->loading);
    cl->loading = NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* "dir/quick.lua" -> "quick" */
static void base_name(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');
    const char *b = slash ? slash + 1 : path;
    size_t n = strlen(b);
    if (n > 4 && ends_with(b, ".lua"))
        n -= 4;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

/* require looks next to the experiment file first, then in the current
 * directory (after the embedded files, which come before both) */
static void set_package_path(lua_State *L, const char *file)
{
    const char *slash = file ? strrchr(file, '/') : NULL;
    lua_getglobal(L, "package");
    if (slash) {
        const char *dir = lua_pushlstring(L, file, (size_t)(slash - file));
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;./?.lua;./?/init.lua", dir, dir);
        lua_remove(L, -2);
    } else {
        lua_pushliteral(L, "./?.lua;./?/init.lua");
    }
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

static int experiment_list(char *out, size_t cap)
{
    const char *const *names = cl_lua_embedded_experiments();
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; names[i]; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return 0;
}

/* Run text (held by ld, or static) as the file ld->path and collect what it
 * declares; ld is kept (and the experiments returned) or freed. */
static int run_load(cl_lua *cl, cl_lua_load *ld, const char *text, experiment **xs, int *n,
                    cl_err *err)
{
    lua_State *L = cl->L;
    char chunk[600];
    int rc, top = lua_gettop(L);
    base_name(ld->path, ld->base, sizeof ld->base);
    snprintf(chunk, sizeof chunk, "@%s", ld->path);
    if ((rc = cl_lua_compile(L, text, strlen(text), chunk, err))) {
        load_free(ld);
        return rc;
    }
    cl->loading = ld;
    rc = cl_lua_pcall(cl, 0, 0, err);
    cl->loading = NULL;
    lua_settop(L, top);
    if (!rc && ld->n == 0)
        rc = ERR_SET(err, CL_ERR_ARG,
                     "%s declares no experiment (an experiment file calls cellar.experiment{...})",
                     ld->path);
    if (rc) {
        for (int i = 0; i < ld->n; i++)
            luaL_unref(L, LUA_REGISTRYINDEX, ld->binds[i].funcs_ref);
        load_free(ld);
        return rc;
    }
    for (int i = 0; i < ld->n; i++) {
        experiment *x = &ld->xs[i];
        snprintf(x->source_path, sizeof x->source_path, "%s", ld->path);
        x->source = text;
        ld->binds[i].x = x;
        if (ld->binds[i].funcs_ref != LUA_NOREF) {
            x->per_trial = per_trial;
            x->per_trial_ud = &ld->binds[i];
        }
    }
    ld->next = cl->loads;
    cl->loads = ld;
    *xs = ld->xs;
    *n = ld->n;
    return CL_OK;
}

static cl_lua_load *new_load(cl_lua *cl, const char *what, cl_err *err)
{
    cl_lua_load *ld;
    if (cl->loading) {
        ERR_SET(err, CL_ERR_ARG, "%s: an experiment file cannot load another", what);
        return NULL;
    }
    ld = calloc(1, sizeof *ld);
    if (!ld)
        ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", what);
    return ld;
}

/* a NUL-terminated copy of len bytes, owned by ld */
static int keep_text(cl_lua_load *ld, const char *data, size_t len, cl_err *err)
{
    ld->text = malloc(len + 1);
    if (!ld->text)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", ld->path);
    memcpy(ld->text, data, len);
    ld->text[len] = '\0';
    return CL_OK;
}

int cl_lua_load_experiment(cl_lua *cl, const char *path_or_name, experiment **xs, int *n,
                           cl_err *err)
{
    cl_lua_load *ld;
    const char *text;
    size_t len;
    struct stat st;
    int rc;

    *xs = NULL;
    *n = 0;
    if (!(ld = new_load(cl, path_or_name, err)))
        return err ? err->code : CL_ERR_NOMEM;
    if (stat(path_or_name, &st) == 0) {
        unsigned char *data;
        snprintf(ld->path, sizeof ld->path, "%s", path_or_name);
        if (!S_ISREG(st.st_mode)) {
            load_free(ld);
            return ERR_SET(err, CL_ERR_IO, "%s: not a regular file", path_or_name);
        }
        if ((rc = read_file(path_or_name, &data, &len, err))) {
            load_free(ld);
            return rc;
        }
        rc = keep_text(ld, (const char *)data, len, err);
        free(data);
        if (rc) {
            load_free(ld);
            return rc;
        }
        text = ld->text;
        set_package_path(cl->L, path_or_name);
    } else {
        /* a name such as "quick" that is no file: an embedded experiment;
         * a path (a slash, or .lua at the end) must exist */
        char emb[300], list[256];
        int e = errno, is_path = ends_with(path_or_name, ".lua") || strchr(path_or_name, '/');
        snprintf(emb, sizeof emb, "experiments/%s.lua", path_or_name);
        text = is_path ? NULL : cl_lua_embedded(emb, &len);
        if (!text) {
            load_free(ld);
            if (is_path)
                return ERR_SET(err, CL_ERR_IO, "%s: %s", path_or_name, strerror(e));
            experiment_list(list, sizeof list);
            return ERR_SET(err, CL_ERR_IO,
                           "%s: no such file, and no embedded experiment of that name "
                           "(embedded: %s)",
                           path_or_name, list);
        }
        snprintf(ld->path, sizeof ld->path, "lua/%s", emb);
        set_package_path(cl->L, NULL);
    }
    return run_load(cl, ld, text, xs, n, err);
}

int cl_lua_load_experiment_text(cl_lua *cl, const char *path, const char *text, experiment **xs,
                                int *n, cl_err *err)
{
    cl_lua_load *ld;
    int rc;
    *xs = NULL;
    *n = 0;
    if (!(ld = new_load(cl, path, err)))
        return err ? err->code : CL_ERR_NOMEM;
    snprintf(ld->path, sizeof ld->path, "%s", path);
    if ((rc = keep_text(ld, text, strlen(text), err))) {
        load_free(ld);
        return rc;
    }
    /* an embedded experiment's recorded path is not a directory to search */
    set_package_path(cl->L, strncmp(path, "lua/", 4) ? path : NULL);
    return run_load(cl, ld, ld->text, xs, n, err);
}
