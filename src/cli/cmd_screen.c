/* cmd_screen.c - `cellar [FILE.lua|NAME|FILE.db] [options]`: the workbench.
 * Opens (or continues) the experiment's journal and hands the search to
 * the screen; afterwards says how it ended. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config.h"
#include "lua/cellar_lua.h"
#include "search/engine.h"
#include "store/store.h"
#ifdef HAVE_NCURSES
#include "tui/tui.h"
#endif

static const char usage[] =
    "usage: cellar [FILE.lua | NAME | FILE.db] [options]\n"
    "\n"
    "The workbench: the search of an experiment file (or a shipped experiment:\n"
    "quick, rl-vs-random, cifar10; quick when none is named) in the terminal, with\n"
    "live charts of the controller's entropy and the rewards, a leaderboard, the\n"
    "selected trial's cells drawn as graphs, the log and a Lua console.  A journal\n"
    "that already exists is continued (as `cellar resume` would); FILE.db opens one\n"
    "directly.  A journal another cellar is running a search on is watched: the\n"
    "screen follows that search as it writes the journal, and steers nothing.\n"
    "? in the screen lists the keys; man cellar has them all.  Without a\n"
    "terminal (a pipe, a script) the search runs headless, as `cellar run` (or\n"
    "`cellar resume` for FILE.db) would.\n"
    "\n"
    "  --db PATH          the journal (default FILE.db, or FILE-NAME.db)\n"
    "  --force            start over: overwrite the journal\n"
    "  --experiment NAME  which experiment of a file that declares several\n"
    "  --theme NAME       default, light, high-contrast, monochrome, or a .lua file\n"
    "                     (NO_COLOR in the environment turns colours off)\n"
    "  --backend B        cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t        CPU threads (default: all cores)\n"
    "  --parallel K       train K trials at once (as for run)\n";

#ifdef HAVE_NCURSES
/* The journal claimed for the search this screen runs, or, where
 * another process's search holds it, *watch set: the screen follows that
 * search instead */
static int claim_or_watch(cl_store *st, int *watch, cl_err *err)
{
    *watch = store_search_pid(st) > 0;
    return *watch ? CL_OK : store_claim(st, err);
}

/* No terminal (a pipe, a script, CI): run the same search headless, as
 * `cellar run` (or `cellar resume` for a journal) would, and say so. */
static int without_terminal(const char *target, const char *db, const char *which, int force,
                            const char *backend, int threads, int parallel)
{
    char *av[14], nthreads[16], npar[16];
    int ac = 0;
    int journal = target && strlen(target) > 3 && !strcmp(target + strlen(target) - 3, ".db");
    if (which) {
        fprintf(stderr, "cellar: the screen needs a terminal; without one, 'cellar run %s' runs "
                        "all the file's experiments\n", target ? target : "quick");
        return 2;
    }
    av[ac++] = (char *)(journal ? "resume" : "run");
    av[ac++] = (char *)(target ? target : "quick");
    if (db && !journal) {
        av[ac++] = "--db";
        av[ac++] = (char *)db;
    }
    if (force && !journal)
        av[ac++] = "--force";
    av[ac++] = "--backend";
    av[ac++] = (char *)backend;
    if (threads) {
        snprintf(nthreads, sizeof nthreads, "%d", threads);
        av[ac++] = "--threads";
        av[ac++] = nthreads;
    }
    if (parallel >= 0) {
        snprintf(npar, sizeof npar, "%d", parallel);
        av[ac++] = "--parallel";
        av[ac++] = npar;
    }
    av[ac] = NULL;
    fprintf(stderr, "cellar: no terminal, so no screen: running it as 'cellar %s %s'\n", av[0],
            av[1]);
    return (journal ? cmd_resume : cmd_run).run(ac, av);
}
#endif

