/* test_monitor_leader.c - the monitor's leadership gate against a real
 * etcd: of two campaigners exactly one acts, and never both at once; the
 * other takes over when the leader stops, and a leader is elected again
 * when the leader's lease ends (as for a leader cut off from etcd), within
 * the lease TTL + 1 s; fencing tokens grow and
 * a deposed leader's guarded write is refused by etcd; the file store has
 * no gate (always acting).
 *
 * The etcd is the one SHOAL_TEST_ETCD names (state_etcd_monitor.bats: the
 * lab's 3 members), else one started on 127.0.0.1 (etcd_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd.h"
#include "monitor_leader.h"
#include "util.h"

#define TTL_MS 2000

#include "etcd_fixture.h"

static char prefix[64];

static int setup(void **state)
{
	(void)state;
	snprintf(prefix, sizeof prefix, "/shoal-test-leader/%ld", (long)getpid());
	etcd_fixture_start();
	return 0;
}

static int teardown(void **state)
{
	struct etcd *c;
	struct err e = {0};
	bool ok;

	(void)state;
	if (fx_endpoints && etcd_open(fx_endpoints, fx_n, 3000, &c, &e) == 0) {
		char *p = xasprintf("%s/", prefix);

		etcd_txn(c, NULL, json_pack("[o]", etcd_op_delete(p, true)), NULL, &ok, NULL, NULL,
			 &e);
		free(p);
		etcd_close(c);
	}
	etcd_fixture_stop();
	return 0;
}

static struct spec *spec_for(const char *cluster)
{
	struct spec *s = xcalloc(1, sizeof *s);

	s->name = (char *)cluster;
	s->state = (struct spec_state){.backend = STATE_ETCD, .endpoints = fx_endpoints,
				       .nendpoints = fx_n, .prefix = prefix,
				       .lease_ttl_ms = TTL_MS, .timeout_ms = 1000};
	return s;
}

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll a and b every 10 ms for up to ms: fails the test if both act at
 * once; returns the one acting (NULL when neither acted in time). */
static struct leader_gate *wait_one(struct leader_gate *a, struct leader_gate *b, int64_t ms)
{
	int64_t end = mono() + ms;

	while (mono() < end) {
		bool x = leader_gate_acting(a, NULL), y = b && leader_gate_acting(b, NULL);

		assert_false(x && y);
		if (x)
			return a;
		if (y)
			return b;
		usleep(10000);
	}
	return NULL;
}

static void test_file_store_has_no_gate(void **state)
{
	struct spec s = {.name = "x"};
	struct leader_gate *g = (struct leader_gate *)&s;
	struct err e = {0};
	int64_t token = 7;

	(void)state;
	assert_int_equal(leader_gate_open(&s, "m", &g, &e), 0);
	assert_null(g);
	assert_true(leader_gate_acting(NULL, &token));
	assert_int_equal(token, 0);
}

static void test_one_leader_and_takeover(void **state)
{
	struct spec *s;
	struct leader_gate *a, *b, *lead, *other;
	struct err e = {0};
	int64_t t1 = 0, t2 = 0, t0;
	char name[64];

	(void)state;
	NEED_ETCD();
	s = spec_for("c1");
	assert_int_equal(leader_gate_open(s, "monitor-a", &a, &e), 0);
	assert_int_equal(leader_gate_open(s, "monitor-b", &b, &e), 0);
	lead = wait_one(a, b, 10000);
	assert_non_null(lead);
	other = lead == a ? b : a;
	/* it stays the only one over several renewals */
	assert_null(wait_one(other, NULL, 2 * TTL_MS));
	assert_true(leader_gate_acting(lead, &t1));
	assert_true(t1 > 0);
	leader_gate_leader(other, name, sizeof name);
	assert_string_equal(name, lead == a ? "monitor-a" : "monitor-b");
	assert_int_equal(leader_gate_event(lead, t1, "{\"event\":\"x\"}", &e), 0);

	/* the leader stops: the other takes over within TTL + 1 s */
	t0 = mono();
	leader_gate_close(lead);
	assert_ptr_equal(wait_one(other, NULL, TTL_MS + 1000), other);
	print_message("takeover after a clean stop: %lld ms\n", (long long)(mono() - t0));
	assert_true(leader_gate_acting(other, &t2));
	assert_true(t2 > t1);
	/* the deposed leader's token is refused, the new one accepted */
	assert_int_equal(leader_gate_event(other, t1, "{\"event\":\"late\"}", &e), -1);
	assert_int_equal(e.code, ESTALE);
	assert_int_equal(leader_gate_event(other, t2, "{\"event\":\"y\"}", &e), 0);
	leader_gate_close(other);
	free(s);
}

static void test_lease_ended_leader_stops(void **state)
{
	struct spec *s;
	struct leader_gate *a, *b, *lead, *next;
	struct etcd *c;
	struct etcd_kv kv;
	struct err e = {0};
	char *key;
	int64_t t0, told = 0, tnew = 0;

	(void)state;
	NEED_ETCD();
	s = spec_for("c2");
	key = xasprintf("%s/c2/monitor/leader", prefix);
	assert_int_equal(leader_gate_open(s, "monitor-a", &a, &e), 0);
	assert_int_equal(leader_gate_open(s, "monitor-b", &b, &e), 0);
	lead = wait_one(a, b, 10000);
	assert_non_null(lead);
	assert_true(leader_gate_acting(lead, &told));
	/* etcd ends the leader's lease (as when the leader is cut off and its
	 * TTL runs out): it stops acting, a leader is elected again within
	 * TTL + 1 s (either may win: the old one is reachable again here), at
	 * no poll do both act (wait_one asserts it), and the old token is dead */
	assert_int_equal(etcd_open(fx_endpoints, fx_n, 3000, &c, &e), 0);
	assert_int_equal(etcd_get(c, key, &kv, NULL, &e), 1);
	t0 = mono();
	assert_int_equal(etcd_lease_revoke(c, kv.lease, &e), 0);
	etcd_kv_clear(&kv);
	etcd_close(c);
	/* the old leader notices at its next renewal at the latest */
	while (leader_gate_acting(lead, &tnew) && tnew == told && mono() - t0 < TTL_MS)
		usleep(10000);
	assert_false(leader_gate_acting(lead, &tnew) && tnew == told);
	next = wait_one(a, b, TTL_MS + 1000);
	assert_non_null(next);
	print_message("a leader again %lld ms after the lease ended\n", (long long)(mono() - t0));
	assert_true(leader_gate_acting(next, &tnew));
	assert_true(tnew > told);
	assert_int_equal(leader_gate_event(next, told, "{\"event\":\"late\"}", &e), -1);
	assert_int_equal(e.code, ESTALE);
	leader_gate_close(a);
	leader_gate_close(b);
	free(key);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_store_has_no_gate),
		cmocka_unit_test(test_one_leader_and_takeover),
		cmocka_unit_test(test_lease_ended_leader_stops),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
