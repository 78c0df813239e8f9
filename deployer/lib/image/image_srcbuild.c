/* image_srcbuild.c - a recipe's `build` step: a program built from source
 * into a tree of files that becomes part of the image.
 *
 *   build = {
 *     script = "riak/build.sh";     # run in an empty folder
 *     inputs = ["riak"];            # more files or folders in the cache key
 *     sources = { env = "SHOAL_RIAK_SOURCES"; paths = ["..."];
 *                 manifest = "MANIFEST.tsv"; hint = "..."; };
 *     dest = "/";                   # where the output tree lands
 *     libraries = true;             # shared libraries of its ELF files too
 *   };
 *
 * The script runs with its folder empty and SHOAL_SOURCES (the verified
 * sources folder), SHOAL_OUT (an empty folder: what it leaves there is the
 * output) and SHOAL_RECIPE_DIR set; its output and log are kept in the build
 * cache ($SHOAL_BUILD_CACHE, else $XDG_CACHE_HOME/shoal/builds, else
 * ~/.cache/shoal/builds) under the digest of every input: the script, the
 * inputs' content, the sources manifest, dest and libraries.  A flock per
 * key lets one process build while another waiting for the same key then
 * finds it done.  <key>/ok records how long the build took ({"seconds": N}).
 * Sources are verified on every build, cached or not: each
 * manifest row NAME ... SHA256 (tab separated, a header line first) names
 * NAME.tar.gz in the sources folder, whose sha256 must match. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "extract.h"
#include "image_int.h"
#include "log.h"
#include "util.h"

#define MANIFEST_MAX (1u << 20)

/* ---- the recipe key ------------------------------------------------------------ */

static const char *const build_keys[] = {"script", "inputs", "sources", "dest", "libraries"};
static const char *const sources_keys[] = {"env", "paths", "manifest", "hint"};

static bool known(const char *name, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i], name))
			return true;
	return false;
}

static int check_members(const struct recipe *r, const config_setting_t *g,
			 const char *what, const char *const *keys, size_t n,
			 struct err *e)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);

		if (!known(config_setting_name(m), keys, n))
			return recipe_at(e, r, m, "build: unknown key '%s' in %s", config_setting_name(m), what);
	}
	return 0;
}

static int member_string(const struct recipe *r, const config_setting_t *g,
			 const char *key, bool required, char **out, struct err *e)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;

	if (!s) {
		if (required)
			return recipe_at(e, r, g, "build: '%s' is required", key);
		return 0;
	}
	v = config_setting_get_string(s);
	if (!v || !*v)
		return recipe_at(e, r, s, "build: '%s' must be a non-empty string", key);
	*out = xstrdup(v);
	return 0;
}

/* A list of strings, each made absolute against the recipe's folder. */
static int member_paths(const struct recipe *r, const config_setting_t *g,
			const char *key, char ***out, size_t *n, struct err *e)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	int len;

	*out = xcalloc(1, sizeof **out);
	*n = 0;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return recipe_at(e, r, s, "build: '%s' must be a list of strings", key);
	len = config_setting_length(s);
	*out = xrealloc(*out, ((size_t)len + 1) * sizeof **out);
	for (int i = 0; i < len; i++) {
		const char *v = config_setting_get_string_elem(s, i);

		if (!v || !*v)
			return recipe_at(e, r, s, "build: '%s' must hold non-empty strings only", key);
		(*out)[(*n)++] = v[0] == '/' ? xstrdup(v) : path_join(r->dir, v);
		(*out)[*n] = NULL;
	}
	return 0;
}

