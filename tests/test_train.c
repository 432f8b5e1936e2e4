/* test_train.c - training a child network on real data: it learns, it is
 * deterministic for a seed whatever the slice size, a diverging run stops
 * with a message, and the CIFAR-10 path (augmentation) learns too when
 * CELLAR_CIFAR_DIR names the binary version. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "child/child.h"
#include "child/train.h"

static cl_backend *be;

typedef struct run {
    cl_net *net;
    cl_trainer *tr;
    cl_split sp;
    float mean[3], std[3];
} run;

static int start(run *r, const cl_dataset *ds, const char *geno, int F, int n_train,
                 const train_cfg *cfg, cl_err *err)
{
    cl_genotype g;
    child_spec spec = {1, F, ds->c, ds->h, ds->w, ds->classes};
    cl_rng rng;
    int rc;
    memset(r, 0, sizeof *r);
    rng_seed(&rng, cfg->seed);
    if ((rc = geno_from_arg(geno, &g, err)) ||
        (rc = dataset_split(ds, 0, n_train, cfg->seed, &r->sp, err)))
        return rc;
    dataset_channel_stats(ds, r->sp.train_idx, r->sp.n_train, r->mean, r->std);
    if ((rc = child_build(&g, &spec, be, &r->net, err)) ||
        (rc = net_plan(r->net, cfg->batch, err)) || (rc = net_init_params(r->net, &rng, err)))
        return rc;
    return trainer_new(r->net, ds, r->sp.train_idx, r->sp.n_train, r->mean, r->std, cfg, &r->tr,
                       err);
}

static void stop(run *r)
{
    trainer_free(r->tr);
    net_free(r->net);
    split_free(&r->sp);
}

static void test_learns(const cl_dataset *ds)
{
    train_cfg cfg;
    run r;
    cl_err err = {0};
    float acc = 0, loss = 0;
    train_cfg_defaults(&cfg);
    cfg.epochs = 1;
    if (start(&r, ds, "nasnet-a", 4, 3000, &cfg, &err) || trainer_run(r.tr, 1 << 30, &err) ||
        child_evaluate(r.net, ds->test_x, ds->test_y, ds->c, ds->h, ds->w, NULL, 2000, r.mean,
                       r.std, &acc, &loss, NULL, NULL, &err)) {
        CHECK(0, "training runs: %s", err.msg);
        stop(&r);
        return;
    }
    CHECK(trainer_done(r.tr) && trainer_status(r.tr)->step == 3000 / 32,
          "one epoch of 3000 images in batches of 32 is %d steps", 3000 / 32);
    CHECK(acc > 0.65f, "NASNet-A F=4 after one epoch on 3000 Fashion-MNIST images: %.1f%% of 2000 "
                       "test images right (chance is 10%%)", 100.0 * acc);
    CHECK(loss < 1.2f, "and its test loss fell to %.3f (ln 10 = 2.303 at the start)", loss);
    stop(&r);
}

/* the same seed gives bit-identical parameters whatever the slicing */
static void test_deterministic(const cl_dataset *ds)
{
    train_cfg cfg;
    run a, b;
    cl_err err = {0};
    int ok;
    train_cfg_defaults(&cfg);
    cfg.epochs = 2;
    cfg.drop_path.kind = SCHED_LINEAR;
    cfg.drop_path.from = 0.0;
    cfg.drop_path.to = 0.2;
    cfg.seed = 7;
    if (start(&a, ds, "enas", 4, 320, &cfg, &err) || start(&b, ds, "enas", 4, 320, &cfg, &err)) {
        CHECK(0, "training starts: %s", err.msg);
        return;
    }
    trainer_run(a.tr, 1 << 30, &err);
    while (!trainer_done(b.tr))
        trainer_run(b.tr, 3, &err);
    ok = a.net->n_params == b.net->n_params &&
         !memcmp(a.net->params, b.net->params, (size_t)a.net->n_params * sizeof(float)) &&
         !memcmp(a.net->state, b.net->state, (size_t)a.net->n_state * sizeof(float));
    CHECK(ok, "training with drop-path in one slice and in slices of 3 steps ends with identical "
              "weights and batch-norm statistics");
    CHECK(trainer_status(a.tr)->epoch == 2 && trainer_status(b.tr)->epoch == 2,
          "both report 2 epochs done");
    stop(&a);
    stop(&b);
}

