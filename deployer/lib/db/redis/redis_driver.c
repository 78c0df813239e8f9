/* redis_driver.c - Redis Cluster as a database driver (driver.h): masters
 * own hash slots, replicas follow one master; every step is the built-in
 * code of redis_cluster.h speaking the cluster's own commands over the
 * client port (never a password on a command line). */
#include "driver.h"

#include <string.h>

#include "log.h"
#include "redis_cluster.h"
#include "redis_migrate.h"
#include "util.h"

#define REDIS_MIN_MASTERS 3 /* Redis Cluster needs a majority of 3 masters */

static struct rc_node *to_rc(const struct db_node *v, size_t n)
{
	struct rc_node *r = xcalloc(n + 1, sizeof *r);

	for (size_t i = 0; i < n; i++)
		r[i] = (struct rc_node){.id = v[i].id, .address = v[i].address,
					.port = v[i].port, .bus_port = v[i].bus_port,
					.master = v[i].master, .master_index = v[i].master_index};
	return r;
}

/* nodes[0..n) followed by more[0..nm), as one rc_node array. */
static struct rc_node *to_rc2(const struct db_node *nodes, size_t n, const struct db_node *more,
			      size_t nm)
{
	struct rc_node *r = xcalloc(n + nm + 1, sizeof *r), *a = to_rc(nodes, n), *b = to_rc(more, nm);

	memcpy(r, a, n * sizeof *r);
	memcpy(r + n, b, nm * sizeof *r);
	free(a);
	free(b);
	return r;
}

static struct rc_opts rc_opts_of(const struct db_opts *o)
{
	return (struct rc_opts){.password = o->password, .timeout_ms = o->timeout_ms,
				.settle_ms = o->settle_ms, .fail_back = o->fail_back,
				.failed_back = o->failed_back};
}

/* Form with the ids of o->forget, filling ids (may be NULL). */
static int form_rc(const struct rc_node *nodes, size_t n, const struct db_opts *o,
		   char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	size_t nf = 0;
	char (*forget)[RC_ID_LEN + 1], (*got)[RC_ID_LEN + 1] = xcalloc(n + 1, sizeof *got);
	int rc;

	while (o->forget && o->forget[nf])
		nf++;
	forget = xcalloc(nf + 1, sizeof *forget);
	for (size_t i = 0; i < nf; i++)
		snprintf(forget[i], sizeof forget[i], "%s", o->forget[i]);
	ro.forget = (const char(*)[RC_ID_LEN + 1])forget;
	ro.nforget = nf;
	rc = rc_form(nodes, n, &ro, got, e);
	for (size_t i = 0; rc == 0 && ids && i < n; i++)
		snprintf(ids[i], DB_ID_MAX + 1, "%s", got[i]);
	free(forget);
	free(got);
	return rc;
}

static int redis_form(const struct db_node *nodes, size_t n, const struct db_opts *o,
		      char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	struct rc_node *r = to_rc(nodes, n);
	int rc = form_rc(r, n, o, ids, e);

	free(r);
	return rc;
}

/* A joining node's master_index counts in nodes[] followed by join[]; the
 * cluster is formed again over all of them (slots stay where they are). */
static int redis_join(const struct db_node *nodes, size_t n, const struct db_node *join,
		      size_t nj, const struct db_opts *o, struct err *e)
{
	struct rc_node *r = to_rc2(nodes, n, join, nj);
	int rc = form_rc(r, n + nj, o, NULL, e);

	free(r);
	return rc;
}

static int redis_leave(const struct db_node *stay, size_t ns, const struct db_node *leave,
		       size_t nl, const struct db_opts *o, char ***left, struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *s = to_rc(stay, ns), *l = to_rc(leave, nl);
	const char **rec = xcalloc(nl + 1, sizeof *rec);
	char (*ids)[RC_ID_LEN + 1] = NULL;
	size_t nids = 0;
	int rc;

	for (size_t i = 0; i < nl; i++)
		rec[i] = leave[i].cluster_id;
	rc = rc_leave(s, ns, l, rec, nl, &ro, &ids, &nids, e);
	if (rc == 0) {
		*left = xcalloc(nids + 1, sizeof **left);
		for (size_t i = 0; i < nids; i++)
			(*left)[i] = xstrdup(ids[i]);
	}
	free(ids);
	free(rec);
	free(s);
	free(l);
	return rc;
}

/* The dead node is forgotten (refused while it still serves slots: its
 * replica has not taken them over yet), then the cluster is formed again
 * with repl in its place; repl's master_index counts in nodes[] + repl. */
static int redis_replace(const struct db_node *nodes, size_t n, const struct db_node *old,
			 const struct db_node *repl, const struct db_opts *o, struct err *e)
{
	char **left = NULL, **forget;
	struct db_opts fo = *o;
	size_t nf = 0, nl = 0, k = 0;
	int rc;

	if (redis_leave(nodes, n, old, 1, o, &left, e) < 0)
		return err_wrap(e, "replace %s", old->id);
	while (o->forget && o->forget[nf])
		nf++;
	while (left[nl])
		nl++;
	forget = xcalloc(nf + nl + 1, sizeof *forget);
	for (size_t i = 0; i < nf; i++)
		forget[k++] = o->forget[i];
	for (size_t i = 0; left[i]; i++)
		forget[k++] = left[i];
	fo.forget = forget;
	rc = redis_join(nodes, n, repl, 1, &fo, e);
	free(forget);
	strv_free(left);
	return rc < 0 ? err_wrap(e, "replace %s by %s", old->id, repl->id) : 0;
}

