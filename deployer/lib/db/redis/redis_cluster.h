/* redis_cluster.h - form, read and check a Redis Cluster exactly as planned.
 *
 * shoal's plan says which nodes are masters and which master each replica
 * follows.  `redis-cli --cluster create` would pick its own pairing; this
 * module realises the plan with the cluster's own commands (CLUSTER MEET,
 * ADDSLOTSRANGE, REPLICATE) over hiredis, reads the cluster back as Redis sees
 * it (CLUSTER NODES, CLUSTER INFO of every node) and checks that view.
 *
 * Every network call has a connect and a command timeout (rc_opts.timeout_ms);
 * when a password is given every connection authenticates with it first.
 * Errors name the node: "cache-3 (10.213.0.12:7003): CLUSTER MEET: ...".
 * Nothing here exits, prints, or keeps state between calls.
 */
#ifndef SHOAL_REDIS_CLUSTER_H
#define SHOAL_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define RC_SLOTS 16384
#define RC_ID_LEN 40 /* a Redis node id: 40 lowercase hex digits */

/* One planned node.  The array order is the plan order: masters get slot
 * ranges in the order they appear. */
struct rc_node {
	const char *id;      /* shoal node id, e.g. "cache-3" (for messages) */
	const char *address; /* where shoal and the other nodes reach it */
	int port;            /* client port */
	int bus_port;        /* cluster bus port; 0 means port + 10000 */
	bool master;
	int master_index;    /* replicas: index of its master in the array; -1 for masters */
};

struct rc_opts {
	const char *password; /* requirepass/masterauth; NULL or "" = no AUTH */
	int timeout_ms;       /* connect and per-command timeout; <= 0 means 2000 */
	int settle_ms;        /* rc_form: total time allowed for the whole formation,
				 waits included; <= 0 means 30000 */
	bool fail_back;       /* rc_form: when a planned master follows its own planned
				 replica (a failover happened), make it master again
				 with CLUSTER FAILOVER instead of refusing */
	int *failed_back;     /* rc_form: += masters made master again so
				 (each once, however often asked); NULL: not
				 counted */
	const char (*forget)[RC_ID_LEN + 1]; /* rc_form: Redis ids of nodes that */
	size_t nforget;       /* left (rc_leave's answer): every planned node that
				 still knows one forgets it first */
};

/* ---- forming --------------------------------------------------------------- */

/* Form a cluster of nodes[0..n) as planned, or complete one that is partly
 * formed.  Every node must be reachable, cluster-enabled and, for a node the
 * plan gives no slots to, hold no keys.
 *
 * Steps: read every node (CLUSTER MYID/NODES/INFO); refuse what cannot be
 * fixed safely; give each planned master the slots of its even share
 * (16384 split over the masters in plan order, the first shares one larger:
 * 3 masters -> 0-5460, 5461-10922, 10923-16383) that nobody holds yet
 * (CLUSTER ADDSLOTSRANGE); introduce nodes that do not know each other
 * (CLUSTER MEET); wait until every node knows every other; point each replica
 * whose master is not the planned one at it (CLUSTER REPLICATE), after failing
 * back swapped pairs when o->fail_back allows it (CLUSTER FAILOVER); wait until
 * every node reports cluster_state:ok with all slots assigned, every replica
 * reports its planned master, and all nodes agree on every node's role.
 *
 * Idempotent: slots a node already holds stay where they are, a replica already
 * following its planned master is left alone, nodes that know each other are
 * not introduced again; on a formed cluster it sends no write command at all.
 *
 * Nodes that left (o->forget, from rc_leave) are forgotten first by every
 * planned node that still knows them, unless one still serves slots.
 *
 * Refuses (ERR_EXIT_FAIL, message naming the node) when reality contradicts
 * the plan in a way it cannot fix without losing data or breaking another
 * cluster: a node knows nodes outside the plan (it is in another cluster, or
 * an old identity of a replaced node), two nodes claim the same slot, a
 * planned replica holds slots or a planned master is a replica (unless it is
 * the pair a failover swapped and o->fail_back is set), a node without slots
 * holds keys (one importing slots aside), a planned replica has a slot open.
 * A planned master's open slots (a move an interrupted run left) are left
 * as they are, for rc_rebalance to finish.  Bad
 * input (two plan entries for one node, a replica whose master_index is not a
 * master) is ERR_EXIT_USAGE.
 *
 * On success fills out_node_ids[i] with node i's Redis node id (40 hex digits,
 * NUL-terminated).  Returns 0, or -1 with e filled. */
