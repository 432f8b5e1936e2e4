/* cmd_train.c - `cellar train`: train one genotype on a dataset, evaluate
 * it on the test images, end with a JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child/child.h"
#include "child/train.h"
#include "core/json.h"
#include "cli/cli.h"
#include "data/dataset.h"
#include "space/genotype.h"
#include "store/store.h"

static const char usage[] =
    "usage: cellar train [[--genotype] G] [options]\n"
    "       cellar train DB [--trial ID|best] [options]\n"
    "       cellar train DB --resume T [--backend B] [--threads t]\n"
    "\n"
    "Train a child network built from a genotype, then report its accuracy on\n"
    "the dataset's test images.  Progress goes to stderr (a bar on a terminal,\n"
    "plain lines otherwise); the last line on stdout is JSON with test_acc,\n"
    "params, flops, seconds and the settings.  Trained from a journal, the\n"
    "training is recorded in it as it goes (settings, each epoch, the result,\n"
    "or why it failed or was interrupted): 'cellar show DB' lists it, and a\n"
    "checkpoint after each epoch lets one stopped or killed go on (--resume).\n"
    "Ctrl-C stops it (exit 130).\n"
    "\n"
    "  --genotype G        a built-in name (nasnet-a, enas) or a genotype line\n"
    "                      (see cellar-genotype(5)); default nasnet-a.\n"
    "                      'cellar train G', where no file G is, says the same\n"
    "  DB [--trial ID]     the cell a search found: trial ID of the journal DB,\n"
    "                      by default (or 'best') its best trial, rank 1 of\n"
    "                      'cellar show DB'.  Only the genotype is taken: the\n"
    "                      network and training are set by the options below\n"
    "                      (larger N and F, more epochs, as a search's proxy\n"
    "                      is meant to be scaled up), the dataset too\n"
    "  DB --resume T       go on with training T of the journal (interrupted,\n"
    "                      killed, or failed) from its checkpoint after its last\n"
    "                      finished epoch, with the settings it was recorded\n"
    "                      with; it ends as it would have, never stopped.  Only\n"
    "                      --backend, --threads and --dataset (the same dataset,\n"
    "                      moved) may be given with it\n"
    "  --dataset SPEC      fashion-mnist[:DIR] or cifar10:DIR; default fashion-mnist\n"
    "                      (Debian's dataset-fashion-mnist)\n"
    "  --N n               normal cells per stage (default 1)\n"
    "  --F f               filters of the first stage (default 8)\n"
    "  --epochs e          passes over the training images (default 2)\n"
    "  --batch b           images per SGD step (default 32)\n"
    "  --lr x              initial learning rate, cosine-decayed to 0 (default 0.05)\n"
    "  --momentum m        SGD momentum (default 0.9)\n"
    "  --weight-decay w    L2 weight decay (default 3e-4)\n"
    "  --drop-path p       ScheduledDropPath: final drop probability (default 0)\n"
    "  --augment           pad-4 random crop and flip (default for cifar10)\n"
    "  --no-augment        no augmentation\n"
    "  --train-limit k     train on k images (default: all not held out)\n"
    "  --val k             hold k training images out and report accuracy on them\n"
    "  --test-limit k      evaluate on the first k test images (default: all)\n"
    "  --seed s            seed of the split, initialisation and batches (default 1)\n"
    "  --backend B         cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t         CPU threads (default: all cores)\n";

typedef struct ctx {
    progress prog;
    double t0;
    const char *phase;
    int can_stop;   /* the evaluation may stop at Ctrl-C: a checkpoint of the
                     * trained network is journaled, for --resume */
    int said;       /* that it will not stop, said */
} ctx;

/* The training's settings as JSON, journaled with it: what --resume
 * trains on with.  The numbers as given (lr, momentum, weight decay,
 * drop-path: to 15 digits, so they read back as they were typed). */
