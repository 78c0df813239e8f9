/* plan_search.c - the complete search behind the greedy pass, and the reason
 * given when even it finds nothing.  See plan_int.h for the contracts.
 *
 * The search is a depth-first walk over the nodes still without a host,
 * service by service, shard by shard, master first.  Each node tries its
 * previous host first (stability), then the service's eligible hosts in a
 * fixed order (most room first).  It is complete: it gives up only when
 * the step budget runs out.  Three things keep it short:
 *  - symmetry: the replicas of one shard are interchangeable, and so are
 *    whole shards (or nodes of an unsharded service) that nothing pins, so
 *    their positions in the host order only go up;
 *  - a capacity bound after every step: for each service, the hosts can
 *    still hold its remaining nodes, at most one per unfinished shard each;
 *  - the rules themselves (shard_allows) prune as soon as a member lands.
 */
#include "plan_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

struct search {
	struct planner *pl;
	size_t *order;      /* [n] plan node indexes, in placing order */
	size_t n;
	uint32_t *at;       /* [n] next candidate position */
	uint32_t *pos;      /* [n] position chosen (in the host order) */
	size_t *sym;        /* [n] index into order this one must not go below,
			     * SIZE_MAX when none */
	bool *sym_strict;   /* [n] strictly above (replicas of one shard) */
	uint32_t **hord;    /* [nsvc] eligible hosts, most room first */
	uint32_t *nhord;    /* [nsvc] */
	uint32_t *left;     /* [nsvc] nodes still to place */
	uint32_t *shard_left; /* [p->n] by shard's first index: members to place */
	uint32_t *open;     /* [nsvc] shards with members to place */
};

void planner_reset(struct planner *pl, bool keep_pins)
{
	for (uint32_t h = 0; h < pl->nhosts; h++) {
		pl->hosts[h].cpu_free = pl->hosts[h].cpu0;
		pl->hosts[h].mem_free = pl->hosts[h].mem0;
	}
	for (size_t k = 0; k < pl->s->nservices; k++)
		memset(pl->svcs[k].count, 0, pl->nhosts * sizeof *pl->svcs[k].count);
	if (pl->ports.cap)
		memset(pl->ports.keys, 0, pl->ports.cap * sizeof *pl->ports.keys);
	pl->ports.n = 0;
	for (size_t i = 0; i < pl->ntaken; i++) {
		uint32_t h = pl->taken_host[i];
		int port = pl->taken[i].port;

		if (h != NONE && port > 0 && port <= PORT_MAX)
			portset_add(&pl->ports, h, port);
	}
	for (size_t i = 0; i < pl->p->n; i++) {
		struct plan_node *n = &pl->p->nodes[i];

		if (keep_pins && n->kept && n->host) {
			take(pl, (uint32_t)n->host_index, &pl->svcs[n->svc_index]);
			place(pl, n, (uint32_t)n->host_index, n->port, n->bus_port);
			continue;
		}
		n->host = NULL;
		n->host_index = SIZE_MAX;
		n->kept = false;
		n->port = n->bus_port = 0;
	}
}

static void untake(struct planner *pl, uint32_t h, struct svcinfo *si)
{
	struct hostinfo *hi = &pl->hosts[h];

	if (hi->cpu_free != INT64_MAX)
		hi->cpu_free += si->svc->resources.cpus_milli;
	if (hi->mem_free != INT64_MAX)
		hi->mem_free += (int64_t)si->svc->resources.memory;
	si->count[h]--;
}

