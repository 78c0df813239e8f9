/* plan_cases.h - random small fleets and specs for the planner, and a
 * brute-force oracle that says which of them have a valid placement.
 *
 * Shared by tests/unit/test_plan_search.c (the property test) and
 * bench/plan_bench.c (the complete search's worst time on the same cases):
 * the same seed gives the same case in both.
 *
 * The oracle tries every host for every node (depth first, pruned only by
 * the per-host rules), and for each full assignment grades every sharded
 * service with the strongest level of shard rules it meets (plan_int.h's
 * LEVEL_*, restated here from plan.h's contract, not taken from the code):
 *   0  a shard's members on distinct hosts;
 *   1  + each replica off its master's rack, when the service's eligible
 *        hosts span >= 2 racks;
 *   2  + (rack/zone spread) a shard spans min(size, domains) distinct
 *        domains - its whole size when spread_strict.
 * A spec is feasible when some assignment meets, for every service, level 0
 * (best effort) or its top level (spread_strict: 1 for host spread, 2 for
 * rack/zone).
 */
#ifndef SHOAL_PLAN_CASES_H
#define SHOAL_PLAN_CASES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "plan.h"

#define PC_HOSTS 5
#define PC_SVCS 2
#define PC_NODES 6 /* total over services: the oracle tries HOSTS^NODES */

/* Helpers are static: each includer uses some of them. */
#define PC_FN static __attribute__((unused))

struct pcase {
	struct spec s;
	struct spec_host hosts[PC_HOSTS];
	struct spec_service svcs[PC_SVCS];
	char names[PC_HOSTS][8], racks[PC_HOSTS][8], zones[PC_HOSTS][8];
	struct kv label[PC_HOSTS], req[PC_SVCS];
	bool sharded[PC_SVCS];
};

PC_FN uint64_t pc_rand(uint64_t *st)
{
	uint64_t x = *st;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*st = x;
	return x;
}

PC_FN int pc_pick(uint64_t *st, int n)
{
	return (int)(pc_rand(st) % (uint64_t)n);
}

/* Case number `seed`: 1-5 hosts on 1-3 racks (zones 1-2), tight cpu and
 * memory, 1-2 services (redis sharded with 0-2 replicas, or cassandra),
 * at most PC_NODES nodes in all, random spread, spread_strict, max_per_host
 * and a label requirement now and then. */
PC_FN void pc_make(struct pcase *c, uint64_t seed)
{
	static char *const tmpl[] = {"redis", "cassandra"};
	static const int cpus[] = {1000, 1500, 2000, 3000};
	static const uint64_t mem[] = {512ULL << 20, 1ULL << 30, 2ULL << 30};
	uint64_t st = seed * 0x9E3779B97F4A7C15ULL + 1;
	int nracks = 1 + pc_pick(&st, 3), left = PC_NODES;

	memset(c, 0, sizeof *c);
	c->s.name = "prop";
	c->s.path = "prop.cfg";
	c->s.hosts = c->hosts;
	c->s.services = c->svcs;
	c->s.nhosts = (size_t)(1 + pc_pick(&st, PC_HOSTS));
	for (size_t h = 0; h < c->s.nhosts; h++) {
		struct spec_host *sh = &c->hosts[h];

		snprintf(c->names[h], sizeof c->names[h], "h%d", (int)h);
		snprintf(c->racks[h], sizeof c->racks[h], "r%d", pc_pick(&st, nracks));
		snprintf(c->zones[h], sizeof c->zones[h], "z%d", pc_pick(&st, 2));
		sh->name = c->names[h];
		sh->address = c->names[h];
		sh->rack = c->racks[h];
		sh->zone = c->zones[h];
		sh->cpus_milli = cpus[pc_pick(&st, 4)];
		sh->memory = mem[pc_pick(&st, 3)];
		if (pc_pick(&st, 3) == 0) {
			c->label[h] = (struct kv){.key = "disk", .value = "ssd"};
			sh->labels = (struct kvlist){.items = &c->label[h], .n = 1};
		}
	}
	size_t want = (size_t)(1 + pc_pick(&st, PC_SVCS));
	for (size_t k = 0; k < want && left > 0; k++) {
		struct spec_service *sv = &c->svcs[k];
		int t = pc_pick(&st, 3) ? 0 : 1;

		sv->name = k ? "db" : "cache";
		sv->template = tmpl[t];
		c->sharded[k] = t == 0;
		sv->replicas = pc_pick(&st, 3);
		sv->nodes = 1 + pc_pick(&st, k + 1 < want && left > 1 ? left - 1 : left);
		left -= sv->nodes;
		sv->port_base = 7000;
		sv->resources.cpus_milli = pc_pick(&st, 2) ? 500 : 250 * (1 + pc_pick(&st, 4));
		sv->resources.memory = pc_pick(&st, 2) ? 256ULL << 20 : 512ULL << 20;
		sv->placement.spread = (enum spread_kind)pc_pick(&st, 3);
		sv->placement.spread_strict = pc_pick(&st, 4) == 0;
		sv->placement.max_per_host = pc_pick(&st, 4) == 0 ? 1 + pc_pick(&st, 2) : 0;
		if (pc_pick(&st, 6) == 0) {
			c->req[k] = (struct kv){.key = "disk", .value = "ssd"};
			sv->placement.require = (struct kvlist){.items = &c->req[k], .n = 1};
		}
		c->s.nservices = k + 1;
	}
}

/* ---- the oracle ------------------------------------------------------------ */

struct oracle {
	const struct pcase *c;
	int nnodes;
	int svc_of[PC_NODES], idx_of[PC_NODES];
	int host_of[PC_NODES];
	int64_t cpu[PC_HOSTS], mem[PC_HOSTS];
	int per[PC_SVCS][PC_HOSTS];
	bool feasible;
	int best[PC_SVCS]; /* strongest level met, over feasible assignments */
};

