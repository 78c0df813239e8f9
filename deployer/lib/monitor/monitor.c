/* monitor.c - the loop of `shoal monitor` (monitor.h, docs/monitor.md);
 * rescheduling in monitor_resched.c, HTTP in monitor_http.c. */
#include "monitor_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define TICK_MS 100
#define RECENT_MAX 256
#define HOST_OP_TIMEOUT_MS 5000
#define INCIDENT_PROBE_MS 100
/* fencing waits while another command holds the state lock */
#define FENCE_RETRY_MS 1000

const double mon_probe_buckets[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					    0.05, 0.1, 0.25, 0.5, 1, 2.5};

static void rfc3339(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- events ----------------------------------------------------------------------- */

/* Log one decision: events.jsonl (fsynced), the recent ring for /events, and
 * a line on stderr. */
void mon_event(struct mon *m, const char *type, const char *node, const char *host,
	       const char *seen, const char *done, int64_t duration_ms)
{
	json_t *f = json_object();
	struct err e = {0};
	struct timeval tv;

	gettimeofday(&tv, NULL);
	if (node)
		json_object_set_new(f, "node", json_string(node));
	if (host)
		json_object_set_new(f, "host", json_string(host));
	json_object_set_new(f, "seen", json_string(seen ? seen : ""));
	json_object_set_new(f, "done", json_string(done ? done : ""));
	if (duration_ms >= 0)
		json_object_set_new(f, "duration_ms", json_integer(duration_ms));
	json_object_set_new(f, "at_ms", json_integer((json_int_t)tv.tv_sec * 1000 +
						     tv.tv_usec / 1000));
	json_object_set_new(f, "by", json_string("monitor"));
	if (state_event(m->lock, type, f, &e) < 0)
		log_warn("events log: %s", e.msg);
	{
		char now[32];
		json_t *r = json_pack("{s:s, s:s}", "time", (rfc3339(now), now), "event", type);

		json_object_update(r, f);
		json_array_append_new(m->recent, r);
		if (json_array_size(m->recent) > RECENT_MAX)
			json_array_remove(m->recent, 0);
	}
	m->nevents++;
	log_warn("%s%s%s%s%s: %s; %s", type, node ? " " : "", node ? node : "",
		 host ? " on " : "", host ? host : "", seen ? seen : "", done ? done : "");
	json_decref(f);
}

static bool recorded_master(const struct mnode *n)
{
	return n->sn->role && !strcmp(n->sn->role, "master");
}

static void node_event(struct mnode *n, struct mon_decision d, const char *seen)
{
	if (!d.event)
		return;
	mon_event(n->m, d.event, n->sn->id, n->sn->host, seen, d.done, d.duration_ms);
	/* a master that was away may have failed over (monitor.fail_back) */
	if (!strcmp(d.event, "node-back") && recorded_master(n))
		mon_failback_due(n->m, mono_ms());
}

static void host_event(struct mhost *h, struct mon_decision d, const char *seen)
{
	if (!d.event)
		return;
	mon_event(h->m, d.event, NULL, h->sh->name, seen, d.done, d.duration_ms);
	if (!strcmp(d.event, "host-reachable"))
		for (size_t i = 0; i < h->m->nnodes; i++)
			if (h->m->nodes[i].h == h && recorded_master(&h->m->nodes[i]))
				mon_failback_due(h->m, mono_ms());
}

/* ---- hosts -------------------------------------------------------------------------- */

static void host_read_cb(evutil_socket_t fd, short what, void *arg);

static void *connect_thread(void *arg)
{
	struct mhost *h = arg;
	struct mon *m = h->m;
	struct transport_opts to = {.accept_new_host_keys = m->o->accept_new_host_keys,
				    .op_timeout_ms = HOST_OP_TIMEOUT_MS};
	struct tchan *ch = NULL;
	json_t *resp = NULL;
	size_t idx = h->index;

	agent_client_free(h->old_ac);
	transport_close(h->old_t);
	h->old_ac = NULL;
	h->old_t = NULL;
	h->conn_rc = -1;
	err_clear(&h->conn_err);
	if (transport_open(m->c.spec, h->sh, &to, &h->new_t, &h->conn_err) < 0)
		goto out;
	if (transport_open_agent(h->new_t, &ch, &h->conn_err) < 0)
		goto out;
	h->new_ac = agent_client_new(ch);
	if (agent_call(h->new_ac, json_pack("{s:s}", "op", "hello"), NULL, HOST_OP_TIMEOUT_MS,
		       &h->conn_err) < 0 ||
	    agent_call(h->new_ac, json_pack("{s:s, s:b}", "op", "events.subscribe", "on", 1),
		       NULL, HOST_OP_TIMEOUT_MS, &h->conn_err) < 0 ||
	    agent_call(h->new_ac, json_pack("{s:s, s:s}", "op", "node.list", "cluster",
					    m->c.spec->name),
		       &resp, HOST_OP_TIMEOUT_MS, &h->conn_err) < 0)
		goto out;
	h->listed = resp;
	h->conn_rc = 0;
out:
	if (h->conn_rc < 0) {
		err_wrap(&h->conn_err, "%s", h->sh->name);
		agent_client_free(h->new_ac);
		transport_close(h->new_t);
		h->new_ac = NULL;
		h->new_t = NULL;
	}
	if (write(m->pipe[1], &idx, sizeof idx) != (ssize_t)sizeof idx)
		abort(); /* the loop would wait for this host forever */
	return NULL;
}

static void host_connect(struct mhost *h)
{
	mon_host_attempt(&h->fsm);
	if (pthread_create(&h->th, NULL, connect_thread, h) != 0) {
		err_set(&h->conn_err, errno, "%s: cannot start a connector thread", h->sh->name);
		h->conn_rc = -1;
		mon_host_failed(&h->fsm, mono_ms());
	}
}

static void nodes_of_host(struct mhost *h, bool up)
{
	int64_t now = mono_ms();

	for (size_t i = 0; i < h->m->nnodes; i++) {
		struct mnode *n = &h->m->nodes[i];

		if (n->h != h)
			continue;
		if (!up) {
			probe_event_cancel(n->pe);
			n->pe = NULL;
			probe_conn_close(n->pc);
		}
		mon_node_host(&n->fsm, up, now);
		n->next_probe_ms = now;
	}
}

/* Close the loop's side of a host and hand what must be closed to the next
 * connector thread (closing an SSH session to a dead host can block). */
static void host_drop(struct mhost *h, const char *why)
{
	int64_t now = mono_ms();

	if (h->rd)
		event_free(h->rd);
	h->rd = NULL;
	h->old_ac = h->ac;
	h->old_t = h->t;
	h->ac = NULL;
	h->t = NULL;
	h->hb_id = 0;
	err_set(&h->last_err, EHOSTUNREACH, "%s: %s", h->sh->name, why);
	host_event(h, mon_host_lost(&h->fsm, now), why);
	nodes_of_host(h, false);
}

static struct mnode *node_by_id(struct mon *m, struct mhost *h, const char *id)
{
	for (size_t i = 0; id && i < m->nnodes; i++)
		if (m->nodes[i].h == h && !strcmp(m->nodes[i].sn->id, id))
			return &m->nodes[i];
	return NULL;
}

static void agent_event(void *arg, json_t *ev)
{
	struct mhost *h = arg;
	struct mon *m = h->m;
	const char *type = json_string_value(json_object_get(ev, "event"));
	const char *cl = json_string_value(json_object_get(ev, "cluster"));
	struct mnode *n;
	int64_t now = mono_ms();
	json_t *rs = json_object_get(ev, "restarts");

	if (!type || !cl || strcmp(cl, m->c.spec->name))
		return;
	n = node_by_id(m, h, json_string_value(json_object_get(ev, "node")));
	if (!n)
		return;
	if (json_is_integer(rs))
		n->restarts = json_integer_value(rs);
	if (!strcmp(type, "started") || !strcmp(type, "adopted")) {
		mon_node_running(&n->fsm, true);
	} else if (!strcmp(type, "exited")) {
		char seen[160];
		json_t *sig = json_object_get(ev, "signal"), *code = json_object_get(ev, "exit_code");

		if (json_is_integer(sig))
			snprintf(seen, sizeof seen, "exited on signal %d%s",
				 (int)json_integer_value(sig),
				 json_is_true(json_object_get(ev, "oom")) ? " (OOM kill)" : "");
		else if (json_is_integer(code))
			snprintf(seen, sizeof seen, "exited with code %d",
				 (int)json_integer_value(code));
		else
			snprintf(seen, sizeof seen, "exited (%s)",
				 json_string_value(json_object_get(ev, "status")) ?: "unknown");
		node_event(n, mon_node_exited(&n->fsm, &m->p, now), seen);
		n->next_probe_ms = now; /* look for it at once */
	} else if (!strcmp(type, "unhealthy")) {
		mon_event(m, "node-crash-loop", n->sn->id, n->sn->host,
			  "its agent reports 5 failures in a row",
			  "its agent restarts it with backoff (up to 30 s); alert", -1);
	} else if (!strcmp(type, "oom")) {
		mon_event(m, "node-oom", n->sn->id, n->sn->host,
			  "its memory cgroup recorded an OOM kill", "none", -1);
	}
}

static void agent_answer(void *arg, json_t *msg)
{
	struct mhost *h = arg;
	json_int_t id = json_integer_value(json_object_get(msg, "id"));

	if (id == h->hb_id) {
		h->hb_id = 0;
		return;
	}
	if (h->fencing) {
		char key[32];
		const char *node;

		snprintf(key, sizeof key, "%lld", (long long)id);
		node = json_string_value(json_object_get(h->fencing, key));
		if (node && !json_is_true(json_object_get(msg, "ok")))
			mon_event(h->m, "node-fence-failed", node, h->sh->name,
				  json_string_value(json_object_get(json_object_get(msg, "error"),
								    "message")) ?: "?",
				  "alert: it may rejoin its cluster as a stale member; stop it "
				  "there by hand", -1);
		if (node) {
			json_object_del(h->fencing, key);
			return;
		}
	}
	for (size_t i = 0; i < h->m->nnodes; i++) {
		struct mnode *n = &h->m->nodes[i];

		if (n->h != h || n->kill_id != id)
			continue;
		n->kill_id = 0;
		if (!json_is_true(json_object_get(msg, "ok")))
			mon_event(h->m, "node-kill-failed", n->sn->id, h->sh->name,
				  json_string_value(json_object_get(json_object_get(msg, "error"),
								    "message")) ?: "?",
				  "alert: the node stays hung", -1);
	}
}

static void host_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mhost *h = arg;
	struct err e = {0};

	(void)fd;
	(void)what;
	if (agent_client_pump(h->ac, &e) < 0) {
		host_drop(h, e.msg);
		return;
	}
	mon_host_answer(&h->fsm, mono_ms());
}

