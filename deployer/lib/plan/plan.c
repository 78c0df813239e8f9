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
#include "plan.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define NONE UINT32_MAX
#define PORT_MAX 65535

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

void plan_traits_default(const char *template_name, struct plan_traits *t)
{
	memset(t, 0, sizeof *t);
	t->default_port = 7000;
	if (!template_name)
		return;
	if (!strcmp(template_name, "redis")) {
		t->sharded = true;
		t->default_port = 6379;
		t->bus_offset = 10000;
	} else if (!strcmp(template_name, "cassandra")) {
		t->default_port = 9042;
	} else if (!strcmp(template_name, "riak")) {
		t->default_port = 8087;
	}
}

int plan_masters(int nodes, int replicas)
{
	if (nodes <= 0)
		return 0;
	if (replicas < 0)
		replicas = 0;
	return nodes / (1 + replicas) + (nodes % (1 + replicas) ? 1 : 0);
}

/* ---- leveled set ------------------------------------------------------------
 * Members 0..n-1, each with a count; members with equal counts share one
 * bitset.  find() scans the lowest non-empty level from a preferred member,
 * cyclically, and offers each candidate to a callback until one is accepted. */

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

static void level_set(struct lset *s, uint32_t c, uint32_t m)
{
	if (c >= s->nlv) {
		size_t old = s->nlv;

		s->lv = xgrow(s->lv, &s->nlv, (size_t)c + 1, sizeof *s->lv);
		memset(s->lv + old, 0, (s->nlv - old) * sizeof *s->lv);
	}
	struct level *l = &s->lv[c];
	if (!l->bits)
		l->bits = xcalloc(s->words, sizeof *l->bits);
	l->bits[m / 64] |= 1ULL << (m % 64);
	l->pop++;
	if (s->live == 0 || c < s->lo)
		s->lo = c;
	if (s->live == 0 || c > s->hi)
		s->hi = c;
}

static void level_clear(struct lset *s, uint32_t c, uint32_t m)
{
	struct level *l = &s->lv[c];

	l->bits[m / 64] &= ~(1ULL << (m % 64));
	if (--l->pop == 0) {
		free(l->bits);
		l->bits = NULL;
	}
}

/* All members start at the count given by cnt0 (NULL: 0). */
static void lset_init(struct lset *s, uint32_t n, const uint32_t *cnt0)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->words = (n + 63) / 64;
	s->cnt = xcalloc(n, sizeof *s->cnt);
	for (uint32_t m = 0; m < n; m++) {
		s->cnt[m] = cnt0 ? cnt0[m] : 0;
		level_set(s, s->cnt[m], m);
		s->live++;
	}
}

static void lset_free(struct lset *s)
{
	for (size_t c = 0; c < s->nlv; c++)
		free(s->lv[c].bits);
	free(s->lv);
	free(s->cnt);
	memset(s, 0, sizeof *s);
}

static void lset_remove(struct lset *s, uint32_t m)
{
	if (s->cnt[m] == NONE)
		return;
	level_clear(s, s->cnt[m], m);
	s->cnt[m] = NONE;
	s->live--;
}

static void lset_bump(struct lset *s, uint32_t m)
{
	uint32_t c = s->cnt[m];

	if (c == NONE)
		return;
	level_clear(s, c, m);
	s->live--;
	s->cnt[m] = c + 1;
	level_set(s, c + 1, m);
	s->live++;
}

/* First set bit at index >= from and < to, or NONE. */
static uint32_t next_bit(const uint64_t *bits, uint32_t from, uint32_t to)
{
	if (from >= to)
		return NONE;
	uint32_t w = from / 64;
	uint64_t word = bits[w] & (~0ULL << (from % 64));

	for (;;) {
		if (word) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(word);
			return i < to ? i : NONE;
		}
		if (++w * 64 >= to)
			return NONE;
		word = bits[w];
	}
}

typedef bool (*lset_try_fn)(void *ctx, uint32_t member);

/* The accepted member with the lowest count, the first at or cyclically after
 * `pref` among equals; NONE when the callback accepts none. */
