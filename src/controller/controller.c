/* controller.c - the controller's model: parameter layout and
 * initialisation, the LSTM forward pass (sampling, argmax, evaluation of a
 * given sequence), backpropagation through time of log-probability and
 * entropy, and the Adam step.  A plain CPU reference in double; the
 * policy-gradient updates are in update.c, checkpoints in ckpt.c.
 *
 * One step t of the LSTM (H units, x_t and h_{t-1} of length H):
 *   a   = Wx x_t + Wh h_{t-1} + b                        [4H]
 *   i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)      [H] each
 *   c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)       [H]
 *   z   = Ws_t h_t + bs_t                                 [n_t]
 *   u   = z / temperature;  v = tanh_c * tanh(u);  p = softmax(v)
 * with h_{-1} = c_{-1} = 0, x_0 the learned start input and x_{t+1} the
 * row of emb_t for the choice taken at t. */
#include "controller/ctrl_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8

void ctrl_cfg_defaults(ctrl_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->hidden = 100;
    cfg->temperature = 0.0;
    cfg->tanh_c = 0.0;
    cfg->lr = 0.00035;
    cfg->entropy_weight = 1e-5;
    cfg->baseline_decay = 0.95;
    cfg->ppo_epochs = 4;
    cfg->ppo_clip = 0.2;
    cfg->init_range = 0.1;
}

/* uniform in [0, 1) with 53 random bits: finer than rng_uniform's 24, so
 * sampling resolves probabilities far below 1e-7 correctly */
static double uniform53(cl_rng *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1p-53;
}

/* Check what ctrl_new needs before anything is allocated. */
static int check_new_args(const int *n_choices, int n_decisions, const ctrl_cfg *cfg,
                          cl_err *err)
{
    if (!n_choices || !cfg)
        return ERR_SET(err, CL_ERR_ARG, "controller: no choice counts or no config");
    if (n_decisions < 1 || n_decisions > CTRL_MAX_DECISIONS)
        return ERR_SET(err, CL_ERR_ARG, "controller: %d decisions (must be 1 to %d)",
                       n_decisions, CTRL_MAX_DECISIONS);
    for (int t = 0; t < n_decisions; t++)
        if (n_choices[t] < 1 || n_choices[t] > CTRL_MAX_CHOICES)
            return ERR_SET(err, CL_ERR_ARG, "controller: decision %d has %d choices (must be 1 to %d)",
                           t, n_choices[t], CTRL_MAX_CHOICES);
    /* 4096 units already means a 4096 x 4096 x 8 matrix pair: beyond that
     * is a typo, not a controller */
    if (cfg->hidden < 1 || cfg->hidden > 4096)
        return ERR_SET(err, CL_ERR_ARG, "controller: hidden %d (must be 1 to 4096)", cfg->hidden);
    if (!isfinite(cfg->init_range) || cfg->init_range < 0)
        return ERR_SET(err, CL_ERR_ARG, "controller: init_range %g (must be finite and >= 0)",
                       cfg->init_range);
    return CL_OK;
}