static int run_screen(int argc, char **argv)
{
    const char *target = NULL, *db_arg = NULL, *which = NULL, *theme = NULL, *backend = "auto";
    int force = 0, threads = 0, code, n = 0, rc, pick = 0, resume = 0, parallel = -1, watch = 0;
    cli_opt opts[] = {
        {"db", OPT_STR, &db_arg, 0, 0, 0},          {"force", OPT_FLAG, &force, 0, 0, 0},
        {"experiment", OPT_STR, &which, 0, 0, 0},   {"theme", OPT_STR, &theme, 0, 0, 0},
        {"backend", OPT_STR, &backend, 0, 0, 0},    {"threads", OPT_INT, &threads, 0, 1024, 0},
        {"parallel", OPT_INT, &parallel, 0, 16, 0},
    };
    cl_err err = {0};
    cl_lua *L = NULL;
    experiment *xs = NULL;
    cl_store *st = NULL;
    cl_backend *be = NULL;
    cl_engine *e = NULL;
    store_experiment je;
    char db[1024];

    memset(&je, 0, sizeof je);
    if (cli_parse(&cmd_screen, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &target, &code))
        return code;
#ifndef HAVE_NCURSES
    fprintf(stderr, "cellar: this cellar was built without ncurses, so it has no screen "
                    "(install libncurses-dev and rebuild); 'cellar run' runs searches without it\n");
    return 1;
#else
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return without_terminal(target, db_arg, which, force, backend, threads, parallel);
    if (!target)
        target = "quick";
    if ((rc = cl_lua_new(&L, &err)))
        goto fail;
    if (strlen(target) > 3 && !strcmp(target + strlen(target) - 3, ".db")) {
        /* a journal: its experiment comes from the source it holds */
        snprintf(db, sizeof db, "%s", db_arg ? db_arg : target);
        if ((rc = store_open(db, &st, &err)) || (rc = claim_or_watch(st, &watch, &err)) ||
            (rc = store_experiment_get(st, &je, &err)) ||
            (rc = cl_lua_load_experiment_text(L, je.source_path ? je.source_path : db,
                                              je.source ? je.source : "", &xs, &n, &err)))
            goto fail;
        which = je.name;
        resume = 1;
    } else if ((rc = cl_lua_load_experiment(L, target, &xs, &n, &err))) {
        goto fail;
    }
    if (which) {
        for (pick = 0; pick < n && strcmp(xs[pick].name, which); pick++)
            ;
        if (pick == n) {
            rc = ERR_SET(&err, CL_ERR_ARG, "%s declares no experiment '%s'", target, which);
            goto fail;
        }
    } else if (n > 1) {
        cl_buf names = {0};
        for (int i = 0; i < n; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", xs[i].name);
        rc = ERR_SET(&err, CL_ERR_ARG, "%s declares %d experiments (%s): choose one with "
                     "--experiment NAME, or run them all with 'cellar run %s'", target, n,
                     names.s ? names.s : "", target);
        buf_free(&names);
        goto fail;
    }
    if (!st) {
        if (db_arg)
            snprintf(db, sizeof db, "%s", db_arg);
        else
            cli_default_db(target, xs[pick].name, n > 1, db, sizeof db);
        if (!force && access(db, F_OK) == 0) {
            resume = 1;
            if (!(rc = store_open(db, &st, &err)))
                rc = claim_or_watch(st, &watch, &err);
        } else {
            rc = store_create(db, force, &st, &err);
        }
        if (rc)
            goto fail;
    }
    if (parallel >= 0)
        xs[pick].parallel = parallel;
    if (watch) {   /* another process's search: its journal, read as it grows */
        tui_opts o = {theme, db};
        cl_lua_attach(L, NULL, st);   /* cellar.trials reads it */
        rc = tui_run(NULL, st, L, &xs[pick], &o, &err);
        cl_lua_attach(L, NULL, NULL);
        if (rc)
            goto fail;
        store_experiment_clear(&je);
        store_close(st);
        cl_lua_free(L);
        return 0;
    }
    if ((rc = backend_create(backend, threads, &be, &err)) ||
        (rc = engine_open(&xs[pick], st, be, resume, &e, &err)))
        goto fail;
    cl_lua_attach(L, e, st);
    {
        tui_opts o = {theme, db};
        engine_status s;
        rc = tui_run(e, st, L, &xs[pick], &o, &err);
        engine_get_status(e, &s);
        if (s.best_trial)
            printf("%s: best reward %.4f (trial %lld) after %lld trials%s: %s\n", xs[pick].name,
                   s.best_reward, (long long)s.best_trial, (long long)(s.done + s.failed),
                   s.ranked < s.done ? " (the best of those trained with the newest recipe)" : "",
                   s.best_genotype);
        if (s.state != ENGINE_DONE)
            printf("the search stopped; continue it with: cellar resume %s (or: cellar %s)\n",
                   db, db);
    }
    cl_lua_attach(L, NULL, NULL);
    if (rc)
        goto fail;
    engine_free(e);
    store_experiment_clear(&je);
    store_close(st);
    backend_destroy(be);
    cl_lua_free(L);
    return 0;
fail:
    cli_fail("screen", &err);
    engine_free(e);
    store_experiment_clear(&je);
    store_close(st);
    backend_destroy(be);
    cl_lua_free(L);
    return 1;
#endif
}

const cli_cmd cmd_screen = {"screen", "the workbench (cellar with no command)", usage, run_screen};
