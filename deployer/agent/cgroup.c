/* cgroup.c - node cgroups: detection, v1 and v2 backends (see cgroup.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mntent.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "log.h"
#include "util.h"

static const char *const ctrl_names[CG_NCTRL] = {"memory", "cpu", "pids"};

/* One layout's files.  Both write limits through apply_limits(). */
struct cgroup_ops {
	const char *memory_max;  /* bytes */
	const char *swap_max;    /* optional: swap capped too, so a hog is
				  * OOM-killed rather than swapped out */
	bool swap_includes_memory; /* v1 memsw counts memory + swap */
	/* CPU quota: v1 writes period and quota apart, v2 "quota period". */
	int (*cpu)(const char *dir, int64_t millis, struct err *e);
	const char *oom_file;    /* holds "oom_kill N" */
	const char *kill_file;   /* writing "1" kills every member, or NULL */
};

const char *cgroup_mode_name(enum cgroup_mode m)
{
	switch (m) {
	case CGROUP_V1: return "v1";
	case CGROUP_HYBRID: return "hybrid";
	case CGROUP_V2: return "v2";
	case CGROUP_NONE: break;
	}
	return "none";
}

static int write_str(const char *dir, const char *file, const char *val,
		     struct err *e)
{
	_cleanup_free_ char *p = path_join(dir, file);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
	size_t n = strlen(val);

	if (fd < 0)
		return err_sys(e, errno, "cgroup %s", p);
	if (write(fd, val, n) != (ssize_t)n)
		return err_sys(e, errno, "cgroup write '%s' to %s", val, p);
	return 0;
}

static int v1_cpu(const char *dir, int64_t millis, struct err *e)
{
	char v[32];

	snprintf(v, sizeof v, "%" PRId64, millis * 100);
	if (write_str(dir, "cpu.cfs_period_us", "100000", e) < 0)
		return -1;
	return write_str(dir, "cpu.cfs_quota_us", v, e);
}

static int v2_cpu(const char *dir, int64_t millis, struct err *e)
{
	char v[48];

	snprintf(v, sizeof v, "%" PRId64 " 100000", millis * 100);
	return write_str(dir, "cpu.max", v, e);
}

static const struct cgroup_ops v1_ops = {
	.memory_max = "memory.limit_in_bytes",
	.swap_max = "memory.memsw.limit_in_bytes",
	.swap_includes_memory = true,
	.cpu = v1_cpu,
	.oom_file = "memory.oom_control",
	.kill_file = NULL,
};

static const struct cgroup_ops v2_ops = {
	.memory_max = "memory.max",
	.swap_max = "memory.swap.max",
	.swap_includes_memory = false,
	.cpu = v2_cpu,
	.oom_file = "memory.events",
	.kill_file = "cgroup.kill",
};

static int apply_limits(const struct cgroup_ops *o, char *const dirs[CG_NCTRL],
			const struct cgroup_limits *l, struct err *e)
{
	char v[32];

	if (l->memory) {
		snprintf(v, sizeof v, "%" PRIu64, l->memory);
		if (write_str(dirs[CG_MEMORY], o->memory_max, v, e) < 0)
			return -1;
		/* Not every kernel accounts swap: best effort. */
		write_str(dirs[CG_MEMORY], o->swap_max,
			  o->swap_includes_memory ? v : "0", NULL);
	}
	if (l->cpu_millis && o->cpu(dirs[CG_CPU], l->cpu_millis, e) < 0)
		return -1;
	if (l->pids) {
		snprintf(v, sizeof v, "%" PRId64, l->pids);
		if (write_str(dirs[CG_PIDS], "pids.max", v, e) < 0)
			return -1;
	}
	return 0;
}

static const struct cgroup_ops *ops_of(const struct cgroup *cg)
{
	return cg->mode == CGROUP_V2 ? &v2_ops : &v1_ops;
}

/* ---- detection ------------------------------------------------------------- */

/* The agent's path in the hierarchy that has controller `ctrl` (v1), or in
 * the unified one (ctrl == NULL), from /proc/self/cgroup.  Caller frees. */
