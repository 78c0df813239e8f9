/* sandbox.c - node process hardening (see sandbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "util.h"

/* Modelled on Docker's default profile (moby profiles/seccomp/default.json):
 * its unconditional allow list, without io_uring (a large kernel surface,
 * since removed by Docker too), adjtimex/clock_adjtime (time setting),
 * name_to_handle_at, and nothing that needs a capability a node never has.
 * Names unknown on the native architecture (x86 socketcall, ...) are
 * skipped. */
const char *const sandbox_allowed_syscalls[] = {
	"accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk",
	"cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32",
	"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd",
	"eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
	"faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark",
	"fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
	"fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
	"flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
	"fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
	"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64",
	"getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
	"getgroups", "getgroups32", "getitimer", "getpeername", "getpgid",
	"getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
	"getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
	"gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
	"inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
	"io_submit", "ipc", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
	"lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
	"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
	"madvise", "membarrier", "memfd_create", "mincore", "mkdir", "mkdirat",
	"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
	"mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
	"mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync",
	"munlock", "munlockall", "munmap", "nanosleep", "newfstatat",
	"_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
	"pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
	"pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64",
	"preadv", "preadv2", "prlimit64", "pselect6", "pselect6_time64",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
	"recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
	"rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
	"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
	"rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getscheduler", "sched_rr_get_interval",
	"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
	"select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64",
	"send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
	"setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
	"setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
	"setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
	"setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
	"setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
	"sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
	"socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
	"statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
	"syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
	"timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
	"timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
	"tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
	"unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes",
	"vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
	NULL,
};

/* No database has a use for these; a process calling one is ended
 * (SIGSYS) rather than told EPERM: module loading, kexec, and
 * open_by_handle_at (the "shocker" escape). */
const char *const sandbox_killed_syscalls[] = {
	"init_module", "finit_module", "delete_module", "create_module",
	"kexec_load", "kexec_file_load", "open_by_handle_at", NULL,
};

/* Calls with argument conditions below, the killed ones, and those that
 * would undo the node's isolation: never grantable by a template. */
static const char *const never_grantable[] = {
	"clone", "clone3", "socket", "personality", "mount", "umount2",
	"pivot_root", "chroot", "unshare", "setns", "fsopen", "fsmount",
	"fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"bpf", "reboot", "kcmp", NULL,
};

/* clone() flags that create namespaces: clone is allowed only without any. */
#define CLONE_NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
			CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
#define AF_VSOCK_NR 40   /* linux/socket.h AF_VSOCK */

/* personality() values Docker allows: query (0xffffffff), PER_LINUX,
 * PER_LINUX32, UNAME26 and PER_LINUX32|UNAME26. */
const uint32_t sandbox_personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
const size_t sandbox_npersonalities = ARRAY_SIZE(sandbox_personalities);

static bool in_list(const char *const *l, const char *name)
{
	for (size_t i = 0; l[i]; i++)
		if (!strcmp(l[i], name))
			return true;
	return false;
}

int sandbox_syscalls_valid(const char *const *extra, struct err *e)
{
	for (size_t i = 0; extra && extra[i]; i++) {
		if (in_list(never_grantable, extra[i]) ||
		    in_list(sandbox_killed_syscalls, extra[i]))
			return err_set(e, EPERM, "syscall '%s' cannot be granted to a "
				       "node (it would undo the node's isolation)",
				       extra[i]);
		if (seccomp_syscall_resolve_name(extra[i]) == __NR_SCMP_ERROR)
			return err_set(e, EINVAL, "unknown syscall '%s' on this host's "
				       "architecture", extra[i]);
	}
	return 0;
}

const char *sandbox_native_arch(void)
{
	switch (seccomp_arch_native()) {
	case SCMP_ARCH_X86_64: return "SCMP_ARCH_X86_64";
	case SCMP_ARCH_AARCH64: return "SCMP_ARCH_AARCH64";
	case SCMP_ARCH_X86: return "SCMP_ARCH_X86";
	case SCMP_ARCH_ARM: return "SCMP_ARCH_ARM";
	case SCMP_ARCH_PPC64LE: return "SCMP_ARCH_PPC64LE";
	case SCMP_ARCH_S390X: return "SCMP_ARCH_S390X";
	case SCMP_ARCH_RISCV64: return "SCMP_ARCH_RISCV64";
	default: return NULL;
	}
}

