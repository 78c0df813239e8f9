/* test_riak.c - the Riak driver (db/riak/): member-status and services
 * output read as Riak KV 3.2.1 prints them (riak_core_console.erl), and
 * form / join / leave / replace / observe / check driven against a model
 * of a Riak cluster that answers `riak admin` as Riak does (staged
 * changes, plan, commit, joining -> valid, pending transfers for a few
 * looks, "Failed: ..." answers that exit 0) and a /ping server.  The real
 * thing runs in tests/scenarios/up_riak.bats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"
#include "riak_int.h"
#include "util.h"

/* ---- parsing ---------------------------------------------------------------------- */

#define RULE "-------------------------------------------------------------------------------\n"
#define HEAD "================================= Membership ==================================\n" \
	     "Status     Ring    Pending    Node\n" RULE

static void test_parse_settled(void **state)
{
	struct riak_ring r;
	struct err e;

	(void)state;
	assert_int_equal(riak_ring_parse(HEAD "valid      34.4%      --      riak@10.213.0.11\n"
					      "valid      32.8%      --      riak@10.213.0.12\n"
					      "valid      32.8%      --      riak@10.213.0.13\n" RULE
					      "Valid:3 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\n",
					 &r, &e),
			 0);
	assert_int_equal(r.n, 3);
	assert_false(r.pending);
	assert_string_equal(r.m[1].node, "riak@10.213.0.12");
	assert_int_equal(r.m[0].status, RIAK_VALID);
	assert_true(r.m[0].ring > 34.3 && r.m[0].ring < 34.5);
	assert_true(r.m[0].next == r.m[0].ring);
	assert_true(riak_ring_settled(&r));
	assert_non_null(riak_ring_find(&r, "riak@10.213.0.13"));
	assert_null(riak_ring_find(&r, "riak@10.213.0.14"));
	riak_ring_free(&r);
	riak_ring_free(&r); /* twice is fine */
}

static void test_parse_pending(void **state)
{
	struct riak_ring r;
	struct err e;

	(void)state;
	/* 100.0% is one character wider; a location follows the node */
	assert_int_equal(riak_ring_parse("Attempting to restart script through sudo -H -u riak\n" HEAD
					 "valid     100.0%    50.0%    riak@10.0.0.1\n"
					 "joining     0.0%    50.0%    riak@10.0.0.2 (rack2)\n" RULE
					 "Valid:1 / Leaving:0 / Exiting:0 / Joining:1 / Down:0\n",
					 &r, &e),
			 0);
	assert_int_equal(r.n, 2);
	assert_true(r.pending);
	assert_int_equal(r.m[1].status, RIAK_JOINING);
	assert_string_equal(r.m[1].node, "riak@10.0.0.2");
	assert_true(r.m[1].next > 49.9 && r.m[1].next < 50.1);
	assert_false(riak_ring_settled(&r));
	riak_ring_free(&r);
}

static void test_parse_refused(void **state)
{
	static const char *const bad[] = {
		"Node is not running!\n",
		"",
		/* cut before the tally */
		HEAD "valid      34.4%      --      riak@10.213.0.11\n",
		/* the tally disagrees with the rows */
		HEAD "valid      100.0%      --      riak@10.0.0.1\n" RULE
		     "Valid:2 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\n",
		/* an unknown status */
		HEAD "sleepy     100.0%      --      riak@10.0.0.1\n" RULE
		     "Valid:1 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\n",
		/* a share over 100 % */
		HEAD "valid     140.0%      --      riak@10.0.0.1\n" RULE
		     "Valid:1 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\n",
		NULL,
	};
	struct riak_ring r;
	struct err e;

	(void)state;
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(riak_ring_parse(bad[i], &r, &e), -1);
		assert_int_equal(e.code, EPROTO);
		assert_int_equal(r.n, 0);
		assert_null(r.m);
	}
	assert_int_equal(riak_ring_parse("\nNode is not running!\n", &r, &e), -1);
	assert_string_equal(e.msg, "member-status: not the table Riak prints: Node is not running!");
}

static void test_services(void **state)
{
	(void)state;
	assert_true(riak_services_has("[riak_kv,riak_pipe,riak_repl]\n", "riak_kv"));
	assert_true(riak_services_has("[riak_kv]", "riak_kv"));
	assert_false(riak_services_has("[riak_api,riak_pipe]\n", "riak_kv"));
	assert_false(riak_services_has("[riak_kv_ex,riak_api]", "riak_kv"));
	assert_false(riak_services_has("Node is not running!", "riak_kv"));
	assert_false(riak_services_has(NULL, "riak_kv"));
}

/* ---- a model of a Riak cluster --------------------------------------------------------- */

#define MAXN 8

enum change { CH_NONE, CH_JOIN, CH_LEAVE, CH_REMOVE, CH_REPLACE };

