/* redis_fixture.h - redis-server children for the unit tests that drive a
 * real Redis Cluster on 127.0.0.1 (test_redis_cluster, test_redis_migrate).
 *
 * A server is cluster-enabled, cluster-node-timeout 2000, requirepass and
 * masterauth set, in a temp dir of its own, without persistence.  It is
 * waited for on the condition (test_wait.h: it answers AUTH), and dies with
 * the test process (PR_SET_PDEATHSIG) if that crashes; rf_stop kills it and
 * removes its dir.  Each test binary takes its ports from its own range, so
 * two binaries running at once never pick the same one.
 *
 * Include after <cmocka.h>. */
#ifndef SHOAL_REDIS_FIXTURE_H
#define SHOAL_REDIS_FIXTURE_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_wait.h"

struct rf_server {
	pid_t pid;
	int port;
	char dir[64];
	char id[32];
	const char *password;
};

static inline bool rf_port_free(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A port p in [lo, hi] with p and p + 10000 (the bus port) free and not
 * handed out before by this process.  hi + 10000 must stay below the
 * kernel's ephemeral range (32768 and up), where outgoing connections could
 * take a bus port. */
static inline int rf_pick_port(int lo, int hi)
{
	static int next;
	int span = hi - lo + 1;

	if (next < lo || next > hi)
		next = lo + (int)(getpid() % span);
	for (int tries = 0; tries < span; tries++) {
		int p = next++;

		if (next > hi)
			next = lo;
		if (rf_port_free(p) && rf_port_free(p + 10000))
			return p;
	}
	fail_msg("no free port pair in %d-%d", lo, hi);
	return -1;
}

/* A connection to the server on port, authenticated with password (2 s
 * timeouts), or NULL. */
static inline redisContext *rf_connect(int port, const char *password)
{
	struct timeval tv = {2, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r;

	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	r = redisCommand(c, "AUTH %s", password);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		if (r)
			freeReplyObject(r);
		redisFree(c);
		return NULL;
	}
	freeReplyObject(r);
	return c;
}

/* Ready once the server accepts its password. */
static inline bool rf_answers(void *arg)
{
	const struct rf_server *sv = arg;
	redisContext *c = rf_connect(sv->port, sv->password);

	if (c)
		redisFree(c);
	return c != NULL;
}

/* Start a server on a port of [lo, hi] with password, in a new dir made
 * from dir_template ("/tmp/shoal-x.XXXXXX"); fails the test when it does
 * not come to answer. */
static inline void rf_start(struct rf_server *sv, int lo, int hi, const char *password,
			    const char *dir_template)
{
	char port[12], what[64], why[160];

	sv->port = rf_pick_port(lo, hi);
	sv->password = password;
	snprintf(sv->dir, sizeof sv->dir, "%s", dir_template);
	assert_non_null(mkdtemp(sv->dir));
	snprintf(port, sizeof port, "%d", sv->port);
	sv->pid = fork();
	assert_true(sv->pid >= 0);
	if (sv->pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--dir", sv->dir, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
		       "--cluster-config-file", "nodes.conf", "--requirepass", password,
		       "--masterauth", password, "--daemonize", "no", "--save", "", "--appendonly",
		       "no", "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	snprintf(what, sizeof what, "redis-server on port %d", sv->port);
	if (test_wait_started(sv->pid, what, rf_answers, sv, why, sizeof why) < 0)
		fail_msg("%s", why);
}

static inline int rf_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* Kill the server (when it runs) and remove its dir (when it has one). */
static inline void rf_stop(struct rf_server *sv)
{
	if (sv->pid > 0) {
		kill(sv->pid, SIGKILL);
		waitpid(sv->pid, NULL, 0);
		sv->pid = 0;
	}
	if (sv->dir[0])
		nftw(sv->dir, rf_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	sv->dir[0] = '\0';
}

#endif
