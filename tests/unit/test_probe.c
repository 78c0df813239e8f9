/* test_probe.c - probes against a real redis-server (started here on a free
 * 127.0.0.1 port with a temp dir) and against tiny in-test servers that
 * replay byte-exact exchanges (CQL v4 OPTIONS/SUPPORTED, HTTP, RESP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"
#include "test_wait.h"
#include "util.h"

/* ---- a one-shot fake server ------------------------------------------------- */

struct fake {
	int lfd;
	int port;
	pthread_t th;
	const char *reply;       /* bytes to send */
	size_t reply_len;
	size_t want;             /* read this many request bytes first (0: until \r\n\r\n) */
	bool silent;             /* accept, never answer */
	char got[1024];
	size_t got_len;
};

static int listen_any(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int c = accept(f->lfd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (f->got_len < sizeof f->got) {
		ssize_t n;

		if (f->want && f->got_len >= f->want)
			break;
		if (!f->want && memmem(f->got, f->got_len, "\r\n\r\n", 4))
			break;
		n = read(c, f->got + f->got_len, f->want ? f->want - f->got_len
							 : sizeof f->got - f->got_len);
		if (n <= 0)
			break;
		f->got_len += (size_t)n;
	}
	if (f->silent) {
		char b[64];
		while (read(c, b, sizeof b) > 0)
			;
	} else if (f->reply_len) {
		(void)!write(c, f->reply, f->reply_len);
	}
	close(c);
	return NULL;
}

static void fake_start(struct fake *f, const void *reply, size_t len, size_t want)
{
	f->reply = reply;
	f->reply_len = len;
	f->want = want;
	f->lfd = listen_any(&f->port);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->lfd);
}

static struct probe_report run(enum probe_kind k, int port, const char *pw, bool cluster)
{
	struct probe_target t = {.kind = k, .host = "127.0.0.1", .port = port,
				 .connect_timeout_ms = 1000, .read_timeout_ms = 2000,
				 .password = pw, .cluster = cluster};
	struct probe_report r;
	struct err e;

	assert_int_equal(probe_run(&t, &r, &e), 0);
	return r;
}

/* ---- CQL: byte-exact exchange ------------------------------------------------- */

/* OPTIONS, native protocol v4, stream 0, empty body. */
static const unsigned char cql_options[9] = {0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00};

