/* converge_up.c - shoal up (converge.h): the actions executed, readiness,
 * formation, nodes leaving their cluster; the moves and the changes rolled
 * in place are in converge_move.c and converge_roll.c. */
#include "converge_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "log.h"
#include "probe.h"
#include "push.h"
#include "util.h"

/* When the plan puts a node on a port another program holds on its host,
 * plan again with those ports taken: the node moves to the next free port
 * (recorded nodes keep theirs).  Only ports change, so the hosts are the
 * ones already connected; a plan that needed another host is an error. */
static int replan_around_taken(struct cluster *c, struct err *e)
{
	const struct plan_node *pn = plan_uses_taken(c->plan, c->taken, c->ntaken);
	struct plan *old = c->plan;
	int port = 0;

	if (!pn)
		return 0;
	for (size_t k = 0; k < c->ntaken && !port; k++)
		if (!strcmp(c->taken[k].host, pn->host->name) &&
		    (c->taken[k].port == pn->port || c->taken[k].port == pn->bus_port))
			port = c->taken[k].port;
	log_info("%s: port %d is in use on %s by another program (-v says which); "
		 "placing %s and its peers around the ports in use", pn->host->name, port,
		 pn->host->name, pn->id);
	c->plan = NULL;
	if (cluster_plan(c, e) < 0) {
		plan_free(old);
		return -1;
	}
	plan_free(old);
	for (size_t i = 0; i < c->plan->n; i++) {
		struct fleet_host *h = fleet_host(c->fleet, c->plan->nodes[i].host->name);

		if (!h || !h->agent)
			return err_set(e, EAGAIN, "%s: placing around ports in use moved it to "
				       "%s, which this run did not connect to; run again",
				       c->plan->nodes[i].id, c->plan->nodes[i].host->name);
	}
	return 0;
}

struct images_job {
	struct cluster *c;
	struct err e;
	int rc;
};

static void *images_thread(void *arg)
{
	struct images_job *j = arg;

	j->rc = cluster_images(j->c, &j->e);
	return NULL;
}

/* The pending in-place change of node id, or NULL. */
const struct action *up_in_place_change(const struct actions *acts, const char *id)
{
	for (size_t k = 0; acts && k < acts->n; k++)
		if (acts->items[k].kind == ACT_CHANGE && acts->items[k].in_place &&
		    !strcmp(acts->items[k].node, id))
			return &acts->items[k];
	return NULL;
}

/* Record plan node i as it now runs: placement, image and config. */
struct state_node *up_record_node(struct cluster *c, size_t i)
{
	const struct plan_node *n = &c->plan->nodes[i];
	const char *config = c->configs && c->configs[i].digest[0] ? c->configs[i].digest : NULL;
	struct state_node *sn = state_put_plan_node(c->st, c->plan, n);

	free(sn->image);
	sn->image = xstrdup(c->image_digests[n->svc_index]);
	free(sn->config);
	sn->config = config ? xstrdup(config) : NULL;
	if (config)
		node_attrs_copy(&sn->attrs, &c->configs[i].attrs);
	else
		node_attrs_free(&sn->attrs);
	free(sn->status);
	sn->status = xstrdup("started");
	return sn;
}

/* Record every planned node that now exists on its host: those this run
 * created, and those an interrupted run created but never recorded (they
 * were observed on their host, so no action touched them).  Nodes with a
 * change in place still pending keep their record until they restart. */
static void record_plan(struct cluster *c, const struct actions *acts)
{
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_node *n = &c->plan->nodes[i];
		const char *image = c->image_digests[n->svc_index];
		const char *config = c->configs && c->configs[i].digest[0] ? c->configs[i].digest
									   : NULL;
		struct state_node *sn = state_find(c->st, n->id);

		if (up_in_place_change(acts, n->id))
			continue;
		if (sn && !strcmp(sn->host, n->host->name) && sn->port == n->port &&
		    sn->image && !strcmp(sn->image, image) &&
		    (!config || (sn->config && !strcmp(sn->config, config))))
			continue;
		up_record_node(c, i);
	}
}

/* ---- executing actions ------------------------------------------------------ */

struct exec_ctx {
	struct cluster *c;
	const struct actions *acts;
};

/* Push every image some action needs on host i, through the agent's blob
 * store (push.h); hosts that already hold a blob skip it. */
static int push_images(struct cluster *c, const struct actions *acts,
		       struct err *e)
{
	size_t nh = 0, nb = 0;
	const struct spec_host **hosts = xcalloc(c->spec->nhosts + 1, sizeof *hosts);
	struct push_blob *blobs = NULL;
	size_t cap = 0;
	struct push_host_result *res;
	struct push_opts po = {.progress = log_progress_enabled()};
	struct transport **ts;
	struct agent_client **agents;
	int rc = 0;

