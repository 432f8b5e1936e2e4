/* experiment.c - an experiment's defaults, its validation (every message
 * names the setting as an experiment file spells it and the range it
 * must be in), its settings as JSON for the journal, and the recipe text
 * and hash that decide which trials may be ranked side by side. */
#include "search/experiment.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* Sizes beyond these are typing mistakes rather than experiments. */
#define MAX_N 64
#define MAX_F 4096
#define MAX_EPOCHS 100000
#define MAX_BATCH 65536
#define MAX_IMAGES 10000000
#define MAX_BUDGET 100000000
#define MAX_HIDDEN 4096
#define MAX_STRAT_BATCH 100000
#define MAX_PPO_EPOCHS 1000

static const char *const strategy_names[] = {"ppo", "reinforce", "random", "evolution"};

void recipe_defaults(child_recipe *r)
{
    memset(r, 0, sizeof *r);
    r->N = 1;
    r->F = 8;
    r->epochs = 1;
    r->batch = 32;
    sched_constant(&r->lr, 0.05);
    r->lr.kind = SCHED_COSINE;
    r->lr.to = 0.0;
    sched_constant(&r->drop_path, 0.0);
    r->momentum = 0.9;
    r->weight_decay = 3e-4;
    r->augment = -1;
}

void strat_params_defaults(strat_params *p)
{
    memset(p, 0, sizeof *p);
    p->hidden = 100;
    p->batch = 20;
    p->ppo_epochs = 4;
    p->lr = 0.00035;
    p->entropy_weight = 1e-5;
    p->baseline_decay = 0.95;
    p->clip = 0.2;
    p->tanh_c = 0.0;
    sched_constant(&p->temperature, 0.0);
    p->population = 20;
    p->sample = 5;
}

void experiment_defaults(experiment *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "experiment");
    snprintf(x->dataset, sizeof x->dataset, "fashion-mnist");
    x->train_images = 5000;
    x->val_images = 1000;
    x->seed = 1;
    x->budget = 20;
    x->time_budget = 0.0;
    x->reuse_duplicates = 1;
    x->parallel = 0;
    space_nasnet(&x->space);
    recipe_defaults(&x->child);
    snprintf(x->strategy, sizeof x->strategy, "ppo");
    strat_params_defaults(&x->strat);
    x->per_trial = NULL;
    x->per_trial_ud = NULL;
    x->source = NULL;
}

/* ---- validation -------------------------------------------------------- */

static int check_int(int v, int lo, int hi, const char *what, cl_err *err)
{
    if (v < lo || v > hi)
        return ERR_SET(err, CL_ERR_ARG, "%s must be an integer from %d to %d (got %d)", what, lo,
                       hi, v);
    return CL_OK;
}

/* lo <= v < hi (hi_open) or lo <= v <= hi */
static int check_real(double v, double lo, double hi, int hi_open, const char *what, cl_err *err)
{
    if (!isfinite(v) || v < lo || (hi_open ? v >= hi : v > hi)) {
        if (isinf(hi))
            return ERR_SET(err, CL_ERR_ARG, "%s must be a number >= %g (got %g)", what, lo, v);
        return ERR_SET(err, CL_ERR_ARG, "%s must be a number in [%g, %g%s (got %g)", what, lo, hi,
                       hi_open ? ")" : "]", v);
    }
    return CL_OK;
}

/* A schedule whose every value lies in [lo, hi) (or [lo, hi]).  The
 * values a schedule takes are between its end points (linear, cosine,
 * warmup start at 0 which lo must allow) or from * gamma^k for a step
 * schedule, which stays within [0, from] only when 0 <= gamma <= 1. */
