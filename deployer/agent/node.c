/* node.c - a node's folder, process, supervision and logs (node.h); its
 * description, as JSON, is node_spec.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "digest.h"
#include "exec.h"
#include "extract.h"
#include "imgstore.h"
#include "log.h"
#include "node.h"
#include "proc.h"
#include "runtime.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define HEALTHY_RUN_MS 60000
#define UNHEALTHY_FAILURES 5
#define NODE_JSON_MAX (1024 * 1024)
#define START_POLL_MS 10
#define REMOVE_KILL_WAIT_MS 10000

struct node_waiter {
	struct session *s;
	json_int_t id;
	struct node_waiter *next;
};

static const char *const state_names[] = {"created", "running", "stopping",
					  "stopped", "exited", "backoff",
					  "starting"};

/* ---- node structs and node.json ------------------------------------------- */

static struct node *node_new(struct agent *a, struct node_spec *spec)
{
	struct node *n = xcalloc(1, sizeof *n);
	_cleanup_free_ char *rel = xasprintf("nodes/%s/%s", spec->cluster, spec->name);

	n->agent = a;
	n->spec = *spec;
	memset(spec, 0, sizeof *spec);
	n->id = xasprintf("shoal.%s.%s", n->spec.cluster, n->spec.name);
	n->dir = agent_path(a, rel);
	n->lower = image_rootfs(a, n->spec.image);
	n->waiter_fd = n->log_rfd = n->log_hold_fd = n->log_fd = -1;
	n->start_err_fd = -1;
	n->oomw.fd = n->oomw.ctl_fd = -1;
	n->exit_code = n->exit_signal = -1;
	a->nodes = xgrow(a->nodes, &a->cap_nodes, a->n_nodes + 1, sizeof *a->nodes);
	a->nodes[a->n_nodes++] = n;
	return n;
}

static void node_free(struct node *n)
{
	struct agent *a = n->agent;

	for (size_t i = 0; i < a->n_nodes; i++)
		if (a->nodes[i] == n) {
			a->nodes[i] = a->nodes[--a->n_nodes];
			break;
		}
	loop_cancel(a->loop, n->timer);
	loop_cancel(a->loop, n->start_timer);
	loop_cancel(a->loop, n->start_poll);
	loop_cancel(a->loop, n->rm_timer);
	if (n->start_err_fd >= 0) {
		loop_unwatch(a->loop, n->start_err_fd);
		close(n->start_err_fd);
	}
	if (n->rm_s)
		session_unref(n->rm_s);
	while (n->start_waiters) {
		struct node_waiter *w = n->start_waiters;

		n->start_waiters = w->next;
		session_unref(w->s);
		free(w);
	}
	if (n->waiter_fd >= 0) {
		loop_unwatch(a->loop, n->waiter_fd);
		close(n->waiter_fd);
	}
	if (n->log_rfd >= 0) {
		loop_unwatch(a->loop, n->log_rfd);
		close(n->log_rfd);
	}
	if (n->oomw.fd >= 0)
		loop_unwatch(a->loop, n->oomw.fd);
	cgroup_oom_watch_stop(&n->oomw);
	if (n->log_hold_fd >= 0)
		close(n->log_hold_fd);
	if (n->log_fd >= 0)
		close(n->log_fd);
	while (n->waiters) {
		struct node_waiter *w = n->waiters;

		n->waiters = w->next;
		session_unref(w->s);
		free(w);
	}
	while (n->followers) {
		struct node_follower *f = n->followers;

		n->followers = f->next;
		session_unref(f->s);
		free(f);
	}
	node_spec_free(&n->spec);
	free(n->id);
	free(n->dir);
	free(n->lower);
	free(n);
}

void node_free_all(struct agent *a)
{
	while (a->n_nodes)
		node_free(a->nodes[a->n_nodes - 1]);
	free(a->nodes);
	a->nodes = NULL;
	a->cap_nodes = 0;
}

struct node *node_find(struct agent *a, const char *cluster, const char *name)
{
	for (size_t i = 0; i < a->n_nodes; i++)
		if (!strcmp(a->nodes[i]->spec.cluster, cluster) &&
		    !strcmp(a->nodes[i]->spec.name, name))
			return a->nodes[i];
	return NULL;
}

/* What node.json says should happen to the node after an agent restart. */
static const char *desired(const struct node *n)
{
	switch (n->state) {
	case NODE_CREATED: return "created";
	case NODE_STOPPING:
	case NODE_STOPPED: return "stopped";
	case NODE_EXITED: return "exited";
	case NODE_RUNNING:
	case NODE_STARTING:
	case NODE_BACKOFF: break;
	}
	return "running";
}

/* <run_dir>/nodes/<id>.json: this boot's facts about the node's process. */
static char *run_state_path(const struct node *n)
{
	_cleanup_free_ char *rel = xasprintf("nodes/%s.json", n->id);

	return path_join(n->agent->run_dir, rel);
}

