/* ctrl_priv.h - the controller's insides, shared by the files of
 * src/controller only (the model in controller.c, the policy-gradient
 * updates in update.c, checkpoints in ckpt.c).  Nothing outside this
 * directory includes it. */
#ifndef CELLAR_CONTROLLER_CTRL_PRIV_H
#define CELLAR_CONTROLLER_CTRL_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "controller/controller.h"

/* Parameter layout in the flat array theta (all row-major):
 *   wx   [4H][H]   LSTM input weights, gate blocks i, f, g, o
 *   wh   [4H][H]   LSTM recurrent weights, same gate order
 *   b    [4H]      LSTM bias
 *   x0   [H]       the learned input of step 0
 * then for each decision t in order:
 *   ws_t [n_t][H]  softmax weights
 *   bs_t [n_t]     softmax bias
 *   emb_t[n_t][H]  embedding of decision t's choices, the input of step
 *                  t + 1; the last decision has none (nothing reads it) */
struct cl_controller {
    ctrl_cfg cfg;        /* live settings; cfg.hidden is a copy of H, never read */
    int H, T;            /* hidden units, decisions: fixed at creation */
    int *nc;             /* [T] choices per decision */
    int *choff;          /* [T + 1] offset of decision t in per-choice arrays */
    int max_nc;
    size_t *o_ws, *o_bs, *o_emb;   /* [T] offsets into theta (o_emb[T-1] unused) */
    size_t o_wx, o_wh, o_b, o_x0;
    size_t np;                     /* parameter count */

    double *theta, *grad, *m, *v;  /* [np] each */
    uint64_t adam_t;               /* Adam steps taken */
    double baseline;
    int has_baseline;

    /* The last forward pass, kept for backpropagation through time:
     * per step t the input x, the activated gates (i, f, g, o), the cell
     * c, tanh(c) and h; per choice the final (transformed) logits v,
     * probabilities and log-probabilities; per step the entropy and the
     * action taken.  fwd_temp/fwd_tanh are the settings that pass used,
     * so a backward pass agrees with its forward even if the live
     * config changes in between. */
    double *xs, *gates, *cs, *tcs, *hs;   /* [T][H] ([T][4H] for gates) */
    double *vs, *ps, *lps;                /* [choff[T]] */
    double *ent;                          /* [T] */
    int *acts;                            /* [T] */
    double fwd_temp, fwd_tanh;

    /* backward scratch */
    double *dh, *dc, *dgate, *dz;         /* [H], [H], [4H], [max_nc] */
};

typedef enum { CTRL_FWD_GIVEN, CTRL_FWD_SAMPLE, CTRL_FWD_ARGMAX } ctrl_fwd_mode;

/* Run the LSTM over the decisions, keeping every step's state in the
 * workspace.  GIVEN follows actions (each in range), SAMPLE draws from
 * rng, ARGMAX takes the most likely choice; the actions taken are left in
 * c->acts.  Returns log p(actions); *entropy (may be NULL) gets the sum
 * of the per-decision entropies. */
double ctrl_priv_forward(cl_controller *c, ctrl_fwd_mode mode, const int *actions, cl_rng *rng,
                         double *entropy);

/* grad += d(coef_logp * log p + coef_entropy * H)/dtheta for the sequence
 * of the last ctrl_priv_forward (its states must still be in place). */
void ctrl_priv_backward(cl_controller *c, double coef_logp, double coef_entropy);

#endif
