/* ssh.c - the `ssh` transport: one non-blocking libssh2 session per host,
 * strict host keys, public-key auth, exec channels and pipelined SFTP
 * (see ssh.h and transport.h). */
#include "ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "knownhosts.h"
#include "log.h"
#include "shellquote.h"
#include "spec.h"
#include "transport.h"

struct ssh {
	struct transport base;
	int sock;
	LIBSSH2_SESSION *sess;
	LIBSSH2_SFTP *sftp;
	bool broken; /* the connection failed: do not wait on it again */
	bool ready;  /* authenticated: keepalives may be sent */
};

#define EAGAIN2 LIBSSH2_ERROR_EAGAIN

/* ---- waiting ----------------------------------------------------------------
 *
 * Every libssh2 call that returns EAGAIN is retried after ssh_wait(), which
 * polls the socket in the directions libssh2 is blocked on, until `deadline`
 * (ms on the monotonic clock; < 0: no deadline).  Keepalives are sent while
 * waiting. */

struct op {
	int64_t deadline;
	int timeout_ms;
	const char *what;
	bool soft; /* a timeout is the caller's choice, not a dead connection */
};

static struct op op_start(struct ssh *s, int timeout_ms, const char *what)
{
	struct op o = {.timeout_ms = timeout_ms > 0 ? timeout_ms :
				      s->base.op_timeout_ms,
		       .what = what};

	o.deadline = now_ms() + o.timeout_ms;
	return o;
}

/* Progress was made: the no-progress clock starts again. */
static void op_progress(struct op *o)
{
	o->deadline = now_ms() + o->timeout_ms;
}

/* Acknowledge what arrives at once instead of after Linux's delayed-ACK
 * timer (40 ms).  sshd leaves Nagle on for sessions without a terminal, so
 * when it answers one request with two small packets (channel open
 * confirmation, then the subsystem's or exec's reply) the second waits for
 * our ACK of the first, and we are waiting for the second: every such step
 * cost 40 ms.  The kernel clears quick-ACK mode by itself, so it is set
 * again before each wait for input. */
