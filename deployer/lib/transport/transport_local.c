/* transport_local.c - the `local` transport: programs run as children of
 * this process, files are copied on this machine (see transport.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spec.h"
#include "transport.h"

struct local {
	struct transport base;
};

static void close_pair(int p[2])
{
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	p[0] = p[1] = -1;
}

/* Feed stdin, drain stdout/stderr until both close or the deadline. */
static int pump(struct transport *t, const char *what, int in, int outfd,
		int errfd, const struct run_io *io, int64_t deadline,
		struct run_output *out, struct err *e)
{
	const char *inp = io && io->in ? io->in : "";
	size_t inleft = io && io->in ? io->in_len : 0;
	size_t out_max = io && io->out_max ? io->out_max : TRANSPORT_OUT_MAX;
	char tmp[16384];

	if (!inleft) {
		close(in);
		in = -1;
	}
	while (outfd >= 0 || errfd >= 0) {
		struct pollfd p[3] = {{outfd, POLLIN, 0}, {errfd, POLLIN, 0},
				      {in, POLLOUT, 0}};
		int64_t wait = deadline - now_ms();
		int r;

		if (wait <= 0) {
			if (in >= 0)
				close(in);
			return err_set(e, ETIMEDOUT,
				       "%s: %s: no result within %d ms", t->label,
				       what, io && io->timeout_ms > 0 ?
				       io->timeout_ms : t->op_timeout_ms);
		}
		r = poll(p, 3, (int)wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, errno, "%s: poll", t->label);
		if (in >= 0 && p[2].revents) {
			ssize_t w = write(in, inp, inleft);

			if (w < 0 && errno != EINTR && errno != EAGAIN) {
				/* The program closed its stdin: fine. */
				inleft = 0;
			} else if (w > 0) {
				inp += w;
				inleft -= (size_t)w;
			}
			if (!inleft) {
				close(in);
				in = -1;
			}
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i ? &errfd : &outfd;
			ssize_t n;

			if (*fd < 0 || !p[i].revents)
				continue;
			n = read(*fd, tmp, sizeof tmp);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close(*fd);
				*fd = -1;
				continue;
			}
			if (i) {
				buf_append(&out->err, tmp, (size_t)n);
				buf_keep_tail(&out->err, TRANSPORT_ERR_TAIL);
			} else if (out->out.len + (size_t)n > out_max) {
				buf_append(&out->out, tmp, out_max - out->out.len);
				out->out_truncated = true;
			} else {
				buf_append(&out->out, tmp, (size_t)n);
			}
		}
	}
	if (in >= 0)
		close(in);
	return 0;
}

static int local_run(struct transport *t, const char *const argv[],
		     const struct run_io *io, struct run_output *out,
		     struct err *e)
{
	int in[2] = {-1, -1}, op[2] = {-1, -1}, ep[2] = {-1, -1};
	int timeout = io && io->timeout_ms > 0 ? io->timeout_ms : t->op_timeout_ms;
	posix_spawn_file_actions_t fa;
	extern char **environ;
	int rc, status;
	pid_t pid;

	memset(&out->res, 0, sizeof out->res);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0 ||
	    pipe2(ep, O_CLOEXEC) < 0) {
		rc = err_sys(e, errno, "%s: pipe", t->label);
		close_pair(in);
		close_pair(op);
		close_pair(ep);
		return rc;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, op[1], 1);
	posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(op[1]);
	close(ep[1]);
	if (rc != 0) {
		close(in[1]);
		close(op[0]);
		close(ep[0]);
		return err_sys(e, rc, "%s: start %s", t->label, argv[0]);
	}
	rc = pump(t, argv[0], in[1], op[0], ep[0], io, now_ms() + timeout, out, e);
	if (rc < 0)
		kill(pid, SIGKILL);
	close(op[0]);
	close(ep[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_sys(e, errno, "%s: wait %s", t->label, argv[0]);
	}
	if (rc < 0)
		return rc;
	out->res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	out->res.exit_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return 0;
}

/* argv[0] as run() would find it: itself when it holds a '/', else the
 * first executable of that name in $PATH.  Caller frees. */
