/* node.h - one node: its description (node.json), its folder, its process,
 * its supervision and its logs.
 *
 * Folder: <root>/nodes/<cluster>/<node>/
 *   node.json   the description and the last known process (atomic writes)
 *   upper/ work/ overlayfs upper and work dirs (the image is the lower)
 *   rootfs/     mount point of the node's root (a full copy without overlay)
 *   data/       bind-mounted at spec.data_path; kept across restarts
 *   logs/pipe   FIFO the node writes stdout+stderr to (survives the agent)
 *   logs/current, logs/current.1   what the agent read from the pipe
 *
 * Starting never holds the agent's loop: the runtime launches a child and
 * returns; the loop watches that child's setup pipe, its pidfd and (OCI)
 * the pid file.  The node is `starting` meanwhile; the start is answered
 * once the entrypoint runs, or with an error when the setup fails, the
 * runtime exits first, or spec.start_timeout_ms passes (the child is then
 * SIGKILLed: "start c/n: runtime X did not start the node within N ms").
 * node.stop or a forced node.remove of a starting node kills the start.
 *
 * Supervision (the agent notices an exit through a pidfd):
 *   restart always / on-failure (exit code != 0 or a signal) / never;
 *   the first restart is immediate, then 1 s, 2 s, 4 s ... capped at 30 s;
 *   a run of 60 s or more resets the backoff.  `stop` sends the stop signal,
 *   waits the grace period, then SIGKILL, and the node stays down.
 *
 * Agent restarts (kill -9, upgrade, host reboot): node.json records what
 * should happen to the node (created, running, stopped, exited; written and
 * fsync'd only when that changes); <run_dir>/nodes/<id>.json, on the tmpfs
 * /run that a reboot empties, records its init pid, that process's start
 * time (from /proc/<pid>/stat) and the restart count.  A restarted
 * agent ADOPTS a node whose pid is alive with the same start time (watching
 * it through a pidfd; its exit code is then unknown, reported as such), and
 * STARTS a node that should run (not stopped, policy not `never`) but is not
 * running, e.g. after a reboot.
 */
#ifndef SHOAL_AGENT_NODE_H
#define SHOAL_AGENT_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "err.h"
#include "sandbox.h"

struct agent;
struct session;
struct runtime_ops;

enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };

enum node_state {
	NODE_CREATED,   /* never started */
	NODE_RUNNING,
	NODE_STOPPING,  /* stop signal sent, grace running */
	NODE_STOPPED,   /* stopped on request */
	NODE_EXITED,    /* ended and not restarted (policy) */
	NODE_BACKOFF,   /* ended, restart scheduled */
	NODE_STARTING,  /* launched, setup running (start job, below) */
};

/* Deadline of one start when node.create has no "start_timeout_ms": under
 * the operator's 30 s per call (FLEET_CALL_TIMEOUT_MS). */
#define NODE_DEFAULT_START_TIMEOUT_MS 20000

/* pids.max of a node whose node.create has no "pids" (0 there = no limit). */
#define NODE_DEFAULT_PIDS 4096

/* The validated description (node.create fields, image defaults filled in). */
struct node_spec {
	char *cluster, *name;
	char *image;             /* manifest digest */
	char **argv, **env;      /* NULL-terminated */
	char *workdir, *user, *hostname, *data_path;
	uid_t uid;               /* user resolved in the image at create */
	gid_t gid;
	char **caps;             /* NULL-terminated, may be empty */
	char **syscalls;         /* allowed beyond the default seccomp list */
	struct cgroup_limits limits;
	int64_t nofile;
	enum restart_policy restart;
	int stop_signal;
	int64_t stop_grace_ms;
	char *runtime;           /* builtin | runc | crun | auto */
	int64_t start_timeout_ms; /* deadline of one start (setup to exec) */
	int64_t log_max;
};

struct node_waiter;          /* a session waiting for the node to end */
struct node_follower {       /* a session following the log */
	struct session *s;
	json_int_t id;
	struct node_follower *next;
};

struct node {
	struct agent *agent;
	struct node_spec spec;
	char *id;                /* "shoal.<cluster>.<node>": cgroups, runc */
	char *dir;               /* <root>/nodes/<cluster>/<node> */
	char *lower;             /* <root>/images/<hex>/rootfs */
	const struct runtime_ops *rt;

