/* driver.h - a database kind is a table of operations (struct db_driver).
 *
 * One driver per kind (db/redis/, db/cassandra/, db/riak/) fills a table;
 * the template's `kind` picks it.  Callers (converge, status, later the
 * monitor and scale) use the db_*() wrappers only and never name a database:
 * a wrapper whose operation the driver leaves NULL fails with "kind X cannot
 * <op>" (ENOTSUP).  Every operation takes the nodes it acts on, the options
 * and struct err, returns 0 or -1 with e naming the node, and never exits or
 * prints.
 */
#ifndef SHOAL_DB_DRIVER_H
#define SHOAL_DB_DRIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "template.h"

#define DB_ID_MAX 64 /* longest database node id a driver reports */

/* How a kind arranges its nodes. */
enum db_roles {
	DB_ROLES_SHARDED, /* masters own data, replicas follow one master */
	DB_ROLES_RING,    /* equals on a ring; seeds only bootstrap it */
};

/* One node, in plan order (or state order for status). */
struct db_node {
	const char *id;         /* shoal node id, "cache-3" (for messages) */
	const char *address;    /* where shoal and the other nodes reach it */
	int port;               /* client port */
	int bus_port;           /* cluster bus port; 0: the kind's default */
	bool master;            /* sharded: a master */
	int master_index;       /* sharded replica: its master's index; -1 */
	bool seed;              /* ring: a seed */
	const char *cluster_id; /* the database's id recorded for it, or NULL */
};

struct buf;

/* Run argv (final words, no shell) inside node n's container through the
 * agent's exec; its output (stdout and stderr as they arrive) is appended to
 * out when out is non-NULL, else discarded.  A non-zero exit is an error
 * naming the node and argv[0] (out still holds what was printed).  May be
 * called from several threads at once (a driver's per-node steps run all
 * at once, fanout.h), each with its own out. */
typedef int (*db_exec_fn)(void *arg, const struct db_node *n, char *const *argv,
			  struct buf *out, struct err *e);
/* The template's argv hook k rendered for node n (old: the node replaced,
 * for HOOK_REPLACE; else NULL); *out freed with strv_free(). */
typedef int (*db_hook_fn)(void *arg, enum hook_kind k, const struct db_node *n,
			  const struct db_node *old, char ***out, struct err *e);

struct db_opts {
	const char *password;  /* the kind's client password, or NULL */
	int timeout_ms;        /* per network call; <= 0: the driver's default */
	int settle_ms;         /* whole operation, waits included; <= 0: default */
	bool fail_back;        /* form: give failed-over roles back as planned */
	int *failed_back;      /* form: += nodes made master again that way
				  (NULL: not counted) */
	char **forget;         /* form: ids of nodes that left (leave's answer) */
	db_exec_fn exec;       /* command-lifecycle kinds: set by the caller */
	db_hook_fn hook;
	void *arg;             /* for exec and hook */
	const struct template *tmpl;
};

/* What one node reports of the cluster (observe). */
struct db_member {
	bool reachable;
	char *error;                   /* why not reachable, or NULL */
	bool state_ok;                 /* it says its cluster is ok */
	const char *role;              /* by its own report: "master", "replica",
					  "member", "unknown"; NULL: not known */
	char master_id[DB_ID_MAX + 1]; /* a replica's master's database id, or "" */
	json_t *owns;                  /* data ownership it reports (Redis: slot
					  ranges, [[0,5460]]), or NULL */
};

/* The cluster as the database sees it. */
struct db_view {
	struct db_member *members;   /* members[i] is nodes[i] */
	size_t n;
	int reachable;               /* members that answered */
	const char *health;          /* "ok", "degraded", "fail" */
	json_t *summary;             /* the kind's counters ({"slots_served":..}) */
	void *priv;                  /* the driver's own view, for check */
	void (*priv_free)(void *priv);
};
/* NULL-safe. */
void db_view_free(struct db_view *v);

struct db_kv; /* a driver's key/value client (kv_open) */

