/* imgstore.h - unpacked images: <root>/images/<hex>/{rootfs,config.json},
 * built from OCI manifests and layers in the blob store (image.unpack). */
#ifndef SHOAL_AGENT_IMGSTORE_H
#define SHOAL_AGENT_IMGSTORE_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

struct agent;

/* Make sure image `digest` (a manifest, or an index whose first linux/amd64
 * manifest is used) is unpacked; *cached says whether it already was.
 * *config (may be NULL) gets the image config's "config" object (Env,
 * Entrypoint, Cmd, User, WorkingDir), caller decrefs. */
int image_ensure(struct agent *a, const char *digest, bool *cached,
		 json_t **config, struct err *e);

/* Unpacking takes a while (every layer is hashed, then extracted), so it
 * runs in a helper process (helper.h).  image_wait_unpacked() returns 0 when
 * image `digest` is unpacked already (the request can go on at once);
 * otherwise the request waits for the helper and is dispatched again once
 * the image is there (or answered with its error): 1.  -1 with e filled
 * when no helper can be started. */
struct session;
int image_wait_unpacked(struct session *s, json_int_t id, json_t *req,
			const char *digest, struct err *e);

/* <root>/images/<hex>/rootfs.  Caller frees. */
char *image_rootfs(const struct agent *a, const char *digest);

#endif
