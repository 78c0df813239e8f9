/* runtime_oci.c - nodes run by an OCI runtime (runc, crun).
 *
 * The node description becomes an OCI runtime bundle: <node>/bundle/
 * config.json with the same namespaces (no network namespace), mounts,
 * masked and read-only paths, capabilities, rlimits, no_new_privs, cgroup
 * limits and seccomp allow list as the builtin runtime.  The root is the
 * node's overlay, mounted at <node>/rootfs.  `<rt> run` stays in the
 * foreground as the agent's child: its exit status is the node's.
 *
 * The agent never waits here: a forked child prepares the root, clears what
 * an earlier run left (`<rt> delete`), mounts the root, writes config.json
 * and executes `<rt> run`; the agent's loop watches its setup pipe, its
 * pidfd and the pid file (node.c: the start job, with its deadline).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "node.h"
#include "proc.h"
#include "rootfs.h"
#include "runtime.h"
#include "sandbox.h"

#define HELPER_TIMEOUT_MS 10000

const char *runtime_oci_unusable(const struct agent *a, const char *name)
{
	if (!strcmp(name, "crun") && a->cg.mode == CGROUP_HYBRID)
		return "crun refuses hybrid cgroup hosts (v1 controllers plus a "
		       "unified hierarchy): 'cgroups in hybrid mode not supported'";
	return NULL;
}

const struct runtime_ops *runtime_find(const struct agent *a, const char *name,
				       struct err *e)
{
	const struct runtime_ops *oci = !strcmp(name, "runc") ? &runtime_runc :
					!strcmp(name, "crun") ? &runtime_crun : NULL;
	_cleanup_free_ char *path = NULL;
	const char *why;

	if (!oci) {
		if (geteuid() != 0)
			return err_set(e, ENOTSUP, "runtime builtin needs root"), NULL;
		return &runtime_builtin;
	}
	path = proc_which(name);
	if (!path)
		return err_set(e, ENOTSUP, "runtime %s is not installed on this host",
			       name), NULL;
	why = runtime_oci_unusable(a, name);
	if (why)
		return err_set(e, ENOTSUP, "runtime %s: %s", name, why), NULL;
	return oci;
}

/* ---- config.json ----------------------------------------------------------- */

static json_t *str_array(const char *const *v)
{
	json_t *a = json_array();

	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *src,
			   const char *const *opts)
{
	return json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", type,
			 "source", src, "options", str_array(opts));
}

static json_t *oci_caps(const struct node *n)
{
	json_t *keep = json_array();

	for (size_t i = 0; n->spec.uid == 0 && n->spec.caps && n->spec.caps[i]; i++) {
		const char *c = n->spec.caps[i];
		_cleanup_free_ char *up = xasprintf("%s%s", strncasecmp(c, "cap_", 4) ? "CAP_" : "", c);

		for (char *p = up; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		json_array_append_new(keep, json_string(up));
	}
	return json_pack("{s:O,s:O,s:O,s:[],s:[]}", "bounding", keep, "effective",
			 keep, "permitted", keep, "inheritable", "ambient");
}

/* The builtin runtime's filter (sandbox.h) in runc's terms: allow list,
 * EPERM for everything else, native architecture only. */
static json_t *oci_seccomp(const struct node *n)
{
	const char *arch = sandbox_native_arch();
	json_t *rules = json_array(), *allow = str_array(sandbox_allowed_syscalls);

	for (size_t i = 0; n->spec.syscalls && n->spec.syscalls[i]; i++)
		json_array_append_new(allow, json_string(n->spec.syscalls[i]));
	json_array_append_new(rules, json_pack("{s:o,s:s}", "names", allow,
					       "action", "SCMP_ACT_ALLOW"));
	json_array_append_new(rules, json_pack("{s:o,s:s}", "names",
					       str_array(sandbox_killed_syscalls),
					       "action", "SCMP_ACT_KILL_PROCESS"));
	json_array_append_new(rules, json_pack(
		"{s:[s],s:s,s:[{s:i,s:I,s:I,s:s}]}", "names", "clone",
		"action", "SCMP_ACT_ALLOW", "args", "index", 0,
		"value", (json_int_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
				      CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
				      CLONE_NEWCGROUP),
		"valueTwo", (json_int_t)0, "op", "SCMP_CMP_MASKED_EQ"));
	json_array_append_new(rules, json_pack(
		"{s:[s],s:s,s:[{s:i,s:I,s:s}]}", "names", "socket",
		"action", "SCMP_ACT_ALLOW", "args", "index", 0,
		"value", (json_int_t)40 /* AF_VSOCK */, "op", "SCMP_CMP_NE"));
	for (size_t i = 0; i < sandbox_npersonalities; i++)
		json_array_append_new(rules, json_pack(
			"{s:[s],s:s,s:[{s:i,s:I,s:s}]}", "names", "personality",
			"action", "SCMP_ACT_ALLOW", "args", "index", 0,
			"value", (json_int_t)sandbox_personalities[i], "op", "SCMP_CMP_EQ"));
	json_array_append_new(rules, json_pack("{s:[s],s:s,s:i}", "names", "clone3",
					       "action", "SCMP_ACT_ERRNO", "errnoRet",
					       ENOSYS));
	return json_pack("{s:s,s:i,s:[s*],s:o}", "defaultAction", "SCMP_ACT_ERRNO",
			 "defaultErrnoRet", EPERM, "architectures", arch,
			 "syscalls", rules);
}

static bool has_sys_resource(void)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (c) {
		cap_get_flag(c, CAP_SYS_RESOURCE, CAP_EFFECTIVE, &v);
		cap_free(c);
	}
	return v == CAP_SET;
}

