/* strat_evolution.c - regularized evolution (Real et al., "Regularized
 * Evolution for Image Classifier Architecture Search", 2019): a population
 * of the most recent architectures; until it is full, random ones; then
 * each proposal samples `sample` members, takes the best and mutates one
 * of its decisions to a different choice; every finished child joins the
 * population and the oldest member leaves (age, not fitness, decides who
 * dies).  A failed child joins with reward 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/strategy.h"

typedef struct member {
    int actions[SPACE_MAX_DECISIONS];
    double reward;
} member;

typedef struct evo {
    cl_space space;
    int n_dec, n_choices[SPACE_MAX_DECISIONS];
    int population, sample;
    member *pop;        /* ring of the population, oldest at head */
    int head, count;
    cl_rng rng;
} evo;

static int evo_create(const cl_space *space, const strat_params *p, uint64_t seed, void **state,
                      cl_err *err)
{
    evo *e;
    if (p->population < 2 || p->population > 100000)
        return ERR_SET(err, CL_ERR_ARG, "evolution: population must be 2 to 100000 (got %d)",
                       p->population);
    if (p->sample < 1 || p->sample > p->population)
        return ERR_SET(err, CL_ERR_ARG, "evolution: sample must be 1 to the population (%d), got %d",
                       p->population, p->sample);
    e = calloc(1, sizeof *e);
    if (!e || !(e->pop = calloc((size_t)p->population, sizeof *e->pop))) {
        free(e);
        return ERR_SET(err, CL_ERR_NOMEM, "evolution: out of memory");
    }
    e->space = *space;
    e->n_dec = space_decisions(space, e->n_choices);
    e->population = p->population;
    e->sample = p->sample;
    rng_seed(&e->rng, seed);
    *state = e;
    return CL_OK;
}

static void evo_destroy(void *state)
{
    evo *e = state;
    if (e)
        free(e->pop);
    free(e);
}

static member *at(evo *e, int i) { return &e->pop[(e->head + i) % e->population]; }

static int evo_propose(void *state, int *actions, double *logp, cl_err *err)
{
    evo *e = state;
    int movable = 0;
    *logp = NAN;
    if (e->count < e->population) {
        space_sample_uniform(&e->space, &e->rng, actions);
        return CL_OK;
    }
    {
        member *best = NULL;
        for (int i = 0; i < e->sample; i++) {
            member *m = at(e, (int)rng_below(&e->rng, (uint32_t)e->count));
            if (!best || m->reward > best->reward)
                best = m;
        }
        memcpy(actions, best->actions, (size_t)e->n_dec * sizeof *actions);
    }
    for (int t = 0; t < e->n_dec; t++)
        movable += e->n_choices[t] > 1;
    if (movable) {
        /* one decision that has an alternative, set to a different choice */
        int k = (int)rng_below(&e->rng, (uint32_t)movable), t = 0;
        for (;; t++)
            if (e->n_choices[t] > 1 && k-- == 0)
                break;
        {
            int c = (int)rng_below(&e->rng, (uint32_t)e->n_choices[t] - 1);
            actions[t] = c >= actions[t] ? c + 1 : c;
        }
    }
    (void)err;
    return CL_OK;
}

static int evo_observe(void *state, int64_t trial, const int *actions, double logp, double reward,
                       int failed, strat_update *u, int *updated, cl_err *err)
{
    evo *e = state;
    member *m;
    if (e->count == e->population) {   /* the oldest dies */
        e->head = (e->head + 1) % e->population;
        e->count--;
    }
    m = at(e, e->count);
    memcpy(m->actions, actions, (size_t)e->n_dec * sizeof *actions);
    m->reward = failed ? 0.0 : reward;
    e->count++;
    *updated = 0;
    return CL_OK;
}

static int evo_save(void *state, unsigned char **blob, size_t *len, cl_err *err)
{
    evo *e = state;
    blob_w w = {0};
    int32_t hdr[4] = {e->population, e->n_dec, e->count, 0};
    blob_put(&w, "EVO1", 4);
    blob_put(&w, hdr, sizeof hdr);
    blob_put(&w, &e->rng, sizeof e->rng);
    for (int i = 0; i < e->count; i++) {
        member *m = at(e, i);
        int32_t a[SPACE_MAX_DECISIONS];
        for (int t = 0; t < e->n_dec; t++)
            a[t] = m->actions[t];
        blob_put(&w, a, (size_t)e->n_dec * sizeof *a);
        blob_put(&w, &m->reward, sizeof m->reward);
    }
    if (w.failed) {
        free(w.p);
        return ERR_SET(err, CL_ERR_NOMEM, "evolution: out of memory saving its state");
    }
    *blob = w.p;
    *len = w.len;
    return CL_OK;
}

static int evo_load(void *state, const unsigned char *blob, size_t len, cl_err *err)
{
    evo *e = state;
    blob_r r = {blob, len, 0, 0};
    char magic[4];
    int32_t hdr[4];
    blob_get(&r, magic, 4);
    blob_get(&r, hdr, sizeof hdr);
    if (r.failed || memcmp(magic, "EVO1", 4))
        return ERR_SET(err, CL_ERR_FORMAT, "evolution: the checkpoint is not one of this strategy");
    if (hdr[0] != e->population || hdr[1] != e->n_dec || hdr[2] < 0 || hdr[2] > e->population)
        return ERR_SET(err, CL_ERR_FORMAT,
                       "evolution: the checkpoint has population %d and %d decisions, this search "
                       "%d and %d", hdr[0], hdr[1], e->population, e->n_dec);
    blob_get(&r, &e->rng, sizeof e->rng);
    e->head = 0;
    e->count = hdr[2];
    for (int i = 0; i < e->count; i++) {
        int32_t a[SPACE_MAX_DECISIONS];
        blob_get(&r, a, (size_t)e->n_dec * sizeof *a);
        for (int t = 0; t < e->n_dec; t++)
            e->pop[i].actions[t] = a[t];
        blob_get(&r, &e->pop[i].reward, sizeof e->pop[i].reward);
    }
    if (r.failed || r.pos != len)
        return ERR_SET(err, CL_ERR_FORMAT, "evolution: the checkpoint is truncated");
    return CL_OK;
}

static int evo_set(void *state, const char *name, double value, cl_err *err)
{
    return ERR_SET(err, CL_ERR_ARG, "evolution has no setting '%s'", name);
}

static int evo_get(void *state, const char *name, double *value) { return CL_ERR_ARG; }

const strategy_vt strategy_evolution = {
    .name = "evolution",
    .about = "regularized evolution: tournament selection, one mutation, the oldest removed",
    .create = evo_create,
    .destroy = evo_destroy,
    .propose = evo_propose,
    .observe = evo_observe,
    .save = evo_save,
    .load = evo_load,
    .set = evo_set,
    .get = evo_get,
};
