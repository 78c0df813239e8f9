/* test_spec.c - the spec loader (deployer/lib/spec/spec.c): good specs land field
 * by field, defaults, relative paths and includes, the bad corpus under
 * tests/specs/bad/ with its expected file:line and messages, generated bad
 * files (empty, directory, 10 MB, runaway nesting), and docs/spec.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"
#include "spec.h"
#include "util.h"

static bool ends_with_cfg(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, ".cfg");
}

static const char *top(void)
{
	const char *t = getenv("SHOAL_TOP");

	return t && *t ? t : ".";
}

/* A fresh temp folder per test, removed by teardown. */
static char tmpdir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_spec.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	/* Templates come from the source tree. */
	setenv("SHOAL_DATA", top(), 1);
	return 0;
}

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path))) {
		while ((de = readdir(d))) {
			char *p;

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			p = path_join(path, de->d_name);
			rm_rf(p);
			free(p);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

static char *tmp_write(const char *name, const char *text)
{
	char *p = path_join(tmpdir, name);
	_cleanup_free_ char *dir = path_dirname(p);
	FILE *f;

	assert_int_equal(mkdir_p(dir, 0755, NULL), 0);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static const struct spec_problem *find_problem(const struct spec_problems *ps,
					       const char *file_base, int line,
					       const char *frag)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct spec_problem *p = &ps->items[i];
		const char *slash = strrchr(p->file, '/');
		const char *base = slash ? slash + 1 : p->file;
		_cleanup_free_ char *text = xasprintf("%s: %s", p->path, p->msg);

		if (!strcmp(base, file_base) && p->line == line && strstr(text, frag))
			return p;
	}
	return NULL;
}

static void print_problems(const struct spec_problems *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		print_message("  %s:%d: %s: %s\n", ps->items[i].file, ps->items[i].line,
			      ps->items[i].path, ps->items[i].msg);
}

/* Load a spec that must fail; returns its problems (caller frees). */
static struct spec_problems load_bad(const char *path, int want_exit)
{
	struct spec_problems ps = {0};
	struct spec *s = NULL;
	struct err e = {0};

	assert_int_equal(spec_load(path, &s, &ps, &e), -1);
	assert_null(s);
	assert_true(ps.n > 0);
	assert_int_equal(e.exit, want_exit);
	assert_non_null(strstr(e.msg, "problem"));
	return ps;
}

/* Call fn on every *.cfg directly in top()/sub; returns how many. */
static int each_cfg(const char *sub, void (*fn)(const char *path))
{
	_cleanup_free_ char *dir = path_join(top(), sub);
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (de->d_name[0] == '.' || !ends_with_cfg(de->d_name))
			continue;
		p = path_join(dir, de->d_name);
		fn(p);
		n++;
	}
	closedir(d);
	return n;
}

/* ---- good specs -------------------------------------------------------- */

static void good_spec(const char *p)
{
	struct spec_problems ps = {0};
	struct spec *s = NULL;
	struct err e = {0};

	if (spec_load(p, &s, &ps, &e) < 0) {
		print_message("%s: %s\n", p, e.msg);
		print_problems(&ps);
	}
	assert_non_null(s);
	assert_int_equal(ps.n, 0);
	spec_free(s);
}

static void test_cluster_specs_load(void **state)
{
	(void)state;
	assert_true(each_cfg("cluster-specs", good_spec) >= 6);
}

