/* template.c - template.cfg loader and `{{ var }}` renderer.
 * See template.h for the contract and docs/templates.md for the format. */
#include "template.h"

#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define TMPL_FILE_MAX (1u << 20)

const char *hook_kind_name(enum hook_kind k)
{
	static const char *const names[HOOK_COUNT] = {"form", "join", "leave", "replace"};

	return (unsigned)k < HOOK_COUNT ? names[k] : "?";
}

/* ---- key tables ------------------------------------------------------------
 * Every key a template.cfg may hold, by group.  A key not in its group's table
 * is an error, as is a key of the wrong type or a required key missing. */

enum ktype { K_STRING, K_INT, K_GROUP, K_STRLIST, K_GROUPLIST, K_HOOK, K_ANY_SCALAR };

struct key {
	const char *name;
	enum ktype type;
	bool required;
	const char *help;
};

static const struct key top_keys[] = {
	{"kind", K_STRING, true, "database kind: redis, cassandra, riak..."},
	{"image", K_STRING, true, "default node image recipe, relative to the data dir"},
	{"ports", K_GROUP, true, "client port and bus offset"},
	{"data_dir", K_STRING, true, "data folder inside the node"},
	{"files", K_GROUPLIST, false, "config files to render"},
	{"start", K_STRLIST, true, "start command argv"},
	{"stop", K_GROUP, true, "stop signal and grace period"},
	{"settings", K_GROUP, false, "defaults for settings.*"},
	{"secrets", K_STRLIST, false, "names of generated secrets"},
	{"syscalls", K_STRLIST, false, "syscalls allowed beyond the default seccomp list"},
	{"readiness", K_GROUP, true, "probe that says a node is ready"},
	{"health", K_GROUP, true, "probe that says a node is healthy"},
	{"hooks", K_GROUP, true, "form, join, leave, replace"},
};

static const struct key port_keys[] = {
	{"client", K_INT, true, "client port when the service sets no port_base"},
	{"bus_offset", K_INT, false, "bus port = client port + offset; 0 = none"},
};

static const struct key file_keys[] = {
	{"source", K_STRING, true, "template file, relative to the template folder"},
	{"dest", K_STRING, true, "absolute path inside the node"},
	{"mode", K_STRING, false, "octal file mode, default \"0644\""},
};

static const struct key stop_keys[] = {
	{"signal", K_STRING, true, "TERM, INT, QUIT, HUP, USR1, USR2 or KILL"},
	{"grace", K_STRING, true, "time before SIGKILL"},
};

static const struct key probe_keys[] = {
	{"kind", K_STRING, true, "redis, tcp, http or cql"},
	{"connect_timeout", K_STRING, true, "duration"},
	{"read_timeout", K_STRING, true, "duration"},
	{"interval", K_STRING, true, "duration between probes"},
	{"deadline", K_STRING, false, "give up after; \"0\" = never"},
	{"path", K_STRING, false, "http: request path"},
	{"expect", K_STRING, false, "http: expected body"},
	{"port", K_INT, false, "port to probe; default the client port"},
};

static const struct key hook_keys[] = {
	{"form", K_HOOK, true, "form the cluster from the first nodes"},
	{"join", K_HOOK, true, "add a node to a formed cluster"},
	{"leave", K_HOOK, true, "remove a node from the cluster"},
	{"replace", K_HOOK, true, "take a dead node's place"},
};

struct loader {
	const char *path;
	struct err *e;
};

