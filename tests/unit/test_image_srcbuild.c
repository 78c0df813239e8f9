/* test_image_srcbuild.c - a recipe's `build` step and its cache
 * (deployer/lib/image/image_srcbuild.c).
 *
 * A tiny fake source tree (a manifest and two "archives") and a shell
 * script that counts its runs in a file outside the cache stand in for a
 * real build.  Every store and cache lives in a temp folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "digest.h"
#include "extract.h"
#include "image.h"
#include "image_int.h"
#include "util.h"

struct fx {
	char tmp[64];
	char *store, *recipe;
};

static char *put(struct fx *f, const char *name, const char *text, mode_t mode)
{
	char *p = path_join(f->tmp, name);
	_cleanup_free_ char *dir = path_dirname(p);
	struct err e;

	assert_int_equal(mkdir_p(dir, 0755, &e), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), mode, &e), 0);
	return p;
}

static void put_manifest(struct fx *f, const char *a_content)
{
	char da[DIGEST_STR_LEN], db[DIGEST_STR_LEN];
	_cleanup_free_ char *text = NULL;

	digest_buf(a_content, strlen(a_content), da);
	digest_buf("bbb", 3, db);
	free(put(f, "src/a.tar.gz", a_content, 0644));
	free(put(f, "src/b.tar.gz", "bbb", 0644));
	text = xasprintf("name\trepo\tsha256\na\tx/a\t%s\nb\tx/b\t%s\n", digest_hex(da),
			 digest_hex(db));
	free(put(f, "src/MANIFEST.tsv", text, 0644));
}

/* The script: counts runs, checks its folder is empty and the variables
 * set, writes a tree (a file, an executable, a folder and a symlink). */
static const char script[] =
	"#!/bin/sh\n"
	"set -e\n"
	"echo run >> \"$COUNT\"\n"
	"[ -z \"$(ls -A .)\" ]\n"
	"[ -f \"$SHOAL_SOURCES/MANIFEST.tsv\" ]\n"
	"[ -d \"$SHOAL_RECIPE_DIR/pkg\" ]\n"
	"mkdir -p \"$SHOAL_OUT/opt/app/bin\"\n"
	"cat \"$SHOAL_RECIPE_DIR/pkg/greeting\" > \"$SHOAL_OUT/opt/app/greeting\"\n"
	"printf '#!/bin/sh\\necho hi\\n' > \"$SHOAL_OUT/opt/app/bin/hi\"\n"
	"chmod 755 \"$SHOAL_OUT/opt/app/bin/hi\"\n"
	"ln -s bin/hi \"$SHOAL_OUT/opt/app/hi\"\n"
	"[ -z \"$SLOW\" ] || sleep 0.3\n"
	"[ -z \"$FAIL\" ] || { echo 'compiling: it broke' >&2; printf '\\033[0m\\n\\n'; exit 3; }\n";

static const char recipe_text[] =
	"name = \"app\";\n"
	"version = \"1\";\n"
	"build = {\n"
	"  script = \"pkg/build.sh\";\n"
	"  inputs = [\"pkg\"];\n"
	"  sources = { env = \"TEST_SOURCES\"; paths = [\"nowhere\", \"src\"];\n"
	"              manifest = \"MANIFEST.tsv\"; hint = \"fetch them\"; };\n"
	"  dest = \"/\";\n"
	"};\n"
	"entrypoint = [\"/opt/app/hi\"];\n";

