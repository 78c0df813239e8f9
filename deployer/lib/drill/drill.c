/* drill.c - `shoal drill`: connect, check the cluster is healthy, start
 * the load, inject one fault per round through the victim's agent, watch
 * who notices and when the cluster is healthy again, heal, read every key
 * back and report (drill.h, docs/drills.md). */
#include "drill_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "converge_int.h"
#include "log.h"
#include "util.h"

#define TICK_MS 100
#define OBSERVE_TIMEOUT_MS 300
#define SETTLE_MS 1000 /* load after the last round, and between rounds at least */
#define AGENT_TIMEOUT_MS 5000
/* A network fault outlives its planned end by at most this much when shoal
 * cannot remove it (dead, cut off): the agent's dead-man timer does. */
#define DEADMAN_MARGIN_MS 15000
#define LOST_KEYS_MAX 100 /* lost keys the report names */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

struct drill {
	const struct drill_opts *o;
	struct cluster c;
	size_t svc;
	const struct db_driver *drv;
	struct db_node *nodes; /* the service's recorded nodes */
	const char **hosts;    /* host of nodes[i] */
	size_t n;
	struct db_opts dbo;
	struct loadgen *load;
	int64_t t0;
	/* the fault this drill made and has not undone yet (has_open) */
	bool has_open;
	enum drill_scenario open_sc;
	const char *open_node;  /* pause-node: the stopped node */
	char *open_hosts;       /* its host, or the hosts of a host fault ("h1,h2") */
	json_t *rounds;
	bool failed_round;
};

/* ---- the cluster ---------------------------------------------------------------- */

static int pick_service(struct drill *d, struct err *e)
{
	const struct spec *s = d->c.spec;

	for (size_t i = 0; i < s->nservices; i++) {
		if (d->o->service && strcmp(s->services[i].name, d->o->service))
			continue;
		if (!db_can(d->c.drv[i], "kv")) {
			if (d->o->service)
				return err_usage(e, "service %s: database kind %s has no client to load it with",
						 s->services[i].name, d->c.drv[i]->kind);
			continue;
		}
		d->svc = i;
		d->drv = d->c.drv[i];
		return 0;
	}
	if (d->o->service)
		return err_usage(e, "%s: no service named %s", s->name, d->o->service);
	return err_usage(e, "%s: no service whose database kind a drill can load", s->name);
}

/* The service's nodes as the state records them. */
static int recorded_nodes(struct drill *d, struct err *e)
{
	const char *svc = d->c.spec->services[d->svc].name;
	const struct state *st = d->c.st;

	d->nodes = xcalloc(st->n + 1, sizeof *d->nodes);
	d->hosts = xcalloc(st->n + 1, sizeof *d->hosts);
	for (size_t i = 0; i < st->n; i++)
		if (st->nodes[i].service && !strcmp(st->nodes[i].service, svc)) {
			d->hosts[d->n] = st->nodes[i].host;
			d->nodes[d->n++] = db_node_of_state(&st->nodes[i]);
		}
	for (size_t i = 0; i < d->n; i++) {
		const struct state_node *sn = state_find(st, d->nodes[i].id);

		for (size_t j = 0; sn && sn->master && j < d->n; j++)
			if (!strcmp(d->nodes[j].id, sn->master))
				d->nodes[i].master_index = (int)j;
	}
	if (!d->n)
		return err_set(e, ENOENT, "%s: service %s has no recorded nodes: run `shoal up` first",
			       d->c.spec->name, svc);
	return 0;
}

static ssize_t node_index(const struct drill *d, const char *id)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->nodes[i].id, id))
			return (ssize_t)i;
	return -1;
}

/* The database's view now; NULL (logged at debug) when it cannot be had. */
static struct db_view *observe(struct drill *d)
{
	struct db_opts o = d->dbo;
	struct db_view *v = NULL;
	struct err e;

	o.timeout_ms = OBSERVE_TIMEOUT_MS;
	if (db_observe(d->drv, d->nodes, d->n, &o, &v, &e) < 0) {
		log_debug("observe: %s", e.msg);
		return NULL;
	}
	return v;
}

/* Every node answers and the database says "ok". */
static bool healthy(const struct db_view *v, size_t n)
{
	return v && v->reachable == (int)n && !strcmp(v->health, "ok");
}

/* Why v is not healthy, for messages. */
static char *unhealthy_reason(const struct drill *d, const struct db_view *v)
{
	struct buf b = {0};

	if (!v)
		return xstrdup("the database cannot be asked");
	buf_printf(&b, "%s", v->health);
	for (size_t i = 0; i < v->n; i++)
		if (!v->members[i].reachable)
			buf_printf(&b, "; %s unreachable: %s", d->nodes[i].id,
				   v->members[i].error ? v->members[i].error : "?");
		else if (!v->members[i].state_ok)
			buf_printf(&b, "; %s reports its cluster not ok", d->nodes[i].id);
	return buf_steal(&b);
}

/* ---- faults through the agent ------------------------------------------------------ */