	for (size_t i = 0; i < acts->n; i++) {
		const struct action *a = &acts->items[i];
		const struct spec_host *h;
		bool seen = false;

		if (a->kind != ACT_PUSH)
			continue;
		h = spec_find_host(c->spec, a->host);
		for (size_t k = 0; k < nh; k++)
			seen |= hosts[k] == h;
		if (!seen)
			hosts[nh++] = h;
		for (size_t s = 0; s < c->spec->nservices; s++) {
			const struct image_info *img = c->images[s];

			if (strcmp(a->image, img->manifest_digest))
				continue;
			for (size_t b = 0; b < img->nblobs; b++) {
				bool dup = false;

				for (size_t k = 0; k < nb; k++)
					dup |= !strcmp(blobs[k].digest, img->blobs[b].digest);
				if (dup)
					continue;
				blobs = xgrow(blobs, &cap, nb + 1, sizeof *blobs);
				memcpy(blobs[nb].digest, img->blobs[b].digest, DIGEST_STR_LEN);
				blobs[nb].path = img->blobs[b].path;
				blobs[nb].size = img->blobs[b].size;
				nb++;
			}
		}
	}
	if (!nh) {
		free(hosts);
		return 0;
	}
	res = xcalloc(nh, sizeof *res);
	/* Reuse the fleet's sessions: no second SSH login per host. */
	ts = xcalloc(nh, sizeof *ts);
	agents = xcalloc(nh, sizeof *agents);
	for (size_t i = 0; i < nh; i++) {
		struct fleet_host *fh = fleet_host(c->fleet, hosts[i]->name);

		ts[i] = fh ? fh->t : NULL;
		agents[i] = fh ? fh->agent : NULL;
	}
	po.transports = ts;
	po.agents = agents;
	log_info("push: %zu blobs to %zu hosts", nb, nh);
	rc = push_blobs(c->spec, hosts, nh, blobs, nb, &po, res, e);
	free(ts);
	free(agents);
	for (size_t i = 0; i < nh; i++)
		if (res[i].rc == 0)
			log_info("%s: %zu blobs sent, %zu already there (%lld ms)",
				 hosts[i]->name, res[i].sent, res[i].skipped,
				 (long long)res[i].ms);
		else
			log_error("%s", res[i].err.msg);
	free(res);
	free(blobs);
	free(hosts);
	return rc;
}

/* Does the recorded node of action a go with its data?  Only when it left its
 * cluster holding no slots (leave_clusters): a copy of a master's data, or
 * none, that would only confuse a node created later under its name.  Every
 * other removal keeps the data. */
static bool purge_on_removal(const struct cluster *c, const struct action *a)
{
	for (size_t s = 0; c->leave_checked && a->have && s < c->spec->nservices; s++)
		if (!strcmp(c->spec->services[s].name, a->have->service))
			return c->leave_checked[s];
	return false;
}

/* Node actions on host i, in the order they were planned. */
static int host_actions(struct fleet *f, size_t i, void *p)
{
	struct exec_ctx *x = p;
	struct cluster *c = x->c;
	struct fleet_host *h = &f->hosts[i];
	const char *host = h->host->name;

	for (size_t k = 0; k < x->acts->n; k++) {
		const struct action *a = &x->acts->items[k];
		json_t *req = NULL;

		switch (a->kind) {
		case ACT_REMOVE:
			if (strcmp(a->host, host))
				continue;
			log_info("%s on %s: removing (%s)", a->node, host, a->detail);
			if (cluster_remove_node(c, host, a->node, purge_on_removal(c, a), &h->err) < 0)
				return -1;
			break;
		case ACT_CHANGE:
			if (a->in_place || (c->moved && c->moved[k]))
				continue; /* up_roll_in_place, one node at a time; moved */
			if (a->have && !strcmp(a->have->host, host) &&
			    cluster_remove_node(c, host, a->node,
					strcmp(a->have->host, a->host) && purge_on_removal(c, a),
					&h->err) < 0)
				return -1;
			if (strcmp(a->host, host))
				continue;
			if (a->adopt) {
				log_info("%s on %s: kept (%s)", a->node, host, a->detail);
				break;
			}
			/* create it where it belongs now */
			__attribute__((fallthrough));
		case ACT_CREATE:
			if (strcmp(a->host, host))
				continue;
			if (cluster_listed(c, host, a->node) &&
			    cluster_remove_node(c, host, a->node, false, &h->err) < 0)
				return -1;
			if (cluster_create_request(c, a->want, &req, &h->err) < 0)
				return -1;
			log_info("%s on %s: creating (%s)", a->node, host, a->detail);
			if (fleet_call(h, req, NULL, &h->err) < 0)
				return err_wrap(&h->err, "create %s", a->node);
			break;
		case ACT_START:
			if (strcmp(a->host, host))
				continue;
			log_info("%s on %s: starting", a->node, host);
			if (fleet_call(h, node_op_request("node.start", c->spec->name, a->node),
				       NULL, &h->err) < 0 && h->err.code != EBUSY)
				return err_wrap(&h->err, "start %s", a->node);
			break;
		default:
			break;
		}
	}
	return 0;
}

/* ---- readiness, formation, health ------------------------------------------- */

