/* sched.c - the built-in schedules. */
#include "nn/sched.h"

#include <math.h>
#include <stdio.h>

const char *const sched_kind_names[] = {"constant", "linear", "cosine", "step", "warmup"};

void sched_constant(cl_sched *s, double v)
{
    s->kind = SCHED_CONSTANT;
    s->from = s->to = v;
    s->gamma = 1.0;
    s->every = 1.0;
    s->share = 0.0;
}

double sched_at(const cl_sched *s, double p)
{
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    switch (s->kind) {
    case SCHED_CONSTANT:
        return s->from;
    case SCHED_LINEAR:
        return s->from + (s->to - s->from) * p;
    case SCHED_COSINE:
        return s->to + (s->from - s->to) * 0.5 * (1.0 + cos(M_PI * p));
    case SCHED_STEP:
        return s->from * pow(s->gamma, floor(p / s->every + 1e-12));
    case SCHED_WARMUP:
        if (p < s->share)
            return s->from * p / s->share;
        return s->to + (s->from - s->to) * 0.5 *
                           (1.0 + cos(M_PI * (p - s->share) / (1.0 - s->share)));
    }
    return s->from;
}

int sched_validate(const cl_sched *s, const char *what, cl_err *err)
{
    if ((int)s->kind < 0 || s->kind > SCHED_WARMUP)
        return ERR_SET(err, CL_ERR_ARG, "%s: unknown schedule kind %d", what, (int)s->kind);
    if (!isfinite(s->from) || !isfinite(s->to))
        return ERR_SET(err, CL_ERR_ARG, "%s: schedule values must be finite numbers", what);
    if (s->kind == SCHED_STEP && (!(s->every > 0) || s->every > 1 || !isfinite(s->gamma)))
        return ERR_SET(err, CL_ERR_ARG, "%s: step schedule needs 0 < every <= 1 and a finite gamma",
                       what);
    if (s->kind == SCHED_WARMUP && !(s->share >= 0 && s->share < 1))
        return ERR_SET(err, CL_ERR_ARG, "%s: warmup share must be in [0, 1)", what);
    return CL_OK;
}

int sched_format(const cl_sched *s, char *out, size_t cap)
{
    switch (s->kind) {
    case SCHED_CONSTANT:
        return snprintf(out, cap, "%g", s->from);
    case SCHED_LINEAR:
    case SCHED_COSINE:
        return snprintf(out, cap, "%s(%g, %g)", sched_kind_names[s->kind], s->from, s->to);
    case SCHED_STEP:
        return snprintf(out, cap, "step(%g, %g, %g)", s->from, s->gamma, s->every);
    case SCHED_WARMUP:
        return snprintf(out, cap, "warmup(%g, %g, %g)", s->from, s->to, s->share);
    }
    return snprintf(out, cap, "?");
}
