/* redis_cluster.c - forming, leaving and handing over a Redis Cluster as
 * planned (redis_cluster.h). */
#include "redis_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* ---- forming ------------------------------------------------------------------ */

void rc_slot_share(int k, int nmasters, int *first, int *last)
{
	/* Same split as redis-cli: master k starts at round(k * 16384 / n). */
	double per = (double)RC_SLOTS / nmasters;

	*first = k == 0 ? 0 : (int)((double)k * per + 0.5);
	*last = k == nmasters - 1 ? RC_SLOTS - 1 : (int)((double)(k + 1) * per + 0.5) - 1;
}

/* ---- leaving ------------------------------------------------------------------ */

/* Why a node that leaves (as the cluster knows it: en) cannot be forgotten
 * yet, or 0.  stay_obs[0..nstay) are the remaining nodes' answers. */
static int check_departure(const struct rc_entry *en, const char *name,
			   const struct rc_observer *stay_obs, size_t nstay, struct err *e)
{
	if ((en->flags & RC_F_MASTER) && en->nslots > 0)
		return err_set(e, EBUSY, "%s would leave the cluster but serves %d slots (%d-%d%s) "
					 "as Redis node %.8s: their keys would be lost; move the "
					 "slots to the remaining masters first (redis-cli --cluster "
					 "reshard) or keep the node in the spec where it is",
			       name, en->nslots, en->ranges[0].first, en->ranges[0].last,
			       en->nranges > 1 ? " and more" : "", en->id);
	if (en->migrating)
		return err_set(e, EBUSY, "%s would leave the cluster while %d slot(s) move to or "
					 "from it (Redis node %.8s); finish or cancel that first",
			       name, en->migrating, en->id);
	for (size_t i = 0; i < nstay; i++) {
		const struct rc_entry *me = rc_self(&stay_obs[i]);

		if (me && strcmp(me->master_id, en->id) == 0)
			return err_set(e, EBUSY, "%s replicates %s, which would leave the cluster; "
						 "point it at a remaining master first (CLUSTER "
						 "REPLICATE) or keep %s in the spec",
				       stay_obs[i].label, name, name);
	}
	return 0;
}

/* CLUSTER FORGET id on one node; a node that does not know id is fine. */
static int forget_on(redisContext *c, int tmo, const char *label, const char *id,
		     struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "CLUSTER", "FORGET", id);

	if (r || (e->code == EIO && strstr(e->msg, "Unknown node")))
		return 0;
	return err_wrap(e, "forgetting node %.8s", id);
}

/* Add id to the set ids[0..*n) unless it is there already. */
static void id_add(char (**ids)[RC_ID_LEN + 1], size_t *n, size_t *cap, const char *id)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*ids)[i], id) == 0)
			return;
	*ids = xgrow(*ids, cap, *n + 1, sizeof **ids);
	snprintf((*ids)[(*n)++], RC_ID_LEN + 1, "%s", id);
}

