/* push.h - content-addressed blobs to many hosts at once.
 *
 * Per host (one thread and one transport each, at most `parallel` hosts at a
 * time): connect, and SFTP-stat each blob in the host's store; when every
 * blob is there with the right size, that is all (no agent needed).
 * Otherwise, or with `verify`, start the agent (installing it first when the
 * host lacks this build) and ask it `blob.has` (with `verify`: `blob.verify`,
 * which re-hashes; a corrupt or wrong-size blob is pushed again).  Otherwise the bytes go over SFTP
 * (pipelined: many write requests in flight) to
 *   /var/lib/shoal/blobs/tmp/<hex>.<nonce>
 * and `blob.commit` hashes them on the host and only on a match renames them
 * atomically to blobs/sha256/<hex>.  An interrupted push leaves at most a
 * temporary file that nothing reads; running the push again finishes it.
 *
 * One host's failure never stops the others: each host gets its own result
 * with the cause.
 */
#ifndef SHOAL_PUSH_H
#define SHOAL_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent_client.h"
#include "digest.h"
#include "err.h"
#include "transport.h"

#define PUSH_PARALLEL 16
/* The agent's default root on every host (shoal-agent --root). */
#define PUSH_HOST_ROOT "/var/lib/shoal"

struct spec;
struct spec_host;

/* One blob: a local file holding exactly the bytes its digest names.  An
 * empty digest ("") asks push_blobs() to hash the file itself, while the
 * hosts connect; it then fills digest and size. */
struct push_blob {
	char digest[DIGEST_STR_LEN]; /* "sha256:<hex>", or "" */
	const char *path;            /* borrowed */
	uint64_t size;
};

struct push_opts {
	int parallel;                  /* hosts at once; <= 0: PUSH_PARALLEL */
	bool verify;                   /* re-hash blobs the host already has */
	bool progress;                 /* per-host progress lines on stderr */
	struct transport_opts transport;
	/* Connections the caller already holds, indexed like `hosts` (either
	 * may be NULL, or hold NULLs): used instead of opening new ones and
	 * left open.  Each is used by one push thread only. */
	struct transport *const *transports;
	struct agent_client *const *agents;
};

struct push_host_result {
	const struct spec_host *host;
	int rc;                        /* 0 ok, -1 failed: err says why */
	struct err err;
	size_t sent, skipped, repaired; /* blobs written / already there /
					 * found corrupt and written again */
	uint64_t bytes;                /* bytes written */
	int64_t ms;                    /* wall time for this host */
	int64_t rtt_ms;                /* one agent round trip (hello) */
	struct transport_info info;
	char agent_version[64];
};

/* The spec's hosts named in a comma-separated list (every host when list is
 * NULL), in spec order.  *out (caller frees) gets *n pointers into s.  An
 * unknown name is a usage error naming it. */
int push_select_hosts(const struct spec *s, const char *list,
		      const struct spec_host ***out, size_t *n, struct err *e);

/* Push blobs (nblobs may be 0: connect and bootstrap only) to every host.
 * Blobs with an empty digest are hashed first (in parallel with connecting);
 * a file that cannot be read fails every host with that cause.
 * res must hold nhosts entries; each is filled whatever happens.  Returns 0
 * when every host succeeded, else -1 with e summarising ("2 of 8 hosts
 * failed; first: h3 (...): ..."). */
int push_blobs(const struct spec *s, const struct spec_host *const *hosts,
	       size_t nhosts, struct push_blob *blobs, size_t nblobs,
	       const struct push_opts *o, struct push_host_result *res,
	       struct err *e);

#endif
