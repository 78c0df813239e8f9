/* test_agent_proto.c - the agent protocol end to end: a real shoal-agent
 * (`serve --stdio` with a temporary --root) driven through agent_client, plus
 * raw lines that no well-behaved client would send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_client.h"
#include "daemon.h"
#include "digest.h"
#include "jsonl.h"
#include "transport.h"
#include "util.h"

struct fx {
	char root[64];
	struct tchan *ch;          /* raw tests */
	struct agent_client *c;    /* client tests */
};

static char *agent_bin(void)
{
	const char *b = getenv("SHOAL_BUILD");

	return path_join(b && *b ? b : "build/asan", "shoal-agent");
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof *f);
	_cleanup_free_ char *bin = agent_bin();
	const char *argv[] = {bin, "serve", "--stdio", "--root", f->root, NULL};
	struct err e;

	snprintf(f->root, sizeof f->root, "/tmp/shoal-test-agent.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(tchan_spawn_local("agent", argv, &f->ch, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	const char *argv[] = {"/bin/rm", "-rf", "--", f->root, NULL};
	struct tchan *rm;
	struct err e;

	if (f->c)
		agent_client_free(f->c);
	else if (f->ch)
		tchan_close(f->ch, NULL, &e);
	if (tchan_spawn_local("rm", argv, &rm, &e) == 0)
		tchan_close(rm, NULL, &e);
	free(f);
	return 0;
}

static struct agent_client *client(struct fx *f)
{
	f->c = agent_client_new(f->ch);
	f->ch = NULL;
	return f->c;
}

/* Send raw bytes and read one answer line. */
static json_t *raw_exchange(struct fx *f, const char *bytes, size_t n)
{
	struct jsonl_reader rd;
	struct err e;
	char *line = NULL, tmp[4096];
	json_t *v;

	assert_int_equal(tchan_write(f->ch, bytes, n, &e), 0);
	jsonl_reader_init(&rd, JSONL_LINE_MAX);
	while (jsonl_next(&rd, &line, &e) <= 0) {
		ssize_t r = tchan_read(f->ch, tmp, sizeof tmp, 10000, &e);

		assert_true(r > 0);
		jsonl_feed(&rd, tmp, (size_t)r);
	}
	jsonl_reader_free(&rd);
	v = jsonl_parse(line, &e);
	free(line);
	assert_non_null(v);
	return v;
}

static const char *err_code(json_t *ans)
{
	return json_string_value(json_object_get(json_object_get(ans, "error"), "code"));
}

static void test_hello(void **state)
{
	struct agent_client *c = client(*state);
	json_t *r = NULL;
	struct err e;

	assert_int_equal(agent_call(c, json_pack("{s:s,s:i}", "op", "hello",
						 "protocol", 1), &r, 10000, &e), 0);
	assert_string_equal(json_string_value(json_object_get(r, "agent")), "shoal-agent");
	assert_int_equal(json_integer_value(json_object_get(r, "protocol")), 1);
	json_decref(r);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:i}", "op", "hello",
						 "protocol", 99), &r, 10000, &e), -1);
	assert_int_equal(e.code, EPROTONOSUPPORT);
}

static void test_malformed_lines(void **state)
{
	struct fx *f = *state;
	const char *bad[] = {"not json\n", "[1,2]\n", "{\"op\":\"hello\"}\n",
			     "{\"id\":-4,\"op\":\"hello\"}\n", "{\"id\":1}\n",
			     "{\"id\":1,\"op\":7}\n", "\n",
			     "{\"id\":1,\"op\":\"hello\",\"id\":2}\n",
			     "{\"id\":1,\"op\":\"a\\u0000b\"}\n"};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *a = raw_exchange(f, bad[i], strlen(bad[i]));

		assert_true(json_is_false(json_object_get(a, "ok")));
		assert_string_equal(err_code(a), "EINVAL");
		json_decref(a);
	}
	/* Still serving afterwards. */
	json_t *a = raw_exchange(f, "{\"id\":9,\"op\":\"hello\"}\n", 22);

	assert_true(json_is_true(json_object_get(a, "ok")));
	assert_int_equal(json_integer_value(json_object_get(a, "id")), 9);
	json_decref(a);
}

