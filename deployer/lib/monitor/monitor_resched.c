/* monitor_resched.c - `shoal monitor`: the nodes of hosts unreachable for
 * reschedule_after_s placed on the other hosts by an `up` planned without
 * them, and (monitor.fail_back) the planned roles given back once a
 * master that failed over is back, by an `up`: either on a thread, one at
 * a time, fenced by the leader's token (monitor_int.h). */
#include "monitor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* converge_opts.may_act of a reschedule: this monitor still leads, under
 * the token the reschedule started with (from the reschedule's thread). */
static bool resched_may_act(void *arg)
{
	struct mon *m = arg;
	int64_t token = 0;

	return leader_gate_acting(m->gate, &token) && token == m->resched_token;
}

static void *resched_thread(void *arg)
{
	struct mon *m = arg;
	struct converge_opts co = {.accept_new_host_keys = m->o->accept_new_host_keys,
				   .without_hosts = m->failback ? NULL
						    : (const char *const *)m->resched_hosts,
				   .failed_back = &m->failed_back};

	if (m->gate) {
		/* the `up` writes to etcd only while this leadership lasts, and
		 * stops before its next step on hosts once it has ended */
		co.fence_key = leader_gate_key(m->gate);
		co.fence_token = m->resched_token;
		co.fence_what = "the leadership of the monitor that started this reschedule";
		co.may_act = resched_may_act;
		co.may_act_arg = m;
	}

	err_clear(&m->resched_err);
	m->failed_back = 0;
	m->resched_rc = converge_up(m->spec_path, &co, &m->resched_err);
	__atomic_store_n(&m->resched_finished, true, __ATOMIC_RELEASE);
	return NULL;
}

/* The running job's host and node lists, freed (none: NULL). */
static void resched_lists_free(struct mon *m)
{
	strv_free(m->resched_hosts);
	strv_free(m->resched_nodes);
	m->resched_hosts = m->resched_nodes = NULL;
}

/* "a, b, c" of a strv, into out. */
static void strv_join(char *const *v, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; v && v[i] && len < size; i++) {
		int w = snprintf(out + len, size - len, "%s%s", i ? ", " : "", v[i]);

		if (w < 0)
			break;
		len += (size_t)w;
	}
}

/* Hosts unreachable for monitor.reschedule_after_s that have nodes: their
 * nodes are placed on the other hosts and created there, and the database
 * made whole again (the replicas the lost nodes were, or took over from,
 * restored), by `up` planned without those hosts (converge.h,
 * without_hosts), on a thread; one reschedule at a time, none while the
 * cluster is held, and only by the leading monitor (leader_gate_acting):
 * its `up` writes to etcd fenced by the leader's token and stops once the
 * leadership has ended (resched_thread). */
void mon_reschedule_start(struct mon *m, int64_t now)
{
	int after = m->c.spec->monitor.reschedule_after_s;
	size_t nh = 0, nn = 0;
	char hosts[256], nodes[512], seen[900], done[400];

	bool due = false;

	if (m->o->once || after <= 0 || m->held || m->resched_running ||
	    now < m->resched_next_ms)
		return;
	for (size_t i = 0; i < m->nhosts && !due; i++)
		due = m->hosts[i].fsm.state == MH_DOWN &&
		      now - m->hosts[i].fsm.since_ms >= (int64_t)after * 1000;
	if (!due) {
		m->resched_followed = false;
		return;
	}
	if (!leader_gate_acting(m->gate, &m->resched_token)) {
		if (!m->resched_followed) {
			m->resched_followed = true;
			mon_event(m, "host-reschedule", NULL, NULL,
				  "a host with nodes is unreachable past reschedule_after_s",
				  "follower: the leading monitor acts", -1);
		}
		return;
	}
	m->resched_followed = false;
	m->resched_hosts = xcalloc(m->nhosts + 1, sizeof *m->resched_hosts);
	m->resched_nodes = xcalloc(m->nnodes + 1, sizeof *m->resched_nodes);
	m->resched_lost_ms = now;
	for (size_t i = 0; i < m->nhosts; i++) {
		struct mhost *h = &m->hosts[i];
		bool has = false;

		if (h->fsm.state != MH_DOWN || now - h->fsm.since_ms < (int64_t)after * 1000)
			continue;
		for (size_t k = 0; k < m->nnodes; k++)
			if (m->nodes[k].h == h) {
				m->resched_nodes[nn++] = xstrdup(m->nodes[k].sn->id);
				has = true;
			}
		if (!has)
			continue;
		m->resched_hosts[nh++] = xstrdup(h->sh->name);
		if (h->fsm.since_ms < m->resched_lost_ms)
			m->resched_lost_ms = h->fsm.since_ms;
	}
	if (!nh) {
		resched_lists_free(m);
		return;
	}
	strv_join(m->resched_hosts, hosts, sizeof hosts);
	strv_join(m->resched_nodes, nodes, sizeof nodes);
	snprintf(seen, sizeof seen, "unreachable for %.1f s (reschedule_after_s %d); its nodes: %s",
		 (now - m->resched_lost_ms) / 1000.0, after, nodes);
	snprintf(done, sizeof done, "placing them on the other hosts and restoring the "
		 "cluster's redundancy (`up` planned without %s)", hosts);
	mon_event(m, "host-reschedule", NULL, hosts, seen, done, now - m->resched_lost_ms);
	m->resched_start_ms = now;
	m->resched_running = true;
	__atomic_store_n(&m->resched_finished, false, __ATOMIC_RELEASE);
	if (pthread_create(&m->resched_th, NULL, resched_thread, m) != 0) {
		m->resched_running = false;
		mon_event(m, "reschedule-failed", NULL, hosts, "cannot start a thread",
			  "tried again in 3 s", -1);
		m->resched_next_ms = now + RESCHEDULE_RETRY_MS;
		resched_lists_free(m);
	}
}

