/* rc_client.c - connections and commands to Redis Cluster nodes: hiredis
 * with connect and command timeouts, AUTH first (redis_int.h).  Replies are
 * read through resp.h: whole within the command's timeout, capped in size. */
#include "redis_int.h"
#include "resp.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* ---- connections and commands ------------------------------------------------ */

void rc_cleanup_replyp(redisReply **r)
{
	if (*r)
		freeReplyObject(*r);
}

int rc_opt_timeout_ms(const struct rc_opts *o)
{
	return o && o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
}

char *rc_node_label(const struct rc_node *nd)
{
	return xasprintf("%s (%s:%d)", nd->id, nd->address, nd->port);
}

/* Turn a context error into e: "<label>: <what>: <reason>". */
static int ctx_error(struct err *e, const redisContext *c, int tmo_ms, const char *label,
		     const char *what)
{
	const char *s = c->errstr;

	/* hiredis reports an expired socket timeout as EAGAIN or ETIMEDOUT. */
	if (c->err == REDIS_ERR_IO && (strstr(s, "temporarily unavailable") || strstr(s, "timed out")))
		return err_set(e, ETIMEDOUT, "%s: %s: timed out after %d ms", label, what, tmo_ms);
	if (c->err == REDIS_ERR_EOF)
		return err_set(e, ECONNRESET, "%s: %s: connection closed by the server", label, what);
	return err_set(e, strstr(s, "refused") ? ECONNREFUSED : EIO, "%s: %s: %s", label, what,
		       *s ? s : "error");
}

/* The name of a command for messages: its first word, and the second for
 * CLUSTER (never the arguments: AUTH carries the password). */
static void command_name(int argc, const char **argv, char *out, size_t n)
{
	if (argc >= 2 && strcasecmp(argv[0], "CLUSTER") == 0)
		snprintf(out, n, "%s %s", argv[0], argv[1]);
	else
		snprintf(out, n, "%s", argv[0]);
}

/* Run one command.  Returns its reply (caller frees), or NULL with e filled
 * when the connection failed or Redis answered with an error. */
redisReply *rc_call_argv(redisContext *c, int tmo_ms, const char *label, int argc,
			 const char **argv, struct err *e)
{
	char what[64];
	redisReply *r;

	command_name(argc, argv, what, sizeof what);
	if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK) {
		ctx_error(e, c, tmo_ms, label, what);
		return NULL;
	}
	r = resp_command(c, tmo_ms, label, what, e);
	if (!r)
		return NULL;
	if (r->type == REDIS_REPLY_ERROR) {
		err_set(e, EIO, "%s: %s: %s", label, what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}


/* Connect with connect and command timeouts, and AUTH when a password is set. */
redisContext *rc_connect(const char *label, const char *address, int port,
			 const struct rc_opts *o, struct err *e)
{
	int ms = rc_opt_timeout_ms(o);
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(address, port, tv);
	_cleanup_reply_ redisReply *r = NULL;

	if (!c) {
		err_set(e, ENOMEM, "%s: connect: cannot allocate a hiredis context", label);
		return NULL;
	}
	if (c->err) {
		ctx_error(e, c, ms, label, "connect");
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		ctx_error(e, c, ms, label, "set timeout");
		redisFree(c);
		return NULL;
	}
	resp_reader_bound(c->reader);
	if (o && o->password && *o->password) {
		r = CALL(c, ms, label, e, "AUTH", o->password);
		if (!r) {
			if (e && e->code == EIO) /* an error reply: WRONGPASS and the like */
				e->code = EACCES;
			redisFree(c);
			return NULL;
		}
	}
	return c;
}

void rc_sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