/* Allow each resolvable name of l with action act. */
static int add_names(scmp_filter_ctx ctx, const char *const *l, uint32_t act,
		     struct err *e)
{
	for (size_t i = 0; l && l[i]; i++) {
		int nr = seccomp_syscall_resolve_name(l[i]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue;   /* not a syscall on this architecture */
		r = seccomp_rule_add(ctx, act, nr, 0);
		if (r < 0 && r != -EEXIST)
			return err_sys(e, -r, "seccomp rule %s", l[i]);
	}
	return 0;
}

/* SCMP_A0(op, a) with every field named (libseccomp's macro leaves datum_b
 * out, which clang's -Wmissing-field-initializers refuses in `make fuzz`). */
static struct scmp_arg_cmp arg0(enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	return (struct scmp_arg_cmp){.arg = 0, .op = op, .datum_a = a, .datum_b = b};
}

int sandbox_load_seccomp(const char *const *extra, struct err *e)
{
	scmp_filter_ctx ctx;
	int r;

	if (sandbox_syscalls_valid(extra, e) < 0)
		return -1;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));   /* native arch only */
	if (!ctx)
		return err_set(e, ENOMEM, "seccomp_init");
	if (add_names(ctx, sandbox_allowed_syscalls, SCMP_ACT_ALLOW, e) < 0 ||
	    add_names(ctx, extra, SCMP_ACT_ALLOW, e) < 0 ||
	    add_names(ctx, sandbox_killed_syscalls, SCMP_ACT_KILL_PROCESS, e) < 0)
		goto fail;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
			     arg0(SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				     arg0(SCMP_CMP_NE, AF_VSOCK_NR, 0));
	for (size_t i = 0; r == 0 && i < sandbox_npersonalities; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
				     arg0(SCMP_CMP_EQ, sandbox_personalities[i], 0));
	/* clone3 hides its flags in memory a filter cannot read: ENOSYS makes
	 * libc fall back to clone(), which the rule above checks. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return err_sys(e, -r, "seccomp load");
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

/* "CAP_NET_BIND_SERVICE", "cap_net_bind_service" or "net_bind_service". */
static int cap_from_any_name(const char *name, cap_value_t *v)
{
	_cleanup_free_ char *lower = xasprintf("%s%s", strncasecmp(name, "cap_", 4) ?
					       "cap_" : "", name);

	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	return cap_from_name(lower, v);
}

int sandbox_caps_valid(const char *const *caps, struct err *e)
{
	for (size_t i = 0; caps && caps[i]; i++) {
		cap_value_t v;

		if (cap_from_any_name(caps[i], &v) < 0)
			return err_set(e, EINVAL, "unknown capability '%s'", caps[i]);
	}
	return 0;
}

static bool cap_kept(const char *const *caps, cap_value_t v)
{
	for (size_t i = 0; caps && caps[i]; i++) {
		cap_value_t k;

		if (cap_from_any_name(caps[i], &k) == 0 && k == v)
			return true;
	}
	return false;
}

/* Capabilities in two steps around the uid change: the bounding and
 * ambient sets are cut while we still hold CAP_SETPCAP (as root), the
 * effective, permitted and inheritable sets after it. */
static int drop_bounding(const struct sandbox *sb, struct err *e)
{
	int max = (int)cap_max_bits();

	for (cap_value_t v = 0; v < max; v++)
		if (!(sb->uid == 0 && cap_kept(sb->caps, v)) && cap_drop_bound(v) < 0 &&
		    errno != EINVAL)
			return err_sys(e, errno, "drop bounding capability %d", v);
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		return err_sys(e, errno, "clear ambient capabilities");
	return 0;
}

static int set_caps(const struct sandbox *sb, struct err *e)
{
	cap_t c = cap_init();   /* all sets empty */
	int max = (int)cap_max_bits();
	int r;

	if (!c)
		return err_sys(e, errno, "cap_init");
	for (cap_value_t v = 0; v < max; v++)
		if (sb->uid == 0 && cap_kept(sb->caps, v)) {
			cap_set_flag(c, CAP_EFFECTIVE, 1, &v, CAP_SET);
			cap_set_flag(c, CAP_PERMITTED, 1, &v, CAP_SET);
		}
	r = cap_set_proc(c);   /* inheritable stays empty */
	cap_free(c);
	if (r < 0)
		return err_sys(e, errno, "set capabilities");
	return 0;
}

