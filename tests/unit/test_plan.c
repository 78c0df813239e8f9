/* test_plan.c - placement: fixed cases, then property checks over random
 * fleets (every constraint holds, determinism, minimal movement). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "kind_traits.h"
#include "util.h"

/* ---- building specs in C -------------------------------------------------- */

struct fleet {
	struct spec s;
	struct kv labels[64][2];
	struct kv req[8];
	char names[64][16];
	char racks[64][16];
	char zones[64][16];
};

static struct fleet *fleet_new(void)
{
	struct fleet *f = xcalloc(1, sizeof *f);

	f->s.name = "t";
	f->s.path = "t.cfg";
	f->s.hosts = xcalloc(64, sizeof *f->s.hosts);
	f->s.services = xcalloc(4, sizeof *f->s.services);
	return f;
}

static void fleet_free(struct fleet *f)
{
	free(f->s.hosts);
	free(f->s.services);
	free(f);
}

static struct spec_host *add_host(struct fleet *f, int rack, int zone, int cpus,
				  uint64_t mem)
{
	size_t i = f->s.nhosts++;
	struct spec_host *h = &f->s.hosts[i];

	snprintf(f->names[i], sizeof f->names[i], "h%zu", i + 1);
	snprintf(f->racks[i], sizeof f->racks[i], "r%d", rack);
	snprintf(f->zones[i], sizeof f->zones[i], "z%d", zone);
	h->name = f->names[i];
	h->address = f->names[i];
	h->rack = f->racks[i];
	h->zone = f->zones[i];
	h->cpus_milli = cpus;
	h->memory = mem;
	h->reserve_cpus_milli = 100;
	h->reserve_memory = 64 << 20;
	return h;
}

static void set_label(struct fleet *f, size_t host, char *k, char *v)
{
	f->labels[host][0] = (struct kv){.key = k, .value = v};
	f->s.hosts[host].labels.items = f->labels[host];
	f->s.hosts[host].labels.n = 1;
}

static struct spec_service *add_service(struct fleet *f, char *name, char *tmpl,
					int nodes, int replicas,
					enum spread_kind spread)
{
	struct spec_service *s = &f->s.services[f->s.nservices++];

	s->name = name;
	s->template = tmpl;
	s->nodes = nodes;
	s->replicas = replicas;
	s->placement.spread = spread;
	s->resources.cpus_milli = 500;
	s->resources.memory = 256 << 20;
	s->port_base = 7000;
	return s;
}

/* ---- the invariant checker ---------------------------------------------------- */

/* Set by tests whose fleets have room for one rack (zone) per shard member. */
static bool strict_domains;

/* Did the planner warn that it relaxed `what` for svc? */
static bool relaxed(const struct plan *p, const struct spec_service *svc, const char *what)
{
	size_t len = strlen(svc->name);

	for (size_t i = 0; i < p->nwarnings; i++)
		if (!strncmp(p->warnings[i], svc->name, len) && p->warnings[i][len] == ':' &&
		    strstr(p->warnings[i], what))
			return true;
	return false;
}

