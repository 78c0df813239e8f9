/* ops_exec.c - the exec request (see exec.h). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "exec.h"
#include "node.h"
#include "proc.h"
#include "sandbox.h"

#define STDIN_MAX (60 * 1024)   /* fits a pipe buffer: written at once */

/* What the helper (or the command, when exec fails) writes back. */
struct exec_report {
	int kind;         /* 1: wait status follows, 2: error */
	int status;
	struct err e;
};

struct exec_job {
	struct agent *a;
	struct session *s;        /* NULL once the session went away */
	json_int_t id;
	pid_t helper;
	int out_fd, err_fd, rep_fd;
	uint64_t timer;
	bool timed_out;
	struct exec_report rep;
	bool have_rep;
	struct exec_job *next;
};

static void job_finish(struct exec_job *j)
{
	int st;
	json_t *r;

	if (j->out_fd >= 0 || j->err_fd >= 0 || j->rep_fd >= 0)
		return;
	loop_cancel(j->a->loop, j->timer);
	while (waitpid(j->helper, &st, 0) < 0 && errno == EINTR)
		;
	if (j->s && !j->s->dead) {
		if (j->have_rep && j->rep.kind == 2) {
			j->rep.e.msg[sizeof j->rep.e.msg - 1] = '\0';
			session_reply_err(j->s, j->id, &j->rep.e);
		} else if (!j->have_rep) {
			struct err e;

			err_set(&e, EIO, "exec: the helper ended without a report");
			session_reply_err(j->s, j->id, &e);
		} else {
			st = j->rep.status;
			r = WIFSIGNALED(st) ? json_pack("{s:i}", "signal", WTERMSIG(st))
					    : json_pack("{s:i}", "exit_code", WEXITSTATUS(st));
			if (j->timed_out)
				json_object_set_new(r, "timed_out", json_true());
			session_reply(j->s, j->id, r);
		}
	}
	if (j->s)
		session_unref(j->s);
	for (struct exec_job **pp = &j->a->execs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	free(j);
}

static void close_watch(struct exec_job *j, int *fd)
{
	loop_unwatch(j->a->loop, *fd);
	close(*fd);
	*fd = -1;
}

static void on_output(void *arg, int fd, short revents)
{
	struct exec_job *j = arg;
	char tmp[65536];
	ssize_t r = read(fd, tmp, sizeof tmp);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		close_watch(j, fd == j->out_fd ? &j->out_fd : &j->err_fd);
		job_finish(j);
		return;
	}
	if (j->s && !j->s->dead)
		session_send(j->s, json_pack("{s:I,s:s,s:o}", "id", j->id, "stream",
					     fd == j->out_fd ? "stdout" : "stderr",
					     "data", jsonl_text(tmp, (size_t)r)));
}

static void on_report(void *arg, int fd, short revents)
{
	struct exec_job *j = arg;
	struct exec_report rep;
	ssize_t r = read(fd, &rep, sizeof rep);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r == (ssize_t)sizeof rep) {
		/* An error from the command outranks the helper's status. */
		if (!j->have_rep || rep.kind == 2)
			j->rep = rep;
		j->have_rep = true;
		return;
	}
	close_watch(j, &j->rep_fd);
	job_finish(j);
}

static void on_timeout(void *arg)
{
	struct exec_job *j = arg;

	j->timer = 0;
	j->timed_out = true;
	kill(j->helper, SIGKILL);   /* the command follows (PDEATHSIG) */
}

static __attribute__((noreturn)) void report_fail(int fd, struct err *e)
{
	struct exec_report rep = {.kind = 2, .e = *e};

	if (write(fd, &rep, sizeof rep) < 0)
		_exit(126);
	_exit(127);
}

/* The helper: joins the node, forks the command, reports its status. */
static __attribute__((noreturn)) void helper_main(struct node *n, int nsfd,
						  int cg_fds[CG_NCTRL], int in_fd,
						  int out_fd, int err_fd, int rep_fd,
						  char **argv, char **env)
{
	struct exec_report rep = {.kind = 1};
	struct sandbox sb;
	struct err e = {0};
	extern char **environ;
	pid_t pid;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setns(nsfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) < 0) {
		err_sys(&e, errno, "enter node %s", n->id);
		report_fail(rep_fd, &e);
	}
	for (int i = 0; i < CG_NCTRL; i++)
		if (cg_fds[i] >= 0 && write(cg_fds[i], "0", 1) != 1) {
			err_sys(&e, errno, "join cgroup");
			report_fail(rep_fd, &e);
		}
	/* Keep only what the command needs, at fixed numbers: its stdio and
	 * the report pipe (fd 3).  The helper must not hold the agent's
	 * sockets, lock or other nodes' descriptors while it waits. */
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0 ||
	    (rep_fd != 3 && dup3(rep_fd, 3, O_CLOEXEC) < 0)) {
		err_sys(&e, errno, "stdio");
		report_fail(rep_fd, &e);
	}
	rep_fd = 3;
	sandbox_close_fds_from(4);
	pid = fork();
	if (pid < 0) {
		err_sys(&e, errno, "fork");
		report_fail(rep_fd, &e);
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setsid();
		if (chdir(n->spec.workdir) < 0 && chdir("/") < 0) {
			err_sys(&e, errno, "chdir");
			report_fail(rep_fd, &e);
		}
		node_sandbox(n, &sb);
		if (sandbox_enter(&sb, &e) < 0)
			report_fail(rep_fd, &e);
		environ = env;
		execvp(argv[0], argv);
		err_sys(&e, errno, "exec %s", argv[0]);
		report_fail(rep_fd, &e);
	}
	close(0);
	close(1);
	close(2);
	while (waitpid(pid, &rep.status, 0) < 0) {
		if (errno != EINTR)
			_exit(125);
	}
	if (write(rep_fd, &rep, sizeof rep) < 0)
		_exit(126);
	_exit(0);
}