int ctrl_new(const int *n_choices, int n_decisions, const ctrl_cfg *cfg, uint64_t seed,
             cl_controller **out, cl_err *err)
{
    if (!out)
        return ERR_SET(err, CL_ERR_ARG, "controller: nowhere to put the controller");
    *out = NULL;
    int rc = check_new_args(n_choices, n_decisions, cfg, err);
    if (rc)
        return rc;

    int T = n_decisions, H = cfg->hidden;
    cl_controller *c = calloc(1, sizeof *c);
    if (!c)
        return ERR_SET(err, CL_ERR_NOMEM, "controller: out of memory");
    c->cfg = *cfg;
    c->H = H;
    c->T = T;
    c->nc = malloc((size_t)T * sizeof *c->nc);
    c->choff = malloc((size_t)(T + 1) * sizeof *c->choff);
    c->acts = malloc((size_t)T * sizeof *c->acts);
    c->o_ws = malloc((size_t)T * sizeof *c->o_ws);
    c->o_bs = malloc((size_t)T * sizeof *c->o_bs);
    c->o_emb = malloc((size_t)T * sizeof *c->o_emb);
    if (!c->nc || !c->choff || !c->acts || !c->o_ws || !c->o_bs || !c->o_emb) {
        ctrl_free(c);
        return ERR_SET(err, CL_ERR_NOMEM, "controller: out of memory");
    }

    size_t h = (size_t)H, o = 0;
    c->o_wx = o, o += 4 * h * h;
    c->o_wh = o, o += 4 * h * h;
    c->o_b = o, o += 4 * h;
    c->o_x0 = o, o += h;
    c->choff[0] = 0;
    c->max_nc = 0;
    for (int t = 0; t < T; t++) {
        size_t n = (size_t)n_choices[t];
        c->nc[t] = n_choices[t];
        c->choff[t + 1] = c->choff[t] + n_choices[t];
        if (n_choices[t] > c->max_nc)
            c->max_nc = n_choices[t];
        c->o_ws[t] = o, o += n * h;
        c->o_bs[t] = o, o += n;
        c->o_emb[t] = o;
        if (t < T - 1)
            o += n * h;
    }
    c->np = o;

    /* one block for all doubles: parameters, their gradient, Adam moments,
     * then the forward workspace and backward scratch */
    size_t nch = (size_t)c->choff[T], ts = (size_t)T;
    size_t total = 4 * c->np + ts * h * 8 + 3 * nch + ts + 7 * h + (size_t)c->max_nc;
    double *blk = calloc(total, sizeof *blk);
    if (!blk) {
        ctrl_free(c);
        return ERR_SET(err, CL_ERR_NOMEM, "controller: out of memory (%zu parameters)", c->np);
    }
    double *q = blk;
    c->theta = q, q += c->np;
    c->grad = q, q += c->np;
    c->m = q, q += c->np;
    c->v = q, q += c->np;
    c->xs = q, q += ts * h;
    c->gates = q, q += ts * 4 * h;
    c->cs = q, q += ts * h;
    c->tcs = q, q += ts * h;
    c->hs = q, q += ts * h;
    c->vs = q, q += nch;
    c->ps = q, q += nch;
    c->lps = q, q += nch;
    c->ent = q, q += ts;
    c->dh = q, q += h;
    c->dc = q, q += h;
    c->dgate = q, q += 4 * h;
    c->dz = q, q += (size_t)c->max_nc;

    cl_rng r;
    rng_seed(&r, seed);
    double lim = cfg->init_range;
    for (size_t k = 0; k < c->np; k++)
        c->theta[k] = (2.0 * uniform53(&r) - 1.0) * lim;
    c->cfg.hidden = H;
    *out = c;
    return CL_OK;
}

void ctrl_free(cl_controller *c)
{
    if (!c)
        return;
    free(c->theta);   /* the head of the double block */
    free(c->nc);
    free(c->choff);
    free(c->acts);
    free(c->o_ws);
    free(c->o_bs);
    free(c->o_emb);
    free(c);
}

int ctrl_decisions(const cl_controller *c) { return c->T; }
const int *ctrl_choices(const cl_controller *c) { return c->nc; }
ctrl_cfg *ctrl_config(cl_controller *c) { return &c->cfg; }

double *ctrl_params(cl_controller *c, size_t *count)
{
    if (count)
        *count = c->np;
    return c->theta;
}

double *ctrl_grad(cl_controller *c, size_t *count)
{
    if (count)
        *count = c->np;
    return c->grad;
}

void ctrl_zero_grad(cl_controller *c) { memset(c->grad, 0, c->np * sizeof *c->grad); }

