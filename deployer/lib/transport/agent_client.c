/* agent_client.c - agent protocol client (see agent_client.h). */
#include <errno.h>
#include <string.h>

#include "agent_client.h"
#include "jsonl.h"
#include "util.h"

struct agent_client {
	struct tchan *ch;
	struct jsonl_reader rd;
	json_int_t next_id;
	agent_event_cb on_event;
	void *event_arg;
	agent_answer_cb on_answer;
	void *answer_arg;
	json_t *queue;     /* events waiting for agent_client_next_event */
	size_t dropped;    /* events dropped past AGENT_EVENTS_QUEUED_MAX */
	bool eof;
};

struct agent_client *agent_client_new(struct tchan *ch)
{
	struct agent_client *c = xcalloc(1, sizeof *c);

	c->ch = ch;
	c->next_id = 1;
	c->queue = json_array();
	jsonl_reader_init(&c->rd, JSONL_LINE_MAX);
	return c;
}

int agent_client_close(struct agent_client *c, struct run_result *res,
		       struct err *e)
{
	int rc = 0;

	if (!c)
		return 0;
	if (c->ch)
		rc = tchan_close(c->ch, res, e);
	c->ch = NULL;
	jsonl_reader_free(&c->rd);
	json_decref(c->queue);
	free(c);
	return rc;
}

void agent_client_free(struct agent_client *c)
{
	agent_client_close(c, NULL, NULL);
}

void agent_client_on_event(struct agent_client *c, agent_event_cb cb, void *arg)
{
	c->on_event = cb;
	c->event_arg = arg;
}

void agent_client_on_answer(struct agent_client *c, agent_answer_cb cb, void *arg)
{
	c->on_answer = cb;
	c->answer_arg = arg;
}

int agent_send(struct agent_client *c, json_t *req, json_int_t *id, struct err *e)
{
	struct buf line = {0};
	int rc;

	*id = c->next_id++;
	json_object_set_new(req, "id", json_integer(*id));
	rc = jsonl_encode(req, &line, e);
	json_decref(req);
	if (rc == 0)
		rc = tchan_write(c->ch, line.data, line.len, e);
	buf_free(&line);
	return rc;
}

/* Map an errno name from the wire back to its number (0 when unknown). */
static int errno_from_name(const char *name)
{
	for (int i = 1; name && i < 256; i++) {
		const char *n = strerrorname_np(i);

		if (n && !strcmp(n, name))
			return i;
	}
	return 0;
}

static void queue_event(struct agent_client *c, json_t *msg)
{
	if (json_array_size(c->queue) >= AGENT_EVENTS_QUEUED_MAX)
		c->dropped++;
	else
		json_array_append(c->queue, msg);
}

static void dispatch_event(struct agent_client *c, json_t *msg)
{
	if (c->on_event)
		c->on_event(c->event_arg, msg);
	else
		queue_event(c, msg);
}

/* Read once (waiting up to timeout_ms) and feed the line reader. */
static int fill(struct agent_client *c, int timeout_ms, struct err *e)
{
	char tmp[65536];
	ssize_t n;

	if (c->eof)
		return err_set(e, EPIPE, "%s: agent closed the session", c->ch->name);
	n = tchan_read(c->ch, tmp, sizeof tmp, timeout_ms, e);
	if (n < 0)
		return -1;
	if (n == 0) {
		c->eof = true;
		if (c->ch->err_tail.len)
			return err_set(e, EPIPE, "%s: agent closed the session: %s",
				       c->ch->name, c->ch->err_tail.data);
		return err_set(e, EPIPE, "%s: agent closed the session", c->ch->name);
	}
	jsonl_feed(&c->rd, tmp, (size_t)n);
	return 0;
}

/* Next complete message, or NULL (none buffered; or error when e->code). */
static json_t *next_msg(struct agent_client *c, struct err *e)
{
	char *line = NULL;
	json_t *m;
	int r;

	err_clear(e);
	r = jsonl_next(&c->rd, &line, e);
	if (r <= 0) {
		if (r < 0)
			err_wrap(e, "%s: from agent", c->ch->name);
		return NULL;
	}
	m = jsonl_parse(line, e);
	free(line);
	if (!m)
		err_wrap(e, "%s: from agent", c->ch->name);
	return m;
}

