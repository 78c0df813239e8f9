/* keys_driver.c - many keys into a Redis Cluster and back, fast: the
 * cluster-aware, pipelined client of the drills (rc_kv_*, db/redis/rc_kv.c:
 * slot map from CLUSTER SLOTS, each key sent to its master, MOVED and ASK
 * followed).  The scenario tests load and read their keys with it
 * (tests/scenarios/up_helpers.bash keys_write, keys_read): redis-cli -c
 * waits for each answer before it sends the next command, a round trip per
 * key (100,000 keys took minutes on a loaded lab).
 *
 *   keys_driver write ADDR PORT N [KEY VAL]   SET KEY<i> VAL<i> for i = 1..N
 *       (KEY "key:", VAL "value:" by default); exits 1 naming how many were
 *       not acknowledged
 *   keys_driver read ADDR PORT N [KEY VAL]    prints how many of KEY<i>,
 *       i = 1..N, read back VAL<i>
 *   keys_driver lost ADDR PORT KEY VAL        reads the numbers i on stdin,
 *       one a line, prints how many KEY<i> do not read back VAL<i> and lists
 *       each of those on stderr with its slot and what was found
 *
 * ADDR PORT is any node of the cluster (the seed); the password comes from
 * REDISCLI_AUTH, as for redis-cli.  Every key has its own answer (hiredis
 * pairs each reply with its command), so no answer is taken for another
 * key's.  Exits 0 on success, 1 with the reason on stderr, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_cluster.h"
#include "util.h"

#define BATCH 2000

static int usage(void)
{
	fprintf(stderr, "usage: keys_driver write|read ADDR PORT N [KEY VAL] | "
			"lost ADDR PORT KEY VAL < numbers\n");
	return 2;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;

	*out = strtol(s, &end, 10);
	return *s && !*end && *out >= min && *out <= max;
}

/* The numbers to use: 1..n, or read from stdin (lost). */
static long *numbers_stdin(size_t *n)
{
	size_t cap = 1024;
	long *v = xcalloc(cap, sizeof *v), x;
	char line[64];

	*n = 0;
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!*line)
			continue;
		if (!parse_long(line, 0, 1000000000L, &x)) {
			fprintf(stderr, "keys_driver: not a number on stdin: '%s'\n", line);
			free(v);
			return NULL;
		}
		if (*n == cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		v[(*n)++] = x;
	}
	return v;
}

static const char *found(uint8_t code)
{
	switch (code) {
	case RC_KV_ABSENT:
		return "nothing";
	case RC_KV_OTHER:
		return "another value";
	default:
		return "an error";
	}
}

enum op { OP_WRITE, OP_READ, OP_LOST };

/* Run op over KEY<num[i]> for i < n; returns the count the caller prints
 * (read: matching, lost: not matching) or -1 on an error. */
static long run(struct rc_kv *kv, enum op op, const long *num, size_t n, const char *kp,
		const char *vp)
{
	char **keys = xcalloc(BATCH, sizeof *keys), **vals = xcalloc(BATCH, sizeof *vals);
	uint8_t *out = xcalloc(BATCH, 1);
	long count = 0, missed = 0;

	for (size_t at = 0; at < n; at += BATCH) {
		size_t m = n - at < BATCH ? n - at : BATCH;

		for (size_t i = 0; i < m; i++) {
			keys[i] = xasprintf("%s%ld", kp, num[at + i]);
			vals[i] = xasprintf("%s%ld", vp, num[at + i]);
		}
		if (op == OP_WRITE) {
			rc_kv_set(kv, (const char *const *)keys, (const char *const *)vals, m, 0, out);
			for (size_t i = 0; i < m; i++)
				missed += !out[i];
		} else {
			rc_kv_get(kv, (const char *const *)keys, (const char *const *)vals, m, out);
			for (size_t i = 0; i < m; i++) {
				bool ok = out[i] == RC_KV_PRESENT;

				count += op == OP_READ ? ok : !ok;
				if (!ok && op == OP_LOST)
					fprintf(stderr, "%s (slot %d): found %s\n", keys[i],
						rc_key_slot(keys[i], strlen(keys[i])), found(out[i]));
			}
		}
		for (size_t i = 0; i < m; i++) {
			free(keys[i]);
			free(vals[i]);
		}
	}
	free(keys);
	free(vals);
	free(out);
	if (missed) {
		fprintf(stderr, "keys_driver: %ld of %zu SETs not acknowledged\n", missed, n);
		return -1;
	}
	return count;
}

int main(int argc, char **argv)
{
	struct rc_opts o = {.password = getenv("REDISCLI_AUTH"), .timeout_ms = 10000};
	struct rc_node seed = {.id = "seed", .master_index = -1};
	const char *kp = "key:", *vp = "value:";
	struct rc_kv *kv = NULL;
	struct err e = {0};
	enum op op;
	long port, nkeys = 0, count;
	long *num;
	size_t n = 0;

	if (argc < 4)
		return usage();
	if (strcmp(argv[1], "write") == 0)
		op = OP_WRITE;
	else if (strcmp(argv[1], "read") == 0)
		op = OP_READ;
	else if (strcmp(argv[1], "lost") == 0)
		op = OP_LOST;
	else
		return usage();
	if (!parse_long(argv[3], 1, 65535, &port))
		return usage();
	if (op == OP_LOST) {
		if (argc != 6)
			return usage();
		kp = argv[4];
		vp = argv[5];
	} else {
		if ((argc != 5 && argc != 7) || !parse_long(argv[4], 0, 100000000L, &nkeys))
			return usage();
		if (argc == 7) {
			kp = argv[5];
			vp = argv[6];
		}
	}
	if (op == OP_LOST) {
		if (!(num = numbers_stdin(&n)))
			return 1;
	} else {
		n = (size_t)nkeys;
		num = xcalloc(n + 1, sizeof *num);
		for (size_t i = 0; i < n; i++)
			num[i] = (long)i + 1;
	}
	seed.address = argv[2];
	seed.port = (int)port;
	if (rc_kv_open(&seed, 1, &o, &kv, &e) < 0) {
		fprintf(stderr, "keys_driver: %s:%ld: %s\n", argv[2], port, e.msg);
		free(num);
		return 1;
	}
	count = run(kv, op, num, n, kp, vp);
	rc_kv_close(kv);
	free(num);
	if (count < 0)
		return 1;
	if (op != OP_WRITE)
		printf("%ld\n", count);
	return 0;
}
