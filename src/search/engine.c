/* engine.c - the search engine: trials in bounded slices, the journal,
 * commands in and events out.
 *
 * A trial moves through three phases: IDLE (propose, journal, build),
 * TRAIN (SGD steps in slices), EVAL (validation batches in slices); its end
 * is one journal transaction holding the trial's result, its last epoch,
 * the controller update it caused and the strategy's checkpoint, so that
 * the journal is always at a trial boundary or inside the trials in hand.
 * Up to `parallel` trials are in hand at once, each in a slot with its own
 * backend (on a GPU its own stream, so small children share the device);
 * engine_step serves the slots in turn, a slice each.  With one slot (the
 * CPU's default) a resumed search proposes exactly what an uninterrupted
 * one would have; with several, the interrupted trials run again under
 * their ids, on fresh proposals.  Seeds: the split comes from the experiment's seed, a
 * child's weights and batches from the seed and the trial's id, the
 * proposals from the strategy's generator (checkpointed). */
#include "search/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child/child.h"
#include "child/train.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "search/strategy.h"

const char *const engine_state_names[] = {"running", "paused", "finished", "stopped"};
const char *const event_kind_names[] = {"trial_start", "epoch",   "trial_end", "controller_update",
                                        "command",     "state",   "log"};

/* The names CMD_SET takes.  The index is the override slot. */
enum {
    SET_LR, SET_ENTROPY, SET_TEMPERATURE, SET_TANH, SET_EPOCHS, SET_BATCH, SET_CHILD_LR,
    SET_DROP, SET_WD, SET_MOMENTUM, SET_BUDGET, SET_COUNT
};

const engine_setting engine_settings[] = {
    {"lr", "the controller's learning rate (ppo, reinforce)"},
    {"entropy_weight", "weight of the controller's entropy bonus (ppo, reinforce)"},
    {"temperature", "the controller's sampling temperature; 0: none (replaces its schedule)"},
    {"tanh_c", "the controller's logit clipping constant; 0: none"},
    {"child.epochs", "training epochs of each child"},
    {"child.batch", "images per step of each child"},
    {"child.lr", "a child's initial learning rate (the start of its schedule)"},
    {"child.drop_path", "a child's final drop-path probability (linear from 0)"},
    {"child.weight_decay", "a child's L2 weight decay"},
    {"child.momentum", "a child's SGD momentum"},
    {"budget", "trials to finish (done or failed)"},
    {NULL, NULL},
};

typedef enum { PH_IDLE, PH_TRAIN, PH_EVAL } phase;

/* a trial in hand */
typedef struct slot {
    phase ph;                   /* PH_IDLE: free */
    store_trial cur;
    int acts[SPACE_MAX_DECISIONS];
    cl_genotype g;
    child_recipe recipe;
    int augment;
    cl_backend *be;             /* the engine's for slot 0, a fork of it for the others */
    int own_be;
    cl_net *net;
    cl_trainer *tr;
    int last_epoch;
    /* engine_stop_trial's why (set: validate at the next epoch's end); and,
     * once stopped, the trial's reason */
    char stop_why[200], stopped[240];
    double t_trial;             /* seconds spent on it so far */
    int eval_pos;
    long eval_right;
    double eval_loss;
    float *ebx;
    int *eby;
    size_t ebx_cap;
} slot;

#define MAX_SLOTS 16

struct cl_engine {
    const experiment *x;
    cl_store *st;
    cl_backend *be;
    const strategy_vt *vt;
    void *strat;
    cl_dataset ds;
    cl_split sp;
    float mean[4], std[4];
    int n_dec;

    engine_state state;
    int pause_after;            /* CMD_STEP: pause when the trial in hand ends */
    double ov[SET_COUNT];       /* values set by commands ... */
    unsigned char has_ov[SET_COUNT];   /* ... and which were set */
    int budget;

    /* the trials in hand */
    slot slots[MAX_SLOTS];
    int n_slots;                /* slots in use: decided when the first child is built */
    int parallel;               /* asked for: 0 = as many as fit */
    int turn;                   /* the slot served next */
    int64_t rerun[MAX_SLOTS];   /* resume: interrupted trials to run again, in order */
    int n_rerun;
    int sized;                  /* n_slots decided */
    int noted;                  /* the backend's note on steps logged */

    /* counters */
    int64_t done, failed, best_trial;
    double best_reward;
    char best_geno[GENO_TEXT_MAX];
    /* the leaderboard: the done trials of the newest trial's recipe (those
     * of another recipe do not compare), as `cellar show DB` ranks them */
    char board_recipe[17];
    int64_t board_newest;       /* the newest trial started */
    int64_t ranked;             /* done trials of board_recipe */
    int64_t ctrl_steps;
    double entropy, reward_ema;
    double seconds_before;      /* search seconds in the journal when opened */
    double seconds;             /* search seconds in this process */

