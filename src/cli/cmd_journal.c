/* cmd_journal.c - reading a journal: `cellar show DB` (the leaderboard)
 * and `cellar export DB` (every trial, as JSON or CSV).  Both only read,
 * so they work on the journal of a search that is still running. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "search/experiment.h"
#include "search/policy.h"
#include "space/genotype.h"
#include "store/store.h"

/* ---- show DB ---- */

typedef struct epoch_rows {
    int n;
} epoch_rows;

static int print_metric(void *ud, const store_metric *m);
static int show_trainings(cl_store *st, const char *db, int64_t trial, cl_err *err);
static int trainings_json(cl_buf *b, cl_store *st, int64_t trial, cl_err *err);

typedef struct board {
    store_trial *t;
    int n, cap;
    int64_t pending, running, done, failed;
    char last_recipe[17];
    int64_t run_id[8];     /* the first running trials, and their epochs */
    int run_epochs[8], nrun;
} board;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* the strings a leaderboard entry keeps (a reason: it was stopped early) */
static void entry_free(store_trial *t)
{
    free(t->genotype);
    free(t->recipe);
    free(t->reason);
}

static int collect(void *ud, const store_trial *t)
{
    board *b = ud;
    store_trial c;
    if (t->state == TRIAL_PENDING)
        b->pending++;
    else if (t->state == TRIAL_RUNNING) {
        b->running++;
        if (b->nrun < (int)(sizeof b->run_id / sizeof b->run_id[0])) {
            b->run_id[b->nrun] = t->id;
            b->run_epochs[b->nrun++] = recipe_epochs(t->recipe);
        }
    } else if (t->state == TRIAL_FAILED)
        b->failed++;
    else
        b->done++;
    if (t->hash_recipe[0])   /* a trial not yet started has none */
        snprintf(b->last_recipe, sizeof b->last_recipe, "%s", t->hash_recipe);
    if (t->state != TRIAL_DONE)
        return 0;
    if (cl_grow(&b->t, sizeof *b->t, b->n + 1, &b->cap, 64))
        return 1;
    c = *t;
    c.genotype = dup_or_null(t->genotype);
    c.recipe = dup_or_null(t->recipe);
    c.actions = NULL;
    c.reason = dup_or_null(t->reason);
    if ((t->genotype && !c.genotype) || (t->recipe && !c.recipe) || (t->reason && !c.reason)) {
        entry_free(&c);
        return 1;
    }
    b->t[b->n++] = c;
    return 0;
}

