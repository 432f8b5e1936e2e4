/* cmd_run.c - `cellar run FILE.lua` and `cellar resume DB`: a search
 * without the screen.  The loop is the engine's front end: a slice of
 * work, then the events (progress, log lines, Lua hooks), then signals. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "lua/cellar_lua.h"
#include "search/engine.h"
#include "store/store.h"

static const char run_usage[] =
    "usage: cellar run FILE.lua|NAME [--db PATH] [--force] [--headless] [options]\n"
    "\n"
    "Run the search an experiment file declares (see cellar-lua(7)), without the\n"
    "screen.  NAME is a shipped experiment (quick, rl-vs-random, cifar10).  Each\n"
    "experiment of the file gets a journal: FILE.db, or FILE-NAME.db when the file\n"
    "declares several.  On a terminal a progress line shows trials done of the\n"
    "budget, the best reward, trials per hour and the time left; otherwise one line\n"
    "per trial.  The run ends with the best genotype and its reward (and, for files\n"
    "with several experiments, a comparison).  Ctrl-C stops it cleanly; `cellar\n"
    "resume` continues it.\n"
    "\n"
    "  --db PATH        the journal (files with one experiment only)\n"
    "  --force          overwrite an existing journal\n"
    "  --headless       no screen (the default of `run`; for scripts)\n"
    "  --backend B      cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t      CPU threads (default: all cores)\n"
    "  --parallel K     train K trials at once (default: the experiment's `parallel`;\n"
    "                   0 = as many as fit: 1 on the CPU, up to 8 on a GPU)\n"
    "  --set NAME=VALUE change a setting before the search starts, as the console\n"
    "                   would (journaled; repeatable): lr, entropy_weight,\n"
    "                   temperature, tanh_c, child.epochs, child.batch, child.lr,\n"
    "                   child.drop_path, child.weight_decay, child.momentum, budget\n"
    "  --quiet          only the final summary\n";

static const char resume_usage[] =
    "usage: cellar resume DB [options]\n"
    "\n"
    "Continue a search from its journal: the experiment is read back from the\n"
    "journal (its Lua source is stored there), finished trials are kept, a trial\n"
    "that was interrupted runs again, and the search goes on to its budget.  With\n"
    "the same thread count, a resumed search on the CPU proposes exactly what an\n"
    "uninterrupted one would have (with one trial at a time; with several, the\n"
    "interrupted ones run again under their ids on fresh proposals).\n"
    "\n"
    "  --backend B      cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t      CPU threads (default: all cores)\n"
    "  --parallel K     train K trials at once (as for run)\n"
    "  --set NAME=VALUE change a setting before continuing (journaled; repeatable)\n"
    "  --quiet          only the final summary\n";

typedef struct runner {
    const experiment *x;
    cl_engine *e;
    cl_lua *L;
    progress prog;
    int quiet;
    const char *db;
    const cli_list *sets;
} runner;

/* --set NAME=VALUE, applied as commands from the command line */
static int apply_sets(runner *r, cl_err *err)
{
    for (int i = 0; r->sets && i < r->sets->n; i++) {
        const char *a = r->sets->v[i], *eq = strchr(a, '=');
        char name[64];
        double v;
        int rc;
        if (!eq || eq == a || (size_t)(eq - a) >= sizeof name)
            return ERR_SET(err, CL_ERR_ARG, "--set %s: expected NAME=VALUE", a);
        snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
        if ((rc = parse_double(eq + 1, &v, name, err)) ||
            (rc = engine_command(r->e, CMD_SET, name, v, "cli", err)))
            return rc;
    }
    return CL_OK;
}

static void log_to_stderr(void *ud, log_level level, const char *msg)
{
    runner *r = ud;
    progress_clear(&r->prog);
    fprintf(stderr, "%s%s\n", level >= LOG_WARN ? "warning: " : "", msg);
}

static void show_progress(runner *r)
{
    engine_status s;
    char left[32] = "?", best[64] = "none yet";
    engine_get_status(r->e, &s);
    if (s.trials_per_hour > 0) {
        double rest = (double)(s.budget - s.done - s.failed) / s.trials_per_hour * 3600.0;
        format_duration(rest, left, sizeof left);
    }
    if (s.best_trial)
        snprintf(best, sizeof best, "%.4f (#%lld)", s.best_reward, (long long)s.best_trial);
    if (s.current_trial)
        progress_show(&r->prog, 0, "[%s] %lld/%lld trials | best %s | %.0f trials/h | left %s | "
                                   "trial %lld%s epoch %d/%d step %ld/%ld",
                      r->x->name, (long long)(s.done + s.failed), (long long)s.budget, best,
                      s.trials_per_hour, left, (long long)s.current_trial,
                      s.running > 1 ? " (and others)" : "",
                      s.epoch < s.epochs ? s.epoch + 1 : s.epochs, s.epochs, s.step,
                      s.steps_total);
    else
        progress_show(&r->prog, 0, "[%s] %lld/%lld trials | best %s | %.0f trials/h | left %s",
                      r->x->name, (long long)(s.done + s.failed), (long long)s.budget, best,
                      s.trials_per_hour, left);
}