static void check_plan(const struct spec *s, const struct plan *p)
{
	size_t total = 0;

	for (size_t k = 0; k < s->nservices; k++)
		total += (size_t)s->services[k].nodes;
	assert_int_equal(p->n, total);

	for (size_t h = 0; h < s->nhosts; h++) {
		const struct spec_host *sh = &s->hosts[h];
		int64_t cpu = 0;
		uint64_t mem = 0;

		for (size_t i = 0; i < p->n; i++) {
			const struct plan_node *n = &p->nodes[i];

			if (n->host_index != h)
				continue;
			cpu += n->cpus_milli;
			mem += n->memory;
			/* ports unique on the host */
			for (size_t j = i + 1; j < p->n; j++) {
				const struct plan_node *m = &p->nodes[j];

				if (m->host_index != h)
					continue;
				assert_int_not_equal(n->port, m->port);
				if (n->bus_port) {
					assert_int_not_equal(n->bus_port, m->port);
					assert_int_not_equal(n->bus_port, m->bus_port);
				}
				if (m->bus_port)
					assert_int_not_equal(n->port, m->bus_port);
			}
		}
		if (sh->cpus_milli > 0)
			assert_true(cpu <= sh->cpus_milli - sh->reserve_cpus_milli);
		if (sh->memory > 0)
			assert_true(mem <= sh->memory - sh->reserve_memory);
	}

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_node *n = &p->nodes[i];
		const struct spec_service *svc = n->svc;
		struct plan_traits tr;
		char want[96];

		kind_traits_one(svc->template, &tr);
		snprintf(want, sizeof want, "%s-%d", svc->name, n->index);
		assert_string_equal(n->id, want);
		assert_ptr_equal(plan_find(p, n->id), n);
		assert_non_null(n->host);
		assert_ptr_equal(n->host, &s->hosts[n->host_index]);
		assert_true(n->port >= svc->port_base && n->port <= 65535);
		assert_int_equal(n->bus_port, tr.bus_offset ? n->port + tr.bus_offset : 0);
		for (size_t r = 0; r < svc->placement.require.n; r++) {
			const char *v = kvlist_get(&n->host->labels,
						   svc->placement.require.items[r].key, NULL);
			assert_non_null(v);
			assert_string_equal(v, svc->placement.require.items[r].value);
		}
		if (svc->placement.max_per_host > 0) {
			int same = 0;

			for (size_t j = 0; j < p->n; j++)
				same += p->nodes[j].svc == svc && p->nodes[j].host_index == n->host_index;
			assert_true(same <= svc->placement.max_per_host);
		}
		if (!tr.sharded) {
			assert_true(n->role == ROLE_SEED || n->role == ROLE_MEMBER);
			continue;
		}
		/* sharded: roles, masters and anti-affinity */
		int size = 1 + svc->replicas;
		assert_int_equal(n->shard, n->index / size);
		if (n->index % size == 0) {
			assert_int_equal(n->role, ROLE_MASTER);
			assert_int_equal(n->master, -1);
			continue;
		}
		assert_int_equal(n->role, ROLE_REPLICA);
		assert_true(n->master >= 0);
		const struct plan_node *m = &p->nodes[n->master];
		assert_int_equal(m->role, ROLE_MASTER);
		assert_int_equal(m->shard, n->shard);
		assert_ptr_equal(m->svc, svc);

		/* racks among eligible hosts */
		int nracks = 0;
		for (size_t h = 0; h < s->nhosts; h++) {
			bool ok = true, dup = false;

			for (size_t r = 0; r < svc->placement.require.n; r++) {
				const char *v = kvlist_get(&s->hosts[h].labels,
							   svc->placement.require.items[r].key, NULL);
				if (!v || strcmp(v, svc->placement.require.items[r].value))
					ok = false;
			}
			for (size_t g = 0; ok && g < h; g++) {
				bool ok2 = true;

				for (size_t r = 0; r < svc->placement.require.n; r++) {
					const char *v = kvlist_get(&s->hosts[g].labels,
								   svc->placement.require.items[r].key, NULL);
					if (!v || strcmp(v, svc->placement.require.items[r].value))
						ok2 = false;
				}
				if (ok2 && !strcmp(s->hosts[g].rack, s->hosts[h].rack))
					dup = true;
			}
			nracks += ok && !dup;
		}
		if (nracks >= 2 && !relaxed(p, svc, "rack rule relaxed"))
			assert_string_not_equal(n->host->rack, m->host->rack);
		for (size_t j = 0; j < p->n; j++) {
			const struct plan_node *o = &p->nodes[j];

			if (o == n || o->svc != svc || o->shard != n->shard)
				continue;
			assert_int_not_equal(o->host_index, n->host_index);
			/* homogeneous fleets with enough domains: distinct ones */
			if (strict_domains && svc->placement.spread == SPREAD_RACK)
				assert_string_not_equal(o->host->rack, n->host->rack);
			if (strict_domains && svc->placement.spread == SPREAD_ZONE)
				assert_string_not_equal(o->host->zone, n->host->zone);
		}
	}
}

static void check_same(const struct plan *a, const struct plan *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->nodes[i].id, b->nodes[i].id);
		assert_int_equal(a->nodes[i].host_index, b->nodes[i].host_index);
		assert_int_equal(a->nodes[i].port, b->nodes[i].port);
		assert_int_equal(a->nodes[i].role, b->nodes[i].role);
	}
}