static json_t *oci_config(const struct agent *a, const struct node *n,
			  const char *rootfs)
{
	static const char *const proc_opts[] = {"nosuid", "noexec", "nodev", NULL};
	static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755",
					       "size=65536k", NULL};
	static const char *const pts_opts[] = {"nosuid", "noexec", "newinstance",
					       "ptmxmode=0666", "mode=0620", NULL};
	static const char *const shm_opts[] = {"nosuid", "noexec", "nodev",
					       "mode=1777", "size=65536k", NULL};
	static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro", NULL};
	static const char *const bind_opts[] = {"rbind", "rw", "nosuid", "nodev", NULL};
	static const char *const masked[] = {
		"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
		"/proc/latency_stats", "/proc/timer_stats", "/proc/acpi",
		"/proc/scsi", "/sys/firmware", NULL};
	static const char *const readonly[] = {"/proc/asound", "/proc/bus", "/proc/fs",
					       "/proc/irq", "/proc/sys",
					       "/proc/sysrq-trigger", NULL};
	const struct node_spec *sp = &n->spec;
	_cleanup_free_ char *data = path_join(n->dir, "data");
	struct rlimit hard;
	json_int_t nofile = sp->nofile;
	_cleanup_free_ char *cgpath = cgroup_node_oci_path(&a->cg, n->id);
	json_t *mounts = json_array(), *res = json_object();

	/* As in the builtin runtime: without CAP_SYS_RESOURCE the agent's own
	 * hard limit is the ceiling. */
	if (getrlimit(RLIMIT_NOFILE, &hard) == 0 && hard.rlim_max != RLIM_INFINITY &&
	    (geteuid() != 0 || !has_sys_resource()) && (rlim_t)nofile > hard.rlim_max)
		nofile = (json_int_t)hard.rlim_max;
	json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", proc_opts));
	json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs", dev_opts));
	json_array_append_new(mounts, mount_entry("/dev/pts", "devpts", "devpts", pts_opts));
	json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm", shm_opts));
	json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs", sys_opts));
	json_array_append_new(mounts, mount_entry(sp->data_path, "bind", data, bind_opts));
	if (sp->limits.memory)
		json_object_set_new(res, "memory", json_pack("{s:I,s:I}", "limit",
				    (json_int_t)sp->limits.memory, "swap",
				    (json_int_t)sp->limits.memory));
	if (sp->limits.cpu_millis)
		json_object_set_new(res, "cpu", json_pack("{s:I,s:I}", "quota",
				    (json_int_t)sp->limits.cpu_millis * 100, "period",
				    (json_int_t)100000));
	if (sp->limits.pids)
		json_object_set_new(res, "pids", json_pack("{s:I}", "limit",
				    (json_int_t)sp->limits.pids));
	return json_pack(
		"{s:s,s:{s:b,s:{s:I,s:I,s:[I]},s:o,s:o,s:s,s:o,s:[{s:s,s:I,s:I}],s:b},"
		"s:{s:s,s:b},s:s,s:o,"
		"s:{s:[{s:s},{s:s},{s:s},{s:s}],s:s,s:o,s:o,s:o,s:o}}",
		"ociVersion", "1.0.2",
		"process", "terminal", 0, "user", "uid", (json_int_t)sp->uid, "gid",
		(json_int_t)sp->gid, "additionalGids", (json_int_t)sp->gid,
		"args", str_array((const char *const *)sp->argv),
		"env", str_array((const char *const *)sp->env), "cwd", sp->workdir,
		"capabilities", oci_caps(n), "rlimits", "type", "RLIMIT_NOFILE",
		"hard", nofile, "soft", nofile,
		"noNewPrivileges", 1,
		"root", "path", rootfs, "readonly", 0,
		"hostname", sp->hostname, "mounts", mounts,
		"linux", "namespaces", "type", "pid", "type", "ipc", "type", "uts",
		"type", "mount", "cgroupsPath", cgpath, "resources", res,
		"maskedPaths", str_array(masked), "readonlyPaths", str_array(readonly),
		"seccomp", oci_seccomp(n));
}