static void settings_json(cl_buf *b, const char *dataset, const char *spec, int n_train,
                          int n_val, int n_test, int N, int F, const train_cfg *cfg,
                          double momentum, double wd, const char *backend)
{
    buf_printf(b, "{\"dataset\":");
    json_string(b, dataset);
    buf_printf(b, ",\"dataset_spec\":");
    json_string(b, spec);
    buf_printf(b,
               ",\"train_images\":%d,\"val_images\":%d,\"test_images\":%d,\"N\":%d,\"F\":%d,"
               "\"epochs\":%d,\"batch\":%d,\"lr\":%.15g,\"momentum\":%.15g,"
               "\"weight_decay\":%.15g,\"drop_path\":%.15g,\"augment\":%s,\"seed\":%llu,"
               "\"backend\":",
               n_train, n_val, n_test, N, F, cfg->epochs, cfg->batch, cfg->lr.from, momentum, wd,
               cfg->drop_path.to, cfg->augment ? "true" : "false",
               (unsigned long long)cfg->seed);
    json_string(b, backend);
    buf_printf(b, "}");
}

/* The dataset as given, its directory made absolute (where it exists), so
 * that --resume finds it from anywhere. */
static void dataset_spec_abs(const char *arg, char *out, size_t cap)
{
    const char *colon = strchr(arg, ':');
    char *dir = colon ? realpath(colon + 1, NULL) : NULL;
    if (dir)
        snprintf(out, cap, "%.*s:%s", (int)(colon - arg), arg, dir);
    else
        snprintf(out, cap, "%s", arg);
    free(dir);
}

/* A training of the journal to go on with (--resume): its record, strings
 * copied. */
typedef struct resume_info {
    int64_t id;
    int found, live;
    store_training t;
    char *genotype, *settings, *reason;
} resume_info;

static int take_resume(void *ud, const store_training *t)
{
    resume_info *ri = ud;
    if (t->id != ri->id)
        return 0;
    ri->t = *t;
    ri->genotype = strdup(t->genotype ? t->genotype : "");
    ri->settings = strdup(t->settings ? t->settings : "{}");
    ri->reason = t->reason ? strdup(t->reason) : NULL;
    ri->t.genotype = ri->genotype;
    ri->t.settings = ri->settings;
    ri->t.reason = ri->reason;
    ri->live = store_training_live(t);
    ri->found = 1;
    return 1;
}

static void resume_free(resume_info *ri)
{
    free(ri->genotype);
    free(ri->settings);
    free(ri->reason);
}

/* Read training ri->id of db and say why it cannot go on, if it cannot. */
static int resume_read(const char *db, resume_info *ri, cl_err *err)
{
    cl_store *st = NULL;
    char state[400];
    int rc = store_open(db, &st, err);
    if (rc == CL_OK)
        rc = store_training_each(st, 0, take_resume, ri, err);
    store_close(st);
    if (rc)
        return rc;
    if (!ri->found)
        return ERR_SET(err, CL_ERR_ARG, "%s has no training %lld ('cellar show %s' lists its "
                       "trainings)", db, (long long)ri->id, db);
    if (!ri->genotype || !ri->settings)
        return ERR_SET(err, CL_ERR_NOMEM, "out of memory");
    store_training_state_text(&ri->t, state, sizeof state);
    if (ri->t.state == TRIAL_DONE)
        return ERR_SET(err, CL_ERR_ARG, "training %lld of %s is done (test accuracy %.2f%%): "
                       "there is nothing to resume", (long long)ri->id, db,
                       100.0 * ri->t.test_acc);
    if (ri->live)
        return ERR_SET(err, CL_ERR_ARG, "training %lld of %s is %s", (long long)ri->id, db,
                       state);
    if (ri->t.ckpt_epoch <= 0)
        return ERR_SET(err, CL_ERR_ARG,
                       "training %lld of %s has no checkpoint to go on from (%s; one is taken "
                       "as each epoch ends): train it again with 'cellar train %s --trial %lld'",
                       (long long)ri->id, db, state, db, (long long)ri->t.trial);
    return CL_OK;
}

