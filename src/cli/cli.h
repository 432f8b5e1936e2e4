/* cli.h - what the subcommands share: the command table entry, option
 * parsing with strict values, the progress line, JSON output. */
#ifndef CELLAR_CLI_CLI_H
#define CELLAR_CLI_CLI_H

#include <signal.h>
#include <stdio.h>

#include "core/err.h"
#include "core/util.h"

typedef struct cli_cmd {
    const char *name;
    const char *summary;      /* one line for `cellar --help` */
    const char *usage;        /* full text for `cellar NAME --help` */
    int (*run)(int argc, char **argv);
} cli_cmd;

extern const cli_cmd cmd_train, cmd_show, cmd_bench, cmd_run, cmd_resume, cmd_export;
extern const cli_cmd cmd_render;

/* SIGINT and SIGTERM noted rather than fatal, for the commands that stop
 * cleanly between two slices of work (run, resume, train) once
 * cli_catch_signals has run: cli_signal is the signal, 0 until one comes. */
extern volatile sig_atomic_t cli_signal;
void cli_catch_signals(void);
/* "Ctrl-C" or "SIGTERM", for the message of a stop */
const char *cli_signal_name(int sig);

/* The journal of an experiment file: FILE.db, or FILE-NAME.db when the
 * file declares several experiments (NAME is the experiment's). */
void cli_default_db(const char *file, const char *name, int several, char *out, size_t cap);

/* `cellar [FILE.lua|NAME|FILE.db] [options]`: the workbench screen (cmd_screen.c) */
extern const cli_cmd cmd_screen;

/* A positional argument of show or render that names no file but is a
 * genotype (a built-in name or a genotype line): 1 with *g filled, else 0
 * (a file, or neither: the journal's own error then says so). */
struct cl_genotype;
int cli_positional_genotype(const char *arg, struct cl_genotype *g);

/* `cellar show DB`: the leaderboard of a journal (cmd_journal.c) */
int show_journal(const char *db, int top, int json);
/* `cellar show DB --trial ID`: one trial's record (id 0: the best) */
int show_trial(const char *db, long id, int json);
/* `cellar show DB --policy [--update N]`: where the controller stands
 * after update N (0: its last) */
int show_policy(const char *db, long step, int json);

/* Trial `id` of the journal `db`, or with id 0 its best (rank 1 of `cellar
 * show DB`): the journal opened in *st (the caller closes it), *t filled
 * (the caller clears it), *rank its rank on the leaderboard (0: not on it,
 * a trial not done or of an earlier recipe), *ranked the trials there.
 * Errors say what the journal holds instead. */
struct cl_store;
struct store_trial;
int journal_trial(const char *db, long id, struct cl_store **st, struct store_trial *t,
                  int *rank, int *ranked, cl_err *err);
/* The same, the journal closed, with the trial's genotype parsed into *g
 * (an error, *t cleared, when it has none or it does not parse). */
int journal_genotype(const char *db, long id, struct cl_genotype *g, struct store_trial *t,
                     int *rank, int *ranked, cl_err *err);

/* One option: its long name, whether it takes a value, and a slot the
 * parser fills.  Parsing stops with a message naming the option. */
typedef enum { OPT_FLAG, OPT_STR, OPT_INT, OPT_FLOAT, OPT_LIST, OPT_TRIAL } opt_kind;

/* the values of a repeatable option (OPT_LIST) */
typedef struct cli_list {
    const char *v[32];
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name;   /* without the leading dashes */
    opt_kind kind;
    void *slot;         /* int * (flag, int, trial: a number, or 0 for "best"),
                           const char ** (str), double * (float), cli_list * (list) */
    long lo, hi;        /* range for ints */
    int seen;
} cli_opt;

/* Parse argv[1..] (argv[0] is the command name) as --name value or
 * --name=value.  -h/--help prints usage and returns 1 with *exit_code 0;
 * errors print "cellar CMD: message" and return 1 with *exit_code 2;
 * success returns 0.  Positional arguments are refused unless pos is set,
 * in which case the first one is stored there. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int *exit_code);

/* Print "cellar CMD: message" on stderr; returns 1 (the exit status of a
 * failed run). */
int cli_fail(const char *cmd, const cl_err *err);

/* The progress line: redrawn in place on a terminal (at most ten times a
 * second), silent otherwise (the caller prints plain lines instead). */
typedef struct progress {
    FILE *out;
    int tty;
    double last;
    int shown;
} progress;

void progress_init(progress *p, FILE *out);
void progress_show(progress *p, int force, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void progress_clear(progress *p);

/* JSON string with escapes */
void json_string(cl_buf *b, const char *s);

#endif
