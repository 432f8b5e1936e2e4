/* lua_state.c - the embedded Lua state: a chosen set of libraries (the
 * sandbox), print into the run log, `require` from the embedded files and
 * then from disk (text chunks only), the protected call that every entry
 * from C goes through (a message handler adding file:line, and an
 * instruction budget that a script's own pcall cannot swallow), and the
 * console's evaluation with the stand-alone REPL's conventions. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lualib.h>

#include "core/log.h"
#include "lua/lua_priv.h"

/* The count hook fires every this many VM instructions. */
#define HOOK_EVERY 1000
/* A single call into Lua may run this many instructions (a few seconds):
 * far beyond any hook or experiment file, soon enough to stop a loop. */
#define DEFAULT_LIMIT 1000000000LL

cl_lua *cl_lua_of(lua_State *L)
{
    cl_lua *cl;
    lua_getfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_STATE);
    cl = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return cl;
}

/* ---- the instruction budget ------------------------------------------------ */

/* Once the budget is spent the hook raises again on every tick until the
 * outermost call returns, and the pcall/xpcall given to scripts re-raise
 * a caught error while tripped, so `while true do pcall(f) end` ends too. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    cl_lua *cl = cl_lua_of(L);
    /* outside cl_lua_pcall (a finalizer run by the collector from C)
     * there is no protected call to return to */
    if (!cl || cl->depth == 0)
        return;
    cl->used += HOOK_EVERY;
    if (cl->used <= cl->limit && !cl->tripped)
        return;
    cl->tripped = 1;
    lua_getinfo(L, "Sl", ar);
    if (ar->currentline > 0)
        lua_pushfstring(L, "%s:%d: ", ar->short_src, ar->currentline);
    else
        lua_pushliteral(L, "");
    lua_pushfstring(L, "Lua code ran too long (stopped after %I instructions)",
                    (lua_Integer)cl->limit);
    lua_concat(L, 2);
    lua_error(L);
}

static int l_pcall(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    int status;
    luaL_checkany(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
    if (status != LUA_OK && cl && cl->tripped)
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_insert(L, 1);
    return lua_gettop(L);
}

static int l_xpcall(lua_State *L)
{
    cl_lua *cl = cl_lua_of(L);
    int n = lua_gettop(L), status;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    /* handler below the function: xpcall(f, h, ...) -> h f ... */
    lua_pushvalue(L, 1);
    lua_copy(L, 2, 1);
    lua_replace(L, 2);
    status = lua_pcall(L, n - 2, LUA_MULTRET, 1);
    if (status != LUA_OK && cl && cl->tripped)
        return lua_error(L);
    lua_pushboolean(L, status == LUA_OK);
    lua_replace(L, 1);
    return lua_gettop(L);
}

/* ---- errors ------------------------------------------------------------------ */

/* Does msg start with "SRC:LINE:" for the source of some Lua frame? */
static int has_position(lua_State *L, const char *msg)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        size_t n;
        lua_getinfo(L, "S", &ar);
        n = strlen(ar.short_src);
        if (n && !strncmp(msg, ar.short_src, n) && msg[n] == ':' &&
            isdigit((unsigned char)msg[n + 1]))
            return 1;
    }
    return 0;
}

/* The message handler: makes the error a string, prefixes the position of
 * the innermost Lua code when the message has none (errors raised from C
 * with lua_error), and writes the traceback to the log at debug level so
 * the message itself stays one line. */
int cl_lua_msg_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    lua_Debug ar;
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (!has_position(L, msg))
        for (int level = 1; lua_getstack(L, level, &ar); level++) {
            lua_getinfo(L, "Sl", &ar);
            if (ar.currentline > 0) {
                msg = lua_pushfstring(L, "%s:%d: %s", ar.short_src, ar.currentline, msg);
                break;
            }
        }
    luaL_traceback(L, L, msg, 1);
    log_msg(LOG_DEBUG, "lua: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushstring(L, msg);
    return 1;
}