int recipe_parse_build(struct recipe *r, const config_setting_t *s, struct err *e)
{
	struct recipe_build *b = xcalloc(1, sizeof *b);
	const config_setting_t *src, *lib;
	_cleanup_free_ char *script = NULL;

	r->build = b;
	b->line = config_setting_source_line(s);
	if (check_members(r, s, "build", build_keys, ARRAY_SIZE(build_keys), e) < 0 ||
	    member_string(r, s, "script", true, &script, e) < 0 ||
	    member_paths(r, s, "inputs", &b->inputs, &b->ninputs, e) < 0 ||
	    member_string(r, s, "dest", false, &b->dest, e) < 0)
		return -1;
	b->script = script[0] == '/' ? xstrdup(script) : path_join(r->dir, script);
	if (!b->dest)
		b->dest = xstrdup("/");
	if (b->dest[0] != '/' || strstr(b->dest, ".."))
		return recipe_at(e, r, config_setting_get_member(s, "dest"),
				 "build: dest '%s' must be absolute, without '..'", b->dest);
	lib = config_setting_get_member(s, "libraries");
	if (lib) {
		if (config_setting_type(lib) != CONFIG_TYPE_BOOL)
			return recipe_at(e, r, lib, "build: 'libraries' must be true or false");
		b->libraries = config_setting_get_bool(lib);
	}
	src = config_setting_get_member(s, "sources");
	if (!src)
		return 0;
	if (!config_setting_is_group(src))
		return recipe_at(e, r, src, "build: 'sources' must be a group { env; paths; manifest; hint; }");
	b->has_sources = true;
	if (check_members(r, src, "build.sources", sources_keys, ARRAY_SIZE(sources_keys),
			  e) < 0 ||
	    member_string(r, src, "env", false, &b->sources_env, e) < 0 ||
	    member_paths(r, src, "paths", &b->sources_paths, &b->nsources_paths, e) < 0 ||
	    member_string(r, src, "manifest", true, &b->sources_manifest, e) < 0 ||
	    member_string(r, src, "hint", false, &b->sources_hint, e) < 0)
		return -1;
	if (strchr(b->sources_manifest, '/'))
		return recipe_at(e, r, src, "build: manifest '%s' must be a file name in the sources folder",
			   b->sources_manifest);
	if (!b->sources_env && !b->nsources_paths)
		return recipe_at(e, r, src, "build: sources need 'env' or 'paths'");
	return 0;
}

void recipe_build_free(struct recipe_build *b)
{
	if (!b)
		return;
	free(b->script);
	strv_free(b->inputs);
	free(b->dest);
	free(b->sources_env);
	strv_free(b->sources_paths);
	free(b->sources_manifest);
	free(b->sources_hint);
	free(b);
}

/* ---- sources ------------------------------------------------------------------- */

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Check every archive the manifest names; the digest of the manifest goes
 * into the key (it holds every archive's sha256). */
static int verify_manifest(const char *dir, const char *manifest, struct digest_ctx *key,
			   struct err *e)
{
	_cleanup_free_ char *mpath = path_join(dir, manifest), *text = NULL;
	char *line, *save = NULL;
	size_t len, rows = 0;
	int lineno = 0;

	if (read_file(mpath, MANIFEST_MAX, &text, &len, e) < 0)
		return -1;
	digest_update(key, "sources\n", 8);
	digest_update(key, text, len);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *archive = NULL, *want = NULL;
		char got[DIGEST_STR_LEN];
		char *tab = strchr(line, '\t'), *sum = strrchr(line, '\t');

		if (++lineno == 1)
			continue; /* header */
		if (!tab || !*line || !sum || strlen(sum + 1) != DIGEST_HEX_LEN)
			return err_usage(e, "%s:%d: not NAME<TAB>...<TAB>SHA256", mpath, lineno);
		*tab = '\0';
		if (!name_is_safe(line, 128))
			return err_usage(e, "%s:%d: archive name '%s' is not a safe file name",
					 mpath, lineno, line);
		archive = xasprintf("%s/%s.tar.gz", dir, line);
		want = xasprintf("sha256:%s", sum + 1);
		if (!digest_valid(want))
			return err_usage(e, "%s:%d: '%s' is not a sha256", mpath, lineno, sum + 1);
		if (digest_file(archive, got, NULL, e) < 0)
			return err_wrap(e, "%s:%d", mpath, lineno);
		if (strcmp(got, want))
			return err_usage(e, "%s:%d: %s.tar.gz hashes to %s, the manifest says %s",
					 mpath, lineno, line, got, want);
		rows++;
	}
	if (!rows)
		return err_usage(e, "%s: lists no archives", mpath);
	return 0;
}