/* A node whose process exits this many times before it ever answers its
 * readiness probe will not become ready (the agent restarts it after 1 s,
 * then 2 s: about 3 s in). */
#define CRASH_LOOP_RESTARTS 2

/* Is node pn exiting again and again instead of starting?  Asks its host's
 * agent; when it is, fills e with the last exit and the node's last log
 * lines and returns 1.  0 otherwise, also when the agent cannot say. */
static int crash_looping(struct cluster *c, const struct plan_node *pn,
			 struct err *e)
{
	struct fleet_host *h = fleet_host(c->fleet, pn->host->name);
	json_t *rec = NULL, *logs = NULL;
	struct err ignore;
	const char *state, *tail;
	char last[64];
	json_int_t restarts;

	if (!h || fleet_call(h, json_pack("{s:s, s:s, s:s}", "op", "node.inspect",
					  "cluster", c->spec->name, "node", pn->id),
			     &rec, &ignore) < 0)
		return 0;
	state = json_string_value(json_object_get(rec, "state"));
	restarts = json_integer_value(json_object_get(rec, "restarts"));
	if (!state || (restarts < CRASH_LOOP_RESTARTS && strcmp(state, "exited"))) {
		json_decref(rec);
		return 0;
	}
	if (json_object_get(rec, "signal"))
		snprintf(last, sizeof last, "killed by signal %lld%s",
			 (long long)json_integer_value(json_object_get(rec, "signal")),
			 json_is_true(json_object_get(rec, "oom")) ? " (out of memory)" : "");
	else
		snprintf(last, sizeof last, "exit code %lld",
			 (long long)json_integer_value(json_object_get(rec, "exit_code")));
	fleet_call(h, json_pack("{s:s, s:s, s:s, s:i, s:b}", "op", "logs", "cluster",
				c->spec->name, "node", pn->id, "tail", 3, "follow", 0),
		   &logs, &ignore);
	tail = json_string_value(json_object_get(logs, "data"));
	err_set(e, EIO, "%s on %s exits instead of starting (%s, restarted %lld times)%s%s"
		"(see 'shoal logs SPEC %s')", pn->id, pn->host->name, last,
		(long long)restarts, tail && *tail ? "; its last log lines:\n" : " ",
		tail && *tail ? tail : "", pn->id);
	json_decref(logs);
	json_decref(rec);
	return 1;
}

/* The readiness probe of plan node pn, as its template describes it. */
struct probe_target up_ready_probe(struct cluster *c, const struct plan_node *pn)
{
	const struct tmpl_probe *tp = &c->tmpl[pn->svc_index]->readiness;

	return (struct probe_target){
		.kind = tp->kind,
		.host = pn->host->address,
		.port = tp->port ? tp->port : pn->port,
		.connect_timeout_ms = tp->connect_timeout_ms,
		.read_timeout_ms = tp->read_timeout_ms,
		.password = cluster_password(c, pn->svc_index),
		.path = tp->path,
		.expect = tp->expect,
	};
}

/* Probe the plan's nodes (those with want[i] set; every node when want is
 * NULL) until each answers its template's readiness probe, or the deadline
 * passes (naming the nodes that never did).  A node that keeps exiting fails
 * the wait at once (crash_looping). */
int up_wait_ready(struct cluster *c, const struct converge_opts *o, const bool *want,
		  struct err *e)
{
	size_t n = c->plan->n, left = 0;
	bool *ready = xcalloc(n + 1, sizeof *ready);
	struct probe_report *last = xcalloc(n + 1, sizeof *last);
	int64_t start = now_ms(), deadline = 0;
	int rc = 0, pause_ms = 10, max_pause_ms = 0;

	for (size_t s = 0; s < c->spec->nservices; s++) {
		int64_t d = o->ready_timeout_ms ? o->ready_timeout_ms
						: c->tmpl[s]->readiness.deadline_ms;
		int every = c->tmpl[s]->readiness.interval_ms;

		if (every <= 0)
			every = 200;
		if (!max_pause_ms || every < max_pause_ms)
			max_pause_ms = every;

		if (d <= 0)
			d = 60000;
		if (d > deadline)
			deadline = d;
	}
	deadline += start;
	for (size_t i = 0; i < n; i++) {
		ready[i] = want && !want[i];
		left += !ready[i];
	}
	while (left) {
		for (size_t i = 0; i < n; i++) {
			const struct plan_node *pn = &c->plan->nodes[i];
			struct probe_target pt = up_ready_probe(c, pn);

			if (ready[i])
				continue;
			if (probe_run(&pt, &last[i], e) < 0) {
				rc = err_wrap(e, "%s: readiness probe", pn->id);
				goto out;
			}
			if (last[i].result == PROBE_OK) {
				ready[i] = true;
				left--;
				log_info("%s on %s: ready (%lld ms)", pn->id, pn->host->name,
					 (long long)(now_ms() - start));
			} else if (now_ms() - start >= 500 && crash_looping(c, pn, e)) {
				rc = -1;
				goto out;
			}
		}
		if (!left)
			break;
		if (now_ms() > deadline) {
			struct buf b = {0};

			for (size_t i = 0; i < n; i++)
				if (!ready[i])
					buf_printf(&b, "%s%s (%s:%d: %s%s%s)", b.len ? ", " : "",
						   c->plan->nodes[i].id,
						   c->plan->nodes[i].host->address,
						   c->plan->nodes[i].port,
						   probe_result_name(last[i].result),
						   last[i].detail[0] ? " " : "", last[i].detail);
			rc = err_set(e, ETIMEDOUT, "%zu nodes not ready after %lld ms: %s "
				     "(see 'shoal logs SPEC NODE')",
				     left, (long long)(deadline - start), b.data);
			buf_free(&b);
			goto out;
		}
		/* A node usually answers within tens of milliseconds of its
		 * start: ask again soon, then less often, up to the templates'
		 * readiness interval. */
		usleep((useconds_t)(pause_ms < max_pause_ms ? pause_ms : max_pause_ms) * 1000);
		if (pause_ms < max_pause_ms)
			pause_ms *= 2;
	}
out:
	free(ready);
	free(last);
	return rc;
}

