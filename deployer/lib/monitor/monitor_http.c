/* monitor_http.c - `shoal monitor` over evhttp: /status (`shoal status
 * --json` built on a thread, extended with the monitor's view), /metrics
 * (Prometheus text) and /events (the recent decisions) (monitor_int.h). */
#include "monitor_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* /status: `shoal status --json` built anew this often (it asks the database) */
#define STATUS_REFRESH_MS 2000
/* ... while /status was asked for within this long */
#define STATUS_WANTED_MS 60000

/* What only the monitor knows, for the "monitor" object of /status: its
 * hosts, its view of every node (docs/monitor.md), whether it holds. */
static json_t *monitor_json(struct mon *m)
{
	json_t *nodes = json_array(), *hosts = json_array();
	int reachable = 0;

	for (size_t i = 0; i < m->nhosts; i++) {
		struct mhost *h = &m->hosts[i];
		json_t *r = json_pack("{s:s, s:s, s:I}", "host", h->sh->name, "state",
				      mon_host_state_name(h->fsm.state), "reconnects",
				      (json_int_t)h->fsm.reconnects);

		if (h->last_err.code)
			json_object_set_new(r, "error", json_string(h->last_err.msg));
		json_array_append_new(hosts, r);
		reachable += h->fsm.state == MH_UP;
	}
	for (size_t i = 0; i < m->nnodes; i++) {
		struct mnode *n = &m->nodes[i];

		json_array_append_new(nodes, json_pack(
			"{s:s, s:s, s:s, s:I, s:s, s:i}", "node", n->sn->id, "host", n->sn->host,
			"health", mon_node_state_name(n->fsm.state), "restarts",
			(json_int_t)n->restarts, "last_probe",
			n->probes ? probe_result_name(n->last) : "none", "kills", n->fsm.kills));
	}
	json_t *doc = json_pack("{s:b, s:i, s:i, s:o, s:o, s:i, s:f, s:i}", "held", m->held,
				"hosts_reachable", reachable, "hosts_watched", (int)m->nhosts,
				"hosts", hosts, "nodes", nodes, "reschedules", m->reschedules,
				"last_reschedule_seconds", m->last_resched_ms / 1000.0,
				"failbacks", m->failbacks);

	if (m->gate) {
		int64_t token = 0;
		bool acting = leader_gate_acting(m->gate, &token);

		json_object_set_new(doc, "leader", json_pack("{s:b, s:I}", "acting", acting,
							     "token", (json_int_t)token));
	}
	return doc;
}

/* ---- /status: `shoal status --json` on a thread --------------------------------------- */

/* The agent's view of each watched node, copied on the loop, and the
 * document built from it on a thread (cluster_status_doc reads state.json
 * and asks the database, which blocks). */
struct status_job {
	const char *spec_path;
	size_t n;
	char **ids, **hosts;   /* per watched node */
	json_t **rec;          /* its node.list-like record, or NULL (host not up) */
	const char **absent;   /* then why: "connecting" or "host-down" */
	json_t *doc;
	pthread_t th;
	bool finished;         /* atomic */
};

static void status_job_free(struct status_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		free(j->ids[i]);
		free(j->hosts[i]);
		json_decref(j->rec[i]);
	}
	free(j->ids);
	free(j->hosts);
	free(j->rec);
	free(j->absent);
	json_decref(j->doc);
	free(j);
}

