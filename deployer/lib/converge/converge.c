/* converge.c - see converge.h and converge_int.h: loading a cluster,
 * connecting to its hosts and asking them what runs, node requests and
 * config digests.  The commands are in converge_up.c, converge_status.c and
 * converge_down.c. */
#include "converge_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define NODE_RESTART_POLICY "always"

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

void cluster_free(struct cluster *c)
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
		strv_free(c->left[i]);
	free(c->left);
	free(c->drv);
	free(c->leave_checked);
	node_configs_free(c->configs, c->nconfigs);
	free(c->failed_back);
	free(c->moved);
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
int cluster_load(const char *spec_path, const char *command, struct cluster *c,
		 struct err *e)
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
	c->drv = xcalloc(c->spec->nservices + 1, sizeof *c->drv);
	for (size_t i = 0; i < c->spec->nservices; i++) {
		const struct spec_service *svc = &c->spec->services[i];

		if (template_load(NULL, svc->template, &c->tmpl[i], e) < 0 ||
		    db_driver_for(c->tmpl[i], &c->drv[i], e) < 0)
			return err_wrap(e, "service %s", svc->name);
		template_plan_traits(c->tmpl[i], &c->traits[i]);
	}
	if (command) {
		if (state_lock_at(&c->spec->state, c->spec->name, command, &c->lock, &stale,
				  &was_stale, e) < 0)
			return -1;
		if (was_stale)
			log_warn("took over a stale lock of %s (pid %ld on %s, gone)",
				 stale.command, stale.pid, stale.host);
	}
	return state_load_at(&c->spec->state, c->spec->name, &c->st, e);
}

int converge_set_drained(const char *spec_path, const char *host, bool on, bool *changed,
			 struct err *e)
{
	struct cluster c = {0};
	int rc = -1;

	*changed = false;
	if (cluster_load(spec_path, on ? "drain" : "undrain", &c, e) < 0)
		goto out;
	if (!spec_find_host(c.spec, host)) {
		err_usage(e, "%s: no host named %s in the spec", spec_path, host);
		goto out;
	}
	*changed = state_set_drained(c.st, host, on);
	if (*changed && state_save(c.lock, c.st, e) < 0)
		goto out;
	if (*changed)
		cluster_event(&c, on ? "host.drained" : "host.undrained",
			      json_pack("{s:s}", "host", host));
	rc = 0;
out:
	cluster_free(&c);
	return rc;
}

int cluster_plan(struct cluster *c, struct err *e)
{
	struct plan_problems probs = {0};
	struct placement prev;
	int rc;

	for (size_t h = 0; h < c->spec->nhosts; h++)
		if ((c->spec->hosts[h].drained = state_drained(c->st, c->spec->hosts[h].name)))
			fprintf(stderr, "%s: drained: no node is placed there ('shoal undrain "
				"SPEC %s' makes it schedulable again)\n",
				c->spec->hosts[h].name, c->spec->hosts[h].name);
	state_placement(c->st, &prev);
	prev.taken = c->taken;
	prev.ntaken = c->ntaken;
	rc = plan_compute(c->spec, c->traits, &prev, &c->plan, &probs, e);
	state_placement_free(&prev);
	for (size_t i = 0; i < probs.n; i++)
		fprintf(stderr, "%s\n", probs.items[i].msg);
	for (size_t i = 0; rc == 0 && i < c->plan->nwarnings; i++)
		fprintf(stderr, "warning: %s\n", c->plan->warnings[i]);
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

int cluster_images(struct cluster *c, struct err *e)
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

int cluster_connect(struct cluster *c, const struct converge_opts *o, struct err *e)
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
int cluster_observe(struct cluster *c, struct err *e)
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
						!strcmp(state, "starting") ||
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
json_t *cluster_listed(const struct cluster *c, const char *host, const char *node)
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

#define TMPL_SOURCE_MAX (1u << 20)

/* Does the template text use variable `key` ("{{ settings.x }}")? */
static bool uses_var(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = strstr(text, key); p; p = strstr(p + 1, key)) {
		char next = p[klen];

		if (!((next >= 'a' && next <= 'z') || (next >= '0' && next <= '9') ||
		      next == '_' || next == '.'))
			return true;
	}
	return false;
}

