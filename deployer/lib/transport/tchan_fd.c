/* tchan_fd.c - a tchan over pipes to a local child process (see transport.h).
 * Used by the local transport and by tests that talk to an agent directly. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "transport.h"

#define ERR_TAIL_MAX 4096

struct tchan_fd {
	struct tchan base;
	int rfd, wfd, errfd;
	pid_t pid;
};

static void drain_stderr(struct tchan_fd *c)
{
	char tmp[1024];

	while (c->errfd >= 0) {
		ssize_t r = read(c->errfd, tmp, sizeof tmp);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0 || errno != EAGAIN) {
				close(c->errfd);
				c->errfd = -1;
			}
			return;
		}
		buf_append(&c->base.err_tail, tmp, (size_t)r);
		if (c->base.err_tail.len > ERR_TAIL_MAX) {
			size_t cut = c->base.err_tail.len - ERR_TAIL_MAX;

			memmove(c->base.err_tail.data, c->base.err_tail.data + cut,
				ERR_TAIL_MAX + 1);
			c->base.err_tail.len = ERR_TAIL_MAX;
		}
	}
}

static ssize_t fd_read(struct tchan *t, void *buf, size_t n, int timeout_ms,
		       struct err *e)
{
	struct tchan_fd *c = (struct tchan_fd *)t;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p[2] = {{c->rfd, POLLIN, 0}, {c->errfd, POLLIN, 0}};
		int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
		int r;

		if (deadline >= 0 && wait < 0)
			wait = 0;
		r = poll(p, c->errfd >= 0 ? 2 : 1, wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, errno, "%s: poll", t->name);
		}
		if (r == 0)
			return err_set(e, ETIMEDOUT, "%s: no answer within %d ms",
				       t->name, timeout_ms);
		if (c->errfd >= 0 && p[1].revents)
			drain_stderr(c);
		if (p[0].revents) {
			ssize_t got = read(c->rfd, buf, n);

			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got < 0)
				return err_sys(e, errno, "%s: read", t->name);
			return got;
		}
	}
}

static int fd_write(struct tchan *t, const void *buf, size_t n, struct err *e)
{
	struct tchan_fd *c = (struct tchan_fd *)t;
	const char *p = buf;

	if (c->wfd < 0)
		return err_set(e, EPIPE, "%s: write after close", t->name);
	while (n) {
		ssize_t w = write(c->wfd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(e, errno, "%s: write", t->name);
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fd_close_write(struct tchan *t, struct err *e)
{
	struct tchan_fd *c = (struct tchan_fd *)t;

	if (c->wfd >= 0 && close(c->wfd) < 0) {
		c->wfd = -1;
		return err_sys(e, errno, "%s: close", t->name);
	}
	c->wfd = -1;
	return 0;
}

static int fd_pollfd(struct tchan *t)
{
	return ((struct tchan_fd *)t)->rfd;
}

static int fd_close(struct tchan *t, struct run_result *res, struct err *e)
{
	struct tchan_fd *c = (struct tchan_fd *)t;
	int rc = 0, status = 0;

	if (c->wfd >= 0)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->errfd >= 0) {
		fcntl(c->errfd, F_SETFL, 0);
		drain_stderr(c);
	}
	if (c->pid > 0) {
		while (waitpid(c->pid, &status, 0) < 0) {
			if (errno != EINTR) {
				rc = err_sys(e, errno, "%s: wait", t->name);
				break;
			}
		}
		if (rc == 0 && res) {
			res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
			res->exit_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		}
	} else if (res) {
		res->exit_code = 0;
		res->exit_signal = 0;
	}
	buf_free(&t->err_tail);
	free(t->name);
	free(c);
	return rc;
}

static const struct tchan_ops fd_ops = {
	.read = fd_read,
	.write = fd_write,
	.close_write = fd_close_write,
	.pollfd = fd_pollfd,
	.close = fd_close,
};

struct tchan *tchan_from_fds(const char *name, int rfd, int wfd, int errfd,
			     pid_t pid)
{
	struct tchan_fd *c = xcalloc(1, sizeof *c);

	c->base.ops = &fd_ops;
	c->base.name = xstrdup(name);
	c->rfd = rfd;
	c->wfd = wfd;
	c->errfd = errfd;
	c->pid = pid;
	if (errfd >= 0)
		fcntl(errfd, F_SETFL, fcntl(errfd, F_GETFL) | O_NONBLOCK);
	return &c->base;
}

int tchan_spawn_local(const char *name, const char *const argv[],
		      struct tchan **out, struct err *e)
{
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	extern char **environ;
	pid_t pid;
	int r;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		int saved = errno;

		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0) close(in[i]);
			if (outp[i] >= 0) close(outp[i]);
			if (errp[i] >= 0) close(errp[i]);
		}
		return err_sys(e, saved, "%s: pipe", name);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	r = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	close(errp[1]);
	if (r != 0) {
		close(in[1]);
		close(outp[0]);
		close(errp[0]);
		return err_sys(e, r, "%s: start %s", name, argv[0]);
	}
	*out = tchan_from_fds(name, outp[0], in[1], errp[0], pid);
	return 0;
}
