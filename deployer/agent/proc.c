/* proc.c - bounded helper programs (see proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

#define OUT_MAX (64 * 1024)

char *proc_which(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path && *path ? path :
					    "/usr/local/sbin:/usr/local/bin:"
					    "/usr/sbin:/usr/bin:/sbin:/bin");

	for (char *save = NULL, *d = strtok_r(copy, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(d, name);
		struct stat st;

		if (d[0] == '/' && stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

int proc_run(const char *const argv[], int timeout_ms, struct buf *out,
	     struct err *e)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	int p[2], status = 0, r;
	int64_t deadline = now_ms() + timeout_ms;
	bool timed_out = false;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_sys(e, errno, "%s: pipe", argv[0]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return err_sys(e, r, "start %s", argv[0]);
	}
	for (;;) {
		struct pollfd pf = {p[0], POLLIN, 0};
		int64_t left = deadline - now_ms();
		char tmp[4096];
		ssize_t n;

		if (left <= 0) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		n = read(p[0], tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && out->len < OUT_MAX)
			buf_append(out, tmp, (size_t)n);
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return err_set(e, ETIMEDOUT, "%s: no answer within %d ms; killed",
			       argv[0], timeout_ms);
	return status;
}

int proc_pidfd_open(pid_t pid, struct err *e)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd < 0)
		return err_sys(e, errno, "pidfd_open %d", (int)pid);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int proc_pidfd_signal(int pidfd, int sig, struct err *e)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return err_sys(e, errno, "signal %d", sig);
	return 0;
}

uint64_t proc_start_ticks(pid_t pid)
{
	char path[64], *text = NULL, *p;
	uint64_t ticks = 0;
	struct err e;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_file(path, 4096, &text, NULL, &e) < 0)
		return 0;
	/* The command name may hold spaces and ')': fields follow the last ')'. */
	p = strrchr(text, ')');
	for (int field = 2; p && *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (p && *p)
		ticks = strtoull(p, NULL, 10);
	free(text);
	return ticks;
}