static void test_lab_redis_fields(void **state)
{
	_cleanup_free_ char *p = path_join(top(), "cluster-specs/lab-redis.cfg");
	struct spec *s = NULL;
	struct err e = {0};
	const struct spec_service *sv;
	const struct spec_host *h;

	(void)state;
	assert_int_equal(spec_load(p, &s, NULL, &e), 0);
	assert_string_equal(s->name, "lab-redis");
	assert_string_equal(s->path, p);
	assert_true(s->dir[0] == '/');
	assert_string_equal(s->ssh.user, "root");
	assert_string_equal(s->ssh.identity, "/var/tmp/shoal-lab/0/keys/id_ed25519");
	assert_string_equal(s->ssh.known_hosts, "/var/tmp/shoal-lab/0/known_hosts");
	assert_int_equal(s->ssh.port, 22);
	assert_int_equal(s->ssh.connect_timeout_ms, 5000);
	assert_int_equal(s->nhosts, 3);
	for (size_t i = 0; i < 3; i++) {
		char name[8], addr[16], rack[8];

		h = &s->hosts[i];
		snprintf(name, sizeof name, "h%zu", i + 1);
		snprintf(addr, sizeof addr, "10.213.0.%zu", 11 + i);
		snprintf(rack, sizeof rack, "r%zu", i + 1);
		assert_string_equal(h->name, name);
		assert_string_equal(h->address, addr);
		assert_string_equal(h->rack, rack);
		assert_string_equal(h->zone, "default");
		assert_string_equal(h->user, "root");
		assert_int_equal(h->port, 22);
		assert_int_equal(h->cpus_milli, 2000);
		assert_true(h->memory == 2ULL << 30);
		assert_true(h->reserve_memory == 0);
		assert_int_equal(h->reserve_cpus_milli, 0);
		assert_int_equal(h->transport, TRANSPORT_SSH);
		assert_int_equal(h->runtime, RUNTIME_AUTO);
		assert_int_equal(h->labels.n, 0);
		assert_string_equal(h->loc.file, p);
		assert_int_equal(h->loc.line, 14 + (int)i);
	}
	assert_ptr_equal(spec_find_host(s, "h2"), &s->hosts[1]);
	assert_null(spec_find_host(s, "h4"));
	assert_int_equal(s->nservices, 1);
	sv = spec_find_service(s, "cache");
	assert_non_null(sv);
	assert_string_equal(sv->template, "redis");
	assert_null(sv->image);
	assert_int_equal(sv->nodes, 6);
	assert_int_equal(sv->replicas, 1);
	assert_true(sv->resources.memory == 128ULL << 20);
	assert_int_equal(sv->resources.cpus_milli, 250);
	assert_int_equal(sv->resources.pids, 256);
	assert_int_equal(sv->placement.spread, SPREAD_RACK);
	assert_int_equal(sv->placement.max_per_host, 0);
	assert_int_equal(sv->placement.require.n, 0);
	assert_int_equal(sv->port_base, 7000);
	assert_string_equal(kvlist_get(&sv->settings, "cluster_node_timeout", NULL), "2000");
	assert_string_equal(kvlist_get(&sv->settings, "nope", "dflt"), "dflt");
	assert_int_equal(sv->runtime, RUNTIME_AUTO);
	assert_int_equal(sv->loc.line, 20); /* its opening brace */
	assert_int_equal(s->monitor.interval_ms, 500);
	assert_int_equal(s->monitor.timeout_ms, 250);
	assert_int_equal(s->monitor.fail_after, 3);
	assert_true(s->monitor.respawn);
	assert_int_equal(s->monitor.reschedule_after_s, 30);
	assert_string_equal(s->monitor.listen, "127.0.0.1:7900");
	assert_int_equal(s->nfiles, 1);
	spec_free(s);
}

/* spec_drop_host: the host leaves the spec as if the file did not list it;
 * the others keep their order and fields (ASan checks nothing leaks). */
