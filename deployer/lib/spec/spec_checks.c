/* spec_checks.c - step 3 of loading a spec: rules across keys (spec_int.h). */
#include "spec_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "template.h"
#include "util.h"

/* ==== step 3: checks across keys =========================================== */

/* file:line of a key under the setting at `root` ("services.[1]"), falling
 * back to `fallback` when it is absent. */
static struct spec_loc key_loc(struct load *L, const struct spec_loc *fallback,
			       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct spec_loc key_loc(struct load *L, const struct spec_loc *fallback,
			       const char *fmt, ...)
{
	char p[256];
	const config_setting_t *c;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof p, fmt, ap);
	va_end(ap);
	c = config_lookup(&L->cfg, p);
	return c ? sp_loc_of(L, c) : *fallback;
}

void sp_check_cluster(struct load *L)
{
	const char *n = L->s->name;

	if (!n)
		return;
	for (const char *p = n; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (p > n && ((*p >= '0' && *p <= '9') || *p == '-')))
			continue;
		struct spec_loc at = key_loc(L, &(struct spec_loc){L->s->files[0], 0}, "name");

		problem(L, &at, "name",
			"cluster name '%s' must match [a-z][a-z0-9-]* (bad '%c' at offset %d)",
			n, *p, (int)(p - n));
		return;
	}
}

void sp_check_hosts(struct load *L)
{
	struct spec *s = L->s;

	for (size_t i = 0; i < s->nhosts; i++) {
		struct spec_host *h = &s->hosts[i];
		char path[64];

		if (!h->port)
			h->port = s->ssh.port;
		if (!h->user && s->ssh.user)
			h->user = xstrdup(s->ssh.user);
		for (size_t j = 0; j < i; j++) {
			const struct spec_host *o = &s->hosts[j];

			if (h->name && o->name && !strcmp(h->name, o->name)) {
				struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].name", i);

				snprintf(path, sizeof path, "hosts[%zu].name", i);
				problem(L, &at, path, "duplicate host name '%s' (first at %s:%d)",
					h->name, o->loc.file, o->loc.line);
			}
			if (h->address && o->address && !strcasecmp(h->address, o->address)) {
				struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].address", i);

				snprintf(path, sizeof path, "hosts[%zu].address", i);
				problem(L, &at, path,
					"address %s is already host '%s' (%s:%d)", h->address,
					o->name ? o->name : "?", o->loc.file, o->loc.line);
			}
		}
		if (h->transport == TRANSPORT_LOCAL && h->address && s->nhosts > 1 &&
		    !sp_is_loopback(h->address)) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].address", i);

			snprintf(path, sizeof path, "hosts[%zu].address", i);
			problem(L, &at, path,
				"transport \"local\" runs on this machine: address must be "
				"loopback (127.0.0.1, ::1, localhost) when there are other hosts, not %s",
				h->address);
		}
		if (h->memory && h->reserve_memory >= h->memory) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].reserve.memory", i);
			struct buf b = {0};

			sp_fmt_size(&b, h->reserve_memory);
			buf_puts(&b, " reserved of ");
			sp_fmt_size(&b, h->memory);
			snprintf(path, sizeof path, "hosts[%zu].reserve.memory", i);
			problem(L, &at, path, "%s leaves nothing for nodes", b.data);
			buf_free(&b);
		}
		if (h->cpus_milli && h->reserve_cpus_milli >= h->cpus_milli) {
			struct spec_loc at = key_loc(L, &h->loc, "hosts.[%zu].reserve.cpus", i);

			snprintf(path, sizeof path, "hosts[%zu].reserve.cpus", i);
			problem(L, &at, path, "reserves %dm of %dm CPUs, leaving nothing for nodes",
				h->reserve_cpus_milli, h->cpus_milli);
		}
	}
}

static bool host_eligible(const struct spec_host *h, const struct spec_service *sv)
{
	for (size_t i = 0; i < sv->placement.require.n; i++) {
		const struct kv *r = &sv->placement.require.items[i];
		const char *v = kvlist_get(&h->labels, r->key, NULL);

		if (!v || strcmp(v, r->value))
			return false;
	}
	return true;
}

