/* test_controller.c - the LSTM controller: its gradient against central
 * finite differences (log-probability, entropy, with temperature and tanh
 * clipping), sampling against the model's own probabilities, REINFORCE
 * and PPO learning a toy reward, the baseline rule, the PPO clip and its
 * gradient, the entropy bonus, live lr changes, checkpoints and their
 * refusals, and argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "controller/controller.h"
#include "core/err.h"
#include "core/rng.h"

/* a NASNet-like mix of small and 13-way decisions */
static const int CHOICES[10] = {2, 3, 13, 13, 2, 3, 4, 13, 13, 2};
#define ND 10

static cl_controller *make(const int *nc, int nd, int hidden, double init_range, uint64_t seed,
                           ctrl_cfg *cfg_out)
{
    ctrl_cfg cfg;
    cl_err err;
    cl_controller *c = NULL;
    ctrl_cfg_defaults(&cfg);
    cfg.hidden = hidden;
    cfg.init_range = init_range;
    err_clear(&err);
    if (ctrl_new(nc, nd, &cfg, seed, &c, &err) != CL_OK) {
        printf("# ctrl_new: %s\n", err.msg);
        CHECK(0, "ctrl_new of a valid layout");
        exit(1);
    }
    if (cfg_out)
        *cfg_out = cfg;
    return c;
}

static void random_actions(cl_rng *r, const int *nc, int nd, int *a)
{
    for (int t = 0; t < nd; t++)
        a[t] = (int)rng_below(r, (uint32_t)nc[t]);
}

static double objective(cl_controller *c, const int *a, double cl, double ce)
{
    double lp, h;
    ctrl_evaluate(c, a, &lp, &h, NULL, NULL);
    return cl * lp + ce * h;
}

/* ---- gradient against central differences ---- */

static void grad_case(const char *name, double cl, double ce, double temp, double tanh_c)
{
    cl_controller *c = make(CHOICES, ND, 8, 0.5, 11, NULL);
    ctrl_config(c)->temperature = temp;
    ctrl_config(c)->tanh_c = tanh_c;
    cl_rng r;
    rng_seed(&r, 5);
    int a[ND];
    random_actions(&r, CHOICES, ND, a);

    size_t np;
    double *p = ctrl_params(c, &np);
    ctrl_zero_grad(c);
    ctrl_accumulate(c, a, cl, ce);
    double *g = malloc(np * sizeof *g);
    memcpy(g, ctrl_grad(c, NULL), np * sizeof *g);

    const double eps = 1e-6;
    double worst = 0, gmax = 0;
    size_t worst_k = 0, nonzero = 0;
    for (size_t k = 0; k < np; k++) {
        double keep = p[k];
        p[k] = keep + eps;
        double fp = objective(c, a, cl, ce);
        p[k] = keep - eps;
        double fm = objective(c, a, cl, ce);
        p[k] = keep;
        double fd = (fp - fm) / (2 * eps);
        /* relative error, with a floor so that gradients at the level of
         * the differences' own rounding (~1e-9) are compared absolutely */
        double den = fmax(fmax(fabs(fd), fabs(g[k])), 1e-3);
        double e = fabs(fd - g[k]) / den;
        if (e > worst)
            worst = e, worst_k = k;
        if (fabs(g[k]) > gmax)
            gmax = fabs(g[k]);
        if (fabs(fd) > 1e-6)
            nonzero++;
    }
    printf("# %s: %zu parameters, %zu with a gradient, max |g| %.3g, worst rel err %.2e at %zu\n",
           name, np, nonzero, gmax, worst, worst_k);
    CHECK(worst < 1e-5, "%s: gradient matches central differences on all %zu parameters "
                        "(worst %.2e)", name, np, worst);
    CHECK(gmax > 1e-2 && nonzero > np / 2, "%s: the gradient is not trivially small", name);

    /* accumulate adds */
    ctrl_accumulate(c, a, cl, ce);
    double dev = 0;
    const double *g2 = ctrl_grad(c, NULL);
    for (size_t k = 0; k < np; k++)
        dev = fmax(dev, fabs(g2[k] - 2 * g[k]));
    CHECK(dev <= 1e-12 * fmax(gmax, 1), "%s: a second ctrl_accumulate adds to the gradient", name);
    ctrl_zero_grad(c);
    dev = 0;
    for (size_t k = 0; k < np; k++)
        dev = fmax(dev, fabs(g2[k]));
    CHECK(dev == 0, "%s: ctrl_zero_grad clears it", name);
    free(g);
    ctrl_free(c);
}

