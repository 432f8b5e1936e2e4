/* log.c - one sink, set by the front end. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static log_sink_fn sink;
static void *sink_ud;
static log_level sink_min = LOG_INFO;

void log_set_sink(log_sink_fn fn, void *ud, log_level min_level)
{
    sink = fn;
    sink_ud = ud;
    sink_min = min_level;
}

void log_msg(log_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!sink || level < sink_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sink(sink_ud, level, msg);
}
