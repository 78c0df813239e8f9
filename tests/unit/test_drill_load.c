/* test_drill_load.c - the accounting of the drill's load generator
 * (deployer/lib/drill/drill_load.c) against a mock key/value driver: every
 * key the mock answered OK is counted acknowledged exactly once, a key that
 * failed is tried again until acknowledged and never after, lost and
 * unexpected keys are told apart from the read-back, errors and the
 * longest wait of a key are what the mock did.  The Redis client under it
 * (MOVED/ASK, WAIT) is tested on real servers in test_redis_cluster.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drill_int.h"

#define MOCK_WRITERS 2
#define MOCK_KEYS (1 << 17) /* per writer; the tests bound the rate to stay below */

/* What the mock did with one key. */
struct mock_key {
	int attempts;     /* writes of it */
	int acked;        /* times it answered ok = 1 */
	int after_ack;    /* writes of it after it was acknowledged */
	bool stored;      /* the "database" holds it */
	int reads;
};

static struct mock {
	pthread_mutex_t mu;
	struct mock_key keys[MOCK_WRITERS][MOCK_KEYS];
	size_t top[MOCK_WRITERS]; /* highest key number seen + 1 */
	long failed;              /* failed attempts reported */
	bool classes;             /* the per-key behaviours below */
	int64_t fault_arm, fault_len; /* the first write at or after fault_arm
					 (wall ms) starts a fault of fault_len ms */
	int64_t fault_from, fault_to; /* wall ms: every write fails in [from, to) */
	long acked_after_fault;       /* writes acknowledged once it ended */
	int wait_seen;
	bool bad_key;
} M = {.mu = PTHREAD_MUTEX_INITIALIZER};

struct db_kv {
	int unused;
};

static int mock_open(const struct db_node *nodes, size_t n, const struct db_opts *o,
		     struct db_kv **out, struct err *e)
{
	(void)nodes;
	(void)n;
	(void)o;
	(void)e;
	*out = calloc(1, sizeof **out);
	return *out ? 0 : -1;
}

static void mock_close(struct db_kv *kv)
{
	free(kv);
}

/* "shoal:drill:<run>:<w>:<n>" -> the mock's record, or NULL. */
static struct mock_key *mock_rec(const char *key, size_t *num)
{
	const char *p = strrchr(key, ':'), *q;
	unsigned long w, n;

	if (!p || p == key)
		return NULL;
	for (q = p - 1; q > key && *q != ':'; q--)
		;
	if (sscanf(q, ":%lu:%lu", &w, &n) != 2 || w >= MOCK_WRITERS || n >= MOCK_KEYS)
		return NULL;
	if (n + 1 > M.top[w])
		M.top[w] = n + 1;
	*num = n;
	return &M.keys[w][n];
}

/* Behaviours by key number (with M.classes):
 *   n % 5 == 1   the first attempt fails (a redirection the client gave up
 *                on, a refused write): acknowledged on the second
 *   n % 17 == 2  applied but never acknowledged (the reply never came):
 *                "unexpected" when read back
 *   n % 13 == 3  acknowledged but not kept: "lost"
 *   n % 7 == 4   the first attempt applied but WAIT did not confirm it
 *                (only with wait > 0): acknowledged on the second
 * Every write fails during the fault window. */
static int mock_write(struct db_kv *kv, const char *const *keys, const char *const *vals,
		      size_t n, int wait, uint8_t *ok)
{
	int64_t now = drill_wall_ms();
	int errs = 0;

	(void)kv;
	(void)vals;
	pthread_mutex_lock(&M.mu);
	M.wait_seen = wait;
	for (size_t i = 0; i < n; i++) {
		size_t num;
		struct mock_key *r = mock_rec(keys[i], &num);

		ok[i] = 0;
		if (!r) {
			M.bad_key = true;
			continue;
		}
		r->attempts++;
		r->after_ack += r->acked > 0;
		if (M.fault_len && !M.fault_from && now >= M.fault_arm) {
			M.fault_from = now;
			M.fault_to = now + M.fault_len;
		}
		if (M.fault_from && now >= M.fault_from && now < M.fault_to) {
			/* fails */
		} else if (!M.classes) {
			ok[i] = 1;
			r->stored = true;
		} else if (num % 5 == 1 && r->attempts == 1) {
			/* fails */
		} else if (num % 17 == 2) {
			r->stored = true;
		} else if (num % 13 == 3) {
			ok[i] = 1;
		} else if (num % 7 == 4 && wait > 0 && r->attempts == 1) {
			r->stored = true;
		} else {
			ok[i] = 1;
			r->stored = true;
		}
		r->acked += ok[i];
		errs += !ok[i];
		M.acked_after_fault += M.fault_to && now >= M.fault_to && ok[i];
	}
	M.failed += errs;
	pthread_mutex_unlock(&M.mu);
	return errs;
}