static uint32_t lset_find(struct lset *s, uint32_t pref, lset_try_fn try,
			  void *ctx)
{
	if (s->live == 0)
		return NONE;
	if (pref >= s->n)
		pref = 0;
	for (uint32_t c = s->lo; c <= s->hi && c < s->nlv; c++) {
		struct level *l = &s->lv[c];

		if (!l->bits) {
			if (c == s->lo)
				s->lo = c + 1;
			continue;
		}
		for (uint32_t m = next_bit(l->bits, pref, s->n); m != NONE;
		     m = next_bit(l->bits, m + 1, s->n))
			if (try(ctx, m))
				return m;
		for (uint32_t m = next_bit(l->bits, 0, pref); m != NONE;
		     m = next_bit(l->bits, m + 1, pref))
			if (try(ctx, m))
				return m;
	}
	return NONE;
}

/* ---- ports in use: open-addressing set of (host << 16 | port) ------------- */

struct portset {
	uint64_t *keys; /* 0 = empty; stored as key + 1 */
	size_t cap, n;
};

static size_t port_slot(const struct portset *p, uint64_t k)
{
	uint64_t h = k * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h >> 20) & (p->cap - 1);
}

static bool portset_has(const struct portset *p, uint32_t host, int port)
{
	uint64_t k = ((uint64_t)host << 16 | (uint64_t)port) + 1;

	if (!p->cap)
		return false;
	for (size_t i = port_slot(p, k);; i = (i + 1) & (p->cap - 1)) {
		if (p->keys[i] == k)
			return true;
		if (!p->keys[i])
			return false;
	}
}

static void portset_add(struct portset *p, uint32_t host, int port);

static void portset_grow(struct portset *p)
{
	struct portset np = {.cap = p->cap ? p->cap * 2 : 1024};

	np.keys = xcalloc(np.cap, sizeof *np.keys);
	for (size_t i = 0; i < p->cap; i++)
		if (p->keys[i]) {
			uint64_t k = p->keys[i];
			size_t j = port_slot(&np, k);

			while (np.keys[j])
				j = (j + 1) & (np.cap - 1);
			np.keys[j] = k;
			np.n++;
		}
	free(p->keys);
	*p = np;
}

static void portset_add(struct portset *p, uint32_t host, int port)
{
	uint64_t k = ((uint64_t)host << 16 | (uint64_t)port) + 1;

	if ((p->n + 1) * 2 > p->cap)
		portset_grow(p);
	size_t i = port_slot(p, k);
	while (p->keys[i] && p->keys[i] != k)
		i = (i + 1) & (p->cap - 1);
	if (!p->keys[i]) {
		p->keys[i] = k;
		p->n++;
	}
}

/* ---- planner state ------------------------------------------------------- */

struct hostinfo {
	int64_t cpu_free;   /* INT64_MAX when the host declares no cpus */
	int64_t mem_free;   /* INT64_MAX when the host declares no memory */
	uint32_t rack, zone; /* interned */
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
};

static void problem(struct planner *pl, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct planner *pl, const char *node, const char *fmt, ...)
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

static bool fits(const struct planner *pl, uint32_t h, const struct svcinfo *si)
{
	const struct hostinfo *hi = &pl->hosts[h];
	const struct spec_service *svc = si->svc;

	if (svc->placement.max_per_host > 0 &&
	    si->count[h] >= (uint32_t)svc->placement.max_per_host)
		return false;
	return hi->cpu_free >= (int64_t)svc->resources.cpus_milli &&
	       (uint64_t)hi->mem_free >= svc->resources.memory;
}

