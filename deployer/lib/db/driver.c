/* driver.c - the table of database kinds and the db_*() wrappers
 * (driver.h).  A new kind adds its driver to `drivers` and nothing else. */
#include "driver.h"

#include <errno.h>
#include <string.h>

#include "util.h"

extern const struct db_driver db_redis_driver;
extern const struct db_driver db_cassandra_driver;
extern const struct db_driver db_riak_driver;

static const struct db_driver *const drivers[] = {
	&db_redis_driver,
	&db_cassandra_driver,
	&db_riak_driver,
};

static struct tmpl_kind kinds[ARRAY_SIZE(drivers)];

const struct db_driver *db_driver_find(const char *kind)
{
	for (size_t i = 0; kind && i < ARRAY_SIZE(drivers); i++)
		if (!strcmp(drivers[i]->kind, kind))
			return drivers[i];
	return NULL;
}

static void known_kinds(struct buf *b)
{
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		buf_printf(b, "%s%s", i ? ", " : "", drivers[i]->kind);
}

int db_driver_for(const struct template *t, const struct db_driver **out, struct err *e)
{
	const struct db_driver *d = db_driver_find(t->kind);
	struct buf b = {0};
	int rc = 0;

	*out = NULL;
	if (!d) {
		known_kinds(&b);
		rc = err_usage(e, "%s: no driver for database kind '%s' (known: %s)", t->path,
			       t->kind, b.data);
		buf_free(&b);
		return rc;
	}
	for (int h = 0; h < HOOK_COUNT; h++) {
		const char *step = t->hooks[h].builtin;
		bool found = false;

		for (size_t i = 0; step && d->builtins[i]; i++)
			found |= !strcmp(d->builtins[i], step);
		if (step && !found)
			return err_usage(e, "%s:%d: hooks.%s: kind %s has no step 'builtin:%s'",
					 t->path, t->hooks[h].line,
					 hook_kind_name((enum hook_kind)h), t->kind, step);
	}
	*out = d;
	return 0;
}

void db_register_kinds(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++)
		kinds[i] = (struct tmpl_kind){.name = drivers[i]->kind,
					      .title = drivers[i]->title,
					      .sharded = drivers[i]->roles == DB_ROLES_SHARDED,
					      .min_masters = drivers[i]->min_masters,
					      .builtins = drivers[i]->builtins};
	template_kinds_set(kinds, ARRAY_SIZE(drivers));
}

void db_view_free(struct db_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		free(v->members[i].error);
		json_decref(v->members[i].owns);
	}
	free(v->members);
	json_decref(v->summary);
	if (v->priv_free)
		v->priv_free(v->priv);
	free(v);
}

/* ---- wrappers: the only place that touches the table ------------------------- */

static int cannot(const struct db_driver *d, const char *op, struct err *e)
{
	return err_set(e, ENOTSUP, "database kind %s cannot %s", d->kind, op);
}

bool db_can(const struct db_driver *d, const char *op)
{
	if (!strcmp(op, "form"))
		return d->form;
	if (!strcmp(op, "join"))
		return d->join;
	if (!strcmp(op, "leave"))
		return d->leave;
	if (!strcmp(op, "replace"))
		return d->replace;
	if (!strcmp(op, "hand_over"))
		return d->hand_over;
	if (!strcmp(op, "synced"))
		return d->synced;
	if (!strcmp(op, "observe"))
		return d->observe;
	if (!strcmp(op, "check"))
		return d->check;
	if (!strcmp(op, "rebalance"))
		return d->rebalance;
	if (!strcmp(op, "kv"))
		return d->kv_open && d->kv_write && d->kv_read && d->kv_close;
	return false;
}

int db_form(const struct db_driver *d, const struct db_node *nodes, size_t n,
	    const struct db_opts *o, char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	for (size_t i = 0; i < n; i++)
		ids[i][0] = '\0';
	return d->form ? d->form(nodes, n, o, ids, e) : cannot(d, "form a cluster", e);
}

