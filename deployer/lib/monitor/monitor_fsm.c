/* monitor_fsm.c - the node and host state machines of `shoal monitor`
 * (monitor_fsm.h, docs/monitor.md). */
#include "monitor_fsm.h"

#include <stddef.h>

static const struct mon_decision none = {.duration_ms = -1};

const char *mon_node_state_name(enum mon_node_state s)
{
	static const char *const names[] = {
		[MN_UNKNOWN] = "unknown", [MN_UP] = "up", [MN_SUSPECT] = "suspect",
		[MN_HUNG] = "hung", [MN_EXITED] = "exited", [MN_DOWN] = "down",
		[MN_HOST_DOWN] = "host-down",
	};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

const char *mon_host_state_name(enum mon_host_state s)
{
	static const char *const names[] = {
		[MH_CONNECTING] = "connecting", [MH_UP] = "up", [MH_DOWN] = "unreachable",
	};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "?";
}

/* ---- node ---------------------------------------------------------------------- */

static void node_enter(struct mon_node *n, enum mon_node_state s, int64_t now)
{
	if (n->state != s) {
		n->state = s;
		n->since_ms = now;
	}
}

void mon_node_init(struct mon_node *n, int64_t now)
{
	*n = (struct mon_node){.state = MN_UNKNOWN, .since_ms = now, .incident_ms = -1,
			       .last_detect_ms = -1, .last_repair_ms = -1};
}

static bool in_incident(const struct mon_node *n)
{
	return n->state == MN_HUNG || n->state == MN_EXITED || n->state == MN_DOWN;
}

struct mon_decision mon_node_probe(struct mon_node *n, const struct mon_params *p,
				   int64_t now, bool ok, bool agent_answers)
{
	struct mon_decision d = none;

	if (n->state == MN_HOST_DOWN)
		return d;
	if (ok) {
		if (in_incident(n)) {
			d.event = "node-back";
			d.done = "none: it answers again";
			d.duration_ms = now - n->incident_ms;
			n->recoveries++;
			n->last_repair_ms = d.duration_ms;
		}
		n->fails = 0;
		n->incident_ms = -1;
		node_enter(n, MN_UP, now);
		return d;
	}
	if (n->state == MN_UP || n->state == MN_UNKNOWN || n->state == MN_SUSPECT) {
		if (!n->fails)
			n->incident_ms = now;
		n->fails++;
		node_enter(n, MN_SUSPECT, now);
		/* A node is hung only while its agent answers: a node that is
		 * silent together with its agent is a host or network fault,
		 * which the host state machine handles (a partition must not
		 * kill nodes). */
		if (n->fails >= p->fail_after && n->running && agent_answers) {
			d.event = "node-hung";
			d.done = "killed (SIGKILL) through its agent, which restarts it";
			d.duration_ms = now - n->incident_ms;
			d.action = MA_KILL;
			n->kills++;
			n->last_detect_ms = d.duration_ms;
			node_enter(n, MN_HUNG, now);
		}
		return d;
	}
	/* HUNG, EXITED, DOWN: still not answering; tick raises the alert. */
	return mon_node_tick(n, p, now);
}

struct mon_decision mon_node_exited(struct mon_node *n, const struct mon_params *p,
				    int64_t now)
{
	struct mon_decision d = none;

	n->running = false;
	if (n->state == MN_HUNG) /* our own kill */
		return d;
	if (n->incident_ms < 0 || !in_incident(n))
		n->incident_ms = now;
	d.event = "node-exited";
	d.done = "its agent restarts it; the monitor waits for it to answer";
	d.duration_ms = 0;
	n->last_detect_ms = 0;
	n->fails = 0;
	node_enter(n, MN_EXITED, now);
	return d;
}

void mon_node_running(struct mon_node *n, bool running)
{
	n->running = running;
}

struct mon_decision mon_node_tick(struct mon_node *n, const struct mon_params *p,
				  int64_t now)
{
	struct mon_decision d = none;

	if ((n->state == MN_HUNG || n->state == MN_EXITED) &&
	    now - n->incident_ms > p->back_within_ms) {
		d.event = "node-not-back";
		d.done = "alert: it does not answer; see `shoal logs`";
		d.duration_ms = now - n->incident_ms;
		node_enter(n, MN_DOWN, now);
	}
	return d;
}

void mon_node_host(struct mon_node *n, bool host_up, int64_t now)
{
	if (!host_up) {
		n->fails = 0;
		n->incident_ms = -1;
		node_enter(n, MN_HOST_DOWN, now);
	} else if (n->state == MN_HOST_DOWN) {
		node_enter(n, MN_UNKNOWN, now);
	}
}

bool mon_node_probed(const struct mon_node *n)
{
	return n->state != MN_HOST_DOWN;
}

/* ---- host ---------------------------------------------------------------------- */

static void host_enter(struct mon_host *h, enum mon_host_state s, int64_t now)
{
	if (h->state != s) {
		h->state = s;
		h->since_ms = now;
	}
}

void mon_host_init(struct mon_host *h, int64_t now)
{
	*h = (struct mon_host){.state = MH_CONNECTING, .since_ms = now,
			       .next_attempt_ms = now, .backoff_ms = MON_BACKOFF_FIRST_MS};
}

void mon_host_attempt(struct mon_host *h)
{
	h->attempting = true;
}

struct mon_decision mon_host_connected(struct mon_host *h, int64_t now)
{
	struct mon_decision d = none;

	h->attempting = false;
	if (h->state == MH_DOWN) {
		d.event = "host-reachable";
		d.done = "its agent stream resumed; its nodes are probed again";
		d.duration_ms = now - h->since_ms;
		h->reconnects++;
	}
	h->backoff_ms = MON_BACKOFF_FIRST_MS;
	h->last_answer_ms = now;
	host_enter(h, MH_UP, now);
	return d;
}

static struct mon_decision host_down(struct mon_host *h, int64_t now)
{
	struct mon_decision d = none;

	if (h->state != MH_DOWN) {
		d.event = "host-unreachable";
		d.done = "reconnecting with backoff; its nodes are not probed meanwhile";
		d.duration_ms = h->state == MH_UP ? now - h->last_answer_ms : now - h->since_ms;
	}
	host_enter(h, MH_DOWN, now);
	h->next_attempt_ms = now + h->backoff_ms;
	h->backoff_ms = h->backoff_ms * 2 > MON_BACKOFF_MAX_MS ? MON_BACKOFF_MAX_MS
							       : h->backoff_ms * 2;
	return d;
}

struct mon_decision mon_host_failed(struct mon_host *h, int64_t now)
{
	h->attempting = false;
	return host_down(h, now);
}

void mon_host_answer(struct mon_host *h, int64_t now)
{
	h->last_answer_ms = now;
}

struct mon_decision mon_host_lost(struct mon_host *h, int64_t now)
{
	return host_down(h, now);
}

struct mon_decision mon_host_tick(struct mon_host *h, const struct mon_params *p,
				  int64_t now)
{
	struct mon_decision d = none;

	if (h->state == MH_UP && now - h->last_answer_ms > p->host_timeout_ms)
		d.action = MA_DISCONNECT;
	else if (h->state != MH_UP && !h->attempting && now >= h->next_attempt_ms)
		d.action = MA_RECONNECT;
	return d;
}

const char *mon_cluster_hold(bool *held, int nhosts, int ndown)
{
	bool hold = nhosts > 0 && 2 * ndown > nhosts;

	if (hold == *held)
		return NULL;
	*held = hold;
	return hold ? "cluster-hold" : "cluster-resume";
}
