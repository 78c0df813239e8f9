/* test_template.c - template.cfg loading, the {{ var }} renderer, and the
 * rendered Redis, Cassandra and Riak configs checked key by key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "node_vars.h"
#include "probe.h"
#include "template.h"
#include "test_wait.h"
#include "util.h"

static const char *top(void)
{
	const char *t = getenv("SHOAL_TOP");

	return t && *t ? t : ".";
}

/* ---- a small cluster to render for ------------------------------------------ */

struct world {
	struct spec s;
	struct spec_host hosts[3];
	struct spec_service svc;
	struct kv settings[1];
	struct kv secret_items[2];
	struct kvlist secrets;
	struct plan *plan;
	struct template *t;
	struct tmpl_vars vars;
};

static struct world *world_new(const char *tmpl, int nodes, int replicas)
{
	static char *names[] = {"h1", "h2", "h3"};
	static char *addrs[] = {"10.213.4.11", "10.213.4.12", "10.213.4.13"};
	static char *racks[] = {"r1", "r2", "r3"};
	struct world *w = xcalloc(1, sizeof *w);
	struct err e;

	w->s.name = "shop";
	w->s.path = "shop.cfg";
	for (int i = 0; i < 3; i++)
		w->hosts[i] = (struct spec_host){.name = names[i], .address = addrs[i],
						  .rack = racks[i], .zone = "z1"};
	w->s.hosts = w->hosts;
	w->s.nhosts = 3;
	w->svc.name = "svc";
	w->svc.template = (char *)tmpl;
	w->svc.nodes = nodes;
	w->svc.replicas = replicas;
	w->svc.resources.memory = 256 << 20;
	w->s.services = &w->svc;
	w->s.nservices = 1;
	w->secret_items[0] = (struct kv){.key = "svc.password", .value = "s3cr'et pw"};
	w->secret_items[1] = (struct kv){.key = "svc.cookie", .value = "c00kie"};
	w->secrets.items = w->secret_items;
	w->secrets.n = 2;
	assert_int_equal(template_load(top(), tmpl, &w->t, &e), 0);
	struct plan_traits tr;
	template_plan_traits(w->t, &tr);
	assert_int_equal(plan_compute(&w->s, &tr, NULL, &w->plan, NULL, &e), 0);
	return w;
}

static void world_free(struct world *w)
{
	tmpl_vars_free(&w->vars);
	plan_free(w->plan);
	template_free(w->t);
	free(w);
}