/* Replace path with text (temp file + rename, no fsync: /run does not
 * survive a reboot, and neither do the pids it records). */
static int write_volatile(const char *path, const char *text, struct err *e)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
				      O_NOFOLLOW, 0600);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || rename(tmp, path) < 0)
		return err_sys(e, errno, "write %s", path);
	return 0;
}

static int node_save(struct node *n, struct err *e)
{
	const char *want = desired(n);
	_cleanup_free_ char *run = run_state_path(n);
	char *text;
	json_t *j;
	int rc = 0;

	if (!n->saved_desired || strcmp(n->saved_desired, want)) {
		_cleanup_free_ char *path = path_join(n->dir, "node.json");

		j = json_pack("{s:o,s:s}", "spec", node_spec_to_json(&n->spec),
			      "desired", want);
		text = json_dumps(j, JSON_INDENT(1));
		rc = write_file_atomic(path, text, strlen(text), 0600, e);
		free(text);
		json_decref(j);
		if (rc < 0)
			return -1;
		n->saved_desired = want;
	}
	j = json_pack("{s:I,s:I,s:i,s:s?}", "pid", (json_int_t)n->pid,
		      "start_ticks", (json_int_t)n->start_ticks,
		      "restarts", n->restarts, "runtime", n->rt ? n->rt->name : NULL);
	text = json_dumps(j, JSON_COMPACT);
	rc = write_volatile(run, text, e);
	free(text);
	json_decref(j);
	return rc;
}

static void node_save_or_warn(struct node *n)
{
	struct err e;

	if (node_save(n, &e) < 0)
		log_warn("node %s/%s: %s", n->spec.cluster, n->spec.name, e.msg);
}

json_t *node_record(const struct node *n)
{
	json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:i,s:b,s:o}",
			      "cluster", n->spec.cluster, "node", n->spec.name,
			      "image", n->spec.image,
			      "runtime", n->rt ? n->rt->name : n->spec.runtime,
			      "state", state_names[n->state], "pid", (json_int_t)n->pid,
			      "restarts", n->restarts, "oom", n->oom,
			      "spec", node_spec_to_json(&n->spec));

	if (n->exit_signal > 0)
		json_object_set_new(r, "signal", json_integer(n->exit_signal));
	else if (n->exit_code >= 0)
		json_object_set_new(r, "exit_code", json_integer(n->exit_code));
	if (n->state == NODE_RUNNING)
		json_object_set_new(r, "uptime_ms", json_integer(now_ms() - n->started_ms));
	if (n->start_us)
		json_object_set_new(r, "start_us", json_integer(n->start_us));
	return r;
}

static void node_event(struct node *n, const char *name, json_t *fields)
{
	json_object_set_new(fields, "cluster", json_string(n->spec.cluster));
	json_object_set_new(fields, "node", json_string(n->spec.name));
	agent_event(n->agent, name, fields);
}

/* ---- process lifecycle ----------------------------------------------------- */

static void on_exit_fd(void *arg, int fd, short revents);
static void restart_due(void *arg);
static void node_ended(struct node *n);
static void remove_finish(struct node *n);

static void answer_waiters(struct node *n)
{
	while (n->waiters) {
		struct node_waiter *w = n->waiters;

		n->waiters = w->next;
		session_reply(w->s, w->id, node_record(n));
		session_unref(w->s);
		free(w);
	}
}

/* Report OOM kills of this run not reported yet.  Returns how many were
 * new, 0 when none, -1 when the node's memory cgroup is gone. */
static int oom_check(struct node *n)
{
	uint64_t count, kills;

	if (cgroup_node_oom_count(&n->agent->cg, n->id, &count) < 0)
		return -1;
	kills = count > n->oom_base ? count - n->oom_base : 0;
	if (kills <= n->oom_seen)
		return 0;
	node_event(n, "oom", json_pack("{s:I}", "kills", (json_int_t)(kills - n->oom_seen)));
	n->oom_seen = kills;
	n->oom = true;
	return 1;
}

static void oom_unwatch(struct node *n)
{
	if (n->oomw.fd >= 0)
		loop_unwatch(n->agent->loop, n->oomw.fd);
	cgroup_oom_watch_stop(&n->oomw);
}

/* The kernel signals an OOM as it starts; the kill and its count follow a
 * moment later.  Look again for up to OOM_SETTLE_MS (an OCI runtime may
 * remove the cgroup soon after its init died, so no timer round trip). */
#define OOM_SETTLE_MS 50

