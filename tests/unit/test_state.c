/* test_state.c - state.json round trip and atomicity under kill -9, the
 * cluster lock (refusal naming the holder, stale takeover, forced unlock),
 * events.jsonl, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof root, "/tmp/shoal-test-state.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	setenv("SHOAL_STATE_DIR", root, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* remove <root>/<cluster>/<files> */
	static const char *const clusters[] = {"shop", "lockt", "stale", "crash"};
	for (size_t c = 0; c < ARRAY_SIZE(clusters); c++) {
		char *dir = path_join(root, clusters[c]);
		DIR *d = opendir(dir);
		struct dirent *de;

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
				continue;
			char *p = path_join(dir, de->d_name);
			unlink(p);
			free(p);
		}
		if (d)
			closedir(d);
		rmdir(dir);
		free(dir);
	}
	rmdir(root);
	return 0;
}

static struct state *sample(const char *cluster)
{
	struct state *st;
	struct err e;

	assert_int_equal(state_load(cluster, &st, &e), 0);
	assert_int_equal(st->serial, 0);
	assert_int_equal(st->n, 0);
	for (int i = 0; i < 3; i++) {
		st->nodes = xgrow(st->nodes, &st->cap, st->n + 1, sizeof *st->nodes);
		struct state_node *n = &st->nodes[st->n++];
		memset(n, 0, sizeof *n);
		n->id = xasprintf("cache-%d", i);
		n->service = xstrdup("cache");
		n->host = xasprintf("h%d", i + 1);
		n->address = xasprintf("10.213.4.%d", 11 + i);
		n->port = 7000;
		n->bus_port = 17000;
		n->role = xstrdup(i == 1 ? "replica" : "master");
		n->shard = i / 2;
		n->master = i == 1 ? xstrdup("cache-0") : NULL;
		n->image = xstrdup("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
		n->cluster_id = i == 0 ? xstrdup("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca") : NULL;
		n->config = i == 2 ? xstrdup("sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210")
				   : NULL;
	}
	st->spec = xstrdup("cluster-specs/shop.cfg");
	return st;
}

/* Drained hosts: set, cleared, kept through JSON, checked on load. */
static void test_drained(void **state)
{
	struct state *st = NULL, *back = NULL;
	struct err e;
	char *a, *b;

	(void)state;
	assert_int_equal(state_load("drainshop", &st, &e), 0); /* none yet: empty */
	assert_false(state_drained(st, "h1"));
	assert_true(state_set_drained(st, "h1", true));
	assert_false(state_set_drained(st, "h1", true));
	assert_true(state_set_drained(st, "h3", true));
	assert_true(state_drained(st, "h1"));
	assert_false(state_drained(st, "h2"));
	a = state_to_json(st);
	assert_non_null(strstr(a, "\"drained\""));
	assert_int_equal(state_from_json(a, "s.json", &back, &e), 0);
	assert_true(state_drained(back, "h1") && state_drained(back, "h3"));
	b = state_to_json(back);
	assert_string_equal(a, b);
	free(a);
	free(b);
	state_free(back);
	assert_true(state_set_drained(st, "h1", false));
	assert_false(state_drained(st, "h1"));
	assert_true(state_drained(st, "h3"));
	assert_true(state_set_drained(st, "h3", false));
	a = state_to_json(st);
	assert_null(strstr(a, "drained")); /* none: the key is left out */
	free(a);
	state_free(st);
	assert_int_equal(state_from_json("{\"format\":1,\"cluster\":\"shop\",\"serial\":1,"
					 "\"nodes\":[],\"drained\":[\"../h\"]}",
					 "s.json", &back, &e),
			 -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
}

static void test_roundtrip(void **state)
{
	struct state_lock *l;
	struct state *st, *back;
	struct err e;
	struct stat sb;

	(void)state;
	st = sample("shop");
	node_attrs_set(&st->nodes[2].attrs, "settings.maxmemory_policy", "noeviction");
	node_attrs_set(&st->nodes[2].attrs, "resources.memory", "256M");
	node_attrs_set(&st->nodes[2].attrs, "resources.memory", "512M"); /* replaced */
	assert_int_equal(state_lock("shop", "shoal up shop.cfg", &l, NULL, NULL, &e), 0);
	const char *pw = state_secret(st, "password", &e);
	assert_non_null(pw);
	assert_int_equal(strlen(pw), 64);
	char *pw_copy = xstrdup(pw);
	assert_ptr_equal(state_secret(st, "password", &e), pw); /* generated once */
	const char *cpw = state_service_secret(st, "cache", "password", &e);
	assert_non_null(cpw);
	assert_ptr_equal(state_secret_get(st, "cache.password"), cpw);
	assert_string_not_equal(cpw, pw);
	assert_null(state_secret_get(st, "cache.cookie"));
	assert_null(state_secret(st, "bad name", &e));
	assert_int_equal(state_save(l, st, &e), 0);
	assert_int_equal(st->serial, 1);
	assert_int_equal(state_save(l, st, &e), 0);
	assert_int_equal(st->serial, 2);

	char *path = xasprintf("%s/shop/state.json", root);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(state_load("shop", &back, &e), 0);
	assert_int_equal(back->serial, 2);
	assert_int_equal(back->n, 3);
	assert_string_equal(back->nodes[1].master, "cache-0");
	assert_null(back->nodes[0].master);
	assert_string_equal(back->nodes[0].cluster_id, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
	assert_string_equal(back->nodes[2].address, "10.213.4.13");
	assert_null(back->nodes[0].config);
	assert_int_equal(back->nodes[0].attrs.n, 0); /* none: "attrs" left out */
	assert_int_equal(back->nodes[2].attrs.n, 2);
	assert_true(node_attrs_equal(&back->nodes[2].attrs, &st->nodes[2].attrs));
	assert_string_equal(node_attrs_get(&back->nodes[2].attrs, "resources.memory"), "512M");
	assert_null(node_attrs_get(&back->nodes[2].attrs, "settings.nosuch"));
	assert_string_equal(back->nodes[2].config,
			    "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");
	assert_string_equal(state_secret(back, "password", &e), pw_copy);
	assert_non_null(back->created);
	char *a = state_to_json(st), *b = state_to_json(back);
	assert_string_equal(a, b);
	free(a);
	free(b);

	/* placement view for the planner */
	struct placement pl;
	state_placement(back, &pl);
	assert_int_equal(pl.n, 3);
	assert_string_equal(pl.nodes[2].host, "h3");
	state_placement_free(&pl);
	assert_true(state_drop(back, "cache-1"));
	assert_false(state_drop(back, "cache-1"));
	assert_int_equal(back->n, 2);
	assert_string_equal(back->nodes[1].id, "cache-2");
	state_free(back);

	/* events: one JSON object per line */
	json_t *f = json_pack("{s:s, s:s}", "node", "cache-0", "host", "h1");
	assert_int_equal(state_event(l, "node.created", f, &e), 0);
	assert_int_equal(state_event(l, "node.started", NULL, &e), 0);
	json_decref(f);
	char *ev = xasprintf("%s/shop/events.jsonl", root), *text;
	size_t len;
	assert_int_equal(read_file(ev, 1 << 20, &text, &len, &e), 0);
	char *nl = strchr(text, '\n');
	assert_non_null(nl);
	*nl = '\0';
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "node.created");
	assert_string_equal(json_string_value(json_object_get(j, "node")), "cache-0");
	json_decref(j);
	assert_non_null(strstr(nl + 1, "\"event\":\"node.started\""));
	assert_int_equal(nl[1 + strlen(nl + 1) - 1], '\n');
	free(text);
	free(ev);

	/* a corrupt state file is reported and left as it is */
	assert_int_equal(write_file_atomic(path, "{\"format\": 1,", 13, 0600, &e), 0);
	assert_int_equal(state_load("shop", &back, &e), -1);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(read_file(path, 1 << 20, &text, &len, &e), 0);
	assert_int_equal(len, 13);
	free(text);

	/* hostile contents: names that would become paths or commands */
	const char *bad[] = {
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"../x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0}]}",
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\\nb\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0}]}",
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":0,\"bus_port\":0,\"role\":\"master\",\"shard\":0}]}",
		"{\"format\":3,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[]}",
		"{\"format\":2,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0,\"attrs\":[\"a\"]}]}",
		"{\"format\":2,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0,\"attrs\":{\"a\":1}}]}",
		"{\"format\":2,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0,\"attrs\":{\"a\":\"x\\ny\"}}]}",
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[],\"extra\":1}",
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[],\"secrets\":{\"pw\":\"a\\nb\"}}",
		"{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0,\"config\":\"md5:0\"}]}",
	};
	/* a format 1 state (an older shoal: no attrs) still loads */
	assert_int_equal(state_from_json("{\"format\":1,\"cluster\":\"shop\",\"serial\":1,\"nodes\":[{\"id\":\"x\",\"service\":\"c\",\"host\":\"h\",\"address\":\"a\",\"port\":1,\"bus_port\":0,\"role\":\"master\",\"shard\":0,\"config\":\"sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\"}]}",
					 "s.json", &back, &e), 0);
	assert_int_equal(back->nodes[0].attrs.n, 0);
	assert_non_null(back->nodes[0].config);
	a = state_to_json(back);
	assert_non_null(strstr(a, "\"format\": 2"));
	free(a);
	state_free(back);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(state_from_json(bad[i], "s.json", &back, &e), -1);
		assert_null(back);
		assert_int_equal(e.exit, ERR_EXIT_USAGE);
	}
	/* state of another cluster under this name */
	a = state_to_json(st);
	char *other = xstrdup(a);
	char *c = strstr(other, "\"shop\"");
	memcpy(c, "\"shoe\"", 6);
	assert_int_equal(write_file_atomic(path, other, strlen(other), 0600, &e), 0);
	assert_int_equal(state_load("shop", &back, &e), -1);
	assert_non_null(strstr(e.msg, "records cluster 'shoe'"));
	free(other);
	free(a);

	assert_int_equal(state_remove(l, &e), 0);
	assert_int_equal(access(path, F_OK), -1);
	state_unlock(l);
	free(path);
	free(pw_copy);
	state_free(st);
	assert_int_equal(state_dir("../etc", &path, &e), -1);
}

