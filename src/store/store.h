/* store.h - the journal: one SQLite file per experiment, in WAL mode,
 * written as the search goes so that nothing finished is lost to a crash
 * (a SIGKILL loses at most the work of the trial that was running).
 *
 * What it holds: the experiment (its Lua source, resolved settings, seed);
 * every trial (genotype, hash, state, reward, accuracy, params, FLOPs,
 * seconds, worker, the recipe it was trained with and the recipe's hash,
 * the controller's decisions and their log-probability, a failure's
 * reason); per-epoch metrics of each trial; controller steps (entropy,
 * reward average, loss, and per decision its entropy and probabilities as
 * JSON); every command given mid-run (time, source, name, old and new
 * value); device seconds per phase; checkpoints (opaque blobs of the
 * search's state, with the number of finished trials they follow); and
 * the trainings of its genotypes again, larger and longer (`cellar train
 * DB`: settings, state, test accuracy, epochs).
 *
 * The schema carries its version in PRAGMA user_version and cellar's mark
 * in PRAGMA application_id; opening an older journal migrates it forward
 * in one transaction; a newer one, another application's database, a
 * damaged file or a non-database is refused with a message that says so.
 *
 * Strings returned inside records are owned by the record: free them with
 * the matching *_clear function.  The exception is the records a *_each
 * walk passes to its callback: their strings belong to the walk and are
 * valid only until the callback returns (copy what you keep; never clear
 * them).  Every call reports failure through a status and cl_err carrying
 * SQLite's message and the statement.
 *
 * Times are wall-clock seconds since the epoch.  A time left unset (NaN,
 * or 0 from a zeroed struct) is filled in by the store with the current
 * time where the record says it has happened (see store_trial_insert). */
#ifndef CELLAR_STORE_STORE_H
#define CELLAR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_APPLICATION_ID 0x43454c4c   /* "CELL" */

typedef struct cl_store cl_store;

/* Create a new journal, claimed (store_claim).  An existing file at path
 * is refused unless force is set, in which case it is replaced (with its
 * -wal and -shm files), unless a search holds it. */
int store_create(const char *path, int force, cl_store **out, cl_err *err);
/* Open an existing journal (migrating it forward if it is older; an older
 * one this process may not write is opened as it is, and what its version
 * lacks reads as empty).  Any number of readers may open it beside the
 * search that writes it. */
int store_open(const char *path, cl_store **out, cl_err *err);
/* Claim the journal for the one search that may run on it, until
 * store_close: an exclusive lock (flock) on the file, let go by the
 * kernel when the process ends however it ends.  Refused, naming the
 * process that holds it where the system says, while another holds it. */
int store_claim(cl_store *st, cl_err *err);
/* The process of another search that holds the journal's claim: its id,
 * 0 where none does, -1 where the system cannot say (no /proc/locks). */
long store_search_pid(const cl_store *st);
void store_close(cl_store *st);
const char *store_path(const cl_store *st);

/* Group writes; nests (only the outermost commits).  store_rollback
 * abandons the outermost transaction. */
int store_begin(cl_store *st, cl_err *err);
int store_commit(cl_store *st, cl_err *err);
void store_rollback(cl_store *st);

/* ---- experiment ---- */
typedef struct store_experiment {
    char *name;         /* e.g. "quick" */
    char *source_path;  /* where the Lua file was read from */
    char *source;       /* the Lua text itself */
    char *settings;     /* resolved settings, JSON */
    int64_t seed;
    double created;     /* seconds since the epoch */
} store_experiment;

int store_experiment_set(cl_store *st, const store_experiment *e, cl_err *err);
int store_experiment_get(cl_store *st, store_experiment *e, cl_err *err);
void store_experiment_clear(store_experiment *e);

/* ---- trials ---- */
typedef enum { TRIAL_PENDING, TRIAL_RUNNING, TRIAL_DONE, TRIAL_FAILED } trial_state;

const char *trial_state_name(trial_state s);   /* "pending", "running", "done", "failed" */

typedef struct store_trial {
    int64_t id;           /* assigned by store_trial_insert, 1, 2, ... */
    char *genotype;
    char hash[17];
    trial_state state;
    double reward, accuracy;   /* NaN until known */
    int64_t params;
    double flops;
    double seconds;       /* training and evaluation time */
    int worker;           /* 0: this process; MPI rank otherwise */
    char *recipe;         /* resolved child-training settings, text */
    char hash_recipe[17];
    char *actions;        /* the strategy's decisions, e.g. "1 0 10 11 0 ..." (may be NULL) */
    double logp;          /* their log-probability when sampled (NaN if none) */
    char *reason;         /* why it failed, or why a done trial stopped early; else NULL */
    int64_t reused_from;  /* id of the trial whose result a duplicate reused, or 0 */
    double created, started, finished;   /* seconds since the epoch, NaN if not yet */
} store_trial;

void store_trial_clear(store_trial *t);

