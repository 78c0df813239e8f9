/* test_monitor_fsm.c - the node and host state machines of `shoal monitor`
 * (deployer/lib/monitor/monitor_fsm.c) driven by a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "monitor_fsm.h"

static const struct mon_params P = {
	.fail_after = 3, .back_within_ms = 15000, .host_timeout_ms = 2000,
};

static void assert_event(struct mon_decision d, const char *want)
{
	if (!want) {
		assert_null(d.event);
		return;
	}
	assert_non_null(d.event);
	assert_string_equal(d.event, want);
}

/* A running node that stops answering is killed after exactly fail_after
 * failed probes, once; it is "back" at its next answer, with the time since
 * the first failed probe. */
static void test_hung_node_killed_once(void **unused)
{
	struct mon_node n;
	int64_t t = 1000;

	mon_node_init(&n, t);
	mon_node_running(&n, true);
	assert_event(mon_node_probe(&n, &P, t, true, true), NULL);
	assert_int_equal(n.state, MN_UP);
	t += 500;
	assert_event(mon_node_probe(&n, &P, t, false, true), NULL);
	assert_int_equal(n.state, MN_SUSPECT);
	t += 500;
	assert_event(mon_node_probe(&n, &P, t, false, true), NULL);
	t += 500;
	struct mon_decision d = mon_node_probe(&n, &P, t, false, true);
	assert_event(d, "node-hung");
	assert_int_equal(d.action, MA_KILL);
	assert_int_equal(d.duration_ms, 1000);
	assert_int_equal(n.state, MN_HUNG);
	/* our kill's exit is expected: no event, no second kill */
	assert_event(mon_node_exited(&n, &P, t + 10), NULL);
	assert_int_equal(n.state, MN_HUNG);
	d = mon_node_probe(&n, &P, t + 500, false, true);
	assert_int_equal(d.action, MA_NONE);
	assert_int_equal(n.kills, 1);
	mon_node_running(&n, true);
	d = mon_node_probe(&n, &P, t + 1000, true, true);
	assert_event(d, "node-back");
	assert_int_equal(d.duration_ms, 2000);
	assert_int_equal(n.state, MN_UP);
	assert_int_equal(n.recoveries, 1);
}

/* A node whose process is not running (exited, restarting) is never killed,
 * however many probes fail. */
static void test_not_running_never_killed(void **unused)
{
	struct mon_node n;

	mon_node_init(&n, 0);
	for (int i = 1; i <= 10; i++) {
		struct mon_decision d = mon_node_probe(&n, &P, i * 500, false, true);

		assert_int_equal(d.action, MA_NONE);
	}
	assert_int_equal(n.state, MN_SUSPECT);
	assert_int_equal(n.kills, 0);
}

/* A node silent together with its agent (a partition, a host going down)
 * is not killed, however many probes fail: that is the host's incident.
 * Once the agent answers again and the node still does not, it is. */
static void test_silent_agent_never_kills(void **unused)
{
	struct mon_node n;
	int64_t t = 0;

	mon_node_init(&n, t);
	mon_node_running(&n, true);
	for (int i = 1; i <= 10; i++) {
		t += 500;
		assert_int_equal(mon_node_probe(&n, &P, t, false, false).action, MA_NONE);
	}
	assert_int_equal(n.state, MN_SUSPECT);
	assert_int_equal(n.kills, 0);
	struct mon_decision d = mon_node_probe(&n, &P, t + 500, false, true);

	assert_event(d, "node-hung");
	assert_int_equal(d.action, MA_KILL);
	assert_int_equal(d.duration_ms, 5000);
	assert_int_equal(n.kills, 1);
}

/* An exit is logged at once; the node is back at its first answer; one
 * that does not answer within back_within_ms raises one alert. */
static void test_exit_back_and_not_back(void **unused)
{
	struct mon_node n;

	mon_node_init(&n, 0);
	mon_node_running(&n, true);
	mon_node_probe(&n, &P, 100, true, true);
	assert_event(mon_node_exited(&n, &P, 200), "node-exited");
	assert_int_equal(n.state, MN_EXITED);
	assert_false(n.running);
	assert_event(mon_node_probe(&n, &P, 700, false, true), NULL);
	assert_event(mon_node_probe(&n, &P, 900, true, true), "node-back");
	assert_int_equal(n.last_repair_ms, 700);

	assert_event(mon_node_exited(&n, &P, 10000), "node-exited");
	assert_event(mon_node_tick(&n, &P, 10000 + P.back_within_ms), NULL);
	struct mon_decision d = mon_node_tick(&n, &P, 10001 + P.back_within_ms);

	assert_event(d, "node-not-back");
	assert_int_equal(n.state, MN_DOWN);
	assert_event(mon_node_tick(&n, &P, 60000), NULL); /* once */
	assert_event(mon_node_probe(&n, &P, 61000, true, true), "node-back");
	assert_int_equal(n.state, MN_UP);
}

