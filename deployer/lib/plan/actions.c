/* actions.c - plan vs state (vs observed) -> ordered actions; see actions.h. */
#include "actions.h"

#include <jansson.h>
#include <string.h>

#include "digest.h"
#include "util.h"

const char *action_kind_name(enum action_kind k)
{
	static const char *const names[] = {"push", "create", "change", "start", "form",
					    "join", "leave", "stop", "remove", "role"};

	return (unsigned)k < ARRAY_SIZE(names) ? names[k] : "?";
}

/* Actions are collected per step, then concatenated in step order. */
enum step { ST_PUSH, ST_CREATE, ST_CHANGE, ST_START, ST_MEMBERSHIP, ST_LEAVE, ST_STOP,
	    ST_REMOVE, ST_COUNT };

struct differ {
	const struct spec *s;
	const struct plan *p;
	const struct state *st;
	const char *const *images;
	const struct node_config *configs;
	const struct observed *obs;
	struct actions step[ST_COUNT];
};

static struct action *add(struct differ *d, enum step st, enum action_kind k)
{
	struct actions *a = &d->step[st];

	a->items = xgrow(a->items, &a->cap, a->n + 1, sizeof *a->items);
	struct action *x = &a->items[a->n++];
	memset(x, 0, sizeof *x);
	x->kind = k;
	return x;
}

static const struct observed_node *observed_at(const struct differ *d, const char *id,
					       const char *host)
{
	for (size_t i = 0; d->obs && i < d->obs->n; i++)
		if (!strcmp(d->obs->nodes[i].id, id) &&
		    (!host || !strcmp(d->obs->nodes[i].host, host)))
			return &d->obs->nodes[i];
	return NULL;
}

static const char *image_of(const struct differ *d, size_t svc)
{
	if (d->images)
		return d->images[svc];
	return d->s->services[svc].image;
}

static void push_once(struct differ *d, const char *host, const char *image,
		      const char *service)
{
	struct actions *a = &d->step[ST_PUSH];

	if (!image)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->items[i].host, host) && !strcmp(a->items[i].image, image))
			return;
	struct action *x = add(d, ST_PUSH, ACT_PUSH);
	x->host = host;
	x->image = image;
	x->service = service;
}

static void set_target(const struct differ *d, struct action *x, const struct plan_node *n)
{
	x->node = n->id;
	x->service = n->svc->name;
	x->host = n->host->name;
	x->address = n->host->address;
	x->port = n->port;
	x->want = n;
	x->image = image_of(d, n->svc_index);
}

static void role_detail(const struct differ *d, const struct plan_node *n, char *out,
			size_t len)
{
	if (n->role == ROLE_REPLICA)
		snprintf(out, len, "replica of %s", d->p->nodes[n->master].id);
	else if (n->role == ROLE_MASTER)
		snprintf(out, len, "master of shard %d", n->shard);
	else
		snprintf(out, len, "%s", node_role_name(n->role));
}

void node_configs_free(struct node_config *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		node_attrs_free(&c[i].attrs);
	free(c);
}

/* Call f for each attribute whose value differs between a (recorded) and b
 * (planned), in name order; a side without it passes NULL.  Returns how
 * many differ. */
static size_t attrs_diff(const struct node_attrs *a, const struct node_attrs *b,
			 void (*f)(void *, const char *, const char *, const char *), void *ctx)
{
	size_t i = 0, k = 0, n = 0;

	while (i < a->n || k < b->n) {
		int c = i == a->n ? 1 : k == b->n ? -1 : strcmp(a->items[i].name, b->items[k].name);

		if (c < 0) {
			f(ctx, a->items[i].name, a->items[i].value, NULL);
			i++, n++;
		} else if (c > 0) {
			f(ctx, b->items[k].name, NULL, b->items[k].value);
			k++, n++;
		} else {
			if (strcmp(a->items[i].value, b->items[k].value)) {
				f(ctx, a->items[i].name, a->items[i].value, b->items[k].value);
				n++;
			}
			i++, k++;
		}
	}
	return n;
}

