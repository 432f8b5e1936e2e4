/* test_search.c - the engine on real data with tiny children: every
 * strategy runs a search to its budget and journals it; the controller
 * strategies update and journal their steps; evolution mutates one
 * decision; commands pause, step, set and are journaled; a child that
 * diverges becomes a failed trial and the search goes on; a duplicate
 * reuses its earlier reward; and a search interrupted in the middle of a
 * trial, resumed, ends exactly as an uninterrupted one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/dataset.h"
#include "search/engine.h"
#include "search/strategy.h"

static cl_backend *be;
static char dir[] = "/tmp/cellar-search-XXXXXX";

typedef struct outcome {
    int n;
    char geno[32][GENO_TEXT_MAX];
    double reward[32];
    int64_t id[32];
    int starts, ends, updates, epochs, failed;
    int max_running;   /* most trials in hand at once */
} outcome;

static void small(experiment *x, const char *strategy, int budget)
{
    experiment_defaults(x);
    snprintf(x->name, sizeof x->name, "t-%s", strategy);
    snprintf(x->dataset, sizeof x->dataset, "fashion-mnist");
    snprintf(x->strategy, sizeof x->strategy, "%s", strategy);
    x->train_images = 96;
    x->val_images = 64;
    x->budget = budget;
    x->seed = 5;
    x->child.N = 1;
    x->child.F = 4;
    x->child.epochs = 1;
    x->child.batch = 32;
    x->strat.batch = 3;
    x->strat.hidden = 16;
    x->strat.population = 3;
    x->strat.sample = 2;
    /* the cheaper ops keep the test short */
    x->space.n_ops = 4;
    x->space.ops[0] = OP_IDENTITY;
    x->space.ops[1] = OP_AVG_POOL_3X3;
    x->space.ops[2] = OP_MAX_POOL_3X3;
    x->space.ops[3] = OP_SEP_CONV_3X3;
    x->space.B = 3;
}

static void take(outcome *o, const engine_event *ev)
{
    if (ev->kind == EV_TRIAL_START)
        o->starts++;
    else if (ev->kind == EV_EPOCH)
        o->epochs++;
    else if (ev->kind == EV_CONTROLLER)
        o->updates++;
    else if (ev->kind == EV_TRIAL_END) {
        o->ends++;
        if (ev->tstate == TRIAL_FAILED)
            o->failed++;
        if (o->n < 32) {
            snprintf(o->geno[o->n], GENO_TEXT_MAX, "%s", ev->genotype);
            o->reward[o->n] = ev->reward;
            o->id[o->n] = ev->trial;
            o->n++;
        }
    }
}

/* Run until done, or (stop_trial > 0) until that trial has trained a few
 * steps, then abandon the engine as a killed process would. */
static int run(const experiment *x, const char *db, int resume, int stop_trial, outcome *o,
               cl_err *err)
{
    cl_store *st = NULL;
    cl_engine *e = NULL;
    engine_event ev;
    int rc, steps_in = 0;
    if ((rc = resume ? store_open(db, &st, err) : store_create(db, 1, &st, err)) ||
        (rc = engine_open(x, st, be, resume, &e, err))) {
        store_close(st);
        return rc;
    }
    while (engine_get_state(e) == ENGINE_RUNNING) {
        engine_status s;
        if ((rc = engine_step(e, 2, err)))
            break;
        while (engine_next_event(e, &ev))
            take(o, &ev);
        engine_get_status(e, &s);
        if (s.running > o->max_running)
            o->max_running = s.running;
        if (stop_trial && s.current_trial == stop_trial && s.step > 0 && ++steps_in >= 2)
            break;
    }
    while (engine_next_event(e, &ev))
        take(o, &ev);
    engine_free(e);
    store_close(st);
    return rc;
}

static int count_rows(const char *db, int state)
{
    cl_store *st;
    cl_err err = {0};
    int64_t p = 0, r = 0, d = 0, f = 0;
    if (store_open(db, &st, &err))
        return -1;
    store_trial_counts(st, &p, &r, &d, &f, &err);
    store_close(st);
    return (int)(state == TRIAL_DONE ? d : state == TRIAL_FAILED ? f : state == TRIAL_RUNNING ? r : p);
}

/* controller steps journaled with their per-decision probabilities */
static int count_step(void *ud, const store_ctrl_step *s)
{
    int *n = ud;
    *n += s->decisions && strstr(s->decisions, "\"probs\"") && isfinite(s->entropy);
    return 0;
}

