/* plan.c - placement of nodes on hosts; see plan.h for the contract.
 *
 * Shape of the algorithm, per service:
 *   1. keep pass (all services first): every node of the previous placement
 *      whose host still satisfies every constraint keeps host and port;
 *   2. new pass: masters by shard, then replicas rank by rank, each choosing
 *      the least loaded spread domain (rack, zone or host) and, inside it, the
 *      least loaded host, skipping what anti-affinity forbids.
 *
 * "Least loaded" is answered by a leveled set (struct lset): members are
 * bucketed by their count of this service's nodes, each bucket a bitset, so
 * finding the emptiest member from a preferred position is a short bit scan
 * instead of a pass over every host.
 */
#include "plan_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

/* Work one complete search may do before it gives up: candidate hosts
 * tried plus hosts the capacity bound looked at (about 0.2 s; the property
 * test's cases use far less, bench/plan_bench --search reports the worst). */
#define PLAN_SEARCH_STEPS 40000000

const char *node_role_name(enum node_role r)
{
	switch (r) {
	case ROLE_MASTER: return "master";
	case ROLE_REPLICA: return "replica";
	case ROLE_SEED: return "seed";
	case ROLE_MEMBER: return "member";
	}
	return "?";
}

int node_role_parse(const char *s)
{
	for (int r = ROLE_MASTER; r <= ROLE_MEMBER; r++)
		if (!strcmp(s, node_role_name((enum node_role)r)))
			return r;
	return -1;
}

void plan_traits_default(struct plan_traits *t)
{
	memset(t, 0, sizeof *t);
	t->default_port = 7000;
}

int plan_masters(int nodes, int replicas)
{
	if (nodes <= 0)
		return 0;
	if (replicas < 0)
		replicas = 0;
	return nodes / (1 + replicas) + (nodes % (1 + replicas) ? 1 : 0);
}

void problem(struct planner *pl, const char *node, const char *fmt, ...)
{
	struct plan_problems *ps = pl->probs;
	char msg[512];
	va_list ap;

	pl->nproblems++;
	if (!ps)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ps->items = xgrow(ps->items, &ps->cap, ps->n + 1, sizeof *ps->items);
	ps->items[ps->n].node = xstrdup(node);
	ps->items[ps->n].msg = xasprintf("%s: %s", node, msg);
	ps->n++;
}

/* Intern the rack or zone names of every host: equal names, equal ids. */
struct name_ref {
	const char *name;
	uint32_t host;
};

static int cmp_name_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x->host > y->host) - (x->host < y->host);
}

static void intern(const struct spec *s, bool zone, struct hostinfo *hi)
{
	struct name_ref *refs = xcalloc(s->nhosts, sizeof *refs);
	uint32_t id = 0;

	for (size_t h = 0; h < s->nhosts; h++) {
		const char *v = zone ? s->hosts[h].zone : s->hosts[h].rack;

		refs[h].name = v ? v : "default";
		refs[h].host = (uint32_t)h;
	}
	qsort(refs, s->nhosts, sizeof *refs, cmp_name_ref);
	for (size_t i = 0; i < s->nhosts; i++) {
		if (i && strcmp(refs[i].name, refs[i - 1].name))
			id++;
		if (zone)
			hi[refs[i].host].zone = id;
		else
			hi[refs[i].host].rack = id;
	}
	free(refs);
}

static int cmp_host_name(const void *a, const void *b, void *ctx)
{
	const struct spec *s = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return strcmp(s->hosts[x].name, s->hosts[y].name);
}