static void test_gradient(void)
{
    grad_case("log-prob", 1, 0, 0, 0);
    grad_case("entropy", 0, 1, 0, 0);
    grad_case("log-prob, temperature 1.7, tanh 2.5", 1, 0, 1.7, 2.5);
    grad_case("entropy, temperature 1.7, tanh 2.5", 0, 1, 1.7, 2.5);
    grad_case("mixed -0.7 log-prob + 1.3 entropy, temperature 0.6", -0.7, 1.3, 0.6, 0);
}

/* ---- sampling against the model ---- */

static double chi_square(const long *count, const double *p, int n, long total)
{
    double x = 0;
    for (int k = 0; k < n; k++) {
        double e = p[k] * (double)total;
        x += (count[k] - e) * (count[k] - e) / e;
    }
    return x;
}

static void test_sampling(void)
{
    static const int nc[3] = {6, 4, 5};
    cl_controller *c = make(nc, 3, 8, 1.0, 3, NULL);
    double probs[15], dent[3];
    int a[3] = {0, 0, 0};
    ctrl_evaluate(c, a, NULL, NULL, NULL, probs);
    double pmin = 1, pmax = 0;
    for (int k = 0; k < 6; k++)
        pmin = fmin(pmin, probs[k]), pmax = fmax(pmax, probs[k]);
    CHECK(pmax - pmin > 0.05, "the test controller's first decision is far from uniform "
                              "(p from %.3f to %.3f)", pmin, pmax);

    /* first decision: its probabilities do not depend on any action */
    const long N = 200000;
    long cnt0[6] = {0};
    int (*seen)[3] = malloc((size_t)N * sizeof *seen);
    cl_rng r;
    rng_seed(&r, 99);
    for (long i = 0; i < N; i++) {
        ctrl_sample(c, &r, seen[i], NULL, NULL);
        cnt0[seen[i][0]]++;
    }
    double x0 = chi_square(cnt0, probs, 6, N), dmax = 0;
    for (int k = 0; k < 6; k++)
        dmax = fmax(dmax, fabs((double)cnt0[k] / N - probs[k]));
    /* 5 degrees of freedom: P(chi2 > 20.5) = 0.001 */
    CHECK(x0 < 20.5, "first decision: sample frequencies fit the probabilities (chi2 %.2f, 5 df)", x0);
    CHECK(dmax < 0.006, "first decision: frequencies within 0.006 of the probabilities (%.4f)", dmax);

    /* second decision given the first: the fed-back choice conditions it */
    int mode = 0;
    for (int k = 1; k < 6; k++)
        if (cnt0[k] > cnt0[mode])
            mode = k;
    long cnt1[4] = {0}, m = 0;
    for (long i = 0; i < N; i++)
        if (seen[i][0] == mode)
            cnt1[seen[i][1]]++, m++;
    int am[3] = {mode, 0, 0};
    ctrl_evaluate(c, am, NULL, NULL, NULL, probs);
    double x1 = chi_square(cnt1, probs + 6, 4, m);
    CHECK(x1 < 16.3, "second decision given the first: frequencies fit (chi2 %.2f, 3 df)", x1);
    int other = mode == 0 ? 1 : 0;
    double probs_o[15];
    int ao[3] = {other, 0, 0};
    ctrl_evaluate(c, ao, NULL, NULL, NULL, probs_o);
    double dd = 0;
    for (int k = 0; k < 4; k++)
        dd = fmax(dd, fabs(probs[6 + k] - probs_o[6 + k]));
    CHECK(dd > 1e-3, "the second decision's probabilities depend on the first choice (%.4f)", dd);

    /* per-sequence consistency */
    int bad_lp = 0, bad_sum = 0, bad_ent = 0, bad_dent = 0, bad_recomp = 0;
    for (int i = 0; i < 200; i++) {
        int s[3];
        double lp, h, lp2, h2;
        ctrl_sample(c, &r, s, &lp, &h);
        ctrl_evaluate(c, s, &lp2, &h2, dent, probs);
        if (lp != lp2)
            bad_lp++;
        if (fabs(h - h2) > 1e-13)
            bad_ent++;
        double hs = 0, lps = 0;
        for (int t = 0, off = 0; t < 3; off += nc[t], t++) {
            double sum = 0, ht = 0;
            for (int k = 0; k < nc[t]; k++) {
                sum += probs[off + k];
                ht -= probs[off + k] * log(probs[off + k]);
            }
            if (fabs(sum - 1) > 1e-12)
                bad_sum++;
            if (fabs(ht - dent[t]) > 1e-12)
                bad_dent++;
            hs += dent[t];
            lps += log(probs[off + s[t]]);
        }
        if (fabs(hs - h2) > 1e-12)
            bad_ent++;
        if (fabs(lps - lp2) > 1e-12)
            bad_recomp++;
    }
    CHECK(bad_lp == 0, "logp from ctrl_sample equals ctrl_evaluate's for the same actions (%d off)", bad_lp);
    CHECK(bad_sum == 0, "probabilities sum to 1 at every decision (%d off)", bad_sum);
    CHECK(bad_dent == 0, "each decision's entropy is -sum p log p of its probabilities (%d off)", bad_dent);
    CHECK(bad_ent == 0, "the entropy is the sum of per-decision entropies (%d off)", bad_ent);
    CHECK(bad_recomp == 0, "logp is the sum of log p of the chosen actions (%d off)", bad_recomp);

    /* the same rng state gives the same samples */
    cl_rng r1, r2;
    rng_seed(&r1, 7);
    rng_seed(&r2, 7);
    int same = 1;
    for (int i = 0; i < 100; i++) {
        int s1[3], s2[3];
        ctrl_sample(c, &r1, s1, NULL, NULL);
        ctrl_sample(c, &r2, s2, NULL, NULL);
        same &= memcmp(s1, s2, sizeof s1) == 0;
    }
    CHECK(same, "sampling is reproducible from the rng state");
    free(seen);
    ctrl_free(c);

    /* argmax on the big layout: each step's choice is the max of its probs */
    c = make(CHOICES, ND, 8, 1.0, 17, NULL);
    int am2[ND];
    double pr[70];
    ctrl_argmax(c, am2);
    ctrl_evaluate(c, am2, NULL, NULL, NULL, pr);
    int ok = 1;
    for (int t = 0, off = 0; t < ND; off += CHOICES[t], t++)
        for (int k = 0; k < CHOICES[t]; k++)
            if (pr[off + k] > pr[off + am2[t]])
                ok = 0;
    CHECK(ok, "ctrl_argmax picks the most likely choice at each step");
    ctrl_free(c);
}

