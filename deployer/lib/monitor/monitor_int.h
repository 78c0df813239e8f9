/* monitor_int.h - what the files of `shoal monitor` share: the monitor, its
 * hosts and its nodes.
 *
 *   monitor.c          the loop: agent connections, events, probes, fencing,
 *                      the tick, set-up and reload
 *   monitor_resched.c  nodes of a host gone for reschedule_after_s placed
 *                      on the others (`up` without it, on a thread); the
 *                      fail-back of a master that came back (`up`, on
 *                      the same thread slot)
 *   monitor_http.c     /status (`shoal status --json` on a thread), /metrics
 *                      and /events over evhttp
 *
 * Private to those files; nothing here is a stable interface.
 */
#ifndef SHOAL_MONITOR_INT_H
#define SHOAL_MONITOR_INT_H

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_client.h"
#include "converge_int.h"
#include "monitor.h"
#include "monitor_fsm.h"
#include "monitor_leader.h"
#include "probe.h"
#include "transport.h"
#include "util.h"

/* a reschedule that failed (say an `up` held the state lock, or the
 * database had not failed over yet) is tried again this much later */
#define RESCHEDULE_RETRY_MS 3000
#define RESCHEDULE_RETRY_MAX_MS 30000
/* monitor.fail_back: this long after a recorded master came back (its
 * replica copy catches up meanwhile; the `up` waits for it too) */
#define FAILBACK_AFTER_MS 5000
/* probe_seconds histogram buckets (monitor.c) */
#define NBUCKETS 12
extern const double mon_probe_buckets[NBUCKETS];

struct mon;

struct mhost {
	struct mon *m;
	const struct spec_host *sh;
	size_t index;
	struct mon_host fsm;
	struct transport *t;          /* loop's, when up */
	struct agent_client *ac;
	struct event *rd;
	json_int_t hb_id;             /* pending heartbeat, 0 none */
	int64_t hb_sent_ms;
	/* connector thread: owns these until it writes our index to the pipe */
	pthread_t th;
	struct transport *old_t;      /* closed by the thread first */
	struct agent_client *old_ac;
	struct transport *new_t;
	struct agent_client *new_ac;
	json_t *listed;               /* node.list answer of the new connection */
	struct err conn_err;
	int conn_rc;
	struct err last_err;          /* why it is unreachable */
	json_t *fence;                /* node.list to fence (host_fence), or NULL */
	json_t *fencing;              /* {request id: node} of node.remove sent */
	int64_t fence_due_ms;
};

struct mnode {
	struct mon *m;
	const struct state_node *sn;
	struct mhost *h;
	struct mon_node fsm;
	struct probe_target pt;
	struct probe_event *pe;
	struct probe_conn *pc;        /* the probe's kept connection (redis) */
	int64_t next_probe_ms;
	int probes;                   /* finished probes */
	enum probe_result last;
	json_int_t restarts;          /* as the agent reports */
	json_int_t kill_id;
	uint64_t bucket[NBUCKETS];
	uint64_t count;
	double sum;
};

struct mon {
	struct cluster c;
	struct state_lock *lock;
	struct leader_gate *gate;     /* etcd store: act only while leading */
	const struct monitor_opts *o;
	struct event_base *base;
	struct mon_params p;
	int interval_ms, timeout_ms;
	struct mhost *hosts;
	size_t nhosts;
	struct mnode *nodes;
	size_t nnodes;
	struct evhttp *http;
	struct event *tick, *wake, *sigterm, *sigint, *sighup;
	const char *spec_path;
	int pipe[2];
	json_t *recent;
	bool held;
	char started[32];
	int64_t start_ms;
	uint64_t nevents;
	int64_t once_deadline;
	int failed_once;
	/* rescheduling (one at a time, on its own thread: it runs `up`) */
	bool resched_running;
	pthread_t resched_th;
	char **resched_hosts;         /* strv: the hosts it plans around */
	char **resched_nodes;         /* strv: their nodes, as recorded */
	int64_t resched_lost_ms;      /* when the first of them went */
	int64_t resched_start_ms;
	int64_t resched_next_ms;      /* no attempt before */
	int64_t resched_retry_ms;     /* after a failure: RESCHEDULE_RETRY_MS doubling */
	struct err resched_err;
	int resched_rc;
	int reschedules;              /* done */
	int64_t last_resched_ms;      /* host lost -> nodes running elsewhere */
	bool resched_finished;        /* set by its thread (atomic), seen by the tick */
	int64_t resched_token;        /* the leader's fencing token it runs under */
	bool resched_followed;        /* a follower logged that it leaves it to the leader */
	/* fail-back (monitor.fail_back): an `up` on the same thread slot,
	 * resched_hosts empty */
	bool failback;                /* the running `up` is a fail-back */
	int64_t failback_due_ms;      /* 0: none wanted */
	int64_t failback_retry_ms;    /* after a failure: RESCHEDULE_RETRY_MS
					 doubling to _MAX_MS; 0 after a success */
	int failed_back;              /* masters the last fail-back gave back */
	int failbacks;                /* fail-backs that gave a master back */
	/* /status: the document of `shoal status --json`, rebuilt on a thread */
	struct status_job *sj;        /* running, or NULL */
	json_t *status_doc;           /* the last one built, or NULL */
	int64_t status_next_ms;
	int64_t status_asked_ms;      /* last GET /status; 0 never */
};

static inline int64_t mono_ms(void)
{
	return now_ms();
}

/* ---- monitor.c ---- */

/* Log one decision: events.jsonl (fsynced), the recent ring for /events, and
 * a line on stderr. */
void mon_event(struct mon *m, const char *type, const char *node, const char *host,
	       const char *seen, const char *done, int64_t duration_ms);
/* Read the spec and state.json again and watch what they say now; false
 * when they do not load (the old view is kept). */
bool mon_reload(struct mon *m, const char *why);

/* ---- monitor_resched.c ---- */

/* Start a reschedule of the hosts unreachable past reschedule_after_s
 * that have nodes (leader only, one at a time, on a thread). */
void mon_reschedule_start(struct mon *m, int64_t now);
/* A recorded master answers again (node-back, or its host reachable):
 * with monitor.fail_back, a fail-back is due FAILBACK_AFTER_MS later. */
void mon_failback_due(struct mon *m, int64_t now);
/* Start a due fail-back: an `up` (which gives failed-over masters their
 * role back) on the reschedule's thread, when every host and node is up,
 * nothing else runs there, and this monitor leads. */
void mon_failback_start(struct mon *m, int64_t now);
/* The reschedule or fail-back thread finished: log it, reload or retry
 * later.  Watched hosts and nodes are replaced: call it last in a
 * callback. */
void mon_reschedule_end(struct mon *m, int64_t now);

/* ---- monitor_http.c ---- */

/* Build the /status document anew on a thread when due and wanted. */
void mon_status_refresh(struct mon *m, int64_t now);
/* Serve /status, /metrics and /events on listen (ADDRESS:PORT). */
int mon_http_start(struct mon *m, const char *listen, struct err *e);
/* Wait for a /status build in progress; free it and the last document. */
void mon_status_free(struct mon *m);

#endif
