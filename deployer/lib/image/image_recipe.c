/* image_recipe.c - node image recipes (node-images/NAME.cfg, libconfig).
 *
 * Every top-level key is declared once in recipe_keys[] (name, type, whether
 * required, help); the parser and docs/images.md follow that table.  Every
 * error names the recipe file and line. */
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image_int.h"
#include "util.h"

#define NAME_MAX_LEN 63

enum rkind { RK_STRING, RK_STRINGS, RK_LIST, RK_GROUP, RK_INT };

static const struct rkey {
	const char *name;
	enum rkind kind;
	bool required;
	const char *help;
} recipe_keys[] = {
	{"name", RK_STRING, true, "image name ([A-Za-z0-9._-], at most 63)"},
	{"version", RK_STRING, true, "image tag ([A-Za-z0-9._-])"},
	{"from", RK_STRING, false, "base image: \"oci:PATH[:REF]\" or \"docker-archive:PATH\""},
	{"binaries", RK_STRINGS, false, "host ELF binaries; their libraries and interpreter come along"},
	{"files", RK_LIST, false, "( { src = \"HOST\"; dest = \"/PATH\"; mode = \"0644\"; } )"},
	{"dirs", RK_LIST, false, "( { path = \"/PATH\"; mode = \"0750\"; uid = 999; gid = 999; } )"},
	{"symlinks", RK_LIST, false, "( [\"/PATH\", \"TARGET\"] )"},
	{"user", RK_GROUP, false, "{ name; uid; group; gid; home; } written to /etc/passwd, /etc/group"},
	{"entrypoint", RK_STRINGS, false, "argv the container starts with"},
	{"cmd", RK_STRINGS, false, "default arguments after the entrypoint"},
	{"env", RK_STRINGS, false, "\"KEY=VALUE\" strings"},
	{"ports", RK_STRINGS, false, "exposed ports: \"6379\" or \"6379/tcp\""},
	{"labels", RK_LIST, false, "( [\"KEY\", \"VALUE\"] ) image labels"},
	{"workdir", RK_STRING, false, "working folder (default /)"},
	{"compression", RK_STRING, false, "\"gzip\" (default) or \"zstd\""},
	{"compression_level", RK_INT, false, "gzip 1..9 (default 9), zstd 1..19 (default 19)"},
	{"build", RK_GROUP, false, "{ script; inputs; sources; dest; libraries; } a source build (image_srcbuild.c)"},
};

int recipe_at(struct err *e, const struct recipe *r, const struct config_setting_t *s,
	      const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_usage(e, "%s:%d: %s", r->file, s ? config_setting_source_line(s) : 0, msg);
}

static const struct rkey *find_key(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(recipe_keys); i++)
		if (!strcmp(recipe_keys[i].name, name))
			return &recipe_keys[i];
	return NULL;
}

static int get_str(const struct recipe *r, const config_setting_t *s, char **out,
		   struct err *e)
{
	const char *v = config_setting_get_string(s);

	if (!v)
		return recipe_at(e, r, s, "'%s' must be a string", config_setting_name(s));
	*out = xstrdup(v);
	return 0;
}