/* ---- learning a toy reward ---- */

static double toy_reward(const int *a) { return 0.5 * (a[0] == 1) + 0.5 * (a[3] == 7); }

static void learn_case(int ppo)
{
    const char *name = ppo ? "PPO" : "REINFORCE";
    cl_controller *c = make(CHOICES, ND, 16, 0.1, 21, NULL);
    ctrl_config(c)->lr = 0.01;
    cl_rng r;
    rng_seed(&r, 1234);
    enum { B = 20, U = 200 };
    int acts[B * ND];
    double oldlp[B], rew[B];
    double first = 0, last = 0, clip_lo = 1, clip_hi = 0, clip_sum = 0;
    int fails = 0;
    cl_err err;
    err_clear(&err);
    for (int u = 0; u < U; u++) {
        double mr = 0;
        for (int i = 0; i < B; i++) {
            ctrl_sample(c, &r, acts + i * ND, &oldlp[i], NULL);
            rew[i] = toy_reward(acts + i * ND);
            mr += rew[i] / B;
        }
        ctrl_update_stats st;
        int rc = ppo ? ctrl_update_ppo(c, acts, oldlp, rew, B, &st, &err)
                     : ctrl_update_reinforce(c, acts, rew, B, &st, &err);
        if (rc)
            fails++;
        if (fabs(st.mean_reward - mr) > 1e-12)
            fails++;
        clip_lo = fmin(clip_lo, st.clip_frac);
        clip_hi = fmax(clip_hi, st.clip_frac);
        clip_sum += st.clip_frac;
        if (u < 10)
            first += mr / 10;
        if (u >= U - 10)
            last += mr / 10;
    }
    CHECK(fails == 0, "%s: %d updates succeed and report the batch's mean reward", name, U);

    /* decision 0's probabilities do not depend on actions; decision 3's
     * do, so average them over fresh samples */
    double pr[70], p3 = 0;
    int s[ND];
    for (int i = 0; i < 200; i++) {
        ctrl_sample(c, &r, s, NULL, NULL);
        ctrl_evaluate(c, s, NULL, NULL, NULL, pr);
        p3 += pr[2 + 3 + 13 + 7] / 200;
    }
    double p0 = pr[1];
    printf("# %s: mean reward %.3f -> %.3f, p(d0=1) %.3f, p(d3=7) %.3f, clip frac %.3f..%.3f\n",
           name, first, last, p0, p3, clip_lo, clip_hi);
    CHECK(p0 > 0.9, "%s: p(decision 0 = 1) rose above 0.9 (%.3f)", name, p0);
    CHECK(p3 > 0.9, "%s: p(decision 3 = 7) rose above 0.9 (%.3f)", name, p3);
    CHECK(last > 0.85 && last > first + 0.4, "%s: mean reward rose (%.3f -> %.3f)", name, first, last);
    if (ppo) {
        CHECK(clip_lo >= 0 && clip_hi <= 1, "PPO: clip fraction in [0, 1] (%.3f..%.3f)", clip_lo, clip_hi);
        CHECK(clip_sum > 0, "PPO: at lr 0.01 some terms were clipped");
    } else {
        CHECK(clip_hi == 0, "REINFORCE: clip fraction is 0");
    }
    ctrl_free(c);
}

