/* test_resp.c - bounded RESP replies (deployer/lib/db/redis/resp.h) against
 * hostile fake Redis servers on 127.0.0.1: an endless bulk string, one byte
 * every 0.8 s, array and bulk headers of 2e9, and the same endless reply to
 * the Redis probe.  Each must fail with an error naming the node, in bounded
 * time (the command's own timeout, not per read) and bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"
#include "redis_int.h"
#include "resp.h"
#include "util.h"

enum mode { M_PONG, M_ENDLESS, M_SLOW, M_RAW };

struct hostile {
	enum mode mode;
	const char *raw;          /* M_RAW: sent once, then wait for the close */
	int lfd, port;
	pthread_t th;
	size_t sent;              /* bytes the server got out */
};

static void *hostile_main(void *arg)
{
	struct hostile *h = arg;
	char buf[65536];
	int c = accept(h->lfd, NULL, NULL);

	if (c < 0)
		return NULL;
	if (read(c, buf, sizeof buf) <= 0)
		goto out;
	switch (h->mode) {
	case M_PONG:
		h->sent += (size_t)send(c, "+PONG\r\n", 7, MSG_NOSIGNAL);
		break;
	case M_ENDLESS: {
		const char *head = "$1000000000\r\n";
		ssize_t n = send(c, head, strlen(head), MSG_NOSIGNAL);

		memset(buf, 'x', sizeof buf);
		while (n > 0) {
			h->sent += (size_t)n;
			n = send(c, buf, sizeof buf, MSG_NOSIGNAL);
		}
		break;
	}
	case M_SLOW:
		for (const char *p = "+PONG\r\n"; *p; p++) {
			if (send(c, p, 1, MSG_NOSIGNAL) != 1)
				break;
			h->sent++;
			nanosleep(&(struct timespec){0, 800 * 1000 * 1000}, NULL);
		}
		break;
	case M_RAW:
		h->sent += (size_t)send(c, h->raw, strlen(h->raw), MSG_NOSIGNAL);
		while (read(c, buf, sizeof buf) > 0)
			;
		break;
	}
out:
	close(c);
	return NULL;
}

static void hostile_start(struct hostile *h, enum mode m, const char *raw)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;

	h->mode = m;
	h->raw = raw;
	h->sent = 0;
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(h->lfd >= 0);
	assert_int_equal(bind(h->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(h->lfd, 4), 0);
	assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&a, &len), 0);
	h->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&h->th, NULL, hostile_main, h), 0);
}

static void hostile_stop(struct hostile *h)
{
	shutdown(h->lfd, SHUT_RDWR);
	pthread_join(h->th, NULL);
	close(h->lfd);
}

/* PING through rc_call_argv (what every cluster operation uses); returns the
 * reply or NULL with e. */
static redisReply *ping(struct hostile *h, int tmo_ms, struct err *e)
{
	struct rc_opts o = {.timeout_ms = tmo_ms};
	redisContext *c = rc_connect("cache-0 (127.0.0.1)", "127.0.0.1", h->port, &o, e);
	redisReply *r;

	assert_non_null(c);
	r = CALL(c, tmo_ms, "cache-0 (127.0.0.1)", e, "PING");
	/* A broken cap leaves the connection unusable, never half-read. */
	if (!r)
		assert_null(CALL(c, tmo_ms, "cache-0 (127.0.0.1)", &(struct err){0}, "PING"));
	redisFree(c);
	return r;
}

static void test_plain_reply_works(void **state)
{
	struct hostile h;
	struct err e = {0};
	redisReply *r;

	hostile_start(&h, M_PONG, NULL);
	r = ping(&h, 2000, &e);
	assert_non_null(r);
	assert_string_equal(r->str, "PONG");
	freeReplyObject(r);
	hostile_stop(&h);
}