    engine_event *ev;
    int ev_head, ev_count, ev_cap;
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- events ---- */

static engine_event *push_event(cl_engine *e, event_kind kind)
{
    engine_event *ev;
    if (e->ev_count == e->ev_cap) {
        int cap = e->ev_cap ? 2 * e->ev_cap : 32;
        engine_event *p = malloc((size_t)cap * sizeof *p);
        if (!p) {   /* drop the oldest rather than fail the search */
            e->ev_head = (e->ev_head + 1) % e->ev_cap;
            e->ev_count--;
        } else {
            for (int i = 0; i < e->ev_count; i++)
                p[i] = e->ev[(e->ev_head + i) % e->ev_cap];
            free(e->ev);
            e->ev = p;
            e->ev_cap = cap;
            e->ev_head = 0;
        }
    }
    ev = &e->ev[(e->ev_head + e->ev_count++) % e->ev_cap];
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->val_acc = ev->reward = ev->accuracy = NAN;
    return ev;
}

static void log_event(cl_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_event(cl_engine *e, const char *fmt, ...)
{
    engine_event *ev = push_event(e, EV_LOG);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->text, sizeof ev->text, fmt, ap);
    va_end(ap);
}

static void set_state(cl_engine *e, engine_state s)
{
    if (e->state == s)
        return;
    e->state = s;
    push_event(e, EV_STATE)->state = s;
}

int engine_next_event(cl_engine *e, engine_event *ev)
{
    if (!e->ev_count)
        return 0;
    *ev = e->ev[e->ev_head];
    e->ev_head = (e->ev_head + 1) % e->ev_cap;
    e->ev_count--;
    return 1;
}

/* ---- the trial in hand ---- */

static void drop_child(slot *sl)
{
    trainer_free(sl->tr);
    net_free(sl->net);
    sl->tr = NULL;
    sl->net = NULL;
}

static void clear_trial(slot *sl)
{
    drop_child(sl);
    store_trial_clear(&sl->cur);
    memset(&sl->cur, 0, sizeof sl->cur);
    sl->ph = PH_IDLE;
}

static int active_slots(const cl_engine *e)
{
    int n = 0;
    for (int i = 0; i < e->n_slots; i++)
        n += e->slots[i].ph != PH_IDLE;
    return n;
}

static int setting_index(const char *name)
{
    for (int i = 0; engine_settings[i].name; i++)
        if (!strcmp(engine_settings[i].name, name))
            return i;
    return -1;
}

/* the recipe and strategy settings of trial `id`: the experiment's, then
 * its functions of the trial index, then the commands given */
static int resolve(cl_engine *e, int64_t id, child_recipe *r, cl_err *err)
{
    strat_params p = e->x->strat;
    int64_t finished = e->done + e->failed;
    int rc;
    *r = e->x->child;
    p.temperature.kind = e->x->strat.temperature.kind;
    if (e->x->per_trial && (rc = e->x->per_trial(e->x->per_trial_ud, id, r, &p, err)))
        return rc;
    if (e->has_ov[SET_EPOCHS])
        r->epochs = (int)e->ov[SET_EPOCHS];
    if (e->has_ov[SET_BATCH])
        r->batch = (int)e->ov[SET_BATCH];
    if (e->has_ov[SET_CHILD_LR])
        r->lr.from = e->ov[SET_CHILD_LR];
    if (e->has_ov[SET_DROP]) {
        r->drop_path.kind = SCHED_LINEAR;
        r->drop_path.from = 0.0;
        r->drop_path.to = e->ov[SET_DROP];
    }
    if (e->has_ov[SET_WD])
        r->weight_decay = e->ov[SET_WD];
    if (e->has_ov[SET_MOMENTUM])
        r->momentum = e->ov[SET_MOMENTUM];
    if ((rc = recipe_validate(r, err))) {
        err_prefix(err, "trial %lld", (long long)id);
        return rc;
    }
    /* strategy settings that change per trial, unless a command fixed them */
    {
        double temp = sched_at(&p.temperature, e->budget ? (double)finished / e->budget : 0.0);
        struct { int slot; const char *name; double v; } live[] = {
            {SET_LR, "lr", p.lr},
            {SET_ENTROPY, "entropy_weight", p.entropy_weight},
            {SET_TEMPERATURE, "temperature", temp},
            {SET_TANH, "tanh_c", p.tanh_c},
        };
        for (size_t i = 0; i < CL_ARRAY_LEN(live); i++) {
            double cur;
            if (e->has_ov[live[i].slot] || e->vt->get(e->strat, live[i].name, &cur) != CL_OK)
                continue;
            if (cur != live[i].v && (rc = e->vt->set(e->strat, live[i].name, live[i].v, err))) {
                err_prefix(err, "trial %lld", (long long)id);
                return rc;
            }
        }
    }
    return CL_OK;
}

/* Record the end of the trial in hand: the result, its last epoch's
 * metrics, the strategy's lesson and checkpoint, in one transaction. */
static int finish_trial(cl_engine *e, slot *sl, int failed, const char *reason, double reward,
                        double acc, const store_metric *last, cl_err *err)
{
    store_trial *t = &sl->cur;
    strat_update u;
    int updated = 0, rc;
    unsigned char *blob = NULL;
    size_t blen = 0;
    double dec_entropy[SPACE_MAX_DECISIONS], *probs = NULL;
    char *decisions_json = NULL;
    engine_event *ev;

    t->state = failed ? TRIAL_FAILED : TRIAL_DONE;
    t->reward = failed ? NAN : reward;
    t->accuracy = failed ? NAN : acc;
    t->seconds = sl->t_trial;
    t->finished = wall_now();
    free(t->reason);
    /* a done trial's reason: that it was stopped early */
    t->reason = reason ? strdup(reason) : failed ? strdup("failed") : NULL;

    if ((rc = e->vt->observe(e->strat, t->id, sl->acts, t->logp, failed ? 0.0 : reward, failed, &u,
                             &updated, err)))
        return rc;
    if (updated && e->vt->policy && e->vt->best_guess) {
        /* where the controller stands: its most likely cell, decision by decision */
        int n_choices[SPACE_MAX_DECISIONS], best[SPACE_MAX_DECISIONS], total = 0;
        cl_buf js = {0};
        space_decisions(&e->x->space, n_choices);
        for (int i = 0; i < e->n_dec; i++)
            total += n_choices[i];
        probs = malloc((size_t)total * sizeof *probs);
        if (probs) {
            int off = 0;
            e->vt->best_guess(e->strat, best);
            e->vt->policy(e->strat, best, dec_entropy, probs);
            buf_printf(&js, "[");
            for (int i = 0; i < e->n_dec; i++) {
                buf_printf(&js, "%s{\"entropy\":%.5g,\"choice\":%d,\"probs\":[", i ? "," : "",
                           dec_entropy[i], best[i]);
                for (int k = 0; k < n_choices[i]; k++)
                    buf_printf(&js, "%s%.4g", k ? "," : "", probs[off + k]);
                off += n_choices[i];
                buf_printf(&js, "]}");
            }
            buf_printf(&js, "]");
            decisions_json = js.s;
        }
        free(probs);
    }
    if ((rc = e->vt->save(e->strat, &blob, &blen, err)))
        goto out;

    if ((rc = store_begin(e->st, err)))
        goto out;
    /* a trial stopped early has its last epoch journaled already: its
     * validation accuracy is added to that row */
    if ((rc = store_trial_update(e->st, t, err)) ||
        (last && (rc = (sl->stopped[0] ? store_metric_replace : store_metric_insert)(e->st, last,
                                                                                    err))) ||
        (rc = store_seconds_add(e->st, "search", sl->t_trial, err)))
        goto rollback;
    if (updated) {
        store_ctrl_step s;
        cl_buf ids = {0};
        for (int i = 0; i < u.n_trials; i++)
            buf_printf(&ids, "%s%lld", i ? " " : "", (long long)u.trials[i]);
        memset(&s, 0, sizeof s);
        s.step = u.step;
        s.entropy = u.entropy;
        s.reward_ema = u.reward_ema;
        s.loss = u.loss;
        s.lr = u.lr;
        s.trials = ids.s;
        s.decisions = decisions_json;
        s.time = wall_now();
        rc = store_ctrl_step_insert(e->st, &s, err);
        buf_free(&ids);
        if (rc)
            goto rollback;
    }
    if ((rc = store_checkpoint_save(e->st, e->done + e->failed + 1, blob, blen, err)) ||
        (rc = store_commit(e->st, err)))
        goto rollback;

    if (failed)
        e->failed++;
    else
        e->done++;
    e->seconds += sl->t_trial;
    if (!failed && !strcmp(t->hash_recipe, e->board_recipe)) {
        e->ranked++;
        if (!e->best_trial || reward > e->best_reward) {
            e->best_trial = t->id;
            e->best_reward = reward;
            snprintf(e->best_geno, sizeof e->best_geno, "%s", t->genotype);
        }
    }
    ev = push_event(e, EV_TRIAL_END);
    ev->trial = t->id;
    ev->tstate = t->state;
    ev->reward = t->reward;
    ev->accuracy = t->accuracy;
    ev->params = t->params;
    ev->flops = t->flops;
    ev->seconds = t->seconds;
    ev->reused = t->reused_from != 0;
    snprintf(ev->genotype, sizeof ev->genotype, "%s", t->genotype);
    snprintf(ev->recipe, sizeof ev->recipe, "%s", t->hash_recipe);
    snprintf(ev->text, sizeof ev->text, "%s", t->reason ? t->reason : "");
    if (updated) {
        e->ctrl_steps = u.step;
        e->entropy = u.entropy;
        e->reward_ema = u.reward_ema;
        ev = push_event(e, EV_CONTROLLER);
        ev->step = u.step;
        ev->entropy = u.entropy;
        ev->reward_ema = u.reward_ema;
        ev->ctrl_loss = u.loss;
    }
    clear_trial(sl);
    if (e->pause_after) {
        e->pause_after = 0;
        set_state(e, ENGINE_PAUSED);
    }
    rc = CL_OK;
    goto out;
rollback:
    store_rollback(e->st);
out:
    free(blob);
    free(decisions_json);
    return rc;
}

/* a child failed (it is not the search that failed): record it so */
static int child_failed(cl_engine *e, slot *sl, const cl_err *why, cl_err *err)
{
    char reason[sizeof why->msg];
    snprintf(reason, sizeof reason, "%s", why->msg[0] ? why->msg : err_str(why->code));
    drop_child(sl);
    log_event(e, "trial %lld failed: %s", (long long)sl->cur.id, reason);
    return finish_trial(e, sl, 1, reason, 0.0, 0.0, NULL, err);
}

/* the leaderboard ranks the trials of recipe `hash` from now on: its best
 * and count as the journal has them */
static int board_to(cl_engine *e, const char *hash, cl_err *err)
{
    store_trial best;
    int found, rc;
    snprintf(e->board_recipe, sizeof e->board_recipe, "%s", hash);
    e->best_trial = 0;
    e->best_reward = 0.0;
    e->best_geno[0] = '\0';
    if ((rc = store_trial_best(e->st, hash, &best, &found, &e->ranked, err)))
        return rc;
    if (found) {
        e->best_trial = best.id;
        e->best_reward = best.reward;
        snprintf(e->best_geno, sizeof e->best_geno, "%s", best.genotype ? best.genotype : "");
    }
    store_trial_clear(&best);
    return CL_OK;
}

static int start_trial(cl_engine *e, slot *sl, cl_err *err)
{
    store_trial *t = &sl->cur;
    char text[GENO_TEXT_MAX], rtext[1024], actions[SPACE_MAX_DECISIONS * 4];
    int64_t id = e->n_rerun ? e->rerun[0] : 0;
    double logp;
    cl_err why = {0};
    int rc, found = 0;
    engine_event *ev;

    if ((rc = e->vt->propose(e->strat, sl->acts, &logp, err)))
        return rc;
    if ((rc = space_decode(&e->x->space, sl->acts, &sl->g, err))) {
        err_prefix(err, "strategy %s proposed decisions outside the space", e->vt->name);
        return rc;
    }
    geno_format(&sl->g, text, sizeof text);
    space_actions_format(sl->acts, e->n_dec, actions, sizeof actions);

    memset(t, 0, sizeof *t);
    t->state = TRIAL_PENDING;
    t->genotype = strdup(text);
    t->actions = strdup(actions);
    t->logp = logp;
    t->reward = t->accuracy = t->seconds = t->flops = NAN;
    t->started = t->finished = NAN;
    t->created = wall_now();
    geno_hash_hex(geno_hash(&sl->g), t->hash);
    if (!t->genotype || !t->actions)
        return ERR_SET(err, CL_ERR_NOMEM, "engine: out of memory");

    if (id) {
        /* resume: the interrupted trial runs again, under its id */
        store_trial old;
        memset(&old, 0, sizeof old);
        if ((rc = store_trial_get(e->st, id, &old, err)))
            return rc;
        if (strcmp(old.genotype, text))
            log_event(e, "trial %lld: proposed %s, not the genotype it had before the "
                         "interruption; running the new proposal", (long long)id, text);
        store_trial_clear(&old);
        t->id = id;
        e->n_rerun--;
        memmove(e->rerun, e->rerun + 1, (size_t)e->n_rerun * sizeof *e->rerun);
        if ((rc = store_metric_delete(e->st, id, err)) || (rc = store_trial_update(e->st, t, err)))
            return rc;
    } else if ((rc = store_trial_insert(e->st, t, err))) {
        return rc;
    }
    id = t->id;

    if ((rc = resolve(e, id, &sl->recipe, err)))
        return rc;
    sl->augment = sl->recipe.augment >= 0 ? sl->recipe.augment : !strcmp(e->ds.name, "cifar10");
    recipe_text(&sl->recipe, e->x, rtext, sizeof rtext);
    free(t->recipe);
    t->recipe = strdup(rtext);
    recipe_hash(rtext, t->hash_recipe);
    if (id >= e->board_newest) {   /* the newest trial: its recipe is the leaderboard's */
        char what[512] = "";
        if (e->board_recipe[0] && strcmp(t->hash_recipe, e->board_recipe)) {
            store_trial was;   /* the trial whose recipe the leaderboard ranked */
            if ((rc = store_trial_get(e->st, e->board_newest, &was, err)))
                return rc;
            recipe_diff(was.recipe ? was.recipe : "", rtext, what, sizeof what);
            store_trial_clear(&was);
        }
        e->board_newest = id;
        if (strcmp(t->hash_recipe, e->board_recipe) && (rc = board_to(e, t->hash_recipe, err)))
            return rc;
        if (what[0])
            log_event(e, "trial %lld is trained with another recipe, %s; the leaderboard ranks "
                         "only this recipe's trials from now on (%lld done so far), as results "
                         "of different recipes do not compare", (long long)id, what,
                      (long long)e->ranked);
    }
    sl->t_trial = 0.0;
    sl->last_epoch = 0;
    sl->stop_why[0] = '\0';
    sl->stopped[0] = '\0';

    ev = push_event(e, EV_TRIAL_START);
    ev->trial = id;
    snprintf(ev->recipe, sizeof ev->recipe, "%s", t->hash_recipe);
    snprintf(ev->genotype, sizeof ev->genotype, "%s", text);

    /* a duplicate may take its earlier result */
    if (e->x->reuse_duplicates) {
        store_trial prev;
        memset(&prev, 0, sizeof prev);
        if ((rc = store_trial_find_done(e->st, t->hash, t->hash_recipe, &prev, &found, err)))
            return rc;
        if (found) {
            double reward = prev.reward, acc = prev.accuracy;
            /* name the trial that was trained, not another reuse of it */
            t->reused_from = prev.reused_from ? prev.reused_from : prev.id;
            t->params = prev.params;
            t->flops = prev.flops;
            t->started = wall_now();
            store_trial_clear(&prev);
            return finish_trial(e, sl, 0, NULL, reward, acc, NULL, err);
        }
    }

    /* build and plan the child; a failure here is the child's */
    {
        child_spec spec = {sl->recipe.N, sl->recipe.F, e->ds.c, e->ds.h, e->ds.w, e->ds.classes};
        train_cfg cfg;
        cl_rng rng;
        uint64_t seed = mix64(e->x->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)id);
        rng_seed(&rng, seed);
        train_cfg_defaults(&cfg);
        cfg.epochs = sl->recipe.epochs;
        cfg.batch = sl->recipe.batch;
        cfg.lr = sl->recipe.lr;
        cfg.drop_path = sl->recipe.drop_path;
        cfg.momentum = (float)sl->recipe.momentum;
        cfg.weight_decay = (float)sl->recipe.weight_decay;
        cfg.augment = sl->augment;
        cfg.seed = seed;
        if ((rc = child_build(&sl->g, &spec, sl->be, &sl->net, &why)) ||
            (rc = net_plan(sl->net, sl->recipe.batch, &why)) ||
            (rc = net_init_params(sl->net, &rng, &why)) ||
            (rc = trainer_new(sl->net, &e->ds, e->sp.train_idx, e->sp.n_train, e->mean, e->std,
                              &cfg, &sl->tr, &why))) {
            if (sl->net) {
                t->params = net_param_count(sl->net);
                t->flops = net_flops(sl->net);
            }
            return child_failed(e, sl, &why, err);
        }
        t->params = net_param_count(sl->net);
        t->flops = net_flops(sl->net);
    }
    t->state = TRIAL_RUNNING;
    t->started = wall_now();
    if ((rc = store_trial_update(e->st, t, err)))
        return rc;
    sl->ph = PH_TRAIN;
    return CL_OK;
}

