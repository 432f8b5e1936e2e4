/* test_lua.c - the Lua layer: the shipped experiments load (embedded and
 * from the source tree) with the values they set; errors name file:line
 * and list what is valid; an experiment with only a name gets the
 * documented defaults; settings given as functions of the trial are
 * evaluated per trial and their errors name the trial and the place;
 * hooks receive their tables and their errors come back; the sandbox
 * lacks what it should and stops runaway code; the console evaluates as
 * the stand-alone REPL does; the settings JSON is valid and the recipe
 * hash follows the recipe; and the live functions act on a real engine.
 *
 * Fixture files are written into a temporary directory, removed at the
 * end.  CELLAR_SRCDIR names the source tree (default "."). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "testdir.h"
#include "child/child.h"
#include "core/log.h"
#include "data/dataset.h"
#include "lua/cellar_lua.h"
#include "lua/lua_priv.h"   /* help()'s entries against the cellar table */

static cl_buf logbuf;

/* ---- helpers ------------------------------------------------------------- */


static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(tpath(name), "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        printf("cannot write fixture %s\n", tpath(name));
        exit(1);
    }
}


static int has(const char *s, const char *sub)
{
    return s && strstr(s, sub) != NULL;
}

static void log_sink(void *ud, log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    buf_printf(&logbuf, "%s\n", msg);
}

/* Evaluate chunk; returns its output, or "ERROR: message" (static buffer). */
static const char *eval(cl_lua *L, const char *chunk)
{
    static char res[4][2048];
    static int next;
    char *r = res[next++ % 4];
    cl_buf out = {0};
    cl_err err = {0};
    int incomplete = 0;
    if (cl_lua_eval(L, chunk, &out, &incomplete, &err))
        snprintf(r, sizeof res[0], "ERROR: %s", err.msg);
    else if (incomplete)
        snprintf(r, sizeof res[0], "INCOMPLETE");
    else
        snprintf(r, sizeof res[0], "%s", out.s ? out.s : "");
    buf_free(&out);
    return r;
}

#define CHECK_EVAL(L, chunk, want)                                                       \
    do {                                                                                 \
        const char *got_ = eval((L), (chunk));                                          \
        CHECK(!strcmp(got_, (want)), "%s gives %s (got %s)", (chunk), (want), got_);    \
    } while (0)

/* Load a fixture; returns the status, the message in err. */
static int load(cl_lua *L, const char *name, experiment **xs, int *n, cl_err *err)
{
    err_clear(err);
    return cl_lua_load_experiment(L, tpath(name), xs, n, err);
}

static char *settings_json(const experiment *x)
{
    cl_buf b = {0};
    if (experiment_settings_json(x, &b))
        return NULL;
    return b.s;
}

/* ---- a small JSON checker ---------------------------------------------------- */

static const char *json_value(const char *p);

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *json_value(const char *p)
{
    p = json_ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (!(p = json_string(json_ws(p))))
                    return NULL;
                p = json_ws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if (!(p = json_value(p)))
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    }
    if (*p == '"')
        return json_string(p);
    if (!strncmp(p, "true", 4))
        return p + 4;
    if (!strncmp(p, "false", 5))
        return p + 5;
    if (!strncmp(p, "null", 4))
        return p + 4;
    return json_number(p);
}

static int json_valid(const char *s)
{
    const char *end = s ? json_value(s) : NULL;
    return end && *json_ws(end) == '\0';
}

/* ---- the shipped experiments ---------------------------------------------------- */

static int same_space(const cl_space *a, const cl_space *b)
{
    if (strcmp(a->name, b->name) || a->B != b->B || a->inputs != b->inputs ||
        a->n_ops != b->n_ops || a->n_combs != b->n_combs)
        return 0;
    return !memcmp(a->ops, b->ops, (size_t)a->n_ops) && !memcmp(a->combs, b->combs, (size_t)a->n_combs);
}

/* Walk dir (= lua/ + rel) and compare every .lua file with its embedded copy. */
static void check_embedded(const char *dir, const char *rel, int *files, int *same)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        char full[1200], sub[600];
        struct stat st;
        size_t nl = strlen(e->d_name), len, elen;
        unsigned char *data;
        const char *emb;
        cl_err err = {0};
        if (e->d_name[0] == '.')
            continue;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            check_embedded(full, sub, files, same);
            continue;
        }
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".lua"))
            continue;
        (*files)++;
        emb = cl_lua_embedded(sub, &elen);
        if (!emb)
            printf("# not embedded: lua/%s\n", sub);
        else if (!read_file(full, &data, &len, &err)) {
            *same += len == elen && !memcmp(data, emb, len);
            free(data);
        }
    }
    closedir(d);
}