static int node_signal(struct drill *d, const char *host, const char *node, int sig, struct err *e)
{
	struct fleet_host *h = fleet_host(d->c.fleet, host);
	json_t *req = json_pack("{s:s, s:s, s:s, s:i}", "op", "node.kill", "cluster",
				d->c.spec->name, "node", node, "signal", sig);

	if (!h || !h->agent) {
		json_decref(req);
		return err_set(e, EHOSTUNREACH, "%s: not connected", host);
	}
	return fleet_call_stream(h, req, NULL, NULL, NULL, AGENT_TIMEOUT_MS, e) < 0
		       ? err_wrap(e, "%s: signal %d", node, sig)
		       : 0;
}

/* host.kill, net.fault or net.heal to one host.  *resp may be NULL. */
static int host_call(struct drill *d, const char *host, json_t *req, json_t **resp, struct err *e)
{
	struct fleet_host *h = fleet_host(d->c.fleet, host);

	if (!h || !h->agent) {
		json_decref(req);
		return err_set(e, EHOSTUNREACH, "%s: not connected", host);
	}
	return fleet_call_stream(h, req, NULL, NULL, resp, AGENT_TIMEOUT_MS, e);
}

static void subscribe_host(struct fleet_host *h)
{
	struct err e;

	if (h->agent && fleet_call_stream(h, json_pack("{s:s, s:b}", "op", "events.subscribe",
						       "on", 1),
					  NULL, NULL, NULL, AGENT_TIMEOUT_MS, &e) < 0)
		log_warn("%s (the agent's events are not watched)", e.msg);
}

/* Undo the open fault: SIGCONT for pause-node, net.heal on every host of a
 * network fault, a new connection (which starts the agent, which starts
 * the nodes) for kill-host.  Returns -1 when it could not (the fault stays
 * open; a network fault still ends at its dead-man deadline). */
static int heal(struct drill *d, struct err *e)
{
	_cleanup_free_ char *hosts = NULL;
	const char *done = NULL;
	char *save = NULL;

	if (!d->has_open)
		return 0;
	hosts = xstrdup(d->open_hosts);
	switch (d->open_sc) {
	case DRILL_PAUSE_NODE:
		done = "resumed (SIGCONT)";
		if (node_signal(d, d->open_hosts, d->open_node, SIGCONT, e) < 0) {
			/* the stopped process is gone (the monitor had it killed, its
			 * agent restarts it): nothing of the drill's is left to undo */
			if (e->code != ESRCH)
				return -1;
			done = "nothing to resume: the stopped process was killed since (its agent restarts it)";
		}
		break;
	case DRILL_PARTITION:
	case DRILL_SLOW_NETWORK:
		done = "its nftables table (inet shoal) removed through net.heal";
		for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save))
			if (host_call(d, h, json_pack("{s:s}", "op", "net.heal"), NULL, e) < 0)
				return -1;
		break;
	case DRILL_KILL_HOST: {
		struct transport_opts to = {.accept_new_host_keys = d->o->accept_new_host_keys};
		struct fleet_host *h = fleet_host(d->c.fleet, d->open_hosts);

		if (!h)
			return err_set(e, ENOENT, "%s: not a host of the spec", d->open_hosts);
		if (fleet_reconnect(d->c.fleet, (size_t)(h - d->c.fleet->hosts), &to, e) < 0)
			return err_wrap(e, "connect to %s again", d->open_hosts);
		subscribe_host(h);
		done = "connected again: its agent started, and starts the nodes it should run";
		break;
	}
	default:
		break;
	}
	cluster_event(&d->c, "drill-heal",
		      json_pack("{s:s?, s:s, s:s, s:s}", "node", d->open_node, "host",
				d->open_hosts, "seen",
				d->open_sc == DRILL_PAUSE_NODE ? "stopped by the drill"
							       : drill_scenario_name(d->open_sc),
				"done", done));
	free(d->open_hosts);
	d->open_hosts = NULL;
	d->open_node = NULL;
	d->has_open = false;
	return 0;
}

/* Subscribe every connected host's session to agent events. */
static void subscribe_events(struct drill *d)
{
	for (size_t i = 0; i < d->c.fleet->n; i++)
		subscribe_host(&d->c.fleet->hosts[i]);
}

/* Drain the agent events of every host; the first `exited` of node since
 * `since` sets *at (wall ms). */
static void agent_events(struct drill *d, const char *node, int64_t since, int64_t *at)
{
	for (size_t i = 0; i < d->c.fleet->n; i++) {
		struct fleet_host *h = &d->c.fleet->hosts[i];
		json_t *ev;
		struct err e;

		while (fleet_next_event(h, &ev, &e) == 1) {
			const char *type = json_string_value(json_object_get(ev, "event"));
			const char *n = json_string_value(json_object_get(ev, "node"));
			int64_t now = drill_wall_ms();

			if (node && n && type && !strcmp(n, node) && !strcmp(type, "exited") &&
			    !*at && now >= since)
				*at = now;
			json_decref(ev);
		}
	}
}