	enum node_state state;
	pid_t pid;               /* the node's init, 0 when none */
	pid_t waiter;            /* process whose end ends the node */
	int waiter_fd;           /* its pidfd, -1 when none */
	bool adopted;            /* waiter is not our child: no exit status */
	uint64_t start_ticks;    /* /proc/<pid>/stat start time */
	int64_t started_ms;      /* monotonic ms of the last start */
	int64_t start_us;        /* how long the last start took, until exec */
	int restarts;            /* restarts since node.start */
	int failures;            /* consecutive short runs (backoff exponent) */
	int exit_code, exit_signal; /* last exit (-1 = unknown) */
	bool oom;                /* the last (or current) run saw an OOM kill */
	uint64_t oom_base;       /* OOM kills counted before this run */
	uint64_t oom_seen;       /* OOM kills of this run already reported */
	struct cgroup_oom_watch oomw;
	uint64_t timer;          /* backoff or stop-grace timer */
	const char *saved_desired; /* what node.json holds (static string) */

	int log_rfd, log_hold_fd, log_fd;  /* pipe read end, held write end, current */
	uint64_t log_size;

	struct node_waiter *waiters;
	struct node_follower *followers;

	/* The start job (state NODE_STARTING). */
	struct node_waiter *start_waiters;
	uint64_t start_timer;    /* deadline */
	uint64_t start_poll;     /* re-asks runtime started() */
	int64_t start_t0;        /* now_us() at launch */
	/* A forced node.remove waiting for the process to end. */
	struct session *rm_s;
	json_int_t rm_id;
	uint64_t rm_timer;
	enum node_state start_prev; /* state to return to when it fails */
	int start_err_fd;        /* runtime setup pipe, -1 when done */
	struct err start_abort;  /* why it was killed (msg[0] = not killed) */
	bool stop_on_start;      /* end STOPPED, answering n->waiters */
	bool rm_pending, rm_keep_data;
};

/* Load every nodes/<cluster>/<node>/node.json: adopt, restart or leave each
 * as described above.  A broken node.json is logged and skipped. */
int node_load_all(struct agent *a, struct err *e);
/* Free every node struct; processes keep running. */
void node_free_all(struct agent *a);
/* Drop waiters and log followers belonging to a session that went away. */
void node_session_gone(struct agent *a, struct session *s);

struct node *node_find(struct agent *a, const char *cluster, const char *name);
/* The node record answered by inspect/list and sent with events. */
json_t *node_record(const struct node *n);
/* Build the node's process description for runtimes and exec. */
void node_sandbox(const struct node *n, struct sandbox *sb);

/* ---- used by the request handlers ----------------------------------------- */

/* Create the node's folder and node.json (spec is taken over, even on
 * failure).  EEXIST when the node exists. */
struct node *node_create(struct agent *a, struct node_spec *spec, struct err *e);
/* Start a node that is not running (resets its restart count).  Returns 1:
 * session s (may be NULL) gets request id answered with the node record
 * once the node runs, or the error; -1 when it cannot even be launched. */
int node_start(struct node *n, struct session *s, json_int_t id, struct err *e);
/* Deliver sig to the node's init (ESRCH when it does not run). */
int node_signal(struct node *n, int sig, struct err *e);
/* Stop: stop signal, grace_ms, then SIGKILL (grace 0: SIGKILL at once).
 * Returns 0 when the node already is down (answer now), 1 when the session
 * is answered with the node record once it has ended. */
int node_stop(struct node *n, int64_t grace_ms, struct session *s, json_int_t id,
	      struct err *e);
/* Remove the node, its cgroups and its folder; with keep_data its data/
 * folder stays (a node created later under the same name finds it).  A
 * running or starting node needs force: SIGKILL, then 1 is returned and
 * s/id (s may be NULL) answered once the process ended (ETIMEDOUT after
 * 10 s).  0 when removed now.  n is freed once removed. */
int node_remove(struct node *n, bool force, bool keep_data, struct session *s,
		json_int_t id, struct err *e);
/* Its log FIFO open and watched, logs/current open (node_log.c); once per
 * node, later calls do nothing. */
int node_log_pipe_open(struct node *n, struct err *e);
/* A fresh blocking write end of the FIFO for the node's stdout/stderr. */
int node_log_writer(struct node *n, struct err *e);
/* The last `lines` lines of its log (at most 128 KiB).  Caller frees. */
char *node_log_tail(struct node *n, int64_t lines, size_t *len);
/* Stream new log output to the session as {"id":id,"stream":"log"} until
 * the node is removed or the session ends. */
void node_follow(struct node *n, struct session *s, json_int_t id);

/* An absolute path inside a node without "." or ".." components. */
int node_path_check(const char *p, const char *what, struct err *e);
/* A signal field: 1..64 or a name ("SIGTERM", "TERM"); absent keeps *sig. */
int node_signal_field(json_t *j, const char *key, int *sig, struct err *e);
int node_spec_from_json(json_t *j, struct node_spec *s, struct err *e);
json_t *node_spec_to_json(const struct node_spec *s);
void node_spec_free(struct node_spec *s);

#endif