/* Append the strings of add (a strv, freed) to *v (a strv, may be NULL). */
void up_strv_append(char ***v, char **add)
{
	size_t n = 0, k = 0;

	while (*v && (*v)[n])
		n++;
	while (add && add[k])
		k++;
	*v = xrealloc(*v, (n + k + 1) * sizeof **v);
	memcpy(*v + n, add ? add : (char *[]){NULL}, k * sizeof **v);
	(*v)[n + k] = NULL;
	free(add);
}

/* The nodes of service svc that leave its cluster in acts (no longer in
 * the spec, or moved to another host, where they start afresh with a new
 * identity) into leave[], those that stay into stay[] (both sized by the
 * caller); returns how many leave. */
static size_t leaving_nodes(const struct cluster *c, const struct actions *acts, const char *svc,
			    struct db_node *leave, struct db_node *stay, size_t *ns)
{
	size_t nl = 0;

	*ns = 0;
	for (size_t i = 0; i < acts->n; i++) {
		const struct action *a = &acts->items[i];
		const struct state_node *sn = a->have;

		if (!sn || !a->service || strcmp(a->service, svc) || (c->moved && c->moved[i]))
			continue;
		if (a->kind == ACT_LEAVE || (a->kind == ACT_CHANGE && strcmp(sn->host, a->host)))
			leave[nl++] = db_node_of_state(sn);
	}
	for (size_t i = 0; nl && i < c->st->n; i++) {
		const struct state_node *sn = &c->st->nodes[i];
		bool leaving = false;

		if (strcmp(sn->service, svc) || !plan_find(c->plan, sn->id))
			continue;
		for (size_t k = 0; k < nl; k++)
			leaving |= !strcmp(leave[k].id, sn->id);
		if (!leaving)
			stay[(*ns)++] = db_node_of_state(sn);
	}
	return nl;
}

/* The planned nodes of service svc that run now where the plan puts them
 * and have joined its cluster (recorded so), as a db_node array (*n
 * entries; caller frees); a replica whose master is not among them is left
 * out. */
static struct db_node *joined_db_nodes(const struct cluster *c, size_t svc, size_t *n)
{
	size_t all, k = 0, first = c->plan->svc_first[svc];
	struct db_node *v = cluster_db_nodes(c, svc, &all), *out = xcalloc(all + 1, sizeof *out);
	int *index = xcalloc(all + 1, sizeof *index);
	bool *joined = xcalloc(all + 1, sizeof *joined);

	for (size_t i = 0; i < all; i++) {
		const struct plan_node *pn = &c->plan->nodes[first + i];
		const struct state_node *sn = state_find(c->st, pn->id);

		joined[i] = sn && !strcmp(sn->host, pn->host->name) && sn->port == pn->port &&
			    sn->status && !strcmp(sn->status, "joined");
	}
	/* masters first (a replica's master may come after it in plan order) */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < all; i++) {
			if (!joined[i] || v[i].master != (pass == 0))
				continue;
			if (!v[i].master && index[v[i].master_index] == 0)
				continue;
			index[i] = (int)++k;
			out[k - 1] = v[i];
			if (!v[i].master)
				out[k - 1].master_index = index[v[i].master_index] - 1;
		}
	free(index);
	free(joined);
	free(v);
	*n = k;
	return out;
}

/* Before nodes leave service s, the data they alone hold moves to the
 * planned nodes that run already (db_rebalance over them: Redis moves the
 * leaving masters' slots to the remaining masters, evenly, while clients
 * keep working).  Kinds without rebalance skip it; their leave refuses. */