/* Apply a node.list answer: which nodes run, their restart counts; a
 * recorded node the agent does not have is an alert. */
static void host_listed(struct mhost *h, json_t *listed)
{
	json_t *arr = json_object_get(listed, "nodes"), *r;
	size_t k;

	for (size_t i = 0; i < h->m->nnodes; i++) {
		struct mnode *n = &h->m->nodes[i];
		bool found = false;

		if (n->h != h)
			continue;
		json_array_foreach(arr, k, r) {
			if (strcmp(json_string_value(json_object_get(r, "node")) ?: "", n->sn->id))
				continue;
			found = true;
			mon_node_running(&n->fsm, !strcmp(json_string_value(json_object_get(r, "state")) ?: "",
							  "running"));
			n->restarts = json_integer_value(json_object_get(r, "restarts"));
		}
		if (!found)
			mon_event(h->m, "node-missing", n->sn->id, h->sh->name,
				  "its agent does not have it",
				  "alert: run `shoal up` to create it again", -1);
	}
}

/* Fence a host that came back: a node of this cluster it still runs (its
 * agent started it again) that state.json now records on another host was
 * moved away while the host was gone (rescheduled); it is stopped and
 * removed through the agent, its data kept until `down --purge`, so it
 * never rejoins its cluster as a stale duplicate.  state.json is read
 * afresh (an `up` may have moved nodes since this monitor read it), and
 * not while another command holds the state lock: then it looks again
 * FENCE_RETRY_MS later.  Nodes state.json does not record at all are left
 * to `up` (it removes orphans).  Only the leading monitor fences
 * (leader_gate_acting); a follower looks again FENCE_RETRY_MS later. */