static int at(struct loader *L, const config_setting_t *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int at(struct loader *L, const config_setting_t *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_usage(L->e, "%s:%u: %s", L->path,
			 c ? config_setting_source_line(c) : 0, msg);
}

static bool type_ok(const config_setting_t *c, enum ktype t)
{
	int ct = config_setting_type(c);

	switch (t) {
	case K_STRING: return ct == CONFIG_TYPE_STRING;
	case K_INT: return ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64;
	case K_GROUP: return ct == CONFIG_TYPE_GROUP;
	case K_STRLIST:
	case K_GROUPLIST:
		if (ct != CONFIG_TYPE_ARRAY && ct != CONFIG_TYPE_LIST)
			return false;
		for (int i = 0; i < config_setting_length(c); i++) {
			int et = config_setting_type(config_setting_get_elem(c, (unsigned)i));

			if (et != (t == K_STRLIST ? CONFIG_TYPE_STRING : CONFIG_TYPE_GROUP))
				return false;
		}
		return true;
	case K_HOOK: return ct == CONFIG_TYPE_STRING || type_ok(c, K_STRLIST);
	case K_ANY_SCALAR: return config_setting_is_scalar(c);
	}
	return false;
}

static const char *type_name(enum ktype t)
{
	switch (t) {
	case K_STRING: return "a string";
	case K_INT: return "an integer";
	case K_GROUP: return "a group { ... }";
	case K_STRLIST: return "a list of strings [ \"...\" ]";
	case K_GROUPLIST: return "a list of groups ( { ... } )";
	case K_HOOK: return "\"builtin:<step>\" or an argv list of strings";
	case K_ANY_SCALAR: return "a scalar";
	}
	return "?";
}

/* Check the members of group g against a key table. */
static int check_group(struct loader *L, const config_setting_t *g,
		       const char *where, const struct key *keys, size_t nkeys)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *c = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(c);
		size_t k;

		for (k = 0; k < nkeys && strcmp(keys[k].name, name); k++)
			;
		if (k == nkeys)
			return at(L, c, "unknown key '%s%s%s'", where, *where ? "." : "", name);
		if (!type_ok(c, keys[k].type))
			return at(L, c, "'%s%s%s' must be %s", where, *where ? "." : "", name,
				  type_name(keys[k].type));
	}
	for (size_t k = 0; k < nkeys; k++)
		if (keys[k].required && !config_setting_get_member(g, keys[k].name))
			return at(L, g, "'%s%s%s' is missing (%s)", where, *where ? "." : "",
				  keys[k].name, keys[k].help);
	return 0;
}

static const char *get_str(const config_setting_t *g, const char *name)
{
	const config_setting_t *c = config_setting_get_member(g, name);

	return c ? config_setting_get_string(c) : NULL;
}

static int get_duration(struct loader *L, const config_setting_t *g,
			const char *where, const char *name, int64_t *out)
{
	const config_setting_t *c = config_setting_get_member(g, name);

	*out = 0;
	if (!c)
		return 0;
	if (parse_duration_ms(config_setting_get_string(c), out) < 0 || *out < 0)
		return at(L, c, "'%s.%s': bad duration '%s' (like 250ms, 10s, 2m)", where,
			  name, config_setting_get_string(c));
	return 0;
}

static char **strlist(const config_setting_t *c, size_t *n)
{
	int len = c ? config_setting_length(c) : 0;
	char **v = xcalloc((size_t)len + 1, sizeof *v);

	for (int i = 0; i < len; i++)
		v[i] = xstrdup(config_setting_get_string_elem(c, i));
	if (n)
		*n = (size_t)len;
	return v;
}

