/* fuzz_resp.c - libFuzzer entry point for the RESP reading path every Redis
 * reply takes (deployer/lib/db/redis/resp.c: hiredis's reader with shoal's
 * array cap, the byte cap, the deadline).
 *
 * The first byte picks the byte cap (1..256 KiB, so the cut path is hit
 * often); the rest is what a Redis node sends, written to one end of a
 * socketpair that is then closed.  resp_read_reply() reads replies until it
 * fails.  Any crash, leak or sanitizer report is a bug, and so is a reply
 * tree that breaks the caps: an array above RESP_ELEMENTS_MAX elements,
 * more bytes taken than the cap, nesting deeper than hiredis's 9 levels.
 * Built by `make fuzz`, replayed over tests/fuzz/corpus/fuzz_resp/ by
 * `make test`. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "resp.h"
#include "util.h"

#define FEED_MAX (128u << 10)   /* fits the socket buffer: no blocking write */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk a reply: every string's length is its own, arrays are capped. */
static size_t walk(const redisReply *r, int depth)
{
	size_t n = 1;

	if (depth > 9)
		abort();
	switch (r->type) {
	case REDIS_REPLY_ARRAY:
		if (r->elements > RESP_ELEMENTS_MAX)
			abort();
		for (size_t i = 0; i < r->elements; i++) {
			if (!r->element[i])
				abort();
			n += walk(r->element[i], depth + 1);
		}
		break;
	case REDIS_REPLY_STRING:
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_ERROR:
		if (!r->str || r->str[r->len] != '\0')
			abort();
		break;
	case REDIS_REPLY_INTEGER:
	case REDIS_REPLY_NIL:
		break;
	default:
		abort();
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t max, total = 0;
	redisContext *c;
	redisReply *r;
	struct err e;

	if (size < 1)
		return 0;
	max = ((size_t)data[0] + 1) * 1024;
	data++;
	size--;
	if (size > FEED_MAX)
		size = FEED_MAX;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (size && write(sv[1], data, size) != (ssize_t)size)
		abort();
	close(sv[1]);
	c = redisConnectFd(sv[0]);
	if (!c)
		abort();
	while ((r = resp_read_reply(c, now_ms() + 1000, 1000, max, "fuzz (peer)", "CMD", &e))) {
		total += walk(r, 0);
		freeReplyObject(r);
	}
	if (!c->err || !e.msg[0])
		abort();   /* a failed read leaves the connection marked failed */
	redisFree(c);
	(void)total;
	return 0;
}