static void host_fence(struct mhost *h, int64_t now)
{
	struct mon *m = h->m;
	const char *cl = m->c.spec->name;
	struct state *st = NULL;
	struct lock_holder lh;
	struct err e = {0};
	bool held = false, any = false;
	json_t *r;
	size_t k;

	if (!h->fence || now < h->fence_due_ms || h->fsm.state != MH_UP)
		return;
	json_array_foreach(json_object_get(h->fence, "nodes"), k, r)
		any |= !node_by_id(m, h, json_string_value(json_object_get(r, "node")));
	if (any && !leader_gate_acting(m->gate, NULL)) {
		/* a follower: the leader fences it; look again should this
		 * monitor lead later */
		h->fence_due_ms = now + FENCE_RETRY_MS;
		return;
	}
	if (any && state_lock_read_at(&m->c.spec->state, cl, &lh, &held, &e) == 0 && held) {
		h->fence_due_ms = now + FENCE_RETRY_MS;
		return;
	}
	if (any && state_load_at(&m->c.spec->state, cl, &st, &e) < 0) {
		log_warn("%s: fencing: %s", h->sh->name, e.msg);
		h->fence_due_ms = now + FENCE_RETRY_MS;
		return;
	}
	json_array_foreach(json_object_get(h->fence, "nodes"), k, r) {
		const char *id = json_string_value(json_object_get(r, "node"));
		const struct state_node *sn = id && any ? state_find(st, id) : NULL;
		json_t *req;
		json_int_t rid;
		char seen[256];

		if (!sn || !strcmp(sn->host, h->sh->name) || node_by_id(m, h, id))
			continue;
		req = json_pack("{s:s, s:s, s:s, s:b, s:b}", "op", "node.remove", "cluster", cl,
				"node", id, "force", 1, "keep_data", 1);
		snprintf(seen, sizeof seen, "%s is back and runs %s (%s), which was moved to "
			 "%s while %s was gone", h->sh->name, id,
			 json_string_value(json_object_get(r, "state")) ?: "?", sn->host,
			 h->sh->name);
		if (agent_send(h->ac, req, &rid, &e) < 0) {
			mon_event(m, "node-fence-failed", id, h->sh->name, seen, e.msg, -1);
			break;
		}
		{
			char key[32];

			snprintf(key, sizeof key, "%lld", (long long)rid);
			if (!h->fencing)
				h->fencing = json_object();
			json_object_set_new(h->fencing, key, json_string(id));
		}
		mon_event(m, "node-fenced", id, h->sh->name, seen,
			  "stopped and removed through its agent (its data kept until "
			  "`shoal down --purge`): it does not rejoin as a duplicate", -1);
	}
	state_free(st);
	json_decref(h->fence);
	h->fence = NULL;
}

