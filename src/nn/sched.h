/* sched.h - schedules: a value as a function of progress through a span
 * (a child's training steps, or a search's trial budget), in [0, 1].
 *
 *   constant(v)                 v
 *   linear(from, to)            from + (to - from) p
 *   cosine(from, to)            to + (from - to) (1 + cos(pi p)) / 2
 *   step(from, gamma, every)    from * gamma^floor(p / every)
 *   warmup(from, to, share)     0 -> from linearly over the first share of
 *                               the span, then cosine(from, to) over the rest
 *
 * Lua functions of the trial index are the Lua layer's business: it turns
 * them into constants before each trial. */
#ifndef CELLAR_NN_SCHED_H
#define CELLAR_NN_SCHED_H

#include <stddef.h>

#include "core/err.h"

typedef enum { SCHED_CONSTANT, SCHED_LINEAR, SCHED_COSINE, SCHED_STEP, SCHED_WARMUP } sched_kind;

typedef struct cl_sched {
    sched_kind kind;
    double from, to;   /* constant: from */
    double gamma, every;   /* step */
    double share;      /* warmup */
} cl_sched;

extern const char *const sched_kind_names[];   /* "constant", "linear", ... */

void sched_constant(cl_sched *s, double v);
double sched_at(const cl_sched *s, double progress);
/* checks ranges (every > 0, 0 <= share < 1, finite numbers) */
int sched_validate(const cl_sched *s, const char *what, cl_err *err);
/* "cosine(0.05, 0)" and the like; returns the length needed */
int sched_format(const cl_sched *s, char *out, size_t cap);

#endif