/* a "set lr" command journaled with its source, old and new values */
static int journaled(void *ud, const store_command *c)
{
    int *found = ud;
    if (c->name && !strcmp(c->name, "set lr") && c->new_value && !strcmp(c->new_value, "0.001") &&
        c->old_value && atof(c->old_value) == 0.00035 && c->source && !strcmp(c->source, "test"))
        (*found)++;
    return 0;
}

static void path(char *out, const char *name) { snprintf(out, 512, "%s/%s", dir, name); }

static void test_strategies(void)
{
    const char *names[] = {"random", "ppo", "reinforce", "evolution"};
    for (int i = 0; i < 4; i++) {
        experiment x;
        outcome o;
        cl_err err = {0};
        char db[512];
        int rc;
        memset(&o, 0, sizeof o);
        small(&x, names[i], 7);
        path(db, names[i]);
        strcat(db, ".db");
        rc = run(&x, db, 0, 0, &o, &err);
        CHECK(rc == CL_OK && o.ends == 7 && o.starts == 7 && count_rows(db, TRIAL_DONE) == 7,
              "%s: a search of 7 trials runs to its budget, all journaled done (%s)", names[i],
              rc ? err.msg : "ok");
        CHECK(o.epochs >= 7, "%s: epoch events come with each trial (%d)", names[i], o.epochs);
        if (!strcmp(names[i], "ppo") || !strcmp(names[i], "reinforce")) {
            cl_store *st;
            int rows = 0;
            CHECK(o.updates == 2, "%s: a batch of 3 makes 2 controller updates in 7 trials (%d)",
                  names[i], o.updates);
            if (!store_open(db, &st, &err)) {
                rows = 0;
                store_ctrl_step_each(st, 0, count_step, &rows, &err);
                store_close(st);
            }
            CHECK(rows == 2, "%s: the journal holds the 2 controller steps with their decisions",
                  names[i]);
        }
        if (!strcmp(names[i], "evolution")) {
            /* after 3 random members, each child differs from one of the
             * earlier architectures in exactly one decision */
            int ok = 1;
            cl_genotype g[7];
            int acts[7][SPACE_MAX_DECISIONS], nd;
            int nc[SPACE_MAX_DECISIONS];
            nd = space_decisions(&x.space, nc);
            for (int k = 0; k < 7; k++)
                if (geno_parse(o.geno[k], &g[k], &err) || space_encode(&x.space, &g[k], acts[k], &err))
                    ok = 0;
            for (int k = 3; k < 7 && ok; k++) {
                int near = 0;
                for (int j = 0; j < k; j++) {
                    int diff = 0;
                    for (int t = 0; t < nd; t++)
                        diff += acts[k][t] != acts[j][t];
                    near |= diff == 1;
                }
                ok = near;
            }
            CHECK(ok, "evolution: trials 4 to 7 are one-decision mutations of earlier ones");
        }
    }
}


static void test_resume(void)
{
    experiment x;
    outcome a, b;
    cl_err err = {0};
    char da[512], dbb[512];
    int same = 1, rc;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    small(&x, "ppo", 8);
    path(da, "whole.db");
    path(dbb, "cut.db");
    rc = run(&x, da, 0, 0, &a, &err);
    CHECK(rc == CL_OK && a.n == 8, "resume: the uninterrupted search runs (%s)", rc ? err.msg : "ok");
    rc = run(&x, dbb, 0, 5, &b, &err);
    CHECK(rc == CL_OK && b.n == 4 && count_rows(dbb, TRIAL_RUNNING) == 1,
          "resume: abandoned in the middle of trial 5, the journal has 4 finished and 1 running");
    rc = run(&x, dbb, 1, 0, &b, &err);
    CHECK(rc == CL_OK && b.n == 8, "resume: the resumed search runs to the budget (%s)",
          rc ? err.msg : "ok");
    for (int i = 0; i < 8 && i < b.n; i++)
        same &= !strcmp(a.geno[i], b.geno[i]) && a.reward[i] == b.reward[i] && b.id[i] == i + 1;
    CHECK(same && b.n == 8, "resume: the same 8 genotypes with bit-identical rewards, ids 1..8");
    CHECK(count_rows(dbb, TRIAL_DONE) == 8 && count_rows(dbb, TRIAL_RUNNING) == 0 &&
              count_rows(dbb, TRIAL_PENDING) == 0,
          "resume: the journal holds 8 done trials, none lost or duplicated");
    {
        /* resuming a finished search does nothing */
        outcome c;
        memset(&c, 0, sizeof c);
        rc = run(&x, dbb, 1, 0, &c, &err);
        CHECK(rc == CL_OK && c.n == 0, "resume: a finished search stays finished");
    }
    {
        /* another experiment cannot take over a journal */
        experiment y;
        outcome c;
        memset(&c, 0, sizeof c);
        small(&y, "ppo", 8);
        y.child.epochs = 2;
        rc = run(&y, dbb, 1, 0, &c, &err);
        CHECK(rc != CL_OK && strstr(err.msg, "another experiment"),
              "resume: a journal refuses an experiment with other settings: %s", err.msg);
    }
}