double ctrl_baseline(const cl_controller *c) { return c->baseline; }
int ctrl_has_baseline(const cl_controller *c) { return c->has_baseline; }

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* y[r] += sum_k W[r][k] x[k] for r < rows */
static void matvec_add(const double *W, const double *x, int rows, int cols, double *y)
{
    for (int r = 0; r < rows; r++) {
        const double *w = W + (size_t)r * cols;
        double s = 0;
        for (int k = 0; k < cols; k++)
            s += w[k] * x[k];
        y[r] += s;
    }
}

/* y[k] += sum_r W[r][k] d[r] (the transpose product of backprop) */
static void matvec_t_add(const double *W, const double *d, int rows, int cols, double *y)
{
    for (int r = 0; r < rows; r++) {
        const double *w = W + (size_t)r * cols;
        double dr = d[r];
        if (dr == 0.0)
            continue;
        for (int k = 0; k < cols; k++)
            y[k] += w[k] * dr;
    }
}

/* G[r][k] += d[r] x[k] (the weight gradient of y = W x) */
static void outer_add(double *G, const double *d, const double *x, int rows, int cols)
{
    for (int r = 0; r < rows; r++) {
        double dr = d[r];
        if (dr == 0.0)
            continue;
        double *g = G + (size_t)r * cols;
        for (int k = 0; k < cols; k++)
            g[k] += dr * x[k];
    }
}

/* The softmax of decision t from h: fills v, p, log p of its choices and
 * returns the entropy.  Log-probabilities come from v - logsumexp(v), so
 * they stay finite where a probability underflows to 0. */
static double decision_probs(cl_controller *c, int t, const double *h)
{
    int n = c->nc[t], H = c->H;
    double *v = c->vs + c->choff[t], *p = c->ps + c->choff[t], *lp = c->lps + c->choff[t];
    double temp = c->fwd_temp, tc = c->fwd_tanh;
    memcpy(v, c->theta + c->o_bs[t], (size_t)n * sizeof *v);
    matvec_add(c->theta + c->o_ws[t], h, n, H, v);
    double mx = -INFINITY;
    for (int k = 0; k < n; k++) {
        if (temp > 0)
            v[k] /= temp;
        if (tc > 0)
            v[k] = tc * tanh(v[k]);
        if (v[k] > mx)
            mx = v[k];
    }
    double s = 0;
    for (int k = 0; k < n; k++)
        s += exp(v[k] - mx);
    double lse = mx + log(s), ent = 0;
    for (int k = 0; k < n; k++) {
        lp[k] = v[k] - lse;
        p[k] = exp(lp[k]);
        ent -= p[k] * lp[k];
    }
    return ent;
}

/* Inverse CDF on a 53-bit uniform.  If rounding leaves u above the last
 * partial sum, the last choice with nonzero probability is taken, so a
 * choice of probability 0 is never drawn. */
static int draw(const double *p, int n, cl_rng *rng)
{
    double u = uniform53(rng), cum = 0;
    int last = 0;
    for (int k = 0; k < n; k++) {
        if (p[k] <= 0)
            continue;
        cum += p[k];
        last = k;
        if (u < cum)
            return k;
    }
    return last;
}

static int argmax(const double *p, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (p[k] > p[best])
            best = k;
    return best;
}

