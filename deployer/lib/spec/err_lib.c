/* err_lib.c - error converters for the libraries only the operator side links
 * (libconfig, libcurl, libssh2).  Kept apart from common/err.c so that
 * shoal-agent does not pull these libraries in.  See err.h. */
#include "err.h"

#include <curl/curl.h>
#include <errno.h>
#include <libconfig.h>
#include <libssh2.h>
#include <stdio.h>

int err_from_config(struct err *e, const void *config, const char *what)
{
	const config_t *c = config;
	const char *file = config_error_file(c);
	const char *text = config_error_text(c);
	int line = config_error_line(c);

	if (config_error_type(c) == CONFIG_ERR_FILE_IO)
		return err_set(e, EIO, "%s: %s", what, text ? text : "I/O error");
	err_usage(e, "%s:%d: %s", file ? file : what, line,
		  text ? text : "syntax error");
	return -1;
}

int err_from_curl(struct err *e, int curlcode, const char *what)
{
	return err_set(e, EIO, "%s: %s", what, curl_easy_strerror(curlcode));
}

int err_from_ssh2(struct err *e, void *session, int rc, const char *what)
{
	char *msg = NULL;
	int code = rc;

	if (session)
		code = libssh2_session_last_error(session, &msg, NULL, 0);
	if (rc == LIBSSH2_ERROR_TIMEOUT || code == LIBSSH2_ERROR_TIMEOUT)
		return err_set(e, ETIMEDOUT, "%s: timed out", what);
	return err_set(e, EIO, "%s: %s (libssh2 %d)", what,
		       msg && *msg ? msg : "error", code ? code : rc);
}