int rc_form(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
	    char (*out_node_ids)[RC_ID_LEN + 1], struct err *e);

/* ---- leaving ---------------------------------------------------------------- */

/* Take nodes out of a formed cluster before their containers go: stay[] are
 * the nodes that remain (their roles are not used), leave[] those that go,
 * at the addresses they have now, and recorded_ids[k] (NULL, or NULL entries,
 * when unknown) the Redis id recorded for leave[k].
 *
 * A leaving node is known by the id it reports itself, by its recorded id, and
 * by any node the others list at its address.  Nothing is changed, and the call
 * fails (EBUSY, naming the node), when by any node's report a leaving node
 * still serves slots or has slots migrating (its keys would be lost), or a
 * remaining node replicates it.  Otherwise every remaining node that answers
 * and knows a leaving node forgets it (CLUSTER FORGET; Redis then ignores it
 * for 60 s, longer than the caller needs to stop it).  A remaining node that
 * does not answer now (stopped, to be started) is skipped: pass the ids to
 * rc_form through rc_opts.forget.  With no remaining node (nstay 0: every
 * node moves) only the check is made.
 *
 * On success *ids (free it) holds the *nids Redis ids that left. */
int rc_leave(const struct rc_node *stay, size_t nstay, const struct rc_node *leave,
	     const char *const *recorded_ids, size_t nleave, const struct rc_opts *o,
	     char (**ids)[RC_ID_LEN + 1], size_t *nids, struct err *e);

/* Before planned master m restarts: make its replica r (indexes into
 * nodes[0..n)) serve m's slots, so that they stay served while m is down.
 * CLUSTER FAILOVER on r is coordinated: m pauses its clients until r has
 * caught up, so no acknowledged write is lost.  Waits (within
 * o->settle_ms) until r's replication link is up, asks, and asks again if
 * Redis abandons the failover, until r reports itself master and m itself a
 * replica (so that m restarted comes back as the replica).  Only that wait
 * when r is a master already.  rc_form with fail_back later hands the slots back:
 * not before *hand_back_at (now_ms() clock), since Redis masters vote for a
 * shard's failover at most once per two node timeouts, and a denied vote
 * holds the next attempt back longer still. */
int rc_hand_over(const struct rc_node *nodes, size_t n, size_t m, size_t r,
		 const struct rc_opts *o, int64_t *hand_back_at, struct err *e);

/* Wait (within o->settle_ms) until `node` is a replica whose replication
 * link is up: a restarted node has a copy again. */
int rc_wait_linked(const struct rc_node *node, const struct rc_opts *o, struct err *e);

/* The even split: the first and last slot of master number k (0-based, in
 * plan order) out of nmasters.  nmasters must be 1..RC_SLOTS. */
void rc_slot_share(int k, int nmasters, int *first, int *last);

/* ---- reading ---------------------------------------------------------------- */

/* Flags of a CLUSTER NODES line. */
enum {
	RC_F_MYSELF = 1 << 0,
	RC_F_MASTER = 1 << 1,
	RC_F_REPLICA = 1 << 2, /* "slave" */
	RC_F_PFAIL = 1 << 3,   /* "fail?" */
	RC_F_FAIL = 1 << 4,
	RC_F_HANDSHAKE = 1 << 5,
	RC_F_NOADDR = 1 << 6,
	RC_F_NOFAILOVER = 1 << 7,
};

struct rc_range {
	int first, last; /* inclusive */
};