static int by_reward(const void *a, const void *b)
{
    const store_trial *x = a, *y = b;
    if (x->reward != y->reward)
        return x->reward < y->reward ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void board_free(board *b)
{
    for (int i = 0; i < b->n; i++)
        entry_free(&b->t[i]);
    free(b->t);
    memset(b, 0, sizeof *b);
}

/* The leaderboard: the done trials trained with the newest trial's recipe
 * (results of another recipe, more epochs say, do not compare; the engine
 * ranks the same, engine.c board_to), best first; *other counts the done
 * trials left out. */
static int board_load(cl_store *st, board *b, int *other, cl_err *err)
{
    int k = 0;
    memset(b, 0, sizeof *b);
    *other = 0;
    if (store_trial_each(st, -1, collect, b, err)) {
        if (!err->code)
            ERR_SET(err, CL_ERR_NOMEM, "reading the journal: out of memory");
        board_free(b);
        return err->code;
    }
    for (int i = 0; i < b->n; i++) {
        if (strcmp(b->t[i].hash_recipe, b->last_recipe)) {
            ++*other;
            entry_free(&b->t[i]);
            continue;
        }
        b->t[k++] = b->t[i];
    }
    b->n = k;
    if (b->n > 1)   /* b->t is NULL when no trial is done */
        qsort(b->t, (size_t)b->n, sizeof *b->t, by_reward);
    return CL_OK;
}

int journal_trial(const char *db, long id, cl_store **stp, store_trial *t, int *rank,
                  int *ranked, cl_err *err)
{
    cl_store *st = NULL;
    board b;
    int other, rc;
    memset(t, 0, sizeof *t);
    *stp = NULL;
    if ((rc = store_open(db, &st, err)) || (rc = board_load(st, &b, &other, err))) {
        store_close(st);
        return rc;
    }
    if (id <= 0 && !b.n)
        rc = ERR_SET(err, CL_ERR_ARG, "%s: no trial on its leaderboard yet", db);
    else
        rc = store_trial_get(st, id <= 0 ? b.t[0].id : id, t, err);
    if (rc) {
        /* say what the journal does hold */
        int64_t n[4] = {0, 0, 0, 0};   /* pending, running, done, failed */
        cl_err e2 = {0};
        int known = !store_trial_counts(st, &n[0], &n[1], &n[2], &n[3], &e2);
        if (known && id <= 0)
            ERR_SET(err, CL_ERR_ARG, "%s: no trial on its leaderboard yet (%lld done, %lld "
                    "running, %lld failed, %lld pending)", db, (long long)n[2], (long long)n[1],
                    (long long)n[3], (long long)n[0]);
        else if (known)
            ERR_SET(err, CL_ERR_ARG, "no trial %ld in the journal %s (it holds %lld trials)", id,
                    db, (long long)(n[0] + n[1] + n[2] + n[3]));
    }
    *rank = 0;
    *ranked = b.n;
    for (int i = 0; !rc && i < b.n; i++)
        if (b.t[i].id == t->id)
            *rank = i + 1;
    board_free(&b);
    if (rc) {
        store_trial_clear(t);
        store_close(st);
        return rc;
    }
    *stp = st;
    return CL_OK;
}

int journal_genotype(const char *db, long id, cl_genotype *g, store_trial *t, int *rank,
                     int *ranked, cl_err *err)
{
    cl_store *st = NULL;
    int rc;
    if ((rc = journal_trial(db, id, &st, t, rank, ranked, err)))
        return rc;
    store_close(st);
    if (!t->genotype)
        rc = ERR_SET(err, CL_ERR_FORMAT, "trial %lld in the journal %s has no genotype",
                     (long long)t->id, db);
    else if ((rc = geno_parse(t->genotype, g, err)))
        err_prefix(err, "trial %lld in the journal %s", (long long)t->id, db);
    if (rc)
        store_trial_clear(t);
    return rc;
}

int show_journal(const char *db, int top, int json)
{
    cl_err err = {0};
    cl_store *st = NULL;
    store_experiment x;
    board b;
    store_ctrl_step ls;   /* the controller's last update (step 0: none) */
    int other = 0, shown = 0, found, rc;
    long pid;
    memset(&b, 0, sizeof b);
    memset(&x, 0, sizeof x);
    memset(&ls, 0, sizeof ls);
    if ((rc = store_open(db, &st, &err)) || (rc = store_experiment_get(st, &x, &err)) ||
        (rc = board_load(st, &b, &other, &err)) ||
        (rc = store_ctrl_step_get(st, 0, &ls, &found, &err))) {
        cli_fail("show", &err);
        goto out;
    }
    pid = store_search_pid(st);
    if (json) {
        cl_buf js = {0};
        buf_printf(&js, "{\"experiment\":");
        json_string(&js, x.name ? x.name : "");
        buf_printf(&js, ",\"done\":%lld,\"failed\":%lld,\"running\":%lld,\"pending\":%lld,"
                        "\"controller_steps\":%lld,\"search_pid\":%ld,\"top\":[",
                   (long long)b.done, (long long)b.failed, (long long)b.running,
                   (long long)b.pending, (long long)ls.step, pid);
        for (int i = 0; i < b.n && (top <= 0 || i < top); i++) {
            buf_printf(&js, "%s{\"rank\":%d,\"trial\":%lld,\"reward\":%.6g,\"accuracy\":%.6g,"
                            "\"params\":%lld,\"flops\":%.0f,\"seconds\":%.3f,\"stopped\":%s,"
                            "\"genotype\":",
                       i ? "," : "", i + 1, (long long)b.t[i].id, b.t[i].reward,
                       b.t[i].accuracy, (long long)b.t[i].params, b.t[i].flops, b.t[i].seconds,
                       b.t[i].reason ? "true" : "false");
            json_string(&js, b.t[i].genotype ? b.t[i].genotype : "");
            buf_printf(&js, "}");
        }
        buf_printf(&js, "],\"trainings\":");
        rc = trainings_json(&js, st, 0, &err);
        buf_printf(&js, "}");
        if (rc)
            cli_fail("show", &err);
        else
            printf("%s\n", js.s);
        buf_free(&js);
        goto out;
    }
    printf("%s: journal %s\n", x.name ? x.name : "?", db);
    /* a trial "running" in a journal no search holds was cut short */
    printf("trials: %lld done, %lld failed, %lld %s, %lld pending\n", (long long)b.done,
           (long long)b.failed, (long long)b.running,
           pid || !b.running ? "running" : "interrupted",
           (long long)b.pending);
    if (pid > 0) {
        printf("search: running (cellar process %ld)\n", pid);
        /* each trial in hand and the epoch it is in, from those journaled */
        for (int i = 0; i < b.nrun; i++) {
            int done_epochs = 0;
            cl_err e2 = {0};
            store_metric_last_epoch(st, b.run_id[i], &done_epochs, &e2);
            if (b.run_epochs[i] > 0)
                printf("running: trial %lld, epoch %d of %d under way\n", (long long)b.run_id[i],
                       done_epochs < b.run_epochs[i] ? done_epochs + 1 : b.run_epochs[i],
                       b.run_epochs[i]);
        }
    }
    else if (!pid)
        printf("search: not running ('cellar resume %s' continues it%s)\n", db,
               b.running || b.pending ? "" : " if it stopped before its budget");
    {
        /* how far it has made up its mind, where the journal says */
        policy *p = ls.step ? malloc(sizeof *p) : NULL;
        cl_err e2 = {0};
        char settled[1200] = "";
        if (p && !policy_read(st, 0, p, &e2))
            snprintf(settled, sizeof settled, "; %d of %d decisions settled ('cellar show %s "
                     "--policy')", policy_settled(p), p->n, db);
        free(p);
        if (ls.step)
            printf("controller: %lld updates; entropy %.3f, reward average %.4f%s\n",
                   (long long)ls.step, ls.entropy, ls.reward_ema, settled);
    }
    if (b.n) {
        printf("recipe: %s\n", b.t[0].recipe ? b.t[0].recipe : "?");
        printf("\n%4s %6s %8s %8s %9s %8s %8s  %s\n", "rank", "trial", "reward", "accuracy",
               "params", "MFLOPs", "seconds", "genotype");
    }
    for (int i = 0; i < b.n && (top <= 0 || i < top); i++, shown++)
        printf("%4d %6lld %8.4f %8.4f %9lld %8.2f %8.1f  %s\n", i + 1, (long long)b.t[i].id,
               b.t[i].reward, b.t[i].accuracy, (long long)b.t[i].params, b.t[i].flops / 1e6,
               b.t[i].seconds, b.t[i].genotype ? b.t[i].genotype : "");
    if (shown < b.n)
        printf("(%d more; --top 0 shows all)\n", b.n - shown);
    {
        /* the trials shown whose rewards are of fewer epochs */
        cl_buf ids = {0};
        int n = 0;
        for (int i = 0; i < shown; i++)
            if (b.t[i].reason && n++ < 12)
                buf_printf(&ids, "%s%lld", n > 1 ? ", " : "", (long long)b.t[i].id);
        if (n)
            printf("(stopped early, so trained fewer epochs: trial%s %s%s; 'cellar show %s "
                   "--trial ID' says why)\n", n > 1 ? "s" : "", ids.s, n > 12 ? ", ..." : "", db);
        buf_free(&ids);
    }
    if (other)
        printf("(%d trials trained with an earlier recipe are not ranked here)\n", other);
    if ((rc = show_trainings(st, db, 0, &err)))
        cli_fail("show", &err);
out:
    board_free(&b);
    store_ctrl_step_clear(&ls);
    store_experiment_clear(&x);
    store_close(st);
    return rc ? 1 : 0;
}

/* ---- show DB --policy ---- */

int show_policy(const char *db, long step, int json)
{
    cl_err err = {0};
    cl_store *st = NULL;
    policy *p = calloc(2, sizeof *p), *first = p ? p + 1 : NULL;
    int rc, have_first = 0;
    char name[32], other[32];
    if (!p) {
        fprintf(stderr, "cellar show: out of memory\n");
        return 1;
    }
    if ((rc = store_open(db, &st, &err)) || (rc = policy_read(st, step, p, &err))) {
        cli_fail("show", &err);
        goto out;
    }
    /* where it started, to see what the updates moved */
    if (p->step > 1 && !policy_read(st, 1, first, &err))
        have_first = 1;
    if (json) {
        cl_buf js = {0};
        buf_printf(&js, "{\"step\":%lld,\"steps\":%lld,\"entropy\":%.6g,\"reward_ema\":%.6g,"
                        "\"trials\":\"%s\",\"settled\":%d,\"genotype\":",
                   (long long)p->step, (long long)p->steps, p->entropy, p->reward_ema, p->trials,
                   policy_settled(p));
        json_string(&js, p->genotype);
        buf_printf(&js, ",\"decisions\":[");
        for (int t = 0; t < p->n; t++) {
            const policy_decision *d = &p->d[t];
            buf_printf(&js, "%s{\"cell\":\"%s\",\"block\":%d,\"decision\":\"%s\",\"choice\":",
                       t ? "," : "", d->cell ? "reduce" : "normal", d->block, d->what);
            json_string(&js, policy_choice_name(p, d, d->choice, name, sizeof name));
            buf_printf(&js, ",\"p\":%.6g,\"entropy\":%.6g,\"probs\":{", d->probs[d->choice],
                       d->entropy);
            for (int k = 0; k < d->n; k++) {
                buf_printf(&js, "%s", k ? "," : "");
                json_string(&js, policy_choice_name(p, d, k, name, sizeof name));
                buf_printf(&js, ":%.6g", d->probs[k]);
            }
            buf_printf(&js, "}}");
        }
        buf_printf(&js, "]}");
        printf("%s\n", js.s);
        buf_free(&js);
        goto out;
    }
    {
        const char *reduce;
        int half = geno_text_halves(p->genotype, &reduce);
        printf("the controller after update %lld of %lld (learned from trials %s): entropy "
               "%.3f, reward average %.4f\n", (long long)p->step, (long long)p->steps,
               p->trials, p->entropy, p->reward_ema);
        printf("its most likely cell (the likeliest choice at each decision, given those "
               "before):\n  %.*s\n", half, p->genotype);
        if (*reduce)
            printf("  %s\n", reduce);
        printf("decisions settled (the likeliest choice at p >= %.2f): %d of %d\n",
               POLICY_SETTLED, policy_settled(p), p->n);
        printf("\n%-6s %5s  %-9s %-14s %6s %8s %5s  %-20s%s\n", "cell", "block", "decision",
               "likeliest", "p", "entropy", "/max", "next likeliest",
               have_first ? "  p at update 1" : "");
        for (int t = 0; t < p->n; t++) {
            const policy_decision *d = &p->d[t];
            int next = -1;
            char nx[48] = "-", at1[32] = "";
            for (int k = 0; k < d->n; k++)
                if (k != d->choice && (next < 0 || d->probs[k] > d->probs[next]))
                    next = k;
            if (next >= 0)
                snprintf(nx, sizeof nx, "%s %.2f",
                         policy_choice_name(p, d, next, other, sizeof other), d->probs[next]);
            if (have_first)
                snprintf(at1, sizeof at1, "  %.2f", first->d[t].probs[d->choice]);
            printf("%-6s %5d  %-9s %-14s %6.2f %8.3f %4.0f%%  %-20s%s\n",
                   d->cell ? "reduce" : "normal", d->block, d->what,
                   policy_choice_name(p, d, d->choice, name, sizeof name), d->probs[d->choice],
                   d->entropy, d->n > 1 ? 100.0 * d->entropy / log((double)d->n) : 0.0, nx, at1);
        }
    }
out:
    free(p);
    store_close(st);
    return rc ? 1 : 0;
}

/* ---- export ---- */

static const char export_usage[] =
    "usage: cellar export DB [--json | --csv | --epochs | --trainings]\n"
    "\n"
    "Write every trial of a journal to stdout: JSON (the default: an array of\n"
    "objects with every field and the per-epoch metrics) or CSV (one row per\n"
    "trial, a header row first).  --epochs: CSV of the learning curves, one\n"
    "row per epoch of every trial (trial, epoch, train_loss, train_acc,\n"
    "val_acc, lr, seconds).  --trainings: CSV of the genotypes trained again\n"
    "by 'cellar train DB', one row each (training, trial, state, test_acc,\n"
    "val_acc, params, flops, seconds, dataset, train_images, test_images, N,\n"
    "F, epochs, batch, lr, backend, reason, genotype).  Numbers not known (a\n"
    "failed trial's reward, the validation accuracy of an epoch before the\n"
    "last) are null in JSON and empty in CSV.\n";

typedef struct exp_ctx {
    cl_store *st;
    int csv, epochs, first;
    cl_buf out;
    int failed;
    cl_err err;
} exp_ctx;

static void num(cl_buf *b, double v, int csv)
{
    if (isfinite(v))
        buf_printf(b, "%.10g", v);
    else if (!csv)
        buf_printf(b, "null");
}

static void str_json(cl_buf *b, const char *s)
{
    if (s)
        json_string(b, s);
    else
        buf_printf(b, "null");
}

static void str_csv(cl_buf *b, const char *s)
{
    if (!s)
        return;
    buf_printf(b, "\"");
    for (; *s; s++)
        buf_printf(b, *s == '"' ? "\"\"" : "%c", *s);
    buf_printf(b, "\"");
}

typedef struct metric_ctx {
    cl_buf *b;
    int first;
} metric_ctx;

static int add_metric(void *ud, const store_metric *m)
{
    metric_ctx *c = ud;
    buf_printf(c->b, "%s{\"epoch\":%d,\"train_loss\":", c->first ? "" : ",", m->epoch);
    num(c->b, m->train_loss, 0);
    buf_printf(c->b, ",\"train_acc\":");
    num(c->b, m->train_acc, 0);
    buf_printf(c->b, ",\"val_acc\":");
    num(c->b, m->val_acc, 0);
    buf_printf(c->b, ",\"lr\":");
    num(c->b, m->lr, 0);
    buf_printf(c->b, ",\"seconds\":");
    num(c->b, m->seconds, 0);
    buf_printf(c->b, "}");
    c->first = 0;
    return 0;
}

/* A trial as a JSON object with every field and its per-epoch metrics;
 * `more` (fields, "\"k\":v,...") goes before the closing brace. */
static int trial_json(cl_buf *b, cl_store *st, const store_trial *t, const char *more,
                      cl_err *err)
{
    metric_ctx m = {b, 1};
    int rc;
    buf_printf(b, "{\"id\":%lld,\"genotype\":", (long long)t->id);
    str_json(b, t->genotype);
    buf_printf(b, ",\"hash\":\"%s\",\"state\":\"%s\",\"reward\":", t->hash,
               trial_state_name(t->state));
    num(b, t->reward, 0);
    buf_printf(b, ",\"accuracy\":");
    num(b, t->accuracy, 0);
    buf_printf(b, ",\"params\":%lld,\"flops\":", (long long)t->params);
    num(b, t->flops, 0);
    buf_printf(b, ",\"seconds\":");
    num(b, t->seconds, 0);
    buf_printf(b, ",\"worker\":%d,\"recipe\":", t->worker);
    str_json(b, t->recipe);
    buf_printf(b, ",\"hash_recipe\":\"%s\",\"actions\":", t->hash_recipe);
    str_json(b, t->actions);
    buf_printf(b, ",\"logp\":");
    num(b, t->logp, 0);
    buf_printf(b, ",\"reason\":");
    str_json(b, t->reason);
    buf_printf(b, ",\"reused_from\":%lld,\"created\":", (long long)t->reused_from);
    num(b, t->created, 0);
    buf_printf(b, ",\"started\":");
    num(b, t->started, 0);
    buf_printf(b, ",\"finished\":");
    num(b, t->finished, 0);
    buf_printf(b, ",\"metrics\":[");
    rc = store_metric_each(st, t->id, add_metric, &m, err);
    buf_printf(b, "],\"trainings\":");
    rc = rc ? rc : trainings_json(b, st, t->id, err);
    buf_printf(b, "%s%s}", more ? "," : "", more ? more : "");
    return rc;
}

/* ---- trainings of the journal's genotypes (cellar train DB) ---- */

typedef struct train_walk {
    cl_store *st;
    cl_buf *b;          /* training_json's */
    const char *db;     /* training_row's heading */
    int n, rc;          /* rc: an inner read's failure, which stopped the walk */
    cl_err *err;
    int resumable;      /* training_row's: a stopped one with a checkpoint */
} train_walk;

/* stopped (not done, its process gone) with a checkpoint to go on from */
static int training_resumable(const store_training *t)
{
    return t->ckpt_epoch > 0 && t->state != TRIAL_DONE && !store_training_live(t);
}

/* a training as an object of `show --json` and `export` */
static int training_json(void *ud, const store_training *t)
{
    train_walk *w = ud;
    metric_ctx m = {w->b, 1};
    char state[400];
    store_training_state_text(t, state, sizeof state);
    buf_printf(w->b, "%s{\"id\":%lld,\"trial\":%lld,\"state\":\"%s\",\"status\":",
               w->n++ ? "," : "", (long long)t->id, (long long)t->trial,
               trial_state_name(t->state));
    json_string(w->b, state);
    buf_printf(w->b, ",\"test_acc\":");
    num(w->b, t->test_acc, 0);
    buf_printf(w->b, ",\"val_acc\":");
    num(w->b, t->val_acc, 0);
    buf_printf(w->b, ",\"params\":%lld,\"flops\":", (long long)t->params);
    num(w->b, t->flops, 0);
    buf_printf(w->b, ",\"seconds\":");
    num(w->b, t->seconds, 0);
    buf_printf(w->b, ",\"reason\":");
    str_json(w->b, t->reason);
    buf_printf(w->b, ",\"started\":");
    num(w->b, t->started, 0);
    buf_printf(w->b, ",\"finished\":");
    num(w->b, t->finished, 0);
    /* the epochs its checkpoint follows (gone once done) */
    if (t->ckpt_epoch > 0)
        buf_printf(w->b, ",\"checkpoint_epoch\":%d", t->ckpt_epoch);
    else
        buf_printf(w->b, ",\"checkpoint_epoch\":null");
    /* the settings as journaled: cellar's own JSON object */
    buf_printf(w->b, ",\"settings\":%s,\"genotype\":", t->settings ? t->settings : "null");
    str_json(w->b, t->genotype);
    buf_printf(w->b, ",\"epochs\":[");
    if ((w->rc = store_training_epoch_each(w->st, t->id, add_metric, &m, w->err)))
        return 1;
    buf_printf(w->b, "]}");
    return 0;
}

/* a training of one trial, as `show DB --trial` lists it: with its epochs */
static int training_record(void *ud, const store_training *t)
{
    train_walk *w = ud;
    epoch_rows rows = {0};
    char text[400];
    store_training_text(t, text, sizeof text);
    printf("\ntrained again (training %lld): %s\n", (long long)t->id, text);
    if (training_resumable(t))
        printf("'cellar train %s --resume %lld' goes on from its checkpoint after epoch %d\n",
               w->db, (long long)t->id, t->ckpt_epoch);
    w->rc = store_training_epoch_each(w->st, t->id, print_metric, &rows, w->err);
    return w->rc != 0;
}

/* a training as a row of the table under `show DB`'s leaderboard */
static int training_row(void *ud, const store_training *t)
{
    train_walk *w = ud;
    char ds[32], state[400], acc[16] = "-", secs[24] = "-";
    if (!w->n++)
        printf("\ntrained again ('cellar show %s --trial ID' has a trial's):\n%3s %6s  %-14s %3s "
               "%4s %6s %7s %9s %8s  %s\n",
               w->db, "#", "trial", "dataset", "N", "F", "epochs", "images", "test acc",
               "seconds", "state");
    store_training_setting_text(t, "dataset", ds, sizeof ds);
    store_training_state_text(t, state, sizeof state);
    if (isfinite(t->test_acc))
        snprintf(acc, sizeof acc, "%.2f%%", 100.0 * t->test_acc);
    if (isfinite(t->seconds))   /* none yet, or cut short */
        snprintf(secs, sizeof secs, "%.1f", t->seconds);
    printf("%3lld %6lld  %-14s %3.0f %4.0f %6.0f %7.0f %9s %8s  %s\n", (long long)t->id,
           (long long)t->trial, ds, store_training_setting(t, "N"),
           store_training_setting(t, "F"), store_training_setting(t, "epochs"),
           store_training_setting(t, "train_images"), acc, secs, state);
    w->resumable += training_resumable(t);
    return 0;
}

/* The trainings of trial `trial` as records, or, trial 0, all as a table. */
static int show_trainings(cl_store *st, const char *db, int64_t trial, cl_err *err)
{
    train_walk w = {st, NULL, db, 0, 0, err, 0};
    int rc = store_training_each(st, trial, trial ? training_record : training_row, &w, err);
    if (rc == CL_OK && w.rc == CL_OK && w.resumable)
        printf("('cellar train %s --resume #' goes on with a stopped one from its checkpoint)\n",
               db);
    return rc ? rc : w.rc;
}

static int trainings_json(cl_buf *b, cl_store *st, int64_t trial, cl_err *err)
{
    train_walk w = {st, b, NULL, 0, 0, err, 0};
    int rc;
    buf_printf(b, "[");
    rc = store_training_each(st, trial, training_json, &w, err);
    buf_printf(b, "]");
    return rc ? rc : w.rc;
}

/* an epoch as a row of `export --epochs` */
static int add_epoch_row(void *ud, const store_metric *m)
{
    cl_buf *b = ud;
    buf_printf(b, "%lld,%d,", (long long)m->trial, m->epoch);
    num(b, m->train_loss, 1);
    buf_printf(b, ",");
    num(b, m->train_acc, 1);
    buf_printf(b, ",");
    num(b, m->val_acc, 1);
    buf_printf(b, ",");
    num(b, m->lr, 1);
    buf_printf(b, ",");
    num(b, m->seconds, 1);
    buf_printf(b, "\n");
    return 0;
}

static int add_trial(void *ud, const store_trial *t)
{
    exp_ctx *c = ud;
    cl_buf *b = &c->out;
    if (c->epochs) {
        c->failed = store_metric_each(c->st, t->id, add_epoch_row, b, &c->err);
    } else if (c->csv) {
        buf_printf(b, "%lld,%s,%s,", (long long)t->id, t->hash, trial_state_name(t->state));
        num(b, t->reward, 1);
        buf_printf(b, ",");
        num(b, t->accuracy, 1);
        buf_printf(b, ",%lld,", (long long)t->params);
        num(b, t->flops, 1);
        buf_printf(b, ",");
        num(b, t->seconds, 1);
        buf_printf(b, ",%d,%s,%lld,", t->worker, t->hash_recipe, (long long)t->reused_from);
        str_csv(b, t->reason);
        buf_printf(b, ",");
        str_csv(b, t->genotype);
        buf_printf(b, "\n");
    } else {
        buf_printf(b, "%s\n", c->first ? "" : ",");
        c->failed = trial_json(b, c->st, t, NULL, &c->err);
    }
    c->first = 0;
    /* write as we go: a journal can hold many trials */
    if (b->len > (1 << 16)) {
        fwrite(b->s, 1, b->len, stdout);
        b->len = 0;
        b->s[0] = '\0';
    }
    return c->failed;
}

/* ---- show DB --trial ID ---- */

static int print_metric(void *ud, const store_metric *m)
{
    epoch_rows *r = ud;
    char row[128];
    if (!r->n++)
        printf("\n%s\n", STORE_METRIC_HEAD);
    store_metric_text(m, row, sizeof row);
    printf("%s\n", row);
    return 0;
}

/* a time of the journal's (seconds since the epoch) as local time */
static const char *when(double t, char *out, size_t cap)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (!isfinite(t) || !localtime_r(&s, &tm) || !strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(out, cap, "?");
    return out;
}

int show_trial(const char *db, long id, int json)
{
    cl_err err = {0};
    cl_store *st = NULL;
    store_trial t;
    store_experiment x;
    int rank, ranked, rc;
    memset(&x, 0, sizeof x);
    if ((rc = journal_trial(db, id, &st, &t, &rank, &ranked, &err)) ||
        (rc = store_experiment_get(st, &x, &err))) {
        cli_fail("show", &err);
        goto out;
    }
    if (json) {
        cl_buf js = {0};
        char more[64];
        snprintf(more, sizeof more, "\"rank\":%d,\"ranked\":%d", rank, ranked);
        rc = trial_json(&js, st, &t, more, &err);
        if (rc)
            cli_fail("show", &err);
        else
            printf("%s\n", js.s);
        buf_free(&js);
        goto out;
    }
    {
        const char *g = t.genotype ? t.genotype : "?", *reduce;
        int half = geno_text_halves(g, &reduce);
        char a[32], b[32];
        epoch_rows rows = {0};
        printf("trial %lld of %s (journal %s): %s", (long long)t.id, x.name ? x.name : "?", db,
               trial_state_name(t.state));
        if (rank)
            printf(", rank %d of %d%s", rank, ranked, id <= 0 ? " (the best)" : "");
        else if (t.state == TRIAL_DONE)
            printf(" (with an earlier recipe: not ranked)");
        printf("\ngenotype: %.*s\n", half, g);
        if (*reduce)
            printf("          %s\n", reduce);
        printf("hash: %s\n", t.hash);
        if (isfinite(t.reward))
            printf("reward: %.4f (accuracy %.4f on the held-out images)\n", t.reward, t.accuracy);
        if (t.reused_from)
            printf("reused: the result of trial %lld (the same cell, the same recipe)\n",
                   (long long)t.reused_from);
        if (t.state == TRIAL_FAILED)
            printf("failed: %s\n", t.reason ? t.reason : "?");
        else if (t.reason)   /* a done trial's reason: stopped early */
            printf("%s\n", t.reason);
        if (t.params)
            printf("network: %lld parameters, %.2f MFLOPs per image, forward\n",
                   (long long)t.params, t.flops / 1e6);
        if (isfinite(t.started))
            printf("time: started %s", when(t.started, a, sizeof a));
        if (isfinite(t.finished))
            printf(", finished %s (%.1f s training and validation)", when(t.finished, b, sizeof b),
                   t.seconds);
        if (isfinite(t.started))
            printf("\n");
        printf("recipe: %s\n", t.recipe ? t.recipe : "?");
        if (t.actions)
            printf("decisions: %s", t.actions);
        if (t.actions && isfinite(t.logp))
            printf(" (log-probability %.3f when sampled)", t.logp);
        if (t.actions)
            printf("\n");
        if ((rc = store_metric_each(st, t.id, print_metric, &rows, &err))) {
            cli_fail("show", &err);
            goto out;
        }
        if (!rows.n && t.reused_from)
            printf("\n(no epochs of its own: 'cellar show %s --trial %lld' has them)\n", db,
                   (long long)t.reused_from);
        else if (!rows.n && t.state == TRIAL_RUNNING)
            printf("\n(no epoch finished yet)\n");
        if ((rc = show_trainings(st, db, t.id, &err))) {
            cli_fail("show", &err);
            goto out;
        }
        if (t.genotype)
            printf("\ndraw it: cellar render %s --trial %lld; train it on its own: cellar train "
                   "%s --trial %lld\n", db, (long long)t.id, db, (long long)t.id);
    }
out:
    store_experiment_clear(&x);
    store_trial_clear(&t);
    store_close(st);
    return rc ? 1 : 0;
}

/* a training as a row of `export --trainings` */
static int add_training_row(void *ud, const store_training *t)
{
    static const char *const nums[] = {"train_images", "test_images", "N", "F", "epochs",
                                       "batch", "lr"};
    cl_buf *b = ud;
    char text[64];
    buf_printf(b, "%lld,%lld,%s,", (long long)t->id, (long long)t->trial,
               trial_state_name(t->state));
    num(b, t->test_acc, 1);
    buf_printf(b, ",");
    num(b, t->val_acc, 1);
    buf_printf(b, ",%lld,", (long long)t->params);
    num(b, t->flops, 1);
    buf_printf(b, ",");
    num(b, t->seconds, 1);
    store_training_setting_text(t, "dataset", text, sizeof text);
    buf_printf(b, ",");
    str_csv(b, text);
    for (size_t i = 0; i < CL_ARRAY_LEN(nums); i++) {
        buf_printf(b, ",");
        num(b, store_training_setting(t, nums[i]), 1);
    }
    store_training_setting_text(t, "backend", text, sizeof text);
    buf_printf(b, ",%s,", text);
    str_csv(b, t->reason);
    buf_printf(b, ",");
    str_csv(b, t->genotype);
    buf_printf(b, "\n");
    return 0;
}

static int run_export(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0, csv = 0, epochs = 0, trainings = 0, code, rc;
    cli_opt opts[] = {{"json", OPT_FLAG, &json, 0, 0, 0},
                      {"csv", OPT_FLAG, &csv, 0, 0, 0},
                      {"epochs", OPT_FLAG, &epochs, 0, 0, 0},
                      {"trainings", OPT_FLAG, &trainings, 0, 0, 0}};
    cl_err err = {0};
    exp_ctx c;
    if (cli_parse(&cmd_export, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    if (!db) {
        fprintf(stderr, "cellar export: which journal? (cellar export FILE.db --json)\n");
        return 2;
    }
    if (json + csv + epochs + trainings > 1) {
        fprintf(stderr, "cellar export: one of --json, --csv, --epochs and --trainings\n");
        return 2;
    }
    memset(&c, 0, sizeof c);
    c.csv = csv || epochs || trainings;
    c.epochs = epochs;
    c.first = 1;
    if ((rc = store_open(db, &c.st, &err)))
        return cli_fail("export", &err);
    if (trainings)
        buf_printf(&c.out, "training,trial,state,test_acc,val_acc,params,flops,seconds,dataset,"
                           "train_images,test_images,N,F,epochs,batch,lr,backend,reason,"
                           "genotype\n");
    else if (epochs)
        buf_printf(&c.out, "trial,epoch,train_loss,train_acc,val_acc,lr,seconds\n");
    else if (csv)
        buf_printf(&c.out, "id,hash,state,reward,accuracy,params,flops,seconds,worker,"
                           "hash_recipe,reused_from,reason,genotype\n");
    else
        buf_printf(&c.out, "[");
    rc = trainings ? store_training_each(c.st, 0, add_training_row, &c.out, &err)
                   : store_trial_each(c.st, -1, add_trial, &c, &err);
    if (!c.csv)
        buf_printf(&c.out, "\n]\n");
    if (rc || c.failed) {
        buf_free(&c.out);
        store_close(c.st);
        return cli_fail("export", c.failed ? &c.err : &err);
    }
    fwrite(c.out.s, 1, c.out.len, stdout);
    buf_free(&c.out);
    store_close(c.st);
    return 0;
}

const cli_cmd cmd_export = {"export", "every trial of a journal as JSON or CSV", export_usage,
                            run_export};
