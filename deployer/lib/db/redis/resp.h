/* resp.h - bounded RESP replies from peers shoal does not trust.
 *
 * hiredis parses RESP.  Debian 12 ships hiredis 0.14.1, which has neither
 * 1.x's maxelements nor a reply size cap: a node could send an endless bulk
 * string, a reply one byte every 0.8 s (each read within the socket
 * timeout), or an array header of 2e9 elements (hiredis allocates the array
 * when it reads the header).  The caps are enforced here, in shoal's code:
 *
 *   - a command's reply must be whole within the command's timeout, counted
 *     from the moment the command is sent (not per read);
 *   - at most RESP_REPLY_MAX bytes are received for one reply (probes:
 *     PROBE_REPLY_MAX, 64 KiB);
 *   - an array header above RESP_ELEMENTS_MAX elements is refused before
 *     hiredis allocates anything for it.
 *
 * A connection that broke a cap is shut down and marked failed, so nothing
 * later reads the rest of the hostile reply as the answer to another
 * command.  Tests: tests/unit/test_resp.c (hostile fake servers).
 */
#ifndef SHOAL_RESP_H
#define SHOAL_RESP_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* CLUSTER NODES of a 1000-node cluster is about 200 KiB; keys moved per
 * batch are far fewer than this. */
#define RESP_REPLY_MAX (16u << 20)
#define RESP_ELEMENTS_MAX (1 << 20)

/* Make reader r refuse array headers above RESP_ELEMENTS_MAX (the reader
 * then fails with REDIS_ERR_OOM).  Thread-safe. */
void resp_reader_bound(redisReader *r);

/* Read one whole reply from c's socket: it must arrive by deadline
 * (now_ms() clock; tmo_ms is the timeout it came from, for the message) in
 * at most max bytes.  Returns the reply (caller frees) or NULL with e
 * filled: "<label>: <what>: ..." (ETIMEDOUT "timed out after N ms",
 * EMSGSIZE, ECONNRESET or EPROTO); c is then unusable. */
redisReply *resp_read_reply(redisContext *c, int64_t deadline, int tmo_ms, size_t max,
			    const char *label, const char *what, struct err *e);

/* Send what c has queued (redisAppendCommand*) and read one reply, all
 * within tmo_ms and RESP_REPLY_MAX bytes. */
redisReply *resp_command(redisContext *c, int tmo_ms, const char *label,
			 const char *what, struct err *e);

#endif