/* How many more nodes of si host h can take on its own. */
static uint64_t slots(const struct planner *pl, uint32_t h, const struct svcinfo *si,
		      bool empty)
{
	const struct hostinfo *hi = &pl->hosts[h];
	int64_t cpu = empty ? hi->cpu0 : hi->cpu_free;
	int64_t mem = empty ? hi->mem0 : hi->mem_free;
	uint64_t n = UINT64_MAX;

	if (!si->eligible[h])
		return 0;
	if (si->svc->placement.max_per_host > 0) {
		uint32_t used = empty ? 0 : si->count[h];
		uint32_t m = (uint32_t)si->svc->placement.max_per_host;

		n = used >= m ? 0 : m - used;
	}
	if (cpu != INT64_MAX && si->svc->resources.cpus_milli > 0) {
		uint64_t c = cpu <= 0 ? 0 : (uint64_t)cpu / (uint64_t)si->svc->resources.cpus_milli;
		n = c < n ? c : n;
	}
	if (mem != INT64_MAX && si->svc->resources.memory > 0) {
		uint64_t c = mem <= 0 ? 0 : (uint64_t)mem / si->svc->resources.memory;
		n = c < n ? c : n;
	}
	return n;
}

/* Can the hosts still hold `left` nodes of si, at most `per` on each?
 * Adds the hosts it looked at to *work. */
static bool room_for(const struct planner *pl, const struct svcinfo *si,
		     uint64_t left, uint64_t per, bool empty, uint64_t *work)
{
	uint64_t sum = 0;
	uint32_t h;

	for (h = 0; h < pl->nhosts && sum < left; h++) {
		uint64_t c = slots(pl, h, si, empty);

		sum += c < per ? c : per;
	}
	*work += h;
	return sum >= left;
}

/* The capacity bound; what it costs counts against the step budget. */
static bool bound_ok(const struct search *sr)
{
	struct planner *pl = sr->pl;

	for (size_t k = 0; k < pl->s->nservices; k++) {
		const struct svcinfo *si = &pl->svcs[k];

		if (si->active && sr->left[k] &&
		    !room_for(pl, si, sr->left[k], si->tr.sharded ? sr->open[k] : UINT64_MAX, false,
			      &pl->search_steps))
			return false;
	}
	return true;
}

struct hord_ref {
	uint64_t room;
	uint32_t host;
};

static int cmp_hord(const void *a, const void *b)
{
	const struct hord_ref *x = a, *y = b;

	if (x->room != y->room)
		return x->room < y->room ? 1 : -1;
	return (x->host > y->host) - (x->host < y->host);
}

static void host_orders(struct search *sr)
{
	struct planner *pl = sr->pl;
	struct hord_ref *refs = xcalloc(pl->nhosts ? pl->nhosts : 1, sizeof *refs);

	sr->hord = xcalloc(pl->s->nservices ? pl->s->nservices : 1, sizeof *sr->hord);
	sr->nhord = xcalloc(pl->s->nservices ? pl->s->nservices : 1, sizeof *sr->nhord);
	for (size_t k = 0; k < pl->s->nservices; k++) {
		const struct svcinfo *si = &pl->svcs[k];
		uint32_t m = 0;

		for (uint32_t h = 0; h < pl->nhosts; h++)
			if (si->eligible[h]) {
				refs[m].room = slots(pl, h, si, false);
				refs[m++].host = h;
			}
		qsort(refs, m, sizeof *refs, cmp_hord);
		sr->hord[k] = xcalloc(m ? m : 1, sizeof **sr->hord);
		for (uint32_t j = 0; j < m; j++)
			sr->hord[k][j] = refs[j].host;
		sr->nhord[k] = m;
	}
	free(refs);
}

/* The list of nodes to place and, for each, the earlier node it is
 * interchangeable with (symmetry). */
