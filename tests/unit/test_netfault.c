/* test_netfault.c - the agent's network faults (deployer/agent/netfault.h):
 * request checks, the nft and tc argv, and the dead-man timer driven through
 * the agent's own loop with a runner that records instead of running. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "netfault.h"
#include "util.h"

/* ---- a recording runner ------------------------------------------------------- */

struct rec {
	struct buf calls;   /* one line per call: argv joined by '|' */
	int ncalls;
	const char *fail;   /* calls whose joined argv holds this fail */
};

static int rec_run(void *arg, const char *const argv[], struct buf *out, struct err *e)
{
	struct rec *r = arg;

	size_t from = r->calls.len;
	bool fail;

	for (size_t i = 0; argv[i]; i++)
		buf_printf(&r->calls, "%s%s", i ? "|" : "", argv[i]);
	fail = r->fail && strstr(r->calls.data + from, r->fail);
	buf_printf(&r->calls, "\n");
	r->ncalls++;
	if (fail)
		return err_set(e, EIO, "%s failed: Error: Specified qdisc kind is unknown.", argv[0]);
	return 0;
}

static char *joined(char **v)
{
	struct buf b = {0};

	for (size_t i = 0; v && v[i]; i++)
		buf_printf(&b, "%s%s", i ? "|" : "", v[i]);
	strv_free(v);
	return b.data ? buf_steal(&b) : xstrdup("");
}

static json_t *req(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_non_null(j);
	return j;
}

/* ---- parsing -------------------------------------------------------------------- */

static void test_parse(void **state)
{
	struct netfault_spec f;
	struct err e = {0};
	json_t *j;

	j = req("{\"cut\":[\"10.213.5.12\",\"fd00:0::1\"],\"duration_ms\":5000}");
	assert_int_equal(netfault_parse(j, &f, &e), 0);
	assert_string_equal(f.cut[0], "10.213.5.12");
	assert_string_equal(f.cut[1], "fd00::1"); /* re-printed canonically */
	assert_null(f.cut[2]);
	assert_int_equal(f.duration_ms, 5000);
	netfault_spec_free(&f);
	json_decref(j);

	static const char *const bad[] = {
		"{\"cut\":[\"10.0.0.1\"]}",                                 /* no deadline */
		"{\"duration_ms\":1000}",                                   /* nothing to do */
		"{\"cut\":[\"10.0.0.1; flush ruleset\"],\"duration_ms\":1}", /* not an address */
		"{\"cut\":[\"h2\"],\"duration_ms\":1}",
		"{\"cut\":[\"10.0.0.1\"],\"duration_ms\":3600001}",         /* too long */
		"{\"loss_pct\":101,\"duration_ms\":1000}",
		"{\"delay_ms\":-1,\"duration_ms\":1000}",
		"{\"cut\":\"10.0.0.1\",\"duration_ms\":1000}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = req(bad[i]);
		assert_int_equal(netfault_parse(j, &f, &e), -1);
		assert_int_equal(e.code, EINVAL);
		json_decref(j);
	}
}

/* ---- argv ---------------------------------------------------------------------------- */

static void test_nft_argv(void **state)
{
	char *cut[] = {"10.213.5.12", "10.213.5.13", "fd00::1", NULL};
	struct netfault_spec f = {.cut = cut, .duration_ms = 1000};
	_cleanup_free_ char *part = joined(netfault_nft_argv(&f));
	_cleanup_free_ char *clear = joined(netfault_nft_clear_argv());
	_cleanup_free_ char *none = NULL;

	assert_string_equal(part,
		"nft|--|add table inet shoal|;|delete table inet shoal|;|add table inet shoal|;|"
		"add chain inet shoal input { type filter hook input priority -10 ; policy accept ; }|;|"
		"add chain inet shoal output { type filter hook output priority -10 ; policy accept ; }|;|"
		"add rule inet shoal input ip saddr { 10.213.5.12, 10.213.5.13 } drop|;|"
		"add rule inet shoal output ip daddr { 10.213.5.12, 10.213.5.13 } drop|;|"
		"add rule inet shoal input ip6 saddr { fd00::1 } drop|;|"
		"add rule inet shoal output ip6 daddr { fd00::1 } drop");
	assert_string_equal(clear, "nft|--|add table inet shoal|;|delete table inet shoal");

	struct netfault_spec loss = {.loss_pct = 7, .duration_ms = 1000};
	_cleanup_free_ char *l = joined(netfault_nft_argv(&loss));

	assert_non_null(strstr(l, "|add rule inet shoal input iifname != lo numgen random mod 100 < 7 drop"));
	assert_null(strstr(l, "saddr"));
	struct netfault_spec all = {.loss_pct = 100, .duration_ms = 1000};
	_cleanup_free_ char *a = joined(netfault_nft_argv(&all));

	assert_non_null(strstr(a, "|add rule inet shoal input iifname != lo drop"));
	/* delay only: nothing for nft */
	struct netfault_spec delay = {.delay_ms = 50, .duration_ms = 1000};

	assert_null(netfault_nft_argv(&delay));
	none = joined(netfault_tc_argv("eth0", 120));
	assert_string_equal(none, "tc|qdisc|replace|dev|eth0|root|netem|delay|120ms");
	free(none);
	none = joined(netfault_tc_argv("eth0", 0));
	assert_string_equal(none, "tc|qdisc|del|dev|eth0|root");
}

/* ---- the dead-man timer ------------------------------------------------------------------ */

struct fx {
	char dir[64];
	struct loop *loop;
	struct rec rec;
	int expired;
};

static int setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof *fx);

	strcpy(fx->dir, "/tmp/test_netfault.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->loop = loop_new();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	_cleanup_free_ char *m = path_join(fx->dir, "netfault");

	unlink(m);
	rmdir(fx->dir);
	loop_free(fx->loop);
	buf_free(&fx->rec.calls);
	free(fx);
	return 0;
}