static void test_learning(void)
{
    learn_case(0);
    learn_case(1);
}

/* Give c a baseline of 0 without moving its parameters (one update at
 * learning rate 0 with reward 0), so later advantages equal the rewards. */
static void zero_baseline(cl_controller *c, const int *acts)
{
    double lr = ctrl_config(c)->lr, zero = 0.0;
    ctrl_update_stats st;
    cl_err err;
    ctrl_config(c)->lr = 0;
    ctrl_update_reinforce(c, acts, &zero, 1, &st, &err);
    ctrl_config(c)->lr = lr;
}

/* ---- baseline and the reported loss ---- */

static void test_baseline(void)
{
    cl_controller *c = make(CHOICES, ND, 8, 0.3, 4, NULL);
    ctrl_config(c)->lr = 0;
    cl_rng r;
    rng_seed(&r, 8);
    int acts[3 * ND];
    double lp[3], h[3];
    for (int i = 0; i < 3; i++)
        ctrl_sample(c, &r, acts + i * ND, &lp[i], &h[i]);
    cl_err err;
    err_clear(&err);
    ctrl_update_stats st;
    CHECK(!ctrl_has_baseline(c), "no baseline before the first reward");

    double rw[3] = {0.3, 0.5, 0.8};
    double w = ctrl_config(c)->entropy_weight;
    int rc = ctrl_update_reinforce(c, acts, rw, 3, &st, &err);
    double b = 0.3;
    b = 0.95 * b + 0.05 * 0.5;
    b = 0.95 * b + 0.05 * 0.8;
    CHECK(rc == 0 && ctrl_has_baseline(c), "the first batch sets the baseline");
    CHECK_NEAR(ctrl_baseline(c), b, 1e-15, 0, "baseline: first reward sets it, then the EMA (%.6f)", b);
    CHECK_NEAR(st.baseline, b, 1e-15, 0, "stats report the baseline after the batch");
    /* with no baseline before the batch, the advantages are taken against
     * the batch's mean reward */
    double loss = 0, ent = 0, mean = (0.3 + 0.5 + 0.8) / 3;
    for (int i = 0; i < 3; i++)
        loss -= ((rw[i] - mean) * lp[i] + w * h[i]) / 3, ent += h[i] / 3;
    CHECK_NEAR(st.loss, loss, 1e-12, 1e-12, "REINFORCE loss = -mean(A logp) - w mean H (%.6f)", loss);
    CHECK_NEAR(st.entropy, ent, 1e-12, 1e-12, "stats report the batch's mean entropy");
    CHECK_NEAR(st.mean_reward, (0.3 + 0.5 + 0.8) / 3, 1e-15, 0, "stats report the mean reward");

    /* the next batch's advantage uses b before its own rewards */
    double r1 = 0.9, b0 = b;
    rc = ctrl_update_reinforce(c, acts, &r1, 1, &st, &err);
    CHECK_NEAR(st.loss, -((r1 - b0) * lp[0] + w * h[0]), 1e-12, 1e-12,
               "the advantage is taken against the baseline before the batch");
    b = 0.95 * b + 0.05 * r1;
    CHECK_NEAR(ctrl_baseline(c), b, 1e-15, 0, "baseline after a second batch");

    /* PPO follows the same rule, and the live decay */
    ctrl_config(c)->baseline_decay = 0.8;
    double rw2[2] = {0.1, 0.7};
    b0 = b;
    rc = ctrl_update_ppo(c, acts, lp, rw2, 2, &st, &err);
    b = 0.8 * b + 0.2 * 0.1;
    b = 0.8 * b + 0.2 * 0.7;
    CHECK(rc == 0, "PPO update with lr 0");
    CHECK_NEAR(ctrl_baseline(c), b, 1e-15, 0, "PPO: baseline EMA with the live decay 0.8");
    /* r = 1 (old logp = current logp): the surrogate is the advantage */
    loss = -((0.1 - b0) + (0.7 - b0)) / 2 - w * (h[0] + h[1]) / 2;
    CHECK_NEAR(st.loss, loss, 1e-12, 1e-12, "PPO loss at ratio 1 = -mean A - w mean H");
    CHECK(st.clip_frac == 0, "PPO: nothing clipped at ratio 1");
    ctrl_free(c);
}

/* ---- PPO's gradient and clip ---- */