static uint32_t host_by_name(const struct planner *pl, const char *name)
{
	size_t lo = 0, hi = pl->nhosts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(pl->s->hosts[pl->by_name[mid]].name, name);

		if (!c)
			return pl->by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static bool labels_match(const struct spec_host *h, const struct kvlist *req)
{
	for (size_t i = 0; i < req->n; i++) {
		const char *v = kvlist_get(&h->labels, req->items[i].key, NULL);

		if (!v || strcmp(v, req->items[i].value))
			return false;
	}
	return true;
}

bool fits(const struct planner *pl, uint32_t h, const struct svcinfo *si)
{
	const struct hostinfo *hi = &pl->hosts[h];
	const struct spec_service *svc = si->svc;

	if (svc->placement.max_per_host > 0 &&
	    si->count[h] >= (uint32_t)svc->placement.max_per_host)
		return false;
	return hi->cpu_free >= (int64_t)svc->resources.cpus_milli &&
	       (uint64_t)hi->mem_free >= svc->resources.memory;
}

void take(struct planner *pl, uint32_t h, struct svcinfo *si)
{
	struct hostinfo *hi = &pl->hosts[h];

	if (hi->cpu_free != INT64_MAX)
		hi->cpu_free -= si->svc->resources.cpus_milli;
	if (hi->mem_free != INT64_MAX)
		hi->mem_free -= (int64_t)si->svc->resources.memory;
	si->count[h]++;
}

static bool ports_free(const struct planner *pl, uint32_t h, int port, int bus)
{
	if (port <= 0 || port > PORT_MAX || bus < 0 || bus > PORT_MAX)
		return false;
	if (portset_has(&pl->ports, h, port))
		return false;
	return !bus || (bus != port && !portset_has(&pl->ports, h, bus));
}

/* The lowest free client port at or above base + *cursor on host h (and its
 * bus port); advances *cursor past it.  False when the range is exhausted. */
bool free_port_from(const struct planner *pl, uint32_t h,
			   const struct svcinfo *si, uint32_t *cursor, int *port,
			   int *bus)
{
	int off = si->tr.bus_offset;

	for (uint32_t k = *cursor;; k++) {
		int p = si->base_port + (int)k;
		int b = off ? p + off : 0;

		if (p > PORT_MAX || b > PORT_MAX)
			return false;
		if (ports_free(pl, h, p, b)) {
			*cursor = k + 1;
			*port = p;
			*bus = b;
			return true;
		}
	}
}

/* New-pass port choice: continue from the host's cursor. */
static bool pick_port(struct planner *pl, uint32_t h, const struct svcinfo *si,
		      int *port, int *bus)
{
	uint32_t k = pl->port_cursor[h];
	bool ok = free_port_from(pl, h, si, &k, port, bus);

	pl->port_cursor[h] = (uint16_t)(k > UINT16_MAX ? UINT16_MAX : k);
	return ok;
}

static void use_ports(struct planner *pl, uint32_t h, int port, int bus)
{
	portset_add(&pl->ports, h, port);
	if (bus)
		portset_add(&pl->ports, h, bus);
}

/* ---- shards and anti-affinity --------------------------------------------- */

size_t svc_index(const struct planner *pl, const struct svcinfo *si)
{
	return (size_t)(si - pl->svcs);
}

/* Plan-array range of the shard of node n. */
void shard_range(const struct planner *pl, const struct svcinfo *si,
			const struct plan_node *n, size_t *first, size_t *end)
{
	size_t base = pl->p->svc_first[svc_index(pl, si)];
	size_t limit = pl->p->svc_first[svc_index(pl, si) + 1];
	size_t k = ((size_t)(n - pl->p->nodes) - base) / (size_t)si->shard_size;

	*first = base + k * (size_t)si->shard_size;
	*end = *first + (size_t)si->shard_size;
	if (*end > limit)
		*end = limit;
}

uint32_t domain_key(const struct planner *pl, enum spread_kind sp,
			   uint32_t h)
{
	switch (sp) {
	case SPREAD_RACK: return pl->hosts[h].rack;
	case SPREAD_ZONE: return pl->hosts[h].zone;
	case SPREAD_HOST: break;
	}
	return h;
}

/* With n on h sharing a spread domain with another member, can the shard
 * still span the domains LEVEL_SPREAD asks for: min(size, domains), or
 * its whole size when strict? */
static bool shard_can_spread(const struct planner *pl, const struct svcinfo *si,
			     size_t first, size_t end, const struct plan_node *n,
			     uint32_t h, size_t placed)
{
	enum spread_kind sp = si->svc->placement.spread;
	uint32_t keys[64], nk = 0, size = (uint32_t)(end - first);
	uint32_t target = size;

	if (si->level_min < LEVEL_SPREAD && si->ndoms < target)
		target = si->ndoms;
	keys[nk++] = domain_key(pl, sp, h);
	for (size_t i = first; i < end && nk < 64; i++) {
		const struct plan_node *m = &pl->p->nodes[i];
		uint32_t k;
		bool seen = false;

		if (m == n || !m->host)
			continue;
		k = domain_key(pl, sp, (uint32_t)m->host_index);
		for (uint32_t j = 0; j < nk && !seen; j++)
			seen = keys[j] == k;
		if (!seen)
			keys[nk++] = k;
	}
	return nk + (size - (uint32_t)placed - 1) >= target;
}

/* May node n (of service si) go on host h, given the members of its shard
 * placed so far?  Checks host anti-affinity and, by si->level, the replica
 * rack rule and the shard's spread over domains; pl->strict (the greedy
 * pass's first try) asks for distinct domains outright. */
bool shard_allows(const struct planner *pl, const struct svcinfo *si,
		  const struct plan_node *n, uint32_t h)
{
	size_t first, end, placed = 0;
	bool dup = false;

	if (!si->tr.sharded)
		return true;
	shard_range(pl, si, n, &first, &end);
	const struct plan_node *master = &pl->p->nodes[first];
	enum spread_kind sp = si->svc->placement.spread;
	bool spread_rule = sp != SPREAD_HOST && (pl->strict || si->level >= LEVEL_SPREAD);
	bool rack_rule = si->level >= LEVEL_RACKS && si->nracks >= 2;

	for (size_t i = first; i < end; i++) {
		const struct plan_node *m = &pl->p->nodes[i];

		if (m == n || !m->host)
			continue;
		placed++;
		if (m->host_index == h)
			return false;
		/* the rack rule binds a master and each of its replicas, in
		 * whichever order they are placed (kept replicas may come
		 * before a master that has to move) */
		if (rack_rule && (m == master || n == master) &&
		    pl->hosts[m->host_index].rack == pl->hosts[h].rack)
			return false;
		if (spread_rule &&
		    domain_key(pl, sp, (uint32_t)m->host_index) == domain_key(pl, sp, h)) {
			if (pl->strict)
				return false;
			dup = true;
		}
	}
	if (dup)
		return shard_can_spread(pl, si, first, end, n, h, placed);
	return true;
}

void place(struct planner *pl, struct plan_node *n, uint32_t h, int port,
		  int bus)
{
	n->host_index = h;
	n->host = &pl->s->hosts[h];
	n->port = port;
	n->bus_port = bus;
	use_ports(pl, h, port, bus);
}

/* ---- keep pass -------------------------------------------------------------- */

static int cmp_prev(const void *a, const void *b, void *ctx)
{
	const struct placement *prev = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return strcmp(prev->nodes[x].id, prev->nodes[y].id);
}

static const struct placement_node *prev_find(const struct placement *prev,
					      const uint32_t *order,
					      const char *id)
{
	size_t lo = 0, hi = prev->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct placement_node *pn = &prev->nodes[order[mid]];
		int c = strcmp(pn->id, id);

		if (!c)
			return pn;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Keep recorded nodes where they are while their host still satisfies
 * every constraint.  Two rounds: first every node whose recorded port is
 * still free keeps it, then those whose port no longer fits the spec or is
 * taken get the lowest free one on the same host - after the others, so
 * that a moved node never takes a port a kept node still holds. */
static void keep_pass(struct planner *pl, const struct placement *prev)
{
	uint32_t *order;

	if (!prev || !prev->n)
		return;
	order = xcalloc(prev->n, sizeof *order);
	for (size_t i = 0; i < prev->n; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, prev->n, sizeof *order, cmp_prev, (void *)prev);

	for (int round = 0; round < 2; round++) {
		for (size_t si_i = 0; si_i < pl->s->nservices; si_i++) {
			struct svcinfo *si = &pl->svcs[si_i];

			for (size_t i = pl->p->svc_first[si_i]; i < pl->p->svc_first[si_i + 1]; i++) {
				struct plan_node *n = &pl->p->nodes[i];
				const struct placement_node *pn = prev_find(prev, order, n->id);
				uint32_t h;

				if (n->kept || !pn || !pn->host)
					continue;
				h = host_by_name(pl, pn->host);
				pl->prev_host[i] = h;
				if (h == NONE || !si->eligible[h] || !fits(pl, h, si) ||
				    !shard_allows(pl, si, n, h))
					continue;
				int port = pn->port;
				int bus = si->tr.bus_offset ? port + si->tr.bus_offset : 0;
				bool same = port >= si->base_port && ports_free(pl, h, port, bus) &&
					    (!bus || pn->bus_port == bus);

				if (!same) {
					uint32_t k = 0;

					if (round == 0 || !free_port_from(pl, h, si, &k, &port, &bus))
						continue;
				}
				take(pl, h, si);
				place(pl, n, h, port, bus);
				n->kept = true;
			}
		}
	}
	free(order);
}

/* ---- new pass ------------------------------------------------------------------ */

static void domains_free(struct planner *pl)
{
	for (uint32_t d = 0; d < pl->ndom; d++) {
		free(pl->dom_hosts[d]);
		lset_free(&pl->inner[d]);
	}
	free(pl->dom_hosts);
	free(pl->dom_nhosts);
	free(pl->dom_cursor);
	free(pl->inner);
	lset_free(&pl->outer);
	free(pl->dom_of_host);
	free(pl->pos_in_dom);
	free(pl->port_cursor);
	pl->dom_hosts = NULL;
	pl->dom_nhosts = NULL;
	pl->dom_cursor = NULL;
	pl->inner = NULL;
	pl->dom_of_host = NULL;
	pl->pos_in_dom = NULL;
	pl->port_cursor = NULL;
	pl->ndom = 0;
}

/* Host order inside a domain: round robin over racks (hosts of one rack in
 * spec order), so that neighbours in the order are on different racks. */
struct rr_ref {
	uint32_t rack, seq, host;
};

static int cmp_rr(const void *a, const void *b)
{
	const struct rr_ref *x = a, *y = b;

	if (x->seq != y->seq)
		return (x->seq > y->seq) - (x->seq < y->seq);
	if (x->rack != y->rack)
		return (x->rack > y->rack) - (x->rack < y->rack);
	return (x->host > y->host) - (x->host < y->host);
}

static void domains_build(struct planner *pl, struct svcinfo *si)
{
	enum spread_kind sp = si->svc->placement.spread;
	uint32_t nh = pl->nhosts;
	struct rr_ref *rr = xcalloc(nh, sizeof *rr);
	uint32_t *rack_seen = xcalloc(nh + 1, sizeof *rack_seen);
	uint32_t *key_dom = xcalloc(nh + 1, sizeof *key_dom);
	uint32_t nrr = 0;

	pl->dom_of_host = xcalloc(nh, sizeof *pl->dom_of_host);
	pl->pos_in_dom = xcalloc(nh, sizeof *pl->pos_in_dom);
	pl->port_cursor = xcalloc(nh, sizeof *pl->port_cursor);
	for (uint32_t h = 0; h < nh; h++) {
		pl->dom_of_host[h] = NONE;
		if (!si->eligible[h])
			continue;
		rr[nrr].rack = pl->hosts[h].rack;
		rr[nrr].seq = rack_seen[pl->hosts[h].rack]++;
		rr[nrr].host = h;
		nrr++;
	}
	qsort(rr, nrr, sizeof *rr, cmp_rr);

	/* Domains are numbered in the order their first host appears in rr; the
	 * domain key (rack id, zone id or host) maps to a domain number. */
	for (uint32_t k = 0; k <= nh; k++)
		key_dom[k] = NONE;
	pl->ndom = 0;
	for (uint32_t i = 0; i < nrr; i++) {
		uint32_t key = domain_key(pl, sp, rr[i].host);

		if (key_dom[key] == NONE)
			key_dom[key] = pl->ndom++;
	}
	pl->dom_nhosts = xcalloc(pl->ndom ? pl->ndom : 1, sizeof *pl->dom_nhosts);
	pl->dom_hosts = xcalloc(pl->ndom ? pl->ndom : 1, sizeof *pl->dom_hosts);
	pl->dom_cursor = xcalloc(pl->ndom ? pl->ndom : 1, sizeof *pl->dom_cursor);
	pl->inner = xcalloc(pl->ndom ? pl->ndom : 1, sizeof *pl->inner);
	for (uint32_t i = 0; i < nrr; i++)
		pl->dom_nhosts[key_dom[domain_key(pl, sp, rr[i].host)]]++;
	for (uint32_t d = 0; d < pl->ndom; d++) {
		pl->dom_hosts[d] = xcalloc(pl->dom_nhosts[d], sizeof **pl->dom_hosts);
		pl->dom_nhosts[d] = 0;
	}
	for (uint32_t i = 0; i < nrr; i++) {
		uint32_t h = rr[i].host, d = key_dom[domain_key(pl, sp, h)];

		pl->dom_of_host[h] = d;
		pl->pos_in_dom[h] = pl->dom_nhosts[d];
		pl->dom_hosts[d][pl->dom_nhosts[d]++] = h;
	}

	/* Counts so far (kept nodes) seed the levels; full hosts leave at once. */
	uint32_t *dcount = xcalloc(pl->ndom ? pl->ndom : 1, sizeof *dcount);
	for (uint32_t d = 0; d < pl->ndom; d++) {
		uint32_t *c = xcalloc(pl->dom_nhosts[d], sizeof *c);

		for (uint32_t j = 0; j < pl->dom_nhosts[d]; j++) {
			c[j] = si->count[pl->dom_hosts[d][j]];
			dcount[d] += c[j];
		}
		lset_init(&pl->inner[d], pl->dom_nhosts[d], c);
		for (uint32_t j = 0; j < pl->dom_nhosts[d]; j++)
			if (!fits(pl, pl->dom_hosts[d][j], si))
				lset_remove(&pl->inner[d], j);
		free(c);
	}
	lset_init(&pl->outer, pl->ndom, dcount);
	for (uint32_t d = 0; d < pl->ndom; d++)
		if (pl->inner[d].live == 0)
			lset_remove(&pl->outer, d);
	free(dcount);
	free(key_dom);
	free(rack_seen);
	free(rr);
}

/* inner callback: host j of the current domain */
struct try_ctx {
	struct planner *pl;
	uint32_t dom;
	int port, bus;
};

static bool try_host(void *vctx, uint32_t j)
{
	struct try_ctx *c = vctx;
	struct planner *pl = c->pl;
	uint32_t h = pl->dom_hosts[c->dom][j];

	if (!shard_allows(pl, pl->cur, pl->node, h))
		return false;
	return pick_port(pl, h, pl->cur, &c->port, &c->bus);
}

static bool try_domain(void *vctx, uint32_t d)
{
	struct try_ctx *c = vctx;
	struct planner *pl = c->pl;
	uint32_t j;

	c->dom = d;
	if (pl->strict && pl->cur->tr.sharded && pl->spread != SPREAD_HOST) {
		size_t first, end;

		shard_range(pl, pl->cur, pl->node, &first, &end);
		for (size_t i = first; i < end; i++) {
			const struct plan_node *m = &pl->p->nodes[i];

			if (m != pl->node && m->host && pl->dom_of_host[m->host_index] == d)
				return false;
		}
	}
	j = lset_find(&pl->inner[d], pl->dom_cursor[d], try_host, c);
	if (j == NONE)
		return false;
	pl->chosen_host = pl->dom_hosts[d][j];
	return true;
}

static void place_new(struct planner *pl, struct svcinfo *si, struct plan_node *n,
		      uint32_t *outer_cursor)
{
	struct try_ctx c = {.pl = pl};
	uint32_t pref = *outer_cursor;
	uint32_t d;

	pl->node = n;
	if (si->tr.sharded && n->role == ROLE_REPLICA) {
		size_t first, end;

		shard_range(pl, si, n, &first, &end);
		const struct plan_node *m = &pl->p->nodes[first];
		if (m->host && pl->ndom)
			pref = (pl->dom_of_host[m->host_index] +
				(uint32_t)((size_t)(n - &pl->p->nodes[first]))) % pl->ndom;
	}
	/* First try to give each member of a shard its own rack (zone); when
	 * the fleet cannot, settle for the hard rules alone. */
	pl->strict = true;
	d = lset_find(&pl->outer, pref, try_domain, &c);
	if (d == NONE && si->tr.sharded && pl->spread != SPREAD_HOST) {
		pl->strict = false;
		d = lset_find(&pl->outer, pref, try_domain, &c);
	}
	if (d == NONE)
		return;
	uint32_t h = pl->chosen_host, j = pl->pos_in_dom[h];

	take(pl, h, si);
	place(pl, n, h, c.port, c.bus);
	if (n->role != ROLE_REPLICA)
		*outer_cursor = d + 1 < pl->ndom ? d + 1 : 0;
	pl->dom_cursor[d] = j + 1 < pl->dom_nhosts[d] ? j + 1 : 0;
	lset_bump(&pl->inner[d], j);
	lset_bump(&pl->outer, d);
	if (!fits(pl, h, si)) {
		lset_remove(&pl->inner[d], j);
		if (pl->inner[d].live == 0)
			lset_remove(&pl->outer, d);
	}
}

static void new_pass(struct planner *pl, struct svcinfo *si)
{
	size_t si_i = svc_index(pl, si);
	size_t first = pl->p->svc_first[si_i], end = pl->p->svc_first[si_i + 1];
	uint32_t cursor = 0;

	pl->cur = si;
	pl->spread = si->svc->placement.spread;
	domains_build(pl, si);
	/* rank 0 (masters, or every node of an unsharded service), then 1.. */
	for (int rank = 0; rank < si->shard_size; rank++)
		for (size_t i = first + (size_t)rank; i < end; i += (size_t)si->shard_size) {
			struct plan_node *n = &pl->p->nodes[i];

			if (!n->host)
				place_new(pl, si, n, &cursor);
		}
	domains_free(pl);
}

/* Unsharded services: up to three seeds, one per rack first. */
static void choose_seeds(struct planner *pl, size_t si_i)
{
	size_t first = pl->p->svc_first[si_i], end = pl->p->svc_first[si_i + 1];
	bool *rack_has = xcalloc(pl->nhosts + 1, sizeof *rack_has);
	int seeds = 0;

	for (size_t i = first; i < end && seeds < 3; i++) {
		struct plan_node *n = &pl->p->nodes[i];
		uint32_t r = pl->hosts[n->host_index].rack;

		if (!rack_has[r]) {
			rack_has[r] = true;
			n->role = ROLE_SEED;
			seeds++;
		}
	}
	for (size_t i = first; i < end && seeds < 3; i++)
		if (pl->p->nodes[i].role != ROLE_SEED) {
			pl->p->nodes[i].role = ROLE_SEED;
			seeds++;
		}
	free(rack_has);
}

/* ---- levels, greedy, search ------------------------------------------------ */

/* Spread domains among si's eligible hosts, and the levels its shard rules
 * may take: rack/zone spread asks LEVEL_SPREAD, host spread LEVEL_RACKS;
 * best effort (the default) may relax down to LEVEL_HOSTS, spread_strict
 * may not relax at all. */
static void svc_levels(struct planner *pl, struct svcinfo *si)
{
	enum spread_kind sp = si->svc->placement.spread;
	bool *seen = xcalloc(pl->nhosts + 1, sizeof *seen);

	for (uint32_t h = 0; h < pl->nhosts; h++)
		if (si->eligible[h] && !seen[domain_key(pl, sp, h)]) {
			seen[domain_key(pl, sp, h)] = true;
			si->ndoms++;
		}
	free(seen);
	si->active = true;
	si->level_max = !si->tr.sharded ? LEVEL_HOSTS
			: sp == SPREAD_HOST ? LEVEL_RACKS : LEVEL_SPREAD;
	si->level_min = si->svc->placement.spread_strict ? si->level_max : LEVEL_HOSTS;
	si->level = si->level_max;
}

/* Keep pass, then the new pass of every service; true when every node has
 * a host.  Marks the services left with unplaced nodes. */
static bool greedy(struct planner *pl, const struct placement *prev)
{
	bool ok = true;

	pl->strict = false;
	keep_pass(pl, prev);
	for (size_t k = 0; k < pl->s->nservices; k++)
		new_pass(pl, &pl->svcs[k]);
	pl->strict = false;
	for (size_t k = 0; k < pl->s->nservices; k++) {
		pl->svcs[k].failed = false;
		for (size_t i = pl->p->svc_first[k]; i < pl->p->svc_first[k + 1]; i++)
			if (!pl->p->nodes[i].host) {
				pl->svcs[k].failed = true;
				ok = false;
				break;
			}
	}
	return ok;
}

/* Lower the level of one service that may relax, one the greedy pass could
 * not place first; false when none can. */
static bool relax(struct planner *pl)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < pl->s->nservices; k++) {
			struct svcinfo *si = &pl->svcs[k];

			if (si->level > si->level_min && (pass || si->failed)) {
				si->level--;
				return true;
			}
		}
	return false;
}

