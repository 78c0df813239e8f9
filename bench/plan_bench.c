/* plan_bench.c - time plan_compute() on a large synthetic fleet.
 *
 *   plan_bench [NODES [HOSTS [RACKS]]]     defaults 1000000 10000 100
 *   plan_bench --moves                     stability: 1 host of 100 added
 *                                          (and removed), nodes moved vs
 *                                          the fewest the rules require
 *   plan_bench --search                    the complete search's worst time
 *                                          over the property test's cases
 *
 * One Redis service (replicas = 1: every shard a master and a replica) with
 * rack spread, so every placement checks capacity, rack spread and
 * anti-affinity.  Prints one line "placed N nodes on H hosts in R racks: T s,
 * P placements/s" and exits 1 when the plan fails or breaks a constraint in
 * the sampled check below.  Built and run by bench/plan_bench.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/unit/plan_cases.h"
#include "plan.h"
#include "../tests/unit/kind_traits.h"
#include "util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A fleet of nhosts hosts on nracks racks with room for `share` nodes of
 * 100m / 64M each; names are allocated (fleet_free). */
static void fleet(struct spec *s, long nhosts, long nracks, long share)
{
	s->hosts = xcalloc((size_t)nhosts + 1, sizeof *s->hosts);
	s->nhosts = (size_t)nhosts;
	for (long h = 0; h < nhosts + 1; h++) {
		struct spec_host *sh = &s->hosts[h];

		sh->name = xasprintf("h%ld", h);
		sh->address = sh->name;
		sh->rack = xasprintf("rack%ld", h % nracks);
		sh->zone = "z1";
		sh->cpus_milli = (int)(share * 100 + 1000);
		sh->reserve_cpus_milli = 1000;
		sh->memory = (uint64_t)share * (64ULL << 20) + (1ULL << 30);
		sh->reserve_memory = 1ULL << 30;
	}
}

static void fleet_free(struct spec *s, long nhosts)
{
	for (long h = 0; h < nhosts + 1; h++) {
		free(s->hosts[h].name);
		free(s->hosts[h].rack);
	}
	free(s->hosts);
}

/* Nodes of `was` on another host in p; those on host `gone` counted apart. */
static long moved(const struct plan *was, const struct plan *p, const char *gone,
		  long *on_gone)
{
	long n = 0;

	*on_gone = 0;
	for (size_t i = 0; i < was->n; i++) {
		if (gone && !strcmp(was->nodes[i].host->name, gone)) {
			(*on_gone)++;
			continue;
		}
		n += strcmp(was->nodes[i].host->name, p->nodes[i].host->name) != 0;
	}
	return n;
}


/* 2,000 Redis nodes (replicas = 1, rack spread) on 100 hosts in 10 racks:
 * add a 101st host, then remove host h7.  The fewest moves the rules
 * require: adding a host breaks no rule (every shard already spans two
 * racks), so 0; removing one, exactly the nodes it held. */
static int bench_moves(void)
{
	struct spec s = {.name = "bench", .path = "bench"};
	struct spec_service svc = {.name = "cache", .template = "redis", .nodes = 2000,
				   .replicas = 1, .port_base = 7000};
	struct placement_node *rec;
	struct placement prev = {0};
	struct plan *a = NULL, *b = NULL;
	struct err e;
	long on_gone;

	fleet(&s, 100, 10, 40);
	svc.resources.cpus_milli = 100;
	svc.resources.memory = 64ULL << 20;
	svc.placement.spread = SPREAD_RACK;
	s.services = &svc;
	s.nservices = 1;
	if (plan_compute(&s, NULL, NULL, &a, NULL, &e) < 0)
		goto fail;
	rec = xcalloc(a->n, sizeof *rec);
	for (size_t i = 0; i < a->n; i++)
		rec[i] = (struct placement_node){.id = a->nodes[i].id, .host = a->nodes[i].host->name,
						 .port = a->nodes[i].port,
						 .bus_port = a->nodes[i].bus_port};
	prev = (struct placement){.nodes = rec, .n = a->n};

	s.nhosts = 101;
	double t0 = now_s();
	if (plan_compute(&s, NULL, &prev, &b, NULL, &e) < 0)
		goto fail;
	printf("1 host added to 100 (2000 nodes, rack spread): %ld nodes moved, the rules require 0 (%.3f s)\n",
	       moved(a, b, NULL, &on_gone), now_s() - t0);
	plan_free(b);

	s.nhosts = 100;
	s.hosts[7].name[0] = 'x';	/* h7 leaves the spec: "x7" is new and empty */
	t0 = now_s();
	if (plan_compute(&s, NULL, &prev, &b, NULL, &e) < 0)
		goto fail;
	s.hosts[7].name[0] = 'h';
	long m = moved(a, b, "h7", &on_gone);
	printf("1 host of 100 replaced: %ld nodes moved (%ld of them elsewhere than the lost host), the rules require %ld (%.3f s)\n",
	       m + on_gone, m, on_gone, now_s() - t0);
	plan_free(b);
	plan_free(a);
	free(rec);
	fleet_free(&s, 100);
	return 0;
fail:
	fprintf(stderr, "plan_bench: %s\n", e.msg);
	return 1;
}