static void test_oversized_line(void **state)
{
	struct fx *f = *state;
	size_t n = JSONL_LINE_MAX + 4096;
	char *big = xmalloc(n + 1);
	json_t *a;

	memset(big, 'x', n);
	big[0] = '{';
	big[n] = '\n';
	a = raw_exchange(f, big, n + 1);
	free(big);
	assert_true(json_is_false(json_object_get(a, "ok")));
	assert_string_equal(err_code(a), "EMSGSIZE");
	json_decref(a);
	a = raw_exchange(f, "{\"id\":3,\"op\":\"hello\"}\n", 22);
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
}

static void count_stream(void *arg, json_t *msg)
{
	(*(size_t *)arg)++;
}

/* A hostile "agent" (any program on the channel) cannot stretch a call past
 * its timeout or grow the operator's memory: endless events (queued up to
 * AGENT_EVENTS_QUEUED_MAX, the drop reported), endless stream messages,
 * endless bytes without a newline. */
static void test_hostile_agent_bounded(void **state)
{
	const char *events[] = {"/usr/bin/yes", "{\"event\":\"flood\"}", NULL};
	const char *streams[] = {"/usr/bin/yes", "{\"id\":1,\"stream\":\"stdout\",\"data\":\"x\"}", NULL};
	const char *zeros[] = {"/bin/cat", "/dev/zero", NULL};
	struct agent_client *c;
	struct tchan *ch;
	struct err e;
	json_t *ev = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(tchan_spawn_local("flooder", events, &ch, &e), 0);
	c = agent_client_new(ch);
	/* Each call reads events while it waits for an answer that never
	 * comes.  One second of reading fills the queue on an idle machine;
	 * a loaded one may take more calls, up to 30 (each look at the queue
	 * takes one event out). */
	for (int tries = 0;; tries++) {
		assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "hello"), NULL, 1000, &e),
				 -1);
		assert_int_equal(e.code, ETIMEDOUT);
		assert_non_null(strstr(e.msg, "hello: no answer within 1000 ms"));
		if (agent_client_next_event(c, &ev, 1000, &e) < 0)
			break;
		json_decref(ev);
		ev = NULL;
		if (tries == 30)
			fail_msg("the queue of events never overflowed in 30 calls");
	}
	assert_int_equal(e.code, EOVERFLOW);
	assert_non_null(strstr(e.msg, "flooder: "));
	assert_non_null(strstr(e.msg, "agent events dropped (more than 4096"));
	/* The queued ones are still there, in order. */
	assert_int_equal(agent_client_next_event(c, &ev, 1000, &e), 1);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), "flood");
	json_decref(ev);
	agent_client_free(c);

	assert_int_equal(tchan_spawn_local("streamer", streams, &ch, &e), 0);
	c = agent_client_new(ch);
	assert_int_equal(agent_call_stream(c, json_pack("{s:s}", "op", "exec"), count_stream,
					   &n, NULL, 1000, &e), -1);
	assert_int_equal(e.code, ETIMEDOUT);
	assert_true(n > 0);
	agent_client_free(c);

	/* Past JSONL_LINE_MAX without a newline: refused at once. */
	assert_int_equal(tchan_spawn_local("zeros", zeros, &ch, &e), 0);
	c = agent_client_new(ch);
	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "hello"), NULL, 10000, &e), -1);
	assert_int_equal(e.code, EMSGSIZE);
	assert_non_null(strstr(e.msg, "zeros: from agent"));
	agent_client_free(c);
}

/* An event the agent has sent is found by a look that does not wait
 * (timeout 0), with no call in between to read the channel: the drill
 * looks that way between its observations of the cluster. */