/* A key whose number is 6 mod 19 cannot be read the first time (a node
 * still coming back): the load generator asks again.  One whose number is
 * 5 mod 11, when kept, reads back from fewer replicas than a quorum. */
static int mock_read(struct db_kv *kv, const char *const *keys, const char *const *vals,
		     size_t n, uint8_t *got)
{
	int errs = 0;

	(void)kv;
	(void)vals;
	pthread_mutex_lock(&M.mu);
	for (size_t i = 0; i < n; i++) {
		size_t num;
		struct mock_key *r = mock_rec(keys[i], &num);

		if (!r) {
			M.bad_key = true;
			got[i] = DB_KV_ERROR;
		} else if (M.classes && num % 19 == 6 && r->reads++ == 0) {
			got[i] = DB_KV_ERROR;
		} else {
			got[i] = !r->stored	      ? DB_KV_ABSENT
				 : M.classes && num % 11 == 5 ? DB_KV_PRESENT_FEW
							      : DB_KV_PRESENT;
		}
		errs += got[i] == DB_KV_ERROR;
	}
	pthread_mutex_unlock(&M.mu);
	return errs;
}

static const struct db_driver mock_driver = {
	.kind = "mock",
	.title = "Mock",
	.kv_open = mock_open,
	.kv_write = mock_write,
	.kv_read = mock_read,
	.kv_close = mock_close,
};

static void mock_reset(bool classes)
{
	pthread_mutex_lock(&M.mu);
	memset(M.keys, 0, sizeof M.keys);
	memset(M.top, 0, sizeof M.top);
	M.failed = 0;
	M.classes = classes;
	M.fault_arm = M.fault_len = M.fault_from = M.fault_to = 0;
	M.acked_after_fault = 0;
	M.wait_seen = -1;
	M.bad_key = false;
	pthread_mutex_unlock(&M.mu);
}

