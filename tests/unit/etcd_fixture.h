/* etcd_fixture.h - an etcd for the unit tests of the etcd store and the
 * monitor's leadership gate.
 *
 * SHOAL_TEST_ETCD=URL[,URL...] names one to use (state_etcd*.bats passes the
 * lab's 3-member cluster).  Otherwise etcd_fixture_start() runs Debian's
 * etcd (package etcd-server) as a child on two free 127.0.0.1 ports with a
 * temporary data folder, waits until it answers, and etcd_fixture_stop()
 * kills it and removes the folder.  Without an etcd binary the tests skip,
 * saying so. */
#ifndef SHOAL_TEST_ETCD_FIXTURE_H
#define SHOAL_TEST_ETCD_FIXTURE_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "util.h"

static char **fx_endpoints;
static size_t fx_n;
static pid_t fx_pid;
static char fx_dir[64];
static const char *fx_skip = "no etcd";

static int fx_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int fx_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void fx_add(const char *url)
{
	fx_endpoints = xrealloc(fx_endpoints, (fx_n + 2) * sizeof *fx_endpoints);
	fx_endpoints[fx_n++] = xstrdup(url);
	fx_endpoints[fx_n] = NULL;
}

/* 0 with fx_endpoints set, or -1 with fx_skip saying why the tests skip. */
static int etcd_fixture_start(void)
{
	const char *env = getenv("SHOAL_TEST_ETCD");
	char client[64], peer[64], *log;
	int cport, pport;

	if (env && *env) {
		char *copy = xstrdup(env), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			fx_add(t);
		free(copy);
		return 0;
	}
	if (access("/usr/bin/etcd", X_OK) != 0) {
		fx_skip = "etcd is not installed (Debian package etcd-server)";
		return -1;
	}
	snprintf(fx_dir, sizeof fx_dir, "/tmp/shoal-test-etcd.XXXXXX");
	cport = fx_free_port();
	pport = fx_free_port();
	if (!mkdtemp(fx_dir) || cport < 0 || pport < 0 || cport == pport) {
		fx_skip = "no temporary folder or free port for etcd";
		return -1;
	}
	snprintf(client, sizeof client, "http://127.0.0.1:%d", cport);
	snprintf(peer, sizeof peer, "http://127.0.0.1:%d", pport);
	log = xasprintf("%s/log", fx_dir);
	fx_pid = fork();
	if (fx_pid == 0) {
		char *data = xasprintf("%s/data", fx_dir), *initial = xasprintf("t=%s", peer);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl("/usr/bin/etcd", "etcd", "--name", "t", "--data-dir", data,
		      "--listen-client-urls", client, "--advertise-client-urls", client,
		      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		      "--initial-cluster", initial, (char *)NULL);
		_exit(127);
	}
	free(log);
	fx_add(client);
	/* wait (20 s at most) until it answers a read */
	for (int i = 0; i < 200; i++) {
		struct etcd *c;
		struct etcd_kv kv;
		struct err e = {0};
		int got = -1;

		if (waitpid(fx_pid, NULL, WNOHANG) == fx_pid) {
			fx_pid = 0;
			break;
		}
		if (etcd_open(fx_endpoints, fx_n, 500, &c, &e) == 0) {
			got = etcd_get(c, "/shoal-test-ready", &kv, NULL, &e);
			etcd_close(c);
		}
		if (got == 0)
			return 0;
		usleep(100000);
	}
	fx_skip = "the test etcd did not start";
	strv_free(fx_endpoints);
	fx_endpoints = NULL;
	fx_n = 0;
	return -1;
}

static void etcd_fixture_stop(void)
{
	if (fx_pid > 0) {
		kill(fx_pid, SIGTERM);
		waitpid(fx_pid, NULL, 0);
	}
	if (fx_dir[0] && nftw(fx_dir, fx_rm, 8, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "could not remove %s\n", fx_dir);
	strv_free(fx_endpoints);
	fx_endpoints = NULL;
	fx_n = 0;
}

/* In a test: skip, saying why, when there is no etcd. */
#define NEED_ETCD()                                                              \
	do {                                                                     \
		if (!fx_endpoints) {                                             \
			print_message("# skip reason: %s: %s\n", __func__, fx_skip); \
			skip();                                                  \
		}                                                                \
	} while (0)

#endif
