/* monitor.h - `shoal monitor`: watch a cluster and heal what a node's own
 * supervision cannot (docs/monitor.md).
 *
 * One process per cluster, one libevent loop, no thread per node:
 *   - per host, one agent connection with `events.subscribe` on (an exit
 *     arrives in milliseconds) and a `hello` heartbeat every interval_ms;
 *     connecting runs in a short-lived thread per attempt (SSH handshakes
 *     block), whose result the loop picks up through a pipe; unreachable
 *     hosts are retried with backoff;
 *   - per node, a probe timer (db/probe.h on the loop) every interval_ms
 *     with timeout_ms, the template's health probe;
 *   - the decisions of monitor_fsm.h, each an event appended to the
 *     cluster's events.jsonl (time, node, host, seen, done, duration_ms);
 *   - a host unreachable for monitor.reschedule_after_s: its nodes moved to
 *     the other hosts by `up` planned without it (converge.h, without_hosts),
 *     on a thread; a host that comes back has the nodes moved away fenced
 *     (stopped and removed through its agent);
 *   - HTTP on monitor.listen: /status, /metrics (Prometheus text), /events.
 * It holds <state dir>/monitor.lock for its whole life: a second monitor of
 * the cluster is refused, naming the holder.  It takes the state lock and
 * writes state.json only while it reschedules (as `up`), so `shoal up` runs
 * beside it otherwise.
 */
#ifndef SHOAL_MONITOR_H
#define SHOAL_MONITOR_H

#include <stdbool.h>

#include "err.h"

#define MONITOR_LOCK_FILE "monitor.lock"

struct monitor_opts {
	bool once;          /* connect, probe every node once, print, exit */
	bool foreground;    /* else detach (logs in <state dir>/monitor.log) */
	const char *listen; /* overrides monitor.listen ("" : no HTTP) */
	bool accept_new_host_keys;
};

/* Run the monitor of the cluster of spec_path until SIGTERM/SIGINT (or one
 * round with once).  Returns 0 on a clean stop (once: every host reachable
 * and every node answering), -1 with e otherwise (a second monitor: EBUSY
 * naming the holder). */
int monitor_run(const char *spec_path, const struct monitor_opts *o, struct err *e);

/* Ask the running monitor of the cluster of spec_path to read the spec and
 * state again (SIGHUP; it must run on this machine).  *pid gets it. */
int monitor_reload(const char *spec_path, long *pid, struct err *e);

#endif