static void test_drop_host(void **state)
{
	_cleanup_free_ char *p = path_join(top(), "cluster-specs/lab-redis.cfg");
	struct spec *s = NULL;
	struct err e = {0};

	(void)state;
	assert_int_equal(spec_load(p, &s, NULL, &e), 0);
	assert_false(spec_drop_host(s, "h9"));
	assert_true(spec_drop_host(s, "h2"));
	assert_int_equal(s->nhosts, 2);
	assert_null(spec_find_host(s, "h2"));
	assert_string_equal(s->hosts[0].name, "h1");
	assert_string_equal(s->hosts[1].name, "h3");
	assert_string_equal(s->hosts[1].rack, "r3");
	assert_false(spec_drop_host(s, "h2"));
	assert_true(spec_drop_host(s, "h3"));
	assert_true(spec_drop_host(s, "h1"));
	assert_int_equal(s->nhosts, 0);
	spec_free(s);
}

static void test_defaults_and_units(void **state)
{
	_cleanup_free_ char *p = NULL, *kh = NULL;
	struct spec *s = NULL;
	struct err e = {0};
	const struct spec_host *h;
	const struct spec_service *sv;

	(void)state;
	setenv("HOME", "/home/tester", 1);
	p = tmp_write("min.cfg",
		      "name = \"m\";\n"
		      "hosts = ( { name = \"a\"; address = \"127.0.0.1\"; transport = \"local\";\n"
		      "            cpus = \"1500m\"; memory = 1073741824; runtime = \"crun\";\n"
		      "            labels = { disk = \"ssd\"; gen = 3; }; } );\n"
		      "services = ( { name = \"kv\"; template = \"riak\"; nodes = 1;\n"
		      "               image = \"riak:3.2\"; resources = { cpus = 0.25; memory = \"64M\"; };\n"
		      "               placement = { require = { disk = \"ssd\"; }; }; } );\n"
		      "monitor = { interval_ms = 2000; timeout_ms = \"1s\"; respawn = false; };\n");
	assert_int_equal(spec_load(p, &s, NULL, &e), 0);
	assert_string_equal(s->ssh.user, "root");
	assert_null(s->ssh.identity);
	kh = xstrdup("/home/tester/.ssh/known_hosts");
	assert_string_equal(s->ssh.known_hosts, kh);
	assert_int_equal(s->ssh.port, 22);
	assert_int_equal(s->ssh.connect_timeout_ms, 5000);
	h = &s->hosts[0];
	assert_int_equal(h->transport, TRANSPORT_LOCAL);
	assert_int_equal(h->runtime, RUNTIME_CRUN);
	assert_int_equal(h->cpus_milli, 1500);
	assert_true(h->memory == 1ULL << 30);
	assert_string_equal(h->rack, "default");
	assert_string_equal(kvlist_get(&h->labels, "gen", NULL), "3");
	assert_int_equal(h->labels.items[0].loc.line, 4);
	sv = &s->services[0];
	assert_string_equal(sv->image, "riak:3.2");
	assert_int_equal(sv->replicas, 1);
	assert_int_equal(sv->resources.cpus_milli, 250);
	assert_true(sv->resources.memory == 64ULL << 20);
	assert_int_equal(sv->resources.pids, 4096);
	assert_int_equal(sv->placement.spread, SPREAD_HOST);
	assert_int_equal(sv->port_base, 0); /* the template's port */
	assert_string_equal(kvlist_get(&sv->placement.require, "disk", NULL), "ssd");
	assert_int_equal(s->monitor.interval_ms, 2000);
	assert_int_equal(s->monitor.timeout_ms, 1000);
	assert_false(s->monitor.respawn);
	assert_int_equal(s->monitor.fail_after, 3);
	assert_int_equal(s->monitor.reschedule_after_s, 30);
	assert_string_equal(s->monitor.listen, "127.0.0.1:7900");
	assert_string_equal(transport_kind_name(h->transport), "local");
	assert_string_equal(spread_kind_name(SPREAD_ZONE), "zone");
	assert_string_equal(runtime_kind_name(RUNTIME_RUNC), "runc");
	spec_free(s);
}