/* The attributes of node n (struct node_attrs): the template variables its
 * files or start command use, secrets excepted; the digest of each template
 * file's source; resources, runtime and stop settings. */
static void node_attrs_fill(const struct template *t, const struct plan_node *n,
			    const struct tmpl_vars *vars, char *const *sources,
			    struct node_attrs *a)
{
	char v[64];

	for (size_t i = 0; i < vars->n; i++) {
		bool used = false;

		if (!strncmp(vars->keys[i], "secret.", 7))
			continue;
		for (size_t f = 0; f < t->nfiles && !used; f++)
			used = uses_var(sources[f], vars->keys[i]);
		for (size_t k = 0; t->start && t->start[k] && !used; k++)
			used = uses_var(t->start[k], vars->keys[i]);
		if (used)
			node_attrs_set(a, vars->keys[i], vars->vals[i]);
	}
	for (size_t f = 0; f < t->nfiles; f++) {
		char d[DIGEST_STR_LEN];
		_cleanup_free_ char *name = xasprintf("template.file %s", t->files[f].dest);

		digest_buf(sources[f], strlen(sources[f]), d);
		node_attrs_set(a, name, d);
	}
	node_attrs_set(a, "template", t->name);
	if (n->memory) {
		if (n->memory % (1024 * 1024) == 0)
			snprintf(v, sizeof v, "%lluM", (unsigned long long)(n->memory >> 20));
		else
			snprintf(v, sizeof v, "%llu", (unsigned long long)n->memory);
		node_attrs_set(a, "resources.memory", v);
	}
	if (n->cpus_milli) {
		snprintf(v, sizeof v, "%g", n->cpus_milli / 1000.0);
		node_attrs_set(a, "resources.cpus", v);
	}
	snprintf(v, sizeof v, "%d", n->svc->resources.pids);
	node_attrs_set(a, "resources.pids", v);
	node_attrs_set(a, "runtime", runtime_for(n));
	snprintf(v, sizeof v, "%d", t->stop_signal);
	node_attrs_set(a, "stop.signal", v);
	snprintf(v, sizeof v, "%lld", (long long)t->stop_grace_ms);
	node_attrs_set(a, "stop.grace_ms", v);
}

/* What node n's container is made of besides its image: the node.create
 * request (docs/agent-protocol.md) less op, image and start; with attrs
 * non-NULL, also what it was made from, by name (node_attrs_fill). */
static int node_request(const struct template *t, const struct spec *s,
			const struct plan *p, const struct state *st,
			const struct plan_node *n, json_t **out, struct node_attrs *attrs,
			struct err *e)
{
	struct tmpl_vars vars = {0};
	struct kvlist secrets = state_secrets(st);
	json_t *files = json_array(), *argv = json_array();
	char **start = NULL, **sources = xcalloc(t->nfiles + 1, sizeof *sources);
	int rc = -1;

	if (template_node_vars(t, s, p, n, &secrets, &vars, e) < 0)
		goto out;
	for (size_t i = 0; i < t->nfiles; i++) {
		char *text = NULL;
		size_t len = 0, slen;

		if (read_file(t->files[i].source, TMPL_SOURCE_MAX, &sources[i], &slen, e) < 0) {
			err_wrap(e, "%s:%d", t->path, t->files[i].line);
			goto out;
		}
		if (template_render(sources[i], slen, t->files[i].source, &vars, &text, &len,
				    e) < 0)
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
	if (attrs)
		node_attrs_fill(t, n, &vars, sources, attrs);
	*out = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:i, s:I}",
			 "cluster", s->name, "node", n->id, "argv", argv,
			 "files", files, "restart", NODE_RESTART_POLICY,
			 "runtime", runtime_for(n), "stop_signal", t->stop_signal,
			 "stop_grace_ms", (json_int_t)t->stop_grace_ms);
	if (t->data_dir)
		json_object_set_new(*out, "data_path", json_string(t->data_dir));
	if (t->nsyscalls) {
		json_t *sys = json_array();

		for (size_t i = 0; i < t->nsyscalls; i++)
			json_array_append_new(sys, json_string(t->syscalls[i]));
		json_object_set_new(*out, "syscalls", sys);
	}
	if (n->memory)
		json_object_set_new(*out, "memory", json_integer((json_int_t)n->memory));
	if (n->cpus_milli)
		json_object_set_new(*out, "cpu_millis", json_integer(n->cpus_milli));
	json_object_set_new(*out, "pids", json_integer(n->svc->resources.pids));
	rc = 0;