/* The sources folder: $ENV, else the first of paths that exists. */
static int find_sources(const struct recipe *r, char **out, struct err *e)
{
	const struct recipe_build *b = r->build;
	const char *env = b->sources_env ? getenv(b->sources_env) : NULL;
	struct buf tried = {0};

	if (env && *env) {
		if (!is_dir(env))
			return err_usage(e, "%s:%d: build: %s=%s is not a folder", r->file, b->line,
					 b->sources_env, env);
		*out = xstrdup(env);
		return 0;
	}
	for (size_t i = 0; i < b->nsources_paths; i++) {
		if (is_dir(b->sources_paths[i])) {
			buf_free(&tried);
			*out = realpath(b->sources_paths[i], NULL);
			if (!*out)
				return err_sys(e, errno, "%s:%d: build: sources %s", r->file, b->line,
					       b->sources_paths[i]);
			return 0;
		}
		buf_printf(&tried, ", %s", b->sources_paths[i]);
	}
	err_usage(e, "%s:%d: build: no sources: %s%s is not set%s%s%s%s", r->file, b->line,
		  b->sources_env ? "$" : "", b->sources_env ? b->sources_env : "sources env",
		  tried.len ? " and none of these exists: " : "", tried.len ? tried.data + 2 : "",
		  b->sources_hint ? "; " : "", b->sources_hint ? b->sources_hint : "");
	buf_free(&tried);
	return -1;
}

/* ---- the cache key --------------------------------------------------------------- */

static int hash_path(struct digest_ctx *c, const char *path, const char *rel, struct err *e);

static int hash_dir(struct digest_ctx *c, const char *path, const char *rel, struct err *e)
{
	struct dirent **list = NULL;
	int n = scandir(path, &list, NULL, alphasort), rc = 0;

	if (n < 0)
		return err_sys(e, errno, "build input %s", path);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;

		if (rc == 0 && strcmp(name, ".") && strcmp(name, "..")) {
			_cleanup_free_ char *p = path_join(path, name);
			_cleanup_free_ char *r = xasprintf("%s/%s", rel, name);

			rc = hash_path(c, p, r, e);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

/* Type, executable bit, name relative to the input, and content. */
static int hash_path(struct digest_ctx *c, const char *path, const char *rel, struct err *e)
{
	struct stat st;
	char head[64];

	if (lstat(path, &st) < 0)
		return err_sys(e, errno, "build input %s", path);
	snprintf(head, sizeof head, "%c%c ",
		 S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f',
		 (st.st_mode & 0111) ? 'x' : '-');
	digest_update(c, head, strlen(head));
	digest_update(c, rel, strlen(rel) + 1);
	if (S_ISDIR(st.st_mode))
		return hash_dir(c, path, rel, e);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof target);

		if (n < 0)
			return err_sys(e, errno, "build input %s", path);
		digest_update(c, target, (size_t)n);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		char d[DIGEST_STR_LEN];

		if (digest_file(path, d, NULL, e) < 0)
			return -1;
		digest_update(c, d, strlen(d));
		return 0;
	}
	return err_usage(e, "build input %s is not a file, folder or symlink", path);
}

int srcbuild_key(const struct recipe *r, const char *sources, char key[DIGEST_STR_LEN],
		 struct err *e)
{
	const struct recipe_build *b = r->build;
	struct digest_ctx *c = digest_new();
	char line[64];
	int rc = 0;

	digest_update(c, "shoal-srcbuild 1\n", 17);
	rc = hash_path(c, b->script, "script", e);
	for (size_t i = 0; i < b->ninputs && rc == 0; i++) {
		_cleanup_free_ char *rel = xasprintf("input %zu", i);

		rc = hash_path(c, b->inputs[i], rel, e);
	}
	if (rc == 0 && sources)
		rc = verify_manifest(sources, b->sources_manifest, c, e);
	snprintf(line, sizeof line, "\ndest %d\n", b->libraries);
	digest_update(c, line, strlen(line));
	digest_update(c, b->dest, strlen(b->dest) + 1);
	digest_finish(c, key);
	if (rc < 0)
		return err_wrap(e, "%s:%d: build", r->file, b->line);
	return 0;
}

/* ---- running the build -------------------------------------------------------------- */

char *srcbuild_cache_dir(void)
{
	const char *v = getenv("SHOAL_BUILD_CACHE");

	if (v && *v)
		return xstrdup(v);
	v = getenv("XDG_CACHE_HOME");
	if (v && *v)
		return xasprintf("%s/shoal/builds", v);
	v = getenv("HOME");
	return xasprintf("%s/.cache/shoal/builds", v && *v ? v : "/root");
}

static int remove_path(const char *path, struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(path);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : err_sys(e, errno, "open %s", dir);
	return extract_remove_tree(fd, base, e);
}

/* Some letter or digit outside terminal escape sequences (ESC [ ... letter). */
static bool has_word(const char *s)
{
	for (; *s; s++) {
		if (s[0] == '\033' && s[1] == '[') {
			for (s += 2; *s && !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')); s++)
				;
			if (!*s)
				return false;
			continue;
		}
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))
			return true;
	}
	return false;
}