static void test_cql_options_supported(void **state)
{
	unsigned char frame[256];
	struct fake f = {0};
	struct probe_report r;

	(void)state;
	/* SUPPORTED as Cassandra 4.1 answers OPTIONS: a [string multimap] of
	 * CQL_VERSION [3.4.6], COMPRESSION [snappy, lz4], PROTOCOL_VERSIONS
	 * [3/v3, 4/v4, 5/v5-beta]; built from its parts (a [short] length before
	 * every string and list), then the 9-byte header. */
	static const char *const keys[] = {"CQL_VERSION", "COMPRESSION", "PROTOCOL_VERSIONS"};
	static const char *const vals[3][3] = {{"3.4.6"}, {"snappy", "lz4"}, {"3/v3", "4/v4", "5/v5-beta"}};
	static const int nvals[] = {1, 2, 3};
	size_t off = 9;
	frame[off++] = 0;
	frame[off++] = 3;
	for (int k = 0; k < 3; k++) {
		size_t kl = strlen(keys[k]);
		frame[off++] = 0;
		frame[off++] = (unsigned char)kl;
		memcpy(frame + off, keys[k], kl);
		off += kl;
		frame[off++] = 0;
		frame[off++] = (unsigned char)nvals[k];
		for (int v = 0; v < nvals[k]; v++) {
			size_t vl = strlen(vals[k][v]);
			frame[off++] = 0;
			frame[off++] = (unsigned char)vl;
			memcpy(frame + off, vals[k][v], vl);
			off += vl;
		}
	}
	uint32_t body = (uint32_t)(off - 9);
	unsigned char hdr[9] = {0x84, 0, 0, 0, 0x06, (unsigned char)(body >> 24),
				(unsigned char)(body >> 16), (unsigned char)(body >> 8),
				(unsigned char)body};
	memcpy(frame, hdr, 9);

	fake_start(&f, frame, off, sizeof cql_options);
	r = run(PROBE_CQL, f.port, NULL, false);
	fake_stop(&f);
	/* the probe sent exactly the OPTIONS frame */
	assert_int_equal(f.got_len, sizeof cql_options);
	assert_memory_equal(f.got, cql_options, sizeof cql_options);
	assert_int_equal(r.result, PROBE_OK);
	assert_string_equal(r.detail,
			    "SUPPORTED CQL_VERSION=3.4.6 COMPRESSION=snappy/lz4 PROTOCOL_VERSIONS=3/v3/4/v4/5/v5-beta");

	/* an ERROR frame (protocol error 0x000A, "Invalid or unsupported protocol version") */
	static const unsigned char err_frame[] = {
		0x84, 0, 0, 0, 0x00, 0, 0, 0, 0x0d, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x07,
		'b', 'a', 'd', ' ', 'v', 'e', 'r'};
	memset(&f, 0, sizeof f);
	fake_start(&f, err_frame, sizeof err_frame, sizeof cql_options);
	r = run(PROBE_CQL, f.port, NULL, false);
	fake_stop(&f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_string_equal(r.detail, "ERROR 0x000a: bad ver");

	/* a v3 reply, a truncated frame, a body that lies about its length */
	static const unsigned char v3[] = {0x83, 0, 0, 0, 0x06, 0, 0, 0, 0x02, 0, 0};
	memset(&f, 0, sizeof f);
	fake_start(&f, v3, sizeof v3, sizeof cql_options);
	r = run(PROBE_CQL, f.port, NULL, false);
	fake_stop(&f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	memset(&f, 0, sizeof f);
	fake_start(&f, frame, off - 3, sizeof cql_options);
	r = run(PROBE_CQL, f.port, NULL, false);
	fake_stop(&f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_non_null(strstr(r.detail, "closed before a full reply"));
	static const unsigned char lying[] = {0x84, 0, 0, 0, 0x06, 0, 0, 0, 0x04, 0, 1, 0, 9};
	memset(&f, 0, sizeof f);
	fake_start(&f, lying, sizeof lying, sizeof cql_options);
	r = run(PROBE_CQL, f.port, NULL, false);
	fake_stop(&f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_string_equal(r.detail, "malformed SUPPORTED body");
}

/* ---- HTTP (Riak /ping) ----------------------------------------------------------- */

static struct probe_report http(const char *reply, const char *expect, struct fake *f)
{
	struct probe_target t = {.kind = PROBE_HTTP, .host = "127.0.0.1", .path = "/ping",
				 .expect = expect, .connect_timeout_ms = 1000,
				 .read_timeout_ms = 2000};
	struct probe_report r;
	struct err e;

	memset(f, 0, sizeof *f);
	fake_start(f, reply, strlen(reply), 0);
	t.port = f->port;
	assert_int_equal(probe_run(&t, &r, &e), 0);
	fake_stop(f);
	return r;
}

static void test_http_ping(void **state)
{
	struct fake f;
	struct probe_report r;

	(void)state;
	r = http("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK", "OK", &f);
	assert_int_equal(r.result, PROBE_OK);
	assert_non_null(memmem(f.got, f.got_len, "GET /ping HTTP/1.1\r\n", 20));
	r = http("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nNOPE", "OK", &f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_non_null(strstr(r.detail, "'NOPE'"));
	r = http("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", "OK", &f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_string_equal(r.detail, "HTTP 503");
	r = http("garbage\r\n\r\n", NULL, &f);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
}

/* ---- TCP, refused, timeout, many probes at once ------------------------------------- */

static void test_tcp_refused_timeout(void **state)
{
	struct fake f = {0};
	struct probe_report r;
	int port;

	(void)state;
	f.silent = true;
	fake_start(&f, NULL, 0, 1);
	r = run(PROBE_TCP, f.port, NULL, false);
	assert_int_equal(r.result, PROBE_OK);
	/* the silent server accepts and never answers: read timeout */
	struct probe_target t = {.kind = PROBE_REDIS, .host = "127.0.0.1", .port = f.port,
				 .connect_timeout_ms = 500, .read_timeout_ms = 200};
	struct err e;
	assert_int_equal(probe_run(&t, &r, &e), 0);
	assert_int_equal(r.result, PROBE_TIMEOUT);
	assert_non_null(strstr(r.detail, "no reply within 200 ms"));
	fake_stop(&f);

	/* a port nobody listens on: refused (the socket is closed first) */
	close(listen_any(&port));
	r = run(PROBE_TCP, port, NULL, false);
	assert_int_equal(r.result, PROBE_REFUSED);
	r = run(PROBE_HTTP, port, NULL, false);
	assert_int_equal(r.result, PROBE_REFUSED);

	t.port = 0;
	assert_int_equal(probe_run(&t, &r, &e), -1);
	assert_non_null(strstr(e.msg, "port 0 out of range"));
	assert_string_equal(probe_result_name(PROBE_CLUSTER_DOWN), "cluster-down");
	assert_int_equal(probe_kind_parse("cql"), PROBE_CQL);
	assert_int_equal(probe_kind_parse("udp"), -1);
}

static void test_many_at_once(void **state)
{
	/* Drive three probes through one poll loop, as the monitor will. */
	static const char pong[] = "+PONG\r\n";
	static const char loading[] = "-LOADING Redis is loading the dataset in memory\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
	struct fake f[3] = {{0}};
	struct probe *p[3];
	struct err e;

	(void)state;
	fake_start(&f[0], pong, sizeof pong - 1, 14);   /* *1\r\n$4\r\nPING\r\n */
	fake_start(&f[1], loading, sizeof loading - 1, 14);
	fake_start(&f[2], ok, sizeof ok - 1, 0);
	struct probe_target t[3] = {
		{.kind = PROBE_REDIS, .host = "127.0.0.1", .port = f[0].port},
		{.kind = PROBE_REDIS, .host = "127.0.0.1", .port = f[1].port},
		{.kind = PROBE_HTTP, .host = "127.0.0.1", .port = f[2].port, .path = "/ping", .expect = "OK"},
	};
	for (int i = 0; i < 3; i++)
		assert_non_null(p[i] = probe_start(&t[i], &e));
	int left = 3;
	enum probe_result res[3] = {PROBE_PENDING, PROBE_PENDING, PROBE_PENDING};
	while (left) {
		struct pollfd pfd[3];
		int ms = 1000;

		for (int i = 0; i < 3; i++) {
			pfd[i].fd = res[i] == PROBE_PENDING ? probe_fd(p[i]) : -1;
			pfd[i].events = probe_events(p[i]);
			if (res[i] == PROBE_PENDING && probe_timeout_ms(p[i]) < ms)
				ms = probe_timeout_ms(p[i]);
		}
		poll(pfd, 3, ms);
		for (int i = 0; i < 3; i++)
			if (res[i] == PROBE_PENDING && (res[i] = probe_step(p[i])) != PROBE_PENDING)
				left--;
	}
	assert_int_equal(res[0], PROBE_OK);
	assert_int_equal(res[1], PROBE_LOADING);
	assert_int_equal(res[2], PROBE_OK);
	assert_memory_equal(f[0].got, "*1\r\n$4\r\nPING\r\n", 14);
	for (int i = 0; i < 3; i++) {
		probe_free(p[i]);
		fake_stop(&f[i]);
	}
}

/* The same three probes on a libevent loop, plus one to a closed port. */
struct ev_result {
	int done;
	enum probe_result r[4];
};

struct ev_slot {
	struct ev_result *res;
	int i;
};

static void on_slot_done(const struct probe_report *rep, void *arg)
{
	struct ev_slot *s = arg;

	s->res->r[s->i] = rep->result;
	s->res->done++;
}

static void test_libevent_loop(void **state)
{
	static const char pong[] = "+PONG\r\n";
	static const char loading[] = "-LOADING Redis is loading the dataset in memory\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
	struct fake f[3] = {{0}};
	struct ev_result res = {0};
	struct ev_slot slot[4];
	struct event_base *base = event_base_new();
	struct err e;
	int closed;

	(void)state;
	fake_start(&f[0], pong, sizeof pong - 1, 14);
	fake_start(&f[1], loading, sizeof loading - 1, 14);
	fake_start(&f[2], ok, sizeof ok - 1, 0);
	close(listen_any(&closed));
	struct probe_target t[4] = {
		{.kind = PROBE_REDIS, .host = "127.0.0.1", .port = f[0].port},
		{.kind = PROBE_REDIS, .host = "127.0.0.1", .port = f[1].port},
		{.kind = PROBE_HTTP, .host = "127.0.0.1", .port = f[2].port, .path = "/ping", .expect = "OK"},
		{.kind = PROBE_CQL, .host = "127.0.0.1", .port = closed},
	};
	for (int i = 0; i < 4; i++) {
		slot[i] = (struct ev_slot){.res = &res, .i = i};
		assert_non_null(probe_event_start(base, &t[i], on_slot_done, &slot[i], &e));
	}
	assert_int_equal(res.done, 0); /* nothing completes inside start */
	event_base_dispatch(base);     /* returns when no event is left */
	assert_int_equal(res.done, 4);
	assert_int_equal(res.r[0], PROBE_OK);
	assert_int_equal(res.r[1], PROBE_LOADING);
	assert_int_equal(res.r[2], PROBE_OK);
	assert_int_equal(res.r[3], PROBE_REFUSED);
	for (int i = 0; i < 3; i++)
		fake_stop(&f[i]);

	/* a cancelled probe never calls back */
	struct fake s = {0};
	s.silent = true;
	fake_start(&s, NULL, 0, 1);
	t[0].port = s.port;
	res.done = 0;
	struct probe_event *pe = probe_event_start(base, &t[0], on_slot_done, &slot[0], &e);
	assert_non_null(pe);
	probe_event_cancel(pe);
	event_base_dispatch(base);
	assert_int_equal(res.done, 0);
	fake_stop(&s);
	event_base_free(base);
}

/* ---- a real redis-server ------------------------------------------------------------ */

static bool port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* A client port p (< 55536, as Redis Cluster wants) with p and p + 10000 free
 * a moment ago. */
static int free_port_pair(void)
{
	for (int p = 20000 + getpid() % 20000, n = 0; n < 20000; n++, p = p + 1 < 45535 ? p + 1 : 20000)
		if (port_free(p) && port_free(p + 10000))
			return p;
	fail_msg("no free port pair");
	return -1;
}

struct redis {
	pid_t pid;
	int port;
	char dir[64];
};

/* Ready once the server accepts a TCP connection. */
static bool redis_answers(void *arg)
{
	return run(PROBE_TCP, *(int *)arg, NULL, false).result == PROBE_OK;
}

static void redis_start(struct redis *r, bool cluster)
{
	char port[16], *conf;
	struct err e;

	snprintf(r->dir, sizeof r->dir, "/tmp/shoal-test-probe.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	r->port = free_port_pair();
	snprintf(port, sizeof port, "%d", r->port);
	conf = xasprintf("bind 127.0.0.1\nport %d\ndir %s\nrequirepass pw-1\n"
			 "save \"\"\nappendonly no\nlogfile %s/log\n%s",
			 r->port, r->dir, r->dir,
			 cluster ? "cluster-enabled yes\ncluster-config-file nodes.conf\n" : "");
	char *path = xasprintf("%s/redis.conf", r->dir);
	assert_int_equal(write_file_atomic(path, conf, strlen(conf), 0600, &e), 0);
	free(conf);
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		char *argv[] = {"redis-server", path, NULL};
		int devnull = open("/dev/null", O_RDWR);

		dup2(devnull, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	free(path);
	/* wait until it answers (the probe itself, with its timeouts) */
	char what[160], why[240];

	snprintf(what, sizeof what, "redis-server on port %d (log %s/log)", r->port, r->dir);
	if (test_wait_started(r->pid, what, redis_answers, &r->port, why, sizeof why) == 0)
		return;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	fail_msg("%s", why);
}

static void redis_stop(struct redis *r)
{
	char *files[] = {"redis.conf", "log", "nodes.conf", "dump.rdb"};

	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = xasprintf("%s/%s", r->dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(r->dir);
}

static void test_real_redis(void **state)
{
	struct redis r = {0};
	struct probe_report rep;

	(void)state;
	if (access("/usr/bin/redis-server", X_OK) != 0) {
		print_message("# skip reason: %s: /usr/bin/redis-server not installed\n", __func__);
		skip();
		return;
	}
	redis_start(&r, true);
	rep = run(PROBE_REDIS, r.port, "pw-1", false);
	assert_int_equal(rep.result, PROBE_OK);
	assert_string_equal(rep.detail, "PONG");
	rep = run(PROBE_REDIS, r.port, "wrong", false);
	assert_int_equal(rep.result, PROBE_AUTH);
	rep = run(PROBE_REDIS, r.port, NULL, false);
	assert_int_equal(rep.result, PROBE_AUTH);
	assert_non_null(strstr(rep.detail, "NOAUTH"));

	/* a lone cluster node owns no slots: cluster_state:fail */
	rep = run(PROBE_REDIS, r.port, "pw-1", true);
	assert_int_equal(rep.result, PROBE_CLUSTER_DOWN);
	assert_int_equal(rep.slots_assigned, 0);
	assert_int_equal(rep.known_nodes, 1);

	/* give it every slot: cluster_state:ok */
	redisContext *c = redisConnect("127.0.0.1", r.port);
	assert_non_null(c);
	redisReply *x = redisCommand(c, "AUTH pw-1");
	freeReplyObject(x);
	x = redisCommand(c, "CLUSTER ADDSLOTSRANGE 0 16383");
	assert_int_equal(x->type, REDIS_REPLY_STATUS);
	freeReplyObject(x);
	redisFree(c);
	for (long long until = test_wait_now_ms() + TEST_START_MS; test_wait_now_ms() < until;) {
		rep = run(PROBE_REDIS, r.port, "pw-1", true);
		if (rep.result == PROBE_OK)
			break;
		usleep(50000);
	}
	assert_int_equal(rep.result, PROBE_OK);
	assert_int_equal(rep.slots_ok, 16384);
	assert_int_equal(rep.cluster_size, 1);
	redis_stop(&r);

	/* and once it is gone: refused */
	rep = run(PROBE_REDIS, r.port, "pw-1", false);
	assert_int_equal(rep.result, PROBE_REFUSED);
}

/* Connections the server has accepted so far (INFO stats), asked on c. */
static long accepted(redisContext *c)
{
	redisReply *x = redisCommand(c, "INFO stats");
	const char *q;
	long n;

	assert_non_null(x);
	assert_int_equal(x->type, REDIS_REPLY_STRING);
	q = strstr(x->str, "total_connections_received:");
	assert_non_null(q);
	n = atol(q + strlen("total_connections_received:"));
	freeReplyObject(x);
	return n;
}

static struct probe_report run_kept(int port, const char *pw, struct probe_conn *pc,
				    int read_ms)
{
	struct probe_target t = {.kind = PROBE_REDIS, .host = "127.0.0.1", .port = port,
				 .connect_timeout_ms = 1000, .read_timeout_ms = read_ms,
				 .password = pw, .conn = pc};
	struct probe_report r;
	struct err e;

	assert_int_equal(probe_run(&t, &r, &e), 0);
	return r;
}

/* A kept connection: AUTH once, then PING alone on the same connection; a
 * connection the server closed is replaced within the probe; a wrong
 * password, a stopped server (timeout) or a dead one (refused) are reported
 * as without a kept connection, and the next probe connects again. */
static void test_kept_connection(void **state)
{
	struct probe_conn *pc = probe_conn_new();
	struct probe_report rep;
	struct redis r = {0};
	long base;

	(void)state;
	if (access("/usr/bin/redis-server", X_OK) != 0) {
		print_message("# skip reason: %s: /usr/bin/redis-server not installed\n", __func__);
		probe_conn_free(pc);
		skip();
		return;
	}
	redis_start(&r, false);
	redisContext *c = redisConnect("127.0.0.1", r.port);
	assert_non_null(c);
	freeReplyObject(redisCommand(c, "AUTH pw-1"));
	base = accepted(c);
	for (int i = 0; i < 5; i++) {
		rep = run_kept(r.port, "pw-1", pc, 2000);
		assert_int_equal(rep.result, PROBE_OK);
		assert_string_equal(rep.detail, "PONG");
	}
	assert_int_equal(accepted(c) - base, 1); /* one connection, five probes */

	/* the server drops its clients (idle timeout, restart): a new one */
	redisReply *x = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
	assert_non_null(x);
	assert_int_equal(x->type, REDIS_REPLY_INTEGER);
	assert_int_equal(x->integer, 1);
	freeReplyObject(x);
	rep = run_kept(r.port, "pw-1", pc, 2000);
	assert_int_equal(rep.result, PROBE_OK);
	assert_int_equal(accepted(c) - base, 2);

	/* a refused password (another node's conn): reported, and not kept */
	probe_conn_close(pc);
	rep = run_kept(r.port, "wrong", pc, 2000);
	assert_int_equal(rep.result, PROBE_AUTH);
	rep = run_kept(r.port, "wrong", pc, 2000);
	assert_int_equal(rep.result, PROBE_AUTH);
	assert_int_equal(accepted(c) - base, 4);

	/* stopped: the PING on the kept connection times out; it is closed,
	 * and once the server runs again the next probe reconnects */
	rep = run_kept(r.port, "pw-1", pc, 2000);
	assert_int_equal(rep.result, PROBE_OK);
	assert_int_equal(kill(r.pid, SIGSTOP), 0);
	rep = run_kept(r.port, "pw-1", pc, 300);
	assert_int_equal(rep.result, PROBE_TIMEOUT);
	assert_int_equal(kill(r.pid, SIGCONT), 0);
	rep = run_kept(r.port, "pw-1", pc, 2000);
	assert_int_equal(rep.result, PROBE_OK);
	long before_kill = accepted(c);

	assert_int_equal(before_kill - base, 6);
	redisFree(c);

	/* gone while its connection was kept: refused, as without one */
	redis_stop(&r);
	rep = run_kept(r.port, "pw-1", pc, 2000);
	assert_int_equal(rep.result, PROBE_REFUSED);
	probe_conn_free(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cql_options_supported),
		cmocka_unit_test(test_http_ping),
		cmocka_unit_test(test_tcp_refused_timeout),
		cmocka_unit_test(test_many_at_once),
		cmocka_unit_test(test_libevent_loop),
		cmocka_unit_test(test_real_redis),
		cmocka_unit_test(test_kept_connection),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