static int get_strings(const struct recipe *r, const config_setting_t *s,
		       char ***out, size_t *n, struct err *e)
{
	int count = config_setting_length(s);
	char **v = xcalloc((size_t)count + 1, sizeof *v);

	for (int i = 0; i < count; i++) {
		const char *x = config_setting_get_string_elem(s, i);

		if (!x) {
			for (int k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return recipe_at(e, r, config_setting_get_elem(s, (unsigned)i),
				  "'%s' must hold strings only", config_setting_name(s));
		}
		v[i] = xstrdup(x);
	}
	*out = v;
	*n = (size_t)count;
	return 0;
}

/* mode = "0750" (octal string) or an integer. */
static int get_mode(const struct recipe *r, const config_setting_t *g, int *mode,
		    struct err *e)
{
	const config_setting_t *m = config_setting_get_member(g, "mode");
	const char *s;
	char *end;
	long v;

	*mode = -1;
	if (!m)
		return 0;
	if (config_setting_type(m) == CONFIG_TYPE_INT) {
		v = config_setting_get_int(m);
	} else if ((s = config_setting_get_string(m))) {
		errno = 0;
		v = strtol(s, &end, 8);
		if (errno || *end || end == s)
			return recipe_at(e, r, m, "mode '%s' is not an octal number", s);
	} else {
		return recipe_at(e, r, m, "mode must be an octal string like \"0755\"");
	}
	if (v < 0 || v > 07777)
		return recipe_at(e, r, m, "mode %lo is out of range", v);
	*mode = (int)v;
	return 0;
}

static int get_id(const struct recipe *r, const config_setting_t *g, const char *key,
		  bool required, uint32_t *out, struct err *e)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	long long v;

	if (!s) {
		if (required)
			return recipe_at(e, r, g, "'%s' is required here", key);
		return 1;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return recipe_at(e, r, s, "'%s' must be an integer", key);
	v = config_setting_get_int64(s);
	if (v < 0 || v > 65534)
		return recipe_at(e, r, s, "'%s' %lld is outside 0..65534", key, v);
	*out = (uint32_t)v;
	return 0;
}

static const char *member_str(const config_setting_t *g, const char *key)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	return s ? config_setting_get_string(s) : NULL;
}

static int check_image_path(const struct recipe *r, const config_setting_t *s,
			    const char *what, const char *p, struct err *e)
{
	if (!p)
		return recipe_at(e, r, s, "%s is required", what);
	if (p[0] != '/')
		return recipe_at(e, r, s, "%s '%s' must be absolute", what, p);
	if (strstr(p, "/../") || (strlen(p) >= 3 && !strcmp(p + strlen(p) - 3, "/..")))
		return recipe_at(e, r, s, "%s '%s' has a '..' component", what, p);
	return 0;
}

/* ---- sections ------------------------------------------------------------------- */

static int parse_files(struct recipe *r, const config_setting_t *s, struct err *e)
{
	int n = config_setting_length(s);

	r->files = xcalloc((size_t)n + 1, sizeof *r->files);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct recipe_file *f = &r->files[r->nfiles];
		const char *src, *dest;

		if (!config_setting_is_group(g))
			return recipe_at(e, r, g, "each of 'files' is { src = ...; dest = ...; }");
		src = member_str(g, "src");
		dest = member_str(g, "dest");
		if (!src)
			return recipe_at(e, r, g, "file needs 'src'");
		if (check_image_path(r, g, "dest", dest, e) < 0)
			return -1;
		f->src = src[0] == '/' ? xstrdup(src) : path_join(r->dir, src);
		f->dest = xstrdup(dest);
		f->line = config_setting_source_line(g);
		r->nfiles++;
		if (get_mode(r, g, &f->mode, e) < 0)
			return -1;
	}
	return 0;
}

static int parse_dirs(struct recipe *r, const config_setting_t *s, struct err *e)
{
	int n = config_setting_length(s);

	r->dirs = xcalloc((size_t)n + 1, sizeof *r->dirs);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct recipe_dir *d = &r->dirs[r->ndirs];
		const char *p;

		if (!config_setting_is_group(g))
			return recipe_at(e, r, g, "each of 'dirs' is { path = ...; }");
		p = member_str(g, "path");
		if (check_image_path(r, g, "path", p, e) < 0)
			return -1;
		d->path = xstrdup(p);
		d->line = config_setting_source_line(g);
		r->ndirs++;
		if (get_mode(r, g, &d->mode, e) < 0 || get_id(r, g, "uid", false, &d->uid, e) < 0 ||
		    get_id(r, g, "gid", false, &d->gid, e) < 0)
			return -1;
		if (d->mode < 0)
			d->mode = 0755;
	}
	return 0;
}