int rc_leave(const struct rc_node *stay, size_t nstay, const struct rc_node *leave,
	     const char *const *recorded_ids, size_t nleave, const struct rc_opts *o,
	     char (**ids)[RC_ID_LEN + 1], size_t *nids, struct err *e)
{
	size_t n = nstay + nleave, cap = 0, nout = 0;
	_cleanup_free_ struct rc_node *all = NULL;
	_cleanup_free_ size_t *owner = NULL; /* which leaving node each id is */
	size_t owner_cap = 0;
	char (*out)[RC_ID_LEN + 1] = NULL;
	struct rc_view *v = NULL;
	int tmo = rc_opt_timeout_ms(o);

	*ids = NULL;
	*nids = 0;
	if (nleave == 0)
		return 0;
	/* Read only: every node counts as a master for rc_validate_plan. */
	all = xcalloc(n, sizeof *all);
	for (size_t i = 0; i < n; i++) {
		all[i] = i < nstay ? stay[i] : leave[i - nstay];
		all[i].master = true;
		all[i].master_index = -1;
	}
	if (rc_inspect(all, n, o, &v, e) < 0)
		return -1;
	for (size_t k = 0; k < nleave; k++) {
		const struct rc_observer *ob = &v->obs[nstay + k];
		const char *rec = recorded_ids ? recorded_ids[k] : NULL;
		size_t before = nout;

		if (ob->reachable)
			id_add(&out, &nout, &cap, ob->id);
		if (rec && rc_is_node_id(rec))
			id_add(&out, &nout, &cap, rec);
		for (size_t j = 0; j < v->nnodes; j++)
			if (v->nodes[j].port == leave[k].port &&
			    strcmp(v->nodes[j].address, leave[k].address) == 0)
				id_add(&out, &nout, &cap, v->nodes[j].id);
		owner = xgrow(owner, &owner_cap, nout + 1, sizeof *owner);
		for (size_t j = before; j < nout; j++)
			owner[j] = k;
	}
	for (size_t j = 0; j < nout; j++) {
		const struct rc_entry *en = rc_find_entry(v->nodes, v->nnodes, out[j]);
		int pi = en ? en->plan_index : -1;

		if (pi >= 0 && (size_t)pi < nstay) {
			err_set(e, EEXIST, "%s: has the Redis id %s that %s left with",
				v->obs[pi].label, out[j], leave[owner[j]].id);
			goto fail;
		}
		if (en && check_departure(en, v->obs[nstay + owner[j]].label, v->obs, nstay, e) < 0)
			goto fail;
	}
	for (size_t i = 0; i < nstay; i++) {
		const struct rc_observer *ob = &v->obs[i];
		redisContext *c = NULL;

		for (size_t j = 0; ob->reachable && j < nout; j++) {
			if (!rc_find_entry(ob->table, ob->ntable, out[j]))
				continue;
			if (!c && !(c = rc_connect(ob->label, stay[i].address, stay[i].port, o, e)))
				goto fail;
			if (forget_on(c, tmo, ob->label, out[j], e) < 0) {
				redisFree(c);
				goto fail;
			}
		}
		if (c)
			redisFree(c);
	}
	rc_view_free(v);
	*ids = out;
	*nids = nout;
	return 0;
fail:
	rc_view_free(v);
	free(out);
	return -1;
}

struct former {
	const struct rc_node *nodes;
	size_t n;
	const struct rc_opts *o;
	int tmo;
	int settle_ms;
	int64_t start, deadline; /* now_ms() */
	redisContext **conns;
	char **labels;
	char (*ids)[RC_ID_LEN + 1];
	struct rc_view *v; /* latest observation */
};

static int former_observe(struct former *f, struct err *e)
{
	struct rc_view *nv;

	if (rc_observe_all(f->nodes, f->n, f->conns, f->tmo, &nv, e) < 0)
		return -1;
	rc_view_free(f->v);
	f->v = nv;
	return 0;
}

/* Does the observer know planned node j, with the right id, where the plan
 * puts it, and with a working link?  A node that moved (a new port, a
 * restart at another address) stays listed at its old address until it is
 * introduced again; until then the others cannot reach it. */
static bool knows(const struct former *f, size_t i, size_t j)
{
	const struct rc_observer *ob = &f->v->obs[i];
	const struct rc_entry *en = rc_find_entry(ob->table, ob->ntable, f->ids[j]);
	const struct rc_node *nj = &f->nodes[j];
	int bus = nj->bus_port ? nj->bus_port : nj->port + 10000;

	if (!en || (en->flags & (RC_F_HANDSHAKE | RC_F_NOADDR)))
		return false;
	if (en->flags & RC_F_MYSELF)
		return true;
	return en->port == nj->port && en->bus_port == bus && !strcmp(en->address, nj->address) &&
	       en->connected && !(en->flags & (RC_F_PFAIL | RC_F_FAIL));
}