static void test_shipped(const char *srcdir)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs = NULL, *ys = NULL;
    int n = 0, m = 0;
    cl_space nas;
    char path[1024], *j1, *j2;
    const char *const *names;
    int found = 0;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    space_nasnet(&nas);

    /* quick, embedded */
    CHECK(cl_lua_load_experiment(L, "quick", &xs, &n, &err) == 0, "the embedded 'quick' loads (%s)",
          err.msg);
    CHECK(n == 1, "quick declares one experiment (got %d)", n);
    if (n == 1) {
        const experiment *x = &xs[0];
        char lr[64];
        sched_format(&x->child.lr, lr, sizeof lr);
        CHECK(!strcmp(x->name, "quick"), "quick: name (got %s)", x->name);
        CHECK(!strcmp(x->dataset, "fashion-mnist"), "quick: dataset (got %s)", x->dataset);
        CHECK(x->train_images == 4000 && x->val_images == 1000,
              "quick: 4000 training and 1000 validation images (got %d, %d)", x->train_images,
              x->val_images);
        CHECK(x->child.N == 1 && x->child.F == 8 && x->child.epochs == 1 && x->child.batch == 32,
              "quick: N 1, F 8, 1 epoch, batch 32 (got %d %d %d %d)", x->child.N, x->child.F,
              x->child.epochs, x->child.batch);
        CHECK(!strcmp(lr, "cosine(0.05, 0)"), "quick: lr cosine(0.05, 0) (got %s)", lr);
        CHECK(!strcmp(x->strategy, "ppo") && x->strat.batch == 10 &&
                  fabs(x->strat.lr - 0.00035) < 1e-12,
              "quick: ppo, lr 0.00035, update every 10 (got %s %d %g)", x->strategy,
              x->strat.batch, x->strat.lr);
        CHECK(x->budget >= 40 && x->budget <= 60 && x->seed == 1,
              "quick: budget 40 to 60, seed 1 (got %d, %llu)", x->budget,
              (unsigned long long)x->seed);
        CHECK(same_space(&x->space, &nas), "quick: the NASNet space, as space_nasnet has it");
        CHECK(experiment_validate(x, &err) == 0, "quick passes experiment_validate (%s)", err.msg);
        CHECK(!strcmp(x->source_path, "lua/experiments/quick.lua"),
              "quick: source_path names the embedded file (got %s)", x->source_path);
        CHECK(has(x->source, "cellar.experiment"), "quick: source holds the text");
        CHECK(x->per_trial == NULL, "quick: no per-trial functions");
    }

    /* quick from the source tree gives the same settings */
    snprintf(path, sizeof path, "%s/lua/experiments/quick.lua", srcdir);
    CHECK(cl_lua_load_experiment(L, path, &ys, &m, &err) == 0, "%s loads (%s)", path, err.msg);
    if (n == 1 && m == 1) {
        j1 = settings_json(&xs[0]);
        j2 = settings_json(&ys[0]);
        CHECK(j1 && j2 && !strcmp(j1, j2), "the file and the embedded copy give the same settings");
        CHECK(!strcmp(ys[0].source_path, path), "source_path is the path given (got %s)",
              ys[0].source_path);
        CHECK(xs[0].source && ys[0].source && !strcmp(xs[0].source, ys[0].source),
              "the embedded text is the file's text");
        free(j1);
        free(j2);
    }

    /* rl-vs-random: two arms, identical but for the strategy */
    CHECK(cl_lua_load_experiment(L, "rl-vs-random", &xs, &n, &err) == 0,
          "rl-vs-random loads (%s)", err.msg);
    CHECK(n == 2, "rl-vs-random declares two experiments (got %d)", n);
    if (n == 2) {
        experiment y = xs[1];
        CHECK(strcmp(xs[0].strategy, xs[1].strategy) != 0, "the arms differ in strategy (%s, %s)",
              xs[0].strategy, xs[1].strategy);
        CHECK(!strcmp(xs[1].strategy, "random"), "one arm is random search");
        CHECK(xs[0].budget == xs[1].budget && xs[0].seed == xs[1].seed,
              "the arms share budget and seed");
        CHECK(experiment_validate(&xs[0], &err) == 0 && experiment_validate(&xs[1], &err) == 0,
              "both arms pass experiment_validate (%s)", err.msg);
        memcpy(y.name, xs[0].name, sizeof y.name);
        memcpy(y.strategy, xs[0].strategy, sizeof y.strategy);
        y.strat = xs[0].strat;
        j1 = settings_json(&xs[0]);
        j2 = settings_json(&y);
        CHECK(j1 && j2 && !strcmp(j1, j2), "with name and strategy swapped the settings are equal");
        free(j1);
        free(j2);
    }

    /* cifar10 needs its directory */
    unsetenv("CELLAR_CIFAR_DIR");
    CHECK(cl_lua_load_experiment(L, "cifar10", &xs, &n, &err) != 0 &&
              has(err.msg, "CELLAR_CIFAR_DIR"),
          "cifar10 without CELLAR_CIFAR_DIR says to set it (%s)", err.msg);
    setenv("CELLAR_CIFAR_DIR", "/data/cifar-10-batches-bin", 1);
    CHECK(cl_lua_load_experiment(L, "cifar10", &xs, &n, &err) == 0 && n == 1,
          "cifar10 loads with CELLAR_CIFAR_DIR set (%s)", err.msg);
    if (n == 1) {
        CHECK(!strcmp(xs[0].dataset, "cifar10:/data/cifar-10-batches-bin"),
              "cifar10: the dataset comes from the environment (got %s)", xs[0].dataset);
        CHECK(xs[0].child.N == 2 && xs[0].child.F == 16 && xs[0].child.epochs == 20,
              "cifar10: the paper's proxy N 2, F 16, 20 epochs");
        CHECK(experiment_validate(&xs[0], &err) == 0, "cifar10 passes experiment_validate (%s)",
              err.msg);
    }
    unsetenv("CELLAR_CIFAR_DIR");

    /* the embedded files */
    names = cl_lua_embedded_experiments();
    for (int i = 0; names && names[i]; i++)
        found += !strcmp(names[i], "quick") + !strcmp(names[i], "rl-vs-random") +
                 !strcmp(names[i], "cifar10");
    CHECK(found == 3, "the embedded experiments are quick, rl-vs-random and cifar10");
    CHECK(cl_lua_embedded("spaces/nasnet.lua", NULL) != NULL, "spaces/nasnet.lua is embedded");
    CHECK(cl_lua_embedded("spaces/none.lua", NULL) == NULL, "an unknown path is not");
    {
        /* every Lua file under lua/ of the source tree is in the binary,
         * byte for byte */
        int files = 0, same = 0;
        snprintf(path, sizeof path, "%s/lua", srcdir);
        check_embedded(path, "", &files, &same);
        CHECK(files >= 4 && same == files, "all %d Lua files under lua/ are embedded as they are "
              "(%d match)", files, same);
    }

    /* require finds the embedded space */
    CHECK_EVAL(L, "require('spaces.nasnet').B", "5");
    CHECK_EVAL(L, "#require('spaces.nasnet').ops", "13");
    CHECK_EVAL(L, "require('spaces.nasnet').ops[13]", "sep_conv_7x7");
    cl_lua_free(L);
}

/* ---- errors ---------------------------------------------------------------------- */

static void expect_error(cl_lua *L, const char *file, const char *text, const char *const *subs,
                         const char *what)
{
    experiment *xs;
    int n, ok = 1;
    cl_err err = {0};
    write_text(file, text);
    if (load(L, file, &xs, &n, &err) == 0) {
        CHECK(0, "%s: refused (it loaded)", what);
        return;
    }
    for (int i = 0; subs[i]; i++)
        if (!has(err.msg, subs[i])) {
            printf("# missing '%s'\n", subs[i]);
            ok = 0;
        }
    CHECK(ok, "%s: %s", what, err.msg);
}

static void test_errors(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs;
    int n;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    expect_error(L, "syntax.lua",
                 "-- a comment\n"
                 "local x = 1\n"
                 "cellar.experiment{ name = 'a' budget = 3 }\n",
                 (const char *const[]){"syntax.lua:3:", NULL}, "a syntax error names file:line");
    expect_error(L, "runtime.lua",
                 "local t = {}\n"
                 "\n"
                 "\n"
                 "local y = t.missing + 1\n",
                 (const char *const[]){"runtime.lua:4:", "arithmetic", NULL},
                 "a runtime error names file:line");
    expect_error(L, "badop.lua",
                 "cellar.experiment{ name = 'a',\n"
                 "  space = cellar.space{ ops = { 'identity', 'sep_conv_9x9' } } }\n",
                 (const char *const[]){"badop.lua:2:", "sep_conv_9x9", "sep_conv_3x3",
                                       "conv_1x7_7x1", "identity", NULL},
                 "an unknown op is named and the valid ones listed");
    expect_error(L, "badkey.lua",
                 "\n"
                 "cellar.experiment{ name = 'a', child = { epoch = 2 } }\n",
                 (const char *const[]){"badkey.lua:2:", "child", "unknown key 'epoch'",
                                       "did you mean 'epochs'?", "weight_decay", "drop_path",
                                       NULL},
                 "an unknown key in child: the nearest one suggested, the valid keys listed");
    expect_error(L, "badline.lua",
                 "-- epoch = 1 in a comment is not the key\n"
                 "cellar.experiment {\n"
                 "  name = 'a',\n"
                 "  child = {\n"
                 "    N = 1,\n"
                 "    epoch = 2,\n"
                 "  },\n"
                 "}\n",
                 (const char *const[]){"badline.lua:6:", "unknown key 'epoch'", NULL},
                 "an unknown key on a line of its own: that line, not the call's");
    expect_error(L, "badmade.lua",
                 "cellar.experiment {\n"
                 "  name = 'a',\n"
                 "  child = { [\"ep\" .. \"och\"] = 2 },\n"
                 "}\n",
                 (const char *const[]){"badmade.lua:1:", "unknown key 'epoch'", NULL},
                 "a key written nowhere as `key =`: the call's line");
    expect_error(L, "badidx.lua", "cellar.experiment{ name = 'a', child = { 2 } }\n",
                 (const char *const[]){"badidx.lua:1:", "unexpected number key 1", "epochs",
                                       NULL},
                 "a list entry where keys belong is named");
    expect_error(L, "badtop.lua", "cellar.experiment{ name = 'a', budgte = 3 }\n",
                 (const char *const[]){"badtop.lua:1:", "budgte", "did you mean 'budget'?",
                                       "reuse_duplicates", NULL},
                 "an unknown key at the top: the nearest (two letters swapped) suggested");
    expect_error(L, "badstrat.lua",
                 "cellar.experiment{ name = 'a', strategy = cellar.ppo{ clip = 0.1, "
                 "population = 3 } }\n",
                 (const char *const[]){"badstrat.lua:1:", "population", "entropy_weight", NULL},
                 "an unknown key of a strategy lists the valid keys");
    {
        const char *got = eval(L, "cellar.experiment{ name = 'a', strategy = cellar.ppo{ "
                                  "clip = 0.1, population = 3 } }");
        CHECK(got && strstr(got, "unknown key 'population'") && !strstr(got, "did you mean"),
              "a key near none of the valid ones: nothing suggested (%s)", got ? got : "");
    }
    expect_error(L, "badname.lua", "cellar.experiment{ name = 'a', strategy = 'bayes' }\n",
                 (const char *const[]){"badname.lua:1:", "bayes", "evolution", NULL},
                 "an unknown strategy lists the valid ones");
    expect_error(L, "badtype.lua", "cellar.experiment{ name = 'a', budget = 'ten' }\n",
                 (const char *const[]){"badtype.lua:1:", "budget", "expected an integer",
                                       "'ten'", NULL},
                 "a wrong type says what was expected");
    expect_error(L, "badtype2.lua", "cellar.experiment{ name = 'a', child = { lr = true } }\n",
                 (const char *const[]){"child.lr", "expected a number or a schedule",
                                       "boolean", NULL},
                 "a schedule of the wrong type says what was expected");
    expect_error(L, "badsched.lua",
                 "cellar.experiment{ name = 'a',\n"
                 "  child = { lr = cellar.warmup(0.1, 0, 1.5) } }\n",
                 (const char *const[]){"child.lr", "share", NULL},
                 "a warmup share of 1.5 is refused naming the setting");
    expect_error(L, "badrange.lua", "cellar.experiment{ name = 'a', budget = 0 }\n",
                 (const char *const[]){"budget", "1 to", NULL},
                 "a setting out of range names it and the range");
    expect_error(L, "badfn.lua", "cellar.experiment{ name = 'a', budget = function() end }\n",
                 (const char *const[]){"budget", "child.epochs", NULL},
                 "a function where none is allowed lists where functions go");
    expect_error(L, "none.lua", "local x = 1\n",
                 (const char *const[]){"none.lua", "declares no experiment", NULL},
                 "a file that declares nothing is an error");
    expect_error(L, "twice.lua",
                 "cellar.experiment{ name = 'a' }\ncellar.experiment{ name = 'a' }\n",
                 (const char *const[]){"twice.lua:2:", "'a'", "twice", NULL},
                 "a name declared twice is an error");
    expect_error(L, "strict.lua", "cellar.experiment{ name = 'a', space = nasnett }\n",
                 (const char *const[]){"strict.lua:1:", "nasnett", NULL},
                 "reading an undefined global is an error");

    CHECK(cl_lua_load_experiment(L, tpath("missing.lua"), &xs, &n, &err) != 0 &&
              has(err.msg, "missing.lua"),
          "a missing .lua file is named (%s)", err.msg);
    CHECK(cl_lua_load_experiment(L, "no-such-experiment", &xs, &n, &err) != 0 &&
              has(err.msg, "no-such-experiment") && has(err.msg, "quick"),
          "an unknown name lists the embedded experiments (%s)", err.msg);

    CHECK(has(eval(L, "cellar.space{ ops = { 'identity', 'identity' } }"), "twice"),
          "a space with an op listed twice is refused");
    CHECK(has(eval(L, "cellar.space{ combiners = { 'mul' } }"), "concat"),
          "an unknown combiner lists the valid ones");
    CHECK(has(eval(L, "cellar.space{ B = 0 }"), "B must be"), "a space with B = 0 is refused");
    cl_lua_free(L);
}