static void on_oom(void *arg, int fd, short revents)
{
	struct node *n = arg;
	int r = 0, tries = 0;

	if (cgroup_oom_watch_ack(&n->oomw) < 0) {
		oom_unwatch(n);
		return;
	}
	while (tries++ < OOM_SETTLE_MS / 2 && (r = oom_check(n)) == 0)
		nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
	if (r < 0 && tries > 1 && n->oom_seen == 0) {
		/* Signalled while the cgroup was there, gone before the count
		 * showed: the OOM kill ended the node and its runtime removed
		 * the cgroup (OCI runtimes do on exit). */
		n->oom_seen = 1;
		n->oom = true;
		node_event(n, "oom", json_pack("{s:i}", "kills", 1));
	}
	if (r < 0)
		oom_unwatch(n);   /* the cgroup went away */
}

static void watch_process(struct node *n)
{
	struct err e;

	loop_watch(n->agent->loop, n->waiter_fd, POLLIN, on_exit_fd, n);
	n->oom_seen = 0;
	n->oom = false;
	oom_unwatch(n);
	if (cgroup_oom_watch_start(&n->agent->cg, n->id, &n->oomw, &e) < 0)
		log_warn("node %s: OOM kills seen only at exit: %s", n->id, e.msg);
	else if (n->oomw.fd >= 0)
		loop_watch(n->agent->loop, n->oomw.fd, n->oomw.events, on_oom, n);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the start job ---------------------------------------------------------
 * node_spawn() has the runtime launch a child and returns; the loop then
 * watches the child's setup pipe (on_start_pipe), its pidfd (on_exit_fd)
 * and a deadline (start_deadline).  Exactly one of start_succeeded() and
 * start_failed() ends the job. */

static void start_poll_due(void *arg);
static void supervise(struct node *n, bool failed);

static void reply_start_waiters(struct node *n, const struct err *e)
{
	while (n->start_waiters) {
		struct node_waiter *w = n->start_waiters;

		n->start_waiters = w->next;
		if (w->s->dead)
			;
		else if (e)
			session_reply_err(w->s, w->id, e);
		else
			session_reply(w->s, w->id, node_record(n));
		session_unref(w->s);
		free(w);
	}
}

static void start_job_end(struct node *n)
{
	struct loop *l = n->agent->loop;

	loop_cancel(l, n->start_timer);
	loop_cancel(l, n->start_poll);
	n->start_timer = n->start_poll = 0;
	if (n->start_err_fd >= 0) {
		loop_unwatch(l, n->start_err_fd);
		close(n->start_err_fd);
		n->start_err_fd = -1;
	}
}

/* "start <cluster>/<node>: " before why, once. */
static void start_reason(const struct node *n, struct err *why)
{
	char prefix[256];

	snprintf(prefix, sizeof prefix, "start %s/%s: ", n->spec.cluster, n->spec.name);
	if (strncmp(why->msg, prefix, strlen(prefix)))
		err_wrap(why, "start %s/%s", n->spec.cluster, n->spec.name);
}

/* Kill the start (SIGKILL to the child's process group and pidfd) and
 * answer whoever waits for it with why; the child's exit then ends the job
 * (start_failed).  A second call keeps the first reason. */
static void start_abort(struct node *n, struct err *why)
{
	struct err ig;

	if (n->start_abort.msg[0])
		return;
	start_reason(n, why);
	n->start_abort = *why;
	loop_cancel(n->agent->loop, n->start_timer);
	loop_cancel(n->agent->loop, n->start_poll);
	n->start_timer = n->start_poll = 0;
	/* The setup child (and, before `runc run`, a cp it runs) sits in its
	 * own process group; the waiter is not reaped yet, so its number
	 * cannot name another group. */
	if (n->waiter > 0)
		kill(-n->waiter, SIGKILL);
	if (n->waiter_fd >= 0)
		proc_pidfd_signal(n->waiter_fd, SIGKILL, &ig);
	log_warn("%s", why->msg);
	reply_start_waiters(n, why);
}

static void start_deadline(void *arg)
{
	struct node *n = arg;
	struct err e;

	n->start_timer = 0;
	err_set(&e, ETIMEDOUT, "runtime %s did not start the node within %lld ms "
		"(killed)", n->rt ? n->rt->name : "?", (long long)n->spec.start_timeout_ms);
	start_abort(n, &e);
}

static void start_succeeded(struct node *n, pid_t pid)
{
	start_job_end(n);
	n->start_us = now_us() - n->start_t0;
	n->pid = pid;
	n->start_ticks = proc_start_ticks(pid);
	n->started_ms = now_ms();
	n->state = NODE_RUNNING;
	watch_process(n);
	node_save_or_warn(n);
	node_event(n, "started", json_pack("{s:I,s:i}", "pid", (json_int_t)n->pid,
					   "restarts", n->restarts));
	reply_start_waiters(n, NULL);
}

/* The launched child ended (reaped here) without the node running. */
static void start_failed(struct node *n, struct err *why)
{
	siginfo_t si;

	start_job_end(n);
	loop_unwatch(n->agent->loop, n->waiter_fd);
	memset(&si, 0, sizeof si);
	waitid((idtype_t)P_PIDFD, (id_t)n->waiter_fd, &si, WEXITED | WNOHANG);
	close(n->waiter_fd);
	n->waiter_fd = -1;
	n->waiter = 0;
	n->pid = 0;
	if (n->rt)
		n->rt->start_failed(n->agent, n, n->start_abort.msg[0] ? NULL : why);
	if (n->start_abort.msg[0])
		*why = n->start_abort;
	start_reason(n, why);
	memset(&n->start_abort, 0, sizeof n->start_abort);
	reply_start_waiters(n, why);
	if (n->stop_on_start) {
		n->stop_on_start = false;
		n->state = NODE_STOPPED;
		node_save_or_warn(n);
		answer_waiters(n);
	} else if (n->start_prev == NODE_BACKOFF) {
		log_warn("%s", why->msg);
		node_event(n, "exited", json_pack("{s:s,s:i}", "error", why->msg,
						  "restarts", n->restarts));
		supervise(n, true);
	} else {
		n->state = n->start_prev;
		node_save_or_warn(n);
	}
}

/* Ask the runtime whether the node's init runs (after the setup pipe
 * ended). */
static void start_check(struct node *n)
{
	struct runtime_proc p = {.waiter = n->waiter, .waiter_fd = n->waiter_fd,
				 .err_fd = -1};
	struct err e = {0};
	int r = n->rt->started(n->agent, n, &p, &e);

	if (r > 0)
		start_succeeded(n, p.pid);
	else if (r < 0)
		start_abort(n, &e);
	else
		n->start_poll = loop_timer(n->agent->loop, START_POLL_MS, start_poll_due, n);
}

static void start_poll_due(void *arg)
{
	struct node *n = arg;

	n->start_poll = 0;
	if (n->state == NODE_STARTING && !n->start_abort.msg[0])
		start_check(n);
}

/* Read the setup pipe: 1 = end-of-file (executed), 0 = nothing yet, -1 =
 * the setup's error in *ce. */
static int start_pipe_read(struct node *n, struct err *ce)
{
	ssize_t r;

	memset(ce, 0, sizeof *ce);
	do
		r = read(n->start_err_fd, ce, sizeof *ce);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return 0;
	loop_unwatch(n->agent->loop, n->start_err_fd);
	close(n->start_err_fd);
	n->start_err_fd = -1;
	if (r == 0)
		return 1;
	if (r < 0)
		return err_sys(ce, errno, "read the runtime's setup pipe");
	ce->msg[sizeof ce->msg - 1] = '\0';
	if (!ce->msg[0])
		err_set(ce, EIO, "the runtime's setup failed without a reason");
	return -1;
}

static void on_start_pipe(void *arg, int fd, short revents)
{
	struct node *n = arg;
	struct err ce;
	int r = start_pipe_read(n, &ce);

	if (r < 0)
		start_abort(n, &ce);
	else if (r > 0 && !n->start_abort.msg[0])
		start_check(n);
}

/* The waiter ended while the node was starting. */
static void start_waiter_ended(struct node *n)
{
	struct err why = {0};
	int r = 1;

	if (!n->start_abort.msg[0] && n->start_err_fd >= 0)
		r = start_pipe_read(n, &why);
	if (!n->start_abort.msg[0] && r > 0) {
		struct runtime_proc p = {.waiter = n->waiter, .err_fd = -1};

		/* Executed, and maybe the node already ran and ended. */
		if (n->rt->started(n->agent, n, &p, &why) > 0) {
			start_succeeded(n, p.pid);
			node_ended(n);
			return;
		}
		if (!why.msg[0])
			err_set(&why, EIO, "runtime %s exited before starting the node",
				n->rt->name);
	}
	start_failed(n, &why);
}

/* Launch the node's process; the start job answers s/id (s may be NULL). */
static int node_spawn(struct node *n, struct session *s, json_int_t id, struct err *e)
{
	struct runtime_proc p = {0};
	_cleanup_close_ int wfd = -1;

	n->rt = runtime_find(n->agent, n->spec.runtime, e);
	if (!n->rt || node_log_pipe_open(n, e) < 0)
		return -1;
	wfd = node_log_writer(n, e);
	if (wfd < 0)
		return -1;
	n->oom_base = cgroup_node_oom_kills(&n->agent->cg, n->id);
	p.waiter_fd = p.err_fd = -1;
	n->start_t0 = now_us();
	if (n->rt->start(n->agent, n, wfd, &p, e) < 0)
		return err_wrap(e, "start %s/%s", n->spec.cluster, n->spec.name);
	n->start_prev = n->state;
	n->state = NODE_STARTING;
	n->pid = 0;
	n->waiter = p.waiter;
	n->waiter_fd = p.waiter_fd;
	n->start_err_fd = p.err_fd;
	n->adopted = false;
	memset(&n->start_abort, 0, sizeof n->start_abort);
	fcntl(n->start_err_fd, F_SETFL, O_NONBLOCK);
	loop_watch(n->agent->loop, n->start_err_fd, POLLIN, on_start_pipe, n);
	loop_watch(n->agent->loop, n->waiter_fd, POLLIN, on_exit_fd, n);
	n->start_timer = loop_timer(n->agent->loop, n->spec.start_timeout_ms,
				    start_deadline, n);
	if (s) {
		struct node_waiter *w = xcalloc(1, sizeof *w);

		w->s = s;
		w->id = id;
		w->next = n->start_waiters;
		n->start_waiters = w;
		session_ref(s);
	}
	return 1;
}

/* Decide what follows an exit (or a failed restart) of a supervised node. */
static void supervise(struct node *n, bool failed)
{
	int64_t delay;

	if (n->spec.restart == RESTART_NEVER ||
	    (n->spec.restart == RESTART_ON_FAILURE && !failed)) {
		n->state = NODE_EXITED;
		node_save_or_warn(n);
		return;
	}
	if (n->started_ms && now_ms() - n->started_ms >= HEALTHY_RUN_MS)
		n->failures = 0;
	delay = 0;
	if (n->failures > 0) {
		delay = BACKOFF_FIRST_MS;
		for (int i = 1; i < n->failures && delay < BACKOFF_MAX_MS; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_MS)
			delay = BACKOFF_MAX_MS;
	}
	n->failures++;
	n->restarts++;
	if (n->failures == UNHEALTHY_FAILURES)
		node_event(n, "unhealthy", json_pack("{s:i}", "restarts", n->restarts));
	node_event(n, "restarting", json_pack("{s:I,s:i}", "delay_ms", (json_int_t)delay,
					      "restarts", n->restarts));
	n->state = NODE_BACKOFF;
	n->started_ms = 0;
	n->timer = loop_timer(n->agent->loop, delay, restart_due, n);
	node_save_or_warn(n);
}

static void restart_due(void *arg)
{
	struct node *n = arg;
	struct err e = {0};

	n->timer = 0;
	if (n->state != NODE_BACKOFF)
		return;
	if (node_spawn(n, NULL, 0, &e) < 0) {
		log_warn("%s", e.msg);
		node_event(n, "exited", json_pack("{s:s,s:i}", "error", e.msg,
						  "restarts", n->restarts));
		supervise(n, true);
	}
}

/* The node's process ended: collect how, then supervise. */
static void node_ended(struct node *n)
{
	siginfo_t si;
	json_t *ev;
	bool failed;

	memset(&si, 0, sizeof si);
	loop_unwatch(n->agent->loop, n->waiter_fd);
	n->exit_code = n->exit_signal = -1;
	if (!n->adopted &&
	    waitid((idtype_t)P_PIDFD, (id_t)n->waiter_fd, &si, WEXITED) == 0) {
		if (si.si_code == CLD_EXITED)
			n->exit_code = si.si_status;
		else
			n->exit_signal = si.si_status;
	}
	close(n->waiter_fd);
	n->waiter_fd = -1;
	/* Before the runtime's cleanup: an OCI runtime removes the cgroup. */
	oom_check(n);
	oom_unwatch(n);
	if (n->rt)
		n->rt->cleanup(n->agent, n);
	ev = json_pack("{s:b,s:i}", "oom", n->oom, "restarts", n->restarts);
	if (n->exit_signal > 0)
		json_object_set_new(ev, "signal", json_integer(n->exit_signal));
	else if (n->exit_code >= 0)
		json_object_set_new(ev, "exit_code", json_integer(n->exit_code));
	else
		json_object_set_new(ev, "status", json_string("unknown (adopted)"));
	node_event(n, "exited", ev);
	n->pid = 0;
	n->start_ticks = 0;
	failed = n->exit_code != 0 || n->oom;
	if (n->state == NODE_STOPPING || n->state == NODE_STOPPED) {
		loop_cancel(n->agent->loop, n->timer);
		n->timer = 0;
		n->state = NODE_STOPPED;
		node_save_or_warn(n);
	} else {
		supervise(n, failed);
	}
	answer_waiters(n);
}

static void on_exit_fd(void *arg, int fd, short revents)
{
	struct node *n = arg;

	if (n->state == NODE_STARTING)
		start_waiter_ended(n);
	else
		node_ended(n);
	if (n->rm_pending)
		remove_finish(n);
}

/* ---- loading and adopting -------------------------------------------------- */

static int node_load(struct agent *a, const char *path, struct err *e)
{
	_cleanup_free_ char *text = NULL;
	struct node_spec spec;
	json_error_t je;
	json_t *j, *sj;
	struct node *n;
	_cleanup_free_ char *want = NULL;
	pid_t pid;
	uint64_t ticks;

	if (read_file(path, NODE_JSON_MAX, &text, NULL, e) < 0)
		return -1;
	j = json_loads(text, 0, &je);
	if (!j)
		return err_from_json(e, &je, path);
	sj = json_object_get(j, "spec");
	if (!json_is_object(sj) || node_spec_from_json(sj, &spec, e) < 0) {
		if (!json_is_object(sj))
			err_set(e, EINVAL, "no 'spec' object");
		node_spec_free(&spec);
		json_decref(j);
		return err_wrap(e, "%s", path);
	}
	if (node_find(a, spec.cluster, spec.name)) {
		node_spec_free(&spec);
		json_decref(j);
		return err_set(e, EEXIST, "%s: duplicate node", path);
	}
	n = node_new(a, &spec);
	want = xstrdup(json_string_value(json_object_get(j, "desired")) ?: "created");
	json_decref(j);
	/* This boot's facts, if the node ran since the last reboot. */
	_cleanup_free_ char *run = run_state_path(n), *rtext = NULL;
	struct err ig;

	j = read_file(run, 4096, &rtext, NULL, &ig) == 0 ? json_loads(rtext, 0, NULL) : NULL;
	pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	ticks = (uint64_t)json_integer_value(json_object_get(j, "start_ticks"));
	n->restarts = (int)json_integer_value(json_object_get(j, "restarts"));
	json_decref(j);
	n->state = !strcmp(want, "stopped") ? NODE_STOPPED :
		   !strcmp(want, "exited") ? NODE_EXITED :
		   !strcmp(want, "running") ? NODE_RUNNING : NODE_CREATED;
	n->saved_desired = desired(n);
	if (n->state != NODE_RUNNING)
		return 0;
	n->rt = runtime_find(a, n->spec.runtime, e);
	if (!n->rt)
		return err_wrap(e, "node %s", n->id);
	if (pid > 1 && ticks && proc_start_ticks(pid) == ticks) {
		n->waiter_fd = proc_pidfd_open(pid, e);
		if (n->waiter_fd < 0)
			return err_wrap(e, "adopt node %s", n->id);
		n->pid = n->waiter = pid;
		n->start_ticks = ticks;
		n->adopted = true;
		n->state = NODE_RUNNING;
		n->started_ms = now_ms();
		n->oom_base = cgroup_node_oom_kills(&a->cg, n->id);
		if (node_log_pipe_open(n, e) < 0)
			return err_wrap(e, "adopt node %s", n->id);
		watch_process(n);
		log_info("node %s: adopted pid %d", n->id, (int)pid);
		node_event(n, "adopted", json_pack("{s:I}", "pid", (json_int_t)pid));
		return 0;
	}
	/* Not running (reboot, or it ended while no agent watched). */
	n->pid = 0;
	n->state = NODE_RUNNING;
	supervise(n, true);
	return 0;
}

int node_load_all(struct agent *a, struct err *e)
{
	_cleanup_free_ char *nodes = agent_path(a, "nodes");
	DIR *top = opendir(nodes);
	struct dirent *c;

	if (!top)
		return err_sys(e, errno, "open %s", nodes);
	while ((c = readdir(top))) {
		_cleanup_free_ char *cdir = NULL;
		DIR *sub;
		struct dirent *d;

		if (!name_is_safe(c->d_name, 63))
			continue;
		cdir = path_join(nodes, c->d_name);
		sub = opendir(cdir);
		while (sub && (d = readdir(sub))) {
			_cleanup_free_ char *p = NULL;
			struct err le = {0};

			if (!name_is_safe(d->d_name, 63))
				continue;
			p = xasprintf("%s/%s/node.json", cdir, d->d_name);
			if (access(p, F_OK) == 0 && node_load(a, p, &le) < 0)
				log_warn("%s", le.msg);
		}
		if (sub)
			closedir(sub);
	}
	closedir(top);
	return 0;
}

void node_session_gone(struct agent *a, struct session *s)
{
	for (size_t i = 0; i < a->n_nodes; i++) {
		struct node *n = a->nodes[i];
		struct node_waiter **wp = &n->waiters;
		struct node_follower **fp = &n->followers;
		struct node_waiter **sp = &n->start_waiters;

		if (n->rm_s == s) {
			n->rm_s = NULL;
			session_unref(s);
		}
		while (*sp) {
			struct node_waiter *w = *sp;

			if (w->s == s) {
				*sp = w->next;
				session_unref(s);
				free(w);
			} else {
				sp = &w->next;
			}
		}

		while (*wp) {
			struct node_waiter *w = *wp;

			if (w->s == s) {
				*wp = w->next;
				session_unref(s);
				free(w);
			} else {
				wp = &w->next;
			}
		}
		while (*fp) {
			struct node_follower *f = *fp;

			if (f->s == s) {
				*fp = f->next;
				session_unref(s);
				free(f);
			} else {
				fp = &f->next;
			}
		}
	}
	exec_session_gone(a, s);
}

/* ---- lifecycle used by the requests ---------------------------------------- */

struct node *node_create(struct agent *a, struct node_spec *spec, struct err *e)
{
	static const char *const dirs[] = {"upper", "work", "rootfs", "data", "logs"};
	_cleanup_free_ char *data = NULL, *upper = NULL;
	struct node *n;

	if (node_find(a, spec->cluster, spec->name))
		return err_set(e, EEXIST, "node %s/%s exists", spec->cluster,
			       spec->name), NULL;
	n = node_new(a, spec);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *p = path_join(n->dir, dirs[i]);

		if (mkdir_p(p, 0700, e) < 0)
			goto fail;
	}
	/* The node's user owns its data; the rest stays root's.  upper is
	 * the root folder the node sees: it must be enterable by any user. */
	data = path_join(n->dir, "data");
	upper = path_join(n->dir, "upper");
	if (chmod(upper, 0755) < 0) {
		err_sys(e, errno, "chmod %s", upper);
		goto fail;
	}
	if (chown(data, n->spec.uid, n->spec.gid) < 0 || chmod(data, 0750) < 0 ||
	    chmod(n->dir, 0711) < 0) {
		err_sys(e, errno, "chown %s", data);
		goto fail;
	}
	n->state = NODE_CREATED;
	if (node_log_pipe_open(n, e) < 0 || node_save(n, e) < 0)
		goto fail;
	return n;
fail:
	node_free(n);
	return NULL;
}