struct detail_ctx {
	char *out;
	size_t size, used;
	bool files;    /* this pass: the template's files (else the rest) */
	size_t shown;
};

#define ATTR_FILE_PREFIX "template.file "
#define ATTR_VALUE_MAX 40

static void detail_add(void *p, const char *name, const char *from, const char *to)
{
	struct detail_ctx *c = p;
	bool file = !strncmp(name, ATTR_FILE_PREFIX, strlen(ATTR_FILE_PREFIX));
	int w;

	if (file != c->files || c->used >= c->size)
		return;
	if (file) /* a digest says nothing to a reader: only that it changed */
		w = snprintf(c->out + c->used, c->size - c->used, "%s%s changed",
			     c->shown ? ", " : "template file ",
			     name + strlen(ATTR_FILE_PREFIX));
	else
		w = snprintf(c->out + c->used, c->size - c->used, "%s%s: %.*s%s -> %.*s%s",
			     c->shown ? ", " : "", name, ATTR_VALUE_MAX, from ? from : "(none)",
			     from && strlen(from) > ATTR_VALUE_MAX ? "..." : "", ATTR_VALUE_MAX,
			     to ? to : "(none)", to && strlen(to) > ATTR_VALUE_MAX ? "..." : "");
	c->used = w < 0 ? c->size : c->used + (size_t)w;
	c->shown++;
}

/* The detail of a change of config: the attributes that differ (the
 * template's files only when nothing else explains the change). */
static void config_detail(const struct node_attrs *have, const struct node_attrs *want,
			  char *out, size_t size)
{
	struct detail_ctx c = {.out = out, .size = size};

	out[0] = '\0';
	if (!have->n || !want->n) {
		snprintf(out, size, "config changed (settings, resources or template)");
		return;
	}
	attrs_diff(have, want, detail_add, &c);
	if (!c.shown) {
		c.files = true;
		attrs_diff(have, want, detail_add, &c);
	}
	if (!c.shown)
		snprintf(out, size, "config changed (template)");
	else if (c.used < size)
		snprintf(out + c.used, size - c.used, "; restart");
	if (c.used >= size - 1 && size > 4) /* cut: say so */
		memcpy(out + size - 4, "...", 4);
}

/* Was any node of this service recorded (its cluster is formed)? */
static bool service_formed(const struct differ *d, const char *service)
{
	for (size_t i = 0; i < d->st->n; i++)
		if (!strcmp(d->st->nodes[i].service, service))
			return true;
	return false;
}

/* A sharded node recorded with another role, or following another master,
 * than the plan gives it: one ACT_ROLE, "master -> replica of cache-0".
 * A replica recorded without its master (a state written by hand or cut
 * short) is not a change: the plan's master is recorded on the next write. */
static void diff_role(struct differ *d, const struct plan_node *n,
		      const struct state_node *have)
{
	int was = have && have->role ? node_role_parse(have->role) : -1;
	const char *want_master = n->role == ROLE_REPLICA ? d->p->nodes[n->master].id : NULL;
	char from[64];

	if ((was != ROLE_MASTER && was != ROLE_REPLICA) ||
	    (n->role != ROLE_MASTER && n->role != ROLE_REPLICA))
		return;
	if (was == (int)n->role &&
	    (n->role == ROLE_MASTER || !have->master || !strcmp(have->master, want_master)))
		return;
	if (was == ROLE_REPLICA)
		snprintf(from, sizeof from, "replica of %s", have->master ? have->master : "?");
	else
		snprintf(from, sizeof from, "master");
	struct action *x = add(d, ST_MEMBERSHIP, ACT_ROLE);
	set_target(d, x, n);
	x->have = have;
	if (n->role == ROLE_REPLICA)
		snprintf(x->detail, sizeof x->detail, "%s -> replica of %s", from, want_master);
	else
		snprintf(x->detail, sizeof x->detail, "%s -> master", from);
}

