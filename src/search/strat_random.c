/* strat_random.c - random search: every decision uniform, independent of
 * everything seen.  The baseline the paper says reinforcement learning
 * must beat. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search/strategy.h"

typedef struct rnd {
    cl_space space;
    cl_rng rng;
} rnd;

static int rnd_create(const cl_space *space, const strat_params *p, uint64_t seed, void **state,
                      cl_err *err)
{
    rnd *r = calloc(1, sizeof *r);
    (void)p;
    if (!r)
        return ERR_SET(err, CL_ERR_NOMEM, "random search: out of memory");
    r->space = *space;
    rng_seed(&r->rng, seed);
    *state = r;
    return CL_OK;
}

static void rnd_destroy(void *state) { free(state); }

static int rnd_propose(void *state, int *actions, double *logp, cl_err *err)
{
    rnd *r = state;
    (void)err;
    space_sample_uniform(&r->space, &r->rng, actions);
    *logp = NAN;
    return CL_OK;
}

static int rnd_observe(void *state, int64_t trial, const int *actions, double logp, double reward,
                       int failed, strat_update *u, int *updated, cl_err *err)
{
    *updated = 0;
    return CL_OK;
}

static int rnd_save(void *state, unsigned char **blob, size_t *len, cl_err *err)
{
    rnd *r = state;
    blob_w w = {0};
    blob_put(&w, "RND1", 4);
    blob_put(&w, &r->rng, sizeof r->rng);
    if (w.failed) {
        free(w.p);
        return ERR_SET(err, CL_ERR_NOMEM, "random search: out of memory saving its state");
    }
    *blob = w.p;
    *len = w.len;
    return CL_OK;
}

static int rnd_load(void *state, const unsigned char *blob, size_t len, cl_err *err)
{
    rnd *r = state;
    blob_r rd = {blob, len, 0, 0};
    char magic[4];
    blob_get(&rd, magic, 4);
    blob_get(&rd, &r->rng, sizeof r->rng);
    if (rd.failed || memcmp(magic, "RND1", 4) || rd.pos != len)
        return ERR_SET(err, CL_ERR_FORMAT, "random search: the checkpoint is not one of this strategy");
    return CL_OK;
}

static int rnd_set(void *state, const char *name, double value, cl_err *err)
{
    return ERR_SET(err, CL_ERR_ARG, "random search has no setting '%s'", name);
}

static int rnd_get(void *state, const char *name, double *value) { return CL_ERR_ARG; }

const strategy_vt strategy_random = {
    .name = "random",
    .about = "uniform choices at every decision (the baseline)",
    .create = rnd_create,
    .destroy = rnd_destroy,
    .propose = rnd_propose,
    .observe = rnd_observe,
    .save = rnd_save,
    .load = rnd_load,
    .set = rnd_set,
    .get = rnd_get,
};
