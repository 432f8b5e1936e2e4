/* lua_live.c - everything of the Lua layer that needs the engine's code:
 * the event names and the tables hooks receive, and the functions that
 * act on an attached search (cellar.pause, resume, step, stop, set, get,
 * settings, status, trials, epochs, policy, stop_trial).  Without an
 * attached search they raise "no search is running"; cellar.trials,
 * epochs and policy need only its journal (the screen watching another
 * process's search attaches that alone). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "lua/lua_priv.h"
#include "search/policy.h"

/* ---- events ------------------------------------------------------------------ */

int cl_lua_event_count(void)
{
    return (int)EV_LOG + 1;
}

const char *cl_lua_event_name(int kind)
{
    return kind >= 0 && kind < cl_lua_event_count() ? event_kind_names[kind] : "?";
}

int cl_lua_event_find(const char *name)
{
    for (int i = 0; i < cl_lua_event_count(); i++)
        if (!strcmp(event_kind_names[i], name))
            return i;
    return -1;
}

/* NaN means "not measured": the field is left out (nil) */
static void set_num(lua_State *L, const char *k, double v)
{
    if (isnan(v))
        return;
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    if (!v)
        return;
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

void cl_lua_push_event(lua_State *L, const engine_event *ev)
{
    lua_createtable(L, 0, 10);
    set_str(L, "event", cl_lua_event_name((int)ev->kind));
    switch (ev->kind) {
    case EV_TRIAL_START:
        set_int(L, "trial", ev->trial);
        set_str(L, "genotype", ev->genotype);
        break;
    case EV_EPOCH:
        set_int(L, "trial", ev->trial);
        set_int(L, "epoch", ev->epoch);
        set_num(L, "loss", ev->loss);
        set_num(L, "acc", ev->acc);
        set_num(L, "val_acc", ev->val_acc);
        break;
    case EV_TRIAL_END:
        set_int(L, "trial", ev->trial);
        set_str(L, "state", trial_state_name(ev->tstate));
        set_num(L, "reward", ev->reward);
        set_num(L, "accuracy", ev->accuracy);
        set_int(L, "params", ev->params);
        set_num(L, "flops", ev->flops);
        set_num(L, "seconds", ev->seconds);
        set_str(L, "reason", ev->text[0] ? ev->text : NULL);
        lua_pushboolean(L, ev->reused);
        lua_setfield(L, -2, "reused");
        set_str(L, "genotype", ev->genotype);
        break;
    case EV_CONTROLLER:
        set_int(L, "step", ev->step);
        set_num(L, "entropy", ev->entropy);
        set_num(L, "reward_ema", ev->reward_ema);
        set_num(L, "loss", ev->ctrl_loss);
        break;
    case EV_COMMAND:
    case EV_LOG:
        set_str(L, "text", ev->text);
        break;
    case EV_STATE:
        set_str(L, "state", (int)ev->state >= 0 && ev->state <= ENGINE_STOPPED
                                ? engine_state_names[ev->state]
                                : "?");
        break;
    }
}

/* ---- attaching ------------------------------------------------------------------ */

void cl_lua_attach(cl_lua *cl, cl_engine *e, cl_store *st)
{
    cl->engine = e;
    cl->store = st;
}

static cl_engine *need_engine(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    if (!cl->engine && cl->store)
        luaL_error(L, "no search runs here: this screen watches another process's (cellar.trials, "
                      "cellar.epochs and cellar.policy read its journal)");
    if (!cl->engine)
        luaL_error(L, "no search is running");
    return cl->engine;
}

/* ---- commands ------------------------------------------------------------------- */

static int command(lua_State *L, cmd_kind kind, const char *fname)
{
    cl_engine *e = need_engine(L);
    cl_lua *cl = cl_lua_of(L);
    cl_err err = {0};
    if (lua_gettop(L) != 0)
        return luaL_error(L, "cellar.%s takes no arguments", fname);
    if (engine_command(e, kind, NULL, 0.0, cl->source, &err))
        return luaL_error(L, "cellar.%s: %s", fname, err.msg);
    return 0;
}

static int l_pause(lua_State *L) { return command(L, CMD_PAUSE, "pause"); }
static int l_resume(lua_State *L) { return command(L, CMD_RESUME, "resume"); }
static int l_stop(lua_State *L) { return command(L, CMD_STOP, "stop"); }

/* cellar.stop_trial(id [, why]) -> true when the trial will stop at its
 * epoch's end, false when it is not training */
static int l_stop_trial(lua_State *L)
{
    cl_engine *e = need_engine(L);
    cl_lua *cl = cl_lua_of(L);
    lua_Integer id;
    int ok = 0, stopping = 0;
    const char *why = luaL_optstring(L, 2, NULL);
    cl_err err = {0};
    id = lua_type(L, 1) == LUA_TNUMBER ? lua_tointegerx(L, 1, &ok) : 0;
    if (!ok || id < 1)
        return cl_lua_type_error(L, 1, "cellar.stop_trial: trial", "a trial id (1, 2, ...)");
    if (engine_stop_trial(e, (int64_t)id, why, cl->source, &stopping, &err))
        return luaL_error(L, "cellar.stop_trial: %s", err.msg);
    lua_pushboolean(L, stopping);
    return 1;
}

int cl_lua_live_step(lua_State *L)
{
    return command(L, CMD_STEP, "step");
}

static const char *push_setting_names(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; engine_settings[i].name; i++) {
        if (i)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, engine_settings[i].name);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static const char *check_setting(lua_State *L, int idx, const char *fname)
{
    const char *name = luaL_checkstring(L, idx);
    for (int i = 0; engine_settings[i].name; i++)
        if (!strcmp(engine_settings[i].name, name))
            return name;
    luaL_error(L, "cellar.%s: unknown setting '%s' (valid: %s)", fname, name,
               push_setting_names(L));
    return NULL;
}

/* cellar.set(name, value): journaled with the state's source ("lua", or
 * "console" while the screen's console evaluates) */
static int l_set(lua_State *L)
{
    cl_engine *e = need_engine(L);
    cl_lua *cl = cl_lua_of(L);
    const char *name = check_setting(L, 1, "set");
    cl_err err = {0};
    if (lua_type(L, 2) != LUA_TNUMBER)
        return cl_lua_type_error(L, 2, lua_pushfstring(L, "cellar.set(\"%s\", ...)", name),
                                 "a number");
    if (engine_command(e, CMD_SET, name, lua_tonumber(L, 2), cl->source, &err))
        return luaL_error(L, "cellar.set: %s", err.msg);
    return 0;
}

/* a number that is a whole count reads better as an integer (3, not 3.0) */
static void push_number(lua_State *L, double v)
{
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
}

static int l_get(lua_State *L)
{
    cl_engine *e = need_engine(L);
    const char *name = check_setting(L, 1, "get");
    cl_err err = {0};
    double v;
    if (engine_get(e, name, &v, &err))
        return luaL_error(L, "cellar.get: %s", err.msg);
    push_number(L, v);
    return 1;
}

/* The names and what they mean need no search: this one works without. */
static int l_settings(lua_State *L)
{
    lua_newtable(L);
    for (int i = 0; engine_settings[i].name; i++) {
        lua_pushstring(L, engine_settings[i].about);
        lua_setfield(L, -2, engine_settings[i].name);
    }
    return 1;
}

static int l_status(lua_State *L)
{
    cl_engine *e = need_engine(L);
    engine_status s;
    engine_get_status(e, &s);
    lua_createtable(L, 0, 18);
    set_str(L, "state", (int)s.state >= 0 && s.state <= ENGINE_STOPPED
                            ? engine_state_names[s.state]
                            : "?");
    set_int(L, "done", s.done);
    set_int(L, "failed", s.failed);
    set_int(L, "budget", s.budget);
    set_int(L, "ranked", s.ranked);
    if (s.best_trial > 0) {
        set_int(L, "best_trial", s.best_trial);
        set_num(L, "best_reward", s.best_reward);
        set_str(L, "best_genotype", s.best_genotype[0] ? s.best_genotype : NULL);
    }
    if (s.current_trial > 0) {
        set_int(L, "current_trial", s.current_trial);
        set_int(L, "epoch", s.epoch);
        set_int(L, "epochs", s.epochs);
        set_int(L, "step", s.step);
        set_int(L, "steps_total", s.steps_total);
    }
    set_num(L, "elapsed", s.elapsed);
    set_num(L, "trials_per_hour", s.trials_per_hour);
    set_int(L, "ctrl_steps", s.ctrl_steps);
    set_num(L, "entropy", s.entropy);
    set_num(L, "reward_ema", s.reward_ema);
    return 1;
}

/* ---- cellar.trials ----------------------------------------------------------------- */

/* The trials read from the journal are copied into a box owned by a Lua
 * userdata, so that they are freed by its __gc however the function ends
 * (a Lua error while building the result tables unwinds past any C). */
#define TRIALS_META "cellar.trials_box"

typedef struct boxed_trial {
    store_trial t;
    double key;   /* the sort key, negated where larger comes first */
} boxed_trial;

typedef struct trials_box {
    boxed_trial *t;
    int n, cap;
    int nomem;
    int ranked;          /* only the done trials of this recipe: the leaderboard's */
    char recipe[17];
} trials_box;

static char *dup_or_null(const char *s, int *nomem)
{
    char *d;
    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *nomem = 1;
    return d;
}

static void free_trial_strings(store_trial *t)
{
    free(t->genotype);
    free(t->recipe);
    free(t->actions);
    free(t->reason);
}

/* A zeroed userdata of `size` bytes on the stack, for rows read from the
 * journal: its metatable `meta` frees them with `gc` when it is collected
 * or closed, so that a Lua error while they are read or pushed leaks
 * nothing.  gc must leave the box empty (a second call frees nothing). */
static void *new_box(lua_State *L, size_t size, const char *meta, lua_CFunction gc)
{
    void *b = lua_newuserdatauv(L, size, 0);
    memset(b, 0, size);
    if (luaL_newmetatable(L, meta)) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    return b;
}

static int box_gc(lua_State *L)
{
    trials_box *b = luaL_checkudata(L, 1, TRIALS_META);
    for (int i = 0; i < b->n; i++)
        free_trial_strings(&b->t[i].t);
    free(b->t);
    /* closed: a second __gc or __close finds nothing to free */
    b->t = NULL;
    b->n = b->cap = 0;
    return 0;
}

static int collect(void *ud, const store_trial *t)
{
    trials_box *b = ud;
    store_trial *c;
    if (b->ranked && (t->state != TRIAL_DONE || strcmp(t->hash_recipe, b->recipe)))
        return 0;
    if (cl_grow(&b->t, sizeof *b->t, b->n + 1, &b->cap, 64)) {
        b->nomem = 1;
        return 1;
    }
    c = &b->t[b->n++].t;
    *c = *t;
    c->genotype = dup_or_null(t->genotype, &b->nomem);
    c->recipe = dup_or_null(t->recipe, &b->nomem);
    c->actions = dup_or_null(t->actions, &b->nomem);
    c->reason = dup_or_null(t->reason, &b->nomem);
    return b->nomem;
}

typedef enum { ORD_ID, ORD_REWARD, ORD_ACCURACY, ORD_PARAMS, ORD_FLOPS, ORD_SECONDS } order_kind;
static const char *const order_names[] = {"id",    "reward",  "accuracy", "params",
                                          "flops", "seconds", NULL};

static double order_key(const store_trial *t, order_kind k)
{
    switch (k) {
    case ORD_ID:
        return (double)t->id;
    case ORD_REWARD:
        return t->reward;
    case ORD_ACCURACY:
        return t->accuracy;
    case ORD_PARAMS:
        return (double)t->params;
    case ORD_FLOPS:
        return t->flops;
    case ORD_SECONDS:
        return t->seconds;
    }
    return 0.0;
}

/* unknown (NaN) keys last; ties by id */
static int cmp_trials(const void *pa, const void *pb)
{
    const boxed_trial *a = pa, *b = pb;
    if (isnan(a->key) != isnan(b->key))
        return isnan(a->key) ? 1 : -1;
    if (!isnan(a->key) && a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->t.id < b->t.id ? -1 : a->t.id > b->t.id;
}

static int find_name(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

/* option k of the table at 1: one of names, or def when absent */
static int option_field(lua_State *L, const char *k, const char *const *names, int def)
{
    int v = def;
    lua_getfield(L, 1, k);
    if (!lua_isnil(L, -1)) {
        v = lua_type(L, -1) == LUA_TSTRING ? find_name(lua_tostring(L, -1), names) : -1;
        if (v < 0) {
            const char *got = luaL_tolstring(L, -1, NULL);
            luaL_error(L, "cellar.trials: %s must be one of %s (got %s)", k,
                       cl_lua_push_list(L, names), got);
        }
    }
    lua_pop(L, 1);
    return v;
}

static void push_trial(lua_State *L, const store_trial *t)
{
    lua_createtable(L, 0, 20);
    set_int(L, "id", t->id);
    set_str(L, "genotype", t->genotype);
    set_str(L, "hash", t->hash);
    set_str(L, "state", trial_state_name(t->state));
    set_num(L, "reward", t->reward);
    set_num(L, "accuracy", t->accuracy);
    set_int(L, "params", t->params);
    set_num(L, "flops", t->flops);
    set_num(L, "seconds", t->seconds);
    set_int(L, "worker", t->worker);
    set_str(L, "recipe", t->recipe);
    set_str(L, "recipe_hash", t->hash_recipe);
    set_str(L, "actions", t->actions);
    set_num(L, "logp", t->logp);
    set_str(L, "reason", t->reason);
    if (t->reused_from > 0)
        set_int(L, "reused_from", t->reused_from);
    set_num(L, "created", t->created);
    set_num(L, "started", t->started);
    set_num(L, "finished", t->finished);
}

/* cellar.trials{state=, top=, order=} -> array of trial tables */
static int l_trials(lua_State *L)
{
    static const char *const keys[] = {"state", "top", "order", "ranked", NULL};
    static const char *const states[] = {"pending", "running", "done", "failed", NULL};
    cl_lua *cl = cl_lua_of(L);
    trials_box *b;
    lua_Integer top = -1;
    int state = -1, order = ORD_ID, ranked = 0;
    cl_err err = {0};
    if (!cl->store)   /* a journal suffices: a watched search's too */
        return luaL_error(L, "no search is running");
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        cl_lua_check_keys(L, 1, keys, "cellar.trials");
        state = option_field(L, "state", states, -1);
        order = option_field(L, "order", order_names, ORD_ID);
        lua_getfield(L, 1, "top");
        if (!lua_isnil(L, -1)) {
            int ok = 0;
            top = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
            if (!ok || top < 0)
                return cl_lua_type_error(L, -1, "cellar.trials: top", "a count >= 0");
        }
        lua_pop(L, 1);
        lua_getfield(L, 1, "ranked");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            return cl_lua_type_error(L, -1, "cellar.trials: ranked", "true or false");
        ranked = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    b = new_box(L, sizeof *b, TRIALS_META, box_gc);
    b->ranked = ranked;   /* the newest trial's recipe, as cellar show DB ranks */
    if ((ranked && store_trial_newest_recipe(cl->store, b->recipe, NULL, &err)) ||
        store_trial_each(cl->store, state, collect, b, &err))
        return luaL_error(L, "cellar.trials: %s", err.msg);
    if (b->nomem)
        return luaL_error(L, "cellar.trials: out of memory");
    for (int i = 0; i < b->n; i++) {
        double k = order_key(&b->t[i].t, (order_kind)order);
        b->t[i].key = order == ORD_REWARD || order == ORD_ACCURACY ? -k : k;
    }
    if (b->n > 1)
        qsort(b->t, (size_t)b->n, sizeof *b->t, cmp_trials);
    if (top < 0 || top > b->n)
        top = (lua_Integer)b->n;
    lua_createtable(L, (int)top, 0);
    for (lua_Integer i = 0; i < top; i++) {
        push_trial(L, &b->t[i].t);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- cellar.epochs ---- */

#define EPOCHS_META "cellar.epochs_box"

/* the rows read, owned by a userdata so that a Lua error frees them */
typedef struct epochs_box {
    store_metric *m;
    int n, cap;
    int nomem;
} epochs_box;

static int epochs_gc(lua_State *L)
{
    epochs_box *b = luaL_checkudata(L, 1, EPOCHS_META);
    free(b->m);
    b->m = NULL;
    b->n = b->cap = 0;
    return 0;
}

static int keep_epoch(void *ud, const store_metric *m)
{
    epochs_box *b = ud;
    if (cl_grow(&b->m, sizeof *b->m, b->n + 1, &b->cap, 64)) {
        b->nomem = 1;
        return 1;
    }
    b->m[b->n++] = *m;
    return 0;
}

/* a whole number >= 1 at the top of the stack, or nil (0) */
static lua_Integer opt_count(lua_State *L, const char *what)
{
    int ok = 0;
    lua_Integer v;
    if (lua_isnil(L, -1))
        return 0;
    v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < 1)
        return cl_lua_type_error(L, -1, what, "a number >= 1");
    return v;
}

/* cellar.epochs(id) or cellar.epochs{ trial=, epoch= } -> the epochs the
 * journal holds: one trial's, every trial's at one epoch, or all;
 * cellar.epochs{ training= } -> a training's (cellar train DB) */
static int l_epochs(lua_State *L)
{
    static const char *const keys[] = {"trial", "epoch", "training", NULL};
    cl_lua *cl = cl_lua_of(L);
    lua_Integer trial = 0, epoch = 0, training = 0;
    epochs_box *b;
    cl_err err = {0};
    if (!cl->store)   /* a journal suffices: a watched search's too */
        return luaL_error(L, "no search is running");
    if (lua_type(L, 1) == LUA_TTABLE) {
        cl_lua_check_keys(L, 1, keys, "cellar.epochs");
        lua_getfield(L, 1, "trial");
        trial = opt_count(L, "cellar.epochs: trial");
        lua_getfield(L, 1, "epoch");
        epoch = opt_count(L, "cellar.epochs: epoch");
        lua_getfield(L, 1, "training");
        training = opt_count(L, "cellar.epochs: training");
        lua_pop(L, 3);
        if (training && (trial || epoch))
            return luaL_error(L, "cellar.epochs: training cannot be given with trial or epoch");
    } else if (!lua_isnoneornil(L, 1)) {
        lua_pushvalue(L, 1);
        trial = opt_count(L, "cellar.epochs: trial");
        lua_pop(L, 1);
    }
    b = new_box(L, sizeof *b, EPOCHS_META, epochs_gc);
    if (training ? store_training_epoch_each(cl->store, training, keep_epoch, b, &err)
                 : store_metric_each_at(cl->store, trial, (int)(epoch > INT_MAX ? INT_MAX : epoch),
                                        keep_epoch, b, &err))
        return luaL_error(L, "cellar.epochs: %s", err.msg);
    if (b->nomem)
        return luaL_error(L, "cellar.epochs: out of memory");
    lua_createtable(L, b->n, 0);
    for (int i = 0; i < b->n; i++) {
        const store_metric *m = &b->m[i];
        lua_createtable(L, 0, 7);
        set_int(L, training ? "training" : "trial", m->trial);   /* a training's: its id */
        set_int(L, "epoch", m->epoch);
        set_num(L, "loss", m->train_loss);
        set_num(L, "acc", m->train_acc);
        set_num(L, "val_acc", m->val_acc);
        set_num(L, "lr", m->lr);
        set_num(L, "seconds", m->seconds);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* ---- cellar.trainings ---- */

#define TRAININGS_META "cellar.trainings_box"

/* the trainings read, owned by a userdata so that a Lua error frees them */
typedef struct trainings_box {
    store_training *t;
    int n, cap;
    int nomem;
} trainings_box;

static int trainings_gc(lua_State *L)
{
    trainings_box *b = luaL_checkudata(L, 1, TRAININGS_META);
    for (int i = 0; i < b->n; i++) {
        free(b->t[i].genotype);
        free(b->t[i].settings);
        free(b->t[i].reason);
    }
    free(b->t);
    b->t = NULL;
    b->n = b->cap = 0;
    return 0;
}

static int keep_training(void *ud, const store_training *t)
{
    trainings_box *b = ud;
    store_training *c;
    if (cl_grow(&b->t, sizeof *b->t, b->n + 1, &b->cap, 16)) {
        b->nomem = 1;
        return 1;
    }
    c = &b->t[b->n++];
    *c = *t;
    c->genotype = dup_or_null(t->genotype, &b->nomem);
    c->settings = dup_or_null(t->settings, &b->nomem);
    c->reason = dup_or_null(t->reason, &b->nomem);
    return b->nomem;
}

/* a training's settings (the JSON object cellar train journals) as a
 * table: numbers, strings and booleans by their keys */
static void push_settings(lua_State *L, const char *json)
{
    static const char *const keys[] = {
        "dataset", "dataset_spec", "train_images", "val_images", "test_images", "N", "F",
        "epochs",  "batch",        "lr",           "momentum",   "weight_decay", "drop_path",
        "augment", "seed",         "backend",      NULL};
    lua_createtable(L, 0, 16);
    for (int i = 0; json && keys[i]; i++) {
        const char *v = json_get(json, keys[i]);
        char text[256];
        double d;
        if (!v)
            continue;
        if (json_number(v, &d) == 0) {
            if (d == floor(d) && fabs(d) < 9007199254740992.0)
                lua_pushinteger(L, (lua_Integer)d);
            else
                lua_pushnumber(L, d);
        } else if (json_text(v, text, sizeof text) == 0) {
            lua_pushstring(L, text);
        } else if (!strncmp(v, "true", 4) || !strncmp(v, "false", 5)) {
            lua_pushboolean(L, v[0] == 't');
        } else {
            continue;
        }
        lua_setfield(L, -2, keys[i]);
    }
}

/* cellar.trainings([trial]) or cellar.trainings{ trial= } -> the
 * genotypes the journal's trials were trained again as (cellar train
 * DB), of one trial or all, in the order they were started */
static int l_trainings(lua_State *L)
{
    static const char *const keys[] = {"trial", NULL};
    cl_lua *cl = cl_lua_of(L);
    lua_Integer trial = 0;
    trainings_box *b;
    cl_err err = {0};
    if (!cl->store)   /* a journal suffices: a watched search's too */
        return luaL_error(L, "no search is running");
    if (lua_type(L, 1) == LUA_TTABLE) {
        cl_lua_check_keys(L, 1, keys, "cellar.trainings");
        lua_getfield(L, 1, "trial");
        trial = opt_count(L, "cellar.trainings: trial");
        lua_pop(L, 1);
    } else if (!lua_isnoneornil(L, 1)) {
        lua_pushvalue(L, 1);
        trial = opt_count(L, "cellar.trainings: trial");
        lua_pop(L, 1);
    }
    b = new_box(L, sizeof *b, TRAININGS_META, trainings_gc);
    if (store_training_each(cl->store, trial, keep_training, b, &err))
        return luaL_error(L, "cellar.trainings: %s", err.msg);
    if (b->nomem)
        return luaL_error(L, "cellar.trainings: out of memory");
    lua_createtable(L, b->n, 0);
    for (int i = 0; i < b->n; i++) {
        const store_training *t = &b->t[i];
        char status[400];
        store_training_state_text(t, status, sizeof status);
        lua_createtable(L, 0, 18);
        set_int(L, "id", t->id);
        if (t->trial > 0)
            set_int(L, "trial", t->trial);
        set_str(L, "genotype", t->genotype);
        set_str(L, "hash", t->hash);
        set_str(L, "state", trial_state_name(t->state));
        set_str(L, "status", status);
        set_num(L, "test_acc", t->test_acc);
        set_num(L, "val_acc", t->val_acc);
        set_int(L, "params", t->params);
        set_num(L, "flops", t->flops);
        set_num(L, "seconds", t->seconds);
        set_int(L, "pid", t->pid);
        set_str(L, "reason", t->reason);
        set_num(L, "started", t->started);
        set_num(L, "finished", t->finished);
        set_int(L, "epochs_done", t->epochs_done);
        if (t->ckpt_epoch > 0)
            set_int(L, "checkpoint_epoch", t->ckpt_epoch);
        push_settings(L, t->settings);
        lua_setfield(L, -2, "settings");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* cellar.policy([update]) -> where the controller stands after its last
 * update (or that one), or nil and why when there is none */
static int l_policy(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    lua_Integer step = 0;
    policy *p;
    cl_err err = {0};
    char name[32];
    if (!cl->store)
        return luaL_error(L, "no search is running");
    if (!lua_isnoneornil(L, 1)) {
        int ok = 0;
        step = lua_type(L, 1) == LUA_TNUMBER ? lua_tointegerx(L, 1, &ok) : 0;
        if (!ok || step < 1)
            return cl_lua_type_error(L, 1, "cellar.policy: update", "an update number >= 1");
    }
    p = lua_newuserdatauv(L, sizeof *p, 0);   /* Lua's to free, errors or not */
    if (policy_read(cl->store, step, p, &err)) {
        if (err.code != CL_ERR_ARG)
            return luaL_error(L, "cellar.policy: %s", err.msg);
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_createtable(L, 0, 9);
    set_num(L, "step", (double)p->step);
    set_num(L, "steps", (double)p->steps);
    set_num(L, "entropy", p->entropy);
    set_num(L, "reward_ema", p->reward_ema);
    set_str(L, "trials", p->trials);
    set_str(L, "genotype", p->genotype);
    set_num(L, "settled", policy_settled(p));
    lua_createtable(L, p->n, 0);
    for (int t = 0; t < p->n; t++) {
        const policy_decision *d = &p->d[t];
        lua_createtable(L, 0, 7);
        set_str(L, "cell", d->cell ? "reduce" : "normal");
        set_num(L, "block", d->block);
        set_str(L, "decision", d->what);
        set_str(L, "choice", policy_choice_name(p, d, d->choice, name, sizeof name));
        set_num(L, "p", d->probs[d->choice]);
        set_num(L, "entropy", d->entropy);
        lua_createtable(L, 0, d->n);
        for (int k = 0; k < d->n; k++) {
            lua_pushnumber(L, d->probs[k]);
            lua_setfield(L, -2, policy_choice_name(p, d, k, name, sizeof name));
        }
        lua_setfield(L, -2, "probs");
        lua_rawseti(L, -2, t + 1);
    }
    lua_setfield(L, -2, "decisions");
    return 1;
}

void cl_lua_open_live(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"pause", l_pause},   {"resume", l_resume},     {"stop", l_stop},
        {"set", l_set},       {"get", l_get},           {"settings", l_settings},
        {"status", l_status},         {"trials", l_trials}, {"trainings", l_trainings},
        {"policy", l_policy},         {"epochs", l_epochs}, {"stop_trial", l_stop_trial},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