static void diff_desired(struct differ *d, const struct plan_node *n, bool formed,
			 bool *form_needed)
{
	const struct state_node *have = state_find(d->st, n->id);
	const char *image = image_of(d, n->svc_index);
	bool on_target, need_join;
	struct action *x;

	if (d->obs)
		on_target = observed_at(d, n->id, n->host->name) != NULL;
	else
		on_target = have && !strcmp(have->host, n->host->name);
	diff_role(d, n, have);

	if (on_target && have && strcmp(have->host, n->host->name)) {
		/* a move a stopped run began: the node was created on its new
		 * host but is still recorded on the old one.  The record says
		 * nothing about the new container; its image is compared. */
		const struct observed_node *ob = observed_at(d, n->id, n->host->name);
		bool same = !image || !digest_valid(image) || !ob->image || !strcmp(ob->image, image);

		if (!same)
			push_once(d, n->host->name, image, n->svc->name);
		x = add(d, ST_CHANGE, ACT_CHANGE);
		set_target(d, x, n);
		x->have = have;
		x->adopt = same;
		snprintf(x->detail, sizeof x->detail, "host %s -> %s%s", have->host, n->host->name,
			 same ? " (already created there)" : "");
		need_join = true;
	} else if (on_target) {
		const struct observed_node *ob = observed_at(d, n->id, n->host->name);
		/* only digests can be compared; a recipe or reference name
		 * says nothing about what was built from it */
		bool image_changed = have && have->image && image && digest_valid(image) &&
				     digest_valid(have->image) && strcmp(have->image, image);
		const struct node_config *cfg = d->configs ? &d->configs[n - d->p->nodes] : NULL;
		const char *config = cfg ? cfg->digest : "";
		/* a node recorded before configs were, takes its digest quietly */
		bool config_changed = have && have->config && *config &&
				      strcmp(have->config, config);

		need_join = !have;
		if (have && (have->port != n->port || image_changed || config_changed)) {
			if (image_changed) /* else the host has it */
				push_once(d, n->host->name, image, n->svc->name);
			x = add(d, ST_CHANGE, ACT_CHANGE);
			set_target(d, x, n);
			x->have = have;
			x->in_place = have->port == n->port;
			if (have->port != n->port)
				snprintf(x->detail, sizeof x->detail, "port %d -> %d", have->port,
					 n->port);
			else if (image_changed)
				snprintf(x->detail, sizeof x->detail, "image %.19s -> %.19s%s",
					 have->image, image, config_changed ? ", config" : "");
			else
				config_detail(&have->attrs, &cfg->attrs, x->detail,
					      sizeof x->detail);
			if (config_changed && have->attrs.n && cfg->attrs.n)
				x->want_attrs = &cfg->attrs;
		} else if (ob && !ob->running) {
			x = add(d, ST_START, ACT_START);
			set_target(d, x, n);
			x->have = have;
			snprintf(x->detail, sizeof x->detail, "stopped on its host");
		}
	} else if (have && strcmp(have->host, n->host->name)) {
		push_once(d, n->host->name, image, n->svc->name);
		x = add(d, ST_CHANGE, ACT_CHANGE);
		set_target(d, x, n);
		x->have = have;
		snprintf(x->detail, sizeof x->detail, "host %s -> %s", have->host, n->host->name);
		need_join = true;
	} else {
		push_once(d, n->host->name, image, n->svc->name);
		x = add(d, ST_CREATE, ACT_CREATE);
		set_target(d, x, n);
		x->have = have;
		role_detail(d, n, x->detail, sizeof x->detail);
		if (have)
			snprintf(x->detail + strlen(x->detail), sizeof x->detail - strlen(x->detail),
				 "; recorded but missing on %s", have->host);
		need_join = true; /* a fresh container: (re)join it */
	}
	if (!need_join)
		return;
	if (!formed) {
		*form_needed = true;
		return;
	}
	x = add(d, ST_MEMBERSHIP, ACT_JOIN);
	set_target(d, x, n);
	x->have = have;
	role_detail(d, n, x->detail, sizeof x->detail);
}

