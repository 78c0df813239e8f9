/* runtime_builtin.c - shoal's own container runtime.
 *
 * The agent clone3()s the node's init straight into new mount, pid, uts and
 * ipc namespaces (the host's network: nodes bind the host's address).  That
 * child builds the node's filesystem inside its own mount namespace - the
 * overlay root, /proc, a minimal /dev, read-only /sys, Docker's masked and
 * read-only /proc paths, the data bind mount - pivots into it, enters the
 * sandbox (sandbox.h) and executes the entrypoint directly.  The agent binary
 * is never executed inside the node (runc CVE-2019-5736: /proc/<pid>/exe of a
 * node process is always the node's own program) and no descriptor of the
 * agent survives the exec (close_range; CVE-2024-21626).
 *
 * Every mount target inside the node's root is resolved with openat2
 * RESOLVE_IN_ROOT and mounted through its /proc/self/fd path, so a symlink in
 * the image cannot redirect a mount to the host (CVE-2021-30465).
 *
 * Setup errors travel back over a close-on-exec pipe: the agent reads EOF
 * when the exec succeeded, or the child's struct err when it did not.  The
 * agent watches that pipe from its loop (node.c), so a slow setup (a copied
 * root without overlayfs) or a stuck one never holds the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "node.h"
#include "rootfs.h"
#include "runtime.h"
#include "sandbox.h"

/* Device nodes bound from the host into the node's /dev. */
static const char *const dev_nodes[] = {"null", "zero", "full", "random",
					"urandom", "tty"};
/* Docker's masked paths: files hidden behind /dev/null, folders behind an
 * empty read-only tmpfs. */
static const char *const masked_proc[] = {"kcore", "keys", "timer_list",
					  "sched_debug", "latency_stats",
					  "timer_stats", "acpi", "scsi"};
static const char *const readonly_proc[] = {"asound", "bus", "fs", "irq", "sys",
					    "sysrq-trigger"};

struct child {
	struct agent *a;
	struct node *n;
	const char *rootfs;       /* mount point of the node's root */
	int log_fd, err_fd;
	int go_fd;                /* read end: one byte once in the cgroups */
};

static int do_mount(const char *src, const char *target, const char *type,
		    unsigned long flags, const char *data, const char *what,
		    struct err *e)
{
	if (mount(src, target, type, flags, data) < 0)
		return err_sys(e, errno, "mount %s", what);
	return 0;
}

/* Mount on an fd's path (O_PATH fds name the exact object resolved). */
static int mount_on_fd(const char *src, int fd, const char *type,
		       unsigned long flags, const char *data, const char *what,
		       struct err *e)
{
	char target[64];

	snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
	return do_mount(src, target, type, flags, data, what, e);
}

/* Bind dirfd/name onto itself, then make that new mount read-only. */
static int remount_ro(int dirfd, const char *name, struct err *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int again = -1;
	char path[64];

	if (fd < 0)
		return 0;   /* not on this kernel */
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if (do_mount(path, path, NULL, MS_BIND | MS_REC, NULL, name, e) < 0)
		return -1;
	/* An fd keeps naming the object under the old mount: look it up
	 * again to reach the new one. */
	again = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (again < 0)
		return err_sys(e, errno, "reopen %s", name);
	return mount_on_fd(NULL, again, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY |
			   MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, name, e);
}

static int mount_dir_in_root(int rootfd, const char *rel, const char *src,
			     const char *type, unsigned long flags,
			     const char *data, struct err *e)
{
	int fd = sandbox_mkdir_in_root(rootfd, rel, 0755, e);
	int rc;

	if (fd < 0)
		return -1;
	rc = mount_on_fd(src, fd, type, flags, data, rel, e);
	close(fd);
	return rc;
}

/* /dev: a small tmpfs with the host's harmless devices bound in, a private
 * devpts instance and a /dev/shm tmpfs. */
static int setup_dev(int rootfd, struct err *e)
{
	_cleanup_close_ int devfd = -1;

	if (mount_dir_in_root(rootfd, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC,
			      "mode=755,size=65536k", e) < 0)
		return -1;
	devfd = sandbox_open_in_root(rootfd, "dev", O_PATH | O_DIRECTORY, 0, e);
	if (devfd < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		_cleanup_free_ char *src = path_join("/dev", dev_nodes[i]);
		int fd = openat(devfd, dev_nodes[i],
				O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);

		if (fd < 0)
			return err_sys(e, errno, "create /dev/%s", dev_nodes[i]);
		close(fd);
		fd = openat(devfd, dev_nodes[i], O_PATH | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || mount_on_fd(src, fd, NULL, MS_BIND, NULL, src, e) < 0) {
			if (fd >= 0)
				close(fd);
			return fd < 0 ? err_sys(e, errno, "open /dev/%s", dev_nodes[i]) : -1;
		}
		close(fd);
	}
	if (mount_dir_in_root(rootfd, "dev/pts", "devpts", "devpts",
			      MS_NOSUID | MS_NOEXEC,
			      "newinstance,ptmxmode=0666,mode=0620", e) < 0 ||
	    mount_dir_in_root(rootfd, "dev/shm", "shm", "tmpfs",
			      MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k",
			      e) < 0)
		return -1;
	if (symlinkat("pts/ptmx", devfd, "ptmx") < 0 ||
	    symlinkat("/proc/self/fd", devfd, "fd") < 0 ||
	    symlinkat("/proc/self/fd/0", devfd, "stdin") < 0 ||
	    symlinkat("/proc/self/fd/1", devfd, "stdout") < 0 ||
	    symlinkat("/proc/self/fd/2", devfd, "stderr") < 0)
		return err_sys(e, errno, "symlinks in /dev");
	return 0;
}