static char *find_program(const char *prog)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *save = NULL;

	if (strchr(prog, '/'))
		return xstrdup(prog);
	copy = xstrdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = path_join(d, prog);

		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup(prog);
}

static int local_open_chan(struct transport *t, const char *const argv[],
			   struct tchan **out, struct err *e)
{
	_cleanup_free_ char *name = xasprintf("%s: %s", t->host, argv[0]);
	_cleanup_free_ char *prog = find_program(argv[0]);
	size_t n = 0;
	int rc;

	while (argv[n])
		n++;
	{
		const char **av = xcalloc(n + 1, sizeof *av);

		memcpy(av, argv, n * sizeof *av);
		av[0] = prog;
		rc = tchan_spawn_local(name, av, out, e);
		free(av);
	}
	return rc;
}

static int local_write_file(struct transport *t, const char *local,
			    const char *remote, mode_t mode,
			    transport_progress_fn progress, void *arg,
			    struct err *e)
{
	_cleanup_close_ int in = -1, out = -1;
	uint64_t done = 0;
	struct stat st;
	char buf[1 << 16];

	in = open(local, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		return err_sys(e, errno, "%s: open %s", t->label, local);
	out = open(remote, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0)
		return err_sys(e, errno, "%s: create %s", t->label, remote);
	if (fchmod(out, mode) < 0)
		return err_sys(e, errno, "%s: chmod %s", t->label, remote);
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(e, errno, "%s: read %s", t->label, local);
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return err_sys(e, errno, "%s: write %s",
					       t->label, remote);
			w += k;
		}
		done += (uint64_t)n;
		if (progress)
			progress(arg, done, (uint64_t)st.st_size);
	}
	if (fsync(out) < 0)
		return err_sys(e, errno, "%s: fsync %s", t->label, remote);
	return 0;
}

static int local_stat(struct transport *t, const char *remote,
		      struct remote_stat *rs, struct err *e)
{
	struct stat st;

	memset(rs, 0, sizeof *rs);
	if (stat(remote, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return err_sys(e, errno, "%s: stat %s", t->label, remote);
	}
	rs->exists = true;
	rs->regular = S_ISREG(st.st_mode);
	rs->dir = S_ISDIR(st.st_mode);
	rs->size = (uint64_t)st.st_size;
	rs->mode = st.st_mode & 07777;
	return 0;
}

static int local_rename(struct transport *t, const char *from, const char *to,
			struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(to);
	_cleanup_close_ int dfd = -1;

	if (rename(from, to) < 0)
		return err_sys(e, errno, "%s: rename %s to %s", t->label, from, to);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		return err_sys(e, errno, "%s: fsync %s", t->label, dir);
	return 0;
}

static int local_mkdirs(struct transport *t, const char *path, mode_t mode,
			struct err *e)
{
	if (mkdir_p(path, mode, e) < 0)
		return err_wrap(e, "%s", t->label);
	return 0;
}

static int local_remove(struct transport *t, const char *path, struct err *e)
{
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(e, errno, "%s: remove %s", t->label, path);
	return 0;
}

static void local_free(struct transport *t)
{
	free((struct local *)t);
}

static const struct transport_ops local_ops = {
	.kind = "local",
	.run = local_run,
	.open_chan = local_open_chan,
	.write_file = local_write_file,
	.stat = local_stat,
	.rename = local_rename,
	.mkdirs = local_mkdirs,
	.remove = local_remove,
	.free = local_free,
};

int transport_local_open(const struct spec_host *h,
			 const struct transport_opts *o,
			 struct transport **out, struct err *e)
{
	struct local *l = xcalloc(1, sizeof *l);

	(void)e;
	l->base.ops = &local_ops;
	l->base.host = xstrdup(h->name);
	l->base.label = xasprintf("%s (local)", h->name);
	l->base.op_timeout_ms = o && o->op_timeout_ms > 0 ? o->op_timeout_ms :
			       TRANSPORT_OP_TIMEOUT_MS;
	snprintf(l->base.info.address, sizeof l->base.info.address, "local");
	*out = &l->base;
	return 0;
}