static void build_order(struct search *sr)
{
	struct planner *pl = sr->pl;
	const struct plan *p = pl->p;

	sr->order = xcalloc(p->n ? p->n : 1, sizeof *sr->order);
	sr->sym = xcalloc(p->n ? p->n : 1, sizeof *sr->sym);
	sr->sym_strict = xcalloc(p->n ? p->n : 1, sizeof *sr->sym_strict);
	sr->shard_left = xcalloc(p->n ? p->n : 1, sizeof *sr->shard_left);
	sr->left = xcalloc(p->nsvc ? p->nsvc : 1, sizeof *sr->left);
	sr->open = xcalloc(p->nsvc ? p->nsvc : 1, sizeof *sr->open);
	for (size_t k = 0; k < p->nsvc; k++) {
		struct svcinfo *si = &pl->svcs[k];
		size_t last_free = SIZE_MAX, last_shard = SIZE_MAX, last_size = 0;

		if (!si->active)
			continue;
		for (size_t f = p->svc_first[k]; f < p->svc_first[k + 1]; f += (size_t)si->shard_size) {
			size_t end = f + (size_t)si->shard_size, in = sr->n, prev_rep = SIZE_MAX;
			bool whole = true;

			if (end > p->svc_first[k + 1])
				end = p->svc_first[k + 1];
			for (size_t i = f; i < end; i++) {
				const struct plan_node *nd = &p->nodes[i];
				bool free_ = pl->prev_host[i] == NONE;

				if (nd->host) {
					whole = false;
					continue;
				}
				whole = whole && free_;
				sr->sym[sr->n] = SIZE_MAX;
				if (!si->tr.sharded && free_) {
					sr->sym[sr->n] = last_free;
					last_free = sr->n;
				} else if (i > f && free_ && prev_rep != SIZE_MAX) {
					sr->sym[sr->n] = prev_rep;
					sr->sym_strict[sr->n] = true;
				}
				if (i > f && free_)
					prev_rep = sr->n;
				sr->order[sr->n++] = i;
				sr->shard_left[f]++;
				sr->left[k]++;
			}
			if (sr->shard_left[f])
				sr->open[k]++;
			if (si->tr.sharded && whole && sr->n > in) {
				if (last_shard != SIZE_MAX && last_size == end - f)
					sr->sym[in] = last_shard;
				last_shard = in;
				last_size = end - f;
			} else if (si->tr.sharded) {
				last_shard = SIZE_MAX;
			}
		}
	}
	sr->at = xcalloc(sr->n ? sr->n : 1, sizeof *sr->at);
	sr->pos = xcalloc(sr->n ? sr->n : 1, sizeof *sr->pos);
}

static void search_free(struct search *sr)
{
	for (size_t k = 0; sr->hord && k < sr->pl->s->nservices; k++)
		free(sr->hord[k]);
	free(sr->hord);
	free(sr->nhord);
	free(sr->order);
	free(sr->sym);
	free(sr->sym_strict);
	free(sr->shard_left);
	free(sr->left);
	free(sr->open);
	free(sr->at);
	free(sr->pos);
}

/* First candidate position of order[i]: its previous host comes first
 * (position 0 of a node with one means "the previous host"). */
static uint32_t first_pos(const struct search *sr, size_t i)
{
	size_t j = sr->sym[i];

	if (j == SIZE_MAX)
		return 0;
	return sr->pos[j] + (sr->sym_strict[i] ? 1 : 0);
}

/* Host for candidate position p of order[i], or NONE when p is past the end;
 * *skip when this position repeats the previous host. */
static uint32_t cand_host(const struct search *sr, size_t i, uint32_t p, bool *skip)
{
	size_t ni = sr->order[i];
	size_t k = sr->pl->p->nodes[ni].svc_index;
	uint32_t prev = sr->pl->prev_host[ni];

	*skip = false;
	if (prev == NONE)
		return p < sr->nhord[k] ? sr->hord[k][p] : NONE;
	if (p == 0)
		return sr->pl->svcs[k].eligible[prev] ? prev : (*skip = true, prev);
	if (p - 1 >= sr->nhord[k])
		return NONE;
	*skip = sr->hord[k][p - 1] == prev;
	return sr->hord[k][p - 1];
}