static size_t eligible_hosts(const struct spec *s, const struct spec_service *sv)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nhosts; i++)
		n += host_eligible(&s->hosts[i], sv);
	return n;
}

static bool template_known(struct load *L, const char *name)
{
	_cleanup_free_ char *p = xasprintf("%s/templates/%s/template.cfg", L->data_dir, name);
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A service without its own image runs its template's; when that is a
 * recipe, it must exist (as `plan` and `up` build it). */
static void check_default_image(struct load *L, size_t i, const struct template *t,
				const struct spec_loc *at, const char *path)
{
	const struct spec_service *sv = &L->s->services[i];
	_cleanup_free_ char *recipe = NULL;
	struct stat st;

	if (sv->image || !t->image || strlen(t->image) < 4 ||
	    strcmp(t->image + strlen(t->image) - 4, ".cfg"))
		return;
	recipe = path_join(L->data_dir, t->image);
	if (stat(recipe, &st) == 0 && S_ISREG(st.st_mode))
		return;
	problem(L, at, path,
		"template '%s' runs image recipe %s unless the service names an image: %s "
		"(set services[%zu].image, e.g. to a NAME:TAG imported with 'shoal image import')",
		sv->template, recipe, stat(recipe, &st) < 0 ? strerror(errno) : "not a regular file",
		i);
}

/* Load the template of service i into *t, or report why it cannot be used
 * (*t stays NULL and the checks that need it are skipped). */
static void check_template(struct load *L, size_t i, struct template **t)
{
	const struct spec_service *sv = &L->s->services[i];
	struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].template", i);
	_cleanup_free_ char *tdir = path_join(L->data_dir, "templates");
	const char *names[64], *sug = NULL;
	struct err e = {0};
	struct dirent *de;
	size_t n = 0;
	char path[64];
	DIR *d;

	if (!sv->template)
		return;
	snprintf(path, sizeof path, "services[%zu].template", i);
	if (template_known(L, sv->template)) {
		if (template_load(L->data_dir, sv->template, t, &e) < 0)
			problem(L, &at, path, "template '%s' cannot be used: %s", sv->template,
				e.msg);
		else
			check_default_image(L, i, *t, &at, path);
		return;
	}
	d = opendir(tdir);
	while (d && (de = readdir(d)) && n < ARRAY_SIZE(names))
		if (de->d_name[0] != '.' && template_known(L, de->d_name))
			names[n++] = xstrdup(de->d_name);
	if (d)
		closedir(d);
	sug = sp_closest(sv->template, names, n);
	if (sug)
		problem(L, &at, path,
			"unknown template '%s' (no %s/%s/template.cfg); did you mean '%s'?",
			sv->template, tdir, sv->template, sug);
	else {
		struct buf known = {0};

		for (size_t k = 0; k < n; k++)
			buf_printf(&known, "%s%s", k ? ", " : "", names[k]);
		problem(L, &at, path, "unknown template '%s' (no %s/%s/template.cfg); known: %s",
			sv->template, tdir, sv->template, n ? known.data : "none");
		buf_free(&known);
	}
	for (size_t k = 0; k < n; k++)
		free((char *)names[k]);
}

static void check_shards(struct load *L, size_t i, const struct template *t)
{
	const struct spec_service *sv = &L->s->services[i];
	struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].nodes", i);
	int per = sv->replicas + 1;
	const struct tmpl_kind *k;
	char path[64];

	snprintf(path, sizeof path, "services[%zu].nodes", i);
	if (!t || !t->kind || !sv->nodes)
		return;
	k = template_kind(t->kind);
	if (k && k->sharded) {
		if (sv->nodes < per) {
			problem(L, &at, path,
				"%d nodes cannot hold one shard of 1 master + %d replica(s)",
				sv->nodes, sv->replicas);
		} else if (sv->nodes % per) {
			problem(L, &at, path,
				"%d nodes is not a multiple of replicas+1 = %d (1 master + %d replica(s) per shard)",
				sv->nodes, per, sv->replicas);
		} else if (sv->nodes / per < k->min_masters) {
			problem(L, &at, path,
				"a %s cluster needs at least %d masters; %d nodes with replicas = %d "
				"give %d (use at least %d nodes)",
				k->title, k->min_masters, sv->nodes, sv->replicas, sv->nodes / per,
				k->min_masters * per);
		}
		return;
	}
	snprintf(path, sizeof path, "services[%zu].replicas", i);
	at = key_loc(L, &sv->loc, "services.[%zu].replicas", i);
	if (sv->replicas < 1)
		problem(L, &at, path, "replication factor must be at least 1 for %s",
			sv->template);
	else if (sv->replicas > sv->nodes)
		problem(L, &at, path, "replication factor %d needs at least %d nodes, not %d",
			sv->replicas, sv->replicas, sv->nodes);
}