/* The last line of the log with some text in it (not only colour codes),
 * for the error. */
static char *log_tail(const char *log)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	char *line;

	if (read_file(log, 64u << 20, &text, &len, NULL) < 0)
		return xstrdup("(no output)");
	while ((line = strrchr(text, '\n'))) {
		if (has_word(line + 1))
			return xstrdup(line + 1);
		*line = '\0';
	}
	return xstrdup(has_word(text) ? text : "(no output)");
}

static int run_script(const struct recipe *r, const char *sources, const char *work,
		      const char *out, const char *log, struct err *e)
{
	const struct recipe_build *b = r->build;
	_cleanup_free_ char *tail = NULL, *script = NULL, *rdir = NULL;
	int status;
	pid_t pid;

	/* the script runs elsewhere: relative paths must not reach it */
	script = realpath(b->script, NULL);
	rdir = realpath(r->dir, NULL);
	if (!script || !rdir || access(script, X_OK) < 0)
		return err_sys(e, errno, "%s:%d: build: script %s", r->file, b->line, b->script);
	pid = fork();
	if (pid < 0)
		return err_sys(e, errno, "fork");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 ||
		    dup2(fd, 2) < 0 || chdir(work) < 0)
			_exit(126);
		if ((sources && setenv("SHOAL_SOURCES", sources, 1) < 0) ||
		    setenv("SHOAL_OUT", out, 1) < 0 || setenv("SHOAL_RECIPE_DIR", rdir, 1) < 0)
			_exit(126);
		execl(script, script, (char *)NULL);
		dprintf(2, "exec %s: %s\n", script, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_sys(e, errno, "wait for %s", b->script);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	tail = log_tail(log);
	if (WIFSIGNALED(status))
		return err_set(e, 0, "%s:%d: build: %s killed by signal %d (log %s: %s)", r->file,
			       b->line, b->script, WTERMSIG(status), log, tail);
	return err_set(e, 0, "%s:%d: build: %s exited %d (log %s: %s)", r->file, b->line,
		       b->script, WEXITSTATUS(status), log, tail);
}

int srcbuild_run(const struct recipe *r, char **tree_dir, bool *cached, struct err *e)
{
	const struct recipe_build *b = r->build;
	_cleanup_free_ char *sources = NULL, *cache = srcbuild_cache_dir();
	_cleanup_free_ char *entry = NULL, *lockp = NULL, *okp = NULL, *tree = NULL;
	_cleanup_free_ char *part = NULL, *work = NULL, *out = NULL, *pok = NULL, *plog = NULL;
	_cleanup_free_ char *secs = NULL;
	_cleanup_close_ int lock = -1;
	char key[DIGEST_STR_LEN];
	int64_t t0;

	if (b->has_sources && find_sources(r, &sources, e) < 0)
		return -1;
	if (srcbuild_key(r, sources, key, e) < 0)
		return -1;
	entry = path_join(cache, digest_hex(key));
	lockp = xasprintf("%s.lock", entry);
	okp = path_join(entry, "ok");
	tree = path_join(entry, "tree");
	if (mkdir_p(cache, 0755, e) < 0)
		return err_wrap(e, "build cache");
	lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0)
		return err_sys(e, errno, "build cache: open %s", lockp);
	if (flock(lock, LOCK_EX) < 0)
		return err_sys(e, errno, "build cache: lock %s", lockp);
	if (access(okp, F_OK) == 0 && is_dir(tree)) {
		log_debug("%s: build %.19s cached in %s", r->file, key, entry);
		*tree_dir = steal_pointer(&tree);
		*cached = true;
		return 0;
	}
	/* a build that stopped half way left these; we hold the lock */
	part = xasprintf("%s.partial", entry);
	if (remove_path(part, e) < 0 || remove_path(entry, e) < 0)
		return err_wrap(e, "build cache");
	work = path_join(part, "work");
	out = path_join(part, "tree");
	if (mkdir_p(work, 0755, e) < 0 || mkdir_p(out, 0755, e) < 0)
		return err_wrap(e, "build cache");
	plog = path_join(part, "build.log");
	log_info("%s: building with %s (cache %s, log %s)", r->file, b->script, entry, plog);
	t0 = now_ms();
	if (run_script(r, sources, work, out, plog, e) < 0)
		return -1;
	if (remove_path(work, e) < 0)
		return err_wrap(e, "build cache");
	pok = path_join(part, "ok");
	secs = xasprintf("{\"seconds\": %.1f}\n", (double)(now_ms() - t0) / 1000.0);
	if (write_file_atomic(pok, secs, strlen(secs), 0644, e) < 0)
		return err_wrap(e, "build cache");
	if (rename(part, entry) < 0)
		return err_sys(e, errno, "build cache: rename %s", part);
	log_info("%s: built in %.1f s", r->file, (double)(now_ms() - t0) / 1000.0);
	*tree_dir = steal_pointer(&tree);
	*cached = false;
	return 0;
}