double ctrl_priv_forward(cl_controller *c, ctrl_fwd_mode mode, const int *actions, cl_rng *rng,
                         double *entropy)
{
    int H = c->H, T = c->T;
    double logp = 0, ent = 0;
    c->fwd_temp = c->cfg.temperature;
    c->fwd_tanh = c->cfg.tanh_c;
    for (int t = 0; t < T; t++) {
        double *x = c->xs + (size_t)t * H;
        double *a = c->gates + (size_t)t * 4 * H;
        double *cc = c->cs + (size_t)t * H, *tc = c->tcs + (size_t)t * H;
        double *h = c->hs + (size_t)t * H;
        const double *src = t == 0 ? c->theta + c->o_x0
                                   : c->theta + c->o_emb[t - 1] + (size_t)c->acts[t - 1] * H;
        memcpy(x, src, (size_t)H * sizeof *x);

        memcpy(a, c->theta + c->o_b, (size_t)4 * H * sizeof *a);
        matvec_add(c->theta + c->o_wx, x, 4 * H, H, a);
        if (t > 0)
            matvec_add(c->theta + c->o_wh, h - H, 4 * H, H, a);
        const double *cprev = t > 0 ? cc - H : NULL;
        for (int j = 0; j < H; j++) {
            double ig = sigmoid(a[j]), fg = sigmoid(a[H + j]);
            double gg = tanh(a[2 * H + j]), og = sigmoid(a[3 * H + j]);
            a[j] = ig, a[H + j] = fg, a[2 * H + j] = gg, a[3 * H + j] = og;
            cc[j] = (cprev ? fg * cprev[j] : 0.0) + ig * gg;
            tc[j] = tanh(cc[j]);
            h[j] = og * tc[j];
        }

        c->ent[t] = decision_probs(c, t, h);
        ent += c->ent[t];
        const double *p = c->ps + c->choff[t];
        int act;
        switch (mode) {
        case CTRL_FWD_SAMPLE: act = draw(p, c->nc[t], rng); break;
        case CTRL_FWD_ARGMAX: act = argmax(p, c->nc[t]); break;
        default: act = actions[t]; break;
        }
        c->acts[t] = act;
        logp += c->lps[c->choff[t] + act];
    }
    if (entropy)
        *entropy = ent;
    return logp;
}

/* d(coef_logp * log p_a + coef_ent * H)/dv for one decision, then back
 * through the tanh clip and the temperature to z, into c->dz.
 *   d log p_a / dv_k = [k = a] - p_k
 *   dH / dv_k = -p_k (log p_k + H) */
static void decision_grad(cl_controller *c, int t, double coef_logp, double coef_ent)
{
    int n = c->nc[t], a = c->acts[t];
    const double *v = c->vs + c->choff[t], *p = c->ps + c->choff[t];
    const double *lp = c->lps + c->choff[t];
    double Ht = c->ent[t], temp = c->fwd_temp, tcl = c->fwd_tanh;
    for (int k = 0; k < n; k++) {
        double d = coef_logp * ((k == a) - p[k]) - coef_ent * p[k] * (lp[k] + Ht);
        if (tcl > 0) {
            double th = v[k] / tcl;
            d *= tcl * (1.0 - th * th);
        }
        if (temp > 0)
            d /= temp;
        c->dz[k] = d;
    }
}

void ctrl_priv_backward(cl_controller *c, double coef_logp, double coef_entropy)
{
    int H = c->H, T = c->T;
    double *g = c->grad;
    /* dh and dc carry the gradient arriving from step t + 1; they start
     * at zero past the last step */
    memset(c->dh, 0, (size_t)H * sizeof *c->dh);
    memset(c->dc, 0, (size_t)H * sizeof *c->dc);
    for (int t = T - 1; t >= 0; t--) {
        int n = c->nc[t];
        const double *h = c->hs + (size_t)t * H;
        decision_grad(c, t, coef_logp, coef_entropy);
        outer_add(g + c->o_ws[t], c->dz, h, n, H);
        for (int k = 0; k < n; k++)
            g[c->o_bs[t] + k] += c->dz[k];
        matvec_t_add(c->theta + c->o_ws[t], c->dz, n, H, c->dh);

        const double *a = c->gates + (size_t)t * 4 * H;
        const double *tc = c->tcs + (size_t)t * H;
        const double *cprev = t > 0 ? c->cs + (size_t)(t - 1) * H : NULL;
        double *dg = c->dgate;
        for (int j = 0; j < H; j++) {
            double ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
            double dct = c->dc[j] + c->dh[j] * og * (1.0 - tc[j] * tc[j]);
            dg[j] = dct * gg * ig * (1.0 - ig);
            dg[H + j] = cprev ? dct * cprev[j] * fg * (1.0 - fg) : 0.0;
            dg[2 * H + j] = dct * ig * (1.0 - gg * gg);
            dg[3 * H + j] = c->dh[j] * tc[j] * og * (1.0 - og);
            c->dc[j] = dct * fg;   /* what step t - 1's cell receives */
        }
        const double *x = c->xs + (size_t)t * H;
        outer_add(g + c->o_wx, dg, x, 4 * H, H);
        for (int r = 0; r < 4 * H; r++)
            g[c->o_b + r] += dg[r];
        double *dx = t == 0 ? g + c->o_x0 : g + c->o_emb[t - 1] + (size_t)c->acts[t - 1] * H;
        matvec_t_add(c->theta + c->o_wx, dg, 4 * H, H, dx);
        memset(c->dh, 0, (size_t)H * sizeof *c->dh);
        if (t > 0) {
            outer_add(g + c->o_wh, dg, h - H, 4 * H, H);
            matvec_t_add(c->theta + c->o_wh, dg, 4 * H, H, c->dh);
        }
    }
}