static const char *plan_label_of(const struct former *f, const char *id)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->ids[i], id) == 0)
			return f->labels[i];
	return NULL;
}

/* The planned replica that planned master m follows (by its own report)
 * while serving slots itself: the two swapped roles in a failover.  -1 when
 * m is not in that state. */
static int swapped_with(const struct former *f, size_t m)
{
	const struct rc_entry *me = rc_self_entry(&f->v->obs[m]);

	if (!f->nodes[m].master || !(me->flags & RC_F_REPLICA))
		return -1;
	for (size_t r = 0; r < f->n; r++)
		if (!f->nodes[r].master && f->nodes[r].master_index == (int)m &&
		    strcmp(f->ids[r], me->master_id) == 0 &&
		    (rc_self_entry(&f->v->obs[r])->flags & RC_F_MASTER))
			return (int)r;
	return -1;
}

/* A node some planned node knows that is not in the plan. */
static int refuse_foreign(const struct former *f, size_t i, const struct rc_entry *en, struct err *e)
{
	for (size_t j = 0; j < f->n; j++)
		if (f->nodes[j].port == en->port && strcmp(f->nodes[j].address, en->address) == 0)
			return err_set(e, EEXIST, "%s: knows node %s at the address of %s, which now has id "
						  "%s (a replaced node's old identity); CLUSTER FORGET %s "
						  "on every node first",
				       f->labels[i], en->id, f->labels[j], f->ids[j], en->id);
	return err_set(e, EEXIST, "%s: already in another cluster: it knows node %s (%s:%d), which is "
				  "not in the plan; if that node left this cluster, run CLUSTER "
				  "FORGET %s on every node, else fix the plan",
		       f->labels[i], en->id, en->address, en->port, en->id);
}

/* Refuse what cannot be fixed safely; see rc_form.  owner[s] gets the planned
 * node serving slot s (by its own report), -1 when none. */
static int check_reality(struct former *f, int16_t *owner, struct err *e)
{
	const struct rc_view *v = f->v;
	bool fail_back = f->o && f->o->fail_back;

	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->ids[i], f->ids[j]) == 0)
				return err_usage(e, "%s and %s are the same Redis node (id %s)",
						 f->labels[j], f->labels[i], f->ids[i]);
	for (int s = 0; s < RC_SLOTS; s++)
		owner[s] = -1;
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_observer *ob = &v->obs[i];
		const struct rc_entry *me = rc_self_entry(ob);

		for (size_t j = 0; j < ob->ntable; j++)
			if (!(ob->table[j].flags & RC_F_HANDSHAKE) && ob->table[j].plan_index < 0)
				return refuse_foreign(f, i, &ob->table[j], e);
		/* a planned master's open slots are a move an interrupted run
		 * left: rc_rebalance finishes it after forming */
		if (me->migrating && !ob->master)
			return err_set(e, EBUSY, "%s: %d slot(s) are being migrated or imported, but "
						 "the plan makes it a replica; finish or cancel that "
						 "first (CLUSTER SETSLOT ... STABLE)",
				       f->labels[i], me->migrating);
		if (ob->master && (me->flags & RC_F_REPLICA)) {
			const char *ml = plan_label_of(f, me->master_id);
			int r = swapped_with(f, i);

			if (r < 0)
				return err_set(e, EEXIST, "%s: is a replica of %s, but the plan makes it a "
							  "master",
					       f->labels[i], ml ? ml : me->master_id);
			if (!fail_back)
				return err_set(e, EEXIST, "%s: is a replica of %s after a failover, but the "
							  "plan makes it the master; allow fail-back (CLUSTER "
							  "FAILOVER on %s) to restore the plan",
					       f->labels[i], ml, f->nodes[i].id);
		}
		if (!ob->master && me->nslots > 0 &&
		    !(fail_back && swapped_with(f, (size_t)ob->master_index) == (int)i))
			return err_set(e, EEXIST, "%s: serves %d slots, but the plan makes it a replica "
						  "of %s",
				       f->labels[i], me->nslots, f->labels[ob->master_index]);
		for (size_t r = 0; r < me->nranges; r++)
			for (int s = me->ranges[r].first; s <= me->ranges[r].last; s++) {
				if (owner[s] >= 0)
					return err_set(e, EEXIST, "slot %d is claimed by both %s and %s", s,
						       f->labels[owner[s]], f->labels[i]);
				owner[s] = (int16_t)i;
			}
	}
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = rc_self_entry(&v->obs[i]);
		_cleanup_reply_ redisReply *r = NULL;

		if (me->nslots > 0 || me->migrating || (me->flags & RC_F_REPLICA))
			continue;
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "DBSIZE")))
			return -1;
		if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
			return err_set(e, ENOTEMPTY, "%s: holds %lld keys but serves no slot; shoal will not "
						     "add it to the cluster (flush it or remove it from "
						     "the plan)",
				       f->labels[i], r->integer);
	}
	return 0;
}

