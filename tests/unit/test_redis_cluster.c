/* test_redis_cluster.c - redis_cluster: parsing, checks, and forming real
 * clusters of redis-server processes on 127.0.0.1.
 *
 * Each cluster test starts its own redis-server children (cluster-enabled,
 * cluster-node-timeout 2000, requirepass + masterauth, a temp dir each) in its
 * setup and kills them and removes the dirs in its teardown, which cmocka runs
 * even when the test fails; the children also die with this process
 * (PR_SET_PDEATHSIG) if it crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "redis_cluster.h"
#include "redis_fixture.h"
#include "util.h"

#define PASSWORD "t3st-Pa55word"
#define MAX_NODES 12

/* ---- redis-server children ------------------------------------------------- */

struct fleet {
	struct rf_server s[MAX_NODES];
	size_t n;
	struct rc_node nodes[MAX_NODES];
	struct rc_opts opts;
};

static void stop_fleet(struct fleet *f)
{
	for (size_t i = 0; i < f->n; i++)
		rf_stop(&f->s[i]);
	free(f);
}

/* n servers; the plan is filled by the test. */
static struct fleet *start_fleet(size_t n)
{
	struct fleet *f = xcalloc(1, sizeof *f);

	f->n = n;
	for (size_t i = 0; i < n; i++) {
		rf_start(&f->s[i], 20000, 22767, PASSWORD, "/tmp/shoal-rc.XXXXXX");
		snprintf(f->s[i].id, sizeof f->s[i].id, "cache-%u", (unsigned)i);
		f->nodes[i] = (struct rc_node){.id = f->s[i].id, .address = "127.0.0.1",
					       .port = f->s[i].port, .master = true,
					       .master_index = -1};
	}
	f->opts = (struct rc_opts){.password = PASSWORD, .timeout_ms = 2000, .settle_ms = 30000};
	return f;
}

static void plan_replica(struct fleet *f, size_t i, int master)
{
	f->nodes[i].master = false;
	f->nodes[i].master_index = master;
}

static int setup_6(void **state)
{
	struct fleet *f = start_fleet(6);

	/* 3 masters, then replica i follows master i. */
	for (size_t i = 3; i < 6; i++)
		plan_replica(f, i, (int)i - 3);
	*state = f;
	return 0;
}

static int setup_8(void **state)
{
	struct fleet *f = start_fleet(8);

	/* 3 masters and their replicas 3-5; then master 6 and its replica 7,
	 * which join a formed cluster (and get no slots). */
	for (size_t i = 3; i < 6; i++)
		plan_replica(f, i, (int)i - 3);
	plan_replica(f, 7, 6);
	*state = f;
	return 0;
}

static int setup_12(void **state)
{
	struct fleet *f = start_fleet(12);

	/* 4 masters, 2 replicas each, interleaved so that no simple rule (the
	 * next node, redis-cli's pairing) would give the same result. */
	static const int master_of[8] = {2, 0, 3, 1, 1, 3, 0, 2};
	for (size_t i = 4; i < 12; i++)
		plan_replica(f, i, master_of[i - 4]);
	*state = f;
	return 0;
}

static int setup_3(void **state)
{
	*state = start_fleet(3);
	return 0;
}

static int teardown_fleet(void **state)
{
	stop_fleet(*state);
	return 0;
}

/* Run a command on server i (test side, plain hiredis). */
static redisReply *vcmd(struct fleet *f, size_t i, const char *fmt, va_list ap)
{
	redisContext *c = rf_connect(f->s[i].port, PASSWORD);
	redisReply *r;

	assert_non_null(c);
	r = redisvCommand(c, fmt, ap);
	redisFree(c);
	assert_non_null(r);
	return r;
}

