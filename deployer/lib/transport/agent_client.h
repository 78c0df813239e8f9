/* agent_client.h - the operator's side of the agent protocol
 * (docs/agent-protocol.md) over any transport channel.
 *
 *     struct tchan *ch;               // ssh: `shoal-agent connect`, or local
 *     tchan_spawn_local("agent", argv, &ch, &e);
 *     struct agent_client *c = agent_client_new(ch);
 *     json_t *resp;
 *     if (agent_call(c, json_pack("{s:s}", "op", "hello"), &resp, 5000, &e) < 0)
 *             ...                     // e: "hello: ENOENT: ..." etc.
 *     json_decref(resp);
 *     agent_client_free(c);
 *
 * Requests get increasing ids; answers are matched by id.  Events
 * ({"event":...}) that arrive while waiting go to the event callback, or are
 * queued for agent_client_next_event() when none is set.  Not thread-safe:
 * one client per thread (or per event loop).
 */
#ifndef SHOAL_AGENT_CLIENT_H
#define SHOAL_AGENT_CLIENT_H

#include <jansson.h>

#include "err.h"
#include "transport.h"

struct agent_client;

/* Bounds on what an agent can make the operator hold: lines are at most
 * JSONL_LINE_MAX bytes (a longer one is dropped and reported); at most this
 * many events wait for agent_client_next_event (more are dropped, and the
 * next call reports how many, EOVERFLOW); and a call's timeout is wall
 * clock, checked whatever the agent keeps sending. */
#define AGENT_EVENTS_QUEUED_MAX 4096

/* Messages of a stream (exec output, followed logs) belonging to one request:
 * {"id":N,"stream":"stdout"|"stderr"|"log","data":"..."}.  msg is borrowed. */
typedef void (*agent_stream_cb)(void *arg, json_t *msg);
/* An event ({"event":"exited","cluster":...,"node":...,...}); borrowed. */
typedef void (*agent_event_cb)(void *arg, json_t *ev);

/* Wrap a channel to a running agent; the client owns ch from now on. */
struct agent_client *agent_client_new(struct tchan *ch);
/* Close the channel (the agent sees EOF) and free.  NULL is fine.  res (may
 * be NULL) gets how the remote process ended. */
int agent_client_close(struct agent_client *c, struct run_result *res,
		       struct err *e);
void agent_client_free(struct agent_client *c);

/* Send req (stolen; "id" is set here) and wait up to timeout_ms (< 0: no
 * limit) for its answer.  On ok:true, *resp (may be NULL to discard) is the
 * whole answer (caller decrefs).  On ok:false the agent's error becomes e:
 * e->code is the errno its code names, the message is "<op>: <message>".
 * Transport failures, a timeout or a malformed answer also return -1. */
int agent_call(struct agent_client *c, json_t *req, json_t **resp,
	       int timeout_ms, struct err *e);
/* Like agent_call for requests that stream (exec, logs with follow): every
 * stream message for this request goes to cb before the final answer. */
int agent_call_stream(struct agent_client *c, json_t *req, agent_stream_cb cb,
		      void *arg, json_t **resp, int timeout_ms, struct err *e);

/* Deliver events to cb instead of queueing them (cb NULL: queue again). */
void agent_client_on_event(struct agent_client *c, agent_event_cb cb, void *arg);
/* Wait up to timeout_ms for the next event, queued or arrived on the
 * channel (timeout 0: what has arrived, without waiting).  Returns 1 with
 * *ev (caller decrefs), 0 on timeout, -1 on error or end of stream. */
int agent_client_next_event(struct agent_client *c, json_t **ev, int timeout_ms,
			    struct err *e);

/* For event loops: the fd that becomes readable when the agent sent
 * something, and a call that reads what is there without blocking and
 * dispatches it (events to the callback/queue).  Returns -1 when the
 * channel ended or failed. */
int agent_client_pollfd(struct agent_client *c);
/* Answers that arrive during agent_client_pump() go to cb (msg borrowed;
 * without it they are dropped).  For clients that never wait in
 * agent_call: send with agent_send() and match the answer by *id. */
typedef void (*agent_answer_cb)(void *arg, json_t *msg);
void agent_client_on_answer(struct agent_client *c, agent_answer_cb cb, void *arg);
/* Send req (stolen) without waiting; *id gets its id. */
int agent_send(struct agent_client *c, json_t *req, json_int_t *id, struct err *e);
int agent_client_pump(struct agent_client *c, struct err *e);

#endif
