/* converge.c - see converge.h */
#include "converge.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "fleet.h"
#include "image.h"
#include "log.h"
#include "plan.h"
#include "probe.h"
#include "push.h"
#include "redis_cluster.h"
#include "spec.h"
#include "state.h"
#include "tcplisten.h"
#include "template.h"
#include "util.h"

#define NODE_RESTART_POLICY "always"

/* Everything one command knows about a cluster. */
struct cluster {
	struct spec *spec;
	struct template **tmpl;      /* per service */
	struct plan_traits *traits;  /* per service */
	struct state *st;
	struct state_lock *lock;     /* NULL for read-only commands */
	struct plan *plan;
	struct image_info **images;  /* per service (up only) */
	const char **image_digests;  /* per service: manifest digest or NULL */
	struct fleet *fleet;
	json_t **listed;             /* per host: node.list answer, or NULL */
	json_t **ports;              /* per host: host.ports answer, or NULL */
	struct observed_node *obs;
	size_t nobs;
	struct taken_port *taken;    /* ports other programs hold (host.ports
					less this cluster's own nodes) */
	size_t ntaken;
	bool observed;               /* every host answered node.list */
	char (**left)[RC_ID_LEN + 1]; /* per service: Redis ids of the nodes that
					 left its cluster in this run (up only) */
	size_t *nleft;
	bool *leave_checked;          /* per service: rc_leave found that none of
					 its leaving nodes holds slots */
	char (*configs)[DIGEST_STR_LEN]; /* per plan node: converge_configs (up) */
};

/* What cluster_observe() gathered. */
static void observed_free(struct cluster *c)
{
	for (size_t i = 0; i < c->spec->nhosts; i++) {
		if (c->listed)
			json_decref(c->listed[i]);
		if (c->ports)
			json_decref(c->ports[i]);
	}
	free(c->listed);
	free(c->ports);
	free(c->taken);
	free(c->obs);
}

static void cluster_free(struct cluster *c)
{
	if (!c->spec)
		return;
	for (size_t i = 0; i < c->spec->nservices; i++) {
		if (c->tmpl)
			template_free(c->tmpl[i]);
		if (c->images)
			image_info_free(c->images[i]);
	}
	observed_free(c);
	for (size_t i = 0; c->left && i < c->spec->nservices; i++)
		free(c->left[i]);
	free(c->left);
	free(c->nleft);
	free(c->leave_checked);
	free(c->configs);
	free(c->tmpl);
	free(c->traits);
	free(c->images);
	free(c->image_digests);
	fleet_close(c->fleet);
	plan_free(c->plan);
	state_free(c->st);
	state_unlock(c->lock);
	spec_free(c->spec);
	memset(c, 0, sizeof *c);
}

/* ---- loading ---------------------------------------------------------------- */

/* Spec, templates and state; the lock too when `command` is given. */
static int cluster_load(const char *spec_path, const char *command,
			struct cluster *c, struct err *e)
{
	struct spec_problems probs = {0};
	struct lock_holder stale;
	bool was_stale = false;

	if (spec_load(spec_path, &c->spec, &probs, e) < 0) {
		spec_problems_print(&probs, stderr);
		spec_problems_free(&probs);
		return -1;
	}
	spec_problems_free(&probs);
	c->tmpl = xcalloc(c->spec->nservices + 1, sizeof *c->tmpl);
	c->traits = xcalloc(c->spec->nservices + 1, sizeof *c->traits);
	for (size_t i = 0; i < c->spec->nservices; i++) {
		const struct spec_service *svc = &c->spec->services[i];

		if (template_load(NULL, svc->template, &c->tmpl[i], e) < 0)
			return err_wrap(e, "service %s", svc->name);
		template_plan_traits(c->tmpl[i], &c->traits[i]);
	}
	if (command) {
		if (state_lock(c->spec->name, command, &c->lock, &stale, &was_stale, e) < 0)
			return -1;
		if (was_stale)
			log_warn("took over a stale lock of %s (pid %ld on %s, gone)",
				 stale.command, stale.pid, stale.host);
	}
	return state_load(c->spec->name, &c->st, e);
}

static int cluster_plan(struct cluster *c, struct err *e)
{
	struct plan_problems probs = {0};
	struct placement prev;
	int rc;

	state_placement(c->st, &prev);
	prev.taken = c->taken;
	prev.ntaken = c->ntaken;
	rc = plan_compute(c->spec, c->traits, &prev, &c->plan, &probs, e);
	state_placement_free(&prev);
	for (size_t i = 0; i < probs.n; i++)
		fprintf(stderr, "%s\n", probs.items[i].msg);
	plan_problems_free(&probs);
	return rc;
}

static bool is_recipe(const char *ref)
{
	size_t len = strlen(ref);

	return len > 4 && !strcmp(ref + len - 4, ".cfg");
}

/* The image service svc runs (its own, else its template's): a recipe
 * (".cfg") is built into the local store (reproducibly, so an unchanged
 * recipe gives the same digest; a layer cache makes that quick), anything
 * else is an image reference resolved in the store. */
static int service_image(const struct spec_service *svc, const struct template *t,
			 struct image_info **out, struct err *e)
{
	_cleanup_free_ char *store = image_store_dir();
	_cleanup_free_ char *data = shoal_data_dir();
	const char *ref = svc->image ? svc->image : t->image;
	int rc;

	if (!ref)
		return err_usage(e, "service %s: no image (set services.image)", svc->name);
	if (is_recipe(ref)) {
		_cleanup_free_ char *path = svc->image ? xstrdup(ref) : path_join(data, ref);

		log_info("image: building %s", path);
		rc = image_build(store, path, out, e);
	} else {
		rc = image_resolve(store, ref, out, e);
	}
	if (rc < 0)
		return err_wrap(e, "service %s: image", svc->name);
	log_debug("service %s: image %s", svc->name, (*out)->manifest_digest);
	return 0;
}

static int cluster_images(struct cluster *c, struct err *e)
{
	c->images = xcalloc(c->spec->nservices + 1, sizeof *c->images);
	c->image_digests = xcalloc(c->spec->nservices + 1, sizeof *c->image_digests);
	for (size_t i = 0; i < c->spec->nservices; i++) {
		if (service_image(&c->spec->services[i], c->tmpl[i], &c->images[i], e) < 0)
			return -1;
		c->image_digests[i] = c->images[i]->manifest_digest;
	}
	return 0;
}

int converge_resolve_images(const struct spec *s, char **images, struct err *e)
{
	int rc = 0;

	for (size_t i = 0; i < s->nservices && rc == 0; i++) {
		const struct spec_service *svc = &s->services[i];
		struct template *t = NULL;
		struct image_info *img = NULL;
		struct err why;

		if (template_load(NULL, svc->template, &t, e) < 0) {
			rc = err_wrap(e, "service %s", svc->name);
		} else if (service_image(svc, t, &img, &why) == 0) {
			free(images[i]);
			images[i] = xstrdup(img->manifest_digest);
		} else if (is_recipe(svc->image ? svc->image : t->image)) {
			*e = why;
			rc = -1;
		} else {
			log_warn("%s (planned by its name)", why.msg);
		}
		image_info_free(img);
		template_free(t);
	}
	return rc;
}

/* When the plan puts a node on a port another program holds on its host,
 * plan again with those ports taken: the node moves to the next free port
 * (recorded nodes keep theirs).  Only ports change, so the hosts are the
 * ones already connected; a plan that needed another host is an error. */
