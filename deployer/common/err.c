/* err.c - see err.h */
#include "err.h"

#include <archive.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void __attribute__((format(printf, 4, 0)))
vset(struct err *e, int code, int exitc, const char *fmt, va_list ap)
{
	e->code = code;
	e->exit = exitc;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vset(e, code, ERR_EXIT_FAIL, fmt, ap);
	va_end(ap);
	return -1;
}

int err_sys(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vset(e, code, ERR_EXIT_FAIL, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(code));
	return -1;
}

int err_usage(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	vset(e, EINVAL, ERR_EXIT_USAGE, fmt, ap);
	va_end(ap);
	return -1;
}

int err_wrap(struct err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	int n;

	if (!e)
		return -1;
	memcpy(old, e->msg, sizeof old);
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof e->msg) {
		size_t room = sizeof e->msg - (size_t)n;

		if (snprintf(e->msg + n, room, ": %s", old) < 0)
			e->msg[n] = '\0';
	}
	if (!e->exit)
		e->exit = ERR_EXIT_FAIL;
	return -1;
}

void err_clear(struct err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->exit = 0;
	e->msg[0] = '\0';
}

int err_from_archive(struct err *e, struct archive *a, const char *what)
{
	const char *s = a ? archive_error_string(a) : NULL;
	int code = a ? archive_errno(a) : 0;

	return err_set(e, code > 0 ? code : EIO, "%s: %s", what,
		       s ? s : "archive error");
}

int err_from_json(struct err *e, const void *json_error, const char *what)
{
	const json_error_t *je = json_error;

	if (!je)
		return err_set(e, EINVAL, "%s: invalid JSON", what);
	if (je->line > 0)
		return err_set(e, EINVAL, "%s: line %d column %d: %s", what,
			       je->line, je->column, je->text);
	return err_set(e, EINVAL, "%s: %s", what, je->text);
}