/* A placement recorded from a plan, as state would keep it. */
struct recorded {
	struct placement_node *nodes;
	struct placement pl;
};

static void record(const struct plan *p, struct recorded *r)
{
	r->nodes = xcalloc(p->n ? p->n : 1, sizeof *r->nodes);
	for (size_t i = 0; i < p->n; i++) {
		r->nodes[i].id = xstrdup(p->nodes[i].id);
		r->nodes[i].host = xstrdup(p->nodes[i].host->name);
		r->nodes[i].port = p->nodes[i].port;
		r->nodes[i].bus_port = p->nodes[i].bus_port;
	}
	r->pl = (struct placement){.nodes = r->nodes, .n = p->n};
}

static void record_free(struct recorded *r)
{
	for (size_t i = 0; i < r->pl.n; i++) {
		free((char *)r->nodes[i].id);
		free((char *)r->nodes[i].host);
	}
	free(r->nodes);
}

/* How many nodes of `r` are on another host (or gone) in p. */
static size_t moved(const struct recorded *r, const struct plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < r->pl.n; i++) {
		const struct plan_node *x = plan_find(p, r->nodes[i].id);

		if (x && strcmp(x->host->name, r->nodes[i].host))
			n++;
	}
	return n;
}

/* ---- fixed cases ---------------------------------------------------------------- */

static void test_redis_six_on_three(void **state)
{
	struct fleet *f = fleet_new();
	struct plan *p = NULL;
	struct err e;

	(void)state;
	for (int i = 0; i < 3; i++)
		add_host(f, 1, 1, 4000, 4ULL << 30);
	add_service(f, "cache", "redis", 6, 1, SPREAD_HOST);
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	/* cache-0, cache-2, cache-4 are the masters, each on its own host */
	assert_int_equal(p->nodes[0].role, ROLE_MASTER);
	assert_int_equal(p->nodes[1].role, ROLE_REPLICA);
	assert_int_equal(p->nodes[1].master, 0);
	assert_int_not_equal(p->nodes[0].host_index, p->nodes[2].host_index);
	assert_int_not_equal(p->nodes[2].host_index, p->nodes[4].host_index);
	assert_int_not_equal(p->nodes[0].host_index, p->nodes[4].host_index);
	/* two nodes per host: ports 7000 and 7001, bus 17000 and 17001 */
	for (size_t i = 0; i < p->n; i++) {
		assert_true(p->nodes[i].port == 7000 || p->nodes[i].port == 7001);
		assert_int_equal(p->nodes[i].bus_port, p->nodes[i].port + 10000);
	}
	assert_null(plan_find(p, "cache-6"));
	assert_null(plan_find(p, "cache-01"));
	assert_null(plan_find(p, "other-1"));
	plan_free(p);
	fleet_free(f);
}

/* Ports another program listens on are never given to a node: the node
 * that would have had one gets the next free port, and a recorded node
 * whose port is now taken keeps its host but changes port. */
static void test_taken_ports_avoided(void **state)
{
	struct fleet *f = fleet_new();
	struct plan *p = NULL, *q = NULL;
	struct placement_node recorded[6];
	struct taken_port taken[] = {{"h1", 7000}, {"h2", 17001}, {"h9", 7000}};
	struct placement prev = {.taken = taken, .ntaken = 3};
	struct err e;

	(void)state;
	for (int i = 0; i < 3; i++)
		add_host(f, 1, 1, 4000, 4ULL << 30);
	add_service(f, "cache", "redis", 6, 1, SPREAD_HOST);
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &prev, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	for (size_t i = 0; i < p->n; i++) {
		const char *h = p->nodes[i].host->name;

		assert_false(!strcmp(h, "h1") && p->nodes[i].port == 7000);
		/* 7001's bus port 17001 is taken on h2 */
		assert_false(!strcmp(h, "h2") && p->nodes[i].port == 7001);
		if (!strcmp(h, "h3"))
			assert_true(p->nodes[i].port == 7000 || p->nodes[i].port == 7001);
	}

	/* Recorded where the first plan put them; now 7001 is taken on every
	 * host: the nodes stay on their hosts, those on 7001 move port. */
	for (size_t i = 0; i < p->n; i++)
		recorded[i] = (struct placement_node){p->nodes[i].id, p->nodes[i].host->name,
						      p->nodes[i].port, p->nodes[i].bus_port, NULL, NULL};
	struct taken_port now[] = {{"h1", 7001}, {"h2", 7001}, {"h3", 7001}};
	struct placement again = {.nodes = recorded, .n = p->n, .taken = now, .ntaken = 3};

	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &again, &q, NULL, &e), 0);
	check_plan(&f->s, q);
	for (size_t i = 0; i < q->n; i++) {
		assert_ptr_equal(q->nodes[i].host, p->nodes[i].host);
		assert_int_not_equal(q->nodes[i].port, 7001);
		if (p->nodes[i].port != 7001)
			assert_int_equal(q->nodes[i].port, p->nodes[i].port);
	}
	plan_free(p);
	plan_free(q);
	fleet_free(f);
}