static void test_event_without_waiting(void **state)
{
	const char *argv[] = {"/bin/sh", "-c",
			      "echo '{\"event\":\"exited\",\"node\":\"kv-1\"}'; exec cat >/dev/null", NULL};
	struct agent_client *c;
	struct tchan *ch;
	struct err e;
	json_t *ev = NULL;
	struct pollfd p = {0};

	(void)state;
	assert_int_equal(tchan_spawn_local("eventer", argv, &ch, &e), 0);
	c = agent_client_new(ch);
	p.fd = agent_client_pollfd(c);
	p.events = POLLIN;
	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(agent_client_next_event(c, &ev, 0, &e), 1);
	assert_string_equal(json_string_value(json_object_get(ev, "node")), "kv-1");
	json_decref(ev);
	/* nothing more has come: no wait, no event (the end of the channel,
	 * should the shell's cat be gone already, is no event either: seen
	 * once in a full run on a loaded machine) */
	int rc = agent_client_next_event(c, &ev, 0, &e);

	if (rc < 0)
		print_message("# after the event: %s\n", e.msg);
	assert_true(rc == 0 || (rc < 0 && e.code == EPIPE));
	assert_null(ev);
	agent_client_free(c);
}

static void test_unknown_op(void **state)
{
	struct agent_client *c = client(*state);
	struct err e;

	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "rm -rf /"), NULL,
				    10000, &e), -1);
	assert_int_equal(e.code, ENOSYS);
	assert_non_null(strstr(e.msg, "unknown op"));
}

/* Write content to <root>/blobs/tmp/<name>. */
static void put_tmp(struct fx *f, const char *name, const char *content)
{
	_cleanup_free_ char *p = xasprintf("%s/blobs/tmp/%s", f->root, name);
	struct err e;

	assert_int_equal(write_file_atomic(p, content, strlen(content), 0600, &e), 0);
}

static void test_blob_commit_and_verify(void **state)
{
	struct fx *f = *state;
	struct agent_client *c = client(f);
	char d[DIGEST_STR_LEN], other[DIGEST_STR_LEN];
	_cleanup_free_ char *stored = NULL, *tmp = NULL;
	json_t *r = NULL;
	struct err e;

	digest_buf("layer bytes", 11, d);
	digest_buf("other", 5, other);
	/* The agent's folders exist once it answered anything. */
	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "hello"), NULL, 10000, &e), 0);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.has", "digest", d),
				    &r, 10000, &e), 0);
	assert_true(json_is_false(json_object_get(r, "present")));
	json_decref(r);

	/* A wrong digest is refused and the upload discarded. */
	put_tmp(f, "up1", "layer bytes");
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", other, "tmp", "up1"),
				    NULL, 10000, &e), -1);
	assert_int_equal(e.code, EBADMSG);
	tmp = xasprintf("%s/blobs/tmp/up1", f->root);
	assert_int_equal(access(tmp, F_OK), -1);

	put_tmp(f, "up2", "layer bytes");
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", d, "tmp", "up2"),
				    &r, 10000, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 11);
	json_decref(r);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.has", "digest", d),
				    &r, 10000, &e), 0);
	assert_true(json_is_true(json_object_get(r, "present")));
	json_decref(r);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.verify", "digest", d),
				    NULL, 10000, &e), 0);

	/* Committing again, once the upload is in the store: the same answer
	 * (a pusher that lost the first answer may ask twice). */
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", d, "tmp", "up2"),
				    &r, 10000, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 11);
	json_decref(r);

	/* Corrupt the stored blob: verify says so. */
	stored = xasprintf("%s/blobs/sha256/%s", f->root, digest_hex(d));
	assert_int_equal(write_file_atomic(stored, "tampered", 8, 0600, &e), 0);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.verify", "digest", d),
				    NULL, 10000, &e), -1);
	assert_int_equal(e.code, EBADMSG);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.verify",
						 "digest", other), NULL, 10000, &e), -1);
	assert_int_equal(e.code, ENOENT);
}