/* One line of CLUSTER NODES. */
struct rc_entry {
	char id[RC_ID_LEN + 1];
	char address[64];     /* "" when the node does not know it yet */
	int port, bus_port;
	unsigned flags;       /* RC_F_* */
	char master_id[RC_ID_LEN + 1]; /* "" when none ("-") */
	uint64_t config_epoch;
	bool connected;       /* link-state "connected" */
	struct rc_range *ranges; /* slots served, ascending as Redis prints them */
	size_t nranges;
	int nslots;
	int migrating;        /* number of "[slot->-id]" / "[slot-<-id]" entries */
	int plan_index;       /* which planned node this is; -1 when none */
};

/* Parse the text of a CLUSTER NODES reply.  *out is an array of *n entries
 * (plan_index -1), freed with rc_entries_free.  A malformed line is an error
 * naming its line number. */
int rc_parse_nodes(const char *text, struct rc_entry **out, size_t *n, struct err *e);
void rc_entries_free(struct rc_entry *v, size_t n);

/* What one planned node answered. */
struct rc_observer {
	char *label;          /* "cache-3 (10.213.0.12:7003)" */
	bool master;          /* the plan's role ... */
	int master_index;     /* ... and master, copied from the plan */
	bool reachable;       /* false: `error` says why ("connect: Connection refused") */
	char *error;
	char id[RC_ID_LEN + 1]; /* its own id (its "myself" line) */
	bool state_ok;        /* cluster_state:ok */
	int slots_assigned;   /* cluster_slots_assigned */
	int known_nodes;      /* cluster_known_nodes */
	struct rc_entry *table; /* its CLUSTER NODES */
	size_t ntable;
};

/* Its own line (flag RC_F_MYSELF) in a reachable observer's table: its role,
 * master and slots by its own report.  NULL when unreachable. */
const struct rc_entry *rc_self(const struct rc_observer *ob);

/* The cluster as Redis sees it, read for a plan. */
struct rc_view {
	struct rc_observer *obs; /* obs[i] is plan node i */
	size_t n;
	/* Every node id any reachable node knows (handshake entries left out),
	 * once.  Role, master, slots and address come from the node's own
	 * "myself" line when it answered, else from the first node that lists
	 * it; PFAIL/FAIL are set when any other node says so, `connected` only
	 * when every other node that lists it has a connected link. */
	struct rc_entry *nodes;
	size_t nnodes;
	int slots_covered;       /* distinct slots some master in `nodes` serves */
	int reachable;           /* planned nodes that answered */
	int state_ok;            /* planned nodes that answered cluster_state:ok */
};

/* One node's answers, as text, for rc_view_build. */
struct rc_observation {
	const char *nodes_text; /* CLUSTER NODES reply */
	const char *info_text;  /* CLUSTER INFO reply */
	const char *error;      /* non-NULL: the node could not be asked; why */
};

/* Build a view of plan nodes[0..n) from what each answered (obs[i] belongs to
 * nodes[i]).  rc_inspect uses it; it is public so captured or synthetic
 * answers can be checked the same way.  Malformed answers are an error naming
 * the node.  Free with rc_view_free. */
int rc_view_build(const struct rc_node *nodes, size_t n, const struct rc_observation *obs,
		  struct rc_view **out, struct err *e);

/* Ask every planned node for CLUSTER NODES and CLUSTER INFO and build the
 * view.  The nodes are asked at the same time (a thread each, up to 64 at
 * once), so nodes that do not answer cost one timeout together, not one
 * each.  A node that cannot be reached or answers with an error is recorded
 * as unreachable in the view, not a failure of the call; -1 only for bad
 * input or a malformed answer. */
int rc_inspect(const struct rc_node *nodes, size_t n, const struct rc_opts *o,
	       struct rc_view **out, struct err *e);

/* NULL-safe. */
void rc_view_free(struct rc_view *v);

/* ---- checks on a view ---------------------------------------------------------
 * Each returns 0 when the property holds, else -1 with e naming the first
 * node or slot that breaks it. */

/* Every slot 0..16383 is served by a master in the view. */
int rc_check_slots(const struct rc_view *v, struct err *e);
/* Every planned node answered and reports cluster_state:ok. */
int rc_check_state(const struct rc_view *v, struct err *e);
/* Every planned node has its planned role, and each replica follows the
 * node id of its planned master, by its own report. */