static void test_endless_bulk_is_cut(void **state)
{
	struct hostile h;
	struct err e = {0};

	hostile_start(&h, M_ENDLESS, NULL);
	/* A generous timeout: the byte cap, not the clock, must end it. */
	assert_null(ping(&h, 60000, &e));
	hostile_stop(&h);
	assert_int_equal(e.code, EMSGSIZE);
	assert_non_null(strstr(e.msg, "cache-0 (127.0.0.1): PING: reply larger than"));
	/* The client stopped reading near the cap: what the server got out is
	 * the cap plus what the socket buffers held. */
	assert_true(h.sent > RESP_REPLY_MAX);
	assert_true(h.sent < RESP_REPLY_MAX + (32u << 20));
}

static void test_one_byte_every_800ms_times_out(void **state)
{
	struct hostile h;
	struct err e = {0};

	/* Every byte arrives within a 1 s read timeout; the whole reply (7
	 * bytes, 5.6 s) does not arrive within the 1 s the command has. */
	hostile_start(&h, M_SLOW, NULL);
	assert_null(ping(&h, 1000, &e));
	hostile_stop(&h);
	assert_int_equal(e.code, ETIMEDOUT);
	assert_non_null(strstr(e.msg, "cache-0 (127.0.0.1): PING: timed out after 1000 ms ("));
	assert_true(h.sent < 7);
}

static void test_huge_headers_refused(void **state)
{
	static const char *const arrays[] = {"*2000000000\r\n", "*99999999999\r\n",
					     "*3\r\n*2000000000\r\n"};
	struct hostile h;
	struct err e;

	for (size_t i = 0; i < ARRAY_SIZE(arrays); i++) {
		memset(&e, 0, sizeof e);
		hostile_start(&h, M_RAW, arrays[i]);
		assert_null(ping(&h, 2000, &e));
		hostile_stop(&h);
		assert_true(e.code == EMSGSIZE || e.code == EPROTO);
		assert_non_null(strstr(e.msg, "cache-0 (127.0.0.1): PING: "));
	}
	/* A 2 GB bulk header allocates nothing up front: waiting for bytes
	 * that never come ends at the deadline. */
	memset(&e, 0, sizeof e);
	hostile_start(&h, M_RAW, "$2000000000\r\nxyz");
	assert_null(ping(&h, 500, &e));
	hostile_stop(&h);
	assert_true(e.code == ETIMEDOUT || e.code == EPROTO);
}

static void test_probe_endless_reply_capped(void **state)
{
	struct hostile h;
	struct probe_target t = {.kind = PROBE_REDIS, .host = "127.0.0.1",
				 .connect_timeout_ms = 1000, .read_timeout_ms = 60000};
	struct probe_report r;
	struct err e;

	hostile_start(&h, M_ENDLESS, NULL);
	t.port = h.port;
	assert_int_equal(probe_run(&t, &r, &e), 0);
	hostile_stop(&h);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_non_null(strstr(r.detail, "reply larger than 65536 bytes"));
	assert_true(h.sent < (64u << 10) + (32u << 20));
}

static void test_probe_huge_array_refused(void **state)
{
	struct hostile h;
	struct probe_target t = {.kind = PROBE_REDIS, .host = "127.0.0.1",
				 .connect_timeout_ms = 1000, .read_timeout_ms = 2000};
	struct probe_report r;
	struct err e;

	hostile_start(&h, M_RAW, "*2000000000\r\n");
	t.port = h.port;
	assert_int_equal(probe_run(&t, &r, &e), 0);
	hostile_stop(&h);
	assert_int_equal(r.result, PROBE_BAD_REPLY);
	assert_non_null(strstr(r.detail, "RESP: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_reply_works),
		cmocka_unit_test(test_endless_bulk_is_cut),
		cmocka_unit_test(test_one_byte_every_800ms_times_out),
		cmocka_unit_test(test_huge_headers_refused),
		cmocka_unit_test(test_probe_endless_reply_capped),
		cmocka_unit_test(test_probe_huge_array_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