/* Is host h one of the comma-separated list? */
static bool in_list(const char *list, const char *h)
{
	size_t n = strlen(h);

	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t len = c ? (size_t)(c - p) : strlen(p);

		if (len == n && !strncmp(p, h, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

/* ---- the monitor's events ------------------------------------------------------------ */

/* The monitor's events of the cluster log with at_ms >= since (array). */
static json_t *monitor_events(struct drill *d, int64_t since)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	json_t *out = json_array();
	size_t len;
	struct err e;

	if (state_dir(d->c.spec->name, &dir, &e) < 0)
		return out;
	path = path_join(dir, "events.jsonl");
	if (read_file(path, 256u << 20, &text, &len, &e) < 0)
		return out;
	for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		json_t *ev;

		nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		ev = json_loads(line, 0, NULL);
		if (ev && !strcmp(json_string_value(json_object_get(ev, "by")) ?: "", "monitor") &&
		    json_integer_value(json_object_get(ev, "at_ms")) >= since)
			json_array_append(out, ev);
		json_decref(ev);
	}
	return out;
}

/* Attach to each round the monitor's events about its victim (or its
 * host; for a host fault, its hosts and their nodes) between its injection and the next round's, and the monitor's
 * detection (first node-exited/node-hung/host-unreachable) and repair
 * (node-back / host-reachable) marks. */
static void attach_monitor(struct drill *d)
{
	json_t *evs = monitor_events(d, d->t0), *r;
	size_t i;

	json_array_foreach(d->rounds, i, r) {
		json_t *next = json_array_get(d->rounds, i + 1), *mine = json_array(), *ev;
		int64_t from = json_integer_value(json_object_get(r, "injected_at_ms")) + d->t0;
		int64_t to = next ? json_integer_value(json_object_get(next, "injected_at_ms")) + d->t0
				  : INT64_MAX;
		const char *victim = json_string_value(json_object_get(r, "victim"));
		const char *host = json_string_value(json_object_get(r, "host"));
		int64_t det = -1, back = -1;
		int sc = drill_scenario_parse(json_string_value(json_object_get(r, "fault")));
		/* a host fault: the monitor's events about its hosts and their nodes */
		bool on_hosts = sc >= 0 && drill_scenario_on_hosts((enum drill_scenario)sc);
		size_t k;

		json_array_foreach(evs, k, ev) {
			int64_t at = json_integer_value(json_object_get(ev, "at_ms"));
			const char *type = json_string_value(json_object_get(ev, "event")) ?: "";
			const char *n = json_string_value(json_object_get(ev, "node"));
			const char *h = json_string_value(json_object_get(ev, "host"));

			if (at < from || at >= to ||
			    !(on_hosts ? h && in_list(host, h)
				       : (n && !strcmp(n, victim)) || (!n && h && !strcmp(h, host))))
				continue;
			json_array_append_new(mine, json_pack("{s:s, s:I}", "event", type, "at_ms",
							      (json_int_t)(at - d->t0)));
			if (det < 0 && (!strcmp(type, "node-exited") || !strcmp(type, "node-hung") ||
					!strcmp(type, "host-unreachable")))
				det = at - d->t0;
			if (back < 0 && (!strcmp(type, "node-back") || !strcmp(type, "host-reachable")))
				back = at - d->t0;
		}
		json_object_set_new(r, "monitor_events", mine);
		json_object_set_new(r, "monitor_detected_at_ms", det >= 0 ? json_integer(det) : json_null());
		json_object_set_new(r, "monitor_repaired_at_ms", back >= 0 ? json_integer(back) : json_null());
		if (det >= 0 && (json_is_null(json_object_get(r, "detected_at_ms")) ||
				 det < json_integer_value(json_object_get(r, "detected_at_ms")))) {
			json_object_set_new(r, "detected_at_ms", json_integer(det));
			json_object_set_new(r, "detected_by", json_string("monitor"));
		}
	}
	json_decref(evs);
}

/* ---- rounds ------------------------------------------------------------------------------ */

/* Wait until wall time `until` (or an interrupt); false when interrupted. */
static bool wait_until(int64_t until)
{
	while (!interrupted && drill_wall_ms() < until) {
		int64_t left = until - drill_wall_ms();
		struct timespec ts = {.tv_nsec = (left < TICK_MS ? left : TICK_MS) * 1000000};

		nanosleep(&ts, NULL);
	}
	return !interrupted;
}

/* Candidates of a round: every node, or for kill-master those the database
 * reports as masters now (the recorded masters when it cannot say). */
static size_t candidates(struct drill *d, enum drill_scenario sc, const char **out)
{
	size_t k = 0;

	if (sc == DRILL_KILL_MASTER) {
		struct db_view *v = observe(d);

		for (size_t i = 0; v && i < v->n; i++)
			if (v->members[i].reachable && v->members[i].role &&
			    !strcmp(v->members[i].role, "master"))
				out[k++] = d->nodes[i].id;
		db_view_free(v);
		if (k)
			return k;
		for (size_t i = 0; i < d->n; i++)
			if (d->nodes[i].master)
				out[k++] = d->nodes[i].id;
		return k;
	}
	for (size_t i = 0; i < d->n; i++)
		out[k++] = d->nodes[i].id;
	return k;
}

/* The distinct hosts of the service's nodes into out (d->n + 1 slots). */
static size_t service_hosts(const struct drill *d, const char **out)
{
	size_t k = 0;

	for (size_t i = 0; i < d->n; i++) {
		size_t j = 0;

		while (j < k && strcmp(out[j], d->hosts[i]))
			j++;
		if (j == k)
			out[k++] = d->hosts[i];
	}
	return k;
}

/* Append the IP addresses name resolves to (a literal gives itself) to the
 * array, once each. */
static void add_addresses(json_t *arr, const char *name)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;

	if (!name || getaddrinfo(name, NULL, &hints, &res) != 0)
		return;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *bin = ai->ai_family == AF_INET
					  ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
					  : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		bool seen = false;
		size_t i;
		json_t *it;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    !inet_ntop(ai->ai_family, bin, text, sizeof text))
			continue;
		json_array_foreach(arr, i, it)
			seen = seen || !strcmp(json_string_value(it), text);
		if (!seen)
			json_array_append_new(arr, json_string(text));
	}
	freeaddrinfo(res);
}

