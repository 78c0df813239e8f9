/* state.h - the cluster's recorded truth on the operator machine.
 *
 * Layout (docs/state.md): <state root>/<cluster>/
 *   state.json    what shoal did: nodes (host, ports, role, image digest,
 *                 cluster identity such as the Redis node id), generated
 *                 secrets.  Mode 0600.  Replaced atomically (temp file,
 *                 fsync, rename, fsync dir): a crash or kill -9 at any moment
 *                 leaves the old or the new file, never a mix or an empty one.
 *   events.jsonl  one JSON object per line, appended and fsynced.
 *   lock          flock(2) + a holder record {pid, host, user, started,
 *                 command}; the record tells a refused second operator who
 *                 holds the cluster.
 * The state root is $SHOAL_STATE_DIR when set, else ".shoal" in the current
 * directory.
 *
 * Every write goes through a held lock (struct state_lock); reads do not need
 * one.  Strings in struct state are owned by it; state_free() frees them and
 * zeroes the secrets.
 */
#ifndef SHOAL_STATE_H
#define SHOAL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "plan.h"
#include "spec.h"

/* Format 2 added nodes[].attrs; format 1 (no attrs) is still read. */
#define STATE_FORMAT 2

/* The inputs a node's config digest was made from, by name, so that a plan
 * can say which of them changed ("settings.maxmemory_policy",
 * "resources.memory", "template.file /etc/redis/redis.conf"...).  Never a
 * secret: secrets enter only through their template variables, which are
 * not attributes.  Kept sorted by name. */
struct node_attr {
	char *name;
	char *value;
};

struct node_attrs {
	struct node_attr *items;
	size_t n, cap;
};

/* Set (or replace) an attribute; both strings are copied. */
void node_attrs_set(struct node_attrs *a, const char *name, const char *value);
/* NULL when absent. */
const char *node_attrs_get(const struct node_attrs *a, const char *name);
/* *to becomes a copy of from (to's old items are freed). */
void node_attrs_copy(struct node_attrs *to, const struct node_attrs *from);
bool node_attrs_equal(const struct node_attrs *a, const struct node_attrs *b);
void node_attrs_free(struct node_attrs *a);

struct state_node {
	char *id;          /* "cache-3" */
	char *service;
	char *host;        /* host name in the spec */
	char *address;     /* host address the node listens on */
	int port;
	int bus_port;      /* 0 when none */
	char *role;        /* node_role_name() */
	int shard;         /* -1 when none */
	char *master;      /* id of the master a replica follows, or NULL */
	char *image;       /* image digest "sha256:..." or NULL before push */
	char *cluster_id;  /* the database's own id (Redis node id), or NULL */
	char *config;      /* digest of what the node was created from besides
			    * its image (converge_configs), or NULL */
	struct node_attrs attrs; /* what config was made from, by name; empty
				  * when recorded by an older shoal */
	char *status;      /* lifecycle recorded by up: "created", "started",
			    * "joined"...; free text, or NULL */
};

struct state {
	char *cluster;
	uint64_t serial;   /* +1 on every save */
	int64_t rev;       /* the store's revision of what was loaded (etcd
			    * mod_revision; 0: none, or the file store) */
	char *spec;        /* the spec file last applied, or NULL */
	char *created;     /* RFC 3339 UTC */
	char *updated;
	struct state_node *nodes;
	size_t n, cap;
	struct kv *secrets; /* name -> value (e.g. "password") */
	size_t nsecrets, secrets_cap;
	char **drained;     /* hosts `shoal drain` made unschedulable (strv), or
			       NULL for none */
};

/* <root>/<cluster> where root is $SHOAL_STATE_DIR or ".shoal".  The cluster
 * name must be safe (name_check).  Caller frees. */
int state_dir(const char *cluster, char **out, struct err *e);

/* ---- locking ----------------------------------------------------------------- */

struct state_lock;