static void sleep_for(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* The totals the load generator must report, from the mock's records. */
static void expected(struct load_totals *x)
{
	memset(x, 0, sizeof *x);
	for (int w = 0; w < MOCK_WRITERS; w++)
		for (size_t i = 0; i < M.top[w]; i++) {
			const struct mock_key *r = &M.keys[w][i];

			/* keys are numbered densely, each written at least once,
			 * acknowledged at most once, never written after */
			assert_true(r->attempts >= 1);
			assert_true(r->acked <= 1);
			assert_int_equal(r->after_ack, 0);
			x->attempted++;
			x->acknowledged += r->acked;
			x->lost += r->acked && !r->stored;
			x->below_quorum += r->acked && r->stored && M.classes && i % 11 == 5;
			x->unexpected += !r->acked && r->stored;
			x->pending += !r->acked;
		}
	x->errors = M.failed;
}

static bool fault_over(void)
{
	bool over;

	pthread_mutex_lock(&M.mu);
	over = M.acked_after_fault > 0;
	pthread_mutex_unlock(&M.mu);
	return over;
}

/* Run the load for ms, and then (with until) until until() holds (at most
 * 60 s more). */
static struct loadgen *run_load(const struct drill_load *cfg, int ms, bool (*until)(void),
				int64_t *t0)
{
	struct db_node node = {.id = "mock-0", .address = "127.0.0.1", .port = 1};
	struct db_opts o = {0};
	struct loadgen *g = NULL;
	struct err e = {0};

	*t0 = drill_wall_ms();
	if (loadgen_start(&mock_driver, &node, 1, &o, cfg, "t1", *t0, &g, &e) < 0)
		fail_msg("loadgen_start: %s", e.msg);
	sleep_for(ms);
	for (int i = 0; until && !until() && i < 600; i++)
		sleep_for(100);
	loadgen_stop(g);
	return g;
}

static void assert_totals(const struct load_totals *t, const struct load_totals *x)
{
	assert_int_equal(t->attempted, x->attempted);
	assert_int_equal(t->acknowledged, x->acknowledged);
	assert_int_equal(t->lost, x->lost);
	assert_int_equal(t->below_quorum, x->below_quorum);
	assert_int_equal(t->unexpected, x->unexpected);
	assert_int_equal(t->pending, x->pending);
	assert_int_equal(t->errors, x->errors);
	assert_int_equal(t->unread, 0);
}

/* Retried, lost, unexpected, unconfirmed and unreadable keys, with wait=1:
 * the totals, one window over the whole run, and the per-second series
 * agree with what the mock did. */
static void test_accounting(void **unused)
{
	struct drill_load cfg = {.writers = MOCK_WRITERS, .rate = 6000, .wait = 1};
	struct load_totals t, x;
	struct load_window win;
	struct loadgen *g;
	json_t *series, *s;
	long series_acked = 0, series_err = 0;
	int64_t t0;
	size_t i;

	(void)unused;
	mock_reset(true);
	g = run_load(&cfg, 1300, NULL, &t0);
	assert_false(M.bad_key);
	assert_int_equal(M.wait_seen, 1);
	expected(&x);
	/* every behaviour happened */
	assert_true(x.attempted > 200);
	assert_true(x.lost > 0);
	assert_true(x.below_quorum > 0);
	assert_true(x.unexpected > 0);
	assert_true(x.errors > x.pending);

	win = (struct load_window){.from = t0, .to = drill_wall_ms() + 2000};
	loadgen_results(g, &win, 1, &t);
	assert_totals(&t, &x);
	assert_int_equal(win.acked, x.acknowledged);
	assert_int_equal(win.lost, x.lost);
	assert_int_equal(win.below_quorum, x.below_quorum);
	assert_int_equal(win.errors, x.errors);
	/* the report names the lost keys and those read back below quorum */
	{
		json_t *lk = loadgen_lost_keys(g, false, 100000), *bq = loadgen_lost_keys(g, true, 3);

		assert_int_equal(json_array_size(lk), x.lost);
		assert_int_equal(json_array_size(bq), x.below_quorum < 3 ? x.below_quorum : 3);
		assert_string_equal(json_string_value(json_object_get(json_array_get(lk, 0), "read")),
				    "absent");
		assert_string_equal(json_string_value(json_object_get(json_array_get(bq, 0), "read")),
				    "below quorum");
		json_decref(lk);
		json_decref(bq);
	}
	/* a key never acknowledged waits from its first attempt to the end */
	assert_true(t.unavailable_ms > 0);
	assert_true(t.unavailable_ms <= t.ran_ms);
	assert_true(t.writes_per_s > 0);

	/* whole seconds only: no more than the totals */
	series = loadgen_series(g);
	assert_true(json_array_size(series) >= 1);
	json_array_foreach(series, i, s) {
		assert_int_equal(json_integer_value(json_object_get(s, "t")), (json_int_t)i);
		series_acked += (long)json_integer_value(json_object_get(s, "acked"));
		series_err += (long)json_integer_value(json_object_get(s, "errors"));
	}
	assert_true(series_acked > 0 && series_acked <= t.acknowledged);
	assert_true(series_err <= t.errors);
	json_decref(series);
	loadgen_free(g);
}

/* Every write fails for 300 ms (from the first write 300 ms into the
 * run); the load runs until a write after the fault was acknowledged: the
 * keys refused are tried again, and the longest wait covers the fault. */
static void test_outage_gap(void **unused)
{
	struct drill_load cfg = {.writers = MOCK_WRITERS, .rate = 40000, .wait = 0};
	struct load_totals t, x;
	struct load_window win[2];
	struct loadgen *g;
	int64_t t0;

	(void)unused;
	mock_reset(false);
	pthread_mutex_lock(&M.mu);
	M.fault_arm = drill_wall_ms() + 300;
	M.fault_len = 300;
	pthread_mutex_unlock(&M.mu);
	g = run_load(&cfg, 600, fault_over, &t0);
	assert_false(M.bad_key);
	assert_int_equal(M.wait_seen, 0);
	expected(&x);
	assert_true(fault_over());
	assert_true(x.errors > 0);
	assert_int_equal(x.lost, 0);
	assert_int_equal(x.unexpected, 0);

	win[0] = (struct load_window){.from = t0, .to = M.fault_from};
	win[1] = (struct load_window){.from = t0, .to = drill_wall_ms() + 2000};
	loadgen_results(g, win, 2, &t);
	assert_totals(&t, &x);
	/* the first key refused waited at least until the fault ended (or,
	 * never acknowledged, until the end, which came after that) */
	assert_true(t.unavailable_ms >= M.fault_len);
	assert_true(t.unavailable_ms <= t.ran_ms);
	assert_true(win[0].acked <= win[1].acked);
	assert_int_equal(win[0].lost, 0);
	assert_int_equal(win[1].acked, x.acknowledged);
	assert_int_equal(win[1].errors, x.errors);
	loadgen_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accounting),
		cmocka_unit_test(test_outage_gap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