/* /proc (fresh, this pid namespace), its masked and read-only paths. */
static int setup_proc(int rootfd, struct err *e)
{
	_cleanup_close_ int procfd = -1;

	if (mount_dir_in_root(rootfd, "proc", "proc", "proc",
			      MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, e) < 0)
		return -1;
	procfd = sandbox_open_in_root(rootfd, "proc", O_PATH | O_DIRECTORY, 0, e);
	if (procfd < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(masked_proc); i++) {
		struct stat st;
		int fd = openat(procfd, masked_proc[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
		int rc;

		if (fd < 0)
			continue;   /* not on this kernel */
		if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
			rc = mount_on_fd("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID |
					 MS_NODEV | MS_NOEXEC, "size=0", masked_proc[i], e);
		else
			rc = mount_on_fd("/dev/null", fd, NULL, MS_BIND, NULL,
					 masked_proc[i], e);
		close(fd);
		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(readonly_proc); i++)
		if (remount_ro(procfd, readonly_proc[i], e) < 0)
			return -1;
	return 0;
}

/* /sys read-only, /sys/firmware hidden. */
static int setup_sys(int rootfd, struct err *e)
{
	const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	int fd;

	if (mount_dir_in_root(rootfd, "sys", "sysfs", "sysfs", ro, NULL, e) < 0)
		return -1;
	fd = sandbox_open_in_root(rootfd, "sys/firmware", O_PATH | O_DIRECTORY, 0, e);
	if (fd >= 0) {
		int rc = mount_on_fd("tmpfs", fd, "tmpfs", ro, "size=0", "sys/firmware", e);

		close(fd);
		return rc;
	}
	return 0;
}

static int enter_root(const char *rootfs, struct err *e)
{
	if (chdir(rootfs) < 0)
		return err_sys(e, errno, "chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_sys(e, errno, "pivot_root");
	/* The old root is stacked under the new one: detach it. */
	if (umount2(".", MNT_DETACH) < 0)
		return err_sys(e, errno, "detach the host root");
	if (chdir("/") < 0)
		return err_sys(e, errno, "chdir /");
	return 0;
}

static void reset_signals(void)
{
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static __attribute__((noreturn)) void child_fail(int fd, struct err *e)
{
	if (write(fd, e, sizeof *e) < 0)
		_exit(126);
	_exit(127);
}

/* Runs in the clone: never returns. */
static __attribute__((noreturn)) void child_main(struct child *c)
{
	struct node *n = c->n;
	struct node_spec *sp = &n->spec;
	struct sandbox sb;
	struct err e = {0};
	_cleanup_close_ int rootfd = -1;
	extern char **environ;
	int null;

	reset_signals();
	if (setsid() < 0) {
		err_sys(&e, errno, "setsid");
		child_fail(c->err_fd, &e);
	}
	if (sethostname(sp->hostname, strlen(sp->hostname)) < 0) {
		err_sys(&e, errno, "sethostname");
		child_fail(c->err_fd, &e);
	}
	if (rootfs_prepare(c->a, n, &e) < 0 ||
	    do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, "/ private", &e) < 0 ||
	    rootfs_mount(c->a, n, c->rootfs, &e) < 0)
		child_fail(c->err_fd, &e);
	_cleanup_free_ char *data = path_join(n->dir, "data");

	rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		err_sys(&e, errno, "open %s", c->rootfs);
		child_fail(c->err_fd, &e);
	}
	if (setup_proc(rootfd, &e) < 0 || setup_dev(rootfd, &e) < 0 ||
	    setup_sys(rootfd, &e) < 0 ||
	    mount_dir_in_root(rootfd, sp->data_path, data, NULL, MS_BIND | MS_REC,
			      NULL, &e) < 0 ||
	    mount_dir_in_root(rootfd, sp->data_path, NULL, NULL, MS_BIND |
			      MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL, &e) < 0)
		child_fail(c->err_fd, &e);
	close(rootfd);
	rootfd = -1;
	if (enter_root(c->rootfs, &e) < 0)
		child_fail(c->err_fd, &e);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(c->log_fd, 1) < 0 ||
	    dup2(c->log_fd, 2) < 0) {
		err_sys(&e, errno, "stdio");
		child_fail(c->err_fd, &e);
	}
	if (mkdir_p(sp->workdir, 0755, &e) < 0 || chdir(sp->workdir) < 0) {
		if (!e.msg[0])
			err_sys(&e, errno, "chdir %s", sp->workdir);
		child_fail(c->err_fd, &e);
	}
	/* Nothing of the node may run before it is in its cgroups. */
	char go;

	if (read(c->go_fd, &go, 1) != 1) {
		err_set(&e, EIO, "the agent could not place the node in its cgroups");
		child_fail(c->err_fd, &e);
	}
	node_sandbox(n, &sb);
	if (sandbox_enter(&sb, &e) < 0)
		child_fail(c->err_fd, &e);
	/* Only the error pipe (close-on-exec) survives, as fd 3. */
	if (c->err_fd != 3) {
		if (dup3(c->err_fd, 3, O_CLOEXEC) < 0)
			_exit(127);
		c->err_fd = 3;
	}
	sandbox_close_fds_from(4);
	environ = sp->env;
	execvp(sp->argv[0], sp->argv);
	err_sys(&e, errno, "exec %s", sp->argv[0]);
	child_fail(c->err_fd, &e);
}

/* Put pid into the node's cgroups (one cgroup.procs per hierarchy). */
static int join_cgroups(const int fds[CG_NCTRL], pid_t pid, struct err *e)
{
	char v[32];
	int n = snprintf(v, sizeof v, "%d", (int)pid);

	for (int i = 0; i < CG_NCTRL; i++)
		if (fds[i] >= 0 && write(fds[i], v, (size_t)n) != n)
			return err_sys(e, errno, "move the node into its cgroups");
	return 0;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* The child builds the node's root and mounts while the agent moves it into
 * its cgroups (on cgroup v1 a move waits for an RCU grace period, often the
 * longest step of a start); it executes the entrypoint only after a byte on
 * the go pipe says the move is done.  The agent does not wait for the exec:
 * p->err_fd tells (see runtime.h). */
static int builtin_start(struct agent *a, struct node *n, int log_fd,
			 struct runtime_proc *p, struct err *e)
{
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");
	struct child c = {.a = a, .n = n, .rootfs = rootfs, .log_fd = log_fd};
	int cg_fds[CG_NCTRL], errp[2] = {-1, -1}, gop[2] = {-1, -1};
	int pidfd = -1, status, rc = -1;
	struct clone_args ca;
	struct err cge = {0};
	pid_t pid;

	if (cgroup_node_create(&a->cg, n->id, &n->spec.limits, cg_fds, e) < 0)
		return -1;
	if (pipe2(errp, O_CLOEXEC) < 0 || pipe2(gop, O_CLOEXEC) < 0) {
		err_sys(e, errno, "pipe");
		goto out;
	}
	c.err_fd = errp[1];
	c.go_fd = gop[0];
	memset(&ca, 0, sizeof ca);
	ca.flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
	ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
	ca.exit_signal = SIGCHLD;
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof ca);
	if (pid == 0) {
		close(errp[0]);
		close(gop[1]);
		child_main(&c);
	}
	if (pid < 0) {
		err_sys(e, errno, "clone3");
		goto out;
	}
	close(errp[1]);
	close(gop[0]);
	errp[1] = gop[0] = -1;
	if (join_cgroups(cg_fds, pid, &cge) < 0 || write(gop[1], "g", 1) != 1) {
		if (!cge.msg[0])
			err_sys(&cge, errno, "start the node");
		*e = cge;
		/* Not yet past its mounts: SIGKILL ends it at once. */
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		close(pidfd);
		goto out;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	p->pid = 0;
	p->waiter = pid;
	p->waiter_fd = pidfd;
	p->err_fd = errp[0];
	errp[0] = -1;
	rc = 0;
out:
	close_fds(cg_fds, CG_NCTRL);
	close_fds(errp, 2);
	close_fds(gop, 2);
	return rc;
}

/* The exec happened (err_fd ended): the clone is the node's init. */
static int builtin_started(struct agent *a, struct node *n, struct runtime_proc *p,
			   struct err *e)
{
	p->pid = p->waiter;
	return 1;
}

static void builtin_start_failed(struct agent *a, struct node *n, struct err *e)
{
	/* Its mounts were in its own namespace and went with it. */
}

static void builtin_cleanup(struct agent *a, struct node *n)
{
	/* The node's mounts lived in its own mount namespace and went with it;
	 * its pid namespace took every process.  Nothing to undo. */
}

const struct runtime_ops runtime_builtin = {
	.name = "builtin",
	.start = builtin_start,
	.started = builtin_started,
	.start_failed = builtin_start_failed,
	.cleanup = builtin_cleanup,
};
