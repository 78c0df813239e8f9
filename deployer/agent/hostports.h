/* hostports.h - which TCP ports something listens on, on this host, and who.
 *
 * `host.ports` lets the operator's planner avoid a port another program
 * already holds (a node placed there could never bind it).  Nodes run in the
 * host's network namespace, so their ports show up too; each listener is
 * tagged with its owner: one of this agent's nodes (cluster and node name),
 * another program (pid and command name), or nobody found (a socket whose
 * process this agent cannot see).
 */
#ifndef SHOAL_AGENT_HOSTPORTS_H
#define SHOAL_AGENT_HOSTPORTS_H

#include <stddef.h>

struct listen_sock {
	int port;
	unsigned long inode;
};

/* Append every socket in state LISTEN of a /proc/net/tcp or /proc/net/tcp6
 * text to *out (*n used, *cap allocated).  Lines that do not parse (the
 * header, anything truncated) are skipped. */
void hostports_parse(const char *text, struct listen_sock **out, size_t *n,
		     size_t *cap);

#endif