static int rebalance_before_leave(struct cluster *c, size_t s, bool *ran, struct err *e)
{
	struct db_opts o = cluster_db_opts(c, s, DB_CALL_TIMEOUT_MS, 60000);
	const char *svc = c->spec->services[s].name;
	size_t n, masters = 0;
	struct db_node *nodes;
	int rc = 0;

	*ran = false;
	if (!db_can(c->drv[s], "rebalance"))
		return 0;
	nodes = joined_db_nodes(c, s, &n);
	for (size_t i = 0; i < n; i++)
		masters += nodes[i].master;
	*ran = masters > 0;
	if (masters > 0) {
		log_info("%s: moving the data of the leaving nodes to the %zu remaining "
			 "masters", svc, masters);
		rc = db_rebalance(c->drv[s], nodes, n, &o, e);
	}
	free(nodes);
	return rc < 0 ? err_wrap(e, "service %s: rebalance before leaving", svc) : 0;
}

/* Nodes leaving a service's cluster are taken out by the nodes that stay
 * before any container is removed (db_leave); the driver refuses, with
 * nothing changed, while one still holds data no one else has - also when
 * every node moves (all hosts replaced), which would otherwise form a new,
 * empty cluster.  A service removed from the spec is not here: its nodes go,
 * their data stays on the hosts. */
static int leave_clusters(struct cluster *c, const struct actions *acts, struct err *e)
{
	if (!c->left)
		c->left = xcalloc(c->spec->nservices, sizeof *c->left);
	c->leave_checked = xcalloc(c->spec->nservices, sizeof *c->leave_checked);
	for (size_t s = 0; s < c->spec->nservices; s++) {
		const char *svc = c->spec->services[s].name;
		/* a leaving node may be on a host that is gone: do not wait long */
		struct db_opts o = cluster_db_opts(c, s, 3000, 0);
		_cleanup_free_ struct db_node *stay = xcalloc(c->st->n + 1, sizeof *stay);
		_cleanup_free_ struct db_node *leave = xcalloc(acts->n + 1, sizeof *leave);
		size_t ns, nl = leaving_nodes(c, acts, svc, leave, stay, &ns);

		if (!nl)
			continue;
		int64_t until = now_ms() + LEAVE_SETTLE_MS;
		bool moved;

		if (rebalance_before_leave(c, s, &moved, e) < 0)
			return -1;
		log_info("%s: %zu node%s leaving the cluster", svc, nl, nl == 1 ? "" : "s");
		/* Right after data moved, the database may still be regrouping
		 * (Redis: a replica of an emptied master follows the taker a
		 * gossip round later): a refusal then is waited out. */
		char **left = NULL;

		while (db_leave(c->drv[s], stay, ns, leave, nl, &o, &left, e) < 0) {
			if (!moved || e->code != EBUSY || now_ms() >= until)
				return err_wrap(e, "service %s: leave", svc);
			usleep(200 * 1000);
		}
		up_strv_append(&c->left[s], left);
		c->leave_checked[s] = true;
	}
	return 0;
}

/* Form (or complete) the cluster of service s with its kind's driver; record each node's database id in c->st (*changed when any
 * record changed).  fail_back: restore planned masters after a failover;
 * quiet: no progress line. */
int up_form_service(struct cluster *c, size_t s, bool fail_back, bool quiet, bool *changed,
		    struct err *e)
{
	struct db_opts o = cluster_db_opts(c, s, DB_CALL_TIMEOUT_MS, 60000);
	const char *svc = c->spec->services[s].name;
	char (*ids)[DB_ID_MAX + 1];
	struct db_node *nodes;
	size_t n;
	int rc;

	o.fail_back = fail_back;
	o.failed_back = c->failed_back ? &c->failed_back[s] : NULL;
	o.forget = c->left ? c->left[s] : NULL;
	nodes = cluster_db_nodes(c, s, &n);
	ids = xcalloc(n + 1, sizeof *ids);
	if (!quiet)
		log_info("%s: forming the cluster (%zu nodes)", svc, n);
	rc = db_form(c->drv[s], nodes, n, &o, ids, e);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct state_node *sn = state_find(c->st, nodes[i].id);
		bool id_changed = ids[i][0] && (!sn || !sn->cluster_id ||
						  strcmp(sn->cluster_id, ids[i]));

		if (sn && (id_changed || !sn->status || strcmp(sn->status, "joined"))) {
			*changed = true;
			if (ids[i][0]) {
				free(sn->cluster_id);
				sn->cluster_id = xstrdup(ids[i]);
			}
			free(sn->status);
			sn->status = xstrdup("joined");
		}
	}
	free(ids);
	free(nodes);
	return rc < 0 ? err_wrap(e, "service %s: form", svc) : 0;
}

/* One service's formation, on its own thread. */
struct form_job {
	struct cluster *c;
	size_t svc;
	bool changed;
	struct err e;
	int rc;
};

static void *form_thread(void *arg)
{
	struct form_job *j = arg;

	j->rc = up_form_service(j->c, j->svc, true, false, &j->changed, &j->e);
	return NULL;
}

/* Every service formed as planned, all at once (a sharded kind may wait
 * seconds until its new masters serve; the waits overlap).  A planned master
 * that a failover made a replica is made master again (db_opts.fail_back: a
 * coordinated failover, no acknowledged write lost), so that masters stay
 * spread as planned.  The services' nodes are disjoint, so each thread
 * touches only its own state records. */
