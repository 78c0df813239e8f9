/* test_wait.h - waiting in unit tests for a process to start serving.
 *
 * A server a test starts (redis-server, sshd) is waited for on the condition
 * itself, polled every 20 ms up to TEST_START_MS: a generous deadline, since
 * the ASan suite may share two loaded cores with another run.  The wait ends
 * at once, with the exit status, when the process has exited instead, so a
 * server that cannot start fails fast and says why.  The process is not
 * reaped here: the caller's kill() and waitpid() stay valid.
 */
#ifndef SHOAL_TEST_WAIT_H
#define SHOAL_TEST_WAIT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_START_MS 60000

static inline long long test_wait_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 once ready(arg) holds.  -1 when process pid (the one that should come to
 * serve) has exited or TEST_START_MS passed; why (n bytes) says which, naming
 * what (e.g. "redis-server on port 21345"). */
static inline int test_wait_started(pid_t pid, const char *what, bool (*ready)(void *), void *arg,
				    char *why, size_t n)
{
	long long until = test_wait_now_ms() + TEST_START_MS;

	for (;;) {
		siginfo_t si;

		if (ready(arg))
			return 0;
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
			if (si.si_code == CLD_EXITED)
				snprintf(why, n, "%s exited with status %d before it was ready", what,
					 si.si_status);
			else
				snprintf(why, n, "%s was killed by signal %d before it was ready", what,
					 si.si_status);
			return -1;
		}
		if (test_wait_now_ms() >= until) {
			snprintf(why, n, "%s not ready after %d s", what, TEST_START_MS / 1000);
			return -1;
		}
		usleep(20000);
	}
}

#endif
