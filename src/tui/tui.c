/* tui.c - the workbench screen.
 *
 * One loop: keys, then a slice of the engine's work (about 30 ms), then
 * its events (into the model and the Lua hooks), then a redraw when
 * something changed.  The model is what the panes draw from: the trials
 * (leaderboard), the rewards and controller updates (charts), the log.
 * Every pane draws itself from it into one window; ncurses sends only what
 * changed.  Signal handlers only set flags. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui/tui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "config.h"
#include "core/log.h"
#include "core/util.h"
#include "search/policy.h"
#include "space/genotype.h"
#include "tui/chart.h"
#include "tui/layout.h"
#include "tui/theme.h"
#ifdef HAVE_GRAPHVIZ
#include "render/render.h"
#endif

/* ---- model ---- */

typedef struct row {
    int64_t id;
    trial_state st;
    double reward, acc, flops, seconds;
    int64_t params;
    int reused;
    int stopped;   /* done, stopped early */
    int charted;   /* its reward is in the chart */
    char recipe[17];   /* its recipe's hash, "" before it starts */
    char *geno;
    char *brief;       /* its cells in brief (geno_brief), for a wide leaderboard */
} row;

typedef struct logline {
    char text[1024];   /* drawn wrapped to the pane's width */
    theme_elem elem;
} logline;

enum { OV_NONE, OV_HELP, OV_EDIT, OV_QUIT, OV_TRIAL, OV_POLICY };
enum { SORT_REWARD, SORT_TRIAL, SORT_ACC, SORT_PARAMS, SORT_FLOPS, SORT_SECONDS, SORT_STATE,
       SORT_COUNT };
static const char *const sort_names[SORT_COUNT] = {"reward", "trial", "accuracy", "params",
                                                   "FLOPs",  "seconds", "state"};
enum { CELL_BOTH, CELL_NORMAL, CELL_REDUCE };

#define LOG_MAX 500
#define HIST_MAX 100

typedef struct app {
    cl_engine *e;
    cl_store *st;
    cl_lua *L;
    const experiment *x;
    const tui_opts *o;
    char failure[512];          /* the search stopped on an error */

    tui_theme theme;
    int theme_idx, colour, unicode;
    attr_t at[TH_COUNT];

    int rows_n, cols_n, small;
    rect r[PANE_COUNT];
    int focus;                  /* PANE_BOARD, PANE_CELL or PANE_LOG */
    int dirty;

    row *rows;
    int nrows, caprows;
    int *order;
    int sort, sort_asc;
    int sel;                    /* index into order */
    int board_top;

    double *rx, *ry, *re;       /* reward points and their moving average */
    int nr, capr;
    double ema;
    double *cx, *cent, *cbase;  /* controller updates: at trial, entropy, baseline */
    int nc, capc;

    logline log[LOG_MAX];
    int log_head, log_n, log_scroll;

    int console;
    char input[512];
    int ilen, icur;
    char *hist[HIST_MAX];
    int hn, hpos;
    cl_buf pending;             /* lines of an incomplete chunk */

    int overlay;
    int64_t ov_trial;           /* the trial OV_TRIAL shows */
    int edit_sel, edit_typing;
    char edit_buf[64], edit_msg[200];

    int cell_mode;
#ifdef HAVE_GRAPHVIZ
    render_grid grid;
    int64_t grid_id;
    int grid_rows, grid_cols, grid_mode, grid_ok;
    char grid_err[200];
#endif
    int quit;

    /* watching a search another process runs (e NULL): the journal read
     * again every second */
    long watch_pid;             /* its process; 0 once it has ended */
    double watch_next, watch_first, watch_last;   /* first start, last finish */
    int64_t watch_budget, watch_cmd;
    int watch_paused, watch_loaded;
    int64_t watch_cur;          /* the latest running trial, its epochs done */
    int watch_running, watch_epoch, watch_epochs;
    /* what has been read: the trials from watch_from on may still change
     * (watch_open: the first such of a reading, watch_seen its last
     * trial); the controller's steps to watch_step */
    int64_t watch_from, watch_open, watch_seen, watch_step;
    int watch_changed;          /* a trial new or changed in the last reading */
} app;

static volatile sig_atomic_t got_stop, got_fatal;

static void on_stop(int sig) { got_stop = sig; }