static int load_probe(struct loader *L, const config_setting_t *g,
		      const char *where, struct tmpl_probe *p)
{
	int64_t v;
	int kind;

	if (check_group(L, g, where, probe_keys, ARRAY_SIZE(probe_keys)) < 0)
		return -1;
	kind = probe_kind_parse(get_str(g, "kind"));
	if (kind < 0)
		return at(L, config_setting_get_member(g, "kind"),
			  "'%s.kind': unknown probe '%s' (redis, tcp, http, cql)", where,
			  get_str(g, "kind"));
	p->kind = (enum probe_kind)kind;
	if (get_duration(L, g, where, "connect_timeout", &v) < 0)
		return -1;
	p->connect_timeout_ms = v > INT32_MAX ? INT32_MAX : (int)v;
	if (get_duration(L, g, where, "read_timeout", &v) < 0)
		return -1;
	p->read_timeout_ms = v > INT32_MAX ? INT32_MAX : (int)v;
	if (get_duration(L, g, where, "interval", &v) < 0)
		return -1;
	p->interval_ms = v > INT32_MAX ? INT32_MAX : (int)v;
	if (get_duration(L, g, where, "deadline", &p->deadline_ms) < 0)
		return -1;
	if (p->connect_timeout_ms <= 0 || p->read_timeout_ms <= 0 || p->interval_ms <= 0)
		return at(L, g, "'%s': connect_timeout, read_timeout and interval must be > 0",
			  where);
	const config_setting_t *port = config_setting_get_member(g, "port");
	if (port) {
		long long pv = config_setting_get_int64(port);

		if (config_setting_type(port) == CONFIG_TYPE_INT)
			pv = config_setting_get_int(port);
		if (pv < 1 || pv > 65535)
			return at(L, port, "'%s.port' must be 1..65535", where);
		p->port = (int)pv;
	}
	if ((get_str(g, "path") || get_str(g, "expect")) && p->kind != PROBE_HTTP)
		return at(L, g, "'%s': path and expect are for http probes only", where);
	if (get_str(g, "path")) {
		const char *path = get_str(g, "path");

		if (path[0] != '/' || strpbrk(path, " \r\n\t"))
			return at(L, config_setting_get_member(g, "path"),
				  "'%s.path' must start with '/' and hold no spaces", where);
		p->path = xstrdup(path);
	}
	if (get_str(g, "expect"))
		p->expect = xstrdup(get_str(g, "expect"));
	return 0;
}

/* ---- kinds ------------------------------------------------------------------ */

static const struct tmpl_kind *kinds;
static size_t nkinds;

void template_kinds_set(const struct tmpl_kind *k, size_t n)
{
	kinds = k;
	nkinds = n;
}

const struct tmpl_kind *template_kind(const char *name)
{
	for (size_t i = 0; name && i < nkinds; i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

/* "redis, cassandra, riak" into b. */
static void kind_names(struct buf *b)
{
	for (size_t i = 0; i < nkinds; i++)
		buf_printf(b, "%s%s", i ? ", " : "", kinds[i].name);
	if (!nkinds)
		buf_printf(b, "none registered");
}

/* The kind of t is one a driver implements, and so is every built-in step
 * its hooks name. */
static int check_kind(struct loader *L, const config_setting_t *root, struct template *t)
{
	const struct tmpl_kind *k = template_kind(t->kind);
	struct buf b = {0};
	int rc;

	if (!k) {
		kind_names(&b);
		rc = at(L, config_setting_get_member(root, "kind"),
			"'kind': no driver for database kind '%s' (known: %s)", t->kind, b.data);
		buf_free(&b);
		return rc;
	}
	for (int h = 0; h < HOOK_COUNT; h++) {
		const char *step = t->hooks[h].builtin;
		bool found = false;

		for (size_t i = 0; step && k->builtins && k->builtins[i]; i++)
			found |= !strcmp(k->builtins[i], step);
		if (!step || found)
			continue;
		for (size_t i = 0; k->builtins && k->builtins[i]; i++)
			buf_printf(&b, "%sbuiltin:%s", i ? ", " : "", k->builtins[i]);
		rc = at(L, config_setting_get_member(config_setting_get_member(root, "hooks"),
						     hook_kind_name((enum hook_kind)h)),
			"'hooks.%s': kind %s has no step 'builtin:%s' (known: %s)",
			hook_kind_name((enum hook_kind)h), t->kind, step, b.data ? b.data : "none");
		buf_free(&b);
		return rc;
	}
	return 0;
}

static int load_hook(struct loader *L, const config_setting_t *c, struct tmpl_hook *h)
{
	h->line = (int)config_setting_source_line(c);
	if (config_setting_type(c) == CONFIG_TYPE_STRING) {
		const char *s = config_setting_get_string(c);

		if (strncmp(s, "builtin:", 8) || !name_is_safe(s + 8, 63))
			return at(L, c, "'hooks.%s': a string hook must be \"builtin:<step>\" (got '%s'); use a list for argv",
				  config_setting_name(c), s);
		h->builtin = xstrdup(s + 8);
		return 0;
	}
	if (config_setting_length(c) == 0)
		return at(L, c, "'hooks.%s': empty argv", config_setting_name(c));
	h->argv = strlist(c, NULL);
	if (h->argv[0][0] != '/')
		return at(L, c, "'hooks.%s': argv[0] must be an absolute path inside the node",
			  config_setting_name(c));
	return 0;
}

static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
		    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"KILL", SIGKILL}};

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		if (!strcmp(s, sigs[i].name))
			return sigs[i].sig;
	return -1;
}

