/* converge_roll.c - shoal up: changes in place (a new image or config on the
 * same host and port) rolled one node at a time, masters handing over first
 * (up_roll_in_place, converge_int.h); nodes that do not answer recreated at
 * once (up_recreate_down_in_place). */
#include "converge_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Remove plan node i (its data kept) and create it again as planned now,
 * then record it. */
static int recreate(struct cluster *c, size_t i, const char *why, struct err *e)
{
	const struct plan_node *pn = &c->plan->nodes[i];
	struct fleet_host *h = fleet_host(c->fleet, pn->host->name);
	json_t *req;

	if (!h)
		return err_set(e, ENOENT, "%s: host %s is not connected", pn->id, pn->host->name);
	log_info("%s on %s: restarting: %s", pn->id, pn->host->name, why);
	if (cluster_remove_node(c, pn->host->name, pn->id, false, e) < 0 ||
	    cluster_create_request(c, pn, &req, e) < 0)
		return -1;
	if (fleet_call(h, req, NULL, e) < 0)
		return err_wrap(e, "create %s", pn->id);
	up_record_node(c, i);
	return state_save(c->lock, c->st, e);
}

/* Nodes with a change in place pending that do not answer now (say they
 * exit on a bad setting the new spec fixes) get it at once: nobody is served
 * by them, and the cluster cannot be formed around them.  done[i] marks
 * them. */
int up_recreate_down_in_place(struct cluster *c, const struct actions *acts, bool *done,
			      struct err *e)
{
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_node *pn = &c->plan->nodes[i];
		const struct action *a = up_in_place_change(acts, pn->id);
		struct probe_target pt;
		struct probe_report pr;

		if (!a)
			continue;
		pt = up_ready_probe(c, pn);
		if (probe_run(&pt, &pr, e) < 0)
			return err_wrap(e, "%s: readiness probe", pn->id);
		if (pr.result == PROBE_OK)
			continue;
		if (recreate(c, i, a->detail, e) < 0)
			return -1;
		done[i] = true;
	}
	return 0;
}

/* The plan index of the first planned replica of plan node i, or -1. */
static int first_replica(const struct cluster *c, size_t i)
{
	for (size_t j = 0; j < c->plan->n; j++)
		if (c->plan->nodes[j].role == ROLE_REPLICA && c->plan->nodes[j].master == (int)i)
			return (int)j;
	return -1;
}

/* Before master i restarts, its replica r (plan indexes) takes over its
 * data (db_hand_over), so that it stays served; *hand_back_at gets the
 * latest time it may go back. */
static int hand_over(struct cluster *c, size_t i, size_t r, int64_t *hand_back_at,
		     struct err *e)
{
	const struct plan_node *pn = &c->plan->nodes[i];
	size_t svc = pn->svc_index, first = c->plan->svc_first[svc], n;
	struct db_opts o = cluster_db_opts(c, svc, DB_CALL_TIMEOUT_MS, 60000);
	struct db_node *nodes;
	int64_t at = 0;
	int rc;

	log_info("%s on %s: its replica %s takes over first", pn->id, pn->host->name,
		 c->plan->nodes[r].id);
	nodes = cluster_db_nodes(c, svc, &n);
	rc = db_hand_over(c->drv[svc], nodes, n, i - first, r - first, &o, &at, e);
	free(nodes);
	if (rc == 0 && at > *hand_back_at)
		*hand_back_at = at;
	return rc;
}

/* Mark node i as back in its cluster, in the state. */
static int record_joined(struct cluster *c, size_t i, struct err *e)
{
	struct state_node *sn = state_find(c->st, c->plan->nodes[i].id);

	free(sn->status);
	sn->status = xstrdup("joined");
	return state_save(c->lock, c->st, e);
}

/* The other changes in place (a new image or config on the same host and
 * port) restart one node at a time, and each is back before the next goes.
 *   1. Replicas: restart, wait until the cluster has taken it back.
 *   2. Masters, when the kind can hand over: the replica takes over the
 *      data first (db_hand_over; Redis: a coordinated CLUSTER FAILOVER), the
 *      master restarts and comes back as the replica, and its copy is
 *      synced (db_synced) before the next master goes.
 *   3. Every master takes its data back at once (db_form with fail_back;
 *      Redis lets a shard fail over again only two node timeouts after the
 *      last time, so doing it per master would wait that long each).
 * Every slot stays served and no acknowledged write is lost.  Each node is
 * recorded as soon as it runs its new config, so an interrupted roll goes on
 * where it stopped (the next up fails back too). */
int up_roll_in_place(struct cluster *c, const struct converge_opts *o, const struct actions *acts,
		     const bool *done, struct err *e)
{
	size_t np = c->plan->n;
	bool *only = xcalloc(np + 1, sizeof *only);
	int64_t *back = xcalloc(c->spec->nservices + 1, sizeof *back); /* hand back at */
	int rc = 0;

	for (int pass = 0; pass < 2 && rc == 0; pass++)
		for (size_t i = 0; i < np && rc == 0; i++) {
			const struct plan_node *pn = &c->plan->nodes[i];
			const struct action *a = up_in_place_change(acts, pn->id);
			bool master = pn->role == ROLE_MASTER, handed, changed = false;
			int replica;

			if (!a || done[i] || master != (pass == 1))
				continue;
			replica = master ? first_replica(c, i) : -1;
			handed = replica >= 0 && db_can(c->drv[pn->svc_index], "hand_over");
			only[i] = true;
			if ((handed && hand_over(c, i, (size_t)replica, &back[pn->svc_index], e) < 0) ||
			    recreate(c, i, a->detail, e) < 0 ||
			    up_wait_ready(c, o, only, e) < 0) {
				rc = -1;
				break;
			}
			only[i] = false;
			if (handed) { /* a replica for now: its copy first */
				struct db_node *nodes;
				size_t n, first = c->plan->svc_first[pn->svc_index];
				struct db_opts so = cluster_db_opts(c, pn->svc_index,
								    DB_CALL_TIMEOUT_MS, 60000);

				nodes = cluster_db_nodes(c, pn->svc_index, &n);
				rc = db_synced(c->drv[pn->svc_index], &nodes[i - first], &so, e);
				free(nodes);
				if (rc == 0)
					log_info("%s on %s: back, as a synced replica until the "
						 "hand-back", pn->id, pn->host->name);
				continue;
			}
			if (up_form_service(c, pn->svc_index, true, true, &changed, e) < 0) {
				rc = -1;
				break;
			}
			log_info("%s on %s: back in its cluster", pn->id, pn->host->name);
			rc = record_joined(c, i, e);
		}
	for (size_t s = 0; s < c->spec->nservices && rc == 0; s++) {
		bool changed = false;

		if (!back[s])
			continue;
		if (back[s] > now_ms()) {
			log_info("%s: handing the roles back in %lld ms (a shard may fail over "
				 "again only two node timeouts after the last time)",
				 c->spec->services[s].name, (long long)(back[s] - now_ms()));
			usleep((useconds_t)(back[s] - now_ms()) * 1000);
		}
		rc = up_form_service(c, s, true, true, &changed, e);
		for (size_t i = c->plan->svc_first[s]; rc == 0 && i < c->plan->svc_first[s + 1]; i++)
			if (up_in_place_change(acts, c->plan->nodes[i].id) &&
			    c->plan->nodes[i].role == ROLE_MASTER && !done[i])
				rc = record_joined(c, i, e);
	}
	free(only);
	free(back);
	return rc;
}
