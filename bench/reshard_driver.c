/* reshard_driver.c - a small command line around redis_migrate, for
 * bench/reshard.sh.
 *
 *   reshard_driver setup NKEYS BYTES NODE...   the first half of the nodes
 *       form a cluster of masters (rc_form), NKEYS keys "key:<i>" with
 *       BYTES-byte values are loaded into it (pipelined, 1000 a batch), then
 *       the other half join as masters without slots
 *   reshard_driver rebalance NODE...           rc_rebalance over all the
 *       nodes as masters; prints slots and keys moved and the time
 *   reshard_driver verify NKEYS NODE...        every node serves its even
 *       share (within 1), no slot is open, and the masters hold NKEYS keys
 *
 * NODE is PORT (on 127.0.0.1).  The password comes from REDISCLI_AUTH;
 * RESHARD_BATCH, RESHARD_GROUP, RESHARD_THREADS and RESHARD_PIPELINE (when
 * set) override rc_rebalance's keys per MIGRATE, slots per group, groups in
 * flight and MIGRATEs sent at once (struct rc_migrate_opts).
 * Exits 0 on success, 1 with the reason on stderr, 2 on bad usage. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_cluster.h"
#include "redis_migrate.h"
#include "util.h"

#define MAX_NODES 32
#define LOAD_BATCH 1000

static struct rc_node nodes[MAX_NODES];
static char names[MAX_NODES][16];
static size_t nn;

static int usage(void)
{
	fprintf(stderr, "usage: reshard_driver setup NKEYS BYTES NODE... | rebalance NODE... | "
			"verify NKEYS NODE...\n");
	return 2;
}

static int parse_nodes(int argc, char **argv)
{
	if (argc < 2 || argc > MAX_NODES)
		return -1;
	nn = (size_t)argc;
	for (size_t i = 0; i < nn; i++) {
		char *end;
		long port = strtol(argv[i], &end, 10);

		if (*end || port < 1 || port > 65535)
			return -1;
		snprintf(names[i], sizeof names[i], "node-%u", (unsigned)i);
		nodes[i] = (struct rc_node){.id = names[i], .address = "127.0.0.1", .port = (int)port,
					    .master = true, .master_index = -1};
	}
	return 0;
}

/* A connection to port, authenticated with o->password. */
static redisContext *connect_to(const char *name, int port, const struct rc_opts *o,
				struct err *e)
{
	struct timeval tv = {.tv_sec = o->timeout_ms / 1000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = NULL;

