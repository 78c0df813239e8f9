/* test_redis_migrate.c - redis_migrate: the balance targets, and slots
 * moved online between the masters of real redis-server clusters on
 * 127.0.0.1 (grow 3 -> 4 masters under a writer, shrink back, finishing a
 * move an interrupted run left open, a node leaving while a failover has
 * swapped a pair).
 *
 * Each test starts its own redis-server children (cluster-enabled,
 * requirepass + masterauth, a temp dir each) and kills them in its
 * teardown; they also die with this process (PR_SET_PDEATHSIG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_cluster.h"
#include "redis_migrate.h"
#include "redis_fixture.h"
#include "util.h"

#define PASSWORD "m1grate-Pa55"
#define NSERVERS 4

struct fleet {
	struct rf_server s[NSERVERS];
	struct rc_node nodes[NSERVERS];
	struct rc_opts opts;
};

/* Four masters, no replicas; nodes 0-2 formed into a cluster with the
 * even split, node 3 started but not in it. */
static int setup_4(void **state)
{
	struct fleet *f = xcalloc(1, sizeof *f);
	char ids[NSERVERS][RC_ID_LEN + 1];
	struct err e;

	for (size_t i = 0; i < NSERVERS; i++) {
		rf_start(&f->s[i], 22800, 23999, PASSWORD, "/tmp/shoal-mig.XXXXXX");
		snprintf(f->s[i].id, sizeof f->s[i].id, "cache-%u", (unsigned)i);
		f->nodes[i] = (struct rc_node){.id = f->s[i].id, .address = "127.0.0.1",
					       .port = f->s[i].port, .master = true,
					       .master_index = -1};
	}
	f->opts = (struct rc_opts){.password = PASSWORD, .timeout_ms = 5000, .settle_ms = 60000};
	if (rc_form(f->nodes, 3, &f->opts, ids, &e) < 0)
		fail_msg("rc_form of 3: %s", e.msg);
	*state = f;
	return 0;
}

static int teardown_4(void **state)
{
	struct fleet *f = *state;

	for (size_t i = 0; i < NSERVERS; i++)
		rf_stop(&f->s[i]);
	free(f);
	return 0;
}