int node_start(struct node *n, struct session *s, json_int_t id, struct err *e)
{
	if (n->state == NODE_RUNNING || n->state == NODE_STOPPING ||
	    n->state == NODE_STARTING)
		return err_set(e, EBUSY, "node %s/%s is already %s",
			       n->spec.cluster, n->spec.name, state_names[n->state]);
	if (n->rm_pending)
		return err_set(e, EBUSY, "node %s/%s is being removed",
			       n->spec.cluster, n->spec.name);
	loop_cancel(n->agent->loop, n->timer);
	n->timer = 0;
	n->restarts = 0;
	n->failures = 0;
	return node_spawn(n, s, id, e);
}

int node_signal(struct node *n, int sig, struct err *e)
{
	_cleanup_close_ int fd = -1;

	if (!n->pid || proc_start_ticks(n->pid) != n->start_ticks)
		return err_set(e, ESRCH, "node %s/%s is not running", n->spec.cluster,
			       n->spec.name);
	fd = proc_pidfd_open(n->pid, e);
	if (fd < 0 || proc_pidfd_signal(fd, sig, e) < 0)
		return err_wrap(e, "node %s/%s", n->spec.cluster, n->spec.name);
	return 0;
}

static void stop_grace_due(void *arg)
{
	struct node *n = arg;
	struct err e;

	n->timer = 0;
	if (n->state == NODE_STOPPING && node_signal(n, SIGKILL, &e) < 0)
		log_warn("%s", e.msg);
}