/* Greedy first; when it fails, the complete search with kept nodes pinned,
 * then with every node free (previous hosts tried first), and only then a
 * lower level for a service that allows it. */
static bool solve(struct planner *pl, const struct placement *prev)
{
	for (;;) {
		bool recorded = false;

		if (greedy(pl, prev))
			return true;
		/* keep_pass (in greedy) noted the previous hosts */
		for (size_t i = 0; i < pl->p->n && !recorded; i++)
			recorded = pl->prev_host[i] != NONE;
		planner_reset(pl, true);
		if (plan_search(pl))
			return true;
		/* with nothing recorded, the free search is the one just done */
		planner_reset(pl, false);
		if (recorded && plan_search(pl))
			return true;
		if (!relax(pl))
			return false;
		planner_reset(pl, false);
	}
}

static void warn(struct planner *pl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void warn(struct planner *pl, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	pl->warnings = xgrow(pl->warnings, &pl->capwarnings, pl->nwarnings + 1,
			     sizeof *pl->warnings);
	pl->warnings[pl->nwarnings++] = msg;
}

/* One warning per service whose spread is not what the spec asked for. */
static void warn_relaxed(struct planner *pl)
{
	for (size_t k = 0; k < pl->s->nservices; k++) {
		const struct svcinfo *si = &pl->svcs[k];
		const char *name = si->svc->name;
		const char *sp = spread_kind_name(si->svc->placement.spread);

		if (!si->tr.sharded)
			continue;
		if (si->level == LEVEL_SPREAD && si->ndoms < (uint32_t)si->shard_size)
			warn(pl, "%s: %s spread relaxed: shards of %d nodes span the %u %ss the hosts give (spread_strict = true refuses instead)",
			     name, sp, si->shard_size, si->ndoms, sp);
		else if (si->level == LEVEL_RACKS && si->level_max == LEVEL_SPREAD)
			warn(pl, "%s: %s spread relaxed: the hosts' room does not let every shard span %u %ss; each replica is still off its master's rack",
			     name, sp, si->ndoms < (uint32_t)si->shard_size ? si->ndoms : (uint32_t)si->shard_size, sp);
		else if (si->level == LEVEL_HOSTS && si->level_max > LEVEL_HOSTS && si->nracks >= 2)
			warn(pl, "%s: rack rule relaxed: the hosts' room leaves some replicas on their master's rack (shard members are still on distinct hosts)",
			     name);
	}
}

/* ---- entry point ---------------------------------------------------------------- */

static int64_t capacity(int64_t total, int64_t reserve)
{
	if (total <= 0)
		return INT64_MAX;
	return total > reserve ? total - reserve : 0;
}

static void plan_init_nodes(struct planner *pl, const struct placement *prev)
{
	const struct spec *s = pl->s;
	struct plan *p = pl->p;
	size_t total = 0, idbytes = 0, off = 0;

	p->nsvc = s->nservices;
	p->svc_first = xcalloc(s->nservices + 1, sizeof *p->svc_first);
	for (size_t k = 0; k < s->nservices; k++) {
		int nn = s->services[k].nodes > 0 ? s->services[k].nodes : 0;

		p->svc_first[k] = total;
		total += (size_t)nn;
		idbytes += (size_t)nn * (strlen(s->services[k].name) + 13);
	}
	p->svc_first[s->nservices] = total;
	p->n = total;
	p->nodes = xcalloc(total, sizeof *p->nodes);
	p->ids = xmalloc(idbytes + 1);
	uint32_t **perms = xcalloc(s->nservices ? s->nservices : 1, sizeof *perms);
	for (size_t k = 0; k < s->nservices; k++)
		if ((perms[k] = plan_slot_ids(pl, k, prev)) && !p->pos_of)
			p->pos_of = xcalloc(total ? total : 1, sizeof *p->pos_of);
	for (size_t k = 0; k < s->nservices; k++) {
		const struct svcinfo *si = &pl->svcs[k];
		uint32_t *perm = perms[k];

		for (size_t i = p->svc_first[k]; p->pos_of && i < p->svc_first[k + 1]; i++)
			p->pos_of[p->svc_first[k] + (perm ? perm[i - p->svc_first[k]] : i - p->svc_first[k])] =
				(uint32_t)i;
		for (size_t i = p->svc_first[k]; i < p->svc_first[k + 1]; i++) {
			struct plan_node *n = &p->nodes[i];
			int slot = (int)(i - p->svc_first[k]);
			int idx = perm ? (int)perm[slot] : slot;
			int w = snprintf(p->ids + off, idbytes + 1 - off, "%s-%d",
					 si->svc->name, idx);

			n->id = p->ids + off;
			off += (size_t)w + 1;
			n->svc = si->svc;
			n->svc_index = k;
			n->index = idx;
			n->host_index = SIZE_MAX;
			n->cpus_milli = si->svc->resources.cpus_milli;
			n->memory = si->svc->resources.memory;
			n->master = -1;
			n->shard = -1;
			if (si->tr.sharded) {
				int rank = slot % si->shard_size;

				n->shard = slot / si->shard_size;
				n->role = rank ? ROLE_REPLICA : ROLE_MASTER;
				if (rank)
					n->master = (int)(i - (size_t)rank);
			} else {
				n->role = ROLE_MEMBER;
			}
		}
		free(perm);
	}
	free(perms);
}

static void planner_free(struct planner *pl)
{
	if (pl->svcs)
		for (size_t k = 0; k < pl->s->nservices; k++) {
			free(pl->svcs[k].count);
			free(pl->svcs[k].eligible);
		}
	free(pl->svcs);
	free(pl->hosts);
	free(pl->by_name);
	free(pl->ports.keys);
	free(pl->prev_host);
	free(pl->taken_host);
	for (size_t i = 0; i < pl->nwarnings; i++)
		free(pl->warnings[i]);
	free(pl->warnings);
	domains_free(pl);
}

int plan_compute(const struct spec *s, const struct plan_traits *traits,
		 const struct placement *prev, struct plan **out,
		 struct plan_problems *probs, struct err *e)
{
	struct planner pl = {.s = s, .probs = probs};
	size_t unplaced = 0;

	*out = NULL;
	if (s->nhosts >= NONE / 2)
		return err_usage(e, "%s: too many hosts (%zu)", s->path ? s->path : "spec",
				 s->nhosts);
	pl.nhosts = (uint32_t)s->nhosts;
	pl.hosts = xcalloc(s->nhosts, sizeof *pl.hosts);
	pl.by_name = xcalloc(s->nhosts, sizeof *pl.by_name);
	for (uint32_t h = 0; h < pl.nhosts; h++) {
		const struct spec_host *sh = &s->hosts[h];

		pl.hosts[h].cpu_free = capacity(sh->cpus_milli, sh->reserve_cpus_milli);
		pl.hosts[h].mem_free = capacity(sh->memory > INT64_MAX ? INT64_MAX : (int64_t)sh->memory,
						sh->reserve_memory > INT64_MAX ? INT64_MAX
									       : (int64_t)sh->reserve_memory);
		pl.hosts[h].cpu0 = pl.hosts[h].cpu_free;
		pl.hosts[h].mem0 = pl.hosts[h].mem_free;
		pl.by_name[h] = h;
	}
	intern(s, false, pl.hosts);
	intern(s, true, pl.hosts);
	qsort_r(pl.by_name, s->nhosts, sizeof *pl.by_name, cmp_host_name, (void *)s);

	pl.svcs = xcalloc(s->nservices ? s->nservices : 1, sizeof *pl.svcs);
	for (size_t k = 0; k < s->nservices; k++) {
		struct svcinfo *si = &pl.svcs[k];
		bool *rack_seen = xcalloc(pl.nhosts + 1, sizeof *rack_seen);

		si->svc = &s->services[k];
		if (traits)
			si->tr = traits[k];
		else
			plan_traits_default(&si->tr);
		si->base_port = si->svc->port_base > 0 ? si->svc->port_base : si->tr.default_port;
		si->shard_size = si->tr.sharded ? 1 + (si->svc->replicas > 0 ? si->svc->replicas : 0) : 1;
		si->count = xcalloc(pl.nhosts ? pl.nhosts : 1, sizeof *si->count);
		si->eligible = xcalloc(pl.nhosts ? pl.nhosts : 1, sizeof *si->eligible);
		for (uint32_t h = 0; h < pl.nhosts; h++) {
			si->eligible[h] = !s->hosts[h].drained &&
					  labels_match(&s->hosts[h], &si->svc->placement.require);
			if (si->eligible[h]) {
				si->neligible++;
				if (!rack_seen[pl.hosts[h].rack]) {
					rack_seen[pl.hosts[h].rack] = true;
					si->nracks++;
				}
			}
		}
		free(rack_seen);
		svc_levels(&pl, si);
	}

	pl.p = xcalloc(1, sizeof *pl.p);
	plan_init_nodes(&pl, prev);
	pl.prev_host = xcalloc(pl.p->n ? pl.p->n : 1, sizeof *pl.prev_host);
	for (size_t i = 0; i < pl.p->n; i++)
		pl.prev_host[i] = NONE;
	if (prev) {
		pl.taken = prev->taken;
		pl.ntaken = prev->ntaken;
	}
	pl.taken_host = xcalloc(pl.ntaken ? pl.ntaken : 1, sizeof *pl.taken_host);
	for (size_t i = 0; i < pl.ntaken; i++) {
		uint32_t h = pl.taken[i].host ? host_by_name(&pl, pl.taken[i].host) : NONE;
		int port = pl.taken[i].port;

		pl.taken_host[i] = h;
		if (h != NONE && port > 0 && port <= PORT_MAX && !portset_has(&pl.ports, h, port))
			portset_add(&pl.ports, h, port);
	}
	pl.search_budget = PLAN_SEARCH_STEPS;
	if (solve(&pl, prev)) {
		for (size_t k = 0; k < s->nservices; k++)
			if (!pl.svcs[k].tr.sharded)
				choose_seeds(&pl, k);
		warn_relaxed(&pl);
	} else {
		planner_reset(&pl, false);
		greedy(&pl, prev);
		for (size_t i = 0; i < pl.p->n; i++)
			unplaced += !pl.p->nodes[i].host;
		plan_refuse(&pl);
	}

	size_t nprob = pl.nproblems;
	pl.p->warnings = pl.warnings;
	pl.p->nwarnings = pl.nwarnings;
	pl.warnings = NULL;
	pl.nwarnings = 0;
	planner_free(&pl);
	if (nprob) {
		plan_free(pl.p);
		return err_usage(e, "%s: %zu node%s cannot be placed",
				 s->path ? s->path : "spec", unplaced, unplaced == 1 ? "" : "s");
	}
	*out = pl.p;
	return 0;
}

const struct plan_node *plan_uses_taken(const struct plan *p,
					const struct taken_port *taken, size_t n)
{
	for (size_t i = 0; p && i < p->n; i++) {
		const struct plan_node *pn = &p->nodes[i];

		for (size_t k = 0; k < n; k++)
			if (taken[k].host && !strcmp(taken[k].host, pn->host->name) &&
			    (taken[k].port == pn->port ||
			     (pn->bus_port && taken[k].port == pn->bus_port)))
				return pn;
	}
	return NULL;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	free(p->nodes);
	free(p->svc_first);
	free(p->ids);
	free(p->pos_of);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p);
}

void plan_problems_free(struct plan_problems *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].node);
		free(p->items[i].msg);
	}
	free(p->items);
	memset(p, 0, sizeof *p);
}

const struct plan_node *plan_find(const struct plan *p, const char *id)
{
	const char *dash = strrchr(id, '-');
	char *end;
	long idx;

	if (!dash || !dash[1])
		return NULL;
	errno = 0;
	idx = strtol(dash + 1, &end, 10);
	if (*end || errno || idx < 0 || (dash[1] == '0' && dash[2]))
		return NULL;
	for (size_t k = 0; k < p->nsvc; k++) {
		size_t first = p->svc_first[k], n = p->svc_first[k + 1] - first;

		if (n == 0 || (size_t)idx >= n)
			continue;
		const char *name = p->nodes[first].svc->name;
		if (strlen(name) == (size_t)(dash - id) && !strncmp(name, id, (size_t)(dash - id)))
			return &p->nodes[p->pos_of ? p->pos_of[first + (size_t)idx]
						   : first + (size_t)idx];
	}
	return NULL;
}