/* Insert a trial (its id is set).  state, genotype and hash are required.
 * Unset times are filled and written back: created always, started once the
 * state is past pending, finished once it is done or failed. */
int store_trial_insert(cl_store *st, store_trial *t, cl_err *err);
/* Write back every field of an existing trial (by id).  An unset time keeps
 * the stored one or, as for insert, becomes now; a trial set back to
 * pending has its start and finish cleared. */
int store_trial_update(cl_store *st, const store_trial *t, cl_err *err);
int store_trial_get(cl_store *st, int64_t id, store_trial *t, cl_err *err);
/* Call fn for every trial in id order (state < 0: all; else only that
 * state); fn returning non-zero stops the walk. */
int store_trial_each(cl_store *st, int state, int (*fn)(void *ud, const store_trial *t), void *ud,
                     cl_err *err);
/* The same for the trials from id `from` on, whatever their state. */
int store_trial_each_from(cl_store *st, int64_t from, int (*fn)(void *ud, const store_trial *t),
                          void *ud, cl_err *err);
/* The most recent done trial with this hash and recipe hash, not stopped
 * early (for reuse of a duplicate's reward); *found = 0 when there is none. */
int store_trial_find_done(cl_store *st, const char *hash, const char *hash_recipe,
                          store_trial *t, int *found, cl_err *err);
/* The recipe hash of the newest trial (highest id) that has one, "" when
 * none has: the recipe whose trials a leaderboard ranks.  id: that trial's,
 * 0 when none (may be NULL). */
int store_trial_newest_recipe(cl_store *st, char hash_recipe[17], int64_t *id, cl_err *err);
/* The best done trial trained with this recipe (highest reward, then lowest
 * id; *found = 0 when there is none) and how many done trials it has (*n,
 * may be NULL). */
int store_trial_best(cl_store *st, const char *hash_recipe, store_trial *t, int *found,
                     int64_t *n, cl_err *err);
/* counts by state; any pointer may be NULL */
int store_trial_counts(cl_store *st, int64_t *pending, int64_t *running, int64_t *done,
                       int64_t *failed, cl_err *err);

/* ---- per-epoch metrics ---- */
typedef struct store_metric {
    int64_t trial;
    int epoch;            /* 1-based */
    double train_loss, train_acc, val_acc, lr, seconds;   /* NaN where not measured */
} store_metric;

int store_metric_insert(cl_store *st, const store_metric *m, cl_err *err);
/* the same, replacing the row of that trial and epoch if there is one */
int store_metric_replace(cl_store *st, const store_metric *m, cl_err *err);
/* Call fn for a trial's epochs, in order; fn returning non-zero stops the
 * walk. */
int store_metric_each(cl_store *st, int64_t trial, int (*fn)(void *ud, const store_metric *m),
                      void *ud, cl_err *err);
/* The same for the rows of trial `trial` (0: every trial) at epoch `epoch`
 * (0: every epoch), in trial then epoch order. */
int store_metric_each_at(cl_store *st, int64_t trial, int epoch,
                         int (*fn)(void *ud, const store_metric *m), void *ud, cl_err *err);
/* An epoch as a row of text under STORE_METRIC_HEAD: epoch, training loss
 * and accuracy, validation accuracy, learning rate, seconds ("-" where not
 * measured), for `cellar show DB --trial` and the screen. */
#define STORE_METRIC_HEAD "epoch train loss train acc   val acc         lr  seconds"
void store_metric_text(const store_metric *m, char *out, size_t cap);
/* the last epoch journaled of a trial (0: none) */
int store_metric_last_epoch(cl_store *st, int64_t trial, int *epoch, cl_err *err);
/* remove a trial's metrics (when an interrupted trial runs again) */
int store_metric_delete(cl_store *st, int64_t trial, cl_err *err);

/* ---- controller steps ---- */
typedef struct store_ctrl_step {
    int64_t step;         /* 1-based update count */
    double entropy, reward_ema, loss, lr;
    char *trials;         /* ids of the trials the update learned from, "1 2 3 ..." */
    char *decisions;      /* JSON: [{"entropy":..,"probs":[..]}, ...] per decision */
    double time;
} store_ctrl_step;

void store_ctrl_step_clear(store_ctrl_step *s);
int store_ctrl_step_insert(cl_store *st, const store_ctrl_step *s, cl_err *err);
/* Step `step` (0: the last) with its strings copied (the caller clears
 * it); *found = 0 when there is none. */
int store_ctrl_step_get(cl_store *st, int64_t step, store_ctrl_step *s, int *found, cl_err *err);
/* the steps after step `after` (0: all), in order */
int store_ctrl_step_each(cl_store *st, int64_t after,
                         int (*fn)(void *ud, const store_ctrl_step *s), void *ud, cl_err *err);

/* ---- commands given mid-run ---- */
typedef struct store_command {
    int64_t id;
    double time;
    char *source;         /* "key", "console", "lua", "cli" ... */
    char *name;           /* "pause", "set lr", ... */
    char *old_value, *new_value;   /* may be NULL */
} store_command;

