/* plan_roles.c - which id takes which slot of a sharded service, so that a
 * change of replicas keeps recorded masters as masters.  See plan_int.h. */
#include "plan_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* i of "<name>-<i>", or NONE when id is not a node of that service. */
static uint32_t id_index(const char *id, const char *name, size_t len)
{
	char *end;
	unsigned long v;

	if (!id || strncmp(id, name, len) || id[len] != '-' || id[len + 1] < '0' ||
	    id[len + 1] > '9' || (id[len + 1] == '0' && id[len + 2]))
		return NONE;
	errno = 0;
	v = strtoul(id + len + 1, &end, 10);
	return *end || errno || v >= NONE ? NONE : (uint32_t)v;
}

struct slots {
	uint32_t n, size, nshards;
	int8_t *role;      /* [n] recorded: 0 none, 1 master, 2 replica */
	uint32_t *follows; /* [n] recorded master's index, or NONE */
	uint32_t *shard_of; /* [n] shard an id masters, or NONE */
	uint32_t *fill;    /* [nshards] slots taken */
	bool *used;        /* [n] */
	uint32_t *perm;    /* [n] id index in each slot */
};

static uint32_t shard_len(const struct slots *t, uint32_t j)
{
	uint32_t left = t->n - j * t->size;

	return left < t->size ? left : t->size;
}

static void put(struct slots *t, uint32_t j, uint32_t id)
{
	t->perm[j * t->size + t->fill[j]++] = id;
	t->used[id] = true;
}

/* Read the recorded roles of service `name`; false when none are recorded. */
static bool read_roles(struct slots *t, const struct placement *prev, const char *name)
{
	size_t len = strlen(name);
	bool any = false;

	for (size_t i = 0; i < prev->n; i++) {
		const struct placement_node *pn = &prev->nodes[i];
		uint32_t idx = id_index(pn->id, name, len);
		int r = pn->role ? node_role_parse(pn->role) : -1;

		if (idx >= t->n || (r != ROLE_MASTER && r != ROLE_REPLICA))
			continue;
		any = true;
		t->role[idx] = r == ROLE_MASTER ? 1 : 2;
		if (r == ROLE_REPLICA)
			t->follows[idx] = id_index(pn->master, name, len);
	}
	return any;
}

static void place_ids(struct slots *t)
{
	uint32_t j = 0;

	/* masters: recorded ones (lowest ids first), then new ids, then the
	 * rest, one per shard */
	for (int pass = 0; pass < 3; pass++)
		for (uint32_t id = 0; id < t->n && j < t->nshards; id++)
			if (!t->used[id] && t->role[id] == (pass == 0 ? 1 : pass == 1 ? 0 : 2)) {
				t->shard_of[id] = j;
				put(t, j++, id);
			}
	/* replicas follow their recorded master while its shard has room */
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t m = t->follows[id];

		if (t->used[id] || m >= t->n || t->shard_of[m] == NONE)
			continue;
		if (t->fill[t->shard_of[m]] < shard_len(t, t->shard_of[m]))
			put(t, t->shard_of[m], id);
	}
	/* everything else in id order, shard by shard */
	j = 0;
	for (uint32_t id = 0; id < t->n; id++) {
		if (t->used[id])
			continue;
		while (t->fill[j] == shard_len(t, j))
			j++;
		put(t, j, id);
	}
}

uint32_t *plan_slot_ids(const struct planner *pl, size_t k, const struct placement *prev)
{
	const struct svcinfo *si = &pl->svcs[k];
	struct slots t = {0};
	bool identity = true;

	if (!si->tr.sharded || !prev || !prev->n || si->svc->nodes <= 0)
		return NULL;
	t.n = (uint32_t)si->svc->nodes;
	t.size = (uint32_t)si->shard_size;
	t.nshards = (uint32_t)plan_masters(si->svc->nodes, si->shard_size - 1);
	t.role = xcalloc(t.n, sizeof *t.role);
	t.follows = xcalloc(t.n, sizeof *t.follows);
	t.shard_of = xcalloc(t.n, sizeof *t.shard_of);
	t.fill = xcalloc(t.nshards, sizeof *t.fill);
	t.used = xcalloc(t.n, sizeof *t.used);
	t.perm = xcalloc(t.n, sizeof *t.perm);
	for (uint32_t i = 0; i < t.n; i++)
		t.follows[i] = t.shard_of[i] = NONE;
	if (read_roles(&t, prev, si->svc->name)) {
		place_ids(&t);
		for (uint32_t i = 0; i < t.n && identity; i++)
			identity = t.perm[i] == i;
	}
	free(t.role);
	free(t.follows);
	free(t.shard_of);
	free(t.fill);
	free(t.used);
	if (identity) {
		free(t.perm);
		return NULL;
	}
	return t.perm;
}