int cl_lua_pcall(cl_lua *cl, int nargs, int nres, cl_err *err)
{
    lua_State *L = cl->L;
    int base = lua_gettop(L) - nargs, status;
    lua_pushcfunction(L, cl_lua_msg_handler);
    lua_insert(L, base);
    if (cl->depth++ == 0) {
        cl->used = 0;
        cl->tripped = 0;
    }
    status = lua_pcall(L, nargs, nres, base);
    if (--cl->depth == 0)
        cl->tripped = 0;
    lua_remove(L, base);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        ERR_SET(err, status == LUA_ERRMEM ? CL_ERR_NOMEM : CL_ERR_ARG, "%s",
                msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
        return err ? err->code : CL_ERR_ARG;
    }
    return CL_OK;
}

int cl_lua_compile(lua_State *L, const char *text, size_t len, const char *chunkname, cl_err *err)
{
    int status = luaL_loadbufferx(L, text, len, chunkname, "t");
    if (status != LUA_OK) {
        ERR_SET(err, status == LUA_ERRMEM ? CL_ERR_NOMEM : CL_ERR_PARSE, "%s",
                lua_tostring(L, -1));
        lua_pop(L, 1);
        return status == LUA_ERRMEM ? CL_ERR_NOMEM : CL_ERR_PARSE;
    }
    /* a file's text kept by its name, for messages that point into it
     * (lua_module.c's key_line) */
    if (chunkname && chunkname[0] == '@') {
        if (lua_getfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_SOURCES) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_SOURCES);
        }
        lua_pushlstring(L, text, len);
        lua_setfield(L, -2, chunkname);
        lua_pop(L, 1);
    }
    return CL_OK;
}

/* ---- embedded files ------------------------------------------------------------ */

const char *cl_lua_embedded(const char *path, size_t *len)
{
    for (int i = 0; i < cl_lua_nfiles; i++)
        if (!strcmp(cl_lua_files[i].path, path)) {
            if (len)
                *len = cl_lua_files[i].len;
            return (const char *)cl_lua_files[i].data;
        }
    return NULL;
}

const char *const *cl_lua_embedded_experiments(void)
{
    return cl_lua_experiment_names;
}

/* ---- require ----------------------------------------------------------------- */

/* "spaces.nasnet" -> "spaces/nasnet" in b */
static const char *module_path(lua_State *L, const char *name)
{
    return luaL_gsub(L, name, ".", "/");
}

/* package.searchers[2]: the embedded files, name.lua then name/init.lua */
static int searcher_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *base = module_path(L, name);
    static const char *const forms[] = {"%s.lua", "%s/init.lua"};
    cl_err err = {0};
    for (size_t i = 0; i < CL_ARRAY_LEN(forms); i++) {
        size_t len;
        const char *path = lua_pushfstring(L, forms[i], base);
        const char *text = cl_lua_embedded(path, &len);
        if (text) {
            const char *chunk = lua_pushfstring(L, "@lua/%s", path);
            if (cl_lua_compile(L, text, len, chunk, &err))
                return luaL_error(L, "error loading module '%s' from the embedded files: %s",
                                  name, err.msg);
            lua_pushstring(L, chunk + 1);
            return 2;
        }
        lua_pop(L, 1);
    }
    lua_pushfstring(L, "no embedded file 'lua/%s.lua'", base);
    return 1;
}

static int readable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* package.searchers[3]: files along package.path, loaded as text only (the
 * stock searcher would accept precompiled chunks, which can crash the VM) */
