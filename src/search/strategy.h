/* strategy.h - search strategies behind one interface.
 *
 * A strategy proposes the decisions of the next architecture of a space
 * (see space.h) and learns from finished trials.  Its whole state, random
 * generator included, saves to a blob and loads back, so that a resumed
 * search proposes exactly what an uninterrupted one would have.  Adding a
 * strategy is one file with a strategy_vt and an entry in the registry
 * (strategy.c). */
#ifndef CELLAR_SEARCH_STRATEGY_H
#define CELLAR_SEARCH_STRATEGY_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "search/experiment.h"
#include "space/space.h"

typedef struct strat_update {
    int64_t step;                /* 1-based count of updates */
    double entropy, reward_ema, loss, lr;
    int64_t trials[256];         /* the trials the update learned from */
    int n_trials;
} strat_update;

typedef struct strategy_vt {
    const char *name;
    const char *about;           /* one line */
    int (*create)(const cl_space *space, const strat_params *p, uint64_t seed, void **state,
                  cl_err *err);
    void (*destroy)(void *state);
    /* the next architecture's decisions; *logp is NaN when not meaningful */
    int (*propose)(void *state, int *actions, double *logp, cl_err *err);
    /* A finished trial: reward in [0, 1]; a failed trial comes with failed
     * set and reward 0.  *updated is set (and u filled) when the strategy
     * changed its policy. */
    int (*observe)(void *state, int64_t trial, const int *actions, double logp, double reward,
                   int failed, strat_update *u, int *updated, cl_err *err);
    int (*save)(void *state, unsigned char **blob, size_t *len, cl_err *err);
    int (*load)(void *state, const unsigned char *blob, size_t len, cl_err *err);
    /* live settings ("lr", "entropy_weight", "temperature", "tanh_c"):
     * CL_ERR_ARG when this strategy has no such setting */
    int (*set)(void *state, const char *name, double value, cl_err *err);
    int (*get)(void *state, const char *name, double *value);
    /* For controller strategies: per decision entropy and probabilities
     * along the given decisions (probs: sum of choices), or NULL. */
    void (*policy)(void *state, const int *actions, double *dec_entropy, double *probs);
    /* the most likely architecture, or NULL */
    void (*best_guess)(void *state, int *actions);
} strategy_vt;

extern const strategy_vt strategy_random, strategy_evolution, strategy_ppo, strategy_reinforce;

/* NULL-terminated registry */
extern const strategy_vt *const strategy_registry[];

/* by name; an unknown name is an error listing the known ones */
int strategy_find(const char *name, const strategy_vt **out, cl_err *err);

/* Little helpers for blobs: append bytes, read them back with bounds. */
typedef struct blob_w {
    unsigned char *p;
    size_t len, cap;
    int failed;
} blob_w;
void blob_put(blob_w *w, const void *data, size_t n);

typedef struct blob_r {
    const unsigned char *p;
    size_t len, pos;
    int failed;
} blob_r;
void blob_get(blob_r *r, void *data, size_t n);

#endif