static redisReply *cmd(struct fleet *f, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static redisReply *cmd(struct fleet *f, size_t i, const char *fmt, ...)
{
	redisContext *c = rf_connect(f->s[i].port, PASSWORD);
	redisReply *r;
	va_list ap;

	assert_non_null(c);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	assert_non_null(r);
	return r;
}

/* Slots server i serves, by its own CLUSTER NODES line; *open gets the
 * number of slots it has open ("[" entries). */
static int own_slots(struct fleet *f, size_t i, int *open)
{
	redisReply *r = cmd(f, i, "CLUSTER NODES");
	struct rc_entry *t = NULL;
	size_t nt = 0;
	struct err e;
	int slots = -1;

	assert_int_equal(r->type, REDIS_REPLY_STRING);
	if (rc_parse_nodes(r->str, &t, &nt, &e) < 0)
		fail_msg("%s", e.msg);
	for (size_t k = 0; k < nt; k++)
		if (t[k].flags & RC_F_MYSELF) {
			slots = t[k].nslots;
			if (open)
				*open = t[k].migrating;
		}
	rc_entries_free(t, nt);
	freeReplyObject(r);
	return slots;
}

static long long dbsize(struct fleet *f, size_t i)
{
	redisReply *r = cmd(f, i, "DBSIZE");
	long long n = r->integer;

	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	freeReplyObject(r);
	return n;
}

/* A writer running beside the moves: the set check through the cluster. */
struct writer {
	struct fleet *f;
	int nkeys;
	struct rc_check_result res;
	struct err e;
	int rc;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;

	w->rc = rc_write_read_check(&w->f->nodes[0], &w->f->opts, w->nkeys, &w->res, &w->e);
	return NULL;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_balance_targets(void **state)
{
	int cur[5], tgt[5], sum = 0;

	(void)state;
	/* 3 masters as formed: the one with 5462 keeps the extra slot */
	cur[0] = 5461, cur[1] = 5462, cur[2] = 5461, cur[3] = 0;
	rc_balance_targets(cur, 3, tgt);
	assert_int_equal(tgt[0], 5461);
	assert_int_equal(tgt[1], 5462);
	assert_int_equal(tgt[2], 5461);
	rc_balance_targets(cur, 4, tgt);
	for (int k = 0; k < 4; k++)
		assert_int_equal(tgt[k], 4096);
	/* 5 masters: 16384 = 5 * 3276 + 4, the four fullest get one more */
	cur[0] = 100, cur[1] = 9000, cur[2] = 0, cur[3] = 7284, cur[4] = 0;
	rc_balance_targets(cur, 5, tgt);
	for (int k = 0; k < 5; k++) {
		sum += tgt[k];
		assert_true(tgt[k] == 3276 || tgt[k] == 3277);
	}
	assert_int_equal(sum, RC_SLOTS);
	assert_int_equal(tgt[0], 3277);
	assert_int_equal(tgt[1], 3277);
	assert_int_equal(tgt[3], 3277);
}

static void test_grow_and_shrink_under_writes(void **state)
{
	struct fleet *f = *state;
	char ids[NSERVERS][RC_ID_LEN + 1];
	struct rc_check_result pre;
	struct rc_rebalance_result res;
	struct writer w = {.f = f, .nkeys = 60000};
	pthread_t th;
	long long total = 0;
	struct err e;
	int open;

	if (rc_write_read_check(&f->nodes[0], &f->opts, 20000, &pre, &e) < 0)
		fail_msg("load: %s", e.msg);
	assert_int_equal(pre.verified, 20000);

	/* balanced already: nothing moves */
	if (rc_rebalance(f->nodes, 3, &f->opts, NULL, &res, &e) < 0)
		fail_msg("rc_rebalance of the formed 3: %s", e.msg);
	assert_int_equal(res.slots_moved, 0);

	/* grow: node 3 joins without slots, then gets its share while a
	 * writer runs */
	if (rc_form(f->nodes, 4, &f->opts, ids, &e) < 0)
		fail_msg("rc_form of 4: %s", e.msg);
	assert_int_equal(own_slots(f, 3, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, writer_thread, &w), 0);
	usleep(100000);
	if (rc_rebalance(f->nodes, 4, &f->opts,
			 &(struct rc_migrate_opts){.batch = 50, .group = 8, .threads = 4}, &res,
			 &e) < 0)
		fail_msg("rc_rebalance to 4: %s", e.msg);
	pthread_join(th, NULL);
	if (w.rc < 0)
		fail_msg("writer: %s", w.e.msg);
	assert_int_equal(res.slots_moved, 4096);
	assert_true(res.keys_moved > 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(own_slots(f, i, &open), 4096);
		assert_int_equal(open, 0);
	}
	/* every acknowledged write read back, none lost */
	assert_int_equal(w.res.lost, 0);
	assert_int_equal(w.res.verified, w.res.acknowledged);
	assert_true(w.res.acknowledged > 0);
	for (size_t i = 0; i < 4; i++)
		total += dbsize(f, i);
	assert_true(total >= 20000 + (long long)w.res.acknowledged);
	assert_true(dbsize(f, 3) > 0);

	/* shrink: node 3 leaves the plan; its slots go to the other three */
	w = (struct writer){.f = f, .nkeys = 40000};
	assert_int_equal(pthread_create(&th, NULL, writer_thread, &w), 0);
	if (rc_rebalance(f->nodes, 3, &f->opts, NULL, &res, &e) < 0)
		fail_msg("rc_rebalance back to 3: %s", e.msg);
	pthread_join(th, NULL);
	if (w.rc < 0)
		fail_msg("writer: %s", w.e.msg);
	assert_int_equal(res.slots_moved, 4096);
	assert_int_equal(own_slots(f, 3, NULL), 0);
	assert_int_equal(dbsize(f, 3), 0);
	for (size_t i = 0; i < 3; i++) {
		int s = own_slots(f, i, &open);

		assert_true(s == 5461 || s == 5462);
		assert_int_equal(open, 0);
	}
	assert_int_equal(w.res.lost, 0);
	assert_int_equal(w.res.verified, w.res.acknowledged);
	/* the first load is all there */
	if (rc_write_read_check(&f->nodes[1], &f->opts, 10, &pre, &e) < 0)
		fail_msg("check: %s", e.msg);
	assert_int_equal(pre.lost, 0);
}

/* A move an earlier run left open (IMPORTING on the destination, MIGRATING
 * on the source, some keys already moved) survives forming and is finished
 * first. */
static void test_open_slot_finished(void **state)
{
	struct fleet *f = *state;
	char ids[NSERVERS][RC_ID_LEN + 1], src[RC_ID_LEN + 1], dst[RC_ID_LEN + 1];
	struct rc_rebalance_result res;
	redisReply *r;
	struct err e;
	int slot = -1, open;
	char tag[16] = "";

	if (rc_form(f->nodes, 4, &f->opts, ids, &e) < 0)
		fail_msg("rc_form of 4: %s", e.msg);
	snprintf(src, sizeof src, "%s", ids[0]);
	snprintf(dst, sizeof dst, "%s", ids[3]);
	/* two keys in one slot of node 0 (a hash tag puts them in one slot) */
	for (int t = 0; slot < 0 || slot > 4000; t++) {
		snprintf(tag, sizeof tag, "{t%d}", t);
		slot = rc_key_slot(tag, strlen(tag));
	}
	freeReplyObject(cmd(f, 0, "SET %sa 1", tag));
	freeReplyObject(cmd(f, 0, "SET %sb 2", tag));
	freeReplyObject(cmd(f, 3, "CLUSTER SETSLOT %d IMPORTING %s", slot, src));
	freeReplyObject(cmd(f, 0, "CLUSTER SETSLOT %d MIGRATING %s", slot, dst));
	{
		char port[12], key[24];
		redisContext *c = rf_connect(f->s[0].port, PASSWORD);

		snprintf(port, sizeof port, "%d", f->s[3].port);
		snprintf(key, sizeof key, "%sa", tag);
		assert_non_null(c);
		r = redisCommandArgv(c, 10,
				     (const char *[]){"MIGRATE", "127.0.0.1", port, "", "0", "5000",
						      "AUTH", PASSWORD, "KEYS", key},
				     NULL);
		redisFree(c);
		assert_non_null(r);
	}
	assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
	freeReplyObject(r);
	own_slots(f, 0, &open);
	assert_int_equal(open, 1);
	/* `up` forms before it rebalances: forming leaves the open slot to
	 * the rebalance (it refused before, and the move stayed stuck) */
	if (rc_form(f->nodes, 4, &f->opts, ids, &e) < 0)
		fail_msg("rc_form with a slot open: %s", e.msg);
	own_slots(f, 0, &open);
	assert_int_equal(open, 1);

	if (rc_rebalance(f->nodes, 4, &f->opts, NULL, &res, &e) < 0)
		fail_msg("rc_rebalance: %s", e.msg);
	assert_int_equal(res.resumed, 1);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(own_slots(f, i, &open), 4096);
		assert_int_equal(open, 0);
	}
	/* both keys on node 3, which serves the slot now */
	r = cmd(f, 3, "MGET %sa %sb", tag, tag);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 2);
	assert_int_equal(r->element[0]->type, REDIS_REPLY_STRING);
	assert_string_equal(r->element[0]->str, "1");
	assert_int_equal(r->element[1]->type, REDIS_REPLY_STRING);
	assert_string_equal(r->element[1]->str, "2");
	freeReplyObject(r);
}