struct lock_holder {
	long pid;
	char host[256];
	char user[64];
	char started[32];   /* RFC 3339 UTC */
	char command[512];
};

/* Take the cluster's lock without waiting.  Creates the state folder (0700).
 * When another live process holds it, fails (exit 1) with
 *   "cluster 'shop' is locked by pid 4242 on ops1 (user alice, since
 *    2026-01-01T10:00:00Z, running 'shoal up shop.cfg')"
 * When the record names a holder that is gone (its flock is free; the pid is
 * not alive on this machine), the lock is taken over and *stale (when
 * non-NULL) gets the old holder so the caller can report it.
 * `command` is recorded for others to see. */
int state_lock(const char *cluster, const char *command, struct state_lock **out,
	       struct lock_holder *stale, bool *was_stale, struct err *e);
/* The same on another lock file of the cluster's folder (`shoal monitor`
 * holds "monitor.lock" for its whole life): a live holder is refused with
 * "cluster 'shop': <what> is held by pid 4242 on ops1 (...)". */
int state_lock_named(const char *cluster, const char *file, const char *what,
		     const char *command, struct state_lock **out,
		     struct lock_holder *stale, bool *was_stale, struct err *e);
/* state_lock in the store the spec names (w->backend; NULL: the file
 * store).  etcd: the lock is PREFIX/CLUSTER/lock, bound to a lease kept
 * alive by a thread; a held lock is refused the same way, naming its
 * holder; a holder that dies frees it when its lease runs out. */
int state_lock_at(const struct spec_state *w, const char *cluster, const char *command,
		  struct state_lock **out, struct lock_holder *stale, bool *was_stale,
		  struct err *e);
/* Bind the held lock to a fence as well: from now on every write under l
 * (state, events, remove) is refused, writing nothing, unless the etcd key
 * `key` still has `create_rev` as its create_revision - the leadership
 * token of the `shoal monitor` whose reschedule runs this command
 * (monitor_leader.h).  Fails at once (ESTALE, naming `what`) when the key
 * does not have it now.  The file store has no fences: 0, nothing
 * checked. */
int state_lock_fence(struct state_lock *l, const char *key, int64_t create_rev,
		     const char *what, struct err *e);
/* Release and free (NULL-safe).  The holder record is cleared. */
void state_unlock(struct state_lock *l);
const char *state_lock_dir(const struct state_lock *l);

/* What the lock file says now (0), or -1 with ENOENT when there is none. */
int state_lock_read(const char *cluster, struct lock_holder *h, bool *held,
		    struct err *e);
int state_lock_read_named(const char *cluster, const char *file,
			  struct lock_holder *h, bool *held, struct err *e);
/* `shoal unlock`: clear a lock whose holder is gone.  When a live process
 * holds it, refuses unless force, which removes the lock file so that new
 * lockers use a fresh one (the old holder keeps a lock on nothing: use only
 * when that holder is known to be dead or wedged, e.g. on another machine).
 * *h gets the holder that was removed (h->pid 0 when there was none). */
int state_force_unlock(const char *cluster, bool force, struct lock_holder *h,
		       struct err *e);
/* The same two in the store the spec names. */
int state_lock_read_at(const struct spec_state *w, const char *cluster,
		       struct lock_holder *h, bool *held, struct err *e);
int state_force_unlock_at(const struct spec_state *w, const char *cluster, bool force,
			  struct lock_holder *h, struct err *e);

/* ---- state.json --------------------------------------------------------------- */

/* Load <dir>/state.json.  A missing file gives an empty state for `cluster`
 * (*out->serial == 0).  A corrupt file is an error naming it; it is never
 * overwritten silently. */
int state_load(const char *cluster, struct state **out, struct err *e);
/* state_load from the store the spec names (NULL: the file store). */
int state_load_at(const struct spec_state *w, const char *cluster, struct state **out,
		  struct err *e);
/* The stored text as it is (NULL when none), its revision and a name for
 * it in messages (caller frees text and where). */