static void take(struct planner *pl, uint32_t h, struct svcinfo *si)
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
static bool free_port_from(const struct planner *pl, uint32_t h,
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

static size_t svc_index(const struct planner *pl, const struct svcinfo *si)
{
	return (size_t)(si - pl->svcs);
}

/* Plan-array range of the shard of node n. */
static void shard_range(const struct planner *pl, const struct svcinfo *si,
			const struct plan_node *n, size_t *first, size_t *end)
{
	size_t base = pl->p->svc_first[svc_index(pl, si)];
	size_t limit = pl->p->svc_first[svc_index(pl, si) + 1];
	size_t k = (size_t)n->index / (size_t)si->shard_size;

	*first = base + k * (size_t)si->shard_size;
	*end = *first + (size_t)si->shard_size;
	if (*end > limit)
		*end = limit;
}

static uint32_t domain_key(const struct planner *pl, enum spread_kind sp,
			   uint32_t h)
{
	switch (sp) {
	case SPREAD_RACK: return pl->hosts[h].rack;
	case SPREAD_ZONE: return pl->hosts[h].zone;
	case SPREAD_HOST: break;
	}
	return h;
}

/* May node n (of service si) go on host h, given the members of its shard
 * placed so far?  Checks host anti-affinity, the replica rack rule and, when
 * pl->strict with rack/zone spread, distinct domains. */
static bool shard_allows(const struct planner *pl, const struct svcinfo *si,
			 const struct plan_node *n, uint32_t h)
{
	size_t first, end;

	if (!si->tr.sharded)
		return true;
	shard_range(pl, si, n, &first, &end);
	const struct plan_node *master = &pl->p->nodes[first];
	enum spread_kind sp = si->svc->placement.spread;

	for (size_t i = first; i < end; i++) {
		const struct plan_node *m = &pl->p->nodes[i];

		if (m == n || !m->host)
			continue;
		if (m->host_index == h)
			return false;
		/* the rack rule binds a master and each of its replicas, in
		 * whichever order they are placed (kept replicas may come
		 * before a master that has to move) */
		if ((m == master || n == master) && si->nracks >= 2 &&
		    pl->hosts[m->host_index].rack == pl->hosts[h].rack)
			return false;
		if (pl->strict && sp != SPREAD_HOST &&
		    domain_key(pl, sp, (uint32_t)m->host_index) == domain_key(pl, sp, h))
			return false;
	}
	return true;
}

static void place(struct planner *pl, struct plan_node *n, uint32_t h, int port,
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

static void explain(struct planner *pl, struct svcinfo *si, struct plan_node *n)
{
	const struct spec_service *svc = si->svc;
	enum spread_kind sp = svc->placement.spread;
	size_t first, end;

	if (si->neligible == 0) {
		if (svc->placement.require.n)
			problem(pl, n->id, "no host has the labels placement.require asks for (%s=%s%s)",
				svc->placement.require.items[0].key,
				svc->placement.require.items[0].value,
				svc->placement.require.n > 1 ? ", ..." : "");
		else
			problem(pl, n->id, "the spec has no hosts");
		return;
	}
	if (si->tr.sharded && (uint32_t)(n->index % si->shard_size) + 1 > si->neligible) {
		problem(pl, n->id, "anti-affinity needs %d hosts (a master and %d replicas apart), hosts give %u",
			si->shard_size, si->shard_size - 1, si->neligible);
		return;
	}
	if (si->tr.sharded && sp != SPREAD_HOST) {
		uint32_t rank = (uint32_t)(n->index % si->shard_size);
		uint32_t have = 0;
		bool *seen = xcalloc(pl->nhosts + 1, sizeof *seen);

		for (uint32_t h = 0; h < pl->nhosts; h++)
			if (si->eligible[h] && !seen[domain_key(pl, sp, h)]) {
				seen[domain_key(pl, sp, h)] = true;
				have++;
			}
		free(seen);
		if (rank + 1 > have) {
			problem(pl, n->id, "%s spread needs %d %ss, hosts give %u",
				spread_kind_name(sp), si->shard_size,
				spread_kind_name(sp), have);
			return;
		}
	}
	if (si->tr.sharded && n->role == ROLE_REPLICA) {
		shard_range(pl, si, n, &first, &end);
		const struct plan_node *m = &pl->p->nodes[first];

		if (m->host) {
			problem(pl, n->id,
				"no host with room outside the %s of its master %s (%s, rack %s) and of its shard",
				si->nracks >= 2 ? "rack" : "host", m->id, m->host->name,
				m->host->rack ? m->host->rack : "default");
			return;
		}
	}
	problem(pl, n->id,
		"no host has room: needs %dm cpu and %" PRIu64 " bytes memory%s (%u eligible hosts)",
		svc->resources.cpus_milli, svc->resources.memory,
		svc->placement.max_per_host > 0 ? " within max_per_host" : "",
		si->neligible);
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
				(uint32_t)(n->index % si->shard_size)) % pl->ndom;
	}
	/* First try to give each member of a shard its own rack (zone); when
	 * the fleet cannot, settle for the hard rules alone. */
	pl->strict = true;
	d = lset_find(&pl->outer, pref, try_domain, &c);
	if (d == NONE && si->tr.sharded && pl->spread != SPREAD_HOST) {
		pl->strict = false;
		d = lset_find(&pl->outer, pref, try_domain, &c);
	}
	if (d == NONE) {
		explain(pl, si, n);
		return;
	}
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

/* ---- entry point ---------------------------------------------------------------- */

static int64_t capacity(int64_t total, int64_t reserve)
{
	if (total <= 0)
		return INT64_MAX;
	return total > reserve ? total - reserve : 0;
}

static void plan_init_nodes(struct planner *pl)
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
	for (size_t k = 0; k < s->nservices; k++) {
		const struct svcinfo *si = &pl->svcs[k];

		for (size_t i = p->svc_first[k]; i < p->svc_first[k + 1]; i++) {
			struct plan_node *n = &p->nodes[i];
			int idx = (int)(i - p->svc_first[k]);
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
				int rank = idx % si->shard_size;

				n->shard = idx / si->shard_size;
				n->role = rank ? ROLE_REPLICA : ROLE_MASTER;
				if (rank)
					n->master = (int)(i - (size_t)rank);
			} else {
				n->role = ROLE_MEMBER;
			}
		}
	}
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
	domains_free(pl);
}

