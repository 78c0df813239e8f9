/* helper.c - slow work beside the agent's loop (see helper.h). */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "sandbox.h"

struct helper_waiter {
	struct session *s;
	json_int_t id;
	json_t *req;
	struct helper_waiter *next;
};

/* The helper's report on its pipe: a struct err (all zero on success), then
 * the result as JSON text when there is one. */
#define REPORT_MAX (sizeof(struct err) + 64 * 1024)

struct helper_job {
	struct agent *a;
	char *key;
	pid_t pid;
	int rep_fd;
	struct buf rep;
	struct helper_waiter *waiters;
	struct helper_job *next;
};

static void job_unlink(struct helper_job *j)
{
	for (struct helper_job **pp = &j->a->helpers; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
}

/* The helper ended (its report pipe closed): answer, or dispatch again,
 * every request that waited for it. */
static void job_done(struct helper_job *j)
{
	struct helper_waiter *w, *next;
	json_t *result = NULL;
	struct err e = {0};
	int st = 0;

	loop_unwatch(j->a->loop, j->rep_fd);
	close(j->rep_fd);
	while (waitpid(j->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (j->rep.len >= sizeof e) {
		memcpy(&e, j->rep.data, sizeof e);
		e.msg[sizeof e.msg - 1] = '\0';
		if (!e.msg[0] && j->rep.len > sizeof e &&
		    !(result = json_loadb(j->rep.data + sizeof e, j->rep.len - sizeof e, 0, NULL)))
			err_set(&e, EIO, "%s: the helper's result is not JSON", j->key);
	} else if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) || j->rep.len) {
		err_set(&e, EIO, "%s: the helper ended without a report (%s %d)", j->key,
			WIFSIGNALED(st) ? "signal" : "exit status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	}
	job_unlink(j);
	log_debug("%s: helper %d done%s%s", j->key, (int)j->pid, e.msg[0] ? ": " : "",
		  e.msg);
	for (w = j->waiters; w; w = next) {
		next = w->next;
		if (w->s->dead)
			;
		else if (e.msg[0])
			session_reply_err(w->s, w->id, &e);
		else if (result)
			session_reply(w->s, w->id, json_deep_copy(result));
		else
			session_dispatch(w->s, w->id, w->req);
		session_unref(w->s);
		json_decref(w->req);
		free(w);
	}
	json_decref(result);
	buf_free(&j->rep);
	free(j->key);
	free(j);
}

static void job_read(void *arg, int fd, short revents)
{
	struct helper_job *j = arg;
	char chunk[4096];
	ssize_t r = read(fd, chunk, sizeof chunk);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r > 0) {
		if (j->rep.len + (size_t)r <= REPORT_MAX)
			buf_append(&j->rep, chunk, (size_t)r);
		return;
	}
	job_done(j); /* end of file, or an error reading it */
}

/* The helper process: do the work, report an error as a struct err, exit
 * without running the agent's exit handlers.  It keeps only stdio and its
 * report pipe: an inherited agent.lock or listening socket would outlive a
 * killed agent and keep the next one from starting. */
static __attribute__((noreturn)) void helper_main(struct agent *a, const char *key,
						  json_t *req, helper_fn fn, int rep_fd)
{
	struct err e = {0};

	if (rep_fd != 3) {
		if (dup2(rep_fd, 3) < 0)
			_exit(2);
		rep_fd = 3;
	}
	sandbox_close_fds_from(4);

	json_t *result = NULL;
	char *text = NULL;
	int rc = fn(a, key, req, &result, &e);

	if (rc < 0 && !e.msg[0])
		err_set(&e, EIO, "%s failed", key);
	if (rc == 0)
		memset(&e, 0, sizeof e);
	if (rc < 0 || result) {
		if (write(rep_fd, &e, sizeof e) != (ssize_t)sizeof e)
			_exit(2);
		if (rc == 0 && (text = json_dumps(result, JSON_COMPACT)) &&
		    write(rep_fd, text, strlen(text)) != (ssize_t)strlen(text))
			_exit(2);
	}
	_exit(rc < 0 ? 1 : 0);
}

int helper_run(struct session *s, json_int_t id, json_t *req, const char *key,
	       helper_fn fn, struct err *e)
{
	struct agent *a = s->agent;
	struct helper_waiter *w;
	struct helper_job *j;
	int p[2];

	for (j = a->helpers; j && strcmp(j->key, key); j = j->next)
		;
	if (!j) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return err_sys(e, errno, "%s: pipe", key);
		j = xcalloc(1, sizeof *j);
		j->a = a;
		j->pid = fork();
		if (j->pid < 0) {
			int saved = errno;

			close(p[0]);
			close(p[1]);
			free(j);
			return err_sys(e, saved, "%s: fork", key);
		}
		if (j->pid == 0) {
			close(p[0]);
			helper_main(a, key, req, fn, p[1]);
		}
		close(p[1]);
		j->key = xstrdup(key);
		j->rep_fd = p[0];
		j->next = a->helpers;
		a->helpers = j;
		loop_watch(a->loop, j->rep_fd, POLLIN, job_read, j);
		log_debug("%s: helper %d started", key, (int)j->pid);
	}
	w = xcalloc(1, sizeof *w);
	w->s = s;
	w->id = id;
	w->req = json_incref(req);
	w->next = j->waiters;
	j->waiters = w;
	session_ref(s);
	return 1;
}

void helpers_stop(struct agent *a)
{
	while (a->helpers) {
		struct helper_job *j = a->helpers;

		kill(j->pid, SIGKILL);
		job_done(j);
	}
}