int db_join(const struct db_driver *d, const struct db_node *nodes, size_t n,
	    const struct db_node *join, size_t nj, const struct db_opts *o, struct err *e)
{
	return d->join ? d->join(nodes, n, join, nj, o, e) : cannot(d, "join nodes", e);
}

int db_leave(const struct db_driver *d, const struct db_node *stay, size_t ns,
	     const struct db_node *leave, size_t nl, const struct db_opts *o, char ***left,
	     struct err *e)
{
	*left = NULL;
	return d->leave ? d->leave(stay, ns, leave, nl, o, left, e)
			: cannot(d, "take nodes out of its cluster", e);
}

int db_replace(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_node *old, const struct db_node *repl, const struct db_opts *o,
	       struct err *e)
{
	return d->replace ? d->replace(nodes, n, old, repl, o, e)
			  : cannot(d, "replace a dead node", e);
}

int db_hand_over(const struct db_driver *d, const struct db_node *nodes, size_t n, size_t m,
		 size_t r, const struct db_opts *o, int64_t *back_at, struct err *e)
{
	return d->hand_over ? d->hand_over(nodes, n, m, r, o, back_at, e)
			    : cannot(d, "hand a node's role over", e);
}

int db_synced(const struct db_driver *d, const struct db_node *node, const struct db_opts *o,
	      struct err *e)
{
	return d->synced ? d->synced(node, o, e) : cannot(d, "tell when a node is synced", e);
}

int db_observe(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_opts *o, struct db_view **out, struct err *e)
{
	*out = NULL;
	return d->observe ? d->observe(nodes, n, o, out, e) : cannot(d, "report its cluster", e);
}

json_t *db_check(const struct db_driver *d, const struct db_view *v)
{
	return d->check ? d->check(v) : NULL;
}

int db_rebalance(const struct db_driver *d, const struct db_node *nodes, size_t n,
		 const struct db_opts *o, struct err *e)
{
	return d->rebalance ? d->rebalance(nodes, n, o, e) : cannot(d, "rebalance", e);
}

int db_kv_open(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_opts *o, struct db_kv **out, struct err *e)
{
	return db_can(d, "kv") ? d->kv_open(nodes, n, o, out, e) : cannot(d, "kv", e);
}

int db_kv_write(const struct db_driver *d, struct db_kv *kv, const char *const *keys,
		const char *const *vals, size_t n, int wait, uint8_t *ok)
{
	return d->kv_write(kv, keys, vals, n, wait, ok);
}

int db_kv_read(const struct db_driver *d, struct db_kv *kv, const char *const *keys,
	       const char *const *vals, size_t n, uint8_t *got)
{
	return d->kv_read(kv, keys, vals, n, got);
}

void db_kv_close(const struct db_driver *d, struct db_kv *kv)
{
	if (kv)
		d->kv_close(kv);
}

int db_run_out(const struct db_opts *o, const struct db_node *n, char *const *argv,
	       struct buf *out, struct err *e)
{
	if (!o->exec)
		return err_set(e, ENOTSUP, "%s: cannot run %s: no way to run commands in nodes",
			       n->id, argv[0]);
	return o->exec(o->arg, n, argv, out, e);
}

int db_run(const struct db_opts *o, const struct db_node *n, char *const *argv,
	   struct err *e)
{
	return db_run_out(o, n, argv, NULL, e);
}

int db_run_hook(const struct db_opts *o, enum hook_kind k, const struct db_node *n,
		const struct db_node *old, struct err *e)
{
	char **argv = NULL;
	int rc;

	if (!o->hook)
		return err_set(e, ENOTSUP, "%s: cannot render the %s hook: no template given",
			       n->id, hook_kind_name(k));
	if (o->hook(o->arg, k, n, old, &argv, e) < 0)
		return err_wrap(e, "%s: %s hook", n->id, hook_kind_name(k));
	rc = db_run(o, n, argv, e);
	strv_free(argv);
	return rc < 0 ? err_wrap(e, "%s: %s", n->id, hook_kind_name(k)) : 0;
}