int node_stop(struct node *n, int64_t grace_ms, struct session *s, json_int_t id,
	      struct err *e)
{
	struct node_waiter *w;

	if (n->state == NODE_BACKOFF || n->state == NODE_CREATED ||
	    n->state == NODE_EXITED || n->state == NODE_STOPPED) {
		loop_cancel(n->agent->loop, n->timer);
		n->timer = 0;
		if (n->state != NODE_CREATED)
			n->state = NODE_STOPPED;
		node_save_or_warn(n);
		return 0;
	}
	if (n->state == NODE_STARTING) {
		struct err why;

		err_set(&why, ECANCELED, "stopped while starting");
		n->stop_on_start = true;
		start_abort(n, &why);
	} else if (n->state == NODE_RUNNING) {
		n->state = NODE_STOPPING;
		node_save_or_warn(n);
		if (node_signal(n, grace_ms ? n->spec.stop_signal : SIGKILL, e) < 0)
			log_warn("%s", e->msg);
		n->timer = loop_timer(n->agent->loop, grace_ms, stop_grace_due, n);
	}
	w = xcalloc(1, sizeof *w);
	w->s = s;
	w->id = id;
	w->next = n->waiters;
	n->waiters = w;
	session_ref(s);
	return 1;
}

/* Remove everything in the node's folder but data/: node.json first, so an
 * agent that dies half-way never loads a half-removed node. */
