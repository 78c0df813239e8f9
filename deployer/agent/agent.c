/* agent.c - sessions, the request table and the main loop (see agent.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "exec.h"
#include "helper.h"
#include "node.h"
#include "version.h"

/* The closed set of requests the agent accepts. */
static const struct {
	const char *name;
	agent_op_fn fn;
} ops[] = {
	{"hello", op_hello},
	{"host.facts", op_host_facts},
	{"host.ports", op_host_ports},
	{"events.subscribe", op_events_subscribe},
	{"blob.has", op_blob_has},
	{"blob.commit", op_blob_commit},
	{"blob.verify", op_blob_verify},
	{"image.unpack", op_image_unpack},
	{"node.create", op_node_create},
	{"node.start", op_node_start},
	{"node.stop", op_node_stop},
	{"node.kill", op_node_kill},
	{"node.remove", op_node_remove},
	{"node.list", op_node_list},
	{"data.purge", op_data_purge},
	{"node.inspect", op_node_inspect},
	{"logs", op_logs},
	{"exec", op_exec},
	{"net.fault", op_net_fault},
	{"net.heal", op_net_heal},
	{"host.kill", op_host_kill},
};

/* ---- sessions -------------------------------------------------------------- */

static void session_io(void *arg, int fd, short revents);

static void session_update_watch(struct session *s)
{
	bool want_out = s->out.len > s->out_off;

	if (s->dead)
		return;
	if (s->in_fd == s->out_fd) {
		loop_watch(s->agent->loop, s->in_fd, (short)(s->in_fd >= 0 ? POLLIN : 0) |
			   (want_out ? POLLOUT : 0), session_io, s);
		return;
	}
	if (s->in_fd >= 0)
		loop_watch(s->agent->loop, s->in_fd, POLLIN, session_io, s);
	if (want_out)
		loop_watch(s->agent->loop, s->out_fd, POLLOUT, session_io, s);
	else
		loop_unwatch(s->agent->loop, s->out_fd);
}

static void session_kill(struct session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	loop_unwatch(s->agent->loop, s->in_fd);
	loop_unwatch(s->agent->loop, s->out_fd);
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->out_fd >= 0 && s->out_fd != s->in_fd)
		close(s->out_fd);
	s->in_fd = s->out_fd = -1;
	node_session_gone(s->agent, s);
}

static void session_flush(struct session *s)
{
	while (s->out.len > s->out_off) {
		ssize_t w = write(s->out_fd, s->out.data + s->out_off,
				  s->out.len - s->out_off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			session_kill(s);
			return;
		}
		s->out_off += (size_t)w;
	}
	if (s->out_off == s->out.len) {
		buf_reset(&s->out);
		s->out_off = 0;
	}
	session_update_watch(s);
}

void session_send(struct session *s, json_t *msg)
{
	struct err e;

	if (!s->dead && jsonl_encode(msg, &s->out, &e) < 0)
		log_warn("session: %s", e.msg);
	json_decref(msg);
	if (s->dead)
		return;
	if (s->out.len - s->out_off > SESSION_OUT_MAX) {
		log_warn("session: peer does not read (%zu bytes queued); dropped",
			 s->out.len - s->out_off);
		session_kill(s);
		return;
	}
	session_flush(s);
}

void session_reply(struct session *s, json_int_t id, json_t *result)
{
	json_t *m = json_pack("{s:I,s:b}", "id", id, "ok", 1);

	if (result) {
		json_object_update_missing(m, result);
		json_decref(result);
	}
	session_send(s, m);
}

void session_reply_err(struct session *s, json_int_t id, const struct err *e)
{
	const char *code = e->code ? strerrorname_np(e->code) : NULL;
	json_t *m = json_object();

	json_object_set_new(m, "id", id >= 0 ? json_integer(id) : json_null());
	json_object_set_new(m, "ok", json_false());
	json_object_set_new(m, "error", json_pack("{s:s,s:o}", "code",
						  code ? code : "EIO", "message",
						  jsonl_text(e->msg, strlen(e->msg))));
	session_send(s, m);
}

void session_ref(struct session *s)
{
	s->refs++;
}

void session_unref(struct session *s)
{
	s->refs--;
}

void agent_event(struct agent *a, const char *name, json_t *fields)
{
	for (struct session *s = a->sessions; s; s = s->next) {
		json_t *ev;

		if (s->dead || !s->subscribed)
			continue;
		ev = json_pack("{s:s}", "event", name);
		json_object_update(ev, fields);
		session_send(s, ev);
	}
	json_decref(fields);
}

