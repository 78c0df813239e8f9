/* riak_driver.c - Riak KV as a database driver (driver.h): a ring of
 * equals whose changes are staged and then committed, with `riak admin
 * cluster` run inside the nodes through the agent's exec:
 *   form     every node but the first: cluster join riak@<first>; then on
 *            the first: cluster plan, cluster commit;
 *   join     each new node: cluster join riak@<first formed node>; plan,
 *            commit;
 *   leave    each leaving node: the template's leave hook (cluster leave)
 *            or the built-in one; then plan, commit on a remaining node;
 *   replace  the new node: cluster join; on a remaining node: cluster
 *            force-replace riak@<old> riak@<new>, plan, commit.
 * Node names are riak@<address>, as templates/riak/riak.conf.tmpl sets. */
#include "driver.h"

#include <errno.h>
#include <stdio.h>

#include "util.h"

#define RIAK_BIN "/usr/sbin/riak"

static void node_name(const struct db_node *n, char *buf, size_t len)
{
	snprintf(buf, len, "riak@%s", n->address);
}

/* riak admin cluster <w1> [w2 [w3]] on n. */
static int cluster_cmd(const struct db_opts *o, const struct db_node *n, const char *w1,
		       const char *w2, const char *w3, struct err *e)
{
	char *argv[] = {RIAK_BIN, "admin", "cluster", (char *)w1, (char *)w2, (char *)w3, NULL};

	if (db_run(o, n, argv, e) < 0)
		return err_wrap(e, "%s: riak admin cluster %s", n->id, w1);
	return 0;
}

static int plan_commit(const struct db_opts *o, const struct db_node *n, struct err *e)
{
	if (cluster_cmd(o, n, "plan", NULL, NULL, e) < 0)
		return -1;
	return cluster_cmd(o, n, "commit", NULL, NULL, e);
}

static int join_to(const struct db_opts *o, const struct db_node *n, const struct db_node *to,
		   struct err *e)
{
	char name[96];

	node_name(to, name, sizeof name);
	return cluster_cmd(o, n, "join", name, NULL, e);
}

static int riak_form(const struct db_node *nodes, size_t n, const struct db_opts *o,
		     char (*ids)[DB_ID_MAX + 1], struct err *e)
{
	for (size_t i = 1; i < n; i++)
		if (join_to(o, &nodes[i], &nodes[0], e) < 0)
			return -1;
	for (size_t i = 0; i < n; i++)
		node_name(&nodes[i], ids[i], DB_ID_MAX + 1);
	return n > 1 ? plan_commit(o, &nodes[0], e) : 0;
}

static int riak_join(const struct db_node *nodes, size_t n, const struct db_node *join,
		     size_t nj, const struct db_opts *o, struct err *e)
{
	if (!n)
		return err_set(e, EINVAL, "%s: no formed node to join", nj ? join[0].id : "?");
	for (size_t i = 0; i < nj; i++)
		if (join_to(o, &join[i], &nodes[0], e) < 0)
			return -1;
	return nj ? plan_commit(o, &nodes[0], e) : 0;
}

/* The template's leave hook when it is an argv, else cluster leave. */
static int leave_one(const struct db_opts *o, const struct db_node *n, struct err *e)
{
	if (!o->tmpl || !o->tmpl->hooks[HOOK_LEAVE].argv)
		return cluster_cmd(o, n, "leave", NULL, NULL, e);
	return db_run_hook(o, HOOK_LEAVE, n, NULL, e);
}

static int riak_leave(const struct db_node *stay, size_t ns, const struct db_node *leave,
		      size_t nl, const struct db_opts *o, char ***left, struct err *e)
{
	if (nl && !ns)
		return err_set(e, EBUSY, "%s: every node would leave: its data has nowhere to go",
			       leave[0].id);
	for (size_t i = 0; i < nl; i++)
		if (leave_one(o, &leave[i], e) < 0)
			return -1;
	return nl ? plan_commit(o, &stay[0], e) : 0;
}

static int riak_replace(const struct db_node *nodes, size_t n, const struct db_node *old,
			const struct db_node *repl, const struct db_opts *o, struct err *e)
{
	char oldname[96], newname[96];

	if (!n)
		return err_set(e, EINVAL, "%s: no remaining node to replace %s from", repl->id,
			       old->id);
	node_name(old, oldname, sizeof oldname);
	node_name(repl, newname, sizeof newname);
	if (join_to(o, repl, &nodes[0], e) < 0 ||
	    cluster_cmd(o, &nodes[0], "force-replace", oldname, newname, e) < 0)
		return -1;
	return plan_commit(o, &nodes[0], e);
}

static const char *const riak_builtins[] = {"riak-form", "riak-join", "riak-leave",
					    "riak-replace", NULL};

const struct db_driver db_riak_driver = {
	.kind = "riak",
	.title = "Riak",
	.roles = DB_ROLES_RING,
	.builtins = riak_builtins,
	.form = riak_form,
	.join = riak_join,
	.leave = riak_leave,
	.replace = riak_replace,
};
