/* runtime.h - how a node's process is started: the builtin runtime (shoal's
 * own namespaces, mounts, cgroups and hardening; runtime_builtin.c) or an OCI
 * runtime (runc/crun driven through a bundle's config.json; runtime_oci.c).
 *
 * Both take the same node description (node.h) and leave the node in the
 * same shape: a container init pid the agent can signal, enter (exec) and
 * adopt after a restart, in the node's cgroups, with stdout and stderr going
 * to the node's log pipe.
 */
#ifndef SHOAL_AGENT_RUNTIME_H
#define SHOAL_AGENT_RUNTIME_H

#include <sys/types.h>

#include "err.h"

struct agent;
struct node;

/* What start() hands back.  start() only launches: the node's setup runs
 * in a child the agent watches from its loop (node.c: a start job with a
 * deadline), so the agent answers other sessions while a start is slow or
 * stuck. */
struct runtime_proc {
	pid_t pid;      /* the node's init (pid 1 inside its pid namespace);
			 * 0 until started() says the node is up */
	pid_t waiter;   /* the process whose exit ends the node: pid itself
			 * (builtin) or the foreground `runc run` (oci) */
	int waiter_fd;  /* pidfd of waiter, owned by the caller */
	int err_fd;     /* read end of the setup pipe, owned by the caller:
			 * a struct err when the setup failed, end-of-file once
			 * the entrypoint (builtin) or the runtime (oci) was
			 * executed */
};

struct runtime_ops {
	const char *name;
	/* Launch node n (its folders, image and cgroups exist).  stdout_fd is
	 * the write end of its log pipe.  Never waits for the node: fills
	 * waiter, waiter_fd and err_fd and returns 0, or -1 when nothing could
	 * be launched. */
	int (*start)(struct agent *a, struct node *n, int stdout_fd,
		     struct runtime_proc *p, struct err *e);
	/* Called after err_fd reached end-of-file: 1 with p->pid set once the
	 * node's init runs, 0 when not yet (asked again soon), -1 with e when
	 * it cannot start.  Never blocks. */
	int (*started)(struct agent *a, struct node *n, struct runtime_proc *p,
		       struct err *e);
	/* A start failed or was killed at its deadline (the waiter has been
	 * reaped): add what the runtime knows to e (may be NULL) and undo
	 * what start() set up. */
	void (*start_failed)(struct agent *a, struct node *n, struct err *e);
	/* After the node ended: release what start() set up.  Never fails
	 * loudly: leftovers are logged. */
	void (*cleanup)(struct agent *a, struct node *n);
};

extern const struct runtime_ops runtime_builtin;
extern const struct runtime_ops runtime_runc;
extern const struct runtime_ops runtime_crun;

/* The runtime called `name` ("builtin", "runc", "crun"; "auto" = builtin),
 * or NULL with e saying why it cannot run here. */
const struct runtime_ops *runtime_find(const struct agent *a, const char *name,
				       struct err *e);

/* Why OCI runtime `name` ("runc"/"crun") cannot run nodes on this host, or
 * NULL when it can.  (crun refuses hybrid cgroup hosts.) */
const char *runtime_oci_unusable(const struct agent *a, const char *name);

#endif