int sandbox_enter(const struct sandbox *sb, struct err *e)
{
	if (sb->nofile > 0) {
		struct rlimit rl = {(rlim_t)sb->nofile, (rlim_t)sb->nofile}, cur;

		/* Raising the hard limit needs CAP_SYS_RESOURCE, which a host
		 * (or the lab) may withhold from the agent: then the node gets
		 * the agent's own hard limit. */
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && errno == EPERM &&
		    getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_max < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max = cur.rlim_max;
			errno = setrlimit(RLIMIT_NOFILE, &rl) < 0 ? errno : 0;
		} else {
			errno = 0;
		}
		if (errno)
			return err_sys(e, errno, "setrlimit nofile %lld",
				       (long long)sb->nofile);
	}
	if (sb->nproc > 0) {
		struct rlimit rl = {(rlim_t)sb->nproc, (rlim_t)sb->nproc};

		if (setrlimit(RLIMIT_NPROC, &rl) < 0)
			return err_sys(e, errno, "setrlimit nproc");
	}
	if (drop_bounding(sb, e) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 1) < 0)
		return err_sys(e, errno, "keepcaps");
	if (setgroups(1, &sb->gid) < 0 || setresgid(sb->gid, sb->gid, sb->gid) < 0)
		return err_sys(e, errno, "set group %u", (unsigned)sb->gid);
	if (setresuid(sb->uid, sb->uid, sb->uid) < 0)
		return err_sys(e, errno, "set user %u", (unsigned)sb->uid);
	if (set_caps(sb, e) < 0)
		return -1;
	if (prctl(PR_SET_KEEPCAPS, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_sys(e, errno, "no_new_privs");
	return sandbox_load_seccomp(sb->syscalls, e);
}

void sandbox_close_fds_from(int from)
{
	if (close_range((unsigned)from, ~0U, 0) == 0)
		return;
	for (int fd = from; fd < 65536; fd++)
		close(fd);
}

/* ---- users ----------------------------------------------------------------- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

int sandbox_resolve_user(const char *spec, FILE *passwd, FILE *group,
			 uid_t *uid, gid_t *gid, char **home, struct err *e)
{
	_cleanup_free_ char *copy = xstrdup(spec ? spec : "");
	char *gpart = strchr(copy, ':');
	const char *upart = copy;
	bool have_gid = false;
	struct passwd *pw;

	*uid = 0;
	*gid = 0;
	*home = xstrdup("/");
	if (gpart)
		*gpart++ = '\0';
	if (!*upart && !gpart)
		return 0;
	if (passwd)
		rewind(passwd);
	while (passwd && (pw = fgetpwent(passwd))) {
		if (!strcmp(pw->pw_name, upart) ||
		    (all_digits(upart) && pw->pw_uid == strtoul(upart, NULL, 10))) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
			free(*home);
			*home = xstrdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
			have_gid = true;
			goto group;
		}
	}
	if (!all_digits(upart))
		return err_set(e, ENOENT, "user '%s' not in the image's /etc/passwd", upart);
	*uid = (uid_t)strtoul(upart, NULL, 10);
group:
	if (!gpart) {
		if (!have_gid)
			*gid = 0;
		return 0;
	}
	if (group)
		rewind(group);
	struct group *gr;

	while (group && (gr = fgetgrent(group)))
		if (!strcmp(gr->gr_name, gpart)) {
			*gid = gr->gr_gid;
			return 0;
		}
	if (!all_digits(gpart))
		return err_set(e, ENOENT, "group '%s' not in the image's /etc/group", gpart);
	*gid = (gid_t)strtoul(gpart, NULL, 10);
	return 0;
}

/* ---- paths inside a root --------------------------------------------------- */

int sandbox_open_in_root(int rootfd, const char *rel, int flags, mode_t mode,
			 struct err *e)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	while (*rel == '/')
		rel++;
	fd = (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof how);
	if (fd < 0)
		return err_sys(e, errno, "open /%s in the node root", rel);
	return fd;
}

int sandbox_mkdir_in_root(int rootfd, const char *rel, mode_t mode,
			  struct err *e)
{
	_cleanup_free_ char *path = xstrdup(rel);
	char *p = path;

	while (*p == '/')
		p++;
	for (char *slash = p;; slash++) {
		if (*slash != '/' && *slash != '\0')
			continue;
		char saved = *slash;
		int fd;

		*slash = '\0';
		fd = sandbox_open_in_root(rootfd, p, O_PATH | O_DIRECTORY, 0, e);
		if (fd < 0 && e->code == ENOENT) {
			char *last = strrchr(p, '/');
			_cleanup_close_ int parent = -1;

			if (last)
				*last = '\0';
			parent = sandbox_open_in_root(rootfd, last ? p : "",
						      O_PATH | O_DIRECTORY, 0, e);
			if (last)
				*last = '/';
			if (parent < 0)
				return -1;
			if (mkdirat(parent, last ? last + 1 : p, mode) < 0 &&
			    errno != EEXIST)
				return err_sys(e, errno, "mkdir /%s in the node root", p);
			fd = sandbox_open_in_root(rootfd, p, O_PATH | O_DIRECTORY, 0, e);
		}
		*slash = saved;
		if (fd < 0)
			return -1;
		if (saved == '\0')
			return fd;
		close(fd);
	}
}
