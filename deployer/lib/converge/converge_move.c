/* converge_move.c - shoal up: the nodes that change hosts moved the new node
 * first (up_move_first, converge_int.h): the new copy joins and syncs, a
 * master's copy takes over, then the old copy leaves and goes. */
#include "converge_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Does action a move a node of service svc to another host while its old
 * node runs, joined, where shoal reaches it, and nothing else holds its new
 * host and port?  Then the new node can join before the old one goes. */
static bool movable(const struct cluster *c, const struct action *a, const char *svc)
{
	const struct state_node *sn = a->have;
	struct fleet_host *h;
	json_t *rec;
	const char *state;

	if (a->kind != ACT_CHANGE || !sn || !a->want || !a->service || strcmp(a->service, svc) ||
	    !strcmp(sn->host, a->host))
		return false;
	h = fleet_host(c->fleet, sn->host);
	rec = cluster_listed(c, sn->host, sn->id);
	state = json_string_value(json_object_get(rec, "state"));
	if (!h || !h->agent || !state || strcmp(state, "running") || !sn->status ||
	    strcmp(sn->status, "joined") || !sn->cluster_id)
		return false;
	for (size_t i = 0; i < c->st->n; i++) {
		const struct state_node *o = &c->st->nodes[i];

		if (o != sn && !strcmp(o->host, a->host) &&
		    (o->port == a->want->port || o->port == a->want->bus_port))
			return false;
	}
	return true;
}

/* The layout service s has while its moving nodes change hosts: every
 * planned node that runs now (a moving one at its old address), the nodes
 * leaving it (acts), then each moving node's new copy as a replica of its
 * old one (a moving master) or of its planned master.  mv[k] is the action
 * of the k-th moving node, moves of them; (*old)[k] and (*new)[k] get the
 * indexes of its two copies, (*plan_at)[k] its plan index.  NULL when some
 * node's master is not in the layout (then the service moves the old way). */
static struct db_node *move_layout(const struct cluster *c, size_t s, const struct actions *acts,
				   const struct action *const *mv, size_t moves, size_t **old,
				   size_t **new, size_t **plan_at, size_t *nt)
{
	size_t first = c->plan->svc_first[s], np, k = 0;
	struct db_node *plan = cluster_db_nodes(c, s, &np);
	struct db_node *t = xcalloc(np + acts->n + moves + 1, sizeof *t);
	int *at = xcalloc(np + 1, sizeof *at); /* plan index -> layout index, -1 */
	bool ok = true;

	*old = xcalloc(moves + 1, sizeof **old);
	*new = xcalloc(moves + 1, sizeof **new);
	*plan_at = xcalloc(moves + 1, sizeof **plan_at);
	for (size_t i = 0; i < np; i++) {
		const struct state_node *sn = state_find(c->st, plan[i].id);
		const struct action *m = NULL;

		at[i] = -1;
		for (size_t j = 0; j < moves; j++)
			if (!strcmp(mv[j]->node, plan[i].id)) {
				m = mv[j];
				(*old)[j] = k;
				(*plan_at)[j] = first + i;
			}
		if (!sn || (!m && strcmp(sn->host, c->plan->nodes[first + i].host->name)))
			continue; /* created later in this run */
		at[i] = (int)k;
		t[k] = plan[i];
		if (m) {
			t[k].address = sn->address;
			t[k].port = sn->port;
			t[k].bus_port = sn->bus_port;
		}
		k++;
	}
	for (size_t i = 0; i < k; i++)
		if (!t[i].master) {
			int pm = t[i].master_index;

			ok &= at[pm] >= 0;
			t[i].master_index = at[pm];
		}
	/* the nodes leaving the service: masters first */
	for (int pass = 0; pass < 2; pass++)
		for (size_t j = 0; j < acts->n; j++) {
			const struct action *a = &acts->items[j];
			const struct state_node *sn = a->have;
			bool found = false;

			if (a->kind != ACT_LEAVE || !sn || strcmp(sn->service, c->spec->services[s].name) ||
			    !sn->master != (pass == 0))
				continue;
			t[k] = db_node_of_state(sn);
			for (size_t i = 0; sn->master && i < k; i++)
				if (!strcmp(t[i].id, sn->master) && t[i].master) {
					t[k].master = false;
					t[k].master_index = (int)i;
					found = true;
				}
			ok &= !sn->master || found;
			k++;
		}
	for (size_t j = 0; j < moves; j++) {
		const struct db_node *pn = &plan[(*plan_at)[j] - first];

		t[k] = *pn;
		t[k].master = false;
		t[k].master_index = pn->master ? (int)(*old)[j] : at[pn->master_index];
		t[k].cluster_id = NULL;
		ok &= t[k].master_index >= 0;
		(*new)[j] = k++;
	}
	free(at);
	free(plan);
	*nt = k;
	if (!ok) {
		free(t);
		return NULL;
	}
	return t;
}

/* Node actions of a move: the new node created on its new host (its data
 * there, from an interrupted move, kept). */
static int create_moved(struct cluster *c, const struct action *a, struct err *e)
{
	struct fleet_host *h = fleet_host(c->fleet, a->host);
	json_t *req = NULL;

	if (!h || !h->agent)
		return err_set(e, ENOENT, "%s: host %s is not connected", a->node, a->host);
	if (cluster_listed(c, a->host, a->node) &&
	    cluster_remove_node(c, a->host, a->node, false, e) < 0)
		return -1;
	if (cluster_create_request(c, a->want, &req, e) < 0)
		return -1;
	log_info("%s on %s: creating (%s; it joins before the old one leaves)", a->node, a->host,
		 a->detail);
	if (fleet_call(h, req, NULL, e) < 0)
		return err_wrap(e, "create %s", a->node);
	return 0;
}

