/* log.h - leveled logging to stderr.
 *
 * -q sets LOG_ERROR, default LOG_WARN... LOG_INFO, -v LOG_DEBUG.  Messages at
 * debug level carry the function name.  With log_set_json(1), human progress
 * output is suppressed (commands print machine output on stdout instead);
 * errors are still written to stderr.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level l);
enum log_level log_get_level(void);
void log_set_json(bool on);
bool log_is_json(void);
/* True when human progress lines should be drawn (stderr is a terminal,
 * not --json, level >= info). */
bool log_progress_enabled(void);

void log_msg(enum log_level l, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERROR, __func__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

#endif