/* The loop picks up a connector thread's result. */
static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mon *m = arg;
	size_t idx;

	(void)what;
	while (read(fd, &idx, sizeof idx) == (ssize_t)sizeof idx) {
		struct mhost *h = &m->hosts[idx];
		int64_t now = mono_ms();

		pthread_join(h->th, NULL);
		if (h->conn_rc < 0) {
			h->last_err = h->conn_err;
			host_event(h, mon_host_failed(&h->fsm, now), h->conn_err.msg);
			m->failed_once++;
			continue;
		}
		h->t = h->new_t;
		h->ac = h->new_ac;
		h->new_t = NULL;
		h->new_ac = NULL;
		err_clear(&h->last_err);
		agent_client_on_event(h->ac, agent_event, h);
		agent_client_on_answer(h->ac, agent_answer, h);
		h->rd = event_new(m->base, agent_client_pollfd(h->ac), EV_READ | EV_PERSIST,
				  host_read_cb, h);
		event_add(h->rd, NULL);
		host_event(h, mon_host_connected(&h->fsm, now), "its agent answers again");
		nodes_of_host(h, true);
		host_listed(h, h->listed);
		json_decref(h->fence);
		h->fence = h->listed;
		h->fence_due_ms = now;
		h->listed = NULL;
		host_fence(h, now);
		/* events that arrived with the answers */
		struct err e = {0};

		if (agent_client_pump(h->ac, &e) < 0)
			host_drop(h, e.msg);
	}
}

/* Ask the agent for a sign of life: every interval, or at once (force)
 * when a node's failed probe needs to know whether its agent answers. */
static void host_heartbeat(struct mhost *h, int64_t now, bool force)
{
	struct err e = {0};

	if (h->fsm.state != MH_UP || h->hb_id ||
	    (!force && now - h->hb_sent_ms < h->m->interval_ms))
		return;
	h->hb_sent_ms = now;
	if (agent_send(h->ac, json_pack("{s:s}", "op", "hello"), &h->hb_id, &e) < 0)
		host_drop(h, e.msg);
}

/* ---- nodes -------------------------------------------------------------------------- */

static void node_kill(struct mnode *n)
{
	struct err e = {0};
	struct mhost *h = n->h;

	if (!h->ac) {
		mon_event(n->m, "node-kill-failed", n->sn->id, h->sh->name,
			  "its host is not connected", "alert: the node stays hung", -1);
		return;
	}
	if (agent_send(h->ac, json_pack("{s:s, s:s, s:s, s:i}", "op", "node.kill", "cluster",
					n->m->c.spec->name, "node", n->sn->id, "signal", 9),
		       &n->kill_id, &e) < 0)
		host_drop(h, e.msg);
}

static void probe_done(const struct probe_report *r, void *arg)
{
	struct mnode *n = arg;
	struct mon *m = n->m;
	int64_t now = mono_ms();
	double s = r->elapsed_ms / 1000.0;
	bool ok = r->result != PROBE_REFUSED && r->result != PROBE_TIMEOUT &&
		  r->result != PROBE_ERROR;
	struct mon_decision d;
	bool agent_answers;
	char seen[320];

	n->pe = NULL;
	n->probes++;
	n->last = r->result;
	n->count++;
	n->sum += s;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (s <= mon_probe_buckets[i])
			n->bucket[i]++;
	/* the agent answered after this probe began: its host is reachable */
	agent_answers = n->h->fsm.state == MH_UP &&
			n->h->fsm.last_answer_ms >= now - (int64_t)r->elapsed_ms;
	d = mon_node_probe(&n->fsm, &m->p, now, ok, agent_answers);
	if (!ok && !agent_answers)
		host_heartbeat(n->h, now, true);
	if (d.action == MA_KILL) {
		snprintf(seen, sizeof seen, "running but %d probes in a row failed (last: %s %s)",
			 m->p.fail_after, probe_result_name(r->result), r->detail);
		if (m->held) {
			d.done = "held: more than half of the hosts are unreachable";
			d.action = MA_NONE;
		} else if (!leader_gate_acting(m->gate, NULL)) {
			d.done = "follower: the leading monitor acts";
			d.action = MA_NONE;
		}
	} else {
		snprintf(seen, sizeof seen, "probe %s %s", probe_result_name(r->result), r->detail);
	}
	node_event(n, d, seen);
	if (d.action == MA_KILL)
		node_kill(n);
}

