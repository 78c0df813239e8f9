/* tcplisten.h - listening TCP sockets from /proc/net/tcp and /proc/net/tcp6.
 *
 * The agent's host.ports reads them on its host; `shoal plan` reads them
 * over the transport on a host where no agent runs. */
#ifndef SHOAL_TCPLISTEN_H
#define SHOAL_TCPLISTEN_H

#include <stddef.h>

struct tcp_listener {
	int port;
	unsigned long inode;
};

/* Append every socket in state LISTEN of a /proc/net/tcp or /proc/net/tcp6
 * text (or both, one after the other) to *out (*n used, *cap allocated).
 * Lines that do not parse (headers, anything truncated) are skipped. */
void tcp_listeners_parse(const char *text, struct tcp_listener **out, size_t *n,
			 size_t *cap);

#endif