/* Parse, validate and dispatch one request line. */
static void session_handle_line(struct session *s, const char *line)
{
	struct err e = {0};
	json_t *req = jsonl_parse(line, &e), *idv;
	json_int_t id = -1;

	if (!req)
		goto fail;
	idv = json_object_get(req, "id");
	if (!json_is_integer(idv) || json_integer_value(idv) < 0) {
		err_set(&e, EINVAL, "field 'id': expected a non-negative integer");
		goto fail;
	}
	id = json_integer_value(idv);
	session_dispatch(s, id, req);
	json_decref(req);
	return;
fail:
	json_decref(req);
	session_reply_err(s, id, &e);
}

void session_dispatch(struct session *s, json_int_t id, json_t *req)
{
	struct err e = {0};
	json_t *result = NULL;
	const char *op;
	int r = -2;

	if (req_str(req, "op", &op, &e) < 0) {
		session_reply_err(s, id, &e);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		if (!strcmp(ops[i].name, op)) {
			r = ops[i].fn(s, id, req, &result, &e);
			break;
		}
	if (r == -2)
		r = err_set(&e, ENOSYS, "unknown op '%.64s'", op);
	if (r < 0) {
		json_decref(result);
		session_reply_err(s, id, &e);
	} else if (r == 0) {
		session_reply(s, id, result);
	}
}

static void session_read(struct session *s)
{
	char tmp[65536];
	ssize_t r = read(s->in_fd, tmp, sizeof tmp);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		/* Peer closed its side: answer what is pending, then end. */
		if (s->in_fd == s->out_fd && s->out.len == s->out_off && !s->refs) {
			session_kill(s);
			return;
		}
		loop_unwatch(s->agent->loop, s->in_fd);
		if (s->in_fd != s->out_fd)
			close(s->in_fd);
		else
			shutdown(s->in_fd, SHUT_RD);
		s->in_fd = -1;
		session_update_watch(s);
		return;
	}
	jsonl_feed(&s->rd, tmp, (size_t)r);
	for (;;) {
		char *line = NULL;
		struct err e = {0};
		int got = jsonl_next(&s->rd, &line, &e);

		if (got == 0)
			break;
		if (got < 0) {
			session_reply_err(s, -1, &e);
			continue;
		}
		session_handle_line(s, line);
		free(line);
		if (s->dead)
			break;
	}
}

static void session_io(void *arg, int fd, short revents)
{
	struct session *s = arg;

	if ((revents & POLLOUT) && fd == s->out_fd)
		session_flush(s);
	if (!s->dead && fd == s->in_fd && (revents & (POLLIN | POLLHUP | POLLERR)))
		session_read(s);
	else if (!s->dead && (revents & (POLLERR | POLLHUP)) && fd == s->out_fd)
		session_kill(s);
}

struct session *agent_add_session(struct agent *a, int in_fd, int out_fd)
{
	struct session *s = xcalloc(1, sizeof *s);

	s->agent = a;
	s->in_fd = in_fd;
	s->out_fd = out_fd;
	jsonl_reader_init(&s->rd, JSONL_LINE_MAX);
	fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
	fcntl(out_fd, F_SETFL, fcntl(out_fd, F_GETFL) | O_NONBLOCK);
	fcntl(in_fd, F_SETFD, FD_CLOEXEC);
	fcntl(out_fd, F_SETFD, FD_CLOEXEC);
	s->next = a->sessions;
	a->sessions = s;
	session_update_watch(s);
	return s;
}

/* A session with its input closed ends once its answers are out and no
 * stream is using it; dead sessions are freed when nothing refers to them. */
static void reap_sessions(struct agent *a)
{
	struct session **pp = &a->sessions;

	while (*pp) {
		struct session *s = *pp;

		if (!s->dead && s->in_fd < 0 && !s->refs && s->out.len == s->out_off)
			session_kill(s);
		if (s->dead && !s->refs) {
			*pp = s->next;
			jsonl_reader_free(&s->rd);
			buf_free(&s->out);
			free(s);
			continue;
		}
		pp = &s->next;
	}
	if (a->one_session && !a->sessions)
		a->quit = true;
}

/* ---- small requests -------------------------------------------------------- */

int op_hello(struct session *s, json_int_t id, json_t *req, json_t **result,
	     struct err *e)
{
	int64_t client_proto = AGENT_PROTOCOL_VERSION;

	if (req_int_opt(req, "protocol", 1, 1000, &client_proto, e) < 0)
		return -1;
	if (client_proto != AGENT_PROTOCOL_VERSION)
		return err_set(e, EPROTONOSUPPORT,
			       "protocol %lld not supported (agent speaks %d)",
			       (long long)client_proto, AGENT_PROTOCOL_VERSION);
	*result = json_pack("{s:s,s:s,s:i,s:s,s:s,s:I,s:I}", "agent", "shoal-agent",
			    "version", SHOAL_VERSION, "protocol",
			    AGENT_PROTOCOL_VERSION, "root", s->agent->root,
			    "blob_tmp", "blobs/tmp", "pid", (json_int_t)getpid(),
			    "uptime_ms", (json_int_t)(now_ms() - s->agent->started_ms));
	return 0;
}

