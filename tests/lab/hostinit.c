/*
 * hostinit — pid 1 of one lab host (see docs/lab.md).
 *
 *   hostinit PROGRAM [ARG...]
 *
 * Runs PROGRAM (the host's sshd) as its child and then does the one job an init
 * has in a pid namespace: reap every process that ends up parented to it, so
 * that orphans of the host never linger as zombies.  It never restarts
 * PROGRAM: when the host's sshd dies the host stays up without one.
 *
 * Power: the lab powers a host off by sending SIGKILL to this process from the
 * root pid namespace; the kernel then kills everything else in the namespace
 * at once.  SIGTERM or SIGINT from outside the host's pid namespace ends it
 * the same way.  Every other signal is ignored, and so are all signals sent
 * from inside the host (`kill 1` on a host does not power it off).
 *
 * The lab script builds this file with cc into the lab's state directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reap every child that has exited; report when PROGRAM (pid `first`) did. */
static void reap_all(pid_t first)
{
	for (;;) {
		int status;
		pid_t p = waitpid(-1, &status, WNOHANG);

		if (p <= 0)
			return;
		if (p != first)
			continue;
		if (WIFEXITED(status))
			fprintf(stderr, "hostinit: %d exited with status %d\n",
				(int)p, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(stderr, "hostinit: %d killed by signal %d\n",
				(int)p, WTERMSIG(status));
	}
}

int main(int argc, char **argv)
{
	sigset_t all;
	pid_t first;

	if (argc < 2) {
		fprintf(stderr, "usage: hostinit PROGRAM [ARG...]\n");
		return 2;
	}
	if (getpid() != 1) {
		fprintf(stderr, "hostinit: must be pid 1 of a new pid namespace\n");
		return 2;
	}
	/* All signals stay blocked in the init and are taken with sigwait. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);

	first = fork();
	if (first < 0) {
		fprintf(stderr, "hostinit: fork: %s\n", strerror(errno));
		return 1;
	}
	if (first == 0) {
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		execv(argv[1], argv + 1);
		fprintf(stderr, "hostinit: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}

	for (;;) {
		siginfo_t si;
		int sig;

		reap_all(first);
		sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		/* A sender outside this pid namespace shows as pid 0. */
		if ((sig == SIGTERM || sig == SIGINT) && si.si_code == SI_USER && si.si_pid == 0) {
			fprintf(stderr, "hostinit: signal %d from outside, powering off\n", sig);
			return 0;
		}
	}
}