static redisReply *cmd(struct fleet *f, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static redisReply *cmd(struct fleet *f, size_t i, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = vcmd(f, i, fmt, ap);
	va_end(ap);
	return r;
}

/* Run a command on server i that must succeed. */
static void cmd_ok(struct fleet *f, size_t i, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cmd_ok(struct fleet *f, size_t i, const char *fmt, ...)
{
	redisReply *r;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	r = vcmd(f, i, fmt, ap);
	va_end(ap);
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(msg, sizeof msg, "%s", r->str);
		freeReplyObject(r);
		fail_msg("%s on node %zu: %s", fmt, i, msg);
	}
	freeReplyObject(r);
}

/* Wait until server i reports cluster_state:ok. */
static void wait_state_ok(struct fleet *f, size_t i)
{
	for (int64_t until = now_ms() + TEST_START_MS;; usleep(50000)) {
		redisReply *r = cmd(f, i, "CLUSTER INFO");
		bool ok = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");

		freeReplyObject(r);
		if (ok)
			return;
		assert_true(now_ms() < until);
	}
}

/* Keys held by the planned masters, in total and (*fewest) on the emptiest. */
static long long master_keys(struct fleet *f, long long *fewest)
{
	long long total = 0;

	if (fewest)
		*fewest = LLONG_MAX;
	for (size_t i = 0; i < f->n; i++) {
		redisReply *r;

		if (!f->nodes[i].master)
			continue;
		r = cmd(f, i, "DBSIZE");
		assert_int_equal(r->type, REDIS_REPLY_INTEGER);
		total += r->integer;
		if (fewest && r->integer < *fewest)
			*fewest = r->integer;
		freeReplyObject(r);
	}
	return total;
}

/* Wait until INFO replication of server i contains `role` ("role:slave"). */
static void wait_role(struct fleet *f, size_t i, const char *role)
{
	for (int64_t until = now_ms() + TEST_START_MS;; usleep(50000)) {
		redisReply *r = cmd(f, i, "INFO replication");
		bool ok = r->type == REDIS_REPLY_STRING && strstr(r->str, role);

		freeReplyObject(r);
		if (ok)
			return;
		assert_true(now_ms() < until);
	}
}

/* Calls of the commands that change cluster membership, over all nodes. */
static long long write_calls(struct fleet *f)
{
	static const char *cmds[] = {"cluster|meet", "cluster|addslotsrange", "cluster|addslots",
				     "cluster|replicate", "cluster|set-config-epoch"};
	long long total = 0;

	for (size_t i = 0; i < f->n; i++) {
		redisReply *r = cmd(f, i, "INFO commandstats");

		assert_int_equal(r->type, REDIS_REPLY_STRING);
		for (size_t k = 0; k < ARRAY_SIZE(cmds); k++) {
			char pat[64];
			const char *p;

			snprintf(pat, sizeof pat, "cmdstat_%s:calls=", cmds[k]);
			if ((p = strstr(r->str, pat)))
				total += atoll(p + strlen(pat));
		}
		freeReplyObject(r);
	}
	return total;
}

/* ---- asserting a formed cluster --------------------------------------------- */

/* From the view (CLUSTER NODES and CLUSTER INFO of every node) check that the
 * cluster is exactly the plan: roles, masters, the even slot split. */
static void assert_formed_as_planned(struct fleet *f, char (*ids)[RC_ID_LEN + 1])
{
	struct rc_view *v = NULL;
	struct err e;
	int nmasters = 0, k = 0;

	assert_int_equal(rc_inspect(f->nodes, f->n, &f->opts, &v, &e), 0);
	if (rc_check_slots(v, &e) < 0 || rc_check_state(v, &e) < 0 || rc_check_roles(v, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(v->slots_covered, RC_SLOTS);
	assert_int_equal(v->reachable, (int)f->n);
	assert_int_equal(v->state_ok, (int)f->n);
	assert_int_equal(v->nnodes, f->n);
	for (size_t i = 0; i < f->n; i++)
		nmasters += f->nodes[i].master;
	for (size_t i = 0; i < f->n; i++) {
		const struct rc_observer *ob = &v->obs[i];

		assert_string_equal(ob->id, ids[i]);
		assert_int_equal(ob->known_nodes, (int)f->n);
		/* Every node's own CLUSTER NODES shows every node in its planned role. */
		for (size_t j = 0; j < ob->ntable; j++) {
			const struct rc_entry *en = &ob->table[j];
			int p = en->plan_index;

			assert_true(p >= 0);
			assert_string_equal(en->id, ids[p]);
			assert_true(en->connected);
			if (f->nodes[p].master) {
				assert_true(en->flags & RC_F_MASTER);
			} else {
				assert_true(en->flags & RC_F_REPLICA);
				assert_string_equal(en->master_id, ids[f->nodes[p].master_index]);
				assert_int_equal(en->nslots, 0);
			}
		}
		if (f->nodes[i].master) {
			int first, last;
			const struct rc_entry *me = rc_self(ob);

			assert_non_null(me);
			assert_true(me->flags & RC_F_MYSELF);
			rc_slot_share(k++, nmasters, &first, &last);
			assert_int_equal(me->nranges, 1);
			assert_int_equal(me->ranges[0].first, first);
			assert_int_equal(me->ranges[0].last, last);
		}
	}
	/* All nodes share 127.0.0.1, so the anti-affinity check must object. */
	assert_int_equal(rc_check_anti_affinity(v, &e), -1);
	assert_non_null(strstr(e.msg, "share the address 127.0.0.1"));
	rc_view_free(v);
}

/* ---- pure functions ------------------------------------------------------------ */

static void test_slot_share(void **state)
{
	int first, last;

	(void)state;
	rc_slot_share(0, 3, &first, &last);
	assert_int_equal(first, 0);
	assert_int_equal(last, 5460);
	rc_slot_share(1, 3, &first, &last);
	assert_int_equal(first, 5461);
	assert_int_equal(last, 10922);
	rc_slot_share(2, 3, &first, &last);
	assert_int_equal(first, 10923);
	assert_int_equal(last, 16383);
	for (int n = 1; n <= 200; n++) {
		int next = 0;

		for (int k = 0; k < n; k++) {
			rc_slot_share(k, n, &first, &last);
			assert_int_equal(first, next);
			assert_true(last >= first);
			assert_true(last - first + 1 >= RC_SLOTS / n);
			assert_true(last - first + 1 <= RC_SLOTS / n + 1);
			next = last + 1;
		}
		assert_int_equal(next, RC_SLOTS);
	}
	rc_slot_share(RC_SLOTS - 1, RC_SLOTS, &first, &last);
	assert_int_equal(first, RC_SLOTS - 1);
	assert_int_equal(last, RC_SLOTS - 1);
}

static void test_key_slot(void **state)
{
	(void)state;
	/* The cluster spec's CRC16 check value, and its hash tag examples. */
	assert_int_equal(rc_key_slot("123456789", 9), 0x31C3 & (RC_SLOTS - 1));
	assert_int_equal(rc_key_slot("{user1000}.following", 20), rc_key_slot("user1000", 8));
	assert_int_equal(rc_key_slot("foo{}{bar}", 10), rc_key_slot("foo{}{bar}", 10));
	assert_int_not_equal(rc_key_slot("foo{}{bar}", 10), rc_key_slot("bar", 3));
	assert_int_equal(rc_key_slot("foo{{bar}}zap", 13), rc_key_slot("{bar", 4));
	assert_int_equal(rc_key_slot("foo", 3), 12182);
	assert_int_equal(rc_key_slot("", 0), 0);
}

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccc"
#define ID_D "dddddddddddddddddddddddddddddddddddddddd"

static void test_parse_nodes(void **state)
{
	const char *text =
		ID_A " 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-" ID_B "]\n"
		ID_B " 10.0.0.2:7001@17001,cache-1 master - 0 1700000000000 2 connected 5461-16382 16383\r\n"
		ID_C " :7002@0 slave,fail?,noaddr " ID_A " 0 0 1 disconnected\n"
		ID_D " [::1]:7003@17003 handshake,nofailover - 0 0 0 connected\n";
	const char *bad[] = {
		"xyz 10.0.0.1:7000@17000 master - 0 0 1 connected\n",
		ID_A " 10.0.0.1:7000 master - 0 0 1 connected\n",
		ID_A " 10.0.0.1:7000@17000 master - 0 0 1 connected 5-2\n",
		ID_A " 10.0.0.1:7000@17000 master - 0 0 1 connected 16384\n",
		ID_A " 10.0.0.1:7000@17000 master - 0 0 1 weird\n",
		ID_A " 10.0.0.1:7000@17000 master nope 0 0 1 connected\n",
		ID_A " 10.0.0.1:7000@17000 master -\n",
		ID_A " 10.0.0.1:99999@17000 master - 0 0 1 connected\n",
	};
	struct rc_entry *v;
	size_t n;
	struct err e;

	(void)state;
	assert_int_equal(rc_parse_nodes(text, &v, &n, &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].address, "10.0.0.1");
	assert_int_equal(v[0].port, 7000);
	assert_int_equal(v[0].bus_port, 17000);
	assert_int_equal(v[0].flags, RC_F_MYSELF | RC_F_MASTER);
	assert_int_equal(v[0].nslots, 5461);
	assert_int_equal(v[0].migrating, 1);
	assert_int_equal(v[0].config_epoch, 1);
	assert_string_equal(v[0].master_id, "");
	assert_int_equal(v[1].nranges, 2);
	assert_int_equal(v[1].nslots, 16384 - 5461);
	assert_int_equal(v[1].ranges[1].first, 16383);
	assert_string_equal(v[1].address, "10.0.0.2");
	assert_string_equal(v[2].address, "");
	assert_int_equal(v[2].flags, RC_F_REPLICA | RC_F_PFAIL | RC_F_NOADDR);
	assert_string_equal(v[2].master_id, ID_A);
	assert_false(v[2].connected);
	assert_string_equal(v[3].address, "[::1]");
	assert_int_equal(v[3].flags, RC_F_HANDSHAKE | RC_F_NOFAILOVER);
	assert_int_equal(v[3].plan_index, -1);
	rc_entries_free(v, n);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char two[512];

		/* The bad line second, so the message must name line 2. */
		snprintf(two, sizeof two, ID_B " 10.0.0.2:7001@17001 master - 0 0 2 connected\n%s", bad[i]);
		if (rc_parse_nodes(two, &v, &n, &e) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(e.msg, "line 2"));
	}
	assert_int_equal(rc_parse_nodes("", &v, &n, &e), 0);
	assert_int_equal(n, 0);
	rc_entries_free(v, n);
}

/* A synthetic 2 masters + 2 replicas on three hosts, as each node would
 * answer: cache-0 (a) and cache-1 (b) masters, cache-2 (c) follows a, and
 * cache-3 (d), on host `d_host`, follows `d_master`; b serves 8192-b_last. */
static struct rc_view *synthetic_view(const char *d_host, const char *d_master, int b_last)
{
	static const struct rc_node plan[] = {
		{.id = "cache-0", .address = "10.0.0.1", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-1", .address = "10.0.0.2", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-2", .address = "10.0.0.3", .port = 7000, .master_index = 0},
		{.id = "cache-3", .address = "10.0.0.1", .port = 7001, .master_index = 1},
	};
	static const char info[] =
		"cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:4\r\n";
	char texts[4][1024];
	struct rc_observation obs[4];
	struct rc_view *v = NULL;
	struct err e;

	for (int i = 0; i < 4; i++) {
		const char *me[4];

		for (int j = 0; j < 4; j++)
			me[j] = i == j ? "myself," : "";
		snprintf(texts[i], sizeof texts[i],
			 ID_A " 10.0.0.1:7000@17000 %smaster - 0 0 1 connected 0-8191\n"
			 ID_B " 10.0.0.2:7000@17000 %smaster - 0 0 2 connected 8192-%d\n"
			 ID_C " 10.0.0.3:7000@17000 %sslave " ID_A " 0 0 1 connected\n"
			 ID_D " %s:7001@17001 %sslave %s 0 0 2 connected\n",
			 me[0], me[1], b_last, me[2], d_host, me[3], d_master);
		obs[i] = (struct rc_observation){.nodes_text = texts[i], .info_text = info};
	}
	if (rc_view_build(plan, 4, obs, &v, &e) < 0)
		fail_msg("%s", e.msg);
	return v;
}

static void test_checks_on_synthetic_views(void **state)
{
	struct rc_view *v;
	struct err e;

	(void)state;
	v = synthetic_view("10.0.0.4", ID_B, 16383);
	assert_int_equal(rc_check_slots(v, &e), 0);
	assert_int_equal(rc_check_state(v, &e), 0);
	assert_int_equal(rc_check_roles(v, &e), 0);
	assert_int_equal(rc_check_anti_affinity(v, &e), 0);
	assert_int_equal(v->nnodes, 4);
	assert_int_equal(rc_health(v), RC_OK);
	/* a replica that does not answer: still every slot served */
	v->obs[3].reachable = false;
	v->state_ok--;
	assert_int_equal(rc_health(v), RC_DEGRADED);
	assert_string_equal(rc_health_name(rc_health(v)), "degraded");
	assert_int_equal(rc_slots_served(v), RC_SLOTS);
	/* a master that does not: its slots are not */
	v->obs[1].reachable = false;
	v->state_ok--;
	assert_int_equal(rc_health(v), RC_FAIL);
	assert_int_equal(rc_slots_served(v), 8192);
	rc_view_free(v);

	/* Replica cache-3 on the host of its master cache-1 (10.0.0.2), by
	 * CLUSTER NODES; the plan's address (10.0.0.1) is not consulted. */
	v = synthetic_view("10.0.0.2", ID_B, 16383);
	assert_int_equal(rc_check_anti_affinity(v, &e), -1);
	assert_non_null(strstr(e.msg, "cache-3 (10.0.0.1:7001) and its master cache-1 (10.0.0.2:7000) "
				      "share the address 10.0.0.2"));
	rc_view_free(v);

	/* cache-3 follows cache-0 instead of cache-1. */
	v = synthetic_view("10.0.0.4", ID_A, 16383);
	assert_int_equal(rc_check_roles(v, &e), -1);
	assert_non_null(strstr(e.msg, "cache-3 (10.0.0.1:7001): follows cache-0"));
	assert_non_null(strstr(e.msg, "planned to follow cache-1"));
	assert_int_equal(rc_check_anti_affinity(v, &e), 0);
	rc_view_free(v);

	/* Slots 16000-16383 unserved. */
	v = synthetic_view("10.0.0.4", ID_B, 15999);
	assert_int_equal(v->slots_covered, 16000);
	assert_int_equal(rc_check_slots(v, &e), -1);
	assert_non_null(strstr(e.msg, "slots 16000-16383"));
	rc_view_free(v);
}

static void test_view_unreachable_and_bad_plan(void **state)
{
	const struct rc_node plan[] = {
		{.id = "cache-0", .address = "10.0.0.1", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-1", .address = "10.0.0.2", .port = 7000, .master_index = 0},
	};
	const struct rc_node bad[] = {
		{.id = "cache-0", .address = "10.0.0.1", .port = 7000, .master = true, .master_index = -1},
		{.id = "cache-1", .address = "10.0.0.2", .port = 7000, .master_index = 1},
	};
	struct rc_observation obs[2] = {
		{.nodes_text = ID_A " 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\n",
		 .info_text = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:1\r\n"},
		{.error = "cache-1 (10.0.0.2:7000): connect: Connection refused"},
	};
	struct rc_view *v;
	struct err e;

	(void)state;
	assert_int_equal(rc_view_build(plan, 2, obs, &v, &e), 0);
	assert_int_equal(v->reachable, 1);
	assert_int_equal(rc_check_slots(v, &e), 0);
	assert_int_equal(rc_check_state(v, &e), -1);
	assert_non_null(strstr(e.msg, "cache-1 (10.0.0.2:7000): not reachable: "));
	assert_int_equal(rc_check_roles(v, &e), -1);
	assert_null(rc_self(&v->obs[1]));
	assert_string_equal(rc_self(&v->obs[0])->id, ID_A);
	rc_view_free(v);

	assert_int_equal(rc_view_build(bad, 2, obs, &v, &e), -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_non_null(strstr(e.msg, "cache-1: replica's master_index 1"));

	obs[1] = (struct rc_observation){.nodes_text = "garbage\n", .info_text = ""};
	assert_int_equal(rc_view_build(plan, 2, obs, &v, &e), -1);
	assert_non_null(strstr(e.msg, "cache-1 (10.0.0.2:7000): CLUSTER NODES line 1"));
}

/* ---- real clusters --------------------------------------------------------------- */

static void test_form_3_masters_3_replicas(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1], again[MAX_NODES][RC_ID_LEN + 1];
	struct rc_check_result res;
	long long calls, fewest;
	struct err e;

	if (rc_form(f->nodes, f->n, &f->opts, ids, &e) < 0)
		fail_msg("rc_form: %s", e.msg);
	assert_formed_as_planned(f, ids);

	/* A second run finds nothing to do and sends no membership command. */
	calls = write_calls(f);
	if (rc_form(f->nodes, f->n, &f->opts, again, &e) < 0)
		fail_msg("second rc_form: %s", e.msg);
	assert_memory_equal(ids, again, f->n * sizeof ids[0]);
	assert_int_equal(write_calls(f), calls);
	assert_formed_as_planned(f, ids);

	if (rc_write_read_check(&f->nodes[4], &f->opts, 10000, &res, &e) < 0)
		fail_msg("write/read: %s", e.msg);
	assert_int_equal(res.attempted, 10000);
	assert_int_equal(res.acknowledged, 10000);
	assert_int_equal(res.verified, 10000);
	assert_int_equal(res.lost, 0);
	assert_int_equal(res.errors, 0);
	/* Seeded at a replica, every write went to the masters, each of which
	 * holds its share. */
	assert_int_equal(master_keys(f, &fewest), 10000);
	assert_true(fewest > 2000);

	/* A failover swaps cache-0 and its replica cache-3: the plan no longer
	 * holds, and rc_form refuses unless allowed to fail back. */
	cmd_ok(f, 3, "CLUSTER FAILOVER");
	wait_role(f, 0, "role:slave");
	assert_int_equal(rc_form(f->nodes, f->n, &f->opts, again, &e), -1);
	assert_non_null(strstr(e.msg, "cache-0 (127.0.0.1:"));
	assert_non_null(strstr(e.msg, "is a replica of cache-3 (127.0.0.1:"));
	assert_non_null(strstr(e.msg, "after a failover"));
	f->opts.fail_back = true;
	if (rc_form(f->nodes, f->n, &f->opts, again, &e) < 0)
		fail_msg("rc_form with fail-back: %s", e.msg);
	assert_memory_equal(ids, again, f->n * sizeof ids[0]);
	assert_formed_as_planned(f, ids);
	assert_int_equal(master_keys(f, NULL), 10000);
}

/* rc_form killed with SIGKILL at random moments (as `shoal up` may be), then
 * run to the end: it completes the cluster exactly as planned. */
static void test_form_killed_midway_then_completed(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1];
	struct err e;

	srand(7); /* the same moments every run */
	for (int round = 0; round < 6; round++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			char child_ids[MAX_NODES][RC_ID_LEN + 1];

			_exit(rc_form(f->nodes, f->n, &f->opts, child_ids, &e) < 0);
		}
		/* Within 2 ms, 4 ms, ... 64 ms: formation's commands take 10-200 ms. */
		usleep((useconds_t)(rand() % (2000 << round)));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (rc_form(f->nodes, f->n, &f->opts, ids, &e) < 0)
		fail_msg("rc_form after interruptions: %s", e.msg);
	assert_formed_as_planned(f, ids);
}

static void test_form_12_nodes_2_replicas_from_partial(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1];
	struct rc_check_result res;
	redisReply *r;
	struct err e;

	/* Left half-done by an earlier, interrupted run (or by hand): cache-0
	 * serves its share but for a gap, cache-1 two slots in the middle of its
	 * share, cache-5 and cache-6 know each other and cache-1. */
	cmd_ok(f, 0, "CLUSTER ADDSLOTSRANGE 0 100 200 4095");
	cmd_ok(f, 1, "CLUSTER ADDSLOTSRANGE 5000 5001");
	cmd_ok(f, 5, "CLUSTER MEET %s %d %d", "127.0.0.1", f->s[6].port, f->s[6].port + 10000);
	cmd_ok(f, 5, "CLUSTER MEET %s %d %d", "127.0.0.1", f->s[1].port, f->s[1].port + 10000);

	if (rc_form(f->nodes, f->n, &f->opts, ids, &e) < 0)
		fail_msg("rc_form: %s", e.msg);
	assert_formed_as_planned(f, ids);
	r = cmd(f, 0, "CLUSTER MYID");
	assert_string_equal(r->str, ids[0]);
	freeReplyObject(r);

	if (rc_write_read_check(&f->nodes[0], &f->opts, 2000, &res, &e) < 0)
		fail_msg("write/read: %s", e.msg);
	assert_int_equal(res.verified, 2000);
	assert_int_equal(res.lost, 0);

	/* Master cache-1 dies: its keys fail (or, once a replica took over, go
	 * there); the check goes on and nothing acknowledged is lost. */
	kill(f->s[1].pid, SIGKILL);
	waitpid(f->s[1].pid, NULL, 0);
	f->s[1].pid = 0;
	if (rc_write_read_check(&f->nodes[2], &f->opts, 3000, &res, &e) < 0)
		fail_msg("write/read with a dead master: %s", e.msg);
	assert_int_equal(res.attempted, 3000);
	assert_true(res.acknowledged > 0);
	assert_true(res.acknowledged + res.errors >= 3000);
	assert_int_equal(res.verified, res.acknowledged);
	assert_int_equal(res.lost, 0);

	/* A dead seed: no slot map, an error naming it. */
	assert_int_equal(rc_write_read_check(&f->nodes[1], &f->opts, 10, &res, &e), -1);
	assert_non_null(strstr(e.msg, "cache-1: reading the slot map: 127.0.0.1:"));
}

/* A TCP listener that never accepts or answers (a paused node); returns its
 * fd, its port in *port. */
static int silent_listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* rc_inspect records nodes that do not answer, each with its reason, and
 * still reads the others. */
static void test_inspect_with_silent_and_closed_nodes(void **state)
{
	struct fleet *f = *state;
	struct rc_node plan[3] = {f->nodes[0], f->nodes[1], f->nodes[2]};
	struct rc_opts o = f->opts;
	struct rc_view *v;
	char want[96];
	int fd1, fd2, port1, port2;
	struct err e;

	fd1 = silent_listener(&port1);
	fd2 = silent_listener(&port2);
	plan[1].port = port1;
	plan[2].port = port2;
	plan[2].master = false;
	plan[2].master_index = 0;
	o.timeout_ms = 500;
	assert_int_equal(rc_inspect(plan, 3, &o, &v, &e), 0);
	assert_int_equal(v->reachable, 1);
	assert_true(v->obs[0].reachable);
	for (int i = 1; i < 3; i++) {
		assert_false(v->obs[i].reachable);
		assert_string_equal(v->obs[i].error, "AUTH: timed out after 500 ms");
	}
	assert_int_equal(rc_check_roles(v, &e), -1);
	snprintf(want, sizeof want, "cache-1 (127.0.0.1:%d): not reachable: AUTH: timed out", port1);
	assert_non_null(strstr(e.msg, want));
	rc_view_free(v);

	/* Closed ports: refused at once. */
	close(fd1);
	close(fd2);
	assert_int_equal(rc_inspect(plan, 3, &o, &v, &e), 0);
	assert_int_equal(v->reachable, 1);
	assert_string_equal(v->obs[2].error, "connect: Connection refused");
	rc_view_free(v);
}

static void test_refusals(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1];
	struct rc_opts o = f->opts;
	struct rc_node plan[2];
	char label0[64], label1[64];
	struct err e;
	int silent_fd, silent_port;

	snprintf(label0, sizeof label0, "cache-0 (127.0.0.1:%d)", f->s[0].port);
	snprintf(label1, sizeof label1, "cache-1 (127.0.0.1:%d)", f->s[1].port);
	/* cache-0 master, cache-1 its replica. */
	plan[0] = f->nodes[0];
	plan[1] = f->nodes[1];
	plan[1].master = false;
	plan[1].master_index = 0;

	/* Wrong password: the first node refuses AUTH. */
	o.password = "wrong";
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	assert_non_null(strstr(e.msg, label0));
	assert_non_null(strstr(e.msg, "AUTH"));
	assert_int_equal(e.code, EACCES);

	/* No password at all: the first command is refused (NOAUTH). */
	o.password = NULL;
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	assert_non_null(strstr(e.msg, label0));
	assert_non_null(strstr(e.msg, "NOAUTH"));

	/* Nothing listens on cache-1's port. */
	o = f->opts;
	plan[1].port = rf_pick_port(20000, 22767);
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	snprintf(label1, sizeof label1, "cache-1 (127.0.0.1:%d): connect:", plan[1].port);
	assert_non_null(strstr(e.msg, label1));

	/* cache-1 accepts connections but never answers: the command timeout. */
	silent_fd = silent_listener(&silent_port);
	plan[1].port = silent_port;
	o.timeout_ms = 300;
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	snprintf(label1, sizeof label1, "cache-1 (127.0.0.1:%d): AUTH: timed out after 300 ms",
		 silent_port);
	assert_non_null(strstr(e.msg, label1));
	assert_int_equal(e.code, ETIMEDOUT);
	close(silent_fd);

	/* The same node twice in the plan. */
	o = f->opts;
	plan[1].port = f->s[0].port;
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_non_null(strstr(e.msg, "are the same Redis node"));

	/* cache-1 holds a key but no slot (it served all slots once). */
	plan[1].port = f->s[1].port;
	cmd_ok(f, 1, "CLUSTER ADDSLOTSRANGE 0 16383");
	wait_state_ok(f, 1);
	cmd_ok(f, 1, "SET k12 v");
	cmd_ok(f, 1, "CLUSTER DELSLOTSRANGE 0 16383");
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	assert_non_null(strstr(e.msg, "cache-1 ("));
	assert_non_null(strstr(e.msg, "holds 1 keys but serves no slot"));
	cmd_ok(f, 1, "FLUSHALL");

	/* cache-0 is in another cluster: it knows cache-2, which this plan
	 * leaves out. */
	cmd_ok(f, 0, "CLUSTER MEET %s %d %d", "127.0.0.1", f->s[2].port, f->s[2].port + 10000);
	for (int64_t until = now_ms() + TEST_START_MS;; usleep(50000)) {
		redisReply *r = cmd(f, 0, "CLUSTER NODES");
		char needle[32];
		bool met;

		snprintf(needle, sizeof needle, ":%d@", f->s[2].port);
		met = !strstr(r->str, "handshake") && strstr(r->str, needle);

		freeReplyObject(r);
		if (met)
			break;
		assert_true(now_ms() < until);
	}
	assert_int_equal(rc_form(plan, 2, &o, ids, &e), -1);
	assert_non_null(strstr(e.msg, label0));
	assert_non_null(strstr(e.msg, "already in another cluster"));
	assert_int_equal(e.code, EEXIST);
}

/* Lines of node i's CLUSTER NODES. */
static int known_nodes(struct fleet *f, size_t i)
{
	redisReply *r = cmd(f, i, "CLUSTER NODES");
	int n = 0;

	for (const char *p = r->str; (p = strchr(p, '\n')); p++)
		n++;
	freeReplyObject(r);
	return n;
}

/* Scaling down: nodes that leave are forgotten by those that stay, unless one
 * still serves slots or is replicated by a node that stays; a node that
 * could not be asked forgets them when the cluster is formed. */
static void test_leave(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1], six[MAX_NODES][RC_ID_LEN + 1];
	char (*left)[RC_ID_LEN + 1] = NULL;
	const char *recorded[2];
	struct rc_node stay[7];
	size_t nleft = 0;
	struct err e;

	if (rc_form(f->nodes, 6, &f->opts, six, &e) < 0 ||
	    rc_form(f->nodes, 8, &f->opts, ids, &e) < 0)
		fail_msg("rc_form: %s", e.msg);
	assert_memory_equal(six, ids, 6 * sizeof ids[0]);
	assert_int_equal(known_nodes(f, 0), 8);

	/* Every node moves (nothing stays): only the check is made. */
	assert_int_equal(rc_leave(NULL, 0, &f->nodes[2], NULL, 1, &f->opts, &left, &nleft, &e), -1);
	assert_int_equal(e.code, EBUSY);
	assert_non_null(strstr(e.msg, "serves 5461 slots (10923-16383)"));
	if (rc_leave(NULL, 0, &f->nodes[6], NULL, 1, &f->opts, &left, &nleft, &e) < 0)
		fail_msg("rc_leave of a node without slots, nothing staying: %s", e.msg);
	assert_int_equal(nleft, 1);
	free(left);
	left = NULL;
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(known_nodes(f, i), 8);

	/* cache-6 leaving while its replica cache-7 stays: refused. */
	memcpy(stay, f->nodes, 6 * sizeof *stay);
	stay[6] = f->nodes[7];
	assert_int_equal(rc_leave(stay, 7, &f->nodes[6], NULL, 1, &f->opts, &left, &nleft, &e), -1);
	assert_int_equal(e.code, EBUSY);
	assert_non_null(strstr(e.msg, "cache-7 (127.0.0.1:"));
	assert_non_null(strstr(e.msg, "replicates cache-6 (127.0.0.1:"));

	/* cache-2 serves slots: refused, and nobody forgot anything. */
	stay[2] = f->nodes[6];
	assert_int_equal(rc_leave(stay, 7, &f->nodes[2], NULL, 1, &f->opts, &left, &nleft, &e), -1);
	assert_int_equal(e.code, EBUSY);
	assert_non_null(strstr(e.msg, "cache-2 (127.0.0.1:"));
	assert_non_null(strstr(e.msg, "serves 5461 slots (10923-16383)"));
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(known_nodes(f, i), 8);

	/* cache-6 and cache-7 leave; cache-5 is not asked (as if down), so it
	 * still knows them.  cache-7 is known by its recorded id only. */
	recorded[0] = NULL;
	recorded[1] = ids[7];
	if (rc_leave(f->nodes, 5, &f->nodes[6], recorded, 2, &f->opts, &left, &nleft, &e) < 0)
		fail_msg("rc_leave: %s", e.msg);
	assert_int_equal(nleft, 2);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(known_nodes(f, i), 6);
	assert_int_equal(known_nodes(f, 5), 8);

	/* Forming the six then refuses: cache-5 knows nodes outside the plan ... */
	assert_int_equal(rc_form(f->nodes, 6, &f->opts, six, &e), -1);
	assert_non_null(strstr(e.msg, "already in another cluster"));
	/* ... unless told who left. */
	f->opts.forget = (const char(*)[RC_ID_LEN + 1])left;
	f->opts.nforget = nleft;
	if (rc_form(f->nodes, 6, &f->opts, six, &e) < 0)
		fail_msg("rc_form after leave: %s", e.msg);
	assert_memory_equal(six, ids, 6 * sizeof ids[0]);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(known_nodes(f, i), 6);
	f->opts.forget = NULL;
	f->opts.nforget = 0;
	free(left);
}

