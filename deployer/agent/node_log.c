/* node_log.c - a node's log (node.h): the node writes stdout and stderr
 * into a FIFO, logs/pipe; the agent reads it, appends to logs/current
 * (rotated to current.1 at log_max bytes) and forwards each chunk to the
 * sessions that follow the log. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "jsonl.h"
#include "log.h"
#include "node.h"

#define LOG_PIPE_SIZE (1024 * 1024)

static int log_open_current(struct node *n, struct err *e)
{
	_cleanup_free_ char *path = path_join(n->dir, "logs/current");
	struct stat st;

	n->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			 0600);
	if (n->log_fd < 0 || fstat(n->log_fd, &st) < 0)
		return err_sys(e, errno, "open %s", path);
	n->log_size = (uint64_t)st.st_size;
	return 0;
}

static void log_rotate(struct node *n)
{
	_cleanup_free_ char *cur = path_join(n->dir, "logs/current");
	_cleanup_free_ char *old = path_join(n->dir, "logs/current.1");
	struct err e;

	close(n->log_fd);
	n->log_fd = -1;
	if (rename(cur, old) < 0)
		log_warn("node %s: rotate log: %s", n->id, strerror(errno));
	if (log_open_current(n, &e) < 0)
		log_warn("node %s: %s", n->id, e.msg);
}

static void log_forward(struct node *n, const char *p, size_t len)
{
	for (struct node_follower *f = n->followers; f; f = f->next) {
		json_t *m = json_pack("{s:I,s:s,s:o}", "id", f->id, "stream", "log",
				      "data", jsonl_text(p, len));

		session_send(f->s, m);
	}
}

static void on_log(void *arg, int fd, short revents)
{
	struct node *n = arg;
	char tmp[65536];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t r = read(fd, tmp, sizeof tmp);

		if (r <= 0)
			return;
		if (n->log_fd >= 0 && write(n->log_fd, tmp, (size_t)r) != r)
			log_warn("node %s: log write: %s", n->id, strerror(errno));
		n->log_size += (uint64_t)r;
		log_forward(n, tmp, (size_t)r);
		if (n->log_size > (uint64_t)n->spec.log_max)
			log_rotate(n);
	}
}

/* The FIFO the node writes to.  The agent keeps a write end open itself so
 * the read end never reports end-of-file between two runs of the node. */
int node_log_pipe_open(struct node *n, struct err *e)
{
	_cleanup_free_ char *dir = path_join(n->dir, "logs");
	_cleanup_free_ char *fifo = path_join(dir, "pipe");
	struct stat st;

	if (n->log_rfd >= 0)
		return 0;
	if (mkdir_p(dir, 0700, e) < 0)
		return -1;
	if (mkfifo(fifo, 0600) < 0 && errno != EEXIST)
		return err_sys(e, errno, "mkfifo %s", fifo);
	if (lstat(fifo, &st) < 0 || !S_ISFIFO(st.st_mode))
		return err_set(e, EINVAL, "%s: not a FIFO", fifo);
	n->log_rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (n->log_rfd < 0)
		return err_sys(e, errno, "open %s", fifo);
	n->log_hold_fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (n->log_hold_fd < 0)
		return err_sys(e, errno, "open %s", fifo);
	fcntl(n->log_rfd, F_SETPIPE_SZ, LOG_PIPE_SIZE);
	if (log_open_current(n, e) < 0)
		return -1;
	loop_watch(n->agent->loop, n->log_rfd, POLLIN, on_log, n);
	return 0;
}

/* A fresh blocking write end for the node's stdout and stderr. */
int node_log_writer(struct node *n, struct err *e)
{
	_cleanup_free_ char *fifo = path_join(n->dir, "logs/pipe");
	int fd = open(fifo, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return err_sys(e, errno, "open %s", fifo);
	return fd;
}

/* Up to max bytes from the end of path, starting at a line boundary. */
static void tail_file(const char *path, size_t max, struct buf *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	off_t off;
	char *p;
	ssize_t r;

	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	p = xmalloc(max + 1);
	r = pread(fd, p, max, off);
	if (r > 0) {
		const char *start = p;

		if (off > 0) {
			const char *nl = memchr(p, '\n', (size_t)r);

			start = nl ? nl + 1 : p + r;
		}
		buf_append(out, start, (size_t)(p + r - start));
	}
	free(p);
}

/* The last `lines` lines of the node's log (current.1, then current). */
char *node_log_tail(struct node *n, int64_t lines, size_t *len)
{
	_cleanup_free_ char *cur = path_join(n->dir, "logs/current");
	_cleanup_free_ char *old = path_join(n->dir, "logs/current.1");
	const size_t max = 128 * 1024;
	struct buf b = {0};
	const char *p;
	int64_t seen = 0;

	tail_file(old, max, &b);
	tail_file(cur, max, &b);
	if (!b.len) {
		*len = 0;
		return xstrdup("");
	}
	/* Count back `lines` newlines (a final newline ends the last line). */
	p = b.data + b.len;
	if (b.len && p[-1] == '\n')
		p--;
	while (p > b.data && seen < lines) {
		p--;
		if (*p == '\n')
			seen++;
	}
	if (seen == lines && p < b.data + b.len && *p == '\n')
		p++;
	if (b.len - (size_t)(p - b.data) > max)
		p = b.data + b.len - max;
	char *out = xstrndup(p, b.len - (size_t)(p - b.data));

	*len = b.len - (size_t)(p - b.data);
	buf_free(&b);
	return out;
}

void node_follow(struct node *n, struct session *s, json_int_t id)
{
	struct node_follower *f = xcalloc(1, sizeof *f);

	f->s = s;
	f->id = id;
	f->next = n->followers;
	n->followers = f;
	session_ref(s);
}