struct db_driver {
	const char *kind;          /* template `kind`: "redis" */
	const char *title;         /* for messages: "Redis" */
	enum db_roles roles;
	int min_masters;           /* sharded: fewest masters a cluster takes */
	const char *const *builtins; /* "builtin:<step>" names it implements */
	/* Make nodes[0..n) one cluster as planned (or complete a partial one);
	 * ids[i] gets node i's database id ("" when the kind has none). */
	int (*form)(const struct db_node *nodes, size_t n, const struct db_opts *o,
		    char (*ids)[DB_ID_MAX + 1], struct err *e);
	/* Add join[0..nj) to the cluster of the formed nodes[0..n). */
	int (*join)(const struct db_node *nodes, size_t n, const struct db_node *join,
		    size_t nj, const struct db_opts *o, struct err *e);
	/* Take leave[0..nl) out before their containers go; stay[] remain.
	 * Refuses, changing nothing, while a leaving node holds data no one
	 * else has.  *left (strv, may stay NULL) gets the ids that left. */
	int (*leave)(const struct db_node *stay, size_t ns, const struct db_node *leave,
		     size_t nl, const struct db_opts *o, char ***left, struct err *e);
	/* The dead node old is replaced by repl (already running, not joined);
	 * nodes[0..n) are the others. */
	int (*replace)(const struct db_node *nodes, size_t n, const struct db_node *old,
		       const struct db_node *repl, const struct db_opts *o, struct err *e);
	/* Before nodes[m] restarts, nodes[r] takes its role; *back_at gets the
	 * earliest time (now_ms clock) form with fail_back may give it back. */
	int (*hand_over)(const struct db_node *nodes, size_t n, size_t m, size_t r,
			 const struct db_opts *o, int64_t *back_at, struct err *e);
	/* Wait until a restarted node has its copy of the data again. */
	int (*synced)(const struct db_node *node, const struct db_opts *o, struct err *e);
	/* Read the cluster's own view of nodes[0..n); an unreachable node is
	 * recorded in the view, not a failure. */
	int (*observe)(const struct db_node *nodes, size_t n, const struct db_opts *o,
		       struct db_view **out, struct err *e);
	/* The promises of a view that hold, as {name: bool or number}. */
	json_t *(*check)(const struct db_view *v);
	/* Move data ownership to the layout of nodes[0..n). */
	int (*rebalance)(const struct db_node *nodes, size_t n, const struct db_opts *o,
			 struct err *e);
	/* A key/value client through the cluster of nodes[0..n) for loads
	 * (drills): one per thread; fails only when no node answers. */
	int (*kv_open)(const struct db_node *nodes, size_t n, const struct db_opts *o,
		       struct db_kv **out, struct err *e);
	/* Write keys[i] = vals[i]; ok[i] = 1 when the database acknowledged it
	 * (with wait > 0: once wait replicas have it).  Returns the number of
	 * failed attempts; never blocks past the client's timeouts. */
	int (*kv_write)(struct db_kv *kv, const char *const *keys, const char *const *vals,
			size_t n, int wait, uint8_t *ok);
	/* Read keys[i]: got[i] one of DB_KV_*; returns how many could not be read. */
	int (*kv_read)(struct db_kv *kv, const char *const *keys, const char *const *vals,
		       size_t n, uint8_t *got);
	void (*kv_close)(struct db_kv *kv); /* NULL-safe */
};

/* What kv_read found for a key. */
enum { DB_KV_ABSENT = 0, DB_KV_PRESENT = 1 /* with the value written */, DB_KV_OTHER = 2,
       DB_KV_ERROR = 3 /* could not be read */,
       DB_KV_PRESENT_FEW = 4 /* with the value written, but a read at the
				database's quorum found it absent: fewer
				replicas than a quorum held it then (Riak) */ };

/* The driver of a kind, or NULL. */
const struct db_driver *db_driver_find(const char *kind);
/* The driver for template t, or -1 with e listing the known kinds, or
 * naming a builtin:<step> hook the driver does not implement. */
int db_driver_for(const struct template *t, const struct db_driver **out, struct err *e);
/* Let template_load() and `shoal check` refuse unknown kinds and steps
 * (template_kinds_set); call once before loading templates. */
void db_register_kinds(void);

int db_form(const struct db_driver *d, const struct db_node *nodes, size_t n,
	    const struct db_opts *o, char (*ids)[DB_ID_MAX + 1], struct err *e);
int db_join(const struct db_driver *d, const struct db_node *nodes, size_t n,
	    const struct db_node *join, size_t nj, const struct db_opts *o, struct err *e);
int db_leave(const struct db_driver *d, const struct db_node *stay, size_t ns,
	     const struct db_node *leave, size_t nl, const struct db_opts *o, char ***left,
	     struct err *e);
int db_replace(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_node *old, const struct db_node *repl, const struct db_opts *o,
	       struct err *e);
int db_hand_over(const struct db_driver *d, const struct db_node *nodes, size_t n, size_t m,
		 size_t r, const struct db_opts *o, int64_t *back_at, struct err *e);
int db_synced(const struct db_driver *d, const struct db_node *node, const struct db_opts *o,
	      struct err *e);
int db_observe(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_opts *o, struct db_view **out, struct err *e);
/* NULL when the kind checks no promises. */
json_t *db_check(const struct db_driver *d, const struct db_view *v);
int db_rebalance(const struct db_driver *d, const struct db_node *nodes, size_t n,
		 const struct db_opts *o, struct err *e);

/* The key/value client of a kind (drills); db_kv_open fails with "kind X
 * cannot kv" for a kind without one.  The others are only called on a
 * client db_kv_open gave. */
int db_kv_open(const struct db_driver *d, const struct db_node *nodes, size_t n,
	       const struct db_opts *o, struct db_kv **out, struct err *e);
int db_kv_write(const struct db_driver *d, struct db_kv *kv, const char *const *keys,
		const char *const *vals, size_t n, int wait, uint8_t *ok);
int db_kv_read(const struct db_driver *d, struct db_kv *kv, const char *const *keys,
	       const char *const *vals, size_t n, uint8_t *got);
void db_kv_close(const struct db_driver *d, struct db_kv *kv);

/* Does d implement op ("form", "hand_over"...)?  For callers that skip an
 * optional step (a kind without hand-over restarts its nodes in place). */
bool db_can(const struct db_driver *d, const char *op);

/* For drivers: run argv on n through o->exec, or fail naming the node. */
int db_run(const struct db_opts *o, const struct db_node *n, char *const *argv,
	   struct err *e);
/* The same, with argv's output appended to out (for kinds whose tools
 * report in text, and exit 0 when they failed). */
int db_run_out(const struct db_opts *o, const struct db_node *n, char *const *argv,
	       struct buf *out, struct err *e);
/* For drivers: the template's argv hook k rendered for n (old: the node
 * replaced, or NULL) through o->hook, run on n through o->exec. */
int db_run_hook(const struct db_opts *o, enum hook_kind k, const struct db_node *n,
		const struct db_node *old, struct err *e);

#endif
