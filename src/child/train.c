/* train.c - the training loop of a child network, in slices. */
#include "child/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Steps run without waiting between them; their losses are read back
 * (and checked) every LOSS_SLOTS steps, at the end of an epoch and of
 * training, and on the CPU at the end of a slice. */
#define LOSS_SLOTS 64

struct cl_trainer {
    cl_net *net;
    cl_backend *be;
    const cl_dataset *ds;
    const int *idx;
    int n_train;
    train_cfg cfg;
    cl_rng rng;
    batch_desc bd;        /* normalisation and augmentation of the batches */
    uint64_t drop_seed;
    int *order;          /* this epoch's order of idx */
    /* in the backend's memory (the host arrays themselves on the CPU) */
    const uint8_t *dx, *dy;   /* the training images and labels */
    uint8_t *own_x, *own_y;   /* ... when uploaded (freed with the trainer) */
    int *dorder;              /* this epoch's order */
    float *dloss;             /* [LOSS_SLOTS] per-step losses, slot = step % LOSS_SLOTS */
    int *dcorrect;            /* [LOSS_SLOTS] per-step right answers */
    int64_t *dstep;           /* the step counter */
    float *dlr, *ddrop;       /* [steps_total] learning rates, drop-path probabilities */
    float *hlr;               /* the learning rates in host memory, for the status */
    step_ref sr;
    float drop_max;           /* the largest drop-path probability of the run */
    void *graph;              /* one step, recorded (a backend with graphs) */
    int graph_off;            /* recording was tried (once), or is not to be */
    float hloss[LOSS_SLOTS];
    int hcorrect[LOSS_SLOTS];
    char note[300];           /* why steps are not recorded, once */
    int queued;               /* steps whose loss is not read yet */
    long ran;                 /* steps this trainer has run (a loaded one starts at 0) */
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

/* The training set, the epoch's order and the loss slots in the
 * backend's memory: on the CPU the dataset's own arrays; on a GPU a copy,
 * made once, so that a step moves no image from the host. */
static int trainer_place(cl_trainer *t, cl_err *err)
{
    cl_backend *be = t->be;
    const cl_dataset *ds = t->ds;
    size_t img = (size_t)ds->c * ds->h * ds->w;
    if (be->host_memory) {
        t->dx = ds->train_x;
        t->dy = ds->train_y;
    } else {
        t->own_x = be->alloc(be, (size_t)ds->n_train * img);
        t->own_y = be->alloc(be, (size_t)ds->n_train);
        if (!t->own_x || !t->own_y)
            return ERR_SET(err, CL_ERR_NOMEM,
                           "trainer: cannot place the %d training images in %s memory (%.1f MiB)",
                           ds->n_train, be->name, (double)ds->n_train * img / (1 << 20));
        be->upload(be, t->own_x, ds->train_x, (size_t)ds->n_train * img);
        be->upload(be, t->own_y, ds->train_y, (size_t)ds->n_train);
        t->dx = t->own_x;
        t->dy = t->own_y;
    }
    t->dorder = be->alloc(be, (size_t)t->n_train * sizeof *t->dorder);
    t->dloss = be->alloc(be, LOSS_SLOTS * sizeof *t->dloss);
    t->dcorrect = be->alloc(be, LOSS_SLOTS * sizeof *t->dcorrect);
    t->dstep = be->alloc(be, sizeof *t->dstep);
    t->dlr = be->alloc(be, (size_t)t->st.steps_total * sizeof *t->dlr);
    t->ddrop = be->alloc(be, (size_t)t->st.steps_total * sizeof *t->ddrop);
    if (!t->dorder || !t->dloss || !t->dcorrect || !t->dstep || !t->dlr || !t->ddrop)
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of %s memory", be->name);
    return CL_OK;
}

/* The learning rate and drop-path probability of every step, worked out
 * once from the schedules, so a recorded step reads its own. */
static int trainer_tables(cl_trainer *t, cl_err *err)
{
    long n = t->st.steps_total;
    float *lr = malloc((size_t)n * sizeof *lr), *dp = malloc((size_t)n * sizeof *dp);
    int64_t zero = 0;
    if (!lr || !dp) {
        free(lr);
        free(dp);
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of memory for %ld steps", n);
    }
    t->drop_max = 0.f;
    for (long k = 0; k < n; k++) {
        double progress = (double)k / (double)n;
        lr[k] = (float)sched_at(&t->cfg.lr, progress);
        dp[k] = (float)sched_at(&t->cfg.drop_path, progress);
        if (dp[k] > t->drop_max)
            t->drop_max = dp[k];
    }
    t->be->upload(t->be, t->dlr, lr, (size_t)n * sizeof *lr);
    t->be->upload(t->be, t->ddrop, dp, (size_t)n * sizeof *dp);
    t->be->upload(t->be, t->dstep, &zero, sizeof zero);
    t->hlr = lr;
    free(dp);
    t->sr.step = t->dstep;
    t->sr.lr = t->dlr;
    t->sr.drop = t->ddrop;
    t->sr.steps_per_epoch = t->st.steps_per_epoch;
    t->sr.slots = LOSS_SLOTS;
    return CL_OK;
}

int trainer_new(cl_net *net, const cl_dataset *ds, const int *train_idx, int n_train,
                const float *mean, const float *std, const train_cfg *cfg, cl_trainer **out,
                cl_err *err)
{
    cl_trainer *t;
    int rc;
    if (cfg->epochs < 1)
        return ERR_SET(err, CL_ERR_ARG, "epochs must be at least 1 (got %d)", cfg->epochs);
    if (cfg->batch < 1 || cfg->batch > net->max_batch)
        return ERR_SET(err, CL_ERR_ARG, "batch %d: the network was planned for 1 to %d",
                       cfg->batch, net->max_batch);
    if (n_train < cfg->batch)
        return ERR_SET(err, CL_ERR_ARG,
                       "%d training images are fewer than one batch of %d", n_train, cfg->batch);
    {
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
    if (ds->c > BATCH_MAX_CHANNELS)
        return ERR_SET(err, CL_ERR_ARG, "images of %d channels: at most %d", ds->c,
                       BATCH_MAX_CHANNELS);
    t = calloc(1, sizeof *t);
    if (!t)
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of memory");
    t->net = net;
    t->be = net->be;
    t->ds = ds;
    t->idx = train_idx;
    t->n_train = n_train;
    t->cfg = *cfg;
    t->st.steps_per_epoch = n_train / cfg->batch;
    t->st.steps_total = (long)cfg->epochs * t->st.steps_per_epoch;
    t->order = malloc((size_t)n_train * sizeof *t->order);
    if (!t->order) {
        trainer_free(t);
        return ERR_SET(err, CL_ERR_NOMEM, "trainer: out of memory for %d image indices", n_train);
    }
    if ((rc = trainer_place(t, err)) || (rc = trainer_tables(t, err))) {
        trainer_free(t);
        return rc;
    }
    t->bd.c = ds->c;
    t->bd.h = ds->h;
    t->bd.w = ds->w;
    t->bd.pad = cfg->augment ? 4 : 0;
    t->bd.flip = cfg->augment ? 1 : 0;
    for (int ch = 0; ch < ds->c; ch++) {
        t->bd.mean[ch] = mean[ch];
        t->bd.std[ch] = std[ch];
    }
    rng_seed(&t->rng, cfg->seed ^ 0x7472616996e3ULL);
    t->bd.seed = mix64(cfg->seed ^ 0x6175676d656e74ULL);   /* "augment" */
    t->drop_seed = mix64(cfg->seed ^ 0x64726f7070617468ULL);  /* "droppath" */
    *out = t;
    return CL_OK;
}

void trainer_free(cl_trainer *t)
{
    if (!t)
        return;
    if (t->be) {
        if (t->graph)
            t->be->graph_free(t->be, t->graph);
        t->be->free(t->be, t->dstep);
        t->be->free(t->be, t->dlr);
        t->be->free(t->be, t->ddrop);
        t->be->free(t->be, t->own_x);
        t->be->free(t->be, t->own_y);
        t->be->free(t->be, t->dorder);
        t->be->free(t->be, t->dloss);
        t->be->free(t->be, t->dcorrect);
    }
    free(t->hlr);
    free(t->order);
    free(t);
}

int trainer_done(const cl_trainer *t) { return t->st.step >= t->st.steps_total; }

const train_status *trainer_status(const cl_trainer *t) { return &t->st; }

static void begin_epoch(cl_trainer *t)
{
    memcpy(t->order, t->idx, (size_t)t->n_train * sizeof *t->order);
    rng_shuffle(&t->rng, t->order, t->n_train);
    t->be->upload(t->be, t->dorder, t->order, (size_t)t->n_train * sizeof *t->order);
    t->pos = 0;
    t->loss_sum = 0.0;
    t->correct = t->seen = 0;
    t->st.loss = t->st.acc = 0.f;
    t->st.loss_steps = 0;
}

/* Wait for the queued steps, read their losses and fold them into the
 * epoch's figures; a non-finite loss stops training, naming its step.
 * t0: when the trainer_run in progress began, for read_seconds. */
static int settle(cl_trainer *t, double t0, cl_err *err)
{
    train_status *st = &t->st;
    int n = t->queued, b = t->cfg.batch, rc;
    t->queued = 0;
    if (n == 0)
        return CL_OK;
    if ((rc = t->be->sync(t->be, err)))
        return rc;
    t->be->download(t->be, t->hloss, t->dloss, sizeof t->hloss);
    t->be->download(t->be, t->hcorrect, t->dcorrect, sizeof t->hcorrect);
    for (int k = 0; k < n; k++) {
        long step = st->step - n + k;
        float loss = t->hloss[step % LOSS_SLOTS];
        if (!isfinite(loss)) {
            ERR_SET(err, CL_ERR_NUMERIC, "the loss is %s: training diverged",
                    isnan(loss) ? "not a number" : "infinite");
            err_prefix(err, "epoch %ld, step %ld", step / st->steps_per_epoch + 1, step + 1);
            return CL_ERR_NUMERIC;
        }
        t->loss_sum += loss;
        t->correct += t->hcorrect[step % LOSS_SLOTS];
        t->seen += b;
    }
    st->read_steps = st->step;
    st->read_seconds = st->seconds + (cl_now() - t0);
    st->loss_steps = (int)(t->seen / b);
    st->loss = (float)(t->loss_sum / (double)st->loss_steps);
    st->acc = (float)t->correct / (float)t->seen;
    return CL_OK;
}

/* One training step, queued: everything that changes from step to step
 * (the batch's place in the order, its crops and flips, the drop-path
 * masks, the learning rate, the loss slot) is read by the backend from
 * the step counter, which the step's last op advances. */
static int queue_step(cl_trainer *t, cl_err *err)
{
    cl_net *net = t->net;
    cl_backend *be = t->be;
    int b = t->cfg.batch, rc;
    be->batch_gather(be, &t->bd, t->dx, t->dy, t->dorder, b, net_input_buf(net),
                     net_label_buf(net), &t->sr);
    net_drop_path_draw(net, t->drop_max, t->drop_seed, 0, &t->sr);
    if ((rc = net_forward_queued(net, b, 1, err)))
        return rc;
    net_loss_queued(net, t->dloss, t->dcorrect, 1, &t->sr);
    if ((rc = net_backward_queued(net, err)))
        return rc;
    net_sgd_queued(net, t->cfg.momentum, t->cfg.weight_decay, &t->sr);
    be->step_next(be, &t->sr);
    return CL_OK;
}

/* After the first step (which settles the lazy choices of the libraries
 * underneath), a backend that records steps records one and then replays
 * it; if it cannot, steps stay op by op and the reason is kept. */
static int run_step(cl_trainer *t, cl_err *err)
{
    cl_backend *be = t->be;
    if (t->graph) {
        be->graph_run(be, t->graph);
        return CL_OK;
    }
    if (!t->graph_off && be->graph_begin && t->ran >= 1) {
        cl_err why = {0};
        int rc;
        t->graph_off = 1;   /* one try */
        if (be->graph_begin(be, &why) == CL_OK) {
            cl_err qerr = {0};
            rc = queue_step(t, &qerr);
            if (be->graph_end(be, &t->graph, &why) == CL_OK && rc == CL_OK) {
                be->graph_run(be, t->graph);
                return CL_OK;
            }
            if (t->graph) {
                be->graph_free(be, t->graph);
                t->graph = NULL;
            }
            /* the recording ended well but the step did not queue: its reason */
            if (!why.msg[0])
                why = qerr;
        }
        snprintf(t->note, sizeof t->note, "%.290s",
                 why.msg[0] ? why.msg : "recording a step failed");
    }
    return queue_step(t, err);
}

int trainer_run(cl_trainer *t, int steps, cl_err *err)
{
    double t0 = cl_now();
    int rc = CL_OK;
    for (int s = 0; s < steps && !trainer_done(t); s++) {
        train_status *st = &t->st;
        int b = t->cfg.batch;
        if (t->pos == 0)
            begin_epoch(t);
        if ((rc = run_step(t, err)))
            break;
        t->queued++;
        t->ran++;
        st->lr = t->hlr[st->step];
        st->step++;
        t->pos += b;
        /* A slice's end waits only where waiting is free (the CPU, whose
         * ops are done when they return): on a device, waiting there would
         * make every step of `cellar train` and of a search's 1- to
         * 4-step slices wait, and keep the children in hand from ever
         * computing at once. */
        if (t->pos + b > t->n_train || t->queued == LOSS_SLOTS ||
            (s + 1 == steps && t->be->host_memory) || trainer_done(t)) {
            if ((rc = settle(t, t0, err)))
                break;
        }
        if (t->pos + b > t->n_train) {
            st->last_epoch_loss = st->loss;
            st->last_epoch_acc = st->acc;
            st->epoch++;
            t->pos = 0;
            t->seen = 0;
        }
    }
    t->st.seconds += cl_now() - t0;
    return rc;
}

const char *trainer_note(const cl_trainer *t) { return t->note; }

/* ---- checkpoints ----
 * Layout (little-endian, numbers as their IEEE 754 bits):
 *   8 bytes  magic "CLTRAIN" 1
 *   u32      format version (1)
 *   u64 x 5  parameter floats (p_storage), state floats (n_state),
 *            training images, batch, steps in all
 *   u64      steps taken; u32 epochs done
 *   u64 x 4  the order generator
 *   f64 x 4  last epoch's loss and accuracy, seconds training, last lr
 *   f32 x p_storage parameters, then momentum; f32 x n_state state
 *   u64      FNV-1a of all the bytes before it */
#define TRAIN_CKPT_VERSION 1u
static const unsigned char TRAIN_CKPT_MAGIC[8] = {'C', 'L', 'T', 'R', 'A', 'I', 'N', 1};
#define TRAIN_CKPT_HEAD (8 + 4 + 5 * 8 + 8 + 4 + 4 * 8 + 4 * 8)

static size_t train_ckpt_len(const cl_net *net)
{
    return TRAIN_CKPT_HEAD + 4 * (2 * (size_t)net->p_storage + (size_t)net->n_state) + 8;
}

int trainer_at_epoch_end(const cl_trainer *t) { return t->pos == 0 && t->queued == 0; }

int trainer_save(cl_trainer *t, unsigned char **blob, size_t *len, cl_err *err)
{
    cl_net *net = t->net;
    cl_backend *be = t->be;
    size_t n = train_ckpt_len(net), np = (size_t)net->p_storage, ns = (size_t)net->n_state;
    unsigned char *b, *p;
    float *host;
    int rc;
    if (!trainer_at_epoch_end(t))
        return ERR_SET(err, CL_ERR_ARG,
                       "trainer checkpoint: only between epochs (step %ld is inside epoch %d)",
                       t->st.step, t->st.epoch + 1);
    if ((rc = be->sync(be, err)))
        return rc;
    b = malloc(n);
    host = malloc((np > ns ? np : ns ? ns : 1) * sizeof *host);
    if (!b || !host) {
        free(b);
        free(host);
        return ERR_SET(err, CL_ERR_NOMEM, "trainer checkpoint: out of memory (%zu bytes)", n);
    }
    p = b;
    memcpy(p, TRAIN_CKPT_MAGIC, sizeof TRAIN_CKPT_MAGIC);
    p += sizeof TRAIN_CKPT_MAGIC;
    p = cl_put_u32(p, TRAIN_CKPT_VERSION);
    p = cl_put_u64(p, (uint64_t)np);
    p = cl_put_u64(p, (uint64_t)ns);
    p = cl_put_u64(p, (uint64_t)t->n_train);
    p = cl_put_u64(p, (uint64_t)t->cfg.batch);
    p = cl_put_u64(p, (uint64_t)t->st.steps_total);
    p = cl_put_u64(p, (uint64_t)t->st.step);
    p = cl_put_u32(p, (uint32_t)t->st.epoch);
    for (int i = 0; i < 4; i++)
        p = cl_put_u64(p, t->rng.s[i]);
    p = cl_put_f64(p, t->st.last_epoch_loss);
    p = cl_put_f64(p, t->st.last_epoch_acc);
    p = cl_put_f64(p, t->st.seconds);
    p = cl_put_f64(p, t->st.lr);
    {
        const float *arrays[3] = {net->params, net->mom, net->state};
        size_t counts[3] = {np, np, ns};
        for (int a = 0; a < 3; a++) {
            be->download(be, host, arrays[a], counts[a] * sizeof *host);
            for (size_t k = 0; k < counts[a]; k++)
                p = cl_put_f32(p, host[k]);
        }
    }
    p = cl_put_u64(p, cl_fnv64(CL_FNV64_START, b, (size_t)(p - b)));
    free(host);
    *blob = b;
    *len = n;
    return CL_OK;
}

/* Everything is checked before anything changes. */
int trainer_load(cl_trainer *t, const unsigned char *blob, size_t len, cl_err *err)
{
    const char *who = "trainer checkpoint";
    cl_net *net = t->net;
    cl_backend *be = t->be;
    size_t np = (size_t)net->p_storage, ns = (size_t)net->n_state, want = train_ckpt_len(net);
    const unsigned char *p;
    uint64_t have[5], mine[5] = {np, ns, (uint64_t)t->n_train, (uint64_t)t->cfg.batch,
                                 (uint64_t)t->st.steps_total};
    static const char *const what[5] = {"parameter floats", "batch-norm state floats",
                                        "training images", "images a batch", "steps in all"};
    uint64_t step;
    uint32_t ver, epoch;
    float *host;
    if (t->st.step != 0 || t->ran != 0)
        return ERR_SET(err, CL_ERR_ARG, "%s: loads only into a trainer that has taken no step",
                       who);
    if (!blob || len < TRAIN_CKPT_HEAD || memcmp(blob, TRAIN_CKPT_MAGIC, 8) != 0)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %s", who,
                       !blob || len < 8 ? "truncated" : "bad magic (not a training checkpoint)");
    ver = cl_get_u32(blob + 8);
    if (ver != TRAIN_CKPT_VERSION)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: format version %u, this build reads version %u",
                       who, ver, TRAIN_CKPT_VERSION);
    p = blob + 12;
    for (int i = 0; i < 5; i++, p += 8) {
        have[i] = cl_get_u64(p);
        if (have[i] != mine[i])
            return ERR_SET(err, CL_ERR_FORMAT,
                           "%s: made for another training (%llu %s, this one has %llu)", who,
                           (unsigned long long)have[i], what[i], (unsigned long long)mine[i]);
    }
    if (len != want)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %s (%zu bytes, expected %zu)", who,
                       len < want ? "truncated" : "trailing bytes", len, want);
    if (cl_get_u64(blob + len - 8) != cl_fnv64(CL_FNV64_START, blob, len - 8))
        return ERR_SET(err, CL_ERR_FORMAT, "%s: damaged (its checksum does not match)", who);
    step = cl_get_u64(p);
    epoch = cl_get_u32(p + 8);
    p += 12;
    if (step > (uint64_t)t->st.steps_total || epoch > (uint32_t)t->cfg.epochs ||
        step != (uint64_t)epoch * (uint64_t)t->st.steps_per_epoch)
        return ERR_SET(err, CL_ERR_FORMAT,
                       "%s: step %llu and epoch %u do not fit %d epochs of %d steps", who,
                       (unsigned long long)step, epoch, t->cfg.epochs, t->st.steps_per_epoch);
    host = malloc((np > ns ? np : ns ? ns : 1) * sizeof *host);
    if (!host)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory", who);
    for (int i = 0; i < 4; i++, p += 8)
        t->rng.s[i] = cl_get_u64(p);
    t->st.last_epoch_loss = (float)cl_get_f64(p);
    t->st.last_epoch_acc = (float)cl_get_f64(p + 8);
    t->st.seconds = cl_get_f64(p + 16);
    t->st.lr = (float)cl_get_f64(p + 24);
    p += 32;
    {
        float *arrays[3] = {net->params, net->mom, net->state};
        size_t counts[3] = {np, np, ns};
        for (int a = 0; a < 3; a++) {
            for (size_t k = 0; k < counts[a]; k++, p += 4)
                host[k] = cl_get_f32(p);
            be->upload(be, arrays[a], host, counts[a] * sizeof *host);
        }
    }
    free(host);
    t->st.step = (long)step;
    t->st.epoch = (int)epoch;
    t->st.read_steps = t->st.step;
    t->st.read_seconds = t->st.seconds;
    {
        int64_t s = (int64_t)step;
        be->upload(be, t->dstep, &s, sizeof s);
    }
    return CL_OK;
}

int child_evaluate(cl_net *net, const uint8_t *src_x, const uint8_t *src_y, int c, int h, int w,
                   const int *idx, int n, const float *mean, const float *std, float *acc,
                   float *loss, int (*progress)(void *ud, int done, int total), void *ud,
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
        if (progress && progress(ud, at + b, n) && at + b < n) {
            rc = ERR_SET(err, CL_ERR_IO, "stopped after %d of %d images", at + b, n);
            goto done;
        }
    }
    *acc = n ? (float)right / (float)n : 0.f;
    *loss = n ? (float)(loss_sum / n) : 0.f;
done:
    free(ids);
    free(bx);
    free(by);
    return rc;
}
