/* err.h - the one error type of shoal.
 *
 * Every fallible function takes a `struct err *e` last and returns a negative
 * value on failure after filling it.  The message is built outermost-last:
 * callers add context on the way up with err_wrap(), so a failure reads like
 *   "push h2: sftp write blobs/sha256/ab12..: disk full".
 * `code` is an errno value (or 0 when none applies); `exit` is the process exit
 * code a CLI should use (1 operation failed, 2 bad usage or bad spec).
 *
 * Library code never exits; it fills an err and returns.  An err needs no
 * freeing: the message lives in the struct.
 */
#ifndef SHOAL_ERR_H
#define SHOAL_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 2048

enum err_exit {
	ERR_EXIT_FAIL = 1,  /* an operation failed */
	ERR_EXIT_USAGE = 2, /* bad usage, bad spec, bad input */
};

struct err {
	int code;           /* errno-style cause, 0 if none */
	int exit;           /* ERR_EXIT_* */
	char msg[ERR_MSG_MAX];
};

/* Set e (if non-NULL) from a printf-style message; returns -1. */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set, with strerror(code) appended: "open x: No such file". */
int err_sys(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set, but marks the failure as bad input (exit code 2). */
int err_usage(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix context to an existing message: "<context>: <old msg>"; returns -1. */
int err_wrap(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to "no error". */
void err_clear(struct err *e);

/* Converters at the library borders.  Each fills e from the library's own
 * error report and returns -1.  `what` names the operation ("read spec"). */
struct config_t;
struct json_error_t;
struct archive;
int err_from_archive(struct err *e, struct archive *a, const char *what);
int err_from_json(struct err *e, const void *json_error /* json_error_t * */,
		  const char *what);
int err_from_config(struct err *e, const void *config /* config_t * */,
		    const char *what);
int err_from_curl(struct err *e, int curlcode, const char *what);
/* For libssh2: pass the session (may be NULL) and the return code. */
int err_from_ssh2(struct err *e, void *session /* LIBSSH2_SESSION * */,
		  int rc, const char *what);

#endif