/* argv/env strings point into the request (kept alive by the caller until
 * the fork is done); env = the command's own entries, then the node's. */
static char **merge_env(char *const *node_env, const char **extra)
{
	size_t n = 0, k = 0;
	char **v;

	while (node_env && node_env[n])
		n++;
	for (size_t i = 0; extra && extra[i]; i++)
		n++;
	v = xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; extra && extra[i]; i++)
		v[k++] = (char *)extra[i];
	for (size_t i = 0; node_env && node_env[i]; i++)
		v[k++] = node_env[i];
	return v;
}

int op_exec(struct session *s, json_int_t id, json_t *req, json_t **result,
	    struct err *e)
{
	struct agent *a = s->agent;
	const char *cluster, *name, *in_text = NULL;
	_cleanup_free_ const char **argv = NULL, **extra = NULL;
	_cleanup_free_ char **env = NULL;
	_cleanup_close_ int nsfd = -1;
	int64_t timeout = 60000;
	int inp[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
	int cg_fds[CG_NCTRL];
	struct cgroup_limits none = {0};
	struct exec_job *j;
	struct node *n;
	pid_t pid;

	if (req_name(req, "cluster", &cluster, e) < 0 || req_name(req, "node", &name, e) < 0 ||
	    req_strv_opt(req, "argv", 256, 4096, &argv, e) < 0 ||
	    req_strv_opt(req, "env", 256, 8192, &extra, e) < 0 ||
	    req_str_opt(req, "stdin", &in_text, e) < 0 ||
	    req_int_opt(req, "timeout_ms", 1, 3600 * 1000, &timeout, e) < 0)
		return -1;
	if (!argv || !argv[0])
		return err_set(e, EINVAL, "field 'argv': expected a command");
	for (size_t i = 0; extra && extra[i]; i++)
		if (!strchr(extra[i], '=') || extra[i][0] == '=')
			return err_set(e, EINVAL, "field 'env'[%zu]: expected NAME=value", i);
	if (in_text && strlen(in_text) > STDIN_MAX)
		return err_set(e, EINVAL, "field 'stdin': more than %d bytes", STDIN_MAX);
	n = node_find(a, cluster, name);
	if (!n)
		return err_set(e, ENOENT, "node %s/%s not found", cluster, name);
	if (n->state != NODE_RUNNING || !n->pid ||
	    proc_start_ticks(n->pid) != n->start_ticks)
		return err_set(e, ESRCH, "node %s/%s is not running", cluster, name);
	nsfd = proc_pidfd_open(n->pid, e);
	if (nsfd < 0)
		return -1;
	if (cgroup_node_create(&a->cg, n->id, &none, cg_fds, e) < 0)
		return -1;
	env = merge_env(n->spec.env, extra);
	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0) {
		err_sys(e, errno, "pipe");
		goto fail;
	}
	if (in_text && write(inp[1], in_text, strlen(in_text)) < 0) {
		err_sys(e, errno, "stdin");
		goto fail;
	}
	close(inp[1]);
	inp[1] = -1;
	pid = fork();
	if (pid < 0) {
		err_sys(e, errno, "fork");
		goto fail;
	}
	if (pid == 0)
		helper_main(n, nsfd, cg_fds, inp[0], outp[1], errp[1], rep[1],
			    (char **)argv, env);
	for (int i = 0; i < CG_NCTRL; i++)
		if (cg_fds[i] >= 0)
			close(cg_fds[i]);
	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	close(rep[1]);
	j = xcalloc(1, sizeof *j);
	j->a = a;
	j->s = s;
	j->id = id;
	j->helper = pid;
	j->out_fd = outp[0];
	j->err_fd = errp[0];
	j->rep_fd = rep[0];
	j->next = a->execs;
	a->execs = j;
	session_ref(s);
	fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
	fcntl(j->rep_fd, F_SETFL, O_NONBLOCK);
	loop_watch(a->loop, j->out_fd, POLLIN, on_output, j);
	loop_watch(a->loop, j->err_fd, POLLIN, on_output, j);
	loop_watch(a->loop, j->rep_fd, POLLIN, on_report, j);
	j->timer = loop_timer(a->loop, timeout, on_timeout, j);
	return 1;
fail:
	for (int i = 0; i < CG_NCTRL; i++)
		if (cg_fds[i] >= 0)
			close(cg_fds[i]);
	for (int i = 0; i < 2; i++) {
		int *ps[] = {inp, outp, errp, rep};

		for (size_t k = 0; k < ARRAY_SIZE(ps); k++)
			if (ps[k][i] >= 0)
				close(ps[k][i]);
	}
	return -1;
}

void exec_session_gone(struct agent *a, struct session *s)
{
	for (struct exec_job *j = a->execs; j; j = j->next)
		if (j->s == s) {
			kill(j->helper, SIGKILL);
			session_unref(s);
			j->s = NULL;
		}
}

void exec_free_all(struct agent *a)
{
	while (a->execs) {
		struct exec_job *j = a->execs;
		int *fds[] = {&j->out_fd, &j->err_fd, &j->rep_fd};

		a->execs = j->next;
		kill(j->helper, SIGKILL);
		waitpid(j->helper, NULL, 0);
		for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
			if (*fds[i] >= 0) {
				loop_unwatch(a->loop, *fds[i]);
				close(*fds[i]);
			}
		if (j->s)
			session_unref(j->s);
		free(j);
	}
}