/* ---- defaults ---------------------------------------------------------------------- */

static void test_defaults(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs = NULL, ref;
    int n = 0;
    char *j1, *j2, lr[64];

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    write_text("defaults.lua", "cellar.experiment{ name = 'd' }\n");
    CHECK(load(L, "defaults.lua", &xs, &n, &err) == 0 && n == 1,
          "an experiment with only a name loads (%s)", err.msg);
    if (n == 1) {
        const experiment *x = &xs[0];
        experiment_defaults(&ref);
        snprintf(ref.name, sizeof ref.name, "d");
        j1 = settings_json(x);
        j2 = settings_json(&ref);
        CHECK(j1 && j2 && !strcmp(j1, j2), "it has the settings of experiment_defaults");
        free(j1);
        free(j2);
        sched_format(&x->child.lr, lr, sizeof lr);
        CHECK(!strcmp(x->dataset, "fashion-mnist") && x->train_images == 5000 &&
                  x->val_images == 1000 && x->seed == 1 && x->budget == 20,
              "default dataset fashion-mnist, 5000/1000 images, seed 1, budget 20");
        CHECK(x->child.N == 1 && x->child.F == 8 && x->child.epochs == 1 &&
                  x->child.batch == 32 && !strcmp(lr, "cosine(0.05, 0)") &&
                  x->child.drop_path.kind == SCHED_CONSTANT && x->child.drop_path.from == 0 &&
                  x->child.momentum == 0.9 && x->child.weight_decay == 3e-4 &&
                  x->child.augment == -1,
              "default recipe N 1, F 8, 1 epoch, batch 32, cosine(0.05, 0), no drop-path, "
              "momentum 0.9, wd 3e-4, augment auto");
        CHECK(!strcmp(x->strategy, "ppo") && x->strat.hidden == 100 && x->strat.batch == 20 &&
                  x->strat.ppo_epochs == 4 && x->strat.lr == 0.00035 &&
                  x->strat.entropy_weight == 1e-5 && x->strat.baseline_decay == 0.95 &&
                  x->strat.clip == 0.2 && x->strat.tanh_c == 0 &&
                  x->strat.temperature.from == 0 && x->strat.population == 20 &&
                  x->strat.sample == 5,
              "default strategy ppo with the paper's controller settings");
        CHECK(x->time_budget == 0 && x->reuse_duplicates == 1, "no time budget, duplicates reused");
        CHECK(experiment_validate(x, &err) == 0, "the defaults validate (%s)", err.msg);
    }
    write_text("unnamed.lua", "cellar.experiment{ budget = 3 }\n");
    load(L, "unnamed.lua", &xs, &n, &err);
    CHECK(n == 1 && !strcmp(xs[0].name, "unnamed"), "an unnamed experiment takes the file's name "
          "(%s)", n == 1 ? xs[0].name : err.msg);
    write_text("bad name.lua", "cellar.experiment{ budget = 3 }\n");
    CHECK(load(L, "bad name.lua", &xs, &n, &err) != 0 && has(err.msg, "give the experiment a name"),
          "a file name that cannot name the experiment says to give one (%s)", err.msg);
    write_text("strats.lua",
               "cellar.experiment{ name = 'r', strategy = 'random' }\n"
               "cellar.experiment{ name = 'e', strategy = cellar.evolution{ population = 8, "
               "sample = 3 } }\n"
               "cellar.experiment{ name = 'f', strategy = cellar.reinforce{ lr = 0.001, "
               "temperature = cellar.linear(5, 1) } }\n"
               "cellar.experiment{ name = 't', strategy = { name = 'ppo', epochs = 2 } }\n");
    CHECK(load(L, "strats.lua", &xs, &n, &err) == 0 && n == 4, "strategies as names, "
          "constructors and tables (%s)", err.msg);
    if (n == 4) {
        CHECK(!strcmp(xs[0].strategy, "random"), "a plain name");
        CHECK(!strcmp(xs[1].strategy, "evolution") && xs[1].strat.population == 8 &&
                  xs[1].strat.sample == 3,
              "evolution with population and sample");
        CHECK(!strcmp(xs[2].strategy, "reinforce") && xs[2].strat.lr == 0.001 &&
                  xs[2].strat.temperature.kind == SCHED_LINEAR &&
                  xs[2].strat.temperature.from == 5,
              "reinforce with a temperature schedule");
        CHECK(!strcmp(xs[3].strategy, "ppo") && xs[3].strat.ppo_epochs == 2,
              "a table with a name");
    }
    cl_lua_free(L);
}

/* ---- per-trial functions ---------------------------------------------------------------- */