int op_events_subscribe(struct session *s, json_int_t id, json_t *req,
			json_t **result, struct err *e)
{
	bool on = true;

	if (req_bool_opt(req, "on", &on, e) < 0)
		return -1;
	s->subscribed = on;
	return 0;
}

/* ---- setup and main loop --------------------------------------------------- */

static const char *const root_dirs[] = {"blobs/sha256", "blobs/tmp", "images",
					"nodes"};

/* Can overlayfs be mounted with lower and upper below root?  (Not on an
 * overlay root, for example.)  Tried once at start, in a scratch folder. */
static bool overlay_probe(const char *root)
{
	_cleanup_free_ char *base = path_join(root, "tmp/overlay-probe");
	_cleanup_free_ char *lower = path_join(base, "l");
	_cleanup_free_ char *upper = path_join(base, "u");
	_cleanup_free_ char *work = path_join(base, "w");
	_cleanup_free_ char *mnt = path_join(base, "m");
	_cleanup_free_ char *opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s",
					      lower, upper, work);
	const char *dirs[] = {lower, upper, work, mnt};
	bool ok;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (mkdir_p(dirs[i], 0700, NULL) < 0)
			return false;
	ok = mount("overlay", mnt, "overlay", MS_NOSUID | MS_NODEV, opts) == 0;
	if (ok)
		umount2(mnt, MNT_DETACH);
	return ok;
}

/* Uploads left in blobs/tmp by pushes that died (the operator killed, the
 * link cut) are never committed; remove those untouched for a day, so the
 * disk does not fill with them.  A push in progress writes its file. */
#define BLOB_TMP_MAX_AGE_S (24 * 3600)

static void sweep_blob_tmp(struct agent *a)
{
	_cleanup_free_ char *dir = agent_path(a, "blobs/tmp");
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;

	if (dfd < 0 || !(d = fdopendir(dup(dfd))))
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < BLOB_TMP_MAX_AGE_S)
			continue;
		if (unlinkat(dfd, de->d_name, 0) == 0)
			log_info("removed stale upload blobs/tmp/%s", de->d_name);
	}
	closedir(d);
}

/* The dead-man timer removed the drill's network fault. */
static void net_expired(void *arg, const char *msg)
{
	agent_event(arg, "net-healed", json_pack("{s:s, s:s}", "by", "dead-man timer", "message", msg));
}

int agent_init(struct agent *a, const struct agent_config *cfg, struct err *e)
{
	const char *root = cfg->root;

	memset(a, 0, sizeof *a);
	a->started_ms = now_ms();
	if (root[0] != '/')
		return err_usage(e, "root '%s' must be an absolute path", root);
	a->root = xstrdup(root);
	a->run_dir = xstrdup(cfg->run_dir);
	a->loop = loop_new();
	for (size_t i = 0; i < ARRAY_SIZE(root_dirs); i++) {
		_cleanup_free_ char *p = agent_path(a, root_dirs[i]);

		if (mkdir_p(p, 0700, e) < 0)
			return err_wrap(e, "agent root %s", root);
	}
	_cleanup_free_ char *run_nodes = path_join(a->run_dir, "nodes");

	if (mkdir_p(run_nodes, 0700, e) < 0)
		return err_wrap(e, "agent run dir %s", a->run_dir);
	signal(SIGPIPE, SIG_IGN);
	sweep_blob_tmp(a);
	if (cgroup_detect(&a->cg, e) < 0)
		return -1;
	netfault_init(&a->net, a->loop, a->run_dir, NULL, NULL);
	a->net.expired = net_expired;
	a->net.expired_arg = a;
	a->overlay_ok = !cfg->no_overlay && overlay_probe(root);
	if (!a->overlay_ok)
		log_warn("overlayfs unavailable under %s: node rootfs will be copies",
			 root);
	return node_load_all(a, e);
}

void agent_fini(struct agent *a)
{
	/* Jobs first: they hold references to sessions. */
	helpers_stop(a);
	exec_free_all(a);
	while (a->sessions) {
		struct session *s = a->sessions;

		a->sessions = s->next;
		session_kill(s);
		jsonl_reader_free(&s->rd);
		buf_free(&s->out);
		free(s);
	}
	node_free_all(a);
	netfault_fini(&a->net);
	cgroup_fini(&a->cg);
	loop_free(a->loop);
	free(a->root);
	free(a->run_dir);
}

int agent_run(struct agent *a, struct err *e)
{
	while (!a->quit) {
		if (loop_once(a->loop, 1000, e) < 0)
			return -1;
		if (a->crash) {
			/* host.kill: end like a host that lost power, no clean-up */
			log_warn("host.kill: the agent dies now");
			kill(getpid(), SIGKILL);
		}
		reap_sessions(a);
	}
	return 0;
}
