/* test_plan_search.c - the planner against a brute-force oracle on random
 * small fleets (tests/unit/plan_cases.h), and the issue's uneven fleet.
 *
 * For every case: plan_compute() succeeds exactly when the oracle finds a
 * valid placement; what it returns meets every rule (capacity, labels,
 * max_per_host, ports, distinct hosts, and the level of shard rules the
 * spec asks for); with one service, its spread is the best the fleet
 * allows.  Then, from the plan as previous placement, the fleet loses a
 * host and the same must hold, with the nodes elsewhere kept when a
 * placement keeping them exists.  Seeded: PLAN_SEED=N runs case N alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "kind_traits.h"
#include "plan_cases.h"
#include "util.h"

#define CASES 6000

/* Level the placement gives service k, after checking every per-host rule
 * (fails the test on a broken one). */
static int check_service(const struct pcase *c, const struct plan *p, size_t k)
{
	const struct spec_service *sv = &c->svcs[k];
	int hosts[64], n = 0;

	for (size_t i = p->svc_first[k]; i < p->svc_first[k + 1]; i++) {
		const struct plan_node *nd = &p->nodes[i];

		assert_true(n < 64);
		assert_true(pc_eligible(c, k, nd->host_index));
		hosts[n++] = (int)nd->host_index;
	}
	assert_int_equal(n, sv->nodes);
	if (sv->placement.max_per_host)
		for (size_t h = 0; h < c->s.nhosts; h++) {
			int on = 0;

			for (int i = 0; i < n; i++)
				on += hosts[i] == (int)h;
			assert_true(on <= sv->placement.max_per_host);
		}
	return pc_grade(c, k, hosts, n);
}

static void check_hosts(const struct pcase *c, const struct plan *p)
{
	for (size_t h = 0; h < c->s.nhosts; h++) {
		int64_t cpu = 0, mem = 0;

		for (size_t i = 0; i < p->n; i++) {
			const struct plan_node *a = &p->nodes[i];

			if (a->host_index != h)
				continue;
			cpu += a->cpus_milli;
			mem += (int64_t)a->memory;
			for (size_t j = i + 1; j < p->n; j++)
				if (p->nodes[j].host_index == h) {
					assert_int_not_equal(a->port, p->nodes[j].port);
					assert_int_not_equal(a->port, p->nodes[j].bus_port);
					assert_true(!a->bus_port || a->bus_port != p->nodes[j].port);
				}
		}
		assert_true(cpu <= c->hosts[h].cpus_milli);
		assert_true(mem <= (int64_t)c->hosts[h].memory);
	}
}