/* The addresses a partition of `cut_off` (host list) cuts it from: every
 * other host of the spec, and every node address not on those hosts. */
static json_t *peers_of(struct drill *d, const char *cut_off)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < d->c.spec->nhosts; i++)
		if (!in_list(cut_off, d->c.spec->hosts[i].name))
			add_addresses(arr, d->c.spec->hosts[i].address);
	for (size_t i = 0; i < d->n; i++)
		if (!in_list(cut_off, d->hosts[i]))
			add_addresses(arr, d->nodes[i].address);
	return arr;
}

/* Make the fault of scenario sc on victim (a node, or hosts for a host
 * fault).  *note (may stay NULL; caller frees) says what the agent did
 * when it is worth telling. */
static int inject(struct drill *d, enum drill_scenario sc, const char *victim, const char *host,
		  char **note, struct err *e)
{
	int64_t dur = d->o->pause_ms + DEADMAN_MARGIN_MS;
	_cleanup_free_ char *hosts = xstrdup(host);
	char *save = NULL;
	json_t *resp = NULL;

	switch (sc) {
	case DRILL_KILL_NODE:
	case DRILL_KILL_MASTER:
		return node_signal(d, host, victim, SIGKILL, e);
	case DRILL_PAUSE_NODE:
		return node_signal(d, host, victim, SIGSTOP, e);
	case DRILL_KILL_HOST:
		if (host_call(d, host, json_pack("{s:s}", "op", "host.kill"), &resp, e) < 0)
			return -1;
		*note = xasprintf("%zu nodes killed, then its agent",
				  json_array_size(json_object_get(resp, "killed")));
		json_decref(resp);
		return 0;
	case DRILL_PARTITION:
		for (char *h = strtok_r(hosts, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
			json_t *peers = peers_of(d, host);

			if (!json_array_size(peers)) {
				json_decref(peers);
				return err_set(e, ENOENT, "partition of %s: no other host to cut it from", host);
			}
			if (host_call(d, h, json_pack("{s:s, s:o, s:I}", "op", "net.fault", "cut", peers,
						      "duration_ms", (json_int_t)dur),
				      NULL, e) < 0)
				return -1;
		}
		return 0;
	case DRILL_SLOW_NETWORK:
		if (host_call(d, host, json_pack("{s:s, s:i, s:I, s:I}", "op", "net.fault", "loss_pct",
						 d->o->loss_pct, "delay_ms", (json_int_t)d->o->delay_ms,
						 "duration_ms", (json_int_t)dur),
			      &resp, e) < 0)
			return -1;
		*note = xasprintf("loss %d%%, delay %s", d->o->loss_pct,
				  json_string_value(json_object_get(resp, "delay")) ?: "none asked");
		json_decref(resp);
		return 0;
	default:
		return err_set(e, EINVAL, "%s is not a fault", drill_scenario_name(sc));
	}
}

static const char *fault_done(enum drill_scenario sc)
{
	switch (sc) {
	case DRILL_PAUSE_NODE: return "stopped (SIGSTOP) through its agent";
	case DRILL_KILL_HOST: return "every node and the agent killed (host.kill)";
	case DRILL_PARTITION: return "cut from the other hosts by nftables (net.fault)";
	case DRILL_SLOW_NETWORK: return "packet loss and delay (net.fault)";
	default: return "killed (SIGKILL) through its agent";
	}
}

static json_t *ms_or_null(int64_t at, int64_t t0)
{
	return at ? json_integer(at - t0) : json_null();
}

/* The victim of round sched: a node id (node faults), or a host list (host
 * faults); *host its host(s).  Caller frees both. */
static int pick_victim(struct drill *d, const struct drill_round *sched, char **victim,
		       char **host)
{
	const char **cand = xcalloc(d->n + 1, sizeof *cand);
	enum drill_scenario sc = sched->scenario;
	const char *v = NULL;
	ssize_t vi;

	*victim = *host = NULL;
	if (drill_scenario_on_hosts(sc)) {
		size_t nh = service_hosts(d, cand);

		*victim = sc == DRILL_PARTITION ? drill_pick_minority(sched, cand, nh)
						: (nh ? xstrdup(drill_pick(sched, cand, nh)) : NULL);
		if (*victim)
			*host = xstrdup(*victim);
	} else if ((v = drill_pick(sched, cand, candidates(d, sc, cand))) &&
		   (vi = node_index(d, v)) >= 0) {
		*victim = xstrdup(v);
		*host = xstrdup(d->hosts[vi]);
	}
	free(cand);
	return *victim ? 0 : -1;
}

/* One round: inject, watch, heal, wait for recovery.  Returns -1 when the
 * fault could not be made or healed (the drill stops). */
static int run_round(struct drill *d, int r, const struct drill_round *sched, struct err *e)
{
	const struct drill_opts *o = d->o;
	enum drill_scenario sc = sched->scenario;
	_cleanup_free_ char *victim = NULL, *host = NULL, *note = NULL;
	/* kill-node and kill-master undo themselves (the agent restarts the
	 * node); the others last pause_ms */
	bool timed = sc != DRILL_KILL_NODE && sc != DRILL_KILL_MASTER;
	int64_t injected, detected_agent = 0, detected_db = 0, healed = 0, recovered = 0, deadline;
	const char *detected_by = NULL;
	int64_t detected = 0;
	json_t *rec;

	if (pick_victim(d, sched, &victim, &host) < 0)
		return err_set(e, ENOENT, "round %d: no %s to %s", r + 1,
			       drill_scenario_on_hosts(sc) ? "hosts" : "node",
			       drill_scenario_name(sc));
	fprintf(stderr, "round %d/%d: %s %s%s%s\n", r + 1, o->rounds, drill_scenario_name(sc),
		victim, drill_scenario_on_hosts(sc) ? "" : " on ", drill_scenario_on_hosts(sc) ? "" : host);
	agent_events(d, NULL, 0, &detected_agent); /* drop older events */
	if (timed) {
		d->has_open = true;
		d->open_sc = sc;
		d->open_node = sc == DRILL_PAUSE_NODE ? d->nodes[node_index(d, victim)].id : NULL;
		d->open_hosts = xstrdup(host);
	}
	injected = drill_wall_ms();
	if (inject(d, sc, victim, host, &note, e) < 0) {
		struct err he = {0};

		/* a partition made on some hosts before the error is undone */
		if (sc == DRILL_PARTITION && heal(d, &he) < 0)
			log_error("could not heal: %s", he.msg);
		if (d->has_open) {
			free(d->open_hosts);
			d->open_hosts = NULL;
			d->open_node = NULL;
			d->has_open = false;
		}
		return -1;
	}
	cluster_event(&d->c, "drill-fault",
		      json_pack("{s:s?, s:s, s:s, s:s}", "node",
				drill_scenario_on_hosts(sc) ? NULL : victim, "host", host, "seen",
				drill_scenario_name(sc), "done", note ? note : fault_done(sc)));
	if (!timed)
		healed = injected; /* the agent restarts it: nothing to undo */
	deadline = injected + o->recover_ms + (timed ? o->pause_ms : 0);
	while (!interrupted && drill_wall_ms() < deadline) {
		struct db_view *v;
		int64_t now;
		const char *watch = drill_scenario_on_hosts(sc) ? NULL : victim;

		agent_events(d, watch, injected, &detected_agent);
		if (!healed && drill_wall_ms() >= injected + o->pause_ms) {
			if (heal(d, e) < 0)
				return -1;
			healed = drill_wall_ms();
		}
		v = observe(d);
		/* what the agents said while the view was read is known as
		 * early as the view (a tie goes to the agent, who saw the
		 * cause, not a symptom) */
		agent_events(d, watch, injected, &detected_agent);
		now = drill_wall_ms();
		if (!detected_db && !healthy(v, d->n))
			detected_db = now;
		if (!detected && (detected_agent || detected_db)) {
			detected = detected_agent && (!detected_db || detected_agent <= detected_db)
					   ? detected_agent
					   : detected_db;
			detected_by = detected == detected_agent ? "agent" : "database";
		}
		/* a fault that lasted its time and is undone counts as recovered
		 * once the cluster is healthy, noticed or not (a short partition
		 * or a lossy link may go unnoticed) */
		if ((detected || timed) && healed && healthy(v, d->n) && !recovered)
			recovered = now;
		db_view_free(v);
		if (recovered && healed)
			break;
		wait_until(drill_wall_ms() + TICK_MS);
	}
	if (!healed && heal(d, e) < 0)
		return -1;
	if (!healed)
		healed = drill_wall_ms();
	rec = json_pack("{s:i, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:s?, s:b, s:s?}", "round", r + 1,
			"fault", drill_scenario_name(sc), "victim", victim, "host", host,
			"injected_at_ms", (json_int_t)(injected - d->t0), "healed_at_ms",
			ms_or_null(healed, d->t0), "detected_at_ms", ms_or_null(detected, d->t0),
			"recovered_at_ms", ms_or_null(recovered, d->t0), "detected_by", detected_by,
			"recovered", recovered != 0, "note", note);
	json_array_append_new(d->rounds, rec);
	if (recovered)
		fprintf(stderr, "round %d/%d: detected after %.2f s (%s), recovered after %.2f s\n",
			r + 1, o->rounds, detected ? (double)(detected - injected) / 1000 : 0.0,
			detected_by ? detected_by : "-", (double)(recovered - injected) / 1000);
	else
		d->failed_round = true;
	return 0;
}

/* ---- the report ------------------------------------------------------------------------ */

static json_t *build_report(struct drill *d, const struct load_totals *t, struct db_view *end,
			    bool monitor_running, const char *why_stopped)
{
	const struct drill_opts *o = d->o;
	json_t *rep, *r;
	size_t i, nr = json_array_size(d->rounds);
	struct load_window *w = xcalloc(nr + 1, sizeof *w);
	char seed[32];
	_cleanup_free_ char *reason = healthy(end, d->n) ? NULL : unhealthy_reason(d, end);

	snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
	json_array_foreach(d->rounds, i, r) {
		json_t *next = json_array_get(d->rounds, i + 1);

		w[i].from = json_integer_value(json_object_get(r, "injected_at_ms")) + d->t0;
		w[i].to = next ? json_integer_value(json_object_get(next, "injected_at_ms")) + d->t0
			       : INT64_MAX / 2;
	}
	if (d->load) {
		struct load_totals tt;

		loadgen_results(d->load, w, nr, &tt);
	}
	json_array_foreach(d->rounds, i, r) {
		json_object_set_new(r, "acked", json_integer(w[i].acked));
		json_object_set_new(r, "lost", json_integer(w[i].lost));
		json_object_set_new(r, "below_quorum", json_integer(w[i].below_quorum));
		json_object_set_new(r, "errors", json_integer(w[i].errors));
		json_object_set_new(r, "unavailable_ms", json_integer(w[i].unavailable_ms));
	}
	free(w);
	rep = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:{s:i, s:i, s:i}, s:I, s:I, s:O}",
			"cluster", d->c.spec->name, "service", d->c.spec->services[d->svc].name,
			"scenario", drill_scenario_name(o->scenario), "seed", seed, "rounds_planned",
			o->rounds, "interval_ms", (json_int_t)o->interval_ms, "pause_ms",
			(json_int_t)o->pause_ms, "load", "writers", o->load.writers, "rate",
			o->load.rate, "wait", o->load.wait, "started_at_ms", (json_int_t)d->t0,
			"duration_ms", (json_int_t)t->ran_ms, "rounds", d->rounds);
	json_object_set_new(rep, "check",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:b}", "attempted",
				      (json_int_t)t->attempted, "acknowledged",
				      (json_int_t)t->acknowledged, "lost", (json_int_t)t->lost,
				      "unexpected", (json_int_t)t->unexpected, "unread",
				      (json_int_t)t->unread, "errors", (json_int_t)t->errors,
				      "never_acknowledged", (json_int_t)t->pending,
				      "unavailable_ms", (json_int_t)t->unavailable_ms, "writes_per_s",
				      t->writes_per_s, "valid", t->lost == 0 && t->unread == 0));
	json_object_set_new(json_object_get(rep, "check"), "below_quorum",
			    json_integer(t->below_quorum));
	json_object_set_new(rep, "series", d->load ? loadgen_series(d->load) : json_array());
	json_object_set_new(rep, "lost_keys",
			    d->load ? loadgen_lost_keys(d->load, false, LOST_KEYS_MAX) : json_array());
	json_object_set_new(rep, "below_quorum_keys",
			    d->load ? loadgen_lost_keys(d->load, true, LOST_KEYS_MAX) : json_array());
	json_object_set_new(rep, "health_at_end", json_string(end ? end->health : "unknown"));
	json_object_set_new(rep, "healthy_at_end", json_boolean(healthy(end, d->n)));
	if (reason)
		json_object_set_new(rep, "unhealthy_because", json_string(reason));
	json_object_set_new(rep, "monitor_running", json_boolean(monitor_running));
	if (why_stopped)
		json_object_set_new(rep, "stopped_early", json_string(why_stopped));
	return rep;
}