out:
	strv_free(sources);
	strv_free(start);
	tmpl_vars_free(&vars);
	json_decref(files);
	json_decref(argv);
	return rc;
}

/* The node.create request for plan node n. */
int cluster_create_request(struct cluster *c, const struct plan_node *n, json_t **out,
			   struct err *e)
{
	if (node_request(c->tmpl[n->svc_index], c->spec, c->plan, c->st, n, out, NULL, e) < 0)
		return -1;
	json_object_set_new(*out, "op", json_string("node.create"));
	json_object_set_new(*out, "image", json_string(c->image_digests[n->svc_index]));
	json_object_set_new(*out, "start", json_true());
	return 0;
}

/* Configs of the plan's nodes (see converge_configs), with the templates
 * loaded already. */
int cluster_configs_for(struct template *const *tmpl, const struct spec *s,
			const struct plan *p, const struct state *st,
			struct node_config *out, struct err *e)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_node *n = &p->nodes[i];
		const struct template *t = tmpl[n->svc_index];
		bool secrets = true;
		json_t *req;
		char *text;

		out[i].digest[0] = '\0';
		node_attrs_free(&out[i].attrs);
		for (size_t k = 0; k < t->nsecrets && secrets; k++) {
			_cleanup_free_ char *key = xasprintf("%s.%s", n->svc->name, t->secrets[k]);

			secrets = state_secret_get(st, key) != NULL;
		}
		if (!secrets) /* never brought up: nothing to compare with */
			continue;
		if (node_request(t, s, p, st, n, &req, &out[i].attrs, e) < 0)
			return err_wrap(e, "%s: render its config", n->id);
		text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(req);
		if (!text)
			abort(); /* only allocation fails here */
		digest_buf(text, strlen(text), out[i].digest);
		explicit_bzero(text, strlen(text)); /* rendered secrets */
		free(text);
	}
	return 0;
}

int converge_configs(const struct spec *s, const struct plan *p, const struct state *st,
		     struct node_config **out, struct err *e)
{
	struct template **tmpl = xcalloc(s->nservices + 1, sizeof *tmpl);
	int rc = 0;

	*out = xcalloc(p->n + 1, sizeof **out);
	for (size_t i = 0; i < s->nservices && rc == 0; i++)
		if (template_load(NULL, s->services[i].template, &tmpl[i], e) < 0)
			rc = err_wrap(e, "service %s", s->services[i].name);
	if (rc == 0)
		rc = cluster_configs_for(tmpl, s, p, st, *out, e);
	for (size_t i = 0; i < s->nservices; i++)
		template_free(tmpl[i]);
	free(tmpl);
	if (rc < 0) {
		node_configs_free(*out, p->n);
		*out = NULL;
	}
	return rc;
}

json_t *node_op_request(const char *op, const char *cluster, const char *node)
{
	return json_pack("{s:s, s:s, s:s}", "op", op, "cluster", cluster, "node", node);
}

/* Stop and remove a node on a host; keep its data unless purge. */
int cluster_remove_node(struct cluster *c, const char *host, const char *node, bool purge,
			struct err *e)
{
	struct fleet_host *h = fleet_host(c->fleet, host);
	json_t *req;

	if (!h)
		return err_set(e, ENOENT, "%s: host %s is not in the spec", node, host);
	req = node_op_request("node.remove", c->spec->name, node);
	json_object_set_new(req, "force", json_true());
	json_object_set_new(req, "keep_data", json_boolean(!purge));
	if (fleet_call(h, req, NULL, e) < 0 && e->code != ENOENT)
		return err_wrap(e, "remove %s", node);
	return 0;
}

/* Append an event to events.jsonl; fields (stolen) may be NULL.  A failure
 * to log is reported but does not stop the operation. */
void cluster_event(struct cluster *c, const char *type, json_t *fields)
{
	struct err e;

	if (c->lock && state_event(c->lock, type, fields, &e) < 0)
		log_warn("%s", e.msg);
	json_decref(fields);
}

const char *cluster_password(struct cluster *c, size_t svc)
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