/* One case, with or without a previous placement; returns the plan. */
static struct plan *run_case(const struct pcase *c, const struct placement *prev,
			     uint64_t seed, double *worst)
{
	struct oracle o;
	struct plan *p = NULL;
	struct plan_problems pp = {0};
	struct err e;
	struct timespec t0, t1;

	pc_oracle(c, &o);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = plan_compute(&c->s, kind_traits(&c->s), prev, &p, &pp, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (dt > *worst)
		*worst = dt;
	if ((rc == 0) != o.feasible)
		fail_msg("case %llu%s: planner says %s, oracle says %s (%s)",
			 (unsigned long long)seed, prev ? " (after losing a host)" : "",
			 rc == 0 ? "placed" : "refused", o.feasible ? "feasible" : "infeasible",
			 rc == 0 ? "" : pp.n ? pp.items[0].msg : e.msg);
	if (rc < 0) {
		assert_true(pp.n >= 1);
		assert_int_equal(e.exit, ERR_EXIT_USAGE);
		plan_problems_free(&pp);
		return NULL;
	}
	check_hosts(c, p);
	for (size_t k = 0; k < c->s.nservices; k++) {
		int g = check_service(c, p, k);
		int need = c->svcs[k].placement.spread_strict ? pc_top(c, k) : 0;

		if (g < need || (c->s.nservices == 1 && g < o.best[k]))
			fail_msg("case %llu: %s gets level %d, needs %d, best is %d",
				 (unsigned long long)seed, c->svcs[k].name, g, need, o.best[k]);
	}
	return p;
}

static void test_against_oracle(void **state)
{
	const char *one = getenv("PLAN_SEED");
	uint64_t from = one ? strtoull(one, NULL, 10) : 1, to = one ? from + 1 : CASES + 1;
	double worst = 0;
	size_t feasible = 0, after = 0, kept_short = 0;

	(void)state;
	for (uint64_t seed = from; seed < to; seed++) {
		struct pcase c;
		struct placement_node rec[PC_NODES];
		struct plan *p, *q;

		pc_make(&c, seed);
		p = run_case(&c, NULL, seed, &worst);
		if (!p)
			continue;
		feasible++;
		/* the last host goes: its nodes move, the others should stay */
		for (size_t i = 0; i < p->n; i++)
			rec[i] = (struct placement_node){.id = p->nodes[i].id,
							 .host = p->nodes[i].host->name,
							 .port = p->nodes[i].port,
							 .bus_port = p->nodes[i].bus_port};
		struct placement prev = {.nodes = rec, .n = p->n};
		if (c.s.nhosts < 2) {
			plan_free(p);
			continue;
		}
		c.s.nhosts--;
		q = run_case(&c, &prev, seed, &worst);
		if (q) {
			after++;
			for (size_t i = 0; i < p->n; i++)
				if (p->nodes[i].host_index < c.s.nhosts && !q->nodes[i].kept)
					kept_short++;
		}
		plan_free(q);
		plan_free(p);
	}
	printf("plan property: %llu cases, %zu feasible, %zu feasible after losing a host "
	       "(%zu nodes off the lost host moved); slowest plan_compute %.6f s\n",
	       (unsigned long long)(to - from), feasible, after, kept_short, worst);
}

/* The issue's fleet: a, b in r1 with 4G; c, d in r2, d with 600M; nine
 * nodes of 512M with two replicas each. */
static void uneven(struct pcase *c, enum spread_kind sp, bool strict)
{
	static const char *const names[] = {"a", "b", "c", "d"};
	static const char *const racks[] = {"r1", "r1", "r2", "r2"};

	memset(c, 0, sizeof *c);
	c->s.name = "kv";
	c->s.path = "uneven.cfg";
	c->s.hosts = c->hosts;
	c->s.nhosts = 4;
	c->s.services = c->svcs;
	c->s.nservices = 1;
	for (size_t h = 0; h < 4; h++) {
		c->hosts[h].name = (char *)names[h];
		c->hosts[h].address = (char *)names[h];
		c->hosts[h].rack = (char *)racks[h];
		c->hosts[h].zone = "z1";
		c->hosts[h].cpus_milli = 8000;
		c->hosts[h].memory = h == 3 ? 600ULL << 20 : 4ULL << 30;
	}
	c->svcs[0] = (struct spec_service){.name = "kv", .template = "redis", .nodes = 9,
					   .replicas = 2, .port_base = 7000};
	c->svcs[0].resources.cpus_milli = 500;
	c->svcs[0].resources.memory = 512ULL << 20;
	c->svcs[0].placement.spread = sp;
	c->svcs[0].placement.spread_strict = strict;
	c->sharded[0] = true;
}

static void test_issue_uneven_fleet(void **state)
{
	struct pcase c;
	struct plan *p = NULL;
	struct plan_problems pp = {0};
	struct err e;

	(void)state;
	/* host spread: every replica off its master's rack, all placed */
	uneven(&c, SPREAD_HOST, false);
	assert_int_equal(plan_compute(&c.s, kind_traits(&c.s), NULL, &p, &pp, &e), 0);
	check_hosts(&c, p);
	assert_int_equal(check_service(&c, p, 0), 1);
	assert_int_equal(p->nwarnings, 0);
	plan_free(p);

	/* rack spread on two racks: the best there is, and a warning */
	uneven(&c, SPREAD_RACK, false);
	assert_int_equal(plan_compute(&c.s, kind_traits(&c.s), NULL, &p, &pp, &e), 0);
	check_hosts(&c, p);
	assert_int_equal(check_service(&c, p, 0), 2);
	assert_int_equal(p->nwarnings, 1);
	assert_string_equal(p->warnings[0],
			    "kv: rack spread relaxed: shards of 3 nodes span the 2 racks the hosts give (spread_strict = true refuses instead)");
	plan_free(p);

	/* strictly: refused, naming the rule */
	uneven(&c, SPREAD_RACK, true);
	assert_int_equal(plan_compute(&c.s, kind_traits(&c.s), NULL, &p, &pp, &e), -1);
	assert_int_equal(pp.n, 1);
	assert_non_null(strstr(pp.items[0].msg, "rack spread needs 3 racks, hosts give 2 (spread_strict = true)"));
	plan_problems_free(&pp);

	/* thirty nodes: the memory of the four hosts holds 24, capacity named */
	uneven(&c, SPREAD_HOST, false);
	c.svcs[0].nodes = 30;
	assert_int_equal(plan_compute(&c.s, kind_traits(&c.s), NULL, &p, &pp, &e), -1);
	assert_int_equal(pp.n, 1);
	assert_non_null(strstr(pp.items[0].msg, "no room: 30 nodes"));
	plan_problems_free(&pp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_uneven_fleet),
		cmocka_unit_test(test_against_oracle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