static int write_report(const char *dir, const json_t *rep, struct err *e)
{
	_cleanup_free_ char *json = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
	_cleanup_free_ char *html = drill_report_html(rep);
	_cleanup_free_ char *pj = path_join(dir, "report.json"), *ph = path_join(dir, "report.html");
	size_t jn;

	if (mkdir_p(dir, 0755, e) < 0)
		return -1;
	jn = strlen(json);
	json = xrealloc(json, jn + 2);
	json[jn] = '\n';
	json[jn + 1] = 0;
	if (write_file_atomic(pj, json, jn + 1, 0644, e) < 0 ||
	    write_file_atomic(ph, html, strlen(html), 0644, e) < 0)
		return -1;
	fprintf(stderr, "report: %s, %s\n", pj, ph);
	return 0;
}

/* ---- dry run ----------------------------------------------------------------------------- */

static int dry_run(struct drill *d, const struct drill_round *sched)
{
	const struct drill_opts *o = d->o;
	const char **cand = xcalloc(d->n + 1, sizeof *cand);
	json_t *out = json_array();

	if (!o->json)
		printf("drill %s on %s (service %s), seed %llu, %d rounds, load writers=%d,rate=%d,wait=%d\n",
		       drill_scenario_name(o->scenario), d->c.spec->name,
		       d->c.spec->services[d->svc].name, (unsigned long long)o->seed, o->rounds,
		       o->load.writers, o->load.rate, o->load.wait);
	for (int r = 0; r < o->rounds; r++) {
		enum drill_scenario sc = sched[r].scenario;
		_cleanup_free_ char *v = NULL;
		const char *host = "-";
		size_t nc = 0;

		if (drill_scenario_on_hosts(sc)) {
			nc = service_hosts(d, cand);
			v = sc == DRILL_PARTITION ? drill_pick_minority(&sched[r], cand, nc)
						  : (nc ? xstrdup(drill_pick(&sched[r], cand, nc)) : NULL);
			host = v ? v : "-";
		} else {
			const char *p;
			ssize_t vi;

			for (size_t i = 0; i < d->n; i++)
				if (sc != DRILL_KILL_MASTER || d->nodes[i].master)
					cand[nc++] = d->nodes[i].id;
			p = drill_pick(&sched[r], cand, nc);
			v = p ? xstrdup(p) : NULL;
			vi = v ? node_index(d, v) : -1;
			host = vi >= 0 ? d->hosts[vi] : "-";
		}
		json_array_append_new(out, json_pack("{s:i, s:I, s:s, s:s, s:s}", "round", r + 1,
						     "at_ms", (json_int_t)sched[r].at_ms, "fault",
						     drill_scenario_name(sc), "victim", v ? v : "-",
						     "host", host));
		if (!o->json)
			printf("round %2d  at +%.2fs  %-12s %-12s on %s\n", r + 1,
			       (double)sched[r].at_ms / 1000, drill_scenario_name(sc), v ? v : "-",
			       host);
	}
	if (o->json) {
		char *s = json_dumps(out, JSON_INDENT(2));

		printf("%s\n", s);
		free(s);
	} else if (o->scenario == DRILL_KILL_MASTER || o->scenario == DRILL_MIXED) {
		printf("(kill-master: victims among the recorded masters; a real run picks among the\n"
		       " nodes the database reports as masters at each round, by the same rule)\n");
	}
	json_decref(out);
	free(cand);
	return 0;
}