static void diff_removed(struct differ *d, const struct state_node *have)
{
	static const struct {
		enum step st;
		enum action_kind k;
	} steps[] = {{ST_LEAVE, ACT_LEAVE}, {ST_STOP, ACT_STOP}, {ST_REMOVE, ACT_REMOVE}};

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct action *x = add(d, steps[i].st, steps[i].k);

		x->node = have->id;
		x->service = have->service;
		x->host = have->host;
		x->address = have->address;
		x->port = have->port;
		x->have = have;
		snprintf(x->detail, sizeof x->detail, "not in the spec");
	}
}

int actions_diff(const struct spec *s, const struct plan *p, const struct state *st,
		 const char *const *images, const struct node_config *configs,
		 const struct observed *obs, struct actions *out, struct err *e)
{
	struct differ d = {.s = s, .p = p, .st = st, .images = images, .configs = configs,
			   .obs = obs};

	(void)e;
	memset(out, 0, sizeof *out);
	for (size_t k = 0; k < p->nsvc; k++) {
		bool formed = service_formed(&d, s->services[k].name), form = false;

		/* masters (and unsharded nodes) first, then replicas */
		for (int pass = 0; pass < 2; pass++)
			for (size_t i = p->svc_first[k]; i < p->svc_first[k + 1]; i++)
				if ((p->nodes[i].role == ROLE_REPLICA) == (pass == 1))
					diff_desired(&d, &p->nodes[i], formed, &form);
		if (form) {
			struct action *x = add(&d, ST_MEMBERSHIP, ACT_FORM);
			size_t n = p->svc_first[k + 1] - p->svc_first[k], masters = 0;

			for (size_t i = p->svc_first[k]; i < p->svc_first[k + 1]; i++)
				masters += p->nodes[i].role == ROLE_MASTER;
			x->node = x->service = s->services[k].name;
			if (masters)
				snprintf(x->detail, sizeof x->detail, "%zu masters, %zu replicas",
					 masters, n - masters);
			else
				snprintf(x->detail, sizeof x->detail, "%zu nodes", n);
		}
	}
	for (size_t i = 0; i < st->n; i++)
		if (!plan_find(p, st->nodes[i].id))
			diff_removed(&d, &st->nodes[i]);
	/* orphans: containers nobody recorded or planned there */
	for (size_t i = 0; obs && i < obs->n; i++) {
		const struct observed_node *ob = &obs->nodes[i];
		const struct plan_node *want = plan_find(p, ob->id);
		const struct state_node *have = state_find(st, ob->id);

		if ((want && !strcmp(want->host->name, ob->host)) ||
		    (have && !strcmp(have->host, ob->host)))
			continue;
		struct action *x = add(&d, ST_REMOVE, ACT_REMOVE);
		x->node = ob->id;
		x->host = ob->host;
		snprintf(x->detail, sizeof x->detail, "orphan: not recorded or planned on %s",
			 ob->host);
	}

	for (int st_i = 0; st_i < ST_COUNT; st_i++) {
		struct actions *a = &d.step[st_i];

		for (size_t i = 0; i < a->n; i++) {
			out->items = xgrow(out->items, &out->cap, out->n + 1, sizeof *out->items);
			out->items[out->n++] = a->items[i];
			switch (a->items[i].kind) {
			case ACT_CREATE: out->creates++; break;
			case ACT_CHANGE:
			case ACT_ROLE: out->changes++; break;
			case ACT_REMOVE: out->removes++; break;
			default: out->others++; break;
			}
		}
		free(a->items);
	}
	return 0;
}

void actions_free(struct actions *a)
{
	if (!a)
		return;
	free(a->items);
	memset(a, 0, sizeof *a);
}

bool actions_empty(const struct actions *a)
{
	return a->n == 0;
}