static void test_rack_spread_reason(void **state)
{
	struct fleet *f = fleet_new();
	struct plan_problems probs = {0};
	struct plan *p = NULL;
	struct err e;

	(void)state;
	/* r0: h1, h3; r1: h2.  Shards of three cannot span three racks:
	 * best effort places them over the two racks there are and warns;
	 * spread_strict refuses. */
	for (int i = 0; i < 3; i++)
		add_host(f, i % 2, 1, 8000, 8ULL << 30);
	struct spec_service *svc = add_service(f, "cache", "redis", 6, 2, SPREAD_RACK);
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), 0);
	check_plan(&f->s, p);
	assert_int_equal(p->nwarnings, 1);
	assert_string_equal(p->warnings[0],
			    "cache: rack spread relaxed: shards of 3 nodes span the 2 racks the hosts give (spread_strict = true refuses instead)");
	plan_free(p);
	svc->placement.spread_strict = true;
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), -1);
	assert_null(p);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_non_null(strstr(e.msg, "cannot be placed"));
	assert_int_equal(probs.n, 1);
	assert_string_equal(probs.items[0].node, "cache-2");
	assert_string_equal(probs.items[0].msg,
			    "cache-2: rack spread needs 3 racks, hosts give 2 (spread_strict = true)");
	plan_problems_free(&probs);
	svc->placement.spread_strict = false;

	/* with a second host in r1 both replicas fit there: the rack spread
	 * is a preference, anti-affinity the rule */
	add_host(f, 1, 1, 8000, 8ULL << 30);
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), 0);
	check_plan(&f->s, p);
	plan_free(p);
	plan_problems_free(&probs);
	fleet_free(f);
}

static void test_labels_and_capacity(void **state)
{
	struct fleet *f = fleet_new();
	struct plan_problems probs = {0};
	struct plan *p = NULL;
	struct spec_service *svc;
	struct err e;

	(void)state;
	for (int i = 0; i < 4; i++)
		add_host(f, i, 1, 1100, 1ULL << 30);
	set_label(f, 1, "disk", "ssd");
	set_label(f, 3, "disk", "ssd");
	svc = add_service(f, "db", "cassandra", 2, 3, SPREAD_RACK);
	f->req[0] = (struct kv){.key = "disk", .value = "ssd"};
	svc->placement.require.items = f->req;
	svc->placement.require.n = 1;
	svc->resources.cpus_milli = 1000;
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	assert_int_equal(p->nodes[0].role, ROLE_SEED);
	assert_int_not_equal(p->nodes[0].host_index, p->nodes[1].host_index);
	assert_true(p->nodes[0].host_index == 1 || p->nodes[0].host_index == 3);
	plan_free(p);

	/* one more node: both ssd hosts are full (1000m of 1000m schedulable) */
	svc->nodes = 3;
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), -1);
	assert_int_equal(probs.n, 1);
	assert_string_equal(probs.items[0].msg,
			    "db-2: no room: 3 nodes of 1000m cpu and 268435456 bytes memory do not fit on the 2 eligible hosts");
	plan_problems_free(&probs);

	/* two eligible hosts cannot hold a master and two replicas apart */
	svc->template = "redis";
	svc->nodes = 3;
	svc->replicas = 2;
	svc->resources.cpus_milli = 100;
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), -1);
	assert_int_equal(probs.n, 1);
	assert_string_equal(probs.items[0].msg,
			    "db-2: anti-affinity needs 3 hosts (a master and 2 replicas apart), hosts give 2");
	plan_problems_free(&probs);
	svc->template = "cassandra";
	svc->nodes = 3;
	svc->replicas = 3;
	svc->resources.cpus_milli = 1000;

	f->req[0].value = "nvme";
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, &probs, &e), -1);
	assert_int_equal(probs.n, 1);
	assert_non_null(strstr(probs.items[0].msg, "disk=nvme"));
	assert_non_null(strstr(e.msg, "3 nodes cannot be placed"));
	plan_problems_free(&probs);
	fleet_free(f);
}