/* ---- running --------------------------------------------------------------- */

static void oci_delete(const char *rt, const char *id)
{
	_cleanup_free_ char *path = proc_which(rt);
	struct err e;

	if (path)
		proc_run((const char *[]){path, "delete", "--force", id, NULL},
			 HELPER_TIMEOUT_MS, NULL, &e);
}

/* Runs in the forked child: everything before `<rt> run`.  Returns only on
 * failure, with e filled. */
static void oci_child(struct agent *a, struct node *n, int log_fd, int err_fd,
		      const char *bin, const char *rt, bool keep, const char *cfg_text,
		      struct err *e)
{
	_cleanup_free_ char *bundle = path_join(n->dir, "bundle");
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");
	_cleanup_free_ char *cfg_path = path_join(bundle, "config.json");
	_cleanup_free_ char *pidfile = path_join(bundle, "pid");
	_cleanup_free_ char *rt_log = path_join(bundle, "runtime.log");
	int null = open("/dev/null", O_RDONLY);
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (setsid() < 0 || null < 0) {
		err_sys(e, errno, "setsid");
		return;
	}
	if (rootfs_prepare(a, n, e) < 0)
		return;
	rootfs_unmount(rootfs);
	oci_delete(rt, n->id);
	if (rootfs_mount(a, n, rootfs, e) < 0)
		return;
	if (write_file_atomic(cfg_path, cfg_text, strlen(cfg_text), 0600, e) < 0) {
		rootfs_unmount(rootfs);
		return;
	}
	/* Only the setup pipe (close-on-exec) survives, as fd 3. */
	if (dup2(null, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0 ||
	    (err_fd != 3 && dup3(err_fd, 3, O_CLOEXEC) < 0)) {
		err_sys(e, errno, "stdio");
		rootfs_unmount(rootfs);
		return;
	}
	sandbox_close_fds_from(4);
	if (keep)
		execl(bin, rt, "--log", rt_log, "run", "--keep", "--bundle", bundle,
		      "--pid-file", pidfile, n->id, (char *)NULL);
	else
		execl(bin, rt, "--log", rt_log, "run", "--bundle", bundle,
		      "--pid-file", pidfile, n->id, (char *)NULL);
	err_sys(e, errno, "exec %s", bin);
	rootfs_unmount(rootfs);
}

/* keep: the runtime keeps the ended container, cgroup included, until
 * `delete` (runc --keep), so its OOM count can still be read at exit. */
static int oci_start(struct agent *a, struct node *n, int log_fd,
		     struct runtime_proc *p, const char *rt, bool keep, struct err *e)
{
	_cleanup_free_ char *bundle = path_join(n->dir, "bundle");
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");
	_cleanup_free_ char *pidfile = path_join(bundle, "pid");
	_cleanup_free_ char *rt_log = path_join(bundle, "runtime.log");
	_cleanup_free_ char *bin = proc_which(rt);
	_cleanup_free_ char *text = NULL;
	int errp[2], pidfd;
	json_t *cfg;
	pid_t pid;