static int redis_hand_over(const struct db_node *nodes, size_t n, size_t m, size_t r,
			   const struct db_opts *o, int64_t *back_at, struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *v = to_rc(nodes, n);
	int rc = rc_hand_over(v, n, m, r, &ro, back_at, e);

	free(v);
	return rc;
}

static int redis_synced(const struct db_node *node, const struct db_opts *o, struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *v = to_rc(node, 1);
	int rc = rc_wait_linked(v, &ro, e);

	free(v);
	return rc;
}

/* Every planned master gets an even share of the slots, a master outside
 * the plan none, moved online (redis_migrate.h). */
static int redis_rebalance(const struct db_node *nodes, size_t n, const struct db_opts *o,
			   struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *v = to_rc(nodes, n);
	struct rc_rebalance_result res = {0};
	int rc = rc_rebalance(v, n, &ro, NULL, &res, e);

	free(v);
	if (rc == 0 && res.slots_moved)
		log_info("%d slots moved (%lld keys) in %lld ms", res.slots_moved, res.keys_moved,
			 (long long)res.ms);
	return rc;
}

/* ---- observe and check ---------------------------------------------------------- */

static void view_priv_free(void *p)
{
	rc_view_free(p);
}

static void member_of(const struct rc_observer *ob, struct db_member *m)
{
	const struct rc_entry *me = rc_self(ob);

	m->reachable = ob->reachable;
	m->error = ob->error ? xstrdup(ob->error) : NULL;
	m->state_ok = ob->state_ok;
	if (!ob->reachable || !me)
		return;
	m->role = me->flags & RC_F_MASTER ? "master" : me->flags & RC_F_REPLICA ? "replica"
										  : "unknown";
	snprintf(m->master_id, sizeof m->master_id, "%s", me->master_id);
	m->owns = json_array();
	for (size_t k = 0; k < me->nranges; k++)
		json_array_append_new(m->owns, json_pack("[i,i]", me->ranges[k].first,
							 me->ranges[k].last));
}

static int redis_observe(const struct db_node *nodes, size_t n, const struct db_opts *o,
			 struct db_view **out, struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *v = to_rc(nodes, n);
	struct rc_view *rv = NULL;
	struct db_view *dv;
	int rc = rc_inspect(v, n, &ro, &rv, e);

	free(v);
	if (rc < 0)
		return -1;
	dv = xcalloc(1, sizeof *dv);
	dv->members = xcalloc(n + 1, sizeof *dv->members);
	dv->n = n;
	for (size_t i = 0; i < n; i++)
		member_of(&rv->obs[i], &dv->members[i]);
	dv->reachable = rv->reachable;
	dv->health = rc_health_name(rc_health(rv));
	dv->summary = json_pack("{s:i, s:i}", "slots_covered", rv->slots_covered,
				"slots_served", rc_slots_served(rv));
	dv->priv = rv;
	dv->priv_free = view_priv_free;
	*out = dv;
	return 0;
}

static json_t *redis_check(const struct db_view *v)
{
	const struct rc_view *rv = v->priv;

	return json_pack("{s:b, s:b}", "roles_as_planned", rc_check_roles(rv, NULL) == 0,
			 "anti_affinity", rc_check_anti_affinity(rv, NULL) == 0);
}

/* ---- key/value client (drills) ------------------------------------------------- */

/* The driver's db_kv is the Redis module's rc_kv. */
static int redis_kv_open(const struct db_node *nodes, size_t n, const struct db_opts *o,
			 struct db_kv **out, struct err *e)
{
	struct rc_opts ro = rc_opts_of(o);
	struct rc_node *v = to_rc(nodes, n);
	struct rc_kv *kv = NULL;
	int rc = rc_kv_open(v, n, &ro, &kv, e);

	free(v);
	*out = (struct db_kv *)kv;
	return rc;
}

static int redis_kv_write(struct db_kv *kv, const char *const *keys, const char *const *vals,
			  size_t n, int wait, uint8_t *ok)
{
	return rc_kv_set((struct rc_kv *)kv, keys, vals, n, wait, ok);
}

static int redis_kv_read(struct db_kv *kv, const char *const *keys, const char *const *vals,
			 size_t n, uint8_t *got)
{
	_Static_assert((int)RC_KV_ABSENT == (int)DB_KV_ABSENT &&
			       (int)RC_KV_PRESENT == (int)DB_KV_PRESENT &&
			       (int)RC_KV_OTHER == (int)DB_KV_OTHER && (int)RC_KV_ERROR == (int)DB_KV_ERROR,
		       "rc_kv_get codes are db_kv codes");
	return rc_kv_get((struct rc_kv *)kv, keys, vals, n, got);
}

static void redis_kv_close(struct db_kv *kv)
{
	rc_kv_close((struct rc_kv *)kv);
}

static const char *const redis_builtins[] = {"redis-form", "redis-join", "redis-leave",
					     "redis-replace", NULL};

const struct db_driver db_redis_driver = {
	.kind = "redis",
	.title = "Redis",
	.roles = DB_ROLES_SHARDED,
	.min_masters = REDIS_MIN_MASTERS,
	.builtins = redis_builtins,
	.form = redis_form,
	.join = redis_join,
	.leave = redis_leave,
	.replace = redis_replace,
	.hand_over = redis_hand_over,
	.synced = redis_synced,
	.observe = redis_observe,
	.check = redis_check,
	.rebalance = redis_rebalance,
	.kv_open = redis_kv_open,
	.kv_write = redis_kv_write,
	.kv_read = redis_kv_read,
	.kv_close = redis_kv_close,
};