/* the trial's training is over (done, or stopped at an epoch's end): on
 * to its validation */
static int begin_eval(cl_engine *e, slot *sl, cl_err *err)
{
    size_t need = (size_t)sl->net->max_batch * e->ds.c * e->ds.h * e->ds.w;
    if (need > sl->ebx_cap) {
        float *p = realloc(sl->ebx, need * sizeof *p);
        int *q = realloc(sl->eby, (size_t)sl->net->max_batch * sizeof *q);
        if (p)
            sl->ebx = p;
        if (q)
            sl->eby = q;
        if (!p || !q)
            return ERR_SET(err, CL_ERR_NOMEM, "engine: out of memory for evaluation");
        sl->ebx_cap = need;
    }
    sl->ph = PH_EVAL;
    sl->eval_pos = 0;
    sl->eval_right = 0;
    sl->eval_loss = 0.0;
    return CL_OK;
}

static int train_slice(cl_engine *e, slot *sl, int max_steps, cl_err *err)
{
    const train_status *ts = trainer_status(sl->tr);
    cl_err why = {0};
    double t0;
    long into = ts->steps_per_epoch ? ts->step % ts->steps_per_epoch : 0;
    int rc;
    /* stopped: at an epoch's end, validated as it stands */
    if (sl->stop_why[0] && ts->epoch > 0 && into == 0) {
        snprintf(sl->stopped, sizeof sl->stopped, "stopped after epoch %d of %d: %s", ts->epoch,
                 sl->recipe.epochs, sl->stop_why);
        log_event(e, "trial %lld %s", (long long)sl->cur.id, sl->stopped);
        return begin_eval(e, sl, err);
    }
    /* a slice ends at an epoch's end at the latest, so that the epoch's
     * hooks run there and may stop the trial before it trains on */
    if (ts->steps_per_epoch && max_steps > ts->steps_per_epoch - into)
        max_steps = (int)(ts->steps_per_epoch - into);
    t0 = cl_now();
    rc = trainer_run(sl->tr, max_steps, &why);
    sl->t_trial += cl_now() - t0;
    if (rc)
        return child_failed(e, sl, &why, err);
    /* the trainer's reason for not recording steps is known after its
     * second step (the first runs op by op), so it is looked for here */
    if (!e->noted && trainer_note(sl->tr)[0]) {
        e->noted = 1;
        log_event(e, "training steps run op by op: %s", trainer_note(sl->tr));
    }
    ts = trainer_status(sl->tr);
    /* the last epoch is reported and journaled after validation, with its accuracy */
    if (ts->epoch > sl->last_epoch && ts->epoch < sl->recipe.epochs) {
        engine_event *ev = push_event(e, EV_EPOCH);
        store_metric m = {sl->cur.id, ts->epoch, ts->last_epoch_loss, ts->last_epoch_acc, NAN,
                          ts->lr, sl->t_trial};
        sl->last_epoch = ts->epoch;
        ev->trial = sl->cur.id;
        ev->epoch = ts->epoch;
        ev->loss = ts->last_epoch_loss;
        ev->acc = ts->last_epoch_acc;
        if ((rc = store_metric_insert(e->st, &m, err)))
            return rc;
    }
    if (trainer_done(sl->tr))
        return begin_eval(e, sl, err);
    return CL_OK;
}

