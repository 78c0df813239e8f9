/* tcplisten.h - listening TCP sockets: from the kernel (netlink sock_diag)
 * or from /proc/net/tcp and /proc/net/tcp6 text.
 *
 * The agent's host.ports asks the kernel on its host; `shoal plan` parses
 * the /proc text read over the transport on a host where no agent runs. */
#ifndef SHOAL_TCPLISTEN_H
#define SHOAL_TCPLISTEN_H

#include <stddef.h>

#include "err.h"

struct tcp_listener {
	int port;
	unsigned long inode;
};

/* Append every socket in state LISTEN of a /proc/net/tcp or /proc/net/tcp6
 * text (or both, one after the other) to *out (*n used, *cap allocated).
 * Lines that do not parse (headers, anything truncated) are skipped. */
void tcp_listeners_parse(const char *text, struct tcp_listener **out, size_t *n,
			 size_t *cap);

/* Append every TCP socket in LISTEN (IPv4 and IPv6) of this network
 * namespace to *out, asked of the kernel with one NETLINK_SOCK_DIAG dump per
 * family, filtered to LISTEN there: the cost follows the listeners, not the
 * connections.  Linear in the answer; each dump gives up after 5 s without
 * data.  -1 with the reason (e.g. inet_diag not in the kernel: ENOENT). */
int tcp_listeners_kernel(struct tcp_listener **out, size_t *n, size_t *cap,
			 struct err *e);

#endif