static void test_replica_rack_rule(void **state)
{
	struct fleet *f = fleet_new();
	struct plan *p = NULL;
	struct err e;

	(void)state;
	/* rack r0 has three hosts, r1 one: spread host alone would put a replica
	 * on r0 next to its master; the rack rule sends every replica to r1. */
	add_host(f, 0, 1, 8000, 8ULL << 30);
	add_host(f, 0, 1, 8000, 8ULL << 30);
	add_host(f, 0, 1, 8000, 8ULL << 30);
	add_host(f, 1, 1, 8000, 8ULL << 30);
	add_service(f, "cache", "redis", 6, 1, SPREAD_HOST);
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	plan_free(p);
	fleet_free(f);
}

static void test_kept_replica_moves_master(void **state)
{
	struct fleet *f = fleet_new();
	struct plan *p = NULL;
	struct err e;

	(void)state;
	/* r0: h1 h3, r1: h2 h4.  The recorded master's host is gone, its
	 * replica stays on h2 (r1): the master must come back on r0. */
	for (int i = 0; i < 4; i++)
		add_host(f, i % 2, 1, 8000, 8ULL << 30);
	add_service(f, "cache", "redis", 2, 1, SPREAD_HOST);
	const struct placement_node prev_nodes[] = {
		{.id = "cache-0", .host = "h-gone", .port = 7000, .bus_port = 17000},
		{.id = "cache-1", .host = "h2", .port = 7000, .bus_port = 17000},
	};
	const struct placement prev = {.nodes = prev_nodes, .n = 2};
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &prev, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	assert_true(p->nodes[1].kept);
	assert_string_equal(p->nodes[1].host->name, "h2");
	assert_false(p->nodes[0].kept);
	assert_string_equal(p->nodes[0].host->rack, "r0");
	plan_free(p);

	/* a recorded port below a raised port base: same host, new port */
	f->s.services[0].port_base = 7100;
	assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &prev, &p, NULL, &e), 0);
	check_plan(&f->s, p);
	assert_true(p->nodes[1].kept);
	assert_string_equal(p->nodes[1].host->name, "h2");
	assert_int_equal(p->nodes[1].port, 7100);
	assert_int_equal(p->nodes[1].bus_port, 17100);
	plan_free(p);
	fleet_free(f);
}

/* ---- random fleets ------------------------------------------------------------ */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return n ? (uint32_t)(rng_state >> 33) % n : 0;
}

static struct fleet *random_fleet(uint64_t seed, bool homogeneous)
{
	struct fleet *f = fleet_new();
	int nh = 1 + (int)rnd(30), nr = 1 + (int)rnd(5), nz = 1 + (int)rnd(3);
	static char *tmpl[] = {"redis", "cassandra", "riak"};
	static char *names[] = {"cache", "db", "kv"};
	static enum spread_kind sp[] = {SPREAD_HOST, SPREAD_RACK, SPREAD_ZONE};