int agent_call_stream(struct agent_client *c, json_t *req, agent_stream_cb cb,
		      void *arg, json_t **resp, int timeout_ms, struct err *e)
{
	json_int_t id = c->next_id++;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct buf line = {0};
	_cleanup_free_ char *op = NULL;
	int rc;

	if (resp)
		*resp = NULL;
	op = xstrdup(json_string_value(json_object_get(req, "op")) ?: "request");
	json_object_set_new(req, "id", json_integer(id));
	rc = jsonl_encode(req, &line, e);
	json_decref(req);
	if (rc == 0)
		rc = tchan_write(c->ch, line.data, line.len, e);
	buf_free(&line);
	if (rc < 0)
		return err_wrap(e, "%s", op);
	for (;;) {
		json_t *m, *mid;

		/* Checked every round: an agent that never stops sending
		 * (events, streams, stray answers) must not stretch the call. */
		if (deadline >= 0 && now_ms() >= deadline)
			return err_set(e, ETIMEDOUT, "%s: no answer within %d ms", op,
				       timeout_ms);
		m = next_msg(c, e);
		if (!m) {
			int left = deadline < 0 ? -1 : (int)(deadline - now_ms());

			if (e->code)
				return -1;
			if (deadline >= 0 && left <= 0)
				return err_set(e, ETIMEDOUT, "%s: no answer within %d ms",
					       op, timeout_ms);
			if (fill(c, left, e) < 0)
				return err_wrap(e, "%s", op);
			continue;
		}
		if (json_object_get(m, "event")) {
			dispatch_event(c, m);
			json_decref(m);
			continue;
		}
		mid = json_object_get(m, "id");
		if (json_is_integer(mid) && json_integer_value(mid) == id &&
		    json_object_get(m, "stream")) {
			if (cb)
				cb(arg, m);
			json_decref(m);
			continue;
		}
		if (!json_is_integer(mid) || json_integer_value(mid) != id) {
			/* An error about an unparseable line has id null: it
			 * can only be about something we sent. */
			if (json_is_null(mid) && json_is_false(json_object_get(m, "ok"))) {
				err_set(e, EPROTO, "%s: agent: %s", op,
					json_string_value(json_object_get(
						json_object_get(m, "error"), "message")) ?: "?");
				json_decref(m);
				return -1;
			}
			json_decref(m);   /* a late answer to an abandoned call */
			continue;
		}
		if (json_is_true(json_object_get(m, "ok"))) {
			if (resp)
				*resp = m;
			else
				json_decref(m);
			return 0;
		}
		json_t *er = json_object_get(m, "error");
		const char *code = json_string_value(json_object_get(er, "code"));
		const char *msg = json_string_value(json_object_get(er, "message"));

		err_set(e, errno_from_name(code), "%s: %s", op, msg ? msg : "failed");
		if (code && !strcmp(code, "EINVAL"))
			e->exit = ERR_EXIT_USAGE;
		json_decref(m);
		return -1;
	}
}

int agent_call(struct agent_client *c, json_t *req, json_t **resp,
	       int timeout_ms, struct err *e)
{
	return agent_call_stream(c, req, NULL, NULL, resp, timeout_ms, e);
}

int agent_client_next_event(struct agent_client *c, json_t **ev, int timeout_ms,
			    struct err *e)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	*ev = NULL;
	for (;;) {
		json_t *m;

		if (c->dropped) {
			err_set(e, EOVERFLOW, "%s: %zu agent events dropped (more than %d "
				"waiting to be read)", c->ch->name, c->dropped,
				AGENT_EVENTS_QUEUED_MAX);
			c->dropped = 0;
			return -1;
		}
		if (json_array_size(c->queue)) {
			*ev = json_incref(json_array_get(c->queue, 0));
			json_array_remove(c->queue, 0);
			return 1;
		}
		m = next_msg(c, e);
		if (m) {
			if (json_object_get(m, "event"))
				queue_event(c, m);
			json_decref(m);
			if (deadline >= 0 && now_ms() >= deadline && !json_array_size(c->queue))
				return 0;
			continue;
		}
		if (e->code)
			return -1;
		int left = deadline < 0 ? -1 : (int)(deadline - now_ms());

		/* past the deadline (or a timeout of 0) it still reads what
		 * has arrived, without waiting: else an event the agent sent
		 * waits in the socket until some call happens to read it */
		if (fill(c, left < 0 && deadline >= 0 ? 0 : left, e) < 0)
			return e->code == ETIMEDOUT ? 0 : -1;
	}
}

int agent_client_pollfd(struct agent_client *c)
{
	return tchan_pollfd(c->ch);
}

int agent_client_pump(struct agent_client *c, struct err *e)
{
	json_t *m;

	/* Read until nothing is left: a transport may hold decoded bytes
	 * (libssh2 does) that no longer make the descriptor readable. */
	for (;;) {
		if (fill(c, 0, e) < 0)
			return e->code == ETIMEDOUT ? 0 : -1;
		while ((m = next_msg(c, e))) {
			if (json_object_get(m, "event"))
				dispatch_event(c, m);
			else if (c->on_answer && json_is_integer(json_object_get(m, "id")))
				c->on_answer(c->answer_arg, m);
			json_decref(m);
		}
		if (e->code)
			return -1;
	}
}