static int eval_slice(cl_engine *e, slot *sl, int max_batches, cl_err *err)
{
    const cl_dataset *ds = &e->ds;
    int bmax = sl->net->max_batch, n = e->sp.n_val;
    double t0 = cl_now();
    cl_err why = {0};
    for (int k = 0; k < max_batches && sl->eval_pos < n; k++) {
        int b = n - sl->eval_pos < bmax ? n - sl->eval_pos : bmax, right, rc;
        float loss;
        dataset_make_batch(ds->train_x, ds->train_y, ds->c, ds->h, ds->w,
                           e->sp.val_idx + sl->eval_pos, b, e->mean, e->std, NULL, NULL, sl->ebx,
                           sl->eby);
        if ((rc = net_forward(sl->net, sl->ebx, b, 0, &why)) ||
            (rc = net_loss(sl->net, sl->eby, &loss, &right, 0, &why))) {
            sl->t_trial += cl_now() - t0;
            err_prefix(&why, "validation");
            return child_failed(e, sl, &why, err);
        }
        sl->eval_right += right;
        sl->eval_loss += (double)loss * b;
        sl->eval_pos += b;
    }
    sl->t_trial += cl_now() - t0;
    if (sl->eval_pos >= n) {
        const train_status *ts = trainer_status(sl->tr);
        double acc = (double)sl->eval_right / n;
        store_metric m = {sl->cur.id, ts->epoch, ts->last_epoch_loss, ts->last_epoch_acc, acc,
                          ts->lr, sl->t_trial};
        engine_event *ev = push_event(e, EV_EPOCH);
        ev->trial = sl->cur.id;
        ev->epoch = ts->epoch;
        ev->loss = ts->last_epoch_loss;
        ev->acc = ts->last_epoch_acc;
        ev->val_acc = acc;
        drop_child(sl);
        return finish_trial(e, sl, 0, sl->stopped[0] ? sl->stopped : NULL, acc, acc, &m, err);
    }
    return CL_OK;
}

