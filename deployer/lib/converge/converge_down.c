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

/* Hosts that cannot be reached are left out: their nodes stay recorded (and
 * their data on them) for a later `down`, and the call fails naming them. */
int converge_down(const char *spec_path, const struct converge_opts *o,
		  struct err *e)
{
	struct cluster c = {0};
	struct down_arg a = {.c = &c, .purge = o->purge};
	struct err unreachable = {0};
	size_t removed = 0, left = 0;
	int rc = -1;

	if (cluster_load(spec_path, "down", &c, e) < 0)
		goto out;
	/* Every host of the spec: a node may be left from an interrupted run
	 * that recorded nothing. */
	if (fleet_connect(c.spec, NULL,
			  &(struct transport_opts){.accept_new_host_keys =
							   o->accept_new_host_keys},
			  &c.fleet, &unreachable) < 0) {
		if (!c.fleet)
			goto fail_unreachable;
		for (size_t i = 0; i < c.fleet->n; i++)
			if (c.fleet->hosts[i].rc < 0) {
				log_warn("%s", c.fleet->hosts[i].err.msg);
				c.fleet->hosts[i].wanted = false;
			}
	}
	if (cluster_observe(&c, e) < 0)
		goto out;
	removed = c.nobs;
	if (fleet_each(c.fleet, down_host, &a) > 0) {
		for (size_t i = 0; i < c.fleet->n; i++)
			if (c.fleet->hosts[i].wanted && c.fleet->hosts[i].err.msg[0]) {
				*e = c.fleet->hosts[i].err;
				break;
			}
		goto out;
	}
	/* Forget the nodes that are gone; those on unreachable hosts stay. */
	for (size_t i = 0; i < c.st->n;) {
		struct fleet_host *h = fleet_host(c.fleet, c.st->nodes[i].host);

		if (h && h->rc < 0)
			i++;
		else
			state_drop(c.st, c.st->nodes[i].id);
	}
	left = c.st->n;
	cluster_event(&c, "down", json_pack("{s:i, s:b, s:i}", "nodes", (int)removed, "purge",
					    o->purge, "left", (int)left));
	if (o->purge && !left) {
		if (state_remove(c.lock, e) < 0)
			goto out;
	} else if (state_save(c.lock, c.st, e) < 0) {
		/* the secrets stay while any data does */
		goto out;
	}
	if (o->json)
		printf("{\"cluster\":\"%s\",\"removed\":%zu,\"purged\":%s,\"left\":%zu}\n",
		       c.spec->name, removed, o->purge ? "true" : "false", left);
	else if (left)
		printf("cluster %s: %zu nodes removed%s; %zu left on hosts that could not be "
		       "reached\n", c.spec->name, removed, o->purge ? " with their data" : "", left);
	else
		printf("cluster %s is down: %zu nodes removed%s\n", c.spec->name, removed,
		       o->purge ? ", data and state purged" : ", data kept on the hosts");
	if (left) {
		struct buf b = {0};

		for (size_t i = 0; i < c.st->n; i++)
			buf_printf(&b, "%s%s on %s", i ? ", " : "", c.st->nodes[i].id,
				   c.st->nodes[i].host);
		err_set(e, EHOSTUNREACH, "%zu node%s not removed, on hosts that could not be "
					 "reached: %s; run `shoal down` again when they are back",
			left, left == 1 ? "" : "s", b.data);
		buf_free(&b);
		goto out;
	}
	rc = 0;
	goto out;
fail_unreachable:
	*e = unreachable;
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
		  const char *const *argv, const char *const *env,
		  const struct converge_opts *o, int *exit_code, struct err *e)
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
	if (env) {
		json_t *jenv = json_array();

		for (size_t i = 0; env[i]; i++)
			json_array_append_new(jenv, json_string(env[i]));
		json_object_set_new(req, "env", jenv);
	}
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