static int replan_around_taken(struct cluster *c, struct err *e)
{
	const struct plan_node *pn = plan_uses_taken(c->plan, c->taken, c->ntaken);
	struct plan *old = c->plan;
	int port = 0;

	if (!pn)
		return 0;
	for (size_t k = 0; k < c->ntaken && !port; k++)
		if (!strcmp(c->taken[k].host, pn->host->name) &&
		    (c->taken[k].port == pn->port || c->taken[k].port == pn->bus_port))
			port = c->taken[k].port;
	log_info("%s: port %d is in use on %s by another program (-v says which); "
		 "placing %s and its peers around the ports in use", pn->host->name, port,
		 pn->host->name, pn->id);
	c->plan = NULL;
	if (cluster_plan(c, e) < 0) {
		plan_free(old);
		return -1;
	}
	plan_free(old);
	for (size_t i = 0; i < c->plan->n; i++) {
		struct fleet_host *h = fleet_host(c->fleet, c->plan->nodes[i].host->name);

		if (!h || !h->agent)
			return err_set(e, EAGAIN, "%s: placing around ports in use moved it to "
				       "%s, which this run did not connect to; run again",
				       c->plan->nodes[i].id, c->plan->nodes[i].host->name);
	}
	return 0;
}

struct images_job {
	struct cluster *c;
	struct err e;
	int rc;
};

static void *images_thread(void *arg)
{
	struct images_job *j = arg;

	j->rc = cluster_images(j->c, &j->e);
	return NULL;
}

/* Hosts to reach: those the plan uses plus those the state records. */
static bool *hosts_in_use(const struct cluster *c)
{
	bool *want = xcalloc(c->spec->nhosts + 1, sizeof *want);

	for (size_t i = 0; i < c->spec->nhosts; i++) {
		const char *name = c->spec->hosts[i].name;

		for (size_t k = 0; c->plan && k < c->plan->n && !want[i]; k++)
			want[i] = c->plan->nodes[k].host_index == i;
		for (size_t k = 0; c->st && k < c->st->n && !want[i]; k++)
			want[i] = !strcmp(c->st->nodes[k].host, name);
	}
	return want;
}

static int cluster_connect(struct cluster *c, const struct converge_opts *o,
			   struct err *e)
{
	struct transport_opts to = {.accept_new_host_keys = o->accept_new_host_keys,
				    .look_only = o->look_only};
	_cleanup_free_ bool *want = hosts_in_use(c);

	return fleet_connect(c->spec, want, &to, &c->fleet, e);
}

struct list_arg {
	struct cluster *c;
};

static int list_one(struct fleet *f, size_t i, void *p)
{
	struct cluster *c = ((struct list_arg *)p)->c;
	struct fleet_host *h = &f->hosts[i];

	if (fleet_call(h, json_pack("{s:s, s:s}", "op", "node.list", "cluster",
				    c->spec->name),
		       &c->listed[i], &h->err) < 0)
		return -1;
	return fleet_call(h, json_pack("{s:s}", "op", "host.ports"), &c->ports[i],
			  &h->err);
}

/* host.ports as far as a host without a running agent tells: its listening
 * ports from /proc/net/tcp{,6} (read with `cat`, which changes nothing),
 * owners unknown.  An empty list when even that fails. */
static json_t *ports_without_agent(struct fleet_host *h)
{
	const char *argv[] = {"cat", "/proc/net/tcp", "/proc/net/tcp6", NULL};
	struct run_io io = {.out_max = 16u << 20};
	struct run_output out = {0};
	struct tcp_listener *l = NULL;
	size_t n = 0, cap = 0;
	json_t *ports = json_array();
	struct err e;

	/* cat fails when the host has no IPv6; what it printed still counts */
	if (transport_run(h->t, argv, &io, &out, &e) == 0 && out.out.data)
		tcp_listeners_parse(out.out.data, &l, &n, &cap);
	else
		log_debug("%s: listening ports unknown: %s", h->host->name, e.msg);
	for (size_t k = 0; k < n; k++)
		json_array_append_new(ports, json_pack("{s:i}", "port", l[k].port));
	free(l);
	run_output_free(&out);
	return json_pack("{s:o}", "ports", ports);
}

/* Is port one of those the state records for this cluster on host? */
static bool recorded_port(const struct cluster *c, const char *host, int port)
{
	for (size_t i = 0; c->st && i < c->st->n; i++)
		if (!strcmp(c->st->nodes[i].host, host) &&
		    (c->st->nodes[i].port == port || c->st->nodes[i].bus_port == port))
			return true;
	return false;
}

/* The ports something other than this cluster's nodes listens on, per host
 * (from host.ports), into c->taken; each is logged once with its owner. */
static void cluster_taken(struct cluster *c)
{
	for (size_t i = 0; i < c->spec->nhosts; i++) {
		json_t *ports = c->ports[i] ? json_object_get(c->ports[i], "ports") : NULL;
		size_t k;
		json_t *p;

		json_array_foreach(ports, k, p) {
			const char *cl = json_string_value(json_object_get(p, "cluster"));
			const char *node = json_string_value(json_object_get(p, "node"));
			const char *comm = json_string_value(json_object_get(p, "comm"));
			int port = (int)json_integer_value(json_object_get(p, "port"));

			if (port <= 0 || (cl && !strcmp(cl, c->spec->name)))
				continue;
			/* owner unknown on a port this cluster's record gives a node
			 * there: most likely that node (its agent may be gone) */
			if (!cl && !comm && recorded_port(c, c->spec->hosts[i].name, port))
				continue;
			c->taken = xrealloc(c->taken, (c->ntaken + 1) * sizeof *c->taken);
			c->taken[c->ntaken++] = (struct taken_port){c->spec->hosts[i].name, port};
			if (cl)
				log_debug("%s: port %d is taken by node %s of cluster %s",
					  c->spec->hosts[i].name, port, node ? node : "?", cl);
			else if (comm)
				log_debug("%s: port %d is taken by %s (pid %lld)",
					  c->spec->hosts[i].name, port, comm,
					  (long long)json_integer_value(json_object_get(p, "pid")));
			else
				log_debug("%s: port %d is taken", c->spec->hosts[i].name, port);
		}
	}
}

/* Ask every connected host what it runs for this cluster. */
static int cluster_observe(struct cluster *c, struct err *e)
{
	struct list_arg a = {c};
	size_t total = 0;

	c->listed = xcalloc(c->spec->nhosts + 1, sizeof *c->listed);
	c->ports = xcalloc(c->spec->nhosts + 1, sizeof *c->ports);
	for (size_t i = 0; i < c->fleet->n; i++)
		if (c->fleet->hosts[i].no_agent) { /* look_only: nothing runs there */
			c->listed[i] = json_pack("{s:[]}", "nodes");
			c->ports[i] = ports_without_agent(&c->fleet->hosts[i]);
		}
	if (fleet_each(c->fleet, list_one, &a) > 0) {
		for (size_t i = 0; i < c->fleet->n; i++)
			if (c->fleet->hosts[i].wanted && (!c->listed[i] || !c->ports[i])) {
				*e = c->fleet->hosts[i].err;
				return err_wrap(e, "list nodes and ports");
			}
	}
	cluster_taken(c);
	for (size_t i = 0; i < c->spec->nhosts; i++)
		if (c->listed[i])
			total += json_array_size(json_object_get(c->listed[i], "nodes"));
	c->obs = xcalloc(total + 1, sizeof *c->obs);
	for (size_t i = 0; i < c->spec->nhosts; i++) {
		json_t *nodes = c->listed[i] ? json_object_get(c->listed[i], "nodes") : NULL;
		size_t k;
		json_t *rec;

		json_array_foreach(nodes, k, rec) {
			const char *state = json_string_value(json_object_get(rec, "state"));
			struct observed_node *ob = &c->obs[c->nobs];

			ob->id = json_string_value(json_object_get(rec, "node"));
			if (!ob->id)
				continue;
			ob->host = c->spec->hosts[i].name;
			ob->image = json_string_value(json_object_get(rec, "image"));
			ob->running = state && (!strcmp(state, "running") ||
						!strcmp(state, "backoff"));
			c->nobs++;
		}
	}
	c->observed = true;
	return 0;
}