/* Several trials in hand at once (on the CPU only when asked for). */
static void test_parallel(void)
{
    experiment x;
    outcome one, two, cut;
    cl_err err = {0};
    char d1[512], d2[512], d3[512];
    int same = 1, ids = 1, rc;
    memset(&one, 0, sizeof one);
    memset(&two, 0, sizeof two);
    memset(&cut, 0, sizeof cut);
    small(&x, "random", 7);
    path(d1, "one.db");
    path(d2, "two.db");
    path(d3, "cut2.db");
    rc = run(&x, d1, 0, 0, &one, &err);
    CHECK(rc == CL_OK && one.n == 7 && one.max_running == 1,
          "parallel: on the CPU one trial at a time by default (%s)", rc ? err.msg : "ok");
    x.parallel = 2;
    rc = run(&x, d2, 0, 0, &two, &err);
    CHECK(rc == CL_OK && two.n == 7 && two.max_running == 2,
          "parallel = 2: two trials in hand at once, 7 finished (%s)", rc ? err.msg : "ok");
    /* random proposals do not depend on results, and a child's weights and
     * batches on its id: the same trials, the same rewards, whatever the order */
    for (int i = 0; i < 7 && i < two.n; i++) {
        int j = (int)two.id[i] - 1;
        ids &= j >= 0 && j < 7;
        if (j >= 0 && j < 7)
            same &= !strcmp(one.geno[j], two.geno[i]) && one.reward[j] == two.reward[i];
    }
    CHECK(ids && same, "parallel = 2 trains the same genotypes to bit-identical rewards as one "
                       "at a time");
    CHECK(count_rows(d2, TRIAL_DONE) == 7 && count_rows(d2, TRIAL_RUNNING) == 0,
          "parallel = 2: the journal holds 7 done trials");
    /* killed with two trials in hand, resumed: none lost or duplicated */
    rc = run(&x, d3, 0, 4, &cut, &err);
    CHECK(rc == CL_OK && count_rows(d3, TRIAL_RUNNING) + count_rows(d3, TRIAL_PENDING) == 2,
          "parallel = 2: abandoned while trial 4 trains, two trials are unfinished (%d running)",
          count_rows(d3, TRIAL_RUNNING));
    rc = run(&x, d3, 1, 0, &cut, &err);
    CHECK(rc == CL_OK && count_rows(d3, TRIAL_DONE) == 7 && count_rows(d3, TRIAL_RUNNING) == 0 &&
              count_rows(d3, TRIAL_PENDING) == 0,
          "parallel = 2: resumed, 7 done trials and nothing unfinished (%s)", rc ? err.msg : "ok");
    {
        int64_t p = -1, r = -1, d = -1, f = -1;
        cl_store *st;
        if (store_open(d3, &st, &err) == CL_OK) {
            store_trial_counts(st, &p, &r, &d, &f, &err);
            store_close(st);
        }
        CHECK(p + r + d + f == 7, "parallel = 2: 7 trials in the journal in all: the interrupted "
                                  "ones ran again under their ids");
    }
    x.parallel = 17;
    CHECK(experiment_validate(&x, &err) != CL_OK && strstr(err.msg, "parallel"),
          "parallel beyond 16 is refused: %s", err.msg);
}

