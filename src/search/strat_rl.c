/* strat_rl.c - the controller strategies: an LSTM controller (controller.h)
 * samples each architecture; rewards are collected until a batch (20 by
 * default) is full, then the controller learns from the batch with PPO
 * (the paper's choice) or REINFORCE.  Failed children count with reward 0.
 *
 * The checkpoint holds everything the next proposal depends on: the
 * controller (weights, Adam state, baseline), the live settings, the random
 * generator, and the part of a batch collected so far. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "controller/controller.h"
#include "search/strategy.h"

typedef struct rl {
    int ppo;
    cl_space space;
    int n_dec, n_choices[SPACE_MAX_DECISIONS];
    cl_controller *ctrl;
    cl_rng rng;
    int batch, count;
    int *acts;          /* [batch][n_dec] */
    double *logp, *reward;
    int64_t *ids;
    int64_t updates;
} rl;

static void rl_destroy(void *state)
{
    rl *r = state;
    if (!r)
        return;
    ctrl_free(r->ctrl);
    free(r->acts);
    free(r->logp);
    free(r->reward);
    free(r->ids);
    free(r);
}

static int rl_create_common(int ppo, const cl_space *space, const strat_params *p, uint64_t seed,
                            void **state, cl_err *err)
{
    rl *r;
    ctrl_cfg cfg;
    int rc;
    if (p->batch < 1 || p->batch > 256)
        return ERR_SET(err, CL_ERR_ARG, "%s: batch must be 1 to 256 architectures (got %d)",
                       ppo ? "ppo" : "reinforce", p->batch);
    r = calloc(1, sizeof *r);
    if (!r)
        return ERR_SET(err, CL_ERR_NOMEM, "controller strategy: out of memory");
    r->ppo = ppo;
    r->space = *space;
    r->n_dec = space_decisions(space, r->n_choices);
    r->batch = p->batch;
    r->acts = malloc((size_t)p->batch * r->n_dec * sizeof *r->acts);
    r->logp = malloc((size_t)p->batch * sizeof *r->logp);
    r->reward = malloc((size_t)p->batch * sizeof *r->reward);
    r->ids = malloc((size_t)p->batch * sizeof *r->ids);
    if (!r->acts || !r->logp || !r->reward || !r->ids) {
        rl_destroy(r);
        return ERR_SET(err, CL_ERR_NOMEM, "controller strategy: out of memory");
    }
    ctrl_cfg_defaults(&cfg);
    cfg.hidden = p->hidden;
    cfg.lr = p->lr;
    cfg.entropy_weight = p->entropy_weight;
    cfg.baseline_decay = p->baseline_decay;
    cfg.ppo_epochs = p->ppo_epochs;
    cfg.ppo_clip = p->clip;
    cfg.tanh_c = p->tanh_c;
    cfg.temperature = sched_at(&p->temperature, 0.0);
    /* the controller's weights and the sampling stream come from one seed */
    rc = ctrl_new(r->n_choices, r->n_dec, &cfg, mix64(seed ^ 0x636f6e74726f6cULL), &r->ctrl, err);
    if (rc) {
        rl_destroy(r);
        return rc;
    }
    rng_seed(&r->rng, seed);
    *state = r;
    return CL_OK;
}

static int ppo_create(const cl_space *space, const strat_params *p, uint64_t seed, void **state,
                      cl_err *err)
{
    return rl_create_common(1, space, p, seed, state, err);
}

static int reinforce_create(const cl_space *space, const strat_params *p, uint64_t seed,
                            void **state, cl_err *err)
{
    return rl_create_common(0, space, p, seed, state, err);
}

static int rl_propose(void *state, int *actions, double *logp, cl_err *err)
{
    rl *r = state;
    (void)err;
    ctrl_sample(r->ctrl, &r->rng, actions, logp, NULL);
    return CL_OK;
}