/* A service may only set what its template declares in its settings group
 * (every setting a template's files use has a default there), so a typo
 * cannot be silently ignored. */
static void check_settings(struct load *L, size_t i, const struct template *t)
{
	const struct spec_service *sv = &L->s->services[i];
	const char *names[SPEC_MAP_MAX];
	size_t nnames = 0;

	if (!t)
		return;
	for (size_t j = 0; j < t->nsettings && nnames < ARRAY_SIZE(names); j++)
		names[nnames++] = t->settings[j].key;
	for (size_t k = 0; k < sv->settings.n; k++) {
		const struct kv *kv = &sv->settings.items[k];
		const char *sug;
		struct buf known = {0};
		char path[128];
		bool ok = false;

		for (size_t j = 0; j < nnames; j++)
			ok = ok || !strcmp(kv->key, names[j]);
		if (ok)
			continue;
		for (size_t j = 0; j < nnames; j++)
			buf_printf(&known, "%s%s", j ? ", " : "", names[j]);
		snprintf(path, sizeof path, "services[%zu].settings.%s", i, kv->key);
		sug = sp_closest(kv->key, names, nnames);
		if (sug)
			problem(L, &kv->loc, path,
				"template '%s' has no setting '%s'; did you mean '%s'?",
				sv->template, kv->key, sug);
		else
			problem(L, &kv->loc, path, "template '%s' has no setting '%s' (it has: %s)",
				sv->template, kv->key, known.len ? known.data : "none");
		buf_free(&known);
	}
}

static void check_placement(struct load *L, size_t i)
{
	const struct spec *s = L->s;
	const struct spec_service *sv = &s->services[i];
	size_t n = eligible_hosts(s, sv);
	char path[64];

	if (s->nhosts == 0)
		return;
	if (n == 0) {
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].placement.require", i);

		snprintf(path, sizeof path, "services[%zu].placement.require", i);
		problem(L, &at, path, "no host has all the required labels");
		return;
	}
	if (sv->placement.max_per_host && sv->nodes &&
	    (size_t)sv->nodes > (size_t)sv->placement.max_per_host * n) {
		struct spec_loc at =
			key_loc(L, &sv->loc, "services.[%zu].placement.max_per_host", i);

		snprintf(path, sizeof path, "services[%zu].placement.max_per_host", i);
		problem(L, &at, path, "%d nodes at most %d per host need %d hosts; %zu are eligible",
			sv->nodes, sv->placement.max_per_host,
			(sv->nodes + sv->placement.max_per_host - 1) / sv->placement.max_per_host, n);
	}
}

/* Sum of what nodes may use on the hosts a service may use. */
static void host_capacity(const struct spec *s, const struct spec_service *sv,
			  uint64_t *mem, int64_t *cpus, uint64_t *max_mem, int64_t *max_cpus)
{
	*mem = 0, *cpus = 0, *max_mem = 0, *max_cpus = 0;
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct spec_host *h = &s->hosts[i];
		uint64_t m = h->memory > h->reserve_memory ? h->memory - h->reserve_memory : 0;
		int64_t c = h->cpus_milli > h->reserve_cpus_milli
				    ? h->cpus_milli - h->reserve_cpus_milli
				    : 0;

		if (sv && !host_eligible(h, sv))
			continue;
		*mem += m, *cpus += c;
		if (m > *max_mem)
			*max_mem = m;
		if (c > *max_cpus)
			*max_cpus = c;
	}
}

