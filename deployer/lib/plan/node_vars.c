/* node_vars.c - the template variables of one planned node (node_vars.h). */
#include "node_vars.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void set_int(struct tmpl_vars *v, const char *key, long long x)
{
	char b[32];

	snprintf(b, sizeof b, "%lld", x);
	tmpl_vars_set(v, key, b);
}

int template_node_vars(const struct template *t, const struct spec *s,
		       const struct plan *p, const struct plan_node *n,
		       const struct kvlist *secrets, struct tmpl_vars *out,
		       struct err *e)
{
	const struct spec_service *svc = n->svc;
	struct buf seeds = {0}, endpoints = {0};
	size_t first = p->svc_first[n->svc_index], end = p->svc_first[n->svc_index + 1];

	tmpl_vars_set(out, "cluster.name", s->name);
	tmpl_vars_set(out, "service.name", svc->name);
	for (size_t i = first; i < end; i++) {
		const struct plan_node *m = &p->nodes[i];

		if (m->role != ROLE_SEED && m->role != ROLE_MASTER)
			continue;
		buf_printf(&seeds, "%s%s", seeds.len ? "," : "", m->host->address);
		buf_printf(&endpoints, "%s%s:%d", endpoints.len ? "," : "", m->host->address,
			   m->port);
	}
	tmpl_vars_set(out, "service.seeds", seeds.data ? seeds.data : "");
	tmpl_vars_set(out, "service.seed_endpoints", endpoints.data ? endpoints.data : "");
	buf_free(&seeds);
	buf_free(&endpoints);
	tmpl_vars_set(out, "node.id", n->id);
	set_int(out, "node.index", n->index);
	tmpl_vars_set(out, "node.host", n->host->name);
	tmpl_vars_set(out, "node.address", n->host->address);
	set_int(out, "node.port", n->port);
	set_int(out, "node.bus_port", n->bus_port);
	tmpl_vars_set(out, "node.rack", n->host->rack ? n->host->rack : "default");
	tmpl_vars_set(out, "node.zone", n->host->zone ? n->host->zone : "default");
	tmpl_vars_set(out, "node.role", node_role_name(n->role));
	tmpl_vars_set(out, "node.data_dir", t->data_dir);
	set_int(out, "node.memory", (long long)n->memory);
	for (size_t i = 0; i < t->nsettings; i++) {
		char *k = xasprintf("settings.%s", t->settings[i].key);

		tmpl_vars_set(out, k, kvlist_get(&svc->settings, t->settings[i].key,
						 t->settings[i].value));
		free(k);
	}
	for (size_t i = 0; i < svc->settings.n; i++) {
		char *k = xasprintf("settings.%s", svc->settings.items[i].key);

		tmpl_vars_set(out, k, svc->settings.items[i].value);
		free(k);
	}
	for (size_t i = 0; i < t->nsecrets; i++) {
		char *key = xasprintf("%s.%s", svc->name, t->secrets[i]);
		const char *val = secrets ? kvlist_get(secrets, key, NULL) : NULL;
		char *k;

		if (!val) {
			err_set(e, ENOENT, "%s: secret '%s' (declared by %s) is not in the state",
				n->id, key, t->path);
			free(key);
			return -1;
		}
		free(key);
		k = xasprintf("secret.%s", t->secrets[i]);
		tmpl_vars_set(out, k, val);
		free(k);
	}
	for (size_t i = 0; i < out->n; i++)
		if (tmpl_has_control(out->vals[i]))
			return err_usage(e, "%s: value of '%s' has a control character", n->id,
					 out->keys[i]);
	return 0;
}