static void test_blob_hostile_fields(void **state)
{
	struct fx *f = *state;
	struct agent_client *c = client(f);
	const char *names[] = {"..", "a/b", "-rf", ".hidden", "", "../../etc/passwd"};
	const char *digests[] = {"sha256:../../../etc", "md5:abc", "",
				 "sha256:ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"};
	char d[DIGEST_STR_LEN];
	struct err e;

	digest_buf("x", 1, d);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
							 "digest", d, "tmp", names[i]),
					    NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(digests); i++) {
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "blob.has",
							 "digest", digests[i]),
					    NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
	}
	/* A symlink planted as an upload is not followed. */
	_cleanup_free_ char *link = xasprintf("%s/blobs/tmp/evil", f->root);
	assert_int_equal(symlink("/etc/hostname", link), 0);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", d, "tmp", "evil"),
				    NULL, 10000, &e), -1);
	assert_int_equal(e.code, ELOOP);
}

static void test_host_facts(void **state)
{
	struct agent_client *c = client(*state);
	json_t *r = NULL, *rt;
	struct err e;
	size_t i;
	bool builtin = false;

	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "host.facts"), &r,
				    20000, &e), 0);
	assert_true(json_integer_value(json_object_get(r, "cpus")) >= 1);
	assert_true(json_integer_value(json_object_get(r, "memory")) > 0);
	assert_non_null(json_string_value(json_object_get(json_object_get(r, "cgroup"),
							  "version")));
	json_array_foreach(json_object_get(r, "runtimes"), i, rt) {
		/* Every runtime says whether it is usable; unusable ones say why. */
		assert_true(json_is_boolean(json_object_get(rt, "usable")));
		if (json_is_false(json_object_get(rt, "usable")))
			assert_non_null(json_string_value(json_object_get(rt, "reason")));
		builtin |= !strcmp(json_string_value(json_object_get(rt, "name")), "builtin");
	}
	assert_true(builtin);
	json_decref(r);
}

static void test_node_hostile_fields(void **state)
{
	struct agent_client *c = client(*state);
	const char *names[] = {"..", ".", "a/b", "-rf", "", "../../etc", "a b", "$(id)"};
	char d[DIGEST_STR_LEN];
	struct err e;

	digest_buf("no such image", 13, d);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s}", "op", "node.create",
							 "cluster", names[i], "node", "n1",
							 "image", d), NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s}", "op", "node.create",
							 "cluster", "c1", "node", names[i],
							 "image", d), NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "node.inspect",
							 "cluster", "c1", "node", names[i]),
					    NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
	}
	/* Paths inside the node must be absolute and free of "..". */
	const char *paths[] = {"data", "/data/../../etc", "/./x", "/proc", "/"};

	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "op",
							 "node.create", "cluster", "c1", "node",
							 "n1", "image", d, "data_path", paths[i]),
					    NULL, 10000, &e), -1);
		assert_int_equal(e.code, EINVAL);
	}
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s,s:s}", "op", "node.create",
						 "cluster", "c1", "node", "n1", "image", d,
						 "restart", "sometimes"), NULL, 10000, &e), -1);
	assert_int_equal(e.code, EINVAL);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s,s:[s]}", "op", "node.create",
						 "cluster", "c1", "node", "n1", "image", d,
						 "caps", "CAP_WHATEVER"), NULL, 10000, &e), -1);
	assert_int_equal(e.code, EINVAL);
	/* Nothing was created for any of them. */
	json_t *r = NULL;

	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "node.list"), &r, 10000, &e), 0);
	assert_int_equal(json_array_size(json_object_get(r, "nodes")), 0);
	json_decref(r);
}