static void node_probe(struct mnode *n, int64_t now)
{
	struct err e = {0};

	if (n->pe || !mon_node_probed(&n->fsm) || n->h->fsm.state != MH_UP ||
	    now < n->next_probe_ms)
		return;
	/* a node that exited or was killed is looked for often, so that
	 * "back" is seen as soon as it answers */
	n->next_probe_ms = now + (n->fsm.state == MN_EXITED || n->fsm.state == MN_HUNG ?
				  INCIDENT_PROBE_MS : n->m->interval_ms);
	n->pe = probe_event_start(n->m->base, &n->pt, probe_done, n, &e);
	if (!n->pe)
		log_warn("%s on %s: probe: %s", n->sn->id, n->sn->host, e.msg);
}

/* ---- the tick ----------------------------------------------------------------------- */

static bool once_finished(struct mon *m)
{
	for (size_t i = 0; i < m->nhosts; i++)
		if (m->hosts[i].fsm.state == MH_CONNECTING || m->hosts[i].fsm.attempting)
			return false;
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].h->fsm.state == MH_UP && !m->nodes[i].probes)
			return false;
	return true;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mon *m = arg;
	int64_t now = mono_ms();
	int down = 0;
	const char *hold;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < m->nhosts; i++) {
		struct mhost *h = &m->hosts[i];
		struct mon_decision d = mon_host_tick(&h->fsm, &m->p, now);

		if (d.action == MA_DISCONNECT) {
			char why[96];

			snprintf(why, sizeof why, "its agent did not answer for %lld ms",
				 (long long)(now - h->fsm.last_answer_ms));
			host_drop(h, why);
		} else if (d.action == MA_RECONNECT && !(m->o->once && h->fsm.state == MH_DOWN)) {
			host_connect(h);
		}
		host_heartbeat(h, now, false);
		down += h->fsm.state == MH_DOWN;
	}
	hold = mon_cluster_hold(&m->held, (int)m->nhosts, down);
	if (hold) {
		char seen[96];

		snprintf(seen, sizeof seen, "%d of %zu hosts unreachable", down, m->nhosts);
		mon_event(m, hold, NULL, NULL, seen,
			  m->held ? "hold and alert: no repair (the operator's own network is the likely fault)"
				  : "repairs resume", -1);
	}
	for (size_t i = 0; i < m->nnodes; i++) {
		struct mnode *n = &m->nodes[i];

		node_event(n, mon_node_tick(&n->fsm, &m->p, now), "it does not answer");
		node_probe(n, now);
	}
	if (m->o->once && (once_finished(m) || now > m->once_deadline))
		event_base_loopbreak(m->base);
	for (size_t i = 0; i < m->nhosts; i++)
		host_fence(&m->hosts[i], now);
	mon_status_refresh(m, now);
	mon_reschedule_start(m, now);
	mon_failback_start(m, now);
	mon_reschedule_end(m, now); /* last: it may replace hosts and nodes */
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct mon *m = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(m->base);
}

/* ---- set-up ------------------------------------------------------------------------- */

