/* monitor_leader.h - the leadership gate of `shoal monitor` (docs/ha.md).
 *
 * With the etcd state store, `shoal monitor` may run on several machines;
 * one of them leads and acts, the others follow (connected, probing, warm)
 * and act on nothing.  The gate campaigns from a thread of its own: the key
 * PREFIX/CLUSTER/monitor/leader, created only if absent and bound to the
 * campaigner's lease (state.lease_ttl).  The leader renews its lease every
 * third of the TTL and stops acting on its own once its last successful
 * renewal is older than TTL minus one renewal interval - before etcd can
 * expire the key and let a follower in.  Followers retry every
 * min(TTL/3, 200 ms), so one takes over at most TTL + 0.2 s (plus etcd's
 * own lease expiry check, up to 0.5 s) after the leader
 * stopped renewing.
 *
 * The fencing token is the create_revision of the leader key: it grows with
 * every new leader.  A write guarded by leader_gate_cmp() (a compare for an
 * etcd transaction) succeeds only while that token's leader still holds the
 * key, so a deposed leader's late write is refused by etcd itself.
 *
 * The file store has no gate: leader_gate_open() gives NULL and
 * leader_gate_acting(NULL) is true (one monitor per machine, monitor.lock).
 */
#ifndef SHOAL_MONITOR_LEADER_H
#define SHOAL_MONITOR_LEADER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "spec.h"

struct leader_gate;

/* Start campaigning for cluster `s->name` in the spec's etcd store; *out is
 * NULL for the file store.  `who` names this monitor in the leader key. */
int leader_gate_open(const struct spec *s, const char *who, struct leader_gate **out,
		     struct err *e);
/* Stop campaigning; a leader deletes its key and revokes its lease so a
 * follower takes over at once.  NULL-safe. */
void leader_gate_close(struct leader_gate *g);

/* Is this monitor the leader now (and may act)?  *token (when non-NULL)
 * gets the fencing token (0 when not leading).  Never blocks on etcd. */
bool leader_gate_acting(struct leader_gate *g, int64_t *token);
/* Who leads now, as last seen by the campaign ("" when nobody). */
void leader_gate_leader(struct leader_gate *g, char *out, size_t size);

/* The leader key (PREFIX/CLUSTER/monitor/leader); owned by g. */
const char *leader_gate_key(const struct leader_gate *g);

/* A compare for an etcd transaction: the leader key still has `token` as
 * its create_revision (the leader of that token still leads). */
json_t *leader_gate_cmp(const struct leader_gate *g, int64_t token);
/* Append an event line under PREFIX/CLUSTER/events/ only while `token` is
 * the leader's: -1 with ESTALE when that leader was deposed. */
int leader_gate_event(struct leader_gate *g, int64_t token, const char *line,
		      struct err *e);

#endif