int plan_compute(const struct spec *s, const struct plan_traits *traits,
		 const struct placement *prev, struct plan **out,
		 struct plan_problems *probs, struct err *e)
{
	struct planner pl = {.s = s, .probs = probs};

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
			plan_traits_default(si->svc->template, &si->tr);
		si->base_port = si->svc->port_base > 0 ? si->svc->port_base : si->tr.default_port;
		si->shard_size = si->tr.sharded ? 1 + (si->svc->replicas > 0 ? si->svc->replicas : 0) : 1;
		si->count = xcalloc(pl.nhosts ? pl.nhosts : 1, sizeof *si->count);
		si->eligible = xcalloc(pl.nhosts ? pl.nhosts : 1, sizeof *si->eligible);
		for (uint32_t h = 0; h < pl.nhosts; h++) {
			si->eligible[h] = labels_match(&s->hosts[h], &si->svc->placement.require);
			if (si->eligible[h]) {
				si->neligible++;
				if (!rack_seen[pl.hosts[h].rack]) {
					rack_seen[pl.hosts[h].rack] = true;
					si->nracks++;
				}
			}
		}
		free(rack_seen);
	}

	pl.p = xcalloc(1, sizeof *pl.p);
	plan_init_nodes(&pl);
	for (size_t i = 0; prev && i < prev->ntaken; i++) {
		uint32_t h = prev->taken[i].host ? host_by_name(&pl, prev->taken[i].host) : NONE;
		int port = prev->taken[i].port;

		if (h != NONE && port > 0 && port <= PORT_MAX && !portset_has(&pl.ports, h, port))
			portset_add(&pl.ports, h, port);
	}
	keep_pass(&pl, prev);
	for (size_t k = 0; k < s->nservices; k++)
		new_pass(&pl, &pl.svcs[k]);
	if (pl.nproblems == 0)
		for (size_t k = 0; k < s->nservices; k++)
			if (!pl.svcs[k].tr.sharded)
				choose_seeds(&pl, k);

	size_t nprob = pl.nproblems;
	planner_free(&pl);
	if (nprob) {
		plan_free(pl.p);
		return err_usage(e, "%s: %zu node%s cannot be placed",
				 s->path ? s->path : "spec", nprob, nprob == 1 ? "" : "s");
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
			return &p->nodes[first + (size_t)idx];
	}
	return NULL;
}