	rng_state = seed;
	for (int i = 0; i < nh; i++) {
		int cpus = homogeneous ? 16000 : 1000 + (int)rnd(8) * 1000;

		add_host(f, homogeneous ? i % nr : (int)rnd((uint32_t)nr),
			 homogeneous ? i % nz : (int)rnd((uint32_t)nz), cpus,
			 (homogeneous ? 32ULL : 1ULL + rnd(8)) << 30);
		if (!homogeneous && rnd(3) == 0)
			set_label(f, (size_t)i, "disk", rnd(2) ? "ssd" : "hdd");
	}
	int ns = homogeneous ? 1 : 1 + (int)rnd(3);
	for (int k = 0; k < ns; k++) {
		int replicas = (int)rnd(3);
		int t = (int)rnd(3);
		struct spec_service *s =
			add_service(f, names[k], tmpl[t], (1 + replicas) * (1 + (int)rnd(8)),
				    replicas, sp[rnd(3)]);

		s->port_base = 7000 + k * 100;
		if (!homogeneous && rnd(4) == 0)
			s->placement.max_per_host = 1 + (int)rnd(3);
		if (!homogeneous && rnd(5) == 0) {
			f->req[k] = (struct kv){.key = "disk", .value = "ssd"};
			s->placement.require.items = &f->req[k];
			s->placement.require.n = 1;
		}
	}
	return f;
}

static void test_random_fleets_hold_constraints(void **state)
{
	int placed = 0, refused = 0;

	(void)state;
	for (uint64_t seed = 1; seed <= 400; seed++) {
		struct fleet *f = random_fleet(seed, false);
		struct plan_problems probs = {0};
		struct plan *a = NULL, *b = NULL;
		struct err e;
		int rc = plan_compute(&f->s, kind_traits(&f->s), NULL, &a, &probs, &e);

		if (rc == 0) {
			placed++;
			check_plan(&f->s, a);
			assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), NULL, &b, NULL, &e), 0);
			check_same(a, b);
			/* replanning from its own placement moves nothing */
			struct recorded r;
			struct plan *c = NULL;
			record(a, &r);
			assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &r.pl, &c, NULL, &e), 0);
			check_same(a, c);
			for (size_t i = 0; i < c->n; i++)
				assert_true(c->nodes[i].kept);
			plan_free(c);
			record_free(&r);
		} else {
			refused++;
			assert_true(probs.n > 0);
			for (size_t i = 0; i < probs.n; i++) {
				assert_int_equal(strncmp(probs.items[i].msg, probs.items[i].node,
							 strlen(probs.items[i].node)), 0);
				assert_non_null(strstr(probs.items[i].msg, ": "));
			}
		}
		plan_free(a);
		plan_free(b);
		plan_problems_free(&probs);
		fleet_free(f);
	}
	/* the generator must exercise both outcomes */
	assert_true(placed > 100);
	assert_true(refused > 10);
}

static void test_random_spread_is_even(void **state)
{
	(void)state;
	for (uint64_t seed = 1000; seed < 1300; seed++) {
		struct fleet *f = random_fleet(seed, true);
		struct plan *p = NULL;
		struct err e;
		const struct spec_service *svc = &f->s.services[0];

		if (plan_compute(&f->s, kind_traits(&f->s), NULL, &p, NULL, &e) < 0) {
			/* only a rack/zone spread wider than the fleet may fail */
			assert_true(svc->placement.spread != SPREAD_HOST);
			fleet_free(f);
			continue;
		}
		int nr = 0, nz = 0;
		for (size_t h = 0; h < f->s.nhosts; h++) {
			nr = atoi(f->s.hosts[h].rack + 1) + 1 > nr ? atoi(f->s.hosts[h].rack + 1) + 1 : nr;
			nz = atoi(f->s.hosts[h].zone + 1) + 1 > nz ? atoi(f->s.hosts[h].zone + 1) + 1 : nz;
		}
		int need = strcmp(svc->template, "redis") ? 1 : 1 + svc->replicas;
		strict_domains = (svc->placement.spread == SPREAD_RACK && nr >= need) ||
				 (svc->placement.spread == SPREAD_ZONE && nz >= need);
		check_plan(&f->s, p);
		strict_domains = false;
		/* count nodes per domain; domains without nodes count as 0 */
		int cnt[64] = {0}, ndom = 0;
		const char *dom[64];
		for (size_t h = 0; h < f->s.nhosts; h++) {
			const char *d = svc->placement.spread == SPREAD_HOST ? f->s.hosts[h].name
				      : svc->placement.spread == SPREAD_RACK ? f->s.hosts[h].rack
									     : f->s.hosts[h].zone;
			int k;

			for (k = 0; k < ndom && strcmp(dom[k], d); k++)
				;
			if (k == ndom)
				dom[ndom++] = d;
		}
		for (size_t i = 0; i < p->n; i++) {
			const struct spec_host *h = p->nodes[i].host;
			const char *d = svc->placement.spread == SPREAD_HOST ? h->name
				      : svc->placement.spread == SPREAD_RACK ? h->rack : h->zone;
			for (int k = 0; k < ndom; k++)
				if (!strcmp(dom[k], d))
					cnt[k]++;
		}
		int lo = cnt[0], hi = cnt[0];
		for (int k = 1; k < ndom; k++) {
			lo = cnt[k] < lo ? cnt[k] : lo;
			hi = cnt[k] > hi ? cnt[k] : hi;
		}
		if (hi - lo > 1)
			fail_msg("seed %llu: spread %s uneven: %d..%d over %d domains",
				 (unsigned long long)seed, spread_kind_name(svc->placement.spread),
				 lo, hi, ndom);
		plan_free(p);
		fleet_free(f);
	}
}