/* print what an event says (plain lines) and hand it to the Lua hooks */
static int handle_event(runner *r, const engine_event *ev, cl_err *err)
{
    engine_status s;
    if (!r->quiet) {
        switch (ev->kind) {
        case EV_TRIAL_END:
            engine_get_status(r->e, &s);
            progress_clear(&r->prog);
            if (ev->tstate == TRIAL_DONE)
                fprintf(stderr, "trial %lld/%lld: reward %.4f%s%s%s%s (best %.4f), %lld params, "
                        "%.1f s: %s\n", (long long)ev->trial, (long long)s.budget, ev->reward,
                        ev->reused ? " (reused)" : "", ev->text[0] ? " (" : "", ev->text,
                        ev->text[0] ? ")" : "", s.best_reward, (long long)ev->params,
                        ev->seconds, ev->genotype);
            else
                fprintf(stderr, "trial %lld/%lld: failed: %s\n", (long long)ev->trial,
                        (long long)s.budget, ev->text);
            break;
        case EV_CONTROLLER:
            progress_clear(&r->prog);
            fprintf(stderr, "controller update %lld: entropy %.3f, reward average %.4f, loss %.4g\n",
                    (long long)ev->step, ev->entropy, ev->reward_ema, ev->ctrl_loss);
            break;
        case EV_COMMAND:
        case EV_LOG:
            progress_clear(&r->prog);
            fprintf(stderr, "%s\n", ev->text);
            break;
        default:
            break;
        }
    }
    return cl_lua_dispatch(r->L, ev, err);
}

/* the loop: until finished or stopped */
static int drive(runner *r, cl_err *err)
{
    int rc;
    engine_event ev;
    for (;;) {
        engine_state st = engine_get_state(r->e);
        if (cli_signal && st != ENGINE_STOPPED) {
            if ((rc = engine_command(r->e, CMD_STOP, NULL, 0, "signal", err)))
                return rc;
        }
        while (engine_next_event(r->e, &ev))
            if ((rc = handle_event(r, &ev, err)))
                return rc;
        st = engine_get_state(r->e);
        if (st == ENGINE_DONE || st == ENGINE_STOPPED)
            return CL_OK;
        if (st == ENGINE_PAUSED) {
            usleep(50000);
            continue;
        }
        if ((rc = engine_step(r->e, 4, err)))
            return rc;
        if (!r->quiet)
            show_progress(r);
    }
}

typedef struct arm_result {
    const char *name, *strategy, *db;
    int64_t done, failed, ranked;
    double best, top5, mean;
    char best_geno[GENO_TEXT_MAX];
    int ok;
} arm_result;

typedef struct topk {
    char recipe[17];   /* the leaderboard's: only its trials compare */
    double r[5];
    int n;
    double sum;
    int64_t count;
} topk;

static int take_reward(void *ud, const store_trial *t)
{
    topk *k = ud;
    double v = t->reward;
    if (!isfinite(v) || strcmp(t->hash_recipe, k->recipe))
        return 0;
    k->sum += v;
    k->count++;
    for (int i = 0; i < 5; i++)
        if (i == k->n || v > k->r[i]) {
            for (int j = (k->n < 5 ? k->n : 4); j > i; j--)
                k->r[j] = k->r[j - 1];
            k->r[i] = v;
            if (k->n < 5)
                k->n++;
            break;
        }
    return 0;
}

static void summarize(runner *r, cl_store *st, arm_result *a)
{
    engine_status s;
    topk k = {"", {0}, 0, 0, 0};
    cl_err err = {0};
    engine_get_status(r->e, &s);
    /* best, top 5 and mean of the trials the leaderboard ranks, as show's */
    if (!store_trial_newest_recipe(st, k.recipe, NULL, &err))
        store_trial_each(st, TRIAL_DONE, take_reward, &k, &err);
    a->done = s.done;
    a->failed = s.failed;
    a->ranked = s.ranked;
    a->best = s.best_reward;
    a->mean = k.count ? k.sum / k.count : NAN;
    a->top5 = 0;
    for (int i = 0; i < k.n; i++)
        a->top5 += k.r[i] / k.n;
    if (!k.n)
        a->top5 = NAN;
    snprintf(a->best_geno, sizeof a->best_geno, "%s", s.best_genotype);
    a->ok = 1;
}