static int params_equal(cl_controller *a, cl_controller *b)
{
    size_t na, nb;
    double *pa = ctrl_params(a, &na), *pb = ctrl_params(b, &nb);
    return na == nb && memcmp(pa, pb, na * sizeof *pa) == 0;
}

static double params_maxdiff(cl_controller *a, cl_controller *b)
{
    size_t n;
    double *pa = ctrl_params(a, &n), *pb = ctrl_params(b, NULL), d = 0;
    for (size_t k = 0; k < n; k++)
        d = fmax(d, fabs(pa[k] - pb[k]));
    return d;
}

static void test_ppo(void)
{
    enum { B = 6 };
    cl_rng r;
    rng_seed(&r, 31);
    cl_controller *c1 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    cl_controller *c2 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    cl_controller *c0 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    int acts[B * ND];
    double lp[B], rw[B];
    for (int i = 0; i < B; i++) {
        ctrl_sample(c1, &r, acts + i * ND, &lp[i], NULL);
        rw[i] = 0.1 * i - 0.2;
    }
    cl_err err;
    err_clear(&err);
    ctrl_update_stats st;
    ctrl_config(c1)->lr = ctrl_config(c2)->lr = 0.01;
    ctrl_config(c2)->ppo_epochs = 1;
    ctrl_update_reinforce(c1, acts, rw, B, &st, &err);
    ctrl_update_ppo(c2, acts, lp, rw, B, &st, &err);
    double d = params_maxdiff(c1, c2);
    CHECK(d < 1e-14 && !params_equal(c1, c0),
          "one PPO pass at ratio 1 steps exactly as REINFORCE does (max diff %.2e)", d);
    ctrl_free(c1);
    ctrl_free(c2);

    /* ratio e > 1 + eps with A > 0: every term clipped, no gradient */
    c1 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    ctrl_config(c1)->entropy_weight = 0;
    ctrl_config(c1)->lr = 0.01;
    double old[B], pos[B], neg[B];
    for (int i = 0; i < B; i++)
        old[i] = lp[i] - 1, pos[i] = 0.5, neg[i] = -0.5;
    zero_baseline(c1, acts);
    int rc = ctrl_update_ppo(c1, acts, old, pos, B, &st, &err);
    CHECK(rc == 0 && st.clip_frac == 1, "PPO: ratio e with A > 0 is clipped (clip frac %.3f)",
          st.clip_frac);
    CHECK(params_equal(c1, c0), "PPO: clipped terms give no gradient (parameters unchanged)");
    CHECK_NEAR(st.loss, -1.2 * 0.5, 1e-12, 0, "PPO: the clipped surrogate is (1 + eps) A");
    ctrl_free(c1);

    /* ratio e with A < 0: the unclipped term is the minimum, it moves */
    c1 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    ctrl_config(c1)->entropy_weight = 0;
    ctrl_config(c1)->lr = 0.01;
    zero_baseline(c1, acts);
    rc = ctrl_update_ppo(c1, acts, old, neg, B, &st, &err);
    CHECK(rc == 0 && st.clip_frac == 0, "PPO: ratio e with A < 0 is not clipped (clip frac %.3f)",
          st.clip_frac);
    CHECK(!params_equal(c1, c0), "PPO: unclipped terms move the parameters");
    CHECK_NEAR(st.loss, exp(1) * 0.5, 1e-12, 1e-12, "PPO: the unclipped surrogate is r A");
    ctrl_free(c1);

    /* a stale old_logp whose ratio overflows is refused, not stepped on */
    c1 = make(CHOICES, ND, 8, 0.3, 9, NULL);
    for (int i = 0; i < B; i++)
        old[i] = lp[i] - 1000;
    zero_baseline(c1, acts);
    rc = ctrl_update_ppo(c1, acts, old, neg, B, &st, &err);
    CHECK(rc == CL_ERR_NUMERIC && strstr(err.msg, "overflow"), "PPO: an overflowing ratio is refused (%s)",
          err.msg);
    CHECK(params_equal(c1, c0) && ctrl_baseline(c1) == 0.0, "PPO: ... and nothing changed");
    ctrl_free(c1);
    ctrl_free(c0);
}

/* ---- the entropy bonus ---- */

static double mean_entropy(cl_controller *c, const int *seqs, int n)
{
    double s = 0, h;
    for (int i = 0; i < n; i++) {
        ctrl_evaluate(c, seqs + i * ND, NULL, &h, NULL, NULL);
        s += h / n;
    }
    return s;
}