/* a fatal signal: give the terminal back before dying */
static void on_fatal(int sig)
{
    got_fatal = sig;
    endwin();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the log ---- */

static void logf_elem(app *a, theme_elem elem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_elem(app *a, theme_elem elem, const char *fmt, ...)
{
    logline *l = &a->log[(a->log_head + a->log_n) % LOG_MAX];
    va_list ap;
    if (a->log_n == LOG_MAX)
        a->log_head = (a->log_head + 1) % LOG_MAX;
    else
        a->log_n++;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    l->elem = elem;
    a->dirty = 1;
}

static app *sink_app;

static void log_sink(void *ud, log_level level, const char *msg)
{
    app *a = ud;
    logf_elem(a, level >= LOG_ERROR ? TH_LOG_ERROR : level == LOG_WARN ? TH_LOG_WARN : TH_LOG_INFO,
              "%s", msg);
}

/* ---- the model ---- */

static row *row_of(app *a, int64_t id)
{
    /* trials come in id order, from 1: row id - 1, unless some are missing */
    if (id >= 1 && id <= a->nrows && a->rows[id - 1].id == id)
        return &a->rows[id - 1];
    for (int i = a->nrows - 1; i >= 0; i--)
        if (a->rows[i].id == id)
            return &a->rows[i];
    return NULL;
}

static row *add_row(app *a, int64_t id)
{
    row *r = row_of(a, id);
    if (r)
        return r;
    int cap = a->caprows;   /* rows and order grow alike */
    if (cl_grow(&a->rows, sizeof *a->rows, a->nrows + 1, &cap, 64) ||
        (cap = a->caprows, cl_grow(&a->order, sizeof *a->order, a->nrows + 1, &cap, 64)))
        return NULL;
    a->caprows = cap;
    r = &a->rows[a->nrows];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->reward = r->acc = r->flops = r->seconds = NAN;
    a->order[a->nrows] = a->nrows;
    a->nrows++;
    return r;
}

static void set_geno(row *r, const char *g)
{
    cl_genotype cells;
    cl_err err = {0};
    char text[GENO_TEXT_MAX];
    if (g && (!r->geno || strcmp(r->geno, g))) {
        free(r->geno);
        free(r->brief);
        r->geno = strdup(g);
        r->brief = NULL;   /* the screen cuts a long one */
        if (geno_parse(g, &cells, &err) == CL_OK && geno_brief(&cells, text, sizeof text) > 0)
            r->brief = strdup(text);
    }
}

/* append (x, y, z) to three parallel series of n values with room for cap */
static void push3(double **xs, double **ys, double **zs, int *n, int *cap, double x, double y,
                  double z)
{
    int c = *cap, d = *cap, e = *cap;   /* the three grow alike */
    if (cl_grow(xs, sizeof **xs, *n + 1, &c, 128) || cl_grow(ys, sizeof **ys, *n + 1, &d, 128) ||
        cl_grow(zs, sizeof **zs, *n + 1, &e, 128))
        return;
    *cap = c;
    (*xs)[*n] = x;
    (*ys)[*n] = y;
    (*zs)[*n] = z;
    (*n)++;
}

static void add_reward(app *a, int64_t id, double reward)
{
    if (!isfinite(reward))
        return;
    /* the moving average the controller's baseline follows (decay 0.95) */
    a->ema = a->nr ? 0.95 * a->ema + 0.05 * reward : reward;
    push3(&a->rx, &a->ry, &a->re, &a->nr, &a->capr, (double)id, reward, a->ema);
}

static void add_ctrl(app *a, double at, double entropy, double baseline)
{
    push3(&a->cx, &a->cent, &a->cbase, &a->nc, &a->capc, at, entropy, baseline);
}

static int load_trial(void *ud, const store_trial *t)
{
    app *a = ud;
    row *r = add_row(a, t->id);
    if (!r)
        return 1;
    r->st = t->state;
    r->reward = t->reward;
    r->acc = t->accuracy;
    r->params = t->params;
    r->flops = t->flops;
    r->seconds = t->seconds;
    r->reused = t->reused_from != 0;
    r->stopped = t->state == TRIAL_DONE && t->reason;
    snprintf(r->recipe, sizeof r->recipe, "%s", t->hash_recipe);
    set_geno(r, t->genotype);
    if (t->state == TRIAL_DONE && !r->charted) {
        add_reward(a, t->id, t->reward);
        r->charted = 1;
    }
    return 0;
}

static int load_step(void *ud, const store_ctrl_step *s)
{
    app *a = ud;
    const char *last = s->trials ? strrchr(s->trials, ' ') : NULL;
    double at = s->trials ? atof(last ? last + 1 : s->trials) : (double)s->step;
    add_ctrl(a, at, s->entropy, s->reward_ema);
    return 0;
}

/* ---- sorting the leaderboard ---- */

/* The recipe the leaderboard ranks: the newest trial's (rows are in id
 * order), as `cellar show DB` and the engine rank; "" when none started. */
static const char *board_recipe(const app *a)
{
    for (int i = a->nrows - 1; i >= 0; i--)
        if (a->rows[i].recipe[0])
            return a->rows[i].recipe;
    return "";
}

static int ranked(const row *r, const char *recipe)
{
    return r->st == TRIAL_DONE && !strcmp(r->recipe, recipe);
}

static app *sort_app;
static const char *sort_recipe;   /* board_recipe(sort_app) while sorting */

/* a done trial of an earlier recipe: by reward or accuracy it goes after
 * the newest recipe's done trials, whose results it does not compare
 * with, and before the trials without results */
static int older(const row *r)
{
    return r->st == TRIAL_DONE && !ranked(r, sort_recipe);
}

static int cmp_rows(const void *pa, const void *pb)
{
    const app *a = sort_app;
    const row *x = &a->rows[*(const int *)pa], *y = &a->rows[*(const int *)pb];
    double u = 0, v = 0;
    int r;
    switch (a->sort) {
    case SORT_REWARD:
        u = x->reward;
        v = y->reward;
        break;
    case SORT_TRIAL:
        u = (double)x->id;
        v = (double)y->id;
        break;
    case SORT_ACC:
        u = x->acc;
        v = y->acc;
        break;
    case SORT_PARAMS:
        u = (double)x->params;
        v = (double)y->params;
        break;
    case SORT_FLOPS:
        u = x->flops;
        v = y->flops;
        break;
    case SORT_SECONDS:
        u = x->seconds;
        v = y->seconds;
        break;
    case SORT_STATE:
        u = x->st;
        v = y->st;
        break;
    }
    /* unknown values last, whatever the direction */
    if (isnan(u) != isnan(v))
        return isnan(u) ? 1 : -1;
    if ((a->sort == SORT_REWARD || a->sort == SORT_ACC) && older(x) != older(y))
        return older(x) ? 1 : -1;
    r = u < v ? -1 : u > v ? 1 : 0;
    if (!a->sort_asc)
        r = -r;
    return r ? r : (x->id < y->id ? -1 : 1);
}

static void sort_board(app *a)
{
    int64_t keep = a->nrows && a->sel < a->nrows ? a->rows[a->order[a->sel]].id : 0;
    for (int i = 0; i < a->nrows; i++)
        a->order[i] = i;
    if (a->nrows == 0)
        return;   /* order may be NULL yet, and qsort takes no NULL */
    sort_app = a;
    sort_recipe = board_recipe(a);
    qsort(a->order, (size_t)a->nrows, sizeof *a->order, cmp_rows);
    /* the selection stays on its trial */
    for (int i = 0; keep && i < a->nrows; i++)
        if (a->rows[a->order[i]].id == keep)
            a->sel = i;
}

static const row *selected(const app *a)
{
    return a->nrows && a->sel < a->nrows ? &a->rows[a->order[a->sel]] : NULL;
}

/* ---- events ---- */

/* a trial's end and a controller update, as the log says them (from the
 * engine's events, or from the journal while watching) */
static void log_trial_end(app *a, int64_t id, trial_state st, double reward, int reused,
                          int64_t params, double seconds, const char *reason)
{
    char why[300] = "";   /* a done trial's reason: stopped early */
    if (st == TRIAL_DONE && reason && *reason)
        snprintf(why, sizeof why, " (%s)", reason);
    if (st == TRIAL_DONE)
        logf_elem(a, TH_LOG_INFO, "trial %lld: reward %.4f%s%s, %lld params, %.1f s",
                  (long long)id, reward, reused ? " (reused)" : "", why, (long long)params,
                  seconds);
    else
        logf_elem(a, TH_LOG_WARN, "trial %lld failed: %s", (long long)id, reason);
}

static void log_ctrl(app *a, int64_t step, double entropy, double reward_ema)
{
    logf_elem(a, TH_LOG_INFO, "controller update %lld: entropy %.3f, reward average %.4f",
              (long long)step, entropy, reward_ema);
}

static void take_event(app *a, const engine_event *ev)
{
    row *r;
    cl_err err = {0};
    switch (ev->kind) {
    case EV_TRIAL_START:
        if ((r = add_row(a, ev->trial))) {
            r->st = TRIAL_RUNNING;
            snprintf(r->recipe, sizeof r->recipe, "%s", ev->recipe);
            set_geno(r, ev->genotype);
        }
        break;
    case EV_TRIAL_END:
        if ((r = add_row(a, ev->trial))) {
            r->st = ev->tstate;
            r->reward = ev->reward;
            r->acc = ev->accuracy;
            r->params = ev->params;
            r->flops = ev->flops;
            r->seconds = ev->seconds;
            r->reused = ev->reused;
            r->stopped = ev->tstate == TRIAL_DONE && ev->text[0];
            snprintf(r->recipe, sizeof r->recipe, "%s", ev->recipe);
            set_geno(r, ev->genotype);
        }
        if (ev->tstate == TRIAL_DONE) {
            add_reward(a, ev->trial, ev->reward);
            if (r)
                r->charted = 1;
        }
        log_trial_end(a, ev->trial, ev->tstate, ev->reward, ev->reused, ev->params, ev->seconds,
                      ev->text);
        break;
    case EV_CONTROLLER:
        add_ctrl(a, a->nrows ? (double)a->rows[a->nrows - 1].id : 0, ev->entropy, ev->reward_ema);
        log_ctrl(a, ev->step, ev->entropy, ev->reward_ema);
        break;
    case EV_COMMAND:
        logf_elem(a, TH_LOG_COMMAND, "%s", ev->text);
        break;
    case EV_STATE:
        logf_elem(a, TH_LOG_COMMAND, "search %s", engine_state_names[ev->state]);
        break;
    case EV_LOG:
        logf_elem(a, TH_LOG_WARN, "%s", ev->text);
        break;
    case EV_EPOCH:
        break;
    }
    if (cl_lua_dispatch(a->L, ev, &err))
        logf_elem(a, TH_LOG_ERROR, "hook: %s", err.msg);
    a->dirty = 1;
}

/* ---- watching a search another process runs ---- */

static int is_final(trial_state st) { return st == TRIAL_DONE || st == TRIAL_FAILED; }

/* a trial read again (one not finished when last read, or a new one): its
 * line in the log when it has finished since */
static int watch_trial(void *ud, const store_trial *t)
{
    app *a = ud;
    row *r = row_of(a, t->id);
    trial_state was = r ? r->st : TRIAL_PENDING;
    if (load_trial(a, t))
        return 1;
    if (!r || was != t->state)
        a->watch_changed = 1;
    if (isfinite(t->started) && (a->watch_first == 0 || t->started < a->watch_first))
        a->watch_first = t->started;
    if (isfinite(t->finished) && t->finished > a->watch_last)
        a->watch_last = t->finished;
    /* where the next reading starts: the first trial that may still change */
    if (!is_final(t->state) && !a->watch_open)
        a->watch_open = t->id;
    a->watch_seen = t->id;
    if (t->state == TRIAL_RUNNING) {
        a->watch_running++;
        a->watch_cur = t->id;
        a->watch_epochs = recipe_epochs(t->recipe);
    }
    if (a->watch_loaded && was != t->state && is_final(t->state))
        log_trial_end(a, t->id, t->state, t->reward, t->reused_from != 0, t->params, t->seconds,
                      t->reason ? t->reason : t->state == TRIAL_FAILED ? "?" : "");
    return 0;
}

/* a controller update not read before */
static int watch_step(void *ud, const store_ctrl_step *c)
{
    app *a = ud;
    a->watch_step = c->step;
    load_step(a, c);
    if (a->watch_loaded)
        log_ctrl(a, c->step, c->entropy, c->reward_ema);
    return 0;
}

/* a command not read before: the budget it sets, whether the search is
 * paused, and its line in the log */
static int watch_command(void *ud, const store_command *c)
{
    app *a = ud;
    a->watch_cmd = c->id;
    if (!strcmp(c->name, "set budget") && c->new_value)
        a->watch_budget = atoll(c->new_value);
    else if (!strcmp(c->name, "pause") || !strcmp(c->name, "resume"))
        a->watch_paused = !strcmp(c->name, "pause");
    if (a->watch_loaded) {
        char text[256];
        engine_command_text(text, sizeof text, c->name, c->old_value, c->new_value, c->source);
        logf_elem(a, TH_LOG_COMMAND, "%s", text);
    }
    return 0;
}

/* the journal read again, what may have changed only (the commands and
 * controller updates after those read, the trials from the first one not
 * finished when last read), and whether its search still runs */
static void watch_read(app *a)
{
    cl_err err = {0};
    long pid;
    a->watch_running = a->watch_epoch = 0;
    a->watch_cur = a->watch_open = 0;
    a->watch_changed = 0;
    if (store_command_each(a->st, a->watch_cmd, watch_command, a, &err) ||
        store_trial_each_from(a->st, a->watch_from, watch_trial, a, &err) ||
        (a->watch_cur && store_metric_last_epoch(a->st, a->watch_cur, &a->watch_epoch, &err)) ||
        store_ctrl_step_each(a->st, a->watch_step, watch_step, a, &err)) {
        logf_elem(a, TH_LOG_ERROR, "reading the journal: %s", err.msg);
        a->watch_next = cl_now() + 5.0;
        return;
    }
    a->watch_from = a->watch_open ? a->watch_open : a->watch_seen + 1;
    pid = store_search_pid(a->st);
    if (a->watch_pid && pid <= 0 && a->watch_loaded)
        logf_elem(a, TH_LOG_COMMAND, "the search (cellar process %ld) has ended", a->watch_pid);
    a->watch_pid = pid > 0 ? pid : 0;
    a->watch_loaded = 1;
    a->watch_next = cl_now() + 1.0;
    if (a->watch_changed)
        sort_board(a);
    a->dirty = 1;
}

/* what the status line shows: the engine's, or, watching, the journal's */
static void get_status(const app *a, engine_status *s)
{
    const char *recipe;
    if (a->e) {
        engine_get_status(a->e, s);
        return;
    }
    memset(s, 0, sizeof *s);
    s->budget = a->watch_budget;
    recipe = board_recipe(a);
    for (int i = 0; i < a->nrows; i++) {
        const row *r = &a->rows[i];
        s->done += r->st == TRIAL_DONE;
        s->failed += r->st == TRIAL_FAILED;
        if (!ranked(r, recipe))
            continue;
        s->ranked++;
        if (isfinite(r->reward) && (!s->best_trial || r->reward > s->best_reward)) {
            s->best_trial = r->id;
            s->best_reward = r->reward;
        }
    }
    s->state = a->watch_pid ? (a->watch_paused ? ENGINE_PAUSED : ENGINE_RUNNING)
               : s->done + s->failed >= s->budget ? ENGINE_DONE
                                                   : ENGINE_STOPPED;
    if (a->watch_first > 0 && s->done + s->failed > 0) {
        /* up to now while it runs, else up to its last trial */
        double span = (a->watch_pid ? (double)time(NULL) : a->watch_last) - a->watch_first;
        s->trials_per_hour = span > 0 ? (double)(s->done + s->failed) / span * 3600.0 : 0;
    }
}

/* a key that would steer the search, while watching: said why not */
static int watching(app *a)
{
    if (a->e)
        return 0;
    if (a->watch_pid)
        logf_elem(a, TH_LOG_WARN, "watching the search of cellar process %ld: steer it there "
                  "(its screen, or cellar.* in its hooks)", a->watch_pid);
    else
        logf_elem(a, TH_LOG_WARN, "watching a journal no search runs on: quit, then 'cellar "
                  "resume %s' continues it", a->o->db_path);
    return 1;
}

/* ---- colours ---- */

static void apply_theme(app *a)
{
    for (int i = 0; i < TH_COUNT; i++) {
        const theme_style *s = &a->theme.s[i];
        attr_t at = 0;
        if (s->attrs & THA_BOLD)
            at |= A_BOLD;
        if (s->attrs & THA_UNDERLINE)
            at |= A_UNDERLINE;
        if (s->attrs & THA_REVERSE)
            at |= A_REVERSE;
        if (s->attrs & THA_DIM)
            at |= A_DIM;
        if (a->colour) {
            short fg = s->fg, bg = s->bg;
            /* a bright colour on an 8-colour terminal: the base colour, bold */
            if (fg >= COLORS) {
                fg = (short)(fg % 8);
                at |= A_BOLD;
            }
            if (bg >= COLORS)
                bg = (short)(bg % 8);
            init_pair((short)(i + 1), fg, bg);
            at |= COLOR_PAIR(i + 1);
        }
        a->at[i] = at;
    }
    a->dirty = 1;
}

static void set_theme(app *a, const char *name)
{
    cl_err err = {0};
    tui_theme t;
    if (!a->colour) {
        theme_monochrome(&a->theme);
    } else if (theme_load(a->L, name, &t, &err)) {
        logf_elem(a, TH_LOG_ERROR, "%s", err.msg);
        return;
    } else {
        a->theme = t;
    }
    apply_theme(a);
}

/* ---- drawing ---- */

static void put(app *a, int y, int x, theme_elem el, const char *s, int max)
{
    if (max <= 0)
        return;
    attron(a->at[el]);
    mvaddnstr(y, x, s, max);
    attroff(a->at[el]);
}

static void frame(app *a, pane_id p, const char *title)
{
    rect r = a->r[p];
    theme_elem el = a->focus == (int)p && !a->console ? TH_FOCUS : TH_BORDER;
    if (p == PANE_LOG && a->console)
        el = TH_FOCUS;
    attron(a->at[el]);
    mvhline(r.y, r.x + 1, ACS_HLINE, r.w - 2);
    mvhline(r.y + r.h - 1, r.x + 1, ACS_HLINE, r.w - 2);
    mvvline(r.y + 1, r.x, ACS_VLINE, r.h - 2);
    mvvline(r.y + 1, r.x + r.w - 1, ACS_VLINE, r.h - 2);
    mvaddch(r.y, r.x, ACS_ULCORNER);
    mvaddch(r.y, r.x + r.w - 1, ACS_URCORNER);
    mvaddch(r.y + r.h - 1, r.x, ACS_LLCORNER);
    mvaddch(r.y + r.h - 1, r.x + r.w - 1, ACS_LRCORNER);
    attroff(a->at[el]);
    if (title) {
        char t[160];
        snprintf(t, sizeof t, " %s ", title);
        put(a, r.y, r.x + 2, a->focus == (int)p ? TH_FOCUS : TH_TITLE, t, r.w - 4);
    }
}

static void draw_status(app *a)
{
    engine_status s;
    char line[512], best[64] = "-", left[32] = "?";
    rect r = a->r[PANE_STATUS];
    get_status(a, &s);
    if (s.best_trial)
        snprintf(best, sizeof best, "%.4f (#%lld)", s.best_reward, (long long)s.best_trial);
    if (s.trials_per_hour > 0)
        format_duration((double)(s.budget - s.done - s.failed) / s.trials_per_hour * 3600.0, left,
                        sizeof left);
    snprintf(line, sizeof line, " %s | %s | %s | %lld/%lld trials%s | best %s | %.0f trials/h | "
             "left %s",
             a->x->name, a->x->strategy, a->failure[0] ? "error" : engine_state_names[s.state],
             (long long)(s.done + s.failed), (long long)s.budget,
             s.failed ? " (some failed)" : "", best, s.trials_per_hour, left);
    attron(a->at[TH_STATUS]);
    mvhline(r.y, 0, ' ', r.w);
    attroff(a->at[TH_STATUS]);
    put(a, r.y, 0, TH_STATUS, line, r.w);
    if ((!a->e || s.current_trial) && r.w > 40) {   /* on the right: what is in hand */
        char cur[128];
        if (!a->e && a->watch_pid) {
            int n = snprintf(cur, sizeof cur, "watching cellar process %ld", a->watch_pid);
            /* the journal has each epoch as it ends: the one under way,
             * where the line has room for it */
            if (a->watch_cur && a->watch_epochs > 0)
                snprintf(cur + n, sizeof cur - (size_t)n, ": trial %lld%s, epoch %d/%d",
                         (long long)a->watch_cur, a->watch_running > 1 ? " (and others)" : "",
                         a->watch_epoch < a->watch_epochs ? a->watch_epoch + 1 : a->watch_epochs,
                         a->watch_epochs);
            if ((int)(strlen(line) + strlen(cur)) >= r.w)
                cur[n] = 0;
            strcat(cur, " ");
        } else if (!a->e)
            snprintf(cur, sizeof cur, "watching the journal ");
        else
            snprintf(cur, sizeof cur, "trial %lld%s: epoch %d/%d, step %ld/%ld ",
                     (long long)s.current_trial, s.running > 1 ? " (and others)" : "",
                     s.epoch < s.epochs ? s.epoch + 1 : s.epochs, s.epochs, s.step,
                     s.steps_total);
        if ((int)(strlen(line) + strlen(cur)) < r.w)
            put(a, r.y, r.w - (int)strlen(cur), TH_STATUS, cur, (int)strlen(cur));
    }
}

static void draw_hint(app *a)
{
    rect r = a->r[PANE_HINT];
    const char *h = a->console
                        ? " Enter run   Up/Down history   Esc leave the console   (multi-line: "
                          "an unfinished chunk continues on the next line)"
                    : !a->e ? " watching: r render  t theme  Tab focus  : console  ? help  q quit"
                            : " p pause/resume  n step  e edit  r render  t theme  Tab focus  "
                              ": console  ? help  q quit";
    attron(a->at[TH_HINT]);
    mvhline(r.y, 0, ' ', r.w);
    attroff(a->at[TH_HINT]);
    put(a, r.y, 0, TH_HINT, h, r.w);
}

static void draw_charts(app *a)
{
    rect e = a->r[PANE_ENTROPY], w = a->r[PANE_REWARD];
    double xmax = (double)(a->x->budget > 1 ? a->x->budget : 2);
    char latest[64];
    chart_spec spec;
    chart_series s[2];
    engine_status st;
    get_status(a, &st);
    if (st.budget > 1)
        xmax = (double)st.budget;

    memset(&spec, 0, sizeof spec);
    spec.xmin = 1;
    spec.xmax = xmax;
    spec.unicode = a->unicode;
    spec.title_attr = a->at[TH_TITLE];
    spec.axis_attr = a->at[TH_AXIS];

    spec.yfmt = NULL;
    if (a->nc)
        snprintf(latest, sizeof latest, "policy entropy: %.3f", a->cent[a->nc - 1]);
    frame(a, PANE_ENTROPY, a->nc ? latest : "policy entropy");
    spec.empty = strcmp(a->x->strategy, "ppo") && strcmp(a->x->strategy, "reinforce")
                     ? "no controller: this strategy has no policy entropy"
                     : "waiting for the first controller update";
    s[0] = (chart_series){a->cx, a->cent, a->nc, 0, a->at[TH_LINE]};
    chart_draw(stdscr, e.y + 1, e.x + 1, e.h - 2, e.w - 2, &spec, s, 1);

    spec.yfmt = NULL;
    if (a->nr)
        snprintf(latest, sizeof latest, "reward: %.4f, average %.4f", a->ry[a->nr - 1],
                 a->re[a->nr - 1]);
    frame(a, PANE_REWARD, a->nr ? latest : "reward (points) and its average (line)");
    spec.empty = "waiting for the first trial";
    s[0] = (chart_series){a->rx, a->ry, a->nr, 1, a->at[TH_POINTS]};
    s[1] = (chart_series){a->rx, a->re, a->nr, 0, a->at[TH_LINE]};
    chart_draw(stdscr, w.y + 1, w.x + 1, w.h - 2, w.w - 2, &spec, s, 2);
}

static void fmt_num(char *out, size_t cap, double v, const char *fmt)
{
    if (isfinite(v))
        snprintf(out, cap, fmt, v);
    else
        snprintf(out, cap, "-");
}

/* by reward down, then trial up: the order of ranks */
static int cmp_rank(const void *pa, const void *pb)
{
    const row *x = &sort_app->rows[*(const int *)pa], *y = &sort_app->rows[*(const int *)pb];
    int xn = isnan(x->reward), yn = isnan(y->reward);   /* none should be: last if so */
    if (xn != yn)
        return xn - yn;
    if (!xn && x->reward != y->reward)
        return x->reward > y->reward ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* each row's rank, its place by reward among the done trials of the
 * leaderboard's recipe whatever the sort (0: not ranked); *nranked: how
 * many are ranked, *unranked: the done trials of another recipe.  NULL
 * when out of memory.  The caller frees. */
static int *rank_rows(app *a, int *nranked, int *unranked)
{
    const char *recipe = board_recipe(a);
    int *rank = calloc((size_t)(a->nrows ? a->nrows : 1), sizeof *rank);
    int *done = malloc((size_t)(a->nrows ? a->nrows : 1) * sizeof *done), n = 0;
    if (!rank || !done) {
        free(rank);
        free(done);
        return NULL;
    }
    *unranked = 0;
    for (int i = 0; i < a->nrows; i++) {
        if (ranked(&a->rows[i], recipe))
            done[n++] = i;
        else
            *unranked += a->rows[i].st == TRIAL_DONE;
    }
    *nranked = n;
    sort_app = a;
    qsort(done, (size_t)n, sizeof *done, cmp_rank);
    for (int k = 0; k < n; k++)
        rank[done[k]] = k + 1;
    free(done);
    return rank;
}

static void draw_board(app *a)
{
    rect r = a->r[PANE_BOARD];
    /* wide: MFLOPs and seconds; wider: the cells in brief after them */
    int h = r.h - 3, wide = r.w >= 64, cells = r.w - 2 >= 58 + 1 + 20;
    char title[128], head[160], line[512];
    int *rank, nranked = 0, unranked = 0;
    if (a->sel >= a->nrows)
        a->sel = a->nrows ? a->nrows - 1 : 0;
    if (a->sel < a->board_top)
        a->board_top = a->sel;
    if (a->sel >= a->board_top + h)
        a->board_top = a->sel - h + 1;
    rank = rank_rows(a, &nranked, &unranked);
    snprintf(title, sizeof title, "leaderboard: %d trial%s, by %s %s", a->nrows,
             a->nrows == 1 ? "" : "s", sort_names[a->sort], a->sort_asc ? "up" : "down");
    if (unranked)   /* ranked with "-": they do not compare */
        snprintf(title + strlen(title), sizeof title - strlen(title),
                 ", %d unranked (older recipe)", unranked);
    frame(a, PANE_BOARD, title);
    if (wide)
        snprintf(head, sizeof head, "%4s %5s %7s %7s %8s %7s %6s %-7s%s", "rank", "trial",
                 "reward", "acc", "params", "MFLOPs", "secs", "state",
                 cells ? " cells: normal / reduction" : "");
    else
        snprintf(head, sizeof head, "%4s %5s %7s %7s %8s %-7s", "rank", "trial", "reward", "acc",
                 "params", "state");
    put(a, r.y + 1, r.x + 1, TH_TITLE, head, r.w - 2);
    for (int k = 0; k < h && a->board_top + k < a->nrows; k++) {
        int idx = a->order[a->board_top + k];
        const row *w = &a->rows[idx];
        char rk[8] = "", rw[16], ac[16], fl[16], sec[16], pa[24] = "-";
        const char *state;
        theme_elem el = w->st == TRIAL_FAILED ? TH_BAD : w->st == TRIAL_RUNNING ? TH_DIM : TH_TEXT;
        if (rank && rank[idx])
            snprintf(rk, sizeof rk, "%d", rank[idx]);
        else if (rank && w->st == TRIAL_DONE) {   /* of an earlier recipe */
            snprintf(rk, sizeof rk, "-");
            el = TH_DIM;
        }
        fmt_num(rw, sizeof rw, w->reward, "%.4f");
        fmt_num(ac, sizeof ac, w->acc, "%.4f");
        fmt_num(fl, sizeof fl, w->flops / 1e6, "%.1f");
        fmt_num(sec, sizeof sec, w->seconds, "%.1f");
        if (w->params > 0)   /* a running trial's size comes with its end */
            snprintf(pa, sizeof pa, "%lld", (long long)w->params);
        state = w->stopped ? "stopped" : trial_state_name(w->st);
        if (wide)
            snprintf(line, sizeof line, "%4s %5lld %7s %7s %8s %7s %6s %-7s %s", rk,
                     (long long)w->id, rw, ac, pa, fl, sec, state,
                     cells && w->brief ? w->brief : "");
        else
            snprintf(line, sizeof line, "%4s %5lld %7s %7s %8s %-7s", rk, (long long)w->id, rw,
                     ac, pa, state);
        if (a->board_top + k == a->sel) {
            attron(a->at[TH_SELECTED]);
            mvhline(r.y + 2 + k, r.x + 1, ' ', r.w - 2);
            attroff(a->at[TH_SELECTED]);
            el = TH_SELECTED;
        }
        put(a, r.y + 2 + k, r.x + 1, el, line, r.w - 2);
    }
    free(rank);
    if (!a->nrows)
        put(a, r.y + 3, r.x + 2, TH_DIM, "no trial yet", r.w - 4);
}

#ifdef HAVE_GRAPHVIZ
static theme_elem kind_elem(int kind)
{
    switch (kind) {
    case RK_EDGE:
        return TH_CELL_EDGE;
    case RK_INPUT:
        return TH_CELL_INPUT;
    case RK_OP:
        return TH_CELL_OP;
    case RK_COMBINER:
        return TH_CELL_COMBINER;
    case RK_OUTPUT:
        return TH_CELL_OUTPUT;
    case RK_TITLE:
        return TH_CELL_TITLE;
    }
    return TH_TEXT;
}
#endif

static void draw_cell(app *a)
{
    rect r = a->r[PANE_CELL];
    const row *w = selected(a);
    char title[120];
    static const char *const modes[] = {"both cells", "normal cell", "reduction cell"};
    if (w)
        snprintf(title, sizeof title, "trial %lld: %s (Up/Down)", (long long)w->id,
                 modes[a->cell_mode]);
    else
        snprintf(title, sizeof title, "cells");
    frame(a, PANE_CELL, title);
    if (!w || !w->geno) {
        put(a, r.y + 2, r.x + 2, TH_DIM, "select a trial in the leaderboard", r.w - 4);
        return;
    }
#ifdef HAVE_GRAPHVIZ
    {
        int gr = r.h - 2, gc = r.w - 2;
        if (!a->grid_ok || a->grid_id != w->id || a->grid_rows != gr || a->grid_cols != gc ||
            a->grid_mode != a->cell_mode) {
            cl_genotype g;
            cl_err err = {0};
            render_grid_free(&a->grid);
            memset(&a->grid, 0, sizeof a->grid);
            a->grid_ok = 0;
            a->grid_err[0] = '\0';
            if (geno_parse(w->geno, &g, &err) || render_grid_new(&a->grid, gr, gc, &err)) {
                snprintf(a->grid_err, sizeof a->grid_err, "%.190s", err.msg);
            } else if (a->cell_mode == CELL_BOTH) {
                if (render_genotype_grid(&a->grid, &g, a->unicode, &err))
                    snprintf(a->grid_err, sizeof a->grid_err, "%.190s", err.msg);
            } else {
                render_layout l;
                memset(&l, 0, sizeof l);
                if (render_cell_layout(a->cell_mode == CELL_NORMAL ? &g.normal : &g.reduce,
                                       a->cell_mode == CELL_REDUCE, &l, &err))
                    snprintf(a->grid_err, sizeof a->grid_err, "%.190s", err.msg);
                else
                    render_draw(&a->grid, &l, 0, 0, gr, gc, a->unicode);
                render_layout_free(&l);
            }
            a->grid_id = w->id;
            a->grid_rows = gr;
            a->grid_cols = gc;
            a->grid_mode = a->cell_mode;
            a->grid_ok = 1;
        }
        if (a->grid_err[0]) {
            put(a, r.y + 2, r.x + 2, TH_BAD, a->grid_err, r.w - 4);
            return;
        }
        for (int y = 0; y < a->grid.rows; y++)
            for (int x = 0; x < a->grid.cols; x++) {
                int i = y * a->grid.cols + x;
                uint32_t ch = a->grid.ch[i];
                if (ch == ' ' || !ch)
                    continue;
                attron(a->at[kind_elem(a->grid.kind[i])]);
                if (ch < 128) {
                    mvaddch(r.y + 1 + y, r.x + 1 + x, (chtype)ch);
                } else {
                    wchar_t s[2] = {(wchar_t)ch, 0};
                    mvaddwstr(r.y + 1 + y, r.x + 1 + x, s);
                }
                attroff(a->at[kind_elem(a->grid.kind[i])]);
            }
    }
#else
    put(a, r.y + 2, r.x + 2, TH_DIM, "drawing cells needs Graphviz (libgraphviz-dev)", r.w - 4);
#endif
}

/* s past its first n characters (UTF-8 code points; one column each) */
static const char *skip_chars(const char *s, int n)
{
    for (; *s && n > 0; n--)
        for (s++; (*s & 0xc0) == 0x80; s++)
            ;
    return s;
}

/* the rows line l takes wrapped to w columns */
static int rows_of(const logline *l, int w)
{
    int n = 0;
    for (const char *s = l->text; *s; s++)
        n += (*s & 0xc0) != 0x80;
    return n > w ? (n + w - 1) / w : 1;
}

static void draw_log(app *a)
{
    rect r = a->r[PANE_LOG];
    int h = r.h - 2 - (a->console ? 1 : 0), w = r.w - 2, row = h, idx, top = 0, above = 0;
    frame(a, PANE_LOG, a->console ? "log + Lua console" : "log");
    if (w < 1)
        return;
    /* scrolled (in lines) at most so far that the first line is at the top */
    while (top < a->log_n && above < h)
        above += rows_of(&a->log[(a->log_head + top++) % LOG_MAX], w);
    if (a->log_scroll > a->log_n - top)
        a->log_scroll = a->log_n - top;
    if (above < h)
        row = above;   /* fewer than fill the pane: from the top down, as ever */
    /* from the bottom up, each line wrapped (a line taller than what is
     * left shows its end) */
    for (idx = a->log_n - 1 - a->log_scroll; idx >= 0 && row > 0; idx--) {
        const logline *l = &a->log[(a->log_head + idx) % LOG_MAX];
        for (int k = rows_of(l, w) - 1; k >= 0 && row > 0; k--) {
            const char *p = skip_chars(l->text, k * w);
            row--;
            put(a, r.y + 1 + row, r.x + 1, l->elem, p, (int)(skip_chars(p, w) - p));
        }
    }
    if (a->console) {
        const char *prompt = a->pending.len ? "  >> " : "lua> ";
        int room = r.w - 2 - 5, start = a->icur > room - 1 ? a->icur - room + 1 : 0;
        int y = r.y + r.h - 2;
        put(a, y, r.x + 1, TH_PROMPT, prompt, 5);
        put(a, y, r.x + 6, TH_TEXT, a->input + start, room);
        move(y, r.x + 6 + a->icur - start);
    }
}

/* a blank box in the middle, at most the screen less a margin: *h and *w
 * come back as they fit */
static void center_box(app *a, int *h, int *w, int *top, int *left)
{
    if (*h > a->rows_n - 2)
        *h = a->rows_n - 2;
    if (*w > a->cols_n - 2)
        *w = a->cols_n - 2;
    *top = (a->rows_n - *h) / 2;
    *left = (a->cols_n - *w) / 2;
    attron(a->at[TH_OVERLAY]);
    for (int y = 0; y < *h; y++)
        mvhline(*top + y, *left, ' ', *w);
    attroff(a->at[TH_OVERLAY]);
}

const tui_key tui_keys[] = {
    {"p", "pause the search, or resume it"},
    {"n", "while paused: run one more trial, then pause again"},
    {"e", "edit a setting: controller learning rate, entropy weight, temperature, child epochs, "
          "child learning rate, drop-path, budget, ..."},
    {"Enter", "the selected trial's record and its epochs, read from the journal"},
    {"c", "the controller: its most likely cell, each decision's likeliest choice and how sure"},
    {"x", "stop the selected running trial early: at its epoch's end, validated as it stands"},
    {"r", "render the selected trial's cells to DB-trial-N.svg and .png"},
    {"t", "next colour theme (default, light, high-contrast, monochrome)"},
    {"Tab", "move the focus: leaderboard, cells, log"},
    {"Up Down", "leaderboard: select a trial; cells: both, normal, reduction; log: scroll"},
    {"PgUp PgDn", "page through the focused pane"},
    {"Home End", "leaderboard: first, last trial"},
    {"s  S", "leaderboard: sort by the next column; reverse the order"},
    {":", "the Lua console (the cellar module, live calls, cellar.render; help() lists them; "
          "Esc leaves)"},
    {"?", "this help"},
    {"q", "quit (asks while the search runs; it resumes with cellar resume)"},
    {NULL, NULL},
};

static void draw_help(app *a)
{
    int n = 0, top, left, w = 96, h;
    while (tui_keys[n].key)
        n++;
    h = n + 4;
    center_box(a, &h, &w, &top, &left);
    put(a, top, left + 2, TH_OVERLAY, "keys (any key closes this)", w - 4);
    for (int i = 0; i < n && 2 + i < h; i++) {
        char line[200];
        snprintf(line, sizeof line, "%-10s %s", tui_keys[i].key, tui_keys[i].help);
        put(a, top + 2 + i, left + 2, TH_OVERLAY, line, w - 4);
    }
}

static int n_settings(void)
{
    int n = 0;
    while (engine_settings[n].name)
        n++;
    return n;
}

static void draw_edit(app *a)
{
    int n = n_settings(), top, left, w = 96, h = n + 6;
    center_box(a, &h, &w, &top, &left);
    put(a, top, left + 2, TH_OVERLAY,
        a->edit_typing ? "new value, Enter to set, Esc to cancel"
                       : "settings: Up/Down to choose, Enter to change, Esc to close",
        w - 4);
    for (int i = 0; i < n && 2 + i < h - 1; i++) {
        char line[200], val[32] = "-";
        double v;
        cl_err err = {0};
        if (engine_get(a->e, engine_settings[i].name, &v, &err) == CL_OK)
            snprintf(val, sizeof val, "%.6g", v);
        if (a->edit_typing && i == a->edit_sel)
            snprintf(val, sizeof val, "%.30s_", a->edit_buf);
        snprintf(line, sizeof line, "%-20s %-12s %s", engine_settings[i].name, val,
                 engine_settings[i].about);
        put(a, top + 2 + i, left + 2, i == a->edit_sel ? TH_SELECTED : TH_OVERLAY, line, w - 4);
    }
    if (n + 3 < h)
        put(a, top + n + 3, left + 2, TH_OVERLAY, a->edit_msg, w - 4);
}

static void draw_quit(app *a)
{
    int top, left, w = 72, h = 5;
    char line[300];
    center_box(a, &h, &w, &top, &left);
    put(a, top + 1, left + 2, TH_OVERLAY, "The search is running. Stop it and quit? (y/n)", w - 4);
    snprintf(line, sizeof line, "It continues with: cellar resume %s", a->o->db_path);
    put(a, top + 3, left + 2, TH_OVERLAY, line, w - 4);
}

/* ---- the selected trial's record and epochs (Enter) ---- */

typedef struct epochs_read {
    store_metric *m;
    int n, cap;
} epochs_read;

static int keep_metric(void *ud, const store_metric *m)
{
    epochs_read *r = ud;
    if (cl_grow(&r->m, sizeof *r->m, r->n + 1, &r->cap, 32))
        return 1;
    r->m[r->n++] = *m;
    return 0;
}

/* text over up to `lines` rows of width w from row y, broken at spaces
 * where it can be (the last row cut); the row after */
static int put_wrapped(app *a, int y, int x, int w, const char *text, int lines)
{
    const char *s = text;
    for (int n = 0; *s && n < lines && w > 0; n++) {
        int len = (int)strlen(s), take = len;
        if (len > w && n + 1 < lines) {
            take = w;
            while (take > w / 2 && s[take] != ' ')
                take--;
            if (s[take] != ' ')
                take = w;
        }
        put(a, y++, x, TH_OVERLAY, s, take < w ? take : w);
        s += take;
        while (*s == ' ')
            s++;
    }
    return y;
}

/* the lines of a trial's trainings again (cellar train DB), newest last */
typedef struct trainings_read {
    char line[3][400];
    int n;
} trainings_read;

static int keep_training(void *ud, const store_training *t)
{
    trainings_read *r = ud;
    char text[360];
    if (r->n == 3) {   /* the newest three */
        memmove(r->line[0], r->line[1], sizeof r->line[0] * 2);
        r->n = 2;
    }
    store_training_text(t, text, sizeof text);
    snprintf(r->line[r->n++], sizeof r->line[0], "trained again (training %lld): %s",
             (long long)t->id, text);
    return 0;
}

/* read from the journal at each drawing, so a running trial's epochs
 * appear as they end */
static void draw_trial(app *a)
{
    int top, left, w = 110, h = a->rows_n - 4, y, room;
    store_trial t;
    epochs_read er = {0};
    trainings_read tr = {{""}, 0};
    cl_err err = {0};
    char line[1200];
    center_box(a, &h, &w, &top, &left);
    y = top + 1;
    if (store_trial_get(a->st, a->ov_trial, &t, &err) ||
        store_metric_each(a->st, a->ov_trial, keep_metric, &er, &err) ||
        store_training_each(a->st, a->ov_trial, keep_training, &tr, &err)) {
        put(a, y, left + 2, TH_OVERLAY, err.msg[0] ? err.msg : "out of memory", w - 4);
        free(er.m);
        store_trial_clear(&t);
        return;
    }
    snprintf(line, sizeof line, "trial %lld: %s", (long long)t.id, trial_state_name(t.state));
    if (t.state == TRIAL_DONE) {   /* its place on the leaderboard, as show DB --trial says */
        const row *r = row_of(a, t.id);
        int n = 0, unranked = 0, *rank = rank_rows(a, &n, &unranked);
        if (rank && r && rank[r - a->rows])
            snprintf(line + strlen(line), sizeof line - strlen(line), ", rank %d of %d%s",
                     rank[r - a->rows], n, rank[r - a->rows] == 1 ? " (the best)" : "");
        else if (rank && r)
            snprintf(line + strlen(line), sizeof line - strlen(line),
                     ", not ranked (an earlier recipe)");
        free(rank);
    }
    put(a, y, left + 2, TH_OVERLAY, line, w - 4);
    put(a, y, left + w - 20, TH_OVERLAY, "any key closes this", 19);
    y += 2;
    if (isfinite(t.reward)) {
        snprintf(line, sizeof line, "reward %.4f, accuracy %.4f%s", t.reward, t.accuracy,
                 t.reused_from ? "" : " on the held-out images");
        if (t.reused_from)
            snprintf(line + strlen(line), sizeof line - strlen(line),
                     " (the result of trial %lld, reused)", (long long)t.reused_from);
        put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    }
    if (t.reason) {
        snprintf(line, sizeof line, "%s%s", t.state == TRIAL_FAILED ? "failed: " : "", t.reason);
        put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    }
    if (t.params) {
        snprintf(line, sizeof line, "%lld parameters, %.2f MFLOPs per image, %.1f s training "
                 "and validation", (long long)t.params, t.flops / 1e6, t.seconds);
        put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    }
    snprintf(line, sizeof line, "genotype: %s", t.genotype ? t.genotype : "?");
    y = put_wrapped(a, y, left + 2, w - 4, line, 4);
    snprintf(line, sizeof line, "recipe: %s", t.recipe ? t.recipe : "?");
    put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    for (int i = 0; i < tr.n; i++)
        y = put_wrapped(a, y, left + 2, w - 4, tr.line[i], 2);
    y++;
    room = top + h - 1 - y - 1;   /* rows for epochs, below their heading */
    if (!er.n) {
        put(a, y, left + 2, TH_OVERLAY,
            t.state == TRIAL_RUNNING ? "no epoch finished yet" : "no epochs in the journal",
            w - 4);
    } else if (room > 0) {
        int first = er.n > room ? er.n - room + (room > 1) : 0;
        put(a, y++, left + 2, TH_OVERLAY, STORE_METRIC_HEAD, w - 4);
        if (first) {
            snprintf(line, sizeof line, "(epochs 1-%d above)", first);
            put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
        }
        for (int i = first; i < er.n && y < top + h - 1; i++) {
            store_metric_text(&er.m[i], line, sizeof line);
            put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
        }
    }
    free(er.m);
    store_trial_clear(&t);
}

/* ---- where the controller stands (c) ---- */

/* the journal's last controller update, read at each drawing */
static void draw_policy(app *a)
{
    int top, left, w = 112, h = a->rows_n - 4, y;
    policy *p = malloc(sizeof *p);
    cl_err err = {0};
    char line[GENO_TEXT_MAX + 64], name[32];
    const char *reduce;
    center_box(a, &h, &w, &top, &left);
    y = top + 1;
    put(a, y, left + w - 20, TH_OVERLAY, "any key closes this", 19);
    if (!p || policy_read(a->st, 0, p, &err)) {
        put(a, y, left + 2, TH_OVERLAY, p ? "the controller:" : "out of memory", w - 24);
        if (p)
            put_wrapped(a, y + 2, left + 2, w - 4, err.msg, 4);
        free(p);
        return;
    }
    snprintf(line, sizeof line, "the controller after update %lld (trials %s): entropy %.3f, "
             "reward average %.4f", (long long)p->step, p->trials, p->entropy, p->reward_ema);
    put(a, y, left + 2, TH_OVERLAY, line, w - 24);
    y += 2;
    put(a, y++, left + 2, TH_OVERLAY, "its most likely cell:", w - 4);
    snprintf(line, sizeof line, "%.*s", geno_text_halves(p->genotype, &reduce), p->genotype);
    y = put_wrapped(a, y, left + 4, w - 6, line, 2);
    y = put_wrapped(a, y, left + 4, w - 6, reduce, 2);
    snprintf(line, sizeof line, "decisions settled (the likeliest choice at p >= %.2f, marked "
             "*): %d of %d", POLICY_SETTLED, policy_settled(p), p->n);
    put(a, ++y, left + 2, TH_OVERLAY, line, w - 4);
    y += 2;
    snprintf(line, sizeof line, "%-9s %-17s%-17s%-22s%-22s%s", "block", "input 1", "input 2",
             "op 1", "op 2", "combiner");
    put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    for (int b = 0; b + 4 < p->n && y < top + h - 1; b += 5) {
        int n = snprintf(line, sizeof line, "%s %-2d ", p->d[b].cell ? "reduce" : "normal",
                         p->d[b].block);
        for (int k = 0; k < 5; k++) {
            const policy_decision *d = &p->d[b + k];
            char cell[40];
            double pr = d->probs[d->choice];
            snprintf(cell, sizeof cell, "%s %.2f%s",
                     policy_choice_name(p, d, d->choice, name, sizeof name), pr,
                     pr >= POLICY_SETTLED ? "*" : "");
            n += snprintf(line + n, sizeof line - (size_t)n, "%-*s", k < 2 ? 17 : 22, cell);
        }
        put(a, y++, left + 2, TH_OVERLAY, line, w - 4);
    }
    free(p);
}

static void draw(app *a)
{
    erase();
    if (a->small) {
        char m[120];
        snprintf(m, sizeof m, "cellar: the terminal is %dx%d; the screen needs %dx%d (q quits)",
                 a->cols_n, a->rows_n, LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
        mvaddnstr(0, 0, m, a->cols_n);
    } else {
        draw_status(a);
        draw_charts(a);
        draw_board(a);
        draw_cell(a);
        draw_hint(a);
        draw_log(a);   /* last: it places the cursor for the console */
        if (a->overlay == OV_HELP)
            draw_help(a);
        else if (a->overlay == OV_EDIT)
            draw_edit(a);
        else if (a->overlay == OV_QUIT)
            draw_quit(a);
        else if (a->overlay == OV_TRIAL)
            draw_trial(a);
        else if (a->overlay == OV_POLICY)
            draw_policy(a);
    }
    curs_set(a->console && !a->overlay ? 1 : 0);
    refresh();
    a->dirty = 0;
}

static void resize(app *a)
{
    getmaxyx(stdscr, a->rows_n, a->cols_n);
    a->small = tui_layout(a->rows_n, a->cols_n, a->r) != 0;
    a->dirty = 1;
}

/* ---- actions ---- */

static void command(app *a, cmd_kind k)
{
    cl_err err = {0};
    if (engine_command(a->e, k, NULL, 0, "key", &err))
        logf_elem(a, TH_LOG_ERROR, "%s", err.msg);
}

/* x: the selected trial stopped early, at its epoch's end */
static void stop_selected(app *a)
{
    const row *w = selected(a);
    cl_err err = {0};
    int stopping = 0;
    if (!w || w->st != TRIAL_RUNNING) {
        logf_elem(a, TH_LOG_WARN, "x stops a running trial early: select one (it shows 'running')");
        return;
    }
    if (engine_stop_trial(a->e, w->id, "stopped from the screen", "key", &stopping, &err))
        logf_elem(a, TH_LOG_ERROR, "%s", err.msg);
    else if (!stopping)
        logf_elem(a, TH_LOG_WARN, "trial %lld is not training now (being validated, or stopping "
                  "already)", (long long)w->id);
}

static void render_selected(app *a)
{
    const row *w = selected(a);
    if (!w || !w->geno) {
        logf_elem(a, TH_LOG_WARN, "render: select a trial first");
        return;
    }
#ifdef HAVE_GRAPHVIZ
    {
        cl_genotype g;
        cl_err err = {0};
        char stem[600], path[700];
        const char *db = a->o->db_path, *slash = strrchr(db, '/');
        size_t len = strlen(slash ? slash + 1 : db);
        if (len > 3 && !strcmp(db + strlen(db) - 3, ".db"))
            len -= 3;
        snprintf(stem, sizeof stem, "%.*s-trial-%lld", (int)len, slash ? slash + 1 : db,
                 (long long)w->id);
        if (geno_parse(w->geno, &g, &err)) {
            logf_elem(a, TH_LOG_ERROR, "render: %s", err.msg);
            return;
        }
        for (int i = 0; i < 2; i++) {
            const char *fmt = i ? "png" : "svg";
            snprintf(path, sizeof path, "%s.%s", stem, fmt);
            if (render_genotype_file(&g, fmt, path, &err)) {
                logf_elem(a, TH_LOG_ERROR, "render: %s", err.msg);
                return;
            }
        }
        logf_elem(a, TH_LOG_COMMAND, "rendered trial %lld to %s.svg and %s.png", (long long)w->id,
                  stem, stem);
    }
#else
    logf_elem(a, TH_LOG_ERROR, "render: this cellar was built without Graphviz");
#endif
}

static void next_theme(app *a)
{
    int n = 0;
    while (theme_names[n])
        n++;
    if (!a->colour) {
        logf_elem(a, TH_LOG_WARN, "themes: NO_COLOR is set (or the terminal has no colours)");
        return;
    }
    a->theme_idx = (a->theme_idx + 1) % n;
    set_theme(a, theme_names[a->theme_idx]);
    logf_elem(a, TH_LOG_COMMAND, "theme %s", a->theme.name);
}

static void console_run(app *a)
{
    cl_buf out = {0};
    cl_err err = {0};
    int incomplete = 0, rc;
    const char *chunk;
    buf_printf(&a->pending, "%s%s", a->pending.len ? "\n" : "", a->input);
    chunk = a->pending.s ? a->pending.s : "";
    logf_elem(a, TH_PROMPT, "%s %s", a->pending.len > strlen(a->input) ? "  >>" : "lua>",
              a->input);
    if (a->ilen) {
        if (a->hn == HIST_MAX) {
            free(a->hist[0]);
            memmove(a->hist, a->hist + 1, (HIST_MAX - 1) * sizeof *a->hist);
            a->hn--;
        }
        a->hist[a->hn++] = strdup(a->input);
    }
    a->hpos = a->hn;
    a->input[0] = '\0';
    a->ilen = a->icur = 0;
    cl_lua_set_source(a->L, "console");
    rc = cl_lua_eval(a->L, chunk, &out, &incomplete, &err);
    cl_lua_set_source(a->L, "lua");
    if (incomplete) {
        buf_free(&out);
        return;   /* more lines to come */
    }
    if (rc)
        logf_elem(a, TH_LOG_ERROR, "%s", err.msg);
    else if (out.len) {
        char *save = NULL, *line;
        for (line = strtok_r(out.s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            logf_elem(a, TH_TEXT, "= %s", line);
    }
    buf_free(&out);
    buf_free(&a->pending);
}

static void console_key(app *a, int ch)
{
    switch (ch) {
    case 27:   /* Esc */
        a->console = 0;
        buf_free(&a->pending);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        console_run(a);
        break;
    case KEY_BACKSPACE:
    case 127:
    case 8:
        if (a->icur > 0) {
            memmove(a->input + a->icur - 1, a->input + a->icur, (size_t)(a->ilen - a->icur + 1));
            a->icur--;
            a->ilen--;
        }
        break;
    case KEY_DC:
        if (a->icur < a->ilen) {
            memmove(a->input + a->icur, a->input + a->icur + 1, (size_t)(a->ilen - a->icur));
            a->ilen--;
        }
        break;
    case KEY_LEFT:
        if (a->icur > 0)
            a->icur--;
        break;
    case KEY_RIGHT:
        if (a->icur < a->ilen)
            a->icur++;
        break;
    case KEY_HOME:
    case 1:   /* ^A */
        a->icur = 0;
        break;
    case KEY_END:
    case 5:   /* ^E */
        a->icur = a->ilen;
        break;
    case 21:   /* ^U */
        a->input[0] = '\0';
        a->ilen = a->icur = 0;
        break;
    case KEY_UP:
    case KEY_DOWN:
        if (!a->hn)
            break;
        if (ch == KEY_UP && a->hpos > 0)
            a->hpos--;
        else if (ch == KEY_DOWN && a->hpos < a->hn)
            a->hpos++;
        snprintf(a->input, sizeof a->input, "%s", a->hpos < a->hn ? a->hist[a->hpos] : "");
        a->ilen = a->icur = (int)strlen(a->input);
        break;
    case KEY_PPAGE:
        a->log_scroll += a->r[PANE_LOG].h - 3;
        break;
    case KEY_NPAGE:
        a->log_scroll -= a->r[PANE_LOG].h - 3;
        if (a->log_scroll < 0)
            a->log_scroll = 0;
        break;
    default:
        if (ch >= 32 && ch < 256 && a->ilen < (int)sizeof a->input - 1) {
            memmove(a->input + a->icur + 1, a->input + a->icur, (size_t)(a->ilen - a->icur + 1));
            a->input[a->icur++] = (char)ch;
            a->ilen++;
        }
        break;
    }
}

static void edit_key(app *a, int ch)
{
    int n = n_settings();
    if (a->edit_typing) {
        if (ch == 27) {
            a->edit_typing = 0;
        } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            double v;
            cl_err err = {0};
            const char *name = engine_settings[a->edit_sel].name;
            if (parse_double(a->edit_buf, &v, name, &err) ||
                engine_command(a->e, CMD_SET, name, v, "key", &err))
                snprintf(a->edit_msg, sizeof a->edit_msg, "%.190s", err.msg);
            else
                snprintf(a->edit_msg, sizeof a->edit_msg, "%s is now %g", name, v);
            a->edit_typing = 0;
        } else if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && a->edit_buf[0]) {
            a->edit_buf[strlen(a->edit_buf) - 1] = '\0';
        } else if (ch >= 32 && ch < 127 && strlen(a->edit_buf) < sizeof a->edit_buf - 1) {
            size_t l = strlen(a->edit_buf);
            a->edit_buf[l] = (char)ch;
            a->edit_buf[l + 1] = '\0';
        }
        return;
    }
    if (ch == 27 || ch == 'q' || ch == 'e')
        a->overlay = OV_NONE;
    else if (ch == KEY_UP && a->edit_sel > 0)
        a->edit_sel--;
    else if (ch == KEY_DOWN && a->edit_sel < n - 1)
        a->edit_sel++;
    else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        a->edit_typing = 1;
        a->edit_buf[0] = '\0';
        a->edit_msg[0] = '\0';
    }
}

static void nav_key(app *a, int ch)
{
    int page;
    switch (a->focus) {
    case PANE_BOARD:
        page = a->r[PANE_BOARD].h - 3;
        if (ch == KEY_UP && a->sel > 0)
            a->sel--;
        else if (ch == KEY_DOWN && a->sel < a->nrows - 1)
            a->sel++;
        else if (ch == KEY_PPAGE)
            a->sel = a->sel > page ? a->sel - page : 0;
        else if (ch == KEY_NPAGE)
            a->sel = a->sel + page < a->nrows ? a->sel + page : a->nrows - 1;
        else if (ch == KEY_HOME)
            a->sel = 0;
        else if (ch == KEY_END)
            a->sel = a->nrows ? a->nrows - 1 : 0;
        if (a->sel < 0)
            a->sel = 0;
        break;
    case PANE_CELL:
        if (ch == KEY_DOWN)
            a->cell_mode = (a->cell_mode + 1) % 3;
        else if (ch == KEY_UP)
            a->cell_mode = (a->cell_mode + 2) % 3;
        break;
    case PANE_LOG:
        page = a->r[PANE_LOG].h - 3;
        if (ch == KEY_UP)
            a->log_scroll++;
        else if (ch == KEY_DOWN && a->log_scroll > 0)
            a->log_scroll--;
        else if (ch == KEY_PPAGE)
            a->log_scroll += page;
        else if (ch == KEY_NPAGE)
            a->log_scroll = a->log_scroll > page ? a->log_scroll - page : 0;
        else if (ch == KEY_END)
            a->log_scroll = 0;
        break;
    }
}

static int search_active(app *a)
{
    engine_state s;
    if (!a->e)
        return 0;   /* watching: another process's search */
    s = engine_get_state(a->e);
    return !a->failure[0] && (s == ENGINE_RUNNING || s == ENGINE_PAUSED);
}

static void key(app *a, int ch)
{
    a->dirty = 1;
    if (ch == KEY_RESIZE) {
        resize(a);
        return;
    }
    if (a->overlay == OV_HELP || a->overlay == OV_TRIAL || a->overlay == OV_POLICY) {
        a->overlay = OV_NONE;
        return;
    }
    if (a->overlay == OV_EDIT) {
        edit_key(a, ch);
        return;
    }
    if (a->overlay == OV_QUIT) {
        if (ch == 'y' || ch == 'Y') {
            command(a, CMD_STOP);
            a->quit = 1;
        } else {
            a->overlay = OV_NONE;
        }
        return;
    }
    if (a->console) {
        console_key(a, ch);
        return;
    }
    switch (ch) {
    case 'p':
        if (!watching(a))
            command(a, engine_get_state(a->e) == ENGINE_PAUSED ? CMD_RESUME : CMD_PAUSE);
        break;
    case 'n':
        if (watching(a))
            break;
        if (engine_get_state(a->e) == ENGINE_PAUSED)
            command(a, CMD_STEP);
        else
            logf_elem(a, TH_LOG_WARN, "n runs one trial while the search is paused (p pauses)");
        break;
    case 'e':
        if (watching(a))
            break;
        a->overlay = OV_EDIT;
        a->edit_typing = 0;
        a->edit_msg[0] = '\0';
        break;
    case 'c':
        a->overlay = OV_POLICY;
        break;
    case 'x':
        if (!watching(a))
            stop_selected(a);
        break;
    case 'r':
        render_selected(a);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        if (selected(a)) {
            a->ov_trial = selected(a)->id;
            a->overlay = OV_TRIAL;
        } else {
            logf_elem(a, TH_LOG_WARN, "Enter shows the selected trial: there is none yet");
        }
        break;
    case 't':
        next_theme(a);
        break;
    case '\t':
        a->focus = a->focus == PANE_BOARD ? PANE_CELL : a->focus == PANE_CELL ? PANE_LOG
                                                                                : PANE_BOARD;
        break;
    case KEY_BTAB:
        a->focus = a->focus == PANE_BOARD ? PANE_LOG : a->focus == PANE_LOG ? PANE_CELL
                                                                              : PANE_BOARD;
        break;
    case ':':
        a->console = 1;
        break;
    case '?':
        a->overlay = OV_HELP;
        break;
    case 's':
        a->sort = (a->sort + 1) % SORT_COUNT;
        a->sort_asc = a->sort == SORT_TRIAL;
        sort_board(a);
        break;
    case 'S':
        a->sort_asc = !a->sort_asc;
        sort_board(a);
        break;
    case 'q':
        if (search_active(a))
            a->overlay = OV_QUIT;
        else
            a->quit = 1;
        break;
    default:
        nav_key(a, ch);
        break;
    }
}

/* ---- the loop ---- */

/* the engine's waiting events, each to the screen and the hooks */
static void take_events(app *a)
{
    engine_event ev;
    while (a->e && engine_next_event(a->e, &ev)) {
        take_event(a, &ev);
        if (ev.kind == EV_TRIAL_END || ev.kind == EV_TRIAL_START)
            sort_board(a);
    }
}

static void free_app(app *a)
{
    for (int i = 0; i < a->nrows; i++) {
        free(a->rows[i].geno);
        free(a->rows[i].brief);
    }
    free(a->rows);
    free(a->order);
    free(a->rx);
    free(a->ry);
    free(a->re);
    free(a->cx);
    free(a->cent);
    free(a->cbase);
    for (int i = 0; i < a->hn; i++)
        free(a->hist[i]);
    buf_free(&a->pending);
#ifdef HAVE_GRAPHVIZ
    render_grid_free(&a->grid);
#endif
}

int tui_run(cl_engine *e, cl_store *st, cl_lua *L, const experiment *x, const tui_opts *o,
            cl_err *err)
{
    app *a = calloc(1, sizeof *a);
    const char *nc = getenv("NO_COLOR");
    struct sigaction sa;
    double last = 0;
    int rc = CL_OK;

    if (!a)
        return ERR_SET(err, CL_ERR_NOMEM, "screen: out of memory");
    a->e = e;
    a->st = st;
    a->L = L;
    a->x = x;
    a->o = o;
    a->focus = PANE_BOARD;
    /* the journal so far (a resumed search), then the live events; or,
     * watching, the journal read again and again */
    a->watch_budget = x->budget;
    if (!e)
        watch_read(a);
    else if ((rc = store_trial_each(st, -1, load_trial, a, err)) ||
             (rc = store_ctrl_step_each(st, 0, load_step, a, err))) {
        free_app(a);
        free(a);
        return rc;
    }

    setlocale(LC_ALL, "");
    a->unicode = !strcmp(nl_langinfo(CODESET), "UTF-8");
    if (!initscr()) {
        free_app(a);
        free(a);
        return ERR_SET(err, CL_ERR_IO, "screen: cannot start the terminal (TERM=%s)",
                       getenv("TERM") ? getenv("TERM") : "unset");
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGSEGV, on_fatal);
    signal(SIGABRT, on_fatal);
    signal(SIGBUS, on_fatal);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    a->colour = has_colors() && !(nc && *nc);
    if (a->colour) {
        start_color();
        use_default_colors();
    }
    sink_app = a;
    log_set_sink(log_sink, a, LOG_INFO);
    set_theme(a, o->theme ? o->theme : "default");
    for (int i = 0; theme_names[i]; i++)
        if (!strcmp(theme_names[i], a->theme.name))
            a->theme_idx = i;
    sort_board(a);
    resize(a);
    if (!e && a->watch_pid)
        logf_elem(a, TH_LOG_COMMAND, "%s: watching the %s search on %s that cellar process %ld "
                  "runs, journal %s (? lists the keys)", x->name, x->strategy, x->dataset,
                  a->watch_pid, o->db_path);
    else if (!e)
        logf_elem(a, TH_LOG_COMMAND, "%s: the %s search on %s, journal %s, no search running on "
                  "it (? lists the keys)", x->name, x->strategy, x->dataset, o->db_path);
    else
        logf_elem(a, TH_LOG_COMMAND, "%s: %s search on %s, journal %s (? lists the keys)",
                  x->name, x->strategy, x->dataset, o->db_path);

    while (!a->quit) {
        int ch;
        engine_state s = e ? engine_get_state(e) : ENGINE_PAUSED;
        int busy = e && s == ENGINE_RUNNING && !a->failure[0];
        timeout(busy ? 0 : 100);
        while ((ch = getch()) != ERR) {
            key(a, ch);
            if (a->quit)
                break;
            timeout(0);
        }
        if (got_stop) {
            if (search_active(a))
                command(a, CMD_STOP);
            a->quit = 1;
        }
        if (a->quit)
            break;
        /* a slice of work: the screen answers keys at least every ~30 ms;
         * the events of each step are taken (hooks run) before the next,
         * so that an epoch's hooks run at its end, where they may stop the
         * trial (a step ends at an epoch's end at the latest) */
        if (busy) {
            double t0 = cl_now();
            cl_err eerr = {0};
            do {
                if (engine_step(e, 1, &eerr)) {
                    snprintf(a->failure, sizeof a->failure, "%.500s", eerr.msg);
                    logf_elem(a, TH_LOG_ERROR, "the search stopped: %s", eerr.msg);
                    break;
                }
                take_events(a);
            } while (engine_get_state(e) == ENGINE_RUNNING && cl_now() - t0 < 0.03);
        }
        if (!e && cl_now() >= a->watch_next)
            watch_read(a);
        take_events(a);
        if (a->dirty || cl_now() - last > 0.25) {
            draw(a);
            last = cl_now();
        }
    }
    endwin();
    log_set_sink(NULL, NULL, LOG_INFO);
    sink_app = NULL;
    if (a->failure[0])
        rc = ERR_SET(err, CL_ERR_INTERNAL, "%s", a->failure);
    free_app(a);
    free(a);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGABRT, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    return rc;
}