static int check_sched(const cl_sched *s, double lo, double hi, int hi_open, const char *what,
                       cl_err *err)
{
    char f[96];
    int rc = sched_validate(s, what, err);
    if (rc)
        return rc;
    sched_format(s, f, sizeof f);
    if (check_real(s->from, lo, hi, hi_open, what, err) ||
        (s->kind != SCHED_CONSTANT && s->kind != SCHED_STEP &&
         check_real(s->to, lo, hi, hi_open, what, err)))
        return ERR_SET(err, CL_ERR_ARG, "%s: every value of %s must be in [%g, %g%s", what, f, lo,
                       hi, hi_open ? ")" : "]");
    if (s->kind == SCHED_STEP && !(s->gamma >= 0 && s->gamma <= 1))
        return ERR_SET(err, CL_ERR_ARG, "%s: the gamma of %s must be in [0, 1]", what, f);
    return CL_OK;
}

int recipe_validate(const child_recipe *r, cl_err *err)
{
    int rc;
    if ((rc = check_int(r->N, 1, MAX_N, "child.N", err)) ||
        (rc = check_int(r->F, 2, MAX_F, "child.F", err)) ||
        (rc = check_int(r->epochs, 1, MAX_EPOCHS, "child.epochs", err)) ||
        (rc = check_int(r->batch, 1, MAX_BATCH, "child.batch", err)) ||
        (rc = check_sched(&r->lr, 0.0, 10.0, 0, "child.lr", err)) ||
        (rc = check_sched(&r->drop_path, 0.0, 1.0, 1, "child.drop_path", err)) ||
        (rc = check_real(r->momentum, 0.0, 1.0, 1, "child.momentum", err)) ||
        (rc = check_real(r->weight_decay, 0.0, 1.0, 1, "child.weight_decay", err)))
        return rc;
    if (r->augment < -1 || r->augment > 1)
        return ERR_SET(err, CL_ERR_ARG, "child.augment must be true, false or \"auto\" (got %d)",
                       r->augment);
    return CL_OK;
}

static int strat_validate(const char *strategy, const strat_params *p, cl_err *err)
{
    int rc, known = 0;
    for (size_t i = 0; i < CL_ARRAY_LEN(strategy_names); i++)
        known |= !strcmp(strategy, strategy_names[i]);
    if (!known)
        return ERR_SET(err, CL_ERR_ARG,
                       "strategy must be one of ppo, reinforce, random, evolution (got '%s')",
                       strategy);
    if ((rc = check_int(p->hidden, 1, MAX_HIDDEN, "strategy.hidden", err)) ||
        (rc = check_int(p->batch, 1, MAX_STRAT_BATCH, "strategy.batch", err)) ||
        (rc = check_int(p->ppo_epochs, 1, MAX_PPO_EPOCHS, "strategy.epochs", err)))
        return rc;
    if (!(p->lr > 0 && p->lr <= 1))
        return ERR_SET(err, CL_ERR_ARG, "strategy.lr must be a number in (0, 1] (got %g)", p->lr);
    if ((rc = check_real(p->entropy_weight, 0.0, 1e3, 0, "strategy.entropy_weight", err)) ||
        (rc = check_real(p->baseline_decay, 0.0, 1.0, 1, "strategy.baseline_decay", err)))
        return rc;
    if (!(p->clip > 0 && p->clip < 1))
        return ERR_SET(err, CL_ERR_ARG, "strategy.clip must be a number in (0, 1) (got %g)",
                       p->clip);
    if ((rc = check_real(p->tanh_c, 0.0, INFINITY, 0, "strategy.tanh_c", err)) ||
        (rc = check_sched(&p->temperature, 0.0, 1e6, 0, "strategy.temperature", err)) ||
        (rc = check_int(p->population, 2, 1000000, "strategy.population", err)))
        return rc;
    if (p->sample < 1 || p->sample > p->population)
        return ERR_SET(err, CL_ERR_ARG,
                       "strategy.sample must be an integer from 1 to the population %d (got %d)",
                       p->population, p->sample);
    return CL_OK;
}

/* The training images of the datasets cellar reads, for the split check. */
static int dataset_train_images(const char *dataset, const char **kind)
{
    if (!strcmp(dataset, "fashion-mnist") || !strncmp(dataset, "fashion-mnist:", 14)) {
        *kind = "fashion-mnist";
        return 60000;
    }
    if (!strncmp(dataset, "cifar10:", 8)) {
        *kind = "cifar10";
        return 50000;
    }
    return 0;
}

