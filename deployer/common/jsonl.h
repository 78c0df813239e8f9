/* jsonl.h - JSON lines framing for the agent protocol (docs/agent-protocol.md).
 *
 * Both ends of the protocol (shoal-agent and the operator's agent_client) read
 * bytes in arbitrary chunks and need whole lines, bounded in size, and write
 * one compact JSON object per line.  The JSON itself is jansson's; this module
 * only frames it.
 */
#ifndef SHOAL_JSONL_H
#define SHOAL_JSONL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "util.h"

/* The largest line either side accepts (bytes, without the newline). */
#define JSONL_LINE_MAX (1024 * 1024)

struct jsonl_reader {
	struct buf pending;  /* complete lines not yet taken, then a partial one */
	size_t max;          /* line limit */
	size_t partial;      /* bytes of the unfinished line at the end */
	bool discarding;     /* inside an oversized line: drop until '\n' */
	/* Offsets in pending where dropped oversized lines stood, so each is
	 * reported in its place among the other lines. */
	size_t *drops;
	size_t n_drops, cap_drops;
};

void jsonl_reader_init(struct jsonl_reader *r, size_t max);
void jsonl_reader_free(struct jsonl_reader *r);

/* Append bytes read from the peer.  Never fails; memory stays bounded by
 * max + n because an oversized line is dropped as soon as it is seen. */
void jsonl_feed(struct jsonl_reader *r, const void *p, size_t n);

/* Take the next complete line.  Returns 1 and sets *line (NUL-terminated,
 * without the newline, caller frees), 0 when no complete line is buffered,
 * or -1 (e filled, code EMSGSIZE) once for each line longer than max; the
 * oversized line is dropped and reading continues after it. */
int jsonl_next(struct jsonl_reader *r, char **line, struct err *e);

/* Bytes buffered that do not yet form a complete line. */
size_t jsonl_pending(const struct jsonl_reader *r);

/* Parse one line as a JSON object.  Returns the object (caller owns) or NULL
 * with e filled (EINVAL, jansson's message and column). */
json_t *jsonl_parse(const char *line, struct err *e);

/* Encode v compactly as one line ending in '\n' and append it to out.
 * Returns -1 (EINVAL) if v cannot be encoded. */
int jsonl_encode(const json_t *v, struct buf *out, struct err *e);

/* A JSON string for arbitrary bytes: valid UTF-8 is kept as is; otherwise
 * every byte >= 0x80 becomes '?' (log and exec output is text for people,
 * not a binary channel).  Never returns NULL. */
json_t *jsonl_text(const char *p, size_t n);

#endif