static void quickack(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

static int ssh_wait(struct ssh *s, const struct op *o, struct err *e)
{
	int dir = libssh2_session_block_directions(s->sess);
	struct pollfd p = {.fd = s->sock};
	int next = 0, r;
	int64_t wait;

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	if (p.events & POLLIN)
		quickack(s->sock);
	for (;;) {
		wait = o->deadline < 0 ? -1 : o->deadline - now_ms();
		if (o->deadline >= 0 && wait <= 0) {
			/* No progress for a whole operation timeout: treat the
			 * connection as dead rather than wait on it again. */
			if (!o->soft)
				s->broken = true;
			return err_set(e, ETIMEDOUT, "%s: %s: no answer within %d ms",
				       s->base.label, o->what, o->timeout_ms);
		}
		if (s->ready)
			libssh2_keepalive_send(s->sess, &next);
		if (next > 0 && (wait < 0 || wait > next * 1000))
			wait = next * 1000;
		r = poll(&p, 1, (int)wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_sys(e, errno, "%s: poll", s->base.label);
		if (r > 0)
			return 0;
	}
}

/* Fill e from libssh2's last error on this session. */
static int ssh_fail(struct ssh *s, int rc, const char *what, struct err *e)
{
	if (rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_SEND ||
	    rc == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	    rc == LIBSSH2_ERROR_SOCKET_TIMEOUT || rc == LIBSSH2_ERROR_TIMEOUT)
		s->broken = true;
	err_from_ssh2(e, s->sess, rc, what);
	return err_wrap(e, "%s", s->base.label);
}

/* ---- SFTP status ----------------------------------------------------------- */

static const char *sftp_status_text(unsigned long code)
{
	switch (code) {
	case LIBSSH2_FX_EOF: return "end of file";
	case LIBSSH2_FX_NO_SUCH_FILE: return "no such file";
	case LIBSSH2_FX_PERMISSION_DENIED: return "permission denied";
	case LIBSSH2_FX_FAILURE: return "failure";
	case LIBSSH2_FX_BAD_MESSAGE: return "bad message";
	case LIBSSH2_FX_NO_CONNECTION: return "no connection";
	case LIBSSH2_FX_CONNECTION_LOST: return "connection lost";
	case LIBSSH2_FX_OP_UNSUPPORTED: return "operation unsupported";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM: return "no space left on the host";
	case LIBSSH2_FX_QUOTA_EXCEEDED: return "quota exceeded";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS: return "file already exists";
	case LIBSSH2_FX_NO_SUCH_PATH: return "no such path";
	}
	return "sftp error";
}

static int sftp_fail(struct ssh *s, int rc, const char *what,
		     const char *path, struct err *e)
{
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && s->sftp) {
		unsigned long st = libssh2_sftp_last_error(s->sftp);

		return err_set(e, st == LIBSSH2_FX_NO_SUCH_FILE ? ENOENT :
				   st == LIBSSH2_FX_PERMISSION_DENIED ? EACCES : EIO,
			       "%s: sftp %s %s: %s", s->base.label, what, path,
			       sftp_status_text(st));
	}
	{
		_cleanup_free_ char *w = xasprintf("sftp %s %s", what, path);

		return ssh_fail(s, rc, w, e);
	}
}

static int sftp_get(struct ssh *s, struct op *o, struct err *e)
{
	while (!s->sftp) {
		s->sftp = libssh2_sftp_init(s->sess);
		if (s->sftp)
			break;
		if (libssh2_session_last_errno(s->sess) != EAGAIN2)
			return ssh_fail(s, libssh2_session_last_errno(s->sess),
					"start sftp", e);
		if (ssh_wait(s, o, e) < 0)
			return -1;
	}
	return 0;
}

/* ---- channels ---------------------------------------------------------------- */

static int chan_exec(struct ssh *s, const char *const argv[], struct op *o,
		     LIBSSH2_CHANNEL **out, struct err *e)
{
	_cleanup_free_ char *cmd = shell_quote_argv(argv);
	LIBSSH2_CHANNEL *ch;
	int rc;

	*out = NULL;
	if (s->broken)
		return err_set(e, EPIPE, "%s: connection lost earlier", s->base.label);
	while (!(ch = libssh2_channel_open_session(s->sess))) {
		rc = libssh2_session_last_errno(s->sess);
		if (rc != EAGAIN2)
			return ssh_fail(s, rc, "open channel", e);
		if (ssh_wait(s, o, e) < 0)
			return -1;
	}
	log_debug("%s: exec %s", s->base.label, cmd);
	while ((rc = libssh2_channel_exec(ch, cmd)) == EAGAIN2) {
		if (ssh_wait(s, o, e) < 0)
			break;
	}
	if (rc != 0) {
		if (rc != EAGAIN2)
			ssh_fail(s, rc, "exec", e);
		libssh2_channel_free(ch);
		return err_wrap(e, "%s", argv[0]);
	}
	*out = ch;
	return 0;
}

static int signal_number(const char *name)
{
	for (int i = 1; i < SIGRTMIN; i++) {
		const char *n = sigabbrev_np(i);

		if (n && !strcmp(n, name))
			return i;
	}
	return SIGKILL; /* a signal we cannot name still ended the program */
}

/* Close ch, wait for the remote's close and collect how it ended.  Always
 * frees ch. */
static int chan_finish(struct ssh *s, LIBSSH2_CHANNEL *ch, struct op *o,
		       struct run_result *res, struct err *e)
{
	char *sig = NULL;
	size_t siglen = 0;
	int rc = 0, lrc = 0;

	if (s->broken)
		rc = err_set(e, EPIPE, "%s: connection lost", s->base.label);
	while (rc == 0 && (lrc = libssh2_channel_close(ch)) == EAGAIN2)
		if ((rc = ssh_wait(s, o, e)) < 0)
			break;
	while (rc == 0 && lrc == 0 &&
	       (lrc = libssh2_channel_wait_closed(ch)) == EAGAIN2)
		if ((rc = ssh_wait(s, o, e)) < 0)
			break;
	if (rc == 0 && lrc < 0)
		rc = ssh_fail(s, lrc, "close channel", e);
	if (rc == 0 && res) {
		res->exit_code = libssh2_channel_get_exit_status(ch);
		res->exit_signal = 0;
		libssh2_channel_get_exit_signal(ch, &sig, &siglen, NULL, NULL,
						NULL, NULL);
		if (sig) {
			res->exit_signal = signal_number(sig);
			libssh2_free(s->sess, sig);
		}
	}
	/* Freeing may need to send a message; give up when it cannot. */
	while (libssh2_channel_free(ch) == EAGAIN2 && !s->broken) {
		struct op quick = op_start(s, 1000, "free channel");
		struct err ignore;

		if (ssh_wait(s, &quick, &ignore) < 0)
			break;
	}
	return rc;
}

/* Move whatever stderr is buffered into b; returns bytes moved or < 0. */
static ssize_t drain_stderr(LIBSSH2_CHANNEL *ch, struct buf *b)
{
	char tmp[4096];
	ssize_t n, total = 0;

	while ((n = libssh2_channel_read_stderr(ch, tmp, sizeof tmp)) > 0) {
		buf_append(b, tmp, (size_t)n);
		buf_keep_tail(b, TRANSPORT_ERR_TAIL);
		total += n;
	}
	return n < 0 && n != EAGAIN2 ? n : total;
}

static int ssh_run(struct transport *t, const char *const argv[],
		   const struct run_io *io, struct run_output *out,
		   struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	const char *inp = io && io->in ? io->in : "";
	size_t inleft = io && io->in ? io->in_len : 0;
	size_t out_max = io && io->out_max ? io->out_max : TRANSPORT_OUT_MAX;
	struct op o = op_start(s, io ? io->timeout_ms : 0, argv[0]);
	LIBSSH2_CHANNEL *ch;
	bool eof_sent = false;
	char tmp[16384];
	int rc = 0;

	memset(&out->res, 0, sizeof out->res);
	if (chan_exec(s, argv, &o, &ch, e) < 0)
		return -1;
	for (;;) {
		bool progress = false;
		ssize_t n;

		/* Wall clock, checked every round: a program that never stops
		 * writing always makes progress (its output past out_max is
		 * dropped, so memory stays bounded; this bounds the time). */
		if (now_ms() >= o.deadline) {
			rc = err_set(e, ETIMEDOUT, "%s: %s: no result within %d ms%s",
				     s->base.label, argv[0], o.timeout_ms,
				     out->out_truncated ? " (output past the cap dropped)" : "");
			break;
		}
		if (inleft) {
			n = libssh2_channel_write(ch, inp, inleft);
			if (n > 0) {
				inp += n;
				inleft -= (size_t)n;
				progress = true;
			} else if (n < 0 && n != EAGAIN2) {
				/* The program stopped reading: fine. */
				inleft = 0;
			}
		}
		if (!inleft && !eof_sent) {
			n = libssh2_channel_send_eof(ch);
			if (n == 0)
				eof_sent = progress = true;
			else if (n != EAGAIN2)
				eof_sent = true;
		}
		n = drain_stderr(ch, &out->err);
		if (n < 0) {
			rc = ssh_fail(s, (int)n, argv[0], e);
			break;
		}
		progress |= n > 0;
		n = libssh2_channel_read(ch, tmp, sizeof tmp);
		if (n > 0) {
			size_t room = out_max - out->out.len;

			if ((size_t)n > room) {
				out->out_truncated = true;
				n = (ssize_t)room;
			}
			buf_append(&out->out, tmp, (size_t)n);
			progress = true;
		} else if (n < 0 && n != EAGAIN2) {
			rc = ssh_fail(s, (int)n, argv[0], e);
			break;
		} else if (libssh2_channel_eof(ch)) {
			drain_stderr(ch, &out->err);
			break;
		}
		/* The run's timeout is wall clock: progress does not extend it. */
		if (!progress && ssh_wait(s, &o, e) < 0) {
			rc = -1;
			break;
		}
	}
	if (chan_finish(s, ch, &o, rc < 0 ? NULL : &out->res, rc < 0 ? NULL : e) < 0)
		rc = -1;
	return rc;
}

/* ---- tchan over an exec channel ------------------------------------------ */

struct ssh_chan {
	struct tchan base;
	struct ssh *s;
	LIBSSH2_CHANNEL *ch;
	bool eof_sent;
};

static ssize_t sc_read(struct tchan *t, void *buf, size_t n, int timeout_ms,
		       struct err *e)
{
	struct ssh_chan *c = (struct ssh_chan *)t;
	struct op o = {.deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms,
		       .timeout_ms = timeout_ms, .what = t->name, .soft = true};

	for (;;) {
		ssize_t r = drain_stderr(c->ch, &t->err_tail);

		if (r < 0)
			return ssh_fail(c->s, (int)r, t->name, e);
		r = libssh2_channel_read(c->ch, buf, n);
		if (r > 0)
			return r;
		if (r < 0 && r != EAGAIN2)
			return ssh_fail(c->s, (int)r, t->name, e);
		if (libssh2_channel_eof(c->ch))
			return 0;
		if (ssh_wait(c->s, &o, e) < 0)
			return -1;
	}
}

static int sc_write(struct tchan *t, const void *buf, size_t n, struct err *e)
{
	struct ssh_chan *c = (struct ssh_chan *)t;
	struct op o = op_start(c->s, 0, t->name);
	const char *p = buf;

	if (c->eof_sent)
		return err_set(e, EPIPE, "%s: write after close", t->name);
	while (n) {
		ssize_t w = libssh2_channel_write(c->ch, p, n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			op_progress(&o);
			continue;
		}
		if (w != EAGAIN2 && w != 0)
			return ssh_fail(c->s, (int)w, t->name, e);
		/* Keep stderr flowing so the remote never blocks on it. */
		drain_stderr(c->ch, &t->err_tail);
		if (ssh_wait(c->s, &o, e) < 0)
			return -1;
	}
	return 0;
}

static int sc_close_write(struct tchan *t, struct err *e)
{
	struct ssh_chan *c = (struct ssh_chan *)t;
	struct op o = op_start(c->s, 0, t->name);
	int rc;

	if (c->eof_sent)
		return 0;
	while ((rc = libssh2_channel_send_eof(c->ch)) == EAGAIN2)
		if (ssh_wait(c->s, &o, e) < 0)
			return -1;
	c->eof_sent = true;
	return rc < 0 ? ssh_fail(c->s, rc, t->name, e) : 0;
}

static int sc_pollfd(struct tchan *t)
{
	return ((struct ssh_chan *)t)->s->sock;
}

static int sc_close(struct tchan *t, struct run_result *res, struct err *e)
{
	struct ssh_chan *c = (struct ssh_chan *)t;
	struct op o = op_start(c->s, 0, t->name);
	struct err ignore;
	int rc;

	if (!c->eof_sent)
		sc_close_write(t, &ignore);
	rc = chan_finish(c->s, c->ch, &o, res, e);
	buf_free(&t->err_tail);
	free(t->name);
	free(c);
	return rc;
}

static const struct tchan_ops ssh_chan_ops = {
	.read = sc_read,
	.write = sc_write,
	.close_write = sc_close_write,
	.pollfd = sc_pollfd,
	.close = sc_close,
};

static int ssh_open_chan(struct transport *t, const char *const argv[],
			 struct tchan **out, struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	struct op o = op_start(s, 0, argv[0]);
	struct ssh_chan *c;
	LIBSSH2_CHANNEL *ch;

	*out = NULL;
	if (chan_exec(s, argv, &o, &ch, e) < 0)
		return -1;
	c = xcalloc(1, sizeof *c);
	c->base.ops = &ssh_chan_ops;
	c->base.name = xasprintf("%s: %s", t->host, argv[0]);
	c->s = s;
	c->ch = ch;
	*out = &c->base;
	return 0;
}

/* ---- files ------------------------------------------------------------------- */

/* How many bytes of write requests to keep in flight on one SFTP upload.
 * libssh2 cuts them into 30,000-byte packets and pipelines them, but only
 * as far as the server's channel window (2 MiB from OpenSSH) lets it send;
 * asking for more, or even for the whole window, stalls whenever the window
 * runs dry, and on a short path that costs more than it gains: 64 MB to a
 * lab host took 240 ms with 1 MiB in flight and 430 ms with 4 MiB.  With
 * latency, bytes in flight / round trip is the rate, so a long path gets the
 * whole window (25 ms: 1.15 s with 2 MiB, 1.93 s with 1 MiB).  rtt_ms is the
 * time the server took to answer the open.  $SHOAL_SFTP_WINDOW overrides it
 * (for measurements). */
static size_t sftp_window(struct ssh *s, int64_t rtt_ms)
{
	const char *env = getenv("SHOAL_SFTP_WINDOW");
	LIBSSH2_CHANNEL *ch = libssh2_sftp_get_channel(s->sftp);
	unsigned long initial = 0;
	size_t remote, w;
	uint64_t v;

	if (env && parse_size(env, &v) == 0 && v >= 30000 && v <= (1u << 30))
		return (size_t)v;
	if (ch)
		libssh2_channel_window_write_ex(ch, &initial);
	remote = initial >= 60000 ? (size_t)initial : SSH_SFTP_WINDOW;
	if (rtt_ms >= SSH_SFTP_LONG_RTT_MS)
		w = remote;
	else
		w = remote / 2 < SSH_SFTP_SHORT_WINDOW ? remote / 2 : SSH_SFTP_SHORT_WINDOW;
	if (w > SSH_SFTP_WINDOW)
		w = SSH_SFTP_WINDOW;
	return w < 30000 ? 30000 : w;
}

/* A write failed with a plain "failure": say so when the cause is space. */
static void explain_space(struct ssh *s, const char *remote, uint64_t left,
			  struct err *e)
{
	_cleanup_free_ char *dir = path_dirname(remote);
	LIBSSH2_SFTP_STATVFS vfs;
	struct op o = op_start(s, 5000, "statvfs");
	struct err ignore;
	int rc;

	while ((rc = libssh2_sftp_statvfs(s->sftp, dir, strlen(dir), &vfs)) == EAGAIN2)
		if (ssh_wait(s, &o, &ignore) < 0)
			return;
	if (rc == 0 && vfs.f_bavail * vfs.f_frsize < left)
		err_wrap(e, "%s: no space left on the host (%llu bytes free in %s, %llu more needed)",
			 s->base.label,
			 (unsigned long long)(vfs.f_bavail * vfs.f_frsize), dir,
			 (unsigned long long)left);
}

/* fsync (when the server offers fsync@openssh.com) and close a written
 * handle.  e may be NULL when the write already failed. */
static int sftp_finish(struct ssh *s, LIBSSH2_SFTP_HANDLE *h,
		       const char *remote, struct op *o, struct err *e)
{
	int rc = 0, lrc = 0;

	while (e && (lrc = libssh2_sftp_fsync(h)) == EAGAIN2)
		if ((rc = ssh_wait(s, o, e)) < 0)
			break;
	if (e && rc == 0 && lrc < 0) {
		if (lrc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
		    libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_OP_UNSUPPORTED)
			log_debug("%s: server has no fsync@openssh.com", s->base.label);
		else
			rc = sftp_fail(s, lrc, "fsync", remote, e);
	}
	{
		struct op quick = op_start(s, rc < 0 || !e ? 2000 : 0, "sftp close");
		struct err cerr;

		while (!s->broken && (lrc = libssh2_sftp_close_handle(h)) == EAGAIN2)
			if (ssh_wait(s, &quick, &cerr) < 0)
				break;
		if (e && rc == 0 && lrc < 0 && lrc != EAGAIN2)
			rc = sftp_fail(s, lrc, "close", remote, e);
		if (e && rc == 0 && s->broken)
			rc = err_set(e, EPIPE, "%s: sftp close %s: connection lost",
				     s->base.label, remote);
	}
	return rc;
}

static int ssh_write_file(struct transport *t, const char *local,
			  const char *remote, mode_t mode,
			  transport_progress_fn progress, void *arg,
			  struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	struct op o = op_start(s, 0, "sftp write");
	_cleanup_close_ int fd = -1;
	LIBSSH2_SFTP_HANDLE *h;
	size_t window, off = 0, size;
	int64_t opened;
	unsigned char *map = NULL;
	struct stat st;
	int rc = 0;

	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(e, errno, "open %s", local);
	size = (size_t)st.st_size;
	if (size) {
		map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			return err_sys(e, errno, "mmap %s", local);
		madvise(map, size, MADV_SEQUENTIAL);
	}
	if (sftp_get(s, &o, e) < 0)
		goto out;
	opened = now_ms();
	while (!(h = libssh2_sftp_open_ex(s->sftp, remote, (unsigned)strlen(remote),
					  LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT |
					  LIBSSH2_FXF_TRUNC, (long)mode,
					  LIBSSH2_SFTP_OPENFILE))) {
		rc = libssh2_session_last_errno(s->sess);
		if (rc != EAGAIN2) {
			rc = sftp_fail(s, rc, "create", remote, e);
			goto out;
		}
		if ((rc = ssh_wait(s, &o, e)) < 0)
			goto out;
	}
	rc = 0;
	window = sftp_window(s, now_ms() - opened);
	log_debug("%s: %zu bytes in flight to %s", s->base.label, window, remote);
	while (off < size) {
		size_t n = size - off < window ? size - off : window;
		ssize_t w = libssh2_sftp_write(h, (const char *)map + off, n);

		if (w > 0) {
			off += (size_t)w;
			op_progress(&o);
			if (progress)
				progress(arg, off, size);
		} else if (w == EAGAIN2) {
			if ((rc = ssh_wait(s, &o, e)) < 0)
				break;
		} else {
			bool maybe_space = w == LIBSSH2_ERROR_SFTP_PROTOCOL &&
				libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_FAILURE;

			rc = sftp_fail(s, (int)w, "write", remote, e);
			if (maybe_space)
				explain_space(s, remote, size - off, e);
			break;
		}
	}
	if (rc == 0)
		rc = sftp_finish(s, h, remote, &o, e);
	else
		sftp_finish(s, h, remote, &o, NULL);
out:
	if (map)
		munmap(map, size);
	return rc < 0 ? -1 : 0;
}

static int ssh_stat(struct transport *t, const char *remote,
		    struct remote_stat *rs, struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	struct op o = op_start(s, 0, "sftp stat");
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc;

	memset(rs, 0, sizeof *rs);
	if (sftp_get(s, &o, e) < 0)
		return -1;
	while ((rc = libssh2_sftp_stat_ex(s->sftp, remote, (unsigned)strlen(remote),
					  LIBSSH2_SFTP_STAT, &a)) == EAGAIN2)
		if (ssh_wait(s, &o, e) < 0)
			return -1;
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
	    (libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_FILE ||
	     libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_PATH))
		return 0;
	if (rc < 0)
		return sftp_fail(s, rc, "stat", remote, e);
	rs->exists = true;
	rs->regular = (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
		      LIBSSH2_SFTP_S_ISREG(a.permissions);
	rs->dir = (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
		  LIBSSH2_SFTP_S_ISDIR(a.permissions);
	rs->size = a.flags & LIBSSH2_SFTP_ATTR_SIZE ? a.filesize : 0;
	rs->mode = (mode_t)(a.permissions & 07777);
	return 0;
}

static int ssh_rename(struct transport *t, const char *from, const char *to,
		      struct err *e)
{
	/* SFTP's rename refuses to replace an existing file (OpenSSH uses
	 * link+unlink); mv -T is rename(2) on the host. */
	const char *argv[] = {"mv", "-f", "-T", "--", from, to, NULL};

	return transport_run_ok(t, argv, NULL, NULL, e);
}

/* mkdir -p over SFTP: the missing directories from the top down, each with
 * `mode` (less the server's umask).  SFTP requests are answered inside the
 * session; a remote `mkdir` command would cost a process on the host. */
static int ssh_mkdirs(struct transport *t, const char *path, mode_t mode,
		      struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	_cleanup_free_ char *parent = path_dirname(path);
	struct op o = op_start(s, 0, "sftp mkdir");
	struct remote_stat st;
	int rc;

	if (ssh_stat(t, path, &st, e) < 0)
		return -1;
	if (st.exists)
		return st.dir ? 0 : err_set(e, ENOTDIR, "%s: mkdir %s: not a directory",
					    t->label, path);
	if (strcmp(parent, path) && ssh_mkdirs(t, parent, mode, e) < 0)
		return -1;
	while ((rc = libssh2_sftp_mkdir_ex(s->sftp, path, (unsigned)strlen(path),
					   (long)(mode & 07777))) == EAGAIN2)
		if (ssh_wait(s, &o, e) < 0)
			return -1;
	if (rc < 0) {
		struct err ignore;

		/* Made by someone else meanwhile? */
		if (ssh_stat(t, path, &st, &ignore) == 0 && st.dir)
			return 0;
		return sftp_fail(s, rc, "mkdir", path, e);
	}
	return 0;
}

static int ssh_remove(struct transport *t, const char *path, struct err *e)
{
	struct ssh *s = (struct ssh *)t;
	struct op o = op_start(s, 0, "sftp remove");
	int rc;

	if (sftp_get(s, &o, e) < 0)
		return -1;
	while ((rc = libssh2_sftp_unlink_ex(s->sftp, path, (unsigned)strlen(path))) == EAGAIN2)
		if (ssh_wait(s, &o, e) < 0)
			return -1;
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL &&
	    libssh2_sftp_last_error(s->sftp) == LIBSSH2_FX_NO_SUCH_FILE)
		return 0;
	return rc < 0 ? sftp_fail(s, rc, "remove", path, e) : 0;
}

/* ---- session ------------------------------------------------------------------ */

static void ssh_free(struct transport *t)
{
	struct ssh *s = (struct ssh *)t;
	struct op o = op_start(s, 1000, "disconnect");
	struct err ignore;

	if (s->sess) {
		while (!s->broken && s->sftp && libssh2_sftp_shutdown(s->sftp) == EAGAIN2)
			if (ssh_wait(s, &o, &ignore) < 0)
				break;
		while (!s->broken &&
		       libssh2_session_disconnect(s->sess, "shoal done") == EAGAIN2)
			if (ssh_wait(s, &o, &ignore) < 0)
				break;
		/* From here on nothing is sent: with the socket shut, libssh2
		 * frees what is left (channels and SFTP handles of a dead
		 * connection included) without waiting on the network, where a
		 * non-blocking session_free would give up with EAGAIN. */
		if (s->sock >= 0)
			shutdown(s->sock, SHUT_RDWR);
		if (s->sftp && s->broken)
			libssh2_sftp_shutdown(s->sftp);
		for (int i = 0; i < 100 && libssh2_session_free(s->sess) == EAGAIN2; i++)
			;
	}
	if (s->sock >= 0)
		close(s->sock);
	free(s);
}

static const struct transport_ops ssh_ops = {
	.kind = "ssh",
	.run = ssh_run,
	.open_chan = ssh_open_chan,
	.write_file = ssh_write_file,
	.stat = ssh_stat,
	.rename = ssh_rename,
	.mkdirs = ssh_mkdirs,
	.remove = ssh_remove,
	.free = ssh_free,
};

/* Non-blocking TCP connect to any address of host:port before deadline. */
static int tcp_connect(struct ssh *s, const char *host, int port,
		       const struct op *o, struct err *e)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL, *ai;
	char portstr[16];
	int rc, saved = ECONNREFUSED;

	snprintf(portstr, sizeof portstr, "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0)
		return err_set(e, EHOSTUNREACH, "%s: resolve %s: %s", s->base.label,
			       host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
				SOCK_CLOEXEC, ai->ai_protocol);
		int one = 1, soerr = 0;
		socklen_t sl = sizeof soerr;

		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			saved = errno;
			close(fd);
			continue;
		}
		for (;;) {
			struct pollfd p = {fd, POLLOUT, 0};
			int64_t wait = o->deadline - now_ms();

			if (wait <= 0) {
				soerr = ETIMEDOUT;
				break;
			}
			rc = poll(&p, 1, (int)wait);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (rc < 0)
				soerr = errno;
			if (rc != 0)
				break;
		}
		if (soerr) {
			saved = soerr;
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		s->sock = fd;
		freeaddrinfo(res);
		return 0;
	}
	freeaddrinfo(res);
	if (saved == ETIMEDOUT)
		return err_set(e, ETIMEDOUT, "%s: connect: no answer within %d ms",
			       s->base.label, o->timeout_ms);
	return err_sys(e, saved, "%s: connect", s->base.label);
}

