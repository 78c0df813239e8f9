/* agent.h - shoal-agent's core: its root folder, client sessions, the closed
 * table of requests, and the events it streams (docs/agent-protocol.md).
 *
 * One agent process serves any number of sessions (the daemon: one per
 * `shoal-agent connect`; `serve --stdio`: exactly one) from a single poll
 * loop.  Every request is validated field by field here, never trusted
 * because the operator already checked it.
 */
#ifndef SHOAL_AGENT_H
#define SHOAL_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"
#include "err.h"
#include "jsonl.h"
#include "loop.h"
#include "netfault.h"
#include "util.h"

/* Bumped when a request or answer changes incompatibly. */
#define AGENT_PROTOCOL_VERSION 1
#define AGENT_DEFAULT_ROOT "/var/lib/shoal"
#define AGENT_RUN_DIR "/run/shoal"
/* A session whose peer does not read is dropped past this much backlog. */
#define SESSION_OUT_MAX (16u * 1024 * 1024)

struct node;
struct exec_job;

/* How an agent process was started (command line). */
struct agent_config {
	const char *root;      /* AGENT_DEFAULT_ROOT unless --root */
	const char *run_dir;   /* AGENT_RUN_DIR unless --run-dir (serve: <root>/run) */
	bool no_overlay;       /* --no-overlay: give nodes copied roots */
	bool no_start;         /* connect --no-start: only a daemon that runs */
};

struct session {
	struct agent *agent;
	int in_fd, out_fd;      /* the same fd for a socket */
	struct jsonl_reader rd;
	struct buf out;         /* encoded lines not yet written */
	size_t out_off;         /* bytes of out already written */
	bool subscribed;        /* events.subscribe was called */
	bool dead;              /* peer gone; freed at the end of the round */
	unsigned refs;          /* streams (logs follow, exec) still using it */
	struct session *next;
};

struct agent {
	char *root;             /* /var/lib/shoal or --root */
	char *run_dir;          /* /run/shoal or --run-dir: state of this boot */
	struct loop *loop;
	struct session *sessions;
	struct node **nodes;
	size_t n_nodes, cap_nodes;
	struct exec_job *execs; /* running exec requests (ops_exec.c) */
	struct helper_job *helpers; /* slow work in helper processes (helper.c) */
	struct cgroup cg;       /* detected cgroup layout */
	bool overlay_ok;        /* overlayfs usable under root */
	struct netfault net;    /* the drill's network fault (net.fault) */
	bool one_session;       /* serve --stdio: exit when the session ends */
	bool quit;
	bool crash;             /* host.kill: die (SIGKILL) at the end of this round */
	int64_t started_ms;     /* now_ms() when it began (hello's uptime_ms) */
};

/* Create the folder layout under cfg->root (blobs/sha256, blobs/tmp,
 * images, nodes), detect cgroups and overlayfs (unless cfg->no_overlay), and
 * load every node.json (adopting live nodes, restarting others as their
 * policy says). */
int agent_init(struct agent *a, const struct agent_config *cfg, struct err *e);
/* Frees everything; running nodes are left running. */
void agent_fini(struct agent *a);

/* Serve one client on in_fd/out_fd (may be equal).  The agent owns the fds. */
struct session *agent_add_session(struct agent *a, int in_fd, int out_fd);

/* Run until a().quit (set when the last session of a one-session agent ends,
 * or on SIGTERM/SIGINT in the daemon). */
int agent_run(struct agent *a, struct err *e);

/* Queue one message (stolen) to a session; never blocks. */
void session_send(struct session *s, json_t *msg);
/* Answer request id with ok:true plus the fields of result (stolen, may be
 * NULL). */
void session_reply(struct session *s, json_int_t id, json_t *result);
/* Answer request id with ok:false and e's code and message. */
void session_reply_err(struct session *s, json_int_t id, const struct err *e);
/* A session is kept alive while a stream holds a reference to it. */
void session_ref(struct session *s);
void session_unref(struct session *s);

/* Run request req (borrowed) as if it had just arrived on s, answering it. */
void session_dispatch(struct session *s, json_int_t id, json_t *req);

/* Send an event ({"event":name, ...fields}) to every subscribed session.
 * fields is stolen. */
void agent_event(struct agent *a, const char *name, json_t *fields);

/* ---- request handlers (one file per family) --------------------------------
 * Each gets the parsed request; it returns 0 with *result set (the answer's
 * extra fields, may stay NULL), 1 when it will answer later itself (streams),
 * or -1 with e filled (the answer then carries e's code and message). */
typedef int (*agent_op_fn)(struct session *s, json_int_t id, json_t *req,
			   json_t **result, struct err *e);

int op_hello(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_host_facts(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_host_ports(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_events_subscribe(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_blob_has(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_blob_commit(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_blob_verify(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_image_unpack(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_create(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_start(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_stop(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_kill(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_remove(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_list(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_data_purge(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_node_inspect(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_logs(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_exec(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_net_fault(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_net_heal(struct session *, json_int_t, json_t *, json_t **, struct err *);
int op_host_kill(struct session *, json_int_t, json_t *, json_t **, struct err *);

/* ---- field validation (proto.c) ------------------------------------------- */

/* A required string field; *out points into req. */
int req_str(json_t *req, const char *key, const char **out, struct err *e);
/* An optional string field (*out = NULL when absent). */
int req_str_opt(json_t *req, const char *key, const char **out, struct err *e);
/* A required name: name_check() rules, at most 63 bytes. */
int req_name(json_t *req, const char *key, const char **out, struct err *e);
/* A required "sha256:<hex>" digest. */
int req_digest(json_t *req, const char *key, const char **out, struct err *e);
/* An optional integer in [min, max]; *out keeps its value when absent. */
int req_int_opt(json_t *req, const char *key, int64_t min, int64_t max,
		int64_t *out, struct err *e);
/* An optional boolean. */
int req_bool_opt(json_t *req, const char *key, bool *out, struct err *e);
/* An optional array of 0..max strings each at most maxlen bytes, no NUL;
 * *out (NULL-terminated, strings point into req) is malloc'd, caller frees
 * the array only.  *out = NULL when absent. */
int req_strv_opt(json_t *req, const char *key, size_t max, size_t maxlen,
		 const char ***out, struct err *e);

/* <root>/blobs/sha256/<hex> of a valid digest.  Caller frees. */
char *blob_path(const struct agent *a, const char *digest);
/* Re-hash a stored blob: ENOENT when absent, EBADMSG when its bytes do not
 * match its name.  *size (may be NULL) gets its length. */
int blob_verify(const struct agent *a, const char *digest, uint64_t *size,
		struct err *e);

/* A path below the agent root: root + "/" + rel.  Caller frees. */
char *agent_path(const struct agent *a, const char *rel);

#endif