static int mon_setup(struct mon *m, struct err *e)
{
	const struct spec *s = m->c.spec;
	const struct state *st = m->c.st;

	m->interval_ms = s->monitor.interval_ms;
	m->timeout_ms = s->monitor.timeout_ms;
	m->p = (struct mon_params){
		.fail_after = s->monitor.fail_after,
		.back_within_ms = MON_BACK_WITHIN_MS,
		.host_timeout_ms = (int64_t)s->monitor.interval_ms * s->monitor.fail_after +
				   s->monitor.timeout_ms,
	};
	/* every host of the spec, in spec order: also those without recorded
	 * nodes (a host whose nodes were rescheduled is fenced when it comes
	 * back; a spare host is where they may go) */
	m->hosts = xcalloc(s->nhosts + 1, sizeof *m->hosts);
	for (size_t i = 0; i < s->nhosts; i++) {
		struct mhost *h = &m->hosts[m->nhosts];

		h->m = m;
		h->sh = &s->hosts[i];
		h->index = m->nhosts++;
		mon_host_init(&h->fsm, mono_ms());
	}
	m->nodes = xcalloc(st->n + 1, sizeof *m->nodes);
	for (size_t k = 0; k < st->n; k++) {
		const struct state_node *sn = &st->nodes[k];
		struct mnode *n = &m->nodes[m->nnodes];
		size_t svc;

		for (svc = 0; svc < s->nservices; svc++)
			if (!strcmp(s->services[svc].name, sn->service))
				break;
		if (svc == s->nservices) {
			log_warn("%s on %s: service %s is not in the spec any more: not watched",
				 sn->id, sn->host, sn->service);
			continue;
		}
		const struct tmpl_probe *tp = &m->c.tmpl[svc]->health;

		n->m = m;
		n->sn = sn;
		for (size_t i = 0; i < m->nhosts; i++)
			if (!strcmp(m->hosts[i].sh->name, sn->host))
				n->h = &m->hosts[i];
		if (!n->h)
			return err_set(e, EINVAL, "%s: recorded on host %s, which is not in %s",
				       sn->id, sn->host, s->path);
		n->pc = probe_conn_new();
		n->pt = (struct probe_target){
			.kind = tp->kind,
			.host = sn->address,
			.port = tp->port ? tp->port : sn->port,
			.connect_timeout_ms = m->timeout_ms,
			.read_timeout_ms = m->timeout_ms,
			.password = cluster_password(&m->c, svc),
			.path = tp->path,
			.expect = tp->expect,
			.conn = n->pc,
		};
		mon_node_init(&n->fsm, mono_ms());
		m->nnodes++;
	}
	return 0;
}

/* Stop watching: probes cancelled, connector threads waited for (their
 * results drained from the pipe), connections closed, hosts and nodes
 * freed.  The loop, HTTP and the lock stay. */
static void mon_unwatch(struct mon *m)
{
	size_t idx;

	for (size_t i = 0; i < m->nnodes; i++) {
		probe_event_cancel(m->nodes[i].pe);
		probe_conn_free(m->nodes[i].pc);
	}
	for (size_t i = 0; i < m->nhosts; i++) {
		struct mhost *h = &m->hosts[i];

		if (h->fsm.attempting) /* wait for the connector thread */
			pthread_join(h->th, NULL);
		if (h->rd)
			event_free(h->rd);
		agent_client_free(h->ac);
		transport_close(h->t);
		agent_client_free(h->old_ac);
		transport_close(h->old_t);
		agent_client_free(h->new_ac);
		transport_close(h->new_t);
		json_decref(h->listed);
		json_decref(h->fence);
		json_decref(h->fencing);
	}
	while (m->pipe[0] >= 0 && read(m->pipe[0], &idx, sizeof idx) == (ssize_t)sizeof idx)
		; /* results of the threads just joined */
	free(m->hosts);
	free(m->nodes);
	m->hosts = NULL;
	m->nodes = NULL;
	m->nhosts = m->nnodes = 0;
}

static void mon_free(struct mon *m)
{
	mon_status_free(m);
	if (m->resched_running) /* an `up` in progress: let it finish */
		pthread_join(m->resched_th, NULL);
	strv_free(m->resched_hosts);
	strv_free(m->resched_nodes);
	mon_unwatch(m);
	if (m->sighup)
		event_free(m->sighup);
	if (m->http)
		evhttp_free(m->http);
	if (m->tick)
		event_free(m->tick);
	if (m->wake)
		event_free(m->wake);
	if (m->sigterm)
		event_free(m->sigterm);
	if (m->sigint)
		event_free(m->sigint);
	if (m->base)
		event_base_free(m->base);
	if (m->pipe[0] >= 0) {
		close(m->pipe[0]);
		close(m->pipe[1]);
	}
	json_decref(m->recent);
	leader_gate_close(m->gate);
	state_unlock(m->lock);
	cluster_free(&m->c);
}

/* Read the spec and state.json again (SIGHUP after an `up` that moved,
 * added or removed nodes; a reschedule) and watch what they say now.
 * Connections are opened again; nodes start as unknown, so nothing is
 * repeated.  A spec or state that does not load keeps the old view
 * (false). */