/* Has the failover made server 3 the master of its shard (it serves slots)
 * and server 0 its replica (by its own ROLE)? */
static bool took_over(void *arg)
{
	struct fleet *f = arg;
	redisReply *r = cmd(f, 3, "CLUSTER FAILOVER");
	bool replica;

	freeReplyObject(r);
	if (own_slots(f, 3, NULL) == 0)
		return false;
	r = cmd(f, 0, "ROLE");
	replica = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		  r->element[0]->type == REDIS_REPLY_STRING && !strcmp(r->element[0]->str, "slave");
	freeReplyObject(r);
	return replica;
}

/* A failover swapped a planned pair (node 3, node 0's planned replica, is
 * the master now) and node 2 leaves: its slots go to the shard node 3
 * serves and to node 1, and nothing is refused (the monitor reschedules
 * this way after a failover left a pair swapped). */
static void test_swapped_pair_takes_share(void **state)
{
	struct fleet *f = *state;
	char ids[NSERVERS][RC_ID_LEN + 1], why[160];
	struct rc_node plan[3];
	struct rc_rebalance_result res;
	struct err e;

	f->nodes[3].master = false;
	f->nodes[3].master_index = 0;
	if (rc_form(f->nodes, 4, &f->opts, ids, &e) < 0)
		fail_msg("rc_form with a replica of node 0: %s", e.msg);
	/* CLUSTER FAILOVER is asked again until the replica has synced */
	if (test_wait_started(f->s[3].pid, "the failover to node 3", took_over, f, why,
			      sizeof why) < 0)
		fail_msg("%s", why);
	plan[0] = f->nodes[0];
	plan[1] = f->nodes[1];
	plan[2] = f->nodes[3];
	plan[2].master_index = 0;
	if (rc_rebalance(plan, 3, &f->opts, NULL, &res, &e) < 0)
		fail_msg("rc_rebalance without node 2: %s", e.msg);
	assert_int_equal(own_slots(f, 2, NULL), 0);
	assert_int_equal(own_slots(f, 0, NULL), 0);
	assert_int_equal(own_slots(f, 1, NULL) + own_slots(f, 3, NULL), 16384);
	assert_in_range(own_slots(f, 3, NULL), 8191, 8193);
	/* a planned master following some other node is still refused */
	plan[2] = f->nodes[2];
	plan[2].master = false;
	plan[2].master_index = 0;
	assert_int_equal(rc_rebalance(plan, 3, &f->opts, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "is a replica now"));
}