/* ---- the drill ----------------------------------------------------------------------------- */

static bool monitor_runs(const char *cluster)
{
	struct lock_holder h;
	struct err e;
	bool held = false;

	return state_lock_read_named(cluster, "monitor.lock", &h, &held, &e) == 0 && held;
}

/* The health gate: a drill on a cluster that is not healthy proves
 * nothing; refused unless --force. */
static int health_gate(struct drill *d, struct err *e)
{
	struct db_view *v = observe(d);
	int rc = 0;

	if (!healthy(v, d->n)) {
		_cleanup_free_ char *why = unhealthy_reason(d, v);

		if (!d->o->force)
			rc = err_set(e, EBUSY,
				     "%s: the cluster is not healthy (%s); a drill on it proves "
				     "nothing: repair it first (shoal up) or pass --force",
				     d->c.spec->name, why);
		else
			log_warn("%s: the cluster is not healthy (%s); drilling anyway (--force)",
				 d->c.spec->name, why);
	}
	db_view_free(v);
	return rc;
}

/* The rounds at their scheduled times, each at least SETTLE_MS after the
 * one before recovered; why they stopped early, or NULL when every round
 * ran. */
static const char *run_rounds(struct drill *d, const struct drill_round *sched, struct err *e)
{
	const char *why_stopped = NULL;

	for (int r = 0; r < d->o->rounds; r++) {
		int64_t not_before = d->t0 + sched[r].at_ms;
		json_t *prev = json_array_get(d->rounds, json_array_size(d->rounds) - 1);

		if (prev) {
			int64_t end = json_integer_value(json_object_get(prev, "recovered_at_ms")) +
				      d->t0;

			if (end + SETTLE_MS > not_before)
				not_before = end + SETTLE_MS;
		}
		if (!wait_until(not_before))
			break;
		if (run_round(d, r, &sched[r], e) < 0) {
			why_stopped = "a fault could not be made or healed";
			log_error("%s", e->msg);
			break;
		}
		if (d->failed_round) {
			why_stopped = "a round did not recover in time";
			break;
		}
	}
	if (interrupted)
		why_stopped = "interrupted";
	return why_stopped;
}