static int form_clusters(struct cluster *c, struct err *e)
{
	size_t n = c->spec->nservices;
	struct form_job *jobs = xcalloc(n + 1, sizeof *jobs);
	pthread_t *th = xcalloc(n + 1, sizeof *th);
	bool *threaded = xcalloc(n + 1, sizeof *threaded), changed = false;
	int rc = 0;

	for (size_t s = 0; s < n; s++) {
		jobs[s] = (struct form_job){.c = c, .svc = s};
		threaded[s] = n > 1 && pthread_create(&th[s], NULL, form_thread, &jobs[s]) == 0;
		if (!threaded[s])
			form_thread(&jobs[s]);
	}
	for (size_t s = 0; s < n; s++) {
		if (threaded[s])
			pthread_join(th[s], NULL);
		changed |= jobs[s].changed;
		if (jobs[s].rc < 0 && rc == 0) {
			*e = jobs[s].e;
			rc = -1;
		}
	}
	free(jobs);
	free(th);
	free(threaded);
	if (rc < 0)
		return -1;
	return changed ? state_save(c->lock, c->st, e) : 0;
}

/* Every service's data spread over its planned nodes as the plan wants it
 * (db_rebalance; Redis: each master an even share of the slots, moved
 * online).  Kinds without rebalance skip it. */
static int rebalance_clusters(struct cluster *c, struct err *e)
{
	for (size_t s = 0; s < c->spec->nservices; s++) {
		struct db_opts o = cluster_db_opts(c, s, DB_CALL_TIMEOUT_MS, 60000);
		struct db_node *nodes;
		size_t n;
		int rc;

		if (!db_can(c->drv[s], "rebalance"))
			continue;
		nodes = cluster_db_nodes(c, s, &n);
		rc = db_rebalance(c->drv[s], nodes, n, &o, e);
		free(nodes);
		if (rc < 0)
			return err_wrap(e, "service %s: rebalance", c->spec->services[s].name);
	}
	return 0;
}

/* A node recorded before shoal recorded configs takes the digest of the
 * config it is planned with (see actions_diff); one recorded with its
 * digest but not its attributes (by an older shoal), or with attributes the
 * digest does not depend on, takes the attributes of the config it runs. */
static int record_missing_configs(struct cluster *c, struct err *e)
{
	bool changed = false;

	for (size_t i = 0; i < c->plan->n; i++) {
		struct state_node *sn = state_find(c->st, c->plan->nodes[i].id);
		const struct node_config *cfg = &c->configs[i];

		if (!sn || !cfg->digest[0])
			continue;
		if (!sn->config) {
			sn->config = xstrdup(cfg->digest);
			changed = true;
		}
		if (!strcmp(sn->config, cfg->digest) && !node_attrs_equal(&sn->attrs, &cfg->attrs)) {
			node_attrs_copy(&sn->attrs, &cfg->attrs);
			changed = true;
		}
	}
	return changed ? state_save(c->lock, c->st, e) : 0;
}

/* ---- up --------------------------------------------------------------------- */

/* A role change (a recorded master that the plan makes a replica, or the
 * other way) needs slots handed over first, which up does not do yet:
 * refuse before anything changes (exit 2), naming the first. */
static int refuse_role_change(const struct actions *acts, struct err *e)
{
	const struct action *a = actions_role_change(acts);

	if (!a)
		return 0;
	return err_usage(e, "%s on %s: role change %s is not supported by up yet "
			 "(the replicas of service %s regroup its shards); "
			 "nothing was changed - restore replicas, or recreate the service",
			 a->node, a->host, a->detail, a->service);
}

/* A node recorded on a host the spec no longer lists cannot be stopped:
 * shoal reaches only the spec's hosts.  It has left its cluster (or been
 * moved); say that its old container is still there. */
static void warn_left_behind(const struct cluster *c, const struct converge_opts *o,
			     const struct actions *acts)
{
	for (size_t i = 0; i < acts->n; i++) {
		const struct action *a = &acts->items[i];
		bool gone = false;

		if ((a->kind != ACT_REMOVE && a->kind != ACT_CHANGE) || !a->have ||
		    spec_find_host(c->spec, a->have->host))
			continue;
		for (size_t k = 0; o->without_hosts && o->without_hosts[k]; k++)
			gone |= !strcmp(o->without_hosts[k], a->have->host);
		if (gone) {
			log_info("%s: its old container on %s (gone) is removed when %s answers "
				 "again (shoal monitor fences it)", a->node, a->have->host,
				 a->have->host);
			continue;
		}
		log_warn("%s: its old container on %s is left running there: %s is no longer in "
			 "the spec, and shoal reaches only the spec's hosts (stop it there by "
			 "hand, or keep %s in the spec until up has moved its nodes)",
			 a->node, a->have->host, a->have->host, a->have->host);
	}
}