/* The runs of slots in [first, last] that no node serves; out has room for
 * (last - first) / 2 + 1 runs. */
static size_t unserved_ranges(const int16_t *owner, int first, int last, struct rc_range *out)
{
	size_t n = 0;

	for (int s = first; s <= last; s++) {
		if (owner[s] >= 0)
			continue;
		out[n].first = s;
		while (s < last && owner[s + 1] < 0)
			s++;
		out[n++].last = s;
	}
	return n;
}

/* CLUSTER ADDSLOTSRANGE first last [first last ...] on node i. */
static int add_slot_ranges(struct former *f, size_t i, const struct rc_range *r, size_t nr,
			   struct err *e)
{
	const char **argv = xcalloc(2 + 2 * nr, sizeof *argv);
	char (*nums)[12] = xcalloc(2 * nr, sizeof *nums);
	redisReply *reply;

	argv[0] = "CLUSTER";
	argv[1] = "ADDSLOTSRANGE";
	for (size_t k = 0; k < 2 * nr; k++) {
		snprintf(nums[k], sizeof nums[k], "%d", k % 2 ? r[k / 2].last : r[k / 2].first);
		argv[2 + k] = nums[k];
	}
	reply = rc_call_argv(f->conns[i], f->tmo, f->labels[i], (int)(2 + 2 * nr), argv, e);
	free(argv);
	free(nums);
	if (!reply)
		return -1;
	freeReplyObject(reply);
	return 0;
}

/* Give every planned master the slots of its share that nobody serves. */
static int assign_slots(struct former *f, const int16_t *owner, struct err *e)
{
	struct rc_range *runs = xcalloc(RC_SLOTS / 2 + 1, sizeof *runs);
	int nmasters = 0, k = 0, rc = 0;

	for (size_t i = 0; i < f->n; i++)
		nmasters += f->nodes[i].master;
	for (size_t i = 0; i < f->n && rc == 0; i++) {
		int first, last;
		size_t nr;

		if (!f->nodes[i].master)
			continue;
		rc_slot_share(k++, nmasters, &first, &last);
		if ((nr = unserved_ranges(owner, first, last, runs)) > 0)
			rc = add_slot_ranges(f, i, runs, nr, e);
	}
	free(runs);
	return rc;
}

/* On a fresh set of nodes, give each a distinct config epoch (as redis-cli
 * does) so that masters need no epoch collision rounds after meeting. */
static int set_config_epochs(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = rc_self_entry(&f->v->obs[i]);

		if (f->v->obs[i].known_nodes != 1 || me->config_epoch != 0)
			return 0;
	}
	for (size_t i = 0; i < f->n; i++) {
		_cleanup_reply_ redisReply *r = NULL;
		char epoch[24];

		snprintf(epoch, sizeof epoch, "%zu", i + 1);
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "SET-CONFIG-EPOCH", epoch)))
			return -1;
	}
	return 0;
}

