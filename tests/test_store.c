/* test_store.c - the journal: every record type written and read back
 * field by field (NaN, NULL and long values included), before and after a
 * close and reopen; the trial lifecycle, counts, walks with a filter and an
 * early stop, and duplicate lookup; crash safety (a child killed with
 * SIGKILL while it writes leaves every returned call readable and the file
 * healthy, and a transaction all or nothing); a second connection reading
 * while the first writes; nested transactions; the schema as sqlite3 users
 * see it; migration from version 0; and every refusal with its message.
 *
 * Everything happens in a temporary directory that is removed at the end. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "testdir.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"


/* ---- helpers ----------------------------------------------------------- */




static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int has(const char *s, const char *sub)
{
    return s && sub && strstr(s, sub) != NULL;
}

static int same_d(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static int same_s(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A long text with a recognisable pattern (n bytes before the NUL). */
static char *long_text(size_t n, char seed)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
    if (n > 3)
        s[n / 2] = '\n';   /* newlines and quotes survive too */
    if (n > 5)
        s[n / 3] = '\'';
    s[n] = '\0';
    return s;
}

static store_trial new_trial(const char *geno, const char *hash, const char *hash_recipe,
                             trial_state state)
{
    store_trial t;
    memset(&t, 0, sizeof t);
    t.genotype = (char *)geno;
    snprintf(t.hash, sizeof t.hash, "%s", hash);
    snprintf(t.hash_recipe, sizeof t.hash_recipe, "%s", hash_recipe ? hash_recipe : "");
    t.state = state;
    t.reward = t.accuracy = t.flops = t.seconds = t.logp = NAN;
    t.created = t.started = t.finished = NAN;
    return t;
}

/* A raw connection for looking at the file the way sqlite3 users do. */
static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        printf("# raw open %s: %s\n", path, db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        printf("# raw exec %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

/* First column of the first row as an integer; -999 when there is none. */
static int64_t raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -999;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* First column of the first row as text, copied into buf ("" if none). */
static const char *raw_text(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
    sqlite3_stmt *s = NULL;
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_text(s, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return buf;
}

static int64_t count_trials(cl_store *st)
{
    int64_t p = -1, r = -1, d = -1, f = -1;
    cl_err err;
    if (store_trial_counts(st, &p, &r, &d, &f, &err) != CL_OK) {
        printf("# counts: %s\n", err.msg);
        return -1;
    }
    return p + r + d + f;
}

/* ---- the fixed data set written and verified by several tests ---------- */

#define NASNET_A                                                                              \
    "normal: sep_conv_5x5(1) sep_conv_3x3(0) add | sep_conv_5x5(0) sep_conv_3x3(0) add | "    \
    "avg_pool_3x3(1) identity(0) add | avg_pool_3x3(0) avg_pool_3x3(0) add | sep_conv_3x3(1) " \
    "identity(1) add ; reduce: sep_conv_5x5(1) sep_conv_7x7(0) add | max_pool_3x3(1) "         \
    "sep_conv_7x7(0) add | avg_pool_3x3(1) sep_conv_5x5(0) add | identity(3) avg_pool_3x3(2) " \
    "add | sep_conv_3x3(2) max_pool_3x3(1) add"

#define BIG_BLOB (3u << 20)

typedef struct fixture {
    char *source;        /* 12 KB of Lua text */
    char *recipe;        /* 10 KB recipe */
    unsigned char *blob; /* 3 MB checkpoint */
    store_trial t[3];    /* as written (ids and filled times set by insert) */
    double cmd_time[2];
} fixture;

static void fixture_make(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->source = long_text(12000, 3);
    fx->recipe = long_text(10240, 5);
    fx->blob = malloc(BIG_BLOB);
    if (!fx->blob)
        abort();
    for (size_t i = 0; i < BIG_BLOB; i++)
        fx->blob[i] = (unsigned char)((i * 2654435761u) >> 13);

    /* pending, almost everything unknown */
    fx->t[0] = new_trial(NASNET_A, "0123456789abcdef", "fedcba9876543210", TRIAL_PENDING);
    fx->t[0].recipe = fx->recipe;
    /* done, every field set */
    fx->t[1] = new_trial("normal: a ; reduce: b", "00000000000000ff", "fedcba9876543210",
                         TRIAL_DONE);
    fx->t[1].reward = 0.8125;
    fx->t[1].accuracy = 0.90625;
    fx->t[1].params = 3300000123LL;
    fx->t[1].flops = 1.25e9;
    fx->t[1].seconds = 42.5;
    fx->t[1].worker = 3;
    fx->t[1].recipe = "epochs = 2\nlr = 0.05\n";
    fx->t[1].actions = "1 0 10 11 0 3 2 7";
    fx->t[1].logp = -12.75;
    fx->t[1].created = 1700000001.5;
    fx->t[1].started = 1700000002.25;
    fx->t[1].finished = 1700000003.125;
    /* failed, with a reason, reusing nothing */
    fx->t[2] = new_trial("normal: c ; reduce: d", "aaaaaaaaaaaaaaaa", "", TRIAL_FAILED);
    fx->t[2].reason = "diverged: loss is NaN at epoch 3";
    fx->t[2].worker = 1;
    fx->t[2].params = -1;
}

static void fixture_free(fixture *fx)
{
    free(fx->source);
    free(fx->recipe);
    free(fx->blob);
}

static void fill(cl_store *st, fixture *fx)
{
    cl_err err;
    store_experiment e = {"quick", "/home/u/quick.lua", fx->source, "{\"epochs\": 2}",
                          -1234567890123LL, 1700000000.5};
    int rc = store_experiment_set(st, &e, &err);
    CHECK(rc == CL_OK, "experiment set (%s)", rc ? err.msg : "");

    for (int i = 0; i < 3; i++) {
        rc = store_trial_insert(st, &fx->t[i], &err);
        CHECK(rc == CL_OK && fx->t[i].id == i + 1, "trial %d inserted with id %d (%s)", i + 1,
              i + 1, rc ? err.msg : "");
    }
    fx->t[1].reused_from = 1;   /* a done trial reusing trial 1's result */
    rc = store_trial_update(st, &fx->t[1], &err);
    CHECK(rc == CL_OK, "trial 2 update with reused_from (%s)", rc ? err.msg : "");

    {
        store_metric m[3] = {
            {2, 3, 0.5, 0.8, 0.81, 0.01, 10.5},
            {2, 1, 2.25, 0.3, 0.35, 0.05, 11.0},
            {2, 2, NAN, NAN, 0.6, NAN, NAN},
        };
        for (int i = 0; i < 3; i++) {
            rc = store_metric_insert(st, &m[i], &err);
            CHECK(rc == CL_OK, "metric epoch %d inserted (%s)", m[i].epoch, rc ? err.msg : "");
        }
    }
    {
        store_ctrl_step s1 = {1, 7.5, 0.25, -0.125, 3.5e-4, "1 2 3",
                              "[{\"entropy\":1.6,\"probs\":[0.2,0.8]}]", 1700000010.0};
        store_ctrl_step s2 = {2, 7.25, NAN, NAN, 3.5e-4, NULL, NULL, 1700000020.0};
        rc = store_ctrl_step_insert(st, &s1, &err);
        CHECK(rc == CL_OK, "controller step 1 (%s)", rc ? err.msg : "");
        rc = store_ctrl_step_insert(st, &s2, &err);
        CHECK(rc == CL_OK, "controller step 2 with NaN and NULL fields (%s)", rc ? err.msg : "");
    }
    {
        store_command c1 = {0, NAN, "key", "pause", NULL, NULL};
        store_command c2 = {0, 1700000030.5, "console", "set lr", "0.05", "0.025"};
        double before = wall();
        rc = store_command_insert(st, &c1, &err);
        CHECK(rc == CL_OK && c1.id == 1, "command 1 id 1 (%s)", rc ? err.msg : "");
        CHECK(c1.time >= before - 1 && c1.time <= wall() + 1,
              "an unset command time becomes wall-clock now (%.3f)", c1.time);
        rc = store_command_insert(st, &c2, &err);
        CHECK(rc == CL_OK && c2.id == 2, "command 2 id 2 (%s)", rc ? err.msg : "");
        fx->cmd_time[0] = c1.time;
        fx->cmd_time[1] = c2.time;
    }
    rc = store_seconds_add(st, "search", 1.5, &err);
    CHECK(rc == CL_OK, "seconds add (%s)", rc ? err.msg : "");
    rc = store_seconds_add(st, "search", 2.25, &err);
    CHECK(rc == CL_OK, "seconds add again (%s)", rc ? err.msg : "");
    rc = store_seconds_add(st, "final", 100.0, &err);
    CHECK(rc == CL_OK, "seconds add for another phase (%s)", rc ? err.msg : "");

    rc = store_checkpoint_save(st, 0, NULL, 0, &err);
    CHECK(rc == CL_OK, "empty checkpoint saved (%s)", rc ? err.msg : "");
    rc = store_checkpoint_save(st, 20, fx->blob, BIG_BLOB, &err);
    CHECK(rc == CL_OK, "3 MB checkpoint saved (%s)", rc ? err.msg : "");
}

static void check_trial(const store_trial *got, const store_trial *want, const char *when)
{
    long long id = (long long)want->id;
    CHECK(got->id == want->id, "%s: trial %lld id", when, id);
    CHECK(same_s(got->genotype, want->genotype), "%s: trial %lld genotype", when, id);
    CHECK(strcmp(got->hash, want->hash) == 0, "%s: trial %lld hash '%s'", when, id, got->hash);
    CHECK(got->state == want->state, "%s: trial %lld state %s", when, id,
          trial_state_name(got->state));
    CHECK(same_d(got->reward, want->reward), "%s: trial %lld reward %g", when, id, got->reward);
    CHECK(same_d(got->accuracy, want->accuracy), "%s: trial %lld accuracy %g", when, id,
          got->accuracy);
    CHECK(got->params == want->params, "%s: trial %lld params %lld", when, id,
          (long long)got->params);
    CHECK(same_d(got->flops, want->flops), "%s: trial %lld flops", when, id);
    CHECK(same_d(got->seconds, want->seconds), "%s: trial %lld seconds", when, id);
    CHECK(got->worker == want->worker, "%s: trial %lld worker %d", when, id, got->worker);
    CHECK(same_s(got->recipe, want->recipe), "%s: trial %lld recipe (%zu bytes)", when, id,
          got->recipe ? strlen(got->recipe) : 0);
    CHECK(strcmp(got->hash_recipe, want->hash_recipe) == 0, "%s: trial %lld hash_recipe", when,
          id);
    CHECK(same_s(got->actions, want->actions), "%s: trial %lld actions", when, id);
    CHECK(same_d(got->logp, want->logp), "%s: trial %lld logp", when, id);
    CHECK(same_s(got->reason, want->reason), "%s: trial %lld reason", when, id);
    CHECK(got->reused_from == want->reused_from, "%s: trial %lld reused_from %lld", when, id,
          (long long)got->reused_from);
    CHECK(same_d(got->created, want->created), "%s: trial %lld created %.6f", when, id,
          got->created);
    CHECK(same_d(got->started, want->started), "%s: trial %lld started", when, id);
    CHECK(same_d(got->finished, want->finished), "%s: trial %lld finished", when, id);
}

typedef struct collect {
    int n;
    int stop_after;   /* 0: never stop */
    int64_t ids[64];
    double vals[64];
    char text[4096];
} collect;

static int collect_metric(void *ud, const store_metric *m)
{
    collect *c = ud;
    if (c->n < 64) {
        c->ids[c->n] = m->epoch;
        c->vals[c->n] = m->train_loss;
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static int collect_step(void *ud, const store_ctrl_step *s)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    if (c->n < 64) {
        c->ids[c->n] = s->step;
        c->vals[c->n] = s->loss;
    }
    c->n++;
    snprintf(c->text + len, sizeof c->text - len, "[%lld|%s|%s|%.17g|%.17g|%.17g|%.17g|%.17g]",
             (long long)s->step, s->trials ? s->trials : "NULL",
             s->decisions ? s->decisions : "NULL", s->entropy, s->reward_ema, s->loss, s->lr,
             s->time);
    return c->stop_after && c->n >= c->stop_after;
}

static int collect_command(void *ud, const store_command *cmd)
{
    collect *c = ud;
    size_t len = strlen(c->text);
    if (c->n < 64) {
        c->ids[c->n] = cmd->id;
        c->vals[c->n] = cmd->time;
    }
    c->n++;
    snprintf(c->text + len, sizeof c->text - len, "[%lld|%s|%s|%s|%s]", (long long)cmd->id,
             cmd->source ? cmd->source : "NULL", cmd->name ? cmd->name : "NULL",
             cmd->old_value ? cmd->old_value : "NULL", cmd->new_value ? cmd->new_value : "NULL");
    return c->stop_after && c->n >= c->stop_after;
}

static void verify(cl_store *st, const fixture *fx, const char *when)
{
    cl_err err;
    int rc, found;

    {
        store_experiment e;
        rc = store_experiment_get(st, &e, &err);
        CHECK(rc == CL_OK, "%s: experiment get (%s)", when, rc ? err.msg : "");
        CHECK(same_s(e.name, "quick"), "%s: experiment name", when);
        CHECK(same_s(e.source_path, "/home/u/quick.lua"), "%s: experiment source_path", when);
        CHECK(same_s(e.source, fx->source), "%s: experiment source (12 KB)", when);
        CHECK(same_s(e.settings, "{\"epochs\": 2}"), "%s: experiment settings", when);
        CHECK(e.seed == -1234567890123LL, "%s: experiment seed", when);
        CHECK(e.created == 1700000000.5, "%s: experiment created %.3f", when, e.created);
        store_experiment_clear(&e);
        CHECK(e.name == NULL && e.source == NULL, "%s: experiment clear empties it", when);
    }
    for (int i = 0; i < 3; i++) {
        store_trial t;
        rc = store_trial_get(st, i + 1, &t, &err);
        CHECK(rc == CL_OK, "%s: trial %d get (%s)", when, i + 1, rc ? err.msg : "");
        check_trial(&t, &fx->t[i], when);
        store_trial_clear(&t);
    }
    {
        collect c;
        memset(&c, 0, sizeof c);
        rc = store_metric_each(st, 2, collect_metric, &c, &err);
        CHECK(rc == CL_OK && c.n == 3, "%s: three metrics of trial 2 (%d)", when, c.n);
        CHECK(c.ids[0] == 1 && c.ids[1] == 2 && c.ids[2] == 3, "%s: metrics in epoch order",
              when);
        CHECK(c.vals[0] == 2.25 && isnan(c.vals[1]) && c.vals[2] == 0.5,
              "%s: metric train_loss values, NaN included", when);
        {
            int last = -1, none = -1;
            rc = store_metric_last_epoch(st, 2, &last, &err);
            rc = rc ? rc : store_metric_last_epoch(st, 999, &none, &err);
            CHECK(rc == CL_OK && last == 3 && none == 0,
                  "%s: the last epoch journaled: 3 for trial 2, 0 for a trial without (%d, %d)",
                  when, last, none);
        }
    }
    {
        collect c;
        char want[1024];
        memset(&c, 0, sizeof c);
        rc = store_ctrl_step_each(st, 0, collect_step, &c, &err);
        snprintf(want, sizeof want,
                 "[1|1 2 3|[{\"entropy\":1.6,\"probs\":[0.2,0.8]}]|%.17g|%.17g|%.17g|%.17g|%.17g]"
                 "[2|NULL|NULL|%.17g|%.17g|%.17g|%.17g|%.17g]",
                 7.5, 0.25, -0.125, 3.5e-4, 1700000010.0, 7.25, NAN, NAN, 3.5e-4, 1700000020.0);
        CHECK(rc == CL_OK && c.n == 2, "%s: two controller steps", when);
        if (!CHECK(strcmp(c.text, want) == 0, "%s: controller steps field by field", when))
            printf("#   got  %s\n#   want %s\n", c.text, want);
        memset(&c, 0, sizeof c);
        rc = store_ctrl_step_each(st, 1, collect_step, &c, &err);
        CHECK(rc == CL_OK && c.n == 1 && !strncmp(c.text, "[2|", 3),
              "%s: the steps after step 1: step 2 alone", when);
    }
    {
        collect c;
        memset(&c, 0, sizeof c);
        rc = store_command_each(st, 0, collect_command, &c, &err);
        CHECK(rc == CL_OK && c.n == 2, "%s: two commands", when);
        CHECK(strcmp(c.text, "[1|key|pause|NULL|NULL][2|console|set lr|0.05|0.025]") == 0,
              "%s: commands field by field (%s)", when, c.text);
        CHECK(c.vals[0] == fx->cmd_time[0] && c.vals[1] == 1700000030.5, "%s: command times",
              when);
        memset(&c, 0, sizeof c);
        rc = store_command_each(st, 1, collect_command, &c, &err);
        CHECK(rc == CL_OK && c.n == 1 && !strcmp(c.text, "[2|console|set lr|0.05|0.025]"),
              "%s: the commands after id 1: the second alone (%s)", when, c.text);
    }
    {
        double s = -1;
        rc = store_seconds_get(st, "search", &s, &err);
        CHECK(rc == CL_OK && s == 3.75, "%s: search seconds summed to 3.75 (%g)", when, s);
        rc = store_seconds_get(st, "final", &s, &err);
        CHECK(rc == CL_OK && s == 100.0, "%s: final seconds (%g)", when, s);
        rc = store_seconds_get(st, "selection", &s, &err);
        CHECK(rc == CL_OK && s == 0.0, "%s: a phase never added reads 0 (%g)", when, s);
    }
    {
        unsigned char *blob = NULL;
        size_t len = 0;
        int64_t done = -1;
        rc = store_checkpoint_latest(st, &done, &blob, &len, &found, &err);
        CHECK(rc == CL_OK && found, "%s: latest checkpoint found", when);
        CHECK(done == 20 && len == BIG_BLOB, "%s: latest is the 3 MB one (%zu bytes, %lld done)",
              when, len, (long long)done);
        CHECK(blob && len == BIG_BLOB && memcmp(blob, fx->blob, BIG_BLOB) == 0,
              "%s: 3 MB checkpoint byte for byte", when);
        free(blob);
    }
}

/* ---- tests ------------------------------------------------------------- */

static void test_round_trip_and_reopen(void)
{
    const char *path = tpath("full.db");
    fixture fx;
    cl_store *st = NULL;
    cl_err err;
    int rc;

    fixture_make(&fx);
    rc = store_create(path, 0, &st, &err);
    CHECK(rc == CL_OK && st, "create %s (%s)", path, rc ? err.msg : "");
    if (rc)
        goto out;
    CHECK(strcmp(store_path(st), path) == 0, "store_path names the file");
    {
        /* the checkpoint API before any checkpoint exists */
        unsigned char *blob = (unsigned char *)"x";
        size_t len = 9;
        int64_t done = 0;
        int found = 1;
        rc = store_checkpoint_latest(st, &done, &blob, &len, &found, &err);
        CHECK(rc == CL_OK && !found && blob == NULL && len == 0, "no checkpoint yet: found = 0");
    }
    {
        store_experiment e;
        rc = store_experiment_get(st, &e, &err);
        CHECK(rc != CL_OK && has(err.msg, path) && has(err.msg, "no experiment"),
              "a new journal holds no experiment (%s)", err.msg);
    }
    fill(st, &fx);
    {
        /* the empty checkpoint came before the big one; check it alone */
        sqlite3 *db = raw_open(path);
        CHECK(db && raw_int(db, "SELECT length(blob) FROM checkpoints WHERE id = 1") == 0 &&
                  raw_int(db, "SELECT typeof(blob) = 'blob' FROM checkpoints WHERE id = 1") == 1,
              "a 0-byte checkpoint is stored as an empty blob, not NULL");
        CHECK(db && raw_int(db, "SELECT count(*) FROM trials WHERE id = 1 AND reward IS NULL "
                                "AND logp IS NULL AND started IS NULL AND actions IS NULL") == 1,
              "NaN numbers and NULL strings are SQL NULL in the file");
        sqlite3_close(db);
    }
    /* created was filled in by insert with wall-clock time */
    CHECK(fx.t[0].created > wall() - 60 && fx.t[0].created <= wall() + 1,
          "insert fills an unset created with wall-clock time (%.3f)", fx.t[0].created);
    CHECK(fx.t[1].created == 1700000001.5, "insert keeps a given created");
    CHECK(isnan(fx.t[0].started) && isnan(fx.t[0].finished),
          "a pending trial has no start or finish");
    CHECK(fx.t[2].started > 0 && fx.t[2].finished > 0,
          "a trial inserted as failed gets start and finish times");
    verify(st, &fx, "written");
    store_close(st);
    st = NULL;

    rc = store_open(path, &st, &err);
    CHECK(rc == CL_OK, "reopen %s (%s)", path, rc ? err.msg : "");
    if (rc == CL_OK)
        verify(st, &fx, "reopened");
    {
        /* a second experiment_set replaces the one row, NULL strings too */
        store_experiment e = {NULL, NULL, NULL, NULL, 7, NAN}, g;
        rc = store_experiment_set(st, &e, &err);
        CHECK(rc == CL_OK, "experiment set again with NULL strings (%s)", rc ? err.msg : "");
        rc = store_experiment_get(st, &g, &err);
        CHECK(rc == CL_OK && !g.name && !g.source_path && !g.source && !g.settings && g.seed == 7,
              "NULL strings read back as NULL");
        CHECK(g.created == 1700000000.5, "an unset experiment created keeps the stored one");
        store_experiment_clear(&g);
    }
    store_close(st);
    {
        sqlite3 *db = raw_open(path);
        CHECK(db && raw_int(db, "SELECT count(*) FROM experiment") == 1,
              "the experiment table keeps one row");
        sqlite3_close(db);
    }
out:
    fixture_free(&fx);
}

typedef struct walk {
    int n, stop_after;
    int64_t ids[64];
    trial_state states[64];
    int strings_ok;
} walk;

static int walk_trial(void *ud, const store_trial *t)
{
    walk *w = ud;
    char want[64];
    if (w->n < 64) {
        w->ids[w->n] = t->id;
        w->states[w->n] = t->state;
    }
    snprintf(want, sizeof want, "geno %lld", (long long)t->id);
    if (!t->genotype || strcmp(t->genotype, want) != 0)
        w->strings_ok = 0;
    w->n++;
    return w->stop_after && w->n >= w->stop_after;
}

typedef struct requeue {
    cl_store *st;
    sqlite3 *raw;   /* a second connection that must see each write at once */
    int n, ok;
} requeue;

static int requeue_trial(void *ud, const store_trial *t)
{
    requeue *rq = ud;
    store_trial u = *t;   /* borrowed strings are valid for this call */
    cl_err err;
    char sql[128];
    u.state = TRIAL_PENDING;
    u.started = u.finished = NAN;
    if (store_trial_update(rq->st, &u, &err) != CL_OK) {
        printf("# requeue: %s\n", err.msg);
        rq->ok = 0;
    }
    snprintf(sql, sizeof sql, "SELECT state = 'pending' FROM trials WHERE id = %lld",
             (long long)t->id);
    if (!rq->raw || raw_int(rq->raw, sql) != 1)
        rq->ok = 0;
    rq->n++;
    return 0;
}

static void test_lifecycle(void)
{
    const char *path = tpath("life.db");
    cl_store *st = NULL;
    cl_err err;
    store_trial t, g;
    int rc, found;
    char geno[16][32];
    int64_t p, r, d, f;
    double t0;

    rc = store_create(path, 0, &st, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    if (rc)
        return;
    for (int i = 0; i < 16; i++)
        snprintf(geno[i], sizeof geno[i], "geno %d", i + 1);
    {
        store_experiment e = {"x", NULL, NULL, NULL, 1, NAN}, g;
        t0 = wall();
        rc = store_experiment_set(st, &e, &err);
        rc = rc ? rc : store_experiment_get(st, &g, &err);
        CHECK(rc == CL_OK && g.created >= t0 - 1 && g.created <= wall() + 1,
              "a new experiment's unset created becomes wall-clock now (%.3f)", g.created);
        store_experiment_clear(&g);
    }

    /* pending -> running -> done, the store keeping the times */
    t0 = wall();
    t = new_trial(geno[0], "1111111111111111", "r1", TRIAL_PENDING);
    rc = store_trial_insert(st, &t, &err);
    CHECK(rc == CL_OK && t.id == 1, "insert pending (%s)", rc ? err.msg : "");
    t.state = TRIAL_RUNNING;
    rc = store_trial_update(st, &t, &err);
    CHECK(rc == CL_OK, "update to running (%s)", rc ? err.msg : "");
    rc = store_trial_get(st, 1, &g, &err);
    CHECK(rc == CL_OK && g.state == TRIAL_RUNNING, "read back running");
    CHECK(g.started >= t0 - 1 && g.started <= wall() + 1 && isnan(g.finished),
          "running: started is now, finished unset (%.3f)", g.started);
    {
        double started = g.started;
        store_trial_clear(&g);
        t.state = TRIAL_DONE;
        t.reward = 0.75;
        t.accuracy = 0.875;
        t.seconds = 12.5;
        t.params = 123456;
        t.flops = 9.5e7;
        rc = store_trial_update(st, &t, &err);   /* t.started is still NaN */
        CHECK(rc == CL_OK, "update to done (%s)", rc ? err.msg : "");
        rc = store_trial_get(st, 1, &g, &err);
        CHECK(rc == CL_OK && g.state == TRIAL_DONE && g.reward == 0.75 && g.accuracy == 0.875 &&
                  g.seconds == 12.5 && g.params == 123456 && g.flops == 9.5e7,
              "done: the result fields read back");
        CHECK(g.started == started, "done: an unset started keeps the stored start");
        CHECK(g.finished >= g.started && g.finished <= wall() + 1, "done: finished is now");
        CHECK(g.created == t.created, "update keeps created");
        store_trial_clear(&g);
    }
    /* pending -> running -> failed with a reason; then back to pending */
    t = new_trial(geno[1], "2222222222222222", "r1", TRIAL_PENDING);
    rc = store_trial_insert(st, &t, &err);
    CHECK(rc == CL_OK && t.id == 2, "insert second (%s)", rc ? err.msg : "");
    t.state = TRIAL_RUNNING;
    t.started = 1700000100.0;
    rc = store_trial_update(st, &t, &err);
    t.state = TRIAL_FAILED;
    t.reason = "out of memory on the device";
    rc = rc ? rc : store_trial_update(st, &t, &err);
    CHECK(rc == CL_OK, "running then failed (%s)", rc ? err.msg : "");
    rc = store_trial_get(st, 2, &g, &err);
    CHECK(rc == CL_OK && g.state == TRIAL_FAILED && same_s(g.reason, t.reason) &&
              g.started == 1700000100.0 && g.finished > 0 && isnan(g.reward),
          "failed: reason, given start, finish, no reward");
    store_trial_clear(&g);
    t.state = TRIAL_PENDING;
    t.started = t.finished = NAN;
    t.reason = NULL;
    rc = store_trial_update(st, &t, &err);
    rc = rc ? rc : store_trial_get(st, 2, &g, &err);
    CHECK(rc == CL_OK && g.state == TRIAL_PENDING && isnan(g.started) && isnan(g.finished) &&
              g.reason == NULL,
          "back to pending clears start, finish and reason");
    store_trial_clear(&g);

    /* errors: missing fields, unknown ids */
    t = new_trial(NULL, "3333333333333333", "", TRIAL_PENDING);
    rc = store_trial_insert(st, &t, &err);
    CHECK(rc == CL_ERR_ARG && has(err.msg, "genotype"), "insert without a genotype refused (%s)",
          err.msg);
    t = new_trial(geno[2], "", "", TRIAL_PENDING);
    rc = store_trial_insert(st, &t, &err);
    CHECK(rc == CL_ERR_ARG, "insert without a hash refused");
    t = new_trial(geno[2], "3333333333333333", "", (trial_state)9);
    rc = store_trial_insert(st, &t, &err);
    CHECK(rc == CL_ERR_ARG, "insert with a bad state refused");
    t = new_trial(geno[2], "3333333333333333", "", TRIAL_DONE);
    t.id = 99;
    rc = store_trial_update(st, &t, &err);
    CHECK(rc != CL_OK && has(err.msg, "no trial 99"), "update of a missing trial (%s)", err.msg);
    rc = store_trial_get(st, 99, &g, &err);
    CHECK(rc != CL_OK && has(err.msg, "no trial 99") && g.genotype == NULL,
          "get of a missing trial (%s)", err.msg);
    CHECK(count_trials(st) == 2, "failed inserts wrote nothing");

    /* duplicates: trials 3.. with one hash and recipes r1 / r2 */
    {
        static const struct {
            const char *hash, *recipe;
            trial_state state;
        } dup[] = {
            {"dddddddddddddddd", "r1", TRIAL_DONE},      /* 3 */
            {"dddddddddddddddd", "r1", TRIAL_DONE},      /* 4: the newest done r1 */
            {"dddddddddddddddd", "r1", TRIAL_FAILED},    /* 5: failed, ignored */
            {"dddddddddddddddd", "r2", TRIAL_DONE},      /* 6: other recipe */
            {"dddddddddddddddd", "r1", TRIAL_RUNNING},   /* 7: not done */
            {"eeeeeeeeeeeeeeee", "r1", TRIAL_DONE},      /* 8: other hash */
            {"ffffffffffffffff", "r1", TRIAL_PENDING},   /* 9 */
            {"ffffffffffffffff", "r1", TRIAL_PENDING},   /* 10 */
        };
        for (size_t i = 0; i < sizeof dup / sizeof dup[0]; i++) {
            t = new_trial(geno[2 + i], dup[i].hash, dup[i].recipe, dup[i].state);
            t.reward = 0.5 + 0.01 * (double)i;
            rc = store_trial_insert(st, &t, &err);
            if (rc)
                CHECK(0, "insert duplicate %zu (%s)", i, err.msg);
        }
    }
    rc = store_trial_find_done(st, "dddddddddddddddd", "r1", &g, &found, &err);
    CHECK(rc == CL_OK && found && g.id == 4 && g.state == TRIAL_DONE && g.reward == 0.51 &&
              same_s(g.genotype, "geno 4"),
          "find_done: the newest done trial with that hash and recipe (id %lld)",
          (long long)g.id);
    store_trial_clear(&g);
    rc = store_trial_find_done(st, "dddddddddddddddd", "r2", &g, &found, &err);
    CHECK(rc == CL_OK && found && g.id == 6, "find_done: the recipe hash decides (id %lld)",
          (long long)g.id);
    store_trial_clear(&g);
    rc = store_trial_find_done(st, "dddddddddddddddd", "r3", &g, &found, &err);
    CHECK(rc == CL_OK && !found && g.genotype == NULL, "find_done: no trial with a third recipe");
    rc = store_trial_find_done(st, "ffffffffffffffff", "r1", &g, &found, &err);
    CHECK(rc == CL_OK && !found, "find_done: pending trials do not count");
    rc = store_trial_find_done(st, "0000000000000000", "r1", &g, &found, &err);
    CHECK(rc == CL_OK && !found, "find_done: unknown hash");
    /* the leaderboard's recipe and its best: done r1 trials are 1 (0.75),
     * 3, 4 and 8; r2 has 6 alone */
    {
        char h[17];
        int64_t n = -1, id = -1;
        rc = store_trial_best(st, "r1", &g, &found, &n, &err);
        CHECK(rc == CL_OK && found && g.id == 1 && g.reward == 0.75 && n == 4 &&
                  same_s(g.genotype, geno[0]),
              "trial_best: the highest reward of the recipe's done trials (id %lld of %lld)",
              (long long)g.id, (long long)n);
        store_trial_clear(&g);
        rc = store_trial_best(st, "r2", &g, &found, &n, &err);
        CHECK(rc == CL_OK && found && g.id == 6 && n == 1, "trial_best: another recipe (id %lld)",
              (long long)g.id);
        store_trial_clear(&g);
        rc = store_trial_best(st, "r3", &g, &found, &n, &err);
        CHECK(rc == CL_OK && !found && n == 0 && g.genotype == NULL,
              "trial_best: a recipe with no done trial");
        rc = store_trial_newest_recipe(st, h, &id, &err);
        CHECK(rc == CL_OK && !strcmp(h, "r1") && id == 10,
              "newest_recipe: the newest trial's, pending too (%s, %lld)", h, (long long)id);
        rc = store_trial_get(st, 10, &g, &err);
        if (rc == CL_OK) {   /* a trial not yet started has none */
            g.hash_recipe[0] = '\0';
            rc = store_trial_update(st, &g, &err);
            store_trial_clear(&g);
        }
        rc = rc ? rc : store_trial_newest_recipe(st, h, &id, &err);
        CHECK(rc == CL_OK && !strcmp(h, "r1") && id == 9,
              "newest_recipe: passes over a trial without one (%s, %lld)", h, (long long)id);
        rc = store_trial_get(st, 10, &g, &err);
        if (rc == CL_OK) {
            snprintf(g.hash_recipe, sizeof g.hash_recipe, "r1");
            rc = store_trial_update(st, &g, &err);
            store_trial_clear(&g);
        }
        CHECK(rc == CL_OK, "trial 10 restored (%s)", rc ? err.msg : "");
    }
    /* make the only done r1 trial of "eee" failed: it must disappear */
    rc = store_trial_get(st, 8, &g, &err);
    if (rc == CL_OK) {
        g.state = TRIAL_FAILED;
        rc = store_trial_update(st, &g, &err);
        store_trial_clear(&g);
    }
    rc = rc ? rc : store_trial_find_done(st, "eeeeeeeeeeeeeeee", "r1", &g, &found, &err);
    CHECK(rc == CL_OK && !found, "find_done ignores a failed trial");
    /* a done trial stopped early (it has a reason) is no result to reuse:
     * trial 4, the newest done r1 of "ddd", gives way to 3 */
    rc = store_trial_get(st, 4, &g, &err);
    if (rc == CL_OK) {
        g.reason = strdup("stopped after epoch 1 of 3: slow");
        rc = store_trial_update(st, &g, &err);
        store_trial_clear(&g);
    }
    rc = rc ? rc : store_trial_find_done(st, "dddddddddddddddd", "r1", &g, &found, &err);
    CHECK(rc == CL_OK && found && g.id == 3, "find_done passes over a trial stopped early (%lld)",
          (long long)g.id);
    store_trial_clear(&g);
    rc = store_trial_get(st, 4, &g, &err);
    if (rc == CL_OK) {
        free(g.reason);
        g.reason = NULL;
        rc = store_trial_update(st, &g, &err);
        store_trial_clear(&g);
    }

    /* counts: 1 done, 2 pending, then 3,4 done, 5 failed, 6 done, 7 running,
     * 8 failed, 9 and 10 pending */
    p = r = d = f = -1;
    rc = store_trial_counts(st, &p, &r, &d, &f, &err);
    CHECK(rc == CL_OK && p == 3 && r == 1 && d == 4 && f == 2,
          "counts by state: %lld pending, %lld running, %lld done, %lld failed", (long long)p,
          (long long)r, (long long)d, (long long)f);
    d = -1;
    rc = store_trial_counts(st, NULL, NULL, &d, NULL, &err);
    CHECK(rc == CL_OK && d == 4, "counts with NULL pointers");

    /* walks */
    {
        walk w;
        memset(&w, 0, sizeof w);
        w.strings_ok = 1;
        rc = store_trial_each(st, -1, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 10, "each: all ten trials (%d)", w.n);
        for (int i = 0; i < w.n && i < 10; i++)
            if (w.ids[i] != i + 1)
                CHECK(0, "each: id order at %d (%lld)", i, (long long)w.ids[i]);
        CHECK(w.strings_ok, "each: strings valid in the callback");

        memset(&w, 0, sizeof w);
        w.strings_ok = 1;
        rc = store_trial_each(st, TRIAL_PENDING, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 3 && w.ids[0] == 2 && w.ids[1] == 9 && w.ids[2] == 10 &&
                  w.states[0] == TRIAL_PENDING && w.states[2] == TRIAL_PENDING,
              "each with a state filter: pending trials 2, 9, 10");
        memset(&w, 0, sizeof w);
        w.strings_ok = 1;
        rc = store_trial_each(st, TRIAL_DONE, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 4 && w.ids[0] == 1 && w.ids[3] == 6,
              "each: done trials 1, 3, 4, 6");
        memset(&w, 0, sizeof w);
        w.strings_ok = 1;
        w.stop_after = 2;
        rc = store_trial_each(st, -1, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 2 && w.ids[1] == 2, "each stops when fn returns non-zero");
        rc = store_trial_each(st, 7, walk_trial, &w, &err);
        CHECK(rc == CL_ERR_ARG, "each with a bad state is refused");
        memset(&w, 0, sizeof w);
        w.strings_ok = 1;
        rc = store_trial_each_from(st, 8, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 3 && w.ids[0] == 8 && w.ids[2] == 10 &&
                  w.states[0] == TRIAL_FAILED && w.states[1] == TRIAL_PENDING,
              "each_from 8: trials 8 (failed), 9, 10, whatever their state");
        memset(&w, 0, sizeof w);
        rc = store_trial_each_from(st, 11, walk_trial, &w, &err);
        CHECK(rc == CL_OK && w.n == 0, "each_from past the last: none");
    }
    {
        /* resume's pattern: walk the running trials and set them back to
         * pending from inside the callback; each write is committed at once */
        requeue rq = {st, raw_open(path), 0, 1};
        rc = store_trial_each(st, TRIAL_RUNNING, requeue_trial, &rq, &err);
        CHECK(rc == CL_OK && rq.n == 1 && rq.ok,
              "a callback can update the trial it is shown, committed before the walk ends");
        sqlite3_close(rq.raw);
        p = r = -1;
        rc = store_trial_counts(st, &p, &r, NULL, NULL, &err);
        CHECK(rc == CL_OK && r == 0 && p == 4, "no running trials left after the walk");
        rc = store_trial_get(st, 7, &g, &err);
        if (rc == CL_OK) {
            g.state = TRIAL_RUNNING;
            rc = store_trial_update(st, &g, &err);
            store_trial_clear(&g);
        }
        CHECK(rc == CL_OK, "trial 7 running again (%s)", rc ? err.msg : "");
    }

    /* metrics: delete, early stop, constraint messages */
    {
        store_metric m = {1, 1, 1.0, 0.5, 0.5, 0.1, 1.0};
        collect c;
        for (int e = 1; e <= 4; e++) {
            m.epoch = e;
            rc = store_metric_insert(st, &m, &err);
            if (rc)
                CHECK(0, "metric %d (%s)", e, err.msg);
        }
        memset(&c, 0, sizeof c);
        c.stop_after = 2;
        rc = store_metric_each(st, 1, collect_metric, &c, &err);
        CHECK(rc == CL_OK && c.n == 2, "metric walk stops early");
        m.epoch = 2;
        rc = store_metric_insert(st, &m, &err);
        CHECK(rc == CL_ERR_ARG && has(err.msg, "store: INSERT INTO metrics") &&
                  has(err.msg, "UNIQUE constraint failed"),
              "a repeated epoch is refused with the statement in the message (%s)", err.msg);
        m.trial = 4242;
        rc = store_metric_insert(st, &m, &err);
        CHECK(rc != CL_OK && has(err.msg, "FOREIGN KEY constraint failed"),
              "a metric of a missing trial is refused: foreign keys are on (%s)", err.msg);
        rc = store_metric_delete(st, 1, &err);
        memset(&c, 0, sizeof c);
        rc = rc ? rc : store_metric_each(st, 1, collect_metric, &c, &err);
        CHECK(rc == CL_OK && c.n == 0, "metric delete removes the trial's epochs");
        m.trial = 1;
        m.epoch = 1;
        rc = store_metric_insert(st, &m, &err);
        CHECK(rc == CL_OK, "after delete the epoch can be written again (%s)",
              rc ? err.msg : "");
    }
    /* controller steps and commands: early stop, repeats, requirements */
    {
        store_ctrl_step s = {1, 1, 1, 1, 1, "1", NULL, NAN};
        store_command cmd = {0, NAN, "cli", "stop", NULL, NULL};
        collect c;
        double t1 = wall();
        rc = store_ctrl_step_insert(st, &s, &err);
        s.step = 2;
        rc = rc ? rc : store_ctrl_step_insert(st, &s, &err);
        CHECK(rc == CL_OK, "controller steps 1, 2 (%s)", rc ? err.msg : "");
        rc = store_ctrl_step_insert(st, &s, &err);
        CHECK(rc != CL_OK && has(err.msg, "controller_steps"),
              "a repeated controller step is refused (%s)", err.msg);
        memset(&c, 0, sizeof c);
        c.stop_after = 1;
        rc = store_ctrl_step_each(st, 0, collect_step, &c, &err);
        CHECK(rc == CL_OK && c.n == 1, "controller step walk stops early");
        CHECK(has(c.text, "[1|1|NULL|"), "controller step strings (%s)", c.text);
        {
            sqlite3 *db = raw_open(path);
            double tm = db ? (double)raw_int(db, "SELECT CAST(time AS INTEGER) FROM "
                                                 "controller_steps WHERE step = 1")
                           : 0;
            CHECK(tm >= floor(t1) - 1 && tm <= wall() + 1,
                  "an unset controller step time becomes now");
            sqlite3_close(db);
        }
        for (int i = 0; i < 3; i++) {
            rc = store_command_insert(st, &cmd, &err);
            CHECK(rc == CL_OK && cmd.id == i + 1, "command %d (%s)", i + 1, rc ? err.msg : "");
        }
        memset(&c, 0, sizeof c);
        c.stop_after = 2;
        rc = store_command_each(st, 0, collect_command, &c, &err);
        CHECK(rc == CL_OK && c.n == 2 && c.ids[1] == 2, "command walk stops early");
        cmd.name = NULL;
        rc = store_command_insert(st, &cmd, &err);
        CHECK(rc == CL_ERR_ARG, "a command without a name is refused");
        rc = store_seconds_add(st, "search", NAN, &err);
        CHECK(rc == CL_ERR_ARG, "NaN seconds are refused");
    }
    /* checkpoints: the newest by id wins */
    {
        unsigned char *blob = NULL;
        size_t len = 0;
        int64_t done = 0;
        rc = store_checkpoint_save(st, 5, "abc", 3, &err);
        rc = rc ? rc : store_checkpoint_save(st, 4, "defg", 4, &err);
        rc = rc ? rc : store_checkpoint_latest(st, &done, &blob, &len, &found, &err);
        CHECK(rc == CL_OK && found && done == 4 && len == 4 && memcmp(blob, "defg", 4) == 0,
              "the latest checkpoint is the newest saved, not the most trials");
        free(blob);
        blob = NULL;
        rc = store_checkpoint_save(st, 6, NULL, 0, &err);
        rc = rc ? rc : store_checkpoint_latest(st, &done, &blob, &len, &found, &err);
        CHECK(rc == CL_OK && found && done == 6 && len == 0 && blob != NULL,
              "a 0-byte checkpoint reads back as 0 bytes");
        free(blob);
        rc = store_checkpoint_save(st, 6, NULL, 5, &err);
        CHECK(rc == CL_ERR_ARG, "a checkpoint of 5 bytes from NULL is refused");
        rc = CL_OK;
        for (int i = 0; i < 5 && rc == CL_OK; i++)
            rc = store_checkpoint_save(st, 7 + i, "xyz", 3, &err);
        CHECK(rc == CL_OK, "five more checkpoints saved");
        {
            sqlite3 *raw = NULL;
            int kept = -1;
            if (sqlite3_open_v2(store_path(st), &raw, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
                kept = (int)raw_int(raw, "SELECT count(*) FROM checkpoints");
            sqlite3_close(raw);
            CHECK(kept == STORE_CHECKPOINTS_KEPT,
                  "only the newest %d checkpoints are kept after 5 more (found %d)",
                  STORE_CHECKPOINTS_KEPT, kept);
        }
    }
    store_close(st);
}

/* ---- crash safety ---------------------------------------------------- */

/* The child: write trials (and a metric each) forever, telling the parent
 * after each call returns; with batch > 1 it writes batch trials per
 * transaction and tells after each commit.  Never returns. */
static void crash_child(const char *path, int wfd, int round, int batch)
{
    cl_store *st = NULL;
    cl_err err;
    char geno[64];
    if (store_open(path, &st, &err) != CL_OK)
        _exit(2);
    for (int i = 1;; i++) {
        if (batch > 1 && store_begin(st, &err) != CL_OK)
            _exit(3);
        for (int k = 0; k < batch; k++) {
            store_trial t;
            store_metric m = {0, 1, 1.0, 0.5, 0.0, 0.1, 1.0};
            snprintf(geno, sizeof geno, "crash %d %d", round, (i - 1) * batch + k + 1);
            t = new_trial(geno, "cccccccccccccccc", "r", TRIAL_DONE);
            t.reward = (double)((i - 1) * batch + k + 1);
            if (store_trial_insert(st, &t, &err) != CL_OK)
                _exit(4);
            m.trial = t.id;
            m.val_acc = t.reward;
            if (store_metric_insert(st, &m, &err) != CL_OK)
                _exit(5);
        }
        if (batch > 1 && store_commit(st, &err) != CL_OK)
            _exit(6);
        if (write(wfd, "x", 1) != 1)
            _exit(7);
    }
}

typedef struct crash_walk {
    int round, n, ok, max_k;
} crash_walk;

static int crash_check(void *ud, const store_trial *t)
{
    crash_walk *w = ud;
    int round, k;
    if (sscanf(t->genotype, "crash %d %d", &round, &k) != 2 || round != w->round)
        return 0;
    w->n++;
    if (t->reward != (double)k)
        w->ok = 0;
    if (k > w->max_k)
        w->max_k = k;
    return 0;
}

static void crash_round(const char *path, int round, int batch, int signals)
{
    int fds[2], status = 0, got = 0;
    pid_t pid;
    cl_store *st = NULL;
    cl_err err;
    int rc;

    if (pipe(fds) != 0) {
        CHECK(0, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        CHECK(0, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        crash_child(path, fds[1], round, batch);
    }
    close(fds[1]);
    while (got < signals) {
        char c;
        ssize_t n = read(fds[0], &c, 1);
        if (n != 1)
            break;
        got++;
    }
    /* the child is writing its next rows as it dies */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(got == signals && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
          "round %d: the child wrote %d times and was killed by SIGKILL (exit %d)", round, got,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    {
        sqlite3 *db = raw_open(path);
        char buf[256];
        CHECK(db && strcmp(raw_text(db, "PRAGMA quick_check", buf, sizeof buf), "ok") == 0,
              "round %d: quick_check says ok after the kill (%s)", round, buf);
        sqlite3_close(db);
    }
    rc = store_open(path, &st, &err);
    CHECK(rc == CL_OK, "round %d: the journal opens after the kill (%s)", round,
          rc ? err.msg : "");
    if (rc)
        return;
    {
        crash_walk w = {round, 0, 1, 0};
        int want = signals * batch;
        rc = store_trial_each(st, -1, crash_check, &w, &err);
        CHECK(rc == CL_OK && w.n >= want && w.ok && w.max_k == w.n,
              "round %d: every returned insert is there (%d rows, %d acknowledged)", round, w.n,
              want);
        if (batch > 1)
            CHECK(w.n % batch == 0, "round %d: transactions are all or nothing (%d rows, "
                  "batches of %d)", round, w.n, batch);
        {
            sqlite3 *db = raw_open(path);
            char sql[256];
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM metrics m JOIN trials t ON t.id = m.trial "
                     "WHERE t.genotype LIKE 'crash %d %%' AND m.val_acc = t.reward",
                     round);
            CHECK(db && raw_int(db, sql) >= want, "round %d: their metrics are there too",
                  round);
            sqlite3_close(db);
        }
    }
    store_close(st);
}

static void test_crash(void)
{
    const char *path = tpath("crash.db");
    cl_store *st = NULL;
    cl_err err;
    int rc = store_create(path, 0, &st, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    store_close(st);   /* no connection may cross fork() */
    if (rc)
        return;
    crash_round(path, 1, 1, 25);
    crash_round(path, 2, 1, 3);
    crash_round(path, 3, 5, 8);
    crash_round(path, 4, 1, 60);
}

/* ---- one search per journal ------------------------------------------- */

static void test_claim(void)
{
    const char *path = tpath("claim.db");
    cl_store *a = NULL, *b = NULL, *c = NULL;
    cl_err err;
    store_trial t;
    int rc, go[2], ready[2];
    pid_t kid;
    char byte = 0, want[96];

    rc = store_create(path, 0, &a, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    if (rc)
        return;
    t = new_trial("g", "1234123412341234", "", TRIAL_PENDING);
    CHECK(store_trial_insert(a, &t, &err) == CL_OK, "a trial in the new journal");
    rc = store_open(path, &b, &err);
    CHECK(rc == CL_OK && count_trials(b) == 1,
          "a reader opens the journal its search holds (`cellar show` during a run) (%s)",
          rc ? err.msg : "");
    if (b) {
        rc = store_claim(b, &err);
        CHECK(rc == CL_ERR_IO && strstr(err.msg, "claim.db: in use: a search is running on it"),
              "a second search on it is refused (%s)", rc ? err.msg : "claimed");
        CHECK(count_trials(b) == 1, "the refused handle still reads");
        store_close(b);
    }
    rc = store_create(path, 1, &b, &err);
    CHECK(rc == CL_ERR_IO && strstr(err.msg, "in use"),
          "--force does not replace a journal a search holds (%s)", rc ? err.msg : "replaced");
    store_close(b);
    CHECK(count_trials(a) == 1, "the holder's journal is untouched");
    store_close(a);
    rc = store_open(path, &a, &err);
    rc = rc ? rc : store_claim(a, &err);
    CHECK(rc == CL_OK, "closed, it may be claimed again (%s)", rc ? err.msg : "");
    store_close(a);

    /* another process holds it, and is killed: named while it lives,
     * nothing to clear once it is gone */
    if (pipe(go) || pipe(ready)) {
        CHECK(0, "pipe: %s", strerror(errno));
        return;
    }
    kid = fork();
    if (kid == 0) {
        cl_store *k = NULL;
        char r = store_open(path, &k, &err) == CL_OK && store_claim(k, &err) == CL_OK;
        if (write(ready[1], &r, 1) != 1 || read(go[0], &r, 1) < 0)
            _exit(2);
        _exit(0);
    }
    if (kid < 0 || read(ready[0], &byte, 1) != 1 || !byte) {
        CHECK(0, "a child process claims the journal");
        if (kid > 0)
            waitpid(kid, NULL, 0);
        return;
    }
    snprintf(want, sizeof want, "(cellar process %ld)", (long)kid);
    rc = store_open(path, &c, &err);
    rc = rc ? rc : store_claim(c, &err);
    CHECK(rc == CL_ERR_IO && strstr(err.msg, want), "the holding process is named: %s (%s)", want,
          rc ? err.msg : "claimed");
    store_close(c);
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
    rc = store_open(path, &c, &err);
    rc = rc ? rc : store_claim(c, &err);
    CHECK(rc == CL_OK && count_trials(c) == 1,
          "its holder killed (-9), the journal is claimed at once, its trial there (%s)",
          rc ? err.msg : "");
    store_close(c);
}

/* ---- concurrency and transactions ------------------------------------- */

static void test_wal_and_transactions(void)
{
    const char *path = tpath("wal.db");
    cl_store *a = NULL, *b = NULL;
    cl_err err;
    store_trial t;
    int rc;

    rc = store_create(path, 0, &a, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    if (rc)
        return;
    t = new_trial("g", "1234123412341234", "", TRIAL_PENDING);
    rc = store_trial_insert(a, &t, &err);
    rc = rc ? rc : store_open(path, &b, &err);
    CHECK(rc == CL_OK, "a second connection opens while the first is open (%s)",
          rc ? err.msg : "");
    if (rc) {
        store_close(a);
        return;
    }
    CHECK(count_trials(b) == 1, "the second connection sees the first's trial");
    {
        sqlite3 *db = raw_open(path);
        char buf[64];
        CHECK(db && strcmp(raw_text(db, "PRAGMA journal_mode", buf, sizeof buf), "wal") == 0,
              "the journal is in WAL mode (%s)", buf);
        sqlite3_close(db);
    }

    /* b reads while a holds a write transaction with uncommitted rows */
    rc = store_begin(a, &err);
    CHECK(rc == CL_OK, "begin (%s)", rc ? err.msg : "");
    rc = store_trial_insert(a, &t, &err);
    CHECK(rc == CL_OK && count_trials(a) == 2, "the writer sees its own uncommitted row");
    {
        double t0 = wall();
        cl_store *c = NULL;
        CHECK(count_trials(b) == 1, "the reader is not blocked and sees the committed state");
        CHECK(wall() - t0 < 1.0, "the read did not wait for the writer");
        t0 = wall();
        rc = store_open(path, &c, &err);
        CHECK(rc == CL_OK && count_trials(c) == 1 && wall() - t0 < 1.0,
              "a third connection opens at once during the write (`cellar show` in a run) (%s)",
              rc ? err.msg : "");
        store_close(c);
    }
    /* nested: an inner commit commits nothing */
    rc = store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    rc = rc ? rc : store_commit(a, &err);
    CHECK(rc == CL_OK && count_trials(b) == 1, "after the inner commit the reader still sees 1");
    rc = store_commit(a, &err);
    CHECK(rc == CL_OK && count_trials(b) == 3, "the outer commit publishes both rows (%lld)",
          (long long)count_trials(b));

    /* rollback of the outer drops the committed inner writes */
    rc = store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    rc = rc ? rc : store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    rc = rc ? rc : store_commit(a, &err);
    CHECK(rc == CL_OK && count_trials(a) == 5, "two rows inside the transaction");
    store_rollback(a);
    CHECK(count_trials(a) == 3 && count_trials(b) == 3, "outer rollback drops the inner writes");

    /* an inner rollback dooms the whole transaction */
    rc = store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    rc = rc ? rc : store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    CHECK(rc == CL_OK, "nested writes (%s)", rc ? err.msg : "");
    store_rollback(a);
    rc = store_trial_insert(a, &t, &err);
    CHECK(rc != CL_OK && has(err.msg, "abandoned"),
          "after an inner rollback further writes are refused (%s)", err.msg);
    rc = store_commit(a, &err);
    CHECK(rc != CL_OK && has(err.msg, "rolled back") && has(err.msg, path),
          "the outer commit of a doomed transaction reports the loss (%s)", err.msg);
    CHECK(count_trials(a) == 3 && count_trials(b) == 3, "nothing of it was written");
    rc = store_commit(a, &err);
    CHECK(rc != CL_OK, "commit without begin is an error");
    store_rollback(a);   /* harmless at depth 0 */
    rc = store_trial_insert(a, &t, &err);
    CHECK(rc == CL_OK && count_trials(b) == 4, "autocommit works again afterwards (%s)",
          rc ? err.msg : "");

    /* the reader can also write while the writer is idle */
    rc = store_trial_insert(b, &t, &err);
    CHECK(rc == CL_OK && count_trials(a) == 5, "the second connection writes too (%s)",
          rc ? err.msg : "");
    /* a transaction left open at close is abandoned */
    rc = store_begin(a, &err);
    rc = rc ? rc : store_trial_insert(a, &t, &err);
    store_close(a);
    CHECK(rc == CL_OK && count_trials(b) == 5, "close rolls back an open transaction");
    store_close(b);
}

/* ---- the schema as sqlite3 users see it ------------------------------- */

static int has_columns(sqlite3 *db, const char *table, const char *const *cols)
{
    char sql[128];
    int ok = 1;
    for (; *cols; cols++) {
        sqlite3_stmt *s = NULL;
        int seen = 0;
        snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
            return 0;
        while (sqlite3_step(s) == SQLITE_ROW)
            if (strcmp((const char *)sqlite3_column_text(s, 1), *cols) == 0)
                seen = 1;
        sqlite3_finalize(s);
        if (!seen) {
            printf("# %s has no column %s\n", table, *cols);
            ok = 0;
        }
    }
    return ok;
}

static void test_schema(void)
{
    static const char *const experiment[] = {"name", "source_path", "source", "settings",
                                             "seed", "created", NULL};
    static const char *const trials[] = {
        "id",     "genotype",    "hash",    "state",  "reward",      "accuracy", "params",
        "flops",  "seconds",     "worker",  "recipe", "hash_recipe", "actions",  "logp",
        "reason", "reused_from", "created", "started", "finished",   NULL};
    static const char *const metrics[] = {"trial", "epoch", "train_loss", "train_acc", "val_acc",
                                          "lr", "seconds", NULL};
    static const char *const steps[] = {"step", "entropy", "reward_ema", "loss", "lr", "trials",
                                        "decisions", "time", NULL};
    static const char *const commands[] = {"id", "time", "source", "name", "old_value",
                                           "new_value", NULL};
    static const char *const seconds[] = {"phase", "seconds", NULL};
    static const char *const checkpoints[] = {"id", "trials_done", "time", "blob", NULL};
    static const char *const trainings[] = {
        "id",     "trial",  "genotype", "hash", "settings", "state",   "test_acc", "val_acc",
        "params", "flops", "seconds",  "pid",  "reason",   "started", "finished", NULL};
    static const char *const training_epochs[] = {"training", "epoch", "train_loss", "train_acc",
                                                  "val_acc", "lr", "seconds", NULL};
    static const char *const training_checkpoints[] = {"training", "epoch", "saved", "blob",
                                                       NULL};
    const char *path = tpath("schema.db");
    cl_store *st = NULL;
    cl_err err;
    sqlite3 *db;
    char buf[256];
    int rc = store_create(path, 0, &st, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    store_close(st);
    if (rc)
        return;
    db = raw_open(path);
    if (!db) {
        CHECK(0, "raw open of %s", path);
        return;
    }
    CHECK(raw_int(db, "PRAGMA application_id") == STORE_APPLICATION_ID,
          "application_id is cellar's");
    CHECK(raw_int(db, "PRAGMA user_version") == STORE_SCHEMA_VERSION, "user_version is %d",
          STORE_SCHEMA_VERSION);
    CHECK(has_columns(db, "experiment", experiment), "experiment columns");
    CHECK(has_columns(db, "trials", trials), "trials columns");
    CHECK(has_columns(db, "metrics", metrics), "metrics columns");
    CHECK(has_columns(db, "controller_steps", steps), "controller_steps columns");
    CHECK(has_columns(db, "commands", commands), "commands columns");
    CHECK(has_columns(db, "device_seconds", seconds), "device_seconds columns");
    CHECK(has_columns(db, "checkpoints", checkpoints), "checkpoints columns");
    CHECK(has_columns(db, "trainings", trainings), "trainings columns");
    CHECK(has_columns(db, "training_epochs", training_epochs), "training_epochs columns");
    CHECK(has_columns(db, "training_checkpoints", training_checkpoints),
          "training_checkpoints columns");
    CHECK(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                      "('experiment', 'trials', 'metrics', 'controller_steps', 'commands', "
                      "'device_seconds', 'checkpoints', 'trainings', 'training_epochs', "
                      "'training_checkpoints')") == 10,
          "the ten tables are in sqlite_master");
    CHECK(raw_int(db, "SELECT count(*) FROM pragma_table_info('metrics') WHERE pk > 0 AND name IN "
                      "('trial', 'epoch')") == 2,
          "metrics has the primary key (trial, epoch)");
    CHECK(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_list('metrics') WHERE "
                      "\"table\" = 'trials' AND \"from\" = 'trial'") == 1,
          "metrics.trial references trials");
    CHECK(raw_int(db, "SELECT count(*) FROM pragma_table_info('device_seconds') WHERE pk = 1 "
                      "AND name = 'phase'") == 1,
          "device_seconds is keyed by phase");
    {
        /* an index whose columns are exactly (hash, hash_recipe) */
        const char *sql = "SELECT group_concat(ii.name, ',') FROM pragma_index_list('trials') il "
                          "JOIN pragma_index_info(il.name) ii GROUP BY il.name "
                          "HAVING group_concat(ii.name, ',') = 'hash,hash_recipe'";
        CHECK(strcmp(raw_text(db, sql, buf, sizeof buf), "hash,hash_recipe") == 0,
              "trials has an index on (hash, hash_recipe)");
    }
    CHECK(raw_exec(db, "INSERT INTO trials(genotype, hash, state) VALUES('g', 'h', 'bogus')") ==
              SQLITE_CONSTRAINT,
          "the state column refuses values outside pending/running/done/failed");
    CHECK(raw_exec(db, "INSERT INTO trials(genotype, hash, state) VALUES('g', 'h', 'done')") ==
              SQLITE_OK,
          "a done trial written by hand is accepted");
    sqlite3_close(db);
}

/* ---- migrations and refusals ------------------------------------------ */

static void expect_refusal(const char *path, const char *phrase, const char *what)
{
    cl_store *st = NULL;
    cl_err err;
    int rc;
    err_clear(&err);
    rc = store_open(path, &st, &err);
    CHECK(rc != CL_OK && st == NULL && has(err.msg, path) && has(err.msg, phrase),
          "%s is refused, naming the file: %s", what, err.msg);
    store_close(st);
}

static void test_refusals(void)
{
    const char *path = tpath("refuse.db");
    cl_store *st = NULL;
    cl_err err;
    store_trial t = new_trial("g", "1234123412341234", "", TRIAL_PENDING);
    sqlite3 *db;
    char buf[256];
    int rc;

    /* create: exists without force, replaced with force */
    rc = store_create(path, 0, &st, &err);
    rc = rc ? rc : store_trial_insert(st, &t, &err);
    CHECK(rc == CL_OK, "create %s (%s)", path, rc ? err.msg : "");
    store_close(st);
    st = NULL;
    rc = store_create(path, 0, &st, &err);
    CHECK(rc != CL_OK && !st && has(err.msg, path) &&
              has(err.msg, "exists; use --force to overwrite it"),
          "create refuses an existing file (%s)", err.msg);
    rc = store_open(path, &st, &err);
    CHECK(rc == CL_OK && count_trials(st) == 1, "the refused create left the journal alone");
    store_close(st);
    st = NULL;
    rc = store_create(path, 1, &st, &err);
    CHECK(rc == CL_OK && count_trials(st) == 0, "create with force replaces it (%s)",
          rc ? err.msg : "");
    store_close(st);
    st = NULL;
    {
        /* a -wal left over from a deleted journal must not be replayed */
        const char *wal = tpath("stale.db-wal");
        write_bytes(wal, "stale", 5);
        rc = store_create(tpath("stale.db"), 0, &st, &err);
        CHECK(rc != CL_OK && has(err.msg, wal) && has(err.msg, "--force"),
              "create refuses next to a stale -wal (%s)", err.msg);
        rc = store_create(tpath("stale.db"), 1, &st, &err);
        CHECK(rc == CL_OK, "with force it is removed (%s)", rc ? err.msg : "");
        store_close(st);
        st = NULL;
    }
    rc = store_create(tpath("no/such/dir.db"), 0, &st, &err);
    CHECK(rc != CL_OK && has(err.msg, "no/such/dir.db") && has(err.msg, "cannot create"),
          "create in a missing directory (%s)", err.msg);

    /* open: one refusal per kind of wrong file */
    expect_refusal(tpath("missing.db"), "no such journal", "a missing path");
    {
        const char *p = tpath("text.db");
        char text[4096];
        for (size_t i = 0; i < sizeof text; i++)
            text[i] = "this is not a database, just words\n"[i % 35];
        write_bytes(p, text, sizeof text);
        expect_refusal(p, "not a cellar journal (file is not a database)", "a text file");
        write_bytes(p, "hello\n", 6);
        expect_refusal(p, "not a cellar journal (file is not a database)", "a short text file");
        CHECK(access(tpath("text.db-wal"), F_OK) != 0, "refusing it created no -wal beside it");
    }
    {
        const char *p = tpath("empty.db");
        struct stat sb;
        write_bytes(p, "", 0);
        expect_refusal(p, "not a cellar journal (the file is empty)", "an empty file");
        CHECK(stat(p, &sb) == 0 && sb.st_size == 0, "the empty file is left empty");
    }
    {
        const char *p = tpath("other.db");
        db = raw_open(p);
        CHECK(db && raw_exec(db, "CREATE TABLE notes(x); INSERT INTO notes VALUES(1)") == 0,
              "another application's database made");
        sqlite3_close(db);
        expect_refusal(p, "not a cellar journal (it is some other SQLite database)",
                       "another SQLite database");
        db = raw_open(p);
        CHECK(db && strcmp(raw_text(db, "PRAGMA journal_mode", buf, sizeof buf), "delete") == 0 &&
                  raw_int(db, "PRAGMA user_version") == 0,
              "the other database was not touched (journal_mode %s)", buf);
        sqlite3_close(db);
        db = raw_open(p);
        raw_exec(db, "PRAGMA application_id = 1234");
        sqlite3_close(db);
        expect_refusal(p, "(it is some other SQLite database)",
                       "a database with another application_id");
    }
    {
        const char *p = tpath("newer.db");
        rc = store_create(p, 0, &st, &err);
        store_close(st);
        st = NULL;
        db = raw_open(p);
        CHECK(rc == CL_OK && db && raw_exec(db, "PRAGMA user_version = 7") == 0,
              "a journal stamped version 7 by hand");
        sqlite3_close(db);
        expect_refusal(p, "written by a newer cellar (schema version 7, this cellar reads up to 3)",
                       "a newer journal");
    }

    /* migration: an empty cellar-stamped database at version 0 is brought
     * forward to the current version; version 3 opens as is */
    {
        const char *p = tpath("v0.db");
        db = raw_open(p);
        snprintf(buf, sizeof buf, "PRAGMA application_id = %d", STORE_APPLICATION_ID);
        CHECK(db && raw_exec(db, buf) == 0 && raw_exec(db, "CREATE TABLE scratch(x)") == 0,
              "a version-0 database with cellar's application_id");
        sqlite3_close(db);
        rc = store_open(p, &st, &err);
        CHECK(rc == CL_OK, "store_open migrates it (%s)", rc ? err.msg : "");
        rc = rc ? rc : store_trial_insert(st, &t, &err);
        CHECK(rc == CL_OK && t.id == 1, "the migrated journal takes trials (%s)",
              rc ? err.msg : "");
        store_close(st);
        st = NULL;
        db = raw_open(p);
        CHECK(db && raw_int(db, "PRAGMA user_version") == 3 &&
                  raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('trials', "
                              "'trainings', 'training_checkpoints')") == 3,
              "after migration user_version is 3 and the tables exist");
        sqlite3_close(db);
        rc = store_open(p, &st, &err);
        CHECK(rc == CL_OK && count_trials(st) == 1, "a version-3 journal opens with nothing to do");
        store_close(st);
        st = NULL;
    }
    /* version 1 (cellar before trainings were journaled) -> 3: its trials
     * kept, the trainings tables added */
    {
        const char *p = tpath("v1.db");
        store_training tr;
        memset(&tr, 0, sizeof tr);
        rc = store_create(p, 0, &st, &err);
        rc = rc ? rc : store_trial_insert(st, &t, &err);
        store_close(st);
        st = NULL;
        db = raw_open(p);
        CHECK(rc == CL_OK && db &&
                  raw_exec(db, "DROP TABLE training_checkpoints; DROP TABLE training_epochs; "
                               "DROP TABLE trainings; PRAGMA user_version = 1") == 0,
              "a version-1 journal, as an earlier cellar left it, with a trial");
        sqlite3_close(db);
        rc = store_open(p, &st, &err);
        CHECK(rc == CL_OK && count_trials(st) == 1, "store_open migrates it to 3, the trial kept (%s)",
              rc ? err.msg : "");
        tr.genotype = "g";
        tr.settings = "{}";
        tr.state = TRIAL_RUNNING;
        tr.trial = 1;
        rc = rc ? rc : store_training_insert(st, &tr, &err);
        CHECK(rc == CL_OK && tr.id == 1, "... and takes a training (%s)", rc ? err.msg : "");
        store_close(st);
        st = NULL;
        db = raw_open(p);
        CHECK(db && raw_int(db, "PRAGMA user_version") == 3, "... its user_version now 3");
        sqlite3_close(db);
    }
    /* version 2 (trainings without checkpoints) -> 3: its training kept
     * and given a checkpoint */
    {
        const char *p = tpath("v2.db");
        store_training tr;
        unsigned char *blob = NULL;
        size_t len = 0;
        int epoch = 0, found = 0;
        memset(&tr, 0, sizeof tr);
        tr.genotype = "g";
        tr.settings = "{}";
        tr.state = TRIAL_RUNNING;
        rc = store_create(p, 0, &st, &err);
        rc = rc ? rc : store_training_insert(st, &tr, &err);
        store_close(st);
        st = NULL;
        db = raw_open(p);
        CHECK(rc == CL_OK && db &&
                  raw_exec(db, "DROP TABLE training_checkpoints; PRAGMA user_version = 2") == 0,
              "a version-2 journal, with a training");
        sqlite3_close(db);
        rc = store_open(p, &st, &err);
        rc = rc ? rc : store_training_checkpoint_save(st, tr.id, 1, "ab", 2, &err);
        rc = rc ? rc : store_training_checkpoint_get(st, tr.id, &epoch, &blob, &len, &found, &err);
        CHECK(rc == CL_OK && found && epoch == 1 && len == 2 && !memcmp(blob, "ab", 2),
              "store_open migrates it to 3 and its training takes a checkpoint (%s)",
              rc ? err.msg : "");
        free(blob);
        store_close(st);
        st = NULL;
    }
}

/* Overwrite len bytes of path at offset with garbage. */
static int damage_bytes(const char *path, long offset, size_t len)
{
    FILE *f = fopen(path, "r+b");
    unsigned char junk[4096];
    uint32_t x = 0x9e3779b9u ^ (uint32_t)offset;
    int ok;
    if (!f || len > sizeof junk) {
        if (f)
            fclose(f);
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    ok = fseek(f, offset, SEEK_SET) == 0 && fwrite(junk, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* Overwrite page `page` (1-based, 4096 bytes) of path with garbage. */
static int damage_page(const char *path, long page)
{
    return damage_bytes(path, (page - 1) * 4096, 4096);
}

static int copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok;
}

static void test_damage(void)
{
    const char *pa = tpath("damaged2.db"), *pb = tpath("damagedmid.db");
    const char *pc = tpath("damaged1.db");
    cl_store *st = NULL;
    cl_err err;
    char *recipe = long_text(1000, 1);
    struct stat sb;
    int rc;

    rc = store_create(pa, 0, &st, &err);
    rc = rc ? rc : store_begin(st, &err);
    for (int i = 0; rc == CL_OK && i < 300; i++) {
        char geno[32];
        store_trial t;
        snprintf(geno, sizeof geno, "g%d", i);
        t = new_trial(geno, "abcdabcdabcdabcd", "r", TRIAL_DONE);
        t.recipe = recipe;
        rc = store_trial_insert(st, &t, &err);
    }
    rc = rc ? rc : store_commit(st, &err);
    CHECK(rc == CL_OK, "a journal of 300 trials (%s)", rc ? err.msg : "");
    store_close(st);   /* the last close checkpoints the WAL into the file */
    st = NULL;
    free(recipe);
    CHECK(stat(pa, &sb) == 0 && sb.st_size > 40 * 4096, "the journal has many pages (%lld bytes)",
          (long long)sb.st_size);
    CHECK(copy_file(pa, pb) && copy_file(pa, pc), "two copies to damage elsewhere");
    rc = store_open(pa, &st, &err);
    CHECK(rc == CL_OK, "the undamaged journal opens (%s)", rc ? err.msg : "");
    store_close(st);
    st = NULL;
    CHECK(damage_page(pa, 2), "page 2 overwritten with garbage");
    expect_refusal(pa, "damaged", "a journal with a garbage page 2");
    CHECK(damage_page(pb, (long)(sb.st_size / 4096 / 2)), "a middle page overwritten");
    expect_refusal(pb, "damaged", "a journal with a garbage page in the middle");
    /* the schema's page (page 1 past the 100-byte file header): quick_check
     * cannot even start, the statement itself fails with SQLITE_CORRUPT */
    CHECK(damage_bytes(pc, 100, 4096 - 100), "page 1 past the header overwritten");
    expect_refusal(pc, "damaged", "a journal with a garbage schema page");
}

/* ---- the JSON reader the journal's texts are read back with ---- */

static void test_json(void)
{
    static const char obj[] = " { \"a\" : 1, \"b\": {\"a\": 2, \"k\": [3]}, \"s\": \"x\\\"y\\\\z\\u0041\\u00e9\","
                              " \"c\": [1, 2.5, -3e2, null], \"e\": [], \"t\": true, \"n\": null } ";
    const char *v;
    double x = 0;
    char text[16];
    int n = 0;
    CHECK(json_number(json_get(obj, "a"), &x) == 0 && x == 1, "json: a top-level number");
    CHECK(json_number(json_get(json_get(obj, "b"), "a"), &x) == 0 && x == 2,
          "json: a key of a nested object");
    CHECK(json_get(obj, "k") == NULL, "json: a nested object's key is not the top's");
    CHECK(json_get(obj, "zz") == NULL && json_get("[1]", "a") == NULL && json_get("{}", "a") == NULL,
          "json: missing keys, and keys of what is not an object");
    CHECK(json_text(json_get(obj, "s"), text, sizeof text) == 0 && !strcmp(text, "x\"y\\zA?"),
          "json: a string unescaped (\\u0041 as A, beyond ASCII as ?): %s", text);
    CHECK(json_text(json_get(obj, "s"), text, 4) == 0 && !strcmp(text, "x\"y"),
          "json: a string cut to its room");
    CHECK(json_number(json_get(obj, "t"), &x) == -1 && json_number(json_get(obj, "n"), &x) == -1 &&
              json_text(json_get(obj, "a"), text, sizeof text) == -1,
          "json: true and null are not numbers, a number is not a string");
    for (v = json_first(json_get(obj, "c")); v; v = json_next(v))
        n += json_number(v, &x) == 0;
    CHECK(n == 3 && x == -300, "json: an array's elements in turn, null not a number (%d)", n);
    CHECK(json_first(json_get(obj, "e")) == NULL, "json: an empty array has no first element");
    /* malformed or cut texts are refused, never read past */
    CHECK(json_get("{\"a\": [1}, \"b\": 2}", "b") == NULL, "json: a mismatched bracket");
    CHECK(json_get("{\"a\": \"open, \"b\": 2", "c") == NULL, "json: a cut string");
    CHECK(json_text(json_get("{\"a\": \"abc", "a"), text, sizeof text) == -1,
          "json: an unclosed string is not read");
    v = json_next(json_first("[1, [2, 3"));
    CHECK(v && *v == '[' && json_next(v) == NULL, "json: a cut array ends the walk at the cut element");
    {
        char deep[200] = "{\"a\": ";
        for (int i = 0; i < 70; i++)
            strcat(deep, "[");
        strcat(deep, "], \"b\": 1}");
        CHECK(json_get(deep, "b") == NULL, "json: nesting deeper than the reader takes is refused");
    }
}

static int take_training(void *ud, const store_training *t)
{
    char *out = ud;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%lld/%lld/%s/%s/%s/%.2f/%s;", (long long)t->id,
             (long long)t->trial, trial_state_name(t->state), t->hash, t->settings, t->test_acc,
             t->reason ? t->reason : "-");
    return 0;
}

static int take_epoch(void *ud, const store_metric *m)
{
    char *out = ud;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%lld:%d:%.2f:%.2f;", (long long)m->trial, m->epoch, m->train_loss,
             m->train_acc);
    return 0;
}

/* a trial's genotype trained again (cellar train DB): recorded as it
 * starts, its epochs as they end, its result or failure at the end */
static void test_trainings(void)
{
    const char *path = tpath("trainings.db");
    cl_store *st = NULL;
    cl_err err = {0};
    store_training a, b;
    store_metric m1 = {1, 1, 1.5, 0.25, NAN, 0.05, 3.0}, m2 = {1, 2, 0.75, 0.5, NAN, 0.01, 6.0};
    char out[512] = "", eps[256] = "";
    int rc = store_create(path, 0, &st, &err);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.trial = 3;
    a.genotype = "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add";
    snprintf(a.hash, sizeof a.hash, "0123456789abcdef");
    a.settings = "{\"N\":2,\"F\":16}";
    a.state = TRIAL_RUNNING;
    a.test_acc = a.val_acc = a.seconds = NAN;
    a.pid = 4242;
    b = a;
    b.trial = 5;
    rc = rc ? rc : store_training_insert(st, &a, &err);
    rc = rc ? rc : store_training_insert(st, &b, &err);
    CHECK(rc == CL_OK && a.id == 1 && b.id == 2 && a.started > 0,
          "two trainings recorded as they start: ids 1, 2, the start time set (%s)",
          rc ? err.msg : "");
    rc = rc ? rc : store_training_epoch_insert(st, &m1, &err);
    rc = rc ? rc : store_training_epoch_insert(st, &m2, &err);
    a.state = TRIAL_DONE;
    a.test_acc = 0.875;
    a.seconds = 7.5;
    rc = rc ? rc : store_training_update(st, &a, &err);
    b.state = TRIAL_FAILED;
    b.reason = "interrupted (Ctrl-C)";
    rc = rc ? rc : store_training_update(st, &b, &err);
    CHECK(rc == CL_OK && a.finished >= a.started && b.finished > 0,
          "their epochs and ends recorded, the finish times set (%s)", rc ? err.msg : "");
    rc = rc ? rc : store_training_each(st, 0, take_training, out, &err);
    CHECK(rc == CL_OK && !strcmp(out, "1/3/done/0123456789abcdef/{\"N\":2,\"F\":16}/0.88/-;"
                                      "2/5/failed/0123456789abcdef/{\"N\":2,\"F\":16}/nan/"
                                      "interrupted (Ctrl-C);"),
          "store_training_each(0): both, in order, as written (%s)", out);
    out[0] = '\0';
    rc = rc ? rc : store_training_each(st, 5, take_training, out, &err);
    CHECK(rc == CL_OK && !strncmp(out, "2/5/failed/", 11) && strchr(out, ';') == strrchr(out, ';'),
          "store_training_each(5): trial 5's only (%s)", out);
    rc = rc ? rc : store_training_epoch_each(st, 1, take_epoch, eps, &err);
    CHECK(rc == CL_OK && !strcmp(eps, "1:1:1.50:0.25;1:2:0.75:0.50;"),
          "store_training_epoch_each: training 1's epochs in order (%s)", eps);
    eps[0] = '\0';
    rc = rc ? rc : store_training_epoch_each(st, 2, take_epoch, eps, &err);
    CHECK(rc == CL_OK && !eps[0], "... training 2 has none");
    a.id = 99;
    CHECK(store_training_update(st, &a, &err) != CL_OK && strstr(err.msg, "no training 99"),
          "updating a training that is not there: refused (%s)", err.msg);
    store_close(st);
}

static int take_ckpt(void *ud, const store_training *t)
{
    char *out = ud, text[300];
    size_t n = strlen(out);
    store_training_state_text(t, text, sizeof text);
    snprintf(out + n, 1024 - n, "%lld:%d:%d:%s;", (long long)t->id, t->epochs_done,
             t->ckpt_epoch, text);
    return 0;
}

/* a training's checkpoint: kept one per training, newest, shown as
 * resumable while it is stopped, the later epochs dropped when it is taken
 * up again, gone when it is done */
static int64_t raw_count(const char *path, const char *sql)
{
    sqlite3 *db = raw_open(path);
    int64_t n = db ? raw_int(db, sql) : -1;
    sqlite3_close(db);
    return n;
}

static void test_training_checkpoints(void)
{
    const char *path = tpath("training-ckpt.db");
    cl_store *st = NULL;
    cl_err err = {0};
    store_training a, b;
    store_metric m = {1, 1, 1.0, 0.5, NAN, 0.05, 3.0};
    unsigned char *blob = NULL;
    size_t len = 0;
    char out[1024] = "", want[1024];
    int epoch = 0, found = 1, rc;
    pid_t gone = fork();
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    rc = store_create(path, 0, &st, &err);
    memset(&a, 0, sizeof a);
    a.genotype = "g";
    a.settings = "{\"epochs\":3}";
    a.state = TRIAL_RUNNING;
    a.test_acc = a.val_acc = a.seconds = NAN;
    a.pid = (long)gone;
    b = a;
    rc = rc ? rc : store_training_insert(st, &a, &err);
    rc = rc ? rc : store_training_insert(st, &b, &err);
    rc = rc ? rc : store_training_checkpoint_get(st, a.id, &epoch, &blob, &len, &found, &err);
    CHECK(rc == CL_OK && !found && !blob, "a training starts with no checkpoint (%s)",
          rc ? err.msg : "");
    for (int e = 1; e <= 2 && rc == CL_OK; e++) {
        m.epoch = e;
        rc = store_training_checkpoint_save(st, a.id, e, e == 1 ? "one" : "two!", 3 + (e == 2),
                                            &err);
        rc = rc ? rc : store_training_epoch_insert(st, &m, &err);
    }
    m.epoch = 3;   /* an epoch journaled, its checkpoint not (killed between the two) */
    rc = rc ? rc : store_training_epoch_insert(st, &m, &err);
    rc = rc ? rc : store_training_checkpoint_get(st, a.id, &epoch, &blob, &len, &found, &err);
    CHECK(rc == CL_OK && found && epoch == 2 && len == 4 && !memcmp(blob, "two!", 4),
          "the checkpoint after epoch 2 replaced the one after epoch 1 (%s)", rc ? err.msg : "");
    free(blob);
    blob = NULL;
    CHECK(raw_count(path, "SELECT count(*) FROM training_checkpoints") == 1,
          "one row per training");
    rc = rc ? rc : store_training_each(st, 0, take_ckpt, out, &err);
    snprintf(want, sizeof want,
             "1:3:2:interrupted after 3 of 3 epochs (cellar process %ld is gone); resumable from "
             "epoch 2;2:0:0:interrupted after 0 of 3 epochs (cellar process %ld is gone);",
             (long)gone, (long)gone);
    CHECK(rc == CL_OK && !strcmp(out, want),
          "store_training_each reads the checkpoint's epoch; the state says it resumes (%s)",
          rc ? err.msg : out);
    snprintf(want, sizeof want, "training 1 was taken up meanwhile by cellar process %ld "
             "(running there)", (long)gone);
    CHECK(store_training_resume(st, a.id, 1, (long)getpid(), 2, &err) != CL_OK &&
              strstr(err.msg, want),
          "not taken up where its process is no longer the one read, the one now named: %s",
          err.msg);
    rc = rc ? rc : store_training_resume(st, a.id, (long)gone, (long)getpid(), 2, &err);
    out[0] = '\0';
    rc = rc ? rc : store_training_each(st, 0, take_ckpt, out, &err);
    snprintf(want, sizeof want, "1:2:2:running (cellar process %ld), 2 of 3 epochs done;",
             (long)getpid());
    CHECK(rc == CL_OK && !strncmp(out, want, strlen(want)),
          "taken up again: running in this process, epoch 3 (after the checkpoint) dropped, "
          "not said resumable while it runs (%s)", rc ? err.msg : out);
    a.state = TRIAL_FAILED;
    a.reason = "interrupted (Ctrl-C)";
    rc = rc ? rc : store_training_update(st, &a, &err);
    rc = rc ? rc : store_training_resume(st, a.id, (long)getpid(), (long)getpid(), 2, &err);
    a.state = TRIAL_DONE;
    a.reason = NULL;
    a.test_acc = 0.5;
    rc = rc ? rc : store_training_update(st, &a, &err);
    CHECK(rc == CL_OK && raw_count(path, "SELECT count(*) FROM training_checkpoints") == 0,
          "a failed one resumes too; done, its checkpoint is deleted (%s)", rc ? err.msg : "");
    rc = store_training_resume(st, a.id, (long)getpid(), (long)getpid(), 2, &err);
    CHECK(rc != CL_OK && strstr(err.msg, "training 1 is done (by cellar process"),
          "a done training is not taken up again: %s", err.msg);
    store_close(st);
}

static int take_text(void *ud, const store_training *t)
{
    char *out = ud, text[300];
    size_t n = strlen(out);
    store_training_text(t, text, sizeof text);
    snprintf(out + n, 1024 - n, "%d %s;", t->epochs_done, text);
    return 0;
}

/* what show and the screen say of a training: its settings and result, or
 * its state, a running one's process alive or gone */
static void test_training_text(void)
{
    const char *path = tpath("training-text.db");
    cl_store *st = NULL;
    cl_err err = {0};
    store_training a;
    store_metric m = {0, 1, 1.0, 0.5, NAN, 0.05, 3.0};
    char out[1024] = "", want[1024];
    pid_t gone = fork();
    int rc;
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);   /* a process that was, and is no more */
    rc = store_create(path, 0, &st, &err);
    memset(&a, 0, sizeof a);
    a.trial = 1;
    a.genotype = "g";
    a.settings = "{\"dataset\":\"cifar10\",\"train_images\":45000,\"test_images\":10000,"
                 "\"N\":2,\"F\":16,\"epochs\":10,\"batch\":128,\"lr\":0.05,\"backend\":\"cuda\"}";
    a.state = TRIAL_RUNNING;
    a.test_acc = a.val_acc = a.seconds = NAN;
    a.pid = (long)getpid();
    rc = rc ? rc : store_training_insert(st, &a, &err);   /* 1: running here */
    m.trial = a.id;
    rc = rc ? rc : store_training_epoch_insert(st, &m, &err);
    a.pid = (long)gone;
    rc = rc ? rc : store_training_insert(st, &a, &err);   /* 2: its process gone */
    rc = rc ? rc : store_training_insert(st, &a, &err);   /* 3: done */
    a.state = TRIAL_DONE;
    a.test_acc = 0.875;
    a.seconds = 7.5;
    rc = rc ? rc : store_training_update(st, &a, &err);
    rc = rc ? rc : store_training_insert(st, &a, &err);   /* 4: failed */
    a.state = TRIAL_FAILED;
    a.reason = "out of memory";
    rc = rc ? rc : store_training_update(st, &a, &err);
    rc = rc ? rc : store_training_each(st, 1, take_text, out, &err);
    snprintf(want, sizeof want,
             "1 cifar10, 45000 images, N=2 F=16, 10 epochs of batch 128, lr 0.05, cuda backend: "
             "running (cellar process %ld), 1 of 10 epochs done;"
             "0 cifar10, 45000 images, N=2 F=16, 10 epochs of batch 128, lr 0.05, cuda backend: "
             "interrupted after 0 of 10 epochs (cellar process %ld is gone);"
             "0 cifar10, 45000 images, N=2 F=16, 10 epochs of batch 128, lr 0.05, cuda backend: "
             "test accuracy 87.50%% (10000 images), 7.5 s;"
             "0 cifar10, 45000 images, N=2 F=16, 10 epochs of batch 128, lr 0.05, cuda backend: "
             "failed: out of memory;",
             (long)getpid(), (long)gone);
    CHECK(rc == CL_OK && !strcmp(out, want),
          "store_training_text: running, interrupted, done, failed, with epochs_done (%s)",
          rc ? err.msg : out);
    store_close(st);
}

int main(void)
{
    double t0 = wall();
    if (!tmpdir_make("test-store")) {
        printf("not ok - mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    test_round_trip_and_reopen();
    test_lifecycle();
    test_crash();
    test_wal_and_transactions();
    test_claim();
    test_schema();
    test_refusals();
    test_damage();
    test_json();
    test_trainings();
    test_training_text();
    test_training_checkpoints();
    remove_tree(tmpdir);
    CHECK(access(tmpdir, F_OK) != 0, "the temporary directory is removed");
    printf("# %.1f s\n", wall() - t0);
    return check_done();
}