static char *self_cgroup_path(const char *ctrl)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];

	if (!f)
		return NULL;
	while (fgets(line, sizeof line, f)) {
		char *ctrls = strchr(line, ':'), *path;

		if (!ctrls || !(path = strchr(ctrls + 1, ':')))
			continue;
		*ctrls++ = '\0';
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (!ctrl && !strcmp(line, "0") && !*ctrls)
			return xstrdup(path);
		if (!ctrl)
			continue;
		for (char *save = NULL, *t = strtok_r(ctrls, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			if (!strcmp(t, ctrl))
				return xstrdup(path);
	}
	return NULL;
}

/* mnt + rel, where rel is an absolute path in the hierarchy ("/" = root). */
static char *under_mount(const char *mnt, const char *rel)
{
	while (*rel == '/')
		rel++;
	return *rel ? path_join(mnt, rel) : xstrdup(mnt);
}

/* Mount point of the v1 hierarchy carrying ctrl, or of cgroup2 (ctrl NULL). */
static char *mount_of(const char *ctrl)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m, mbuf;
	char sbuf[4096];
	char *found = NULL;

	if (!f)
		return NULL;
	while (!found && (m = getmntent_r(f, &mbuf, sbuf, sizeof sbuf))) {
		if (!ctrl && !strcmp(m->mnt_type, "cgroup2"))
			found = xstrdup(m->mnt_dir);
		else if (ctrl && !strcmp(m->mnt_type, "cgroup") && hasmntopt(m, ctrl))
			found = xstrdup(m->mnt_dir);
	}
	endmntent(f);
	return found;
}

static int detect_v1(struct cgroup *cg, struct err *e)
{
	for (int i = 0; i < CG_NCTRL; i++) {
		_cleanup_free_ char *mnt = mount_of(ctrl_names[i]);
		_cleanup_free_ char *rel = self_cgroup_path(ctrl_names[i]);

		if (!mnt || !rel)
			return err_set(e, ENOENT,
				       "cgroup v1: controller %s not mounted",
				       ctrl_names[i]);
		cg->base[i] = under_mount(mnt, rel);
		if (i == CG_MEMORY)
			cg->rel = xstrdup(rel);
	}
	return 0;
}

static int detect_v2(struct cgroup *cg, const char *mnt, struct err *e)
{
	_cleanup_free_ char *rel = self_cgroup_path(NULL);
	_cleanup_free_ char *base = NULL, *leaf = NULL;
	const char *last;
	char pid[32];

	if (!rel)
		return err_set(e, ENOENT, "cgroup v2: no unified entry in /proc/self/cgroup");
	base = under_mount(mnt, rel);
	last = strrchr(base, '/');
	if (last && !strcmp(last + 1, "shoal-agent"))
		base[last - base] = '\0';
	/* Node cgroups are siblings of the agent's leaf: the parent may then
	 * delegate controllers (no process may sit in a cgroup that does). */
	leaf = path_join(base, "shoal-agent");
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return err_sys(e, errno, "cgroup v2: mkdir %s", leaf);
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	if (write_str(leaf, "cgroup.procs", pid, e) < 0)
		return -1;
	for (int i = 0; i < CG_NCTRL; i++) {
		_cleanup_free_ char *v = xasprintf("+%s", ctrl_names[i]);
		struct err we;

		if (write_str(base, "cgroup.subtree_control", v, &we) < 0)
			log_warn("cgroup v2: cannot delegate %s: %s", ctrl_names[i],
				 we.msg);
		cg->base[i] = xstrdup(base);
	}
	cg->rel = xstrdup(base + strlen(mnt));
	return 0;
}