PC_FN bool pc_eligible(const struct pcase *c, size_t k, size_t h)
{
	const struct kvlist *req = &c->svcs[k].placement.require;

	for (size_t r = 0; r < req->n; r++) {
		const char *v = kvlist_get(&c->hosts[h].labels, req->items[r].key, NULL);

		if (!v || strcmp(v, req->items[r].value))
			return false;
	}
	return true;
}

PC_FN const char *pc_domain(const struct pcase *c, size_t k, size_t h)
{
	switch (c->svcs[k].placement.spread) {
	case SPREAD_RACK: return c->hosts[h].rack;
	case SPREAD_ZONE: return c->hosts[h].zone;
	case SPREAD_HOST: break;
	}
	return c->hosts[h].name;
}

/* Distinct values of domain (racks when `racks`) among k's eligible hosts. */
PC_FN int pc_ndom(const struct pcase *c, size_t k, bool racks)
{
	int n = 0;

	for (size_t h = 0; h < c->s.nhosts; h++) {
		bool dup = false;

		if (!pc_eligible(c, k, h))
			continue;
		for (size_t g = 0; g < h && !dup; g++)
			dup = pc_eligible(c, k, g) &&
			      !strcmp(racks ? c->hosts[g].rack : pc_domain(c, k, g),
				      racks ? c->hosts[h].rack : pc_domain(c, k, h));
		n += !dup;
	}
	return n;
}

PC_FN int pc_top(const struct pcase *c, size_t k)
{
	return c->svcs[k].placement.spread == SPREAD_HOST ? 1 : 2;
}

/* Strongest level the hosts in host_of[] give service k (0..2); -1 when a
 * shard has two members on one host. */
PC_FN int pc_grade(const struct pcase *c, size_t k, const int *hosts, int n)
{
	const struct spec_service *sv = &c->svcs[k];
	int size = 1 + sv->replicas, level = pc_top(c, k);
	int nracks = pc_ndom(c, k, true), ndoms = pc_ndom(c, k, false);

	if (!c->sharded[k])
		return 2;
	for (int f = 0; f < n; f += size) {
		int end = f + size < n ? f + size : n, distinct = 0;
		int target = sv->placement.spread_strict || ndoms > end - f ? end - f : ndoms;

		for (int i = f; i < end; i++) {
			bool dup = false;

			for (int j = f; j < i; j++) {
				if (hosts[j] == hosts[i])
					return -1;
				dup = dup || !strcmp(pc_domain(c, k, (size_t)hosts[j]),
						     pc_domain(c, k, (size_t)hosts[i]));
			}
			distinct += !dup;
			if (i > f && nracks >= 2 &&
			    !strcmp(c->hosts[hosts[i]].rack, c->hosts[hosts[f]].rack) && level > 0)
				level = 0;
		}
		if (sv->placement.spread != SPREAD_HOST && distinct < target && level > 1)
			level = 1;
	}
	return level;
}

PC_FN void pc_leaf(struct oracle *o)
{
	int g[PC_SVCS] = {0}; /* every k the second loop reads is set in the first */
	int hosts[PC_NODES], n;
	bool ok = true;

	for (size_t k = 0; k < o->c->s.nservices; k++) {
		const struct spec_service *sv = &o->c->svcs[k];

		n = 0;
		for (int i = 0; i < o->nnodes; i++)
			if (o->svc_of[i] == (int)k)
				hosts[n++] = o->host_of[i];
		g[k] = pc_grade(o->c, k, hosts, n);
		if (g[k] < (sv->placement.spread_strict ? pc_top(o->c, k) : 0))
			ok = false;
	}
	if (!ok)
		return;
	o->feasible = true;
	for (size_t k = 0; k < o->c->s.nservices; k++)
		if (g[k] > o->best[k])
			o->best[k] = g[k];
}

PC_FN void pc_walk(struct oracle *o, int i)
{
	if (i == o->nnodes) {
		pc_leaf(o);
		return;
	}
	size_t k = (size_t)o->svc_of[i];
	const struct spec_service *sv = &o->c->svcs[k];

	for (size_t h = 0; h < o->c->s.nhosts; h++) {
		if (!pc_eligible(o->c, k, h) || o->cpu[h] < sv->resources.cpus_milli ||
		    o->mem[h] < (int64_t)sv->resources.memory)
			continue;
		if (sv->placement.max_per_host && o->per[k][h] >= sv->placement.max_per_host)
			continue;
		o->cpu[h] -= sv->resources.cpus_milli;
		o->mem[h] -= (int64_t)sv->resources.memory;
		o->per[k][h]++;
		o->host_of[i] = (int)h;
		pc_walk(o, i + 1);
		o->cpu[h] += sv->resources.cpus_milli;
		o->mem[h] += (int64_t)sv->resources.memory;
		o->per[k][h]--;
	}
}

/* Fill o: is c feasible, and the strongest level each service can have. */
PC_FN void pc_oracle(const struct pcase *c, struct oracle *o)
{
	memset(o, 0, sizeof *o);
	o->c = c;
	for (size_t k = 0; k < c->s.nservices; k++) {
		o->best[k] = -1;
		for (int i = 0; i < c->svcs[k].nodes; i++) {
			o->svc_of[o->nnodes] = (int)k;
			o->idx_of[o->nnodes++] = i;
		}
	}
	for (size_t h = 0; h < c->s.nhosts; h++) {
		o->cpu[h] = c->hosts[h].cpus_milli;
		o->mem[h] = (int64_t)c->hosts[h].memory;
	}
	pc_walk(o, 0);
}

#endif
