/* converge_db.c - what converge hands the database drivers (driver.h): the
 * nodes of a service as db_node arrays, and the options with the callbacks a
 * command-lifecycle kind uses to run its template's hooks inside nodes
 * through the agent's exec (argv as rendered, no shell). */
#include "converge_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct db_node *cluster_db_nodes(const struct cluster *c, size_t svc, size_t *n)
{
	size_t first = c->plan->svc_first[svc], last = c->plan->svc_first[svc + 1];
	struct db_node *v = xcalloc(last - first + 1, sizeof *v);

	for (size_t i = first; i < last; i++) {
		const struct plan_node *pn = &c->plan->nodes[i];
		const struct state_node *sn = state_find(c->st, pn->id);

		v[i - first] = (struct db_node){
			.id = pn->id, .address = pn->host->address, .port = pn->port,
			.bus_port = pn->bus_port, .master = pn->role == ROLE_MASTER,
			.master_index = pn->master >= 0 ? pn->master - (int)first : -1,
			.seed = pn->role == ROLE_SEED || pn->role == ROLE_MASTER,
			.cluster_id = sn ? sn->cluster_id : NULL};
	}
	*n = last - first;
	return v;
}

struct db_node *cluster_db_recorded(const struct cluster *c, const char *svc, size_t **idx,
				    size_t *n)
{
	struct db_node *v = xcalloc(c->st->n + 1, sizeof *v);
	size_t *map = xcalloc(c->st->n + 1, sizeof *map), k = 0;

	for (size_t i = 0; i < c->st->n; i++) {
		const struct state_node *sn = &c->st->nodes[i];

		if (strcmp(sn->service, svc))
			continue;
		map[k] = i;
		v[k++] = db_node_of_state(sn);
	}
	for (size_t i = 0; i < k; i++) {
		const char *m = c->st->nodes[map[i]].master;

		for (size_t j = 0; m && j < k; j++)
			if (!strcmp(v[j].id, m))
				v[i].master_index = (int)j;
	}
	*idx = map;
	*n = k;
	return v;
}

struct db_node db_node_of_state(const struct state_node *sn)
{
	return (struct db_node){.id = sn->id, .address = sn->address, .port = sn->port,
				.bus_port = sn->bus_port, .master = !sn->master,
				.master_index = -1, .cluster_id = sn->cluster_id};
}

/* ---- exec in a node ------------------------------------------------------------ */

/* An exec's output: into the caller's buffer (arg), else to the debug log. */
static void exec_stream(void *arg, json_t *msg)
{
	const char *data = json_string_value(json_object_get(msg, "data"));
	struct buf *out = arg;

	if (out && data)
		buf_puts(out, data);
	else if (data && *data)
		log_debug("%s", data);
}

/* db_exec_fn: argv in node n's container on the host the state records.
 * Safe to call from several threads at once (a driver's per-node steps):
 * it only reads the state, and calls on the same host take turns on its
 * agent (fleet_call_stream); calls on different hosts run at once. */
static int exec_in_node(void *arg, const struct db_node *n, char *const *argv,
			struct buf *out, struct err *e)
{
	struct cluster *c = arg;
	const struct state_node *sn = state_find(c->st, n->id);
	struct fleet_host *h = sn && c->fleet ? fleet_host(c->fleet, sn->host) : NULL;
	json_t *args = json_array(), *req, *resp = NULL;
	int code;

	if (!h || !h->agent) {
		json_decref(args);
		return err_set(e, EHOSTUNREACH, "%s: cannot run %s: its host %s is not connected",
			       n->id, argv[0], sn ? sn->host : "(not recorded)");
	}
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	req = json_pack("{s:s, s:s, s:s, s:o}", "op", "exec", "cluster", c->spec->name, "node",
			n->id, "argv", args);
	log_debug("%s on %s: %s", n->id, sn->host, argv[0]);
	if (fleet_call_stream(h, req, exec_stream, out, &resp, -1, e) < 0)
		return err_wrap(e, "%s: %s", n->id, argv[0]);
	code = json_object_get(resp, "signal")
		       ? 128 + (int)json_integer_value(json_object_get(resp, "signal"))
		       : (int)json_integer_value(json_object_get(resp, "exit_code"));
	json_decref(resp);
	if (code)
		return err_set(e, EIO, "%s on %s: %s exited with %d", n->id, sn->host, argv[0],
			       code);
	return 0;
}

/* ---- hooks rendered for a node --------------------------------------------------- */

/* The plan node of id, or one made from its state record (a node leaving
 * the plan) in *tmp.  NULL when neither knows it or its host is gone. */
static const struct plan_node *node_for_hook(const struct cluster *c, size_t svc,
					     const char *id, struct plan_node *tmp)
{
	const struct plan_node *pn = plan_find(c->plan, id);
	const struct state_node *sn = state_find(c->st, id);
	const char *dash;

	if (pn)
		return pn;
	if (!sn || !spec_find_host(c->spec, sn->host))
		return NULL;
	dash = strrchr(sn->id, '-');
	*tmp = (struct plan_node){.id = sn->id, .svc = &c->spec->services[svc],
				  .host = spec_find_host(c->spec, sn->host), .svc_index = svc,
				  .index = dash ? atoi(dash + 1) : 0, .port = sn->port,
				  .bus_port = sn->bus_port, .shard = sn->shard, .master = -1,
				  .role = sn->role && node_role_parse(sn->role) >= 0
						  ? (enum node_role)node_role_parse(sn->role)
						  : ROLE_MEMBER};
	return tmp;
}

/* db_hook_fn: the template's argv hook k rendered with n's variables, and
 * hook.old_address for the node it replaces. */
static int render_hook(void *arg, enum hook_kind k, const struct db_node *n,
		       const struct db_node *old, char ***out, struct err *e)
{
	struct cluster *c = arg;
	const struct state_node *sn = state_find(c->st, n->id);
	size_t svc = c->spec->nservices;
	const struct template *t;
	const struct plan_node *pn;
	struct plan_node tmp;
	struct tmpl_vars vars = {0};
	struct kvlist secrets = state_secrets(c->st);
	int rc;

	for (size_t s = 0; sn && s < c->spec->nservices; s++)
		if (!strcmp(sn->service, c->spec->services[s].name))
			svc = s;
	if (svc == c->spec->nservices)
		return err_set(e, ENOENT, "%s: not recorded in the state", n->id);
	t = c->tmpl[svc];
	if (!t->hooks[k].argv)
		return err_set(e, EINVAL, "%s: template %s has no argv for hook %s", n->id,
			       t->name, hook_kind_name(k));
	pn = node_for_hook(c, svc, n->id, &tmp);
	if (!pn)
		return err_set(e, ENOENT, "%s: neither planned nor on a host of the spec", n->id);
	rc = template_node_vars(t, c->spec, c->plan, pn, &secrets, &vars, e);
	if (rc == 0 && old)
		tmpl_vars_set(&vars, "hook.old_address", old->address);
	if (rc == 0)
		rc = template_render_argv(t, t->hooks[k].argv, t->hooks[k].line, &vars, out, e);
	tmpl_vars_free(&vars);
	return rc;
}

struct db_opts cluster_db_opts(struct cluster *c, size_t svc, int timeout_ms, int settle_ms)
{
	return (struct db_opts){.password = cluster_password(c, svc), .timeout_ms = timeout_ms,
				.settle_ms = settle_ms, .exec = exec_in_node,
				.hook = render_hook, .arg = c, .tmpl = c->tmpl[svc]};
}
