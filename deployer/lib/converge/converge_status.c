/* converge_status.c - shoal status (converge.h): every node and cluster as
 * the hosts and the database report them (docs/status.md). */
#include "converge_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static const char *shoal_id_of(const struct cluster *c, const char *db_id)
{
	for (size_t i = 0; db_id && *db_id && i < c->st->n; i++)
		if (c->st->nodes[i].cluster_id && !strcmp(c->st->nodes[i].cluster_id, db_id))
			return c->st->nodes[i].id;
	return NULL;
}

/* What member m reports, into its node record r. */
static void member_fields(const struct cluster *c, const struct db_member *m, json_t *r)
{
	if (!m->reachable) {
		json_object_set_new(r, "health", json_string("unreachable"));
		json_object_set_new(r, "health_detail", json_string(m->error ? m->error : ""));
		return;
	}
	json_object_set_new(r, "health", json_string(m->state_ok ? "ok" : "cluster-down"));
	if (!m->role)
		return;
	json_object_set_new(r, "role", json_string(m->role));
	if (m->master_id[0]) {
		const char *mid = shoal_id_of(c, m->master_id);

		json_object_set_new(r, "master", json_string(mid ? mid : m->master_id));
	}
	/* ranges of slots (a sharded kind), or what a member reports it owns
	 * as named values (a ring: its status and share) */
	if (m->owns)
		json_object_set(r, json_is_array(m->owns) ? "slots" : "owns", m->owns);
}

/* Status of service `svc` as its database reports it: per node fields into
 * recs (indexed like st->nodes), one summary object returned. */