static void test_entropy_weight(void)
{
    for (int ppo = 0; ppo < 2; ppo++) {
        cl_controller *c = make(CHOICES, ND, 8, 1.0, 13, NULL);
        cl_controller *c0 = make(CHOICES, ND, 8, 1.0, 13, NULL);
        ctrl_config(c)->entropy_weight = 1.0;
        ctrl_config(c)->lr = 0.01;
        cl_rng r;
        rng_seed(&r, 77);
        enum { B = 10, NF = 50 };
        int fixed[NF * ND], acts[B * ND];
        double lp[B], rw[B] = {0};
        for (int i = 0; i < NF; i++)
            ctrl_sample(c, &r, fixed + i * ND, NULL, NULL);
        double h0 = mean_entropy(c, fixed, NF);
        cl_err err;
        err_clear(&err);
        int fails = 0;
        for (int u = 0; u < 20; u++) {
            for (int i = 0; i < B; i++)
                ctrl_sample(c, &r, acts + i * ND, &lp[i], NULL);
            /* rewards 0: no baseline gives b = 0, and then b stays 0 */
            ctrl_update_stats st;
            if ((ppo ? ctrl_update_ppo(c, acts, lp, rw, B, &st, &err)
                     : ctrl_update_reinforce(c, acts, rw, B, &st, &err)) != CL_OK)
                fails++;
        }
        double h1 = mean_entropy(c, fixed, NF);
        CHECK(fails == 0 && h1 > h0 + 0.5, "%s: entropy weight 1 at zero advantage raises the "
                                           "entropy (%.3f -> %.3f)", ppo ? "PPO" : "REINFORCE", h0, h1);

        /* and with no entropy weight, zero advantage leaves the parameters */
        ctrl_config(c0)->entropy_weight = 0;
        ctrl_config(c0)->lr = 0.01;
        for (int i = 0; i < B; i++)
            ctrl_sample(c0, &r, acts + i * ND, &lp[i], NULL);
        cl_controller *c0b = make(CHOICES, ND, 8, 1.0, 13, NULL);
        if (ppo)
            ctrl_update_ppo(c0, acts, lp, rw, B, NULL, &err);
        else
            ctrl_update_reinforce(c0, acts, rw, B, NULL, &err);
        CHECK(params_equal(c0, c0b), "%s: zero advantage and no entropy weight: no change",
              ppo ? "PPO" : "REINFORCE");
        ctrl_free(c0b);
        ctrl_free(c0);
        ctrl_free(c);
    }
}

/* ---- live lr ---- */

static void test_live_lr(void)
{
    cl_controller *c = make(CHOICES, ND, 8, 0.3, 5, NULL);
    cl_controller *ref = make(CHOICES, ND, 8, 0.3, 5, NULL);
    cl_rng r;
    rng_seed(&r, 3);
    enum { B = 5 };
    int acts[B * ND];
    double lp[B], rw[B] = {1, 0, 0.5, 0.2, 0.9};
    for (int i = 0; i < B; i++)
        ctrl_sample(c, &r, acts + i * ND, &lp[i], NULL);
    cl_err err;
    err_clear(&err);
    ctrl_config(c)->lr = 0;
    ctrl_update_reinforce(c, acts, rw, B, NULL, &err);
    ctrl_update_ppo(c, acts, lp, rw, B, NULL, &err);
    CHECK(params_equal(c, ref), "lr 0 set between updates leaves the parameters unchanged");
    ctrl_config(c)->lr = 0.01;
    ctrl_update_reinforce(c, acts, rw, B, NULL, &err);
    double d = params_maxdiff(c, ref);
    /* Adam's first steps move each parameter by about lr */
    CHECK(d > 0.005 && d < 0.02, "lr 0.01 set between updates takes effect (max step %.4f)", d);
    ctrl_free(ref);
    ctrl_free(c);
}

/* ---- checkpoints ---- */

