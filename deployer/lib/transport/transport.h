/* transport.h - how the operator reaches a host: `ssh` (libssh2) or `local`
 * (programs run as children on this machine).  Both backends sit behind
 * struct transport_ops so callers (push, agent client, up, monitor) never
 * know which one they hold.
 *
 * Commands are always argv arrays: no backend ever builds a shell command line
 * from its input (shellquote.h is the one place a remote command string is
 * produced, word by word).
 *
 * A tchan is a bidirectional byte stream to one remote process: its stdin and
 * stdout, with stderr collected (bounded) for error messages.  The agent
 * protocol (agent_client.h) runs over a tchan.
 */
#ifndef SHOAL_TRANSPORT_H
#define SHOAL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* ---- transports -------------------------------------------------------------
 *
 * One struct transport per host, opened once and reused for every operation
 * (the ssh backend holds one libssh2 session).  A transport is used by one
 * thread at a time; different transports may be used from different threads.
 */

struct spec;
struct spec_host;

struct transport_opts {
	bool accept_new_host_keys; /* record unknown host keys (never changed ones) */
	int connect_timeout_ms;    /* <= 0: the spec's ssh.connect_timeout_ms, else 10 s */
	int op_timeout_ms;         /* <= 0: 60 s.  Any one operation that makes no
				    * progress for this long fails */
	bool look_only;            /* fleet_connect: neither install nor start the
				    * agent (shoal plan); a host where none runs
				    * counts as running nothing */
};

#define TRANSPORT_CONNECT_TIMEOUT_MS 10000
#define TRANSPORT_OP_TIMEOUT_MS 60000
#define TRANSPORT_OUT_MAX (1u << 20)
#define TRANSPORT_ERR_TAIL 4096

/* Input and bounds of one transport_run(). */
struct run_io {
	const void *in;     /* bytes fed to stdin, then EOF (may be NULL) */
	size_t in_len;
	size_t out_max;     /* stdout bytes kept; 0: TRANSPORT_OUT_MAX */
	int timeout_ms;     /* wall clock for the whole run; <= 0: op timeout */
};

struct run_output {
	struct buf out;       /* stdout, at most out_max bytes */
	bool out_truncated;   /* the program wrote more than out_max */
	struct buf err;       /* the last TRANSPORT_ERR_TAIL bytes of stderr */
	struct run_result res;
};
void run_output_free(struct run_output *o);
/* Keep only the last max bytes of b (for stderr tails). */
void buf_keep_tail(struct buf *b, size_t max);

struct remote_stat {
	bool exists;
	bool regular;        /* a regular file */
	bool dir;            /* a directory */
	uint64_t size;
	mode_t mode;         /* permission bits */
};

