/* policy.h - where a controller stands, read back from its journal.
 *
 * After each update the engine journals the controller's most likely cell
 * (the likeliest choice at each decision, given those before it) with the
 * probabilities of every choice there and each decision's entropy.  This
 * reads one such update and names what it holds: which cell, block and
 * decision each is (input, op, combiner) and what its choices are, so a
 * screen or a command can show which decisions the controller has settled
 * and which it still explores. */
#ifndef CELLAR_SEARCH_POLICY_H
#define CELLAR_SEARCH_POLICY_H

#include <stdint.h>

#include "core/err.h"
#include "space/space.h"
#include "store/store.h"

/* the most choices a decision has: an op (13), an input (B + 1) */
#define POLICY_MAX_CHOICES (OP_COUNT > GENO_MAX_BLOCKS + 1 ? OP_COUNT : GENO_MAX_BLOCKS + 1)

/* a probability at or above which a decision counts as settled */
#define POLICY_SETTLED 0.9

typedef struct policy_decision {
    int cell;                 /* 0 normal, 1 reduction */
    int block;                /* 1-based */
    char what[16];            /* "input 1", "input 2", "op 1", "op 2", "combiner" */
    int n;                    /* its choices */
    int choice;               /* the most likely */
    double entropy;           /* of the decision, in nats (at most log n) */
    double probs[POLICY_MAX_CHOICES];
} policy_decision;

typedef struct policy {
    int64_t step, steps;      /* this update, and how many the journal holds */
    double entropy, reward_ema, time;
    char trials[64];          /* the trials it learned from, "1-20" */
    cl_space space;
    int n;
    policy_decision d[SPACE_MAX_DECISIONS];
    char genotype[GENO_TEXT_MAX];   /* the most likely cell */
} policy;

/* Update `step` of the journal's controller (0: its last).  Fails, saying
 * why, for a journal without updates (a random or evolution search, or
 * one that has not learned yet) or one whose records do not read. */
int policy_read(cl_store *st, int64_t step, policy *p, cl_err *err);

/* The name of choice k of decision d: "h[i-1]", "h[i]", "block 2",
 * "sep_conv_3x3", "add". */
const char *policy_choice_name(const policy *p, const policy_decision *d, int k, char *buf,
                               size_t cap);

/* decisions whose likeliest choice has probability >= POLICY_SETTLED */
int policy_settled(const policy *p);

#endif
