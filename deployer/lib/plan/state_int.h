/* state_int.h - what state.c and its store backends share; private to
 * them (the interface is state.h).
 *
 *   state.c        the state itself (JSON, nodes, secrets), the generic
 *                  load/save/event paths, and the file backend
 *   state_etcd.c   the etcd backend (keys under spec state.prefix)
 *
 * A backend stores three things per cluster: the state text (the canonical
 * JSON of state_to_json, byte for byte), an append-only list of event lines,
 * and the lock with its holder record.
 */
#ifndef SHOAL_STATE_INT_H
#define SHOAL_STATE_INT_H

#include "state.h"
#include "util.h"

struct state_etcd;

struct state_lock {
	const struct state_store_ops *ops;
	char *cluster;
	bool store_secrets;     /* secrets may go into this store */
	/* file backend (dir is set for both: the local state folder) */
	int fd;
	char *dir;
	char *path;
	/* etcd backend */
	struct state_etcd *etcd;
};

struct state_store_ops {
	const char *name;
	/* Take the cluster's lock into l (ops, cluster and dir are set). */
	int (*lock)(const struct spec_state *w, struct state_lock *l, const char *command,
		    struct lock_holder *stale, bool *was_stale, struct err *e);
	/* Release what lock took (never fails; the holder record is cleared). */
	void (*unlock)(struct state_lock *l);
	/* The state text: *text NULL when there is none (*rev 0).  *rev is the
	 * store's revision of it (etcd mod_revision; 0 for files).  *where
	 * names it in messages (caller frees). */
	int (*read)(const struct spec_state *w, const char *cluster, char **text, size_t *len,
		    int64_t *rev, char **where, struct err *e);
	/* Replace the state text under the lock, only if its revision is still
	 * `expect` (etcd); *rev gets the new one. */
	int (*write)(struct state_lock *l, const char *text, size_t len, int64_t expect,
		     int64_t *rev, struct err *e);
	/* Remove the state and the events. */
	int (*remove)(struct state_lock *l, struct err *e);
	/* Append one event line (no newline). */
	int (*event)(struct state_lock *l, const char *line, size_t len, struct err *e);
	/* Every event line, oldest first, each ended by '\n', into out. */
	int (*events_read)(const struct spec_state *w, const char *cluster, struct buf *out,
			   struct err *e);
	/* Replace all events by the lines of text (each ended by '\n'). */
	int (*events_replace)(struct state_lock *l, const char *text, size_t len,
			      struct err *e);
	/* The lock's holder record, and whether someone holds it now. */
	int (*lock_read)(const struct spec_state *w, const char *cluster, struct lock_holder *h,
			 bool *held, struct err *e);
	/* `shoal unlock [--force]` (see state_force_unlock). */
	int (*force_unlock)(const struct spec_state *w, const char *cluster, bool force,
			    struct lock_holder *h, struct err *e);
	/* state_lock_fence; NULL: the store has no fences (nothing to check). */
	int (*fence)(struct state_lock *l, const char *key, int64_t create_rev,
		     const char *what, struct err *e);
};

extern const struct state_store_ops state_file_ops;
extern const struct state_store_ops state_etcd_ops;

/* Shared by the backends. */
void state_rfc3339_now(char out[32]);
void state_holder_self(const char *command, struct lock_holder *h);
void state_holder_parse(const char *text, struct lock_holder *h);
char *state_holder_json(const struct lock_holder *h);
void state_holder_describe(const struct lock_holder *h, struct buf *b);

#endif