static void test_per_trial(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs = NULL;
    int n = 0, ep[3] = {0, 0, 0};

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    write_text("pt.lua",
               "cellar.experiment{ name = 'p',\n"
               "  child = { epochs = function(t) return t < 3 and 1 or 2 end,\n"
               "            lr = function(t) return cellar.linear(0.1 / t, 0) end },\n"
               "  strategy = cellar.ppo{ lr = function(t) return 0.001 * t end,\n"
               "                         temperature = function(t) return 2 end } }\n");
    CHECK(load(L, "pt.lua", &xs, &n, &err) == 0 && n == 1, "functions of the trial load (%s)",
          err.msg);
    if (n == 1) {
        child_recipe r;
        strat_params p;
        CHECK(xs[0].per_trial != NULL, "per_trial is set");
        CHECK(xs[0].child.epochs == 1 && xs[0].strat.lr == 0.001,
              "the declared values are those of trial 1");
        for (int t = 1; t <= 3 && xs[0].per_trial; t++) {
            r = xs[0].child;
            p = xs[0].strat;
            if (xs[0].per_trial(xs[0].per_trial_ud, t, &r, &p, &err) == 0)
                ep[t - 1] = r.epochs;
            else
                printf("# %s\n", err.msg);
        }
        CHECK(ep[0] == 1 && ep[1] == 1 && ep[2] == 2, "epochs are 1, 1, 2 for trials 1 to 3 "
              "(got %d %d %d)", ep[0], ep[1], ep[2]);
        CHECK(fabs(p.lr - 0.003) < 1e-15 && r.lr.kind == SCHED_LINEAR &&
                  fabs(r.lr.from - 0.1 / 3) < 1e-15 && p.temperature.from == 2,
              "strategy lr, child lr schedule and temperature follow the trial");
    }

    write_text("perr.lua",
               "cellar.experiment{ name = 'p',\n"
               "  child = { epochs = function(t)\n"
               "    if t == 2 then error('boom') end\n"
               "    return 1\n"
               "  end } }\n");
    CHECK(load(L, "perr.lua", &xs, &n, &err) == 0 && n == 1, "a function that fails later loads");
    if (n == 1 && xs[0].per_trial) {
        child_recipe r = xs[0].child;
        strat_params p = xs[0].strat;
        int rc = xs[0].per_trial(xs[0].per_trial_ud, 2, &r, &p, &err);
        CHECK(rc != 0 && has(err.msg, "perr.lua:3:") && has(err.msg, "trial 2") &&
                  has(err.msg, "boom") && has(err.msg, "child.epochs"),
              "an error inside names the trial, the setting and file:line (%s)", err.msg);
    }

    write_text("pbad.lua",
               "cellar.experiment{ name = 'p',\n"
               "\n"
               "  child = { epochs = function(t) return t == 2 and 0 or 1 end,\n"
               "            N = function(t) return t == 2 and 'x' or 1 end } }\n");
    CHECK(load(L, "pbad.lua", &xs, &n, &err) == 0 && n == 1, "a function with a bad value later "
          "loads (%s)", err.msg);
    if (n == 1 && xs[0].per_trial) {
        child_recipe r = xs[0].child;
        strat_params p = xs[0].strat;
        int rc = xs[0].per_trial(xs[0].per_trial_ud, 2, &r, &p, &err);
        CHECK(rc != 0 && has(err.msg, "pbad.lua:") && has(err.msg, "trial 2") &&
                  (has(err.msg, "child.epochs must be") || has(err.msg, "child.N: expected")),
              "a bad value names the trial, the setting and file:line (%s)", err.msg);
        CHECK(r.epochs == xs[0].child.epochs, "the settings are left as they were");
        rc = xs[0].per_trial(xs[0].per_trial_ud, 1, &r, &p, &err);
        CHECK(rc == 0, "trial 1 is still fine (%s)", err.msg);
    }
    write_text("pbad1.lua",
               "cellar.experiment{ name = 'p',\n"
               "  child = { F = function(t) return 1 end } }\n");
    CHECK(load(L, "pbad1.lua", &xs, &n, &err) != 0 && has(err.msg, "pbad1.lua:2:") &&
              has(err.msg, "at trial 1") && has(err.msg, "child.F"),
          "a bad value at trial 1 is refused when the file loads (%s)", err.msg);
    cl_lua_free(L);
}

/* ---- hooks -------------------------------------------------------------------------------- */

static void test_hooks(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs;
    int n;
    engine_event ev;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    write_text("hooks.lua",
               "cellar.experiment{ name = 'h' }\n"
               "cellar.on('trial_end', function(e) last = e end)\n"
               "cellar.on('trial_end', function(e) count = (rawget(_G, 'count') or 0) + 1 end)\n"
               "cellar.on('epoch', function(e)\n"
               "  if e.epoch == 3 then error('hook failed') end\n"
               "  ep = e\n"
               "end)\n"
               "cellar.on('controller_update', function(e) cu = e end)\n"
               "cellar.on('state', function(e) st = e.state end)\n");
    CHECK(load(L, "hooks.lua", &xs, &n, &err) == 0, "a file with hooks loads (%s)", err.msg);

    memset(&ev, 0, sizeof ev);
    ev.kind = EV_TRIAL_END;
    ev.trial = 7;
    ev.tstate = TRIAL_DONE;
    ev.reward = 0.5;
    ev.accuracy = 0.875;
    ev.params = 1234;
    ev.flops = 5e6;
    ev.seconds = 2.5;
    ev.reused = 1;
    snprintf(ev.genotype, sizeof ev.genotype, "normal: identity(0) identity(1) add");
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "trial_end is dispatched (%s)", err.msg);
    CHECK_EVAL(L, "last.trial", "7");
    CHECK_EVAL(L, "last.state", "done");
    CHECK_EVAL(L, "last.reward", "0.5");
    CHECK_EVAL(L, "last.accuracy", "0.875");
    CHECK_EVAL(L, "last.params", "1234");
    CHECK_EVAL(L, "last.flops", "5000000.0");
    CHECK_EVAL(L, "last.seconds", "2.5");
    CHECK_EVAL(L, "last.reused", "true");
    CHECK_EVAL(L, "last.reason", "nil");
    CHECK_EVAL(L, "last.event", "trial_end");
    CHECK_EVAL(L, "last.genotype", "normal: identity(0) identity(1) add");
    CHECK_EVAL(L, "count", "1");

    ev.tstate = TRIAL_FAILED;
    ev.reward = NAN;
    ev.accuracy = NAN;
    ev.reused = 0;
    snprintf(ev.text, sizeof ev.text, "training diverged");
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "a failed trial_end is dispatched (%s)", err.msg);
    CHECK_EVAL(L, "last.state, last.reason, last.reward, last.accuracy, count",
               "failed\ttraining diverged\tnil\tnil\t2");

    memset(&ev, 0, sizeof ev);
    ev.kind = EV_EPOCH;
    ev.trial = 3;
    ev.epoch = 1;
    ev.loss = 1.25;
    ev.acc = 0.5;
    ev.val_acc = NAN;
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "epoch is dispatched (%s)", err.msg);
    CHECK_EVAL(L, "ep.trial, ep.epoch, ep.loss, ep.acc, ep.val_acc", "3\t1\t1.25\t0.5\tnil");
    ev.epoch = 3;
    CHECK(cl_lua_dispatch(L, &ev, &err) != 0 && has(err.msg, "hooks.lua:5:") &&
              has(err.msg, "hook failed") && has(err.msg, "epoch"),
          "an error in a hook comes back with file:line (%s)", err.msg);

    memset(&ev, 0, sizeof ev);
    ev.kind = EV_CONTROLLER;
    ev.step = 4;
    ev.entropy = 30.5;
    ev.reward_ema = 0.25;
    ev.ctrl_loss = -0.5;
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "controller_update is dispatched (%s)", err.msg);
    CHECK_EVAL(L, "cu.step, cu.entropy, cu.reward_ema, cu.loss", "4\t30.5\t0.25\t-0.5");
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_STATE;
    ev.state = ENGINE_PAUSED;
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "state is dispatched (%s)", err.msg);
    CHECK_EVAL(L, "st", "paused");
    ev.kind = EV_LOG;
    CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "an event without hooks is fine");

    CHECK(has(eval(L, "cellar.on('trial_ended', print)"), "trial_ended") &&
              has(eval(L, "cellar.on('trial_ended', print)"), "controller_update"),
          "an unknown event name lists the valid ones");
    CHECK(has(eval(L, "cellar.on('epoch', 3)"), "function"), "a hook must be a function");
    cl_lua_free(L);
}

