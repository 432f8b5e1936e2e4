/* update.c - the controller's policy-gradient updates: REINFORCE and PPO
 * over a batch of sampled sequences and their rewards, with the
 * moving-average baseline.  Each gradient is of the loss (the negative of
 * the objective) and feeds one Adam step (controller.c). */
#include "controller/ctrl_priv.h"

#include <math.h>
#include <string.h>

/* The live settings an update reads, and the batch: refuse before
 * anything changes, so a failed update leaves the controller as it was. */
static int check_batch(const cl_controller *c, const int *actions, const double *old_logp,
                       const double *rewards, int n, int ppo, cl_err *err)
{
    const ctrl_cfg *k = &c->cfg;
    if (n < 1)
        return ERR_SET(err, CL_ERR_ARG, "controller update: empty batch (%d sequences)", n);
    if (!actions || !rewards || (ppo && !old_logp))
        return ERR_SET(err, CL_ERR_ARG, "controller update: missing %s",
                       !actions ? "actions" : !rewards ? "rewards" : "old log-probabilities");
    if (k->hidden != c->H)
        return ERR_SET(err, CL_ERR_ARG,
                       "controller update: hidden was changed to %d; it is fixed at %d when the "
                       "controller is made", k->hidden, c->H);
    if (!isfinite(k->lr) || k->lr < 0)
        return ERR_SET(err, CL_ERR_ARG, "controller update: lr %g (must be finite and >= 0)", k->lr);
    if (!isfinite(k->entropy_weight))
        return ERR_SET(err, CL_ERR_ARG, "controller update: entropy weight %g is not finite",
                       k->entropy_weight);
    if (!(k->baseline_decay >= 0 && k->baseline_decay <= 1))
        return ERR_SET(err, CL_ERR_ARG, "controller update: baseline decay %g (must be in [0, 1])",
                       k->baseline_decay);
    if (!isfinite(k->temperature) || !isfinite(k->tanh_c))
        return ERR_SET(err, CL_ERR_ARG, "controller update: temperature %g, tanh_c %g (must be finite)",
                       k->temperature, k->tanh_c);
    if (ppo && k->ppo_epochs < 1)
        return ERR_SET(err, CL_ERR_ARG, "controller update: ppo_epochs %d (must be >= 1)", k->ppo_epochs);
    if (ppo && !(k->ppo_clip >= 0 && isfinite(k->ppo_clip)))
        return ERR_SET(err, CL_ERR_ARG, "controller update: ppo_clip %g (must be finite and >= 0)",
                       k->ppo_clip);
    for (int i = 0; i < n; i++) {
        if (!isfinite(rewards[i]))
            return ERR_SET(err, CL_ERR_NUMERIC, "controller update: reward %d of %d is %g",
                           i, n, rewards[i]);
        if (ppo && !isfinite(old_logp[i]))
            return ERR_SET(err, CL_ERR_NUMERIC,
                           "controller update: old log-probability %d of %d is %g", i, n, old_logp[i]);
        for (int t = 0; t < c->T; t++) {
            int a = actions[(size_t)i * c->T + t];
            if (a < 0 || a >= c->nc[t])
                return ERR_SET(err, CL_ERR_ARG,
                               "controller update: sequence %d, decision %d: choice %d (has %d)",
                               i, t, a, c->nc[t]);
        }
    }
    return CL_OK;
}

/* The baseline the advantages of a batch are taken against: the moving
 * average as it stood before the batch, or, for the first batch, when
 * there is no average yet, the batch's own mean reward (a baseline of zero
 * would make every advantage of an accuracy reward positive, and the first
 * update would only reinforce whatever happened to be sampled). */
static double baseline_before(const cl_controller *c, const double *rewards, int n)
{
    double mean = 0.0;
    if (c->has_baseline)
        return c->baseline;
    for (int i = 0; i < n; i++)
        mean += rewards[i];
    return n ? mean / n : 0.0;
}

/* b <- decay * b + (1 - decay) * R for each reward in order; the first
 * reward ever seen sets b. */
static void baseline_feed(cl_controller *c, const double *rewards, int n)
{
    double d = c->cfg.baseline_decay;
    for (int i = 0; i < n; i++) {
        if (!c->has_baseline) {
            c->baseline = rewards[i];
            c->has_baseline = 1;
        } else {
            c->baseline = d * c->baseline + (1.0 - d) * rewards[i];
        }
    }
}