static int searcher_disk(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *base = module_path(L, name), *path, *p;
    int pieces = 0;
    lua_getglobal(L, LUA_LOADLIBNAME);
    lua_getfield(L, -1, "path");
    path = lua_tostring(L, -1);
    if (!path)
        return luaL_error(L, "package.path must be a string");
    for (p = path; *p;) {
        const char *semi = strchr(p, ';');
        size_t n = semi ? (size_t)(semi - p) : strlen(p);
        if (n) {
            const char *file;
            lua_pushlstring(L, p, n);
            file = luaL_gsub(L, lua_tostring(L, -1), "?", base);
            lua_remove(L, -2);
            if (readable_file(file)) {
                unsigned char *data;
                size_t len;
                cl_err err = {0};
                int rc = read_file(file, &data, &len, &err);
                if (!rc) {
                    const char *chunk = lua_pushfstring(L, "@%s", file);
                    rc = cl_lua_compile(L, (const char *)data, len, chunk, &err);
                    free(data);
                }
                if (rc)
                    return luaL_error(L, "error loading module '%s' from file '%s': %s", name,
                                      file, err.msg);
                lua_pushstring(L, file);
                return 2;
            }
            /* Lua's require puts "\n\t" before each searcher's message */
            lua_pushfstring(L, pieces ? "\n\tno file '%s'" : "no file '%s'", file);
            lua_remove(L, -2);
            pieces++;
        }
        p += n + (semi ? 1 : 0);
    }
    lua_concat(L, pieces);
    return 1;
}

/* ---- the sandbox -------------------------------------------------------------- */

/* print (and cellar.log): to the run log, never to stdout (a curses
 * screen may own it) */
int cl_lua_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_msg(LOG_INFO, "%s", lua_tostring(L, -1));
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to text:
 * Lua's own loader then refuses a binary chunk */
static int l_load(lua_State *L)
{
    if (lua_gettop(L) < 3)
        lua_settop(L, 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* reading an undefined global is an error: it is nearly always a typo in
 * an experiment file (space = nasnett) that would otherwise become nil
 * and quietly fall back to a default */
static int l_strict_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TSTRING)
        return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
    return luaL_error(L, "undefined global (a %s key)", luaL_typename(L, 2));
}

static void keep_fields(lua_State *L, const char *lib, const char *const *keep)
{
    lua_getglobal(L, lib);
    lua_newtable(L);
    for (; *keep; keep++) {
        lua_getfield(L, -2, *keep);
        lua_setfield(L, -2, *keep);
    }
    /* the trimmed table replaces the library as global and in package.loaded */
    lua_pushvalue(L, -1);
    lua_setglobal(L, lib);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, lib);
    lua_pop(L, 3);
}

static void set_nil(lua_State *L, const char *table, const char *field)
{
    if (table) {
        lua_getglobal(L, table);
        lua_pushnil(L);
        lua_setfield(L, -2, field);
        lua_pop(L, 1);
    } else {
        lua_pushnil(L);
        lua_setglobal(L, field);
    }
}

static int open_sandbox(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_LOADLIBNAME, luaopen_package},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math},  {LUA_UTF8LIBNAME, luaopen_utf8},
        {LUA_IOLIBNAME, luaopen_io},      {LUA_OSLIBNAME, luaopen_os},
        {NULL, NULL},
    };
    static const char *const os_keep[] = {"time", "clock", "date", "getenv", NULL};
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    keep_fields(L, LUA_OSLIBNAME, os_keep);
    set_nil(L, NULL, "dofile");
    set_nil(L, NULL, "loadfile");
    set_nil(L, LUA_IOLIBNAME, "popen");
    set_nil(L, LUA_LOADLIBNAME, "loadlib");

    lua_pushcfunction(L, cl_lua_print);
    lua_setglobal(L, "print");
    lua_pushcfunction(L, l_pcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, l_xpcall);
    lua_setglobal(L, "xpcall");
    lua_getglobal(L, "load");
    lua_pushcclosure(L, l_load, 1);
    lua_setglobal(L, "load");

    /* require: preload, the embedded files, then text files on package.path */
    lua_getglobal(L, LUA_LOADLIBNAME);
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pushliteral(L, "./?.lua;./?/init.lua");
    lua_setfield(L, -2, "path");
    lua_getfield(L, -1, "searchers");
    lua_createtable(L, 3, 0);
    lua_rawgeti(L, -2, 1);
    lua_rawseti(L, -2, 1);
    lua_pushcfunction(L, searcher_embedded);
    lua_rawseti(L, -2, 2);
    lua_pushcfunction(L, searcher_disk);
    lua_rawseti(L, -2, 3);
    lua_setfield(L, -3, "searchers");
    lua_pop(L, 2);

    luaL_requiref(L, "cellar", cl_lua_open_cellar, 1);
    lua_getfield(L, -1, "help");   /* help() at the console's prompt */
    lua_setglobal(L, "help");
    lua_pop(L, 1);

    /* hooks by event kind */
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, CL_LUA_KEY_HOOKS);

    lua_pushglobaltable(L);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_strict_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