int converge_observe(const struct spec *s, const struct plan *p,
		     const struct state *st, bool accept_new_host_keys,
		     struct observation *out, struct err *e)
{
	struct cluster *c = xcalloc(1, sizeof *c);
	struct converge_opts o = {.accept_new_host_keys = accept_new_host_keys,
				  .look_only = true};

	/* Borrowed: cluster_free() of this one frees only what it made. */
	c->spec = (struct spec *)s;
	c->plan = (struct plan *)p;
	c->st = (struct state *)st;
	memset(out, 0, sizeof *out);
	out->priv = c;
	if (cluster_connect(c, &o, e) < 0 || cluster_observe(c, e) < 0)
		return -1;
	out->list.nodes = c->obs;
	out->list.n = c->nobs;
	out->taken = c->taken;
	out->ntaken = c->ntaken;
	return 0;
}

void converge_observation_free(struct observation *o)
{
	struct cluster *c = o ? o->priv : NULL;

	if (!c)
		return;
	c->plan = NULL;
	c->st = NULL;
	observed_free(c);
	fleet_close(c->fleet);
	free(c);
	o->priv = NULL;
}

/* The node.list record of a node on a host, or NULL. */
static json_t *listed_record(const struct cluster *c, const char *host,
			     const char *node)
{
	for (size_t i = 0; i < c->spec->nhosts; i++) {
		json_t *nodes, *rec;
		size_t k;

		if (!c->listed || !c->listed[i] || strcmp(c->spec->hosts[i].name, host))
			continue;
		nodes = json_object_get(c->listed[i], "nodes");
		json_array_foreach(nodes, k, rec) {
			const char *id = json_string_value(json_object_get(rec, "node"));

			if (id && !strcmp(id, node))
				return rec;
		}
	}
	return NULL;
}

/* ---- node requests ---------------------------------------------------------- */

static const char *runtime_for(const struct plan_node *n)
{
	if (n->svc->runtime != RUNTIME_AUTO)
		return runtime_kind_name(n->svc->runtime);
	return runtime_kind_name(n->host->runtime);
}

/* What node n's container is made of besides its image: the node.create
 * request (docs/agent-protocol.md) less op, image and start. */
static int node_request(const struct template *t, const struct spec *s,
			const struct plan *p, const struct state *st,
			const struct plan_node *n, json_t **out, struct err *e)
{
	struct tmpl_vars vars = {0};
	struct kvlist secrets = state_secrets(st);
	json_t *files = json_array(), *argv = json_array();
	char **start = NULL;
	int rc = -1;

	if (template_node_vars(t, s, p, n, &secrets, &vars, e) < 0)
		goto out;
	for (size_t i = 0; i < t->nfiles; i++) {
		char *text = NULL;
		size_t len = 0;

		if (template_render_file(t, i, &vars, &text, &len, e) < 0)
			goto out;
		json_array_append_new(files,
			json_pack("{s:s, s:s%, s:i}", "path", t->files[i].dest,
				  "content", text, len, "mode", (int)t->files[i].mode));
		explicit_bzero(text, len);
		free(text);
	}
	if (template_render_argv(t, t->start, 0, &vars, &start, e) < 0)
		goto out;
	for (size_t i = 0; start[i]; i++)
		json_array_append_new(argv, json_string(start[i]));
	*out = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:i, s:I}",
			 "cluster", s->name, "node", n->id, "argv", argv,
			 "files", files, "restart", NODE_RESTART_POLICY,
			 "runtime", runtime_for(n), "stop_signal", t->stop_signal,
			 "stop_grace_ms", (json_int_t)t->stop_grace_ms);
	if (t->data_dir)
		json_object_set_new(*out, "data_path", json_string(t->data_dir));
	if (n->memory)
		json_object_set_new(*out, "memory", json_integer((json_int_t)n->memory));
	if (n->cpus_milli)
		json_object_set_new(*out, "cpu_millis", json_integer(n->cpus_milli));
	if (n->svc->resources.pids)
		json_object_set_new(*out, "pids", json_integer(n->svc->resources.pids));
	rc = 0;
out:
	strv_free(start);
	tmpl_vars_free(&vars);
	json_decref(files);
	json_decref(argv);
	return rc;
}

/* The node.create request for plan node n. */
static int create_request(struct cluster *c, const struct plan_node *n,
			  json_t **out, struct err *e)
{
	if (node_request(c->tmpl[n->svc_index], c->spec, c->plan, c->st, n, out, e) < 0)
		return -1;
	json_object_set_new(*out, "op", json_string("node.create"));
	json_object_set_new(*out, "image", json_string(c->image_digests[n->svc_index]));
	json_object_set_new(*out, "start", json_true());
	return 0;
}

/* Config digests of the plan's nodes (see converge_configs), with the
 * templates loaded already. */
static int configs_of(struct template *const *tmpl, const struct spec *s, const struct plan *p,
		      const struct state *st, char (*out)[DIGEST_STR_LEN], struct err *e)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_node *n = &p->nodes[i];
		const struct template *t = tmpl[n->svc_index];
		bool secrets = true;
		json_t *req;
		char *text;

		out[i][0] = '\0';
		for (size_t k = 0; k < t->nsecrets && secrets; k++) {
			_cleanup_free_ char *key = xasprintf("%s.%s", n->svc->name, t->secrets[k]);

			secrets = state_secret_get(st, key) != NULL;
		}
		if (!secrets) /* never brought up: nothing to compare with */
			continue;
		if (node_request(t, s, p, st, n, &req, e) < 0)
			return err_wrap(e, "%s: render its config", n->id);
		text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(req);
		if (!text)
			abort(); /* only allocation fails here */
		digest_buf(text, strlen(text), out[i]);
		explicit_bzero(text, strlen(text)); /* rendered secrets */
		free(text);
	}
	return 0;
}