struct model {
	int nn;
	char name[MAXN][32];    /* riak@127.0.0.<i+1> */
	bool up[MAXN];          /* the node answers (exec and /ping) */
	int kv_after[MAXN];     /* `services` lists riak_kv after this many looks */
	int ring[MAXN];         /* which ring it is in (its own index: alone) */
	enum riak_status st[MAXN];
	enum change staged[MAXN];
	int replace_by[MAXN];   /* CH_REPLACE: the node that takes over */
	bool planned;
	int pending_looks;      /* member-status shows transfers this many more times */
	int lag_looks;          /* before that, this many looks show the nodes just
				   joined valid with 0 % and nothing pending (the
				   claimant has not planned their transfers yet) */
	bool fresh[MAXN];       /* joined by the last commit */
	int gone_after[MAXN];   /* a leaving node is listed this many more looks */
	char *lines[128];
	size_t nlines;
	int meet;               /* this many nodes' first `services` wait (5 s at
				   most) until all of them have started it */
	int met;                /* first `services` looks started so far */
	bool looked[MAXN];
	bool met_late;          /* a wait for the others ran out */
	int http_port;
	/* the keys of the HTTP API (one store for the whole ring) */
	char key[16][96], val[16][64];
	int nkeys;
	/* held by one replica of three: a GET at r=quorum answers 404, one
	 * with basic_quorum=false (Riak waits for every replica) the value */
	bool one_copy[16];
	bool r_unsat; /* then 503 "R-value unsatisfied: 1/2" instead of that 404 */
	char last_query[96];    /* of the last key request */
	int lfd;
	pthread_t th;
	pthread_mutex_t mu;
	bool stop;
};

static int idx_of(const struct model *m, const char *name)
{
	for (int i = 0; i < m->nn; i++)
		if (!strcmp(m->name[i], name))
			return i;
	return -1;
}

static int node_idx(const struct model *m, const struct db_node *n)
{
	char name[64];

	snprintf(name, sizeof name, "riak@%s", n->address);
	return idx_of(m, name);
}

/* The members of ring r in name order (as riak sorts them). */
static void member_status(struct model *m, int r, struct buf *out)
{
	int count[RIAK_STATUS_COUNT] = {0}, members = 0, valid = 0;
	bool lag = m->lag_looks > 0, pending = !lag && m->pending_looks > 0;

	for (int i = 0; i < m->nn; i++)
		if (m->ring[i] == r && m->st[i] != RIAK_EXITING) {
			members++;
			valid += m->st[i] == RIAK_VALID && !(lag && m->fresh[i]);
		}
	buf_puts(out, HEAD);
	for (int i = 0; i < m->nn; i++) {
		double share = m->st[i] == RIAK_VALID && !(lag && m->fresh[i]) ? 100.0 / valid : 0;

		if (m->ring[i] != r || m->st[i] == RIAK_EXITING)
			continue;
		count[m->st[i]]++;
		if (pending)
			buf_printf(out, "%-8s  %5.1f%%    %5.1f%%    %s\n",
				   riak_status_name(m->st[i]), share / 2, 100.0 / members,
				   m->name[i]);
		else
			buf_printf(out, "%-8s  %5.1f%%      --      %s\n",
				   riak_status_name(m->st[i]), share, m->name[i]);
	}
	buf_printf(out, RULE "Valid:%d / Leaving:%d / Exiting:%d / Joining:%d / Down:%d\n",
		   count[RIAK_VALID], count[RIAK_LEAVING], count[RIAK_EXITING],
		   count[RIAK_JOINING], count[RIAK_DOWN]);
	if (lag)
		m->lag_looks--;
	else if (m->pending_looks > 0)
		m->pending_looks--;
	for (int i = 0; i < m->nn; i++)
		if (m->ring[i] == r && m->st[i] == RIAK_LEAVING && m->gone_after[i] >= 0 &&
		    m->gone_after[i]-- == 0) {
			m->ring[i] = i; /* handed off, left, restarted alone */
			m->st[i] = RIAK_VALID;
		}
}

static bool any_staged(const struct model *m, int r)
{
	for (int i = 0; i < m->nn; i++)
		if (m->ring[i] == r && m->staged[i] != CH_NONE)
			return true;
	return false;
}

static void commit(struct model *m, int r)
{
	for (int i = 0; i < m->nn; i++) {
		if (m->ring[i] != r)
			continue;
		m->fresh[i] = m->staged[i] == CH_JOIN;
		switch (m->staged[i]) {
		case CH_JOIN:
			m->st[i] = RIAK_VALID;
			break;
		case CH_LEAVE:
			m->st[i] = RIAK_LEAVING;
			m->gone_after[i] = 2;
			break;
		case CH_REMOVE:
			m->ring[i] = i;
			break;
		case CH_REPLACE:
			m->ring[i] = i;
			m->st[m->replace_by[i]] = RIAK_VALID;
			m->staged[m->replace_by[i]] = CH_NONE;
			break;
		case CH_NONE:
			break;
		}
		m->staged[i] = CH_NONE;
	}
	m->planned = false;
	m->lag_looks = 2;
	m->pending_looks = 2;
}