/* While its host is down a node is not probed and its results are ignored;
 * when the host is back it starts from unknown without an event. */
static void test_node_follows_host(void **unused)
{
	struct mon_node n;

	mon_node_init(&n, 0);
	mon_node_running(&n, true);
	mon_node_probe(&n, &P, 100, true, true);
	mon_node_host(&n, false, 200);
	assert_false(mon_node_probed(&n));
	for (int i = 0; i < 5; i++)
		assert_int_equal(mon_node_probe(&n, &P, 300 + i, false, true).action, MA_NONE);
	mon_node_host(&n, true, 5000);
	assert_int_equal(n.state, MN_UNKNOWN);
	assert_event(mon_node_probe(&n, &P, 5100, true, true), NULL);
	assert_int_equal(n.state, MN_UP);
}

/* A host: connected; silent past host_timeout_ms -> disconnect; lost ->
 * one event, reconnect after a backoff that doubles up to the cap; back ->
 * an event with how long it was gone, backoff reset. */
static void test_host_backoff(void **unused)
{
	struct mon_host h;
	int64_t t = 0;

	mon_host_init(&h, t);
	assert_int_equal(mon_host_tick(&h, &P, t).action, MA_RECONNECT);
	mon_host_attempt(&h);
	assert_int_equal(mon_host_tick(&h, &P, t).action, MA_NONE);
	assert_event(mon_host_connected(&h, t + 50), NULL);
	assert_int_equal(h.state, MH_UP);
	mon_host_answer(&h, 1000);
	assert_int_equal(mon_host_tick(&h, &P, 3000).action, MA_NONE);
	assert_int_equal(mon_host_tick(&h, &P, 3001).action, MA_DISCONNECT);
	struct mon_decision d = mon_host_lost(&h, 3001);

	assert_event(d, "host-unreachable");
	assert_int_equal(d.duration_ms, 2001);
	assert_int_equal(h.state, MH_DOWN);
	int64_t want[] = {500, 1000, 2000, 4000, 8000, 10000, 10000};

	t = 3001;
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		assert_int_equal(h.next_attempt_ms - t, want[i]);
		assert_int_equal(mon_host_tick(&h, &P, h.next_attempt_ms - 1).action, MA_NONE);
		t = h.next_attempt_ms;
		assert_int_equal(mon_host_tick(&h, &P, t).action, MA_RECONNECT);
		mon_host_attempt(&h);
		assert_event(mon_host_failed(&h, t), NULL); /* already down: no event */
	}
	d = mon_host_connected(&h, t + 100);
	assert_event(d, "host-reachable");
	assert_int_equal(d.duration_ms, t + 100 - 3001);
	assert_int_equal(h.backoff_ms, MON_BACKOFF_FIRST_MS);
	assert_int_equal(h.reconnects, 1);
}

/* Hold when more than half of the hosts are gone, once; resume once. */
static void test_cluster_hold(void **unused)
{
	bool held = false;

	assert_null(mon_cluster_hold(&held, 3, 1));
	assert_string_equal(mon_cluster_hold(&held, 3, 2), "cluster-hold");
	assert_true(held);
	assert_null(mon_cluster_hold(&held, 3, 3));
	assert_string_equal(mon_cluster_hold(&held, 3, 1), "cluster-resume");
	assert_null(mon_cluster_hold(&held, 4, 2)); /* half is not more than half */
	assert_false(held);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hung_node_killed_once),
		cmocka_unit_test(test_not_running_never_killed),
		cmocka_unit_test(test_silent_agent_never_kills),
		cmocka_unit_test(test_exit_back_and_not_back),
		cmocka_unit_test(test_node_follows_host),
		cmocka_unit_test(test_host_backoff),
		cmocka_unit_test(test_cluster_hold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