int converge_configs(const struct spec *s, const struct plan *p, const struct state *st,
		     char (**out)[DIGEST_STR_LEN], struct err *e)
{
	struct template **tmpl = xcalloc(s->nservices + 1, sizeof *tmpl);
	int rc = 0;

	*out = xcalloc(p->n + 1, sizeof **out);
	for (size_t i = 0; i < s->nservices && rc == 0; i++)
		if (template_load(NULL, s->services[i].template, &tmpl[i], e) < 0)
			rc = err_wrap(e, "service %s", s->services[i].name);
	if (rc == 0)
		rc = configs_of(tmpl, s, p, st, *out, e);
	for (size_t i = 0; i < s->nservices; i++)
		template_free(tmpl[i]);
	free(tmpl);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

static json_t *node_req(const char *op, const char *cluster, const char *node)
{
	return json_pack("{s:s, s:s, s:s}", "op", op, "cluster", cluster, "node", node);
}

/* Stop and remove a node on a host; keep its data unless purge. */
static int remove_node(struct cluster *c, const char *host, const char *node,
		       bool purge, struct err *e)
{
	struct fleet_host *h = fleet_host(c->fleet, host);
	json_t *req;

	if (!h)
		return err_set(e, ENOENT, "%s: host %s is not in the spec", node, host);
	req = node_req("node.remove", c->spec->name, node);
	json_object_set_new(req, "force", json_true());
	json_object_set_new(req, "keep_data", json_boolean(!purge));
	if (fleet_call(h, req, NULL, e) < 0 && e->code != ENOENT)
		return err_wrap(e, "remove %s", node);
	return 0;
}

/* Append an event to events.jsonl; fields (stolen) may be NULL.  A failure
 * to log is reported but does not stop the operation. */
static void event(struct cluster *c, const char *type, json_t *fields)
{
	struct err e;

	if (c->lock && state_event(c->lock, type, fields, &e) < 0)
		log_warn("%s", e.msg);
	json_decref(fields);
}

/* The pending in-place change of node id, or NULL. */
static const struct action *in_place_change(const struct actions *acts, const char *id)
{
	for (size_t k = 0; acts && k < acts->n; k++)
		if (acts->items[k].kind == ACT_CHANGE && acts->items[k].in_place &&
		    !strcmp(acts->items[k].node, id))
			return &acts->items[k];
	return NULL;
}

/* Record plan node i as it now runs: placement, image and config. */
static struct state_node *record_node(struct cluster *c, size_t i)
{
	const struct plan_node *n = &c->plan->nodes[i];
	const char *config = c->configs && c->configs[i][0] ? c->configs[i] : NULL;
	struct state_node *sn = state_put_plan_node(c->st, c->plan, n);

	free(sn->image);
	sn->image = xstrdup(c->image_digests[n->svc_index]);
	free(sn->config);
	sn->config = config ? xstrdup(config) : NULL;
	free(sn->status);
	sn->status = xstrdup("started");
	return sn;
}

/* Record every planned node that now exists on its host: those this run
 * created, and those an interrupted run created but never recorded (they
 * were observed on their host, so no action touched them).  Nodes with a
 * change in place still pending keep their record until they restart. */
static void record_plan(struct cluster *c, const struct actions *acts)
{
	for (size_t i = 0; i < c->plan->n; i++) {
		const struct plan_node *n = &c->plan->nodes[i];
		const char *image = c->image_digests[n->svc_index];
		const char *config = c->configs && c->configs[i][0] ? c->configs[i] : NULL;
		struct state_node *sn = state_find(c->st, n->id);

		if (in_place_change(acts, n->id))
			continue;
		if (sn && !strcmp(sn->host, n->host->name) && sn->port == n->port &&
		    sn->image && !strcmp(sn->image, image) &&
		    (!config || (sn->config && !strcmp(sn->config, config))))
			continue;
		record_node(c, i);
	}
}

/* ---- executing actions ------------------------------------------------------ */

struct exec_ctx {
	struct cluster *c;
	const struct actions *acts;
};

/* Push every image some action needs on host i, through the agent's blob
 * store (push.h); hosts that already hold a blob skip it. */
static int push_images(struct cluster *c, const struct actions *acts,
		       struct err *e)
{
	size_t nh = 0, nb = 0;
	const struct spec_host **hosts = xcalloc(c->spec->nhosts + 1, sizeof *hosts);
	struct push_blob *blobs = NULL;
	size_t cap = 0;
	struct push_host_result *res;
	struct push_opts po = {.progress = log_progress_enabled()};
	struct transport **ts;
	struct agent_client **agents;
	int rc = 0;

	for (size_t i = 0; i < acts->n; i++) {
		const struct action *a = &acts->items[i];
		const struct spec_host *h;
		bool seen = false;

		if (a->kind != ACT_PUSH)
			continue;
		h = spec_find_host(c->spec, a->host);
		for (size_t k = 0; k < nh; k++)
			seen |= hosts[k] == h;
		if (!seen)
			hosts[nh++] = h;
		for (size_t s = 0; s < c->spec->nservices; s++) {
			const struct image_info *img = c->images[s];

			if (strcmp(a->image, img->manifest_digest))
				continue;
			for (size_t b = 0; b < img->nblobs; b++) {
				bool dup = false;

				for (size_t k = 0; k < nb; k++)
					dup |= !strcmp(blobs[k].digest, img->blobs[b].digest);
				if (dup)
					continue;
				blobs = xgrow(blobs, &cap, nb + 1, sizeof *blobs);
				memcpy(blobs[nb].digest, img->blobs[b].digest, DIGEST_STR_LEN);
				blobs[nb].path = img->blobs[b].path;
				blobs[nb].size = img->blobs[b].size;
				nb++;
			}
		}
	}
	if (!nh) {
		free(hosts);
		return 0;
	}
	res = xcalloc(nh, sizeof *res);
	/* Reuse the fleet's sessions: no second SSH login per host. */
	ts = xcalloc(nh, sizeof *ts);
	agents = xcalloc(nh, sizeof *agents);
	for (size_t i = 0; i < nh; i++) {
		struct fleet_host *fh = fleet_host(c->fleet, hosts[i]->name);

		ts[i] = fh ? fh->t : NULL;
		agents[i] = fh ? fh->agent : NULL;
	}
	po.transports = ts;
	po.agents = agents;
	log_info("push: %zu blobs to %zu hosts", nb, nh);
	rc = push_blobs(c->spec, hosts, nh, blobs, nb, &po, res, e);
	free(ts);
	free(agents);
	for (size_t i = 0; i < nh; i++)
		if (res[i].rc == 0)
			log_info("%s: %zu blobs sent, %zu already there (%lld ms)",
				 hosts[i]->name, res[i].sent, res[i].skipped,
				 (long long)res[i].ms);
		else
			log_error("%s", res[i].err.msg);
	free(res);
	free(blobs);
	free(hosts);
	return rc;
}

/* Does the recorded node of action a go with its data?  Only when it left its
 * cluster holding no slots (leave_clusters): a copy of a master's data, or
 * none, that would only confuse a node created later under its name.  Every
 * other removal keeps the data. */
static bool purge_on_removal(const struct cluster *c, const struct action *a)
{
	for (size_t s = 0; c->leave_checked && a->have && s < c->spec->nservices; s++)
		if (!strcmp(c->spec->services[s].name, a->have->service))
			return c->leave_checked[s];
	return false;
}

/* Node actions on host i, in the order they were planned. */
static int host_actions(struct fleet *f, size_t i, void *p)
{
	struct exec_ctx *x = p;
	struct cluster *c = x->c;
	struct fleet_host *h = &f->hosts[i];
	const char *host = h->host->name;

	for (size_t k = 0; k < x->acts->n; k++) {
		const struct action *a = &x->acts->items[k];
		json_t *req = NULL;

		switch (a->kind) {
		case ACT_REMOVE:
			if (strcmp(a->host, host))
				continue;
			log_info("%s on %s: removing (%s)", a->node, host, a->detail);
			if (remove_node(c, host, a->node, purge_on_removal(c, a), &h->err) < 0)
				return -1;
			break;
		case ACT_CHANGE:
			if (a->in_place)
				continue; /* roll_in_place, one node at a time */
			if (a->have && !strcmp(a->have->host, host) &&
			    remove_node(c, host, a->node,
					strcmp(a->have->host, a->host) && purge_on_removal(c, a),
					&h->err) < 0)
				return -1;
			if (strcmp(a->host, host))
				continue;
			/* create it where it belongs now */
			__attribute__((fallthrough));
		case ACT_CREATE:
			if (strcmp(a->host, host))
				continue;
			if (listed_record(c, host, a->node) &&
			    remove_node(c, host, a->node, false, &h->err) < 0)
				return -1;
			if (create_request(c, a->want, &req, &h->err) < 0)
				return -1;
			log_info("%s on %s: creating (%s)", a->node, host, a->detail);
			if (fleet_call(h, req, NULL, &h->err) < 0)
				return err_wrap(&h->err, "create %s", a->node);
			break;
		case ACT_START:
			if (strcmp(a->host, host))
				continue;
			log_info("%s on %s: starting", a->node, host);
			if (fleet_call(h, node_req("node.start", c->spec->name, a->node),
				       NULL, &h->err) < 0 && h->err.code != EBUSY)
				return err_wrap(&h->err, "start %s", a->node);
			break;
		default:
			break;
		}
	}
	return 0;
}

/* ---- readiness, formation, health ------------------------------------------- */

static const char *password_of(struct cluster *c, size_t svc)
{
	const struct template *t = c->tmpl[svc];
	_cleanup_free_ char *key = NULL;

	for (size_t i = 0; i < t->nsecrets; i++)
		if (!strcmp(t->secrets[i], "password")) {
			key = xasprintf("%s.password", c->spec->services[svc].name);
			return state_secret_get(c->st, key);
		}
	return NULL;
}

/* A node whose process exits this many times before it ever answers its
 * readiness probe will not become ready (the agent restarts it after 1 s,
 * then 2 s: about 3 s in). */
#define CRASH_LOOP_RESTARTS 2

/* Is node pn exiting again and again instead of starting?  Asks its host's
 * agent; when it is, fills e with the last exit and the node's last log
 * lines and returns 1.  0 otherwise, also when the agent cannot say. */
static int crash_looping(struct cluster *c, const struct plan_node *pn,
			 struct err *e)
{
	struct fleet_host *h = fleet_host(c->fleet, pn->host->name);
	json_t *rec = NULL, *logs = NULL;
	struct err ignore;
	const char *state, *tail;
	char last[64];
	json_int_t restarts;

	if (!h || fleet_call(h, json_pack("{s:s, s:s, s:s}", "op", "node.inspect",
					  "cluster", c->spec->name, "node", pn->id),
			     &rec, &ignore) < 0)
		return 0;
	state = json_string_value(json_object_get(rec, "state"));
	restarts = json_integer_value(json_object_get(rec, "restarts"));
	if (!state || (restarts < CRASH_LOOP_RESTARTS && strcmp(state, "exited"))) {
		json_decref(rec);
		return 0;
	}
	if (json_object_get(rec, "signal"))
		snprintf(last, sizeof last, "killed by signal %lld%s",
			 (long long)json_integer_value(json_object_get(rec, "signal")),
			 json_is_true(json_object_get(rec, "oom")) ? " (out of memory)" : "");
	else
		snprintf(last, sizeof last, "exit code %lld",
			 (long long)json_integer_value(json_object_get(rec, "exit_code")));
	fleet_call(h, json_pack("{s:s, s:s, s:s, s:i, s:b}", "op", "logs", "cluster",
				c->spec->name, "node", pn->id, "tail", 3, "follow", 0),
		   &logs, &ignore);
	tail = json_string_value(json_object_get(logs, "data"));
	err_set(e, EIO, "%s on %s exits instead of starting (%s, restarted %lld times)%s%s"
		"(see 'shoal logs SPEC %s')", pn->id, pn->host->name, last,
		(long long)restarts, tail && *tail ? "; its last log lines:\n" : " ",
		tail && *tail ? tail : "", pn->id);
	json_decref(logs);
	json_decref(rec);
	return 1;
}

/* Probe every node of the plan (or only `only`, when not NULL) until each
 * answers its template's readiness probe, or the deadline passes (naming the
 * nodes that never did).  A node that keeps exiting fails the wait at once
 * (crash_looping). */
static int wait_ready(struct cluster *c, const struct converge_opts *o,
		      const struct plan_node *only, struct err *e)
{
	size_t n = c->plan->n, left = only ? 1 : n;
	bool *ready = xcalloc(n + 1, sizeof *ready);
	struct probe_report *last = xcalloc(n + 1, sizeof *last);
	int64_t start = now_ms(), deadline = 0;
	int rc = 0, pause_ms = 10, max_pause_ms = 0;

	for (size_t s = 0; s < c->spec->nservices; s++) {
		int64_t d = o->ready_timeout_ms ? o->ready_timeout_ms
						: c->tmpl[s]->readiness.deadline_ms;
		int every = c->tmpl[s]->readiness.interval_ms;

		if (every <= 0)
			every = 200;
		if (!max_pause_ms || every < max_pause_ms)
			max_pause_ms = every;

		if (d <= 0)
			d = 60000;
		if (d > deadline)
			deadline = d;
	}
	deadline += start;
	for (size_t i = 0; only && i < n; i++)
		ready[i] = &c->plan->nodes[i] != only;
	while (left) {
		for (size_t i = 0; i < n; i++) {
			const struct plan_node *pn = &c->plan->nodes[i];
			const struct tmpl_probe *tp = &c->tmpl[pn->svc_index]->readiness;
			struct probe_target pt = {
				.kind = tp->kind,
				.host = pn->host->address,
				.port = tp->port ? tp->port : pn->port,
				.connect_timeout_ms = tp->connect_timeout_ms,
				.read_timeout_ms = tp->read_timeout_ms,
				.password = password_of(c, pn->svc_index),
				.path = tp->path,
				.expect = tp->expect,
			};

			if (ready[i])
				continue;
			if (probe_run(&pt, &last[i], e) < 0) {
				rc = err_wrap(e, "%s: readiness probe", pn->id);
				goto out;
			}
			if (last[i].result == PROBE_OK) {
				ready[i] = true;
				left--;
				log_info("%s on %s: ready (%lld ms)", pn->id, pn->host->name,
					 (long long)(now_ms() - start));
			} else if (now_ms() - start >= 500 && crash_looping(c, pn, e)) {
				rc = -1;
				goto out;
			}
		}
		if (!left)
			break;
		if (now_ms() > deadline) {
			struct buf b = {0};

			for (size_t i = 0; i < n; i++)
				if (!ready[i])
					buf_printf(&b, "%s%s (%s:%d: %s%s%s)", b.len ? ", " : "",
						   c->plan->nodes[i].id,
						   c->plan->nodes[i].host->address,
						   c->plan->nodes[i].port,
						   probe_result_name(last[i].result),
						   last[i].detail[0] ? " " : "", last[i].detail);
			rc = err_set(e, ETIMEDOUT, "%zu nodes not ready after %lld ms: %s "
				     "(see 'shoal logs SPEC NODE')",
				     left, (long long)(deadline - start), b.data);
			buf_free(&b);
			goto out;
		}
		/* A node usually answers within tens of milliseconds of its
		 * start: ask again soon, then less often, up to the templates'
		 * readiness interval. */
		usleep((useconds_t)(pause_ms < max_pause_ms ? pause_ms : max_pause_ms) * 1000);
		if (pause_ms < max_pause_ms)
			pause_ms *= 2;
	}
out:
	free(ready);
	free(last);
	return rc;
}

/* rc_node array for the sharded service svc, in plan order. */
static struct rc_node *redis_nodes(const struct cluster *c, size_t svc, size_t *n)
{
	size_t first = c->plan->svc_first[svc], last = c->plan->svc_first[svc + 1];
	struct rc_node *v = xcalloc(last - first + 1, sizeof *v);

	for (size_t i = first; i < last; i++) {
		const struct plan_node *pn = &c->plan->nodes[i];
		struct rc_node *r = &v[i - first];

		r->id = pn->id;
		r->address = pn->host->address;
		r->port = pn->port;
		r->bus_port = pn->bus_port;
		r->master = pn->role == ROLE_MASTER;
		r->master_index = pn->master >= 0 ? pn->master - (int)first : -1;
	}
	*n = last - first;
	return v;
}

static bool uses_builtin(const struct template *t, const char *name)
{
	const struct tmpl_hook *h = &t->hooks[HOOK_FORM];

	return h->builtin && !strcmp(h->builtin, name);
}

/* Nodes leaving a service's cluster (no longer in the spec, or moved to
 * another host, where they start afresh with a new identity) are forgotten by
 * the nodes that stay before any container is removed; rc_leave refuses, with
 * nothing changed, while one still serves slots.  For templates whose leave
 * hook is the built-in Redis step. */
static int leave_clusters(struct cluster *c, const struct actions *acts, struct err *e)
{
	c->left = xcalloc(c->spec->nservices, sizeof *c->left);
	c->nleft = xcalloc(c->spec->nservices, sizeof *c->nleft);
	c->leave_checked = xcalloc(c->spec->nservices, sizeof *c->leave_checked);
	for (size_t s = 0; s < c->spec->nservices; s++) {
		const char *svc = c->spec->services[s].name;
		const struct tmpl_hook *h = &c->tmpl[s]->hooks[HOOK_LEAVE];
		struct rc_opts ro = {.password = password_of(c, s), .timeout_ms = 3000};
		_cleanup_free_ struct rc_node *stay = NULL, *leave = NULL;
		_cleanup_free_ const char **ids = NULL;
		size_t ns = 0, nl = 0;

		if (!h->builtin || strcmp(h->builtin, "redis-leave"))
			continue;
		leave = xcalloc(acts->n + 1, sizeof *leave);
		ids = xcalloc(acts->n + 1, sizeof *ids);
		for (size_t i = 0; i < acts->n; i++) {
			const struct action *a = &acts->items[i];
			const struct state_node *sn = a->have;

			if (!sn || !a->service || strcmp(a->service, svc))
				continue;
			if (a->kind == ACT_LEAVE || (a->kind == ACT_CHANGE && strcmp(sn->host, a->host))) {
				leave[nl] = (struct rc_node){.id = sn->id, .address = sn->address,
							     .port = sn->port, .bus_port = sn->bus_port};
				ids[nl++] = sn->cluster_id;
			}
		}
		if (!nl)
			continue;
		stay = xcalloc(c->st->n + 1, sizeof *stay);
		for (size_t i = 0; i < c->st->n; i++) {
			const struct state_node *sn = &c->st->nodes[i];
			bool leaving = false;

			if (strcmp(sn->service, svc) || !plan_find(c->plan, sn->id))
				continue;
			for (size_t k = 0; k < nl; k++)
				leaving |= !strcmp(leave[k].id, sn->id);
			if (!leaving)
				stay[ns++] = (struct rc_node){.id = sn->id, .address = sn->address,
							      .port = sn->port, .bus_port = sn->bus_port};
		}
		if (!ns)
			continue; /* the whole service goes: its data stays on the hosts */
		log_info("%s: %zu node%s leaving the cluster", svc, nl, nl == 1 ? "" : "s");
		if (rc_leave(stay, ns, leave, ids, nl, &ro, &c->left[s], &c->nleft[s], e) < 0)
			return err_wrap(e, "service %s: leave", svc);
		c->leave_checked[s] = true;
	}
	return 0;
}

/* Form (or complete) the cluster of service s if its template forms with a
 * built-in step; record each node's database id in c->st (*changed when any
 * record changed).  fail_back: restore planned masters after a failover;
 * quiet: no progress line. */
static int form_service(struct cluster *c, size_t s, bool fail_back, bool quiet, bool *changed,
			struct err *e)
{
	struct rc_opts ro = {.password = password_of(c, s), .timeout_ms = 3000,
			     .settle_ms = 60000, .fail_back = fail_back};
	const char *svc = c->spec->services[s].name;
	char (*ids)[RC_ID_LEN + 1];
	struct rc_node *nodes;
	size_t n;
	int rc;

	if (!uses_builtin(c->tmpl[s], "redis-form")) {
		if (c->tmpl[s]->hooks[HOOK_FORM].argv)
			return err_set(e, ENOTSUP,
				       "service %s: template %s forms with a command hook; only "
				       "built-in formation is supported by this version",
				       svc, c->tmpl[s]->name);
		return 0;
	}
	if (c->left) {
		ro.forget = (const char(*)[RC_ID_LEN + 1])c->left[s];
		ro.nforget = c->nleft[s];
	}
	nodes = redis_nodes(c, s, &n);
	ids = xcalloc(n + 1, sizeof *ids);
	if (!quiet)
		log_info("%s: forming the cluster (%zu nodes)", svc, n);
	rc = rc_form(nodes, n, &ro, ids, e);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct state_node *sn = state_find(c->st, nodes[i].id);

		if (sn && (!sn->cluster_id || strcmp(sn->cluster_id, ids[i]) || !sn->status ||
			   strcmp(sn->status, "joined"))) {
			*changed = true;
			free(sn->cluster_id);
			sn->cluster_id = xstrdup(ids[i]);
			free(sn->status);
			sn->status = xstrdup("joined");
		}
	}
	free(ids);
	free(nodes);
	return rc < 0 ? err_wrap(e, "service %s: form", svc) : 0;
}