/* ---- sandbox -------------------------------------------------------------------------------- */

static void test_sandbox(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs;
    int n;
    engine_event ev;
    char chunk[1200];

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    CHECK_EVAL(L, "os.execute, os.exit, os.remove, io.popen, package.loadlib",
               "nil\tnil\tnil\tnil\tnil");
    CHECK_EVAL(L, "rawget(_G, 'dofile'), rawget(_G, 'loadfile'), rawget(_G, 'debug')",
               "nil\tnil\tnil");
    CHECK_EVAL(L, "type(os.time()), type(os.clock()), type(os.date('%Y')), os.getenv('CELLAR_NONE')",
               "number\tnumber\tstring\tnil");
    CHECK_EVAL(L, "package.cpath, #package.searchers", "\t3");
    CHECK(has(eval(L, "select(2, load(string.dump(function() return 1 end)))"), "binary"),
          "load refuses a binary chunk");
    CHECK(has(eval(L, "select(2, load(string.dump(function() return 1 end), 'x', 'b'))"),
              "binary"),
          "load refuses a binary chunk even when asked for mode 'b'");
    CHECK_EVAL(L, "load('return 1 + 2')()", "3");
    CHECK(has(eval(L, "undefined_thing"), "undefined global 'undefined_thing'"),
          "reading an undefined global is an error");

    /* io works (hooks may write result files), and a binary module on disk is refused */
    snprintf(chunk, sizeof chunk,
             "local f = assert(io.open('%s', 'wb')); f:write(string.dump(function() return 1 "
             "end)); f:close(); f = assert(io.open('%s', 'w')); f:write('return { answer = 42 "
             "}'); f:close()",
             tpath("binmod.lua"), tpath("textmod.lua"));
    CHECK_EVAL(L, chunk, "");
    write_text("req.lua", "local m = require 'textmod'\n"
                          "cellar.experiment{ name = 'r', budget = m.answer }\n");
    CHECK(load(L, "req.lua", &xs, &n, &err) == 0 && n == 1 && xs[0].budget == 42,
          "require finds a module next to the experiment file (%s)", err.msg);
    write_text("reqbin.lua", "local m = require 'binmod'\ncellar.experiment{ name = 'r' }\n");
    CHECK(load(L, "reqbin.lua", &xs, &n, &err) != 0 && has(err.msg, "binary"),
          "require refuses a precompiled module (%s)", err.msg);
    CHECK(has(eval(L, "require 'no.such.module'"), "no embedded file"),
          "an unknown module says where it was looked for");

    /* print goes to the log sink */
    logbuf.len = 0;
    if (logbuf.s)
        logbuf.s[0] = '\0';
    CHECK_EVAL(L, "print('hello', 42); cellar.log('to the log', true)", "");
    CHECK(has(logbuf.s, "hello\t42") && has(logbuf.s, "to the log\ttrue"),
          "print and cellar.log write to the log");

    /* help: a line for every field of the cellar table, and no other */
    logbuf.len = 0;
    if (logbuf.s)
        logbuf.s[0] = '\0';
    CHECK_EVAL(L, "help()", "");
    {
        int fields = 0, missing = 0, entries = 0, stale = 0;
        char want[64];
        lua_State *S = L->L;   /* (lua_priv.h) */
        lua_getglobal(S, "cellar");
        lua_pushnil(S);
        while (lua_next(S, -2)) {
            const char *k = lua_tostring(S, -2);
            int found = 0;
            for (int i = 0; cl_lua_help_names(i); i++)
                found = found || !strcmp(cl_lua_help_names(i), k);
            fields++;
            if (!found) {
                missing++;
                printf("# cellar.%s has no line in help()\n", k);
            }
            lua_pop(S, 1);
        }
        for (int i = 0; cl_lua_help_names(i); i++) {
            entries++;
            lua_getfield(S, -1, cl_lua_help_names(i));
            stale += lua_isnil(S, -1);
            lua_pop(S, 1);
        }
        lua_pop(S, 1);
        CHECK(fields > 20 && !missing && !stale && entries == fields,
              "help() has a line for each of the cellar table's %d fields (%d missing, %d for "
              "none)", fields, missing, stale);
        snprintf(want, sizeof want, "cellar.set(name, value)");
        CHECK(has(logbuf.s, want) && has(logbuf.s, "cellar.trials{ state=, top=, order=, ranked= }") &&
                  has(logbuf.s, "man cellar-lua"),
              "help() writes them to the log, and where the rest is");
    }
    logbuf.len = 0;
    logbuf.s[0] = '\0';
    CHECK_EVAL(L, "help('cellar.status')", "");
    CHECK(has(logbuf.s, "cellar.status()") && !has(logbuf.s, "cellar.stop()"),
          "help('cellar.status'): that entry alone (%s)", logbuf.s);
    CHECK(has(eval(L, "help('stauts')"), "no 'stauts' in cellar: did you mean 'status'?"),
          "help of an unknown name: the nearest suggested");
    cl_lua_free(L);

    /* runaway code, with a small budget */
    setenv("CELLAR_LUA_MAX_INSTRUCTIONS", "2000000", 1);
    CHECK(cl_lua_new(&L, &err) == 0, "a state with a small instruction budget (%s)", err.msg);
    unsetenv("CELLAR_LUA_MAX_INSTRUCTIONS");
    write_text("loop.lua",
               "cellar.experiment{ name = 'l' }\n"
               "cellar.on('log', function(e)\n"
               "  while true do end\n"
               "end)\n"
               "cellar.on('command', function(e)\n"
               "  while true do pcall(function() while true do end end) end\n"
               "end)\n");
    CHECK(load(L, "loop.lua", &xs, &n, &err) == 0, "a file with a looping hook loads (%s)",
          err.msg);
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_LOG;
    CHECK(cl_lua_dispatch(L, &ev, &err) != 0 && has(err.msg, "ran too long") &&
              has(err.msg, "loop.lua:3:") && has(err.msg, "2000000"),
          "an infinite loop in a hook is stopped (%s)", err.msg);
    ev.kind = EV_COMMAND;
    CHECK(cl_lua_dispatch(L, &ev, &err) != 0 && has(err.msg, "ran too long"),
          "a pcall inside the loop cannot swallow the stop (%s)", err.msg);
    CHECK(has(eval(L, "while true do end"), "ran too long"), "the console is stopped too");
    CHECK_EVAL(L, "1 + 1", "2");
    CHECK_EVAL(L, "pcall(error, 'x')", "false\tx");
    cl_lua_free(L);

    setenv("CELLAR_LUA_MAX_INSTRUCTIONS", "lots", 1);
    CHECK(cl_lua_new(&L, &err) != 0 && has(err.msg, "CELLAR_LUA_MAX_INSTRUCTIONS"),
          "a bad instruction budget is refused (%s)", err.msg);
    unsetenv("CELLAR_LUA_MAX_INSTRUCTIONS");
}

/* ---- the console ------------------------------------------------------------------------------ */

static void test_console(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    cl_buf out = {0};
    int incomplete = 0;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    CHECK_EVAL(L, "1+1", "2");
    CHECK_EVAL(L, "x = 5", "");
    CHECK_EVAL(L, "x", "5");
    CHECK_EVAL(L, "x / 2", "2.5");
    CHECK_EVAL(L, "1, 'a', nil, true", "1\ta\tnil\ttrue");
    CHECK_EVAL(L, "{1, 2, 3}", "{1, 2, 3}");
    CHECK_EVAL(L, "{b = 'x', a = {}, 9}", "{9, a = {}, b = \"x\"}");
    CHECK_EVAL(L, "{'a\\nb', f = print}", "{\"a\\nb\", f = function}");
    CHECK_EVAL(L, "{('x'):rep(50)}", "{\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"...}");
    CHECK_EVAL(L, "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}", "{1, 2, 3, 4, 5, 6, 7, 8, ...}");
    CHECK_EVAL(L, "cellar.cosine(0.05, 0)", "cosine(0.05, 0)");
    CHECK_EVAL(L, "cellar.step(0.1, 0.5, 0.25)", "step(0.1, 0.5, 0.25)");
    CHECK_EVAL(L, "cellar.combiners", "{\"add\", \"concat\"}");
    CHECK_EVAL(L, "#cellar.ops, cellar.ops[1], cellar.ops[13]", "13\tidentity\tsep_conv_7x7");
    CHECK_EVAL(L, "type(cellar.version)", "string");
    CHECK(cl_lua_eval(L, "for i=1,3 do", &out, &incomplete, &err) == 0 && incomplete == 1,
          "'for i=1,3 do' is incomplete");
    CHECK_EVAL(L, "for i = 1, 3 do x = x + i end", "");
    CHECK_EVAL(L, "x", "11");
    CHECK(has(eval(L, "1 +* 2"), "ERROR: console:1:"), "a syntax error is an error, not incomplete");
    CHECK(has(eval(L, "error('bad')"), "console:1: bad"), "a runtime error names the console");
    CHECK(has(eval(L, "cellar.linear(1)"), "takes 2 numbers"), "a schedule's arity is checked");
    CHECK(has(eval(L, "cellar.cosine('a', 1)"), "from"), "a schedule's types are checked");
    buf_free(&out);
    cl_lua_free(L);
}