/* ---- the Redis driver (driver.h) ---------------------------------------------- */

/* Calls of one command (INFO commandstats name, "cluster|meet") summed over
 * the servers that run. */
static long long calls_of(struct fleet *f, const char *name)
{
	char pat[64];
	long long total = 0;

	snprintf(pat, sizeof pat, "cmdstat_%s:calls=", name);
	for (size_t i = 0; i < f->n; i++) {
		redisReply *r;
		const char *p;

		if (f->s[i].pid <= 0)
			continue;
		r = cmd(f, i, "INFO commandstats");
		if ((p = strstr(r->str, pat)))
			total += atoll(p + strlen(pat));
		freeReplyObject(r);
	}
	return total;
}

static struct db_node db_of(const struct rc_node *r)
{
	return (struct db_node){.id = r->id, .address = r->address, .port = r->port,
				.master = r->master, .master_index = r->master_index};
}

/* Through the driver table only: form 3 masters, join 2 replicas (a 5-node
 * layout), one leaves, a dead one is replaced; the requests each step sends
 * are counted from the servers' own command statistics. */
static void test_driver_form_join_leave_replace(void **state)
{
	struct fleet *f = *state;
	const struct db_driver *d = db_driver_find("redis");
	struct db_opts o = {.password = PASSWORD, .timeout_ms = 2000, .settle_ms = 30000};
	char ids[MAX_NODES][DB_ID_MAX + 1];
	struct db_node n[MAX_NODES];
	char **left = NULL;
	struct err e;

	assert_non_null(d);
	for (size_t i = 0; i < f->n; i++)
		n[i] = db_of(&f->nodes[i]);
	/* 3 nodes: three masters, one slot range each, no replica */
	if (db_form(d, n, 3, &o, ids, &e) < 0)
		fail_msg("db_form: %s", e.msg);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(strlen(ids[i]), RC_ID_LEN);
	assert_int_equal(calls_of(f, "cluster|addslotsrange"), 3);
	assert_int_equal(calls_of(f, "cluster|replicate"), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(known_nodes(f, i), 3);

	/* 5 nodes: cache-3 and cache-4 join as replicas of cache-0 and cache-1;
	 * no slot moves, two REPLICATE */
	n[3].master = n[4].master = false;
	n[3].master_index = 0;
	n[4].master_index = 1;
	if (db_join(d, n, 3, &n[3], 2, &o, &e) < 0)
		fail_msg("db_join: %s", e.msg);
	assert_int_equal(calls_of(f, "cluster|addslotsrange"), 3);
	assert_int_equal(calls_of(f, "cluster|replicate"), 2);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(known_nodes(f, i), 5);
	wait_role(f, 3, "role:slave");
	wait_role(f, 4, "role:slave");

	/* cache-4 leaves: every node that stays forgets it (4 FORGET) */
	if (db_leave(d, n, 4, &n[4], 1, &o, &left, &e) < 0)
		fail_msg("db_leave: %s", e.msg);
	assert_non_null(left);
	assert_non_null(left[0]);
	assert_null(left[1]);
	assert_int_equal(strlen(left[0]), RC_ID_LEN);
	assert_int_equal(calls_of(f, "cluster|forget"), 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(known_nodes(f, i), 4);
	strv_free(left);

	/* cache-3 dies and cache-5 replaces it as cache-0's replica: the three
	 * masters forget the dead one (known by its recorded id), cache-5 is
	 * introduced and follows cache-0 */
	{
		redisReply *r = cmd(f, 3, "CLUSTER MYID");

		snprintf(ids[3], sizeof ids[3], "%s", r->str);
		freeReplyObject(r);
	}
	n[3].cluster_id = ids[3];
	kill(f->s[3].pid, SIGKILL);
	waitpid(f->s[3].pid, NULL, 0);
	f->s[3].pid = 0;
	n[5].master = false;
	n[5].master_index = 0;
	{
		struct db_node dead = n[3];
		long long replicate = calls_of(f, "cluster|replicate"),
			  forget = calls_of(f, "cluster|forget");

		if (db_replace(d, n, 3, &dead, &n[5], &o, &e) < 0)
			fail_msg("db_replace: %s", e.msg);
		assert_int_equal(calls_of(f, "cluster|forget") - forget, 3);
		assert_int_equal(calls_of(f, "cluster|replicate") - replicate, 1);
	}
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(known_nodes(f, i), 4);
	assert_int_equal(known_nodes(f, 5), 4);
	wait_role(f, 5, "role:slave");

	/* rebalancing a balanced cluster moves no slot (test_redis_migrate
	 * moves them) */
	{
		long long setslot = calls_of(f, "cluster|setslot");

		assert_true(db_can(d, "rebalance"));
		if (db_rebalance(d, n, 3, &o, &e) < 0)
			fail_msg("db_rebalance: %s", e.msg);
		assert_int_equal(calls_of(f, "cluster|setslot"), setslot);
	}
}

/* ---- the drills' client (rc_kv) ---------------------------------------------------- */

/* The server (index) that serves slot, from CLUSTER SLOTS of server 0. */
static size_t slot_owner(struct fleet *f, int slot)
{
	redisReply *r = cmd(f, 0, "CLUSTER SLOTS");

	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *s = r->element[i];

		if (s->element[0]->integer <= slot && slot <= s->element[1]->integer)
			for (size_t k = 0; k < f->n; k++)
				if (f->s[k].port == s->element[2]->element[1]->integer) {
					freeReplyObject(r);
					return k;
				}
	}
	freeReplyObject(r);
	fail_msg("no server serves slot %d", slot);
	return 0;
}

static void node_id(struct fleet *f, size_t i, char *id, size_t n)
{
	redisReply *r = cmd(f, i, "CLUSTER MYID");

	assert_int_equal(r->type, REDIS_REPLY_STRING);
	snprintf(id, n, "%s", r->str);
	freeReplyObject(r);
}

static long long keys_in_slot(struct fleet *f, size_t i, int slot)
{
	redisReply *r = cmd(f, i, "CLUSTER COUNTKEYSINSLOT %d", slot);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	freeReplyObject(r);
	return v;
}

/* Wait until every master (servers 0-2) has its replica connected. */
static void wait_replicas(struct fleet *f)
{
	for (size_t i = 0; i < 3; i++)
		for (int64_t until = now_ms() + TEST_START_MS;; usleep(50000)) {
			redisReply *r = cmd(f, i, "INFO replication");
			bool ok = r->type == REDIS_REPLY_STRING &&
				  strstr(r->str, "connected_slaves:1") && strstr(r->str, "state=online");

			freeReplyObject(r);
			if (ok)
				break;
			assert_true(now_ms() < until);
		}
}

/* n keys "<prefix><i>" with values "v-<prefix><i>" (strv each). */
static void kv_keys(const char *prefix, size_t n, char ***keys, char ***vals)
{
	*keys = xcalloc(n + 1, sizeof **keys);
	*vals = xcalloc(n + 1, sizeof **vals);
	for (size_t i = 0; i < n; i++) {
		(*keys)[i] = xasprintf("%s%zu", prefix, i);
		(*vals)[i] = xasprintf("v-%s%zu", prefix, i);
	}
}

/* SET n keys "<prefix><i>" with wait; how many were acknowledged (ok[] must
 * agree with the returned failures); then each reads back as expected. */
static size_t kv_set_keys(struct rc_kv *kv, const char *prefix, size_t n, int wait, int *failed)
{
	char **keys, **vals;
	uint8_t *ok = xcalloc(n, 1), *got = xcalloc(n, 1);
	size_t acked = 0;

	kv_keys(prefix, n, &keys, &vals);
	*failed = rc_kv_set(kv, (const char *const *)keys, (const char *const *)vals, n, wait, ok);
	for (size_t i = 0; i < n; i++)
		acked += ok[i];
	assert_int_equal((size_t)*failed, n - acked);
	/* acknowledged or not, every SET here reached its master */
	assert_int_equal(rc_kv_get(kv, (const char *const *)keys, (const char *const *)vals, n, got), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], RC_KV_PRESENT);
	strv_free(keys);
	strv_free(vals);
	free(ok);
	free(got);
	return acked;
}