static bool abs_path_ok(const char *p)
{
	if (p[0] != '/' || strstr(p, "/../") || strstr(p, "//"))
		return false;
	size_t n = strlen(p);
	if (n >= 3 && !strcmp(p + n - 3, "/.."))
		return false;
	for (const unsigned char *q = (const unsigned char *)p; *q; q++)
		if (*q < 0x20 || *q == 0x7f)
			return false;
	return true;
}

static int load_files(struct loader *L, struct template *t, const config_setting_t *c)
{
	int n = c ? config_setting_length(c) : 0;

	t->files = xcalloc((size_t)n + 1, sizeof *t->files);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(c, (unsigned)i);
		struct tmpl_file *f = &t->files[t->nfiles++];
		const char *src, *dst, *mode;
		char *end;

		f->line = (int)config_setting_source_line(g);
		if (check_group(L, g, "files[]", file_keys, ARRAY_SIZE(file_keys)) < 0)
			return -1;
		src = get_str(g, "source");
		dst = get_str(g, "dest");
		mode = get_str(g, "mode");
		if (!name_is_safe(src, 255))
			return at(L, g, "'files[%d].source' must be a file name in the template folder (got '%s')",
				  i, src);
		if (!abs_path_ok(dst))
			return at(L, g, "'files[%d].dest' must be a clean absolute path (got '%s')", i, dst);
		f->source = path_join(t->dir, src);
		f->dest = xstrdup(dst);
		f->mode = 0644;
		if (mode) {
			errno = 0;
			unsigned long m = strtoul(mode, &end, 8);

			if (errno || *end || !*mode || m > 07777)
				return at(L, g, "'files[%d].mode' must be octal like \"0640\" (got '%s')", i, mode);
			f->mode = (mode_t)m;
		}
	}
	return 0;
}

static int load_settings(struct loader *L, struct template *t, const config_setting_t *c)
{
	int n = c ? config_setting_length(c) : 0;

	t->settings = xcalloc((size_t)n + 1, sizeof *t->settings);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(c, (unsigned)i);
		struct kv *kv = &t->settings[t->nsettings++];

		kv->key = xstrdup(config_setting_name(s));
		kv->loc.line = (int)config_setting_source_line(s);
		switch (config_setting_type(s)) {
		case CONFIG_TYPE_STRING:
			kv->value = xstrdup(config_setting_get_string(s));
			break;
		case CONFIG_TYPE_INT:
			kv->value = xasprintf("%d", config_setting_get_int(s));
			break;
		case CONFIG_TYPE_INT64:
			kv->value = xasprintf("%lld", config_setting_get_int64(s));
			break;
		case CONFIG_TYPE_BOOL:
			kv->value = xstrdup(config_setting_get_bool(s) ? "yes" : "no");
			break;
		default:
			return at(L, s, "'settings.%s' must be a string, integer or boolean",
				  config_setting_name(s));
		}
	}
	return 0;
}

