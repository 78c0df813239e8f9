/* daemon.h - the long-lived agent: one per host, on a unix socket.
 *
 * `shoal-agent connect` is what the operator runs over SSH: it connects to
 * <run_dir>/agent.sock, starting the daemon first when nothing listens
 * there, and then copies stdin to the socket and the socket to stdout until
 * both directions end.  Nodes therefore outlive the SSH session, and any
 * number of operators (up, monitor, drill) can be connected at once.
 *
 * Two daemons never run at once: the daemon holds an exclusive flock on
 * <run_dir>/agent.lock for its whole life, and only the lock holder may
 * replace the socket.  The socket is mode 0600 in a 0700 folder: root only.
 */
#ifndef SHOAL_AGENT_DAEMON_H
#define SHOAL_AGENT_DAEMON_H

#include "agent.h"
#include "err.h"

/* May the peer of the connected unix socket fd use the agent?  Only root
 * and the agent's own uid may (SO_PEERCRED, taken by the kernel at
 * connect): 0 when allowed, -1 with EACCES naming the peer's uid and pid
 * otherwise, or the getsockopt error. */
int daemon_peer_check(int fd, struct err *e);

/* Run the daemon in this process until SIGTERM/SIGINT.  Fails with EEXIST
 * when another daemon holds the lock. */
int daemon_run(const struct agent_config *cfg, struct err *e);

/* Bridge stdio to the daemon, starting it (detached: double fork, setsid,
 * stdio to <root>/agent.log, the same --root/--run-dir/--no-overlay) when it
 * is not running. */
int daemon_connect(const struct agent_config *cfg, struct err *e);

#endif
