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

const char *const sandbox_denied_syscalls[] = {
	/* mounts and the filesystem tree */
	"mount", "umount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig",
	"fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	/* namespaces */
	"unshare", "setns",
	/* kernel modules, kexec, reboot */
	"init_module", "finit_module", "delete_module", "create_module",
	"kexec_load", "kexec_file_load", "reboot",
	/* tracing and introspection of other processes */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"perf_event_open", "lookup_dcookie",
	/* kernel keyrings, bpf, userfaultfd */
	"keyctl", "add_key", "request_key", "bpf", "userfaultfd",
	/* clocks */
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	/* host-wide knobs */
	"swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog",
	"iopl", "ioperm", "vhangup", "nfsservctl", "_sysctl", "sysfs", "ustat",
	"uselib", "get_kernel_syms", "query_module",
	/* file handles bypass path checks */
	"open_by_handle_at", "name_to_handle_at",
	NULL,
};

/* clone() flags that create namespaces: refused like unshare(). */
static const int clone_ns_flags[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC,
				     CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
				     CLONE_NEWCGROUP};

static int load_seccomp(struct err *e)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!ctx)
		return err_set(e, ENOMEM, "seccomp_init");
	for (size_t i = 0; sandbox_denied_syscalls[i]; i++) {
		int nr = seccomp_syscall_resolve_name(sandbox_denied_syscalls[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;   /* not a syscall on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0 && r != -EEXIST) {
			seccomp_release(ctx);
			return err_sys(e, -r, "seccomp rule %s", sandbox_denied_syscalls[i]);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(clone_ns_flags); i++) {
		scmp_datum_t f = (scmp_datum_t)clone_ns_flags[i];

		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (r < 0) {
			seccomp_release(ctx);
			return err_sys(e, -r, "seccomp rule clone");
		}
	}
	/* clone3 hides its flags in memory a filter cannot read: ENOSYS makes
	 * libc fall back to clone(), which the rules above check. */
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return err_sys(e, -r, "seccomp load");
	return 0;
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
	return load_seccomp(e);
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