static void *status_thread(void *arg)
{
	struct status_job *j = arg;
	struct cluster c = {0};
	struct err e = {0};

	if (cluster_load(j->spec_path, NULL, &c, &e) == 0) {
		json_t **listed = xcalloc(c.st->n + 1, sizeof *listed);
		const char **absent = xcalloc(c.st->n + 1, sizeof *absent);

		for (size_t i = 0; i < c.st->n; i++)
			for (size_t k = 0; k < j->n; k++)
				if (!strcmp(j->ids[k], c.st->nodes[i].id) &&
				    !strcmp(j->hosts[k], c.st->nodes[i].host)) {
					listed[i] = j->rec[k];
					absent[i] = j->absent[k];
				}
		j->doc = cluster_status_doc(&c, listed, absent);
		free(listed);
		free(absent);
	} else {
		log_warn("/status: %s", e.msg);
	}
	cluster_free(&c);
	__atomic_store_n(&j->finished, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Every STATUS_REFRESH_MS (and at once after the last one finished, when
 * none was built yet) build the document anew. */
void mon_status_refresh(struct mon *m, int64_t now)
{
	struct status_job *j = m->sj;

	if (j && __atomic_load_n(&j->finished, __ATOMIC_ACQUIRE)) {
		pthread_join(j->th, NULL);
		if (j->doc) {
			json_decref(m->status_doc);
			m->status_doc = j->doc;
			j->doc = NULL;
		}
		status_job_free(j);
		m->sj = NULL;
	}
	/* only while someone reads /status: it asks every node of the database */
	if (m->sj || m->o->once || !m->http || now < m->status_next_ms || !m->status_asked_ms ||
	    now - m->status_asked_ms > STATUS_WANTED_MS)
		return;
	m->status_next_ms = now + STATUS_REFRESH_MS;
	j = xcalloc(1, sizeof *j);
	j->spec_path = m->spec_path;
	j->n = m->nnodes;
	j->ids = xcalloc(j->n + 1, sizeof *j->ids);
	j->hosts = xcalloc(j->n + 1, sizeof *j->hosts);
	j->rec = xcalloc(j->n + 1, sizeof *j->rec);
	j->absent = xcalloc(j->n + 1, sizeof *j->absent);
	for (size_t i = 0; i < j->n; i++) {
		struct mnode *n = &m->nodes[i];

		j->ids[i] = xstrdup(n->sn->id);
		j->hosts[i] = xstrdup(n->sn->host);
		j->absent[i] = n->h->fsm.state == MH_CONNECTING ? "connecting" : "host-down";
		if (n->h->fsm.state == MH_UP)
			j->rec[i] = json_pack("{s:s, s:I}", "state",
					      n->fsm.running ? "running" : "exited", "restarts",
					      (json_int_t)n->restarts);
	}
	if (pthread_create(&j->th, NULL, status_thread, j) != 0) {
		status_job_free(j);
		return;
	}
	m->sj = j;
}

void mon_status_free(struct mon *m)
{
	if (m->sj)
		pthread_join(m->sj->th, NULL);
	status_job_free(m->sj);
	json_decref(m->status_doc);
}

/* `shoal status --json` as last built (same schema: nodes, services,
 * monitor), its "monitor" object extended with what the monitor knows;
 * before the first one is built, the nodes as recorded, health unknown. */
static json_t *status_json(struct mon *m)
{
	json_t *doc = m->status_doc ? json_deep_copy(m->status_doc) : NULL;
	json_t *mon = monitor_json(m);

	if (!doc) {
		json_t *nodes = json_array();

		for (size_t i = 0; i < m->nnodes; i++) {
			const struct state_node *sn = m->nodes[i].sn;

			json_array_append_new(nodes, json_pack(
				"{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:s}", "node", sn->id,
				"service", sn->service, "host", sn->host, "address", sn->address,
				"port", sn->port, "role", sn->role ? sn->role : "", "state",
				m->nodes[i].h->fsm.state != MH_UP ? "host-down"
				: m->nodes[i].fsm.running ? "running" : "exited",
				"restarts", (json_int_t)m->nodes[i].restarts, "health", "unknown"));
		}
		doc = json_pack("{s:s, s:o, s:[], s:{s:b, s:I, s:s}}", "cluster", m->c.spec->name,
				"nodes", nodes, "services", "monitor", "running", 1, "pid",
				(json_int_t)getpid(), "since", m->started);
	}
	json_object_update(json_object_get(doc, "monitor"), mon);
	json_decref(mon);
	return doc;
}

static void reply(struct evhttp_request *req, const char *type, struct evbuffer *b)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, 200, "OK", b);
}