/* ---- genotypes and costs ------------------------------------------------------------------------ */

static void test_genotype(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    cl_genotype g;
    cl_backend *be = NULL;
    cl_net *net = NULL;
    child_spec spec = {.N = 1, .F = 8, .in_c = 1, .in_h = 28, .in_w = 28, .classes = 10};
    char want[128], hash[17];

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    geno_from_arg("nasnet-a", &g, &err);
    geno_hash_hex(geno_hash(&g), hash);
    CHECK_EVAL(L, "cellar.genotype('nasnet-a').hash", hash);
    CHECK(has(eval(L, "cellar.genotype('nasnet-a').text"), "normal: sep_conv_5x5(1)"),
          "cellar.genotype gives the normal form");
    CHECK(has(eval(L, "cellar.genotype('normal: bogus')"), "ERROR"),
          "a bad genotype is an error");
    if (backend_cpu_create(1, &be, &err) == 0 && child_build(&g, &spec, be, &net, &err) == 0) {
        snprintf(want, sizeof want, "%ld\t%.1f", net_param_count(net), net_flops(net));
        CHECK_EVAL(L, "cellar.cost('nasnet-a', { N = 1, F = 8, input = '28x28x1', classes = 10 })",
                   want);
        net_free(net);
    }
    backend_destroy(be);
    CHECK(has(eval(L, "cellar.cost('nasnet-a', { input = 'big' })"), "HxWxC"),
          "a bad input shape is refused");
    CHECK(has(eval(L, "cellar.cost('nasnet-a', { n = 1 })"), "unknown key 'n'"),
          "cellar.cost checks its keys");
    {
        char chunk[1400], path[1100];
        snprintf(path, sizeof path, "%s/cells.txt", tmpdir);
        snprintf(chunk, sizeof chunk, "cellar.render({ genotype = 'enas' }, '%s')", path);
#ifdef HAVE_GRAPHVIZ
        CHECK_EVAL(L, chunk, path);
        {
            FILE *f = fopen(path, "r");
            char text[65536];
            size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
            text[n] = '\0';
            if (f)
                fclose(f);
            CHECK(has(text, "normal cell") && has(text, "reduction cell") && has(text, "h[i-1]"),
                  "cellar.render draws a trial-like table's genotype into a .txt file");
        }
        snprintf(chunk, sizeof chunk, "cellar.render('nasnet-a', '%s/x.svg', 'gif')", tmpdir);
        CHECK(has(eval(L, chunk), "unknown format 'gif' (valid: svg, png, dot, ascii)"),
              "cellar.render refuses an unknown format with the valid ones");
#else
        CHECK(has(eval(L, chunk), "built without Graphviz"),
              "without Graphviz cellar.render says so");
#endif
    }
    CHECK(has(eval(L, "cellar.render('nasnet-a', 'cells.jpeg')"), "which format for cells.jpeg"),
          "cellar.render asks for a format an extension does not give");
    CHECK(has(eval(L, "cellar.render(3, 'cells.svg')"), "a trial id needs a running search"),
          "cellar.render of a trial id needs a search");
    CHECK(has(eval(L, "cellar.render('normal: bogus', 'x.svg')"), "cellar.render: column 9: expected an op name"),
          "cellar.render of a bad genotype is an error naming the function");
    cl_lua_free(L);
}

/* ---- settings JSON, recipe -------------------------------------------------------------------------- */

static void test_json_recipe(void)
{
    experiment x;
    cl_err err = {0};
    char *js, t1[512], t2[512], h1[17], h2[17];

    experiment_defaults(&x);
    snprintf(x.name, sizeof x.name, "json \"test\"");
    x.child.drop_path.kind = SCHED_WARMUP;
    x.child.drop_path.to = 0.3;
    x.child.drop_path.share = 0.1;
    js = settings_json(&x);
    CHECK(json_valid(js), "the settings are valid JSON: %s", js ? js : "(none)");
    CHECK(has(js, "\"name\":\"json \\\"test\\\"\""), "strings are escaped");
    CHECK(has(js, "\"dataset\":\"fashion-mnist\"") && has(js, "\"seed\":1") &&
              has(js, "\"budget\":20") && has(js, "\"reuse_duplicates\":true"),
          "top-level keys");
    CHECK(has(js, "\"lr\":{\"kind\":\"cosine\",\"from\":0.05,\"to\":0}"),
          "a schedule as {kind, from, to}");
    CHECK(has(js, "\"drop_path\":{\"kind\":\"warmup\",\"from\":0,\"to\":0.3,\"share\":0.1}"),
          "a warmup schedule with its share");
    CHECK(has(js, "\"strategy\":{\"name\":\"ppo\",\"hidden\":100") &&
              has(js, "\"temperature\":{\"kind\":\"constant\",\"from\":0}"),
          "the strategy and its settings");
    CHECK(has(js, "\"ops\":[\"identity\",") && has(js, "\"combiners\":[\"add\",\"concat\"]"),
          "the space");
    free(js);

    experiment_defaults(&x);
    CHECK(recipe_text(&x.child, &x, t1, sizeof t1) == 0, "recipe_text fits");
    CHECK(has(t1, "dataset=fashion-mnist") && has(t1, "epochs=1") && has(t1, "N=1") &&
              has(t1, "lr=cosine(0.05, 0)") && has(t1, "val=1000") && has(t1, "augment="),
          "the recipe names dataset, split, N, epochs, lr ...: %s", t1);
    x.child.epochs = 2;
    recipe_text(&x.child, &x, t2, sizeof t2);
    CHECK(strcmp(t1, t2) != 0, "the recipe text changes with epochs");
    recipe_hash(t1, h1);
    recipe_hash(t2, h2);
    CHECK(strlen(h1) == 16 && strspn(h1, "0123456789abcdef") == 16, "the hash is 16 hex digits");
    CHECK(strcmp(h1, h2) != 0, "the recipe hash changes with epochs");
    recipe_hash(t1, h2);
    CHECK(!strcmp(h1, h2), "the hash of the same text is the same");
    CHECK(recipe_text(&x.child, &x, t2, 10) != 0, "a recipe that does not fit is reported");
    {
        char d[256];
        int n;
        experiment_defaults(&x);
        recipe_text(&x.child, &x, t1, sizeof t1);
        x.child.epochs = 3;
        x.child.lr.from = 0.1;
        recipe_text(&x.child, &x, t2, sizeof t2);
        n = recipe_diff(t1, t2, d, sizeof d);
        CHECK(n == 2 && !strcmp(d, "epochs=3 (was 1), lr=cosine(0.1, 0) (was cosine(0.05, 0))"),
              "recipe_diff names what changed, a schedule's spaces and all (%d: %s)", n, d);
        n = recipe_diff(t1, t1, d, sizeof d);
        CHECK(n == 0 && d[0] == '\0', "recipe_diff of a text with itself is empty");
        n = recipe_diff("epochs=1", "epochs=1 batch=32", d, sizeof d);
        CHECK(n == 1 && !strcmp(d, "batch=32"), "recipe_diff: a field the old text lacks (%s)", d);
        n = recipe_diff(t1, t2, d, 12);
        CHECK(n >= 1 && strlen(d) < 12, "recipe_diff: a text that does not fit is cut (%s)", d);
    }

    experiment_defaults(&x);
    x.child.momentum = 1.5;
    CHECK(experiment_validate(&x, &err) != 0 && has(err.msg, "child.momentum"),
          "a bad momentum is named (%s)", err.msg);
    experiment_defaults(&x);
    x.val_images = 0;
    CHECK(experiment_validate(&x, &err) != 0 && has(err.msg, "val_images"),
          "no validation images is refused (%s)", err.msg);
    experiment_defaults(&x);
    x.train_images = 59500;
    CHECK(experiment_validate(&x, &err) != 0 && has(err.msg, "60000"),
          "a split beyond the dataset is refused (%s)", err.msg);
    experiment_defaults(&x);
    snprintf(x.dataset, sizeof x.dataset, "mnist");
    CHECK(experiment_validate(&x, &err) != 0 && has(err.msg, "cifar10:DIR"),
          "an unknown dataset lists the forms (%s)", err.msg);
    experiment_defaults(&x);
    x.strat.sample = 30;
    CHECK(experiment_validate(&x, &err) != 0 && has(err.msg, "strategy.sample"),
          "a tournament larger than the population is refused (%s)", err.msg);
}