/* How many slots: what was asked for, else one on a backend that shares
 * the host's memory (the CPU's threads are already all in use), else as
 * many children like the first as the device's free memory holds (twice
 * their planned memory each, for the libraries' workspaces), at most 8. */
static int decide_slots(cl_engine *e, const slot *first)
{
    size_t free_b = 0, per;
    long n;
    if (e->parallel > 0)
        return e->parallel < MAX_SLOTS ? e->parallel : MAX_SLOTS;
    if (e->be->host_memory || !e->be->mem_free || !first->net ||
        e->be->mem_free(e->be, &free_b) != CL_OK)
        return 1;
    per = 2 * net_memory(first->net) + (size_t)e->ds.n_train * e->ds.c * e->ds.h * e->ds.w;
    n = 1 + (long)(free_b / (per ? per : 1));
    return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

/* Slot i's backend: the engine's for slot 0 (and for all where the
 * backend cannot fork), else a fork of it, made once.  Returns 0 when the
 * slot is ready; 1 when no fork could be made, after logging why and
 * keeping the search to the i slots it has (slots open in order, so none
 * from i on is in use). */
static int open_slot(cl_engine *e, int i)
{
    slot *sl = &e->slots[i];
    cl_err why = {0};
    if (sl->be)
        return 0;
    if (i == 0 || !e->be->fork) {
        sl->be = e->be;
        return 0;
    }
    if (e->be->fork(e->be, &sl->be, &why)) {
        sl->be = NULL;
        e->n_slots = i;
        log_event(e, "no backend for trial slot %d (%s): %d trial%s at once", i + 1,
                  why.msg[0] ? why.msg : err_str(why.code), i, i == 1 ? "" : "s");
        return 1;
    }
    sl->own_be = 1;
    return 0;
}

int engine_step(cl_engine *e, int max_steps, cl_err *err)
{
    int rc;
    if (max_steps < 1)
        max_steps = 1;
    if (e->state != ENGINE_RUNNING)
        return CL_OK;
    /* a free slot takes a new trial while the budget allows */
    {
        double elapsed = e->seconds_before + e->seconds;
        int busy = active_slots(e);
        int over = e->done + e->failed + busy >= e->budget ||
                   (e->x->time_budget > 0 && elapsed >= e->x->time_budget) ||
                   (e->pause_after && busy > 0);
        if (!over) {
            for (int i = 0; i < e->n_slots; i++) {
                slot *sl = &e->slots[i];
                if (sl->ph != PH_IDLE)
                    continue;
                if (open_slot(e, i))
                    break;   /* fewer slots: serve those in hand */
                rc = start_trial(e, sl, err);
                if (rc == CL_OK && e->n_slots == 1 && e->slots[0].ph != PH_IDLE && !e->sized) {
                    e->sized = 1;
                    e->n_slots = decide_slots(e, &e->slots[0]);
                    if (e->n_slots > 1)
                        log_event(e, "%d trials train at once on %s", e->n_slots, e->be->name);
                }
                return rc;
            }
        } else if (!busy) {
            set_state(e, ENGINE_DONE);
            return CL_OK;
        }
    }
    /* else the next trial in hand gets a slice */
    for (int k = 0; k < e->n_slots; k++) {
        slot *sl = &e->slots[(e->turn + k) % e->n_slots];
        if (sl->ph == PH_IDLE)
            continue;
        e->turn = (e->turn + k + 1) % e->n_slots;
        return sl->ph == PH_TRAIN ? train_slice(e, sl, max_steps, err)
                                  : eval_slice(e, sl, max_steps, err);
    }
    return CL_OK;
}

engine_state engine_get_state(const cl_engine *e) { return e->state; }

/* ---- commands ---- */

static int journal_command(cl_engine *e, const char *source, const char *name, const char *old_v,
                           const char *new_v, cl_err *err)
{
    store_command c;
    engine_event *ev;
    memset(&c, 0, sizeof c);
    c.time = wall_now();
    c.source = (char *)source;
    c.name = (char *)name;
    c.old_value = (char *)old_v;
    c.new_value = (char *)new_v;
    ev = push_event(e, EV_COMMAND);
    engine_command_text(ev->text, sizeof ev->text, name, old_v, new_v, source);
    return store_command_insert(e->st, &c, err);
}

void engine_command_text(char *buf, size_t cap, const char *name, const char *old_v,
                         const char *new_v, const char *source)
{
    if (new_v && !old_v)   /* a command with a value alone: "stop trial 4: why" */
        snprintf(buf, cap, "%s: %s, from %s", name, new_v, source ? source : "?");
    else if (new_v)
        snprintf(buf, cap, "%s %s (was %s), from %s", name, new_v, old_v ? old_v : "unset",
                 source ? source : "?");
    else
        snprintf(buf, cap, "%s, from %s", name, source ? source : "?");
}

int engine_get(const cl_engine *e, const char *name, double *value, cl_err *err)
{
    int i = setting_index(name);
    const slot *busy = NULL;
    const child_recipe *r;
    for (int k = 0; k < e->n_slots; k++)
        if (e->slots[k].ph != PH_IDLE && (!busy || e->slots[k].cur.id > busy->cur.id))
            busy = &e->slots[k];
    r = busy ? &busy->recipe : &e->x->child;
    if (i < 0) {
        cl_buf names = {0};
        for (int k = 0; engine_settings[k].name; k++)
            buf_printf(&names, "%s%s", k ? ", " : "", engine_settings[k].name);
        ERR_SET(err, CL_ERR_ARG, "no setting '%s' (valid: %s)", name, names.s ? names.s : "");
        buf_free(&names);
        return CL_ERR_ARG;
    }
    if (e->has_ov[i]) {
        *value = e->ov[i];
        return CL_OK;
    }
    switch (i) {
    case SET_LR:
    case SET_ENTROPY:
    case SET_TEMPERATURE:
    case SET_TANH:
        if (e->vt->get(e->strat, name, value) != CL_OK)
            return ERR_SET(err, CL_ERR_ARG, "strategy %s has no setting '%s'", e->vt->name, name);
        return CL_OK;
    case SET_EPOCHS:
        *value = r->epochs;
        return CL_OK;
    case SET_BATCH:
        *value = r->batch;
        return CL_OK;
    case SET_CHILD_LR:
        *value = r->lr.from;
        return CL_OK;
    case SET_DROP:
        *value = sched_at(&r->drop_path, 1.0);
        return CL_OK;
    case SET_WD:
        *value = r->weight_decay;
        return CL_OK;
    case SET_MOMENTUM:
        *value = r->momentum;
        return CL_OK;
    case SET_BUDGET:
        *value = e->budget;
        return CL_OK;
    }
    return CL_ERR_ARG;
}

/* check a value for setting i and apply it (without journaling) */
static int apply_set(cl_engine *e, int i, double v, cl_err *err)
{
    const char *name = engine_settings[i].name;
    int rc;
    if (!isfinite(v))
        return ERR_SET(err, CL_ERR_ARG, "%s: %g is not a number", name, v);
    switch (i) {
    case SET_LR:
    case SET_ENTROPY:
    case SET_TEMPERATURE:
    case SET_TANH:
        if ((rc = e->vt->set(e->strat, name, v, err)))
            return rc;
        break;
    case SET_EPOCHS:
        if (v < 1 || v > 100000 || v != floor(v))
            return ERR_SET(err, CL_ERR_ARG, "child.epochs: %g (a whole number from 1)", v);
        break;
    case SET_BATCH:
        if (v < 1 || v > 65536 || v != floor(v))
            return ERR_SET(err, CL_ERR_ARG, "child.batch: %g (a whole number from 1)", v);
        break;
    case SET_CHILD_LR:
        if (v <= 0 || v > 100)
            return ERR_SET(err, CL_ERR_ARG, "child.lr: %g (must be positive)", v);
        break;
    case SET_DROP:
        if (v < 0 || v >= 1)
            return ERR_SET(err, CL_ERR_ARG, "child.drop_path: %g (must be in [0, 1))", v);
        break;
    case SET_WD:
        if (v < 0 || v > 1)
            return ERR_SET(err, CL_ERR_ARG, "child.weight_decay: %g (must be in [0, 1])", v);
        break;
    case SET_MOMENTUM:
        if (v < 0 || v >= 1)
            return ERR_SET(err, CL_ERR_ARG, "child.momentum: %g (must be in [0, 1))", v);
        break;
    case SET_BUDGET:
        if (v < 1 || v > 1e9 || v != floor(v))
            return ERR_SET(err, CL_ERR_ARG, "budget: %g (a whole number from 1)", v);
        e->budget = (int)v;
        if (e->state == ENGINE_DONE && e->done + e->failed < e->budget)
            set_state(e, ENGINE_RUNNING);
        break;
    }
    e->ov[i] = v;
    e->has_ov[i] = 1;
    return CL_OK;
}

int engine_command(cl_engine *e, cmd_kind cmd, const char *name, double value, const char *source,
                   cl_err *err)
{
    char oldv[64], newv[64], what[80];
    double old;
    int i, rc;
    if (!source)
        source = "cli";
    switch (cmd) {
    case CMD_PAUSE:
        if (e->state == ENGINE_RUNNING)
            set_state(e, ENGINE_PAUSED);
        return journal_command(e, source, "pause", NULL, NULL, err);
    case CMD_RESUME:
        e->pause_after = 0;
        if (e->state == ENGINE_PAUSED)
            set_state(e, ENGINE_RUNNING);
        return journal_command(e, source, "resume", NULL, NULL, err);
    case CMD_STEP:
        if (e->state == ENGINE_PAUSED) {
            e->pause_after = 1;
            set_state(e, ENGINE_RUNNING);
        }
        return journal_command(e, source, "step", NULL, NULL, err);
    case CMD_STOP:
        if (e->state == ENGINE_RUNNING || e->state == ENGINE_PAUSED)
            set_state(e, ENGINE_STOPPED);
        return journal_command(e, source, "stop", NULL, NULL, err);
    case CMD_SET:
        if ((rc = engine_get(e, name ? name : "", &old, err)))
            return rc;
        i = setting_index(name);
        if ((rc = apply_set(e, i, value, err)))
            return rc;
        snprintf(oldv, sizeof oldv, "%.10g", old);
        snprintf(newv, sizeof newv, "%.10g", value);
        snprintf(what, sizeof what, "set %s", name);
        return journal_command(e, source, what, oldv, newv, err);
    }
    return ERR_SET(err, CL_ERR_ARG, "unknown command %d", (int)cmd);
}

int engine_stop_trial(cl_engine *e, int64_t id, const char *why, const char *source,
                      int *stopping, cl_err *err)
{
    char name[64];
    *stopping = 0;
    if (!why || !*why)
        why = "asked to";
    for (int k = 0; k < e->n_slots; k++) {
        slot *sl = &e->slots[k];
        if (sl->ph != PH_TRAIN || sl->cur.id != id || sl->stop_why[0])
            continue;
        snprintf(sl->stop_why, sizeof sl->stop_why, "%s", why);
        *stopping = 1;
        snprintf(name, sizeof name, "stop trial %lld", (long long)id);
        return journal_command(e, source ? source : "cli", name, NULL, sl->stop_why, err);
    }
    return CL_OK;
}

/* ---- status ---- */

void engine_get_status(const cl_engine *e, engine_status *s)
{
    const slot *cur = NULL;
    double elapsed = e->seconds_before + e->seconds;
    /* the oldest trial in hand is the one shown */
    for (int k = 0; k < e->n_slots; k++) {
        const slot *sl = &e->slots[k];
        if (sl->ph == PH_IDLE)
            continue;
        elapsed += sl->t_trial;
        if (!cur || sl->cur.id < cur->cur.id)
            cur = sl;
    }
    memset(s, 0, sizeof *s);
    s->state = e->state;
    s->done = e->done;
    s->failed = e->failed;
    s->budget = e->budget;
    s->best_trial = e->best_trial;
    s->ranked = e->ranked;
    s->best_reward = e->best_trial ? e->best_reward : NAN;
    snprintf(s->best_genotype, sizeof s->best_genotype, "%s", e->best_geno);
    s->current_trial = cur ? cur->cur.id : 0;
    s->running = active_slots(e);
    s->slots = e->n_slots;
    if (cur && cur->tr) {
        const train_status *ts = trainer_status(cur->tr);
        s->epoch = ts->epoch;
        s->epochs = cur->recipe.epochs;
        s->step = ts->step;
        s->steps_total = ts->steps_total;
    }
    s->elapsed = elapsed;
    s->trials_per_hour = elapsed > 0 ? (e->done + e->failed) * 3600.0 / elapsed : 0.0;
    s->ctrl_steps = e->ctrl_steps;
    s->entropy = e->ctrl_steps ? e->entropy : NAN;
    s->reward_ema = e->ctrl_steps ? e->reward_ema : NAN;
}

/* ---- opening ---- */

typedef struct tally {
    cl_engine *e;
    int extra;   /* unfinished trials beyond MAX_SLOTS */
} tally;

static int count_trial(void *ud, const store_trial *t)
{
    tally *ty = ud;
    cl_engine *e = ty->e;
    if (t->state == TRIAL_DONE) {
        e->done++;
    } else if (t->state == TRIAL_FAILED) {
        e->failed++;
    } else if (e->n_rerun < MAX_SLOTS) {
        e->rerun[e->n_rerun++] = t->id;
    } else {
        ty->extra++;
    }
    return 0;
}

/* the controller's figures as its last journaled update left them */
static int last_ctrl_step(cl_engine *e, cl_store *st, cl_err *err)
{
    store_ctrl_step s;
    int found, rc = store_ctrl_step_get(st, 0, &s, &found, err);
    if (rc == CL_OK && found) {
        e->ctrl_steps = s.step;
        e->entropy = s.entropy;
        e->reward_ema = s.reward_ema;
    }
    store_ctrl_step_clear(&s);
    return rc;
}

/* replay the settings given by commands before the interruption */
static int replay_command(void *ud, const store_command *c)
{
    cl_engine *e = ud;
    int i;
    cl_err ignored = {0};
    if (!c->name || strncmp(c->name, "set ", 4) || !c->new_value)
        return 0;
    i = setting_index(c->name + 4);
    if (i >= 0)
        apply_set(e, i, strtod(c->new_value, NULL), &ignored);
    return 0;
}

static int settings_differ(const char *a, const char *b, cl_err *err)
{
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    if (!a[i] && !b[i])
        return CL_OK;
    {
        size_t from = i > 30 ? i - 30 : 0;
        return ERR_SET(err, CL_ERR_ARG,
                       "the journal holds another experiment: its settings differ from the "
                       "file's at \"...%.60s\" (journal) vs \"...%.60s\" (file)",
                       a + from, b + from);
    }
}

int engine_open(const experiment *x, cl_store *st, cl_backend *be, int resume, cl_engine **out,
                cl_err *err)
{
    cl_engine *e;
    cl_buf settings = {0};
    store_experiment je;
    unsigned char *blob = NULL;
    size_t blen = 0;
    int64_t cp_done = 0;
    int rc, found = 0;

    if ((rc = experiment_validate(x, err)))
        return rc;
    e = calloc(1, sizeof *e);
    if (!e)
        return ERR_SET(err, CL_ERR_NOMEM, "engine: out of memory");
    e->x = x;
    e->st = st;
    e->be = be;
    e->budget = x->budget;
    e->parallel = x->parallel;
    e->n_slots = 1;
    e->sized = x->parallel == 1;
    e->state = ENGINE_RUNNING;
    e->n_dec = space_decisions(&x->space, (int[SPACE_MAX_DECISIONS]){0});
    memset(&je, 0, sizeof je);

    if ((rc = strategy_find(x->strategy, &e->vt, err)) ||
        (rc = e->vt->create(&x->space, &x->strat, mix64(x->seed ^ 0x7374726174656779ULL),
                            &e->strat, err)))
        goto fail;
    if ((rc = dataset_load(x->dataset, &e->ds, err)) ||
        (rc = dataset_split(&e->ds, x->val_images, x->train_images, x->seed, &e->sp, err)))
        goto fail;
    if (e->ds.c > 4) {
        rc = ERR_SET(err, CL_ERR_UNSUPPORTED, "%s: %d channels per image (at most 4)", x->dataset,
                     e->ds.c);
        goto fail;
    }
    dataset_channel_stats(&e->ds, e->sp.train_idx, e->sp.n_train, e->mean, e->std);
    if (experiment_settings_json(x, &settings)) {
        rc = ERR_SET(err, CL_ERR_NOMEM, "engine: out of memory");
        goto fail;
    }

    if (!resume) {
        int64_t any = 0;
        je.name = (char *)x->name;
        je.source_path = (char *)x->source_path;
        je.source = (char *)(x->source ? x->source : "");
        je.settings = settings.s;
        je.seed = (int64_t)x->seed;
        je.created = wall_now();
        if ((rc = store_trial_counts(e->st, &any, NULL, NULL, NULL, err)))
            goto fail;
        if ((rc = store_experiment_set(st, &je, err)))
            goto fail;
        memset(&je, 0, sizeof je);
    } else {
        tally ty = {e, 0};
        char hash[17];
        if ((rc = store_experiment_get(st, &je, err)))
            goto fail;
        if ((rc = settings_differ(je.settings ? je.settings : "", settings.s, err)))
            goto fail;
        if ((rc = store_command_each(st, 0, replay_command, e, err)) ||
            (rc = store_trial_each(st, -1, count_trial, &ty, err)) ||
            (rc = store_trial_newest_recipe(st, hash, &e->board_newest, err)) ||
            (rc = board_to(e, hash, err)) || (rc = last_ctrl_step(e, st, err)) ||
            (rc = store_seconds_get(st, "search", &e->seconds_before, err)) ||
            (rc = store_checkpoint_latest(st, &cp_done, &blob, &blen, &found, err)))
            goto fail;
        if (ty.extra) {
            rc = ERR_SET(err, CL_ERR_FORMAT, "%s: %d trials were unfinished at once (a search "
                         "has at most %d in hand); this journal was not written by one cellar "
                         "search", store_path(st), ty.extra + MAX_SLOTS, MAX_SLOTS);
            goto fail;
        }
        if (found && (rc = e->vt->load(e->strat, blob, blen, err))) {
            err_prefix(err, "%s: checkpoint after %lld trials", store_path(st), (long long)cp_done);
            goto fail;
        }
        if (found && cp_done != e->done + e->failed) {
            rc = ERR_SET(err, CL_ERR_FORMAT, "%s: the newest checkpoint follows %lld trials but %lld "
                         "are finished", store_path(st), (long long)cp_done,
                         (long long)(e->done + e->failed));
            goto fail;
        }
        for (int i = 0; i < e->n_rerun; i++)
            log_event(e, "trial %lld was interrupted; it runs again", (long long)e->rerun[i]);
        if (e->done + e->failed >= e->budget)
            e->state = ENGINE_DONE;
    }
    store_experiment_clear(&je);
    buf_free(&settings);
    free(blob);
    *out = e;
    return CL_OK;
fail:
    store_experiment_clear(&je);
    buf_free(&settings);
    free(blob);
    engine_free(e);
    return rc;
}

void engine_free(cl_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < MAX_SLOTS; i++) {
        slot *sl = &e->slots[i];
        clear_trial(sl);
        free(sl->ebx);
        free(sl->eby);
        if (sl->own_be)
            backend_destroy(sl->be);
    }
    if (e->vt && e->strat)
        e->vt->destroy(e->strat);
    split_free(&e->sp);
    dataset_free(&e->ds);
    free(e->ev);
    free(e);
}