static int authenticate(struct ssh *s, const char *user, const char *identity,
			struct op *o, struct err *e)
{
	int rc;

	if (identity) {
		if (access(identity, R_OK) != 0)
			return err_sys(e, errno, "%s: identity %s", s->base.label,
				       identity);
		while ((rc = libssh2_userauth_publickey_fromfile_ex(
				s->sess, user, (unsigned)strlen(user), NULL,
				identity, NULL)) == EAGAIN2)
			if (ssh_wait(s, o, e) < 0)
				return -1;
		if (rc == 0)
			return 0;
		if (rc == LIBSSH2_ERROR_FILE) {
			err_from_ssh2(e, s->sess, rc, "load key");
			return err_wrap(e, "%s: authentication failed for %s with %s",
					s->base.label, user, identity);
		}
		if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED ||
		    rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
			return err_set(e, EACCES, "%s: authentication failed for %s with %s",
				       s->base.label, user, identity);
		return ssh_fail(s, rc, "authenticate", e);
	}
	{
		LIBSSH2_AGENT *agent = libssh2_agent_init(s->sess);
		struct libssh2_agent_publickey *id = NULL, *prev = NULL;
		int tried = 0;

		if (!agent || libssh2_agent_connect(agent) != 0) {
			if (agent)
				libssh2_agent_free(agent);
			return err_set(e, EACCES,
				       "%s: no ssh.identity in the spec and no ssh-agent "
				       "($SSH_AUTH_SOCK) to authenticate %s with",
				       s->base.label, user);
		}
		rc = libssh2_agent_list_identities(agent);
		while (rc == 0 && libssh2_agent_get_identity(agent, &id, prev) == 0) {
			tried++;
			while ((rc = libssh2_agent_userauth(agent, user, id)) == EAGAIN2)
				if (ssh_wait(s, o, e) < 0)
					break;
			if (rc == 0 || rc == EAGAIN2)
				break;
			rc = 0;
			prev = id;
		}
		libssh2_agent_disconnect(agent);
		libssh2_agent_free(agent);
		if (rc == EAGAIN2)
			return -1;
		if (rc == 0 && tried && id && libssh2_userauth_authenticated(s->sess))
			return 0;
		return err_set(e, EACCES,
			       "%s: authentication failed for %s with the %d key(s) of ssh-agent",
			       s->base.label, user, tried);
	}
}

