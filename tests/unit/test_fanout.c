/* test_fanout.c - one job per item, all at once (deployer/common/fanout.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "fanout.h"
#include "util.h"

#define ITEMS 100

struct job {
	atomic_int ran[ITEMS];
	atomic_int inside;       /* items running now */
	atomic_int most_inside;  /* the most seen at once */
	atomic_size_t arrived;   /* items started so far */
	size_t wait_for;         /* an item waits until this many run, */
	int wait_ms;             /* this long at most */
	pthread_t caller;
	atomic_int on_caller;    /* items run on the caller's thread */
};

/* j cleared, the test's thread recorded as the caller */
static void job_reset(struct job *j, size_t wait_for, int wait_ms)
{
	memset(j, 0, sizeof *j);
	j->caller = pthread_self();
	j->wait_for = wait_for;
	j->wait_ms = wait_ms;
}

static int item(void *arg, size_t i, struct err *e)
{
	struct job *j = arg;
	int now = atomic_fetch_add(&j->inside, 1) + 1, most = atomic_load(&j->most_inside);

	while (now > most && !atomic_compare_exchange_weak(&j->most_inside, &most, now))
		;
	atomic_fetch_add(&j->ran[i], 1);
	atomic_fetch_add(&j->on_caller, pthread_equal(pthread_self(), j->caller) != 0);
	atomic_fetch_add(&j->arrived, 1);
	for (int64_t end = now_ms() + j->wait_ms;
	     now_ms() < end && atomic_load(&j->arrived) < j->wait_for;)
		usleep(1000);
	if (i % 3 == 1)
		err_set(e, i == 1 ? ENOENT : EIO, "item %zu failed", i);
	atomic_fetch_sub(&j->inside, 1);
	return i % 3 == 1 ? -1 : 0;
}

static int ok_item(void *arg, size_t i, struct err *e)
{
	struct job *j = arg;

	(void)e;
	atomic_fetch_add(&j->ran[i], 1);
	atomic_fetch_add(&j->on_caller, pthread_equal(pthread_self(), j->caller) != 0);
	return 0;
}

static void test_all_at_once(void **state)
{
	static struct job j;
	struct err e;

	(void)state;
	/* 6 items that each wait until all 6 run: they ran at once */
	job_reset(&j, 6, 10000);
	assert_int_equal(fanout(6, item, &j, &e), -1);
	assert_int_equal(atomic_load(&j.most_inside), 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(atomic_load(&j.ran[i]), 1);
	/* items 1 and 4 failed: the lowest one's error, and the count of the rest */
	assert_int_equal(e.code, ENOENT);
	assert_string_equal(e.msg, "item 1 failed, and 1 more failed");
}

static void test_more_items_than_threads(void **state)
{
	static struct job j;
	struct err e;

	(void)state;
	job_reset(&j, 0, 0);
	assert_int_equal(fanout(ITEMS, ok_item, &j, &e), 0);
	for (size_t i = 0; i < ITEMS; i++)
		assert_int_equal(atomic_load(&j.ran[i]), 1);
	/* bounded: never more than FANOUT_THREADS_MAX at once */
	job_reset(&j, FANOUT_THREADS_MAX, 1000);
	assert_int_equal(fanout(40, item, &j, &e), -1);
	assert_true(atomic_load(&j.most_inside) > 1);
	assert_true(atomic_load(&j.most_inside) <= FANOUT_THREADS_MAX);
	for (size_t i = 0; i < 40; i++)
		assert_int_equal(atomic_load(&j.ran[i]), 1);
	assert_string_equal(e.msg, "item 1 failed, and 12 more failed");
}

static void test_none_and_one(void **state)
{
	static struct job j;
	struct err e;

	(void)state;
	job_reset(&j, 0, 0);
	assert_int_equal(fanout(0, ok_item, &j, &e), 0);
	assert_int_equal(atomic_load(&j.ran[0]), 0);
	/* a single item runs on the caller's thread */
	assert_int_equal(fanout(1, ok_item, &j, &e), 0);
	assert_int_equal(atomic_load(&j.ran[0]), 1);
	assert_int_equal(atomic_load(&j.on_caller), 1);
	job_reset(&j, 0, 0);
	assert_int_equal(fanout(2, item, &j, &e), -1);
	assert_string_equal(e.msg, "item 1 failed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_at_once),
		cmocka_unit_test(test_more_items_than_threads),
		cmocka_unit_test(test_none_and_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