static int ring_size(const struct model *m, int r)
{
	int k = 0;

	for (int i = 0; i < m->nn; i++)
		k += m->ring[i] == r;
	return k;
}

/* `riak admin WORDS` on node i, as Riak answers (exit 0 throughout). */
static void admin(struct model *m, int i, char *const *w, struct buf *out)
{
	int r = m->ring[i], o;

	if (!strcmp(w[0], "rpc")) {
		assert_string_equal(w[1], "riak_core_node_watcher");
		assert_string_equal(w[2], "services");
		buf_puts(out, m->kv_after[i]-- > 0 ? "[]\n" : "[riak_kv,riak_pipe,riak_repl]\n");
	} else if (!strcmp(w[0], "member-status")) {
		member_status(m, r, out);
	} else if (!strcmp(w[1], "join")) {
		o = idx_of(m, w[2]);
		assert_true(o >= 0);
		if (ring_size(m, r) > 1) {
			buf_puts(out, "Failed: This node is already a member of a cluster\n");
			return;
		}
		m->ring[i] = m->ring[o];
		m->st[i] = RIAK_JOINING;
		m->staged[i] = CH_JOIN;
		buf_printf(out, "Success: staged join request for '%s' to '%s'\n", m->name[i], w[2]);
	} else if (!strcmp(w[1], "leave")) {
		m->staged[i] = CH_LEAVE;
		buf_printf(out, "Success: staged leave request for '%s'\n", m->name[i]);
	} else if (!strcmp(w[1], "force-remove")) {
		o = idx_of(m, w[2]);
		m->staged[o] = CH_REMOVE;
		buf_printf(out, "Success: staged remove request for '%s'\n", w[2]);
	} else if (!strcmp(w[1], "force-replace")) {
		o = idx_of(m, w[2]);
		m->staged[o] = CH_REPLACE;
		m->replace_by[o] = idx_of(m, w[3]);
		buf_printf(out, "Success: staged forced replacement of '%s' with '%s'\n", w[2], w[3]);
	} else if (!strcmp(w[0], "down")) {
		o = idx_of(m, w[1]);
		assert_true(o >= 0);
		if (m->up[o]) {
			buf_printf(out, "Failed: %s is up\n", w[1]);
			return;
		}
		m->st[o] = RIAK_DOWN;
		buf_printf(out, "Success: \"%s\" marked as down\n", w[1]);
	} else if (!strcmp(w[1], "plan")) {
		/* ring_ready: every valid or leaving member has seen the
		 * ring, which one that does not answer never does */
		for (o = 0; o < m->nn; o++)
			if (m->ring[o] == r && !m->up[o] &&
			    (m->st[o] == RIAK_VALID || m->st[o] == RIAK_LEAVING)) {
				buf_puts(out, "Cannot plan until cluster state has converged.\n"
					      "Check 'Ring Ready' in 'riak-admin ring_status'\n");
				return;
			}
		m->planned = any_staged(m, r);
		buf_puts(out, m->planned ? "=============================== Staged Changes "
					   "================================\nAction         "
					   "Details(s)\n" RULE
					 : "There are no staged changes\n");
	} else if (!strcmp(w[1], "commit")) {
		if (!m->planned) {
			buf_puts(out, "You must verify the plan with 'riak-admin cluster plan' "
				      "before committing\n");
			return;
		}
		commit(m, r);
		buf_puts(out, "Cluster changes committed\n");
	} else {
		fail_msg("unexpected riak admin %s", w[0]);
	}
}

static int model_exec(void *arg, const struct db_node *n, char *const *argv, struct buf *out,
		      struct err *e)
{
	struct model *m = arg;
	struct buf line = {0};
	int i = node_idx(m, n);