/* Render file i of the template for node n. */
static char *render_for(struct world *w, size_t node, size_t file)
{
	struct err e;
	char *out = NULL;
	size_t len;

	tmpl_vars_free(&w->vars);
	if (template_node_vars(w->t, &w->s, w->plan, &w->plan->nodes[node], &w->secrets,
			       &w->vars, &e) < 0)
		fail_msg("%s", e.msg);
	if (template_render_file(w->t, file, &w->vars, &out, &len, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(strlen(out), len);
	return out;
}

/* The value of `key` in rendered text: the rest of the first line that
 * starts with key followed by `sep`; NULL when absent.  Caller frees. */
static char *value_of(const char *text, const char *key, const char *sep)
{
	size_t kl = strlen(key), sl = strlen(sep);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		while (*l == ' ')
			l++;
		if (!strncmp(l, key, kl) && !strncmp(l + kl, sep, sl)) {
			const char *v = l + kl + sl, *end = strchr(v, '\n');

			return xstrndup(v, end ? (size_t)(end - v) : strlen(v));
		}
	}
	return NULL;
}

static void expect_kv(const char *text, const char *key, const char *sep, const char *want)
{
	char *v = value_of(text, key, sep);

	if (!v)
		fail_msg("key '%s' missing from:\n%s", key, text);
	if (strcmp(v, want))
		fail_msg("key '%s': got '%s', want '%s'", key, v, want);
	free(v);
}

/* ---- the three templates ----------------------------------------------------- */

static void test_redis_template(void **state)
{
	struct world *w = world_new("redis", 6, 1);
	const struct template *t = w->t;
	char *conf;

	(void)state;
	assert_string_equal(t->kind, "redis");
	assert_string_equal(t->image, "node-images/redis.cfg");
	assert_int_equal(t->client_port, 6379);
	assert_int_equal(t->bus_offset, 10000);
	assert_string_equal(t->data_dir, "/data");
	assert_int_equal(t->nfiles, 1);
	assert_string_equal(t->files[0].dest, "/etc/redis/redis.conf");
	assert_int_equal(t->files[0].mode, 0640);
	assert_string_equal(t->start[0], "/usr/bin/redis-server");
	assert_true(t->start_line > 0);
	assert_int_equal(t->stop_signal, SIGTERM);
	assert_true(t->stop_grace_ms == 10000);
	assert_int_equal(t->readiness.kind, PROBE_REDIS);
	assert_int_equal(t->health.kind, PROBE_REDIS);
	assert_string_equal(t->hooks[HOOK_FORM].builtin, "redis-form");
	assert_string_equal(t->hooks[HOOK_LEAVE].builtin, "redis-leave");
	assert_int_equal(t->nsecrets, 1);
	assert_string_equal(t->secrets[0], "password");

	conf = render_for(w, 3, 0); /* svc-3: a replica */
	const struct plan_node *n = &w->plan->nodes[3];
	char port[16], bus[16];
	snprintf(port, sizeof port, "%d", n->port);
	snprintf(bus, sizeof bus, "%d", n->bus_port);
	expect_kv(conf, "bind", " ", n->host->address);
	expect_kv(conf, "port", " ", port);
	expect_kv(conf, "protected-mode", " ", "yes");
	/* double-quoted: redis.conf splits arguments on spaces */
	expect_kv(conf, "requirepass", " ", "\"s3cr'et pw\"");
	expect_kv(conf, "masterauth", " ", "\"s3cr'et pw\"");
	expect_kv(conf, "dir", " ", "/data");
	expect_kv(conf, "cluster-enabled", " ", "yes");
	expect_kv(conf, "cluster-config-file", " ", "/data/nodes.conf");
	expect_kv(conf, "cluster-node-timeout", " ", "2000");
	expect_kv(conf, "cluster-announce-ip", " ", n->host->address);
	expect_kv(conf, "cluster-announce-port", " ", port);
	expect_kv(conf, "cluster-announce-bus-port", " ", bus);
	expect_kv(conf, "appendonly", " ", "yes");
	expect_kv(conf, "daemonize", " ", "no");
	assert_null(strstr(conf, "{{"));
	free(conf);

	/* a service setting overrides the template default */
	w->settings[0] = (struct kv){.key = "cluster_node_timeout", .value = "5000"};
	w->svc.settings.items = w->settings;
	w->svc.settings.n = 1;
	conf = render_for(w, 0, 0);
	expect_kv(conf, "cluster-node-timeout", " ", "5000");
	free(conf);

	/* a value with a newline cannot inject a config line */
	w->settings[0].value = "5000\nprotected-mode no";
	struct err e;
	tmpl_vars_free(&w->vars);
	assert_int_equal(template_node_vars(t, &w->s, w->plan, &w->plan->nodes[0], &w->secrets,
					    &w->vars, &e), -1);
	assert_non_null(strstr(e.msg, "control character"));
	world_free(w);
}

static void test_cassandra_template(void **state)
{
	struct world *w = world_new("cassandra", 3, 3);
	char *yaml, *rackdc;

	(void)state;
	assert_int_equal(w->t->readiness.kind, PROBE_CQL);
	assert_int_equal(w->t->client_port, 9042);
	yaml = render_for(w, 1, 0);
	const struct plan_node *n = &w->plan->nodes[1];
	expect_kv(yaml, "cluster_name", ": ", "'shop'");
	expect_kv(yaml, "- seeds", ": ", "\"10.213.4.11,10.213.4.12,10.213.4.13\"");
	expect_kv(yaml, "- class_name", ": ", "org.apache.cassandra.locator.SimpleSeedProvider");
	expect_kv(yaml, "listen_address", ": ", n->host->address);
	expect_kv(yaml, "broadcast_address", ": ", n->host->address);
	expect_kv(yaml, "rpc_address", ": ", n->host->address);
	expect_kv(yaml, "storage_port", ": ", "7000");
	expect_kv(yaml, "native_transport_port", ": ", "9042");
	expect_kv(yaml, "endpoint_snitch", ": ", "GossipingPropertyFileSnitch");
	expect_kv(yaml, "num_tokens", ": ", "16");
	expect_kv(yaml, "commitlog_directory", ": ", "/var/lib/cassandra/commitlog");
	rackdc = render_for(w, 1, 1);
	expect_kv(rackdc, "dc", "=", "dc1");
	expect_kv(rackdc, "rack", "=", n->host->rack);
	free(yaml);
	free(rackdc);

	/* argv hooks render per node; replace needs hook.old_address */
	char **argv = NULL;
	struct err e;
	assert_int_equal(template_render_argv(w->t, w->t->hooks[HOOK_LEAVE].argv,
					      w->t->hooks[HOOK_LEAVE].line, &w->vars, &argv, &e), 0);
	assert_string_equal(argv[0], "/opt/cassandra/bin/nodetool");
	assert_string_equal(argv[2], n->host->address);
	assert_string_equal(argv[3], "decommission");
	assert_null(argv[4]);
	strv_free(argv);
	assert_int_equal(template_render_argv(w->t, w->t->hooks[HOOK_REPLACE].argv,
					      w->t->hooks[HOOK_REPLACE].line, &w->vars, &argv, &e), -1);
	assert_non_null(strstr(e.msg, "template.cfg:"));
	assert_non_null(strstr(e.msg, "unknown variable 'hook.old_address'"));
	tmpl_vars_set(&w->vars, "hook.old_address", "10.213.4.99");
	assert_int_equal(template_render_argv(w->t, w->t->hooks[HOOK_REPLACE].argv,
					      w->t->hooks[HOOK_REPLACE].line, &w->vars, &argv, &e), 0);
	assert_string_equal(argv[4], "10.213.4.99");
	strv_free(argv);
	world_free(w);
}

static void test_riak_template(void **state)
{
	struct world *w = world_new("riak", 3, 3);
	char *conf;

	(void)state;
	assert_int_equal(w->t->readiness.kind, PROBE_HTTP);
	assert_string_equal(w->t->readiness.path, "/ping");
	assert_string_equal(w->t->readiness.expect, "OK");
	assert_int_equal(w->t->readiness.port, 8098);
	conf = render_for(w, 2, 0);
	const struct plan_node *n = &w->plan->nodes[2];
	char want[64];
	snprintf(want, sizeof want, "riak@%s", n->host->address);
	expect_kv(conf, "nodename", " = ", want);
	expect_kv(conf, "distributed_cookie", " = ", "c00kie");
	snprintf(want, sizeof want, "%s:8098", n->host->address);
	expect_kv(conf, "listener.http.internal", " = ", want);
	snprintf(want, sizeof want, "%s:8087", n->host->address);
	expect_kv(conf, "listener.protobuf.internal", " = ", want);
	expect_kv(conf, "platform_data_dir", " = ", "/var/lib/riak");
	/* hand-off at Riak's own pace unless the spec says otherwise */
	expect_kv(conf, "transfer_limit", " = ", "2");
	expect_kv(conf, "vnode_management_timer", " = ", "10s");
	free(conf);
	world_free(w);
}

/* advanced.config is one Erlang term that Erlang itself reads
 * (file:consult), with riak_core's vnode_inactivity_timeout the setting's
 * integer (Riak's default 60000 unless the spec says otherwise). */
static void test_riak_advanced_config(void **state)
{
	struct world *w = world_new("riak", 3, 3);
	char dir[] = "/tmp/shoal-test-advcfg.XXXXXX";
	char *conf, *path, *expr;
	struct err e;
	int status;
	pid_t pid;

	(void)state;
	conf = render_for(w, 1, 1);
	assert_non_null(strstr(conf, "{vnode_inactivity_timeout, 60000},"));
	if (access("/usr/bin/erl", X_OK) != 0) {
		print_message("# skip reason: %s: /usr/bin/erl not installed\n", __func__);
		free(conf);
		world_free(w);
		skip();
		return;
	}
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/advanced.config", dir);
	assert_int_equal(write_file_atomic(path, conf, strlen(conf), 0600, &e), 0);
	expr = xasprintf("case file:consult(\"%s\") of "
			 "{ok, [T]} -> case proplists:get_value(vnode_inactivity_timeout, "
			 "proplists:get_value(riak_core, T)) of 60000 -> halt(0); _ -> halt(2) end; "
			 "Other -> io:format(\"~p~n\", [Other]), halt(1) end.",
			 path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"/usr/bin/erl", "-noshell", "-eval", expr, NULL};

		execv(argv[0], argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	rmdir(dir);
	free(path);
	free(expr);
	free(conf);
	world_free(w);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

struct probe_wait {
	struct probe_target t;
	struct probe_report r;
	struct err e;
};

/* Ready once the server answers at all (not refused). */
static bool probe_answers(void *arg)
{
	struct probe_wait *pw = arg;

	return probe_run(&pw->t, &pw->r, &pw->e) == 0 && pw->r.result != PROBE_REFUSED;
}

/* The rendered redis.conf is one a real redis-server 7 accepts: start it
 * (on 127.0.0.1, data in a temp folder) and probe it with the password. */
static void test_redis_conf_runs(void **state)
{
	struct world *w;
	char dir[] = "/tmp/shoal-test-redisconf.XXXXXX";
	char *conf, *path;
	struct err e;
	pid_t pid;

	(void)state;
	if (access("/usr/bin/redis-server", X_OK) != 0) {
		print_message("# skip reason: %s: /usr/bin/redis-server not installed\n", __func__);
		skip();
		return;
	}
	w = world_new("redis", 3, 0);
	assert_non_null(mkdtemp(dir));
	w->hosts[0].address = "127.0.0.1";
	/* a client port p with p + 10000 free, below 55536 */
	int port = 0;
	for (int p = 21000 + getpid() % 20000; p < 45000 && !port; p++) {
		struct probe_report r;
		struct probe_target t = {.kind = PROBE_TCP, .host = "127.0.0.1", .port = p};
		struct probe_target tb = {.kind = PROBE_TCP, .host = "127.0.0.1", .port = p + 10000};
		if (probe_run(&t, &r, &e) == 0 && r.result == PROBE_REFUSED &&
		    probe_run(&tb, &r, &e) == 0 && r.result == PROBE_REFUSED)
			port = p;
	}
	assert_true(port > 0);
	w->plan->nodes[0].port = port;
	w->plan->nodes[0].bus_port = port + 10000;
	tmpl_vars_free(&w->vars);
	assert_int_equal(template_node_vars(w->t, &w->s, w->plan, &w->plan->nodes[0], &w->secrets,
					    &w->vars, &e), 0);
	tmpl_vars_set(&w->vars, "node.data_dir", dir);
	size_t len;
	assert_int_equal(template_render_file(w->t, 0, &w->vars, &conf, &len, &e), 0);
	path = xasprintf("%s/redis.conf", dir);
	assert_int_equal(write_file_atomic(path, conf, len, 0600, &e), 0);
	free(conf);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = {"/usr/bin/redis-server", path, NULL};
		char *logf = xasprintf("%s/log", dir);
		int log = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(log, 1);
		dup2(log, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	struct probe_wait pw = {.t = {.kind = PROBE_REDIS, .host = "127.0.0.1", .port = port,
				      .password = "s3cr'et pw", .cluster = true}};
	char what[96], why[160];

	snprintf(what, sizeof what, "redis-server on port %d (log %s/log)", port, dir);
	int started = test_wait_started(pid, what, probe_answers, &pw, why, sizeof why);
	struct probe_report r = pw.r;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (started < 0)
		fail_msg("%s", why);
	/* it answered with our password, runs in cluster mode, owns no slots */
	assert_int_equal(r.result, PROBE_CLUSTER_DOWN);
	assert_int_equal(r.known_nodes, 1);
	static const char *const files[] = {"redis.conf", "nodes.conf", "appendonly.aof",
					    "appendonlydir", "dump.rdb", "log"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *f = xasprintf("%s/%s", dir, files[i]);
		DIR *d = opendir(f);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char *g = xasprintf("%s/%s", f, de->d_name);
			unlink(g);
			free(g);
		}
		if (d) {
			closedir(d);
			rmdir(f);
		}
		unlink(f);
		free(f);
	}
	assert_int_equal(rmdir(dir), 0);
	free(path);
	world_free(w);
}

/* ---- the renderer ---------------------------------------------------------------- */

static void test_render_rules(void **state)
{
	struct tmpl_vars v = {0};
	struct err e;
	char *out;
	size_t len;

	(void)state;
	tmpl_vars_set(&v, "a", "1");
	tmpl_vars_set(&v, "node.id", "c-0");
	tmpl_vars_set(&v, "loop", "{{ a }}");
	tmpl_vars_set(&v, "a", "2"); /* replaces */
	const char ok[] = "x={{a}} y={{  node.id  }} z={{ loop }} {not} {{";
	assert_int_equal(template_render(ok, sizeof ok - 4, "f", &v, &out, &len, &e), 0);
	/* no recursion: the value "{{ a }}" is inserted as it is */
	assert_string_equal(out, "x=2 y=c-0 z={{ a }} {not}");
	free(out);

	const char unknown[] = "line1\nline2 {{ nope }}\n";
	assert_int_equal(template_render(unknown, strlen(unknown), "t.tmpl", &v, &out, &len, &e), -1);
	assert_null(out);
	assert_string_equal(e.msg, "t.tmpl:2: unknown variable 'nope'");
	assert_int_equal(e.exit, ERR_EXIT_USAGE);

	assert_int_equal(template_render("a\nb\nc {{ a", 10, "t.tmpl", &v, &out, &len, &e), -1);
	assert_string_equal(e.msg, "t.tmpl:3: unterminated '{{'");
	assert_int_equal(template_render("{{ a b }}", 9, "t", &v, &out, &len, &e), -1);
	assert_non_null(strstr(e.msg, "t:1: expected '{{ name }}'"));
	assert_int_equal(template_render("{{ $(id) }}", 11, "t", &v, &out, &len, &e), -1);
	assert_int_equal(template_render("{{}}", 4, "t", &v, &out, &len, &e), -1);
	assert_non_null(strstr(e.msg, "empty"));

	const char *bad[] = {"x\ny", "x\ry", "tab\there", "del\x7f"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		tmpl_vars_set(&v, "evil", bad[i]);
		assert_int_equal(template_render("k {{ evil }}", 12, "t", &v, &out, &len, &e), -1);
		assert_string_equal(e.msg, "t:1: value of 'evil' has a control character");
	}
	assert_int_equal(template_render("a\0b", 3, "t", &v, &out, &len, &e), -1);
	assert_int_equal(template_render("", 0, "t", &v, &out, &len, &e), 0);
	assert_string_equal(out, "");
	free(out);
	tmpl_vars_free(&v);
}

/* ---- bad template.cfg files ------------------------------------------------------ */

static char *tmpdir;

static void write_template(const char *body)
{
	char *dir = xasprintf("%s/templates/bad", tmpdir), *path;
	struct err e;

	assert_int_equal(mkdir_p(dir, 0755, &e), 0);
	path = xasprintf("%s/template.cfg", dir);
	assert_int_equal(write_file_atomic(path, body, strlen(body), 0644, &e), 0);
	free(path);
	free(dir);
}

static const char good_cfg[] =
	"kind = \"redis\";\n"                                                     /* 1 */
	"image = \"node-images/redis.cfg\";\n"                                    /* 2 */
	"ports = { client = 6379; bus_offset = 10000; };\n"                       /* 3 */
	"data_dir = \"/data\";\n"                                                 /* 4 */
	"start = [ \"/usr/bin/redis-server\" ];\n"                                /* 5 */
	"stop = { signal = \"TERM\"; grace = \"5s\"; };\n"                        /* 6 */
	"readiness = { kind = \"tcp\"; connect_timeout = \"1s\"; read_timeout = \"1s\"; interval = \"1s\"; };\n"
	"health = { kind = \"tcp\"; connect_timeout = \"1s\"; read_timeout = \"1s\"; interval = \"1s\"; };\n"
	"hooks = { form = \"builtin:redis-form\"; join = [ \"/bin/true\" ]; leave = \"builtin:redis-leave\"; replace = \"builtin:redis-leave\"; };\n";

static void expect_bad(const char *body, const char *want)
{
	struct template *t = (struct template *)1;
	struct err e;

	write_template(body);
	assert_int_equal(template_load(tmpdir, "bad", &t, &e), -1);
	assert_null(t);
	if (!strstr(e.msg, want))
		fail_msg("got '%s', want it to contain '%s'", e.msg, want);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
}

static void test_bad_templates(void **state)
{
	struct template *t = NULL;
	struct err e;
	char *body;

	(void)state;
	tmpdir = xstrdup("/tmp/shoal-test-template.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));

	write_template(good_cfg);
	assert_int_equal(template_load(tmpdir, "bad", &t, &e), 0);
	assert_int_equal(t->nfiles, 0);
	assert_null(t->hooks[HOOK_JOIN].builtin);
	assert_string_equal(t->hooks[HOOK_JOIN].argv[0], "/bin/true");
	template_free(t);

	body = xasprintf("%ssyscalls = [\"io_uring_setup\", \"io_uring_enter\"];\n", good_cfg);
	write_template(body);
	free(body);
	assert_int_equal(template_load(tmpdir, "bad", &t, &e), 0);
	assert_int_equal(t->nsyscalls, 2);
	assert_string_equal(t->syscalls[1], "io_uring_enter");
	template_free(t);
	body = xasprintf("%ssyscalls = [\"io uring\"];\n", good_cfg);
	expect_bad(body, "template.cfg:10: 'syscalls': 'io uring' is not a syscall name");
	free(body);
	body = xasprintf("%scolour = \"blue\";\n", good_cfg);
	expect_bad(body, "template.cfg:10: unknown key 'colour'");
	free(body);
	expect_bad("kind = 5;\n", "template.cfg:1: 'kind' must be a string");
	expect_bad("kind = \"redis\";\n", "'image' is missing");
	body = xasprintf("%s", good_cfg);
	body[strstr(body, "\"TERM\"") - body + 1] = 'X';
	expect_bad(body, "template.cfg:6: 'stop.signal': unknown signal 'XERM'");
	free(body);
	body = xasprintf("%sfiles = ( { source = \"../../etc/passwd\"; dest = \"/x\"; } );\n", good_cfg);
	expect_bad(body, "template.cfg:10: 'files[0].source' must be a file name");
	free(body);
	body = xasprintf("%sfiles = ( { source = \"a.tmpl\"; dest = \"/etc/../x\"; } );\n", good_cfg);
	expect_bad(body, "'files[0].dest' must be a clean absolute path");
	free(body);
	body = xasprintf("%s", good_cfg);
	char *h = strstr(body, "\"builtin:redis-leave\"");
	memcpy(h, "\"sh -c xyz\"          ", 21); /* same length */
	expect_bad(body, "template.cfg:9: 'hooks.leave': a string hook must be \"builtin:<step>\"");
	free(body);
	/* a kind or a step no driver implements is refused, naming the known ones */
	body = xasprintf("%s", good_cfg);
	memcpy(strstr(body, "\"redis\""), "\"mongo\"", 7);
	expect_bad(body, "template.cfg:1: 'kind': no driver for database kind 'mongo' "
			 "(known: redis, cassandra, riak)");
	free(body);
	body = xasprintf("%s", good_cfg);
	memcpy(strstr(body, "\"builtin:redis-form\";"), "\"builtin:riak-form\"; ", 21);
	expect_bad(body, "template.cfg:9: 'hooks.form': kind redis has no step 'builtin:riak-form' "
			 "(known: builtin:redis-form, builtin:redis-join, builtin:redis-leave, "
			 "builtin:redis-replace)");
	free(body);
	expect_bad("kind = \"redis\"\nimage", "template.cfg:2: syntax error");
	assert_int_equal(template_load(tmpdir, "../x", &t, &e), -1);
	assert_int_equal(template_load(tmpdir, "missing", &t, &e), -1);
	assert_non_null(strstr(e.msg, "template 'missing'"));
	assert_int_equal(e.exit, ERR_EXIT_FAIL);

	char *cfg = xasprintf("%s/templates/bad/template.cfg", tmpdir);
	unlink(cfg);
	free(cfg);
	cfg = xasprintf("%s/templates/bad", tmpdir);
	rmdir(cfg);
	free(cfg);
	cfg = xasprintf("%s/templates", tmpdir);
	rmdir(cfg);
	free(cfg);
	rmdir(tmpdir);
	free(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_template),
		cmocka_unit_test(test_redis_conf_runs),
		cmocka_unit_test(test_cassandra_template),
		cmocka_unit_test(test_riak_template),
		cmocka_unit_test(test_riak_advanced_config),
		cmocka_unit_test(test_render_rules),
		cmocka_unit_test(test_bad_templates),
	};

	db_register_kinds();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