static int load_cfg(struct loader *L, struct template *t, const config_setting_t *root)
{
	const config_setting_t *g;
	int64_t v;

	if (check_group(L, root, "", top_keys, ARRAY_SIZE(top_keys)) < 0)
		return -1;
	t->kind = xstrdup(get_str(root, "kind"));
	t->image = xstrdup(get_str(root, "image"));
	t->data_dir = xstrdup(get_str(root, "data_dir"));
	if (!abs_path_ok(t->data_dir))
		return at(L, config_setting_get_member(root, "data_dir"),
			  "'data_dir' must be a clean absolute path (got '%s')", t->data_dir);

	g = config_setting_get_member(root, "ports");
	if (check_group(L, g, "ports", port_keys, ARRAY_SIZE(port_keys)) < 0)
		return -1;
	t->client_port = config_setting_get_int(config_setting_get_member(g, "client"));
	if (config_setting_get_member(g, "bus_offset"))
		t->bus_offset = config_setting_get_int(config_setting_get_member(g, "bus_offset"));
	if (t->client_port < 1 || t->client_port > 65535)
		return at(L, g, "'ports.client' must be 1..65535");
	if (t->bus_offset < 0 || t->bus_offset > 60000)
		return at(L, g, "'ports.bus_offset' must be 0..60000");

	if (load_files(L, t, config_setting_get_member(root, "files")) < 0)
		return -1;

	g = config_setting_get_member(root, "start");
	if (config_setting_length(g) == 0)
		return at(L, g, "'start' is an empty argv");
	t->start = strlist(g, NULL);
	t->start_line = (int)config_setting_source_line(g);
	if (t->start[0][0] != '/')
		return at(L, g, "'start[0]' must be an absolute path inside the node");

	g = config_setting_get_member(root, "stop");
	if (check_group(L, g, "stop", stop_keys, ARRAY_SIZE(stop_keys)) < 0)
		return -1;
	t->stop_signal = parse_signal(get_str(g, "signal"));
	if (t->stop_signal < 0)
		return at(L, config_setting_get_member(g, "signal"),
			  "'stop.signal': unknown signal '%s'", get_str(g, "signal"));
	if (get_duration(L, g, "stop", "grace", &v) < 0)
		return -1;
	t->stop_grace_ms = v;

	if (load_settings(L, t, config_setting_get_member(root, "settings")) < 0)
		return -1;
	g = config_setting_get_member(root, "secrets");
	t->secrets = strlist(g, &t->nsecrets);
	for (size_t i = 0; i < t->nsecrets; i++)
		if (!name_is_safe(t->secrets[i], 63))
			return at(L, g, "'secrets': '%s' is not a safe name", t->secrets[i]);
	g = config_setting_get_member(root, "syscalls");
	t->syscalls = strlist(g, &t->nsyscalls);
	for (size_t i = 0; i < t->nsyscalls; i++)
		if (!name_is_safe(t->syscalls[i], 63))
			return at(L, g, "'syscalls': '%s' is not a syscall name",
				  t->syscalls[i]);

	if (load_probe(L, config_setting_get_member(root, "readiness"), "readiness",
		       &t->readiness) < 0 ||
	    load_probe(L, config_setting_get_member(root, "health"), "health", &t->health) < 0)
		return -1;

	g = config_setting_get_member(root, "hooks");
	if (check_group(L, g, "hooks", hook_keys, ARRAY_SIZE(hook_keys)) < 0)
		return -1;
	for (int k = 0; k < HOOK_COUNT; k++)
		if (load_hook(L, config_setting_get_member(g, hook_kind_name((enum hook_kind)k)),
			      &t->hooks[k]) < 0)
			return -1;
	return check_kind(L, root, t);
}

int template_load(const char *root, const char *name, struct template **out,
		  struct err *e)
{
	_cleanup_free_ char *data = NULL, *text = NULL, *tdir = NULL;
	config_t cfg;
	struct template *t;
	struct loader L;
	size_t len;
	int rc;