static int remove_keeping_data(struct node *n, struct err *e)
{
	_cleanup_close_ int nfd = open(n->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (nfd < 0)
		return err_sys(e, errno, "open %s", n->dir);
	if (unlinkat(nfd, "node.json", 0) < 0 && errno != ENOENT)
		return err_sys(e, errno, "remove %s/node.json", n->dir);
	d = fdopendir(dup(nfd));
	if (!d)
		return err_sys(e, errno, "read %s", n->dir);
	while (rc == 0 && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, "data"))
			continue;
		rc = extract_remove_tree(nfd, de->d_name, e);
	}
	closedir(d);
	return rc;
}

/* Remove a node whose process has ended. */
static int remove_now(struct node *n, bool keep_data, struct err *e)
{
	struct agent *a = n->agent;
	_cleanup_free_ char *cdir = path_dirname(n->dir);
	_cleanup_close_ int cfd = -1;

	/* Whatever a runtime kept of an earlier run (runc --keep state, a
	 * mounted root) goes too; this is a no-op when nothing is left. */
	if (!n->rt && strcmp(n->spec.runtime, "auto") && strcmp(n->spec.runtime, "builtin"))
		n->rt = runtime_find(a, n->spec.runtime, e);
	if (n->rt)
		n->rt->cleanup(a, n);
	if (cgroup_node_remove(&a->cg, n->id, e) < 0)
		return err_wrap(e, "remove %s/%s", n->spec.cluster, n->spec.name);
	cfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (cfd < 0)
		return err_sys(e, errno, "open %s", cdir);
	if ((keep_data ? remove_keeping_data(n, e) : extract_remove_tree(cfd, n->spec.name, e)) < 0)
		return err_wrap(e, "remove %s/%s", n->spec.cluster, n->spec.name);
	_cleanup_free_ char *run = run_state_path(n);

	unlink(run);
	rmdir(cdir);   /* the cluster folder, once empty */
	while (n->followers) {
		struct node_follower *f = n->followers;

		n->followers = f->next;
		session_reply(f->s, f->id, json_pack("{s:s}", "ended", "removed"));
		session_unref(f->s);
		free(f);
	}
	node_free(n);
	return 0;
}