static void test_includes_and_relative_paths(void **state)
{
	_cleanup_free_ char *p = NULL, *inc = NULL, *recipe = NULL, *want_id = NULL,
			    *want_img = NULL;
	char real[PATH_MAX];
	struct spec *s = NULL;
	struct err e = {0};

	(void)state;
	assert_non_null(realpath(tmpdir, real));
	/* Paths resolve against the folder of the file they are written in. */
	inc = tmp_write("common/hosts.cfg",
			"# shared by several specs\n"
			"ssh = { identity = \"keys/id\"; known_hosts = \"/etc/kh\"; port = 2222; };\n"
			"hosts = (\n"
			"  { name = \"a\"; address = \"10.1.0.1\"; cpus = 2; memory = \"1G\"; },\n"
			"  { name = \"b\"; address = \"10.1.0.2\"; cpus = 2; memory = \"1G\"; port = 22; }\n"
			");\n");
	recipe = tmp_write("images/r.cfg", "# a recipe\n");
	p = tmp_write("spec.cfg",
		      "name = \"inc\";\n"
		      "@include \"common/hosts.cfg\"\n"
		      "services = ( { name = \"c\"; template = \"riak\"; nodes = 2; replicas = 2;\n"
		      "  image = \"images/r.cfg\"; ports = { base = 8087; }; } );\n");
	assert_int_equal(spec_load(p, &s, NULL, &e), 0);
	want_id = xasprintf("%s/common/keys/id", real);
	want_img = xasprintf("%s/images/r.cfg", real);
	assert_string_equal(s->ssh.identity, want_id);
	assert_string_equal(s->ssh.known_hosts, "/etc/kh");
	assert_string_equal(s->services[0].image, want_img);
	assert_string_equal(s->dir, real);
	assert_int_equal(s->nfiles, 2);
	assert_int_equal(s->hosts[0].port, 2222); /* inherited from ssh.port */
	assert_int_equal(s->hosts[1].port, 22);
	/* Locations point into the file each host was written in. */
	assert_non_null(strstr(s->hosts[1].loc.file, "common/hosts.cfg"));
	assert_int_equal(s->hosts[1].loc.line, 5);
	assert_string_equal(s->services[0].loc.file, p);
	assert_int_equal(s->services[0].loc.line, 3);
	spec_free(s);
}

static void test_include_problem_lines(void **state)
{
	_cleanup_free_ char *p = NULL, *inc = NULL;
	struct spec_problems ps;

	(void)state;
	inc = tmp_write("part.cfg", "\n\nmonitor = { fail_after = 0; };\n");
	p = tmp_write("spec.cfg",
		      "name = \"x\";\n"
		      "@include \"part.cfg\"\n"
		      "hosts = ( { name = \"a\"; address = \"10.1.0.1\"; cpus = 2; memory = \"1G\"; } );\n"
		      "services = ( { name = \"c\"; template = \"riak\"; nodes = 1; replicas = 2; } );\n");
	ps = load_bad(p, ERR_EXIT_USAGE);
	/* Lines after the include still map to the including file. */
	assert_non_null(find_problem(&ps, "part.cfg", 3, "monitor.fail_after: 0 is out of range"));
	assert_non_null(find_problem(&ps, "spec.cfg", 4, "replication factor 2 needs at least 2"));
	spec_problems_free(&ps);
}

/* ---- the bad corpus ------------------------------------------------------ */

/* First line "# expect: [FILE:]LINE: FRAGMENT". */
static void parse_expect(const char *path, char *file, size_t fsz, int *line, char *frag,
			 size_t frsz)
{
	_cleanup_fclose_ FILE *f = fopen(path, "rb");
	char buf[512], *p, *colon;
	const char *slash = strrchr(path, '/');

	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	buf[strcspn(buf, "\n")] = '\0';
	if (strncmp(buf, "# expect: ", 10))
		fail_msg("%s: first line is not '# expect: [FILE:]LINE: FRAGMENT'", path);
	p = buf + 10;
	snprintf(file, fsz, "%s", slash ? slash + 1 : path);
	colon = strchr(p, ':');
	assert_non_null(colon);
	if (colon[1] != ' ') { /* FILE:LINE: */
		*colon = '\0';
		assert_true(strlen(p) < fsz);
		memcpy(file, p, strlen(p) + 1);
		p = colon + 1;
	}
	*line = atoi(p);
	p = strstr(p, ": ");
	assert_non_null(p);
	assert_true(strlen(p + 2) < frsz);
	memcpy(frag, p + 2, strlen(p + 2) + 1);
}

