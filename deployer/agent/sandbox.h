/* sandbox.h - the hardening every node process gets, whichever runtime
 * started it, and every `exec` into a node: user, rlimits, capabilities,
 * no_new_privs, the default seccomp filter, closed descriptors.
 *
 * sandbox_enter() runs in a child between fork and exec (after the runtime
 * built the node's mounts and pivoted into its root).  It must not be called
 * in the agent itself.  Its filter table is also what the OCI runtime driver
 * writes into config.json, so both runtimes deny the same calls.
 */
#ifndef SHOAL_AGENT_SANDBOX_H
#define SHOAL_AGENT_SANDBOX_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

struct sandbox {
	uid_t uid;
	gid_t gid;
	const char *const *caps;  /* capability names to keep, NULL-terminated
				   * (NULL = none); only root keeps any */
	int64_t nofile;           /* RLIMIT_NOFILE soft = hard, 0 = unchanged */
	int64_t nproc;            /* RLIMIT_NPROC, 0 = unchanged */
};

/* Syscalls the default filter refuses with EPERM (modelled on Docker's
 * default profile: mounts, namespaces, modules, kexec, tracing, keyrings,
 * bpf, clocks, reboot, swap, ...).  NULL-terminated. */
extern const char *const sandbox_denied_syscalls[];

/* Apply to the calling process, in this order: rlimits, groups/gid/uid,
 * capabilities (bounding, ambient, inheritable, effective, permitted: all
 * reduced to caps - CVE-2022-24769), PR_SET_NO_NEW_PRIVS, seccomp. */
int sandbox_enter(const struct sandbox *sb, struct err *e);

/* Check capability names ("CAP_NET_BIND_SERVICE" or "net_bind_service"). */
int sandbox_caps_valid(const char *const *caps, struct err *e);

/* Close every descriptor >= from (close_range, or a loop on old kernels). */
void sandbox_close_fds_from(int from);

/* Resolve an image's "User" field ("", "name", "uid", "name:group",
 * "uid:gid") against its passwd and group files (either may be NULL: then
 * only numbers resolve).  Reads with fgetpwent/fgetgrent: no NSS, nothing
 * from the host.  *home gets the user's home (caller frees; "/" if none). */
int sandbox_resolve_user(const char *spec, FILE *passwd, FILE *group,
			 uid_t *uid, gid_t *gid, char **home, struct err *e);

/* Open `rel` below the directory rootfd as if rootfd were "/": symlinks
 * (absolute or relative) and ".." stay inside (openat2 RESOLVE_IN_ROOT, no
 * magic links).  flags as for openat.  For reading an image's files from the
 * host side and for placing mount points. */
int sandbox_open_in_root(int rootfd, const char *rel, int flags, mode_t mode,
			 struct err *e);
/* mkdir -p of rel below rootfd, each step resolved inside the root; returns
 * an O_PATH fd of the final directory. */
int sandbox_mkdir_in_root(int rootfd, const char *rel, mode_t mode,
			  struct err *e);

#endif