/* Introduce every pair of nodes where one does not know the other (at its
 * planned address): the one that does not meets the other, the lower-indexed
 * one when neither does, so each pair is introduced once.  Meeting a node it
 * knows at an old address makes Redis update the address. */
static int meet(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = i + 1; j < f->n; j++) {
			size_t from = knows(f, i, j) ? j : i, to = from == i ? j : i;
			const struct rc_node *nt = &f->nodes[to];
			_cleanup_reply_ redisReply *r = NULL;
			char port[12], bus[12];

			if (knows(f, i, j) && knows(f, j, i))
				continue;
			snprintf(port, sizeof port, "%d", nt->port);
			snprintf(bus, sizeof bus, "%d", nt->bus_port ? nt->bus_port : nt->port + 10000);
			if (!(r = CALL(f->conns[from], f->tmo, f->labels[from], e, "CLUSTER", "MEET",
				       nt->address, port, bus)))
				return err_wrap(e, "introducing %s", f->labels[to]);
		}
	return 0;
}

/* A condition rc_form waits for: true when it holds, else why not in `why`. */
typedef bool (*settled_fn)(const struct former *f, char *why, size_t n);

static bool all_know_all(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++)
		for (size_t j = 0; j < f->n; j++)
			if (!knows(f, i, j)) {
				snprintf(why, n, "%s does not reach %s yet", f->labels[i], f->labels[j]);
				return false;
			}
	return true;
}

static bool formed(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_observer *ob = &f->v->obs[i];

		if (!ob->state_ok || ob->slots_assigned != RC_SLOTS) {
			snprintf(why, n, "%s reports cluster_state %s, %d slots assigned", f->labels[i],
				 ob->state_ok ? "ok" : "fail", ob->slots_assigned);
			return false;
		}
		for (size_t j = 0; j < f->n; j++) {
			const struct rc_entry *en = rc_find_entry(ob->table, ob->ntable, f->ids[j]);
			const struct rc_node *pj = &f->nodes[j];

			if (!en || !knows(f, i, j)) {
				snprintf(why, n, "%s does not reach %s", f->labels[i], f->labels[j]);
				return false;
			}
			if (pj->master ? !(en->flags & RC_F_MASTER)
				       : !(en->flags & RC_F_REPLICA) ||
						 strcmp(en->master_id, f->ids[pj->master_index]) != 0) {
				snprintf(why, n, "%s does not yet see %s as %s%s", f->labels[i],
					 f->labels[j], pj->master ? "a master" : "a replica of ",
					 pj->master ? "" : f->labels[pj->master_index]);
				return false;
			}
		}
	}
	return true;
}

/* Observe until done() holds; ETIMEDOUT once `until` (ms, monotonic) passes. */
static int wait_for(struct former *f, settled_fn done, const char *what, int64_t until,
		    struct err *e)
{
	char why[512] = "";

	for (;;) {
		if (former_observe(f, e) < 0)
			return -1;
		if (done(f, why, sizeof why))
			return 0;
		if (now_ms() >= until)
			return err_set(e, ETIMEDOUT, "%s: not done within the %d ms allowed: %s", what,
				       f->settle_ms, why);
		rc_sleep_ms(POLL_MS);
	}
}

static bool roles_restored(const struct former *f, char *why, size_t n)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = rc_self_entry(&f->v->obs[i]);

		if (f->nodes[i].master && !(me->flags & RC_F_MASTER)) {
			snprintf(why, n, "%s is not master yet", f->labels[i]);
			return false;
		}
		if (!f->nodes[i].master && me->nslots > 0) {
			snprintf(why, n, "%s still serves %d slots", f->labels[i], me->nslots);
			return false;
		}
	}
	return true;
}

