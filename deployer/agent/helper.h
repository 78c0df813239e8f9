/* helper.h - slow work beside the agent's loop.
 *
 * The agent is one loop: while it hashes a 64 MB upload or extracts an image
 * it supervises no node and answers no session.  Such work runs in a forked
 * helper process instead (the agent has no threads, so fork is safe); the
 * request that asked for it is kept and, when the helper ends, dispatched
 * again - the op then finds the work done (the blob in the store, the rootfs
 * there) and answers at once - or answered with the helper's error.
 *
 * Requests with the same key (e.g. "unpack sha256:...") share one helper.
 */
#ifndef SHOAL_AGENT_HELPER_H
#define SHOAL_AGENT_HELPER_H

#include <jansson.h>

#include "err.h"

struct agent;
struct session;

/* Runs in the helper: do the work named by key for request req.  0, with
 * *result set when the helper's result is the answer (every waiting request
 * gets it), or left NULL to have the requests dispatched again; or -1 with e
 * filled (its message becomes the answer). */
typedef int (*helper_fn)(struct agent *a, const char *key, json_t *req,
			 json_t **result, struct err *e);

/* Keep request (s, id, req) until the helper for `key` ends, starting it with
 * fn when none runs.  Returns 1 (the op answers later: return it from the op),
 * or -1 with e filled when no helper can be started. */
int helper_run(struct session *s, json_int_t id, json_t *req, const char *key,
	       helper_fn fn, struct err *e);

/* Kill the helpers still running and answer their requests with an error
 * (agent exit). */
void helpers_stop(struct agent *a);

#endif