	if (c && !c->err)
		redisSetTimeout(c, tv);
	if (c && !c->err && o->password)
		r = redisCommand(c, "AUTH %s", o->password);
	if (!c || c->err || (o->password && (!r || r->type == REDIS_REPLY_ERROR))) {
		err_set(e, 0, "%s: cannot connect or authenticate", name);
		if (r)
			freeReplyObject(r);
		if (c)
			redisFree(c);
		return NULL;
	}
	if (r)
		freeReplyObject(r);
	return c;
}

/* NKEYS keys into the first nm masters, each key sent to the master of
 * its slot (the even split rc_form gave them). */
static int load(int nkeys, int bytes, size_t nm, const struct rc_opts *o, struct err *e)
{
	redisContext *c[MAX_NODES] = {0};
	int pending[MAX_NODES] = {0}, rc = 0;
	char *value = xcalloc((size_t)bytes + 1, 1);

	memset(value, 'v', (size_t)bytes);
	for (size_t i = 0; i < nm; i++)
		if (!(c[i] = connect_to(names[i], nodes[i].port, o, e)))
			rc = -1;
	for (int k = 0; rc == 0 && k <= nkeys; k++) {
		bool flush = k == nkeys;
		char key[32];

		if (!flush) {
			int len = snprintf(key, sizeof key, "key:%d", k), slot = rc_key_slot(key, (size_t)len);
			size_t m = 0;

			for (size_t i = 0; i < nm; i++) {
				int first, last;

				rc_slot_share((int)i, (int)nm, &first, &last);
				if (slot >= first && slot <= last)
					m = i;
			}
			redisAppendCommand(c[m], "SET %s %b", key, value, (size_t)bytes);
			flush = ++pending[m] >= LOAD_BATCH;
		}
		for (size_t i = 0; flush && i < nm; i++)
			for (; pending[i] > 0; pending[i]--) {
				void *r = NULL;

				if (redisGetReply(c[i], &r) != REDIS_OK ||
				    ((redisReply *)r)->type == REDIS_REPLY_ERROR) {
					rc = err_set(e, 0, "%s: SET: %s", names[i],
						     r ? ((redisReply *)r)->str : c[i]->errstr);
					if (r)
						freeReplyObject(r);
					break;
				}
				freeReplyObject(r);
			}
	}
	for (size_t i = 0; i < nm; i++)
		if (c[i])
			redisFree(c[i]);
	free(value);
	return rc;
}

static int setup(int nkeys, int bytes, const struct rc_opts *o, struct err *e)
{
	char ids[MAX_NODES][RC_ID_LEN + 1];
	size_t half = nn / 2;

	if (rc_form(nodes, half, o, ids, e) < 0 || load(nkeys, bytes, half, o, e) < 0 ||
	    rc_form(nodes, nn, o, ids, e) < 0)
		return -1;
	printf("loaded %d keys of %d bytes into %zu masters; %zu empty masters joined\n", nkeys,
	       bytes, half, nn - half);
	return 0;
}

static int rebalance(const struct rc_opts *o, struct err *e)
{
	struct rc_rebalance_result res;
	struct rc_migrate_opts mo = {0};
	const char *v;

	if ((v = getenv("RESHARD_BATCH")))
		mo.batch = atoi(v);
	if ((v = getenv("RESHARD_GROUP")))
		mo.group = atoi(v);
	if ((v = getenv("RESHARD_THREADS")))
		mo.threads = atoi(v);
	if ((v = getenv("RESHARD_PIPELINE")))
		mo.pipeline = atoi(v);
	if (rc_rebalance(nodes, nn, o, &mo, &res, e) < 0)
		return -1;
	printf("moved %d slots, %lld keys in %lld ms\n", res.slots_moved, res.keys_moved,
	       (long long)res.ms);
	return 0;
}

static int verify(int nkeys, const struct rc_opts *o, struct err *e)
{
	struct rc_view *v;
	long long total = 0;
	int lo = RC_SLOTS, hi = 0, rc = 0;

	if (rc_inspect(nodes, nn, o, &v, e) < 0)
		return -1;
	for (size_t i = 0; i < nn && rc == 0; i++) {
		const struct rc_entry *me = rc_self(&v->obs[i]);
		redisContext *c;
		redisReply *r;

		if (!me || me->migrating)
			rc = err_set(e, 0, "%s: %s", names[i], me ? "a slot is open" : "no answer");
		if (rc < 0 || !(c = connect_to(names[i], nodes[i].port, o, e))) {
			rc = -1;
			break;
		}
		if ((r = redisCommand(c, "DBSIZE")) && r->type == REDIS_REPLY_INTEGER)
			total += r->integer;
		else
			rc = err_set(e, 0, "%s: DBSIZE failed", names[i]);
		if (r)
			freeReplyObject(r);
		redisFree(c);
		lo = me->nslots < lo ? me->nslots : lo;
		hi = me->nslots > hi ? me->nslots : hi;
	}
	rc_view_free(v);
	if (rc < 0)
		return -1;
	printf("slots per master %d..%d, %lld keys\n", lo, hi, total);
	if (hi - lo > 1 || total != nkeys)
		return err_set(e, 0, "not balanced within 1 slot, or keys lost (%lld of %d)", total,
			       nkeys);
	return 0;
}

int main(int argc, char **argv)
{
	struct rc_opts o = {.password = getenv("REDISCLI_AUTH"), .timeout_ms = 10000,
			    .settle_ms = 120000};
	struct err e;
	int rc;

	if (getenv("SHOAL_DEBUG"))
		log_set_level(LOG_DEBUG);
	if (argc >= 6 && !strcmp(argv[1], "setup") && parse_nodes(argc - 4, argv + 4) == 0)
		rc = setup(atoi(argv[2]), atoi(argv[3]), &o, &e);
	else if (argc >= 4 && !strcmp(argv[1], "rebalance") && parse_nodes(argc - 2, argv + 2) == 0)
		rc = rebalance(&o, &e);
	else if (argc >= 5 && !strcmp(argv[1], "verify") && parse_nodes(argc - 3, argv + 3) == 0)
		rc = verify(atoi(argv[2]), &o, &e);
	else
		return usage();
	if (rc < 0) {
		fprintf(stderr, "reshard_driver: %s\n", e.msg);
		return 1;
	}
	return 0;
}
