/* check.h - the tests' one assertion and their report.
 *
 * Each CHECK prints "ok - what" or "not ok - what (file:line)" so a failing
 * run says which expectation broke; check_done() prints the tally and
 * returns the exit status (1 when anything failed).  A test that cannot run
 * here calls check_skip(reason), which prints "skip - reason" and exits 77. */
#ifndef CELLAR_TESTS_CHECK_H
#define CELLAR_TESTS_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int check_npass, check_nfail;

static int check_report(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), unused));
static int check_report(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fputs(ok ? "ok - " : "not ok - ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok)
        printf(" (%s:%d)", file, line);
    putchar('\n');
    fflush(stdout);
    if (ok)
        check_npass++;
    else
        check_nfail++;
    return ok;
}

#define CHECK(cond, ...) check_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* |got - want| <= atol + rtol * |want| */
#define CHECK_NEAR(got, want, atol, rtol, ...)                                              \
    check_report(fabs((double)(got) - (double)(want)) <=                                    \
                     (atol) + (rtol) * fabs((double)(want)),                                \
                 __FILE__, __LINE__, __VA_ARGS__)

/* The worst relative error of got against want over n values, each
 * difference divided by |want[i]| plus the mean |want|, so that a value
 * near zero (a sum that cancels) is judged on the scale of its neighbours;
 * a NaN is the worst. */
static double check_rel_err(const float *got, const float *want, long n) __attribute__((unused));
static double check_rel_err(const float *got, const float *want, long n)
{
    double mean = 0.0, worst = 0.0;
    for (long i = 0; i < n; i++)
        mean += fabs(want[i]);
    mean = n ? mean / n : 0.0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + mean + 1e-30);
        if (!(e <= worst))
            worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static int check_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (the upper one for even n; sorts v), infinity for
 * none: the typical one of several steps' errors, where a rare step may
 * differ by a rounding's consequences */
static double check_median(double *v, int n) __attribute__((unused));
static double check_median(double *v, int n)
{
    if (n < 1)
        return INFINITY;
    qsort(v, (size_t)n, sizeof *v, check_cmp_double);
    return v[n / 2];
}

static int check_done(void) __attribute__((unused));
static int check_done(void)
{
    printf("# %d passed, %d failed\n", check_npass, check_nfail);
    return check_nfail ? 1 : 0;
}

static void check_skip(const char *reason) __attribute__((unused, noreturn));
static void check_skip(const char *reason)
{
    printf("skip - %s\n", reason);
    exit(77);
}

#endif
