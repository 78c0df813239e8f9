/* tcplisten.c - see tcplisten.h. */
#include "tcplisten.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"

#define TCP_LISTEN 0x0A
#define LINE_MAX_PARSED 512   /* /proc/net/tcp6 lines are ~180 bytes */
#define DIAG_BUF (64 * 1024)
#define DIAG_TIMEOUT_S 5

void tcp_listeners_parse(const char *text, struct tcp_listener **out, size_t *n,
			 size_t *cap)
{
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char one[LINE_MAX_PARSED], local[64], remote[64];
		unsigned st, port;
		unsigned long inode;
		const char *colon;

		/* sscanf on a private copy of this line only: glibc's sscanf
		 * measures its whole input, which on the text itself made the
		 * parse quadratic in the number of sockets. */
		if (len < sizeof one) {
			memcpy(one, line, len);
			one[len] = '\0';
			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(one, " %*u: %63s %63s %x %*s %*s %*s %*u %*u %lu",
				   local, remote, &st, &inode) == 4 &&
			    st == TCP_LISTEN && (colon = strrchr(local, ':')) &&
			    sscanf(colon + 1, "%x", &port) == 1 && port > 0 &&
			    port <= 65535) {
				*out = xgrow(*out, cap, *n + 1, sizeof **out);
				(*out)[(*n)++] = (struct tcp_listener){(int)port, inode};
			}
		}
		line = nl ? nl + 1 : NULL;
	}
}

/* One SOCK_DIAG_BY_FAMILY dump of family's TCP sockets in LISTEN. */
static int diag_dump(int fd, unsigned char family, struct tcp_listener **out,
		     size_t *n, size_t *cap, struct err *e)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = {.nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = family},
		.r = {.sdiag_family = family, .sdiag_protocol = IPPROTO_TCP,
		      .idiag_states = 1u << TCP_LISTEN},
	};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	_cleanup_free_ char *buf = xmalloc(DIAG_BUF);
	const char *fam = family == AF_INET ? "IPv4" : "IPv6";

	if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
		return err_sys(e, errno, "sock_diag %s: send", fam);
	for (;;) {
		ssize_t got = recv(fd, buf, DIAG_BUF, 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		size_t left;

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_sys(e, errno == EAGAIN ? ETIMEDOUT : errno,
				       "sock_diag %s: receive", fam);
		if (got == 0)
			return err_set(e, EPROTO, "sock_diag %s: the kernel closed the dump",
				       fam);
		left = (size_t)got;
		for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			const struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *ne = NLMSG_DATA(h);
				int code = h->nlmsg_len >= NLMSG_LENGTH(sizeof *ne) &&
					   ne->error ? -ne->error : EPROTO;

				return err_sys(e, code, "sock_diag %s", fam);
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof *m))
				continue;
			m = NLMSG_DATA(h);
			if (m->idiag_state != TCP_LISTEN || !m->id.idiag_sport)
				continue;
			*out = xgrow(*out, cap, *n + 1, sizeof **out);
			(*out)[(*n)++] = (struct tcp_listener){ntohs(m->id.idiag_sport),
								m->idiag_inode};
		}
	}
}

int tcp_listeners_kernel(struct tcp_listener **out, size_t *n, size_t *cap,
			 struct err *e)
{
	struct timeval tv = {DIAG_TIMEOUT_S, 0};
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int rc;

	if (fd < 0)
		return err_sys(e, errno, "sock_diag: netlink socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	rc = diag_dump(fd, AF_INET, out, n, cap, e);
	if (rc == 0) {
		rc = diag_dump(fd, AF_INET6, out, n, cap, e);
		/* A kernel without IPv6 has nothing to list there. */
		if (rc < 0 && (e->code == ENOENT || e->code == EAFNOSUPPORT)) {
			memset(e, 0, sizeof *e);
			rc = 0;
		}
	}
	close(fd);
	return rc;
}