static void test_save_load(void)
{
    cl_controller *a = make(CHOICES, ND, 8, 0.3, 41, NULL);
    ctrl_config(a)->lr = 0.01;
    cl_rng r;
    rng_seed(&r, 6);
    enum { B = 8 };
    int acts[B * ND];
    double lp[B], rw[B];
    cl_err err;
    err_clear(&err);
    for (int u = 0; u < 3; u++) {
        for (int i = 0; i < B; i++) {
            ctrl_sample(a, &r, acts + i * ND, &lp[i], NULL);
            rw[i] = toy_reward(acts + i * ND);
        }
        ctrl_update_ppo(a, acts, lp, rw, B, NULL, &err);
    }
    unsigned char *blob = NULL, *blob2 = NULL;
    size_t len = 0, len2 = 0;
    int rc = ctrl_save(a, &blob, &len, &err);
    CHECK(rc == 0 && blob && len > 0, "ctrl_save (%zu bytes)", len);

    cl_controller *b = make(CHOICES, ND, 8, 0.3, 42, NULL);
    ctrl_config(b)->lr = 0.01;
    CHECK(!params_equal(a, b), "a controller of another seed differs before loading");
    rc = ctrl_load(b, blob, len, &err);
    CHECK(rc == 0, "ctrl_load of its own layout (%s)", rc ? err.msg : "ok");
    CHECK(params_equal(a, b), "loaded parameters are identical");
    CHECK(ctrl_has_baseline(b) && ctrl_baseline(b) == ctrl_baseline(a), "the baseline comes back");
    ctrl_save(b, &blob2, &len2, &err);
    CHECK(len2 == len && memcmp(blob, blob2, len) == 0, "saving the loaded controller gives the same bytes");
    free(blob2);

    cl_rng ra, rb;
    rng_seed(&ra, 123);
    rng_seed(&rb, 123);
    int same = 1;
    for (int i = 0; i < 50; i++) {
        int sa[ND], sb[ND];
        double la, lb;
        ctrl_sample(a, &ra, sa, &la, NULL);
        ctrl_sample(b, &rb, sb, &lb, NULL);
        same &= memcmp(sa, sb, sizeof sa) == 0 && la == lb;
    }
    CHECK(same, "identical samples and log-probs after loading (same rng state)");
    /* Adam's moments and step count came back too: the next update agrees */
    for (int i = 0; i < B; i++) {
        ctrl_sample(a, &r, acts + i * ND, &lp[i], NULL);
        rw[i] = toy_reward(acts + i * ND);
    }
    ctrl_update_ppo(a, acts, lp, rw, B, NULL, &err);
    ctrl_update_ppo(b, acts, lp, rw, B, NULL, &err);
    CHECK(params_equal(a, b), "the next PPO update is identical on both (Adam state restored)");

    /* refusals, each leaving the controller as it was */
    cl_controller *keep = make(CHOICES, ND, 8, 0.3, 43, NULL);
    cl_controller *ref = make(CHOICES, ND, 8, 0.3, 43, NULL);
    unsigned char *bad = malloc(len + 1);
    struct {
        const char *what;
        size_t len;
        size_t pos;       /* byte to change, or (size_t)-1 */
        unsigned char val;
        const char *want;
    } cases[] = {
        {"truncated by one byte", len - 1, (size_t)-1, 0, "truncated"},
        {"truncated to 5 bytes", 5, (size_t)-1, 0, "truncated"},
        {"truncated inside the header", 20, (size_t)-1, 0, "truncated"},
        {"one byte too many", len + 1, (size_t)-1, 0, "trailing"},
        {"wrong magic", len, 0, 'X', "magic"},
        {"another format version", len, 8, 9, "version 9"},
        {"another choice count", len, 16 + 4 * 3, 12, "decision 3 has 12 choices"},
        {"another hidden size", len, 16 + 4 * ND, 16, "16 hidden units, this controller has 8"},
        {"a NaN parameter", len, 16 + 4 * ND + 4 + 8 + 7, 0x7f, "parameter 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(bad, blob, len);
        bad[len] = 0;
        if (cases[i].pos != (size_t)-1) {
            bad[cases[i].pos] = cases[i].val;
            if (cases[i].val == 0x7f)   /* make parameter 0 a NaN: 0x7ff8... */
                bad[cases[i].pos - 1] = 0xf8;
        }
        err_clear(&err);
        rc = ctrl_load(keep, bad, cases[i].len, &err);
        CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, cases[i].want) != NULL,
              "refuses a blob with %s: \"%s\"", cases[i].what, err.msg);
    }
    CHECK(params_equal(keep, ref) && !ctrl_has_baseline(keep), "refused blobs changed nothing");

    static const int twenty[20] = {2, 3, 13, 13, 2, 3, 4, 13, 13, 2, 2, 3, 13, 13, 2, 3, 4, 13, 13, 2};
    cl_controller *big = make(twenty, 20, 8, 0.3, 1, NULL);
    unsigned char *bigblob;
    size_t biglen;
    ctrl_save(big, &bigblob, &biglen, &err);
    err_clear(&err);
    rc = ctrl_load(keep, bigblob, biglen, &err);
    CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, "20 decisions, this controller has 10"),
          "refuses another layout: \"%s\"", err.msg);
    err_clear(&err);
    rc = ctrl_load(big, blob, len, &err);
    CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, "10 decisions, this controller has 20"),
          "and the other way round: \"%s\"", err.msg);
    free(bigblob);
    ctrl_free(big);
    free(bad);
    free(blob);
    ctrl_free(ref);
    ctrl_free(keep);
    ctrl_free(b);
    ctrl_free(a);
}

/* ---- argument errors ---- */

