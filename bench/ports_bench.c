/* ports_bench.c - listening ports of a host with many sockets: the kernel's
 * sock_diag (what host.ports uses), the /proc/net/tcp{,6} text parser (what
 * `shoal plan` uses on a host without an agent) and `ss -Hltn`.
 *
 *   ports_bench LISTENERS CONNECTIONS
 *
 * Opens LISTENERS listening sockets (on 127.0.0.1, .2, ... as ports run out)
 * and CONNECTIONS loopback connections (two sockets each), then times each
 * reader (best of 5).  Run it in a network namespace of its own
 * (bench/ports_bench.sh does), so nothing else's sockets count. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "tcplisten.h"
#include "util.h"

static double mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int listener(unsigned addr, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(addr)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "ports_bench: listen %08x:%d: %s\n", addr, port, strerror(errno));
		exit(1);
	}
	return fd;
}

static double time_kernel(size_t *n)
{
	struct tcp_listener *s = NULL;
	size_t cap = 0;
	struct err e = {0};
	double t0 = mono_ms();

	*n = 0;
	if (tcp_listeners_kernel(&s, n, &cap, &e) < 0) {
		fprintf(stderr, "ports_bench: %s\n", e.msg);
		exit(1);
	}
	t0 = mono_ms() - t0;
	free(s);
	return t0;
}

static double time_proc(size_t *n)
{
	static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
	struct tcp_listener *s = NULL;
	size_t cap = 0;
	double t0 = mono_ms();

	*n = 0;
	for (int f = 0; f < 2; f++) {
		char *text = NULL;
		size_t len;
		struct err e = {0};

		if (read_file(files[f], 1u << 30, &text, &len, &e) == 0)
			tcp_listeners_parse(text, &s, n, &cap);
		free(text);
	}
	t0 = mono_ms() - t0;
	free(s);
	return t0;
}

static double time_ss(void)
{
	double t0 = mono_ms();
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		execlp("ss", "ss", "-Hltn", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "ports_bench: ss failed\n");
		exit(1);
	}
	return mono_ms() - t0;
}

/* Sockets per process: the hard nofile limit (20000 in the lab) caps each
 * one, so workers hold them. */
#define PER_WORKER 9000
#define PROC_MAX_LISTENERS 20000

/* One worker: listeners [l0, l1) and connections [c0, c1); tells the
 * parent through ready, then holds everything until hold reads EOF. */
static void worker(long l0, long l1, long c0, long c1, int w, int ready, int hold,
		   int hold_w)
{
	int srv = c1 > c0 ? listener(0x7f0000feu, 80 + w) : -1;
	char b;

	close(hold_w);   /* or hold never reads EOF */
	for (long i = l0; i < l1; i++)
		listener(0x7f000001u + (unsigned)(i / 60000), 2000 + (int)(i % 60000));
	for (long i = c0; i < c1; i++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(80 + w)),
					 .sin_addr.s_addr = htonl(0x7f0000feu)};
		/* clients from many source addresses: ephemeral ports run out */
		struct sockaddr_in from = {.sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(0x7f010000u + (unsigned)(i / 20000))};
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (c < 0 || bind(c, (struct sockaddr *)&from, sizeof from) < 0 ||
		    connect(c, (struct sockaddr *)&sa, sizeof sa) < 0 || accept(srv, NULL, NULL) < 0) {
			fprintf(stderr, "ports_bench: connection %ld: %s\n", i, strerror(errno));
			_exit(1);
		}
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	while (read(hold, &b, 1) > 0)
		;
	_exit(0);
}

int main(int argc, char **argv)
{
	long nl = argc > 1 ? atol(argv[1]) : 100000, nc = argc > 2 ? atol(argv[2]) : 0;
	double best[3] = {1e9, 1e9, 1e9};
	size_t nk = 0, np = 0;
	int ready[2], hold[2], workers = 0;
	char b;

	if (pipe(ready) < 0 || pipe(hold) < 0)
		return 1;
	for (long l = 0; l < nl; l += PER_WORKER, workers++)
		if (fork() == 0)
			worker(l, l + PER_WORKER < nl ? l + PER_WORKER : nl, 0, 0, workers,
			       ready[1], hold[0], hold[1]);
	for (long c = 0; c < nc; c += PER_WORKER / 2, workers++)
		if (fork() == 0)
			worker(0, 0, c, c + PER_WORKER / 2 < nc ? c + PER_WORKER / 2 : nc,
			       workers, ready[1], hold[0], hold[1]);
	close(hold[0]);
	close(ready[1]);
	for (int w = 0; w < workers; w++)
		if (read(ready[0], &b, 1) != 1) {
			fprintf(stderr, "ports_bench: a worker failed\n");
			return 1;
		}
	for (int r = 0; r < 5; r++) {
		double k = time_kernel(&nk), s = time_ss();

		best[0] = k < best[0] ? k : best[0];
		best[2] = s < best[2] ? s : best[2];
	}
	/* Once: the kernel walks its listening table again for every read()
	 * of /proc/net/tcp, so this takes minutes with 100k listeners. */
	if (nl <= PROC_MAX_LISTENERS)
		best[1] = time_proc(&np);
	close(hold[1]);
	while (wait(NULL) > 0)
		;
	printf("%ld listeners + %ld connections (%ld sockets): sock_diag %.1f ms (%zu listening), "
	       "ss -Hltn %.1f ms, ", nl, nc, nl + 2 * nc, best[0], nk, best[2]);
	if (nl <= PROC_MAX_LISTENERS)
		printf("/proc/net/tcp read+parse %.1f ms (%zu)\n", best[1], np);
	else
		printf("/proc/net/tcp not timed (over %d listeners: minutes)\n",
		       PROC_MAX_LISTENERS);
	return 0;
}
