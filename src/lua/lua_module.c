/* lua_module.c - the `cellar` module: op and combiner names, spaces,
 * schedules, strategies and experiments (the last two converted in
 * lua_experiment.c), hooks and their dispatch, genotype utilities and the
 * log.  The functions that act on a running search are in lua_live.c. */
#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child/child.h"
#include "config.h"
#include "core/log.h"
#include "core/util.h"
#include "lua/lua_priv.h"
#include "render/render.h"
#include "store/store.h"

/* ---- helpers shared with lua_experiment.c ------------------------------------- */

int cl_lua_type_error(lua_State *L, int idx, const char *what, const char *expected)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING)
        return luaL_error(L, "%s: expected %s, got the string '%s'", what, expected,
                          lua_tostring(L, idx));
    if (lua_type(L, idx) == LUA_TNUMBER)
        return luaL_error(L, "%s: expected %s, got %s", what, expected,
                          luaL_tolstring(L, idx, NULL));
    return luaL_error(L, "%s: expected %s, got %s", what, expected, luaL_typename(L, idx));
}

/* "a, b, c" of a NULL-terminated list, pushed */
const char *cl_lua_push_list(lua_State *L, const char *const *names)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; names[i]; i++) {
        if (i)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, names[i]);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* The line of the file whose code called the C function running (its
 * chunk's text kept by cl_lua_compile) where `key =` first appears from
 * the call's line on: the line of a table's key, which Lua does not keep
 * (it gives the call's); 0 where none such is found.  src: the file's
 * short name, in cap bytes. */
static int key_line(lua_State *L, const char *key, char *src, size_t cap)
{
    lua_Debug ar;
    const char *text, *p;
    size_t klen = strlen(key);
    int line = 1, found = 0;
    if (!lua_getstack(L, 1, &ar) || !lua_getinfo(L, "Sl", &ar) || ar.currentline < 1 ||
        ar.source[0] != '@')
        return 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_SOURCES) != LUA_TTABLE ||
        lua_getfield(L, -1, ar.source) != LUA_TSTRING) {
        lua_pop(L, 2);
        return 0;
    }
    text = lua_tostring(L, -1);
    for (p = text; p && !found; line++) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        for (size_t i = 0; line >= ar.currentline && i + klen <= n && !found; i++) {
            size_t j = i + klen;
            if (p[i] == '-' && i + 1 < n && p[i + 1] == '-')
                break;   /* the rest of the line is a comment */
            if (memcmp(p + i, key, klen) || (i > 0 && (isalnum((unsigned char)p[i - 1]) ||
                                                       p[i - 1] == '_')))
                continue;
            while (j < n && (p[j] == ' ' || p[j] == '\t'))
                j++;
            found = j < n && p[j] == '=' && (j + 1 >= n || p[j + 1] != '=');
        }
        p = end && !found ? end + 1 : NULL;
    }
    line--;   /* (the loop counted the line it found the key on once more) */
    lua_pop(L, 2);
    snprintf(src, cap, "%s", ar.short_src);
    return found ? line : 0;
}

void cl_lua_check_keys(lua_State *L, int idx, const char *const *valid, const char *what)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int ok = 0;
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; valid[i] && !ok; i++)
                ok = !strcmp(k, valid[i]);
            if (!ok) {
                const char *list = cl_lua_push_list(L, valid);
                char near[96], src[LUA_IDSIZE];
                int line = key_line(L, k, src, sizeof src);
                if (line)   /* where the key is, not where the call starts */
                    lua_pushfstring(L, "%s:%d: ", src, line);
                else
                    luaL_where(L, 1);
                lua_pushfstring(L, "%s: unknown key '%s'%s (valid keys: %s)", what, k,
                                cl_did_you_mean(k, strlen(k), valid, -1, "'", "'", near,
                                                sizeof near),
                                list);
                lua_concat(L, 2);
                lua_error(L);
            }
        } else {
            const char *type = luaL_typename(L, -1);
            const char *key = luaL_tolstring(L, -1, NULL);
            const char *list = cl_lua_push_list(L, valid);
            luaL_error(L, "%s: unexpected %s key %s (valid keys: %s)", what, type, key, list);
        }
    }
}

static double check_num(lua_State *L, int idx, const char *what)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        cl_lua_type_error(L, idx, what, "a number");
    return lua_tonumber(L, idx);
}