void converge_name_images(struct actions *a)
{
	_cleanup_free_ char *store = image_store_dir();
	struct image_entry *v = NULL;
	struct err e = {0};
	size_t n = 0;

	if (image_list(store, &v, &n, &e) < 0)
		return;
	for (size_t i = 0; i < a->n; i++) {
		struct action *x = &a->items[i];

		for (size_t k = 0; x->kind == ACT_PUSH && x->image && k < n; k++)
			if (!strcmp(v[k].digest, x->image)) {
				snprintf(x->image_name, sizeof x->image_name, "%s:%s", v[k].name,
					 v[k].tag);
				break;
			}
	}
	image_entries_free(v, n);
}

/* What `up` repaired besides its actions, which an unchanged plan ("0
 * changes") does not show: {"agents_started": N, "failed_back": N} (agent
 * daemons connecting started, on hosts where none ran or another build's
 * did; planned masters made master again after a failover). */
static json_t *up_repairs(const struct cluster *c)
{
	json_int_t agents = 0, back = 0;

	for (size_t i = 0; c->fleet && i < c->fleet->n; i++)
		agents += c->fleet->hosts[i].agent_started;
	for (size_t s = 0; c->failed_back && s < c->spec->nservices; s++)
		back += c->failed_back[s];
	return json_pack("{s:I, s:I}", "agents_started", agents, "failed_back", back);
}

/* ", repaired: 1 master failed back, 2 agents started" or nothing. */
static void repairs_text(const json_t *r, struct buf *b)
{
	json_int_t back = json_integer_value(json_object_get(r, "failed_back"));
	json_int_t agents = json_integer_value(json_object_get(r, "agents_started"));

	if (!back && !agents)
		return;
	buf_puts(b, ", repaired:");
	if (back)
		buf_printf(b, " %lld master%s failed back", (long long)back, back == 1 ? "" : "s");
	if (agents)
		buf_printf(b, "%s %lld agent%s started", back ? "," : "", (long long)agents,
			   agents == 1 ? "" : "s");
}

/* The plan lines on stdout; none with --json (the document has them) or -q
 * (errors and the final one-line result only). */
static void print_actions(const struct actions *a, bool json)
{
	if (json || log_get_level() < LOG_WARN)
		return;
	if (actions_empty(a)) {
		printf("0 changes: the cluster matches the spec\n");
		return;
	}
	actions_print(a, stdout);
	fflush(stdout);
}

/* The reschedule's leadership (converge_opts.may_act) still holds before
 * `step`: 0, else -1 with ESTALE. */
static int still_acting(const struct converge_opts *o, const char *step, struct err *e)
{
	if (!o->may_act || o->may_act(o->may_act_arg))
		return 0;
	return err_set(e, ESTALE, "stopped before %s: %s no longer leads; the leader that "
		       "follows finishes this run", step, o->fence_what ? o->fence_what : "this command");
}

/* Before anything is planned: the run fenced by its leadership (monitor
 * rescheduling), the hosts that are gone left out, every secret generated
 * and saved (secrets go to disk before any node is configured with them),
 * then the plan. */
static int up_prepare(struct cluster *c, const struct converge_opts *o, struct err *e)
{
	if (o->fence_key && state_lock_fence(c->lock, o->fence_key, o->fence_token,
					     o->fence_what ? o->fence_what : o->fence_key, e) < 0)
		return -1;
	if (o->without_hosts && cluster_without_hosts(c, o->without_hosts, e) < 0)
		return -1;
	for (size_t s = 0; s < c->spec->nservices; s++)
		for (size_t k = 0; k < c->tmpl[s]->nsecrets; k++)
			if (!state_service_secret(c->st, c->spec->services[s].name,
						  c->tmpl[s]->secrets[k], e))
				return -1;
	if (state_save(c->lock, c->st, e) < 0)
		return -1;
	return cluster_plan(c, e);
}

/* Build or find the images while the hosts connect and say what they run:
 * each takes tens of milliseconds and neither needs the other.  The thread
 * only fills c->images and c->image_digests. */
static int up_images_and_hosts(struct cluster *c, const struct converge_opts *o, struct err *e)
{
	struct images_job ij = {.c = c};
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, images_thread, &ij) == 0;
	int crc;

	if (!threaded)
		images_thread(&ij);
	crc = cluster_connect(c, o, e) < 0 || cluster_observe(c, e) < 0 ? -1 : 0;
	if (threaded)
		pthread_join(th, NULL);
	if (ij.rc < 0) {
		*e = ij.e;
		return -1;
	}
	return crc;
}

/* The actions from the plan, the configs and what the hosts run, printed;
 * a role change is refused before anything changes. */
static int up_diff(struct cluster *c, const struct converge_opts *o, struct actions *acts,
		   struct err *e)
{
	if (replan_around_taken(c, e) < 0)
		return -1;
	c->configs = xcalloc(c->plan->n + 1, sizeof *c->configs);
	c->nconfigs = c->plan->n;
	if (cluster_configs_for(c->tmpl, c->spec, c->plan, c->st, c->configs, e) < 0 ||
	    actions_diff(c->spec, c->plan, c->st, c->image_digests, c->configs,
			 &(struct observed){c->obs, c->nobs}, acts, e) < 0)
		return -1;
	converge_name_images(acts);
	print_actions(acts, o->json);
	return refuse_role_change(acts, e);
}