static void capacity_problem(struct load *L, const struct spec_loc *at, const char *path,
			     const char *what, uint64_t need, uint64_t have, bool size)
{
	struct buf b = {0};

	buf_printf(&b, "%s: ", what);
	if (size)
		sp_fmt_size(&b, need);
	else
		sp_fmt_value(&b, KT_CPUS, (int64_t)need);
	buf_puts(&b, " needed but ");
	if (size)
		sp_fmt_size(&b, have);
	else
		sp_fmt_value(&b, KT_CPUS, (int64_t)have);
	buf_puts(&b, " available (after host reserves)");
	problem(L, at, path, "%s", b.data);
	buf_free(&b);
}

void sp_check_capacity(struct load *L)
{
	const struct spec *s = L->s;
	uint64_t all_mem, need_mem = 0, max_mem;
	int64_t all_cpus, need_cpus = 0, max_cpus;
	bool each_fits = true;

	if (!s->nhosts || !s->nservices)
		return;
	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];
		uint64_t mem, m1;
		int64_t cpus, c1;
		uint64_t nm = (uint64_t)sv->nodes * sv->resources.memory;
		int64_t nc = (int64_t)sv->nodes * sv->resources.cpus_milli;
		char path[96];

		host_capacity(s, sv, &mem, &cpus, &m1, &c1);
		if (!mem)
			continue;
		snprintf(path, sizeof path, "services[%zu].resources.memory", i);
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].resources.memory", i);

		if (sv->resources.memory > m1 || nm > mem)
			each_fits = false;
		if (sv->resources.memory > m1)
			capacity_problem(L, &at, path, "one node does not fit on any host",
					 sv->resources.memory, m1, true);
		else if (nm > mem)
			capacity_problem(L, &at, path, "not enough memory for this service", nm,
					 mem, true);
		snprintf(path, sizeof path, "services[%zu].resources.cpus", i);
		at = key_loc(L, &sv->loc, "services.[%zu].resources.cpus", i);
		if (sv->resources.cpus_milli > c1 || nc > cpus)
			each_fits = false;
		if (sv->resources.cpus_milli > c1)
			capacity_problem(L, &at, path, "one node does not fit on any host",
					 (uint64_t)sv->resources.cpus_milli, (uint64_t)c1, false);
		else if (nc > cpus)
			capacity_problem(L, &at, path, "not enough CPUs for this service",
					 (uint64_t)nc, (uint64_t)cpus, false);
		need_mem += nm;
		need_cpus += nc;
	}
	host_capacity(s, NULL, &all_mem, &all_cpus, &max_mem, &max_cpus);
	/* Every service fits on its own, but not all of them together. */
	if (!each_fits)
		return;
	if (s->nservices > 1 && need_mem > all_mem) {
		struct spec_loc at = key_loc(L, &s->services[0].loc, "services");

		capacity_problem(L, &at, "services", "all services together need more memory",
				 need_mem, all_mem, true);
	}
	if (s->nservices > 1 && need_cpus > all_cpus) {
		struct spec_loc at = key_loc(L, &s->services[0].loc, "services");

		capacity_problem(L, &at, "services", "all services together need more CPUs",
				 (uint64_t)need_cpus, (uint64_t)all_cpus, false);
	}
}

/* Ports a service may take on one host: its client range and, for Redis,
 * the cluster bus range. */
struct port_range {
	int lo, hi;
	const char *what;
};

static int service_ranges(const struct spec_service *sv, const struct template *t,
			  struct port_range r[2])
{
	int span = sv->placement.max_per_host && sv->placement.max_per_host < sv->nodes
			   ? sv->placement.max_per_host
			   : sv->nodes;
	int base = sv->port_base ? sv->port_base : t ? t->client_port : 0;
	int n = 0;

	if (!base || !span)
		return 0;
	r[n++] = (struct port_range){base, base + span - 1, "client"};
	if (t && t->bus_offset)
		r[n++] = (struct port_range){base + t->bus_offset,
					     base + t->bus_offset + span - 1, "bus"};
	return n;
}

static bool share_a_host(const struct spec *s, const struct spec_service *a,
			 const struct spec_service *b)
{
	for (size_t i = 0; i < s->nhosts; i++)
		if (host_eligible(&s->hosts[i], a) && host_eligible(&s->hosts[i], b))
			return true;
	return false;
}