static int valid_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int experiment_validate(const experiment *x, cl_err *err)
{
    const char *kind = NULL;
    int rc, avail;
    if (!memchr(x->name, '\0', sizeof x->name) || !valid_name(x->name))
        return ERR_SET(err, CL_ERR_ARG,
                       "name must be 1 to %zu letters, digits, '-', '_' or '.' (got '%.64s')",
                       sizeof x->name - 1, x->name);
    avail = dataset_train_images(x->dataset, &kind);
    if (!avail)
        return ERR_SET(err, CL_ERR_ARG,
                       "dataset must be \"fashion-mnist\", \"fashion-mnist:DIR\" or "
                       "\"cifar10:DIR\" (got '%.200s')",
                       x->dataset);
    if (strchr(x->dataset, ':') && !strchr(x->dataset, ':')[1])
        return ERR_SET(err, CL_ERR_ARG, "dataset '%s' needs a directory after the colon%s",
                       x->dataset,
                       strcmp(kind, "cifar10") ? "" : " (that of the CIFAR-10 binary version)");
    if ((rc = check_int(x->val_images, 1, MAX_IMAGES, "val_images", err)) ||
        (rc = check_int(x->train_images, 0, MAX_IMAGES, "train_images (0: all)", err)))
        return rc;
    if (x->val_images + (long)x->train_images > avail || x->val_images >= avail)
        return ERR_SET(err, CL_ERR_ARG,
                       "train_images + val_images must not exceed the %d training images of %s "
                       "(got %d + %d)",
                       avail, kind, x->train_images, x->val_images);
    if ((rc = check_int(x->budget, 1, MAX_BUDGET, "budget", err)) ||
        (rc = check_real(x->time_budget, 0.0, INFINITY, 0, "time_budget (seconds, 0: none)", err)))
        return rc;
    if ((rc = check_int(x->parallel, 0, 16, "parallel (trials at once; 0: as many as fit)", err)))
        return rc;
    if (x->reuse_duplicates != 0 && x->reuse_duplicates != 1)
        return ERR_SET(err, CL_ERR_ARG, "reuse_duplicates must be true or false (got %d)",
                       x->reuse_duplicates);
    if ((rc = space_validate(&x->space, err)) || (rc = recipe_validate(&x->child, err)))
        return rc;
    if (x->train_images && x->train_images < x->child.batch)
        return ERR_SET(err, CL_ERR_ARG,
                       "train_images (%d) must be at least child.batch (%d): an epoch drops the "
                       "last partial batch",
                       x->train_images, x->child.batch);
    if (!memchr(x->strategy, '\0', sizeof x->strategy))
        return ERR_SET(err, CL_ERR_ARG, "strategy: name too long");
    return strat_validate(x->strategy, &x->strat, err);
}

/* ---- JSON --------------------------------------------------------------- */

/* The shortest %g form that reads back as the same double, so the JSON is
 * exact (resume compares it) and still reads 0.05 rather than
 * 0.050000000000000003. */
static int put_num(cl_buf *b, double v)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, v);
        if (strtod(s, NULL) == v)
            break;
    }
    if (!isfinite(v))
        snprintf(s, sizeof s, "null");
    return buf_printf(b, "%s", s);
}

static int put_str(cl_buf *b, const char *s)
{
    if (buf_printf(b, "\""))
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if (c == '"' || c == '\\')
            rc = buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            rc = buf_printf(b, "\\u%04x", c);
        else
            rc = buf_printf(b, "%c", c);
        if (rc)
            return -1;
    }
    return buf_printf(b, "\"");
}

