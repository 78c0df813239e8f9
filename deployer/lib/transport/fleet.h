/* fleet.h - connections to many hosts at once, each with its agent.
 *
 * fleet_connect() opens, in parallel (bounded), a transport to every chosen
 * host of a spec, bootstraps shoal-agent there, opens the agent channel and
 * says hello.  A host that fails keeps its error in its slot; the others go
 * on.  The commands that act on a cluster (up, status, down, exec, logs) all
 * start here, so "reach every host" behaves and reports the same everywhere.
 */
#ifndef SHOAL_FLEET_H
#define SHOAL_FLEET_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "agent_client.h"
#include "err.h"
#include "spec.h"
#include "transport.h"

#define FLEET_PARALLEL 16
#define FLEET_CALL_TIMEOUT_MS 30000

struct fleet_host {
	const struct spec_host *host; /* borrowed from the spec */
	bool wanted;                  /* asked for by the caller */
	struct transport *t;          /* NULL when not connected */
	struct agent_client *agent;   /* NULL when not connected */
	bool no_agent;                /* look_only: no agent runs there (agent NULL) */
	int rc;                       /* 0 connected, -1 failed (err) */
	struct err err;
	int64_t connect_ms;
	bool agent_started;           /* connecting started its agent daemon
					 (none ran, or another build's did):
					 the agent's uptime is shorter than
					 the connection attempt */
	pthread_mutex_t call_lock;    /* held through each fleet_call: the
					 agent client is not thread-safe */
};

struct fleet {
	const struct spec *spec;
	struct fleet_host *hosts;     /* one per spec host, in spec order */
	size_t n;
};

/* Connect to every host i with want[i] (want NULL: every host).  Returns 0
 * when every wanted host connected; -1 when any failed (each failure is in
 * its slot, e summarises "2 of 5 hosts unreachable: h2: ...").  *out is set
 * in both cases; free it with fleet_close(). */
int fleet_connect(const struct spec *s, const bool *want,
		  const struct transport_opts *o, struct fleet **out,
		  struct err *e);
void fleet_close(struct fleet *f);

/* Close host i's agent client and transport (whatever state they are in:
 * the agent may be dead) and connect again as fleet_connect did.  0 when
 * connected; -1 with e (also in the slot). */
int fleet_reconnect(struct fleet *f, size_t i, const struct transport_opts *o,
		    struct err *e);

/* The slot of host `name`, or NULL. */
struct fleet_host *fleet_host(struct fleet *f, const char *name);

/* agent_call on one host with FLEET_CALL_TIMEOUT_MS, its error prefixed with
 * the host name.  req is stolen.  Threads may call it (and
 * fleet_call_stream) on the same host at once: the calls take turns. */
int fleet_call(struct fleet_host *h, json_t *req, json_t **resp,
	       struct err *e);
/* agent_call_stream on one host, its error prefixed with the host name,
 * taking turns with the other calls on that host as fleet_call does (a
 * driver's per-node steps run on threads of their own). */
int fleet_call_stream(struct fleet_host *h, json_t *req, agent_stream_cb cb, void *arg,
		      json_t **resp, int timeout_ms, struct err *e);

/* The next agent event of host h that has arrived (queued, or waiting on
 * the channel), without waiting: 1 with *ev (caller decrefs), 0 when none
 * (or not connected), -1 on error.  Takes turns with the calls. */
int fleet_next_event(struct fleet_host *h, json_t **ev, struct err *e);

/* Run fn(f, host index, arg) for every connected wanted host, in parallel
 * (bounded by FLEET_PARALLEL).  Each call must only touch its own host's
 * slot (and what it owns).  Returns the number of calls that failed. */
typedef int (*fleet_fn)(struct fleet *f, size_t i, void *arg);
int fleet_each(struct fleet *f, fleet_fn fn, void *arg);

#endif