int rc_check_roles(const struct rc_view *v, struct err *e);
/* The cluster's health in one word, from what the nodes report:
 *   RC_OK        every planned node answers and reports cluster_state:ok;
 *   RC_DEGRADED  some node does not answer or is not ok, but every slot is
 *                served by a master that answers cluster_state:ok (clients
 *                are served; a copy is missing);
 *   RC_FAIL      some slot is not (keys there cannot be read or written). */
enum rc_health { RC_OK, RC_DEGRADED, RC_FAIL };
enum rc_health rc_health(const struct rc_view *v);
/* Slots served by a master that answers and reports cluster_state:ok. */
int rc_slots_served(const struct rc_view *v);
/* "ok", "degraded", "fail" */
const char *rc_health_name(enum rc_health h);
/* No replica has the same address as its master, computed from the view's
 * CLUSTER NODES data alone (not from the plan). */
int rc_check_anti_affinity(const struct rc_view *v, struct err *e);

/* ---- cluster-aware writes and reads --------------------------------------------- */

struct rc_check_result {
	int attempted;    /* SETs sent */
	int acknowledged; /* SETs answered OK */
	int verified;     /* acknowledged keys read back with their value */
	int lost;         /* acknowledged keys missing or with another value */
	int unacked_present; /* keys not acknowledged but read back anyway */
	int redirects;    /* MOVED and ASK replies followed */
	int errors;       /* commands that failed (connection or error reply) */
	int unconfirmed;  /* SETs answered OK that WAIT did not confirm */
};

/* Hash slot of a key (CRC16/XMODEM of the key or of its {hash tag}, mod 16384). */
int rc_key_slot(const char *key, size_t len);

/* The set check: write nkeys fresh keys (SET, unique per call) through the
 * cluster reached from `seed`, then read every one back (GET).  Commands are
 * pipelined per node along a slot map from CLUSTER SLOTS, every node's batch
 * sent before any answer is read (the nodes work at once); MOVED updates the
 * map and resends, ASK resends once with ASKING.  A node that fails counts its
 * keys as errors and is reconnected for the next batch, so the check keeps
 * going through failures (drills count what was lost).  Returns -1 only when
 * no slot map can be had from the seed; otherwise 0 with res filled — the
 * caller judges res (e.g. lost == 0, verified == acknowledged). */
int rc_write_read_check(const struct rc_node *seed, const struct rc_opts *o, int nkeys,
			struct rc_check_result *res, struct err *e);

/* A cluster client kept across calls (the load of `shoal drill`): the slot
 * map from the first of seeds[0..n) that answers, connections per node kept
 * open, the same pipelining and redirections as the set check.  Not
 * thread-safe: one per thread.  rc_kv_open fails only when no seed gives a
 * slot map. */
struct rc_kv;
int rc_kv_open(const struct rc_node *seeds, size_t n, const struct rc_opts *o, struct rc_kv **out,
	       struct err *e);
/* SET keys[i] vals[i] for i < n; ok[i] = 1 when answered OK and, with
 * wait > 0, when the WAIT wait sent after that node's SETs confirmed them
 * (else 0).  Returns the number of failed attempts (no connection, an error
 * reply, no answer within the timeout, not confirmed). */
int rc_kv_set(struct rc_kv *kv, const char *const *keys, const char *const *vals, size_t n,
	      int wait, uint8_t *ok);
/* GET keys[i]: present[i] gets an RC_KV_* code.  Returns the number of keys
 * that could not be read (RC_KV_ERROR). */
enum { RC_KV_ABSENT = 0, RC_KV_PRESENT = 1, RC_KV_OTHER = 2, RC_KV_ERROR = 3 };
int rc_kv_get(struct rc_kv *kv, const char *const *keys, const char *const *vals, size_t n,
	      uint8_t *present);
/* NULL-safe. */
void rc_kv_close(struct rc_kv *kv);

#endif