static json_t *service_status(struct cluster *c, size_t svc_index, json_t **recs)
{
	const char *svc = c->spec->services[svc_index].name;
	struct db_opts o = cluster_db_opts(c, svc_index, 1000, 0);
	size_t n, *idx;
	struct db_node *nodes = cluster_db_recorded(c, svc, &idx, &n);
	struct db_view *v = NULL;
	struct err e;
	json_t *sum, *checks;

	if (db_observe(c->drv[svc_index], nodes, n, &o, &v, &e) < 0) {
		sum = json_pack("{s:s, s:s}", "service", svc, "error", e.msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		member_fields(c, &v->members[i], recs[idx[i]]);
	sum = json_pack("{s:s, s:s}", "service", svc, "cluster_state", v->health);
	json_object_update(sum, v->summary);
	json_object_set_new(sum, "nodes", json_integer((json_int_t)n));
	json_object_set_new(sum, "reachable", json_integer(v->reachable));
	checks = db_check(c->drv[svc_index], v);
	if (checks)
		json_object_update(sum, checks);
	json_decref(checks);
out:
	db_view_free(v);
	free(nodes);
	free(idx);
	return sum;
}

/* Whether `shoal monitor` runs for the cluster: its lock (monitor.h). */
static json_t *monitor_status(const char *cluster)
{
	struct lock_holder h;
	struct err e;
	bool held = false;

	if (state_lock_read_named(cluster, "monitor.lock", &h, &held, &e) < 0 || !held)
		return json_pack("{s:b}", "running", 0);
	return json_pack("{s:b, s:I, s:s, s:s}", "running", 1, "pid", (json_int_t)h.pid,
			 "host", h.host, "since", h.started);
}

/* Nothing recorded: say which state folder was read, and point at the one
 * beside the spec when that one has a record (state follows the current
 * folder unless $SHOAL_STATE_DIR says otherwise, docs/state.md). */
static void print_no_record(const struct cluster *c)
{
	_cleanup_free_ char *dir = NULL, *near = NULL, *near_state = NULL;
	char real[PATH_MAX], real_near[PATH_MAX];
	struct err e = {0};
	struct stat st;

	if (state_dir(c->spec->name, &dir, &e) < 0) {
		printf("cluster %s has no recorded nodes (run 'shoal up')\n", c->spec->name);
		return;
	}
	if (dir[0] != '/' && getcwd(real, sizeof real)) {
		char *abs = path_join(real, dir);

		free(dir);
		dir = abs;
	}
	printf("cluster %s has no recorded nodes in %s (run 'shoal up')\n", c->spec->name, dir);
	near = xasprintf("%s/.shoal/%s", c->spec->dir, c->spec->name);
	near_state = path_join(near, "state.json");
	if (stat(near_state, &st) == 0 && realpath(near, real_near) &&
	    (!realpath(dir, real) || strcmp(real, real_near)))
		printf("the spec's folder has a record of it: %s (run shoal from %s, or set "
		       "SHOAL_STATE_DIR=%s/.shoal)\n",
		       near_state, c->spec->dir, c->spec->dir);
}

/* A service whose kind does not shard by slots: its state, who answers,
 * then every counter and check of its summary as "name value". */
static void print_service_generic(json_t *r)
{
	static const char *const shown[] = {"service", "cluster_state", "nodes", "reachable", NULL};
	const char *key;
	json_t *val;

	printf("service %s: cluster_state:%s, %d/%d nodes answer",
	       json_string_value(json_object_get(r, "service")),
	       json_string_value(json_object_get(r, "cluster_state")),
	       (int)json_integer_value(json_object_get(r, "reachable")),
	       (int)json_integer_value(json_object_get(r, "nodes")));
	json_object_foreach(r, key, val) {
		bool skip = false;

		for (size_t i = 0; shown[i]; i++)
			skip |= !strcmp(shown[i], key);
		if (skip)
			continue;
		if (json_is_boolean(val))
			printf(", %s %s", key, json_is_true(val) ? "yes" : "no");
		else if (json_is_integer(val))
			printf(", %s %lld", key, (long long)json_integer_value(val));
		else if (json_is_string(val))
			printf(", %s %s", key, json_string_value(val));
	}
	putchar('\n');
}

static void print_status_text(const struct cluster *c, json_t *doc, bool wide)
{
	json_t *nodes = json_object_get(doc, "nodes"), *svcs = json_object_get(doc, "services");
	json_t *r;
	size_t i;

	printf("%-12s %-8s %-22s %-9s %-12s %-8s %-12s %-14s %8s %4s", "NODE", "HOST",
	       "ADDRESS", "STATE", "HEALTH", "ROLE", "MASTER", "SLOTS", "UPTIME", "RST");
	printf(wide ? "  %-10s %-6s %s\n" : "\n", "SERVICE", "BUS", "DETAIL");
	json_array_foreach(nodes, i, r) {
		char addr[64], slots[64] = "-", up[32] = "-";
		json_t *sl = json_object_get(r, "slots"), *rg, *val;
		const char *key;
		size_t k;
		json_int_t ms = json_integer_value(json_object_get(r, "uptime_ms"));

		snprintf(addr, sizeof addr, "%s:%d",
			 json_string_value(json_object_get(r, "address")),
			 (int)json_integer_value(json_object_get(r, "port")));
		json_array_foreach(sl, k, rg) {
			size_t used = k ? strlen(slots) : 0;

			snprintf(slots + used, sizeof slots - used, "%s%d-%d", k ? "," : "",
				 (int)json_integer_value(json_array_get(rg, 0)),
				 (int)json_integer_value(json_array_get(rg, 1)));
		}
		json_object_foreach(json_object_get(r, "owns"), key, val) {
			size_t used = strlen(slots) * (slots[0] != '-');

			if (json_is_string(val))
				snprintf(slots + used, sizeof slots - used, "%s%s", used ? " " : "",
					 json_string_value(val));
			else if (json_is_number(val) && !strcmp(key, "ring_pct"))
				snprintf(slots + used, sizeof slots - used, "%s%.1f%%",
					 used ? " " : "", json_number_value(val));
		}
		if (ms > 0)
			snprintf(up, sizeof up, "%llds", (long long)(ms / 1000));
#define S(k) (json_string_value(json_object_get(r, k)) ? json_string_value(json_object_get(r, k)) : "-")
		printf("%-12s %-8s %-22s %-9s %-12s %-8s %-12s %-14s %8s %4d", S("node"),
		       S("host"), addr, S("state"), S("health"), S("role"), S("master"),
		       slots, up, (int)json_integer_value(json_object_get(r, "restarts")));
		if (wide)
			printf("  %-10s %-6d %s", S("service"),
			       (int)json_integer_value(json_object_get(r, "bus_port")),
			       json_string_value(json_object_get(r, "health_detail"))
				       ? json_string_value(json_object_get(r, "health_detail"))
				       : "-");
		putchar('\n');
#undef S
	}
	json_array_foreach(svcs, i, r) {
		if (json_object_get(r, "error")) {
			printf("service %s: %s\n", json_string_value(json_object_get(r, "service")),
			       json_string_value(json_object_get(r, "error")));
			continue;
		}
		if (!json_object_get(r, "slots_served")) {
			print_service_generic(r);
			continue;
		}
		printf("service %s: cluster_state:%s, slots served %d/16384, %d/%d nodes "
		       "answer, roles as planned: %s, replicas apart from masters: %s\n",
		       json_string_value(json_object_get(r, "service")),
		       json_string_value(json_object_get(r, "cluster_state")),
		       (int)json_integer_value(json_object_get(r, "slots_served")),
		       (int)json_integer_value(json_object_get(r, "reachable")),
		       (int)json_integer_value(json_object_get(r, "nodes")),
		       json_is_true(json_object_get(r, "roles_as_planned")) ? "yes" : "no",
		       json_is_true(json_object_get(r, "anti_affinity")) ? "yes" : "no");
	}
	r = json_object_get(doc, "monitor");
	if (json_is_true(json_object_get(r, "running")))
		printf("monitor: pid %lld on %s, since %s\n",
		       (long long)json_integer_value(json_object_get(r, "pid")),
		       json_string_value(json_object_get(r, "host")),
		       json_string_value(json_object_get(r, "since")));
	else
		printf("monitor: none ('shoal monitor SPEC' starts one)\n");
	if (!c->st->n)
		print_no_record(c);
}

json_t *cluster_status_doc(struct cluster *c, json_t *const *listed, const char *const *absent)
{
	json_t *nodes = json_array(), *svcs = json_array(), **recs;

	recs = xcalloc(c->st->n + 1, sizeof *recs);
	for (size_t i = 0; i < c->st->n; i++) {
		const struct state_node *sn = &c->st->nodes[i];
		json_t *lr = listed[i];
		json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "node", sn->id,
				      "service", sn->service, "host", sn->host,
				      "address", sn->address, "port", sn->port,
				      "role", sn->role ? sn->role : "");

		if (sn->bus_port)
			json_object_set_new(r, "bus_port", json_integer(sn->bus_port));
		if (lr) {
			json_object_set(r, "state", json_object_get(lr, "state"));
			json_object_set(r, "restarts", json_object_get(lr, "restarts"));
			if (json_object_get(lr, "uptime_ms"))
				json_object_set(r, "uptime_ms", json_object_get(lr, "uptime_ms"));
		} else {
			json_object_set_new(r, "state", json_string(absent && absent[i] ? absent[i]
										  : "host-down"));
			json_object_set_new(r, "restarts", json_integer(0));
		}
		json_object_set_new(r, "health", json_string("unknown"));
		recs[i] = r;
		json_array_append(nodes, r);
	}
	for (size_t s = 0; s < c->spec->nservices; s++)
		if (db_can(c->drv[s], "observe"))
			json_array_append_new(svcs, service_status(c, s, recs));
	for (size_t i = 0; i < c->st->n; i++)
		json_decref(recs[i]);
	free(recs);
	return json_pack("{s:s, s:o, s:o, s:o}", "cluster", c->spec->name, "nodes", nodes,
			 "services", svcs, "monitor", monitor_status(c->spec->name));
}

/* The status document of the cluster of spec_path: c stays loaded (the
 * caller frees it and *doc). */
static int status_doc(const char *spec_path, const struct converge_opts *o, struct cluster *c,
		      json_t **doc, struct err *e)
{
	json_t **listed;
	const char **absent;
	struct err ce = {0};
	struct converge_opts look = *o;

	*doc = NULL;
	if (cluster_load(spec_path, NULL, c, e) < 0)
		return -1;
	/* Unreachable hosts are reported per node, not a failure of status.
	 * Looking starts no agent: a starting daemon would start its nodes. */
	look.look_only = true;
	if (c->st->n && cluster_connect(c, &look, &ce) < 0)
		log_warn("%s", ce.msg);
	if (c->fleet && cluster_observe(c, &ce) < 0)
		log_warn("%s", ce.msg);
	listed = xcalloc(c->st->n + 1, sizeof *listed);
	absent = xcalloc(c->st->n + 1, sizeof *absent);
	for (size_t i = 0; i < c->st->n; i++) {
		const struct state_node *sn = &c->st->nodes[i];
		struct fleet_host *fh = c->fleet ? fleet_host(c->fleet, sn->host) : NULL;

		listed[i] = cluster_listed(c, sn->host, sn->id);
		absent[i] = fh && fh->agent ? "missing" : fh && fh->no_agent ? "agent-down"
									  : "host-down";
	}
	*doc = cluster_status_doc(c, listed, absent);
	free(listed);
	free(absent);
	return 0;
}

/* Healthy: some node is recorded, every recorded node runs and its database
 * does not call it unreachable or its cluster down, and every service's
 * cluster state is ok.  Otherwise why names the first thing that is not. */
static bool doc_healthy(json_t *doc, char *why, size_t n)
{
	json_t *nodes = json_object_get(doc, "nodes"), *r;
	size_t i;

	if (!json_array_size(nodes)) {
		snprintf(why, n, "no recorded nodes (run 'shoal up')");
		return false;
	}
	json_array_foreach(nodes, i, r) {
		const char *st = json_string_value(json_object_get(r, "state"));
		const char *h = json_string_value(json_object_get(r, "health"));
		const char *id = json_string_value(json_object_get(r, "node"));

		if (!st || strcmp(st, "running")) {
			snprintf(why, n, "%s is %s", id, st ? st : "in no known state");
			return false;
		}
		if (h && (!strcmp(h, "unreachable") || !strcmp(h, "cluster-down"))) {
			snprintf(why, n, "%s is %s", id, h);
			return false;
		}
	}
	json_array_foreach(json_object_get(doc, "services"), i, r) {
		const char *svc = json_string_value(json_object_get(r, "service"));
		const char *err = json_string_value(json_object_get(r, "error"));
		const char *cs = json_string_value(json_object_get(r, "cluster_state"));

		if (err) {
			snprintf(why, n, "service %s: %s", svc, err);
			return false;
		}
		if (!cs || strcmp(cs, "ok")) {
			snprintf(why, n, "service %s: cluster_state:%s", svc, cs ? cs : "unknown");
			return false;
		}
	}
	return true;
}

int converge_status(const char *spec_path, const struct converge_opts *o,
		    struct err *e)
{
	struct cluster c = {0};
	json_t *doc = NULL;
	char why[512] = "", was[512] = "";
	int64_t deadline = now_ms() + o->wait_healthy_ms;
	bool healthy;

	/* With wait_healthy_ms, look again every second until healthy or the
	 * deadline; only the last look is printed. */
	for (;;) {
		if (status_doc(spec_path, o, &c, &doc, e) < 0) {
			cluster_free(&c);
			return -1;
		}
		healthy = doc_healthy(doc, why, sizeof why);
		if (healthy || o->wait_healthy_ms <= 0)
			break;
		if (strcmp(why, was)) {
			log_info("waiting for %s to be healthy: %s", c.spec->name, why);
			snprintf(was, sizeof was, "%s", why);
		}
		if (now_ms() >= deadline)
			break;
		json_decref(doc);
		cluster_free(&c);
		nanosleep(&(struct timespec){.tv_sec = 1}, NULL);
	}
	json_object_set_new(doc, "healthy", json_boolean(healthy));
	if (!healthy)
		json_object_set_new(doc, "unhealthy", json_string(why));
	if (o->show_secrets) {
		json_t *sec = json_object();

		for (size_t i = 0; i < c.st->nsecrets; i++)
			json_object_set_new(sec, c.st->secrets[i].key,
					    json_string(c.st->secrets[i].value));
		json_object_set_new(doc, "secrets", sec);
	}
	if (o->json) {
		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		print_status_text(&c, doc, o->wide);
		if (o->show_secrets)
			for (size_t i = 0; i < c.st->nsecrets; i++)
				printf("secret %s: %s\n", c.st->secrets[i].key,
				       c.st->secrets[i].value);
		if (healthy)
			printf("cluster %s: healthy\n", c.spec->name);
		else
			printf("cluster %s: not healthy: %s\n", c.spec->name, why);
	}
	json_decref(doc);
	cluster_free(&c);
	return healthy ? 0 : 1;
}
