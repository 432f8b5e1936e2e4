/* engine.h - the search engine: a library that does a bounded slice of
 * work per call, so that every front end (headless runner, screen, tests,
 * MPI ranks) owns its loop and drives the engine the same way.
 *
 * A trial's life: the strategy proposes a genotype; it is journaled as
 * pending, then running; a child network is built and trained (in slices
 * of SGD steps), evaluated on the validation images; the result is
 * journaled (done, or failed with its reason) together with a checkpoint
 * of the strategy, in one transaction; the strategy learns from it (the
 * controller strategies update every `batch` trials).  Events go out to a
 * queue the front end drains; commands come in and are applied between
 * slices, each journaled.
 *
 * Resuming: engine_open with resume set restores the newest checkpoint;
 * a trial that was running when the process died is run again under the
 * same id, so nothing is lost or duplicated, and on the CPU the resumed
 * search proposes exactly what an uninterrupted one would have. */
#ifndef CELLAR_SEARCH_ENGINE_H
#define CELLAR_SEARCH_ENGINE_H

#include <stdint.h>

#include "backend/backend.h"
#include "core/err.h"
#include "search/experiment.h"
#include "space/genotype.h"
#include "store/store.h"

typedef struct cl_engine cl_engine;

typedef enum {
    ENGINE_RUNNING,
    ENGINE_PAUSED,    /* by a command; engine_step does nothing */
    ENGINE_DONE,      /* the budget is spent */
    ENGINE_STOPPED,   /* by a command; the journal is consistent */
} engine_state;

extern const char *const engine_state_names[];   /* "running", "paused", "finished", "stopped" */

typedef enum {
    EV_TRIAL_START,   /* trial, genotype */
    EV_EPOCH,         /* trial, epoch, loss, acc (training), val_acc (NaN unless measured) */
    EV_TRIAL_END,     /* trial, state, reward, accuracy, params, flops, seconds, text (reason) */
    EV_CONTROLLER,    /* step, entropy, reward_ema, loss */
    EV_COMMAND,       /* text: "set lr 0.001 (was 0.00035)" and the like */
    EV_STATE,         /* state changed (paused, resumed, finished, stopped) */
    EV_LOG,           /* text */
} event_kind;

extern const char *const event_kind_names[];   /* "trial_start", "epoch", "trial_end",
                                                  "controller_update", "command", "state", "log" */

typedef struct engine_event {
    event_kind kind;
    int64_t trial;
    int epoch;
    double loss, acc, val_acc;
    trial_state tstate;
    double reward, accuracy, seconds, flops;
    int64_t params;
    int reused;                    /* a duplicate that reused an earlier result */
    int64_t step;
    double entropy, reward_ema, ctrl_loss;
    engine_state state;
    char genotype[GENO_TEXT_MAX];
    char recipe[17];               /* EV_TRIAL_START, EV_TRIAL_END: the recipe's hash */
    char text[256];
} engine_event;

/* Open a search on a journal.  resume = 0: the journal must be new (empty);
 * the experiment is written into it.  resume = 1: the journal's experiment
 * must match x (same settings JSON), and the search continues from its
 * newest checkpoint.  The engine keeps pointers to x, st and be. */
int engine_open(const experiment *x, cl_store *st, cl_backend *be, int resume, cl_engine **out,
                cl_err *err);
void engine_free(cl_engine *e);

/* Do at most max_steps SGD steps of the current child, or one other
 * bounded action (propose and build a child, evaluate it, record it).
 * A failed child is not an error: it becomes a failed trial.  Errors are
 * what stops the search (the journal cannot be written, the dataset
 * cannot be read). */
int engine_step(cl_engine *e, int max_steps, cl_err *err);
engine_state engine_get_state(const cl_engine *e);

/* Take the oldest waiting event; returns 0 when there is none. */
int engine_next_event(cl_engine *e, engine_event *ev);

typedef enum { CMD_PAUSE, CMD_RESUME, CMD_STEP, CMD_SET, CMD_STOP } cmd_kind;

/* Apply a command (between slices), journal it with its source ("key",
 * "console", "lua", "cli"), and emit EV_COMMAND.  CMD_STEP while paused
 * runs one more trial, then pauses again.  CMD_SET takes a name of
 * engine_settings and a value. */
int engine_command(cl_engine *e, cmd_kind cmd, const char *name, double value, const char *source,
                   cl_err *err);

/* Stop training trial `id` early: at the end of the epoch it is in (at
 * once when called from an epoch's hook, which runs there), it is
 * validated as it stands and recorded as done, its reason "stopped after
 * epoch k of E: why"; the strategy learns from that reward as from any.
 * Journaled as the command "stop trial ID" with `why`.  *stopping = 1
 * when it will stop; 0, changing nothing, when the trial is not training
 * here (not started, being validated, finished, stopped already). */
int engine_stop_trial(cl_engine *e, int64_t id, const char *why, const char *source,
                      int *stopping, cl_err *err);

/* The names CMD_SET accepts, with a one-line description each; NULL-terminated. */
typedef struct engine_setting {
    const char *name;
    const char *about;
} engine_setting;
extern const engine_setting engine_settings[];
/* the current value of a setting */
int engine_get(const cl_engine *e, const char *name, double *value, cl_err *err);

typedef struct engine_status {
    engine_state state;
    int64_t done, failed, budget;
    int64_t ranked;            /* done trials on the leaderboard: those trained with the
                                  newest trial's recipe (as `cellar show DB` ranks) */
    int64_t best_trial;        /* the best of those; 0 when none */
    double best_reward;
    char best_genotype[GENO_TEXT_MAX];
    int64_t current_trial;     /* the oldest trial in hand; 0 when none is running */
    int running;               /* trials in hand */
    int slots;                 /* trials that may be in hand at once */
    int epoch, epochs;         /* of the current trial */
    long step, steps_total;    /* of the current trial */
    double elapsed;            /* seconds of search in this process and before (journal) */
    double trials_per_hour;
    int64_t ctrl_steps;
    double entropy, reward_ema;   /* latest controller figures (NaN before the first update) */
} engine_status;

void engine_get_status(const cl_engine *e, engine_status *s);

/* A journaled command as the log says it: "set lr 0.001 (was 0.00035),
 * from console", "pause, from key" (new_v NULL), "stop trial 4: slow,
 * from lua" (old_v NULL) */
void engine_command_text(char *buf, size_t cap, const char *name, const char *old_v,
                         const char *new_v, const char *source);

#endif