static int same_weights(const run *a, const run *b)
{
    size_t np = (size_t)a->net->p_storage * sizeof(float);
    return a->net->p_storage == b->net->p_storage && a->net->n_state == b->net->n_state &&
           !memcmp(a->net->params, b->net->params, np) && !memcmp(a->net->mom, b->net->mom, np) &&
           !memcmp(a->net->state, b->net->state, (size_t)a->net->n_state * sizeof(float));
}

/* a training saved after its first epoch and loaded into a new trainer
 * (weights wiped first) ends exactly as one never stopped */
static void test_resume(const cl_dataset *ds)
{
    train_cfg cfg;
    run a, b, c, d;
    cl_err err = {0};
    unsigned char *blob = NULL;
    size_t len = 0;
    int rc;
    train_cfg_defaults(&cfg);
    cfg.epochs = 2;
    cfg.augment = 1;
    cfg.drop_path.kind = SCHED_LINEAR;
    cfg.drop_path.from = 0.0;
    cfg.drop_path.to = 0.2;
    cfg.seed = 5;
    if (start(&a, ds, "enas", 4, 320, &cfg, &err) || start(&b, ds, "enas", 4, 320, &cfg, &err) ||
        start(&c, ds, "enas", 4, 320, &cfg, &err) ||
        start(&d, ds, "nasnet-a", 4, 320, &cfg, &err)) {
        CHECK(0, "training starts: %s", err.msg);
        return;
    }
    trainer_run(a.tr, 1 << 30, &err);
    trainer_run(b.tr, 4, &err);
    rc = trainer_save(b.tr, &blob, &len, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "between epochs"),
          "no checkpoint inside an epoch: %s", err.msg);
    trainer_run(b.tr, trainer_status(b.tr)->steps_per_epoch - 4, &err);
    CHECK(trainer_at_epoch_end(b.tr) && trainer_status(b.tr)->epoch == 1,
          "after one epoch's steps the trainer is between epochs");
    rc = trainer_save(b.tr, &blob, &len, &err);
    CHECK(rc == CL_OK && len > (size_t)b.net->p_storage * 8, "saved after epoch 1: %zu bytes%s%s",
          len, rc ? ": " : "", rc ? err.msg : "");
    if (rc) {
        stop(&a), stop(&b), stop(&c), stop(&d);
        return;
    }
    rc = trainer_load(d.tr, blob, len, &err);
    CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, "made for another training"),
          "NASNet-A's trainer refuses ENAS's checkpoint: %s", err.msg);
    rc = trainer_load(c.tr, blob, len - 1, &err);
    CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, "truncated"), "a byte short: %s", err.msg);
    blob[len / 2] ^= 0x40;
    rc = trainer_load(c.tr, blob, len, &err);
    CHECK(rc == CL_ERR_FORMAT && strstr(err.msg, "checksum"), "a bit flipped: %s", err.msg);
    blob[len / 2] ^= 0x40;
    rc = trainer_load(b.tr, blob, len, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "no step"),
          "a trainer that has trained refuses: %s", err.msg);
    memset(c.net->params, 0, (size_t)c.net->p_storage * sizeof(float));
    rc = trainer_load(c.tr, blob, len, &err);
    CHECK(rc == CL_OK && trainer_status(c.tr)->epoch == 1 &&
              trainer_status(c.tr)->step == trainer_status(b.tr)->step,
          "the checkpoint loads into a fresh trainer at epoch 1, step %ld%s%s",
          trainer_status(c.tr)->step, rc ? ": " : "", rc ? err.msg : "");
    CHECK(same_weights(&b, &c) &&
              trainer_status(c.tr)->last_epoch_loss == trainer_status(b.tr)->last_epoch_loss,
          "with the saved weights, momentum, batch-norm statistics and last epoch's loss");
    while (!trainer_done(c.tr) && trainer_run(c.tr, 7, &err) == CL_OK)
        ;
    CHECK(trainer_done(c.tr) && trainer_status(c.tr)->step == trainer_status(a.tr)->step &&
              same_weights(&a, &c),
          "the resumed training ends with the weights, momentum and statistics of the one "
          "never stopped (2 epochs, augmentation, drop-path)");
    CHECK(trainer_status(c.tr)->last_epoch_loss == trainer_status(a.tr)->last_epoch_loss,
          "and the same last epoch's loss (%.6f, %.6f)", trainer_status(c.tr)->last_epoch_loss,
          trainer_status(a.tr)->last_epoch_loss);
    free(blob);
    stop(&a), stop(&b), stop(&c), stop(&d);
}

