/* converge_down.c - shoal down, exec and logs (converge.h). */
#include "converge_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* ---- down ------------------------------------------------------------------- */

struct down_arg {
	struct cluster *c;
	bool purge;
};

static int down_host(struct fleet *f, size_t i, void *p)
{
	struct down_arg *a = p;
	struct fleet_host *h = &f->hosts[i];
	json_t *nodes = a->c->listed[i] ? json_object_get(a->c->listed[i], "nodes") : NULL;
	json_t *rec;
	size_t k;

	json_array_foreach(nodes, k, rec) {
		const char *id = json_string_value(json_object_get(rec, "node"));

		if (!id)
			continue;
		log_info("%s on %s: stopping and removing%s", id, h->host->name,
			 a->purge ? " (with its data)" : "");
		if (cluster_remove_node(a->c, h->host->name, id, a->purge, &h->err) < 0)
			return -1;
	}
	/* And what earlier removals kept of nodes this cluster no longer has. */
	if (a->purge &&
	    fleet_call(h, json_pack("{s:s, s:s}", "op", "data.purge", "cluster",
				    a->c->spec->name), NULL, &h->err) < 0)
		return err_wrap(&h->err, "%s: purge the data of %s", h->host->name,
				a->c->spec->name);
	return 0;
}

int converge_down(const char *spec_path, const struct converge_opts *o,
		  struct err *e)
{
	struct cluster c = {0};
	struct down_arg a = {.c = &c, .purge = o->purge};
	int rc = -1;
	size_t removed = 0;

	if (cluster_load(spec_path, "down", &c, e) < 0)
		goto out;
	/* Every host of the spec: a node may be left from an interrupted run
	 * that recorded nothing. */
	if (fleet_connect(c.spec, NULL,
			  &(struct transport_opts){.accept_new_host_keys =
							   o->accept_new_host_keys},
			  &c.fleet, e) < 0)
		goto out;
	if (cluster_observe(&c, e) < 0)
		goto out;
	removed = c.nobs;
	if (fleet_each(c.fleet, down_host, &a) > 0) {
		for (size_t i = 0; i < c.fleet->n; i++)
			if (c.fleet->hosts[i].err.msg[0]) {
				*e = c.fleet->hosts[i].err;
				break;
			}
		goto out;
	}
	cluster_event(&c, "down", json_pack("{s:i, s:b}", "nodes", (int)removed, "purge", o->purge));
	if (o->purge) {
		if (state_remove(c.lock, e) < 0)
			goto out;
	} else {
		/* Keep the secrets (the kept data needs them), forget the nodes. */
		while (c.st->n)
			state_drop(c.st, c.st->nodes[0].id);
		if (state_save(c.lock, c.st, e) < 0)
			goto out;
	}
	if (o->json)
		printf("{\"cluster\":\"%s\",\"removed\":%zu,\"purged\":%s}\n", c.spec->name,
		       removed, o->purge ? "true" : "false");
	else
		printf("cluster %s is down: %zu nodes removed%s\n", c.spec->name, removed,
		       o->purge ? ", data and state purged" : ", data kept on the hosts");
	rc = 0;
out:
	cluster_free(&c);
	return rc;
}

/* ---- exec and logs ---------------------------------------------------------- */

/* Connect to the host that runs `node` (from the state). */
static int connect_node_host(struct cluster *c, const char *node,
			     const struct converge_opts *o, struct fleet_host **out,
			     struct err *e)
{
	const struct state_node *sn = state_find(c->st, node);
	bool *want;
	int rc;

	if (!sn)
		return err_usage(e, "no node '%s' in cluster %s (see 'shoal status')", node,
				 c->spec->name);
	want = xcalloc(c->spec->nhosts + 1, sizeof *want);
	for (size_t i = 0; i < c->spec->nhosts; i++)
		want[i] = !strcmp(c->spec->hosts[i].name, sn->host);
	rc = fleet_connect(c->spec, want,
			   &(struct transport_opts){.accept_new_host_keys =
							    o->accept_new_host_keys},
			   &c->fleet, e);
	free(want);
	if (rc < 0)
		return -1;
	*out = fleet_host(c->fleet, sn->host);
	return *out ? 0 : err_set(e, ENOENT, "%s: host %s is not in the spec", node, sn->host);
}

static void write_stream(void *arg, json_t *msg)
{
	const char *stream = json_string_value(json_object_get(msg, "stream"));
	const char *data = json_string_value(json_object_get(msg, "data"));
	FILE *f = stream && !strcmp(stream, "stderr") ? stderr : stdout;

	(void)arg;
	if (data) {
		fputs(data, f);
		fflush(f);
	}
}

int converge_exec(const char *spec_path, const char *node,
		  const char *const *argv, const struct converge_opts *o,
		  int *exit_code, struct err *e)
{
	struct cluster c = {0};
	struct fleet_host *h;
	json_t *req, *args = json_array(), *resp = NULL;
	int rc = -1;

	if (cluster_load(spec_path, NULL, &c, e) < 0 ||
	    connect_node_host(&c, node, o, &h, e) < 0) {
		json_decref(args);
		goto out;
	}
	for (size_t i = 0; argv[i]; i++)
		json_array_append_new(args, json_string(argv[i]));
	req = json_pack("{s:s, s:s, s:s, s:o}", "op", "exec", "cluster", c.spec->name,
			"node", node, "argv", args);
	if (agent_call_stream(h->agent, req, write_stream, NULL, &resp, -1, e) < 0) {
		err_wrap(e, "%s on %s", node, h->host->name);
		goto out;
	}
	if (json_object_get(resp, "signal"))
		*exit_code = 128 + (int)json_integer_value(json_object_get(resp, "signal"));
	else
		*exit_code = (int)json_integer_value(json_object_get(resp, "exit_code"));
	rc = 0;
out:
	json_decref(resp);
	cluster_free(&c);
	return rc;
}

int converge_logs(const char *spec_path, const char *node, int tail,
		  bool follow, const struct converge_opts *o, struct err *e)
{
	struct cluster c = {0};
	struct fleet_host *h;
	json_t *req, *resp = NULL;
	int rc = -1;

	if (cluster_load(spec_path, NULL, &c, e) < 0 ||
	    connect_node_host(&c, node, o, &h, e) < 0)
		goto out;
	req = json_pack("{s:s, s:s, s:s, s:i, s:b}", "op", "logs", "cluster",
			c.spec->name, "node", node, "tail", tail, "follow", follow);
	if (agent_call_stream(h->agent, req, write_stream, NULL, &resp, -1, e) < 0) {
		err_wrap(e, "logs of %s on %s", node, h->host->name);
		goto out;
	}
	if (json_string_value(json_object_get(resp, "data")))
		fputs(json_string_value(json_object_get(resp, "data")), stdout);
	rc = 0;
out:
	json_decref(resp);
	cluster_free(&c);
	return rc;
}