bool mon_reload(struct mon *m, const char *why)
{
	struct cluster fresh = {0};
	struct err e = {0};
	char seen[160];

	if (cluster_load(m->spec_path, NULL, &fresh, &e) < 0 ||
	    strcmp(fresh.spec->name, m->c.spec->name)) {
		if (!e.code)
			err_set(&e, EINVAL, "%s now names cluster %s", m->spec_path,
				fresh.spec->name);
		mon_event(m, "monitor-reload-failed", NULL, NULL, e.msg,
			  "kept watching what it watched", -1);
		cluster_free(&fresh);
		return false;
	}
	mon_unwatch(m);
	cluster_free(&m->c);
	m->c = fresh;
	if (mon_setup(m, &e) < 0) {
		mon_event(m, "monitor-reload-failed", NULL, NULL, e.msg,
			  "stopped: nothing consistent to watch", -1);
		event_base_loopbreak(m->base);
		return false;
	}
	snprintf(seen, sizeof seen, "%s: %zu nodes on %zu hosts", why, m->nnodes, m->nhosts);
	mon_event(m, "monitor-reload", NULL, NULL, seen,
		  "watching: nodes start as unknown until their first probe", -1);
	return true;
}

static void sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	mon_reload(arg, "SIGHUP");
}

static void print_once(struct mon *m)
{
	for (size_t i = 0; i < m->nhosts; i++)
		printf("host %-8s %s%s%s\n", m->hosts[i].sh->name,
		       mon_host_state_name(m->hosts[i].fsm.state),
		       m->hosts[i].last_err.code ? ": " : "", m->hosts[i].last_err.msg);
	for (size_t i = 0; i < m->nnodes; i++) {
		struct mnode *n = &m->nodes[i];

		printf("node %-10s %-8s %-9s probe %s%s%s\n", n->sn->id, n->sn->host,
		       mon_node_state_name(n->fsm.state),
		       n->probes ? probe_result_name(n->last) : "none",
		       n->fsm.running ? "" : ", not running", "");
	}
}

/* Detach: the child runs the monitor; the parent waits until it holds the
 * lock and listens (or failed), reports, and returns 1 (parent) or 0. */
static int detach(const char *logpath, int *ready_fd, struct err *e)
{
	int p[2];
	pid_t pid;
	char buf[1024];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(e, errno, "pipe");
	fflush(stdout); /* else the child writes what is buffered once more */
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return err_sys(e, errno, "fork");
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		close(p[0]);
		setsid();
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		*ready_fd = p[1];
		return 0;
	}
	close(p[1]);
	n = read(p[0], buf, sizeof buf - 1);
	close(p[0]);
	if (n > 0 && buf[0] == '+') {
		printf("monitor of pid %ld started (log %s)\n", (long)pid, logpath);
		return 1;
	}
	buf[n > 0 ? n : 0] = '\0';
	if (n > 1) { /* "-<errno> <message>" */
		char *msg = NULL;
		long code = strtol(buf + 1, &msg, 10);

		return err_set(e, code > 0 ? (int)code : EIO, "%s", msg && *msg ? msg + 1 : buf + 1);
	}
	return err_set(e, EIO, "the monitor (pid %ld) ended at start; see %s", (long)pid, logpath);
}

/* The loop: SIGPIPE ignored, the descriptor limit raised (every redis node
 * keeps its probe connection open), the event base with the wake pipe, the
 * tick and the signals, and HTTP on the spec's monitor.listen (or
 * --listen), not with --once. */