	*out = NULL;
	if (name_check(name, 63, "template name", e) < 0)
		return -1;
	if (!root)
		root = data = shoal_data_dir();
	tdir = path_join(root, "templates");
	t = xcalloc(1, sizeof *t);
	t->name = xstrdup(name);
	t->dir = path_join(tdir, name);
	t->path = path_join(t->dir, "template.cfg");
	if (read_file(t->path, TMPL_FILE_MAX, &text, &len, e) < 0) {
		err_wrap(e, "template '%s'", name);
		template_free(t);
		return -1;
	}
	config_init(&cfg);
	config_set_include_dir(&cfg, t->dir); /* @include stays in the template folder */
	if (config_read_string(&cfg, text) != CONFIG_TRUE) {
		rc = err_usage(e, "%s:%d: %s", t->path, config_error_line(&cfg),
			       config_error_text(&cfg) ? config_error_text(&cfg) : "syntax error");
	} else {
		L.path = t->path;
		L.e = e;
		rc = load_cfg(&L, t, config_root_setting(&cfg));
	}
	config_destroy(&cfg);
	if (rc < 0) {
		template_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

static void probe_fields_free(struct tmpl_probe *p)
{
	free(p->path);
	free(p->expect);
}

void template_free(struct template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->dir);
	free(t->path);
	free(t->kind);
	free(t->image);
	free(t->data_dir);
	for (size_t i = 0; i < t->nfiles; i++) {
		free(t->files[i].source);
		free(t->files[i].dest);
	}
	free(t->files);
	strv_free(t->start);
	for (size_t i = 0; i < t->nsettings; i++) {
		free(t->settings[i].key);
		free(t->settings[i].value);
	}
	free(t->settings);
	strv_free(t->secrets);
	strv_free(t->syscalls);
	probe_fields_free(&t->readiness);
	probe_fields_free(&t->health);
	for (int k = 0; k < HOOK_COUNT; k++) {
		free(t->hooks[k].builtin);
		strv_free(t->hooks[k].argv);
	}
	free(t);
}

void template_plan_traits(const struct template *t, struct plan_traits *out)
{
	const struct tmpl_kind *k = template_kind(t->kind);

	memset(out, 0, sizeof *out);
	out->sharded = k && k->sharded;
	out->default_port = t->client_port;
	out->bus_offset = t->bus_offset;
}

int template_traits_for_spec(const struct spec *s, const char *root,
			     struct plan_traits **out, char ***images, struct err *e)
{
	struct plan_traits *tr = xcalloc(s->nservices ? s->nservices : 1, sizeof *tr);
	char **img = xcalloc(s->nservices + 1, sizeof *img);

	*out = NULL;
	if (images)
		*images = NULL;
	for (size_t k = 0; k < s->nservices; k++) {
		const struct spec_service *svc = &s->services[k];
		struct template *t;

		if (template_load(root, svc->template, &t, e) < 0) {
			free(tr);
			strv_free(img);
			return err_wrap(e, "%s:%d: service '%s'",
					svc->loc.file ? svc->loc.file : s->path, svc->loc.line,
					svc->name);
		}
		template_plan_traits(t, &tr[k]);
		img[k] = xstrdup(svc->image ? svc->image : t->image);
		template_free(t);
	}
	*out = tr;
	if (images)
		*images = img;
	else
		strv_free(img);
	return 0;
}

/* ---- variables ---------------------------------------------------------------- */

void tmpl_vars_set(struct tmpl_vars *v, const char *key, const char *value)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->keys[i], key)) {
			explicit_bzero(v->vals[i], strlen(v->vals[i]));
			free(v->vals[i]);
			v->vals[i] = xstrdup(value);
			return;
		}
	size_t kcap = v->cap; /* both arrays grow in step */

	v->keys = xgrow(v->keys, &kcap, v->n + 1, sizeof *v->keys);
	v->vals = xgrow(v->vals, &v->cap, v->n + 1, sizeof *v->vals);
	v->keys[v->n] = xstrdup(key);
	v->vals[v->n] = xstrdup(value);
	v->n++;
}

const char *tmpl_vars_get(const struct tmpl_vars *v, const char *key)
{
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->keys[i], key))
			return v->vals[i];
	return NULL;
}