/* Set a method preference, keeping only the names this libssh2 supports
 * (libssh2 1.10 would strip the others itself, with overlapping memcpy). */
static void set_pref(LIBSSH2_SESSION *sess, int type, const char *pref)
{
	_cleanup_free_ char *copy = xstrdup(pref);
	const char **algs = NULL;
	struct buf list = {0};
	char *save = NULL;
	int n = libssh2_session_supported_algs(sess, type, &algs);

	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		for (int i = 0; i < n; i++) {
			if (!strcmp(algs[i], w)) {
				if (list.len)
					buf_append(&list, ",", 1);
				buf_puts(&list, w);
				break;
			}
		}
	}
	if (n > 0)
		libssh2_free(sess, algs);
	if (list.len)
		libssh2_session_method_pref(sess, type, list.data);
	buf_free(&list);
}

static pthread_once_t ssh2_once = PTHREAD_ONCE_INIT;
static int ssh2_init_rc;

static void ssh2_init(void)
{
	ssh2_init_rc = libssh2_init(0);
}

static const char *home_known_hosts(char *buf, size_t n)
{
	const char *home = getenv("HOME");

	snprintf(buf, n, "%s/.ssh/known_hosts", home && *home ? home : "/root");
	return buf;
}

int transport_ssh_open(const struct spec *spec, const struct spec_host *h,
		       const struct transport_opts *opts, struct transport **out,
		       struct err *e)
{
	struct ssh *s = xcalloc(1, sizeof *s);
	const char *user = h->user ? h->user : spec->ssh.user ? spec->ssh.user : "root";
	const char *kh_path = spec->ssh.known_hosts;
	int port = h->port > 0 ? h->port : spec->ssh.port > 0 ? spec->ssh.port : 22;
	int ctimeout = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms :
		       spec->ssh.connect_timeout_ms > 0 ? spec->ssh.connect_timeout_ms :
		       TRANSPORT_CONNECT_TIMEOUT_MS;
	int64_t t0 = now_ms();
	struct hostkey key;
	struct op o;
	char khbuf[4096];
	bool added;
	const char *m;
	size_t klen;
	int rc;