static void fx_setup(struct fx *f)
{
	_cleanup_free_ char *cache = NULL, *count = NULL;

	snprintf(f->tmp, sizeof f->tmp, "/tmp/shoal-srcbuild-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	f->store = path_join(f->tmp, "store");
	cache = path_join(f->tmp, "cache");
	count = path_join(f->tmp, "count");
	setenv("SHOAL_BUILD_CACHE", cache, 1);
	setenv("COUNT", count, 1);
	unsetenv("TEST_SOURCES");
	unsetenv("FAIL");
	unsetenv("SLOW");
	free(put(f, "pkg/build.sh", script, 0755));
	free(put(f, "pkg/greeting", "hello\n", 0644));
	put_manifest(f, "aaa");
	f->recipe = put(f, "r.cfg", recipe_text, 0644);
}

static void fx_teardown(struct fx *f)
{
	struct err e;
	int parent = open("/tmp", O_RDONLY | O_DIRECTORY);

	assert_int_equal(extract_remove_tree(parent, f->tmp + 5, &e), 0);
	close(parent);
	free(f->store);
	free(f->recipe);
}

static int runs(struct fx *f)
{
	_cleanup_free_ char *p = path_join(f->tmp, "count"), *text = NULL;
	int n = 0;

	if (read_file(p, 4096, &text, NULL, NULL) < 0)
		return 0;
	for (char *c = text; *c; c++)
		n += *c == '\n';
	return n;
}

/* srcbuild_run on the fixture's recipe: 0 or -1, with the error in e. */
static int run(struct fx *f, char **dir, bool *cached, struct err *e)
{
	struct recipe *r = NULL;
	int rc;

	assert_int_equal(recipe_load(f->recipe, &r, e), 0);
	rc = srcbuild_run(r, dir, cached, e);
	recipe_free(r);
	return rc;
}

static void test_builds_once_then_cached(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *greeting = NULL, *text = NULL;
	bool cached = true;
	struct err e;
	struct stat st;

	(void)state;
	fx_setup(&f);
	assert_int_equal(run(&f, &d1, &cached, &e), 0);
	assert_false(cached);
	assert_int_equal(runs(&f), 1);
	greeting = path_join(d1, "opt/app/greeting");
	assert_int_equal(read_file(greeting, 100, &text, NULL, &e), 0);
	assert_string_equal(text, "hello\n");
	assert_int_equal(run(&f, &d2, &cached, &e), 0);
	assert_true(cached);
	assert_string_equal(d1, d2);
	assert_int_equal(runs(&f), 1);
	/* the build folder is gone; the log stays beside the tree */
	free(text);
	text = path_join(d1, "../work");
	assert_int_not_equal(stat(text, &st), 0);
	free(text);
	text = path_join(d1, "../build.log");
	assert_int_equal(stat(text, &st), 0);
	fx_teardown(&f);
}

static void test_changed_input_rebuilds(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *d1 = NULL, *d2 = NULL, *d3 = NULL;
	bool cached;
	struct err e;

	(void)state;
	fx_setup(&f);
	assert_int_equal(run(&f, &d1, &cached, &e), 0);
	free(put(&f, "pkg/greeting", "hello again\n", 0644));
	assert_int_equal(run(&f, &d2, &cached, &e), 0);
	assert_false(cached);
	assert_string_not_equal(d1, d2);
	/* a source archive changes (with its manifest line): rebuilt too */
	put_manifest(&f, "aaa2");
	assert_int_equal(run(&f, &d3, &cached, &e), 0);
	assert_false(cached);
	assert_string_not_equal(d2, d3);
	assert_int_equal(runs(&f), 3);
	fx_teardown(&f);
}

static void test_sources_verified(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *d = NULL, *src = NULL, *moved = NULL;
	bool cached;
	struct err e;

	(void)state;
	fx_setup(&f);
	/* an archive that does not match its manifest line: refused, named */
	free(put(&f, "src/b.tar.gz", "tampered", 0644));
	assert_int_equal(run(&f, &d, &cached, &e), -1);
	assert_non_null(strstr(e.msg, "MANIFEST.tsv:3: b.tar.gz hashes to sha256:"));
	assert_non_null(strstr(e.msg, "r.cfg:3: build"));
	assert_int_equal(runs(&f), 0);
	/* no sources anywhere: the error names the variable and the hint */
	free(put(&f, "src/b.tar.gz", "bbb", 0644));
	src = path_join(f.tmp, "src");
	moved = path_join(f.tmp, "src-moved");
	assert_int_equal(rename(src, moved), 0);
	assert_int_equal(run(&f, &d, &cached, &e), -1);
	assert_non_null(strstr(e.msg, "r.cfg:3: build: no sources: $TEST_SOURCES is not set"));
	assert_non_null(strstr(e.msg, "fetch them"));
	/* the variable names them */
	setenv("TEST_SOURCES", moved, 1);
	assert_int_equal(run(&f, &d, &cached, &e), 0);
	assert_int_equal(runs(&f), 1);
	unsetenv("TEST_SOURCES");
	fx_teardown(&f);
}

static void test_failed_build_not_cached(void **state)
{
	struct fx f = {0};
	_cleanup_free_ char *d = NULL;
	bool cached;
	struct err e;

	(void)state;
	fx_setup(&f);
	setenv("FAIL", "1", 1);
	assert_int_equal(run(&f, &d, &cached, &e), -1);
	assert_non_null(strstr(e.msg, "build.sh exited 3"));
	assert_non_null(strstr(e.msg, "compiling: it broke"));
	unsetenv("FAIL");
	assert_int_equal(run(&f, &d, &cached, &e), 0);
	assert_false(cached);
	assert_int_equal(runs(&f), 2);
	fx_teardown(&f);
}

/* Two processes building the same key: one builds, the other waits on the
 * lock and takes the result. */
static void test_lock_builds_once(void **state)
{
	struct fx f = {0};
	pid_t kids[2];

	(void)state;
	fx_setup(&f);
	setenv("SLOW", "1", 1);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			_cleanup_free_ char *d = NULL;
			struct recipe *r = NULL;
			bool cached;
			struct err e;

			if (recipe_load(f.recipe, &r, &e) < 0 || srcbuild_run(r, &d, &cached, &e) < 0)
				_exit(1);
			recipe_free(r);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		int st;

		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(runs(&f), 1);
	unsetenv("SLOW");
	fx_teardown(&f);
}

/* The whole image: the output lands at dest with its modes and links;
 * building again gives the same manifest without running the script. */
static void test_image_from_build(void **state)
{
	struct fx f = {0};
	struct image_info *a = NULL, *b = NULL;
	_cleanup_free_ char *root = NULL, *hi = NULL, *link = NULL;
	struct err e;
	struct stat st;
	char target[64];
	ssize_t n;

	char cwd[4096];

	(void)state;
	fx_setup(&f);
	/* a recipe named relative to the current folder: the script, run in
	 * its own folder, still finds itself and the recipe's folder */
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(f.tmp), 0);
	assert_int_equal(image_build(f.store, "r.cfg", &a, &e), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(image_build(f.store, f.recipe, &b, &e), 0);
	assert_string_equal(a->manifest_digest, b->manifest_digest);
	assert_int_equal(runs(&f), 1);
	root = path_join(f.tmp, "rootfs");
	assert_int_equal(image_unpack(f.store, "app:1", root, &e), 0);
	hi = path_join(root, "opt/app/bin/hi");
	assert_int_equal(stat(hi, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	link = path_join(root, "opt/app/hi");
	n = readlink(link, target, sizeof target - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "bin/hi");
	image_info_free(a);
	image_info_free(b);
	fx_teardown(&f);
}

static void test_recipe_errors(void **state)
{
	struct {
		const char *body, *expect;
	} cases[] = {
		{"name = \"x\";\nversion = \"1\";\nbuild = { inputs = []; };\n",
		 "r.cfg:3: build: 'script' is required"},
		{"name = \"x\";\nversion = \"1\";\nbuild = { script = \"s\"; scirpt = \"t\"; };\n",
		 "r.cfg:3: build: unknown key 'scirpt' in build"},
		{"name = \"x\";\nversion = \"1\";\nbuild = { script = \"s\"; dest = \"opt\"; };\n",
		 "build: dest 'opt' must be absolute"},
		{"name = \"x\";\nversion = \"1\";\nbuild = { script = \"s\";\n"
		 " sources = { paths = [\"a\"]; }; };\n",
		 "r.cfg:4: build: 'manifest' is required"},
		{"name = \"x\";\nversion = \"1\";\nbuild = { script = \"s\";\n"
		 " sources = { manifest = \"M\"; }; };\n",
		 "r.cfg:4: build: sources need 'env' or 'paths'"},
		{"name = \"x\";\nversion = \"1\";\nbuild = { script = \"s\"; libraries = 1; };\n",
		 "r.cfg:3: build: 'libraries' must be true or false"},
		{"name = \"x\";\nversion = \"1\";\nbuild = \"make\";\n",
		 "r.cfg:3: 'build' must be a group"},
	};
	struct fx f = {0};

	(void)state;
	fx_setup(&f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *p = put(&f, "r.cfg", cases[i].body, 0644);
		struct recipe *r = NULL;
		struct err e;

		assert_int_equal(recipe_load(p, &r, &e), -1);
		if (!strstr(e.msg, cases[i].expect))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, cases[i].expect);
	}
	fx_teardown(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builds_once_then_cached),
		cmocka_unit_test(test_changed_input_rebuilds),
		cmocka_unit_test(test_sources_verified),
		cmocka_unit_test(test_failed_build_not_cached),
		cmocka_unit_test(test_lock_builds_once),
		cmocka_unit_test(test_image_from_build),
		cmocka_unit_test(test_recipe_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