/* Run (or resume) one experiment on one journal. */
static int run_one(runner *r, cl_store *st, cl_backend *be, int resume, arm_result *a,
                   cl_err *err)
{
    int rc;
    engine_state final;
    if ((rc = engine_open(r->x, st, be, resume, &r->e, err)))
        return rc;
    if ((rc = apply_sets(r, err))) {
        engine_free(r->e);
        r->e = NULL;
        return rc;
    }
    cl_lua_attach(r->L, r->e, st);
    if (!r->quiet) {
        engine_status s;   /* the budget as the journal's commands and --set leave it */
        engine_get_status(r->e, &s);
        fprintf(stderr, "%s %s: %s search, budget %lld trials, journal %s\n",
                resume ? "resuming" : "running", r->x->name, r->x->strategy,
                (long long)s.budget, r->db);
        if (resume && s.done + s.failed >= s.budget)
            fprintf(stderr, "%s: its budget is spent (%lld trials); to go on: cellar resume %s "
                    "--set budget=N, N > %lld\n", r->x->name, (long long)(s.done + s.failed),
                    r->db, (long long)s.budget);
    }
    rc = drive(r, err);
    progress_clear(&r->prog);
    final = engine_get_state(r->e);
    if (rc == CL_OK) {
        summarize(r, st, a);
        if (final == ENGINE_STOPPED)
            fprintf(stderr, "stopped after %lld trials; continue with: cellar resume %s\n",
                    (long long)(a->done + a->failed), r->db);
        else if (a->ranked) {
            char unranked[80] = "";   /* done with an earlier recipe: not on the leaderboard */
            if (a->ranked < a->done)
                snprintf(unranked, sizeof unranked, "; %lld trained with an earlier recipe, "
                         "not ranked", (long long)(a->done - a->ranked));
            printf("%s: best reward %.4f after %lld trials (%lld failed%s): %s\n", r->x->name,
                   a->best, (long long)(a->done + a->failed), (long long)a->failed, unranked,
                   a->best_geno);
        } else if (a->done)
            printf("%s: %lld trials done, none yet with the newest recipe (%lld failed)\n",
                   r->x->name, (long long)a->done, (long long)a->failed);
        else
            printf("%s: no trial finished (%lld failed)\n", r->x->name, (long long)a->failed);
    }
    cl_lua_attach(r->L, NULL, NULL);
    engine_free(r->e);
    r->e = NULL;
    return rc;
}

static int run_run(int argc, char **argv)
{
    const char *file = NULL, *db_arg = NULL, *backend_name = "auto";
    int force = 0, headless = 0, threads = 0, quiet = 0, code, n = 0, rc = 0, stopped = 0;
    int parallel = -1;
    cli_list sets = {{0}, 0};
    cli_opt opts[] = {
        {"db", OPT_STR, &db_arg, 0, 0, 0},         {"force", OPT_FLAG, &force, 0, 0, 0},
        {"headless", OPT_FLAG, &headless, 0, 0, 0}, {"backend", OPT_STR, &backend_name, 0, 0, 0},
        {"threads", OPT_INT, &threads, 0, 1024, 0}, {"quiet", OPT_FLAG, &quiet, 0, 0, 0},
        {"set", OPT_LIST, &sets, 0, 0, 0},          {"parallel", OPT_INT, &parallel, 0, 16, 0},
    };
    cl_err err = {0};
    cl_lua *L = NULL;
    experiment *xs = NULL;
    cl_backend *be = NULL;
    arm_result res[16];
    runner r;

    if (cli_parse(&cmd_run, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &file, &code))
        return code;
    if (!file) {
        fprintf(stderr, "cellar run: which experiment? (a .lua file, or one of: quick, "
                        "rl-vs-random, cifar10)\n");
        return 2;
    }
    memset(&r, 0, sizeof r);
    memset(res, 0, sizeof res);
    r.quiet = quiet;
    r.sets = &sets;
    progress_init(&r.prog, stderr);
    log_set_sink(log_to_stderr, &r, LOG_INFO);
    if ((rc = cl_lua_new(&L, &err)) || (rc = cl_lua_load_experiment(L, file, &xs, &n, &err)))
        goto fail;
    if (n > 16) {
        rc = ERR_SET(&err, CL_ERR_ARG, "%s declares %d experiments; at most 16", file, n);
        goto fail;
    }
    for (int i = 0; i < n && parallel >= 0; i++)
        xs[i].parallel = parallel;
    if (db_arg && n > 1) {
        rc = ERR_SET(&err, CL_ERR_ARG, "%s declares %d experiments: --db names one journal, so "
                     "leave it out (they get %s-NAME.db)", file, n, file);
        goto fail;
    }
    if ((rc = backend_create(backend_name, threads, &be, &err)))
        goto fail;
    cli_catch_signals();
    r.L = L;
    for (int i = 0; i < n && !stopped; i++) {
        char path[1024];
        cl_store *st = NULL;
        if (db_arg)
            snprintf(path, sizeof path, "%s", db_arg);
        else
            cli_default_db(file, xs[i].name, n > 1, path, sizeof path);
        rc = store_create(path, force, &st, &err);
        if (rc) {
            if (strstr(err.msg, "exists"))
                ERR_SET(&err, rc, "%s exists: continue it with 'cellar resume %s', or start over "
                        "with --force", path, path);
            goto fail;
        }
        r.x = &xs[i];
        r.db = path;
        res[i].name = xs[i].name;
        res[i].strategy = xs[i].strategy;
        rc = run_one(&r, st, be, 0, &res[i], &err);
        store_close(st);
        if (rc)
            goto fail;
        stopped = cli_signal != 0;
    }
    if (n > 1 && !stopped) {
        printf("\n%-16s %-10s %7s %7s %9s %9s %9s\n", "experiment", "strategy", "trials", "failed",
               "best", "top-5", "mean");
        for (int i = 0; i < n; i++)
            printf("%-16s %-10s %7lld %7lld %9.4f %9.4f %9.4f\n", res[i].name, res[i].strategy,
                   (long long)(res[i].done + res[i].failed), (long long)res[i].failed, res[i].best,
                   res[i].top5, res[i].mean);
    }
    backend_destroy(be);
    cl_lua_free(L);
    log_set_sink(NULL, NULL, LOG_INFO);
    return stopped ? 130 : 0;
fail:
    progress_clear(&r.prog);
    cli_fail("run", &err);
    backend_destroy(be);
    cl_lua_free(L);
    log_set_sink(NULL, NULL, LOG_INFO);
    return 1;
}