static void set_host(struct search *sr, size_t i, uint32_t h)
{
	struct planner *pl = sr->pl;
	size_t ni = sr->order[i];
	struct plan_node *n = &pl->p->nodes[ni];
	struct svcinfo *si = &pl->svcs[n->svc_index];
	size_t base = pl->p->svc_first[n->svc_index];
	size_t f = ni - (ni - base) % (size_t)si->shard_size;

	if (h != NONE) {
		take(pl, h, si);
		n->host_index = h;
		n->host = &pl->s->hosts[h];
		sr->left[n->svc_index]--;
		if (--sr->shard_left[f] == 0)
			sr->open[n->svc_index]--;
		return;
	}
	untake(pl, (uint32_t)n->host_index, si);
	n->host_index = SIZE_MAX;
	n->host = NULL;
	sr->left[n->svc_index]++;
	if (sr->shard_left[f]++ == 0)
		sr->open[n->svc_index]++;
}

/* Try the candidates of order[i] from sr->at[i]; true when one is taken. */
static bool advance(struct search *sr, size_t i)
{
	struct planner *pl = sr->pl;
	struct plan_node *n = &pl->p->nodes[sr->order[i]];
	struct svcinfo *si = &pl->svcs[n->svc_index];

	for (;;) {
		bool skip;
		uint32_t p = sr->at[i]++;
		uint32_t h = cand_host(sr, i, p, &skip);

		if (h == NONE)
			return false;
		if (++pl->search_steps > pl->search_budget) {
			pl->gave_up = true;
			return false;
		}
		if (skip || !fits(pl, h, si) || !shard_allows(pl, si, n, h))
			continue;
		set_host(sr, i, h);
		if (!bound_ok(sr)) {
			set_host(sr, i, NONE);
			continue;
		}
		sr->pos[i] = pl->prev_host[sr->order[i]] == NONE ? p : 0;
		return true;
	}
}

static bool assign_ports(struct search *sr)
{
	struct planner *pl = sr->pl;

	for (size_t i = 0; i < sr->n; i++) {
		struct plan_node *n = &pl->p->nodes[sr->order[i]];
		uint32_t h = (uint32_t)n->host_index, k = 0;
		int port, bus;

		if (!free_port_from(pl, h, &pl->svcs[n->svc_index], &k, &port, &bus))
			return false;
		place(pl, n, h, port, bus);
		n->kept = pl->prev_host[sr->order[i]] == h;
	}
	return true;
}

bool plan_search(struct planner *pl)
{
	struct search sr = {.pl = pl};
	bool ok = false;
	size_t i = 0;

	pl->search_steps = 0;
	build_order(&sr);
	host_orders(&sr);
	if (sr.n == 0 || !bound_ok(&sr)) {
		ok = sr.n == 0;
		goto out;
	}
	sr.at[0] = first_pos(&sr, 0);
	for (;;) {
		if (advance(&sr, i)) {
			if (++i == sr.n) {
				ok = true;
				break;
			}
			sr.at[i] = first_pos(&sr, i);
			continue;
		}
		if (i == 0 || pl->gave_up)
			break;
		set_host(&sr, --i, NONE);
	}
	if (!ok) {
		for (size_t j = 0; j < sr.n; j++)
			if (pl->p->nodes[sr.order[j]].host)
				set_host(&sr, j, NONE);
	} else if (!assign_ports(&sr)) {
		ok = false;
	}
out:
	search_free(&sr);
	return ok;
}

/* ---- refusal ----------------------------------------------------------------- */

static const struct plan_node *first_unplaced(const struct planner *pl, size_t k)
{
	for (size_t i = pl->p->svc_first[k]; i < pl->p->svc_first[k + 1]; i++)
		if (!pl->p->nodes[i].host)
			return &pl->p->nodes[i];
	return NULL;
}

static const char *only_host(const struct planner *pl, const struct svcinfo *si)
{
	for (uint32_t h = 0; h < pl->nhosts; h++)
		if (si->eligible[h])
			return pl->s->hosts[h].name;
	return "?";
}