static double mean(const double *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    return s / n;
}

/* One pass: grad = d loss/dtheta with loss = -mean_i (A_i log p_i + w H_i),
 * one Adam step, then the baseline; stats from the parameters before the
 * step. */
int ctrl_update_reinforce(cl_controller *c, const int *actions, const double *rewards, int n,
                          ctrl_update_stats *st, cl_err *err)
{
    int rc = check_batch(c, actions, NULL, rewards, n, 0, err);
    if (rc)
        return rc;
    double b = baseline_before(c, rewards, n), w = c->cfg.entropy_weight;
    double loss = 0, ent_sum = 0;
    ctrl_zero_grad(c);
    for (int i = 0; i < n; i++) {
        double Hi, A = rewards[i] - b;
        double lp = ctrl_priv_forward(c, CTRL_FWD_GIVEN, actions + (size_t)i * c->T, NULL, &Hi);
        loss -= (A * lp + w * Hi) / n;
        ent_sum += Hi;
        if (A != 0 || w != 0)
            ctrl_priv_backward(c, -A / n, -w / n);
    }
    ctrl_adam_step(c);
    baseline_feed(c, rewards, n);
    if (st) {
        memset(st, 0, sizeof *st);
        st->loss = loss;
        st->entropy = ent_sum / n;
        st->baseline = c->baseline;
        st->mean_reward = mean(rewards, n);
        st->clip_frac = 0;
    }
    return CL_OK;
}

/* ppo_epochs passes, each: grad of loss = -mean_i min(r_i A_i,
 * clip(r_i) A_i) - w mean_i H_i, one Adam step.  d/dlog p_i of the
 * minimum is r_i A_i where the unclipped term is the minimum (or the two
 * tie) and 0 where the clipped one is strictly smaller; the latter are the
 * "clipped" terms clip_frac counts.  Stats (loss, entropy) are from the
 * first pass, before any step.  The batch is checked before anything
 * changes; the one failure that can come later (a ratio overflow from an
 * old_logp that does not belong to its actions) is caught in the first
 * pass, before any step, unless the steps themselves push it there. */
int ctrl_update_ppo(cl_controller *c, const int *actions, const double *old_logp,
                    const double *rewards, int n, ctrl_update_stats *st, cl_err *err)
{
    int rc = check_batch(c, actions, old_logp, rewards, n, 1, err);
    if (rc)
        return rc;
    double b = baseline_before(c, rewards, n), w = c->cfg.entropy_weight, eps = c->cfg.ppo_clip;
    int epochs = c->cfg.ppo_epochs;
    double loss = 0, ent_sum = 0;
    long clipped = 0;
    for (int e = 0; e < epochs; e++) {
        ctrl_zero_grad(c);
        for (int i = 0; i < n; i++) {
            double Hi, A = rewards[i] - b;
            double lp = ctrl_priv_forward(c, CTRL_FWD_GIVEN, actions + (size_t)i * c->T, NULL, &Hi);
            double r = exp(lp - old_logp[i]);
            double rclip = r < 1 - eps ? 1 - eps : r > 1 + eps ? 1 + eps : r;
            double unc = r * A, clp = rclip * A, surr, coef;
            if (A == 0) {
                /* both terms are 0 whatever r is (even r = inf) */
                surr = coef = 0;
            } else if (clp < unc) {
                surr = clp;
                coef = 0;
                clipped++;
            } else {
                surr = unc;
                coef = -unc / n;
            }
            /* only the unclipped term can be infinite (r overflowed), and
             * then only when it is the minimum: a stale old_logp */
            if (!isfinite(surr))
                return ERR_SET(err, CL_ERR_NUMERIC,
                               "controller update: PPO ratio of sequence %d overflows (log p %g, "
                               "old log p %g): are the old log-probabilities those of these actions?",
                               i, lp, old_logp[i]);
            if (e == 0) {
                loss -= (surr + w * Hi) / n;
                ent_sum += Hi;
            }
            if (coef != 0 || w != 0)
                ctrl_priv_backward(c, coef, -w / n);
        }
        ctrl_adam_step(c);
    }
    baseline_feed(c, rewards, n);
    if (st) {
        memset(st, 0, sizeof *st);
        st->loss = loss;
        st->entropy = ent_sum / n;
        st->baseline = c->baseline;
        st->mean_reward = mean(rewards, n);
        st->clip_frac = (double)clipped / ((double)n * epochs);
    }
    return CL_OK;
}
