/* probe.h - protocol-level readiness and health probes.
 *
 * Kinds (one backend each, behind struct probe_ops in probe.c):
 *   tcp    connect succeeds;
 *   redis  hiredis: AUTH when a password is given, PING must answer PONG (a
 *          LOADING error means "not ready yet"); with `cluster` set, CLUSTER
 *          INFO must say cluster_state:ok (its slot counts are reported);
 *   http   libcurl GET http://host:port/path must answer 200 with the body
 *          `expect` when set (Riak: GET /ping -> "OK");
 *   cql    Cassandra native protocol v4: OPTIONS must answer SUPPORTED.
 *
 * Every probe has a connect timeout and a read timeout and never blocks:
 * probe_start() opens a non-blocking connection; the caller waits until
 * probe_fd() is ready for probe_events() (or probe_timeout_ms() passes) and
 * calls probe_step(), until it returns something other than PROBE_PENDING.
 * That is how a libevent loop drives many probes at once (one event per
 * probe, re-armed after each step).  probe_run() is the same loop done
 * synchronously with poll(2).
 *
 * A redis probe may keep its connection for the next probe of the same node
 * (probe_target.conn): the first probe connects and sends AUTH and PING;
 * while probes answer PONG the connection stays open and each later probe
 * sends only PING (and CLUSTER INFO), under the same read timeout and reply
 * cap.  Any other result closes it, so the next probe connects (and
 * authenticates) again; a kept connection found closed by the peer (or one
 * that breaks before a reply byte arrives) is replaced by a new one within
 * the same probe.  Results mean what they mean without a kept connection.
 *
 * The target host should be an IP literal: a name is resolved with a
 * (blocking) getaddrinfo() in probe_start().
 *
 * Probes only ever connect where they are told; they send fixed requests and
 * parse replies with hiredis / libcurl / a bounded frame reader.
 */
#ifndef SHOAL_PROBE_H
#define SHOAL_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "probe_kind.h"

enum probe_result {
	PROBE_PENDING = -1, /* probe_step(): not finished, wait again */
	PROBE_OK = 0,
	PROBE_REFUSED,       /* connection refused / unreachable */
	PROBE_TIMEOUT,       /* connect or read timeout */
	PROBE_LOADING,       /* redis is loading its dataset: alive, not ready */
	PROBE_AUTH,          /* authentication refused */
	PROBE_CLUSTER_DOWN,  /* redis cluster_state is not ok */
	PROBE_BAD_REPLY,     /* the peer answered something else */
	PROBE_ERROR,         /* local failure (socket, resolve) */
};

/* "ok", "refused", "timeout", "loading", "auth", "cluster-down",
 * "bad-reply", "error" ("pending" for PROBE_PENDING). */
const char *probe_result_name(enum probe_result r);

struct probe_target {
	enum probe_kind kind;
	const char *host;       /* IP literal or name */
	int port;
	int connect_timeout_ms; /* <= 0: 1000 */
	int read_timeout_ms;    /* <= 0: 1000 */
	const char *password;   /* redis: AUTH when non-NULL and non-empty */
	bool cluster;           /* redis: also require cluster_state:ok */
	const char *path;       /* http: default "/" */
	const char *expect;     /* http: body must equal this (after trimming
				 * trailing whitespace); NULL: any body */
	struct probe_conn *conn; /* redis: keep the connection here between
				 * probes (one probe at a time per conn; it
				 * must outlive them); NULL: one per probe */
};

/* What a finished probe saw. */
struct probe_report {
	enum probe_result result;
	char detail[256];       /* "PONG", "cluster_state:fail", "HTTP 500"... */
	int64_t elapsed_ms;
	/* redis with cluster set: parsed from CLUSTER INFO */
	int slots_assigned, slots_ok, known_nodes, cluster_size;
};

struct probe;

/* A kept connection (see above): new has none; close closes an idle one
 * (e.g. when the node's host is lost); free closes and frees.  NULL-safe
 * close and free. */
struct probe_conn;
struct probe_conn *probe_conn_new(void);
void probe_conn_close(struct probe_conn *c);
void probe_conn_free(struct probe_conn *c);

/* Start a probe.  Returns NULL only on bad arguments (e filled); a failure to
 * connect is a probe result, not an error. */
struct probe *probe_start(const struct probe_target *t, struct err *e);
/* The descriptor to wait on, and POLLIN/POLLOUT; -1 when none (the next
 * probe_step() finishes without waiting). */
int probe_fd(const struct probe *p);
short probe_events(const struct probe *p);
/* Milliseconds until the current phase times out (>= 0). */
int probe_timeout_ms(const struct probe *p);
/* Advance; returns PROBE_PENDING or the final result (then see
 * probe_report()). Calling it after a timeout finishes with PROBE_TIMEOUT. */
enum probe_result probe_step(struct probe *p);
const struct probe_report *probe_report(const struct probe *p);
void probe_free(struct probe *p);

/* Run one probe to completion synchronously; fills r.  Returns 0 when the
 * probe ran (whatever its result), -1 with e on bad arguments. */
int probe_run(const struct probe_target *t, struct probe_report *r,
	      struct err *e);

/* ---- on a libevent loop ------------------------------------------------------
 * probe_event_start() runs a probe on `base` without blocking it: one event
 * per probe, re-armed after each step (the descriptor may change, e.g. when
 * libcurl reconnects).  When the probe finishes, done(report, arg) is called
 * once from the loop and the probe frees itself; the report is valid during
 * the call only.  probe_event_cancel() stops a running probe without calling
 * done (NULL-safe; only before done has run). */
struct event_base;
struct probe_event;
typedef void (*probe_done_fn)(const struct probe_report *r, void *arg);
struct probe_event *probe_event_start(struct event_base *base,
				      const struct probe_target *t, probe_done_fn done,
				      void *arg, struct err *e);
void probe_event_cancel(struct probe_event *pe);

#endif
