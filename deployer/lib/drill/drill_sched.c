/* drill_sched.c - the parts of a drill that are pure: scenario names, the
 * --load argument, the seeded schedule and the choice of victims. */
#include "drill.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const scenario_names[] = {
	[DRILL_KILL_NODE] = "kill-node",
	[DRILL_KILL_MASTER] = "kill-master",
	[DRILL_PAUSE_NODE] = "pause-node",
	[DRILL_KILL_HOST] = "kill-host",
	[DRILL_PARTITION] = "partition",
	[DRILL_SLOW_NETWORK] = "slow-network",
	[DRILL_MIXED] = "mixed",
};

int drill_scenario_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(scenario_names); i++)
		if (s && !strcmp(s, scenario_names[i]))
			return (int)i;
	return -1;
}

const char *drill_scenario_name(enum drill_scenario s)
{
	return (size_t)s < ARRAY_SIZE(scenario_names) ? scenario_names[s] : "?";
}

/* One whole number in [min, max] from s..end. */
static int load_value(const char *name, const char *s, size_t len, long min, long max, int *out,
		      struct err *e)
{
	char buf[32], *end;
	long v;

	if (len == 0 || len >= sizeof buf)
		return err_usage(e, "--load: %s needs a whole number from %ld to %ld", name, min, max);
	memcpy(buf, s, len);
	buf[len] = 0;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || *end || v < min || v > max)
		return err_usage(e, "--load: %s=%s: a whole number from %ld to %ld", name, buf, min,
				 max);
	*out = (int)v;
	return 0;
}

int drill_load_parse(const char *s, struct drill_load *out, struct err *e)
{
	struct drill_load l = *out;

	while (s && *s) {
		const char *comma = strchr(s, ','), *eq = strchr(s, '=');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		int rc;

		if (!eq || eq >= s + len)
			return err_usage(e, "--load: '%.*s' is not NAME=VALUE (writers, rate, wait)",
					 (int)len, s);
		const char *v = eq + 1;
		size_t vn = len - (size_t)(v - s), kn = (size_t)(eq - s);

		if (kn == 7 && !strncmp(s, "writers", kn))
			rc = load_value("writers", v, vn, 0, 64, &l.writers, e);
		else if (kn == 4 && !strncmp(s, "rate", kn))
			rc = load_value("rate", v, vn, 0, 10000000, &l.rate, e);
		else if (kn == 4 && !strncmp(s, "wait", kn))
			rc = load_value("wait", v, vn, 0, 16, &l.wait, e);
		else
			return err_usage(e, "--load: unknown '%.*s' (writers, rate, wait)", (int)kn, s);
		if (rc < 0)
			return -1;
		s = comma ? comma + 1 : s + len;
	}
	*out = l;
	return 0;
}

/* splitmix64: small, well mixed, and the same everywhere. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void drill_schedule(const struct drill_opts *o, struct drill_round *rounds)
{
	uint64_t st = o->seed;
	int64_t at = 0, jitter_max = o->interval_ms / 4;

	for (int r = 0; r < o->rounds; r++) {
		uint64_t j = next_rand(&st);

		at += o->interval_ms;
		rounds[r].at_ms = at + (jitter_max > 0 ? (int64_t)(j % (uint64_t)jitter_max) : 0);
		rounds[r].pick = next_rand(&st);
		rounds[r].scenario = o->scenario;
		if (o->scenario == DRILL_MIXED)
			rounds[r].scenario = (enum drill_scenario)(next_rand(&st) % DRILL_NCONCRETE);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *drill_pick_minority(const struct drill_round *r, const char *const *hosts, size_t n)
{
	const char **v;
	struct buf b = {0};
	size_t k = n > 2 ? (n - 1) / 2 : 1, first;

	if (n < 2)
		return NULL;
	v = xcalloc(n, sizeof *v);
	memcpy(v, hosts, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_str);
	first = (size_t)(r->pick % n);
	for (size_t i = 0; i < k; i++)
		buf_printf(&b, "%s%s", i ? "," : "", v[(first + i) % n]);
	free(v);
	return buf_steal(&b);
}

const char *drill_pick(const struct drill_round *r, const char *const *candidates, size_t n)
{
	const char **v;
	const char *pick;

	if (n == 0)
		return NULL;
	v = xcalloc(n, sizeof *v);
	memcpy(v, candidates, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_str);
	pick = v[r->pick % n];
	free(v);
	return pick;
}