static void bad_spec(const char *p)
{
	char file[256], frag[256];
	struct spec_problems ps;
	int line;

	parse_expect(p, file, sizeof file, &line, frag, sizeof frag);
	ps = load_bad(p, ERR_EXIT_USAGE);
	if (!find_problem(&ps, file, line, frag)) {
		print_problems(&ps);
		fail_msg("%s: no problem at %s:%d containing '%s'", p, file, line, frag);
	}
	spec_problems_free(&ps);
}

static void test_bad_corpus(void **state)
{
	(void)state;
	assert_true(each_cfg("tests/specs/bad", bad_spec) >= 40);
}

static void test_generated_bad_files(void **state)
{
	_cleanup_free_ char *empty = NULL, *big = NULL, *deep = NULL, *lines = NULL,
			    *missing = NULL;
	struct spec_problems ps;
	struct buf b = {0};
	struct spec *s = NULL;
	struct err e = {0};

	(void)state;
	empty = tmp_write("empty.cfg", "");
	ps = load_bad(empty, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "empty.cfg", 0, "is empty"));
	spec_problems_free(&ps);

	ps = load_bad(tmpdir, ERR_EXIT_USAGE);
	assert_non_null(strstr(ps.items[0].msg, "is a directory"));
	spec_problems_free(&ps);

	missing = path_join(tmpdir, "missing.cfg");
	ps = load_bad(missing, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "missing.cfg", 0, "No such file"));
	spec_problems_free(&ps);

	/* 10 MB: refused by size before it is read. */
	for (int i = 0; i < 10 * 1024; i++)
		buf_printf(&b, "# %1019d\n", i);
	big = tmp_write("big.cfg", b.data);
	buf_reset(&b);
	ps = load_bad(big, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "big.cfg", 0, "at most 1 MiB"));
	spec_problems_free(&ps);

	/* 100000 nested brackets: refused before the parser recurses. */
	buf_puts(&b, "name = \"x\";\nx = ");
	for (int i = 0; i < 100000; i++)
		buf_puts(&b, "[");
	buf_puts(&b, "\n");
	deep = tmp_write("deep.cfg", b.data);
	buf_reset(&b);
	ps = load_bad(deep, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "deep.cfg", 2, "nested more than 32 deep"));
	spec_problems_free(&ps);

	/* More lines than libconfig can number. */
	for (int i = 0; i < 70000; i++)
		buf_puts(&b, "\n");
	lines = tmp_write("lines.cfg", b.data);
	ps = load_bad(lines, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "lines.cfg", 65536, "more than 65535 lines"));
	spec_problems_free(&ps);

	/* Includes of empty files fanning out: bounded by a count, not by size. */
	buf_reset(&b);
	for (int i = 0; i < 300; i++)
		buf_puts(&b, "@include \"nothing.cfg\"\n");
	free(tmp_write("nothing.cfg", ""));
	free(lines);
	lines = tmp_write("fan.cfg", b.data);
	buf_free(&b);
	ps = load_bad(lines, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "fan.cfg", 257, "more than 256 @include"));
	spec_problems_free(&ps);

	/* probs may be NULL; the summary still counts. */
	assert_int_equal(spec_load(empty, &s, NULL, &e), -1);
	assert_null(s);
	assert_string_equal(e.msg + strlen(e.msg) - strlen("1 problem"), "1 problem");
}