static int form_clusters(struct cluster *c, struct err *e)
{
	bool changed = false;

	for (size_t s = 0; s < c->spec->nservices; s++)
		if (form_service(c, s, false, false, &changed, e) < 0)
			return -1;
	return changed ? state_save(c->lock, c->st, e) : 0;
}

/* A node recorded before shoal recorded configs takes the digest of the
 * config it is planned with (see actions_diff). */
static int record_missing_configs(struct cluster *c, struct err *e)
{
	bool changed = false;

	for (size_t i = 0; i < c->plan->n; i++) {
		struct state_node *sn = state_find(c->st, c->plan->nodes[i].id);

		if (sn && !sn->config && c->configs[i][0]) {
			sn->config = xstrdup(c->configs[i]);
			changed = true;
		}
	}
	return changed ? state_save(c->lock, c->st, e) : 0;
}

/* Changes in place (a new image or config on the same host and port) restart
 * one node at a time, replicas before masters, and each is back in its
 * cluster before the next goes: the cluster keeps serving, and a shard never
 * loses both copies at once.  A master whose restart outlasted the node
 * timeout (its replica took over) is made master again.  Each node is
 * recorded as soon as it runs its new config, so an interrupted roll goes on
 * where it stopped. */
static int roll_in_place(struct cluster *c, const struct converge_opts *o,
			 const struct actions *acts, struct err *e)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->plan->n; i++) {
			const struct plan_node *pn = &c->plan->nodes[i];
			const struct action *a = in_place_change(acts, pn->id);
			struct fleet_host *h = fleet_host(c->fleet, pn->host->name);
			struct state_node *sn;
			bool changed = false;
			json_t *req;

			if (!a || (pn->role == ROLE_MASTER) != (pass == 1))
				continue;
			if (!h)
				return err_set(e, ENOENT, "%s: host %s is not connected", pn->id,
					       pn->host->name);
			log_info("%s on %s: restarting (%s)", pn->id, pn->host->name, a->detail);
			if (remove_node(c, pn->host->name, pn->id, false, e) < 0 ||
			    create_request(c, pn, &req, e) < 0)
				return -1;
			if (fleet_call(h, req, NULL, e) < 0)
				return err_wrap(e, "create %s", pn->id);
			sn = record_node(c, i);
			if (state_save(c->lock, c->st, e) < 0 || wait_ready(c, o, pn, e) < 0 ||
			    form_service(c, pn->svc_index, true, true, &changed, e) < 0)
				return -1;
			log_info("%s on %s: back in its cluster", pn->id, pn->host->name);
			free(sn->status);
			sn->status = xstrdup("joined");
			if (state_save(c->lock, c->st, e) < 0)
				return -1;
		}
	return 0;
}