/* The client sends every master its batch at once: a key is acknowledged
 * once, after a MOVED (the slot moved since the client read its map) and
 * an ASK (the slot is migrating) as well, on the node that now serves it;
 * with wait=K a SET counts only when WAIT says K replicas have it. */
static void test_kv_redirects_and_wait(void **state)
{
	struct fleet *f = *state;
	char ids[MAX_NODES][RC_ID_LEN + 1], a_id[RC_ID_LEN + 1], b_id[RC_ID_LEN + 1],
		c_id[RC_ID_LEN + 1];
	int slot = rc_key_slot("kvtag", 5), failed;
	size_t a, b, c;
	struct rc_kv *kv = NULL;
	struct err e;

	if (rc_form(f->nodes, f->n, &f->opts, ids, &e) < 0)
		fail_msg("rc_form: %s", e.msg);
	wait_replicas(f);
	if (rc_kv_open(f->nodes, f->n, &f->opts, &kv, &e) < 0)
		fail_msg("rc_kv_open: %s", e.msg);

	/* 3,000 keys over the three masters, each confirmed by its replica */
	assert_int_equal(kv_set_keys(kv, "kv:", 3000, 1, &failed), 3000);
	assert_int_equal(failed, 0);
	assert_int_equal(master_keys(f, NULL), 3000);

	/* MOVED: the (empty) slot of {kvtag} goes from master a to master b
	 * behind the client's back */
	a = slot_owner(f, slot);
	b = (a + 1) % 3;
	c = (a + 2) % 3;
	assert_int_equal(keys_in_slot(f, a, slot), 0);
	node_id(f, a, a_id, sizeof a_id);
	node_id(f, b, b_id, sizeof b_id);
	node_id(f, c, c_id, sizeof c_id);
	cmd_ok(f, b, "CLUSTER SETSLOT %d NODE %s", slot, b_id);
	cmd_ok(f, a, "CLUSTER SETSLOT %d NODE %s", slot, b_id);
	cmd_ok(f, c, "CLUSTER SETSLOT %d NODE %s", slot, b_id);
	assert_int_equal(kv_set_keys(kv, "{kvtag}:m", 50, 0, &failed), 50);
	assert_int_equal(failed, 0);
	assert_int_equal(keys_in_slot(f, b, slot), 50);
	assert_int_equal(keys_in_slot(f, a, slot), 0);

	/* ASK: b migrates the slot to c; new keys of the slot go to c (ASKING
	 * first), each acknowledged once */
	cmd_ok(f, c, "CLUSTER SETSLOT %d IMPORTING %s", slot, b_id);
	cmd_ok(f, b, "CLUSTER SETSLOT %d MIGRATING %s", slot, c_id);
	assert_int_equal(kv_set_keys(kv, "{kvtag}:a", 50, 0, &failed), 50);
	assert_int_equal(failed, 0);
	assert_int_equal(keys_in_slot(f, c, slot), 50);
	assert_int_equal(keys_in_slot(f, b, slot), 50);
	cmd_ok(f, b, "CLUSTER SETSLOT %d STABLE", slot);
	cmd_ok(f, c, "CLUSTER SETSLOT %d STABLE", slot);

	/* wait=2 with one replica per master: WAIT answers 1, so no SET is
	 * acknowledged although every one was applied */
	assert_int_equal(kv_set_keys(kv, "kvw:", 30, 2, &failed), 0);
	assert_int_equal(failed, 30);
	rc_kv_close(kv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_share),
		cmocka_unit_test(test_key_slot),
		cmocka_unit_test(test_parse_nodes),
		cmocka_unit_test(test_checks_on_synthetic_views),
		cmocka_unit_test(test_view_unreachable_and_bad_plan),
		cmocka_unit_test_setup_teardown(test_form_3_masters_3_replicas, setup_6, teardown_fleet),
		cmocka_unit_test_setup_teardown(test_kv_redirects_and_wait, setup_6, teardown_fleet),
		cmocka_unit_test_setup_teardown(test_form_killed_midway_then_completed, setup_6,
						teardown_fleet),
		cmocka_unit_test_setup_teardown(test_form_12_nodes_2_replicas_from_partial, setup_12,
						teardown_fleet),
		cmocka_unit_test_setup_teardown(test_inspect_with_silent_and_closed_nodes, setup_3,
						teardown_fleet),
		cmocka_unit_test_setup_teardown(test_refusals, setup_3, teardown_fleet),
		cmocka_unit_test_setup_teardown(test_leave, setup_8, teardown_fleet),
		cmocka_unit_test_setup_teardown(test_driver_form_join_leave_replace, setup_8,
						teardown_fleet),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