static void test_every_problem_reported(void **state)
{
	_cleanup_free_ char *p = NULL;
	struct spec_problems ps;

	(void)state;
	p = tmp_write("many.cfg",
		      "name = \"Bad\";\n"
		      "ssh = { prot = 22; };\n"
		      "hosts = ( { name = \"..\"; address = \"10.0.0.1\"; cpus = 0; memory = \"1G\"; },\n"
		      "          { name = \"b\"; address = \"10.0.0.1\"; cpus = 1; memory = \"2X\"; } );\n"
		      "services = ( { name = \"c\"; template = \"redis\"; nodes = 5; ports = { base = 7000; }; } );\n");
	ps = load_bad(p, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "many.cfg", 1, "cluster name 'Bad'"));
	assert_non_null(find_problem(&ps, "many.cfg", 2, "did you mean 'port'?"));
	assert_non_null(find_problem(&ps, "many.cfg", 3, "starts with '.'"));
	assert_non_null(find_problem(&ps, "many.cfg", 3, "hosts[0].cpus: 0 is out of range"));
	assert_non_null(find_problem(&ps, "many.cfg", 4, "already host"));
	assert_non_null(find_problem(&ps, "many.cfg", 4, "'2X' is not a size"));
	assert_non_null(find_problem(&ps, "many.cfg", 5, "not a multiple of replicas+1"));
	/* Sorted by line. */
	for (size_t i = 1; i < ps.n; i++)
		assert_true(ps.items[i - 1].line <= ps.items[i].line);
	spec_problems_free(&ps);
}

static void test_broken_template(void **state)
{
	_cleanup_free_ char *p = NULL, *t = NULL;
	struct spec_problems ps;

	(void)state;
	t = tmp_write("data/templates/broken/template.cfg", "kind = \"redis\";\nbogus = 1;\n");
	p = tmp_write("spec.cfg",
		      "name = \"x\";\n"
		      "hosts = ( { name = \"a\"; address = \"10.1.0.1\"; cpus = 2; memory = \"1G\"; } );\n"
		      "services = ( { name = \"c\"; template = \"broken\"; nodes = 1;\n"
		      "               ports = { base = 7000; }; } );\n");
	{
		_cleanup_free_ char *data = path_join(tmpdir, "data");

		setenv("SHOAL_DATA", data, 1);
	}
	ps = load_bad(p, ERR_EXIT_USAGE);
	assert_non_null(find_problem(&ps, "spec.cfg", 3, "template 'broken' cannot be used: "));
	spec_problems_free(&ps);
}

/* ---- docs ---------------------------------------------------------------- */

#define DOC_BEGIN "<!-- BEGIN KEYS: generated by `shoal check --keys-markdown` -->\n"
#define DOC_END "<!-- END KEYS -->\n"

static void test_docs_match_key_table(void **state)
{
	_cleanup_free_ char *path = path_join(top(), "docs/spec.md");
	_cleanup_free_ char *doc = NULL, *md = spec_keys_markdown();
	char *a, *b;

	(void)state;
	assert_int_equal(read_file(path, 1 << 20, &doc, NULL, NULL), 0);
	a = strstr(doc, DOC_BEGIN);
	assert_non_null(a);
	a += strlen(DOC_BEGIN);
	b = strstr(a, DOC_END);
	assert_non_null(b);
	*b = '\0';
	if (strcmp(a, md))
		fail_msg("docs/spec.md is out of date: run tests/specs/spec-doc.sh");
	/* Every key of lab-redis.cfg's sections is documented. */
	assert_non_null(strstr(md, "| `services[].placement.spread` |"));
	assert_non_null(strstr(md, "| `hosts[].reserve.memory` |"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cluster_specs_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lab_redis_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults_and_units, setup, teardown),
		cmocka_unit_test_setup_teardown(test_includes_and_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include_problem_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_corpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generated_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_problem_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_template, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docs_match_key_table, setup, teardown),
	};

	db_register_kinds();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
