/* resp.c - bounded RESP replies (see resp.h). */
#include "resp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util.h"

static redisReplyObjectFunctions bounded_fn;
static void *(*base_array)(const redisReadTask *, int);
static pthread_once_t bounded_once = PTHREAD_ONCE_INIT;

static void *bounded_array(const redisReadTask *t, int elements)
{
	if (elements < 0 || elements > RESP_ELEMENTS_MAX)
		return NULL;
	return base_array(t, elements);
}

/* hiredis keeps its default reply functions static: take them from a
 * reader it creates. */
static void bounded_init(void)
{
	redisReader *r = redisReaderCreate();

	if (!r)
		abort();
	bounded_fn = *r->fn;
	base_array = r->fn->createArray;
	bounded_fn.createArray = bounded_array;
	redisReaderFree(r);
}

void resp_reader_bound(redisReader *r)
{
	pthread_once(&bounded_once, bounded_init);
	if (r)
		r->fn = &bounded_fn;
}

/* Mark c failed (hiredis then refuses to write or read on it) and shut its
 * socket down. */
static void poison(redisContext *c, const struct err *e)
{
	c->err = REDIS_ERR_IO;
	snprintf(c->errstr, sizeof c->errstr, "%.*s", (int)sizeof c->errstr - 1, e->msg);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

static redisReply *fail(redisContext *c, struct err *e)
{
	poison(c, e);
	return NULL;
}

redisReply *resp_read_reply(redisContext *c, int64_t deadline, int tmo_ms, size_t max,
			    const char *label, const char *what, struct err *e)
{
	size_t got = 0;

	resp_reader_bound(c->reader);
	for (;;) {
		void *reply = NULL;
		char tmp[16384];
		struct pollfd p = {c->fd, POLLIN, 0};
		int64_t left;
		ssize_t n;
		int r;

		if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
			if (c->reader->err == REDIS_ERR_OOM)
				err_set(e, EMSGSIZE, "%s: %s: reply refused (an array above %d "
					"elements, or out of memory)", label, what,
					RESP_ELEMENTS_MAX);
			else
				err_set(e, EPROTO, "%s: %s: bad reply: %s", label, what,
					c->reader->errstr);
			return fail(c, e);
		}
		if (reply)
			return reply;
		left = deadline - now_ms();
		if (left <= 0) {
			if (got)
				err_set(e, ETIMEDOUT, "%s: %s: timed out after %d ms (%zu "
					"bytes of a reply received)", label, what, tmo_ms, got);
			else
				err_set(e, ETIMEDOUT, "%s: %s: timed out after %d ms", label,
					what, tmo_ms);
			return fail(c, e);
		}
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_sys(e, errno, "%s: %s: poll", label, what);
			return fail(c, e);
		}
		if (r == 0)
			continue;   /* the deadline check above reports it */
		n = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err_sys(e, errno, "%s: %s: read", label, what);
			return fail(c, e);
		}
		if (n == 0) {
			err_set(e, ECONNRESET, "%s: %s: connection closed by the server",
				label, what);
			return fail(c, e);
		}
		got += (size_t)n;
		if (got > max) {
			err_set(e, EMSGSIZE, "%s: %s: reply larger than %zu bytes (cut)",
				label, what, max);
			return fail(c, e);
		}
		if (redisReaderFeed(c->reader, tmp, (size_t)n) != REDIS_OK) {
			err_set(e, EPROTO, "%s: %s: bad reply: %s", label, what,
				c->reader->errstr);
			return fail(c, e);
		}
	}
}

redisReply *resp_command(redisContext *c, int tmo_ms, const char *label,
			 const char *what, struct err *e)
{
	int64_t deadline = now_ms() + tmo_ms;
	int done = 0;

	if (c->err) {
		err_set(e, EIO, "%s: %s: %s", label, what, c->errstr);
		return NULL;
	}
	/* Commands are small: the socket's send timeout bounds each write. */
	while (!done)
		if (redisBufferWrite(c, &done) != REDIS_OK) {
			err_set(e, errno == EAGAIN ? ETIMEDOUT : EIO, "%s: %s: send: %s",
				label, what, c->errstr);
			return NULL;
		}
	return resp_read_reply(c, deadline, tmo_ms, RESP_REPLY_MAX, label, what, e);
}