int cl_lua_new(cl_lua **out, cl_err *err)
{
    cl_lua *cl = calloc(1, sizeof *cl);
    const char *env = getenv("CELLAR_LUA_MAX_INSTRUCTIONS");
    *out = NULL;
    if (!cl || !(cl->L = luaL_newstate())) {
        free(cl);
        return ERR_SET(err, CL_ERR_NOMEM, "Lua: cannot create a state (out of memory)");
    }
    cl->limit = DEFAULT_LIMIT;
    snprintf(cl->source, sizeof cl->source, "lua");
    if (env && *env) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(env, &end, 10);
        if (*end || errno || v < HOOK_EVERY) {
            lua_close(cl->L);
            free(cl);
            return ERR_SET(err, CL_ERR_ARG,
                           "CELLAR_LUA_MAX_INSTRUCTIONS: expected an integer >= %d, got '%s'",
                           HOOK_EVERY, env);
        }
        cl->limit = v;
    }
    lua_pushlightuserdata(cl->L, cl);
    lua_setfield(cl->L, LUA_REGISTRYINDEX, CL_LUA_KEY_STATE);
    lua_sethook(cl->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_pushcfunction(cl->L, open_sandbox);
    if (cl_lua_pcall(cl, 0, 0, err)) {
        err_prefix(err, "Lua: setting up the state");
        cl_lua_free(cl);
        return err ? err->code : CL_ERR_INTERNAL;
    }
    *out = cl;
    return CL_OK;
}

void cl_lua_free(cl_lua *cl)
{
    if (!cl)
        return;
    lua_close(cl->L);
    cl_lua_loads_free(cl);
    if (cl->cost_be)
        backend_destroy(cl->cost_be);
    free(cl);
}

/* ---- the console ------------------------------------------------------------- */