static int rl_observe(void *state, int64_t trial, const int *actions, double logp, double reward,
                      int failed, strat_update *u, int *updated, cl_err *err)
{
    rl *r = state;
    ctrl_update_stats st;
    int rc;
    *updated = 0;
    memcpy(r->acts + (size_t)r->count * r->n_dec, actions, (size_t)r->n_dec * sizeof *actions);
    r->logp[r->count] = logp;
    r->reward[r->count] = failed || !isfinite(reward) ? 0.0 : reward;
    r->ids[r->count] = trial;
    if (++r->count < r->batch)
        return CL_OK;
    rc = r->ppo ? ctrl_update_ppo(r->ctrl, r->acts, r->logp, r->reward, r->count, &st, err)
                : ctrl_update_reinforce(r->ctrl, r->acts, r->reward, r->count, &st, err);
    if (rc) {
        err_prefix(err, "controller update after trial %lld", (long long)trial);
        return rc;
    }
    memset(u, 0, sizeof *u);
    u->step = ++r->updates;
    u->entropy = st.entropy;
    u->reward_ema = st.baseline;
    u->loss = st.loss;
    u->lr = ctrl_config(r->ctrl)->lr;
    u->n_trials = r->count < 256 ? r->count : 256;
    memcpy(u->trials, r->ids, (size_t)u->n_trials * sizeof *u->trials);
    r->count = 0;
    *updated = 1;
    return CL_OK;
}

/* the live settings, in a fixed order for the checkpoint */
static const char *const live[] = {"lr", "entropy_weight", "temperature", "tanh_c",
                                   "baseline_decay", "clip"};

static double *live_slot(rl *r, const char *name)
{
    ctrl_cfg *c = ctrl_config(r->ctrl);
    if (!strcmp(name, "lr"))
        return &c->lr;
    if (!strcmp(name, "entropy_weight"))
        return &c->entropy_weight;
    if (!strcmp(name, "temperature"))
        return &c->temperature;
    if (!strcmp(name, "tanh_c"))
        return &c->tanh_c;
    if (!strcmp(name, "baseline_decay"))
        return &c->baseline_decay;
    if (!strcmp(name, "clip"))
        return &c->ppo_clip;
    return NULL;
}

static int rl_save(void *state, unsigned char **blob, size_t *len, cl_err *err)
{
    rl *r = state;
    blob_w w = {0};
    unsigned char *cb = NULL;
    size_t clen = 0;
    int32_t hdr[4] = {r->ppo, r->n_dec, r->batch, r->count};
    int rc = ctrl_save(r->ctrl, &cb, &clen, err);
    uint64_t cl64 = clen;
    if (rc)
        return rc;
    blob_put(&w, "RLS1", 4);
    blob_put(&w, hdr, sizeof hdr);
    for (size_t i = 0; i < CL_ARRAY_LEN(live); i++)
        blob_put(&w, live_slot(r, live[i]), sizeof(double));
    blob_put(&w, &ctrl_config(r->ctrl)->ppo_epochs, sizeof(int));
    blob_put(&w, &r->rng, sizeof r->rng);
    blob_put(&w, &r->updates, sizeof r->updates);
    for (int i = 0; i < r->count; i++) {
        int32_t a[SPACE_MAX_DECISIONS];
        for (int t = 0; t < r->n_dec; t++)
            a[t] = r->acts[(size_t)i * r->n_dec + t];
        blob_put(&w, a, (size_t)r->n_dec * sizeof *a);
        blob_put(&w, &r->logp[i], sizeof(double));
        blob_put(&w, &r->reward[i], sizeof(double));
        blob_put(&w, &r->ids[i], sizeof(int64_t));
    }
    blob_put(&w, &cl64, sizeof cl64);
    blob_put(&w, cb, clen);
    free(cb);
    if (w.failed) {
        free(w.p);
        return ERR_SET(err, CL_ERR_NOMEM, "controller strategy: out of memory saving its state");
    }
    *blob = w.p;
    *len = w.len;
    return CL_OK;
}

