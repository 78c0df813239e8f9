/* tcplisten.c - see tcplisten.h. */
#include "tcplisten.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

#define TCP_LISTEN 0x0A

void tcp_listeners_parse(const char *text, struct tcp_listener **out, size_t *n,
			 size_t *cap)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		char local[64], remote[64];
		unsigned st, port;
		unsigned long inode;
		const char *colon;

		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %*u %*u %lu",
			   local, remote, &st, &inode) == 4 &&
		    st == TCP_LISTEN && (colon = strrchr(local, ':')) &&
		    sscanf(colon + 1, "%x", &port) == 1 && port > 0 && port <= 65535) {
			*out = xgrow(*out, cap, *n + 1, sizeof **out);
			(*out)[(*n)++] = (struct tcp_listener){(int)port, inode};
		}
		line = nl ? nl + 1 : NULL;
	}
}