int cgroup_detect(struct cgroup *cg, struct err *e)
{
	_cleanup_free_ char *unified = mount_of(NULL);
	_cleanup_free_ char *mem = mount_of("memory");

	memset(cg, 0, sizeof *cg);
	if (unified && !mem) {
		cg->mode = CGROUP_V2;
		if (detect_v2(cg, unified, e) < 0)
			return err_wrap(e, "detect cgroups");
		return 0;
	}
	if (mem) {
		cg->mode = unified ? CGROUP_HYBRID : CGROUP_V1;
		if (detect_v1(cg, e) < 0)
			return err_wrap(e, "detect cgroups");
		return 0;
	}
	log_warn("no cgroup hierarchy mounted: node limits are unavailable");
	cg->mode = CGROUP_NONE;
	return 0;
}

void cgroup_fini(struct cgroup *cg)
{
	for (int i = 0; i < CG_NCTRL; i++)
		free(cg->base[i]);
	free(cg->rel);
	memset(cg, 0, sizeof *cg);
}

/* ---- node cgroups ---------------------------------------------------------- */

/* The node's folder for each controller (the same one three times on v2). */
static void node_dirs(const struct cgroup *cg, const char *id,
		      char *dirs[CG_NCTRL])
{
	for (int i = 0; i < CG_NCTRL; i++)
		dirs[i] = cg->base[i] ? path_join(cg->base[i], id) : NULL;
}

static void free_dirs(char *dirs[CG_NCTRL])
{
	for (int i = 0; i < CG_NCTRL; i++)
		free(dirs[i]);
}

int cgroup_node_create(const struct cgroup *cg, const char *id,
		       const struct cgroup_limits *l, int procs_fds[CG_NCTRL],
		       struct err *e)
{
	char *dirs[CG_NCTRL];
	int rc = -1;

	for (int i = 0; i < CG_NCTRL; i++)
		procs_fds[i] = -1;
	if (cg->mode == CGROUP_NONE) {
		if (l->memory || l->cpu_millis || l->pids)
			return err_set(e, ENOTSUP,
				       "limits requested but this host has no cgroups");
		return 0;
	}
	node_dirs(cg, id, dirs);
	for (int i = 0; i < CG_NCTRL; i++) {
		_cleanup_free_ char *procs = NULL;
		bool dup = false;

		for (int j = 0; j < i; j++)
			dup |= !strcmp(dirs[i], dirs[j]);
		if (dup)
			continue;
		if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST) {
			err_sys(e, errno, "cgroup mkdir %s", dirs[i]);
			goto out;
		}
		procs = path_join(dirs[i], "cgroup.procs");
		procs_fds[i] = open(procs, O_WRONLY | O_CLOEXEC);
		if (procs_fds[i] < 0) {
			err_sys(e, errno, "cgroup open %s", procs);
			goto out;
		}
	}
	rc = apply_limits(ops_of(cg), dirs, l, e);
out:
	if (rc < 0)
		for (int i = 0; i < CG_NCTRL; i++)
			if (procs_fds[i] >= 0) {
				close(procs_fds[i]);
				procs_fds[i] = -1;
			}
	free_dirs(dirs);
	return rc;
}

int cgroup_node_oom_count(const struct cgroup *cg, const char *id, uint64_t *n)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	const char *p;
	struct err e;

	*n = 0;
	if (cg->mode == CGROUP_NONE)
		return -1;
	dir = path_join(cg->base[CG_MEMORY], id);
	path = path_join(dir, ops_of(cg)->oom_file);
	if (read_file(path, 65536, &text, NULL, &e) < 0)
		return -1;
	p = strstr(text, "oom_kill ");
	*n = p ? strtoull(p + 9, NULL, 10) : 0;
	return 0;
}

uint64_t cgroup_node_oom_kills(const struct cgroup *cg, const char *id)
{
	uint64_t n;

	return cgroup_node_oom_count(cg, id, &n) < 0 ? 0 : n;
}

int cgroup_oom_watch_start(const struct cgroup *cg, const char *id,
			   struct cgroup_oom_watch *w, struct err *e)
{
	_cleanup_free_ char *dir = NULL, *file = NULL;
	char reg[64];

