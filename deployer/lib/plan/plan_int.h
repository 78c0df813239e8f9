/* plan_int.h - the planner's insides, shared by plan.c (greedy pass, entry
 * point), plan_search.c (complete search, refusal reasons) and plan_sets.c.
 * Not part of the plan API: nothing outside deployer/lib/plan includes it. */
#ifndef SHOAL_PLAN_INT_H
#define SHOAL_PLAN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "plan.h"

#define NONE UINT32_MAX
#define PORT_MAX 65535

/* ---- leveled set (plan_sets.c) ----------------------------------------------
 * Members 0..n-1, each with a count; members with equal counts share one
 * bitset.  lset_find() scans the lowest non-empty level from a preferred
 * member, cyclically, and offers each candidate to a callback until one is
 * accepted. */
struct level {
	uint64_t *bits;
	uint32_t pop;
};

struct lset {
	uint32_t n, words;
	uint32_t *cnt;      /* per member; NONE once removed */
	struct level *lv;   /* indexed by count */
	size_t nlv;
	uint32_t lo, hi;    /* non-empty levels are within [lo, hi] */
	uint32_t live;
};

typedef bool (*lset_try_fn)(void *ctx, uint32_t member);

/* All members start at the count given by cnt0 (NULL: 0). */
void lset_init(struct lset *s, uint32_t n, const uint32_t *cnt0);
void lset_free(struct lset *s);
void lset_remove(struct lset *s, uint32_t m);
void lset_bump(struct lset *s, uint32_t m);
/* The accepted member with the lowest count, the first at or cyclically after
 * `pref` among equals; NONE when the callback accepts none. */
uint32_t lset_find(struct lset *s, uint32_t pref, lset_try_fn try, void *ctx);

/* ---- ports in use: open-addressing set of (host << 16 | port) ------------- */
struct portset {
	uint64_t *keys; /* 0 = empty; stored as key + 1 */
	size_t cap, n;
};

bool portset_has(const struct portset *p, uint32_t host, int port);
void portset_add(struct portset *p, uint32_t host, int port);

/* ---- planner state ------------------------------------------------------- */

struct hostinfo {
	int64_t cpu_free;   /* INT64_MAX when the host declares no cpus */
	int64_t mem_free;   /* INT64_MAX when the host declares no memory */
	uint32_t rack, zone; /* interned */
	int64_t cpu0, mem0; /* free before any node is placed */
};

struct svcinfo {
	const struct spec_service *svc;
	struct plan_traits tr;
	int base_port;
	int shard_size;     /* 1 + replicas when sharded, else 1 */
	uint32_t nracks;    /* distinct racks among eligible hosts */
	uint32_t neligible;
	uint32_t *count;    /* [nhosts] nodes of this service per host */
	bool *eligible;     /* [nhosts] labels match */
	uint32_t ndoms;     /* distinct spread domains among eligible hosts */
	int level;          /* LEVEL_* the shard rules are held to now */
	int level_min;      /* lowest level allowed (strict: = level_max) */
	int level_max;      /* the spec's level */
	bool active;        /* plan_search places this service's nodes */
	bool failed;        /* the last greedy pass left nodes unplaced */
};

struct planner {
	const struct spec *s;
	struct hostinfo *hosts;
	uint32_t nhosts;
	uint32_t *by_name;  /* host indexes sorted by name */
	struct svcinfo *svcs;
	struct plan *p;
	struct portset ports;
	struct plan_problems *probs;
	size_t nproblems;
	/* the service and node being placed (new pass) */
	struct svcinfo *cur;
	struct plan_node *node;
	enum spread_kind spread;
	uint32_t *dom_of_host;   /* [nhosts] domain, NONE when not eligible */
	uint32_t *pos_in_dom;    /* [nhosts] member index inside the domain */
	uint32_t **dom_hosts;    /* [ndom][dom_nhosts] host indexes */
	uint32_t *dom_nhosts;
	uint32_t *dom_cursor;
	uint32_t ndom;
	struct lset outer;
	struct lset *inner;      /* [ndom] */
	uint16_t *port_cursor;   /* [nhosts] next offset from base_port */
	uint32_t chosen_host;
	bool strict;             /* also keep a shard's members on distinct
				  * spread domains (first choice, not a must) */
	/* the complete search (plan_search.c) */
	const struct taken_port *taken;
	uint32_t *taken_host;    /* [ntaken] host index or NONE */
	size_t ntaken;
	uint32_t *prev_host;     /* [p->n] host in the previous placement or NONE */
	uint64_t search_budget;  /* work allowed per plan_search() call */
	uint64_t search_steps;   /* work done by the current call: candidate
				  * hosts tried + hosts the bound looked at */
	bool gave_up;            /* a search ran out of steps */
	char **warnings;         /* moved into the plan */
	size_t nwarnings, capwarnings;
};