/* ---- live functions ------------------------------------------------------------------------------------ */

static void test_live(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs = NULL;
    int n = 0;
    cl_store *st = NULL;
    cl_backend *be = NULL;
    cl_engine *e = NULL;
    engine_event ev;
    int commands = 0;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    CHECK(has(eval(L, "cellar.pause()"), "no search is running"),
          "cellar.pause without a search says none is running");
    CHECK(has(eval(L, "cellar.step()"), "no search is running"), "so does cellar.step()");
    CHECK(has(eval(L, "cellar.status()"), "no search is running"), "so does cellar.status");
    CHECK(has(eval(L, "cellar.trials{}"), "no search is running"), "so does cellar.trials");
    CHECK(has(eval(L, "cellar.policy()"), "no search is running"), "and cellar.policy");
    CHECK(has(eval(L, "cellar.epochs(1)"), "no search is running"), "and cellar.epochs");
    CHECK(has(eval(L, "cellar.trainings()"), "no search is running"), "and cellar.trainings");
    CHECK(has(eval(L, "cellar.set('lr', 1)"), "no search is running"), "so does cellar.set");
    CHECK(has(eval(L, "cellar.settings().lr"), "learning rate"),
          "cellar.settings describes the settings without a search");

    if (access(DATASET_FASHION_MNIST_DIR, R_OK) != 0) {
        printf("# no %s: the live functions are not tried on an engine\n",
               DATASET_FASHION_MNIST_DIR);
        cl_lua_free(L);
        return;
    }
    write_text("live.lua", "cellar.experiment{ name = 'live', train_images = 64, val_images = 32,\n"
                           "  child = { F = 4 }, strategy = 'random', budget = 5 }\n");
    if (!CHECK(load(L, "live.lua", &xs, &n, &err) == 0 && n == 1, "the live experiment loads (%s)",
               err.msg) ||
        !CHECK(store_create(tpath("live.db"), 1, &st, &err) == 0, "a journal (%s)", err.msg) ||
        !CHECK(backend_cpu_create(1, &be, &err) == 0, "a CPU backend (%s)", err.msg) ||
        !CHECK(engine_open(&xs[0], st, be, 0, &e, &err) == 0, "an engine (%s)", err.msg)) {
        store_close(st);
        backend_destroy(be);
        cl_lua_free(L);
        return;
    }
    cl_lua_attach(L, e, st);
    CHECK_EVAL(L, "cellar.status().state", "running");
    CHECK_EVAL(L, "cellar.status().budget", "5");
    CHECK_EVAL(L, "cellar.pause()", "");
    CHECK_EVAL(L, "cellar.status().state", "paused");
    CHECK_EVAL(L, "cellar.set('child.epochs', 3)", "");
    CHECK_EVAL(L, "cellar.get('child.epochs')", "3");
    CHECK(has(eval(L, "cellar.set('lrr', 1)"), "entropy_weight"),
          "an unknown setting lists the valid ones");
    CHECK(has(eval(L, "cellar.set('budget', 'x')"), "a number"), "a value must be a number");
    CHECK_EVAL(L, "#cellar.trials{}", "0");
    CHECK(has(eval(L, "return cellar.policy()"), "nil\tno controller update in the journal yet"),
          "cellar.policy() of a search without a controller: nil and why (%s)",
          eval(L, "return cellar.policy()"));
    CHECK(has(eval(L, "cellar.policy(0)"), "an update number >= 1"),
          "cellar.policy(0): refused (%s)", eval(L, "cellar.policy(0)"));

    /* trials written straight into the journal, read back ordered */
    {
        static const double rewards[] = {0.2, 0.9, 0.5, NAN};
        for (int i = 0; i < 4; i++) {
            store_trial t;
            memset(&t, 0, sizeof t);
            t.genotype = "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add";
            snprintf(t.hash, sizeof t.hash, "%016x", i + 1);
            /* trials 3 and 4 trained with a newer recipe than 1 and 2 */
            snprintf(t.hash_recipe, sizeof t.hash_recipe, "%s", i < 2 ? "r1" : "r2");
            t.state = i < 3 ? TRIAL_DONE : TRIAL_FAILED;
            t.reward = t.accuracy = rewards[i];
            t.params = 100 * (i + 1);
            t.flops = 1e6;
            t.seconds = 1;
            t.logp = NAN;
            t.created = t.started = t.finished = NAN;
            t.reason = i == 3 ? "diverged" : NULL;
            store_trial_insert(st, &t, &err);
        }
    }
    CHECK_EVAL(L, "#cellar.trials{}", "4");
    CHECK_EVAL(L, "local t = cellar.trials{ order = 'reward', top = 2 } return #t, t[1].id, "
                  "t[1].reward, t[2].id",
               "2\t2\t0.9\t3");
    CHECK_EVAL(L, "local t = cellar.trials{ state = 'failed' } return #t, t[1].reason, t[1].state",
               "1\tdiverged\tfailed");
    CHECK_EVAL(L, "cellar.trials{ order = 'params' }[1].params", "100");
    CHECK(has(eval(L, "cellar.trials{ order = 'speed' }"), "reward"),
          "an unknown order lists the valid ones (%s)", eval(L, "cellar.trials{ order = 'speed' }"));
    CHECK(has(eval(L, "cellar.trials{ top = 2, color = 1 }"), "unknown key 'color'"),
          "cellar.trials checks its keys");
    CHECK_EVAL(L, "local t = cellar.trials{ ranked = true, order = 'reward' } return #t, t[1].id",
               "1\t3");
    CHECK_EVAL(L, "#cellar.trials{ ranked = false, state = 'done' }", "3");
    CHECK(has(eval(L, "cellar.trials{ ranked = 1 }"), "true or false"),
          "cellar.trials{ ranked = 1 } is refused (%s)", eval(L, "cellar.trials{ ranked = 1 }"));

    /* epochs written straight into the journal: trials 1 and 2, 2 and 1 of them */
    {
        static const store_metric rows[] = {
            {1, 1, 2.0, 0.25, NAN, 0.05, 1.5},
            {1, 2, 1.5, 0.5, 0.2, 0.01, 1.25},
            {2, 1, 1.75, 0.375, 0.9, 0.05, 2.0},
        };
        for (int i = 0; i < 3; i++)
            store_metric_insert(st, &rows[i], &err);
    }
    CHECK_EVAL(L, "local m = cellar.epochs(1) return #m, m[1].trial, m[1].epoch, m[1].loss, "
                  "m[1].acc, m[1].val_acc, m[2].val_acc, m[2].lr, m[2].seconds",
               "2\t1\t1\t2.0\t0.25\tnil\t0.2\t0.01\t1.25");
    CHECK_EVAL(L, "local m = cellar.epochs{ epoch = 1 } return #m, m[1].trial, m[2].trial, m[2].acc",
               "2\t1\t2\t0.375");
    CHECK_EVAL(L, "local m = cellar.epochs{ trial = 1, epoch = 2 } return #m, m[1].loss", "1\t1.5");
    CHECK_EVAL(L, "#cellar.epochs(), #cellar.epochs{}, #cellar.epochs(3), #cellar.epochs{ epoch = 9 }",
               "3\t3\t0\t0");
    CHECK(has(eval(L, "cellar.epochs(0)"), "a number >= 1"), "cellar.epochs(0) is refused (%s)",
          eval(L, "cellar.epochs(0)"));
    CHECK(has(eval(L, "cellar.epochs('one')"), "a number >= 1"),
          "cellar.epochs('one') is refused (%s)", eval(L, "cellar.epochs('one')"));
    CHECK(has(eval(L, "cellar.epochs{ epoch = 1.5 }"), "epoch"),
          "cellar.epochs{ epoch = 1.5 } is refused (%s)", eval(L, "cellar.epochs{ epoch = 1.5 }"));
    CHECK(has(eval(L, "cellar.epochs{ trail = 1 }"), "unknown key 'trail'"),
          "cellar.epochs checks its keys");

    /* trainings written straight into the journal, as cellar train DB
     * writes them: trial 2's, done with one epoch; trial 1's, failed */
    CHECK_EVAL(L, "#cellar.trainings(), #cellar.trainings(2)", "0\t0");
    {
        store_training t;
        store_metric m = {1, 1, 0.75, 0.625, NAN, 0.05, 3.5};
        memset(&t, 0, sizeof t);
        t.trial = 2;
        t.genotype = "normal: identity(0) identity(1) add ; reduce: identity(0) identity(1) add";
        snprintf(t.hash, sizeof t.hash, "%016x", 2);
        t.settings = "{\"dataset\":\"fashion-mnist\",\"train_images\":2048,\"N\":1,"
                     "\"F\":8,\"epochs\":1,\"lr\":0.05,\"augment\":false,\"backend\":\"cpu\"}";
        t.state = TRIAL_DONE;
        t.test_acc = 0.875;
        t.val_acc = NAN;
        t.params = 11746;
        t.flops = 4e6;
        t.seconds = 3.5;
        t.pid = 1;
        t.started = t.finished = NAN;
        CHECK(store_training_insert(st, &t, &err) == 0 && store_training_update(st, &t, &err) == 0,
              "a training of trial 2 (%s)", err.msg);
        m.trial = t.id;
        CHECK(store_training_epoch_insert(st, &m, &err) == 0, "its epoch (%s)", err.msg);
        t.trial = 1;
        t.state = TRIAL_FAILED;
        t.test_acc = NAN;
        t.reason = "diverged";
        t.settings = "{\"epochs\":3}";
        CHECK(store_training_insert(st, &t, &err) == 0 && store_training_update(st, &t, &err) == 0,
              "a failed training of trial 1 (%s)", err.msg);
    }
    CHECK_EVAL(L, "local t = cellar.trainings() return #t, t[1].id, t[1].trial, t[1].state, "
                  "t[1].test_acc, t[1].params, t[1].epochs_done, t[1].val_acc",
               "2\t1\t2\tdone\t0.875\t11746\t1\tnil");
    CHECK_EVAL(L, "local s = cellar.trainings(2)[1].settings return s.dataset, s.train_images, "
                  "s.F, s.lr, s.augment, s.backend, s.batch",
               "fashion-mnist\t2048\t8\t0.05\tfalse\tcpu\tnil");
    CHECK_EVAL(L, "local t = cellar.trainings{ trial = 1 } return #t, t[1].id, t[1].state, "
                  "t[1].reason, t[1].status, t[1].settings.epochs",
               "1\t2\tfailed\tdiverged\tfailed: diverged\t3");
    CHECK_EVAL(L, "#cellar.trainings(3)", "0");
    CHECK_EVAL(L, "local m = cellar.epochs{ training = 1 } return #m, m[1].training, m[1].epoch, "
                  "m[1].loss, m[1].acc, m[1].trial",
               "1\t1\t1\t0.75\t0.625\tnil");
    CHECK(has(eval(L, "cellar.epochs{ training = 1, trial = 2 }"), "cannot be given with"),
          "cellar.epochs{ training=, trial= } is refused (%s)",
          eval(L, "cellar.epochs{ training = 1, trial = 2 }"));
    CHECK(has(eval(L, "cellar.trainings(0)"), "a number >= 1"),
          "cellar.trainings(0) is refused (%s)", eval(L, "cellar.trainings(0)"));
    CHECK(has(eval(L, "cellar.trainings{ trail = 1 }"), "unknown key 'trail'"),
          "cellar.trainings checks its keys");

    CHECK_EVAL(L, "cellar.resume()", "");
    CHECK_EVAL(L, "cellar.stop()", "");
    CHECK_EVAL(L, "cellar.status().state", "stopped");
    while (engine_next_event(e, &ev))
        if (ev.kind == EV_COMMAND) {
            commands++;
            CHECK(cl_lua_dispatch(L, &ev, &err) == 0, "a command event dispatches (%s)", err.msg);
        }
    CHECK(commands >= 4, "the commands were applied and reported (%d events)", commands);

    cl_lua_attach(L, NULL, NULL);
    CHECK(has(eval(L, "cellar.resume()"), "no search is running"), "detached: none is running");
    engine_free(e);
    store_close(st);
    backend_destroy(be);
    cl_lua_free(L);
}