/* The recorded settings into the options' variables */
static int resume_settings(const resume_info *ri, const char *db, char *spec, size_t cap,
                           double *nums[], const char *const keys[], int n, int *augment,
                           int *no_augment, cl_err *err)
{
    const char *aug = json_get(ri->settings, "augment");
    if (json_text(json_get(ri->settings, "dataset_spec"), spec, cap) &&
        json_text(json_get(ri->settings, "dataset"), spec, cap))
        return ERR_SET(err, CL_ERR_FORMAT, "training %lld of %s: no dataset in its settings",
                       (long long)ri->id, db);
    for (int i = 0; i < n; i++)
        if (json_number(json_get(ri->settings, keys[i]), nums[i]))
            return ERR_SET(err, CL_ERR_FORMAT, "training %lld of %s: no %s in its settings",
                           (long long)ri->id, db, keys[i]);
    if (!aug || (strncmp(aug, "true", 4) && strncmp(aug, "false", 5)))
        return ERR_SET(err, CL_ERR_FORMAT, "training %lld of %s: no augment in its settings",
                       (long long)ri->id, db);
    *augment = !strncmp(aug, "true", 4);
    *no_augment = !*augment;
    return CL_OK;
}

/* Record a training of a journal's genotype as it starts: *out is the
 * journal, or NULL (with a warning) where it cannot be written, which
 * does not stop the training. */
static void record_start(const char *db, store_training *rec, cl_store **out)
{
    cl_err err = {0};
    cl_store *st = NULL;
    if (store_open(db, &st, &err) || store_training_insert(st, rec, &err)) {
        fprintf(stderr, "cellar train: not recorded in %s (%s); training anyway\n", db, err.msg);
        store_close(st);
        st = NULL;
    }
    *out = st;
}

/* Its end, done or failed; a journal that fails now is said, not fatal. */
static void record_end(cl_store *st, store_training *rec)
{
    cl_err err = {0};
    if (st && store_training_update(st, rec, &err))
        fprintf(stderr, "cellar train: recording the result in %s: %s\n", store_path(st), err.msg);
}

/* Ctrl-C while the images are evaluated stops them where the trained
 * network is in the journal (--resume evaluates it); elsewhere they
 * finish, so that the training is not lost, and that is said. */
static int eval_progress(void *ud, int done, int total)
{
    ctx *c = ud;
    if (cli_signal && c->can_stop)
        return 1;
    if (cli_signal && !c->said) {
        progress_clear(&c->prog);
        fprintf(stderr, "cellar train: %s: the evaluation finishes first (%d of %d %s images "
                        "done): the trained network is kept nowhere else\n",
                cli_signal_name(cli_signal), done, total, c->phase);
        c->said = 1;
    }
    progress_show(&c->prog, done == total, "%s: %d/%d images", c->phase, done, total);
    return 0;
}

/* The epoch's loss and accuracy so far, for a progress line: on a device
 * they are read back every 64 steps and at the epoch's end, so they may
 * cover fewer than the in_ep steps taken, or none yet; that is said
 * rather than shown as a loss of 0. */
static void loss_text(const train_status *st, int in_ep, int brief, char *buf, size_t n)
{
    int k;
    if (!st->loss_steps) {
        snprintf(buf, n, "loss not read yet");
        return;
    }
    k = brief ? snprintf(buf, n, "loss %.3f acc %.1f%%", st->loss, 100.0 * st->acc)
              : snprintf(buf, n, "loss %.4f, accuracy %.2f%%", st->loss, 100.0 * st->acc);
    if (st->loss_steps < in_ep && k > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, brief ? " (to step %d)" : " (steps 1-%d of the epoch)",
                 st->loss_steps);
}

/* Images a second and the time left, from the steps known to be done
 * (on a device, those read back: the steps queued after them may not
 * have run yet, so counting them would show the speed of queueing) */
static void speed_text(const train_status *st, int batch, int brief, char *buf, size_t n)
{
    char etas[32];
    double per_step;
    if (!st->read_steps || st->read_seconds <= 0) {
        snprintf(buf, n, "speed not measured yet");
        return;
    }
    per_step = st->read_seconds / (double)st->read_steps;
    format_duration(per_step * (double)(st->steps_total - st->step), etas, sizeof etas);
    snprintf(buf, n, brief ? "%.0f img/s ETA %s" : "%.0f img/s, ETA %s", batch / per_step, etas);
}