void tmpl_vars_free(struct tmpl_vars *v)
{
	for (size_t i = 0; i < v->n; i++) {
		explicit_bzero(v->vals[i], strlen(v->vals[i]));
		free(v->vals[i]);
		free(v->keys[i]);
	}
	free(v->keys);
	free(v->vals);
	memset(v, 0, sizeof *v);
}

bool tmpl_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* ---- rendering -------------------------------------------------------------------- */

static bool var_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.';
}

/* Render text whose first line is line `line` of `file`. */
static int render(const char *text, size_t len, const char *file, int line,
		  const struct tmpl_vars *v, char **out, size_t *outlen,
		  struct err *e)
{
	struct buf b = {0};
	size_t i = 0;

	*out = NULL;
	if (memchr(text, '\0', len))
		return err_usage(e, "%s: holds a NUL byte", file);
	while (i < len) {
		const char *open = memmem(text + i, len - i, "{{", 2);
		size_t stop = open ? (size_t)(open - text) : len;

		for (size_t k = i; k < stop; k++)
			line += text[k] == '\n';
		buf_append(&b, text + i, stop - i);
		if (!open)
			break;
		size_t k = stop + 2, n0, n1;
		while (k < len && text[k] == ' ')
			k++;
		n0 = k;
		while (k < len && var_char(text[k]))
			k++;
		n1 = k;
		while (k < len && text[k] == ' ')
			k++;
		if (k + 1 >= len || text[k] != '}' || text[k + 1] != '}') {
			buf_free(&b);
			if (n1 > n0 && (k >= len || text[k] == '\n' || k + 1 >= len))
				return err_usage(e, "%s:%d: unterminated '{{'", file, line);
			return err_usage(e, "%s:%d: expected '{{ name }}' (name of letters, digits, '_' and '.')",
					 file, line);
		}
		if (n1 == n0) {
			buf_free(&b);
			return err_usage(e, "%s:%d: empty '{{ }}'", file, line);
		}
		char *name = xstrndup(text + n0, n1 - n0);
		const char *val = tmpl_vars_get(v, name);

		if (!val) {
			err_usage(e, "%s:%d: unknown variable '%s'", file, line, name);
			free(name);
			buf_free(&b);
			return -1;
		}
		if (tmpl_has_control(val)) {
			err_usage(e, "%s:%d: value of '%s' has a control character", file, line, name);
			free(name);
			buf_free(&b);
			return -1;
		}
		free(name);
		buf_puts(&b, val);
		i = k + 2;
	}
	if (outlen)
		*outlen = b.len;
	*out = b.data ? buf_steal(&b) : xstrdup("");
	return 0;
}

int template_render(const char *text, size_t len, const char *file,
		    const struct tmpl_vars *v, char **out, size_t *outlen,
		    struct err *e)
{
	return render(text, len, file, 1, v, out, outlen, e);
}

int template_render_file(const struct template *t, size_t i,
			 const struct tmpl_vars *v, char **out, size_t *outlen,
			 struct err *e)
{
	_cleanup_free_ char *text = NULL;
	size_t len;

	*out = NULL;
	if (i >= t->nfiles)
		return err_usage(e, "%s: no file #%zu", t->path, i);
	if (read_file(t->files[i].source, TMPL_FILE_MAX, &text, &len, e) < 0)
		return err_wrap(e, "%s:%d", t->path, t->files[i].line);
	return template_render(text, len, t->files[i].source, v, out, outlen, e);
}

int template_render_argv(const struct template *t, char *const *argv, int line,
			 const struct tmpl_vars *v, char ***out, struct err *e)
{
	size_t n = 0;
	char **r;

	*out = NULL;
	while (argv && argv[n])
		n++;
	r = xcalloc(n + 1, sizeof *r);
	for (size_t i = 0; i < n; i++)
		if (render(argv[i], strlen(argv[i]), t->path, line, v, &r[i], NULL, e) < 0) {
			strv_free(r);
			return -1;
		}
	*out = r;
	return 0;
}