/* Would service k fit on the fleet alone, at this level? */
static bool fits_alone(struct planner *pl, size_t k, int level)
{
	struct svcinfo *si = &pl->svcs[k];
	int saved = si->level;
	bool ok;

	for (size_t j = 0; j < pl->s->nservices; j++)
		pl->svcs[j].active = j == k;
	si->level = level;
	planner_reset(pl, false);
	ok = plan_search(pl);
	si->level = saved;
	for (size_t j = 0; j < pl->s->nservices; j++)
		pl->svcs[j].active = true;
	planner_reset(pl, false);
	return ok;
}

/* The reason service k cannot be placed, alone or among the others. */
static void refuse_service(struct planner *pl, size_t k, const char *id)
{
	struct svcinfo *si = &pl->svcs[k];
	const struct spec_service *svc = si->svc;
	const char *sp = spread_kind_name(svc->placement.spread);
	int nodes = svc->nodes;
	uint64_t nshards = (uint64_t)plan_masters(nodes, si->shard_size - 1);

	if (si->neligible == 0) {
		if (svc->placement.require.n)
			problem(pl, id, "no host has the labels placement.require asks for (%s=%s%s)",
				svc->placement.require.items[0].key,
				svc->placement.require.items[0].value,
				svc->placement.require.n > 1 ? ", ..." : "");
		else
			problem(pl, id, "the spec has no hosts");
		return;
	}
	if (si->tr.sharded && (uint32_t)si->shard_size > si->neligible) {
		if (si->neligible == 1 && svc->placement.require.n)
			problem(pl, id, "placement.require pins %s to host %s, anti-affinity needs %d hosts (a master and %d replicas apart)",
				svc->name, only_host(pl, si), si->shard_size, si->shard_size - 1);
		else
			problem(pl, id, "anti-affinity needs %d hosts (a master and %d replicas apart), hosts give %u",
				si->shard_size, si->shard_size - 1, si->neligible);
		return;
	}
	if (si->tr.sharded && si->level_min == LEVEL_SPREAD &&
	    svc->placement.spread != SPREAD_HOST && si->ndoms < (uint32_t)si->shard_size) {
		problem(pl, id, "%s spread needs %d %ss, hosts give %u (spread_strict = true)",
			sp, si->shard_size, sp, si->ndoms);
		return;
	}
	uint64_t work = 0;

	if (!room_for(pl, si, (uint64_t)nodes, si->tr.sharded ? nshards : UINT64_MAX, true, &work)) {
		problem(pl, id, "no room: %d nodes of %dm cpu and %" PRIu64 " bytes memory%s do not fit on the %u eligible hosts%s",
			nodes, svc->resources.cpus_milli, svc->resources.memory,
			svc->placement.max_per_host > 0 ? " within max_per_host" : "",
			si->neligible, si->tr.sharded ? " (one per shard per host)" : "");
		return;
	}
	if (fits_alone(pl, k, si->level_min)) {
		problem(pl, id, "no room: %s fits the hosts alone but not with the services before it (cpu, memory)",
			svc->name);
		return;
	}
	if (pl->gave_up) {
		problem(pl, id, "no placement found within %" PRIu64 " search steps (the search gave up; a smaller fleet or spec decides faster)",
			pl->search_budget);
		return;
	}
	if (si->level_min > LEVEL_HOSTS && fits_alone(pl, k, LEVEL_HOSTS)) {
		problem(pl, id, "%s spread (spread_strict = true) leaves no room: shards fit on distinct hosts but not with %s",
			sp, si->level_min == LEVEL_SPREAD ? "a shard on distinct racks" : "each replica off its master's rack");
		return;
	}
	problem(pl, id, "no room: the shards of %s do not fit on distinct hosts with this capacity",
		svc->name);
}

void plan_refuse(struct planner *pl)
{
	for (size_t k = 0; k < pl->s->nservices; k++) {
		const struct plan_node *n = first_unplaced(pl, k);

		if (n) {
			char *id = xstrdup(n->id);

			refuse_service(pl, k, id);
			free(id);
		}
	}
}