/* After the rounds: SETTLE_MS of load, every fault healed, then recover_ms
 * for the cluster to be healthy before the final check; its last view
 * (caller frees). */
static struct db_view *heal_and_recover(struct drill *d)
{
	struct db_view *v;
	struct err he = {0};

	wait_until(drill_wall_ms() + SETTLE_MS);
	if (heal(d, &he) < 0)
		log_error("could not heal: %s", he.msg);
	for (int64_t until = drill_wall_ms() + d->o->recover_ms;;) {
		v = observe(d);
		if (healthy(v, d->n) || drill_wall_ms() >= until || interrupted)
			break;
		db_view_free(v);
		wait_until(drill_wall_ms() + 200);
	}
	return v;
}

/* The drill passes when the cluster is healthy at the end, every round ran
 * and every acknowledged write was read back; else e says why. */
static int verdict(const struct drill *d, const struct db_view *v, const struct load_totals *tot,
		   const char *why_stopped, struct err *e)
{
	if (!healthy(v, d->n)) {
		_cleanup_free_ char *why = unhealthy_reason(d, v);

		return err_set(e, EIO, "%s: the cluster is left unhealthy after the drill: %s",
			       d->c.spec->name, why);
	}
	if (why_stopped)
		return err_set(e, EINTR, "%s: the drill stopped early: %s", d->c.spec->name,
			       why_stopped);
	if (tot->lost || tot->unread)
		return err_set(e, EIO, "%s: %ld acknowledged writes lost, %ld could not be read back",
			       d->c.spec->name, tot->lost, tot->unread);
	return 0;
}