/* The property test's 6,000 cases: the slowest plan_compute (the complete
 * search runs whenever the greedy pass fails). */
static int bench_search(void)
{
	double worst = 0, total = 0;
	uint64_t worst_seed = 0;

	for (uint64_t seed = 1; seed <= 6000; seed++) {
		struct pcase c;
		struct plan *p = NULL;
		struct err e;

		pc_make(&c, seed);
		double t0 = now_s();
		if (plan_compute(&c.s, kind_traits(&c.s), NULL, &p, NULL, &e) == 0)
			plan_free(p);
		double dt = now_s() - t0;
		total += dt;
		if (dt > worst) {
			worst = dt;
			worst_seed = seed;
		}
	}
	printf("complete search on the property test's 6000 cases: worst %.6f s (case %llu), mean %.6f s\n",
	       worst, (unsigned long long)worst_seed, total / 6000);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--moves"))
		return bench_moves();
	if (argc > 1 && !strcmp(argv[1], "--search"))
		return bench_search();

	long nodes = argc > 1 ? atol(argv[1]) : 1000000;
	long nhosts = argc > 2 ? atol(argv[2]) : 10000;
	long nracks = argc > 3 ? atol(argv[3]) : 100;
	struct spec s = {.name = "bench", .path = "bench"};
	struct spec_service svc = {0};
	struct plan *p = NULL;
	struct err e;

	if (nodes <= 0 || nhosts <= 0 || nracks <= 0 || nodes % 2) {
		fprintf(stderr, "usage: plan_bench [NODES(even) [HOSTS [RACKS]]]\n");
		return 2;
	}
	s.hosts = xcalloc((size_t)nhosts, sizeof *s.hosts);
	s.nhosts = (size_t)nhosts;
	for (long h = 0; h < nhosts; h++) {
		struct spec_host *sh = &s.hosts[h];

		sh->name = xasprintf("h%ld", h);
		sh->address = sh->name;
		sh->rack = xasprintf("rack%ld", h % nracks);
		sh->zone = "z1";
		/* room for twice the fair share, so capacity is checked, not binding */
		long share = (nodes + nhosts - 1) / nhosts * 2;
		sh->cpus_milli = (int)(share * 100 + 1000);
		sh->reserve_cpus_milli = 1000;
		sh->memory = (uint64_t)share * (64ULL << 20) + (1ULL << 30);
		sh->reserve_memory = 1ULL << 30;
	}
	svc.name = "cache";
	svc.template = "redis";
	svc.nodes = (int)nodes;
	svc.replicas = 1;
	svc.port_base = 7000;
	svc.resources.cpus_milli = 100;
	svc.resources.memory = 64ULL << 20;
	svc.placement.spread = SPREAD_RACK;
	s.services = &svc;
	s.nservices = 1;

	struct timespec c0, c1;
	double t0 = now_s();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	int rc = plan_compute(&s, NULL, NULL, &p, NULL, &e);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	double dt = now_s() - t0;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	if (rc < 0) {
		fprintf(stderr, "plan_bench: %s\n", e.msg);
		return 1;
	}
	/* sampled check: replicas on another rack and host than their master */
	for (size_t i = 1; i < p->n; i += 997) {
		const struct plan_node *n = &p->nodes[i], *m;

		if (n->master < 0)
			continue;
		m = &p->nodes[n->master];
		if (m->host == n->host || !strcmp(m->host->rack, n->host->rack)) {
			fprintf(stderr, "plan_bench: %s shares a host or rack with %s\n",
				n->id, m->id);
			return 1;
		}
	}
	/* cpu time too: on a shared machine the wall clock measures the load */
	printf("placed %ld nodes on %ld hosts in %ld racks: %.3f s (cpu %.3f s, %.0f per cpu-second), %.0f placements/s\n",
	       nodes, nhosts, nracks, dt, cpu, (double)nodes / cpu, (double)nodes / dt);
	plan_free(p);
	for (long h = 0; h < nhosts; h++) {
		free(s.hosts[h].name);
		free(s.hosts[h].rack);
	}
	free(s.hosts);
	return 0;
}