/* ---- up --------------------------------------------------------------------- */

static void print_actions(const struct actions *a, bool json)
{
	if (json)
		return;
	if (actions_empty(a)) {
		printf("0 changes: the cluster matches the spec\n");
		return;
	}
	actions_print(a, stdout);
	fflush(stdout);
}

int converge_up(const char *spec_path, const struct converge_opts *o,
		struct err *e)
{
	struct cluster c = {0};
	struct actions acts = {0};
	struct exec_ctx x = {.c = &c, .acts = &acts};
	int64_t t0 = now_ms();
	int rc = -1;

	if (cluster_load(spec_path, "up", &c, e) < 0)
		goto out;
	for (size_t s = 0; s < c.spec->nservices; s++)
		for (size_t k = 0; k < c.tmpl[s]->nsecrets; k++)
			if (!state_service_secret(c.st, c.spec->services[s].name,
						  c.tmpl[s]->secrets[k], e))
				goto out;
	/* Secrets go to disk before any node is configured with them. */
	if (state_save(c.lock, c.st, e) < 0)
		goto out;
	if (cluster_plan(&c, e) < 0)
		goto out;
	{
		/* Build or find the images while the hosts connect: each takes
		 * tens of milliseconds and neither needs the other.  The thread
		 * only fills c.images and c.image_digests. */
		struct images_job ij = {.c = &c};
		pthread_t th;
		bool threaded = pthread_create(&th, NULL, images_thread, &ij) == 0;
		int crc;

		if (!threaded)
			images_thread(&ij);
		crc = cluster_connect(&c, o, e) < 0 || cluster_observe(&c, e) < 0 ? -1 : 0;
		if (threaded)
			pthread_join(th, NULL);
		if (ij.rc < 0) {
			*e = ij.e;
			goto out;
		}
		if (crc < 0)
			goto out;
	}
	if (replan_around_taken(&c, e) < 0)
		goto out;
	c.configs = xcalloc(c.plan->n + 1, sizeof *c.configs);
	if (configs_of(c.tmpl, c.spec, c.plan, c.st, c.configs, e) < 0 ||
	    actions_diff(c.spec, c.plan, c.st, c.image_digests,
			 (const char(*)[DIGEST_STR_LEN])c.configs,
			 &(struct observed){c.obs, c.nobs}, &acts, e) < 0)
		goto out;
	print_actions(&acts, o->json);
	if (!actions_empty(&acts)) {
		event(&c, "up.start", json_pack("{s:i}", "actions", (int)acts.n));
		if (leave_clusters(&c, &acts, e) < 0 || push_images(&c, &acts, e) < 0)
			goto out;
		if (fleet_each(c.fleet, host_actions, &x) > 0) {
			for (size_t i = 0; i < c.fleet->n; i++)
				if (c.fleet->hosts[i].wanted && c.fleet->hosts[i].err.msg[0]) {
					*e = c.fleet->hosts[i].err;
					break;
				}
			goto out;
		}
		/* Record what now exists before waiting on it, so an interrupted
		 * run is picked up where it stopped. */
		for (size_t i = 0; i < acts.n; i++)
			if (acts.items[i].kind == ACT_REMOVE && acts.items[i].have)
				state_drop(c.st, acts.items[i].node);
		record_plan(&c, &acts);
		if (state_save(c.lock, c.st, e) < 0)
			goto out;
	}
	if (wait_ready(&c, o, NULL, e) < 0 || form_clusters(&c, e) < 0 ||
	    roll_in_place(&c, o, &acts, e) < 0 || record_missing_configs(&c, e) < 0)
		goto out;
	event(&c, "up.done", json_pack("{s:i, s:I}", "actions", (int)acts.n, "ms",
				       (json_int_t)(now_ms() - t0)));
	if (o->json) {
		json_t *doc = json_pack("{s:s, s:o, s:I}", "cluster", c.spec->name,
					"actions", actions_json(&acts),
					"ms", (json_int_t)(now_ms() - t0));

		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(doc);
	} else {
		printf("cluster %s is up: %zu nodes (%lld ms)\n", c.spec->name,
		       c.plan->n, (long long)(now_ms() - t0));
	}
	rc = 0;
out:
	actions_free(&acts);
	cluster_free(&c);
	return rc;
}