static void on_expired(void *arg, const char *msg)
{
	((struct fx *)arg)->expired++;
}

static bool marker_exists(struct fx *fx)
{
	_cleanup_free_ char *m = path_join(fx->dir, "netfault");

	return access(m, F_OK) == 0;
}

static void test_deadman_removes_the_fault(void **state)
{
	struct fx *fx = *state;
	char *cut[] = {"10.213.5.12", NULL};
	struct netfault_spec f = {.cut = cut, .duration_ms = 150};
	struct netfault nf;
	struct err e = {0};
	json_t *res = NULL;
	int64_t t0 = now_ms();

	netfault_init(&nf, fx->loop, fx->dir, rec_run, &fx->rec);
	nf.expired = on_expired;
	nf.expired_arg = fx;
	assert_int_equal(fx->rec.ncalls, 0); /* no marker: nothing to clean at start */
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "expires_in_ms")), 150);
	json_decref(res);
	assert_true(nf.active);
	assert_true(marker_exists(fx));
	assert_int_equal(fx->rec.ncalls, 1);
	/* nobody heals it: the loop alone does, at the deadline and not before */
	while (nf.active && now_ms() - t0 < 5000)
		assert_int_equal(loop_once(fx->loop, 50, &e), 0);
	assert_false(nf.active);
	assert_true(now_ms() - t0 >= 150);
	assert_int_equal(fx->expired, 1);
	assert_false(marker_exists(fx));
	assert_int_equal(fx->rec.ncalls, 2);
	assert_non_null(strstr(fx->rec.calls.data, "\nnft|--|add table inet shoal|;|delete table inet shoal\n"));
	netfault_fini(&nf);
	assert_int_equal(fx->rec.ncalls, 2); /* nothing left to remove */
}

static void test_heal_cancels_the_timer(void **state)
{
	struct fx *fx = *state;
	struct netfault_spec f = {.loss_pct = 10, .duration_ms = 100};
	struct netfault nf;
	struct err e = {0};
	json_t *res = NULL;
	bool removed = false;
	int64_t t0;

	netfault_init(&nf, fx->loop, fx->dir, rec_run, &fx->rec);
	nf.expired = on_expired;
	nf.expired_arg = fx;
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), 0);
	json_decref(res);
	assert_int_equal(netfault_clear(&nf, &removed, &e), 0);
	assert_true(removed);
	assert_false(marker_exists(fx));
	t0 = now_ms();
	while (now_ms() - t0 < 300)
		assert_int_equal(loop_once(fx->loop, 50, &e), 0);
	assert_int_equal(fx->expired, 0); /* the timer went with the fault */
	assert_int_equal(fx->rec.ncalls, 2);
	assert_int_equal(netfault_clear(&nf, &removed, &e), 0);
	assert_false(removed);
	netfault_fini(&nf);
}

/* An agent killed with a fault installed: the next one removes it at start,
 * netem included; an agent that exits removes its own. */
static void test_left_by_a_dead_agent(void **state)
{
	struct fx *fx = *state;
	struct netfault_spec f = {.delay_ms = 100, .loss_pct = 5, .duration_ms = 60000};
	struct netfault nf, next;
	struct err e = {0};
	json_t *res = NULL;

	netfault_init(&nf, fx->loop, fx->dir, rec_run, &fx->rec);
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), 0);
	json_decref(res);
	assert_true(marker_exists(fx));
	/* the agent dies: its loop and timer are gone, the marker stays */
	loop_free(fx->loop);
	fx->loop = loop_new();
	free(nf.marker);
	strv_free(nf.netem_devs);
	buf_reset(&fx->rec.calls);
	fx->rec.ncalls = 0;
	netfault_init(&next, fx->loop, fx->dir, rec_run, &fx->rec);
	assert_false(next.active);
	assert_false(marker_exists(fx));
	assert_non_null(strstr(fx->rec.calls.data, "nft|--|add table inet shoal|;|delete table inet shoal\n"));
	netfault_fini(&next);

	/* exit with a fault installed: removed on the way out */
	netfault_init(&nf, fx->loop, fx->dir, rec_run, &fx->rec);
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), 0);
	json_decref(res);
	fx->rec.ncalls = 0;
	netfault_fini(&nf);
	assert_true(fx->rec.ncalls >= 1);
	assert_false(marker_exists(fx));
}

/* No netem on this kernel (tc fails): the loss still holds, the answer says
 * the delay is unavailable. */
static void test_no_netem(void **state)
{
	struct fx *fx = *state;
	struct netfault_spec f = {.delay_ms = 100, .loss_pct = 5, .duration_ms = 60000};
	struct netfault nf;
	struct err e = {0};
	json_t *res = NULL;
	const char *delay;

	fx->rec.fail = "tc|qdisc|replace";
	netfault_init(&nf, fx->loop, fx->dir, rec_run, &fx->rec);
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), 0);
	delay = json_string_value(json_object_get(res, "delay"));
	assert_non_null(delay);
	assert_non_null(strstr(delay, "unavailable"));
	assert_null(nf.netem_devs && nf.netem_devs[0] ? nf.netem_devs[0] : NULL);
	json_decref(res);
	/* nft failing: nothing is left active */
	fx->rec.fail = "add chain";
	assert_int_equal(netfault_apply(&nf, &f, &res, &e), -1);
	assert_false(nf.active);
	assert_false(marker_exists(fx));
	fx->rec.fail = NULL;
	netfault_fini(&nf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_nft_argv),
		cmocka_unit_test_setup_teardown(test_deadman_removes_the_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heal_cancels_the_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_left_by_a_dead_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_netem, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