	if (!bin)
		return err_set(e, ENOTSUP, "runtime %s is not installed", rt);
	if (mkdir_p(bundle, 0700, e) < 0)
		return -1;
	unlink(pidfile);
	unlink(rt_log);
	cfg = oci_config(a, n, rootfs);
	text = json_dumps(cfg, JSON_INDENT(2));
	json_decref(cfg);
	if (pipe2(errp, O_CLOEXEC) < 0)
		return err_sys(e, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		close(errp[0]);
		close(errp[1]);
		return err_sys(e, errno, "fork");
	}
	if (pid == 0) {
		struct err ce = {0};

		close(errp[0]);
		oci_child(a, n, log_fd, errp[1], bin, rt, keep, text, &ce);
		/* errp[1], or fd 3 once the setup moved it there. */
		if (write(errp[1], &ce, sizeof ce) < 0 && write(3, &ce, sizeof ce) < 0)
			_exit(126);
		_exit(127);
	}
	close(errp[1]);
	pidfd = proc_pidfd_open(pid, e);
	if (pidfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(errp[0]);
		return -1;
	}
	p->pid = 0;
	p->waiter = pid;
	p->waiter_fd = pidfd;
	p->err_fd = errp[0];
	return 0;
}

/* `<rt> run` writes the pid file once the node's init runs. */
static int oci_started(struct agent *a, struct node *n, struct runtime_proc *p,
		       struct err *e)
{
	_cleanup_free_ char *pidfile = path_join(n->dir, "bundle/pid");
	_cleanup_free_ char *text = NULL;
	struct err ig;

	if (read_file(pidfile, 64, &text, NULL, &ig) == 0 && atoi(text) > 1) {
		p->pid = (pid_t)atoi(text);
		return 1;
	}
	return 0;
}

/* The last line of the runtime's own log says why; the root goes. */
static void oci_start_failed(struct agent *a, struct node *n, struct err *e)
{
	_cleanup_free_ char *rt_log = path_join(n->dir, "bundle/runtime.log");
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");
	_cleanup_free_ char *log = NULL;
	struct err ig;

	if (e && read_file(rt_log, 64 * 1024, &log, NULL, &ig) == 0 && *log) {
		char *end = log + strlen(log);

		while (end > log && end[-1] == '\n')
			*--end = '\0';
		char *last = strrchr(log, '\n');

		err_wrap(e, "%s: %.400s", n->rt ? n->rt->name : "runtime",
			 last ? last + 1 : log);
	}
	rootfs_unmount(rootfs);
}

static void oci_cleanup(struct agent *a, struct node *n, const char *rt)
{
	_cleanup_free_ char *rootfs = path_join(n->dir, "rootfs");

	oci_delete(rt, n->id);
	rootfs_unmount(rootfs);
}

static int runc_start(struct agent *a, struct node *n, int log_fd,
		      struct runtime_proc *p, struct err *e)
{
	return oci_start(a, n, log_fd, p, "runc", true, e);
}

static void runc_cleanup(struct agent *a, struct node *n)
{
	oci_cleanup(a, n, "runc");
}

static int crun_start(struct agent *a, struct node *n, int log_fd,
		      struct runtime_proc *p, struct err *e)
{
	/* crun 1.8 has no --keep: an OOM kill is seen live only. */
	return oci_start(a, n, log_fd, p, "crun", false, e);
}

static void crun_cleanup(struct agent *a, struct node *n)
{
	oci_cleanup(a, n, "crun");
}

const struct runtime_ops runtime_runc = {
	.name = "runc",
	.start = runc_start,
	.started = oci_started,
	.start_failed = oci_start_failed,
	.cleanup = runc_cleanup,
};

const struct runtime_ops runtime_crun = {
	.name = "crun",
	.start = crun_start,
	.started = oci_started,
	.start_failed = oci_start_failed,
	.cleanup = crun_cleanup,
};