static int run_resume(int argc, char **argv)
{
    const char *db = NULL, *backend_name = "auto";
    int threads = 0, quiet = 0, code, n = 0, rc, parallel = -1;
    cli_list sets = {{0}, 0};
    cli_opt opts[] = {
        {"backend", OPT_STR, &backend_name, 0, 0, 0},
        {"threads", OPT_INT, &threads, 0, 1024, 0},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 0},
        {"set", OPT_LIST, &sets, 0, 0, 0},
        {"parallel", OPT_INT, &parallel, 0, 16, 0},
    };
    cl_err err = {0};
    cl_store *st = NULL;
    cl_lua *L = NULL;
    experiment *xs = NULL;
    cl_backend *be = NULL;
    store_experiment je;
    arm_result res;
    runner r;
    int which = -1;

    memset(&je, 0, sizeof je);
    if (cli_parse(&cmd_resume, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    if (!db) {
        fprintf(stderr, "cellar resume: which journal? (cellar resume FILE.db)\n");
        return 2;
    }
    memset(&r, 0, sizeof r);
    memset(&res, 0, sizeof res);
    r.quiet = quiet;
    r.db = db;
    r.sets = &sets;
    progress_init(&r.prog, stderr);
    log_set_sink(log_to_stderr, &r, LOG_INFO);
    if ((rc = store_open(db, &st, &err)) || (rc = store_claim(st, &err)) ||
        (rc = store_experiment_get(st, &je, &err)) || (rc = cl_lua_new(&L, &err)) ||
        (rc = cl_lua_load_experiment_text(L, je.source_path ? je.source_path : db,
                                          je.source ? je.source : "", &xs, &n, &err)))
        goto fail;
    for (int i = 0; i < n; i++)
        if (je.name && !strcmp(xs[i].name, je.name))
            which = i;
    if (which < 0) {
        rc = ERR_SET(&err, CL_ERR_FORMAT, "%s: its stored source no longer declares experiment "
                     "'%s'", db, je.name ? je.name : "?");
        goto fail;
    }
    if ((rc = backend_create(backend_name, threads, &be, &err)))
        goto fail;
    cli_catch_signals();
    r.L = L;
    if (parallel >= 0)
        xs[which].parallel = parallel;
    r.x = &xs[which];
    if ((rc = run_one(&r, st, be, 1, &res, &err)))
        goto fail;
    store_experiment_clear(&je);
    store_close(st);
    backend_destroy(be);
    cl_lua_free(L);
    log_set_sink(NULL, NULL, LOG_INFO);
    return cli_signal ? 130 : 0;
fail:
    progress_clear(&r.prog);
    cli_fail("resume", &err);
    store_experiment_clear(&je);
    store_close(st);
    backend_destroy(be);
    cl_lua_free(L);
    log_set_sink(NULL, NULL, LOG_INFO);
    return 1;
}

const cli_cmd cmd_run = {"run", "run an experiment file's search without the screen", run_usage,
                         run_run};
const cli_cmd cmd_resume = {"resume", "continue a stopped or killed search from its journal",
                            resume_usage, run_resume};
