/* cmd_train.c - `cellar train`: train one genotype on a dataset, evaluate
 * it on the test images, end with a JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child/child.h"
#include "child/train.h"
#include "cli/cli.h"
#include "data/dataset.h"
#include "space/genotype.h"
#include "store/store.h"

static const char usage[] =
    "usage: cellar train [[--genotype] G] [options]\n"
    "       cellar train DB [--trial ID|best] [options]\n"
    "\n"
    "Train a child network built from a genotype, then report its accuracy on\n"
    "the dataset's test images.  Progress goes to stderr (a bar on a terminal,\n"
    "plain lines otherwise); the last line on stdout is JSON with test_acc,\n"
    "params, flops, seconds and the settings.  Trained from a journal, the\n"
    "training is recorded in it as it goes (settings, each epoch, the result,\n"
    "or why it failed or was interrupted): 'cellar show DB' lists it.\n"
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
} ctx;

/* The training's settings as JSON, journaled with it. */
static void settings_json(cl_buf *b, const char *dataset, int n_train, int n_val, int n_test,
                          int N, int F, const train_cfg *cfg, const char *backend)
{
    buf_printf(b, "{\"dataset\":");
    json_string(b, dataset);
    buf_printf(b,
               ",\"train_images\":%d,\"val_images\":%d,\"test_images\":%d,\"N\":%d,\"F\":%d,"
               "\"epochs\":%d,\"batch\":%d,\"lr\":%g,\"momentum\":%g,\"weight_decay\":%g,"
               "\"drop_path\":%g,\"augment\":%s,\"seed\":%llu,\"backend\":",
               n_train, n_val, n_test, N, F, cfg->epochs, cfg->batch, cfg->lr.from,
               (double)cfg->momentum, (double)cfg->weight_decay, cfg->drop_path.to,
               cfg->augment ? "true" : "false", (unsigned long long)cfg->seed);
    json_string(b, backend);
    buf_printf(b, "}");
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

static void eval_progress(void *ud, int done, int total)
{
    ctx *c = ud;
    progress_show(&c->prog, done == total, "%s: %d/%d images", c->phase, done, total);
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

static int run_train(int argc, char **argv)
{
    const char *geno_arg = "nasnet-a", *data_arg = "fashion-mnist", *backend_name = "auto";
    int N = 1, F = 8, epochs = 2, batch = 32, train_limit = 0, n_val = 0, test_limit = 0;
    int seed = 1, threads = 0, augment = 0, no_augment = 0, rc, code, trial = 0;
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
    char text[2048], hash[17], dur[32], from[256] = "";
    const char *db = NULL;
    int64_t trial_id = 0;
    store_training rec;
    cl_store *jr = NULL;
    cl_buf settings = {0};
    double started;
    int n_test, last_epoch = 0;
    long next_line = 0;
    cl_buf js = {0};

    memset(&ds, 0, sizeof ds);
    memset(&sp, 0, sizeof sp);
    memset(&rec, 0, sizeof rec);
    if (cli_parse(&cmd_train, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    /* `cellar train nasnet-a`: a positional genotype where no such file is */
    if (db && !opts[0].seen && !opts[18].seen && cli_positional_genotype(db, &g)) {
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
    if (db) {
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
    if (db) {
        settings_json(&settings, ds.name, sp.n_train, sp.n_val, n_test, N, F, &cfg, be->name);
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
    if (n_val) {
        c.phase = "validation";
        if ((rc = child_evaluate(net, ds.train_x, ds.train_y, ds.c, ds.h, ds.w, sp.val_idx,
                                 sp.n_val, mean, std, &val_acc, &val_loss, eval_progress, &c,
                                 &err)))
            goto fail;
        progress_clear(&c.prog);
    }
    c.phase = "test";
    if ((rc = child_evaluate(net, ds.test_x, ds.test_y, ds.c, ds.h, ds.w, NULL, n_test, mean, std,
                             &test_acc, &test_loss, eval_progress, &c, &err)))
        goto fail;
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
fail:
    progress_clear(&c.prog);
    cli_fail("train", &err);
    rc = cli_signal ? 130 : 1;
    rec.state = TRIAL_FAILED;
    rec.reason = err.msg;
    rec.seconds = cl_now() - started;
    record_end(jr, &rec);
out:
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