static int is_identifier(const char *s)
{
    if (!isalpha((unsigned char)*s) && *s != '_')
        return 0;
    for (s++; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return 0;
    return 1;
}

#define SUMMARY_ITEMS 8
#define SUMMARY_STRING 40

/* The summary is built in a string at stack index acc (a luaL_Buffer
 * needs a balanced stack between its calls, which the walk over a table
 * does not keep). */
static void acc_add(lua_State *L, int acc)
{
    lua_pushvalue(L, acc);
    lua_rotate(L, -2, 1);
    lua_concat(L, 2);
    lua_replace(L, acc);
}

static void acc_lit(lua_State *L, int acc, const char *s)
{
    lua_pushstring(L, s);
    acc_add(L, acc);
}

/* one value inside a table summary: strings quoted and cut short,
 * tables not opened, functions not given their addresses */
static void add_inner(lua_State *L, int acc, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len, cut;
        const char *s = lua_tolstring(L, idx, &len);
        /* cut on a character boundary of UTF-8 text */
        for (cut = len > SUMMARY_STRING ? SUMMARY_STRING : len;
             cut < len && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80; cut--)
            ;
        lua_getglobal(L, LUA_STRLIBNAME);
        lua_getfield(L, -1, "format");
        lua_remove(L, -2);
        lua_pushliteral(L, "%q");
        lua_pushlstring(L, s, cut);
        lua_call(L, 2, 1);
        /* %q keeps a newline as backslash-newline: keep the line one line */
        luaL_gsub(L, lua_tostring(L, -1), "\\\n", "\\n");
        lua_remove(L, -2);
        acc_add(L, acc);
        if (cut < len)
            acc_lit(L, acc, "...");
    } else if (lua_type(L, idx) == LUA_TFUNCTION) {
        acc_lit(L, acc, "function");
    } else if (lua_type(L, idx) == LUA_TTABLE && luaL_getmetafield(L, idx, "__tostring") == LUA_TNIL) {
        lua_pushnil(L);
        if (lua_next(L, idx)) {
            lua_pop(L, 2);
            acc_lit(L, acc, "{...}");
        } else {
            acc_lit(L, acc, "{}");
        }
    } else {
        if (lua_type(L, idx) == LUA_TTABLE)
            lua_pop(L, 1);   /* the __tostring fetched above */
        luaL_tolstring(L, idx, NULL);
        acc_add(L, acc);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A table as one line: its sequence, then its string keys in order, at
 * most SUMMARY_ITEMS entries: {1, 2, 3, name = "x", ...} */
static void add_table(lua_State *L, int acc, int idx)
{
    const char *keys[64];
    int nkeys = 0, shown = 0, more = 0;
    lua_Integer seq = (lua_Integer)lua_rawlen(L, idx);
    acc_lit(L, acc, "{");
    for (lua_Integer i = 1; i <= seq; i++) {
        if (shown == SUMMARY_ITEMS) {
            more = 1;
            break;
        }
        if (shown++)
            acc_lit(L, acc, ", ");
        lua_rawgeti(L, idx, i);
        add_inner(L, acc, -1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 && lua_tointeger(L, -1) <= seq)
            continue;
        if (lua_type(L, -1) == LUA_TSTRING && nkeys < (int)CL_ARRAY_LEN(keys))
            keys[nkeys++] = lua_tostring(L, -1);   /* stays alive: the table holds it */
        else
            more = 1;
    }
    qsort(keys, (size_t)nkeys, sizeof keys[0], cmp_str);
    for (int i = 0; i < nkeys; i++) {
        if (shown == SUMMARY_ITEMS) {
            more = 1;
            break;
        }
        if (shown++)
            acc_lit(L, acc, ", ");
        if (is_identifier(keys[i])) {
            acc_lit(L, acc, keys[i]);
        } else {
            acc_lit(L, acc, "[");
            lua_pushstring(L, keys[i]);
            add_inner(L, acc, -1);
            lua_pop(L, 1);
            acc_lit(L, acc, "]");
        }
        acc_lit(L, acc, " = ");
        lua_getfield(L, idx, keys[i]);
        add_inner(L, acc, -1);
        lua_pop(L, 1);
    }
    if (more)
        acc_lit(L, acc, shown ? ", ..." : "...");
    acc_lit(L, acc, "}");
}

/* Runs protected: formats the values on the stack (all of them) as the
 * REPL prints them, tab-separated, into one string. */
static int format_values(lua_State *L)
{
    int n = lua_gettop(L), acc = n + 1;
    lua_pushliteral(L, "");
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            acc_lit(L, acc, "\t");
        if (lua_type(L, i) == LUA_TTABLE && luaL_getmetafield(L, i, "__tostring") == LUA_TNIL &&
            luaL_getmetafield(L, i, "__name") == LUA_TNIL) {
            add_table(L, acc, i);
        } else {
            if (lua_type(L, i) == LUA_TTABLE)
                lua_pop(L, 1);
            luaL_tolstring(L, i, NULL);
            acc_add(L, acc);
        }
    }
    return 1;
}

static int ends_at_eof(const char *msg)
{
    static const char mark[] = "<eof>";
    size_t n = strlen(msg);
    return n >= sizeof mark - 1 && !strcmp(msg + n - (sizeof mark - 1), mark);
}

int cl_lua_eval(cl_lua *cl, const char *chunk, cl_buf *out, int *incomplete, cl_err *err)
{
    lua_State *L = cl->L;
    int top = lua_gettop(L), rc, status;
    *incomplete = 0;
    /* an expression first, as the stand-alone REPL does */
    lua_pushfstring(L, "return %s;", chunk);
    status = luaL_loadbufferx(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=console", "t");
    lua_remove(L, -2);
    if (status != LUA_OK) {
        lua_pop(L, 1);
        status = luaL_loadbufferx(L, chunk, strlen(chunk), "=console", "t");
        if (status == LUA_ERRSYNTAX && ends_at_eof(lua_tostring(L, -1))) {
            lua_pop(L, 1);
            *incomplete = 1;
            return CL_OK;
        }
        if (status != LUA_OK) {
            ERR_SET(err, status == LUA_ERRMEM ? CL_ERR_NOMEM : CL_ERR_PARSE, "%s",
                    lua_tostring(L, -1));
            lua_settop(L, top);
            return err ? err->code : CL_ERR_PARSE;
        }
    }
    if ((rc = cl_lua_pcall(cl, 0, LUA_MULTRET, err)))
        return rc;
    if (lua_gettop(L) > top) {
        int nres = lua_gettop(L) - top;
        lua_pushcfunction(L, format_values);
        lua_insert(L, top + 1);
        if ((rc = cl_lua_pcall(cl, nres, 1, err))) {
            lua_settop(L, top);
            return rc;
        }
        if (buf_printf(out, "%s", lua_tostring(L, -1))) {
            lua_settop(L, top);
            return ERR_SET(err, CL_ERR_NOMEM, "console: out of memory");
        }
    }
    lua_settop(L, top);
    return CL_OK;
}

void cl_lua_set_source(cl_lua *cl, const char *source)
{
    snprintf(cl->source, sizeof cl->source, "%s", source && *source ? source : "lua");
}

/* the embedded file, or the file on disk */
static int load_chunk(cl_lua *cl, const char *path, cl_err *err)
{
    size_t len = 0;
    const char *text = cl_lua_embedded(path, &len);
    char chunk[600];
    unsigned char *data = NULL;
    int rc;
    if (text) {
        snprintf(chunk, sizeof chunk, "@lua/%s", path);
        return cl_lua_compile(cl->L, text, len, chunk, err);
    }
    if ((rc = read_file(path, &data, &len, err)))
        return rc;
    snprintf(chunk, sizeof chunk, "@%s", path);
    rc = cl_lua_compile(cl->L, (const char *)data, len, chunk, err);
    free(data);
    return rc;
}

int cl_lua_read_strings(cl_lua *cl, const char *path,
                        int (*fn)(void *ud, const char *key, const char *value), void *ud,
                        cl_err *err)
{
    lua_State *L = cl->L;
    int rc, top = lua_gettop(L);
    if ((rc = load_chunk(cl, path, err)))
        return rc;
    if ((rc = cl_lua_pcall(cl, 0, 1, err)))
        return rc;
    if (!lua_istable(L, -1)) {
        lua_settop(L, top);
        return ERR_SET(err, CL_ERR_FORMAT, "%s: expected the file to return a table", path);
    }
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            lua_settop(L, top);
            return ERR_SET(err, CL_ERR_FORMAT, "%s: entry '%s' is not a string", path, k);
        }
        if ((rc = fn(ud, lua_tostring(L, -2), lua_tostring(L, -1)))) {
            lua_settop(L, top);
            return ERR_SET(err, rc, "%s: entry '%s' = '%s' is not understood", path,
                           lua_tostring(L, -2), lua_tostring(L, -1));
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return CL_OK;
}