/* Whether node i's replication link to its master is up (INFO replication). */
static int link_up(struct former *f, size_t i, bool *up, struct err *e)
{
	_cleanup_reply_ redisReply *r = NULL;

	if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "INFO", "replication")))
		return -1;
	*up = r->type == REDIS_REPLY_STRING && strstr(r->str, "master_link_status:up");
	return 0;
}

/* Whether every node sees node i as a replica of node m (a master ignores a
 * manual failover request from a node it does not know as its replica). */
static bool seen_as_replica(const struct former *f, size_t i, size_t m)
{
	for (size_t j = 0; j < f->n; j++) {
		const struct rc_observer *ob = &f->v->obs[j];
		const struct rc_entry *en = rc_find_entry(ob->table, ob->ntable, f->ids[i]);

		if (!en || !(en->flags & RC_F_REPLICA) || strcmp(en->master_id, f->ids[m]) != 0)
			return false;
	}
	return true;
}

/* Make every planned master that lost its role in a failover master again:
 * once all nodes see it as a replica and its replication link is up, a
 * coordinated CLUSTER FAILOVER (its replica hands over without losing
 * acknowledged writes).  Redis abandons a
 * manual failover after 5 s, so it is asked again until the settle time runs
 * out. */
static int fail_back(struct former *f, struct err *e)
{
	_cleanup_free_ bool *asked = xcalloc(f->n + 1, sizeof *asked);

	for (;;) {
		int64_t until = now_ms() + FAILOVER_RETRY_MS;
		bool any = false, issued = false, up;

		for (size_t i = 0; i < f->n; i++) {
			_cleanup_reply_ redisReply *r = NULL;

			int partner = swapped_with(f, i);

			if (partner < 0)
				continue;
			any = true;
			if (!seen_as_replica(f, i, (size_t)partner))
				continue;
			if (link_up(f, i, &up, e) < 0)
				return -1;
			if (!up)
				continue;
			log_info("%s: master again (CLUSTER FAILOVER: %s had taken over)",
				 f->labels[i], f->labels[partner]);
			if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "FAILOVER")))
				return -1;
			issued = true;
			if (!asked[i] && f->o->failed_back)
				(*f->o->failed_back)++;
			asked[i] = true;
		}
		if (!any)
			return 0;
		if (now_ms() >= f->deadline)
			return err_set(e, ETIMEDOUT, "failing back to the planned masters: not done "
						     "within the %d ms allowed",
				       f->settle_ms);
		if (!issued) { /* roles still spreading, or links still syncing */
			rc_sleep_ms(POLL_MS);
			if (former_observe(f, e) < 0)
				return -1;
			continue;
		}
		if (wait_for(f, roles_restored, "failing back to the planned masters",
			     until < f->deadline ? until : f->deadline, e) == 0)
			return 0;
		if (e->code != ETIMEDOUT)
			return -1;
	}
}

/* Node c's role and replication link, from INFO replication. */
static int replication_of(redisContext *c, int tmo, const char *label, bool *master,
			  bool *linked, struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "INFO", "replication");

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_STRING)
		return err_set(e, EPROTO, "%s: INFO replication: unexpected reply type", label);
	*master = strstr(r->str, "role:master") != NULL;
	*linked = strstr(r->str, "master_link_status:up") != NULL;
	return 0;
}

/* cluster-node-timeout of the node behind c (CONFIG GET), or -1. */
static long node_timeout_of(redisContext *c, int tmo, const char *label, struct err *e)
{
	_cleanup_reply_ redisReply *r = CALL(c, tmo, label, e, "CONFIG", "GET",
					     "cluster-node-timeout");
	long ms;

	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    !rc_parse_long(r->element[1]->str, 1, LONG_MAX / 4, &ms))
		return err_set(e, EPROTO, "%s: CONFIG GET cluster-node-timeout: unexpected reply",
			       label);
	return ms;
}

/* Poll node's INFO replication until it reports itself a replica (with its
 * replication link up, when `linked`), or the deadline passes. */
