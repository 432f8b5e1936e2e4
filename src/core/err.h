/* err.h - status codes and the error context every fallible call fills.
 *
 * A function that can fail returns an int status (0 = CL_OK) and takes a
 * `cl_err *err` as its last argument; on failure it records a message with
 * ERR_SET, which also notes the source file and line.  Callers either pass
 * the error up unchanged or add context with err_prefix().  Nothing in the
 * library prints or exits: the front end decides what to show. */
#ifndef CELLAR_CORE_ERR_H
#define CELLAR_CORE_ERR_H

#include <stdarg.h>

typedef enum {
    CL_OK = 0,
    CL_ERR_NOMEM,     /* an allocation failed */
    CL_ERR_IO,        /* a file could not be opened, read or written */
    CL_ERR_FORMAT,    /* a file's contents are not what was expected */
    CL_ERR_PARSE,     /* text (genotype, option value) could not be parsed */
    CL_ERR_ARG,       /* a bad argument or option */
    CL_ERR_SHAPE,     /* tensor shapes do not fit */
    CL_ERR_NUMERIC,   /* NaN or infinity where a number was needed */
    CL_ERR_BACKEND,   /* the compute backend reported a failure */
    CL_ERR_UNSUPPORTED,
    CL_ERR_INTERNAL,
    CL_ERR_COUNT
} cl_status;

typedef struct cl_err {
    cl_status code;
    const char *file;   /* where the error was raised (for --debug) */
    int line;
    char msg[1024];
} cl_err;

/* Record an error; returns `code` so it can be returned directly:
 *     return ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno)); */
#define ERR_SET(e, code, ...) err_set_at((e), (code), __FILE__, __LINE__, __VA_ARGS__)

int err_set_at(cl_err *e, cl_status code, const char *file, int line,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prepend context to an existing message: "while X: <old message>". */
void err_prefix(cl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void err_clear(cl_err *e);

/* A short name for a status ("out of memory", "I/O error", ...). */
const char *err_str(cl_status code);

#endif