static int parse_links(struct recipe *r, const config_setting_t *s, struct err *e)
{
	int n = config_setting_length(s);

	r->links = xcalloc((size_t)n + 1, sizeof *r->links);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		const char *p = g ? config_setting_get_string_elem(g, 0) : NULL;
		const char *t = g ? config_setting_get_string_elem(g, 1) : NULL;

		if (!p || !t || config_setting_length(g) != 2)
			return recipe_at(e, r, g, "each of 'symlinks' is [\"/PATH\", \"TARGET\"]");
		if (check_image_path(r, g, "symlink path", p, e) < 0)
			return -1;
		r->links[r->nlinks].path = xstrdup(p);
		r->links[r->nlinks].target = xstrdup(t);
		r->links[r->nlinks].line = config_setting_source_line(g);
		r->nlinks++;
	}
	return 0;
}

static int parse_user(struct recipe *r, const config_setting_t *g, struct err *e)
{
	const char *name = member_str(g, "name"), *group = member_str(g, "group");
	const char *home = member_str(g, "home");
	struct err ne;

	if (!name)
		return recipe_at(e, r, g, "user needs 'name'");
	if (name_check(name, 32, "user name", &ne) < 0)
		return recipe_at(e, r, g, "%s", ne.msg);
	if (group && name_check(group, 32, "group name", &ne) < 0)
		return recipe_at(e, r, g, "%s", ne.msg);
	if (!config_setting_get_member(g, "uid"))
		return recipe_at(e, r, g, "user '%s' has no uid", name);
	if (get_id(r, g, "uid", true, &r->uid, e) < 0)
		return -1;
	r->gid = r->uid;
	if (get_id(r, g, "gid", false, &r->gid, e) < 0)
		return -1;
	if (home && check_image_path(r, g, "home", home, e) < 0)
		return -1;
	r->has_user = true;
	r->user = xstrdup(name);
	r->group = xstrdup(group ? group : name);
	r->home = xstrdup(home ? home : "/");
	return 0;
}

static int parse_labels(struct recipe *r, const config_setting_t *s, struct err *e)
{
	int n = config_setting_length(s);

	r->labels = xcalloc((size_t)n + 1, sizeof *r->labels);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		const char *k = g ? config_setting_get_string_elem(g, 0) : NULL;
		const char *v = g ? config_setting_get_string_elem(g, 1) : NULL;

		if (!k || !v || !*k || config_setting_length(g) != 2)
			return recipe_at(e, r, g, "each of 'labels' is [\"KEY\", \"VALUE\"]");
		r->labels[r->nlabels].key = xstrdup(k);
		r->labels[r->nlabels].value = xstrdup(v);
		r->nlabels++;
	}
	return 0;
}

static int check_lists(struct recipe *r, config_setting_t *root, struct err *e)
{
	for (size_t i = 0; i < r->nenv; i++)
		if (!strchr(r->env[i], '=') || r->env[i][0] == '=')
			return recipe_at(e, r, config_setting_get_member(root, "env"),
				  "env '%s' is not KEY=VALUE", r->env[i]);
	for (size_t i = 0; i < r->nports; i++) {
		char *end;
		long p = strtol(r->ports[i], &end, 10);

		if (p < 1 || p > 65535 || (*end && strcmp(end, "/tcp") && strcmp(end, "/udp")))
			return recipe_at(e, r, config_setting_get_member(root, "ports"),
				  "port '%s' is not PORT or PORT/tcp|udp", r->ports[i]);
	}
	for (size_t i = 0; i < r->nbinaries; i++)
		if (r->binaries[i].path[0] != '/')
			return err_usage(e, "%s:%d: binary '%s' must be an absolute host path",
					 r->file, r->binaries[i].line, r->binaries[i].path);
	if (r->level_line && (r->level < 1 || r->level > (r->zstd ? 19 : 9)))
		return err_usage(e, "%s:%d: compression_level %d is out of range: %s takes 1..%d",
				 r->file, r->level_line, r->level, r->zstd ? "zstd" : "gzip",
				 r->zstd ? 19 : 9);
	if (r->from && strncmp(r->from, "oci:", 4) && strncmp(r->from, "docker-archive:", 15))
		return err_usage(e, "%s:%d: from '%s' is not \"oci:PATH[:REF]\" or "
				    "\"docker-archive:PATH\"", r->file, r->from_line, r->from);
	return 0;
}

