/* experiment.h - what a search is: dataset and split, search space, child
 * recipe, strategy and its settings, budget, seed.  The Lua layer fills it
 * from an experiment file; the engine runs it.
 *
 * Settings that change during a search: schedules over the search (the
 * strategy's temperature, over the trial budget), and Lua functions of the
 * trial index, which the Lua layer evaluates through per_trial before each
 * trial.  The child's learning rate and drop-path are schedules over that
 * child's own training steps. */
#ifndef CELLAR_SEARCH_EXPERIMENT_H
#define CELLAR_SEARCH_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/util.h"
#include "nn/sched.h"
#include "space/space.h"

typedef struct child_recipe {
    int N, F;            /* cells per stage, first-stage filters */
    int epochs, batch;
    cl_sched lr;         /* over the child's training steps */
    cl_sched drop_path;  /* probability over the child's training steps */
    double momentum, weight_decay;
    int augment;         /* 1: pad-4 crop and flip; 0: none; -1: as the dataset suggests */
} child_recipe;

/* N 1, F 8, 1 epoch, batch 32, lr cosine(0.05, 0), no drop-path, momentum
 * 0.9, weight decay 3e-4, augment -1 */
void recipe_defaults(child_recipe *r);
int recipe_validate(const child_recipe *r, cl_err *err);

typedef struct strat_params {
    /* ppo and reinforce (see controller.h) */
    int hidden;              /* 100 */
    int batch;               /* architectures per update: 20 */
    int ppo_epochs;          /* 4 */
    double lr;               /* 0.00035 */
    double entropy_weight;   /* 1e-5 */
    double baseline_decay;   /* 0.95 */
    double clip;             /* 0.2 */
    double tanh_c;           /* 0: none */
    cl_sched temperature;    /* over the trial budget; constant 0: none */
    /* evolution (regularized evolution) */
    int population;          /* 20 */
    int sample;              /* tournament size: 5 */
} strat_params;

void strat_params_defaults(strat_params *p);

typedef struct experiment {
    char name[64];
    char dataset[512];       /* fashion-mnist[:DIR] or cifar10:DIR */
    int train_images;        /* 0: all the training images not held out */
    int val_images;          /* held out from the training images; reward = accuracy on them */
    uint64_t seed;
    int budget;              /* trials to finish (done or failed) */
    double time_budget;      /* seconds; 0: none */
    int reuse_duplicates;    /* a genotype already trained with the same recipe reuses its reward */
    int parallel;            /* trials trained at once; 0: as many as fit (1 on the CPU).
                              * How a search runs, not what it is: not in the settings
                              * a resumed search must match */
    cl_space space;
    child_recipe child;
    char strategy[32];       /* ppo, reinforce, random, evolution */
    strat_params strat;
    /* Before each trial (1-based index), with the settings about to be used:
     * may change them (settings given as functions of the trial index).
     * NULL: none. */
    int (*per_trial)(void *ud, int64_t trial, child_recipe *r, strat_params *sp, cl_err *err);
    void *per_trial_ud;
    char source_path[512];   /* the experiment file, for the journal */
    const char *source;      /* its text (not owned) */
} experiment;

/* dataset fashion-mnist, 5000 training and 1000 validation images, seed
 * 1, budget 20, NASNet space, recipe and strategy defaults, strategy ppo */
void experiment_defaults(experiment *x);
int experiment_validate(const experiment *x, cl_err *err);

/* The settings as JSON (everything that defines the search), for the
 * journal and `cellar show`. */
int experiment_settings_json(const experiment *x, cl_buf *out);

/* The recipe as one line of text naming everything that changes a child's
 * result (recipe, dataset and split), and that text's hash (16 hex digits):
 * trials are only ranked against trials with the same recipe hash. */
int recipe_text(const child_recipe *r, const experiment *x, char *out, size_t cap);
void recipe_hash(const char *text, char out[17]);
/* The epochs a recipe text names (" epochs=E "); 0 when it names none. */
int recipe_epochs(const char *text);
/* What differs from recipe text `was` in `now`, as "epochs=1 (was 3),
 * lr=cosine(0.1, 0) (was cosine(0.05, 0))" (fields `was` lacks: without
 * "(was ...)"); returns how many fields differ.  A text that does not fit
 * is cut. */
int recipe_diff(const char *was, const char *now, char *out, size_t cap);

#endif