/* ---- loading from text ---------------------------------------------------------------------------------- */

static void test_load_text(void)
{
    cl_lua *L = NULL;
    cl_err err = {0};
    experiment *xs = NULL, *ys = NULL;
    int n = 0, m = 0;
    size_t len;
    const char *text = cl_lua_embedded("experiments/quick.lua", &len);
    char *copy = text ? strdup(text) : NULL;

    CHECK(cl_lua_new(&L, &err) == 0, "a Lua state is created (%s)", err.msg);
    CHECK(copy && cl_lua_load_experiment_text(L, "lua/experiments/quick.lua", copy, &xs, &n,
                                              &err) == 0 && n == 1,
          "an experiment loads from text (%s)", err.msg);
    CHECK(cl_lua_load_experiment(L, "quick", &ys, &m, &err) == 0 && m == 1, "and by name");
    if (n == 1 && m == 1) {
        char *j1 = settings_json(&xs[0]), *j2 = settings_json(&ys[0]);
        CHECK(j1 && j2 && !strcmp(j1, j2), "with the same settings");
        CHECK(xs[0].source != copy && !strcmp(xs[0].source, copy) &&
                  !strcmp(xs[0].name, "quick"),
              "the text is kept as a copy, the name comes from the path");
        free(j1);
        free(j2);
    }
    free(copy);
    CHECK(cl_lua_load_experiment_text(L, "mem.lua", "cellar.experiment{ name = 'm',\n"
                                                    "  budget = -1 }\n",
                                      &xs, &n, &err) != 0 &&
              has(err.msg, "mem.lua:1:"),
          "errors name the given path (%s)", err.msg);
    cl_lua_free(L);
}

int main(void)
{
    const char *srcdir = getenv("CELLAR_SRCDIR");
    if (!srcdir || !*srcdir)
        srcdir = ".";
    if (!tmpdir_make("lua")) {
        printf("not ok - cannot make a temporary directory\n");
        return 1;
    }
    log_set_sink(log_sink, NULL, LOG_INFO);
    test_shipped(srcdir);
    test_errors();
    test_defaults();
    test_per_trial();
    test_hooks();
    test_sandbox();
    test_console();
    test_genotype();
    test_json_recipe();
    test_load_text();
    test_live();
    log_set_sink(NULL, NULL, LOG_INFO);
    buf_free(&logbuf);
    remove_tree(tmpdir);
    CHECK(access(tmpdir, F_OK) != 0, "the temporary directory is removed");
    return check_done();
}