static void test_errors(void)
{
    ctrl_cfg cfg;
    ctrl_cfg_defaults(&cfg);
    CHECK(cfg.hidden == 100 && cfg.lr == 0.00035 && cfg.entropy_weight == 1e-5 &&
              cfg.baseline_decay == 0.95 && cfg.ppo_epochs == 4 && cfg.ppo_clip == 0.2 &&
              cfg.init_range == 0.1 && cfg.temperature <= 0 && cfg.tanh_c <= 0,
          "defaults are the paper's");
    cl_controller *c = (cl_controller *)&cfg;   /* must be overwritten with NULL */
    cl_err err;
    err_clear(&err);
    int zero[2] = {3, 0}, many[2] = {3, CTRL_MAX_CHOICES + 1};
    int rc = ctrl_new(zero, 2, &cfg, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && c == NULL && strstr(err.msg, "decision 1 has 0 choices"),
          "ctrl_new refuses a decision with no choice: \"%s\"", err.msg);
    rc = ctrl_new(many, 2, &cfg, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "65 choices"), "... and too many: \"%s\"", err.msg);
    rc = ctrl_new(CHOICES, 0, &cfg, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "0 decisions"), "... and no decisions: \"%s\"", err.msg);
    cfg.hidden = 0;
    rc = ctrl_new(CHOICES, ND, &cfg, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "hidden 0"), "... and hidden 0: \"%s\"", err.msg);

    c = make(CHOICES, ND, 8, 0.1, 2, NULL);
    cl_controller *ref = make(CHOICES, ND, 8, 0.1, 2, NULL);
    CHECK(ctrl_decisions(c) == ND && memcmp(ctrl_choices(c), CHOICES, sizeof CHOICES) == 0,
          "ctrl_decisions and ctrl_choices give the layout back");
    int acts[2 * ND] = {0};
    double lp[2] = {-5, -5}, rw[2] = {0.5, NAN};
    ctrl_config(c)->lr = 0.1;
    rc = ctrl_update_reinforce(c, acts, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_NUMERIC && strstr(err.msg, "reward 1 of 2"),
          "REINFORCE refuses a NaN reward: \"%s\"", err.msg);
    rw[1] = INFINITY;
    rc = ctrl_update_ppo(c, acts, lp, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_NUMERIC && strstr(err.msg, "reward 1 of 2"),
          "PPO refuses an infinite reward: \"%s\"", err.msg);
    rw[1] = 0.2;
    lp[0] = NAN;
    rc = ctrl_update_ppo(c, acts, lp, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_NUMERIC && strstr(err.msg, "old log-probability 0"),
          "PPO refuses a NaN old log-probability: \"%s\"", err.msg);
    lp[0] = -5;
    acts[ND + 2] = 13;
    rc = ctrl_update_reinforce(c, acts, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "sequence 1, decision 2: choice 13"),
          "an out-of-range action is refused: \"%s\"", err.msg);
    acts[ND + 2] = 0;
    rc = ctrl_update_reinforce(c, acts, rw, 0, NULL, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "empty batch"), "an empty batch is refused");
    ctrl_config(c)->hidden = 50;
    rc = ctrl_update_reinforce(c, acts, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "hidden"), "changing hidden mid-run is refused: \"%s\"",
          err.msg);
    ctrl_config(c)->hidden = 8;
    ctrl_config(c)->ppo_epochs = 0;
    rc = ctrl_update_ppo(c, acts, lp, rw, 2, NULL, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "ppo_epochs"), "ppo_epochs 0 is refused");
    CHECK(params_equal(c, ref) && !ctrl_has_baseline(c), "refused updates changed nothing");
    ctrl_free(ref);
    ctrl_free(c);
    ctrl_free(NULL);
}

/* With no arguments every test runs; otherwise only those named (valgrind
 * runs all but the statistical ones, whose long loops repeat the code that
 * the others run once, at a hundred times the cost there). */
int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"gradient", test_gradient},         {"sampling", test_sampling},
        {"learning", test_learning},         {"baseline", test_baseline},
        {"ppo", test_ppo},                   {"entropy_weight", test_entropy_weight},
        {"live_lr", test_live_lr},           {"save_load", test_save_load},
        {"errors", test_errors},
    };
    enum { NT = sizeof tests / sizeof tests[0] };
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (int t = 0; t < NT; t++)
            found |= !strcmp(argv[a], tests[t].name);
        if (!found) {
            fprintf(stderr, "test_controller: no test named '%s'; the tests:", argv[a]);
            for (int t = 0; t < NT; t++)
                fprintf(stderr, " %s", tests[t].name);
            fputc('\n', stderr);
            return 2;
        }
    }
    for (int t = 0; t < NT; t++) {
        int run = argc == 1;
        for (int a = 1; a < argc; a++)
            run |= !strcmp(argv[a], tests[t].name);
        if (run)
            tests[t].fn();
    }
    return check_done();
}
