/* train.h - training and evaluating a child network.
 *
 * A trainer advances in bounded slices (trainer_run(t, steps)) so that a
 * front end, or the search engine, keeps control between them.  One step
 * is: make a batch (normalised, augmented when asked), forward, loss,
 * backward, SGD with momentum and weight decay at the learning rate its
 * schedule gives for the step's progress through the run, with the
 * drop-path probability its schedule gives (ScheduledDropPath: linear from
 * 0).  An epoch is one pass over the training images in a fresh order,
 * dropping the last partial batch.
 *
 * The training images live in the backend's memory (a copy made once on a
 * GPU), the backend makes each batch and draws the drop-path masks, and
 * steps are queued without waiting: losses are read back and checked
 * every 64 steps and at the end of each epoch (on the CPU, where it costs
 * nothing, also at the end of each slice).  Crops,
 * flips and masks depend on (seed, step) only, so a run is the same
 * however it is sliced. */
#ifndef CELLAR_CHILD_TRAIN_H
#define CELLAR_CHILD_TRAIN_H

#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "nn/net.h"
#include "nn/sched.h"

typedef struct train_cfg {
    int epochs;
    int batch;
    cl_sched lr;         /* over the run's steps (default cosine(0.05, 0)) */
    float momentum;
    float weight_decay;
    cl_sched drop_path;  /* probability over the run's steps (default 0: off) */
    int augment;         /* pad-4 random crop and horizontal flip */
    uint64_t seed;       /* order of images, augmentation, drop-path masks */
} train_cfg;

/* The defaults of `cellar train` (and of a child recipe). */
void train_cfg_defaults(train_cfg *cfg);

typedef struct train_status {
    int epoch;           /* 0-based epoch in progress (== epochs when done) */
    long step;           /* SGD steps taken */
    long steps_total;
    int steps_per_epoch;
    float lr;            /* learning rate of the last step */
    float loss;          /* mean loss over the epoch's first loss_steps steps */
    float acc;           /* training accuracy over the same steps */
    int loss_steps;      /* steps of the current epoch whose losses are read (on a
                          * device they lag the steps taken, up to 64) */
    float last_epoch_loss, last_epoch_acc;
    double seconds;      /* time spent inside trainer_run */
    long read_steps;     /* steps known to be done: their losses read back */
    double read_seconds; /* time spent inside trainer_run when they were read */
} train_status;

typedef struct cl_trainer cl_trainer;

/* The trainer keeps pointers to net, ds and the index list (which must
 * outlive it) and copies cfg.  mean and std: per-channel normalisation. */
int trainer_new(cl_net *net, const cl_dataset *ds, const int *train_idx, int n_train,
                const float *mean, const float *std, const train_cfg *cfg, cl_trainer **out,
                cl_err *err);
void trainer_free(cl_trainer *t);

/* Run up to `steps` SGD steps (fewer when training ends).  Fails on a
 * non-finite loss (training diverged), with the step in the message.  On
 * a device the slice's last steps may still be running when it returns
 * (up to 63; loss and acc cover the steps read back so far, and seconds
 * the time spent queueing and waiting):
 * their losses are checked by a later call, at the latest when training
 * ends. */
int trainer_run(cl_trainer *t, int steps, cl_err *err);
int trainer_done(const cl_trainer *t);
/* Why steps run op by op on a backend that can record them ("" when
 * they are recorded, or the backend cannot) */
const char *trainer_note(const cl_trainer *t);
const train_status *trainer_status(const cl_trainer *t);

/* ---- checkpoints ----
 * A trainer between two epochs as a byte string (malloc'ed, the caller
 * frees *blob): the network's parameters, momentum and batch-norm
 * statistics, the steps taken, the generator of the epochs' orders and
 * the last epoch's figures, with a checksum.  Only where an epoch has
 * just ended (trainer_at_epoch_end), its steps read back. */
int trainer_at_epoch_end(const cl_trainer *t);
int trainer_save(cl_trainer *t, unsigned char **blob, size_t *len, cl_err *err);
/* Into a trainer that has taken no step, of the same network, training
 * images, batch and epochs (each checked, and the checksum): it then goes
 * on as the saved one would have, step for step the same batches, crops,
 * masks and learning rates.  A refused blob leaves the trainer as it was. */
int trainer_load(cl_trainer *t, const unsigned char *blob, size_t len, cl_err *err);

/* Accuracy and mean loss of the network (in evaluation mode) on n images
 * of src_x/src_y selected by idx (NULL: the first n), in batches of the
 * network's batch size.  progress (may be NULL) is called after each batch
 * with the images done so far; where it returns nonzero the evaluation
 * stops there and fails (CL_ERR_IO, "stopped after K of N images"). */
int child_evaluate(cl_net *net, const uint8_t *src_x, const uint8_t *src_y, int c, int h, int w,
                   const int *idx, int n, const float *mean, const float *std, float *acc,
                   float *loss, int (*progress)(void *ud, int done, int total), void *ud,
                   cl_err *err);

#endif