static void test_commands(void)
{
    experiment x;
    cl_store *st = NULL;
    cl_engine *e = NULL;
    cl_err err = {0};
    char db[512];
    engine_event ev;
    engine_status s;
    double v = 0;
    int rc, starts = 0, found = 0;
    small(&x, "ppo", 5);
    path(db, "cmd.db");
    if (store_create(db, 1, &st, &err) || engine_open(&x, st, be, 0, &e, &err)) {
        CHECK(0, "commands: the engine opens (%s)", err.msg);
        store_close(st);
        return;
    }
    rc = engine_command(e, CMD_PAUSE, NULL, 0, "test", &err);
    for (int i = 0; i < 20; i++)
        engine_step(e, 2, &err);
    while (engine_next_event(e, &ev))
        starts += ev.kind == EV_TRIAL_START;
    CHECK(rc == CL_OK && engine_get_state(e) == ENGINE_PAUSED && starts == 0,
          "pause: no trial starts while paused");
    rc = engine_command(e, CMD_STEP, NULL, 0, "test", &err);
    for (int i = 0; i < 400 && engine_get_state(e) == ENGINE_RUNNING; i++)
        engine_step(e, 4, &err);
    engine_get_status(e, &s);
    CHECK(rc == CL_OK && engine_get_state(e) == ENGINE_PAUSED && s.done == 1,
          "step: one trial runs while paused, then the search pauses again (%lld done)",
          (long long)s.done);
    rc = engine_command(e, CMD_SET, "lr", 0.001, "test", &err);
    CHECK(rc == CL_OK && engine_get(e, "lr", &v, &err) == CL_OK && v == 0.001,
          "set lr 0.001 takes effect");
    rc = engine_command(e, CMD_SET, "child.epochs", 0, "test", &err);
    CHECK(rc != CL_OK && strstr(err.msg, "child.epochs"), "set child.epochs 0 is refused: %s",
          err.msg);
    rc = engine_command(e, CMD_SET, "warp", 1, "test", &err);
    CHECK(rc != CL_OK && strstr(err.msg, "valid:") && strstr(err.msg, "entropy_weight"),
          "an unknown setting lists the valid ones: %s", err.msg);
    rc = engine_command(e, CMD_SET, "budget", 2, "test", &err);
    engine_command(e, CMD_RESUME, NULL, 0, "test", &err);
    for (int i = 0; i < 2000 && engine_get_state(e) == ENGINE_RUNNING; i++)
        engine_step(e, 4, &err);
    engine_get_status(e, &s);
    CHECK(rc == CL_OK && engine_get_state(e) == ENGINE_DONE && s.done == 2,
          "set budget 2: the search finishes after 2 trials");
    engine_free(e);
    store_command_each(st, 0, journaled, &found, &err);
    store_close(st);
    CHECK(found == 1, "the journal's commands hold 'set lr' with its old and new values");
}


static int count_metrics(void *ud, const store_metric *m)
{
    double *v = ud;   /* [rows, val_acc of the last] */
    v[0] += 1;
    v[1] = m->val_acc;
    return 0;
}

/* a trial stopped early: validated at its epoch's end, done with the reason */
static void test_stop_trial(void)
{
    experiment x;
    cl_store *st = NULL;
    cl_engine *e = NULL;
    cl_err err = {0};
    char db[512], end_text[256] = "";
    engine_event ev;
    engine_status s;
    store_trial t;
    double m1[2] = {0, NAN}, m2[2] = {0, NAN}, reward1 = NAN;
    int rc, stopping = -1, again = -1, other = -1, midway = 0, epochs1 = 0;
    small(&x, "random", 2);
    x.child.epochs = 3;
    path(db, "stop.db");
    if (store_create(db, 1, &st, &err) || engine_open(&x, st, be, 0, &e, &err)) {
        CHECK(0, "stop: the engine opens (%s)", err.msg);
        store_close(st);
        return;
    }
    /* into trial 1's first epoch, then asked to stop */
    for (int i = 0; i < 400 && engine_get_state(e) == ENGINE_RUNNING; i++) {
        engine_step(e, 1, &err);
        engine_get_status(e, &s);
        if (s.current_trial == 1 && s.step > 0 && s.epoch == 0) {
            midway = 1;
            break;
        }
    }
    rc = engine_stop_trial(e, 1, "test asked", "test", &stopping, &err);
    engine_stop_trial(e, 1, "twice", "test", &again, &err);
    engine_stop_trial(e, 7, "no such", "test", &other, &err);
    CHECK(midway && rc == CL_OK && stopping == 1 && again == 0 && other == 0,
          "stop_trial: trial 1, in its first epoch, will stop; asked again or for a trial not "
          "training, nothing (%d %d %d)", stopping, again, other);
    for (int i = 0; i < 4000 && engine_get_state(e) == ENGINE_RUNNING; i++) {
        engine_step(e, 4, &err);
        while (engine_next_event(e, &ev)) {
            if (ev.kind == EV_EPOCH && ev.trial == 1)
                epochs1++;
            if (ev.kind == EV_TRIAL_END && ev.trial == 1) {
                snprintf(end_text, sizeof end_text, "%s", ev.text);
                reward1 = ev.reward;
            }
        }
    }
    CHECK(engine_get_state(e) == ENGINE_DONE && !strcmp(end_text, "stopped after epoch 1 of 3: test asked"),
          "... it ends its first epoch, then is validated and done: '%s'", end_text);
    CHECK(epochs1 == 2, "... its epoch 1 reported twice, the second with validation (%d)", epochs1);
    store_metric_each(st, 1, count_metrics, m1, &err);
    store_metric_each(st, 2, count_metrics, m2, &err);
    CHECK(m1[0] == 1 && m1[1] == reward1 && m2[0] == 3 && isfinite(m2[1]),
          "... one epoch journaled, with its validation accuracy as the reward (%g rows, %g); "
          "trial 2 all 3 (%g)", m1[0], m1[1], m2[0]);
    if (store_trial_get(st, 1, &t, &err) == CL_OK) {
        CHECK(t.state == TRIAL_DONE && t.reason && strstr(t.reason, "stopped after epoch 1 of 3"),
              "... the journal's trial is done with the reason (%s)", t.reason ? t.reason : "-");
        store_trial_clear(&t);
    }
    if (store_trial_get(st, 2, &t, &err) == CL_OK) {
        CHECK(t.state == TRIAL_DONE && !t.reason, "... trial 2, not stopped, has no reason");
        store_trial_clear(&t);
    }
    engine_free(e);
    store_close(st);
}

