/* cassandra_driver.c - Apache Cassandra as a database driver (driver.h): a
 * ring of equals that seeds bootstrap.  A node joins the ring by starting
 * (its seed_provider names the seeds), so the steps are the template's
 * nodetool hooks, run inside the nodes through the agent's exec:
 *   form     the form hook on the seeds first, then on every other node,
 *            one at a time (each sees the ring before the next);
 *   join     the join hook on each new node, one at a time;
 *   leave    the leave hook (nodetool decommission: the node streams its
 *            ranges away) on each leaving node, one at a time;
 *   replace  the replace hook (nodetool assassinate <old address>) on the
 *            new node.
 * Cassandra's own wire formats (nodetool output) are not read here yet. */
#include "driver.h"

#include <errno.h>

#include "util.h"

static int cassandra_form(const struct db_node *nodes, size_t n, const struct db_opts *o,
			  char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	for (int seeds = 1; seeds >= 0; seeds--)
		for (size_t i = 0; i < n; i++)
			if (nodes[i].seed == (seeds == 1) &&
			    db_run_hook(o, HOOK_FORM, &nodes[i], NULL, e) < 0)
				return -1;
	return 0;
}

static int cassandra_join(const struct db_node *nodes, size_t n, const struct db_node *join,
			  size_t nj, const struct db_opts *o, struct err *e)
{
	for (size_t i = 0; i < nj; i++)
		if (db_run_hook(o, HOOK_JOIN, &join[i], NULL, e) < 0)
			return -1;
	return 0;
}

static int cassandra_leave(const struct db_node *stay, size_t ns, const struct db_node *leave,
			   size_t nl, const struct db_opts *o, char ***left, struct err *e)
{
	if (nl && !ns)
		return err_set(e, EBUSY, "%s: every node would leave: its data has nowhere to go",
			       leave[0].id);
	for (size_t i = 0; i < nl; i++)
		if (db_run_hook(o, HOOK_LEAVE, &leave[i], NULL, e) < 0)
			return -1;
	return 0;
}

static int cassandra_replace(const struct db_node *nodes, size_t n, const struct db_node *old,
			     const struct db_node *repl, const struct db_opts *o, struct err *e)
{
	return db_run_hook(o, HOOK_REPLACE, repl, old, e);
}

static const char *const cassandra_builtins[] = {NULL};

const struct db_driver db_cassandra_driver = {
	.kind = "cassandra",
	.title = "Cassandra",
	.roles = DB_ROLES_RING,
	.builtins = cassandra_builtins,
	.form = cassandra_form,
	.join = cassandra_join,
	.leave = cassandra_leave,
	.replace = cassandra_replace,
};
