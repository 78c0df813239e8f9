/* cgroup.h - node cgroups on cgroup v1, v2 and hybrid hosts.
 *
 * The layout is detected, never configured: v2 when /sys/fs/cgroup is a
 * cgroup2 mount, hybrid when the v1 controllers are mounted and a unified
 * hierarchy sits at /sys/fs/cgroup/unified (limits then go through v1), v1
 * otherwise.  A node's cgroup is always created NESTED under the agent's own
 * cgroup as read from /proc/self/cgroup ("shoal.<cluster>.<node>" next to the
 * agent), so a lab host, a systemd slice or a container running the agent
 * keeps its own limits over everything the agent starts.
 *
 * The two layouts are backends behind struct cgroup_ops (cgroup.c).
 */
#ifndef SHOAL_AGENT_CGROUP_H
#define SHOAL_AGENT_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum cgroup_mode { CGROUP_NONE, CGROUP_V1, CGROUP_HYBRID, CGROUP_V2 };

/* The controllers shoal limits. */
enum { CG_MEMORY, CG_CPU, CG_PIDS, CG_NCTRL };

struct cgroup {
	enum cgroup_mode mode;
	/* The agent's own cgroup folder per controller (v1) or the unified
	 * folder under which node cgroups go (v2: all three the same). */
	char *base[CG_NCTRL];
	/* Relative path of base[CG_MEMORY] below its hierarchy root, for
	 * runtimes that take a cgroupsPath ("/process_api/ab/..."). */
	char *rel;
};

struct cgroup_limits {
	uint64_t memory;     /* bytes, 0 = none */
	int64_t cpu_millis;  /* 1000 = one CPU, 0 = none */
	int64_t pids;        /* 0 = none */
};

/* Detect the layout and the agent's place in it.  On v2 the agent moves
 * itself into a leaf "<base>/shoal-agent" so controllers can be delegated to
 * node cgroups (the no-internal-processes rule).  A host without usable
 * cgroups gets CGROUP_NONE and a warning; limits are then refused. */
int cgroup_detect(struct cgroup *cg, struct err *e);
void cgroup_fini(struct cgroup *cg);
const char *cgroup_mode_name(enum cgroup_mode m);

/* Create (or reuse) the cgroup(s) of node `id` and apply l.  On success
 * procs_fds[i] (CG_NCTRL entries, -1 where unused) are open for writing on
 * each cgroup.procs, for the child to write "0" into (join itself). */
int cgroup_node_create(const struct cgroup *cg, const char *id,
		       const struct cgroup_limits *l, int procs_fds[CG_NCTRL],
		       struct err *e);
/* Number of OOM kills recorded for the node so far (0 when none/unknown). */
uint64_t cgroup_node_oom_kills(const struct cgroup *cg, const char *id);
/* The same, failing (-1) when the node's memory cgroup cannot be read. */
int cgroup_node_oom_count(const struct cgroup *cg, const char *id, uint64_t *n);

/* Ask the kernel to tell us about OOM kills in the node's memory cgroup as
 * they happen (v1: an eventfd registered through cgroup.event_control for
 * memory.oom_control; v2: memory.events, which signals POLLPRI on change).
 * On success w->fd is to be polled for w->events; after a wakeup call
 * cgroup_oom_watch_ack() and re-read cgroup_node_oom_kills().  This is how
 * an OOM kill is seen even when the cgroup is gone by the time the node's
 * exit is handled (OCI runtimes remove it on exit). */
struct cgroup_oom_watch {
	int fd;         /* eventfd (v1) or memory.events (v2); -1 when none */
	int ctl_fd;     /* v1: memory.oom_control, kept open for the event */
	short events;   /* POLLIN (v1) or POLLPRI (v2) */
};
int cgroup_oom_watch_start(const struct cgroup *cg, const char *id,
			   struct cgroup_oom_watch *w, struct err *e);
/* Consume a wakeup.  Returns -1 when the watch is dead (cgroup removed). */
int cgroup_oom_watch_ack(struct cgroup_oom_watch *w);
/* Close the watch (no-op when none). */
void cgroup_oom_watch_stop(struct cgroup_oom_watch *w);
/* True when pid is a member of the node's cgroup (memory controller). */
int cgroup_node_has_pid(const struct cgroup *cg, const char *id, pid_t pid);
/* SIGKILL every process left in the node's cgroups, then remove them.
 * Missing cgroups are fine. */
int cgroup_node_remove(const struct cgroup *cg, const char *id, struct err *e);
/* "<rel>/<id>" for an OCI runtime's cgroupsPath.  Caller frees. */
char *cgroup_node_oci_path(const struct cgroup *cg, const char *id);

#endif