void sp_check_ports(struct load *L, struct template *const *tm)
{
	const struct spec *s = L->s;

	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];
		struct port_range r[2], o[2];
		int nr = service_ranges(sv, tm[i], r);
		struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].ports.base", i);
		char path[64];

		snprintf(path, sizeof path, "services[%zu].ports.base", i);
		for (int k = 0; k < nr; k++) {
			if (r[k].hi > 65535) {
				problem(L, &at, path, "%s ports %d..%d run past 65535", r[k].what,
					r[k].lo, r[k].hi);
				nr = 0;
			}
		}
		for (int k = 0; k < nr; k++) {
			for (size_t h = 0; h < s->nhosts; h++) {
				const struct spec_host *ho = &s->hosts[h];

				if (ho->transport != TRANSPORT_SSH || !host_eligible(ho, sv))
					continue;
				if (ho->port >= r[k].lo && ho->port <= r[k].hi) {
					problem(L, &at, path,
						"%s ports %d..%d include host '%s' SSH port %d",
						r[k].what, r[k].lo, r[k].hi, ho->name ? ho->name : "?",
						ho->port);
					break;
				}
			}
		}
		for (size_t j = 0; j < i; j++) {
			const struct spec_service *ov = &s->services[j];
			int no = service_ranges(ov, tm[j], o);

			if (!share_a_host(s, sv, ov))
				continue;
			for (int k = 0; k < nr; k++)
				for (int m = 0; m < no; m++)
					if (r[k].lo <= o[m].hi && o[m].lo <= r[k].hi)
						problem(L, &at, path,
							"%s ports %d..%d collide with service '%s' %s "
							"ports %d..%d on a shared host",
							r[k].what, r[k].lo, r[k].hi,
							ov->name ? ov->name : "?", o[m].what, o[m].lo,
							o[m].hi);
		}
	}
}

/* Also loads each service's template into tm[i] (NULL when unusable). */
void sp_check_services(struct load *L, struct template **tm)
{
	const struct spec *s = L->s;

	for (size_t i = 0; i < s->nservices; i++) {
		const struct spec_service *sv = &s->services[i];

		for (size_t j = 0; j < i; j++) {
			const struct spec_service *o = &s->services[j];

			if (sv->name && o->name && !strcmp(sv->name, o->name)) {
				struct spec_loc at = key_loc(L, &sv->loc, "services.[%zu].name", i);
				char path[64];

				snprintf(path, sizeof path, "services[%zu].name", i);
				problem(L, &at, path, "duplicate service name '%s' (first at %s:%d)",
					sv->name, o->loc.file, o->loc.line);
			}
		}
		check_template(L, i, &tm[i]);
		check_shards(L, i, tm[i]);
		check_settings(L, i, tm[i]);
		check_placement(L, i);
	}
}

void sp_check_monitor(struct load *L)
{
	const struct spec_monitor *m = &L->s->monitor;

	if (m->interval_ms && m->timeout_ms && m->timeout_ms >= m->interval_ms) {
		struct spec_loc at = key_loc(L, &(struct spec_loc){L->s->files[0], 0},
					     "monitor.timeout_ms");

		problem(L, &at, "monitor.timeout_ms",
			"timeout (%dms) must be shorter than interval_ms (%dms)", m->timeout_ms,
			m->interval_ms);
	}
}

void sp_check_state(struct load *L)
{
	const struct spec_state *st = &L->s->state;

	/* an endpoints array that is there but bad was reported already */
	if (st->backend == STATE_ETCD && st->nendpoints == 0 &&
	    (!config_lookup(&L->cfg, "state.endpoints") ||
	     !config_setting_length(config_lookup(&L->cfg, "state.endpoints")))) {
		struct spec_loc at = key_loc(L, &(struct spec_loc){L->s->files[0], 0},
					     "state.backend");

		problem(L, &at, "state.endpoints",
			"backend \"etcd\" needs at least one endpoint (e.g. endpoints = [\"http://10.0.0.5:2379\"];)");
	}
}