static int put_sched(cl_buf *b, const cl_sched *s)
{
    int rc = buf_printf(b, "{\"kind\":\"%s\",\"from\":", sched_kind_names[s->kind]);
    rc |= put_num(b, s->from);
    switch (s->kind) {
    case SCHED_CONSTANT:
        break;
    case SCHED_LINEAR:
    case SCHED_COSINE:
        rc |= buf_printf(b, ",\"to\":");
        rc |= put_num(b, s->to);
        break;
    case SCHED_STEP:
        rc |= buf_printf(b, ",\"gamma\":");
        rc |= put_num(b, s->gamma);
        rc |= buf_printf(b, ",\"every\":");
        rc |= put_num(b, s->every);
        break;
    case SCHED_WARMUP:
        rc |= buf_printf(b, ",\"to\":");
        rc |= put_num(b, s->to);
        rc |= buf_printf(b, ",\"share\":");
        rc |= put_num(b, s->share);
        break;
    }
    return rc | buf_printf(b, "}");
}

static const char *augment_json(int a)
{
    return a < 0 ? "\"auto\"" : a ? "true" : "false";
}

int experiment_settings_json(const experiment *x, cl_buf *out)
{
    const child_recipe *r = &x->child;
    const strat_params *p = &x->strat;
    int rc = buf_printf(out, "{\"name\":");
    rc |= put_str(out, x->name);
    rc |= buf_printf(out, ",\"dataset\":");
    rc |= put_str(out, x->dataset);
    rc |= buf_printf(out,
                     ",\"train_images\":%d,\"val_images\":%d,\"seed\":%" PRIu64
                     ",\"budget\":%d,\"time_budget\":",
                     x->train_images, x->val_images, x->seed, x->budget);
    rc |= put_num(out, x->time_budget);
    rc |= buf_printf(out, ",\"reuse_duplicates\":%s,\"space\":{\"name\":",
                     x->reuse_duplicates ? "true" : "false");
    rc |= put_str(out, x->space.name);
    rc |= buf_printf(out, ",\"B\":%d,\"inputs\":%d,\"ops\":[", x->space.B, x->space.inputs);
    for (int i = 0; i < x->space.n_ops && i < OP_COUNT; i++)
        rc |= buf_printf(out, "%s\"%s\"", i ? "," : "",
                         x->space.ops[i] < OP_COUNT ? geno_ops[x->space.ops[i]].name : "?");
    rc |= buf_printf(out, "],\"combiners\":[");
    for (int i = 0; i < x->space.n_combs && i < COMB_COUNT; i++)
        rc |= buf_printf(out, "%s\"%s\"", i ? "," : "",
                         x->space.combs[i] < COMB_COUNT ? geno_comb_names[x->space.combs[i]] : "?");
    rc |= buf_printf(out, "]},\"child\":{\"N\":%d,\"F\":%d,\"epochs\":%d,\"batch\":%d,\"lr\":",
                     r->N, r->F, r->epochs, r->batch);
    rc |= put_sched(out, &r->lr);
    rc |= buf_printf(out, ",\"drop_path\":");
    rc |= put_sched(out, &r->drop_path);
    rc |= buf_printf(out, ",\"momentum\":");
    rc |= put_num(out, r->momentum);
    rc |= buf_printf(out, ",\"weight_decay\":");
    rc |= put_num(out, r->weight_decay);
    rc |= buf_printf(out, ",\"augment\":%s},\"strategy\":{\"name\":", augment_json(r->augment));
    rc |= put_str(out, x->strategy);
    rc |= buf_printf(out, ",\"hidden\":%d,\"batch\":%d,\"epochs\":%d,\"lr\":", p->hidden, p->batch,
                     p->ppo_epochs);
    rc |= put_num(out, p->lr);
    rc |= buf_printf(out, ",\"entropy_weight\":");
    rc |= put_num(out, p->entropy_weight);
    rc |= buf_printf(out, ",\"baseline_decay\":");
    rc |= put_num(out, p->baseline_decay);
    rc |= buf_printf(out, ",\"clip\":");
    rc |= put_num(out, p->clip);
    rc |= buf_printf(out, ",\"tanh_c\":");
    rc |= put_num(out, p->tanh_c);
    rc |= buf_printf(out, ",\"temperature\":");
    rc |= put_sched(out, &p->temperature);
    rc |= buf_printf(out, ",\"population\":%d,\"sample\":%d}}", p->population, p->sample);
    return rc ? CL_ERR_NOMEM : CL_OK;
}