static void http_status(struct evhttp_request *req, void *arg)
{
	struct mon *m = arg;

	m->status_asked_ms = mono_ms();
	mon_status_refresh(m, m->status_asked_ms);
	json_t *doc = status_json(m);
	char *text = json_dumps(doc, JSON_COMPACT);
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "%s\n", text);
	reply(req, "application/json", b);
	evbuffer_free(b);
	free(text);
	json_decref(doc);
}

static void http_events(struct evhttp_request *req, void *arg)
{
	struct mon *m = arg;
	struct evbuffer *b = evbuffer_new();
	json_t *ev;
	size_t i;

	json_array_foreach(m->recent, i, ev) {
		char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

		evbuffer_add_printf(b, "%s\n", line);
		free(line);
	}
	reply(req, "application/x-ndjson", b);
	evbuffer_free(b);
}

static void metric_head(struct evbuffer *b, const char *name, const char *type,
			const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void http_metrics(struct evhttp_request *req, void *arg)
{
	struct mon *m = arg;
	struct evbuffer *b = evbuffer_new();
	const char *cl = m->c.spec->name;
	int reachable = 0;

#define NODE_LABELS "cluster=\"%s\",node=\"%s\",host=\"%s\""
#define NL(n) cl, (n)->sn->id, (n)->sn->host
	metric_head(b, "shoal_node_up", "gauge", "1 when the node's last probe answered.");
	for (size_t i = 0; i < m->nnodes; i++)
		evbuffer_add_printf(b, "shoal_node_up{" NODE_LABELS "} %d\n", NL(&m->nodes[i]),
				    m->nodes[i].fsm.state == MN_UP);
	metric_head(b, "shoal_node_restarts_total", "counter",
		    "Restarts of the node by its agent, as the agent reports them.");
	for (size_t i = 0; i < m->nnodes; i++)
		evbuffer_add_printf(b, "shoal_node_restarts_total{" NODE_LABELS "} %lld\n",
				    NL(&m->nodes[i]), (long long)m->nodes[i].restarts);
	metric_head(b, "shoal_node_kills_total", "counter",
		    "Hung nodes this monitor killed so that their agent restarts them.");
	for (size_t i = 0; i < m->nnodes; i++)
		evbuffer_add_printf(b, "shoal_node_kills_total{" NODE_LABELS "} %d\n",
				    NL(&m->nodes[i]), m->nodes[i].fsm.kills);
	metric_head(b, "shoal_node_probe_seconds", "histogram",
		    "How long the node's health probes took.");
	for (size_t i = 0; i < m->nnodes; i++) {
		struct mnode *n = &m->nodes[i];

		for (size_t k = 0; k < NBUCKETS; k++)
			evbuffer_add_printf(b, "shoal_node_probe_seconds_bucket{" NODE_LABELS
					    ",le=\"%g\"} %llu\n", NL(n), mon_probe_buckets[k],
					    (unsigned long long)n->bucket[k]);
		evbuffer_add_printf(b, "shoal_node_probe_seconds_bucket{" NODE_LABELS
				    ",le=\"+Inf\"} %llu\n", NL(n), (unsigned long long)n->count);
		evbuffer_add_printf(b, "shoal_node_probe_seconds_sum{" NODE_LABELS "} %.6f\n",
				    NL(n), n->sum);
		evbuffer_add_printf(b, "shoal_node_probe_seconds_count{" NODE_LABELS "} %llu\n",
				    NL(n), (unsigned long long)n->count);
	}
	metric_head(b, "shoal_repair_detection_seconds", "gauge",
		    "Last incident of the node: first failed probe (or exit) to decision.");
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].fsm.last_detect_ms >= 0)
			evbuffer_add_printf(b, "shoal_repair_detection_seconds{" NODE_LABELS
					    "} %.3f\n", NL(&m->nodes[i]),
					    m->nodes[i].fsm.last_detect_ms / 1000.0);
	metric_head(b, "shoal_repair_seconds", "gauge",
		    "Last incident of the node: first failed probe (or exit) to answering again.");
	for (size_t i = 0; i < m->nnodes; i++)
		if (m->nodes[i].fsm.last_repair_ms >= 0)
			evbuffer_add_printf(b, "shoal_repair_seconds{" NODE_LABELS "} %.3f\n",
					    NL(&m->nodes[i]), m->nodes[i].fsm.last_repair_ms / 1000.0);
	metric_head(b, "shoal_host_up", "gauge", "1 when the host's agent answers.");
	for (size_t i = 0; i < m->nhosts; i++) {
		bool up = m->hosts[i].fsm.state == MH_UP;

		reachable += up;
		evbuffer_add_printf(b, "shoal_host_up{cluster=\"%s\",host=\"%s\"} %d\n", cl,
				    m->hosts[i].sh->name, up);
	}
	metric_head(b, "shoal_cluster_hosts", "gauge", "Hosts the cluster's nodes are on.");
	evbuffer_add_printf(b, "shoal_cluster_hosts{cluster=\"%s\"} %zu\n", cl, m->nhosts);
	metric_head(b, "shoal_cluster_hosts_reachable", "gauge",
		    "Hosts whose agent answers.");
	evbuffer_add_printf(b, "shoal_cluster_hosts_reachable{cluster=\"%s\"} %d\n", cl,
			    reachable);
	metric_head(b, "shoal_cluster_held", "gauge",
		    "1 while more than half of the hosts are unreachable (no repair).");
	evbuffer_add_printf(b, "shoal_cluster_held{cluster=\"%s\"} %d\n", cl, m->held);
	metric_head(b, "shoal_reschedules_total", "counter",
		    "Reschedules of gone hosts' nodes this monitor completed.");
	evbuffer_add_printf(b, "shoal_reschedules_total{cluster=\"%s\"} %d\n", cl,
			    m->reschedules);
	metric_head(b, "shoal_reschedule_seconds", "gauge",
		    "Last reschedule: host lost to its nodes running elsewhere, cluster formed.");
	evbuffer_add_printf(b, "shoal_reschedule_seconds{cluster=\"%s\"} %.3f\n", cl,
			    m->last_resched_ms / 1000.0);
	metric_head(b, "shoal_failbacks_total", "counter",
		    "Fail-backs (monitor.fail_back) this monitor completed that gave a "
		    "master its role back.");
	evbuffer_add_printf(b, "shoal_failbacks_total{cluster=\"%s\"} %d\n", cl, m->failbacks);
	metric_head(b, "shoal_monitor_events_total", "counter",
		    "Events this monitor process logged.");
	evbuffer_add_printf(b, "shoal_monitor_events_total{cluster=\"%s\"} %llu\n", cl,
			    (unsigned long long)m->nevents);
#undef NL
#undef NODE_LABELS
	reply(req, "text/plain; version=0.0.4", b);
	evbuffer_free(b);
}

int mon_http_start(struct mon *m, const char *listen, struct err *e)
{
	_cleanup_free_ char *addr = xstrdup(listen);
	char *colon = strrchr(addr, ':');
	int port;

	if (!colon || !(port = atoi(colon + 1)))
		return err_set(e, EINVAL, "monitor.listen '%s': expected ADDRESS:PORT", listen);
	*colon = '\0';
	if (addr[0] == '[') { /* [::1]:7900 */
		memmove(addr, addr + 1, strlen(addr));
		addr[strcspn(addr, "]")] = '\0';
	}
	m->http = evhttp_new(m->base);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	if (evhttp_bind_socket(m->http, addr, (uint16_t)port) < 0)
		return err_sys(e, errno, "monitor.listen %s: bind", listen);
	evhttp_set_cb(m->http, "/status", http_status, m);
	evhttp_set_cb(m->http, "/metrics", http_metrics, m);
	evhttp_set_cb(m->http, "/events", http_events, m);
	return 0;
}
