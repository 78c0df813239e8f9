/* plan_bench.c - time plan_compute() on a large synthetic fleet.
 *
 *   plan_bench [NODES [HOSTS [RACKS]]]     defaults 1000000 10000 100
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

#include "plan.h"
#include "util.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
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

	double t0 = now_s();
	int rc = plan_compute(&s, NULL, NULL, &p, NULL, &e);
	double dt = now_s() - t0;
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
	printf("placed %ld nodes on %ld hosts in %ld racks: %.3f s, %.0f placements/s\n",
	       nodes, nhosts, nracks, dt, (double)nodes / dt);
	plan_free(p);
	for (long h = 0; h < nhosts; h++) {
		free(s.hosts[h].name);
		free(s.hosts[h].rack);
	}
	free(s.hosts);
	return 0;
}