/* ---- into the image ---------------------------------------------------------------- */

struct walk {
	struct tree *t;
	const char *root;       /* the output tree on the host */
	const char *dest;       /* where it lands in the image */
	char **elf;             /* ELF executables and libraries found */
	size_t nelf, cap;
};

static bool is_dynamic_elf(const char *path)
{
	unsigned char h[18];
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, h, sizeof h) != (ssize_t)sizeof h)
		return false;
	/* ET_EXEC (2) or ET_DYN (3), little endian (the only kind built here) */
	return !memcmp(h, "\177ELF", 4) && h[5] == 1 && (h[16] == 2 || h[16] == 3) && !h[17];
}

static int walk_add(struct walk *w, const char *rel, struct err *e)
{
	_cleanup_free_ char *host = *rel ? path_join(w->root, rel) : xstrdup(w->root);
	_cleanup_free_ char *img = *rel ? path_join(w->dest, rel) : xstrdup(w->dest);
	struct dirent **list = NULL;
	struct stat st;
	int n, rc = 0;

	if (lstat(host, &st) < 0)
		return err_sys(e, errno, "build output %s", host);
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t len = readlink(host, target, sizeof target - 1);

		if (len < 0)
			return err_sys(e, errno, "build output %s", host);
		target[len] = '\0';
		return tree_add_link(w->t, img, target, e);
	}
	if (S_ISREG(st.st_mode)) {
		if (is_dynamic_elf(host)) {
			w->elf = xgrow(w->elf, &w->cap, w->nelf + 2, sizeof *w->elf);
			w->elf[w->nelf++] = xstrdup(host);
		}
		return tree_add_file(w->t, img, host, -1, e);
	}
	if (!S_ISDIR(st.st_mode))
		return err_usage(e, "build output %s is not a file, folder or symlink", host);
	if (*rel && tree_add_dir(w->t, img, 0755, 0, 0, e) < 0)
		return -1;
	n = scandir(host, &list, NULL, alphasort);
	if (n < 0)
		return err_sys(e, errno, "build output %s", host);
	for (int i = 0; i < n; i++) {
		const char *name = list[i]->d_name;

		if (rc == 0 && strcmp(name, ".") && strcmp(name, "..")) {
			_cleanup_free_ char *r = *rel ? path_join(rel, name) : xstrdup(name);

			rc = walk_add(w, r, e);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

/* Shared libraries the output's ELF files need from the host (those found
 * inside the output through $ORIGIN are already in). */
static int add_libraries(struct walk *w, struct err *e)
{
	char **libs = NULL;
	size_t nlibs = 0, rootlen = strlen(w->root);
	int rc = 0;

	if (!w->nelf)
		return 0;
	if (elf_closure((const char *const *)w->elf, w->nelf, &libs, &nlibs, e) < 0)
		return -1;
	for (size_t i = 0; i < nlibs; i++) {
		bool inside = !strncmp(libs[i], w->root, rootlen) && libs[i][rootlen] == '/';

		if (rc == 0 && !inside)
			rc = tree_add_host(w->t, libs[i], e);
		free(libs[i]);
	}
	free(libs);
	return rc;
}

int srcbuild_add(struct tree *t, const struct recipe *r, struct err *e)
{
	_cleanup_free_ char *dir = NULL;
	struct walk w = {.t = t, .dest = r->build->dest};
	bool cached = false;
	int rc;

	if (srcbuild_run(r, &dir, &cached, e) < 0)
		return -1;
	w.root = dir;
	rc = walk_add(&w, "", e);
	if (rc == 0 && r->build->libraries)
		rc = add_libraries(&w, e);
	for (size_t i = 0; i < w.nelf; i++)
		free(w.elf[i]);
	free(w.elf);
	if (rc < 0)
		return err_wrap(e, "%s:%d: build output %s", r->file, r->build->line, dir);
	return 0;
}
