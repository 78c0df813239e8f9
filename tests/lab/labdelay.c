/*
 * labdelay — hold every packet of one NFQUEUE queue for a fixed time, then
 * let it go on.  It is the lab's stand-in for tc netem, which this kernel
 * does not have (see docs/lab.md, "lab delay").
 *
 *   labdelay QUEUE DELAY_MS
 *
 * The lab runs it in a host's network namespace and sends the packets
 * arriving at the host to QUEUE with an iptables NFQUEUE rule (--queue-bypass,
 * so packets flow undelayed whenever labdelay is not running).  Every packet
 * is held for the same time, so packets leave in the order they came and one
 * batch verdict releases all that are due.  When more packets are held than
 * the ring has room for, the newest go on at once (fail-open): the link gets
 * faster, never lossy.
 *
 * The lab builds this file with cc (and -lnetfilter_queue) into the lab's
 * state directory; it stops it with SIGKILL or SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#define RING_SIZE 65536u       /* packets held at most; also the queue length */
#define RCVBUF (16 * 1024 * 1024)

struct held {
	uint32_t id;
	uint64_t due_ns;
};

/* Packets waiting for their release time, oldest first. */
struct ring {
	struct held slot[RING_SIZE];
	unsigned head, count;
	uint64_t delay_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Queue callback: hold the packet, or pass it at once when the ring is full. */
static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfa, void *data)
{
	struct ring *r = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;

	(void)msg;
	if (ph == NULL)
		return 0;
	id = ntohl(ph->packet_id);
	if (r->count == RING_SIZE)
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	r->slot[(r->head + r->count) % RING_SIZE] =
		(struct held){ .id = id, .due_ns = now_ns() + r->delay_ns };
	r->count++;
	return 0;
}

/* Release every held packet that is due; return ms until the next is due
 * (-1 when none is held). */
static int release_due(struct nfq_q_handle *qh, struct ring *r)
{
	uint64_t now = now_ns();
	uint32_t last = 0;
	unsigned n = 0;

	while (r->count > 0 && r->slot[r->head].due_ns <= now) {
		last = r->slot[r->head].id;
		r->head = (r->head + 1) % RING_SIZE;
		r->count--;
		n++;
	}
	if (n > 0 && nfq_set_verdict_batch(qh, last, NF_ACCEPT) < 0)
		fprintf(stderr, "labdelay: verdict: %s\n", strerror(errno));
	if (r->count == 0)
		return -1;
	return (int)((r->slot[r->head].due_ns - now + 999999u) / 1000000u);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno == 0 && end != s && *end == '\0' && *out <= max) ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct ring ring;
	static char buf[256 * 1024];
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	unsigned long queue, delay_ms;
	struct pollfd pfd;
	int rcvbuf = RCVBUF;

	if (argc != 3 || parse_uint(argv[1], 65535, &queue) < 0 ||
	    parse_uint(argv[2], 60000, &delay_ms) < 0) {
		fprintf(stderr, "usage: labdelay QUEUE(0..65535) DELAY_MS(0..60000)\n");
		return 2;
	}
	ring.delay_ns = (uint64_t)delay_ms * 1000000u;

	h = nfq_open();
	if (h == NULL) {
		fprintf(stderr, "labdelay: nfq_open: %s\n", strerror(errno));
		return 1;
	}
	qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &ring);
	if (qh == NULL) {
		fprintf(stderr, "labdelay: bind queue %lu: %s\n", queue, strerror(errno));
		nfq_close(h);
		return 1;
	}
	if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 ||
	    nfq_set_queue_maxlen(qh, RING_SIZE) < 0 ||
	    nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO,
				NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO) < 0) {
		fprintf(stderr, "labdelay: configure queue %lu: %s\n", queue, strerror(errno));
		nfq_destroy_queue(qh);
		nfq_close(h);
		return 1;
	}
	pfd = (struct pollfd){ .fd = nfq_fd(h), .events = POLLIN };
	/* A large receive buffer keeps bursts from overflowing the socket. */
	if (setsockopt(pfd.fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(pfd.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	for (;;) {
		int timeout = release_due(qh, &ring);

		if (poll(&pfd, 1, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "labdelay: poll: %s\n", strerror(errno));
			break;
		}
		if (!(pfd.revents & POLLIN))
			continue;
		for (;;) {
			ssize_t n = recv(pfd.fd, buf, sizeof(buf), MSG_DONTWAIT);

			if (n < 0) {
				/* ENOBUFS: the kernel dropped notifications; the
				 * fail-open queue lets such packets through. */
				if (errno != EAGAIN && errno != EWOULDBLOCK &&
				    errno != EINTR && errno != ENOBUFS)
					fprintf(stderr, "labdelay: recv: %s\n", strerror(errno));
				break;
			}
			nfq_handle_packet(h, buf, (int)n);
		}
	}
	nfq_destroy_queue(qh);
	nfq_close(h);
	return 1;
}
