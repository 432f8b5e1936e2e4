/* train.c - the training loop of a child network, in slices. */
#include "child/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct cl_trainer {
    cl_net *net;
    const cl_dataset *ds;
    const int *idx;
    int n_train;
    const float *mean, *std;
    train_cfg cfg;
    cl_rng rng;
    int *order;          /* this epoch's order of idx */
    float *bx;           /* [batch][c][h][w] */
    int *by;
    int pos;             /* next batch within the epoch */
    double loss_sum;
    long correct, seen;
    train_status st;
};

void train_cfg_defaults(train_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = 2;
    cfg->batch = 32;
    cfg->lr.kind = SCHED_COSINE;
    cfg->lr.from = 0.05;
    cfg->lr.to = 0.0;
    cfg->momentum = 0.9f;
    cfg->weight_decay = 3e-4f;
    sched_constant(&cfg->drop_path, 0.0);
    cfg->augment = 0;
    cfg->seed = 1;
}

int trainer_new(cl_net *net, const cl_dataset *ds, const int *train_idx, int n_train,
                const float *mean, const float *std, const train_cfg *cfg, cl_trainer **out,
                cl_err *err)
{
    cl_trainer *t;
    size_t img = (size_t)ds->c * ds->h * ds->w;
    if (cfg->epochs < 1)
        return ERR_SET(err, CL_ERR_ARG, "epochs must be at least 1 (got %d)", cfg->epochs);
    if (cfg->batch < 1 || cfg->batch > net->max_batch)
        return ERR_SET(err, CL_ERR_ARG, "batch %d: the network was planned for 1 to %d",
                       cfg->batch, net->max_batch);
    if (n_train < cfg->batch)
        return ERR_SET(err, CL_ERR_ARG,
                       "%d training images are fewer than one batch of %d", n_train, cfg->batch);
    {
        int rc;
        if ((rc = sched_validate(&cfg->lr, "learning rate", err)) ||
            (rc = sched_validate(&cfg->drop_path, "drop-path", err)))
            return rc;
        for (int i = 0; i <= 100; i++) {
            double lr = sched_at(&cfg->lr, i / 100.0), dp = sched_at(&cfg->drop_path, i / 100.0);
            if (lr < 0)
                return ERR_SET(err, CL_ERR_ARG, "the learning rate schedule goes negative (%g)",
                               lr);
            if (dp < 0 || dp >= 1)
                return ERR_SET(err, CL_ERR_ARG,
                               "drop-path probabilities must stay in [0, 1) (the schedule reaches %g)",
                               dp);
        }
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of memory");
    t->order = malloc((size_t)n_train * sizeof *t->order);
    t->bx = malloc((size_t)cfg->batch * img * sizeof *t->bx);
    t->by = malloc((size_t)cfg->batch * sizeof *t->by);
    if (!t->order || !t->bx || !t->by) {
        trainer_free(t);
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of memory for a batch of %d", cfg->batch);
    }
    t->net = net;
    t->ds = ds;
    t->idx = train_idx;
    t->n_train = n_train;
    t->mean = mean;
    t->std = std;
    t->cfg = *cfg;
    rng_seed(&t->rng, cfg->seed ^ 0x7472616996e3ULL);
    t->st.steps_per_epoch = n_train / cfg->batch;
    t->st.steps_total = (long)cfg->epochs * t->st.steps_per_epoch;
    *out = t;
    return CL_OK;
}

void trainer_free(cl_trainer *t)
{
    if (!t)
        return;
    free(t->order);
    free(t->bx);
    free(t->by);
    free(t);
}

int trainer_done(const cl_trainer *t) { return t->st.step >= t->st.steps_total; }

const train_status *trainer_status(const cl_trainer *t) { return &t->st; }

static void begin_epoch(cl_trainer *t)
{
    memcpy(t->order, t->idx, (size_t)t->n_train * sizeof *t->order);
    rng_shuffle(&t->rng, t->order, t->n_train);
    t->pos = 0;
    t->loss_sum = 0.0;
    t->correct = t->seen = 0;
}

int trainer_run(cl_trainer *t, int steps, cl_err *err)
{
    const cl_dataset *ds = t->ds;
    cl_augment aug = {4, 1};
    double t0 = cl_now();
    int rc = CL_OK;
    for (int s = 0; s < steps && !trainer_done(t); s++) {
        train_status *st = &t->st;
        double progress = (double)st->step / (double)st->steps_total;
        float lr = (float)sched_at(&t->cfg.lr, progress);
        float loss;
        int correct, b = t->cfg.batch;
        if (t->pos == 0)
            begin_epoch(t);
        dataset_make_batch(ds->train_x, ds->train_y, ds->c, ds->h, ds->w, t->order + t->pos, b,
                           t->mean, t->std, t->cfg.augment ? &aug : NULL, &t->rng, t->bx, t->by);
        net_drop_path(t->net, (float)sched_at(&t->cfg.drop_path, progress), &t->rng);
        if ((rc = net_forward(t->net, t->bx, b, 1, err)) ||
            (rc = net_loss(t->net, t->by, &loss, &correct, 1, err)) ||
            (rc = net_backward(t->net, err))) {
            err_prefix(err, "epoch %d, step %ld", st->epoch + 1, st->step + 1);
            break;
        }
        net_sgd(t->net, lr, t->cfg.momentum, t->cfg.weight_decay);
        st->lr = lr;
        st->step++;
        t->pos += b;
        t->loss_sum += loss;
        t->correct += correct;
        t->seen += b;
        st->loss = (float)(t->loss_sum / (t->seen / b));
        st->acc = (float)t->correct / (float)t->seen;
        if (t->pos + b > t->n_train) {
            st->last_epoch_loss = st->loss;
            st->last_epoch_acc = st->acc;
            st->epoch++;
            t->pos = 0;
        }
    }
    t->st.seconds += cl_now() - t0;
    return rc;
}

int child_evaluate(cl_net *net, const uint8_t *src_x, const uint8_t *src_y, int c, int h, int w,
                   const int *idx, int n, const float *mean, const float *std, float *acc,
                   float *loss, void (*progress)(void *ud, int done, int total), void *ud,
                   cl_err *err)
{
    int bmax = net->max_batch, *ids = NULL, *by = malloc((size_t)bmax * sizeof *by);
    float *bx = malloc((size_t)bmax * c * h * w * sizeof *bx);
    double loss_sum = 0.0;
    long right = 0;
    int rc = CL_OK;
    if (!idx) {
        ids = malloc((size_t)(n > 0 ? n : 1) * sizeof *ids);
        if (ids)
            for (int i = 0; i < n; i++)
                ids[i] = i;
        idx = ids;
    }
    if (!bx || !by || !idx) {
        rc = ERR_SET(err, CL_ERR_NOMEM, "evaluation: out of memory");
        goto done;
    }
    for (int at = 0; at < n; at += bmax) {
        int b = n - at < bmax ? n - at : bmax, correct;
        float l;
        dataset_make_batch(src_x, src_y, c, h, w, idx + at, b, mean, std, NULL, NULL, bx, by);
        if ((rc = net_forward(net, bx, b, 0, err)) ||
            (rc = net_loss(net, by, &l, &correct, 0, err)))
            goto done;
        loss_sum += (double)l * b;
        right += correct;
        if (progress)
            progress(ud, at + b, n);
    }
    *acc = n ? (float)right / (float)n : 0.f;
    *loss = n ? (float)(loss_sum / n) : 0.f;
done:
    free(ids);
    free(bx);
    free(by);
    return rc;
}