static int await_replica(const struct rc_node *node, const struct rc_opts *o, int64_t deadline,
			 bool linked, struct err *e)
{
	_cleanup_free_ char *label = rc_node_label(node);
	redisContext *c = rc_connect(label, node->address, node->port, o, e);
	int rc = -1;

	if (!c)
		return -1;
	for (;;) {
		bool master = true, up = false;

		if (replication_of(c, rc_opt_timeout_ms(o), label, &master, &up, e) < 0)
			break;
		if (!master && (up || !linked)) {
			rc = 0;
			break;
		}
		if (now_ms() >= deadline) {
			err_set(e, ETIMEDOUT, "%s: %s", label,
				master ? "still a master, not the replica it should be by now"
				       : "its replication link did not come up in time");
			break;
		}
		rc_sleep_ms(POLL_MS);
	}
	redisFree(c);
	return rc;
}

int rc_hand_over(const struct rc_node *nodes, size_t n, size_t m, size_t r,
		 const struct rc_opts *o, int64_t *hand_back_at, struct err *e)
{
	int tmo = rc_opt_timeout_ms(o);
	int64_t deadline = now_ms() + (o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS);
	int64_t asked = 0;
	_cleanup_free_ char *label = NULL, *mlabel = NULL;
	redisContext *c;
	int rc = -1;

	if (rc_validate_plan(nodes, n, e) < 0)
		return -1;
	if (m >= n || r >= n || nodes[r].master || (size_t)nodes[r].master_index != m)
		return err_usage(e, "rc_hand_over: node %zu is not a planned replica of node %zu", r, m);
	label = rc_node_label(&nodes[r]);
	mlabel = rc_node_label(&nodes[m]);
	if (!(c = rc_connect(label, nodes[r].address, nodes[r].port, o, e)))
		return -1;
	for (;;) {
		bool master = false, up = false;
		_cleanup_reply_ redisReply *rep = NULL;

		if (replication_of(c, tmo, label, &master, &up, e) < 0)
			break;
		if (master) {
			long nt = node_timeout_of(c, tmo, label, e);

			if (nt < 0)
				break;
			*hand_back_at = now_ms() + 2 * nt + 200;
			/* the old master has taken the failover in (and saved
			 * it), so a restart brings it back as the replica */
			rc = await_replica(&nodes[m], o, deadline, false, e);
			break;
		}
		if (now_ms() >= deadline) {
			err_set(e, ETIMEDOUT, "%s: did not take over from %s within %d ms%s", label,
				mlabel, o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS,
				up ? "" : " (its replication link is down)");
			break;
		}
		/* Redis abandons a manual failover after 5 s: ask again then. */
		if (up && now_ms() - asked >= FAILOVER_RETRY_MS) {
			if (!(rep = CALL(c, tmo, label, e, "CLUSTER", "FAILOVER")))
				break;
			asked = now_ms();
		}
		rc_sleep_ms(POLL_MS);
	}
	redisFree(c);
	return rc;
}

int rc_wait_linked(const struct rc_node *node, const struct rc_opts *o, struct err *e)
{
	int settle = o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS;

	return await_replica(node, o, now_ms() + settle, true, e);
}

/* Point every planned replica that does not follow its planned master at it. */
static int replicate(struct former *f, struct err *e)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_entry *me = rc_self_entry(&f->v->obs[i]);
		const char *want;
		_cleanup_reply_ redisReply *r = NULL;

		if (f->nodes[i].master)
			continue;
		want = f->ids[f->nodes[i].master_index];
		if ((me->flags & RC_F_REPLICA) && strcmp(me->master_id, want) == 0)
			continue;
		if (!(r = CALL(f->conns[i], f->tmo, f->labels[i], e, "CLUSTER", "REPLICATE", want)))
			return -1;
	}
	return 0;
}