static void test_failures_and_duplicates(void)
{
    experiment x;
    outcome o;
    cl_err err = {0};
    char db[512];
    int rc;
    memset(&o, 0, sizeof o);
    small(&x, "random", 3);
    sched_constant(&x.child.lr, 10);   /* the largest the recipe allows: far too large */
    x.child.momentum = 0.9;
    x.train_images = 192;               /* six steps, on images over which all three */
    x.val_images = 96;                  /* children diverge (three steps do not) */
    path(db, "diverge.db");
    rc = run(&x, db, 0, 0, &o, &err);
    CHECK(rc == CL_OK && o.failed == 3 && count_rows(db, TRIAL_FAILED) == 3,
          "children that diverge become failed trials and the search goes on (%s)",
          rc ? err.msg : "ok");
    {
        cl_store *st;
        store_trial t;
        memset(&t, 0, sizeof t);
        if (!store_open(db, &st, &err)) {
            store_trial_get(st, 1, &t, &err);
            CHECK(t.reason && strstr(t.reason, "diverged"), "a failed trial keeps its reason: %s",
                  t.reason ? t.reason : "(none)");
            store_trial_clear(&t);
            store_close(st);
        }
    }

    /* a space with one architecture: the second and third trials reuse the first's result */
    memset(&o, 0, sizeof o);
    small(&x, "random", 3);
    x.space.B = 1;
    x.space.inputs = 1;
    x.space.n_ops = 1;
    x.space.n_combs = 1;
    x.reuse_duplicates = 1;
    path(db, "dup.db");
    rc = run(&x, db, 0, 0, &o, &err);
    CHECK(rc == CL_OK && o.n == 3 && o.reward[1] == o.reward[0] && o.reward[2] == o.reward[0],
          "duplicates reuse the reward of the genotype's first training (%s)", rc ? err.msg : "ok");
    {
        cl_store *st;
        store_trial t;
        memset(&t, 0, sizeof t);
        if (!store_open(db, &st, &err)) {
            store_trial_get(st, 3, &t, &err);
            CHECK(t.reused_from == 1 && t.state == TRIAL_DONE, "the journal says trial 3 reused trial 1");
            store_trial_clear(&t);
            store_close(st);
        }
    }
}

int main(void)
{
    cl_err err = {0};
    cl_dataset probe;
    memset(&probe, 0, sizeof probe);
    if (dataset_load("fashion-mnist", &probe, &err))
        check_skip(err.msg);
    dataset_free(&probe);
    if (!mkdtemp(dir) || backend_cpu_create(2, &be, &err)) {
        printf("not ok - setup: %s\n", err.msg);
        return 1;
    }
    test_strategies();
    test_resume();
    test_parallel();
    test_commands();
    test_stop_trial();
    test_failures_and_duplicates();
    backend_destroy(be);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (getenv("KEEP")) printf("# kept %s\n", dir); else if (system(cmd) != 0)
            printf("# could not remove %s\n", dir);
    }
    return check_done();
}
