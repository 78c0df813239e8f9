/* rootfs.h - a node's root filesystem: the image's rootfs (shared, never
 * written) as overlayfs lower with the node's upper/work dirs, or - where
 * overlayfs cannot be mounted under the agent root - a private full copy
 * (image, then the node's upper files on top), made once. */
#ifndef SHOAL_AGENT_ROOTFS_H
#define SHOAL_AGENT_ROOTFS_H

#include "err.h"

struct agent;
struct node;

/* Make sure what rootfs_mount() needs exists (the copy, without overlay). */
int rootfs_prepare(struct agent *a, struct node *n, struct err *e);
/* Mount the node's root at target (overlay, or the copy bound on itself). */
int rootfs_mount(struct agent *a, struct node *n, const char *target,
		 struct err *e);
/* Undo rootfs_mount() at target in the agent's own mount namespace (the OCI
 * runtimes need the root mounted there); not mounted is fine. */
void rootfs_unmount(const char *target);

#endif