/* The process of a node being removed ended: remove it, answer. */
static void remove_finish(struct node *n)
{
	struct session *s = n->rm_s;
	json_int_t id = n->rm_id;
	struct err e = {0};
	int rc;

	loop_cancel(n->agent->loop, n->rm_timer);
	n->rm_timer = 0;
	n->rm_pending = false;
	n->rm_s = NULL;
	rc = remove_now(n, n->rm_keep_data, &e);   /* frees n on success */
	if (rc < 0)
		log_warn("%s", e.msg);
	if (s && !s->dead) {
		if (rc < 0)
			session_reply_err(s, id, &e);
		else
			session_reply(s, id, NULL);
	}
	if (s)
		session_unref(s);
}

static void remove_deadline(void *arg)
{
	struct node *n = arg;
	struct err e;

	n->rm_timer = 0;
	n->rm_pending = false;
	err_set(&e, ETIMEDOUT, "node %s/%s did not end within %d ms of SIGKILL",
		n->spec.cluster, n->spec.name, REMOVE_KILL_WAIT_MS);
	log_warn("%s", e.msg);
	if (n->rm_s) {
		if (!n->rm_s->dead)
			session_reply_err(n->rm_s, n->rm_id, &e);
		session_unref(n->rm_s);
		n->rm_s = NULL;
	}
}

