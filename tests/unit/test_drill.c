/* test_drill.c - the pure parts of `shoal drill` (deployer/lib/drill/):
 * scenario names, --load, the seeded schedule and victims, and the report's
 * table and HTML drawn from a report JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drill.h"

static void test_scenarios(void **unused)
{
	(void)unused;
	assert_int_equal(drill_scenario_parse("kill-node"), DRILL_KILL_NODE);
	assert_int_equal(drill_scenario_parse("kill-master"), DRILL_KILL_MASTER);
	assert_int_equal(drill_scenario_parse("pause-node"), DRILL_PAUSE_NODE);
	assert_int_equal(drill_scenario_parse("kill"), -1);
	assert_int_equal(drill_scenario_parse(NULL), -1);
	assert_string_equal(drill_scenario_name(DRILL_PAUSE_NODE), "pause-node");
	assert_int_equal(drill_scenario_parse("kill-host"), DRILL_KILL_HOST);
	assert_int_equal(drill_scenario_parse("partition"), DRILL_PARTITION);
	assert_int_equal(drill_scenario_parse("slow-network"), DRILL_SLOW_NETWORK);
	assert_int_equal(drill_scenario_parse("mixed"), DRILL_MIXED);
	assert_int_equal(DRILL_NCONCRETE, DRILL_MIXED);
	assert_true(drill_scenario_on_hosts(DRILL_PARTITION));
	assert_false(drill_scenario_on_hosts(DRILL_PAUSE_NODE));
}

/* mixed: every round a concrete scenario drawn from the seed, the same for
 * the same seed; the other scenarios keep their times and victims. */
static void test_schedule_mixed(void **unused)
{
	struct drill_opts o = {.rounds = 30, .interval_ms = 1000, .seed = 7,
			       .scenario = DRILL_MIXED};
	struct drill_round a[30], b[30], k[30];
	int seen[DRILL_NCONCRETE] = {0};

	(void)unused;
	drill_schedule(&o, a);
	drill_schedule(&o, b);
	o.scenario = DRILL_KILL_NODE;
	drill_schedule(&o, k);
	assert_int_equal(k[0].scenario, DRILL_KILL_NODE);
	for (int r = 0; r < 30; r++) {
		assert_true((int)a[r].scenario >= 0 && a[r].scenario < DRILL_MIXED);
		assert_int_equal(a[r].scenario, b[r].scenario);
		assert_int_equal(a[r].pick, b[r].pick);
		assert_int_equal(k[r].scenario, DRILL_KILL_NODE);
		seen[a[r].scenario]++;
	}
	for (int i = 0; i < DRILL_NCONCRETE; i++)
		assert_true(seen[i] > 0); /* 30 draws reach each of the 6 */
}

/* A partition cuts off a minority, the same for the same pick whatever
 * order the hosts come in. */
static void test_pick_minority(void **unused)
{
	const char *three[] = {"h3", "h1", "h2"};
	const char *five[] = {"e", "a", "c", "b", "d"};
	struct drill_round r = {.pick = 4};
	char *m;

	(void)unused;
	m = drill_pick_minority(&r, three, 3);
	assert_string_equal(m, "h2"); /* sorted h1 h2 h3, 4 % 3 = 1 */
	free(m);
	m = drill_pick_minority(&r, five, 5);
	assert_string_equal(m, "e,a"); /* two of five, wrapping */
	free(m);
	r.pick = 0;
	m = drill_pick_minority(&r, three + 1, 2);
	assert_string_equal(m, "h1"); /* one of two */
	free(m);
	assert_null(drill_pick_minority(&r, three, 1));
}

static void test_load_parse(void **unused)
{
	struct drill_load l = {.writers = 4, .rate = 2000, .wait = 0};
	struct err e = {0};

	(void)unused;
	assert_int_equal(drill_load_parse("wait=1,writers=2", &l, &e), 0);
	assert_int_equal(l.writers, 2);
	assert_int_equal(l.rate, 2000); /* untouched */
	assert_int_equal(l.wait, 1);
	assert_int_equal(drill_load_parse("rate=0", &l, &e), 0);
	assert_int_equal(l.rate, 0);
	assert_int_equal(drill_load_parse("writers=65", &l, &e), -1);
	assert_int_equal(e.exit, ERR_EXIT_USAGE);
	assert_non_null(strstr(e.msg, "writers=65"));
	assert_int_equal(drill_load_parse("speed=3", &l, &e), -1);
	assert_non_null(strstr(e.msg, "unknown 'speed'"));
	assert_int_equal(drill_load_parse("rate", &l, &e), -1);
	assert_int_equal(drill_load_parse("rate=1x", &l, &e), -1);
	assert_int_equal(l.writers, 2); /* a failed parse changes nothing */
}

/* The same seed gives the same times and victims; another seed differs;
 * the victim does not depend on the order candidates come in. */