	w->fd = w->ctl_fd = -1;
	w->events = 0;
	if (cg->mode == CGROUP_NONE)
		return 0;
	dir = path_join(cg->base[CG_MEMORY], id);
	file = path_join(dir, ops_of(cg)->oom_file);
	if (cg->mode == CGROUP_V2) {
		w->fd = open(file, O_RDONLY | O_CLOEXEC);
		if (w->fd < 0)
			return err_sys(e, errno, "open %s", file);
		w->events = POLLPRI;
		return 0;
	}
	w->ctl_fd = open(file, O_RDONLY | O_CLOEXEC);
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ctl_fd < 0 || w->fd < 0) {
		cgroup_oom_watch_stop(w);
		return err_sys(e, errno, "watch %s", file);
	}
	snprintf(reg, sizeof reg, "%d %d", w->fd, w->ctl_fd);
	if (write_str(dir, "cgroup.event_control", reg, e) < 0) {
		cgroup_oom_watch_stop(w);
		return -1;
	}
	w->events = POLLIN;
	return 0;
}

int cgroup_oom_watch_ack(struct cgroup_oom_watch *w)
{
	char tmp[512];

	if (w->fd < 0)
		return -1;
	if (w->events == POLLPRI)   /* v2: re-arm by reading from the start */
		return pread(w->fd, tmp, sizeof tmp, 0) < 0 ? -1 : 0;
	uint64_t n;

	return read(w->fd, &n, sizeof n) == sizeof n || errno == EAGAIN ? 0 : -1;
}

void cgroup_oom_watch_stop(struct cgroup_oom_watch *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->ctl_fd >= 0)
		close(w->ctl_fd);
	w->fd = w->ctl_fd = -1;
}

int cgroup_node_has_pid(const struct cgroup *cg, const char *id, pid_t pid)
{
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	char want[32];
	struct err e;

	if (cg->mode == CGROUP_NONE)
		return 0;
	dir = path_join(cg->base[CG_MEMORY], id);
	path = path_join(dir, "cgroup.procs");
	if (read_file(path, 1 << 20, &text, NULL, &e) < 0)
		return 0;
	snprintf(want, sizeof want, "%d", (int)pid);
	for (char *save = NULL, *t = strtok_r(text, "\n", &save); t;
	     t = strtok_r(NULL, "\n", &save))
		if (!strcmp(t, want))
			return 1;
	return 0;
}

/* SIGKILL every member listed in dir/cgroup.procs; returns how many. */
static int kill_members(const char *dir)
{
	_cleanup_free_ char *path = path_join(dir, "cgroup.procs"), *text = NULL;
	struct err e;
	int n = 0;

	if (read_file(path, 1 << 20, &text, NULL, &e) < 0)
		return 0;
	for (char *save = NULL, *t = strtok_r(text, "\n", &save); t;
	     t = strtok_r(NULL, "\n", &save)) {
		pid_t pid = (pid_t)strtol(t, NULL, 10);

		if (pid > 1 && kill(pid, SIGKILL) == 0)
			n++;
	}
	return n;
}

int cgroup_node_remove(const struct cgroup *cg, const char *id, struct err *e)
{
	char *dirs[CG_NCTRL];
	int rc = 0;

	if (cg->mode == CGROUP_NONE)
		return 0;
	node_dirs(cg, id, dirs);
	for (int i = 0; i < CG_NCTRL; i++) {
		struct stat st;
		int tries;

		if (stat(dirs[i], &st) < 0)
			continue;
		if (ops_of(cg)->kill_file)
			write_str(dirs[i], ops_of(cg)->kill_file, "1", NULL);
		/* Members take a moment to leave after SIGKILL: retry for up
		 * to a second, then report. */
		for (tries = 0; tries < 100; tries++) {
			kill_members(dirs[i]);
			if (rmdir(dirs[i]) == 0 || errno == ENOENT)
				break;
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
		}
		if (tries == 100)
			rc = err_sys(e, errno, "cgroup rmdir %s", dirs[i]);
	}
	free_dirs(dirs);
	return rc;
}

char *cgroup_node_oci_path(const struct cgroup *cg, const char *id)
{
	return path_join(cg->rel ? cg->rel : "/", id);
}