/* The actions executed: images pushed, nodes moved the new one first, nodes
 * leaving their clusters, then every host's node actions at once; what now
 * exists is recorded before waiting on it, so an interrupted run is picked
 * up where it stopped. */
static int up_act(struct cluster *c, const struct converge_opts *o, struct actions *acts,
		  struct err *e)
{
	struct exec_ctx x = {.c = c, .acts = acts};

	if (actions_empty(acts))
		return 0;
	if (still_acting(o, "changing the cluster", e) < 0)
		return -1;
	cluster_event(c, "up.start", json_pack("{s:i}", "actions", (int)acts->n));
	if (push_images(c, acts, e) < 0 || up_move_first(c, o, acts, e) < 0 ||
	    leave_clusters(c, acts, e) < 0 || still_acting(o, "creating nodes", e) < 0)
		return -1;
	if (fleet_each(c->fleet, host_actions, &x) > 0) {
		for (size_t i = 0; i < c->fleet->n; i++)
			if (c->fleet->hosts[i].wanted && c->fleet->hosts[i].err.msg[0]) {
				*e = c->fleet->hosts[i].err;
				break;
			}
		return -1;
	}
	warn_left_behind(c, o, acts);
	for (size_t i = 0; i < acts->n; i++)
		if (acts->items[i].kind == ACT_REMOVE && acts->items[i].have)
			state_drop(c->st, acts->items[i].node);
	record_plan(c, acts);
	return state_save(c->lock, c->st, e);
}

/* The result on stdout: with --json the schema of `plan --json`, plus how
 * long it took and what was repaired besides the actions; else one line. */
static void print_up(const struct cluster *c, const struct converge_opts *o,
		     const struct actions *acts, json_t *repairs, int64_t t0)
{
	if (o->json) {
		json_t *doc = actions_json(acts);

		json_object_set_new(doc, "ok", json_true());
		json_object_set_new(doc, "cluster", json_string(c->spec->name));
		json_object_set_new(doc, "ms", json_integer((json_int_t)(now_ms() - t0)));
		json_object_set_new(doc, "repairs", json_incref(repairs));

		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(doc);
	} else {
		struct buf b = {0};

		repairs_text(repairs, &b);
		printf("cluster %s is up: %zu nodes (%lld ms)%s\n", c->spec->name,
		       c->plan->n, (long long)(now_ms() - t0), b.len ? b.data : "");
		buf_free(&b);
	}
}

int converge_up(const char *spec_path, const struct converge_opts *o,
		struct err *e)
{
	struct cluster c = {0};
	struct actions acts = {0};
	bool *done = NULL, *want = NULL; /* per plan node */
	json_t *repairs = NULL;
	int64_t t0 = now_ms();
	int rc = -1;

	if (cluster_load(spec_path, "up", &c, e) < 0 || up_prepare(&c, o, e) < 0 ||
	    up_images_and_hosts(&c, o, e) < 0 || up_diff(&c, o, &acts, e) < 0 ||
	    up_act(&c, o, &acts, e) < 0)
		goto out;
	/* Nodes with a change in place pending are waited for after it. */
	done = xcalloc(c.plan->n + 1, sizeof *done);
	want = xcalloc(c.plan->n + 1, sizeof *want);
	if (still_acting(o, "recreating nodes", e) < 0 ||
	    up_recreate_down_in_place(&c, &acts, done, e) < 0)
		goto out;
	for (size_t i = 0; i < c.plan->n; i++)
		want[i] = done[i] || !up_in_place_change(&acts, c.plan->nodes[i].id);
	/* Failbacks are counted while forming only: those of a roll in place
	 * are its own doing, not a repair. */
	c.failed_back = xcalloc(c.spec->nservices + 1, sizeof *c.failed_back);
	if (up_wait_ready(&c, o, want, e) < 0 || still_acting(o, "forming the cluster", e) < 0 ||
	    form_clusters(&c, e) < 0)
		goto out;
	repairs = up_repairs(&c);
	if (o->failed_back)
		*o->failed_back = (int)json_integer_value(json_object_get(repairs, "failed_back"));
	free(c.failed_back);
	c.failed_back = NULL;
	if (up_roll_in_place(&c, o, &acts, done, e) < 0 ||
	    still_acting(o, "rebalancing", e) < 0 || rebalance_clusters(&c, e) < 0 ||
	    record_missing_configs(&c, e) < 0)
		goto out;
	cluster_event(&c, "up.done", json_pack("{s:i, s:I, s:O}", "actions", (int)acts.n, "ms",
				       (json_int_t)(now_ms() - t0), "repairs", repairs));
	print_up(&c, o, &acts, repairs, t0);
	rc = 0;
out:
	json_decref(repairs);
	free(done);
	free(want);
	actions_free(&acts);
	cluster_free(&c);
	return rc;
}