/* ---- recipe --------------------------------------------------------------- */

/* Returns CL_OK, or CL_ERR_ARG when the text does not fit in cap bytes
 * (out then holds a truncated, still terminated, line).  The dataset is
 * named by its kind only: the same CIFAR-10 read from another directory
 * trains the same children.  The seed is left out: it varies the trials,
 * not what a trial measures. */
int recipe_text(const child_recipe *r, const experiment *x, char *out, size_t cap)
{
    char lr[96], dp[96], mom[40], wd[40];
    const char *kind = NULL;
    size_t klen;
    int n;
    if (!dataset_train_images(x->dataset, &kind)) {
        const char *colon = strchr(x->dataset, ':');
        kind = x->dataset;
        klen = colon ? (size_t)(colon - x->dataset) : strlen(x->dataset);
    } else {
        klen = strlen(kind);
    }
    sched_format(&r->lr, lr, sizeof lr);
    sched_format(&r->drop_path, dp, sizeof dp);
    snprintf(mom, sizeof mom, "%.15g", r->momentum);
    snprintf(wd, sizeof wd, "%.15g", r->weight_decay);
    n = snprintf(out, cap,
                 "dataset=%.*s train=%d val=%d N=%d F=%d epochs=%d batch=%d lr=%s drop_path=%s "
                 "momentum=%s weight_decay=%s augment=%s",
                 (int)klen, kind, x->train_images, x->val_images, r->N, r->F, r->epochs,
                 r->batch, lr, dp, mom, wd,
                 r->augment < 0 ? "auto" : r->augment ? "on" : "off");
    return n < 0 || (size_t)n >= cap ? CL_ERR_ARG : CL_OK;
}

int recipe_epochs(const char *text)
{
    const char *e = text ? strstr(text, " epochs=") : NULL;
    return e ? atoi(e + 8) : 0;
}

/* The field of a recipe text at s: its key (up to '='), its value (up to the
 * next " key=": a schedule's value holds spaces); returns where the next
 * field starts, or NULL when s holds no field. */
static const char *recipe_field(const char *s, size_t *klen, const char **v, size_t *vlen)
{
    const char *eq = strchr(s, '='), *p;
    if (!*s || !eq)
        return NULL;
    *klen = (size_t)(eq - s);
    *v = eq + 1;
    for (p = *v; *p; p++) {
        const char *q = p + 1;
        if (*p != ' ')
            continue;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        if (*q == '=' && q > p + 1)
            break;
    }
    *vlen = (size_t)(p - *v);
    return *p ? p + 1 : p;
}

int recipe_diff(const char *was, const char *now, char *out, size_t cap)
{
    const char *n = now, *nv, *w, *wv;
    size_t nk, nvl, wk, wvl, len = 0;
    int count = 0;
    out[0] = '\0';
    while (n && (n = recipe_field(n, &nk, &nv, &nvl))) {
        const char *key = nv - nk - 1;
        int seen = 0;
        for (w = was; w && (w = recipe_field(w, &wk, &wv, &wvl));) {
            if (wk == nk && !strncmp(wv - wk - 1, key, nk)) {
                seen = 1;
                break;
            }
        }
        if (!seen || wvl != nvl || strncmp(wv, nv, nvl)) {
            int k = seen ? snprintf(out + len, cap - len, "%s%.*s=%.*s (was %.*s)",
                                    count ? ", " : "", (int)nk, key, (int)nvl, nv, (int)wvl, wv)
                         : snprintf(out + len, cap - len, "%s%.*s=%.*s", count ? ", " : "",
                                    (int)nk, key, (int)nvl, nv);
            if (k < 0 || (size_t)k >= cap - len)
                return count + 1;
            len += (size_t)k;
            count++;
        }
    }
    return count;
}

/* FNV-1a over the text, then mix64 so that near texts spread over all 64
 * bits. */
void recipe_hash(const char *text, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    snprintf(out, 17, "%016" PRIx64, mix64(h));
}