	*out = NULL;
	s->sock = -1;
	s->base.ops = &ssh_ops;
	s->base.host = xstrdup(h->name);
	s->base.op_timeout_ms = opts && opts->op_timeout_ms > 0 ? opts->op_timeout_ms :
				TRANSPORT_OP_TIMEOUT_MS;
	if (strchr(h->address, ':'))
		snprintf(s->base.info.address, sizeof s->base.info.address, "[%s]:%d",
			 h->address, port);
	else
		snprintf(s->base.info.address, sizeof s->base.info.address, "%s:%d",
			 h->address, port);
	s->base.label = xasprintf("%s (%s)", h->name, s->base.info.address);
	if (!kh_path)
		kh_path = home_known_hosts(khbuf, sizeof khbuf);

	pthread_once(&ssh2_once, ssh2_init);
	if (ssh2_init_rc != 0) {
		rc = err_set(e, EIO, "libssh2_init failed (%d)", ssh2_init_rc);
		goto fail;
	}
	/* One deadline covers connect, handshake, host key check and auth. */
	o = (struct op){.deadline = now_ms() + ctimeout, .timeout_ms = ctimeout,
			.what = "ssh handshake"};
	if ((rc = tcp_connect(s, h->address, port, &o, e)) < 0)
		goto fail;
	s->sess = libssh2_session_init_ex(NULL, NULL, NULL, s);
	if (!s->sess) {
		rc = err_set(e, ENOMEM, "%s: libssh2 session", s->base.label);
		goto fail;
	}
	libssh2_session_set_blocking(s->sess, 0);
	set_pref(s->sess, LIBSSH2_METHOD_CRYPT_CS, SSH_CIPHER_PREF);
	set_pref(s->sess, LIBSSH2_METHOD_CRYPT_SC, SSH_CIPHER_PREF);
	set_pref(s->sess, LIBSSH2_METHOD_MAC_CS, SSH_MAC_PREF);
	set_pref(s->sess, LIBSSH2_METHOD_MAC_SC, SSH_MAC_PREF);
	set_pref(s->sess, LIBSSH2_METHOD_HOSTKEY, SSH_HOSTKEY_PREF);
	libssh2_keepalive_config(s->sess, 1, SSH_KEEPALIVE_S);
	while ((rc = libssh2_session_handshake(s->sess, s->sock)) == EAGAIN2)
		if ((rc = ssh_wait(s, &o, e)) < 0)
			goto fail;
	if (rc == LIBSSH2_ERROR_BANNER_RECV || rc == LIBSSH2_ERROR_SOCKET_DISCONNECT ||
	    rc == LIBSSH2_ERROR_SOCKET_RECV) {
		s->broken = true;
		rc = err_set(e, ECONNRESET, "%s: ssh handshake: the server closed the "
			     "connection during the SSH handshake (not an SSH server, "
			     "or it turned us away: MaxStartups, tcp wrappers?)",
			     s->base.label);
		goto fail;
	}
	if (rc != 0) {
		rc = ssh_fail(s, rc, "ssh handshake", e);
		goto fail;
	}
	key.blob = (const unsigned char *)libssh2_session_hostkey(s->sess, &klen,
								   &key.type);
	key.len = klen;
	if (!key.blob) {
		rc = ssh_fail(s, -1, "host key", e);
		goto fail;
	}
	if ((rc = knownhosts_verify(s->sess, kh_path, h->address, port, &key,
				    opts && opts->accept_new_host_keys,
				    s->base.label, &added, e)) < 0)
		goto fail;
	ssh_fingerprint(key.blob, key.len, s->base.info.hostkey_fp);
	snprintf(s->base.info.hostkey_type, sizeof s->base.info.hostkey_type, "%s",
		 ssh_hostkey_type_name(key.type));
	if ((rc = authenticate(s, user, spec->ssh.identity, &o, e)) < 0)
		goto fail;
	m = libssh2_session_methods(s->sess, LIBSSH2_METHOD_CRYPT_CS);
	snprintf(s->base.info.cipher, sizeof s->base.info.cipher, "%s", m ? m : "?");
	m = libssh2_session_methods(s->sess, LIBSSH2_METHOD_MAC_CS);
	snprintf(s->base.info.mac, sizeof s->base.info.mac, "%s", m ? m : "?");
	s->base.info.connect_ms = now_ms() - t0;
	s->ready = true;
	log_debug("%s: connected as %s in %lld ms; host key %s %s; cipher %s, mac %s",
		  s->base.label, user, (long long)s->base.info.connect_ms,
		  s->base.info.hostkey_type, s->base.info.hostkey_fp,
		  s->base.info.cipher, s->base.info.mac);
	*out = &s->base;
	return 0;
fail:
	s->broken = true;
	transport_close(&s->base);
	return -1;
}