void ctrl_sample(cl_controller *c, cl_rng *rng, int *actions, double *logp, double *entropy)
{
    double lp = ctrl_priv_forward(c, CTRL_FWD_SAMPLE, NULL, rng, entropy);
    memcpy(actions, c->acts, (size_t)c->T * sizeof *actions);
    if (logp)
        *logp = lp;
}

void ctrl_argmax(cl_controller *c, int *actions)
{
    ctrl_priv_forward(c, CTRL_FWD_ARGMAX, NULL, NULL, NULL);
    memcpy(actions, c->acts, (size_t)c->T * sizeof *actions);
}

/* actions[t] must lie in [0, n_choices[t]) */
void ctrl_evaluate(cl_controller *c, const int *actions, double *logp, double *entropy,
                   double *dec_entropy, double *probs)
{
    double lp = ctrl_priv_forward(c, CTRL_FWD_GIVEN, actions, NULL, entropy);
    if (logp)
        *logp = lp;
    if (dec_entropy)
        memcpy(dec_entropy, c->ent, (size_t)c->T * sizeof *dec_entropy);
    if (probs)
        memcpy(probs, c->ps, (size_t)c->choff[c->T] * sizeof *probs);
}

/* actions[t] must lie in [0, n_choices[t]) */
void ctrl_accumulate(cl_controller *c, const int *actions, double coef_logp, double coef_entropy)
{
    ctrl_priv_forward(c, CTRL_FWD_GIVEN, actions, NULL, NULL);
    ctrl_priv_backward(c, coef_logp, coef_entropy);
}

/* Adam descends: theta -= lr * mhat / (sqrt(vhat) + eps), so the gradient
 * must be that of a loss (the updates accumulate negative coefficients of
 * the objective they maximise).  The moments and the step count advance
 * even at lr 0, as they would in any Adam whose lr is scheduled to 0. */
void ctrl_adam_step(cl_controller *c)
{
    double lr = c->cfg.lr;
    c->adam_t++;
    double bc1 = 1.0 - pow(ADAM_BETA1, (double)c->adam_t);
    double bc2 = 1.0 - pow(ADAM_BETA2, (double)c->adam_t);
    for (size_t k = 0; k < c->np; k++) {
        double gk = c->grad[k];
        c->m[k] = ADAM_BETA1 * c->m[k] + (1.0 - ADAM_BETA1) * gk;
        c->v[k] = ADAM_BETA2 * c->v[k] + (1.0 - ADAM_BETA2) * gk * gk;
        double mh = c->m[k] / bc1, vh = c->v[k] / bc2;
        c->theta[k] -= lr * mh / (sqrt(vh) + ADAM_EPS);
    }
}