static void test_minimal_movement(void **state)
{
	(void)state;
	for (uint64_t seed = 2000; seed < 2200; seed++) {
		struct fleet *f = random_fleet(seed, false);
		struct plan *a = NULL, *b = NULL;
		struct recorded r;
		struct err e;

		if (plan_compute(&f->s, kind_traits(&f->s), NULL, &a, NULL, &e) < 0) {
			fleet_free(f);
			continue;
		}
		record(a, &r);

		/* adding a host (in a rack and zone the fleet has: a new rack
		 * would rightly move replicas that share their master's rack)
		 * moves nothing */
		add_host(f, atoi(f->racks[0] + 1), atoi(f->zones[0] + 1), 64000, 64ULL << 30);
		assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &r.pl, &b, NULL, &e), 0);
		check_plan(&f->s, b);
		assert_int_equal(moved(&r, b), 0);
		plan_free(b);

		/* adding a shard moves nothing unless the new host is the only
		 * one with room: then a few nodes make way (the shard needs
		 * distinct hosts), never more than its replicas */
		struct spec_service *svc = &f->s.services[0];
		int old = svc->nodes;
		svc->nodes += 1 + svc->replicas;
		if (plan_compute(&f->s, kind_traits(&f->s), &r.pl, &b, NULL, &e) == 0) {
			check_plan(&f->s, b);
			assert_true(moved(&r, b) <= (size_t)svc->replicas);
			plan_free(b);
		}

		/* removing a shard moves nothing */
		svc->nodes = old > 1 + svc->replicas ? old - (1 + svc->replicas) : old;
		assert_int_equal(plan_compute(&f->s, kind_traits(&f->s), &r.pl, &b, NULL, &e), 0);
		check_plan(&f->s, b);
		assert_int_equal(moved(&r, b), 0);
		plan_free(b);
		svc->nodes = old;

		/* losing the first host moves only the nodes that were on it */
		size_t on_h1 = 0;
		for (size_t i = 0; i < a->n; i++)
			on_h1 += a->nodes[i].host_index == 0;
		f->s.hosts[0].name = "gone";
		if (plan_compute(&f->s, kind_traits(&f->s), &r.pl, &b, NULL, &e) == 0) {
			check_plan(&f->s, b);
			size_t kept = 0;
			for (size_t i = 0; i < b->n; i++)
				kept += b->nodes[i].kept;
			assert_true(kept >= a->n - on_h1);
			plan_free(b);
		}
		record_free(&r);
		plan_free(a);
		fleet_free(f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redis_six_on_three),
		cmocka_unit_test(test_taken_ports_avoided),
		cmocka_unit_test(test_rack_spread_reason),
		cmocka_unit_test(test_labels_and_capacity),
		cmocka_unit_test(test_replica_rack_rule),
		cmocka_unit_test(test_kept_replica_moves_master),
		cmocka_unit_test(test_random_fleets_hold_constraints),
		cmocka_unit_test(test_random_spread_is_even),
		cmocka_unit_test(test_minimal_movement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
