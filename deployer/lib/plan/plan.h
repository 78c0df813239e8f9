/* plan.h - placement: spec (+ previous placement) -> desired nodes.
 *
 * A pure function: no I/O, no clock, no randomness.  The same inputs always
 * give the same plan.  Given the placement recorded by the last run, nodes
 * that still fit keep their host (and port), so a changed spec moves as few
 * existing nodes as possible.
 *
 * Node ids are "<service>-<i>" for i in 0..nodes-1.  A sharded service (Redis
 * Cluster) groups ids into shards of 1 + replicas nodes: without recorded
 * roles, shard k is ids k*(1+replicas) .. k*(1+replicas)+replicas, the first
 * being the master.  So with replicas = 1: cache-0 master, cache-1 follows
 * cache-0, cache-2 master, cache-3 follows cache-2...  With recorded roles
 * (prev->nodes[].role), recorded masters stay masters and replicas keep
 * following them while the shard has room: replicas 1 -> 2 -> 1 with nodes
 * 6 -> 9 -> 6 changes no role.  Growing or shrinking the service by whole
 * shards never changes the role of an existing id.
 *
 * Constraints (every one is checked by the unit tests over random fleets):
 *  - host capacity: cpus_milli and memory minus the host's reserves, summed
 *    over every service placed on it (a host declaring 0 cpus or 0 memory
 *    is not limited in that resource; spec_load requires both);
 *  - placement.require: every listed label must equal the host's label;
 *  - placement.max_per_host: nodes of one service per host;
 *  - placement.spread host|rack|zone: nodes of a service are spread as evenly
 *    over those domains as capacity allows (the greedy pass's preference);
 *  - anti-affinity: no two members of a shard share a host (always); then
 *    by level (docs/plan.md): a replica on another rack than its master
 *    when the service's hosts span >= 2 racks (spread host asks this), and
 *    a shard spanning min(size, domains) racks or zones (spread rack|zone
 *    asks this; its whole size with spread_strict).  Best effort by
 *    default: a level no placement meets is lowered, with a warning in
 *    plan->warnings; spread_strict refuses instead.  A refusal gives one
 *    line per service with the smallest reason, e.g.
 *    "cache-5: rack spread needs 3 racks, hosts give 2 (spread_strict = true)";
 *  - ports: client port from port_base upward and, when the service has a
 *    bus, bus port = client port + bus_offset; no two ports collide on a host,
 *    and none is a port the placement lists as taken on that host.
 *
 * Masters are placed first (spread over domains), then replicas rank by rank,
 * each preferring the domain after its master's, which keeps the spread even.
 * When that greedy pass leaves a node without a host, a complete search
 * (plan_search.c) decides before anything is refused.
 *
 * Cost: O(nodes * (replicas + levels)) with per-domain bucket bitsets; never a
 * scan over all hosts per node.  bench/plan_bench.sh measures it.
 */
#ifndef SHOAL_PLAN_H
#define SHOAL_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "spec.h"
#include "traits.h"

enum node_role {
	ROLE_MASTER = 0, /* sharded service: owns slots */
	ROLE_REPLICA,    /* sharded service: follows `master` */
	ROLE_SEED,       /* unsharded service (Cassandra, Riak): a seed/contact */
	ROLE_MEMBER,     /* unsharded service: any other node */
};

const char *node_role_name(enum node_role r);
/* Inverse of node_role_name; -1 when unknown. */
int node_role_parse(const char *s);

/* struct plan_traits (traits.h): what the planner needs to know about a
 * service's template; the templates give them (template_plan_traits).
 * plan_traits_default() is what a service without traits gets: unsharded,
 * port 7000, no bus port.  The planner names no database. */
void plan_traits_default(struct plan_traits *t);

/* A node as recorded by an earlier run (from state.json).  Strings are
 * borrowed by plan_compute() for the duration of the call only. */
struct placement_node {
	const char *id;
	const char *host;
	int port;
	int bus_port;
	const char *role;   /* node_role_name(), or NULL when not recorded */
	const char *master; /* id a replica followed, or NULL */
};

/* A port something else listens on, on a host (host.ports of its agent,
 * less this cluster's own nodes): no node is placed on it. */
struct taken_port {
	const char *host;
	int port;
};

struct placement {
	const struct placement_node *nodes;
	size_t n;
	const struct taken_port *taken;
	size_t ntaken;
};

/* One desired node.  `svc` and `host` point into the spec given to
 * plan_compute(): a plan must not outlive its spec. */
struct plan_node {
	const char *id;                  /* "<service>-<i>", owned by the plan */
	const struct spec_service *svc;
	const struct spec_host *host;
	size_t svc_index, host_index;    /* indexes into spec->services/hosts */
	int index;                       /* i of "<service>-<i>" */
	int port;
	int bus_port;                    /* 0 when the service has no bus */
	enum node_role role;
	int shard;                       /* sharded services; -1 otherwise */
	int master;                      /* index into plan->nodes; -1 if none */
	int cpus_milli;
	uint64_t memory;
	bool kept;                       /* same host as in the previous placement
					  * (its port may still have changed) */
};

struct plan {
	struct plan_node *nodes;  /* by service (spec order), then shard by
				   * shard (master first) */
	size_t n;
	size_t *svc_first;        /* [nsvc + 1]: nodes of service k are
				   * nodes[svc_first[k] .. svc_first[k+1]) */
	size_t nsvc;
	char *ids;                /* one block holding every id string */
	uint32_t *pos_of;         /* [n] or NULL: nodes[pos_of[svc_first[k] + i]]
				   * is "<service k>-<i>"; NULL when every
				   * node sits at svc_first[k] + its index */
	char **warnings;          /* rules relaxed to place every node, one
				   * line each: "cache: rack spread relaxed: ..." */
	size_t nwarnings;
};

struct plan_problem {
	char *node;  /* node id */
	char *msg;   /* "cache-5: rack spread needs 3 racks, hosts give 2" */
};

struct plan_problems {
	struct plan_problem *items;
	size_t n, cap;
};

/* Compute the placement of every service of s.
 *
 * traits: one per service (s->nservices), from the templates
 * (template_traits_for_spec), or NULL for plan_traits_default() for all.
 * prev: the previous placement or NULL.
 *
 * Returns 0 and *out (caller frees with plan_free) when every node is placed.
 * Otherwise returns -1, *out is NULL, every service that cannot be placed
 * gets one line in probs (when non-NULL) naming its first unplaced node and
 * the smallest reason, and e says how many nodes are left without a host
 * (exit code 2: the spec asks for something the fleet cannot give). */
int plan_compute(const struct spec *s, const struct plan_traits *traits,
		 const struct placement *prev, struct plan **out,
		 struct plan_problems *probs, struct err *e);

void plan_free(struct plan *p);
void plan_problems_free(struct plan_problems *p);

/* The first node of p whose client or bus port is one of taken[0..n) on its
 * host, or NULL. */
const struct plan_node *plan_uses_taken(const struct plan *p,
					const struct taken_port *taken, size_t n);

/* The node with this id, or NULL.  O(log n). */
const struct plan_node *plan_find(const struct plan *p, const char *id);

/* Number of masters of a sharded service with this many nodes and replicas
 * (nodes / (1 + replicas)). */
int plan_masters(int nodes, int replicas);

#endif
