/* transport.h - how the operator reaches a host: `ssh` (libssh2) or `local`
 * (programs run as children on this machine).  Both backends sit behind
 * struct transport_ops so callers (push, agent client, up, monitor) never
 * know which one they hold.
 *
 * Commands are always argv arrays: no backend ever builds a shell command line
 * from its input (see shell_quote() in transport.c for the one place a remote
 * command string is produced, word by word).
 *
 * A tchan is a bidirectional byte stream to one remote process: its stdin and
 * stdout, with stderr collected (bounded) for error messages.  The agent
 * protocol (agent_client.h) runs over a tchan.
 */
#ifndef SHOAL_TRANSPORT_H
#define SHOAL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "util.h"

struct run_result {
	int exit_code;      /* valid when exit_signal == 0 */
	int exit_signal;    /* signal number that ended the process, 0 if none */
};

/* ---- channels -------------------------------------------------------------- */

struct tchan;

struct tchan_ops {
	/* Read up to n bytes; returns bytes read, 0 at end of stream, -1 on error
	 * or when timeout_ms (< 0: wait forever) passes with nothing to read. */
	ssize_t (*read)(struct tchan *c, void *buf, size_t n, int timeout_ms,
			struct err *e);
	/* Write all n bytes or fail. */
	int (*write)(struct tchan *c, const void *buf, size_t n, struct err *e);
	/* Close our side of stdin (the remote sees EOF). */
	int (*close_write)(struct tchan *c, struct err *e);
	/* A file descriptor that becomes readable when read() may make progress
	 * (for event loops), or -1. */
	int (*pollfd)(struct tchan *c);
	/* Close everything, wait for the process and report how it ended (res may
	 * be NULL).  Always frees c. */
	int (*close)(struct tchan *c, struct run_result *res, struct err *e);
};

struct tchan {
	const struct tchan_ops *ops;
	char *name;            /* "h2: shoal-agent connect", for messages */
	struct buf err_tail;   /* last bytes of the remote's stderr */
};

static inline ssize_t tchan_read(struct tchan *c, void *buf, size_t n,
				 int timeout_ms, struct err *e)
{
	return c->ops->read(c, buf, n, timeout_ms, e);
}
static inline int tchan_write(struct tchan *c, const void *buf, size_t n,
			      struct err *e)
{
	return c->ops->write(c, buf, n, e);
}
static inline int tchan_close_write(struct tchan *c, struct err *e)
{
	return c->ops->close_write(c, e);
}
static inline int tchan_pollfd(struct tchan *c)
{
	return c->ops->pollfd(c);
}
static inline int tchan_close(struct tchan *c, struct run_result *res,
			      struct err *e)
{
	return c->ops->close(c, res, e);
}

/* A channel over two pipe fds to a child process (pid > 0, waited for on
 * close) or to anything else (pid <= 0).  Takes ownership of the fds; errfd
 * (may be -1) is drained into err_tail. */
struct tchan *tchan_from_fds(const char *name, int rfd, int wfd, int errfd,
			     pid_t pid);
/* Start argv as a local child with pipes on stdin/stdout/stderr. */
int tchan_spawn_local(const char *name, const char *const argv[],
		      struct tchan **out, struct err *e);

#endif