int node_remove(struct node *n, bool force, bool keep_data, struct session *s,
		json_int_t id, struct err *e)
{
	bool live = n->state == NODE_RUNNING || n->state == NODE_STOPPING ||
		    n->state == NODE_STARTING;

	if (live && !force)
		return err_set(e, EBUSY, "node %s/%s is %s (stop it, or force)",
			       n->spec.cluster, n->spec.name, state_names[n->state]);
	if (n->rm_pending)
		return err_set(e, EBUSY, "node %s/%s is being removed",
			       n->spec.cluster, n->spec.name);
	if (!live)
		return remove_now(n, keep_data, e);
	/* Killed now, removed once its end is seen (on_exit_fd). */
	if (n->state == NODE_STARTING) {
		struct err why;

		err_set(&why, ECANCELED, "removed while starting");
		n->stop_on_start = true;
		start_abort(n, &why);
	} else {
		n->state = NODE_STOPPING;
		if (node_signal(n, SIGKILL, e) < 0)
			log_warn("%s", e->msg);
	}
	n->rm_pending = true;
	n->rm_keep_data = keep_data;
	n->rm_s = s;
	n->rm_id = id;
	if (s)
		session_ref(s);
	n->rm_timer = loop_timer(n->agent->loop, REMOVE_KILL_WAIT_MS, remove_deadline, n);
	return 1;
}