int state_read_text(const struct spec_state *w, const char *cluster, char **text,
		    size_t *len, int64_t *rev, char **where, struct err *e);
/* Write state.json atomically (mode 0600) under the lock; bumps serial and
 * updated.  etcd: one transaction that puts the state only while its
 * mod_revision is still st->rev and the lock key is still bound to this
 * holder's lease; otherwise it fails naming who changed it.  A state with
 * secrets is refused by a store the spec does not allow them in. */
int state_save(struct state_lock *l, struct state *st, struct err *e);
/* Remove state.json and events.jsonl (shoal down). */
int state_remove(struct state_lock *l, struct err *e);
void state_free(struct state *st);

/* Serialise / parse (used by save/load, exposed for tests and --json). */
char *state_to_json(const struct state *st);
int state_from_json(const char *text, const char *what, struct state **out,
		    struct err *e);

struct state_node *state_find(const struct state *st, const char *id);
/* Insert or replace the node with n->id from node n of plan p; keeps image,
 * cluster_id and status of an existing entry. */
struct state_node *state_put_plan_node(struct state *st, const struct plan *p,
				       const struct plan_node *n);
/* Remove a node by id; returns true when it was there. */
bool state_drop(struct state *st, const char *id);

/* Is host drained (no node is placed there until undrained)? */
bool state_drained(const struct state *st, const char *host);
/* Mark host drained (on) or schedulable again; returns whether it changed. */
bool state_set_drained(struct state *st, const char *host, bool on);

/* The secret `name`; generated (32 random bytes, hex) and stored when absent.
 * The returned string is owned by st. */
const char *state_secret(struct state *st, const char *name, struct err *e);
/* A template's secret for one service is stored as "<service>.<name>"
 * (e.g. "cache.password"); this is state_secret() of that key. */
const char *state_service_secret(struct state *st, const char *service,
				 const char *name, struct err *e);
/* Look up without generating; NULL when absent. */
const char *state_secret_get(const struct state *st, const char *key);
/* The secrets as a kvlist view (borrowed; valid until st changes). */
struct kvlist state_secrets(const struct state *st);

/* The recorded placement for plan_compute(); borrows st's strings, free
 * the array with free(p->nodes) via state_placement_free(). */
void state_placement(const struct state *st, struct placement *out);
void state_placement_free(struct placement *p);

/* ---- events.jsonl --------------------------------------------------------------- */

/* Append {"time":..., "event": type, <fields>} as one line and fsync.
 * fields is a JSON object (json_t *) or NULL; it is not consumed. */
int state_event(struct state_lock *l, const char *type, const void *fields,
		struct err *e);
/* Every event line of the cluster, oldest first, each ended by '\n',
 * appended to out (file: events.jsonl; etcd: PREFIX/CLUSTER/events/). */
struct buf;
int state_events_read(const struct spec_state *w, const char *cluster, struct buf *out,
		      struct err *e);

/* ---- moving between stores ------------------------------------------------------ */

struct state_migrate_report {
	uint64_t serial;
	size_t nodes, state_bytes, events, events_bytes;
	char state_digest[7 + 64 + 1]; /* sha256 of the state text, as stored */
	bool canonical_source;          /* the source was byte for byte canonical */
	bool replaced;                  /* the target held another state */
	char from[512], to[512];        /* where, as named in messages */
};

/* `shoal state migrate`: with both stores locked, copy the cluster's state
 * (in its canonical form, state_to_json) and its events from store `from` to
 * store `to`, then read both back from `to` and compare them byte for byte
 * with what was written.  The source is left as it was.  A target that
 * already holds a different state is refused unless replace.  A state with
 * secrets is refused by a store the spec does not allow them in. */
int state_migrate(const struct spec_state *from, const struct spec_state *to,
		  const char *cluster, bool replace, const char *command,
		  struct state_migrate_report *r, struct err *e);

#endif
