/* log.h - the run log.  Messages go to whatever sink the front end set
 * (stderr for the CLI, a pane for the screen, nothing by default), so the
 * library never writes to the terminal behind a curses screen's back. */
#ifndef CELLAR_CORE_LOG_H
#define CELLAR_CORE_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

typedef void (*log_sink_fn)(void *ud, log_level level, const char *msg);

void log_set_sink(log_sink_fn fn, void *ud, log_level min_level);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