static int mon_loop_open(struct mon *m, struct err *e)
{
	const struct monitor_opts *o = m->o;
	struct timeval tv = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};
	const char *listen = o->listen ? o->listen : m->c.spec->monitor.listen;
	struct rlimit nofile;

	signal(SIGPIPE, SIG_IGN);
	/* every redis node keeps its probe connection open: raise the soft
	 * descriptor limit (often 1024) to the hard one */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
			log_warn("shoal monitor: cannot raise the descriptor limit: %s",
				 strerror(errno));
	}
	m->base = event_base_new();
	m->recent = json_array();
	if (!m->base || pipe2(m->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_sys(e, errno, "event loop");
	m->wake = event_new(m->base, m->pipe[0], EV_READ | EV_PERSIST, wake_cb, m);
	m->tick = event_new(m->base, -1, EV_PERSIST, tick_cb, m);
	event_add(m->wake, NULL);
	event_add(m->tick, &tv);
	m->sigterm = evsignal_new(m->base, SIGTERM, signal_cb, m);
	m->sigint = evsignal_new(m->base, SIGINT, signal_cb, m);
	m->sighup = evsignal_new(m->base, SIGHUP, sighup_cb, m);
	event_add(m->sigterm, NULL);
	event_add(m->sigint, NULL);
	event_add(m->sighup, NULL);
	if (!o->once && listen && *listen && mon_http_start(m, listen, e) < 0)
		return -1;
	return 0;
}

/* After a --once loop: print what it saw; an error unless every host and
 * node answers. */
static int mon_once_result(struct mon *m, struct err *e)
{
	bool bad = false;

	print_once(m);
	for (size_t i = 0; i < m->nhosts; i++)
		bad |= m->hosts[i].fsm.state != MH_UP;
	for (size_t i = 0; i < m->nnodes; i++)
		bad |= m->nodes[i].fsm.state != MN_UP;
	if (bad)
		return err_set(e, EIO, "cluster %s: not every host and node answers", m->c.spec->name);
	return 0;
}

int monitor_run(const char *spec_path, const struct monitor_opts *o, struct err *e)
{
	struct mon m = {.o = o, .pipe = {-1, -1}, .spec_path = spec_path,
			.resched_retry_ms = RESCHEDULE_RETRY_MS};
	struct lock_holder stale;
	bool was_stale = false;
	int ready_fd = -1, rc = -1;
	_cleanup_free_ char *logpath = NULL, *dir = NULL;

	if (cluster_load(spec_path, NULL, &m.c, e) < 0)
		goto out;
	if (!o->foreground && !o->once) {
		if (state_dir(m.c.spec->name, &dir, e) < 0 || mkdir_p(dir, 0700, e) < 0)
			goto out;
		logpath = path_join(dir, "monitor.log");
		int r = detach(logpath, &ready_fd, e);

		if (r < 0)
			goto out;
		if (r == 1) {
			rc = 0;
			goto out;
		}
		/* the child: its stderr is the log, its errors go to the parent */
		log_info("shoal monitor: detached, pid %ld", (long)getpid());
	}
	if (state_lock_named(m.c.spec->name, MONITOR_LOCK_FILE, "its monitor lock",
			     o->once ? "shoal monitor --once" : "shoal monitor", &m.lock, &stale,
			     &was_stale, e) < 0)
		goto out;
	/* after detach: the gate's campaign runs in a thread */
	if (leader_gate_open(m.c.spec, o->once ? "shoal monitor --once" : "shoal monitor",
			     &m.gate, e) < 0)
		goto out;
	if (!m.c.st->n) {
		err_set(e, ENOENT, "cluster %s has no recorded nodes: run 'shoal up %s' first",
			m.c.spec->name, spec_path);
		goto out;
	}
	if (mon_setup(&m, e) < 0 || mon_loop_open(&m, e) < 0)
		goto out;
	rfc3339(m.started);
	m.start_ms = mono_ms();
	m.once_deadline = m.start_ms + (m.c.spec->ssh.connect_timeout_ms > 0 ?
					m.c.spec->ssh.connect_timeout_ms : 10000) +
			  2 * HOST_OP_TIMEOUT_MS + 2 * m.timeout_ms;
	if (!o->once) {
		char seen[160], took[96] = "";

		if (was_stale)
			snprintf(took, sizeof took, " (the lock of pid %ld, which died, taken over)",
				 stale.pid);
		snprintf(seen, sizeof seen, "%zu nodes on %zu hosts%s", m.nnodes, m.nhosts, took);
		mon_event(&m, "monitor-start", NULL, NULL, seen,
			  "watching: nodes start as unknown until their first probe", -1);
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "+", 1) != 1)
			log_debug("ready pipe: %s", strerror(errno));
		close(ready_fd);
		ready_fd = -1;
	}
	event_base_dispatch(m.base);
	if (o->once) {
		if (mon_once_result(&m, e) < 0)
			goto out;
	} else {
		mon_event(&m, "monitor-stop", NULL, NULL, "a signal", "stopped", -1);
	}
	rc = 0;
out:
	if (ready_fd >= 0) {
		char msg[600];
		int len = snprintf(msg, sizeof msg, "-%d %s", e->code ? e->code : EIO, e->msg);

		if (len < 0 || len >= (int)sizeof msg)
			len = (int)sizeof msg - 1;

		if (write(ready_fd, msg, (size_t)len) < 0)
			log_debug("ready pipe: %s", strerror(errno));
		close(ready_fd);
	}
	mon_free(&m);
	return rc;
}

int monitor_reload(const char *spec_path, long *pid, struct err *e)
{
	struct spec *s = NULL;
	struct lock_holder h;
	bool held = false;
	char me[256] = "";
	int rc = -1;

	*pid = 0;
	if (spec_load(spec_path, &s, NULL, e) < 0)
		return -1;
	if (state_lock_read_named(s->name, MONITOR_LOCK_FILE, &h, &held, e) < 0 || !held) {
		err_set(e, ESRCH, "cluster %s: no monitor runs", s->name);
		goto out;
	}
	gethostname(me, sizeof me - 1);
	if (strcmp(me, h.host)) {
		err_set(e, EREMOTE, "cluster %s: its monitor runs on %s (pid %ld), not here",
			s->name, h.host, h.pid);
		goto out;
	}
	if (kill((pid_t)h.pid, SIGHUP) < 0) {
		err_sys(e, errno, "cluster %s: signal its monitor (pid %ld)", s->name, h.pid);
		goto out;
	}
	*pid = h.pid;
	rc = 0;
out:
	spec_free(s);
	return rc;
}