	buf_printf(&line, "%s:", n->id);
	for (size_t k = strcmp(argv[1], "rpc") ? 2 : 3; argv[k]; k++)
		buf_printf(&line, " %s", argv[k]);
	assert_string_equal(argv[0], "/usr/sbin/riak");
	assert_true(!strcmp(argv[1], "admin") || !strcmp(argv[1], "rpc"));
	assert_true(i >= 0);
	/* the driver runs per-node steps on threads of their own */
	if (m->meet && !strcmp(argv[1], "rpc")) {
		bool first;
		int64_t end = now_ms() + 5000;

		pthread_mutex_lock(&m->mu);
		first = !m->looked[i];
		m->looked[i] = true;
		m->met += first;
		pthread_mutex_unlock(&m->mu);
		while (first && __atomic_load_n(&m->met, __ATOMIC_SEQ_CST) < m->meet &&
		       now_ms() < end)
			usleep(1000);
		pthread_mutex_lock(&m->mu);
		m->met_late |= first && m->met < m->meet;
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_lock(&m->mu);
	assert_true(m->nlines < ARRAY_SIZE(m->lines));
	m->lines[m->nlines++] = buf_steal(&line);
	if (m->up[i])
		admin(m, i, &argv[!strcmp(argv[1], "rpc") ? 1 : 2], out);
	pthread_mutex_unlock(&m->mu);
	if (!m->up[i])
		return err_set(e, EHOSTUNREACH, "%s: cannot run %s: its host is not connected",
			       n->id, argv[0]);
	return 0;
}

/* Read one request (headers and Content-Length bytes of body) into req. */
static bool read_request(int fd, char *req, size_t size)
{
	size_t len = 0;

	for (;;) {
		ssize_t r = read(fd, req + len, size - 1 - len);
		const char *end, *cl;

		if (r <= 0)
			return false;
		len += (size_t)r;
		req[len] = 0;
		end = strstr(req, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(req, "Content-Length:");
		if (!cl || cl > end || strlen(end + 4) >= strtoul(cl + 15, NULL, 10))
			return true;
	}
}

/* GET /ping, and PUT and GET /types/default/buckets/shoal/keys/KEY?QUERY
 * as Riak answers them (m->mu held); the reply goes to fd. */
static void http_answer(struct model *m, int fd, char *req)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				 "Connection: close\r\n\r\nOK";
	const char *prefix = "/types/default/buckets/shoal/keys/";
	char *path = strchr(req, ' '), *q, key[96];
	const char *body = strstr(req, "\r\n\r\n"); /* read_request saw it */
	struct buf reply = {0};
	int k;
	size_t o = 0;

	if (!path)
		return;
	path++;
	if (!strncmp(path, "/ping ", 6)) {
		(void)!write(fd, ok, sizeof ok - 1);
		return;
	}
	assert_memory_equal(path, prefix, strlen(prefix));
	path += strlen(prefix);
	q = strchr(path, '?');
	assert_non_null(q);
	*strchr(q, ' ') = 0;
	snprintf(m->last_query, sizeof m->last_query, "%s", q + 1);
	/* the key, %-decoded */
	for (const char *c = path; c < q && o < sizeof key - 1; c++) {
		unsigned v;

		if (*c == '%' && sscanf(c + 1, "%2x", &v) == 1) {
			key[o++] = (char)v;
			c += 2;
		} else {
			key[o++] = *c;
		}
	}
	key[o] = 0;
	for (k = 0; k < m->nkeys && strcmp(m->key[k], key); k++)
		;
	if (!strncmp(req, "PUT ", 4)) {
		assert_true(k < (int)ARRAY_SIZE(m->key));
		m->nkeys += k == m->nkeys;
		snprintf(m->key[k], sizeof m->key[k], "%s", key);
		snprintf(m->val[k], sizeof m->val[k], "%s", body + 4);
		buf_puts(&reply, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
	} else if (k < m->nkeys && m->one_copy[k] && m->r_unsat &&
		   !strstr(q + 1, "basic_quorum=false")) {
		buf_puts(&reply, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			 "Content-Length: 25\r\nConnection: close\r\n\r\nR-value unsatisfied: 1/2\n");
	} else if (k < m->nkeys && (!m->one_copy[k] || strstr(q + 1, "basic_quorum=false"))) {
		buf_printf(&reply, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: "
			   "close\r\n\r\n%s", strlen(m->val[k]), m->val[k]);
	} else {
		buf_puts(&reply, "HTTP/1.1 404 Object Not Found\r\nContent-Length: 10\r\n"
			 "Connection: close\r\n\r\nnot found\n");
	}
	(void)!write(fd, reply.data, reply.len);
	buf_free(&reply);
}

/* The HTTP API on 0.0.0.0:port; a node that is down does not answer
 * (closed). */
static void *http_main(void *arg)
{
	struct model *m = arg;

	while (!m->stop) {
		struct pollfd p = {.fd = m->lfd, .events = POLLIN};
		struct sockaddr_in me;
		socklen_t len = sizeof me;
		char req[4096], name[64];
		int fd, i;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(m->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		getsockname(fd, (struct sockaddr *)&me, &len);
		snprintf(name, sizeof name, "riak@%s", inet_ntoa(me.sin_addr));
		pthread_mutex_lock(&m->mu);
		i = idx_of(m, name);
		if (i >= 0 && m->up[i] && read_request(fd, req, sizeof req))
			http_answer(m, fd, req);
		pthread_mutex_unlock(&m->mu);
		close(fd);
	}
	return NULL;
}

static struct db_node nodes[MAXN];
static char addrs[MAXN][24];
static const char *const ids[MAXN] = {"kv-0", "kv-1", "kv-2", "kv-3",
				      "kv-4", "kv-5", "kv-6", "kv-7"};
static struct template fake_tmpl;

static void model_init(struct model *m, int nn)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	socklen_t len = sizeof a;
	int one = 1;

	*m = (struct model){.nn = nn};
	pthread_mutex_init(&m->mu, NULL);
	for (int i = 0; i < nn; i++) {
		snprintf(addrs[i], sizeof addrs[i], "127.0.0.%d", i + 1);
		snprintf(m->name[i], sizeof m->name[i], "riak@%s", addrs[i]);
		nodes[i] = (struct db_node){.id = ids[i], .address = addrs[i], .port = 8087,
					    .master_index = -1};
		m->up[i] = true;
		m->ring[i] = i;
		m->st[i] = RIAK_VALID;
		m->kv_after[i] = i == 1 ? 2 : 0;
		m->gone_after[i] = -1;
	}
	m->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	assert_int_equal(bind(m->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(m->lfd, 16), 0);
	getsockname(m->lfd, (struct sockaddr *)&a, &len);
	m->http_port = ntohs(a.sin_port);
	fake_tmpl = (struct template){.kind = "riak",
				      .health = {.kind = PROBE_HTTP, .port = m->http_port}};
	assert_int_equal(pthread_create(&m->th, NULL, http_main, m), 0);
	riak_poll_ms = 1;
}

static void lines_reset(struct model *m)
{
	for (size_t i = 0; i < m->nlines; i++)
		free(m->lines[i]);
	m->nlines = 0;
}

static void model_free(struct model *m)
{
	m->stop = true;
	pthread_join(m->th, NULL);
	close(m->lfd);
	lines_reset(m);
	pthread_mutex_destroy(&m->mu);
}

static struct db_opts opts(struct model *m)
{
	return (struct db_opts){.exec = model_exec, .arg = m, .tmpl = &fake_tmpl,
				.timeout_ms = 1000};
}

/* Fail with msg, after the commands that ran. */
static void ran_fail(const struct model *m, const char *msg)
{
	for (size_t j = 0; j < m->nlines; j++)
		print_message("  ran %s\n", m->lines[j]);
	fail_msg("%s", msg);
}

/* The node a command line is for: its length up to the ':'. */
static size_t node_len(const char *line)
{
	return strcspn(line, ":");
}

/* lines[i..i+n) are want[0..n) in some order, each node's own in order
 * (steps the driver runs on every node at once). */
static void expect_unordered(const struct model *m, size_t i, const char *const *want, size_t n)
{
	bool used[64] = {false};
	char msg[256];

	assert_true(n < ARRAY_SIZE(used));
	if (i + n > m->nlines) {
		snprintf(msg, sizeof msg, "want %zu more commands from %zu, ran %zu", n, i,
			 m->nlines);
		ran_fail(m, msg);
	}
	for (size_t k = 0; k < n; k++) {
		const char *line = m->lines[i + k];
		size_t w = 0, len = node_len(line);

		/* the first of its node's wanted lines not yet matched */
		while (w < n && (used[w] || node_len(want[w]) != len || strncmp(want[w], line, len)))
			w++;
		if (w == n || strcmp(want[w], line)) {
			snprintf(msg, sizeof msg, "command %zu: ran '%s', want '%s'", i + k, line,
				 w == n ? "(none of its node's left)" : want[w]);
			ran_fail(m, msg);
		}
		used[w] = true;
	}
}

/* The commands run, in order, are want[] (NULL-terminated); "..." in want
 * matches any number of member-status looks; the lines between "{" and
 * "}" match in any order but each node's own. */
static void expect(struct model *m, const char *const *want)
{
	size_t k = 0, i = 0;
	char msg[256];

	for (; want[k]; k++) {
		size_t n = 0;

		if (!strcmp(want[k], "...")) {
			while (i < m->nlines && strstr(m->lines[i], ": member-status"))
				i++;
			continue;
		}
		if (!strcmp(want[k], "{")) {
			while (want[k + 1 + n] && strcmp(want[k + 1 + n], "}"))
				n++;
			assert_non_null(want[k + 1 + n]);
			expect_unordered(m, i, &want[k + 1], n);
			i += n;
			k += n + 1;
			continue;
		}
		if (i >= m->nlines || strcmp(m->lines[i], want[k])) {
			snprintf(msg, sizeof msg, "command %zu: want '%s', ran '%s'", i, want[k],
				 i < m->nlines ? m->lines[i] : "(nothing)");
			ran_fail(m, msg);
		}
		i++;
	}
	if (i != m->nlines) {
		snprintf(msg, sizeof msg, "ran %zu commands, want %zu", m->nlines, i);
		ran_fail(m, msg);
	}
	lines_reset(m);
}

static bool ring_is(const struct model *m, int r, int want_members)
{
	for (int i = 0; i < m->nn; i++)
		if (m->ring[i] == r && m->st[i] != RIAK_VALID)
			return false;
	return ring_size(m, r) == want_members;
}

/* ---- the driver against the model ---------------------------------------------------- */

static void test_form_then_nothing(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	char got[5][DB_ID_MAX + 1];
	struct err e;

	(void)state;
	model_init(&m, 5);
	o = opts(&m);
	m.meet = 5;
	assert_int_equal(db_form(d, nodes, 5, &o, got, &e), 0);
	assert_false(m.met_late);
	/* every node at once: riak_kv up (kv-1 answers it only at its third
	 * look), then its join */
	expect(&m, (const char *[]){"kv-0: member-status", "{", "kv-0: services",
				    "kv-1: services", "kv-1: services", "kv-1: services",
				    "kv-1: cluster join riak@127.0.0.1", "kv-2: services",
				    "kv-2: cluster join riak@127.0.0.1", "kv-3: services",
				    "kv-3: cluster join riak@127.0.0.1", "kv-4: services",
				    "kv-4: cluster join riak@127.0.0.1", "}", "kv-0: member-status",
				    "kv-0: cluster plan", "kv-0: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 0, 5));
	assert_string_equal(got[4], "riak@127.0.0.5");
	/* a second form looks once and changes nothing */
	assert_int_equal(db_form(d, nodes, 5, &o, got, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status", NULL});
	model_free(&m);
}

static void test_form_resumes(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	char got[3][DB_ID_MAX + 1];
	struct err e;

	(void)state;
	model_init(&m, 3);
	m.kv_after[1] = 0;
	o = opts(&m);
	/* interrupted after kv-1's join was staged: kv-1 is not joined again */
	m.ring[1] = 0;
	m.st[1] = RIAK_JOINING;
	m.staged[1] = CH_JOIN;
	assert_int_equal(db_form(d, nodes, 3, &o, got, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status", "{", "kv-0: services",
				    "kv-1: services", "kv-2: services",
				    "kv-2: cluster join riak@127.0.0.1", "}", "kv-0: member-status",
				    "kv-0: cluster plan", "kv-0: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 0, 3));
	model_free(&m);
}

static void test_form_base_elsewhere(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	char got[4][DB_ID_MAX + 1];
	struct err e;

	(void)state;
	model_init(&m, 3);
	m.kv_after[1] = 0;
	o = opts(&m);
	/* kv-1 and kv-2 are a ring; kv-0 (say, a fresh replacement) is alone */
	m.ring[2] = 1;
	assert_int_equal(db_form(d, nodes, 3, &o, got, &e), 0);
	/* both refused; kv-1's ring becomes the base and kv-0 joins it */
	expect(&m, (const char *[]){"kv-0: member-status", "{", "kv-0: services",
				    "kv-1: services", "kv-1: cluster join riak@127.0.0.1",
				    "kv-2: services", "kv-2: cluster join riak@127.0.0.1", "}",
				    "kv-1: member-status", "kv-0: cluster join riak@127.0.0.2",
				    "kv-1: member-status", "kv-1: cluster plan",
				    "kv-1: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 1, 3));
	/* two rings of several are not merged */
	model_free(&m);
	model_init(&m, 4);
	m.kv_after[1] = 0;
	o = opts(&m);
	m.ring[1] = 0;
	m.ring[3] = 2;
	assert_int_equal(db_form(d, nodes, 4, &o, got, &e), -1);
	assert_int_equal(e.code, EEXIST);
	assert_non_null(strstr(e.msg, "kv-2: already in another ring (2 members, with "
				      "riak@127.0.0.4) than kv-0's (2 members)"));
	model_free(&m);
}

static void test_join_leave(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	char got[7][DB_ID_MAX + 1], **left = NULL;
	struct err e;

	(void)state;
	model_init(&m, 7);
	m.kv_after[1] = 0;
	o = opts(&m);
	assert_int_equal(db_form(d, nodes, 5, &o, got, &e), 0);
	lines_reset(&m);
	/* 5 -> 7 */
	assert_int_equal(db_join(d, nodes, 5, &nodes[5], 2, &o, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status", "{", "kv-0: services",
				    "kv-1: services", "kv-2: services", "kv-3: services",
				    "kv-4: services", "kv-5: services",
				    "kv-5: cluster join riak@127.0.0.1", "kv-6: services",
				    "kv-6: cluster join riak@127.0.0.1", "}", "kv-0: member-status",
				    "kv-0: cluster plan", "kv-0: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 0, 7));
	/* it waited through the looks where kv-5 and kv-6 showed valid at 0 %
	 * with nothing pending, and through the transfers */
	assert_int_equal(m.lag_looks, 0);
	assert_int_equal(m.pending_looks, 0);
	/* 7 -> 5: each leaves itself; done once they are gone from the ring */
	assert_int_equal(db_leave(d, nodes, 5, &nodes[5], 2, &o, &left, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status", "kv-5: cluster leave",
				    "kv-6: cluster leave", "kv-0: cluster plan",
				    "kv-0: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 0, 5));
	assert_string_equal(left[0], "riak@127.0.0.6");
	assert_string_equal(left[1], "riak@127.0.0.7");
	assert_null(left[2]);
	strv_free(left);
	/* a node not in the ring any more: nothing to do but see that no
	 * staying node lists it (the claimant first, then the others at once:
	 * one a gossip behind would still print it exiting) */
	assert_int_equal(db_leave(d, nodes, 5, &nodes[6], 1, &o, &left, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status", "kv-0: member-status", "{",
				    "kv-1: member-status", "kv-2: member-status",
				    "kv-3: member-status", "kv-4: member-status", "}", NULL});
	strv_free(left);
	/* every node leaving: refused, nothing run */
	assert_int_equal(db_leave(d, NULL, 0, nodes, 5, &o, &left, &e), -1);
	assert_int_equal(e.code, EBUSY);
	expect(&m, (const char *[]){NULL});
	model_free(&m);
}

static void test_leave_unreachable_replace(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	char got[5][DB_ID_MAX + 1], **left = NULL;
	struct err e;

	(void)state;
	model_init(&m, 5);
	m.kv_after[1] = 0;
	o = opts(&m);
	assert_int_equal(db_form(d, nodes, 4, &o, got, &e), 0);
	lines_reset(&m);
	/* kv-3's host is gone: a remaining node marks it down (else the
	 * claimant plans nothing) and force-removes it */
	m.up[3] = false;
	assert_int_equal(db_leave(d, nodes, 3, &nodes[3], 1, &o, &left, &e), 0);
	expect(&m, (const char *[]){"kv-0: member-status",
				    "kv-0: down riak@127.0.0.4",
				    "kv-0: cluster force-remove riak@127.0.0.4",
				    "kv-0: cluster plan", "kv-0: cluster commit", "...", NULL});
	assert_true(ring_is(&m, 0, 3));
	strv_free(left);
	/* kv-2 dies; kv-4 replaces it */
	m.up[2] = false;
	assert_int_equal(db_replace(d, nodes, 2, &nodes[2], &nodes[4], &o, &e), 0);
	expect(&m, (const char *[]){"kv-4: services", "kv-0: member-status",
				    "kv-0: down riak@127.0.0.3", "kv-4: cluster join riak@127.0.0.1",
				    "kv-0: member-status",
				    "kv-0: cluster force-replace riak@127.0.0.3 riak@127.0.0.5",
				    "kv-0: cluster plan", "kv-0: cluster commit", "...", NULL});
	assert_int_equal(m.ring[2], 2);
	assert_int_equal(m.ring[4], 0);
	assert_true(ring_is(&m, 0, 3));
	model_free(&m);
}

/* The drills' client: PUT with w=quorum&pw=quorum, GET with notfound_ok=false
 * (a 404 asked again of every replica), and a node that does not answer is
 * left for the next one. */
static void test_kv(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	const char *keys[] = {"shoal:drill:r:0:0", "shoal:drill:r:0:1", "k/2"};
	const char *vals[] = {"r:0:0", "r:0:1", "v2"}, *other[] = {"r:0:0", "x", "v2"};
	struct model m;
	struct db_opts o;
	struct db_kv *kv = NULL;
	uint8_t ok[3], got[3];
	struct err e;

	(void)state;
	model_init(&m, 3);
	o = opts(&m);
	assert_int_equal(db_kv_open(d, nodes, 3, &o, &kv, &e), 0);
	assert_int_equal(db_kv_write(d, kv, keys, vals, 2, 0, ok), 0);
	assert_true(ok[0] && ok[1]);
	assert_string_equal(m.last_query, "w=quorum&pw=quorum");
	assert_string_equal(m.key[0], "shoal:drill:r:0:0");
	assert_string_equal(m.val[1], "r:0:1");
	assert_int_equal(db_kv_read(d, kv, keys, other, 3, got), 0);
	assert_int_equal(got[0], DB_KV_PRESENT);
	assert_int_equal(got[1], DB_KV_OTHER);
	assert_int_equal(got[2], DB_KV_ABSENT);
	/* absent at a quorum, asked again of every replica: none has k/2 */
	assert_string_equal(m.last_query, "r=1&notfound_ok=false&basic_quorum=false");
	/* a key one replica holds: absent at a quorum, then read back from it */
	m.one_copy[1] = true;
	assert_int_equal(db_kv_read(d, kv, keys, vals, 2, got), 0);
	assert_int_equal(got[0], DB_KV_PRESENT);
	assert_int_equal(got[1], DB_KV_PRESENT_FEW);
	assert_string_equal(m.last_query, "r=1&notfound_ok=false&basic_quorum=false");
	m.one_copy[1] = false;
	assert_int_equal(db_kv_read(d, kv, &keys[1], &vals[1], 1, got), 0);
	assert_int_equal(got[0], DB_KV_PRESENT);
	assert_string_equal(m.last_query, "r=quorum&notfound_ok=false");
	/* kv-0 goes: the write sent there fails, the next goes to kv-1 */
	m.up[0] = false;
	assert_int_equal(db_kv_write(d, kv, &keys[2], &vals[2], 1, 1, ok), 1);
	assert_false(ok[0]);
	assert_int_equal(db_kv_write(d, kv, &keys[2], &vals[2], 1, 1, ok), 0);
	assert_true(ok[0]);
	assert_string_equal(m.last_query, "w=2&pw=2");
	assert_string_equal(m.key[2], "k/2");
	/* a 503 "R-value unsatisfied: 1/2" (the replica that has it answered
	 * before the second notfound) is asked again the same way; the 503
	 * moves the client to kv-2 */
	m.one_copy[1] = m.r_unsat = true;
	assert_int_equal(db_kv_read(d, kv, keys, vals, 2, got), 0);
	assert_int_equal(got[0], DB_KV_PRESENT);
	assert_int_equal(got[1], DB_KV_PRESENT_FEW);
	assert_string_equal(m.last_query, "r=1&notfound_ok=false&basic_quorum=false");
	db_kv_close(d, kv);
	/* no node answers: no client */
	m.up[1] = m.up[2] = false;
	assert_int_equal(db_kv_open(d, nodes, 3, &o, &kv, &e), -1);
	assert_int_equal(e.code, EHOSTUNREACH);
	model_free(&m);
}

static void test_observe_check(void **state)
{
	const struct db_driver *d = db_driver_find("riak");
	struct model m;
	struct db_opts o;
	struct db_view *v = NULL;
	char got[4][DB_ID_MAX + 1];
	json_t *c;
	struct err e;

	(void)state;
	model_init(&m, 4);
	m.kv_after[1] = 0;
	o = opts(&m);
	assert_int_equal(db_form(d, nodes, 4, &o, got, &e), 0);
	assert_int_equal(db_observe(d, nodes, 4, &o, &v, &e), 0);
	assert_string_equal(v->health, "ok");
	assert_int_equal(v->reachable, 4);
	assert_true(v->members[2].state_ok);
	assert_string_equal(v->members[2].role, "member");
	assert_string_equal(json_string_value(json_object_get(v->members[2].owns, "status")),
			    "valid");
	assert_int_equal(json_integer_value(json_object_get(v->summary, "valid")), 4);
	assert_string_equal(json_string_value(json_object_get(v->summary, "ring_read_from")),
			    "kv-0");
	c = db_check(d, v);
	assert_true(json_is_true(json_object_get(c, "all_members_valid")));
	assert_true(json_is_true(json_object_get(c, "transfers_settled")));
	assert_true(json_is_true(json_object_get(c, "ownership_balanced")));
	json_decref(c);
	db_view_free(v);
	/* kv-0 down: the ring is read from kv-1; kv-0 is reported, not a failure */
	m.up[0] = false;
	assert_int_equal(db_observe(d, nodes, 4, &o, &v, &e), 0);
	assert_string_equal(v->health, "degraded");
	assert_false(v->members[0].reachable);
	assert_non_null(strstr(v->members[0].error, "GET /ping"));
	assert_string_equal(json_string_value(json_object_get(v->summary, "ring_read_from")),
			    "kv-1");
	db_view_free(v);
	/* nobody answers */
	for (int i = 0; i < 4; i++)
		m.up[i] = false;
	assert_int_equal(db_observe(d, nodes, 4, &o, &v, &e), 0);
	assert_string_equal(v->health, "fail");
	c = db_check(d, v);
	assert_true(json_is_false(json_object_get(c, "all_members_valid")));
	json_decref(c);
	db_view_free(v);
	model_free(&m);
}

static void test_balanced(void **state)
{
	struct riak_member three[3] = {{.node = "a@x", .status = RIAK_VALID, .ring = 34.4},
				       {.node = "b@x", .status = RIAK_VALID, .ring = 32.8},
				       {.node = "c@x", .status = RIAK_VALID, .ring = 32.8}};
	struct riak_member five[5] = {{.node = "a@x", .ring = 25.0}, {.node = "b@x", .ring = 18.8},
				      {.node = "c@x", .ring = 18.8}, {.node = "d@x", .ring = 18.8},
				      {.node = "e@x", .ring = 18.8}};
	struct riak_member two[2] = {{.node = "a@x", .ring = 75.0}, {.node = "b@x", .ring = 25.0}};

	(void)state;
	/* 64 partitions over 3 as 22/21/21; 16 over 5 as 4/3/3/3/3: one
	 * partition apart at most */
	assert_true(riak_ring_balanced(&(struct riak_ring){.m = three, .n = 3}));
	assert_true(riak_ring_balanced(&(struct riak_ring){.m = five, .n = 5}));
	/* 8 over 2 as 6/2 */
	assert_false(riak_ring_balanced(&(struct riak_ring){.m = two, .n = 2}));
	assert_false(riak_ring_balanced(&(struct riak_ring){0}));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_settled),
		cmocka_unit_test(test_parse_pending),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_form_then_nothing),
		cmocka_unit_test(test_form_resumes),
		cmocka_unit_test(test_form_base_elsewhere),
		cmocka_unit_test(test_join_leave),
		cmocka_unit_test(test_leave_unreachable_replace),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_observe_check),
		cmocka_unit_test(test_balanced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