/* Called as bytes are written: done of total. */
typedef void (*transport_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* What was learned while connecting, for `shoal hosts` and -v. */
struct transport_info {
	char address[300];       /* "10.213.0.12:22", or "local" */
	char hostkey_fp[64];     /* "SHA256:..." ("" for local) */
	char hostkey_type[32];   /* "ssh-ed25519" */
	char cipher[64];         /* negotiated client->server cipher */
	char mac[64];
	int64_t connect_ms;      /* TCP connect + handshake + auth */
};

struct transport;

struct transport_ops {
	const char *kind; /* "ssh", "local" */
	/* Run argv to completion: feed io->in, collect stdout (bounded) and the
	 * tail of stderr into out (which the caller frees with run_output_free
	 * even on failure).  Returns 0 when the program ran, whatever its exit;
	 * -1 when it could not be started or the run timed out. */
	int (*run)(struct transport *t, const char *const argv[],
		   const struct run_io *io, struct run_output *out, struct err *e);
	/* Start argv with a bidirectional channel to its stdin/stdout. */
	int (*open_chan)(struct transport *t, const char *const argv[],
			 struct tchan **out, struct err *e);
	/* Copy a local file to `remote` (created or truncated, mode), flushed
	 * to disk before returning.  Not atomic: callers write a temporary name
	 * and transport_rename() it (transport_put_file does both). */
	int (*write_file)(struct transport *t, const char *local,
			  const char *remote, mode_t mode,
			  transport_progress_fn progress, void *arg,
			  struct err *e);
	/* Facts about a remote path; a missing path is st->exists = false. */
	int (*stat)(struct transport *t, const char *remote,
		    struct remote_stat *st, struct err *e);
	/* Atomically replace `to` with `from` (rename(2) on the host). */
	int (*rename)(struct transport *t, const char *from, const char *to,
		      struct err *e);
	/* mkdir -p; existing directories are fine. */
	int (*mkdirs)(struct transport *t, const char *path, mode_t mode,
		      struct err *e);
	/* Remove a file; a missing file is fine. */
	int (*remove)(struct transport *t, const char *path, struct err *e);
	/* Close the connection and free t. */
	void (*free)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	char *host;          /* the spec's host name ("h2") */
	char *label;         /* "h2 (10.213.0.12:22)": prefix of every message */
	int op_timeout_ms;
	struct transport_info info;
	char *agent_path;    /* set by transport_bootstrap_agent() */
	char *agent_version; /* "shoal-agent 0.1.0" */
};

/* Open the transport the spec names for host h (ssh or local).  For ssh this
 * connects, checks the host key against the spec's known_hosts (strictly:
 * see knownhosts.h) and authenticates.  Errors name the host and address. */
int transport_open(const struct spec *s, const struct spec_host *h,
		   const struct transport_opts *o, struct transport **out,
		   struct err *e);
/* Close and free; NULL is fine. */
void transport_close(struct transport *t);
static inline void cleanup_transportp(struct transport **t)
{
	transport_close(*t);
}
#define _cleanup_transport_ __attribute__((cleanup(cleanup_transportp)))

/* The backends (transport_open picks one). */
int transport_local_open(const struct spec_host *h,
			 const struct transport_opts *o,
			 struct transport **out, struct err *e);
int transport_ssh_open(const struct spec *s, const struct spec_host *h,
		       const struct transport_opts *o, struct transport **out,
		       struct err *e);

static inline int transport_run(struct transport *t, const char *const argv[],
				const struct run_io *io, struct run_output *out,
				struct err *e)
{
	return t->ops->run(t, argv, io, out, e);
}
static inline int transport_open_chan(struct transport *t,
				      const char *const argv[],
				      struct tchan **out, struct err *e)
{
	return t->ops->open_chan(t, argv, out, e);
}
static inline int transport_write_file(struct transport *t, const char *local,
				       const char *remote, mode_t mode,
				       transport_progress_fn progress,
				       void *arg, struct err *e)
{
	return t->ops->write_file(t, local, remote, mode, progress, arg, e);
}
static inline int transport_stat(struct transport *t, const char *remote,
				 struct remote_stat *st, struct err *e)
{
	return t->ops->stat(t, remote, st, e);
}
static inline int transport_rename(struct transport *t, const char *from,
				   const char *to, struct err *e)
{
	return t->ops->rename(t, from, to, e);
}
static inline int transport_mkdirs(struct transport *t, const char *path,
				   mode_t mode, struct err *e)
{
	return t->ops->mkdirs(t, path, mode, e);
}
static inline int transport_remove(struct transport *t, const char *path,
				   struct err *e)
{
	return t->ops->remove(t, path, e);
}

/* Run argv and require exit 0; otherwise fail with the exit status and the
 * program's stderr in the message.  out may be NULL when stdout is not
 * wanted; when given, the caller frees it with run_output_free. */
int transport_run_ok(struct transport *t, const char *const argv[],
		     const struct run_io *io, struct run_output *out,
		     struct err *e);

/* Copy a local file to `remote` atomically: write <remote>.tmp.<nonce>,
 * flush, rename.  A reader on the host sees the old file or the new one. */
int transport_put_file(struct transport *t, const char *local,
		       const char *remote, mode_t mode, struct err *e);

/* "<16 hex digits>" of fresh randomness, for temporary names. */
void transport_nonce(char out[17]);

/* ---- the agent ---------------------------------------------------------------
 *
 * The agent binary is pushed content addressed to
 *   /var/lib/shoal/agent/<sha256 hex>/shoal-agent
 * (skipped when that path already holds it: it is only ever renamed into
 * place after its digest was verified on the host).  A fresh install must
 * then answer `<path> version` with "shoal-agent <SHOAL_VERSION>"; an agent
 * already in place is the same bytes as the local one, whose version is
 * checked once per process on this machine.
 */
#define AGENT_REMOTE_DIR "/var/lib/shoal/agent"
/* The agent daemon's run dir on a host (its socket and agent.lock). */
#define AGENT_REMOTE_RUN_DIR "/run/shoal"

/* The local shoal-agent binary to push: $SHOAL_AGENT, else shoal-agent next
 * to the running program (dirname of /proc/self/exe).  Caller frees. */
int transport_agent_path(char **out, struct err *e);
/* Where this build of the agent lives on every host (no I/O on the host;
 * the local binary is hashed once per process).  Caller frees. */
int transport_agent_remote_path(char **out, struct err *e);
/* Push (when needed) and check the agent; sets t->agent_path and
 * t->agent_version.  Idempotent per transport. */
int transport_bootstrap_agent(struct transport *t, struct err *e);
/* Bootstrap, then open a channel to `<agent> connect` (the agent protocol). */
int transport_open_agent(struct transport *t, struct tchan **out,
			 struct err *e);

#endif