/* Load the training's checkpoint into tr and mark it running in this
 * process: *jr the journal, open for the records to come.  Nothing is
 * written to the journal unless the checkpoint loads. */
static int resume_start(const char *db, const resume_info *ri, cl_trainer *tr, cl_store **jr,
                        int *ckpt_epoch, cl_err *err)
{
    cl_store *st = NULL;
    unsigned char *blob = NULL;
    size_t len = 0;
    int found = 0, rc = store_open(db, &st, err);
    if (rc == CL_OK)
        rc = store_training_checkpoint_get(st, ri->id, ckpt_epoch, &blob, &len, &found, err);
    if (rc == CL_OK && !found)
        rc = ERR_SET(err, CL_ERR_ARG, "training %lld of %s: its checkpoint is gone",
                     (long long)ri->id, db);
    if (rc == CL_OK && (rc = trainer_load(tr, blob, len, err)))
        err_prefix(err, "training %lld of %s", (long long)ri->id, db);
    if (rc == CL_OK)
        rc = store_training_resume(st, ri->id, ri->t.pid, (long)getpid(), *ckpt_epoch, err);
    free(blob);
    if (rc) {
        store_close(st);
        return rc;
    }
    *jr = st;
    return CL_OK;
}

static int run_train(int argc, char **argv)
{
    const char *geno_arg = "nasnet-a", *data_arg = "fashion-mnist", *backend_name = "auto";
    int N = 1, F = 8, epochs = 2, batch = 32, train_limit = 0, n_val = 0, test_limit = 0;
    int seed = 1, threads = 0, augment = 0, no_augment = 0, rc, code, trial = 0, resume = 0;
    double lr = 0.05, momentum = 0.9, wd = 3e-4, drop = 0.0;
    cli_opt opts[] = {
        {"genotype", OPT_STR, &geno_arg, 0, 0, 0},
        {"dataset", OPT_STR, &data_arg, 0, 0, 0},
        {"N", OPT_INT, &N, 1, 64, 0},
        {"F", OPT_INT, &F, 2, 4096, 0},
        {"epochs", OPT_INT, &epochs, 1, 100000, 0},
        {"batch", OPT_INT, &batch, 1, 65536, 0},
        {"lr", OPT_FLOAT, &lr, 0, 0, 0},
        {"momentum", OPT_FLOAT, &momentum, 0, 0, 0},
        {"weight-decay", OPT_FLOAT, &wd, 0, 0, 0},
        {"drop-path", OPT_FLOAT, &drop, 0, 0, 0},
        {"augment", OPT_FLAG, &augment, 0, 0, 0},
        {"no-augment", OPT_FLAG, &no_augment, 0, 0, 0},
        {"train-limit", OPT_INT, &train_limit, 0, 1 << 30, 0},
        {"val", OPT_INT, &n_val, 0, 1 << 30, 0},
        {"test-limit", OPT_INT, &test_limit, 0, 1 << 30, 0},
        {"seed", OPT_INT, &seed, 0, 2147483647, 0},
        {"backend", OPT_STR, &backend_name, 0, 0, 0},
        {"threads", OPT_INT, &threads, 0, 1024, 0},
        {"trial", OPT_TRIAL, &trial, 0, 0, 0},
        {"resume", OPT_INT, &resume, 1, 2147483647, 0},
    };
    cl_err err = {0};
    cl_genotype g;
    cl_dataset ds;
    cl_split sp;
    cl_backend *be = NULL;
    cl_net *net = NULL;
    cl_trainer *tr = NULL;
    train_cfg cfg;
    child_spec spec;
    cl_rng rng;
    ctx c;
    float mean[4], std[4], test_acc = 0.f, test_loss = 0.f, val_acc = -1.f, val_loss = 0.f;
    char text[2048], hash[17], dur[32], from[256] = "", dspec[1100];
    const char *db = NULL;
    int64_t trial_id = 0;
    store_training rec;
    cl_store *jr = NULL;
    cl_buf settings = {0};
    double started;
    int n_test, last_epoch = 0;
    long next_line = 0;
    cl_buf js = {0};
    resume_info ri;
    int ckpt_epoch = 0, ckpt_on = 1, resumed_from = 0;

    memset(&ds, 0, sizeof ds);
    memset(&sp, 0, sizeof sp);
    memset(&rec, 0, sizeof rec);
    memset(&ri, 0, sizeof ri);
    if (cli_parse(&cmd_train, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    /* `cellar train nasnet-a`: a positional genotype where no such file is */
    if (db && !opts[0].seen && !opts[18].seen && !opts[19].seen &&
        cli_positional_genotype(db, &g)) {
        geno_arg = db;
        db = NULL;
    }
    if (db && opts[0].seen) {
        fprintf(stderr, "cellar train: give --genotype G or a journal DB [--trial ID], not both\n");
        return 2;
    }
    if (!db && opts[18].seen) {
        fprintf(stderr, "cellar train: --trial needs a journal (cellar train DB --trial ID)\n");
        return 2;
    }
    if (resume) {
        if (!db) {
            fprintf(stderr, "cellar train: --resume needs a journal (cellar train DB --resume T)\n");
            return 2;
        }
        /* the settings are the recorded ones: only where it runs may change */
        for (int i = 0; i < (int)CL_ARRAY_LEN(opts); i++)
            if (opts[i].seen && i != 1 && i != 16 && i != 17 && i != 19) {
                fprintf(stderr, "cellar train: --resume goes on with the settings the training "
                                "was recorded with: --%s cannot be given with it (only "
                                "--backend, --threads and --dataset)\n", opts[i].name);
                return 2;
            }
    }
    if (db && access(db, F_OK) != 0) {
        fprintf(stderr, "cellar train: %s: no such journal, nor a genotype (the built-in "
                        "names: 'cellar show list'; or a genotype line)\n", db);
        return 1;
    }
    if (augment && no_augment) {
        fprintf(stderr, "cellar train: --augment and --no-augment contradict each other\n");
        return 2;
    }
    if (!(lr > 0) || momentum < 0 || momentum >= 1 || wd < 0 || drop < 0 || drop >= 1) {
        fprintf(stderr, "cellar train: need --lr > 0, 0 <= --momentum < 1, --weight-decay >= 0, "
                        "0 <= --drop-path < 1\n");
        return 2;
    }
    if (db && resume) {
        static const char *const keys[] = {"train_images", "val_images", "test_images", "N", "F",
                                           "epochs", "batch", "seed", "lr", "momentum",
                                           "weight_decay", "drop_path"};
        double v[12], *nums[12];
        int *ints[8] = {&train_limit, &n_val, &test_limit, &N, &F, &epochs, &batch, &seed};
        for (int i = 0; i < 12; i++)
            nums[i] = &v[i];
        ri.id = resume;
        if ((rc = resume_read(db, &ri, &err)) ||
            (rc = resume_settings(&ri, db, dspec, sizeof dspec, nums, keys, 12, &augment,
                                  &no_augment, &err)) ||
            (rc = geno_from_arg(ri.genotype, &g, &err))) {
            resume_free(&ri);
            return cli_fail("train", &err);
        }
        for (int i = 0; i < 8; i++) {
            if (!(v[i] >= 0 && v[i] <= 2147483647.0 && v[i] == (double)(int)v[i])) {
                ERR_SET(&err, CL_ERR_FORMAT, "training %d of %s: its %s (%g) is not a count",
                        resume, db, keys[i], v[i]);
                resume_free(&ri);
                return cli_fail("train", &err);
            }
            *ints[i] = (int)v[i];
        }
        lr = v[8];
        momentum = v[9];
        wd = v[10];
        drop = v[11];
        if (!opts[1].seen)
            data_arg = dspec;
        trial_id = ri.t.trial;
        snprintf(from, sizeof from, "trial %lld of %s", (long long)trial_id, db);
    } else if (db) {
        store_trial t;
        int rank, ranked;
        if ((rc = journal_genotype(db, trial, &g, &t, &rank, &ranked, &err)))
            return cli_fail("train", &err);
        trial_id = t.id;
        if (rank)
            snprintf(from, sizeof from, "trial %lld of %s (rank %d of %d, reward %.4f)",
                     (long long)t.id, db, rank, ranked, t.reward);
        else
            snprintf(from, sizeof from, "trial %lld of %s (%s, not ranked)", (long long)t.id, db,
                     trial_state_name(t.state));
        store_trial_clear(&t);
    } else if ((rc = geno_from_arg(geno_arg, &g, &err))) {
        return cli_fail("train", &err);
    }
    progress_init(&c.prog, stderr);
    cli_catch_signals();
    started = cl_now();
    if ((rc = dataset_load(data_arg, &ds, &err)) ||
        (rc = dataset_split(&ds, n_val, train_limit, (uint64_t)seed, &sp, &err)))
        goto fail;
    if (ds.c > 4) {
        rc = ERR_SET(&err, CL_ERR_UNSUPPORTED, "%d image channels: at most 4", ds.c);
        goto fail;
    }
    if (resume) {
        char was[64];
        store_training_setting_text(&ri.t, "dataset", was, sizeof was);
        if (strcmp(was, ds.name)) {
            rc = ERR_SET(&err, CL_ERR_ARG, "training %d was on %s; --dataset %s is %s", resume,
                         was, data_arg, ds.name);
            goto fail;
        }
    }
    dataset_channel_stats(&ds, sp.train_idx, sp.n_train, mean, std);
    n_test = test_limit && test_limit < ds.n_test ? test_limit : ds.n_test;

    train_cfg_defaults(&cfg);
    cfg.epochs = epochs;
    cfg.batch = batch;
    cfg.lr.kind = SCHED_COSINE;
    cfg.lr.from = lr;
    cfg.lr.to = 0.0;
    cfg.momentum = (float)momentum;
    cfg.weight_decay = (float)wd;
    cfg.drop_path.kind = SCHED_LINEAR;
    cfg.drop_path.from = 0.0;
    cfg.drop_path.to = drop;
    cfg.augment = no_augment ? 0 : augment ? 1 : !strcmp(ds.name, "cifar10");
    cfg.seed = (uint64_t)seed;

    spec.N = N;
    spec.F = F;
    spec.in_c = ds.c;
    spec.in_h = ds.h;
    spec.in_w = ds.w;
    spec.classes = ds.classes;
    rng_seed(&rng, (uint64_t)seed);
    if ((rc = backend_create(backend_name, threads, &be, &err)) ||
        (rc = child_build(&g, &spec, be, &net, &err)) || (rc = net_plan(net, batch, &err)) ||
        (rc = net_init_params(net, &rng, &err)) ||
        (rc = trainer_new(net, &ds, sp.train_idx, sp.n_train, mean, std, &cfg, &tr, &err)))
        goto fail;

    geno_format(&g, text, sizeof text);
    geno_hash_hex(geno_hash(&g), hash);
    fprintf(stderr, "training %s (N=%d F=%d, %ld parameters) on %d %s images (%dx%dx%d), "
                    "%d epochs of %d steps, batch %d, %s backend\n",
            from[0] ? from : geno_arg, N, F, net_param_count(net), sp.n_train, ds.name, ds.h, ds.w, ds.c,
            epochs, trainer_status(tr)->steps_per_epoch, batch, be->name);
    if (resume) {
        if ((rc = resume_start(db, &ri, tr, &jr, &ckpt_epoch, &err)))
            goto fail;
        rec = ri.t;
        rec.pid = (long)getpid();
        rec.reason = NULL;
        last_epoch = resumed_from = ckpt_epoch;
        started = cl_now() - trainer_status(tr)->seconds;
        store_training_setting_text(&ri.t, "backend", text, sizeof text);
        fprintf(stderr, "resuming training %d of trial %lld in %s from its checkpoint after "
                        "epoch %d of %d%s%s%s\n", resume, (long long)trial_id, db, ckpt_epoch,
                epochs, strcmp(text, be->name) ? " (begun on the " : "",
                strcmp(text, be->name) ? text : "",
                strcmp(text, be->name) ? " backend)" : "");
        geno_format(&g, text, sizeof text);
    } else if (db) {
        char abs[1100];
        dataset_spec_abs(data_arg, abs, sizeof abs);
        settings_json(&settings, ds.name, abs, sp.n_train, sp.n_val, n_test, N, F, &cfg, momentum,
                      wd, be->name);
        rec.trial = trial_id;
        rec.genotype = text;
        memcpy(rec.hash, hash, sizeof rec.hash);
        rec.settings = settings.s;
        rec.state = TRIAL_RUNNING;
        rec.test_acc = rec.val_acc = rec.seconds = NAN;
        rec.params = net_param_count(net);
        rec.flops = net_flops(net);
        rec.pid = (long)getpid();
        record_start(db, &rec, &jr);
        if (jr)
            fprintf(stderr, "recorded in %s as training %lld of trial %lld\n", db,
                    (long long)rec.id, (long long)trial_id);
    }

    c.t0 = cl_now();
    while (!trainer_done(tr)) {
        const train_status *st;
        if ((rc = trainer_run(tr, 1, &err)))
            goto fail;
        st = trainer_status(tr);
        if (cli_signal) {
            progress_clear(&c.prog);
            rc = ERR_SET(&err, CL_ERR_IO, "interrupted (%s) at step %ld of %ld, epoch %d of %d",
                         cli_signal_name(cli_signal), st->step, st->steps_total,
                         st->epoch + (st->epoch < epochs), epochs);
            goto fail;
        }
        if (st->epoch > last_epoch) {
            store_metric m = {rec.id, st->epoch, st->last_epoch_loss, st->last_epoch_acc, NAN,
                              st->lr, st->seconds};
            progress_clear(&c.prog);
            format_duration(st->seconds, dur, sizeof dur);
            fprintf(stderr, "epoch %d/%d: loss %.4f, train accuracy %.2f%%, %s elapsed\n",
                    st->epoch, epochs, st->last_epoch_loss, 100.0 * st->last_epoch_acc, dur);
            last_epoch = st->epoch;
            /* the checkpoint before the epoch's row: a row never lacks one */
            if (jr && ckpt_on) {
                unsigned char *blob = NULL;
                size_t len = 0;
                if (trainer_save(tr, &blob, &len, &err) ||
                    store_training_checkpoint_save(jr, rec.id, st->epoch, blob, len, &err)) {
                    fprintf(stderr, "cellar train: no checkpoint after epoch %d (%s); no more "
                                    "will be taken\n", st->epoch, err.msg);
                    ckpt_on = 0;
                } else {
                    ckpt_epoch = st->epoch;
                }
                free(blob);
            }
            if (jr && store_training_epoch_insert(jr, &m, &err)) {
                fprintf(stderr, "cellar train: recording epoch %d in %s: %s; no more records\n",
                        st->epoch, db, err.msg);
                store_close(jr);
                jr = NULL;
            }
        } else if (c.prog.tty) {
            int spe = st->steps_per_epoch, in_ep = (int)(st->step - (long)st->epoch * spe);
            int bar = 24, fill = spe ? in_ep * bar / spe : 0;
            char bars[32], lossb[80], speed[64];
            for (int i = 0; i < bar; i++)
                bars[i] = i < fill ? '=' : i == fill ? '>' : ' ';
            bars[bar] = '\0';
            loss_text(st, in_ep, 1, lossb, sizeof lossb);
            speed_text(st, batch, 1, speed, sizeof speed);
            progress_show(&c.prog, 0, "epoch %d/%d [%s] %d/%d %s %s", st->epoch + 1, epochs,
                          bars, in_ep, spe, lossb, speed);
        } else if (st->step >= next_line) {
            char lossb[80], speed[64];
            loss_text(st, (int)(st->step - (long)st->epoch * st->steps_per_epoch), 0, lossb,
                      sizeof lossb);
            speed_text(st, batch, 0, speed, sizeof speed);
            fprintf(stderr, "step %ld/%ld: %s, %s\n", st->step, st->steps_total, lossb, speed);
            next_line = st->step + (st->steps_total + 9) / 10;
        }
    }
    progress_clear(&c.prog);
    if (trainer_note(tr)[0])
        fprintf(stderr, "note: training steps ran op by op: %s\n", trainer_note(tr));
    c.can_stop = jr && ckpt_epoch == epochs;
    c.said = 0;
    if (n_val) {
        c.phase = "validation";
        if ((rc = child_evaluate(net, ds.train_x, ds.train_y, ds.c, ds.h, ds.w, sp.val_idx,
                                 sp.n_val, mean, std, &val_acc, &val_loss, eval_progress, &c,
                                 &err)))
            goto eval_fail;
        progress_clear(&c.prog);
    }
    c.phase = "test";
    if ((rc = child_evaluate(net, ds.test_x, ds.test_y, ds.c, ds.h, ds.w, NULL, n_test, mean, std,
                             &test_acc, &test_loss, eval_progress, &c, &err)))
        goto eval_fail;
    progress_clear(&c.prog);
    format_duration(cl_now() - started, dur, sizeof dur);
    if (n_val)
        fprintf(stderr, "validation accuracy %.2f%% (%d images)\n", 100.0 * val_acc, sp.n_val);
    fprintf(stderr, "test accuracy %.2f%% (%d images), loss %.4f; %s in all\n", 100.0 * test_acc,
            n_test, test_loss, dur);

    buf_printf(&js, "{\"test_acc\":%.4f,\"test_loss\":%.4f,", test_acc, test_loss);
    if (n_val)
        buf_printf(&js, "\"val_acc\":%.4f,", val_acc);
    buf_printf(&js, "\"params\":%ld,\"flops\":%.0f,\"seconds\":%.2f,\"train_seconds\":%.2f,"
                    "\"dataset\":",
               net_param_count(net), net_flops(net), cl_now() - started,
               trainer_status(tr)->seconds);
    json_string(&js, ds.name);
    buf_printf(&js, ",\"train_images\":%d,\"test_images\":%d,\"N\":%d,\"F\":%d,\"epochs\":%d,"
                    "\"batch\":%d,\"lr\":%g,\"seed\":%d,\"backend\":\"%s\",\"hash\":\"%s\","
                    "\"genotype\":",
               sp.n_train, n_test, N, F, epochs, batch, lr, seed, be->name, hash);
    json_string(&js, text);
    if (db) {
        buf_printf(&js, ",\"journal\":");
        json_string(&js, db);
        buf_printf(&js, ",\"trial\":%lld", (long long)trial_id);
        if (jr)
            buf_printf(&js, ",\"training\":%lld", (long long)rec.id);
        if (resume)
            buf_printf(&js, ",\"resumed_from_epoch\":%d", resumed_from);
    }
    buf_printf(&js, "}");
    printf("%s\n", js.s);
    buf_free(&js);
    rec.state = TRIAL_DONE;
    rec.test_acc = test_acc;
    rec.val_acc = n_val ? val_acc : NAN;
    rec.seconds = cl_now() - started;
    record_end(jr, &rec);
    rc = 0;
    if (cli_signal) {   /* asked while the images were evaluated: the result stands */
        fprintf(stderr, "cellar train: interrupted (%s) as the accuracy was measured; the result "
                "above is whole\n", cli_signal_name(cli_signal));
        rc = 130;
    }
    goto out;
eval_fail:
    if (cli_signal)
        err_prefix(&err, "interrupted (%s) as the %s images were evaluated",
                   cli_signal_name(cli_signal), c.phase);
fail:
    progress_clear(&c.prog);
    cli_fail("train", &err);
    rc = cli_signal ? 130 : 1;
    rec.state = TRIAL_FAILED;
    rec.reason = err.msg;
    rec.seconds = cl_now() - started;
    record_end(jr, &rec);
    if (jr && ckpt_epoch > 0)
        fprintf(stderr, "cellar train: 'cellar train %s --resume %lld' goes on from the "
                        "checkpoint after epoch %d\n", db, (long long)rec.id, ckpt_epoch);
out:
    resume_free(&ri);
    store_close(jr);
    buf_free(&settings);
    trainer_free(tr);
    net_free(net);
    backend_destroy(be);
    split_free(&sp);
    dataset_free(&ds);
    return rc;
}

const cli_cmd cmd_train = {"train", "train one genotype and report its test accuracy", usage,
                           run_train};
