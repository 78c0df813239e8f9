/* monitor_fsm.h - what `shoal monitor` decides, as pure state machines of a
 * node and of a host (docs/monitor.md draws them).
 *
 * No I/O and no clock: every input carries `now` (milliseconds on any
 * monotonic clock), so the unit tests drive them with a fake clock.  An input
 * may produce a decision (struct mon_decision): an event to log and perhaps
 * an action for the caller to take (kill the node through its agent,
 * reconnect a host).  The caller does the I/O and feeds the outcome back.
 */
#ifndef SHOAL_MONITOR_FSM_H
#define SHOAL_MONITOR_FSM_H

#include <stdbool.h>
#include <stdint.h>

/* Defaults (docs/monitor.md): how long a node may take to answer again after
 * it exited or was killed before an alert is raised, and the host
 * reconnect backoff. */
#define MON_BACK_WITHIN_MS 15000
#define MON_BACKOFF_FIRST_MS 500
#define MON_BACKOFF_MAX_MS 10000

struct mon_params {
	int fail_after;          /* failed probes in a row before a running node is hung */
	int64_t back_within_ms;  /* exited/killed -> answering again, else alert */
	int64_t host_timeout_ms; /* no answer from a host's agent this long: unreachable */
};

enum mon_node_state {
	MN_UNKNOWN = 0, /* not probed yet (monitor start, host back) */
	MN_UP,          /* the last probe answered */
	MN_SUSPECT,     /* probes fail, fewer than fail_after in a row */
	MN_HUNG,        /* fail_after probes failed while running: killed */
	MN_EXITED,      /* the agent reported its exit; it restarts it */
	MN_DOWN,        /* not back within back_within_ms: alert raised */
	MN_HOST_DOWN,   /* its host is unreachable */
};
const char *mon_node_state_name(enum mon_node_state s);

enum mon_action {
	MA_NONE = 0,
	MA_KILL,        /* node.kill signal 9 through the node's agent */
	MA_RECONNECT,   /* open the host's agent connection again */
	MA_DISCONNECT,  /* close the host's agent connection (it stopped answering) */
};

/* An event to log (event == NULL: nothing happened) and an action. */
struct mon_decision {
	const char *event;       /* "node-exited", "node-hung", "node-back"... */
	const char *done;        /* what the monitor does about it */
	int64_t duration_ms;     /* how long the incident (or old state) lasted; -1 none */
	enum mon_action action;
};

struct mon_node {
	enum mon_node_state state;
	int64_t since_ms;        /* when state was entered */
	int64_t incident_ms;     /* first failed probe or exit of the current incident */
	int fails;               /* failed probes in a row */
	bool running;            /* the agent says its process runs */
	int kills;               /* kills decided by the monitor */
	int recoveries;          /* incidents that ended with the node answering */
	int64_t last_detect_ms;  /* detection time of the last incident (for metrics) */
	int64_t last_repair_ms;  /* incident start -> answering again, last one */
};

void mon_node_init(struct mon_node *n, int64_t now);
/* A probe finished: ok or not. agent_answers: the node's agent answered
 * after this probe began (a failed probe counts toward "hung" always, but
 * the kill is decided only while the agent is seen alive). */
struct mon_decision mon_node_probe(struct mon_node *n, const struct mon_params *p,
				   int64_t now, bool ok, bool agent_answers);
/* The agent reported `exited` (the agent restarts it by policy). */
struct mon_decision mon_node_exited(struct mon_node *n, const struct mon_params *p,
				    int64_t now);
/* The agent reported `started` or `adopted`, or listed it running. */
void mon_node_running(struct mon_node *n, bool running);
/* Time passes: raises the "not back" alert once. */
struct mon_decision mon_node_tick(struct mon_node *n, const struct mon_params *p,
				  int64_t now);
/* Its host became unreachable / reachable again. */
void mon_node_host(struct mon_node *n, bool host_up, int64_t now);
/* Should it be probed now?  (not while its host is down) */
bool mon_node_probed(const struct mon_node *n);

enum mon_host_state {
	MH_CONNECTING = 0, /* first connection not made yet */
	MH_UP,             /* connected, its agent answers */
	MH_DOWN,           /* unreachable: reconnecting with backoff */
};
const char *mon_host_state_name(enum mon_host_state s);

struct mon_host {
	enum mon_host_state state;
	int64_t since_ms;
	int64_t last_answer_ms;  /* last message from its agent */
	int64_t next_attempt_ms; /* MH_DOWN / MH_CONNECTING: when to connect again */
	int64_t backoff_ms;
	bool attempting;         /* a connection attempt runs */
	int reconnects;          /* successful connections after the first */
};

void mon_host_init(struct mon_host *h, int64_t now);
/* A connection attempt started / succeeded / failed. */
void mon_host_attempt(struct mon_host *h);
struct mon_decision mon_host_connected(struct mon_host *h, int64_t now);
struct mon_decision mon_host_failed(struct mon_host *h, int64_t now);
/* Something arrived from its agent. */
void mon_host_answer(struct mon_host *h, int64_t now);
/* The connection ended (EOF, error). */
struct mon_decision mon_host_lost(struct mon_host *h, int64_t now);
/* Time passes: MA_DISCONNECT when an up host has been silent longer than
 * host_timeout_ms (the caller closes it, then calls mon_host_lost);
 * MA_RECONNECT when a down host's next attempt is due. */
struct mon_decision mon_host_tick(struct mon_host *h, const struct mon_params *p,
				  int64_t now);

/* More than half of the hosts unreachable: hold (no repair) and alert.
 * Returns the event for a change of the hold ("cluster-hold" /
 * "cluster-resume") or NULL; *held is updated. */
const char *mon_cluster_hold(bool *held, int nhosts, int ndown);

#endif
