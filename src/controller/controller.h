/* controller.h - the NASNet controller: a one-layer LSTM that makes a
 * sequence of discrete decisions, one softmax per decision, each sampled
 * choice fed back (through an embedding of that decision's choices) as the
 * next step's input.  It knows nothing of genotypes: the search layer maps
 * a decision sequence to cells (for the NASNet space: per cell, per block,
 * input 1, input 2, op 1, op 2, combiner).
 *
 * All arithmetic is in double: the controller is small (about 100 units,
 * 20-50 steps) next to a child network, and double makes its finite
 * difference checks exact enough to mean something.
 *
 * Sampling: logits z = W_t h_t + b_t; z /= temperature (if > 0); then
 * z = tanh_c * tanh(z) (if tanh_c > 0); p = softmax(z).  Log-probabilities,
 * entropies and gradients are of this same p.
 *
 * Updates (each one Adam step per gradient, lr of the config):
 *   REINFORCE  loss = -mean_i (R_i - b) log p(a_i) - w_ent * mean_i H_i
 *   PPO        per pass over the batch: loss = -mean_i min(r_i A_i,
 *              clip(r_i, 1-eps, 1+eps) A_i) - w_ent * mean_i H_i with
 *              r_i = exp(log p(a_i) - log p_old(a_i)), A_i = R_i - b
 * where b is the moving-average baseline taken before the batch's rewards
 * enter it (b <- decay * b + (1 - decay) * R for each reward, in order;
 * the first reward sets b); for the first batch, before any average
 * exists, b is the batch's mean reward. */
#ifndef CELLAR_CONTROLLER_CONTROLLER_H
#define CELLAR_CONTROLLER_CONTROLLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"

#define CTRL_MAX_DECISIONS 256
#define CTRL_MAX_CHOICES 64

typedef struct ctrl_cfg {
    int hidden;              /* LSTM units, also the embedding size (default 100) */
    double temperature;      /* <= 0: none (default 0) */
    double tanh_c;           /* <= 0: no clipping (default 0) */
    double lr;               /* Adam learning rate (default 0.00035) */
    double entropy_weight;   /* (default 1e-5) */
    double baseline_decay;   /* (default 0.95) */
    int ppo_epochs;          /* passes over a batch (default 4) */
    double ppo_clip;         /* epsilon (default 0.2) */
    double init_range;       /* parameters uniform in +-init_range (default 0.1) */
} ctrl_cfg;

void ctrl_cfg_defaults(ctrl_cfg *cfg);

typedef struct cl_controller cl_controller;

/* n_choices[t] >= 1 (<= CTRL_MAX_CHOICES) options at decision t; seed
 * initialises the parameters. */
int ctrl_new(const int *n_choices, int n_decisions, const ctrl_cfg *cfg, uint64_t seed,
             cl_controller **out, cl_err *err);
void ctrl_free(cl_controller *c);

int ctrl_decisions(const cl_controller *c);
const int *ctrl_choices(const cl_controller *c);
/* the live settings: lr, temperature, entropy weight ... may change between
 * updates (mid-run tweaks); the layout fields (hidden) may not */
ctrl_cfg *ctrl_config(cl_controller *c);

/* Sample one sequence: actions[n_decisions]; *logp and *entropy (sum over
 * decisions) may be NULL. */
void ctrl_sample(cl_controller *c, cl_rng *rng, int *actions, double *logp, double *entropy);

/* The most likely choice at each step (feeding back the chosen ones). */
void ctrl_argmax(cl_controller *c, int *actions);

/* Evaluate a given sequence: its log-probability, its entropy (sum over
 * decisions), and optionally per decision the entropy dec_entropy[t] and
 * the probabilities probs[off_t + k] (off_t = sum of n_choices before t). */
void ctrl_evaluate(cl_controller *c, const int *actions, double *logp, double *entropy,
                   double *dec_entropy, double *probs);

/* Parameters and their gradient as flat arrays (for tests and checkpoints). */
double *ctrl_params(cl_controller *c, size_t *count);
double *ctrl_grad(cl_controller *c, size_t *count);
void ctrl_zero_grad(cl_controller *c);
/* grad += d(coef_logp * log p(actions) + coef_entropy * H(actions)) / dparams,
 * by backpropagation through the steps of the given sequence */
void ctrl_accumulate(cl_controller *c, const int *actions, double coef_logp, double coef_entropy);
/* one Adam step with the current gradient (lr from the config) */
void ctrl_adam_step(cl_controller *c);

typedef struct ctrl_update_stats {
    double loss;        /* the objective before the update (mean over the batch) */
    double entropy;     /* mean entropy of the batch's sequences before the update */
    double baseline;    /* after the batch's rewards */
    double mean_reward;
    double clip_frac;   /* PPO: share of (sequence, pass) terms that were clipped */
} ctrl_update_stats;

double ctrl_baseline(const cl_controller *c);
int ctrl_has_baseline(const cl_controller *c);

/* actions: n sequences of n_decisions each (row-major); old_logp: their
 * log-probabilities when sampled (PPO only). */
int ctrl_update_reinforce(cl_controller *c, const int *actions, const double *rewards, int n,
                          ctrl_update_stats *st, cl_err *err);
int ctrl_update_ppo(cl_controller *c, const int *actions, const double *old_logp,
                    const double *rewards, int n, ctrl_update_stats *st, cl_err *err);

/* The whole learnable state (parameters, Adam moments and step, baseline)
 * as a self-describing byte string, and back.  ctrl_load refuses a blob
 * of another layout with a message. */
int ctrl_save(const cl_controller *c, unsigned char **blob, size_t *len, cl_err *err);
int ctrl_load(cl_controller *c, const unsigned char *blob, size_t len, cl_err *err);

#endif
