/* log.c - see log.h */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static enum log_level level = LOG_INFO;
static bool json_mode;

void log_set_level(enum log_level l) { level = l; }
enum log_level log_get_level(void) { return level; }
void log_set_json(bool on) { json_mode = on; }
bool log_is_json(void) { return json_mode; }

bool log_progress_enabled(void)
{
	return !json_mode && level >= LOG_INFO && isatty(STDERR_FILENO);
}

void log_msg(enum log_level l, const char *func, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "", "debug"};
	va_list ap;

	if (l > level)
		return;
	if (json_mode && l == LOG_INFO)
		return;
	/* stderr is unbuffered: without the lock, two threads' lines would
	 * interleave piece by piece. */
	flockfile(stderr);
	if (l == LOG_DEBUG)
		fprintf(stderr, "debug: %s: ", func);
	else if (l != LOG_INFO)
		fprintf(stderr, "%s: ", names[l]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}