static void test_schedule_seeded(void **unused)
{
	struct drill_opts o = {.rounds = 20, .interval_ms = 4000, .seed = 42};
	struct drill_round a[20], b[20], c[20];
	const char *nodes[] = {"cache-0", "cache-1", "cache-2", "cache-3", "cache-4", "cache-5"};
	const char *shuffled[] = {"cache-4", "cache-1", "cache-5", "cache-0", "cache-3", "cache-2"};
	int same = 0, seen[6] = {0};

	(void)unused;
	drill_schedule(&o, a);
	drill_schedule(&o, b);
	o.seed = 43;
	drill_schedule(&o, c);
	for (int r = 0; r < 20; r++) {
		const char *v = drill_pick(&a[r], nodes, 6);

		assert_int_equal(a[r].at_ms, b[r].at_ms);
		assert_string_equal(v, drill_pick(&b[r], nodes, 6));
		assert_string_equal(v, drill_pick(&a[r], shuffled, 6));
		/* an interval apart at least, at most a quarter more */
		assert_true(a[r].at_ms >= 4000LL * (r + 1) && a[r].at_ms < 4000LL * (r + 1) + 1000);
		same += !strcmp(v, drill_pick(&c[r], nodes, 6));
		seen[v[6] - '0']++;
	}
	assert_true(same < 20);
	for (int i = 0; i < 6; i++)
		assert_true(seen[i] > 0); /* 20 picks reach every one of 6 nodes */
	assert_null(drill_pick(&a[0], nodes, 0));
}

static json_t *sample_report(void)
{
	json_t *rep = json_loads(
		"{\"cluster\":\"lab-redis\",\"service\":\"cache\",\"scenario\":\"kill-master\","
		"\"seed\":\"7\",\"rounds_planned\":3,\"duration_ms\":20000,"
		"\"load\":{\"writers\":2,\"rate\":100,\"wait\":0},"
		"\"rounds\":["
		"{\"round\":1,\"fault\":\"kill-master\",\"victim\":\"cache-0\",\"host\":\"h1\",\"injected_at_ms\":5000,"
		"\"detected_at_ms\":5010,\"detected_by\":\"agent\",\"recovered_at_ms\":5400,\"healed_at_ms\":5000,"
		"\"recovered\":true,\"acked\":500,\"lost\":0,\"errors\":3,\"unavailable_ms\":350,"
		"\"monitor_repaired_at_ms\":5300},"
		"{\"round\":2,\"fault\":\"kill-master\",\"victim\":\"<c&1>\",\"host\":\"h2\",\"injected_at_ms\":10000,"
		"\"detected_at_ms\":null,\"recovered_at_ms\":null,\"healed_at_ms\":10000,"
		"\"recovered\":false,\"acked\":400,\"lost\":2,\"errors\":9,\"unavailable_ms\":900},"
		"{\"round\":3,\"fault\":\"kill-master\",\"victim\":\"cache-2\",\"host\":\"h3\",\"injected_at_ms\":15000,"
		"\"detected_at_ms\":15100,\"detected_by\":\"database\",\"recovered_at_ms\":16000,\"healed_at_ms\":15000,"
		"\"recovered\":true,\"acked\":450,\"lost\":0,\"errors\":0,\"unavailable_ms\":0}],"
		"\"check\":{\"attempted\":2000,\"acknowledged\":1990,\"lost\":2,\"unexpected\":1,\"unread\":0,"
		"\"errors\":12,\"unavailable_ms\":900,\"writes_per_s\":99.5,\"valid\":false},"
		"\"series\":[{\"t\":0,\"acked\":100,\"errors\":0},{\"t\":1,\"acked\":90,\"errors\":5}],"
		"\"healthy_at_end\":false,\"health_at_end\":\"degraded\",\"unhealthy_because\":\"cache-1 unreachable\","
		"\"monitor_running\":true}",
		0, NULL);

	assert_non_null(rep);
	return rep;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

/* One band per round, a detection mark per detected round, a recovery mark
 * per recovered one, names escaped, the verdicts said plainly. */
static void test_report_html(void **unused)
{
	json_t *rep = sample_report();
	char *html = drill_report_html(rep);

	(void)unused;
	assert_int_equal(count(html, "class=\"fault\""), 3);
	assert_int_equal(count(html, "class=\"detect\""), 2);
	assert_int_equal(count(html, "class=\"recover\""), 2);
	assert_int_equal(count(html, "class=\"repair\""), 1);
	assert_int_equal(count(html, "class=\"acked\""), 1);
	assert_non_null(strstr(html, "&lt;c&amp;1&gt;"));
	assert_null(strstr(html, "<c&1>"));
	assert_non_null(strstr(html, "LEFT UNHEALTHY: cache-1 unreachable"));
	assert_non_null(strstr(html, "Acknowledged writes were lost"));
	assert_non_null(strstr(html, "not recovered"));
	free(html);
	json_decref(rep);
}

static void test_report_text(void **unused)
{
	json_t *rep = sample_report();
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	(void)unused;
	drill_report_text(f, rep);
	fclose(f);
	assert_non_null(strstr(out, "drill kill-master on lab-redis (service cache), seed 7, 3 of 3 rounds"));
	assert_non_null(strstr(out, "+0.01s agent"));
	assert_non_null(strstr(out, "NOT RECOVERED"));
	assert_non_null(strstr(out, "2 lost, 1 unexpected"));
	assert_non_null(strstr(out, "check: INVALID"));
	assert_non_null(strstr(out, "LEFT UNHEALTHY: cache-1 unreachable"));
	free(out);
	json_decref(rep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_load_parse),
		cmocka_unit_test(test_schedule_seeded),
		cmocka_unit_test(test_schedule_mixed),
		cmocka_unit_test(test_pick_minority),
		cmocka_unit_test(test_report_html),
		cmocka_unit_test(test_report_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