/* ---- status ----------------------------------------------------------------- */

/* The rc_node array for the recorded nodes of service `svc` (state order),
 * replicas pointing at their recorded master.  *idx maps back to st->nodes. */
static struct rc_node *redis_nodes_recorded(const struct cluster *c, const char *svc,
					    size_t **idx, size_t *n)
{
	struct rc_node *v = xcalloc(c->st->n + 1, sizeof *v);
	size_t *map = xcalloc(c->st->n + 1, sizeof *map), k = 0;

	for (size_t i = 0; i < c->st->n; i++) {
		const struct state_node *sn = &c->st->nodes[i];

		if (strcmp(sn->service, svc))
			continue;
		map[k] = i;
		v[k].id = sn->id;
		v[k].address = sn->address;
		v[k].port = sn->port;
		v[k].bus_port = sn->bus_port;
		v[k].master = !sn->master;
		v[k].master_index = -1;
		k++;
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

static const char *shoal_id_of(const struct cluster *c, const char *redis_id)
{
	for (size_t i = 0; redis_id && *redis_id && i < c->st->n; i++)
		if (c->st->nodes[i].cluster_id && !strcmp(c->st->nodes[i].cluster_id, redis_id))
			return c->st->nodes[i].id;
	return NULL;
}

/* Status of the redis service `svc`: per node fields into recs (indexed like
 * st->nodes), one summary object returned. */
static json_t *redis_status(struct cluster *c, size_t svc_index, json_t **recs)
{
	const char *svc = c->spec->services[svc_index].name;
	struct rc_opts ro = {.password = password_of(c, svc_index), .timeout_ms = 1000};
	size_t n, *idx;
	struct rc_node *nodes = redis_nodes_recorded(c, svc, &idx, &n);
	struct rc_view *v = NULL;
	struct err e;
	json_t *sum;

	if (rc_inspect(nodes, n, &ro, &v, &e) < 0) {
		sum = json_pack("{s:s, s:s}", "service", svc, "error", e.msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct rc_observer *ob = &v->obs[i];
		json_t *r = recs[idx[i]];
		const struct rc_entry *me = NULL;

		for (size_t k = 0; k < ob->ntable; k++)
			if (ob->table[k].flags & RC_F_MYSELF)
				me = &ob->table[k];
		if (!ob->reachable) {
			json_object_set_new(r, "health", json_string("unreachable"));
			json_object_set_new(r, "health_detail",
					    json_string(ob->error ? ob->error : ""));
			continue;
		}
		json_object_set_new(r, "health", json_string(ob->state_ok ? "ok" : "cluster-down"));
		if (!me)
			continue;
		json_object_set_new(r, "role", json_string(me->flags & RC_F_MASTER ? "master"
							    : me->flags & RC_F_REPLICA ? "replica"
							    : "unknown"));
		if (me->master_id[0]) {
			const char *mid = shoal_id_of(c, me->master_id);

			json_object_set_new(r, "master", json_string(mid ? mid : me->master_id));
		}
		json_t *slots = json_array();

		for (size_t k = 0; k < me->nranges; k++)
			json_array_append_new(slots, json_pack("[i,i]", me->ranges[k].first,
							       me->ranges[k].last));
		json_object_set_new(r, "slots", slots);
	}
	sum = json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:b}", "service", svc,
			"cluster_state", v->state_ok == (int)n && n ? "ok" : "fail",
			"slots_covered", v->slots_covered,
			"nodes", (int)n, "reachable", v->reachable,
			"roles_as_planned", rc_check_roles(v, NULL) == 0,
			"anti_affinity", rc_check_anti_affinity(v, NULL) == 0);
out:
	rc_view_free(v);
	free(nodes);
	free(idx);
	return sum;
}

static void print_status_text(const struct cluster *c, json_t *doc)
{
	json_t *nodes = json_object_get(doc, "nodes"), *svcs = json_object_get(doc, "services");
	json_t *r;
	size_t i;

	printf("%-12s %-8s %-22s %-9s %-12s %-8s %-12s %-14s %8s %4s\n", "NODE", "HOST",
	       "ADDRESS", "STATE", "HEALTH", "ROLE", "MASTER", "SLOTS", "UPTIME", "RST");
	json_array_foreach(nodes, i, r) {
		char addr[64], slots[64] = "-", up[32] = "-";
		json_t *sl = json_object_get(r, "slots"), *rg;
		size_t k;
		json_int_t ms = json_integer_value(json_object_get(r, "uptime_ms"));

		snprintf(addr, sizeof addr, "%s:%d",
			 json_string_value(json_object_get(r, "address")),
			 (int)json_integer_value(json_object_get(r, "port")));
		json_array_foreach(sl, k, rg) {
			size_t used = k ? strlen(slots) : 0;

			snprintf(slots + used, sizeof slots - used, "%s%d-%d", k ? "," : "",
				 (int)json_integer_value(json_array_get(rg, 0)),
				 (int)json_integer_value(json_array_get(rg, 1)));
		}
		if (ms > 0)
			snprintf(up, sizeof up, "%llds", (long long)(ms / 1000));
#define S(k) (json_string_value(json_object_get(r, k)) ? json_string_value(json_object_get(r, k)) : "-")
		printf("%-12s %-8s %-22s %-9s %-12s %-8s %-12s %-14s %8s %4d\n", S("node"),
		       S("host"), addr, S("state"), S("health"), S("role"), S("master"),
		       slots, up, (int)json_integer_value(json_object_get(r, "restarts")));
#undef S
	}
	json_array_foreach(svcs, i, r) {
		if (json_object_get(r, "error")) {
			printf("service %s: %s\n", json_string_value(json_object_get(r, "service")),
			       json_string_value(json_object_get(r, "error")));
			continue;
		}
		printf("service %s: cluster_state:%s, slots covered %d/16384, %d/%d nodes "
		       "answer, roles as planned: %s, replicas apart from masters: %s\n",
		       json_string_value(json_object_get(r, "service")),
		       json_string_value(json_object_get(r, "cluster_state")),
		       (int)json_integer_value(json_object_get(r, "slots_covered")),
		       (int)json_integer_value(json_object_get(r, "reachable")),
		       (int)json_integer_value(json_object_get(r, "nodes")),
		       json_is_true(json_object_get(r, "roles_as_planned")) ? "yes" : "no",
		       json_is_true(json_object_get(r, "anti_affinity")) ? "yes" : "no");
	}
	if (!c->st->n)
		printf("cluster %s has no recorded nodes (run 'shoal up')\n", c->spec->name);
}

int converge_status(const char *spec_path, const struct converge_opts *o,
		    struct err *e)
{
	struct cluster c = {0};
	json_t *doc = NULL, *nodes, *svcs, **recs = NULL;
	struct err ce = {0};
	int rc = -1;

	struct converge_opts look = *o;

	if (cluster_load(spec_path, NULL, &c, e) < 0)
		goto out;
	/* Unreachable hosts are reported per node, not a failure of status.
	 * Looking starts no agent: a starting daemon would start its nodes. */
	look.look_only = true;
	if (c.st->n && cluster_connect(&c, &look, &ce) < 0)
		log_warn("%s", ce.msg);
	if (c.fleet && cluster_observe(&c, &ce) < 0)
		log_warn("%s", ce.msg);
	nodes = json_array();
	svcs = json_array();
	recs = xcalloc(c.st->n + 1, sizeof *recs);
	for (size_t i = 0; i < c.st->n; i++) {
		const struct state_node *sn = &c.st->nodes[i];
		json_t *lr = listed_record(&c, sn->host, sn->id);
		struct fleet_host *fh = c.fleet ? fleet_host(c.fleet, sn->host) : NULL;
		json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}", "node", sn->id,
				      "service", sn->service, "host", sn->host,
				      "address", sn->address, "port", sn->port,
				      "role", sn->role ? sn->role : "");

		if (sn->bus_port)
			json_object_set_new(r, "bus_port", json_integer(sn->bus_port));
		if (lr) {
			json_object_set(r, "state", json_object_get(lr, "state"));
			json_object_set(r, "restarts", json_object_get(lr, "restarts"));
			if (json_object_get(lr, "uptime_ms"))
				json_object_set(r, "uptime_ms", json_object_get(lr, "uptime_ms"));
		} else {
			json_object_set_new(r, "state", json_string(fh && fh->agent ? "missing" :
								   fh && fh->no_agent ? "agent-down" :
								   "host-down"));
			json_object_set_new(r, "restarts", json_integer(0));
		}
		json_object_set_new(r, "health", json_string("unknown"));
		recs[i] = r;
		json_array_append(nodes, r);
	}
	for (size_t s = 0; s < c.spec->nservices; s++)
		if (uses_builtin(c.tmpl[s], "redis-form"))
			json_array_append_new(svcs, redis_status(&c, s, recs));
	doc = json_pack("{s:s, s:o, s:o}", "cluster", c.spec->name, "nodes", nodes,
			"services", svcs);
	if (o->show_secrets) {
		json_t *sec = json_object();

		for (size_t i = 0; i < c.st->nsecrets; i++)
			json_object_set_new(sec, c.st->secrets[i].key,
					    json_string(c.st->secrets[i].value));
		json_object_set_new(doc, "secrets", sec);
	}
	if (o->json) {
		json_dumpf(doc, stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		print_status_text(&c, doc);
		if (o->show_secrets)
			for (size_t i = 0; i < c.st->nsecrets; i++)
				printf("secret %s: %s\n", c.st->secrets[i].key,
				       c.st->secrets[i].value);
	}
	rc = 0;
out:
	for (size_t i = 0; recs && i < c.st->n; i++)
		json_decref(recs[i]);
	free(recs);
	json_decref(doc);
	cluster_free(&c);
	return rc;
}

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
		if (remove_node(a->c, h->host->name, id, a->purge, &h->err) < 0)
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
	event(&c, "down", json_pack("{s:i, s:b}", "nodes", (int)removed, "purge", o->purge));
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
