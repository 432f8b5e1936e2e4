/* err.c - the error context: formatted messages with their origin. */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[CL_ERR_COUNT] = {
    [CL_OK] = "ok",
    [CL_ERR_NOMEM] = "out of memory",
    [CL_ERR_IO] = "I/O error",
    [CL_ERR_FORMAT] = "bad file format",
    [CL_ERR_PARSE] = "parse error",
    [CL_ERR_ARG] = "bad argument",
    [CL_ERR_SHAPE] = "shape mismatch",
    [CL_ERR_NUMERIC] = "numeric error",
    [CL_ERR_BACKEND] = "backend error",
    [CL_ERR_UNSUPPORTED] = "not supported",
    [CL_ERR_INTERNAL] = "internal error",
};

const char *err_str(cl_status code)
{
    if ((int)code < 0 || code >= CL_ERR_COUNT)
        return "unknown error";
    return status_names[code];
}

int err_set_at(cl_err *e, cl_status code, const char *file, int line, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        e->file = file;
        e->line = line;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void err_prefix(cl_err *e, const char *fmt, ...)
{
    char old[sizeof e->msg];
    va_list ap;
    int n;
    if (!e)
        return;
    memcpy(old, e->msg, sizeof old);
    va_start(ap, fmt);
    n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof e->msg) {
        size_t room = sizeof e->msg - (size_t)n;
        e->msg[n] = ':';
        e->msg[n + 1] = ' ';
        memcpy(e->msg + n + 2, old, room - 2);
        e->msg[sizeof e->msg - 1] = '\0';
    }
}

void err_clear(cl_err *e)
{
    if (e) {
        e->code = CL_OK;
        e->file = NULL;
        e->line = 0;
        e->msg[0] = '\0';
    }
}