static void test_node_missing_or_corrupt_image(void **state)
{
	struct fx *f = *state;
	struct agent_client *c = client(f);
	char d[DIGEST_STR_LEN], layer[DIGEST_STR_LEN];
	_cleanup_free_ char *manifest = NULL, *stored = NULL;
	struct err e;

	digest_buf("absent", 6, d);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s,s:s}", "op", "node.create",
						 "cluster", "c1", "node", "n1", "image", d),
				    NULL, 10000, &e), -1);
	assert_int_equal(e.code, ENOENT);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "image.unpack",
						 "digest", d), NULL, 10000, &e), -1);
	assert_int_equal(e.code, ENOENT);

	/* A manifest whose layer blob is corrupt on disk. */
	digest_buf("layer", 5, layer);
	put_tmp(f, "layer", "layer");
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", layer, "tmp", "layer"),
				    NULL, 10000, &e), 0);
	stored = xasprintf("%s/blobs/sha256/%s", f->root, digest_hex(layer));
	assert_int_equal(write_file_atomic(stored, "LAYER", 5, 0600, &e), 0);
	manifest = xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\"},"
			     "\"layers\":[{\"digest\":\"%s\"}]}", layer, layer);
	digest_buf(manifest, strlen(manifest), d);
	put_tmp(f, "manifest", manifest);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s,s:s}", "op", "blob.commit",
						 "digest", d, "tmp", "manifest"),
				    NULL, 10000, &e), 0);
	assert_int_equal(agent_call(c, json_pack("{s:s,s:s}", "op", "image.unpack",
						 "digest", d), NULL, 10000, &e), -1);
	assert_int_equal(e.code, EBADMSG);
	assert_non_null(strstr(e.msg, "corrupt"));
}

/* Uploads a dead push left in blobs/tmp for over a day are removed when the
 * agent starts; a recent one (a push may be writing it) stays. */
static void test_stale_uploads_swept(void **state)
{
	char root[] = "/tmp/shoal-test-agent.XXXXXX";
	_cleanup_free_ char *bin = agent_bin(), *tmp = NULL, *old = NULL, *fresh = NULL;
	const char *argv[] = {bin, "serve", "--stdio", "--root", root, NULL};
	struct timespec two_days[2] = {{time(NULL) - 2 * 86400, 0}, {time(NULL) - 2 * 86400, 0}};
	struct agent_client *c;
	struct tchan *ch;
	struct err e;

	(void)state;
	assert_non_null(mkdtemp(root));
	tmp = path_join(root, "blobs/tmp");
	assert_int_equal(mkdir_p(tmp, 0700, &e), 0);
	old = path_join(tmp, "abandoned.0123");
	fresh = path_join(tmp, "inflight.4567");
	assert_int_equal(write_file_atomic(old, "x", 1, 0600, &e), 0);
	assert_int_equal(write_file_atomic(fresh, "y", 1, 0600, &e), 0);
	assert_int_equal(utimensat(AT_FDCWD, old, two_days, 0), 0);
	assert_int_equal(tchan_spawn_local("agent", argv, &ch, &e), 0);
	c = agent_client_new(ch);
	assert_int_equal(agent_call(c, json_pack("{s:s}", "op", "hello"), NULL, 10000, &e), 0);
	agent_client_free(c);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(fresh, F_OK), 0);
	{
		const char *rm[] = {"/bin/rm", "-rf", "--", root, NULL};
		struct tchan *r;

		if (tchan_spawn_local("rm", rm, &r, &e) == 0)
			tchan_close(r, NULL, &e);
	}
}

/* The daemon socket admits root and the agent's own uid only: a peer of
 * this process's uid is admitted; a process that dropped to uid 65534 and
 * connects through a world-reachable socket is refused with EACCES. */
static void test_peer_cred(void **state)
{
	char dir[] = "/tmp/shoal-test-peer.XXXXXX";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int sp[2], lfd, cfd, st;
	pid_t pid;
	struct err e = {0};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(daemon_peer_check(sp[0], &e), 0);
	close(sp[0]);
	close(sp[1]);
	if (geteuid() != 0)
		skip();   /* dropping to another uid needs root */
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/s", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(chmod(sa.sun_path, 0777), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		if (setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		_exit(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : 3);
	}
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(daemon_peer_check(cfd, &e), -1);
	assert_int_equal(e.code, EACCES);
	assert_non_null(strstr(e.msg, "uid 65534"));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(cfd);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stale_uploads_swept),
		cmocka_unit_test(test_peer_cred),
		cmocka_unit_test(test_hostile_agent_bounded),
		cmocka_unit_test(test_event_without_waiting),
		cmocka_unit_test_setup_teardown(test_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_op, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_commit_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_hostile_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_facts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_hostile_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_missing_or_corrupt_image, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