/* Every planned node forgets the nodes that left (o->forget); then look again. */
static int forget_departed(struct former *f, struct err *e)
{
	bool forgot = false;

	for (size_t k = 0; f->o && k < f->o->nforget; k++) {
		const char *id = f->o->forget[k];

		for (size_t i = 0; i < f->n; i++) {
			const struct rc_observer *ob = &f->v->obs[i];
			const struct rc_entry *en = rc_find_entry(ob->table, ob->ntable, id);
			_cleanup_free_ char *name = NULL;

			if (!en)
				continue;
			if (en->flags & RC_F_MYSELF)
				return err_set(e, EEXIST, "%s: has the Redis id %s of a node that left",
					       f->labels[i], id);
			name = xasprintf("node %.8s (%s:%d)", id, en->address, en->port);
			if (check_departure(en, name, f->v->obs, f->n, e) < 0 ||
			    forget_on(f->conns[i], f->tmo, f->labels[i], id, e) < 0)
				return -1;
			forgot = true;
		}
	}
	return forgot ? former_observe(f, e) : 0;
}

static int form(struct former *f, struct err *e)
{
	_cleanup_free_ int16_t *owner = xcalloc(RC_SLOTS, sizeof *owner);

	for (size_t i = 0; i < f->n; i++) {
		f->labels[i] = rc_node_label(&f->nodes[i]);
		if (!(f->conns[i] = rc_connect(f->labels[i], f->nodes[i].address, f->nodes[i].port,
						 f->o, e)))
			return -1;
	}
	if (former_observe(f, e) < 0 || forget_departed(f, e) < 0)
		return -1;
	for (size_t i = 0; i < f->n; i++)
		memcpy(f->ids[i], f->v->obs[i].id, sizeof f->ids[i]);
	/* Slots go first: a master serving no slot counts itself in a minority,
	 * and holds cluster_state:ok back for a node timeout (at least 500 ms)
	 * after it gets slots; assigning them before meeting overlaps that wait
	 * with the meeting. */
	if (check_reality(f, owner, e) < 0 || set_config_epochs(f, e) < 0 ||
	    assign_slots(f, owner, e) < 0 || meet(f, e) < 0)
		return -1;
	if (wait_for(f, all_know_all, "nodes meeting each other", f->deadline, e) < 0)
		return -1;
	log_debug("all nodes know each other after %lld ms", (long long)(now_ms() - f->start));
	/* The nodes may have changed since the first look (another operator,
	 * a failover): check again before pointing replicas. */
	if (check_reality(f, owner, e) < 0 || fail_back(f, e) < 0 || replicate(f, e) < 0)
		return -1;
	log_debug("replicas pointed at their masters after %lld ms", (long long)(now_ms() - f->start));
	if (wait_for(f, formed, "cluster formation", f->deadline, e) < 0)
		return -1;
	log_debug("formed after %lld ms", (long long)(now_ms() - f->start));
	return 0;
}

int rc_form(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
	    char (*out_node_ids)[RC_ID_LEN + 1], struct err *e)
{
	struct former f = {.nodes = nodes, .n = n, .o = o, .tmo = rc_opt_timeout_ms(o)};
	int rc;

	if (rc_validate_plan(nodes, n, e) < 0)
		return -1;
	f.settle_ms = o && o->settle_ms > 0 ? o->settle_ms : DEFAULT_SETTLE_MS;
	f.start = now_ms();
	f.deadline = f.start + f.settle_ms;
	f.conns = xcalloc(n, sizeof *f.conns);
	f.labels = xcalloc(n, sizeof *f.labels);
	f.ids = xcalloc(n, sizeof *f.ids);
	rc = form(&f, e);
	if (rc == 0)
		memcpy(out_node_ids, f.ids, n * sizeof *f.ids);
	rc_view_free(f.v);
	rc_free_conns(f.conns, n);
	for (size_t i = 0; i < n; i++)
		free(f.labels[i]);
	free(f.labels);
	free(f.ids);
	return rc;
}
