/* sandbox.h - the hardening every node process gets, whichever runtime
 * started it, and every `exec` into a node: user, rlimits, capabilities,
 * no_new_privs, the default seccomp filter, closed descriptors.
 *
 * sandbox_enter() runs in a child between fork and exec (after the runtime
 * built the node's mounts and pivoted into its root).  It must not be called
 * in the agent itself.  Its filter table is also what the OCI runtime driver
 * writes into config.json, so both runtimes allow the same calls.
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
	const char *const *syscalls; /* allowed beyond the default list
				      * (template `syscalls`), or NULL */
};

/* The seccomp filter is an allow list (modelled on Docker's default
 * profile), for the native architecture only: every call not allowed fails
 * with EPERM.  Beyond the unconditional list: clone without namespace flags,
 * socket of any family but AF_VSOCK, personality with the values in
 * sandbox_personalities; clone3 fails with ENOSYS (libc falls back to
 * clone); the calls in sandbox_killed_syscalls end the process (SIGSYS).
 * The OCI driver writes the same into config.json.  NULL-terminated. */
extern const char *const sandbox_allowed_syscalls[];
extern const char *const sandbox_killed_syscalls[];
extern const uint32_t sandbox_personalities[];
extern const size_t sandbox_npersonalities;

/* Check a template's additions: each must be a syscall of this
 * architecture and not one that would undo isolation (mount, unshare,
 * ptrace, bpf, the conditional and the killed ones): EPERM/EINVAL naming it. */
int sandbox_syscalls_valid(const char *const *extra, struct err *e);

/* Build and load the filter (allow list + extra) into the calling process;
 * no_new_privs or CAP_SYS_ADMIN must already hold.  Never in the agent. */
int sandbox_load_seccomp(const char *const *extra, struct err *e);

/* "SCMP_ARCH_X86_64" etc. for the native architecture, NULL if unknown. */
const char *sandbox_native_arch(void);

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