static void test_divergence(const cl_dataset *ds)
{
    train_cfg cfg;
    run r;
    cl_err err = {0};
    int rc;
    train_cfg_defaults(&cfg);
    sched_constant(&cfg.lr, 1e9);
    cfg.momentum = 0.f;
    if (start(&r, ds, "nasnet-a", 4, 640, &cfg, &err)) {
        CHECK(0, "training starts: %s", err.msg);
        return;
    }
    rc = trainer_run(r.tr, 1 << 30, &err);
    CHECK(rc == CL_ERR_NUMERIC && strstr(err.msg, "not a number") && strstr(err.msg, "step"),
          "a learning rate of 1e9 stops training with: %s", err.msg);
    stop(&r);
}

static void test_cifar(void)
{
    const char *dir = getenv("CELLAR_CIFAR_DIR");
    char spec[600];
    cl_dataset ds;
    cl_err err = {0};
    train_cfg cfg;
    run r;
    float acc = 0, loss = 0;
    if (!dir) {
        printf("skip - CIFAR-10 training: CELLAR_CIFAR_DIR is not set\n");
        return;
    }
    if (getenv("CELLAR_TEST_SHORT")) {   /* the sanitizer builds: its loader is test_data's */
        printf("skip - CIFAR-10 training: CELLAR_TEST_SHORT (the release build trains it)\n");
        return;
    }
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    memset(&ds, 0, sizeof ds);
    if (dataset_load(spec, &ds, &err)) {
        CHECK(0, "CIFAR-10 loads: %s", err.msg);
        return;
    }
    train_cfg_defaults(&cfg);
    cfg.epochs = 2;
    cfg.augment = 1;
    if (start(&r, &ds, "nasnet-a", 4, 2000, &cfg, &err) || trainer_run(r.tr, 1 << 30, &err) ||
        child_evaluate(r.net, ds.test_x, ds.test_y, ds.c, ds.h, ds.w, NULL, 1000, r.mean, r.std,
                       &acc, &loss, NULL, NULL, &err))
        CHECK(0, "CIFAR-10 training runs: %s", err.msg);
    else
        CHECK(acc > 0.25f, "NASNet-A F=4, 2 epochs on 2000 augmented CIFAR-10 images: %.1f%% of "
                           "1000 test images right (chance is 10%%)", 100.0 * acc);
    stop(&r);
    dataset_free(&ds);
}

int main(void)
{
    cl_err err = {0};
    cl_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (backend_cpu_create(2, &be, &err)) {
        printf("not ok - CPU backend: %s\n", err.msg);
        return 1;
    }
    if (dataset_load("fashion-mnist", &ds, &err)) {
        backend_destroy(be);
        check_skip(err.msg);
    }
    test_learns(&ds);
    test_deterministic(&ds);
    test_resume(&ds);
    test_divergence(&ds);
    test_cifar();
    dataset_free(&ds);
    backend_destroy(be);
    return check_done();
}
