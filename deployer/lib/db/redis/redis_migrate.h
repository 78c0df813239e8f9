/* redis_migrate.h - moving hash slots between the masters of a running
 * Redis Cluster, online, as the plan's masters want them (rebalance).
 *
 * Moves follow the cluster specification's resharding protocol: CLUSTER
 * SETSLOT IMPORTING on the destination, MIGRATING on the source, the
 * slot's keys moved with MIGRATE ... KEYS in batches (GETKEYSINSLOT), then
 * SETSLOT NODE on the destination, the source and every other master.
 * Clients keep working throughout: a key not yet moved is served by the
 * source, a moved or new one by the destination after an ASK redirect, and
 * MOVED once the slot has changed hands.  No key is lost: MIGRATE copies a
 * key and deletes it on the source in one step.
 *
 * Faster than `redis-cli --cluster rebalance` because several slots are in
 * flight at once (worker threads, each its own connections), the commands of
 * a group of slots are pipelined, and one MIGRATE carries many keys.
 * Nothing here exits or prints; errors name the node and the slot.
 */
#ifndef SHOAL_REDIS_MIGRATE_H
#define SHOAL_REDIS_MIGRATE_H

#include <stdint.h>

#include "redis_cluster.h"

struct rc_migrate_opts {
	int batch;    /* keys per GETKEYSINSLOT / MIGRATE; <= 0: 1000 */
	int group;    /* slots per pipelined group (one source, one destination);
			 <= 0: 64 */
	int threads;  /* groups in flight at once; <= 0: 8 */
	int pipeline; /* MIGRATEs sent at once on a connection; <= 0: 4 */
};

struct rc_rebalance_result {
	int slots_moved;       /* slots that changed owner */
	long long keys_moved;  /* keys MIGRATE carried */
	int resumed;           /* slots an interrupted move had left open */
	int64_t ms;
};

/* The share of slots master k of nmasters should serve: counts only (which
 * slots does not matter), every master within one of the others.  cur[k]
 * is what master k serves now; the masters serving most get the extra
 * slots, so that fewest move.  target[k] is filled (nothing when nmasters
 * is not positive). */
void rc_balance_targets(const int *cur, int nmasters, int *target);

/* Rebalance the cluster of the planned nodes[0..n) (the plan's masters and
 * replicas, as for rc_form; all must answer): every planned master ends up
 * serving its share (rc_balance_targets over the planned masters), and a
 * master outside the plan (a node about to leave) ends up serving none.
 * Slots move from those above their share to those below it, while the
 * cluster serves clients.  A slot a previous, interrupted move left open
 * (MIGRATING/IMPORTING) is moved to where it was going first.
 *
 * A pair a failover swapped (the planned master now a replica of its own
 * planned replica) counts as one master: the replica serving the shard
 * gets its share, and form's fail-back later hands it back.  Refuses
 * (EEXIST, naming the node), changing nothing, when a planned master
 * follows another node, a planned replica serves slots outside such a
 * pair, or two masters claim one slot; EHOSTUNREACH when a master outside the plan that serves slots does
 * not answer (its slots cannot be moved; bring it back or let its replica
 * take over).  A failure midway leaves every slot served (at most the
 * slots in flight open, which the next call finishes).
 *
 * mo may be NULL (defaults); res may be NULL.  Returns 0 or -1 with e. */
int rc_rebalance(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
		 const struct rc_migrate_opts *mo, struct rc_rebalance_result *res,
		 struct err *e);

#endif