/* field k of the table at t as a number, or def when absent */
static double num_field(lua_State *L, int t, const char *k, double def, const char *what)
{
    double v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        lua_pushfstring(L, "%s.%s", what, k);
        v = check_num(L, -2, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

/* ---- schedules -------------------------------------------------------------- */

#define SCHED_META "cellar.schedule"

/* the fields each kind carries besides "kind" */
static const char *const sched_fields[][5] = {
    [SCHED_CONSTANT] = {"kind", "from", NULL},
    [SCHED_LINEAR] = {"kind", "from", "to", NULL},
    [SCHED_COSINE] = {"kind", "from", "to", NULL},
    [SCHED_STEP] = {"kind", "from", "gamma", "every", NULL},
    [SCHED_WARMUP] = {"kind", "from", "to", "share", NULL},
};

void cl_lua_to_sched(lua_State *L, int idx, cl_sched *s, const char *what)
{
    cl_err err = {0};
    const char *kind;
    int k = -1;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TNUMBER) {
        sched_constant(s, lua_tonumber(L, idx));
    } else if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, "kind");
        kind = lua_tostring(L, -1);
        for (int i = 0; kind && i <= SCHED_WARMUP; i++)
            if (!strcmp(kind, sched_kind_names[i]))
                k = i;
        if (k < 0 || lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: a schedule's kind must be constant, linear, cosine, step or warmup",
                       what);
        lua_pop(L, 1);
        cl_lua_check_keys(L, idx, sched_fields[k], what);
        sched_constant(s, num_field(L, idx, "from", NAN, what));
        s->kind = (sched_kind)k;
        s->to = num_field(L, idx, "to", k == SCHED_CONSTANT ? s->from : NAN, what);
        if (k == SCHED_STEP) {
            s->to = s->from;
            s->gamma = num_field(L, idx, "gamma", NAN, what);
            s->every = num_field(L, idx, "every", NAN, what);
        }
        if (k == SCHED_WARMUP)
            s->share = num_field(L, idx, "share", NAN, what);
    } else {
        cl_lua_type_error(L, idx, what, "a number or a schedule (cellar.cosine(...) and the like)");
    }
    if (sched_validate(s, what, &err))
        luaL_error(L, "%s", err.msg);
}

static int sched_tostring(lua_State *L)
{
    cl_sched s;
    char text[128];
    cl_lua_to_sched(L, 1, &s, "schedule");
    sched_format(&s, text, sizeof text);
    lua_pushstring(L, text);
    return 1;
}

