/* converge_gone.c - `up` around hosts that are gone (converge_opts.without_hosts,
 * converge_int.h): what `shoal monitor` runs once a host has been
 * unreachable for monitor.reschedule_after_s.  The hosts leave this run's
 * spec, so the planner places their nodes on the others (capacity and
 * anti-affinity as always) and up moves them as it moves the nodes of a host
 * taken out of the spec: the old identities leave the database's cluster
 * (db_leave), the new nodes are created and join (db_form).  Nothing here
 * names a database. */
#include "converge_int.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "util.h"

static bool listed(const char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (!strcmp(v[i], s))
			return true;
	return false;
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

/* Sharded service svc: each recorded master on a gone host hands its
 * record to the replica its database now reports as master. */
static int adopt_roles(struct cluster *c, size_t svc, const char *const *gone, struct err *e)
{
	const char *name = c->spec->services[svc].name;
	size_t n, *idx;
	struct db_node *nodes;
	struct db_view *v = NULL;
	bool any = false;
	int rc = 0;

	if (c->drv[svc]->roles != DB_ROLES_SHARDED)
		return 0;
	nodes = cluster_db_recorded(c, name, &idx, &n);
	for (size_t i = 0; i < n; i++)
		any |= nodes[i].master && listed(gone, c->st->nodes[idx[i]].host);
	if (any) {
		/* the nodes on gone hosts do not answer: one short timeout */
		struct db_opts o = cluster_db_opts(c, svc, 1000, 0);

		if (db_observe(c->drv[svc], nodes, n, &o, &v, e) < 0) {
			rc = err_wrap(e, "service %s: read the cluster", name);
			goto out;
		}
	}
	for (size_t i = 0; any && i < n; i++) {
		struct state_node *old = &c->st->nodes[idx[i]], *now;
		int took = -1;

		if (!nodes[i].master || !listed(gone, old->host))
			continue;
		for (size_t j = 0; j < n && took < 0; j++)
			if (nodes[j].master_index == (int)i && v->members[j].reachable &&
			    v->members[j].role && !strcmp(v->members[j].role, "master"))
				took = (int)j;
		if (took < 0) {
			rc = err_set(e, EAGAIN, "%s on %s (gone): none of its replicas has taken "
				     "over as master yet (the %s failover is pending)", old->id,
				     old->host, c->drv[svc]->title);
			goto out;
		}
		now = &c->st->nodes[idx[took]];
		log_info("%s on %s took over as master from %s on %s (gone): recorded so; %s "
			 "comes back elsewhere as its replica", now->id, now->host, old->id,
			 old->host, old->id);
		for (size_t j = 0; j < n; j++)
			if (nodes[j].master_index == (int)i && (int)j != took)
				set_str(&c->st->nodes[idx[j]].master, now->id);
		set_str(&now->role, node_role_name(ROLE_MASTER));
		set_str(&now->master, NULL);
		set_str(&old->role, node_role_name(ROLE_REPLICA));
		set_str(&old->master, now->id);
	}
out:
	db_view_free(v);
	free(nodes);
	free(idx);
	return rc;
}

int cluster_without_hosts(struct cluster *c, const char *const *gone, struct err *e)
{
	for (size_t i = 0; gone && gone[i]; i++)
		if (!spec_find_host(c->spec, gone[i]))
			return err_usage(e, "host %s is not in %s", gone[i], c->spec->path);
	for (size_t s = 0; s < c->spec->nservices; s++)
		if (adopt_roles(c, s, gone, e) < 0)
			return -1;
	for (size_t i = 0; gone && gone[i]; i++)
		spec_drop_host(c->spec, gone[i]);
	if (!c->spec->nhosts)
		return err_usage(e, "no host is left to place the nodes on");
	return 0;
}