/* Child: take the lock, tell the parent, then wait to be killed. */
static pid_t locker(const char *cluster)
{
	int p[2];
	char c;

	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct state_lock *l;
		struct err e;

		close(p[0]);
		if (state_lock(cluster, "shoal up child.cfg", &l, NULL, NULL, &e) < 0)
			_exit(1);
		(void)!write(p[1], "x", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	return pid;
}

static void test_lock(void **state)
{
	struct state_lock *l, *l2;
	struct lock_holder h;
	bool stale, held;
	struct err e;

	(void)state;
	/* a live holder (another process): refused, naming it */
	pid_t child = locker("lockt");
	assert_int_equal(state_lock("lockt", "shoal up b.cfg", &l, &h, &stale, &e), -1);
	char want[64];
	snprintf(want, sizeof want, "is locked by pid %d on ", (int)child);
	assert_non_null(strstr(e.msg, want));
	assert_non_null(strstr(e.msg, "running 'shoal up child.cfg'"));
	assert_non_null(strstr(e.msg, "shoal unlock"));
	assert_int_equal(e.code, EBUSY);
	assert_int_equal(state_lock_read("lockt", &h, &held, &e), 0);
	assert_true(held);
	assert_int_equal(h.pid, child);

	/* unlock refuses while it runs; --force removes the lock file */
	assert_int_equal(state_force_unlock("lockt", false, &h, &e), -1);
	assert_non_null(strstr(e.msg, "which is running"));
	assert_int_equal(state_force_unlock("lockt", true, &h, &e), 0);
	assert_int_equal(h.pid, child);
	assert_int_equal(state_lock("lockt", "shoal up b.cfg", &l, &h, &stale, &e), 0);
	assert_false(stale);
	/* in the same process a second lock is refused too */
	assert_int_equal(state_lock("lockt", "shoal up c.cfg", &l2, NULL, NULL, &e), -1);
	snprintf(want, sizeof want, "is locked by pid %d on ", (int)getpid());
	assert_non_null(strstr(e.msg, want));
	state_unlock(l);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	/* a holder killed with -9: the lock is taken over and reported */
	child = locker("stale");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_int_equal(state_lock_read("stale", &h, &held, &e), 0);
	assert_false(held);
	assert_int_equal(h.pid, child);
	assert_int_equal(state_lock("stale", "shoal up d.cfg", &l, &h, &stale, &e), 0);
	assert_true(stale);
	assert_int_equal(h.pid, child);
	assert_string_equal(h.command, "shoal up child.cfg");
	state_unlock(l);
	/* released cleanly: no stale record next time, unlock has nothing to do */
	assert_int_equal(state_lock("stale", "x", &l, &h, &stale, &e), 0);
	assert_false(stale);
	state_unlock(l);
	assert_int_equal(state_force_unlock("stale", false, &h, &e), 0);
	assert_int_equal(h.pid, 0);
}

static void test_kill9_mid_write(void **state)
{
	struct state *st = sample("crash");
	char *path = xasprintf("%s/crash/state.json", root);
	struct err e;
	int readable = 0, torn = 0;

	(void)state;
	/* grow the state so a write takes a while */
	for (int i = 3; i < 3000; i++) {
		st->nodes = xgrow(st->nodes, &st->cap, st->n + 1, sizeof *st->nodes);
		struct state_node *n = &st->nodes[st->n++];
		memset(n, 0, sizeof *n);
		n->id = xasprintf("cache-%d", i);
		n->service = xstrdup("cache");
		n->host = xstrdup("h1");
		n->address = xstrdup("10.0.0.1");
		n->port = 7000 + i % 1000;
		n->role = xstrdup("master");
	}
	for (int round = 0; round < 12; round++) {
		int sync[2];
		char c;

		assert_int_equal(pipe(sync), 0);
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			struct state_lock *l;

			close(sync[0]);
			if (state_lock("crash", "writer", &l, NULL, NULL, &e) < 0)
				_exit(1);
			for (int saved = 0;; saved++) {
				if (state_save(l, st, &e) < 0)
					_exit(2);
				if (saved == 0)
					(void)!write(sync[1], "s", 1);
			}
		}
		close(sync[1]);
		/* one save is done; kill the writer in a later one: at a
		 * varying moment (odd rounds) or as soon as its temp file
		 * appears, i.e. between create and rename (even rounds) */
		assert_int_equal(read(sync[0], &c, 1), 1);
		close(sync[0]);
		char *tmp = xasprintf("%s.tmp.%ld", path, (long)pid);
		if (round % 2)
			usleep(1000 + 2500 * (useconds_t)round);
		else
			for (int i = 0; i < 20000 && access(tmp, F_OK) != 0; i++)
				usleep(50);
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		/* a temp file left behind: this kill landed inside a save */
		torn += access(tmp, F_OK) == 0;
		free(tmp);
		/* the file is the old or the new one, never torn or empty */
		struct state *back = NULL;
		assert_int_equal(state_load("crash", &back, &e), 0);
		assert_int_equal(back->n, 3000);
		assert_true(back->serial >= 1);
		readable++;
		state_free(back);
	}
	assert_int_equal(readable, 12);
	assert_true(torn > 0); /* the test did hit writes in progress */
	/* the next lock holder sweeps the temp files killed writers left */
	struct state_lock *l;
	assert_int_equal(state_lock("crash", "sweeper", &l, NULL, NULL, &e), 0);
	char *dir = xasprintf("%s/crash", root);
	DIR *d = opendir(dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp."));
	closedir(d);
	state_unlock(l);
	free(dir);
	free(path);
	state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_drained),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_kill9_mid_write),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