void store_command_clear(store_command *c);
int store_command_insert(cl_store *st, store_command *c, cl_err *err);
/* the commands after id `after` (0: all), in order */
int store_command_each(cl_store *st, int64_t after, int (*fn)(void *ud, const store_command *c),
                       void *ud, cl_err *err);

/* ---- device seconds per phase ("search", "selection", "final") ---- */
int store_seconds_add(cl_store *st, const char *phase, double seconds, cl_err *err);
int store_seconds_get(cl_store *st, const char *phase, double *seconds, cl_err *err);

/* ---- trainings: a trial's genotype trained again (cellar train DB) ---- */
typedef struct store_training {
    int64_t id;           /* assigned by store_training_insert */
    int64_t trial;        /* the trial whose genotype it is (0: none) */
    char *genotype;
    char hash[17];
    char *settings;       /* JSON: dataset, sizes, N, F, epochs, batch, lr, ... */
    trial_state state;    /* running, done or failed */
    double test_acc, val_acc;   /* NaN until known (val_acc: none held out) */
    int64_t params;
    double flops, seconds;
    long pid;             /* the cellar process training it */
    char *reason;         /* why it failed; else NULL */
    double started, finished;   /* NaN if not yet */
    int epochs_done;      /* its epochs journaled (read by store_training_each) */
    int ckpt_epoch;       /* the epochs its checkpoint follows, 0: none (ditto) */
} store_training;

/* Insert a training (its id and, when unset, its start are set). */
int store_training_insert(cl_store *st, store_training *t, cl_err *err);
/* Write back its state, results, reason and finish (now when unset and
 * the state is done or failed). */
int store_training_update(cl_store *st, store_training *t, cl_err *err);
/* Call fn for the trainings of trial `trial` (0: all), in id order; the
 * record's strings belong to the walk. */
int store_training_each(cl_store *st, int64_t trial,
                        int (*fn)(void *ud, const store_training *t), void *ud, cl_err *err);
/* 1 when it is running in a process that is still there */
int store_training_live(const store_training *t);
/* Its state in words: "done", "failed: REASON", "running (cellar process
 * P), K of E epochs done", or, a running one whose process is gone (killed
 * outright, the machine down), "interrupted after K of E epochs (cellar
 * process P is gone)"; a stopped one with a checkpoint adds "; resumable
 * from epoch C". */
void store_training_state_text(const store_training *t, char *out, size_t cap);
/* One line of it: "DATASET, I images, N=n F=f, E epochs of batch B, lr X,
 * BACKEND backend: test accuracy A% (T images), S s", or the state where
 * it has no result; for `cellar show DB --trial` and the screen. */
void store_training_text(const store_training *t, char *out, size_t cap);
/* A setting of its JSON (NaN where it has none); text ones into out. */
double store_training_setting(const store_training *t, const char *key);
void store_training_setting_text(const store_training *t, const char *key, char *out,
                                 size_t cap);
/* A training's epochs, as metrics whose `trial` is the training's id. */
int store_training_epoch_insert(cl_store *st, const store_metric *m, cl_err *err);
int store_training_epoch_each(cl_store *st, int64_t training,
                              int (*fn)(void *ud, const store_metric *m), void *ud, cl_err *err);

/* A training's checkpoint: the trainer's bytes (trainer_save) after
 * `epoch` epochs, replacing the one before; store_training_update of the
 * training as done deletes it. */
int store_training_checkpoint_save(cl_store *st, int64_t training, int epoch, const void *blob,
                                   size_t len, cl_err *err);
/* *found 0 where it has none (*blob malloc'ed otherwise, the caller's) */
int store_training_checkpoint_get(cl_store *st, int64_t training, int *epoch,
                                  unsigned char **blob, size_t *len, int *found, cl_err *err);
/* A training that is not done taken up again from its checkpoint after
 * `epoch` epochs by process pid: running again, its reason and finish
 * cleared, the epochs journaled after the checkpoint dropped (they will
 * be trained again), in one transaction.  Only while its recorded process
 * is still was_pid (as read before): of two taking it up at once, one
 * wins and the other is refused. */
int store_training_resume(cl_store *st, int64_t training, long was_pid, long pid, int epoch,
                          cl_err *err);

/* ---- checkpoints ---- */
#define STORE_CHECKPOINTS_KEPT 2   /* older ones are deleted as new ones come */

/* Save a blob as the newest checkpoint, noting how many trials were done
 * (finished or failed) when it was taken. */
int store_checkpoint_save(cl_store *st, int64_t trials_done, const void *blob, size_t len,
                          cl_err *err);
/* The newest checkpoint (caller frees *blob); *found = 0 when there is none. */
int store_checkpoint_latest(cl_store *st, int64_t *trials_done, unsigned char **blob,
                            size_t *len, int *found, cl_err *err);

#endif