int drill_run(const char *spec_path, const struct drill_opts *o, struct err *e)
{
	struct drill d = {.o = o};
	struct drill_round *sched = xcalloc((size_t)o->rounds + 1, sizeof *sched);
	struct converge_opts co = {.accept_new_host_keys = o->accept_new_host_keys};
	struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
	struct db_view *v = NULL;
	struct load_totals tot = {0};
	const char *why_stopped = NULL;
	char run[32];
	json_t *rep = NULL;
	int rc = -1;
	bool mon;

	drill_schedule(o, sched);
	if (cluster_load(spec_path, o->dry_run ? NULL : "drill", &d.c, e) < 0 ||
	    pick_service(&d, e) < 0 || recorded_nodes(&d, e) < 0)
		goto out;
	if (o->dry_run) {
		rc = dry_run(&d, sched);
		goto out;
	}
	d.dbo = cluster_db_opts(&d.c, d.svc, 1000, 0);
	if (cluster_connect(&d.c, &co, e) < 0 || health_gate(&d, e) < 0)
		goto out;
	mon = monitor_runs(d.c.spec->name);
	subscribe_events(&d);
	d.rounds = json_array();
	d.t0 = drill_wall_ms();
	snprintf(run, sizeof run, "%llx%llx", (unsigned long long)(d.t0 & 0xffffffffff),
		 (unsigned long long)(o->seed & 0xffff));
	if (o->load.writers > 0 &&
	    loadgen_start(d.drv, d.nodes, d.n, &d.dbo, &o->load, run, d.t0, &d.load, e) < 0)
		goto out;
	cluster_event(&d.c, "drill-start",
		      json_pack("{s:s, s:s}", "seen", drill_scenario_name(o->scenario), "done",
				mon ? "drilling with the monitor running" : "drilling, no monitor runs"));
	interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	why_stopped = run_rounds(&d, sched, e);
	v = heal_and_recover(&d);
	if (d.load) {
		fprintf(stderr, "reading back every key written...\n");
		loadgen_stop(d.load);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (d.load) {
		struct load_window none;

		loadgen_results(d.load, &none, 0, &tot);
	}
	attach_monitor(&d);
	rep = build_report(&d, &tot, v, mon, why_stopped);
	cluster_event(&d.c, "drill-end",
		      json_pack("{s:s, s:s}", "seen", why_stopped ? why_stopped : "every round ran",
				"done", healthy(v, d.n) ? "cluster healthy" : "cluster left unhealthy"));
	if (o->json) {
		char *s = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", s);
		free(s);
	} else {
		drill_report_text(stdout, rep);
	}
	if (o->report_dir && write_report(o->report_dir, rep, e) < 0)
		goto out;
	rc = verdict(&d, v, &tot, why_stopped, e);
out:
	if (rc < 0 && d.has_open) {
		struct err he = {0};

		if (heal(&d, &he) < 0)
			log_error("could not heal: %s", he.msg);
	}
	json_decref(rep);
	json_decref(d.rounds);
	db_view_free(v);
	loadgen_free(d.load);
	free(d.open_hosts);
	free(d.nodes);
	free(d.hosts);
	free(sched);
	cluster_free(&d.c);
	return rc;
}