/* Refusals: a master outside the plan that does not answer, bad input. */
static void test_refusals(void **state)
{
	struct fleet *f = *state;
	char ids[NSERVERS][RC_ID_LEN + 1];
	struct rc_node bad[2];
	struct err e;

	if (rc_form(f->nodes, 4, &f->opts, ids, &e) < 0)
		fail_msg("rc_form of 4: %s", e.msg);
	/* node 3 serves slots after a rebalance, then dies: 0-2 cannot take its
	 * slots from it */
	if (rc_rebalance(f->nodes, 4, &f->opts, NULL, NULL, &e) < 0)
		fail_msg("rc_rebalance: %s", e.msg);
	kill(f->s[3].pid, SIGKILL);
	waitpid(f->s[3].pid, NULL, 0);
	f->s[3].pid = 0;
	assert_int_equal(rc_rebalance(f->nodes, 3, &f->opts, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "serves 4096 slots but does not answer"));
	/* bad input: a replica of a non-master */
	bad[0] = f->nodes[0];
	bad[1] = f->nodes[1];
	bad[1].master = false;
	bad[1].master_index = 1;
	assert_int_equal(rc_rebalance(bad, 2, &f->opts, NULL, NULL, &e), -1);
	assert_int_equal(e.exit, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balance_targets),
		cmocka_unit_test_setup_teardown(test_grow_and_shrink_under_writes, setup_4,
						teardown_4),
		cmocka_unit_test_setup_teardown(test_open_slot_finished, setup_4, teardown_4),
		cmocka_unit_test_setup_teardown(test_refusals, setup_4, teardown_4),
		cmocka_unit_test_setup_teardown(test_swapped_pair_takes_share, setup_4,
						teardown_4),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