const struct action *actions_role_change(const struct actions *a)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->items[i].kind == ACT_ROLE)
			return &a->items[i];
	return NULL;
}

static char sign(enum action_kind k)
{
	switch (k) {
	case ACT_CHANGE:
	case ACT_ROLE:
	case ACT_START: return '~';
	case ACT_LEAVE:
	case ACT_STOP:
	case ACT_REMOVE: return '-';
	default: return '+';
	}
}

void actions_print(const struct actions *a, FILE *f)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct action *x = &a->items[i];

		fprintf(f, "%c %s ", sign(x->kind), action_kind_name(x->kind));
		switch (x->kind) {
		case ACT_PUSH: {
			/* A digest is shown abbreviated (its first 12 hex
			 * digits), after the image's name when known. */
			const char *img = x->image;
			int len = !strncmp(img, "sha256:", 7) && strlen(img) > 7 + 12 ? 7 + 12
										  : (int)strlen(img);

			if (x->image_name[0])
				fprintf(f, "%s (%.*s) to %s", x->image_name, len, img, x->host);
			else
				fprintf(f, "%.*s to %s", len, img, x->host);
			break;
		}
		case ACT_FORM:
			fprintf(f, "%s", x->service);
			break;
		case ACT_JOIN:
			fprintf(f, "%s to %s", x->node, x->service);
			break;
		case ACT_LEAVE:
			fprintf(f, "%s from %s", x->node, x->service ? x->service : "its cluster");
			break;
		case ACT_STOP:
			fprintf(f, "%s on %s", x->node, x->host);
			break;
		case ACT_REMOVE:
			fprintf(f, "%s from %s", x->node, x->host);
			break;
		default:
			fprintf(f, "%s on %s (%s:%d)", x->node, x->host, x->address, x->port);
			break;
		}
		if (x->detail[0])
			fprintf(f, "%s%s", x->kind == ACT_CHANGE || x->kind == ACT_ROLE ? ": " : ", ",
				x->detail);
		fputc('\n', f);
	}
	if (actions_empty(a))
		fprintf(f, "No changes: the cluster matches the spec.\n");
	else
		fprintf(f, "Plan: %zu to create, %zu to change, %zu to remove.\n", a->creates,
			a->changes, a->removes);
}

static void json_attr_add(void *p, const char *name, const char *from, const char *to)
{
	json_array_append_new(p, json_pack("{s:s, s:o, s:o}", "name", name, "from",
					   from ? json_string(from) : json_null(), "to",
					   to ? json_string(to) : json_null()));
}

void *actions_json(const struct actions *a)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < a->n; i++) {
		const struct action *x = &a->items[i];
		json_t *o = json_pack("{s:s}", "action", action_kind_name(x->kind));

		if (x->node)
			json_object_set_new(o, "node", json_string(x->node));
		if (x->service)
			json_object_set_new(o, "service", json_string(x->service));
		if (x->host)
			json_object_set_new(o, "host", json_string(x->host));
		if (x->address)
			json_object_set_new(o, "address", json_string(x->address));
		if (x->port)
			json_object_set_new(o, "port", json_integer(x->port));
		if (x->image)
			json_object_set_new(o, "image", json_string(x->image));
		if (x->detail[0])
			json_object_set_new(o, "detail", json_string(x->detail));
		if (x->kind == ACT_CHANGE)
			json_object_set_new(o, "in_place", json_boolean(x->in_place));
		if (x->want_attrs && x->have) {
			json_t *attrs = json_array();

			attrs_diff(&x->have->attrs, x->want_attrs, json_attr_add, attrs);
			json_object_set_new(o, "attributes", attrs);
		}
		json_array_append_new(arr, o);
	}
	return json_pack("{s:o, s:I, s:I, s:I, s:b}", "actions", arr, "create",
			 (json_int_t)a->creates, "change", (json_int_t)a->changes, "remove",
			 (json_int_t)a->removes, "changes", !actions_empty(a));
}