void cl_lua_push_sched(lua_State *L, const cl_sched *s)
{
    lua_createtable(L, 0, 5);
    lua_pushstring(L, sched_kind_names[s->kind]);
    lua_setfield(L, -2, "kind");
    lua_pushnumber(L, s->from);
    lua_setfield(L, -2, "from");
    if (s->kind == SCHED_LINEAR || s->kind == SCHED_COSINE || s->kind == SCHED_WARMUP) {
        lua_pushnumber(L, s->to);
        lua_setfield(L, -2, "to");
    }
    if (s->kind == SCHED_STEP) {
        lua_pushnumber(L, s->gamma);
        lua_setfield(L, -2, "gamma");
        lua_pushnumber(L, s->every);
        lua_setfield(L, -2, "every");
    }
    if (s->kind == SCHED_WARMUP) {
        lua_pushnumber(L, s->share);
        lua_setfield(L, -2, "share");
    }
    if (luaL_newmetatable(L, SCHED_META)) {
        lua_pushcfunction(L, sched_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
}

/* The constructors check that their arguments are numbers; ranges are
 * checked where the schedule is used, so the message can name the
 * setting ("child.lr: warmup share must be in [0, 1)"). */
static int make_sched(lua_State *L, sched_kind kind, const char *fname)
{
    static const char *const argn[][3] = {
        [SCHED_CONSTANT] = {"value"},
        [SCHED_LINEAR] = {"from", "to"},
        [SCHED_COSINE] = {"from", "to"},
        [SCHED_STEP] = {"from", "gamma", "every"},
        [SCHED_WARMUP] = {"from", "to", "share"},
    };
    double a[3] = {0, 0, 0};
    int n = kind == SCHED_CONSTANT ? 1 : kind == SCHED_LINEAR || kind == SCHED_COSINE ? 2 : 3;
    cl_sched s;
    if (lua_gettop(L) != n)
        return luaL_error(L, "cellar.%s takes %d number%s (%s%s%s%s%s), got %d argument%s", fname,
                          n, n > 1 ? "s" : "", argn[kind][0], n > 1 ? ", " : "",
                          n > 1 ? argn[kind][1] : "", n > 2 ? ", " : "", n > 2 ? argn[kind][2] : "",
                          lua_gettop(L), lua_gettop(L) == 1 ? "" : "s");
    for (int i = 0; i < n; i++) {
        lua_pushfstring(L, "cellar.%s: %s", fname, argn[kind][i]);
        a[i] = check_num(L, i + 1, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    sched_constant(&s, a[0]);
    s.kind = kind;
    switch (kind) {
    case SCHED_CONSTANT:
        break;
    case SCHED_LINEAR:
    case SCHED_COSINE:
        s.to = a[1];
        break;
    case SCHED_STEP:
        s.gamma = a[1];
        s.every = a[2];
        break;
    case SCHED_WARMUP:
        s.to = a[1];
        s.share = a[2];
        break;
    }
    cl_lua_push_sched(L, &s);
    return 1;
}

static int l_constant(lua_State *L) { return make_sched(L, SCHED_CONSTANT, "constant"); }
static int l_linear(lua_State *L) { return make_sched(L, SCHED_LINEAR, "linear"); }
static int l_cosine(lua_State *L) { return make_sched(L, SCHED_COSINE, "cosine"); }
static int l_warmup(lua_State *L) { return make_sched(L, SCHED_WARMUP, "warmup"); }

/* cellar.step: with no arguments the live command (one more trial while
 * paused), with three the step schedule; the paper's vocabulary wants
 * both names. */
static int l_step(lua_State *L)
{
    if (lua_gettop(L) == 0)
        return cl_lua_live_step(L);
    return make_sched(L, SCHED_STEP, "step");
}

/* ---- spaces ------------------------------------------------------------------- */

static const char *const space_keys[] = {"name", "ops", "B", "combiners", "inputs", NULL};

static int int_field(lua_State *L, int t, const char *k, int def, const char *what)
{
    lua_Integer v = def;
    lua_getfield(L, t, k);
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER || v < -1000000000 || v > 1000000000) {
            lua_pushfstring(L, "%s.%s", what, k);
            cl_lua_type_error(L, -2, lua_tostring(L, -1), "an integer");
        }
    }
    lua_pop(L, 1);
    return (int)v;
}

/* names of a list field (ops or combiners) -> registry indices */
static int name_list(lua_State *L, int t, const char *k, const char *what, unsigned char *out,
                     int max, int (*find)(const char *, size_t), const char *const *valid,
                     int nvalid)
{
    int n;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pushfstring(L, "%s.%s", what, k);
        cl_lua_type_error(L, -2, lua_tostring(L, -1), "a list of names");
    }
    n = (int)lua_rawlen(L, -1);
    if (n > max) {
        /* more than the registry holds: some name repeats or is unknown;
         * let space_validate say which by keeping the count */
        n = max + 1;
    }
    for (int i = 1; i <= n && i <= max; i++) {
        const char *name;
        int id;
        lua_rawgeti(L, -1, i);
        name = lua_tostring(L, -1);
        id = lua_type(L, -1) == LUA_TSTRING ? find(name, strlen(name)) : -1;
        if (id < 0) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            for (int j = 0; j < nvalid; j++) {
                if (j)
                    luaL_addstring(&b, ", ");
                luaL_addstring(&b, valid[j]);
            }
            luaL_pushresult(&b);
            if (lua_type(L, -2) == LUA_TSTRING) {
                char near[96];
                luaL_error(L, "%s.%s: unknown name '%s'%s (valid: %s)", what, k, name,
                           cl_did_you_mean(name, strlen(name), valid, nvalid, "'", "'", near,
                                           sizeof near),
                           lua_tostring(L, -1));
            }
            luaL_error(L, "%s.%s[%d]: expected a name, got %s (valid: %s)", what, k, i,
                       luaL_typename(L, -2), lua_tostring(L, -1));
        }
        out[i - 1] = (unsigned char)id;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return n;
}

static int op_find(const char *s, size_t n) { return geno_op_find(s, n); }
static int comb_find(const char *s, size_t n) { return geno_comb_find(s, n); }

void cl_lua_to_space(lua_State *L, int idx, cl_space *s, const char *what)
{
    const char *op_names[OP_COUNT];
    cl_err err = {0};
    cl_space def;
    int n;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        cl_lua_type_error(L, idx, what, "a space (cellar.space{...}) or a space's name");
    cl_lua_check_keys(L, idx, space_keys, what);
    space_nasnet(&def);
    *s = def;
    lua_getfield(L, idx, "name");
    if (lua_isnil(L, -1)) {
        snprintf(s->name, sizeof s->name, "custom");
    } else if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
               lua_rawlen(L, -1) >= sizeof s->name) {
        lua_pushfstring(L, "%s.name", what);
        cl_lua_type_error(L, -2, lua_tostring(L, -1), "a name of 1 to 31 characters");
    } else {
        snprintf(s->name, sizeof s->name, "%s", lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    for (int i = 0; i < OP_COUNT; i++)
        op_names[i] = geno_ops[i].name;
    if ((n = name_list(L, idx, "ops", what, s->ops, OP_COUNT, op_find, op_names, OP_COUNT)) >= 0)
        s->n_ops = n;
    if ((n = name_list(L, idx, "combiners", what, s->combs, COMB_COUNT, comb_find,
                       geno_comb_names, COMB_COUNT)) >= 0)
        s->n_combs = n;
    s->B = int_field(L, idx, "B", def.B, what);
    s->inputs = int_field(L, idx, "inputs", def.inputs, what);
    if (space_validate(s, &err))
        luaL_error(L, "%s", err.msg);
}

static int space_tostring(lua_State *L)
{
    cl_space s;
    cl_lua_to_space(L, 1, &s, "space");
    lua_pushfstring(L, "space %s: %d ops, %d combiners, B = %d, inputs = %d", s.name, s.n_ops,
                    s.n_combs, s.B, s.inputs);
    return 1;
}

/* cellar.space{...} -> the validated space as a table of the same keys */
static int l_space(lua_State *L)
{
    cl_space s;
    luaL_checktype(L, 1, LUA_TTABLE);
    cl_lua_to_space(L, 1, &s, "space");
    lua_createtable(L, 0, 5);
    lua_pushstring(L, s.name);
    lua_setfield(L, -2, "name");
    lua_createtable(L, s.n_ops, 0);
    for (int i = 0; i < s.n_ops; i++) {
        lua_pushstring(L, geno_ops[s.ops[i]].name);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "ops");
    lua_createtable(L, s.n_combs, 0);
    for (int i = 0; i < s.n_combs; i++) {
        lua_pushstring(L, geno_comb_names[s.combs[i]]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "combiners");
    lua_pushinteger(L, s.B);
    lua_setfield(L, -2, "B");
    lua_pushinteger(L, s.inputs);
    lua_setfield(L, -2, "inputs");
    if (luaL_newmetatable(L, "cellar.space")) {
        lua_pushcfunction(L, space_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return 1;
}

/* ---- hooks -------------------------------------------------------------------- */

static const char *push_event_names(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < cl_lua_event_count(); i++) {
        if (i)
            luaL_addstring(&b, ", ");
        luaL_addstring(&b, cl_lua_event_name(i));
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* cellar.on(event, fn): fn(table) after each such event, in the order
 * the hooks were registered */
static int l_on(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    int kind = cl_lua_event_find(name);
    if (kind < 0)
        return luaL_error(L, "cellar.on: unknown event '%s' (valid: %s)", name,
                          push_event_names(L));
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_HOOKS);
    if (lua_rawgeti(L, -1, kind + 1) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, kind + 1);
    }
    lua_pushvalue(L, 2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

/* Runs protected: upvalue-free; arguments: the event (light userdata),
 * the list of hooks. */
static int dispatch_protected(lua_State *L)
{
    const engine_event *ev = lua_touserdata(L, 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    cl_lua_push_event(L, ev);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        lua_pushvalue(L, 3);
        lua_call(L, 1, 0);
    }
    return 0;
}

int cl_lua_dispatch(cl_lua *cl, const engine_event *ev, cl_err *err)
{
    lua_State *L = cl->L;
    int top = lua_gettop(L), rc;
    if ((int)ev->kind < 0 || (int)ev->kind >= cl_lua_event_count())
        return ERR_SET(err, CL_ERR_ARG, "hooks: unknown event kind %d", (int)ev->kind);
    lua_getfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_HOOKS);
    if (lua_rawgeti(L, -1, (int)ev->kind + 1) != LUA_TTABLE || lua_rawlen(L, -1) == 0) {
        lua_settop(L, top);
        return CL_OK;
    }
    lua_pushcfunction(L, dispatch_protected);
    lua_pushlightuserdata(L, (void *)ev);
    lua_pushvalue(L, -3);
    rc = cl_lua_pcall(cl, 2, 0, err);
    lua_settop(L, top);
    if (rc)
        err_prefix(err, "%s hook", cl_lua_event_name((int)ev->kind));
    return rc;
}

/* ---- genotypes ------------------------------------------------------------------ */

/* a genotype argument: a name, a genotype line, or a table with .text */
static void check_genotype(lua_State *L, int idx, cl_genotype *g, const char *what)
{
    cl_err err = {0};
    const char *s;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_getfield(L, idx, "text");
        s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        lua_pop(L, 1);   /* still referenced by the table */
    } else {
        s = lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
    }
    if (!s)
        cl_lua_type_error(L, idx, what, "a genotype name or line (or a table with .text)");
    if (geno_from_arg(s, g, &err))
        luaL_error(L, "%s: %s", what, err.msg);
}

/* cellar.genotype(name_or_text) -> {text = normal form, hash = 16 hex} */
static int l_genotype(lua_State *L)
{
    cl_genotype g;
    char text[GENO_TEXT_MAX], hash[17];
    check_genotype(L, 1, &g, "cellar.genotype");
    geno_format(&g, text, sizeof text);
    geno_hash_hex(geno_hash(&g), hash);
    lua_createtable(L, 0, 2);
    lua_pushstring(L, text);
    lua_setfield(L, -2, "text");
    lua_pushstring(L, hash);
    lua_setfield(L, -2, "hash");
    return 1;
}

/* cellar.cost(g [, {N=, F=, input=, classes=}]) -> params, flops */
static int l_cost(lua_State *L)
{
    static const char *const keys[] = {"N", "F", "input", "classes", NULL};
    cl_lua *cl = cl_lua_of(L);
    cl_genotype g;
    child_spec spec = {.N = 2, .F = 16, .in_c = 3, .in_h = 32, .in_w = 32, .classes = 10};
    cl_net *net = NULL;
    cl_err err = {0};
    long params;
    double flops;
    check_genotype(L, 1, &g, "cellar.cost");
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        cl_lua_check_keys(L, 2, keys, "cellar.cost");
        spec.N = int_field(L, 2, "N", spec.N, "cellar.cost");
        spec.F = int_field(L, 2, "F", spec.F, "cellar.cost");
        spec.classes = int_field(L, 2, "classes", spec.classes, "cellar.cost");
        lua_getfield(L, 2, "input");
        if (!lua_isnil(L, -1) &&
            (lua_type(L, -1) != LUA_TSTRING ||
             child_parse_shape(lua_tostring(L, -1), &spec.in_h, &spec.in_w, &spec.in_c, &err)))
            return luaL_error(L, "cellar.cost: input must be \"HxWxC\" such as \"32x32x3\" "
                                 "(each 1 to 4096)");
        lua_pop(L, 1);
    }
    if (spec.N < 1 || spec.N > 64 || spec.F < 2 || spec.F > 4096 || spec.classes < 2 ||
        spec.classes > 100000)
        return luaL_error(L, "cellar.cost: N must be 1 to 64, F 2 to 4096, classes 2 to 100000");
    /* the counts come from the graph alone, so a CPU backend serves for any
     * search; it is created with the current OpenMP thread count because
     * creating it sets that count for the whole process */
    if (!cl->cost_be && backend_cpu_create(omp_get_max_threads(), &cl->cost_be, &err))
        return luaL_error(L, "cellar.cost: %s", err.msg);
    if (child_build(&g, &spec, cl->cost_be, &net, &err))
        return luaL_error(L, "cellar.cost: %s", err.msg);
    params = net_param_count(net);
    flops = net_flops(net);
    net_free(net);
    lua_pushinteger(L, params);
    lua_pushnumber(L, flops);
    return 2;
}

/* cellar.render(what, path [, format]) -> path: what is a genotype (name,
 * line, table with .text or .genotype, such as a trial of cellar.trials)
 * or the id of a trial of the running search's journal */
static int l_render(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    cl_genotype g;
    cl_err err = {0};
    const char *path = luaL_checkstring(L, 2);
    const char *format = luaL_optstring(L, 3, NULL);
    if (lua_isinteger(L, 1)) {
        store_trial t;
        lua_Integer id = lua_tointeger(L, 1);
        if (!cl->store)
            return luaL_error(L, "cellar.render: a trial id needs a running search (give a "
                                 "genotype instead)");
        if (store_trial_get(cl->store, id, &t, &err))
            return luaL_error(L, "cellar.render: no trial %d in the journal", (int)id);
        if (!t.genotype || geno_parse(t.genotype, &g, &err)) {
            store_trial_clear(&t);
            return luaL_error(L, "cellar.render: trial %d has no genotype to draw", (int)id);
        }
        store_trial_clear(&t);
    } else if (lua_type(L, 1) == LUA_TTABLE && lua_getfield(L, 1, "text") != LUA_TSTRING &&
               lua_getfield(L, 1, "genotype") == LUA_TSTRING) {
        check_genotype(L, -1, &g, "cellar.render");
    } else {
        lua_settop(L, 3);
        check_genotype(L, 1, &g, "cellar.render");
    }
    if (!format && !(format = render_format_of(path)))
        return luaL_error(L, "cellar.render: which format for %s? give one: "
                             "cellar.render(what, path, \"svg\" | \"png\" | \"dot\" | \"ascii\")",
                          path);
#ifdef HAVE_GRAPHVIZ
    if (render_genotype_file(&g, format, path, &err))
        return luaL_error(L, "cellar.render: %s", err.msg);
#else
    return luaL_error(L, "cellar.render: this cellar was built without Graphviz");
#endif
    lua_pushstring(L, path);
    return 1;
}

/* ---- help ---------------------------------------------------------------------- */

/* every field of the cellar table, as it is used and what it gives
 * (test_lua holds the list to the table: a function added without its
 * line here fails there); man cellar-lua says it all */
static const struct help_entry {
    const char *name, *use, *what;
} help_entries[] = {
    {"experiment", "cellar.experiment{ name=, space=, child=, strategy=, budget=, ... }",
     "declares an experiment"},
    {"space", "cellar.space{ ops=, B=, combiners=, inputs= }", "a search space"},
    {"ppo", "cellar.ppo{ lr=, batch=, epochs=, clip=, hidden=, ... }",
     "the LSTM controller, trained by PPO"},
    {"reinforce", "cellar.reinforce{ ... }", "the controller trained by REINFORCE"},
    {"random", "cellar.random{}", "uniform choices: the baseline"},
    {"evolution", "cellar.evolution{ population=, sample= }", "regularized evolution"},
    {"constant", "cellar.constant(v)", "a schedule: v throughout"},
    {"linear", "cellar.linear(from, to)", "a schedule: from to to, linearly"},
    {"cosine", "cellar.cosine(from, to)", "a schedule: from to to, by half a cosine"},
    {"step", "cellar.step(from, gamma, every)",
     "a schedule times gamma each `every` of the span; cellar.step() while paused: one more "
     "trial"},
    {"warmup", "cellar.warmup(from, to, share)",
     "a schedule: up to from over `share`, then cosine"},
    {"on", "cellar.on(event, fn)",
     "fn(table) after each trial_start, epoch, trial_end, controller_update, command, state, "
     "log"},
    {"pause", "cellar.pause()", "start no new work"},
    {"resume", "cellar.resume()", "go on after a pause"},
    {"stop", "cellar.stop()", "end the search cleanly (cellar resume continues it)"},
    {"stop_trial", "cellar.stop_trial(id [, why])",
     "end a trial's training at its epoch's end, validated as it stands"},
    {"set", "cellar.set(name, value)", "change a setting for the trials that follow"},
    {"get", "cellar.get(name)", "a setting's value"},
    {"settings", "cellar.settings()", "the settings cellar.set takes, described"},
    {"status", "cellar.status()", "the search's state, counts, best trial and progress"},
    {"trials", "cellar.trials{ state=, top=, order=, ranked= }", "the trials so far, as tables"},
    {"epochs", "cellar.epochs(id) or cellar.epochs{ trial=, epoch= | training= }",
     "the epochs in the journal: a trial's, every trial's at one epoch, or a training's"},
    {"trainings", "cellar.trainings([trial])",
     "the trials' genotypes trained again (cellar train DB): settings, state, test accuracy"},
    {"policy", "cellar.policy([update])",
     "the controller after its last update: its likeliest cell, each decision's choices"},
    {"genotype", "cellar.genotype(name_or_text)", "a genotype checked: its normal form and hash"},
    {"cost", "cellar.cost(genotype [, { N=, F=, input=, classes= }])",
     "its network's parameters and FLOPs"},
    {"render", "cellar.render(what, path [, format])", "draw a genotype's cells to a file"},
    {"log", "cellar.log(...)", "a line in the run log, as print"},
    {"help", "help([name])", "this list, or one entry of it"},
    {"version", "cellar.version", "cellar's version"},
    {"ops", "cellar.ops", "the op names"},
    {"combiners", "cellar.combiners", "the combiner names"},
};

const char *cl_lua_help_names(int i)
{
    return i >= 0 && i < (int)CL_ARRAY_LEN(help_entries) ? help_entries[i].name : NULL;
}

/* help([name]): to the run log, as print writes */
static int l_help(lua_State *L)
{
    const char *name = luaL_optstring(L, 1, NULL);
    const char *names[CL_ARRAY_LEN(help_entries)];
    char near[96];
    if (name && !strncmp(name, "cellar.", 7))
        name += 7;
    int shown = 0;
    for (size_t i = 0; i < CL_ARRAY_LEN(help_entries); i++) {
        const struct help_entry *h = &help_entries[i];
        names[i] = h->name;
        if (name && strcmp(name, h->name))
            continue;
        shown++;
        if (strlen(h->use) < 34) {
            log_msg(LOG_INFO, "%-34s %s", h->use, h->what);
        } else {   /* the use alone, what it gives under it */
            log_msg(LOG_INFO, "%s", h->use);
            log_msg(LOG_INFO, "%-34s %s", "", h->what);
        }
    }
    if (!name)
        log_msg(LOG_INFO, "(help(\"set\"): one of them; man cellar-lua: all of it)");
    if (shown)
        return 0;
    return luaL_error(L, "help: no '%s' in cellar%s (help() lists them)", name,
                      cl_did_you_mean(name, strlen(name), names, (int)CL_ARRAY_LEN(names), "'",
                                      "'", near, sizeof near));
}

/* ---- the module ------------------------------------------------------------------ */

int cl_lua_open_cellar(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"space", l_space},
        {"constant", l_constant},
        {"linear", l_linear},
        {"cosine", l_cosine},
        {"step", l_step},
        {"warmup", l_warmup},
        {"experiment", cl_lua_experiment_fn},
        {"on", l_on},
        {"genotype", l_genotype},
        {"cost", l_cost},
        {"render", l_render},
        {"log", cl_lua_print},
        {"help", l_help},
        {NULL, NULL},
    };
    static const char *const strategies[] = {"ppo", "reinforce", "random", "evolution"};
    luaL_newlib(L, fns);
    for (size_t i = 0; i < CL_ARRAY_LEN(strategies); i++) {
        lua_pushstring(L, strategies[i]);
        lua_pushcclosure(L, cl_lua_strategy_fn, 1);
        lua_setfield(L, -2, strategies[i]);
    }
    cl_lua_open_live(L);
    lua_pushstring(L, PACKAGE_VERSION);
    lua_setfield(L, -2, "version");
    lua_createtable(L, OP_COUNT, 0);
    for (int i = 0; i < OP_COUNT; i++) {
        lua_pushstring(L, geno_ops[i].name);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "ops");
    lua_createtable(L, COMB_COUNT, 0);
    for (int i = 0; i < COMB_COUNT; i++) {
        lua_pushstring(L, geno_comb_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "combiners");
    return 1;
}