/* ---- shared by plan.c and plan_search.c ----------------------------------- */

/* One line in pl->probs for node `node` (counted even when probs is NULL). */
void problem(struct planner *pl, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Room on host h for one more node of si (capacity, max_per_host). */
bool fits(const struct planner *pl, uint32_t h, const struct svcinfo *si);
/* Charge one node of si to host h. */
void take(struct planner *pl, uint32_t h, struct svcinfo *si);
size_t svc_index(const struct planner *pl, const struct svcinfo *si);
/* Plan-array range [first, end) of the shard of node n. */
void shard_range(const struct planner *pl, const struct svcinfo *si,
		 const struct plan_node *n, size_t *first, size_t *end);
/* The spread domain (rack id, zone id or host) of host h. */
uint32_t domain_key(const struct planner *pl, enum spread_kind sp, uint32_t h);
/* May node n of si go on host h given the members of its shard placed so
 * far, at si->level (and pl->strict, the greedy pass's preference)? */
bool shard_allows(const struct planner *pl, const struct svcinfo *si,
		  const struct plan_node *n, uint32_t h);
/* Put n on h with these ports and mark the ports used (no capacity change). */
void place(struct planner *pl, struct plan_node *n, uint32_t h, int port, int bus);
/* The lowest free client port of si at or above base + *cursor on host h. */
bool free_port_from(const struct planner *pl, uint32_t h, const struct svcinfo *si,
		    uint32_t *cursor, int *port, int *bus);

/* ---- plan_roles.c --------------------------------------------------------- */

/* The id index in each slot of sharded service k (slots: shard by shard,
 * master first), from the roles prev recorded: recorded masters stay masters
 * (lowest ids first), then new ids, then replicas fill the other master
 * slots; recorded replicas keep following their master while its shard has
 * room; the rest go in id order.  NULL when every id sits in its own slot
 * (nothing recorded, or nothing to regroup); else caller frees. */
uint32_t *plan_slot_ids(const struct planner *pl, size_t k, const struct placement *prev);

/* ---- plan_search.c ---------------------------------------------------------- */

/* Levels of the shard rules of a sharded service, strongest first. */
enum {
	LEVEL_HOSTS = 0,  /* a shard's members on distinct hosts (always) */
	LEVEL_RACKS = 1,  /* + each replica off its master's rack (>= 2 racks) */
	LEVEL_SPREAD = 2, /* + a shard spans min(size, domains) spread domains */
};

/* Drop every node placed so far except (when keep_pins) the kept ones and
 * rebuild capacity, counts and ports to match. */
void planner_reset(struct planner *pl, bool keep_pins);

/* Complete search for the nodes still without a host, services with
 * `active` set only: depth first over shards with symmetry breaking and a
 * capacity bound, at most pl->search_budget units of work.  True when every such
 * node got a host (ports assigned); false leaves them unplaced, with
 * pl->gave_up set when the budget ran out. */
bool plan_search(struct planner *pl);

/* Report why the unplaced nodes of the spec cannot be placed, one problem
 * per service, naming the smallest reason: labels (a pinned host),
 * anti-affinity, a strict spread, capacity, or the services together. */
void plan_refuse(struct planner *pl);


#endif
