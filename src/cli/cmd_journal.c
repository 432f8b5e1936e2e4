/* cmd_journal.c - reading a journal: `cellar show DB` (the leaderboard)
 * and `cellar export DB` (every trial, as JSON or CSV).  Both only read,
 * so they work on the journal of a search that is still running. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/store.h"

/* ---- show DB ---- */

typedef struct board {
    store_trial *t;
    int n, cap;
    int64_t pending, running, done, failed;
    char last_recipe[17];
} board;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int collect(void *ud, const store_trial *t)
{
    board *b = ud;
    store_trial c;
    if (t->state == TRIAL_PENDING)
        b->pending++;
    else if (t->state == TRIAL_RUNNING)
        b->running++;
    else if (t->state == TRIAL_FAILED)
        b->failed++;
    else
        b->done++;
    snprintf(b->last_recipe, sizeof b->last_recipe, "%s", t->hash_recipe);
    if (t->state != TRIAL_DONE)
        return 0;
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        store_trial *p = realloc(b->t, (size_t)cap * sizeof *p);
        if (!p)
            return 1;
        b->t = p;
        b->cap = cap;
    }
    c = *t;
    c.genotype = dup_or_null(t->genotype);
    c.recipe = dup_or_null(t->recipe);
    c.actions = NULL;
    c.reason = NULL;
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

typedef struct last_step {
    int64_t step;
    double entropy, reward_ema;
} last_step;

static int take_step(void *ud, const store_ctrl_step *s)
{
    last_step *l = ud;
    l->step = s->step;
    l->entropy = s->entropy;
    l->reward_ema = s->reward_ema;
    return 0;
}

int show_journal(const char *db, int top, int json)
{
    cl_err err = {0};
    cl_store *st = NULL;
    store_experiment x;
    board b;
    last_step ls = {0, NAN, NAN};
    int other = 0, shown = 0, rc;
    long pid;
    memset(&b, 0, sizeof b);
    memset(&x, 0, sizeof x);
    if ((rc = store_open(db, &st, &err)) || (rc = store_experiment_get(st, &x, &err)) ||
        (rc = store_trial_each(st, -1, collect, &b, &err)) ||
        (rc = store_ctrl_step_each(st, take_step, &ls, &err))) {
        cli_fail("show", &err);
        goto out;
    }
    /* rank only trials trained with the newest recipe: results of another
     * recipe (more epochs, say) do not compare */
    {
        int k = 0;
        for (int i = 0; i < b.n; i++) {
            if (strcmp(b.t[i].hash_recipe, b.last_recipe)) {
                other++;
                free(b.t[i].genotype);
                free(b.t[i].recipe);
                continue;
            }
            b.t[k++] = b.t[i];
        }
        b.n = k;
    }
    qsort(b.t, (size_t)b.n, sizeof *b.t, by_reward);
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
                            "\"params\":%lld,\"flops\":%.0f,\"seconds\":%.3f,\"genotype\":",
                       i ? "," : "", i + 1, (long long)b.t[i].id, b.t[i].reward,
                       b.t[i].accuracy, (long long)b.t[i].params, b.t[i].flops, b.t[i].seconds);
            json_string(&js, b.t[i].genotype ? b.t[i].genotype : "");
            buf_printf(&js, "}");
        }
        buf_printf(&js, "]}");
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
    if (pid > 0)
        printf("search: running (cellar process %ld)\n", pid);
    else if (!pid)
        printf("search: not running ('cellar resume %s' continues it%s)\n", db,
               b.running || b.pending ? "" : " if it stopped before its budget");
    if (ls.step)
        printf("controller: %lld updates; entropy %.3f, reward average %.4f\n", (long long)ls.step,
               ls.entropy, ls.reward_ema);
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
    if (other)
        printf("(%d trials trained with an earlier recipe are not ranked here)\n", other);
out:
    for (int i = 0; i < b.n; i++) {
        free(b.t[i].genotype);
        free(b.t[i].recipe);
    }
    free(b.t);
    store_experiment_clear(&x);
    store_close(st);
    return rc ? 1 : 0;
}

/* ---- export ---- */

static const char export_usage[] =
    "usage: cellar export DB [--json | --csv]\n"
    "\n"
    "Write every trial of a journal to stdout: JSON (the default: an array of\n"
    "objects with every field and the per-epoch metrics) or CSV (one row per\n"
    "trial, a header row first).  Numbers not known (a failed trial's reward)\n"
    "are null in JSON and empty in CSV.\n";

typedef struct exp_ctx {
    cl_store *st;
    int csv, first;
    cl_buf out;
    int failed;
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

static int add_metric(void *ud, const store_metric *m)
{
    exp_ctx *c = ud;
    buf_printf(&c->out, "%s{\"epoch\":%d,\"train_loss\":", c->first ? "" : ",", m->epoch);
    num(&c->out, m->train_loss, 0);
    buf_printf(&c->out, ",\"train_acc\":");
    num(&c->out, m->train_acc, 0);
    buf_printf(&c->out, ",\"val_acc\":");
    num(&c->out, m->val_acc, 0);
    buf_printf(&c->out, ",\"lr\":");
    num(&c->out, m->lr, 0);
    buf_printf(&c->out, ",\"seconds\":");
    num(&c->out, m->seconds, 0);
    buf_printf(&c->out, "}");
    c->first = 0;
    return 0;
}

static int add_trial(void *ud, const store_trial *t)
{
    exp_ctx *c = ud;
    cl_buf *b = &c->out;
    cl_err err = {0};
    if (c->csv) {
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
        buf_printf(b, "%s\n{\"id\":%lld,\"genotype\":", c->first ? "" : ",", (long long)t->id);
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
        c->first = 1;
        if (store_metric_each(c->st, t->id, add_metric, c, &err))
            c->failed = 1;
        buf_printf(b, "]}");
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

static int run_export(int argc, char **argv)
{
    const char *db = NULL;
    int json = 0, csv = 0, code, rc;
    cli_opt opts[] = {{"json", OPT_FLAG, &json, 0, 0, 0}, {"csv", OPT_FLAG, &csv, 0, 0, 0}};
    cl_err err = {0};
    exp_ctx c;
    if (cli_parse(&cmd_export, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    if (!db) {
        fprintf(stderr, "cellar export: which journal? (cellar export FILE.db --json)\n");
        return 2;
    }
    if (json && csv) {
        fprintf(stderr, "cellar export: --json or --csv, not both\n");
        return 2;
    }
    memset(&c, 0, sizeof c);
    c.csv = csv;
    c.first = 1;
    if ((rc = store_open(db, &c.st, &err)))
        return cli_fail("export", &err);
    if (csv)
        buf_printf(&c.out, "id,hash,state,reward,accuracy,params,flops,seconds,worker,"
                           "hash_recipe,reused_from,reason,genotype\n");
    else
        buf_printf(&c.out, "[");
    rc = store_trial_each(c.st, -1, add_trial, &c, &err);
    if (!csv)
        buf_printf(&c.out, "\n]\n");
    if (rc || c.failed) {
        buf_free(&c.out);
        store_close(c.st);
        return cli_fail("export", &err);
    }
    fwrite(c.out.s, 1, c.out.len, stdout);
    buf_free(&c.out);
    store_close(c.st);
    return 0;
}

const cli_cmd cmd_export = {"export", "every trial of a journal as JSON or CSV", export_usage,
                            run_export};