void mon_failback_due(struct mon *m, int64_t now)
{
	if (m->c.spec->monitor.fail_back && !m->o->once)
		m->failback_due_ms = now + FAILBACK_AFTER_MS;
}

void mon_failback_start(struct mon *m, int64_t now)
{
	int64_t token = 0;

	if (!m->failback_due_ms || now < m->failback_due_ms || m->held || m->resched_running)
		return;
	/* only with every host and node up: a node still away is the
	 * respawn's or the reschedule's to bring back first */
	for (size_t i = 0; i < m->nhosts; i++)
		if (m->hosts[i].fsm.state != MH_UP)
			return;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].fsm.state != MN_UP)
			return;
	m->failback_due_ms = 0;
	if (!leader_gate_acting(m->gate, &token))
		return; /* the leading monitor sees the same and acts */
	m->resched_token = token;
	m->resched_hosts = xcalloc(1, sizeof *m->resched_hosts);
	m->resched_nodes = xcalloc(1, sizeof *m->resched_nodes);
	m->failback = true;
	m->resched_start_ms = now;
	m->resched_running = true;
	__atomic_store_n(&m->resched_finished, false, __ATOMIC_RELEASE);
	if (pthread_create(&m->resched_th, NULL, resched_thread, m) != 0) {
		m->resched_running = false;
		m->failback = false;
		mon_event(m, "fail-back-failed", NULL, NULL, "cannot start a thread",
			  "tried again in 3 s", -1);
		m->failback_due_ms = now + RESCHEDULE_RETRY_MS;
		resched_lists_free(m);
	}
}

/* The fail-back's `up` finished: an event when it gave a master back or
 * failed (then tried again later, 3 s doubling to 30 s); nothing when the
 * roles were as planned (no failover had happened). */
static void failback_end(struct mon *m, int64_t now)
{
	int64_t wait = m->failback_retry_ms ? m->failback_retry_ms : RESCHEDULE_RETRY_MS;
	char done[96];

	m->failback = false;
	if (m->resched_rc < 0) {
		snprintf(done, sizeof done, "tried again in %lld s", (long long)(wait / 1000));
		mon_event(m, "fail-back-failed", NULL, NULL, m->resched_err.msg, done,
			  now - m->resched_start_ms);
		m->failback_due_ms = now + wait;
		m->failback_retry_ms = wait * 2 > RESCHEDULE_RETRY_MAX_MS ? RESCHEDULE_RETRY_MAX_MS
									  : wait * 2;
		return;
	}
	m->failback_retry_ms = 0;
	if (!m->failed_back)
		return;
	m->failbacks++;
	snprintf(done, sizeof done, "%d master%s made master again (an `up`)", m->failed_back,
		 m->failed_back == 1 ? "" : "s");
	mon_event(m, "fail-back", NULL, NULL,
		  "a master that came back after a failover serves as a replica", done,
		  now - m->resched_start_ms);
	mon_reload(m, "failed back");
}

/* The reschedule thread finished: log it; on success watch what state.json
 * records now (mon_reload), else try again RESCHEDULE_RETRY_MS later.
 * Watched hosts and nodes are replaced: call it last in a callback. */
void mon_reschedule_end(struct mon *m, int64_t now)
{
	char hosts[256], moved[900] = "", seen[400];
	size_t len = 0;

	if (!m->resched_running || !__atomic_load_n(&m->resched_finished, __ATOMIC_ACQUIRE))
		return;
	pthread_join(m->resched_th, NULL);
	m->resched_running = false;
	if (m->failback) {
		failback_end(m, now);
		resched_lists_free(m);
		return;
	}
	strv_join(m->resched_hosts, hosts, sizeof hosts);
	if (m->resched_rc < 0) {
		mon_event(m, "reschedule-failed", NULL, hosts, m->resched_err.msg,
			  "tried again later (3 s, doubling to 30 s) while the hosts stay "
			  "unreachable",
			  now - m->resched_start_ms);
		m->resched_next_ms = now + m->resched_retry_ms;
		m->resched_retry_ms = m->resched_retry_ms * 2 > RESCHEDULE_RETRY_MAX_MS
					      ? RESCHEDULE_RETRY_MAX_MS
					      : m->resched_retry_ms * 2;
	} else {
		m->resched_retry_ms = RESCHEDULE_RETRY_MS;
		m->reschedules++;
		m->last_resched_ms = now - m->resched_lost_ms;
		if (mon_reload(m, "rescheduled")) {
			for (size_t i = 0; m->resched_nodes[i]; i++) {
				const struct state_node *sn = state_find(m->c.st, m->resched_nodes[i]);
				int w = snprintf(moved + len, sizeof moved - len, "%s%s -> %s%s%s",
						 i ? ", " : "", m->resched_nodes[i],
						 sn ? sn->host : "(not recorded)",
						 sn && sn->role ? " as " : "", sn && sn->role ? sn->role : "");

				if (w < 0 || (size_t)w >= sizeof moved - len)
					break;
				len += (size_t)w;
			}
		}
		snprintf(seen, sizeof seen, "the nodes of %s run on other hosts and their cluster "
			 "is formed again", hosts);
		mon_event(m, "host-rescheduled", NULL, hosts, seen, moved,
			  now - m->resched_lost_ms);
	}
	resched_lists_free(m);
}