static int parse_key(struct recipe *r, config_setting_t *root, config_setting_t *s,
		     const struct rkey *k, struct err *e)
{
	const char *n = k->name;
	char **tmp = NULL;
	size_t cnt = 0;
	int type = config_setting_type(s);

	if (k->kind == RK_STRINGS && type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
		return recipe_at(e, r, s, "'%s' must be a list of strings [\"...\", ...]", n);
	if (k->kind == RK_LIST && type != CONFIG_TYPE_LIST)
		return recipe_at(e, r, s, "'%s' must be a list ( ... )", n);
	if (k->kind == RK_GROUP && type != CONFIG_TYPE_GROUP)
		return recipe_at(e, r, s, "'%s' must be a group { ... }", n);
	if (k->kind == RK_INT && type != CONFIG_TYPE_INT)
		return recipe_at(e, r, s, "'%s' must be a whole number", n);
	if (!strcmp(n, "name"))
		return get_str(r, s, &r->name, e);
	if (!strcmp(n, "version"))
		return get_str(r, s, &r->version, e);
	if (!strcmp(n, "from")) {
		r->from_line = config_setting_source_line(s);
		return get_str(r, s, &r->from, e);
	}
	if (!strcmp(n, "workdir"))
		return get_str(r, s, &r->workdir, e);
	if (!strcmp(n, "compression")) {
		const char *v = config_setting_get_string(s);

		if (!v || (strcmp(v, "gzip") && strcmp(v, "zstd")))
			return recipe_at(e, r, s, "compression must be \"gzip\" or \"zstd\"");
		r->zstd = !strcmp(v, "zstd");
		return 0;
	}
	if (!strcmp(n, "compression_level")) {
		r->level = config_setting_get_int(s);
		r->level_line = config_setting_source_line(s);
		return 0;
	}
	if (!strcmp(n, "binaries")) {
		if (get_strings(r, s, &tmp, &cnt, e) < 0)
			return -1;
		r->binaries = xcalloc(cnt + 1, sizeof *r->binaries);
		for (size_t i = 0; i < cnt; i++) {
			r->binaries[i].path = tmp[i];
			r->binaries[i].line = config_setting_source_line(
				config_setting_get_elem(s, (unsigned)i));
			if (r->binaries[i].line <= 0)
				r->binaries[i].line = config_setting_source_line(s);
		}
		r->nbinaries = cnt;
		free(tmp);
		return 0;
	}
	if (!strcmp(n, "entrypoint"))
		return get_strings(r, s, &r->entrypoint, &r->nentrypoint, e);
	if (!strcmp(n, "cmd"))
		return get_strings(r, s, &r->cmd, &r->ncmd, e);
	if (!strcmp(n, "env"))
		return get_strings(r, s, &r->env, &r->nenv, e);
	if (!strcmp(n, "ports")) {
		int len = config_setting_length(s);

		/* ports may be integers or strings */
		r->ports = xcalloc((size_t)len + 1, sizeof *r->ports);
		for (int i = 0; i < len; i++) {
			const config_setting_t *p = config_setting_get_elem(s, (unsigned)i);

			if (config_setting_type(p) == CONFIG_TYPE_INT)
				r->ports[i] = xasprintf("%d", config_setting_get_int(p));
			else if (config_setting_get_string(p))
				r->ports[i] = xstrdup(config_setting_get_string(p));
			else
				return recipe_at(e, r, s, "ports are numbers or \"PORT/tcp\" strings");
			r->nports++;
		}
		return 0;
	}
	if (!strcmp(n, "files"))
		return parse_files(r, s, e);
	if (!strcmp(n, "dirs"))
		return parse_dirs(r, s, e);
	if (!strcmp(n, "symlinks"))
		return parse_links(r, s, e);
	if (!strcmp(n, "user"))
		return parse_user(r, s, e);
	if (!strcmp(n, "labels"))
		return parse_labels(r, s, e);
	if (!strcmp(n, "build"))
		return recipe_parse_build(r, s, e);
	(void)root;
	return recipe_at(e, r, s, "key '%s' has no parser", n);
}

int recipe_load(const char *path, struct recipe **out, struct err *e)
{
	struct recipe *r = xcalloc(1, sizeof *r);
	config_setting_t *root;
	config_t cfg;
	int rc = -1;

	r->file = xstrdup(path);
	r->dir = path_dirname(path);
	config_init(&cfg);
	/* libconfig says "file I/O error" for any file it cannot open; the
	 * user needs to know which and why. */
	if (access(path, R_OK) < 0) {
		int saved = errno;

		err_sys(e, saved, "recipe %s", path);
		if (saved == ENOENT || saved == ENOTDIR)
			e->exit = ERR_EXIT_USAGE;
		goto out;
	}
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		err_from_config(e, &cfg, path);
		goto out;
	}
	root = config_root_setting(&cfg);
	for (int i = 0; i < config_setting_length(root); i++) {
		config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		const struct rkey *k = find_key(config_setting_name(s));

		if (!k) {
			struct buf known = {0};

			for (size_t j = 0; j < ARRAY_SIZE(recipe_keys); j++)
				buf_printf(&known, "%s%s", j ? ", " : "", recipe_keys[j].name);
			recipe_at(e, r, s, "unknown key '%s' (known: %s)", config_setting_name(s),
			   known.data);
			buf_free(&known);
			goto out;
		}
		if (parse_key(r, root, s, k, e) < 0)
			goto out;
	}
	for (size_t j = 0; j < ARRAY_SIZE(recipe_keys); j++)
		if (recipe_keys[j].required && !config_setting_get_member(root, recipe_keys[j].name)) {
			err_usage(e, "%s:1: '%s' is required (%s)", path, recipe_keys[j].name,
				  recipe_keys[j].help);
			goto out;
		}
	if (name_check(r->name, NAME_MAX_LEN, "image name", e) < 0 ||
	    name_check(r->version, 127, "image version", e) < 0) {
		err_wrap(e, "%s:%d", path,
			 config_setting_source_line(config_setting_get_member(root, "name")));
		goto out;
	}
	if (check_lists(r, root, e) < 0)
		goto out;
	rc = 0;
out:
	config_destroy(&cfg);
	if (rc < 0)
		recipe_free(r);
	else
		*out = r;
	return rc;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void recipe_free(struct recipe *r)
{
	if (!r)
		return;
	free(r->file);
	free(r->dir);
	free(r->name);
	free(r->version);
	free(r->from);
	for (size_t i = 0; i < r->nbinaries; i++)
		free(r->binaries[i].path);
	free(r->binaries);
	for (size_t i = 0; i < r->nfiles; i++) {
		free(r->files[i].src);
		free(r->files[i].dest);
	}
	free(r->files);
	for (size_t i = 0; i < r->ndirs; i++)
		free(r->dirs[i].path);
	free(r->dirs);
	for (size_t i = 0; i < r->nlinks; i++) {
		free(r->links[i].path);
		free(r->links[i].target);
	}
	free(r->links);
	free(r->user);
	free(r->group);
	free(r->home);
	free_strv(r->entrypoint, r->nentrypoint);
	free_strv(r->cmd, r->ncmd);
	free_strv(r->env, r->nenv);
	free_strv(r->ports, r->nports);
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].key);
		free(r->labels[i].value);
	}
	free(r->labels);
	free(r->workdir);
	recipe_build_free(r->build);
	free(r);
}