static int rl_load(void *state, const unsigned char *blob, size_t len, cl_err *err)
{
    rl *r = state;
    blob_r rd = {blob, len, 0, 0};
    char magic[4];
    int32_t hdr[4];
    uint64_t cl64;
    int rc;
    blob_get(&rd, magic, 4);
    blob_get(&rd, hdr, sizeof hdr);
    if (rd.failed || memcmp(magic, "RLS1", 4))
        return ERR_SET(err, CL_ERR_FORMAT, "controller strategy: the checkpoint is not one of it");
    if (hdr[0] != r->ppo || hdr[1] != r->n_dec || hdr[2] != r->batch || hdr[3] < 0 ||
        hdr[3] >= r->batch)
        return ERR_SET(err, CL_ERR_FORMAT,
                       "controller strategy: the checkpoint is of %s with %d decisions and batch "
                       "%d; this search is %s with %d and %d",
                       hdr[0] ? "ppo" : "reinforce", hdr[1], hdr[2], r->ppo ? "ppo" : "reinforce",
                       r->n_dec, r->batch);
    for (size_t i = 0; i < CL_ARRAY_LEN(live); i++)
        blob_get(&rd, live_slot(r, live[i]), sizeof(double));
    blob_get(&rd, &ctrl_config(r->ctrl)->ppo_epochs, sizeof(int));
    blob_get(&rd, &r->rng, sizeof r->rng);
    blob_get(&rd, &r->updates, sizeof r->updates);
    r->count = hdr[3];
    for (int i = 0; i < r->count; i++) {
        int32_t a[SPACE_MAX_DECISIONS];
        blob_get(&rd, a, (size_t)r->n_dec * sizeof *a);
        for (int t = 0; t < r->n_dec; t++)
            r->acts[(size_t)i * r->n_dec + t] = a[t];
        blob_get(&rd, &r->logp[i], sizeof(double));
        blob_get(&rd, &r->reward[i], sizeof(double));
        blob_get(&rd, &r->ids[i], sizeof(int64_t));
    }
    blob_get(&rd, &cl64, sizeof cl64);
    if (rd.failed || cl64 != len - rd.pos)
        return ERR_SET(err, CL_ERR_FORMAT, "controller strategy: the checkpoint is truncated");
    if ((rc = ctrl_load(r->ctrl, blob + rd.pos, (size_t)cl64, err)))
        return rc;
    return CL_OK;
}

static int rl_set(void *state, const char *name, double value, cl_err *err)
{
    rl *r = state;
    double *slot = live_slot(r, name);
    if (!slot || !strcmp(name, "clip") || !strcmp(name, "baseline_decay"))
        return ERR_SET(err, CL_ERR_ARG, "%s has no live setting '%s'", r->ppo ? "ppo" : "reinforce",
                       name);
    if (!isfinite(value) || value < 0 || (!strcmp(name, "lr") && value > 1))
        return ERR_SET(err, CL_ERR_ARG, "%s: %g is out of range", name, value);
    *slot = value;
    return CL_OK;
}

static int rl_get(void *state, const char *name, double *value)
{
    double *slot = live_slot(state, name);
    if (!slot)
        return CL_ERR_ARG;
    *value = *slot;
    return CL_OK;
}

static void rl_policy(void *state, const int *actions, double *dec_entropy, double *probs)
{
    rl *r = state;
    double lp, h;
    ctrl_evaluate(r->ctrl, actions, &lp, &h, dec_entropy, probs);
}

static void rl_best_guess(void *state, int *actions)
{
    rl *r = state;
    ctrl_argmax(r->ctrl, actions);
}

const strategy_vt strategy_ppo = {
    .name = "ppo",
    .about = "LSTM controller trained with PPO every batch of architectures (the paper's)",
    .create = ppo_create,
    .destroy = rl_destroy,
    .propose = rl_propose,
    .observe = rl_observe,
    .save = rl_save,
    .load = rl_load,
    .set = rl_set,
    .get = rl_get,
    .policy = rl_policy,
    .best_guess = rl_best_guess,
};

const strategy_vt strategy_reinforce = {
    .name = "reinforce",
    .about = "LSTM controller trained with REINFORCE and a moving-average baseline",
    .create = reinforce_create,
    .destroy = rl_destroy,
    .propose = rl_propose,
    .observe = rl_observe,
    .save = rl_save,
    .load = rl_load,
    .set = rl_set,
    .get = rl_get,
    .policy = rl_policy,
    .best_guess = rl_best_guess,
};