/* Move the nodes of service s that change hosts, the new node first: each
 * new node starts on its new host and joins as a replica (of its old copy
 * when that is a master, else of its planned master) and syncs; a master's
 * new copy takes over by a coordinated failover (db_hand_over: no
 * acknowledged write lost, every slot served throughout); then the old
 * nodes leave the cluster (db_leave), their containers and data go, and
 * the new ones are recorded.  Only when the kind can hand over and every
 * moving node's old copy runs where shoal reaches it; otherwise the moves
 * are left to leave_clusters (data moved away, old node stopped, new one
 * started). */
static int move_service(struct cluster *c, const struct converge_opts *co,
			const struct actions *acts, size_t s, struct err *e)
{
	const char *svc = c->spec->services[s].name;
	const struct action **mv = xcalloc(acts->n + 1, sizeof *mv);
	size_t moves = 0, nt = 0, *old = NULL, *new = NULL, *plan_at = NULL;
	struct db_node *t = NULL, *stay = NULL, *leave = NULL;
	struct db_opts o = cluster_db_opts(c, s, DB_CALL_TIMEOUT_MS, 120000);
	char (*ids)[DB_ID_MAX + 1] = NULL;
	bool *want = NULL;
	char **left = NULL;
	int rc = 0;

	if (!db_can(c->drv[s], "hand_over") || !db_can(c->drv[s], "form"))
		goto out;
	for (size_t k = 0; k < acts->n; k++) {
		const struct action *a = &acts->items[k];

		if (a->kind != ACT_CHANGE || !a->have || !a->service || strcmp(a->service, svc) ||
		    !strcmp(a->have->host, a->host))
			continue;
		if (!movable(c, a, svc))
			goto out; /* all the old way */
		mv[moves++] = a;
	}
	if (!moves || !(t = move_layout(c, s, acts, mv, moves, &old, &new, &plan_at, &nt)))
		goto out;
	log_info("%s: moving %zu node%s, each new node first", svc, moves, moves == 1 ? "" : "s");
	want = xcalloc(c->plan->n + 1, sizeof *want);
	for (size_t k = 0; k < moves; k++) {
		if ((rc = create_moved(c, mv[k], e)) < 0)
			goto out;
		want[plan_at[k]] = true;
	}
	if ((rc = up_wait_ready(c, co, want, e)) < 0)
		goto out;
	ids = xcalloc(nt + 1, sizeof *ids);
	o.fail_back = true;
	o.forget = c->left ? c->left[s] : NULL;
	if ((rc = db_form(c->drv[s], t, nt, &o, ids, e)) < 0) {
		err_wrap(e, "service %s: joining the moved nodes", svc);
		goto out;
	}
	for (size_t k = 0; k < moves; k++) {
		int64_t back = 0;

		if (!t[old[k]].master)
			continue;
		log_info("%s: its copy on %s takes over from the one on %s", mv[k]->node,
			 mv[k]->host, mv[k]->have->host);
		if ((rc = db_hand_over(c->drv[s], t, nt, old[k], new[k], &o, &back, e)) < 0) {
			err_wrap(e, "service %s: moving %s", svc, mv[k]->node);
			goto out;
		}
	}
	/* the old copies leave; the replicas that followed one may take a
	 * gossip round to follow its successor: a refusal then is waited out */
	stay = xcalloc(nt + 1, sizeof *stay);
	leave = xcalloc(moves + 1, sizeof *leave);
	{
		size_t ns = 0, nl = 0;
		int64_t until = now_ms() + LEAVE_SETTLE_MS;
		struct db_opts lo = cluster_db_opts(c, s, 3000, 0);

		for (size_t i = 0; i < nt; i++) {
			bool is_old = false;

			for (size_t k = 0; k < moves; k++)
				is_old |= old[k] == i;
			if (is_old)
				leave[nl++] = t[i];
			else
				stay[ns++] = t[i];
		}
		for (size_t i = 0; i < ns; i++)
			stay[i].master_index = -1;
		while ((rc = db_leave(c->drv[s], stay, ns, leave, nl, &lo, &left, e)) < 0) {
			if (e->code != EBUSY || now_ms() >= until) {
				err_wrap(e, "service %s: the moved nodes' old copies leaving", svc);
				goto out;
			}
			usleep(200 * 1000);
		}
	}
	if (!c->left)
		c->left = xcalloc(c->spec->nservices, sizeof *c->left);
	up_strv_append(&c->left[s], left);
	left = NULL;
	for (size_t k = 0; k < moves; k++) {
		const struct action *a = mv[k];
		_cleanup_free_ char *from = xstrdup(a->have->host);
		struct state_node *sn;

		log_info("%s on %s: removing (moved to %s)", a->node, from, a->host);
		if ((rc = cluster_remove_node(c, from, a->node, true, e)) < 0)
			goto out;
		sn = up_record_node(c, plan_at[k]);
		free(sn->cluster_id);
		sn->cluster_id = xstrdup(ids[new[k]]);
		free(sn->status);
		sn->status = xstrdup("joined");
		c->moved[a - acts->items] = true;
		if ((rc = state_save(c->lock, c->st, e)) < 0)
			goto out;
	}
out:
	strv_free(left);
	free(ids);
	free(want);
	free(stay);
	free(leave);
	free(t);
	free(old);
	free(new);
	free(plan_at);
	free(mv);
	return rc;
}

/* Every service's moves, the new node first (move_service). */
int up_move_first(struct cluster *c, const struct converge_opts *o, const struct actions *acts,
		  struct err *e)
{
	c->moved = xcalloc(acts->n + 1, sizeof *c->moved);
	for (size_t s = 0; s < c->spec->nservices; s++)
		if (move_service(c, o, acts, s, e) < 0)
			return -1;
	return 0;
}
